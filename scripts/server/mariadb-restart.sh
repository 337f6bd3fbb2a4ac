#!/usr/bin/env bash
# mariadb-restart.sh: restart the throwaway server started by with-mariadb.sh
# (found via MYSQLPOOL_TEST_DATADIR) on the same port with the same command
# line, for fault tests. If the server is still running it is stopped first;
# a server killed with -9 is simply started again. Returns once it answers.
set -euo pipefail

DIR=${MYSQLPOOL_TEST_DATADIR:-}
if [[ -z $DIR || ! -d $DIR ]]; then
    echo "mariadb-restart: MYSQLPOOL_TEST_DATADIR not set or missing (run under with-mariadb.sh)" >&2
    exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/server/lib-mariadb.sh
source "$here/lib-mariadb.sh"

port=$(cat "$DIR/port")

old=$(mariadb_pidfile_pid "$DIR")
if [[ -n $old ]] && ! mariadb_stop "$old"; then
    echo "mariadb-restart: old mariadbd $old did not stop" >&2
    exit 1
fi

mariadb_start "$DIR" "$port"
if ! mariadb_wait "$DIR" "$MARIADB_PID" 30; then
    echo "mariadb-restart: ERROR: MariaDB did not start (datadir $DIR); err.log:" >&2
    tail -n 50 "$DIR/err.log" >&2 || true
    exit 1
fi
echo "mariadb-restart: restarted MariaDB on 127.0.0.1:$port (pid $MARIADB_PID)" >&2
