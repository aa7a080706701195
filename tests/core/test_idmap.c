/*
 * Id map (include/mm/idmap.h): fresh ids are never reused; caller keys put, replace, get and
 * remove, sequential and random; keys that share a home slot, with removals from the middle and
 * across the end of the table (backward shift keeps every other key reachable); a long random
 * run against a plain array model; churn that must not grow the table; key 0 refused.
 *
 * The test reads the map's public fields (keys, cap) to find home slots and to check that the
 * table holds exactly its live keys: no tombstones, no lost entries.
 */
#include <stdlib.h>

#include "mm/idmap.h"
#include "mm_test.h"

static uint64_t rng_state = 88172645463325252ULL;

static uint64_t
rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Occupied slots in the table; equals the count when nothing stale is left behind. */
static size_t
occupied(const mm_idmap *map)
{
    size_t n = 0;
    for (size_t i = 0; i < map->cap; i++)
        n += map->keys[i] != 0;
    return n;
}

static void
test_fresh_ids(void)
{
    enum { N = 10000 };
    mm_idmap map;
    mm_idmap_init(&map);
    static int values[N];
    static uint64_t ids[N];
    for (int i = 0; i < N; i++)
        MM_REQUIRE(mm_idmap_add(&map, &values[i], &ids[i]) == MM_OK);
    MM_CHECK_U64(mm_idmap_count(&map), ==, N);
    int wrong = 0;
    for (int i = 0; i < N; i++)
        wrong += ids[i] == 0 || (i > 0 && ids[i] <= ids[i - 1]) || mm_idmap_get(&map, ids[i]) != &values[i];
    MM_CHECK_INT(wrong, ==, 0);
    for (int i = 0; i < N; i += 2)
        wrong += mm_idmap_remove(&map, ids[i]) != &values[i];
    MM_CHECK_INT(wrong, ==, 0);
    MM_CHECK(mm_idmap_remove(&map, ids[0]) == NULL);
    MM_CHECK(mm_idmap_get(&map, ids[0]) == NULL);
    MM_CHECK(mm_idmap_get(&map, ids[1]) == &values[1]);
    MM_CHECK(mm_idmap_get(&map, 123456789) == NULL);
    /* a removed id is never handed out again, not even after dispose */
    uint64_t id = 0;
    MM_REQUIRE(mm_idmap_add(&map, &values[0], &id) == MM_OK);
    MM_CHECK_U64(id, >, ids[N - 1]);
    mm_idmap_dispose(&map);
    MM_CHECK_U64(mm_idmap_count(&map), ==, 0);
    MM_CHECK(mm_idmap_get(&map, ids[1]) == NULL);
    uint64_t after = 0;
    MM_REQUIRE(mm_idmap_add(&map, &values[0], &after) == MM_OK);
    MM_CHECK_U64(after, >, id);
    /* keys a caller put are skipped by fresh ids: nothing is overwritten */
    MM_REQUIRE(mm_idmap_put(&map, after + 1, &values[1]) == MM_OK);
    MM_REQUIRE(mm_idmap_put(&map, after + 2, &values[2]) == MM_OK);
    MM_REQUIRE(mm_idmap_add(&map, &values[3], &id) == MM_OK);
    MM_CHECK_U64(id, ==, after + 3);
    MM_CHECK(mm_idmap_get(&map, after + 1) == &values[1]);
    MM_CHECK(mm_idmap_get(&map, after + 2) == &values[2]);
    MM_CHECK_U64(mm_idmap_count(&map), ==, 4);
    mm_idmap_dispose(&map);
    mm_idmap_dispose(&map); /* twice is harmless */
    mm_idmap_dispose(NULL);
}

static void
test_caller_keys(void)
{
    enum { N = 20000 };
    mm_idmap map;
    mm_idmap_init(&map);
    uint64_t *keys = calloc(N, sizeof(*keys));
    static int values[N];
    MM_REQUIRE(keys != NULL);
    for (int i = 0; i < N; i++) {
        keys[i] = i % 3 == 0 ? (uint64_t)i + 1 : rng() | 1; /* sequential and random keys */
        MM_REQUIRE(mm_idmap_put(&map, keys[i], &values[i]) == MM_OK);
    }
    MM_CHECK_U64(mm_idmap_count(&map), ==, N);
    MM_CHECK_U64(occupied(&map), ==, N);
    MM_CHECK_U64(map.cap, >=, 2 * N); /* grows before half full */
    int bad = 0;
    for (int i = 0; i < N; i++)
        bad += mm_idmap_get(&map, keys[i]) != &values[i];
    MM_CHECK_INT(bad, ==, 0);
    for (int i = 0; i < N; i += 2)
        bad += mm_idmap_remove(&map, keys[i]) != &values[i];
    MM_CHECK_INT(bad, ==, 0);
    for (int i = 0; i < N; i++)
        bad += (mm_idmap_get(&map, keys[i]) != NULL) != (i % 2 == 1);
    MM_CHECK_INT(bad, ==, 0);
    MM_CHECK(mm_idmap_remove(&map, keys[0]) == NULL);
    MM_CHECK_U64(mm_idmap_count(&map), ==, N / 2);
    MM_CHECK_U64(occupied(&map), ==, N / 2);

    /* replace: same count, new value */
    MM_CHECK_INT(mm_idmap_put(&map, keys[1], &values[0]), ==, MM_OK);
    MM_CHECK(mm_idmap_get(&map, keys[1]) == &values[0]);
    MM_CHECK_U64(mm_idmap_count(&map), ==, N / 2);
    /* a NULL value is stored (and counted), though get cannot tell it from a miss */
    MM_CHECK_INT(mm_idmap_put(&map, keys[3], NULL), ==, MM_OK);
    MM_CHECK_U64(mm_idmap_count(&map), ==, N / 2);
    MM_CHECK(mm_idmap_remove(&map, keys[3]) == NULL);
    MM_CHECK_U64(mm_idmap_count(&map), ==, N / 2 - 1);

    /* key 0 is refused and never found */
    MM_CHECK_INT(mm_idmap_put(&map, 0, &values[0]), ==, MM_ERR_INVALID);
    MM_CHECK(mm_idmap_get(&map, 0) == NULL);
    MM_CHECK(mm_idmap_remove(&map, 0) == NULL);
    MM_CHECK_U64(mm_idmap_count(&map), ==, N / 2 - 1);
    /* the largest key is an ordinary key */
    MM_CHECK_INT(mm_idmap_put(&map, UINT64_MAX, &values[5]), ==, MM_OK);
    MM_CHECK(mm_idmap_get(&map, UINT64_MAX) == &values[5]);
    MM_CHECK(mm_idmap_remove(&map, UINT64_MAX) == &values[5]);
    free(keys);
    mm_idmap_dispose(&map);

    /* an empty map answers without a table */
    mm_idmap empty;
    mm_idmap_init(&empty);
    MM_CHECK(mm_idmap_get(&empty, 1) == NULL);
    MM_CHECK(mm_idmap_remove(&empty, 1) == NULL);
    MM_CHECK_INT(mm_idmap_put(&empty, 0, &values[0]), ==, MM_ERR_INVALID);
    MM_CHECK_U64(empty.cap, ==, 0);
}

/* The home slot of key in a table of the first size, found by storing it alone. */
static size_t
home_of(uint64_t key)
{
    mm_idmap probe;
    mm_idmap_init(&probe);
    MM_REQUIRE(mm_idmap_put(&probe, key, &probe) == MM_OK);
    size_t home = SIZE_MAX;
    for (size_t i = 0; i < probe.cap; i++)
        if (probe.keys[i] == key)
            home = i;
    mm_idmap_dispose(&probe);
    return home;
}

static size_t
first_capacity(void)
{
    mm_idmap probe;
    mm_idmap_init(&probe);
    MM_REQUIRE(mm_idmap_put(&probe, 1, &probe) == MM_OK);
    size_t cap = probe.cap;
    mm_idmap_dispose(&probe);
    return cap;
}

/*
 * Keys that collide: CHAIN keys whose home slot is `home` and CHAIN whose home is the slot after
 * it, put interleaved so their probe runs merge, in a table that does not grow meanwhile. Each
 * removal (middle first, then in a shuffled order) must leave every other key reachable.
 */
static void
test_collisions_at(size_t home, size_t cap)
{
    enum { CHAIN = 7 };
    uint64_t keys[2 * CHAIN];
    int values[2 * CHAIN];
    size_t got[2] = {0, 0};
    for (uint64_t k = 1; got[0] < CHAIN || got[1] < CHAIN; k++) {
        size_t h = home_of(k);
        for (int c = 0; c < 2; c++)
            if (h == (home + (size_t)c) % cap && got[c] < CHAIN)
                keys[2 * got[c]++ + (size_t)c] = k;
    }
    mm_idmap map;
    mm_idmap_init(&map);
    for (int i = 0; i < 2 * CHAIN; i++)
        MM_REQUIRE(mm_idmap_put(&map, keys[i], &values[i]) == MM_OK);
    MM_REQUIRE(map.cap == cap); /* one table: the runs really overlap */
    MM_CHECK(map.keys[home] == keys[0]);

    static const int order[2 * CHAIN] = {6, 1, 13, 0, 9, 2, 12, 4, 7, 11, 3, 10, 5, 8};
    int removed[2 * CHAIN] = {0};
    int lost = 0;
    for (int r = 0; r < 2 * CHAIN; r++) {
        int victim = order[r];
        MM_CHECK(mm_idmap_remove(&map, keys[victim]) == &values[victim]);
        removed[victim] = 1;
        for (int i = 0; i < 2 * CHAIN; i++)
            lost += mm_idmap_get(&map, keys[i]) != (removed[i] ? NULL : &values[i]);
        MM_CHECK_U64(occupied(&map), ==, mm_idmap_count(&map));
        /* put back and take out again: the run reorganises itself and stays correct */
        if (r % 3 == 0) {
            MM_REQUIRE(mm_idmap_put(&map, keys[victim], &values[victim]) == MM_OK);
            lost += mm_idmap_get(&map, keys[victim]) != &values[victim];
            MM_CHECK(mm_idmap_remove(&map, keys[victim]) == &values[victim]);
        }
    }
    MM_CHECK_INT(lost, ==, 0);
    MM_CHECK_U64(mm_idmap_count(&map), ==, 0);
    MM_CHECK_U64(occupied(&map), ==, 0);
    mm_idmap_dispose(&map);
}

static void
test_collisions(void)
{
    size_t cap = first_capacity();
    MM_REQUIRE(cap >= 32);
    test_collisions_at(5, cap);       /* a run in the middle of the table */
    test_collisions_at(cap - 3, cap); /* a run that wraps past the end */
}

/* Random puts, replaces and removes over a small key set, against an array model. */
static void
test_against_model(void)
{
    enum { U = 3000, OPS = 1000000 };
    static uint64_t keys[U];
    static void *model[U];
    static int values[U];
    for (int i = 0; i < U; i++)
        keys[i] = i < U / 2 ? (uint64_t)i + 1 : rng() | 1;
    mm_idmap map;
    mm_idmap_init(&map);
    size_t live = 0;
    int wrong = 0;
    for (int op = 0; op < OPS; op++) {
        uint64_t r = rng();
        size_t k = (size_t)(r % U);
        switch ((r >> 32) % 3) {
        case 0:
        case 1:
            if (((r >> 40) & 1) == 0) {
                live += model[k] == NULL;
                model[k] = &values[(r >> 41) % U];
                if (mm_idmap_put(&map, keys[k], model[k]) != MM_OK)
                    wrong++;
            } else {
                wrong += mm_idmap_remove(&map, keys[k]) != model[k];
                live -= model[k] != NULL;
                model[k] = NULL;
            }
            break;
        default:
            wrong += mm_idmap_get(&map, keys[k]) != model[k];
            break;
        }
        wrong += mm_idmap_count(&map) != live;
    }
    MM_CHECK_INT(wrong, ==, 0);
    for (int i = 0; i < U; i++)
        wrong += mm_idmap_get(&map, keys[i]) != model[i];
    MM_CHECK_INT(wrong, ==, 0);
    MM_CHECK_U64(occupied(&map), ==, live);
    mm_idmap_dispose(&map);
}

/* Millions of insert/remove cycles at a steady size: the table must not grow or fill up. */
static void
test_churn(void)
{
    enum { LIVE = 1000, CYCLES = 2000000 };
    static uint64_t ring[LIVE];
    static int value;
    mm_idmap map;
    mm_idmap_init(&map);
    for (int i = 0; i < LIVE; i++) {
        ring[i] = rng() | 1;
        MM_REQUIRE(mm_idmap_put(&map, ring[i], &value) == MM_OK);
    }
    size_t cap = map.cap;
    int wrong = 0;
    for (int c = 0; c < CYCLES; c++) {
        int slot = c % LIVE;
        wrong += mm_idmap_remove(&map, ring[slot]) != &value;
        ring[slot] = rng() | 1;
        wrong += mm_idmap_put(&map, ring[slot], &value) != MM_OK;
    }
    MM_CHECK_INT(wrong, ==, 0);
    MM_CHECK_U64(mm_idmap_count(&map), ==, LIVE);
    MM_CHECK_U64(map.cap, ==, cap);
    MM_CHECK_U64(occupied(&map), ==, LIVE);
    for (int i = 0; i < LIVE; i++)
        wrong += mm_idmap_get(&map, ring[i]) != &value;
    MM_CHECK_INT(wrong, ==, 0);
    mm_idmap_dispose(&map);

    /* fresh ids: one live object replaced over and over keeps the first table */
    mm_idmap_init(&map);
    uint64_t id = 0, last = 0;
    for (int c = 0; c < CYCLES; c++) {
        wrong += mm_idmap_add(&map, &value, &id) != MM_OK || id <= last;
        last = id;
        wrong += mm_idmap_remove(&map, id) != &value;
    }
    MM_CHECK_INT(wrong, ==, 0);
    MM_CHECK_U64(mm_idmap_count(&map), ==, 0);
    MM_CHECK_U64(map.cap, ==, first_capacity());
    mm_idmap_dispose(&map);
}

int
main(void)
{
    test_fresh_ids();
    test_caller_keys();
    test_collisions();
    test_against_model();
    test_churn();
    return MM_TEST_DONE();
}
