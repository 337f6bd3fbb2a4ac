#!/usr/bin/env bash
# deps.sh: install the Debian and Python packages needed to build and test mysqlpool.
# Fast no-op when everything is already installed (no apt-get update).
set -euo pipefail

# openssl: the command-line tool; scripts/server/make-test-certs.sh makes the TLS tests' certificates.
# g++: libstdc++'s development files, which scripts/test/fuzz.sh's libFuzzer link
# needs (-fsanitize=fuzzer links -lstdc++), and test-c.sh's C++ header check.
# luajit: bindings/luajit (its FFI) and its test suite.
# python3-dbg: CPython's debug build, whose sys.gettotalrefcount() checks the
# object builder's reference counts (bindings/python/tests/refcount_check.py).
required=(mariadb-server mariadb-client libmariadb-dev pkg-config openssl g++ luajit python3-dbg)
# LeakSanitizer runtime; optional because not every release ships it.
optional=(libclang-rt-14-dev)

debian_packages() {
    missing=()
    for p in "${required[@]}" "${optional[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done

    command -v python3 >/dev/null 2>&1 ||
        echo "deps: note: python3 not found (assumed present; with-mariadb.sh needs it)" >&2

    if [[ ${#missing[@]} -eq 0 ]]; then
        echo "deps: nothing missing"
        return 0
    fi

    sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)

    "${sudo[@]}" apt-get update -qq

    # Drop optional packages apt does not know, rather than failing the install.
    install=()
    for p in "${missing[@]}"; do
        if [[ " ${optional[*]} " == *" $p "* ]] && ! apt-cache show "$p" >/dev/null 2>&1; then
            echo "deps: note: $p not available in apt, skipping" >&2
            continue
        fi
        install+=("$p")
    done

    if [[ ${#install[@]} -eq 0 ]]; then
        echo "deps: nothing installable was missing"
        return 0
    fi

    # mariadb-server's postinst reports that policy-rc.d denied starting the
    # service (no init system here); that is expected, tests start their own.
    # dpkg is chatty even with -qq: keep its output in a log, show it on failure.
    log=$(mktemp /tmp/mysqlpool-deps.XXXXXX)
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq "${install[@]}" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        echo "deps: apt-get install failed" >&2
        return 1
    fi
    rm -f "$log"
    echo "deps: installed ${install[*]}"
}

# Python packages the tests use (PyMySQL is a comparison peer and the source
# of interop checks, never a runtime dependency of pymysqlpool).
python_packages() {
    local requirements
    requirements="$(dirname "${BASH_SOURCE[0]}")/../bindings/python/tests/requirements.txt"
    [[ -f $requirements ]] || return 0
    # build.__main__, not build: run from the checkout, `import build` would
    # find make's build/ folder there and import it as an empty namespace package.
    if python3 -c "import pymysql, pytest, dbapi20, hypothesis, sqlalchemy, prometheus_client, build.__main__, mypy" >/dev/null 2>&1; then
        echo "deps: python test packages present"
        return 0
    fi
    python3 -m pip install -q --disable-pip-version-check -r "$requirements"
    echo "deps: installed python test packages"
}

debian_packages
python_packages
