/*
 * u64 -> u64 hash map (include/mm/sim_idmap.h). Linear probing keeps a lookup to one or two
 * cache lines; deletion shifts later members of the probe run back, so the invariant "every key
 * is reachable from its home slot without crossing an empty slot" holds without tombstones.
 */
#include <stdlib.h>

#include "mm/sim_alloc.h"
#include "mm/sim_idmap.h"

static size_t
home_slot(uint64_t key, size_t cap)
{
    /* splitmix64 finaliser: ids may be sequential or random, both spread well */
    key ^= key >> 30;
    key *= 0xbf58476d1ce4e5b9ULL;
    key ^= key >> 27;
    key *= 0x94d049bb133111ebULL;
    key ^= key >> 31;
    return (size_t)key & (cap - 1);
}

void
mm_sim_idmap_init(mm_sim_idmap *map)
{
    map->keys = NULL;
    map->vals = NULL;
    map->cap = 0;
    map->len = 0;
}

void
mm_sim_idmap_free(mm_sim_idmap *map)
{
    if (map == NULL)
        return;
    free(map->keys);
    free(map->vals);
    mm_sim_idmap_init(map);
}

static void
insert_fresh(uint64_t *keys, uint64_t *vals, size_t cap, uint64_t key, uint64_t val)
{
    size_t i = home_slot(key, cap);
    while (keys[i] != 0)
        i = (i + 1) & (cap - 1);
    keys[i] = key;
    vals[i] = val;
}

static void
grow(mm_sim_idmap *map)
{
    size_t cap = map->cap == 0 ? 64 : map->cap * 2;
    uint64_t *keys = mm_sim_xcalloc(cap, sizeof(*keys));
    uint64_t *vals = mm_sim_xcalloc(cap, sizeof(*vals));
    for (size_t i = 0; i < map->cap; i++)
        if (map->keys[i] != 0)
            insert_fresh(keys, vals, cap, map->keys[i], map->vals[i]);
    free(map->keys);
    free(map->vals);
    map->keys = keys;
    map->vals = vals;
    map->cap = cap;
}

bool
mm_sim_idmap_get(const mm_sim_idmap *map, uint64_t key, uint64_t *val)
{
    if (map->cap == 0 || key == 0)
        return false;
    for (size_t i = home_slot(key, map->cap);; i = (i + 1) & (map->cap - 1)) {
        if (map->keys[i] == 0)
            return false;
        if (map->keys[i] == key) {
            if (val != NULL)
                *val = map->vals[i];
            return true;
        }
    }
}

void
mm_sim_idmap_put(mm_sim_idmap *map, uint64_t key, uint64_t val)
{
    if (key == 0)
        abort(); /* a programming error: 0 marks empty slots */
    if ((map->len + 1) * 2 > map->cap)
        grow(map);
    size_t i = home_slot(key, map->cap);
    while (map->keys[i] != 0 && map->keys[i] != key)
        i = (i + 1) & (map->cap - 1);
    if (map->keys[i] == 0)
        map->len++;
    map->keys[i] = key;
    map->vals[i] = val;
}

bool
mm_sim_idmap_del(mm_sim_idmap *map, uint64_t key)
{
    if (map->cap == 0 || key == 0)
        return false;
    size_t mask = map->cap - 1, i = home_slot(key, map->cap);
    while (map->keys[i] != key) {
        if (map->keys[i] == 0)
            return false;
        i = (i + 1) & mask;
    }
    /* backward shift: move each later member of the run into the hole if its home allows it */
    size_t hole = i;
    for (size_t j = (hole + 1) & mask; map->keys[j] != 0; j = (j + 1) & mask) {
        size_t home = home_slot(map->keys[j], map->cap);
        /* j may move to hole when home is not cyclically within (hole, j] */
        int between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!between) {
            map->keys[hole] = map->keys[j];
            map->vals[hole] = map->vals[j];
            hole = j;
        }
    }
    map->keys[hole] = 0;
    map->vals[hole] = 0;
    map->len--;
    return true;
}
