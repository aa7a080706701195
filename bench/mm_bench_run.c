/*
 * mm_bench's event loop (mm_bench_run in mm_bench.h): one thread, one epoll set, every client
 * connection non-blocking. Each turn of the loop:
 *
 *   1. starts the requests that are due: open loop, every request whose scheduled time has come
 *      (mm_bench_open_loop_offset), at most START_BATCH per turn so replies keep being read when
 *      mm_bench falls behind (the lag is measured and reported, and latencies still count from
 *      the schedule); closed loop, as many as keep --concurrency requests undecided;
 *   2. expires deadlines from the heads of the two sorted deadline lists (mm_bench_conn.h);
 *   3. waits in epoll_pwait2 until the next start, deadline or progress refresh, and hands each
 *      event to its connection;
 *   4. frees the connections that ended during the batch.
 *
 * The run ends when nothing more will start and every connection is gone, or at once when
 * *stop is set (requests still undecided become "interrupted").
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "mm/clock.h"
#include "mm_bench_conn.h"

#define MAX_EVENTS 1024
#define START_BATCH 2000
#define PROGRESS_NS 250000000ULL /* the live line is rewritten 4 times a second */

void
mm_bench_list_append(mm_bench_list *list, mm_bench_conn *c)
{
    c->list = list;
    c->next = NULL;
    c->prev = list->tail;
    if (list->tail != NULL)
        list->tail->next = c;
    else
        list->head = c;
    list->tail = c;
    list->count++;
}

void
mm_bench_list_remove(mm_bench_conn *c)
{
    mm_bench_list *list = c->list;
    if (list == NULL)
        return;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        list->head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    else
        list->tail = c->prev;
    list->count--;
    c->prev = c->next = NULL;
    c->list = NULL;
}

static void
loop_free_dead(mm_bench_loop *loop)
{
    mm_bench_conn *c;
    while ((c = loop->dead.head) != NULL) {
        mm_bench_list_remove(c);
        mm_bench_conn_free(c);
        loop->live--;
    }
}

/* Where the run is in its schedule. */
struct schedule {
    uint64_t next;  /* index of the next request */
    uint64_t total; /* open loop: the number of requests; closed loop: --requests or UINT64_MAX */
    int done;       /* nothing more will start */
};

/*
 * Starts what is due at now and sets *next_due to when the next start is due (UINT64_MAX: none
 * by time; the closed loop starts on decisions). MM_ERR_NOMEM when a connection could not be
 * allocated.
 */
static mm_err
loop_start_due(mm_bench_loop *loop, struct schedule *s, uint64_t now, uint64_t *next_due)
{
    const mm_bench_config *cfg = loop->cfg;
    uint64_t start = loop->stats->start_ns;
    *next_due = UINT64_MAX;
    for (int batch = 0; !s->done && batch < START_BATCH; batch++) {
        if (s->next >= s->total) {
            s->done = 1;
            break;
        }
        uint64_t t0;
        if (cfg->mode == MM_BENCH_OPEN_LOOP) {
            t0 = start + mm_bench_open_loop_offset(cfg, s->next);
            if (t0 > now) {
                *next_due = t0;
                return MM_OK;
            }
        } else {
            if (cfg->duration_ns > 0 && now - start >= cfg->duration_ns) {
                s->done = 1;
                break;
            }
            if (loop->stats->in_flight >= cfg->concurrency)
                return MM_OK; /* a decision will start the next one */
            t0 = now;
        }
        mm_err err = mm_bench_conn_start(loop, s->next, t0, now);
        if (err != MM_OK)
            return err;
        s->next++;
    }
    if (!s->done)
        *next_due = now; /* the batch filled up: come back at once */
    return MM_OK;
}

static void
loop_expire(mm_bench_loop *loop, mm_bench_list *list, uint64_t now)
{
    while (list->head != NULL && list->head->deadline <= now)
        mm_bench_conn_expire(loop, list->head, now);
}

static uint64_t
min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/*
 * Waits for events until when (at most a second). epoll_pwait2 takes nanoseconds, so starts
 * happen on schedule rather than up to a millisecond late; kernels before 5.11 lack it, and then
 * epoll_wait's milliseconds (rounded up) serve.
 */
static int
loop_wait(mm_bench_loop *loop, struct epoll_event *events, int max, uint64_t now, uint64_t when)
{
    static int no_pwait2;
    uint64_t ns = when <= now ? 0 : when - now;
    if (ns > 1000000000ULL)
        ns = 1000000000ULL;
    if (!no_pwait2) {
        struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ULL), .tv_nsec = (long)(ns % 1000000000ULL)};
        int n = epoll_pwait2(loop->epfd, events, max, &ts, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        no_pwait2 = 1;
    }
    return epoll_wait(loop->epfd, events, max, (int)((ns + 999999) / 1000000));
}

static void
loop_interrupt(mm_bench_loop *loop, uint64_t now)
{
    while (loop->active.head != NULL)
        mm_bench_conn_interrupt(loop, loop->active.head, now);
    while (loop->grace.head != NULL)
        mm_bench_conn_interrupt(loop, loop->grace.head, now);
    loop->stats->interrupted = 1;
}

mm_err
mm_bench_run(const mm_bench_config *cfg, mm_bench_stats *st, volatile sig_atomic_t *stop, char *why, size_t why_len)
{
    struct epoll_event events[MAX_EVENTS];
    mm_bench_loop loop = {.cfg = cfg, .stats = st, .epfd = -1};
    struct schedule sched = {.total = UINT64_MAX};
    mm_err err = mm_bench_stats_init(st, mm_now_ns());
    if (err != MM_OK)
        return mm_fail(err, why, why_len, "out of memory for the statistics");
    st->fluid_ceiling = cfg->fluid_ceiling;
    if (cfg->requests_csv != NULL) {
        if ((loop.csv = fopen(cfg->requests_csv, "w")) == NULL)
            return mm_fail(MM_ERR_IO, why, why_len, "--requests-csv: cannot create %s: %s", cfg->requests_csv, strerror(errno));
        mm_bench_line_csv_header(loop.csv);
    }
    if (cfg->mode == MM_BENCH_OPEN_LOOP)
        sched.total = mm_bench_open_loop_total(cfg);
    else if (cfg->requests > 0)
        sched.total = cfg->requests;
    loop.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop.epfd < 0) {
        err = mm_fail(MM_ERR_SYS, why, why_len, "epoll_create1: %s", strerror(errno));
        goto cleanup;
    }
    uint64_t next_progress = st->start_ns + PROGRESS_NS;
    for (;;) {
        uint64_t now = mm_now_ns(), next_due = UINT64_MAX;
        mm_bench_stats_tick(st, now);
        if (*stop) {
            loop_interrupt(&loop, now);
            break;
        }
        if ((err = loop_start_due(&loop, &sched, now, &next_due)) != MM_OK) {
            mm_fail(err, why, why_len, "out of memory for a connection");
            loop_interrupt(&loop, now);
            break;
        }
        loop_expire(&loop, &loop.active, now);
        loop_expire(&loop, &loop.grace, now);
        loop_free_dead(&loop);
        if (sched.done && loop.live == 0)
            break;
        if (cfg->progress && now >= next_progress) {
            mm_bench_report_progress(st, now);
            next_progress = now + PROGRESS_NS;
        }
        uint64_t wake = next_due;
        if (loop.active.head != NULL)
            wake = min_u64(wake, loop.active.head->deadline);
        if (loop.grace.head != NULL)
            wake = min_u64(wake, loop.grace.head->deadline);
        if (cfg->progress)
            wake = min_u64(wake, next_progress);
        /* the timeline's seconds close on time even when nothing happens */
        if (!st->timeline_truncated)
            wake = min_u64(wake, st->start_ns + (uint64_t)st->second_count * 1000000000ULL);
        int n = loop_wait(&loop, events, MAX_EVENTS, now, wake);
        if (n < 0 && errno != EINTR) {
            err = mm_fail(MM_ERR_SYS, why, why_len, "epoll_wait: %s", strerror(errno));
            loop_interrupt(&loop, mm_now_ns());
            break;
        }
        now = mm_now_ns();
        for (int i = 0; i < n; i++)
            mm_bench_conn_event(&loop, events[i].data.ptr, events[i].events, now);
        loop_free_dead(&loop);
    }
    if (cfg->progress)
        mm_bench_report_progress_end();
    mm_bench_stats_close(st, mm_now_ns());
    mm_bench_stats_fluid(st);
    /* round-robin by request number: request k had address k % total */
    mm_bench_config_sources_text(cfg, st->sources_text, sizeof(st->sources_text));
    if (cfg->source_mode == MM_BENCH_SOURCE_RANGES) {
        st->sources_total = cfg->source_total;
        st->sources_used = st->started < cfg->source_total ? st->started : cfg->source_total;
        st->sources_max_per = (st->started + cfg->source_total - 1) / cfg->source_total;
    } else {
        st->sources_used = st->started > 0;
        st->sources_max_per = st->started;
    }
cleanup:
    loop_free_dead(&loop);
    if (loop.epfd >= 0)
        close(loop.epfd);
    if (loop.csv != NULL && fclose(loop.csv) != 0 && err == MM_OK)
        err = mm_fail(MM_ERR_IO, why, why_len, "--requests-csv: cannot write %s: %s", cfg->requests_csv, strerror(errno));
    return err;
}
