/*
 * Fatal-signal report (include/mm/crash.h). Besides write() and raise(), the handler calls
 * backtrace() and backtrace_symbols_fd(): the latter never allocates (glibc documents it for
 * this use), and backtrace() allocates only on its first call, when it loads libgcc, so
 * install() makes that call.
 */
#include "mm/crash.h"

#include <execinfo.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

static const char *crash_program = "mm";

static void
put(const char *s)
{
    size_t len = strlen(s);
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, s, len);
        if (n <= 0)
            return;
        s += n;
        len -= (size_t)n;
    }
}

static const char *
signal_name(int sig)
{
    switch (sig) {
    case SIGSEGV:
        return "SIGSEGV";
    case SIGBUS:
        return "SIGBUS";
    case SIGFPE:
        return "SIGFPE";
    case SIGILL:
        return "SIGILL";
    case SIGABRT:
        return "SIGABRT";
    default:
        return "signal";
    }
}

static void
on_fatal(int sig)
{
    put(crash_program);
    put(": fatal ");
    put(signal_name(sig));
    put(", backtrace follows\n");
    void *frames[64];
    int n = backtrace(frames, 64);
    backtrace_symbols_fd(frames, n, STDERR_FILENO);
    put(crash_program);
    put(": end of backtrace\n");
    /* SA_RESETHAND restored the default action: die of the same signal */
    raise(sig);
}

void
mm_crash_report_install(const char *program)
{
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    if (program != NULL)
        crash_program = program;
    void *warm[2];
    (void)backtrace(warm, 2);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        struct sigaction old;
        if (sigaction(sigs[i], NULL, &old) != 0)
            continue;
        bool taken = (old.sa_flags & SA_SIGINFO) != 0 ? old.sa_sigaction != NULL
                                                       : old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN;
        if (taken && sigs[i] != SIGABRT)
            continue; /* a sanitizer's: keep it */
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_fatal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESETHAND | SA_NODEFER;
        sigaction(sigs[i], &sa, NULL);
    }
}
