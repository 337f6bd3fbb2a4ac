"""PyMySQL's exception hierarchy (PEP 249), errno -> class table included.

When PyMySQL is importable, its own classes are used, so ``except
pymysql.err.IntegrityError`` and ``except pymysqlpool.err.IntegrityError``
catch the same errors. PyMySQL is never required.
"""

import re

try:  # interop only: the classes are PyMySQL's own when it is installed
    from pymysql.err import (  # type: ignore[import-not-found]
        DatabaseError,
        DataError,
        Error,
        IntegrityError,
        InterfaceError,
        InternalError,
        MySQLError,
        NotSupportedError,
        OperationalError,
        ProgrammingError,
        Warning,
    )
except ImportError:

    class MySQLError(Exception):
        """Exception related to operation with MySQL."""

    class Warning(Warning, MySQLError):  # noqa: A001 - PEP 249 name
        """Exception raised for important warnings like data truncations."""

    class Error(MySQLError):
        """Base class of all other error exceptions (not Warning)."""

        def __init__(self, *args, sqlstate=None):
            super().__init__(*args)
            self.sqlstate = sqlstate

    class InterfaceError(Error):
        """Errors related to the database interface rather than the database."""

    class DatabaseError(Error):
        """Errors related to the database."""

    class DataError(DatabaseError):
        """Problems with the processed data (out of range, truncation, ...)."""

    class OperationalError(DatabaseError):
        """Errors in the database's operation (disconnects, access, ...)."""

    class IntegrityError(DatabaseError):
        """Relational integrity is affected (duplicate key, foreign key)."""

    class InternalError(DatabaseError):
        """The database encountered an internal error."""

    class ProgrammingError(DatabaseError):
        """Programming errors (table not found, syntax error, ...)."""

    class NotSupportedError(DatabaseError):
        """A method or database API was used which is not supported."""


class GetConnectionFromPoolError(Exception):
    """No connection could be had from the pool (exhausted or closed)."""


class ReturnConnectionToPoolError(Exception):
    """The connection was already returned to its pool."""


# errno -> class, as PyMySQL maps server errors.
error_map = {}
for _class, _numbers in (
    (ProgrammingError, (1007, 1149, 1064, 1146, 1102, 1103, 1110, 1111, 1112, 1113, 1179, 1166)),
    (DataError, (1265, 1263, 1264, 1230, 1171, 1406, 1441, 1366, 1367)),
    (IntegrityError, (1062, 1216, 1452, 1217, 1451, 1215, 1048)),
    (NotSupportedError, (1196, 1235, 1289, 1286)),
    (OperationalError, (1044, 1045, 1040, 1142, 1143, 4025, 1213)),
):
    for _number in _numbers:
        error_map[_number] = _class
del _class, _numbers, _number


# libmariadb reports a LOAD DATA LOCAL file it cannot open with the system's
# errno (2 for a missing file) and this message; PyMySQL raises 1017.
_LOCAL_FILE_ERROR = re.compile(r"File '(.*)' not found \(Errcode: \d+\)", re.DOTALL)


def exception_for(errno, message, sqlstate=None):
    """The exception PyMySQL raises for a server/client error number."""
    if errno < 1000:
        unreadable = _LOCAL_FILE_ERROR.fullmatch(message)
        if unreadable:
            return OperationalError(1017, f"Can't find file '{unreadable.group(1)}'")
    errorclass = error_map.get(errno)
    if errorclass is None:
        errorclass = InternalError if errno < 1000 else OperationalError
    return errorclass(errno, message, sqlstate=sqlstate)
