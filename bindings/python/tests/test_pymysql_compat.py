"""What PyMySQL's own test suite checks of a Connection, as tests of ours:
scripts/peers/pymysql-suite.sh runs that suite against us in a session, and
this file keeps each behaviour it found guarded in `make test` (the suite
itself is not on PyPI, so CI cannot run it)."""

import os
import warnings
from unittest import mock

import pymysql
import pytest

import pymysqlpool
from pymysqlpool import converters, cursors
from pymysqlpool.constants import CLIENT

pytestmark = pytest.mark.fixed_in_mysqlpool


def _connect(server_kw, **extra):
    return pymysqlpool.connect(**server_kw, **extra)


def _value(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


# -- option files and defer_connect --------------------------------------


def test_missing_option_file_is_no_error(server_kw, tmp_path):
    conn = _connect(server_kw, read_default_file=str(tmp_path / "absent.cnf"))
    assert _value(conn, "SELECT 1") == 1
    conn.close()


def test_option_file_fills_what_the_caller_left_out(server_kw, tmp_path):
    path = tmp_path / "my.cnf"
    path.write_text(
        "[client]\nuser = nobody-from-client-group\n"
        f"[app]\nhost = {server_kw['host']}\nport = {server_kw['port']}\n"
        f"user = \"{server_kw['user']}\"\npassword = '{server_kw['password']}'\n"
        f"database = {server_kw['database']}\ndefault_character_set = latin1\nskip-ssl\n"
    )
    conn = pymysqlpool.connect(read_default_file=str(path), read_default_group="app")
    try:
        assert _value(conn, "SELECT DATABASE()") == server_kw["database"]
        assert conn.character_set_name() == "latin1"
        assert _value(conn, "SELECT @@character_set_client") == "latin1"
    finally:
        conn.close()


def test_option_file_never_overrides_a_keyword(server_kw, tmp_path):
    path = tmp_path / "my.cnf"
    path.write_text("[client]\nuser = someone-else\ndatabase = no_such_database\n")
    conn = _connect(server_kw, read_default_file=str(path))
    assert _value(conn, "SELECT DATABASE()") == server_kw["database"]
    conn.close()


def test_defer_connect_opens_on_connect(server_kw):
    conn = _connect(server_kw, defer_connect=True)
    assert not conn.open
    with pytest.raises(pymysql.err.InterfaceError):
        conn.cursor().execute("SELECT 1")
    conn.connect()
    assert conn.open
    assert _value(conn, "SELECT 2") == 2
    conn.close()


def test_connect_reopens_a_closed_connection(server_kw):
    conn = _connect(server_kw)
    first = conn.thread_id()
    conn.close()
    assert not conn.open
    conn.connect()
    assert conn.open and conn.thread_id() != first
    assert _value(conn, "SELECT 3") == 3
    conn.close()
    with pytest.raises(pymysql.err.Error, match="Already closed"):
        conn.close()


def test_connect_refuses_a_socket(server_kw):
    conn = _connect(server_kw, defer_connect=True)
    with pytest.raises(pymysql.err.NotSupportedError):
        conn.connect(sock=object())


# -- ping(reconnect=True) ----------------------------------------------------


def test_ping_reconnects_a_closed_connection_with_its_autocommit(server_kw):
    conn = _connect(server_kw)
    conn.autocommit(True)
    conn.close()
    with pytest.raises(pymysql.err.Error, match="Already closed"):
        conn.ping()
    with pytest.warns(DeprecationWarning, match="'reconnect' argument is deprecated"):
        conn.ping(reconnect=True)
    assert _value(conn, "SELECT @@autocommit") == 1
    conn.close()


def test_ping_reconnect_keeps_autocommit_off(server_kw):
    conn = _connect(server_kw, autocommit=True)
    conn.autocommit(False)
    conn.close()
    with pytest.warns(DeprecationWarning):
        conn.ping(reconnect=True)
    assert _value(conn, "SELECT @@autocommit") == 0
    conn.close()


# -- multi-statement results left pending ----------------------------------


def test_commit_drains_pending_results(server_kw):
    conn = _connect(server_kw, client_flag=CLIENT.MULTI_STATEMENTS)
    cur = conn.cursor()
    cur.execute("SELECT 1; SELECT 2")
    conn.commit()
    cur.execute("SELECT 3")
    assert cur.fetchone() == (3,)
    conn.close()


def test_new_cursor_drains_pending_results(server_kw):
    conn = _connect(server_kw, client_flag=CLIENT.MULTI_STATEMENTS, init_command='SELECT "bar"; SELECT "baz"')
    conn.cursor().execute("SELECT 1; SELECT 2")
    cur = conn.cursor()
    cur.execute("SELECT 3")
    assert cur.fetchone() == (3,)
    conn.rollback()
    conn.cursor().execute("SELECT 4; SELECT 5; SELECT 6")
    conn.select_db(server_kw["database"])
    conn.autocommit(True)
    assert conn.get_autocommit()
    conn.close()


# -- LOAD DATA LOCAL, escape(), warnings -------------------------------------


def test_load_data_local_missing_file_is_1017(server_kw, fresh_table):
    table = fresh_table("a INT, b INT")
    conn = _connect(server_kw, local_infile=True)
    with pytest.raises(pymysql.err.OperationalError) as raised:
        conn.cursor().execute(f"LOAD DATA LOCAL INFILE 'no_data.txt' INTO TABLE `{table}` FIELDS TERMINATED BY ','")
    assert raised.value.args == (1017, "Can't find file 'no_data.txt'")
    assert _value(conn, "SELECT 1") == 1  # the connection is still usable
    conn.close()


def test_escape_with_an_empty_mapping_has_no_converter(server_kw):
    conn = _connect(server_kw)
    with pytest.raises(TypeError, match="no default type converter defined"):
        conn.escape(42, {})
    assert conn.escape(42) == "42"
    conn.close()


def test_sscursor_left_incomplete_warns(server_kw):
    conn = _connect(server_kw)
    cur = conn.cursor(cursors.SSCursor)
    cur.execute("SELECT 1 UNION SELECT 2 UNION SELECT 3")
    assert cur.fetchone() == (1,)
    with pytest.warns(UserWarning, match="Previous unbuffered result was left incomplete"):
        cur.execute("SELECT 4")
    assert cur.fetchall() == [(4,)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cur.execute("SELECT 5")  # the last one was read to its end: no warning
        cur.close()
    conn.close()


def test_set_charset_is_deprecated(server_kw):
    conn = _connect(server_kw)
    with pytest.warns(DeprecationWarning, match="'set_charset' is deprecated, use 'set_character_set' instead"):
        conn.set_charset("utf8mb4")
    conn.close()


def test_set_charset_calls_set_character_set_on_a_mock():
    con = mock.Mock(spec=pymysqlpool.Connection)
    with pytest.warns(DeprecationWarning):
        pymysqlpool.Connection.set_charset(con, "utf8mb4")
    con.set_character_set.assert_called_once_with("utf8mb4")


# -- a mock where a connection belongs -----------------------------------------

_CONNECTION_METHODS = [
    ("query", ("SELECT 1",)), ("commit", ()), ("rollback", ()), ("ping", ()), ("select_db", ("x",)),
    ("set_character_set", ("utf8mb4",)), ("autocommit", (True,)), ("get_server_info", ()),
    ("get_host_info", ()), ("next_result", ()), ("close", ()), ("connect", ()), ("escape", ("x",)),
    ("insert_id", ()), ("thread_id", ()), ("show_warnings", ()), ("kill", (1,)),
]


@pytest.mark.parametrize("spec", [True, False], ids=["spec", "bare"])
@pytest.mark.parametrize("name,args", _CONNECTION_METHODS, ids=[m[0] for m in _CONNECTION_METHODS])
def test_methods_on_a_mock_raise_instead_of_crashing(run_python, name, args, spec):
    """PyMySQL's suite calls Connection methods on mock.Mock(spec=Connection);
    ctypes would follow the mock's endless _as_parameter_ chain and crash the
    interpreter. Each call must end in an exception or a value, in a child
    process so that a crash fails this test instead of ending the run."""
    code = f"""
from unittest import mock
import pymysqlpool
con = mock.Mock(spec=pymysqlpool.Connection) if {spec} else mock.Mock()
try:
    pymysqlpool.Connection.{name}(con, *{args!r})
except Exception as error:
    print("raised", type(error).__name__)
else:
    print("returned")
"""
    done = run_python(code)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith(("raised", "returned"))


def test_library_calls_refuse_what_is_not_a_handle():
    from pymysqlpool import _lib

    for bad in (mock.Mock(), mock.MagicMock(), "1", 1.5, object(), b"\0" * 8):
        with pytest.raises(Exception, match="expected a libmysqlpool handle"):
            _lib.pool_ping(bad)
    with pytest.raises(Exception, match="expected bytes"):
        _lib.pool_select_db(0, mock.Mock())
    # A made-up int is the library's to refuse: a status, never a crash.
    assert _lib.pool_ping(123456789) == _lib.POOL_E_WRONG_HANDLE
    assert _lib.pool_ping(None) != _lib.POOL_OK


# -- converters: PyMySQL's names ------------------------------------------------


def test_converters_have_pymysqls_names():
    for name in ("convert_time", "escape_dict", "escape_sequence", "escape_set", "escape_bytes_prefixed",
                 "escape_item", "escape_string", "convert_datetime", "convert_timedelta", "convert_date",
                 "Decimal2Literal", "Thing2Literal", "encoders", "decoders", "conversions"):
        assert hasattr(converters, name), name


def test_convert_time_as_pymysql():
    import datetime

    assert converters.convert_time("23:06:20") == datetime.time(23, 6, 20)
    assert converters.convert_time("23:06:20.511581") == datetime.time(23, 6, 20, 511581)
    assert converters.convert_time(b"01:02:03.5") == datetime.time(1, 2, 3, 500000)
    for text in ("-25:06:17", "random crap", "25:00:00"):
        assert converters.convert_time(text) == text
    for text in ("23:06:20", "23:06:20.511581", "1:2:3.5", "-25:06:17", "random crap", "25:00:00"):
        assert converters.convert_time(text) == pymysql.converters.convert_time(text)


def test_escape_helpers_as_pymysql():
    with pytest.raises(TypeError, match="dict can not be used as parameter"):
        converters.escape_dict({"a": 1}, "utf8mb4")
    with pytest.warns(DeprecationWarning, match="escape_sequence is deprecated"):
        assert converters.escape_sequence((1, "a'b", None), "utf8mb4") == "(1,'a\\'b',NULL)"
    with pytest.warns(DeprecationWarning, match="escape_set is deprecated"):
        assert converters.escape_set([2], "utf8mb4") == "2"
    assert converters.escape_bytes_prefixed(b"it's") == "_binary'it\\'s'"
    mapping = {**converters.encoders, tuple: converters.escape_sequence}
    with pytest.warns(DeprecationWarning):
        assert converters.escape_item((1, 2), "utf8mb4", mapping) == "(1,2)"


def test_time_converter_in_conv_reads_fractions(server_kw):
    import datetime

    conv = dict(converters.conversions)
    conv[pymysqlpool.FIELD_TYPE.TIME] = converters.convert_time
    conn = _connect(server_kw, conv=conv)
    assert _value(conn, "SELECT CAST('23:06:20.511581' AS TIME(6))") == datetime.time(23, 6, 20, 511581)
    conn.close()


def test_environment_is_untouched_by_option_files(server_kw, tmp_path):
    """Reading an option file leaves the caller's dict and os.environ alone."""
    before = dict(os.environ)
    kwargs = dict(server_kw, read_default_file=str(tmp_path / "none.cnf"))
    snapshot = dict(kwargs)
    pymysqlpool.connect(**kwargs).close()
    assert kwargs == snapshot and dict(os.environ) == before
