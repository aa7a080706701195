/*
 * Test support for tests that talk to the test's own nats-server through our NATS module:
 * sets NATS_HOST / NATS_INSECURE for that server (as a service would read them) and connects
 * with fast reconnects (50 ms, at most 200 ms), so restart tests stay short.
 */
#ifndef MM_TEST_NATS_CLIENT_H
#define MM_TEST_NATS_CLIENT_H

#include "mm/nats_env.h"
#include "mm_test.h"

/** Connects to server as `name` and waits until connected; stops the test if it cannot. */
mm_nats *mm_test_nats_connect(const struct mm_test_nats *server, const char *name);

#endif
