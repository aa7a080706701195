/*
 * A web front in a child process of its own, for tests that measure what the front's process
 * costs (its RSS in /proc/<pid>/status) or that give it its own open-file limit: the child
 * starts a front (front_harness.h) on 127.0.0.1:0, reports the port through a pipe and runs
 * until the parent closes the other pipe. Fork before the parent starts any thread.
 */
#ifndef MM_TEST_FRONT_CHILD_H
#define MM_TEST_FRONT_CHILD_H

#include <stdint.h>
#include <sys/types.h>

#include "mm/front.h"

typedef struct fc_child {
    pid_t pid;
    uint16_t port;
    int stop_fd; /* the parent's end: closing it stops the child */
} fc_child;

/* nofile > 0: the child's soft and hard RLIMIT_NOFILE before the front starts. */
void fc_start(fc_child *c, const mm_front_config *cfg, unsigned long nofile);
/* Stops the child and waits for it; returns its exit status (0: clean). */
int fc_stop(fc_child *c);
/* A field of /proc/<pid>/status in kB ("VmRSS", "VmHWM"), or -1. */
long fc_status_kb(pid_t pid, const char *field);

#endif
