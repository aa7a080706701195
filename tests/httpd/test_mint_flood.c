/*
 * No token of a session Edgegap made is lost to a slow provisioner (the reply contract
 * of include/mm/minter.h, the mint line of src/actors/provisioner_request.c).
 *
 * The in-process all-in-one stack (direct_stack.h) with the provisioner's inbox bounded to TWO
 * messages per producer ring, so the minter's ring of it holds few TOKEN_READYs, and a slow
 * provisioner: every request's sink sleeps 50 ms in end(), which runs on the provisioner thread
 * right after a TOKEN_READY. A flood of requests whose sessions all become ready within a short
 * time (one deployment, ready after 300 ms) makes the provisioner want many mints at once.
 * Before the fix the minter sent them all, found the provisioner's ring full while it slept,
 * retried 20 ms and dropped the token: those players waited for the session timeout and got 408
 * for a session Edgegap had made (minter stats.dropped > 0). Now the provisioner keeps at most
 * two mints in flight and the rest in its mint line: every request ends with SessionReady, the
 * minter dropped nothing, and the provisioner's mints_held counter shows the line was used.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "direct_stack.h"
#include "mm/feedback.h"
#include "rec_sink.h"

#define REQUESTS 40
#define WAIT_MS 60000
#define SLOW_END_MS 50

static mm_reply_sink_ops slow_ops;
static mm_err (*rec_end_fn)(mm_reply_sink *);

/* The test's stand-in for a slow provisioner turn: runs on the provisioner thread. */
static mm_err
slow_end(mm_reply_sink *sink)
{
    mm_test_sleep_ms(SLOW_END_MS);
    return rec_end_fn(sink);
}

int
main(void)
{
    harness h = {0};
    h_start_nats(&h);
    h_start_sim(&h, "300", NULL);
    h_start_gameserver(&h);
    direct_stack ds;
    ds_start_caps(&ds, &h, "mint-flood", 0, 2);

    rec_sink *recs[REQUESTS];
    for (int i = 0; i < REQUESTS; i++) {
        recs[i] = rec_new();
        if (i == 0) {
            slow_ops = *recs[0]->base.ops;
            rec_end_fn = slow_ops.end;
            slow_ops.end = slow_end;
        }
        recs[i]->base.ops = &slow_ops;
        mm_front_request fr = {.id = (uint64_t)i + 1, .route = MM_FRONT_WS};
        snprintf(fr.req.game, sizeof(fr.req.game), "%s", H_APP);
        snprintf(fr.req.version, sizeof(fr.req.version), "%s", H_VERSION);
        fr.req.has_client_ip = true;
        snprintf(fr.req.client_ip, sizeof(fr.req.client_ip), "81.128.157.%d", i + 1);
        MM_CHECK_INT(mm_direct_backend_submit(ds.backend, &fr, &recs[i]->base), ==, MM_OK);
        /* the provisioner's ring for this thread holds two: wait until it took this one */
        MM_REQUIRE(rec_wait_texts(recs[i], 1, WAIT_MS));
    }
    int ready = 0;
    for (int i = 0; i < REQUESTS; i++) {
        rec_sink *r = recs[i];
        MM_REQUIRE(rec_wait_freed(r, WAIT_MS));
        if (r->has_error)
            fprintf(stderr, "request %d: Error %u %s\n", i + 1, r->status, r->message);
        mm_feedback fb;
        char why[160];
        if (!r->has_error && r->n > 0 &&
            mm_feedback_decode(r->texts[r->n - 1], strlen(r->texts[r->n - 1]), &fb, why, sizeof(why)) == MM_OK) {
            ready += fb.kind == MM_FEEDBACK_READY;
            mm_feedback_clear(&fb);
        }
        rec_free(r);
    }
    mm_provisioner_stats pst;
    mm_provisioner_get_stats(ds.prov, &pst);
    mm_minter_stats mst;
    mm_minter_get_stats(ds.minter, &mst);
    fprintf(stderr, "ready %d of %d; minter minted %llu dropped %llu orphaned %llu; provisioner mints_held %llu mint_waits %llu\n",
            ready, REQUESTS, (unsigned long long)mst.minted, (unsigned long long)mst.dropped, (unsigned long long)mst.orphaned,
            (unsigned long long)pst.mints_held, (unsigned long long)pst.mint_waits);
    MM_CHECK_INT(ready, ==, REQUESTS);
    MM_CHECK_U64(mst.dropped, ==, 0);
    MM_CHECK_U64(mst.orphaned, ==, 0);
    MM_CHECK_U64(mst.minted, ==, REQUESTS);
    MM_CHECK_U64(pst.failed, ==, 0);
    MM_CHECK_U64(pst.mints_held, >, 0); /* the cap was reached: mints waited in the line */

    ds_close(&ds);
    ds_destroy(&ds);
    h_stop(&h);
    nats_Close();
    return MM_TEST_DONE();
}
