"""Protocol numbers with PyMySQL's names: modules, as in pymysql.constants
(``from pymysqlpool.constants import CLIENT`` and
``import pymysqlpool.constants.CLIENT`` both work)."""

from . import CLIENT, FIELD_TYPE  # noqa: F401
