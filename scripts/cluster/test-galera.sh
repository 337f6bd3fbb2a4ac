#!/usr/bin/env bash
# test-galera.sh: smoke test of the Galera cluster and of galera-ctl.sh.
# Run it as scripts/cluster/with-galera.sh scripts/cluster/test-galera.sh
# Checks: a write on any node is read on the others (wsrep_sync_wait); a
# conflicting write loses with a deadlock error; kill -9 of a node leaves a
# working two-node cluster; the node started again rejoins with the writes it
# missed; the actions are idempotent. Ends with 'N passed, N failed'.
set -uo pipefail

if [[ -z ${MYSQLPOOL_GALERA_HOSTS:-} || -z ${MYSQLPOOL_GALERA_DATADIRS:-} ]]; then
    echo "test-galera: run it as scripts/cluster/with-galera.sh $0" >&2
    exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ctl=$here/galera-ctl.sh
IFS=, read -r N1 N2 N3 <<<"$MYSQLPOOL_GALERA_PORTS"
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

# q PORT SQL: as the test user over TCP, reads wait for the cluster's commits.
q() {
    env -u MYSQL_UNIX_PORT mariadb --no-defaults -h127.0.0.1 -P"$1" \
        -u"$MYSQL_USER" -p"$MYSQL_PWD" --connect-timeout=2 -N -B \
        --init-command='SET SESSION wsrep_sync_wait = 1' \
        "$MYSQL_DATABASE" -e "$2"
}
has_row() { # has_row PORT ID VALUE
    local v
    v=$(q "$1" "SELECT v FROM smoke WHERE id = $2") || return 1
    [[ $v == "$3" ]] || { echo "  # port $1: row $2 is '$v', expected '$3'" >&2; return 1; }
}
ctl_ok() {
    "$ctl" "$@" 2>&1 | sed 's/^/  # /'
    return "${PIPESTATUS[0]}"
}
status_has() { # status_has NAME PATTERN
    local line
    line=$("$ctl" status | grep "^$1 ")
    [[ $line =~ $2 ]] || { echo "  # $line" >&2; return 1; }
}
conflict() { # two transactions on two nodes update the same row: one loses
    local out
    out=$( (q "$N1" "START TRANSACTION; UPDATE smoke SET v = 'n1' WHERE id = 1; DO SLEEP(1); COMMIT" 2>&1 &
        sleep 0.3
        q "$N2" "UPDATE smoke SET v = 'n2' WHERE id = 1" 2>&1
        wait) )
    [[ $out == *1213* ]] || { echo "  # no deadlock error: $out" >&2; return 1; }
}

check "write on node1" q "$N1" "CREATE TABLE smoke (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO smoke VALUES (1, 'one')"
check "row 1 on node2" has_row "$N2" 1 one
check "row 1 on node3" has_row "$N3" 1 one
check "write on node3" q "$N3" "INSERT INTO smoke VALUES (2, 'two')"
check "row 2 on node1" has_row "$N1" 2 two
check "conflicting writes on node1 and node2: one gets ER_LOCK_DEADLOCK" conflict
check "kill -9 node3" ctl_ok kill node3
check "kill node3 again (idempotent)" ctl_ok kill node3
check "status: node3 dead" status_has node3 'alive=no'
check "node1 in a 2-node Primary component" bash -c "for i in \$(seq 50); do '$ctl' status | grep -q '^node1 .*size=2 cluster=Primary ready=ON' && exit 0; sleep 0.2; done; exit 1"
check "write on node2 while node3 is down" q "$N2" "INSERT INTO smoke VALUES (3, 'three')"
check "row 3 on node1" has_row "$N1" 3 three
check "start node3" ctl_ok start node3
check "start node3 again (idempotent)" ctl_ok start node3
check "row 3 on restarted node3" has_row "$N3" 3 three
check "status: all Synced, size 3" bash -c "[[ \$('$ctl' status | grep -c 'state=Synced size=3 cluster=Primary ready=ON') == 3 ]]"

echo "  # final status:"
"$ctl" status | sed 's/^/  # /'
echo "test-galera: $((SECONDS - start)) s"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
