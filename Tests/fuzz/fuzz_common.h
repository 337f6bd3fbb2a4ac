/*
 * fuzz_common.h: checks shared by the libFuzzer harnesses in Tests/fuzz/.
 *
 * A failed check prints what was expected and what came back, then calls
 * abort(): libFuzzer reports that as a crash and saves the input as an
 * artifact, like any sanitizer finding.
 *
 *   FZ_FAIL(fmt, ...)              report and abort
 *   FZ_CHECK(cond, fmt, ...)       abort unless cond
 *   fz_expect(where, rc, n, ...)   rc must be one of the n listed codes; a
 *                                  non-OK rc must also be the thread's last
 *                                  error, with a non-empty message
 */
#ifndef MYSQLPOOL_FUZZ_COMMON_H
#define MYSQLPOOL_FUZZ_COMMON_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <mysqlpool.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__GNUC__) || defined(__clang__)
#define FZ_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define FZ_NORETURN __attribute__((noreturn))
#else
#define FZ_PRINTF(f, a)
#define FZ_NORETURN
#endif

static inline FZ_NORETURN void fz_vfail(const char *file, int line, const char *cond,
                                         const char *format, va_list args) {
    fprintf(stderr, "\n%s:%d: FUZZ CHECK FAILED: ", file, line);
    if (cond != NULL)
        fprintf(stderr, "(%s) ", cond);
    vfprintf(stderr, format, args);
    fprintf(stderr, "\n    thread's last error: %d/%u/%s \"%s\"\n", pool_last_error_code(),
            pool_last_errno(), pool_last_sqlstate() ? pool_last_sqlstate() : "NULL",
            pool_last_error() ? pool_last_error() : "NULL");
    fflush(stderr);
    abort();
}

static inline FZ_NORETURN FZ_PRINTF(3, 4) void fz_fail(const char *file, int line,
                                                       const char *format, ...) {
    va_list args;
    va_start(args, format);
    fz_vfail(file, line, NULL, format, args);
}

static inline FZ_NORETURN FZ_PRINTF(4, 5) void fz_fail_cond(const char *file, int line,
                                                            const char *cond,
                                                            const char *format, ...) {
    va_list args;
    va_start(args, format);
    fz_vfail(file, line, cond, format, args);
}

#define FZ_FAIL(...) fz_fail(__FILE__, __LINE__, __VA_ARGS__)
/* FZ_CHECK(cond, format, ...): the format is required. */
#define FZ_CHECK(cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fz_fail_cond(__FILE__, __LINE__, #cond, __VA_ARGS__);                                  \
    } while (0)

static inline const char *fz_code_name(int code) {
    switch (code) {
    case POOL_OK: return "POOL_OK";
    case POOL_E_EXHAUSTED: return "POOL_E_EXHAUSTED";
    case POOL_E_CLOSED: return "POOL_E_CLOSED";
    case POOL_E_BAD_ARGUMENT: return "POOL_E_BAD_ARGUMENT";
    case POOL_E_SERVER: return "POOL_E_SERVER";
    case POOL_E_WRONG_HANDLE: return "POOL_E_WRONG_HANDLE";
    case POOL_E_UNKNOWN_OPTION: return "POOL_E_UNKNOWN_OPTION";
    case POOL_E_NO_MEMORY: return "POOL_E_NO_MEMORY";
    case POOL_E_MISUSE: return "POOL_E_MISUSE";
    case POOL_E_INTERNAL: return "POOL_E_INTERNAL";
    case POOL_ROW: return "POOL_ROW";
    case POOL_DONE: return "POOL_DONE";
    default: return "(undocumented code)";
    }
}

/* The thread's last error after a failing call that returned `rc`. */
static inline void fz_check_last_error(const char *file, int line, const char *where, int rc) {
    const char *message = pool_last_error();
    const char *sqlstate = pool_last_sqlstate();
    if (pool_last_error_code() != rc)
        fz_fail(file, line, "%s returned %d (%s) but pool_last_error_code() is %d", where, rc,
                fz_code_name(rc), pool_last_error_code());
    if (message == NULL || message[0] == '\0')
        fz_fail(file, line, "%s returned %d (%s) with an empty pool_last_error()", where, rc,
                fz_code_name(rc));
    if (sqlstate == NULL || strlen(sqlstate) != 5)
        fz_fail(file, line, "%s returned %d (%s): pool_last_sqlstate() is not 5 characters", where,
                rc, fz_code_name(rc));
}

/* rc must be one of the `count` codes that follow; failures must be recorded. */
#define fz_expect(where, rc, ...) fz_expect_at(__FILE__, __LINE__, (where), (rc), __VA_ARGS__)

static inline void fz_expect_at(const char *file, int line, const char *where, int rc, int count,
                                ...) {
    va_list allowed;
    char list[256];
    size_t used = 0;
    int i, ok = 0;
    list[0] = '\0';
    va_start(allowed, count);
    for (i = 0; i < count; i++) {
        int code = va_arg(allowed, int);
        if (code == rc)
            ok = 1;
        if (used < sizeof list)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                     fz_code_name(code));
    }
    va_end(allowed);
    if (!ok)
        fz_fail(file, line, "%s returned %d (%s); allowed here: %s", where, rc, fz_code_name(rc),
                list);
    if (rc != POOL_OK && rc != POOL_ROW && rc != POOL_DONE)
        fz_check_last_error(file, line, where, rc);
}

/* `s` for a failure message: printable ASCII as is, other bytes as \xNN,
 * clipped to about 200 characters. Returns one of four rotating buffers. */
static inline const char *fz_show(const char *s) {
    static char buffers[4][220];
    static int next;
    char *out = buffers[next++ % 4];
    size_t used = 0;
    if (s == NULL)
        return "(NULL)";
    for (; *s && used < 200; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c < 0x7F && c != '\\')
            out[used++] = (char)c;
        else
            used += (size_t)snprintf(out + used, 8, "\\x%02x", c);
    }
    if (*s)
        used += (size_t)snprintf(out + used, 8, "...");
    out[used] = '\0';
    return out;
}

/* Whether the check of known bug `bug` is to be relaxed: MYSQLPOOL_FUZZ_IGNORE
 * is a comma-separated list of bug ids, the names of the reproducers
 * Tests/fuzz/corpus/NAME/crash-<bug-id>[.<variant>]. */
static inline int fz_ignoring(const char *bug) {
    const char *list = getenv("MYSQLPOOL_FUZZ_IGNORE");
    size_t n = strlen(bug);
    while (list != NULL && *list != '\0') {
        if (strncmp(list, bug, n) == 0 && (list[n] == ',' || list[n] == '\0'))
            return 1;
        list = strchr(list, ',');
        if (list != NULL)
            list++;
    }
    return 0;
}

static inline double fz_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------------------------
 * Feedback from the library's behaviour
 *
 * libmysqlpool.so is not instrumented, so libFuzzer only sees the harness's
 * own edges. These extra counters (libFuzzer reads the section
 * __libfuzzer_extra_counters on Linux) turn what the library did into
 * features: which call returned which code, and the shape of each error
 * message (its text with quoted parts and digits left out), so an input that
 * reaches a new error path in the library is kept in the corpus.
 */
#if defined(__linux__) && (defined(__clang__) || defined(__GNUC__))
__attribute__((used, section("__libfuzzer_extra_counters")))
#endif
static uint8_t fz_counters[4096];

static inline void fz_feature(unsigned id) {
    uint8_t *counter = &fz_counters[id % sizeof fz_counters];
    if (*counter < 255)
        (*counter)++;
}

static inline unsigned fz_rc_index(int rc) {
    if (rc >= 0 && rc <= 9)
        return (unsigned)rc;
    return rc == POOL_ROW ? 10u : rc == POOL_DONE ? 11u : 12u;
}

/* FNV-1a over the message's letters and spaces outside '...', without key
 * names and without the echoed value ("got ..."): the wording of one error
 * path, not the fuzzed bytes it quotes. */
static inline unsigned fz_message_shape(const char *message) {
    uint32_t hash = 2166136261u;
    int quoted = 0;
    if (message == NULL)
        return 0;
    for (; *message; message++) {
        unsigned char c = (unsigned char)*message;
        if (strncmp(message, "got ", 4) == 0)
            break;
        if (strncmp(message, "key '", 5) == 0) { /* a key name: skip it */
            const char *after = strstr(message, "': ");
            if (after == NULL)
                break;
            message = after + 2;
            continue;
        }
        if (c == '\'')
            quoted = !quoted;
        if (quoted || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == ' '))
            continue;
        hash = (hash ^ c) * 16777619u;
    }
    return hash;
}

/* Call site `site` (0..63) returned rc; on failure its message shape counts too. */
static inline void fz_outcome(unsigned site, int rc) {
    fz_feature((site % 64) * 16 + fz_rc_index(rc));
    if (rc != POOL_OK && rc != POOL_ROW && rc != POOL_DONE)
        fz_feature(1024 + (fz_message_shape(pool_last_error()) ^ site * 2654435761u) % 3072);
}

/* Room for pool_stats of any library version ("new fields are only ever
 * appended"): the header in include/ and the built library may differ. */
typedef union {
    pool_stats_t stats;
    unsigned char bytes[4096];
} fz_stats_buf;

/* A path no server listens on: every connection attempt of a fuzzed pool goes
 * to this Unix socket and fails at once with ENOENT, without any network
 * traffic (a unix_socket makes libmysqlpool use MYSQL_PROTOCOL_SOCKET). */
#define FZ_NO_SOCKET "/nonexistent/mysqlpool-fuzz/no-server.sock"

#endif /* MYSQLPOOL_FUZZ_COMMON_H */
