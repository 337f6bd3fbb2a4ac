/*
 * test_threads.c: 8 threads borrow, query and release on a pool of at most
 * 4 connections for TEST_THREADS_SECONDS (default 10) while a monitor thread
 * samples pool_stats every millisecond and checks the gauges' invariants;
 * pool_destroy racing the last releases; a killed connection handed to a
 * waiting caller; and twice TEST_CHAOS_SECONDS (default 5) of kills under
 * 12 threads, with socket_check_after 0 and the default, in which no
 * borrower may be handed a connection dead for longer than that.
 *
 * Run under scripts/server/with-mariadb.sh.
 */
#define _POSIX_C_SOURCE 200809L

#include "testlib.h"

enum { WORKERS = 8, MAXSIZE = 4, SIZE = 2, GET_TIMEOUT_MS = 5000, MAX_REPORTED = 10 };

static pool_t *pool;
static int stop; /* set by main when time is up; read by all threads */

/* C99 has no atomics; the GCC/Clang builtins keep the flag race-free. */
static int stopping(void) { return __atomic_load_n(&stop, __ATOMIC_ACQUIRE); }

struct worker {
    pthread_t thread;
    int index;
    unsigned seed;
    long gets, releases, discards, queries;
    long errors[POOL_DONE + 1]; /* by status code */
    int reported;               /* failures printed so far (keep the log short) */
};

/* A failure inside a worker: counted by code, the first few printed. */
static void worker_error(struct worker *w, const char *what, int rc) {
    if (rc >= 0 && rc <= POOL_DONE)
        w->errors[rc]++;
    if (w->reported++ < MAX_REPORTED)
        tl_check(0, __FILE__, __LINE__, what, "worker %d: %d (%s) %u %s", w->index, rc,
                 pool_strerror(rc), pool_last_errno(), pool_last_error());
}

/* Random sleep of 0..max_us microseconds, so borrowers overlap differently. */
static void random_sleep(struct worker *w, long max_us) {
    struct timespec ts;
    ts.tv_sec = 0;
    ts.tv_nsec = (long)(rand_r(&w->seed) % (unsigned)(max_us + 1)) * 1000L;
    nanosleep(&ts, NULL);
}

/* SELECT <n> + <index> and check the server's answer. */
static void query_once(struct worker *w, pool_conn_t *conn) {
    char sql[64], want[32];
    pool_result_t *result = NULL;
    const char *const *values;
    const size_t *lengths;
    int n = rand_r(&w->seed) % 100000, rc;
    snprintf(sql, sizeof sql, "SELECT %d + %d", n, w->index);
    snprintf(want, sizeof want, "%d", n + w->index);
    rc = pool_query(conn, sql, strlen(sql));
    if (rc == POOL_OK)
        rc = pool_store_result(conn, &result);
    if (rc != POOL_OK) {
        worker_error(w, "query", rc);
        return;
    }
    rc = pool_result_fetch(result, &values, &lengths);
    if (rc != POOL_ROW)
        worker_error(w, "fetch", rc);
    else if (lengths[0] != strlen(want) || memcmp(values[0], want, lengths[0]) != 0)
        worker_error(w, "wrong answer", POOL_E_INTERNAL);
    else
        w->queries++;
    pool_result_free(result);
}

static void *worker_main(void *arg) {
    struct worker *w = (struct worker *)arg;
    while (!stopping()) {
        pool_conn_t *conn = NULL;
        int rc = pool_get_conn(pool, GET_TIMEOUT_MS, &conn);
        if (rc != POOL_OK) {
            worker_error(w, "pool_get_conn", rc);
            continue;
        }
        w->gets++;
        query_once(w, conn);
        random_sleep(w, 2000);
        /* Now and then throw the connection away, so the pool also opens
         * and closes connections under load. */
        if (rand_r(&w->seed) % 64 == 0) {
            rc = pool_discard(pool, conn);
            w->discards++;
        } else {
            rc = pool_release(pool, conn);
        }
        if (rc == POOL_OK)
            w->releases++;
        else
            worker_error(w, "pool_release", rc);
        random_sleep(w, 200);
    }
    return NULL;
}

struct monitor {
    pthread_t thread;
    long samples, violations;
    uint64_t max_total, max_in_use, max_waiting;
};

/* One snapshot must be internally consistent (pool_stats is "a consistent
 * snapshot"): borrowed + idle + being opened = total, within maxsize. */
static void check_sample(struct monitor *m, const pool_stats_t *s) {
    int ok = s->in_use + s->idle + s->opening == s->total && s->total <= MAXSIZE
             && s->in_use <= MAXSIZE && s->idle <= MAXSIZE && s->maxsize == MAXSIZE;
    if (!ok && m->violations++ < MAX_REPORTED)
        tl_check(0, __FILE__, __LINE__, "stats invariant",
                 "in_use %llu + idle %llu + opening %llu vs total %llu (maxsize %llu)",
                 (unsigned long long)s->in_use, (unsigned long long)s->idle,
                 (unsigned long long)s->opening, (unsigned long long)s->total,
                 (unsigned long long)s->maxsize);
    if (s->total > m->max_total)
        m->max_total = s->total;
    if (s->in_use > m->max_in_use)
        m->max_in_use = s->in_use;
    if (s->waiting > m->max_waiting)
        m->max_waiting = s->waiting;
}

static void *monitor_main(void *arg) {
    struct monitor *m = (struct monitor *)arg;
    struct timespec ms = {0, 1000000L};
    while (!stopping()) {
        pool_stats_t s;
        int rc = pool_stats(pool, &s, sizeof s);
        if (rc != POOL_OK && m->violations++ < MAX_REPORTED)
            tl_check(0, __FILE__, __LINE__, "pool_stats", "%d %s", rc, pool_last_error());
        if (rc == POOL_OK)
            check_sample(m, &s);
        m->samples++;
        nanosleep(&ms, NULL);
    }
    return NULL;
}

static int run_seconds(void) {
    const char *text = getenv("TEST_THREADS_SECONDS");
    int seconds = text ? atoi(text) : 10;
    return seconds > 0 ? seconds : 10;
}

static struct worker workers[WORKERS];
static struct monitor monitor;

static void test_threads_stress(void) {
    long gets = 0, releases = 0, discards = 0, queries = 0, errors[POOL_DONE + 1];
    int i, code, seconds = run_seconds();
    pool_stats_t s;
    char maxsize[16], size[16], timeout[16];

    snprintf(maxsize, sizeof maxsize, "%d", MAXSIZE);
    snprintf(size, sizeof size, "%d", SIZE);
    snprintf(timeout, sizeof timeout, "%d", GET_TIMEOUT_MS);
    if (!CHECK_RC(tl_pool(&pool, "size", size, "maxsize", maxsize, "get_timeout", timeout,
                          "name", "threads", NULL),
                  POOL_OK))
        return;

    pthread_create(&monitor.thread, NULL, monitor_main, &monitor);
    for (i = 0; i < WORKERS; i++) {
        workers[i].index = i;
        workers[i].seed = 12345u + (unsigned)i * 7919u;
        pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
    }
    tl_sleep_ms(seconds * 1000L);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (i = 0; i < WORKERS; i++)
        pthread_join(workers[i].thread, NULL);
    pthread_join(monitor.thread, NULL);

    memset(errors, 0, sizeof errors);
    for (i = 0; i < WORKERS; i++) {
        gets += workers[i].gets;
        releases += workers[i].releases;
        discards += workers[i].discards;
        queries += workers[i].queries;
        for (code = 0; code <= POOL_DONE; code++)
            errors[code] += workers[i].errors[code];
        printf("  worker %d: %ld queries\n", i, workers[i].queries);
    }
    s = tl_stats(pool);
    printf("  %d s, %d threads, maxsize %d: %ld queries, %ld gets, %ld releases (%ld discards)\n",
           seconds, WORKERS, MAXSIZE, queries, gets, releases, discards);
    printf("  monitor: %ld samples, max total %llu, max in_use %llu, max waiting %llu\n",
           monitor.samples, (unsigned long long)monitor.max_total,
           (unsigned long long)monitor.max_in_use, (unsigned long long)monitor.max_waiting);
    printf("  stats: created %llu, closed overflow %llu discarded %llu broken %llu, waits %llu "
           "(max %.1f ms), timeouts %llu\n",
           (unsigned long long)s.created, (unsigned long long)s.closed_overflow,
           (unsigned long long)s.closed_discarded, (unsigned long long)s.closed_broken,
           (unsigned long long)s.wait_count, (double)s.max_wait_ns / 1e6,
           (unsigned long long)s.timeouts);

    for (code = 0; code <= POOL_DONE; code++)
        if (errors[code] != 0)
            tl_check(0, __FILE__, __LINE__, "no errors", "%ld x %d (%s)", errors[code], code,
                     pool_strerror(code));
    CHECK(queries > 0);
    CHECK_EQ_INT(monitor.violations, 0);
    CHECK(monitor.samples > 0);
    CHECK(monitor.max_waiting > 0); /* 8 threads on 4 connections did wait */
    CHECK_EQ_INT(gets, releases);
    CHECK_EQ_U64(s.gets, (uint64_t)gets);
    CHECK_EQ_U64(s.releases, (uint64_t)releases);
    CHECK_EQ_U64(s.closed_discarded, (uint64_t)discards);
    CHECK_EQ_U64(s.in_use, 0);
    CHECK_EQ_U64(s.waiting, 0);
    CHECK_EQ_U64(s.opening, 0);
    CHECK_EQ_U64(s.timeouts, 0);
    CHECK_EQ_U64(s.closed_broken, 0);
    CHECK(s.total <= SIZE); /* overflow connections were closed on release */
    CHECK_EQ_U64(s.total, s.idle);
    /* Every connection ever opened is open or was closed for a reason. */
    CHECK_EQ_U64(s.created, s.total + s.closed_lifetime + s.closed_broken + s.closed_overflow
                                + s.closed_discarded + s.closed_shutdown);
    pool_destroy(pool);
}

/* pool_destroy racing the releases of the last borrowed connections: the
 * destroyed pool's handle must be retired once they are all back, whichever
 * side finishes last (destroy sees none borrowed, or the last release sees
 * the pool destroyed). A handle left behind would take a later release as a
 * "stale connection" instead of a "stale pool". */
enum { RACE_ROUNDS = 100, RACE_CONNS = 4 };

struct racer {
    pthread_t thread;
    pthread_barrier_t *start;
    pool_t *pool;
    pool_conn_t *conn;
    int rc;
};

static void *release_after_barrier(void *arg) {
    struct racer *r = arg;
    pthread_barrier_wait(r->start);
    r->rc = pool_release(r->pool, r->conn);
    return NULL;
}

static void test_destroy_races_last_release(void) {
    int round, i, retired = 0;
    for (round = 0; round < RACE_ROUNDS; round++) {
        pthread_barrier_t start;
        struct racer racers[RACE_CONNS];
        pool_t *race_pool = NULL;
        pool_conn_t *stale;
        if (!CHECK_RC(tl_pool(&race_pool, "size", "4", "maxsize", "4", "pre_create_num", "4", NULL), POOL_OK))
            return;
        pthread_barrier_init(&start, NULL, RACE_CONNS + 1);
        for (i = 0; i < RACE_CONNS; i++) {
            racers[i].start = &start;
            racers[i].pool = race_pool;
            if (!CHECK_RC(pool_get_conn(race_pool, 1000, &racers[i].conn), POOL_OK))
                return;
        }
        stale = racers[0].conn;
        for (i = 0; i < RACE_CONNS; i++)
            pthread_create(&racers[i].thread, NULL, release_after_barrier, &racers[i]);
        pthread_barrier_wait(&start);
        pool_destroy(race_pool);
        for (i = 0; i < RACE_CONNS; i++) {
            pthread_join(racers[i].thread, NULL);
            CHECK_RC(racers[i].rc, POOL_OK);
        }
        pthread_barrier_destroy(&start);
        CHECK_RC(pool_release(race_pool, stale), POOL_E_WRONG_HANDLE);
        if (tl_check(strstr(pool_last_error(), "pool handle is stale") != NULL, __FILE__, __LINE__,
                     "the destroyed pool's handle is retired", "round %d: %s", round, pool_last_error()))
            retired++;
    }
    printf("  %d rounds, the handle retired in %d\n", RACE_ROUNDS, retired);
}

/* ------------------------------------------------------------------------
 * A connection killed while borrowed, handed straight to a waiting caller:
 * the waiter checks it (on its own thread) and gets a live one instead.
 */

struct waiting_borrower {
    pthread_t thread;
    pool_t *pool;
    long long first_answer; /* SELECT 1 on what it was handed; -1 failed */
    unsigned long long thread_id;
};

static void *borrow_and_query(void *arg) {
    struct waiting_borrower *b = arg;
    pool_conn_t *conn = NULL;
    b->first_answer = -1;
    if (!CHECK_RC(pool_get_conn(b->pool, 10000, &conn), POOL_OK))
        return NULL;
    b->thread_id = tl_info(conn).thread_id;
    b->first_answer = tl_query_int(conn, "SELECT 1");
    pool_release(b->pool, conn);
    return NULL;
}

/* KILL a server connection and wait until the server has dropped it (gone
 * from the process list), plus 50 ms for its FIN to arrive. */
static int kill_and_wait_gone(pool_conn_t *admin, unsigned long long id) {
    char sql[128];
    int tries;
    snprintf(sql, sizeof sql, "KILL %llu", id);
    if (!CHECK_RC(tl_exec(admin, sql), POOL_OK))
        return 0;
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %llu", id);
    for (tries = 0; tries < 500 && tl_query_int(admin, sql) != 0; tries++)
        tl_sleep_ms(10);
    tl_sleep_ms(50);
    return CHECK(tries < 500);
}

/* The minimal case, for one socket_check_after ("" for the default). */
static void handoff_of_a_killed_connection(const char *socket_check_after) {
    pool_t *handoff_pool = NULL, *admin_pool = NULL;
    pool_conn_t *held = NULL, *admin = NULL;
    struct waiting_borrower waiter = {0};
    unsigned long long killed;
    pool_stats_t s;
    int tries;
    if (!CHECK_RC(tl_pool(&handoff_pool, "size", "1", "maxsize", "1", "pre_create_num", "1",
                          socket_check_after[0] ? "socket_check_after" : NULL, socket_check_after, NULL),
                  POOL_OK) ||
        !CHECK_RC(tl_pool(&admin_pool, "maxsize", "1", NULL), POOL_OK) ||
        !CHECK_RC(pool_get_conn(admin_pool, 1000, &admin), POOL_OK) ||
        !CHECK_RC(pool_get_conn(handoff_pool, 1000, &held), POOL_OK))
        return;
    CHECK_EQ_INT(tl_query_int(held, "SELECT 1"), 1);
    killed = tl_info(held).thread_id;

    waiter.pool = handoff_pool;
    pthread_create(&waiter.thread, NULL, borrow_and_query, &waiter);
    for (tries = 0; tries < 500 && tl_stats(handoff_pool).waiting == 0; tries++)
        tl_sleep_ms(2);
    CHECK(tries < 500); /* the second caller is waiting */
    kill_and_wait_gone(admin, killed);
    CHECK_RC(pool_release(handoff_pool, held), POOL_OK);
    pthread_join(waiter.thread, NULL);

    CHECK_EQ_INT(waiter.first_answer, 1); /* never handed the dead one */
    CHECK(waiter.thread_id != killed);
    s = tl_stats(handoff_pool);
    CHECK_EQ_U64(s.closed_validation, 1);
    CHECK_EQ_U64(s.closed_broken, 0);
    pool_release(admin_pool, admin);
    pool_destroy(admin_pool);
    pool_destroy(handoff_pool);
}

static void test_handoff_checks_a_killed_connection(void) {
    handoff_of_a_killed_connection("0");
    handoff_of_a_killed_connection(""); /* the default, 1 ms */
}

/* ------------------------------------------------------------------------
 * Chaos: workers borrow, query, hold a little and release while another
 * connection KILLs the pool's connections. With socket_check_after = 0 no
 * borrower may be handed a connection the server had dropped before
 * pool_get_conn returned it: its first statement then fails with a lost
 * link. (A kill landing during the statement is a real error, not
 * counted; 2 ms is the margin for the server's FIN to arrive: KILL shuts
 * the victim's socket down before it returns, and loopback is fast.)
 */

enum { CHAOS_WORKERS = 12, CHAOS_MAXSIZE = 4, KILL_LOG = 8192, DEAD_MARGIN_MS = 2 };

/* A connection the server dropped longer ago than this when it was handed
 * out counts as dead handed out (set per run). */
static double dead_after_ms;

static struct {
    pthread_mutex_t lock;
    unsigned long long ids[KILL_LOG];
    double at_ms[KILL_LOG];
    int count;
} kills = {PTHREAD_MUTEX_INITIALIZER, {0}, {0}, 0};

/* When `id` was killed, or -1 if it never was. */
static double killed_at(unsigned long long id) {
    double at = -1;
    int i;
    pthread_mutex_lock(&kills.lock);
    for (i = kills.count - 1; i >= 0 && at < 0; i--)
        if (kills.ids[i] == id)
            at = kills.at_ms[i];
    pthread_mutex_unlock(&kills.lock);
    return at;
}

struct chaos_worker {
    pthread_t thread;
    pool_t *pool;
    unsigned seed;
    unsigned long long holding; /* server id of the connection held, 0 for none */
    long statements, lost_links, dead_handed_out;
};

static void *chaos_worker_main(void *arg) {
    struct chaos_worker *w = arg;
    while (!stopping()) {
        pool_conn_t *conn = NULL;
        unsigned long long id;
        double handed_ms, killed;
        struct timespec hold = {0, 0};
        if (pool_get_conn(w->pool, 5000, &conn) != POOL_OK)
            continue;
        handed_ms = tl_now_ms();
        id = tl_info(conn).thread_id;
        if (tl_exec(conn, "SELECT 1") == POOL_OK) {
            w->statements++;
            __atomic_store_n(&w->holding, id, __ATOMIC_RELEASE);
            hold.tv_nsec = (long)(rand_r(&w->seed) % 2000u) * 1000L;
            nanosleep(&hold, NULL);
            __atomic_store_n(&w->holding, 0ULL, __ATOMIC_RELEASE);
        } else if (tl_link_lost_errno(pool_last_errno())) {
            w->lost_links++;
            killed = killed_at(id);
            if (killed >= 0 && killed + dead_after_ms < handed_ms) {
                w->dead_handed_out++;
                tl_check(0, __FILE__, __LINE__, "no dead connection handed out",
                         "connection %llu was killed %.1f ms before it was handed out", id, handed_ms - killed);
            }
        }
        pool_release(w->pool, conn);
    }
    return NULL;
}

/* One chaos run with socket_check_after as given ("" for the default). */
static void chaos_run(const char *socket_check_after) {
    pool_t *chaos_pool = NULL, *admin_pool = NULL;
    pool_conn_t *admin = NULL;
    struct chaos_worker chaos[CHAOS_WORKERS];
    const char *text = getenv("TEST_CHAOS_SECONDS");
    double end_ms = tl_now_ms() + 1000.0 * (text && atoi(text) > 0 ? atoi(text) : 5);
    long statements = 0, lost = 0, dead = 0, killed_count = 0;
    unsigned seed = 4242;
    char maxsize[16], sql[64];
    int i;
    snprintf(maxsize, sizeof maxsize, "%d", CHAOS_MAXSIZE);
    if (!CHECK_RC(tl_pool(&chaos_pool, "size", maxsize, "maxsize", maxsize, "name", "chaos",
                          socket_check_after[0] ? "socket_check_after" : NULL, socket_check_after, NULL),
                  POOL_OK) ||
        !CHECK_RC(tl_pool(&admin_pool, "maxsize", "1", NULL), POOL_OK) ||
        !CHECK_RC(pool_get_conn(admin_pool, 1000, &admin), POOL_OK))
        return;
    memset(chaos, 0, sizeof chaos);
    __atomic_store_n(&stop, 0, __ATOMIC_RELEASE);
    for (i = 0; i < CHAOS_WORKERS; i++) {
        chaos[i].pool = chaos_pool;
        chaos[i].seed = 777u + (unsigned)i;
        pthread_create(&chaos[i].thread, NULL, chaos_worker_main, &chaos[i]);
    }
    while (tl_now_ms() < end_ms) {
        unsigned long long victim = __atomic_load_n(&chaos[rand_r(&seed) % CHAOS_WORKERS].holding, __ATOMIC_ACQUIRE);
        tl_sleep_ms(20);
        if (victim == 0)
            continue;
        snprintf(sql, sizeof sql, "KILL %llu", victim);
        if (pool_query(admin, sql, strlen(sql)) == POOL_OK) {
            pthread_mutex_lock(&kills.lock);
            if (kills.count < KILL_LOG) {
                kills.ids[kills.count] = victim;
                kills.at_ms[kills.count++] = tl_now_ms();
            }
            pthread_mutex_unlock(&kills.lock);
            killed_count++;
        }
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (i = 0; i < CHAOS_WORKERS; i++) {
        pthread_join(chaos[i].thread, NULL);
        statements += chaos[i].statements;
        lost += chaos[i].lost_links;
        dead += chaos[i].dead_handed_out;
    }
    printf("  socket_check_after %s: %d workers on maxsize %d: %ld statements, %ld kills, %ld lost links "
           "during use, %ld dead for over %.0f ms handed out, %llu found dead before checkout\n",
           socket_check_after[0] ? socket_check_after : "default", CHAOS_WORKERS, CHAOS_MAXSIZE, statements,
           killed_count, lost, dead, dead_after_ms,
           (unsigned long long)tl_stats(chaos_pool).closed_validation);
    CHECK(killed_count > 10);
    CHECK(statements > 0);
    CHECK_EQ_INT(dead, 0);
    CHECK(tl_stats(chaos_pool).closed_validation > 0); /* the checks did find dead ones */
    pool_release(admin_pool, admin);
    pool_destroy(admin_pool);
    pool_destroy(chaos_pool);
}

/* socket_check_after 0: none dead at all (beyond the FIN's margin). The
 * default (1 ms): none dead for longer than that, counted on the coarse
 * clock the pool reads (one tick of granularity). */
static void test_chaos_hands_out_no_dead_connection(void) {
    struct timespec tick;
    dead_after_ms = DEAD_MARGIN_MS;
    chaos_run("0");
    clock_getres(CLOCK_MONOTONIC_COARSE, &tick);
    dead_after_ms = 1.0 + (double)tick.tv_nsec / 1e6 + DEAD_MARGIN_MS;
    chaos_run("");
}

int main(int argc, char **argv) {
    tl_init(argc, argv);
    tl_require_server();
    RUN(test_threads_stress);
    RUN(test_destroy_races_last_release);
    RUN(test_handoff_checks_a_killed_connection);
    RUN(test_chaos_hands_out_no_dead_connection);
    return test_summary();
}
