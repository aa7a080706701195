/* The requests and matchmaker texts of bridge_feed.h. */
#include "bridge_feed.h"

#include <stdint.h>
#include <stdio.h>

#include "mm/feedback.h"
#include "mm/request.h"
#include "mm_test.h"

static uint64_t next_id;

rec_sink *
bf_submit(mm_nats_bridge *b, mm_front_route route, const char *ip)
{
    mm_front_request fr = {.id = ++next_id, .route = route};
    snprintf(fr.req.game, sizeof(fr.req.game), "game");
    snprintf(fr.req.version, sizeof(fr.req.version), "v1");
    fr.req.has_client_ip = true;
    snprintf(fr.req.client_ip, sizeof(fr.req.client_ip), "%s", ip);
    rec_sink *r = rec_new();
    MM_REQUIRE(mm_nats_bridge_submit(b, &fr, &r->base) == MM_OK);
    return r;
}

char *
bf_ack_text(void)
{
    char *t = NULL;
    MM_REQUIRE(mm_feedback_acknowledged(&t, NULL) == MM_OK);
    return t;
}

char *
bf_ready_text(void)
{
    char *t = NULL;
    MM_REQUIRE(mm_feedback_ready("TkVUQ09ERSAxLjAy", "172.104.236.32", 30004, "e3:76:4d", &t, NULL) == MM_OK);
    return t;
}
