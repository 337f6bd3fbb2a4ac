#!/usr/bin/env bash
# cluster-ctl.sh ACTION [NAME]: fault actions on the cluster of
# with-replication.sh (run it under that script: it uses the exported
# MYSQLPOOL_PRIMARY_DATADIR and MYSQLPOOL_REPLICA_DATADIRS).
# NAME is primary, replica1 or replica2: the name a server was started as,
# kept after a promotion (ports do not move either).
#
#   kill NAME     kill -9 the server (by its pid file); returns once it is gone.
#                 Already dead: nothing to do.
#   start NAME    start it again on the same port and datadir, wait until it
#                 answers. A server whose role is replica then follows the
#                 current primary (resumes replication; an old primary demoted
#                 by promote joins the new one). Already running: nothing to do.
#   promote NAME  make NAME the primary: an old primary that is alive gets
#                 read_only=1 first and NAME applies what it has of it; then on
#                 NAME STOP SLAVE, RESET SLAVE ALL, read_only=0; every other
#                 live server gets read_only=1 and follows NAME (GTID,
#                 slave_pos); a dead one does so when started. Already the
#                 primary: only the others are (re)pointed if needed.
#   status        one line per server: name, address, alive, role, read_only,
#                 replication (io/sql threads, master port, lag), GTID position.
set -euo pipefail

usage() {
    echo "usage: $0 kill|start|promote NAME | status   (NAME: primary, replica1, replica2)" >&2
    exit 2
}

if [[ -z ${MYSQLPOOL_PRIMARY_DATADIR:-} || -z ${MYSQLPOOL_REPLICA_DATADIRS:-} ]]; then
    echo "cluster-ctl: MYSQLPOOL_PRIMARY_DATADIR / MYSQLPOOL_REPLICA_DATADIRS not set (run under with-replication.sh)" >&2
    exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/cluster/lib-replication.sh
source "$here/lib-replication.sh"

# name -> datadir
declare -A DIRS
NAMES=(primary)
DIRS[primary]=$MYSQLPOOL_PRIMARY_DATADIR
IFS=, read -r -a replica_dirs <<<"$MYSQLPOOL_REPLICA_DATADIRS"
for i in "${!replica_dirs[@]}"; do
    NAMES+=("replica$((i + 1))")
    DIRS[replica$((i + 1))]=${replica_dirs[$i]}
done

die() {
    echo "cluster-ctl: $*" >&2
    exit 1
}

dir_of() {
    [[ -n ${DIRS[$1]:-} ]] || die "unknown server '$1' (one of: ${NAMES[*]})"
    [[ -d ${DIRS[$1]} ]] || die "$1: datadir ${DIRS[$1]} is missing"
    echo "${DIRS[$1]}"
}

# up DIR: the server runs and answers.
up() {
    [[ -n $(repl_pid "$1") ]] && mariadb_ping "$1"
}

# current_primary: name of the server whose role is primary ("" if none).
current_primary() {
    local name
    for name in "${NAMES[@]}"; do
        if [[ $(cat "${DIRS[$name]}/role" 2>/dev/null) == primary ]]; then
            echo "$name"
            return 0
        fi
    done
}

do_kill() {
    local name=$1 dir pid i
    dir=$(dir_of "$name")
    pid=$(repl_pid "$dir")
    if [[ -z $pid ]]; then
        echo "cluster-ctl: $name is not running"
        return 0
    fi
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        mariadb_alive "$pid" || { echo "cluster-ctl: killed $name (pid $pid)"; return 0; }
        sleep 0.1
    done
    die "$name (pid $pid) still alive 5 s after kill -9"
}

do_start() {
    local name=$1 dir pid port primary
    dir=$(dir_of "$name")
    port=$(cat "$dir/port")
    pid=$(repl_pid "$dir")
    if [[ -n $pid ]]; then
        mariadb_wait "$dir" "$pid" 60 || die "$name (pid $pid) runs but does not answer"
        echo "cluster-ctl: $name already running (127.0.0.1:$port, pid $pid)"
        return 0
    fi
    repl_start "$dir"
    pid=$MARIADB_PID
    if ! mariadb_wait "$dir" "$pid" 60; then
        tail -n 30 "$dir/err.log" >&2 || true
        die "$name did not start on 127.0.0.1:$port (datadir $dir)"
    fi
    if [[ $(cat "$dir/role") == replica ]]; then
        primary=$(current_primary)
        if [[ -n $primary ]]; then
            repl_follow "$dir" "$(cat "${DIRS[$primary]}/port")" ||
                die "$name: could not start replication from $primary"
        fi
    fi
    echo "cluster-ctl: started $name on 127.0.0.1:$port (pid $pid)"
}

do_promote() {
    local name=$1 dir port other odir old status io_pos pos
    dir=$(dir_of "$name")
    port=$(cat "$dir/port")
    up "$dir" || die "$name is not running: start it before promoting it"
    old=$(current_primary)

    if [[ $old != "$name" ]]; then
        # A live old primary stops taking writes first; NAME then applies all
        # of it that it has (or can still fetch) before it is cut loose.
        if [[ -n $old ]] && up "${DIRS[$old]}"; then
            repl_sql "${DIRS[$old]}" 'SET GLOBAL read_only = 1'
            pos=$(repl_sql "${DIRS[$old]}" 'SELECT @@gtid_binlog_pos')
            if [[ -n $pos ]] && ! repl_wait_gtid "$dir" "$pos" 10; then
                echo "cluster-ctl: warning: $name had not applied $old's GTID $pos after 10 s" >&2
            fi
        fi
        status=$(repl_sql_vertical "$dir" 'STOP SLAVE IO_THREAD; SHOW SLAVE STATUS' 2>/dev/null) || true
        io_pos=$(repl_field Gtid_IO_Pos <<<"$status")
        if [[ -n $io_pos ]] && ! repl_wait_gtid "$dir" "$io_pos" 10; then
            echo "cluster-ctl: warning: $name had not applied its relay log (GTID $io_pos) after 10 s" >&2
        fi
        repl_sql "$dir" 'STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0'
        echo primary >"$dir/role"
        echo "cluster-ctl: promoted $name (127.0.0.1:$port) to primary"
    else
        # Idempotent: make sure it is writable and not replicating.
        repl_sql "$dir" 'STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0' 2>/dev/null || true
        echo "cluster-ctl: $name is already the primary"
    fi

    for other in "${NAMES[@]}"; do
        [[ $other != "$name" ]] || continue
        odir=${DIRS[$other]}
        echo replica >"$odir/role"
        if up "$odir"; then
            repl_sql "$odir" 'SET GLOBAL read_only = 1'
            repl_follow "$odir" "$port" || die "$other: could not follow $name"
            echo "cluster-ctl: $other follows $name"
        else
            echo "cluster-ctl: $other is down: it follows $name once started"
        fi
    done
}

do_status() {
    local name dir pid port out ro gtid io sql mport lag role repl
    for name in "${NAMES[@]}"; do
        dir=${DIRS[$name]}
        port=$(cat "$dir/port" 2>/dev/null || echo '?')
        role=$(cat "$dir/role" 2>/dev/null || echo '?')
        pid=$(repl_pid "$dir")
        if [[ -z $pid ]]; then
            printf '%-9s 127.0.0.1:%-5s alive=no  role=%s\n' "$name" "$port" "$role"
            continue
        fi
        if ! out=$(repl_sql_vertical "$dir" \
                'SELECT @@read_only AS ro, @@gtid_current_pos AS gtid; SHOW SLAVE STATUS' 2>/dev/null); then
            printf '%-9s 127.0.0.1:%-5s alive=yes role=%s pid=%s not-answering\n' "$name" "$port" "$role" "$pid"
            continue
        fi
        ro=$(repl_field ro <<<"$out")
        gtid=$(repl_field gtid <<<"$out")
        mport=$(repl_field Master_Port <<<"$out")
        if [[ -z $mport ]]; then
            repl="replication=none"
        else
            io=$(repl_field Slave_IO_Running <<<"$out")
            sql=$(repl_field Slave_SQL_Running <<<"$out")
            lag=$(repl_field Seconds_Behind_Master <<<"$out")
            repl="replication=io:$io,sql:$sql master=$mport lag=${lag:-NULL}"
            [[ $io == Yes && $sql == Yes ]] || {
                err=$(repl_field Last_IO_Error <<<"$out")
                [[ -n $err ]] || err=$(repl_field Last_SQL_Error <<<"$out")
                [[ -z $err ]] || repl+=" error=\"$err\""
            }
        fi
        printf '%-9s 127.0.0.1:%-5s alive=yes role=%-7s read_only=%s %s gtid=%s\n' \
            "$name" "$port" "$role" "$ro" "$repl" "${gtid:-none}"
    done
}

action=${1:-}
case $action in
    kill | start | promote)
        [[ $# -eq 2 ]] || usage
        "do_$action" "$2"
        ;;
    status)
        [[ $# -eq 1 ]] || usage
        do_status
        ;;
    *) usage ;;
esac
