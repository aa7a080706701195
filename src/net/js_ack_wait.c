/*
 * The MaxWait of an asynchronous JetStream publish, rounded up to a grid (include/mm/kv.h,
 * mm_js_ack_wait_ms).
 *
 * Why: nats.c 3.4.1 keeps, for every js_PublishAsync / js_PublishMsgAsync with a MaxWait, an entry
 * in a list ordered by deadline, and does not take it out when the acknowledgement arrives. At
 * the deadline its timer thread wakes, makes a "timeout" message for the entry and hands it to
 * the thread that reads the context's acks, which finds the publish already acknowledged and
 * drops it (and frees the message through nats.c's garbage-collector thread). So every publish
 * costs, MaxWait later, a timer wake-up, a wake-up of the ack thread and one of the collector,
 * acknowledged or not. With deadlines a millisecond apart (publishes spread in time) that is three
 * thread wake-ups per publish; 10,000 creates at 800/s kept those threads busy for the 5 s after
 * the last create (docs/PERFORMANCE.md, "Waiting with webhooks").
 *
 * Rounding every deadline up to a multiple of a grid (a fifth of the wait, at most 20 ms) of
 * nats.c's own clock (nats_Now, milliseconds) makes the deadlines of all publishes of one grid
 * step equal: the timer fires once per step and hands the whole step's entries over at once, and
 * the ack thread drains them in one wake-up. The number of entries is the same; a lost
 * acknowledgement is reported at most one grid step later than before.
 *
 * Why not coarser: the timer thread turns a step's entries into messages while holding the
 * context's lock, which every js_PublishAsync also takes, and the provisioner publishes a ready
 * session's two KV puts just before its SessionReady. With 1 s and 100 ms grids (1,600 puts a
 * second while sessions become ready) the benchmark's time-to-ready p99 rose from 5.9-10 ms to
 * 10-26 ms; 20 ms steps keep the batches small (docs/PERFORMANCE.md, "Waiting with webhooks").
 */
#include "mm/kv.h"

#define ACK_GRID_MAX_MS 20
#define ACK_GRID_DIVISOR 5

int64_t
mm_js_ack_wait_at(int64_t now_ms, int64_t wait_ms)
{
    if (wait_ms <= 0 || now_ms < 0)
        return wait_ms;
    int64_t grid = wait_ms / ACK_GRID_DIVISOR;
    if (grid > ACK_GRID_MAX_MS)
        grid = ACK_GRID_MAX_MS;
    if (grid <= 1)
        return wait_ms;
    int64_t deadline = now_ms + wait_ms;
    int64_t aligned = (deadline + grid - 1) / grid * grid;
    return aligned - now_ms;
}

int64_t
mm_js_ack_wait_ms(int64_t wait_ms)
{
    return mm_js_ack_wait_at(nats_Now(), wait_ms);
}
