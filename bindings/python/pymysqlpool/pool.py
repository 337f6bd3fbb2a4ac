"""pymysql-pool 0.5.0's ConnectionPool, with the pool logic in libmysqlpool."""

import contextlib
import ctypes
import logging
import threading
import weakref

from . import _lib
from .connections import Connection, check_connect, make_pool_handle, split_connect_kwargs
# pymysql-pool defines both exceptions beside the pool: importable from here too.
from .err import GetConnectionFromPoolError, ReturnConnectionToPoolError  # noqa: F401

logger = logging.getLogger("pymysqlpool")

_RENAMED_ATTRIBUTES = {"size": "available_num", "connection_num": "total_num"}


class ConnectionPool:
    """A thread-safe pool of MySQL connections (pymysql-pool's API).

    size: connections kept; maxsize: hard cap; pre_create_num: opened now;
    con_lifetime: seconds before a connection is replaced (0: never);
    autocommit: the mode every connection is put back to on return.
    Other keywords are PyMySQL's connect() keywords.
    """

    def __init__(self, size=10, maxsize=100, name=None, pre_create_num=0, con_lifetime=3600, autocommit=True,
                 *args, pool_name=None, **kwargs):
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
        })
        self._pairs = pairs
        self._handle = make_pool_handle(pairs)
        self._finalizer = weakref.finalize(self, _lib.pool_destroy, self._handle)
        for _ in range(self._stats().created):
            logger.debug("Create new connection in pool(%s)", self.name)

    def get_connection(self, retry_num=3, retry_interval=0.1, pre_ping=False):
        """A connection: idle, new below size, or, after waiting
        retry_num * retry_interval seconds, new up to maxsize; else
        GetConnectionFromPoolError."""
        wait_ms = int(min(retry_num, 10) * retry_interval * 1000)
        handle = ctypes.c_void_p()
        flags = _lib.POOL_GET_PING if pre_ping else 0
        debug = logger.isEnabledFor(logging.DEBUG)
        created = self._stats().created if debug else 0
        code = _lib.pool_get_conn_ex(self._handle, wait_ms, wait_ms, flags, ctypes.byref(handle))
        if code:
            check_connect(code, self._pairs)
        if debug:
            for _ in range(self._stats().created - created):
                logger.debug("Create new connection in pool(%s)", self.name)
            logger.debug("Get connection from pool(%s)", self.name)
        return Connection._borrowed(self, handle.value, self._options)

    get_conn = get_connection

    def _put_connection(self, connection, discard=False):
        if connection._returned:
            raise ReturnConnectionToPoolError(f"this connection has already returned to the pool({self.name})")
        connection._returned = True
        connection._finalizer.detach()
        handle, connection._handle = connection._handle, None
        connection._result = None
        if handle is not None:  # None after a failed ping(reconnect=True)
            code = (_lib.pool_discard if discard else _lib.pool_release)(self._handle, handle)
            if code:
                _lib.raise_last(code)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("Put connection back to pool(%s)", self.name)

    def release(self, connection):
        """Returns a connection to the pool (same as connection.close())."""
        connection.close()

    @contextlib.contextmanager
    def connection(self, retry_num=3, retry_interval=0.1, pre_ping=False):
        """``with pool.connection() as conn:`` borrows and always gives back."""
        connection = self.get_connection(retry_num, retry_interval, pre_ping)
        with connection:
            yield connection

    @property
    def available_num(self):
        """Idle connections right now."""
        return self._stats().idle

    @property
    def total_num(self):
        """Open connections, idle and borrowed."""
        return self._stats().total

    def _stats(self):
        stats = _lib.Stats()
        _lib.check(_lib.pool_stats(self._handle, ctypes.byref(stats), ctypes.sizeof(stats)))
        return stats

    def stats(self):
        """The pool's counters as a dict."""
        stats = self._stats()
        return {name: getattr(stats, name) for name, _ in _lib.Stats._fields_ if name != "struct_size"}

    def close(self):
        """Closes idle connections now and borrowed ones when they come back;
        later get_connection() calls raise GetConnectionFromPoolError."""
        _lib.pool_close(self._handle)

    def __getattr__(self, name):
        if name in _RENAMED_ATTRIBUTES:
            raise AttributeError(f"'ConnectionPool' has no attribute '{name}': pymysql-pool 0.4.3 renamed it "
                                 f"to '{_RENAMED_ATTRIBUTES[name]}'")
        raise AttributeError(f"'ConnectionPool' object has no attribute '{name}'")

    def __repr__(self):
        return f"<pymysqlpool.ConnectionPool {self.name!r} size={self._size} maxsize={self.maxsize}>"


class ConnectionPoolSingleton(ConnectionPool):
    """One pool per process: later calls return the first instance untouched
    (pymysql-pool 0.5.0 re-ran __init__ and wiped it)."""

    _instance = None
    _lock = threading.Lock()

    def __new__(cls, *args, **kwargs):
        with cls._lock:
            if cls._instance is None:
                instance = super().__new__(cls)
                instance.__init__(*args, **kwargs)
                instance._initialized = True
                cls._instance = instance
            return cls._instance

    def __init__(self, *args, **kwargs):
        if getattr(self, "_initialized", False):
            return
        super().__init__(*args, **kwargs)
