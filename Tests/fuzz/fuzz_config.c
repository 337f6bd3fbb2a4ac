/*
 * fuzz_config.c: libFuzzer harness for the configuration side of the C API:
 * pool_config_new / pool_config_set / pool_create, then pool_name, pool_stats,
 * pool_get_conn_ex (which must fail: there is no server), pool_close and
 * pool_destroy on the pool that came out.
 *
 * Build and run: scripts/test/fuzz.sh (corpus: Tests/fuzz/corpus/config/).
 *
 * INPUT FORMAT: text, one item per line ('\n'); bytes are taken as they are,
 * so a line may hold NUL bytes (a C caller's string then ends there).
 *   key=value        pool_config_set(cfg, key, value); value is everything
 *                    after the first '='
 *   key              pool_config_set(cfg, key, NULL)
 *   !nullkey value   pool_config_set(cfg, NULL, value)
 *   !fill key N C    pool_config_set(cfg, key, N copies of the byte C), N up
 *                    to 1 MiB: over-long values without megabyte-sized inputs
 *   !free            pool_config_free(cfg) now (later calls see a stale handle)
 *   !nullout         pool_create(cfg, NULL) first
 *   !stats N         after pool_create: pool_stats(pool, out, N), where out is
 *                    exactly min(N, sizeof(pool_stats_t)) bytes of heap, so
 *                    a write past out_size is an ASan report; "!statsnull"
 *                    passes out = NULL
 *   !get T O F       after pool_create: pool_get_conn_ex(pool, T, O, F, &conn)
 *                    (T is capped so that no documented wait exceeds 0.2 s);
 *                    without any !get one call with (0, 0, 0) is made
 *   !log L           pool_set_log_callback(check, ..., L) before pool_create: a
 *                    callback that checks every message it gets (level, pool
 *                    name, no password); removed again at the end of the input
 * Lines are applied in order; pool_create runs after the last line.
 *
 * WHAT IS CHECKED
 *   - every status is one the header documents for that call (and for that
 *     cause: unknown key -> POOL_E_UNKNOWN_OPTION, a stale config ->
 *     POOL_E_WRONG_HANDLE, size > maxsize -> POOL_E_BAD_ARGUMENT, ...);
 *   - a failure leaves the code, a non-empty message and a 5-character
 *     SQLSTATE in the thread's last error; the message names the key, and the
 *     value unless it is the password, which must never appear;
 *   - values the header documents as valid are accepted (decimal numbers in
 *     range, the eight boolean spellings, sql_mode [A-Za-z0-9_,]*, decimal
 *     seconds, fractions), values it rules out are rejected;
 *   - the pool copies the configuration (it is freed before the pool is used),
 *     pool_name is the configured name or "host-port-user-database",
 *     pool_stats reports the configured size/maxsize and nothing open (unless
 *     min_idle makes the maintenance thread try to connect), writes at most
 *     out_size bytes and reports how many in struct_size;
 *   - pool_get_conn_ex never hands out a connection (there is no server) and
 *     returns within its deadline; after pool_close it says POOL_E_CLOSED;
 *     after pool_destroy every call says POOL_E_WRONG_HANDLE / NULL;
 *   - no crash, no sanitizer report, no leak (LeakSanitizer runs per input),
 *     no hang (libFuzzer's -timeout).
 *
 * NO NETWORK: host, port and unix_socket are set last, to 127.0.0.1, 1 and a
 * Unix socket path that does not exist; with unix_socket set libmysqlpool
 * connects through the socket only, so every connection attempt (pre_create_num
 * > 0, min_idle > 0, pool_get_conn_ex) fails at once with errno 2002 and no
 * packet is sent.
 * The values the input gives these three keys are still parsed and checked.
 *
 * Checks of known bugs are relaxed when MYSQLPOOL_FUZZ_IGNORE names them
 * (scripts/test/fuzz.sh does so for bugs whose reproducers still fail, while it
 * fuzzes for new ones; see fz_ignoring in fuzz_common.h):
 *   MYSQLPOOL_FUZZ_IGNORE=stats-huge-size,non-utf8
 *     stats-huge-size  pool_stats with out_size > SSIZE_MAX
 *     non-utf8         values that are not UTF-8 come back altered
 */
#include "fuzz_common.h"

#include <ctype.h>
#include <limits.h>

/* ------------------------------------------------------------------------
 * The keys of include/mysqlpool.h and what the header says about them
 */

enum key_class {
    K_TEXT,
    K_NONEMPTY_TEXT,
    K_IDENT,
    K_CHARSET,
    K_INT,
    K_BOOL,
    K_SECONDS,
    K_FRACTION,
    K_HOSTS, /* host[:port][,host[:port]...] */
    K_CHOICE /* ha_mode: sequential, loadbalance, replication */
};

struct key_spec {
    const char *key;
    enum key_class cls;
    long long lo, hi; /* K_INT: a documented range; hi is a value the header
                         surely allows for "lo.." ranges */
    int hi_is_limit;  /* K_INT: values above hi must be rejected */
};

/* Every key of PoolConfiguration.set must be listed here (scripts/test/fuzz.sh
 * refuses to run when one is missing): a key unknown here is expected to be
 * POOL_E_UNKNOWN_OPTION. */
static const struct key_spec keys[] = {
    {"host", K_HOSTS, 0, 0, 0},
    {"ha_mode", K_CHOICE, 0, 0, 0},
    {"host_deny_time", K_SECONDS, 0, 0, 0},
    {"role_check_interval", K_SECONDS, 0, 0, 0},
    {"port", K_INT, 1, 65535, 1},
    {"unix_socket", K_TEXT, 0, 0, 0},
    {"user", K_TEXT, 0, 0, 0},
    {"password", K_TEXT, 0, 0, 0},
    {"database", K_TEXT, 0, 0, 0},
    {"db", K_TEXT, 0, 0, 0},
    {"charset", K_CHARSET, 0, 0, 0},
    {"connect_timeout", K_INT, 1, 3600, 1},
    {"read_timeout", K_INT, 0, 86400, 0},
    {"write_timeout", K_INT, 0, 86400, 0},
    {"init_command", K_TEXT, 0, 0, 0},
    {"sql_mode", K_IDENT, 0, 0, 0},
    {"autocommit", K_BOOL, 0, 0, 0},
    {"local_infile", K_BOOL, 0, 0, 0},
    {"multi_statements", K_BOOL, 0, 0, 0},
    {"client_flag", K_INT, 0, 65535, 0},
    {"ssl", K_BOOL, 0, 0, 0},
    {"ssl_ca", K_TEXT, 0, 0, 0},
    {"ssl_cert", K_TEXT, 0, 0, 0},
    {"ssl_key", K_TEXT, 0, 0, 0},
    {"ssl_cipher", K_TEXT, 0, 0, 0},
    {"ssl_verify_cert", K_BOOL, 0, 0, 0},
    {"ssl_verify_identity", K_BOOL, 0, 0, 0},
    /* size and pre_create_num are bounded by maxsize, checked by pool_create */
    {"size", K_INT, 0, 100000, 0},
    {"maxsize", K_INT, 1, 100000, 1},
    {"pre_create_num", K_INT, 0, 100000, 0},
    {"con_lifetime", K_INT, 0, 86400, 0},
    {"close_overflow", K_BOOL, 0, 0, 0},
    {"get_timeout", K_INT, 0, 86400000, 0},
    {"overflow_after", K_INT, 0, 86400000, 0},
    {"name", K_TEXT, 0, 0, 0},
    /* health: seconds are decimal ("30", "0.25"); 0 turns a feature off */
    {"lifetime_jitter", K_FRACTION, 0, 0, 0},
    {"idle_timeout", K_SECONDS, 0, 0, 0},
    {"min_idle", K_INT, 0, 100000, 0},
    {"keepalive_interval", K_SECONDS, 0, 0, 0},
    {"validate_socket", K_BOOL, 0, 0, 0},
    {"socket_check_after", K_SECONDS, 0, 0, 0},
    {"validation_interval", K_SECONDS, 0, 0, 0},
    {"pre_ping", K_BOOL, 0, 0, 0},
    {"reset_connection", K_BOOL, 0, 0, 0},
    {"leak_detection_threshold", K_SECONDS, 0, 0, 0},
    {"stmt_cache_size", K_INT, 0, 100000, 0},
    {"stmt_cache_sql_limit", K_INT, 0, 1073741824, 0},
};

static const struct key_spec *find_key(const char *key) {
    size_t i;
    for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(keys[i].key, key) == 0)
            return &keys[i];
    return NULL;
}

/* ------------------------------------------------------------------------
 * Helpers
 */

/* Bytes 0x20..0x7E only: the library echoes those unchanged. */
static int is_printable_ascii(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7E)
            return 0;
    return 1;
}

static int is_utf8(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n;
        unsigned cp;
        if (*p < 0x80) {
            p++;
            continue;
        } else if ((*p & 0xE0) == 0xC0) {
            n = 1, cp = *p & 0x1Fu;
        } else if ((*p & 0xF0) == 0xE0) {
            n = 2, cp = *p & 0x0Fu;
        } else if ((*p & 0xF8) == 0xF0) {
            n = 3, cp = *p & 0x07u;
        } else {
            return 0;
        }
        p++;
        for (int i = 0; i < n; i++, p++) {
            if ((*p & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (*p & 0x3Fu);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)
            || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
    }
    return 1;
}

/* "^-?[0-9]{1,18}$": a plain decimal, as the header's "numbers in decimal". */
static int plain_decimal(const char *s, long long *out) {
    const char *p = s + (*s == '-');
    size_t digits = strspn(p, "0123456789");
    if (digits == 0 || digits > 18 || p[digits] != '\0')
        return 0;
    *out = strtoll(s, NULL, 10);
    return 1;
}

/* "^[0-9]{1,w}(\.[0-9]{1,f})?$": a plain decimal fraction. */
static int plain_decimal_fraction(const char *s, size_t max_whole, size_t max_frac) {
    size_t whole = strspn(s, "0123456789"), frac;
    if (whole == 0 || whole > max_whole)
        return 0;
    if (s[whole] == '\0')
        return 1;
    if (s[whole] != '.')
        return 0;
    frac = strspn(s + whole + 1, "0123456789");
    return frac >= 1 && frac <= max_frac && s[whole + 1 + frac] == '\0';
}

static int only_chars(const char *s, const char *allowed_extra, int alnum) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (alnum && c < 0x80 && isalnum(c))
            continue;
        if (strchr(allowed_extra, c) == NULL)
            return 0;
    }
    return 1;
}

static char *copy_bytes(const uint8_t *data, size_t len) {
    char *s = malloc(len + 1);
    if (s == NULL)
        abort();
    memcpy(s, data, len);
    s[len] = '\0';
    return s;
}

/* ------------------------------------------------------------------------
 * What the harness knows about the configuration it built
 */

struct model {
    pool_config_t *cfg;
    int freed;
    long long size, maxsize, pre_create, get_timeout, min_idle;
    int size_set; /* unset, size is "10 (maxsize when that is smaller)" */
    int verify_cert, has_ca, any_tls_key;
    char *user, *database, *name; /* as given (NULL: not set / set to "") */
    int strings_utf8;             /* user, database and name are valid UTF-8 */
    char *password;               /* the last password set (NULL: none) */
};

static void replace(char **slot, const char *value) {
    free(*slot);
    *slot = value[0] != '\0' ? strdup(value) : NULL;
}

/* pool_config_set on the live or freed config, checked against the header. */
static void set_key(struct model *m, const char *key, const char *value) {
    const struct key_spec *spec = key != NULL ? find_key(key) : NULL;
    int rc = pool_config_set(m->cfg, key, value);
    const char *message;
    long long number = 0;

    fz_outcome(m->freed                         ? 33
               : key == NULL || value == NULL ? 32
               : spec == NULL                 ? 31
                                              : (unsigned)(spec - keys),
               rc);

    if (m->freed) {
        fz_expect("pool_config_set on a freed config", rc, 2, POOL_E_WRONG_HANDLE,
                  POOL_E_BAD_ARGUMENT);
        return;
    }
    if (key == NULL || value == NULL) {
        /* "a NULL pointer" is POOL_E_BAD_ARGUMENT; an unknown key may be
         * reported first. */
        fz_expect("pool_config_set with a NULL key/value", rc, 2, POOL_E_BAD_ARGUMENT,
                  spec == NULL ? POOL_E_UNKNOWN_OPTION : POOL_E_BAD_ARGUMENT);
        return;
    }
    if (spec == NULL) {
        fz_expect("pool_config_set(unknown key)", rc, 1, POOL_E_UNKNOWN_OPTION);
        if (strlen(key) <= 64 && is_printable_ascii(key) && strstr(pool_last_error(), key) == NULL)
            FZ_FAIL("POOL_E_UNKNOWN_OPTION message does not name the key '%s': \"%s\"",
                    fz_show(key),
                    fz_show(pool_last_error()));
        return;
    }
    fz_expect("pool_config_set(known key)", rc, 2, POOL_OK, POOL_E_BAD_ARGUMENT);
    message = pool_last_error();

    /* Values the header allows must be accepted, values it rules out rejected. */
    switch (spec->cls) {
    case K_INT:
        if (plain_decimal(value, &number)) {
            int in_doc_range = number >= spec->lo && number <= spec->hi;
            if (in_doc_range && rc != POOL_OK)
                FZ_FAIL("pool_config_set(%s, \"%s\") rejected a documented value: %s",
                        fz_show(key), fz_show(value),
                        fz_show(message));
            if ((number < spec->lo || (spec->hi_is_limit && number > spec->hi)) && rc == POOL_OK)
                FZ_FAIL("pool_config_set(%s, \"%s\") accepted a value outside %lld..%lld",
                        fz_show(key),
                        fz_show(value), spec->lo, spec->hi);
        } else if (strpbrk(value, "0123456789") == NULL && rc == POOL_OK) {
            FZ_FAIL("pool_config_set(%s, \"%s\") accepted a number without digits",
                    fz_show(key), fz_show(value));
        }
        break;
    case K_BOOL: {
        static const char *const spellings[] = {"0",  "1",   "true", "false",
                                                "on", "off", "yes",  "no"};
        size_t i;
        for (i = 0; i < 8; i++)
            if (strcmp(value, spellings[i]) == 0 && rc != POOL_OK)
                FZ_FAIL("pool_config_set(%s, \"%s\") rejected a documented boolean: %s",
                        fz_show(key),
                        fz_show(value), fz_show(message));
        if (rc == POOL_OK && (value[0] == '\0' || !only_chars(value, " \t", 1)))
            FZ_FAIL("pool_config_set(%s, \"%s\") accepted a value that is no boolean", fz_show(key),
                    fz_show(value));
        break;
    }
    case K_IDENT: /* sql_mode [A-Za-z0-9_,]* */
        if (only_chars(value, "_,", 1)) {
            if (strlen(value) <= 256 && rc != POOL_OK)
                FZ_FAIL("pool_config_set(%s, \"%s\") rejected a documented value: %s",
                        fz_show(key), fz_show(value),
                        fz_show(message));
        } else if (rc == POOL_OK) {
            FZ_FAIL("pool_config_set(%s, \"%s\") accepted characters outside [A-Za-z0-9_,]",
                    fz_show(key),
                    fz_show(value));
        }
        break;
    case K_CHARSET:
        if (value[0] != '\0' && strlen(value) <= 32 && only_chars(value, "_", 1) && rc != POOL_OK)
            FZ_FAIL("pool_config_set(%s, \"%s\") rejected a plain charset name: %s",
                    fz_show(key), fz_show(value),
                    fz_show(message));
        break;
    case K_SECONDS: /* decimal seconds; 0 = off */
        if (plain_decimal_fraction(value, 6, 9) && rc != POOL_OK)
            FZ_FAIL("pool_config_set(%s, \"%s\") rejected decimal seconds: %s", fz_show(key),
                    fz_show(value), fz_show(message));
        if (rc == POOL_OK && (strchr(value, '-') != NULL || strpbrk(value, "0123456789") == NULL))
            FZ_FAIL("pool_config_set(%s, \"%s\") accepted a value that is no seconds count",
                    fz_show(key), fz_show(value));
        break;
    case K_FRACTION: /* lifetime_jitter 0..0.5 */
        if (plain_decimal_fraction(value, 1, 6)) {
            double x = strtod(value, NULL);
            if (x <= 0.5 && rc != POOL_OK)
                FZ_FAIL("pool_config_set(%s, \"%s\") rejected a fraction in 0..0.5: %s",
                        fz_show(key), fz_show(value), fz_show(message));
            if (x > 0.5 && rc == POOL_OK)
                FZ_FAIL("pool_config_set(%s, \"%s\") accepted a fraction above 0.5", fz_show(key),
                        fz_show(value));
        }
        if (rc == POOL_OK && (strchr(value, '-') != NULL || strpbrk(value, "0123456789") == NULL))
            FZ_FAIL("pool_config_set(%s, \"%s\") accepted a value that is no fraction",
                    fz_show(key), fz_show(value));
        break;
    case K_HOSTS: /* one plain name (no port, list or brackets) is always a host */
        if (value[0] != '\0' && strlen(value) <= 64 && is_utf8(value) && strpbrk(value, ":,[] ") == NULL
            && rc != POOL_OK)
            FZ_FAIL("pool_config_set(host, \"%s\") rejected a plain host name: %s", fz_show(value),
                    fz_show(message));
        break;
    case K_CHOICE: {
        int known = strcmp(value, "sequential") == 0 || strcmp(value, "loadbalance") == 0
                    || strcmp(value, "replication") == 0;
        if (known != (rc == POOL_OK))
            FZ_FAIL("pool_config_set(%s, \"%s\") returned %d", fz_show(key), fz_show(value), rc);
        break;
    }
    case K_NONEMPTY_TEXT:
    case K_TEXT:
        /* Short UTF-8 text is fine; bytes that are not UTF-8 may be refused. */
        if (strlen(value) <= 64 && (value[0] != '\0' || spec->cls == K_TEXT) && is_utf8(value)
            && rc != POOL_OK)
            FZ_FAIL("pool_config_set(%s, <%zu bytes>) rejected a short text: %s", fz_show(key),
                    strlen(value), fz_show(message));
        break;
    }

    if (rc != POOL_OK) {
        /* "POOL_E_BAD_ARGUMENT naming the key and (except for passwords) the value" */
        if (strstr(message, key) == NULL)
            FZ_FAIL("pool_config_set(%s): the message does not name the key: \"%s\"",
                    fz_show(key), fz_show(message));
        if (strcmp(key, "password") == 0) {
            if (value[0] != '\0' && strstr(message, value) != NULL)
                FZ_FAIL("pool_config_set(password): the message shows the password: \"%s\"",
                        fz_show(message));
        } else if (value[0] != '\0' && strlen(value) <= 64 && is_printable_ascii(value)
                   && strstr(message, value) == NULL) {
            FZ_FAIL("pool_config_set(%s, \"%s\"): the message does not name the value: \"%s\"",
                    fz_show(key), fz_show(value), fz_show(message));
        }
        return;
    }

    /* Remember what pool_create and pool_stats must show. */
    if (spec->cls == K_INT) {
        long long v = strtoll(value, NULL, 10); /* accepted, so it is a number */
        if (strcmp(key, "size") == 0)
            m->size = v, m->size_set = 1;
        else if (strcmp(key, "maxsize") == 0)
            m->maxsize = v;
        else if (strcmp(key, "pre_create_num") == 0)
            m->pre_create = v;
        else if (strcmp(key, "get_timeout") == 0)
            m->get_timeout = v;
        else if (strcmp(key, "min_idle") == 0)
            m->min_idle = v;
    } else if (strcmp(key, "password") == 0) {
        replace(&m->password, value);
    } else if (strcmp(key, "user") == 0) {
        free(m->user);
        m->user = strdup(value);
    } else if (strcmp(key, "database") == 0 || strcmp(key, "db") == 0) {
        replace(&m->database, value);
    } else if (strcmp(key, "name") == 0) {
        replace(&m->name, value);
    } else if (strcmp(key, "ssl_ca") == 0) {
        m->has_ca = value[0] != '\0';
    } else if (strcmp(key, "ssl_verify_cert") == 0) {
        const char *v = value + strspn(value, " \t");
        m->verify_cert = *v == '1' || *v == 't' || *v == 'T' || *v == 'y' || *v == 'Y'
                         || ((*v == 'o' || *v == 'O') && (v[1] == 'n' || v[1] == 'N'));
    }
    if (strncmp(key, "ssl", 3) == 0)
        m->any_tls_key = 1;
}

/* ------------------------------------------------------------------------
 * After pool_create
 */

struct get_call {
    int64_t timeout, overflow;
    uint32_t flags;
};

#define MAX_GETS 8
#define MAX_STATS 16

/* The library's pool_stats_t size, learnt from the first call with a large
 * buffer (the header and the library may be one version apart: "new fields
 * are only ever appended"). */
static uint64_t lib_stats_size;

static pool_stats_t stats_of(pool_t *pool, const char *where) {
    fz_stats_buf out;
    int rc;
    memset(&out, 0xA5, sizeof out);
    rc = pool_stats(pool, &out.stats, sizeof out);
    fz_expect(where, rc, 1, POOL_OK);
    FZ_CHECK(out.stats.struct_size >= 16 && out.stats.struct_size < sizeof out
                 && out.stats.struct_size % 8 == 0,
             "%s: struct_size %llu", where, (unsigned long long)out.stats.struct_size);
    if (lib_stats_size == 0)
        lib_stats_size = out.stats.struct_size;
    FZ_CHECK(out.stats.struct_size == lib_stats_size, "%s: struct_size %llu, earlier %llu", where,
             (unsigned long long)out.stats.struct_size, (unsigned long long)lib_stats_size);
    return out.stats;
}

static void check_stats_size(pool_t *pool, unsigned long long n) {
    size_t want = n < lib_stats_size ? (size_t)n : (size_t)lib_stats_size;
    unsigned char *out = malloc(want > 0 ? want : 1); /* exactly what may be written */
    int rc;
    if (out == NULL)
        abort();
    memset(out, 0xA5, want > 0 ? want : 1);
    rc = pool_stats(pool, (pool_stats_t *)(void *)out, (size_t)n);
    fz_outcome(42, rc);
    if (n < 16) {
        fz_expect("pool_stats with out_size < 16", rc, 1, POOL_E_BAD_ARGUMENT);
    } else if ((size_t)n > (size_t)PTRDIFF_MAX && fz_ignoring("stats-huge-size")) {
        fz_expect("pool_stats with a huge out_size", rc, 2, POOL_OK, POOL_E_BAD_ARGUMENT);
    } else {
        uint64_t filled;
        /* "Fills at most out_size bytes of *out ... POOL_E_BAD_ARGUMENT for NULL
         * out or out_size < 16": any out_size >= 16 is fine. */
        if (rc != POOL_OK)
            FZ_FAIL("pool_stats(pool, out, %llu) returned %d (%s); documented: POOL_OK for "
                    "any out_size >= 16",
                    n, rc, fz_code_name(rc));
        memcpy(&filled, out, sizeof filled);
        FZ_CHECK(filled == want, "pool_stats(out_size %llu): struct_size %llu, expected %zu", n,
                 (unsigned long long)filled, want);
    }
    free(out);
}

static void check_name(const struct model *m, pool_t *pool) {
    const char *name = pool_name(pool);
    char expected[1024];
    FZ_CHECK(name != NULL, "pool_name of a live pool");
    if (!m->strings_utf8 && fz_ignoring("non-utf8"))
        return;
    if (m->name != NULL)
        snprintf(expected, sizeof expected, "%s", m->name);
    else
        snprintf(expected, sizeof expected, "127.0.0.1-1-%s-%s", m->user ? m->user : "",
                 m->database ? m->database : "");
    if (strlen(expected) < sizeof expected - 1 && strcmp(name, expected) != 0)
        FZ_FAIL("pool_name is \"%s\", expected \"%s\" (the configured name or "
                "host-port-user-database)",
                fz_show(name), fz_show(expected));
}

/* ------------------------------------------------------------------------
 * The log callback (!log)
 */

static int log_min_level;

static void check_log_message(void *user_data, int level, const char *pool_name,
                              pool_conn_t *conn, const char *message) {
    const struct model *m = (const struct model *)user_data;
    FZ_CHECK(level >= log_min_level && level > 0 && level <= 50,
             "log callback: level %d, min_level %d", level, log_min_level);
    FZ_CHECK(pool_name != NULL, "log callback: pool_name is NULL");
    FZ_CHECK(message != NULL && message[0] != '\0', "log callback: empty message");
    FZ_CHECK(conn == NULL, "log callback: a connection, but none was ever borrowed");
    /* "Never passes a password" (only checked for passwords long enough not
     * to occur in a message by chance). */
    if (m->password != NULL && strlen(m->password) >= 12 && strstr(message, m->password) != NULL
        && strstr(pool_name, m->password) == NULL && strstr(FZ_NO_SOCKET, m->password) == NULL)
        FZ_FAIL("log callback: the message shows the password: \"%s\"", fz_show(message));
}

/* The longest wait the header allows pool_get_conn_ex(timeout, overflow) here,
 * where nothing is ever borrowed: with size 0 a caller first waits
 * min(overflow, timeout) for an idle connection before opening one above
 * size; with min_idle a background connect may hold the last capacity, so
 * the caller may wait its whole timeout. (A negative timeout means the
 * pool's get_timeout.) */
static int64_t get_wait_ms(const struct model *m, int64_t timeout, int64_t overflow) {
    int64_t effective = timeout < 0 ? m->get_timeout : timeout;
    if (overflow < 0)
        return 0;
    if (m->min_idle > 0)
        return effective;
    if (m->size == 0)
        return overflow < effective ? overflow : effective;
    return 0;
}

/* Keeps each input fast: a timeout that would allow a wait of more than
 * 0.2 s becomes 0.2 s. */
static int64_t cap_timeout(const struct model *m, int64_t timeout, int64_t overflow) {
    const int64_t cap = 200;
    return get_wait_ms(m, timeout, overflow) <= cap ? timeout : cap;
}

static void exercise_pool(const struct model *m, pool_t *pool, const struct get_call *gets,
                          int n_gets, const unsigned long long *stats_sizes, int n_stats,
                          int stats_null) {
    pool_stats_t stats;
    pool_conn_t *conn;
    uint64_t failures = 0;
    int i, rc;

    /* min_idle > 0: the maintenance thread keeps trying to open connections
     * (to the missing socket) while this runs, so the counters of open and
     * failed connections move on their own, and a get may find the capacity
     * taken by a background connect (POOL_E_EXHAUSTED). */
    int background = m->min_idle > 0;

    check_name(m, pool);
    stats = stats_of(pool, "pool_stats after pool_create");
    FZ_CHECK(stats.size == (uint64_t)m->size && stats.maxsize == (uint64_t)m->maxsize,
             "stats size/maxsize %llu/%llu, configured %lld/%lld",
             (unsigned long long)stats.size, (unsigned long long)stats.maxsize, m->size,
             m->maxsize);
    FZ_CHECK(background
                 || (stats.total == 0 && stats.idle == 0 && stats.in_use == 0
                     && stats.opening == 0 && stats.waiting == 0 && stats.created == 0),
             "a new pool without pre-created connections has nothing open");

    for (i = 0; i < n_stats; i++)
        check_stats_size(pool, stats_sizes[i]);
    if (stats_null)
        fz_expect("pool_stats(pool, NULL, ...)", pool_stats(pool, NULL, sizeof stats), 1,
                  POOL_E_BAD_ARGUMENT);

    for (i = 0; i < n_gets; i++) {
        const struct get_call *g = &gets[i];
        double start = fz_now_ms(), allowed_ms = 3000;
        conn = (pool_conn_t *)(uintptr_t)0x1; /* must be reset to NULL */
        rc = pool_get_conn_ex(pool, g->timeout, g->overflow, g->flags, &conn);
        fz_outcome(41, rc);
        if ((g->flags & ~(POOL_GET_PING | POOL_GET_READONLY)) != 0 || g->overflow < 0) {
            fz_expect("pool_get_conn_ex with bad flags/overflow", rc, 1, POOL_E_BAD_ARGUMENT);
        } else {
            /* No server: opening fails. Nothing is borrowed, so nobody waits
             * for a connection, except for what get_wait_ms() allows. */
            if (background)
                fz_expect("pool_get_conn_ex without a server (min_idle)", rc, 2, POOL_E_SERVER,
                          POOL_E_EXHAUSTED);
            else
                fz_expect("pool_get_conn_ex without a server", rc, 1, POOL_E_SERVER);
            if (rc == POOL_E_SERVER) {
                FZ_CHECK(pool_last_errno() != 0, "POOL_E_SERVER without a server errno");
                failures++;
            }
            allowed_ms += (double)get_wait_ms(m, g->timeout, g->overflow);
        }
        FZ_CHECK(conn == NULL, "pool_get_conn_ex failed but left *out_conn non-NULL");
        FZ_CHECK(fz_now_ms() - start <= allowed_ms,
                 "pool_get_conn_ex(%lld, %lld, %u) took %.0f ms, allowed %.0f",
                 (long long)g->timeout, (long long)g->overflow, g->flags, fz_now_ms() - start,
                 allowed_ms);
    }
    fz_expect("pool_get_conn_ex(NULL out)", pool_get_conn_ex(pool, 0, 0, 0, NULL), 1,
              POOL_E_BAD_ARGUMENT);

    stats = stats_of(pool, "pool_stats after the gets");
    FZ_CHECK(stats.in_use == 0 && stats.gets == 0, "failed gets left in_use %llu, gets %llu",
             (unsigned long long)stats.in_use, (unsigned long long)stats.gets);
    FZ_CHECK(background || (stats.total == 0 && stats.opening == 0),
             "failed gets left total %llu, opening %llu", (unsigned long long)stats.total,
             (unsigned long long)stats.opening);
    FZ_CHECK(background ? stats.connect_failures >= failures : stats.connect_failures == failures,
             "connect_failures %llu, expected %llu", (unsigned long long)stats.connect_failures,
             (unsigned long long)failures);

    fz_expect("pool_close", pool_close(pool), 1, POOL_OK);
    fz_expect("pool_close (twice)", pool_close(pool), 1, POOL_OK);
    conn = NULL;
    fz_expect("pool_get_conn_ex after pool_close", pool_get_conn_ex(pool, 0, 0, 0, &conn), 1,
              POOL_E_CLOSED);
    FZ_CHECK(conn == NULL, "pool_get_conn_ex after close left a connection");
    stats_of(pool, "pool_stats after pool_close");
    FZ_CHECK(pool_name(pool) != NULL, "pool_name after pool_close (valid until pool_destroy)");
}

static void check_destroyed(pool_t *pool) {
    pool_stats_t stats;
    pool_conn_t *conn = NULL;
    fz_expect("pool_stats after pool_destroy", pool_stats(pool, &stats, sizeof stats), 1,
              POOL_E_WRONG_HANDLE);
    fz_expect("pool_close after pool_destroy", pool_close(pool), 1, POOL_E_WRONG_HANDLE);
    fz_expect("pool_get_conn after pool_destroy", pool_get_conn(pool, 0, &conn), 1,
              POOL_E_WRONG_HANDLE);
    FZ_CHECK(conn == NULL, "pool_get_conn on a destroyed pool left a connection");
    FZ_CHECK(pool_name(pool) == NULL, "pool_name of a destroyed pool is not NULL");
    fz_check_last_error(__FILE__, __LINE__, "pool_name after pool_destroy", POOL_E_WRONG_HANDLE);
    pool_destroy(pool); /* twice: a harmless no-op */
}

/* ------------------------------------------------------------------------
 * One input
 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct model m;
    struct get_call gets[MAX_GETS], raw_gets[MAX_GETS];
    unsigned long long stats_sizes[MAX_STATS];
    int n_gets = 0, n_stats = 0, stats_null = 0, null_out = 0, log_installed = 0, i, rc;
    size_t pos = 0;
    pool_t *pool;

    memset(&m, 0, sizeof m);
    m.size = 10, m.maxsize = 100, m.get_timeout = 30000, m.strings_utf8 = 1;
    m.cfg = pool_config_new();
    FZ_CHECK(m.cfg != NULL, "pool_config_new");

    while (pos < size) {
        const uint8_t *line = data + pos, *nl = memchr(line, '\n', size - pos);
        size_t len = nl ? (size_t)(nl - line) : size - pos;
        char *text = copy_bytes(line, len);
        pos += len + 1;

        if (text[0] == '!') {
            char *arg = strchr(text, ' ');
            if (arg != NULL)
                *arg++ = '\0';
            if (strcmp(text, "!free") == 0) {
                pool_config_free(m.cfg);
                m.freed = 1;
            } else if (strcmp(text, "!nullkey") == 0) {
                set_key(&m, NULL, arg ? arg : "");
            } else if (strcmp(text, "!nullout") == 0) {
                null_out = 1;
            } else if (strcmp(text, "!statsnull") == 0) {
                stats_null = 1;
            } else if (strcmp(text, "!stats") == 0 && arg && n_stats < MAX_STATS) {
                stats_sizes[n_stats++] = strtoull(arg, NULL, 0);
            } else if (strcmp(text, "!get") == 0 && arg && n_gets < MAX_GETS) {
                char *end;
                raw_gets[n_gets].timeout = strtoll(arg, &end, 0);
                raw_gets[n_gets].overflow = strtoll(end, &end, 0);
                raw_gets[n_gets].flags = (uint32_t)strtoul(end, NULL, 0);
                n_gets++;
            } else if (strcmp(text, "!log") == 0 && arg) {
                int level = (int)strtol(arg, NULL, 0);
                rc = pool_set_log_callback(check_log_message, &m, level);
                fz_outcome(43, rc);
                if (level >= 0 && level <= 50) {
                    fz_expect("pool_set_log_callback(min_level 0..50)", rc, 1, POOL_OK);
                    log_min_level = level;
                    log_installed = 1;
                } else {
                    fz_expect("pool_set_log_callback(min_level outside 0..50)", rc, 1,
                              POOL_E_BAD_ARGUMENT);
                }
            } else if (strcmp(text, "!fill") == 0 && arg) {
                char key[128], fill = 'a';
                unsigned long n = 0;
                char *value;
                if (sscanf(arg, "%127s %lu %c", key, &n, &fill) >= 2) {
                    if (n > (1ul << 20))
                        n = 1ul << 20;
                    value = malloc(n + 1);
                    if (value == NULL)
                        abort();
                    memset(value, fill ? fill : 'a', n);
                    value[n] = '\0';
                    set_key(&m, key, value);
                    free(value);
                }
            }
            /* anything else: an unknown directive, ignored */
        } else {
            char *eq = strchr(text, '=');
            if (eq != NULL)
                *eq = '\0';
            set_key(&m, text, eq ? eq + 1 : NULL);
        }
        free(text);
    }
    if (!m.size_set && m.maxsize < m.size)
        m.size = m.maxsize;
    if (m.user && !is_utf8(m.user))
        m.strings_utf8 = 0;
    if (m.database && !is_utf8(m.database))
        m.strings_utf8 = 0;
    if (m.name && !is_utf8(m.name))
        m.strings_utf8 = 0;

    /* No network: whatever the input said, connect through a missing socket. */
    if (!m.freed) {
        fz_expect("pool_config_set(host)", pool_config_set(m.cfg, "host", "127.0.0.1"), 1, POOL_OK);
        fz_expect("pool_config_set(port)", pool_config_set(m.cfg, "port", "1"), 1, POOL_OK);
        fz_expect("pool_config_set(unix_socket)",
                  pool_config_set(m.cfg, "unix_socket", FZ_NO_SOCKET),
                  1, POOL_OK);
    }

    if (null_out)
        fz_expect("pool_create(cfg, NULL)", pool_create(m.cfg, NULL), 2, POOL_E_BAD_ARGUMENT,
                  m.freed ? POOL_E_WRONG_HANDLE : POOL_E_BAD_ARGUMENT);

    pool = (pool_t *)(uintptr_t)0x1; /* must be reset to NULL on failure */
    rc = pool_create(m.cfg, &pool);
    fz_outcome(40, rc);
    if (m.freed) {
        fz_expect("pool_create(freed config)", rc, 1, POOL_E_WRONG_HANDLE);
    } else if (m.size > m.maxsize || m.pre_create > m.maxsize || m.min_idle > m.maxsize) {
        fz_expect("pool_create with size, pre_create_num or min_idle > maxsize", rc, 1,
                  POOL_E_BAD_ARGUMENT);
    } else if (m.verify_cert && !m.has_ca) {
        fz_expect("pool_create with ssl_verify_cert and no ssl_ca", rc, 1, POOL_E_BAD_ARGUMENT);
    } else if (m.pre_create > 0) {
        /* The first connection fails; the pool is not made. */
        fz_expect("pool_create with pre_create_num > 0 and no server", rc, 2, POOL_E_SERVER,
                  POOL_E_BAD_ARGUMENT);
    } else if (m.any_tls_key) {
        fz_expect("pool_create with TLS keys", rc, 2, POOL_OK, POOL_E_BAD_ARGUMENT);
    } else {
        fz_expect("pool_create with a valid configuration", rc, 1, POOL_OK);
    }
    if (rc != POOL_OK)
        FZ_CHECK(pool == NULL, "pool_create failed but left *out_pool non-NULL");

    /* The pool has its own copy: free the config before using the pool. */
    pool_config_free(m.cfg);
    pool_config_free(m.cfg); /* twice: a harmless no-op */
    fz_expect("pool_config_set after pool_config_free", pool_config_set(m.cfg, "size", "1"), 1,
              POOL_E_WRONG_HANDLE);

    if (rc == POOL_OK) {
        for (i = 0; i < n_gets; i++) {
            gets[i] = raw_gets[i];
            gets[i].timeout = cap_timeout(&m, raw_gets[i].timeout, raw_gets[i].overflow);
        }
        if (n_gets == 0) {
            memset(&gets[0], 0, sizeof gets[0]);
            n_gets = 1;
        }
        exercise_pool(&m, pool, gets, n_gets, stats_sizes, n_stats, stats_null);
        pool_destroy(pool);
        check_destroyed(pool);
    }

    free(m.user);
    free(m.database);
    free(m.name);
    free(m.password);
    if (log_installed)
        fz_expect("pool_set_log_callback(NULL)", pool_set_log_callback(NULL, NULL, 0), 1, POOL_OK);
    return 0;
}
