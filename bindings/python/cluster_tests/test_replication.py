"""One pool over a MariaDB primary and two replicas (ha_mode="replication"):
reads on replicas, writes on the primary, replicas dying and coming back,
the primary dying and a replica promoted."""

import threading
import time
import uuid

import pymysqlpool
from conftest import eventually


def one(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()


def port_of(conn):
    return one(conn, "SELECT @@port")[0]


def make_pool(cluster, **extra):
    settings = dict(host=cluster["hosts"], ha_mode="replication", size=4, maxsize=4, host_deny_time=1,
                    validation_interval=0, **cluster["kw"])
    settings.update(extra)
    return pymysqlpool.ConnectionPool(**settings)


def test_reads_go_to_replicas_and_writes_to_the_primary(cluster):
    primary, replica_ports = cluster["ports"][0], set(cluster["ports"][1:])
    pool = make_pool(cluster)
    table = "t_" + uuid.uuid4().hex[:12]
    with pool.get_connection() as conn:
        assert port_of(conn) == primary
        with conn.cursor() as cur:
            cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY)")
            cur.execute(f"INSERT INTO {table} VALUES (1), (2)")
    readers = [pool.get_connection(readonly=True) for _ in range(2)]
    ports = {port_of(conn) for conn in readers}
    assert ports == replica_ports  # fewest connections first: one on each replica
    for conn in readers:
        assert one(conn, "SELECT @@read_only") == (1,)
        assert eventually(lambda c=conn: one(c, f"SELECT COUNT(*) FROM {table}") == (2,))
        conn.close()
    hosts = {h["port"]: h for h in pool.host_stats()}
    assert hosts[primary]["read_only"] is False
    assert all(hosts[port]["read_only"] is True for port in replica_ports)
    with pool.get_connection() as conn:
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE {table}")
    pool.close()


def test_writes_never_reach_a_read_only_host(cluster):
    # Replicas listed first: the primary is still found by @@read_only.
    hosts = ",".join(cluster["hosts"].split(",")[::-1])
    pool = make_pool(cluster, host=hosts)
    for _ in range(3):
        with pool.get_connection() as conn:
            assert port_of(conn) == cluster["ports"][0]
            assert one(conn, "SELECT @@read_only") == (0,)
    pool.close()


def test_a_dead_replica_is_denied_and_comes_back(cluster, restore_cluster):
    primary, replica1, replica2 = cluster["ports"]
    pool = make_pool(cluster)
    restore_cluster("kill", "replica1")
    ports = []
    for _ in range(4):
        with pool.get_connection(readonly=True) as conn:
            ports.append(port_of(conn))
    assert replica1 not in ports and set(ports) <= {replica2}
    stats = {h["port"]: h for h in pool.host_stats()}
    assert stats[replica1]["failures"] >= 1
    restore_cluster("start", "replica1")

    # Idle connections stay where they are; new ones go to the least loaded
    # allowed replica, which is replica1 again once its deny time is over.
    def replica1_used_again():
        held = [pool.get_connection(readonly=True) for _ in range(pool.stats()["idle"] + 1)]
        try:
            return replica1 in {port_of(conn) for conn in held}
        finally:
            for conn in held:
                conn.close()
    assert eventually(replica1_used_again)
    pool.close()


def test_reads_fall_back_to_the_primary_when_no_replica_answers(cluster, restore_cluster):
    pool = make_pool(cluster)
    restore_cluster("kill", "replica1")
    restore_cluster("kill", "replica2")
    with pool.get_connection(readonly=True) as conn:
        assert port_of(conn) == cluster["ports"][0]
        assert one(conn, "SELECT 1") == (1,)
    pool.close()


def test_primary_killed_and_a_replica_promoted(cluster, restore_cluster):
    primary, replica1, replica2 = cluster["ports"]
    pool = make_pool(cluster, pre_create_num=2)
    table = "t_" + uuid.uuid4().hex[:12]
    with pool.get_connection() as conn:
        with conn.cursor() as cur:
            cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY)")
    # A transaction in flight when the primary dies is lost and reported.
    inflight = pool.get_connection()
    with inflight.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute(f"INSERT INTO {table} VALUES (99)")
    restore_cluster("kill", "primary")
    restore_cluster("promote", "replica1")
    try:
        inflight.commit()
        committed = True
    except pymysqlpool.OperationalError as error:
        committed = False
        assert error.args[0] in (2006, 2013)
    inflight.close()

    def write_lands_on_the_new_primary():
        with pool.get_connection(retry_num=1) as conn:
            assert port_of(conn) == replica1
            with conn.cursor() as cur:
                cur.execute(f"INSERT INTO {table} VALUES (1)")
        return True
    assert eventually(write_lands_on_the_new_primary)
    with pool.get_connection(readonly=True) as conn:
        assert port_of(conn) == replica2
        assert eventually(lambda: one(conn, f"SELECT COUNT(*) FROM {table} WHERE id = 1") == (1,))
        assert one(conn, f"SELECT COUNT(*) FROM {table} WHERE id = 99") == ((1,) if committed else (0,))
    stats = {h["port"]: h for h in pool.host_stats()}
    assert stats[primary]["failures"] >= 1 and stats[replica1]["read_only"] is False
    with pool.get_connection() as conn:
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE {table}")
    pool.close()


def test_loadbalance_and_sequential_over_the_cluster(cluster):
    kw = dict(host=cluster["hosts"], size=3, maxsize=3, **cluster["kw"])
    spread = pymysqlpool.ConnectionPool(ha_mode="loadbalance", **kw)
    held = [spread.get_connection() for _ in range(3)]
    assert sorted(port_of(conn) for conn in held) == sorted(cluster["ports"])
    for conn in held:
        conn.close()
    spread.close()
    ordered = pymysqlpool.ConnectionPool(ha_mode="sequential", **kw)
    held = [ordered.get_connection() for _ in range(3)]
    assert {port_of(conn) for conn in held} == {cluster["ports"][0]}
    for conn in held:
        conn.close()
    ordered.close()


def test_threads_on_a_replication_pool(cluster):
    pool = make_pool(cluster)
    errors = []

    def work(readonly):
        try:
            for i in range(50):
                with pool.get_connection(readonly=readonly) as conn:
                    assert one(conn, "SELECT %s", (i,)) == (i,)
        except Exception as error:  # noqa: BLE001
            errors.append(repr(error))
    threads = [threading.Thread(target=work, args=(n % 2 == 0,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    stats = pool.stats()
    assert stats["in_use"] == 0 and stats["gets"] == 400
    pool.close()


def test_planned_switchover_under_a_writer_loop(cluster, restore_cluster):
    """The old primary stays up and is made read-only, a replica is promoted
    (cluster-ctl promote: a planned switchover). A write every 50 ms goes on
    throughout: no acknowledged write is lost, and 1290 (read-only) reaches a
    caller only within role_check_interval + 1 s of the promotion."""
    primary, replica1, _ = cluster["ports"]
    pool = make_pool(cluster, pre_create_num=4, role_check_interval=0.5)
    table = "t_" + uuid.uuid4().hex[:12]
    with pool.get_connection() as conn:
        with conn.cursor() as cur:
            cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY)")
    acknowledged, refused_at, other_errors = [], [], []
    stop = threading.Event()

    def writer():
        n = 0
        while not stop.is_set():
            n += 1
            try:
                with pool.get_connection(retry_num=1) as conn:
                    with conn.cursor() as cur:
                        cur.execute(f"INSERT INTO {table} VALUES (%s)", (n,))
                acknowledged.append(n)
            except pymysqlpool.OperationalError as error:
                (refused_at if error.args[0] in (1290, 1792) else other_errors).append((time.monotonic(), error))
            except pymysqlpool.GetConnectionFromPoolError as error:
                other_errors.append((time.monotonic(), error))
            time.sleep(0.05)

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(1)
    restore_cluster("promote", "replica1")
    promoted_at = time.monotonic()
    time.sleep(4)
    stop.set()
    thread.join(30)
    late = [error for at, error in refused_at if at > promoted_at + 0.5 + 1]
    assert not late, f"1290 after the role check should have moved writes: {late[:3]}"
    assert len(acknowledged) > 40
    with pool.get_connection() as conn:
        assert port_of(conn) == replica1
        rows = {row[0] for row in all_rows(conn, f"SELECT id FROM {table}")}
    assert set(acknowledged) <= rows, f"acknowledged writes lost: {sorted(set(acknowledged) - rows)[:10]}"
    stats = {h["port"]: h for h in pool.host_stats()}
    assert stats[primary]["read_only"] is True and stats[replica1]["read_only"] is False
    assert stats[primary]["role_age"] is not None and stats[primary]["role_age"] < 5
    with pool.get_connection() as conn:
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE {table}")
    pool.close()


def test_after_a_failover_reads_leave_the_new_primary(cluster, restore_cluster):
    """A read-only connection to a replica that is then promoted is retired:
    no read-only borrow goes to the new primary while another replica is up."""
    _, replica1, replica2 = cluster["ports"]
    pool = make_pool(cluster, role_check_interval=0.3)
    readers = [pool.get_connection(readonly=True) for _ in range(2)]
    ports = {port_of(conn) for conn in readers}
    assert ports <= {replica1, replica2}
    for conn in readers:
        conn.close()
    restore_cluster("promote", "replica1")
    time.sleep(1.5)  # a few role checks
    for _ in range(20):  # replica2, or the old primary, now a replica too
        with pool.get_connection(readonly=True) as conn:
            assert port_of(conn) != replica1
    stats = {h["port"]: h for h in pool.host_stats()}
    assert stats[replica1]["read_only"] is False
    pool.close()


def all_rows(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def test_reads_are_spread_over_the_replicas_per_borrow(cluster):
    """200 read-only borrows in sequence over two healthy replicas: each
    gets at least 40% (fewest borrowed first, round robin between equals),
    and host_stats() counts the borrows per host."""
    _, replica1, replica2 = cluster["ports"]
    pool = make_pool(cluster)
    assert eventually(lambda: [h["read_only"] for h in pool.host_stats()] == [False, True, True])
    served = {replica1: 0, replica2: 0}
    for _ in range(200):
        with pool.get_connection(readonly=True) as conn:
            served[port_of(conn)] += 1
    assert min(served.values()) >= 80, served
    stats = {h["port"]: h for h in pool.host_stats()}
    assert stats[replica1]["borrows"] >= served[replica1] and stats[replica2]["borrows"] >= served[replica2]
    pool.close()


def test_a_black_holed_replica_costs_one_connect_timeout_per_deny_window(cluster):
    """A replica that drops packets instead of refusing (a proxy that
    accepts and never answers): a caller pays connect_timeout at most once
    per host_deny_time, not on every borrow."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from tcp_proxy import TCPProxy

    primary, replica1, replica2 = cluster["ports"]
    with TCPProxy("127.0.0.1", replica1) as proxy:
        proxy.blackhole()
        hosts = f"127.0.0.1:{primary},127.0.0.1:{proxy.port},127.0.0.1:{replica2}"
        pool = make_pool(cluster, host=hosts, connect_timeout=1, host_deny_time=3, pre_create_num=1)
        slow, start = 0, time.monotonic()
        while time.monotonic() - start < 7:
            began = time.monotonic()
            with pool.get_connection(readonly=True) as conn:
                assert port_of(conn) in (replica2, primary)
            slow += time.monotonic() - began > 0.5
            time.sleep(0.05)
        windows = (time.monotonic() - start) / 3
        assert slow <= windows + 1, f"{slow} borrows paid the connect timeout in {windows:.1f} deny windows"
        stats = {h["port"]: h for h in pool.host_stats()}
        assert stats[proxy.port]["failures"] >= 1 and stats[proxy.port]["connections"] == 0
        pool.close()
