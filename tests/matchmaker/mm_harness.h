/*
 * Test harness for bevygap_matchmaker end-to-end tests: starts a real nats-server, edgegap_sim,
 * optionally gameserver_sim, and the matchmaker as children; sends requests over NATS and
 * collects the replies until the empty end message.
 */
#ifndef MM_HARNESS_H
#define MM_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <nats/nats.h>

#include "mm_test.h"

#define H_API_KEY "token test-key"
#define H_APP "game"
#define H_VERSION "v1"
#define H_MAX_REPLIES 64

typedef struct harness {
    struct mm_test_nats nats;
    int sim_port;
    char sim_url[64];
    pid_t sim, gs, mm;
    char mm_log[512];
    natsConnection *nc;
} harness;

/** Starts nats-server and sets NATS_HOST, NATS_INSECURE, EDGEGAP_API_KEY. */
void h_start_nats(harness *h);
/** Starts edgegap_sim (app H_APP/H_VERSION) with extra arguments (NULL-terminated, may be NULL). */
void h_start_sim(harness *h, const char *deploy_delay_ms, const char *const *extra);
/** Starts gameserver_sim polling the sim (all-zero key, protocol 1982). */
void h_start_gameserver(harness *h);
/**
 * Starts the matchmaker (after h_start_nats and h_start_sim) with the extra arguments and waits
 * for its "matchmaker ready" line. Its log goes to a file in the NATS store dir (removed by h_stop).
 */
void h_start_matchmaker(harness *h, const char *const *extra);
/** Connects the test's own NATS client. */
void h_connect(harness *h);
/** Stops everything started (matchmaker first, checking it exits 0). */
void h_stop(harness *h);

/**
 * Publishes payload on subject with a reply inbox; collects replies (each malloc'd text) until
 * the empty message, max replies (one-shot requests: 1) or timeout_ms. Returns the number of non-empty replies; *ended tells
 * whether the empty end arrived.
 */
int h_request(harness *h, const char *subject, const char *payload, char **replies, int max, bool *ended, int timeout_ms);
void h_free_replies(char **replies, int n);

/** GET url into buf (NUL-terminated); returns the HTTP status or -1. */
long h_http_get(const char *url, char *buf, size_t len);
/** True when the file at path contains needle. */
bool h_file_contains(const char *path, const char *needle);

#endif
