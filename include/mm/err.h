/*
 * One error enum for the whole project (ARCHITECTURE.md, "Names and style"). Library codes (errno, libcurl,
 * nats.c, jansson) are translated into these at the module edge, with the detail logged there.
 */
#ifndef MM_ERR_H
#define MM_ERR_H

#include <stddef.h>

typedef enum mm_err {
    MM_OK = 0,
    MM_ERR_INVALID,  /* an argument or an input is malformed or out of range */
    MM_ERR_NOMEM,    /* an allocation failed */
    MM_ERR_FULL,     /* a bounded queue is full; the caller still owns what it tried to send */
    MM_ERR_STOPPED,  /* the receiver is stopping or stopped */
    MM_ERR_NOTFOUND, /* no such object (an id that died, an unknown key) */
    MM_ERR_SYS,      /* a system call failed; errno is logged where it happened */
    MM_ERR_CRYPTO,   /* a cryptographic check failed (wrong key, tampered data) */
    MM_ERR_EXPIRED,  /* a token or a session is past its expiry */
    MM_ERR_TIMEOUT,  /* something did not happen in time */
    MM_ERR_IO,       /* a network peer failed or went away */
    MM_ERR_PROTOCOL, /* a peer spoke something we do not accept */
} mm_err;

/** A short, constant, human-readable name for err ("queue full"). Never NULL. */
const char *mm_err_str(mm_err err);

/**
 * Formats a reason for a failure into the caller's buffer and returns err, so that a check reads
 * `return mm_fail(MM_ERR_INVALID, why, why_len, "port %u is out of range", port);`. The reason is
 * written (and truncated to fit, NUL-terminated) only when why != NULL and why_len > 0; otherwise
 * nothing is touched. err is returned as given, MM_OK included.
 */
mm_err mm_fail(mm_err err, char *why, size_t why_len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
