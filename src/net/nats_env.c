/*
 * NATS settings from the environment (include/mm/nats_env.h).
 *
 * Everything is validated here, before any connection exists, so that a typo is one clear line
 * and exit status 2 instead of a connection that retries for ever against "nats://:4222". The
 * server list is normalised into URLs nats.c accepts; credentials stay in their own fields (never
 * in a URL) so that logging a URL cannot leak them. NATS_CA_CONTENTS is written with mkstemps,
 * which creates the file with mode 0600.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "mm/log.h"
#include "mm/nats_env.h"
#include "mm/parse.h"
#include "mm/url.h"

#define DEFAULT_PORT 4222
#define MAX_SERVERS 16

/* Names the variable at fault in *var (var may be NULL) and passes err through. */
static mm_err
blame(const char **var, const char *name, mm_err err)
{
    if (var != NULL)
        *var = name;
    return err;
}

/* getenv, with an empty value counted as unset (except where the caller says otherwise). */
static const char *
env_value(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? v : NULL;
}

static int
host_is_plain(const char *host, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = host[i];
        if (c == ' ' || c == '\t' || c == '/' || c == '@' || c == '[' || c == ']' || c == ',')
            return 0;
    }
    return 1;
}

/*
 * One entry of NATS_HOST (already trimmed, len bytes) into a URL. Returns MM_OK and a malloc'd
 * URL, or MM_ERR_INVALID with the reason in why.
 */
static mm_err
server_url(const char *entry, size_t len, char **url, char *why, size_t why_len)
{
    char host[256], port_text[16];
    uint64_t port = DEFAULT_PORT;
    int v6 = 0;

    if (len == 0)
        return mm_fail(MM_ERR_INVALID, why, why_len, "an empty server entry");
    if (len >= sizeof(host))
        return mm_fail(MM_ERR_INVALID, why, why_len, "a server entry longer than %zu bytes", sizeof(host) - 1);
    /* what an error shows of the entry: "user:pass@host" keeps its password out of the log */
    char raw[256], shown[sizeof(raw) + 8];
    memcpy(raw, entry, len);
    raw[len] = '\0';
    mm_url_redact(raw, shown, sizeof(shown));
    if (memmem(entry, len, "://", 3) != NULL) {
        *url = strndup(entry, len);
        return *url != NULL ? MM_OK : MM_ERR_NOMEM;
    }

    const char *port_start = NULL;
    size_t host_len = 0;
    const char *host_start = entry;
    if (entry[0] == '[') {
        const char *close = memchr(entry, ']', len);
        if (close == NULL)
            return mm_fail(MM_ERR_INVALID, why, why_len, "'%s' has no closing ']'", shown);
        host_start = entry + 1;
        host_len = (size_t)(close - host_start);
        size_t rest = len - (size_t)(close + 1 - entry);
        if (rest > 0) {
            if (close[1] != ':')
                return mm_fail(MM_ERR_INVALID, why, why_len, "'%s' is not [IPV6]:PORT", shown);
            port_start = close + 2;
        }
        v6 = 1;
    } else {
        const char *first = memchr(entry, ':', len);
        size_t colons = 0;
        for (size_t i = 0; i < len; i++)
            colons += entry[i] == ':';
        if (colons == 0) {
            host_len = len;
        } else if (colons == 1) {
            host_len = (size_t)(first - entry);
            port_start = first + 1;
        } else { /* several colons and no brackets: a bare IPv6 address */
            host_len = len;
            v6 = 1;
        }
    }
    if (!host_is_plain(host_start, host_len))
        return mm_fail(MM_ERR_INVALID, why, why_len, "'%s' has no valid host", shown);
    memcpy(host, host_start, host_len);
    host[host_len] = '\0';
    if (port_start != NULL) {
        size_t plen = (size_t)(entry + len - port_start);
        if (plen == 0 || plen >= sizeof(port_text))
            return mm_fail(MM_ERR_INVALID, why, why_len, "'%s' has no valid port", shown);
        memcpy(port_text, port_start, plen);
        port_text[plen] = '\0';
        char reason[128];
        if (mm_parse_u64(port_text, 1, 65535, &port, reason, sizeof(reason)) != MM_OK)
            return mm_fail(MM_ERR_INVALID, why, why_len, "port of '%s': %s", shown, reason);
    }
    if (asprintf(url, v6 ? "nats://[%s]:%u" : "nats://%s:%u", host, (unsigned)port) < 0) {
        *url = NULL;
        return MM_ERR_NOMEM;
    }
    return MM_OK;
}

static mm_err
parse_servers(mm_nats_env *env, const char *text, const char **var, char *why, size_t why_len)
{
    env->servers = calloc(MAX_SERVERS, sizeof(char *));
    if (env->servers == NULL)
        return MM_ERR_NOMEM;
    const char *p = text;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma != NULL ? comma : p + strlen(p);
        const char *s = p, *e = end;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (env->server_count == MAX_SERVERS)
            return blame(var, "NATS_HOST",
                         mm_fail(MM_ERR_INVALID, why, why_len, "NATS_HOST lists more than %d servers", MAX_SERVERS));
        char reason[200];
        mm_err err = server_url(s, (size_t)(e - s), &env->servers[env->server_count], reason, sizeof(reason));
        if (err == MM_ERR_NOMEM)
            return err;
        if (err != MM_OK)
            return blame(var, "NATS_HOST", mm_fail(err, why, why_len, "NATS_HOST is invalid: %s", reason));
        env->server_count++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return MM_OK;
}

/* Writes the PEM text into a new private temp file; env->ca_path names it. */
static mm_err
write_ca_file(mm_nats_env *env, const char *pem, const char **var, char *why, size_t why_len)
{
    const char *dir = env_value("TMPDIR");
    if (asprintf(&env->ca_path, "%s/mm-nats-ca-XXXXXX.pem", dir != NULL ? dir : "/tmp") < 0) {
        env->ca_path = NULL;
        return MM_ERR_NOMEM;
    }
    int fd = mkstemps(env->ca_path, 4);
    if (fd < 0) {
        int e = errno;
        return blame(var, "NATS_CA_CONTENTS",
                     mm_fail(MM_ERR_SYS, why, why_len, "NATS_CA_CONTENTS: cannot create a temp file like %s: %s", env->ca_path,
                             strerror(e)));
    }
    env->ca_path_is_temp = true;
    size_t left = strlen(pem);
    const char *at = pem;
    while (left > 0) {
        ssize_t w = write(fd, at, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            return blame(var, "NATS_CA_CONTENTS",
                         mm_fail(MM_ERR_SYS, why, why_len, "NATS_CA_CONTENTS: cannot write %s: %s", env->ca_path, strerror(e)));
        }
        at += w;
        left -= (size_t)w;
    }
    if (close(fd) != 0) {
        int e = errno;
        return blame(var, "NATS_CA_CONTENTS",
                     mm_fail(MM_ERR_SYS, why, why_len, "NATS_CA_CONTENTS: cannot write %s: %s", env->ca_path, strerror(e)));
    }
    return MM_OK;
}

mm_err
mm_nats_env_read(mm_nats_env **out, const char **var, char *why, size_t why_len)
{
    mm_err err = MM_OK;
    mm_nats_env *env = calloc(1, sizeof(*env));
    if (env == NULL)
        return MM_ERR_NOMEM;
    if (var != NULL)
        *var = NULL;
    if (why != NULL && why_len > 0)
        why[0] = '\0';

    const char *host = env_value("NATS_HOST");
    if (host == NULL) {
        err = blame(var, "NATS_HOST",
                    mm_fail(MM_ERR_INVALID, why, why_len, "NATS_HOST is not set (the NATS server as host or host:port)"));
        goto cleanup;
    }
    if ((err = parse_servers(env, host, var, why, why_len)) != MM_OK)
        goto cleanup;

    const char *user = env_value("NATS_USER");
    const char *password = env_value("NATS_PASSWORD");
    if (password == NULL)
        password = env_value("NATS_PASS");
    if (user != NULL && password == NULL) {
        err = blame(var, "NATS_PASSWORD",
                    mm_fail(MM_ERR_INVALID, why, why_len, "NATS_USER is set but NATS_PASSWORD (or NATS_PASS) is not"));
        goto cleanup;
    }
    if (user == NULL && password != NULL) {
        err = blame(var, "NATS_USER", mm_fail(MM_ERR_INVALID, why, why_len, "NATS_PASSWORD is set but NATS_USER is not"));
        goto cleanup;
    }
    if (user != NULL && ((env->user = strdup(user)) == NULL || (env->password = strdup(password)) == NULL)) {
        err = MM_ERR_NOMEM;
        goto cleanup;
    }

    /* As in the reference: NATS_INSECURE counts when it is present at all. */
    env->insecure = getenv("NATS_INSECURE") != NULL;

    const char *ca = env_value("NATS_CA");
    const char *ca_contents = env_value("NATS_CA_CONTENTS");
    if (ca != NULL) {
        if ((env->ca_path = strdup(ca)) == NULL) {
            err = MM_ERR_NOMEM;
            goto cleanup;
        }
    } else if (ca_contents != NULL) {
        if ((err = write_ca_file(env, ca_contents, var, why, why_len)) != MM_OK)
            goto cleanup;
    }
    *out = env;
    env = NULL;

cleanup:
    if (err == MM_ERR_NOMEM)
        blame(var, NULL, mm_fail(err, why, why_len, "out of memory reading the NATS environment"));
    mm_nats_env_destroy(env);
    return err;
}

void
mm_nats_env_destroy(mm_nats_env *env)
{
    if (env == NULL)
        return;
    for (int i = 0; env->servers != NULL && i < MAX_SERVERS; i++)
        free(env->servers[i]);
    free(env->servers);
    free(env->user);
    if (env->password != NULL) {
        sodium_memzero(env->password, strlen(env->password));
        free(env->password);
    }
    if (env->ca_path != NULL && env->ca_path_is_temp && unlink(env->ca_path) != 0 && errno != ENOENT)
        mm_warn("nats: cannot remove the CA temp file %s: %s", env->ca_path, strerror(errno));
    free(env->ca_path);
    free(env);
}
