/*
 * mm_ceilings: raw ceilings of the building blocks, measured in the same run as the baseline
 * (bench/baseline.sh), so the matchmaker's figures can be read as ratios to what the machine
 * and the libraries give at best. Each mode prints one JSON object on stdout.
 *
 *   ws-server     a bare h2o WebSocket loop (Debian's stock h2o websocket layer on wslay, one
 *                 thread): each connection's first message is answered with the three texts of
 *                 a ready session (Acknowledged, SessionRequestAccepted, SessionReady with a real
 *                 2048-byte token) and a close 1000, so mm_bench drives it exactly as it drives
 *                 the front, minus any backend. Runs until SIGTERM/SIGINT.
 *   nats          NATS request/reply round trips per second (a window of requests in flight,
 *                 replies to a wildcard inbox, responder on a second connection) and JetStream
 *                 KV puts per second (asynchronous publishes with acks, a file-stored bucket).
 *   edgegap-time  Edgegap's own time as the matchmaker sees it with --poll-delay-ms 1: an open
 *                 loop of sessions, each POST /v1/session then GET /v1/session/{id} at once
 *                 (keep-alive libcurl), timed from the scheduled start to the GET's answer;
 *                 then DELETE (untimed). Percentiles of exact samples.
 *   edgegap-get-cost  the CPU per session GET of our own Edgegap client (bench/ceilings_getcost.c),
 *                 in bursts as the matchmaker's fallback polls come: not run by baseline.sh.
 */
#ifndef MM_BENCH_CEILINGS_H
#define MM_BENCH_CEILINGS_H

#include <stddef.h>
#include <stdint.h>

/** Runs the bare WebSocket server on host:port until SIGTERM/SIGINT. Returns the exit status. */
int mm__ceil_ws_server(const char *host, uint16_t port);

/**
 * Measures NATS request/reply and KV put rates against nats://host:port with user/password
 * (password may be NULL), each for seconds, and prints {"nats_rr_per_s":..,"kv_put_per_s":..}.
 * Returns the exit status.
 */
int mm__ceil_nats(const char *host, uint16_t port, const char *user, const char *password, double seconds);

/**
 * Runs the Edgegap time loop against base_url (http://host:port) with the authorization value
 * api_key: rate sessions per second for seconds, for app. Prints the percentiles as JSON.
 * Returns the exit status.
 */
int mm__ceil_edgegap_time(const char *base_url, const char *api_key, const char *app, double rate, double seconds);

/**
 * The CPU one session GET costs the thread driving our Edgegap client (mm/edgegap.h), against
 * base_url: sessions sessions are created first (app's active version), then burst GETs every
 * every_ms for seconds (the provisioner's fallback-tick pattern). Prints {"gets", "ok", "failed",
 * "burst", "every_ms", "thread_cpu_s", "us_per_get"}. Returns the exit status (1 when any failed).
 */
int mm__ceil_edgegap_get_cost(const char *base_url, const char *api_key, const char *app, uint32_t sessions, uint32_t burst,
                              uint32_t every_ms, double seconds);

/** Sorts samples (microseconds) and writes "p50":..,"p90":..,"p99":..,"max":.. in ms into buf. */
void mm__ceil_percentiles(uint64_t *samples, size_t n, char *buf, size_t len);

#endif
