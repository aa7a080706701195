/*
 * bevygap_matchmaker's command line (flags.c) shared with main.c. docs/matchmaker.md lists every
 * flag. The private key is held only in `key` (wiped by mm_matchmaker_flags_dispose).
 */
#ifndef MM_MATCHMAKER_H
#define MM_MATCHMAKER_H

#include <stdbool.h>
#include <stdint.h>

#include "mm/front.h"
#include "mm/log.h"
#include "mm/token.h"

typedef struct mm_matchmaker_flags {
    const char *app_name;                                     /* default spacepit_server */
    const char *app_version;                                  /* default v0.0.1 */
    mm_token_key key;                                         /* default 32 zeros */
    const char *key_source;                                   /* the flag or variable it came from; NULL: default */
    const char *key_file;                                     /* --lightyear-private-key-file */
    int kv_replicas;                                          /* 1 */
    bool kv_memory;                                           /* false: file storage */
    uint64_t protocol_id;                                     /* default 1982 */
    const char *http;                                         /* --http ADDR: all-in-one web front; NULL: none */
    mm_front_config front;                                    /* the web front's flags (used with --http) */
    const char *webhook_url;                                  /* sent to Edgegap; NULL: none */
    const char *webhook_public_url;                           /* --webhook-public-url; NULL: webhooks off */
    const char *webhook_secret_file;                          /* --webhook-secret-file; else $MM_WEBHOOK_SECRET */
    uint64_t webhook_poll_ms;                                 /* 5000: the fallback grid with webhooks on */
    bool webhooks;                                            /* on: webhook_url is webhook_built */
    uint64_t orphan_grace_ms;                                 /* 10000; 0: no create intents (include/mm/orphans.h) */
    char webhook_built[1200];                                 /* base + path + secret; wiped by dispose */
    const char *edgegap_url;                                  /* default https://api.edgegap.com */
    uint64_t poll_delay_ms;                                   /* 200 */
    uint64_t poll_interval_ms;                                /* 200 */
    uint64_t session_timeout_ms;                              /* 60000 */
    uint64_t cert_wait_ms;                                    /* 5000 */
    const char *port_name;                                    /* NULL: the only port */
    mm_byte_order byte_order;                                 /* little */
    uint64_t max_edgegap_in_flight;                           /* 16 */
    uint64_t max_edgegap_queued;                              /* 1024 */
    uint64_t edgegap_timeout_ms;                              /* 10000 */
    uint64_t edgegap_retries;                                 /* 3 */
    uint64_t edgegap_backoff_ms;                              /* 250 */
    uint64_t edgegap_budget;                                  /* fleet-wide Edgegap session creates/s; 0: off (as before) */
    uint64_t edgegap_get_budget;                              /* with a budget: fleet-wide session GETs/s; 0: not gated */
    uint64_t edgegap_delete_budget;                           /* with a budget: fleet-wide session DELETEs/s; 0: not gated */
    uint64_t waiting_room_max;                                /* with a budget: players in line per replica; 10000 */
    uint64_t max_line_wait_ms;                                /* with a budget: the longest wait in line; 300000 */
    uint64_t fleet_heartbeat_ms;                              /* with a budget: mm_fleet heartbeat; 1000 */
    uint64_t reaper_age_ms, reaper_margin_ms, reaper_scan_ms; /* 0: the reaper's defaults */
    uint64_t stop_deadline_ms;                                /* 10000 */
    mm_log_format log_format;
    mm_log_level log_level;
} mm_matchmaker_flags;

/**
 * Parses argv. Returns 0 (go on), 1 (--help was printed: exit 0) or 2 (a bad flag: one line on
 * stderr said which; never the key's text).
 */
int mm_matchmaker_flags_parse(int argc, char **argv, mm_matchmaker_flags *out);

/** Wipes the key. */
void mm_matchmaker_flags_dispose(mm_matchmaker_flags *flags);

#endif
