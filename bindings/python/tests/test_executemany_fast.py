"""executemany's INSERT statements come from the library in one call
(pool_format_insert_pickle) when the rows hold only None, bool, int, float,
str and bytes. They must be byte for byte the statements the Python escaping
writes, in both quoting modes and wherever max_stmt_length splits them; any
other row goes the Python way, with the same outcome as before.
"""

import ctypes
import datetime
import decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pymysqlpool
from pymysqlpool import _lib, err

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
PREFIX, TEMPLATE, POSTFIX = "INSERT INTO t (a, b, c) VALUES ", "(%s, %s,%s)", " ON DUPLICATE KEY UPDATE a=a"

values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.text(), st.binary(max_size=40),
    st.sampled_from(["'", '"', "\\", "\0", "\n", "\r", "\x1a", "é'\\", "''", "\\'"]),
)
rows_of_three = st.lists(st.tuples(values, values, values) | st.lists(values, min_size=3, max_size=3),
                         min_size=1, max_size=25)


@pytest.fixture(params=["", "NO_BACKSLASH_ESCAPES"])
def connection(server_kw, request):
    connection = pymysqlpool.connect(**server_kw, sql_mode=request.param)
    yield connection
    connection.close()


def library_statements(connection, rows, max_length=1024000, template=TEMPLATE):
    encode = connection.encoding
    pieces = tuple(piece.encode(encode) for piece in template.split("%s"))
    return connection._insert_statements(PREFIX.encode(), pieces, POSTFIX.encode(), rows, max_length)


def python_statements(connection, rows, max_length=1024000, template=TEMPLATE):
    cursor = connection.cursor()
    cursor.max_stmt_length = max_length
    return list(cursor._escaped_insert_statements(PREFIX, template, POSTFIX, rows))


@SETTINGS
@given(rows=rows_of_three, max_length=st.integers(min_value=1, max_value=400))
def test_library_writes_the_statements_python_writes(connection, rows, max_length):
    expected = python_statements(connection, rows, max_length)
    assert library_statements(connection, rows, max_length) == expected


@SETTINGS
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False) | st.integers(min_value=-(2**63),
                                                                                  max_value=2**63 - 1),
                min_size=1, max_size=50))
def test_numbers_are_written_as_python_repr_writes_them(connection, numbers):
    rows = [(number,) for number in numbers]
    assert library_statements(connection, rows, template="(%s)") == python_statements(connection, rows,
                                                                                      template="(%s)")


def test_shared_strings_and_rows_are_read_through_the_memo(connection):
    text, row = "same object", (1, "x", None)
    rows = [(text, text, text), row, row, [2, text, b"\x00'"]]
    statements = library_statements(connection, rows)
    assert statements == python_statements(connection, rows)


@pytest.mark.parametrize("row", [
    (decimal.Decimal("1.5"), 1, 2), (datetime.date(2024, 1, 2), 1, 2), ((1, 2), 3, 4), (float("inf"), 1, 2),
    (float("nan"), 1, 2), (2**64, 1, 2), (-(2**63) - 1, 1, 2), ("lone \udc80", 1, 2), (1, 2), (1, 2, 3, 4),
    {"a": 1}, 5, (bytearray(b"x"), 1, 2),
])
def test_rows_the_library_leaves_to_python(connection, row):
    assert library_statements(connection, [(1, 2, 3), row]) is None


def test_a_list_appearing_twice_is_left_to_python(connection):
    shared = [1, "x", None]
    assert library_statements(connection, [shared, shared]) is None


def test_a_non_utf8_connection_is_left_to_python(server_kw):
    connection = pymysqlpool.connect(**server_kw, charset="latin1")
    try:
        assert library_statements(connection, [(1, "é", None)]) is None
    finally:
        connection.close()


def test_executemany_of_rows_the_library_leaves_to_python_still_works(fresh_table, connection):
    table = fresh_table("id INT PRIMARY KEY, d DECIMAL(6,2), day DATE")
    rows = [(1, decimal.Decimal("1.50"), datetime.date(2024, 1, 2)), (2, None, None)]
    with connection.cursor() as cursor:
        assert cursor.executemany(f"INSERT INTO {table} (id, d, day) VALUES (%s, %s, %s)", rows) == 2
        cursor.execute(f"SELECT id, d, day FROM {table} ORDER BY id")
        assert cursor.fetchall() == tuple(rows)


def test_a_row_of_the_wrong_length_raises_as_before(fresh_table, connection):
    table = fresh_table("a INT, b INT")
    with connection.cursor() as cursor, pytest.raises(err.ProgrammingError):
        cursor.executemany(f"INSERT INTO {table} (a, b) VALUES (%s, %s)", [(1, 2), (3,)])


def test_executemany_round_trips_every_fast_type(fresh_table, connection):
    table = fresh_table("id INT PRIMARY KEY, s VARCHAR(64), b VARBINARY(64), f DOUBLE, n INT NULL, t TINYINT")
    rows = [(i, f"it's \\ \"{i}\" é\n", bytes([i, 0, 39, 92]), i / 7, None if i % 2 else i, i % 2 == 0)
            for i in range(200)]
    with connection.cursor() as cursor:
        cursor.max_stmt_length = 2000  # several statements
        assert cursor.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s, %s, %s, %s)", rows) == 200
        assert cursor.rowcount == 200
        cursor.execute(f"SELECT id, s, b, f, n, t FROM {table} ORDER BY id")
        got = cursor.fetchall()
    assert [(i, s, b, f, n, bool(t)) for i, s, b, f, n, t in got] == rows


@pytest.mark.parametrize("request_bytes, code, says", [
    (b"", _lib.POOL_E_BAD_ARGUMENT, b"ends early, at offset 0"),
    (b"\x80\x04", _lib.POOL_E_BAD_ARGUMENT, b"ends early, at offset 2"),
    (b"\x80\x04K\x01.", _lib.POOL_E_BAD_ARGUMENT, b"not a tuple (prefix, pieces, postfix, rows)"),
    (b"\x80\x04X\xff\xff\xff\x7f.", _lib.POOL_E_BAD_ARGUMENT, b"runs past the pickle's end"),
    (b"\x80\x04)\x85..", _lib.POOL_E_BAD_ARGUMENT, b"1 bytes after STOP"),
    (b"cos\nsystem\n.", _lib.POOL_E_MISUSE, b"pickle opcode 0x63 at offset 0"),
])
def test_malformed_requests_are_refused_with_the_offset(connection, request_bytes, code, says):
    data, length = ctypes.c_void_p(), ctypes.c_size_t()
    got = _lib.pool_format_insert_pickle(connection._handle, request_bytes, len(request_bytes), 100,
                                         ctypes.byref(data), ctypes.byref(length))
    assert got == code
    assert says in ctypes.string_at(_lib.pool_last_error())
