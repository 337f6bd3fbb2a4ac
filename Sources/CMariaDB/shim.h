#ifndef CMARIADB_SHIM_H
#define CMARIADB_SHIM_H
#include <mysql.h>
#include <errmsg.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

/* How many CPUs the calling thread may run on, or 0 when unknown. Through
 * the raw system call: glibc declares sched_getaffinity and its cpu_set_t
 * macros only for _GNU_SOURCE, which Swift's Glibc module is not built with. */
static inline int mysqlpool_usable_cpus(void) {
    unsigned long mask[16] = {0}; /* 1024 CPUs */
    long bytes = syscall(SYS_sched_getaffinity, 0, sizeof mask, mask);
    int count = 0;
    for (long i = 0; i < bytes / (long)sizeof mask[0]; i++)
        count += __builtin_popcountl(mask[i]);
    return count;
}
/* A non-blocking, close-on-exec eventfd: an event loop's borrow is woken
 * through one (the flags are macros Swift does not import). */
static inline int mysqlpool_eventfd(void) {
    return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}
#endif
