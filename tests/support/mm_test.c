/*
 * Test support (mm_test.h). Children are started with PR_SET_PDEATHSIG so that a test killed by
 * its CTest timeout, or crashing, never leaves servers behind; mm_test_exit() also stops them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mm_test.h"

int mm_test_passed;
int mm_test_failed;

#define MAX_CHILDREN 64
static pid_t children[MAX_CHILDREN];

static void
children_add(pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] == 0) {
            children[i] = pid;
            return;
        }
}

static void
children_forget(pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] == pid)
            children[i] = 0;
}

int
mm_test_done(void)
{
    printf("%d passed, %d failed\n", mm_test_passed, mm_test_failed);
    fflush(stdout);
    return mm_test_failed == 0 && mm_test_passed > 0 ? 0 : 1;
}

void
mm_test_exit(void)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] > 0) {
            kill(children[i], SIGKILL);
            waitpid(children[i], NULL, 0);
        }
    mm_test_done();
    exit(1);
}

int
mm_test_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = 0};
    socklen_t sl = sizeof(sa);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

long long
mm_test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
mm_test_sleep_ms(int ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

bool
mm_test_wait_until(bool (*cond)(void *arg), void *arg, int poll_ms, int timeout_ms)
{
    long long deadline = mm_test_now_ms() + timeout_ms;
    if (poll_ms < 1)
        poll_ms = 1;
    for (;;) {
        if (cond(arg))
            return true;
        long long left = deadline - mm_test_now_ms();
        if (left <= 0)
            return cond(arg);
        mm_test_sleep_ms(left < poll_ms ? (int)left : poll_ms);
    }
}

int
mm_test_wait_port(int port, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 20) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = htons((uint16_t)port)};
        int ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
        if (fd >= 0)
            close(fd);
        if (ok)
            return 0;
        mm_test_sleep_ms(20);
    }
    return -1;
}

pid_t
mm_test_spawn(char *const argv[], const char *log_path)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (log_path != NULL) {
            int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
            if (fd >= 0) {
                dup2(fd, STDOUT_FILENO);
                dup2(fd, STDERR_FILENO);
                close(fd);
            }
        } else {
            dup2(STDERR_FILENO, STDOUT_FILENO);
        }
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    children_add(pid);
    return pid;
}

int
mm_test_stop(pid_t pid, int grace_ms)
{
    if (pid <= 0)
        return -1;
    int status = 0;
    kill(pid, SIGTERM);
    for (int waited = 0; waited < grace_ms; waited += 10) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            children_forget(pid);
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        mm_test_sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    children_forget(pid);
    return -1;
}

int
mm_test_run(char *const argv[], const char *stdin_text, char *out, size_t out_len)
{
    int in_pipe[2], out_pipe[2];
    if (pipe(in_pipe) != 0 || pipe(out_pipe) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(in_pipe[0], STDIN_FILENO);
        dup2(out_pipe[1], STDOUT_FILENO);
        close(in_pipe[0]);
        close(in_pipe[1]);
        close(out_pipe[0]);
        close(out_pipe[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(in_pipe[0]);
    close(out_pipe[1]);
    if (stdin_text != NULL) {
        size_t left = strlen(stdin_text);
        const char *p = stdin_text;
        signal(SIGPIPE, SIG_IGN);
        while (left > 0) {
            ssize_t w = write(in_pipe[1], p, left);
            if (w <= 0)
                break;
            p += w;
            left -= (size_t)w;
        }
    }
    close(in_pipe[1]);
    size_t got = 0;
    char sink[4096];
    for (;;) {
        char *dst = sink;
        size_t cap = sizeof(sink);
        if (out != NULL && got + 1 < out_len) {
            dst = out + got;
            cap = out_len - 1 - got;
        }
        ssize_t r = read(out_pipe[0], dst, cap);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (dst != sink)
            got += (size_t)r;
    }
    if (out != NULL && out_len > 0)
        out[got] = '\0';
    close(out_pipe[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int
mm_test_tmpdir(char *path, size_t len)
{
    const char *base = getenv("TMPDIR");
    snprintf(path, len, "%s/mmtest.XXXXXX", base != NULL && *base != '\0' ? base : "/tmp");
    return mkdtemp(path) != NULL ? 0 : -1;
}

static int
nats_spawn(struct mm_test_nats *nats)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", nats->port);
    char *argv[] = {(char *)MM_NATS_SERVER, "-a", "127.0.0.1", "-p", port, "-js", "-sd", nats->store_dir, NULL};
    char log_path[300];
    snprintf(log_path, sizeof(log_path), "%s.log", nats->store_dir);
    nats->pid = mm_test_spawn(argv, log_path);
    if (nats->pid < 0 || mm_test_wait_port(nats->port, 10000) != 0) {
        fprintf(stderr, "nats-server did not start on port %d (log: %s)\n", nats->port, log_path);
        return -1;
    }
    return 0;
}

int
mm_test_nats_start(struct mm_test_nats *nats)
{
    memset(nats, 0, sizeof(*nats));
    if (mm_test_tmpdir(nats->store_dir, sizeof(nats->store_dir)) != 0)
        return -1;
    /* The port was free a moment ago; on a rare collision, try another. */
    for (int attempt = 0; attempt < 3; attempt++) {
        nats->port = mm_test_free_port();
        snprintf(nats->url, sizeof(nats->url), "nats://127.0.0.1:%d", nats->port);
        if (nats_spawn(nats) == 0)
            return 0;
        mm_test_stop(nats->pid, 100);
    }
    return -1;
}

int
mm_test_nats_restart(struct mm_test_nats *nats)
{
    mm_test_stop(nats->pid, 5000);
    return nats_spawn(nats);
}

void
mm_test_nats_stop(struct mm_test_nats *nats)
{
    if (nats->pid > 0)
        mm_test_stop(nats->pid, 5000);
    nats->pid = 0;
    if (nats->store_dir[0] != '\0') {
        char log_path[300];
        snprintf(log_path, sizeof(log_path), "%s.log", nats->store_dir);
        char *argv[] = {"/bin/rm", "-rf", nats->store_dir, log_path, NULL};
        mm_test_run(argv, NULL, NULL, 0);
    }
}

const char *
mm_test_build_dir(void)
{
    return MM_BUILD_DIR;
}

const char *
mm_test_source_dir(void)
{
    return MM_SOURCE_DIR;
}

int
mm_test_sim_spawn(mm_test_sim *sim, const char *api_key, const char *const *extra, const char *log_path)
{
    char exe[512], listen[64];
    const char *argv[64];
    int n = 0;
    snprintf(exe, sizeof(exe), "%s/edgegap_sim", mm_test_build_dir());
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", sim->port);
    argv[n++] = exe;
    argv[n++] = "--listen";
    argv[n++] = listen;
    argv[n++] = "--api-key";
    argv[n++] = api_key;
    argv[n++] = "--log-level";
    argv[n++] = "warn";
    for (int i = 0; extra != NULL && extra[i] != NULL; i++) {
        if (n >= 63) {
            fprintf(stderr, "mm_test_sim_spawn: too many arguments\n");
            return -1;
        }
        argv[n++] = extra[i];
    }
    argv[n] = NULL;
    snprintf(sim->base, sizeof(sim->base), "http://127.0.0.1:%d", sim->port);
    sim->pid = mm_test_spawn((char *const *)argv, log_path);
    if (sim->pid > 0 && mm_test_wait_port(sim->port, 10000) == 0)
        return 0;
    if (sim->pid > 0)
        mm_test_stop(sim->pid, 1000);
    sim->pid = 0;
    return -1;
}

int
mm_test_sim_start(mm_test_sim *sim, const char *api_key, const char *const *extra, const char *log_path)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        sim->port = mm_test_free_port();
        if (mm_test_sim_spawn(sim, api_key, extra, log_path) == 0)
            return 0;
    }
    return -1;
}

bool
mm_test_file_contains(const char *path, const char *needle)
{
    static char buf[1 << 16];
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

void
mm_test_dump_file(const char *path)
{
    static char buf[1 << 16];
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    fprintf(stderr, "---- %s ----\n%s\n---- end of %s ----\n", path, buf, path);
}

char *
mm_test_read_http_request(int fd, char *path, size_t path_len)
{
    char buf[16384];
    size_t got = 0;
    char *end = NULL;
    while (end == NULL && got < sizeof(buf) - 1) {
        ssize_t r = read(fd, buf + got, sizeof(buf) - 1 - got);
        if (r <= 0)
            return NULL;
        got += (size_t)r;
        buf[got] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    if (end == NULL || path_len == 0)
        return NULL;
    const char *sp = strchr(buf, ' ');
    const char *sp2 = sp != NULL ? strchr(sp + 1, ' ') : NULL;
    if (sp == NULL || sp2 == NULL || sp2 > end || (size_t)(sp2 - sp - 1) >= path_len)
        return NULL;
    memcpy(path, sp + 1, (size_t)(sp2 - sp - 1));
    path[sp2 - sp - 1] = '\0';
    size_t len = 0;
    const char *cl = strcasestr(buf, "content-length:");
    if (cl != NULL && cl < end)
        len = (size_t)strtoul(cl + 15, NULL, 10);
    if (len > 8192)
        return NULL;
    size_t have = got - (size_t)(end + 4 - buf);
    char *body = calloc(1, len + 1);
    if (body == NULL)
        return NULL;
    memcpy(body, end + 4, have < len ? have : len);
    while (have < len) {
        ssize_t r = read(fd, body + have, len - have);
        if (r <= 0) {
            free(body);
            return NULL;
        }
        have += (size_t)r;
    }
    return body;
}

int
mm_test_connect_errno(uint16_t port, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return errno;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int err = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        err = errno;
        if (err == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            socklen_t el = sizeof(err);
            if (poll(&p, 1, timeout_ms) != 1)
                err = ETIMEDOUT;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
                err = errno;
        }
    }
    close(fd);
    return err;
}

bool
mm_test_prov_stats_read(const char *log_path, mm_test_prov_stats *st)
{
    memset(st, 0, sizeof(*st));
    FILE *fp = fopen(log_path, "r");
    if (fp == NULL)
        return false;
    char line[1024];
    bool found = false;
    while (fgets(line, sizeof(line), fp) != NULL) {
        const char *at = strstr(line, "provisioner: ");
        if (at != NULL &&
            sscanf(at,
                   "provisioner: %llu sessions polled with %llu GETs; webhooks: %llu received (%llu over NATS, %llu bad), "
                   "%llu refused, %llu ignored (%llu early), %llu rate-limited, %llu GETs",
                   &st->sessions, &st->gets, &st->received, &st->over_nats, &st->bad, &st->refused, &st->ignored, &st->early,
                   &st->limited, &st->hook_gets) == 10)
            found = true;
    }
    fclose(fp);
    return found;
}
