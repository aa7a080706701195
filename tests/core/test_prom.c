/* mm_prom (include/mm/prom.h): the exact text of each kind of line, label and HELP escaping, and
 * the cut at a line when the buffer is short, for every buffer size. */
#include <string.h>

#include "mm/prom.h"
#include "mm_test.h"

static const double le[2] = {0.005, 2.5};
static const uint64_t counts[3] = {1, 2, 3};

static void
render(char *buf, size_t len, mm_prom *p)
{
    mm_prom_init(p, buf, len);
    mm_prom_metric(p, "a_total", "counter", "Things.", 7);
    mm_prom_head(p, "b", "gauge", "Back\\slash and\nnewline.");
    mm_prom_sample(p, "b", (const char *const[]){"k", "q\"uote", "j", "b\\s\nn"}, 2, 18446744073709551615ull);
    mm_prom_sample(p, "b", NULL, 0, 0);
    mm_prom_line(p, "c %d", 42);
    mm_prom_histogram(p, "d_seconds", "Time.", le, counts, 2, 1.25, 6);
}

static const char want[] = "# HELP a_total Things.\n"
                           "# TYPE a_total counter\n"
                           "a_total 7\n"
                           "# HELP b Back\\\\slash and\\nnewline.\n"
                           "# TYPE b gauge\n"
                           "b{k=\"q\\\"uote\",j=\"b\\\\s\\nn\"} 18446744073709551615\n"
                           "b 0\n"
                           "c 42\n"
                           "# HELP d_seconds Time.\n"
                           "# TYPE d_seconds histogram\n"
                           "d_seconds_bucket{le=\"0.005\"} 1\n"
                           "d_seconds_bucket{le=\"2.5\"} 3\n"
                           "d_seconds_bucket{le=\"+Inf\"} 6\n"
                           "d_seconds_sum 1.250000\n"
                           "d_seconds_count 6\n";

int
main(void)
{
    char buf[1024];
    mm_prom p;
    render(buf, sizeof(buf), &p);
    MM_CHECK(!p.full);
    MM_CHECK(p.used == strlen(want));
    MM_CHECK_STR(buf, want);

    /* every shorter buffer: the longest prefix of whole lines that fits, NUL-terminated when
     * there is room, and never a byte written past len */
    size_t total = strlen(want);
    for (size_t len = 0; len <= total + 1; len++) {
        char small[1024];
        memset(small, 'x', sizeof(small));
        render(small, len, &p);
        size_t fit = 0;
        for (size_t i = 0; i < total; i++)
            if (want[i] == '\n' && i + 1 <= len)
                fit = i + 1;
        MM_CHECK(p.used == fit);
        MM_CHECK(memcmp(small, want, fit) == 0);
        MM_CHECK(p.full == (fit < total));
        if (fit < len)
            MM_CHECK(small[fit] == '\0');
        MM_CHECK(small[len] == 'x');
    }

    /* a refused writer stays refused, even for a line that would fit */
    render(buf, 30, &p);
    size_t used = p.used;
    mm_prom_line(&p, "x");
    MM_CHECK(p.used == used);

    /* no buffer at all */
    mm_prom_init(&p, NULL, 100);
    mm_prom_metric(&p, "a", "gauge", "A.", 1);
    MM_CHECK(p.used == 0 && p.full);
    return mm_test_done();
}
