/*
 * Strict parsers for numbers and addresses given on command lines and in environment variables.
 * Each returns MM_OK or MM_ERR_INVALID and, on error, writes a one-line reason into why
 * (why may be NULL).
 */
#ifndef MM_PARSE_H
#define MM_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/err.h"

/** Decimal u64 with no sign, no spaces, no trailing text; within [min, max]. */
mm_err mm_parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out, char *why, size_t why_len);

/** Decimal signed integer within [min, max]. */
mm_err mm_parse_i64(const char *text, int64_t min, int64_t max, int64_t *out, char *why, size_t why_len);

/**
 * "HOST:PORT" or "[V6]:PORT". Copies the host (without brackets) into host (host_len bytes) and
 * the port into *port (1..65535).
 */
mm_err mm_parse_host_port(const char *text, char *host, size_t host_len, uint16_t *port, char *why, size_t why_len);

/* ---- command-line flags: "--name value" and "--name=value" ---- */

/** A command line being read, flag by flag (argv[0] is skipped). */
typedef struct mm_args {
    int argc;
    char **argv;
    int next; /* index of the next argument to read */
} mm_args;

/** One flag as read: its name ("--name"; "-h" reads as "--help") and the text after '=', if any. */
typedef struct mm_flag {
    char name[64];
    const char *inline_value; /* NULL when the argument had no '=' */
} mm_flag;

void mm_args_init(mm_args *a, int argc, char **argv);

/**
 * Reads the next flag into *f. Returns 1 (a flag), 0 (no arguments left) or -1 with a reason in
 * why: an argument that does not start with "--" (and is not "-h"), or a name of 64 bytes or more.
 * The caller decides whether the flag takes a value and then calls mm_args_value (or, for a flag
 * without one, checks that inline_value is NULL).
 */
int mm_args_flag(mm_args *a, mm_flag *f, char *why, size_t why_len);

/** f's value: its inline one, else the next argument (which is consumed); NULL when there is none. */
const char *mm_args_value(mm_args *a, const mm_flag *f);

#endif
