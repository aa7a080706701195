/*
 * edgegap_sim configuration (src/sim/sim_edgegap.h): defaults, the JSON apps file, and the
 * small textual forms given on the command line (port mappings, address ranges).
 *
 * The apps file uses Edgegap's own field names (is_active, session_config, ports[].port), so a
 * developer can paste what the dashboard shows. Unknown keys are errors: a typo in a test fixture
 * must fail loudly rather than silently fall back to a default.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "mm/parse.h"
#include "sim_edgegap.h"

static void
default_version(mm_sim_version_cfg *v, const char *name)
{
    memset(v, 0, sizeof(*v));
    snprintf(v->name, sizeof(v->name), "%s", name);
    v->is_active = true;
    v->sockets = 6;
    v->autodeploy = true;
    v->empty_ttl_min = 10;
}

void
mm_sim_edgegap_cfg_defaults(mm_sim_edgegap_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->napps = 1;
    mm_sim_app_cfg *app = &cfg->apps[0];
    snprintf(app->name, sizeof(app->name), "bevygap-spaceships");
    app->is_active = true;
    app->nversions = 1;
    mm_sim_version_cfg *v = &app->versions[0];
    default_version(v, "1");
    v->nports = 1;
    snprintf(v->ports[0].name, sizeof(v->ports[0].name), "server");
    v->ports[0].internal = 6420;
    snprintf(v->ports[0].protocol, sizeof(v->ports[0].protocol), "UDP");

    snprintf(cfg->listen_host, sizeof(cfg->listen_host), "127.0.0.1");
    cfg->listen_port = 8800;
    cfg->deploy_delay_ms = 2000;
    cfg->seek_delay_ms = 0;
    cfg->empty_ttl_ms = 0;
    cfg->terminated_ttl_ms = 600000;
    cfg->terminated_max = 1000000;
    cfg->max_sessions = 200000;
    snprintf(cfg->ip_range, sizeof(cfg->ip_range), "127.1.0.0/16");
    mm_sim_parse_ip_range(cfg->ip_range, &cfg->ip_first, &cfg->ip_count, NULL, 0);
    cfg->port_base = 30000;
    cfg->seed = 0;
    cfg->status_style = MM_SIM_STATUS_LEGACY;
    cfg->max_body = 65536;
    cfg->webhook_timeout_ms = 5000;
    cfg->webhook_queue = 4096;
}

/* Names appear in URL paths: keep them to characters that need no escaping. */
static bool
name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= MM_SIM_NAME_MAX)
        return false;
    for (; *s != '\0'; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
              *s == '.' || *s == '~'))
            return false;
    return true;
}

static bool
protocol_ok(const char *p)
{
    static const char *const known[] = {"TCP", "UDP", "TCP/UDP", "HTTP", "HTTPS", "WS", "WSS"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(p, known[i]) == 0)
            return true;
    return false;
}

mm_err
mm_sim_parse_port_mapping(const char *text, mm_sim_port_cfg *port, char *why, size_t why_len)
{
    const char *colon = strchr(text, ':');
    const char *slash = colon != NULL ? strchr(colon, '/') : NULL;
    if (colon == NULL || slash == NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "'%.60s' is not NAME:PORT/PROTOCOL (e.g. server:6420/UDP)", text);
    mm_sim_port_cfg p;
    memset(&p, 0, sizeof(p));
    size_t n = (size_t)(colon - text);
    if (n == 0 || n >= sizeof(p.name))
        return mm_fail(MM_ERR_INVALID, why, why_len, "bad port name in '%.60s'", text);
    memcpy(p.name, text, n);
    if (!name_ok(p.name))
        return mm_fail(MM_ERR_INVALID, why, why_len, "port name '%s' may only hold letters, digits, '-', '_', '.', '~'", p.name);
    char num[16], sub[100];
    n = (size_t)(slash - colon - 1);
    if (n >= sizeof(num))
        return mm_fail(MM_ERR_INVALID, why, why_len, "bad port number in '%.60s'", text);
    memcpy(num, colon + 1, n);
    num[n] = '\0';
    uint64_t v;
    if (mm_parse_u64(num, 1, 65535, &v, sub, sizeof(sub)) != MM_OK)
        return mm_fail(MM_ERR_INVALID, why, why_len, "bad port number in '%.60s': %s", text, sub);
    p.internal = (uint16_t)v;
    if (strlen(slash + 1) >= sizeof(p.protocol) || !protocol_ok(slash + 1))
        return mm_fail(MM_ERR_INVALID, why, why_len, "protocol '%.20s' is not one of TCP UDP TCP/UDP HTTP HTTPS WS WSS", slash + 1);
    snprintf(p.protocol, sizeof(p.protocol), "%s", slash + 1);
    *port = p;
    return MM_OK;
}

mm_err
mm_sim_parse_ip_range(const char *text, uint32_t *first, uint32_t *count, char *why, size_t why_len)
{
    const char *slash = strchr(text, '/');
    char addr[INET_ADDRSTRLEN], sub[100];
    if (slash == NULL || (size_t)(slash - text) >= sizeof(addr))
        return mm_fail(MM_ERR_INVALID, why, why_len, "'%.60s' is not an IPv4 range A.B.C.D/N", text);
    memcpy(addr, text, (size_t)(slash - text));
    addr[slash - text] = '\0';
    struct in_addr in;
    if (inet_pton(AF_INET, addr, &in) != 1)
        return mm_fail(MM_ERR_INVALID, why, why_len, "'%s' is not an IPv4 address", addr);
    uint64_t prefix;
    if (mm_parse_u64(slash + 1, 8, 32, &prefix, sub, sizeof(sub)) != MM_OK)
        return mm_fail(MM_ERR_INVALID, why, why_len, "bad prefix length in '%.60s': %s", text, sub);
    uint32_t base = ntohl(in.s_addr);
    uint64_t size = 1ULL << (32 - prefix);
    if ((base & (uint32_t)(size - 1)) != 0)
        return mm_fail(MM_ERR_INVALID, why, why_len, "'%.60s' has host bits set (the range must start on a /%llu boundary)", text,
                       (unsigned long long)prefix);
    if (prefix <= 30) { /* leave out the network and broadcast addresses */
        *first = base + 1;
        *count = (uint32_t)(size - 2);
    } else {
        *first = base;
        *count = (uint32_t)size;
    }
    return MM_OK;
}

/* ---- the JSON apps file ---- */

static mm_err
check_keys(const json_t *obj, const char *what, const char *const *allowed, char *why, size_t why_len)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a != NULL; a++)
            ok = ok || strcmp(key, *a) == 0;
        if (!ok)
            return mm_fail(MM_ERR_INVALID, why, why_len, "%s: unknown key '%.40s'", what, key);
    }
    return MM_OK;
}

static mm_err
get_name(const json_t *obj, const char *what, char *out, char *why, size_t why_len)
{
    const json_t *v = json_object_get(obj, "name");
    if (!json_is_string(v) || !name_ok(json_string_value(v)))
        return mm_fail(MM_ERR_INVALID, why, why_len, "%s: \"name\" must be a string of 1..%d letters, digits, '-', '_', '.', '~'",
                       what, MM_SIM_NAME_MAX - 1);
    snprintf(out, MM_SIM_NAME_MAX, "%s", json_string_value(v));
    return MM_OK;
}

static mm_err
get_bool(const json_t *obj, const char *key, bool dflt, bool *out, const char *what, char *why, size_t why_len)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        *out = dflt;
        return MM_OK;
    }
    if (!json_is_boolean(v))
        return mm_fail(MM_ERR_INVALID, why, why_len, "%s: \"%s\" must be true or false", what, key);
    *out = json_is_true(v);
    return MM_OK;
}

static mm_err
get_uint(const json_t *obj, const char *key, uint64_t dflt, uint64_t min, uint64_t max, uint64_t *out, const char *what, char *why,
         size_t why_len)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        *out = dflt;
        return MM_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)min || json_integer_value(v) > (json_int_t)max)
        return mm_fail(MM_ERR_INVALID, why, why_len, "%s: \"%s\" must be a whole number in %llu..%llu", what, key,
                       (unsigned long long)min, (unsigned long long)max);
    *out = (uint64_t)json_integer_value(v);
    return MM_OK;
}

static mm_err
load_port(const json_t *doc, mm_sim_port_cfg *p, const char *what, char *why, size_t why_len)
{
    static const char *const keys[] = {"name", "port", "protocol", "tls_upgrade", "to_check", NULL};
    uint64_t num = 0;
    mm_err err;
    memset(p, 0, sizeof(*p));
    if (!json_is_object(doc))
        return mm_fail(MM_ERR_INVALID, why, why_len, "%s must be an object", what);
    if ((err = check_keys(doc, what, keys, why, why_len)) != MM_OK || (err = get_name(doc, what, p->name, why, why_len)) != MM_OK ||
        (err = get_uint(doc, "port", 0, 1, 65535, &num, what, why, why_len)) != MM_OK ||
        (err = get_bool(doc, "tls_upgrade", false, &p->tls_upgrade, what, why, why_len)) != MM_OK ||
        (err = get_bool(doc, "to_check", false, &p->to_check, what, why, why_len)) != MM_OK)
        return err;
    if (json_object_get(doc, "port") == NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "%s: \"port\" is required", what);
    p->internal = (uint16_t)num;
    const json_t *proto = json_object_get(doc, "protocol");
    if (!json_is_string(proto) || strlen(json_string_value(proto)) >= sizeof(p->protocol) || !protocol_ok(json_string_value(proto)))
        return mm_fail(MM_ERR_INVALID, why, why_len, "%s: \"protocol\" must be one of TCP UDP TCP/UDP HTTP HTTPS WS WSS", what);
    snprintf(p->protocol, sizeof(p->protocol), "%s", json_string_value(proto));
    return MM_OK;
}

static mm_err
load_version(const json_t *doc, mm_sim_version_cfg *v, const char *app, char *why, size_t why_len)
{
    static const char *const keys[] = {"name", "is_active", "session_config", "ports", NULL};
    static const char *const sc_keys[] = {"kind", "sockets", "autodeploy", "empty_ttl", NULL};
    char what[160];
    uint64_t num = 0;
    mm_err err;
    snprintf(what, sizeof(what), "app %.63s: a version", app);
    if (!json_is_object(doc))
        return mm_fail(MM_ERR_INVALID, why, why_len, "%s must be an object", what);
    default_version(v, "");
    if ((err = check_keys(doc, what, keys, why, why_len)) != MM_OK || (err = get_name(doc, what, v->name, why, why_len)) != MM_OK)
        return err;
    snprintf(what, sizeof(what), "app %.63s version %.63s", app, v->name);
    if ((err = get_bool(doc, "is_active", true, &v->is_active, what, why, why_len)) != MM_OK)
        return err;
    const json_t *sc = json_object_get(doc, "session_config");
    if (sc != NULL) {
        if (!json_is_object(sc))
            return mm_fail(MM_ERR_INVALID, why, why_len, "%s: \"session_config\" must be an object", what);
        if ((err = check_keys(sc, what, sc_keys, why, why_len)) != MM_OK)
            return err;
        const json_t *kind = json_object_get(sc, "kind");
        if (kind != NULL && (!json_is_string(kind) || strcmp(json_string_value(kind), "Seat") != 0))
            return mm_fail(MM_ERR_INVALID, why, why_len, "%s: only session_config.kind \"Seat\" is simulated", what);
        if ((err = get_uint(sc, "sockets", 6, 1, 10000, &num, what, why, why_len)) != MM_OK)
            return err;
        v->sockets = (uint32_t)num;
        if ((err = get_bool(sc, "autodeploy", true, &v->autodeploy, what, why, why_len)) != MM_OK ||
            (err = get_uint(sc, "empty_ttl", 10, 0, 100000, &num, what, why, why_len)) != MM_OK)
            return err;
        v->empty_ttl_min = (uint32_t)num;
    }
    const json_t *ports = json_object_get(doc, "ports");
    if (!json_is_array(ports) || json_array_size(ports) == 0 || json_array_size(ports) > MM_SIM_MAX_PORTS)
        return mm_fail(MM_ERR_INVALID, why, why_len, "%s: \"ports\" must be an array of 1..%d port mappings", what,
                       MM_SIM_MAX_PORTS);
    v->nports = json_array_size(ports);
    for (size_t i = 0; i < v->nports; i++) {
        char pwhat[200];
        snprintf(pwhat, sizeof(pwhat), "%s: ports[%zu]", what, i);
        if ((err = load_port(json_array_get(ports, i), &v->ports[i], pwhat, why, why_len)) != MM_OK)
            return err;
        for (size_t j = 0; j < i; j++)
            if (strcmp(v->ports[j].name, v->ports[i].name) == 0)
                return mm_fail(MM_ERR_INVALID, why, why_len, "%s: two ports are named '%s'", what, v->ports[i].name);
    }
    return MM_OK;
}

mm_err
mm_sim_edgegap_cfg_load_json(mm_sim_edgegap_cfg *cfg, const json_t *doc, char *why, size_t why_len)
{
    static const char *const top_keys[] = {"apps", NULL};
    static const char *const app_keys[] = {"name", "is_active", "versions", NULL};
    mm_sim_app_cfg apps[MM_SIM_MAX_APPS];
    mm_err err;
    if (!json_is_object(doc))
        return mm_fail(MM_ERR_INVALID, why, why_len, "the config must be a JSON object {\"apps\": [...]}");
    if ((err = check_keys(doc, "config", top_keys, why, why_len)) != MM_OK)
        return err;
    const json_t *list = json_object_get(doc, "apps");
    if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > MM_SIM_MAX_APPS)
        return mm_fail(MM_ERR_INVALID, why, why_len, "\"apps\" must be an array of 1..%d apps", MM_SIM_MAX_APPS);
    size_t napps = json_array_size(list);
    for (size_t i = 0; i < napps; i++) {
        const json_t *a = json_array_get(list, i);
        mm_sim_app_cfg *app = &apps[i];
        char what[120];
        snprintf(what, sizeof(what), "apps[%zu]", i);
        memset(app, 0, sizeof(*app));
        if (!json_is_object(a))
            return mm_fail(MM_ERR_INVALID, why, why_len, "%s must be an object", what);
        if ((err = check_keys(a, what, app_keys, why, why_len)) != MM_OK ||
            (err = get_name(a, what, app->name, why, why_len)) != MM_OK ||
            (err = get_bool(a, "is_active", true, &app->is_active, what, why, why_len)) != MM_OK)
            return err;
        const json_t *versions = json_object_get(a, "versions");
        if (!json_is_array(versions) || json_array_size(versions) == 0 || json_array_size(versions) > MM_SIM_MAX_VERSIONS)
            return mm_fail(MM_ERR_INVALID, why, why_len, "app %s: \"versions\" must be an array of 1..%d versions", app->name,
                           MM_SIM_MAX_VERSIONS);
        app->nversions = json_array_size(versions);
        for (size_t j = 0; j < app->nversions; j++) {
            if ((err = load_version(json_array_get(versions, j), &app->versions[j], app->name, why, why_len)) != MM_OK)
                return err;
            for (size_t k = 0; k < j; k++)
                if (strcmp(app->versions[k].name, app->versions[j].name) == 0)
                    return mm_fail(MM_ERR_INVALID, why, why_len, "app %s: two versions are named '%s'", app->name,
                                   app->versions[j].name);
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(apps[k].name, app->name) == 0)
                return mm_fail(MM_ERR_INVALID, why, why_len, "two apps are named '%s'", app->name);
    }
    memcpy(cfg->apps, apps, sizeof(apps));
    cfg->napps = napps;
    return MM_OK;
}

mm_err
mm_sim_edgegap_cfg_load_file(mm_sim_edgegap_cfg *cfg, const char *path, char *why, size_t why_len)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL && jerr.line < 0)
        return mm_fail(MM_ERR_INVALID, why, why_len, "%s", jerr.text); /* cannot open or read: the text names the file */
    if (doc == NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
    char sub[300];
    mm_err err = mm_sim_edgegap_cfg_load_json(cfg, doc, sub, sizeof(sub));
    json_decref(doc);
    if (err != MM_OK)
        return mm_fail(MM_ERR_INVALID, why, why_len, "%s: %s", path, sub);
    return MM_OK;
}

mm_err
mm_sim_edgegap_cfg_validate(const mm_sim_edgegap_cfg *cfg, char *why, size_t why_len)
{
    if (cfg->api_key[0] == '\0')
        return mm_fail(MM_ERR_INVALID, why, why_len, "no API key: give --api-key 'token ...' or set EDGEGAP_API_KEY");
    if (cfg->napps == 0)
        return mm_fail(MM_ERR_INVALID, why, why_len, "no apps configured");
    for (size_t i = 0; i < cfg->napps; i++) {
        if (!name_ok(cfg->apps[i].name))
            return mm_fail(MM_ERR_INVALID, why, why_len, "app name '%.70s' may only hold letters, digits, '-', '_', '.', '~'",
                           cfg->apps[i].name);
        for (size_t j = 0; j < cfg->apps[i].nversions; j++) {
            const mm_sim_version_cfg *v = &cfg->apps[i].versions[j];
            if (!name_ok(v->name))
                return mm_fail(MM_ERR_INVALID, why, why_len,
                               "version name '%.70s' may only hold letters, digits, '-', '_', '.', '~'", v->name);
            if (v->nports == 0)
                return mm_fail(MM_ERR_INVALID, why, why_len, "app %s version %s has no port mapping", cfg->apps[i].name, v->name);
        }
    }
    if (cfg->ip_count == 0)
        return mm_fail(MM_ERR_INVALID, why, why_len, "the deployment address range is empty");
    return MM_OK;
}
