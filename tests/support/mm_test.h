/*
 * Test support: assertions that print both sides, and helpers that start real servers
 * (nats-server, our simulators) on free loopback ports as children that die with the test.
 *
 * Every test is its own executable and its own CTest test with a timeout. A test calls
 * MM_TEST_DONE() last: it prints "N passed, N failed" and returns the exit status.
 */
#ifndef MM_TEST_H
#define MM_TEST_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

extern int mm_test_passed;
extern int mm_test_failed;

#define MM_CHECK(cond)                                                                                                   \
    do {                                                                                                                 \
        if (cond) {                                                                                                      \
            mm_test_passed++;                                                                                            \
        } else {                                                                                                         \
            mm_test_failed++;                                                                                            \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                                     \
        }                                                                                                                \
    } while (0)

#define MM_CHECK_INT(a, op, b)                                                                                           \
    do {                                                                                                                 \
        long long mm_a_ = (long long)(a), mm_b_ = (long long)(b);                                                        \
        if (mm_a_ op mm_b_) {                                                                                            \
            mm_test_passed++;                                                                                            \
        } else {                                                                                                         \
            mm_test_failed++;                                                                                            \
            fprintf(stderr, "%s:%d: check failed: %s %s %s (%lld vs %lld)\n", __FILE__, __LINE__, #a, #op, #b, mm_a_,    \
                    mm_b_);                                                                                              \
        }                                                                                                                \
    } while (0)

#define MM_CHECK_U64(a, op, b)                                                                                           \
    do {                                                                                                                 \
        uint64_t mm_a_ = (uint64_t)(a), mm_b_ = (uint64_t)(b);                                                           \
        if (mm_a_ op mm_b_) {                                                                                            \
            mm_test_passed++;                                                                                            \
        } else {                                                                                                         \
            mm_test_failed++;                                                                                            \
            fprintf(stderr, "%s:%d: check failed: %s %s %s (%" PRIu64 " vs %" PRIu64 ")\n", __FILE__, __LINE__, #a, #op, \
                    #b, mm_a_, mm_b_);                                                                                   \
        }                                                                                                                \
    } while (0)

#define MM_CHECK_STR(a, b)                                                                                               \
    do {                                                                                                                 \
        const char *mm_a_ = (a), *mm_b_ = (b);                                                                           \
        if (mm_a_ != NULL && mm_b_ != NULL && strcmp(mm_a_, mm_b_) == 0) {                                               \
            mm_test_passed++;                                                                                            \
        } else {                                                                                                         \
            mm_test_failed++;                                                                                            \
            fprintf(stderr, "%s:%d: check failed: %s == %s (\"%s\" vs \"%s\")\n", __FILE__, __LINE__, #a, #b,            \
                    mm_a_ ? mm_a_ : "(null)", mm_b_ ? mm_b_ : "(null)");                                                 \
        }                                                                                                                \
    } while (0)

/* Stops the test at once when a precondition for the rest of it fails. */
#define MM_REQUIRE(cond)                                                                                                 \
    do {                                                                                                                 \
        if (!(cond)) {                                                                                                   \
            fprintf(stderr, "%s:%d: required condition failed: %s\n", __FILE__, __LINE__, #cond);                        \
            mm_test_failed++;                                                                                            \
            mm_test_exit();                                                                                              \
        }                                                                                                                \
    } while (0)

#define MM_TEST_DONE() mm_test_done()

/** Prints the tally line and returns the exit status for main (0 only when nothing failed). */
int mm_test_done(void);

/** Prints the tally, stops every child started through this file and exits non-zero. */
void mm_test_exit(void) __attribute__((noreturn));

/** Milliseconds on the monotonic clock. */
long long mm_test_now_ms(void);

/** Sleeps ms milliseconds, resumed after a signal. It paces a poll; it never synchronises. */
void mm_test_sleep_ms(int ms);

/**
 * Polls cond(arg) every poll_ms (1 when smaller) until it holds: true, or false once timeout_ms
 * has passed with it still false. cond is asked one last time at the deadline.
 */
bool mm_test_wait_until(bool (*cond)(void *arg), void *arg, int poll_ms, int timeout_ms);

/** A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close). */
int mm_test_free_port(void);

/** Waits until a TCP connect to 127.0.0.1:port succeeds; 0 on success, -1 after timeout_ms. */
int mm_test_wait_port(int port, int timeout_ms);

/**
 * Starts argv[0] (a path) with argv as a child that is killed when the test process dies.
 * Its stdout/stderr go to the test's stderr unless log_path is set (then to that file).
 * Returns the pid, or -1.
 */
pid_t mm_test_spawn(char *const argv[], const char *log_path);

/** Sends SIGTERM (then SIGKILL after grace_ms) and reaps; returns the exit status or -1. */
int mm_test_stop(pid_t pid, int grace_ms);

/** Runs a command to completion, capturing up to out_len-1 bytes of stdout. Returns exit status. */
int mm_test_run(char *const argv[], const char *stdin_text, char *out, size_t out_len);

/** A nats-server with JetStream on a free loopback port and a temporary store. */
struct mm_test_nats {
    pid_t pid;
    int port;
    char store_dir[256];
    char url[64]; /* nats://127.0.0.1:PORT */
};

/** Starts nats-server (-js, temp store dir, free port) and waits until it accepts connections. */
int mm_test_nats_start(struct mm_test_nats *nats);

/** Restarts the server on the same port and store (for reconnect tests). */
int mm_test_nats_restart(struct mm_test_nats *nats);

/** Stops the server and removes its store. */
void mm_test_nats_stop(struct mm_test_nats *nats);

/** Our Edgegap simulator (edgegap_sim in mm_test_build_dir()) as a child on 127.0.0.1. */
typedef struct mm_test_sim {
    pid_t pid;
    int port;
    char base[64]; /* http://127.0.0.1:PORT */
} mm_test_sim;

/**
 * Starts `edgegap_sim --listen 127.0.0.1:<sim->port> --api-key API_KEY --log-level warn EXTRA...`
 * (extra NULL-terminated, may be NULL; a later --log-level in it wins) and waits up to 10 s for
 * its port. Output goes to log_path, or to the test's stderr when NULL. On failure the child is
 * stopped and -1 returned. Used directly to start it again on the same port after a stop.
 */
int mm_test_sim_spawn(mm_test_sim *sim, const char *api_key, const char *const *extra, const char *log_path);

/** mm_test_sim_spawn on a free port, trying up to three ports (one may be taken meanwhile). */
int mm_test_sim_start(mm_test_sim *sim, const char *api_key, const char *const *extra, const char *log_path);

/** A fresh temporary directory under $TMPDIR (or /tmp); path must hold 256 bytes. */
int mm_test_tmpdir(char *path, size_t len);

/** Directory with the built programs (build/), set by CMake. */
const char *mm_test_build_dir(void);

/** Source tree root, set by CMake (to read the token vectors and fixtures under tests/). */
const char *mm_test_source_dir(void);

/** A connect to 127.0.0.1:port: 0 when it connected (closed again at once), else the errno
 * (ETIMEDOUT when nothing answered within timeout_ms). */
int mm_test_connect_errno(uint16_t port, int timeout_ms);

/** The counters of the matchmaker's "provisioner: N sessions polled with N GETs; webhooks: ..."
 * line, which it logs at stop. */
typedef struct mm_test_prov_stats {
    unsigned long long sessions, gets, received, over_nats, bad, refused, ignored, early, limited, hook_gets;
} mm_test_prov_stats;

/** Reads the last such line of a matchmaker's log into st; false when there is none. */
bool mm_test_prov_stats_read(const char *log_path, mm_test_prov_stats *st);

/** Whether the first 64 KiB of the file at path contain needle (false if it cannot be read). */
bool mm_test_file_contains(const char *path, const char *needle);

/** Copies the first 64 KiB of the file at path to stderr, between two marker lines. */
void mm_test_dump_file(const char *path);

/**
 * Reads one HTTP/1.1 request from fd (blocking; a test's own tiny server): its target into path
 * (at most path_len - 1 bytes) and its body by Content-Length (at most 8 KiB), returned
 * malloc'd and NUL-terminated (free it); NULL on EOF, a malformed head or a larger body.
 */
char *mm_test_read_http_request(int fd, char *path, size_t path_len);

#endif
