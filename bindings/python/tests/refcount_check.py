"""Reference counts of the object builder, counted by CPython itself: run
under Debian's debug interpreter (python3-dbg), whose sys.gettotalrefcount()
is the number of references alive in the whole interpreter. Rows built by
the library (pool_query_objects) and rows unpickled must both leave it
where it was, statement after statement, on the paths that succeed and the
ones that fail. Not a pytest module (the debug interpreter has no pytest):

    python3-dbg bindings/python/tests/refcount_check.py

with the MYSQL_* variables of the test server (scripts/test/test-all.sh).
"""

import ctypes
import gc
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import pymysqlpool  # noqa: E402
from pymysqlpool import _lib, connections, err  # noqa: E402

EVERY_KIND = (
    "SELECT 1, -5, 18446744073709551615, 1.5e3, CAST(1.25 AS DECIMAL(5,2)), "
    "CAST('2024-02-29 23:59:58.123456' AS DATETIME(6)), CAST('2024-02-29' AS DATE), "
    "TIMEDIFF('10:00:00', '11:30:00.5'), 'héllo ☃', X'00ff', NULL, CAST('0000-00-00' AS DATETIME) "
    "FROM seq_1_to_20"
)
# Three batches of about 256 KiB.
BATCHES = "SELECT seq, REPEAT('x', 100), seq * 0.5, NULL FROM seq_1_to_5000"
ROUNDS = 2000
BATCH_ROUNDS = 400
# gettotalrefcount moves by a few references for reasons of its own (caches,
# interned strings); a leak of one reference per statement moves it by
# ROUNDS (or BATCH_ROUNDS).
SLACK = 200


def statements(cur):
    cur.execute(EVERY_KIND)
    cur.fetchall()
    cur.execute("DO 1")
    try:
        cur.execute("SELECT * FROM no_such_table_for_refcounts")
    except err.ProgrammingError:
        pass


def batches(cur):
    """An outcome of several batches read whole, then one abandoned after
    its first batch (dropped by the next statement)."""
    cur.execute(BATCHES)
    cur.fetchall()
    handle, sql = cur.connection._handle, BATCHES.encode()
    if connections._ROWS_AS_OBJECTS:
        _lib.pool_query_objects(handle, sql, len(sql), 0)
    else:
        data, length = ctypes.c_void_p(), ctypes.c_size_t()
        _lib.pool_query_pickle(handle, sql, len(sql), 0, ctypes.byref(data), ctypes.byref(length))


def out_of_memory(cur):
    """CPython refusing one allocation at each step of building an outcome
    in turn (_testcapi.set_nomemory): built, or None, or ctypes' own
    MemoryError; the object builder's failure paths, each once."""
    import _testcapi

    handle, sql = cur.connection._handle, EVERY_KIND.encode()
    for start in range(0, 1200, 2):
        _testcapi.set_nomemory(start, start + 1)
        try:
            _lib.pool_query_objects(handle, sql, len(sql), 0)
        except (MemoryError, ctypes.ArgumentError):
            pass
        finally:
            _testcapi.remove_mem_hooks()


def references_left(cur, run, rounds, warm=20):
    for _ in range(warm):
        run(cur)  # warm: caches, descriptions, interned strings
    gc.collect()
    before = sys.gettotalrefcount()
    for _ in range(rounds):
        run(cur)
    gc.collect()
    return sys.gettotalrefcount() - before


def main():
    if not hasattr(sys, "gettotalrefcount"):
        sys.exit("refcount_check: needs a debug build of CPython (python3-dbg)")
    if not _lib.PYTHON_OBJECTS:
        sys.exit("refcount_check: the library refused this interpreter's API")
    pool = pymysqlpool.ConnectionPool(
        size=1, host=os.environ.get("MYSQL_HOST", "127.0.0.1"), port=int(os.environ.get("MYSQL_TCP_PORT", "3306")),
        user=os.environ.get("MYSQL_USER", ""), password=os.environ.get("MYSQL_PWD", ""),
        database=os.environ.get("MYSQL_DATABASE"))
    conn = pool.get_connection()
    cur = conn.cursor()
    failed = False
    for objects in (True, False):
        connections._ROWS_AS_OBJECTS = objects
        way = "objects" if objects else "pickle"
        runs = [(statements, ROUNDS, "rows, no rows, an error"),
                (batches, BATCH_ROUNDS, "batches read, batches abandoned")]
        if objects:
            runs.append((out_of_memory, 1, "600 statements, an allocation refused at each step"))
        for run, rounds, what in runs:
            left = references_left(cur, run, rounds, warm=2 if run is out_of_memory else 20)
            verdict = "ok" if abs(left) <= SLACK else "LEAK"
            failed |= verdict != "ok"
            print(f"refcount_check: {way:<7} {rounds} rounds ({what}): {left:+d} references ({verdict})")
    conn.close()
    pool.close()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
