/*
 * mysqlpool.h: the C API of libmysqlpool, a MySQL/MariaDB connection pool.
 *
 * This header is the specification. A function, type or constant that is not
 * declared here is not part of the API, and libmysqlpool.so exports nothing
 * else (every exported name starts with "pool_").
 *
 * ---------------------------------------------------------------------------
 * LIFECYCLE
 *
 *   pool_config_new()                      make a configuration
 *   pool_config_set(cfg, key, value)       ... set string keys (see KEYS)
 *   pool_create(cfg, &pool)                open the pool (cfg may be freed after)
 *   pool_config_free(cfg)
 *
 *   pool_get_conn(pool, timeout_ms, &conn) borrow a connection
 *   pool_query(conn, sql, len)             run a statement
 *   pool_store_result(conn, &res)          buffered result (or pool_use_result)
 *   pool_result_fetch(res, &vals, &lens)   ... rows until POOL_DONE
 *   pool_result_free(res)
 *   pool_release(pool, conn)               give it back (always, also after errors)
 *
 *   pool_destroy(pool)                     close the pool and free the handle
 *
 * HANDLES
 *   pool_t, pool_conn_t, pool_result_t and pool_config_t are opaque. They are
 *   tokens checked by the library on every call, not pointers to memory: a
 *   NULL, released, destroyed or made-up handle is reported as
 *   POOL_E_WRONG_HANDLE instead of crashing. One exception, so that no
 *   connection is stranded: pool_release and pool_discard still take back,
 *   with a destroyed pool's handle, the connections borrowed from it before
 *   pool_destroy (they are closed); once the last is back, that handle too
 *   is POOL_E_WRONG_HANDLE. A connection handle is valid from
 *   pool_get_conn() until pool_release()/pool_discard(); a result handle until
 *   pool_result_free() or the release of its connection, whichever is first.
 *
 * THREAD-SAFETY
 *   - pool_t: every pool_* function taking a pool_t may be called from any
 *     number of threads at once.
 *   - pool_conn_t and its pool_result_t: one thread at a time. A connection
 *     may move between threads (borrow in one, release in another) as long as
 *     the calls do not overlap.
 *   - pool_config_t: one thread at a time.
 *   - Error getters without a handle (pool_last_*) are thread-local.
 *   - pool_strerror, pool_version*, are safe everywhere.
 *
 * ERRORS
 *   Every function that can fail returns an int status (enum pool_status).
 *   After any failure the calling thread's last error holds the code, the
 *   server's error number and SQLSTATE (when the server or libmariadb gave
 *   one) and a message that names the bad value: read it with
 *   pool_last_error() and friends. Passwords never appear in messages.
 *
 * POOL BEHAVIOUR AND DEFAULTS
 *   - pool_create opens pre_create_num connections (default 0) and fails with
 *     the server's message if it cannot.
 *   - Up to `size` (default 10) connections are kept. When none is idle the
 *     pool opens more, up to `maxsize` (default 100), a hard cap; connections
 *     above `size` are closed when they are released (unless close_overflow=0).
 *   - Idle connections are handed out most recently used first (warm server
 *     threads; surplus connections age out).
 *   - When maxsize connections are busy, callers wait first-come
 *     first-served until their deadline (get_timeout, default 30000 ms),
 *     then get POOL_E_EXHAUSTED.
 *   - A connection at least con_lifetime seconds old (default 3600; 0 means
 *     no limit) is closed when it is taken or released, never while in use.
 *   - On release an open transaction is rolled back and autocommit is put back
 *     to the pool's setting, each only when the server status says it is
 *     needed, so a clean connection costs no round trip. A connection whose
 *     link is gone (errors 2006, 2013, 2055, ...) or whose reset fails is
 *     closed instead of kept.
 *   - A dead connection is never handed out when it can be known dead: a
 *     connection is checked before checkout (validate_socket,
 *     validation_interval, pre_ping), whether taken idle or handed straight
 *     to a waiting caller by a release (the waiter checks it on its own
 *     thread, after it wakes); one found dead is closed and the next one
 *     tried, within the caller's deadline. "Heard from" is the latest evidence
 *     of life (the server's last answer to the borrower, a reset, a ping, a
 *     peek at the socket that passed), not the release: a connection killed
 *     while borrowed is checked by the next borrower once socket_check_after
 *     has passed since that evidence. After one connection is found
 *     dead (or returned with a lost link), every connection not heard from
 *     since is pinged before its next use: the server may have restarted.
 *   - With lifetime, idle_timeout, min_idle, keepalive_interval or
 *     leak_detection_threshold set (con_lifetime is on by default), each pool
 *     has one maintenance thread; it never holds the pool's lock during I/O
 *     and ends with pool_close/pool_destroy.
 *   - The pool's lock is never held during network I/O.
 *
 * EXAMPLE (compiles as is; error handling shortened to keep it readable)
 *
 *   #include <stdio.h>
 *   #include <mysqlpool.h>
 *
 *   int main(void) {
 *       pool_config_t *cfg = pool_config_new();
 *       pool_config_set(cfg, "host", "127.0.0.1");
 *       pool_config_set(cfg, "user", "app");
 *       pool_config_set(cfg, "password", "secret");
 *       pool_config_set(cfg, "database", "test");
 *       pool_config_set(cfg, "maxsize", "10");
 *       pool_t *pool = NULL;
 *       int rc = pool_create(cfg, &pool);
 *       pool_config_free(cfg);
 *       if (rc != POOL_OK) {
 *           fprintf(stderr, "pool_create: %s\n", pool_last_error());
 *           return 1;
 *       }
 *       pool_conn_t *conn = NULL;
 *       if (pool_get_conn(pool, -1, &conn) == POOL_OK
 *           && pool_query(conn, "SELECT 1", 8) == POOL_OK) {
 *           pool_result_t *res = NULL;
 *           const char *const *values;
 *           const size_t *lengths;
 *           if (pool_store_result(conn, &res) == POOL_OK
 *               && pool_result_fetch(res, &values, &lengths) == POOL_ROW)
 *               printf("%.*s\n", (int)lengths[0], values[0]);
 *           pool_result_free(res);
 *       } else {
 *           fprintf(stderr, "%s\n", pool_last_error());
 *       }
 *       pool_release(pool, conn);
 *       pool_destroy(pool);
 *       return 0;
 *   }
 * ------------------------------------------------------------------------- */
#ifndef MYSQLPOOL_H
#define MYSQLPOOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define POOL_API __attribute__((visibility("default")))
#else
#define POOL_API
#endif

/* ---------------------------------------------------------------------------
 * VERSION
 * POOL_VERSION_NUMBER is MAJOR*1000000 + MINOR*1000 + PATCH. Compare it with
 * pool_version_number() at run time to catch a header/library mismatch.
 */
#define POOL_VERSION_MAJOR 0
#define POOL_VERSION_MINOR 1
#define POOL_VERSION_PATCH 0
#define POOL_VERSION_STRING "0.1.0"
#define POOL_VERSION_NUMBER 1000
#define POOL_AT_LEAST_VERSION(x, y, z) \
    (POOL_VERSION_NUMBER >= ((x) * 1000000 + (y) * 1000 + (z)))

/* pool_version_number: the library's POOL_VERSION_NUMBER.
 * Thread-safety: any thread. */
POOL_API int pool_version_number(void);

/* pool_version: the library's version string, e.g. "0.1.0".
 * Ownership: static; never free it. Thread-safety: any thread. */
POOL_API const char *pool_version(void);

/* ---------------------------------------------------------------------------
 * STATUS CODES
 * Numbers are never reused or renumbered; a retired code stays as a
 * placeholder.
 */
enum pool_status {
    POOL_OK = 0,               /* 0: success */
    POOL_E_EXHAUSTED = 1,      /* 1: no connection became free before the deadline */
    POOL_E_CLOSED = 2,         /* 2: the pool was closed (pool_close/pool_destroy) */
    POOL_E_BAD_ARGUMENT = 3,   /* 3: a NULL pointer, bad value or impossible size */
    POOL_E_SERVER = 4,         /* 4: the server or the link to it failed; see errno/SQLSTATE */
    POOL_E_WRONG_HANDLE = 5,   /* 5: NULL, stale, released or foreign handle */
    POOL_E_UNKNOWN_OPTION = 6, /* 6: pool_config_set with a key it does not know */
    POOL_E_NO_MEMORY = 7,      /* 7: out of memory */
    POOL_E_MISUSE = 8,         /* 8: call out of sequence (e.g. a query while an
                                     unbuffered result is still open) */
    POOL_E_INTERNAL = 9,       /* 9: a bug in libmysqlpool; please report it */
    POOL_ROW = 100,            /* 100: pool_result_fetch produced a row */
    POOL_DONE = 101,           /* 101: no more rows / no more result sets */
    POOL_WAIT = 102            /* 102: a non-blocking call waits for I/O (see pool_io_t) */
};

/* pool_strerror: a short static description of a status code ("unknown
 * status code" for numbers not listed above).
 * Ownership: static; never free it. Thread-safety: any thread. */
POOL_API const char *pool_strerror(int code);

/* The calling thread's last error, set by every failing call (and cleared to
 * POOL_OK by nothing: read it right after the failure you care about).
 *   pool_last_error_code: the status code of the last failure (POOL_OK if none).
 *   pool_last_errno:      the server/libmariadb error number (e.g. 1045, 2003),
 *                         0 when the failure was not the server's.
 *   pool_last_sqlstate:   five-character SQLSTATE: the server's, "HY000" for
 *                         failures that are not the server's, "00000" before
 *                         the thread's first failure.
 *   pool_last_error:      a message; "" when none.
 * Ownership: the strings belong to the thread; they stay valid until the
 * thread's next failing pool_* call or until the thread exits. Never free them.
 * Thread-safety: thread-local. */
POOL_API int pool_last_error_code(void);
POOL_API unsigned int pool_last_errno(void);
POOL_API const char *pool_last_sqlstate(void);
POOL_API const char *pool_last_error(void);

/* ---------------------------------------------------------------------------
 * CONFIGURATION
 *
 * KEYS (all values are strings; numbers in decimal; booleans "0"/"1",
 * "true"/"false", "on"/"off", "yes"/"no"):
 *
 *   connection                         default
 *   host               name or IP      "localhost" (over TCP, as PyMySQL does)
 *   port               1..65535        3306
 *   unix_socket        path            none; when set, the socket is used instead of TCP
 *   user               name            ""
 *   password           secret          "" (never echoed in any message)
 *   database (or db)   name            none
 *   charset            name            "utf8mb4"
 *   connect_timeout    seconds 1..3600 10
 *   read_timeout       seconds 0..     0 (no limit)
 *   write_timeout      seconds 0..     0 (no limit)
 *   init_command       SQL             none (run on every new connection)
 *   sql_mode           [A-Za-z0-9_,]*  server default ("" sets an empty sql_mode)
 *   autocommit         bool            1 (restored on every release)
 *   local_infile       bool            0
 *   multi_statements   bool            0 (1: several statements per pool_query)
 *   client_flag        integer         0 (extra CLIENT_* capability bits, as PyMySQL's)
 *   ssl                bool            0 (1: refuse to connect without TLS)
 *   ssl_ca, ssl_cert, ssl_key, ssl_cipher   paths / cipher list; setting any enables TLS
 *   ssl_verify_cert    bool            0 (1: verify the server's chain; needs ssl_ca.
 *                                        libmariadb 3.3 then also checks the host name)
 *   ssl_verify_identity bool           0 (1: verify the chain and the host name)
 *     With ssl=1 and an ssl_ca, the chain and host name are always verified:
 *     that is the only way libmariadb 3.3 refuses a server without TLS before
 *     it sends the login, so the password never crosses a plain link.
 *
 *   pool
 *   size               0..maxsize      10   connections kept idle (maxsize when that is smaller)
 *   maxsize            1..100000       100  hard cap on open connections
 *   pre_create_num     0..maxsize      0    opened by pool_create
 *   con_lifetime       seconds 0..     3600 0 = no limit
 *   close_overflow     bool            1    close connections above size on release
 *                                           (0: keep them idle until con_lifetime)
 *   get_timeout        milliseconds 0.. 30000 default wait of pool_get_conn
 *                                           (timeout_ms < 0) and pool_take
 *   overflow_after     milliseconds 0.. 0    pool_take's wait for an idle connection
 *                                           before it opens one above size
 *   name               text            "host-port-user-database"
 *
 *   health (seconds are decimal: "30", "0.25"; 0 turns a feature off)
 *   lifetime_jitter    fraction 0..0.5 0.025 each connection's con_lifetime is
 *                                           shortened by a random part of up to this
 *                                           share, so they do not all expire together
 *   idle_timeout       seconds         0    close connections idle this long, down to
 *                                           min_idle open ones
 *   min_idle           0..maxsize      none the maintenance opens connections in the
 *                                           background to keep this many open
 *   keepalive_interval seconds         0    ping idle connections not heard from for
 *                                           this long, in the background
 *   validate_socket    bool            1    before handing out an idle connection, peek
 *                                           at its socket without blocking (no round
 *                                           trip): EOF or unasked bytes mean dead
 *   socket_check_after seconds         0.001 ... for connections not heard from for
 *                                           at least this long (0: every checkout);
 *                                           the peek is a system call, and one given
 *                                           back a moment ago is as alive as it can tell
 *                                           (connection ages are read from the coarse
 *                                           monotonic clock: 1-10 ms granularity)
 *   validation_interval seconds        30   COM_PING before handing out a connection
 *                                           not heard from for this long
 *   pre_ping           bool            0    COM_PING before every checkout of an idle
 *                                           connection (POOL_GET_PING asks per call)
 *   reset_connection   bool            0    COM_RESET_CONNECTION on every release:
 *                                           temporary tables, user variables, session
 *                                           settings go; sql_mode/init_command and
 *                                           autocommit are applied again
 *   leak_detection_threshold seconds   0    report (log callback, WARNING) a connection
 *                                           borrowed for longer, once per borrow
 *
 *   prepared statements (see PREPARED STATEMENTS)
 *   stmt_cache_size    0..100000       32   statements kept prepared per connection
 *                                           (least recently used out; 0: none kept)
 *   stmt_cache_sql_limit bytes         2048 longer statements are not kept
 *
 *   several hosts
 *   host               "h1:3306,h2,[::1]:3307"   a list: a host without a port takes `port`
 *   ha_mode            text            sequential
 *       sequential:  failover in the listed order (the first host that answers)
 *       loadbalance: new connections to the host with the fewest open ones
 *       replication: the first reachable host with @@read_only=0 is the primary
 *                    (checked at every connect: writes never go to a read-only
 *                    host); read-only hosts serve POOL_GET_READONLY borrows.
 *                    The pool is then two pools of size/maxsize each (primary,
 *                    replicas) and pool_stats sums them.
 *   host_deny_time     seconds         30   a host that fails to connect is skipped
 *                                           this long by the whole pool (when every
 *                                           host is denied they are tried anyway, except
 *                                           for read-only borrows, which go to the primary)
 *   role_check_interval seconds        1    replication and loadbalance over several
 *                                           hosts: each host is asked its role this often
 *                                           (@@read_only; Galera: wsrep_local_state) over a
 *                                           monitor connection of the pool's own, one per
 *                                           host, outside the pool's books. A host whose
 *                                           role changed (a planned switchover, a
 *                                           promoted replica, a desynced Galera node) has
 *                                           its connections retired: idle ones closed at
 *                                           once, borrowed ones at release. A write refused
 *                                           with 1290/1792 makes the pool ask at once, at
 *                                           that connection's release. A write can reach
 *                                           a demoted primary for at most this interval
 *                                           plus one question's round trip after the
 *                                           demotion (the server then refuses it with
 *                                           1290: read_only). 0: roles are learned only at
 *                                           connect and after a refused write. A host the
 *                                           check cannot reach is denied like a failed
 *                                           connect. pool_close may wait for a question in
 *                                           flight (at most connect_timeout).
 *
 * Keys are case-sensitive. Setting a key twice keeps the last value.
 * Cross-key rules (size <= maxsize, ...) are checked by pool_create.
 */
typedef struct pool_config_s pool_config_t;

/* pool_config_new: a configuration holding the defaults above.
 * Return: the handle, or NULL when out of memory.
 * Ownership: the caller frees it with pool_config_free().
 * Thread-safety: any thread; the new object is used by one thread at a time. */
POOL_API pool_config_t *pool_config_new(void);

/* pool_config_set: set `key` to `value` (NUL-terminated UTF-8 strings).
 * Return: POOL_OK; POOL_E_UNKNOWN_OPTION naming the key; POOL_E_BAD_ARGUMENT
 * naming the key and (except for passwords) the value, also for a value that
 * is not valid UTF-8 (never silently altered); POOL_E_WRONG_HANDLE.
 * Ownership: both strings are copied; the caller keeps them.
 * Thread-safety: one thread at a time per config. */
POOL_API int pool_config_set(pool_config_t *config, const char *key, const char *value);

/* pool_config_free: free a configuration. NULL is a harmless no-op; so is a
 * handle that was already freed.
 * Thread-safety: one thread at a time per config. */
POOL_API void pool_config_free(pool_config_t *config);

/* ---------------------------------------------------------------------------
 * POOL
 */
typedef struct pool_s pool_t;
typedef struct pool_conn_s pool_conn_t;

/* pool_create: check the configuration, open pre_create_num connections and
 * return the pool in *out_pool (NULL on failure).
 * Return: POOL_OK; POOL_E_BAD_ARGUMENT (e.g. size > maxsize, NULL out_pool);
 * POOL_E_SERVER with the server's errno/SQLSTATE/message when a pre-created
 * connection cannot be opened; POOL_E_WRONG_HANDLE for a bad config.
 * Ownership: the pool copies the configuration; free the config whenever you
 * like. The caller owns the pool and frees it with pool_destroy().
 * Thread-safety: any thread. */
POOL_API int pool_create(const pool_config_t *config, pool_t **out_pool);

/* pool_close: stop the pool. Waiting callers wake with POOL_E_CLOSED, idle
 * connections are closed now, borrowed ones when they are released; later
 * pool_get_conn calls fail with POOL_E_CLOSED. The handle stays valid (for
 * pool_stats, pool_release) until pool_destroy. Closing twice is harmless.
 * Return: POOL_OK; POOL_E_WRONG_HANDLE.
 * Thread-safety: any thread. */
POOL_API int pool_close(pool_t *pool);

/* pool_destroy: pool_close() and then invalidate the handle. Connections
 * still borrowed stay usable until released (pool_release or pool_discard
 * with this handle, or pool_return), then close. NULL or an already
 * destroyed handle is a harmless no-op.
 * Thread-safety: any thread, but no other call may use this handle after,
 * except the release of the connections still borrowed from it. */
POOL_API void pool_destroy(pool_t *pool);

/* pool_get_conn: borrow a connection, waiting at most timeout_ms
 * milliseconds (0: do not wait; negative: the pool's get_timeout).
 * A connection past its lifetime is replaced; a new one is opened when none
 * is idle and fewer than maxsize are open.
 * Return: POOL_OK and *out_conn; POOL_E_EXHAUSTED when the deadline passed;
 * POOL_E_CLOSED; POOL_E_SERVER when opening a connection failed (errno and
 * message from the server or libmariadb); POOL_E_WRONG_HANDLE;
 * POOL_E_BAD_ARGUMENT for a NULL out_conn. *out_conn is NULL on failure.
 * Ownership: the connection is the caller's until pool_release/pool_discard.
 * Thread-safety: any thread; it blocks only the calling thread. */
POOL_API int pool_get_conn(pool_t *pool, int64_t timeout_ms, pool_conn_t **out_conn);

/* Flags for pool_get_conn_ex. */
#define POOL_GET_PING 1u /* validate with a COM_PING before handing it out;
                            a dead connection is replaced transparently */
#define POOL_GET_READONLY 2u /* ha_mode=replication: a connection to a replica
                                when one answers, to the primary otherwise;
                                ignored by other pools */

/* pool_get_conn_ex: pool_get_conn with two more knobs.
 * overflow_after_ms: once `size` connections are open, wait this long for an
 * idle one before opening one above size (0: open at once, which is what
 * pool_get_conn does). flags: POOL_GET_* bits; unknown bits are
 * POOL_E_BAD_ARGUMENT.
 * Return, ownership, thread-safety: as pool_get_conn. */
POOL_API int pool_get_conn_ex(pool_t *pool, int64_t timeout_ms, int64_t overflow_after_ms,
                              uint32_t flags, pool_conn_t **out_conn);

/* pool_borrow: pool_get_conn_ex returning the connection itself, for
 * bindings (ctypes, FFI) where an out-parameter costs an allocation per call.
 * Return: the connection; NULL on failure, and then pool_last_error_code()
 * is the status pool_get_conn_ex would have returned (POOL_E_EXHAUSTED,
 * POOL_E_SERVER, ...), with the thread's other pool_last_* values.
 * Ownership and thread-safety: as pool_get_conn. */
POOL_API pool_conn_t *pool_borrow(pool_t *pool, int64_t timeout_ms, int64_t overflow_after_ms, uint32_t flags);

/* pool_take: pool_borrow with the pool's own settings: wait up to
 * get_timeout, open a connection above size after overflow_after, no flags.
 * For bindings where each argument of a foreign call costs (ctypes converts
 * every one); the pair pool_take + pool_return is the cheapest checkout.
 * Return, ownership and thread-safety: as pool_borrow. */
POOL_API pool_conn_t *pool_take(pool_t *pool);

/* pool_release: give a connection back. Open results are freed, an open
 * transaction is rolled back and autocommit restored (no round trip when
 * the session is already clean). A broken, expired or surplus connection is
 * closed instead of kept. The handle is invalid afterwards.
 * Return: POOL_OK (also when the connection had to be closed, and when
 * the pool was destroyed after the connection was borrowed: it is closed);
 * POOL_E_WRONG_HANDLE for NULL, already released or unknown connections and
 * for a connection that belongs to another pool (nothing is changed then).
 * Thread-safety: any thread for the pool; the connection must not be in use. */
POOL_API int pool_release(pool_t *pool, pool_conn_t *conn);

/* pool_discard: like pool_release, but always close the connection (for
 * example after an error that leaves its state unknown).
 * Return and thread-safety: as pool_release. */
POOL_API int pool_discard(pool_t *pool, pool_conn_t *conn);

/* pool_return: pool_release to the pool the connection came from, which
 * the connection's handle records (also after pool_destroy, which keeps a
 * pool with borrowed connections until they are back).
 * Return: as pool_release, but there is no pool to mismatch.
 * Thread-safety: as pool_release. */
POOL_API int pool_return(pool_conn_t *conn);

/* pool_name: the pool's name.
 * Ownership: owned by the pool, valid until pool_destroy. NULL for a bad
 * handle. Thread-safety: any thread. */
POOL_API const char *pool_name(pool_t *pool);

/* Statistics. New fields are only ever appended. */
typedef struct pool_stats_s {
    uint64_t struct_size;      /* set by pool_stats: bytes it filled in */
    uint64_t total;            /* open connections + connections being opened */
    uint64_t idle;             /* open and waiting in the pool */
    uint64_t in_use;           /* borrowed */
    uint64_t opening;          /* being opened right now */
    uint64_t waiting;          /* callers waiting right now */
    uint64_t size;             /* configured size */
    uint64_t maxsize;          /* configured maxsize */
    uint64_t created;          /* connections opened since pool_create */
    uint64_t connect_failures; /* failed attempts to open one */
    uint64_t closed_lifetime;  /* closed because older than con_lifetime */
    uint64_t closed_broken;    /* closed because the link failed or reset failed */
    uint64_t closed_overflow;  /* closed on release because above size */
    uint64_t closed_discarded; /* closed by pool_discard or by a failed ping */
    uint64_t closed_shutdown;  /* closed by pool_close/pool_destroy */
    uint64_t gets;             /* successful pool_get_conn calls */
    uint64_t releases;         /* successful pool_release/pool_discard calls */
    uint64_t wait_count;       /* gets that had to wait */
    uint64_t wait_time_ns;     /* total time spent waiting, nanoseconds */
    uint64_t max_wait_ns;      /* longest single wait, nanoseconds */
    uint64_t timeouts;         /* gets that ended with POOL_E_EXHAUSTED */
    uint64_t resets;           /* releases that needed a round trip to reset */
    uint64_t closed_idle;      /* closed by idle_timeout */
    uint64_t closed_validation; /* found dead by a check before checkout or a keepalive */
    uint64_t pings;            /* COM_PINGs run by the pool (checks and keepalives) */
    uint64_t leaks;            /* borrows reported by leak_detection_threshold */
    uint64_t stmt_prepares;    /* statements prepared on the server (COM_STMT_PREPARE) */
    uint64_t stmt_cache_hits;  /* pool_stmt_prepare calls served from a connection's cache */
    uint64_t stmt_evictions;   /* cached statements closed to make room (stmt_cache_size,
                                * or the server's max_prepared_stmt_count) */
} pool_stats_t;

/* Per host of the pool's `host` list (pool_host_stats). */
typedef struct pool_host_stats_s {
    uint64_t struct_size; /* set by pool_host_stats: bytes it filled in */
    uint64_t port;
    uint64_t connections; /* open now */
    uint64_t connects;    /* opened since pool_create */
    uint64_t failures;    /* failed attempts to connect */
    uint64_t denied_ms;   /* deny list time left; 0: allowed */
    int64_t read_only;    /* @@read_only (or innodb_read_only) when last asked: at a
                           * connect, by the role check (role_check_interval) or
                           * after a write was refused; 1, 0, or -1 not known */
    char host[256];       /* NUL-terminated */
    uint64_t role_age_ms; /* since read_only/synced were learned; UINT64_MAX: never */
    int64_t synced;       /* Galera: 1 Synced (wsrep_local_state 4), 0 not (donor,
                           * desynced, joining: no new connections while another
                           * node is), -1 not known or not a Galera node */
    uint64_t borrows;     /* connections to it handed to borrowers (several hosts
                           * only; read-only borrows are spread over the replicas
                           * per borrow: fewest borrowed first, round robin) */
} pool_host_stats_t;

/* pool_host_stats: what the pool knows about the index-th host of its list
 * (0-based). Fills at most out_size bytes (pass sizeof(pool_host_stats_t)).
 * Return: POOL_OK; POOL_DONE when index is past the last host;
 * POOL_E_WRONG_HANDLE; POOL_E_BAD_ARGUMENT for NULL out or out_size < 16.
 * Thread-safety: any thread. */
POOL_API int pool_host_stats(pool_t *pool, size_t index, pool_host_stats_t *out, size_t out_size);

/* pool_stats: a consistent snapshot of the counters. Fills at most
 * out_size bytes of *out (pass sizeof(pool_stats_t)); a caller compiled
 * against an older, shorter struct gets the prefix it knows.
 * Return: POOL_OK; POOL_E_WRONG_HANDLE; POOL_E_BAD_ARGUMENT for NULL out or
 * out_size < 16. Thread-safety: any thread. */
POOL_API int pool_stats(pool_t *pool, pool_stats_t *out, size_t out_size);

/* ---------------------------------------------------------------------------
 * LOGGING
 * What no caller can see otherwise: possible leaks, connections found dead
 * and replaced, failed background connects. Silent by default.
 */
#define POOL_LOG_DEBUG 10   /* the levels are Python's logging levels */
#define POOL_LOG_INFO 20
#define POOL_LOG_WARNING 30
#define POOL_LOG_ERROR 40

/* pool_log_fn: receives one message. `pool_name` and `message` are valid only
 * during the call (copy them to keep them). `conn` is the borrowed
 * connection the message is about (leak reports), or NULL; it may be
 * released by its borrower at any moment, so use it only to look up your
 * own records, never to call the library. Called from the pool's maintenance
 * thread or from a thread inside a pool_* call; it must not call pool_*
 * functions of the same pool, and it must return quickly. */
typedef void (*pool_log_fn)(void *user_data, int level, const char *pool_name, pool_conn_t *conn,
                            const char *message);

/* pool_set_log_callback: route the library's messages of `min_level` and up
 * to `callback` (NULL: silence), for every pool of the process.
 * Never passes a password. Return: POOL_OK; POOL_E_BAD_ARGUMENT for a
 * min_level outside 0..50. Thread-safety: any thread; a call made while
 * messages are being delivered takes effect for later messages. */
POOL_API int pool_set_log_callback(pool_log_fn callback, void *user_data, int min_level);

/* ---------------------------------------------------------------------------
 * CONNECTIONS: statements and state
 * All take a borrowed connection. Unless said otherwise they return POOL_OK,
 * POOL_E_SERVER (read pool_conn_errno/pool_conn_error/pool_conn_sqlstate or
 * pool_last_*), POOL_E_WRONG_HANDLE, or POOL_E_MISUSE. They block the calling
 * thread for the round trip; one thread at a time per connection.
 */
typedef struct pool_result_s pool_result_t;

/* pool_query: send one statement of `length` bytes (several, separated by
 * ';', when the pool has multi_statements=1); `sql` need not be
 * NUL-terminated and may contain NUL bytes. Fetch its result with
 * pool_store_result or pool_use_result before the next statement.
 * POOL_E_MISUSE while an unbuffered result of this connection is open;
 * POOL_E_BAD_ARGUMENT for a NULL sql with a length, or a length above 1 GiB
 * (no server accepts a larger statement). */
POOL_API int pool_query(pool_conn_t *conn, const char *sql, size_t length);

/* Parameters for pool_query_params. A pool_param_t is a type and a value;
 * the library reads it during the call only and keeps no pointer into it. */
enum pool_param_type {
    POOL_PARAM_NULL = 0,     /* SQL NULL; the value is not read */
    POOL_PARAM_INT64 = 1,    /* value.i64 */
    POOL_PARAM_UINT64 = 2,   /* value.u64 */
    POOL_PARAM_DOUBLE = 3,   /* value.f64; NaN and infinities are refused */
    POOL_PARAM_TEXT = 4,     /* value.bytes: text in the connection's charset,
                              * quoted and escaped (binary-safe: NUL bytes too) */
    POOL_PARAM_BINARY = 5,   /* value.bytes: any bytes, sent as X'hex' */
    POOL_PARAM_DATE = 6,     /* value.time: year, month, day */
    POOL_PARAM_TIME = 7,     /* value.time: negative, hour (0..838), minute,
                              * second, microsecond (a duration, as TIME is) */
    POOL_PARAM_DATETIME = 8, /* value.time: the date and the time of day */
    POOL_PARAM_DECIMAL = 9   /* value.bytes: a decimal number as text, e.g.
                              * "-12.50" or "1e-3" (sign, digits, one point,
                              * exponent); anything else is refused */
};

typedef struct pool_time_s {
    int negative;             /* TIME only: 1 for a negative duration */
    unsigned int year, month, day;
    unsigned int hour, minute, second;
    unsigned int microsecond; /* 0..999999; written only when not 0 */
} pool_time_t;

typedef struct pool_param_s {
    int type; /* an enum pool_param_type */
    union {
        int64_t i64;
        uint64_t u64;
        double f64;
        struct {
            const char *data; /* may be NULL when length is 0 */
            size_t length;
        } bytes;
        pool_time_t time;
    } value;
} pool_param_t;

/* pool_query_params: pool_query for a statement with `?` placeholders,
 * each replaced by its parameter as an SQL literal, in order; the result is
 * read with pool_store_result/pool_use_result as after pool_query.
 * Placeholders are found lexically: a `?` inside a quoted string ('...',
 * "..."), a backquoted name or a comment (-- , #, slash-star) is not one.
 * Values are escaped by the connection itself: for its charset (no
 * multibyte sequence is split, so gbk, big5, sjis and cp932 are safe) and
 * for NO_BACKSLASH_ESCAPES (quotes are doubled then), so no value can alter
 * the statement. The bound statement, like any, is at most 1 GiB.
 * Return: as pool_query; POOL_E_BAD_ARGUMENT (nothing sent) when n_params
 * differs from the placeholders (the message names both counts), for a
 * NULL params with n_params > 0, an unknown type, a NaN or infinite double,
 * a malformed decimal, an out-of-range date or time, or NULL data with a
 * length. Thread-safety: as pool_query. */
POOL_API int pool_query_params(pool_conn_t *conn, const char *sql, size_t sql_len, size_t n_params,
                               const pool_param_t *params);

/* ---------------------------------------------------------------------------
 * PREPARED STATEMENTS (server-side, cached per connection)
 *
 * pool_stmt_prepare sends COM_STMT_PREPARE once per connection and SQL text:
 * each connection keeps up to stmt_cache_size statements (key, default 32,
 * 0: none kept) of at most stmt_cache_sql_limit bytes (default 2048),
 * least recently used out, and they stay prepared while the connection is
 * back in the pool, so preparing a statement this connection has seen costs
 * no round trip on the next borrow either. An evicted statement is closed on
 * the server (COM_STMT_CLOSE, no round trip). The cache goes with the
 * connection: closed, reconnected, or reset (reset_connection=1 forgets
 * every statement on the server at each release, so the cache then lives
 * for one borrow). pool_stats counts stmt_prepares, stmt_cache_hits and
 * stmt_evictions.
 *
 * Results come through the result calls (pool_store_result or
 * pool_use_result on the connection, then pool_result_fetch or
 * pool_result_fetch_pickle): rows are the same text the text protocol
 * gives for every column type (libmariadb converts the binary protocol's
 * numbers, dates and times), so code reading a pool_query result reads a
 * statement's unchanged. pool_next_result moves to a prepared CALL's next
 * result once the current one is freed; results left unread are read and
 * dropped before the next statement.
 *
 * max_prepared_stmt_count: when the server refuses a prepare for it, the
 * connection closes its idle cached statements and tries once more; if it
 * had none, the prepare fails (POOL_E_SERVER, errno 1461) and every other
 * connection of the pool closes its idle cached statements the next time it
 * is used. A statement the server no longer knows (1243) is prepared again
 * once, transparently. A server restart breaks the connection (errno 2006 or
 * 2013): release it; the pool opens a new one and the statement is prepared
 * there again.
 *
 * A statement handle belongs to the borrower of its connection: it goes
 * stale at pool_stmt_close or at the connection's release, whichever is
 * first, and every call then returns POOL_E_WRONG_HANDLE. One thread at a
 * time per connection, as for the connection's other calls.
 */
typedef struct pool_stmt_s pool_stmt_t;

/* pool_stmt_prepare: a statement with `?` placeholders (the server finds
 * them: a `?` inside a string, a name or a comment is not one). One
 * statement per call; `sql` need not be NUL-terminated.
 * Ownership: the caller gives it back with pool_stmt_close(); at the latest
 * it goes back with the connection's release. Preparing the same text twice
 * without closing the first gives two statements (the second uncached).
 * Return: POOL_OK; POOL_E_SERVER (a syntax error, errno 1461 as above);
 * POOL_E_MISUSE while a result of the connection is unread or streaming;
 * POOL_E_WRONG_HANDLE; POOL_E_BAD_ARGUMENT for NULL out_stmt, NULL sql with
 * a length, or a length above 1 GiB. */
POOL_API int pool_stmt_prepare(pool_conn_t *conn, const char *sql, size_t sql_len, pool_stmt_t **out_stmt);

/* pool_stmt_execute: run the statement with n_params parameters (the
 * pool_param_t of pool_query_params; values travel in the binary protocol,
 * never as SQL text: TEXT in the connection's charset, BINARY as bytes).
 * Read its result with pool_store_result/pool_use_result on the connection,
 * and pool_conn_info for affected_rows and insert_id, as after pool_query.
 * Return: as pool_query_params (POOL_E_BAD_ARGUMENT, nothing sent, for a
 * wrong count, which the message names, or a bad value); POOL_E_MISUSE
 * while the statement's previous result is not freed. */
POOL_API int pool_stmt_execute(pool_stmt_t *stmt, size_t n_params, const pool_param_t *params);

/* pool_stmt_param_count: the number of `?` placeholders; 0 for a bad handle
 * (pool_last_error says why). */
POOL_API uint32_t pool_stmt_param_count(pool_stmt_t *stmt);

/* pool_stmt_close: give the statement back. A cached statement stays
 * prepared on its connection for the next borrower; any other is closed on
 * the server. Its open result, if any, is freed (and that handle goes
 * stale). Return: POOL_OK; POOL_E_WRONG_HANDLE for a stale or foreign
 * handle (closing twice is the caller's bug, reported, never a crash). */
POOL_API int pool_stmt_close(pool_stmt_t *stmt);

/* pool_store_result: read the whole current result set into memory.
 * *out_result is NULL (and POOL_OK returned) when the statement produced no
 * result set (INSERT, UPDATE, ...).
 * Ownership: the caller frees it with pool_result_free(); at the latest it is
 * freed by pool_release/pool_discard of the connection. */
POOL_API int pool_store_result(pool_conn_t *conn, pool_result_t **out_result);

/* pool_use_result: stream the current result set: rows are read from the
 * network as pool_result_fetch asks. Until the result is freed or fetched to
 * POOL_DONE, the connection accepts no other statement (POOL_E_MISUSE).
 * Ownership: as pool_store_result. */
POOL_API int pool_use_result(pool_conn_t *conn, pool_result_t **out_result);

/* pool_next_result: advance to the next result of a multi-statement query.
 * Return: POOL_OK when there is one (fetch it with store/use); POOL_DONE when
 * there is none; POOL_E_SERVER when the next statement failed. */
POOL_API int pool_next_result(pool_conn_t *conn);

/* ---------------------------------------------------------------------------
 * NON-BLOCKING CALLS (for event loops: asyncio, libuv, Lua cosockets, ...)
 *
 * A _start call begins an operation (on a borrowed connection, or a borrow) and returns
 * POOL_OK when it finished at once, or POOL_WAIT with *io saying what it
 * waits for: the socket io->fd readable (POOL_IO_READ) and/or writable
 * (POOL_IO_WRITE), and/or io->timeout_ms milliseconds (POOL_IO_TIMEOUT, set
 * when the connection has a read/write timeout). The loop waits for that
 * (epoll, uv_poll_t, loop.add_reader, ...) without blocking, then calls
 * pool_continue with the POOL_IO_* bits of what happened (POOL_IO_TIMEOUT
 * when the time ran out: the operation then fails and the connection is
 * closed at release). Repeat until pool_continue returns something other
 * than POOL_WAIT. A libuv loop: uv_poll_start(fd, events) and, with
 * POOL_IO_TIMEOUT, a uv_timer; on either, pool_continue. The fd may change
 * between waits only across a reconnect, which these calls never do.
 *
 * While an operation is in progress every other call on the connection
 * returns POOL_E_MISUSE. A connection released (or the pool destroyed)
 * mid-operation is closed, never reused: its socket is shut down and the
 * operation ended at once, without waiting for the server.
 * Results come through the usual result calls; rows of a result stored by
 * pool_store_result_start are in memory, so fetching them never blocks.
 * Thread-safety: as every call on a connection (one thread at a time).
 */
#define POOL_IO_READ 1u
#define POOL_IO_WRITE 2u
#define POOL_IO_TIMEOUT 8u
/* Only from the borrow calls: the borrow waits its turn in the pool's queue
 * (not for a helper thread). Borrows are served in the order they queued,
 * so a loop with many queued borrows of one pool may watch only the oldest
 * one's fd and, once it is served, try the next ones in order until one
 * still waits (pymysqlpool.aio does). Not a bit to wait for: a loop passes
 * only POOL_IO_READ / POOL_IO_TIMEOUT to the continue call. */
#define POOL_IO_QUEUED 16u

/* What a non-blocking operation waits for. Its fields are never extended. */
typedef struct pool_io_s {
    int fd;             /* the connection's socket */
    uint32_t events;    /* POOL_IO_READ | POOL_IO_WRITE | POOL_IO_TIMEOUT bits */
    int64_t timeout_ms; /* with POOL_IO_TIMEOUT: how long to wait; else -1 */
} pool_io_t;

/* Borrowing without blocking. An event loop's borrow waits in the same
 * first-come first-served queue as pool_get_conn's threads (fairness and
 * deadlines hold across both), but is woken through an eventfd the loop
 * watches; opening a connection for it, or a ping before checkout, runs on
 * a helper thread of the library, never on the loop's.
 *   pool_get_conn_start: POOL_OK with *out_conn when a connection is ready
 *     at once (an idle one whose check needs no round trip); POOL_WAIT with
 *     *out_wait and *io (io->fd readable, and io->timeout_ms with
 *     POOL_IO_TIMEOUT while the wait has a deadline or an overflow instant;
 *     POOL_IO_QUEUED while it waits in the queue).
 *     timeout_ms and flags: as pool_get_conn_ex (timeout_ms < 0: get_timeout);
 *     a read-only borrow falls back to the primary as there.
 *   pool_get_conn_continue: after the fd became readable or the timeout
 *     passed (an early call is harmless): POOL_OK with *out_conn, POOL_WAIT
 *     with *io again, or the failure (POOL_E_EXHAUSTED at the deadline,
 *     POOL_E_CLOSED, POOL_E_SERVER when a connection could not be opened).
 *     The wait handle is consumed by anything but POOL_WAIT.
 *   pool_get_conn_cancel: give up (a cancelled task): the borrow leaves the
 *     queue, and a connection already handed to it goes back to the pool.
 *     The wait handle is consumed.
 * Every wait handle must end in a connection, a failure or a cancel: one
 * left pending keeps its place in the queue, and a connection handed to it
 * stays borrowed. Ownership: the connection as pool_get_conn's. Return:
 * also POOL_E_WRONG_HANDLE for a bad pool or wait handle, POOL_E_BAD_ARGUMENT
 * for NULL out pointers or unknown flags. Thread-safety: any thread, one at
 * a time per wait handle. */
typedef struct pool_wait_s pool_wait_t;
POOL_API int pool_get_conn_start(pool_t *pool, int64_t timeout_ms, uint32_t flags, pool_conn_t **out_conn,
                                 pool_wait_t **out_wait, pool_io_t *io);
POOL_API int pool_get_conn_continue(pool_wait_t *wait, pool_conn_t **out_conn, pool_io_t *io);
POOL_API int pool_get_conn_cancel(pool_wait_t *wait);

/* pool_query_start: pool_query without blocking. Then read its result with
 * pool_store_result_start (or pool_store_result/pool_use_result, which
 * block). `sql` must stay valid until the statement finishes (libmariadb may
 * still be sending it when the call returns POOL_WAIT). Return: POOL_OK (sent and answered), POOL_WAIT (*io filled),
 * otherwise as pool_query; POOL_E_BAD_ARGUMENT also for a NULL io. */
POOL_API int pool_query_start(pool_conn_t *conn, const char *sql, size_t length, pool_io_t *io);

/* pool_store_result_start: pool_store_result without blocking.
 * *out_result is set when the call returns POOL_OK (NULL for a statement
 * without a result set); after POOL_WAIT it comes from pool_continue.
 * Ownership: as pool_store_result. Return: POOL_OK, POOL_WAIT, otherwise as
 * pool_store_result; POOL_E_MISUSE for a prepared statement's result (read
 * it with pool_store_result). */
POOL_API int pool_store_result_start(pool_conn_t *conn, pool_result_t **out_result, pool_io_t *io);

/* pool_ping_start: pool_ping without blocking. */
POOL_API int pool_ping_start(pool_conn_t *conn, pool_io_t *io);

/* pool_return_start: pool_return without blocking. The reset a release
 * does (unread rows drained, ROLLBACK of an open transaction, autocommit and
 * character set put back, COM_RESET_CONNECTION with reset_connection=1)
 * runs as non-blocking steps; most releases need none of them.
 * Return: POOL_OK when the connection is back in the pool (or closed, when
 * the reset failed or it was given back mid-operation), and the handle is
 * stale; POOL_WAIT (*io filled): drive it with pool_continue, whose POOL_OK
 * means the same. Meanwhile other calls on the connection return
 * POOL_E_MISUSE; pool_release/pool_discard/pool_return give up the reset
 * and close the connection (a cancelled task). Otherwise as pool_return;
 * POOL_E_BAD_ARGUMENT for a NULL io. The pool's books count the connection
 * as borrowed until the reset is over. */
POOL_API int pool_return_start(pool_conn_t *conn, pool_io_t *io);

/* pool_continue: go on with the connection's operation in progress after
 * what `ready` says happened (POOL_IO_* bits). out_result receives the
 * result when a pool_store_result_start finishes (it may be NULL for the
 * other operations). Return: POOL_OK (done), POOL_WAIT (*io filled again),
 * the operation's own failure (POOL_E_SERVER: the statement failed, or the
 * link; errno 2013 after a timeout), POOL_E_MISUSE when no operation is in
 * progress, POOL_E_BAD_ARGUMENT for unknown bits or a NULL io, or a NULL
 * out_result when a store finishes. */
POOL_API int pool_continue(pool_conn_t *conn, uint32_t ready, pool_io_t *io, pool_result_t **out_result);

/* Server status bits (as sent by the server) in pool_conn_info_t.server_status. */
#define POOL_STATUS_IN_TRANS 0x0001u
#define POOL_STATUS_AUTOCOMMIT 0x0002u
#define POOL_STATUS_MORE_RESULTS 0x0008u
#define POOL_STATUS_NO_BACKSLASH_ESCAPES 0x0200u

/* What the last statement left behind. New fields are only ever appended. */
typedef struct pool_conn_info_s {
    uint64_t struct_size;    /* set by pool_conn_info: bytes it filled in */
    uint64_t affected_rows;  /* rows changed/matched; UINT64_MAX after an error */
    uint64_t insert_id;      /* AUTO_INCREMENT value of the last INSERT, else 0 */
    uint64_t thread_id;      /* the server's connection id (for KILL) */
    uint64_t server_version; /* e.g. 101119 for 10.11.19 */
    uint32_t warning_count;  /* warnings of the last statement */
    uint32_t server_status;  /* POOL_STATUS_* bits */
    uint32_t field_count;    /* columns of the current result (0: none) */
    uint32_t protocol_version;
} pool_conn_info_t;

/* pool_conn_info: fill at most out_size bytes of *out.
 * POOL_E_BAD_ARGUMENT for NULL out or out_size < 16. No round trip. */
POOL_API int pool_conn_info(pool_conn_t *conn, pool_conn_info_t *out, size_t out_size);

/* Transactions and session. Each is one round trip. */
POOL_API int pool_commit(pool_conn_t *conn);
POOL_API int pool_rollback(pool_conn_t *conn);
/* pool_autocommit: on != 0 enables autocommit. The pool restores its own
 * setting on release. */
POOL_API int pool_autocommit(pool_conn_t *conn, int on);
/* pool_ping: COM_PING; POOL_E_SERVER when the link is gone (the connection
 * is then closed at release). */
POOL_API int pool_ping(pool_conn_t *conn);
/* pool_select_db: USE database (NUL-terminated name). */
POOL_API int pool_select_db(pool_conn_t *conn, const char *database);
/* pool_set_charset: SET NAMES charset; escaping follows it.
 * POOL_E_SERVER (errno 2019) for an unknown charset. */
POOL_API int pool_set_charset(pool_conn_t *conn, const char *charset);

/* pool_escape: escape `from_len` bytes for use inside a quoted SQL string,
 * honouring the connection's charset (multibyte sequences are never split)
 * and NO_BACKSLASH_ESCAPES (quotes are doubled then). Writes a NUL-terminated
 * string to `to` and its length (without the NUL) to *out_len.
 * to_size must be at least 2 * from_len + 1, else POOL_E_BAD_ARGUMENT.
 * No round trip. */
POOL_API int pool_escape(pool_conn_t *conn, const char *from, size_t from_len,
                         char *to, size_t to_size, size_t *out_len);

/* String facts about the connection. NULL for a bad handle.
 * Ownership: owned by the connection; valid until its release or until the
 * next pool_set_charset (for pool_conn_charset). */
POOL_API const char *pool_conn_charset(pool_conn_t *conn);     /* e.g. "utf8mb4" */
POOL_API const char *pool_conn_server_info(pool_conn_t *conn); /* e.g. "10.11.19-MariaDB-..." */
POOL_API const char *pool_conn_host_info(pool_conn_t *conn);   /* e.g. "127.0.0.1 via TCP/IP" */

/* The last error on this connection (as libmariadb keeps it: a successful
 * statement clears it). errno 0, SQLSTATE "00000" and "" when none.
 * For a bad handle: 0, "HY000" and a message saying so.
 * Ownership: valid until the next call on the connection. */
POOL_API unsigned int pool_conn_errno(pool_conn_t *conn);
POOL_API const char *pool_conn_error(pool_conn_t *conn);
POOL_API const char *pool_conn_sqlstate(pool_conn_t *conn);

/* ---------------------------------------------------------------------------
 * RESULTS
 */

/* Column metadata. Strings are NOT NUL-terminated: use the lengths. */
typedef struct pool_field_s {
    uint64_t struct_size; /* set by pool_result_field: bytes it filled in */
    const char *name;
    const char *org_name;
    const char *table;
    const char *org_table;
    const char *db;
    uint64_t name_length;
    uint64_t org_name_length;
    uint64_t table_length;
    uint64_t org_table_length;
    uint64_t db_length;
    uint64_t length;      /* declared display width */
    uint64_t max_length;  /* longest value in a stored result (0 when streaming) */
    uint32_t type;        /* MySQL protocol type number (MYSQL_TYPE_*, e.g. 3 LONG, 246 NEWDECIMAL) */
    uint32_t flags;       /* MySQL column flags (NOT_NULL 1, PRI_KEY 2, UNSIGNED 32, BINARY 128, ...) */
    uint32_t charsetnr;   /* collation id; 63 means binary */
    uint32_t decimals;
} pool_field_t;

/* pool_result_field_count: number of columns; 0 for a bad handle. */
POOL_API uint32_t pool_result_field_count(pool_result_t *result);

/* pool_result_row_count: rows in a stored result; for a streaming result the
 * rows fetched so far. 0 for a bad handle. */
POOL_API uint64_t pool_result_row_count(pool_result_t *result);

/* pool_result_field: metadata of column `index` (0-based), at most out_size
 * bytes of *out. Ownership: the strings belong to the result and live until
 * it is freed. Return: POOL_OK; POOL_E_BAD_ARGUMENT for an index out of
 * range, NULL out or out_size < 16; POOL_E_WRONG_HANDLE. */
POOL_API int pool_result_field(pool_result_t *result, uint32_t index, pool_field_t *out,
                               size_t out_size);

/* pool_result_fetch: the next row. On POOL_ROW, (*values)[i] points at column
 * i's text (binary-safe, NOT NUL-terminated: use (*lengths)[i]) or is NULL for
 * SQL NULL. Numbers, dates and decimals come as the server's text.
 * Ownership: both arrays and the bytes belong to the result and stay valid
 * until the next pool_result_fetch/pool_result_seek/pool_result_free.
 * Return: POOL_ROW; POOL_DONE after the last row; POOL_E_SERVER when a
 * streaming read fails; POOL_E_WRONG_HANDLE; POOL_E_BAD_ARGUMENT for NULL
 * out pointers. */
POOL_API int pool_result_fetch(pool_result_t *result, const char *const **values,
                               const size_t **lengths);

/* Flags for pool_result_fetch_pickle. */
#define POOL_PICKLE_RAW 1u            /* every non-NULL value as bytes */
#define POOL_PICKLE_TEXT_AS_BYTES 2u  /* text columns as bytes (non-UTF-8 charsets) */

/* pool_result_fetch_pickle: the next max_rows rows (0: all that are left) as
 * one Python pickle (protocol 3) of a list of tuples, values converted the
 * way PyMySQL converts text-protocol values: integers -> int, FLOAT/DOUBLE ->
 * float, DECIMAL -> decimal.Decimal, DATETIME/TIMESTAMP -> datetime.datetime,
 * DATE -> datetime.date, TIME -> datetime.timedelta (invalid or zero dates ->
 * str), binary-collation strings, BIT and GEOMETRY -> bytes, other text -> str
 * (bytes if not valid UTF-8), NULL -> None. For language bindings that can
 * unpickle: one call per batch instead of one per row. Server data only ever
 * appears inside length-prefixed string/bytes opcodes.
 * *out_rows receives the number of rows encoded (0 at the end of the result).
 * Ownership: the bytes belong to the result and stay valid until the next
 * fetch/seek/free of the result. Return: POOL_OK; POOL_E_SERVER when a
 * streaming read fails; POOL_E_WRONG_HANDLE; POOL_E_BAD_ARGUMENT for NULL out
 * pointers or unknown flags. */
POOL_API int pool_result_fetch_pickle(pool_result_t *result, uint64_t max_rows, uint32_t flags,
                                      const char **out_bytes, size_t *out_length,
                                      uint64_t *out_rows);

/* pool_result_fetch_pickle_start / pool_result_fetch_pickle_continue:
 * pool_result_fetch_pickle without blocking, for a result from
 * pool_use_result (a stored result's rows are in memory: they come at once).
 * A batch is exactly max_rows rows (0: all), fewer only at the end of the
 * result; an empty list after the end. The start returns POOL_OK with the
 * batch, or POOL_WAIT with *io (see NON-BLOCKING CALLS); then call
 * _continue with the POOL_IO_* bits of what happened until it returns
 * something other than POOL_WAIT. Meanwhile every other call on the
 * connection or the result returns POOL_E_MISUSE, except pool_result_free
 * and the release, which close the connection (the link is given up
 * mid-row). Ownership: *out_bytes as pool_result_fetch_pickle (after
 * POOL_WAIT it points to an empty buffer). Return: POOL_OK, POOL_WAIT,
 * otherwise as pool_result_fetch_pickle (POOL_E_SERVER for a link lost
 * mid-batch: the rows of that batch are lost), POOL_E_MISUSE for a
 * prepared statement's streaming result or a _continue without a fetch in
 * progress; POOL_E_BAD_ARGUMENT also for a NULL io or unknown `ready`
 * bits. Thread-safety: as every call on a result. */
POOL_API int pool_result_fetch_pickle_start(pool_result_t *result, uint64_t max_rows, uint32_t flags,
                                            const char **out_bytes, size_t *out_length, uint64_t *out_rows,
                                            pool_io_t *io);
POOL_API int pool_result_fetch_pickle_continue(pool_result_t *result, uint32_t ready, const char **out_bytes,
                                               size_t *out_length, uint64_t *out_rows, pool_io_t *io);

/* pool_result_fields_pickle: the result's column metadata as one pickle of
 * the tuple pool_query_pickle's `fields` bytes hold, byte for byte the same
 * (names as bytes with
 * POOL_PICKLE_TEXT_AS_BYTES). One call instead of one pool_result_field per
 * column. Ownership: the bytes belong to the result and stay valid until its
 * next fetch/seek/free. Return: POOL_OK; POOL_E_WRONG_HANDLE;
 * POOL_E_BAD_ARGUMENT for NULL out pointers or unknown flags. */
POOL_API int pool_result_fields_pickle(pool_result_t *result, uint32_t flags, const char **out_bytes,
                                       size_t *out_length);

/* pool_query_pickle: pool_query + pool_use_result + pool_result_field for
 * every column + pool_result_fetch_pickle + pool_result_free + pool_conn_info,
 * in one call: the outcome of one statement as one Python pickle (protocol 3)
 * of the tuple
 *   (fields, rows, tail)
 * fields: None for a statement without a result set; otherwise a bytes value
 *   that is itself a pickle of a tuple of (name, type, charsetnr, length,
 *   decimals, flags, table, org_name, org_table, db) per column (names as
 *   bytes with POOL_PICKLE_TEXT_AS_BYTES). Equal metadata gives equal bytes,
 *   so a binding can cache what it builds from them by the bytes.
 * rows: None without a result set; otherwise a list of row tuples converted
 *   as pool_result_fetch_pickle does.
 * tail: (affected_rows, insert_id, warning_count, server_status), with
 *   insert_id None and affected_rows the row count for a result set; or None
 *   when rows remain: rows come in batches of about 256 KiB of pickle, and
 *   pool_query_pickle_more returns the next ones.
 * Rows are encoded as they arrive, without a stored copy of the result.
 * While the caller reads a batch, a helper thread of the library reads and
 * encodes the next one (when the process may run on more than one CPU): the
 * wire and the caller's decoding then overlap. Any other call on the
 * connection waits for that helper first.
 * flags: POOL_PICKLE_*. For bindings that make one foreign call per statement.
 * Ownership: the bytes belong to the connection and stay valid until its next
 * call or its release. Return: as pool_query and pool_store_result;
 * POOL_E_BAD_ARGUMENT for NULL out pointers or unknown flags. A statement
 * whose remaining batches are not read is read to its end and dropped by the
 * next pool_query_pickle; other calls on the connection meanwhile fail with
 * POOL_E_MISUSE, as with an open pool_use_result. */
POOL_API int pool_query_pickle(pool_conn_t *conn, const char *sql, size_t length, uint32_t flags,
                               const char **out_bytes, size_t *out_length);

/* pool_query_pickle_more: the next batch of the outcome pool_query_pickle
 * started, as a pickle of (rows, tail) shaped as there (tail None: call
 * again). flags: as given to pool_query_pickle. Ownership: as
 * pool_query_pickle. Return: POOL_OK; POOL_E_MISUSE when no outcome is being
 * read, or it was started by pool_query_objects; POOL_E_SERVER when the link fails mid-result (the rest of the
 * outcome is gone); POOL_E_WRONG_HANDLE; POOL_E_BAD_ARGUMENT for NULL out
 * pointers, unknown flags, or flags other than pool_query_pickle's.
 * Thread-safety: as every call on a connection. */
POOL_API int pool_query_pickle_more(pool_conn_t *conn, uint32_t flags, const char **out_bytes,
                                    size_t *out_length);

/* pool_stmt_query_pickle: pool_query_pickle for `sql` as a prepared
 * statement with n_params parameters (the pool_param_t of
 * pool_query_params): taken from the connection's statement cache (prepared
 * on a miss, as pool_stmt_prepare does), executed, and its outcome encoded
 * as pool_query_pickle encodes a statement's (same tuple, same values: a
 * prepared statement's rows are the text protocol's); further batches come
 * from pool_query_pickle_more. One call per statement for bindings, with no
 * statement handle: the statement stays with the connection until its next
 * pool_query_pickle / pool_stmt_query_pickle or its release.
 * Ownership: as pool_query_pickle. Return: as pool_stmt_prepare,
 * pool_stmt_execute and pool_query_pickle. Thread-safety: as every call on
 * a connection. */
POOL_API int pool_stmt_query_pickle(pool_conn_t *conn, const char *sql, size_t sql_len, size_t n_params,
                                    const pool_param_t *params, uint32_t flags, const char **out_bytes,
                                    size_t *out_length);

/* pool_result_outcome_pickle: a stored result (pool_store_result or
 * pool_store_result_start) as pool_query_pickle encodes a statement's
 * outcome, (fields, rows, tail), all rows in one pickle, for bindings that
 * read the result without blocking; then frees it (the handle is stale
 * after the call, whatever it returns). tail's affected_rows is the row
 * count, insert_id None. Ownership: the bytes belong to the connection,
 * valid until its next call or its release. Return: POOL_OK;
 * POOL_E_WRONG_HANDLE; POOL_E_MISUSE for a streaming result;
 * POOL_E_BAD_ARGUMENT for NULL out pointers or unknown flags. */
POOL_API int pool_result_outcome_pickle(pool_result_t *result, uint32_t flags, const char **out_bytes,
                                        size_t *out_length);

/* ---------------------------------------------------------------------------
 * PYTHON OBJECTS (for a binding running inside CPython)
 *
 * The library links no libpython. A binding running inside CPython may hand
 * it, once, the addresses of the CPython C-API functions and objects below
 * (from ctypes.pythonapi and id()); pool_query_objects then builds a
 * statement's outcome as Python objects directly, with no pickle between.
 * It takes the GIL (PyGILState_Ensure) only while it builds, never during
 * network I/O. C programs and other runtimes never call these.
 */
typedef struct pool_python_api_s {
    size_t struct_size; /* sizeof(pool_python_api_t) as the binding knows it */
    void *(*tuple_new)(ptrdiff_t size);                             /* PyTuple_New */
    int (*tuple_set_item)(void *tuple, ptrdiff_t index, void *item);  /* PyTuple_SetItem */
    void *(*list_new)(ptrdiff_t size);                               /* PyList_New */
    int (*list_set_item)(void *list, ptrdiff_t index, void *item);   /* PyList_SetItem */
    void *(*long_from_long_long)(long long value);                   /* PyLong_FromLongLong */
    void *(*long_from_unsigned_long_long)(unsigned long long value); /* PyLong_FromUnsignedLongLong */
    void *(*long_from_string)(const char *text, char **end, int base); /* PyLong_FromString */
    void *(*float_from_double)(double value);                        /* PyFloat_FromDouble */
    void *(*unicode_decode_utf8)(const char *text, ptrdiff_t size, const char *errors); /* PyUnicode_DecodeUTF8 */
    void *(*bytes_from_string_and_size)(const char *bytes, ptrdiff_t size); /* PyBytes_FromStringAndSize */
    void *(*object_call)(void *callable, void *args, void *kwargs);  /* PyObject_Call */
    int (*gil_state_ensure)(void);                                   /* PyGILState_Ensure */
    void (*gil_state_release)(int state);                            /* PyGILState_Release */
    void (*inc_ref)(void *object);                                   /* Py_IncRef */
    void (*dec_ref)(void *object);                                   /* Py_DecRef */
    void (*err_clear)(void);                                         /* PyErr_Clear */
    void *none;      /* Py_None */
    void *decimal;   /* decimal.Decimal */
    void *datetime;  /* datetime.datetime */
    void *date;      /* datetime.date */
    void *timedelta; /* datetime.timedelta */
} pool_python_api_t;

/* pool_python_init: hands the library the CPython API above. The objects
 * must stay alive for the life of the process (a module's globals do).
 * Return: POOL_OK; POOL_E_BAD_ARGUMENT for NULL, a struct_size other than
 * sizeof(pool_python_api_t), or a NULL member; POOL_E_MISUSE when it was
 * already given (one interpreter per process). Thread-safety: once, before
 * pool_query_objects. */
POOL_API int pool_python_init(const pool_python_api_t *api);

/* pool_query_objects: pool_query_pickle's outcome as Python objects: a new
 * reference to the tuple (fields, rows, tail) pool_query_pickle's pickle
 * holds (fields the same nested pickle bytes, rows a list of tuples of the
 * same values, tail None when rows remain: pool_query_objects_more returns
 * the next ones). Rows are read in batches of about 256 KiB as they arrive,
 * without the GIL; while the caller works on a batch, a helper thread reads
 * the next one (as pool_query_pickle's). The GIL is taken
 * (PyGILState_Ensure) only to build a batch's objects. flags: as
 * pool_query_pickle.
 * Return: the tuple; on failure a new reference to None (never NULL after
 * pool_python_init: ctypes' py_object cannot take one), with the failure
 * recorded (pool_last_error_code): the failures of pool_query and
 * pool_use_result, or POOL_E_NO_MEMORY when CPython could not build an
 * object (its exception is cleared, the rest of the outcome dropped).
 * NULL, with POOL_E_MISUSE recorded, before pool_python_init. The caller
 * holds no GIL during the call (ctypes.CDLL releases it). A statement whose
 * remaining batches are not read is dropped as pool_query_pickle's is.
 * Thread-safety: as every call on a connection. */
POOL_API void *pool_query_objects(pool_conn_t *conn, const char *sql, size_t length, uint32_t flags);

/* pool_stmt_query_objects: pool_query_objects for `sql` as a prepared
 * statement with n_params parameters, as pool_stmt_query_pickle runs one
 * (the connection's statement cache; the same values: a prepared
 * statement's rows are the text protocol's): a new reference to (fields,
 * rows, tail), further batches from pool_query_objects_more.
 * Return: as pool_query_objects, with the failures of pool_stmt_prepare and
 * pool_stmt_execute. Thread-safety: as every call on a connection. */
POOL_API void *pool_stmt_query_objects(pool_conn_t *conn, const char *sql, size_t sql_len, size_t n_params,
                                       const pool_param_t *params, uint32_t flags);

/* pool_result_outcome_objects: pool_result_outcome_pickle's outcome as
 * Python objects: a new reference to the tuple (fields, rows, tail) shaped
 * as pool_query_objects' (tail never None: the rows are all in memory, no
 * I/O), for bindings that stored the result without blocking
 * (pool_store_result_start). The result is freed, whatever the call
 * returns, and its handle is stale afterwards. flags: as
 * pool_query_pickle. Return: the tuple; on failure a new reference to None
 * with the failure recorded: POOL_E_WRONG_HANDLE; POOL_E_MISUSE for a
 * streaming result; POOL_E_BAD_ARGUMENT for unknown flags (the result is
 * then not freed); POOL_E_NO_MEMORY as pool_query_objects. NULL before
 * pool_python_init, as there. Thread-safety: as every call on the result's
 * connection. */
POOL_API void *pool_result_outcome_objects(pool_result_t *result, uint32_t flags);

/* pool_query_objects_more: the next batch of the outcome pool_query_objects
 * started, as a new reference to the tuple (rows, tail) shaped as there
 * (tail None: call again). flags: as given to pool_query_objects.
 * Return: the tuple; on failure a new reference to None with the failure
 * recorded: POOL_E_MISUSE when no outcome is being read, or it was started
 * by pool_query_pickle; POOL_E_SERVER when the link fails mid-result (the
 * rest of the outcome is gone); POOL_E_WRONG_HANDLE; POOL_E_BAD_ARGUMENT for
 * flags other than pool_query_objects'; POOL_E_NO_MEMORY as there. NULL
 * before pool_python_init, as there. Thread-safety: as every call on a
 * connection. */
POOL_API void *pool_query_objects_more(pool_conn_t *conn, uint32_t flags);

/* pool_format_insert_pickle: executemany's multi-row INSERT statements,
 * written without a round trip, for bindings that would otherwise escape
 * every value in their own language.
 * request: `request_length` bytes of a Python pickle (protocols 2-5) of the
 *   tuple (prefix, pieces, postfix, rows): prefix ("INSERT ... VALUES ") and
 *   postfix (" ON DUPLICATE KEY ...", or empty) are bytes; pieces is a tuple
 *   of the bytes around a row's placeholders ("(", ", ", ")" for "(%s, %s)"),
 *   one more than a row has values; rows is a list or tuple of tuples or lists
 *   of None, bool, int (64 bits), float, str and bytes. Only those opcodes are read:
 *   the request can never construct an object or call anything.
 * Each row becomes the pieces with its values between them as SQL literals:
 *   NULL; 1 or 0; decimal digits; a float as Python's repr() with "e0"
 *   added when it has no exponent; X'hex' for bytes; a quoted string for str,
 *   escaped with backslashes or, under NO_BACKSLASH_ESCAPES (the server
 *   status), by doubling '. Rows are joined with "," after `prefix`, and a
 *   statement is closed with `postfix` before a row would take it past
 *   `max_statement_length` bytes (a longer row gets a statement of its own).
 * Output: a pickle (protocol 3) of the list of statements, as bytes.
 * Ownership: the bytes belong to the connection and stay valid until its
 * next call or its release. Return: POOL_OK; POOL_E_MISUSE when the request
 * holds what this call leaves to the caller (inf or nan, a nested sequence, a
 * row whose length does not match the placeholders, a list object that
 * appears twice, a str with lone surrogates, an int beyond 64 bits) or the
 * connection's character set is not utf8/utf8mb4: format those rows another
 * way; POOL_E_BAD_ARGUMENT for NULL pointers, max_statement_length 0, or a
 * malformed pickle (the message names the offset); POOL_E_WRONG_HANDLE.
 * Thread-safety: as every call on a connection. */
POOL_API int pool_format_insert_pickle(pool_conn_t *conn, const void *request, size_t request_length,
                                       size_t max_statement_length, const char **out_bytes,
                                       size_t *out_length);

/* pool_result_seek: move a stored result to row `row` (0-based) so the next
 * fetch returns it. POOL_E_MISUSE for a streaming result;
 * POOL_E_BAD_ARGUMENT when row > row count. */
POOL_API int pool_result_seek(pool_result_t *result, uint64_t row);

/* pool_result_free: free a result; a streaming one is read to its end first
 * so the connection can be used again. NULL, an already freed result, or one
 * freed by its connection's release is a harmless no-op. */
POOL_API void pool_result_free(pool_result_t *result);

#ifdef __cplusplus
}
#endif

#endif /* MYSQLPOOL_H */
