/*
 * A hash map from nonzero 64-bit ids to 64-bit values (pointers are stored as uintptr_t).
 * Open addressing with linear probing and backward-shift deletion: no tombstones, so a map that
 * sees millions of inserts and deletes (sessions come and go) never degrades. Grows at 50% load.
 * Not thread-safe: one owner (the simulator's loop thread). Allocation failure aborts
 * (include/mm/sim_alloc.h).
 */
#ifndef MM_SIM_IDMAP_H
#define MM_SIM_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mm_sim_idmap {
    uint64_t *keys; /* 0 marks an empty slot */
    uint64_t *vals;
    size_t cap; /* a power of two, or 0 before the first insert */
    size_t len;
} mm_sim_idmap;

/** An empty map (no allocation until the first put). */
void mm_sim_idmap_init(mm_sim_idmap *map);

/** Frees the slots; the map is empty and reusable afterwards. Accepts NULL. */
void mm_sim_idmap_free(mm_sim_idmap *map);

/** Looks key up; on a hit stores the value in *val (val may be NULL) and returns true. */
bool mm_sim_idmap_get(const mm_sim_idmap *map, uint64_t key, uint64_t *val);

/** Inserts or replaces key (which must not be 0). */
void mm_sim_idmap_put(mm_sim_idmap *map, uint64_t key, uint64_t val);

/** Removes key; returns whether it was present. */
bool mm_sim_idmap_del(mm_sim_idmap *map, uint64_t key);

#endif
