/*
 * Split mode under load, kill -9 of one of two matchmaker replicas (docs/protocol.md section 3,
 * "Heartbeats"): bevygap_matchmaker_httpd with --backend-silence-ms 1500 in front of matchmakers A
 * and B, real nats-server, edgegap_sim (every session its own deployment, ready after 6 s) and
 * gameserver_sim.
 *
 *   1. A burst of N_BURST chunked requests (POST /matchmaker/request/game/v1), shared by the
 *      queue group. The matchmakers poll every 2 s, longer than the front's silence limit: a
 *      request stays open between progress reports only thanks to the matchmaker's heartbeats.
 *   2. Once every request is accepted and its session recorded in unclaimed_sessions (so no
 *      Edgegap create is in flight on A: a session whose create answer dies with its process is
 *      unknowable, see tests/matchmaker/test_mm_crash.c), A is killed with SIGKILL.
 *   3. Every request in flight at the kill gets its final message within KILL_ANSWER_MS of it
 *      (A's: Error 503 from the front, as A's liveness messages on mm.alive.<nuid> stopped), or is
 *      served (B's: SessionReady long after the silence limit, silent on their own streams but
 *      kept open by B's liveness). At least one of A's was cut.
 *   4. N_AFTER requests sent after the kill are all served by B.
 *   5. No session leaks: B's reaper deletes A's orphans, the simulator ends with no live session
 *      and as many deleted as created.
 * Run with --backend-silence-ms 0 (the front before heartbeats), A's requests would hang until
 * the front's 60 s limit and step 3 fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "httpd_harness.h"
#include "mm/clock.h"
#include "mm/kv.h"

#define N_BURST 24
#define N_AFTER 6
#define N_ALL (N_BURST + N_AFTER)
#define KILL_ANSWER_MS 5000
#define SILENCE_MS "1500"

typedef struct call {
    CURL *e;
    char body[32768];
    size_t len;
    uint64_t start_ms, end_ms;
    bool done;
    long status;
    char session[64];
} call;

static call calls[N_ALL];

static size_t
on_body(char *data, size_t size, size_t n, void *ctx)
{
    call *c = ctx;
    size_t len = size * n;
    if (len > sizeof(c->body) - 1 - c->len)
        len = sizeof(c->body) - 1 - c->len;
    memcpy(c->body + c->len, data, len);
    c->len += len;
    c->body[c->len] = '\0';
    return size * n;
}

static void
call_start(CURLM *m, call *c, int port)
{
    char url[160];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/matchmaker/request/%s/%s", port, H_APP, H_VERSION);
    c->e = curl_easy_init();
    MM_REQUIRE(c->e != NULL);
    curl_easy_setopt(c->e, CURLOPT_URL, url);
    curl_easy_setopt(c->e, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c->e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->e, CURLOPT_PRIVATE, c);
    curl_easy_setopt(c->e, CURLOPT_TIMEOUT_MS, 120000L);
    c->start_ms = mm_now_ms();
    MM_REQUIRE(curl_multi_add_handle(m, c->e) == CURLM_OK);
}

/* Drives the transfers for up to ms, recording when each one ends. */
static void
drive(CURLM *m, int ms)
{
    uint64_t until = mm_now_ms() + (uint64_t)ms;
    do {
        int running = 0;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            call *c = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            c->done = true;
            c->end_ms = mm_now_ms();
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &c->status);
            curl_multi_remove_handle(m, msg->easy_handle);
            curl_easy_cleanup(msg->easy_handle);
            c->e = NULL;
        }
        if (mm_now_ms() >= until)
            break;
        curl_multi_poll(m, NULL, 0, 20, NULL);
    } while (mm_now_ms() < until);
}

/* The session id of a call's SessionRequestAccepted, once it came. */
static bool
call_accepted(call *c)
{
    if (c->session[0] != '\0')
        return true;
    const char *p = strstr(c->body, "{\"SessionRequestAccepted\":\"");
    if (p == NULL)
        return false;
    p += strlen("{\"SessionRequestAccepted\":\"");
    const char *q = strchr(p, '"');
    if (q == NULL || q - p >= (long)sizeof(c->session))
        return false;
    memcpy(c->session, p, (size_t)(q - p));
    c->session[q - p] = '\0';
    return true;
}

/* The last line of a finished call: its final message. */
static const char *
call_last(const call *c, char *buf, size_t len)
{
    size_t end = c->len;
    while (end > 0 && c->body[end - 1] == '\n')
        end--;
    size_t start = end;
    while (start > 0 && c->body[start - 1] != '\n')
        start--;
    snprintf(buf, len, "%.*s", (int)(end - start), c->body + start);
    return buf;
}

static bool
all(bool (*pred)(call *), int from, int to)
{
    for (int i = from; i < to; i++)
        if (!pred(&calls[i]))
            return false;
    return true;
}

static bool
call_done(call *c)
{
    return c->done;
}

int
main(void)
{
    harness h = {0};
    hd_proc front;
    mm_js *js = NULL;
    char why[256], last[4096];
    MM_REQUIRE(curl_global_init(CURL_GLOBAL_DEFAULT) == 0);
    h_start_nats(&h);
    const char *sim_args[] = {"--sockets", "1", NULL};
    h_start_sim(&h, "6000", sim_args);
    h_start_gameserver(&h);
    const char *mm_args[] = {"--poll-delay-ms",
                             "2000",
                             "--poll-interval-ms",
                             "2000",
                             "--session-timeout-ms",
                             "30000",
                             "--reaper-age-ms",
                             "7000",
                             "--reaper-margin-ms",
                             "1000",
                             "--reaper-scan-ms",
                             "200",
                             NULL};
    h_start_matchmaker(&h, mm_args);
    pid_t a = h.mm;
    char a_log[512];
    snprintf(a_log, sizeof(a_log), "%s", h.mm_log);
    h_start_matchmaker(&h, mm_args); /* B: h.mm from now on, stopped by h_stop */
    const char *front_args[] = {
        "--backend-silence-ms", SILENCE_MS, "--matchmaker-timeout-ms", "60000", "--limits-exempt", "0.0.0.0/0", NULL};
    hd_start(&h, &front, front_args);
    h_connect(&h);
    MM_REQUIRE(mm_js_setup(h.nc, MM_JS_NEED_ALL, 0, &js, why, sizeof(why)) == MM_OK);
    kvStore *unclaimed = mm_js_kv(js, MM_KV_UNCLAIMED_SESSIONS);

    CURLM *m = curl_multi_init();
    MM_REQUIRE(m != NULL);
    for (int i = 0; i < N_BURST; i++)
        call_start(m, &calls[i], front.port);
    /* 2. every request accepted and recorded: no create in flight anywhere */
    uint64_t until = mm_now_ms() + 15000;
    while (!all(call_accepted, 0, N_BURST) && mm_now_ms() < until)
        drive(m, 50);
    MM_REQUIRE(all(call_accepted, 0, N_BURST));
    for (int i = 0; i < N_BURST; i++)
        MM_REQUIRE(h_wait_kv(unclaimed, calls[i].session, true, 5000));
    /* let a silence longer than the front's limit pass: only heartbeats keep the requests open */
    drive(m, 1800);
    for (int i = 0; i < N_BURST; i++)
        MM_CHECK(!calls[i].done);
    uint64_t kill_ms = mm_now_ms();
    MM_CHECK(h_kill9(a));

    /* 4. after the kill: new requests go to B */
    drive(m, 200);
    for (int i = N_BURST; i < N_ALL; i++)
        call_start(m, &calls[i], front.port);
    until = mm_now_ms() + 45000;
    while (!all(call_done, 0, N_ALL) && mm_now_ms() < until)
        drive(m, 100);
    curl_multi_cleanup(m);

    /* 3. the burst: every request answered within KILL_ANSWER_MS of the kill, or served */
    int cut = 0, served = 0;
    uint64_t cut_max_ms = 0;
    for (int i = 0; i < N_ALL; i++) {
        call *c = &calls[i];
        MM_CHECK(c->done);
        MM_CHECK_INT(c->status, ==, 200);
        call_last(c, last, sizeof(last));
        bool ready = strncmp(last, "{\"SessionReady\":", 16) == 0;
        bool silent = strstr(last, "{\"Error\":[503,\"the matchmaker serving this request stopped answering") == last;
        if (i >= N_BURST) {
            if (!ready)
                fprintf(stderr, "request %d after the kill ended with %s\n", i, last);
            MM_CHECK(ready);
            continue;
        }
        if (ready) {
            served++;
            continue;
        }
        cut++;
        if (c->done && c->end_ms - kill_ms > cut_max_ms)
            cut_max_ms = c->end_ms - kill_ms;
        if (!silent || !c->done || c->end_ms > kill_ms + KILL_ANSWER_MS)
            fprintf(stderr, "request %d (session %s): ended %lld ms after the kill with %s\n", i, c->session,
                    c->done ? (long long)(c->end_ms - kill_ms) : -1LL, last);
        MM_CHECK(silent);
        MM_CHECK_U64(c->end_ms, <=, kill_ms + KILL_ANSWER_MS);
    }
    fprintf(stderr,
            "burst of %d: %d served by the survivor, %d of the killed replica's answered 503, the last %llu ms after the kill\n",
            N_BURST, served, cut, (unsigned long long)cut_max_ms);
    MM_CHECK_INT(cut, >=, 1);
    MM_CHECK_INT(served, >=, 1);
    MM_CHECK(h_file_contains(front.log, "its replica's liveness stopped")); /* per process, include/mm/reply.h "Liveness" */

    /* 5. no session leaks: B's reaper deletes A's orphans (unclaimed after 8 s) */
    h_sim_stats st;
    bool empty = h_wait_sim_empty(&h, 40000, &st);
    MM_CHECK(empty);
    MM_CHECK_INT(st.created, ==, N_ALL);
    MM_CHECK_INT(st.deleted, ==, st.created);
    if (!empty || mm_test_failed > 0) {
        hd_dump_log(&front);
        h_dump_log(h.mm_log, 40);
        h_dump_log(a_log, 20);
    }
    MM_CHECK_INT(hd_stop(&front, 10000), ==, 0);
    MM_CHECK(h_file_contains(front.log, "stopped: drained 0 requests, 0 answered 503 at the deadline, exit 0"));
    mm_js_destroy(js);
    h_stop(&h);
    curl_global_cleanup();
    nats_Close();
    return MM_TEST_DONE();
}
