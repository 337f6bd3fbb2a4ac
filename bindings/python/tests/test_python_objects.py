"""The object builder (pool_query_objects, PYMYSQLPOOL_ROWS=objects): the
library builds a statement's rows as Python objects through the CPython API
the binding handed it. Its values must be the pickle path's, its reference
counts exact (nothing leaks, nothing is freed early) and its failures the
same exceptions. The differential suites run on it too (test-all.sh)."""

import datetime
import decimal
import gc
import sys

import pytest

import pymysqlpool
from pymysqlpool import _lib, connections

pytestmark = [
    pytest.mark.fixed_in_mysqlpool,  # pymysql-pool 0.5.0 has no such path
    pytest.mark.skipif(not _lib.PYTHON_OBJECTS, reason="the object builder needs CPython"),
]

EVERY_KIND = (
    "SELECT 1, -5, 18446744073709551615, -9223372036854775808, 1.5e3, CAST(1.25 AS DECIMAL(5,2)), "
    "CAST('2024-02-29 23:59:58.123456' AS DATETIME(6)), CAST('2024-02-29' AS DATE), "
    "CAST('-838:59:59.5' AS TIME(1)), TIMEDIFF('10:00:00', '11:30:00.5'), 'héllo ☃', X'00ff', NULL, "
    "CAST('0000-00-00' AS DATETIME), YEAR('2024-01-01'), CAST(3.5 AS FLOAT), JSON_OBJECT('a', 1), "
    "_binary'\\xff\\xfe', b'101'"
)


@pytest.fixture
def both_paths(server_kw, monkeypatch):
    """run(sql) -> (rows, description) through the pickle, then the objects."""
    pool = pymysqlpool.ConnectionPool(size=1, **server_kw)
    conn = pool.get_connection()

    def run(sql):
        outcomes = []
        for objects in (False, True):
            monkeypatch.setattr(connections, "_ROWS_AS_OBJECTS", objects)
            with conn.cursor() as cur:
                cur.execute(sql)
                outcomes.append((cur.fetchall(), cur.description, cur.rowcount, cur.lastrowid))
        return outcomes

    yield run
    conn.close()
    pool.close()


def test_values_are_the_pickle_paths(both_paths):
    pickled, built = both_paths(EVERY_KIND)
    assert built == pickled
    row = built[0][0]
    assert type(row[5]) is decimal.Decimal and type(row[6]) is datetime.datetime
    assert type(row[8]) is datetime.timedelta and row[13] == "0000-00-00 00:00:00"
    for sql in ("SELECT seq, seq * 1.5, CONCAT('r', seq) FROM seq_1_to_3000", "DO 1",
                "SELECT 1 FROM DUAL WHERE 0"):
        pickled, built = both_paths(sql)
        assert built == pickled, sql


def test_reference_counts_are_exact(both_paths):
    """Thousands of statements: the classes the library calls, None and the
    interpreter's object count end where they started."""
    for _ in range(20):  # the caches a first statement fills (descriptions, ...) fill here
        both_paths(EVERY_KIND)
    watched = (None, decimal.Decimal, datetime.datetime, datetime.date, datetime.timedelta)
    gc.collect()
    before = [sys.getrefcount(obj) for obj in watched]
    blocks_before = sys.getallocatedblocks()
    for _ in range(300):
        both_paths(EVERY_KIND)
    gc.collect()
    after = [sys.getrefcount(obj) for obj in watched]
    assert after == before
    assert sys.getallocatedblocks() - blocks_before < 2000


def test_no_growth_over_many_statements(server_kw, monkeypatch):
    """50,000 statements through the object builder: RSS stays flat."""
    monkeypatch.setattr(connections, "_ROWS_AS_OBJECTS", True)
    pool = pymysqlpool.ConnectionPool(size=1, **server_kw)
    conn = pool.get_connection()
    cur = conn.cursor()

    def rss_kib():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

    def burst(n):
        for i in range(n):
            cur.execute("SELECT %s, 'x', NOW(), 1.5, NULL", (i,))
            cur.fetchall()

    burst(10_000)
    gc.collect()
    before = rss_kib()
    burst(40_000)
    gc.collect()
    grown = rss_kib() - before
    conn.close()
    pool.close()
    assert grown < 2048, f"RSS grew {grown} KiB over 40,000 statements"


def test_failures_are_the_same_exceptions(server_kw, monkeypatch):
    monkeypatch.setattr(connections, "_ROWS_AS_OBJECTS", True)
    pool = pymysqlpool.ConnectionPool(size=1, **server_kw)
    conn = pool.get_connection()
    with pytest.raises(pymysqlpool.ProgrammingError) as raised:
        conn.cursor().execute("SELECT * FROM no_such_table_here")
    assert raised.value.args[0] == 1146
    with conn.cursor() as cur:  # still usable
        cur.execute("SELECT 2")
        assert cur.fetchone() == (2,)
    handle = conn._handle
    conn.close()
    assert _lib.pool_query_objects(handle, b"SELECT 1", 8, 0) is None  # a stale handle: None, not NULL
    assert _lib.pool_last_error_code() == _lib.POOL_E_WRONG_HANDLE
    pool.close()


def test_the_pickle_unless_asked(monkeypatch):
    """The pickle by default (it won the A/B); PYMYSQLPOOL_ROWS=objects
    chooses the object builder."""
    monkeypatch.delenv("PYMYSQLPOOL_ROWS", raising=False)
    assert connections._rows_as_objects() is False
    monkeypatch.setenv("PYMYSQLPOOL_ROWS", "objects")
    assert connections._rows_as_objects() is True
    monkeypatch.setenv("PYMYSQLPOOL_ROWS", "pickle")
    assert connections._rows_as_objects() is False
