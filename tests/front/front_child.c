/*
 * A web front in a child process (front_child.h). The child never returns into the test: it
 * stops its front when the parent's pipe closes and leaves with _exit.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "front_child.h"
#include "front_harness.h"
#include "mm_test.h"

void
fc_start(fc_child *c, const mm_front_config *cfg, unsigned long nofile)
{
    int port_pipe[2], stop_pipe[2];
    MM_REQUIRE(pipe(port_pipe) == 0 && pipe(stop_pipe) == 0);
    fflush(NULL);
    pid_t pid = fork();
    MM_REQUIRE(pid >= 0);
    if (pid == 0) {
        close(port_pipe[0]);
        close(stop_pipe[1]);
        if (nofile > 0) {
            struct rlimit rl = {.rlim_cur = nofile, .rlim_max = nofile};
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
                _exit(3);
        }
        fh h;
        fh_start(&h, cfg);
        if (write(port_pipe[1], &h.port, sizeof(h.port)) != (ssize_t)sizeof(h.port))
            _exit(4);
        close(port_pipe[1]);
        char b;
        while (read(stop_pipe[0], &b, 1) > 0)
            ;
        fh_stop(&h, 0);
        _exit(0);
    }
    close(port_pipe[1]);
    close(stop_pipe[0]);
    c->pid = pid;
    c->stop_fd = stop_pipe[1];
    ssize_t n = read(port_pipe[0], &c->port, sizeof(c->port));
    close(port_pipe[0]);
    MM_REQUIRE(n == (ssize_t)sizeof(c->port) && c->port != 0);
}

int
fc_stop(fc_child *c)
{
    close(c->stop_fd);
    int status = 0;
    if (waitpid(c->pid, &status, 0) != c->pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

long
fc_status_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long v = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}
