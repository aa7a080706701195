/*
 * bevygap_matchmaker: the drop-in for the reference matchmaker (docs/protocol.md sections 3-5, 8;
 * ARCHITECTURE.md, "Threads of the matchmaker"). main() only wires the blocks together:
 * flags and environment -> NATS + JetStream setup -> Edgegap app/version check -> minter,
 * provisioner, cert_digests watcher, reaper, delete worker, intake -> wait for SIGTERM/SIGINT
 * -> stop what brings requests in before what serves them (intake, front, provisioner; see
 * stop_services), all stages within one --stop-deadline-ms counted from the signal; the last
 * line logged says how the drain went ("stopped: drained N requests ..., M answered 503 ...").
 * Exit status: 0 after a signal, 1 a runtime failure (NATS, unknown app), 2 a bad flag or
 * environment variable.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

#include "matchmaker.h"
#include "mm/deleter.h"
#include "mm/direct_backend.h"
#include "mm/edgegap.h"
#include "mm/front.h"
#include "mm/intake.h"
#include "mm/kv.h"
#include "mm/kv_watch.h"
#include "mm/clock.h"
#include "mm/crash.h"
#include "mm/log.h"
#include "mm/admin_http.h"
#include "mm/metrics.h"
#include "mm/minter.h"
#include "mm/nats_env.h"
#include "mm/orphans.h"
#include "mm/budget.h"
#include "mm/provisioner.h"
#include "mm/waiting_room.h"
#include "mm/reaper.h"
#include "mm/reply.h"
#include "mm/request.h"
#include "mm/url.h"

typedef struct app_check {
    bool done;
    mm_edgegap_outcome outcome;
    long status;
    bool is_active;
    char message[MM_EDGEGAP_MAX_MESSAGE + 1];
} app_check;

static void
on_check(void *ctx, const mm_edgegap_result *res)
{
    app_check *c = ctx;
    c->done = true;
    c->outcome = res->outcome;
    c->status = res->status;
    c->is_active = res->is_active;
    snprintf(c->message, sizeof(c->message), "%s", res->message);
}

static bool
signalled(const sigset_t *set)
{
    struct timespec zero = {0, 0};
    return sigtimedwait(set, NULL, &zero) > 0;
}

/* Runs the app and version checks on a client of our own. Returns the exit status (0: go on). */
static int
check_app(const mm_matchmaker_flags *f, const char *api_key, const sigset_t *sigs)
{
    char why[200], shown[1100]; /* a base URL has at most 1024 bytes */
    mm_edgegap *eg = NULL;
    mm_edgegap_config ec = {.base_url = f->edgegap_url, .api_key = api_key, .request_timeout_ms = (uint32_t)f->edgegap_timeout_ms};
    if (mm_edgegap_create(&ec, &eg, why, sizeof(why)) != MM_OK) {
        fprintf(stderr, "bevygap_matchmaker: --edgegap-url: %s\n", why);
        return 2;
    }
    int rc = 0;
    app_check app = {0}, version = {0};
    if (mm_edgegap_app_get(eg, f->app_name, on_check, &app) != MM_OK ||
        mm_edgegap_version_get(eg, f->app_name, f->app_version, on_check, &version) != MM_OK) {
        mm_error("cannot check app %s version %s: %s", f->app_name, f->app_version, mm_edgegap_last_error(eg));
        rc = 1;
        goto cleanup;
    }
    while (!(app.done && version.done)) {
        if (signalled(sigs)) {
            rc = 1;
            goto cleanup;
        }
        mm_edgegap_fds_wait(eg, -1, 200);
        mm_edgegap_perform(eg);
    }
    if (app.outcome == MM_EDGEGAP_HTTP_ERROR && app.status == 404) {
        mm_error("Edgegap app '%s' not found (404: %s)", f->app_name, app.message);
        rc = 1;
    } else if (app.outcome != MM_EDGEGAP_OK) {
        if (app.status > 0)
            mm_error("checking Edgegap app '%s' failed: HTTP %ld: %s", f->app_name, app.status, app.message);
        else
            mm_error("checking Edgegap app '%s' failed: no answer from %s: %s", f->app_name,
                     mm_url_redact(f->edgegap_url, shown, sizeof(shown)), app.message);
        rc = 1;
    } else if (version.outcome != MM_EDGEGAP_OK) {
        if (version.status > 0)
            mm_error("Edgegap app '%s' version '%s': HTTP %ld: %s", f->app_name, f->app_version, version.status, version.message);
        else
            mm_error("Edgegap app '%s' version '%s': no answer: %s", f->app_name, f->app_version, version.message);
    } else if (!version.is_active) {
        mm_error("Edgegap app '%s' version '%s' is not active: sessions will fail", f->app_name, f->app_version);
    } else {
        mm_info("Edgegap app '%s' version '%s' is active", f->app_name, f->app_version);
    }
cleanup:
    mm_edgegap_destroy(eg);
    return rc;
}

typedef struct services {
    mm_nats_env *env;
    mm_nats *nats;
    mm_js *js;
    mm_minter *minter;
    mm_provisioner *prov;
    mm_budget *budget; /* --edgegap-budget only */
    mm_kv_watch *certs;
    mm_reaper *reaper;
    mm_deleter *deleter;
    mm_orphans *orphans; /* webhooks on with --orphan-grace-ms > 0 */
    mm_intake *intake;
    /* heartbeats on reply streams that ask for them */
    mm_reply_heartbeat *heartbeat;
    mm_direct_backend *direct; /* --http only */
    mm_front *front;           /* --http only */
    mm_admin_http *admin;      /* --admin-bind without --http (with --http the front serves it) */
    atomic_bool serving;       /* every service started and no stop began: /readyz */
} services;

/* The admin listener's /readyz (split mode): started, not stopping, NATS connected. */
static bool
admin_ready(void *ctx)
{
    services *s = ctx;
    return atomic_load(&s->serving) && s->nats != NULL &&
           natsConnection_Status(mm_nats_connection(s->nats)) == NATS_CONN_STATUS_CONNECTED;
}

static size_t
admin_render(void *ctx, char *buf, size_t len)
{
    (void)ctx;
    return mm_metrics_render(buf, len);
}

/* The all-in-one /metrics: the front's backend's lines, then the matchmaker's registry. */
static size_t
direct_metrics(void *ctx, char *buf, size_t len)
{
    size_t n = mm_direct_backend_metrics(ctx, buf, len);
    return n + mm_metrics_render(buf + n, len - n);
}

static int
start_services(services *s, const mm_matchmaker_flags *f, const char *api_key)
{
    char why[256];
    natsConnection *nc = mm_nats_connection(s->nats);
    mm_minter_config mc = {.key = &f->key, .protocol_id = f->protocol_id, .byte_order = f->byte_order};
    if (mm_minter_start(&mc, &s->minter) != MM_OK) {
        mm_error("the token minter did not start");
        return 1;
    }
    if (f->edgegap_budget > 0) {
        mm_budget_config bc = {
            .nc = nc,
            .js = mm_js_ctx(s->js),
            .budget_rps = (double)f->edgegap_budget,
            .get_rps = (double)f->edgegap_get_budget,
            .delete_rps = (double)f->edgegap_delete_budget,
            .heartbeat_ms = f->fleet_heartbeat_ms,
            .kv_replicas = f->kv_replicas,
            .memory_storage = f->kv_memory,
        };
        if (mm_budget_start(&bc, &s->budget, why, sizeof(why)) != MM_OK) {
            mm_error("%s", why);
            return 1;
        }
    }
    if (f->webhooks && f->orphan_grace_ms > 0) {
        mm_orphans_config oc = {.nc = nc, .js = s->js, .grace_ms = f->orphan_grace_ms};
        if (mm_orphans_start(&oc, &s->orphans, why, sizeof(why)) != MM_OK) {
            mm_error("%s", why);
            return 1;
        }
    }
    mm_provisioner_config pc = {
        .nc = nc,
        .js = s->js,
        .minter = s->minter,
        .edgegap_url = f->edgegap_url,
        .api_key = api_key,
        .app = f->app_name,
        .version = f->app_version,
        .webhook_url = f->webhook_url,
        .intent_replica = mm_orphans_replica(s->orphans),
        .port_name = f->port_name,
        .max_in_flight = (uint32_t)f->max_edgegap_in_flight,
        .max_queued = (uint32_t)f->max_edgegap_queued,
        .edgegap_timeout_ms = (uint32_t)f->edgegap_timeout_ms,
        .create_retries = (uint32_t)f->edgegap_retries,
        .backoff_base_ms = f->edgegap_backoff_ms,
        .poll_delay_ms = f->poll_delay_ms,
        .poll_interval_ms = f->poll_interval_ms,
        .session_timeout_ms = f->session_timeout_ms,
        .cert_wait_ms = f->cert_wait_ms,
        .webhook_poll_ms = f->webhooks ? f->webhook_poll_ms : 0,
        .budget = s->budget,
        .waiting_room_max = (uint32_t)f->waiting_room_max,
        .max_line_wait_ms = f->max_line_wait_ms,
    };
    if (mm_provisioner_start(&pc, &s->prov, why, sizeof(why)) != MM_OK) {
        mm_error("%s", why);
        return 1;
    }
    mm_kv_watch_config wc = {
        .nc = nc,
        .js = s->js,
        .bucket = MM_KV_CERT_DIGESTS,
        .target = mm_provisioner_actor(s->prov),
        .msg_type = MM_PROVISIONER_MSG_CERT_EVENT,
    };
    if (mm_kv_watch_start(&wc, &s->certs, why, sizeof(why)) != MM_OK) {
        mm_error("cert_digests watcher: %s", why);
        return 1;
    }
    mm_reaper_config rc = {.age_limit_ms = f->reaper_age_ms, .margin_ms = f->reaper_margin_ms, .scan_period_ms = f->reaper_scan_ms};
    if (mm_reaper_start(&rc, nc, s->js, &s->reaper, why, sizeof(why)) != MM_OK) {
        mm_error("reaper: %s", why);
        return 1;
    }
    mm_deleter_config dc = {
        .base_url = f->edgegap_url,
        .api_key = api_key,
        .request_timeout_ms = f->edgegap_timeout_ms < 20000 ? (uint32_t)f->edgegap_timeout_ms : 20000, /* < the 30 s ack wait */
        .budget = s->budget,
    };
    if (mm_deleter_start(&dc, s->js, &s->deleter, why, sizeof(why)) != MM_OK) {
        mm_error("delete worker: %s", why);
        return 1;
    }
    if (mm_reply_heartbeat_start(nc, &s->heartbeat) != MM_OK) {
        mm_error("the reply heartbeat thread did not start");
        return 1;
    }
    mm_intake_config ic = {.nc = nc,
                           .provisioner = s->prov,
                           .app = f->app_name,
                           .version = f->app_version,
                           .webhooks = f->webhooks,
                           .orphans = s->orphans,
                           .heartbeat = s->heartbeat};
    if (mm_intake_start(&ic, &s->intake, why, sizeof(why)) != MM_OK) {
        mm_error("%s", why);
        return 1;
    }
    if (f->http != NULL) {
        /* all-in-one: the web front's requests go straight to the provisioner */
        mm_direct_backend_config bc = {
            .provisioner = s->prov, .orphans = s->orphans, .nc = nc, .app = f->app_name, .version = f->app_version};
        if (mm_direct_backend_create(&bc, &s->direct, why, sizeof(why)) != MM_OK) {
            mm_error("%s", why);
            return 1;
        }
        mm_front_backend backend;
        mm_direct_backend_backend(s->direct, &backend);
        backend.metrics = direct_metrics; /* the same mm_* series as --admin-bind in split mode */
        if (mm_front_start(&f->front, &backend, &s->front, why, sizeof(why)) != MM_OK) {
            mm_error("%s", why);
            return 1;
        }
    }
    return 0;
}

/* What is left of the stop deadline at `stop_at` (ms, mm_now_ms' clock). */
static uint64_t
left_ms(uint64_t stop_at)
{
    uint64_t now = mm_now_ms();
    return stop_at > now ? stop_at - now : 0;
}

/*
 * One deadline for the whole process, from the signal: each stage gets what is left of it, so
 * the process ends within --stop-deadline-ms (plus the closing of sockets and threads) instead
 * of one deadline per stage. The intake leaves its queue groups first (NATS requests go to the
 * other replicas at once); the web front stops accepting and lets its requests finish; the
 * provisioner then gets what is left (nothing, when the front used it all: its clients were
 * told 503, and the sessions their requests had made are enqueued for deletion).
 */
static void
stop_services(services *s, const mm_matchmaker_flags *f, int rc)
{
    uint64_t stop_at = mm_now_ms() + f->stop_deadline_ms;
    atomic_store(&s->serving, false);
    mm_admin_http_stopping(s->admin);
    mm_provisioner_stats at_signal, at_end;
    mm_provisioner_get_stats(s->prov, &at_signal);
    uint64_t intake_ms = left_ms(stop_at) < 2000 ? left_ms(stop_at) : 2000;
    mm_intake_stop(s->intake, (int64_t)intake_ms);
    /* the web front (include/mm/front.h): stop accepting, let its requests finish */
    if (s->front != NULL)
        mm_front_stop(s->front, (uint32_t)left_ms(stop_at));
    mm_direct_backend_close(s->direct);
    mm_provisioner_stop(s->prov, left_ms(stop_at));
    mm_provisioner_get_stats(s->prov, &at_end);
    if (s->prov != NULL) {
        mm_provisioner_stats ps;
        mm_provisioner_get_stats(s->prov, &ps);
        mm_intake_stats is;
        mm_intake_get_stats(s->intake, &is);
        mm_info("provisioner: %llu sessions polled with %llu GETs; webhooks: %llu received (%llu over NATS, %llu bad), "
                "%llu refused, %llu ignored (%llu early), %llu rate-limited, %llu GETs",
                (unsigned long long)ps.sessions_polled, (unsigned long long)ps.gets, (unsigned long long)ps.webhooks_received,
                (unsigned long long)is.webhooks, (unsigned long long)is.webhooks_bad, (unsigned long long)ps.webhooks_refused,
                (unsigned long long)ps.webhooks_ignored, (unsigned long long)ps.webhooks_early,
                (unsigned long long)ps.webhooks_rate_limited,
                (unsigned long long)ps.webhook_gets);
    }
    if (s->budget != NULL) {
        mm_budget_stats bs;
        mm_budget_get_stats(s->budget, &bs);
        mm_waiting_room_stats ws;
        mm_provisioner_waiting_room_stats(s->prov, &ws);
        mm_info("budget: share %.2f of %.2f requests/s (%u replicas, x%.3f); %llu granted, %llu 429s, %llu halvings, "
                "%llu back-off notes sent, %llu heard; waiting room: %llu admitted, %llu refused, %llu left, %llu waited too long",
                bs.share_rps, bs.budget_rps, bs.replicas, bs.multiplier, (unsigned long long)bs.granted,
                (unsigned long long)bs.rate_limited, (unsigned long long)bs.halvings, (unsigned long long)bs.backoffs_sent,
                (unsigned long long)bs.backoffs_heard, (unsigned long long)ws.admitted, (unsigned long long)ws.refused,
                (unsigned long long)ws.left, (unsigned long long)ws.expired);
        for (int c = MM_BUDGET_GET; c < MM_BUDGET_CLASS_COUNT; c++)
            if (bs.class_budget_rps[c] > 0)
                mm_info("budget: %s share %.2f of %.2f requests/s (x%.3f); %llu granted, %llu halvings", mm_budget_class_name(c),
                        bs.class_share_rps[c], bs.class_budget_rps[c], bs.class_multiplier[c],
                        (unsigned long long)bs.class_granted[c], (unsigned long long)bs.class_halvings[c]);
    }
    mm_kv_watch_destroy(s->certs);
    mm_provisioner_destroy(s->prov);
    mm_front_destroy(s->front); /* after the provisioner freed the relay sinks it held */
    mm_direct_backend_destroy(s->direct);
    mm_reaper_destroy(s->reaper);
    mm_deleter_destroy(s->deleter);
    if (s->orphans != NULL) {
        mm_orphans_stats os;
        mm_orphans_get_stats(s->orphans, &os);
        mm_info("orphans: %llu webhooks of other replicas' creates checked (%llu dropped): %llu settled, %llu replica alive, "
                "%llu recorded, %llu in doubt, %llu orphans deleted",
                (unsigned long long)os.offered, (unsigned long long)os.dropped, (unsigned long long)os.settled,
                (unsigned long long)os.alive, (unsigned long long)os.recorded, (unsigned long long)os.doubt,
                (unsigned long long)os.deleted);
    }
    mm_intake_destroy(s->intake); /* before the orphans it offers to; destroying twice is harmless */
    s->intake = NULL;
    mm_orphans_destroy(s->orphans);
    mm_budget_destroy(s->budget); /* after the provisioner and the deleter: their gates drew from it; deletes our mm_fleet entry */
    mm_minter_destroy(s->minter);
    mm_intake_destroy(s->intake);
    if (s->heartbeat != NULL) {
        mm_reply_heartbeat_stats hs;
        mm_reply_heartbeat_get_stats(s->heartbeat, &hs);
        mm_info("heartbeats: %llu requests attached (%llu per process), %llu heartbeats on reply subjects, %llu liveness "
                "messages on %s.%s, %llu cancels (%llu for no request held)",
                (unsigned long long)hs.attached, (unsigned long long)hs.attached_liveness, (unsigned long long)hs.sent,
                (unsigned long long)hs.alive, MM_REPLY_ALIVE_PREFIX, mm_reply_heartbeat_replica(s->heartbeat),
                (unsigned long long)hs.cancels, (unsigned long long)hs.cancels_unknown);
    }
    mm_reply_heartbeat_destroy(s->heartbeat); /* every sink is freed: the provisioner and the intake are gone */
    mm_js_destroy(s->js);
    mm_admin_http_destroy(s->admin); /* it reads only the registry and, for /readyz, `serving` */
    s->admin = NULL;
    mm_nats_destroy(s->nats);
    mm_nats_env_destroy(s->env);
    /* The last line: what the drain did. Drained = requests that ended on their own after the
     * signal (ready or with the matchmaker's own error), 503 = those the deadline cut. */
    uint64_t ended = (at_end.ready + at_end.failed) - (at_signal.ready + at_signal.failed);
    mm_info("stopped: drained %llu requests (%llu ready, %llu failed), %llu answered 503 at the deadline, exit %d",
            (unsigned long long)ended, (unsigned long long)(at_end.ready - at_signal.ready),
            (unsigned long long)(at_end.failed - at_signal.failed), (unsigned long long)(at_end.stopped - at_signal.stopped), rc);
}

int
main(int argc, char **argv)
{
    mm_matchmaker_flags f;
    int rc = mm_matchmaker_flags_parse(argc, argv, &f);
    if (rc != 0) {
        mm_matchmaker_flags_dispose(&f);
        return rc == 1 ? 0 : 2;
    }
    mm_log_setup("bevygap_matchmaker", f.log_level, f.log_format);
    mm_metrics_init(NULL);
    mm_crash_report_install("bevygap_matchmaker");
    if (f.key_source == NULL)
        mm_warn("no Lightyear private key given: using the all-zero key (the reference's default); set "
                "--lightyear-private-key-file or LIGHTYEAR_PRIVATE_KEY for anything public");
    else
        mm_info("Lightyear private key from %s", f.key_source);
    services s = {0};
    char why[256];
    const char *var = NULL;
    /* signals are taken with sigtimedwait/sigwait: block them before any thread starts */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    const char *api_key = getenv("EDGEGAP_API_KEY");
    if (api_key == NULL || api_key[0] == '\0') {
        fprintf(stderr, "bevygap_matchmaker: EDGEGAP_API_KEY is not set\n");
        rc = 2;
        goto cleanup;
    }
    mm_err err = mm_nats_env_read(&s.env, &var, why, sizeof(why));
    if (err != MM_OK) {
        fprintf(stderr, "bevygap_matchmaker: %s\n", why);
        rc = err == MM_ERR_INVALID ? 2 : 1;
        goto cleanup;
    }
    if (!mm_request_name_valid(f.app_name) || !mm_request_name_valid(f.app_version))
        mm_warn("app name '%s' or version '%s' is not one NATS subject token of [A-Za-z0-9_-]: fronts building "
                "matchmaker.request.<game>.<version> will not reach this matchmaker",
                f.app_name, f.app_version);
    uint64_t reap_after = f.reaper_age_ms + f.reaper_margin_ms;
    if (reap_after <= f.session_timeout_ms + f.cert_wait_ms)
        mm_warn("--reaper-age-ms + --reaper-margin-ms (%llu ms) is not more than --session-timeout-ms + --cert-wait-ms "
                "(%llu ms): sessions still being set up may be deleted by the reaper",
                (unsigned long long)reap_after, (unsigned long long)(f.session_timeout_ms + f.cert_wait_ms));
    if (f.front.admin_bind[0] != '\0' && f.http == NULL) { /* split mode: a listener of its own */
        mm_admin_http_config ac = {.bind = f.front.admin_bind, .render = admin_render, .ready = admin_ready, .ctx = &s,
                                   .name = "matchmaker"};
        if (mm_admin_http_start(&ac, &s.admin, why, sizeof(why)) != MM_OK) {
            mm_error("%s", why);
            rc = 1;
            goto cleanup;
        }
    }
    rc = check_app(&f, api_key, &sigs);
    if (rc != 0)
        goto cleanup;
    mm_nats_connect_opts co = {.name = "bevygap_matchmaker"};
    if (mm_nats_connect(s.env, &co, &s.nats, why, sizeof(why)) != MM_OK) {
        mm_error("NATS: %s", why);
        rc = 1;
        goto cleanup;
    }
    while (mm_nats_wait_connected(s.nats, 500) != MM_OK) {
        if (signalled(&sigs))
            goto cleanup;
    }
    mm_js_options jo = {.replicas = f.kv_replicas, .memory_storage = f.kv_memory};
    unsigned needs = MM_JS_NEED_ALL; /* mm_create_intents only with intents: webhooks off, JetStream as before */
    if (!f.webhooks || f.orphan_grace_ms == 0)
        needs &= ~MM_JS_NEED_BUCKET(MM_KV_CREATE_INTENTS);
    if (mm_js_setup_with(mm_nats_connection(s.nats), needs, &jo, &s.js, why, sizeof(why)) != MM_OK) {
        mm_error("JetStream: %s", why);
        rc = 1;
        goto cleanup;
    }
    rc = start_services(&s, &f, api_key);
    if (rc != 0)
        goto cleanup;
    atomic_store(&s.serving, true);
    char shown[1100]; /* a base URL has at most 1024 bytes */
    mm_info("matchmaker ready: app %s version %s, Edgegap %s", f.app_name, f.app_version,
            mm_url_redact(f.edgegap_url, shown, sizeof(shown)));
    if (f.webhooks) /* the base only: the URL sent to Edgegap holds the secret */
        mm_info("readiness by webhook: Edgegap calls %s/matchmaker/edgegap-webhook/<secret>; fallback poll every %llu ms",
                mm_url_redact(f.webhook_public_url, shown, sizeof(shown)), (unsigned long long)f.webhook_poll_ms);
    int sig = 0;
    sigwait(&sigs, &sig);
    mm_info("signal %d: stopping", sig);
cleanup:
    stop_services(&s, &f, rc);
    mm_matchmaker_flags_dispose(&f);
    nats_Close();
    return rc;
}
