"""pymysqlpool.aio: aiomysql's API over the library's non-blocking calls,
against the real server. The loop keeps running while statements and
borrows wait; cancellation and timeouts leave the pool's books right; threads
and tasks share one queue."""

import asyncio
import threading
import time

import pytest

import pymysqlpool.aio as aiomysql

pytestmark = pytest.mark.fixed_in_mysqlpool  # pymysql-pool 0.5.0 has no asyncio API


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_aiomysqls_readme_examples(server_kw):
    """aiomysql's README: a pool, and a single connection, unchanged but
    for the import."""
    kw = dict(server_kw)
    kw["db"] = kw.pop("database")

    async def pool_example():
        pool = await aiomysql.create_pool(minsize=1, maxsize=5, **kw)
        async with pool.acquire() as conn:
            async with conn.cursor() as cur:
                await cur.execute("SELECT 42;")
                print(cur.description)
                (r,) = await cur.fetchone()
                assert r == 42
        pool.close()
        await pool.wait_closed()

    async def connection_example():
        conn = await aiomysql.connect(**kw)
        cur = await conn.cursor()
        await cur.execute("SELECT 'localhost' AS Host, CURRENT_USER() AS User")
        print(cur.description)
        r = await cur.fetchall()
        assert r[0][0] == "localhost"
        await cur.close()
        conn.close()

    run(pool_example())
    run(connection_example())


def test_values_cursors_and_transactions(server_kw):
    async def main():
        async with aiomysql.create_pool(maxsize=2, **server_kw) as pool:
            assert (pool.minsize, pool.maxsize) == (1, 2)
            async with pool.acquire() as conn:
                async with conn.cursor(aiomysql.DictCursor) as cur:
                    await cur.execute("SELECT %s AS a, %s AS b, CAST(%s AS DECIMAL(5,2)) AS c", (1, "x'y", "2.5"))
                    assert await cur.fetchone() == {"a": 1, "b": "x'y", "c": __import__("decimal").Decimal("2.50")}
                async with conn.cursor() as cur:
                    await cur.execute("CREATE TEMPORARY TABLE aio_t (id INT PRIMARY KEY, v VARCHAR(10))")
                    await conn.begin()
                    assert await cur.executemany("INSERT INTO aio_t VALUES (%s, %s)", [(1, "a"), (2, "b")]) == 2
                    await conn.rollback()
                    await cur.execute("SELECT COUNT(*) FROM aio_t")
                    assert await cur.fetchone() == (0,)
                    await cur.executemany("INSERT INTO aio_t VALUES (%s, %s)", [(1, "a"), (2, "b")])
                    await conn.commit()
                    await cur.execute("SELECT v FROM aio_t ORDER BY id")
                    assert [row async for row in cur] == [("a",), ("b",)]
                    with pytest.raises(aiomysql.ProgrammingError) as raised:
                        await cur.execute("SELEC 1")
                    assert raised.value.args[0] == 1064
                    await conn.ping()
            assert pool.freesize == pool.size

    run(main())


def test_the_loop_keeps_running_while_statements_and_borrows_wait(server_kw):
    """20 tasks run SLEEP(0.3) on maxsize=5 (4 rounds of waiting for a
    connection) while a ticker counts: a loop blocked by any of them would
    stall the ticker for 0.3 s at a time. The worst lag is printed, not
    asserted (timings are for the benchmarks)."""

    async def main():
        async with aiomysql.create_pool(maxsize=5, **server_kw) as pool:
            stop = asyncio.Event()
            lags = []

            async def ticker():
                while not stop.is_set():
                    before = time.monotonic()
                    await asyncio.sleep(0.005)
                    lags.append(time.monotonic() - before - 0.005)

            async def task():
                async with pool.acquire() as conn:
                    async with conn.cursor() as cur:
                        await cur.execute("SELECT SLEEP(0.3)")
                        return await cur.fetchone()

            ticking = asyncio.ensure_future(ticker())
            started = time.monotonic()
            results = await asyncio.gather(*(task() for _ in range(20)))
            took = time.monotonic() - started
            stop.set()
            await ticking
            assert results == [(0,)] * 20
            print(f"20 x SLEEP(0.3) on 5 connections: {took:.2f} s; {len(lags)} ticks, worst lag "
                  f"{max(lags) * 1000:.1f} ms")
            assert took >= 1.1  # four rounds: the pool's limit held
            assert len(lags) >= 50  # a blocked loop would tick a handful of times at most
            assert pool.size <= 5 and pool.stats()["in_use"] == 0

    run(main())


def test_a_thousand_tasks_on_ten_connections(server_kw):
    async def main():
        async with aiomysql.create_pool(maxsize=10, **server_kw) as pool:
            async def task(i):
                async with pool.acquire() as conn:
                    async with conn.cursor() as cur:
                        await cur.execute("SELECT %s", (i,))
                        return (await cur.fetchone())[0]

            assert await asyncio.gather(*(task(i) for i in range(1000))) == list(range(1000))
            stats = pool.stats()
            assert stats["total"] <= 10 and stats["in_use"] == 0 and stats["waiting"] == 0

    run(main())


def test_cancelled_waiting_and_mid_query(server_kw):
    async def main():
        async with aiomysql.create_pool(maxsize=1, **server_kw) as pool:
            held = await pool.acquire()
            # Waiting for a connection, cancelled (wait_for's timeout): out of the queue.
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(pool.acquire(), 0.1)
            assert pool.stats()["waiting"] == 0
            async with held.cursor() as cur:
                await cur.execute("SELECT CONNECTION_ID()")
                (first_id,) = await cur.fetchone()
            await pool.release(held)
            # Cancelled mid-query: that connection is closed, never handed out again.
            async def slow():
                async with pool.acquire() as conn:
                    async with conn.cursor() as cur:
                        await cur.execute("SELECT SLEEP(5)")

            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(slow(), 0.2)
            stats = pool.stats()
            assert stats["in_use"] == 0 and stats["closed_broken"] == 1
            async with pool.acquire() as conn:
                async with conn.cursor() as cur:
                    await cur.execute("SELECT CONNECTION_ID()")
                    (new_id,) = await cur.fetchone()
            assert new_id != first_id

    run(main())


async def _ticking(body):
    """Runs body() with a 10 ms ticker in the same loop: (body's value,
    seconds it took, ticks seen)."""
    ticks = 0
    stop = asyncio.Event()

    async def ticker():
        nonlocal ticks
        while not stop.is_set():
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.ensure_future(ticker())
    started = time.monotonic()
    try:
        value = await body()
    finally:
        stop.set()
        await ticking
    return value, time.monotonic() - started, ticks


async def _fill_transaction(conn, rows):
    """An open transaction whose ROLLBACK takes the server a while
    (autocommit is off, as aiomysql's default); the connection's id."""
    async with conn.cursor() as cur:
        await cur.execute("CREATE TEMPORARY TABLE IF NOT EXISTS t_release (a INT) ENGINE=InnoDB")
        await cur.execute(f"INSERT INTO t_release SELECT seq FROM seq_1_to_{rows}")
        await cur.execute("SELECT CONNECTION_ID()")
        return (await cur.fetchone())[0]


def test_release_resets_without_blocking(server_kw):
    """Giving back a connection with a big open transaction: the ROLLBACK
    runs while the loop goes on; the connection is reused, rolled back. A
    release cancelled mid-reset closes the connection instead, and the
    books stay right."""

    async def main():
        async with aiomysql.create_pool(maxsize=1, **server_kw) as pool:
            conn = await pool.acquire()
            first_id = await _fill_transaction(conn, 300_000)
            _, took, ticks = await _ticking(lambda: pool.release(conn))
            assert ticks >= took / 0.01 / 4, f"{ticks} ticks in {took:.2f} s: the loop was held up"
            stats = pool.stats()
            assert stats["resets"] == 1 and stats["idle"] == 1 and stats["in_use"] == 0, stats
            async with pool.acquire() as conn:
                async with conn.cursor() as cur:
                    await cur.execute("SELECT CONNECTION_ID(), COUNT(*) FROM t_release")
                    assert await cur.fetchone() == (first_id, 0)

            conn = await pool.acquire()
            await _fill_transaction(conn, 300_000)
            releasing = pool.release(conn)
            await asyncio.sleep(0.02)
            assert not releasing.done(), "the ROLLBACK of 300k rows took under 20 ms"
            releasing.cancel()
            with pytest.raises(asyncio.CancelledError):
                await releasing
            stats = pool.stats()
            assert stats["in_use"] == 0 and stats["closed_discarded"] == 1 and stats["total"] == 0, stats
            async with pool.acquire() as conn:
                async with conn.cursor() as cur:
                    await cur.execute("SELECT CONNECTION_ID()")
                    assert (await cur.fetchone())[0] != first_id

    run(main())


def test_sscursor_streams_without_blocking(server_kw):
    """SSCursor returns the first rows before the server has produced the
    rest, the loop keeps running while it waits for them, and its rows equal
    the buffered cursor's; rows left unread are dropped without blocking at
    the next statement and at release."""
    # The server flushes its first 16 KiB, then sleeps at row 200.
    slow = "SELECT seq, IF(seq = 200, SLEEP(0.5), 0) AS s, REPEAT('x', 200) AS pad FROM seq_1_to_300"

    async def main():
        async with aiomysql.create_pool(maxsize=1, **server_kw) as pool:
            async with pool.acquire() as conn:
                async with conn.cursor(aiomysql.SSCursor) as cur:
                    started = time.monotonic()
                    await cur.execute(slow)
                    assert (await cur.fetchone())[0] == 1
                    assert time.monotonic() - started < 0.4, "the first row waited for the whole result"

                    async def rest():
                        return await cur.fetchall()

                    rows, took, ticks = await _ticking(rest)
                    assert len(rows) == 299 and rows[-1][0] == 300
                    assert took >= 0.3 and ticks >= took / 0.01 / 4, (took, ticks)
                    assert await cur.fetchone() is None

                    query = "SELECT seq, seq * 1.5, CONCAT('r', seq), NULL FROM seq_1_to_2500"
                    await cur.execute(query)
                    streamed = [await cur.fetchone()] + await cur.fetchmany(1200)
                    streamed += [row async for row in cur]
                async with conn.cursor() as cur:
                    await cur.execute(query)
                    assert streamed == list(await cur.fetchall())
                async with conn.cursor(aiomysql.SSDictCursor) as cur:
                    await cur.execute("SELECT seq AS n FROM seq_1_to_3")
                    assert await cur.fetchall() == [{"n": 1}, {"n": 2}, {"n": 3}]
                    # Re-executed with rows unread: the rest is dropped first.
                    await cur.execute("SELECT seq AS n, REPEAT('y', 100) FROM seq_1_to_50000")
                    assert (await cur.fetchone())["n"] == 1
                    await cur.execute("SELECT 5 AS n")
                    assert await cur.fetchall() == [{"n": 5}]
                cur = await conn.cursor(aiomysql.SSCursor)
                await cur.execute("SELECT seq, REPEAT('z', 100) FROM seq_1_to_50000")
                assert (await cur.fetchone())[0] == 1
                await cur.scroll(5)
                assert (await cur.fetchone())[0] == 7
                await cur.scroll(20, "absolute")
                assert (await cur.fetchone())[0] == 21
                with pytest.raises(aiomysql.NotSupportedError):
                    await cur.scroll(-1)
            # Given back with 49,999 rows unread: drained by the release's reset.
            stats = pool.stats()
            assert stats["idle"] == 1 and stats["in_use"] == 0 and stats["closed_broken"] == 0, stats
            async with pool.acquire() as conn:
                async with conn.cursor() as cur:
                    await cur.execute("SELECT 6")
                    assert await cur.fetchone() == (6,)

    run(main())


def test_queued_borrows_served_in_order_and_cancelled_in_the_middle(server_kw):
    """Tasks queued for the one connection are served in the order they
    came; one cancelled in the middle leaves the queue, and its turn passes
    to the next."""

    async def main():
        async with aiomysql.create_pool(maxsize=1, **server_kw) as pool:
            held = await pool.acquire()
            order = []

            async def borrower(name):
                async with pool.acquire() as conn:
                    order.append(name)
                    async with conn.cursor() as cur:
                        await cur.execute("SELECT 1")

            tasks = {name: asyncio.ensure_future(borrower(name)) for name in "abcd"}
            while pool.stats()["waiting"] < 4:
                await asyncio.sleep(0.001)
            tasks["b"].cancel()
            await asyncio.sleep(0.01)
            assert pool.stats()["waiting"] == 3
            await pool.release(held)
            await asyncio.gather(tasks["a"], tasks["c"], tasks["d"])
            assert order == ["a", "c", "d"]
            assert tasks["b"].cancelled()
            stats = pool.stats()
            assert stats["in_use"] == 0 and stats["waiting"] == 0 and stats["total"] == 1, stats

    run(main())


def test_threads_and_tasks_share_one_queue(server_kw):
    """The only connection is held; a thread asks first, then a task: the
    thread is served first, the task next."""

    async def main():
        async with aiomysql.create_pool(maxsize=1, **server_kw) as pool:
            held = await pool.acquire()
            order = []

            def thread_borrow():
                conn = pool._pool.get_connection(retry_num=10, retry_interval=0.5)
                order.append("thread")
                time.sleep(0.05)
                conn.close()

            thread = threading.Thread(target=thread_borrow)
            thread.start()
            while pool.stats()["waiting"] < 1:
                await asyncio.sleep(0.005)

            async def task():
                async with pool.acquire():
                    order.append("task")

            waiting = asyncio.ensure_future(task())
            await asyncio.sleep(0.05)
            assert pool.stats()["waiting"] == 2
            await pool.release(held)
            await waiting
            await asyncio.get_running_loop().run_in_executor(None, thread.join)
            assert order == ["thread", "task"]
            assert pool.stats()["in_use"] == 0

    run(main())


def test_a_stalled_server_leaves_the_loop_running(server_kw):
    """The TCP proxy stops forwarding mid-statement: wait_for's timeout
    fires on time, the library's read_timeout ends the statement, and the
    ticker never stops meanwhile."""
    from tcp_proxy import TCPProxy

    async def main(proxy):
        async with aiomysql.create_pool(maxsize=2, read_timeout=2, **dict(server_kw, port=proxy.port)) as pool:
            async with pool.acquire() as conn:
                async with conn.cursor() as cur:
                    await cur.execute("SELECT 1")
            async def query():
                async with pool.acquire() as conn:
                    async with conn.cursor() as cur:
                        await cur.execute("SELECT 2")

            async def stalled():
                proxy.stall()
                started = time.monotonic()
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(query(), 0.5)
                assert time.monotonic() - started < 1.5
                with pytest.raises(aiomysql.OperationalError):
                    await query()  # read_timeout=2: the link is given up

            _, waited, ticks = await _ticking(stalled)
            assert ticks >= waited / 0.01 / 4, f"{ticks} ticks in {waited:.1f} s: the loop was held up"
            proxy.resume()
            await asyncio.sleep(0.1)
            await query()
            assert pool.stats()["in_use"] == 0

    with TCPProxy(server_kw["host"], server_kw["port"]) as proxy:
        run(main(proxy))


def _sessions_alive(server_kw, ids):
    """How many of the server sessions `ids` are still open, as the server's
    process list says (asked over a connection of its own)."""
    import pymysql

    probe = pymysql.connect(**server_kw)
    try:
        with probe.cursor() as cur:
            marks = ",".join(["%s"] * len(ids))
            cur.execute(f"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID IN ({marks})", list(ids))
            return cur.fetchone()[0]
    finally:
        probe.close()


def test_threads_and_tasks_under_sustained_load(server_kw):
    """4 threads and 40 tasks borrow from one pool of 4 for 3 s (a few
    statements each, some in transactions left open for the release to
    roll back). Everyone is served, nobody waits far longer than the rest,
    and afterwards the books match the server: every connection the pool
    counts is a live session, the rest are gone."""

    seconds = 3.0

    async def main():
        async with aiomysql.create_pool(maxsize=4, **server_kw) as pool:
            sessions, served, worst_wait, errors = set(), {}, [0.0], []
            deadline = time.monotonic() + seconds

            def thread_work(name):
                try:
                    while time.monotonic() < deadline:
                        asked = time.monotonic()
                        conn = pool._pool.get_connection(retry_num=10, retry_interval=1)
                        worst_wait[0] = max(worst_wait[0], time.monotonic() - asked)
                        try:
                            with conn.cursor() as cur:
                                cur.execute("SELECT CONNECTION_ID()")
                                sessions.add(cur.fetchone()[0])
                                if served.get(name, 0) % 3 == 0:
                                    cur.execute("BEGIN")
                                    cur.execute("SELECT 1 FROM DUAL")
                        finally:
                            conn.close()
                        served[name] = served.get(name, 0) + 1
                except Exception as error:  # noqa: BLE001 - reported below
                    errors.append(error)

            async def task_work(name):
                while time.monotonic() < deadline:
                    asked = time.monotonic()
                    async with pool.acquire() as conn:
                        worst_wait[0] = max(worst_wait[0], time.monotonic() - asked)
                        async with conn.cursor() as cur:
                            await cur.execute("SELECT CONNECTION_ID(), SLEEP(0.001)")
                            sessions.add((await cur.fetchone())[0])
                            if served.get(name, 0) % 2 == 0:
                                await cur.execute("INSERT INTO t_mixed VALUES (1)")
                    served[name] = served.get(name, 0) + 1

            async with pool.acquire() as conn:
                async with conn.cursor() as cur:
                    await cur.execute("CREATE TABLE IF NOT EXISTS t_mixed (a INT) ENGINE=InnoDB")
                await conn.commit()
            threads = [threading.Thread(target=thread_work, args=(f"thread{i}",)) for i in range(4)]
            for thread in threads:
                thread.start()
            await asyncio.gather(*(task_work(f"task{i}") for i in range(40)))
            for thread in threads:
                await asyncio.get_running_loop().run_in_executor(None, thread.join)
            assert not errors, errors
            assert len(served) == 44 and min(served.values()) >= 2, served
            assert worst_wait[0] < 2.0, f"a borrower waited {worst_wait[0]:.2f} s"
            stats = pool.stats()
            assert stats["in_use"] == 0 and stats["waiting"] == 0, stats
            assert stats["gets"] == stats["releases"] == sum(served.values()) + 1, stats
            assert stats["total"] <= 4
            alive = await asyncio.get_running_loop().run_in_executor(None, _sessions_alive, server_kw, sessions)
            assert alive == stats["total"], (alive, stats)
            async with pool.acquire() as conn:
                async with conn.cursor() as cur:
                    await cur.execute("SELECT COUNT(*) FROM t_mixed")  # the tasks' inserts were rolled back
                    assert await cur.fetchone() == (0,)
                    await cur.execute("DROP TABLE t_mixed")

    run(main())


def test_statements_answered_within_the_call_still_yield(server_kw, monkeypatch):
    """When the server runs on the client's CPU, sending a statement lets it
    run at once, and the answer is there before pool_query_start returns:
    nothing waits. A task looping over statements must still give the loop
    a turn at every one (it held the loop for 200 statements, 17-226 ms).
    Made certain here: pool_query_start waits (poll) for its answer."""
    import select

    from pymysqlpool import _lib

    real_start = _lib.pool_query_start

    def answered_within_the_call(handle, sql, length, io_ref):
        code = real_start(handle, sql, length, io_ref)
        io = io_ref._obj
        while code == _lib.POOL_WAIT:
            select.select([io.fd], [], [], 5)
            code = _lib.pool_continue(handle, _lib.POOL_IO_READ, io_ref, None)
        return code

    monkeypatch.setattr(_lib, "pool_query_start", answered_within_the_call)

    async def main():
        async with aiomysql.create_pool(maxsize=1, **server_kw) as pool:
            ticks, done = 0, False

            async def ticker():
                nonlocal ticks
                while not done:
                    await asyncio.sleep(0)
                    ticks += 1

            ticking = asyncio.ensure_future(ticker())
            async with pool.acquire() as conn:
                async with conn.cursor() as cur:
                    for _ in range(200):
                        await cur.execute("SELECT 1")
            done = True
            await ticking
            assert ticks >= 190, f"the loop got {ticks} turns during 200 statements"

    run(main())


@pytest.mark.throwaway_server("kills and restarts the server")
def test_server_killed_mid_statement(server_kw, server):
    from test_faults import kill_server, restart_server

    async def main():
        async with aiomysql.create_pool(maxsize=3, **server_kw) as pool:
            async def slow():
                async with pool.acquire() as conn:
                    async with conn.cursor() as cur:
                        await cur.execute("SELECT SLEEP(10)")

            tasks = [asyncio.ensure_future(slow()) for _ in range(3)]
            await asyncio.sleep(0.3)
            await asyncio.get_running_loop().run_in_executor(None, kill_server, server)
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
            assert all(isinstance(o, aiomysql.OperationalError) for o in outcomes), outcomes
            await asyncio.get_running_loop().run_in_executor(None, restart_server)
            stats = pool.stats()
            assert stats["in_use"] == 0 and stats["closed_broken"] == 3 and stats["total"] == 0, stats
            conns = [await pool.acquire() for _ in range(2)]
            ids = []
            for conn in conns:
                async with conn.cursor() as cur:
                    await cur.execute("SELECT CONNECTION_ID()")
                    ids.append((await cur.fetchone())[0])
                await pool.release(conn)
            # The books match the server: both sessions alive, none left over.
            alive = await asyncio.get_running_loop().run_in_executor(None, _sessions_alive, server_kw, ids)
            assert alive == pool.stats()["total"] == 2

    run(main())
