/* The seed's quickstart in C: a pool named "mypool" (maxsize 10, two
 * connections pre-created), one SELECT 1, then the pool's stats.
 * The server comes from the MySQL client variables: MYSQL_HOST,
 * MYSQL_TCP_PORT, MYSQL_USER, MYSQL_PWD, MYSQL_DATABASE. */
#include <mysqlpool.h>

#include <stdio.h>
#include <stdlib.h>

static int set(pool_config_t *config, const char *key, const char *value) {
    if (value == NULL)
        return 1;
    if (pool_config_set(config, key, value) != POOL_OK) {
        fprintf(stderr, "config %s: %s\n", key, pool_last_error());
        return 0;
    }
    return 1;
}

static int fail(const char *what) {
    fprintf(stderr, "%s failed: %s (errno %u, SQLSTATE %s)\n", what, pool_last_error(),
            pool_last_errno(), pool_last_sqlstate());
    return 1;
}

int main(void) {
    pool_config_t *config = pool_config_new();
    if (!set(config, "host", getenv("MYSQL_HOST")) || !set(config, "port", getenv("MYSQL_TCP_PORT"))
        || !set(config, "user", getenv("MYSQL_USER")) || !set(config, "password", getenv("MYSQL_PWD"))
        || !set(config, "database", getenv("MYSQL_DATABASE")) || !set(config, "maxsize", "10")
        || !set(config, "pre_create_num", "2") || !set(config, "name", "mypool"))
        return 1;

    pool_t *pool = NULL;
    int rc = pool_create(config, &pool);
    pool_config_free(config);
    if (rc != POOL_OK)
        return fail("pool_create");

    pool_conn_t *conn = NULL;
    if (pool_get_conn(pool, -1, &conn) != POOL_OK)
        return fail("pool_get_conn");
    if (pool_query(conn, "SELECT 1", 8) != POOL_OK)
        return fail("pool_query");

    pool_result_t *result = NULL;
    const char *const *values;
    const size_t *lengths;
    if (pool_store_result(conn, &result) != POOL_OK)
        return fail("pool_store_result");
    if (pool_result_fetch(result, &values, &lengths) != POOL_ROW)
        return fail("pool_result_fetch");
    printf("result: (%.*s,)\n", (int)lengths[0], values[0]);
    pool_result_free(result);
    pool_release(pool, conn);

    pool_stats_t stats;
    pool_stats(pool, &stats, sizeof stats);
    printf("pool %s: total=%llu idle=%llu in_use=%llu waiting=%llu maxsize=%llu created=%llu "
           "gets=%llu releases=%llu resets=%llu\n",
           pool_name(pool), (unsigned long long)stats.total, (unsigned long long)stats.idle,
           (unsigned long long)stats.in_use, (unsigned long long)stats.waiting,
           (unsigned long long)stats.maxsize, (unsigned long long)stats.created,
           (unsigned long long)stats.gets, (unsigned long long)stats.releases,
           (unsigned long long)stats.resets);
    pool_destroy(pool);
    return 0;
}
