"""SQLAlchemy dialects ``mysql+mysqlpool`` and ``mariadb+mysqlpool``:
SQLAlchemy's PyMySQL dialects over ``pymysqlpool`` instead of ``pymysql``.

    from sqlalchemy import create_engine
    engine = create_engine("mysql+mysqlpool://app:secret@127.0.0.1:3306/test")
    engine = create_engine("mariadb+mysqlpool://app:secret@127.0.0.1:3306/test")  # dialect.name "mariadb"
    engine = create_async_engine("mysql+mysqlpool_async://app:secret@127.0.0.1:3306/test")  # asyncio

The names are registered as ``sqlalchemy.dialects`` entry points by the
installed package; in a source checkout without installing, register them once::

    from sqlalchemy.dialects import registry
    registry.register("mysql.mysqlpool", "pymysqlpool.sqlalchemy", "MySQLDialect_mysqlpool")
    registry.register("mariadb.mysqlpool", "pymysqlpool.sqlalchemy", "MariaDBDialect_mysqlpool")
    registry.register("mysql.mysqlpool_async", "pymysqlpool.sqlalchemy", "MySQLDialect_mysqlpool_async")

Each connection of the engine's pool is a ``pymysqlpool.connect(...)``
connection; SQLAlchemy's own pool (QueuePool, pre_ping, recycle) manages
them, as it does PyMySQL's.

This module is the only part of pymysqlpool that imports SQLAlchemy:
``import pymysqlpool`` never does.

What the PyMySQL dialect reads from ``pymysql`` by name, and this dialect
reads from ``pymysqlpool`` instead:

* ``pymysql.cursors.SSCursor`` for ``stream_results=True``;
* ``pymysql.constants.CLIENT.FOUND_ROWS``, added to ``client_flag`` so that
  UPDATE's rowcount counts matched rows (``supports_sane_rowcount``: the
  ORM's stale-row check depends on it);
* ``pymysql.connections.Connection.ping``'s signature, to decide between
  ``ping()`` and ``ping(False)``;
* ``pymysql.VERSION_STRING`` (SQLAlchemy 2.1's ``dbapi_version``).
"""

from sqlalchemy import util
from sqlalchemy.dialects.mysql.mariadb import MariaDBDialect
from sqlalchemy.dialects.mysql.aiomysql import AsyncAdapt_aiomysql_dbapi, MySQLDialect_aiomysql
from sqlalchemy.dialects.mysql.pymysql import MySQLDialect_pymysql


class MySQLDialect_mysqlpool(MySQLDialect_pymysql):  # noqa: N801 - SQLAlchemy's naming
    """The PyMySQL dialect with pymysqlpool as its DB-API module."""

    driver = "mysqlpool"
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls):
        return __import__("pymysqlpool")

    def retrieve_dbapi_version(self, dbapi):
        return util.parse_version_string(getattr(dbapi, "__version__", None))

    @util.memoized_property
    def supports_server_side_cursors(self):
        from pymysqlpool.cursors import SSCursor

        self._sscursor = SSCursor
        return True

    def _found_rows_client_flag(self):
        # The PyMySQL dialect imports "<dbapi>.constants.CLIENT" as a module;
        # ours is a class in pymysqlpool.constants.
        from pymysqlpool.constants import CLIENT

        return CLIENT.FOUND_ROWS

    def do_ping(self, dbapi_connection):
        # Never reconnect inside the DB-API connection: a failed ping raises,
        # is_disconnect() recognises the error, and SQLAlchemy's pool replaces
        # the connection.
        dbapi_connection.ping(reconnect=False)
        return True

    @classmethod
    def load_provisioning(cls):
        # SQLAlchemy imports "<the dialect's package>.provision", which for
        # its own MySQL dialects is sqlalchemy.dialects.mysql.provision (the
        # test-suite plumbing: driver URLs with the MariaDB rewrite, database
        # set-up, foreign-key-safe table cleanup, temporary tables). This
        # dialect's package is pymysqlpool: point it at the same module.
        __import__("sqlalchemy.dialects.mysql.provision")


class MariaDBDialect_mysqlpool(MariaDBDialect, MySQLDialect_mysqlpool):  # noqa: N801 - SQLAlchemy's naming
    """``mariadb+mysqlpool``: the same driver with SQLAlchemy's MariaDB
    dialect (``dialect.name == "mariadb"``), as ``mariadb+pymysql`` is built."""

    supports_statement_cache = True


class MySQLDialect_mysqlpool_async(MySQLDialect_aiomysql):  # noqa: N801 - SQLAlchemy's naming
    """``mysql+mysqlpool_async``, for ``create_async_engine``: SQLAlchemy's
    aiomysql dialect with ``pymysqlpool.aio`` as its aiomysql (and
    ``pymysqlpool`` as its PyMySQL)."""

    driver = "mysqlpool_async"
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls):
        from pymysqlpool import aio

        return AsyncAdapt_aiomysql_dbapi(aio, __import__("pymysqlpool"))

    def retrieve_dbapi_version(self, dbapi):
        return util.parse_version_string(getattr(__import__("pymysqlpool"), "__version__", None))

    def _found_rows_client_flag(self):
        from pymysqlpool.constants import CLIENT

        return CLIENT.FOUND_ROWS

    load_provisioning = MySQLDialect_mysqlpool.load_provisioning


dialect = MySQLDialect_mysqlpool
mariadb_dialect = MariaDBDialect_mysqlpool
