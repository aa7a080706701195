/*
 * Intake (ARCHITECTURE.md, "Threads of the matchmaker"): the NATS subscriptions through which
 * session requests arrive. Stateless: its callbacks run on nats.c's delivery threads, validate
 * the request (include/mm/request.h), make its reply sink (include/mm/reply.h) and hand both to
 * the provisioner. Bad payload -> Error(400, reason) and the end; provisioner full or stopping
 * -> Error(503, ...) and the end; a request without a reply subject is logged and dropped.
 *
 *   matchmaker.request.<app>.<version>  queue group "matchmaker", streaming sink
 *   session.gensession                  queue group "session_queue", one-shot sink
 *   matchmaker.webhook                  no queue group (every replica hears each one; only the
 *                                       one polling that session acts), with `webhooks` only:
 *                                       payload exactly {"session_id":"<1..64 of [A-Za-z0-9_-]>"},
 *                                       handed to mm_provisioner_webhook; anything else is
 *                                       counted, logged at debug and dropped; no reply
 *
 * When app or version is not a valid name (e.g. the reference's default "v0.0.1", whose dots
 * split the subject), the subject is still subscribed as written and only the payload's
 * client_ip is read.
 *
 * Threads: start/stop/destroy from one owner thread. nc and the provisioner are borrowed and
 * must outlive the intake (stop the intake first).
 */
#ifndef MM_INTAKE_H
#define MM_INTAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nats/nats.h>

#include "mm/err.h"
#include "mm/orphans.h"
#include "mm/provisioner.h"
#include "mm/reply.h"

#define MM_INTAKE_QUEUE "matchmaker"
/* Edgegap's webhooks, carried from the web front's replicas (the NATS bridge) to every matchmaker. */
#define MM_WEBHOOK_SUBJECT "matchmaker.webhook"

typedef struct mm_intake_config {
    natsConnection *nc;
    mm_provisioner *provisioner;
    const char *app;     /* required */
    const char *version; /* required */
    bool webhooks;       /* subscribe MM_WEBHOOK_SUBJECT too */
    /* borrowed, may be NULL: a request whose header Mm-Heartbeat-Ms asks for heartbeats has its
     * sink attached to it (include/mm/reply.h); a malformed header is answered Error(400, ...) */
    mm_reply_heartbeat *heartbeat;
    /* borrowed, may be NULL: a webhook message with the header MM_INTENT_HEADER is also offered
     * to it (another replica's create that may be an orphan, include/mm/orphans.h) */
    struct mm_orphans *orphans;
} mm_intake_config;

typedef struct mm_intake mm_intake;

/** Webhook messages heard on MM_WEBHOOK_SUBJECT: handed to the provisioner, and dropped as bad. */
typedef struct mm_intake_stats {
    uint64_t webhooks;     /* handed to the provisioner (MM_OK) */
    uint64_t webhooks_bad; /* not the payload above: dropped */
} mm_intake_stats;

void mm_intake_get_stats(mm_intake *intake, mm_intake_stats *out);

/** Subscribes both subjects. MM_ERR_INVALID, MM_ERR_NOMEM, MM_ERR_IO (why says which). */
mm_err mm_intake_start(const mm_intake_config *config, mm_intake **out, char *why, size_t why_len);

/**
 * Unsubscribes (draining: messages already delivered are still handed over) and waits up to
 * timeout_ms for the callbacks in progress. Idempotent.
 */
void mm_intake_stop(mm_intake *intake, int64_t timeout_ms);

/** Stops if needed and frees. Accepts NULL. */
void mm_intake_destroy(mm_intake *intake);

#endif
