/* Internal: gives Swift the public header's types and constants, and the
 * thread-local "last error" that the pool_last_* getters read. Nothing here
 * is exported from the .so except the pool_* names (see exports.map). */
#ifndef MYSQLPOOL_SUPPORT_H
#define MYSQLPOOL_SUPPORT_H

#include "../../../include/mysqlpool.h"

/* Records the calling thread's last error. message and sqlstate may be NULL. */
void mysqlpool_set_last_error(int code, unsigned int server_errno, const char *sqlstate,
                              const char *message);

#endif
