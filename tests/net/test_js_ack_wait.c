/*
 * mm_js_ack_wait_at() (src/net/js_ack_wait.c): the MaxWait of an asynchronous JetStream publish
 * rounded up so that its deadline falls on a grid of wait / 5 (at most 20 ms) of nats.c's clock.
 * Publishes of one grid step must share one deadline, none may get less than the wait asked, and
 * none more than one step extra; waits too small for a grid and bad inputs come back unchanged.
 * Pure arithmetic: no server.
 */
#include "mm/kv.h"
#include "mm_test.h"

/* Every now in [from, from + span): bounds, alignment, and equal deadlines within a step. */
static void
check_range(int64_t from, int64_t span, int64_t wait, int64_t grid)
{
    int64_t last_deadline = -1;
    int distinct = 0;
    for (int64_t now = from; now < from + span; now++) {
        int64_t w = mm_js_ack_wait_at(now, wait);
        MM_CHECK_INT(w, >=, wait);
        MM_CHECK_INT(w, <, wait + grid);
        MM_CHECK_INT((now + w) % grid, ==, 0);
        MM_CHECK_INT(now + w, >=, last_deadline); /* deadlines never go backwards (nats.c appends) */
        if (now + w != last_deadline)
            distinct++;
        last_deadline = now + w;
    }
    /* span ms of publishes share span / grid deadlines (plus a partial step at each end) */
    MM_CHECK_INT(distinct, <=, span / grid + 2);
}

int
main(void)
{
    /* the provisioner's 5 s: a 20 ms grid; 10 s of publishes share about 500 deadlines */
    check_range(1765000000123LL, 10000, 5000, 20);
    /* the grid is capped at 20 ms for long waits */
    check_range(1765000000999LL, 3000, 60000, 20);
    /* a 90 ms wait: 18 ms */
    check_range(1765000000050LL, 1000, 90, 18);
    /* short waits (tests): a fifth of the wait */
    check_range(1000, 1000, 200, 20);
    check_range(7, 100, 10, 2);
    /* already on the grid: unchanged */
    MM_CHECK_INT(mm_js_ack_wait_at(1765000000000LL, 5000), ==, 5000);
    MM_CHECK_INT(mm_js_ack_wait_at(1765000000001LL, 5000), ==, 5019);
    MM_CHECK_INT(mm_js_ack_wait_at(1765000000019LL, 5000), ==, 5001);
    /* too small for a grid, or meaningless: as given */
    MM_CHECK_INT(mm_js_ack_wait_at(12345, 9), ==, 9);
    MM_CHECK_INT(mm_js_ack_wait_at(12345, 1), ==, 1);
    MM_CHECK_INT(mm_js_ack_wait_at(12345, 0), ==, 0);
    MM_CHECK_INT(mm_js_ack_wait_at(12345, -5), ==, -5);
    MM_CHECK_INT(mm_js_ack_wait_at(-1, 5000), ==, 5000);
    /* the live clock: within bounds */
    int64_t w = mm_js_ack_wait_ms(5000);
    MM_CHECK_INT(w, >=, 5000);
    MM_CHECK_INT(w, <, 5020);
    return MM_TEST_DONE();
}
