/*
 * Object ids for messages that cross threads (STYLE.md, point 5).
 *
 * A thread that owns objects (WebSocket connections, requests) hands out 64-bit ids instead of
 * pointers. Other threads put the id in mm_msg.target; the owner looks it up when the message
 * arrives, and a lookup that fails means the object died meanwhile: the message is discarded.
 * Ids are never reused (a counter), so a late message can never reach a newer object.
 * Not thread-safe: one owner thread.
 */
#ifndef MM_IDMAP_H
#define MM_IDMAP_H

#include <stddef.h>
#include <stdint.h>

#include "mm/err.h"

typedef struct mm_idmap {
    uint64_t *keys; /* 0 = empty, UINT64_MAX = deleted */
    void **values;
    size_t cap, len, used; /* used counts deleted slots too */
    uint64_t next_id;
} mm_idmap;

void mm_idmap_init(mm_idmap *map);
void mm_idmap_dispose(mm_idmap *map);

/** Stores value under a fresh id (never 0, never reused) and returns it in *id. */
mm_err mm_idmap_add(mm_idmap *map, void *value, uint64_t *id);

/** The value for id, or NULL if it was removed (or never existed). */
void *mm_idmap_get(const mm_idmap *map, uint64_t id);

/** Removes id and returns its value (NULL if absent). */
void *mm_idmap_remove(mm_idmap *map, uint64_t id);

static inline size_t
mm_idmap_count(const mm_idmap *map)
{
    return map->len;
}

#endif
