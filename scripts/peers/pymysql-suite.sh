#!/usr/bin/env bash
# pymysql-suite.sh: PyMySQL's own test suite, run twice on a throwaway server:
# once with PyMySQL, once with pymysqlpool's Connection and cursors swapped in
# (PyMySQL's errors, constants and converters stay). Prints both counts side by
# side and fails when a test passes with PyMySQL but not with us, unless
# pymysql-suite-not-applicable.txt names it (tests of PyMySQL's internals).
#
#   PYMYSQL_SRC=/path/to/PyMySQL-checkout scripts/peers/pymysql-suite.sh [pytest args]
#
# The suite is not on PyPI (no sdist or wheel carries pymysql/tests), so CI
# cannot run this; every behaviour it checks has a test of our own in
# bindings/python/tests/test_pymysql_suite_behaviour.py.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)

if [[ -z ${PYMYSQL_SRC:-} || ! -f ${PYMYSQL_SRC:-}/pymysql/tests/base.py ]]; then
    echo "pymysql-suite: set PYMYSQL_SRC to a PyMySQL checkout (with pymysql/tests)" >&2
    exit 2
fi

# Always a throwaway server: the suite creates users, installs plugins and
# turns on local_infile, none of which belongs on a server someone named.
if [[ -z ${PYMYSQL_SUITE_INNER:-} ]]; then
    exec env -u MYSQL_HOST PYMYSQL_SUITE_INNER=1 "$top/scripts/server/with-mariadb.sh" "$0" "$@"
fi

# shellcheck source=scripts/server/lib-mariadb.sh
source "$top/scripts/server/lib-mariadb.sh"
socket=$MYSQLPOOL_TEST_SOCKET
mariadb_as_root mariadb --no-defaults -S "$socket" -uroot <<'SQL'
CREATE DATABASE test1 DEFAULT CHARACTER SET utf8mb4;
CREATE DATABASE test2 DEFAULT CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS root@'127.0.0.1';
GRANT ALL ON *.* TO root@'127.0.0.1' WITH GRANT OPTION;
CREATE USER test2 IDENTIFIED BY 'some password';
GRANT ALL ON test2.* TO test2;
CREATE USER test2@localhost IDENTIFIED BY 'some password';
GRANT ALL ON test2.* TO test2@localhost;
SET GLOBAL local_infile = ON;
INSTALL SONAME 'auth_ed25519';
CREATE FUNCTION ed25519_password RETURNS STRING SONAME 'auth_ed25519.so';
SQL

# The suite's own test dependencies (pynacl for ed25519, ...), as its CI installs them.
python3 -m pip install -q --disable-pip-version-check -r "$PYMYSQL_SRC/requirements-dev.txt" || true

work=$(mktemp -d /tmp/pymysql-suite.XXXXXX)
trap 'rm -rf -- "$work"' EXIT
cp -r "$PYMYSQL_SRC/pymysql" "$work/pymysql"
cat >"$work/pymysql/tests/databases.json" <<JSON
[
 {"host": "127.0.0.1", "port": $MYSQL_TCP_PORT, "user": "root", "password": "", "database": "test1",
  "use_unicode": true, "local_infile": true},
 {"host": "127.0.0.1", "port": $MYSQL_TCP_PORT, "user": "test2", "password": "some password", "database": "test2"},
 {"host": "localhost", "port": $MYSQL_TCP_PORT, "user": "test2", "password": "some password", "database": "test2",
  "unix_socket": "$socket"}
]
JSON

run() {  # run NAME [pytest args]: the suite, its report in $work/NAME.xml
    local name=$1
    shift
    echo "=== PyMySQL's suite with $name"
    (cd "$work" && env -u MYSQL_HOST -u MYSQL_PWD -u MYSQL_USER -u MYSQL_TCP_PORT -u MYSQL_DATABASE \
        PYTHONPATH="$work:$top/bindings/python:$here" python3 -m pytest -q -p no:cacheprovider \
        --junitxml="$work/$name.xml" -o junit_family=xunit1 "$@" pymysql/tests) || true
}
run pymysql "$@"
run pymysqlpool -p swap_in_pymysqlpool "$@"
python3 "$here/compare_junit.py" "$work/pymysql.xml" "$work/pymysqlpool.xml" \
    "$here/pymysql-suite-not-applicable.txt"
