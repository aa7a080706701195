/*
 * The provisioner's fallback ticks (src/actors/provisioner_request.c, "Fallback ticks"):
 * mm__prov_tick_delay, the arithmetic that lets the fallback polls of many sessions share one
 * deadline. Polls armed at different moments for due times within one tick get the same
 * deadline; none is earlier than asked, none more than a tick later; a due time on a tick stays;
 * tick 0 or 1 (the reference's exact grid, webhooks off) leaves every delay unchanged.
 */
#include <stdint.h>

#include "mm_test.h"
#include "provisioner_internal.h"

int
main(void)
{
    const uint64_t tick = MM__PROV_FALLBACK_TICK_MS;
    /* 1,000 polls armed 1 ms apart, each for 10 s later: one deadline per tick */
    uint64_t first_deadline = 0, deadlines = 0;
    for (uint64_t now = 1000000; now < 1001000; now++) {
        uint64_t d = mm__prov_tick_delay(now, 10000, tick);
        MM_CHECK(d >= 10000);
        MM_CHECK(d < 10000 + tick);
        MM_CHECK_INT((now + d) % tick, ==, 0);
        if (now + d != first_deadline) {
            first_deadline = now + d;
            deadlines++;
        }
    }
    MM_CHECK_INT(deadlines, <=, 1000 / tick + 1);
    /* a due time on a tick is kept; just after one goes to the next */
    MM_CHECK_INT(mm__prov_tick_delay(4 * tick - 100, 100, tick), ==, 100);
    MM_CHECK_INT(mm__prov_tick_delay(4 * tick - 100, 101, tick), ==, 100 + tick);
    MM_CHECK_INT(mm__prov_tick_delay(0, 0, tick), ==, 0);
    /* webhooks off: the exact grid */
    MM_CHECK_INT(mm__prov_tick_delay(123457, 200, 0), ==, 200);
    MM_CHECK_INT(mm__prov_tick_delay(123457, 200, 1), ==, 200);
    return MM_TEST_DONE();
}
