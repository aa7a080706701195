/*
 * mm_crash_report_install: a child that aborts, or touches a bad address, writes the report
 * line and a backtrace to stderr and still dies of the same signal (exit status unchanged).
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mm/crash.h"
#include "mm_test.h"

static void __attribute__((noinline)) die_by_abort(void)
{
    abort();
}

static void __attribute__((noinline)) die_by_segv(void)
{
    raise(SIGSEGV); /* a real bad access would be caught by ASan's own handler, left in place */
}

/* Runs `how` in a child with the report installed; returns its wait status, stderr in out. */
static int
run_child(void (*how)(void), char *out, size_t out_len)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        mm_crash_report_install("crash_child");
        how();
        _exit(0);
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t n;
    while (got + 1 < out_len && (n = read(fds[0], out + got, out_len - 1 - got)) > 0)
        got += (size_t)n;
    out[got] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

int
main(void)
{
    static char out[65536];
    int st = run_child(die_by_abort, out, sizeof(out));
    MM_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    MM_CHECK(strstr(out, "crash_child: fatal SIGABRT, backtrace follows\n") != NULL);
    MM_CHECK(strstr(out, "crash_child: end of backtrace\n") != NULL);
    /* the frames name the C library's abort and our caller's binary */
    MM_CHECK(strstr(out, "abort") != NULL || strstr(out, "libc.so") != NULL);
    MM_CHECK(strstr(out, "test_crash") != NULL);

    struct sigaction cur;
    sigaction(SIGSEGV, NULL, &cur);
    bool sanitizer_owns = (cur.sa_flags & SA_SIGINFO) != 0 || cur.sa_handler != SIG_DFL;
    st = run_child(die_by_segv, out, sizeof(out));
    if (!sanitizer_owns) { /* ours reported it, and the child still died of SIGSEGV */
        MM_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
        MM_CHECK(strstr(out, "crash_child: fatal SIGSEGV") != NULL);
    } else { /* the sanitizer's handler was kept: it reports, then aborts (abort_on_error) or exits */
        MM_CHECK(strstr(out, "crash_child: fatal SIGSEGV") == NULL);
        MM_CHECK(WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) != 0));
    }

    return MM_TEST_DONE();
}
