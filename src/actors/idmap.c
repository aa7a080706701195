/*
 * Id → pointer map with open addressing and linear probing (include/mm/idmap.h).
 * Ids come from a counter mixed through a bijective hash for the slot index, so sequential ids
 * spread evenly. Deleted slots are tombstones, swept when the table is rebuilt.
 */
#include <stdlib.h>

#include "mm/idmap.h"

#define TOMBSTONE UINT64_MAX

static size_t
slot_of(uint64_t id, size_t cap)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdULL;
    id ^= id >> 33;
    return (size_t)id & (cap - 1);
}

void
mm_idmap_init(mm_idmap *map)
{
    *map = (mm_idmap){.next_id = 1};
}

void
mm_idmap_dispose(mm_idmap *map)
{
    free(map->keys);
    free(map->values);
    uint64_t next = map->next_id;
    mm_idmap_init(map);
    map->next_id = next;
}

static mm_err
rebuild(mm_idmap *map, size_t cap)
{
    uint64_t *keys = calloc(cap, sizeof(*keys));
    void **values = calloc(cap, sizeof(*values));
    if (keys == NULL || values == NULL) {
        free(keys);
        free(values);
        return MM_ERR_NOMEM;
    }
    for (size_t i = 0; i < map->cap; i++) {
        uint64_t k = map->keys[i];
        if (k == 0 || k == TOMBSTONE)
            continue;
        size_t j = slot_of(k, cap);
        while (keys[j] != 0)
            j = (j + 1) & (cap - 1);
        keys[j] = k;
        values[j] = map->values[i];
    }
    free(map->keys);
    free(map->values);
    map->keys = keys;
    map->values = values;
    map->cap = cap;
    map->used = map->len;
    return MM_OK;
}

mm_err
mm_idmap_add(mm_idmap *map, void *value, uint64_t *id)
{
    if ((map->used + 1) * 4 >= map->cap * 3) {
        size_t cap = map->cap == 0 ? 64 : map->cap;
        while ((map->len + 1) * 2 >= cap)
            cap *= 2;
        mm_err err = rebuild(map, cap);
        if (err != MM_OK)
            return err;
    }
    uint64_t k = map->next_id++;
    size_t j = slot_of(k, map->cap);
    while (map->keys[j] != 0)
        j = (j + 1) & (map->cap - 1);
    map->keys[j] = k;
    map->values[j] = value;
    map->len++;
    map->used++;
    *id = k;
    return MM_OK;
}

static size_t
find(const mm_idmap *map, uint64_t id)
{
    if (map->cap == 0 || id == 0 || id == TOMBSTONE)
        return SIZE_MAX;
    for (size_t j = slot_of(id, map->cap);; j = (j + 1) & (map->cap - 1)) {
        if (map->keys[j] == id)
            return j;
        if (map->keys[j] == 0)
            return SIZE_MAX;
    }
}

void *
mm_idmap_get(const mm_idmap *map, uint64_t id)
{
    size_t j = find(map, id);
    return j == SIZE_MAX ? NULL : map->values[j];
}

void *
mm_idmap_remove(mm_idmap *map, uint64_t id)
{
    size_t j = find(map, id);
    if (j == SIZE_MAX)
        return NULL;
    void *v = map->values[j];
    map->keys[j] = TOMBSTONE;
    map->values[j] = NULL;
    map->len--;
    return v;
}
