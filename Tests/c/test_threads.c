/*
 * test_threads.c: 8 threads borrow, query and release on a pool of at most
 * 4 connections for TEST_THREADS_SECONDS (default 10) while a monitor thread
 * samples pool_stats every millisecond and checks the gauges' invariants.
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

int main(int argc, char **argv) {
    tl_init(argc, argv);
    tl_require_server();
    RUN(test_threads_stress);
    RUN(test_destroy_races_last_release);
    return test_summary();
}
