"""Module-level behaviour: PEP 249 attributes, the exception module, import
side effects, connect() keyword checking, the logger, and reprs that never
show the password.

The PEP 249 checks run on ``pymysqlpool`` (fixed_in_mysqlpool: 0.5.0's
module is not a DB-API module) and on PyMySQL as a control, which keeps the
expectations honest: they are PyMySQL's.
"""

import datetime
import logging
import time

import pymysql
import pytest
from pymysql.constants import FIELD_TYPE

import pymysqlpool
from helpers import ours_err, unpooled_connect

fixed_in_mysqlpool = pytest.mark.fixed_in_mysqlpool

DRIVERS = [
    pytest.param(pymysqlpool, id="pymysqlpool", marks=fixed_in_mysqlpool),
    pytest.param(pymysql, id="pymysql-control"),
]

EXCEPTION_NAMES = [
    "MySQLError",
    "Warning",
    "Error",
    "InterfaceError",
    "DatabaseError",
    "DataError",
    "OperationalError",
    "IntegrityError",
    "InternalError",
    "ProgrammingError",
    "NotSupportedError",
]

TYPE_OBJECTS = ["STRING", "BINARY", "NUMBER", "DATE", "TIME", "TIMESTAMP", "DATETIME", "ROWID"]


# --------------------------------------------------------------------------
# PEP 249 module interface


@pytest.mark.parametrize("driver", DRIVERS)
def test_module_globals(driver):
    assert driver.apilevel == "2.0"
    assert driver.threadsafety == pymysql.threadsafety == 1
    assert driver.paramstyle == "pyformat"
    assert callable(driver.connect)
    assert driver.Connect is driver.connect


@pytest.mark.parametrize("driver", DRIVERS)
def test_constructors(driver):
    assert driver.Date(2024, 2, 29) == datetime.date(2024, 2, 29)
    assert type(driver.Date(2024, 2, 29)) is datetime.date
    assert driver.Time(13, 45, 30) == datetime.time(13, 45, 30)
    assert type(driver.Time(13, 45, 30)) is datetime.time
    assert driver.Timestamp(2024, 2, 29, 13, 45, 30) == datetime.datetime(2024, 2, 29, 13, 45, 30)
    assert type(driver.Timestamp(2024, 2, 29, 13, 45, 30)) is datetime.datetime

    ticks = time.mktime((2002, 12, 25, 13, 45, 30, 0, 0, -1)) + 0.25
    for name in ("DateFromTicks", "TimeFromTicks", "TimestampFromTicks"):
        ours, theirs = getattr(driver, name)(ticks), getattr(pymysql, name)(ticks)
        assert type(ours) is type(theirs) and ours == theirs, name
    assert driver.DateFromTicks(ticks) == datetime.date(2002, 12, 25)
    assert driver.TimeFromTicks(ticks) == datetime.time(13, 45, 30)
    assert driver.TimestampFromTicks(ticks) == datetime.datetime(2002, 12, 25, 13, 45, 30)

    for raw in (b"bytes\x00", bytearray(b"array"), memoryview(b"view"), b""):
        assert driver.Binary(raw) == bytes(raw)
        assert type(driver.Binary(raw)) is bytes


@pytest.mark.parametrize("driver", DRIVERS)
def test_type_objects_match_field_types(driver):
    assert driver.STRING == FIELD_TYPE.VAR_STRING
    assert driver.STRING == FIELD_TYPE.STRING
    assert driver.STRING == FIELD_TYPE.ENUM
    assert driver.BINARY == FIELD_TYPE.BLOB
    assert driver.NUMBER == FIELD_TYPE.LONG
    assert driver.NUMBER == FIELD_TYPE.LONGLONG
    assert driver.NUMBER == FIELD_TYPE.DOUBLE
    assert driver.DATE == FIELD_TYPE.DATE
    assert driver.TIME == FIELD_TYPE.TIME
    assert driver.DATETIME == FIELD_TYPE.DATETIME
    assert driver.DATETIME == FIELD_TYPE.TIMESTAMP
    assert driver.TIMESTAMP == FIELD_TYPE.TIMESTAMP
    assert driver.STRING != FIELD_TYPE.LONG
    assert driver.NUMBER != FIELD_TYPE.VAR_STRING
    assert FIELD_TYPE.VAR_STRING == driver.STRING  # reflected comparison too
    # Exactly PyMySQL's sets, for every type code, both ways round (e.g.
    # PyMySQL's NUMBER does not contain NEWDECIMAL, 246).
    for name in TYPE_OBJECTS:
        ours, theirs = getattr(driver, name), getattr(pymysql, name)
        for code in range(256):
            assert (ours == code) == (theirs == code), (name, code)
            assert (code == ours) == (code == theirs), (name, code)
            assert (ours != code) == (theirs != code), (name, code)
    assert driver.ROWID != FIELD_TYPE.LONG
    assert driver.DATETIME == driver.TIMESTAMP


@pytest.mark.parametrize("driver", DRIVERS)
def test_description_type_codes_compare_to_type_objects(driver, server):
    conn = driver.connect(**server)
    try:
        cur = conn.cursor()
        cur.execute("SELECT 'text', 1, 1.5e0, NOW(), CURDATE(), CAST('01:02' AS TIME), x'00'")
        codes = [d[1] for d in cur.description]
    finally:
        conn.close()
    assert codes[0] == driver.STRING
    assert codes[1] == driver.NUMBER
    assert codes[2] == driver.NUMBER
    assert codes[3] == driver.DATETIME
    assert codes[4] == driver.DATE
    assert codes[5] == driver.TIME
    assert codes[6] == driver.STRING  # x'..' literals are VAR_STRING (binary charset)


@pytest.mark.parametrize("driver", DRIVERS)
def test_exceptions_on_module_and_connection(driver, server):
    err_module = driver.err
    for name in EXCEPTION_NAMES:
        assert getattr(driver, name) is getattr(err_module, name), name
    conn = driver.connect(**server)
    try:
        for name in EXCEPTION_NAMES[1:]:  # PEP 249's optional extension
            assert getattr(conn, name) is getattr(driver, name), name
    finally:
        conn.close()


@fixed_in_mysqlpool
def test_err_hierarchy_matches_pymysql():
    err = ours_err()
    assert err is not pymysql.err
    for name in EXCEPTION_NAMES:
        assert isinstance(getattr(err, name), type), name
    # The same subclass relation between every pair of names.
    for a in EXCEPTION_NAMES:
        for b in EXCEPTION_NAMES:
            expected = issubclass(getattr(pymysql.err, a), getattr(pymysql.err, b))
            assert issubclass(getattr(err, a), getattr(err, b)) == expected, (a, b)
    assert issubclass(err.Warning, Warning)  # also Python's Warning, as in PyMySQL
    assert issubclass(err.MySQLError, Exception)
    e = err.IntegrityError(1062, "Duplicate entry")
    assert e.args == (1062, "Duplicate entry")


@fixed_in_mysqlpool
def test_cursor_classes_on_module():
    for name in ("Cursor", "DictCursor", "SSCursor", "SSDictCursor"):
        cls = getattr(pymysqlpool, name)
        assert isinstance(cls, type), name
        assert cls.__name__ == name


def test_star_import_gives_the_050_names():
    namespace = {}
    exec("from pymysqlpool import *", namespace)
    for name in ("Connection", "ConnectionPool", "ConnectionPoolSingleton", "logger"):
        assert namespace[name] is getattr(pymysqlpool, name)


# --------------------------------------------------------------------------
# Import side effects


@fixed_in_mysqlpool
def test_import_leaves_warnings_filters_alone(run_python):
    # 0.5.0 runs warnings.filterwarnings('error', category=pymysql.err.Warning)
    # at import, for the whole process.
    proc = run_python(
        "import warnings\n"
        "before = list(warnings.filters)\n"
        "import pymysqlpool\n"
        "after = list(warnings.filters)\n"
        "print(before == after)\n"
        "print([f for f in after if f not in before])\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["True", "[]"]


@fixed_in_mysqlpool
def test_import_does_not_need_pymysql(run_python):
    # Ours has no runtime dependency on PyMySQL: with pymysql unimportable
    # the package still imports and connects.
    proc = run_python(
        "import sys\n"
        "sys.modules['pymysql'] = None  # makes 'import pymysql' fail\n"
        "import os, pymysqlpool\n"
        "conn = pymysqlpool.connect(host=os.environ['MYSQL_HOST'], port=int(os.environ['MYSQL_TCP_PORT']),\n"
        "    user=os.environ['MYSQL_USER'], password=os.environ['MYSQL_PWD'], database=os.environ['MYSQL_DATABASE'])\n"
        "cur = conn.cursor(); cur.execute('SELECT 6 * 7'); print(cur.fetchone()); conn.close()\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "(42,)"


# --------------------------------------------------------------------------
# connect() keywords


@pytest.mark.parametrize("name", ["Connection", pytest.param("connect", marks=fixed_in_mysqlpool)])
def test_unknown_connect_keyword_is_a_type_error(server, name):
    connect = getattr(pymysqlpool, name)
    with pytest.raises(TypeError) as excinfo:
        connect(no_such_option=1, **server)
    assert "no_such_option" in str(excinfo.value)


def test_unpooled_connection_works(server):
    conn = unpooled_connect()(**server)
    try:
        cur = conn.cursor()
        cur.execute("SELECT %s + 1", (41,))
        assert cur.fetchone() == (42,)
    finally:
        conn.close()


# --------------------------------------------------------------------------
# The logger


def test_logger():
    logger = pymysqlpool.logger
    assert isinstance(logger, logging.Logger)
    assert logger.name == "pymysqlpool"
    assert logger is logging.getLogger("pymysqlpool")


def test_readme_debug_messages(server, caplog):
    # The README shows these lines after pymysqlpool.logger.setLevel('DEBUG').
    caplog.set_level(logging.DEBUG, logger="pymysqlpool")
    pool = pymysqlpool.ConnectionPool(size=1, maxsize=1, pre_create_num=1, name="mypool", **server)
    conn = pool.get_connection()
    conn.close()
    messages = [r.getMessage() for r in caplog.records if r.name == "pymysqlpool"]
    for expected in (
        "Create new connection in pool(mypool)",
        "Get connection from pool(mypool)",
        "Put connection back to pool(mypool)",
    ):
        assert expected in messages
    assert all(r.levelno == logging.DEBUG for r in caplog.records if r.name == "pymysqlpool")


# --------------------------------------------------------------------------
# The password never shows


@pytest.mark.distinct_password
def test_repr_never_contains_the_password(server):
    password = server["password"]
    assert password, "the test server must have a password for this test to mean anything"
    pool = pymysqlpool.ConnectionPool(size=1, maxsize=1, name="reprpool", **server)
    pooled = pool.get_connection()
    unpooled = unpooled_connect()(**server)
    try:
        objects = [pool, pooled, pooled.cursor(), unpooled, unpooled.cursor()]
        for obj in objects:
            assert password not in repr(obj), type(obj)
            assert password not in str(obj), type(obj)
    finally:
        pooled.close()
        unpooled.close()
    # Nor in the error for a wrong one.
    wrong = "Wr0ng-Secret-For-Repr"
    with pytest.raises(Exception) as excinfo:
        unpooled_connect()(**dict(server, password=wrong))
    assert excinfo.value.args[0] == 1045
    assert wrong not in str(excinfo.value) and wrong not in repr(excinfo.value)
