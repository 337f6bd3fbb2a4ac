"""pymysql-pool 0.5.0's pool behaviour: its README session replayed, and the
rest of what ``ConnectionPool``/``Connection``/``Cursor`` do in 0.5.0.

Tests marked ``fixed_in_mysqlpool`` check where we deliberately differ from
0.5.0 (its bugs); everything else must behave exactly as 0.5.0 does.
"""

import time

import pymysql
import pytest

import pymysqlpool
from helpers import admin_query, connection_id, server_connection_alive, wait_server_connection_gone

fixed_in_mysqlpool = pytest.mark.fixed_in_mysqlpool


def select_one(conn, sql, args=None):
    cur = conn.cursor()
    try:
        cur.execute(sql, args)
        return cur.fetchone()
    finally:
        cur.close()


# --------------------------------------------------------------------------
# The README session


def test_readme_session(server):
    pool = pymysqlpool.ConnectionPool(size=2, maxsize=3, pre_create_num=2, name="mypool", autocommit=True, **server)
    assert pool.name == "mypool"
    assert pool.total_num == 2
    assert pool.available_num == 2

    con1 = pool.get_connection()
    con2 = pool.get_connection()
    assert pool.available_num == 0
    assert pool.total_num == 2

    # The pool is empty but below maxsize: get_connection() waits out its
    # retries (default retry_num=3, retry_interval=0.1), then grows the pool.
    started = time.monotonic()
    con3 = pool.get_connection()
    waited = time.monotonic() - started
    assert 0.25 <= waited < 5, f"third get_connection took {waited:.3f} s"
    assert pool.total_num == 3
    assert pool.available_num == 0
    assert select_one(con3, "SELECT 1 + 1") == (2,)

    # maxsize reached: after the same retries, GetConnectionFromPoolError.
    started = time.monotonic()
    with pytest.raises(pymysqlpool.GetConnectionFromPoolError) as excinfo:
        pool.get_connection()
    waited = time.monotonic() - started
    assert 0.25 <= waited < 5, f"fourth get_connection took {waited:.3f} s"
    assert "mypool" in str(excinfo.value)
    assert pool.total_num == 3

    # close() and the context manager both give the connection back.
    con1.close()
    assert pool.available_num == 1
    with con2:
        with con2.cursor() as cur:
            cur.execute("select 1+1")
            assert cur.fetchone() == (2,)
    assert pool.total_num == 3
    assert pool.available_num == 2

    # A connection that was given back is handed out again: no new one.
    again = pool.get_connection()
    assert select_one(again, "SELECT 1") == (1,)
    assert pool.total_num == 3
    again.close()
    con3.close()
    assert pool.available_num == 3


def test_get_connection_exceptions_are_not_pymysql_errors():
    # In 0.5.0 both pool exceptions derive from Exception, not from the
    # DB-API Error: code catching pymysql.err.Error does not catch them.
    for exc in (pymysqlpool.GetConnectionFromPoolError, pymysqlpool.ReturnConnectionToPoolError):
        assert issubclass(exc, Exception)
        assert not issubclass(exc, pymysql.err.Error)


def test_retry_num_zero_overflows_at_once(server):
    pool = pymysqlpool.ConnectionPool(size=1, maxsize=2, **server)
    first = pool.get_connection()
    started = time.monotonic()
    second = pool.get_connection(retry_num=0)
    assert time.monotonic() - started < 0.25  # no retry sleeps
    assert pool.total_num == 2
    with pytest.raises(pymysqlpool.GetConnectionFromPoolError):
        pool.get_connection(retry_num=0)
    first.close()
    second.close()
    assert pool.available_num == 2


# --------------------------------------------------------------------------
# Constructor


def test_default_name_is_host_port_user_database(server):
    pool = pymysqlpool.ConnectionPool(**server)
    expected = f"{server['host']}-{server['port']}-{server['user']}-{server['database']}"
    assert pool.name == expected


def test_default_name_defaults():
    # No connection is made without pre_create_num, so no server is needed.
    assert pymysqlpool.ConnectionPool().name == "localhost-3306--"
    assert pymysqlpool.ConnectionPool(user="u", database="d").name == "localhost-3306-u-d"


def test_explicit_name(server):
    assert pymysqlpool.ConnectionPool(name="orders", **server).name == "orders"


def test_no_connection_before_first_get(server):
    pool = pymysqlpool.ConnectionPool(size=3, maxsize=5, **server)
    assert pool.total_num == 0
    assert pool.available_num == 0
    conn = pool.get_connection()
    assert pool.total_num == 1
    conn.close()
    assert pool.available_num == 1


def test_pre_create_num_is_capped_at_maxsize(server):
    pool = pymysqlpool.ConnectionPool(size=2, maxsize=3, pre_create_num=5, **server)
    assert pool.total_num == 3
    assert pool.available_num == 3


# --------------------------------------------------------------------------
# Connection lifetime and pre_ping


def test_con_lifetime_expiry_replaces_the_connection(server):
    pool = pymysqlpool.ConnectionPool(size=1, maxsize=1, con_lifetime=1, **server)
    conn = pool.get_connection()
    old_id = connection_id(conn)
    conn.close()
    time.sleep(1.2)
    conn = pool.get_connection()
    new_id = connection_id(conn)
    assert new_id != old_id
    assert pool.total_num == 1
    conn.close()
    assert pool.available_num == 1


def test_con_lifetime_zero_keeps_connections(server):
    pool = pymysqlpool.ConnectionPool(size=1, maxsize=1, con_lifetime=0, **server)
    conn = pool.get_connection()
    old_id = connection_id(conn)
    conn.close()
    time.sleep(1.1)
    conn = pool.get_connection()
    assert connection_id(conn) == old_id
    conn.close()


def test_pre_ping_replaces_a_killed_connection(server, admin):
    pool = pymysqlpool.ConnectionPool(size=1, maxsize=1, **server)
    conn = pool.get_connection()
    old_id = connection_id(conn)
    conn.close()

    admin_query(admin, f"KILL {int(old_id)}")
    assert wait_server_connection_gone(admin, old_id)

    conn = pool.get_connection(pre_ping=True)
    assert select_one(conn, "SELECT 1") == (1,)
    assert connection_id(conn) != old_id
    conn.close()
    assert pool.available_num == 1
    assert pool.total_num == 1


# --------------------------------------------------------------------------
# Returning connections


def test_use_after_close_raises(server):
    pool = pymysqlpool.ConnectionPool(size=1, maxsize=1, **server)
    conn = pool.get_connection()
    cur = conn.cursor()
    conn.close()
    with pytest.raises(pymysqlpool.ReturnConnectionToPoolError):
        conn.cursor()
    with pytest.raises(pymysqlpool.ReturnConnectionToPoolError):
        conn.commit()
    # A cursor made before the return must not reach the connection, which
    # may already belong to someone else.
    with pytest.raises(pymysqlpool.ReturnConnectionToPoolError):
        cur.execute("SELECT 1")
    assert pool.available_num == 1


@fixed_in_mysqlpool
def test_dropped_wrapper_discards_its_connection(server, admin):
    """A borrower that drops its connection without returning it leaves the
    session in an unknown state: the pool closes that connection instead of
    handing it out again, and has room for a new one."""
    import gc

    pool = pymysqlpool.ConnectionPool(size=1, maxsize=1, **server)
    conn = pool.get_connection()
    dropped_id = connection_id(conn)
    del conn
    gc.collect()
    assert pool.total_num == 0
    assert wait_server_connection_gone(admin, dropped_id)
    with pool.get_connection() as conn:
        assert connection_id(conn) != dropped_id
        assert isinstance(conn, pymysqlpool.Connection)


@fixed_in_mysqlpool
def test_wrapper_settings_stay_with_the_wrapper(server):
    """What one borrower changes on its wrapper (charset, database name) is
    not what the next borrower's wrapper starts with."""
    pool = pymysqlpool.ConnectionPool(size=2, maxsize=2, **server)
    first = pool.get_connection()
    first.set_character_set("latin1")
    first.db = "elsewhere"
    second = pool.get_connection()
    assert (second.charset, second.encoding, second.db) == ("utf8mb4", "utf8", server["database"])
    assert (first.charset, first.encoding) == ("latin1", "cp1252")
    first.close()
    second.close()


@fixed_in_mysqlpool
def test_returned_connection_gets_its_character_set_back(server):
    """A borrower's set_character_set is undone on return: the next borrower's
    wrapper decodes as the pool's charset, so the session must match it."""
    pool = pymysqlpool.ConnectionPool(size=1, maxsize=1, **server)
    with pool.get_connection() as conn:
        conn.set_character_set("latin1")
        assert select_one(conn, "SELECT @@character_set_client") == ("latin1",)
    with pool.get_connection() as conn:
        assert select_one(conn, "SELECT @@character_set_client") == ("utf8mb4",)
        assert select_one(conn, "SELECT %s", ("h\u00e9 \u2603 \U0001f600",)) == ("h\u00e9 \u2603 \U0001f600",)


def test_double_close_raises(server):
    pool = pymysqlpool.ConnectionPool(size=1, maxsize=1, **server)
    conn = pool.get_connection()
    conn.close()
    with pytest.raises(pymysqlpool.ReturnConnectionToPoolError) as excinfo:
        conn.close()
    assert "already returned" in str(excinfo.value)
    assert pool.available_num == 1
    assert pool.total_num == 1


def test_with_block_returns_connection_and_hands_it_out_again(server):
    pool = pymysqlpool.ConnectionPool(size=1, maxsize=1, **server)
    conn = pool.get_connection()
    cid = connection_id(conn)
    with conn:
        assert select_one(conn, "SELECT 41 + 1") == (42,)
    assert pool.available_num == 1
    conn = pool.get_connection()
    assert connection_id(conn) == cid
    conn.close()


def _raise_unknown_column(conn):
    # Error 1054 maps to OperationalError in PyMySQL.
    cur = conn.cursor()
    cur.execute("SELECT no_such_column")


def _raise_runtime_error(conn):
    raise RuntimeError("application failure")


# Any exception other than ProgrammingError, IntegrityError or
# NotSupportedError inside ``with conn:`` discards the connection.  Ours
# raises pymysqlpool.err classes, so DB errors are compared by class name.
DISCARDING_FAILURES = [
    pytest.param(_raise_unknown_column, "OperationalError", id="OperationalError"),
    pytest.param(_raise_runtime_error, "RuntimeError", id="RuntimeError"),
]


@pytest.mark.parametrize("fail, expected_name", DISCARDING_FAILURES)
def test_with_block_discards_connection_after_other_exceptions(server, admin, fail, expected_name):
    pool = pymysqlpool.ConnectionPool(size=2, maxsize=2, pre_create_num=2, **server)
    conn = pool.get_connection()
    cid = connection_id(conn)
    with pytest.raises(Exception) as excinfo:
        with conn:
            fail(conn)
    assert type(excinfo.value).__name__ == expected_name
    # Not given back: the pool keeps only the other, idle connection ...
    assert pool.available_num == 1
    # ... and the discarded one is closed on the server.
    assert wait_server_connection_gone(admin, cid)
    # The pool still works, and never hands the discarded connection out.
    ids = set()
    taken = [pool.get_connection(retry_num=0) for _ in range(pool.available_num)]
    for c in taken:
        ids.add(connection_id(c))
        c.close()
    assert cid not in ids


@fixed_in_mysqlpool
@pytest.mark.parametrize("fail, expected_name", DISCARDING_FAILURES)
def test_with_block_discard_decrements_total_num(server, fail, expected_name):
    # 0.5.0 bug: the discard path never forgets the connection, so total_num
    # drifts upward and the pool ends up refusing with
    # GetConnectionFromPoolError although nothing is in use.
    pool = pymysqlpool.ConnectionPool(size=2, maxsize=2, pre_create_num=2, **server)
    conn = pool.get_connection()
    with pytest.raises(Exception) as excinfo:
        with conn:
            fail(conn)
    assert type(excinfo.value).__name__ == expected_name
    assert pool.total_num == 1
    assert pool.available_num == 1
    # Both slots are usable again.
    a = pool.get_connection(retry_num=0)
    b = pool.get_connection(retry_num=0)
    assert pool.total_num == 2
    assert select_one(b, "SELECT 2") == (2,)
    a.close()
    b.close()
    assert pool.available_num == 2


def _raise_programming_error(conn, table):
    cur = conn.cursor()
    cur.execute("SELECT * FROM no_such_table_for_with_block")


def _raise_integrity_error(conn, table):
    cur = conn.cursor()
    cur.execute(f"INSERT INTO `{table}` (id) VALUES (1)")
    cur.execute(f"INSERT INTO `{table}` (id) VALUES (1)")


@pytest.mark.parametrize(
    "fail, expected_name",
    [
        pytest.param(_raise_programming_error, "ProgrammingError", id="ProgrammingError"),
        pytest.param(_raise_integrity_error, "IntegrityError", id="IntegrityError"),
    ],
)
def test_with_block_keeps_connection_after_reusable_exceptions(server, fresh_table, fail, expected_name):
    table = fresh_table("id INT PRIMARY KEY")
    pool = pymysqlpool.ConnectionPool(size=1, maxsize=1, **server)
    conn = pool.get_connection()
    cid = connection_id(conn)
    with pytest.raises(Exception) as excinfo:
        with conn:
            fail(conn, table)
    assert type(excinfo.value).__name__ == expected_name
    assert pool.available_num == 1
    assert pool.total_num == 1
    conn = pool.get_connection(retry_num=0)
    assert connection_id(conn) == cid
    conn.close()


@pytest.mark.parametrize("pool_autocommit", [True, False])
def test_return_rolls_back_and_restores_autocommit(server, admin, fresh_table, pool_autocommit):
    table = fresh_table("id INT PRIMARY KEY")
    pool = pymysqlpool.ConnectionPool(size=1, maxsize=1, autocommit=pool_autocommit, **server)
    conn = pool.get_connection()
    assert conn.get_autocommit() is pool_autocommit
    conn.autocommit(False)
    cur = conn.cursor()
    cur.execute(f"INSERT INTO `{table}` (id) VALUES (1)")
    cur.close()
    conn.close()  # returned without commit: the insert is rolled back

    assert admin_query(admin, f"SELECT COUNT(*) FROM `{table}`") == ((0,),)
    conn = pool.get_connection()
    assert conn.get_autocommit() is pool_autocommit
    assert select_one(conn, f"SELECT COUNT(*) FROM `{table}`") == (0,)
    assert select_one(conn, "SELECT @@autocommit") == (int(pool_autocommit),)
    conn.close()


def test_autocommit_pool_commits_work_done_in_autocommit_mode(server, admin, fresh_table):
    table = fresh_table("id INT PRIMARY KEY")
    pool = pymysqlpool.ConnectionPool(size=1, maxsize=1, **server)
    conn = pool.get_connection()
    cur = conn.cursor()
    cur.execute(f"INSERT INTO `{table}` (id) VALUES (7)")
    cur.close()
    conn.close()
    assert admin_query(admin, f"SELECT id FROM `{table}`") == ((7,),)


# --------------------------------------------------------------------------
# Cursor helpers and cursor classes


def test_cursor_db_query_returns_fetchall(server):
    pool = pymysqlpool.ConnectionPool(size=1, maxsize=1, **server)
    with pool.get_connection() as conn:
        cur = conn.cursor()
        assert isinstance(cur, pymysqlpool.Cursor)
        assert cur.db_query("SELECT %s, %s", (1, "a")) == ((1, "a"),)
        assert cur.db_query("SELECT 1 FROM DUAL WHERE 0") == ()
        rows = cur.db_query("SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3")
        assert rows == ((1,), (2,), (3,))


def test_cursor_db_modify(server, fresh_table):
    table = fresh_table("id INT AUTO_INCREMENT PRIMARY KEY, v INT")
    pool = pymysqlpool.ConnectionPool(size=1, maxsize=1, **server)
    with pool.get_connection() as conn:
        cur = conn.cursor()
        assert cur.db_modify(f"INSERT INTO `{table}` (v) VALUES (%s)", (10,)) == {
            "rowcount": 1,
            "lastrowid": 1,
        }
        # executemany: one multi-row INSERT, lastrowid is its first id.
        result = cur.db_modify(f"INSERT INTO `{table}` (v) VALUES (%s)", [(20,), (30,), (40,)], exec_many=True)
        assert result == {"rowcount": 3, "lastrowid": 2}
        assert cur.db_modify(f"UPDATE `{table}` SET v = v + 1 WHERE v >= %s", (30,)) == {
            "rowcount": 2,
            "lastrowid": 0,
        }
        assert cur.db_query(f"SELECT id, v FROM `{table}` ORDER BY id") == (
            (1, 10),
            (2, 20),
            (3, 31),
            (4, 41),
        )


@pytest.mark.parametrize(
    "dict_cursor",
    [pymysqlpool.DictCursor, pymysql.cursors.DictCursor],
    ids=["pymysqlpool.DictCursor", "pymysql.cursors.DictCursor"],
)
def test_dict_cursor_argument(server, dict_cursor):
    pool = pymysqlpool.ConnectionPool(size=1, maxsize=1, **server)
    with pool.get_connection() as conn:
        cur = conn.cursor(dict_cursor)
        # Mapped by name to the pool's DictCursor, which has db_query.
        assert isinstance(cur, pymysqlpool.DictCursor)
        assert cur.db_query("SELECT 1 AS a, 'x' AS b") == [{"a": 1, "b": "x"}]
        plain = conn.cursor()
        assert isinstance(plain, pymysqlpool.Cursor)
        assert not isinstance(plain, pymysqlpool.DictCursor)


@pytest.mark.parametrize(
    "dict_cursor",
    [pymysqlpool.DictCursor, pymysql.cursors.DictCursor],
    ids=["pymysqlpool.DictCursor", "pymysql.cursors.DictCursor"],
)
def test_dict_cursor_as_cursorclass(server, dict_cursor):
    pool = pymysqlpool.ConnectionPool(size=1, maxsize=1, cursorclass=dict_cursor, **server)
    with pool.get_connection() as conn:
        cur = conn.cursor()
        assert isinstance(cur, pymysqlpool.DictCursor)
        assert cur.db_query("SELECT 2 AS n") == [{"n": 2}]
        cur.execute("SELECT 3 AS n")
        assert cur.fetchone() == {"n": 3}
        # An explicit Cursor still gives tuples.
        assert conn.cursor(pymysqlpool.Cursor).db_query("SELECT 4") == ((4,),)


# --------------------------------------------------------------------------
# ConnectionPoolSingleton (in a fresh interpreter each: it is process state)

SINGLETON_PRELUDE = """
import os
import pymysqlpool
kw = dict(host=os.environ["MYSQL_HOST"], port=int(os.environ["MYSQL_TCP_PORT"]),
          user=os.environ["MYSQL_USER"], password=os.environ["MYSQL_PWD"],
          database=os.environ["MYSQL_DATABASE"])
"""


def test_singleton_returns_the_same_instance(run_python):
    code = (
        SINGLETON_PRELUDE
        + """
a = pymysqlpool.ConnectionPoolSingleton(size=2, maxsize=3, **kw)
b = pymysqlpool.ConnectionPoolSingleton(size=2, maxsize=3, **kw)
assert a is b
assert isinstance(a, pymysqlpool.ConnectionPool)
conn = a.get_connection()
cur = conn.cursor()
cur.execute("SELECT 5")
print(cur.fetchone())
conn.close()
print(b.available_num, b.total_num)
"""
    )
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["(5,)", "1 1"]


@fixed_in_mysqlpool
def test_singleton_second_call_keeps_the_pool(run_python):
    # 0.5.0 bug: __init__ runs again on every call and wipes the pool
    # (available_num and total_num drop to 0, the connections leak).
    code = (
        SINGLETON_PRELUDE
        + """
a = pymysqlpool.ConnectionPoolSingleton(size=2, maxsize=3, pre_create_num=2, **kw)
held = a.get_connection()
before = (a.available_num, a.total_num)
b = pymysqlpool.ConnectionPoolSingleton(size=5, maxsize=6, pre_create_num=0, **kw)
assert b is a
after = (b.available_num, b.total_num)
held.close()
print(before, after, (b.available_num, b.total_num))
"""
    )
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "(1, 2) (1, 2) (2, 2)"


def test_server_connection_alive_helper_sanity(admin):
    # The discard tests rely on this helper seeing live connections.
    assert server_connection_alive(admin, admin.thread_id())
