/*
 * What the NATS-bridge tests (test_bridge_heartbeat.c, test_bridge_liveness.c) feed the bridge
 * and the matchmaker stand-in: a request submitted as the front would (game/v1 from a client ip,
 * recorded by a rec_sink), and the Acknowledged and SessionReady texts a matchmaker sends
 * (include/mm/feedback.h). Every helper stops the test on failure.
 */
#ifndef MM_TEST_BRIDGE_FEED_H
#define MM_TEST_BRIDGE_FEED_H

#include "mm/nats_bridge.h"
#include "rec_sink.h"

/** Submits a game/v1 request on route from ip (ids 1, 2, ... per process); its client is the returned record. */
rec_sink *bf_submit(mm_nats_bridge *b, mm_front_route route, const char *ip);

/** "Acknowledged" as the matchmaker sends it (a new string, the caller frees). */
char *bf_ack_text(void);

/** A SessionReady with a fixed token, ip and port (a new string, the caller frees). */
char *bf_ready_text(void);

#endif
