"""One pool over a MariaDB primary and two replicas (ha_mode="replication"):
reads on replicas, writes on the primary, replicas dying and coming back,
the primary dying and a replica promoted."""

import threading
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
