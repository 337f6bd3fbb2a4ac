# shellcheck shell=bash
# Shared helpers for the throwaway Galera cluster of with-galera.sh and
# galera-ctl.sh. Sourced, not executed. Each node is started by lib-mariadb.sh's
# mariadb_start with the wsrep options of its datadir's file `wsrep.opts` (one
# option a line, written by with-galera.sh), so a restart is started exactly
# like the original.
#
# The nodes run as the mysql user, not root: the rsync SST's receiving rsync
# daemon, started as root, drops to uid nobody and then cannot write the
# joiner's datadir ("cannot stat destination "." (in rsync_sst): Permission
# denied"). So the datadirs and tmpdirs belong to mysql (Debian's
# mariadb-server creates that user).

# shellcheck source=scripts/cluster/lib-replication.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-replication.sh"

# shellcheck disable=SC2034 # used by with-galera.sh
GALERA_PROVIDER=/usr/lib/galera/libgalera_smm.so
GALERA_USER=mysql

# galera_start DIR [OPTION...]: start DIR's node (port from DIR/port) with its
# wsrep options and OPTIONs (--wsrep-new-cluster); sets MARIADB_PID.
galera_start() {
    local dir=$1 opts
    shift
    mapfile -t opts <"$dir/wsrep.opts"
    mkdir -p "$(mariadb_tmpdir "$dir")"
    chown "$GALERA_USER:" "$(mariadb_tmpdir "$dir")"
    mariadb_start "$dir" "$(cat "$dir/port")" --user="$GALERA_USER" "${opts[@]}" "$@"
}

# galera_state DIR: "<wsrep_local_state_comment> <wsrep_cluster_size>
# <wsrep_cluster_status> <wsrep_ready>", e.g. "Synced 3 Primary ON".
galera_state() {
    repl_sql "$1" "SELECT
        MAX(IF(VARIABLE_NAME = 'WSREP_LOCAL_STATE_COMMENT', VARIABLE_VALUE, NULL)),
        MAX(IF(VARIABLE_NAME = 'WSREP_CLUSTER_SIZE', VARIABLE_VALUE, NULL)),
        MAX(IF(VARIABLE_NAME = 'WSREP_CLUSTER_STATUS', VARIABLE_VALUE, NULL)),
        MAX(IF(VARIABLE_NAME = 'WSREP_READY', VARIABLE_VALUE, NULL))
        FROM information_schema.GLOBAL_STATUS" 2>/dev/null | tr '\t' ' '
}

# galera_wait_synced DIR SIZE SECONDS: wait until DIR is Synced in a Primary
# component of SIZE nodes.
galera_wait_synced() {
    local dir=$1 size=$2 timeout=$3 i
    for ((i = 0; i < timeout * 5; i++)); do
        [[ $(galera_state "$dir") == "Synced $size Primary ON" ]] && return 0
        sleep 0.2
    done
    return 1
}
