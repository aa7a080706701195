/* The in-process all-in-one stack shared by the direct-backend tests (direct_stack.h). */
#include "direct_stack.h"

#include <string.h>

#include "mm_test_nats_client.h"

void
ds_start(direct_stack *s, harness *h, const char *name)
{
    ds_start_with(s, h, name, 0);
}

void
ds_start_with(direct_stack *s, harness *h, const char *name, uint32_t minter_inbox_capacity)
{
    ds_start_caps(s, h, name, minter_inbox_capacity, 0);
}

void
ds_start_caps(direct_stack *s, harness *h, const char *name, uint32_t minter_inbox_capacity, uint32_t prov_inbox_capacity)
{
    char why[256];
    memset(s, 0, sizeof(*s));
    s->nats = mm_test_nats_connect(&h->nats, name);
    natsConnection *nc = mm_nats_connection(s->nats);
    MM_REQUIRE(mm_js_setup(nc, MM_JS_NEED_ALL, 0, &s->js, why, sizeof(why)) == MM_OK);
    mm_minter_config mc = {.key = &s->key, .protocol_id = 1982, .inbox_capacity = minter_inbox_capacity};
    MM_REQUIRE(mm_minter_start(&mc, &s->minter) == MM_OK);
    mm_provisioner_config pc = {.nc = nc,
                                .js = s->js,
                                .minter = s->minter,
                                .edgegap_url = h->sim_url,
                                .api_key = H_API_KEY,
                                .app = H_APP,
                                .version = H_VERSION,
                                .poll_delay_ms = 50,
                                .poll_interval_ms = 50,
                                .cert_wait_ms = 5000,
                                .inbox_capacity = prov_inbox_capacity};
    MM_REQUIRE(mm_provisioner_start(&pc, &s->prov, why, sizeof(why)) == MM_OK);
    mm_kv_watch_config wc = {.nc = nc,
                             .js = s->js,
                             .bucket = MM_KV_CERT_DIGESTS,
                             .target = mm_provisioner_actor(s->prov),
                             .msg_type = MM_PROVISIONER_MSG_CERT_EVENT};
    MM_REQUIRE(mm_kv_watch_start(&wc, &s->certs, why, sizeof(why)) == MM_OK);
    mm_direct_backend_config dc = {.provisioner = s->prov, .nc = nc, .app = H_APP, .version = H_VERSION};
    MM_REQUIRE(mm_direct_backend_create(&dc, &s->backend, why, sizeof(why)) == MM_OK);
}

void
ds_close(direct_stack *s)
{
    mm_direct_backend_close(s->backend);
    mm_provisioner_stop(s->prov, 2000);
}

void
ds_destroy(direct_stack *s)
{
    mm_kv_watch_destroy(s->certs);
    mm_provisioner_destroy(s->prov);
    mm_direct_backend_destroy(s->backend);
    mm_minter_destroy(s->minter);
    mm_js_destroy(s->js);
    mm_nats_destroy(s->nats);
    memset(s, 0, sizeof(*s));
}
