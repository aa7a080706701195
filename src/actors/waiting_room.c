/*
 * The waiting room, on the provisioner thread (include/mm/waiting_room.h; ARCHITECTURE.md
 * "Edgegap budget and waiting room"). Only with a fleet budget (include/mm/budget.h): without
 * one nothing here runs and a new request creates its session at once, as before.
 *
 * The gate: the provisioner's Edgegap client asks gate_take() before it starts any request, so
 * every create is paid with a token of this replica's create share, and every session GET with
 * one of its get share when --edgegap-get-budget is set (else GETs are not gated; the app and
 * version GETs at start never are); every answer passes gate_answered(), where a 429 tells the
 * fleet to back off that class only. The classes have their own token buckets, so a long line of
 * creates never delays the polls of sessions already made, nor polls the creates.
 *
 * The line: a new request (CREATING, acknowledged) joins the FIFO lines[MM__PROV_WAIT_LINE]
 * unless the line is empty and its create can start now. After every perform (op_idle) the head
 * is sent on while mm_edgegap_would_start() says a create would start at once (a free slot and
 * a token), so what leaves the line goes straight to Edgegap: the order within a replica is
 * strictly first come, first served; between replicas each gets its share of the budget. A line
 * of max players is full: the next is refused with Error 503 and advice to retry.
 *
 * Every MM_WAITING_ROOM_REPORT_MS the report timer walks the line once: a player whose client is
 * known gone (mm_reply_gone: the all-in-one web front's relay sink, or a NATS sink whose front
 * sent a cancel, include/mm/reply.h "Cancel") leaves without costing a call; every other hears ProgressReport "Waiting in line: position P of N, about S s", S =
 * P / the admission rate (admissions per second measured over each report period, smoothed;
 * before any was measured, this replica's share). A player also leaves the line when it waited
 * max_wait_ms (--max-line-wait-ms: Error 503 "waited too long in line, try again"; its deadline
 * timer, provisioner_request.c, which arms the session timeout only when it leaves the line) or
 * the provisioner stops (503).
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/bits.h"
#include "mm/clock.h"
#include "mm/feedback.h"
#include "mm/log.h"
#include "mm/metrics.h"
#include "mm/waiting_room.h"
#include "provisioner_internal.h"

#define ETA_MAX_S 86400.0
#define RATE_FLOOR 0.05 /* per second: below this the measured rate says nothing */

/* ---- the Edgegap gate ---- */

/* The budget class of an Edgegap call: false for calls no budget gates (the app and version GETs). */
static bool
budget_class_of(mm_edgegap_op op, mm_budget_class *out)
{
    switch (op) {
    case MM_EDGEGAP_SESSION_CREATE:
        *out = MM_BUDGET_CREATE;
        return true;
    case MM_EDGEGAP_SESSION_GET:
        *out = MM_BUDGET_GET;
        return true;
    case MM_EDGEGAP_SESSION_DELETE:
        *out = MM_BUDGET_DELETE;
        return true;
    default:
        return false;
    }
}

static bool
gate_take(void *ctx, mm_edgegap_op op, bool peek)
{
    mm_provisioner *p = ctx;
    mm_budget_class c;
    return !budget_class_of(op, &c) || mm_budget_take(p->budget, &p->bucket, c, peek);
}

static uint64_t
gate_wait_ms(void *ctx, mm_edgegap_op op)
{
    mm_provisioner *p = ctx;
    mm_budget_class c;
    return budget_class_of(op, &c) ? mm_budget_wait_ms(p->budget, &p->bucket, c) : 1;
}

static void
gate_answered(void *ctx, mm_edgegap_op op, long status)
{
    mm_provisioner *p = ctx;
    mm_budget_class c;
    if (status == 429 && budget_class_of(op, &c))
        mm_budget_note_429(p->budget, c);
}

/* ---- the line ---- */

/* The admission rate to promise with: measured, else this replica's share. */
static double
room_rate(mm_provisioner *p)
{
    double rate = p->room.rate;
    if (rate < RATE_FLOOR) {
        mm_budget_stats bs;
        mm_budget_get_stats(p->budget, &bs);
        rate = bs.share_rps > 0 ? bs.share_rps : bs.budget_rps * bs.multiplier / (bs.replicas ? bs.replicas : 1);
    }
    return rate < RATE_FLOOR ? RATE_FLOOR : rate;
}

static uint64_t
eta_s(mm_provisioner *p, uint32_t position)
{
    double s = ceil((double)position / room_rate(p));
    return (uint64_t)(s > ETA_MAX_S ? ETA_MAX_S : s);
}

/* The line's length and the wait a newcomer would be told, for the stats and /metrics. */
static void
room_publish(mm_provisioner *p)
{
    uint64_t eta = eta_s(p, p->room.n);
    atomic_store(&p->room.length, p->room.n);
    atomic_store(&p->room.rate_bits, mm_double_bits(p->room.rate));
    atomic_store(&p->room.eta_bits, mm_double_bits((double)eta));
    mm_metric_set(MM_METRIC_WR_LENGTH, p->room.n);
    mm_metric_set(MM_METRIC_WR_ESTIMATED_WAIT, (int64_t)eta);
}

static void
room_report_one(mm__prov_req *r, uint32_t position, uint32_t n)
{
    char status[96], *text = NULL;
    size_t len = 0;
    snprintf(status, sizeof(status), "Waiting in line: position %u of %u, about %llu s", position, n,
             (unsigned long long)eta_s(r->p, position));
    if (mm_feedback_progress(status, (int64_t)((mm_now_ms() - r->start_ms) / 1000), &text, &len) == MM_OK)
        mm_reply_send(r->sink, text, len);
    free(text);
}

/* Takes r out of the line (the caller decides what happens to it next). */
static void
room_remove(mm__prov_req *r)
{
    mm__prov_line_remove(r, MM__PROV_WAIT_LINE);
    r->p->room.n--;
}

/* r's client is gone: it leaves without an Edgegap call (r is freed). */
static void
room_leave(mm__prov_req *r)
{
    mm_provisioner *p = r->p;
    room_remove(r);
    atomic_fetch_add(&p->room.left, 1);
    mm_metric_inc(MM_METRIC_WR_LEFT);
    mm_debug("provisioner: request %llu: its client left the line", (unsigned long long)r->rid);
    mm__prov_req_gone(r);
}

static void on_report(mm_timer *t);

static void
room_arm(mm_provisioner *p)
{
    if (p->room.report_armed || p->stopping)
        return;
    if (mm_timer_start(p->self, &p->room.report, MM_WAITING_ROOM_REPORT_MS, on_report) == MM_OK)
        p->room.report_armed = true;
}

static void
on_report(mm_timer *t)
{
    mm_provisioner *p = (mm_provisioner *)(void *)((char *)t - offsetof(mm_provisioner, room.report));
    p->room.report_armed = false;
    uint64_t now = mm_now_ms();
    if (now > p->room.window_ms) {
        double inst = (double)p->room.window_admitted * 1000.0 / (double)(now - p->room.window_ms);
        p->room.rate = p->room.rate <= 0 ? inst : 0.5 * p->room.rate + 0.5 * inst;
    }
    p->room.window_ms = now;
    p->room.window_admitted = 0;
    uint32_t position = 0;
    for (mm__prov_req *r = p->lines[MM__PROV_WAIT_LINE].head, *next; r != NULL; r = next) {
        next = r->places[MM__PROV_WAIT_LINE].next;
        if (mm_reply_gone(r->sink)) {
            room_leave(r);
            continue;
        }
        room_report_one(r, ++position, p->room.n);
    }
    room_publish(p);
    if (p->room.n > 0)
        room_arm(p);
}

void
mm__prov_room_init(mm_provisioner *p, uint32_t max, uint64_t max_wait_ms)
{
    p->room.max = max ? max : MM_WAITING_ROOM_DEFAULT_MAX;
    p->room.max_wait_ms = max_wait_ms ? max_wait_ms : MM_WAITING_ROOM_DEFAULT_MAX_WAIT_MS;
    p->room.window_ms = mm_now_ms();
    mm_edgegap_gate g = {.take = gate_take, .wait_ms = gate_wait_ms, .answered = gate_answered, .ctx = p};
    mm_edgegap_set_gate(p->eg, &g);
}

void
mm__prov_room_admit(mm_provisioner *p)
{
    mm__prov_req *r;
    if (p->lines[MM__PROV_WAIT_LINE].head == NULL)
        return; /* every idle tick comes here: nothing to do, nothing changed */
    while ((r = p->lines[MM__PROV_WAIT_LINE].head) != NULL && !p->stopping) {
        if (mm_reply_gone(r->sink)) {
            room_leave(r);
            continue;
        }
        if (!mm_edgegap_would_start(p->eg, MM_EDGEGAP_URGENT, MM_EDGEGAP_SESSION_CREATE))
            break;
        room_remove(r);
        atomic_fetch_add(&p->room.admitted, 1);
        mm_metric_inc(MM_METRIC_WR_ADMITTED);
        p->room.window_admitted++;
        mm__prov_req_admit(r); /* may fail r (freed) */
    }
    room_publish(p);
}

void
mm__prov_room_join(mm__prov_req *r)
{
    mm_provisioner *p = r->p;
    if (p->room.n == 0 && mm_edgegap_would_start(p->eg, MM_EDGEGAP_URGENT, MM_EDGEGAP_SESSION_CREATE)) {
        atomic_fetch_add(&p->room.admitted, 1); /* nobody waits and a token is there: no line */
        mm_metric_inc(MM_METRIC_WR_ADMITTED);
        p->room.window_admitted++;
        mm__prov_req_admit(r);
        return;
    }
    if (p->room.n >= p->room.max) {
        atomic_fetch_add(&p->room.refused, 1);
        mm_metric_inc(MM_METRIC_WR_REFUSED);
        char msg[160];
        snprintf(msg, sizeof(msg), "the matchmaker is busy: %u players are waiting in line; try again in a minute", p->room.n);
        mm__prov_req_refuse(r, msg);
        return;
    }
    if (p->room.n == 0) { /* a new period of waiting: measure from now */
        p->room.window_ms = mm_now_ms();
        p->room.window_admitted = 0;
    }
    mm__prov_line_push(r, MM__PROV_WAIT_LINE);
    p->room.n++;
    room_report_one(r, p->room.n, p->room.n);
    room_publish(p);
    room_arm(p);
}

void
mm__prov_room_drop(mm__prov_req *r)
{
    if (!r->places[MM__PROV_WAIT_LINE].in)
        return;
    room_remove(r);
    if (!r->p->stopping)
        room_publish(r->p);
}

int
mm__prov_room_wait_ms(mm_provisioner *p, int timeout_ms)
{
    if (p->room.n == 0)
        return timeout_ms;
    uint64_t w = mm_budget_wait_ms(p->budget, &p->bucket, MM_BUDGET_CREATE);
    if (w <= 1)
        return timeout_ms; /* a token is there: the line waits for a slot, and an answer wakes the actor */
    return timeout_ms < 0 || w < (uint64_t)timeout_ms ? (int)w : timeout_ms;
}

void
mm_provisioner_waiting_room_stats(mm_provisioner *p, mm_waiting_room_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (p == NULL || p->budget == NULL)
        return;
    out->length = atomic_load(&p->room.length);
    out->admitted = atomic_load(&p->room.admitted);
    out->refused = atomic_load(&p->room.refused);
    out->left = atomic_load(&p->room.left);
    out->expired = atomic_load(&p->room.expired);
    out->admitted_per_s = mm_bits_double(atomic_load(&p->room.rate_bits));
    out->estimated_wait_s = mm_bits_double(atomic_load(&p->room.eta_bits));
}
