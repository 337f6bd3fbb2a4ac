/*
 * test_params.c: pool_query_params, client-side binding of `?` parameters.
 * Every type's literal as the server reads it back, placeholders inside
 * strings, names and comments left alone, counts and bad values refused
 * before anything is sent, and an injection corpus (quotes, backslashes,
 * NUL, gbk/big5/sjis/cp932 lead bytes before a backslash or a quote, with and
 * without NO_BACKSLASH_ESCAPES) that must come back byte for byte and never
 * alter the statement.
 *
 * Run under scripts/server/with-mariadb.sh.
 */
#define _POSIX_C_SOURCE 200809L

#include "testlib.h"

static pool_t *pool;

/* Runs `sql` with params; the first row's cells must be `want` (NULL: SQL NULL). */
static void expect_row(pool_conn_t *conn, const char *sql, size_t n, const pool_param_t *params, size_t columns,
                       const char *const *want) {
    pool_result_t *result = NULL;
    const char *const *values;
    const size_t *lengths;
    size_t i;
    if (!CHECK_RC(pool_query_params(conn, sql, strlen(sql), n, params), POOL_OK) ||
        !CHECK_RC(pool_store_result(conn, &result), POOL_OK))
        return;
    if (CHECK_RC(pool_result_fetch(result, &values, &lengths), POOL_ROW))
        for (i = 0; i < columns; i++) {
            if (want[i] == NULL)
                tl_check(values[i] == NULL, __FILE__, __LINE__, "NULL cell", "column %zu of %s", i, sql);
            else
                CHECK_MEM(values[i], lengths[i], want[i], strlen(want[i]));
        }
    pool_result_free(result);
}

static void test_every_type(void) {
    pool_conn_t *conn = NULL;
    pool_param_t p[TL_EVERY_TYPE_COUNT];
    if (!CHECK_RC(pool_get_conn(pool, 5000, &conn), POOL_OK))
        return;
    tl_every_type(p);
    /* Each literal as the server reads it: CAST to text where the type would
     * otherwise be formatted by the client. */
    expect_row(conn, TL_EVERY_TYPE_SQL, TL_EVERY_TYPE_COUNT, p, TL_EVERY_TYPE_COUNT, TL_EVERY_TYPE_TEXT);
    /* The DOUBLE's shortest text reads back as the same double. */
    p[0] = tl_param(POOL_PARAM_DOUBLE);
    p[0].value.f64 = 1.0 / 3.0;
    {
        static const char *const third[1] = {"1"};
        expect_row(conn, "SELECT ? = 1e0/3e0", 1, p, 1, third);
    }
    pool_release(pool, conn);
}

static void test_placeholders_are_found_lexically(void) {
    pool_conn_t *conn = NULL;
    pool_param_t p[2];
    static const char *const want[5] = {"?", "?", "one", "two", "1"};
    static const char sql[] =
        "SELECT '?', \"?\", ? -- ?\n, /* ? */ ?, `x?` FROM (SELECT 1 AS `x?`) t # ?";
    if (!CHECK_RC(pool_get_conn(pool, 5000, &conn), POOL_OK))
        return;
    p[0] = tl_text("one", 3);
    p[1] = tl_text("two", 3);
    expect_row(conn, sql, 2, p, 5, want);
    /* An escaped quote does not end the string; a doubled one neither. */
    expect_row(conn, "SELECT 'it\\'s ?', 'a''?', ?", 1, p, 3,
               (const char *const[]){"it's ?", "a'?", "one"});
    /* An executable comment (slash-star-bang) is run by the server: a ? there is a placeholder. */
    expect_row(conn, "SELECT /*! ?, */ 1", 1, p, 2, (const char *const[]){"one", "1"});
    /* Too few, too many: refused, with both counts; nothing was sent. */
    CHECK_RC(pool_query_params(conn, sql, sizeof sql - 1, 1, p), POOL_E_BAD_ARGUMENT);
    CHECK_CONTAINS(pool_last_error(), "2 placeholder(s) but 1 parameter(s)");
    CHECK_RC(pool_query_params(conn, "SELECT 1", 8, 1, p), POOL_E_BAD_ARGUMENT);
    CHECK_CONTAINS(pool_last_error(), "0 placeholder(s) but 1 parameter(s)");
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 7"), 7); /* the connection is fine */
    pool_release(pool, conn);
}

static void test_bad_values_are_refused(void) {
    pool_conn_t *conn = NULL;
    pool_param_t p;
    if (!CHECK_RC(pool_get_conn(pool, 5000, &conn), POOL_OK))
        return;
    p = tl_param(POOL_PARAM_DOUBLE);
    p.value.f64 = 1.0 / 0.0;
    CHECK_RC(pool_query_params(conn, "SELECT ?", 8, 1, &p), POOL_E_BAD_ARGUMENT);
    CHECK_CONTAINS(pool_last_error(), "parameter 1");
    p = tl_param(POOL_PARAM_DECIMAL);
    p.value.bytes.data = "1; DROP TABLE x", p.value.bytes.length = 15;
    CHECK_RC(pool_query_params(conn, "SELECT ?", 8, 1, &p), POOL_E_BAD_ARGUMENT);
    CHECK_CONTAINS(pool_last_error(), "not a decimal");
    p = tl_param(POOL_PARAM_DATE);
    p.value.time.year = 2026, p.value.time.month = 13, p.value.time.day = 1;
    CHECK_RC(pool_query_params(conn, "SELECT ?", 8, 1, &p), POOL_E_BAD_ARGUMENT);
    p = tl_param(POOL_PARAM_TIME);
    p.value.time.hour = 839;
    CHECK_RC(pool_query_params(conn, "SELECT ?", 8, 1, &p), POOL_E_BAD_ARGUMENT);
    p = tl_param(POOL_PARAM_DATETIME);
    p.value.time.year = 2026, p.value.time.month = 1, p.value.time.day = 1, p.value.time.hour = 24;
    CHECK_RC(pool_query_params(conn, "SELECT ?", 8, 1, &p), POOL_E_BAD_ARGUMENT);
    p = tl_text(NULL, 3);
    CHECK_RC(pool_query_params(conn, "SELECT ?", 8, 1, &p), POOL_E_BAD_ARGUMENT);
    CHECK_CONTAINS(pool_last_error(), "data is NULL");
    p = tl_param(77);
    CHECK_RC(pool_query_params(conn, "SELECT ?", 8, 1, &p), POOL_E_BAD_ARGUMENT);
    CHECK_CONTAINS(pool_last_error(), "unknown type 77");
    CHECK_RC(pool_query_params(conn, "SELECT ?", 8, 1, NULL), POOL_E_BAD_ARGUMENT);
    CHECK_RC(pool_query_params(NULL, "SELECT 1", 8, 0, NULL), POOL_E_WRONG_HANDLE);
    p = tl_text("", 0);
    expect_row(conn, "SELECT ?", 1, &p, 1, (const char *const[]){""});
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 8"), 8);
    pool_release(pool, conn);
}

/* Values that would break a statement built by hand, per charset. */
static const struct {
    const char *charset;
    const char *value;
    size_t length;
} corpus[] = {
    {"utf8mb4", "' OR '1'='1", 11},
    {"utf8mb4", "\\' OR 1=1 -- ", 13},
    {"utf8mb4", "a\0b'c\\", 6},
    {"utf8mb4", "\xf0\x9f\x98\x80'?", 6},
    {"gbk", "\xbf\x5c' OR 1=1 -- ", 15},
    {"gbk", "\xbf' OR 1=1 -- ", 14},
    {"big5", "\xa5\x5c' OR 1=1 -- ", 15},
    {"sjis", "\x95\x5c' OR 1=1 -- ", 15},
    {"cp932", "\x81\x5c' OR 1=1 -- ", 15},
};

/* INSERT the value with a parameter, then count the rows and read it back:
 * exactly one row, the same bytes. */
static void injection_round(pool_conn_t *conn, const char *charset, const char *value, size_t length) {
    pool_result_t *result = NULL;
    const char *const *values;
    const size_t *lengths;
    pool_param_t p[2];
    static const char insert[] = "INSERT INTO inj (k, b) VALUES (?, ?)";
    tl_exec(conn, "DELETE FROM inj");
    p[0] = tl_text(charset, strlen(charset));
    p[1] = tl_param(POOL_PARAM_BINARY); /* the reference copy: hex, charset-proof */
    p[1].value.bytes.data = value, p[1].value.bytes.length = length;
    if (!CHECK_RC(pool_query_params(conn, insert, sizeof insert - 1, 2, p), POOL_OK))
        return;
    p[1] = tl_text(value, length);
    /* The same value as text, compared by the server with the reference. */
    static const char check[] = "SELECT COUNT(*), SUM(CAST(? AS BINARY) = b) FROM inj WHERE k = ?";
    p[0] = p[1];
    p[1] = tl_text(charset, strlen(charset));
    if (!CHECK_RC(pool_query_params(conn, check, sizeof check - 1, 2, p), POOL_OK) ||
        !CHECK_RC(pool_store_result(conn, &result), POOL_OK))
        return;
    if (CHECK_RC(pool_result_fetch(result, &values, &lengths), POOL_ROW)) {
        tl_check(lengths[0] == 1 && values[0][0] == '1', __FILE__, __LINE__, "one row", "%s: %.*s rows",
                 charset, (int)lengths[0], values[0]);
        tl_check(values[1] != NULL && lengths[1] == 1 && values[1][0] == '1', __FILE__, __LINE__,
                 "the value came back unchanged", "%s", charset);
    }
    pool_result_free(result);
}

static void test_injection_corpus(void) {
    pool_conn_t *conn = NULL;
    size_t i;
    int mode;
    if (!CHECK_RC(pool_get_conn(pool, 5000, &conn), POOL_OK))
        return;
    tl_exec(conn, "CREATE OR REPLACE TABLE inj (k VARCHAR(16), b VARBINARY(200)) DEFAULT CHARSET=latin1");
    for (mode = 0; mode < 2; mode++) {
        tl_exec(conn, mode ? "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'" : "SET SESSION sql_mode = DEFAULT");
        for (i = 0; i < sizeof corpus / sizeof corpus[0]; i++) {
            if (!CHECK_RC(pool_set_charset(conn, corpus[i].charset), POOL_OK))
                continue;
            injection_round(conn, corpus[i].charset, corpus[i].value, corpus[i].length);
        }
    }
    CHECK_RC(pool_set_charset(conn, "utf8mb4"), POOL_OK);
    tl_exec(conn, "SET SESSION sql_mode = DEFAULT");
    tl_exec(conn, "DROP TABLE inj");
    pool_release(pool, conn);
}

int main(int argc, char **argv) {
    tl_init(argc, argv);
    tl_require_server();
    if (!CHECK_RC(tl_pool(&pool, "maxsize", "2", NULL), POOL_OK))
        return test_summary();
    RUN(test_every_type);
    RUN(test_placeholders_are_found_lexically);
    RUN(test_bad_values_are_refused);
    RUN(test_injection_corpus);
    pool_destroy(pool);
    return test_summary();
}
