/*
 * A full minter inbox is back-pressure, not a failure (src/actors/provisioner_request.c):
 * the in-process all-in-one stack (direct_stack.h) with the minter's inbox bounded to ONE mint,
 * and a burst of requests whose sessions all become ready together (one deployment, ready after
 * 300 ms; every request polls on the same 50 ms grid), so the provisioner hands the minter many
 * mints in one turn and most find its inbox full. Every request must still end with a
 * SessionReady (before, each refused mint was answered 503 "the token minter is not available"
 * and the Edgegap session thrown away), and the provisioner's mint_waits counter shows that the
 * inbox really was full.
 */
#include <stdio.h>
#include <string.h>

#include "direct_stack.h"
#include "mm/feedback.h"
#include "rec_sink.h"

#define REQUESTS 48
#define WAIT_MS 30000

int
main(void)
{
    harness h = {0};
    h_start_nats(&h);
    h_start_sim(&h, "300", NULL);
    h_start_gameserver(&h);
    direct_stack ds;
    ds_start_with(&ds, &h, "mint-backpressure", 1);

    rec_sink *recs[REQUESTS];
    for (int i = 0; i < REQUESTS; i++) {
        mm_front_request fr = {.id = (uint64_t)i + 1, .route = MM_FRONT_WS};
        snprintf(fr.req.game, sizeof(fr.req.game), "%s", H_APP);
        snprintf(fr.req.version, sizeof(fr.req.version), "%s", H_VERSION);
        fr.req.has_client_ip = true;
        snprintf(fr.req.client_ip, sizeof(fr.req.client_ip), "81.128.157.%d", i + 1);
        recs[i] = rec_new();
        MM_CHECK_INT(mm_direct_backend_submit(ds.backend, &fr, &recs[i]->base), ==, MM_OK);
    }
    int ready = 0;
    for (int i = 0; i < REQUESTS; i++) {
        rec_sink *r = recs[i];
        MM_REQUIRE(rec_wait_freed(r, WAIT_MS));
        if (r->has_error)
            fprintf(stderr, "request %d: Error %u %s\n", i + 1, r->status, r->message);
        mm_feedback fb;
        char why[160];
        if (!r->has_error && r->n > 0 && mm_feedback_decode(r->texts[r->n - 1], strlen(r->texts[r->n - 1]), &fb, why, sizeof(why)) == MM_OK) {
            ready += fb.kind == MM_FEEDBACK_READY;
            mm_feedback_clear(&fb);
        }
        rec_free(r);
    }
    MM_CHECK_INT(ready, ==, REQUESTS);
    mm_provisioner_stats st;
    mm_provisioner_get_stats(ds.prov, &st);
    fprintf(stderr, "mint_waits %llu, failed %llu\n", (unsigned long long)st.mint_waits, (unsigned long long)st.failed);
    MM_CHECK_U64(st.failed, ==, 0);
    MM_CHECK_U64(st.mint_waits, >, 0); /* the inbox of one was full: the retry path ran */

    ds_close(&ds);
    ds_destroy(&ds);
    h_stop(&h);
    nats_Close();
    return MM_TEST_DONE();
}
