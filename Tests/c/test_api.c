/*
 * test_api.c: the C API of libmysqlpool, checked against include/mysqlpool.h
 * (the specification) on a real MariaDB server.
 *
 * Run under scripts/server/with-mariadb.sh (it exports MYSQL_HOST & co.). With
 * arguments, only the tests whose name contains one of them run:
 *   build/c/test_api escape killed
 */
#define _POSIX_C_SOURCE 200809L

#include "testlib.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* A pool shared by the tests that only need "some connection". Tests of pool
 * behaviour (limits, counters) make their own pool so the counters are theirs. */
static pool_t *shared;

/* ------------------------------------------------------------------------
 * Helpers
 */

static pool_conn_t *borrow(pool_t *pool) {
    pool_conn_t *conn = NULL;
    CHECK_RC(pool_get_conn(pool, 5000, &conn), POOL_OK);
    return conn;
}

static int exec(pool_conn_t *conn, const char *sql) {
    return CHECK_RC(tl_exec(conn, sql), POOL_OK);
}

static uint64_t thread_id(pool_conn_t *conn) {
    return tl_info(conn).thread_id;
}

/* Runs sql and returns its stored result (NULL on failure, with a failed check). */
static pool_result_t *store(pool_conn_t *conn, const char *sql) {
    pool_result_t *result = NULL;
    if (!CHECK_RC(pool_query(conn, sql, strlen(sql)), POOL_OK))
        return NULL;
    CHECK_RC(pool_store_result(conn, &result), POOL_OK);
    CHECK(result != NULL);
    return result;
}

/* Kills a server thread from another connection of the shared pool. */
static void kill_server_thread(uint64_t id) {
    char sql[64];
    pool_conn_t *killer = borrow(shared);
    snprintf(sql, sizeof sql, "KILL CONNECTION %llu", (unsigned long long)id);
    exec(killer, sql);
    CHECK_RC(pool_release(shared, killer), POOL_OK);
    /* KILL returns once the thread is marked; give it time to hang up. */
    tl_sleep_ms(200);
}

/* Whether the server still has a session with this id. */
static int server_has_thread(uint64_t id) {
    char sql[128];
    long long found;
    pool_conn_t *probe = borrow(shared);
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %llu",
             (unsigned long long)id);
    found = tl_query_int(probe, sql);
    pool_release(shared, probe);
    return found == 1;
}

/* A closed connection leaves the server's process list asynchronously (the
 * server handles COM_QUIT in its own thread): poll for up to 3 s. */
static int server_thread_gone(uint64_t id) {
    double deadline = tl_now_ms() + 3000;
    while (server_has_thread(id)) {
        if (tl_now_ms() > deadline)
            return 0;
        tl_sleep_ms(10);
    }
    return 1;
}

/* A thread that borrows a connection, so the main thread can release, close
 * or time out while it waits. */
struct waiter {
    pthread_t thread;
    pool_t *pool;
    int64_t timeout_ms;
    int rc;
    int last_code; /* pool_last_error_code() in the waiter's own thread */
    pool_conn_t *conn;
    uint64_t thread_id;
    double waited_ms;
};

static void *waiter_main(void *arg) {
    struct waiter *w = (struct waiter *)arg;
    double start = tl_now_ms();
    w->rc = pool_get_conn(w->pool, w->timeout_ms, &w->conn);
    w->waited_ms = tl_now_ms() - start;
    w->last_code = pool_last_error_code();
    if (w->rc == POOL_OK)
        w->thread_id = thread_id(w->conn);
    return NULL;
}

static void start_waiter(struct waiter *w, pool_t *pool, int64_t timeout_ms) {
    memset(w, 0, sizeof *w);
    w->pool = pool;
    w->timeout_ms = timeout_ms;
    w->rc = -1;
    if (pthread_create(&w->thread, NULL, waiter_main, w) != 0) {
        CHECK(!"pthread_create failed");
        w->rc = -2;
    }
}

/* Polls until `n` callers wait in the pool (or 5 s pass). */
static int wait_for_waiters(pool_t *pool, uint64_t n) {
    double deadline = tl_now_ms() + 5000;
    while (tl_now_ms() < deadline) {
        if (tl_stats(pool).waiting == n)
            return 1;
        tl_sleep_ms(2);
    }
    return CHECK(!"no caller started waiting within 5 s");
}

/* ------------------------------------------------------------------------
 * Version and status codes
 */

static void test_version(void) {
    CHECK_EQ_INT(pool_version_number(), POOL_VERSION_NUMBER);
    CHECK_STR(pool_version(), POOL_VERSION_STRING);
    CHECK_EQ_INT(POOL_VERSION_NUMBER,
                 POOL_VERSION_MAJOR * 1000000 + POOL_VERSION_MINOR * 1000 + POOL_VERSION_PATCH);
    CHECK(POOL_AT_LEAST_VERSION(0, 1, 0));
    CHECK(!POOL_AT_LEAST_VERSION(99, 0, 0));
}

static const int all_codes[] = {POOL_OK,          POOL_E_EXHAUSTED,      POOL_E_CLOSED,
                                POOL_E_BAD_ARGUMENT, POOL_E_SERVER,      POOL_E_WRONG_HANDLE,
                                POOL_E_UNKNOWN_OPTION, POOL_E_NO_MEMORY, POOL_E_MISUSE,
                                POOL_E_INTERNAL,  POOL_ROW,              POOL_DONE,
                                POOL_WAIT};
#define N_CODES (sizeof all_codes / sizeof all_codes[0])

/* The Python object calls, from C: refused before pool_python_init (NULL,
 * the one case with no None to return), and pool_python_init refuses NULL,
 * a wrong struct_size and NULL members. (The objects themselves are built
 * and checked from Python: bindings/python/tests/test_python_objects.py.) */
static void test_python_objects_arguments(void) {
    pool_python_api_t api;
    memset(&api, 0, sizeof api);
    CHECK(pool_query_objects(NULL, "SELECT 1", 8, 0) == NULL);
    CHECK_EQ_INT(pool_last_error_code(), POOL_E_MISUSE);
    CHECK_CONTAINS(pool_last_error(), "pool_python_init");
    CHECK(pool_query_objects_more(NULL, 0) == NULL);
    CHECK_EQ_INT(pool_last_error_code(), POOL_E_MISUSE);
    CHECK(pool_result_outcome_objects(NULL, 0) == NULL);
    CHECK_EQ_INT(pool_last_error_code(), POOL_E_MISUSE);
    CHECK(pool_stmt_query_objects(NULL, "SELECT ?", 8, 0, NULL, 0) == NULL);
    CHECK_EQ_INT(pool_last_error_code(), POOL_E_MISUSE);
    CHECK_CONTAINS(pool_last_error(), "pool_python_init");
    CHECK_RC(pool_python_init(NULL), POOL_E_BAD_ARGUMENT);
    api.struct_size = sizeof api - 8;
    CHECK_RC(pool_python_init(&api), POOL_E_BAD_ARGUMENT);
    CHECK_CONTAINS(pool_last_error(), "struct_size");
    api.struct_size = sizeof api;
    CHECK_RC(pool_python_init(&api), POOL_E_BAD_ARGUMENT); /* every member NULL */
    CHECK_CONTAINS(pool_last_error(), "NULL");
}

static void test_strerror(void) {
    static const int unknown[] = {-1, 10, 99, 103, 1000, INT_MIN, INT_MAX};
    size_t i, j;
    for (i = 0; i < N_CODES; i++) {
        const char *text = pool_strerror(all_codes[i]);
        if (!CHECK(text != NULL && text[0] != '\0'))
            continue;
        CHECK(strcmp(text, "unknown status code") != 0);
        for (j = 0; j < i; j++)
            tl_check(strcmp(text, pool_strerror(all_codes[j])) != 0, __FILE__, __LINE__,
                     "pool_strerror values are distinct", "codes %d and %d both give \"%s\"",
                     all_codes[i], all_codes[j], text);
    }
    for (i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        CHECK_STR(pool_strerror(unknown[i]), "unknown status code");
}

/* The last error of a failure that did not come from the server: errno 0
 * and, as the header says, SQLSTATE "00000" ("when none"). And it is
 * thread-local: another thread's failure does not touch ours. */
static void *fail_in_thread(void *arg) {
    (void)arg;
    pool_config_set(NULL, "host", "x"); /* POOL_E_WRONG_HANDLE in this thread */
    return NULL;
}

static void test_last_error_local_failure(void) {
    pool_config_t *config = pool_config_new();
    pthread_t thread;
    CHECK_RC(pool_config_set(config, "no_such_key", "1"), POOL_E_UNKNOWN_OPTION);
    CHECK_EQ_INT(pool_last_error_code(), POOL_E_UNKNOWN_OPTION);
    CHECK_EQ_INT(pool_last_errno(), 0);
    CHECK_STR(pool_last_sqlstate(), "HY000"); /* not the server's failure */
    CHECK_CONTAINS(pool_last_error(), "no_such_key");

    pthread_create(&thread, NULL, fail_in_thread, NULL);
    pthread_join(thread, NULL);
    CHECK_EQ_INT(pool_last_error_code(), POOL_E_UNKNOWN_OPTION);
    CHECK_CONTAINS(pool_last_error(), "no_such_key");

    /* Success does not clear it ("cleared to POOL_OK by nothing"). */
    CHECK_RC(pool_config_set(config, "host", "127.0.0.1"), POOL_OK);
    CHECK_EQ_INT(pool_last_error_code(), POOL_E_UNKNOWN_OPTION);
    pool_config_free(config);
}

/* ------------------------------------------------------------------------
 * Configuration
 */

/* pool_config_set(key, value) must fail with `rc` and name the key and the
 * value in its message. */
static void expect_config_error(const char *key, const char *value, int rc) {
    pool_config_t *config = pool_config_new();
    if (!CHECK_RC(pool_config_set(config, key, value), rc))
        fprintf(stderr, "    (key \"%s\", value \"%s\")\n", key, value);
    CHECK_EQ_INT(pool_last_error_code(), rc);
    CHECK_EQ_INT(pool_last_errno(), 0);
    CHECK_CONTAINS(pool_last_error(), key);
    if (rc == POOL_E_BAD_ARGUMENT)
        CHECK_CONTAINS(pool_last_error(), value);
    pool_config_free(config);
}

static void test_config_unknown_key(void) {
    expect_config_error("hots", "localhost", POOL_E_UNKNOWN_OPTION);
    expect_config_error("Host", "localhost", POOL_E_UNKNOWN_OPTION); /* case-sensitive */
    expect_config_error("", "x", POOL_E_UNKNOWN_OPTION);
}

static void test_config_bad_values(void) {
    static const char *const bad[][2] = {
        {"port", "abc"},         {"port", "0"},          {"port", "70000"},
        {"port", "-1"},          {"size", "-1"},         {"maxsize", "0"},
        {"autocommit", "maybe"}, {"sql_mode", "a'b"},    {"connect_timeout", "0"},
        {"connect_timeout", "3601"}, {"get_timeout", "-5"}, {"ssl", "2"},
        {"charset", "utf8'; DROP"},
    };
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_config_error(bad[i][0], bad[i][1], POOL_E_BAD_ARGUMENT);
}

static void test_config_good_values(void) {
    static const char *const good[][2] = {
        {"autocommit", "0"},     {"autocommit", "1"},    {"autocommit", "true"},
        {"autocommit", "false"}, {"autocommit", "on"},   {"autocommit", "off"},
        {"autocommit", "yes"},   {"autocommit", "no"},   {"port", "1"},
        {"port", "65535"},       {"connect_timeout", "1"}, {"connect_timeout", "3600"},
        {"sql_mode", "STRICT_ALL_TABLES,NO_ZERO_DATE"}, {"sql_mode", ""},
        {"size", "0"},           {"maxsize", "100000"},  {"con_lifetime", "0"},
        {"get_timeout", "0"},    {"name", "any text / with spaces"},
        {"init_command", "SET @x = 'quoted'"},
    };
    pool_config_t *config = pool_config_new();
    pool_t *pool = NULL;
    size_t i;
    CHECK(config != NULL);
    for (i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!CHECK_RC(pool_config_set(config, good[i][0], good[i][1]), POOL_OK))
            fprintf(stderr, "    (key \"%s\", value \"%s\")\n", good[i][0], good[i][1]);
    pool_config_free(config);

    /* Setting a key twice keeps the last value. */
    config = tl_config("name", "first", NULL);
    CHECK_RC(pool_config_set(config, "name", "second"), POOL_OK);
    if (CHECK_RC(pool_create(config, &pool), POOL_OK))
        CHECK_STR(pool_name(pool), "second");
    pool_destroy(pool);
    pool_config_free(config);
}

static void test_config_password_never_echoed(void) {
    static char huge[5001];
    const char *wrong = "Wr0ng-S3cret-pw";
    pool_config_t *config = pool_config_new();
    pool_t *pool = NULL;
    pool_conn_t *conn = (pool_conn_t *)0x1;
    size_t i;

    /* Too long: rejected, the message names the key but not the value. */
    for (i = 0; i < sizeof huge - 1; i++)
        huge[i] = "SECRETpw"[i % 8];
    huge[sizeof huge - 1] = '\0';
    CHECK_RC(pool_config_set(config, "password", huge), POOL_E_BAD_ARGUMENT);
    CHECK_CONTAINS(pool_last_error(), "password");
    CHECK_NOT_CONTAINS(pool_last_error(), "SECRETpw");
    CHECK_NOT_CONTAINS(pool_last_error(), "CRETpwSE");
    pool_config_free(config);

    /* Wrong password: the server refuses (1045), nobody repeats the password. */
    config = tl_config("password", wrong, "pre_create_num", "0", NULL);
    if (CHECK_RC(pool_create(config, &pool), POOL_OK)) {
        CHECK_RC(pool_get_conn(pool, 5000, &conn), POOL_E_SERVER);
        CHECK(conn == NULL);
        CHECK_LAST_ERROR(POOL_E_SERVER, 1045, "28000");
        CHECK_NOT_CONTAINS(pool_last_error(), wrong);
        CHECK_EQ_U64(tl_stats(pool).connect_failures, 1);
        CHECK_EQ_U64(tl_stats(pool).total, 0);
    }
    pool_destroy(pool);
    pool_config_free(config);
}

static void test_config_null_arguments(void) {
    pool_config_t *config = pool_config_new();
    CHECK_RC(pool_config_set(config, NULL, "x"), POOL_E_BAD_ARGUMENT);
    CHECK_RC(pool_config_set(config, "host", NULL), POOL_E_BAD_ARGUMENT);
    CHECK_CONTAINS(pool_last_error(), "host");
    CHECK_RC(pool_config_set(config, NULL, NULL), POOL_E_BAD_ARGUMENT);
    CHECK_RC(pool_config_set(NULL, "host", "x"), POOL_E_WRONG_HANDLE);
    CHECK_RC(pool_config_set((pool_config_t *)0x1234, "host", "x"), POOL_E_WRONG_HANDLE);
    pool_config_free(config);
}

/* host is at most 255 bytes (a DNS name); the message names key and value
 * (the value may be shortened). */
static void test_config_oversize_host(void) {
    char host[301];
    pool_config_t *config = pool_config_new();
    memset(host, 'h', 300);
    host[300] = '\0';
    CHECK_RC(pool_config_set(config, "host", host), POOL_E_BAD_ARGUMENT);
    CHECK_CONTAINS(pool_last_error(), "host");
    CHECK_CONTAINS(pool_last_error(), "hhhhhhhhhhhhhhhh");
    pool_config_free(config);
}

static void test_config_free(void) {
    pool_config_t *config = pool_config_new();
    pool_t *pool = (pool_t *)0x1;
    pool_config_free(NULL);
    pool_config_free(config);
    pool_config_free(config); /* double free: a no-op */
    CHECK_RC(pool_config_set(config, "host", "x"), POOL_E_WRONG_HANDLE);
    CHECK_RC(pool_create(config, &pool), POOL_E_WRONG_HANDLE);
    CHECK(pool == NULL);
    CHECK_RC(pool_create(NULL, &pool), POOL_E_WRONG_HANDLE);
}

/* ------------------------------------------------------------------------
 * pool_create
 */

/* pool_create must refuse the config with POOL_E_BAD_ARGUMENT naming the
 * given fragments. A key whose value alone is out of range may already be
 * refused by pool_config_set; that is fine too. */
static void expect_create_refused(const char *const *pairs, const char *fragment1,
                                  const char *fragment2) {
    pool_config_t *config = tl_config_env();
    pool_t *pool = (pool_t *)0x1; /* pool_create must reset it to NULL */
    int rc = POOL_OK, created = 0;
    for (; pairs[0] != NULL && rc == POOL_OK; pairs += 2)
        rc = pool_config_set(config, pairs[0], pairs[1]);
    if (rc == POOL_OK) {
        rc = pool_create(config, &pool);
        created = 1;
    }
    CHECK_EQ_INT(rc, POOL_E_BAD_ARGUMENT);
    CHECK_EQ_INT(pool_last_error_code(), POOL_E_BAD_ARGUMENT);
    CHECK_CONTAINS(pool_last_error(), fragment1);
    CHECK_CONTAINS(pool_last_error(), fragment2);
    if (created && rc == POOL_OK)
        pool_destroy(pool);
    else if (created)
        CHECK(pool == NULL);
    pool_config_free(config);
}

static void test_create_bad_limits(void) {
    static const char *const size_over[] = {"maxsize", "3", "size", "7", NULL};
    static const char *const maxsize_zero[] = {"size", "0", "maxsize", "0", NULL};
    static const char *const pre_over[] = {"maxsize", "2", "size", "1", "pre_create_num", "5", NULL};
    expect_create_refused(size_over, "size", "7");
    expect_create_refused(size_over, "3", "maxsize");
    expect_create_refused(maxsize_zero, "maxsize", "0");
    expect_create_refused(pre_over, "pre_create_num", "5");
}

static void test_create_null_out(void) {
    pool_config_t *config = tl_config_env();
    CHECK_RC(pool_create(config, NULL), POOL_E_BAD_ARGUMENT);
    CHECK_CONTAINS(pool_last_error(), "NULL");
    pool_config_free(config);
}

static void test_create_unreachable(void) {
    pool_config_t *config =
        tl_config("host", "127.0.0.1", "port", "1", "connect_timeout", "2", "pre_create_num", "1",
                  "size", "1", NULL);
    pool_t *pool = (pool_t *)0x1;
    double start = tl_now_ms();
    CHECK_RC(pool_create(config, &pool), POOL_E_SERVER);
    CHECK(pool == NULL);
    CHECK(pool_last_errno() == 2002 || pool_last_errno() == 2003);
    CHECK(pool_last_error()[0] != '\0');
    CHECK(strlen(pool_last_sqlstate()) == 5);
    CHECK(tl_now_ms() - start < 5000);
    pool_config_free(config);
}

static void test_create_wrong_password(void) {
    pool_config_t *config = tl_config("password", "not-the-password", "pre_create_num", "1", NULL);
    pool_t *pool = (pool_t *)0x1;
    CHECK_RC(pool_create(config, &pool), POOL_E_SERVER);
    CHECK(pool == NULL);
    CHECK_LAST_ERROR(POOL_E_SERVER, 1045, "28000");
    CHECK_CONTAINS(pool_last_error(), "Access denied");
    CHECK_NOT_CONTAINS(pool_last_error(), "not-the-password");
    pool_config_free(config);
}

static void test_pool_name(void) {
    pool_t *pool = NULL;
    char expected[512];
    snprintf(expected, sizeof expected, "%s-%s-%s-%s", getenv("MYSQL_HOST"),
             getenv("MYSQL_TCP_PORT") ? getenv("MYSQL_TCP_PORT") : "3306", getenv("MYSQL_USER"),
             getenv("MYSQL_DATABASE"));
    if (CHECK_RC(tl_create(&pool, tl_config_env()), POOL_OK))
        CHECK_STR(pool_name(pool), expected);
    pool_destroy(pool);
    if (CHECK_RC(tl_pool(&pool, "name", "orders \xe2\x9c\x93", NULL), POOL_OK))
        CHECK_STR(pool_name(pool), "orders \xe2\x9c\x93");
    pool_destroy(pool);
    CHECK(pool_name(NULL) == NULL);
    CHECK_EQ_INT(pool_last_error_code(), POOL_E_WRONG_HANDLE);
}

/* ------------------------------------------------------------------------
 * Queries and results
 */

static void test_select_simple(void) {
    pool_conn_t *conn = borrow(shared);
    pool_result_t *result;
    const char *const *values = NULL;
    const size_t *lengths = NULL;
    pool_conn_info_t info;
    if (!conn)
        return;
    CHECK_RC(pool_query(conn, "SELECT 1+1", 10), POOL_OK);
    info = tl_info(conn);
    CHECK_EQ_INT(info.field_count, 1);
    result = NULL;
    CHECK_RC(pool_store_result(conn, &result), POOL_OK);
    CHECK_EQ_INT(pool_result_field_count(result), 1);
    CHECK_EQ_U64(pool_result_row_count(result), 1);
    if (CHECK_RC(pool_result_fetch(result, &values, &lengths), POOL_ROW))
        CHECK_MEM(values[0], lengths[0], "2", 1);
    CHECK_RC(pool_result_fetch(result, &values, &lengths), POOL_DONE);
    CHECK_RC(pool_result_fetch(result, &values, &lengths), POOL_DONE);
    CHECK_RC(pool_result_fetch(result, NULL, &lengths), POOL_E_BAD_ARGUMENT);
    CHECK_RC(pool_result_fetch(result, &values, NULL), POOL_E_BAD_ARGUMENT);
    pool_result_free(result);

    /* sql is a (pointer, length) pair: not NUL-terminated, may hold NULs. */
    result = store(conn, "SELECT 42 AS answer -- and garbage after the length");
    pool_result_free(result);
    {
        static const char sql[] = "SELECT 'a\0b', 7XXXXXXX";
        result = NULL;
        CHECK_RC(pool_query(conn, sql, sizeof sql - 1 - 7), POOL_OK);
        CHECK_RC(pool_store_result(conn, &result), POOL_OK);
        if (CHECK_RC(pool_result_fetch(result, &values, &lengths), POOL_ROW)) {
            CHECK_MEM(values[0], lengths[0], "a\0b", 3);
            CHECK_MEM(values[1], lengths[1], "7", 1);
        }
        pool_result_free(result);
    }
    CHECK_RC(pool_query(conn, NULL, 5), POOL_E_BAD_ARGUMENT);
    CHECK_RC(pool_release(shared, conn), POOL_OK);
}

/* One column of the all-types table: its expected text and metadata. */
struct column_case {
    const char *name;
    const char *text; /* NULL: SQL NULL */
    size_t text_len;
    unsigned type;
    unsigned flags_set;   /* these bits must be set */
    unsigned flags_clear; /* these bits must be clear */
    int binary;           /* 1: charsetnr 63, 0: a text collation (not 63) */
    unsigned decimals;    /* checked when != 99 */
};

#define S(lit) lit, sizeof(lit) - 1
enum {
    NOT_NULL = 1, PRI_KEY = 2, BLOB_FLAG = 16, UNSIGNED = 32, BINARY_FLAG = 128,
    ENUM_FLAG = 256, AUTO_INC = 512, SET_FLAG = 2048, NUM_FLAG = 32768
};

static const struct column_case columns[] = {
    {"id", S("1"), 3, NOT_NULL | PRI_KEY | AUTO_INC | NUM_FLAG, 0, 1, 0},
    {"c_tiny", S("-128"), 1, NUM_FLAG, UNSIGNED | NOT_NULL, 1, 0},
    {"c_small", S("-32768"), 2, NUM_FLAG, UNSIGNED, 1, 0},
    {"c_int", S("-2147483648"), 3, NUM_FLAG, UNSIGNED, 1, 0},
    {"c_big", S("-9223372036854775808"), 8, NUM_FLAG, UNSIGNED, 1, 0},
    {"c_ubig", S("18446744073709551615"), 8, UNSIGNED | NUM_FLAG, 0, 1, 0},
    {"c_dec", S("1234.50"), 246, NUM_FLAG, UNSIGNED, 1, 2},
    {"c_float", S("1.5"), 4, NUM_FLAG, 0, 1, 99},
    {"c_double", S("2.25"), 5, NUM_FLAG, 0, 1, 99},
    {"c_date", S("2024-01-02"), 10, 0, 0, 1, 0},
    {"c_dt", S("2024-01-02 03:04:05.123456"), 12, 0, 0, 1, 6},
    {"c_ts", S("2024-01-02 03:04:05"), 7, 0, 0, 1, 0},
    {"c_time", S("-12:34:56"), 11, 0, 0, 1, 0},
    {"c_year", S("2024"), 13, UNSIGNED, 0, 1, 0},
    {"c_char", S("ab"), 254, 0, BINARY_FLAG, 0, 0},
    {"c_varchar", S("h\xc3\xa9llo \xf0\x9f\x98\x80"), 253, 0, BINARY_FLAG, 0, 0},
    {"c_text", S("some text"), 252, BLOB_FLAG, BINARY_FLAG, 0, 0},
    {"c_blob", S("\0A\0B\xff\0"), 252, BLOB_FLAG | BINARY_FLAG, 0, 1, 0},
    {"c_varbin", S("\0\1\0"), 253, BINARY_FLAG, 0, 1, 0},
    {"c_enum", S("green"), 254, ENUM_FLAG, 0, 0, 0},
    {"c_set", S("a,c"), 254, SET_FLAG, 0, 0, 0},
    {"c_bit", S("\xa5"), 16, UNSIGNED, 0, 1, 0},
    {"c_json", S("{\"k\": [1, 2]}"), 252, BLOB_FLAG, 0, 0, 99},
    {"c_null", NULL, 0, 3, NUM_FLAG, NOT_NULL, 1, 0},
};
#define N_COLUMNS (sizeof columns / sizeof columns[0])

static const char types_ddl[] =
    "CREATE TABLE types ("
    " id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " c_tiny TINYINT, c_small SMALLINT, c_int INT, c_big BIGINT, c_ubig BIGINT UNSIGNED,"
    " c_dec DECIMAL(12,2), c_float FLOAT, c_double DOUBLE, c_date DATE, c_dt DATETIME(6),"
    " c_ts TIMESTAMP NULL DEFAULT NULL, c_time TIME, c_year YEAR, c_char CHAR(4),"
    " c_varchar VARCHAR(32) CHARACTER SET utf8mb4, c_text TEXT, c_blob BLOB,"
    " c_varbin VARBINARY(16), c_enum ENUM('red','green'), c_set SET('a','b','c'),"
    " c_bit BIT(8), c_json JSON, c_null INT"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";

static const char types_row1[] =
    "INSERT INTO types VALUES (1, -128, -32768, -2147483648, -9223372036854775808,"
    " 18446744073709551615, 1234.5, 1.5, 2.25, '2024-01-02', '2024-01-02 03:04:05.123456',"
    " '2024-01-02 03:04:05', '-12:34:56', 2024, 'ab', 'h\xc3\xa9llo \xf0\x9f\x98\x80',"
    " 'some text', X'00410042FF00', X'000100', 'green', 'a,c', b'10100101',"
    " '{\"k\": [1, 2]}', NULL)";

static const char types_row2[] =
    "INSERT INTO types (id) VALUES (2)"; /* every other column NULL */

static void create_types_table(pool_conn_t *conn) {
    exec(conn, "DROP TABLE IF EXISTS types");
    exec(conn, types_ddl);
    exec(conn, types_row1);
    exec(conn, types_row2);
}

static void check_row1(const char *const *values, const size_t *lengths) {
    size_t i;
    for (i = 0; i < N_COLUMNS; i++) {
        if (columns[i].text == NULL) {
            tl_check(values[i] == NULL, __FILE__, __LINE__, "SQL NULL is a NULL pointer",
                     "column %s", columns[i].name);
            continue;
        }
        if (!tl_check(values[i] != NULL, __FILE__, __LINE__, "value present", "column %s",
                      columns[i].name))
            continue;
        if (!CHECK_MEM(values[i], lengths[i], columns[i].text, columns[i].text_len))
            fprintf(stderr, "    (column %s)\n", columns[i].name);
    }
}

static void test_column_types(void) {
    pool_conn_t *conn = borrow(shared);
    pool_result_t *result;
    const char *const *values;
    const size_t *lengths;
    size_t i;
    if (!conn)
        return;
    create_types_table(conn);
    result = store(conn, "SELECT * FROM types ORDER BY id");
    CHECK_EQ_INT(pool_result_field_count(result), N_COLUMNS);
    CHECK_EQ_U64(pool_result_row_count(result), 2);
    if (CHECK_RC(pool_result_fetch(result, &values, &lengths), POOL_ROW))
        check_row1(values, lengths);
    if (CHECK_RC(pool_result_fetch(result, &values, &lengths), POOL_ROW)) {
        CHECK_MEM(values[0], lengths[0], "2", 1);
        for (i = 1; i < N_COLUMNS; i++)
            tl_check(values[i] == NULL && lengths[i] == 0, __FILE__, __LINE__,
                     "row 2 is NULL apart from id", "column %s", columns[i].name);
    }
    CHECK_RC(pool_result_fetch(result, &values, &lengths), POOL_DONE);

    /* Seek back to row 0 and read it again; seeking to the end is allowed,
     * past it is not. */
    CHECK_RC(pool_result_seek(result, 0), POOL_OK);
    if (CHECK_RC(pool_result_fetch(result, &values, &lengths), POOL_ROW))
        check_row1(values, lengths);
    CHECK_RC(pool_result_seek(result, 2), POOL_OK);
    CHECK_RC(pool_result_fetch(result, &values, &lengths), POOL_DONE);
    CHECK_RC(pool_result_seek(result, 3), POOL_E_BAD_ARGUMENT);
    CHECK_RC(pool_result_seek(result, UINT64_MAX), POOL_E_BAD_ARGUMENT);
    pool_result_free(result);
    CHECK_RC(pool_release(shared, conn), POOL_OK);
}

static int field_is(const char *text, uint64_t len, const char *expected) {
    return text != NULL && len == strlen(expected) && memcmp(text, expected, len) == 0;
}

static void check_field_case(pool_result_t *result, uint32_t index, const struct column_case *c) {
    pool_field_t f;
    memset(&f, 0, sizeof f);
    if (!CHECK_RC(pool_result_field(result, index, &f, sizeof f), POOL_OK))
        return;
    CHECK_EQ_U64(f.struct_size, sizeof f);
    tl_check(field_is(f.name, f.name_length, c->name), __FILE__, __LINE__, "field name",
             "column %u: got \"%.*s\", want \"%s\"", index, (int)f.name_length,
             f.name ? f.name : "", c->name);
    tl_check(f.type == c->type, __FILE__, __LINE__, "field type", "column %s: type %u, want %u",
             c->name, f.type, c->type);
    tl_check((f.flags & c->flags_set) == c->flags_set && (f.flags & c->flags_clear) == 0,
             __FILE__, __LINE__, "field flags", "column %s: flags 0x%x, want set 0x%x clear 0x%x",
             c->name, f.flags, c->flags_set, c->flags_clear);
    tl_check(c->binary ? f.charsetnr == 63 : (f.charsetnr != 63 && f.charsetnr != 0), __FILE__,
             __LINE__, "field charsetnr", "column %s: charsetnr %u, want %s", c->name,
             f.charsetnr, c->binary ? "63 (binary)" : "a text collation");
    if (c->decimals != 99)
        tl_check(f.decimals == c->decimals, __FILE__, __LINE__, "field decimals",
                 "column %s: decimals %u, want %u", c->name, f.decimals, c->decimals);
}

static void test_field_metadata(void) {
    pool_conn_t *conn = borrow(shared);
    pool_result_t *result;
    pool_field_t f;
    uint32_t i;
    if (!conn)
        return;
    create_types_table(conn);
    result = store(conn, "SELECT * FROM types ORDER BY id");
    for (i = 0; i < N_COLUMNS; i++)
        check_field_case(result, i, &columns[i]);

    /* Table and database names, widths. */
    if (CHECK_RC(pool_result_field(result, 3, &f, sizeof f), POOL_OK)) {
        CHECK(field_is(f.org_name, f.org_name_length, "c_int"));
        CHECK(field_is(f.table, f.table_length, "types"));
        CHECK(field_is(f.org_table, f.org_table_length, "types"));
        CHECK(field_is(f.db, f.db_length, getenv("MYSQL_DATABASE")));
        CHECK_EQ_U64(f.length, 11);
        CHECK_EQ_U64(f.max_length, 11); /* "-2147483648" in a stored result */
    }
    if (CHECK_RC(pool_result_field(result, 6, &f, sizeof f), POOL_OK))
        CHECK_EQ_U64(f.length, 14); /* DECIMAL(12,2): 12 digits, point, sign */

    /* Out of range, NULL out, short out_size: bad arguments. */
    CHECK_RC(pool_result_field(result, N_COLUMNS, &f, sizeof f), POOL_E_BAD_ARGUMENT);
    CHECK_CONTAINS(pool_last_error(), "24");
    CHECK_RC(pool_result_field(result, UINT32_MAX, &f, sizeof f), POOL_E_BAD_ARGUMENT);
    CHECK_RC(pool_result_field(result, 0, NULL, sizeof f), POOL_E_BAD_ARGUMENT);
    CHECK_RC(pool_result_field(result, 0, &f, 15), POOL_E_BAD_ARGUMENT);
    pool_result_free(result);

    /* Aliases: name/table are the alias, org_* the real names. */
    result = store(conn, "SELECT c_int AS i, 1+1 AS two FROM types AS t LIMIT 1");
    if (CHECK_RC(pool_result_field(result, 0, &f, sizeof f), POOL_OK)) {
        CHECK(field_is(f.name, f.name_length, "i"));
        CHECK(field_is(f.org_name, f.org_name_length, "c_int"));
        CHECK(field_is(f.table, f.table_length, "t"));
        CHECK(field_is(f.org_table, f.org_table_length, "types"));
    }
    if (CHECK_RC(pool_result_field(result, 1, &f, sizeof f), POOL_OK)) {
        CHECK(field_is(f.name, f.name_length, "two"));
        CHECK_EQ_U64(f.org_table_length, 0);
        CHECK_EQ_U64(f.table_length, 0);
    }
    pool_result_free(result);
    CHECK_RC(pool_release(shared, conn), POOL_OK);
}

/* A partial pool_field_t: only the prefix the caller asked for is written. */
static void test_field_partial_size(void) {
    pool_conn_t *conn = borrow(shared);
    pool_result_t *result;
    unsigned char buf[sizeof(pool_field_t) + 32];
    uint64_t struct_size;
    size_t i, untouched = 0;
    if (!conn)
        return;
    result = store(conn, "SELECT 1 AS one");
    memset(buf, 0xAB, sizeof buf);
    CHECK_RC(pool_result_field(result, 0, (pool_field_t *)(void *)buf, 16), POOL_OK);
    memcpy(&struct_size, buf, sizeof struct_size);
    CHECK_EQ_U64(struct_size, 16);
    for (i = 16; i < sizeof buf; i++)
        untouched += buf[i] == 0xAB;
    CHECK_EQ_U64(untouched, sizeof buf - 16);
    pool_result_free(result);
    pool_release(shared, conn);
}

/* ------------------------------------------------------------------------
 * Streaming
 */

static void test_use_result_streaming(void) {
    static const char sql[] = "SELECT seq FROM seq_1_to_10000";
    pool_conn_t *conn = borrow(shared);
    pool_result_t *result = NULL;
    const char *const *values;
    const size_t *lengths;
    pool_field_t f;
    long long rows = 0, sum = 0;
    int rc;
    if (!conn)
        return;
    CHECK_RC(pool_query(conn, sql, strlen(sql)), POOL_OK);
    if (!CHECK_RC(pool_use_result(conn, &result), POOL_OK) || !CHECK(result != NULL))
        goto out;
    while ((rc = pool_result_fetch(result, &values, &lengths)) == POOL_ROW) {
        rows++;
        sum += strtoll(values[0], NULL, 10);
        if (rows == 10) {
            /* The wire belongs to the open result: no other statement now. */
            CHECK_RC(pool_query(conn, "SELECT 1", 8), POOL_E_MISUSE);
            CHECK_CONTAINS(pool_last_error(), "unbuffered");
            CHECK_RC(pool_ping(conn), POOL_E_MISUSE);
            CHECK_RC(pool_result_seek(result, 0), POOL_E_MISUSE);
            CHECK_EQ_U64(pool_result_row_count(result), 10); /* fetched so far */
            if (CHECK_RC(pool_result_field(result, 0, &f, sizeof f), POOL_OK))
                CHECK_EQ_U64(f.max_length, 0);
        }
    }
    CHECK_RC(rc, POOL_DONE);
    CHECK_EQ_INT(rows, 10000);
    CHECK_EQ_INT(sum, 50005000LL);
    CHECK_EQ_U64(pool_result_row_count(result), 10000);
    /* Fetched to the end: the connection accepts statements again. */
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 5"), 5);
    pool_result_free(result);

    /* Freed mid-stream: the rest is drained, the connection works again. */
    result = NULL;
    CHECK_RC(pool_query(conn, sql, strlen(sql)), POOL_OK);
    CHECK_RC(pool_use_result(conn, &result), POOL_OK);
    for (rows = 0; rows < 5; rows++)
        CHECK_RC(pool_result_fetch(result, &values, &lengths), POOL_ROW);
    CHECK_RC(pool_query(conn, "SELECT 1", 8), POOL_E_MISUSE);
    pool_result_free(result);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 6"), 6);

    /* Handed to pool_result_outcome_pickle, which takes stored results only:
     * refused, and freed all the same (the header promises a stale handle). */
    result = NULL;
    CHECK_RC(pool_query(conn, sql, strlen(sql)), POOL_OK);
    CHECK_RC(pool_use_result(conn, &result), POOL_OK);
    {
        const char *bytes;
        size_t length;
        CHECK_RC(pool_result_outcome_pickle(result, 0, &bytes, &length), POOL_E_MISUSE);
        CHECK_CONTAINS(pool_last_error(), "stored result");
    }
    CHECK_RC(pool_result_fetch(result, &values, &lengths), POOL_E_WRONG_HANDLE);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 8"), 8);

    /* Released with a stream still open: the pool cleans up, and the next
     * borrower of the connection finds it usable. */
    result = NULL;
    CHECK_RC(pool_query(conn, sql, strlen(sql)), POOL_OK);
    CHECK_RC(pool_use_result(conn, &result), POOL_OK);
    CHECK_RC(pool_result_fetch(result, &values, &lengths), POOL_ROW);
out:
    CHECK_RC(pool_release(shared, conn), POOL_OK);
    conn = borrow(shared);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 7"), 7);
    pool_release(shared, conn);
}

/* ------------------------------------------------------------------------
 * Multiple results
 */

static void test_multi_results(void) {
    static const char sql[] = "SELECT 1; SELECT 2, 3; UPDATE multi SET v = v + 1";
    pool_t *pool = NULL;
    pool_conn_t *conn;
    pool_result_t *result;
    const char *const *values;
    const size_t *lengths;
    if (!CHECK_RC(tl_pool(&pool, "multi_statements", "1", "size", "1", "maxsize", "1", NULL),
                  POOL_OK))
        return;
    conn = borrow(pool);
    exec(conn, "CREATE OR REPLACE TABLE multi (v INT)");
    exec(conn, "INSERT INTO multi VALUES (10)");

    CHECK_RC(pool_query(conn, sql, strlen(sql)), POOL_OK);
    CHECK(tl_info(conn).server_status & POOL_STATUS_MORE_RESULTS);
    result = NULL;
    CHECK_RC(pool_store_result(conn, &result), POOL_OK);
    if (CHECK_RC(pool_result_fetch(result, &values, &lengths), POOL_ROW))
        CHECK_MEM(values[0], lengths[0], "1", 1);
    pool_result_free(result);

    CHECK_RC(pool_next_result(conn), POOL_OK);
    result = NULL;
    CHECK_RC(pool_store_result(conn, &result), POOL_OK);
    CHECK_EQ_INT(pool_result_field_count(result), 2);
    if (CHECK_RC(pool_result_fetch(result, &values, &lengths), POOL_ROW)) {
        CHECK_MEM(values[0], lengths[0], "2", 1);
        CHECK_MEM(values[1], lengths[1], "3", 1);
    }
    pool_result_free(result);

    CHECK_RC(pool_next_result(conn), POOL_OK);
    result = (pool_result_t *)0x1;
    CHECK_RC(pool_store_result(conn, &result), POOL_OK);
    CHECK(result == NULL); /* the UPDATE has no result set */
    CHECK_EQ_U64(tl_info(conn).affected_rows, 1);
    CHECK_RC(pool_next_result(conn), POOL_DONE);
    CHECK_RC(pool_next_result(conn), POOL_DONE);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT v FROM multi"), 11);

    /* An error in a later statement shows up at pool_next_result. */
    {
        static const char bad[] = "SELECT 1; SELECT * FROM no_such_table_multi";
        CHECK_RC(pool_query(conn, bad, strlen(bad)), POOL_OK);
        result = NULL;
        CHECK_RC(pool_store_result(conn, &result), POOL_OK);
        pool_result_free(result);
        CHECK_RC(pool_next_result(conn), POOL_E_SERVER);
        CHECK_LAST_ERROR(POOL_E_SERVER, 1146, "42S02");
        CHECK_EQ_INT(tl_query_int(conn, "SELECT 8"), 8);
    }

    /* Unread result sets at release are drained; the connection is kept. */
    CHECK_RC(pool_query(conn, sql, strlen(sql)), POOL_OK);
    CHECK_RC(pool_release(pool, conn), POOL_OK);
    conn = borrow(pool);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 9"), 9);
    exec(conn, "DROP TABLE multi");
    CHECK_RC(pool_release(pool, conn), POOL_OK);
    CHECK_EQ_U64(tl_stats(pool).closed_broken, 0);
    CHECK_EQ_U64(tl_stats(pool).created, 1);
    pool_destroy(pool);
}

/* Without multi_statements the server sees one statement: a syntax error. */
static void test_multi_statements_off(void) {
    static const char sql[] = "SELECT 1; SELECT 2";
    pool_conn_t *conn = borrow(shared);
    if (!conn)
        return;
    CHECK_RC(pool_query(conn, sql, strlen(sql)), POOL_E_SERVER);
    CHECK_LAST_ERROR(POOL_E_SERVER, 1064, "42000");
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 3"), 3);
    pool_release(shared, conn);
}

/* ------------------------------------------------------------------------
 * Statements without results; pool_conn_info
 */

static void test_statement_info(void) {
    static const char insert3[] = "INSERT INTO ai (t) VALUES (1), (2), (3)";
    pool_conn_t *conn = borrow(shared);
    pool_result_t *result = (pool_result_t *)0x1;
    pool_conn_info_t info;
    if (!conn)
        return;
    exec(conn, "CREATE OR REPLACE TABLE ai (id INT AUTO_INCREMENT PRIMARY KEY, t TINYINT)");

    CHECK_RC(pool_query(conn, insert3, strlen(insert3)), POOL_OK);
    CHECK_RC(pool_store_result(conn, &result), POOL_OK);
    CHECK(result == NULL);
    info = tl_info(conn);
    CHECK_EQ_U64(info.struct_size, sizeof info);
    CHECK_EQ_U64(info.affected_rows, 3);
    CHECK_EQ_U64(info.insert_id, 1); /* the first id of a multi-row insert */
    CHECK_EQ_INT(info.warning_count, 0);
    CHECK_EQ_INT(info.field_count, 0);
    CHECK_EQ_INT(info.protocol_version, 10);
    CHECK(info.server_version > 100000);
    CHECK(info.server_status & POOL_STATUS_AUTOCOMMIT);
    CHECK(!(info.server_status & POOL_STATUS_IN_TRANS));

    exec(conn, "INSERT INTO ai (t) VALUES (4)");
    CHECK_EQ_U64(tl_info(conn).insert_id, 4);
    exec(conn, "UPDATE ai SET t = t + 1 WHERE id <= 2");
    CHECK_EQ_U64(tl_info(conn).affected_rows, 2);
    CHECK_EQ_U64(tl_info(conn).insert_id, 0);

    /* 300 does not fit a TINYINT: clamped to 127 with a warning. */
    exec(conn, "INSERT IGNORE INTO ai (t) VALUES (300)");
    CHECK_EQ_INT(tl_info(conn).warning_count, 1);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT t FROM ai WHERE id = 5"), 127);

    /* Transaction bit. */
    exec(conn, "BEGIN");
    CHECK(tl_info(conn).server_status & POOL_STATUS_IN_TRANS);
    exec(conn, "COMMIT");
    CHECK(!(tl_info(conn).server_status & POOL_STATUS_IN_TRANS));

    /* thread_id is the server's CONNECTION_ID(). */
    CHECK_EQ_U64(thread_id(conn), (uint64_t)tl_query_int(conn, "SELECT CONNECTION_ID()"));

    /* affected_rows is UINT64_MAX after an error. */
    CHECK_RC(pool_query(conn, "SELEC", 5), POOL_E_SERVER);
    CHECK_EQ_U64(tl_info(conn).affected_rows, UINT64_MAX);

    CHECK_RC(pool_conn_info(conn, NULL, sizeof info), POOL_E_BAD_ARGUMENT);
    CHECK_RC(pool_conn_info(conn, &info, 8), POOL_E_BAD_ARGUMENT);
    exec(conn, "DROP TABLE ai");
    pool_release(shared, conn);
}

/* A short out_size fills only the prefix; a long one no more than the struct. */
static void test_conn_info_sizes(void) {
    pool_conn_t *conn = borrow(shared);
    pool_conn_info_t buf[3];
    unsigned char *bytes = (unsigned char *)buf;
    uint64_t value;
    size_t i, untouched = 0;
    if (!conn)
        return;
    memset(buf, 0xAB, sizeof buf);
    CHECK_RC(pool_conn_info(conn, buf, 16), POOL_OK);
    CHECK_EQ_U64(buf[0].struct_size, 16);
    memcpy(&value, bytes + 8, 8);
    CHECK(value != 0xABABABABABABABABull); /* affected_rows was written */
    for (i = 16; i < sizeof buf; i++)
        untouched += bytes[i] == 0xAB;
    CHECK_EQ_U64(untouched, sizeof buf - 16);

    memset(buf, 0xAB, sizeof buf);
    CHECK_RC(pool_conn_info(conn, buf, sizeof buf), POOL_OK);
    CHECK_EQ_U64(buf[0].struct_size, sizeof buf[0]);
    for (i = sizeof buf[0], untouched = 0; i < sizeof buf; i++)
        untouched += bytes[i] == 0xAB;
    CHECK_EQ_U64(untouched, sizeof buf - sizeof buf[0]);
    pool_release(shared, conn);
}

/* sql_mode "" is a valid value ([A-Z0-9_,]*): the session runs with an empty
 * sql_mode, so an out-of-range value is clamped with a warning, not refused. */
static void test_sql_mode_empty(void) {
    pool_t *pool = NULL;
    pool_conn_t *conn;
    char mode[256];
    if (!CHECK_RC(tl_pool(&pool, "sql_mode", "", "size", "1", "maxsize", "1", NULL), POOL_OK))
        return;
    conn = borrow(pool);
    CHECK_RC(tl_query_value(conn, "SELECT @@SESSION.sql_mode", mode, sizeof mode), POOL_OK);
    CHECK_STR(mode, "");
    exec(conn, "CREATE OR REPLACE TABLE sqlmode (t TINYINT)");
    if (CHECK_RC(tl_exec(conn, "INSERT INTO sqlmode VALUES (300)"), POOL_OK))
        CHECK_EQ_INT(tl_info(conn).warning_count, 1);
    exec(conn, "DROP TABLE sqlmode");
    pool_release(pool, conn);
    pool_destroy(pool);

    /* A non-empty sql_mode is applied as given. */
    if (!CHECK_RC(tl_pool(&pool, "sql_mode", "ANSI_QUOTES,NO_ZERO_DATE", "size", "1", "maxsize",
                          "1", NULL),
                  POOL_OK))
        return;
    conn = borrow(pool);
    CHECK_RC(tl_query_value(conn, "SELECT @@SESSION.sql_mode", mode, sizeof mode), POOL_OK);
    CHECK_STR(mode, "ANSI_QUOTES,NO_ZERO_DATE");
    pool_release(pool, conn);
    pool_destroy(pool);
}

static void test_init_command(void) {
    pool_t *pool = NULL;
    pool_conn_t *conn;
    char value[64];
    if (!CHECK_RC(tl_pool(&pool, "init_command", "SET @pool_init = 'ran'", "size", "1", "maxsize",
                          "1", NULL),
                  POOL_OK))
        return;
    conn = borrow(pool);
    CHECK_RC(tl_query_value(conn, "SELECT @pool_init", value, sizeof value), POOL_OK);
    CHECK_STR(value, "ran");
    pool_release(pool, conn);
    pool_destroy(pool);
}

/* ------------------------------------------------------------------------
 * Connection options
 */

/* Borrows one connection from a fresh pool built from `config`: returns the
 * pool_get_conn status; *pool_out and *conn_out are for the caller to release. */
static int connect_with(pool_config_t *config, pool_t **pool_out, pool_conn_t **conn_out) {
    int rc;
    *conn_out = NULL;
    rc = tl_create(pool_out, config);
    if (rc == POOL_OK)
        rc = pool_get_conn(*pool_out, 5000, conn_out);
    return rc;
}

static void release_and_destroy(pool_t *pool, pool_conn_t *conn) {
    if (conn != NULL)
        pool_release(pool, conn);
    pool_destroy(pool);
}

static void test_charset_option(void) {
    pool_t *pool = NULL;
    pool_conn_t *conn;
    char value[64];
    if (CHECK_RC(connect_with(tl_config("charset", "latin1", NULL), &pool, &conn), POOL_OK)) {
        CHECK_STR(pool_conn_charset(conn), "latin1");
        CHECK_RC(tl_query_value(conn, "SELECT @@character_set_connection", value, sizeof value),
                 POOL_OK);
        CHECK_STR(value, "latin1");
    }
    release_and_destroy(pool, conn);
    /* An unknown charset is the client library's error 2019 at connect. */
    CHECK_RC(connect_with(tl_config("charset", "nosuchcharset", NULL), &pool, &conn),
             POOL_E_SERVER);
    CHECK_EQ_INT(pool_last_errno(), 2019);
    release_and_destroy(pool, conn);
}

/* An explicit unix_socket is used (host "localhost", as with libmariadb). */
static void test_unix_socket(void) {
    const char *socket_path = getenv("MYSQLPOOL_TEST_SOCKET");
    pool_t *pool = NULL;
    pool_conn_t *conn;
    if (!CHECK(socket_path != NULL)) /* exported by scripts/server/with-mariadb.sh with its datadir */
        return;
    if (CHECK_RC(connect_with(tl_config("host", "localhost", "unix_socket", socket_path, NULL),
                              &pool, &conn),
                 POOL_OK)) {
        CHECK_CONTAINS(pool_conn_host_info(conn), "socket");
        CHECK_EQ_INT(tl_query_int(conn, "SELECT 1"), 1);
    }
    release_and_destroy(pool, conn);
}

/* The header: host "localhost" goes over TCP, as PyMySQL does; only an
 * explicit unix_socket uses the socket. */
static void test_localhost_means_tcp(void) {
    pool_t *pool = NULL;
    pool_conn_t *conn;
    const char *port = getenv("MYSQL_TCP_PORT");
    int rc = connect_with(tl_config("host", "localhost", "port", port ? port : "3306", NULL), &pool, &conn);
    if (CHECK_RC(rc, POOL_OK))
        CHECK_CONTAINS(pool_conn_host_info(conn), "TCP/IP");
    release_and_destroy(pool, conn);
}

/* ssl=1: "refuse to connect without TLS". Whatever the test server offers,
 * a session that comes up must be encrypted. */
static void test_ssl_required(void) {
    pool_t *pool = NULL;
    pool_conn_t *conn;
    char cipher[128];
    int rc = connect_with(tl_config("ssl", "1", NULL), &pool, &conn);
    if (rc == POOL_OK) {
        CHECK_RC(tl_query_value(conn, "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS"
                                      " WHERE VARIABLE_NAME = 'SSL_CIPHER'",
                                cipher, sizeof cipher),
                 POOL_OK);
        tl_check(cipher[0] != '\0', __FILE__, __LINE__, "ssl=1 session uses TLS",
                 "connected without TLS (Ssl_cipher \"%s\", host_info \"%s\")", cipher,
                 pool_conn_host_info(conn));
    } else {
        CHECK_RC(rc, POOL_E_SERVER);
        CHECK(pool_last_errno() >= 2000); /* refused by the client library */
    }
    release_and_destroy(pool, conn);
}

/* read_timeout bounds a statement's wait for the server: 2013 after ~1 s. */
static void test_read_timeout(void) {
    pool_t *pool = NULL;
    pool_conn_t *conn;
    double start, took;
    if (CHECK_RC(connect_with(tl_config("read_timeout", "1", "size", "1", "maxsize", "1", NULL),
                              &pool, &conn),
                 POOL_OK)) {
        start = tl_now_ms();
        CHECK_RC(pool_query(conn, "SELECT SLEEP(5)", 15), POOL_E_SERVER);
        took = tl_now_ms() - start;
        CHECK(tl_link_lost_errno(pool_last_errno()));
        tl_check(took >= 900 && took < 4500, __FILE__, __LINE__, "timed out after about 1 s",
                 "took %.0f ms", took);
        CHECK_RC(pool_release(pool, conn), POOL_OK);
        CHECK_EQ_U64(tl_stats(pool).closed_broken, 1); /* the link is gone */
        conn = NULL;
    }
    release_and_destroy(pool, conn);
}

/* ------------------------------------------------------------------------
 * Server errors
 */

/* sql fails with (errno, sqlstate); the connection-level getters agree with
 * the thread's last error, and the connection still works afterwards. */
static void expect_server_error(pool_conn_t *conn, const char *sql, unsigned err,
                                const char *sqlstate) {
    if (!CHECK_RC(pool_query(conn, sql, strlen(sql)), POOL_E_SERVER))
        fprintf(stderr, "    (sql: %s)\n", sql);
    CHECK_LAST_ERROR(POOL_E_SERVER, err, sqlstate);
    CHECK_EQ_INT(pool_conn_errno(conn), err);
    CHECK_STR(pool_conn_sqlstate(conn), sqlstate);
    CHECK(pool_conn_error(conn)[0] != '\0');
    CHECK_CONTAINS(pool_last_error(), pool_conn_error(conn));
    /* Still usable; a successful statement clears the connection's error. */
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 1"), 1);
    CHECK_EQ_INT(pool_conn_errno(conn), 0);
    CHECK_STR(pool_conn_sqlstate(conn), "00000");
    CHECK_STR(pool_conn_error(conn), "");
}

static void test_server_errors(void) {
    pool_t *pool = NULL;
    pool_conn_t *conn;
    pool_stats_t stats;
    if (!CHECK_RC(tl_pool(&pool, "size", "1", "maxsize", "1", NULL), POOL_OK))
        return;
    conn = borrow(pool);
    exec(conn, "CREATE OR REPLACE TABLE dup (id INT PRIMARY KEY)");
    exec(conn, "INSERT INTO dup VALUES (1)");
    expect_server_error(conn, "SELEC 1", 1064, "42000");
    expect_server_error(conn, "INSERT INTO dup VALUES (1)", 1062, "23000");
    CHECK_CONTAINS(pool_last_error(), "Duplicate entry");
    expect_server_error(conn, "SELECT * FROM no_such_table_here", 1146, "42S02");
    CHECK_CONTAINS(pool_last_error(), "no_such_table_here");
    exec(conn, "DROP TABLE dup");
    CHECK_RC(pool_release(pool, conn), POOL_OK);
    stats = tl_stats(pool);
    CHECK_EQ_U64(stats.closed_broken, 0);
    CHECK_EQ_U64(stats.idle, 1);
    CHECK_EQ_U64(stats.total, 1);
    pool_destroy(pool);
}

/* ------------------------------------------------------------------------
 * Transactions and the reset on release
 */

static void test_transactions(void) {
    pool_t *pool = NULL;
    pool_conn_t *conn;
    if (!CHECK_RC(tl_pool(&pool, "autocommit", "0", "size", "1", "maxsize", "1", NULL), POOL_OK))
        return;
    conn = borrow(pool);
    CHECK(!(tl_info(conn).server_status & POOL_STATUS_AUTOCOMMIT));
    CHECK_EQ_INT(tl_query_int(conn, "SELECT @@autocommit"), 0);
    exec(conn, "CREATE OR REPLACE TABLE tx (id INT) ENGINE=InnoDB");

    exec(conn, "INSERT INTO tx VALUES (1)");
    CHECK(tl_info(conn).server_status & POOL_STATUS_IN_TRANS);
    CHECK_RC(pool_rollback(conn), POOL_OK);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT COUNT(*) FROM tx"), 0);

    exec(conn, "INSERT INTO tx VALUES (2)");
    CHECK_RC(pool_commit(conn), POOL_OK);
    CHECK(!(tl_info(conn).server_status & POOL_STATUS_IN_TRANS));
    CHECK_EQ_INT(tl_query_int(conn, "SELECT COUNT(*) FROM tx"), 1);

    CHECK_RC(pool_autocommit(conn, 1), POOL_OK);
    CHECK(tl_info(conn).server_status & POOL_STATUS_AUTOCOMMIT);
    CHECK_RC(pool_autocommit(conn, 0), POOL_OK);
    CHECK(!(tl_info(conn).server_status & POOL_STATUS_AUTOCOMMIT));
    CHECK_RC(pool_autocommit(conn, 7), POOL_OK); /* any non-zero is "on" */
    CHECK(tl_info(conn).server_status & POOL_STATUS_AUTOCOMMIT);

    /* Released with autocommit on: the pool puts its own setting (off) back. */
    CHECK_RC(pool_release(pool, conn), POOL_OK);
    conn = borrow(pool);
    CHECK(!(tl_info(conn).server_status & POOL_STATUS_AUTOCOMMIT));
    CHECK_EQ_INT(tl_query_int(conn, "SELECT @@autocommit"), 0);
    exec(conn, "DROP TABLE tx");
    pool_release(pool, conn);
    pool_destroy(pool);
}

static void test_release_rolls_back(void) {
    pool_t *pool = NULL;
    pool_conn_t *conn;
    uint64_t first_id;
    if (!CHECK_RC(tl_pool(&pool, "size", "1", "maxsize", "1", NULL), POOL_OK))
        return;
    conn = borrow(pool);
    exec(conn, "CREATE OR REPLACE TABLE txr (id INT) ENGINE=InnoDB");
    CHECK_RC(pool_release(pool, conn), POOL_OK);
    CHECK_EQ_U64(tl_stats(pool).resets, 0); /* clean: no round trip */

    conn = borrow(pool);
    first_id = thread_id(conn);
    exec(conn, "BEGIN");
    exec(conn, "INSERT INTO txr VALUES (99)");
    CHECK_RC(pool_release(pool, conn), POOL_OK);
    CHECK_EQ_U64(tl_stats(pool).resets, 1);

    /* The same session (thread id), without the row and not in a transaction. */
    conn = borrow(pool);
    CHECK_EQ_U64(thread_id(conn), first_id);
    CHECK(!(tl_info(conn).server_status & POOL_STATUS_IN_TRANS));
    CHECK_EQ_INT(tl_query_int(conn, "SELECT COUNT(*) FROM txr"), 0);
    CHECK(!(tl_info(conn).server_status & POOL_STATUS_IN_TRANS));
    CHECK_RC(pool_release(pool, conn), POOL_OK);
    CHECK_EQ_U64(tl_stats(pool).resets, 1); /* that release was clean */

    /* Autocommit switched off by a borrower is switched back on. */
    conn = borrow(pool);
    CHECK_RC(pool_autocommit(conn, 0), POOL_OK);
    CHECK_RC(pool_release(pool, conn), POOL_OK);
    CHECK_EQ_U64(tl_stats(pool).resets, 2);
    conn = borrow(pool);
    CHECK_EQ_U64(thread_id(conn), first_id);
    CHECK(tl_info(conn).server_status & POOL_STATUS_AUTOCOMMIT);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT @@autocommit"), 1);
    exec(conn, "DROP TABLE txr");
    pool_release(pool, conn);
    CHECK_EQ_U64(tl_stats(pool).closed_broken, 0);
    pool_destroy(pool);
}

/* ------------------------------------------------------------------------
 * Session functions
 */

static void test_session_functions(void) {
    pool_conn_t *conn = borrow(shared);
    char value[128];
    const char *info;
    if (!conn)
        return;
    CHECK_RC(pool_ping(conn), POOL_OK);

    CHECK_RC(pool_select_db(conn, "no_such_database_xyz"), POOL_E_SERVER);
    /* 1049 unknown database; 1044 access denied to it, for a user with
     * rights on its own database only (a server named in MYSQL_HOST). */
    CHECK(pool_last_errno() == 1049 || pool_last_errno() == 1044);
    CHECK_STR(pool_last_sqlstate(), "42000");
    CHECK_RC(pool_select_db(conn, NULL), POOL_E_BAD_ARGUMENT);
    CHECK_RC(pool_select_db(conn, getenv("MYSQL_DATABASE")), POOL_OK);
    CHECK_RC(tl_query_value(conn, "SELECT DATABASE()", value, sizeof value), POOL_OK);
    CHECK_STR(value, getenv("MYSQL_DATABASE"));

    CHECK_STR(pool_conn_charset(conn), "utf8mb4"); /* the default */
    CHECK_RC(pool_set_charset(conn, "latin1"), POOL_OK);
    CHECK_STR(pool_conn_charset(conn), "latin1");
    CHECK_RC(tl_query_value(conn, "SELECT @@character_set_client", value, sizeof value), POOL_OK);
    CHECK_STR(value, "latin1");
    CHECK_RC(pool_set_charset(conn, "klingon"), POOL_E_SERVER);
    CHECK_EQ_INT(pool_last_errno(), 2019);
    CHECK_CONTAINS(pool_last_error(), "klingon");
    CHECK_STR(pool_conn_charset(conn), "latin1"); /* unchanged by the failure */
    CHECK_RC(pool_set_charset(conn, NULL), POOL_E_BAD_ARGUMENT);
    CHECK_RC(pool_set_charset(conn, "utf8mb4"), POOL_OK);
    CHECK_STR(pool_conn_charset(conn), "utf8mb4");

    info = pool_conn_server_info(conn);
    CHECK_CONTAINS(info, "MariaDB");
    info = pool_conn_host_info(conn);
    CHECK(info != NULL && info[0] != '\0');
    CHECK_CONTAINS(info, "TCP");
    pool_release(shared, conn);
}

/* pool_select_db to another database and back (it creates one). */
static void test_select_other_database(void) {
    pool_conn_t *conn = borrow(shared);
    char value[128];
    if (!conn)
        return;
    exec(conn, "CREATE DATABASE IF NOT EXISTS mysqlpool_test_other");
    CHECK_RC(pool_select_db(conn, "mysqlpool_test_other"), POOL_OK);
    CHECK_RC(tl_query_value(conn, "SELECT DATABASE()", value, sizeof value), POOL_OK);
    CHECK_STR(value, "mysqlpool_test_other");
    CHECK_RC(pool_select_db(conn, getenv("MYSQL_DATABASE")), POOL_OK);
    exec(conn, "DROP DATABASE mysqlpool_test_other");
    pool_release(shared, conn);
}

/* ------------------------------------------------------------------------
 * Escaping
 */

/* Escapes `raw`, inserts it as a quoted literal into a VARBINARY column and
 * reads it back: the bytes must come back unchanged. */
static void round_trip(pool_conn_t *conn, const char *raw, size_t raw_len) {
    char escaped[512], sql[700];
    size_t escaped_len = 0;
    int sql_len;
    pool_result_t *result;
    const char *const *values;
    const size_t *lengths;
    if (!CHECK_RC(pool_escape(conn, raw, raw_len, escaped, sizeof escaped, &escaped_len), POOL_OK))
        return;
    CHECK_EQ_U64(escaped[escaped_len], 0); /* NUL-terminated */
    exec(conn, "DELETE FROM esc");
    sql_len = snprintf(sql, sizeof sql, "INSERT INTO esc VALUES ('");
    memcpy(sql + sql_len, escaped, escaped_len);
    sql_len += (int)escaped_len;
    memcpy(sql + sql_len, "')", 2);
    sql_len += 2;
    if (!CHECK_RC(pool_query(conn, sql, (size_t)sql_len), POOL_OK))
        return;
    result = NULL;
    pool_store_result(conn, &result);
    pool_result_free(result);
    result = store(conn, "SELECT b FROM esc");
    if (CHECK_RC(pool_result_fetch(result, &values, &lengths), POOL_ROW))
        CHECK_MEM(values[0], lengths[0], raw, raw_len);
    pool_result_free(result);
}

static void test_escape_basic(void) {
    static const char raw[] = "a'b\"c\\d\0e\x1a" "f\ng\rh";
    static const char want[] = "a\\'b\\\"c\\\\d\\0e\\Zf\\ng\\rh";
    pool_conn_t *conn = borrow(shared);
    char escaped[64];
    size_t len = 0;
    if (!conn)
        return;
    exec(conn, "CREATE OR REPLACE TABLE esc (b VARBINARY(200))");
    CHECK_RC(pool_escape(conn, raw, sizeof raw - 1, escaped, sizeof escaped, &len), POOL_OK);
    CHECK_MEM(escaped, len, want, sizeof want - 1);
    round_trip(conn, raw, sizeof raw - 1);
    round_trip(conn, "", 0);
    round_trip(conn, "\xf0\x9f\x98\x80 emoji", 10);
    exec(conn, "DROP TABLE esc");
    pool_release(shared, conn);
}

static void test_escape_no_backslash_escapes(void) {
    static const char raw[] = "it's a \\ backslash";
    static const char want[] = "it''s a \\ backslash";
    pool_conn_t *conn = borrow(shared);
    char escaped[64];
    size_t len = 0;
    if (!conn)
        return;
    exec(conn, "CREATE OR REPLACE TABLE esc (b VARBINARY(200))");
    exec(conn, "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'");
    CHECK(tl_info(conn).server_status & POOL_STATUS_NO_BACKSLASH_ESCAPES);
    CHECK_RC(pool_escape(conn, raw, sizeof raw - 1, escaped, sizeof escaped, &len), POOL_OK);
    CHECK_MEM(escaped, len, want, sizeof want - 1);
    round_trip(conn, raw, sizeof raw - 1);
    round_trip(conn, "''\\'\\", 5);
    /* Put the session back: the pool does not reset sql_mode. */
    exec(conn, "SET SESSION sql_mode = DEFAULT");
    CHECK(!(tl_info(conn).server_status & POOL_STATUS_NO_BACKSLASH_ESCAPES));
    exec(conn, "DROP TABLE esc");
    pool_release(shared, conn);
}

/* 0xbf 0x5c is one GBK character whose second byte is a backslash. Escaping
 * byte by byte would turn it into 0xbf 0x5c 0x5c and let the quote after it
 * end the literal; charset-aware escaping keeps the pair and escapes only
 * the quote. */
static void test_escape_gbk(void) {
    static const char raw[] = "\xbf\x5c'";
    static const char want[] = "\xbf\x5c\\'";
    pool_conn_t *conn = borrow(shared);
    char escaped[16];
    size_t len = 0;
    if (!conn)
        return;
    exec(conn, "CREATE OR REPLACE TABLE esc (b VARBINARY(200))");
    CHECK_RC(pool_set_charset(conn, "gbk"), POOL_OK);
    CHECK_STR(pool_conn_charset(conn), "gbk");
    CHECK_RC(pool_escape(conn, raw, sizeof raw - 1, escaped, sizeof escaped, &len), POOL_OK);
    CHECK_MEM(escaped, len, want, sizeof want - 1);
    round_trip(conn, raw, sizeof raw - 1);
    round_trip(conn, "\xbf\x5c\xbf\x5c''x", 7);
    CHECK_RC(pool_set_charset(conn, "utf8mb4"), POOL_OK);
    exec(conn, "DROP TABLE esc");
    pool_release(shared, conn);
}

static void test_escape_bounds(void) {
    pool_conn_t *conn = borrow(shared);
    char to[16];
    size_t len = 99;
    if (!conn)
        return;
    CHECK_RC(pool_escape(conn, "abc", 3, to, 6, &len), POOL_E_BAD_ARGUMENT);
    CHECK_CONTAINS(pool_last_error(), "to_size");
    CHECK_RC(pool_escape(conn, "abc", 3, to, 7, &len), POOL_OK);
    CHECK_MEM(to, len, "abc", 3);
    CHECK_RC(pool_escape(conn, "abc", 3, NULL, 7, &len), POOL_E_BAD_ARGUMENT);
    CHECK_RC(pool_escape(conn, NULL, 3, to, sizeof to, &len), POOL_E_BAD_ARGUMENT);
    CHECK_RC(pool_escape(conn, "", 0, to, 1, &len), POOL_OK);
    CHECK_EQ_U64(len, 0);
    CHECK_STR(to, "");
    CHECK_RC(pool_escape(conn, "abc", SIZE_MAX, to, sizeof to, &len), POOL_E_BAD_ARGUMENT);
    pool_release(shared, conn);
}

/* ------------------------------------------------------------------------
 * Pool behaviour
 */

static void test_exhausted_timeout(void) {
    pool_t *pool = NULL;
    pool_conn_t *a, *b, *c = (pool_conn_t *)0x1;
    pool_stats_t stats;
    double start, waited;
    if (!CHECK_RC(tl_pool(&pool, "size", "2", "maxsize", "2", NULL), POOL_OK))
        return;
    a = borrow(pool);
    b = borrow(pool);

    start = tl_now_ms();
    CHECK_RC(pool_get_conn(pool, 200, &c), POOL_E_EXHAUSTED);
    waited = tl_now_ms() - start;
    CHECK(c == NULL);
    CHECK_EQ_INT(pool_last_error_code(), POOL_E_EXHAUSTED);
    CHECK_EQ_INT(pool_last_errno(), 0);
    CHECK(pool_last_error()[0] != '\0');
    tl_check(waited >= 150 && waited < 5000, __FILE__, __LINE__, "waited about 200 ms",
             "waited %.1f ms", waited);
    stats = tl_stats(pool);
    CHECK_EQ_U64(stats.timeouts, 1);
    CHECK_EQ_U64(stats.wait_count, 1);
    CHECK(stats.max_wait_ns >= 150000000ull);
    CHECK(stats.wait_time_ns >= stats.max_wait_ns);
    CHECK_EQ_U64(stats.waiting, 0);

    /* Timeout 0: no wait at all. */
    start = tl_now_ms();
    CHECK_RC(pool_get_conn(pool, 0, &c), POOL_E_EXHAUSTED);
    waited = tl_now_ms() - start;
    tl_check(waited < 100, __FILE__, __LINE__, "timeout 0 fails at once", "took %.1f ms", waited);
    CHECK_EQ_U64(tl_stats(pool).timeouts, 2);
    CHECK_EQ_U64(tl_stats(pool).wait_count, 1);

    CHECK_RC(pool_get_conn(pool, 0, NULL), POOL_E_BAD_ARGUMENT);
    pool_release(pool, a);
    pool_release(pool, b);
    stats = tl_stats(pool);
    CHECK_EQ_U64(stats.gets, 2);
    CHECK_EQ_U64(stats.releases, 2);
    pool_destroy(pool);
}

/* The pool's get_timeout is used for a negative timeout. */
static void test_default_get_timeout(void) {
    pool_t *pool = NULL;
    pool_conn_t *a, *c = NULL;
    double start, waited;
    if (!CHECK_RC(tl_pool(&pool, "size", "1", "maxsize", "1", "get_timeout", "300", NULL),
                  POOL_OK))
        return;
    a = borrow(pool);
    start = tl_now_ms();
    CHECK_RC(pool_get_conn(pool, -1, &c), POOL_E_EXHAUSTED);
    waited = tl_now_ms() - start;
    tl_check(waited >= 250 && waited < 5000, __FILE__, __LINE__, "waited get_timeout (300 ms)",
             "waited %.1f ms", waited);
    pool_release(pool, a);
    pool_destroy(pool);
}

static void test_release_wakes_waiter(void) {
    pool_t *pool = NULL;
    pool_conn_t *a, *b;
    struct waiter w;
    uint64_t a_id;
    if (!CHECK_RC(tl_pool(&pool, "size", "2", "maxsize", "2", NULL), POOL_OK))
        return;
    a = borrow(pool);
    b = borrow(pool);
    a_id = thread_id(a);
    start_waiter(&w, pool, 5000);
    if (wait_for_waiters(pool, 1)) {
        CHECK_RC(pool_release(pool, a), POOL_OK);
        pthread_join(w.thread, NULL);
        CHECK_RC(w.rc, POOL_OK);
        CHECK_EQ_U64(w.thread_id, a_id); /* handed over directly */
        CHECK(w.waited_ms < 5000);
        /* Borrowed in the waiter thread, released here: allowed. */
        CHECK_RC(pool_release(pool, w.conn), POOL_OK);
        CHECK_EQ_U64(tl_stats(pool).wait_count, 1);
        CHECK_EQ_U64(tl_stats(pool).timeouts, 0);
    } else {
        pool_release(pool, a);
        pthread_join(w.thread, NULL);
        if (w.rc == POOL_OK)
            pool_release(pool, w.conn);
    }
    pool_release(pool, b);
    CHECK_EQ_U64(tl_stats(pool).total, 2);
    pool_destroy(pool);
}

static void test_overflow_closed_on_release(void) {
    pool_t *pool = NULL;
    pool_conn_t *conns[3];
    pool_stats_t stats;
    int i;
    if (!CHECK_RC(tl_pool(&pool, "size", "1", "maxsize", "3", NULL), POOL_OK))
        return;
    for (i = 0; i < 3; i++)
        conns[i] = borrow(pool);
    stats = tl_stats(pool);
    CHECK_EQ_U64(stats.total, 3);
    CHECK_EQ_U64(stats.in_use, 3);
    CHECK_EQ_U64(stats.created, 3);
    for (i = 0; i < 3; i++)
        CHECK_RC(pool_release(pool, conns[i]), POOL_OK);
    stats = tl_stats(pool);
    CHECK_EQ_U64(stats.closed_overflow, 2);
    CHECK_EQ_U64(stats.total, 1);
    CHECK_EQ_U64(stats.idle, 1);
    CHECK_EQ_U64(stats.in_use, 0);
    pool_destroy(pool);

    /* size 0: nothing is kept, every connection is closed on release. */
    if (!CHECK_RC(tl_pool(&pool, "size", "0", "maxsize", "1", NULL), POOL_OK))
        return;
    conns[0] = borrow(pool);
    CHECK_RC(pool_release(pool, conns[0]), POOL_OK);
    stats = tl_stats(pool);
    CHECK_EQ_U64(stats.closed_overflow, 1);
    CHECK_EQ_U64(stats.total, 0);
    pool_destroy(pool);
}

/* overflow_after_ms: with `size` open and busy, wait that long for an idle
 * connection before opening one above size. */
static void test_overflow_after(void) {
    pool_t *pool = NULL;
    pool_conn_t *a, *b = NULL;
    double start, waited;
    if (!CHECK_RC(tl_pool(&pool, "size", "1", "maxsize", "2", NULL), POOL_OK))
        return;
    a = borrow(pool);
    start = tl_now_ms();
    CHECK_RC(pool_get_conn_ex(pool, 3000, 300, 0, &b), POOL_OK);
    waited = tl_now_ms() - start;
    tl_check(waited >= 250 && waited < 3000, __FILE__, __LINE__, "overflow after about 300 ms",
             "waited %.1f ms", waited);
    CHECK_EQ_U64(tl_stats(pool).total, 2);
    pool_release(pool, a);
    pool_release(pool, b);
    CHECK_EQ_U64(tl_stats(pool).closed_overflow, 1);
    CHECK_RC(pool_get_conn_ex(pool, 0, -1, 0, &b), POOL_E_BAD_ARGUMENT);
    pool_destroy(pool);
}

static void test_lifetime(void) {
    pool_t *pool = NULL;
    pool_conn_t *conn;
    uint64_t first, second;
    pool_stats_t stats;
    if (!CHECK_RC(tl_pool(&pool, "size", "1", "maxsize", "1", "con_lifetime", "1", NULL),
                  POOL_OK))
        return;
    /* Expired while borrowed: closed at release (never while in use). */
    conn = borrow(pool);
    first = thread_id(conn);
    tl_sleep_ms(1100);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 1"), 1);
    CHECK_RC(pool_release(pool, conn), POOL_OK);
    stats = tl_stats(pool);
    CHECK_EQ_U64(stats.closed_lifetime, 1);
    CHECK_EQ_U64(stats.total, 0);
    CHECK(server_thread_gone(first));

    /* Expired while idle: closed when taken, a new one is handed out. */
    conn = borrow(pool);
    second = thread_id(conn);
    CHECK(second != first);
    CHECK_RC(pool_release(pool, conn), POOL_OK);
    CHECK_EQ_U64(tl_stats(pool).idle, 1);
    tl_sleep_ms(1100);
    conn = borrow(pool);
    CHECK(thread_id(conn) != second);
    CHECK_EQ_U64(tl_stats(pool).closed_lifetime, 2);
    CHECK_EQ_U64(tl_stats(pool).created, 3);
    pool_release(pool, conn);
    pool_destroy(pool);
}

static void test_discard(void) {
    pool_t *pool = NULL;
    pool_conn_t *conn;
    uint64_t id;
    pool_stats_t stats;
    if (!CHECK_RC(tl_pool(&pool, "size", "2", "maxsize", "2", NULL), POOL_OK))
        return;
    conn = borrow(pool);
    id = thread_id(conn);
    CHECK_RC(pool_discard(pool, conn), POOL_OK);
    stats = tl_stats(pool);
    CHECK_EQ_U64(stats.closed_discarded, 1);
    CHECK_EQ_U64(stats.releases, 1);
    CHECK_EQ_U64(stats.total, 0);
    CHECK(server_thread_gone(id));
    CHECK_RC(pool_discard(pool, conn), POOL_E_WRONG_HANDLE);
    CHECK_RC(pool_release(pool, conn), POOL_E_WRONG_HANDLE);
    pool_destroy(pool);
}

static void test_killed_connection(void) {
    pool_t *pool = NULL;
    pool_conn_t *victim;
    unsigned err;
    pool_stats_t stats;
    if (!CHECK_RC(tl_pool(&pool, "size", "1", "maxsize", "1", NULL), POOL_OK))
        return;
    victim = borrow(pool);
    kill_server_thread(thread_id(victim));
    CHECK_RC(pool_query(victim, "SELECT 1", 8), POOL_E_SERVER);
    err = pool_last_errno();
    tl_check(tl_link_lost_errno(err), __FILE__, __LINE__, "link-lost errno",
             "errno %u (%s)", err, pool_last_error());
    CHECK_EQ_INT(pool_conn_errno(victim), err);
    CHECK_RC(pool_release(pool, victim), POOL_OK);
    stats = tl_stats(pool);
    CHECK_EQ_U64(stats.closed_broken, 1);
    CHECK_EQ_U64(stats.total, 0);
    /* The pool opens a fresh one for the next borrower. */
    victim = borrow(pool);
    CHECK_EQ_INT(tl_query_int(victim, "SELECT 2"), 2);
    pool_release(pool, victim);
    pool_destroy(pool);
}

static void test_ping_dead_connection(void) {
    pool_t *pool = NULL;
    pool_conn_t *conn;
    if (!CHECK_RC(tl_pool(&pool, "size", "1", "maxsize", "1", NULL), POOL_OK))
        return;
    conn = borrow(pool);
    kill_server_thread(thread_id(conn));
    CHECK_RC(pool_ping(conn), POOL_E_SERVER);
    CHECK(tl_link_lost_errno(pool_last_errno()));
    CHECK_RC(pool_release(pool, conn), POOL_OK);
    CHECK_EQ_U64(tl_stats(pool).closed_broken, 1);
    pool_destroy(pool);
}

/* Released inside a transaction whose session died: the rollback fails, so
 * the connection is closed instead of kept. */
static void test_reset_fails_closes(void) {
    pool_t *pool = NULL;
    pool_conn_t *conn;
    pool_stats_t stats;
    if (!CHECK_RC(tl_pool(&pool, "size", "1", "maxsize", "1", NULL), POOL_OK))
        return;
    conn = borrow(pool);
    exec(conn, "BEGIN");
    CHECK(tl_info(conn).server_status & POOL_STATUS_IN_TRANS);
    kill_server_thread(thread_id(conn));
    CHECK_RC(pool_release(pool, conn), POOL_OK);
    stats = tl_stats(pool);
    CHECK_EQ_U64(stats.closed_broken, 1);
    CHECK_EQ_U64(stats.total, 0);
    CHECK_EQ_U64(stats.resets, 0);
    pool_destroy(pool);
}

static void test_get_ping_replaces_dead(void) {
    pool_t *pool = NULL;
    pool_conn_t *conn = NULL;
    uint64_t dead_id;
    pool_stats_t stats;
    if (!CHECK_RC(tl_pool(&pool, "size", "1", "maxsize", "1", NULL), POOL_OK))
        return;
    conn = borrow(pool);
    dead_id = thread_id(conn);
    CHECK_RC(pool_release(pool, conn), POOL_OK);
    kill_server_thread(dead_id); /* dies while idle in the pool */

    conn = NULL;
    CHECK_RC(pool_get_conn_ex(pool, 2000, 0, POOL_GET_PING, &conn), POOL_OK);
    if (conn != NULL) {
        CHECK(thread_id(conn) != dead_id);
        CHECK_EQ_INT(tl_query_int(conn, "SELECT 3"), 3);
        CHECK_RC(pool_release(pool, conn), POOL_OK);
    }
    stats = tl_stats(pool);
    CHECK_EQ_U64(stats.closed_validation, 1);
    CHECK_EQ_U64(stats.created, 2);
    CHECK_EQ_U64(stats.total, 1);

    /* A live connection passes the ping and is not replaced. */
    conn = NULL;
    CHECK_RC(pool_get_conn_ex(pool, 2000, 0, POOL_GET_PING, &conn), POOL_OK);
    pool_release(pool, conn);
    CHECK_EQ_U64(tl_stats(pool).created, 2);
    pool_destroy(pool);
}

/* A connection killed while idle is found dead by the socket peek alone (no
 * ping asked, no round trip) and replaced; the caller never sees it. */
static void test_socket_check_replaces_dead(void) {
    pool_t *pool = NULL;
    pool_conn_t *conn;
    uint64_t dead_id;
    pool_stats_t stats;
    if (!CHECK_RC(tl_pool(&pool, "size", "2", "maxsize", "2", "validation_interval", "0", NULL), POOL_OK))
        return;
    conn = borrow(pool);
    dead_id = thread_id(conn);
    CHECK_RC(pool_release(pool, conn), POOL_OK);
    kill_server_thread(dead_id);

    conn = borrow(pool);
    if (conn != NULL) {
        CHECK(thread_id(conn) != dead_id);
        CHECK_EQ_INT(tl_query_int(conn, "SELECT 4"), 4);
        CHECK_RC(pool_release(pool, conn), POOL_OK);
    }
    stats = tl_stats(pool);
    CHECK_EQ_U64(stats.closed_validation, 1);
    CHECK_EQ_U64(stats.pings, 0);
    CHECK_EQ_U64(stats.gets, 2);
    pool_destroy(pool);

    /* With the peek off and no ping, the dead one is handed out: the check is
     * what kept the caller safe above. */
    if (!CHECK_RC(tl_pool(&pool, "size", "1", "maxsize", "1", "validation_interval", "0", "validate_socket", "0",
                          NULL), POOL_OK))
        return;
    conn = borrow(pool);
    dead_id = thread_id(conn);
    CHECK_RC(pool_release(pool, conn), POOL_OK);
    kill_server_thread(dead_id);
    conn = borrow(pool);
    CHECK_RC(pool_query(conn, "SELECT 1", 8), POOL_E_SERVER);
    CHECK(tl_link_lost_errno(pool_last_errno()));
    pool_release(pool, conn);
    pool_destroy(pool);
}

/* After one connection is found dead, the others that have not talked to the
 * server since are pinged before use (the server may have restarted). */
static void test_dead_connection_triggers_validation_of_older_ones(void) {
    pool_t *pool = NULL;
    pool_conn_t *a, *b;
    uint64_t dead_id;
    if (!CHECK_RC(tl_pool(&pool, "size", "2", "maxsize", "2", "validation_interval", "0", NULL), POOL_OK))
        return;
    a = borrow(pool);
    b = borrow(pool);
    dead_id = thread_id(b);
    CHECK_RC(pool_release(pool, a), POOL_OK);
    CHECK_RC(pool_release(pool, b), POOL_OK); /* b is taken first (most recently used) */
    kill_server_thread(dead_id);
    a = borrow(pool); /* b fails its peek and is replaced by a, which gets pinged */
    CHECK(a != NULL && thread_id(a) != dead_id);
    CHECK_EQ_U64(tl_stats(pool).closed_validation, 1);
    CHECK_EQ_U64(tl_stats(pool).pings, 1);
    pool_release(pool, a);
    pool_destroy(pool);
}

/* reset_connection: user variables and temporary tables are gone for the next
 * borrower, sql_mode and autocommit are the pool's again. Without it they stay
 * (pymysql-pool's behaviour). */
static void test_reset_connection_option(void) {
    pool_t *pool = NULL;
    pool_conn_t *conn;
    char value[64];
    int reset;
    for (reset = 0; reset <= 1; reset++) {
        if (!CHECK_RC(tl_pool(&pool, "size", "1", "maxsize", "1", "sql_mode", "ANSI_QUOTES", "reset_connection",
                              reset ? "1" : "0", NULL), POOL_OK))
            return;
        conn = borrow(pool);
        exec(conn, "SET @leftover = 42");
        exec(conn, "CREATE TEMPORARY TABLE leftover_tmp (a INT)");
        exec(conn, "SET SESSION sql_mode = 'NO_ZERO_DATE'");
        CHECK_RC(pool_release(pool, conn), POOL_OK);
        conn = borrow(pool);
        CHECK_RC(tl_query_value(conn, "SELECT COALESCE(@leftover, 'gone')", value, sizeof value), POOL_OK);
        CHECK_STR(value, reset ? "gone" : "42");
        CHECK_RC(tl_query_value(conn, "SELECT @@SESSION.sql_mode", value, sizeof value), POOL_OK);
        CHECK_STR(value, reset ? "ANSI_QUOTES" : "NO_ZERO_DATE");
        CHECK_EQ_INT(tl_query_int(conn, "SELECT @@autocommit"), 1);
        CHECK_RC(pool_query(conn, "SELECT * FROM leftover_tmp", strlen("SELECT * FROM leftover_tmp")),
                 reset ? POOL_E_SERVER : POOL_OK);
        if (!reset) {
            pool_result_t *res = NULL;
            pool_store_result(conn, &res);
            pool_result_free(res);
        }
        pool_release(pool, conn);
        CHECK_EQ_U64(tl_stats(pool).resets, reset ? 2 : 0); /* one per release */
        pool_destroy(pool);
    }
}

static void test_health_config_values(void) {
    static const char *const bad[][2] = {
        {"idle_timeout", "abc"},     {"idle_timeout", "-1"},          {"idle_timeout", "1.2345678901"},
        {"idle_timeout", "1e3"},     {"keepalive_interval", "."},     {"validation_interval", "999999999"},
        {"lifetime_jitter", "0.6"},  {"lifetime_jitter", "-0.1"},     {"lifetime_jitter", "nan"},
        {"min_idle", "-1"},          {"validate_socket", "sometimes"}, {"leak_detection_threshold", "soon"},
    };
    static const char *const good[][2] = {
        {"idle_timeout", "0"},           {"idle_timeout", "0.25"},        {"idle_timeout", ".5"},
        {"idle_timeout", "600"},         {"keepalive_interval", "30"},    {"validation_interval", "0"},
        {"lifetime_jitter", "0"},        {"lifetime_jitter", "0.5"},      {"min_idle", "3"},
        {"pre_ping", "1"},               {"reset_connection", "yes"},     {"leak_detection_threshold", "2.5"},
    };
    pool_config_t *config = pool_config_new();
    pool_t *pool = NULL;
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_config_error(bad[i][0], bad[i][1], POOL_E_BAD_ARGUMENT);
    for (i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!CHECK_RC(pool_config_set(config, good[i][0], good[i][1]), POOL_OK))
            fprintf(stderr, "    (key \"%s\", value \"%s\")\n", good[i][0], good[i][1]);
    pool_config_free(config);

    config = tl_config("maxsize", "2", "min_idle", "3", NULL);
    CHECK_RC(pool_create(config, &pool), POOL_E_BAD_ARGUMENT);
    CHECK_CONTAINS(pool_last_error(), "min_idle");
    pool_config_free(config);
}

/* The log callback: a leak is reported once, at WARNING, with the handle of
 * the borrowed connection; levels below min_level are not delivered. */
struct log_record {
    int count, level;
    pool_conn_t *conn;
    char pool_name[64], message[256];
};

static void record_log(void *user_data, int level, const char *pool_name, pool_conn_t *conn, const char *message) {
    struct log_record *record = user_data;
    if (strstr(message, "leak") == NULL)
        return;
    record->count++;
    record->level = level;
    record->conn = conn;
    snprintf(record->pool_name, sizeof record->pool_name, "%s", pool_name);
    snprintf(record->message, sizeof record->message, "%s", message);
}

static void test_leak_detection_and_log_callback(void) {
    static struct log_record record;
    pool_t *pool = NULL;
    pool_conn_t *conn;
    memset(&record, 0, sizeof record);
    CHECK_RC(pool_set_log_callback(record_log, &record, 99), POOL_E_BAD_ARGUMENT);
    CHECK_RC(pool_set_log_callback(record_log, &record, POOL_LOG_WARNING), POOL_OK);
    if (!CHECK_RC(tl_pool(&pool, "name", "leaky", "leak_detection_threshold", "0.1", NULL), POOL_OK))
        return;
    conn = borrow(pool);
    tl_sleep_ms(600);
    CHECK_EQ_INT(record.count, 1);
    CHECK_EQ_INT(record.level, POOL_LOG_WARNING);
    CHECK(record.conn == conn);
    CHECK_STR(record.pool_name, "leaky");
    CHECK_CONTAINS(record.message, "not returned");
    CHECK_EQ_U64(tl_stats(pool).leaks, 1);
    pool_release(pool, conn);
    CHECK_RC(pool_set_log_callback(NULL, NULL, 0), POOL_OK);
    pool_destroy(pool);
}

/* idle_timeout and min_idle, run by the maintenance thread on a real server. */
static void test_idle_timeout_and_min_idle(void) {
    pool_t *pool = NULL;
    pool_stats_t stats;
    double deadline;
    if (!CHECK_RC(tl_pool(&pool, "size", "4", "maxsize", "4", "pre_create_num", "4", "idle_timeout", "0.2",
                          "min_idle", "1", NULL), POOL_OK))
        return;
    deadline = tl_now_ms() + 5000;
    do {
        tl_sleep_ms(50);
        stats = tl_stats(pool);
    } while (stats.idle > 1 && tl_now_ms() < deadline);
    CHECK_EQ_U64(stats.idle, 1);
    CHECK_EQ_U64(stats.closed_idle, 3);
    pool_destroy(pool);

    if (!CHECK_RC(tl_pool(&pool, "size", "3", "maxsize", "3", "min_idle", "3", NULL), POOL_OK))
        return;
    deadline = tl_now_ms() + 5000;
    do {
        tl_sleep_ms(50);
        stats = tl_stats(pool);
    } while (stats.idle < 3 && tl_now_ms() < deadline);
    CHECK_EQ_U64(stats.idle, 3);
    pool_destroy(pool);
}

/* fork(): the child refuses the connection it inherited borrowed, never
 * ends the parent's sessions, and gets fresh connections of its own. */
static void test_fork_child_starts_over(void) {
    pool_t *pool = NULL;
    pool_conn_t *held, *idle;
    uint64_t held_id, idle_id;
    pid_t child;
    int status = -1;
    if (!CHECK_RC(tl_pool(&pool, "size", "2", "maxsize", "2", NULL), POOL_OK))
        return;
    held = borrow(pool);
    idle = borrow(pool);
    held_id = thread_id(held);
    idle_id = thread_id(idle);
    CHECK_RC(pool_release(pool, idle), POOL_OK);
    fflush(NULL);
    child = fork();
    if (child == 0) {
        /* Exit codes say which expectation failed; no CHECK output from here. */
        pool_conn_t *mine = NULL;
        pool_stats_t stats;
        if (pool_query(held, "SELECT 1", 8) != POOL_E_MISUSE)
            _exit(10);
        if (strstr(pool_last_error(), "fork") == NULL)
            _exit(11);
        if (pool_release(pool, held) != POOL_OK)
            _exit(12);
        if (pool_get_conn(pool, 5000, &mine) != POOL_OK)
            _exit(13);
        if (tl_info(mine).thread_id == held_id || tl_info(mine).thread_id == idle_id)
            _exit(14);
        if (tl_exec(mine, "SELECT 1") != POOL_OK)
            _exit(15);
        pool_release(pool, mine);
        stats = tl_stats(pool);
        if (stats.total != 1 || stats.in_use != 0)
            _exit(16);
        pool_destroy(pool);
        _exit(0);
    }
    CHECK(child > 0);
    CHECK(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK_EQ_INT(WEXITSTATUS(status), 0);
    /* The parent's sessions were not ended by the child. */
    CHECK_EQ_INT(tl_query_int(held, "SELECT 7"), 7);
    CHECK(server_has_thread(idle_id));
    idle = borrow(pool);
    CHECK(thread_id(idle) == idle_id);
    pool_release(pool, idle);
    pool_release(pool, held);
    pool_destroy(pool);
}

/* Several hosts: a dead first host is denied and skipped (sequential), new
 * connections go to the least loaded host (loadbalance), pool_host_stats
 * reports it all, and a bad host list is refused naming it. */
static void test_host_lists(void) {
    char hosts[256];
    const char *host = getenv("MYSQL_HOST");
    const char *port = getenv("MYSQL_TCP_PORT") ? getenv("MYSQL_TCP_PORT") : "3306";
    pool_t *pool = NULL;
    pool_conn_t *a, *b;
    pool_host_stats_t stats[3];
    pool_config_t *config;

    snprintf(hosts, sizeof hosts, "127.0.0.1:1, %s:%s", host, port);
    if (!CHECK_RC(tl_pool(&pool, "host", hosts, "size", "2", "maxsize", "2", NULL), POOL_OK))
        return;
    a = borrow(pool);
    CHECK_EQ_INT(tl_query_int(a, "SELECT 1"), 1);
    CHECK_RC(pool_host_stats(pool, 0, &stats[0], sizeof stats[0]), POOL_OK);
    CHECK_RC(pool_host_stats(pool, 1, &stats[1], sizeof stats[1]), POOL_OK);
    CHECK_RC(pool_host_stats(pool, 2, &stats[2], sizeof stats[2]), POOL_DONE);
    CHECK_RC(pool_host_stats(pool, 0, NULL, sizeof stats[0]), POOL_E_BAD_ARGUMENT);
    CHECK_STR(stats[0].host, "127.0.0.1");
    CHECK_EQ_U64(stats[0].port, 1);
    CHECK(stats[0].failures >= 1);
    CHECK(stats[0].denied_ms > 0);
    CHECK_STR(stats[1].host, host);
    CHECK_EQ_U64(stats[1].connections, 1);
    CHECK_EQ_U64(stats[1].read_only, (uint64_t)-1); /* not asked outside replication mode */
    CHECK_EQ_U64(stats[1].synced, (uint64_t)-1);    /* nor Galera's state (sequential mode) */
    CHECK_EQ_U64(stats[1].role_age_ms, UINT64_MAX);
    /* The dead host is denied: the next connection does not try it again. */
    b = borrow(pool);
    CHECK_RC(pool_host_stats(pool, 0, &stats[2], sizeof stats[2]), POOL_OK);
    CHECK_EQ_U64(stats[2].failures, stats[0].failures);
    pool_release(pool, a);
    pool_release(pool, b);
    pool_destroy(pool);

    /* loadbalance: the same server under two names, two connections, one each. */
    snprintf(hosts, sizeof hosts, "%s:%s,localhost:%s", host, port, port);
    if (!CHECK_RC(tl_pool(&pool, "host", hosts, "ha_mode", "loadbalance", "size", "2", "maxsize", "2", NULL), POOL_OK))
        return;
    a = borrow(pool);
    b = borrow(pool);
    CHECK_RC(pool_host_stats(pool, 0, &stats[0], sizeof stats[0]), POOL_OK);
    CHECK_RC(pool_host_stats(pool, 1, &stats[1], sizeof stats[1]), POOL_OK);
    CHECK_EQ_U64(stats[0].connections, 1);
    CHECK_EQ_U64(stats[1].connections, 1);
    pool_release(pool, a);
    pool_release(pool, b);
    pool_destroy(pool);

    config = pool_config_new();
    CHECK_RC(pool_config_set(config, "host", "db1:3306,db2:99999"), POOL_E_BAD_ARGUMENT);
    CHECK_CONTAINS(pool_last_error(), "db2:99999");
    CHECK_RC(pool_config_set(config, "ha_mode", "roundrobin"), POOL_E_BAD_ARGUMENT);
    CHECK_CONTAINS(pool_last_error(), "replication");
    pool_config_free(config);
}

static void test_get_flags(void) {
    pool_conn_t *conn = (pool_conn_t *)0x1;
    CHECK_RC(pool_get_conn_ex(shared, 1000, 0, 4u, &conn), POOL_E_BAD_ARGUMENT);
    CHECK(conn == NULL);
    CHECK_CONTAINS(pool_last_error(), "flag");
    CHECK_RC(pool_get_conn_ex(shared, 1000, 0, 0x80000000u | POOL_GET_PING, &conn),
             POOL_E_BAD_ARGUMENT);
    CHECK_RC(pool_get_conn_ex(shared, 1000, 0, 0, NULL), POOL_E_BAD_ARGUMENT);
    if (CHECK_RC(pool_get_conn_ex(shared, 1000, 0, 0, &conn), POOL_OK))
        pool_release(shared, conn);
}

/* pool_borrow: the connection as the return value, the status in
 * pool_last_error_code() when it is NULL. */
static void test_borrow(void) {
    pool_t *pool = NULL;
    pool_conn_t *conn, *second;
    if (!CHECK_RC(tl_pool(&pool, "size", "1", "maxsize", "1", NULL), POOL_OK))
        return;
    conn = pool_borrow(pool, 1000, 0, 0);
    if (!CHECK(conn != NULL))
        return;
    CHECK_EQ_U64(tl_stats(pool).in_use, 1);
    second = pool_borrow(pool, 0, 0, 0);
    CHECK(second == NULL);
    CHECK_RC(pool_last_error_code(), POOL_E_EXHAUSTED);
    CHECK(pool_borrow(pool, 0, 0, 4u) == NULL);
    CHECK_RC(pool_last_error_code(), POOL_E_BAD_ARGUMENT);
    CHECK_CONTAINS(pool_last_error(), "0x4");
    CHECK(pool_borrow(pool, 0, -1, 0) == NULL);
    CHECK_RC(pool_last_error_code(), POOL_E_BAD_ARGUMENT);
    CHECK_CONTAINS(pool_last_error(), "-1");
    CHECK(pool_borrow(NULL, 0, 0, 0) == NULL);
    CHECK_RC(pool_last_error_code(), POOL_E_WRONG_HANDLE);
    CHECK(pool_borrow((pool_t *)conn, 0, 0, 0) == NULL);
    CHECK_RC(pool_last_error_code(), POOL_E_WRONG_HANDLE);
    CHECK_RC(pool_release(pool, conn), POOL_OK);
    /* The borrowed connection works and is the same one, back from idle. */
    conn = pool_borrow(pool, 1000, 0, POOL_GET_PING);
    if (CHECK(conn != NULL)) {
        CHECK_RC(pool_query(conn, "SELECT 1", 8), POOL_OK);
        CHECK_RC(pool_release(pool, conn), POOL_OK);
    }
    CHECK_EQ_U64(tl_stats(pool).created, 1);
    pool_destroy(pool);
    CHECK(pool_borrow(pool, 0, 0, 0) == NULL);
    CHECK_RC(pool_last_error_code(), POOL_E_WRONG_HANDLE);
    CHECK_CONTAINS(pool_last_error(), "stale");
}

/* pool_take uses the pool's get_timeout and overflow_after; pool_return
 * finds the pool through the connection, also after pool_destroy. */
static void test_take_and_return(void) {
    pool_t *pool = NULL;
    pool_conn_t *first, *second;
    double start;
    if (!CHECK_RC(tl_pool(&pool, "size", "1", "maxsize", "1", "get_timeout", "50", NULL), POOL_OK))
        return;
    first = pool_take(pool);
    if (!CHECK(first != NULL))
        return;
    start = tl_now_ms();
    second = pool_take(pool);
    CHECK(second == NULL);
    CHECK_RC(pool_last_error_code(), POOL_E_EXHAUSTED);
    CHECK(tl_now_ms() - start >= 45);
    CHECK_RC(pool_return(first), POOL_OK);
    CHECK_RC(pool_return(first), POOL_E_WRONG_HANDLE);
    CHECK_CONTAINS(pool_last_error(), "stale");
    CHECK_RC(pool_return(NULL), POOL_E_WRONG_HANDLE);
    CHECK_RC(pool_return((pool_conn_t *)pool), POOL_E_WRONG_HANDLE);
    CHECK_CONTAINS(pool_last_error(), "pool handle where a connection handle");
    CHECK(pool_take(NULL) == NULL);
    CHECK_RC(pool_last_error_code(), POOL_E_WRONG_HANDLE);
    pool_destroy(pool);

    if (!CHECK_RC(tl_pool(&pool, "size", "1", "maxsize", "2", "get_timeout", "2000", "overflow_after", "100",
                          NULL),
                  POOL_OK))
        return;
    first = pool_take(pool);
    start = tl_now_ms();
    second = pool_take(pool);
    if (!CHECK(first != NULL && second != NULL))
        return;
    CHECK(tl_now_ms() - start >= 95);
    CHECK_RC(pool_query(second, "SELECT 1", 8), POOL_OK);
    CHECK_RC(pool_return(second), POOL_OK);
    pool_destroy(pool); /* kept alive by `first` */
    CHECK_RC(pool_return(first), POOL_OK);
    CHECK(pool_name(pool) == NULL); /* the last return retired the pool handle */
    CHECK_CONTAINS(pool_last_error(), "stale");
}

/* A thread remembers the last pool it borrowed from (skipping the handle
 * table's lock): a destroyed pool must still be refused, whatever pool
 * comes next, and alternating pools must always reach the right one. */
static void test_last_pool_cache(void) {
    pool_t *a = NULL, *b = NULL;
    pool_conn_t *conn;
    if (!CHECK_RC(tl_pool(&a, "size", "1", "maxsize", "1", "name", "cache-a", NULL), POOL_OK))
        return;
    conn = pool_take(a);
    if (!CHECK(conn != NULL))
        return;
    CHECK_RC(pool_return(conn), POOL_OK);
    pool_destroy(a); /* the cache of this thread still holds a's box */
    if (!CHECK_RC(tl_pool(&b, "size", "1", "maxsize", "1", "name", "cache-b", NULL), POOL_OK))
        return;
    CHECK(pool_take(a) == NULL);
    CHECK_RC(pool_last_error_code(), POOL_E_WRONG_HANDLE);
    CHECK_CONTAINS(pool_last_error(), "stale");
    for (int round = 0; round < 4; round++) {
        conn = pool_take(b);
        if (!CHECK(conn != NULL))
            return;
        CHECK_RC(pool_return(conn), POOL_OK);
        CHECK(pool_take(a) == NULL); /* looked up in the table each time, still refused */
        CHECK_RC(pool_last_error_code(), POOL_E_WRONG_HANDLE);
    }
    CHECK_EQ_U64(tl_stats(b).gets, 4);
    pool_destroy(b);
    CHECK(pool_take(b) == NULL);
    CHECK_CONTAINS(pool_last_error(), "stale");
}

/* A connection keeps one handle table entry while it is open (each lease
 * renews its generation) and the entry goes when the pool closes it. White
 * box: bits 0-31 of a handle are its entry, which a new connection reuses
 * only if the closed one's entry was freed; without that, churning
 * connections would grow the table forever. */
static void test_closed_connections_free_their_handles(void) {
    pool_t *pool = NULL;
    pool_conn_t *conn, *again;
    uintptr_t entry = 0;
    if (!CHECK_RC(tl_pool(&pool, "size", "1", "maxsize", "1", NULL), POOL_OK))
        return;
    conn = pool_borrow(pool, 1000, 0, 0);
    if (!CHECK(conn != NULL))
        return;
    CHECK_RC(pool_release(pool, conn), POOL_OK);
    again = pool_borrow(pool, 1000, 0, 0); /* the same connection, a new lease */
    if (!CHECK(again != NULL))
        return;
    CHECK(again != conn);
    CHECK(((uintptr_t)again & 0xFFFFFFFFu) == ((uintptr_t)conn & 0xFFFFFFFFu));
    CHECK_RC(pool_release(pool, conn), POOL_E_WRONG_HANDLE); /* the old lease's handle */
    CHECK_CONTAINS(pool_last_error(), "stale");
    for (int round = 0; round < 50; round++) { /* discard: closed, then a new connection */
        CHECK_RC(pool_discard(pool, again), POOL_OK);
        if (round == 0)
            entry = (uintptr_t)again & 0xFFFFFFFFu;
        again = pool_borrow(pool, 1000, 0, 0);
        if (!CHECK(again != NULL))
            return;
        CHECK(((uintptr_t)again & 0xFFFFFFFFu) == entry);
    }
    CHECK_EQ_U64(tl_stats(pool).created, 51);
    CHECK_RC(pool_release(pool, again), POOL_OK);
    pool_destroy(pool);
}

static void test_close_wakes_waiter(void) {
    pool_t *pool = NULL;
    pool_conn_t *a, *b, *c = (pool_conn_t *)0x1;
    struct waiter w;
    pool_stats_t stats;
    if (!CHECK_RC(tl_pool(&pool, "size", "2", "maxsize", "2", NULL), POOL_OK))
        return;
    a = borrow(pool);
    b = borrow(pool);
    start_waiter(&w, pool, 10000);
    wait_for_waiters(pool, 1);
    CHECK_RC(pool_close(pool), POOL_OK);
    pthread_join(w.thread, NULL);
    CHECK_RC(w.rc, POOL_E_CLOSED);
    CHECK_EQ_INT(w.last_code, POOL_E_CLOSED);
    CHECK(w.conn == NULL);
    CHECK(w.waited_ms < 5000);

    CHECK_RC(pool_get_conn(pool, 1000, &c), POOL_E_CLOSED);
    CHECK(c == NULL);
    CHECK_RC(pool_close(pool), POOL_OK); /* twice: harmless */
    /* Borrowed connections still work and are closed when they come back. */
    CHECK_EQ_INT(tl_query_int(a, "SELECT 4"), 4);
    CHECK_RC(pool_release(pool, a), POOL_OK);
    CHECK_RC(pool_discard(pool, b), POOL_OK);
    stats = tl_stats(pool);
    CHECK_EQ_U64(stats.closed_shutdown, 2);
    CHECK_EQ_U64(stats.total, 0);
    CHECK(pool_name(pool) != NULL);
    pool_destroy(pool);
}

/* Idle connections are closed by pool_close at once. */
static void test_close_idle(void) {
    pool_t *pool = NULL;
    pool_stats_t stats;
    if (!CHECK_RC(tl_pool(&pool, "size", "2", "maxsize", "2", "pre_create_num", "2", NULL),
                  POOL_OK))
        return;
    stats = tl_stats(pool);
    CHECK_EQ_U64(stats.idle, 2);
    CHECK_EQ_U64(stats.created, 2);
    CHECK_RC(pool_close(pool), POOL_OK);
    stats = tl_stats(pool);
    CHECK_EQ_U64(stats.closed_shutdown, 2);
    CHECK_EQ_U64(stats.total, 0);
    pool_destroy(pool);
}

/* Waiters are served first-come first-served. */
static void test_waiters_fifo(void) {
    pool_t *pool = NULL;
    pool_conn_t *a;
    struct waiter first, second;
    if (!CHECK_RC(tl_pool(&pool, "size", "1", "maxsize", "1", NULL), POOL_OK))
        return;
    a = borrow(pool);
    start_waiter(&first, pool, 5000);
    wait_for_waiters(pool, 1);
    start_waiter(&second, pool, 5000);
    wait_for_waiters(pool, 2);
    CHECK_RC(pool_release(pool, a), POOL_OK);
    pthread_join(first.thread, NULL);
    CHECK_RC(first.rc, POOL_OK);
    CHECK_EQ_U64(tl_stats(pool).waiting, 1); /* the second one still waits */
    if (first.rc == POOL_OK)
        CHECK_RC(pool_release(pool, first.conn), POOL_OK);
    pthread_join(second.thread, NULL);
    CHECK_RC(second.rc, POOL_OK);
    if (second.rc == POOL_OK)
        CHECK_RC(pool_release(pool, second.conn), POOL_OK);
    CHECK_EQ_U64(tl_stats(pool).wait_count, 2);
    pool_destroy(pool);
}

/* A TCP listener that accepts connections in the kernel but never sends the
 * server greeting: a client connecting to it hangs in the handshake until
 * its connect_timeout. Returns the fd (or -1); *port gets the port. */
static int silent_listener(int *port) {
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 16) != 0
        || getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(addr.sin_port);
    return fd;
}

/* "The pool's lock is never held during network I/O": while one caller is
 * stuck opening a connection, pool_stats and pool_close answer at once, and
 * the stuck connect ends with a server error after connect_timeout. */
static void test_lock_not_held_while_connecting(void) {
    pool_t *pool = NULL;
    struct waiter opener;
    pool_stats_t stats;
    char port_text[16];
    double start, took, deadline;
    int port = 0, fd = silent_listener(&port);
    if (!CHECK(fd >= 0))
        return;
    snprintf(port_text, sizeof port_text, "%d", port);
    if (!CHECK_RC(tl_create(&pool, tl_config("host", "127.0.0.1", "port", port_text,
                                             "connect_timeout", "2", "size", "1", "maxsize", "2",
                                             NULL)),
                  POOL_OK)) {
        close(fd);
        return;
    }
    start_waiter(&opener, pool, 10000);
    deadline = tl_now_ms() + 3000;
    do {
        tl_sleep_ms(5);
        stats = tl_stats(pool);
    } while (stats.opening == 0 && tl_now_ms() < deadline);
    CHECK_EQ_U64(stats.opening, 1);
    CHECK_EQ_U64(stats.total, 1);

    start = tl_now_ms();
    stats = tl_stats(pool);
    CHECK_RC(pool_close(pool), POOL_OK);
    took = tl_now_ms() - start;
    tl_check(took < 200, __FILE__, __LINE__, "pool_stats/pool_close do not wait for the connect",
             "took %.0f ms", took);

    pthread_join(opener.thread, NULL);
    CHECK(opener.rc == POOL_E_SERVER || opener.rc == POOL_E_CLOSED);
    tl_check(opener.waited_ms < 6000, __FILE__, __LINE__, "connect_timeout honoured",
             "the connect took %.0f ms", opener.waited_ms);
    stats = tl_stats(pool);
    CHECK_EQ_U64(stats.opening, 0);
    CHECK_EQ_U64(stats.total, 0);
    pool_destroy(pool);
    close(fd);
}

/* ------------------------------------------------------------------------
 * Bad handles: never a crash, always POOL_E_WRONG_HANDLE (or NULL / 0 from
 * getters), *out pointers reset to NULL.
 */

#define EXPECT_WRONG(call)                                                                         \
    do {                                                                                           \
        if (!CHECK_RC((call), POOL_E_WRONG_HANDLE))                                                \
            fprintf(stderr, "    (handle case: %s)\n", label);                                     \
        else if (fragment != NULL && !CHECK_CONTAINS(pool_last_error(), fragment))                 \
            fprintf(stderr, "    (handle case: %s)\n", label);                                     \
    } while (0)

static void expect_bad_conn(pool_t *pool, pool_conn_t *conn, const char *label,
                            const char *fragment) {
    pool_result_t *result = (pool_result_t *)0x1;
    pool_conn_info_t info;
    char to[16];
    size_t len;
    EXPECT_WRONG(pool_query(conn, "SELECT 1", 8));
    EXPECT_WRONG(pool_store_result(conn, &result));
    CHECK(result == NULL);
    result = (pool_result_t *)0x1;
    EXPECT_WRONG(pool_use_result(conn, &result));
    CHECK(result == NULL);
    EXPECT_WRONG(pool_next_result(conn));
    EXPECT_WRONG(pool_conn_info(conn, &info, sizeof info));
    EXPECT_WRONG(pool_commit(conn));
    EXPECT_WRONG(pool_rollback(conn));
    EXPECT_WRONG(pool_autocommit(conn, 1));
    EXPECT_WRONG(pool_ping(conn));
    EXPECT_WRONG(pool_select_db(conn, "x"));
    EXPECT_WRONG(pool_set_charset(conn, "latin1"));
    EXPECT_WRONG(pool_escape(conn, "a", 1, to, sizeof to, &len));
    CHECK(pool_conn_charset(conn) == NULL);
    CHECK_EQ_INT(pool_last_error_code(), POOL_E_WRONG_HANDLE);
    CHECK(pool_conn_server_info(conn) == NULL);
    CHECK(pool_conn_host_info(conn) == NULL);
    CHECK_EQ_INT(pool_conn_errno(conn), 0);
    CHECK_STR(pool_conn_sqlstate(conn), "HY000");
    CHECK(pool_conn_error(conn) != NULL && pool_conn_error(conn)[0] != '\0');
    EXPECT_WRONG(pool_release(pool, conn));
    EXPECT_WRONG(pool_discard(pool, conn));
}

static void expect_bad_pool(pool_t *pool, const char *label, const char *fragment) {
    pool_conn_t *conn = (pool_conn_t *)0x1;
    pool_stats_t stats;
    EXPECT_WRONG(pool_get_conn(pool, 0, &conn));
    CHECK(conn == NULL);
    conn = (pool_conn_t *)0x1;
    EXPECT_WRONG(pool_get_conn_ex(pool, 0, 0, 0, &conn));
    CHECK(conn == NULL);
    EXPECT_WRONG(pool_stats(pool, &stats, sizeof stats));
    EXPECT_WRONG(pool_close(pool));
    CHECK(pool_name(pool) == NULL);
    EXPECT_WRONG(pool_release(pool, NULL));
    pool_destroy(pool); /* a no-op for anything that is not a live pool */
}

static void expect_bad_result(pool_result_t *result, const char *label, const char *fragment) {
    const char *const *values;
    const size_t *lengths;
    pool_field_t f;
    CHECK_EQ_INT(pool_result_field_count(result), 0);
    CHECK_EQ_U64(pool_result_row_count(result), 0);
    EXPECT_WRONG(pool_result_field(result, 0, &f, sizeof f));
    EXPECT_WRONG(pool_result_fetch(result, &values, &lengths));
    EXPECT_WRONG(pool_result_seek(result, 0));
    pool_result_free(result); /* a no-op */
}

static void test_bad_handles_null_and_made_up(void) {
    pool_config_t *config = tl_config_env();
    pool_t *pool = NULL;
    pool_conn_t *conn;
    pool_result_t *result;
    if (!CHECK_RC(pool_create(config, &pool), POOL_OK))
        return;
    conn = borrow(pool);
    result = store(conn, "SELECT 1");

    expect_bad_conn(pool, NULL, "NULL conn", "NULL");
    expect_bad_pool(NULL, "NULL pool", "NULL");
    expect_bad_result(NULL, "NULL result", "NULL");

    expect_bad_conn(pool, (pool_conn_t *)0x1234, "conn 0x1234", "0x1234");
    expect_bad_conn(pool, (pool_conn_t *)(uintptr_t)0xdeadbeef, "conn 0xdeadbeef", NULL);
    expect_bad_conn(pool, (pool_conn_t *)(uintptr_t)UINTPTR_MAX, "conn ~0", NULL);
    expect_bad_conn(pool, (pool_conn_t *)(void *)&conn, "conn = a stack address", NULL);
    expect_bad_pool((pool_t *)(uintptr_t)0xdeadbeef, "pool 0xdeadbeef", NULL);
    expect_bad_pool((pool_t *)0x1234, "pool 0x1234", NULL);
    expect_bad_result((pool_result_t *)(uintptr_t)0xdeadbeef, "result 0xdeadbeef", NULL);

    /* Handles of the wrong kind. */
    expect_bad_conn(pool, (pool_conn_t *)(void *)pool, "pool passed as conn", "pool");
    expect_bad_conn(pool, (pool_conn_t *)(void *)result, "result passed as conn", "result");
    expect_bad_conn(pool, (pool_conn_t *)(void *)config, "config passed as conn", NULL);
    expect_bad_pool((pool_t *)(void *)conn, "conn passed as pool", "connection");
    expect_bad_result((pool_result_t *)(void *)conn, "conn passed as result", NULL);
    CHECK_RC(pool_config_set((pool_config_t *)(void *)pool, "host", "x"), POOL_E_WRONG_HANDLE);
    pool_config_free((pool_config_t *)(void *)pool); /* must not free the pool */
    CHECK_RC(pool_release((pool_t *)(void *)conn, (pool_conn_t *)(void *)pool),
             POOL_E_WRONG_HANDLE);

    /* After all that, the real handles still work. */
    {
        const char *const *values;
        const size_t *lengths;
        CHECK_RC(pool_result_fetch(result, &values, &lengths), POOL_ROW);
    }
    pool_result_free(result);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 5"), 5);
    CHECK_RC(pool_release(pool, conn), POOL_OK);
    CHECK(pool_name(pool) != NULL);
    pool_config_free(config);
    pool_destroy(pool);
}

static void test_bad_handles_stale(void) {
    pool_t *pool = NULL;
    pool_conn_t *conn;
    if (!CHECK_RC(tl_pool(&pool, "size", "1", "maxsize", "1", NULL), POOL_OK))
        return;
    conn = borrow(pool);
    CHECK_RC(pool_release(pool, conn), POOL_OK);
    /* Double release. */
    CHECK_RC(pool_release(pool, conn), POOL_E_WRONG_HANDLE);
    tl_check(strstr(pool_last_error(), "stale") != NULL
                 || strstr(pool_last_error(), "released") != NULL,
             __FILE__, __LINE__, "message says stale/released", "message: \"%s\"",
             pool_last_error());
    expect_bad_conn(pool, conn, "released conn", NULL);

    /* The slot is reused by the next borrow: the old handle must stay dead. */
    {
        pool_conn_t *again = borrow(pool);
        CHECK(again != conn);
        expect_bad_conn(pool, conn, "released conn, slot reused", NULL);
        CHECK_EQ_INT(tl_query_int(again, "SELECT 1"), 1);
        CHECK_RC(pool_release(pool, again), POOL_OK);
    }
    CHECK_EQ_U64(tl_stats(pool).releases, 2);
    pool_destroy(pool);
}

static void test_release_into_other_pool(void) {
    pool_t *mine = NULL, *other = NULL;
    pool_conn_t *conn;
    CHECK_RC(tl_pool(&mine, "name", "mine", NULL), POOL_OK);
    CHECK_RC(tl_pool(&other, "name", "other", NULL), POOL_OK);
    if (!mine || !other)
        goto out;
    conn = borrow(mine);
    CHECK_RC(pool_release(other, conn), POOL_E_WRONG_HANDLE);
    CHECK_CONTAINS(pool_last_error(), "other");
    CHECK_RC(pool_discard(other, conn), POOL_E_WRONG_HANDLE);
    CHECK_EQ_U64(tl_stats(other).releases, 0);
    /* Nothing changed: the connection works and goes back to its own pool. */
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 6"), 6);
    CHECK_RC(pool_release(mine, conn), POOL_OK);
    CHECK_EQ_U64(tl_stats(mine).idle, 1);
out:
    pool_destroy(mine);
    pool_destroy(other);
}

static void test_result_after_free_and_release(void) {
    pool_conn_t *conn = borrow(shared);
    pool_result_t *result;
    if (!conn)
        return;
    result = store(conn, "SELECT 1");
    pool_result_free(result);
    expect_bad_result(result, "freed result", NULL);
    pool_result_free(result); /* double free: no-op */

    /* Left open at release: freed by the pool, the handle goes stale. */
    result = store(conn, "SELECT 2");
    CHECK_RC(pool_release(shared, conn), POOL_OK);
    expect_bad_result(result, "result of a released conn", NULL);

    /* Same for a streaming result. */
    conn = borrow(shared);
    result = NULL;
    CHECK_RC(pool_query(conn, "SELECT seq FROM seq_1_to_1000", 29), POOL_OK);
    CHECK_RC(pool_use_result(conn, &result), POOL_OK);
    CHECK_RC(pool_release(shared, conn), POOL_OK);
    expect_bad_result(result, "stream of a released conn", NULL);
}

static void test_destroy(void) {
    pool_t *pool = NULL;
    pool_conn_t *conn;
    pool_destroy(NULL);
    if (!CHECK_RC(tl_pool(&pool, "size", "1", "maxsize", "1", NULL), POOL_OK))
        return;
    conn = borrow(pool);
    CHECK_RC(pool_release(pool, conn), POOL_OK);
    pool_destroy(pool);
    pool_destroy(pool); /* twice: a no-op */
    expect_bad_pool(pool, "destroyed pool", "destroyed");
    expect_bad_conn(pool, conn, "conn of a destroyed pool", NULL);
}

/* The header: connections still borrowed when the pool is destroyed stay
 * usable until released, then close; pool_release and pool_discard take
 * them back with the destroyed pool's handle, which every other call
 * refuses, and which is refused by all once the last one is back. */
static void test_destroy_with_borrowed(void) {
    pool_t *pool = NULL;
    pool_conn_t *conn, *conn2, *none = NULL;
    pool_stats_t stats;
    uint64_t id;
    if (!CHECK_RC(tl_pool(&pool, "size", "2", "maxsize", "2", NULL), POOL_OK))
        return;
    conn = borrow(pool);
    conn2 = borrow(pool);
    id = tl_info(conn).thread_id;
    pool_destroy(pool);
    /* The borrowed connections still work... */
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 1"), 1);
    /* ...while the pool handle is refused for anything but taking them back. */
    CHECK(pool_name(pool) == NULL);
    CHECK_RC(pool_get_conn(pool, 0, &none), POOL_E_WRONG_HANDLE);
    CHECK_RC(pool_stats(pool, &stats, sizeof stats), POOL_E_WRONG_HANDLE);
    CHECK_RC(pool_close(pool), POOL_E_WRONG_HANDLE);
    CHECK_RC(pool_release(pool, conn), POOL_OK);
    CHECK(server_thread_gone(id)); /* closed on the server, not kept */
    CHECK_RC(pool_release(pool, conn), POOL_E_WRONG_HANDLE); /* released already */
    CHECK_RC(pool_discard(pool, conn2), POOL_OK);            /* the last one */
    /* After which the pool handle is gone for good. */
    CHECK_RC(pool_release(pool, conn2), POOL_E_WRONG_HANDLE);
    CHECK_CONTAINS(pool_last_error(), "pool handle is stale");
    pool_destroy(pool);
}

/* ------------------------------------------------------------------------
 * Stats struct sizes
 */

/* The pickle entry points (for language bindings): argument checks, and a
 * stream that starts with PROTO 3 and ends with STOP. The values themselves
 * are checked against PyMySQL by the Python suite. */
static void test_pickle_entry_points(void) {
    pool_conn_t *conn = borrow(shared);
    pool_result_t *res = NULL;
    const char *bytes = NULL;
    size_t length = 0;
    uint64_t rows = 0;
    CHECK_RC(pool_query_pickle(NULL, "SELECT 1", 8, 0, &bytes, &length), POOL_E_WRONG_HANDLE);
    CHECK_RC(pool_query_pickle(conn, "SELECT 1", 8, 0, NULL, &length), POOL_E_BAD_ARGUMENT);
    CHECK_RC(pool_query_pickle(conn, "SELECT 1", 8, 0x80, &bytes, &length), POOL_E_BAD_ARGUMENT);
    CHECK_CONTAINS(pool_last_error(), "flag");
    CHECK_RC(pool_query_pickle(conn, "SELECT 1, 'a', NULL", 19, 0, &bytes, &length), POOL_OK);
    CHECK(length > 4 && (unsigned char)bytes[0] == 0x80 && bytes[1] == 3 && bytes[length - 1] == '.');
    CHECK_RC(pool_query_pickle(conn, "SELEC", 5, 0, &bytes, &length), POOL_E_SERVER);
    CHECK_EQ_INT(pool_last_errno(), 1064);
    CHECK_RC(pool_query_pickle_more(conn, 0, &bytes, &length), POOL_E_MISUSE);
    CHECK_RC(pool_query_pickle_more(NULL, 0, &bytes, &length), POOL_E_WRONG_HANDLE);

    /* ~6 MB of rows: batches whose tail is None ("N" "t" STOP) until the last. */
    static const char big[] = "SELECT REPEAT('x', 2000) FROM seq_1_to_3000";
    CHECK_RC(pool_query_pickle(conn, big, sizeof big - 1, 0, &bytes, &length), POOL_OK);
    int batches = 1;
    while (length >= 3 && memcmp(bytes + length - 3, "Nt.", 3) == 0 && batches < 100) {
        CHECK_RC(pool_query_pickle_more(conn, 0, &bytes, &length), POOL_OK);
        batches++;
    }
    CHECK(batches >= 4 && batches < 100);
    CHECK_RC(pool_query_pickle_more(conn, 0, &bytes, &length), POOL_E_MISUSE);
    /* Abandoned half-way: other calls are refused, the next pickle query drains it. */
    CHECK_RC(pool_query_pickle(conn, big, sizeof big - 1, 0, &bytes, &length), POOL_OK);
    CHECK_RC(pool_query(conn, "SELECT 1", 8), POOL_E_MISUSE);
    CHECK_RC(pool_query_pickle(conn, "SELECT 1", 8, 0, &bytes, &length), POOL_OK);
    CHECK(length > 4 && bytes[length - 1] == '.' && memcmp(bytes + length - 3, "Nt.", 3) != 0);

    CHECK_RC(pool_query(conn, "SELECT 1 UNION ALL SELECT 2", 27), POOL_OK);
    CHECK_RC(pool_store_result(conn, &res), POOL_OK);
    CHECK_RC(pool_result_fields_pickle(res, 0, &bytes, &length), POOL_OK);
    CHECK(length > 4 && (unsigned char)bytes[0] == 0x80 && bytes[length - 1] == '.');
    CHECK_RC(pool_result_fields_pickle(res, 8, &bytes, &length), POOL_E_BAD_ARGUMENT);
    CHECK_RC(pool_result_fields_pickle(res, 0, NULL, &length), POOL_E_BAD_ARGUMENT);
    CHECK_RC(pool_result_fetch_pickle(res, 1, 0, &bytes, &length, &rows), POOL_OK);
    CHECK_EQ_U64(rows, 1);
    CHECK_RC(pool_result_fetch_pickle(res, 0, 3, &bytes, &length, &rows), POOL_OK);
    CHECK_EQ_U64(rows, 1);
    CHECK_RC(pool_result_fetch_pickle(res, 0, 0, &bytes, &length, &rows), POOL_OK);
    CHECK_EQ_U64(rows, 0);
    CHECK_RC(pool_result_fetch_pickle(res, 0, 4, &bytes, &length, &rows), POOL_E_BAD_ARGUMENT);
    CHECK_RC(pool_result_fetch_pickle(res, 0, 0, NULL, &length, &rows), POOL_E_BAD_ARGUMENT);
    pool_result_free(res);
    CHECK_RC(pool_result_fetch_pickle(res, 0, 0, &bytes, &length, &rows), POOL_E_WRONG_HANDLE);
    CHECK_RC(pool_result_fields_pickle(res, 0, &bytes, &length), POOL_E_WRONG_HANDLE);
    CHECK_RC(pool_release(shared, conn), POOL_OK);
}

static void test_stats_sizes(void) {
    pool_stats_t buf[2];
    unsigned char *bytes = (unsigned char *)buf;
    size_t i, untouched = 0;
    pool_conn_t *conn = borrow(shared);
    CHECK_RC(pool_stats(shared, buf, 8), POOL_E_BAD_ARGUMENT);
    CHECK_RC(pool_stats(shared, buf, 15), POOL_E_BAD_ARGUMENT);
    CHECK_RC(pool_stats(shared, NULL, sizeof buf[0]), POOL_E_BAD_ARGUMENT);

    memset(buf, 0xAB, sizeof buf);
    CHECK_RC(pool_stats(shared, buf, 16), POOL_OK);
    CHECK_EQ_U64(buf[0].struct_size, 16);
    CHECK_EQ_U64(buf[0].total, tl_stats(shared).total);
    CHECK(buf[0].total >= 1);
    for (i = 16; i < sizeof buf; i++)
        untouched += bytes[i] == 0xAB;
    CHECK_EQ_U64(untouched, sizeof buf - 16);

    /* More room than the struct: fills sizeof(pool_stats_t), no more. */
    memset(buf, 0xAB, sizeof buf);
    CHECK_RC(pool_stats(shared, buf, sizeof buf), POOL_OK);
    CHECK_EQ_U64(buf[0].struct_size, sizeof(pool_stats_t));
    CHECK_EQ_U64(buf[0].in_use, 1);
    CHECK_EQ_U64(buf[0].total, buf[0].idle + buf[0].in_use + buf[0].opening);
    CHECK_EQ_U64(buf[0].size, 10);
    CHECK_EQ_U64(buf[0].maxsize, 10);
    for (i = sizeof buf[0], untouched = 0; i < sizeof buf; i++)
        untouched += bytes[i] == 0xAB;
    CHECK_EQ_U64(untouched, sizeof buf[1]);
    pool_release(shared, conn);
}

int main(int argc, char **argv) {
    int rc;
    tl_init(argc, argv);
    tl_require_server();
    if (tl_pool(&shared, "name", "shared", "size", "10", "maxsize", "10", NULL) != POOL_OK) {
        fprintf(stderr, "FATAL: cannot create the shared pool: %s\n", pool_last_error());
        printf("0 passed, 1 failed\n");
        return 1;
    }

    RUN(test_version);
    RUN(test_strerror);
    RUN(test_python_objects_arguments);
    RUN(test_last_error_local_failure);

    RUN(test_config_unknown_key);
    RUN(test_config_bad_values);
    RUN(test_config_good_values);
    RUN(test_config_password_never_echoed);
    RUN(test_config_null_arguments);
    RUN(test_config_oversize_host);
    RUN(test_config_free);

    RUN(test_create_bad_limits);
    RUN(test_create_null_out);
    RUN(test_create_unreachable);
    RUN(test_create_wrong_password);
    RUN(test_pool_name);

    RUN(test_select_simple);
    RUN(test_column_types);
    RUN(test_field_metadata);
    RUN(test_field_partial_size);
    RUN(test_use_result_streaming);
    RUN(test_multi_results);
    RUN(test_multi_statements_off);
    RUN(test_statement_info);
    RUN(test_conn_info_sizes);
    RUN(test_sql_mode_empty);
    RUN(test_init_command);
    RUN(test_charset_option);
    RUN_THROWAWAY(test_unix_socket, "needs the server's unix socket");
    RUN(test_localhost_means_tcp);
    RUN(test_ssl_required);
    RUN(test_read_timeout);
    RUN(test_server_errors);

    RUN(test_transactions);
    RUN(test_release_rolls_back);
    RUN(test_session_functions);
    RUN_THROWAWAY(test_select_other_database, "creates and drops another database");

    RUN(test_escape_basic);
    RUN(test_escape_no_backslash_escapes);
    RUN(test_escape_gbk);
    RUN(test_escape_bounds);

    RUN(test_exhausted_timeout);
    RUN(test_default_get_timeout);
    RUN(test_release_wakes_waiter);
    RUN(test_overflow_closed_on_release);
    RUN(test_overflow_after);
    RUN(test_lifetime);
    RUN(test_discard);
    RUN(test_killed_connection);
    RUN(test_ping_dead_connection);
    RUN(test_reset_fails_closes);
    RUN(test_get_ping_replaces_dead);
    RUN(test_socket_check_replaces_dead);
    RUN(test_dead_connection_triggers_validation_of_older_ones);
    RUN(test_reset_connection_option);
    RUN(test_health_config_values);
    RUN(test_leak_detection_and_log_callback);
    RUN(test_idle_timeout_and_min_idle);
    RUN(test_fork_child_starts_over);
    RUN(test_host_lists);
    RUN(test_get_flags);
    RUN(test_borrow);
    RUN(test_take_and_return);
    RUN(test_last_pool_cache);
    RUN(test_closed_connections_free_their_handles);
    RUN(test_close_wakes_waiter);
    RUN(test_close_idle);
    RUN(test_waiters_fifo);
    RUN(test_lock_not_held_while_connecting);

    RUN(test_bad_handles_null_and_made_up);
    RUN(test_bad_handles_stale);
    RUN(test_release_into_other_pool);
    RUN(test_result_after_free_and_release);
    RUN(test_destroy);
    RUN(test_destroy_with_borrowed);
    RUN(test_pickle_entry_points);
    RUN(test_stats_sizes);

    pool_destroy(shared);
    rc = test_summary();
    return rc;
}
