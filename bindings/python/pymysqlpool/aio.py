"""aiomysql's API on libmysqlpool, for asyncio: the event loop never waits
for the server.

    import pymysqlpool.aio as aiomysql

    pool = await aiomysql.create_pool(host="127.0.0.1", user="app", password="secret", db="test")
    async with pool.acquire() as conn:
        async with conn.cursor() as cur:
            await cur.execute("SELECT 42")
            print(await cur.fetchone())
    pool.close()
    await pool.wait_closed()

A borrow waits in the pool's one first-come first-served queue, shared with
threads using the same pool, and is woken through a descriptor the loop
watches (pool_get_conn_start); statements run through the library's
non-blocking calls (pool_query_start, pool_store_result_start), so the loop
only ever waits in its own selector. Values, types, escaping and exceptions
are PyMySQL's, as in the blocking binding (aiomysql uses PyMySQL's too).

SSCursor streams: rows come in batches (growing from 1 to 1000 rows)
through pool_result_fetch_pickle_start. Giving a connection back resets it without
blocking either (pool_return_start: a ROLLBACK of an open transaction,
unread rows drained); most releases need no round trip and finish at once.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import types

from . import _lib, connections, cursors as _cursors, err
from .connections import _OUT, borrowed_connection
from .pool import ConnectionPool as _BlockingPool

__all__ = ["Connection", "Cursor", "DictCursor", "Pool", "SSCursor", "SSDictCursor", "connect", "create_pool"]

_WAIT = _lib.POOL_WAIT
# aiomysql's acquire() waits until served; a task gives up by being cancelled.
_FOREVER_MS = 315_360_000_000
_READ, _WRITE, _TIMEOUT = _lib.POOL_IO_READ, _lib.POOL_IO_WRITE, _lib.POOL_IO_TIMEOUT
_QUEUED = _lib.POOL_IO_QUEUED


async def _ready(io):
    """Waits in the loop for what a non-blocking call asked (io: an IO);
    the POOL_IO_* bit of what happened."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    fd, events = io.fd, io.events

    def happened(bit):
        if not future.done():
            future.set_result(bit)

    if events & _READ:
        loop.add_reader(fd, happened, _READ)
    if events & _WRITE:
        loop.add_writer(fd, happened, _WRITE)
    timer = loop.call_later(max(io.timeout_ms, 0) / 1000, happened, _TIMEOUT) if _finite_timeout(io) else None
    try:
        return await future
    finally:
        if events & _READ:
            loop.remove_reader(fd)
        if events & _WRITE:
            loop.remove_writer(fd)
        if timer is not None:
            timer.cancel()


@types.coroutine
def _yield():
    """Lets the loop run the other tasks once (asyncio.sleep(0), one call
    cheaper)."""
    yield


async def _finish(handle, code, io, out=None):
    """Drives the non-blocking operation in progress on the connection
    `handle` (code: its start's status) to its end; its final status.
    A statement's answer usually arrives while the loop runs the other
    tasks once, so the first wait for it is a plain yield: one early call
    costs a failed recv(), far less than watching the socket. A task
    cancelled meanwhile leaves the operation in progress: the library closes
    the connection when it is given back."""
    if code == 0:  # answered within the call: still one turn for the other tasks (see _query)
        await _yield()
    elif code == _WAIT and io.events & _READ and not io.events & _WRITE:
        await _yield()
        code = _lib.pool_continue(handle, _READ, ctypes.byref(io), out)
    while code == _WAIT:
        code = _lib.pool_continue(handle, await _ready(io), ctypes.byref(io), out)
    return code


async def _borrow_alone(wait, io):
    """Goes on with a borrow (wait: its handle) by watching its own fd until
    it ends: a connection handle, or its error raised; a task cancelled
    meanwhile leaves the queue (or gives back what it was handed)."""
    conn, code = ctypes.c_void_p(), _WAIT
    try:
        while code == _WAIT:
            await _ready(io)
            code = _lib.pool_get_conn_continue(wait, ctypes.byref(conn), ctypes.byref(io))
    except BaseException:
        if code == _WAIT:
            _lib.pool_get_conn_cancel(wait)
        raise
    _lib.check(code)
    return conn.value


class _Waiter:
    __slots__ = ("wait", "io", "future")

    def __init__(self, wait, io, future):
        self.wait, self.io, self.future = wait, io, future


class _BorrowQueue:
    """The borrows of one pool that wait in its queue, in the order they
    queued. The library serves them in that order, so only the oldest one's
    fd is watched, and only when a loop iteration passed without a release
    here serving it (under load every release does, so the loop registers
    about one fd an iteration instead of one a borrow). A served borrow is
    handed its outcome; then the next ones are tried until one still
    waits."""

    def __init__(self, pool_handle):
        self._pool_handle = pool_handle
        self._waiters = collections.deque()
        self._watched = None
        self._watched_fd = -1
        self._watch_pending = False
        self._loop = None
        # A start never awaits before its out-parameters are read: one set.
        self._conn, self._wait, self._io = ctypes.c_void_p(), ctypes.c_void_p(), _lib.IO()
        self._conn_ref, self._wait_ref = ctypes.byref(self._conn), ctypes.byref(self._wait)
        self._io_ref = ctypes.byref(self._io)

    def take(self):
        """A connection handle at once, or None when the borrow waits (then
        call borrow(), which goes on with it)."""
        code = _lib.pool_get_conn_start(self._pool_handle, _FOREVER_MS, 0, self._conn_ref, self._wait_ref,
                                        self._io_ref)
        if code == _WAIT:
            return None
        if code:
            _lib.raise_last(code)
        return self._conn.value

    async def borrow(self):
        """After take() returned None: the connection handle, waiting for it."""
        io = self._io
        io = _lib.IO(io.fd, io.events, io.timeout_ms)  # the shared one is the next borrow's
        wait = self._wait
        if not io.events & _QUEUED or _finite_timeout(io):
            return await _borrow_alone(wait.value, io)
        self._loop = loop = asyncio.get_running_loop()
        waiter = _Waiter(wait.value, io, loop.create_future())
        self._waiters.append(waiter)
        self._watch_soon()
        try:
            code, handle = await waiter.future
        except BaseException:
            self._abandon(waiter)
            raise
        if code == _WAIT:  # handed to a helper thread (a ping, a new connection)
            return await _borrow_alone(waiter.wait, waiter.io)
        if code:
            raise handle  # the error, kept by serve()
        return handle

    def serve(self):
        """Hands every borrow the pool has served its outcome, oldest first."""
        waiters, conn = self._waiters, self._conn
        while waiters:
            waiter = waiters[0]
            code = _lib.pool_get_conn_continue(waiter.wait, self._conn_ref, ctypes.byref(waiter.io))
            if code == _WAIT and waiter.io.events & _QUEUED:
                break
            waiters.popleft()
            self._unwatch(waiter)
            outcome = (code, conn.value)
            if code != _WAIT and code != 0:
                outcome = (code, _error_of(code))
            if waiter.future.cancelled():
                _give_up(waiter, outcome)
            else:
                waiter.future.set_result(outcome)
        if waiters and waiters[0] is not self._watched:
            self._watch_soon()

    def _abandon(self, waiter):
        """The task waiting on `waiter` was cancelled."""
        future = waiter.future
        if future.done() and not future.cancelled():
            _give_up(waiter, future.result())  # served just before the cancel
            return
        try:
            self._waiters.remove(waiter)
        except ValueError:
            return  # serve() found it cancelled and gave up for it
        self._unwatch(waiter)
        _lib.pool_get_conn_cancel(waiter.wait)
        if self._waiters:
            self._watch_soon()

    def _watch_soon(self):
        if not self._watch_pending:
            self._watch_pending = True
            self._loop.call_soon(self._watch_oldest)

    def _watch_oldest(self):
        self._watch_pending = False
        oldest = self._waiters[0] if self._waiters else None
        if oldest is not self._watched:
            if self._watched is not None:
                self._unwatch(self._watched)
            if oldest is not None:
                self._watched_fd = oldest.io.fd  # the io is overwritten once the borrow ends
                self._loop.add_reader(self._watched_fd, self.serve)
                self._watched = oldest

    def _unwatch(self, waiter):
        if self._watched is waiter:
            self._loop.remove_reader(self._watched_fd)
            self._watched = None


def _error_of(code):
    """The exception of a failed call (status `code`), as _lib.check raises it."""
    try:
        _lib.check(code)
    except Exception as error:  # noqa: BLE001 - returned to raise in the waiting task
        return error
    return None


def _give_up(waiter, outcome):
    """A cancelled borrow's outcome goes back: a connection to the pool, a
    helper's work cancelled."""
    code, handle = outcome
    if code == 0:
        _lib.pool_return(handle)
    elif code == _WAIT:
        _lib.pool_get_conn_cancel(waiter.wait)


def _finite_timeout(io):
    return io.events & _TIMEOUT and io.timeout_ms < _FOREVER_MS // 2


def _done(loop, code=0):
    """A finished future: None, or the error of status `code`."""
    future = loop.create_future()
    try:
        _lib.check(code)
        future.set_result(None)
    except Exception as error:  # noqa: BLE001 - handed to the awaiting caller
        future.set_exception(error)
    return future


class _ContextManager:
    """aiomysql's: an awaitable that is also an async context manager (for
    ``await pool.acquire()`` and ``async with pool.acquire() as conn``)."""

    def __init__(self, coro, exit_action=None):
        self._coro = coro
        self._obj = None
        self._exit_action = exit_action

    def __await__(self):
        return self._coro.__await__()

    async def __aenter__(self):
        self._obj = await self._coro
        return self._obj

    async def __aexit__(self, exc_type, exc, tb):
        if self._exit_action is not None:
            await self._exit_action(self._obj)
        self._obj = None


class _Made:
    """aiomysql's context manager for a cursor, made at once: awaiting it
    gives the cursor, ``async with`` closes it at the end."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor):
        self._cursor = cursor

    def __await__(self):
        return self._cursor
        yield  # noqa: unreachable - makes __await__ a generator, finished at once

    async def __aenter__(self):
        return self._cursor

    async def __aexit__(self, exc_type, exc, tb):
        await self._cursor.close()


class Cursor:
    """aiomysql.Cursor: ``await cur.execute(...)``, ``await cur.fetchone()``.
    Rows, types and description come from the blocking binding's cursor."""

    _blocking_class = _cursors.Cursor
    _unbuffered = False

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._cursor = self._blocking_class(connection._blocking)

    @property
    def connection(self):
        return self._connection

    def __getattr__(self, name):  # rowcount, lastrowid, description, arraysize, rownumber, _executed
        return getattr(self._cursor, name)

    @property
    def closed(self) -> bool:
        return self._cursor.connection is None

    async def execute(self, query, args=None) -> int:
        cursor = self._cursor
        cursor._get_db()  # a closed cursor raises here, as PyMySQL's
        if args is not None:
            query = cursor._mogrify(query, args)
        await self._connection._query(query, self._unbuffered)
        cursor._do_get_result()
        if self._unbuffered:
            cursor._buffer, cursor._buffer_index = [], 0
        cursor._executed = query
        return cursor.rowcount

    async def executemany(self, query, args):
        if not args:
            return None
        statements = self._cursor._multi_row_statements(query, args)
        if statements is None:
            rows = 0
            for arg in args:
                rows += await self.execute(query, arg)
        else:
            rows = 0
            for statement in list(statements):
                rows += await self.execute(statement)
        self._cursor.rowcount = rows
        return rows

    def mogrify(self, query, args=None):
        return self._cursor.mogrify(query, args)

    async def fetchone(self):
        return self._cursor.fetchone()

    async def fetchmany(self, size=None):
        return self._cursor.fetchmany(size)

    async def fetchall(self):
        return self._cursor.fetchall()

    async def scroll(self, value, mode="relative"):
        self._cursor.scroll(value, mode)

    async def close(self):
        self._cursor.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, exc_type, exc, tb):
        await self.close()

    def __aiter__(self):
        return self

    async def __anext__(self):
        row = await self.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row


class DictCursor(Cursor):
    """Rows as dictionaries."""

    _blocking_class = _cursors.DictCursor


class SSCursor(Cursor):
    """aiomysql's unbuffered cursor: rows are read from the server as they
    are fetched, a batch at a time, without blocking the loop."""

    _blocking_class = _cursors.SSCursor
    _unbuffered = True
    _batch = 1

    async def execute(self, query, args=None) -> int:
        self._batch = 1
        return await super().execute(query, args)

    async def _refill(self):
        """Reads the next batch when the blocking cursor's buffer is used up,
        so its fetchone() never has to read (and block) itself. A batch
        waits for all its rows, so batches start at one row and double up
        to 1000: the first rows come as soon as the server sends them."""
        cursor = self._cursor
        result = cursor._result
        if cursor._buffer_index >= len(cursor._buffer) and result is not None and result.handle is not None:
            cursor._buffer = await self._connection._read_unbuffered(result, self._batch)
            cursor._buffer_index = 0
            self._batch = min(self._batch * 2, 1000)

    async def fetchone(self):
        await self._refill()
        return self._cursor.fetchone()

    async def fetchmany(self, size=None):
        rows = []
        for _ in range(size or self._cursor.arraysize):
            row = await self.fetchone()
            if row is None:
                break
            rows.append(row)
        return rows

    async def fetchall(self):
        rows = []
        while (row := await self.fetchone()) is not None:
            rows.append(row)
        return rows

    async def scroll(self, value, mode="relative"):
        if mode == "absolute":
            value -= self._cursor.rownumber
        elif mode != "relative":
            self._cursor.scroll(value, mode)  # the ProgrammingError of PyMySQL's SSCursor
        if value < 0:
            raise err.NotSupportedError("Backwards scrolling not supported by this cursor")
        for _ in range(value):
            if await self.fetchone() is None:
                break

    async def close(self):
        """Reads and drops the rest of the result without blocking."""
        if self._cursor.connection is not None:
            await self._connection._drain(self._cursor._result)
        self._cursor.close()


class SSDictCursor(SSCursor):
    """SSCursor with rows as dictionaries."""

    _blocking_class = _cursors.SSDictCursor


class Connection:
    """aiomysql.Connection over a borrowed libmysqlpool connection."""

    def __init__(self, blocking, pool: Pool | None = None) -> None:
        self._blocking = blocking
        self._pool = pool
        self._closed = False
        # One operation at a time per connection: one set of out-parameters.
        self._io = _lib.IO()
        self._io_ref = ctypes.byref(self._io)
        self._result_handle = ctypes.c_void_p()
        self._result_ref = ctypes.byref(self._result_handle)

    def __getattr__(self, name):  # host, port, user, db, charset, encoding, thread_id(), escape(), ...
        return getattr(self._blocking, name)

    @property
    def closed(self) -> bool:
        return self._closed

    def cursor(self, *cursors):
        """``async with conn.cursor(DictCursor) as cur`` (or ``await``)."""
        cls = cursors[0] if cursors else Cursor
        if not (isinstance(cls, type) and issubclass(cls, Cursor)):
            cls = {"DictCursor": DictCursor, "SSCursor": SSCursor, "SSDictCursor": SSDictCursor}.get(
                getattr(cls, "__name__", ""), Cursor)

        return _Made(cls(self))

    async def _query(self, sql, unbuffered=False):
        """Runs one statement without blocking the loop; its result becomes
        the blocking connection's ``_result`` as its own query() would."""
        blocking = self._blocking
        handle = blocking._live()
        previous = blocking._result
        if previous is not None:
            await self._drain(previous)
            blocking._free(previous)
            blocking._result = None
        if isinstance(sql, str):
            sql = sql.encode(blocking.encoding, "surrogateescape")
        io_ref, result_ref = self._io_ref, self._result_ref
        code = _lib.pool_query_start(handle, sql, len(sql), io_ref)
        if code == _WAIT and self._io.events == _READ:  # _finish's first step, inline: the common case
            await _yield()
            code = _lib.pool_continue(handle, _READ, io_ref, None)
        elif code == 0:
            # Answered within the call (a server on this CPU runs as soon as
            # it is sent the statement): still one turn for the other tasks,
            # or a task with a loop of statements would hold the loop.
            await _yield()
        if code == _WAIT:
            code = await _finish(handle, code, self._io)
        if code:
            blocking._check(code)
        result_handle = self._result_handle
        if unbuffered:
            blocking._check(_lib.pool_use_result(handle, result_ref))  # no I/O: rows come later
            result = blocking._result = blocking._result_from(result_handle, True)
            blocking._affected_rows = result.affected_rows
            return result.affected_rows
        code = _lib.pool_store_result_start(handle, result_ref, io_ref)
        if code == _WAIT:  # rows still on their way
            code = await _finish(handle, code, self._io, result_ref)
        if code:
            blocking._check(code)
        if result_handle.value:  # rows: one call builds them all, as the blocking path's
            flags = blocking._pickle_flags
            if connections._ROWS_AS_OBJECTS:
                result = blocking._built(_lib.pool_result_outcome_objects(result_handle.value, flags), handle, flags)
            else:
                out = _OUT
                blocking._check(_lib.pool_result_outcome_pickle(result_handle.value, flags, out.data_ref,
                                                                out.length_ref))
                result = blocking._outcome(handle, flags)
        else:
            result = blocking._result_from(result_handle, False)
        blocking._result = result
        blocking._affected_rows = result.affected_rows
        return result.affected_rows

    async def _read_unbuffered(self, result, max_rows):
        """The next batch of a streaming result's rows, read without blocking
        (the blocking connection's _read_unbuffered, otherwise)."""
        blocking = self._blocking
        if result.handle is None:
            return []
        out, io = _OUT, _lib.IO()
        code = _lib.pool_result_fetch_pickle_start(result.handle, max_rows, blocking._pickle_flags, out.data_ref,
                                                   out.length_ref, out.rows_ref, ctypes.byref(io))
        while code == _WAIT:
            code = _lib.pool_result_fetch_pickle_continue(result.handle, await _ready(io), out.data_ref,
                                                          out.length_ref, out.rows_ref, ctypes.byref(io))
        blocking._check(code)
        rows = blocking._unpickled_rows(out.written(), result)
        blocking._batch_read(result, len(rows), max_rows)
        return rows

    async def _drain(self, result):
        """Reads and drops what is left of a streaming result, so freeing it
        does not block."""
        while result is not None and result.handle is not None and result.unbuffered:
            await self._read_unbuffered(result, 10_000)

    async def commit(self):
        await self._query(b"COMMIT")

    async def rollback(self):
        await self._query(b"ROLLBACK")

    async def begin(self):
        await self._query(b"BEGIN")

    async def autocommit(self, value):
        await self._query(b"SET AUTOCOMMIT = 1" if value else b"SET AUTOCOMMIT = 0")

    def get_autocommit(self):
        return self._blocking.get_autocommit()

    async def select_db(self, db):
        await self._query(b"USE `" + db.encode(self._blocking.encoding).replace(b"`", b"``") + b"`")
        self._blocking.db = db

    async def ping(self, reconnect=True):
        handle = self._blocking._live()
        # A task cancelled while it waits leaves the ping in progress: the
        # library closes the connection when it is given back.
        code = await _finish(handle, _lib.pool_ping_start(handle, self._io_ref), self._io)
        if code:
            self._blocking._check(code)

    def close(self):
        """Closes the connection now (as aiomysql's close(): never reused)."""
        if self._closed:
            return
        self._closed = True
        if self._pool is not None:
            self._pool._forget(self)
        self._blocking._give_back(discard=True)
        private = self.__dict__.get("_private_pool")
        if private is not None:  # connect()'s pool of one goes with it
            private._pool.close()

    async def ensure_closed(self):
        self.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, exc_type, exc, tb):
        if self._pool is not None:
            await self._pool.release(self)
        else:
            self.close()


class Pool:
    """aiomysql.Pool: ``async with pool.acquire() as conn``; size counts open
    connections, freesize the idle ones."""

    def __init__(self, blocking: _BlockingPool, minsize: int, maxsize: int, echo: bool) -> None:
        self._pool = blocking
        self._minsize = minsize
        self._maxsize = maxsize
        self.echo = echo
        self._used = set()
        self._queue = _BorrowQueue(blocking._handle)
        self._done_future = None
        self._returning = set()
        self._closing = False
        self._closed = False
        self._released = asyncio.Event()

    @property
    def minsize(self) -> int:
        return self._minsize

    @property
    def maxsize(self) -> int:
        return self._maxsize

    @property
    def size(self) -> int:
        return self._pool._stats().total

    @property
    def freesize(self) -> int:
        return self._pool._stats().idle

    @property
    def closed(self) -> bool:
        return self._closed

    def stats(self):
        return self._pool.stats()

    def acquire(self):
        return _ContextManager(self._acquire(), self.release)

    async def _acquire(self):
        if self._closing:
            raise RuntimeError("Cannot acquire connection after closing pool")
        pool = self._pool
        handle = self._queue.take()
        if handle is None:
            handle = await self._queue.borrow()
        connection = Connection(borrowed_connection(pool._connection_class, handle, pool._handle), self)
        self._used.add(connection)
        return connection

    def release(self, conn):
        """Gives ``conn`` back; returns a future (await it, or not). The
        reset runs without blocking; a connection still being reset counts
        as used (wait_closed waits for it)."""
        if conn._closed or conn not in self._used:
            return self._released_now()
        conn._closed = True
        handle = conn._blocking._give_back(detach_only=True)
        code = _lib.pool_return_start(handle, conn._io_ref) if handle is not None else 0
        if code != _WAIT:
            self._forget(conn)
            return self._released_now() if code == 0 else _done(asyncio.get_running_loop(), code)
        task = asyncio.get_running_loop().create_task(self._finish_return(conn, handle, conn._io))
        self._returning.add(task)  # the loop holds tasks weakly: kept until done
        task.add_done_callback(self._returning.discard)
        return task

    def _released_now(self):
        """The finished future release() returns when nothing was left to
        wait for: one per loop, awaited any number of times."""
        loop = asyncio.get_running_loop()
        future = self._done_future
        if future is None or future.get_loop() is not loop:
            future = self._done_future = _done(loop)
        return future

    async def _finish_return(self, conn, handle, io):
        code = _WAIT
        try:
            code = await _finish(handle, code, io)
        finally:
            if code == _WAIT:  # cancelled mid-reset: closed instead
                _lib.pool_discard(self._pool._handle_arg, handle)
            self._forget(conn)
        _lib.check(code)

    def _forget(self, conn):
        """conn is back (or closed): a borrow waiting here may have it now."""
        self._used.discard(conn)
        if not self._used:
            self._released.set()
        self._queue.serve()

    def close(self):
        """No new acquires; wait_closed() waits for the borrowed ones."""
        self._closing = True

    def terminate(self):
        """Closes every borrowed connection now, then the pool."""
        self._closing = True
        for conn in list(self._used):
            conn.close()

    async def wait_closed(self):
        if not self._closing:
            raise RuntimeError("wait_closed() should be called after close()")
        while self._used:
            self._released.clear()
            await self._released.wait()
        if not self._closed:
            self._closed = True
            await asyncio.get_running_loop().run_in_executor(None, self._pool.close)

    async def clear(self):
        """Closes the idle connections (kept for aiomysql compatibility: the
        pool's own idle_timeout does this continuously)."""

    async def __aenter__(self):
        return self

    async def __aexit__(self, exc_type, exc, tb):
        self.close()
        await self.wait_closed()


def create_pool(minsize=1, maxsize=10, echo=False, pool_recycle=-1, loop=None, **kwargs):
    """aiomysql.create_pool: ``pool = await create_pool(...)`` or
    ``async with create_pool(...) as pool``. minsize connections are opened
    first (on the loop's executor: the loop keeps running), up to maxsize are
    kept; pool_recycle (seconds, -1: never) is con_lifetime. Our pool
    keywords (idle_timeout, pre_ping, ha_mode, ...) are accepted too."""

    kwargs.setdefault("autocommit", False)  # aiomysql's default (PEP 249's), not pymysql-pool's

    async def make():
        def build():
            return _BlockingPool(size=maxsize, maxsize=maxsize, pre_create_num=min(minsize, maxsize),
                                 con_lifetime=pool_recycle if pool_recycle and pool_recycle > 0 else 0,
                                 min_idle=min(minsize, maxsize), **kwargs)

        blocking = await asyncio.get_running_loop().run_in_executor(None, build)
        return Pool(blocking, minsize, maxsize, echo)

    return _PoolContextManager(make())


class _PoolContextManager(_ContextManager):
    async def __aexit__(self, exc_type, exc, tb):
        self._obj.close()
        await self._obj.wait_closed()
        self._obj = None


def connect(loop=None, **kwargs):
    """aiomysql.connect: one connection (a private pool of one behind it)."""

    async def make():
        pool = await create_pool(minsize=1, maxsize=1, **kwargs)
        conn = await pool.acquire()
        conn._pool = None
        conn._private_pool = pool
        return conn

    return _ContextManager(make())


class cursors:  # noqa: N801 - aiomysql's module of that name, as SQLAlchemy reads it
    Cursor, DictCursor, SSCursor, SSDictCursor = Cursor, DictCursor, SSCursor, SSDictCursor


# PyMySQL's exceptions, as aiomysql re-exports them.
Error, MySQLError, Warning = err.Error, err.MySQLError, err.Warning  # noqa: A001
InterfaceError, DatabaseError, DataError = err.InterfaceError, err.DatabaseError, err.DataError
OperationalError, IntegrityError, InternalError = err.OperationalError, err.IntegrityError, err.InternalError
ProgrammingError, NotSupportedError = err.ProgrammingError, err.NotSupportedError
