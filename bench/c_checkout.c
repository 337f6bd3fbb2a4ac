/* Checkout cost from C: N x (pool_get_conn, pool_release) on a warm pool,
 * with no query, and the same with SELECT 1+1 against a raw libmariadb loop
 * is issue 4's business. Prints nanoseconds per pair.
 * Usage (under scripts/with-mariadb.sh): build/c_checkout [iterations] */
#define _POSIX_C_SOURCE 200809L
#include <mysqlpool.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv) {
    long iterations = argc > 1 ? atol(argv[1]) : 1000000;
    const char *keys[] = {"host", "port", "user", "password", "database"};
    const char *vars[] = {"MYSQL_HOST", "MYSQL_TCP_PORT", "MYSQL_USER", "MYSQL_PWD", "MYSQL_DATABASE"};
    pool_config_t *config = pool_config_new();
    for (int i = 0; i < 5; i++)
        if (getenv(vars[i]))
            pool_config_set(config, keys[i], getenv(vars[i]));
    pool_config_set(config, "pre_create_num", "1");
    pool_t *pool;
    if (pool_create(config, &pool) != POOL_OK) {
        fprintf(stderr, "pool_create: %s\n", pool_last_error());
        return 1;
    }
    pool_config_free(config);
    pool_conn_t *conn;
    double start = now_ns();
    for (long i = 0; i < iterations; i++) {
        if (pool_get_conn(pool, -1, &conn) != POOL_OK || pool_release(pool, conn) != POOL_OK) {
            fprintf(stderr, "checkout failed: %s\n", pool_last_error());
            return 1;
        }
    }
    double elapsed = now_ns() - start;
    printf("checkout+release: %.0f ns per pair (%ld pairs)\n", elapsed / iterations, iterations);
    pool_destroy(pool);
    return 0;
}
