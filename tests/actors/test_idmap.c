/* Id map: fresh ids are never reused, removed ids miss, growth keeps every live entry. */
#include <stdlib.h>

#include "mm/idmap.h"
#include "mm_test.h"

int
main(void)
{
    mm_idmap map;
    mm_idmap_init(&map);
    static int values[10000];
    uint64_t ids[10000];
    for (int i = 0; i < 10000; i++)
        MM_REQUIRE(mm_idmap_add(&map, &values[i], &ids[i]) == MM_OK);
    MM_CHECK_U64(mm_idmap_count(&map), ==, 10000);
    int wrong = 0;
    for (int i = 0; i < 10000; i++)
        if (mm_idmap_get(&map, ids[i]) != &values[i])
            wrong++;
    MM_CHECK_INT(wrong, ==, 0);
    for (int i = 0; i < 10000; i += 2)
        MM_CHECK(mm_idmap_remove(&map, ids[i]) == &values[i]);
    MM_CHECK(mm_idmap_remove(&map, ids[0]) == NULL);
    MM_CHECK(mm_idmap_get(&map, ids[0]) == NULL);
    MM_CHECK(mm_idmap_get(&map, ids[1]) == &values[1]);
    MM_CHECK(mm_idmap_get(&map, 0) == NULL);
    MM_CHECK(mm_idmap_get(&map, 123456789) == NULL);
    /* Churn: add/remove many times; tombstones must not exhaust the table. */
    for (int round = 0; round < 50000; round++) {
        uint64_t id;
        MM_REQUIRE(mm_idmap_add(&map, &values[0], &id) == MM_OK);
        MM_CHECK_U64(id, >, ids[9999]);
        mm_idmap_remove(&map, id);
    }
    MM_CHECK_U64(mm_idmap_count(&map), ==, 5000);
    mm_idmap_dispose(&map);
    MM_CHECK(mm_idmap_get(&map, ids[1]) == NULL);
    return MM_TEST_DONE();
}
