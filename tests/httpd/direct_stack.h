/*
 * The in-process all-in-one stack of the direct-backend tests, wired as `bevygap_matchmaker
 * --http` wires it: a NATS connection to the harness's nats-server, the JetStream buckets, a
 * minter with the all-zero key (protocol 1982), a provisioner against the harness's edgegap_sim
 * (polls every 50 ms, cert wait 5 s), its cert_digests watcher, and a direct backend serving
 * H_APP H_VERSION. The harness (mm_harness.h) must have started nats-server and the simulators.
 */
#ifndef MM_TEST_DIRECT_STACK_H
#define MM_TEST_DIRECT_STACK_H

#include <stdint.h>

#include "mm/direct_backend.h"
#include "mm/kv.h"
#include "mm/kv_watch.h"
#include "mm/minter.h"
#include "mm/nats_env.h"
#include "mm/provisioner.h"
#include "mm_harness.h"

typedef struct direct_stack {
    mm_nats *nats;
    mm_js *js;
    mm_token_key key;
    mm_minter *minter;
    mm_provisioner *prov;
    mm_kv_watch *certs;
    mm_direct_backend *backend;
} direct_stack;

/** Starts everything (a failure ends the test); name is the NATS connection's name. */
void ds_start(direct_stack *s, harness *h, const char *name);

/** The same with the minter's inbox bounded to minter_inbox_capacity MINTs (0: its default). */
void ds_start_with(direct_stack *s, harness *h, const char *name, uint32_t minter_inbox_capacity);

/** The same with the provisioner's inbox (and so its mints in flight) bounded too (0: default). */
void ds_start_caps(direct_stack *s, harness *h, const char *name, uint32_t minter_inbox_capacity, uint32_t prov_inbox_capacity);

/**
 * The shutdown of the documented order (front stop, backend close, provisioner stop, front
 * destroy, backend destroy) in two halves around the test's front: ds_close closes the backend
 * (again, if the test already did) and stops the provisioner, so no request reaches a sink any
 * more; ds_destroy then frees everything. A front using the backend is stopped before ds_close
 * and destroyed between the two.
 */
void ds_close(direct_stack *s);
void ds_destroy(direct_stack *s);

#endif
