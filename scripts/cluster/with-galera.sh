#!/usr/bin/env bash
# with-galera.sh CMD [ARGS...]
# Run CMD against a throwaway three-node MariaDB Galera cluster on 127.0.0.1
# (Debian's galera-4, a dependency of mariadb-server; rsync SST), each node in
# its own temporary datadir, started like with-mariadb.sh's server plus the
# wsrep options. The test user and database are created on node1 and reach
# the others through Galera; CMD starts once all three are Synced. Every node
# is stopped (by pid, also one restarted by galera-ctl.sh) and the datadirs
# removed when CMD ends, whatever happens.
#
# Exported for CMD:
#   MYSQLPOOL_GALERA_HOSTS     127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3
#   MYSQLPOOL_GALERA_PORTS, MYSQLPOOL_GALERA_PIDFILES, MYSQLPOOL_GALERA_DATADIRS
#                              (comma-separated, node1 first)
#   MYSQLPOOL_GALERA_DIR       the folder holding the datadirs
#   MYSQL_HOST=127.0.0.1 MYSQL_TCP_PORT=<node1> MYSQL_USER MYSQL_PWD MYSQL_DATABASE
# The test user (mysqlpool/mysqlpool-pw) has the same plain privileges as with
# with-replication.sh. If MYSQLPOOL_GALERA_HOSTS is already set, that cluster
# is used as-is.
set -euo pipefail

if [[ $# -eq 0 ]]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi

if [[ -n ${MYSQLPOOL_GALERA_HOSTS:-} ]]; then
    exec "$@"
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/cluster/lib-galera.sh
source "$here/lib-galera.sh"

t0=$(date +%s.%N)
ROOT=
NAMES=(node1 node2 node3)
STARTED=()

cleanup() {
    local rc=$? name pid
    trap - EXIT INT TERM
    set +e
    if [[ -n $ROOT ]]; then
        local pids=("${STARTED[@]}")
        for name in "${NAMES[@]}"; do
            pid=$(repl_pid "$ROOT/$name")
            [[ -n $pid ]] && pids+=("$pid")
        done
        for pid in $(printf '%s\n' "${pids[@]}" | sort -u); do
            (mariadb_stop "$pid" ||
                echo "with-galera: warning: mariadbd $pid did not stop" >&2) &
        done
        wait
        rm -rf -- "$ROOT"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
    echo "with-galera: ERROR: $*" >&2
    exit 1
}

[[ -e $GALERA_PROVIDER ]] || fail "$GALERA_PROVIDER missing (Debian package galera-4)"
command -v rsync >/dev/null || fail "rsync missing (needed for the SST)"
id "$GALERA_USER" >/dev/null 2>&1 || fail "no user $GALERA_USER (created by mariadb-server)"

ROOT=$(mktemp -d /tmp/mysqlpool-galera.XXXXXX)
chmod 755 "$ROOT" # the nodes run as mysql

N1=$ROOT/node1
mkdir -p "$(mariadb_tmpdir "$N1")"
if ! mariadb_as_root mariadb-install-db --no-defaults --user=root \
        --basedir=/usr --datadir="$N1" --tmpdir="$(mariadb_tmpdir "$N1")" \
        --auth-root-authentication-method=normal >"$ROOT/install.log" 2>&1; then
    cat "$ROOT/install.log" >&2
    fail "mariadb-install-db failed"
fi
# The joiners' copies are replaced by node1's data through SST; a datadir
# that mariadbd can open is still needed to start them.
cp -a "$N1" "$ROOT/node2"
cp -a "$N1" "$ROOT/node3"

# Ports: SQL ports from 34406, and for each node Galera's group port, IST
# port and SST (rsync) port from 35306, all probed free on 127.0.0.1.
declare -A PORT GPORT
next=34406
gnext=35306
for name in "${NAMES[@]}"; do
    PORT[$name]=$(mariadb_free_port "$next") || fail "no free port"
    next=$((PORT[$name] + 1))
    GPORT[$name]=$(mariadb_free_port "$gnext") || fail "no free port"
    ist=$(mariadb_free_port $((GPORT[$name] + 1))) || fail "no free port"
    sst=$(mariadb_free_port $((ist + 1))) || fail "no free port"
    gnext=$((sst + 1))
    GPORT[$name.ist]=$ist
    GPORT[$name.sst]=$sst
done
address=gcomm://
for name in "${NAMES[@]}"; do address+="127.0.0.1:${GPORT[$name]},"; done
address=${address%,}

id=1
for name in "${NAMES[@]}"; do
    dir=$ROOT/$name
    mkdir -p "$(mariadb_tmpdir "$dir")"
    echo "$name" >"$dir/name"
    echo "${PORT[$name]}" >"$dir/port"
    printf '%s\n' --server-id=$id --binlog-format=ROW --innodb-autoinc-lock-mode=2 \
        --wsrep-on=ON --wsrep-provider="$GALERA_PROVIDER" \
        --wsrep-cluster-name=mysqlpool --wsrep-node-name="$name" \
        --wsrep-cluster-address="$address" \
        --wsrep-node-address="127.0.0.1:${GPORT[$name]}" \
        --wsrep-node-incoming-address="127.0.0.1:${PORT[$name]}" \
        --wsrep-provider-options="gmcast.listen_addr=tcp://127.0.0.1:${GPORT[$name]};ist.recv_addr=127.0.0.1:${GPORT[$name.ist]};gcache.size=32M" \
        --wsrep-sst-receive-address="127.0.0.1:${GPORT[$name.sst]}" \
        --wsrep-sst-method=rsync >"$dir/wsrep.opts"
    chown -R "$GALERA_USER:" "$dir" "$(mariadb_tmpdir "$dir")"
    id=$((id + 1))
done

started() { # started NAME PID SIZE: NAME answers and is Synced in a cluster of SIZE
    local dir=$ROOT/$1
    if ! mariadb_wait "$dir" "$2" 90 || ! galera_wait_synced "$dir" "$3" 60; then
        echo "with-galera: $1 err.log:" >&2
        grep -E 'ERROR|WSREP_SST' "$dir/err.log" | tail -n 30 >&2 || true
        fail "$1 did not start / sync (datadir $dir)"
    fi
}
galera_start "$N1" --wsrep-new-cluster
STARTED+=("$MARIADB_PID")
started node1 "$MARIADB_PID" 1
# Joiners one after the other: node1 is the only donor until node2 is synced.
for name in node2 node3; do
    galera_start "$ROOT/$name"
    STARTED+=("$MARIADB_PID")
    started "$name" "$MARIADB_PID" $((${#STARTED[@]}))
done

repl_sql "$N1" "
CREATE DATABASE mysqlpool_test;
CREATE USER 'mysqlpool'@'127.0.0.1' IDENTIFIED BY 'mysqlpool-pw';
CREATE USER 'mysqlpool'@'localhost' IDENTIFIED BY 'mysqlpool-pw';
CREATE USER 'mysqlpool'@'::1' IDENTIFIED BY 'mysqlpool-pw';
GRANT ALL PRIVILEGES ON mysqlpool_test.* TO 'mysqlpool'@'127.0.0.1';
GRANT ALL PRIVILEGES ON mysqlpool_test.* TO 'mysqlpool'@'localhost';
GRANT ALL PRIVILEGES ON mysqlpool_test.* TO 'mysqlpool'@'::1';
GRANT PROCESS, SLAVE MONITOR, BINLOG MONITOR ON *.* TO 'mysqlpool'@'127.0.0.1';
GRANT PROCESS, SLAVE MONITOR, BINLOG MONITOR ON *.* TO 'mysqlpool'@'localhost';
GRANT PROCESS, SLAVE MONITOR, BINLOG MONITOR ON *.* TO 'mysqlpool'@'::1';
" || fail "creating the test user on node1 failed"

# Galera applies on the others asynchronously after commit: wsrep_sync_wait
# makes each check read after everything committed cluster-wide.
for name in "${NAMES[@]}"; do
    n=$(env -u MYSQL_UNIX_PORT MYSQL_PWD=mysqlpool-pw mariadb --no-defaults \
        -h127.0.0.1 -P"${PORT[$name]}" -umysqlpool -N -B mysqlpool_test \
        -e "SET SESSION wsrep_sync_wait = 1; SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_CLUSTER_SIZE'") ||
        fail "test user cannot log in to $name"
    [[ $n == 3 ]] || fail "$name: wsrep_cluster_size=$n, expected 3"
done

version=$(repl_sql "$N1" 'SELECT VERSION()')
elapsed=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$t0" "$(date +%s.%N)")
echo "with-galera: MariaDB ${version%%-*} Galera nodes 127.0.0.1:${PORT[node1]},${PORT[node2]},${PORT[node3]} (${elapsed}s; dir $ROOT)" >&2

export MYSQL_HOST=127.0.0.1 MYSQL_TCP_PORT=${PORT[node1]} MYSQL_USER=mysqlpool \
    MYSQL_PWD=mysqlpool-pw MYSQL_DATABASE=mysqlpool_test
export MYSQLPOOL_GALERA_HOSTS=127.0.0.1:${PORT[node1]},127.0.0.1:${PORT[node2]},127.0.0.1:${PORT[node3]}
export MYSQLPOOL_GALERA_PORTS=${PORT[node1]},${PORT[node2]},${PORT[node3]}
export MYSQLPOOL_GALERA_PIDFILES=$ROOT/node1/mysqld.pid,$ROOT/node2/mysqld.pid,$ROOT/node3/mysqld.pid
export MYSQLPOOL_GALERA_DATADIRS=$ROOT/node1,$ROOT/node2,$ROOT/node3
export MYSQLPOOL_GALERA_DIR=$ROOT
unset MYSQLPOOL_TEST_DATADIR MYSQLPOOL_TEST_PIDFILE MYSQLPOOL_TEST_SOCKET

rc=0
"$@" || rc=$?
exit "$rc"
