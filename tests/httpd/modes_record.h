/*
 * Transcripts for the "both modes" end-to-end test (test_modes_e2e.c): what one scenario got
 * from the web front, as text lines, with the values that legitimately differ from run to run
 * replaced by placeholders, so that two modes (or a mode and an expectation) compare with
 * strcmp:
 *
 *   SessionRequestAccepted's id      -> "<session>"
 *   each ProgressReport's text       -> "<status (elapsed)>", and a run of them -> one line
 *   token / connect_token            -> "<token>"  (checked first: opens for that ip:port)
 *   ip / gameserver_ip               -> "<ip>"
 *   port / gameserver_port           -> <port>
 *   cert_digest                      -> "<cert digest>"
 *
 * Everything else is kept byte for byte: ERR texts, Error messages, close codes and reasons,
 * HTTP statuses, chosen headers and bodies. Uses the tests' client (tests/support/ws_client.h),
 * which can also send what no browser would.
 */
#ifndef MM_MODES_RECORD_H
#define MM_MODES_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ws_client.h"

#define MR_WAIT_MS 20000 /* how long a player waits for the next message */

/** A growing transcript; zero-initialised is empty. */
typedef struct mr_rec {
    char *buf;
    size_t len, cap;
    bool last_progress; /* the last line was a ProgressReport (the next one is folded into it) */
} mr_rec;

/** What the messages of one request said, beyond the transcript (for checks against the simulator). */
typedef struct mr_seen {
    char session_id[64]; /* from SessionRequestAccepted, "" before it */
    bool ready;          /* a SessionReady (or a wannaplay answer) came, its token checked */
    int progress;        /* ProgressReport messages seen */
    int error_status;    /* of an Error message, 0 when none */
} mr_seen;

/** Appends one line (printf format; a newline is added). */
void mr_line(mr_rec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** The transcript so far ("" when empty); valid until the next append. */
const char *mr_text(const mr_rec *r);

void mr_free(mr_rec *r);

/** Returns a malloc'd copy of text with the run-to-run values replaced (see above). */
char *mr_normalise(const char *text);

/**
 * Records one message of the matchmaker's stream under label ("ws", "chunk", ...), normalised;
 * decodes it as feedback into *seen (may be NULL) and checks a SessionReady's token.
 */
void mr_message(mr_rec *r, const char *label, const char *text, size_t len, mr_seen *seen);

/**
 * Opens a WebSocket to /matchmaker/ws with extra header lines (complete "Name: value\r\n"
 * lines, may be NULL). On failure records the HTTP status and returns false.
 */
bool mr_ws_open(mm_ws_client *c, uint16_t port, const char *headers, mr_rec *r);

/**
 * Records every message until the server's close frame (answered with ours), the end of the
 * connection or MR_WAIT_MS of silence: texts through mr_message, "ws binary <n> bytes",
 * "ws close <code> <reason>", "ws eof" or "ws timeout". Closes the socket. Returns the number of
 * text messages.
 */
int mr_ws_collect(mm_ws_client *c, mr_rec *r, mr_seen *seen);

/** Reads one message and records it as mr_ws_collect would; false when it was not a text. */
bool mr_ws_next(mm_ws_client *c, mr_rec *r, mr_seen *seen);

typedef enum mr_body {
    MR_BODY_TEXT,   /* recorded as it is (non-printable bytes escaped) */
    MR_BODY_STREAM, /* on 200, chunked feedback: one message per chunk, each ended by "\n" (checked); else text */
    MR_BODY_ANSWER, /* wannaplay's one JSON answer on 200 (normalised, token checked), else text */
    MR_BODY_LENGTH, /* only whether it is the test page (a "Play" button and the WebSocket route) */
    MR_BODY_SKIP,   /* not recorded (differs between modes by design, e.g. /metrics) */
} mr_body;

/**
 * Sends request (complete raw bytes) on a new connection to 127.0.0.1:port and records
 * "<label> -> <status>", the headers that must match between modes (content-type,
 * transfer-encoding, access-control-*, vary, server), and the body as `how` says. Returns the
 * status (-1: no answer).
 */
int mr_http(uint16_t port, const char *label, const char *request, mr_body how, mr_rec *r, mr_seen *seen);

/** GET path (Connection: close) as mr_http, with extra header lines (may be NULL). */
int mr_get(uint16_t port, const char *path, const char *headers, mr_body how, mr_rec *r);

/** POST path with an empty body (Connection: close) as mr_http, with extra header lines (may be NULL). */
int mr_post(uint16_t port, const char *path, const char *headers, mr_body how, mr_rec *r, mr_seen *seen);

#endif
