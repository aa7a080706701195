/*
 * The provisioner's waiting room (ARCHITECTURE.md "Edgegap budget and waiting room",
 * src/actors/waiting_room.c): with a fleet budget (include/mm/budget.h), a new player waits in
 * a FIFO line until the budget lets its session create start. Its numbers, for /metrics and the
 * stop line; readable from any thread.
 */
#ifndef MM_WAITING_ROOM_H
#define MM_WAITING_ROOM_H

#include <stdint.h>

#include "mm/provisioner.h"

#define MM_WAITING_ROOM_DEFAULT_MAX 10000u
/* Every player in line hears its position this often (the protocol promises at least every 2 s). */
#define MM_WAITING_ROOM_REPORT_MS 1000u

typedef struct mm_waiting_room_stats {
    uint64_t length;           /* players in line now (mm_waiting_room_length) */
    uint64_t admitted;         /* players sent on from the line to Edgegap (mm_waiting_room_admitted_total) */
    uint64_t refused;          /* players refused with 503, the line full (mm_waiting_room_refused_total) */
    uint64_t left;             /* players who left the line before their turn (mm_waiting_room_left_total) */
    double admitted_per_s;     /* the measured admission rate, smoothed */
    double estimated_wait_s;   /* the wait a player joining now would be told (mm_waiting_room_estimated_wait_seconds) */
} mm_waiting_room_stats;

/** All zero when the provisioner has no budget. */
void mm_provisioner_waiting_room_stats(mm_provisioner *p, mm_waiting_room_stats *out);

#endif
