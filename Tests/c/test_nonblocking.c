/*
 * test_nonblocking.c: the non-blocking calls (pool_query_start,
 * pool_store_result_start, pool_ping_start, pool_continue) driven by a
 * poll() loop, as an event loop drives them: the start returns before the
 * server answers, two connections run their statements at once on one
 * thread, other calls are refused mid-operation, a server error and a
 * timeout come back as statuses, and a connection released mid-operation is
 * closed at once, never reused. Borrowing without blocking: at once, after
 * a wait in the queue shared with threads (first come, first served), at
 * the deadline, cancelled before and after a connection was handed over
 * (the books stay right), and opened by a helper thread. Giving back
 * without blocking (pool_return_start): the reset's steps, unread rows
 * drained, reset_connection, given up midway, a link lost midway. A
 * streaming result's rows in batches without blocking, and abandoned
 * mid-batch.
 *
 * Run under scripts/server/with-mariadb.sh.
 */
#define _POSIX_C_SOURCE 200809L

#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>

#include "testlib.h"

static pool_t *pool;

/* Waits as the io says, once: the POOL_IO_* bits of what happened. */
static uint32_t wait_once(const pool_io_t *io) {
    struct pollfd p;
    uint32_t ready = 0;
    int rc;
    p.fd = io->fd;
    p.events = (short)((io->events & POOL_IO_READ ? POLLIN : 0) | (io->events & POOL_IO_WRITE ? POLLOUT : 0));
    p.revents = 0;
    rc = poll(&p, 1, io->events & POOL_IO_TIMEOUT ? (int)io->timeout_ms : -1);
    if (rc == 0)
        return POOL_IO_TIMEOUT;
    if (p.revents & (POLLIN | POLLHUP | POLLERR))
        ready |= POOL_IO_READ;
    if (p.revents & POLLOUT)
        ready |= POOL_IO_WRITE;
    return ready;
}

/* Drives an operation to its end; *waits counts the POOL_WAITs. */
static int drive(pool_conn_t *conn, int rc, pool_io_t *io, pool_result_t **result, int *waits) {
    while (rc == POOL_WAIT) {
        if (waits)
            (*waits)++;
        rc = pool_continue(conn, wait_once(io), io, result);
    }
    return rc;
}

static pool_conn_t *borrow(pool_t *from) {
    pool_conn_t *conn = NULL;
    if (pool_get_conn(from, 5000, &conn) != POOL_OK)
        fprintf(stderr, "borrow: %s\n", pool_last_error());
    return conn;
}

static void test_start_returns_before_the_answer(void) {
    pool_conn_t *conn = borrow(pool);
    pool_result_t *result = NULL;
    const char *const *values;
    const size_t *lengths;
    pool_io_t io;
    int waits = 0, rc;
    double started = tl_now_ms(), returned;
    static const char sql[] = "SELECT SLEEP(0.3), 7";
    rc = pool_query_start(conn, sql, sizeof sql - 1, &io);
    returned = tl_now_ms() - started;
    CHECK_RC(rc, POOL_WAIT);
    tl_check(returned < 150, __FILE__, __LINE__, "the start did not wait for the server", "%.0f ms", returned);
    CHECK(io.fd >= 0 && (io.events & POOL_IO_READ));
    CHECK_RC(drive(conn, rc, &io, NULL, &waits), POOL_OK);
    CHECK(waits >= 1);
    tl_check(tl_now_ms() - started >= 250, __FILE__, __LINE__, "the statement ran", "%.0f ms", tl_now_ms() - started);
    rc = pool_store_result_start(conn, &result, &io);
    CHECK_RC(drive(conn, rc, &io, &result, NULL), POOL_OK);
    if (CHECK(result != NULL) && CHECK_RC(pool_result_fetch(result, &values, &lengths), POOL_ROW)) {
        CHECK_MEM(values[0], lengths[0], "0", 1);
        CHECK_MEM(values[1], lengths[1], "7", 1);
    }
    pool_result_free(result);
    /* A statement without a result set: nothing to store. */
    rc = pool_query_start(conn, "DO 1", 4, &io);
    CHECK_RC(drive(conn, rc, &io, NULL, NULL), POOL_OK);
    result = (pool_result_t *)&io;
    CHECK_RC(pool_store_result_start(conn, &result, &io), POOL_OK);
    CHECK(result == NULL);
    rc = pool_ping_start(conn, &io);
    CHECK_RC(drive(conn, rc, &io, NULL, NULL), POOL_OK);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 5"), 5); /* the blocking calls still work */
    pool_release(pool, conn);
}

/* One thread, two connections, two SLEEP(0.3)s: together in about 0.3 s. */
static void test_two_connections_on_one_thread(void) {
    pool_conn_t *conns[2];
    pool_io_t io[2];
    int rc[2], i, busy;
    double started = tl_now_ms(), took;
    for (i = 0; i < 2; i++) {
        conns[i] = borrow(pool);
        rc[i] = pool_query_start(conns[i], "SELECT SLEEP(0.3)", 17, &io[i]);
        CHECK_RC(rc[i], POOL_WAIT);
    }
    do {
        struct pollfd fds[2];
        busy = 0;
        for (i = 0; i < 2; i++) {
            fds[i].fd = rc[i] == POOL_WAIT ? io[i].fd : -1;
            fds[i].events = POLLIN;
            fds[i].revents = 0;
            busy += rc[i] == POOL_WAIT;
        }
        if (!busy || poll(fds, 2, 5000) <= 0)
            break;
        for (i = 0; i < 2; i++)
            if (rc[i] == POOL_WAIT && fds[i].revents)
                rc[i] = pool_continue(conns[i], POOL_IO_READ, &io[i], NULL);
    } while (1);
    took = tl_now_ms() - started;
    CHECK_RC(rc[0], POOL_OK);
    CHECK_RC(rc[1], POOL_OK);
    tl_check(took < 550, __FILE__, __LINE__, "both ran at once", "%.0f ms", took);
    for (i = 0; i < 2; i++) {
        pool_result_t *result = NULL;
        CHECK_RC(pool_store_result(conns[i], &result), POOL_OK);
        pool_result_free(result);
        pool_release(pool, conns[i]);
    }
}

static void test_calls_refused_mid_operation(void) {
    pool_conn_t *conn = borrow(pool);
    pool_result_t *result = NULL;
    pool_io_t io;
    int rc = pool_query_start(conn, "SELECT SLEEP(0.2)", 17, &io);
    CHECK_RC(rc, POOL_WAIT);
    CHECK_RC(pool_query(conn, "SELECT 1", 8), POOL_E_MISUSE);
    CHECK_CONTAINS(pool_last_error(), "non-blocking operation is in progress");
    CHECK_RC(pool_ping(conn), POOL_E_MISUSE);
    CHECK_RC(pool_query_start(conn, "SELECT 1", 8, &io), POOL_E_MISUSE);
    CHECK_RC(pool_continue(conn, 0x40, &io, NULL), POOL_E_BAD_ARGUMENT);
    CHECK_CONTAINS(pool_last_error(), "0x40");
    CHECK_RC(pool_continue(conn, POOL_IO_READ, NULL, NULL), POOL_E_BAD_ARGUMENT);
    CHECK_RC(drive(conn, rc, &io, NULL, NULL), POOL_OK);
    CHECK_RC(pool_store_result(conn, &result), POOL_OK);
    pool_result_free(result);
    /* Nothing in progress any more. */
    CHECK_RC(pool_continue(conn, POOL_IO_READ, &io, NULL), POOL_E_MISUSE);
    /* A server error is the operation's status. */
    rc = pool_query_start(conn, "SELEC 1", 7, &io);
    CHECK_RC(drive(conn, rc, &io, NULL, NULL), POOL_E_SERVER);
    CHECK_LAST_ERROR(POOL_E_SERVER, 1064, "42000");
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 6"), 6);
    /* Bad handles and arguments. */
    CHECK_RC(pool_query_start(NULL, "SELECT 1", 8, &io), POOL_E_WRONG_HANDLE);
    CHECK_RC(pool_continue(NULL, POOL_IO_READ, &io, NULL), POOL_E_WRONG_HANDLE);
    CHECK_RC(pool_ping_start(conn, NULL), POOL_E_BAD_ARGUMENT);
    CHECK_RC(pool_store_result_start(conn, NULL, &io), POOL_E_BAD_ARGUMENT);
    pool_release(pool, conn);
}

/* Released in the middle of a statement: closed at once (the server is not
 * waited for), counted as broken, never handed out again. */
static void test_release_mid_operation_closes(void) {
    pool_t *p = NULL;
    pool_conn_t *conn;
    pool_io_t io;
    uint64_t thread_id;
    double started;
    if (!CHECK_RC(tl_pool(&p, "size", "1", "maxsize", "1", NULL), POOL_OK))
        return;
    conn = borrow(p);
    thread_id = tl_info(conn).thread_id;
    CHECK_RC(pool_query_start(conn, "SELECT SLEEP(5)", 15, &io), POOL_WAIT);
    started = tl_now_ms();
    CHECK_RC(pool_release(p, conn), POOL_OK);
    tl_check(tl_now_ms() - started < 1000, __FILE__, __LINE__, "the release did not wait for the statement",
             "%.0f ms", tl_now_ms() - started);
    CHECK_EQ_U64(tl_stats(p).closed_broken, 1);
    conn = borrow(p);
    CHECK(conn != NULL && tl_info(conn).thread_id != thread_id);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 3"), 3);
    pool_release(p, conn);
    /* The same with the pool destroyed under a borrowed connection mid-operation. */
    conn = borrow(p);
    CHECK_RC(pool_query_start(conn, "SELECT SLEEP(5)", 15, &io), POOL_WAIT);
    started = tl_now_ms();
    pool_destroy(p);
    CHECK_RC(pool_release(p, conn), POOL_OK);
    tl_check(tl_now_ms() - started < 1000, __FILE__, __LINE__, "destroy and release did not wait", "%.0f ms",
             tl_now_ms() - started);
}

/* With read_timeout, the wait includes a timeout; when it runs out the
 * operation fails with a lost link and the connection is closed. */
static void test_timeout(void) {
    pool_t *p = NULL;
    pool_conn_t *conn;
    pool_io_t io;
    int rc;
    if (!CHECK_RC(tl_pool(&p, "size", "1", "maxsize", "1", "read_timeout", "1", NULL), POOL_OK))
        return;
    conn = borrow(p);
    rc = pool_query_start(conn, "SELECT SLEEP(3)", 15, &io);
    CHECK_RC(rc, POOL_WAIT);
    CHECK(io.events & POOL_IO_TIMEOUT);
    CHECK(io.timeout_ms > 0 && io.timeout_ms <= 1000);
    rc = pool_continue(conn, POOL_IO_TIMEOUT, &io, NULL);
    CHECK_RC(rc, POOL_E_SERVER);
    CHECK(tl_link_lost_errno(pool_last_errno()));
    CHECK_RC(pool_release(p, conn), POOL_OK);
    CHECK_EQ_U64(tl_stats(p).closed_broken, 1);
    conn = borrow(p);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 4"), 4);
    pool_release(p, conn);
    pool_destroy(p);
}

/* Drives a borrow to its end with poll(); *waits counts the POOL_WAITs. */
static int drive_borrow(int rc, pool_wait_t *wait, pool_conn_t **conn, pool_io_t *io, int *waits) {
    while (rc == POOL_WAIT) {
        if (waits)
            (*waits)++;
        wait_once(io);
        rc = pool_get_conn_continue(wait, conn, io);
    }
    return rc;
}

static void test_borrow_at_once_and_by_a_helper(void) {
    pool_t *p = NULL;
    pool_conn_t *conn = NULL, *again = NULL;
    pool_wait_t *wait = NULL;
    pool_io_t io;
    int rc, waits = 0;
    if (!CHECK_RC(tl_pool(&p, "size", "1", "maxsize", "2", NULL), POOL_OK))
        return;
    /* Nothing open yet: a helper thread opens it; the start does not wait. */
    rc = pool_get_conn_start(p, 5000, 0, &conn, &wait, &io);
    CHECK_RC(rc, POOL_WAIT);
    CHECK(conn == NULL && wait != NULL && io.fd >= 0 && (io.events & POOL_IO_READ));
    CHECK(!(io.events & POOL_IO_QUEUED)); /* a helper opens the connection */
    CHECK_RC(drive_borrow(rc, wait, &conn, &io, &waits), POOL_OK);
    CHECK(conn != NULL && waits >= 1);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 2"), 2);
    CHECK_RC(pool_get_conn_continue(wait, &again, &io), POOL_E_WRONG_HANDLE); /* consumed */
    CHECK_RC(pool_release(p, conn), POOL_OK);
    /* Idle now: at once. */
    wait = NULL;
    CHECK_RC(pool_get_conn_start(p, 5000, 0, &conn, &wait, &io), POOL_OK);
    CHECK(conn != NULL && wait == NULL);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 3"), 3);
    CHECK_RC(pool_release(p, conn), POOL_OK);
    CHECK_EQ_U64(tl_stats(p).created, 1);
    CHECK_RC(pool_get_conn_start(p, 5000, 4, &conn, &wait, &io), POOL_E_BAD_ARGUMENT);
    CHECK_RC(pool_get_conn_start(p, 5000, 0, &conn, NULL, &io), POOL_E_BAD_ARGUMENT);
    CHECK_RC(pool_get_conn_start(NULL, 5000, 0, &conn, &wait, &io), POOL_E_WRONG_HANDLE);
    CHECK_RC(pool_get_conn_cancel(NULL), POOL_E_WRONG_HANDLE);
    pool_destroy(p);
}

struct holder {
    pool_t *pool;
    pool_conn_t *conn;
    int rc;
};

static void *borrow_blocking(void *arg) {
    struct holder *h = arg;
    h->rc = pool_get_conn(h->pool, 5000, &h->conn);
    return NULL;
}

/* One connection, held. A thread queues first, then a loop's borrow: the
 * release goes to the thread (first come), the next one to the loop. */
static void test_borrow_waits_its_turn_with_threads(void) {
    pool_t *p = NULL;
    pool_conn_t *held, *conn = NULL;
    pool_wait_t *wait = NULL;
    pool_io_t io;
    struct holder thread_side;
    pthread_t thread;
    struct pollfd pfd;
    int rc;
    if (!CHECK_RC(tl_pool(&p, "size", "1", "maxsize", "1", NULL), POOL_OK))
        return;
    held = borrow(p);
    thread_side.pool = p;
    thread_side.conn = NULL;
    pthread_create(&thread, NULL, borrow_blocking, &thread_side);
    while (tl_stats(p).waiting < 1)
        tl_sleep_ms(1);
    rc = pool_get_conn_start(p, 5000, 0, &conn, &wait, &io);
    CHECK_RC(rc, POOL_WAIT);
    CHECK_EQ_U64(tl_stats(p).waiting, 2);
    CHECK(io.events & POOL_IO_TIMEOUT);
    CHECK(io.events & POOL_IO_QUEUED); /* in the queue, not with a helper */
    CHECK(io.timeout_ms > 4000 && io.timeout_ms <= 5000);
    pfd.fd = io.fd, pfd.events = POLLIN, pfd.revents = 0;
    CHECK_EQ_INT(poll(&pfd, 1, 50), 0); /* nothing yet */
    CHECK_RC(pool_release(p, held), POOL_OK);
    pthread_join(thread, NULL);
    CHECK_RC(thread_side.rc, POOL_OK); /* the thread was first */
    CHECK_RC(pool_get_conn_continue(wait, &conn, &io), POOL_WAIT);
    CHECK(conn == NULL);
    CHECK_RC(pool_release(p, thread_side.conn), POOL_OK);
    CHECK_EQ_INT(poll(&pfd, 1, 1000), 1); /* handed over: the fd is readable */
    CHECK_RC(drive_borrow(POOL_WAIT, wait, &conn, &io, NULL), POOL_OK);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 4"), 4);
    CHECK_RC(pool_release(p, conn), POOL_OK);
    CHECK_EQ_U64(tl_stats(p).in_use, 0);
    CHECK_EQ_U64(tl_stats(p).created, 1);
    pool_destroy(p);
}

static void test_borrow_deadline_and_cancel(void) {
    pool_t *p = NULL;
    pool_conn_t *held, *conn = NULL;
    pool_wait_t *wait = NULL;
    pool_io_t io;
    pool_stats_t stats;
    double started;
    int rc;
    if (!CHECK_RC(tl_pool(&p, "size", "1", "maxsize", "1", NULL), POOL_OK))
        return;
    held = borrow(p);
    /* The deadline: the loop's timer fires, the borrow fails. */
    started = tl_now_ms();
    rc = pool_get_conn_start(p, 100, 0, &conn, &wait, &io);
    CHECK_RC(rc, POOL_WAIT);
    CHECK((io.events & POOL_IO_TIMEOUT) && io.timeout_ms <= 100);
    CHECK_RC(drive_borrow(rc, wait, &conn, &io, NULL), POOL_E_EXHAUSTED);
    tl_check(tl_now_ms() - started >= 95, __FILE__, __LINE__, "waited until the deadline", "%.0f ms",
             tl_now_ms() - started);
    CHECK_EQ_U64(tl_stats(p).timeouts, 1);
    CHECK_EQ_U64(tl_stats(p).waiting, 0);
    /* Cancelled while queued: out of the queue. */
    CHECK_RC(pool_get_conn_start(p, 5000, 0, &conn, &wait, &io), POOL_WAIT);
    CHECK_EQ_U64(tl_stats(p).waiting, 1);
    CHECK_RC(pool_get_conn_cancel(wait), POOL_OK);
    CHECK_EQ_U64(tl_stats(p).waiting, 0);
    CHECK_RC(pool_get_conn_cancel(wait), POOL_E_WRONG_HANDLE);
    /* Cancelled after the release handed it the connection: back to idle. */
    CHECK_RC(pool_get_conn_start(p, 5000, 0, &conn, &wait, &io), POOL_WAIT);
    CHECK_RC(pool_release(p, held), POOL_OK);
    stats = tl_stats(p);
    CHECK_EQ_U64(stats.in_use, 1); /* handed over, not yet taken */
    CHECK_RC(pool_get_conn_cancel(wait), POOL_OK);
    stats = tl_stats(p);
    CHECK_EQ_U64(stats.in_use, 0);
    CHECK_EQ_U64(stats.idle, 1);
    CHECK_EQ_U64(stats.total, 1);
    conn = borrow(p);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 5"), 5);
    /* Destroyed while a loop waits: the borrow fails with POOL_E_CLOSED. */
    CHECK_RC(pool_get_conn_start(p, 5000, 0, &held, &wait, &io), POOL_WAIT);
    pool_destroy(p);
    CHECK_RC(drive_borrow(POOL_WAIT, wait, &held, &io, NULL), POOL_E_CLOSED);
    CHECK_RC(pool_release(p, conn), POOL_OK);
}

/* A connection that needs a ping before checkout (validation_interval, or
 * POOL_GET_PING) is pinged by a helper: the start does not wait for it. */
static void test_borrow_pinged_by_a_helper(void) {
    pool_t *p = NULL;
    pool_conn_t *conn = NULL;
    pool_wait_t *wait = NULL;
    pool_io_t io;
    int rc;
    if (!CHECK_RC(tl_pool(&p, "size", "1", "maxsize", "1", "pre_create_num", "1", "validation_interval", "0.02",
                          NULL), POOL_OK))
        return;
    tl_sleep_ms(60);
    rc = pool_get_conn_start(p, 5000, 0, &conn, &wait, &io);
    CHECK_RC(rc, POOL_WAIT);
    CHECK_RC(drive_borrow(rc, wait, &conn, &io, NULL), POOL_OK);
    CHECK_EQ_U64(tl_stats(p).pings, 1);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 8"), 8);
    CHECK_RC(pool_release(p, conn), POOL_OK);
    rc = pool_get_conn_start(p, 5000, POOL_GET_PING, &conn, &wait, &io);
    CHECK_RC(rc, POOL_WAIT);
    CHECK_RC(drive_borrow(rc, wait, &conn, &io, NULL), POOL_OK);
    CHECK_EQ_U64(tl_stats(p).pings, 2);
    CHECK_RC(pool_release(p, conn), POOL_OK);
    pool_destroy(p);
}

/* Gives conn back with pool_return_start, driving the reset with poll();
 * *waits counts the POOL_WAITs. */
static int give_back(pool_conn_t *conn, int *waits) {
    pool_io_t io;
    return drive(conn, pool_return_start(conn, &io), &io, NULL, waits);
}

/* Leaves a transaction whose ROLLBACK takes the server a while, so the
 * reset's first step surely waits for it. */
static void open_big_transaction(pool_conn_t *conn) {
    CHECK_RC(tl_exec(conn, "CREATE TEMPORARY TABLE IF NOT EXISTS t_return (a INT) ENGINE=InnoDB"), POOL_OK);
    CHECK_RC(tl_exec(conn, "BEGIN"), POOL_OK);
    CHECK_RC(tl_exec(conn, "INSERT INTO t_return SELECT seq FROM seq_1_to_100000"), POOL_OK);
}

/* A clean connection goes back at once; a dirty one (an open transaction,
 * autocommit or the character set changed) through non-blocking steps that
 * put the session back, and the books count the resets. */
static void test_return_start_resets_without_blocking(void) {
    pool_t *p = NULL;
    pool_conn_t *conn;
    pool_io_t io;
    int waits = 0;
    uint64_t thread_id;
    if (!CHECK_RC(tl_pool(&p, "size", "1", "maxsize", "1", NULL), POOL_OK))
        return;
    conn = borrow(p);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 1"), 1);
    CHECK_RC(give_back(conn, &waits), POOL_OK);
    CHECK_EQ_INT(waits, 0);
    CHECK_EQ_U64(tl_stats(p).idle, 1);
    CHECK_RC(pool_return_start(conn, &io), POOL_E_WRONG_HANDLE); /* the handle is stale */

    conn = borrow(p);
    thread_id = tl_info(conn).thread_id;
    open_big_transaction(conn);
    CHECK_RC(tl_exec(conn, "SET autocommit = 0"), POOL_OK);
    CHECK_RC(pool_set_charset(conn, "latin1"), POOL_OK);
    if (CHECK_RC(pool_return_start(conn, &io), POOL_WAIT)) {
        CHECK_RC(pool_query(conn, "SELECT 1", 8), POOL_E_MISUSE); /* the reset owns the wire */
        CHECK_RC(drive(conn, POOL_WAIT, &io, NULL, &waits), POOL_OK);
    }
    CHECK_EQ_U64(tl_stats(p).resets, 1);
    CHECK_EQ_U64(tl_stats(p).idle, 1);
    conn = borrow(p);
    CHECK_EQ_U64(tl_info(conn).thread_id, thread_id);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT COUNT(*) FROM t_return"), 0); /* rolled back */
    CHECK_EQ_INT(tl_query_int(conn, "SELECT @@autocommit"), 1);
    CHECK(tl_info(conn).server_status & POOL_STATUS_AUTOCOMMIT);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT @@character_set_client = 'utf8mb4'"), 1);
    CHECK_RC(give_back(conn, NULL), POOL_OK);
    pool_destroy(p);
}

/* Rows left unread (a streaming result half read, the further results of a
 * multi-statement query) are drained without blocking; the connection is
 * reused, with a quiet wire. */
static void test_return_start_drains_unread_rows(void) {
    pool_t *p = NULL;
    pool_conn_t *conn;
    pool_result_t *result = NULL;
    const char *const *values;
    const size_t *lengths;
    int waits = 0;
    uint64_t thread_id;
    static const char rows[] = "SELECT seq, REPEAT('x', 200) FROM seq_1_to_50000";
    static const char several[] = "SELECT 1; SELECT 2; SELECT seq FROM seq_1_to_3";
    if (!CHECK_RC(tl_pool(&p, "size", "1", "maxsize", "1", "multi_statements", "1", NULL), POOL_OK))
        return;
    conn = borrow(p);
    thread_id = tl_info(conn).thread_id;
    CHECK_RC(pool_query(conn, rows, sizeof rows - 1), POOL_OK);
    CHECK_RC(pool_use_result(conn, &result), POOL_OK);
    CHECK_RC(pool_result_fetch(result, &values, &lengths), POOL_ROW);
    CHECK_RC(give_back(conn, &waits), POOL_OK);
    CHECK(waits >= 1);
    conn = borrow(p);
    CHECK_EQ_U64(tl_info(conn).thread_id, thread_id);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 5"), 5);
    CHECK_RC(pool_query(conn, several, sizeof several - 1), POOL_OK);
    CHECK_RC(give_back(conn, NULL), POOL_OK);
    conn = borrow(p);
    CHECK_EQ_U64(tl_info(conn).thread_id, thread_id);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 6"), 6);
    CHECK_EQ_U64(tl_stats(p).closed_broken, 0);
    CHECK_RC(give_back(conn, NULL), POOL_OK);
    pool_destroy(p);
}

/* reset_connection=1: COM_RESET_CONNECTION and the session commands run as
 * non-blocking steps too. */
static void test_return_start_with_reset_connection(void) {
    pool_t *p = NULL;
    pool_conn_t *conn;
    if (!CHECK_RC(tl_pool(&p, "size", "1", "maxsize", "1", "reset_connection", "1", "init_command",
                          "SET @pool_init = 7", NULL),
                  POOL_OK))
        return;
    conn = borrow(p);
    CHECK_RC(tl_exec(conn, "SET @left_behind = 1"), POOL_OK);
    CHECK_RC(give_back(conn, NULL), POOL_OK);
    conn = borrow(p);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT @left_behind IS NULL"), 1);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT @pool_init"), 7);
    CHECK_RC(give_back(conn, NULL), POOL_OK);
    pool_destroy(p);
}

/* A task cancelled while its connection's reset waits: pool_discard (or
 * pool_release) gives up the reset and closes the connection at once; the
 * books stay right and the next borrower gets a fresh connection. A link
 * lost during the reset closes it as broken. */
static void test_return_start_given_up(void) {
    pool_t *p = NULL;
    pool_conn_t *conn;
    pool_io_t io;
    uint64_t thread_id;
    double started;
    if (!CHECK_RC(tl_pool(&p, "size", "1", "maxsize", "1", NULL), POOL_OK))
        return;
    conn = borrow(p);
    open_big_transaction(conn);
    CHECK_RC(pool_return_start(conn, &io), POOL_WAIT);
    started = tl_now_ms();
    CHECK_RC(pool_discard(p, conn), POOL_OK);
    tl_check(tl_now_ms() - started < 1000, __FILE__, __LINE__, "the discard did not wait for the reset",
             "%.0f ms", tl_now_ms() - started);
    CHECK_EQ_U64(tl_stats(p).closed_discarded, 1);
    CHECK_EQ_U64(tl_stats(p).in_use, 0);
    CHECK_RC(pool_continue(conn, POOL_IO_READ, &io, NULL), POOL_E_WRONG_HANDLE);

    /* The link goes while the ROLLBACK is on its way: closed as broken. */
    conn = borrow(p);
    thread_id = tl_info(conn).thread_id;
    open_big_transaction(conn);
    if (CHECK_RC(pool_return_start(conn, &io), POOL_WAIT)) {
        shutdown(io.fd, SHUT_RDWR);
        CHECK_RC(drive(conn, POOL_WAIT, &io, NULL, NULL), POOL_OK);
    }
    CHECK_EQ_U64(tl_stats(p).closed_broken, 1);
    CHECK_EQ_U64(tl_stats(p).in_use, 0);
    conn = borrow(p);
    CHECK(conn != NULL && tl_info(conn).thread_id != thread_id);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 8"), 8);
    CHECK_RC(give_back(conn, NULL), POOL_OK);
    CHECK_RC(pool_return_start(NULL, &io), POOL_E_WRONG_HANDLE);
    conn = borrow(p);
    CHECK_RC(pool_return_start(conn, NULL), POOL_E_BAD_ARGUMENT);
    CHECK_RC(give_back(conn, NULL), POOL_OK);
    pool_destroy(p);
}

/* Fetches a batch of a streaming result with poll(); *waits counts the
 * POOL_WAITs. */
static int fetch_batch(pool_result_t *result, uint64_t max_rows, uint64_t *rows, size_t *length, int *waits) {
    const char *bytes;
    pool_io_t io;
    int rc = pool_result_fetch_pickle_start(result, max_rows, 0, &bytes, length, rows, &io);
    while (rc == POOL_WAIT) {
        (*waits)++;
        rc = pool_result_fetch_pickle_continue(result, wait_once(&io), &bytes, length, rows, &io);
    }
    return rc;
}

/* A streaming result's rows in batches without blocking: exactly max_rows
 * a batch, fewer at the end, then empty; a row the server is still working
 * on is waited for in the loop, not in the call. A stored result's rows
 * come at once. */
static void test_rows_fetched_without_blocking(void) {
    pool_conn_t *conn = borrow(pool);
    pool_result_t *result = NULL;
    uint64_t rows, total = 0;
    size_t length;
    int waits = 0, rc, batches = 0;
    const char *bytes;
    pool_io_t io;
    double started;
    static const char many[] = "SELECT seq, REPEAT('x', 200) FROM seq_1_to_50000";
    /* The server sends its first 16 KiB at once, then sleeps at row 200. */
    static const char slow[] = "SELECT IF(seq = 200, SLEEP(0.3), 0), REPEAT('x', 200) FROM seq_1_to_300";
    CHECK_RC(pool_query(conn, many, sizeof many - 1), POOL_OK);
    CHECK_RC(pool_use_result(conn, &result), POOL_OK);
    do {
        rc = fetch_batch(result, 1000, &rows, &length, &waits);
        total += rows;
        batches++;
    } while (rc == POOL_OK && rows == 1000);
    CHECK_RC(rc, POOL_OK);
    CHECK_EQ_U64(total, 50000);
    CHECK_EQ_U64(rows, 0); /* 50 full batches, then the empty one */
    CHECK_EQ_INT(batches, 51);
    CHECK(waits >= 1);
    pool_result_free(result);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 9"), 9);

    CHECK_RC(pool_query(conn, slow, sizeof slow - 1), POOL_OK);
    CHECK_RC(pool_use_result(conn, &result), POOL_OK);
    started = tl_now_ms();
    rc = pool_result_fetch_pickle_start(result, 0, 0, &bytes, &length, &rows, &io);
    tl_check(tl_now_ms() - started < 150, __FILE__, __LINE__, "the start did not wait for the row", "%.0f ms",
             tl_now_ms() - started);
    if (CHECK_RC(rc, POOL_WAIT)) {
        const char *const *values;
        const size_t *lengths;
        CHECK(io.fd >= 0 && (io.events & POOL_IO_READ));
        CHECK_EQ_U64(rows, 0);
        CHECK_RC(pool_query(conn, "SELECT 1", 8), POOL_E_MISUSE);
        CHECK_RC(pool_result_fetch(result, &values, &lengths), POOL_E_MISUSE);
        CHECK_RC(pool_continue(conn, POOL_IO_READ, &io, NULL), POOL_E_MISUSE);
        CHECK_RC(pool_result_fetch_pickle_continue(result, 64, &bytes, &length, &rows, &io), POOL_E_BAD_ARGUMENT);
        waits = 0;
        do
            rc = pool_result_fetch_pickle_continue(result, wait_once(&io), &bytes, &length, &rows, &io);
        while (rc == POOL_WAIT && ++waits < 100);
        CHECK_RC(rc, POOL_OK);
        CHECK_EQ_U64(rows, 300);
        CHECK(length > 0 && (unsigned char)bytes[0] == 0x80); /* a pickle */
    }
    CHECK_RC(pool_result_fetch_pickle_continue(result, POOL_IO_READ, &bytes, &length, &rows, &io), POOL_E_MISUSE);
    pool_result_free(result);

    /* A stored result: at once. */
    CHECK_RC(pool_query(conn, "SELECT 1 UNION SELECT 2", 23), POOL_OK);
    CHECK_RC(pool_store_result(conn, &result), POOL_OK);
    CHECK_RC(pool_result_fetch_pickle_start(result, 0, 0, &bytes, &length, &rows, &io), POOL_OK);
    CHECK_EQ_U64(rows, 2);
    CHECK_EQ_INT(io.fd, -1);
    CHECK_RC(pool_result_fetch_pickle_start(result, 0, 0, &bytes, &length, &rows, NULL), POOL_E_BAD_ARGUMENT);
    CHECK_RC(pool_result_fetch_pickle_start(result, 0, 99, &bytes, &length, &rows, &io), POOL_E_BAD_ARGUMENT);
    pool_result_free(result);
    CHECK_RC(pool_result_fetch_pickle_start(result, 0, 0, &bytes, &length, &rows, &io), POOL_E_WRONG_HANDLE);
    pool_release(pool, conn);
}

/* A streaming result freed, or its connection given back, while a batch
 * waits: the link is given up at once (libmariadb is inside the fetch), the
 * connection closed as broken, and the books stay right. */
static void test_rows_abandoned_mid_fetch(void) {
    pool_t *p = NULL;
    pool_conn_t *conn;
    pool_result_t *result = NULL;
    uint64_t rows;
    size_t length;
    const char *bytes;
    pool_io_t io;
    double started;
    static const char slow[] = "SELECT IF(seq = 200, SLEEP(2), 0), REPEAT('x', 200) FROM seq_1_to_300";
    if (!CHECK_RC(tl_pool(&p, "size", "1", "maxsize", "1", NULL), POOL_OK))
        return;
    for (int given_back = 0; given_back < 2; given_back++) {
        conn = borrow(p);
        CHECK_RC(pool_query(conn, slow, sizeof slow - 1), POOL_OK);
        CHECK_RC(pool_use_result(conn, &result), POOL_OK);
        CHECK_RC(pool_result_fetch_pickle_start(result, 250, 0, &bytes, &length, &rows, &io), POOL_WAIT);
        started = tl_now_ms();
        if (!given_back)
            pool_result_free(result);
        CHECK_RC(pool_release(p, conn), POOL_OK);
        tl_check(tl_now_ms() - started < 1000, __FILE__, __LINE__, "did not wait for the rows", "%.0f ms",
                 tl_now_ms() - started);
        CHECK_EQ_U64(tl_stats(p).closed_broken, (uint64_t)given_back + 1);
        CHECK_EQ_U64(tl_stats(p).in_use, 0);
    }
    conn = borrow(p);
    CHECK_EQ_INT(tl_query_int(conn, "SELECT 10"), 10);
    pool_release(p, conn);
    pool_destroy(p);
}

int main(int argc, char **argv) {
    tl_init(argc, argv);
    tl_require_server();
    if (!CHECK_RC(tl_pool(&pool, "maxsize", "2", NULL), POOL_OK))
        return test_summary();
    RUN(test_start_returns_before_the_answer);
    RUN(test_two_connections_on_one_thread);
    RUN(test_calls_refused_mid_operation);
    RUN(test_release_mid_operation_closes);
    RUN(test_timeout);
    RUN(test_borrow_at_once_and_by_a_helper);
    RUN(test_borrow_waits_its_turn_with_threads);
    RUN(test_borrow_deadline_and_cancel);
    RUN(test_borrow_pinged_by_a_helper);
    RUN(test_return_start_resets_without_blocking);
    RUN(test_return_start_drains_unread_rows);
    RUN(test_return_start_with_reset_connection);
    RUN(test_return_start_given_up);
    RUN(test_rows_fetched_without_blocking);
    RUN(test_rows_abandoned_mid_fetch);
    pool_destroy(pool);
    return test_summary();
}
