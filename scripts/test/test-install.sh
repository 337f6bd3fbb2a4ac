#!/usr/bin/env bash
# test-install.sh: `make install` as a C program outside the source tree sees it.
#
#   1. make install PREFIX=$tmp puts libmysqlpool.so.X.Y.Z (X.Y.Z from the
#      header's POOL_VERSION_STRING), the links libmysqlpool.so.X and
#      libmysqlpool.so, mysqlpool.h and lib/pkgconfig/mysqlpool.pc there;
#      the library's SONAME is libmysqlpool.so.X (X: POOL_VERSION_MAJOR);
#   2. examples/quickstart.c, copied to a directory outside the repository,
#      builds with nothing but `pkg-config --cflags --libs mysqlpool` (and an
#      rpath), records NEEDED libmysqlpool.so.X, loads the installed copy,
#      and prints "result: (1,)" and the pool's stats against the MYSQL_*
#      server;
#   3. make uninstall PREFIX=$tmp leaves no file or link behind;
#   4. DESTDIR: make install DESTDIR=$stage PREFIX=/usr/local stages under
#      $stage/usr/local with a .pc that says prefix=/usr/local, and make
#      uninstall with the same DESTDIR removes it again.
#
# Needs a built library (make build) and a server: run it as
#   scripts/server/with-mariadb.sh scripts/test/test-install.sh
# Environment: CC (default cc), MAKE (default make).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
CC=${CC:-cc}
MAKE=${MAKE:-make}

if [[ -z ${MYSQL_HOST:-} ]]; then
    echo "test-install: MYSQL_HOST is not set; run: scripts/server/with-mariadb.sh $0" >&2
    exit 1
fi
if [[ ! -f .build/release/libmysqlpool.so ]]; then
    echo "test-install: .build/release/libmysqlpool.so is missing; run make build first" >&2
    exit 1
fi

version=$(sed -nE 's/^#define POOL_VERSION_STRING "([0-9.]+)"$/\1/p' include/mysqlpool.h)
major=$(sed -nE 's/^#define POOL_VERSION_MAJOR ([0-9]+)$/\1/p' include/mysqlpool.h)
if [[ -z $version || -z $major || ${version%%.*} != "$major" ]]; then
    echo "test-install: cannot read a consistent version from include/mysqlpool.h" \
        "(POOL_VERSION_STRING '$version', POOL_VERSION_MAJOR '$major')" >&2
    exit 1
fi

tmp=$(mktemp -d /tmp/mysqlpool-install.XXXXXX)
trap 'rm -rf -- "$tmp"' EXIT
prefix=$tmp/prefix
work=$tmp/work
stage=$tmp/stage
mkdir -p "$prefix" "$work" "$stage"

failures=0
fail() {
    echo "test-install: FAILED: $*" >&2
    failures=$((failures + 1))
}
ok() { echo "  ok: $*"; }

# LDCONFIG=true: a test install must not touch the system's linker cache.
make_q() { "$MAKE" --no-print-directory -C "$root" LDCONFIG=true "$@"; }

# --- 1. install -------------------------------------------------------------------
echo "== make install PREFIX=$prefix"
make_q install PREFIX="$prefix" >"$tmp/install.log" 2>&1 || {
    cat "$tmp/install.log" >&2
    fail "make install"
    exit 1
}

lib=$prefix/lib
expect_file() { [[ -f $1 && ! -L $1 ]] && ok "${1#"$prefix"/}" || fail "$1 is not a regular file"; }
expect_link() { # expect_link LINK TARGET
    if [[ -L $1 && $(readlink "$1") == "$2" ]]; then ok "${1#"$prefix"/} -> $2"; else fail "$1 is not a link to $2"; fi
}
expect_file "$lib/libmysqlpool.so.$version"
expect_link "$lib/libmysqlpool.so.$major" "libmysqlpool.so.$version"
expect_link "$lib/libmysqlpool.so" "libmysqlpool.so.$major"
expect_file "$prefix/include/mysqlpool.h"
expect_file "$lib/pkgconfig/mysqlpool.pc"
cmp -s include/mysqlpool.h "$prefix/include/mysqlpool.h" || fail "installed header differs from include/mysqlpool.h"

soname=$(readelf -d "$lib/libmysqlpool.so.$version" | sed -nE 's/.*\(SONAME\).*\[(.*)\]$/\1/p')
[[ $soname == "libmysqlpool.so.$major" ]] && ok "SONAME $soname" ||
    fail "SONAME of the installed library is '${soname:-none}', expected libmysqlpool.so.$major"

export PKG_CONFIG_PATH=$lib/pkgconfig
modversion=$(pkg-config --modversion mysqlpool) || fail "pkg-config --modversion mysqlpool"
[[ $modversion == "$version" ]] && ok "pkg-config --modversion: $modversion" ||
    fail "pkg-config --modversion is '$modversion', the header says $version"
# shellcheck disable=SC2046  # word splitting drops pkg-config's trailing blank
flags=$(echo $(pkg-config --cflags --libs mysqlpool))
[[ $flags == "-I$prefix/include -L$lib -lmysqlpool" ]] && ok "pkg-config --cflags --libs: $flags" ||
    fail "pkg-config --cflags --libs gives '$flags'"

# --- 2. a program outside the repository -------------------------------------------
echo "== examples/quickstart.c built in $work with pkg-config only"
cp examples/quickstart.c "$work/"
(
    cd "$work"
    # shellcheck disable=SC2086  # $flags is a list of words
    "$CC" -std=c99 -Wall -Wextra -pedantic -Werror quickstart.c $flags -Wl,-rpath,"$lib" -o quickstart
) || fail "cc quickstart.c \$(pkg-config --cflags --libs mysqlpool)"

if [[ -x $work/quickstart ]]; then
    needed=$(readelf -d "$work/quickstart" | sed -nE 's/.*\(NEEDED\).*\[(libmysqlpool[^]]*)\]$/\1/p')
    [[ $needed == "libmysqlpool.so.$major" ]] && ok "NEEDED $needed" ||
        fail "quickstart's NEEDED entry is '${needed:-none}', expected libmysqlpool.so.$major"
    resolved=$(ldd "$work/quickstart" | awk '$1 ~ /^libmysqlpool/ { print $3 }')
    [[ $resolved == "$lib/libmysqlpool.so.$major" ]] && ok "ldd: loads $resolved" ||
        fail "ldd resolves libmysqlpool to '${resolved:-nothing}', expected $lib/libmysqlpool.so.$major"
    if ldd "$work/quickstart" | grep 'not found'; then
        fail "quickstart has unresolved libraries (see above)"
    fi

    rc=0
    (cd "$work" && ./quickstart) >"$tmp/quickstart.out" 2>"$tmp/quickstart.err" || rc=$?
    sed 's/^/  | /' "$tmp/quickstart.out" "$tmp/quickstart.err"
    [[ $rc -eq 0 ]] || fail "quickstart exited with $rc"
    grep -qx 'result: (1,)' "$tmp/quickstart.out" && ok "prints (1,)" || fail "no 'result: (1,)' line"
    # pre_create_num=2, one get and one release, nothing left borrowed.
    stats_re='^pool mypool: total=2 idle=2 in_use=0 waiting=0 maxsize=10 created=2 gets=1 releases=1 resets=0$'
    grep -qE "$stats_re" "$tmp/quickstart.out" && ok "prints the stats" ||
        fail "the stats line does not match $stats_re"
    [[ ! -s $tmp/quickstart.err ]] || fail "quickstart wrote to stderr"
fi

# --- 3. uninstall -------------------------------------------------------------------
echo "== make uninstall PREFIX=$prefix"
make_q uninstall PREFIX="$prefix" >"$tmp/uninstall.log" 2>&1 || {
    cat "$tmp/uninstall.log" >&2
    fail "make uninstall"
}
left=$(find "$prefix" ! -type d)
[[ -z $left ]] && ok "nothing left but empty directories" || fail "left behind by uninstall:"$'\n'"$left"

# --- 4. DESTDIR ---------------------------------------------------------------------
echo "== make install DESTDIR=$stage PREFIX=/usr/local"
if make_q install DESTDIR="$stage" PREFIX=/usr/local >"$tmp/stage.log" 2>&1; then
    expect_link "$stage/usr/local/lib/libmysqlpool.so.$major" "libmysqlpool.so.$version"
    grep -qx 'prefix=/usr/local' "$stage/usr/local/lib/pkgconfig/mysqlpool.pc" && ok "staged .pc: prefix=/usr/local" ||
        fail "the staged mysqlpool.pc does not say prefix=/usr/local"
    outside=$(find "$stage" ! -type d ! -path "$stage/usr/local/*")
    [[ -z $outside ]] || fail "DESTDIR install wrote outside $stage/usr/local:"$'\n'"$outside"
    make_q uninstall DESTDIR="$stage" PREFIX=/usr/local >>"$tmp/stage.log" 2>&1 || fail "make uninstall DESTDIR=..."
    left=$(find "$stage" ! -type d)
    [[ -z $left ]] && ok "DESTDIR uninstall leaves nothing" || fail "left behind by DESTDIR uninstall:"$'\n'"$left"
else
    cat "$tmp/stage.log" >&2
    fail "make install DESTDIR=$stage"
fi

if [[ $failures -gt 0 ]]; then
    echo "test-install: $failures failure(s)" >&2
    exit 1
fi
echo "test-install: install, pkg-config build outside the tree, run, uninstall: all passed"
