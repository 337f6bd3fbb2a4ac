"""SQLAlchemy 2.x over pymysqlpool, against the real server.

The dialect ``mysql+mysqlpool`` (pymysqlpool/sqlalchemy.py) is SQLAlchemy's
PyMySQL dialect with pymysqlpool as its DB-API module.  Covered: Core (DDL,
executemany, bound parameters, rowcounts, transactions, value round trips),
reflection, the ORM, SQLAlchemy's pool with pre_ping and disconnect
detection, server-side cursors (stream_results / yield_per), the entry point
that pyproject.toml declares, and ``create_engine("mysql+pymysql://...",
module=pymysqlpool)``.

Tables get unique names (``sa_<pid>_<n>_...``) and are dropped after each
test through the ``admin`` connection (PyMySQL), whatever the test did.
"""

import datetime
import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from helpers import admin_query, pymysqlpool_import_root, wait_server_connection_gone

from sqlalchemy import (  # a test dependency (requirements.txt)
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import mysql, registry
from sqlalchemy.engine import URL
from sqlalchemy.orm import DeclarativeBase, Session, mapped_column, relationship, selectinload

import pymysqlpool
from pymysqlpool.constants import CLIENT

BINDINGS = Path(__file__).resolve().parents[1]

# The installed package declares this as an entry point (pyproject.toml);
# from a source checkout it is registered by hand.
registry.register("mysql.mysqlpool", "pymysqlpool.sqlalchemy", "MySQLDialect_mysqlpool")
registry.register("mariadb.mysqlpool", "pymysqlpool.sqlalchemy", "MariaDBDialect_mysqlpool")

_names = itertools.count(1)


def engine_url(server, drivername="mysql+mysqlpool"):
    return URL.create(
        drivername,
        username=server["user"] or None,
        password=server["password"] or None,
        host=server["host"],
        port=server["port"],
        database=server["database"] or None,
    )


@pytest.fixture
def make_engine(server):
    """Factory: create_engine for the test server (mysql+mysqlpool unless
    told otherwise); every engine made is disposed after the test."""
    engines = []

    def make(drivername="mysql+mysqlpool", **kwargs):
        engine = create_engine(engine_url(server, drivername), **kwargs)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture
def engine(make_engine):
    return make_engine()


@pytest.fixture
def table_name(admin):
    """Factory: a new unique table name; every name handed out is dropped
    (children first: in reverse order) after the test."""
    made = []

    def name(suffix):
        made.append(f"sa_{os.getpid()}_{next(_names)}_{suffix}")
        return made[-1]

    yield name
    for made_name in reversed(made):
        admin_query(admin, f"DROP TABLE IF EXISTS `{made_name}`")


def admin_rows(admin, sql, args=None):
    return [tuple(row) for row in admin_query(admin, sql, args)]


def kill(admin, thread_id):
    admin_query(admin, "KILL %d" % thread_id)
    assert wait_server_connection_gone(admin, thread_id)


# --------------------------------------------------------------------------
# The dialect


def test_the_dialect_drives_pymysqlpool(engine, admin):
    dialect = engine.dialect
    assert (dialect.name, dialect.driver) == ("mysql", "mysqlpool")
    assert dialect.dbapi is pymysqlpool
    assert dialect.paramstyle == "pyformat"  # read from the module, as with PyMySQL
    with engine.connect() as connection:
        dbapi_connection = connection.connection.dbapi_connection
        assert type(dbapi_connection).__module__ == "pymysqlpool.connections"
        assert isinstance(dbapi_connection, pymysqlpool.Connection)
        # FOUND_ROWS is asked for, so UPDATE counts matched rows (supports_sane_rowcount).
        assert int(dbapi_connection._pairs["client_flag"]) & CLIENT.FOUND_ROWS
        version = admin_rows(admin, "SELECT VERSION()")[0][0]
        assert connection.execute(text("SELECT VERSION()")).scalar_one() == version
        assert dialect.is_mariadb == ("MariaDB" in version)
        assert ".".join(map(str, dialect.server_version_info[:3])) in version
        assert dialect._connection_charset == "utf8mb4"
        assert connection.get_isolation_level() == "REPEATABLE READ"
    assert dialect.supports_server_side_cursors is True
    assert dialect._sscursor is pymysqlpool.SSCursor
    if hasattr(dialect, "dbapi_version"):  # SQLAlchemy 2.1
        assert tuple(dialect.dbapi_version)[:3] == pymysqlpool.VERSION


def test_importing_pymysqlpool_does_not_import_sqlalchemy(run_python):
    completed = run_python(
        "import sys, pymysqlpool\n"
        "assert 'sqlalchemy' not in sys.modules, 'import pymysqlpool imported sqlalchemy'\n"
        "import pymysqlpool.sqlalchemy\n"
        "assert 'sqlalchemy' in sys.modules\n"
        "print(pymysqlpool.sqlalchemy.MySQLDialect_mysqlpool.driver)\n"
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["mysqlpool"]


def test_the_dialect_works_without_pymysql(run_python, server):
    """The PyMySQL dialect imports pymysql.cursors / pymysql.connections by
    name; ours must not need PyMySQL at all (pymysqlpool never requires it)."""
    arguments = json.dumps({"url": engine_url(server).render_as_string(hide_password=False), "server": server})
    completed = run_python(
        "import json, sys, time\n"
        f"ARGS = json.loads({arguments!r})\n"
        "sys.modules['pymysql'] = None  # any import of pymysql fails\n"
        "import pymysqlpool\n"
        "assert pymysqlpool.err.OperationalError.__module__ == 'pymysqlpool.err'\n"
        "from sqlalchemy import create_engine, exc, text\n"
        "from sqlalchemy.dialects import registry\n"
        "registry.register('mysql.mysqlpool', 'pymysqlpool.sqlalchemy', 'MySQLDialect_mysqlpool')\n"
        "engine = create_engine(ARGS['url'], pool_size=1, max_overflow=0, pool_pre_ping=True)\n"
        "with engine.connect() as connection:\n"
        "    old = connection.execute(text('SELECT CONNECTION_ID()')).scalar_one()\n"
        "    result = connection.execution_options(stream_results=True).execute(text(\n"
        "        'WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 900) SELECT n FROM s'))\n"
        "    print(type(result.cursor).__name__, sum(row.n for row in result))\n"
        "    try:\n"
        "        connection.execute(text('SELECT * FROM no_such_table_here'))\n"
        "    except exc.ProgrammingError as error:\n"
        "        print(type(error.orig).__module__, error.orig.args[0])\n"
        "killer = pymysqlpool.connect(**ARGS['server'])\n"
        "cursor = killer.cursor()\n"
        "cursor.execute('KILL %d' % old)\n"
        "deadline = time.monotonic() + 5\n"
        "while cursor.execute('SELECT 1 FROM information_schema.PROCESSLIST WHERE ID = %s', (old,)) \\\n"
        "        and time.monotonic() < deadline:\n"
        "    time.sleep(0.02)\n"
        "killer.close()\n"
        "with engine.connect() as connection:  # pre_ping replaces the killed connection\n"
        "    print(connection.execute(text('SELECT CONNECTION_ID()')).scalar_one() != old)\n"
        "engine.dispose()\n"
        "print(sys.modules['pymysql'])\n"
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == ["SSCursor 405450", "pymysqlpool.err 1146", "True", "None"]


def test_the_entry_point_declared_in_pyproject_finds_the_dialect(tmp_path, server):
    """The package metadata that setuptools makes from pyproject.toml (egg_info:
    no library build) lets create_engine find mysql+mysqlpool and
    mariadb+mysqlpool with no registry.register() call."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(BINDINGS / name, source / name)
    shutil.copytree(BINDINGS / "pymysqlpool", source / "pymysqlpool",
                    ignore=shutil.ignore_patterns("__pycache__", "lib"))
    metadata = tmp_path / "metadata"
    metadata.mkdir()
    subprocess.run([sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(metadata)], cwd=source,
                   check=True, capture_output=True, text=True)
    code = (
        "import sys\n"
        "from importlib.metadata import entry_points\n"
        "found = [ep.value for ep in entry_points(group='sqlalchemy.dialects') if ep.name.endswith('.mysqlpool')]\n"
        "print(sorted(found))\n"
        "from sqlalchemy import create_engine, text\n"
        "for url in sys.argv[1:]:\n"
        "    engine = create_engine(url)\n"
        "    with engine.connect() as connection:\n"
        "        print(type(engine.dialect).__name__, engine.dialect.name,\n"
        "              connection.execute(text('SELECT 40 + 2')).scalar_one())\n"
        "    engine.dispose()\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(metadata), pymysqlpool_import_root()]))
    completed = subprocess.run(
        [sys.executable, "-c", code, engine_url(server).render_as_string(hide_password=False),
         engine_url(server, "mariadb+mysqlpool").render_as_string(hide_password=False)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == [
        "['pymysqlpool.sqlalchemy:MariaDBDialect_mysqlpool', 'pymysqlpool.sqlalchemy:MySQLDialect_mysqlpool']",
        "MySQLDialect_mysqlpool mysql 42",
        "MariaDBDialect_mysqlpool mariadb 42",
    ]


def test_mariadb_url_behaves_as_mariadb_pymysql(server):
    """mariadb+mysqlpool:// is to mysql+mysqlpool:// what mariadb+pymysql://
    is to mysql+pymysql://: SQLAlchemy's MariaDB dialect over the same driver."""
    ours = create_engine(engine_url(server, "mariadb+mysqlpool"))
    peer = create_engine(engine_url(server, "mariadb+pymysql"))
    try:
        for engine in (ours, peer):
            with engine.connect() as connection:
                assert connection.execute(text("SELECT 1")).scalar_one() == 1
        assert ours.dialect.name == peer.dialect.name == "mariadb"
        assert ours.dialect.is_mariadb and ours.dialect.driver == "mysqlpool"
        assert ours.dialect.supports_native_uuid == peer.dialect.supports_native_uuid
        assert isinstance(ours.dialect, mysql.mariadb.MariaDBDialect)
    finally:
        ours.dispose()
        peer.dispose()


def test_provisioning_loads_sqlalchemys_mysql_module(server):
    """SQLAlchemy's test plumbing (load_provisioning) finds the MySQL
    provisioning for our dialects, as for its own: the driver URL of a
    mysql:// URL whose server is MariaDB (asked over a connection) is
    rewritten to mariadb+mysqlpool, whose dialect is ours."""
    code = (
        "import sys\n"
        "from sqlalchemy.dialects import registry\n"
        "registry.register('mysql.mysqlpool', 'pymysqlpool.sqlalchemy', 'MySQLDialect_mysqlpool')\n"
        "registry.register('mariadb.mysqlpool', 'pymysqlpool.sqlalchemy', 'MariaDBDialect_mysqlpool')\n"
        "from sqlalchemy.engine import make_url\n"
        "from pymysqlpool.sqlalchemy import MySQLDialect_mysqlpool, MariaDBDialect_mysqlpool\n"
        "MySQLDialect_mysqlpool.load_provisioning()\n"
        "print('sqlalchemy.dialects.mysql.provision' in sys.modules)\n"
        "from sqlalchemy.testing.provision import generate_driver_url\n"
        "url = generate_driver_url(make_url(sys.argv[1]), 'mysqlpool', '')\n"
        "print(url.drivername, url.get_dialect().__name__)\n"
    )
    url = engine_url(server).render_as_string(hide_password=False)
    completed = subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True, timeout=60,
                               env=dict(os.environ, PYTHONPATH=pymysqlpool_import_root()))
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == ["True", "mariadb+mysqlpool MariaDBDialect_mysqlpool"]


def test_module_pymysqlpool_with_the_pymysql_dialect(make_engine, table_name, admin):
    """create_engine("mysql+pymysql://...", module=pymysqlpool): the stock
    PyMySQL dialect over our module."""
    # The stock dialect looks for FOUND_ROWS in the module "pymysqlpool.constants.CLIENT",
    # which does not exist (CLIENT is a class in pymysqlpool.constants): without
    # it UPDATE counts changed rows, so the flag is passed explicitly here.
    engine = make_engine("mysql+pymysql", module=pymysqlpool, pool_pre_ping=True,
                         connect_args={"client_flag": CLIENT.FOUND_ROWS})
    assert engine.dialect.driver == "pymysql" and engine.dialect.dbapi is pymysqlpool
    metadata = MetaData()
    things = Table(table_name("things"), metadata, Column("id", Integer, primary_key=True),
                   Column("label", String(40)))
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(things), [{"id": n, "label": f"n{n}"} for n in range(1, 101)])
        assert connection.execute(update(things).where(things.c.id <= 10).values(label="same")).rowcount == 10
        assert connection.execute(update(things).where(things.c.id <= 10).values(label="same")).rowcount == 10
    with engine.connect() as connection:
        assert isinstance(connection.connection.dbapi_connection, pymysqlpool.Connection)
        result = connection.execution_options(stream_results=True).execute(select(things.c.id).order_by(things.c.id))
        assert [row.id for row in result] == list(range(1, 101))
    assert admin_rows(admin, f"SELECT COUNT(*) FROM `{things.name}` WHERE label = 'same'") == [(10,)]


# --------------------------------------------------------------------------
# Core


def test_core_insert_select_update_delete(engine, table_name):
    metadata = MetaData()
    items = Table(
        table_name("items"), metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("name", String(50), nullable=False),
        Column("qty", Integer, nullable=False),
        Column("note", Text),
    )
    metadata.create_all(engine)
    assert inspect(engine).has_table(items.name)

    with engine.begin() as connection:
        result = connection.execute(insert(items).values(name="first", qty=1))
        assert result.inserted_primary_key == (1,)
        assert result.rowcount == 1
        rows = [{"name": f"item{n}", "qty": n % 7, "note": None if n % 3 else f"note {n}"} for n in range(2, 1002)]
        result = connection.execute(insert(items), rows)
        assert result.rowcount == 1000

    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(items)).scalar_one() == 1001
        # bound parameters: comparison, IN, LIKE, a parameter reused
        low, high = bindparam("low"), bindparam("high")
        statement = select(items.c.id).where(items.c.id.between(low, high)).order_by(items.c.id)
        assert connection.execute(statement, {"low": 10, "high": 14}).scalars().all() == [10, 11, 12, 13, 14]
        statement = select(items.c.name).where(items.c.id.in_([3, 5, 8])).order_by(items.c.id)
        assert connection.execute(statement).scalars().all() == ["item3", "item5", "item8"]
        expanding = select(items.c.id).where(items.c.id.in_(bindparam("ids", expanding=True))).order_by(items.c.id)
        assert connection.execute(expanding, {"ids": [7, 2, 999]}).scalars().all() == [2, 7, 999]
        assert connection.execute(select(func.count()).where(items.c.name.like("item1%"))).scalar_one() == \
            sum(1 for row in rows if row["name"].startswith("item1"))
        row = connection.execute(select(items).where(items.c.id == 3)).one()
        assert (row.id, row.name, row.qty, row.note) == (3, "item3", 3, "note 3")
        assert row._mapping["name"] == "item3"
        assert connection.execute(text("SELECT qty FROM " + items.name + " WHERE name = :n"),
                                  {"n": "item13"}).scalar_one() == 13 % 7
        assert connection.exec_driver_sql("SELECT %s + %s", (40, 2)).scalar_one() == 42
        assert connection.execute(select(items).where(items.c.id == -1)).first() is None
        result = connection.execute(select(items.c.id, items.c.name).where(items.c.id < 3).order_by(items.c.id))
        assert list(result.keys()) == ["id", "name"]
        assert result.all() == [(1, "first"), (2, "item2")]

    with engine.begin() as connection:
        zeros = sum(1 for row in rows if row["qty"] == 0)
        result = connection.execute(update(items).where(items.c.qty == 0).values(note="zero"))
        assert result.rowcount == zeros
        # FOUND_ROWS: rows matched, not rows changed (the ORM's stale-row check relies on it)
        result = connection.execute(update(items).where(items.c.qty == 0).values(note="zero"))
        assert result.rowcount == zeros
        result = connection.execute(
            update(items).where(items.c.id == bindparam("target")).values(qty=bindparam("new_qty")),
            [{"target": 1, "new_qty": 100}, {"target": 2, "new_qty": 200}, {"target": -5, "new_qty": 0}],
        )
        assert result.rowcount == 2
        ones = sum(1 for row in rows if row["qty"] == 1)  # id 1 ("first") has qty 100 by now
        assert connection.execute(delete(items).where(items.c.qty == 1)).rowcount == ones
        assert connection.execute(delete(items).where(items.c.id == -1)).rowcount == 0
    with engine.connect() as connection:
        assert connection.execute(select(items.c.qty).where(items.c.id.in_([1, 2])).order_by(items.c.id)) \
            .scalars().all() == [100, 200]
        assert connection.execute(select(func.count()).select_from(items)).scalar_one() == 1001 - ones


def test_transactions_commit_and_roll_back(engine, table_name, admin):
    metadata = MetaData()
    ledger = Table(table_name("ledger"), metadata, Column("id", Integer, primary_key=True),
                   Column("amount", Integer), mysql_engine="InnoDB")
    metadata.create_all(engine)

    def ids():
        return [row[0] for row in admin_rows(admin, f"SELECT id FROM `{ledger.name}` ORDER BY id")]

    with engine.begin() as connection:  # committed at the end of the block
        connection.execute(insert(ledger), [{"id": 1, "amount": 10}, {"id": 2, "amount": 20}])
        assert ids() == []  # not visible to another session before the commit
    assert ids() == [1, 2]

    with pytest.raises(RuntimeError):
        with engine.begin() as connection:  # rolled back by the exception
            connection.execute(insert(ledger).values(id=3, amount=30))
            raise RuntimeError("abort")
    assert ids() == [1, 2]

    with engine.connect() as connection:
        connection.execute(insert(ledger).values(id=4, amount=40))
        assert connection.execute(select(func.count()).select_from(ledger)).scalar_one() == 3
        connection.rollback()
        assert connection.execute(select(func.count()).select_from(ledger)).scalar_one() == 2
        connection.execute(insert(ledger).values(id=5, amount=50))
        connection.commit()
        connection.execute(insert(ledger).values(id=6, amount=60))
        # closing with an open transaction rolls it back
    assert ids() == [1, 2, 5]

    with engine.connect() as connection:  # savepoints
        with connection.begin():
            connection.execute(insert(ledger).values(id=7, amount=70))
            savepoint = connection.begin_nested()
            connection.execute(insert(ledger).values(id=8, amount=80))
            savepoint.rollback()
            with connection.begin_nested():
                connection.execute(insert(ledger).values(id=9, amount=90))
    assert ids() == [1, 2, 5, 7, 9]

    with pytest.raises(sa_exc.IntegrityError) as raised:
        with engine.begin() as connection:
            connection.execute(insert(ledger).values(id=10, amount=100))
            connection.execute(insert(ledger).values(id=1, amount=0))
    assert isinstance(raised.value.orig, pymysqlpool.IntegrityError)
    assert raised.value.orig.args[0] == 1062
    assert ids() == [1, 2, 5, 7, 9]


def test_isolation_levels_and_autocommit(engine, table_name, admin):
    metadata = MetaData()
    log = Table(table_name("log"), metadata, Column("id", Integer, primary_key=True))
    metadata.create_all(engine)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        assert connection.connection.dbapi_connection.get_autocommit() is True
        connection.execute(insert(log).values(id=1))
        assert admin_rows(admin, f"SELECT id FROM `{log.name}`") == [(1,)]  # no commit needed
    with engine.connect().execution_options(isolation_level="READ COMMITTED") as connection:
        assert connection.get_isolation_level() == "READ COMMITTED"
        assert connection.connection.dbapi_connection.get_autocommit() is False
    with engine.connect() as connection:  # given back reset to the defaults
        assert connection.get_isolation_level() == "REPEATABLE READ"
        assert connection.connection.dbapi_connection.get_autocommit() is False
    serializable = engine.execution_options(isolation_level="SERIALIZABLE")
    with serializable.connect() as connection:
        assert connection.execute(text("SELECT @@tx_isolation")).scalar_one() == "SERIALIZABLE"


def test_unicode_and_binary_values(engine, table_name):
    metadata = MetaData()
    values = Table(
        table_name("values"), metadata,
        Column("id", Integer, primary_key=True),
        Column("text", String(200)),
        Column("long_text", Text),
        Column("data", LargeBinary),
        Column("blob", mysql.LONGBLOB),
        mysql_charset="utf8mb4",
    )
    metadata.create_all(engine)
    texts = [
        "plain",
        "Grüße, ẞ, Ünïcödé",
        "中文 日本語 한국어",
        "emoji 😀🐍👍🏽",
        "quotes ' \" ` and back\\slash \\' %s %(name)s %% :colon",
        "line\nbreak\ttab\r\x00nul",
        "",
    ]
    binaries = [bytes(range(256)), b"\x00", b"", b"\xff\xfe invalid utf-8 \xc3\x28", b"'\\\"%s", bytes(60000)]
    rows = [{"id": n, "text": texts[n % len(texts)], "long_text": texts[n % len(texts)] * 100,
             "data": binaries[n % len(binaries)], "blob": binaries[n % len(binaries)] * 3} for n in range(1, 43)]
    rows.append({"id": 100, "text": None, "long_text": None, "data": None, "blob": None})
    with engine.begin() as connection:
        connection.execute(insert(values), rows)
        connection.execute(insert(values).values(id=101, text=texts[3], data=binaries[0]))  # single-row path
    with engine.connect() as connection:
        got = [dict(row._mapping) for row in connection.execute(select(values).where(values.c.id < 101)
                                                                .order_by(values.c.id))]
        assert got == rows
        assert all(type(row["data"]) is bytes for row in got if row["data"] is not None)
        assert connection.execute(select(values.c.id).where(values.c.text == texts[3]).order_by(values.c.id)) \
            .scalars().all() == [n for n in range(1, 43) if n % len(texts) == 3] + [101]
        assert connection.execute(select(values.c.id).where(values.c.data == bindparam("d")), {"d": binaries[3]}) \
            .scalars().all() == [n for n in range(1, 43) if n % len(binaries) == 3]
        assert connection.execute(select(func.length(values.c.text)).where(values.c.id == 3)).scalar_one() == \
            len(texts[3].encode("utf-8"))
        assert connection.execute(text("SELECT :t"), {"t": "émoji 😀"}).scalar_one() == "émoji 😀"


def test_numeric_and_temporal_round_trips(engine, table_name):
    metadata = MetaData()
    typed = Table(
        table_name("typed"), metadata,
        Column("id", Integer, primary_key=True),
        Column("price", Numeric(30, 10)),
        Column("money", Numeric(12, 2)),
        Column("ratio", Float),
        Column("big", BigInteger),
        Column("flag", Boolean),
        Column("created", mysql.DATETIME(fsp=6)),
        Column("stamp", mysql.TIMESTAMP(fsp=3), nullable=True),
        Column("day", Date),
        Column("clock", mysql.TIME(fsp=6)),
        Column("colour", Enum("red", "green", "blue", name="colour")),
        Column("doc", JSON),
    )
    metadata.create_all(engine)
    rows = [
        {"id": 1, "price": Decimal("12345678901234567890.0123456789"), "money": Decimal("-9999999999.99"),
         "ratio": 0.5, "big": 2**63 - 1, "flag": True,
         "created": datetime.datetime(2024, 2, 29, 23, 59, 59, 999999),
         "stamp": datetime.datetime(2030, 1, 2, 3, 4, 5, 678000), "day": datetime.date(1000, 1, 1),
         "clock": datetime.time(23, 59, 59, 123456), "colour": "green",
         "doc": {"a": [1, 2, {"b": None}], "text": "ünï 😀", "n": 1.5}},
        {"id": 2, "price": Decimal("0E-10"), "money": Decimal("0.01"), "ratio": -1.25e-10, "big": -(2**63),
         "flag": False, "created": datetime.datetime(1970, 1, 1, 0, 0, 0),
         "stamp": datetime.datetime(1999, 12, 31, 23, 59, 59), "day": datetime.date(9999, 12, 31),
         "clock": datetime.time(0, 0, 0), "colour": "red", "doc": [1, "two", 3.0, True, None]},
        {"id": 3, "price": None, "money": None, "ratio": None, "big": None, "flag": None, "created": None,
         "stamp": None, "day": None, "clock": None, "colour": None, "doc": None},
    ]
    with engine.begin() as connection:
        connection.execute(insert(typed), rows)
    with engine.connect() as connection:
        got = [dict(row._mapping) for row in connection.execute(select(typed).order_by(typed.c.id))]
        assert got == rows
        assert type(got[0]["price"]) is Decimal and got[0]["price"] == rows[0]["price"]
        assert str(got[0]["money"]) == "-9999999999.99"
        assert type(got[0]["created"]) is datetime.datetime and got[0]["created"].microsecond == 999999
        assert type(got[0]["day"]) is datetime.date and type(got[0]["clock"]) is datetime.time
        assert type(got[0]["flag"]) is bool
        # comparisons with bound temporal and decimal parameters
        statement = select(typed.c.id).where(typed.c.created > bindparam("t"))
        assert connection.execute(statement, {"t": datetime.datetime(2024, 2, 29, 23, 59, 59, 999998)}) \
            .scalars().all() == [1]
        assert connection.execute(select(typed.c.id).where(typed.c.money == Decimal("0.01"))).scalars().all() == [2]
        assert connection.execute(select(typed.c.id).where(typed.c.day == datetime.date(9999, 12, 31))) \
            .scalars().all() == [2]
        assert connection.execute(select(func.sum(typed.c.money))).scalar_one() == Decimal("-9999999999.98")
        assert connection.execute(text("SELECT CAST(:d AS DECIMAL(20, 4))"), {"d": Decimal("1.23456")}) \
            .scalar_one() == Decimal("1.2346")


# --------------------------------------------------------------------------
# Reflection


def test_reflection(engine, table_name):
    parents, children = table_name("parents"), table_name("children")
    with engine.begin() as connection:
        connection.exec_driver_sql(
            f"CREATE TABLE `{parents}` ("
            " id INT NOT NULL AUTO_INCREMENT,"
            " code VARCHAR(20) NOT NULL,"
            " name VARCHAR(50) NOT NULL,"
            " score DECIMAL(10,2) NOT NULL DEFAULT '0.00',"
            " born DATETIME NULL,"
            " PRIMARY KEY (id),"
            " UNIQUE KEY uq_code (code),"
            " KEY ix_name_score (name, score)"
            ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='the parents'")
        connection.exec_driver_sql(
            f"CREATE TABLE `{children}` ("
            " id BIGINT NOT NULL,"
            " seq SMALLINT NOT NULL,"
            " parent_id INT NULL,"
            " body TEXT,"
            " PRIMARY KEY (id, seq),"
            f" CONSTRAINT fk_parent FOREIGN KEY (parent_id) REFERENCES `{parents}` (id) ON DELETE CASCADE"
            ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")

    inspector = inspect(engine)
    assert {parents, children} <= set(inspector.get_table_names())

    columns = inspector.get_columns(parents)
    assert [column["name"] for column in columns] == ["id", "code", "name", "score", "born"]
    by_name = {column["name"]: column for column in columns}
    assert isinstance(by_name["id"]["type"], mysql.INTEGER) and by_name["id"]["autoincrement"] is True
    assert isinstance(by_name["code"]["type"], mysql.VARCHAR) and by_name["code"]["type"].length == 20
    assert by_name["code"]["nullable"] is False
    assert isinstance(by_name["score"]["type"], mysql.DECIMAL)
    assert (by_name["score"]["type"].precision, by_name["score"]["type"].scale) == (10, 2)
    assert by_name["score"]["default"] == "0.00"
    assert isinstance(by_name["born"]["type"], mysql.DATETIME) and by_name["born"]["nullable"] is True

    assert inspector.get_pk_constraint(parents)["constrained_columns"] == ["id"]
    assert inspector.get_pk_constraint(children)["constrained_columns"] == ["id", "seq"]

    indexes = {index["name"]: index for index in inspector.get_indexes(parents)}
    assert indexes["uq_code"]["column_names"] == ["code"] and indexes["uq_code"]["unique"] is True
    assert indexes["ix_name_score"]["column_names"] == ["name", "score"]
    assert indexes["ix_name_score"]["unique"] is False
    assert [constraint["column_names"] for constraint in inspector.get_unique_constraints(parents)] == [["code"]]
    assert ["parent_id"] in [index["column_names"] for index in inspector.get_indexes(children)]

    assert inspector.get_foreign_keys(parents) == []
    (foreign_key,) = inspector.get_foreign_keys(children)
    assert foreign_key["name"] == "fk_parent"
    assert foreign_key["constrained_columns"] == ["parent_id"]
    assert foreign_key["referred_table"] == parents
    assert foreign_key["referred_columns"] == ["id"]
    assert foreign_key["options"].get("ondelete") == "CASCADE"
    assert inspector.get_table_comment(parents)["text"] == "the parents"

    # a whole table, reflected then used
    reflected = Table(children, MetaData(), autoload_with=engine)
    assert [column.name for column in reflected.primary_key] == ["id", "seq"]
    assert isinstance(reflected.c.id.type, mysql.BIGINT)
    (fk,) = reflected.c.parent_id.foreign_keys
    assert fk.target_fullname == f"{parents}.id"
    with engine.begin() as connection:
        parent_table = Table(parents, MetaData(), autoload_with=connection)
        parent_id = connection.execute(insert(parent_table).values(code="c1", name="n")).inserted_primary_key[0]
        connection.execute(insert(reflected), [{"id": 1, "seq": s, "parent_id": parent_id, "body": "b"}
                                               for s in range(3)])
        connection.execute(delete(parent_table))
        assert connection.execute(select(func.count()).select_from(reflected)).scalar_one() == 0  # cascaded


# --------------------------------------------------------------------------
# ORM


def test_orm_session_relationships_and_queries(engine, table_name, admin):
    users_table, addresses_table = table_name("users"), table_name("addresses")

    class Base(DeclarativeBase):
        pass

    class User(Base):
        __tablename__ = users_table
        __table_args__ = {"mysql_charset": "utf8mb4"}  # whatever the database's default
        id = mapped_column(Integer, primary_key=True)
        name = mapped_column(String(50), unique=True, nullable=False)
        balance = mapped_column(Numeric(12, 2), nullable=False, default=Decimal("0"))
        addresses = relationship("Address", back_populates="user", cascade="all, delete-orphan",
                                 order_by="Address.id")

    class Address(Base):
        __tablename__ = addresses_table
        __table_args__ = {"mysql_charset": "utf8mb4"}
        id = mapped_column(Integer, primary_key=True)
        email = mapped_column(String(100), nullable=False)
        user_id = mapped_column(ForeignKey(f"{users_table}.id"), nullable=False, index=True)
        user = relationship(User, back_populates="addresses")

    Base.metadata.create_all(engine)

    with Session(engine) as session:
        session.add_all([
            User(name="alice", balance=Decimal("10.50"),
                 addresses=[Address(email="alice@example.org"), Address(email="alice@work.example")]),
            User(name="bob", addresses=[Address(email="bob@example.org")]),
            User(name="carol ünï 😀", balance=Decimal("99.99")),
        ])
        session.commit()
        ids = [user.id for user in session.scalars(select(User).order_by(User.id))]
        assert ids == sorted(ids) and len(set(ids)) == 3 and all(ids)

    assert admin_rows(admin, f"SELECT COUNT(*) FROM `{addresses_table}`") == [(3,)]

    with Session(engine) as session:
        alice = session.scalars(select(User).where(User.name == "alice")).one()
        assert [address.email for address in alice.addresses] == ["alice@example.org", "alice@work.example"]
        assert alice.addresses[0].user is alice
        assert session.query(User).filter_by(name="bob").one().balance == Decimal("0.00")
        assert session.get(User, alice.id) is alice
        with_example = session.scalars(
            select(User).join(User.addresses).where(Address.email.like("%@example.org")).order_by(User.name)
        ).all()
        assert [user.name for user in with_example] == ["alice", "bob"]
        users = session.scalars(select(User).options(selectinload(User.addresses)).order_by(User.id)).all()
        assert [len(user.addresses) for user in users] == [2, 1, 0]
        assert session.scalars(select(User.name).where(User.balance > Decimal("50"))).all() == ["carol ünï 😀"]
        counts = session.execute(
            select(User.name, func.count(Address.id)).outerjoin(User.addresses).group_by(User.id, User.name)
            .order_by(User.id)
        ).all()
        assert counts == [("alice", 2), ("bob", 1), ("carol ünï 😀", 0)]

        # unit-of-work update, add to a relationship, remove an orphan
        alice.balance += Decimal("1.25")
        alice.addresses.append(Address(email="alice@new.example"))
        del alice.addresses[1]
        session.commit()
    assert admin_rows(admin, f"SELECT balance FROM `{users_table}` WHERE name = 'alice'") == [(Decimal("11.75"),)]
    assert sorted(row[0] for row in admin_rows(
        admin, f"SELECT email FROM `{addresses_table}` a JOIN `{users_table}` u ON u.id = a.user_id "
               "WHERE u.name = 'alice'")) == ["alice@example.org", "alice@new.example"]

    with Session(engine) as session:
        # bulk UPDATE and DELETE statements report their rowcounts
        result = session.execute(update(User).where(User.balance < Decimal("50")).values(balance=User.balance * 2))
        assert result.rowcount == 2
        result = session.execute(delete(Address).where(Address.email.like("%@new.example")))
        assert result.rowcount == 1
        session.commit()
        assert sorted(session.scalars(select(User.balance))) == [Decimal("0.00"), Decimal("23.50"), Decimal("99.99")]

        # delete with cascade to the addresses
        bob = session.scalars(select(User).where(User.name == "bob")).one()
        session.delete(bob)
        session.commit()
    assert admin_rows(admin, f"SELECT name FROM `{users_table}` ORDER BY id") == [("alice",), ("carol ünï 😀",)]
    assert admin_rows(admin, f"SELECT COUNT(*) FROM `{addresses_table}`") == [(1,)]

    with Session(engine) as session:  # rollback of flushed changes, and a constraint error
        session.add(User(name="dave"))
        session.flush()
        session.rollback()
        assert session.scalars(select(func.count()).select_from(User)).one() == 2
        session.add(User(name="alice"))
        with pytest.raises(sa_exc.IntegrityError) as raised:
            session.commit()
        assert raised.value.orig.args[0] == 1062
        session.rollback()
        assert session.scalars(select(User.name).order_by(User.id)).all() == ["alice", "carol ünï 😀"]
    Base.metadata.drop_all(engine)
    assert not ({users_table, addresses_table} & set(inspect(engine).get_table_names()))


# --------------------------------------------------------------------------
# SQLAlchemy's pool: pre_ping and disconnects


def test_pool_pre_ping_replaces_a_connection_killed_server_side(make_engine, admin):
    engine = make_engine(pool_size=1, max_overflow=0, pool_pre_ping=True)
    connects = []
    event.listen(engine, "connect", lambda dbapi_connection, record: connects.append(dbapi_connection))
    with engine.connect() as connection:
        old_id = connection.execute(text("SELECT CONNECTION_ID()")).scalar_one()
        old_dbapi = connection.connection.dbapi_connection
    with engine.connect() as connection:  # a live connection passes the ping and is reused
        assert connection.execute(text("SELECT CONNECTION_ID()")).scalar_one() == old_id
    assert len(connects) == 1

    kill(admin, old_id)
    with engine.connect() as connection:  # the ping fails: a new connection, no error
        new_id = connection.execute(text("SELECT CONNECTION_ID()")).scalar_one()
        assert connection.execute(text("SELECT 42")).scalar_one() == 42
        assert connection.connection.dbapi_connection is not old_dbapi
    assert new_id != old_id
    assert len(connects) == 2
    assert old_dbapi.open is False  # the dead one was closed, not leaked
    assert engine.pool.checkedout() == 0 and engine.pool.checkedin() == 1


def test_a_killed_connection_is_detected_as_a_disconnect(make_engine, admin):
    """Without pre_ping the statement fails, SQLAlchemy recognises the error
    as a disconnect (is_disconnect), invalidates the pool, and the next
    checkout gets a fresh connection."""
    engine = make_engine(pool_size=2, max_overflow=0)
    with engine.connect() as connection:
        old_id = connection.execute(text("SELECT CONNECTION_ID()")).scalar_one()
    kill(admin, old_id)
    with engine.connect() as connection:
        with pytest.raises(sa_exc.DBAPIError) as raised:
            connection.execute(text("SELECT 1"))
        assert raised.value.connection_invalidated is True
        assert isinstance(raised.value.orig, pymysqlpool.OperationalError)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT CONNECTION_ID()")).scalar_one() != old_id
    # an idle connection of the same engine killed inside a transaction
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        kill(admin, connection.execute(text("SELECT CONNECTION_ID()")).scalar_one())
        with pytest.raises(sa_exc.DBAPIError) as raised:
            connection.execute(text("SELECT 2"))
        assert raised.value.connection_invalidated is True
        connection.rollback()
        assert connection.execute(text("SELECT 3")).scalar_one() == 3  # reconnected on next use


def test_the_engine_pool_under_threads(make_engine):
    engine = make_engine(pool_size=4, max_overflow=0, pool_timeout=30)
    errors = []

    def work(number):
        try:
            for step in range(50):
                with engine.connect() as connection:
                    value = connection.execute(text("SELECT :a * :b"), {"a": number, "b": step}).scalar_one()
                    assert value == number * step
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert engine.pool.checkedout() == 0 and engine.pool.checkedin() <= 4


# --------------------------------------------------------------------------
# Server-side cursors


ROWS = 5000


@pytest.fixture
def big_table(engine, table_name):
    metadata = MetaData()
    big = Table(table_name("big"), metadata, Column("id", Integer, primary_key=True),
                Column("payload", String(64)), Column("amount", Numeric(10, 2)), mysql_charset="utf8mb4")
    Index(f"ix_{big.name}_amount", big.c.amount)
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(big), [{"id": n, "payload": f"row {n} ✓", "amount": Decimal(n) / 4}
                                         for n in range(1, ROWS + 1)])
    return big


def test_stream_results_uses_a_server_side_cursor(engine, big_table):
    with engine.connect() as connection:
        result = connection.execution_options(stream_results=True, max_row_buffer=250).execute(
            select(big_table).order_by(big_table.c.id))
        assert isinstance(result.cursor, pymysqlpool.SSCursor)
        count = 0
        total = Decimal(0)
        for count, row in enumerate(result, 1):
            assert row.id == count and row.payload == f"row {count} ✓"
            total += row.amount
        assert count == ROWS
        assert total == sum(Decimal(n) / 4 for n in range(1, ROWS + 1))

        # yield_per + partitions
        result = connection.execution_options(yield_per=700).execute(select(big_table.c.id).order_by(big_table.c.id))
        assert isinstance(result.cursor, pymysqlpool.SSCursor)
        sizes = [len(partition) for partition in result.partitions()]
        assert sizes == [700] * 7 + [ROWS - 4900]

        # a stream abandoned part way: the connection stays usable
        result = connection.execution_options(stream_results=True).execute(select(big_table.c.id))
        assert len(result.fetchmany(10)) == 10
        result.close()
        assert connection.execute(select(func.count()).select_from(big_table)).scalar_one() == ROWS

    with engine.connect() as connection:  # (execution_options() above changed that Connection in place)
        result = connection.execute(select(big_table.c.id).limit(3))
        assert type(result.cursor) is pymysqlpool.cursors.Cursor  # the default stays buffered
        assert len(result.all()) == 3


def test_orm_yield_per_streams(engine, big_table):
    class Base(DeclarativeBase):
        pass

    class Big(Base):
        __table__ = big_table

    with Session(engine) as session:
        result = session.execute(select(Big).order_by(Big.id).execution_options(yield_per=1000))
        seen = 0
        for partition in result.scalars().partitions():
            assert 0 < len(partition) <= 1000
            for item in partition:
                seen += 1
                assert item.id == seen
        assert seen == ROWS
        # streamed into the session, then changed and flushed
        for item in session.scalars(select(Big).where(Big.id <= 3).execution_options(yield_per=2)):
            item.payload = "changed"
        session.commit()
        assert session.scalars(select(func.count()).where(Big.payload == "changed")).one() == 3
