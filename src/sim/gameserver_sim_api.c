/*
 * gameserver_sim request API (docs/gameserver_sim.md): PREFIX.connect and PREFIX.disconnect.
 *
 * connect {"token":"<base64>"} is checked the way a Lightyear server checks a connect token:
 * version, protocol id, expiry, AEAD under the private key (mm_token_decode), then that one of its
 * server addresses is public_ip:external of a ready deployment, that the client is not connected
 * already, and that sessions_ly2eg holds its session id. Only then active_connections is written.
 * Every refusal is {"ok":false,"error":"<reason>"}. Client ids are u64: replies carry them as
 * decimal strings (JSON numbers above 2^53 are not safe in most parsers, and jansson cannot hold
 * values above 2^63-1); requests accept a string or a number. The token and its opened contents
 * (session keys) are wiped after use.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "gameserver_sim.h"
#include "mm/clock.h"
#include "mm/parse.h"

/* Sends o (stolen) as the reply to msg, if it has a reply subject. */
static void
reply(gs *g, natsMsg *msg, json_t *o)
{
    const char *to = natsMsg_GetReply(msg);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    if (to != NULL && text != NULL && natsConnection_PublishString(g->nc, to, text) != NATS_OK)
        mm_warn("cannot send a reply to %s", to);
    free(text);
    json_decref(o);
}

static void refuse(gs *g, natsMsg *msg, const char *what, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
refuse(gs *g, natsMsg *msg, const char *what, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    g->counters.refused++;
    mm_info("%s refused: %s", what, why);
    reply(g, msg, json_pack("{s:b, s:s}", "ok", 0, "error", why));
}

static json_t *
ok_reply(const gs_client *c)
{
    char id[24];
    snprintf(id, sizeof(id), "%" PRIu64, c->client_id);
    json_t *o = json_pack("{s:b, s:s, s:s}", "ok", 1, "client_id", id, "session_id", c->session_id);
    if (o != NULL && c->deployment[0] != '\0')
        json_object_set_new(o, "deployment", json_string(c->deployment));
    return o;
}

static json_t *
parse_object(natsMsg *msg, char *why, size_t why_len)
{
    json_error_t jerr;
    json_t *o = json_loadb(natsMsg_GetData(msg) != NULL ? natsMsg_GetData(msg) : "", (size_t)natsMsg_GetDataLength(msg),
                           JSON_REJECT_DUPLICATES, &jerr);
    if (o == NULL) {
        snprintf(why, why_len, "bad request: not JSON (%s)", jerr.text);
        return NULL;
    }
    if (!json_is_object(o)) {
        snprintf(why, why_len, "bad request: not a JSON object");
        json_decref(o);
        return NULL;
    }
    return o;
}

/* A client id given as a JSON number or a decimal string. */
static bool
client_id_of(json_t *v, uint64_t *out)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return true;
    }
    return json_is_string(v) && mm_parse_u64(json_string_value(v), 0, UINT64_MAX, out, NULL, 0) == MM_OK;
}

static void
format_addresses(const mm_token_decoded *dec, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < dec->address_count && i < 4 && used + 1 < len; i++) {
        char one[64];
        mm_token_address_format(&dec->addresses[i], one, sizeof(one));
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i > 0 ? ", " : "", one);
    }
    if (dec->address_count > 4 && used + 1 < len)
        snprintf(buf + used, len - used, ", ...");
}

/* Everything after the token was opened: deployment, client, sessions_ly2eg, active_connections. */
static void
admit(gs *g, natsMsg *msg, const mm_token_decoded *dec)
{
    char addrs[300], key[24], session[GS_SESSION_MAX];
    gs_deployment *d = mm__gs_deployment_for(g, dec->addresses, dec->address_count);
    if (d == NULL) {
        format_addresses(dec, addrs, sizeof(addrs));
        refuse(g, msg, "connect", "no server address in the token (%s) is a ready deployment of this simulator", addrs);
        return;
    }
    if (mm__gs_client_find(g, dec->client_id) != NULL) {
        refuse(g, msg, "connect", "client %" PRIu64 " is already connected", dec->client_id);
        return;
    }
    snprintf(key, sizeof(key), "%" PRIu64, dec->client_id);
    mm_err err = mm_kv_get_str(g->ly2eg, key, session, sizeof(session), NULL);
    if (err == MM_ERR_NOTFOUND) {
        refuse(g, msg, "connect", "client %s has no sessions_ly2eg entry (unknown client or mapping expired)", key);
        return;
    }
    if (err != MM_OK) {
        refuse(g, msg, "connect", "reading sessions_ly2eg[%s] failed: %s", key, mm_err_str(err));
        return;
    }
    if (!mm_kv_key_valid(session)) {
        refuse(g, msg, "connect", "sessions_ly2eg[%s] holds no valid session id", key);
        return;
    }
    gs_client *c = mm__gs_client_add(g, dec->client_id, session, d->request_id, false);
    if (c == NULL) {
        refuse(g, msg, "connect", "out of memory");
        return;
    }
    if ((err = mm__gs_client_connect(g, c)) != MM_OK) {
        mm__gs_client_disconnect(g, c); /* not connected: only forgets it */
        refuse(g, msg, "connect", "writing active_connections[%s] failed: %s", session, mm_err_str(err));
        return;
    }
    g->counters.connects++;
    reply(g, msg, ok_reply(c));
}

void
mm__gs_api_connect(gs *g, natsMsg *msg)
{
    char why[256];
    uint8_t token[MM_TOKEN_BYTES];
    mm_token_decoded dec;
    json_t *req = parse_object(msg, why, sizeof(why));
    if (req == NULL) {
        refuse(g, msg, "connect", "%s", why);
        return;
    }
    const char *b64 = json_string_value(json_object_get(req, "token"));
    if (b64 == NULL)
        refuse(g, msg, "connect", "bad request: expected {\"token\": \"<base64 connect token>\"}");
    else if (mm_token_from_base64(b64, token, why, sizeof(why)) != MM_OK)
        refuse(g, msg, "connect", "bad token: %s", why);
    else if (mm_token_decode(token, &g->cfg->key, g->cfg->byte_order, g->cfg->protocol_id, mm_unix_seconds(), &dec, why,
                             sizeof(why)) != MM_OK)
        refuse(g, msg, "connect", "token refused: %s", why);
    else
        admit(g, msg, &dec);
    sodium_memzero(token, sizeof(token));
    sodium_memzero(&dec, sizeof(dec));
    json_decref(req);
}

void
mm__gs_api_disconnect(gs *g, natsMsg *msg)
{
    char why[256];
    json_t *req = parse_object(msg, why, sizeof(why));
    if (req == NULL) {
        refuse(g, msg, "disconnect", "%s", why);
        return;
    }
    json_t *id = json_object_get(req, "client_id");
    const char *session = json_string_value(json_object_get(req, "session_id"));
    uint64_t client_id = 0;
    gs_client *c = NULL;
    if (id != NULL) {
        if (!client_id_of(id, &client_id)) {
            refuse(g, msg, "disconnect", "bad request: client_id must be a u64 number or decimal string");
            goto cleanup;
        }
        c = mm__gs_client_find(g, client_id);
    } else if (session != NULL) {
        c = mm__gs_client_find_session(g, session);
    } else {
        refuse(g, msg, "disconnect", "bad request: expected {\"client_id\": N} or {\"session_id\": \"...\"}");
        goto cleanup;
    }
    if (c == NULL || !c->connected) {
        if (id != NULL)
            refuse(g, msg, "disconnect", "client %" PRIu64 " is not connected", client_id);
        else
            refuse(g, msg, "disconnect", "no client is connected with session %.200s", session);
        goto cleanup;
    }
    json_t *ok = ok_reply(c);
    mm_err err = mm__gs_client_disconnect(g, c);
    if (err != MM_OK) {
        json_decref(ok);
        refuse(g, msg, "disconnect", "deleting active_connections failed: %s", mm_err_str(err));
        goto cleanup;
    }
    reply(g, msg, ok);
cleanup:
    json_decref(req);
}
