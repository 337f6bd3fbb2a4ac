"""The pool's health features through the Python keywords: leak reports with
the borrower's stack, session reset on return, idle timeout and min_idle,
stats, and the library's messages on the ``pymysqlpool`` logger."""

import gc
import logging
import time

import pytest

import pymysqlpool
from helpers import admin_query, connection_id

fixed_in_mysqlpool = pytest.mark.fixed_in_mysqlpool


def eventually(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def select(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


@fixed_in_mysqlpool
@pytest.mark.distinct_password
def test_leak_is_logged_with_the_borrowers_stack(server, caplog):
    pool = pymysqlpool.ConnectionPool(size=1, maxsize=1, leak_detection_threshold=0.1, name="leaky", **server)
    with caplog.at_level(logging.WARNING, logger="pymysqlpool"):
        conn = pool.get_connection()  # this line must appear in the report
        assert eventually(lambda: pool.stats()["leaks"] == 1)
        assert eventually(lambda: any("leak" in r.getMessage() for r in caplog.records))
    report = next(r for r in caplog.records if "leak" in r.getMessage())
    assert report.levelno == logging.WARNING
    message = report.getMessage()
    assert "pool(leaky)" in message
    assert "test_leak_is_logged_with_the_borrowers_stack" in message
    assert "conn = pool.get_connection()" in message
    assert server["password"] not in message
    conn.close()


@fixed_in_mysqlpool
def test_reset_connection_clears_the_session(server):
    pool = pymysqlpool.ConnectionPool(size=1, maxsize=1, reset_connection=True, **server)
    with pool.get_connection() as conn:
        select(conn, "SET @left_behind = 1")
        select(conn, "CREATE TEMPORARY TABLE left_behind (a INT)")
        first_id = connection_id(conn)
    with pool.get_connection() as conn:
        assert connection_id(conn) == first_id  # the same session, reset
        assert select(conn, "SELECT @left_behind") == ((None,),)
        with pytest.raises(pymysqlpool.ProgrammingError):
            select(conn, "SELECT * FROM left_behind")
        assert select(conn, "SELECT @@autocommit") == ((1,),)
    assert pool.stats()["resets"] == 2


def test_without_reset_connection_the_session_is_kept(server):
    """pymysql-pool's behaviour, kept by default."""
    pool = pymysqlpool.ConnectionPool(size=1, maxsize=1, **server)
    with pool.get_connection() as conn:
        select(conn, "SET @kept = 7")
    with pool.get_connection() as conn:
        assert select(conn, "SELECT @kept") == ((7,),)


@fixed_in_mysqlpool
def test_idle_timeout_closes_down_to_min_idle(server, admin):
    pool = pymysqlpool.ConnectionPool(size=3, maxsize=3, pre_create_num=3, idle_timeout=0.2, min_idle=1, **server)
    assert eventually(lambda: pool.available_num == 1)
    stats = pool.stats()
    assert stats["closed_idle"] == 2 and stats["total"] == 1
    pool.close()


@fixed_in_mysqlpool
def test_min_idle_is_kept_open_in_the_background(server):
    pool = pymysqlpool.ConnectionPool(size=2, maxsize=4, min_idle=2, **server)
    assert eventually(lambda: pool.available_num == 2)
    pool.close()


@fixed_in_mysqlpool
def test_a_connection_killed_while_idle_is_never_handed_out(server, admin):
    pool = pymysqlpool.ConnectionPool(size=2, maxsize=2, pre_create_num=2, validation_interval=0, **server)
    ids = []
    conns = [pool.get_connection() for _ in range(2)]
    ids = [connection_id(c) for c in conns]
    for c in conns:
        c.close()
    for thread in ids:
        admin_query(admin, "KILL %s" % thread)
    time.sleep(0.3)
    for _ in range(3):
        with pool.get_connection() as conn:
            assert select(conn, "SELECT 1") == ((1,),)
    assert pool.stats()["closed_validation"] == 2


@pytest.mark.parametrize("keyword, value", [
    ("idle_timeout", -1), ("validation_interval", float("nan")), ("keepalive_interval", "soon"),
    ("lifetime_jitter", 0.9), ("min_idle", 5),
])
def test_bad_health_settings_are_clear_errors(server, keyword, value):
    with pytest.raises((ValueError, TypeError)) as info:
        pymysqlpool.ConnectionPool(size=1, maxsize=2, **{keyword: value}, **server)
    assert keyword in str(info.value) or "seconds" in str(info.value)


def test_stats_has_the_close_reasons(server):
    pool = pymysqlpool.ConnectionPool(size=1, maxsize=1, **server)
    stats = pool.stats()
    for key in ("closed_lifetime", "closed_broken", "closed_overflow", "closed_discarded", "closed_shutdown",
                "closed_idle", "closed_validation", "connect_failures", "wait_count", "wait_time_ns",
                "max_wait_ns", "timeouts", "pings", "leaks"):
        assert stats[key] == 0, key
    assert "password" not in repr(stats)


@fixed_in_mysqlpool
@pytest.mark.distinct_password
def test_no_python_object_keeps_the_password(server):
    """Only the library holds the password (to open new connections): not the
    pool, its connections, their classes, stats or reprs."""
    import gc

    pool = pymysqlpool.ConnectionPool(size=1, maxsize=1, **server)
    conn = pool.get_connection()
    private = pymysqlpool.connect(**server)
    password = server["password"]
    assert password
    for obj in (pool, conn, private):
        assert password not in repr(obj)
        assert password not in repr(vars(obj))
        assert password not in repr(vars(type(obj)))
    assert password not in repr(pool.stats())
    referrers = [r for r in gc.get_referrers(password) if isinstance(r, dict) and r is not server]
    assert not [r for r in referrers if "host" in r or "user" in r], "a settings dict still holds the password"
    conn.close()
    private.close()


@fixed_in_mysqlpool
@pytest.mark.distinct_password
def test_stats_as_prometheus_text_and_collector(server):
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from pymysqlpool.metrics import PoolCollector

    pool = pymysqlpool.ConnectionPool(size=2, maxsize=3, name='app "main"', **server)
    held = pool.get_connection()
    text = pool.stats_text()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    pool_label = ("pool", 'app "main"')
    assert samples[("mysqlpool_connections", (pool_label, ("state", "in_use")))] == 1
    assert samples[("mysqlpool_connections", (pool_label, ("state", "open")))] == 1
    assert samples[("mysqlpool_maxsize", (pool_label,))] == 3
    assert samples[("mysqlpool_gets_total", (pool_label,))] == 1
    assert samples[("mysqlpool_connections_closed_total", (pool_label, ("reason", "idle")))] == 0
    assert server["password"] not in text

    registry = CollectorRegistry()
    registry.register(PoolCollector(pool))
    exposed = generate_latest(registry).decode()
    assert 'mysqlpool_gets_total{pool="app \\"main\\""} 1.0' in exposed
    held.close()
