/*
 * mm_bench: plays game clients against /matchmaker/ws and measures what they get
 * (docs/mm_bench.md, mm_bench --help). This file is the program's order of work: flags,
 * libsodium, address resolution and the source addresses (test-bound), a check that the --json and --plot outputs can be written, the
 * open-file limit (raised to the hard limit: every request in flight is a socket), signals
 * (SIGINT/SIGTERM end the run early and still report), the run, then the table, --json and
 * --plot. The verification key is wiped on every path. `mm_bench merge ...` is mm_bench_merge.c.
 *
 * Exit status: 0 every request was ready; 1 the run completed with other outcomes (or was
 * interrupted); 2 bad usage; 3 the run or an output failed.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "mm/token.h"
#include "mm_bench.h"

#define EXIT_NOT_ALL_READY 1
#define EXIT_USAGE 2
#define EXIT_FAILED 3

static volatile sig_atomic_t stop_requested;

static void
on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* Raises RLIMIT_NOFILE to its hard limit; warns when the load plainly needs more. */
static void
raise_nofile(const mm_bench_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            fprintf(stderr, "mm_bench: warning: cannot raise the open-file limit: %s\n", strerror(errno));
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    double need = cfg->mode == MM_BENCH_CLOSED_LOOP ? (double)cfg->concurrency : 0;
    if (need > (double)rl.rlim_cur - 16)
        fprintf(stderr, "mm_bench: warning: --concurrency %u needs more sockets than the open-file limit (%llu) allows; "
                        "the rest will fail as connect_failed\n",
                cfg->concurrency, (unsigned long long)rl.rlim_cur);
}

int
main(int argc, char **argv)
{
    mm_bench_config cfg;
    mm_bench_stats st;
    char why[256];
    int status = EXIT_FAILED;
    memset(&st, 0, sizeof(st));
    if (argc >= 2 && strcmp(argv[1], "merge") == 0)
        return mm_bench_merge_main(argc - 1, argv + 1);
    int parsed = mm_bench_flags_parse(&cfg, argc, argv);
    if (parsed != 0) {
        status = parsed < 0 ? 0 : EXIT_USAGE;
        goto cleanup;
    }
    if (mm_crypto_init() != MM_OK) {
        fprintf(stderr, "mm_bench: libsodium could not be initialised\n");
        goto cleanup;
    }
    if (mm_bench_config_resolve(&cfg, why, sizeof(why)) != MM_OK || mm_bench_config_sources(&cfg, why, sizeof(why)) != MM_OK) {
        fprintf(stderr, "mm_bench: %s\n", why);
        goto cleanup;
    }
    /* outputs are checked (created) before the run, not after half an hour of it */
    if (cfg.plot_path != NULL && mm_bench_plot_check(cfg.plot_path, why, sizeof(why)) != MM_OK) {
        fprintf(stderr, "mm_bench: --plot: %s\n", why);
        goto cleanup;
    }
    if (cfg.json_path != NULL && strcmp(cfg.json_path, "-") != 0) {
        FILE *f = fopen(cfg.json_path, "w");
        if (f == NULL) {
            fprintf(stderr, "mm_bench: --json: cannot write %s: %s\n", cfg.json_path, strerror(errno));
            if (cfg.plot_path != NULL)
                unlink(cfg.plot_path); /* created empty by the check above */
            goto cleanup;
        }
        fclose(f);
    }
    raise_nofile(&cfg);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (mm_bench_run(&cfg, &st, &stop_requested, why, sizeof(why)) != MM_OK) {
        fprintf(stderr, "mm_bench: the run failed: %s\n", why);
        goto cleanup;
    }
    /* with --json - the JSON owns stdout, so the table goes to stderr */
    FILE *table = cfg.json_path != NULL && strcmp(cfg.json_path, "-") == 0 ? stderr : stdout;
    mm_bench_report_table(table, &cfg, &st);
    fflush(table);
    status = mm_bench_stats_errors(&st) == 0 && !st.interrupted && st.started > 0 ? 0 : EXIT_NOT_ALL_READY;
    if (cfg.json_path != NULL && mm_bench_report_json(cfg.json_path, &cfg, &st, why, sizeof(why)) != MM_OK) {
        fprintf(stderr, "mm_bench: --json: %s\n", why);
        status = EXIT_FAILED;
    }
    if (cfg.plot_path != NULL && mm_bench_plot(cfg.plot_path, &cfg, &st, why, sizeof(why)) != MM_OK) {
        fprintf(stderr, "mm_bench: --plot: %s\n", why);
        status = EXIT_FAILED;
    }
cleanup:
    mm_bench_stats_free(&st);
    mm_bench_config_wipe(&cfg);
    return status;
}
