"""Differential tests: PyMySQL and ``pymysqlpool``'s unpooled connection on
the same server, the same statements, the same answers.

"Same" means the same type and the same value (``type(ours) is
type(theirs) and ours == theirs``, plus equal ``repr`` so that Decimal
exponents, float signs and microseconds match too), the same
``cursor.description``, rowcount, lastrowid, and errors of the same class
name, errno, args and DB-API base classes.

On the reference venv ``pymysqlpool.Connection`` is a PyMySQL subclass, so
this file passes there by construction; that run checks the expectations
themselves (SQL, fixtures, orderings).
"""

import datetime
import socket
import uuid
import warnings
from decimal import Decimal

import pymysql
import pymysql.cursors
import pytest
from pymysql.constants import CLIENT

import pymysqlpool
from helpers import admin_query, ours_err, unpooled_connect, wait_server_connection_gone

fixed_in_mysqlpool = pytest.mark.fixed_in_mysqlpool

connect_ours = unpooled_connect()
ERR_OURS = ours_err()


def connect_theirs(**kw):
    return pymysql.connect(**kw)


def ours_cursor_class(name):
    """Our own cursor class where the package has one (``pymysqlpool.SSCursor``
    ...); 0.5.0 only has Cursor and DictCursor, and takes PyMySQL's others."""
    return getattr(pymysqlpool, name, None) or getattr(pymysql.cursors, name)


def assert_same_value(ours, theirs, what=""):
    assert type(ours) is type(theirs), (
        f"{what}: {ours!r} ({type(ours).__name__}) vs {theirs!r} ({type(theirs).__name__})"
    )
    assert ours == theirs, f"{what}: {ours!r} != {theirs!r}"
    assert repr(ours) == repr(theirs), f"{what}: {ours!r} vs {theirs!r}"


def assert_same_rows(ours, theirs, what=""):
    assert type(ours) is type(theirs), f"{what}: result {type(ours).__name__} vs {type(theirs).__name__}"
    assert len(ours) == len(theirs), f"{what}: {len(ours)} rows vs {len(theirs)}"
    for i, (row_o, row_t) in enumerate(zip(ours, theirs)):
        assert type(row_o) is type(row_t), f"{what} row {i}"
        if isinstance(row_t, dict):
            assert list(row_o) == list(row_t), f"{what} row {i} keys"
            row_o, row_t = list(row_o.values()), list(row_t.values())
        assert len(row_o) == len(row_t), f"{what} row {i}"
        for j, (a, b) in enumerate(zip(row_o, row_t)):
            assert_same_value(a, b, f"{what} row {i} col {j}")


def outcome(fn, *args, **kwargs):
    """('ok', value) or ('raise', class name, args): comparable across drivers."""
    try:
        return ("ok", fn(*args, **kwargs))
    except Exception as e:  # noqa: BLE001 - the exception is the result
        return ("raise", type(e).__name__, e.args)


@pytest.fixture
def pair(server, fresh_table):
    """(ours, theirs): two unpooled connections with PyMySQL's defaults.

    Depends on ``fresh_table`` so that it is torn down first: an open
    transaction on these connections would block the tables' DROP."""
    ours = connect_ours(**server)
    theirs = connect_theirs(**server)
    yield ours, theirs
    for conn in (ours, theirs):
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - a test may have closed it already
            pass


def run_both(pair, sql, args=None, cursor="Cursor"):
    """Execute on both; return [(cursor, fetched rows)] for ours, theirs."""
    out = []
    for conn, cls in zip(pair, (ours_cursor_class(cursor), getattr(pymysql.cursors, cursor))):
        cur = conn.cursor(cls)
        cur.execute(sql, args)
        out.append((cur, cur.fetchall()))
    return out


# --------------------------------------------------------------------------
# Every column type

# (column name, column type, three SQL literals for three rows); a fourth row
# is all NULL.
COLUMN_TYPES = [
    ("tinyint", "TINYINT", ["127", "-128", "0"]),
    ("tinyint_u", "TINYINT UNSIGNED", ["255", "0", "1"]),
    ("smallint", "SMALLINT", ["32767", "-32768", "0"]),
    ("smallint_u", "SMALLINT UNSIGNED", ["65535", "0", "1"]),
    ("mediumint", "MEDIUMINT", ["8388607", "-8388608", "0"]),
    ("mediumint_u", "MEDIUMINT UNSIGNED", ["16777215", "0", "1"]),
    ("int", "INT", ["2147483647", "-2147483648", "0"]),
    ("int_u", "INT UNSIGNED", ["4294967295", "0", "1"]),
    ("bigint", "BIGINT", ["9223372036854775807", "-9223372036854775808", "0"]),
    ("bigint_u", "BIGINT UNSIGNED", ["18446744073709551615", "0", "9223372036854775808"]),
    ("decimal_12_2", "DECIMAL(12,2)", ["1234567890.12", "-9999999999.99", "0"]),
    (
        "decimal_65_30",
        "DECIMAL(65,30)",
        [
            "12345678901234567890123456789012345.123456789012345678901234567890",
            "-0.000000000000000000000000000001",
            "0",
        ],
    ),
    ("decimal_10_0", "DECIMAL(10,0)", ["9999999999", "-1", "0"]),
    ("float", "FLOAT", ["3.14159", "-1.5e38", "1e-30"]),
    ("double", "DOUBLE", ["1e300", "-2.2250738585072014e-308", "0.1"]),
    ("date", "DATE", ["'2024-02-29'", "'1000-01-01'", "'9999-12-31'"]),
    ("datetime", "DATETIME", ["'2024-02-29 23:59:59'", "'1000-01-01 00:00:00'", "'9999-12-31 23:59:59'"]),
    (
        "datetime6",
        "DATETIME(6)",
        ["'2024-02-29 23:59:59.999999'", "'2000-01-01 00:00:00.000001'", "'1970-01-01 00:00:00.5'"],
    ),
    ("datetime3", "DATETIME(3)", ["'2024-01-02 03:04:05.678'", "'2024-01-02 03:04:05'", "'2024-01-02 03:04:05.001'"]),
    (
        "timestamp6",
        "TIMESTAMP(6) NULL",
        ["'2024-01-02 03:04:05.123456'", "'1970-01-02 00:00:00.000001'", "'2038-01-18 00:00:00'"],
    ),
    ("time", "TIME", ["'838:59:59'", "'-838:59:59'", "'00:00:00'"]),
    ("time6", "TIME(6)", ["'-838:59:59.000000'", "'-00:00:01.5'", "'12:34:56.000001'"]),
    ("year", "YEAR", ["2024", "1901", "0"]),
    ("char", "CHAR(10)", ["'abc'", "''", "'ü'"]),
    ("varchar", "VARCHAR(50)", ["'emoji 😀🎉'", "'quote '' \" \\\\ back'", "'tab\\tnl\\n'"]),
    ("varchar_bin", "VARCHAR(20) COLLATE utf8mb4_bin", ["'Case'", "''", "'ß'"]),
    ("varchar_latin1", "VARCHAR(20) CHARACTER SET latin1", ["'café'", "'naïve'", "''"]),
    ("text", "TEXT", ["REPEAT('x', 1000)", "'multi\\nline'", "'😀'"]),
    ("blob", "BLOB", ["X'00FF00'", "X''", "X'000102030405'"]),
    ("binary4", "BINARY(4)", ["X'00010000'", "X'61'", "X'FFFFFFFF'"]),
    ("varbinary", "VARBINARY(16)", ["X'DEADBEEF00'", "X''", "X'00'"]),
    ("enum", "ENUM('small','medium','large')", ["'small'", "'large'", "'medium'"]),
    ("set", "SET('a','b','c')", ["'a,c'", "''", "'a,b,c'"]),
    ("bit1", "BIT(1)", ["b'1'", "b'0'", "1"]),
    ("bit64", "BIT(64)", ["b'" + "1" * 64 + "'", "0", "b'101'"]),
    ("json", "JSON", ['\'{"a": [1, 2, "😀"]}\'', "'[]'", "'\"str\"'"]),
    (
        "geometry",
        "GEOMETRY",
        [
            "ST_GeomFromText('POINT(1 2)')",
            "ST_GeomFromText('LINESTRING(0 0,1 1)')",
            "ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))')",
        ],
    ),
    # Zero and invalid dates (inserted with sql_mode=''): PyMySQL gives str.
    ("date_zero", "DATE", ["'0000-00-00'", "'2020-00-00'", "'2020-02-00'"]),
    (
        "datetime_zero",
        "DATETIME",
        ["'0000-00-00 00:00:00'", "'2020-00-10 10:00:00'", "'2020-02-00 00:00:00'"],
    ),
    ("timestamp_zero", "TIMESTAMP NULL", ["'0000-00-00 00:00:00'", "'2024-05-06 07:08:09'", "'1999-12-31 23:59:59'"]),
]
N_ROWS = 4  # three rows of literals, one of NULLs
# Our prepared cursors (binary protocol, statement cache) against PyMySQL's
# plain ones: the same rows, types and description for every column type.
PREPARED_KINDS = {"PreparedCursor": "Cursor", "PreparedSSCursor": "SSCursor"}
CURSOR_KINDS = ["Cursor", "SSCursor"] + [pytest.param(kind, marks=fixed_in_mysqlpool) for kind in PREPARED_KINDS]


@pytest.fixture(scope="module")
def typed_results(server, admin):
    """{cursor kind: ((ours rows, ours description), (theirs rows, theirs description))}."""
    table = f"t_types_{uuid.uuid4().hex[:12]}"
    columns = ", ".join(f"`{name}` {ddl}" for name, ddl, _ in COLUMN_TYPES)
    admin_query(admin, f"CREATE TABLE `{table}` (row_id INT PRIMARY KEY, {columns}) DEFAULT CHARSET=utf8mb4")
    setup = pymysql.connect(autocommit=True, **server)
    try:
        with setup.cursor() as cur:
            cur.execute("SET SESSION sql_mode = ''")
            for row in range(3):
                values = ", ".join(literals[row] for _, _, literals in COLUMN_TYPES)
                cur.execute(f"INSERT INTO `{table}` VALUES ({row}, {values})")
            nulls = ", ".join("NULL" for _ in COLUMN_TYPES)
            cur.execute(f"INSERT INTO `{table}` VALUES (3, {nulls})")
            cur.execute(f"SELECT COUNT(*) FROM `{table}`")
            assert cur.fetchone() == (N_ROWS,)
            # No silent conversions: the zero dates really are zero dates.
            cur.execute(f"SELECT CAST(date_zero AS CHAR) FROM `{table}` WHERE row_id = 0")
            assert cur.fetchone() == ("0000-00-00",)
    finally:
        setup.close()

    results = {}
    ours = connect_ours(**server)
    theirs = connect_theirs(**server)
    try:
        for kind in ["Cursor", "SSCursor", *PREPARED_KINDS]:
            if not hasattr(pymysqlpool, kind) and kind in PREPARED_KINDS:
                continue  # the reference (0.5.0) has none
            per_driver = []
            theirs_kind = PREPARED_KINDS.get(kind, kind)
            for conn, cls in ((ours, ours_cursor_class(kind)), (theirs, getattr(pymysql.cursors, theirs_kind))):
                cur = conn.cursor(cls)
                cur.execute("SET SESSION sql_mode = ''")
                cur.execute(f"SELECT * FROM `{table}` ORDER BY row_id")
                description = cur.description
                rows = cur.fetchall()
                cur.close()
                per_driver.append((rows, description))
            results[kind] = per_driver
    finally:
        ours.close()
        theirs.close()
        admin_query(admin, f"DROP TABLE `{table}`")
    return results


@pytest.mark.parametrize("kind", CURSOR_KINDS)
@pytest.mark.parametrize("column", range(len(COLUMN_TYPES)), ids=[c[0] for c in COLUMN_TYPES])
def test_column_type_values(typed_results, kind, column):
    (ours_rows, _), (theirs_rows, _) = typed_results[kind]
    assert len(theirs_rows) == N_ROWS and len(ours_rows) == N_ROWS
    name, ddl, _ = COLUMN_TYPES[column]
    for row in range(N_ROWS):
        assert_same_value(ours_rows[row][column + 1], theirs_rows[row][column + 1], f"{name} {ddl} row {row}")
    # The NULL row.
    assert ours_rows[3][column + 1] is None


@pytest.mark.parametrize("kind", CURSOR_KINDS)
@pytest.mark.parametrize("column", range(len(COLUMN_TYPES)), ids=[c[0] for c in COLUMN_TYPES])
def test_column_type_description(typed_results, kind, column):
    (_, ours_desc), (_, theirs_desc) = typed_results[kind]
    assert len(ours_desc) == len(theirs_desc) == len(COLUMN_TYPES) + 1
    assert type(ours_desc[column + 1]) is type(theirs_desc[column + 1])
    assert ours_desc[column + 1] == theirs_desc[column + 1]


def test_pymysql_decodes_as_expected(typed_results):
    # The reference itself, spelled out for a few cells, so that this file
    # documents what "the same as PyMySQL" means.
    _, (rows, _) = typed_results["Cursor"]
    col = {name: i + 1 for i, (name, _, _) in enumerate(COLUMN_TYPES)}
    assert rows[0][col["bigint_u"]] == 18446744073709551615
    assert rows[1][col["bigint"]] == -9223372036854775808
    assert rows[0][col["decimal_12_2"]] == Decimal("1234567890.12")
    assert repr(rows[2][col["decimal_12_2"]]) == "Decimal('0.00')"
    assert rows[0][col["datetime6"]] == datetime.datetime(2024, 2, 29, 23, 59, 59, 999999)
    assert rows[0][col["time6"]] == -datetime.timedelta(hours=838, minutes=59, seconds=59)
    assert rows[1][col["time6"]] == datetime.timedelta(seconds=-1.5)
    assert rows[0][col["year"]] == 2024
    assert rows[0][col["varchar"]] == "emoji 😀🎉"
    assert rows[0][col["varchar_latin1"]] == "café"
    assert rows[0][col["blob"]] == b"\x00\xff\x00"
    assert rows[1][col["binary4"]] == b"a\x00\x00\x00"
    assert rows[0][col["set"]] == "a,c"
    assert rows[0][col["bit1"]] == b"\x01"
    assert rows[0][col["bit64"]] == b"\xff" * 8
    assert rows[0][col["json"]] == '{"a": [1, 2, "😀"]}'
    assert type(rows[0][col["geometry"]]) is bytes
    assert rows[0][col["date_zero"]] == "0000-00-00"
    assert rows[1][col["date_zero"]] == "2020-00-00"
    assert rows[0][col["datetime_zero"]] == "0000-00-00 00:00:00"
    assert rows[0][col["timestamp_zero"]] == "0000-00-00 00:00:00"


@pytest.mark.parametrize("kind", CURSOR_KINDS)
def test_result_containers(typed_results, kind):
    (ours_rows, ours_desc), (theirs_rows, theirs_desc) = typed_results[kind]
    assert type(ours_rows) is type(theirs_rows)
    assert type(ours_rows[0]) is type(theirs_rows[0])
    assert type(ours_desc) is type(theirs_desc)
    assert_same_value(ours_rows[0][0], theirs_rows[0][0], "row_id")


@pytest.mark.parametrize("cursor", ["Cursor", "DictCursor"])
def test_large_result_read_in_batches(pair, cursor):
    """~6 MB of rows: the library hands them over in ~256 KiB batches (on
    more than one CPU each read ahead by a helper thread); the rows, their
    order, rowcount and description are PyMySQL's."""
    sql = ("SELECT seq, REPEAT(CHAR(65 + seq % 26), 1000 + seq % 7), seq * 1.5, "
           "IF(seq % 3, NULL, CAST(seq AS DECIMAL(10,2))) FROM seq_1_to_6000")
    (ours, ours_rows), (theirs, theirs_rows) = run_both(pair, sql, cursor=cursor)
    assert_same_rows(ours_rows, theirs_rows, "batched")
    assert ours.rowcount == theirs.rowcount == 6000
    assert ours.description == theirs.description
    # The connection is free again afterwards.
    (_, ours_rows), (_, theirs_rows) = run_both(pair, "SELECT 1")
    assert_same_rows(ours_rows, theirs_rows)


def test_expression_types_and_description(pair):
    sql = (
        "SELECT 1 AS i, 1.5 AS d, 1e0 AS f, 'x' AS s, NULL AS n, NOW() - NOW() AS z, "
        "CAST('2024-01-02' AS DATE) AS dt, CAST(1 AS UNSIGNED) AS u, x'00ff' AS b, "
        "CAST(-1 AS SIGNED) AS neg, 1 = 1 AS bool_expr, COUNT(*) AS cnt, SUM(1) AS total"
    )
    (ours_cur, ours_rows), (theirs_cur, theirs_rows) = run_both(pair, sql)
    assert ours_cur.description == theirs_cur.description
    assert_same_rows(ours_rows, theirs_rows)


def test_duplicate_column_names_in_dict_cursor(pair, fresh_table):
    table = fresh_table("id INT PRIMARY KEY, v INT")
    other = fresh_table("id INT PRIMARY KEY, v INT")
    for conn in pair:
        cur = conn.cursor()
        cur.execute(f"INSERT IGNORE INTO `{table}` VALUES (1, 10)")
        cur.execute(f"INSERT IGNORE INTO `{other}` VALUES (1, 20)")
        conn.commit()
    sql = f"SELECT a.id, a.v, b.v FROM `{table}` a JOIN `{other}` b ON a.id = b.id"
    (ours_cur, ours_rows), (theirs_cur, theirs_rows) = run_both(pair, sql, cursor="DictCursor")
    assert_same_rows(ours_rows, theirs_rows)
    assert list(theirs_rows[0]) == ["id", "v", "b.v"]  # a repeated name gets its table alias


# --------------------------------------------------------------------------
# Parameters: escaping and round trips

PARAM_VALUES = [
    ("None", None),
    ("True", True),
    ("False", False),
    ("zero", 0),
    ("negative", -1),
    ("int64_max", 2**63 - 1),
    ("int64_min", -(2**63)),
    ("uint64_max", 2**64 - 1),
    ("huge_int", 10**40),
    ("float", 1.5),
    ("float_1e300", 1e300),
    ("float_neg_zero", -0.0),
    ("float_small", 5e-324),
    ("float_repr", 0.1 + 0.2),
    ("decimal", Decimal("12.3400")),
    ("decimal_exp", Decimal("-1E+5")),
    ("decimal_tiny", Decimal("1E-30")),
    ("str_quote", 'it\'s "quoted"'),
    ("str_backslash", "back\\slash \\' \\\\"),
    ("str_nul", "nul\x00byte"),
    ("str_ctrl_z", "ctrl-z\x1a"),
    ("str_newlines", "new\nline\r\n\ttab"),
    ("str_emoji", "emoji 😀 ü ß"),
    ("str_empty", ""),
    ("str_percent", "100% %s %(x)s"),
    ("bytes", b"\x00\x01\xff'\\\"\x1a\n"),
    ("bytes_empty", b""),
    ("bytearray", bytearray(b"ab\x00c")),
    ("date", datetime.date(2024, 2, 29)),
    ("time", datetime.time(13, 45, 30)),
    ("time_micro", datetime.time(1, 2, 3, 456789)),
    ("datetime", datetime.datetime(2024, 1, 2, 3, 4, 5)),
    ("datetime_micro", datetime.datetime(2024, 1, 2, 3, 4, 5, 678901)),
    ("timedelta", datetime.timedelta(days=1, seconds=3, microseconds=5)),
    ("timedelta_negative", datetime.timedelta(seconds=-1.5)),
    ("timedelta_neg_hours", -datetime.timedelta(hours=838, minutes=59, seconds=59)),
    ("tuple", (1, "a", None)),
    ("list", [2.5, b"x", datetime.date(2020, 1, 1)]),
]

SQL_MODES = ["default", "NO_BACKSLASH_ESCAPES"]


def _set_mode(conn, mode):
    cur = conn.cursor()
    if mode == "default":
        cur.execute("SET SESSION sql_mode = DEFAULT")
    else:
        cur.execute("SET SESSION sql_mode = CONCAT(@@GLOBAL.sql_mode, ',NO_BACKSLASH_ESCAPES')")
    cur.close()


@pytest.mark.parametrize("mode", SQL_MODES)
@pytest.mark.parametrize("value", [v for _, v in PARAM_VALUES], ids=[n for n, _ in PARAM_VALUES])
def test_parameter_escaping_round_trip(pair, value, mode):
    ours, theirs = pair
    for conn in pair:
        _set_mode(conn, mode)
    # A sequence expands to "(a,b,c)", which SELECT only takes after IN.
    sql = "SELECT 1 IN %s" if isinstance(value, (tuple, list)) else "SELECT %s"
    ours_cur, theirs_cur = ours.cursor(), theirs.cursor()
    assert ours_cur.mogrify(sql, (value,)) == theirs_cur.mogrify(sql, (value,))
    assert_same_value(ours.escape(value), theirs.escape(value), "conn.escape")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # PyMySQL 1.2 deprecates literal()
        assert_same_value(ours.literal(value), theirs.literal(value), "conn.literal")
    ours_cur.execute(sql, (value,))
    theirs_cur.execute(sql, (value,))
    assert ours_cur.description == theirs_cur.description
    assert_same_rows(ours_cur.fetchall(), theirs_cur.fetchall(), "selected back")


def test_string_round_trip_is_exact(pair):
    # The round trip gives back exactly the Python str for every awkward one.
    ours, _ = pair
    cur = ours.cursor()
    for name, value in PARAM_VALUES:
        if isinstance(value, str):
            cur.execute("SELECT %s", (value,))
            assert cur.fetchone() == (value,), name


@pytest.mark.parametrize("value", [b"\x00\xff'", bytearray(b"x\\y")], ids=["bytes", "bytearray"])
def test_binary_prefix(server, value):
    # Accepted; PyMySQL 1.2 writes bytes as X'..' with or without it.
    ours = connect_ours(binary_prefix=True, **server)
    theirs = connect_theirs(binary_prefix=True, **server)
    try:
        ours_cur, theirs_cur = ours.cursor(), theirs.cursor()
        mogrified = theirs_cur.mogrify("SELECT %s", (value,))
        assert mogrified == f"SELECT X'{bytes(value).hex()}'"
        assert ours_cur.mogrify("SELECT %s", (value,)) == mogrified
        ours_cur.execute("SELECT %s", (value,))
        theirs_cur.execute("SELECT %s", (value,))
        assert_same_rows(ours_cur.fetchall(), theirs_cur.fetchall())
    finally:
        ours.close()
        theirs.close()


def test_dict_parameters(pair):
    sql = "SELECT %(a)s, %(b)s, %(a)s, %(c)s"
    args = {"a": 1, "b": "x'y", "c": None}
    ours, theirs = pair
    assert ours.cursor().mogrify(sql, args) == theirs.cursor().mogrify(sql, args)
    (ours_cur, ours_rows), (theirs_cur, theirs_rows) = run_both(pair, sql, args)
    assert_same_rows(ours_rows, theirs_rows)
    assert theirs_rows == ((1, "x'y", 1, None),)


def test_sequences_expand_for_in(pair):
    sql = "SELECT 2 IN %s, 5 IN %s, 'b' IN %s"
    args = ((1, 2, 3), [4, 6], ("a", "b"))
    ours, theirs = pair
    assert ours.cursor().mogrify(sql, args) == theirs.cursor().mogrify(sql, args)
    assert theirs.cursor().mogrify(sql, args) == "SELECT 2 IN (1,2,3), 5 IN (4,6), 'b' IN ('a','b')"
    (_, ours_rows), (_, theirs_rows) = run_both(pair, sql, args)
    assert_same_rows(ours_rows, theirs_rows)
    assert theirs_rows == ((1, 0, 1),)


@pytest.mark.parametrize(
    "sql, args",
    [
        ("SELECT '100%'", None),
        ("SELECT '100%%'", ()),
        ("SELECT '100%%', %s", ("x",)),
        ("SELECT %s, %s", (1,)),  # too few: TypeError from %-formatting
        ("SELECT %s", (1, 2)),  # too many
        ("SELECT %(a)s", {"b": 1}),  # missing key
        ("SELECT %s", (float("inf"),)),  # not representable in SQL
        ("SELECT %s", (float("nan"),)),
    ],
    ids=["no-args", "empty-tuple", "percent-and-arg", "too-few", "too-many", "missing-key", "inf", "nan"],
)
def test_mogrify_edge_cases(pair, sql, args):
    ours, theirs = pair
    theirs_result = outcome(theirs.cursor().mogrify, sql, args)
    ours_result = outcome(ours.cursor().mogrify, sql, args)
    assert ours_result == theirs_result  # the same text, or the same error and message


# --------------------------------------------------------------------------
# rowcount, lastrowid, description after each kind of statement


def test_rowcount_lastrowid_description(pair, fresh_table):
    statements = [
        "INSERT INTO `{t}` (v) VALUES (10)",
        "INSERT INTO `{t}` (v) VALUES (20), (30), (40)",
        "UPDATE `{t}` SET v = 30 WHERE v >= 30",  # matches 2, changes 1
        "UPDATE `{t}` SET v = v WHERE id > 100",
        "SELECT id, v FROM `{t}` ORDER BY id",
        "SELECT id FROM `{t}` WHERE id > 100",
        "INSERT IGNORE INTO `{t}` (id, v) VALUES (1, 99)",
        "REPLACE INTO `{t}` (id, v) VALUES (1, 11)",
        "INSERT INTO `{t}` (id, v) VALUES (2, 0) ON DUPLICATE KEY UPDATE v = 21",
        "INSERT INTO `{t}` (id, v) VALUES (50, 50)",
        "INSERT INTO `{t}` (v) VALUES (51)",
        "DELETE FROM `{t}` WHERE id >= 50",
        "SELECT LAST_INSERT_ID()",
        "SET @x = 1",
        "DO 1",
    ]
    records = []
    for conn in pair:
        table = fresh_table("id INT AUTO_INCREMENT PRIMARY KEY, v INT")
        cur = conn.cursor()
        record = []
        for statement in statements:
            sql = statement.format(t=table)
            returned = cur.execute(sql)
            rows = cur.fetchall()
            record.append(
                (
                    statement,
                    returned,
                    cur.rowcount,
                    cur.lastrowid,
                    cur.description,
                    rows,
                    conn.insert_id(),
                    conn.affected_rows(),
                )
            )
        conn.commit()
        records.append(record)
    ours, theirs = records
    for o, t in zip(ours, theirs):
        assert o == t, t[0]
        for a, b in zip(o, t):
            assert type(a) is type(b), (t[0], a, b)


def test_fresh_cursor_attributes(pair):
    ours, theirs = pair
    oc, tc = ours.cursor(), theirs.cursor()
    for attr in ("rowcount", "rownumber", "arraysize", "description", "warning_count"):
        assert_same_value(getattr(oc, attr), getattr(tc, attr), attr)
    assert oc.connection is ours


def test_ddl_rowcount_and_description(pair):
    name = f"t_ddl_{uuid.uuid4().hex[:10]}"
    results = []
    for i, conn in enumerate(pair):
        cur = conn.cursor()
        table = f"{name}_{i}"
        returned = cur.execute(f"CREATE TABLE `{table}` (id INT)")
        results.append((returned, cur.rowcount, cur.description, cur.fetchall()))
        cur.execute(f"DROP TABLE `{table}`")
    assert results[0] == results[1]


# --------------------------------------------------------------------------
# Errors


def _dup_key(conn, table):
    cur = conn.cursor()
    cur.execute(f"INSERT INTO `{table}` (id) VALUES (1)")


SERVER_ERRORS = [
    ("1064-syntax", "SELEC 1"),
    ("1146-no-table", "SELECT * FROM no_such_table_xyz"),
    ("1054-no-column", "SELECT no_such_column"),
    ("1049-no-db", "USE no_such_database_xyz"),
    ("1065-empty", " "),
    ("1064-multi-statement", "SELECT 1; SELECT 2"),
]


def mro_names(exc):
    return [c.__name__ for c in type(exc).__mro__]


def assert_same_error(ours_exc, theirs_exc, compare_message=True):
    assert type(ours_exc).__name__ == type(theirs_exc).__name__, (ours_exc, theirs_exc)
    assert ours_exc.args[0] == theirs_exc.args[0], (ours_exc.args, theirs_exc.args)
    if compare_message:
        assert ours_exc.args == theirs_exc.args
        assert getattr(ours_exc, "sqlstate", None) == getattr(theirs_exc, "sqlstate", None)
    # Every DB-API base of theirs is a base of ours, in our err module.
    for name in mro_names(theirs_exc):
        if hasattr(pymysql.err, name) and name != "Warning":
            assert isinstance(ours_exc, getattr(ERR_OURS, name)), f"{type(ours_exc)} not a {name}"
    assert isinstance(ours_exc, ERR_OURS.MySQLError)


def both_raise(pair, action):
    raised = []
    for conn in pair:
        with pytest.raises(Exception) as excinfo:
            action(conn)
        raised.append(excinfo.value)
    return raised


@pytest.mark.parametrize("sql", [s for _, s in SERVER_ERRORS], ids=[n for n, _ in SERVER_ERRORS])
def test_server_errors(pair, sql):
    ours_exc, theirs_exc = both_raise(pair, lambda conn: conn.cursor().execute(sql))
    assert_same_error(ours_exc, theirs_exc)
    # The connection is still usable afterwards.
    (_, ours_rows), (_, theirs_rows) = run_both(pair, "SELECT 1")
    assert ours_rows == theirs_rows == ((1,),)


def test_duplicate_key_error(pair, fresh_table):
    errors = []
    for conn in pair:
        table = fresh_table("id INT PRIMARY KEY")
        _dup_key(conn, table)
        with pytest.raises(Exception) as excinfo:
            _dup_key(conn, table)
        errors.append((excinfo.value, table))
    (ours_exc, ours_table), (theirs_exc, theirs_table) = errors
    assert_same_error(ours_exc, theirs_exc, compare_message=False)  # the message names the table
    assert ours_exc.args[1] == theirs_exc.args[1].replace(theirs_table, ours_table)
    assert type(theirs_exc).__name__ == "IntegrityError" and theirs_exc.args[0] == 1062


# Every errno PyMySQL maps to a class, and a few server errnos it does not
# (< 1000 is InternalError, the rest OperationalError), raised by SIGNAL.
# (Client-range errnos, 2000-2999, are left out: a server never sends them.)
SIGNALLED_ERRNOS = sorted(set(pymysql.err.error_map) | {1, 999, 1000, 1205, 1317, 1927, 1969, 3024, 4031})


@pytest.mark.parametrize("errno", SIGNALLED_ERRNOS)
def test_errno_to_exception_class(pair, errno):
    sql = f"SIGNAL SQLSTATE '45000' SET MYSQL_ERRNO = {errno}, MESSAGE_TEXT = 'signalled {errno}'"
    ours_exc, theirs_exc = both_raise(pair, lambda conn: conn.cursor().execute(sql))
    assert theirs_exc.args == (errno, f"signalled {errno}")
    assert_same_error(ours_exc, theirs_exc)


def test_access_denied_on_connect(server):
    kw = dict(server, password="wrong-password-for-test")
    with pytest.raises(Exception) as theirs:
        connect_theirs(**kw)
    with pytest.raises(Exception) as ours:
        connect_ours(**kw)
    assert theirs.value.args[0] == 1045
    assert_same_error(ours.value, theirs.value)


def test_unknown_database_on_connect(server):
    kw = dict(server, database="no_such_database_xyz")
    with pytest.raises(Exception) as theirs:
        connect_theirs(**kw)
    with pytest.raises(Exception) as ours:
        connect_ours(**kw)
    # 1049 unknown database; 1044 access denied to it, for a user with rights
    # on its own database only (a server named in MYSQL_HOST).
    assert theirs.value.args[0] in (1049, 1044)
    assert_same_error(ours.value, theirs.value)


def test_unreachable_port_on_connect(server):
    # A bound but not listening socket: connections to it are refused, and
    # nothing else can take the port while we hold it.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", 0))
        port = blocker.getsockname()[1]
        kw = dict(server, host="127.0.0.1", port=port, connect_timeout=5)
        with pytest.raises(Exception) as theirs:
            connect_theirs(**kw)
        with pytest.raises(Exception) as ours:
            connect_ours(**kw)
    assert theirs.value.args[0] == 2003
    # The message carries the OS error text, which differs between clients.
    assert_same_error(ours.value, theirs.value, compare_message=False)


def test_killed_connection(server, admin):
    results = []
    for conn in (connect_ours(**server), connect_theirs(**server)):
        admin_query(admin, f"KILL {int(conn.thread_id())}")
        assert wait_server_connection_gone(admin, conn.thread_id())
        first = outcome(conn.cursor().execute, "SELECT 1")
        second = outcome(conn.cursor().execute, "SELECT 1")
        results.append((first, second))
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - closing a dead connection may complain
            pass
    (ours_first, ours_second), (theirs_first, theirs_second) = results
    assert theirs_first[:2] == ("raise", "OperationalError") and theirs_first[2][0] == 2013
    assert ours_first[:2] == theirs_first[:2]
    assert ours_first[2][0] == theirs_first[2][0]
    assert ours_second[:2] == theirs_second[:2]


def test_use_after_close(pair):
    # After close(): the same error classes (PyMySQL: InterfaceError for
    # execute/commit, Error("Already closed") for a second close).
    results = []
    for conn in pair:
        cur = conn.cursor()
        conn.close()
        results.append(
            {
                "execute": outcome(cur.execute, "SELECT 1")[:2],
                "commit": outcome(conn.commit)[:2],
                "close again": outcome(conn.close)[:2],
                "open": conn.open,
            }
        )
    ours, theirs = results
    assert theirs["close again"] == ("raise", "Error")
    assert theirs["open"] is False
    assert ours == theirs


@fixed_in_mysqlpool
def test_pymysql_except_clauses_catch_ours(server, fresh_table):
    # Inapplicable to 0.5.0, which raises PyMySQL's own exceptions.  Ours
    # raises pymysqlpool.err classes; with PyMySQL importable they must also
    # be instances of the matching pymysql.err classes, so existing
    # ``except pymysql.err.X`` clauses keep working.
    table = fresh_table("id INT PRIMARY KEY")
    conn = connect_ours(**server)
    try:
        _dup_key(conn, table)
        for cls in (
            pymysql.err.IntegrityError,
            pymysql.err.DatabaseError,
            pymysql.err.Error,
            pymysql.err.MySQLError,
            pymysql.IntegrityError,
        ):
            try:
                _dup_key(conn, table)
            except cls as e:
                assert isinstance(e, ERR_OURS.IntegrityError)
            else:
                pytest.fail("no error raised")
        try:
            conn.cursor().execute("SELEC 1")
        except pymysql.err.ProgrammingError as e:
            assert e.args[0] == 1064
        else:
            pytest.fail("no error raised")
        # And not the wrong ones.
        with pytest.raises(Exception) as excinfo:
            _dup_key(conn, table)
        assert not isinstance(excinfo.value, pymysql.err.ProgrammingError)
        assert not isinstance(excinfo.value, pymysql.err.OperationalError)
    finally:
        conn.close()


# --------------------------------------------------------------------------
# executemany


def _executemany_both(pair, fresh_table, columns, sql, args, before=None, max_stmt_length=None):
    records = []
    for conn in pair:
        table = fresh_table(columns)
        cur = conn.cursor()
        if max_stmt_length is not None:
            cur.max_stmt_length = max_stmt_length
        for statement in before or []:
            cur.execute(statement.format(t=table))
        returned = cur.executemany(sql.format(t=table), args)
        record = (returned, cur.rowcount, cur.lastrowid)
        cur.execute(f"SELECT * FROM `{table}` ORDER BY 1")
        conn.commit()
        records.append((record, cur.fetchall()))
    (ours_record, ours_rows), (theirs_record, theirs_rows) = records
    assert ours_record == theirs_record
    assert_same_rows(ours_rows, theirs_rows)
    return theirs_record, theirs_rows


def test_executemany_insert_1000_rows(pair, fresh_table):
    args = [(i, f"name {i} '😀'", Decimal(i) / 7, datetime.datetime(2024, 1, 1, 0, 0, i % 60)) for i in range(1000)]
    record, rows = _executemany_both(
        pair,
        fresh_table,
        "id INT AUTO_INCREMENT PRIMARY KEY, n INT, s VARCHAR(40), d DECIMAL(20,10), t DATETIME",
        "INSERT INTO `{t}` (n, s, d, t) VALUES (%s, %s, %s, %s)",
        args,
    )
    assert record[:2] == (1000, 1000)
    assert len(rows) == 1000


def test_executemany_insert_split_by_max_stmt_length(pair, fresh_table):
    # Small max_stmt_length: several INSERTs; lastrowid shows where they split.
    record, rows = _executemany_both(
        pair,
        fresh_table,
        "id INT AUTO_INCREMENT PRIMARY KEY, s VARCHAR(40)",
        "INSERT INTO `{t}` (s) VALUES (%s)",
        [(f"value-{i:04d}",) for i in range(300)],
        max_stmt_length=1000,
    )
    assert record[1] == 300
    assert record[2] > 1  # not one statement
    assert len(rows) == 300


def test_executemany_on_duplicate_key_update(pair, fresh_table):
    record, rows = _executemany_both(
        pair,
        fresh_table,
        "id INT PRIMARY KEY, v INT",
        "INSERT INTO `{t}` (id, v) VALUES (%s, %s) ON DUPLICATE KEY UPDATE v = VALUES(v) + 1000",
        [(i, i * 10) for i in range(5, 25)],
        before=["INSERT INTO `{t}` VALUES " + ", ".join(f"({i}, 0)" for i in range(1, 11))],
    )
    assert record[1] == 6 * 2 + 14  # 6 updated rows count 2, 14 inserted count 1
    assert len(rows) == 24


@pytest.mark.parametrize("mode", ["default", "NO_BACKSLASH_ESCAPES"])
def test_executemany_escapes_every_common_type_as_pymysql(pair, fresh_table, mode):
    """The per-type escaping of executemany's rows: quotes, backslashes, NUL,
    \\x1a, multibyte text across statement splits, None, bools, floats."""
    for conn in pair:
        _set_mode(conn, mode)
    nasty = ["it's", 'say "hi"', "back\\slash", "nul\x00byte", "ctrl-z\x1a", "new\nline", "é😀" * 7, ""]
    record, rows = _executemany_both(
        pair,
        fresh_table,
        "id INT PRIMARY KEY, s VARCHAR(40), f DOUBLE, b TINYINT, n INT",
        "INSERT INTO `{t}` (id, s, f, b, n) VALUES (%s, %s, %s, %s, %s)",
        [(i, nasty[i % len(nasty)], i / 3, i % 2 == 0, None if i % 3 else i) for i in range(200)],
        max_stmt_length=700,
    )
    assert record[1] == 200
    assert [row[1] for row in rows] == [nasty[i % len(nasty)] for i in range(200)]


def test_executemany_dict_args(pair, fresh_table):
    _executemany_both(
        pair,
        fresh_table,
        "a INT, b VARCHAR(10)",
        "INSERT INTO `{t}` (a, b) VALUES (%(a)s, %(b)s)",
        [{"a": i, "b": str(i)} for i in range(50)],
    )


def test_executemany_update_runs_each(pair, fresh_table):
    record, _ = _executemany_both(
        pair,
        fresh_table,
        "id INT PRIMARY KEY, v INT",
        "UPDATE `{t}` SET v = %s WHERE id = %s",
        [(5, 1), (6, 2), (7, 99)],
        before=["INSERT INTO `{t}` VALUES (1, 0), (2, 0), (3, 0)"],
    )
    assert record[1] == 2


def test_executemany_empty(pair, fresh_table):
    record, rows = _executemany_both(
        pair,
        fresh_table,
        "a INT",
        "INSERT INTO `{t}` (a) VALUES (%s)",
        [],
        before=["INSERT INTO `{t}` (a) VALUES (1), (2)"],
    )
    assert record == (None, 2, 0)  # nothing run: the previous statement's counts stay
    assert rows == ((1,), (2,))


# --------------------------------------------------------------------------
# callproc and nextset


def _drain(cur):
    """[(description, rows, rowcount)] for the current and every next result set."""
    sets = [(cur.description, cur.fetchall(), cur.rowcount)]
    while True:
        more = cur.nextset()
        if not more:
            sets.append(("nextset", more))
            return sets
        sets.append((cur.description, cur.fetchall(), cur.rowcount))


def test_callproc(pair, admin):
    proc = f"p_diff_{uuid.uuid4().hex[:10]}"
    admin_query(
        admin,
        f"CREATE PROCEDURE `{proc}`(IN a INT, INOUT b INT, OUT c VARCHAR(20)) "
        "BEGIN SET b = a + b; SET c = CONCAT('x', a); SELECT a, b, c; SELECT 'second' AS s; END",
    )
    try:
        results = []
        for conn in pair:
            cur = conn.cursor()
            returned = cur.callproc(proc, (3, 4, None))
            sets = _drain(cur)
            cur.execute(f"SELECT @_{proc}_0, @_{proc}_1, @_{proc}_2")
            results.append((returned, sets, cur.fetchall()))
        assert results[0] == results[1]
        returned, sets, out_params = results[1]
        assert returned == (3, 4, None)
        assert sets[0][1] == ((3, 7, "x3"),)
        assert out_params == ((3, 7, "x3"),)
    finally:
        admin_query(admin, f"DROP PROCEDURE `{proc}`")


def test_nextset_with_multi_statements(server):
    sql = "SELECT 1 AS a; SELECT 'x' AS b, 2 AS c UNION ALL SELECT 'y', 3; DO 0; SELECT NULL AS d"
    results = []
    for connect in (connect_ours, connect_theirs):
        conn = connect(client_flag=CLIENT.MULTI_STATEMENTS, **server)
        try:
            cur = conn.cursor()
            returned = cur.execute(sql)
            results.append((returned, _drain(cur)))
            cur.execute("SELECT 'after'")
            results[-1] += (cur.fetchall(),)
        finally:
            conn.close()
    assert results[0] == results[1]
    assert len(results[1][1]) == 5  # four result sets, then nextset() -> None


# --------------------------------------------------------------------------
# Unbuffered cursors, fetchmany, scroll, rownumber, arraysize

SERIES = (
    "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {n}) "
    "SELECT n, CONCAT('row ', n) AS label, n * 1.5 AS x FROM s"
)


@pytest.mark.parametrize("kind", ["SSCursor", "SSDictCursor"])
@pytest.mark.parametrize("class_source", ["pymysqlpool", "pymysql"])
def test_unbuffered_iteration(pair, kind, class_source):
    ours, theirs = pair
    ours_cls = ours_cursor_class(kind) if class_source == "pymysqlpool" else getattr(pymysql.cursors, kind)
    records = []
    for conn, cls in ((ours, ours_cls), (theirs, getattr(pymysql.cursors, kind))):
        cur = conn.cursor(cls)
        returned = cur.execute(SERIES.format(n=500))
        record = [("execute", returned, cur.rowcount, cur.rownumber, cur.description)]
        record.append(("fetchone", cur.fetchone(), cur.rownumber))
        record.append(("fetchmany", list(cur.fetchmany(5)), cur.rownumber))
        record.append(("iterate", list(cur), cur.rownumber, cur.rowcount))
        record.append(("fetchone-at-end", cur.fetchone(), cur.fetchmany(3), cur.fetchall()))
        # Stop half-way through a second result: the connection stays usable.
        cur.execute(SERIES.format(n=300))
        record.append(("partial", cur.fetchmany(10)))
        cur.close()
        check = conn.cursor()
        check.execute("SELECT 'still usable'")
        record.append(("after-close", check.fetchall()))
        records.append(record)
    ours_record, theirs_record = records
    assert len(ours_record) == len(theirs_record)
    for o, t in zip(ours_record, theirs_record):
        assert o[0] == t[0]
        assert o == t, t[0]
    assert len(theirs_record[3][1]) == 494


@pytest.mark.parametrize("kind", ["Cursor", "SSCursor"])
def test_fetchmany_scroll_rownumber_arraysize(pair, kind):
    script = [
        ("arraysize",),
        ("fetchone",),  # before execute: an error
        ("execute", SERIES.format(n=12)),
        ("fetchone",),
        ("rownumber",),
        ("fetchmany", 3),
        ("fetchmany",),
        ("rownumber",),
        ("scroll", 2),
        ("fetchone",),
        ("scroll", -4),
        ("fetchone",),
        ("scroll", 0, "absolute"),
        ("scroll", 9, "absolute"),
        ("fetchone",),
        ("scroll", 1),
        ("scroll", 100),
        ("scroll", 100, "absolute"),
        ("scroll", -1, "absolute"),
        ("scroll", 0, "sideways"),
        ("rownumber",),
        ("set_arraysize", 4),
        ("fetchmany",),
        ("fetchall",),
        ("rownumber",),
        ("fetchmany",),
        ("execute", SERIES.format(n=3)),
        ("fetchmany", 10),
        ("fetchall",),
    ]
    records = []
    for conn, cls in zip(pair, (ours_cursor_class(kind), getattr(pymysql.cursors, kind))):
        cur = conn.cursor(cls)
        record = []
        for step in script:
            op, *args = step
            if op in ("rownumber", "arraysize"):
                result = ("ok", getattr(cur, op))
            elif op == "set_arraysize":
                cur.arraysize = args[0]
                result = ("ok", cur.arraysize)
            else:
                result = outcome(getattr(cur, op), *args)
                if result[0] == "ok" and isinstance(result[1], (list, tuple)) and op != "execute":
                    result = ("ok", type(result[1]).__name__, list(result[1]))
            record.append((step, result))
        cur.close()
        records.append(record)
    for o, t in zip(*records):
        assert o == t, t[0]


def test_warning_count_and_show_warnings(pair):
    ours, theirs = pair
    oc, tc = ours.cursor(), theirs.cursor()
    assert hasattr(tc, "warning_count")  # PyMySQL >= 1.1
    for cur in (oc, tc):
        cur.execute("SELECT 1/0, CAST('12abc' AS INT)")
    assert (oc.fetchall(), oc.warning_count) == (tc.fetchall(), tc.warning_count)
    assert tc.warning_count == 2
    assert ours.show_warnings() == theirs.show_warnings()
    for cur in (oc, tc):
        cur.execute("SELECT 1")
    assert oc.warning_count == tc.warning_count == 0


# --------------------------------------------------------------------------
# Connection API and connect keywords


def test_connection_api(pair, server):
    records = []
    for conn in pair:
        cur = conn.cursor()
        cur.execute("SELECT CONNECTION_ID(), DATABASE()")
        cid, db = cur.fetchone()
        record = {
            "thread_id": conn.thread_id() == cid,
            "db": db,
            "server_info": conn.get_server_info(),
            "proto_info": conn.get_proto_info(),
            "charset": conn.character_set_name(),
            "autocommit": conn.get_autocommit(),
            "open": conn.open,
            "ping": outcome(conn.ping),
        }
        conn.select_db("information_schema")
        cur.execute("SELECT DATABASE()")
        record["select_db"] = cur.fetchone()
        conn.select_db(server["database"])
        conn.autocommit(True)
        record["autocommit_on"] = (conn.get_autocommit(), outcome(conn.begin), conn.get_autocommit())
        conn.rollback()
        records.append(record)
    assert records[0] == records[1]
    assert records[1]["thread_id"] is True


@pytest.mark.parametrize(
    "kwargs, sql",
    [
        ({"use_unicode": False}, "SELECT 'abc', CAST('é' AS CHAR), x'00'"),
        ({"charset": "latin1"}, "SELECT 'café', @@character_set_client, CHAR_LENGTH('é')"),
        ({"charset": "utf8mb4"}, "SELECT '😀', @@character_set_results"),
        ({"init_command": "SET @init = 42"}, "SELECT @init"),
        ({"autocommit": True}, "SELECT @@autocommit"),
        ({"autocommit": False}, "SELECT @@autocommit"),
        ({"sql_mode": ""}, "SELECT @@SESSION.sql_mode"),
        ({"sql_mode": "PIPES_AS_CONCAT"}, "SELECT 'a' || 'b', @@SESSION.sql_mode"),
        ({"passwd": "<server password>", "db": "<server database>"}, "SELECT DATABASE()"),
        ({"read_timeout": 5, "write_timeout": 5, "connect_timeout": 5}, "SELECT 1"),
    ],
    ids=[
        "use_unicode",
        "charset-latin1",
        "charset-utf8mb4",
        "init_command",
        "autocommit-on",
        "autocommit-off",
        "sql_mode-empty",
        "sql_mode-pipes_as_concat",
        "passwd-db",
        "timeouts",
    ],
)
def test_connect_keywords(server, kwargs, sql):
    kw = dict(server)
    if "passwd" in kwargs:  # the old spellings, in place of password/database
        del kw["password"], kw["database"]
        kwargs = {"passwd": server["password"], "db": server["database"]}
    kw.update(kwargs)
    results = []
    for connect in (connect_ours, connect_theirs):
        conn = connect(**kw)
        try:
            cur = conn.cursor()
            cur.execute(sql)
            results.append((cur.description, cur.fetchall(), conn.get_autocommit()))
        finally:
            conn.close()
    assert results[0][0] == results[1][0]
    assert_same_rows(results[0][1], results[1][1])
    assert results[0][2] == results[1][2]


def test_transactions(pair, fresh_table, admin):
    for conn in pair:
        table = fresh_table("id INT PRIMARY KEY")
        cur = conn.cursor()
        assert conn.get_autocommit() is False
        cur.execute(f"INSERT INTO `{table}` VALUES (1)")
        conn.rollback()
        assert admin_query(admin, f"SELECT COUNT(*) FROM `{table}`") == ((0,),)
        cur.execute(f"INSERT INTO `{table}` VALUES (2)")
        conn.commit()
        assert admin_query(admin, f"SELECT id FROM `{table}`") == ((2,),)
        with conn.cursor() as c2:
            c2.execute(f"INSERT INTO `{table}` VALUES (3)")
        conn.rollback()
        assert admin_query(admin, f"SELECT id FROM `{table}`") == ((2,),)
