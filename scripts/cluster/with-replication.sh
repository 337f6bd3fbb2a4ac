#!/usr/bin/env bash
# with-replication.sh CMD [ARGS...]
# Run CMD against a throwaway MariaDB replication cluster on 127.0.0.1: a
# primary and two replicas (MariaDB's own replication: binlog, a server_id
# each, GTID with master_use_gtid=slave_pos, replicas --read-only=1), each in
# its own temporary datadir, started like with-mariadb.sh's server. The test
# user and database are created on the primary and replicated; CMD starts only
# once both replicas have applied them. Every server is stopped (by pid, also
# one restarted by cluster-ctl.sh) and the datadirs removed when CMD ends,
# whatever happens.
#
# Exported for CMD:
#   MYSQLPOOL_PRIMARY_PORT, MYSQLPOOL_REPLICA_PORTS (comma-separated),
#   MYSQLPOOL_CLUSTER_HOSTS    127.0.0.1:P,127.0.0.1:R1,127.0.0.1:R2 (primary first)
#   MYSQLPOOL_PRIMARY_PIDFILE, MYSQLPOOL_REPLICA_PIDFILES (comma-separated)
#   MYSQLPOOL_PRIMARY_DATADIR, MYSQLPOOL_REPLICA_DATADIRS (comma-separated)
#   MYSQLPOOL_CLUSTER_DIR      the folder holding the datadirs
#   MYSQL_HOST=127.0.0.1 MYSQL_TCP_PORT=<primary> MYSQL_USER MYSQL_PWD MYSQL_DATABASE
# The names and ports stay those of the start: after `cluster-ctl.sh promote
# replica1` the primary is replica1 (cluster-ctl.sh status shows the roles).
#
# The test user (mysqlpool/mysqlpool-pw) has every privilege on mysqlpool_test
# and only PROCESS, SLAVE MONITOR and BINLOG MONITOR globally (to read
# replication state): no SUPER / READ ONLY ADMIN, so read_only applies to it.
#
# If MYSQLPOOL_CLUSTER_HOSTS is already set, that cluster is used as-is.
set -euo pipefail

if [[ $# -eq 0 ]]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi

if [[ -n ${MYSQLPOOL_CLUSTER_HOSTS:-} ]]; then
    exec "$@"
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/cluster/lib-replication.sh
source "$here/lib-replication.sh"

t0=$(date +%s.%N)
ROOT=
NAMES=(primary replica1 replica2)
STARTED=() # every pid this script started

cleanup() {
    local rc=$? name pid
    trap - EXIT INT TERM
    set +e
    if [[ -n $ROOT ]]; then
        # Stop all servers at once (each mariadb_stop waits up to 15 s): the
        # ones started here, and restarted ones found via their pid files.
        local pids=("${STARTED[@]}")
        for name in "${NAMES[@]}"; do
            pid=$(mariadb_pidfile_pid "$ROOT/$name")
            [[ -n $pid ]] && repl_owns "$pid" "$ROOT/$name" && pids+=("$pid")
        done
        for pid in $(printf '%s\n' "${pids[@]}" | sort -u); do
            (mariadb_stop "$pid" ||
                echo "with-replication: warning: mariadbd $pid did not stop" >&2) &
        done
        wait
        rm -rf -- "$ROOT"
    fi
    exit "$rc"
}
trap cleanup EXIT
# Signals must go through exit so the EXIT trap (cleanup) runs.
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
    echo "with-replication: ERROR: $*" >&2
    exit 1
}

ROOT=$(mktemp -d /tmp/mysqlpool-repl.XXXXXX)

# One mariadb-install-db, copied: the servers have not run yet, so the copies
# are identical fresh datadirs (and three installs would take three times as
# long on a shared 2-core machine).
P=$ROOT/primary
mkdir -p "$(mariadb_tmpdir "$P")"
if ! mariadb_as_root mariadb-install-db --no-defaults --user=root \
        --basedir=/usr --datadir="$P" --tmpdir="$(mariadb_tmpdir "$P")" \
        --auth-root-authentication-method=normal >"$ROOT/install.log" 2>&1; then
    cat "$ROOT/install.log" >&2
    fail "mariadb-install-db failed"
fi
id=1
for name in "${NAMES[@]}"; do
    dir=$ROOT/$name
    [[ $name == primary ]] || cp -a "$P" "$dir"
    echo "$name" >"$dir/name"
    echo "$id" >"$dir/server_id"
    if [[ $name == primary ]]; then echo primary >"$dir/role"; else echo replica >"$dir/role"; fi
    id=$((id + 1))
done

# Start the three at once. Probing and binding race with other jobs on the
# machine, so a server that dies on a taken port is retried on the next one.
declare -A PORT PID
next=34306
for name in "${NAMES[@]}"; do
    PORT[$name]=$(mariadb_free_port "$next") || fail "no free port"
    next=$((PORT[$name] + 1))
    repl_start "$ROOT/$name" "${PORT[$name]}"
    PID[$name]=$MARIADB_PID
    STARTED+=("$MARIADB_PID")
done
for name in "${NAMES[@]}"; do
    dir=$ROOT/$name
    for attempt in 1 2 3 4 5; do
        mariadb_wait "$dir" "${PID[$name]}" 60 && continue 2
        if mariadb_alive "${PID[$name]}" ||
                ! grep -qiE 'already in use|Do you already have another' "$dir/err.log" 2>/dev/null ||
                [[ $attempt == 5 ]]; then
            echo "with-replication: $name err.log:" >&2
            tail -n 40 "$dir/err.log" >&2 || true
            fail "$name did not start (datadir $dir)"
        fi
        PORT[$name]=$(mariadb_free_port "$next") || fail "no free port"
        next=$((PORT[$name] + 1))
        repl_start "$dir" "${PORT[$name]}"
        PID[$name]=$MARIADB_PID
        STARTED+=("$MARIADB_PID")
    done
done

# Replicas follow the primary from its (empty) first binlog on, so they get
# everything created below through replication.
for name in replica1 replica2; do
    repl_follow "$ROOT/$name" "${PORT[primary]}" || fail "$name: CHANGE MASTER failed"
done

repl_sql "$P" "
CREATE USER '$REPL_USER'@'127.0.0.1' IDENTIFIED BY '$REPL_PASSWORD';
GRANT REPLICATION SLAVE, SLAVE MONITOR ON *.* TO '$REPL_USER'@'127.0.0.1';
CREATE DATABASE mysqlpool_test;
CREATE USER 'mysqlpool'@'127.0.0.1' IDENTIFIED BY 'mysqlpool-pw';
CREATE USER 'mysqlpool'@'localhost' IDENTIFIED BY 'mysqlpool-pw';
CREATE USER 'mysqlpool'@'::1' IDENTIFIED BY 'mysqlpool-pw';
-- Plain privileges: with SUPER or READ ONLY ADMIN read_only would not apply.
GRANT ALL PRIVILEGES ON mysqlpool_test.* TO 'mysqlpool'@'127.0.0.1';
GRANT ALL PRIVILEGES ON mysqlpool_test.* TO 'mysqlpool'@'localhost';
GRANT ALL PRIVILEGES ON mysqlpool_test.* TO 'mysqlpool'@'::1';
GRANT PROCESS, SLAVE MONITOR, BINLOG MONITOR ON *.* TO 'mysqlpool'@'127.0.0.1';
GRANT PROCESS, SLAVE MONITOR, BINLOG MONITOR ON *.* TO 'mysqlpool'@'localhost';
GRANT PROCESS, SLAVE MONITOR, BINLOG MONITOR ON *.* TO 'mysqlpool'@'::1';
" || fail "creating users on the primary failed"

pos=$(repl_sql "$P" 'SELECT @@gtid_binlog_pos')
for name in replica1 replica2; do
    dir=$ROOT/$name
    if ! repl_wait_gtid "$dir" "$pos" 30; then
        repl_sql_vertical "$dir" 'SHOW SLAVE STATUS' >&2 || true
        fail "$name did not catch up with the primary (GTID $pos)"
    fi
done
# The test user, over TCP, on each server: the replicas really have it.
for name in "${NAMES[@]}"; do
    ro=$(env -u MYSQL_UNIX_PORT MYSQL_PWD=mysqlpool-pw mariadb --no-defaults \
        -h127.0.0.1 -P"${PORT[$name]}" -umysqlpool -N -B mysqlpool_test \
        -e 'SELECT @@read_only') || fail "test user cannot log in to $name"
    want=1
    [[ $name == primary ]] && want=0
    [[ $ro == "$want" ]] || fail "$name: read_only=$ro, expected $want"
done

version=$(repl_sql "$P" 'SELECT VERSION()')
elapsed=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$t0" "$(date +%s.%N)")
echo "with-replication: MariaDB ${version%%-*} primary 127.0.0.1:${PORT[primary]}," \
    "replicas 127.0.0.1:${PORT[replica1]},${PORT[replica2]} (GTID $pos; ${elapsed}s; dir $ROOT)" >&2

export MYSQL_HOST=127.0.0.1 MYSQL_TCP_PORT=${PORT[primary]} MYSQL_USER=mysqlpool \
    MYSQL_PWD=mysqlpool-pw MYSQL_DATABASE=mysqlpool_test
export MYSQLPOOL_PRIMARY_PORT=${PORT[primary]}
export MYSQLPOOL_REPLICA_PORTS=${PORT[replica1]},${PORT[replica2]}
export MYSQLPOOL_CLUSTER_HOSTS=127.0.0.1:${PORT[primary]},127.0.0.1:${PORT[replica1]},127.0.0.1:${PORT[replica2]}
export MYSQLPOOL_PRIMARY_PIDFILE=$ROOT/primary/mysqld.pid
export MYSQLPOOL_REPLICA_PIDFILES=$ROOT/replica1/mysqld.pid,$ROOT/replica2/mysqld.pid
export MYSQLPOOL_PRIMARY_DATADIR=$ROOT/primary
export MYSQLPOOL_REPLICA_DATADIRS=$ROOT/replica1,$ROOT/replica2
export MYSQLPOOL_CLUSTER_DIR=$ROOT
# Not with-mariadb.sh's server: a stray mariadb-restart.sh must not touch ours.
unset MYSQLPOOL_TEST_DATADIR MYSQLPOOL_TEST_PIDFILE MYSQLPOOL_TEST_SOCKET

# Not exec: the EXIT trap must still run to tear the servers down.
rc=0
"$@" || rc=$?
exit "$rc"
