# mysqlpool: `make demo` and `make test` work from a fresh clone as root.
# Both install what is missing (scripts/deps.sh), build, and use the server
# named by MYSQL_HOST/MYSQL_TCP_PORT/MYSQL_USER/MYSQL_PWD/MYSQL_DATABASE, or
# start a throwaway MariaDB on 127.0.0.1 when MYSQL_HOST is unset.
SWIFT ?= swift
LIB := .build/release/libmysqlpool.so
CFLAGS_EXAMPLE := -std=c99 -Wall -Wextra -pedantic -Werror -Iinclude

.PHONY: all deps build demo test test-swift test-sanitizers test-c abi-check clean bench

all: build

deps:
	@scripts/deps.sh

build: deps
	$(SWIFT) build -c release
	@test -f $(LIB)

build/quickstart: examples/quickstart.c include/mysqlpool.h build
	@mkdir -p build
	$(CC) $(CFLAGS_EXAMPLE) examples/quickstart.c -L.build/release -lmysqlpool \
		-Wl,-rpath,$(CURDIR)/.build/release -o $@

demo: build/quickstart
	scripts/with-mariadb.sh build/quickstart

# Everything, against one throwaway server: Swift unit + integration tests
# (plain, TSan, ASan), the ABI check, and the C suites (plain and ASan/LSan).
test: build
	scripts/with-mariadb.sh scripts/test-all.sh

test-swift: deps
	scripts/with-mariadb.sh $(SWIFT) test

test-sanitizers: deps
	scripts/with-mariadb.sh scripts/test-all.sh --only sanitizers

test-c: build
	scripts/with-mariadb.sh scripts/test-c.sh

abi-check: build
	scripts/abi-check.sh

# Benchmarks against the peers (issue 4, bench/README.md); BENCH_QUICK=1 for
# a short smoke run. Peers go into bench/.venv, never the system Python.
bench: build
	python3 bench/run.py --setup
	scripts/with-mariadb.sh python3 bench/run.py

clean:
	rm -rf .build .build-tsan .build-asan build
