"""Loads libmysqlpool once, binds every function once, and translates status
codes into exceptions in one place."""

import ctypes
import os

from . import err

EXPECTED_VERSION_NUMBER = 1000  # POOL_VERSION_NUMBER of include/mysqlpool.h

POOL_OK = 0
POOL_E_EXHAUSTED = 1
POOL_E_CLOSED = 2
POOL_E_BAD_ARGUMENT = 3
POOL_E_SERVER = 4
POOL_E_WRONG_HANDLE = 5
POOL_E_UNKNOWN_OPTION = 6
POOL_E_NO_MEMORY = 7
POOL_E_MISUSE = 8
POOL_ROW = 100
POOL_DONE = 101
POOL_WAIT = 102
POOL_IO_READ = 1
POOL_IO_WRITE = 2
POOL_IO_TIMEOUT = 8
POOL_IO_QUEUED = 16
POOL_GET_PING = 1
POOL_GET_READONLY = 2
POOL_PICKLE_RAW = 1
POOL_PICKLE_TEXT_AS_BYTES = 2
STATUS_IN_TRANS = 0x0001
STATUS_AUTOCOMMIT = 0x0002
STATUS_MORE_RESULTS = 0x0008
STATUS_NO_BACKSLASH_ESCAPES = 0x0200
# enum pool_param_type
PARAM_NULL, PARAM_INT64, PARAM_UINT64, PARAM_DOUBLE, PARAM_TEXT, PARAM_BINARY = 0, 1, 2, 3, 4, 5
PARAM_DATE, PARAM_TIME, PARAM_DATETIME, PARAM_DECIMAL = 6, 7, 8, 9


def _candidates():
    # os.path, not pathlib: importing pathlib (and what it imports) would add
    # about half a MiB to every process that imports us.
    override = os.environ.get("MYSQLPOOL_LIBRARY")
    if override:
        yield override
        return
    package = os.path.dirname(os.path.realpath(__file__))
    yield os.path.join(package, "lib", "libmysqlpool.so")  # pip install puts it here
    checkout = os.path.dirname(os.path.dirname(os.path.dirname(package)))
    yield os.path.join(checkout, ".build", "release", "libmysqlpool.so")  # source checkout


def _load():
    tried = []
    for path in _candidates():
        tried.append(path)
        if os.path.isfile(path):
            try:
                return ctypes.CDLL(path)
            except OSError as error:
                raise ImportError(f"pymysqlpool: cannot load {path}: {error}") from error
    raise ImportError(
        "pymysqlpool: libmysqlpool.so not found; tried: "
        + ", ".join(tried)
        + ". Build it with `make build` in the mysqlpool checkout, "
        "or point MYSQLPOOL_LIBRARY at it."
    )


lib = _load()

_p = ctypes.c_void_p
_pp = ctypes.POINTER(ctypes.c_void_p)
_void_p_param = ctypes.c_void_p.from_param


class _Handle:
    """The argument type of every handle parameter: an int (a handle the
    library issued; a stale or made-up one gets POOL_E_WRONG_HANDLE from the
    library), a c_void_p holding one, or None. Anything else is refused
    here. c_void_p alone would follow a Mock's endless chain of
    _as_parameter_ attributes in C, with no recursion limit, until the
    interpreter crashes."""

    @staticmethod
    def from_param(value):
        kind = value.__class__
        if kind is int or value is None:
            return _void_p_param(value)
        if kind is ctypes.c_void_p:
            return value
        raise TypeError(f"expected a libmysqlpool handle (an int), got {type(value).__name__}")


class _Bytes:
    """The argument type of every char * parameter: bytes or None, for the
    same reason (c_char_p follows _as_parameter_ without a limit too)."""

    @staticmethod
    def from_param(value):
        if value.__class__ is bytes or value is None:
            return value
        raise TypeError(f"expected bytes, got {type(value).__name__}")


_h = _Handle
_b = _Bytes
_str = ctypes.c_char_p
_int = ctypes.c_int
_size = ctypes.c_size_t
_u32 = ctypes.c_uint32
_u64 = ctypes.c_uint64
_i64 = ctypes.c_int64


class ConnInfo(ctypes.Structure):
    _fields_ = [
        ("struct_size", _u64),
        ("affected_rows", _u64),
        ("insert_id", _u64),
        ("thread_id", _u64),
        ("server_version", _u64),
        ("warning_count", _u32),
        ("server_status", _u32),
        ("field_count", _u32),
        ("protocol_version", _u32),
    ]


class Stats(ctypes.Structure):
    _fields_ = [
        (name, _u64)
        for name in (
            "struct_size total idle in_use opening waiting size maxsize created connect_failures "
            "closed_lifetime closed_broken closed_overflow closed_discarded closed_shutdown gets "
            "releases wait_count wait_time_ns max_wait_ns timeouts resets closed_idle closed_validation pings leaks "
            "stmt_prepares stmt_cache_hits stmt_evictions"
        ).split()
    ]


class HostStats(ctypes.Structure):
    _fields_ = [
        ("struct_size", _u64), ("port", _u64), ("connections", _u64), ("connects", _u64), ("failures", _u64),
        ("denied_ms", _u64), ("read_only", _i64), ("host", ctypes.c_char * 256), ("role_age_ms", _u64),
        ("synced", _i64), ("borrows", _u64),
    ]


class Time(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int if name == "negative" else ctypes.c_uint)
                for name in "negative year month day hour minute second microsecond".split()]


class ByteSpan(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("length", ctypes.c_size_t)]


class ParamValue(ctypes.Union):
    _fields_ = [("i64", ctypes.c_int64), ("u64", ctypes.c_uint64), ("f64", ctypes.c_double), ("bytes", ByteSpan),
                ("time", Time)]


class Param(ctypes.Structure):
    """pool_param_t, for its size and layout: connections.py packs arrays of
    them with struct (one pack per value is cheaper than ctypes fields)."""
    _fields_ = [("type", ctypes.c_int), ("value", ParamValue)]


class IO(ctypes.Structure):
    """pool_io_t: what a non-blocking call waits for."""
    _fields_ = [("fd", ctypes.c_int), ("events", ctypes.c_uint32), ("timeout_ms", ctypes.c_int64)]


def _bind(name, restype, *argtypes):
    function = getattr(lib, name)
    function.restype = restype
    function.argtypes = argtypes
    return function


# One binding per C function; the C prototypes are in include/mysqlpool.h.
pool_version_number = _bind("pool_version_number", _int)
pool_last_error_code = _bind("pool_last_error_code", _int)
pool_last_errno = _bind("pool_last_errno", ctypes.c_uint)
pool_last_sqlstate = _bind("pool_last_sqlstate", _str)
pool_last_error = _bind("pool_last_error", ctypes.c_void_p)
pool_config_new = _bind("pool_config_new", _p)
pool_config_set = _bind("pool_config_set", _int, _h, _b, _b)
pool_config_free = _bind("pool_config_free", None, _h)
pool_create = _bind("pool_create", _int, _h, _pp)
pool_close = _bind("pool_close", _int, _h)
pool_destroy = _bind("pool_destroy", None, _h)
pool_borrow = _bind("pool_borrow", _p, _h, _i64, _i64, _u32)
pool_release = _bind("pool_release", _int, _h, _h)
pool_take = _bind("pool_take", _p, _h)
pool_return = _bind("pool_return", _int, _h)
pool_discard = _bind("pool_discard", _int, _h, _h)
pool_stats = _bind("pool_stats", _int, _h, ctypes.POINTER(Stats), _size)
pool_host_stats = _bind("pool_host_stats", _int, _h, _size, ctypes.POINTER(HostStats), _size)
pool_query = _bind("pool_query", _int, _h, _b, _size)
pool_store_result = _bind("pool_store_result", _int, _h, _pp)
pool_use_result = _bind("pool_use_result", _int, _h, _pp)
pool_next_result = _bind("pool_next_result", _int, _h)
pool_conn_info = _bind("pool_conn_info", _int, _h, ctypes.POINTER(ConnInfo), _size)
pool_commit = _bind("pool_commit", _int, _h)
pool_rollback = _bind("pool_rollback", _int, _h)
pool_autocommit = _bind("pool_autocommit", _int, _h, _int)
pool_ping = _bind("pool_ping", _int, _h)
pool_select_db = _bind("pool_select_db", _int, _h, _b)
pool_set_charset = _bind("pool_set_charset", _int, _h, _b)
pool_conn_server_info = _bind("pool_conn_server_info", _str, _h)
pool_conn_host_info = _bind("pool_conn_host_info", _str, _h)
pool_result_fetch_pickle = _bind(
    "pool_result_fetch_pickle", _int, _h, _u64, _u32, ctypes.POINTER(ctypes.c_void_p),
    ctypes.POINTER(_size), ctypes.POINTER(_u64),
)
pool_result_fields_pickle = _bind(
    "pool_result_fields_pickle", _int, _h, _u32, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(_size),
)
pool_query_pickle = _bind(
    "pool_query_pickle", _int, _h, _b, _size, _u32, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(_size),
)
pool_query_pickle_more = _bind(
    "pool_query_pickle_more", _int, _h, _u32, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(_size),
)
pool_format_insert_pickle = _bind(
    "pool_format_insert_pickle", _int, _h, _b, _size, _size, ctypes.POINTER(ctypes.c_void_p),
    ctypes.POINTER(_size),
)
pool_stmt_prepare = _bind("pool_stmt_prepare", _int, _h, _b, _size, _pp)
# params: bytes holding a pool_param_t array (see connections._parameters).
pool_stmt_execute = _bind("pool_stmt_execute", _int, _h, _size, _b)
pool_stmt_query_pickle = _bind(
    "pool_stmt_query_pickle", _int, _h, _b, _size, _size, _b, _u32, ctypes.POINTER(ctypes.c_void_p),
    ctypes.POINTER(_size),
)
pool_stmt_close = _bind("pool_stmt_close", _int, _h)
pool_query_start = _bind("pool_query_start", _int, _h, _b, _size, ctypes.POINTER(IO))
pool_store_result_start = _bind("pool_store_result_start", _int, _h, _pp, ctypes.POINTER(IO))
pool_ping_start = _bind("pool_ping_start", _int, _h, ctypes.POINTER(IO))
pool_return_start = _bind("pool_return_start", _int, _h, ctypes.POINTER(IO))
pool_continue = _bind("pool_continue", _int, _h, _u32, ctypes.POINTER(IO), _pp)
pool_get_conn_start = _bind("pool_get_conn_start", _int, _h, _i64, _u32, _pp, _pp, ctypes.POINTER(IO))
pool_get_conn_continue = _bind("pool_get_conn_continue", _int, _h, _pp, ctypes.POINTER(IO))
pool_get_conn_cancel = _bind("pool_get_conn_cancel", _int, _h)
pool_result_fetch_pickle_start = _bind(
    "pool_result_fetch_pickle_start", _int, _h, _u64, _u32, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(_size),
    ctypes.POINTER(_u64), ctypes.POINTER(IO),
)
pool_result_fetch_pickle_continue = _bind(
    "pool_result_fetch_pickle_continue", _int, _h, _u32, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(_size),
    ctypes.POINTER(_u64), ctypes.POINTER(IO),
)
pool_result_outcome_pickle = _bind(
    "pool_result_outcome_pickle", _int, _h, _u32, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(_size),
)
pool_result_free = _bind("pool_result_free", None, _h)
LOG_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, _int, _str, ctypes.c_void_p, _str)
pool_set_log_callback = _bind("pool_set_log_callback", _int, LOG_CALLBACK, ctypes.c_void_p, _int)

pool_python_init = _bind("pool_python_init", _int, ctypes.c_void_p)
# A new reference (ctypes takes it over); None when it failed (see
# pool_last_error_code). Never NULL after pool_python_init: ctypes would
# crash on a NULL py_object.
pool_query_objects = _bind("pool_query_objects", ctypes.py_object, _h, _b, _size, _u32)
pool_query_objects_more = _bind("pool_query_objects_more", ctypes.py_object, _h, _u32)
pool_stmt_query_objects = _bind("pool_stmt_query_objects", ctypes.py_object, _h, _b, _size, _size, _b, _u32)
pool_result_outcome_objects = _bind("pool_result_outcome_objects", ctypes.py_object, _h, _u32)


class PythonAPI(ctypes.Structure):
    """pool_python_api_t: the CPython functions and objects the library
    builds rows with (pool_query_objects)."""

    _FUNCTIONS = ("PyTuple_New", "PyTuple_SetItem", "PyList_New", "PyList_SetItem", "PyLong_FromLongLong",
                  "PyLong_FromUnsignedLongLong", "PyLong_FromString", "PyFloat_FromDouble", "PyUnicode_DecodeUTF8",
                  "PyBytes_FromStringAndSize", "PyObject_Call", "PyGILState_Ensure", "PyGILState_Release",
                  "Py_IncRef", "Py_DecRef", "PyErr_Clear")
    _OBJECTS = ("none", "decimal", "datetime", "date", "timedelta")
    _fields_ = ([("struct_size", _size)] + [(name, ctypes.c_void_p) for name in _FUNCTIONS]
                + [(name, ctypes.c_void_p) for name in _OBJECTS])


def _hand_over_python():
    """pool_python_init with this interpreter's API; False where there is
    none to hand (not CPython) or the library refuses it."""
    import datetime
    import decimal
    import sys

    if sys.implementation.name != "cpython":
        return False
    functions = [ctypes.cast(getattr(ctypes.pythonapi, name), ctypes.c_void_p) for name in PythonAPI._FUNCTIONS]
    objects = [id(None), id(decimal.Decimal), id(datetime.datetime), id(datetime.date), id(datetime.timedelta)]
    api = PythonAPI(ctypes.sizeof(PythonAPI), *functions, *objects)
    return pool_python_init(ctypes.byref(api)) == POOL_OK


PYTHON_OBJECTS = _hand_over_python()

if pool_version_number() != EXPECTED_VERSION_NUMBER:
    raise ImportError(
        f"pymysqlpool expects libmysqlpool {EXPECTED_VERSION_NUMBER}, "
        f"the loaded library is {pool_version_number()}: rebuild with `make build`"
    )


def last_error():
    """(code, errno, message, sqlstate) of this thread's last failure."""
    message = ctypes.string_at(pool_last_error()).decode("utf-8", "replace")
    return pool_last_error_code(), pool_last_errno(), message, pool_last_sqlstate().decode("ascii")


class PoolClosedError(err.GetConnectionFromPoolError):
    """The pool was closed."""


def raise_last(code):
    """Raises the exception PyMySQL (or pymysql-pool) would for a failure."""
    _, errno, message, sqlstate = last_error()
    if code == POOL_E_SERVER:
        raise err.exception_for(errno, message, sqlstate)
    if code == POOL_E_EXHAUSTED:
        raise err.GetConnectionFromPoolError(message)
    if code == POOL_E_CLOSED:
        raise PoolClosedError(message)
    if code == POOL_E_UNKNOWN_OPTION:
        raise TypeError(message)
    if code == POOL_E_BAD_ARGUMENT:
        raise ValueError(message)
    if code == POOL_E_NO_MEMORY:
        raise MemoryError(message)
    if code == POOL_E_MISUSE:
        raise err.ProgrammingError(2014, message)
    if code == POOL_E_WRONG_HANDLE:
        raise err.InterfaceError(0, message)
    raise err.InternalError(0, message)


def check(code):
    if code != POOL_OK:
        raise_last(code)
