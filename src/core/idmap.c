/*
 * Id → pointer hash map (include/mm/idmap.h).
 *
 * Keys are mixed through the splitmix64 finaliser for their home slot, so sequential ids (a
 * counter) and random ids spread alike. Linear probing keeps a lookup to one or two cache lines.
 * Invariant: every key is reachable from its home slot without crossing an empty slot. Removal
 * keeps it without tombstones by shifting later members of the probe run back into the hole
 * when their home slot allows it, so the table never fills up with dead slots under churn.
 */
#include <stdlib.h>

#include "mm/idmap.h"

static size_t
home_slot(uint64_t key, size_t cap)
{
    key ^= key >> 30;
    key *= 0xbf58476d1ce4e5b9ULL;
    key ^= key >> 27;
    key *= 0x94d049bb133111ebULL;
    key ^= key >> 31;
    return (size_t)key & (cap - 1);
}

void
mm_idmap_init(mm_idmap *map)
{
    *map = (mm_idmap){.next_id = 1};
}

void
mm_idmap_dispose(mm_idmap *map)
{
    if (map == NULL)
        return;
    free(map->keys);
    free(map->values);
    uint64_t next_id = map->next_id;
    mm_idmap_init(map);
    map->next_id = next_id;
}

/* The slot holding key, or the empty slot that ends its probe run. cap must be nonzero. */
static size_t
probe(const mm_idmap *map, uint64_t key)
{
    size_t i = home_slot(key, map->cap);
    while (map->keys[i] != 0 && map->keys[i] != key)
        i = (i + 1) & (map->cap - 1);
    return i;
}

static mm_err
grow(mm_idmap *map)
{
    size_t cap = map->cap == 0 ? 64 : map->cap * 2;
    uint64_t *keys = calloc(cap, sizeof(*keys));
    void **values = calloc(cap, sizeof(*values));
    if (keys == NULL || values == NULL) {
        free(keys);
        free(values);
        return MM_ERR_NOMEM;
    }
    for (size_t i = 0; i < map->cap; i++) {
        if (map->keys[i] == 0)
            continue;
        size_t j = home_slot(map->keys[i], cap);
        while (keys[j] != 0)
            j = (j + 1) & (cap - 1);
        keys[j] = map->keys[i];
        values[j] = map->values[i];
    }
    free(map->keys);
    free(map->values);
    map->keys = keys;
    map->values = values;
    map->cap = cap;
    return MM_OK;
}

mm_err
mm_idmap_put(mm_idmap *map, uint64_t key, void *value)
{
    if (key == 0)
        return MM_ERR_INVALID;
    size_t i = map->cap > 0 ? probe(map, key) : 0;
    if (map->cap > 0 && map->keys[i] == key) {
        map->values[i] = value;
        return MM_OK;
    }
    if ((map->len + 1) * 2 > map->cap) {
        mm_err err = grow(map);
        if (err != MM_OK)
            return err;
        i = probe(map, key);
    }
    map->keys[i] = key;
    map->values[i] = value;
    map->len++;
    return MM_OK;
}

mm_err
mm_idmap_add(mm_idmap *map, void *value, uint64_t *id)
{
    /* skip ids a caller stored with mm_idmap_put; 0 only after 2^64 ids, which never happens */
    while (map->next_id == 0 || (map->cap > 0 && map->keys[probe(map, map->next_id)] != 0))
        map->next_id++;
    mm_err err = mm_idmap_put(map, map->next_id, value);
    if (err != MM_OK)
        return err;
    *id = map->next_id++;
    return MM_OK;
}

void *
mm_idmap_get(const mm_idmap *map, uint64_t key)
{
    if (map->cap == 0 || key == 0)
        return NULL;
    size_t i = probe(map, key);
    return map->keys[i] == key ? map->values[i] : NULL;
}

void *
mm_idmap_remove(mm_idmap *map, uint64_t key)
{
    if (map->cap == 0 || key == 0)
        return NULL;
    size_t mask = map->cap - 1, hole = probe(map, key);
    if (map->keys[hole] != key)
        return NULL;
    void *value = map->values[hole];
    for (size_t j = (hole + 1) & mask; map->keys[j] != 0; j = (j + 1) & mask) {
        size_t home = home_slot(map->keys[j], map->cap);
        /* the key at j stays when its home lies cyclically within (hole, j]: moving it to the
         * hole would put it before its home, out of reach of its own probe run */
        int stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            map->keys[hole] = map->keys[j];
            map->values[hole] = map->values[j];
            hole = j;
        }
    }
    map->keys[hole] = 0;
    map->values[hole] = NULL;
    map->len--;
    return value;
}
