/*
 * The NATS connection (include/mm/nats_env.h).
 *
 * nats.c runs our connection callbacks on its own "async callbacks" thread. They only log and
 * wake waiters: nothing here blocks. The closed callback is the last one nats.c ever runs for a
 * connection, so mm_nats_destroy() closes the connection and waits for it before freeing the
 * struct the callbacks point to (bounded wait: a wedged library must not hang shutdown).
 *
 * Reconnects: MaxReconnect -1 (for ever); after every server in the list failed, the wait is
 * reconnect_wait_ms doubled per round, capped at reconnect_max_wait_ms, plus random jitter so a
 * fleet does not hammer a restarting server in step. The first attempt is made without
 * RetryOnFailedConnect so that a refusal (credentials, TLS) is reported with its reason; only when
 * no server is reachable the connection is reopened with it, and then returns at once.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "mm/log.h"
#include "mm/metrics.h"
#include "mm/nats_env.h"
#include "mm/url.h"
#include "nats_error.h"

#define CLOSE_WAIT_MS 5000

struct mm_nats {
    natsConnection *conn;
    pthread_mutex_t mu;
    pthread_cond_t cond; /* signalled on connected, reconnected and closed */
    bool closed;         /* the closed callback ran (guarded by mu) */
    bool closing;        /* mm_nats_destroy() is closing it (guarded by mu) */
    int reconnect_wait_ms;
    int reconnect_max_wait_ms;
    int reconnect_jitter_ms;
    char name[64];
};

static void
connected_url(natsConnection *nc, char *buf, size_t len)
{
    char raw[256];
    if (natsConnection_GetConnectedUrl(nc, raw, sizeof(raw)) != NATS_OK || raw[0] == '\0')
        snprintf(raw, sizeof(raw), "(unknown)");
    mm_url_redact(raw, buf, len);
}

static bool
is_closing(mm_nats *nats)
{
    pthread_mutex_lock(&nats->mu);
    bool closing = nats->closing;
    pthread_mutex_unlock(&nats->mu);
    return closing;
}

static void
wake(mm_nats *nats, bool closed)
{
    pthread_mutex_lock(&nats->mu);
    if (closed)
        nats->closed = true;
    pthread_cond_broadcast(&nats->cond);
    pthread_mutex_unlock(&nats->mu);
}

static void
on_connected(natsConnection *nc, void *closure)
{
    mm_nats *nats = closure;
    char url[256];
    connected_url(nc, url, sizeof(url));
    mm_info("nats: %s connected to %s", nats->name, url);
    wake(nats, false);
}

static void
on_disconnected(natsConnection *nc, void *closure)
{
    mm_nats *nats = closure;
    const char *last = NULL;
    if (is_closing(nats))
        return;
    natsConnection_GetLastError(nc, &last);
    mm_warn("nats: %s disconnected (%s); reconnecting", nats->name, last != NULL && *last != '\0' ? last : "no error");
}

static void
on_reconnected(natsConnection *nc, void *closure)
{
    mm_nats *nats = closure;
    char url[256];
    connected_url(nc, url, sizeof(url));
    mm_info("nats: %s reconnected to %s", nats->name, url);
    mm_metric_inc(MM_METRIC_NATS_RECONNECTS);
    wake(nats, false);
}

/* The last callback nats.c runs for a connection: after our own close, or when it gave up. */
static void
on_closed(natsConnection *nc, void *closure)
{
    mm_nats *nats = closure;
    if (!is_closing(nats)) {
        const char *last = NULL;
        natsConnection_GetLastError(nc, &last);
        mm_error("nats: %s connection closed for good: %s", nats->name, last != NULL && *last != '\0' ? last : "no error reported");
    }
    wake(nats, true);
}

/*
 * sub is never dereferenced: nats.c 3.4.1 posts an asynchronous error without holding a reference
 * to the subscription, so it may already be freed when this runs (a KV watch's consumer being
 * re-created by nats.c while the watch is destroyed: the cluster fault test crashed in
 * natsSubscription_GetSubject here, seen by ASan).
 */
static void
on_async_error(natsConnection *nc, natsSubscription *sub, natsStatus status, void *closure)
{
    (void)nc;
    mm_nats *nats = closure;
    mm_warn("nats: %s asynchronous error%s: %s", nats->name, sub != NULL ? " on a subscription" : "", natsStatus_GetText(status));
}

static int64_t
reconnect_delay(natsConnection *nc, int attempts, void *closure)
{
    (void)nc;
    mm_nats *nats = closure;
    int64_t delay = nats->reconnect_wait_ms;
    for (int i = 1; i < attempts && delay < nats->reconnect_max_wait_ms; i++)
        delay *= 2;
    if (delay > nats->reconnect_max_wait_ms)
        delay = nats->reconnect_max_wait_ms;
    if (nats->reconnect_jitter_ms > 0)
        delay += randombytes_uniform((uint32_t)nats->reconnect_jitter_ms + 1);
    return delay;
}

/* Applies env and opts to o; on failure why says which setting was refused. */
static natsStatus
options_apply(natsOptions *o, mm_nats *nats, const mm_nats_env *env, const mm_nats_connect_opts *opts, char *why, size_t why_len)
{
    natsStatus s = natsOptions_SetServers(o, (const char **)env->servers, env->server_count);
    if (s == NATS_OK)
        s = natsOptions_SetName(o, nats->name);
    if (s == NATS_OK && env->user != NULL)
        s = natsOptions_SetUserInfo(o, env->user, env->password);
    if (s == NATS_OK && !env->insecure) {
        s = natsOptions_SetSecure(o, true);
        if (s != NATS_OK) {
            snprintf(why, why_len, "TLS is required (NATS_INSECURE is not set) but cannot be enabled: %s", natsStatus_GetText(s));
            return s;
        }
        if (env->ca_path != NULL && (s = natsOptions_LoadCATrustedCertificates(o, env->ca_path)) != NATS_OK) {
            snprintf(why, why_len, "cannot load the CA certificate %s (NATS_CA / NATS_CA_CONTENTS): %s", env->ca_path,
                     mm__nats_error_text());
            return s;
        }
    }
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(o, nats->reconnect_wait_ms);
    if (s == NATS_OK)
        s = natsOptions_SetCustomReconnectDelay(o, reconnect_delay, nats);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(o, on_disconnected, nats);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(o, on_reconnected, nats);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(o, on_closed, nats);
    if (s == NATS_OK)
        s = natsOptions_SetErrorHandler(o, on_async_error, nats);
    if (s == NATS_OK && opts->send_asap)
        s = natsOptions_SetSendAsap(o, true);
    if (s != NATS_OK)
        snprintf(why, why_len, "NATS options refused: %s", mm__nats_error_text());
    return s;
}

mm_err
mm_nats_connect(const mm_nats_env *env, const mm_nats_connect_opts *opts, mm_nats **out, char *why, size_t why_len)
{
    static const mm_nats_connect_opts defaults = {0};
    mm_err err = MM_OK;
    natsOptions *o = NULL;
    char reason[512] = "";
    if (opts == NULL)
        opts = &defaults;
    if (sodium_init() < 0) /* randombytes for the reconnect jitter */
        return MM_ERR_CRYPTO;
    mm_nats *nats = calloc(1, sizeof(*nats));
    if (nats == NULL)
        return MM_ERR_NOMEM;
    pthread_mutex_init(&nats->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&nats->cond, &ca);
    pthread_condattr_destroy(&ca);
    snprintf(nats->name, sizeof(nats->name), "%s", opts->name != NULL ? opts->name : "mm");
    nats->reconnect_wait_ms = opts->reconnect_wait_ms > 0 ? opts->reconnect_wait_ms : 250;
    nats->reconnect_max_wait_ms = opts->reconnect_max_wait_ms > 0 ? opts->reconnect_max_wait_ms : 2000;
    nats->reconnect_jitter_ms = opts->reconnect_jitter_ms > 0 ? opts->reconnect_jitter_ms : 100;

    if (natsOptions_Create(&o) != NATS_OK) {
        snprintf(reason, sizeof(reason), "cannot create NATS options: %s", mm__nats_error_text());
        err = MM_ERR_NOMEM;
        goto cleanup;
    }
    if (options_apply(o, nats, env, opts, reason, sizeof(reason)) != NATS_OK) {
        err = MM_ERR_INVALID;
        goto cleanup;
    }
    char first[256];
    mm_url_redact(env->servers[0], first, sizeof(first)); /* "nats://u:p@h": the password stays out of the log */
    mm_info("nats: %s connecting to %s%s%s, %s%s%s", nats->name, first, env->server_count > 1 ? " (and others)" : "",
            env->user != NULL ? " with a user and password" : "", env->insecure ? "TLS off (NATS_INSECURE)" : "TLS on",
            !env->insecure && env->ca_path != NULL ? ", CA " : "", !env->insecure && env->ca_path != NULL ? env->ca_path : "");
    if (env->insecure && env->ca_path != NULL)
        mm_warn("nats: NATS_INSECURE is set, so the CA certificate %s is not used", env->ca_path);

    /*
     * One plain attempt first: errors that retrying cannot fix (refused credentials, a TLS
     * handshake failure) come back here with their real reason, which nats.c no longer reports
     * once its background retry gives up. Only "no server reachable" switches to retrying.
     */
    natsStatus s = natsOptions_SetRetryOnFailedConnect(o, false, NULL, NULL);
    if (s == NATS_OK)
        s = natsConnection_Connect(&nats->conn, o);
    if (s == NATS_NO_SERVER) {
        mm_warn("nats: %s: no server reachable yet (%s), retrying in the background", nats->name, mm__nats_error_text());
        s = natsOptions_SetRetryOnFailedConnect(o, true, on_connected, nats);
        if (s == NATS_OK)
            s = natsConnection_Connect(&nats->conn, o);
        if (s == NATS_NOT_YET_CONNECTED) /* on_connected() will say when */
            s = NATS_OK;
        else if (s == NATS_OK)
            on_connected(nats->conn, nats);
    } else if (s == NATS_OK) {
        on_connected(nats->conn, nats);
    }
    if (s != NATS_OK) {
        snprintf(reason, sizeof(reason), "cannot connect to NATS: %s", mm__nats_error_text());
        err = MM_ERR_IO;
        goto cleanup;
    }
    *out = nats;
    nats = NULL;

cleanup:
    natsOptions_Destroy(o);
    if (nats != NULL) {
        pthread_cond_destroy(&nats->cond);
        pthread_mutex_destroy(&nats->mu);
        free(nats);
    }
    if (err != MM_OK && why != NULL && why_len > 0)
        snprintf(why, why_len, "%s", reason);
    return err;
}

static void
deadline_after(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

bool
mm_nats_is_connected(mm_nats *nats)
{
    return nats != NULL && natsConnection_Status(nats->conn) == NATS_CONN_STATUS_CONNECTED;
}

mm_err
mm_nats_wait_connected(mm_nats *nats, int64_t timeout_ms)
{
    struct timespec deadline;
    deadline_after(&deadline, timeout_ms < 0 ? 0 : timeout_ms);
    mm_err err = MM_OK;
    pthread_mutex_lock(&nats->mu);
    while (!mm_nats_is_connected(nats)) {
        if (nats->closed) {
            err = MM_ERR_STOPPED;
            break;
        }
        int rc = pthread_cond_timedwait(&nats->cond, &nats->mu, &deadline);
        if (rc == ETIMEDOUT && !mm_nats_is_connected(nats)) {
            err = MM_ERR_TIMEOUT;
            break;
        }
    }
    pthread_mutex_unlock(&nats->mu);
    return err;
}

natsConnection *
mm_nats_connection(mm_nats *nats)
{
    return nats->conn;
}

void
mm_nats_last_error(mm_nats *nats, char *buf, size_t len)
{
    const char *last = NULL;
    natsConnection_GetLastError(nats->conn, &last);
    snprintf(buf, len, "%s", last != NULL ? last : "");
}

void
mm_nats_destroy(mm_nats *nats)
{
    if (nats == NULL)
        return;
    if (mm_nats_is_connected(nats))
        natsConnection_FlushTimeout(nats->conn, 1000);
    pthread_mutex_lock(&nats->mu);
    nats->closing = true;
    pthread_mutex_unlock(&nats->mu);
    natsConnection_Close(nats->conn);
    struct timespec deadline;
    deadline_after(&deadline, CLOSE_WAIT_MS);
    pthread_mutex_lock(&nats->mu);
    while (!nats->closed)
        if (pthread_cond_timedwait(&nats->cond, &nats->mu, &deadline) == ETIMEDOUT)
            break;
    bool closed = nats->closed;
    pthread_mutex_unlock(&nats->mu);
    natsConnection_Destroy(nats->conn);
    if (!closed) {
        /* Its callbacks may still run: leak the small struct rather than let them touch freed memory. */
        mm_error("nats: %s did not report closing within %d ms", nats->name, CLOSE_WAIT_MS);
        return;
    }
    pthread_cond_destroy(&nats->cond);
    pthread_mutex_destroy(&nats->mu);
    free(nats);
}
