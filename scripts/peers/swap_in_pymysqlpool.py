"""pytest plugin (-p swap_in_pymysqlpool): PyMySQL's suite against our
Connection and cursors. PyMySQL's errors, constants and converters stay
PyMySQL's, as an application that switches its import would see them."""

import pymysql
import pymysql.connections
import pymysql.cursors

import pymysqlpool
from pymysqlpool import cursors

pymysql.connect = pymysql.Connect = pymysql.Connection = pymysqlpool.Connection
pymysql.connections.Connection = pymysqlpool.Connection
for _name in ("Cursor", "DictCursorMixin", "DictCursor", "SSCursor", "SSDictCursor"):
    setattr(pymysql.cursors, _name, getattr(cursors, _name))
