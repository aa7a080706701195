/*
 * bevygap_matchmaker_httpd's command line (flags.c), shared with main.c. The web front's own
 * flags (--bind, --cors, --fake-ip, --trusted-proxy, ...) are parsed by the front
 * (mm_front_config_flag) into `front`; the rest are the bridge's and the program's.
 */
#ifndef MM_HTTPD_H
#define MM_HTTPD_H

#include <stdint.h>

#include "mm/front.h"
#include "mm/log.h"

typedef struct mm_httpd_flags {
    mm_front_config front;          /* mm_front_config_init defaults, then the front's flags */
    uint64_t matchmaker_timeout_ms; /* the bridge's whole-request limit; default 90000 */
    uint64_t backend_silence_ms;    /* the matchmaker's longest silence (heartbeats); default 3000, 0: off */
    uint64_t stop_deadline_ms;      /* on SIGTERM, how long requests in flight may finish; default 10000 */
    mm_log_format log_format;       /* default text */
    mm_log_level log_level;         /* default info */
} mm_httpd_flags;

/**
 * Parses argv. Returns 0 (go on), 1 (--help was printed: exit 0) or 2 (a bad flag: one line on
 * stderr said which).
 */
int mm_httpd_flags_parse(int argc, char **argv, mm_httpd_flags *out);

#endif
