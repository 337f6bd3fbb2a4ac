/*
 * fuzz_handles.c: libFuzzer harness for the handle checks of the C API.
 *
 * include/mysqlpool.h: "pool_t, pool_conn_t, pool_result_t and pool_config_t
 * are opaque. They are tokens checked by the library on every call, not
 * pointers to memory: a NULL, released, destroyed or made-up handle is
 * reported as POOL_E_WRONG_HANDLE instead of crashing."
 *
 * The input is a program of 11-byte records (a short last record is padded
 * with zeros):
 *   byte 0      operation (modulo the number of operations below)
 *   byte 1      how to pick the handle argument (see pick())
 *   byte 2      extra bits: a second handle's pick, NULL out pointers, sizes
 *   bytes 3-10  a 64-bit value (little-endian): raw handle bits, a length, an
 *               index into the live/stale lists, ...
 * The harness creates real configurations and pools (pre_create_num 0 or 1,
 * connections only to a Unix socket that does not exist: no network), frees
 * and destroys them to get stale handles, and calls every exported function
 * that takes a handle with: NULL, raw 64-bit values, live handles of the
 * right and of the wrong kind, stale ones, live ones with one bit flipped,
 * pointers to real memory, and made-up values close to real handles.
 *
 * It knows which handles are live, so it checks the documented outcome of
 * every call: POOL_E_WRONG_HANDLE (or NULL / 0 / "HY000" for the getters
 * documented so) for anything that is not a live handle of the right kind,
 * the call's documented codes for live ones, a non-empty last error after
 * each failure, and after every operation that the live handles still work
 * (a no-op pool_config_free/pool_destroy/pool_result_free on a bad handle
 * must not free something else). Connections and results are never live: no
 * server exists.
 *
 * Besides, pool_set_log_callback (no handle) gets arbitrary levels and
 * user_data: POOL_OK for 0..50, POOL_E_BAD_ARGUMENT otherwise.
 *
 * Checks of known bugs are relaxed when MYSQLPOOL_FUZZ_IGNORE names them
 * (scripts/test/fuzz.sh does so for bugs whose reproducers still fail, while it
 * fuzzes for new ones; see fz_ignoring in fuzz_common.h):
 *   MYSQLPOOL_FUZZ_IGNORE=stats-huge-size  pool_stats with out_size > SSIZE_MAX
 */
#include "fuzz_common.h"

#include <poll.h>

#define MAX_LIVE 6
#define MAX_STALE 32

static struct {
    pool_config_t *configs[MAX_LIVE];
    int n_configs;
    pool_t *pools[MAX_LIVE];
    int pool_closed[MAX_LIVE];
    int n_pools;
    void *stale[MAX_STALE]; /* freed configs, destroyed pools */
    int n_stale;
} st;

/* Real memory, to pass pointers that are not handles. */
static uint64_t fz_memory[64];

static int live_config_index(const void *h) {
    int i;
    for (i = 0; i < st.n_configs; i++)
        if (h != NULL && (const void *)st.configs[i] == h)
            return i;
    return -1;
}

static int live_pool_index(const void *h) {
    int i;
    for (i = 0; i < st.n_pools; i++)
        if (h != NULL && (const void *)st.pools[i] == h)
            return i;
    return -1;
}

static void add_stale(void *h) {
    if (st.n_stale < MAX_STALE)
        st.stale[st.n_stale++] = h;
    else
        st.stale[(uintptr_t)h % MAX_STALE] = h;
}

/* A handle-sized argument, chosen by `sel` and `value`. */
static void *pick(uint8_t sel, uint64_t value) {
    int live = st.n_configs + st.n_pools;
    switch (sel & 7) {
    case 0: return NULL;
    case 1: return (void *)(uintptr_t)value;
    case 2: return st.n_configs ? (void *)st.configs[value % (uint64_t)st.n_configs] : NULL;
    case 3: return st.n_pools ? (void *)st.pools[value % (uint64_t)st.n_pools] : NULL;
    case 4: return st.n_stale ? st.stale[value % (uint64_t)st.n_stale] : NULL;
    case 5: { /* a live handle with one bit flipped */
        uint64_t bits, index;
        if (live == 0)
            return (void *)(uintptr_t)value;
        index = value % (uint64_t)live;
        bits = (uint64_t)(uintptr_t)(index < (uint64_t)st.n_configs
                                         ? (void *)st.configs[index]
                                         : (void *)st.pools[index - (uint64_t)st.n_configs]);
        return (void *)(uintptr_t)(bits ^ (1ull << ((value >> 8) % 64)));
    }
    case 6: return (void *)((char *)fz_memory + value % 256);
    default: /* kind 0..7, generation 0..3, slot 0..7: near the real ones */
        return (void *)(uintptr_t)(((value & 7) << 56) | (((value >> 3) & 3) << 32)
                                   | ((value >> 5) & 7));
    }
}

/* ------------------------------------------------------------------------
 * Invariants checked after every operation
 */

static void check_live_handles(void) {
    int i;
    for (i = 0; i < st.n_configs; i++)
        fz_expect("pool_config_set on a live config", pool_config_set(st.configs[i], "name", "fz"),
                  1, POOL_OK);
    for (i = 0; i < st.n_pools; i++) {
        pool_stats_t stats;
        fz_expect("pool_stats on a live pool", pool_stats(st.pools[i], &stats, sizeof stats), 1,
                  POOL_OK);
        FZ_CHECK(stats.in_use == 0 && stats.total == 0, "a pool without a server has nothing open");
        FZ_CHECK(pool_name(st.pools[i]) != NULL, "pool_name of a live pool");
    }
}

/* ------------------------------------------------------------------------
 * Operations
 */

static const char *const set_keys[] = {"size",           "maxsize",  "pre_create_num",
                                       "name",           "no_such",  "get_timeout",
                                       "close_overflow", "password", "con_lifetime"};
static const char *const set_values[] = {"0",  "1", "5",  "200",
                                         "",   "x", "-1", "99999999999999999999"};

static pool_config_t *new_config(void) {
    pool_config_t *cfg = pool_config_new();
    FZ_CHECK(cfg != NULL, "pool_config_new");
    /* No network: connections can only go to a socket that does not exist. */
    fz_expect("pool_config_set(host)", pool_config_set(cfg, "host", "127.0.0.1"), 1, POOL_OK);
    fz_expect("pool_config_set(port)", pool_config_set(cfg, "port", "1"), 1, POOL_OK);
    fz_expect("pool_config_set(unix_socket)", pool_config_set(cfg, "unix_socket", FZ_NO_SOCKET), 1,
              POOL_OK);
    fz_expect("pool_config_set(connect_timeout)", pool_config_set(cfg, "connect_timeout", "1"), 1,
              POOL_OK);
    return cfg;
}

/* Connection functions: no connection is ever live, so all must refuse `h`. */
static void conn_call(unsigned which, void *h, uint8_t extra, uint64_t value) {
    pool_conn_t *conn = (pool_conn_t *)h;
    static const char sql[] = "SELECT 1";
    char to[64];
    size_t out_len = 12345;
    const char *bytes = (const char *)&value, *s;
    size_t length = 777;
    pool_conn_info_t info;
    pool_result_t *res = (pool_result_t *)&value;
    int null_out = extra & 1, rc;
    /* Every failure is a wrong handle; a NULL output/string argument may be
     * reported first as a bad argument. */
    int alt = null_out ? POOL_E_BAD_ARGUMENT : POOL_E_WRONG_HANDLE;

    switch (which % 41) {
    case 0: /* the length is not read before the handle is checked */
        rc = pool_query(conn, null_out ? NULL : sql, (size_t)value);
        fz_expect("pool_query(bad conn)", rc, 2, POOL_E_WRONG_HANDLE, alt);
        break;
    case 1:
        rc = pool_store_result(conn, null_out ? NULL : &res);
        fz_expect("pool_store_result(bad conn)", rc, 2, POOL_E_WRONG_HANDLE, alt);
        FZ_CHECK(null_out || res == NULL, "pool_store_result failed but left *out_result set");
        break;
    case 2:
        rc = pool_use_result(conn, null_out ? NULL : &res);
        fz_expect("pool_use_result(bad conn)", rc, 2, POOL_E_WRONG_HANDLE, alt);
        FZ_CHECK(null_out || res == NULL, "pool_use_result failed but left *out_result set");
        break;
    case 3:
        fz_expect("pool_next_result(bad conn)", pool_next_result(conn), 1, POOL_E_WRONG_HANDLE);
        break;
    case 4:
        rc = pool_conn_info(conn, null_out ? NULL : &info,
                            (size_t)(extra & 2 ? value : sizeof info));
        fz_expect("pool_conn_info(bad conn)", rc, 2, POOL_E_WRONG_HANDLE, POOL_E_BAD_ARGUMENT);
        break;
    case 5: fz_expect("pool_commit(bad conn)", pool_commit(conn), 1, POOL_E_WRONG_HANDLE); break;
    case 6:
        fz_expect("pool_rollback(bad conn)", pool_rollback(conn), 1, POOL_E_WRONG_HANDLE);
        break;
    case 7:
        fz_expect("pool_autocommit(bad conn)", pool_autocommit(conn, (int)value), 1,
                  POOL_E_WRONG_HANDLE);
        break;
    case 8: fz_expect("pool_ping(bad conn)", pool_ping(conn), 1, POOL_E_WRONG_HANDLE); break;
    case 9:
        rc = pool_select_db(conn, null_out ? NULL : "test");
        fz_expect("pool_select_db(bad conn)", rc, 2, POOL_E_WRONG_HANDLE, alt);
        break;
    case 10:
        rc = pool_set_charset(conn, null_out ? NULL : "utf8mb4");
        fz_expect("pool_set_charset(bad conn)", rc, 2, POOL_E_WRONG_HANDLE, alt);
        break;
    case 11: /* from_len and to_size are arbitrary: nothing is read or written */
        rc = pool_escape(conn, null_out ? NULL : sql, (size_t)value, extra & 2 ? NULL : to,
                         extra & 4 ? (size_t)(value >> 3) : sizeof to, extra & 8 ? NULL : &out_len);
        fz_expect("pool_escape(bad conn)", rc, 2, POOL_E_WRONG_HANDLE, POOL_E_BAD_ARGUMENT);
        FZ_CHECK(out_len == 12345, "pool_escape failed but wrote *out_len");
        break;
    case 12:
        FZ_CHECK(pool_conn_charset(conn) == NULL, "pool_conn_charset(bad conn) is not NULL");
        fz_check_last_error(__FILE__, __LINE__, "pool_conn_charset(bad conn)", POOL_E_WRONG_HANDLE);
        break;
    case 13:
        FZ_CHECK(pool_conn_server_info(conn) == NULL,
                 "pool_conn_server_info(bad conn) is not NULL");
        fz_check_last_error(__FILE__, __LINE__, "pool_conn_server_info(bad conn)",
                            POOL_E_WRONG_HANDLE);
        break;
    case 14:
        FZ_CHECK(pool_conn_host_info(conn) == NULL, "pool_conn_host_info(bad conn) is not NULL");
        fz_check_last_error(__FILE__, __LINE__, "pool_conn_host_info(bad conn)",
                            POOL_E_WRONG_HANDLE);
        break;
    case 15: FZ_CHECK(pool_conn_errno(conn) == 0, "pool_conn_errno(bad conn) is not 0"); break;
    case 16:
        s = pool_conn_error(conn);
        FZ_CHECK(s != NULL && s[0] != '\0', "pool_conn_error(bad conn): \"a message saying so\"");
        break;
    case 17:
        s = pool_conn_sqlstate(conn);
        FZ_CHECK(s != NULL && strcmp(s, "HY000") == 0, "pool_conn_sqlstate(bad conn) is not HY000");
        break;
    case 18:
        rc = pool_query_pickle(conn, null_out ? NULL : sql, (size_t)value, (uint32_t)(extra >> 4),
                               extra & 2 ? NULL : &bytes, extra & 4 ? NULL : &length);
        fz_expect("pool_query_pickle(bad conn)", rc, 2, POOL_E_WRONG_HANDLE, POOL_E_BAD_ARGUMENT);
        break;
    case 19:
        rc = pool_query_pickle_more(conn, (uint32_t)(extra >> 4), extra & 2 ? NULL : &bytes,
                                    extra & 4 ? NULL : &length);
        fz_expect("pool_query_pickle_more(bad conn)", rc, 2, POOL_E_WRONG_HANDLE,
                  POOL_E_BAD_ARGUMENT);
        break;
    case 20: /* the request is not read before the handle is checked */
        rc = pool_format_insert_pickle(conn, null_out ? NULL : (const void *)&value, (size_t)value,
                                       (size_t)(extra >> 3), extra & 2 ? NULL : &bytes,
                                       extra & 4 ? NULL : &length);
        fz_expect("pool_format_insert_pickle(bad conn)", rc, 2, POOL_E_WRONG_HANDLE,
                  POOL_E_BAD_ARGUMENT);
        break;
    case 21: /* neither the statement nor the parameters are read before the handle is checked */
        rc = pool_query_params(conn, null_out ? NULL : sql, (size_t)value, (size_t)(value >> 8),
                               extra & 2 ? NULL : (const pool_param_t *)(const void *)&value);
        fz_expect("pool_query_params(bad conn)", rc, 2, POOL_E_WRONG_HANDLE, alt);
        break;
    case 22: { /* statements: the connection or statement handle is checked first */
        pool_stmt_t *stmt = (pool_stmt_t *)&value;
        rc = pool_stmt_prepare(conn, null_out ? NULL : sql, (size_t)value, extra & 2 ? NULL : &stmt);
        fz_expect("pool_stmt_prepare(bad conn)", rc, 2, POOL_E_WRONG_HANDLE, POOL_E_BAD_ARGUMENT);
        FZ_CHECK((extra & 2) || stmt == NULL, "pool_stmt_prepare failed but left *out_stmt set");
        break;
    }
    case 23:
        rc = pool_stmt_execute((pool_stmt_t *)h, (size_t)(value >> 8),
                               extra & 2 ? NULL : (const pool_param_t *)(const void *)&value);
        fz_expect("pool_stmt_execute(bad stmt)", rc, 1, POOL_E_WRONG_HANDLE);
        break;
    case 24:
        rc = pool_stmt_query_pickle(conn, null_out ? NULL : sql, (size_t)value, (size_t)(value >> 8),
                                    extra & 2 ? NULL : (const pool_param_t *)(const void *)&value,
                                    (uint32_t)(extra >> 4), extra & 8 ? NULL : &bytes, extra & 4 ? NULL : &length);
        fz_expect("pool_stmt_query_pickle(bad conn)", rc, 2, POOL_E_WRONG_HANDLE, POOL_E_BAD_ARGUMENT);
        break;
    case 25:
        FZ_CHECK(pool_stmt_param_count((pool_stmt_t *)h) == 0, "pool_stmt_param_count(bad stmt) is not 0");
        fz_check_last_error(__FILE__, __LINE__, "pool_stmt_param_count(bad stmt)", POOL_E_WRONG_HANDLE);
        break;
    case 26:
        fz_expect("pool_stmt_close(bad stmt)", pool_stmt_close((pool_stmt_t *)h), 1, POOL_E_WRONG_HANDLE);
        break;
    case 27: { /* non-blocking calls: the handle first; io is never written on failure */
        pool_io_t io = {12345, 0, 0};
        rc = pool_query_start(conn, null_out ? NULL : sql, (size_t)value, extra & 2 ? NULL : &io);
        fz_expect("pool_query_start(bad conn)", rc, 2, POOL_E_WRONG_HANDLE, POOL_E_BAD_ARGUMENT);
        FZ_CHECK(io.fd == 12345, "pool_query_start failed but wrote *io");
        break;
    }
    case 28: {
        pool_io_t io;
        rc = pool_store_result_start(conn, null_out ? NULL : &res, extra & 2 ? NULL : &io);
        fz_expect("pool_store_result_start(bad conn)", rc, 2, POOL_E_WRONG_HANDLE, POOL_E_BAD_ARGUMENT);
        break;
    }
    case 29: {
        pool_io_t io;
        rc = pool_ping_start(conn, extra & 2 ? NULL : &io);
        fz_expect("pool_ping_start(bad conn)", rc, 2, POOL_E_WRONG_HANDLE, POOL_E_BAD_ARGUMENT);
        break;
    }
    case 30: {
        pool_io_t io;
        rc = pool_continue(conn, (uint32_t)value, extra & 2 ? NULL : &io, null_out ? NULL : &res);
        fz_expect("pool_continue(bad conn)", rc, 2, POOL_E_WRONG_HANDLE, POOL_E_BAD_ARGUMENT);
        break;
    }
    case 31: { /* a wait handle is never live here */
        pool_io_t io;
        pool_conn_t *got = (pool_conn_t *)&value;
        rc = pool_get_conn_continue((pool_wait_t *)h, null_out ? NULL : &got, extra & 2 ? NULL : &io);
        fz_expect("pool_get_conn_continue(bad wait)", rc, 2, POOL_E_WRONG_HANDLE, POOL_E_BAD_ARGUMENT);
        FZ_CHECK(null_out || got == NULL, "pool_get_conn_continue failed but left *out_conn set");
        break;
    }
    case 32:
        fz_expect("pool_get_conn_cancel(bad wait)", pool_get_conn_cancel((pool_wait_t *)h), 1, POOL_E_WRONG_HANDLE);
        break;
    case 34: /* no pool_python_init here: refused before the handle is looked at */
        FZ_CHECK(pool_query_objects(conn, sql, (size_t)value, (uint32_t)extra) == NULL,
                 "pool_query_objects without pool_python_init returned an object");
        fz_expect("pool_query_objects(no python)", pool_last_error_code(), 1, POOL_E_MISUSE);
        break;
    case 35:
        FZ_CHECK(pool_query_objects_more(conn, (uint32_t)extra) == NULL,
                 "pool_query_objects_more without pool_python_init returned an object");
        fz_expect("pool_query_objects_more(no python)", pool_last_error_code(), 1, POOL_E_MISUSE);
        break;
    case 36:
        FZ_CHECK(pool_stmt_query_objects(conn, sql, (size_t)value, 0, NULL, (uint32_t)extra) == NULL,
                 "pool_stmt_query_objects without pool_python_init returned an object");
        fz_expect("pool_stmt_query_objects(no python)", pool_last_error_code(), 1, POOL_E_MISUSE);
        break;
    case 33: {
        pool_io_t io = {12345, 0, 0};
        rc = pool_return_start(conn, extra & 2 ? NULL : &io);
        fz_expect("pool_return_start(bad conn)", rc, 2, POOL_E_WRONG_HANDLE, POOL_E_BAD_ARGUMENT);
        FZ_CHECK(io.fd == 12345, "pool_return_start failed but wrote *io");
        break;
    }
    default: { /* release/discard with a live or bad pool: the connection is never live */
        void *pool = pick((uint8_t)(extra >> 1), value >> 17);
        rc = which % 3 == 0   ? pool_release((pool_t *)pool, conn)
             : which % 3 == 1 ? pool_discard((pool_t *)pool, conn)
                              : pool_return(conn);
        fz_expect("pool_release/pool_discard/pool_return(bad conn)", rc, 1, POOL_E_WRONG_HANDLE);
        break;
    }
    }
}

/* Result functions: no result is ever live. */
static void result_call(unsigned which, void *h, uint8_t extra, uint64_t value) {
    pool_result_t *res = (pool_result_t *)h;
    pool_field_t field;
    const char *const *values = (const char *const *)&value;
    const size_t *lengths = (const size_t *)&value;
    const char *bytes = NULL;
    size_t length = 0;
    uint64_t rows = 0;
    int rc;

    switch (which % 12) {
    case 0:
        FZ_CHECK(pool_result_field_count(res) == 0, "pool_result_field_count(bad result)");
        break;
    case 1: FZ_CHECK(pool_result_row_count(res) == 0, "pool_result_row_count(bad result)"); break;
    case 2:
        rc = pool_result_field(res, (uint32_t)value, extra & 1 ? NULL : &field,
                               extra & 2 ? (size_t)(value >> 32) : sizeof field);
        fz_expect("pool_result_field(bad result)", rc, 2, POOL_E_WRONG_HANDLE, POOL_E_BAD_ARGUMENT);
        break;
    case 3:
        rc = pool_result_fetch(res, extra & 1 ? NULL : &values, extra & 2 ? NULL : &lengths);
        fz_expect("pool_result_fetch(bad result)", rc, 2, POOL_E_WRONG_HANDLE, POOL_E_BAD_ARGUMENT);
        break;
    case 4:
        rc = pool_result_fetch_pickle(res, value, (uint32_t)(extra >> 4), extra & 1 ? NULL : &bytes,
                                      extra & 2 ? NULL : &length, extra & 4 ? NULL : &rows);
        fz_expect("pool_result_fetch_pickle(bad result)", rc, 2, POOL_E_WRONG_HANDLE,
                  POOL_E_BAD_ARGUMENT);
        break;
    case 5:
        rc = pool_result_fields_pickle(res, (uint32_t)(extra >> 4), extra & 1 ? NULL : &bytes,
                                       extra & 2 ? NULL : &length);
        fz_expect("pool_result_fields_pickle(bad result)", rc, 2, POOL_E_WRONG_HANDLE,
                  POOL_E_BAD_ARGUMENT);
        break;
    case 6:
        fz_expect("pool_result_seek(bad result)", pool_result_seek(res, value), 1,
                  POOL_E_WRONG_HANDLE);
        break;
    case 7:
        rc = pool_result_outcome_pickle(res, (uint32_t)(extra >> 4), extra & 1 ? NULL : &bytes,
                                        extra & 2 ? NULL : &length);
        fz_expect("pool_result_outcome_pickle(bad result)", rc, 2, POOL_E_WRONG_HANDLE, POOL_E_BAD_ARGUMENT);
        break;
    case 8: {
        pool_io_t io;
        rc = pool_result_fetch_pickle_start(res, value, (uint32_t)(extra >> 4), extra & 1 ? NULL : &bytes,
                                            extra & 2 ? NULL : &length, extra & 4 ? NULL : &rows,
                                            extra & 8 ? NULL : &io);
        fz_expect("pool_result_fetch_pickle_start(bad result)", rc, 2, POOL_E_WRONG_HANDLE, POOL_E_BAD_ARGUMENT);
        break;
    }
    case 9: {
        pool_io_t io;
        rc = pool_result_fetch_pickle_continue(res, (uint32_t)value, extra & 1 ? NULL : &bytes,
                                               extra & 2 ? NULL : &length, extra & 4 ? NULL : &rows,
                                               extra & 8 ? NULL : &io);
        fz_expect("pool_result_fetch_pickle_continue(bad result)", rc, 2, POOL_E_WRONG_HANDLE,
                  POOL_E_BAD_ARGUMENT);
        break;
    }
    case 10: /* no pool_python_init here: refused before the handle is looked at */
        FZ_CHECK(pool_result_outcome_objects(res, (uint32_t)extra) == NULL,
                 "pool_result_outcome_objects without pool_python_init returned an object");
        fz_expect("pool_result_outcome_objects(no python)", pool_last_error_code(), 1, POOL_E_MISUSE);
        break;
    default: pool_result_free(res); break; /* a harmless no-op */
    }
}

static void pool_call(unsigned which, void *h, uint8_t extra, uint64_t value) {
    pool_t *pool = (pool_t *)h;
    int index = live_pool_index(h), rc;
    const char *name;

    switch (which % 7) {
    case 0: /* pool_close */
        rc = pool_close(pool);
        fz_outcome(20, rc);
        if (index >= 0) {
            fz_expect("pool_close(live pool)", rc, 1, POOL_OK);
            st.pool_closed[index] = 1;
        } else {
            fz_expect("pool_close(bad pool)", rc, 1, POOL_E_WRONG_HANDLE);
        }
        break;
    case 1: /* pool_name */
        name = pool_name(pool);
        if (index >= 0) {
            FZ_CHECK(name != NULL, "pool_name(live pool)");
        } else {
            FZ_CHECK(name == NULL, "pool_name(bad pool) is not NULL");
            fz_check_last_error(__FILE__, __LINE__, "pool_name(bad pool)", POOL_E_WRONG_HANDLE);
        }
        break;
    case 2: { /* pool_stats; the buffer is big enough for any version's struct */
        fz_stats_buf out;
        size_t size = (extra & 6) == 0 ? sizeof out.stats
                      : (extra & 6) == 2 ? (size_t)value
                                         : (size_t)(value % 40);
        int null_out = (extra & 6) == 6;
        rc = pool_stats(pool, null_out ? NULL : &out.stats, size);
        fz_outcome(21, rc);
        if (index < 0)
            fz_expect("pool_stats(bad pool)", rc, 2, POOL_E_WRONG_HANDLE, POOL_E_BAD_ARGUMENT);
        else if (null_out || size < 16)
            fz_expect("pool_stats(live pool, NULL or < 16)", rc, 1, POOL_E_BAD_ARGUMENT);
        else if (size > (size_t)PTRDIFF_MAX && fz_ignoring("stats-huge-size"))
            fz_expect("pool_stats(live pool, huge size)", rc, 2, POOL_OK, POOL_E_BAD_ARGUMENT);
        else
            fz_expect("pool_stats(live pool, out_size >= 16)", rc, 1, POOL_OK);
        break;
    }
    case 6: { /* pool_get_conn_start; a borrow that has to wait is cancelled */
        pool_conn_t *conn = NULL;
        pool_wait_t *wait = NULL;
        pool_io_t io;
        uint32_t flags = extra & 8 ? (uint32_t)(value >> 40) : 0;
        int bad_args = (flags & ~(POOL_GET_PING | POOL_GET_READONLY)) != 0;
        rc = pool_get_conn_start(pool, (int64_t)(value % 1000), flags, &conn, &wait, extra & 128 ? NULL : &io);
        fz_outcome(27, rc);
        FZ_CHECK(conn == NULL, "pool_get_conn_start handed out a connection without a server");
        if (rc == POOL_WAIT) { /* not an error: a helper thread tries to connect */
            FZ_CHECK(index >= 0 && !bad_args && !(extra & 128) && !st.pool_closed[index] && wait != NULL,
                     "pool_get_conn_start waits where it should have failed");
            if (extra & 1) { /* driven to its end: the helper cannot connect */
                while (rc == POOL_WAIT) {
                    struct pollfd p = {io.fd, POLLIN, 0};
                    (void)poll(&p, 1, 2000);
                    rc = pool_get_conn_continue(wait, &conn, &io);
                }
                fz_expect("pool_get_conn_continue(no server)", rc, 2, POOL_E_SERVER, POOL_E_EXHAUSTED);
            } else {
                fz_expect("pool_get_conn_cancel(pending)", pool_get_conn_cancel(wait), 1, POOL_OK);
            }
            /* The helper's failed connect gives its capacity back soon after. */
            for (int tries = 0; tries < 2000; tries++) {
                fz_stats_buf out;
                if (pool_stats(pool, &out.stats, sizeof out.stats) != POOL_OK || out.stats.opening == 0)
                    break;
                struct timespec pause = {0, 1000000};
                nanosleep(&pause, NULL);
            }
            break;
        }
        FZ_CHECK(wait == NULL, "pool_get_conn_start failed but left *out_wait set");
        if (index < 0)
            fz_expect("pool_get_conn_start(bad pool)", rc, 1, POOL_E_WRONG_HANDLE);
        else if (bad_args || (extra & 128))
            fz_expect("pool_get_conn_start(live pool, bad arguments)", rc, 1, POOL_E_BAD_ARGUMENT);
        else
            fz_expect("pool_get_conn_start(live pool, no server)", rc, 2, POOL_E_SERVER,
                      st.pool_closed[index] ? POOL_E_CLOSED : POOL_E_SERVER);
        break;
    }
    case 3: { /* pool_get_conn_ex, pool_borrow or pool_take, never waiting */
        pool_conn_t *conn = (pool_conn_t *)&value;
        uint32_t flags = extra & 8 ? (uint32_t)(value >> 40) : (extra & 16 ? POOL_GET_PING : 0);
        int64_t overflow = extra & 32 ? (int64_t)(value >> 8) * (extra & 64 ? -1 : 1) : 0;
        int borrow = extra & 1, null_out = !borrow && (extra & 128), take = borrow && (extra & 2);
        int bad_args = !take && ((flags & ~(POOL_GET_PING | POOL_GET_READONLY)) != 0 || overflow < 0 || null_out);
        if (take) { /* no connection can be opened, so get_timeout is never waited out */
            conn = pool_take(pool);
            rc = conn != NULL ? POOL_OK : pool_last_error_code();
        } else if (borrow) {
            conn = pool_borrow(pool, 0, overflow, flags);
            rc = conn != NULL ? POOL_OK : pool_last_error_code();
        } else {
            rc = pool_get_conn_ex(pool, 0, overflow, flags, null_out ? NULL : &conn);
        }
        fz_outcome(22, rc);
        if (!null_out)
            FZ_CHECK(conn == NULL, "pool_get_conn_ex/pool_borrow failed but handed out a connection");
        if (index < 0)
            fz_expect("pool_get_conn_ex(bad pool)", rc, 2, POOL_E_WRONG_HANDLE,
                      bad_args ? POOL_E_BAD_ARGUMENT : POOL_E_WRONG_HANDLE);
        else if (bad_args)
            fz_expect("pool_get_conn_ex(live pool, bad arguments)", rc, 1, POOL_E_BAD_ARGUMENT);
        else
            fz_expect("pool_get_conn_ex(live pool, no server)", rc, 1,
                      st.pool_closed[index] ? POOL_E_CLOSED : POOL_E_SERVER);
        break;
    }
    case 4: { /* pool_host_stats: every harness pool has one host */
        pool_host_stats_t out;
        size_t host = (size_t)(value % 3);
        size_t size = extra & 2 ? (size_t)(value % 40) : sizeof out;
        int null_out = (extra & 6) == 6;
        rc = pool_host_stats(pool, host, null_out ? NULL : &out, size);
        fz_outcome(24, rc);
        if (index < 0)
            fz_expect("pool_host_stats(bad pool)", rc, 2, POOL_E_WRONG_HANDLE, POOL_E_BAD_ARGUMENT);
        else if (null_out || size < 16)
            fz_expect("pool_host_stats(live pool, NULL or < 16)", rc, 1, POOL_E_BAD_ARGUMENT);
        else
            fz_expect("pool_host_stats(live pool)", rc, 1, host == 0 ? POOL_OK : POOL_DONE);
        break;
    }
    default: { /* pool_get_conn with the pool's get_timeout: nothing to wait for */
        pool_conn_t *conn = (pool_conn_t *)&value;
        rc = pool_get_conn(pool, extra & 1 ? -1 : 0, &conn);
        fz_outcome(23, rc);
        FZ_CHECK(conn == NULL, "pool_get_conn failed but left *out_conn set");
        if (index < 0)
            fz_expect("pool_get_conn(bad pool)", rc, 1, POOL_E_WRONG_HANDLE);
        else
            fz_expect("pool_get_conn(live pool, no server)", rc, 1,
                      st.pool_closed[index] ? POOL_E_CLOSED : POOL_E_SERVER);
        break;
    }
    }
}

static void log_callback(void *user_data, int level, const char *pool_name, pool_conn_t *conn,
                         const char *message) {
    (void)user_data;
    FZ_CHECK(level > 0 && level <= 50, "log callback: level %d", level);
    FZ_CHECK(pool_name != NULL && message != NULL && message[0] != '\0',
             "log callback: NULL pool name or empty message");
    FZ_CHECK(conn == NULL, "log callback: a connection, but none was ever borrowed");
}

static int log_installed;

static void run_op(uint8_t op, uint8_t sel, uint8_t extra, uint64_t value) {
    void *h = pick(sel, value);
    int index, rc;

    switch (op % 11) {
    case 0: /* pool_config_new */
        if (st.n_configs < MAX_LIVE)
            st.configs[st.n_configs++] = new_config();
        break;
    case 1: /* pool_config_free: a bad handle is a harmless no-op */
        index = live_config_index(h);
        pool_config_free((pool_config_t *)h);
        if (index >= 0) {
            add_stale(h);
            st.configs[index] = st.configs[--st.n_configs];
            fz_expect("pool_config_set on a freed config",
                      pool_config_set((pool_config_t *)h, "size", "1"), 1, POOL_E_WRONG_HANDLE);
        }
        break;
    case 2: { /* pool_config_set */
        const char *key = extra & 0x80 ? NULL
                                       : set_keys[(extra & 0x7F)
                                                  % (sizeof set_keys / sizeof set_keys[0])];
        const char *val = set_values[(value >> 56) % (sizeof set_values / sizeof set_values[0])];
        rc = pool_config_set((pool_config_t *)h, key, val);
        fz_outcome(24, rc);
        if (live_config_index(h) >= 0)
            fz_expect("pool_config_set(live config)", rc, 3, POOL_OK, POOL_E_BAD_ARGUMENT,
                      POOL_E_UNKNOWN_OPTION);
        else
            fz_expect("pool_config_set(bad config)", rc, 2, POOL_E_WRONG_HANDLE,
                      key == NULL ? POOL_E_BAD_ARGUMENT : POOL_E_WRONG_HANDLE);
        break;
    }
    case 3: { /* pool_create */
        pool_t *pool = (pool_t *)&value;
        int null_out = (extra & 3) == 3;
        rc = pool_create((pool_config_t *)h, null_out ? NULL : &pool);
        fz_outcome(25, rc);
        if (null_out)
            fz_expect("pool_create(cfg, NULL)", rc, 2, POOL_E_BAD_ARGUMENT,
                      live_config_index(h) >= 0 ? POOL_E_BAD_ARGUMENT : POOL_E_WRONG_HANDLE);
        else if (live_config_index(h) >= 0)
            /* size > maxsize etc.: bad argument; pre_create_num 1: no server */
            fz_expect("pool_create(live config)", rc, 3, POOL_OK, POOL_E_BAD_ARGUMENT,
                      POOL_E_SERVER);
        else
            fz_expect("pool_create(bad config)", rc, 1, POOL_E_WRONG_HANDLE);
        if (!null_out && rc != POOL_OK)
            FZ_CHECK(pool == NULL, "pool_create failed but left *out_pool set");
        if (rc == POOL_OK) {
            FZ_CHECK(pool != NULL && pool != (pool_t *)&value, "pool_create OK without a pool");
            FZ_CHECK(live_pool_index(pool) < 0 && live_config_index(pool) < 0,
                     "pool_create returned a handle that is already live");
            if (st.n_pools < MAX_LIVE) {
                st.pool_closed[st.n_pools] = 0;
                st.pools[st.n_pools++] = pool;
            } else {
                pool_destroy(pool);
                add_stale(pool);
            }
        }
        break;
    }
    case 4: /* pool_destroy: a bad handle is a harmless no-op */
        index = live_pool_index(h);
        pool_destroy((pool_t *)h);
        if (index >= 0) {
            pool_stats_t stats;
            add_stale(h);
            st.pools[index] = st.pools[st.n_pools - 1];
            st.pool_closed[index] = st.pool_closed[st.n_pools - 1];
            st.n_pools--;
            fz_expect("pool_stats on a destroyed pool",
                      pool_stats((pool_t *)h, &stats, sizeof stats),
                      1, POOL_E_WRONG_HANDLE);
        }
        break;
    case 5:
    case 6: pool_call((unsigned)(value >> 61) + (unsigned)extra * 3u, h, extra, value); break;
    case 7:
    case 8: conn_call((unsigned)extra, h, (uint8_t)(value >> 48), value); break;
    case 9: result_call((unsigned)extra, h, (uint8_t)(value >> 48), value); break;
    default: { /* pool_set_log_callback: no handle, but a level to check; user_data is opaque */
        int level = extra & 1 ? (int)(value & 63) : (int)(int64_t)value;
        rc = pool_set_log_callback(extra & 2 ? NULL : log_callback, h, level);
        fz_outcome(26, rc);
        if (level >= 0 && level <= 50)
            fz_expect("pool_set_log_callback(level 0..50)", rc, 1, POOL_OK);
        else
            fz_expect("pool_set_log_callback(level outside 0..50)", rc, 1, POOL_E_BAD_ARGUMENT);
        if (rc == POOL_OK)
            log_installed = !(extra & 2);
        break;
    }
    }
    check_live_handles();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t pos;
    int i;

    memset(&st, 0, sizeof st);
    for (pos = 0; pos < size; pos += 11) {
        uint8_t record[11] = {0};
        uint64_t value = 0;
        memcpy(record, data + pos, size - pos < 11 ? size - pos : 11);
        for (i = 10; i >= 3; i--)
            value = value << 8 | record[i];
        run_op(record[0], record[1], record[2], value);
    }

    /* Tear down; afterwards every handle of this input is stale. */
    for (i = 0; i < st.n_pools; i++) {
        pool_destroy(st.pools[i]);
        fz_expect("pool_close after pool_destroy", pool_close(st.pools[i]), 1, POOL_E_WRONG_HANDLE);
    }
    if (log_installed) {
        fz_expect("pool_set_log_callback(NULL)", pool_set_log_callback(NULL, NULL, 0), 1, POOL_OK);
        log_installed = 0;
    }
    for (i = 0; i < st.n_configs; i++) {
        pool_config_free(st.configs[i]);
        fz_expect("pool_create from a freed config", pool_create(st.configs[i], NULL), 2,
                  POOL_E_BAD_ARGUMENT, POOL_E_WRONG_HANDLE);
    }
    return 0;
}
