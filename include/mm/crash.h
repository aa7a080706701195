/*
 * Fatal-signal report: a process that dies of SIGSEGV, SIGBUS, SIGFPE, SIGILL or SIGABRT first
 * writes one line naming the signal and a raw backtrace (addresses resolved to symbols where the
 * dynamic symbol table allows) to standard error, then dies of the same signal, so exit statuses
 * and core dumps are unchanged. Without it an abort() inside a library (nats.c aborts when a
 * mutex lock fails) leaves nothing in the log.
 *
 * A handler a sanitizer already installed is left in place (its report is better); SIGABRT is
 * always reported, since sanitizers abort through it after their report.
 */
#ifndef MM_CRASH_H
#define MM_CRASH_H

/** Installs the handlers; `program` (kept, not copied) prefixes the report line. Call once, early. */
void mm_crash_report_install(const char *program);

#endif
