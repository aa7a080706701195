/*
 * bevygap_matchmaker_httpd: the drop-in for the reference web front (docs/protocol.md sections 2 and 3;
 * ARCHITECTURE.md, "Threads of the web front"). main() only wires the blocks together:
 * flags and environment -> NATS connection (reconnecting for ever; the front listens even while
 * NATS is down, and answers 503 until it is up) -> the NATS bridge actor -> the web front with
 * the bridge as its backend (it logs "listening on <addr>") -> wait for SIGTERM/SIGINT -> stop
 * accepting and let requests in flight finish up to --stop-deadline-ms -> stop in the order of
 * include/mm/front.h; the last line says how the drain went ("stopped: drained N requests, M
 * answered 503 at the deadline, exit 0"). Exit status: 0 after a signal, 1 a runtime failure (bind, NATS refused),
 * 2 a bad flag or environment variable.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <nats/nats.h>

#include "httpd.h"
#include "mm/front.h"
#include "mm/crash.h"
#include "mm/log.h"
#include "mm/nats_bridge.h"
#include "mm/nats_env.h"

int
main(int argc, char **argv)
{
    mm_httpd_flags f;
    int rc = mm_httpd_flags_parse(argc, argv, &f);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    mm_log_setup("bevygap_matchmaker_httpd", f.log_level, f.log_format);
    mm_crash_report_install("bevygap_matchmaker_httpd");
    /* signals are taken with sigwait: block them before any thread starts */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    char why[256];
    mm_nats_env *env = NULL;
    mm_nats *nats = NULL;
    mm_nats_bridge *bridge = NULL;
    mm_front *front = NULL;
    mm_nats_bridge_stats at_signal, at_deadline;
    mm_err err = mm_nats_env_read(&env, NULL, why, sizeof(why));
    if (err != MM_OK) {
        fprintf(stderr, "bevygap_matchmaker_httpd: %s\n", why);
        rc = err == MM_ERR_INVALID ? 2 : 1;
        goto cleanup;
    }
    mm_nats_connect_opts co = {.name = "bevygap_matchmaker_httpd", .send_asap = true};
    if (mm_nats_connect(env, &co, &nats, why, sizeof(why)) != MM_OK) {
        mm_error("NATS: %s", why);
        rc = 1;
        goto cleanup;
    }
    mm_nats_bridge_config bc = {.nc = mm_nats_connection(nats),
                                .request_timeout_ms = (uint32_t)f.matchmaker_timeout_ms,
                                .silence_ms = (uint32_t)f.backend_silence_ms};
    if (mm_nats_bridge_start(&bc, &bridge, why, sizeof(why)) != MM_OK) {
        mm_error("%s", why);
        rc = 1;
        goto cleanup;
    }
    mm_front_backend backend;
    mm_nats_bridge_backend(bridge, &backend);
    if (mm_front_start(&f.front, &backend, &front, why, sizeof(why)) != MM_OK) {
        mm_error("%s", why);
        rc = 1;
        goto cleanup;
    }
    if (!mm_nats_is_connected(nats))
        mm_warn("NATS is not connected yet: requests are answered 503 until it is");
    int sig = 0;
    sigwait(&sigs, &sig);
    mm_info("signal %d: stopping; requests in flight have up to %llu ms to finish", sig, (unsigned long long)f.stop_deadline_ms);
cleanup:
    mm_nats_bridge_get_stats(bridge, &at_signal);
    if (front != NULL)
        mm_front_stop(front, (uint32_t)f.stop_deadline_ms);
    mm_nats_bridge_get_stats(bridge, &at_deadline); /* what the bridge still holds was cut by the deadline */
    mm_nats_bridge_stop(bridge);
    mm_front_destroy(front);
    mm_nats_bridge_destroy(bridge);
    mm_nats_destroy(nats);
    mm_nats_env_destroy(env);
    nats_Close();
    if (rc == 0) /* the last line: how the drain went (requests ended on their own / cut at the deadline) */
        mm_info("stopped: drained %llu requests, %llu answered 503 at the deadline, exit %d",
                (unsigned long long)(at_signal.in_flight > at_deadline.in_flight ? at_signal.in_flight - at_deadline.in_flight : 0),
                (unsigned long long)at_deadline.in_flight, rc);
    return rc;
}
