# mysqlpool: `make demo` and `make test` work from a fresh clone as root.
# Both install what is missing (scripts/deps.sh), build, and use the server
# named by MYSQL_HOST/MYSQL_TCP_PORT/MYSQL_USER/MYSQL_PWD/MYSQL_DATABASE, or
# start a throwaway MariaDB on 127.0.0.1 when MYSQL_HOST is unset.
SWIFT ?= swift
LIB := .build/release/libmysqlpool.so
CFLAGS_EXAMPLE := -std=c99 -Wall -Wextra -pedantic -Werror -Iinclude

# The version comes from the header and only from there: POOL_VERSION_STRING
# names the installed file, POOL_VERSION_MAJOR the SONAME (libmysqlpool.so.MAJOR,
# set in Package.swift; scripts/check/abi-check.sh checks that they agree).
VERSION := $(shell sed -n 's/^.define POOL_VERSION_STRING "\([0-9.]*\)"$$/\1/p' include/mysqlpool.h)
MAJOR := $(shell sed -n 's/^.define POOL_VERSION_MAJOR \([0-9]*\)$$/\1/p' include/mysqlpool.h)
ifeq ($(VERSION),)
$(error cannot read POOL_VERSION_STRING from include/mysqlpool.h)
endif
ifeq ($(MAJOR),)
$(error cannot read POOL_VERSION_MAJOR from include/mysqlpool.h)
endif

# make install [PREFIX=/usr/local] [DESTDIR=staging]: the library as
# libmysqlpool.so.$(VERSION) with the links libmysqlpool.so.$(MAJOR) (the
# SONAME: what programs load) and libmysqlpool.so (what -lmysqlpool finds),
# the header, and mysqlpool.pc for pkg-config. It installs what `make build`
# built and does not build (build as yourself, install as root).
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
# Run after a real install (no DESTDIR) as root, so that programs without an
# rpath find the library in LIBDIR; LDCONFIG=true skips it.
LDCONFIG ?= ldconfig
INSTALL ?= install

.PHONY: all deps build demo test test-swift test-sanitizers test-c test-peers abi-check clean bench install uninstall

all: build

deps:
	@scripts/deps.sh

# libmysqlpool.so.$(MAJOR) next to the library: programs linked with
# -L.build/release -lmysqlpool need the file named by its SONAME at run time.
build: deps
	$(SWIFT) build -c release
	@test -f $(LIB)
	@ln -sfn libmysqlpool.so $(LIB).$(MAJOR)

build/quickstart: examples/quickstart.c include/mysqlpool.h build
	@mkdir -p build
	$(CC) $(CFLAGS_EXAMPLE) examples/quickstart.c -L.build/release -lmysqlpool \
		-Wl,-rpath,$(CURDIR)/.build/release -o $@

demo: build/quickstart
	scripts/server/with-mariadb.sh build/quickstart

# Everything, against one throwaway server: Swift unit + integration tests
# (plain, TSan, ASan), the ABI check, and the C suites (plain and ASan/LSan).
test: build
	scripts/server/with-mariadb.sh scripts/test/test-all.sh

test-swift: deps
	scripts/server/with-mariadb.sh $(SWIFT) test

test-sanitizers: deps
	scripts/server/with-mariadb.sh scripts/test/test-all.sh --only sanitizers

test-c: build
	scripts/server/with-mariadb.sh scripts/test/test-c.sh

# PyMySQL's own test suite, with PyMySQL and with our Connection swapped in,
# on a throwaway server: PYMYSQL_SRC=/path/to/PyMySQL-checkout make test-peers
# (the suite is not on PyPI, so `make test` cannot run it).
test-peers: build
	scripts/peers/pymysql-suite.sh

abi-check: build
	scripts/check/abi-check.sh

# Benchmarks against the peers (issue 4, bench/README.md); BENCH_QUICK=1 for
# a short smoke run. Peers go into bench/.venv, never the system Python.
bench: build
	python3 bench/run.py --setup
	scripts/server/with-mariadb.sh python3 bench/run.py

clean:
	rm -rf .build .build-tsan .build-asan build

# mysqlpool.pc is written from mysqlpool.pc.in at every install (it holds
# PREFIX); libdir and includedir are relative to ${prefix} when under PREFIX.
install:
	@test -n "$(PREFIX)" || { echo "make install: PREFIX is empty" >&2; exit 1; }
	@test -f $(LIB) || { echo "make install: $(LIB) is missing; run make build first" >&2; exit 1; }
	@soname=$$(readelf -d $(LIB) | sed -n 's/.*(SONAME).*\[\(.*\)\]$$/\1/p'); \
	if [ "$$soname" != libmysqlpool.so.$(MAJOR) ]; then \
		echo "make install: $(LIB) has SONAME '$$soname', not libmysqlpool.so.$(MAJOR); run make build" >&2; exit 1; \
	fi
	$(INSTALL) -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	$(INSTALL) -m 755 $(LIB) $(DESTDIR)$(LIBDIR)/libmysqlpool.so.$(VERSION)
	ln -sfn libmysqlpool.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libmysqlpool.so.$(MAJOR)
	ln -sfn libmysqlpool.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/libmysqlpool.so
	$(INSTALL) -m 644 include/mysqlpool.h $(DESTDIR)$(INCLUDEDIR)/mysqlpool.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' \
		-e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|g' \
		-e 's|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|g' \
		-e 's|@VERSION@|$(VERSION)|g' mysqlpool.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/mysqlpool.pc
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/mysqlpool.pc
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then $(LDCONFIG) || true; fi

# Removes what install put there. The links go only when they lead to this
# version's file: libmysqlpool.so.$(MAJOR) of another version stays, and so
# does libmysqlpool.so pointing at it.
uninstall:
	@test -n "$(PREFIX)" || { echo "make uninstall: PREFIX is empty" >&2; exit 1; }
	rm -f $(DESTDIR)$(LIBDIR)/libmysqlpool.so.$(VERSION) $(DESTDIR)$(INCLUDEDIR)/mysqlpool.h \
		$(DESTDIR)$(PKGCONFIGDIR)/mysqlpool.pc
	@dir=$(DESTDIR)$(LIBDIR); \
	if [ -L "$$dir/libmysqlpool.so.$(MAJOR)" ] \
		&& [ "$$(readlink "$$dir/libmysqlpool.so.$(MAJOR)")" = libmysqlpool.so.$(VERSION) ]; then \
		echo "rm -f $$dir/libmysqlpool.so.$(MAJOR)"; rm -f "$$dir/libmysqlpool.so.$(MAJOR)"; \
	fi; \
	if [ -L "$$dir/libmysqlpool.so" ] && [ "$$(readlink "$$dir/libmysqlpool.so")" = libmysqlpool.so.$(MAJOR) ] \
		&& [ ! -e "$$dir/libmysqlpool.so.$(MAJOR)" ]; then \
		echo "rm -f $$dir/libmysqlpool.so"; rm -f "$$dir/libmysqlpool.so"; \
	fi
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then $(LDCONFIG) || true; fi
