/*
 * Edgegap client: helpers for the code that uses the answers (include/mm/edgegap.h): which port
 * a player gets (docs/protocol.md section 5), whether a failure is worth retrying, how long to back off,
 * and names for logs and metrics. Pure functions: no client, no I/O, no allocation.
 */
#include <stdio.h>
#include <string.h>

#include "mm/edgegap.h"

/* "a, b, c" (cut when long), for messages that list a deployment's ports. */
static void
port_names(const mm_edgegap_result *r, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < r->n_ports && used + 1 < len; i++) {
        int n = snprintf(buf + used, len - used, "%s%s", i > 0 ? ", " : "", r->ports[i].name);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

mm_err
mm_edgegap_session_port(const mm_edgegap_result *result, const char *name, uint16_t *external, char *why, size_t why_len)
{
    const mm_edgegap_port *port = NULL;
    char names[256];

    if (result == NULL || external == NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "result and external are required");
    *external = 0;
    if (result->op != MM_EDGEGAP_SESSION_GET || result->outcome != MM_EDGEGAP_OK)
        return mm_fail(MM_ERR_INVALID, why, why_len, "not a successful session get result");
    if (!result->has_deployment)
        return mm_fail(MM_ERR_NOTFOUND, why, why_len, "the session has no deployment yet");
    port_names(result, names, sizeof(names));
    if (name != NULL) {
        for (size_t i = 0; i < result->n_ports && port == NULL; i++)
            if (strcmp(result->ports[i].name, name) == 0)
                port = &result->ports[i];
        if (port == NULL)
            return mm_fail(MM_ERR_NOTFOUND, why, why_len, "the deployment has no port named '%s' (its ports: %s)", name,
                           result->n_ports > 0 ? names : "none");
    } else if (result->n_ports == 0) {
        return mm_fail(MM_ERR_NOTFOUND, why, why_len, "the deployment has no ports");
    } else if (result->n_ports > 1) {
        return mm_fail(MM_ERR_INVALID, why, why_len,
                       "the deployment has %zu ports (%s): configure the name of the one players connect to", result->n_ports,
                       names);
    } else {
        port = &result->ports[0];
    }
    if (port->external == 0)
        return mm_fail(MM_ERR_NOTFOUND, why, why_len, "port '%s' has no external port yet", port->name);
    *external = port->external;
    return MM_OK;
}

bool
mm_edgegap_retryable(const mm_edgegap_result *result)
{
    if (result == NULL)
        return false;
    if (result->outcome == MM_EDGEGAP_TRANSPORT)
        return true;
    if (result->outcome != MM_EDGEGAP_HTTP_ERROR)
        return false;
    return result->status == 429 || (result->status >= 500 && result->status <= 599 && result->status != 501);
}

uint64_t
mm_edgegap_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t max_ms, uint64_t random)
{
    uint64_t cap = base_ms < max_ms ? base_ms : max_ms;
    for (unsigned i = 0; i < attempt && cap > 0 && cap < max_ms; i++)
        cap = cap > max_ms / 2 ? max_ms : cap * 2;
    return cap == UINT64_MAX ? random : random % (cap + 1);
}

const char *
mm_edgegap_op_name(mm_edgegap_op op)
{
    switch (op) {
    case MM_EDGEGAP_APP_GET:
        return "app_get";
    case MM_EDGEGAP_VERSION_GET:
        return "version_get";
    case MM_EDGEGAP_SESSION_CREATE:
        return "session_create";
    case MM_EDGEGAP_SESSION_GET:
        return "session_get";
    case MM_EDGEGAP_SESSION_DELETE:
        return "session_delete";
    default:
        return "unknown";
    }
}

const char *
mm_edgegap_outcome_name(mm_edgegap_outcome outcome)
{
    switch (outcome) {
    case MM_EDGEGAP_OK:
        return "ok";
    case MM_EDGEGAP_HTTP_ERROR:
        return "http_error";
    case MM_EDGEGAP_TRANSPORT:
        return "transport";
    case MM_EDGEGAP_BAD_RESPONSE:
        return "bad_response";
    case MM_EDGEGAP_CANCELLED:
        return "cancelled";
    default:
        return "unknown";
    }
}
