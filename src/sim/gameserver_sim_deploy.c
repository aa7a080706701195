/*
 * gameserver_sim deployments: what edgegap_sim runs, learned by polling GET /__sim/deployments.
 *
 * Each poll (a timer of the actor) fetches the list with one blocking libcurl call bounded by
 * --http-timeout-ms, then reconciles: a new deployment is added, one that turns ready arms its
 * certificate timer (--cert-delay-ms; -1 never), one no longer listed has stopped and is
 * forgotten. When the certificate timer fires, the game server's start-up report is imitated:
 * cert_digests[public_ip] = digest, and a context on gameserver.contexts. A failed KV write is
 * retried a second later. Failed polls are logged once per streak, not once per poll.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "gameserver_sim.h"
#include "mm/url.h"

#define MAX_BODY (8u * 1024 * 1024)
#define CERT_RETRY_MS 1000

typedef struct body {
    char *data;
    size_t len;
} body;

static size_t
body_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    body *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n > MAX_BODY)
        return 0; /* makes libcurl fail the transfer */
    char *grown = realloc(b->data, b->len + n + 1);
    if (grown == NULL)
        return 0;
    memcpy(grown + b->len, ptr, n);
    b->data = grown;
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* GET the deployments listing; returns the parsed JSON or NULL (with why). */
static json_t *
fetch(gs *g, char *why, size_t why_len)
{
    char url[600];
    body b = {0};
    long status = 0;
    json_t *root = NULL;
    snprintf(url, sizeof(url), "%s/__sim/deployments", g->cfg->edgegap_url);
    curl_easy_setopt(g->curl, CURLOPT_URL, url);
    curl_easy_setopt(g->curl, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(g->curl, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(g->curl);
    if (rc != CURLE_OK) {
        snprintf(why, why_len, "%s", curl_easy_strerror(rc));
        goto cleanup;
    }
    curl_easy_getinfo(g->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        snprintf(why, why_len, "HTTP status %ld", status);
        goto cleanup;
    }
    json_error_t jerr;
    root = json_loadb(b.data != NULL ? b.data : "", b.len, 0, &jerr);
    if (root == NULL || !json_is_array(json_object_get(root, "deployments"))) {
        snprintf(why, why_len, "not a {\"deployments\": [...]} document%s%s", root == NULL ? ": " : "",
                 root == NULL ? jerr.text : "");
        json_decref(root);
        root = NULL;
    }
cleanup:
    free(b.data);
    return root;
}

static gs_deployment *
find(gs *g, const char *request_id)
{
    for (gs_deployment *d = g->deployments; d != NULL; d = d->next)
        if (strcmp(d->request_id, request_id) == 0)
            return d;
    return NULL;
}

/* Fills d's addresses from public_ip and the ports object; false if they make no sense. */
static bool
read_addresses(gs_deployment *d, const char *public_ip, json_t *ports)
{
    mm_token_address base = {0};
    if (inet_pton(AF_INET, public_ip, base.ip) == 1)
        base.family = 4;
    else if (inet_pton(AF_INET6, public_ip, base.ip) == 1)
        base.family = 6;
    else
        return false;
    d->naddrs = 0;
    const char *name;
    json_t *port;
    json_object_foreach(ports, name, port)
    {
        json_int_t external = json_integer_value(json_object_get(port, "external"));
        if (external < 1 || external > 65535 || d->naddrs == GS_MAX_PORTS)
            continue;
        d->addrs[d->naddrs] = base;
        d->addrs[d->naddrs].port = (uint16_t)external;
        d->naddrs++;
    }
    return d->naddrs > 0;
}

static void cert_timer_cb(mm_timer *timer);

static void
became_ready(gs *g, gs_deployment *d)
{
    char addr[64];
    mm_token_address_format(&d->addrs[0], addr, sizeof(addr));
    if (g->cfg->cert_delay_ms < 0) {
        mm_info("deployment %s ready at %s; its certificate digest will never be written (--cert-delay-ms -1)", d->request_id,
                addr);
        return;
    }
    mm_info("deployment %s ready at %s; certificate digest in %lld ms", d->request_id, addr, (long long)g->cfg->cert_delay_ms);
    mm__gs_arm(g, &d->cert_timer, (uint64_t)g->cfg->cert_delay_ms, cert_timer_cb);
}

/* One listed deployment: add or update. */
static void
reconcile_one(gs *g, json_t *item)
{
    const char *id = json_string_value(json_object_get(item, "request_id"));
    const char *ip = json_string_value(json_object_get(item, "public_ip"));
    json_t *ports = json_object_get(item, "ports");
    if (id == NULL || ip == NULL || !json_is_object(ports) || strlen(id) >= GS_ID_MAX || strlen(ip) >= GS_ID_MAX || *id == '\0') {
        mm_debug("poll: skipping a malformed deployment entry");
        return;
    }
    gs_deployment *d = find(g, id);
    if (d == NULL) {
        d = calloc(1, sizeof(*d));
        if (d == NULL)
            return;
        d->gs = g;
        snprintf(d->request_id, sizeof(d->request_id), "%s", id);
        d->next = g->deployments;
        g->deployments = d;
        mm_debug("deployment %s seen", id);
    }
    d->listed = true;
    snprintf(d->public_ip, sizeof(d->public_ip), "%s", ip);
    if (!read_addresses(d, ip, ports)) {
        mm_debug("deployment %s: no usable address yet (%s)", id, ip);
        return;
    }
    if (!d->ready && json_is_true(json_object_get(item, "ready"))) {
        d->ready = true;
        became_ready(g, d);
    }
}

static void
reconcile(gs *g, json_t *list)
{
    for (gs_deployment *d = g->deployments; d != NULL; d = d->next)
        d->listed = false;
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        if (json_is_object(item))
            reconcile_one(g, item);
    }
    for (gs_deployment **p = &g->deployments; *p != NULL;) {
        gs_deployment *d = *p;
        if (d->listed) {
            p = &d->next;
            continue;
        }
        mm_info("deployment %s stopped", d->request_id);
        mm_timer_stop(g->self, &d->cert_timer);
        *p = d->next;
        free(d);
    }
}

void
mm__gs_poll_timer_cb(mm_timer *timer)
{
    gs *g = (gs *)((char *)timer - offsetof(gs, poll_timer));
    char why[256] = "", shown[sizeof(g->cfg->edgegap_url)];
    json_t *root = fetch(g, why, sizeof(why));
    if (root == NULL) {
        if (!g->poll_failing)
            mm_warn("poll %s/__sim/deployments failed: %s; retrying every %lld ms",
                    mm_url_redact(g->cfg->edgegap_url, shown, sizeof(shown)), why, (long long)g->cfg->poll_ms);
        g->poll_failing = true;
    } else {
        if (g->poll_failing)
            mm_info("poll %s/__sim/deployments works again", mm_url_redact(g->cfg->edgegap_url, shown, sizeof(shown)));
        g->poll_failing = false;
        reconcile(g, json_object_get(root, "deployments"));
        json_decref(root);
    }
    mm__gs_arm(g, &g->poll_timer, (uint64_t)g->cfg->poll_ms, mm__gs_poll_timer_cb);
}

void
mm__gs_cert_digest(const char *request_id, char out[96])
{
    unsigned char hash[crypto_hash_sha256_BYTES];
    static const char hex[] = "0123456789abcdef";
    crypto_hash_sha256(hash, (const unsigned char *)request_id, strlen(request_id));
    for (size_t i = 0; i < sizeof(hash); i++) {
        out[i * 3] = hex[hash[i] >> 4];
        out[i * 3 + 1] = hex[hash[i] & 15];
        out[i * 3 + 2] = i + 1 < sizeof(hash) ? ':' : '\0';
    }
}

/* The context a bevygap game server publishes once it is up (the matchmaker logs it). */
static void
publish_context(gs *g, const gs_deployment *d, const char *digest)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "request_id", d->request_id, "public_ip", d->public_ip, "cert_digest", digest,
                          "source", "gameserver_sim");
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    if (text != NULL && natsConnection_PublishString(g->nc, "gameserver.contexts", text) != NATS_OK)
        mm_warn("deployment %s: cannot publish its context on gameserver.contexts", d->request_id);
    free(text);
    json_decref(o);
}

static void
cert_timer_cb(mm_timer *timer)
{
    gs_deployment *d = (gs_deployment *)((char *)timer - offsetof(gs_deployment, cert_timer));
    gs *g = d->gs;
    char digest[96];
    mm__gs_cert_digest(d->request_id, digest);
    mm_err err = mm_kv_put_str(g->certs, d->public_ip, digest, NULL);
    if (err == MM_ERR_INVALID) { /* an IPv6 address is no valid KV key: the reference fails alike */
        mm_error("deployment %s: '%s' cannot be a cert_digests key", d->request_id, d->public_ip);
        return;
    }
    if (err != MM_OK) {
        mm_warn("deployment %s: writing cert_digests[%s] failed (%s); retrying in %d ms", d->request_id, d->public_ip,
                mm_err_str(err), CERT_RETRY_MS);
        mm__gs_arm(g, &d->cert_timer, CERT_RETRY_MS, cert_timer_cb);
        return;
    }
    d->cert_written = true;
    g->counters.certs_written++;
    mm_info("deployment %s: cert_digests[%s] written", d->request_id, d->public_ip);
    publish_context(g, d, digest);
}

gs_deployment *
mm__gs_deployment_for(gs *g, const mm_token_address *addrs, uint32_t n)
{
    for (gs_deployment *d = g->deployments; d != NULL; d = d->next) {
        if (!d->ready)
            continue;
        for (uint32_t i = 0; i < n; i++)
            for (uint32_t k = 0; k < d->naddrs; k++) {
                const mm_token_address *a = &addrs[i], *b = &d->addrs[k];
                size_t len = a->family == 4 ? 4 : 16;
                if (a->family == b->family && a->port == b->port && memcmp(a->ip, b->ip, len) == 0)
                    return d;
            }
    }
    return NULL;
}

void
mm__gs_deployments_free(gs *g)
{
    while (g->deployments != NULL) {
        gs_deployment *d = g->deployments;
        g->deployments = d->next;
        mm_timer_stop(g->self, &d->cert_timer);
        free(d);
    }
}
