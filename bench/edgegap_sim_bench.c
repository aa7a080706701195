/*
 * edgegap_sim_bench: requests per second that edgegap_sim answers on ONE core.
 *
 * Starts build/edgegap_sim (next to this program) pinned to CPU 0 on a free port, pins itself to
 * the other CPU, and drives it with libcurl multi over keep-alive connections, phase by phase:
 *   404      GET /v1/app/<unknown>: the cheapest answer, i.e. HTTP + routing + a JSON error
 *   create   POST /v1/session: placement on seats, new deployments, timers
 *   get      GET /v1/session/{id} for the sessions just created (the matchmaker's polling)
 *   delete   DELETE /v1/session/{id}
 * and prints each phase's rate with its ratio to the 404 phase measured in the same run, plus
 * the number of live sessions the simulator held. Figures only; nothing here passes or fails.
 *
 *   edgegap_sim_bench [--seconds S] [--connections N] [--sim-arg ARG ...]
 *
 * --sim-arg passes one more argument to edgegap_sim (repeatable), e.g. `--sim-arg=--latency-ms
 * --sim-arg=20,100` to see that delayed answers (timers on its loop) leave its rate bounded by
 * the connections in flight rather than by its core. (It already gets --deploy-delay-ms 0, so
 * --deploy-ms cannot be added.)
 */
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mm/clock.h"
#include "mm/parse.h"

enum phase { PHASE_404, PHASE_CREATE, PHASE_GET, PHASE_DELETE };
static const char *const phase_names[] = {"404 (baseline)", "create session", "get session", "delete session"};

struct conn {
    CURL *easy;
    char body[512];
    size_t len;
};

struct bench {
    CURLM *multi;
    struct curl_slist *headers;
    char base[80]; /* "http://" + host:port (at most 63) */
    char **ids;
    size_t nids, cap_ids, next_id;
    uint64_t done, failed;
};

static size_t
collect(char *data, size_t size, size_t n, void *arg)
{
    struct conn *c = arg;
    size_t len = size * n, room = sizeof(c->body) - 1 - c->len;
    size_t take = len < room ? len : room;
    memcpy(c->body + c->len, data, take);
    c->len += take;
    return len;
}

/* Prepares c for the next request of phase p; 0 when the phase has nothing left to do. */
static int
prepare(struct bench *b, struct conn *c, enum phase p)
{
    char url[256];
    c->len = 0;
    curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(c->easy, CURLOPT_HTTPGET, 1L);
    switch (p) {
    case PHASE_404:
        snprintf(url, sizeof(url), "%s/v1/app/no-such-app", b->base);
        break;
    case PHASE_CREATE:
        snprintf(url, sizeof(url), "%s/v1/session", b->base);
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS,
                         "{\"app_name\":\"bevygap-spaceships\",\"version_name\":\"1\",\"ip_list\":[\"81.128.157.100\"]}");
        break;
    case PHASE_GET:
    case PHASE_DELETE:
        if (b->nids == 0 || (p == PHASE_DELETE && b->next_id >= b->nids))
            return 0;
        snprintf(url, sizeof(url), "%s/v1/session/%s", b->base, b->ids[b->next_id++ % b->nids]);
        if (p == PHASE_DELETE)
            curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, "DELETE");
        break;
    }
    curl_easy_setopt(c->easy, CURLOPT_URL, url);
    return 1;
}

static void
remember_id(struct bench *b, const char *body)
{
    json_t *j = json_loads(body, 0, NULL);
    const char *id = json_string_value(json_object_get(j, "session_id"));
    if (id != NULL) {
        if (b->nids == b->cap_ids) {
            b->cap_ids = b->cap_ids ? b->cap_ids * 2 : 1024;
            b->ids = realloc(b->ids, b->cap_ids * sizeof(*b->ids));
        }
        b->ids[b->nids++] = strdup(id);
    }
    json_decref(j);
}

static double
run_phase(struct bench *b, struct conn *conns, int nconn, enum phase p, double seconds)
{
    static const long expected[] = {404, 200, 200, 200};
    b->done = b->failed = 0;
    b->next_id = 0;
    int active = 0;
    for (int i = 0; i < nconn; i++)
        if (prepare(b, &conns[i], p)) {
            curl_multi_add_handle(b->multi, conns[i].easy);
            active++;
        }
    uint64_t t0 = mm_now_ns(), end = t0 + (uint64_t)(seconds * 1e9);
    while (active > 0) {
        int running = 0;
        curl_multi_perform(b->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(b->multi, &left)) != NULL) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct conn *c;
            long status = 0;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            c->body[c->len] = '\0';
            if (m->data.result != CURLE_OK || status != expected[p])
                b->failed++;
            else if (p == PHASE_CREATE)
                remember_id(b, c->body);
            b->done++;
            curl_multi_remove_handle(b->multi, c->easy);
            if (mm_now_ns() < end && prepare(b, c, p))
                curl_multi_add_handle(b->multi, c->easy);
            else
                active--;
        }
        if (active > 0)
            curl_multi_poll(b->multi, NULL, 0, 100, NULL);
    }
    return (double)b->done / ((double)(mm_now_ns() - t0) / 1e9);
}

static void
pin_to_cpu(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof(set), &set);
}

int
main(int argc, char **argv)
{
    uint64_t seconds = 2, nconn = 32;
    const char *sim_args[16];
    size_t nsim_args = 0;
    static const struct option opts[] = {{"seconds", required_argument, NULL, 's'},
                                         {"connections", required_argument, NULL, 'c'},
                                         {"sim-arg", required_argument, NULL, 'a'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int opt;
    char why[128];
    while ((opt = getopt_long(argc, argv, "s:c:h", opts, NULL)) != -1) {
        if (opt == 's' && mm_parse_u64(optarg, 1, 600, &seconds, why, sizeof(why)) == MM_OK)
            continue;
        if (opt == 'c' && mm_parse_u64(optarg, 1, 1024, &nconn, why, sizeof(why)) == MM_OK)
            continue;
        if (opt == 'a' && nsim_args < sizeof(sim_args) / sizeof(sim_args[0])) {
            sim_args[nsim_args++] = optarg;
            continue;
        }
        if (opt == 'a')
            snprintf(why, sizeof(why), "at most 16 --sim-arg");
        if (opt != 'h')
            fprintf(stderr, "edgegap_sim_bench: bad value: %s\n", why);
        fprintf(stderr, "usage: edgegap_sim_bench [--seconds S (2)] [--connections N (32)] [--sim-arg ARG (repeatable)]\n");
        return opt == 'h' ? 0 : 2;
    }

    char exe[512], sim[600];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return 1;
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    snprintf(sim, sizeof(sim), "%s/edgegap_sim", exe);

    int pipefd[2];
    if (pipe(pipefd) != 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        pin_to_cpu(0);
        dup2(pipefd[1], STDOUT_FILENO);
        close(pipefd[0]);
        const char *argv_sim[32] = {sim,    "--listen",          "127.0.0.1:0", "--api-key",      "token bench", "--log-level",
                                    "warn", "--deploy-delay-ms", "0",           "--max-sessions", "10000000"};
        size_t k = 11;
        for (size_t i = 0; i < nsim_args; i++)
            argv_sim[k++] = sim_args[i];
        argv_sim[k] = NULL;
        execv(sim, (char *const *)argv_sim);
        _exit(127);
    }
    close(pipefd[1]);
    pin_to_cpu(sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 1 : 0);
    char line[256] = {0};
    FILE *out = fdopen(pipefd[0], "r");
    char host_port[64] = {0};
    while (fgets(line, sizeof(line), out) != NULL)
        if (sscanf(line, "edgegap_sim listening on %63s", host_port) == 1)
            break;
    if (host_port[0] == '\0') {
        fprintf(stderr, "edgegap_sim_bench: %s did not start\n", sim);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return 1;
    }

    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct bench b = {.multi = curl_multi_init()};
    snprintf(b.base, sizeof(b.base), "http://%s", host_port);
    b.headers = curl_slist_append(NULL, "authorization: token bench");
    b.headers = curl_slist_append(b.headers, "content-type: application/json");
    curl_multi_setopt(b.multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)nconn);
    struct conn *conns = calloc(nconn, sizeof(*conns));
    for (uint64_t i = 0; i < nconn; i++) {
        conns[i].easy = curl_easy_init();
        curl_easy_setopt(conns[i].easy, CURLOPT_HTTPHEADER, b.headers);
        curl_easy_setopt(conns[i].easy, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(conns[i].easy, CURLOPT_WRITEDATA, &conns[i]);
        curl_easy_setopt(conns[i].easy, CURLOPT_PRIVATE, &conns[i]);
        curl_easy_setopt(conns[i].easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(conns[i].easy, CURLOPT_TIMEOUT_MS, 10000L);
    }

    printf("edgegap_sim_bench: edgegap_sim on 1 core (cpu 0), %llu keep-alive connections, %llu s per phase\n",
           (unsigned long long)nconn, (unsigned long long)seconds);
    double base = 0;
    for (int p = PHASE_404; p <= PHASE_DELETE; p++) {
        double rate = run_phase(&b, conns, (int)nconn, (enum phase)p, (double)seconds);
        if (p == PHASE_404)
            base = rate;
        printf("  %-16s %10.0f req/s  ratio %.2f  (%llu requests, %llu failed)\n", phase_names[p], rate,
               base > 0 ? rate / base : 0, (unsigned long long)b.done, (unsigned long long)b.failed);
        if (p == PHASE_CREATE)
            printf("  %-16s %10zu sessions live at once\n", "", b.nids);
    }

    for (uint64_t i = 0; i < nconn; i++)
        curl_easy_cleanup(conns[i].easy);
    free(conns);
    for (size_t i = 0; i < b.nids; i++)
        free(b.ids[i]);
    free(b.ids);
    curl_slist_free_all(b.headers);
    curl_multi_cleanup(b.multi);
    curl_global_cleanup();
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    fclose(out);
    return 0;
}
