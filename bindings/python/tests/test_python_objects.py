"""The object builder (pool_query_objects, the default on CPython): the
library builds a statement's rows as Python objects through the CPython API
the binding handed it. Its values must be the pickle path's, its reference
counts exact (nothing leaks, nothing is freed early) and its failures the
same exceptions. The differential suites run on it too (test-all.sh)."""

import contextlib
import ctypes
import datetime
import decimal
import gc
import os
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


# About 2.5 MB of rows: a dozen batches of about 256 KiB.
MANY_ROWS = (
    "SELECT seq, REPEAT('ab', seq % 100), seq * 1.5, CAST(seq / 7 AS DECIMAL(12,4)), "
    "FROM_UNIXTIME(1600000000 + seq), IF(seq % 5 = 0, NULL, X'00ff'), 'héllo' FROM seq_1_to_20000"
)


@contextlib.contextmanager
def one_cpu():
    """This thread on one CPU: the library then reads no batch ahead."""
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, cpus)


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


def test_batches_read_ahead_or_in_turn_are_the_pickle_paths(both_paths):
    pickled, built = both_paths(MANY_ROWS)  # the next batch read ahead, with two CPUs
    assert len(built[0]) == 20000 and built == pickled
    with one_cpu():
        pickled_in_turn, built_in_turn = both_paths(MANY_ROWS)
    assert built_in_turn == pickled_in_turn == pickled


def test_prepared_statements_are_the_pickle_paths(server_kw, monkeypatch):
    """pool_stmt_query_objects: a prepared statement's outcome (several
    batches here) and its failures, the same both ways."""
    pool = pymysqlpool.ConnectionPool(size=1, **server_kw)
    conn = pool.get_connection()
    sql = ("SELECT %s, %s, seq, CAST(seq / 7 AS DECIMAL(12,4)), FROM_UNIXTIME(1600000000 + seq), "
           "IF(seq %% 5 = 0, NULL, X'00ff') FROM seq_1_to_20000 WHERE seq > %s")
    outcomes = []
    for objects in (False, True):
        monkeypatch.setattr(connections, "_ROWS_AS_OBJECTS", objects)
        with conn.cursor(prepared=True) as cur:
            cur.execute(sql, (1.5, "héllo", 0))
            outcomes.append((cur.fetchall(), cur.description, cur.rowcount))
            with pytest.raises(pymysqlpool.ProgrammingError) as raised:
                cur.execute("SELECT * FROM no_such_table_here WHERE id = %s", (1,))
            assert raised.value.args[0] == 1146
            cur.execute("SELECT %s", (7,))
            assert cur.fetchone() == (7,)
    assert len(outcomes[1][0]) == 20000 and outcomes[1] == outcomes[0]
    conn.close()
    pool.close()


@pytest.fixture
def borrowed(server_kw):
    pool = pymysqlpool.ConnectionPool(size=1, **server_kw)
    conn = pool.get_connection()
    yield pool, conn
    if not conn._returned:
        conn.close()
    pool.close()


def test_batches_left_unread_are_dropped(borrowed):
    pool, conn = borrowed
    handle = conn._handle
    fields, rows, tail = _lib.pool_query_objects(handle, MANY_ROWS.encode(), len(MANY_ROWS.encode()), 0)
    assert tail is None and 0 < len(rows) < 20000
    rows, tail = _lib.pool_query_objects_more(handle, 0)
    assert tail is None and rows[0][0] > 1
    with conn.cursor() as cur:  # the next statement reads the rest and drops it
        cur.execute("SELECT 2")
        assert cur.fetchone() == (2,)
    assert _lib.pool_query_objects_more(handle, 0) is None
    assert _lib.pool_last_error_code() == _lib.POOL_E_MISUSE
    # Given back with batches unread: the next borrower finds the connection clean.
    _, _, tail = _lib.pool_query_objects(handle, MANY_ROWS.encode(), len(MANY_ROWS.encode()), 0)
    assert tail is None
    conn.close()
    again = pool.get_connection()
    with again.cursor() as cur:
        cur.execute("SELECT 3")
        assert cur.fetchone() == (3,)
    again.close()


def test_batches_are_read_the_way_they_started(borrowed):
    _, conn = borrowed
    handle, sql = conn._handle, MANY_ROWS.encode()
    _lib.pool_query_objects(handle, sql, len(sql), 0)
    data, length = ctypes.c_void_p(), ctypes.c_size_t()
    assert _lib.pool_query_pickle_more(handle, 0, ctypes.byref(data), ctypes.byref(length)) == _lib.POOL_E_MISUSE
    assert "started as Python objects" in _lib.last_error()[2]
    assert _lib.pool_query_objects_more(handle, _lib.POOL_PICKLE_TEXT_AS_BYTES) is None
    assert _lib.pool_last_error_code() == _lib.POOL_E_BAD_ARGUMENT
    assert _lib.pool_query_pickle(handle, sql, len(sql), 0, ctypes.byref(data), ctypes.byref(length)) == _lib.POOL_OK
    assert _lib.pool_query_objects_more(handle, 0) is None
    assert _lib.pool_last_error_code() == _lib.POOL_E_MISUSE
    assert "started as a pickle" in _lib.last_error()[2]


def test_a_stored_results_outcome(borrowed):
    """pool_result_outcome_objects (pymysqlpool.aio's way): the whole
    outcome of a stored result, which it frees, whatever it returns."""
    _, conn = borrowed
    handle, result = conn._handle, ctypes.c_void_p()
    sql = MANY_ROWS.encode()
    assert _lib.pool_query(handle, sql, len(sql)) == _lib.POOL_OK
    assert _lib.pool_store_result(handle, ctypes.byref(result)) == _lib.POOL_OK
    fields, rows, tail = _lib.pool_result_outcome_objects(result.value, 0)
    assert len(rows) == 20000 and tail[:2] == (20000, None)
    with conn.cursor() as cur:
        cur.execute(MANY_ROWS)
        assert rows == list(cur.fetchall())
    assert _lib.pool_result_outcome_objects(result.value, 0) is None  # freed by the call before
    assert _lib.pool_last_error_code() == _lib.POOL_E_WRONG_HANDLE
    assert _lib.pool_query(handle, sql, len(sql)) == _lib.POOL_OK
    assert _lib.pool_use_result(handle, ctypes.byref(result)) == _lib.POOL_OK
    assert _lib.pool_result_outcome_objects(result.value, 0) is None
    assert _lib.pool_last_error_code() == _lib.POOL_E_MISUSE
    assert "stored result" in _lib.last_error()[2]
    with conn.cursor() as cur:  # the streaming result was freed, its rows dropped
        cur.execute("SELECT 4")
        assert cur.fetchone() == (4,)


def test_a_link_killed_between_batches(borrowed, server_kw):
    """The server goes away mid-outcome: the next batch fails with the
    link-lost error, and the pool opens a fresh connection next time."""
    pool, conn = borrowed
    with conn.cursor() as cur:
        cur.execute("SELECT CONNECTION_ID()")
        (thread_id,) = cur.fetchone()
    sql = b"SELECT seq, REPEAT('x', 200) FROM seq_1_to_200000"  # 40 MB: more than the socket buffers hold
    handle = conn._handle
    _, rows, tail = _lib.pool_query_objects(handle, sql, len(sql), 0)
    assert tail is None
    killer = pymysqlpool.connect(**server_kw)
    killer.cursor().execute(f"KILL {thread_id}")
    killer.close()
    while (more := _lib.pool_query_objects_more(handle, 0)) is not None:
        assert more[1] is None, "all 40 MB arrived after the KILL"
    assert _lib.pool_last_error_code() == _lib.POOL_E_SERVER
    assert _lib.last_error()[1] in (2013, 2006, 1927)
    conn.close()
    again = pool.get_connection()
    with again.cursor() as cur:
        cur.execute("SELECT CONNECTION_ID()")
        assert cur.fetchone()[0] != thread_id
    again.close()


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


def test_cpython_out_of_memory_at_every_step(borrowed):
    """CPython refusing one allocation at each step of building an outcome
    in turn (_testcapi.set_nomemory): the call gives the outcome or None
    with POOL_E_NO_MEMORY (or ctypes raises MemoryError before or after
    it), never a crash; nothing leaks, and the connection keeps working,
    also when the failure leaves batches unread."""
    import _testcapi

    _, conn = borrowed
    handle = conn._handle
    one_batch = ("SELECT seq, CAST(seq / 3 AS DECIMAL(8,2)), FROM_UNIXTIME(1600000000 + seq), CAST('2024-01-01' AS DATE), "
                 "SEC_TO_TIME(seq), 'héllo', X'00ff', seq * 1.5, NULL, 18446744073709551615 FROM seq_1_to_50").encode()
    batches = b"SELECT seq, REPEAT('x', 100) FROM seq_1_to_5000"
    watched = (None, decimal.Decimal, datetime.datetime, datetime.date, datetime.timedelta)

    def every_step():
        seen = {"built": 0, "refused": 0, "ctypes": 0}
        for sql, starts in ((one_batch, range(1500)), (batches, range(0, 8000, 37))):
            for start in starts:
                _testcapi.set_nomemory(start, start + 1)
                try:
                    outcome = _lib.pool_query_objects(handle, sql, len(sql), 0)
                    kind = "built" if outcome is not None else "refused"
                except (MemoryError, ctypes.ArgumentError):
                    kind = "ctypes"
                finally:
                    _testcapi.remove_mem_hooks()
                if kind == "refused" and _lib.pool_last_error_code() != _lib.POOL_E_NO_MEMORY:
                    seen["other failure"] = _lib.last_error()
                seen[kind] += 1
                outcome = None
        return seen

    every_step()  # warm: what first statements cache
    gc.collect()
    before = [sys.getrefcount(obj) for obj in watched]
    seen = every_step()
    gc.collect()
    assert [sys.getrefcount(obj) for obj in watched] == before
    assert "other failure" not in seen and seen["built"] > 0 and seen["refused"] > 500, seen
    with conn.cursor() as cur:
        cur.execute("SELECT 5")
        assert cur.fetchone() == (5,)


def test_no_growth_over_a_million_statements(borrowed):
    """1,000,000 statements through the object builder (a row of most
    kinds of value; every 5,000th a server error, and an outcome of several
    batches abandoned after its first): RSS stays flat."""
    _, conn = borrowed
    handle = conn._handle
    statement = ("SELECT 1, -5, 1.5e3, CAST(1.25 AS DECIMAL(5,2)), CAST('2024-02-29 23:59:58' AS DATETIME), "
                 "CAST('2024-02-29' AS DATE), TIMEDIFF('10:00:00', '11:30:00.5'), 'héllo', X'00ff', NULL").encode()
    failing, batches = b"SELECT * FROM no_such_table_here", b"SELECT seq, REPEAT('x', 100) FROM seq_1_to_5000"
    query = _lib.pool_query_objects

    def rss_kib():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

    def burst(rounds):
        for _ in range(rounds):
            for _ in range(4998):
                query(handle, statement, len(statement), 0)
            assert query(handle, failing, len(failing), 0) is None
            assert query(handle, batches, len(batches), 0)[2] is None

    burst(20)
    gc.collect()
    before = rss_kib()
    burst(180)
    gc.collect()
    grown = rss_kib() - before
    assert grown < 2048, f"RSS grew {grown} KiB over 900,000 statements"


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


def test_objects_unless_the_pickle_is_asked_for(monkeypatch):
    """The object builder by default on CPython (it won the A/B);
    PYMYSQLPOOL_ROWS=pickle chooses the pickle."""
    monkeypatch.delenv("PYMYSQLPOOL_ROWS", raising=False)
    assert connections._rows_as_objects() is True
    monkeypatch.setenv("PYMYSQLPOOL_ROWS", "objects")
    assert connections._rows_as_objects() is True
    monkeypatch.setenv("PYMYSQLPOOL_ROWS", "pickle")
    assert connections._rows_as_objects() is False
