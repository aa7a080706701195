/*
 * mm_ceilings edgegap-get-cost: the CPU one session GET costs the thread that drives our Edgegap
 * client (src/net/edgegap*.c: libcurl multi, keep-alive, jansson), in the pattern of the
 * matchmaker's fallback polls with readiness by webhook: a burst of `burst` GETs every
 * `every_ms` (the provisioner's fallback tick), spread over `sessions` sessions created first.
 * The driving thread's CPU time (CLOCK_THREAD_CPUTIME_ID: user and kernel, so loopback TCP is
 * in it) over the GETs, divided by their number. The simulator's side is not counted. Every
 * session created is deleted at the end, whatever happened (untimed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ceilings.h"
#include "mm/clock.h"
#include "mm/edgegap.h"

typedef struct getcost {
    char (*ids)[MM_EDGEGAP_MAX_SEGMENT + 1];
    uint32_t n_ids, want_ids;
    uint64_t answered, ok, failed;
} getcost;

static void
on_created(void *ctx, const mm_edgegap_result *r)
{
    getcost *g = ctx;
    g->answered++;
    if (r->outcome == MM_EDGEGAP_OK && r->session_id != NULL && g->n_ids < g->want_ids)
        snprintf(g->ids[g->n_ids++], sizeof(g->ids[0]), "%s", r->session_id);
    else
        g->failed++;
}

static void
on_got(void *ctx, const mm_edgegap_result *r)
{
    getcost *g = ctx;
    g->answered++;
    if (r->outcome == MM_EDGEGAP_OK)
        g->ok++;
    else
        g->failed++;
}

static double
thread_cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Drives eg until g->answered reaches n or deadline_ms passes; false on the deadline. */
static bool
drive_until(mm_edgegap *eg, getcost *g, uint64_t n, uint64_t deadline_ms)
{
    while (g->answered < n) {
        if (mm_now_ms() > deadline_ms)
            return false;
        mm_edgegap_fds_wait(eg, -1, 100);
        mm_edgegap_perform(eg);
    }
    return true;
}

int
mm__ceil_edgegap_get_cost(const char *base_url, const char *api_key, const char *app, uint32_t sessions, uint32_t burst,
                          uint32_t every_ms, double seconds)
{
    mm_edgegap_config config = {.base_url = base_url, .api_key = api_key, .max_in_flight = 256, .max_queued = 1u << 20};
    mm_edgegap *eg = NULL;
    char why[200];
    getcost g = {.want_ids = sessions};
    if ((g.ids = calloc(sessions, sizeof(g.ids[0]))) == NULL || mm_edgegap_create(&config, &eg, why, sizeof(why)) != MM_OK) {
        fprintf(stderr, "mm_ceilings: edgegap-get-cost: %s\n", g.ids == NULL ? "out of memory" : why);
        free(g.ids);
        return 1;
    }
    int status = 1;
    const char *ip[] = {"192.0.2.10"};
    for (uint32_t i = 0; i < sessions; i++)
        if (mm_edgegap_session_create(eg, app, NULL, ip, 1, NULL, on_created, &g) != MM_OK) {
            fprintf(stderr, "mm_ceilings: edgegap-get-cost: create refused: %s\n", mm_edgegap_last_error(eg));
            goto done;
        }
    if (!drive_until(eg, &g, sessions, mm_now_ms() + 60000) || g.n_ids < sessions) {
        fprintf(stderr, "mm_ceilings: edgegap-get-cost: only %u of %u sessions created\n", g.n_ids, sessions);
        goto done;
    }
    g.answered = g.failed = 0;
    uint64_t sent = 0, start = mm_now_ms(), next = start;
    uint32_t k = 0;
    double cpu0 = thread_cpu_s();
    while (mm_now_ms() - start < (uint64_t)(seconds * 1000.0)) {
        if (mm_now_ms() >= next) {
            for (uint32_t i = 0; i < burst; i++, sent++, k = (k + 1) % sessions)
                if (mm_edgegap_session_get(eg, g.ids[k], MM_EDGEGAP_BACKGROUND, on_got, &g) != MM_OK) {
                    fprintf(stderr, "mm_ceilings: edgegap-get-cost: GET refused: %s\n", mm_edgegap_last_error(eg));
                    goto done;
                }
            next += every_ms;
        }
        uint64_t now = mm_now_ms();
        mm_edgegap_fds_wait(eg, -1, next > now ? (int)(next - now) : 0);
        mm_edgegap_perform(eg);
    }
    if (!drive_until(eg, &g, sent, mm_now_ms() + 30000)) {
        fprintf(stderr, "mm_ceilings: edgegap-get-cost: %llu GETs unanswered\n", (unsigned long long)(sent - g.answered));
        goto done;
    }
    double cpu = thread_cpu_s() - cpu0;
    printf("{\"gets\": %llu, \"ok\": %llu, \"failed\": %llu, \"burst\": %u, \"every_ms\": %u, \"thread_cpu_s\": %.3f, "
           "\"us_per_get\": %.1f}\n",
           (unsigned long long)sent, (unsigned long long)g.ok, (unsigned long long)g.failed, burst, every_ms, cpu,
           sent > 0 ? cpu * 1e6 / (double)sent : 0.0);
    status = g.failed == 0 ? 0 : 1;
done:
    g.answered = g.failed = 0;
    for (uint32_t i = 0; i < g.n_ids; i++)
        if (mm_edgegap_session_delete(eg, g.ids[i], on_got, &g) != MM_OK) {
            fprintf(stderr, "mm_ceilings: edgegap-get-cost: DELETE of %s refused: %s\n", g.ids[i], mm_edgegap_last_error(eg));
            break;
        }
    if (!drive_until(eg, &g, g.n_ids, mm_now_ms() + 30000))
        fprintf(stderr, "mm_ceilings: edgegap-get-cost: some DELETEs unanswered after 30 s\n");
    if (g.failed > 0)
        fprintf(stderr, "mm_ceilings: edgegap-get-cost: %llu DELETEs failed: those sessions are left\n", (unsigned long long)g.failed);
    mm_edgegap_destroy(eg); /* what is still out comes back CANCELLED */
    free(g.ids);
    return status;
}
