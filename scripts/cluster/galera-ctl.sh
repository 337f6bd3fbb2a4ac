#!/usr/bin/env bash
# galera-ctl.sh ACTION [NAME]: fault actions on the cluster of with-galera.sh
# (run it under that script: it uses the exported MYSQLPOOL_GALERA_DATADIRS).
# NAME is node1, node2 or node3.
#
#   kill NAME    kill -9 the node (by its pid file); returns once it is gone.
#                Already dead: nothing to do.
#   start NAME   start it again on the same ports and datadir and wait until it
#                is Synced (it rejoins through SST/IST). If no other node is up,
#                it bootstraps a new cluster from its own data instead.
#                Already running: nothing to do.
#   desync NAME  SET GLOBAL wsrep_desync=ON on the node (as for a backup): it
#                stays up and answers, but is no longer Synced.
#   resync NAME  wsrep_desync=OFF, and wait until it is Synced again.
#   status       one line per node: name, address, alive, wsrep state,
#                cluster size, cluster status, ready.
set -euo pipefail

usage() {
    echo "usage: $0 kill|start|desync|resync NAME | status   (NAME: node1, node2, node3)" >&2
    exit 2
}

if [[ -z ${MYSQLPOOL_GALERA_DATADIRS:-} ]]; then
    echo "galera-ctl: MYSQLPOOL_GALERA_DATADIRS not set (run under with-galera.sh)" >&2
    exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/cluster/lib-galera.sh
source "$here/lib-galera.sh"

declare -A DIRS
NAMES=()
IFS=, read -r -a dirs <<<"$MYSQLPOOL_GALERA_DATADIRS"
for i in "${!dirs[@]}"; do
    NAMES+=("node$((i + 1))")
    DIRS[node$((i + 1))]=${dirs[$i]}
done

die() {
    echo "galera-ctl: $*" >&2
    exit 1
}

dir_of() {
    [[ -n ${DIRS[$1]:-} ]] || die "unknown node '$1' (one of: ${NAMES[*]})"
    [[ -d ${DIRS[$1]} ]] || die "$1: datadir ${DIRS[$1]} is missing"
    echo "${DIRS[$1]}"
}

do_kill() {
    local name=$1 dir pid i
    dir=$(dir_of "$name")
    pid=$(repl_pid "$dir")
    if [[ -z $pid ]]; then
        echo "galera-ctl: $name is not running"
        return 0
    fi
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        mariadb_alive "$pid" || { echo "galera-ctl: killed $name (pid $pid)"; return 0; }
        sleep 0.1
    done
    die "$name (pid $pid) still alive 5 s after kill -9"
}

do_start() {
    local name=$1 dir pid other size=1 extra=()
    dir=$(dir_of "$name")
    pid=$(repl_pid "$dir")
    if [[ -n $pid ]]; then
        mariadb_wait "$dir" "$pid" 90 || die "$name (pid $pid) runs but does not answer"
        echo "galera-ctl: $name already running (127.0.0.1:$(cat "$dir/port"), pid $pid)"
        return 0
    fi
    for other in "${NAMES[@]}"; do
        [[ $other != "$name" && -n $(repl_pid "${DIRS[$other]}") ]] && size=$((size + 1))
    done
    if [[ $size == 1 ]]; then
        # Nobody to join: bootstrap from this node's data (Galera refuses
        # unless grastate.dat says it is safe; here it is ours to say).
        [[ -f $dir/grastate.dat ]] && sed -i 's/^safe_to_bootstrap: 0/safe_to_bootstrap: 1/' "$dir/grastate.dat"
        extra=(--wsrep-new-cluster)
    fi
    galera_start "$dir" "${extra[@]}"
    pid=$MARIADB_PID
    if ! mariadb_wait "$dir" "$pid" 90 || ! galera_wait_synced "$dir" "$size" 60; then
        grep -E 'ERROR|WSREP_SST' "$dir/err.log" | tail -n 30 >&2 || true
        die "$name did not start / sync on 127.0.0.1:$(cat "$dir/port") (datadir $dir)"
    fi
    echo "galera-ctl: started $name on 127.0.0.1:$(cat "$dir/port") (pid $pid, cluster size $size${extra:+, bootstrapped})"
}

do_desync() {
    repl_sql "$(dir_of "$1")" 'SET GLOBAL wsrep_desync = ON'
    echo "galera-ctl: $1 desynced"
}

do_resync() {
    local dir
    dir=$(dir_of "$1")
    repl_sql "$dir" 'SET GLOBAL wsrep_desync = OFF'
    galera_wait_synced "$dir" "$(galera_state "$dir" | cut -d' ' -f2)" 60 || die "$1 did not get back in sync"
    echo "galera-ctl: $1 synced again"
}

do_status() {
    local name dir port state
    for name in "${NAMES[@]}"; do
        dir=${DIRS[$name]}
        port=$(cat "$dir/port" 2>/dev/null || echo '?')
        if [[ -z $(repl_pid "$dir") ]]; then
            printf '%-6s 127.0.0.1:%-5s alive=no\n' "$name" "$port"
            continue
        fi
        state=$(galera_state "$dir")
        if [[ -z $state ]]; then
            printf '%-6s 127.0.0.1:%-5s alive=yes not-answering\n' "$name" "$port"
            continue
        fi
        read -r s size cs ready <<<"$state"
        printf '%-6s 127.0.0.1:%-5s alive=yes state=%s size=%s cluster=%s ready=%s\n' \
            "$name" "$port" "$s" "$size" "$cs" "$ready"
    done
}

case ${1:-} in
    kill | start | desync | resync)
        [[ $# -eq 2 ]] || usage
        "do_$1" "$2"
        ;;
    status)
        [[ $# -eq 1 ]] || usage
        do_status
        ;;
    *) usage ;;
esac
