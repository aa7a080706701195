/*
 * mm_bench, the load-test tool for /matchmaker/ws (docs/mm_bench.md). Modules, one file each:
 *
 *   mm_bench_flags.c    command line -> mm_bench_config (mm_bench_usage.c: --help)
 *   mm_bench_config.c   address, client_ip spread, open-loop schedule
 *   mm_bench_run.c      the epoll loop: schedules requests (open or closed loop), timers
 *   mm_bench_conn.c     one client connection's I/O: connect, writes, reads, deadlines, teardown
 *   mm_bench_conn_read.c  what a connection reads: the 101, frames, messages, the close
 *   mm_bench_ws.c       WebSocket codec (the accept key's SHA-1 is libcrypto's)
 *   mm_bench_session.c  message order, outcome classes, token verification
 *   mm_bench_stats.c    counts, per-phase histograms (mm_bench_hist.c), timeline, reasons
 *   mm_bench_report.c   live progress line, final table, --json
 *   mm_bench_plot.c     --plot through gnuplot
 *   mm_bench_merge.c    mm_bench merge: several runs' --json into one result, exactly
 *   mm_bench_line.c     --rate-curve, the waiting-room reports, the fluid model, --requests-csv
 *
 * Everything runs on one thread; nothing here is thread-safe.
 */
#ifndef MM_BENCH_H
#define MM_BENCH_H

#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "mm/err.h"
#include "mm_bench_hist.h"
#include "mm_bench_session.h"

#define MM_BENCH_NAME_MAX 64         /* --game / --version bytes (the server decides what is valid) */
#define MM_BENCH_MAX_MESSAGE 65536   /* largest message accepted from a server */

typedef enum mm_bench_mode { MM_BENCH_OPEN_LOOP = 1, MM_BENCH_CLOSED_LOOP } mm_bench_mode;

/*
 * Where client sockets come from (--source-ips). AUTO (no flag): RANGES over
 * MM_BENCH_LOOPBACK_SOURCES when the target is an IPv4 loopback address, else KERNEL.
 */
typedef enum mm_bench_source_mode {
    MM_BENCH_SOURCE_AUTO = 0,
    MM_BENCH_SOURCE_KERNEL, /* --source-ips none: no bind, the kernel's choice */
    MM_BENCH_SOURCE_RANGES, /* bind to the next address of the ranges, round-robin */
} mm_bench_source_mode;

#define MM_BENCH_MAX_SOURCE_RANGES 16
#define MM_BENCH_LOOPBACK_SOURCES "127.0.1.1-127.0.255.254"
#define MM_BENCH_SOURCES_TEXT (MM_BENCH_MAX_SOURCE_RANGES * 32 + 8)

#define MM_BENCH_MAX_CURVE 64      /* --rate-curve points */
#define MM_BENCH_CURVE_TEXT 1024   /* --rate-curve text, as given */

/** Everything the command line says. Holds the verification key: mm_bench_config_wipe(). */
typedef struct mm_bench_config {
    char url[600];
    char host[256]; /* from the URL, without IPv6 brackets */
    uint16_t port;
    char path[256];
    char host_header[300];
    struct sockaddr_storage addr; /* filled by mm_bench_config_resolve() */
    socklen_t addr_len;

    mm_bench_mode mode;
    double rate;           /* open loop: requests started per second after the ramp */
    uint64_t duration_ns;  /* open loop: how long to start requests; closed loop: 0 = no limit */
    uint64_t ramp_ns;      /* open loop: linear ramp from 0 to rate over this time */
    uint32_t concurrency;  /* closed loop: requests in flight */
    uint64_t requests;     /* closed loop: requests in all; 0 = no limit (then duration is set) */
    /* --rate-curve (open loop): piecewise-linear rate; curve_len 0 = --rate/--ramp instead */
    size_t curve_len;
    double curve_t[MM_BENCH_MAX_CURVE]; /* seconds, non-decreasing, curve_t[0] = 0 */
    double curve_r[MM_BENCH_MAX_CURVE]; /* requests per second at curve_t[i] */
    double curve_c[MM_BENCH_MAX_CURVE]; /* requests started by curve_t[i] (the integral) */
    char curve_text[MM_BENCH_CURVE_TEXT];
    double fluid_ceiling;  /* --fluid-ceiling: players per second of the best FIFO; 0 = no model */

    char game[MM_BENCH_NAME_MAX + 1];
    char version[MM_BENCH_NAME_MAX + 1];
    int have_ip_range;
    uint32_t ip_first;     /* host order */
    uint64_t ip_count;     /* 1 .. 2^32 */

    /* --source-ips: the local addresses client sockets are bound to, round-robin (IPv4) */
    mm_bench_source_mode source_mode;
    size_t source_range_count;
    uint32_t source_first[MM_BENCH_MAX_SOURCE_RANGES]; /* host order */
    uint64_t source_count[MM_BENCH_MAX_SOURCE_RANGES];
    uint64_t source_total; /* addresses in all the ranges */

    uint64_t timeout_ns;     /* per request, from its start to its final message */
    uint64_t close_grace_ns; /* after the final message, for the server's close */

    int verify;
    mm_bench_verifier verifier;

    const char *json_path;
    const char *plot_path;
    const char *requests_csv; /* --requests-csv: one line per request */
    int progress; /* live line on stderr: 1 yes, 0 no */
} mm_bench_config;

/**
 * Parses the command line into cfg (defaults first). Returns 0 to run, -1 when --help was
 * printed (exit 0), or 2 after printing a one-line usage error on stderr. A --verify-key value
 * is overwritten in argv once parsed (kept out of /proc/PID/cmdline).
 */
int mm_bench_flags_parse(mm_bench_config *cfg, int argc, char **argv);

/** The --help text (stdout). */
void mm_bench_flags_usage(FILE *out);

/** "30s", "500ms", "2m", "1h", "1.5" (seconds) into ns, within [min_s, 24 h]: 0, or -1 when not one. */
int mm_bench_parse_duration(const char *text, double min_s, uint64_t *out);

/**
 * A usage error: "mm_bench: " + the message + " (see mm_bench --help)", one line on stderr.
 * Returns 2 (the exit status of a usage error), for `return mm_bench_usage_error(...)`.
 */
int mm_bench_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Resolves cfg->host:port into cfg->addr (first answer); MM_ERR_INVALID with why. */
mm_err mm_bench_config_resolve(mm_bench_config *cfg, char *why, size_t why_len);

/**
 * After resolve: settles the source addresses (AUTO becomes the loopback default or the
 * kernel's choice) and test-binds the first and last address of every range, so a wrong address
 * is an error at start. MM_ERR_INVALID with why (naming the address and `ip -brief addr`).
 */
mm_err mm_bench_config_sources(mm_bench_config *cfg, char *why, size_t why_len);

/** The source address of request k (round-robin over the ranges), host order. RANGES only. */
uint32_t mm_bench_config_source_ip(const mm_bench_config *cfg, uint64_t k);

/** The ranges as "A-B,C,..." (or "none") into buf; MM_BENCH_SOURCES_TEXT bytes always suffice. */
void mm_bench_config_sources_text(const mm_bench_config *cfg, char *buf, size_t len);

/** Parses one --source-ips value (a range, block, address or "none") into cfg; 0 or 2 (usage error printed). */
int mm_bench_flags_source_ips(mm_bench_config *cfg, const char *text);

/** Wipes the verification key. Accepts NULL. */
void mm_bench_config_wipe(mm_bench_config *cfg);

/** The k-th client_ip of the range (k counted from 0, wrapping) as dotted text into buf[16]. */
void mm_bench_config_client_ip(const mm_bench_config *cfg, uint64_t k, char buf[16]);

/** Open loop: the start time of request k relative to the run start, in ns (ramp included). */
uint64_t mm_bench_open_loop_offset(const mm_bench_config *cfg, uint64_t k);

/** Open loop: how many requests start before duration. */
uint64_t mm_bench_open_loop_total(const mm_bench_config *cfg);

/* ---- load curves, the waiting room, the fluid model (mm_bench_line.c) ---- */

/**
 * Parses a --rate-curve value "T1:R1,T2:R2,..." (times as --duration, from 0s, non-decreasing;
 * rates per second, 0..1000000; piecewise linear between points) into cfg. 0, or 2 after
 * printing a one-line usage error.
 */
int mm_bench_flags_rate_curve(mm_bench_config *cfg, const char *text);

/** --rate-curve: the start offset of request k (ns), and the number of requests in all. */
uint64_t mm_bench_curve_offset(const mm_bench_config *cfg, uint64_t k);
uint64_t mm_bench_curve_total(const mm_bench_config *cfg);

/**
 * The best FIFO at ceiling players/s (a single server of rate C, fluid: each player brings 1/C s
 * of work): the wait of player i is W_i = max(0, W_{i-1} + 1/C - (a_i - a_{i-1})), W_0 = 0, for
 * arrivals a (ns, non-decreasing). Fills out[i] (ns) for i < n.
 */
void mm_bench_fluid_waits(const uint64_t *arrivals, size_t n, double ceiling, uint64_t *out);

/** The --requests-csv header line. */
void mm_bench_line_csv_header(FILE *out);

/* ---- statistics (mm_bench_stats.c) ---- */

/** The phases timed for each request, all measured from the request's start. */
typedef enum mm_bench_phase {
    MM_BENCH_PHASE_CONNECT = 0,   /* TCP connected */
    MM_BENCH_PHASE_UPGRADE,       /* 101 Switching Protocols read */
    MM_BENCH_PHASE_FIRST_MESSAGE, /* first text message */
    MM_BENCH_PHASE_ACCEPTED,      /* SessionRequestAccepted */
    MM_BENCH_PHASE_READY,         /* SessionReady, for requests whose outcome is ready = time-to-ready */
    MM_BENCH_PHASE_TOLD,          /* the first waiting-room ProgressReport (a position in line) */
    MM_BENCH_PHASE_LEFT_LINE,     /* the first message after Acknowledged that is not a waiting-room
                                   * report (after the last one for a request in line), unless an Error */
    MM_BENCH_PHASE_COUNT
} mm_bench_phase;

const char *mm_bench_phase_name(mm_bench_phase phase);

#define MM_BENCH_ROW_CODES 6 /* Error codes counted apart in one second; the rest: error_other */

/**
 * One second of the run. Latencies are those of the ready outcomes decided in that second; their
 * histogram is kept sparse (the non-empty buckets, by index) so runs can be merged exactly.
 */
typedef struct mm_bench_second {
    uint64_t started, ready, failed;
    uint64_t in_flight; /* at the end of the second */
    uint64_t p50_us, p90_us, p99_us, min_us, max_us; /* valid when ready > 0 */
    uint64_t failed_by[MM_BENCH_OUTCOME_COUNT];      /* failed, by outcome ([MM_BENCH_ERROR]: every code) */
    uint16_t codes[MM_BENCH_ROW_CODES];              /* the first Error codes seen in this second */
    uint64_t code_counts[MM_BENCH_ROW_CODES];
    size_t code_count;
    uint64_t codes_other; /* Errors whose code did not fit */
    mm_bench_hist_cell *ready_hist; /* owned: the non-empty buckets of the ready latencies */
    size_t ready_hist_len;
} mm_bench_second;

/** Adds count failures of class (outcome, code) to row. */
void mm_bench_second_add_failed(mm_bench_second *row, mm_bench_outcome outcome, uint16_t code, uint64_t count);

#define MM_BENCH_MAX_REASONS 48

/** A distinct reason of a non-ready outcome, counted. */
typedef struct mm_bench_reason {
    mm_bench_outcome outcome;
    uint16_t code;
    char text[MM_BENCH_REASON_LEN];
    uint64_t count;
} mm_bench_reason;

typedef struct mm_bench_stats {
    uint64_t start_ns, end_ns;      /* monotonic: the run's start and end */
    uint64_t last_start_ns;         /* the last request's start */
    uint64_t last_decided_ns;       /* the last outcome's decision */
    uint64_t started, decided, in_flight;
    uint64_t outcomes[MM_BENCH_OUTCOME_COUNT];
    uint64_t *error_codes;          /* 65536 counters (owned): the error_<code> classes */
    uint64_t tokens_verified;
    uint64_t max_lag_ns;            /* open loop: largest delay of a start behind its schedule */
    mm_bench_hist phases[MM_BENCH_PHASE_COUNT];
    mm_bench_hist window;           /* ready latencies of the current second */
    mm_bench_second *seconds;       /* owned; second_count rows, the last one still open */
    size_t second_count, second_cap;
    int timeline_truncated;         /* a row could not be allocated: later seconds merged */
    int timeline_sparse_lost;       /* a second's sparse histogram could not be allocated */
    mm_bench_reason reasons[MM_BENCH_MAX_REASONS];
    size_t reason_count;
    uint64_t reasons_other;         /* outcomes whose reason did not fit the table */
    uint64_t start_unix_ns;         /* wall clock at start_ns (runs are merged on it) */
    uint64_t sources_total;         /* source addresses available (0: the kernel's choice) */
    char sources_text[MM_BENCH_SOURCES_TEXT]; /* their ranges, as mm_bench_config_sources_text */
    uint64_t sources_used;          /* distinct source addresses the requests were given */
    uint64_t sources_max_per;       /* the most requests one source address was given */
    double cpu_start_user_s, cpu_start_sys_s; /* this process's CPU time when the run began */
    double cpu_user_s, cpu_sys_s;   /* CPU time the run took (set by mm_bench_stats_close) */
    int interrupted;
    /* the waiting room (docs/mm_bench.md, "Waiting room and estimates") */
    uint64_t line_told;             /* requests told a position in line */
    uint64_t line_left;             /* of those, requests that then left the line (not by an Error or a close) */
    uint64_t line_max_position;     /* the largest first position told */
    uint64_t line_max_length;       /* the largest line length told */
    mm_bench_hist line_error;       /* |estimate - actual| / actual of the first estimate, in parts per million */
    uint64_t first_ready_ns, last_ready_ns; /* the first and last SessionReady of a ready request (0: none) */
    /* --fluid-ceiling: every start's offset from start_ns, then the model's waits */
    uint64_t *arrivals;             /* owned; arrival_count used of arrival_cap */
    size_t arrival_count, arrival_cap;
    int arrivals_lost;              /* memory ran out: no fluid model */
    double fluid_ceiling;
    mm_bench_hist fluid;            /* the best FIFO's wait of every started request, us */
    int fluid_done;                 /* fluid holds the model's waits */
} mm_bench_stats;

/** Allocates histograms and tables; the run starts at start_ns. MM_ERR_NOMEM (st freed). */
mm_err mm_bench_stats_init(mm_bench_stats *st, uint64_t start_ns);

/** Frees everything. Accepts NULL and a zeroed struct. */
void mm_bench_stats_free(mm_bench_stats *st);

/** Closes the seconds that ended before now (call before recording at now). */
void mm_bench_stats_tick(mm_bench_stats *st, uint64_t now_ns);

/** A request started at now, lag_ns behind its schedule. */
void mm_bench_stats_started(mm_bench_stats *st, uint64_t now_ns, uint64_t lag_ns);

/**
 * A request's outcome was decided at now: session holds it (session->done), t0 is its start,
 * at[phase] the time each phase was reached (0 = never).
 */
void mm_bench_stats_decided(mm_bench_stats *st, const mm_bench_session *session, uint64_t t0,
                            const uint64_t at[MM_BENCH_PHASE_COUNT], uint64_t now_ns);

/** Ends the run at end_ns: closes the last second and works out the CPU time the run took. */
void mm_bench_stats_close(mm_bench_stats *st, uint64_t end_ns);

/** Counts count non-ready outcomes of one reason (distinct by outcome, code and text). */
void mm_bench_stats_add_reason(mm_bench_stats *st, mm_bench_outcome outcome, uint16_t code, const char *text, uint64_t count);

/** Makes room for n rows in the timeline (zeroed); MM_ERR_NOMEM. */
mm_err mm_bench_stats_reserve(mm_bench_stats *st, size_t n);

/** Fills row's percentiles from its sparse ready histogram, using scratch (an empty histogram). */
void mm_bench_second_percentiles(mm_bench_second *row, mm_bench_hist *scratch);

/** Records a start's offset for the fluid model (no-op unless st->fluid_ceiling > 0). */
void mm_bench_stats_arrival(mm_bench_stats *st, uint64_t offset_ns);

/** After the run: the fluid model's waits of every recorded arrival into st->fluid. */
void mm_bench_stats_fluid(mm_bench_stats *st);

/** One --requests-csv line for a decided request (t0 its start, at[] its phases). */
void mm_bench_line_csv_row(FILE *out, const mm_bench_stats *st, uint64_t index, uint64_t t0, const uint64_t at[MM_BENCH_PHASE_COUNT],
                           const mm_bench_session *s);

/** Requests decided with a non-ready outcome. */
uint64_t mm_bench_stats_errors(const mm_bench_stats *st);

/* ---- the run (mm_bench_run.c) ---- */

/**
 * Runs the load described by cfg until every request is decided, recording into st (which
 * mm_bench_run initialises: free it with mm_bench_stats_free even on failure). *stop becoming
 * non-zero (a signal handler) ends the run early: requests in flight become "interrupted".
 * MM_OK, or MM_ERR_SYS / MM_ERR_NOMEM with why when the loop itself could not run.
 */
mm_err mm_bench_run(const mm_bench_config *cfg, mm_bench_stats *st, volatile sig_atomic_t *stop, char *why, size_t why_len);

/* ---- output (mm_bench_report.c, mm_bench_plot.c) ---- */

/** Rewrites the live progress line on stderr (call about 4 times a second). */
void mm_bench_report_progress(const mm_bench_stats *st, uint64_t now_ns);

/** Ends the progress line (a newline) if one was written. */
void mm_bench_report_progress_end(void);

/** Prints the final table. */
void mm_bench_report_table(FILE *out, const mm_bench_config *cfg, const mm_bench_stats *st);

/** Writes the --json document to path ("-": stdout). MM_ERR_IO / MM_ERR_NOMEM with why. */
mm_err mm_bench_report_json(const char *path, const mm_bench_config *cfg, const mm_bench_stats *st, char *why, size_t why_len);

/**
 * Before the run: the --plot path is usable (no quotes, backslashes or newlines; the file can be
 * created) and gnuplot is on PATH, so a long run does not end in a missing picture. MM_OK, or
 * MM_ERR_INVALID / MM_ERR_NOTFOUND / MM_ERR_IO with why.
 */
mm_err mm_bench_plot_check(const char *path, char *why, size_t why_len);

/** Draws the --plot PNG with gnuplot. MM_ERR_NOTFOUND (no gnuplot) / MM_ERR_IO / MM_ERR_SYS with why. */
mm_err mm_bench_plot(const char *path, const mm_bench_config *cfg, const mm_bench_stats *st, char *why, size_t why_len);

/* ---- merging runs (mm_bench_merge.c) ---- */

/**
 * Merges the --json documents of n runs (paths name them in errors) into st (initialised here:
 * free it with mm_bench_stats_free even on failure; its times are wall-clock ns) and a cfg for
 * the report. MM_ERR_INVALID with why naming the file: not an mm_bench result, no exact figures,
 * another histogram layout, malformed. MM_ERR_NOMEM.
 */
mm_err mm_bench_merge_docs(mm_bench_stats *st, mm_bench_config *cfg, const char *const *paths, json_t *const *docs, size_t n,
                           char *why, size_t why_len);

/** `mm_bench merge ...` (argv[0] = "merge"): the exit status (0, 1 like a run, 2 usage, 3 failure). */
int mm_bench_merge_main(int argc, char **argv);

#endif
