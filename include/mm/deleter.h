/*
 * The session delete worker (docs/protocol.md section 4; ARCHITECTURE.md, "Threads of the matchmaker"):
 * takes session ids off DELETE_SESSION_STREAM and deletes them at Edgegap.
 *
 * It is one thread of its own. It pulls from the durable consumer `api-deleter-1` (explicit
 * ack), created with the reference's exact settings when missing and otherwise bound as it is,
 * so ours and the Rust matchmaker can share it during a migration. Each message starts a
 * `DELETE /v1/session/{id}` on its own Edgegap client (include/mm/edgegap.h, one libcurl
 * multi), up to max_in_flight at once, and is settled when its answer arrives:
 *   2xx          ack (deleted)
 *   404, 410     ack (already gone)
 *   429, 5xx other than 501, no answer (connection refused, timeout, reset)
 *                nak with delay = backoff(delivery count): the stream keeps the message and
 *                redelivers it after the delay (to this or another worker) -- never a tight loop
 *   other 4xx, 501 (retrying will not help until someone fixes e.g. the API key)
 *                logged as an error, counted as failed, nak with the maximum delay: the message
 *                is kept, so fixing the configuration later still deletes the session
 *   a payload that is not a session id: logged, acked (it could never succeed)
 * Never twice (when js holds the bucket mm_deleted_sessions, as MM_JS_NEED_ALL sets up): a
 * session whose DELETE was answered 2xx, 404 or 410 is recorded there (key = session id, value
 * = the HTTP status; kept MM_KV_DELETED_SESSIONS_MAX_AGE_MS), and a message for a session on
 * record is acked without any call (stats.skipped): the reaper's replay after a restart, a
 * second enqueue after the stream's duplicate window, another replica's deletion.
 * The delivery count comes from the message's JetStream metadata, so the backoff survives
 * restarts and is shared between workers. After any failed delete the worker also fetches
 * nothing new for one first-retry delay, so a dead or rate-limiting API slows the whole worker. Several workers on the one consumer
 * share the work; a message is with one of them at a time (redelivered only after its ack wait, 30 s, or a nak).
 *
 * Stop: no new messages are fetched; deletes in flight get until stop_deadline_ms to finish
 * and are settled as above; those still running then are cancelled and nak'ed without delay
 * (another worker, or the next start, redelivers them; a delete that did reach Edgegap then
 * answers 410 and is acked).
 *
 * Threads: start/stop/destroy from one owner thread; stats from any thread.
 */
#ifndef MM_DELETER_H
#define MM_DELETER_H

#include <stdint.h>

#include "mm/err.h"
#include "mm/kv.h"

/** The durable pull consumer of the reference (docs/protocol.md section 4). */
#define MM_DELETER_CONSUMER "api-deleter-1"
#define MM_DELETER_CONSUMER_DESCRIPTION "Calls edgegap session delete api"

typedef struct mm_deleter_config {
    const char *base_url;        /* Edgegap API; NULL: MM_EDGEGAP_DEFAULT_BASE_URL */
    const char *api_key;         /* required: the authorization value, "token ..."; never logged */
    uint32_t max_in_flight;      /* deletes running at once (also the fetch batch); 0: 16 */
    uint32_t request_timeout_ms; /* one DELETE; 0: 10000 (keep it well under the 30 s ack wait) */
    uint64_t backoff_base_ms;    /* delay after the first failed delivery; 0: 1000 */
    uint64_t backoff_max_ms;     /* cap of the delay; 0: 60000 */
    int fetch_wait_ms;           /* longest wait for messages while idle (and for stop to be seen then); 0: 1000 */
    int stop_deadline_ms;        /* how long stop lets deletes in flight finish; 0: 5000 */
    uint64_t consumer_check_ms;  /* while idle, how often to check that the consumer still exists
                                    (a pull from a deleted one just times out); 0: 10000 */
    struct mm_budget *budget;    /* NULL, or the fleet's budget (borrowed, outlives the deleter): with a
                                    delete budget, every DELETE waits for a token of its delete share and
                                    a 429 backs the fleet's deletes off (include/mm/budget.h) */
} mm_deleter_config;

typedef struct mm_deleter_stats {
    uint64_t fetched;      /* messages received (redeliveries included) */
    uint64_t deleted;      /* 2xx: acked */
    uint64_t already_gone; /* 404/410: acked */
    uint64_t retried;      /* retryable failures: nak'ed with a backoff delay */
    uint64_t failed;       /* answers retrying cannot fix: logged, nak'ed with the maximum delay */
    uint64_t invalid;      /* payloads that are not session ids: acked and dropped */
    uint64_t abandoned;    /* still running at the stop deadline: cancelled and nak'ed */
    uint64_t skipped;      /* on record in mm_deleted_sessions: acked, no DELETE sent */
    uint32_t in_flight;    /* deletes running now */
    /* deletions that could not be recorded (publish refused) */
    uint64_t records_failed;
} mm_deleter_stats;

typedef struct mm_deleter mm_deleter;

/**
 * Validates config, creates the Edgegap client and starts the worker thread, which creates or
 * binds the consumer (retrying while NATS or JetStream is unavailable; making it again if it
 * is deleted later) and then works.
 * js must have the delete stream set up and must outlive the worker. config's strings are
 * copied. MM_ERR_INVALID (why says what), MM_ERR_NOMEM, MM_ERR_SYS.
 */
mm_err mm_deleter_start(const mm_deleter_config *config, mm_js *js, mm_deleter **out, char *why, size_t why_len);

/** Stops as described above and joins the thread. Idempotent. Accepts NULL. */
void mm_deleter_stop(mm_deleter *deleter);

/** Stops if needed and frees. Accepts NULL. */
void mm_deleter_destroy(mm_deleter *deleter);

/** Counters; any thread. */
void mm_deleter_get_stats(mm_deleter *deleter, mm_deleter_stats *stats);

#endif
