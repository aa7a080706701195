/*
 * Chunked matchmaking requests (POST /matchmaker/request/<app>/<version>, docs/protocol.md) on one
 * libcurl multi handle, for the tests that keep many in flight while they kill a matchmaker
 * (test_replica_kill.c, test_orphans_e2e.c): start a call, drive every transfer for a while
 * (recording each one's body, status and end time), read the session of its
 * SessionRequestAccepted and its last line. Single-threaded: the test's main thread drives.
 */
#ifndef MM_TEST_CHUNKED_CALL_H
#define MM_TEST_CHUNKED_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

typedef struct chunked_call {
    CURL *e; /* NULL once finished */
    char body[32768];
    size_t len;
    uint64_t start_ms, end_ms; /* mm_now_ms() at cc_start and at the end */
    bool done;
    long status;
    char session[64]; /* set by cc_accepted */
} chunked_call;

/** Adds a POST to http://127.0.0.1:port/matchmaker/request/H_APP/H_VERSION to m, whole-transfer limit timeout_ms. */
void cc_start(CURLM *m, chunked_call *c, int port, long timeout_ms);

/** Drives m's transfers for up to ms, waiting at most poll_ms a round; marks each call that ends. */
void cc_drive(CURLM *m, int ms, int poll_ms);

/** The session id of a call's SessionRequestAccepted, once it came (kept in c->session). */
bool cc_accepted(chunked_call *c);

/** The last line of a call's body (its final message, once done), copied into buf. */
const char *cc_last(const chunked_call *c, char *buf, size_t len);

#endif
