/*
 * What the provisioner's state machine (provisioner_request.c) stands on: the FIFO lines, the
 * cert-digest cache, the asynchronous KV puts and deletion enqueues, the backoff and status
 * arithmetic and the poll grid. The bottom layer of provisioner_internal.h: nothing here calls
 * into another provisioner file or changes a request's state (mm__prov_state); each helper
 * returns its result and the state machine decides. Actor thread only.
 *
 * Owns the cert cache's entries (in mm_provisioner.certs); receives nothing; sends only
 * JetStream async publishes (KV puts, deletion enqueues).
 *
 * Lines: a line is a FIFO of requests linked through their own places (mm__prov_req.places), so
 * waiting costs no memory and a request leaves a line in O(1) when it ends.
 * Cert cache: the cert_digests watcher's view, ip -> digest, a small array scanned linearly (one
 * entry per live game server).
 * KV puts and deletions are JetStream async publishes (MaxWait 5 s): the thread never waits on
 * NATS; a publish refused at once is logged.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "mm/clock.h"
#include "mm/log.h"
#include "provisioner_internal.h"

/* ---- the lines ---- */

void
mm__prov_line_push(mm__prov_req *r, enum mm__prov_line_kind k)
{
    mm__prov_line *line = &r->p->lines[k];
    mm__prov_place *place = &r->places[k];
    place->in = true;
    place->next = NULL;
    place->prev = line->tail;
    if (line->tail != NULL)
        line->tail->places[k].next = r;
    else
        line->head = r;
    line->tail = r;
}

void
mm__prov_line_remove(mm__prov_req *r, enum mm__prov_line_kind k)
{
    mm__prov_line *line = &r->p->lines[k];
    mm__prov_place *place = &r->places[k];
    if (!place->in)
        return;
    if (place->prev != NULL)
        place->prev->places[k].next = place->next;
    else
        line->head = place->next;
    if (place->next != NULL)
        place->next->places[k].prev = place->prev;
    else
        line->tail = place->prev;
    place->prev = place->next = NULL;
    place->in = false;
}

/* ---- the cert digest cache ---- */

const char *
mm__prov_cert_find(mm_provisioner *p, const char *ip)
{
    for (size_t i = 0; i < p->n_certs; i++)
        if (strcmp(p->certs[i].ip, ip) == 0)
            return p->certs[i].digest;
    return NULL;
}

const char *
mm__prov_cert_apply(mm_provisioner *p, const mm_kv_event *ev)
{
    if (ev->op == MM_KV_OP_INITIAL_DONE || strlen(ev->key) >= MM_IP_TEXT_LEN)
        return NULL;
    size_t i = 0;
    while (i < p->n_certs && strcmp(p->certs[i].ip, ev->key) != 0)
        i++;
    if (ev->op != MM_KV_OP_PUT) {
        if (i < p->n_certs)
            p->certs[i] = p->certs[--p->n_certs];
        return NULL;
    }
    if (ev->value_len == 0 || ev->value_len >= sizeof(p->certs[0].digest))
        return NULL;
    if (i == p->n_certs) {
        if (p->n_certs == p->cap_certs) {
            size_t cap = p->cap_certs ? p->cap_certs * 2 : 16;
            mm__prov_cert *n = realloc(p->certs, cap * sizeof(*n));
            if (n == NULL) {
                mm_error("provisioner: out of memory caching the cert digest of %s", ev->key);
                return NULL;
            }
            p->certs = n;
            p->cap_certs = cap;
        }
        p->n_certs++;
        snprintf(p->certs[i].ip, sizeof(p->certs[i].ip), "%s", ev->key);
    }
    memcpy(p->certs[i].digest, ev->value, ev->value_len);
    p->certs[i].digest[ev->value_len] = '\0';
    return p->certs[i].digest;
}

/* ---- NATS: KV puts, deletions ---- */

void
mm__prov_kv_put_async(mm_provisioner *p, mm_kv_bucket bucket, const char *key, const char *value)
{
    char subject[160];
    snprintf(subject, sizeof(subject), "$KV.%s.%s", mm_kv_bucket_spec_of(bucket)->name, key);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = mm_js_ack_wait_ms(5000); /* on a grid: src/net/js_ack_wait.c */
    natsStatus s = js_PublishAsync(mm_js_ctx(p->js), subject, value, (int)strlen(value), &po);
    if (s != NATS_OK)
        mm_error("provisioner: put %s[%s] failed: %s", mm_kv_bucket_spec_of(bucket)->name, key, natsStatus_GetText(s));
}

/*
 * An intent's put (value) or delete (NULL) in mm_create_intents, as a core publish to its KV
 * subject: the stream stores it as it would a JetStream publish, but nothing waits for an ack,
 * so an intent costs no ack, no nats.c timeout entry and no ack-thread wake-up (two per create).
 * A put lost on the way (NATS down) only means that create's session cannot be judged an orphan
 * (it may leak, as without intents); a delete lost leaves the intent until the bucket's max age,
 * and an orphan check then finds the session recorded and leaves it alone.
 */
static void
intent_publish(mm_provisioner *p, const char *intent, const char *value)
{
    char subject[160];
    snprintf(subject, sizeof(subject), "$KV.%s.%s", mm_kv_bucket_spec_of(MM_KV_CREATE_INTENTS)->name, intent);
    natsMsg *msg = NULL;
    natsStatus s = natsMsg_Create(&msg, subject, NULL, value, value != NULL ? (int)strlen(value) : 0);
    if (s == NATS_OK && value == NULL)
        s = natsMsgHeader_Set(msg, "KV-Operation", "DEL");
    if (s == NATS_OK)
        s = natsConnection_PublishMsg(p->nc, msg);
    natsMsg_Destroy(msg);
    if (s != NATS_OK)
        mm_debug("provisioner: %s of intent %s failed: %s", value != NULL ? "the put" : "the delete", intent, natsStatus_GetText(s));
}

const char *
mm__prov_intent_open(mm__prov_req *r, char *url, size_t url_len)
{
    mm_provisioner *p = r->p;
    if (p->intent_replica == NULL || p->webhook_url == NULL)
        return p->webhook_url;
    mm__prov_intent_settle(r); /* a create repeated: the earlier attempt's intent is done */
    snprintf(r->intent, sizeof(r->intent), "%s-%llu", p->intent_replica, (unsigned long long)++p->next_intent);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char value[96];
    snprintf(value, sizeof(value), "%s %lld", p->intent_replica, (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    /* handed to nats.c before the create is sent: a replica killed after the create has its intent */
    intent_publish(p, r->intent, value);
    snprintf(url, url_len, "%s?%s%s", p->webhook_url, MM_INTENT_QUERY, r->intent);
    return url;
}

void
mm__prov_intent_settle(mm__prov_req *r)
{
    if (r->intent[0] == '\0')
        return;
    intent_publish(r->p, r->intent, NULL);
    r->intent[0] = '\0';
}

void
mm__prov_enqueue_delete(mm_provisioner *p, const char *session_id)
{
    char why[200];
    if (mm_delete_queue_enqueue_async(mm_js_ctx(p->js), session_id, 5000, why, sizeof(why)) != MM_OK)
        mm_error("provisioner: could not enqueue the deletion of session %s: %s", session_id, why);
    else
        mm_debug("provisioner: session %s enqueued for deletion", session_id);
}

/* ---- arithmetic of the Edgegap calls ---- */

uint64_t
mm__prov_backoff_ms(const mm_provisioner *p, unsigned attempt, uint64_t floor_ms)
{
    uint64_t random = 0;
    randombytes_buf(&random, sizeof(random));
    uint64_t ms = mm_edgegap_backoff_ms(attempt, p->backoff_base_ms, p->backoff_max_ms, random);
    return ms < floor_ms ? floor_ms : ms;
}

uint16_t
mm__prov_status_of(const mm_edgegap_result *res)
{
    if (res->outcome == MM_EDGEGAP_HTTP_ERROR && res->status > 0 && res->status < 1000)
        return (uint16_t)res->status;
    if (res->outcome == MM_EDGEGAP_TRANSPORT && res->timed_out)
        return 504;
    return 500;
}

bool
mm__prov_create_repeatable(const mm_edgegap_result *res)
{
    if (res->outcome == MM_EDGEGAP_TRANSPORT)
        return res->not_sent;
    return res->outcome == MM_EDGEGAP_HTTP_ERROR && (res->status == 429 || res->status == 503);
}

uint64_t
mm__prov_grid_next(mm__prov_req *r, uint64_t not_before_ms)
{
    uint64_t origin = r->poll_origin_ms, interval = r->p->poll_interval_ms;
    uint64_t k = r->poll_tick + 1;
    if (not_before_ms > origin) {
        uint64_t first = (not_before_ms - origin + interval - 1) / interval;
        if (first > k)
            k = first;
    }
    r->poll_tick = k;
    uint64_t due = origin + k * interval, now = mm_now_ms();
    return due > now ? due - now : 0;
}

uint64_t
mm__prov_tick_delay(uint64_t now_ms, uint64_t delay_ms, uint64_t tick_ms)
{
    if (tick_ms <= 1)
        return delay_ms;
    uint64_t due = now_ms + delay_ms;
    uint64_t aligned = (due + tick_ms - 1) / tick_ms * tick_ms;
    return aligned - now_ms;
}

/* ---- the session-id index: a fixed array of chains, FNV-1a over the id ---- */

static size_t
index_bucket(const char *id)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *c = (const unsigned char *)id; *c; c++)
        h = (h ^ *c) * 16777619u;
    return h % MM__PROV_INDEX_BUCKETS;
}

void
mm__prov_index_add(mm__prov_req *r)
{
    if (r->indexed || r->p->index == NULL)
        return;
    size_t b = index_bucket(r->session_id);
    r->index_next = r->p->index[b];
    r->p->index[b] = r;
    r->indexed = true;
}

void
mm__prov_index_remove(mm__prov_req *r)
{
    if (!r->indexed)
        return;
    for (mm__prov_req **at = &r->p->index[index_bucket(r->session_id)]; *at != NULL; at = &(*at)->index_next) {
        if (*at == r) {
            *at = r->index_next;
            break;
        }
    }
    r->index_next = NULL;
    r->indexed = false;
}

mm__prov_req *
mm__prov_index_find(mm_provisioner *p, const char *session_id)
{
    if (p->index == NULL)
        return NULL;
    for (mm__prov_req *r = p->index[index_bucket(session_id)]; r != NULL; r = r->index_next)
        if (strcmp(r->session_id, session_id) == 0)
            return r;
    return NULL;
}

/* ---- webhooks that came before their session's create answer: a small ring, scanned ---- */

void
mm__prov_early_note(mm_provisioner *p, const char *session_id, uint64_t now_ms)
{
    if (p->early == NULL)
        return;
    struct mm__prov_early *e = &p->early[p->early_next];
    p->early_next = (p->early_next + 1) % MM__PROV_EARLY;
    snprintf(e->id, sizeof(e->id), "%s", session_id);
    e->at_ms = now_ms;
}

bool
mm__prov_early_take(mm_provisioner *p, const char *session_id, uint64_t now_ms)
{
    if (p->early == NULL)
        return false;
    for (size_t i = 0; i < MM__PROV_EARLY; i++) {
        struct mm__prov_early *e = &p->early[i];
        if (e->id[0] != '\0' && now_ms - e->at_ms <= MM__PROV_EARLY_MS && strcmp(e->id, session_id) == 0) {
            e->id[0] = '\0';
            return true;
        }
    }
    return false;
}
