/*
 * The production shape survives what a cluster throws at it.
 *
 * A 3-node JetStream cluster (deploy/nats/nats-server-cluster.conf), R3 buckets and stream, two
 * matchmakers and two web fronts on different nodes, edgegap_sim and gameserver_sim --auto
 * (cluster_stack.h). The web fronts sit behind a TCP load balancer (tcp_lb.h, what a Kubernetes
 * Service does). mm_bench drives a steady open-loop load through it and a probe client
 * (probe.h) starts a streamed request every 250 ms, while the test kills, in turn, with a
 * recovery pause between (each killed process is started again, as an orchestrator would):
 *   1. the node leading KV_unclaimed_sessions (the record that lets the reaper delete a session
 *      nobody claims), found with $JS.API.STREAM.INFO;
 *   2. a matchmaker (kill -9);
 *   3. a web front (kill -9);
 *   4. the node a matchmaker is connected to (from its log).
 *
 * Figures (printed) and checks:
 *   - every request is answered: mm_bench decides each one; no timeout, protocol violation,
 *     refused connection or ERR line; the errors that remain are bounded by their cause: Error
 *     503 (a leader election; a matchmaker that died or lost its node, whose heartbeats stopped)
 *     and 408 (the web front's whole limit) by the requests in flight at the kills, a
 *     connection closed early by the requests in flight through the killed web front;
 *   - no JetStream publish of the matchmakers is given up (leader elections are retried);
 *   - after the reaper window the simulator holds no live session and every session was deleted;
 *   - no duplicate session for one request: sessions created at the simulator minus sessions
 *     the clients were told of (SessionRequestAccepted) is at most the requests in flight on a
 *     killed process (a session created for a request whose answer died with the process);
 *   - after each fault the service is ready again within 20 s (time to the first ready probe
 *     started after the last failed one; printed with the time to the first ready at all).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "cluster_stack.h"
#include "mm/clock.h"
#include "probe.h"
#include "tcp_lb.h"

#define WARMUP_S 8
#define FAULT_SLOT_S 16
#define FAULTS 4
#define BENCH_RATE "20"
#define BENCH_TIMEOUT_S 40
#define RECOVERY_BOUND_MS 20000

typedef struct fault {
    const char *what;
    char detail[200];
    uint64_t at_ms;    /* mm_now_ms() of the kill */
    int in_flight;     /* requests open at the load balancer at the kill */
    int in_flight_web; /* of those, through the killed web front (fault 3) */
    int64_t leader_ms; /* fault 1: kill to a new leader (-1: none seen) */
} fault;

typedef struct run {
    cf_stack s;
    tcp_lb *lb;
    cf_probe *probe;
    pid_t bench;
    char bench_json[400], bench_log[400];
    fault f[FAULTS];
} run;

static void
pause_until(uint64_t at_ms)
{
    uint64_t now = mm_now_ms();
    if (now < at_ms)
        mm_test_sleep_ms((int)(at_ms - now));
}

static const char *const streams[] = {"KV_unclaimed_sessions", "KV_sessions_ly2eg", "KV_sessions_eg2ly",
                                      "KV_active_connections", "KV_cert_digests",   "DELETE_SESSION_STREAM"};
#define N_STREAMS (sizeof(streams) / sizeof(streams[0]))

/* Which streams node leads (a killed node takes all of them into an election). */
static void
leaders_of(run *r, int node, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_STREAMS && used < len; i++)
        if (cf_stream_leader(&r->s, streams[i]) == node)
            used += (size_t)snprintf(buf + used, len - used, "%s%s", used > 0 ? ", " : "", streams[i]);
}

static void
fault_begin(run *r, fault *f, const char *what)
{
    f->what = what;
    f->in_flight = tcp_lb_open_total(r->lb);
    f->at_ms = mm_now_ms();
    f->leader_ms = -1;
}

static void
fault_node(run *r, fault *f, int node, const char *what)
{
    char led[300];
    leaders_of(r, node, led, sizeof(led));
    bool led_unclaimed = cf_stream_leader(&r->s, "KV_unclaimed_sessions") == node;
    fault_begin(r, f, what);
    cf_kill9(&r->s.nats.pid[node]);
    snprintf(f->detail, sizeof(f->detail), "nats-%d (leader of: %.160s)", node + 1, led[0] != '\0' ? led : "none");
    if (led_unclaimed && cf_wait_leader(&r->s, "KV_unclaimed_sessions", node, 30000) >= 0)
        f->leader_ms = (int64_t)(mm_now_ms() - f->at_ms);
    mm_test_sleep_ms(3000); /* down for a while, then back on its own store */
    cf_node_restart(&r->s, node);
}

static void
run_faults(run *r, uint64_t t0)
{
    cf_stack *s = &r->s;
    pause_until(t0 + WARMUP_S * 1000);
    int leader = cf_stream_leader(s, "KV_unclaimed_sessions");
    MM_REQUIRE(leader >= 0);
    fault_node(r, &r->f[0], leader, "the JetStream leader of KV_unclaimed_sessions");

    pause_until(t0 + (WARMUP_S + FAULT_SLOT_S) * 1000);
    fault_begin(r, &r->f[1], "matchmaker 2 (kill -9)");
    snprintf(r->f[1].detail, sizeof(r->f[1].detail), "pid %d", (int)s->mm[1].pid);
    cf_kill9(&s->mm[1].pid);
    mm_test_sleep_ms(2000);
    cf_mm_start(s, 1);

    pause_until(t0 + (WARMUP_S + 2 * FAULT_SLOT_S) * 1000);
    /* out of the rotation first, so that exactly the requests through it at the kill are counted
     * (the load balancer would skip it anyway once its port refuses) */
    tcp_lb_enable(r->lb, 0, false);
    fault_begin(r, &r->f[2], "web front 1 (kill -9)");
    r->f[2].in_flight_web = tcp_lb_open(r->lb, 0);
    snprintf(r->f[2].detail, sizeof(r->f[2].detail), "pid %d, %d requests through it", (int)s->httpd[0].pid, r->f[2].in_flight_web);
    cf_kill9(&s->httpd[0].pid);
    mm_test_sleep_ms(2000);
    cf_httpd_start(s, 0);
    tcp_lb_enable(r->lb, 0, true);

    pause_until(t0 + (WARMUP_S + 3 * FAULT_SLOT_S) * 1000);
    int node = cf_service_node(s, &s->mm[0]);
    MM_REQUIRE(node >= 0);
    fault_node(r, &r->f[3], node, "the NATS node matchmaker 1 is connected to");
}

static void
start_load(run *r)
{
    char exe[512], url[96], duration[16], timeout[16], zero_key[128] = "";
    for (int i = 0; i < 32; i++)
        strcat(zero_key, i == 0 ? "0" : ",0");
    setenv("CF_VERIFY_KEY", zero_key, 1); /* the matchmakers' key (none given: all zeros), out of argv */
    snprintf(exe, sizeof(exe), "%s/mm_bench", mm_test_build_dir());
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/matchmaker/ws", tcp_lb_port(r->lb));
    snprintf(duration, sizeof(duration), "%ds", WARMUP_S + FAULTS * FAULT_SLOT_S + 4);
    snprintf(timeout, sizeof(timeout), "%ds", BENCH_TIMEOUT_S);
    snprintf(r->bench_json, sizeof(r->bench_json), "%s/bench.json", r->s.nats.dir);
    snprintf(r->bench_log, sizeof(r->bench_log), "%s/bench.log", r->s.nats.dir);
    /* clang-format off */
    char *argv[] = {exe, "--url", url, "--rate", BENCH_RATE, "--duration", duration, "--timeout", timeout,
                    "--game", H_APP, "--version", H_VERSION, "--client-ip-range", "81.0.0.1-81.0.255.254",
                    "--verify-key-env", "CF_VERIFY_KEY", "--json", r->bench_json, "--no-progress", NULL};
    /* clang-format on */
    r->bench = mm_test_spawn(argv, r->bench_log);
    MM_REQUIRE(r->bench > 0);
    char purl[160];
    snprintf(purl, sizeof(purl), "http://127.0.0.1:%d/matchmaker/request/%s/%s", tcp_lb_port(r->lb), H_APP, H_VERSION);
    r->probe = cf_probe_start(purl, 250, BENCH_TIMEOUT_S * 1000);
    MM_REQUIRE(r->probe != NULL);
}

/* Waits for mm_bench to end (it decides every request by its timeout) and stops the probe. */
static void
end_load(run *r)
{
    uint64_t until = mm_now_ms() + (BENCH_TIMEOUT_S + 30) * 1000ULL;
    while (h_alive(r->bench) && mm_now_ms() < until)
        mm_test_sleep_ms(100);
    int st = mm_test_stop(r->bench, 5000);
    if (st != 0 && st != 1)
        h_dump_log(r->bench_log, 40);
    MM_CHECK(st == 0 || st == 1); /* 1: some requests were not ready (bounded below) */
    cf_probe_stop(r->probe);
}

static long
jint(json_t *o, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *v = o;
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k != NULL && v != NULL; k = strtok_r(NULL, ".", &save))
        v = json_object_get(v, k);
    return json_is_integer(v) ? (long)json_integer_value(v) : 0;
}

static int
matchmaker_log_count(run *r, const char *needle)
{
    return cf_log_count(r->s.mm[0].log, needle) + cf_log_count(r->s.mm[1].log, needle);
}

static void
figures(run *r)
{
    json_error_t jerr;
    json_t *b = json_load_file(r->bench_json, 0, &jerr);
    if (b == NULL)
        h_dump_log(r->bench_log, 40);
    MM_REQUIRE(b != NULL);
    long requests = jint(b, "requests"), ready = jint(b, "ready"), decided = jint(b, "decided");
    long e408 = jint(b, "outcomes.error_408"), e503 = jint(b, "outcomes.error_503"), early = jint(b, "outcomes.closed_early");
    long errors = jint(b, "errors"), accepted_bench = jint(b, "phases_ms.accepted.count");
    fprintf(stderr, "\n== mm_bench through the load balancer: %ld requests, %ld ready, %ld not ready\n", requests, ready, errors);
    const char *name;
    json_t *v;
    json_object_foreach(json_object_get(b, "outcomes"), name, v) if (json_integer_value(v) > 0)
        fprintf(stderr, "   %-20s %lld\n", name, (long long)json_integer_value(v));
    size_t i;
    json_array_foreach(json_object_get(b, "reasons"), i, v)
        fprintf(stderr, "   reason: %s x%lld: %s\n", json_string_value(json_object_get(v, "outcome")),
                (long long)json_integer_value(json_object_get(v, "count")), json_string_value(json_object_get(v, "reason")));
    fprintf(stderr, "   latency p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
            json_real_value(json_object_get(json_object_get(b, "latency_ms"), "p50")),
            json_real_value(json_object_get(json_object_get(b, "latency_ms"), "p99")),
            json_real_value(json_object_get(json_object_get(b, "latency_ms"), "max")));

    int n = 0, probe_failed = 0, probe_accepted = 0, p408 = 0, p503 = 0, pbroken = 0;
    const cf_probe_result *pr = cf_probe_results(r->probe, &n);
    for (int k = 0; k < n; k++) {
        probe_accepted += pr[k].session[0] != '\0';
        if (pr[k].outcome == CF_READY)
            continue;
        probe_failed++;
        p408 += pr[k].outcome == CF_ERROR && pr[k].code == 408;
        p503 += pr[k].outcome == CF_ERROR && pr[k].code == 503;
        pbroken += pr[k].outcome == CF_BROKEN;
        fprintf(stderr, "   probe %d (t+%llu ms) not ready: %s\n", k, (unsigned long long)(pr[k].start_ms - pr[0].start_ms),
                pr[k].last);
    }
    fprintf(stderr, "== probe: %d requests, %d not ready\n", n, probe_failed);

    int in_flight_all = 0;
    fprintf(stderr, "== faults\n");
    for (int k = 0; k < FAULTS; k++) {
        fault *f = &r->f[k];
        uint64_t until = k + 1 < FAULTS ? r->f[k + 1].at_ms : UINT64_MAX, first = 0, recovered = 0;
        int failed = cf_probe_recovery(r->probe, f->at_ms, until, &first, &recovered);
        in_flight_all += f->in_flight;
        fprintf(stderr, "   %d. %s: %s; %d requests in flight", k + 1, f->what, f->detail, f->in_flight);
        if (f->leader_ms >= 0)
            fprintf(stderr, "; new KV_unclaimed_sessions leader after %lld ms", (long long)f->leader_ms);
        fprintf(stderr, "\n      probes started after it: %d not ready; first ready after %lld ms, all ready again after %lld ms\n",
                failed, first == UINT64_MAX ? -1LL : (long long)first, recovered == UINT64_MAX ? -1LL : (long long)recovered);
        MM_CHECK(recovered != UINT64_MAX);
        MM_CHECK_U64(recovered, <=, RECOVERY_BOUND_MS);
    }

    /* every request answered; the errors are those of requests in flight on a killed process */
    MM_CHECK_INT(decided, ==, requests);
    MM_CHECK(requests > 0);
    MM_CHECK_INT(jint(b, "outcomes.timeout"), ==, 0);
    MM_CHECK_INT(jint(b, "outcomes.protocol_violation"), ==, 0);
    MM_CHECK_INT(jint(b, "outcomes.connect_failed"), ==, 0);
    MM_CHECK_INT(jint(b, "outcomes.err_refused"), ==, 0);
    MM_CHECK_INT(jint(b, "outcomes.interrupted"), ==, 0);
    MM_CHECK_INT(e408 + p408, <=, r->f[1].in_flight + r->f[3].in_flight);
    MM_CHECK_INT(early + pbroken, <=, r->f[2].in_flight_web);
    /* a matchmaker killed (fault 2) or cut from its node (fault 4): its heartbeats stop and the
     * web front answers 503 after --backend-silence-ms, no longer 408 after its whole limit */
    MM_CHECK_INT(e503 + p503, <=, r->f[0].in_flight + r->f[1].in_flight + r->f[3].in_flight);
    MM_CHECK_INT(errors - e408 - e503 - early, ==, 0);
    MM_CHECK_INT(probe_failed - p408 - p503 - pbroken, ==, 0);
    MM_CHECK_INT(errors + probe_failed, <=, in_flight_all);

    /* leader elections: every failed asynchronous JetStream publish was resent until stored */
    int resent = matchmaker_log_count(r, ": resending in "), lost = matchmaker_log_count(r, "giving up");
    lost += matchmaker_log_count(r, "could not be resent") + matchmaker_log_count(r, "it is lost");
    fprintf(stderr,
            "== matchmakers: %d JetStream publishes failed and were resent, %d given up; %d KV watches made again; reapers "
            "enqueued %d deletions (player left) and %d (unclaimed); delete workers deleted %d (%d already gone)\n",
            resent, lost, matchmaker_log_count(r, "making the watch again"),
            matchmaker_log_count(r, "enqueued for deletion (the player"),
            matchmaker_log_count(r, "enqueued for deletion (unclaimed"), matchmaker_log_count(r, "deleter: deleted session"),
            matchmaker_log_count(r, "was already gone"));
    MM_CHECK_INT(lost, ==, 0);
    /* allow_responses (deploy/nats/permissions.conf) is per server connection: after a matchmaker
     * reconnects to another node, its replies to requests it got before are refused */
    fprintf(stderr, "== NATS: %d replies of matchmakers refused by allow_responses after a reconnect\n",
            dn_log_count(&r->s.nats, "Publish Violation - User \"matchmaker\", Subject \"_INBOX."));

    /* nothing leaks; no request got two sessions */
    h_sim_stats st;
    bool empty = h_wait_sim_empty(&r->s.h, CF_REAPER_AGE_MS + CF_REAPER_MARGIN_MS + 30000, &st);
    long accepted = accepted_bench + probe_accepted;
    fprintf(stderr, "== edgegap_sim: %ld sessions created, %ld deleted, %ld live; clients told of %ld (mm_bench %ld, probe %d)\n",
            st.created, st.deleted, st.live, accepted, accepted_bench, probe_accepted);
    for (long k = 0; k < st.live && k < H_MAX_LIVE; k++)
        fprintf(stderr, "   leaked: %s\n", st.live_ids[k]);
    MM_CHECK(empty);
    MM_CHECK_INT(st.deleted, ==, st.created);
    MM_CHECK_INT(st.created, >=, accepted);
    MM_CHECK_INT(st.created - accepted, <=, r->f[1].in_flight + r->f[2].in_flight_web + r->f[3].in_flight);
    json_decref(b);
}

int
main(void)
{
    MM_REQUIRE(sodium_init() >= 0);
    signal(SIGPIPE, SIG_IGN);
    static run r;
    cf_stack_start(&r.s);
    for (size_t i = 0; i < N_STREAMS; i++) {
        int leader = cf_wait_leader(&r.s, streams[i], -1, 10000);
        fprintf(stderr, "%s: leader nats-%d\n", streams[i], leader + 1);
        MM_CHECK(leader >= 0);
    }
    int ports[CF_REPLICAS] = {r.s.httpd[0].port, r.s.httpd[1].port};
    r.lb = tcp_lb_start(ports, CF_REPLICAS);
    MM_REQUIRE(r.lb != NULL);
    uint64_t t0 = mm_now_ms();
    start_load(&r);
    run_faults(&r, t0);
    end_load(&r);
    figures(&r);
    if (mm_test_failed > 0) {
        for (int i = 0; i < CF_REPLICAS; i++) {
            fprintf(stderr, "--- matchmaker %d: warnings and errors\n", i + 1);
            char cmd[600];
            snprintf(cmd, sizeof(cmd), "grep -E 'WARN|ERROR|warn|error' %s | tail -40 >&2", r.s.mm[i].log);
            MM_CHECK(system(cmd) >= 0);
        }
    }
    tcp_lb_stop(r.lb);
    cf_probe_destroy(r.probe);
    if (mm_test_failed > 0 || getenv("CF_KEEP_LOGS") != NULL) {
        fprintf(stderr, "logs kept in %s\n", r.s.nats.dir);
        r.s.nats.dir[0] = '\0'; /* dn_stop then leaves the directory */
    }
    cf_stack_stop(&r.s);
    nats_Close();
    return MM_TEST_DONE();
}
