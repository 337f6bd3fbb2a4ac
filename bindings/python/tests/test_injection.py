"""SQL injection through query parameters, against the real server.

Every parameter value comes back unchanged (the same str, and exactly the
bytes the connection's codec makes of it, read back with HEX()), and no value
changes the statement around it: a sentinel column after the parameters is
still there, no second result set appears, the table the payloads try to
drop still holds its row, and row counts are those of the statement alone.
The connections allow multi-statements (CLIENT.MULTI_STATEMENTS), so a payload
that did break out with "; DROP TABLE ..." would really run.

Each check runs with the charsets whose two-byte characters can end in 0x5C
(the backslash: gbk, big5, sjis, cp932) and with utf8mb4 (some also with ujis
and latin1), with the server's NO_BACKSLASH_ESCAPES sql_mode off and on;
through cursor.execute() with tuple and dict arguments, executemany() (the
multi-row INSERT rewrite and the per-row loop), and SQL built by hand with
connection.escape() / literal() / escape_string(). PyMySQL, the reference,
runs the same statements and must give the same mogrify() output and the same
rows wherever it is itself correct; where it is not, the test asserts the safe
behaviour and the comment says what PyMySQL does:

* Python's shift_jis / euc_jp codecs write U+00A5 YEN SIGN as the byte 0x5C,
  a backslash to the server: PyMySQL sends "¥'" as \\' unescaped, so the quote
  ends the string (test_ascii_lookalike_characters).
* A str can carry raw bytes as lone surrogates (surrogateescape, which
  pymysqlpool's Connection.query encodes with, as older PyMySQL did). A raw
  gbk lead byte 0xBF before the backslash of \\' makes one character of
  0xBF 0x5C and frees the quote: the classic gbk attack
  (test_raw_lead_byte_before_an_escape). PyMySQL 1.2 refuses such strings.
* PyMySQL quotes other objects (pathlib paths, ...) with backslash escapes
  even under NO_BACKSLASH_ESCAPES, where the backslash is literal
  (test_objects_quoted_as_their_str).
"""

import functools
import os
import pathlib
import warnings

import pymysql
import pymysql.charset
import pytest
from pymysql.constants import CLIENT

import pymysqlpool
from helpers import admin_query, unpooled_connect

fixed_in_mysqlpool = pytest.mark.fixed_in_mysqlpool
connect_ours = unpooled_connect()

SENTINEL = "sentinel"
NO_BACKSLASH_ESCAPES = 0x0200  # SERVER_STATUS_NO_BACKSLASH_ESCAPES
CHARSETS = ["utf8mb4", "gbk", "big5", "sjis", "cp932"]  # ujis and latin1: in the tests below the combos
BACKSLASH_TRAIL_CHARSETS = ["gbk", "big5", "sjis", "cp932"]
MODES = ["backslash_escapes", "no_backslash_escapes"]
COMBOS = [(charset, mode) for charset in CHARSETS for mode in MODES]

# The classic payloads and every character escape_string() touches. "{victim}"
# is replaced by the name of a table holding one row that must survive.
ASCII_PAYLOADS = [
    "", "plain", "'", '"', "`", "\\", "\x00", "\x1a", "\n", "\r", "\r\n", "\t", "\b", "%", "_", "%%", "%s",
    "%(v)s", "%d", "\\%", "\\_", "''", "'''", "\\'", "'\\", "\\\\", "\\\\'", "\\''", '\\"', "a\\", "\\\x00",
    "\x00'", "'\x00", "\x1a'", "\\\x1a", "\\\\\\'", "\\'\\'", "' OR '1'='1", "' OR 1=1 -- ", "' OR 1=1 #",
    "1' OR '1'='1' -- ", "admin'--", "' OR ''='", "\\' OR 1=1 -- ", "\\' OR 1=1 #", "'; DROP TABLE `{victim}`; -- ",
    "'); DROP TABLE `{victim}`; -- ", "\\'; DROP TABLE `{victim}`; -- ", "\\\\'; DROP TABLE `{victim}`; -- ",
    "''; DROP TABLE `{victim}`; -- ", '"; DROP TABLE `{victim}`; -- ', '\\"; DROP TABLE `{victim}`; -- ',
    "`; DROP TABLE `{victim}`; -- ", "'; DELETE FROM `{victim}`; #", "\x00'; DROP TABLE `{victim}`; -- ",
    "\x1a'; DROP TABLE `{victim}`; -- ", "\n'; DROP TABLE `{victim}`; -- \n", "\r'; DROP TABLE {victim};\r",
    "' UNION SELECT 1, 2, 3 -- ", "'/*", "*/'", "/*", "#", "-- ", ";", "0x27", "X'27'", "_binary'x'",
    "CHAR(39)", "N'x'", "\\N", "'\\'; DROP TABLE `{victim}`; -- ",
]
# Non-ASCII characters, each put into the templates below. Many of them end
# in 0x5C in one of the charsets (縗 in gbk, 許 in big5, ソ and 表 in sjis and
# cp932); each charset also gets every such character of its codec below.
WIDE_CHARS = [
    "\u5f10", "縗", "許", "ソ", "表", "能", "十", "功", "予", "é", "ÿ", "€", "＇", "＼", "\u2019", "😀",
    "\u00a5",  # YEN SIGN: an ASCII lookalike in sjis and ujis, left out there (see test_ascii_lookalike_characters)
]
WIDE_TEMPLATES = [
    "{c}", "{c}'", "{c}\\", "{c}\\'", "{c}\\\\'", "{c}\"", "{c}\x00", "{c}\n", "\\{c}", "'{c}", "{c}{c}'",
    "{c}'; DROP TABLE `{victim}`; -- ", "{c}\\'; DROP TABLE `{victim}`; -- ", "'{c}' OR '1'='1",
    "{c}' OR 1=1 -- ",
]
BYTES_PAYLOADS = [
    b"", b"\xbf'", b"\xbf\\'", b"\xbf\\", b"\x81\\", b"\x83\\' OR 1=1 -- ", b"\x00\x1a\\'\"\n\r",
    b"'; DROP TABLE `{victim}`; -- ", b"\xbf'; DROP TABLE `{victim}`; -- ", bytes(range(256)),
]
# Python's surrogateescape spelling of raw bytes 0x81, 0x83, 0xA4, 0xBF,
# 0xE0, 0xFE: lead bytes of gbk, big5, sjis or cp932 when alone.
RAW_LEAD_BYTES = ["\udc81", "\udc83", "\udca4", "\udcbf", "\udce0", "\udcfe"]
RAW_TEMPLATES = [
    "{b}", "{b}'", "{b}\\", "{b}\\'", "{b}{b}'", "{b}' OR 1=1 -- ", "{b}\\'; DROP TABLE `{victim}`; -- ",
    "{b}'; DROP TABLE `{victim}`; -- ", "x{b}\\\\'; DROP TABLE `{victim}`; -- ", "{b}\\", "{b}\x00", "縗{b}'",
]
# Every non-ASCII character (Basic Multilingual Plane) that the Python codec of
# a charset the server offers writes with an ASCII byte where the server
# starts a character: found by encoding them all (test_ascii_lookalike_characters).
EXPECTED_ASCII_LOOKALIKES = {
    "sjis": {"\u00a5": b"\\", "\u203e": b"~"},
    "ujis": {"\u00a5": b"\\", "\u203e": b"~"},
}
# Not possible as a client character set.
NOT_CLIENT_CHARSETS = {"ucs2", "utf16", "utf16le", "utf32"}


# --------------------------------------------------------------------------
# Helpers


def codec_of(charset):
    """The Python codec PyMySQL (and pymysqlpool) use for a MySQL charset."""
    found = pymysql.charset.charset_by_name(charset)
    return found.encoding if found is not None else charset


def _encodings(encoding, suspicious):
    """(char, bytes) for every non-ASCII BMP character `encoding` can write
    whose bytes `suspicious` flags. A block of 256 characters whose bytes
    together are not suspicious is skipped whole (the codecs are stateless:
    a block's bytes are its characters' bytes end to end)."""
    for start in range(0x80, 0x10000, 256):
        block = "".join(chr(code) for code in range(start, min(start + 256, 0x10000)) if not 0xD800 <= code < 0xE000)
        if not suspicious(block.encode(encoding, "ignore")):
            continue
        for char in block:
            try:
                data = char.encode(encoding)
            except UnicodeEncodeError:
                continue
            if suspicious(data):
                yield char, data


@functools.lru_cache(maxsize=None)
def ascii_lookalikes(encoding):
    """{char: bytes} for the non-ASCII characters of the BMP that `encoding`
    writes starting with a byte below 0x80 (for the server, an ASCII
    character)."""
    return {char: data for char, data in _encodings(encoding, lambda data: min(data, default=0x80) < 0x80)
            if data[0] < 0x80}


@functools.lru_cache(maxsize=None)
def backslash_trail_chars(encoding):
    """Every BMP character that `encoding` writes with 0x5C after its first byte."""
    return [char for char, data in _encodings(encoding, lambda data: 0x5C in data) if 0x5C in data[1:]]


def encodable(value, encoding):
    try:
        value.encode(encoding, "surrogateescape")
    except UnicodeEncodeError:
        return False
    return True


def unique_by_bytes(values, encoding):
    """Drops values whose bytes on the wire repeat an earlier one's (so that a
    binary WHERE matches exactly one row per value)."""
    seen, out = set(), []
    for value in values:
        data = value.encode(encoding, "surrogateescape")
        if data not in seen:
            seen.add(data)
            out.append(value)
    return out


def general_payloads(victim, encoding):
    """The payloads for `encoding` that both drivers must handle alike: the
    ASCII ones, and every wide character template the codec can encode, but
    no ASCII lookalikes (their own test) and no raw bytes."""
    lookalikes = ascii_lookalikes(encoding)
    chars = [c for c in WIDE_CHARS if encodable(c, encoding) and c not in lookalikes]
    trail = backslash_trail_chars(encoding)  # all of them: test_every_backslash_trail_character
    chars += trail[:2] + trail[-2:]
    values = [p.format(victim=victim) for p in ASCII_PAYLOADS]
    values += [t.format(c=c, victim=victim) for c in chars for t in WIDE_TEMPLATES]
    values.append("".join(chars) + "\\'; DROP TABLE `" + victim + "`; -- ")
    return unique_by_bytes(values, encoding)


_UNESCAPE = {"0": "\x00", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a", "%": "\\%", "_": "\\_"}


def parse_quoted(literal, no_backslash_escapes):
    """The value of one single-quoted SQL literal, read character by
    character as the server's lexer reads it; fails if the literal ends
    before its last character (the rest would be SQL)."""
    assert literal[:1] == "'", literal
    out, i, end = [], 1, len(literal)
    while i < end:
        char = literal[i]
        if char == "\\" and not no_backslash_escapes:
            assert i + 1 < end, literal
            out.append(_UNESCAPE.get(literal[i + 1], literal[i + 1]))
            i += 2
        elif char == "'" and i + 1 < end and literal[i + 1] == "'":
            out.append("'")
            i += 2
        elif char == "'":
            assert i == end - 1, f"the literal ends early, SQL follows: {literal!r}"
            return "".join(out)
        else:
            out.append(char)
            i += 1
    raise AssertionError(f"unterminated literal: {literal!r}")


def expected(value, encoding):
    """(str, HEX) the server must give back for a str parameter: the bytes the
    codec makes of it (ASCII lookalikes turn into the ASCII character the
    server reads)."""
    data = value.encode(encoding, "surrogateescape")
    return data.decode(encoding, "surrogateescape"), data.hex().upper()


def select_rows(conn, sql, args=None):
    """Rows and column count of one statement, which must be the only one."""
    with conn.cursor() as cur:
        cur.execute(sql, args)
        rows = cur.fetchall()
        columns = len(cur.description)
        assert not cur.nextset(), f"a second result set: the statement was split ({sql!r}, {args!r})"
    return tuple(rows), columns


def set_mode(conn, mode):
    with conn.cursor() as cur:
        if mode == "no_backslash_escapes":
            cur.execute("SET SESSION sql_mode = CONCAT(@@GLOBAL.sql_mode, ',NO_BACKSLASH_ESCAPES')")
        else:
            cur.execute("SET SESSION sql_mode = DEFAULT")
    assert_mode(conn, mode)


def assert_mode(conn, mode):
    """The server's sql_mode and the status flag the driver escapes by agree
    with `mode` (so that no test passes on the wrong mode)."""
    want = mode == "no_backslash_escapes"
    rows, _ = select_rows(conn, "SELECT FIND_IN_SET('NO_BACKSLASH_ESCAPES', @@SESSION.sql_mode) > 0")
    assert bool(rows[0][0]) is want
    assert bool(conn.server_status & NO_BACKSLASH_ESCAPES) is want


def escape_string(conn, value):
    """conn.escape_string(); PyMySQL 1.2 made it private (_escape_string)."""
    method = getattr(conn, "escape_string", None) or conn._escape_string
    return method(value)


def literal(conn, value):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # PyMySQL 1.2 deprecates literal()
        return conn.literal(value)


def com_insert(conn):
    """The session's count of INSERT statements run."""
    rows, _ = select_rows(conn, "SHOW SESSION STATUS LIKE 'Com_insert'")
    return int(rows[0][1])


# --------------------------------------------------------------------------
# Fixtures


def _make_victim(admin, name):
    admin_query(admin, f"DROP TABLE IF EXISTS `{name}`")
    admin_query(admin, f"CREATE TABLE `{name}` (id INT PRIMARY KEY, note VARCHAR(20))")
    admin_query(admin, f"INSERT INTO `{name}` VALUES (1, 'still here')")


@pytest.fixture(scope="module")
def victim_table(admin):
    name = f"t_injection_victim_{os.getpid()}"
    _make_victim(admin, name)
    yield name
    admin_query(admin, f"DROP TABLE IF EXISTS `{name}`")


@pytest.fixture
def victim(admin, victim_table):
    """A table with one row that the payloads try to drop or empty; each
    test checks it at its end (assert_intact). Made once per module, and
    made again for the next test if a test broke it (so that one failure
    does not fail every test after it)."""
    try:
        intact = admin_query(admin, f"SELECT id, note FROM `{victim_table}`") == ((1, "still here"),)
    except pymysql.err.ProgrammingError:  # dropped
        intact = False
    if not intact:
        _make_victim(admin, victim_table)
    return victim_table


def assert_intact(admin, victim):
    assert admin_query(admin, f"SELECT id, note FROM `{victim}`") == ((1, "still here"),)


@pytest.fixture
def connect(server, victim, fresh_table):
    """Factory: connect("ours" | "theirs", charset, mode) -> an unpooled
    connection (autocommit, multi-statements) in that sql_mode; all are
    closed after the test (before its fresh_table tables are dropped)."""
    made = []

    def make(driver, charset="utf8mb4", mode="backslash_escapes", **extra):
        kwargs = dict(server, charset=charset, autocommit=True, client_flag=CLIENT.MULTI_STATEMENTS)
        kwargs.update(extra)
        conn = (connect_ours if driver == "ours" else pymysql.connect)(**kwargs)
        made.append(conn)
        if mode is not None:
            set_mode(conn, mode)
        return conn

    yield make
    for conn in made:
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - a test may have closed it already
            pass


@pytest.fixture(params=COMBOS, ids=[f"{c}-{m}" for c, m in COMBOS])
def combo(request, connect, victim):
    """(ours, theirs, codec, mode, victim) for one charset and sql_mode."""
    charset, mode = request.param
    return connect("ours", charset, mode), connect("theirs", charset, mode), codec_of(charset), mode, victim


@pytest.fixture
def payload_table(fresh_table):
    """Factory: a table (id, v TEXT in `charset`, b BLOB) for stored payloads."""

    def make(charset):
        return fresh_table(f"id INT AUTO_INCREMENT PRIMARY KEY, v TEXT CHARACTER SET {charset}, b BLOB")

    return make


def check_select(conn, value, encoding, what=""):
    """SELECT value, HEX(value), sentinel: exactly what was sent, three columns."""
    text, hex_ = expected(value, encoding)
    rows, columns = select_rows(conn, "SELECT %s, HEX(%s), %s", (value, value, SENTINEL))
    assert (rows, columns) == (((text, hex_, SENTINEL),), 3), f"{what}: {value!r}"
    rows, columns = select_rows(conn, "SELECT %(v)s, HEX(%(v)s), %(s)s", {"v": value, "s": SENTINEL})
    assert (rows, columns) == (((text, hex_, SENTINEL),), 3), f"{what} (dict): {value!r}"
    return rows


BATCH = 25  # values per statement in the batched checks


def check_selects(conn, values, encoding, what="", raw=False):
    """check_select() for many values, BATCH per statement (the test would
    be slow with one round trip each): SELECT v1, HEX(v1), v2, HEX(v2), ...,
    sentinel, with tuple and with dict arguments. Each value must come back
    exactly and the statement have exactly its columns; on a mismatch the
    values are checked one by one, so that the failure names the value.
    raw: only HEX (for strings carrying raw bytes, which need not decode).
    Returns the rows, for comparing drivers."""
    out = []
    for start in range(0, len(values), BATCH):
        batch = values[start:start + BATCH]
        want = []
        for value in batch:
            data = value.encode(encoding, "surrogateescape") if isinstance(value, str) else bytes(value)
            want += [data.hex().upper()] if raw else list(expected(value, encoding))
        want = (tuple(want + [SENTINEL]),)
        column = "HEX({0})" if raw else "{0}, HEX({0})"
        tuple_sql = "SELECT " + "".join(column.format("%s") + ", " for _ in batch) + "%s"
        tuple_args = tuple(v for value in batch for v in ([value] if raw else [value, value])) + (SENTINEL,)
        dict_sql = "SELECT " + "".join(column.format(f"%(v{i})s") + ", " for i in range(len(batch))) + "%(s)s"
        dict_args = dict({f"v{i}": value for i, value in enumerate(batch)}, s=SENTINEL)
        for sql, args in ((tuple_sql, tuple_args), (dict_sql, dict_args)):
            rows, columns = select_rows(conn, sql, args)
            if (rows, columns) != (want, len(want[0])):
                for value in batch:
                    (check_raw_select if raw else check_select)(conn, value, encoding, what)
                assert (rows, columns) == (want, len(want[0])), what
            out.append(rows)
    return out


def check_raw_select(conn, value, encoding, what=""):
    """For values whose bytes need not decode: HEX only."""
    data = value.encode(encoding, "surrogateescape") if isinstance(value, str) else bytes(value)
    rows, columns = select_rows(conn, "SELECT HEX(%s), %s, LENGTH(%s)", (value, SENTINEL, value))
    assert (rows, columns) == (((data.hex().upper(), SENTINEL, len(data)),), 3), f"{what}: {value!r}"
    rows, columns = select_rows(conn, "SELECT HEX(%(v)s), %(s)s", {"v": value, "s": SENTINEL})
    assert (rows, columns) == (((data.hex().upper(), SENTINEL),), 2), f"{what} (dict): {value!r}"


# --------------------------------------------------------------------------
# The general payloads: both drivers, every charset, both sql_modes


def test_escape_functions_match_pymysql(combo):
    """escape_string(), escape(), literal() and mogrify() (tuple and dict)
    write what PyMySQL writes, and each literal, read as the server's lexer
    reads it, is one string holding exactly the value."""
    ours, theirs, encoding, mode, victim = combo
    ours_cur, theirs_cur = ours.cursor(), theirs.cursor()
    for value in general_payloads(victim, encoding):
        assert escape_string(ours, value) == escape_string(theirs, value), repr(value)
        assert ours.escape(value) == theirs.escape(value), repr(value)
        assert literal(ours, value) == literal(theirs, value), repr(value)
        assert ours.escape(value) == "'" + escape_string(ours, value) + "'"
        args = (value, 7, None, value)
        sql = "SELECT %s, %s, %s, %s"
        assert ours_cur.mogrify(sql, args) == theirs_cur.mogrify(sql, args), repr(value)
        sql = "SELECT %(v)s, %(n)s, %(v)s"
        assert ours_cur.mogrify(sql, {"v": value, "n": 7}) == theirs_cur.mogrify(sql, {"v": value, "n": 7})
        if mode == "no_backslash_escapes":
            assert escape_string(ours, value) == value.replace("'", "''")
        # Read as the server reads it, the literal is one string: the value.
        assert parse_quoted(ours.escape(value), mode == "no_backslash_escapes") == value, repr(value)
    ours_cur.close()
    theirs_cur.close()


def test_execute_round_trip(combo, admin):
    """execute() with tuple and dict arguments: every value comes back
    exactly, with the sentinel column after it, the same rows as PyMySQL's."""
    ours, theirs, encoding, mode, victim = combo
    values = general_payloads(victim, encoding)
    assert all(expected(value, encoding)[0] == value for value in values)  # no codec changes them
    assert check_selects(ours, values, encoding, "ours") == check_selects(theirs, values, encoding, "PyMySQL")
    assert_intact(admin, victim)


def test_stored_values_and_where_clauses(combo, admin, payload_table):
    """INSERT, SELECT ... WHERE, UPDATE and DELETE with the payloads: one row
    each, stored exactly, found by its own value and no other."""
    ours, theirs, encoding, mode, victim = combo
    values = general_payloads(victim, encoding)
    want = tuple(expected(value, encoding) for value in values)
    table = payload_table(ours.charset)
    statements = []  # (sql, args), run by ours, mogrified by both

    def run(cur, sql, args):
        statements.append((sql, args))
        return cur.execute(sql, args)

    ours.begin()  # one commit, not one per statement: the test stays fast
    with ours.cursor() as cur:
        for value in values:
            assert run(cur, f"INSERT INTO `{table}` (v, b) VALUES (%s, %s)", (value, value)) == 1
        assert _read_back(ours, table) == want
        for i, value in enumerate(values):
            if i % 2:
                sql = f"SELECT v, HEX(b) FROM `{table}` WHERE b = %(b)s OR id < %(id)s"
                assert run(cur, sql, {"b": value, "id": -1}) == 1 and cur.fetchall() == (want[i],), repr(value)
            else:
                sql = f"UPDATE `{table}` SET v = CONCAT(v, '+') WHERE b = %s AND v = %s"
                assert run(cur, sql, (value, value)) == 1, repr(value)
        assert _read_back(ours, table) == tuple((t + "+" if i % 2 == 0 else t, h) for i, (t, h) in enumerate(want))
        for value in values:
            assert run(cur, f"DELETE FROM `{table}` WHERE b = %s", (value,)) == 1, repr(value)
        assert select_rows(ours, f"SELECT COUNT(*) FROM `{table}`")[0] == ((0,),)
    ours.commit()
    with ours.cursor() as a, theirs.cursor() as b:
        for sql, args in statements:
            assert a.mogrify(sql, args) == b.mogrify(sql, args)
    assert_intact(admin, victim)


def _read_back(conn, table):
    """(v, HEX(b)) of every row, in insertion order."""
    return select_rows(conn, f"SELECT v, HEX(b) FROM `{table}` ORDER BY id")[0]


def test_executemany_multi_row_insert(combo, admin, payload_table):
    """executemany's multi-row INSERT rewrite: one statement (Com_insert + 1)
    with every row, the same statement as PyMySQL's, values exact; then split
    into several statements by a small max_stmt_length."""
    ours, theirs, encoding, mode, victim = combo
    charset = ours.charset
    values = general_payloads(victim, encoding)
    want = tuple(expected(value, encoding) for value in values)
    executed = []
    table = payload_table(charset)
    for conn in (ours, theirs):
        for rows in ([(v, v) for v in values], [[v, v] for v in values], [{"v": v, "b": v} for v in values]):
            sql = f"INSERT INTO `{table}` (v, b) VALUES " + ("(%(v)s, %(b)s)" if isinstance(rows[0], dict) else
                                                              "(%s, %s)")
            before = com_insert(conn)
            with conn.cursor() as cur:
                assert cur.executemany(sql, rows) == len(values)
                executed.append(cur._executed)
            assert com_insert(conn) == before + 1, "not rewritten into one multi-row INSERT"
            assert _read_back(conn, table) == want
            with conn.cursor() as cur:
                assert cur.execute(f"DELETE FROM `{table}`") == len(values)
        before = com_insert(conn)
        with conn.cursor() as cur:
            cur.max_stmt_length = 400
            assert cur.executemany(f"INSERT INTO `{table}` (v, b) VALUES (%s, %s)", [(v, v) for v in values]) == \
                len(values)
            assert com_insert(conn) - before > 3
            assert _read_back(conn, table) == want
            assert cur.execute(f"DELETE FROM `{table}`") == len(values)
    assert executed[:3] == executed[3:]  # ours == PyMySQL's statements, for tuple, list and dict rows
    assert_intact(admin, victim)


def test_executemany_per_row(combo, admin, payload_table):
    """executemany() of a statement it cannot rewrite runs it once per row:
    each row is found by its own value (b = %s) and no other."""
    ours, theirs, encoding, mode, victim = combo
    values = general_payloads(victim, encoding)
    want = tuple((f"#{i}:" + expected(v, encoding)[0], expected(v, encoding)[1]) for i, v in enumerate(values))
    results = []
    table = payload_table(ours.charset)
    for conn in (ours, theirs):
        conn.begin()
        with conn.cursor() as cur:
            assert cur.executemany(f"INSERT INTO `{table}` (id, v, b) VALUES (%s, %s, %s)",
                                   [(i + 1, v, v) for i, v in enumerate(values)]) == len(values)
            tuple_rows = [(f"#{i}:", i + 1, v) for i, v in enumerate(values) if i % 2 == 0]
            dict_rows = [{"p": f"#{i}:", "id": i + 1, "b": v} for i, v in enumerate(values) if i % 2]
            sql = f"UPDATE `{table}` SET v = CONCAT(%s, v) WHERE id = %s AND b = %s"
            assert cur.executemany(sql, tuple_rows) == len(tuple_rows)
            sql = f"UPDATE `{table}` SET v = CONCAT(%(p)s, v) WHERE b = %(b)s AND id = %(id)s"
            assert cur.executemany(sql, dict_rows) == len(dict_rows)
            results.append(_read_back(conn, table))
            assert cur.execute(f"DELETE FROM `{table}`") == len(values)
        conn.commit()
    assert results[0] == results[1] == want
    assert_intact(admin, victim)


def test_sequence_parameters(combo, admin, payload_table):
    """A tuple parameter (x IN %s) is escaped item by item, in the mode."""
    ours, theirs, encoding, mode, victim = combo
    values = general_payloads(victim, encoding)
    table = payload_table(ours.charset)
    with ours.cursor() as cur:
        cur.executemany(f"INSERT INTO `{table}` (v, b) VALUES (%s, %s)", [(v, v) for v in values])
    sql = f"SELECT COUNT(*), %s FROM `{table}` WHERE b IN %s"
    for conn in (ours, theirs):
        assert select_rows(conn, sql, (SENTINEL, tuple(values))) == (((len(values), SENTINEL),), 2)
        assert select_rows(conn, sql, (SENTINEL, list(values[:5]))) == (((5, SENTINEL),), 2)
    with ours.cursor() as a, theirs.cursor() as b:
        assert a.mogrify(sql, (SENTINEL, tuple(values))) == b.mogrify(sql, (SENTINEL, tuple(values)))
    assert_intact(admin, victim)


def test_bytes_parameters(combo, admin, payload_table):
    """bytes go as hex literals: exact in every charset and mode, as in PyMySQL."""
    ours, theirs, encoding, mode, victim = combo
    values = [p.replace(b"{victim}", victim.encode()) for p in BYTES_PAYLOADS]
    for value in values:
        assert ours.escape(value) == theirs.escape(value) == "X'" + value.hex() + "'"
        with ours.cursor() as a, theirs.cursor() as b:
            assert a.mogrify("SELECT %s", (value,)) == b.mogrify("SELECT %s", (value,))
    for conn in (ours, theirs):
        check_selects(conn, values, encoding, type(conn).__module__, raw=True)
    for conn in (ours, theirs):
        table = payload_table(ours.charset)
        with conn.cursor() as cur:
            assert cur.executemany(f"INSERT INTO `{table}` (b) VALUES (%s)", [(v,) for v in values]) == len(values)
            cur.execute(f"SELECT b FROM `{table}` ORDER BY id")
            assert [row[0] for row in cur.fetchall()] == values
    assert_intact(admin, victim)


def test_hand_built_sql(combo, admin):
    """SQL built with connection.escape() / literal() / escape_string()."""
    ours, theirs, encoding, mode, victim = combo
    values = general_payloads(victim, encoding)
    for conn in (ours, theirs):
        for start in range(0, len(values), BATCH):
            batch = values[start:start + BATCH]
            columns = [f"{conn.escape(v)}, HEX({literal(conn, v)}), '{escape_string(conn, v)}'" for v in batch]
            sql = "SELECT " + ", ".join(columns + [conn.escape(SENTINEL)])
            want = tuple(x for value in batch for x in expected(value, encoding) + expected(value, encoding)[:1])
            assert select_rows(conn, sql) == ((want + (SENTINEL,),), len(want) + 1), batch
    assert_intact(admin, victim)


# --------------------------------------------------------------------------
# Two-byte characters whose second byte is a backslash


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("charset", BACKSLASH_TRAIL_CHARSETS)
def test_every_backslash_trail_character(connect, admin, payload_table, victim, charset, mode):
    """Every character of the codec that ends in 0x5C, next to quotes and
    backslashes: the server reads the character whole, the escapes after it
    still work, as in PyMySQL."""
    encoding = codec_of(charset)
    chars = backslash_trail_chars(encoding)
    assert len(chars) >= 30, chars
    for known in {"gbk": "縗", "big5": "許", "sjis": "ソ表", "cp932": "ソ表"}[charset]:
        assert known in chars
    ours, theirs = connect("ours", charset, mode), connect("theirs", charset, mode)
    attack = "\\'; DROP TABLE `" + victim + "`; -- "
    values = ["".join(chars), "".join(c + "'" for c in chars), "".join(c + "\\" for c in chars) + attack,
              "".join(c + "\\'" + c + '"' for c in chars) + attack, chars[0] + "' OR '1'='1"]
    for value in values:
        assert check_select(ours, value, encoding, "ours") == check_select(theirs, value, encoding, "PyMySQL")
        with ours.cursor() as a, theirs.cursor() as b:
            assert a.mogrify("SELECT %s", (value,)) == b.mogrify("SELECT %s", (value,))
    rows = [(c + suffix, c + suffix) for c in chars for suffix in ("'", "\\", "\\'", "")]
    for conn in (ours, theirs):
        table = payload_table(charset)
        with conn.cursor() as cur:
            assert cur.executemany(f"INSERT INTO `{table}` (v, b) VALUES (%s, %s)", rows) == len(rows)
        assert _read_back(conn, table) == tuple(expected(v, encoding) for v, _ in rows)
    assert_intact(admin, victim)


# --------------------------------------------------------------------------
# Raw bytes: the classic gbk attack


@fixed_in_mysqlpool
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("charset", BACKSLASH_TRAIL_CHARSETS + ["utf8mb4", "ujis"])
def test_raw_lead_byte_before_an_escape(connect, admin, payload_table, victim, charset, mode):
    """A lone lead byte (0xBF, a str carrying it as '\\udcbf') followed by a
    quote: escaped to 0xBF 0x5C 0x27, gbk reads 0xBF 0x5C as one character and
    the quote ends the string. pymysqlpool sends such strings as their bytes
    (surrogateescape), so each raw byte gets its own backslash and the bytes
    arrive exactly. PyMySQL 1.2 refuses them (UnicodeEncodeError): safe too."""
    encoding = codec_of(charset)
    ours, theirs = connect("ours", charset, mode), connect("theirs", charset, mode)
    values = [t.format(b=b, victim=victim) for b in RAW_LEAD_BYTES for t in RAW_TEMPLATES]
    values = unique_by_bytes([v for v in values if encodable(v, encoding)], encoding)
    assert len(values) > 50
    check_selects(ours, values, encoding, "execute", raw=True)
    for value in values:
        data = value.encode(encoding, "surrogateescape")
        sql = f"SELECT HEX({ours.escape(value)}), HEX('{escape_string(ours, value)}'), HEX({literal(ours, value)}), 1"
        assert select_rows(ours, sql) == (((data.hex().upper(),) * 3 + (1,),), 4), repr(value)
        with theirs.cursor() as cur, pytest.raises(UnicodeEncodeError):
            cur.execute("SELECT %s", (value,))
    table = payload_table(charset)
    ours.begin()
    with ours.cursor() as cur:
        # executemany's multi-row INSERT encodes its statements strictly, so
        # today it refuses such strings (UnicodeEncodeError, nothing sent);
        # if it ever sends them, they must arrive exactly.
        stored = []
        for sql, rows in ((f"INSERT INTO `{table}` (b) VALUES (%s)", [(v,) for v in values]),
                          (f"INSERT INTO `{table}` (b) VALUES (%(b)s)", [{"b": v} for v in values])):
            try:
                assert cur.executemany(sql, rows) == len(values)
            except UnicodeEncodeError:
                pass
            else:
                stored += values
            cur.execute(f"SELECT b FROM `{table}` ORDER BY id")
            assert [row[0] for row in cur.fetchall()] == [v.encode(encoding, "surrogateescape") for v in stored]
        # The per-row path (any statement but INSERT ... VALUES) sends them.
        assert cur.executemany(f"INSERT INTO `{table}` (b) SELECT %s", [(v,) for v in values]) == len(values)
        cur.execute(f"SELECT b FROM `{table}` ORDER BY id")
        assert [row[0] for row in cur.fetchall()] == [v.encode(encoding, "surrogateescape") for v in stored + values]
        copies = len(stored) // len(values) + 1
        for value in values:
            assert cur.execute(f"DELETE FROM `{table}` WHERE b = %s", (value,)) == copies, repr(value)
    ours.commit()
    assert_intact(admin, victim)


@pytest.mark.parametrize("charset", ["gbk", "big5", "sjis"])
def test_latin1_spelling_of_the_gbk_attack_is_refused(connect, admin, victim, charset):
    """'\\xbf' + quote as a str is '¿' (U+00BF) + quote, which these codecs
    cannot encode: both drivers refuse the statement and nothing runs."""
    value = b"\xbf' OR 1=1; DROP TABLE `" + victim.encode() + b"`; -- "
    for driver in ("ours", "theirs"):
        conn = connect(driver, charset)
        with conn.cursor() as cur, pytest.raises(UnicodeEncodeError):
            cur.execute("SELECT %s", (value.decode("latin1"),))
        assert select_rows(conn, "SELECT %s", (SENTINEL,)) == (((SENTINEL,),), 1)  # still usable
    assert_intact(admin, victim)


# --------------------------------------------------------------------------
# Characters that a codec writes as an ASCII byte


@fixed_in_mysqlpool
def test_ascii_lookalike_characters(connect, admin, payload_table, victim):
    """Python's shift_jis and euc_jp write '¥' (U+00A5) as 0x5C: for the
    server a backslash. PyMySQL leaves '¥' alone, so "¥'" goes out as 0x5C
    0x5C 0x27: an escaped backslash, then a quote that ends the string
    ("SELECT %s, %s" with "¥' OR 1=1 -- " gives one column, 1). pymysqlpool
    escapes '¥' as the backslash the server reads. The scan proves that no
    other character of any charset the server offers does this."""
    sql = "SELECT CHARACTER_SET_NAME FROM information_schema.CHARACTER_SETS"
    charsets = [name for name, in admin_query(admin, sql)]
    assert {"gbk", "big5", "sjis", "cp932", "ujis", "utf8mb4"} <= set(charsets)
    found = {}
    for charset in charsets:
        if charset in NOT_CLIENT_CHARSETS:
            continue
        try:
            lookalikes = ascii_lookalikes(codec_of(charset))
        except LookupError:  # no Python codec: the driver cannot send non-ASCII text in it
            continue
        if lookalikes:
            found[charset] = lookalikes
    assert found == EXPECTED_ASCII_LOOKALIKES

    for charset, lookalikes in found.items():
        encoding = codec_of(charset)
        for mode in MODES:
            ours = connect("ours", charset, mode)
            values = [t.format(c=c, victim=victim) for c in lookalikes for t in WIDE_TEMPLATES]
            values += ["\u00a5' OR 1=1 -- ", "\u00a5\u00a5'", "\u00a5\\", "x\u00a5", "\u00a5\x00\u00a5\n'"]
            for value in values:
                text, _ = expected(value, encoding)
                assert text == value.replace("\u00a5", "\\").replace("\u203e", "~")
                check_select(ours, value, encoding, f"{charset} {mode}")
                hand = f"SELECT {ours.escape(value)}, '{escape_string(ours, value)}', {literal(ours, value)}, 1"
                assert select_rows(ours, hand) == (((text, text, text, 1),), 4), repr(value)
            values = unique_by_bytes(values, encoding)
            table = payload_table(charset)
            with ours.cursor() as cur:
                assert cur.executemany(f"INSERT INTO `{table}` (v, b) VALUES (%s, %s)",
                                       [(v, v) for v in values]) == len(values)
                assert cur.executemany(f"INSERT INTO `{table}` (v, b) VALUES (%(v)s, %(v)s)",
                                       [{"v": v} for v in values]) == len(values)
            assert _read_back(ours, table) == tuple(expected(v, encoding) for v in values) * 2
            if mode == "no_backslash_escapes":
                # Where the backslash means nothing PyMySQL is safe too, and the same.
                theirs = connect("theirs", charset, mode)
                for value in values:
                    assert check_select(theirs, value, encoding) == check_select(ours, value, encoding)
    assert_intact(admin, victim)


@fixed_in_mysqlpool
@pytest.mark.parametrize("mode", MODES)
def test_charset_changed_after_connect(connect, admin, victim, mode):
    """set_character_set() switches the codec escaping follows: '¥' is
    escaped as a backslash under sjis, and is a plain character again under
    utf8mb4."""
    ours = connect("ours", "utf8mb4", mode)
    values = ["\u00a5' OR 1=1 -- ", "\u00a5\\'; DROP TABLE `" + victim + "`; -- ", "\u00a5"]
    for charset in ("sjis", "utf8mb4", "ujis"):
        ours.set_character_set(charset)
        encoding = codec_of(charset)
        assert ours.encoding == encoding
        rows = check_selects(ours, values, encoding, charset)
        assert rows[0][0][0] == ("\u00a5" if charset == "utf8mb4" else "\\") + "' OR 1=1 -- "
        assert_mode(ours, mode)
    assert_intact(admin, victim)


# --------------------------------------------------------------------------
# Other objects, quoted as their str()


class Named:
    def __init__(self, text):
        self.text = text

    def __str__(self):
        return self.text


@pytest.mark.parametrize("mode", [MODES[0], pytest.param(MODES[1], marks=fixed_in_mysqlpool)])
@pytest.mark.parametrize("charset", ["utf8mb4", "gbk", "sjis"])
def test_objects_quoted_as_their_str(connect, admin, victim, charset, mode):
    """A parameter of another type (a path, an object with __str__) is sent
    as its str(). With backslash escapes: exactly as PyMySQL. Under
    NO_BACKSLASH_ESCAPES PyMySQL still writes \\' for its quotes, which the
    server reads as a backslash and a closing quote; pymysqlpool escapes it
    like any str."""
    encoding = codec_of(charset)
    ours, theirs = connect("ours", charset, mode), connect("theirs", charset, mode)
    attack = "'; DROP TABLE `" + victim + "`; -- "
    objects = [pathlib.PurePosixPath("/tmp/x" + attack), Named(attack), Named("\\" + attack), Named("' OR '1'='1"),
               Named("ソ\\" + attack), Named("縗" + attack)]
    for obj in objects:
        if not encodable(str(obj), encoding):
            continue
        text, hex_ = expected(str(obj), encoding)
        assert select_rows(ours, "SELECT %s, HEX(%s), %s", (obj, obj, SENTINEL)) == (((text, hex_, SENTINEL),), 3)
        assert select_rows(ours, f"SELECT {ours.escape(obj)}, 1") == (((text, 1),), 2)
        assert ours.escape(obj) == ours.escape(str(obj))
        if mode == "backslash_escapes":
            with ours.cursor() as a, theirs.cursor() as b:
                assert a.mogrify("SELECT %s", (obj,)) == b.mogrify("SELECT %s", (obj,))
    assert_intact(admin, victim)


# --------------------------------------------------------------------------
# NO_BACKSLASH_ESCAPES however it is set, and in pools


PROBE = "a'b\\c\\'; DROP TABLE `{victim}`; -- "


def _probe(conn, victim, mode):
    """Escaping follows `mode` and the probe value round-trips."""
    value = PROBE.format(victim=victim)
    assert_mode(conn, mode)
    if mode == "no_backslash_escapes":
        assert escape_string(conn, value) == value.replace("'", "''")
    else:
        assert escape_string(conn, value) == value.replace("\\", "\\\\").replace("'", "\\'")
    check_select(conn, value, "utf8")


@pytest.mark.parametrize("how", ["set_session", "connect_sql_mode", "init_command"])
def test_no_backslash_escapes_however_set(connect, admin, victim, how):
    """The driver escapes by the mode the server reports, from the first
    statement on and after each change, like PyMySQL."""
    for driver in ("ours", "theirs"):
        if how == "set_session":
            conn = connect(driver, mode="no_backslash_escapes")
        elif how == "connect_sql_mode":
            conn = connect(driver, mode=None, sql_mode="NO_BACKSLASH_ESCAPES")
        else:
            conn = connect(driver, mode=None, init_command="SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'")
        value = PROBE.format(victim=victim)
        assert conn.escape(value) == "'" + value.replace("'", "''") + "'"  # before any statement of ours
        _probe(conn, victim, "no_backslash_escapes")
        set_mode(conn, "backslash_escapes")
        _probe(conn, victim, "backslash_escapes")
        set_mode(conn, "no_backslash_escapes")
        _probe(conn, victim, "no_backslash_escapes")
    assert_intact(admin, victim)


@pytest.mark.parametrize("charset", ["utf8mb4", "gbk", "sjis"])
def test_pooled_connections(server, admin, payload_table, victim, charset):
    """Pooled connections escape by their own session's mode, including a
    connection a previous borrower left under NO_BACKSLASH_ESCAPES."""
    encoding = codec_of(charset)
    pool = pymysqlpool.ConnectionPool(size=1, maxsize=1, name=f"injection-{charset}", charset=charset,
                                      client_flag=CLIENT.MULTI_STATEMENTS, **server)
    values = general_payloads(victim, encoding)
    try:
        for mode in MODES + MODES:
            conn = pool.get_connection()
            try:
                # Whatever the previous borrower left (a pool may or may not
                # reset the session), the driver agrees with the server.
                rows, _ = select_rows(conn, "SELECT FIND_IN_SET('NO_BACKSLASH_ESCAPES', @@SESSION.sql_mode) > 0")
                assert bool(conn.server_status & NO_BACKSLASH_ESCAPES) is bool(rows[0][0])
                for value in values[:10]:
                    check_select(conn, value, encoding, "inherited mode")
                set_mode(conn, mode)
                for value in values:
                    check_select(conn, value, encoding, mode)
                table = payload_table(charset)
                with conn.cursor() as cur:
                    assert cur.executemany(f"INSERT INTO `{table}` (v, b) VALUES (%s, %s)",
                                           [(v, v) for v in values]) == len(values)
                assert _read_back(conn, table) == tuple(expected(v, encoding) for v in values)
            finally:
                conn.close()
    finally:
        close = getattr(pool, "close", None)
        if close is not None:
            close()
    assert_intact(admin, victim)


# --------------------------------------------------------------------------
# Random strings of the dangerous characters


def _alphabet(encoding):
    lookalikes = ascii_lookalikes(encoding)  # PyMySQL is not safe with them: their own test
    chars = list("'\"`\\%_;-#/*\x00\x1a\n\r\t aZ09")
    chars += [c for c in WIDE_CHARS if encodable(c, encoding) and c not in lookalikes]
    return chars + backslash_trail_chars(encoding)[:6]


@pytest.mark.parametrize("charset", ["utf8mb4", "latin1", "gbk", "big5", "sjis", "cp932", "ujis"])
def test_random_strings(connect, admin, victim, charset):
    """Random strings over quotes, backslashes, NUL, ^Z, newlines, LIKE
    wildcards and the charset's backslash-ending characters: exact in both
    modes, for both drivers."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    encoding = codec_of(charset)
    alphabet = _alphabet(encoding)
    conns = [(connect(driver, charset, mode), mode) for driver in ("ours", "theirs") for mode in MODES]

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.lists(st.lists(st.sampled_from(alphabet), max_size=24).map("".join), min_size=1, max_size=5))
    def check(values):
        results = set()
        for conn, mode in conns:
            results.add(tuple(check_selects(conn, values, encoding, mode)))
        assert len(results) == 1

    check()
    assert_intact(admin, victim)
