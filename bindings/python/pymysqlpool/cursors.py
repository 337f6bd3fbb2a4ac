"""PyMySQL's cursors (Cursor, DictCursor, SSCursor, SSDictCursor) plus
pymysql-pool's db_query / db_modify helpers."""

import re
import warnings

from . import err

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
    """A buffered cursor: the whole result is read by execute()."""

    #: Largest statement executemany builds (PyMySQL's value).
    max_stmt_length = 1024000

    # PyMySQL's initial values, as class defaults: a cursor per query is the
    # common pattern, and each instance then sets only what changes.
    warning_count = 0
    description = None
    rownumber = 0
    rowcount = -1
    arraysize = 1
    lastrowid = None
    _executed = None
    _result = None
    _rows = None

    def __init__(self, connection):
        self.connection = connection

    def close(self):
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

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
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

    def setinputsizes(self, *args):
        """Does nothing, required by PEP 249."""

    def setoutputsizes(self, *args):
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

    def nextset(self):
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

    def mogrify(self, query, args=None):
        """The exact statement execute() would send."""
        return query if args is None else self._mogrify(query, args)

    def execute(self, query, args=None):
        self._skip_results()
        if args is not None:
            query = self._mogrify(query, args)
        result = self._query(query)
        self._executed = query
        return result

    def executemany(self, query, args):
        if not args:
            return None
        match = RE_INSERT_VALUES.match(query)
        if match:
            prefix = match.group(1) % ()
            values = match.group(2).rstrip()
            postfix = (match.group(3) or "") % ()
            return self._do_execute_many(prefix, values, postfix, args)
        self.rowcount = sum(self.execute(query, arg) for arg in args)
        return self.rowcount

    def _do_execute_many(self, prefix, values, postfix, args):
        """PyMySQL's multi-row INSERT: rows joined into statements of at most
        max_stmt_length bytes. Rows are escaped by a per-type table and
        encoded once per statement, not once per row."""
        connection = self._get_db()
        encoding = connection.encoding
        escape_row = connection._row_escaper()
        prefix = prefix.encode(encoding)
        postfix = postfix.encode(encoding)
        parts, size, rows = [], len(prefix), 0
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
                rows += self.execute(prefix + ",".join(parts).encode(encoding) + postfix)
                parts, size = [], len(prefix)
            elif parts:
                size += 1
            parts.append(text)
            size += length
        rows += self.execute(prefix + ",".join(parts).encode(encoding) + postfix)
        self.rowcount = rows
        return rows

    def callproc(self, procname, args=()):
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

    def fetchone(self):
        if not self._executed:
            self._check_executed()
        rows = self._rows
        number = self.rownumber
        if rows is None or number >= len(rows):
            return None
        self.rownumber = number + 1
        return rows[number]

    def fetchmany(self, size=None):
        self._check_executed()
        if self._rows is None:
            return ()
        end = self.rownumber + (size or self.arraysize)
        rows = self._rows[self.rownumber:end]
        self.rownumber = min(end, len(self._rows))
        return rows

    def fetchall(self):
        self._check_executed()
        if self._rows is None:
            return []
        rows = self._rows[self.rownumber:] if self.rownumber else self._rows
        self.rownumber = len(self._rows)
        return rows

    def scroll(self, value, mode="relative"):
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

    def _query(self, statement):
        connection = self._get_db()
        try:
            connection.query(statement)
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

    def __iter__(self):
        return self

    def __next__(self):
        row = self.fetchone()
        if row is None:
            raise StopIteration
        return row

    # pymysql-pool's helpers
    def db_query(self, query, args=()):
        """execute() then fetchall()."""
        self.execute(query, args)
        return self.fetchall()

    def db_modify(self, query, args=(), exec_many=False):
        """execute() (or executemany()) and report {'rowcount', 'lastrowid'}."""
        if exec_many:
            self.executemany(query, args)
        else:
            self.execute(query, args)
        return {"rowcount": self.rowcount, "lastrowid": self.lastrowid}


class DictCursorMixin:
    """Rows as dicts; a repeated column name becomes ``table.name``."""

    dict_type = dict

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


class DictCursor(DictCursorMixin, Cursor):
    """A cursor which returns results as dictionaries."""


class SSCursor(Cursor):
    """Unbuffered cursor: rows are read from the server as they are fetched,
    in batches, one foreign call per batch."""

    def _conv_row(self, row):
        return row

    def close(self):
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

    def _query(self, statement):
        connection = self._get_db()
        self._clear_result()
        connection.query(statement, unbuffered=True)
        self._do_get_result()
        self._buffer = []
        self._buffer_index = 0
        return self.rowcount

    def nextset(self):
        return self._nextset(unbuffered=True)

    def read_next(self):
        """The next row, or None."""
        if self._buffer_index >= len(self._buffer):
            if self._result is None:
                return None
            self._buffer = self.connection._read_unbuffered(self._result, 1000)
            self._buffer_index = 0
            if not self._buffer:
                return None
        row = self._buffer[self._buffer_index]
        self._buffer_index += 1
        return self._conv_row(row)

    def fetchone(self):
        self._check_executed()
        row = self.read_next()
        if row is None:
            self.warning_count = self._result.warning_count if self._result else 0
            return None
        self.rownumber += 1
        return row

    def fetchall(self):
        return list(self.fetchall_unbuffered())

    def fetchall_unbuffered(self):
        return iter(self.fetchone, None)

    def fetchmany(self, size=None):
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

    def scroll(self, value, mode="relative"):
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


class SSDictCursor(DictCursorMixin, SSCursor):
    """An unbuffered cursor which returns results as dictionaries."""
