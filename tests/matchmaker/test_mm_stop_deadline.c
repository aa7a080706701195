/*
 * A stop of bevygap_matchmaker keeps ONE deadline (--stop-deadline-ms, counted from SIGTERM),
 * and the Edgegap sessions of requests still running at that deadline are deleted:
 *
 *   all-in-one (--http): a WebSocket request whose deployment never becomes ready (the
 *   simulator's deploy delay is ten minutes); SIGTERM; during the drain /readyz on the admin
 *   listener says 503; the client gets Error 503 at the deadline; the process exits before
 *   twice the deadline (the front and then the provisioner used to take one deadline each);
 *   the session's deletion was enqueued, so a matchmaker started afterwards deletes it at the
 *   simulator (the reaper would only after 75 s, well past this test's wait).
 *
 *   over NATS (no --http): the same request through the intake; its requester gets Error 503
 *   and the session is deleted the same way.
 *
 * The bound on the exit is a correctness bound (the stages add up to two deadlines before the
 * fix), not a speed benchmark. No KV watch is replaced here, so the stop has no retire grace to
 * wait out (docs/matchmaker.md, "Stop").
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "httpd_harness.h"
#include "mm/clock.h"

#define DEADLINE_MS 3000
#define CLIENT_IP "81.128.157.123"

/* Waits for the matchmaker to exit until `until` (mm_now_ms); returns its status or -1. */
static int
wait_exit(harness *h, uint64_t until)
{
    int status = 0;
    while (mm_now_ms() < until) {
        if (waitpid(h->mm, &status, WNOHANG) == h->mm) {
            h->mm = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        mm_test_sleep_ms(10);
    }
    return -1;
}

/* Polls the simulator until session is no longer live (deleted), at most timeout_ms. */
static bool
wait_deleted(const harness *h, const char *session, int timeout_ms)
{
    uint64_t until = mm_now_ms() + (uint64_t)timeout_ms;
    h_sim_stats st;
    while (mm_now_ms() < until) {
        if (h_sim_stats_get(h, &st) && !h_sim_is_live(&st, session) && st.deleted >= 1)
            return true;
        mm_test_sleep_ms(50);
    }
    return false;
}

/* The session id of a SessionRequestAccepted text ("" if text is not one). */
static void
accepted_session(const char *text, char *out, size_t len)
{
    out[0] = '\0';
    const char *k = strstr(text, "\"SessionRequestAccepted\":\"");
    if (k == NULL)
        return;
    k += strlen("\"SessionRequestAccepted\":\"");
    const char *end = strchr(k, '"');
    if (end != NULL && (size_t)(end - k) < len)
        snprintf(out, len, "%.*s", (int)(end - k), k);
}

static void
start_stack(harness *h)
{
    h_start_nats(h);
    h_start_sim(h, "600000", NULL); /* never ready within the test */
}

/* After the first matchmaker stopped: its delete worker, or the next matchmaker's, takes the
 * enqueued deletion. */
static void
check_deleted_by_next(harness *h, const char *session)
{
    h_start_matchmaker(h, NULL);
    bool deleted = wait_deleted(h, session, 20000);
    if (!deleted)
        fprintf(stderr, "session %s was not deleted\n", session);
    MM_CHECK(deleted);
}

static void
test_all_in_one(void)
{
    harness h = {0};
    start_stack(&h);
    int port = mm_test_free_port(), admin = mm_test_free_port();
    char bind[64], admin_bind[64], deadline[16];
    snprintf(bind, sizeof(bind), "127.0.0.1:%d", port);
    snprintf(admin_bind, sizeof(admin_bind), "127.0.0.1:%d", admin);
    snprintf(deadline, sizeof(deadline), "%d", DEADLINE_MS);
    const char *extra[] = {"--http", bind, "--admin-bind", admin_bind, "--stop-deadline-ms", deadline, NULL};
    h_start_matchmaker(&h, extra);

    mm_ws_client *ws = calloc(1, sizeof(*ws));
    MM_REQUIRE(ws != NULL && mm_ws_connect(ws, (uint16_t)port, "/matchmaker/ws", NULL, HD_WAIT_MS) == 0);
    const char first[] = "{\"game\":\"" H_APP "\",\"version\":\"" H_VERSION "\",\"client_ip\":\"" CLIENT_IP "\"}";
    MM_REQUIRE(mm_ws_send_text(ws, first) == 0);
    char session[64] = "";
    while (session[0] == '\0') {
        mm_ws_msg m = {0};
        int got = mm_ws_recv(ws, &m, HD_WAIT_MS);
        bool text = got == 1 && m.opcode == MM_WS_OP_TEXT;
        if (text)
            accepted_session(m.data, session, sizeof(session));
        mm_ws_msg_free(&m);
        MM_REQUIRE(text);
    }

    uint64_t t0 = mm_now_ms();
    MM_REQUIRE(kill(h.mm, SIGTERM) == 0);
    /* the drain: the admin listener is open and says "not ready" (the client port refuses) */
    hd_response r;
    long ready = 0;
    for (uint64_t until = t0 + DEADLINE_MS / 2; mm_now_ms() < until && ready != 503;) {
        hd_http(admin, "GET", "/readyz", NULL, NULL, 1000, &r);
        ready = r.status;
    }
    MM_CHECK_INT(ready, ==, 503);
    char *texts[256]; /* ProgressReports until the deadline, then the Error */
    int code;
    char reason[128];
    int n = hd_ws_collect(ws, texts, 256, &code, reason, sizeof(reason));
    mm_ws_close(ws);
    free(ws);
    MM_CHECK_INT(code, ==, 1000);
    MM_CHECK(n >= 1);
    if (n >= 1)
        MM_CHECK_STR(texts[n - 1], "{\"Error\":[503,\"the matchmaker front is stopping\"]}");
    hd_free_texts(texts, n);
    int st = wait_exit(&h, t0 + 2 * DEADLINE_MS);
    uint64_t took = mm_now_ms() - t0;
    if (st == -1)
        fprintf(stderr, "still running %llu ms after SIGTERM (deadline %d ms)\n", (unsigned long long)took, DEADLINE_MS);
    MM_CHECK_INT(st, ==, 0);
    if (st == -1) {
        MM_CHECK_INT(mm_test_stop(h.mm, 30000), ==, 0);
        h.mm = 0;
    }
    fprintf(stderr, "all-in-one: exit %llu ms after SIGTERM (deadline %d ms)\n", (unsigned long long)took, DEADLINE_MS);
    MM_CHECK(h_file_contains(h.mm_log, "deletion enqueued"));
    check_deleted_by_next(&h, session);
    h_stop(&h);
}

static void
test_over_nats(void)
{
    harness h = {0};
    start_stack(&h);
    char deadline[16];
    snprintf(deadline, sizeof(deadline), "%d", DEADLINE_MS);
    const char *extra[] = {"--stop-deadline-ms", deadline, NULL};
    h_start_matchmaker(&h, extra);
    h_connect(&h);
    h_stream s = {0};
    h_stream_open(&h, &s, CLIENT_IP);
    MM_REQUIRE(h_stream_wait(&s, H_UNTIL_ACCEPTED, 20000));
    MM_REQUIRE(s.session[0] != '\0');
    uint64_t t0 = mm_now_ms();
    MM_REQUIRE(kill(h.mm, SIGTERM) == 0);
    MM_CHECK(h_stream_wait(&s, H_UNTIL_END, 2 * DEADLINE_MS));
    MM_CHECK(strstr(s.last, "503") != NULL);
    int st = wait_exit(&h, t0 + 2 * DEADLINE_MS);
    MM_CHECK_INT(st, ==, 0);
    if (st == -1) {
        MM_CHECK_INT(mm_test_stop(h.mm, 30000), ==, 0);
        h.mm = 0;
    }
    fprintf(stderr, "over NATS: exit %llu ms after SIGTERM (deadline %d ms)\n", (unsigned long long)(mm_now_ms() - t0),
            DEADLINE_MS);
    check_deleted_by_next(&h, s.session);
    h_stream_close(&s);
    h_stop(&h);
}

int
main(void)
{
    test_all_in_one();
    test_over_nats();
    return MM_TEST_DONE();
}
