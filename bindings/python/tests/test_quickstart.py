"""The seed document users come from (../shared/seed): its quickstart, run
as written, and its "common errors" answered the friendly way.

The quickstart spells things 0.5.0 never had (``pool_name=``,
``pool.get_conn()``, ``pool.release(conn)``), so on 0.5.0 it fails; so do the
friendly migration errors and the new pool methods.  All are marked
``fixed_in_mysqlpool``; only the plain top-level import is 0.5.0 behaviour.
"""

import time

import pytest

import pymysqlpool
from helpers import connection_id, wait_server_connection_gone

fixed_in_mysqlpool = pytest.mark.fixed_in_mysqlpool

# The seed's quickstart, character for character.
SEED_QUICKSTART = """\
from pymysqlpool import ConnectionPool
pool = ConnectionPool(
host='localhost',
user='root',
password=os.environ.get('MYSQL_PWD', ''),
database='test',
maxsize=10,
pre_create_num=2,
pool_name='mypool'
)
conn = pool.get_conn()
cursor = conn.cursor()
cursor.execute('SELECT 1')
result = cursor.fetchone()
cursor.close()
pool.release(conn)
print(result)
"""

# Only the connection values change, to point at the test server (the port
# too: it is not 3306).  The seed uses ``os`` without importing it, so the
# script gets ``import os`` in front.
CONNECTION_VALUES = {
    "host='localhost',": "host=os.environ['MYSQL_HOST'], port=int(os.environ['MYSQL_TCP_PORT']),",
    "user='root',": "user=os.environ['MYSQL_USER'],",
    "database='test',": "database=os.environ['MYSQL_DATABASE'],",
}


def adapted_quickstart():
    script = SEED_QUICKSTART
    for seed_line, ours in CONNECTION_VALUES.items():
        assert script.count(seed_line) == 1, seed_line
        script = script.replace(seed_line, ours)
    return "import os\n" + script


@fixed_in_mysqlpool
def test_seed_quickstart_runs_as_written(run_python, tmp_path):
    script = tmp_path / "quickstart.py"
    script.write_text(adapted_quickstart())
    proc = run_python(f"import runpy; runpy.run_path({str(script)!r}, run_name='__main__')", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "(1,)\n"


def test_adapted_quickstart_changes_only_connection_values():
    # Guard for the test above: apart from the connection lines (and the
    # added ``import os``) the script is the seed's, line for line.
    seed_lines = SEED_QUICKSTART.splitlines()
    adapted_lines = adapted_quickstart().splitlines()
    assert adapted_lines[0] == "import os"
    changed = [(a, b) for a, b in zip(seed_lines, adapted_lines[1:], strict=True) if a != b]
    assert [a for a, _ in changed] == list(CONNECTION_VALUES)


# --------------------------------------------------------------------------
# The seed's "common errors"


def test_top_level_import():
    from pymysqlpool import ConnectionPool

    assert ConnectionPool is pymysqlpool.ConnectionPool


@fixed_in_mysqlpool
def test_import_from_pymysqlpool_pool_works():
    # The seed calls this the "wrong" import; 0.5.0 is a single module, so
    # it fails there.  We accept it.
    from pymysqlpool.pool import ConnectionPool

    assert ConnectionPool is pymysqlpool.ConnectionPool


@fixed_in_mysqlpool
def test_max_size_raises_friendly_type_error(server):
    # 0.5.0 passes max_size= through to the connections: nothing fails until
    # the first connection is made, and then not with a hint.
    with pytest.raises(TypeError) as excinfo:
        pymysqlpool.ConnectionPool(max_size=10, **server)
    assert "maxsize" in str(excinfo.value)
    assert "max_size" in str(excinfo.value)


@fixed_in_mysqlpool
@pytest.mark.parametrize("old, new", [("size", "available_num"), ("connection_num", "total_num")])
def test_renamed_attributes_raise_friendly_attribute_error(server, old, new):
    pool = pymysqlpool.ConnectionPool(size=2, maxsize=3, **server)
    with pytest.raises(AttributeError) as excinfo:
        getattr(pool, old)
    assert new in str(excinfo.value)
    # The new names work (and are not just in a message).
    assert getattr(pool, new) == 0


# --------------------------------------------------------------------------
# The seed's gotcha: pool.connection() and pool.release(); and pool.close()


@fixed_in_mysqlpool
def test_pool_connection_context_manager(server):
    pool = pymysqlpool.ConnectionPool(size=2, maxsize=2, **server)
    with pool.connection() as conn:
        assert pool.available_num == 0
        assert pool.total_num == 1
        cur = conn.cursor()
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
    assert pool.available_num == 1
    assert pool.total_num == 1


@fixed_in_mysqlpool
def test_pool_connection_context_manager_returns_on_error(server):
    pool = pymysqlpool.ConnectionPool(size=2, maxsize=2, **server)
    with pytest.raises(RuntimeError):
        with pool.connection() as conn:
            assert pool.available_num == 0
            conn.cursor().execute("SELECT 1")
            raise RuntimeError("application failure")
    # Nothing leaked: the connection is either back or forgotten (as
    # ``with conn:`` does after such an exception).
    assert pool.available_num == pool.total_num
    with pool.connection() as conn:
        cur = conn.cursor()
        cur.execute("SELECT 2")
        assert cur.fetchone() == (2,)


@fixed_in_mysqlpool
def test_get_conn_and_release_aliases(server):
    pool = pymysqlpool.ConnectionPool(size=1, maxsize=1, pool_name="aliased", **server)
    assert pool.name == "aliased"
    conn = pool.get_conn()
    assert pool.available_num == 0
    pool.release(conn)
    assert pool.available_num == 1
    assert pool.total_num == 1


@fixed_in_mysqlpool
def test_pool_close_closes_idle_connections(server, admin):
    pool = pymysqlpool.ConnectionPool(size=2, maxsize=2, pre_create_num=2, **server)
    a = pool.get_connection()
    b = pool.get_connection()
    ids = [connection_id(a), connection_id(b)]
    a.close()
    b.close()
    started = time.monotonic()
    pool.close()
    assert time.monotonic() - started < 5
    for cid in ids:
        assert wait_server_connection_gone(admin, cid), f"connection {cid} still open"
