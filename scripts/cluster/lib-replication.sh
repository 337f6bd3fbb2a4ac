# shellcheck shell=bash
# Shared helpers for the throwaway replication cluster of with-replication.sh
# (a primary and replicas, MariaDB's own GTID replication) and cluster-ctl.sh.
# Sourced, not executed. Builds on lib-mariadb.sh: every server is started by
# its mariadb_start, with the replication options below appended.
#
# Each server's datadir holds, besides the data, small state files that make
# a restart by cluster-ctl.sh start it exactly like the original:
#   name       primary, replica1, replica2 (fixed: the name it was started as)
#   server_id  its server_id (1, 2, 3)
#   port       its TCP port on 127.0.0.1 (written by mariadb_start too)
#   role       primary or replica: its role now (promote changes it); decides
#              --read-only=1 on a (re)start and whom a restarted replica follows

# shellcheck source=scripts/server/lib-mariadb.sh
source "$(dirname "${BASH_SOURCE[0]}")/../server/lib-mariadb.sh"

# The replication account (created on the first primary, replicated to all).
REPL_USER=repl
REPL_PASSWORD=repl-pw

# repl_sql DIR SQL: run SQL as root over DIR's socket, tab-separated, no headers.
repl_sql() {
    mariadb_as_root mariadb --no-defaults -S "$1/mysqld.sock" -uroot \
        --connect-timeout=2 -N -B -e "$2"
}

# repl_sql_vertical DIR SQL: like repl_sql, but "Field: value" lines (\G).
repl_sql_vertical() {
    mariadb_as_root mariadb --no-defaults -S "$1/mysqld.sock" -uroot \
        --connect-timeout=2 -E -e "$2"
}

# repl_field "FIELD" <<< "$vertical_output": the value of FIELD ("" if absent).
repl_field() {
    awk -v f="$1" '
        /^\*+ [0-9]+\. row \*+$/ { next }
        { k = $0; sub(/^ +/, "", k); sub(/:.*/, "", k)
          if (k == f) { v = $0; sub(/^ *[^:]*: ?/, "", v); print v; exit } }'
}

# repl_owns PID DIR: true if PID is a live mariadbd serving datadir DIR (a
# stale pid file's pid may have been reused, even by another test's mariadbd).
repl_owns() {
    local pid=$1 dir=$2
    mariadb_alive "$pid" || return 1
    tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "--datadir=$dir"
}

# repl_pid DIR: pid of the live mariadbd of DIR (from its pid file), or "".
repl_pid() {
    local pid
    pid=$(mariadb_pidfile_pid "$1")
    if [[ -n $pid ]] && repl_owns "$pid" "$1"; then echo "$pid"; fi
}

# repl_start DIR [PORT]: start DIR's server (port from DIR/port unless given)
# with the replication options for its server_id and role; sets MARIADB_PID.
# Replication is never started by the server itself (--skip-slave-start): the
# caller points it at the current primary first (repl_follow).
repl_start() {
    local dir=$1 port=${2:-} opts
    [[ -n $port ]] || port=$(cat "$dir/port")
    echo "$port" >"$dir/port"
    opts=(--server-id="$(cat "$dir/server_id")"
        --log-bin=mysql-bin --log-slave-updates=1 --binlog-format=ROW
        --gtid-strict-mode=1 --relay-log=relay-bin --skip-slave-start
        --slave-net-timeout=10 --report-host=127.0.0.1 --report-port="$port")
    [[ $(cat "$dir/role") == primary ]] || opts+=(--read-only=1)
    mariadb_start "$dir" "$port" "${opts[@]}"
}

# repl_follow DIR PRIMARY_PORT: make DIR a replica of 127.0.0.1:PRIMARY_PORT
# (GTID, slave_pos) and start replication. A server already following that
# port only gets START SLAVE. One with no replication configured (it was a
# primary) joins at its own binlog position, so it is not sent its own
# transactions again.
repl_follow() {
    local dir=$1 port=$2 status cur_port fresh=
    status=$(repl_sql_vertical "$dir" 'SHOW SLAVE STATUS') || return 1
    cur_port=$(repl_field Master_Port <<<"$status")
    if [[ $cur_port == "$port" ]]; then
        repl_sql "$dir" 'START SLAVE' 2>/dev/null || true # already running: fine
        return 0
    fi
    [[ -n $cur_port ]] || fresh="SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos;"
    repl_sql "$dir" "STOP SLAVE; $fresh
        CHANGE MASTER TO master_host='127.0.0.1', master_port=$port,
            master_user='$REPL_USER', master_password='$REPL_PASSWORD',
            master_use_gtid=slave_pos, master_connect_retry=1;
        START SLAVE;"
}

# repl_wait_gtid DIR POS SECONDS: wait until DIR has applied GTID position POS.
repl_wait_gtid() {
    local r
    r=$(repl_sql "$1" "SELECT MASTER_GTID_WAIT('$2', $3)") || return 1
    [[ $r == 0 ]]
}
