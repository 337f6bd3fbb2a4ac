#!/usr/bin/env bash
# with-mariadb.sh CMD [ARGS...]
# Run CMD against a MariaDB server described by the MySQL client variables
# (MYSQL_HOST, MYSQL_TCP_PORT, MYSQL_USER, MYSQL_PWD, MYSQL_DATABASE).
# If MYSQL_HOST is set, that server is used as-is; otherwise a throwaway
# server is started on 127.0.0.1, CMD runs, and the server is torn down.
set -euo pipefail

if [[ $# -eq 0 ]]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi

# An externally provided server: nothing to manage, hand over to CMD.
if [[ -n ${MYSQL_HOST:-} ]]; then
    export MYSQL_TCP_PORT=${MYSQL_TCP_PORT:-3306}
    exec "$@"
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/server/lib-mariadb.sh
source "$here/lib-mariadb.sh"

DIR=
MARIADB_PID=

# Always stop every server we started (the original, and one restarted by
# mariadb-restart.sh, found via the pid file) and remove the datadir.
cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    if [[ -n $DIR ]]; then
        for pid in "$MARIADB_PID" "$(mariadb_pidfile_pid "$DIR")"; do
            [[ -n $pid ]] || continue
            mariadb_stop "$pid" ||
                echo "with-mariadb: warning: mariadbd $pid did not stop" >&2
        done
        rm -rf -- "$DIR" "$(mariadb_tmpdir "$DIR")"
    fi
    exit "$rc"
}
trap cleanup EXIT
# Signals must go through exit so the EXIT trap (cleanup) runs.
trap 'exit 130' INT
trap 'exit 143' TERM

DIR=$(mktemp -d /tmp/mysqlpool-db.XXXXXX)
mkdir -p "$(mariadb_tmpdir "$DIR")"

if ! mariadb_as_root mariadb-install-db --no-defaults --user=root \
        --basedir=/usr --datadir="$DIR" --tmpdir="$(mariadb_tmpdir "$DIR")" \
        --auth-root-authentication-method=normal >"$DIR/install.log" 2>&1; then
    echo "with-mariadb: mariadb-install-db failed:" >&2
    cat "$DIR/install.log" >&2
    exit 1
fi

# Probing and binding race with other jobs on the machine, so retry on the
# next port if the server dies before answering.
port=33306
started=
for _ in 1 2 3 4 5; do
    port=$(mariadb_free_port "$port") || { echo "with-mariadb: no free port" >&2; exit 1; }
    mariadb_start "$DIR" "$port"
    if mariadb_wait "$DIR" "$MARIADB_PID" 30; then
        started=1
        break
    fi
    if mariadb_alive "$MARIADB_PID" ||
            ! grep -qiE 'already in use|Do you already have another' "$DIR/err.log" 2>/dev/null; then
        break # not a port clash: report below
    fi
    port=$((port + 1))
done
if [[ -z $started ]]; then
    echo "with-mariadb: ERROR: MariaDB did not start (datadir $DIR); err.log:" >&2
    cat "$DIR/err.log" >&2 || true
    exit 1
fi

mariadb_as_root mariadb --no-defaults -S "$DIR/mysqld.sock" -uroot <<'SQL'
CREATE DATABASE IF NOT EXISTS mysqlpool_test;
CREATE USER 'mysqlpool'@'127.0.0.1' IDENTIFIED BY 'mysqlpool-pw';
CREATE USER 'mysqlpool'@'localhost' IDENTIFIED BY 'mysqlpool-pw';
CREATE USER 'mysqlpool'@'::1' IDENTIFIED BY 'mysqlpool-pw';
-- Tests create databases, kill threads and read global status.
GRANT ALL PRIVILEGES ON *.* TO 'mysqlpool'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO 'mysqlpool'@'localhost';
GRANT ALL PRIVILEGES ON *.* TO 'mysqlpool'@'::1';
SQL

version=$(mariadb_as_root mariadb --no-defaults -S "$DIR/mysqld.sock" -uroot \
    -N -B -e 'SELECT VERSION()')
echo "with-mariadb: started throwaway MariaDB ${version%%-*} on 127.0.0.1:$port (datadir $DIR)" >&2

export MYSQL_HOST=127.0.0.1 MYSQL_TCP_PORT=$port MYSQL_USER=mysqlpool \
    MYSQL_PWD=mysqlpool-pw MYSQL_DATABASE=mysqlpool_test
# For fault tests (kill/restart the server, see mariadb-restart.sh).
export MYSQLPOOL_TEST_DATADIR=$DIR MYSQLPOOL_TEST_PIDFILE=$DIR/mysqld.pid \
    MYSQLPOOL_TEST_SOCKET=$DIR/mysqld.sock

# Not exec: the EXIT trap must still run to tear the server down. CMD stays in
# the foreground (keeps stdin and Ctrl-C); a TERM sent to this script alone is
# acted on once CMD exits, a TERM to the process group stops both at once.
rc=0
"$@" || rc=$?
exit "$rc"
