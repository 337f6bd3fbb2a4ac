"""Shared fixtures for the pymysqlpool test suite.

The suite runs against whichever ``pymysqlpool`` is importable:

* ours:  ``PYTHONPATH=bindings/python python3 -m pytest bindings/python/tests``
* the reference, pymysql-pool 0.5.0 (+ PyMySQL), from a separate venv and
  without PYTHONPATH: ``python -m pytest -m "not fixed_in_mysqlpool" ...``

Nothing here depends on which one was imported.  Tests marked
``fixed_in_mysqlpool`` check bugs that 0.5.0 has and we fix, or features
0.5.0 lacks; every other test passes on both.

The server comes from the MySQL client variables that
``scripts/server/with-mariadb.sh`` exports (MYSQL_HOST, MYSQL_TCP_PORT, MYSQL_USER,
MYSQL_PWD, MYSQL_DATABASE).  Without MYSQL_HOST the session fails: a suite
that silently skips its database tests would pass without testing anything.

A server named in MYSQL_HOST (rather than the throwaway one, whose datadir
with-mariadb.sh exports) may grant only ALL on MYSQL_DATABASE, under any
default character set.  Tests that need more (other databases, users, global
settings, the server's process or unix socket) carry
``@pytest.mark.throwaway_server("reason")``: against a named server they are
not run, and listed with their reasons at the end.  Against the throwaway
server every test runs and none may skip.

Set-up and inspection (creating tables, KILL, reading the process list) go
through PyMySQL, a test-only dependency, so that they never depend on the
code under test.
"""

import itertools
import os
import subprocess
import sys

import pytest

try:
    import pymysql
except ImportError:  # reported as a session failure below
    pymysql = None
else:
    from helpers import admin_query, pymysqlpool_import_root, server_kwargs


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "fixed_in_mysqlpool: checks a bug of pymysql-pool 0.5.0 that mysqlpool "
        "fixes, or a feature 0.5.0 lacks; fails (or does not apply) on 0.5.0. "
        'Deselect with -m "not fixed_in_mysqlpool" to run the suite on 0.5.0.',
    )
    config.addinivalue_line(
        "markers",
        "throwaway_server(reason): needs the throwaway server of scripts/server/with-mariadb.sh "
        "(more rights than ALL on one database, its process or its socket); not run, "
        "and listed with the reason, against a server named in MYSQL_HOST.",
    )
    config.addinivalue_line(
        "markers",
        "distinct_password: asserts that the password appears nowhere, which means nothing "
        "when the password could appear by chance (short, or part of the user, host or "
        "database name): then not run, and listed with the reason.",
    )


def throwaway_server():
    """True when the server is the one scripts/server/with-mariadb.sh started."""
    return bool(os.environ.get("MYSQLPOOL_TEST_DATADIR"))


_NOT_RUN = []  # (test id, reason) of the tests this server cannot run


def _weak_password():
    """Why a search for the password would find it by chance, or None."""
    kw = server_kwargs()
    password = kw["password"]
    if len(password) < 8:
        return "the password is shorter than 8 characters: a leak check would find it by chance"
    if any(password in str(kw[key]) for key in ("user", "host", "database")):
        return "the password is part of the user, host or database name: a leak check would find it there"
    return None


def _held_back(item, weak_password):
    """Why this test does not run against this server, or None."""
    marker = item.get_closest_marker("throwaway_server")
    if marker is not None and not throwaway_server():
        return "not run against a server you named: " + marker.args[0]
    if item.get_closest_marker("distinct_password") is not None and weak_password:
        return "not run against this server: " + weak_password
    return None


def pytest_collection_modifyitems(config, items):
    if pymysql is None or not os.environ.get("MYSQL_HOST"):
        return  # pytest_sessionstart has already ended the session
    weak_password = _weak_password()
    kept, held_back = [], []
    for item in items:
        reason = _held_back(item, weak_password)
        if reason is None:
            kept.append(item)
        else:
            held_back.append(item)
            _NOT_RUN.append((item.nodeid, reason))
    if held_back:
        config.hook.pytest_deselected(items=held_back)
        items[:] = kept


def pytest_terminal_summary(terminalreporter):
    if _NOT_RUN:
        terminalreporter.section(f"{len(_NOT_RUN)} not run against this server")
        for nodeid, reason in _NOT_RUN:
            terminalreporter.write_line(f"{nodeid}: {reason}")


def pytest_sessionstart(session):
    if not os.environ.get("MYSQL_HOST"):
        pytest.exit(
            "MYSQL_HOST is not set: run the tests under scripts/server/with-mariadb.sh "
            "(or export MYSQL_HOST, MYSQL_TCP_PORT, MYSQL_USER, MYSQL_PWD, "
            "MYSQL_DATABASE for an existing server)",
            returncode=1,
        )
    if pymysql is None:
        pytest.exit(
            "PyMySQL is not installed: it is a test dependency (pip install -r bindings/python/tests/requirements.txt)",
            returncode=1,
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """No test may be skipped or xfailed: turn either into a failure."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped or hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid}: skipped/xfailed tests are not allowed in this suite ({report.longrepr!r})"
        if hasattr(report, "wasxfail"):
            del report.wasxfail


# --------------------------------------------------------------------------
# The server


@pytest.fixture(scope="session")
def server():
    """Connect keywords for the test server: host, port (int), user, password, database."""
    return server_kwargs()


@pytest.fixture
def server_kw(server):
    """A fresh copy of ``server`` that a test may modify."""
    return dict(server)


@pytest.fixture(scope="session")
def admin(server):
    """A PyMySQL connection (autocommit) for set-up and inspection."""
    conn = pymysql.connect(autocommit=True, **server)
    # A DROP TABLE blocked by a test's open transaction fails instead of
    # hanging the run (the default wait is a year).
    admin_query(conn, "SET SESSION lock_wait_timeout = 10")
    yield conn
    conn.close()


_table_counter = itertools.count(1)


@pytest.fixture
def fresh_table(admin, request):
    """Factory: ``fresh_table("id INT PRIMARY KEY, v INT")`` creates a new,
    uniquely named InnoDB table (utf8mb4) and returns its name; every table
    made this way is dropped after the test."""
    made = []

    def make(columns, options="ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"):
        base = "".join(ch if ch.isalnum() else "_" for ch in request.node.name)[:40]
        name = f"t_{base}_{os.getpid()}_{next(_table_counter)}"
        admin_query(admin, f"DROP TABLE IF EXISTS `{name}`")
        admin_query(admin, f"CREATE TABLE `{name}` ({columns}) {options}")
        made.append(name)
        return name

    yield make
    for name in made:
        admin_query(admin, f"DROP TABLE IF EXISTS `{name}`")


# --------------------------------------------------------------------------
# Running code in a fresh interpreter (module state, import side effects,
# verbatim scripts)


@pytest.fixture(scope="session")
def run_python():
    """Run Python code in a new interpreter that imports the same
    ``pymysqlpool`` as this one; returns the CompletedProcess (text)."""
    root = pymysqlpool_import_root()

    def run(code, timeout=60, cwd=None):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
        return subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run
