/*
 * Session requests: validation of what clients and fronts send, and the builders for what the
 * front sends on (docs/protocol.md sections 2 and 3; docs/protocol.md).
 *
 *   WebSocket first message   {"game":"...","version":"...","client_ip":"..."}   (client_ip optional)
 *   NATS request              subject matchmaker.request.<game>.<version>
 *                             payload {"client_ip":"...","game":"...","version":"..."}
 *   NATS gensession request   subject session.gensession, payload {"client_ip":"..."}
 *
 * Rules: game and version are 1..30 bytes of [A-Za-z0-9_-] (the reference also allows
 * whitespace, which cannot appear in a NATS subject: refused); client_ip is an IPv4 or IPv6
 * address (inet_pton; no zone, no port, no brackets) and is returned in canonical form
 * (inet_ntop). Inputs are at most MM_REQUEST_MAX_BYTES; fields other than these are ignored, as
 * serde does by default; duplicate keys are refused. A refusal returns MM_ERR_INVALID and a
 * one-line reason in why, fit for `ERR <reason>` or Error(400, <reason>); reasons never quote the
 * client's text. Pure functions, safe on any thread.
 */
#ifndef MM_REQUEST_H
#define MM_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "mm/err.h"

#define MM_REQUEST_MAX_BYTES 4096 /* largest request text or payload accepted */
#define MM_NAME_MAX_LEN 30        /* game and version: 1..30 bytes */
#define MM_IP_TEXT_LEN 46         /* INET6_ADDRSTRLEN: canonical IPv4/IPv6 text plus NUL */
#define MM_FAKE_IP_DEFAULT "81.128.157.100"
#define MM_REQUEST_SUBJECT_PREFIX "matchmaker.request."
#define MM_REQUEST_SUBJECT_LEN (sizeof(MM_REQUEST_SUBJECT_PREFIX) + 2 * MM_NAME_MAX_LEN + 1) /* with NUL */
#define MM_GENSESSION_SUBJECT "session.gensession"
#define MM_GENSESSION_QUEUE "session_queue"

/** A validated request. */
typedef struct mm_session_request {
    char game[MM_NAME_MAX_LEN + 1];
    char version[MM_NAME_MAX_LEN + 1];
    bool has_client_ip;             /* always true for NATS requests */
    char client_ip[MM_IP_TEXT_LEN]; /* canonical text; "" when !has_client_ip */
} mm_session_request;

/**
 * The WebSocket first message: a JSON object with string fields game and version and an optional
 * client_ip (a string; null and "" count as absent, as the reference treats an empty client_ip
 * query parameter). Reasons for a bad name are the reference's own
 * ("Game name invalid", "Game version too long (max 30 chars)", ...).
 */
mm_err mm_request_parse_ws(const char *text, size_t len, mm_session_request *out, char *why, size_t why_len);

/**
 * A NATS request as the matchmaker receives it. The subject must be
 * matchmaker.request.<game>.<version> with valid names: it is authoritative, and out->game and
 * out->version come from it. The payload must be a JSON object with a string client_ip. Its game
 * and version fields are optional (the reference ignores them); when present they must be strings
 * equal to the subject's, else the request is refused (a front that sends one game's request on
 * another's subject has a bug, and serving it would start the wrong game).
 */
mm_err mm_request_parse_nats(const char *subject, const char *payload, size_t len, mm_session_request *out, char *why,
                             size_t why_len);

/** The gensession payload {"client_ip":"..."}: writes the canonical address into client_ip. */
mm_err mm_request_parse_gensession(const char *payload, size_t len, char client_ip[MM_IP_TEXT_LEN], char *why, size_t why_len);

/** True when name is 1..30 bytes of [A-Za-z0-9_-]. */
bool mm_request_name_valid(const char *name);

/** Writes "matchmaker.request.<game>.<version>" into buf (at least MM_REQUEST_SUBJECT_LEN bytes). */
mm_err mm_request_subject(const char *game, const char *version, char *buf, size_t len, char *why, size_t why_len);

/**
 * Builds the NATS request payload {"client_ip":..,"game":..,"version":..} with jansson, after
 * checking each value. On MM_OK *out is a new text (free()) of *out_len bytes (out_len may be NULL).
 */
mm_err mm_request_payload(const char *client_ip, const char *game, const char *version, char **out, size_t *out_len, char *why,
                          size_t why_len);

/** Builds the gensession payload {"client_ip":..}; same contract as mm_request_payload(). */
mm_err mm_request_gensession_payload(const char *client_ip, char **out, size_t *out_len, char *why, size_t why_len);

/** Parses an IPv4 or IPv6 address and writes its canonical text into out. */
mm_err mm_client_ip_parse(const char *text, char out[MM_IP_TEXT_LEN], char *why, size_t why_len);

/**
 * True for a loopback address: 127.0.0.0/8, ::1, and IPv4-mapped ::ffff:127.0.0.0/104. The
 * reference compares the text with "127.0.0.1" and "::1" only; every loopback address is as
 * useless to Edgegap's placement, so we replace them all. False for text that is not an address.
 */
bool mm_client_ip_is_loopback(const char *text);

/**
 * The address to send to Edgegap: text parsed and canonicalised, or fake_ip (NULL means
 * MM_FAKE_IP_DEFAULT; it must itself be a valid, non-loopback address) when text is loopback.
 * *replaced (may be NULL) tells which.
 */
mm_err mm_client_ip_resolve(const char *text, const char *fake_ip, char out[MM_IP_TEXT_LEN], bool *replaced, char *why,
                            size_t why_len);

#endif
