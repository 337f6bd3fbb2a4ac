"""fork() safety: a child process never uses, nor ends (COM_QUIT), a
connection inherited from its parent; its pool starts over by itself, while
the parent keeps querying through the fork."""

import multiprocessing
import os
import threading

import pytest

import pymysqlpool
from helpers import admin_query, connection_id

fixed_in_mysqlpool = pytest.mark.fixed_in_mysqlpool


def select_one(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()


def server_ids(admin, user):
    return {row[0] for row in admin_query(admin, "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = %s",
                                          (user,))}


def pool_ids(pool, count):
    """The server ids of the pool's `count` connections (borrowed all at once)."""
    conns = [pool.get_connection() for _ in range(count)]
    ids = {connection_id(conn) for conn in conns}
    for conn in conns:
        conn.close()
    return ids


class ParentTraffic:
    """Queries through the pool in a thread for as long as it runs."""

    def __init__(self, pool):
        self.pool, self.errors, self.count = pool, [], 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self):
        while not self.stop.is_set():
            try:
                with self.pool.connection() as conn:
                    assert select_one(conn, "SELECT %s", (self.count,)) == (self.count,)
                self.count += 1
            except Exception as error:  # noqa: BLE001 - reported by the test
                self.errors.append(repr(error))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)


def run_child(work):
    """Forks; the child runs work() and reports its return value (or the
    exception) through a pipe; the parent returns it."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            message = repr(work())
            status = 0
        except BaseException as error:  # noqa: BLE001 - sent to the parent
            message, status = f"child failed: {error!r}", 1
        os.write(write_end, message.encode())
        os._exit(status)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    text = b"".join(chunks).decode()
    assert os.waitstatus_to_exitcode(status) == 0, text
    return eval(text)  # noqa: S307 - our own child's repr of ints, strs and tuples


@fixed_in_mysqlpool
def test_child_starts_over_and_parent_keeps_its_connections(server, admin):
    pool = pymysqlpool.ConnectionPool(size=3, maxsize=3, pre_create_num=3, **server)
    parent_ids = pool_ids(pool, 3)
    held = pool.get_connection()
    held_id = connection_id(held)

    def child():
        # The borrowed connection is the parent's session: refused, not used.
        with pytest.raises(pymysqlpool.ProgrammingError) as refused:
            select_one(held, "SELECT 1")
        assert "fork" in str(refused.value)
        held.close()  # giving it back is fine; nothing is sent
        ids = []
        for _ in range(4):
            with pool.connection() as conn:
                ids.append(connection_id(conn))
                assert select_one(conn, "SELECT 41 + 1") == (42,)
        stats = pool.stats()
        return ids, stats["total"], stats["in_use"]

    with ParentTraffic(pool) as traffic:
        child_ids, child_total, child_in_use = run_child(child)
    assert not traffic.errors
    assert traffic.count > 0
    assert not set(child_ids) & parent_ids  # fresh sessions of its own
    assert len(set(child_ids)) == 1 and child_total == 1 and child_in_use == 0
    # No COM_QUIT went over the parent's sockets: its sessions are all alive.
    assert parent_ids <= server_ids(admin, server["user"])
    assert select_one(held, "SELECT CONNECTION_ID()") == (held_id,)
    held.close()
    with pool.connection() as conn:
        assert select_one(conn, "SELECT 1") == (1,)
    assert pool.stats()["closed_broken"] == 0


def _worker_connection_id(_):
    with _SHARED_POOL.connection() as conn:
        return connection_id(conn), os.getpid()


_SHARED_POOL = None


@fixed_in_mysqlpool
def test_multiprocessing_fork_workers_use_their_own_connections(server, admin):
    global _SHARED_POOL
    _SHARED_POOL = pool = pymysqlpool.ConnectionPool(size=2, maxsize=2, pre_create_num=2, **server)
    parent_ids = pool_ids(pool, 2)
    context = multiprocessing.get_context("fork")
    with ParentTraffic(pool) as traffic:
        with context.Pool(3) as workers:
            results = workers.map(_worker_connection_id, range(12))
    assert not traffic.errors
    worker_ids = {connection_id for connection_id, _ in results}
    assert len({pid for _, pid in results}) >= 1
    assert not worker_ids & parent_ids
    assert parent_ids <= server_ids(admin, server["user"])
    with pool.connection() as conn:
        assert select_one(conn, "SELECT 2") == (2,)
    _SHARED_POOL = None
