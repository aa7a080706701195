/*
 * A hash map from nonzero 64-bit ids to pointers, for objects that other threads or later
 * events refer to by id (ARCHITECTURE.md, "Principles").
 *
 * Two ways to use it, one per map:
 *   - fresh ids: a thread that owns objects (WebSocket connections, requests) stores each under
 *     a fresh id from mm_idmap_add and hands out the id instead of a pointer. Other threads put
 *     the id in mm_msg.target; the owner looks it up when the message arrives, and a miss means
 *     the object died meanwhile: the message is discarded. Ids come from a counter and are never
 *     reused, so a late message can never reach a newer object.
 *   - caller keys: mm_idmap_put stores under a key the caller chose (the simulators' random
 *     session and deployment ids).
 *
 * Open addressing with linear probing and backward-shift deletion: no tombstones, so a map that
 * sees millions of inserts and removals never degrades. The table grows (doubling) before it
 * is more than half full and never shrinks until mm_idmap_dispose.
 * Allocation failure is returned as MM_ERR_NOMEM, with the map unchanged.
 * Not thread-safe: one owner thread.
 */
#ifndef MM_IDMAP_H
#define MM_IDMAP_H

#include <stddef.h>
#include <stdint.h>

#include "mm/err.h"

typedef struct mm_idmap {
    uint64_t *keys;   /* 0 marks an empty slot */
    void **values;    /* values[i] belongs to keys[i] */
    size_t cap;       /* a power of two, or 0 before the first insert */
    size_t len;       /* live entries */
    uint64_t next_id; /* the next fresh id mm_idmap_add considers (never 0) */
} mm_idmap;

/** An empty map; nothing is allocated until the first insert. */
void mm_idmap_init(mm_idmap *map);

/**
 * Frees the table: the map is empty and reusable afterwards. The fresh-id counter is kept, so
 * ids handed out before are still never handed out again. Does not free the values. Accepts NULL.
 */
void mm_idmap_dispose(mm_idmap *map);

/**
 * Stores value under key, replacing the value already there. key must not be 0
 * (MM_ERR_INVALID). MM_ERR_NOMEM if the table cannot grow; the map is then unchanged.
 * A NULL value is stored, but mm_idmap_get cannot tell it from a missing key.
 */
mm_err mm_idmap_put(mm_idmap *map, uint64_t key, void *value);

/**
 * Stores value under a fresh id and returns the id in *id: never 0, never handed out before by
 * this map, and never a key already present. MM_ERR_NOMEM as mm_idmap_put (*id untouched).
 */
mm_err mm_idmap_add(mm_idmap *map, void *value, uint64_t *id);

/** The value stored under key, or NULL if key is absent (removed, never stored, or 0). */
void *mm_idmap_get(const mm_idmap *map, uint64_t key);

/** Removes key and returns its value; NULL if it was absent. */
void *mm_idmap_remove(mm_idmap *map, uint64_t key);

/** How many keys are stored. */
static inline size_t
mm_idmap_count(const mm_idmap *map)
{
    return map->len;
}

#endif
