#!/usr/bin/env bash
# test-all.sh [--only sanitizers]: every test suite, one after another, against
# the server in MYSQL_* (run it under scripts/server/with-mariadb.sh, as `make test`
# does). Each suite runs even if an earlier one failed; the last line counts
# the suites.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

if [[ -z ${MYSQL_HOST:-} ]]; then
    echo "test-all: MYSQL_HOST is not set; run it as scripts/server/with-mariadb.sh $0" >&2
    exit 1
fi

passed=0
failed=0
failures=()
not_run=0
output=$(mktemp /tmp/mysqlpool-suite.XXXXXX)
trap 'rm -f "$output"' EXIT

# Each suite lists the tests it held back from a server named in MYSQL_HOST
# (they need the throwaway server) as "... not run against ...: reason".
suite() {
    local name=$1 rc
    shift
    echo
    echo "=== $name: $*"
    "$@" 2>&1 | tee "$output"
    rc=${PIPESTATUS[0]}
    not_run=$((not_run + $(grep -cE 'not run against (a server you named|this server): ' "$output")))
    if [[ $rc -eq 0 ]]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failures+=("$name")
    fi
}

# Sanitizer builds get their own scratch folders so they do not rebuild the
# plain debug build every time.
sanitizers() {
    suite "swift tests (thread sanitizer)" swift test --sanitize=thread --scratch-path .build-tsan
    suite "swift tests (address sanitizer)" env LSAN_OPTIONS="suppressions=$PWD/Tests/lsan-swift.supp" \
        swift test --sanitize=address --scratch-path .build-asan
}

if [[ ${1:-} == "--only" && ${2:-} == "sanitizers" ]]; then
    sanitizers
else
    suite "swift tests" swift test
    sanitizers
    suite "abi check" scripts/check/abi-check.sh
    suite "docs check (c-api.md generated, links)" scripts/check/check-docs.sh
    suite "README and docs code blocks" python3 scripts/test/test-readme-blocks.py
    suite "C tests" scripts/test/test-c.sh
    suite "C tests (ASan/LSan/UBSan)" scripts/test/test-c.sh --asan
    suite "install (make install PREFIX=tmp, pkg-config build, uninstall)" scripts/test/test-install.sh
    suite "fuzz (libFuzzer, 15 s per harness)" scripts/test/fuzz.sh 15
    # Rows reach Python as objects the library builds; the value-checking suites run on the pickle too.
    suite "python tests" env PYTHONPATH=bindings/python python3 -m pytest -q -p no:cacheprovider bindings/python/tests
    suite "reference counts under CPython's debug build (python3-dbg)" \
        python3-dbg bindings/python/tests/refcount_check.py
    suite "python differential and property tests on the pickle (PYMYSQLPOOL_ROWS=pickle)" \
        env PYTHONPATH=bindings/python PYMYSQLPOOL_ROWS=pickle python3 -m pytest -q -p no:cacheprovider \
        bindings/python/tests/test_differential.py bindings/python/tests/test_row_encoding.py \
        bindings/python/tests/test_dbapi20.py bindings/python/tests/test_pymysql_compat.py
    suite "LuaJIT binding" luajit bindings/luajit/test.lua
    # Clusters of their own on 127.0.0.1 (each script starts and stops its servers).
    suite "replication cluster scripts" scripts/cluster/with-replication.sh scripts/cluster/test-replication.sh
    suite "pool over primary + 2 replicas" scripts/cluster/with-replication.sh \
        env PYTHONPATH=bindings/python python3 -m pytest -q -p no:cacheprovider bindings/python/cluster_tests/test_replication.py
    suite "pool over a 3-node Galera cluster" scripts/cluster/with-galera.sh \
        env PYTHONPATH=bindings/python python3 -m pytest -q -p no:cacheprovider bindings/python/cluster_tests/test_galera.py
fi

echo
for name in "${failures[@]}"; do echo "FAILED: $name"; done
if [[ -z ${MYSQLPOOL_TEST_DATADIR:-} ]]; then
    echo "server named in MYSQL_HOST: $not_run test(s) not run against it (listed with their reasons above)"
elif [[ $not_run -gt 0 ]]; then
    echo "FAILED: $not_run test(s) held back from the throwaway server, which runs them all"
    failed=$((failed + 1))
fi
echo "suites: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
