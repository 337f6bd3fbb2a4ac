/*
 * testlib.h: a tiny header-only harness for the C tests of libmysqlpool.
 *
 *   CHECK(cond)                 record a failure (file:line, expression) and go on
 *   CHECK_EQ_INT(actual, want)  integers, both values printed on failure
 *   CHECK_STR(actual, want)     C strings (NULL-safe)
 *   CHECK_MEM(p, n, want, wn)   byte strings with lengths (binary-safe)
 *   CHECK_CONTAINS(s, part)     / CHECK_NOT_CONTAINS(s, part)
 *   CHECK_RC(call, want)        a pool_* status; on failure also prints the
 *                               thread's pool_last_error()
 * Every CHECK* is an expression worth 1 when it held, 0 when it failed, so a
 * test can stop early: `if (!CHECK_RC(pool_get_conn(...), POOL_OK)) return;`.
 *
 *   RUN(test_fn)       run one test (void test_fn(void)); with command line
 *                      arguments only tests whose name contains one of them run
 *   RUN_THROWAWAY(test_fn, reason)
 *                      a test that needs the throwaway server of
 *                      scripts/server/with-mariadb.sh (its socket, its process, rights
 *                      beyond one database): against a server named in
 *                      MYSQL_HOST it is listed as not run, with the reason
 *   test_summary()     print the final "N passed, N failed" line (tests) and
 *                      return the exit status (0 all passed, 1 otherwise)
 *
 * Checks may fail in any thread; the counters are protected by a mutex.
 *
 * Server helpers: tl_config_env() builds a pool_config_t from the MYSQL_*
 * client variables exported by scripts/server/with-mariadb.sh, tl_config(k, v, ...,
 * NULL) adds key/value pairs, tl_pool(&pool, k, v, ..., NULL) creates the pool
 * too, tl_create(&pool, config) creates one from a config. Without MYSQL_HOST the tests FAIL (they
 * never skip): a green run must mean the library was really exercised.
 */
#ifndef MYSQLPOOL_TESTLIB_H
#define MYSQLPOOL_TESTLIB_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <mysqlpool.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__GNUC__) || defined(__clang__)
#define TL_SENTINEL __attribute__((sentinel))
#define TL_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TL_SENTINEL
#define TL_PRINTF(f, a)
#endif

/* All harness state lives behind one function so that a test file that uses
 * only part of the harness gets no "defined but not used" warnings. */
struct tl_state {
    pthread_mutex_t lock;
    int argc;
    char **argv;
    const char *current;  /* name of the running test */
    long checks_failed;   /* failed checks in the running test */
    long total_checks;
    int tests_passed, tests_failed, tests_not_run;
};

static inline struct tl_state *tl_state(void) {
    static struct tl_state state = {PTHREAD_MUTEX_INITIALIZER, 0, NULL, "(no test)", 0, 0, 0, 0, 0};
    return &state;
}

/* Records one check; prints the failure with its location. Returns ok. */
static inline TL_PRINTF(5, 6) int tl_check(int ok, const char *file, int line, const char *expr,
                                           const char *detail_format, ...) {
    struct tl_state *s = tl_state();
    pthread_mutex_lock(&s->lock);
    s->total_checks++;
    if (!ok) {
        s->checks_failed++;
        fprintf(stderr, "%s:%d: [%s] CHECK FAILED: %s", file, line, s->current, expr);
        if (detail_format != NULL && detail_format[0] != '\0') {
            va_list args;
            va_start(args, detail_format);
            fputs("\n    ", stderr);
            vfprintf(stderr, detail_format, args);
            va_end(args);
        }
        fputc('\n', stderr);
        fflush(stderr);
    }
    pthread_mutex_unlock(&s->lock);
    return ok;
}

#define CHECK(cond) tl_check((cond) ? 1 : 0, __FILE__, __LINE__, #cond, "%s", "")

#define CHECK_EQ_INT(actual, expected)                                                             \
    tl_check_int((long long)(actual), (long long)(expected), __FILE__, __LINE__,                   \
                 #actual " == " #expected)

static inline int tl_check_int(long long actual, long long expected, const char *file, int line,
                               const char *expr) {
    return tl_check(actual == expected, file, line, expr, "actual %lld, expected %lld", actual,
                    expected);
}

/* Unsigned 64-bit values (stats counters, BIGINT UNSIGNED) compare exactly. */
#define CHECK_EQ_U64(actual, expected)                                                             \
    tl_check_u64((unsigned long long)(actual), (unsigned long long)(expected), __FILE__, __LINE__, \
                 #actual " == " #expected)

static inline int tl_check_u64(unsigned long long actual, unsigned long long expected,
                               const char *file, int line, const char *expr) {
    return tl_check(actual == expected, file, line, expr, "actual %llu, expected %llu", actual,
                    expected);
}

#define CHECK_STR(actual, expected)                                                                \
    tl_check_str((actual), (expected), __FILE__, __LINE__, #actual " == " #expected)

static inline int tl_check_str(const char *actual, const char *expected, const char *file,
                               int line, const char *expr) {
    int ok = (actual == NULL || expected == NULL) ? actual == expected
                                                  : strcmp(actual, expected) == 0;
    return tl_check(ok, file, line, expr, "actual %s%s%s, expected %s%s%s", actual ? "\"" : "",
                    actual ? actual : "NULL", actual ? "\"" : "", expected ? "\"" : "",
                    expected ? expected : "NULL", expected ? "\"" : "");
}

#define CHECK_CONTAINS(haystack, needle)                                                           \
    tl_check_contains((haystack), (needle), 1, __FILE__, __LINE__, #haystack " contains " #needle)
#define CHECK_NOT_CONTAINS(haystack, needle)                                                       \
    tl_check_contains((haystack), (needle), 0, __FILE__, __LINE__,                                 \
                      #haystack " does not contain " #needle)

static inline int tl_check_contains(const char *haystack, const char *needle, int want,
                                    const char *file, int line, const char *expr) {
    int found = haystack != NULL && needle != NULL && strstr(haystack, needle) != NULL;
    /* A NULL haystack neither contains nor lacks anything: always a failure. */
    int ok = haystack != NULL && found == want;
    return tl_check(ok, file, line, expr, "string: %s%s%s, looked for: \"%s\"",
                    haystack ? "\"" : "", haystack ? haystack : "NULL", haystack ? "\"" : "",
                    needle ? needle : "NULL");
}

/* Binary-safe comparison; on failure both sides are dumped in hex. */
#define CHECK_MEM(actual, actual_len, expected, expected_len)                                      \
    tl_check_mem((const void *)(actual), (size_t)(actual_len), (const void *)(expected),           \
                 (size_t)(expected_len), __FILE__, __LINE__, #actual " == " #expected)

static inline void tl_hex(char *out, size_t out_size, const void *data, size_t len) {
    const unsigned char *bytes = (const unsigned char *)data;
    size_t used = 0, i;
    out[0] = '\0';
    if (data == NULL) {
        snprintf(out, out_size, "NULL");
        return;
    }
    for (i = 0; i < len && used + 4 < out_size; i++)
        used += (size_t)snprintf(out + used, out_size - used, "%02x ", bytes[i]);
    if (i < len)
        snprintf(out + used, out_size - used, "...");
}

static inline int tl_check_mem(const void *actual, size_t actual_len, const void *expected,
                               size_t expected_len, const char *file, int line, const char *expr) {
    char a[200], e[200];
    int ok = actual != NULL && expected != NULL && actual_len == expected_len
             && memcmp(actual, expected, actual_len) == 0;
    if (ok)
        return tl_check(1, file, line, expr, "%s", "");
    tl_hex(a, sizeof a, actual, actual_len);
    tl_hex(e, sizeof e, expected, expected_len);
    return tl_check(0, file, line, expr, "actual (%zu bytes): %s\n    expected (%zu bytes): %s",
                    actual_len, a, expected_len, e);
}

/* A pool_* status: both codes by name, plus the thread's last error message
 * (read right away, before anything else can overwrite it). */
#define CHECK_RC(call, expected) tl_check_rc((call), (expected), __FILE__, __LINE__, #call)

static inline int tl_check_rc(int actual, int expected, const char *file, int line,
                              const char *expr) {
    return tl_check(actual == expected, file, line, expr,
                    "returned %d (%s), expected %d (%s); last error: %d/%u/%s \"%s\"", actual,
                    pool_strerror(actual), expected, pool_strerror(expected),
                    pool_last_error_code(), pool_last_errno(), pool_last_sqlstate(),
                    pool_last_error());
}

/* The thread's last error must be exactly (code, errno, sqlstate). */
#define CHECK_LAST_ERROR(code, err, sqlstate)                                                      \
    tl_check_last_error((code), (err), (sqlstate), __FILE__, __LINE__)

static inline int tl_check_last_error(int code, unsigned err, const char *sqlstate,
                                      const char *file, int line) {
    int ok = pool_last_error_code() == code && pool_last_errno() == err
             && pool_last_sqlstate() != NULL && strcmp(pool_last_sqlstate(), sqlstate) == 0;
    return tl_check(ok, file, line, "last error", "actual %d/%u/%s \"%s\", expected %d/%u/%s",
                    pool_last_error_code(), pool_last_errno(),
                    pool_last_sqlstate() ? pool_last_sqlstate() : "NULL",
                    pool_last_error() ? pool_last_error() : "NULL", code, err, sqlstate);
}

/* ------------------------------------------------------------------------
 * Running tests
 */

/* Call once from main so RUN can filter by name. */
static inline void tl_init(int argc, char **argv) {
    tl_state()->argc = argc;
    tl_state()->argv = argv;
    setvbuf(stdout, NULL, _IOLBF, 0);
}

static inline double tl_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static inline void tl_sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0) {
    }
}

#define RUN(fn) tl_run(#fn, fn)
#define RUN_THROWAWAY(fn, reason) tl_run_throwaway(#fn, fn, reason)

/* True when the server is the throwaway one scripts/server/with-mariadb.sh started
 * (it exports its datadir); false for a server named in MYSQL_HOST. */
static inline int tl_throwaway_server(void) {
    const char *datadir = getenv("MYSQLPOOL_TEST_DATADIR");
    return datadir != NULL && datadir[0] != '\0';
}

/* With command line arguments, only tests whose name contains one run. */
static inline int tl_selected(const char *name) {
    struct tl_state *s = tl_state();
    int i, selected = s->argc <= 1;
    for (i = 1; i < s->argc; i++)
        if (strstr(name, s->argv[i]) != NULL)
            selected = 1;
    return selected;
}

static inline void tl_run(const char *name, void (*fn)(void)) {
    struct tl_state *s = tl_state();
    double start;
    if (!tl_selected(name))
        return;
    pthread_mutex_lock(&s->lock);
    s->current = name;
    s->checks_failed = 0;
    pthread_mutex_unlock(&s->lock);
    start = tl_now_ms();
    fn();
    pthread_mutex_lock(&s->lock);
    if (s->checks_failed == 0) {
        s->tests_passed++;
        printf("ok    %-40s %8.0f ms\n", name, tl_now_ms() - start);
    } else {
        s->tests_failed++;
        printf("FAIL  %-40s %8.0f ms (%ld failed checks)\n", name, tl_now_ms() - start,
               s->checks_failed);
    }
    s->current = "(between tests)";
    pthread_mutex_unlock(&s->lock);
}

static inline void tl_run_throwaway(const char *name, void (*fn)(void), const char *reason) {
    struct tl_state *s = tl_state();
    if (tl_throwaway_server()) {
        tl_run(name, fn);
    } else if (tl_selected(name)) {
        s->tests_not_run++;
        printf("--    %-40s not run against a server you named: %s\n", name, reason);
    }
}

/* Prints "N passed, N failed" (tests) as the very last line, after the
 * count of tests not run against a server named in MYSQL_HOST. */
static inline int test_summary(void) {
    struct tl_state *s = tl_state();
    fflush(stderr);
    printf("(%ld checks)\n", s->total_checks);
    if (s->tests_not_run > 0)
        printf("%d not run against a server you named\n", s->tests_not_run);
    printf("%d passed, %d failed\n", s->tests_passed, s->tests_failed);
    fflush(stdout);
    return s->tests_failed == 0 && s->tests_passed > 0 ? 0 : 1;
}

/* ------------------------------------------------------------------------
 * Server helpers
 */

/* Exits with a failure when the MYSQL_* environment is missing: a test run
 * without a server must be red, not silently skipped. */
static inline void tl_require_server(void) {
    const char *host = getenv("MYSQL_HOST");
    if (host == NULL || host[0] == '\0') {
        fprintf(stderr, "FATAL: MYSQL_HOST is not set. Run the tests under "
                        "scripts/server/with-mariadb.sh (it starts a throwaway MariaDB).\n");
        printf("0 passed, 1 failed\n");
        exit(1);
    }
}

static inline int tl_set(pool_config_t *config, const char *key, const char *value) {
    int rc = pool_config_set(config, key, value);
    if (rc != POOL_OK)
        fprintf(stderr, "tl_config: pool_config_set(%s) failed: %s\n", key, pool_last_error());
    return rc;
}

/* A config for the test server from the MYSQL_* variables alone. */
static inline pool_config_t *tl_config_env(void) {
    static const char *const env_keys[][2] = {{"MYSQL_HOST", "host"}, {"MYSQL_TCP_PORT", "port"},
                                              {"MYSQL_USER", "user"}, {"MYSQL_PWD", "password"},
                                              {"MYSQL_DATABASE", "database"}};
    pool_config_t *config;
    size_t i;
    tl_require_server();
    config = pool_config_new();
    if (config == NULL)
        return NULL;
    for (i = 0; i < sizeof env_keys / sizeof env_keys[0]; i++) {
        const char *value = getenv(env_keys[i][0]);
        if (value != NULL && tl_set(config, env_keys[i][1], value) != POOL_OK) {
            pool_config_free(config);
            return NULL;
        }
    }
    return config;
}

/* Sets key, value, key, value, ... until a NULL key. */
static inline int tl_apply_pairs(pool_config_t *config, const char *key, va_list *pairs) {
    while (key != NULL) {
        const char *value = va_arg(*pairs, const char *);
        if (tl_set(config, key, value) != POOL_OK)
            return 0;
        key = va_arg(*pairs, const char *);
    }
    return 1;
}

/* tl_config_env plus extra pairs: tl_config("maxsize", "2", "size", "1", NULL)
 * (tl_config_env() for none). NULL when a key is rejected (the message is printed). */
static inline TL_SENTINEL pool_config_t *tl_config(const char *key, ...) {
    va_list pairs;
    pool_config_t *config = tl_config_env();
    va_start(pairs, key);
    if (config != NULL && !tl_apply_pairs(config, key, &pairs)) {
        pool_config_free(config);
        config = NULL;
    }
    va_end(pairs);
    return config;
}

/* pool_create from a config, which it frees. Returns the pool_create status
 * (POOL_E_BAD_ARGUMENT for a NULL config); *out is NULL on failure. */
static inline int tl_create(pool_t **out, pool_config_t *config) {
    int rc = POOL_E_BAD_ARGUMENT;
    *out = NULL;
    if (config != NULL) {
        rc = pool_create(config, out);
        if (rc != POOL_OK)
            fprintf(stderr, "tl_create: pool_create failed: %s\n", pool_last_error());
    }
    pool_config_free(config);
    return rc;
}

/* tl_config + pool_create: tl_pool(&pool, "maxsize", "2", NULL). For no extra
 * keys use tl_create(&pool, tl_config_env()). */
static inline TL_SENTINEL int tl_pool(pool_t **out, const char *key, ...) {
    va_list pairs;
    pool_config_t *config = tl_config_env();
    va_start(pairs, key);
    if (config != NULL && !tl_apply_pairs(config, key, &pairs)) {
        pool_config_free(config);
        config = NULL;
    }
    va_end(pairs);
    return tl_create(out, config);
}

/* ------------------------------------------------------------------------
 * Small query helpers
 */

/* Runs a statement that returns no rows (or whose rows are thrown away). */
static inline int tl_exec(pool_conn_t *conn, const char *sql) {
    pool_result_t *result = NULL;
    int rc = pool_query(conn, sql, strlen(sql));
    if (rc == POOL_OK)
        rc = pool_store_result(conn, &result);
    pool_result_free(result);
    if (rc != POOL_OK)
        fprintf(stderr, "tl_exec(\"%s\"): %s\n", sql, pool_last_error());
    return rc;
}

/* First column of the first row as text into buf ("NULL" for SQL NULL).
 * Returns POOL_OK, the failing status, or POOL_DONE when there was no row. */
static inline int tl_query_value(pool_conn_t *conn, const char *sql, char *buf, size_t buf_size) {
    pool_result_t *result = NULL;
    const char *const *values;
    const size_t *lengths;
    int rc = pool_query(conn, sql, strlen(sql));
    buf[0] = '\0';
    if (rc == POOL_OK)
        rc = pool_store_result(conn, &result);
    if (rc == POOL_OK && result == NULL)
        rc = POOL_DONE;
    if (rc == POOL_OK) {
        rc = pool_result_fetch(result, &values, &lengths);
        if (rc == POOL_ROW) {
            if (values[0] == NULL)
                snprintf(buf, buf_size, "NULL");
            else
                snprintf(buf, buf_size, "%.*s", (int)lengths[0], values[0]);
            rc = POOL_OK;
        }
    }
    pool_result_free(result);
    if (rc != POOL_OK)
        fprintf(stderr, "tl_query_value(\"%s\"): %d %s\n", sql, rc, pool_last_error());
    return rc;
}

/* First column of the first row as an integer; -1 on any failure. */
static inline long long tl_query_int(pool_conn_t *conn, const char *sql) {
    char buf[64];
    if (tl_query_value(conn, sql, buf, sizeof buf) != POOL_OK)
        return -1;
    return strtoll(buf, NULL, 10);
}

/* Whether a server error number means the connection's link is gone. */
static inline int tl_link_lost_errno(unsigned err) {
    return err == 2006 || err == 2013 || err == 1927 || err == 4031 || err == 2055;
}

static inline pool_stats_t tl_stats(pool_t *pool) {
    pool_stats_t stats;
    memset(&stats, 0, sizeof stats);
    if (pool_stats(pool, &stats, sizeof stats) != POOL_OK)
        fprintf(stderr, "tl_stats: %s\n", pool_last_error());
    return stats;
}

static inline pool_conn_info_t tl_info(pool_conn_t *conn) {
    pool_conn_info_t info;
    memset(&info, 0, sizeof info);
    if (pool_conn_info(conn, &info, sizeof info) != POOL_OK)
        fprintf(stderr, "tl_info: %s\n", pool_last_error());
    return info;
}

/* ------------------------------------------------------------------------
 * Parameters (test_params.c, test_stmt.c)
 */

static inline pool_param_t tl_param(int type) {
    pool_param_t p;
    memset(&p, 0, sizeof p);
    p.type = type;
    return p;
}

static inline pool_param_t tl_text(const char *data, size_t length) {
    pool_param_t p = tl_param(POOL_PARAM_TEXT);
    p.value.bytes.data = data;
    p.value.bytes.length = length;
    return p;
}

/* One parameter of every type and its extremes, for TL_EVERY_TYPE_SQL:
 * the server reads them back as TL_EVERY_TYPE_TEXT (NULL: SQL NULL). */
#define TL_EVERY_TYPE_COUNT 12
#define TL_EVERY_TYPE_SQL                                                                            \
    "SELECT ?, ?, ?, ?, ?, HEX(?), CAST(? AS DATE), CAST(? AS TIME(6)), CAST(? AS DATETIME(6)), "   \
    "CAST(? AS DECIMAL(10,2)), CAST(? AS DECIMAL(10,3)), ?"
static const char *const TL_EVERY_TYPE_TEXT[TL_EVERY_TYPE_COUNT] = {
    NULL, "-9223372036854775808", "18446744073709551615", "0.1", "it's \"quoted\" \\ back",
    "DEADBEEF", "2026-02-28", "-838:59:59.000001", "2026-12-03 07:53:30.123456", "-12.50", "0.001", "3",
};

static inline void tl_every_type(pool_param_t p[TL_EVERY_TYPE_COUNT]) {
    p[0] = tl_param(POOL_PARAM_NULL);
    p[1] = tl_param(POOL_PARAM_INT64);
    p[1].value.i64 = INT64_MIN;
    p[2] = tl_param(POOL_PARAM_UINT64);
    p[2].value.u64 = UINT64_MAX;
    p[3] = tl_param(POOL_PARAM_DOUBLE);
    p[3].value.f64 = 0.1;
    p[4] = tl_text("it's \"quoted\" \\ back", 20);
    p[5] = tl_param(POOL_PARAM_BINARY);
    p[5].value.bytes.data = "\xde\xad\xbe\xef", p[5].value.bytes.length = 4;
    p[6] = tl_param(POOL_PARAM_DATE);
    p[6].value.time.year = 2026, p[6].value.time.month = 2, p[6].value.time.day = 28;
    p[7] = tl_param(POOL_PARAM_TIME);
    p[7].value.time.negative = 1, p[7].value.time.hour = 838, p[7].value.time.minute = 59;
    p[7].value.time.second = 59, p[7].value.time.microsecond = 1;
    p[8] = tl_param(POOL_PARAM_DATETIME);
    p[8].value.time.year = 2026, p[8].value.time.month = 12, p[8].value.time.day = 3;
    p[8].value.time.hour = 7, p[8].value.time.minute = 53, p[8].value.time.second = 30;
    p[8].value.time.microsecond = 123456;
    p[9] = tl_param(POOL_PARAM_DECIMAL);
    p[9].value.bytes.data = "-12.50", p[9].value.bytes.length = 6;
    p[10] = tl_param(POOL_PARAM_DECIMAL);
    p[10].value.bytes.data = "1e-3", p[10].value.bytes.length = 4;
    p[11] = tl_param(POOL_PARAM_INT64);
    p[11].value.i64 = 3;
}

#endif /* MYSQLPOOL_TESTLIB_H */
