"""The standard DB-API 2.0 compliance suite (PyPI ``dbapi-compliance``,
module ``dbapi20``) with ``driver = pymysqlpool``.

The stock suite asks for a few things MySQL does not do; those tests are
overridden below with MySQL-appropriate versions (each says why), never
skipped.  The same subclass also runs with ``driver = pymysql`` as a
control: if the control passes, the overrides are right, and a failure in
the pymysqlpool run is ours.

0.5.0's ``pymysqlpool`` module is not a DB-API module at all (no
``connect``, ``apilevel``, exceptions ...), so that run is
``fixed_in_mysqlpool``.
"""

import dbapi20
import pymysql
import pytest

import pymysqlpool
from helpers import admin_query, server_kwargs

LONG_TEXT = "0123456789" * 100


class MySQLDBAPI20Test(dbapi20.DatabaseAPI20Test):
    """DatabaseAPI20Test adapted to MySQL/MariaDB; ``driver`` set by subclasses."""

    __test__ = False  # only the subclasses below, which set driver, are run
    driver = None
    connect_args = ()
    connect_kw_args = server_kwargs()

    # The stock test_callproc calls a *procedure* named by lower_func with
    # ('FOO',) and expects the args back and one result set ('foo',).
    # MySQL's LOWER is a function, not a procedure, so a procedure doing the
    # same is created for each class.
    lower_func = dbapi20.DatabaseAPI20Test.table_prefix + "lower"
    nextset_proc = dbapi20.DatabaseAPI20Test.table_prefix + "deleteme"

    @classmethod
    def _admin(cls, sql):
        conn = pymysql.connect(autocommit=True, **cls.connect_kw_args)
        try:
            admin_query(conn, sql)
        finally:
            conn.close()

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._admin(f"DROP PROCEDURE IF EXISTS `{cls.lower_func}`")
        cls._admin(f"CREATE PROCEDURE `{cls.lower_func}`(IN s VARCHAR(50)) SELECT LOWER(s)")

    @classmethod
    def tearDownClass(cls):
        cls._admin(f"DROP PROCEDURE IF EXISTS `{cls.lower_func}`")
        super().tearDownClass()

    def tearDown(self):
        super().tearDown()  # drops the stock tables
        self._admin(f"DROP PROCEDURE IF EXISTS `{self.nextset_proc}`")

    # -- fetch after a statement that returns no rows ------------------------
    # The stock tests expect fetchone()/fetchall() to raise after DDL or an
    # INSERT.  MySQL drivers (PyMySQL, MySQLdb) treat every statement as
    # having a possibly empty result: fetchone() gives None and fetchall() an
    # empty sequence.  The versions below check that behaviour instead, and
    # keep every other check of the stock tests.

    def test_fetchone(self):
        con = self._connect()
        try:
            cur = con.cursor()
            # Before any execute: an Error, as the stock test demands.
            self.assertRaises(self.driver.Error, cur.fetchone)

            self.executeDDL1(cur)
            self.assertIsNone(cur.fetchone(), "fetchone after DDL")

            cur.execute("select name from %sbooze" % self.table_prefix)
            self.assertIsNone(cur.fetchone())
            self.assertIn(cur.rowcount, (-1, 0))

            cur.execute("%s into %sbooze values ('Victoria Bitter')" % (self.insert, self.table_prefix))
            self.assertIsNone(cur.fetchone(), "fetchone after INSERT")

            cur.execute("select name from %sbooze" % self.table_prefix)
            r = cur.fetchone()
            self.assertEqual(len(r), 1)
            self.assertEqual(r[0], "Victoria Bitter")
            self.assertIsNone(cur.fetchone(), "no more rows")
            self.assertIn(cur.rowcount, (-1, 1))
        finally:
            con.close()

    def test_fetchall(self):
        con = self._connect()
        try:
            cur = con.cursor()
            self.assertRaises(self.driver.Error, cur.fetchall)

            self.executeDDL1(cur)
            for sql in self._populate():
                cur.execute(sql)
            self.assertEqual(len(cur.fetchall()), 0, "fetchall after INSERT")

            cur.execute("select name from %sbooze" % self.table_prefix)
            rows = cur.fetchall()
            self.assertIn(cur.rowcount, (-1, len(self.samples)))
            self.assertEqual(sorted(r[0] for r in rows), sorted(self.samples))
            self.assertEqual(len(cur.fetchall()), 0, "fetchall after the last row")
            self.assertIn(cur.rowcount, (-1, len(self.samples)))

            self.executeDDL2(cur)
            cur.execute("select name from %sbarflys" % self.table_prefix)
            self.assertEqual(len(cur.fetchall()), 0)
            self.assertIn(cur.rowcount, (-1, 0))
        finally:
            con.close()

    # -- nextset --------------------------------------------------------------
    # The stock suite leaves nextset to the driver.  A MySQL procedure's
    # result sets are followed by one more, empty, result: the CALL's own
    # status.  So after the two SELECTs, nextset() is true once more with no
    # rows and no description, and only then None.

    def help_nextset_setUp(self, cur):
        cur.execute(
            f"CREATE PROCEDURE `{self.nextset_proc}`() BEGIN "
            f"SELECT COUNT(*) FROM {self.table_prefix}booze; "
            f"SELECT name FROM {self.table_prefix}booze; END"
        )

    def help_nextset_tearDown(self, cur):
        cur.execute(f"DROP PROCEDURE `{self.nextset_proc}`")

    def test_nextset(self):
        con = self._connect()
        try:
            cur = con.cursor()
            self.executeDDL1(cur)
            for sql in self._populate():
                cur.execute(sql)
            self.help_nextset_setUp(cur)
            try:
                cur.callproc(self.nextset_proc)
                self.assertEqual(cur.fetchone()[0], len(self.samples))
                self.assertTrue(cur.nextset())
                self.assertEqual(sorted(r[0] for r in cur.fetchall()), sorted(self.samples))
                self.assertTrue(cur.nextset(), "the CALL's status result")
                self.assertIsNone(cur.description)
                self.assertEqual(len(cur.fetchall()), 0)
                self.assertIsNone(cur.nextset(), "no more result sets")
            finally:
                self.help_nextset_tearDown(cur)
        finally:
            con.close()

    # -- setoutputsize --------------------------------------------------------
    # MySQL has no output sizes to set.  PyMySQL's no-op is spelled
    # setoutputsizes (plural; it has no setoutputsize), and a drop-in must
    # accept what PyMySQL accepts, so that is what is called here.

    def test_setoutputsize_basic(self):
        con = self._connect()
        try:
            cur = con.cursor()
            cur.setoutputsizes(1000)
            cur.setoutputsizes(2000, 0)
            self._paraminsert(cur)  # the cursor still works
        finally:
            con.close()

    def test_setoutputsize(self):
        # The "real" test, driver dependent: the sizes have no effect, a
        # long value still comes back whole.
        con = self._connect()
        try:
            cur = con.cursor()
            cur.setoutputsizes(1)
            cur.setoutputsizes(1, 0)
            cur.setinputsizes((1,))
            cur.execute("SELECT %s", (LONG_TEXT,))
            self.assertEqual(cur.fetchall()[0][0], LONG_TEXT)
        finally:
            con.close()


@pytest.mark.fixed_in_mysqlpool
class TestPymysqlpoolDBAPI20(MySQLDBAPI20Test):
    __test__ = True
    driver = pymysqlpool


class TestPyMySQLControlDBAPI20(MySQLDBAPI20Test):
    """The same adapted suite on PyMySQL: validates the overrides above."""

    __test__ = True
    driver = pymysql
