"""The prepared cursors: server-side prepared statements through the binary
protocol and the library's per-connection statement cache. Their rows and
descriptions are checked against PyMySQL's for every column type in
test_differential.py; here: parameters of every type reach the server as
the values they are, PyMySQL's placeholders, the cache across returns to
the pool, the stats, and the errors."""

import datetime
import math
from decimal import Decimal

import pytest

import pymysqlpool
from pymysqlpool import err

pytestmark = pytest.mark.fixed_in_mysqlpool  # pymysql-pool 0.5.0 has no prepared cursor

# (value, column type it is stored in, what reading it back gives)
ROUND_TRIPS = [
    (None, "INT", None),
    (True, "INT", 1),
    (-(2**63), "BIGINT", -(2**63)),
    (2**64 - 1, "BIGINT UNSIGNED", 2**64 - 1),
    (10**40, "DECIMAL(65,0)", Decimal(10**40)),
    (0.1 + 0.2, "DOUBLE", 0.1 + 0.2),
    (5e-324, "DOUBLE", 5e-324),
    (Decimal("-12.3400"), "DECIMAL(10,4)", Decimal("-12.3400")),
    (Decimal("1E-30"), "DECIMAL(65,30)", Decimal("1E-30")),
    ("it's \"quoted\" \\ \x00 \x1a 😀", "VARCHAR(50)", "it's \"quoted\" \\ \x00 \x1a 😀"),
    ("", "VARCHAR(5)", ""),
    ("100% %s", "VARCHAR(10)", "100% %s"),
    (b"\x00\xff'\\\"", "VARBINARY(10)", b"\x00\xff'\\\""),
    (bytearray(b"ab\x00"), "BLOB", b"ab\x00"),
    (datetime.date(2024, 2, 29), "DATE", datetime.date(2024, 2, 29)),
    (datetime.datetime(2024, 1, 2, 3, 4, 5, 678901), "DATETIME(6)", datetime.datetime(2024, 1, 2, 3, 4, 5, 678901)),
    (datetime.time(13, 45, 30, 5), "TIME(6)", datetime.timedelta(hours=13, minutes=45, seconds=30, microseconds=5)),
    (datetime.timedelta(days=1, seconds=3, microseconds=5), "TIME(6)",
     datetime.timedelta(days=1, seconds=3, microseconds=5)),
    # PyMySQL writes a negative timedelta wrongly (-1.5 s as '-01:59:58.5'); bound, it is exact.
    (datetime.timedelta(seconds=-1.5), "TIME(6)", datetime.timedelta(seconds=-1.5)),
    (-datetime.timedelta(hours=838, minutes=59, seconds=59), "TIME", -datetime.timedelta(hours=838, minutes=59,
                                                                                          seconds=59)),
]


@pytest.fixture
def conn(server_kw):
    connection = pymysqlpool.connect(**server_kw)
    yield connection
    connection.close()


@pytest.mark.parametrize("mode", ["DEFAULT", "'NO_BACKSLASH_ESCAPES'"])
@pytest.mark.parametrize("value, column, expected", ROUND_TRIPS, ids=[repr(v)[:30] for v, _, _ in ROUND_TRIPS])
def test_parameters_reach_the_server_as_they_are(conn, value, column, expected, mode):
    with conn.cursor() as plain, conn.cursor(prepared=True) as prepared:
        plain.execute(f"SET SESSION sql_mode = {mode}")
        plain.execute(f"CREATE TEMPORARY TABLE bound (v {column}) DEFAULT CHARSET=utf8mb4")
        assert prepared.execute("INSERT INTO bound VALUES (%s)", (value,)) == 1
        plain.execute("SELECT v FROM bound")
        (read_back,) = plain.fetchone()
        plain.execute("DROP TEMPORARY TABLE bound")
    assert type(read_back) is type(expected)
    assert read_back == expected


def test_placeholders_are_pymysqls(conn):
    with conn.cursor(pymysqlpool.DictCursor, prepared=True) as cursor:
        assert isinstance(cursor, pymysqlpool.PreparedDictCursor)
        cursor.execute("SELECT %(a)s AS a, %(b)s AS b, %(a)s AS again, '%%s' AS text, '?' AS mark", {"a": 1, "b": "x"})
        assert cursor.fetchall() == [{"a": 1, "b": "x", "again": 1, "text": "%s", "mark": "?"}]
        assert cursor.mogrify("SELECT %s, %s", (1, 2)) == "SELECT ?, ?"
        # No args: the server's own ? placeholders, none here.
        cursor.execute("SELECT 7 AS seven")
        assert cursor.fetchone() == {"seven": 7}
        with pytest.raises(err.ProgrammingError):
            cursor.execute("SELECT %s, %s", (1,))  # PyMySQL's message for a wrong count
        with pytest.raises(err.ProgrammingError, match="cannot be one parameter"):
            cursor.execute("SELECT 1 IN %s", ((1, 2),))
        with pytest.raises(err.ProgrammingError, match="nan can not be used"):
            cursor.execute("SELECT %s", (math.nan,))
        with pytest.raises(err.ProgrammingError) as raised:
            cursor.execute("SELEC %s", (1,))
        assert raised.value.args[0] == 1064
        cursor.execute("SELECT %s AS ok", ("fine",))
        assert cursor.fetchone() == {"ok": "fine"}


def test_outcomes_match_the_plain_cursor(conn):
    with conn.cursor() as plain, conn.cursor(prepared=True) as prepared:
        plain.execute("CREATE TEMPORARY TABLE outcome (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10))")
        assert prepared.executemany("INSERT INTO outcome (v) VALUES (%s)", [("a",), ("b",), ("c",)]) == 3
        assert prepared.execute("INSERT INTO outcome (v) VALUES (%s)", ("d",)) == 1
        assert prepared.lastrowid == 4
        assert prepared.execute("UPDATE outcome SET v = %s WHERE id > %s", ("z", 2)) == 2
        for cursor in (plain, prepared):
            assert cursor.execute("SELECT id, v FROM outcome WHERE id >= %s ORDER BY id", (2,)) == 3
        assert prepared.fetchall() == plain.fetchall() == ((2, "b"), (3, "z"), (4, "z"))
        assert prepared.description == plain.description
        assert prepared.rowcount == plain.rowcount == 3
        assert prepared.lastrowid is plain.lastrowid is None
    with conn.cursor(pymysqlpool.SSCursor, prepared=True) as streaming:
        streaming.execute("SELECT seq, REPEAT('x', seq) FROM seq_1_to_3000 WHERE seq > %s", (0,))
        rows = streaming.fetchall()
        assert len(rows) == 3000 and rows[-1] == (3000, "x" * 3000)
    with conn.cursor(prepared=True) as prepared:
        prepared.execute("SELECT seq FROM seq_1_to_100000 WHERE seq > %s", (0,))  # several batches
        assert prepared.rowcount == 100000 and prepared.fetchall()[-1] == (100000,)


def test_cache_outlives_the_return_to_the_pool(server_kw):
    pool = pymysqlpool.ConnectionPool(size=1, maxsize=1, stmt_cache_size=4, **server_kw)
    try:
        for _ in range(3):
            connection = pool.get_connection()
            with connection.cursor(prepared=True) as cursor:
                cursor.execute("SELECT %s + 1", (1,))
                assert cursor.fetchone() == (2,)
                cursor.execute("SELECT %s + 1", (2,))  # from the cache again
                assert cursor.fetchone() == (3,)
            connection.close()
        stats = pool.stats()
        assert stats["stmt_prepares"] == 1
        assert stats["stmt_cache_hits"] == 5
        assert stats["created"] == 1
        connection = pool.get_connection()
        with connection.cursor() as plain:
            plain.execute("SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS "
                          "WHERE VARIABLE_NAME = 'COM_STMT_PREPARE'")
            assert plain.fetchone() == ("1",)
        with connection.cursor(prepared=True) as cursor:
            # More distinct statements than the cache holds: the least
            # recently used go, closed on the server.
            for n in range(6):
                cursor.execute(f"SELECT %s + {n}", (0,))
        connection.close()
        assert pool.stats()["stmt_prepares"] == 6  # "+ 1" was a hit
        assert pool.stats()["stmt_evictions"] == 2
        connection = pool.get_connection()
        with connection.cursor(prepared=True) as cursor:
            for n in range(6, 8):
                cursor.execute(f"SELECT %s + {n}", (0,))
        with connection.cursor() as plain:
            plain.execute("SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS "
                          "WHERE VARIABLE_NAME IN ('COM_STMT_PREPARE', 'COM_STMT_CLOSE') ORDER BY VARIABLE_NAME")
            closed, prepared = (int(value) for (value,) in plain.fetchall())
        connection.close()
        assert pool.stats()["stmt_evictions"] == 4
        assert prepared - closed == 4  # the server holds exactly the cached statements
        assert "mysqlpool_stmt_cache_hits_total" in pool.stats_text()
    finally:
        pool.close()


def test_use_after_return_raises(server_kw):
    pool = pymysqlpool.ConnectionPool(size=1, maxsize=1, **server_kw)
    try:
        connection = pool.get_connection()
        cursor = connection.cursor(prepared=True)
        cursor.execute("SELECT %s", (1,))
        connection.close()
        with pytest.raises(err.ReturnConnectionToPoolError):
            cursor.execute("SELECT %s", (1,))
        again = pool.get_connection()
        with again.cursor(prepared=True) as fresh:
            fresh.execute("SELECT %s", (5,))
            assert fresh.fetchone() == (5,)
        again.close()
    finally:
        pool.close()


def test_buffered_and_streaming_statements_share_the_cache(server_kw):
    """A statement the buffered path used in one lease, taken by the
    streaming path (a statement handle) in the next, is not given back
    under it by the buffered path's next statement."""
    pool = pymysqlpool.ConnectionPool(size=1, maxsize=1, **server_kw)
    try:
        connection = pool.get_connection()
        with connection.cursor(prepared=True) as cursor:
            cursor.execute("SELECT %s", (1,))
        connection.close()
        connection = pool.get_connection()
        streaming = connection.cursor(pymysqlpool.SSCursor, prepared=True)
        streaming.execute("SELECT %s", (2,))
        assert list(streaming.fetchall()) == [(2,)]
        with connection.cursor(prepared=True) as cursor:
            cursor.execute("SELECT %s + 0", (3,))
            assert cursor.fetchone() == (3,)
        streaming.execute("SELECT %s", (4,))
        assert list(streaming.fetchall()) == [(4,)]
        streaming.close()
        connection.close()
        assert pool.stats()["stmt_prepares"] == 2
    finally:
        pool.close()
