/* Thread-local last error: written by the Swift export layer on every
 * failure, read by pool_last_*(). Kept in C because _Thread_local storage
 * is a plain static buffer here, with no allocation and no destructor. */
#include "mysqlpool_support.h"

#include <limits.h>
#include <string.h>

/* pool_result_fetch hands libmariadb's `unsigned long *` lengths out as
 * `const size_t *`: both must be the same width. */
_Static_assert(sizeof(unsigned long) == sizeof(size_t), "lengths need LP64");

enum { MESSAGE_CAPACITY = 512 };

static _Thread_local int last_code;
static _Thread_local unsigned int last_errno;
static _Thread_local char last_sqlstate[6] = "00000";
static _Thread_local char last_message[MESSAGE_CAPACITY];

static void copy_truncated(char *to, size_t capacity, const char *from) {
    size_t length = from ? strlen(from) : 0;
    if (length >= capacity) {
        length = capacity - 1;
        /* Do not leave half a UTF-8 sequence at the end. */
        while (length > 0 && ((unsigned char)from[length] & 0xC0) == 0x80)
            length--;
    }
    if (length)
        memcpy(to, from, length);
    to[length] = '\0';
}

void mysqlpool_set_last_error(int code, unsigned int server_errno, const char *sqlstate,
                              const char *message) {
    last_code = code;
    last_errno = server_errno;
    copy_truncated(last_sqlstate, sizeof last_sqlstate,
                   (sqlstate && strlen(sqlstate) == 5) ? sqlstate : "HY000");
    if (code == POOL_OK)
        copy_truncated(last_sqlstate, sizeof last_sqlstate, "00000");
    copy_truncated(last_message, sizeof last_message, message);
}

int pool_last_error_code(void) { return last_code; }
unsigned int pool_last_errno(void) { return last_errno; }
const char *pool_last_sqlstate(void) { return last_sqlstate; }
const char *pool_last_error(void) { return last_message; }
