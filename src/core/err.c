/*
 * Names for mm_err values, for logs and client-facing messages, and mm_fail(): the one helper
 * every module uses to return an error together with a formatted reason (include/mm/err.h).
 */
#include <stdarg.h>
#include <stdio.h>

#include "mm/err.h"

const char *
mm_err_str(mm_err err)
{
    switch (err) {
    case MM_OK:
        return "ok";
    case MM_ERR_INVALID:
        return "invalid input";
    case MM_ERR_NOMEM:
        return "out of memory";
    case MM_ERR_FULL:
        return "queue full";
    case MM_ERR_STOPPED:
        return "stopped";
    case MM_ERR_NOTFOUND:
        return "not found";
    case MM_ERR_SYS:
        return "system error";
    case MM_ERR_CRYPTO:
        return "cryptographic check failed";
    case MM_ERR_EXPIRED:
        return "expired";
    case MM_ERR_TIMEOUT:
        return "timed out";
    case MM_ERR_IO:
        return "i/o error";
    case MM_ERR_PROTOCOL:
        return "protocol error";
    }
    return "unknown error";
}

mm_err
mm_fail(mm_err err, char *why, size_t why_len, const char *fmt, ...)
{
    if (why != NULL && why_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return err;
}
