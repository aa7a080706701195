/* Names for mm_err values, for logs and client-facing messages. */
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
