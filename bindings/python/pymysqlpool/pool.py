"""pymysql-pool 0.5.0's ConnectionPool, with the pool logic in libmysqlpool."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
import weakref
TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing when running

from . import _lib, _logging, metrics
from .connections import _LEASES, _connection_state, borrow_handle, borrowed_connection, pooled_connection_class, check_connect, make_pool_handle, split_connect_kwargs
# pymysql-pool defines both exceptions beside the pool: importable from here too.
from .err import GetConnectionFromPoolError, ReturnConnectionToPoolError  # noqa: F401

if TYPE_CHECKING:  # names for annotations only: nothing here is imported at run time
    from typing import Any, Iterator

    from .connections import Connection

logger = logging.getLogger("pymysqlpool")

# Bound once: checkout and return are the hot path of every pooled query.
# ctypes converts each argument of a call (about 0.1 us each): with the
# default retries, checkout is pool_take(pool) and return pool_return(conn).
_borrow = _lib.pool_borrow  # returns the handle: no out-parameter object per call
_take = _lib.pool_take
_last_error_code = _lib.pool_last_error_code
_return = _lib.pool_return
_debug_enabled = logger.isEnabledFor
# Logger.isEnabledFor memoizes its answers in the logger's _cache dict
# (cleared in place when levels change): a False found there skips the call,
# which costs as much as a tenth of a checkout. Anything else asks
# isEnabledFor.
_cached_answer = getattr(logger, "_cache", {}).get
_DEBUG = logging.DEBUG
_NEVER = 2**64 - 1  # pool_host_stats_t.role_age_ms: never learned
_DEFAULT_WAIT_MS = 300  # pymysql-pool's default 3 retries x 0.1 s
_NO_FLAGS = ctypes.c_uint32(0)
_PING = ctypes.c_uint32(_lib.POOL_GET_PING)


def _number(name, value):
    """A finite number >= 0 (seconds, a fraction) as the library's decimal
    text ("30", "0.25"); errors name the keyword."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not 0 <= number < float("inf"):
        raise ValueError(f"{name}: expected a number >= 0, got {value!r}")
    return f"{number:.6f}".rstrip("0").rstrip(".") or "0"



def _flag(value):
    return "1" if value else "0"


def _wait_ms(retry_num, retry_interval):
    """pymysql-pool's retries (at most 10) x interval, in milliseconds."""
    return int(min(retry_num, 10) * retry_interval * 1000)


def _giver_back(pool):
    """The close() of `pool`'s connections: back to the pool (discarded
    with discard=True). A closure over what it needs rather than a pool
    method, since it runs on every checkout: one call and the attribute
    loads fewer."""
    handle_arg, leak_detection = pool._handle_arg, pool._leak_detection
    forget_lease, discard_in = _LEASES.pop, _lib.pool_discard

    def close(connection, discard=False, detach_only=False):
        """Returns the connection to its pool (pymysql-pool's close()).
        detach_only: only the wrapper's side; the handle is returned for the
        caller to give back (pymysqlpool.aio does, without blocking)."""
        if connection._returned:
            raise ReturnConnectionToPoolError(f"this connection has already returned to the pool({pool.name})")
        connection._returned = True
        lease = connection._lease
        if lease is not None:
            forget_lease(lease, None)
            connection._lease = None
        handle, connection._handle = connection._handle, None
        if connection._result is not None:  # most checkouts never query: no key to add
            connection._result = None
        if handle is not None:  # None after a failed ping(reconnect=True)
            if leak_detection:
                _logging.forget_borrower(handle)
            if detach_only:
                return handle
            code = discard_in(handle_arg, handle) if discard else _return(handle)
            if code:
                _lib.raise_last(code)
        if _cached_answer(_DEBUG) is not False and _debug_enabled(_DEBUG):
            logger.debug("Put connection back to pool(%s)", pool.name)

    return close


class ConnectionPool:
    """A thread-safe pool of MySQL connections (pymysql-pool's API).

    size: connections kept; maxsize: hard cap; pre_create_num: opened now;
    con_lifetime: seconds before a connection is replaced (0: never);
    autocommit: the mode every connection is put back to on return.
    Other keywords are PyMySQL's connect() keywords.
    """

    maxsize: int
    name: str

    def __init__(self, size: int = 10, maxsize: int = 100, name: str | None = None, pre_create_num: int = 0,
                 con_lifetime: float = 3600, autocommit: bool = True,
                 *args: Any, pool_name: str | None = None, idle_timeout: float = 0, min_idle: int | None = None,
                 keepalive_interval: float = 0, validation_interval: float = 30, validate_socket: bool = True,
                 socket_check_after: float = 0.001, pre_ping: bool = False, reset_connection: bool = False,
                 lifetime_jitter: float = 0.025, leak_detection_threshold: float = 0,
                 ha_mode: str = "sequential", host_deny_time: float = 30, role_check_interval: float = 1,
                 **kwargs: Any) -> None:
        """Makes the pool and opens ``pre_create_num`` connections now.

        size: connections kept (at most maxsize); maxsize: hard cap on open
        connections; name (alias pool_name): the pool's name in logs and
        stats (default host-port-user-database); pre_create_num: connections
        opened now; con_lifetime: seconds before a connection is replaced (0:
        never), each shortened at random by up to lifetime_jitter (a
        fraction); autocommit: the mode every connection is put back to on
        return.

        Health: idle_timeout: seconds after which idle connections are
        closed, down to min_idle open ones (0: never); keepalive_interval:
        seconds after which idle connections are pinged in the background
        (0: never); validate_socket: peek at an idle connection's socket
        before checkout if it was not heard from for socket_check_after
        seconds; validation_interval: ping it first if not heard from for
        this many seconds; pre_ping: ping before every checkout;
        reset_connection: COM_RESET_CONNECTION on every return;
        leak_detection_threshold: seconds after which a borrowed connection
        is logged as a possible leak, with the borrower's stack (0: off).

        Several hosts: host="db1:3306,db2" (or a list); ha_mode
        "sequential" (failover in order), "loadbalance" (fewest connections
        first) or "replication" (the writable host is the primary;
        get_connection(readonly=True) prefers replicas); host_deny_time:
        seconds a host that failed is skipped; role_check_interval: seconds
        between the background questions of each host's role (replication
        and loadbalance; 0: only at connect and after a refused write).

        Every other keyword is a PyMySQL connect() keyword (host, port, user,
        password, database, charset, cursorclass, ssl, ...; see
        pymysqlpool.connect). A failed connect raises OperationalError.
        """
        if args:
            raise TypeError("ConnectionPool takes connection settings as keyword arguments only")
        if "max_size" in kwargs:
            raise TypeError("ConnectionPool() got an unexpected keyword argument 'max_size': "
                            "it was renamed to 'maxsize' in pymysql-pool 0.3.7, use maxsize=...")
        name = name or pool_name
        pairs, options = split_connect_kwargs(kwargs)
        options.autocommit = autocommit
        self._options = options
        self.maxsize = maxsize
        self._size = size
        self._autocommit = autocommit
        self.name = name or "-".join([str(kwargs.get("host", "localhost")), str(kwargs.get("port", 3306)),
                                      str(kwargs.get("user", "")), str(kwargs.get("database", ""))])
        # pymysql-pool never checked size <= maxsize (and then opened up to
        # size, past maxsize); here maxsize is the hard cap and size follows it.
        pairs.update({
            "size": str(min(size, maxsize)), "maxsize": str(maxsize), "pre_create_num": str(min(pre_create_num, maxsize)),
            "con_lifetime": str(max(0, int(con_lifetime))), "autocommit": "1" if autocommit else "0",
            "name": self.name,
            # pymysql-pool keeps connections above size idle until con_lifetime.
            "close_overflow": "0",
            "idle_timeout": _number("idle_timeout", idle_timeout),
            "keepalive_interval": _number("keepalive_interval", keepalive_interval),
            "validation_interval": _number("validation_interval", validation_interval),
            "validate_socket": _flag(validate_socket),
            "socket_check_after": _number("socket_check_after", socket_check_after), "pre_ping": _flag(pre_ping),
            "reset_connection": _flag(reset_connection), "lifetime_jitter": _number("lifetime_jitter", lifetime_jitter),
            "leak_detection_threshold": _number("leak_detection_threshold", leak_detection_threshold),
            "ha_mode": str(ha_mode), "host_deny_time": _number("host_deny_time", host_deny_time),
            "role_check_interval": _number("role_check_interval", role_check_interval),
            # What get_connection() waits with its default retries, for pool_take.
            "get_timeout": str(_DEFAULT_WAIT_MS), "overflow_after": str(_DEFAULT_WAIT_MS),
        })
        if min_idle is not None:
            pairs["min_idle"] = str(int(min_idle))
        self._leak_detection = leak_detection_threshold > 0
        _logging.route_library_messages()
        self._pairs = pairs
        self._handle = make_pool_handle(pairs)
        self._finalizer = weakref.finalize(self, _lib.pool_destroy, self._handle)
        self._handle_arg = ctypes.c_void_p(self._handle)
        give_back = _giver_back(self)
        self._connection_class = pooled_connection_class(
            dict(_connection_state(options), _pool=self, _pool_handle=self._handle, _pairs=pairs, close=give_back,
                 _give_back=give_back))
        for _ in range(self._stats().created):
            logger.debug("Create new connection in pool(%s)", self.name)

    def get_connection(self, retry_num: int = 3, retry_interval: float = 0.1, pre_ping: bool = False,
                       readonly: bool = False) -> Connection:
        """A connection: idle, new below size, or, after waiting
        retry_num * retry_interval seconds, new up to maxsize; else
        GetConnectionFromPoolError. readonly (ha_mode="replication"): a
        replica's connection when one answers, the primary's otherwise."""
        if (_cached_answer(_DEBUG) is not False and _debug_enabled(_DEBUG)) or readonly:
            return self._get_connection_logged(retry_num, retry_interval, pre_ping, readonly)
        if retry_num == 3 and retry_interval == 0.1 and not pre_ping:
            handle = _take(self._handle_arg)
        else:
            wait = _wait_ms(retry_num, retry_interval)
            handle = _borrow(self._handle_arg, wait, wait, _PING if pre_ping else _NO_FLAGS)
        if handle is None:
            check_connect(_last_error_code(), self._pairs)
        if self._leak_detection:
            _logging.remember_borrower(handle)
        return borrowed_connection(self._connection_class, handle, self._handle)

    get_conn = get_connection

    def _get_connection_logged(self, retry_num, retry_interval, pre_ping, readonly=False):
        """get_connection off the fast path: with pymysql-pool's debug log
        lines, or for a read-only connection."""
        created = self._stats().created
        wait = _wait_ms(retry_num, retry_interval)
        flags = (_lib.POOL_GET_PING if pre_ping else 0) | (_lib.POOL_GET_READONLY if readonly else 0)
        handle = borrow_handle(self._handle_arg, self._pairs, wait, flags)
        for _ in range(self._stats().created - created):
            logger.debug("Create new connection in pool(%s)", self.name)
        logger.debug("Get connection from pool(%s)", self.name)
        if self._leak_detection:
            _logging.remember_borrower(handle)
        return borrowed_connection(self._connection_class, handle, self._handle)

    def release(self, connection: Connection) -> None:
        """Returns a connection to the pool (same as connection.close())."""
        connection.close()

    @contextlib.contextmanager
    def connection(self, retry_num: int = 3, retry_interval: float = 0.1, pre_ping: bool = False) -> Iterator[Connection]:
        """``with pool.connection() as conn:`` borrows and always gives back
        (get_connection()'s arguments)."""
        connection = self.get_connection(retry_num, retry_interval, pre_ping)
        with connection:
            yield connection

    @property
    def available_num(self) -> int:
        """Idle connections right now."""
        return self._stats().idle

    @property
    def total_num(self) -> int:
        """Open connections, idle and borrowed."""
        return self._stats().total

    def _stats(self):
        stats = _lib.Stats()
        _lib.check(_lib.pool_stats(self._handle, ctypes.byref(stats), ctypes.sizeof(stats)))
        return stats

    def stats_text(self) -> str:
        """The stats in Prometheus text exposition format (see pymysqlpool.metrics)."""
        return metrics.stats_text(self)

    def host_stats(self) -> list[dict[str, Any]]:
        """Per host of the pool's host list: host, port, connections (open
        now), connects, failures, denied_for (seconds left on the deny
        list), read_only (True/False, None before a replication check),
        synced (Galera: True/False, None if not known or not Galera),
        role_age (seconds since read_only/synced were learned, None never)
        and borrows (connections to it handed out, several hosts only)."""
        hosts = []
        entry = _lib.HostStats()
        while True:
            code = _lib.pool_host_stats(self._handle, len(hosts), ctypes.byref(entry), ctypes.sizeof(entry))
            if code == _lib.POOL_DONE:
                return hosts
            _lib.check(code)
            hosts.append({"host": entry.host.decode("utf-8", "replace"), "port": entry.port,
                          "connections": entry.connections, "connects": entry.connects,
                          "failures": entry.failures, "denied_for": entry.denied_ms / 1000,
                          "read_only": None if entry.read_only < 0 else bool(entry.read_only),
                          "synced": None if entry.synced < 0 else bool(entry.synced),
                          "role_age": None if entry.role_age_ms == _NEVER else entry.role_age_ms / 1000,
                          "borrows": entry.borrows})

    def stats(self) -> dict[str, int]:
        """The pool's counters as a dict: gauges (total, idle, in_use,
        opening, waiting, size, maxsize) and counters since the pool was
        made (created, gets, releases, timeouts, closed_* by reason, ...)."""
        stats = self._stats()
        return {name: getattr(stats, name) for name, _ in _lib.Stats._fields_ if name != "struct_size"}

    def close(self) -> None:
        """Closes idle connections now and borrowed ones when they come back;
        later get_connection() calls raise GetConnectionFromPoolError."""
        _lib.pool_close(self._handle)

    # pymysql-pool 0.4.3 renamed these; properties, not __getattr__, which
    # would slow down every attribute access on the pool.
    @property
    def size(self):
        raise AttributeError("'ConnectionPool' has no attribute 'size': pymysql-pool 0.4.3 renamed it to 'available_num'")

    @property
    def connection_num(self):
        raise AttributeError("'ConnectionPool' has no attribute 'connection_num': pymysql-pool 0.4.3 renamed it "
                             "to 'total_num'")

    def __repr__(self):
        return f"<pymysqlpool.ConnectionPool {self.name!r} size={self._size} maxsize={self.maxsize}>"


class ConnectionPoolSingleton(ConnectionPool):
    """One pool per process: later calls return the first instance untouched
    (pymysql-pool 0.5.0 re-ran __init__ and wiped it)."""

    _instance = None
    _lock = threading.Lock()

    def __new__(cls, *args: Any, **kwargs: Any) -> ConnectionPoolSingleton:
        with cls._lock:
            if cls._instance is None:
                instance = super().__new__(cls)
                instance.__init__(*args, **kwargs)
                instance._initialized = True
                cls._instance = instance
            return cls._instance

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if getattr(self, "_initialized", False):
            return
        super().__init__(*args, **kwargs)
