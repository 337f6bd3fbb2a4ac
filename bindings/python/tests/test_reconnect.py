"""ping(reconnect=True) replaces a dead link with a fresh connection from the
same pool, as pymysql-pool's overridden ping does; without reconnect the
caller gets PyMySQL's errors. reconnect=True warns that it is deprecated,
as PyMySQL does."""

import pytest

import pymysqlpool


def kill(admin_connection, thread_id):
    with admin_connection.cursor() as cursor:
        cursor.execute("KILL %d" % thread_id)


def test_pooled_ping_reconnects_a_killed_connection(server_kw):
    pool = pymysqlpool.ConnectionPool(size=2, maxsize=2, **server_kw)
    victim, killer = pool.get_connection(), pool.get_connection()
    old_thread = victim.thread_id()
    kill(killer, old_thread)
    with pytest.raises(pymysqlpool.OperationalError):
        victim.ping()
    with pytest.warns(DeprecationWarning):
        victim.ping(reconnect=True)
    assert victim.thread_id() != old_thread
    with victim.cursor() as cursor:
        cursor.execute("SELECT CONNECTION_ID()")
        assert cursor.fetchone()[0] == victim.thread_id()
    victim.close()
    killer.close()
    assert (pool.total_num, pool.available_num) == (2, 2)


def test_private_connection_reconnects_after_a_lost_link(server_kw):
    victim = pymysqlpool.connect(**server_kw)
    killer = pymysqlpool.connect(**server_kw)
    try:
        kill(killer, victim.thread_id())
        with pytest.raises(pymysqlpool.OperationalError):
            victim.cursor().execute("SELECT 1")
        with pytest.raises(pymysqlpool.InterfaceError):
            victim.cursor().execute("SELECT 1")
        with pytest.warns(DeprecationWarning):
            victim.ping(reconnect=True)
        with victim.cursor() as cursor:
            cursor.execute("SELECT 2")
            assert cursor.fetchone() == (2,)
    finally:
        victim.close()
        killer.close()
    with pytest.raises(pymysqlpool.Error, match="Already closed"):
        victim.ping()
    # As PyMySQL: reconnect=True reopens even a connection closed on purpose.
    with pytest.warns(DeprecationWarning):
        victim.ping(reconnect=True)
    assert victim.open
    victim.close()
