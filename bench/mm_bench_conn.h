/*
 * One client connection of mm_bench and the loop state it lives in (internal to
 * mm_bench_run.c and mm_bench_conn.c).
 *
 * A connection goes CONNECTING -> UPGRADING -> OPEN -> CLOSING -> LINGER and is always on one
 * of the loop's two deadline lists: `active` (deadline = start + --timeout) until its final
 * message, then `grace` (deadline = now + --close-grace) while waiting for the server's close
 * frame and then its FIN. Both lists stay sorted by deadline because entries are appended with
 * non-decreasing deadlines (starts are in time order, grace begins "now"), so expiring is a look
 * at each list's head. A connection that ends goes to the `dead` list and is freed only after
 * the epoll batch that may still name it has been handled.
 *
 * The outcome is recorded in the stats once, the moment it is decided (mm_bench_session); the
 * connection may linger after that only to let the server close first.
 */
#ifndef MM_BENCH_CONN_H
#define MM_BENCH_CONN_H

#include <stdint.h>
#include <stdio.h>

#include "mm_bench.h"
#include "mm_bench_ws.h"

typedef enum mm_bench_conn_state {
    MM_BENCH_CONN_CONNECTING = 0,
    MM_BENCH_CONN_UPGRADING,
    MM_BENCH_CONN_OPEN,
    MM_BENCH_CONN_CLOSING, /* final message read: waiting for the close frame */
    MM_BENCH_CONN_LINGER,  /* close frames exchanged (or outcome decided): waiting for the FIN */
} mm_bench_conn_state;

typedef struct mm_bench_conn mm_bench_conn;

typedef struct mm_bench_list {
    mm_bench_conn *head, *tail;
    uint64_t count;
} mm_bench_list;

struct mm_bench_conn {
    mm_bench_conn *prev, *next;
    mm_bench_list *list; /* the list it is on */
    int fd;
    mm_bench_conn_state state;
    uint32_t epoll_events; /* as registered */
    int recorded;          /* the outcome went into the stats */
    uint64_t index;        /* request number, from 0 */
    uint64_t t0;           /* start (scheduled start in the open loop) */
    uint64_t deadline;
    uint64_t at[MM_BENCH_PHASE_COUNT];
    char key[MM_BENCH_WS_KEY_LEN + 1];
    uint8_t *in; /* bytes read and not yet consumed */
    size_t in_len, in_cap;
    uint8_t *msg; /* a fragmented text message being assembled */
    size_t msg_len;
    int in_message;
    uint8_t *pending; /* bytes the socket did not take yet */
    size_t pending_len;
    mm_bench_session session;
};

typedef struct mm_bench_loop {
    const mm_bench_config *cfg;
    mm_bench_stats *stats;
    int epfd;
    mm_bench_list active, grace, dead;
    uint64_t live; /* connections allocated and not yet freed */
    FILE *csv;     /* --requests-csv, or NULL */
} mm_bench_loop;

/* List operations (mm_bench_run.c). */
void mm_bench_list_append(mm_bench_list *list, mm_bench_conn *c);
void mm_bench_list_remove(mm_bench_conn *c);

/**
 * Starts request index (t0 = its start time): a non-blocking connect, registered with epoll.
 * A connect that fails at once is recorded as connect_failed and freed. MM_ERR_NOMEM only when
 * the connection could not even be allocated (nothing was recorded then).
 */
mm_err mm_bench_conn_start(mm_bench_loop *loop, uint64_t index, uint64_t t0, uint64_t now);

/** Handles epoll events for c at now. */
void mm_bench_conn_event(mm_bench_loop *loop, mm_bench_conn *c, uint32_t events, uint64_t now);

/** c's deadline passed at now: decide (timeout, or a violation in grace) and tear down. */
void mm_bench_conn_expire(mm_bench_loop *loop, mm_bench_conn *c, uint64_t now);

/** Ends c at once with outcome interrupted (if still undecided): mm_bench was stopped. */
void mm_bench_conn_interrupt(mm_bench_loop *loop, mm_bench_conn *c, uint64_t now);

/** Frees a connection from the dead list (its fd is already closed). */
void mm_bench_conn_free(mm_bench_conn *c);

/*
 * Internal to mm_bench_conn.c (I/O) and mm_bench_conn_read.c (what is read). Any of the calls
 * that end a connection leave c on the dead list with c->fd == -1: a caller checks c->fd before
 * touching the connection again.
 */
#define MM__BENCH_WHY_LEN 160

/** Puts the decided outcome into the stats, once. */
void mm__bench_conn_record(mm_bench_loop *loop, mm_bench_conn *c, uint64_t now);

/** Records the outcome, closes the socket and moves c to the dead list. */
void mm__bench_conn_teardown(mm_bench_loop *loop, mm_bench_conn *c, uint64_t now);

/** Decides outcome with reason (unless decided) and tears down. */
void mm__bench_conn_fail(mm_bench_loop *loop, mm_bench_conn *c, mm_bench_outcome outcome, const char *reason, uint64_t now);

/** Sends data or queues what the socket does not take; 0, or -1 with a reason (c untouched). */
int mm__bench_conn_send(mm_bench_loop *loop, mm_bench_conn *c, const void *data, size_t len, char *why, size_t why_len);

/** Moves c to the grace list in state (CLOSING or LINGER), with a fresh grace deadline. */
void mm__bench_conn_enter_grace(mm_bench_loop *loop, mm_bench_conn *c, mm_bench_conn_state state, uint64_t now);

/** The connection ended (EOF or error; detail says which): decides by state and tears down. */
void mm__bench_conn_ended(mm_bench_loop *loop, mm_bench_conn *c, const char *detail, uint64_t now);

/** Parses what c->in holds: the 101 response, then frames. */
void mm__bench_conn_process(mm_bench_loop *loop, mm_bench_conn *c, uint64_t now);

#endif
