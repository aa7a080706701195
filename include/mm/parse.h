/*
 * Strict parsers for numbers and addresses given on command lines and in environment variables.
 * Each returns MM_OK or MM_ERR_INVALID and, on error, writes a one-line reason into why
 * (why may be NULL).
 */
#ifndef MM_PARSE_H
#define MM_PARSE_H

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

#endif
