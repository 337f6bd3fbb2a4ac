/* c_bench: the C side of `make bench` (issue 4).
 *
 * Our pool through include/mysqlpool.h only, against the floor: a raw
 * libmariadb loop (<mysql.h>) on one connection held for the whole run.
 *
 *   checkout  N x (pool_get_conn, pool_release), no query     -> ns per pair,
 *             and the RSS growth over those N pairs in KiB
 *   point     N x (get, "SELECT 1+1", store, fetch, free, release) for ours,
 *             N x (mysql_real_query, store, fetch, free) for raw -> queries/s,
 *             and the raw loop rotating over 8 held connections (what a
 *             FIFO pool's rotation alone costs)
 *   bulk      SELECT * FROM <table> into a stored result, walking every value
 *             of every row (ours: pool_result_fetch; raw: mysql_fetch_row)
 *             -> rows/s and peak RSS
 *
 * Usage (under scripts/server/with-mariadb.sh):
 *   c_bench [--point N] [--checkout N] [--bulk-table NAME] [--bulk-limit ROWS]
 * Prints one JSON object per line, e.g.
 *   {"peer":"ours-c","scenario":"point","value":41234.5,"unit":"q/s","n":5000}
 * The server comes from MYSQL_HOST, MYSQL_TCP_PORT, MYSQL_USER, MYSQL_PWD and
 * MYSQL_DATABASE. Pool: size 8, maxsize 8, 8 connections pre-created. */
#define _POSIX_C_SOURCE 200809L
#include <mysql.h>
#include <mysqlpool.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static const char POINT_SQL[] = "SELECT 1+1";
/* The prepared point query: one BIGINT parameter, one BIGINT column. */
static const char STMT_SQL[] = "SELECT ? + 1";

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *env(const char *name, const char *fallback) {
    const char *value = getenv(name);
    return value && *value ? value : fallback;
}

/* Peak RSS since the last reset_peak_rss(), in KiB (VmHWM; falls back to
 * the process lifetime peak from getrusage when /proc is not writable). */
static void reset_peak_rss(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

static long status_kib(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long value = -1;
    size_t n = strlen(field);
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            value = atol(line + n + 1);
            break;
        }
    fclose(f);
    return value;
}

static long peak_rss_kib(void) {
    long hwm = status_kib("VmHWM");
    if (hwm < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        hwm = ru.ru_maxrss;
    }
    return hwm;
}

static void die_pool(const char *what) {
    fprintf(stderr, "c_bench: %s: %s (errno %u)\n", what, pool_last_error(), pool_last_errno());
    exit(1);
}

static void die_raw(MYSQL *db, const char *what) {
    fprintf(stderr, "c_bench: %s: %s (errno %u)\n", what, mysql_error(db), mysql_errno(db));
    exit(1);
}

static void die_stmt(MYSQL_STMT *stmt, const char *what) {
    fprintf(stderr, "c_bench: %s: %s (errno %u)\n", what, mysql_stmt_error(stmt), mysql_stmt_errno(stmt));
    exit(1);
}

static void emit(const char *peer, const char *scenario, double value, const char *unit, long n,
                 long rss_peak_kib, long rss_before_kib) {
    printf("{\"peer\":\"%s\",\"scenario\":\"%s\",\"value\":%.6g,\"unit\":\"%s\",\"n\":%ld", peer,
           scenario, value, unit, n);
    if (rss_peak_kib >= 0)
        printf(",\"rss_peak_kib\":%ld,\"rss_before_kib\":%ld", rss_peak_kib, rss_before_kib);
    printf("}\n");
    fflush(stdout);
}

/* ---- ours ---------------------------------------------------------------- */

static pool_t *ours_pool(void) {
    const char *keys[] = {"host", "port", "user", "password", "database"};
    const char *vars[] = {"MYSQL_HOST", "MYSQL_TCP_PORT", "MYSQL_USER", "MYSQL_PWD",
                          "MYSQL_DATABASE"};
    pool_config_t *config = pool_config_new();
    if (!config)
        die_pool("pool_config_new");
    for (int i = 0; i < 5; i++)
        if (getenv(vars[i]) && pool_config_set(config, keys[i], getenv(vars[i])) != POOL_OK)
            die_pool(keys[i]);
    if (pool_config_set(config, "size", "8") != POOL_OK
        || pool_config_set(config, "maxsize", "8") != POOL_OK
        || pool_config_set(config, "pre_create_num", "8") != POOL_OK
        || pool_config_set(config, "name", "c_bench") != POOL_OK)
        die_pool("pool_config_set");
    pool_t *pool = NULL;
    if (pool_create(config, &pool) != POOL_OK)
        die_pool("pool_create");
    pool_config_free(config);
    return pool;
}

static void ours_checkout(pool_t *pool, long n) {
    pool_conn_t *conn;
    for (long i = 0; i < n; i++) {
        if (pool_get_conn(pool, -1, &conn) != POOL_OK)
            die_pool("pool_get_conn");
        if (pool_release(pool, conn) != POOL_OK)
            die_pool("pool_release");
    }
}

static long ours_point(pool_t *pool, long n) {
    long sum = 0;
    pool_conn_t *conn;
    pool_result_t *result;
    const char *const *values;
    const size_t *lengths;
    for (long i = 0; i < n; i++) {
        if (pool_get_conn(pool, -1, &conn) != POOL_OK)
            die_pool("pool_get_conn");
        if (pool_query(conn, POINT_SQL, sizeof POINT_SQL - 1) != POOL_OK)
            die_pool("pool_query");
        if (pool_store_result(conn, &result) != POOL_OK || result == NULL)
            die_pool("pool_store_result");
        if (pool_result_fetch(result, &values, &lengths) != POOL_ROW)
            die_pool("pool_result_fetch");
        sum += values[0][0] - '0';
        pool_result_free(result);
        if (pool_release(pool, conn) != POOL_OK)
            die_pool("pool_release");
    }
    return sum;
}

/* What a C program does per request: borrow, prepare (a cache hit after the
 * first: no round trip), execute, read, close, release. */
static long ours_stmt_point(pool_t *pool, long n) {
    long sum = 0;
    pool_conn_t *conn;
    pool_stmt_t *stmt;
    pool_result_t *result;
    const char *const *values;
    const size_t *lengths;
    pool_param_t param;
    memset(&param, 0, sizeof param);
    param.type = POOL_PARAM_INT64;
    for (long i = 0; i < n; i++) {
        param.value.i64 = i % 7;
        if (pool_get_conn(pool, -1, &conn) != POOL_OK)
            die_pool("pool_get_conn");
        if (pool_stmt_prepare(conn, STMT_SQL, sizeof STMT_SQL - 1, &stmt) != POOL_OK)
            die_pool("pool_stmt_prepare");
        if (pool_stmt_execute(stmt, 1, &param) != POOL_OK)
            die_pool("pool_stmt_execute");
        if (pool_store_result(conn, &result) != POOL_OK || result == NULL)
            die_pool("pool_store_result (stmt)");
        if (pool_result_fetch(result, &values, &lengths) != POOL_ROW)
            die_pool("pool_result_fetch (stmt)");
        sum += values[0][0] - '0';
        pool_result_free(result);
        pool_stmt_close(stmt);
        if (pool_release(pool, conn) != POOL_OK)
            die_pool("pool_release");
    }
    return sum;
}

static uint64_t ours_bulk(pool_t *pool, const char *sql, uint64_t *bytes) {
    pool_conn_t *conn;
    pool_result_t *result;
    const char *const *values;
    const size_t *lengths;
    uint64_t rows = 0;
    if (pool_get_conn(pool, -1, &conn) != POOL_OK)
        die_pool("pool_get_conn");
    if (pool_query(conn, sql, strlen(sql)) != POOL_OK)
        die_pool("pool_query (bulk)");
    if (pool_store_result(conn, &result) != POOL_OK || result == NULL)
        die_pool("pool_store_result (bulk)");
    uint32_t columns = pool_result_field_count(result);
    int rc;
    while ((rc = pool_result_fetch(result, &values, &lengths)) == POOL_ROW) {
        for (uint32_t c = 0; c < columns; c++)
            if (values[c])
                *bytes += lengths[c] + (unsigned char)values[c][0];
        rows++;
    }
    if (rc != POOL_DONE)
        die_pool("pool_result_fetch (bulk)");
    pool_result_free(result);
    pool_release(pool, conn);
    return rows;
}

/* ---- raw libmariadb -------------------------------------------------------- */

static MYSQL *raw_connect(void) {
    MYSQL *db = mysql_init(NULL);
    if (!db) {
        fprintf(stderr, "c_bench: mysql_init failed\n");
        exit(1);
    }
    mysql_options(db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    unsigned int port = (unsigned int)atoi(env("MYSQL_TCP_PORT", "3306"));
    if (!mysql_real_connect(db, env("MYSQL_HOST", "127.0.0.1"), env("MYSQL_USER", ""),
                            getenv("MYSQL_PWD"), getenv("MYSQL_DATABASE"), port, NULL, 0))
        die_raw(db, "mysql_real_connect");
    return db;
}

static long raw_point(MYSQL *db, long n) {
    long sum = 0;
    for (long i = 0; i < n; i++) {
        if (mysql_real_query(db, POINT_SQL, sizeof POINT_SQL - 1) != 0)
            die_raw(db, "mysql_real_query");
        MYSQL_RES *res = mysql_store_result(db);
        if (!res)
            die_raw(db, "mysql_store_result");
        MYSQL_ROW row = mysql_fetch_row(res);
        if (!row)
            die_raw(db, "mysql_fetch_row");
        sum += row[0][0] - '0';
        mysql_free_result(res);
    }
    return sum;
}

/* The raw loop again, but rotating over `count` held connections the way a
 * FIFO pool hands them out: shows what connection rotation alone costs. */
static long raw_point_rotating(MYSQL **dbs, int count, long n) {
    long sum = 0;
    for (long i = 0; i < n; i++)
        sum += raw_point(dbs[i % count], 1);
    return sum;
}

/* The floor for a prepared point query: one statement prepared once, its
 * parameter and column bound once, executed n times. */
static long raw_stmt_point(MYSQL_STMT *stmt, long n) {
    long sum = 0;
    long long in = 0, out = 0;
    MYSQL_BIND param, column;
    memset(&param, 0, sizeof param);
    memset(&column, 0, sizeof column);
    param.buffer_type = column.buffer_type = MYSQL_TYPE_LONGLONG;
    param.buffer = &in;
    column.buffer = &out;
    if (mysql_stmt_bind_param(stmt, &param) != 0 || mysql_stmt_bind_result(stmt, &column) != 0)
        die_stmt(stmt, "mysql_stmt_bind");
    for (long i = 0; i < n; i++) {
        in = i % 7;
        if (mysql_stmt_execute(stmt) != 0)
            die_stmt(stmt, "mysql_stmt_execute");
        if (mysql_stmt_store_result(stmt) != 0)
            die_stmt(stmt, "mysql_stmt_store_result");
        if (mysql_stmt_fetch(stmt) != 0)
            die_stmt(stmt, "mysql_stmt_fetch");
        sum += out;
        mysql_stmt_free_result(stmt);
    }
    return sum;
}

static MYSQL_STMT *raw_prepare(MYSQL *db) {
    MYSQL_STMT *stmt = mysql_stmt_init(db);
    if (stmt == NULL || mysql_stmt_prepare(stmt, STMT_SQL, sizeof STMT_SQL - 1) != 0)
        die_raw(db, "mysql_stmt_prepare");
    return stmt;
}

static uint64_t raw_bulk(MYSQL *db, const char *sql, uint64_t *bytes) {
    uint64_t rows = 0;
    if (mysql_real_query(db, sql, strlen(sql)) != 0)
        die_raw(db, "mysql_real_query (bulk)");
    MYSQL_RES *res = mysql_store_result(db);
    if (!res)
        die_raw(db, "mysql_store_result (bulk)");
    unsigned int columns = mysql_num_fields(res);
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res))) {
        unsigned long *lengths = mysql_fetch_lengths(res);
        for (unsigned int c = 0; c < columns; c++)
            if (row[c])
                *bytes += lengths[c] + (unsigned char)row[c][0];
        rows++;
    }
    if (mysql_errno(db))
        die_raw(db, "mysql_fetch_row (bulk)");
    mysql_free_result(res);
    return rows;
}

/* ---- main -------------------------------------------------------------------- */

int main(int argc, char **argv) {
    long point_n = 5000, checkout_n = 200000;
    const char *bulk_table = NULL;
    long bulk_limit = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--point") == 0)
            point_n = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--checkout") == 0)
            checkout_n = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--bulk-table") == 0)
            bulk_table = argv[i + 1];
        else if (strcmp(argv[i], "--bulk-limit") == 0)
            bulk_limit = atol(argv[i + 1]);
        else {
            fprintf(stderr, "usage: c_bench [--point N] [--checkout N] [--bulk-table NAME] [--bulk-limit ROWS]\n");
            return 2;
        }
    }
    if (pool_version_number() != POOL_VERSION_NUMBER) {
        fprintf(stderr, "c_bench: header %d, library %d\n", POOL_VERSION_NUMBER, pool_version_number());
        return 1;
    }
    char sql[256];
    if (bulk_table) {
        if (bulk_limit > 0)
            snprintf(sql, sizeof sql, "SELECT * FROM %s LIMIT %ld", bulk_table, bulk_limit);
        else
            snprintf(sql, sizeof sql, "SELECT * FROM %s", bulk_table);
    }

    /* Bulk first: the peak RSS is reset before each walk. */
    uint64_t bytes = 0;
    double t;
    long before;
    MYSQL *db = raw_connect();
    pool_t *pool = ours_pool();
    if (bulk_table) {
        before = status_kib("VmRSS");
        reset_peak_rss();
        t = now_s();
        uint64_t rows = raw_bulk(db, sql, &bytes);
        t = now_s() - t;
        emit("raw-c", "bulk", (double)rows / t, "rows/s", (long)rows, peak_rss_kib(), before);

        before = status_kib("VmRSS");
        reset_peak_rss();
        t = now_s();
        rows = ours_bulk(pool, sql, &bytes);
        t = now_s() - t;
        emit("ours-c", "bulk", (double)rows / t, "rows/s", (long)rows, peak_rss_kib(), before);
    }

    long warm = point_n / 10 + 10, sum = 0;
    if (point_n > 0) {
        /* The three loops take turns in blocks, so that the machine's drift
         * (10-20% within minutes on a shared VM) falls on all of them alike. */
        enum { BLOCKS = 10 };
        double raw_t = 0, rotating_t = 0, ours_t = 0;
        long block = point_n / BLOCKS;
        MYSQL *ring[8];
        for (int i = 0; i < 8; i++)
            ring[i] = raw_connect();
        sum += raw_point(db, warm) + raw_point_rotating(ring, 8, warm) + ours_point(pool, warm);
        for (int b = 0; b < BLOCKS; b++) {
            t = now_s();
            sum += raw_point(db, block);
            raw_t += now_s() - t;
            t = now_s();
            sum += raw_point_rotating(ring, 8, block);
            rotating_t += now_s() - t;
            t = now_s();
            sum += ours_point(pool, block);
            ours_t += now_s() - t;
        }
        for (int i = 0; i < 8; i++)
            mysql_close(ring[i]);
        emit("raw-c", "point", (double)(block * BLOCKS) / raw_t, "q/s", block * BLOCKS, -1, -1);
        emit("raw-c-rotating", "point", (double)(block * BLOCKS) / rotating_t, "q/s", block * BLOCKS, -1, -1);
        emit("ours-c", "point", (double)(block * BLOCKS) / ours_t, "q/s", block * BLOCKS, -1, -1);
    }
    if (point_n > 0) {
        /* Prepared statements, in turns as above. */
        enum { BLOCKS = 10 };
        double raw_t = 0, ours_t = 0;
        long block = point_n / BLOCKS;
        MYSQL_STMT *stmt = raw_prepare(db);
        sum += raw_stmt_point(stmt, warm) + ours_stmt_point(pool, warm);
        for (int b = 0; b < BLOCKS; b++) {
            t = now_s();
            sum += raw_stmt_point(stmt, block);
            raw_t += now_s() - t;
            t = now_s();
            sum += ours_stmt_point(pool, block);
            ours_t += now_s() - t;
        }
        mysql_stmt_close(stmt);
        emit("raw-c", "stmt_point", (double)(block * BLOCKS) / raw_t, "q/s", block * BLOCKS, -1, -1);
        emit("ours-c", "stmt_point", (double)(block * BLOCKS) / ours_t, "q/s", block * BLOCKS, -1, -1);
    }
    if (checkout_n > 0) {
        ours_checkout(pool, checkout_n / 10 + 10);
        before = status_kib("VmRSS");
        t = now_s();
        ours_checkout(pool, checkout_n);
        t = now_s() - t;
        long after = status_kib("VmRSS");
        emit("ours-c", "checkout", t * 1e9 / (double)checkout_n, "ns/pair", checkout_n, -1, -1);
        /* Memory growth over the whole loop (issue 4: none over 1,000,000 cycles). */
        emit("ours-c", "checkout_rss_growth", (double)(after - before), "KiB", checkout_n, -1, -1);
    }

    pool_stats_t stats;
    if (pool_stats(pool, &stats, sizeof stats) == POOL_OK)
        fprintf(stderr, "c_bench: pool created=%llu resets=%llu gets=%llu (checksum %ld/%llu)\n",
                (unsigned long long)stats.created, (unsigned long long)stats.resets,
                (unsigned long long)stats.gets, sum, (unsigned long long)bytes);
    pool_destroy(pool);
    mysql_close(db);
    return 0;
}
