#!/usr/bin/env bash
# test-replication.sh: smoke test of the replication cluster and of
# cluster-ctl.sh. Run it as scripts/cluster/with-replication.sh scripts/cluster/test-replication.sh
# Checks: a write on the primary reaches both replicas; the replicas refuse the
# test user's writes (read_only); kill -9 + start of a replica catches up;
# kill -9 of the primary + promote replica1: writes go to replica1 and reach
# replica2; the old primary, started again, follows replica1 read-only; the
# actions are idempotent. Ends with 'N passed, N failed'.
set -uo pipefail

if [[ -z ${MYSQLPOOL_CLUSTER_HOSTS:-} || -z ${MYSQLPOOL_PRIMARY_DATADIR:-} ]]; then
    echo "test-replication: run it as scripts/cluster/with-replication.sh $0" >&2
    exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ctl=$here/cluster-ctl.sh
P=$MYSQLPOOL_PRIMARY_PORT
IFS=, read -r R1 R2 <<<"$MYSQLPOOL_REPLICA_PORTS"
start=$SECONDS
passed=0
failed=0

ok() {
    passed=$((passed + 1))
    echo "ok $((passed + failed)) - $* [$((SECONDS - start))s]"
}
not_ok() {
    failed=$((failed + 1))
    echo "not ok $((passed + failed)) - $* [$((SECONDS - start))s]"
}
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}

# q PORT SQL: as the test user over TCP; stdout the result, stderr the error.
q() {
    env -u MYSQL_UNIX_PORT mariadb --no-defaults -h127.0.0.1 -P"$1" \
        -u"$MYSQL_USER" -p"$MYSQL_PWD" --connect-timeout=2 -N -B \
        "$MYSQL_DATABASE" -e "$2"
}

# wait_row PORT ID VALUE: the row shows up on PORT within 5 s.
wait_row() {
    local i
    for ((i = 0; i < 50; i++)); do
        [[ $(q "$1" "SELECT v FROM smoke WHERE id = $2" 2>/dev/null) == "$3" ]] && return 0
        sleep 0.1
    done
    echo "  # row $2='$3' not on port $1 after 5 s" >&2
    return 1
}

# refuses_write PORT: the test user's write fails with read_only's error.
refuses_write() {
    local err
    if err=$(q "$1" "INSERT INTO smoke VALUES (99, 'bad')" 2>&1); then
        echo "  # write on port $1 was accepted" >&2
        return 1
    fi
    [[ $err == *1290* && $err == *read-only* ]] || { echo "  # unexpected error: $err" >&2; return 1; }
}

ctl_ok() { # ctl_ok ARGS...: cluster-ctl succeeds (its output indented)
    "$ctl" "$@" 2>&1 | sed 's/^/  # /'
    return "${PIPESTATUS[0]}"
}

status_has() { # status_has NAME PATTERN: NAME's status line matches PATTERN
    local line
    line=$("$ctl" status | grep "^$1 ")
    [[ $line =~ $2 ]] || { echo "  # $line" >&2; return 1; }
}

check "user is not SUPER / READ ONLY ADMIN" \
    bash -c "! env -u MYSQL_UNIX_PORT mariadb --no-defaults -h127.0.0.1 -P$P -u$MYSQL_USER -p$MYSQL_PWD -N -B -e 'SHOW GRANTS' | grep -qiE 'SUPER|READ ONLY ADMIN|ALL PRIVILEGES ON \\*\\.\\*'"
check "primary write (CREATE TABLE, INSERT)" \
    q "$P" "CREATE TABLE smoke (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO smoke VALUES (1, 'one')"
check "row 1 on replica1" wait_row "$R1" 1 one
check "row 1 on replica2" wait_row "$R2" 1 one
check "replica1 refuses the test user's write (read_only)" refuses_write "$R1"
check "replica2 refuses the test user's write (read_only)" refuses_write "$R2"
check "replica2 refuses DDL too" bash -c "! env -u MYSQL_UNIX_PORT mariadb --no-defaults -h127.0.0.1 -P$R2 -u$MYSQL_USER -p$MYSQL_PWD $MYSQL_DATABASE -e 'CREATE TABLE nope (i INT)' 2>/dev/null"

# A replica killed -9 and started again catches up.
check "kill -9 replica1" ctl_ok kill replica1
check "kill replica1 again (idempotent)" ctl_ok kill replica1
check "status: replica1 dead" status_has replica1 'alive=no'
check "primary write while replica1 is down" q "$P" "INSERT INTO smoke VALUES (2, 'two')"
check "row 2 on replica2" wait_row "$R2" 2 two
check "start replica1" ctl_ok start replica1
check "start replica1 again (idempotent)" ctl_ok start replica1
check "row 2 on restarted replica1" wait_row "$R1" 2 two
check "status: replica1 replicating, read-only" \
    status_has replica1 'alive=yes role=replica +read_only=1 replication=io:Yes,sql:Yes master='"$P"' lag=[0-9]'
check "restarted replica1 refuses writes" refuses_write "$R1"

# Failover: the primary dies, replica1 is promoted.
check "kill -9 primary" ctl_ok kill primary
check "promote replica1" ctl_ok promote replica1
check "promote replica1 again (idempotent)" ctl_ok promote replica1
check "write on replica1 (new primary)" q "$R1" "INSERT INTO smoke VALUES (3, 'three')"
check "row 3 on replica2" wait_row "$R2" 3 three
check "replica2 still refuses writes" refuses_write "$R2"
check "status: replica1 primary, writable" status_has replica1 'role=primary read_only=0 replication=none'
check "status: replica2 follows replica1" \
    status_has replica2 'role=replica +read_only=1 replication=io:Yes,sql:Yes master='"$R1"
# The old primary comes back as a read-only replica of replica1.
check "start old primary" ctl_ok start primary
check "row 3 on old primary" wait_row "$P" 3 three
check "old primary refuses writes" refuses_write "$P"
check "status: old primary follows replica1" \
    status_has primary 'role=replica +read_only=1 replication=io:Yes,sql:Yes master='"$R1"
check "write on replica1 reaches both" bash -c "
    $(declare -f q wait_row); MYSQL_USER=$MYSQL_USER MYSQL_PWD=$MYSQL_PWD MYSQL_DATABASE=$MYSQL_DATABASE
    q $R1 \"INSERT INTO smoke VALUES (4, 'four')\" && wait_row $P 4 four && wait_row $R2 4 four"

echo "  # final status:"
"$ctl" status | sed 's/^/  # /'
echo "test-replication: $((SECONDS - start)) s"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
