"""Helpers shared by the test modules (imported as ``helpers``; pytest puts
this directory on sys.path)."""

import importlib
import os
import time
from pathlib import Path

import pymysql


def server_kwargs():
    """Connect keywords for the test server, from the MySQL client variables."""
    return {
        "host": os.environ["MYSQL_HOST"],
        "port": int(os.environ.get("MYSQL_TCP_PORT") or 3306),
        "user": os.environ.get("MYSQL_USER", ""),
        "password": os.environ.get("MYSQL_PWD", ""),
        "database": os.environ.get("MYSQL_DATABASE", ""),
    }


def admin_query(admin, sql, args=None):
    with admin.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def server_connection_alive(admin, connection_id):
    rows = admin_query(admin, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %s", (connection_id,))
    return rows[0][0] == 1


def wait_server_connection_gone(admin, connection_id, timeout=3.0):
    """True once the server no longer lists ``connection_id`` (closing is asynchronous)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server_connection_alive(admin, connection_id):
            return True
        time.sleep(0.02)
    return False


def connection_id(conn):
    """The server's id for a DB-API connection, asked with SQL."""
    cur = conn.cursor()
    try:
        cur.execute("SELECT CONNECTION_ID()")
        return cur.fetchone()[0]
    finally:
        cur.close()


def pymysqlpool_import_root():
    """The sys.path entry this process imports ``pymysqlpool`` from."""
    import pymysqlpool

    path = Path(pymysqlpool.__file__).resolve()
    return str(path.parent.parent if path.name == "__init__.py" else path.parent)


def unpooled_connect():
    """``pymysqlpool``'s unpooled connect.

    Ours offers ``pymysqlpool.connect`` (tested on its own in test_misc);
    0.5.0 has no module-level ``connect``, its ``Connection`` class is the
    unpooled connection (a PyMySQL subclass).  Both spellings take PyMySQL's
    keywords."""
    import pymysqlpool

    return getattr(pymysqlpool, "connect", pymysqlpool.Connection)


def ours_err():
    """``pymysqlpool.err`` (ours); 0.5.0 raises PyMySQL's exceptions."""
    try:
        return importlib.import_module("pymysqlpool.err")
    except ImportError:
        return pymysql.err
