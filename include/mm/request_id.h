/*
 * Request ids across services (docs/protocol.md, "Request ids"): the web front numbers each
 * session request; the NATS bridge carries that number in the header MM_REQUEST_ID_HEADER of
 * the request it publishes; the intake reads it and the provisioner logs the request under the
 * same number ("request N" in both services' lines), so one grep follows a player. A request
 * without the header (the reference's Rust front) gets a number of the matchmaker's own.
 *
 * Numbers are decimal, 1..2^53 (exact in JSON tools). Each process starts its counter at a
 * random point (mm_request_id_seed), so two replicas' numbers practically never meet; they are
 * for logs only: nothing is looked up by them and a forged header changes only a log line.
 */
#ifndef MM_REQUEST_ID_H
#define MM_REQUEST_ID_H

#include <stdint.h>

#include <nats/nats.h>

#define MM_REQUEST_ID_HEADER "Mm-Request-Id"
#define MM_REQUEST_ID_MAX (1ull << 53)

/** A random starting point for a process's request counter: 2^40 .. 2^40 + 2^48 (any thread). */
uint64_t mm_request_id_seed(void);

/**
 * natsConnection_PublishRequest with the header MM_REQUEST_ID_HEADER: id (0: no header). Does
 * not block beyond what a publish does (buffered). The nats.c status.
 */
natsStatus mm_request_id_publish(natsConnection *nc, const char *subject, const char *reply, const char *data, int len,
                                 uint64_t id);

/** The id a message carries in MM_REQUEST_ID_HEADER; 0 when it has none or it is not 1..MM_REQUEST_ID_MAX. */
uint64_t mm_request_id_of(natsMsg *msg);

#endif
