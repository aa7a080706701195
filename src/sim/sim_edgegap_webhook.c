/*
 * Webhook delivery thread of edgegap_sim (src/sim/sim_edgegap_webhook.h).
 *
 * Owns: a libcurl multi handle, the jobs in flight (at most MAX_IN_FLIGHT, the rest wait in the
 * ring). Receives: jobs from the loop thread through an SPSC ring. Sends: HTTP POSTs, nothing
 * back to the loop except three atomic counters. Never: touches the world or the loop, blocks
 * the producer (a full ring is reported to it), or retries a failed delivery.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <ck_ring.h>
#include <curl/curl.h>

#include "mm/log.h"
#include "sim_alloc.h"
#include "sim_edgegap_webhook.h"
#include "mm/url.h"

#define MAX_IN_FLIGHT 64

/* A webhook URL for a log line, credentials masked (a compound literal: valid in the statement). */
#define SHOWN(url) mm_url_redact((url), (char[512]){0}, 512)

/* Concurrency Kit hands ring slots over with fences ThreadSanitizer cannot see: tell it, at the
 * points where the hand-over really happens (as the runtime's inbox does): the producer
 * releases p_tail after writing a slot and before publishing it; the consumer acquires p_tail
 * after it has seen the slot published and before reading it, and releases c_head before giving
 * the slot back. So the annotations go around the slot itself, not around the ring's calls. */
#if defined(__SANITIZE_THREAD__) || defined(MM_SANITIZE_THREAD)
#include <sanitizer/tsan_interface.h>
#define TSAN_RELEASE(addr) __tsan_release((void *)(addr))
#define TSAN_ACQUIRE(addr) __tsan_acquire((void *)(addr))
#else
#define TSAN_RELEASE(addr) ((void)(addr))
#define TSAN_ACQUIRE(addr) ((void)(addr))
#endif

/* Takes the next job from the ring (the consumer's side of ck_ring_dequeue_spsc, annotated). */
static bool
ring_take(struct ck_ring *r, struct ck_ring_buffer *slots, void **out)
{
    unsigned int consumer = ck_pr_load_uint(&r->c_head);
    unsigned int producer = ck_pr_load_uint(&r->p_tail);
    if (consumer == producer)
        return false;
    ck_pr_fence_load();
    TSAN_ACQUIRE(&r->p_tail);
    *out = slots[consumer & r->mask].value;
    TSAN_RELEASE(&r->c_head);
    ck_pr_fence_store();
    ck_pr_store_uint(&r->c_head, consumer + 1);
    return true;
}

typedef struct job {
    char *url;
    char *body;
    CURL *easy;
    struct job *next_in_flight;
} job;

struct mm_sim_webhook {
    pthread_t thread;
    CURLM *multi;
    struct curl_slist *headers;
    struct ck_ring ring;
    struct ck_ring_buffer *slots;
    uint64_t timeout_ms;
    atomic_bool stop;
    atomic_uint_fast64_t sent, failed, pending;
    job *in_flight; /* owned by the delivery thread */
    int n_in_flight;
};

static void
job_free(job *j)
{
    if (j == NULL)
        return;
    free(j->url);
    free(j->body);
    free(j);
}

/* The receiver's answer body is of no interest (only its status is). */
static size_t
discard(char *data, size_t size, size_t n, void *user)
{
    (void)data;
    (void)user;
    return size * n;
}

static void
job_start(mm_sim_webhook *wh, job *j)
{
    j->easy = curl_easy_init();
    if (j->easy == NULL) {
        mm_warn("webhook to %s failed: curl_easy_init", SHOWN(j->url));
        atomic_fetch_add(&wh->failed, 1);
        atomic_fetch_sub(&wh->pending, 1);
        job_free(j);
        return;
    }
    curl_easy_setopt(j->easy, CURLOPT_URL, j->url);
    curl_easy_setopt(j->easy, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(j->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(j->body));
    curl_easy_setopt(j->easy, CURLOPT_HTTPHEADER, wh->headers);
    curl_easy_setopt(j->easy, CURLOPT_TIMEOUT_MS, (long)wh->timeout_ms);
    curl_easy_setopt(j->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(j->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(j->easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(j->easy, CURLOPT_PRIVATE, j);
    if (curl_multi_add_handle(wh->multi, j->easy) != CURLM_OK) {
        mm_warn("webhook to %s failed: curl_multi_add_handle", SHOWN(j->url));
        curl_easy_cleanup(j->easy);
        atomic_fetch_add(&wh->failed, 1);
        atomic_fetch_sub(&wh->pending, 1);
        job_free(j);
        return;
    }
    j->next_in_flight = wh->in_flight;
    wh->in_flight = j;
    wh->n_in_flight++;
}

static void
in_flight_remove(mm_sim_webhook *wh, job *j)
{
    for (job **p = &wh->in_flight; *p != NULL; p = &(*p)->next_in_flight)
        if (*p == j) {
            *p = j->next_in_flight;
            wh->n_in_flight--;
            return;
        }
}

static void
job_finish(mm_sim_webhook *wh, CURL *easy, CURLcode result)
{
    job *j = NULL;
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&j);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    if (result != CURLE_OK) {
        mm_warn("webhook to %s failed: %s", SHOWN(j->url), curl_easy_strerror(result));
        atomic_fetch_add(&wh->failed, 1);
    } else if (status < 200 || status >= 300) {
        mm_warn("webhook to %s failed: the receiver answered %ld", SHOWN(j->url), status);
        atomic_fetch_add(&wh->failed, 1);
    } else {
        atomic_fetch_add(&wh->sent, 1);
    }
    curl_multi_remove_handle(wh->multi, easy);
    curl_easy_cleanup(easy);
    in_flight_remove(wh, j);
    atomic_fetch_sub(&wh->pending, 1);
    job_free(j);
}

static void *
delivery_main(void *arg)
{
    mm_sim_webhook *wh = arg;
    while (!atomic_load(&wh->stop)) {
        void *j;
        while (wh->n_in_flight < MAX_IN_FLIGHT && ring_take(&wh->ring, wh->slots, &j))
            job_start(wh, j);
        int running = 0;
        curl_multi_perform(wh->multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(wh->multi, &left)) != NULL)
            if (msg->msg == CURLMSG_DONE)
                job_finish(wh, msg->easy_handle, msg->data.result);
        curl_multi_poll(wh->multi, NULL, 0, 1000, NULL);
    }
    return NULL;
}

mm_err
mm_sim_webhook_start(uint32_t queue_cap, uint64_t timeout_ms, mm_sim_webhook **out)
{
    mm_sim_webhook *wh = mm_sim_xcalloc(1, sizeof(*wh));
    uint32_t cap = 2;
    while (cap < queue_cap + 1 && cap < (1u << 24))
        cap <<= 1;
    wh->slots = mm_sim_xcalloc(cap, sizeof(*wh->slots));
    ck_ring_init(&wh->ring, cap);
    wh->timeout_ms = timeout_ms;
    atomic_init(&wh->stop, false);
    atomic_init(&wh->sent, 0);
    atomic_init(&wh->failed, 0);
    atomic_init(&wh->pending, 0);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || (wh->multi = curl_multi_init()) == NULL) {
        mm_error("webhooks: libcurl did not initialise");
        goto cleanup;
    }
    wh->headers = curl_slist_append(NULL, "Content-Type: application/json");
    /* the delivery thread (and libcurl's resolver threads, which inherit its mask) takes no
     * signals: SIGTERM and SIGINT reach the thread that started us, whose loop watches the flag */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = wh->headers != NULL ? pthread_create(&wh->thread, NULL, delivery_main, wh) : -1;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        mm_error("webhooks: cannot start the delivery thread");
        goto cleanup;
    }
    *out = wh;
    return MM_OK;

cleanup:
    curl_slist_free_all(wh->headers);
    if (wh->multi != NULL)
        curl_multi_cleanup(wh->multi);
    free(wh->slots);
    free(wh);
    return MM_ERR_SYS;
}

mm_err
mm_sim_webhook_post(mm_sim_webhook *wh, const char *url, const char *body)
{
    job *j = mm_sim_xcalloc(1, sizeof(*j));
    j->url = mm_sim_xstrdup(url);
    j->body = mm_sim_xstrdup(body);
    atomic_fetch_add(&wh->pending, 1);
    void **slot = ck_ring_enqueue_reserve_spsc(&wh->ring, wh->slots);
    if (slot != NULL) {
        TSAN_ACQUIRE(&wh->ring.c_head);
        *slot = j;
        TSAN_RELEASE(&wh->ring.p_tail);
        ck_ring_enqueue_commit_spsc(&wh->ring);
    } else {
        atomic_fetch_sub(&wh->pending, 1);
        atomic_fetch_add(&wh->failed, 1);
        mm_warn("webhook to %s failed: delivery queue full (%u waiting)", SHOWN(url), ck_ring_size(&wh->ring));
        job_free(j);
        return MM_ERR_FULL;
    }
    curl_multi_wakeup(wh->multi);
    return MM_OK;
}

mm_sim_webhook_counts
mm_sim_webhook_get_counts(const mm_sim_webhook *wh)
{
    mm_sim_webhook_counts c = {0, 0, 0};
    if (wh != NULL) {
        c.sent = atomic_load(&((mm_sim_webhook *)wh)->sent);
        c.failed = atomic_load(&((mm_sim_webhook *)wh)->failed);
        c.pending = atomic_load(&((mm_sim_webhook *)wh)->pending);
    }
    return c;
}

void
mm_sim_webhook_reset_counts(mm_sim_webhook *wh)
{
    if (wh == NULL)
        return;
    atomic_store(&wh->sent, 0);
    atomic_store(&wh->failed, 0);
}

void
mm_sim_webhook_stop(mm_sim_webhook *wh)
{
    if (wh == NULL)
        return;
    atomic_store(&wh->stop, true);
    curl_multi_wakeup(wh->multi);
    pthread_join(wh->thread, NULL);
    while (wh->in_flight != NULL) {
        job *j = wh->in_flight;
        wh->in_flight = j->next_in_flight;
        curl_multi_remove_handle(wh->multi, j->easy);
        curl_easy_cleanup(j->easy);
        job_free(j);
    }
    void *j;
    while (ring_take(&wh->ring, wh->slots, &j))
        job_free(j);
    curl_multi_cleanup(wh->multi);
    curl_slist_free_all(wh->headers);
    curl_global_cleanup();
    free(wh->slots);
    free(wh);
}
