/*
 * bevygap_matchmaker end to end: heartbeats on reply streams (docs/protocol.md section 3,
 * "Heartbeats"), with real nats-server, edgegap_sim, gameserver_sim. The matchmaker polls every
 * 1.5 s, so a request has silences far longer than the 300 ms heartbeat interval asked.
 *   (a) a graceful stop with a request in flight (a session that never becomes ready): its
 *       heartbeats go on through the drain, then it gets Error(503) and the end; the
 *       matchmaker's last line is "stopped: drained 0 requests (0 ready, 0 failed), 1 answered
 *       503 at the deadline, exit 0";
 *   (b) a request without Mm-Heartbeat-Ms (the reference front): not one heartbeat, the
 *       reference's messages only, each non-empty until the empty end;
 *   (c) with Mm-Heartbeat-Ms: 300: a heartbeat first (before Acknowledged), several during the
 *       silences, the same feedback texts as (b), nothing after the end;
 *   (d) a malformed Mm-Heartbeat-Ms: Error(400) naming the header, then the end;
 *   (e) session.gensession with Mm-Heartbeat-Ms: heartbeats, then the one answer;
 *   (f) with Mm-Liveness-Ms: 300 as well (our web front's request, "Liveness" in
 *       include/mm/reply.h): ONE heartbeat on the reply stream, first, naming the process in
 *       Mm-Replica, none during the silences, while mm.alive.<that nuid> carries several
 *       messages; the same feedback texts, nothing after the end;
 *   (g) a malformed Mm-Liveness-Ms: Error(400) naming that header.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/clock.h"
#include "mm/reply.h"
#include "mm/request.h"
#include "mm_harness.h"

#define MAX_MSGS 256

typedef struct exchange {
    int n, heartbeats, texts;
    bool ended, after_end;
    char first_kind;     /* 'h' heartbeat, 't' text, 'e' end */
    char text[16][4096]; /* the non-empty texts, in order (first 16) */
} exchange;

/* Sends a request (header value NULL: none) and reads until the end (or the one answer), at most timeout_ms. */
/* (f): the Mm-Liveness-Ms value the next exchanges send (NULL: none), and what the first heartbeat named */
static const char *liveness_ask;
static char first_replica[64];

static void
exchange_run(harness *h, const char *subject, const char *payload, const char *ask, bool one_shot, int timeout_ms, exchange *x)
{
    memset(x, 0, sizeof(*x));
    natsInbox *inbox = NULL;
    natsSubscription *sub = NULL;
    natsMsg *req = NULL;
    MM_REQUIRE(natsInbox_Create(&inbox) == NATS_OK);
    MM_REQUIRE(natsConnection_SubscribeSync(&sub, h->nc, inbox) == NATS_OK);
    MM_REQUIRE(natsMsg_Create(&req, subject, inbox, payload, (int)strlen(payload)) == NATS_OK);
    if (ask != NULL)
        MM_REQUIRE(natsMsgHeader_Set(req, MM_REPLY_HEARTBEAT_ASK_HEADER, ask) == NATS_OK);
    if (liveness_ask != NULL)
        MM_REQUIRE(natsMsgHeader_Set(req, MM_REPLY_LIVENESS_ASK_HEADER, liveness_ask) == NATS_OK);
    first_replica[0] = '\0';
    MM_REQUIRE(natsConnection_PublishMsg(h->nc, req) == NATS_OK);
    natsMsg_Destroy(req);
    uint64_t until = mm_now_ms() + (uint64_t)timeout_ms;
    while (mm_now_ms() < until && x->n < MAX_MSGS) {
        natsMsg *m = NULL;
        int64_t wait = x->ended ? 400 : (int64_t)(until - mm_now_ms()) + 1; /* after the end: is anything more coming? */
        if (natsSubscription_NextMsg(&m, sub, wait) != NATS_OK)
            break;
        x->n++;
        char kind = mm_reply_is_heartbeat(m) ? 'h' : natsMsg_GetDataLength(m) == 0 ? 'e' : 't';
        if (x->first_kind == 0)
            x->first_kind = kind;
        if (x->ended)
            x->after_end = true;
        if (kind == 'h') {
            const char *replica = NULL;
            if (x->heartbeats++ == 0 && natsMsgHeader_Get(m, MM_REPLY_REPLICA_HEADER, &replica) == NATS_OK)
                snprintf(first_replica, sizeof(first_replica), "%s", replica);
        } else if (kind == 't') {
            if (x->texts < 16)
                snprintf(x->text[x->texts], sizeof(x->text[0]), "%.*s", natsMsg_GetDataLength(m), natsMsg_GetData(m));
            x->texts++;
            if (one_shot)
                x->ended = true;
        } else {
            x->ended = true; /* the empty end, or a service error's empty message */
        }
        natsMsg_Destroy(m);
    }
    natsSubscription_Destroy(sub);
    natsInbox_Destroy(inbox);
}

static const char *const subject = "matchmaker.request." H_APP "." H_VERSION;
static const char *const payload = "{\"client_ip\":\"81.2.3.4\"}";
static const char *const mm_args[] = {"--poll-delay-ms", "1500", "--poll-interval-ms", "1500", "--stop-deadline-ms", "1500", NULL};

static void
test_graceful_stop(harness *h)
{
    /* the sim's first create never becomes ready (--fault below) */
    h_start_matchmaker(h, mm_args);
    natsInbox *inbox = NULL;
    natsSubscription *sub = NULL;
    natsMsg *req = NULL;
    MM_REQUIRE(natsInbox_Create(&inbox) == NATS_OK);
    MM_REQUIRE(natsConnection_SubscribeSync(&sub, h->nc, inbox) == NATS_OK);
    MM_REQUIRE(natsMsg_Create(&req, subject, inbox, payload, (int)strlen(payload)) == NATS_OK);
    MM_REQUIRE(natsMsgHeader_Set(req, MM_REPLY_HEARTBEAT_ASK_HEADER, "300") == NATS_OK);
    MM_REQUIRE(natsConnection_PublishMsg(h->nc, req) == NATS_OK);
    natsMsg_Destroy(req);
    int heartbeats = 0, after_signal = 0;
    bool accepted = false, signalled = false, got_503 = false, ended = false;
    uint64_t until = mm_now_ms() + 20000;
    while (!ended && mm_now_ms() < until) {
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, sub, 500) != NATS_OK)
            continue;
        if (mm_reply_is_heartbeat(m)) {
            heartbeats++;
            after_signal += signalled;
        } else if (natsMsg_GetDataLength(m) == 0) {
            ended = true;
        } else {
            accepted = accepted || strstr(natsMsg_GetData(m), "SessionRequestAccepted") != NULL;
            got_503 = got_503 || strncmp(natsMsg_GetData(m), "{\"Error\":[503,", 14) == 0;
        }
        natsMsg_Destroy(m);
        if (accepted && !signalled && heartbeats >= 3) {
            MM_REQUIRE(kill(h->mm, SIGTERM) == 0); /* drained for up to --stop-deadline-ms */
            signalled = true;
        }
    }
    natsSubscription_Destroy(sub);
    natsInbox_Destroy(inbox);
    MM_CHECK(signalled);
    MM_CHECK(ended);
    MM_CHECK(got_503);
    MM_CHECK_INT(after_signal, >=, 2); /* the matchmaker still held it: heartbeats through the drain */
    MM_CHECK_INT(mm_test_stop(h->mm, 20000), ==, 0);
    h->mm = 0;
    MM_CHECK(h_file_contains(h->mm_log, "stopped: drained 0 requests (0 ready, 0 failed), 1 answered 503 at the deadline, exit 0"));
}

int
main(void)
{
    harness h = {0};
    exchange x;
    h_start_nats(&h);
    const char *sim_args[] = {"--fault", "session_create:never_ready_next=1", NULL};
    h_start_sim(&h, "2000", sim_args);
    h_start_gameserver(&h);
    h_connect(&h);

    test_graceful_stop(&h);
    h_start_matchmaker(&h, mm_args);

    /* (b) the reference front asks for nothing: its byte stream */
    exchange_run(&h, subject, payload, NULL, false, 20000, &x);
    MM_CHECK(x.ended);
    MM_CHECK_INT(x.heartbeats, ==, 0);
    MM_CHECK(x.first_kind == 't');
    MM_CHECK(!x.after_end);
    MM_CHECK_STR(x.text[0], "\"Acknowledged\"");
    MM_CHECK(x.texts >= 4 && strncmp(x.text[x.texts - 1 < 16 ? x.texts - 1 : 15], "{\"SessionReady\":", 16) == 0);
    int plain_texts = x.texts;

    /* (c) ours asks for 300 ms */
    exchange_run(&h, subject, payload, "300", false, 20000, &x);
    MM_CHECK(x.ended);
    MM_CHECK(x.first_kind == 'h');
    MM_CHECK_INT(x.heartbeats, >=, 3); /* silences of 1.5 s between polls */
    MM_CHECK(!x.after_end);
    MM_CHECK_STR(x.text[0], "\"Acknowledged\"");
    MM_CHECK(x.texts >= 4 && strncmp(x.text[x.texts - 1 < 16 ? x.texts - 1 : 15], "{\"SessionReady\":", 16) == 0);
    fprintf(stderr, "without heartbeats: %d texts; with: %d texts and %d heartbeats\n", plain_texts, x.texts, x.heartbeats);

    /* (d) a malformed header */
    exchange_run(&h, subject, payload, "12abc", false, 10000, &x);
    MM_CHECK(x.ended);
    MM_CHECK_INT(x.heartbeats, ==, 0);
    MM_CHECK_INT(x.texts, ==, 1);
    MM_CHECK(strncmp(x.text[0], "{\"Error\":[400,", 14) == 0 && strstr(x.text[0], MM_REPLY_HEARTBEAT_ASK_HEADER) != NULL);

    /* (e) session.gensession */
    exchange_run(&h, MM_GENSESSION_SUBJECT, payload, "300", true, 20000, &x);
    MM_CHECK(x.ended);
    MM_CHECK(x.first_kind == 'h');
    MM_CHECK_INT(x.heartbeats, >=, 3);
    MM_CHECK_INT(x.texts, ==, 1);
    MM_CHECK(strstr(x.text[0], "\"connect_token\"") != NULL);
    MM_CHECK(!x.after_end);

    /* (f) our web front's request: liveness per process */
    natsSubscription *alive = NULL;
    MM_REQUIRE(natsConnection_SubscribeSync(&alive, h.nc, MM_REPLY_ALIVE_PREFIX ".*") == NATS_OK);
    MM_REQUIRE(natsConnection_Flush(h.nc) == NATS_OK);
    liveness_ask = "300";
    exchange_run(&h, subject, payload, "300", false, 20000, &x);
    MM_CHECK(x.ended);
    MM_CHECK(x.first_kind == 'h');
    MM_CHECK_INT(x.heartbeats, ==, 1); /* the polls' silences of 1.5 s: no more on the stream */
    MM_CHECK(!x.after_end);
    MM_CHECK(first_replica[0] != '\0');
    MM_CHECK_STR(x.text[0], "\"Acknowledged\"");
    MM_CHECK(x.texts >= 4 && strncmp(x.text[x.texts - 1 < 16 ? x.texts - 1 : 15], "{\"SessionReady\":", 16) == 0);
    char alive_subject[96];
    snprintf(alive_subject, sizeof(alive_subject), "%s.%s", MM_REPLY_ALIVE_PREFIX, first_replica);
    int alive_n = 0, alive_other = 0;
    natsMsg *am = NULL;
    while (natsSubscription_NextMsg(&am, alive, 50) == NATS_OK) {
        if (strcmp(natsMsg_GetSubject(am), alive_subject) == 0 && mm_reply_is_heartbeat(am))
            alive_n++;
        else
            alive_other++;
        natsMsg_Destroy(am);
    }
    MM_CHECK_INT(alive_n, >=, 3); /* one per 300 ms while it held the request (several seconds) */
    MM_CHECK_INT(alive_other, ==, 0);
    fprintf(stderr, "with liveness: %d texts, %d heartbeat on the stream, %d on %s\n", x.texts, x.heartbeats, alive_n, alive_subject);
    natsSubscription_Destroy(alive);

    /* (g) a malformed Mm-Liveness-Ms */
    liveness_ask = "70000";
    exchange_run(&h, subject, payload, "300", false, 10000, &x);
    MM_CHECK(x.ended);
    MM_CHECK_INT(x.heartbeats, ==, 0);
    MM_CHECK_INT(x.texts, ==, 1);
    MM_CHECK(strncmp(x.text[0], "{\"Error\":[400,", 14) == 0 && strstr(x.text[0], MM_REPLY_LIVENESS_ASK_HEADER) != NULL);
    liveness_ask = NULL;

    if (mm_test_failed > 0)
        h_dump_log(h.mm_log, 40);
    h_stop(&h);
    nats_Close();
    return MM_TEST_DONE();
}
