"""The fast path (rows built by libmysqlpool as one pickle per batch) must give
exactly what PyMySQL's own decoders give for the same server bytes.

Each query is read twice on the same server: once through the fast path and
once with ``conv=`` set, which makes the library hand over every value as raw
bytes and pymysqlpool apply PyMySQL's converters in Python (the reference).
Hypothesis generates the values, including ones that do not parse (zero
dates), so every branch of the encoder meets data it did not choose.
"""

import datetime
import decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pymysqlpool
from pymysqlpool import converters

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def connections(server_kw):
    fast = pymysqlpool.connect(**server_kw, sql_mode="")
    reference = pymysqlpool.connect(**server_kw, sql_mode="", conv=dict(converters.conversions))
    yield fast, reference
    fast.close()
    reference.close()


def both(connections, query, args=None):
    results = []
    for connection in connections:
        with connection.cursor() as cursor:
            cursor.execute(query, args)
            results.append(cursor.fetchall())
    fast, reference = results
    assert [[type(v) for v in row] for row in fast] == [[type(v) for v in row] for row in reference]
    assert fast == reference
    return fast


@SETTINGS
@given(st.integers(min_value=-(2**63), max_value=2**63 - 1), st.integers(min_value=0, max_value=2**64 - 1))
def test_integers(connections, signed, unsigned):
    rows = both(connections, "SELECT CAST(%s AS SIGNED), CAST(%s AS UNSIGNED), CAST(%s AS SIGNED) DIV 3",
                (signed, unsigned, signed))
    assert rows[0][0] == signed and rows[0][1] == unsigned


@SETTINGS
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_doubles(connections, value):
    rows = both(connections, "SELECT %s + 0e0, CAST(%s AS FLOAT)", (value, value))
    assert isinstance(rows[0][0], float)


@SETTINGS
@given(st.decimals(min_value=-(10**20), max_value=10**20, allow_nan=False, places=6))
def test_decimals(connections, value):
    rows = both(connections, "SELECT CAST(%s AS DECIMAL(30,6))", (value,))
    assert rows[0][0] == value


@SETTINGS
@given(st.datetimes(min_value=datetime.datetime(1000, 1, 1), max_value=datetime.datetime(9999, 12, 31)))
def test_datetimes_and_dates(connections, value):
    rows = both(connections, "SELECT CAST(%s AS DATETIME(6)), CAST(%s AS DATE), CAST(%s AS DATETIME)",
                (value, value, value))
    assert rows[0][0] == value


@SETTINGS
@given(st.integers(min_value=-(838 * 3600 + 59 * 60 + 59) * 10**6, max_value=(838 * 3600 + 59 * 60 + 59) * 10**6))
def test_times(connections, microseconds):
    value = datetime.timedelta(microseconds=microseconds)
    rows = both(connections, "SELECT CAST(%s AS TIME(6)), CAST(%s AS TIME)", (value, value))
    assert rows[0][0] == value


def test_values_that_do_not_parse_come_back_as_str(connections):
    rows = both(connections, "SELECT CAST('0000-00-00' AS DATE), CAST('0000-00-00 00:00:00' AS DATETIME), "
                             "CAST('2024-02-00' AS DATE)")
    assert all(isinstance(value, (str, type(None))) for value in rows[0])


@SETTINGS
@given(st.text(max_size=300), st.binary(max_size=600))
def test_text_and_bytes(connections, text, data):
    rows = both(connections, "SELECT %s, %s, CAST(%s AS BINARY), NULL", (text, data, text))
    assert rows[0][0] == text and rows[0][1] == data


@SETTINGS
@given(st.lists(st.tuples(st.integers(-10**6, 10**6), st.text(max_size=20), st.none()), min_size=0, max_size=40))
def test_many_rows_and_columns(connections, rows):
    if not rows:
        return
    union = " UNION ALL ".join(["SELECT %s, %s, %s, 1.5, CAST('2024-02-29 12:34:56.5' AS DATETIME(1)), x'00ff'"] * len(rows))
    args = [value for row in rows for value in row]
    fetched = both(connections, union, args)
    assert len(fetched) == len(rows)
    assert [(a, b) for a, b, *_ in fetched] == [(a, b) for a, b, _ in rows]
    assert isinstance(fetched[0][3], decimal.Decimal)
