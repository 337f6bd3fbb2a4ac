"""PyMySQL's cursors (Cursor, DictCursor, SSCursor, SSDictCursor) plus
pymysql-pool's db_query / db_modify helpers."""

from __future__ import annotations

import re
import warnings
TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing when running

from . import err

if TYPE_CHECKING:  # names for annotations only: nothing here is imported at run time
    from typing import Any, Iterable, Iterator, Sequence, Tuple, TypeVar

    from .connections import Connection

    _CursorT = TypeVar("_CursorT", bound="Cursor")
    #: PEP 249's description of one column: (name, type_code, display_size,
    #: internal_size, precision, scale, null_ok).
    ColumnDescription = Tuple[str, int, None, int, int, int, bool]

#: PyMySQL's pattern for executemany's multi-row INSERT/REPLACE rewriting.
RE_INSERT_VALUES = re.compile(
    r"\s*((?:INSERT|REPLACE)\b.+\bVALUES?\s*)"
    + r"(\(\s*(?:%s|%\([^)]+\)s)\s*(?:,\s*(?:%s|%\([^)]+\)s)\s*)*\))"
    + r'(\s*(?:AS\s+(?:`[^`]+`|"[^"]+"|[0-9A-Za-z_$]+)\s*'
    + r'(?:\(\s*(?:`[^`]+`|"[^"]+"|[0-9A-Za-z_$]+)\s*'
    + r'(?:,\s*(?:`[^`]+`|"[^"]+"|[0-9A-Za-z_$]+)\s*)*\))?\s*)?'
    + r"(?:ON DUPLICATE.*)?);?\s*\Z",
    re.IGNORECASE | re.DOTALL,
)


class Cursor:
    """A buffered cursor: the whole result is read by execute(). Rows are
    tuples.

    Attributes (PEP 249): ``rowcount`` (rows the last statement changed or
    returned, -1 before any), ``lastrowid`` (its AUTO_INCREMENT value, None
    after a statement that returned rows), ``description`` (one 7-tuple per
    column of the last result set, None after a statement without one),
    ``arraysize`` (fetchmany()'s default), ``rownumber`` (index of the next
    row), ``connection`` (None once closed).
    """

    #: Largest statement executemany builds (PyMySQL's value).
    max_stmt_length: int = 1024000

    # PyMySQL's initial values, as class defaults: a cursor per query is the
    # common pattern, and each instance then sets only what changes.
    warning_count: int = 0
    description: tuple[ColumnDescription, ...] | None = None
    rownumber: int = 0
    rowcount: int = -1
    arraysize: int = 1
    lastrowid: int | None = None
    _executed = None
    _result = None
    _rows = None

    connection: Connection | None

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def close(self) -> None:
        """Reads past any remaining results; the cursor is unusable after."""
        connection = self.connection
        if connection is None:
            return
        try:
            result = self._result
            if result is not None and result.has_next:
                self._skip_results()
        finally:
            self.connection = None

    def _skip_results(self):
        """Reads past the remaining results of a multi-statement query."""
        result = self._result
        if result is not None and result.has_next:
            while self.nextset():
                pass

    def __enter__(self: _CursorT) -> _CursorT:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _get_db(self):
        if not self.connection:
            raise err.ProgrammingError("Cursor closed")
        return self.connection

    def _check_executed(self):
        if not self._executed:
            raise err.ProgrammingError("execute() first")

    def _conv_row(self, row):
        return row

    def setinputsizes(self, *args: object) -> None:
        """Does nothing, required by PEP 249."""

    def setoutputsizes(self, *args: object) -> None:
        """Does nothing, required by PEP 249."""

    def _nextset(self, unbuffered=False):
        connection = self._get_db()
        current = self._result
        if current is None or current is not connection._result or not current.has_next:
            return None
        self._result = None
        self._clear_result()
        connection.next_result(unbuffered=unbuffered)
        if connection._result is None:
            return None
        self._do_get_result()
        return True

    def nextset(self) -> bool | None:
        """Moves to the next result of a multi-statement query or a
        procedure call: True, or None when there is no other."""
        return self._nextset(False)

    def _mogrify(self, query, args):
        escape = self._get_db().escape
        if isinstance(args, dict):
            args = {key: escape(item) for key, item in args.items()}
        elif isinstance(args, (list, tuple)):
            args = tuple(map(escape, args))
        else:
            warnings.warn("single argument is deprecated and will be removed in the next version.",
                          DeprecationWarning, stacklevel=3)
            args = escape(args)
        try:
            return query % args
        except TypeError as error:
            raise err.ProgrammingError(str(error)) from None

    def mogrify(self, query: str, args: object = None) -> str:
        """The exact statement execute() would send."""
        return query if args is None else self._mogrify(query, args)

    def execute(self, query: str | bytes, args: object = None) -> int:
        """Runs ``query`` with ``args`` escaped into its ``%s`` (a sequence)
        or ``%(name)s`` (a mapping) placeholders; returns the affected rows
        (rows of a result set), as rowcount."""
        self._skip_results()
        if args is not None:
            query = self._mogrify(query, args)
        result = self._query(query)
        self._executed = query
        return result

    def executemany(self, query: str, args: Iterable[object]) -> int | None:
        """Runs ``query`` once per item of ``args``; an INSERT/REPLACE ...
        VALUES is sent as multi-row statements. Returns the affected rows
        (None when ``args`` is empty)."""
        if not args:
            return None
        statements = self._multi_row_statements(query, args)
        if statements is None:
            self.rowcount = sum(self.execute(query, arg) for arg in args)
            return self.rowcount
        rows = 0
        for statement in statements:
            rows += self.execute(statement)
        self.rowcount = rows
        return rows

    def _multi_row_statements(self, query, args):
        """PyMySQL's multi-row INSERT/REPLACE ... VALUES for executemany:
        rows joined into statements of at most max_stmt_length bytes,
        formatted by the library in one call when it can, else escaped here;
        None when ``query`` is not one (it then runs once per row)."""
        match = RE_INSERT_VALUES.match(query)
        if not match:
            return None
        prefix = match.group(1) % ()
        values = match.group(2).rstrip()
        postfix = (match.group(3) or "") % ()
        connection = self._get_db()
        # Only %s placeholders: %% or %(name)s rows go the general way.
        if type(args) in (list, tuple) and values.count("%") == values.count("%s") and "%%" not in values:
            encoding = connection.encoding
            statements = connection._insert_statements(
                prefix.encode(encoding), tuple(piece.encode(encoding) for piece in values.split("%s")),
                postfix.encode(encoding), args, self.max_stmt_length)
            if statements is not None:
                return statements
        return self._escaped_insert_statements(prefix, values, postfix, args)

    def _escaped_insert_statements(self, prefix, values, postfix, args):
        """The statements of _do_execute_many, escaped in Python: rows by a
        per-type table, encoded once per statement, not once per row."""
        connection = self._get_db()
        encoding = connection.encoding
        escape_row = connection._row_escaper()
        prefix = prefix.encode(encoding)
        postfix = postfix.encode(encoding)
        parts, size = [], len(prefix)
        for arg in args:
            if escape_row is not None and isinstance(arg, (tuple, list)):
                try:
                    text = values % escape_row(arg)
                except TypeError as error:
                    raise err.ProgrammingError(str(error)) from None
            else:
                text = self._mogrify(values, arg)
            length = len(text) if text.isascii() else len(text.encode(encoding))
            if parts and size + length + len(postfix) + 1 > self.max_stmt_length:
                yield prefix + ",".join(parts).encode(encoding) + postfix
                parts, size = [], len(prefix)
            elif parts:
                size += 1
            parts.append(text)
            size += length
        yield prefix + ",".join(parts).encode(encoding) + postfix

    def callproc(self, procname: str, args: Sequence[Any] = ()) -> Sequence[Any]:
        """CALL ``procname`` with ``args`` passed as the session variables
        ``@_procname_0``, ...; returns ``args`` unchanged (PyMySQL's way:
        read OUT parameters with SELECT @_procname_N)."""
        escaped = procname.replace("`", "``")
        connection = self._get_db()
        if args:
            assignment = f"@`_{escaped}_%d`=%s"
            self._query("SET %s" % ",".join(assignment % (index, connection.escape(arg))
                                            for index, arg in enumerate(args)))
            self.nextset()
        statement = "CALL `{}`({})".format(escaped, ",".join(f"@`_{escaped}_{i}`" for i in range(len(args))))
        self._query(statement)
        self._executed = statement
        return args

    def fetchone(self) -> tuple[Any, ...] | None:
        """The next row, or None after the last."""
        if not self._executed:
            self._check_executed()
        rows = self._rows
        number = self.rownumber
        if rows is None or number >= len(rows):
            return None
        self.rownumber = number + 1
        return rows[number]

    def fetchmany(self, size: int | None = None) -> Sequence[tuple[Any, ...]]:
        """The next ``size`` rows (default: arraysize), fewer at the end."""
        self._check_executed()
        if self._rows is None:
            return ()
        end = self.rownumber + (size or self.arraysize)
        rows = self._rows[self.rownumber:end]
        self.rownumber = min(end, len(self._rows))
        return rows

    def fetchall(self) -> Sequence[tuple[Any, ...]]:
        """The remaining rows."""
        self._check_executed()
        if self._rows is None:
            return []
        rows = self._rows[self.rownumber:] if self.rownumber else self._rows
        self.rownumber = len(self._rows)
        return rows

    def scroll(self, value: int, mode: str = "relative") -> None:
        """Moves the row position by ``value`` ("relative") or to ``value``
        ("absolute"); IndexError outside the rows."""
        self._check_executed()
        if mode == "relative":
            target = self.rownumber + value
        elif mode == "absolute":
            target = value
        else:
            raise err.ProgrammingError("unknown scroll mode %s" % mode)
        if not (0 <= target < len(self._rows)):
            raise IndexError("out of range")
        self.rownumber = target

    def _query(self, statement, parameters=None):
        connection = self._get_db()
        try:
            connection.query(statement, parameters=parameters)
        except BaseException:
            self._clear_result()  # the previous statement's rows are gone, as in PyMySQL
            raise
        self._do_get_result()
        return self.rowcount

    def _clear_result(self):
        self.rownumber = 0
        self._result = None
        self.rowcount = 0
        self.warning_count = 0
        self.description = None
        self.lastrowid = None
        self._rows = None

    def _do_get_result(self):
        self._result = result = self.connection._result
        self.rownumber = 0
        self.rowcount = result.affected_rows
        self.warning_count = result.warning_count
        self.description = result.description
        self.lastrowid = result.insert_id
        self._rows = result.rows

    def __iter__(self: _CursorT) -> _CursorT:
        return self

    def __next__(self) -> tuple[Any, ...]:
        row = self.fetchone()
        if row is None:
            raise StopIteration
        return row

    # pymysql-pool's helpers
    def db_query(self, query: str, args: object = ()) -> Sequence[tuple[Any, ...]]:
        """execute() then fetchall()."""
        self.execute(query, args)
        return self.fetchall()

    def db_modify(self, query: str, args: Any = (), exec_many: bool = False) -> dict[str, Any]:
        """execute() (or executemany()) and report {'rowcount', 'lastrowid'}."""
        if exec_many:
            self.executemany(query, args)
        else:
            self.execute(query, args)
        return {"rowcount": self.rowcount, "lastrowid": self.lastrowid}


class DictCursorMixin:
    """Rows as dicts; a repeated column name becomes ``table.name``."""

    dict_type = dict

    if TYPE_CHECKING:  # the rows as type checkers see them (no run-time definitions)
        def fetchone(self) -> dict[str, Any] | None: ...
        def fetchmany(self, size: int | None = None) -> Sequence[dict[str, Any]]: ...
        def fetchall(self) -> Sequence[dict[str, Any]]: ...
        def __next__(self) -> dict[str, Any]: ...
        def db_query(self, query: str, args: object = ()) -> Sequence[dict[str, Any]]: ...

    def _do_get_result(self):
        super()._do_get_result()
        fields = []
        if self.description:
            for field in self._result.fields:
                name = field.name
                if name in fields:
                    name = field.table_name + "." + name
                fields.append(name)
            self._fields = fields
        if fields and self._rows:
            self._rows = [self._conv_row(row) for row in self._rows]

    def _conv_row(self, row):
        if row is None:
            return None
        return self.dict_type(zip(self._fields, row))


class DictCursor(DictCursorMixin, Cursor):  # type: ignore[misc]  # rows: dicts, not tuples
    """A cursor which returns results as dictionaries."""


class SSCursor(Cursor):
    """Unbuffered cursor: rows are read from the server as they are fetched,
    in batches, one foreign call per batch."""

    def _conv_row(self, row):
        return row

    def close(self) -> None:
        """Reads and drops the rest of the result; the cursor is unusable after."""
        connection = self.connection
        if connection is None:
            return
        if self._result is not None and self._result is connection._result:
            connection._finish_result()
        try:
            while self.nextset():
                pass
        finally:
            self.connection = None

    def _query(self, statement, parameters=None):
        connection = self._get_db()
        self._clear_result()
        connection.query(statement, unbuffered=True, parameters=parameters)
        self._do_get_result()
        self._buffer = []
        self._buffer_index = 0
        return self.rowcount

    def nextset(self) -> bool | None:
        """Moves to the next result (the rest of this one is dropped)."""
        return self._nextset(unbuffered=True)

    def read_next(self) -> tuple[Any, ...] | None:
        """The next row, or None."""
        if self._buffer_index >= len(self._buffer):
            if self._result is None:
                return None
            self._buffer = self.connection._read_unbuffered(self._result, 1000)
            self._buffer_index = 0
            if not self._buffer:
                self._result.unbuffered_active = False
                return None
        row = self._buffer[self._buffer_index]
        self._buffer_index += 1
        return self._conv_row(row)

    def fetchone(self) -> tuple[Any, ...] | None:
        """The next row, read from the server as needed; None after the last."""
        self._check_executed()
        row = self.read_next()
        if row is None:
            self.warning_count = self._result.warning_count if self._result else 0
            return None
        self.rownumber += 1
        return row

    def fetchall(self) -> list[tuple[Any, ...]]:
        """The remaining rows, all read into memory."""
        return list(self.fetchall_unbuffered())

    def fetchall_unbuffered(self) -> Iterator[tuple[Any, ...]]:
        """The remaining rows, one at a time, without holding them all."""
        return iter(self.fetchone, None)

    def fetchmany(self, size: int | None = None) -> Sequence[tuple[Any, ...]]:
        """The next ``size`` rows (default: arraysize), fewer at the end."""
        self._check_executed()
        if size is None:
            size = self.arraysize
        rows = []
        for _ in range(size):
            row = self.read_next()
            if row is None:
                self.warning_count = self._result.warning_count if self._result else 0
                break
            rows.append(row)
            self.rownumber += 1
        return rows or ()

    def scroll(self, value: int, mode: str = "relative") -> None:
        """Skips rows forward only; backwards is NotSupportedError."""
        self._check_executed()
        if mode == "relative":
            if value < 0:
                raise err.NotSupportedError("Backwards scrolling not supported by this cursor")
            for _ in range(value):
                self.read_next()
            self.rownumber += value
        elif mode == "absolute":
            if value < self.rownumber:
                raise err.NotSupportedError("Backwards scrolling not supported by this cursor")
            for _ in range(value - self.rownumber):
                self.read_next()
            self.rownumber = value
        else:
            raise err.ProgrammingError("unknown scroll mode %s" % mode)


class SSDictCursor(DictCursorMixin, SSCursor):  # type: ignore[misc]  # rows: dicts, not tuples
    """An unbuffered cursor which returns results as dictionaries."""

    if TYPE_CHECKING:  # the rows as type checkers see them (no run-time definitions)
        def read_next(self) -> dict[str, Any] | None: ...  # type: ignore[override]
        def fetchall_unbuffered(self) -> Iterator[dict[str, Any]]: ...  # type: ignore[override]


class PreparedCursorMixin:
    """Runs each statement as a server-side prepared statement, through the
    binary protocol and the connection's statement cache (stmt_cache_size):
    the values travel apart from the statement's text, and a statement the
    connection has run before is not prepared again, even after the
    connection went back to the pool. Rows, types and ``description`` are
    the plain cursor's.

    Placeholders are PyMySQL's (``%s``, or ``%(name)s`` with a mapping;
    ``%%`` is a literal ``%``) or the server's own ``?`` when ``args`` is
    None. A sequence or set cannot be one parameter (``IN %s`` needs a plain
    cursor). executemany() runs the statement once per row.
    """

    def execute(self, query: str | bytes, args: object = None) -> int:
        self._skip_results()
        statement, parameters = _prepared_statement(query, args)
        result = self._query(statement, parameters)
        self._executed = query
        return result

    def executemany(self, query: str, args: Iterable[object]) -> int | None:
        if not args:
            return None
        self.rowcount = sum(self.execute(query, row) for row in args)
        return self.rowcount

    def mogrify(self, query: str, args: object = None) -> str:
        """The statement as prepared (``?`` where the values go)."""
        statement, _ = _prepared_statement(query, args)
        return statement


class _Names(dict):
    """Records the names ``%(name)s`` asks for, in order, answering ``?``."""

    def __init__(self):
        super().__init__()
        self.order = []

    def __missing__(self, key):
        self.order.append(key)
        return "?"


def _prepared_statement(query, args):
    """(statement with ``?`` placeholders, parameter list) for ``args``:
    ``?`` goes exactly where PyMySQL would have put an escaped value."""
    if args is None:
        return query, ()
    mark = b"?" if isinstance(query, bytes) else "?"
    try:
        if isinstance(args, dict):
            names = _Names()
            statement = query % names
            return statement, [args[name] for name in names.order]
        if not isinstance(args, (list, tuple)):
            warnings.warn("single argument is deprecated and will be removed in the next version.",
                          DeprecationWarning, stacklevel=3)
            args = (args,)
        return query % ((mark,) * len(args)), args
    except TypeError as error:
        raise err.ProgrammingError(str(error)) from None


class PreparedCursor(PreparedCursorMixin, Cursor):
    """A buffered cursor running prepared statements (see PreparedCursorMixin)."""


class PreparedDictCursor(PreparedCursorMixin, DictCursor):  # type: ignore[misc]
    """PreparedCursor with rows as dictionaries."""


class PreparedSSCursor(PreparedCursorMixin, SSCursor):
    """An unbuffered cursor running prepared statements."""


class PreparedSSDictCursor(PreparedCursorMixin, SSDictCursor):  # type: ignore[misc]
    """PreparedSSCursor with rows as dictionaries."""


_PREPARED = {Cursor: PreparedCursor, DictCursor: PreparedDictCursor, SSCursor: PreparedSSCursor,
             SSDictCursor: PreparedSSDictCursor}


def prepared_variant(cls):
    """The prepared cursor class for cursor class ``cls`` (made once for a
    class of the application's own)."""
    if issubclass(cls, PreparedCursorMixin):
        return cls
    variant = _PREPARED.get(cls)
    if variant is None:
        if len(_PREPARED) >= 256:
            raise err.ProgrammingError("too many cursor classes")
        variant = _PREPARED[cls] = type("Prepared" + cls.__name__, (PreparedCursorMixin, cls), {})
    return variant
