/*
 * mm_bench's flag parser driven from a test: a NULL-terminated list of arguments, copied first
 * (the parser may overwrite a key in place, and string literals are read-only), then
 * mm_bench_flags_parse with "mm_bench" as argv[0]. Shared by the tests of tests/bench that
 * parse command lines (test_bench_flags.c, test_bench_line.c); header-only, one static function
 * per test program.
 */
#ifndef BENCH_TEST_PARSE_H
#define BENCH_TEST_PARSE_H

#include <stdio.h>

#include "mm_bench.h"

/* Parses args into cfg (at most 31 arguments of up to 255 bytes); mm_bench_flags_parse's result. */
static inline int
mm_bench_test_parse(mm_bench_config *cfg, const char *const *args)
{
    static char copies[32][256];
    char *argv[33] = {"mm_bench"};
    int argc = 1;
    for (int i = 0; args[i] != NULL && argc < 32; i++) {
        snprintf(copies[argc], sizeof(copies[argc]), "%s", args[i]);
        argv[argc] = copies[argc];
        argc++;
    }
    argv[argc] = NULL;
    return mm_bench_flags_parse(cfg, argc, argv);
}

/* MM_BENCH_TEST_PARSE(&cfg, "--rate", "10"): the arguments as a literal list. */
#define MM_BENCH_TEST_PARSE(cfg, ...) mm_bench_test_parse((cfg), (const char *const[]){__VA_ARGS__, NULL})

#endif
