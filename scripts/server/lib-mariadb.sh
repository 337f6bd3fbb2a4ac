# shellcheck shell=bash
# Shared helpers for the throwaway test MariaDB used by with-mariadb.sh and
# mariadb-restart.sh. Sourced, not executed: the mariadbd command line lives
# here only, so a restarted server is started exactly like the original one.

# mariadbd/mariadb-install-db live in /usr/sbin, which is not always on PATH.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin" ;; esac

# Root commands go over the socket; the MYSQL_* client variables exported for
# the tests would otherwise redirect them to TCP / the test user.
mariadb_as_root() {
    env -u MYSQL_PWD -u MYSQL_HOST -u MYSQL_TCP_PORT -u MYSQL_USER \
        -u MYSQL_UNIX_PORT -u MYSQL_DATABASE "$@"
}

# mariadb_tmpdir DIR: private tmpdir, a sibling of DIR (inside DIR it would
# show up as a database). Needed because a starting mariadbd deletes every
# '#sql*' file in its tmpdir: with a shared /tmp, parallel runs (and
# mariadb-install-db) destroy each other's temporary tables.
mariadb_tmpdir() {
    echo "$1.tmp"
}

# mariadb_start DIR PORT [--user=USER] [OPTION...]: start mariadbd in the
# background; sets MARIADB_PID. stdio is detached so the server never holds a
# caller's pipe open; all diagnostics go to DIR/err.log. OPTIONs are appended
# to the command line (the replication / Galera flags of lib-replication.sh and
# with-galera.sh); a leading --user=USER replaces --user=root (mariadbd keeps
# the first --user it is given). Without them it is the plain command line of
# with-mariadb.sh and mariadb-restart.sh.
mariadb_start() {
    local dir=$1 port=$2 user=--user=root
    shift 2
    if [[ ${1:-} == --user=* ]]; then
        user=$1
        shift
    fi
    local tmp
    tmp=$(mariadb_tmpdir "$dir")
    mkdir -p "$tmp"
    echo "$port" >"$dir/port"
    mariadbd --no-defaults "$user" --basedir=/usr --datadir="$dir" \
        --tmpdir="$tmp" \
        --socket="$dir/mysqld.sock" --pid-file="$dir/mysqld.pid" \
        --port="$port" --bind-address=127.0.0.1 --skip-name-resolve \
        --character-set-server=utf8mb4 --log-error="$dir/err.log" \
        --max-connections=500 --innodb-buffer-pool-size=64M \
        --innodb-log-file-size=48M "$@" \
        </dev/null >/dev/null 2>&1 &
    # shellcheck disable=SC2034 # read by the sourcing script
    MARIADB_PID=$!
    # Out of the job table: bash still reaps it, but a kill -9 by a fault test
    # no longer prints a "Killed ... mariadbd ..." job notice.
    disown "$MARIADB_PID"
}

# mariadb_alive PID: true if PID is a live (non-zombie) mariadbd. Guards against
# killing an unrelated process that reused a stale pid, and treats an unreaped
# zombie as dead (kill -0 would still succeed on it).
mariadb_alive() {
    local pid=$1 comm state
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [[ $comm == mariadbd ]] || return 1
    state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [[ -n $state && $state != Z ]]
}

# mariadb_ping DIR: true once the server answers on its socket.
mariadb_ping() {
    mariadb_as_root mariadb-admin --no-defaults -S "$1/mysqld.sock" -uroot \
        --connect-timeout=2 ping >/dev/null 2>&1
}

# mariadb_wait DIR PID [SECONDS]: wait until the server answers ping; fails
# early if the process died (e.g. port already taken) instead of waiting 30 s.
mariadb_wait() {
    local dir=$1 pid=$2 timeout=${3:-30} i
    for ((i = 0; i < timeout * 5; i++)); do
        mariadb_ping "$dir" && return 0
        mariadb_alive "$pid" || return 1
        sleep 0.2
    done
    return 1
}

# mariadb_stop PID: TERM, wait up to 10 s for a clean shutdown, then KILL.
mariadb_stop() {
    local pid=$1 i
    mariadb_alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        mariadb_alive "$pid" || return 0
        sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 25; i++)); do
        mariadb_alive "$pid" || return 0
        sleep 0.2
    done
    return 1
}

# mariadb_pidfile_pid DIR: pid recorded by the server itself (changes after a
# restart by mariadb-restart.sh, so cleanup must consult it too).
mariadb_pidfile_pid() {
    cat "$1/mysqld.pid" 2>/dev/null || true
}

# mariadb_free_port START: first port >= START that 127.0.0.1 can bind.
mariadb_free_port() {
    python3 - "$1" <<'PY'
import socket, sys
start = int(sys.argv[1])
for port in range(start, start + 200):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Like mariadbd: a port with only TIME_WAIT leftovers is usable.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    sys.exit(0)
sys.exit(1)
PY
}
