"""pymysqlpool: a drop-in replacement for pymysql-pool 0.5.0 (and the PyMySQL
connections and cursors it hands out), over the libmysqlpool C library.

    from pymysqlpool import ConnectionPool
    pool = ConnectionPool(host="127.0.0.1", user="app", password="...", database="test", maxsize=10)
    with pool.connection() as conn:
        with conn.cursor() as cursor:
            cursor.execute("SELECT %s + 1", (41,))
            print(cursor.fetchone())

pymysqlpool.connect(...) (also Connect, Connection) opens a private
connection with PyMySQL's keywords. The package has inline type hints
(PEP 561, py.typed).
"""

from __future__ import annotations

from datetime import date as Date  # noqa: N812 - PEP 249 names
from datetime import datetime as Timestamp  # noqa: N812
from datetime import time as Time  # noqa: N812
from datetime import timedelta as TimeDelta  # noqa: N812
from time import localtime as _localtime

from . import err
from .connections import Connection
from .constants import FIELD_TYPE
from .cursors import (Cursor, DictCursor, PreparedCursor, PreparedDictCursor, PreparedSSCursor,
                      PreparedSSDictCursor, SSCursor, SSDictCursor)
from .err import (
    DatabaseError,
    DataError,
    Error,
    GetConnectionFromPoolError,
    IntegrityError,
    InterfaceError,
    InternalError,
    MySQLError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    ReturnConnectionToPoolError,
    Warning,
)
from .pool import ConnectionPool, ConnectionPoolSingleton, logger

VERSION = (0, 1, 0)
__version__ = "0.1.0"
VERSION_STRING = __version__  # PyMySQL's name, read by SQLAlchemy

apilevel = "2.0"
threadsafety = 1
paramstyle = "pyformat"

Connect = connect = Connection


class DBAPISet(frozenset):
    """A set of type codes that compares equal to each of its members."""

    def __ne__(self, other: object) -> bool:
        if isinstance(other, set):
            return frozenset.__ne__(self, other)
        return other not in self

    def __eq__(self, other: object) -> bool:
        if isinstance(other, frozenset):
            return frozenset.__eq__(self, other)
        return other in self

    def __hash__(self) -> int:
        return frozenset.__hash__(self)


STRING = DBAPISet([FIELD_TYPE.ENUM, FIELD_TYPE.STRING, FIELD_TYPE.VAR_STRING])
BINARY = DBAPISet([FIELD_TYPE.BLOB, FIELD_TYPE.LONG_BLOB, FIELD_TYPE.MEDIUM_BLOB, FIELD_TYPE.TINY_BLOB])
NUMBER = DBAPISet([FIELD_TYPE.DECIMAL, FIELD_TYPE.DOUBLE, FIELD_TYPE.FLOAT, FIELD_TYPE.INT24, FIELD_TYPE.LONG,
                   FIELD_TYPE.LONGLONG, FIELD_TYPE.TINY, FIELD_TYPE.YEAR])
DATE = DBAPISet([FIELD_TYPE.DATE, FIELD_TYPE.NEWDATE])
TIME = DBAPISet([FIELD_TYPE.TIME])
TIMESTAMP = DBAPISet([FIELD_TYPE.TIMESTAMP, FIELD_TYPE.DATETIME])
DATETIME = TIMESTAMP
ROWID = DBAPISet()


def Binary(x: bytes | bytearray | memoryview) -> bytes:  # noqa: N802 - PEP 249 name
    """x as a binary value."""
    return bytes(x)


def DateFromTicks(ticks: float) -> Date:  # noqa: N802
    """The local date at ``ticks`` seconds since the epoch."""
    return Date(*_localtime(ticks)[:3])


def TimeFromTicks(ticks: float) -> Time:  # noqa: N802
    """The local time of day at ``ticks`` seconds since the epoch."""
    return Time(*_localtime(ticks)[3:6])


def TimestampFromTicks(ticks: float) -> Timestamp:  # noqa: N802
    """The local date and time at ``ticks`` seconds since the epoch."""
    return Timestamp(*_localtime(ticks)[:6])


def get_client_info() -> str:
    """This package's version, as PyMySQL's get_client_info()."""
    return "%d.%d.%d" % VERSION


def thread_safe() -> bool:
    """True, as PyMySQL's (MySQLdb's): the client library is thread-safe."""
    return True


PooledConnection = Connection

__all__ = [
    "BINARY", "Binary", "Connect", "Connection", "ConnectionPool", "ConnectionPoolSingleton", "Cursor",
    "DATE", "DATETIME", "DataError", "DatabaseError", "Date", "DateFromTicks", "DictCursor", "Error",
    "GetConnectionFromPoolError", "IntegrityError", "InterfaceError", "InternalError", "MySQLError",
    "NUMBER", "NotSupportedError", "OperationalError", "PooledConnection", "PreparedCursor", "PreparedDictCursor",
    "PreparedSSCursor", "PreparedSSDictCursor", "ProgrammingError", "ROWID",
    "ReturnConnectionToPoolError", "SSCursor", "SSDictCursor", "STRING", "TIME", "TIMESTAMP", "Time",
    "TimeDelta", "TimeFromTicks", "Timestamp", "TimestampFromTicks", "Warning", "apilevel", "connect", "err",
    "logger", "paramstyle", "threadsafety",
]
