"""One pool over a three-node Galera cluster (scripts/cluster/with-galera.sh):
ha_mode="loadbalance" spreads connections over the nodes, a write on any
node is read on the others, and the pool keeps serving when a node dies."""

import subprocess
import uuid

import pytest

import pymysqlpool
from conftest import ROOT, cluster_from, eventually


@pytest.fixture(scope="module")
def galera():
    return cluster_from("MYSQLPOOL_GALERA_HOSTS", "with-galera.sh")


def one(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()


def test_loadbalance_over_galera_survives_a_node_kill(galera):
    ports = galera["ports"]
    pool = pymysqlpool.ConnectionPool(host=galera["hosts"], ha_mode="loadbalance", size=3, maxsize=3, host_deny_time=2,
                                      validation_interval=0, **galera["kw"])
    table = "g_" + uuid.uuid4().hex[:12]
    held = [pool.get_connection() for _ in range(3)]
    assert sorted(one(conn, "SELECT @@port")[0] for conn in held) == sorted(ports)
    with held[0].cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, node INT)")
    for number, conn in enumerate(held):  # multi-primary: every node takes writes
        with conn.cursor() as cur:
            cur.execute(f"INSERT INTO {table} VALUES (%s, @@port)", (number,))
    for conn in held:
        assert eventually(lambda c=conn: one(c, f"SELECT COUNT(*) FROM {table}") == (3,))
        conn.close()

    subprocess.run([str(ROOT / "scripts" / "cluster" / "galera-ctl.sh"), "kill", "node3"], check=True, timeout=60)
    try:
        def everyone_served():
            conns = [pool.get_connection(retry_num=1) for _ in range(3)]
            try:
                for conn in conns:
                    assert one(conn, "SELECT 1") == (1,)
                return all(one(conn, "SELECT @@port")[0] != ports[2] for conn in conns)
            finally:
                for conn in conns:
                    conn.close()
        assert eventually(everyone_served, timeout=30)
        with pool.get_connection() as conn:
            with conn.cursor() as cur:
                cur.execute(f"DROP TABLE {table}")
        assert {h["port"]: h for h in pool.host_stats()}[ports[2]]["failures"] >= 1
    finally:
        pool.close()
        subprocess.run([str(ROOT / "scripts" / "cluster" / "galera-ctl.sh"), "start", "node3"], check=False, timeout=120)


def galera_ctl(*args, check=True):
    subprocess.run([str(ROOT / "scripts" / "cluster" / "galera-ctl.sh"), *args], check=check, timeout=120,
                   stdout=subprocess.DEVNULL)


def test_a_desynced_node_takes_no_new_borrows(galera):
    """wsrep_desync=ON on node2 (a node taken out for a backup; node3 may
    still be rejoining after the kill above): the role check sees it is no
    longer Synced, its connections are retired and new ones go to the other
    nodes, with no caller error; back in sync, it is used again."""
    import time

    ports = galera["ports"]
    pool = pymysqlpool.ConnectionPool(host=galera["hosts"], ha_mode="loadbalance", size=3, maxsize=3,
                                      role_check_interval=0.3, validation_interval=0, **galera["kw"])

    def node_stats(port):
        return {h["port"]: h for h in pool.host_stats()}[port]

    try:
        held = [pool.get_connection() for _ in range(3)]
        assert ports[1] in {one(conn, "SELECT @@port")[0] for conn in held}
        for conn in held:
            conn.close()
        galera_ctl("desync", "node2")
        assert eventually(lambda: node_stats(ports[1])["synced"] is False)
        time.sleep(0.5)
        for _ in range(10):
            held = [pool.get_connection(retry_num=1) for _ in range(3)]
            try:
                assert all(one(conn, "SELECT @@port")[0] != ports[1] for conn in held)
            finally:
                for conn in held:
                    conn.close()
        assert node_stats(ports[0])["synced"] is True and node_stats(ports[1])["connections"] == 0
    finally:
        galera_ctl("resync", "node2", check=False)
    assert eventually(lambda: node_stats(ports[1])["synced"] is True)
    pool.close()
