/*
 * test_stmt.c: server-side prepared statements and the per-connection
 * statement cache. Every column type reads the same through the binary
 * protocol as through the text protocol; parameters of every type; `?`
 * inside strings, names and comments; the injection corpus; cache hits,
 * misses and evictions in pool_stats and in the server's own counters; the
 * cache across releases, resets, a server restart and max_prepared_stmt_count;
 * statement handles checked (stale, foreign, after release).
 *
 * Run under scripts/server/with-mariadb.sh.
 */
#define _POSIX_C_SOURCE 200809L

#include "testlib.h"

static pool_t *pool;

static pool_param_t int64(int64_t value) {
    pool_param_t p = tl_param(POOL_PARAM_INT64);
    p.value.i64 = value;
    return p;
}

static pool_stmt_t *prepare(pool_conn_t *conn, const char *sql) {
    pool_stmt_t *stmt = NULL;
    if (pool_stmt_prepare(conn, sql, strlen(sql), &stmt) != POOL_OK)
        fprintf(stderr, "prepare(\"%s\"): %s\n", sql, pool_last_error());
    return stmt;
}

/* Executes and checks the first row's cells against `want` (NULL: SQL NULL). */
static void expect_stmt_row(pool_conn_t *conn, pool_stmt_t *stmt, size_t n, const pool_param_t *params,
                            size_t columns, const char *const *want) {
    pool_result_t *result = NULL;
    const char *const *values;
    const size_t *lengths;
    size_t i;
    if (!CHECK_RC(pool_stmt_execute(stmt, n, params), POOL_OK) || !CHECK_RC(pool_store_result(conn, &result), POOL_OK))
        return;
    if (CHECK_RC(pool_result_fetch(result, &values, &lengths), POOL_ROW))
        for (i = 0; i < columns; i++) {
            if (want[i] == NULL)
                tl_check(values[i] == NULL, __FILE__, __LINE__, "NULL cell", "column %zu", i);
            else
                CHECK_MEM(values[i], lengths[i], want[i], strlen(want[i]));
        }
    pool_result_free(result);
}

static long long session_status(pool_conn_t *conn, const char *name) {
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = '%s'",
             name);
    return tl_query_int(conn, sql);
}

static void test_parameters_of_every_type(void) {
    pool_conn_t *conn = NULL;
    pool_stmt_t *stmt;
    pool_param_t p[TL_EVERY_TYPE_COUNT];
    if (!CHECK_RC(pool_get_conn(pool, 5000, &conn), POOL_OK))
        return;
    tl_every_type(p);
    stmt = prepare(conn, TL_EVERY_TYPE_SQL);
    if (CHECK(stmt != NULL)) {
        CHECK_EQ_INT(pool_stmt_param_count(stmt), TL_EVERY_TYPE_COUNT);
        expect_stmt_row(conn, stmt, TL_EVERY_TYPE_COUNT, p, TL_EVERY_TYPE_COUNT, TL_EVERY_TYPE_TEXT);
        /* A wrong count names both counts; nothing is sent. */
        CHECK_RC(pool_stmt_execute(stmt, 11, p), POOL_E_BAD_ARGUMENT);
        CHECK_CONTAINS(pool_last_error(), "12 placeholder(s) but 11 parameter(s)");
        p[3].value.f64 = 0.0 / 0.0;
        CHECK_RC(pool_stmt_execute(stmt, 12, p), POOL_E_BAD_ARGUMENT);
        CHECK_CONTAINS(pool_last_error(), "parameter 4");
        p[9].value.bytes.data = "1; DROP TABLE x", p[9].value.bytes.length = 15;
        p[3].value.f64 = 0.1;
        CHECK_RC(pool_stmt_execute(stmt, 12, p), POOL_E_BAD_ARGUMENT);
        CHECK_CONTAINS(pool_last_error(), "not a decimal");
        CHECK_RC(pool_stmt_execute(stmt, 12, NULL), POOL_E_BAD_ARGUMENT);
        CHECK_RC(pool_stmt_close(stmt), POOL_OK);
    }
    /* The server finds the placeholders: not in strings, names or comments. */
    stmt = prepare(conn, "SELECT '?', \"?\", ? -- ?\n, /* ? */ ?, `x?` FROM (SELECT 1 AS `x?`) t # ?");
    if (CHECK(stmt != NULL)) {
        pool_param_t two[2];
        static const char *const placeholders[5] = {"?", "?", "one", "two", "1"};
        two[0] = tl_text("one", 3);
        two[1] = tl_text("two", 3);
        CHECK_EQ_INT(pool_stmt_param_count(stmt), 2);
        expect_stmt_row(conn, stmt, 2, two, 5, placeholders);
        CHECK_RC(pool_stmt_close(stmt), POOL_OK);
    }
    /* A syntax error is the server's, and the connection is fine after it. */
    CHECK_RC(pool_stmt_prepare(conn, "SELEC ?", 7, &stmt), POOL_E_SERVER);
    CHECK_LAST_ERROR(POOL_E_SERVER, 1064, "42000");
    CHECK(stmt == NULL);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 5"), 5);
    pool_release(pool, conn);
}

/* Every cell of `sql`'s result, as "column=bytes|NULL;" lines, read through
 * pool_query or a prepared statement (stored or streamed). */
static size_t collect(pool_conn_t *conn, const char *sql, int prepared, int streaming, char *out, size_t size) {
    pool_result_t *result = NULL;
    pool_stmt_t *stmt = NULL;
    const char *const *values;
    const size_t *lengths;
    size_t used = 0, i;
    uint32_t columns;
    pool_field_t field;
    out[0] = '\0';
    if (prepared) {
        stmt = prepare(conn, sql);
        if (!CHECK(stmt != NULL) || !CHECK_RC(pool_stmt_execute(stmt, 0, NULL), POOL_OK))
            return 0;
    } else if (!CHECK_RC(pool_query(conn, sql, strlen(sql)), POOL_OK)) {
        return 0;
    }
    if (!CHECK_RC(streaming ? pool_use_result(conn, &result) : pool_store_result(conn, &result), POOL_OK) ||
        !CHECK(result != NULL))
        return 0;
    columns = pool_result_field_count(result);
    for (i = 0; i < columns; i++)
        if (CHECK_RC(pool_result_field(result, (uint32_t)i, &field, sizeof field), POOL_OK))
            used += (size_t)snprintf(out + used, size - used, "%.*s type=%u flags=%u cs=%u dec=%u\n",
                                     (int)field.name_length, field.name, field.type, field.flags & 0xFFFF,
                                     field.charsetnr, field.decimals);
    while (pool_result_fetch(result, &values, &lengths) == POOL_ROW) {
        for (i = 0; i < columns && used + 2 * lengths[i] + 16 < size; i++) {
            size_t k;
            if (values[i] == NULL) {
                used += (size_t)snprintf(out + used, size - used, "NULL;");
                continue;
            }
            for (k = 0; k < lengths[i]; k++)
                used += (size_t)snprintf(out + used, size - used, "%02x", (unsigned char)values[i][k]);
            used += (size_t)snprintf(out + used, size - used, ";");
        }
        used += (size_t)snprintf(out + used, size - used, "\n");
    }
    if (!streaming)
        CHECK_EQ_U64(pool_result_row_count(result), 3);
    pool_result_free(result);
    if (stmt)
        CHECK_RC(pool_stmt_close(stmt), POOL_OK);
    return used;
}

static void test_binary_rows_equal_text_rows(void) {
    pool_conn_t *conn = NULL;
    static char text_rows[65536], binary_rows[65536];
    static const char select_all[] = "SELECT * FROM types ORDER BY id";
    int streaming;
    if (!CHECK_RC(pool_get_conn(pool, 5000, &conn), POOL_OK))
        return;
    CHECK_RC(tl_exec(conn,
                     "CREATE OR REPLACE TABLE types (id INT PRIMARY KEY, ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT,"
                     " mi MEDIUMINT, i INT, iz INT(6) ZEROFILL, bi BIGINT, bu BIGINT UNSIGNED, f FLOAT, f2 FLOAT(7,3),"
                     " d DOUBLE, dz DOUBLE(10,4), dec1 DECIMAL(30,10), b BIT(12), y YEAR, dt DATE, tm TIME, tm6 TIME(6),"
                     " dtm DATETIME, dtm3 DATETIME(3), ts TIMESTAMP(6) NULL, c CHAR(5), vc VARCHAR(40), bin BINARY(4),"
                     " vb VARBINARY(10), tx TEXT, bl BLOB, e ENUM('a','b'), s SET('x','y'), j JSON, g GEOMETRY,"
                     " u VARCHAR(10) CHARACTER SET utf8mb4, l1 VARCHAR(10) CHARACTER SET latin1)"),
             POOL_OK);
    CHECK_RC(tl_exec(conn,
                     "INSERT INTO types VALUES"
                     " (1, -128, 255, -32768, -8388608, -2147483648, 42, -9223372036854775808, 18446744073709551615,"
                     "  1.1, 3.14159, 0.1, 2.5, -12345678901234567890.0123456789, b'101010101010', 2024, '2024-02-29',"
                     "  '-838:59:59', '12:34:56.000001', '2024-02-29 23:59:59', '2024-02-29 23:59:59.999',"
                     "  '2038-01-19 03:14:07.123456', 'ab', 'héllo wörld', 'ab', x'00ff', REPEAT('t', 300), x'00010203',"
                     "  'b', 'x,y', '{\"k\": [1, 2.5, null]}', ST_GeomFromText('POINT(1 2)'), '😀', 'café'),"
                     " (2, 0, 0, 0, 0, 0, 0, 0, 0, -3.4e38, -0.5, 1.7976931348623157e308, -0.0001, 0, b'0', 1901,"
                     "  '0000-00-00', '00:00:00', '-00:00:00.5', '0000-00-00 00:00:00', '1000-01-01 00:00:00.001',"
                     "  NULL, '', '', '', '', '', '', 'a', '', '[]', NULL, '', ''),"
                     " (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1e-40, NULL, 5e-324, NULL, NULL, NULL, NULL,"
                     "  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
                     "  NULL, NULL)"),
             POOL_OK);
    collect(conn, select_all, 0, 0, text_rows, sizeof text_rows);
    for (streaming = 0; streaming <= 1; streaming++) {
        collect(conn, select_all, 1, streaming, binary_rows, sizeof binary_rows);
        if (!tl_check(strcmp(text_rows, binary_rows) == 0, __FILE__, __LINE__, "binary rows == text rows",
                      "streaming=%d", streaming))
            fprintf(stderr, "text:\n%s\nbinary:\n%s\n", text_rows, binary_rows);
    }
    /* A value longer than the first buffer, streamed: the buffer grows. */
    {
        pool_stmt_t *stmt = prepare(conn, "SELECT REPEAT('x', 100000), ?");
        pool_result_t *result = NULL;
        const char *const *values;
        const size_t *lengths;
        pool_param_t p = int64(7);
        if (CHECK(stmt != NULL) && CHECK_RC(pool_stmt_execute(stmt, 1, &p), POOL_OK) &&
            CHECK_RC(pool_use_result(conn, &result), POOL_OK) &&
            CHECK_RC(pool_result_fetch(result, &values, &lengths), POOL_ROW)) {
            CHECK_EQ_U64(lengths[0], 100000);
            CHECK(values[0][0] == 'x' && values[0][99999] == 'x');
            CHECK_MEM(values[1], lengths[1], "7", 1);
            CHECK_RC(pool_result_fetch(result, &values, &lengths), POOL_DONE);
        }
        pool_result_free(result);
        pool_stmt_close(stmt);
    }
    tl_exec(conn, "DROP TABLE types");
    pool_release(pool, conn);
}

/* INSERT through a statement, UPDATE, affected rows and insert id, a
 * result left unread at release, the previous result still open, CALL. */
static void test_statement_outcomes(void) {
    pool_conn_t *conn = NULL;
    pool_stmt_t *insert, *select;
    pool_result_t *result = NULL, *second = NULL;
    pool_param_t p[2];
    const char *const *values;
    const size_t *lengths;
    if (!CHECK_RC(pool_get_conn(pool, 5000, &conn), POOL_OK))
        return;
    tl_exec(conn, "CREATE OR REPLACE TABLE outcomes (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10))");
    insert = prepare(conn, "INSERT INTO outcomes (v) VALUES (?), (?)");
    p[0] = tl_text("a", 1);
    p[1] = tl_text("b", 1);
    if (CHECK(insert != NULL) && CHECK_RC(pool_stmt_execute(insert, 2, p), POOL_OK)) {
        CHECK_RC(pool_store_result(conn, &result), POOL_OK);
        CHECK(result == NULL);
        CHECK_EQ_U64(tl_info(conn).affected_rows, 2);
        CHECK_EQ_U64(tl_info(conn).insert_id, 1);
    }
    select = prepare(conn, "SELECT id, v FROM outcomes WHERE id >= ? ORDER BY id");
    p[0] = int64(1);
    if (CHECK(select != NULL) && CHECK_RC(pool_stmt_execute(select, 1, p), POOL_OK)) {
        /* Nothing else runs while its result is unread... */
        CHECK_RC(pool_query(conn, "SELECT 1", 8), POOL_E_MISUSE);
        CHECK_RC(pool_store_result(conn, &result), POOL_OK);
        CHECK_EQ_U64(pool_result_row_count(result), 2);
        /* ... and the statement does not run again while its rows are read. */
        CHECK_RC(pool_stmt_execute(select, 1, p), POOL_E_MISUSE);
        CHECK_EQ_INT(tl_query_int(conn, "SELECT 6"), 6); /* other statements may */
        CHECK_RC(pool_result_seek(result, 1), POOL_OK);
        if (CHECK_RC(pool_result_fetch(result, &values, &lengths), POOL_ROW))
            CHECK_MEM(values[1], lengths[1], "b", 1);
        pool_result_free(result);
        CHECK_RC(pool_stmt_execute(select, 1, p), POOL_OK);
        CHECK_RC(pool_use_result(conn, &second), POOL_OK);
        CHECK_RC(pool_result_fetch(second, &values, &lengths), POOL_ROW);
        /* pool_stmt_close frees its open result: that handle is stale now. */
        CHECK_RC(pool_stmt_close(select), POOL_OK);
        CHECK_RC(pool_result_fetch(second, &values, &lengths), POOL_E_WRONG_HANDLE);
        CHECK_EQ_INT(tl_query_int(conn, "SELECT 8"), 8);
    }
    /* A prepared CALL: two result sets, then the procedure's status. */
    tl_exec(conn, "CREATE OR REPLACE PROCEDURE two_results() BEGIN SELECT 1; SELECT 2, 3; END");
    select = prepare(conn, "CALL two_results()");
    if (CHECK(select != NULL) && CHECK_RC(pool_stmt_execute(select, 0, NULL), POOL_OK)) {
        CHECK_RC(pool_store_result(conn, &result), POOL_OK);
        CHECK_EQ_INT(pool_result_field_count(result), 1);
        CHECK_RC(pool_next_result(conn), POOL_E_MISUSE); /* free the current one first */
        pool_result_free(result);
        result = NULL;
        CHECK_RC(pool_next_result(conn), POOL_OK);
        CHECK_RC(pool_store_result(conn, &result), POOL_OK);
        CHECK_EQ_INT(pool_result_field_count(result), 2);
        pool_result_free(result);
        /* The rest (the CALL's status) is read and dropped before the next statement. */
        CHECK_EQ_INT(tl_query_int(conn, "SELECT 9"), 9);
        /* Again, leaving both results unread. */
        CHECK_RC(pool_stmt_execute(select, 0, NULL), POOL_OK);
        CHECK_RC(pool_store_result(conn, &result), POOL_OK);
        pool_result_free(result);
        CHECK_EQ_INT(tl_query_int(conn, "SELECT 10"), 10);
        pool_stmt_close(select);
    }
    /* Executed, never read, released: the next borrower's wire is quiet. */
    select = prepare(conn, "SELECT id FROM outcomes");
    CHECK_RC(pool_stmt_execute(select, 0, NULL), POOL_OK);
    CHECK_RC(pool_stmt_close(insert), POOL_OK);
    CHECK_RC(pool_release(pool, conn), POOL_OK);
    CHECK_RC(pool_get_conn(pool, 5000, &conn), POOL_OK);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT COUNT(*) FROM outcomes"), 2);
    tl_exec(conn, "DROP TABLE outcomes");
    tl_exec(conn, "DROP PROCEDURE two_results");
    pool_release(pool, conn);
}

/* A result that fails as its rows are sent (BIGINT overflow): the
 * statement still runs again while held, and when given back it is closed,
 * not cached (libmariadb's state of it could make the next execute wait for
 * rows the server never sends: found by fuzz_params). */
static void test_failed_result_is_not_cached(void) {
    pool_t *p = NULL;
    pool_conn_t *conn = NULL;
    pool_stmt_t *stmt;
    pool_result_t *result = NULL;
    pool_param_t big[2];
    static const char *const six[1] = {"6"};
    int round;
    big[0] = int64(INT64_MAX / 2);
    big[1] = int64(INT64_MAX / 2);
    if (!CHECK_RC(tl_pool(&p, "size", "1", "maxsize", "1", NULL), POOL_OK))
        return;
    for (round = 0; round < 2; round++) {
        CHECK_RC(pool_get_conn(p, 5000, &conn), POOL_OK);
        stmt = prepare(conn, "SELECT ? * ?");
        CHECK_RC(pool_stmt_execute(stmt, 2, big), POOL_OK);
        CHECK_RC(pool_store_result(conn, &result), POOL_E_SERVER);
        CHECK_EQ_INT(pool_last_errno(), 1690);
        CHECK_EQ_INT(tl_query_int(conn, "SELECT 1"), 1);
        big[0] = int64(2), big[1] = int64(3);
        expect_stmt_row(conn, stmt, 2, big, 1, six); /* held: it still runs */
        big[0] = big[1] = int64(INT64_MAX / 2);
        CHECK_RC(pool_stmt_execute(stmt, 2, big), POOL_OK);
        CHECK_RC(pool_store_result(conn, &result), POOL_E_SERVER);
        CHECK_RC(pool_stmt_close(stmt), POOL_OK);
        CHECK_RC(pool_release(p, conn), POOL_OK);
    }
    CHECK_EQ_U64(tl_stats(p).stmt_prepares, 2); /* never served from the cache after failing */
    CHECK_EQ_U64(tl_stats(p).stmt_cache_hits, 0);
    pool_destroy(p);
}

/* The corpus of test_params, through prepared statements: the values travel
 * outside the statement's text, so none can alter it. */
static void test_injection_corpus(void) {
    static const struct {
        const char *charset, *value;
        size_t length;
    } corpus[] = {
        {"utf8mb4", "' OR '1'='1", 11},      {"utf8mb4", "\\' OR 1=1 -- ", 13},
        {"utf8mb4", "a\0b'c\\", 6},           {"gbk", "\xbf\x5c' OR 1=1 -- ", 15},
        {"gbk", "\xbf' OR 1=1 -- ", 14},      {"big5", "\xa5\x5c' OR 1=1 -- ", 15},
        {"sjis", "\x95\x5c' OR 1=1 -- ", 15}, {"cp932", "\x81\x5c' OR 1=1 -- ", 15},
    };
    pool_conn_t *conn = NULL;
    size_t i;
    int mode;
    if (!CHECK_RC(pool_get_conn(pool, 5000, &conn), POOL_OK))
        return;
    tl_exec(conn, "CREATE OR REPLACE TABLE inj (k VARCHAR(16), b VARBINARY(200), t VARBINARY(200)) DEFAULT CHARSET=latin1");
    for (mode = 0; mode < 2; mode++) {
        tl_exec(conn, mode ? "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'" : "SET SESSION sql_mode = DEFAULT");
        for (i = 0; i < sizeof corpus / sizeof corpus[0]; i++) {
            pool_stmt_t *insert, *check;
            pool_param_t p[3];
            static const char *const one_row[2] = {"1", "1"};
            if (!CHECK_RC(pool_set_charset(conn, corpus[i].charset), POOL_OK))
                continue;
            tl_exec(conn, "DELETE FROM inj");
            insert = prepare(conn, "INSERT INTO inj (k, b, t) VALUES (?, ?, CAST(? AS BINARY))");
            p[0] = tl_text(corpus[i].charset, strlen(corpus[i].charset));
            p[1] = tl_param(POOL_PARAM_BINARY);
            p[1].value.bytes.data = corpus[i].value, p[1].value.bytes.length = corpus[i].length;
            p[2] = tl_text(corpus[i].value, corpus[i].length);
            if (CHECK(insert != NULL))
                CHECK_RC(pool_stmt_execute(insert, 3, p), POOL_OK);
            pool_stmt_close(insert);
            check = prepare(conn, "SELECT COUNT(*), SUM(b = t) FROM inj WHERE k = ?");
            if (CHECK(check != NULL))
                expect_stmt_row(conn, check, 1, p, 2, one_row);
            pool_stmt_close(check);
        }
    }
    CHECK_RC(pool_set_charset(conn, "utf8mb4"), POOL_OK);
    tl_exec(conn, "SET SESSION sql_mode = DEFAULT");
    tl_exec(conn, "DROP TABLE inj");
    pool_release(pool, conn);
}

/* The cache: a hit costs no COM_STMT_PREPARE, even after the connection went
 * back to the pool; the least recently used goes first, closed on the
 * server; long statements are not kept; stats count all of it. */
static void test_cache_hits_misses_evictions(void) {
    pool_t *cached = NULL;
    pool_conn_t *conn;
    pool_stmt_t *a, *b, *c, *again;
    long long prepares, closes;
    pool_param_t p = int64(1);
    static const char *const one[1] = {"1"};
    char long_sql[64];
    if (!CHECK_RC(tl_pool(&cached, "size", "1", "maxsize", "1", "stmt_cache_size", "2", "stmt_cache_sql_limit", "30",
                          NULL), POOL_OK))
        return;
    conn = NULL;
    CHECK_RC(pool_get_conn(cached, 5000, &conn), POOL_OK);
    prepares = session_status(conn, "COM_STMT_PREPARE");
    a = prepare(conn, "SELECT ? /* a */");
    expect_stmt_row(conn, a, 1, &p, 1, one);
    CHECK_RC(pool_stmt_close(a), POOL_OK);
    CHECK_RC(pool_release(cached, conn), POOL_OK);
    CHECK_RC(pool_get_conn(cached, 5000, &conn), POOL_OK);
    again = prepare(conn, "SELECT ? /* a */"); /* a hit: no round trip */
    expect_stmt_row(conn, again, 1, &p, 1, one);
    CHECK_EQ_INT(session_status(conn, "COM_STMT_PREPARE"), prepares + 1);
    CHECK_EQ_U64(tl_stats(cached).stmt_prepares, 1);
    CHECK_EQ_U64(tl_stats(cached).stmt_cache_hits, 1);
    /* The same text while the first is held: a second, uncached statement. */
    a = prepare(conn, "SELECT ? /* a */");
    CHECK(a != NULL && a != again);
    expect_stmt_row(conn, a, 1, &p, 1, one);
    expect_stmt_row(conn, again, 1, &p, 1, one);
    closes = session_status(conn, "COM_STMT_CLOSE");
    CHECK_RC(pool_stmt_close(a), POOL_OK); /* uncached: closed on the server */
    CHECK_EQ_INT(session_status(conn, "COM_STMT_CLOSE"), closes + 1);
    CHECK_RC(pool_stmt_close(again), POOL_OK);
    /* Two more: the cache holds two, so "a" (least recently used) goes. */
    b = prepare(conn, "SELECT ? /* b */");
    CHECK_RC(pool_stmt_close(b), POOL_OK);
    c = prepare(conn, "SELECT ? /* c */");
    CHECK_RC(pool_stmt_close(c), POOL_OK);
    CHECK_EQ_U64(tl_stats(cached).stmt_evictions, 1);
    CHECK_EQ_INT(session_status(conn, "COM_STMT_CLOSE"), closes + 2);
    prepares = session_status(conn, "COM_STMT_PREPARE");
    b = prepare(conn, "SELECT ? /* b */"); /* still cached */
    CHECK_RC(pool_stmt_close(b), POOL_OK);
    CHECK_EQ_INT(session_status(conn, "COM_STMT_PREPARE"), prepares);
    /* Longer than stmt_cache_sql_limit: prepared every time, never kept. */
    snprintf(long_sql, sizeof long_sql, "SELECT ? /* longer than thirty bytes */");
    a = prepare(conn, long_sql);
    CHECK_RC(pool_stmt_close(a), POOL_OK);
    a = prepare(conn, long_sql);
    CHECK_RC(pool_stmt_close(a), POOL_OK);
    CHECK_EQ_INT(session_status(conn, "COM_STMT_PREPARE"), prepares + 2);
    CHECK_EQ_U64(tl_stats(cached).stmt_evictions, 1);
    /* The server holds exactly the cached statements. */
    CHECK_EQ_INT(session_status(conn, "COM_STMT_PREPARE") - session_status(conn, "COM_STMT_CLOSE"), 2);
    CHECK_RC(pool_release(cached, conn), POOL_OK);
    pool_destroy(cached);
}

/* reset_connection=1: COM_RESET_CONNECTION forgets the statements on the
 * server, so the cache is dropped at every release; stmt_cache_size=0 keeps
 * none. */
static void test_reset_and_no_cache(void) {
    pool_t *p = NULL;
    pool_conn_t *conn = NULL;
    pool_stmt_t *stmt;
    pool_param_t param = int64(1);
    static const char *const one[1] = {"1"};
    int variant, round;
    for (variant = 0; variant < 2; variant++) {
        if (!CHECK_RC(tl_pool(&p, "size", "1", "maxsize", "1", variant ? "stmt_cache_size" : "reset_connection",
                              variant ? "0" : "1", NULL), POOL_OK))
            return;
        for (round = 0; round < 3; round++) {
            CHECK_RC(pool_get_conn(p, 5000, &conn), POOL_OK);
            stmt = prepare(conn, "SELECT ?");
            expect_stmt_row(conn, stmt, 1, &param, 1, one);
            CHECK_RC(pool_stmt_close(stmt), POOL_OK);
            if (variant == 1)
                CHECK_EQ_INT(session_status(conn, "COM_STMT_PREPARE") - session_status(conn, "COM_STMT_CLOSE"), 0);
            CHECK_RC(pool_release(p, conn), POOL_OK);
        }
        CHECK_EQ_U64(tl_stats(p).stmt_prepares, 3);
        CHECK_EQ_U64(tl_stats(p).stmt_cache_hits, 0);
        CHECK_EQ_U64(tl_stats(p).created, 1);
        pool_destroy(p);
    }
}

/* Statement handles are tokens: closed, released, foreign and NULL handles
 * are refused with POOL_E_WRONG_HANDLE, never dereferenced. */
static void test_statement_handles_are_checked(void) {
    pool_conn_t *conn = NULL, *other = NULL;
    pool_stmt_t *stmt, *kept;
    pool_param_t p = int64(1);
    if (!CHECK_RC(pool_get_conn(pool, 5000, &conn), POOL_OK))
        return;
    stmt = prepare(conn, "SELECT ?");
    CHECK_RC(pool_stmt_close(stmt), POOL_OK);
    CHECK_RC(pool_stmt_close(stmt), POOL_E_WRONG_HANDLE);
    CHECK_CONTAINS(pool_last_error(), "statement handle is stale");
    CHECK_RC(pool_stmt_execute(stmt, 1, &p), POOL_E_WRONG_HANDLE);
    CHECK_EQ_INT(pool_stmt_param_count(stmt), 0);
    CHECK_RC(pool_stmt_execute(NULL, 0, NULL), POOL_E_WRONG_HANDLE);
    CHECK_CONTAINS(pool_last_error(), "NULL");
    CHECK_RC(pool_stmt_execute((pool_stmt_t *)conn, 0, NULL), POOL_E_WRONG_HANDLE);
    CHECK_CONTAINS(pool_last_error(), "got a connection handle where a statement handle was expected");
    CHECK_RC(pool_stmt_close((pool_stmt_t *)(uintptr_t)0xdeadbeef), POOL_E_WRONG_HANDLE);
    CHECK_RC(pool_stmt_prepare(conn, "SELECT 1", 8, NULL), POOL_E_BAD_ARGUMENT);
    CHECK_RC(pool_stmt_prepare(NULL, "SELECT 1", 8, &stmt), POOL_E_WRONG_HANDLE);
    CHECK(stmt == NULL);
    kept = prepare(conn, "SELECT ?");
    CHECK_RC(pool_release(pool, conn), POOL_OK);
    /* After the release the statement is stale, even once the connection is
     * lent again (to this thread or another). */
    CHECK_RC(pool_get_conn(pool, 5000, &other), POOL_OK);
    CHECK_RC(pool_stmt_execute(kept, 1, &p), POOL_E_WRONG_HANDLE);
    CHECK_CONTAINS(pool_last_error(), "connection released");
    CHECK_RC(pool_stmt_close(kept), POOL_E_WRONG_HANDLE);
    CHECK_EQ_INT(tl_query_int(other, "SELECT 4"), 4);
    pool_release(pool, other);
}

/* The server restarts between borrows and while a statement is held: the
 * held one fails with a lost link, and the pool's next connection prepares
 * it again. */
static void test_server_restart(void) {
    pool_t *p = NULL;
    pool_conn_t *conn = NULL;
    pool_stmt_t *stmt;
    pool_param_t param = int64(3);
    static const char *const three[1] = {"3"};
    if (!CHECK_RC(tl_pool(&p, "size", "1", "maxsize", "1", NULL), POOL_OK))
        return;
    CHECK_RC(pool_get_conn(p, 5000, &conn), POOL_OK);
    stmt = prepare(conn, "SELECT ?");
    expect_stmt_row(conn, stmt, 1, &param, 1, three);
    CHECK_RC(system("scripts/server/mariadb-restart.sh"), 0);
    CHECK_RC(pool_stmt_execute(stmt, 1, &param), POOL_E_SERVER);
    CHECK(tl_link_lost_errno(pool_last_errno()));
    CHECK_RC(pool_release(p, conn), POOL_OK);
    CHECK_RC(pool_get_conn(p, 5000, &conn), POOL_OK);
    stmt = prepare(conn, "SELECT ?");
    expect_stmt_row(conn, stmt, 1, &param, 1, three);
    pool_stmt_close(stmt);
    CHECK_RC(pool_release(p, conn), POOL_OK);
    CHECK_RC(system("scripts/server/mariadb-restart.sh"), 0);
    CHECK_RC(pool_get_conn(p, 5000, &conn), POOL_OK); /* the idle one is found dead */
    stmt = prepare(conn, "SELECT ?");
    expect_stmt_row(conn, stmt, 1, &param, 1, three);
    pool_stmt_close(stmt);
    CHECK_RC(pool_release(p, conn), POOL_OK);
    CHECK_EQ_U64(tl_stats(p).stmt_prepares, 3);
    pool_destroy(p);
}

/* Prepared statements the server holds, over all sessions. */
static long long server_statements(pool_conn_t *conn) {
    return tl_query_int(conn, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS"
                              " WHERE VARIABLE_NAME = 'PREPARED_STMT_COUNT'");
}

/* max_prepared_stmt_count reached: a connection closes its own idle cached
 * statements and tries again; one with none fails with 1461, and the others
 * give theirs up when next used, after which it succeeds. The server never
 * holds more than the limit. */
static void test_max_prepared_stmt_count(void) {
    pool_t *p = NULL;
    pool_conn_t *a = NULL, *b = NULL;
    pool_stmt_t *stmt;
    char sql[64];
    long long saved;
    int i;
    if (!CHECK_RC(tl_pool(&p, "size", "2", "maxsize", "2", "stmt_cache_size", "8", NULL), POOL_OK))
        return;
    CHECK_RC(pool_get_conn(p, 5000, &a), POOL_OK);
    CHECK_RC(pool_get_conn(p, 5000, &b), POOL_OK);
    /* The count is the server's, over all sessions: wait until sessions
     * closed by earlier tests (the server ends them after the client
     * hangs up) have let go of their statements. */
    for (i = 0; i < 500 && server_statements(a) != 0; i++)
        tl_sleep_ms(10);
    CHECK_EQ_INT(server_statements(a), 0);
    saved = tl_query_int(a, "SELECT @@GLOBAL.max_prepared_stmt_count");
    CHECK_RC(tl_exec(a, "SET GLOBAL max_prepared_stmt_count = 3"), POOL_OK);
    for (i = 0; i < 3; i++) {
        snprintf(sql, sizeof sql, "SELECT %d", i);
        stmt = prepare(a, sql);
        CHECK(stmt != NULL);
        pool_stmt_close(stmt);
    }
    CHECK_EQ_INT(server_statements(a), 3);
    /* a is full: its idle cached statements make room. */
    stmt = prepare(a, "SELECT 3");
    CHECK(stmt != NULL);
    CHECK_EQ_U64(tl_stats(p).stmt_evictions, 3);
    pool_stmt_close(stmt);
    for (i = 4; i < 6; i++) {
        snprintf(sql, sizeof sql, "SELECT %d", i);
        stmt = prepare(a, sql);
        pool_stmt_close(stmt);
    }
    /* b has nothing to give up: a clear error, and b is fine. */
    CHECK_RC(pool_stmt_prepare(b, "SELECT 'b'", 10, &stmt), POOL_E_SERVER);
    CHECK_EQ_INT(pool_last_errno(), 1461);
    CHECK_CONTAINS(pool_last_error(), "max_prepared_stmt_count");
    CHECK_EQ_INT(tl_query_int(b, "SELECT 2"), 2);
    /* a's next use gives up its idle statements; then b's prepare succeeds. */
    CHECK_EQ_INT(tl_query_int(a, "SELECT 1"), 1);
    stmt = prepare(a, "SELECT 'a'");
    CHECK(stmt != NULL);
    pool_stmt_close(stmt);
    stmt = prepare(b, "SELECT 'b'");
    CHECK(stmt != NULL);
    pool_stmt_close(stmt);
    CHECK(server_statements(a) <= 3);
    snprintf(sql, sizeof sql, "SET GLOBAL max_prepared_stmt_count = %lld", saved);
    CHECK_RC(tl_exec(a, sql), POOL_OK);
    pool_release(p, a);
    pool_release(p, b);
    pool_destroy(p);
}

int main(int argc, char **argv) {
    tl_init(argc, argv);
    tl_require_server();
    if (!CHECK_RC(tl_pool(&pool, "maxsize", "2", NULL), POOL_OK))
        return test_summary();
    RUN(test_parameters_of_every_type);
    RUN(test_binary_rows_equal_text_rows);
    RUN(test_statement_outcomes);
    RUN(test_injection_corpus);
    RUN(test_failed_result_is_not_cached);
    RUN(test_cache_hits_misses_evictions);
    RUN(test_reset_and_no_cache);
    RUN(test_statement_handles_are_checked);
    RUN_THROWAWAY(test_server_restart, "restarts the server");
    RUN_THROWAWAY(test_max_prepared_stmt_count, "sets the global max_prepared_stmt_count");
    pool_destroy(pool);
    return test_summary();
}
