#!/usr/bin/env bash
# abi-check.sh [path/to/libmysqlpool.so]: the shared library exports exactly
# the functions declared in include/mysqlpool.h, nothing else.
#
#   1. the functions declared with POOL_API in the header and the symbols
#      `nm -D --defined-only` lists for the .so are the same set (only the
#      linker's _init/_fini/_edata/_end/__bss_start are ignored);
#   2. every one of them starts with pool_;
#   3. the .so needs no Swift library at run time (the runtime is static);
#   4. every enum pool_status value has its own pool_strerror text (checked
#      by a tiny C program built against the header and the .so);
#   5. the SONAME is libmysqlpool.so.MAJOR and every exported symbol has the
#      default version MYSQLPOOL_MAJOR, MAJOR being the header's
#      POOL_VERSION_MAJOR (Package.swift's -soname, Sources/mysqlpool/exports.map).
#
# Prints what differs and exits 1 on any mismatch. No server needed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
header=include/mysqlpool.h
lib=${1:-$root/.build/release/libmysqlpool.so}
CC=${CC:-cc}

if [[ ! -f $lib ]]; then
    echo "abi-check: $lib is missing; build it first: swift build -c release" >&2
    exit 1
fi

tmp=$(mktemp -d /tmp/mysqlpool-abi.XXXXXX)
trap 'rm -rf -- "$tmp"' EXIT

status=0
problem() {
    echo "abi-check: $*" >&2
    status=1
}

# Function names: declaration lines start with POOL_API (the #define lines
# do not); the name is the identifier right before the first '('.
grep -E '^POOL_API[[:space:]]' "$header" |
    sed -E 's/^[^(]*[^A-Za-z0-9_(]([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*\(.*/\1/' |
    sort >"$tmp/header.txt"
# Dynamic symbols defined by the library, without version suffixes (and
# without the absolute symbol GNU ld makes for a version node; lld makes none).
nm -D --defined-only "$lib" | awk '!($2 == "A" && $3 ~ /^MYSQLPOOL_[0-9]+$/) { print $NF }' >"$tmp/nm.txt"
sed 's/@.*//' "$tmp/nm.txt" |
    grep -vxE '_init|_fini|_edata|_end|__bss_start' | sort -u >"$tmp/exported.txt"

count=$(wc -l <"$tmp/header.txt")
if [[ $count -eq 0 ]]; then
    problem "no POOL_API declarations found in $header"
fi

# 1. Same sets.
if ! cmp -s "$tmp/header.txt" "$tmp/exported.txt"; then
    missing=$(comm -23 "$tmp/header.txt" "$tmp/exported.txt")
    extra=$(comm -13 "$tmp/header.txt" "$tmp/exported.txt")
    [[ -z $missing ]] || problem "declared in the header but not exported:"$'\n'"$missing"
    [[ -z $extra ]] || problem "exported but not declared in the header:"$'\n'"$extra"
fi

# 2. The pool_ prefix, on both sides.
bad_prefix=$(cat "$tmp/header.txt" "$tmp/exported.txt" | sort -u | grep -v '^pool_' || true)
[[ -z $bad_prefix ]] || problem "names without the pool_ prefix:"$'\n'"$bad_prefix"

# 3. No Swift libraries at run time.
if ldd "$lib" | grep -i swift; then
    problem "the library needs Swift runtime libraries (see above)"
fi
if readelf -d "$lib" 2>/dev/null | grep NEEDED | grep -i swift; then
    problem "the library has a NEEDED entry for a Swift library (see above)"
fi

# 4. pool_strerror: one distinct, known text per enum pool_status value. The
# names come from the header's enum; the values from the compiler.
sed -n '/^enum pool_status {/,/^};/p' "$header" | grep -oE '^[[:space:]]*POOL_[A-Z_]+' |
    tr -d ' ' >"$tmp/codes.txt"
{
    echo '#include <stdio.h>'
    echo '#include <mysqlpool.h>'
    echo 'int main(void) {'
    while read -r code; do
        echo "    printf(\"%d\\t%s\\t%s\\n\", (int)$code, \"$code\", pool_strerror($code));"
    done <"$tmp/codes.txt"
    echo '    printf("unknown\t-\t%s\n", pool_strerror(-12345));'
    echo '    return 0;'
    echo '}'
} >"$tmp/strerror.c"
# Linked through links in $tmp, so that exactly $lib is loaded whatever its
# file name and SONAME (libmysqlpool.so.MAJOR) are.
mkdir "$tmp/lib"
ln -s "$lib" "$tmp/lib/libmysqlpool.so"
soname_link=$(readelf -d "$lib" | sed -nE 's/.*\(SONAME\).*\[(.*)\]$/\1/p')
[[ -z $soname_link || $soname_link == libmysqlpool.so ]] || ln -s "$lib" "$tmp/lib/$soname_link"
if ! "$CC" -std=c99 -Wall -Wextra -pedantic -Werror -Iinclude -o "$tmp/strerror" "$tmp/strerror.c" \
    -L"$tmp/lib" -lmysqlpool -Wl,-rpath,"$tmp/lib"; then
    problem "cannot build the pool_strerror check"
else
    "$tmp/strerror" >"$tmp/strerror.txt"
    unknown=$(awk -F'\t' '$1 == "unknown" { print $3 }' "$tmp/strerror.txt")
    grep -v '^unknown' "$tmp/strerror.txt" >"$tmp/known.txt"
    if [[ $(wc -l <"$tmp/known.txt") -ne $(wc -l <"$tmp/codes.txt") || ! -s $tmp/known.txt ]]; then
        problem "found $(wc -l <"$tmp/codes.txt") enum values but checked $(wc -l <"$tmp/known.txt")"
    fi
    while IFS=$'\t' read -r value name text; do
        if [[ -z $text ]]; then
            problem "pool_strerror($name = $value) is empty"
        elif [[ $text == "$unknown" ]]; then
            problem "pool_strerror($name = $value) is the unknown-code text \"$text\""
        fi
    done <"$tmp/known.txt"
    dupes=$(cut -f3 "$tmp/known.txt" | sort | uniq -d)
    if [[ -n $dupes ]]; then
        problem "codes sharing one pool_strerror text:"$'\n'"$(grep -F "$dupes" "$tmp/known.txt")"
    fi
fi

# 5. SONAME and symbol version from the header's major version.
major=$(sed -nE 's/^#define POOL_VERSION_MAJOR ([0-9]+)$/\1/p' "$header")
if [[ -z $major ]]; then
    problem "no '#define POOL_VERSION_MAJOR N' in $header"
else
    soname=$(readelf -d "$lib" | sed -nE 's/.*\(SONAME\).*\[(.*)\]$/\1/p')
    [[ $soname == "libmysqlpool.so.$major" ]] ||
        problem "SONAME is '${soname:-none}', expected libmysqlpool.so.$major (Package.swift's -soname)"
    unversioned=$(grep -E '^pool_' "$tmp/nm.txt" | grep -vE "@@MYSQLPOOL_$major\$" || true)
    [[ -z $unversioned ]] ||
        problem "symbols without the default version MYSQLPOOL_$major (exports.map):"$'\n'"$unversioned"
fi

if [[ $status -eq 0 ]]; then
    echo "abi-check: OK: $count functions, all pool_*, exported exactly;" \
        "no Swift runtime dependency; $(wc -l <"$tmp/codes.txt") status codes with distinct texts;" \
        "SONAME $soname, symbols @@MYSQLPOOL_$major"
fi
exit "$status"
