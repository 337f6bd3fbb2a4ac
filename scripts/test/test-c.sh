#!/usr/bin/env bash
# test-c.sh [--asan]: the C-side checks of libmysqlpool.
#
#   1. include/mysqlpool.h compiles standalone as C99 and as C++11, and the
#      example in its preamble comment compiles and links;
#   2. Tests/c/*.c are built (into build/c/, or build/c-asan/ with --asan)
#      and run: test_api, test_threads, test_params, test_stmt, test_nonblocking, test_dlopen.
#
# Needs the MYSQL_* variables of a test server, i.e. run it as
#   scripts/server/with-mariadb.sh scripts/test/test-c.sh [--asan]
# and a built library (.build/release/libmysqlpool.so: swift build -c release).
#
# --asan builds the tests with AddressSanitizer + UndefinedBehaviorSanitizer
# (the library itself is not instrumented) and fails on any sanitizer report,
# including LeakSanitizer leaks not listed in Tests/c/lsan.supp.
#
# Environment: CC (default cc), CXX (default g++), TEST_THREADS_SECONDS.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

asan=
case "${1:-}" in
"") ;;
--asan) asan=1 ;;
*)
    echo "usage: $0 [--asan]" >&2
    exit 2
    ;;
esac

CC=${CC:-cc}
CXX=${CXX:-g++}
lib_dir=$root/.build/release
lib=$lib_dir/libmysqlpool.so
warn=(-std=c99 -Wall -Wextra -pedantic -Werror)

if [[ -n $asan ]]; then
    out=build/c-asan
    sanitize=(-fsanitize=address,undefined -fno-omit-frame-pointer -g)
else
    out=build/c
    sanitize=(-O1 -g)
fi

failures=()
fail() {
    echo "test-c: FAILED: $*" >&2
    failures+=("$*")
}

# A run without a server must be red, never a silent skip.
if [[ -z ${MYSQL_HOST:-} ]]; then
    echo "test-c: MYSQL_HOST is not set; run: scripts/server/with-mariadb.sh $0 $*" >&2
    exit 1
fi
if [[ ! -f $lib ]]; then
    echo "test-c: $lib is missing; build it first: swift build -c release" >&2
    exit 1
fi
# Programs linked with -lmysqlpool load the library by its SONAME
# (libmysqlpool.so.0); `make build` puts that link next to it, a bare
# `swift build` does not.
soname=$(readelf -d "$lib" | sed -nE 's/.*\(SONAME\).*\[(.*)\]$/\1/p')
if [[ -n $soname && ! -e $lib_dir/$soname ]]; then
    ln -sfn libmysqlpool.so "$lib_dir/$soname"
    echo "test-c: made the link $lib_dir/$soname -> libmysqlpool.so"
fi

mkdir -p "$out"

# --- 1. The header -----------------------------------------------------------

echo "== header: C99 and C++11, standalone"
"$CC" "${warn[@]}" -Iinclude -fsyntax-only -x c include/mysqlpool.h ||
    fail "header does not compile as C99"
printf '#include <mysqlpool.h>\nint main() { return pool_version_number() == POOL_VERSION_NUMBER ? 0 : 1; }\n' \
    >"$out/header_check.cpp"
"$CXX" -std=c++11 -Wall -Wextra -pedantic -Werror -Iinclude -fsyntax-only "$out/header_check.cpp" ||
    fail "header does not compile as C++11"

# The example is the text between the "EXAMPLE" line and the end of the
# preamble comment, each line with its " *   " prefix removed.
echo "== header: the preamble's EXAMPLE compiles and links"
awk '
    /^ \* EXAMPLE/ { inside = 1; next }
    inside && /^ \* -----/ { exit }
    inside && /\*\// { exit }
    inside { sub(/^ \*   ?/, ""); sub(/^ \*$/, ""); print }
' include/mysqlpool.h >"$out/header_example.c"
if ! grep -q 'int main' "$out/header_example.c"; then
    fail "no EXAMPLE with a main() found in the header's preamble"
elif ! "$CC" "${warn[@]}" -Iinclude -o "$out/header_example" "$out/header_example.c" \
    -L"$lib_dir" -lmysqlpool -Wl,-rpath,"$lib_dir"; then
    fail "the header's EXAMPLE does not compile/link (extracted to $out/header_example.c)"
fi

# --- 2. The tests --------------------------------------------------------------

echo "== building tests into $out"
build() { # build NAME EXTRA-LINK-FLAGS...
    local name=$1
    shift
    "$CC" "${warn[@]}" "${sanitize[@]}" -Iinclude -ITests/c -o "$out/$name" "Tests/c/$name.c" "$@" ||
        fail "build $name"
}
build test_api -L"$lib_dir" -lmysqlpool -Wl,-rpath,"$lib_dir" -lpthread
build test_threads -L"$lib_dir" -lmysqlpool -Wl,-rpath,"$lib_dir" -lpthread
build test_params -L"$lib_dir" -lmysqlpool -Wl,-rpath,"$lib_dir" -lpthread
build test_stmt -L"$lib_dir" -lmysqlpool -Wl,-rpath,"$lib_dir" -lpthread
build test_nonblocking -L"$lib_dir" -lmysqlpool -Wl,-rpath,"$lib_dir" -lpthread
build test_dlopen -ldl -lpthread

# test_dlopen's list of names must be the header's list of functions.
if [[ -x $out/test_dlopen ]]; then
    if ! diff <(grep -E '^POOL_API[[:space:]]' include/mysqlpool.h |
        sed -E 's/^[^(]*[^A-Za-z0-9_(]([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*\(.*/\1/' | sort) \
        <("$out/test_dlopen" --list | sort); then
        fail "Tests/c/test_dlopen.c api_names differs from the header (< header, > test)"
    fi
fi

sanitizer_env=()
if [[ -n $asan ]]; then
    # UBSan keeps going after a report (halt_on_error=0) so one run shows them
    # all; the log scan in run() turns any report into a failure.
    lsan_options=print_suppressions=0
    if [[ -f Tests/c/lsan.supp ]]; then
        lsan_options+=:suppressions=$root/Tests/c/lsan.supp
    fi
    sanitizer_env=(
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
        LSAN_OPTIONS=$lsan_options
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=0
    )
fi

# run NAME ARGS...: runs a test binary, tees its output to $out/NAME.log,
# requires exit 0, a final "N passed, 0 failed" line and (with --asan) no
# sanitizer report.
run() {
    local name=$1 log=$out/$1.log rc=0 start ms
    shift
    [[ -x $out/$name ]] || return 0
    echo "== $name"
    start=$(date +%s%N)
    env "${sanitizer_env[@]}" "$out/$name" "$@" >"$log" 2>&1 || rc=$?
    ms=$((($(date +%s%N) - start) / 1000000))
    cat "$log"
    timings+=("$(printf '%-14s %4d.%d s  exit %d' "$name" $((ms / 1000)) $((ms % 1000 / 100)) "$rc")")
    if [[ $rc -ne 0 ]]; then
        fail "$name exited with $rc (log: $log)"
    elif ! tail -n 1 "$log" | grep -qE '^[0-9]+ passed, 0 failed$'; then
        fail "$name exited 0 without a final 'N passed, 0 failed' line (log: $log)"
    fi
    if [[ -n $asan ]] && grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|UndefinedBehaviorSanitizer|SUMMARY: [A-Za-z]+Sanitizer' "$log"; then
        fail "$name: sanitizer report (see $log)"
    fi
}

timings=()
run test_api
run test_threads
run test_params
run test_stmt
run test_nonblocking
run test_dlopen "$lib"

echo "== timings"
printf '  %s\n' "${timings[@]}"
# Tests that need the throwaway server, listed with their reasons when the
# server is one named in MYSQL_HOST.
not_run=$(cat "$out"/test_*.log 2>/dev/null | grep -E '^--  .* not run against a server you named' || true)
if [[ -n $not_run ]]; then
    echo "== not run against a server you named ($(grep -c . <<<"$not_run"))"
    printf '%s\n' "$not_run"
fi
if [[ ${#failures[@]} -gt 0 ]]; then
    echo "test-c: ${#failures[@]} failure(s):" >&2
    printf '  - %s\n' "${failures[@]}" >&2
    exit 1
fi
echo "test-c: all C checks passed${asan:+ (ASan/UBSan/LSan)}"
