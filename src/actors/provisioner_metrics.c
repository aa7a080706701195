/*
 * The provisioner's series in the metrics registry (include/mm/metrics.h): the gauges of
 * requests by state, moved at each transition (so they are exact without a scan), and what a
 * request's end counts. Runs on the provisioner's thread; the registry is atomics.
 */
#include "mm/clock.h"
#include "mm/metrics.h"
#include "provisioner_internal.h"

/* The gauge of requests in a state; -1 for states without one. */
static int
state_gauge(enum mm__prov_state s)
{
    switch (s) {
    case MM__PROV_CREATING:
        return MM_METRIC_REQUESTS_WAITING;
    case MM__PROV_POLLING:
        return MM_METRIC_REQUESTS_POLLING;
    case MM__PROV_CERT_WAIT:
        return MM_METRIC_REQUESTS_CERT_WAIT;
    case MM__PROV_MINTING:
        return MM_METRIC_REQUESTS_MINTING;
    default:
        return -1;
    }
}

void
mm__prov_state_set(mm__prov_req *r, enum mm__prov_state state)
{
    int from = state_gauge(r->state), to = state_gauge(state);
    if (from != to) {
        if (from >= 0)
            mm_metric_add((mm_metric_gauge)from, -1);
        if (to >= 0)
            mm_metric_add((mm_metric_gauge)to, 1);
    }
    if (state == MM__PROV_CERT_WAIT && r->state != MM__PROV_CERT_WAIT)
        mm_metric_inc(MM_METRIC_CERT_DIGEST_WAITS);
    r->state = state;
}

void
mm__prov_metric_end(const mm__prov_req *r, unsigned status)
{
    uint64_t now = mm_now_ms();
    mm_metric_request_end(status, (now > r->start_ms ? now - r->start_ms : 0) * 1000000ull);
    if (r->session_id[0] != '\0')
        mm_metric_gets_per_session(r->gets);
}
