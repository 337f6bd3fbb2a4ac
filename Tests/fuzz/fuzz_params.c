/*
 * fuzz_params.c: libFuzzer harness for pool_query_params (the placeholder
 * lexer and the parameter encoder), against the server in MYSQL_* (run it
 * under scripts/server/with-mariadb.sh, as `make test` does).
 *
 * Input: byte 0 = flags: bits 0-1 the connection charset (utf8mb4, gbk,
 * sjis, big5), bit 2 NO_BACKSLASH_ESCAPES, bit 3 the injection check, bit 4
 * a server-side prepared statement (pool_stmt_prepare + pool_stmt_execute,
 * through the connection's statement cache) instead of pool_query_params.
 *
 * Injection check: every later byte is one TEXT parameter of
 *     SELECT COUNT(*), ? IS NOT NULL FROM (SELECT 1) t
 * which must succeed and answer one row "1", "1": no value may alter the
 * statement, whatever its bytes, charset and sql_mode.
 *
 * Otherwise: byte 1 = statement length L, then L bytes mapped onto a small
 * alphabet of what the lexer cares about (quotes, backquotes, backslashes,
 * comment starts, newlines, ?, a gbk/sjis lead byte, 'a', '1', ',', spaces)
 * after "SELECT " (so no statement can do harm), then parameter records:
 * a type byte (values 0-9 and an unknown one), then 8 value bytes, or a
 * length byte and that many bytes for text, binary and decimal. Then
 * pool_query_params must return POOL_OK, POOL_E_SERVER (a syntax error, the
 * link never lost) or POOL_E_BAD_ARGUMENT, and the connection must keep
 * working.
 */
#include "fuzz_common.h"

static pool_t *pool;

static void open_pool(void) {
    static const char *const keys[][2] = {
        {"host", "MYSQL_HOST"}, {"port", "MYSQL_TCP_PORT"}, {"user", "MYSQL_USER"},
        {"password", "MYSQL_PWD"}, {"database", "MYSQL_DATABASE"},
    };
    pool_config_t *config = pool_config_new();
    size_t i;
    if (getenv("MYSQL_HOST") == NULL)
        FZ_FAIL("MYSQL_HOST is not set: run under scripts/server/with-mariadb.sh");
    for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (getenv(keys[i][1]) != NULL)
            fz_expect("pool_config_set", pool_config_set(config, keys[i][0], getenv(keys[i][1])), 1, POOL_OK);
    fz_expect("pool_config_set", pool_config_set(config, "maxsize", "1"), 1, POOL_OK);
    fz_expect("pool_create", pool_create(config, &pool), 1, POOL_OK);
    pool_config_free(config);
}

/* Sends `sql` with its parameters, bound by the library or by the server. */
static int send(pool_conn_t *conn, int prepared, const char *sql, size_t n, const pool_param_t *params,
                pool_stmt_t **stmt) {
    int rc;
    if (!prepared) {
        rc = pool_query_params(conn, sql, strlen(sql), n, params);
        fz_expect("pool_query_params", rc, 3, POOL_OK, POOL_E_SERVER, POOL_E_BAD_ARGUMENT);
        return rc;
    }
    rc = pool_stmt_prepare(conn, sql, strlen(sql), stmt);
    fz_expect("pool_stmt_prepare", rc, 2, POOL_OK, POOL_E_SERVER);
    if (rc != POOL_OK)
        return rc;
    rc = pool_stmt_execute(*stmt, n, params);
    fz_expect("pool_stmt_execute", rc, 3, POOL_OK, POOL_E_SERVER, POOL_E_BAD_ARGUMENT);
    return rc;
}

static int run(pool_conn_t *conn, int prepared, const char *sql, size_t n, const pool_param_t *params, char *first,
               size_t first_size) {
    pool_result_t *result = NULL;
    pool_stmt_t *stmt = NULL;
    const char *const *values;
    const size_t *lengths;
    int rc = send(conn, prepared, sql, n, params, &stmt);
    if (rc == POOL_OK) /* an expression may still fail as its rows are read (1690 out of range) */
        fz_expect("pool_store_result", rc = pool_store_result(conn, &result), 2, POOL_OK, POOL_E_SERVER);
    if (rc == POOL_E_SERVER) {
        unsigned err = pool_last_errno();
        FZ_CHECK(err != 2006 && err != 2013, "the link was lost (%u)", err);
    }
    if (rc == POOL_OK && first != NULL && result != NULL && pool_result_fetch(result, &values, &lengths) == POOL_ROW)
        snprintf(first, first_size, "%.*s,%.*s", (int)(values[0] ? lengths[0] : 4),
                 values[0] ? values[0] : "NULL", (int)(values[1] ? lengths[1] : 4), values[1] ? values[1] : "NULL");
    pool_result_free(result);
    if (stmt != NULL)
        fz_expect("pool_stmt_close", pool_stmt_close(stmt), 1, POOL_OK);
    return rc;
}

static const char alphabet[] = "?'\"`\\-#/*!\n a1,\xbf\x5c";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const charsets[] = {"utf8mb4", "gbk", "sjis", "big5"};
    pool_conn_t *conn = NULL;
    pool_param_t params[16];
    char sql[300];
    size_t pos = 2, n = 0, i, length;
    uint8_t flags;
    const char *mode;
    int prepared;
    if (size < 1)
        return 0;
    if (pool == NULL)
        open_pool();
    fz_expect("pool_get_conn", pool_get_conn(pool, 5000, &conn), 1, POOL_OK);
    flags = data[0];
    prepared = (flags & 16) != 0;
    fz_expect("pool_set_charset", pool_set_charset(conn, charsets[flags & 3]), 1, POOL_OK);
    mode = flags & 4 ? "SET sql_mode = 'NO_BACKSLASH_ESCAPES'" : "SET sql_mode = DEFAULT";
    fz_expect("sql_mode", pool_query(conn, mode, strlen(mode)), 1, POOL_OK);

    if (flags & 8) {
        char answer[64] = "";
        memset(params, 0, sizeof params);
        params[0].type = POOL_PARAM_TEXT;
        params[0].value.bytes.data = (const char *)data + 1;
        params[0].value.bytes.length = size - 1;
        fz_expect("the injection check", run(conn, prepared, "SELECT COUNT(*), ? IS NOT NULL FROM (SELECT 1) t", 1, params,
                                             answer, sizeof answer),
                  1, POOL_OK);
        FZ_CHECK(strcmp(answer, "1,1") == 0, "a value altered the statement: %s", answer);
    } else {
        length = size > 1 ? data[1] % 200 : 0;
        memcpy(sql, "SELECT ", 7);
        for (i = 0; i < length && pos < size; i++, pos++)
            sql[7 + i] = alphabet[data[pos] % (sizeof alphabet - 1)];
        sql[7 + i] = '\0';
        memset(params, 0, sizeof params);
        while (pos < size && n < 16) {
            pool_param_t *p = &params[n++];
            uint8_t type = data[pos++] % 11;
            p->type = type == 10 ? 77 : type;
            if (type == POOL_PARAM_TEXT || type == POOL_PARAM_BINARY || type == POOL_PARAM_DECIMAL) {
                length = pos < size ? data[pos++] : 0;
                if (length > size - pos)
                    length = size - pos;
                p->value.bytes.data = (const char *)data + pos;
                p->value.bytes.length = length;
                pos += length;
            } else {
                uint8_t raw[8] = {0};
                memcpy(raw, data + pos, size - pos < 8 ? size - pos : 8);
                pos += 8;
                if (type >= POOL_PARAM_DATE && type <= POOL_PARAM_DATETIME) {
                    p->value.time.negative = raw[0] & 1;
                    p->value.time.year = (unsigned)(raw[1] | raw[2] << 8) % 10050;
                    p->value.time.month = raw[3] % 14, p->value.time.day = raw[4] % 33;
                    p->value.time.hour = (unsigned)(raw[5] | (raw[0] & 6) << 7) % 850;
                    p->value.time.minute = raw[6] % 62, p->value.time.second = raw[7] % 62;
                    p->value.time.microsecond = (unsigned)(raw[1] * 4099u) % 1000050u;
                } else {
                    memcpy(&p->value.u64, raw, 8);
                }
            }
        }
        run(conn, prepared, sql, n, params, NULL, 0);
    }
    {
        char answer[64] = "";
        memset(params, 0, sizeof params);
        params[0].type = POOL_PARAM_INT64, params[0].value.i64 = 42;
        params[1].type = POOL_PARAM_NULL;
        fz_expect("the connection still works", run(conn, prepared, "SELECT ?, ?", 2, params, answer, sizeof answer), 1,
                  POOL_OK);
        FZ_CHECK(strcmp(answer, "42,NULL") == 0, "SELECT ?, ? answered %s", answer);
    }
    fz_expect("pool_release", pool_release(pool, conn), 1, POOL_OK);
    return 0;
}
