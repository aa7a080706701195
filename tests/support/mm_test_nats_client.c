/* See mm_test_nats_client.h. */
#include <stdio.h>
#include <stdlib.h>

#include "mm_test_nats_client.h"

mm_nats *
mm_test_nats_connect(const struct mm_test_nats *server, const char *name)
{
    char host[64], why[256];
    snprintf(host, sizeof(host), "127.0.0.1:%d", server->port);
    setenv("NATS_HOST", host, 1);
    setenv("NATS_INSECURE", "1", 1);
    mm_nats_env *env = NULL;
    mm_nats *nats = NULL;
    MM_REQUIRE(mm_nats_env_read(&env, NULL, why, sizeof(why)) == MM_OK);
    mm_nats_connect_opts opts = {.name = name, .reconnect_wait_ms = 50, .reconnect_max_wait_ms = 200};
    mm_err err = mm_nats_connect(env, &opts, &nats, why, sizeof(why));
    mm_nats_env_destroy(env);
    if (err != MM_OK)
        fprintf(stderr, "mm_test_nats_connect: %s\n", why);
    MM_REQUIRE(err == MM_OK);
    MM_REQUIRE(mm_nats_wait_connected(nats, 10000) == MM_OK);
    return nats;
}
