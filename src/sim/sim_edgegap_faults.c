/*
 * Fault settings and decisions for edgegap_sim (src/sim/sim_edgegap_faults.h).
 *
 * One key table drives both input forms (flags and JSON), so they cannot drift apart. Changes
 * are applied to a copy and committed only when every key was valid: a bad request to
 * /__sim/faults never leaves half of its settings behind. Random draws use xorshift64* seeded
 * once, so a run with the same seed and the same request order makes the same decisions.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/parse.h"
#include "sim_edgegap_faults.h"

static const char *const endpoint_names[MM_SIM_EP_COUNT] = {"app", "version", "session_create", "session_get", "session_delete"};
static const int allowed_status[] = {400, 401, 404, 409, 422, 429, 500, 503};

const char *
mm_sim_endpoint_name(mm_sim_endpoint endpoint)
{
    return endpoint < MM_SIM_EP_COUNT ? endpoint_names[endpoint] : "?";
}

int
mm_sim_endpoint_parse(const char *name)
{
    for (int i = 0; i < MM_SIM_EP_COUNT; i++)
        if (strcmp(name, endpoint_names[i]) == 0)
            return i;
    return -1;
}

static void
cfg_clear(mm_sim_fault_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->error_status = 503;
}

void
mm_sim_faults_init(mm_sim_faults *faults, uint64_t seed)
{
    memset(faults, 0, sizeof(*faults));
    for (int i = 0; i < MM_SIM_EP_COUNT; i++)
        cfg_clear(&faults->ep[i]);
    faults->rng = seed != 0 ? seed : 0x9e3779b97f4a7c15ULL;
}

void
mm_sim_faults_clear(mm_sim_faults *faults)
{
    uint64_t rng = faults->rng;
    mm_sim_faults_init(faults, rng);
}

static double
next_unit(mm_sim_faults *faults)
{
    uint64_t x = faults->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    faults->rng = x;
    return (double)((x * 0x2545f4914f6cdd1dULL) >> 11) / 9007199254740992.0; /* [0, 1) */
}

static bool
rule_fires(mm_sim_faults *faults, mm_sim_fault_rule *rule)
{
    if (rule->next > 0) {
        rule->next--;
        return true;
    }
    return rule->rate > 0 && next_unit(faults) < rule->rate;
}

static const char *
default_message(int status)
{
    switch (status) {
    case 400:
        return "Bad Request (injected by edgegap_sim)";
    case 401:
        return "Unauthorized (injected by edgegap_sim)";
    case 404:
        return "Not Found (injected by edgegap_sim)";
    case 409:
        return "Conflict (injected by edgegap_sim)";
    case 422:
        return "Unprocessable Entity (injected by edgegap_sim)";
    case 429:
        return "Too Many Requests (injected by edgegap_sim)";
    case 500:
        return "Internal Server Error (injected by edgegap_sim)";
    default:
        return "Service Unavailable (injected by edgegap_sim)";
    }
}

mm_sim_fault_action
mm_sim_faults_decide(mm_sim_faults *faults, mm_sim_endpoint endpoint, uint64_t *latency_ms, int *status, const char **message)
{
    mm_sim_fault_cfg *cfg = &faults->ep[endpoint];
    *latency_ms = cfg->latency_ms;
    if (rule_fires(faults, &cfg->hang)) {
        faults->fired[MM_SIM_FAULT_HANG]++;
        return MM_SIM_ACT_HANG;
    }
    if (cfg->latency_ms > 0)
        faults->delayed++;
    if (rule_fires(faults, &cfg->error)) {
        faults->fired[MM_SIM_FAULT_ERROR]++;
        *status = cfg->error_status;
        *message = cfg->error_message[0] != '\0' ? cfg->error_message : default_message(cfg->error_status);
        return MM_SIM_ACT_ERROR;
    }
    return MM_SIM_ACT_SERVE;
}

bool
mm_sim_faults_take(mm_sim_faults *faults, mm_sim_fault_kind kind)
{
    mm_sim_fault_cfg *cfg = &faults->ep[MM_SIM_EP_SESSION_CREATE];
    mm_sim_fault_rule *rule = kind == MM_SIM_FAULT_NEVER_READY   ? &cfg->never_ready
                              : kind == MM_SIM_FAULT_DEPLOY_FAIL  ? &cfg->deploy_fail
                              : kind == MM_SIM_FAULT_WEBHOOK_DROP ? &cfg->webhook_drop
                                                                  : NULL;
    if (rule == NULL)
        return false;
    if (!rule_fires(faults, rule))
        return false;
    faults->fired[kind]++;
    return true;
}

/* ---- one key=value, from a flag (text) or from JSON (value) ---- */

typedef enum { K_LATENCY, K_RATE, K_NEXT, K_STATUS, K_MESSAGE } key_type;

static const struct key_def {
    const char *name;
    key_type type;
    size_t offset;    /* of the uint64_t, double, int or char[] inside mm_sim_fault_cfg */
    bool create_only; /* only meaningful for session_create */
} key_defs[] = {
    {"latency_ms", K_LATENCY, offsetof(mm_sim_fault_cfg, latency_ms), false},
    {"error_rate", K_RATE, offsetof(mm_sim_fault_cfg, error.rate), false},
    {"error_next", K_NEXT, offsetof(mm_sim_fault_cfg, error.next), false},
    {"error_status", K_STATUS, offsetof(mm_sim_fault_cfg, error_status), false},
    {"error_message", K_MESSAGE, offsetof(mm_sim_fault_cfg, error_message), false},
    {"hang_rate", K_RATE, offsetof(mm_sim_fault_cfg, hang.rate), false},
    {"hang_next", K_NEXT, offsetof(mm_sim_fault_cfg, hang.next), false},
    {"never_ready_rate", K_RATE, offsetof(mm_sim_fault_cfg, never_ready.rate), true},
    {"never_ready_next", K_NEXT, offsetof(mm_sim_fault_cfg, never_ready.next), true},
    {"deploy_fail_rate", K_RATE, offsetof(mm_sim_fault_cfg, deploy_fail.rate), true},
    {"deploy_fail_next", K_NEXT, offsetof(mm_sim_fault_cfg, deploy_fail.next), true},
    {"webhook_drop_rate", K_RATE, offsetof(mm_sim_fault_cfg, webhook_drop.rate), true},
    {"webhook_drop_next", K_NEXT, offsetof(mm_sim_fault_cfg, webhook_drop.next), true},
};

#define MAX_LATENCY_MS 3600000ULL
#define MAX_NEXT 1000000000ULL

static mm_err
parse_rate_text(const char *text, double *out)
{
    if (*text == '\0' || strchr("0123456789.", *text) == NULL)
        return MM_ERR_INVALID;
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v))
        return MM_ERR_INVALID;
    *out = v;
    return MM_OK;
}

static mm_err
apply_key(mm_sim_fault_cfg *cfg, mm_sim_endpoint ep, const char *key, const char *text, const json_t *value, char *why,
          size_t why_len)
{
    const struct key_def *def = NULL;
    for (size_t i = 0; i < sizeof(key_defs) / sizeof(key_defs[0]); i++)
        if (strcmp(key, key_defs[i].name) == 0)
            def = &key_defs[i];
    if (def == NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "unknown fault key '%.40s' (see docs/edgegap_sim.md)", key);
    if (def->create_only && ep != MM_SIM_EP_SESSION_CREATE)
        return mm_fail(MM_ERR_INVALID, why, why_len, "%s applies to session_create only", def->name);
    char *field = (char *)cfg + def->offset;
    char sub[120];
    uint64_t u = 0;
    switch (def->type) {
    case K_LATENCY:
    case K_NEXT:
    case K_STATUS: {
        uint64_t max = def->type == K_LATENCY ? MAX_LATENCY_MS : def->type == K_NEXT ? MAX_NEXT : 999;
        if (value != NULL) {
            if (!json_is_integer(value) || json_integer_value(value) < 0 || (uint64_t)json_integer_value(value) > max)
                return mm_fail(MM_ERR_INVALID, why, why_len, "%s must be a whole number in 0..%llu", def->name,
                               (unsigned long long)max);
            u = (uint64_t)json_integer_value(value);
        } else if (mm_parse_u64(text, 0, max, &u, sub, sizeof(sub)) != MM_OK) {
            return mm_fail(MM_ERR_INVALID, why, why_len, "%s: %s", def->name, sub);
        }
        if (def->type == K_STATUS) {
            bool ok = false;
            for (size_t i = 0; i < sizeof(allowed_status) / sizeof(allowed_status[0]); i++)
                ok = ok || (uint64_t)allowed_status[i] == u;
            if (!ok)
                return mm_fail(MM_ERR_INVALID, why, why_len, "error_status %llu is not one of 400 401 404 409 422 429 500 503",
                               (unsigned long long)u);
            *(int *)(void *)field = (int)u;
        } else {
            *(uint64_t *)(void *)field = u;
        }
        return MM_OK;
    }
    case K_RATE: {
        double v = 0;
        if (value != NULL) {
            if (!json_is_number(value))
                return mm_fail(MM_ERR_INVALID, why, why_len, "%s must be a number in 0..1", def->name);
            v = json_number_value(value);
        } else if (parse_rate_text(text, &v) != MM_OK) {
            return mm_fail(MM_ERR_INVALID, why, why_len, "%s: '%.40s' is not a number in 0..1", def->name, text);
        }
        if (!(v >= 0.0 && v <= 1.0))
            return mm_fail(MM_ERR_INVALID, why, why_len, "%s must be in 0..1", def->name);
        *(double *)(void *)field = v;
        return MM_OK;
    }
    case K_MESSAGE: {
        const char *s = text;
        if (value != NULL) {
            if (!json_is_string(value))
                return mm_fail(MM_ERR_INVALID, why, why_len, "error_message must be a string");
            s = json_string_value(value);
        }
        if (strlen(s) >= sizeof(cfg->error_message))
            return mm_fail(MM_ERR_INVALID, why, why_len, "error_message is longer than %zu bytes", sizeof(cfg->error_message) - 1);
        snprintf(cfg->error_message, sizeof(cfg->error_message), "%s", s);
        return MM_OK;
    }
    }
    return mm_fail(MM_ERR_INVALID, why, why_len, "internal: unhandled key type");
}

mm_err
mm_sim_faults_apply_flag(mm_sim_faults *faults, const char *spec, char *why, size_t why_len)
{
    const char *colon = strchr(spec, ':');
    if (colon == NULL || colon == spec)
        return mm_fail(MM_ERR_INVALID, why, why_len, "'%.60s' is not ENDPOINT:KEY=VALUE[,KEY=VALUE...]", spec);
    char name[32];
    size_t n = (size_t)(colon - spec);
    if (n >= sizeof(name))
        return mm_fail(MM_ERR_INVALID, why, why_len, "unknown endpoint in '%.60s'", spec);
    memcpy(name, spec, n);
    name[n] = '\0';
    int ep = mm_sim_endpoint_parse(name);
    if (ep < 0)
        return mm_fail(MM_ERR_INVALID, why, why_len,
                       "unknown endpoint '%s' (app, version, session_create, session_get, session_delete)", name);
    mm_sim_fault_cfg cfg = faults->ep[ep];
    char pairs[512];
    if (strlen(colon + 1) >= sizeof(pairs) || colon[1] == '\0')
        return mm_fail(MM_ERR_INVALID, why, why_len, "'%.60s' has no KEY=VALUE or is too long", spec);
    snprintf(pairs, sizeof(pairs), "%s", colon + 1);
    char *save = NULL;
    for (char *pair = strtok_r(pairs, ",", &save); pair != NULL; pair = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(pair, '=');
        if (eq == NULL)
            return mm_fail(MM_ERR_INVALID, why, why_len, "'%.40s' is not KEY=VALUE", pair);
        *eq = '\0';
        mm_err err = apply_key(&cfg, (mm_sim_endpoint)ep, pair, eq + 1, NULL, why, why_len);
        if (err != MM_OK)
            return err;
    }
    faults->ep[ep] = cfg;
    return MM_OK;
}

mm_err
mm_sim_faults_apply_json(mm_sim_faults *faults, const json_t *body, char *why, size_t why_len)
{
    if (!json_is_object(body))
        return mm_fail(MM_ERR_INVALID, why, why_len, "the body must be a JSON object keyed by endpoint name");
    mm_sim_fault_cfg next[MM_SIM_EP_COUNT];
    memcpy(next, faults->ep, sizeof(next));
    const char *name;
    json_t *settings;
    json_object_foreach((json_t *)body, name, settings)
    {
        int ep = mm_sim_endpoint_parse(name);
        if (ep < 0)
            return mm_fail(MM_ERR_INVALID, why, why_len,
                           "unknown endpoint '%.40s' (app, version, session_create, session_get, "
                           "session_delete)",
                           name);
        cfg_clear(&next[ep]);
        if (json_is_null(settings))
            continue;
        if (!json_is_object(settings))
            return mm_fail(MM_ERR_INVALID, why, why_len, "settings for %s must be an object", name);
        const char *key;
        json_t *value;
        json_object_foreach(settings, key, value)
        {
            char sub[160];
            if (apply_key(&next[ep], (mm_sim_endpoint)ep, key, NULL, value, sub, sizeof(sub)) != MM_OK)
                return mm_fail(MM_ERR_INVALID, why, why_len, "%s: %s", name, sub);
        }
    }
    memcpy(faults->ep, next, sizeof(next));
    return MM_OK;
}

static json_t *
rule_json(const mm_sim_fault_cfg *cfg, mm_sim_endpoint ep)
{
    json_t *o = json_object();
    json_object_set_new(o, "latency_ms", json_integer((json_int_t)cfg->latency_ms));
    json_object_set_new(o, "error_rate", json_real(cfg->error.rate));
    json_object_set_new(o, "error_next", json_integer((json_int_t)cfg->error.next));
    json_object_set_new(o, "error_status", json_integer(cfg->error_status));
    json_object_set_new(o, "error_message",
                        json_string(cfg->error_message[0] != '\0' ? cfg->error_message : default_message(cfg->error_status)));
    json_object_set_new(o, "hang_rate", json_real(cfg->hang.rate));
    json_object_set_new(o, "hang_next", json_integer((json_int_t)cfg->hang.next));
    if (ep == MM_SIM_EP_SESSION_CREATE) {
        json_object_set_new(o, "never_ready_rate", json_real(cfg->never_ready.rate));
        json_object_set_new(o, "never_ready_next", json_integer((json_int_t)cfg->never_ready.next));
        json_object_set_new(o, "deploy_fail_rate", json_real(cfg->deploy_fail.rate));
        json_object_set_new(o, "deploy_fail_next", json_integer((json_int_t)cfg->deploy_fail.next));
        json_object_set_new(o, "webhook_drop_rate", json_real(cfg->webhook_drop.rate));
        json_object_set_new(o, "webhook_drop_next", json_integer((json_int_t)cfg->webhook_drop.next));
    }
    return o;
}

json_t *
mm_sim_faults_to_json(const mm_sim_faults *faults)
{
    json_t *root = json_object(), *eps = json_object(), *fired = json_object();
    for (int i = 0; i < MM_SIM_EP_COUNT; i++)
        json_object_set_new(eps, endpoint_names[i], rule_json(&faults->ep[i], (mm_sim_endpoint)i));
    json_object_set_new(fired, "error", json_integer((json_int_t)faults->fired[MM_SIM_FAULT_ERROR]));
    json_object_set_new(fired, "hang", json_integer((json_int_t)faults->fired[MM_SIM_FAULT_HANG]));
    json_object_set_new(fired, "never_ready", json_integer((json_int_t)faults->fired[MM_SIM_FAULT_NEVER_READY]));
    json_object_set_new(fired, "deploy_fail", json_integer((json_int_t)faults->fired[MM_SIM_FAULT_DEPLOY_FAIL]));
    json_object_set_new(fired, "webhook_drop", json_integer((json_int_t)faults->fired[MM_SIM_FAULT_WEBHOOK_DROP]));
    json_object_set_new(fired, "delayed", json_integer((json_int_t)faults->delayed));
    json_object_set_new(root, "endpoints", eps);
    json_object_set_new(root, "fired", fired);
    return root;
}
