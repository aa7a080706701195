/*
 * The token minter actor: mints requested from several threads all arrive, exactly once, at
 * their reply actor and verify as a game server would (mm_token_decode) for the requested
 * address and client id, in both byte orders; failures arrive as error results; a reply actor
 * whose inbox is full (a requester breaking the reply contract of minter.h) gets its results
 * dropped and counted at once, never waited for; a stopped reply actor's are counted as
 * orphaned; stopping with queued work discards it and frees everything (ASan); random client ids.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/clock.h"
#include "mm/minter.h"
#include "mm_test.h"

enum { MSG_TOKEN_READY = 7 };

#define WAIT_MS 30000
#define PROTOCOL_ID 80085u

/* ---- a reply actor that keeps what it receives ---- */

struct collector {
    pthread_mutex_t lock;
    mm_minter_result **results; /* by arrival */
    uint64_t *targets, *args;   /* the envelope of each arrival */
    size_t count, cap;
    atomic_size_t received;
    atomic_int gate_closed; /* while set, the first message handled blocks until it is cleared */
    atomic_int in_gate;
};

static void
collector_handle(void *state, mm_actor *self, mm_msg *m)
{
    (void)self;
    struct collector *c = state;
    if (m->type != MSG_TOKEN_READY) {
        mm_minter_result_free(m->ptr);
        return;
    }
    if (atomic_load(&c->gate_closed)) {
        atomic_store(&c->in_gate, 1);
        while (atomic_load(&c->gate_closed))
            sched_yield();
    }
    pthread_mutex_lock(&c->lock);
    if (c->count == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->results = realloc(c->results, c->cap * sizeof(*c->results));
        c->targets = realloc(c->targets, c->cap * sizeof(*c->targets));
        c->args = realloc(c->args, c->cap * sizeof(*c->args));
    }
    c->results[c->count] = m->ptr;
    c->targets[c->count] = m->target;
    c->args[c->count] = m->arg;
    c->count++;
    pthread_mutex_unlock(&c->lock);
    atomic_fetch_add(&c->received, 1);
}

static void
collector_discard(void *state, mm_msg *m)
{
    (void)state;
    mm_minter_result_free(m->ptr);
}

static const mm_actor_ops collector_ops = {
    .name = "collector",
    .handle = collector_handle,
    .discard = collector_discard,
};

static mm_actor *
collector_start(struct collector *c, uint32_t capacity)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    mm_actor *a = NULL;
    mm_actor_config cfg = {.inbox = {.capacity = capacity}};
    MM_REQUIRE(mm_actor_start(&collector_ops, c, &cfg, &a) == MM_OK);
    return a;
}

static void
collector_free(struct collector *c)
{
    for (size_t i = 0; i < c->count; i++)
        mm_minter_result_free(c->results[i]);
    free(c->results);
    free(c->targets);
    free(c->args);
    pthread_mutex_destroy(&c->lock);
}

struct count_goal {
    atomic_size_t *counter;
    size_t goal;
};

static bool
count_reached(void *p)
{
    struct count_goal *g = p;
    return atomic_load(g->counter) >= g->goal;
}

static mm_token_key
test_key(void)
{
    mm_token_key key;
    for (int i = 0; i < MM_TOKEN_KEY_BYTES; i++)
        key.bytes[i] = (uint8_t)(i * 7 + 1);
    return key;
}

static mm_minter *
minter_start(mm_byte_order order, uint64_t expire)
{
    mm_token_key key = test_key();
    mm_minter_config cfg = {
        .key = &key, .protocol_id = PROTOCOL_ID, .byte_order = order, .expire_seconds = expire};
    mm_minter *m = NULL;
    MM_REQUIRE(mm_minter_start(&cfg, &m) == MM_OK);
    mm_token_key_wipe(&key); /* the minter holds its own copy */
    return m;
}

/* The address and client id a request id stands for, so any arrival can be checked. */
static mm_token_address
address_of(uint64_t request_id)
{
    mm_token_address a = {.port = (uint16_t)(1000 + request_id % 50000)};
    if (request_id % 3 == 0) {
        a.family = 6;
        a.ip[0] = 0x20;
        a.ip[1] = 0x01;
        a.ip[2] = 0x0d;
        a.ip[3] = 0xb8;
        memcpy(a.ip + 8, &request_id, sizeof(request_id));
    } else {
        a.family = 4;
        a.ip[0] = 10;
        a.ip[1] = (uint8_t)(request_id >> 16);
        a.ip[2] = (uint8_t)(request_id >> 8);
        a.ip[3] = (uint8_t)request_id;
    }
    return a;
}

static uint64_t
client_of(uint64_t request_id)
{
    return request_id * 0x9E3779B97F4A7C15ull | 1;
}

static mm_err
send_mint(mm_minter *m, mm_actor *reply_to, uint64_t request_id)
{
    mm_mint_request req = {.request_id = request_id,
                           .reply_to = reply_to,
                           .reply_type = MSG_TOKEN_READY,
                           .client_id = client_of(request_id),
                           .address = address_of(request_id)};
    return mm_minter_send_mint(m, &req);
}

/* Checks one arrival like a game server would. */
static int
verify(const struct collector *c, size_t i, mm_byte_order order)
{
    const mm_minter_result *r = c->results[i];
    uint64_t id = c->targets[i];
    uint8_t raw[MM_TOKEN_BYTES];
    mm_token_decoded d;
    mm_token_key key = test_key();
    char why[256];
    int ok = r->err == MM_OK && r->request_id == id && r->client_id == client_of(id) && c->args[i] == client_of(id) &&
             strlen(r->token) == MM_TOKEN_BASE64_LEN && mm_token_from_base64(r->token, raw, why, sizeof(why)) == MM_OK &&
             mm_token_decode(raw, &key, order, PROTOCOL_ID, mm_unix_seconds(), &d, why, sizeof(why)) == MM_OK;
    if (ok) {
        mm_token_address want = address_of(id);
        ok = d.client_id == client_of(id) && d.address_count == 1 && d.addresses[0].family == want.family &&
             d.addresses[0].port == want.port && memcmp(d.addresses[0].ip, want.ip, 16) == 0 &&
             d.timeout_seconds == MM_TOKEN_DEFAULT_TIMEOUT_SECONDS &&
             d.expire_timestamp - d.create_timestamp == MM_TOKEN_DEFAULT_EXPIRE_SECONDS;
    }
    if (!ok)
        fprintf(stderr, "arrival %zu (request %llu) does not verify: %s\n", i, (unsigned long long)id, why);
    mm_token_key_wipe(&key);
    return ok;
}

/* ---- several senders ---- */

enum { SENDERS = 4, PER_SENDER = 250 };

struct sender {
    mm_minter *minter;
    mm_actor *reply_to;
    int index;
    int refused;
};

static void *
sender_main(void *p)
{
    struct sender *s = p;
    for (int i = 0; i < PER_SENDER; i++) {
        uint64_t id = (uint64_t)s->index * PER_SENDER + (uint64_t)i + 1;
        mm_err err;
        while ((err = send_mint(s->minter, s->reply_to, id)) == MM_ERR_FULL)
            sched_yield();
        if (err != MM_OK)
            s->refused++;
    }
    return NULL;
}

static void
test_many_senders(mm_byte_order order)
{
    struct collector c;
    mm_actor *reply = collector_start(&c, 0);
    mm_minter *m = minter_start(order, 0);
    struct sender s[SENDERS];
    pthread_t th[SENDERS];
    for (int i = 0; i < SENDERS; i++) {
        s[i] = (struct sender){.minter = m, .reply_to = reply, .index = i};
        MM_REQUIRE(pthread_create(&th[i], NULL, sender_main, &s[i]) == 0);
    }
    for (int i = 0; i < SENDERS; i++) {
        pthread_join(th[i], NULL);
        MM_CHECK_INT(s[i].refused, ==, 0);
    }
    struct count_goal goal = {&c.received, SENDERS * PER_SENDER};
    MM_CHECK(mm_test_wait_until(count_reached, &goal, 1, WAIT_MS));
    mm_minter_destroy(m);
    mm_actor_destroy(reply);

    MM_CHECK_U64(c.count, ==, SENDERS * PER_SENDER);
    char *seen = calloc(SENDERS * PER_SENDER + 1, 1);
    int bad = 0, dup = 0;
    for (size_t i = 0; i < c.count; i++) {
        uint64_t id = c.targets[i];
        if (id == 0 || id > SENDERS * PER_SENDER || seen[id]++)
            dup++;
        else if (!verify(&c, i, order))
            bad++;
    }
    MM_CHECK_INT(bad, ==, 0);
    MM_CHECK_INT(dup, ==, 0);
    /* a token of one byte order is refused under the other */
    if (c.count > 0) {
        uint8_t raw[MM_TOKEN_BYTES];
        mm_token_decoded d;
        mm_token_key key = test_key();
        MM_REQUIRE(mm_token_from_base64(c.results[0]->token, raw, NULL, 0) == MM_OK);
        mm_byte_order other = order == MM_BYTE_ORDER_LITTLE ? MM_BYTE_ORDER_BIG : MM_BYTE_ORDER_LITTLE;
        MM_CHECK(mm_token_decode(raw, &key, other, PROTOCOL_ID, mm_unix_seconds(), &d, NULL, 0) != MM_OK);
    }
    free(seen);
    collector_free(&c);
}

/* ---- failures become error results ---- */

static void
test_failed_mint(void)
{
    struct collector c;
    mm_actor *reply = collector_start(&c, 0);
    /* create + UINT64_MAX seconds overflows: mm_token_mint refuses every token */
    mm_minter *m = minter_start(MM_BYTE_ORDER_LITTLE, UINT64_MAX);
    MM_CHECK_INT(send_mint(m, reply, 5), ==, MM_OK);
    struct count_goal goal = {&c.received, 1};
    MM_CHECK(mm_test_wait_until(count_reached, &goal, 1, WAIT_MS));
    mm_minter_stats st;
    mm_minter_stop(m);
    mm_minter_get_stats(m, &st);
    MM_CHECK_U64(st.failed, ==, 1);
    MM_CHECK_U64(st.minted, ==, 0);
    mm_minter_destroy(m);
    mm_actor_destroy(reply);
    MM_REQUIRE(c.count == 1);
    MM_CHECK_INT(c.results[0]->err, ==, MM_ERR_INVALID);
    MM_CHECK_STR(c.results[0]->token, "");
    MM_CHECK(strstr(c.results[0]->why, "minting the connect token failed") != NULL);
    MM_CHECK_U64(c.targets[0], ==, 5);
    collector_free(&c);
}

/* ---- a reply actor that cannot keep up ---- */

static bool
in_gate(void *p)
{
    return atomic_load(&((struct collector *)p)->in_gate);
}

struct drop_goal {
    mm_minter *m;
    uint64_t dropped;
};

static bool
dropped_reached(void *p)
{
    struct drop_goal *g = p;
    mm_minter_stats st;
    mm_minter_get_stats(g->m, &st);
    return st.dropped >= g->dropped;
}

static bool
orphaned_reached(void *p)
{
    struct drop_goal *g = p;
    mm_minter_stats st;
    mm_minter_get_stats(g->m, &st);
    return st.orphaned >= g->dropped;
}

static void
test_full_reply_inbox(void)
{
    enum { N = 12 };
    struct collector c;
    mm_actor *reply = collector_start(&c, 1); /* a ring of one message */
    atomic_store(&c.gate_closed, 1);
    mm_minter *m = minter_start(MM_BYTE_ORDER_LITTLE, 0);
    /* the first result is taken by the collector, which then holds on to it */
    MM_CHECK_INT(send_mint(m, reply, 1), ==, MM_OK);
    MM_REQUIRE(mm_test_wait_until(in_gate, &c, 1, WAIT_MS));
    /* the second fills the collector's ring; every later one finds it full and is dropped at
     * once (no retry, no wait: the minter goes on with the next) */
    for (uint64_t id = 2; id <= N; id++)
        MM_CHECK_INT(send_mint(m, reply, id), ==, MM_OK);
    struct drop_goal goal = {m, N - 2};
    MM_CHECK(mm_test_wait_until(dropped_reached, &goal, 1, WAIT_MS));
    atomic_store(&c.gate_closed, 0);
    struct count_goal got = {&c.received, 2};
    MM_CHECK(mm_test_wait_until(count_reached, &got, 1, WAIT_MS));
    mm_minter_stop(m);
    mm_minter_stats st;
    mm_minter_get_stats(m, &st);
    MM_CHECK_U64(st.minted, ==, 2);
    MM_CHECK_U64(st.dropped, ==, N - 2);
    MM_CHECK_U64(st.failed, ==, 0);
    MM_CHECK_U64(st.discarded, ==, 0);
    mm_minter_destroy(m);
    mm_actor_stop(reply, MM_ACTOR_DRAIN);
    MM_CHECK_U64(c.count, ==, 2);
    for (size_t i = 0; i < c.count; i++)
        MM_CHECK(verify(&c, i, MM_BYTE_ORDER_LITTLE));
    MM_CHECK_U64(c.targets[0], ==, 1);
    MM_CHECK_U64(c.targets[1], ==, 2);
    mm_actor_destroy(reply);
    collector_free(&c);

    /* a reply actor that has stopped: orphaned at once, not counted as a drop */
    reply = collector_start(&c, 0);
    mm_actor_stop(reply, MM_ACTOR_DRAIN);
    m = minter_start(MM_BYTE_ORDER_LITTLE, 0);
    MM_CHECK_INT(send_mint(m, reply, 9), ==, MM_OK);
    goal = (struct drop_goal){m, 1};
    MM_CHECK(mm_test_wait_until(orphaned_reached, &goal, 1, WAIT_MS));
    mm_minter_stats st2;
    mm_minter_stop(m);
    mm_minter_get_stats(m, &st2);
    MM_CHECK_U64(st2.dropped, ==, 0);
    MM_CHECK_U64(st2.orphaned, ==, 1);
    mm_minter_destroy(m);
    mm_actor_destroy(reply);
    MM_CHECK_U64(c.count, ==, 0);
    collector_free(&c);
}

/* ---- stop with work queued ---- */

static void *
stopper_main(void *m)
{
    mm_minter_stop(m);
    return NULL;
}

static void
test_stop_with_queued_work(void)
{
    enum { QUEUED = 200 };
    struct collector c;
    mm_actor *reply = collector_start(&c, 1);
    atomic_store(&c.gate_closed, 1);
    /* the collector holds result 1, its ring result 2; later results are dropped at once */
    mm_minter *m = minter_start(MM_BYTE_ORDER_LITTLE, 0);
    uint64_t accepted = 0, id = 1;
    MM_CHECK_INT(send_mint(m, reply, id++), ==, MM_OK);
    accepted++;
    MM_REQUIRE(mm_test_wait_until(in_gate, &c, 1, WAIT_MS));
    for (int i = 0; i < QUEUED + 2; i++) {
        while (send_mint(m, reply, id) == MM_ERR_FULL)
            sched_yield();
        id++;
        accepted++;
    }
    /* stop from another thread (it joins) while this one keeps sending: whatever is queued
     * then is discarded; its inbox refusing a send shows the stop took effect */
    pthread_t stopper;
    MM_REQUIRE(pthread_create(&stopper, NULL, stopper_main, m) == 0);
    mm_err err;
    while ((err = send_mint(m, reply, id)) == MM_OK || err == MM_ERR_FULL) {
        if (err == MM_OK) {
            accepted++;
            id++;
        }
        sched_yield();
    }
    MM_CHECK_INT(err, ==, MM_ERR_STOPPED);
    pthread_join(stopper, NULL);
    atomic_store(&c.gate_closed, 0);
    mm_minter_stats st;
    mm_minter_get_stats(m, &st);
    fprintf(stderr, "stop: accepted %llu, minted %llu, dropped %llu, discarded %llu\n", (unsigned long long)accepted,
            (unsigned long long)st.minted, (unsigned long long)st.dropped, (unsigned long long)st.discarded);
    MM_CHECK_U64(st.minted + st.failed + st.dropped + st.orphaned + st.discarded, ==, accepted);
    MM_CHECK_U64(st.minted, >=, 1); /* result 1; result 2 too unless the stop came first */
    MM_CHECK_U64(st.minted, <=, 2);
    MM_CHECK_U64(st.orphaned, ==, 0);
    MM_CHECK_INT(mm_minter_send_mint(m, &(mm_mint_request){.reply_to = reply, .client_id = 1, .address = address_of(1)}), ==,
                 MM_ERR_STOPPED);
    mm_minter_destroy(m);
    mm_actor_stop(reply, MM_ACTOR_DRAIN);
    MM_CHECK_U64(c.count, ==, st.minted);
    mm_actor_destroy(reply);
    collector_free(&c);
}

/* ---- arguments and helpers ---- */

static void
test_arguments(void)
{
    mm_token_key key = test_key();
    mm_minter *m = NULL;
    MM_CHECK_INT(mm_minter_start(NULL, &m), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_minter_start(&(mm_minter_config){.protocol_id = 1}, &m), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_minter_start(&(mm_minter_config){.key = &key, .byte_order = 2}, &m), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_minter_start(&(mm_minter_config){.key = &key, .timeout_seconds = -2}, &m), ==, MM_ERR_INVALID);
    MM_CHECK(m == NULL);
    MM_REQUIRE(mm_minter_start(&(mm_minter_config){.key = &key}, &m) == MM_OK);
    struct collector c;
    mm_actor *reply = collector_start(&c, 0);
    mm_mint_request ok = {.reply_to = reply, .client_id = 1, .address = address_of(1)};
    mm_mint_request r = ok;
    r.client_id = 0;
    MM_CHECK_INT(mm_minter_send_mint(m, &r), ==, MM_ERR_INVALID);
    r = ok;
    r.reply_to = NULL;
    MM_CHECK_INT(mm_minter_send_mint(m, &r), ==, MM_ERR_INVALID);
    r = ok;
    r.address.family = 5;
    MM_CHECK_INT(mm_minter_send_mint(m, &r), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_minter_send_mint(m, NULL), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_minter_send_mint(NULL, &ok), ==, MM_ERR_INVALID);
    mm_minter_destroy(m);
    mm_minter_destroy(NULL);
    mm_minter_stop(NULL);
    mm_minter_result_free(NULL);
    mm_actor_destroy(reply);
    collector_free(&c);

    uint64_t first = mm_minter_client_id();
    int zero = 0, same = 0;
    for (int i = 0; i < 10000; i++) {
        uint64_t id = mm_minter_client_id();
        zero += id == 0;
        same += id == first;
    }
    MM_CHECK_INT(zero, ==, 0);
    MM_CHECK_INT(same, ==, 0);
}

int
main(void)
{
    MM_REQUIRE(mm_crypto_init() == MM_OK);
    test_arguments();
    test_many_senders(MM_BYTE_ORDER_LITTLE);
    test_many_senders(MM_BYTE_ORDER_BIG);
    test_failed_mint();
    test_full_reply_inbox();
    test_stop_with_queued_work();
    return MM_TEST_DONE();
}
