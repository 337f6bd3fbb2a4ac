"""One peer's side of `make bench`: runs in its own process (bench/run.py
starts it with the bench venv's Python; for ours with PYTHONPATH pointing at
bindings/python, since pymysql-pool's module is also named ``pymysqlpool``).

    python worker.py prepare            create and fill the bulk table once
    python worker.py facts              versions of the installed peers (JSON)
    python worker.py run PEER CONFIG    one repetition of every scenario for PEER;
                                        CONFIG is a JSON object (see run.py);
                                        prints one JSON object on the last line

The server comes from MYSQL_HOST, MYSQL_TCP_PORT, MYSQL_USER, MYSQL_PWD and
MYSQL_DATABASE (exported by scripts/server/with-mariadb.sh).
"""

import gc
import json
import os
import resource
import sys
import threading
import time
import traceback

POINT_SQL = "SELECT 1+1"
BULK_TABLE = "bench_bulk"
BULK_ROWS = 100_000
POOL_SIZE = 8
ASYNC_POOL_SIZE = 10
ASYNC_TASKS = 100


def server_kwargs():
    return {
        "host": os.environ.get("MYSQL_HOST", "127.0.0.1"),
        "port": int(os.environ.get("MYSQL_TCP_PORT") or 3306),
        "user": os.environ.get("MYSQL_USER", ""),
        "password": os.environ.get("MYSQL_PWD", ""),
        "database": os.environ.get("MYSQL_DATABASE", ""),
    }


# ---------------------------------------------------------------------------
# Peers. Each returns a Peer: `get` borrows a connection (None for
# single-connection peers, which use `conn` throughout); every connection
# object is given back with conn.close(); `mark` is the paramstyle placeholder.


class Peer:
    def __init__(self, name, get=None, conn=None, mark="%s", close=None):
        self.name = name
        self.get = get
        self.conn = conn
        self.mark = mark
        self._close = close

    @property
    def pooled(self):
        return self.get is not None

    def borrow(self):
        return self.get() if self.get else self.conn

    def give_back(self, conn):
        if self.get:
            conn.close()

    def close(self):
        if self._close:
            self._close()


def _prefill(get):
    """Borrow POOL_SIZE connections at once, then return them all."""
    conns = [get() for _ in range(POOL_SIZE)]
    for conn in conns:
        conn.close()


def peer_ours():
    import pymysqlpool

    if not hasattr(pymysqlpool, "__version__") or "bindings" not in pymysqlpool.__file__:
        raise RuntimeError(f"imported the wrong pymysqlpool: {pymysqlpool.__file__}")
    pool = pymysqlpool.ConnectionPool(size=POOL_SIZE, maxsize=POOL_SIZE, pre_create_num=POOL_SIZE,
                                      name="bench", **server_kwargs())
    return Peer("ours", get=pool.get_connection, close=pool.close)


def peer_ours_rows(how):
    """Ours with a buffered statement's rows built one way (PYMYSQLPOOL_ROWS,
    set by run.py): the A/B of the library's Python objects and the pickle."""
    from pymysqlpool import connections

    if connections._ROWS_AS_OBJECTS != (how == "objects"):
        raise RuntimeError(f"PYMYSQLPOOL_ROWS={how} did not take")
    peer = peer_ours()
    peer.name = f"ours-{how}"
    return peer


def peer_ours_conn():
    """Ours on one held connection (pymysqlpool.connect): the driver path
    without the pool, to compare with the single-connection peers."""
    import pymysqlpool

    if "bindings" not in pymysqlpool.__file__:
        raise RuntimeError(f"imported the wrong pymysqlpool: {pymysqlpool.__file__}")
    conn = pymysqlpool.connect(**server_kwargs())
    return Peer("ours-conn", conn=conn, close=conn.close)


def peer_pymysql():
    import pymysql

    conn = pymysql.connect(charset="utf8mb4", **server_kwargs())
    return Peer("pymysql", conn=conn, close=conn.close)


def peer_pymysql_pool():
    import pymysqlpool

    if getattr(pymysqlpool, "__file__", "").find("bindings") >= 0:
        raise RuntimeError("imported ours instead of pymysql-pool 0.5.0")
    pool = pymysqlpool.ConnectionPool(size=POOL_SIZE, maxsize=POOL_SIZE, pre_create_num=POOL_SIZE,
                                      name="bench", charset="utf8mb4", **server_kwargs())
    return Peer("pymysql-pool", get=pool.get_connection)


def peer_mysqlclient():
    import MySQLdb

    conn = MySQLdb.connect(charset="utf8mb4", **server_kwargs())
    return Peer("mysqlclient", conn=conn, close=conn.close)


def peer_mariadb():
    import mariadb

    conn = mariadb.connect(**server_kwargs())
    return Peer("mariadb", conn=conn, mark="?", close=conn.close)


def peer_mariadb_pool():
    import mariadb

    # Opens pool_size connections at creation; resets (COM_RESET_CONNECTION)
    # on every return by default.
    pool = mariadb.ConnectionPool(pool_name="bench", pool_size=POOL_SIZE, **server_kwargs())
    return Peer("mariadb-pool", get=pool.get_connection, mark="?", close=pool.close)


def _sqlalchemy(driver):
    import sqlalchemy
    from sqlalchemy.engine import URL

    kw = server_kwargs()
    url = URL.create(f"mysql+{driver}", username=kw["user"], password=kw["password"], host=kw["host"],
                     port=kw["port"], database=kw["database"], query={"charset": "utf8mb4"})
    # QueuePool; default reset_on_return="rollback".
    engine = sqlalchemy.create_engine(url, pool_size=POOL_SIZE, max_overflow=0)
    _prefill(engine.raw_connection)
    return engine


def peer_sqlalchemy_pymysql():
    engine = _sqlalchemy("pymysql")
    return Peer("sqlalchemy+pymysql", get=engine.raw_connection, close=engine.dispose)


def peer_sqlalchemy_mysqlclient():
    engine = _sqlalchemy("mysqldb")
    return Peer("sqlalchemy+mysqlclient", get=engine.raw_connection, close=engine.dispose)


def peer_dbutils_pymysql():
    import pymysql
    from dbutils.pooled_db import PooledDB

    # Defaults otherwise: ping=1 (ping when taken from the pool), reset=True
    # (rollback on return).
    pool = PooledDB(pymysql, mincached=POOL_SIZE, maxcached=POOL_SIZE, maxconnections=POOL_SIZE, blocking=True,
                    charset="utf8mb4", **server_kwargs())
    return Peer("dbutils+pymysql", get=pool.connection, close=pool.close)


def _async_kwargs():
    """server_kwargs() as aiomysql and asyncmy spell them (db=)."""
    kwargs = server_kwargs()
    kwargs["db"] = kwargs.pop("database")
    return kwargs


def peer_ours_aio():
    import pymysqlpool.aio as aio

    if "bindings" not in aio.__file__:
        raise RuntimeError(f"imported the wrong pymysqlpool: {aio.__file__}")
    peer = Peer("ours-aio")
    peer.async_pool = lambda: aio.create_pool(minsize=ASYNC_POOL_SIZE, maxsize=ASYNC_POOL_SIZE, **_async_kwargs())
    return peer


def peer_aiomysql():
    import aiomysql

    peer = Peer("aiomysql")
    peer.async_pool = lambda: aiomysql.create_pool(minsize=ASYNC_POOL_SIZE, maxsize=ASYNC_POOL_SIZE,
                                                   **_async_kwargs())
    return peer


def peer_asyncmy():
    import asyncmy

    peer = Peer("asyncmy")
    peer.async_pool = lambda: asyncmy.create_pool(minsize=ASYNC_POOL_SIZE, maxsize=ASYNC_POOL_SIZE,
                                                  **_async_kwargs())
    return peer


PEERS = {
    "ours-aio": peer_ours_aio,
    "aiomysql": peer_aiomysql,
    "asyncmy": peer_asyncmy,
    "ours": peer_ours,
    "ours-objects": lambda: peer_ours_rows("objects"),
    "ours-pickle": lambda: peer_ours_rows("pickle"),
    "bound": peer_ours,
    "ours-conn": peer_ours_conn,
    "pymysql": peer_pymysql,
    "pymysql-pool": peer_pymysql_pool,
    "mysqlclient": peer_mysqlclient,
    "mariadb": peer_mariadb,
    "mariadb-pool": peer_mariadb_pool,
    "sqlalchemy+pymysql": peer_sqlalchemy_pymysql,
    "sqlalchemy+mysqlclient": peer_sqlalchemy_mysqlclient,
    "dbutils+pymysql": peer_dbutils_pymysql,
}

# ---------------------------------------------------------------------------
# Memory


def _status_kib(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss():
    """Resets VmHWM to the current RSS (Linux >= 4.0); False when it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_kib():
    hwm = _status_kib("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# ---------------------------------------------------------------------------
# Scenarios. Each returns a dict with at least "value" and "unit".


def sc_bulk_build(peer, cfg):
    """The CPython half of the bulk bound: the bulk scenario's rows built
    from data already read (pickle.loads of their pickle, which makes the
    same tuples, ints, str, bytes, Decimal and datetime objects at C speed).
    run.py adds raw C's walk of the rows to it (see summarize)."""
    import pickle

    conn = peer.borrow()
    try:
        cur = conn.cursor()
        sql = f"SELECT * FROM {BULK_TABLE}"
        if cfg["bulk_rows"] < BULK_ROWS:
            sql += f" LIMIT {cfg['bulk_rows']}"
        cur.execute(sql)
        data = pickle.dumps(cur.fetchall(), protocol=4)
        cur.close()
    finally:
        peer.give_back(conn)
    pickle.loads(data)  # warm
    gc.collect()
    t0 = time.perf_counter()
    rows = pickle.loads(data)
    elapsed = time.perf_counter() - t0
    return {"value": len(rows) / elapsed, "unit": "rows/s", "n": len(rows)}


def sc_bulk(peer, cfg):
    conn = peer.borrow()
    try:
        cur = conn.cursor()
        cur.execute(f"SELECT * FROM {BULK_TABLE} LIMIT 1000")  # warm the code paths, not the memory
        cur.fetchall()
        cur.close()
        sql = f"SELECT * FROM {BULK_TABLE}"
        if cfg["bulk_rows"] < BULK_ROWS:
            sql += f" LIMIT {cfg['bulk_rows']}"
        gc.collect()
        before = _status_kib("VmRSS")
        exact = reset_peak_rss()
        t0 = time.perf_counter()
        cur = conn.cursor()
        cur.execute(sql)
        rows = cur.fetchall()
        elapsed = time.perf_counter() - t0
        peak = peak_rss_kib()
        n = len(rows)
        if n != cfg["bulk_rows"]:
            raise RuntimeError(f"bulk: {n} rows, expected {cfg['bulk_rows']}")
        sample = rows[1]
        cur.close()
        del rows
    finally:
        peer.give_back(conn)
    return {"value": n / elapsed, "unit": "rows/s", "n": n, "rss_peak_kib": peak, "rss_before_kib": before,
            "rss_exact": exact, "types": [type(v).__name__ for v in sample]}


def sc_point(peer, cfg):
    n = cfg["point_n"]

    if peer.pooled:
        get = peer.get

        def loop(k):
            row = None
            for _ in range(k):
                conn = get()
                cur = conn.cursor()
                cur.execute(POINT_SQL)
                row = cur.fetchone()
                cur.close()
                conn.close()
            return row
    else:
        conn = peer.conn

        def loop(k):
            row = None
            for _ in range(k):
                cur = conn.cursor()
                cur.execute(POINT_SQL)
                row = cur.fetchone()
                cur.close()
            return row

    row = loop(n // 10 + 10)
    if row[0] != 2:
        raise RuntimeError(f"point: got {row!r}")
    t0 = time.perf_counter()
    loop(n)
    elapsed = time.perf_counter() - t0
    return {"value": n / elapsed, "unit": "q/s", "n": n}


# Peers of the parameterized point query: ours and mariadb prepare on the
# server (binary protocol; ours through its statement cache, across returns
# to the pool), mysqlclient and PyMySQL interpolate on the client.
STMT_POINT_SQL = "SELECT {0} + 1"
PREPARED_CURSOR_PEERS = {"ours", "mariadb"}
STMT_POINT_PEERS = PREPARED_CURSOR_PEERS | {"mysqlclient", "pymysql"}


def sc_stmt_point(peer, cfg):
    if peer.name not in STMT_POINT_PEERS:
        return None
    n = cfg["point_n"]
    sql = STMT_POINT_SQL.format(peer.mark)
    prepared = {"prepared": True} if peer.name in PREPARED_CURSOR_PEERS else {}
    get, held = peer.get, peer.conn

    def loop(k):
        row = None
        for i in range(k):
            conn = get() if get else held
            cur = conn.cursor(**prepared)
            cur.execute(sql, (i,))
            row = cur.fetchone()
            cur.close()
            if get:
                conn.close()
        return row, k

    row, k = loop(n // 10 + 10)
    if row[0] != k:
        raise RuntimeError(f"stmt_point: got {row!r}")
    t0 = time.perf_counter()
    loop(n)
    elapsed = time.perf_counter() - t0
    return {"value": n / elapsed, "unit": "q/s", "n": n}


def sc_async_point(peer, cfg):
    """ASYNC_TASKS tasks on one event loop, each N / ASYNC_TASKS times:
    acquire, cursor, execute, fetchone, release; a ticker task measures how
    late the loop gets to it meanwhile (its worst lag)."""
    if not hasattr(peer, "async_pool"):
        return None
    import asyncio

    per_task = max(cfg["point_n"] // ASYNC_TASKS, 1)

    async def main():
        pool = await peer.async_pool()

        async def task(k):
            row = None
            for _ in range(k):
                async with pool.acquire() as conn:
                    async with conn.cursor() as cur:
                        await cur.execute(POINT_SQL)
                        row = await cur.fetchone()
            return row

        rows = await asyncio.gather(*(task(2) for _ in range(ASYNC_TASKS)))
        if rows[0][0] != 2:
            raise RuntimeError(f"async_point: got {rows[0]!r}")
        stop, lags = asyncio.Event(), []

        async def ticker():
            while not stop.is_set():
                before = time.perf_counter()
                await asyncio.sleep(0.001)
                lags.append(time.perf_counter() - before - 0.001)

        ticking = asyncio.ensure_future(ticker())
        t0 = time.perf_counter()
        await asyncio.gather(*(task(per_task) for _ in range(ASYNC_TASKS)))
        elapsed = time.perf_counter() - t0
        stop.set()
        await ticking
        pool.close()
        await pool.wait_closed()
        return elapsed, max(lags) * 1000

    elapsed, worst_lag_ms = asyncio.run(main())
    n = per_task * ASYNC_TASKS
    return {"value": n / elapsed, "unit": "q/s", "n": n, "worst_lag_ms": worst_lag_ms}


def sc_checkout(peer, cfg):
    if not peer.pooled:
        return None
    n = cfg["checkout_n"]
    get = peer.get

    def loop(k):
        for _ in range(k):
            conn = get()
            conn.close()

    loop(n // 10 + 10)
    t0 = time.perf_counter()
    loop(n)
    elapsed = time.perf_counter() - t0
    return {"value": elapsed / n * 1e6, "unit": "µs/pair", "n": n}


def sc_threads(peer, cfg):
    if not peer.pooled:
        return None
    per_thread = cfg["threads_n"]
    nthreads = POOL_SIZE
    get = peer.get
    errors = []
    start = threading.Barrier(nthreads + 1)

    def work():
        try:
            start.wait()
            for _ in range(per_thread):
                conn = get()
                cur = conn.cursor()
                cur.execute(POINT_SQL)
                cur.fetchone()
                cur.close()
                conn.close()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(repr(error))

    # Warm-up: every pooled connection once.
    sc_point(peer, {"point_n": 0})
    threads = [threading.Thread(target=work, daemon=True) for _ in range(nthreads)]
    for thread in threads:
        thread.start()
    start.wait()
    t0 = time.perf_counter()
    for thread in threads:
        thread.join(timeout=300)
    elapsed = time.perf_counter() - t0
    if errors or any(thread.is_alive() for thread in threads):
        raise RuntimeError(f"threads: {errors[:3] or 'a thread did not finish'}")
    total = per_thread * nthreads
    return {"value": total / elapsed, "unit": "q/s", "n": total, "threads": nthreads}


def sc_executemany(peer, cfg):
    """Appends n rows to the peer's own table. Never TRUNCATE before timing:
    the first inserts into a fresh tablespace pay for growing its file (5x
    slower here), which would measure the server's disk, not the client. The
    untimed warm-up inserts as many rows as the timed run, so the timed run
    appends to a table that already has room to grow."""
    n = cfg["executemany_n"]
    table = "bench_em_" + "".join(ch if ch.isalnum() else "_" for ch in peer.name)
    rows = [(i, f"value-{i:08d}") for i in range(n)]
    sql = f"INSERT INTO {table} (id, s) VALUES ({peer.mark}, {peer.mark})"
    conn = peer.borrow()
    try:
        cur = conn.cursor()
        cur.execute(f"CREATE TABLE IF NOT EXISTS {table} (id INT NOT NULL, s VARCHAR(64) NOT NULL) "
                    "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")
        cur.executemany(sql, rows)  # warm-up
        conn.commit()
        cur.execute(f"SELECT COUNT(*) FROM {table}")
        before = cur.fetchone()[0]
        cur.close()
        conn.commit()
        t0 = time.perf_counter()
        cur = conn.cursor()
        cur.executemany(sql, rows)
        conn.commit()
        elapsed = time.perf_counter() - t0
        cur.execute(f"SELECT COUNT(*) FROM {table}")
        added = cur.fetchone()[0] - before
        cur.close()
        conn.commit()
        if added != n:
            raise RuntimeError(f"executemany: {added} rows added, expected {n}")
    finally:
        peer.give_back(conn)
    return {"value": n / elapsed, "unit": "rows/s", "n": n}


# Bulk first, so that its peak RSS is not inflated by what other scenarios left.
SCENARIOS = [("bulk", sc_bulk), ("bulk_build", sc_bulk_build), ("point", sc_point), ("stmt_point", sc_stmt_point), ("checkout", sc_checkout),
             ("threads", sc_threads), ("executemany", sc_executemany), ("async_point", sc_async_point)]


def run(peer_name, cfg):
    out = {"peer": peer_name, "results": {}, "errors": {}}
    try:
        peer = PEERS[peer_name]()
    except Exception as error:  # noqa: BLE001 - reported to run.py
        out["errors"]["setup"] = f"{type(error).__name__}: {error}"
        traceback.print_exc()
        return out
    wanted = cfg.get("scenarios")
    try:
        for name, fn in SCENARIOS:
            if wanted and name not in wanted:
                continue
            try:
                result = fn(peer, cfg)
            except Exception as error:  # noqa: BLE001 - reported to run.py
                out["errors"][name] = f"{type(error).__name__}: {error}"
                traceback.print_exc()
                continue
            if result is not None:
                out["results"][name] = result
    finally:
        try:
            peer.close()
        except Exception:  # noqa: BLE001 - teardown noise is not a result
            pass
    return out


# ---------------------------------------------------------------------------
# Set-up and facts


def prepare():
    """Creates and fills the bulk table (once per server) with PyMySQL."""
    import pymysql

    conn = pymysql.connect(charset="utf8mb4", autocommit=True, **server_kwargs())
    cur = conn.cursor()
    cur.execute("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                "AND TABLE_NAME = %s", (BULK_TABLE,))
    if cur.fetchone()[0]:
        cur.execute(f"SELECT COUNT(*) FROM {BULK_TABLE}")
        if cur.fetchone()[0] == BULK_ROWS:
            print(json.dumps({"created": False}))
            return
        cur.execute(f"DROP TABLE {BULK_TABLE}")
    cur.execute(f"""CREATE TABLE {BULK_TABLE} (
        id INT NOT NULL PRIMARY KEY,
        i BIGINT NOT NULL,
        s VARCHAR(64) NOT NULL,
        d DECIMAL(12,2) NOT NULL,
        dt DATETIME NOT NULL,
        f DOUBLE NOT NULL,
        b VARBINARY(32) NOT NULL,
        n INT NULL
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""")
    columns = ("%s, " * 8)[:-2]
    batch = []
    base = 1_577_836_800  # 2020-01-01 00:00:00 UTC
    import datetime
    import decimal
    import hashlib

    t0 = time.perf_counter()
    for k in range(1, BULK_ROWS + 1):
        digest = hashlib.md5(str(k).encode()).digest()
        batch.append((
            k,
            k * 1_000_003 - 2**40,
            f"row {k} " + digest.hex()[: k % 40],
            decimal.Decimal(k * 137 % 10_000_000) / 100,
            datetime.datetime.fromtimestamp(base + k * 61, datetime.timezone.utc).replace(tzinfo=None),
            k * 0.3141592653589793,
            digest + digest[: k % 16],
            k if k % 10 == 0 else None,
        ))
        if len(batch) == 5000:
            cur.executemany(f"INSERT INTO {BULK_TABLE} VALUES ({columns})", batch)
            batch = []
    if batch:
        cur.executemany(f"INSERT INTO {BULK_TABLE} VALUES ({columns})", batch)
    cur.execute(f"ANALYZE TABLE {BULK_TABLE}")
    cur.fetchall()
    cur.execute(f"SELECT COUNT(*), SUM(n IS NULL) FROM {BULK_TABLE}")
    count, nulls = cur.fetchone()
    conn.close()
    print(json.dumps({"created": True, "rows": count, "null_n": int(nulls), "seconds": time.perf_counter() - t0}))


def facts():
    """Peer versions and the server's version, as JSON."""
    from importlib import metadata

    out = {"python": sys.version.split()[0], "packages": {}}
    for dist in ("PyMySQL", "pymysql-pool", "mysqlclient", "mariadb", "SQLAlchemy", "DBUtils", "matplotlib"):
        try:
            out["packages"][dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out["packages"][dist] = None
    try:
        import pymysql

        conn = pymysql.connect(**server_kwargs())
        cur = conn.cursor()
        cur.execute("SELECT VERSION()")
        out["server_version"] = cur.fetchone()[0]
        conn.close()
    except Exception as error:  # noqa: BLE001
        out["server_version"] = f"unknown ({error})"
    try:
        import mariadb

        out["libmariadb_client (mariadb connector)"] = mariadb.client_version_info
    except Exception:  # noqa: BLE001
        pass
    try:
        import MySQLdb

        out["libmariadb_client (mysqlclient)"] = MySQLdb.get_client_info()
    except Exception:  # noqa: BLE001
        pass
    print(json.dumps(out))


def main(argv):
    if len(argv) >= 1 and argv[0] == "prepare":
        prepare()
    elif len(argv) >= 1 and argv[0] == "facts":
        facts()
    elif len(argv) == 3 and argv[0] == "run":
        if argv[1] not in PEERS:
            sys.exit(f"unknown peer {argv[1]!r}; known: {', '.join(PEERS)}")
        out = run(argv[1], json.loads(argv[2]))
        sys.stdout.flush()
        print(json.dumps(out))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
