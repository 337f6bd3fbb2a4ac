/*
 * test_dlopen.c: libmysqlpool.so as a plugin host or an FFI (Python ctypes,
 * LuaJIT, ...) sees it: loaded at run time with dlopen(RTLD_NOW|RTLD_LOCAL),
 * every function of the header resolved by name, used through pointers.
 *
 *   test_dlopen path/to/libmysqlpool.so     run the test (under with-mariadb.sh)
 *   test_dlopen --list                      print the names this test expects
 *                                           (scripts/test/test-c.sh diffs them
 *                                           with the header)
 *
 * Not linked against the library: the header is used for types only.
 */
#define _POSIX_C_SOURCE 200809L

#include "testlib.h"

#include <dlfcn.h>

/* Every function declared with POOL_API in include/mysqlpool.h. */
static const char *const api_names[] = {
    "pool_version_number", "pool_version", "pool_strerror", "pool_last_error_code",
    "pool_last_errno", "pool_last_sqlstate", "pool_last_error", "pool_config_new",
    "pool_config_set", "pool_config_free", "pool_create", "pool_close", "pool_destroy",
    "pool_get_conn", "pool_get_conn_ex", "pool_borrow", "pool_take", "pool_return", "pool_release", "pool_discard", "pool_name",
    "pool_stats", "pool_query", "pool_query_params", "pool_stmt_prepare", "pool_stmt_execute", "pool_stmt_param_count",
    "pool_stmt_close", "pool_stmt_query_pickle", "pool_query_start", "pool_store_result_start",
    "pool_ping_start", "pool_return_start", "pool_continue", "pool_get_conn_start", "pool_get_conn_continue",
    "pool_get_conn_cancel", "pool_store_result", "pool_use_result", "pool_next_result",
    "pool_conn_info", "pool_commit", "pool_rollback", "pool_autocommit", "pool_ping",
    "pool_select_db", "pool_set_charset", "pool_escape", "pool_conn_charset",
    "pool_conn_server_info", "pool_conn_host_info", "pool_conn_errno", "pool_conn_error",
    "pool_conn_sqlstate", "pool_result_field_count", "pool_result_row_count",
    "pool_result_field", "pool_result_fetch", "pool_result_fetch_pickle", "pool_result_fetch_pickle_start", "pool_result_fetch_pickle_continue", "pool_result_fields_pickle",
    "pool_query_pickle", "pool_result_outcome_pickle", "pool_python_init", "pool_query_objects",
    "pool_query_objects_more", "pool_result_outcome_objects", "pool_stmt_query_objects",
    "pool_query_pickle_more",
    "pool_format_insert_pickle",
    "pool_set_log_callback",
    "pool_host_stats",
    "pool_result_seek",
    "pool_result_free",
};
#define N_API (sizeof api_names / sizeof api_names[0])

/* Names that live inside the .so but must not be reachable from outside:
 * the C support code and the statically linked Swift runtime. */
static const char *const hidden_names[] = {
    "mysqlpool_set_last_error", "swift_retain", "swift_release", "swift_allocObject",
};

static void *library;
static const char *library_path;

/* ISO C has no conversion from void * to a function pointer; copying the
 * bytes is the POSIX-sanctioned way (see dlsym(3)). */
#define RESOLVE(fn, name)                                                                          \
    do {                                                                                           \
        void *sym_ = dlsym(library, name);                                                         \
        CHECK(sym_ != NULL);                                                                       \
        memcpy(&(fn), &sym_, sizeof(fn));                                                          \
    } while (0)

/* Typed pointers to the functions the SELECT 1 round trip needs; the types
 * come from the header's declarations. */
static struct {
    __typeof__(&pool_version_number) version_number;
    __typeof__(&pool_version) version;
    __typeof__(&pool_last_error) last_error;
    __typeof__(&pool_config_new) config_new;
    __typeof__(&pool_config_set) config_set;
    __typeof__(&pool_config_free) config_free;
    __typeof__(&pool_create) create;
    __typeof__(&pool_destroy) destroy;
    __typeof__(&pool_get_conn) get_conn;
    __typeof__(&pool_release) release;
    __typeof__(&pool_query) query;
    __typeof__(&pool_store_result) store_result;
    __typeof__(&pool_result_fetch) fetch;
    __typeof__(&pool_result_free) result_free;
    __typeof__(&pool_stats) stats;
} api;

static void test_dlopen_loads(void) {
    library = dlopen(library_path, RTLD_NOW | RTLD_LOCAL);
    if (!tl_check(library != NULL, __FILE__, __LINE__, "dlopen", "%s", dlerror()))
        exit(test_summary());
}

static void test_every_header_function_resolves(void) {
    size_t i;
    for (i = 0; i < N_API; i++) {
        dlerror();
        tl_check(dlsym(library, api_names[i]) != NULL, __FILE__, __LINE__, "dlsym",
                 "%s: %s", api_names[i], dlerror());
    }
    printf("  %zu functions resolved\n", N_API);
}

static void test_internal_names_hidden(void) {
    size_t i;
    for (i = 0; i < sizeof hidden_names / sizeof hidden_names[0]; i++)
        tl_check(dlsym(library, hidden_names[i]) == NULL, __FILE__, __LINE__,
                 "internal symbol not exported", "%s is visible", hidden_names[i]);
}

static void test_version_matches_header(void) {
    RESOLVE(api.version_number, "pool_version_number");
    RESOLVE(api.version, "pool_version");
    if (api.version_number)
        CHECK_EQ_INT(api.version_number(), POOL_VERSION_NUMBER);
    if (api.version)
        CHECK_STR(api.version(), POOL_VERSION_STRING);
}

/* Config from the MYSQL_* variables, through the function pointers. */
static pool_config_t *config_from_env(void) {
    static const char *const env_keys[][2] = {{"MYSQL_HOST", "host"}, {"MYSQL_TCP_PORT", "port"},
                                              {"MYSQL_USER", "user"}, {"MYSQL_PWD", "password"},
                                              {"MYSQL_DATABASE", "database"}};
    pool_config_t *config = api.config_new();
    size_t i;
    CHECK(config != NULL);
    for (i = 0; i < sizeof env_keys / sizeof env_keys[0]; i++) {
        const char *value = getenv(env_keys[i][0]);
        if (value != NULL)
            CHECK_EQ_INT(api.config_set(config, env_keys[i][1], value), POOL_OK);
    }
    CHECK_EQ_INT(api.config_set(config, "maxsize", "2"), POOL_OK);
    CHECK_EQ_INT(api.config_set(config, "size", "1"), POOL_OK);
    return config;
}

static void test_select_through_pointers(void) {
    pool_config_t *config;
    pool_t *pool = NULL;
    pool_conn_t *conn = NULL;
    pool_result_t *result = NULL;
    const char *const *values;
    const size_t *lengths;
    pool_stats_t stats;

    RESOLVE(api.last_error, "pool_last_error");
    RESOLVE(api.config_new, "pool_config_new");
    RESOLVE(api.config_set, "pool_config_set");
    RESOLVE(api.config_free, "pool_config_free");
    RESOLVE(api.create, "pool_create");
    RESOLVE(api.destroy, "pool_destroy");
    RESOLVE(api.get_conn, "pool_get_conn");
    RESOLVE(api.release, "pool_release");
    RESOLVE(api.query, "pool_query");
    RESOLVE(api.store_result, "pool_store_result");
    RESOLVE(api.fetch, "pool_result_fetch");
    RESOLVE(api.result_free, "pool_result_free");
    RESOLVE(api.stats, "pool_stats");
    if (!api.last_error || !api.config_new || !api.config_set || !api.config_free || !api.create
        || !api.destroy || !api.get_conn || !api.release || !api.query || !api.store_result
        || !api.fetch || !api.result_free || !api.stats)
        return;

    config = config_from_env();
    if (!tl_check(api.create(config, &pool) == POOL_OK, __FILE__, __LINE__, "pool_create",
                  "%s", api.last_error())) {
        api.config_free(config);
        return;
    }
    api.config_free(config);
    if (tl_check(api.get_conn(pool, 5000, &conn) == POOL_OK, __FILE__, __LINE__, "pool_get_conn",
                 "%s", api.last_error())) {
        CHECK_EQ_INT(api.query(conn, "SELECT 1", 8), POOL_OK);
        CHECK_EQ_INT(api.store_result(conn, &result), POOL_OK);
        if (CHECK_EQ_INT(api.fetch(result, &values, &lengths), POOL_ROW))
            CHECK_MEM(values[0], lengths[0], "1", 1);
        CHECK_EQ_INT(api.fetch(result, &values, &lengths), POOL_DONE);
        api.result_free(result);
        CHECK_EQ_INT(api.release(pool, conn), POOL_OK);
    }
    CHECK_EQ_INT(api.stats(pool, &stats, sizeof stats), POOL_OK);
    CHECK_EQ_U64(stats.gets, 1);
    CHECK_EQ_U64(stats.releases, 1);
    api.destroy(pool);
}

int main(int argc, char **argv) {
    size_t i;
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (i = 0; i < N_API; i++)
            printf("%s\n", api_names[i]);
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: %s path/to/libmysqlpool.so | --list\n", argv[0]);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    library_path = argv[1];
    tl_init(1, argv); /* argv[1] is the library, not a test filter */
    tl_require_server();

    RUN(test_dlopen_loads);
    RUN(test_every_header_function_resolves);
    RUN(test_internal_names_hidden);
    RUN(test_version_matches_header);
    RUN(test_select_through_pointers);
    /* The library stays loaded: dlclose of a library with a statically linked
     * Swift runtime is not something the header promises. */
    return test_summary();
}
