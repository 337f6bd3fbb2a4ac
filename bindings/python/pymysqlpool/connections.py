"""A PyMySQL-compatible Connection over a libmysqlpool connection handle."""

from __future__ import annotations

import ctypes
import os
import pickle
import struct
import threading
import warnings
import weakref
TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing when running

from . import _lib, _logging, converters, err
from .constants import FIELD_TYPE
from . import cursors
from .cursors import Cursor

if TYPE_CHECKING:  # names for annotations only: nothing here is imported at run time
    from types import TracebackType
    from typing import Any, Sequence, TypeVar, overload

    _C = TypeVar("_C", bound=Cursor)
    _ConnectionT = TypeVar("_ConnectionT", bound="Connection")

# PyMySQL's text types: decoded by charset unless the collation is binary.
TEXT_TYPES = {
    FIELD_TYPE.BIT, FIELD_TYPE.BLOB, FIELD_TYPE.LONG_BLOB, FIELD_TYPE.MEDIUM_BLOB, FIELD_TYPE.STRING,
    FIELD_TYPE.TINY_BLOB, FIELD_TYPE.VAR_STRING, FIELD_TYPE.VARCHAR, FIELD_TYPE.GEOMETRY,
}
_MBLENGTH = {8: 1, 33: 3, 88: 2, 91: 2}  # PyMySQL's display-length divisors
_UTF8_ENCODINGS = {"utf8", "utf-8"}
# Errors after which PyMySQL has closed its socket.
LINK_LOST_ERRNOS = {1053, 1927, 2006, 2013, 2014, 2055, 4031}
UNBUFFERED_AFFECTED_ROWS = 18446744073709551615  # what PyMySQL reports while streaming
_BATCH_ROWS = 1000  # rows per foreign call when streaming
_STATEMENTS_PER_LEASE = 256  # statement handles a connection keeps per lease
_loads = pickle.loads
_dumps = pickle.dumps
_query_pickle = _lib.pool_query_pickle
_query_objects = _lib.pool_query_objects
_query_objects_more = _lib.pool_query_objects_more


def _rows_as_objects():
    """How a buffered statement's rows reach Python: built by the library
    as Python objects (CPython), or unpickled (PYMYSQLPOOL_ROWS=pickle, and
    other interpreters). Both stream the rows in batches, the next read
    ahead on a second CPU. Issue 18's A/B kept the objects: 1.09x the
    pickle's bulk and point rates on one CPU, level or ahead across two,
    the same peak RSS."""
    return _lib.PYTHON_OBJECTS and os.environ.get("PYMYSQLPOOL_ROWS", "") != "pickle"


_ROWS_AS_OBJECTS = _rows_as_objects()
_MORE_RESULTS = _lib.STATUS_MORE_RESULTS
_char = ctypes.c_char


class _OutParameters(threading.local):
    """The out-parameters of the pickle calls, and their byref()s, made once
    per thread: every call fills them and they are read right after it, so a
    thread never needs two sets, and a checkout makes none."""

    def __init__(self):
        self.data = ctypes.c_void_p()
        self.length = ctypes.c_size_t()
        self.rows = ctypes.c_uint64()
        self.data_ref = ctypes.byref(self.data)
        self.length_ref = ctypes.byref(self.length)
        self.rows_ref = ctypes.byref(self.rows)

    def written(self):
        """What the last call wrote, without a copy (valid until the next call)."""
        return _view(self.data.value, self.length.value)


_OUT = _OutParameters()


def _view(address, length):
    """The library's bytes at address, without a copy (valid until its next call)."""
    return (_char * length).from_address(address)


def python_encoding(charset):
    """PyMySQL's charset -> Python codec mapping."""
    if charset in ("utf8mb4", "utf8mb3", "utf8"):
        return "utf8"
    if charset == "latin1":
        return "cp1252"
    if charset == "koi8r":
        return "koi8_r"
    if charset == "koi8u":
        return "koi8_u"
    return charset


# Connect keywords we accept, as PyMySQL spells them; anything else is a TypeError.
_CONFIG_KEYS = {
    "host": "host", "user": "user", "password": "password", "database": "database", "port": "port",
    "unix_socket": "unix_socket", "charset": "charset", "sql_mode": "sql_mode",
    "init_command": "init_command", "connect_timeout": "connect_timeout", "read_timeout": "read_timeout",
    "write_timeout": "write_timeout", "autocommit": "autocommit", "client_flag": "client_flag",
    "local_infile": "local_infile", "ssl_ca": "ssl_ca", "ssl_cert": "ssl_cert", "ssl_key": "ssl_key",
    "ssl_verify_cert": "ssl_verify_cert", "ssl_verify_identity": "ssl_verify_identity",
    "stmt_cache_size": "stmt_cache_size", "stmt_cache_sql_limit": "stmt_cache_sql_limit",
}
_PYTHON_ONLY = {"cursorclass", "conv", "use_unicode", "binary_prefix", "program_name", "ssl", "passwd", "db",
                "read_default_file", "read_default_group", "defer_connect"}
# Accepted for compatibility when left at PyMySQL's defaults.
_IGNORED_DEFAULTS = {
    "collation": None, "max_allowed_packet": None, "auth_plugin_map": None, "bind_address": None,
    "server_public_key": None,
    "ssl_disabled": None, "ssl_key_password": None, "compress": None, "named_pipe": None,
}


def _config_value(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def split_connect_kwargs(kwargs):
    """PyMySQL connect keywords -> (libmysqlpool config pairs, Python-only options).

    Raises TypeError naming any keyword we do not support.
    """
    kwargs = dict(kwargs)
    if kwargs.get("db") is not None and kwargs.get("database") is None:
        kwargs["database"] = kwargs["db"]
    if kwargs.get("passwd") is not None and not kwargs.get("password"):
        kwargs["password"] = kwargs["passwd"]
    if kwargs.get("read_default_file") or kwargs.get("read_default_group"):
        from . import optionfile  # configparser only for those who use option files
        optionfile.fill_in(kwargs)
    unknown = [key for key in kwargs if key not in _CONFIG_KEYS and key not in _PYTHON_ONLY
               and key not in _IGNORED_DEFAULTS]
    if unknown:
        raise TypeError(f"pymysqlpool.connect() got unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    unsupported = [key for key, default in _IGNORED_DEFAULTS.items()
                   if key in kwargs and kwargs[key] not in (default, False, None)]
    if unsupported:
        raise TypeError(f"pymysqlpool does not support the keyword argument(s): {', '.join(sorted(unsupported))}")
    if isinstance(kwargs.get("host"), (list, tuple)):  # several hosts, as a list
        kwargs["host"] = ",".join(str(host) for host in kwargs["host"])
    pairs = {}
    for key, config_key in _CONFIG_KEYS.items():
        value = kwargs.get(key)
        if value is None or (key == "port" and value == 0) or (key == "charset" and value == ""):
            continue
        if key in ("read_timeout", "write_timeout", "connect_timeout"):
            value = max(1, int(value)) if value else 0
        pairs[config_key] = _config_value(value)
    ssl = kwargs.get("ssl")
    if ssl:
        for key, config_key in (("ca", "ssl_ca"), ("cert", "ssl_cert"), ("key", "ssl_key"), ("cipher", "ssl_cipher")):
            if ssl.get(key):
                pairs[config_key] = str(ssl[key])
        # PyMySQL checks the host name whenever there is a CA, unless told not to.
        if ssl.get("check_hostname", bool(ssl.get("ca"))):
            pairs["ssl_verify_identity"] = "1"
        pairs["ssl"] = "1"
    # As in PyMySQL, any TLS keyword makes TLS required (never a silent plain session).
    if any(kwargs.get(key) for key in ("ssl_ca", "ssl_cert", "ssl_key", "ssl_verify_cert", "ssl_verify_identity")):
        pairs["ssl"] = "1"
    return pairs, ClientOptions(kwargs)


class ClientOptions:
    """The Python-side connect options, worked out once per pool (not per
    checkout)."""

    def __init__(self, kwargs):
        self.host = kwargs.get("host") or "localhost"
        self.port = kwargs.get("port") or 3306
        self.user = kwargs.get("user") or ""
        self.database = kwargs.get("database")
        self.charset = kwargs.get("charset") or "utf8mb4"
        self.autocommit = kwargs.get("autocommit", False)
        use_unicode = kwargs.get("use_unicode")
        self.use_unicode = True if use_unicode is None else bool(use_unicode)
        self.cursorclass = kwargs.get("cursorclass") or Cursor
        conv = kwargs.get("conv")
        table = conv or converters.conversions
        self.encoders = {k: v for k, v in table.items() if not isinstance(k, int)}
        self.decoders = {k: v for k, v in table.items() if isinstance(k, int)}
        self.custom_decoders = conv is not None


def check_connect(code, pairs):
    """Like _lib.check for calls that may open connections: libmariadb
    reports a refused TCP connect as 2002, PyMySQL as 2003."""
    if code == _lib.POOL_OK:
        return
    try:
        _lib.raise_last(code)
    except err.OperationalError as error:
        if error.args and error.args[0] == 2002 and "unix_socket" not in pairs:
            raise err.OperationalError(2003, error.args[1]) from None
        raise


def borrow_handle(pool_handle, pairs, wait=0, flags=0):
    """A connection handle from a library pool (waiting up to `wait` ms,
    then opening one above size), or the exception PyMySQL would raise."""
    handle = _lib.pool_borrow(pool_handle, wait, wait, flags)
    if handle is None:
        check_connect(_lib.pool_last_error_code(), pairs)
    return handle


def make_pool_handle(pairs):
    """A libmysqlpool pool built from config pairs (the caller destroys it).
    Removes the password from `pairs`."""
    config = _lib.pool_config_new()
    if not config:
        raise MemoryError("pool_config_new")
    try:
        for key, value in pairs.items():
            _lib.check(_lib.pool_config_set(config, key.encode(), value.encode("utf-8", "surrogateescape")))
        handle = ctypes.c_void_p()
        check_connect(_lib.pool_create(config, ctypes.byref(handle)), pairs)
        return handle.value
    finally:
        _lib.pool_config_free(config)
        # The library keeps it for new connections; no Python object needs it.
        pairs.pop("password", None)


_INT64_MIN, _INT64_END, _UINT64_END = -(1 << 63), 1 << 63, 1 << 64
_INFINITY = float("inf")
_datetime = converters.datetime
# One pool_param_t (40 bytes: the type, padding, a 32-byte union), per kind.
_PACK_NULL = struct.Struct("<i36x").pack
_PACK_INT64 = struct.Struct("<i4xq24x").pack
_PACK_UINT64 = struct.Struct("<i4xQ24x").pack
_PACK_DOUBLE = struct.Struct("<i4xd24x").pack
_PACK_BYTES = struct.Struct("<i4xQQ16x").pack
_PACK_TIME = struct.Struct("<i4xi7I").pack
assert struct.calcsize("<i4xi7I") == ctypes.sizeof(_lib.Param) == 40


def _probe_bytes_offset():
    """Where a bytes object's data starts, from its id(), if that is fixed
    (CPython); None otherwise."""
    probes = (b"x", b"probe" * 9)
    offsets = {ctypes.cast(ctypes.c_char_p(probe), ctypes.c_void_p).value - id(probe) for probe in probes}
    return offsets.pop() if len(offsets) == 1 else None


_BYTES_OFFSET = _probe_bytes_offset()


def _parameters(values, encoding):
    """Python values -> (bytes holding a pool_param_t array, count, the
    objects its pointers point into), typed as PyMySQL's escaping would
    write them: the server reads the same value either way. One
    struct.pack per value, no ctypes object per value."""
    packed = []
    keep = []

    def span(kind, data):
        keep.append(data)
        if _BYTES_OFFSET is not None:
            address = id(data) + _BYTES_OFFSET
        else:  # an interpreter whose bytes move or copy: let ctypes say where
            pointer = ctypes.c_char_p(data)
            keep.append(pointer)
            address = ctypes.cast(pointer, ctypes.c_void_p).value
        packed.append(_PACK_BYTES(kind, address, len(data)))

    for value in values:
        if value is None:
            packed.append(_PACK_NULL(_lib.PARAM_NULL))
        elif isinstance(value, int):  # bool too
            if _INT64_MIN <= value < _INT64_END:
                packed.append(_PACK_INT64(_lib.PARAM_INT64, value))
            elif 0 <= value < _UINT64_END:
                packed.append(_PACK_UINT64(_lib.PARAM_UINT64, value))
            else:
                span(_lib.PARAM_DECIMAL, str(value).encode("ascii"))
        elif isinstance(value, float):
            if value != value or value in (_INFINITY, -_INFINITY):
                raise err.ProgrammingError(f"{value!r} can not be used with MySQL")
            packed.append(_PACK_DOUBLE(_lib.PARAM_DOUBLE, value))
        elif isinstance(value, str):
            span(_lib.PARAM_TEXT, value.encode(encoding, "surrogateescape"))
        elif isinstance(value, (bytes, bytearray, memoryview)):
            span(_lib.PARAM_BINARY, bytes(value))
        elif isinstance(value, converters.Decimal):
            span(_lib.PARAM_DECIMAL, str(value).encode("ascii"))
        elif isinstance(value, (_datetime.date, _datetime.time, _datetime.timedelta, converters.time.struct_time)):
            packed.append(_pack_time(value))
        elif isinstance(value, (list, tuple, set, frozenset, dict)):
            raise err.ProgrammingError(f"a {type(value).__name__} cannot be one parameter of a prepared statement")
        else:  # PyMySQL escapes other types as their str()
            span(_lib.PARAM_TEXT, str(value).encode(encoding, "surrogateescape"))
    return b"".join(packed) if packed else None, len(packed), keep


def _pack_time(value):
    """A date, datetime, time, timedelta or struct_time as a pool_param_t."""
    if isinstance(value, converters.time.struct_time):
        value = _datetime.datetime(*value[:6])
    if isinstance(value, _datetime.timedelta):
        micros = (value.days * 86400 + value.seconds) * 1000000 + value.microseconds
        seconds, microsecond = divmod(abs(micros), 1000000)
        minutes, second = divmod(seconds, 60)
        hour, minute = divmod(minutes, 60)
        return _PACK_TIME(_lib.PARAM_TIME, micros < 0, 0, 0, 0, hour, minute, second, microsecond)
    if isinstance(value, _datetime.time):
        return _PACK_TIME(_lib.PARAM_TIME, 0, 0, 0, 0, value.hour, value.minute, value.second, value.microsecond)
    if isinstance(value, _datetime.datetime):
        return _PACK_TIME(_lib.PARAM_DATETIME, 0, value.year, value.month, value.day, value.hour, value.minute,
                          value.second, value.microsecond)
    return _PACK_TIME(_lib.PARAM_DATE, 0, value.year, value.month, value.day, 0, 0, 0, 0)


class Result:
    """One statement's outcome, shaped like PyMySQL's MySQLResult. The class
    attributes are the defaults, so a point query sets only what it has."""

    affected_rows = 0
    insert_id = None
    warning_count = 0
    server_status = 0
    has_next = False
    fields = ()
    description = None
    rows = None
    handle = None
    unbuffered = False
    unbuffered_active = False  # a streaming cursor has not read its last row yet
    converters = None


class FieldInfo:
    """Column metadata with PyMySQL's FieldDescriptorPacket attribute names."""

    __slots__ = ("name", "org_name", "table_name", "org_table", "db", "type_code", "flags", "charsetnr",
                 "length", "scale")

    def description(self):
        length = self.length // _MBLENGTH.get(self.charsetnr, 1) if self.type_code == FIELD_TYPE.VAR_STRING \
            else self.length
        return (self.name, self.type_code, None, length, length, self.scale, self.flags % 2 == 0)


def _quote_no_backslash(text):
    return "'" + text.replace("'", "''") + "'"


def _our_cursor_class(cls):
    """PyMySQL's (or pymysql-pool's) cursor classes map to ours by name."""
    ours = cls
    if not (isinstance(cls, type) and issubclass(cls, Cursor)):
        named = getattr(cursors, getattr(cls, "__name__", ""), None)
        if isinstance(named, type) and issubclass(named, Cursor):
            ours = named
    if isinstance(cls, type) and len(_CURSOR_CLASSES) < 256:
        _CURSOR_CLASSES[cls] = ours
    return ours


_CURSOR_CLASSES = {}  # class asked for -> the class used, filled by _our_cursor_class


# Column lists seen recently -> their FieldInfo list and description, for
# connections that take the library's conversions (the values are never
# mutated); a dict's get/set are atomic under the GIL.
_DESCRIPTIONS = {}
_DESCRIPTION_CACHE_SIZE = 512


def _close_private(pool, handle):
    """Closes a private connection (if open) and its one-connection pool."""
    if handle is not None:
        _lib.pool_discard(pool, handle)
    _lib.pool_destroy(pool)


# Borrowed connections whose wrapper is still alive: weak reference ->
# (pool handle, connection handle). A wrapper dropped without being returned
# leaves the connection's state unknown, so its connection is discarded, not
# reused. A plain weakref callback, not weakref.finalize: this is on every
# checkout, and finalize costs ten times more to set up and tear down.
_LEASES = {}
_weakref = weakref.ref


def _discard_abandoned(reference):
    entry = _LEASES.pop(reference, None)
    if entry is not None:
        _logging.forget_borrower(entry[1])
        _lib.pool_discard(*entry)


def _connection_state(options):
    """The attributes a new wrapper starts with, worked out once per pool."""
    encoding = python_encoding(options.charset)
    return {
        "host": options.host, "port": options.port, "user": options.user, "db": options.database,
        "charset": options.charset, "encoding": encoding, "use_unicode": options.use_unicode,
        "cursorclass": options.cursorclass, "encoders": options.encoders, "decoders": options.decoders,
        "_custom_decoders": options.custom_decoders,
        "_pickle_flags": _pickle_flags(options.custom_decoders, options.use_unicode, encoding),
    }


def _pickle_flags(custom_decoders, use_unicode, encoding):
    """How rows come over: converted by the library (0), or as raw bytes
    that PyMySQL's converters turn into values here (custom conv,
    use_unicode=False, a charset that is not UTF-8)."""
    if not custom_decoders and use_unicode and encoding in _UTF8_ENCODINGS:
        return 0
    if encoding in _UTF8_ENCODINGS:
        return _lib.POOL_PICKLE_RAW
    return _lib.POOL_PICKLE_RAW | _lib.POOL_PICKLE_TEXT_AS_BYTES


class Connection:
    """A MySQL connection with PyMySQL's interface.

    Made by ``pymysqlpool.connect(...)`` (a private connection) or handed out
    by ``ConnectionPool.get_connection()`` (returned to the pool by close()
    or the end of a ``with`` block).
    """

    Warning = err.Warning
    Error = err.Error
    InterfaceError = err.InterfaceError
    DatabaseError = err.DatabaseError
    DataError = err.DataError
    OperationalError = err.OperationalError
    IntegrityError = err.IntegrityError
    InternalError = err.InternalError
    ProgrammingError = err.ProgrammingError
    NotSupportedError = err.NotSupportedError

    # Defaults shared by every wrapper; each sets only what differs.
    _pool = None
    _handle = None
    _lease = None
    _returned = False
    _closed = False
    _link_lost = False
    _autocommit_setting = None  # the last autocommit(value): kept across reconnects, as in PyMySQL
    _result = None
    _statements = None  # SQL -> statement handle, for the lease _statements_lease
    _statements_lease = None
    _affected_rows = 0
    _info = None  # read from the library on first need, not on every checkout
    _server_status = None

    # Set when the connection is made (PyMySQL's attribute names); declared
    # here for type checkers only.
    host: str
    port: int
    user: str
    db: str | None
    charset: str
    encoding: str
    use_unicode: bool
    cursorclass: type[Any]
    encoders: dict[Any, Any]
    decoders: dict[int, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """A private connection of its own (``pymysqlpool.connect(...)``), closed
        by close() or the end of a ``with`` block.

        Keyword arguments only, PyMySQL's: host, port, user, password
        (passwd), database (db), unix_socket, charset, sql_mode,
        init_command, connect_timeout, read_timeout, write_timeout,
        autocommit, client_flag, local_infile, ssl (a dict: ca, cert, key,
        cipher, check_hostname) or ssl_ca, ssl_cert, ssl_key,
        ssl_verify_cert, ssl_verify_identity, cursorclass, conv, use_unicode,
        read_default_file and read_default_group (a my.cnf file, read as
        PyMySQL reads it), defer_connect (connect() opens it later).
        An unknown keyword is a TypeError that names it; a failed connect
        raises OperationalError (e.g. 1045 access denied, 2003 cannot
        connect).
        """
        if args:
            raise TypeError("pymysqlpool.connect() takes keyword arguments only, as PyMySQL 1.2 does")
        pairs, options = split_connect_kwargs(kwargs)
        deferred = bool(kwargs.get("defer_connect"))
        pairs.update({"size": "1", "maxsize": "1", "pre_create_num": "0" if deferred else "1", "con_lifetime": "0"})
        pairs["autocommit"] = _config_value(bool(options.autocommit))
        pool = make_pool_handle(pairs)
        self.__dict__.update(_connection_state(options))
        self._pool_handle = pool
        self._pairs = pairs
        self._watch()  # from here on, dropping this object destroys the pool
        if not deferred:
            try:
                self._handle = borrow_handle(pool, pairs)
            except BaseException:
                self._finalizer()  # now, not when the traceback lets go of this object
                raise
            self._rewatch()

    def _watch(self):
        """Closes the connection if this object is dropped while it holds it."""
        if self._pool is None:
            self._finalizer = weakref.finalize(self, _close_private, self._pool_handle, self._handle)
        else:
            self._lease = lease = _weakref(self, _discard_abandoned)
            _LEASES[lease] = (self._pool_handle, self._handle)

    def _unwatch(self):
        """The connection was given back or closed on purpose."""
        if self._pool is None:
            self._finalizer.detach()
        elif self._lease is not None:
            _LEASES.pop(self._lease, None)
            self._lease = None

    def _rewatch(self):
        """The handle changed: the finalizer (or lease) follows it."""
        self._unwatch()
        self._watch()

    def _drop_link(self):
        """Closes the current server connection, if any; a private
        connection keeps its pool (and the login in it) for connect()."""
        handle = self._handle
        if handle is None:
            return
        self._unwatch()
        self._handle = None
        self._result = None
        _lib.pool_discard(self._pool_handle, handle)
        if self._pool is None:
            self._watch()

    # -- state --------------------------------------------------------------

    def _check_returned(self):
        if self._returned:
            name = self._pool.name if self._pool is not None else ""
            raise err.ReturnConnectionToPoolError(f"this connection has already returned to the pool({name})")

    def _live(self):
        """The handle, or the error PyMySQL / pymysql-pool raise: after a
        return to the pool, after close, or after the link was lost (PyMySQL
        drops its socket then, and later calls raise InterfaceError(0, ''))."""
        self._check_returned()
        if self._handle is None or self._link_lost:
            raise err.InterfaceError(0, "")
        return self._handle

    def _idle_handle(self):
        """_live(), once the results still pending from a multi-statement
        query are read and dropped, as PyMySQL does before each command."""
        handle = self._live()
        result = self._result
        if result is not None and result.has_next:
            self._drain_results()
        return handle

    def _drain_results(self):
        while self._result is not None and self._result.has_next:
            self.next_result()

    def _check(self, code):
        if code == _lib.POOL_OK:
            return
        try:
            _lib.raise_last(code)
        except err.Error as error:
            if error.args and error.args[0] in LINK_LOST_ERRNOS:
                self._link_lost = True
            raise

    def _refresh_info(self):
        if self._info is None:
            self._info = _lib.ConnInfo()
        _lib.check(_lib.pool_conn_info(self._handle, ctypes.byref(self._info), ctypes.sizeof(self._info)))
        self._server_status = self._info.server_status
        return self._info

    def _facts(self):
        """Thread id, versions: fixed for the life of the connection."""
        return self._info if self._info is not None else self._refresh_info()

    def _status(self):
        """The server status flags after the last statement."""
        if self._server_status is None:
            self._refresh_info()
        return self._server_status

    @property
    def server_status(self) -> int:
        """The server status flags (SERVER_STATUS_*) after the last statement."""
        return self._status()

    @property
    def open(self) -> bool:
        """False once closed, returned to the pool, or its link was lost."""
        return not self._closed and not self._returned and self._handle is not None and not self._link_lost

    @property
    def autocommit_mode(self) -> bool:
        """The session's autocommit mode, as get_autocommit()."""
        return self.get_autocommit()

    # -- statements ---------------------------------------------------------

    def query(self, sql: str | bytes, unbuffered: bool = False, parameters: Sequence[Any] | None = None) -> int:
        """Runs one statement; its result becomes ``self._result``. Returns the
        affected rows (rows of a result set). Cursors are the usual way.
        ``parameters`` (a sequence, possibly empty): run ``sql`` as a
        server-side prepared statement with ``?`` placeholders, through the
        connection's statement cache (PreparedCursor does this)."""
        if isinstance(sql, str):
            sql = sql.encode(self.encoding, "surrogateescape")
        handle = self._handle
        if handle is None or self._link_lost or self._returned:
            handle = self._live()  # raises
        previous = self._result
        if previous is not None:
            if previous.unbuffered_active:
                warnings.warn("Previous unbuffered result was left incomplete", stacklevel=2)
                previous.unbuffered_active = False
            if previous.handle is not None:
                self._free(previous)
            if previous.has_next:
                self._drain_results()
            self._result = None  # its rows can go before the new ones arrive, as in PyMySQL
        if parameters is not None:
            self._result = result = self._run_prepared(handle, sql, parameters, unbuffered)
        elif unbuffered:
            self._check(_lib.pool_query(handle, sql, len(sql)))
            self._result = result = self._read_result(True)
        else:
            self._result = result = self._run_buffered(handle, sql)
        self._affected_rows = affected_rows = result.affected_rows
        return affected_rows

    def _run_buffered(self, handle, sql):
        """One foreign call per statement: its outcome (fields, rows, tail)
        as Python objects the library builds (pool_query_objects), or as a
        pickle of them; either way one call per further ~256 KiB of rows."""
        flags = self._pickle_flags
        if _ROWS_AS_OBJECTS:
            return self._built(_query_objects(handle, sql, len(sql), flags), handle, flags)
        out = _OUT
        code = _query_pickle(handle, sql, len(sql), flags, out.data_ref, out.length_ref)
        if code:
            self._check(code)
        return self._outcome(handle, flags)

    def _run_prepared(self, handle, sql, parameters, unbuffered):
        """A prepared statement's outcome, read as _run_buffered's (or as an
        unbuffered result): the library gives the same rows either way."""
        # `keep` holds what the array points into until the call returns.
        array, count, keep = _parameters(parameters, self.encoding)
        if unbuffered:
            code = _lib.pool_stmt_execute(self._statement(handle, sql), count, array)
            del keep
            self._check(code)
            return self._read_result(True)
        flags = self._pickle_flags
        if _ROWS_AS_OBJECTS:
            outcome = _lib.pool_stmt_query_objects(handle, sql, len(sql), count, array, flags)
            del keep
            return self._built(outcome, handle, flags)
        out = _OUT
        code = _lib.pool_stmt_query_pickle(handle, sql, len(sql), count, array, flags, out.data_ref, out.length_ref)
        del keep
        if code:
            self._check(code)
        return self._outcome(handle, flags)

    def _statement(self, handle, sql):
        """The statement handle for ``sql`` in this lease of the connection,
        for unbuffered results (the library's handles end with the lease;
        its cache of prepared statements outlives it, so a new lease's
        prepare is usually free)."""
        statements = self._statements
        if statements is None or self._statements_lease != handle:
            statements = self._statements = {}
            self._statements_lease = handle
        statement = statements.get(sql)
        if statement is None:
            if len(statements) >= _STATEMENTS_PER_LEASE:
                _lib.pool_stmt_close(statements.pop(next(iter(statements))))
            out = ctypes.c_void_p()
            self._check(_lib.pool_stmt_prepare(handle, sql, len(sql), ctypes.byref(out)))
            statement = statements[sql] = out.value
        return statement

    def _objects(self, built):
        """What the library built as Python objects, or its failure raised
        (None: the error is the library's last)."""
        if built is None:
            self._check(_lib.pool_last_error_code())
        return built

    def _built(self, outcome, handle, flags):
        """The Result of an outcome the library built as Python objects."""
        return self._result_of(self._objects(outcome), handle, flags, True)

    def _outcome(self, handle, flags):
        """The Result of the pickle a statement's outcome was encoded into."""
        return self._result_of(_loads(_OUT.written()), handle, flags)

    def _result_of(self, outcome, handle, flags, as_objects=False):
        """The Result of a statement's outcome (fields, rows, tail), its
        further batches read as it started: as objects or pickles."""
        fields, rows, tail = outcome
        if tail is None:
            rows, tail = self._read_batches(handle, rows, flags, as_objects)
        result = Result()
        result.affected_rows, result.insert_id, result.warning_count, status = tail
        self._server_status = result.server_status = status
        if status & _MORE_RESULTS:
            result.has_next = True
        if fields is not None:
            described = None if flags else _DESCRIPTIONS.get(fields)
            result.fields, result.description, column_converters = described or self._describe_fields(fields)
            if column_converters is not None:
                rows = [self._convert_row(row, column_converters) for row in rows]
            result.rows = tuple(rows)
        return result

    def _read_batches(self, handle, rows, flags, as_objects):
        """The rest of a large outcome, a batch per call: only one batch's
        pickle (or raw rows) exists at a time next to the rows already built."""
        tail = None
        while tail is None:
            if as_objects:
                more = self._objects(_query_objects_more(handle, flags))
            else:
                out = _OUT
                code = _lib.pool_query_pickle_more(handle, flags, out.data_ref, out.length_ref)
                if code:
                    self._check(code)
                more = _loads(out.written())
            batch, tail = more
            rows += batch
        return rows, tail

    def _describe_fields(self, encoded):
        """(FieldInfo list, description, converters) for a column list as the
        library encodes it, built once per distinct column list:
        applications repeat the same statements, and building these per
        query costs more than the query's own Python work."""
        if self._pickle_flags:  # converters depend on this connection's conv: not shared
            infos = [self._field_info(field) for field in _loads(encoded)]
            description = tuple(info.description() for info in infos)
            return infos, description, [self._python_converter(info) for info in infos]
        cached = _DESCRIPTIONS.get(encoded)
        if cached is None:
            infos = [self._field_info(field) for field in _loads(encoded)]
            cached = (infos, tuple(info.description() for info in infos), None)
            if len(_DESCRIPTIONS) >= _DESCRIPTION_CACHE_SIZE:
                _DESCRIPTIONS.clear()
            _DESCRIPTIONS[encoded] = cached
        return cached

    def _field_info(self, values):
        info = FieldInfo()
        (info.name, info.type_code, info.charsetnr, info.length, info.scale, info.flags, info.table_name,
         info.org_name, info.org_table, info.db) = values
        if self._pickle_flags & _lib.POOL_PICKLE_TEXT_AS_BYTES:
            for attribute in ("name", "table_name", "org_name", "org_table", "db"):
                setattr(info, attribute, getattr(info, attribute).decode(self.encoding, "replace"))
        return info

    def next_result(self, unbuffered: bool = False) -> int:
        """Moves to the next result of a multi-statement query (0 when there
        is none); cursors call it through nextset()."""
        handle = self._live()
        self._finish_result()
        code = _lib.pool_next_result(handle)
        if code == _lib.POOL_DONE:
            self._result = None
            return 0
        self._check(code)
        self._result = self._read_result(unbuffered)
        self._affected_rows = self._result.affected_rows
        return self._affected_rows

    def _read_result(self, unbuffered):
        result_handle = ctypes.c_void_p()
        take = _lib.pool_use_result if unbuffered else _lib.pool_store_result
        self._check(take(self._handle, ctypes.byref(result_handle)))
        return self._result_from(result_handle, unbuffered)

    def _result_from(self, result_handle, unbuffered):
        """The Result of a statement whose result set (if any) was just
        taken into ``result_handle`` (a c_void_p)."""
        info = self._refresh_info()
        result = Result()
        result.insert_id = info.insert_id
        result.warning_count = info.warning_count
        result.server_status = info.server_status
        result.has_next = bool(info.server_status & _lib.STATUS_MORE_RESULTS)
        result.affected_rows = info.affected_rows
        if not result_handle.value:
            return result
        result.handle = result_handle.value
        result.unbuffered = unbuffered
        result.insert_id = None  # PyMySQL reads it only from OK packets, never from result sets
        self._describe(result)
        if unbuffered:
            result.affected_rows = UNBUFFERED_AFFECTED_ROWS
            result.unbuffered_active = True
        else:
            result.rows = tuple(self._fetch_rows(result, 0))
            result.affected_rows = len(result.rows)
            self._free(result)
            result.has_next = bool(self._refresh_info().server_status & _lib.STATUS_MORE_RESULTS)
        return result

    def _describe(self, result):
        """Column metadata of a streaming result: one call, shaped by the
        same code as the buffered path's."""
        out = _OUT
        self._check(_lib.pool_result_fields_pickle(result.handle, self._pickle_flags, out.data_ref, out.length_ref))
        result.fields, result.description, result.converters = self._describe_fields(bytes(out.written()))

    def _python_converter(self, field):
        """PyMySQL's per-column (encoding, converter), for the slow path."""
        if not self.use_unicode:
            encoding = None
        elif field.type_code == FIELD_TYPE.JSON:
            encoding = self.encoding
        elif field.type_code in TEXT_TYPES:
            encoding = None if field.charsetnr == 63 else self.encoding
        else:
            encoding = "ascii"
        converter = self.decoders.get(field.type_code)
        return encoding, (None if converter is converters.through else converter)

    def _fetch_rows(self, result, max_rows):
        """Up to max_rows rows (0: all) in one foreign call."""
        out = _OUT
        self._check(_lib.pool_result_fetch_pickle(result.handle, max_rows, self._pickle_flags, out.data_ref,
                                                 out.length_ref, out.rows_ref))
        return self._unpickled_rows(out.written(), result)

    def _unpickled_rows(self, pickled, result):
        rows = _loads(pickled)
        if result.converters is not None:
            rows = [self._convert_row(row, result.converters) for row in rows]
        return rows

    @staticmethod
    def _convert_row(row, column_converters):
        values = []
        for value, (encoding, converter) in zip(row, column_converters):
            if value is not None:
                if encoding is not None:
                    value = value.decode(encoding)
                if converter is not None:
                    value = converter(value)
            values.append(value)
        return tuple(values)

    def _read_unbuffered(self, result, max_rows):
        if result.handle is None:
            return []
        rows = self._fetch_rows(result, max_rows)
        self._batch_read(result, len(rows), max_rows)
        return rows

    def _batch_read(self, result, count, max_rows):
        """A streaming result's batch of `count` rows arrived; a short one
        was the last."""
        if count < max_rows or max_rows == 0:
            self._free(result)
            result.has_next = bool(self._refresh_info().server_status & _lib.STATUS_MORE_RESULTS)
            result.warning_count = self._info.warning_count

    def _free(self, result):
        if result.handle is not None:
            _lib.pool_result_free(result.handle)
            result.handle = None

    def _finish_result(self):
        """Frees a streaming result still open (its rows are read and dropped)."""
        result = self._result
        if result is not None:
            result.unbuffered_active = False
            if result.handle is not None:
                self._free(result)

    # -- PyMySQL's Connection API ----------------------------------------

    if TYPE_CHECKING:
        @overload
        def cursor(self, cursor: None = None) -> Cursor: ...
        @overload
        def cursor(self, cursor: type[_C]) -> _C: ...
        @overload
        def cursor(self, cursor: type[Any]) -> Cursor: ...

    def cursor(self, cursor: type[Any] | None = None, prepared: bool = False) -> Cursor:
        """A new cursor of class ``cursor`` (default: the connection's
        cursorclass). PyMySQL's cursor classes are accepted and mapped to
        ours by name (pymysql.cursors.DictCursor -> pymysqlpool.DictCursor).
        ``prepared=True``: its prepared variant (see PreparedCursor)."""
        if self._returned:
            self._check_returned()
        cls = cursor or self.cursorclass
        ours = _CURSOR_CLASSES.get(cls) or _our_cursor_class(cls)
        if prepared:
            ours = cursors.prepared_variant(ours)
        return ours(self)

    def commit(self) -> None:
        """COMMIT the current transaction."""
        self._check(_lib.pool_commit(self._idle_handle()))
        self._refresh_info()

    def rollback(self) -> None:
        """ROLLBACK the current transaction."""
        self._check(_lib.pool_rollback(self._idle_handle()))
        self._refresh_info()

    def begin(self) -> None:
        """BEGIN a transaction."""
        self.query("BEGIN")

    def autocommit(self, value: bool) -> None:
        """Sets the session's autocommit mode (a pooled connection gets the
        pool's mode back when it is returned)."""
        handle = self._idle_handle()
        self._autocommit_setting = value = bool(value)
        if value != self.get_autocommit():
            self._check(_lib.pool_autocommit(handle, 1 if value else 0))
            self._refresh_info()

    def get_autocommit(self) -> bool:
        """The session's autocommit mode, as the server last reported it."""
        self._live()
        return bool(self._status() & _lib.STATUS_AUTOCOMMIT)

    def ping(self, reconnect: bool = False) -> None:
        """COM_PING. With reconnect (deprecated, as in PyMySQL), a closed
        connection or a dead link is replaced by a fresh connection from
        the same pool, with the session's autocommit setting."""
        if reconnect:
            warnings.warn("The 'reconnect' argument is deprecated. Create a new connection if you want to "
                          "reconnect.", DeprecationWarning, 2)
        self._check_returned()
        if self._handle is None or self._link_lost:
            if not reconnect:
                raise err.Error("Already closed")
            self.connect()
            reconnect = False
        code = _lib.pool_ping(self._idle_handle())
        if code == _lib.POOL_OK:
            return
        if not reconnect:
            self._check(code)
        self.connect()
        self.ping(False)

    def connect(self, sock: None = None) -> None:
        """(Re)opens the connection: after close(), with defer_connect=True,
        or after its link was lost. An open link is closed first. A pooled
        connection gets a fresh one from its pool in place of its own."""
        if sock is not None:
            raise err.NotSupportedError("connect(sock=...): pymysqlpool opens its connections itself")
        self._check_returned()
        self._drop_link()
        self._closed = False
        self._link_lost = False
        self._handle = borrow_handle(self._pool_handle, self._pairs)
        self._rewatch()
        self._refresh_info()
        if self._autocommit_setting is not None:
            self.autocommit(self._autocommit_setting)

    def select_db(self, db: str) -> None:
        """Makes ``db`` the default database."""
        self._check(_lib.pool_select_db(self._idle_handle(), db.encode(self.encoding)))
        self.db = db

    def set_character_set(self, charset: str, collation: str | None = None) -> None:
        """SET NAMES charset [COLLATE collation]; later statements and
        values are encoded and decoded with it."""
        handle = self._idle_handle()
        if collation:
            self.query(f"SET NAMES {charset} COLLATE {collation}")
        else:
            self._check(_lib.pool_set_charset(handle, charset.encode("ascii")))
        self.charset = charset
        self.encoding = python_encoding(charset)
        self._pickle_flags = _pickle_flags(self._custom_decoders, self.use_unicode, self.encoding)

    def set_charset(self, charset: str) -> None:
        """Deprecated (PyMySQL's old name): set_character_set(charset)."""
        warnings.warn("'set_charset' is deprecated, use 'set_character_set' instead", DeprecationWarning, 2)
        self.set_character_set(charset)

    def character_set_name(self) -> str:
        """The connection's character set (e.g. "utf8mb4")."""
        return self.charset

    def escape(self, obj: object, mapping: dict[Any, Any] | None = None) -> str:
        """``obj`` as an SQL literal for this connection (quoted and escaped
        for its charset and sql_mode); tuples and lists become ``(a,b)``."""
        if isinstance(obj, str):
            return "'" + self.escape_string(obj) + "'"
        if isinstance(obj, (bytes, bytearray)):
            return "X'%s'" % obj.hex()
        if type(obj) in (tuple, list, set, frozenset):
            return "(" + ",".join([self.escape(item, mapping) for item in obj]) + ")"
        if mapping is None:
            mapping = self.encoders
        if (mapping.get(type(obj)) or mapping.get(str)) is converters.escape_str:
            # Another type quoted as its str() (Path, Enum, ...): escaped for
            # this connection's sql_mode and codec, as a str is. PyMySQL
            # backslash-escapes it always, which NO_BACKSLASH_ESCAPES undoes.
            return "'" + self.escape_string(str(obj)) + "'"
        return converters.escape_item(obj, self.charset, mapping=mapping)

    def _row_escaper(self):
        """For executemany: a function from a row (tuple or list) to the
        tuple of its SQL literals, as escape() writes them, with a per-type
        table for the common types; None with custom encoders (conv=), whose
        escape() must be asked every time."""
        if self._custom_decoders:
            return None
        if self._status() & _lib.STATUS_NO_BACKSLASH_ESCAPES:
            quote = _quote_no_backslash
        else:
            encoding = self.encoding
            escape_string = converters.escape_string
            table = converters._escape_table

            def quote(text):  # escape()'s quoting: beyond ASCII it depends on the codec
                if text.isascii():
                    return "'" + text.translate(table) + "'"
                return "'" + escape_string(text, None, encoding) + "'"
        by_type = {str: quote, int: str, bool: converters.escape_bool, float: converters.escape_float,
                   type(None): converters.escape_None}
        lookup = by_type.get
        escape = self.escape

        def escape_row(row):
            return tuple([(lookup(type(value)) or escape)(value) for value in row])

        return escape_row

    def _insert_statements(self, prefix, pieces, postfix, rows, max_length):
        """executemany's INSERT statements (bytes) formatted by the library
        in one call, as the per-type escaping would write them; None when it
        leaves the rows to escape() (dates, Decimal, nested sequences, a
        codec other than UTF-8, custom encoders, ...)."""
        if self._custom_decoders or self.encoding not in _UTF8_ENCODINGS:
            return None
        try:
            request = _dumps((prefix, pieces, postfix, rows), 4)
        except Exception:  # noqa: BLE001 - escape() reports an object pickle cannot write
            return None
        out = _OUT
        code = _lib.pool_format_insert_pickle(self._live(), request, len(request), max_length, out.data_ref,
                                              out.length_ref)
        if code == _lib.POOL_E_MISUSE:
            return None
        if code:
            self._check(code)
        return _loads(out.written())

    def literal(self, obj: object) -> str:
        """Alias of escape(obj) with the connection's encoders."""
        return self.escape(obj, self.encoders)

    def escape_string(self, s: str) -> str:
        """``s`` escaped for a quoted string literal, without the quotes."""
        if self._status() & _lib.STATUS_NO_BACKSLASH_ESCAPES:
            return s.replace("'", "''")
        return converters.escape_string(s, None, self.encoding)

    def insert_id(self) -> int | None:
        """The AUTO_INCREMENT value the last statement generated (0 before any)."""
        return self._result.insert_id if self._result else 0

    def affected_rows(self) -> int:
        """Rows the last statement changed (or returned)."""
        return self._affected_rows

    def show_warnings(self) -> tuple[tuple[Any, ...], ...]:
        """SHOW WARNINGS' rows: (level, code, message) tuples."""
        self.query("SHOW WARNINGS")
        return self._result.rows

    def kill(self, thread_id: int) -> None:
        """KILL the server connection ``thread_id``."""
        if not isinstance(thread_id, int):
            raise TypeError("thread_id must be an integer")
        self.query(f"KILL {thread_id:d}")

    def thread_id(self) -> int:
        """The server's id of this connection (CONNECTION_ID())."""
        self._check_returned()
        return self._facts().thread_id

    def get_server_info(self) -> str:
        """The server's version string, as PyMySQL shows it."""
        info = _lib.pool_conn_server_info(self._live()).decode("utf-8", "replace")
        # MariaDB 10+ announces itself as "5.5.5-10.x..." for old clients;
        # libmariadb strips that prefix, PyMySQL shows it.
        if "MariaDB" in info and self._facts().server_version >= 100000 and not info.startswith("5.5.5-"):
            info = "5.5.5-" + info
        return info

    def get_host_info(self) -> str:
        """How the connection reached the server (e.g. "127.0.0.1 via TCP/IP")."""
        return _lib.pool_conn_host_info(self._live()).decode("utf-8", "replace")

    def get_proto_info(self) -> int:
        """The protocol version (10)."""
        self._check_returned()
        return self._facts().protocol_version

    # -- closing --------------------------------------------------------------

    def close(self) -> None:
        """Private: close the connection (connect() can open it again).
        (A pool's connections have a close() of their own that gives them
        back: see pool._giver_back.)"""
        if self._closed:
            raise err.Error("Already closed")
        self._closed = True
        self._drop_link()

    def _force_close(self):
        """PyMySQL's close without QUIT: the link goes, whatever its state."""
        if self._pool is None:
            self._drop_link()

    def __enter__(self: _ConnectionT) -> _ConnectionT:
        return self

    # pymysql-pool: these exceptions leave the connection fit for reuse.
    _reusable_exception = (err.ProgrammingError, err.IntegrityError, err.NotSupportedError)

    def __exit__(self, exc_type: type[BaseException] | None, exc_value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        """Private: close. Pooled: back to the pool; after an error other
        than ProgrammingError, IntegrityError or NotSupportedError the
        connection is discarded rather than reused."""
        if self._pool is None:
            self.close()
        elif self._returned:
            return
        elif exc_type is None or issubclass(exc_type, self._reusable_exception):
            self._give_back()
        else:
            self._give_back(discard=True)

    def __repr__(self):
        state = "returned" if self._returned else ("closed" if self._closed else "open")
        return f"<pymysqlpool.Connection {self.user}@{self.host}:{self.port} ({state})>"


def pooled_connection_class(state):
    """A Connection subclass carrying one pool's settings (`_connection_state`
    plus _pool, _pool_handle, _pairs) as class attributes, so that a borrowed
    wrapper sets only its handle: checkout is the hot path of every pooled
    query."""
    return type("Connection", (Connection,), dict(state, __module__=Connection.__module__,
                                                  __qualname__=Connection.__qualname__, __doc__=Connection.__doc__))


def borrowed_connection(cls, handle, pool_handle):
    """The wrapper (of a `pooled_connection_class`) for a connection just
    taken from a pool."""
    connection = _new_object(cls)
    connection._handle = handle
    connection._lease = lease = _weakref(connection, _discard_abandoned)
    _LEASES[lease] = (pool_handle, handle)
    return connection


_new_object = object.__new__
