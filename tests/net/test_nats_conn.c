/*
 * mm_nats_connect() against real nats-servers: plain connect, a service started before its server
 * (RetryOnFailedConnect), reconnect after a server restart with the subscription restored,
 * user/password (right and wrong, and the password never reaching a log line), and TLS with the
 * CA given as NATS_CA_CONTENTS (when openssl is installed to make the certificates).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mm/log.h"
#include "mm/nats_env.h"
#include "mm_test.h"

#define OPENSSL "/usr/bin/openssl"

static void
env_reset(const char *host, int insecure)
{
    const char *names[] = {"NATS_USER", "NATS_PASSWORD", "NATS_PASS", "NATS_INSECURE", "NATS_CA", "NATS_CA_CONTENTS"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        unsetenv(names[i]);
    setenv("NATS_HOST", host, 1);
    if (insecure)
        setenv("NATS_INSECURE", "1", 1);
}

static mm_nats *
connect_now(const char *name)
{
    mm_nats_env *env = NULL;
    mm_nats *nats = NULL;
    char why[512] = "";
    mm_err err = mm_nats_env_read(&env, NULL, why, sizeof(why));
    if (err != MM_OK)
        fprintf(stderr, "env: %s\n", why);
    MM_REQUIRE(err == MM_OK);
    err = mm_nats_connect(env, &(mm_nats_connect_opts){.name = name}, &nats, why, sizeof(why));
    if (err != MM_OK)
        fprintf(stderr, "connect: %s\n", why);
    mm_nats_env_destroy(env);
    MM_REQUIRE(err == MM_OK);
    return nats;
}

/* A connect that must fail at once (a server answered and refused); returns the error. */
static mm_err
connect_refused(char *why, size_t why_len)
{
    mm_nats_env *env = NULL;
    mm_nats *nats = NULL;
    MM_REQUIRE(mm_nats_env_read(&env, NULL, why, why_len) == MM_OK);
    mm_err err = mm_nats_connect(env, NULL, &nats, why, why_len);
    mm_nats_env_destroy(env);
    MM_CHECK(nats == NULL);
    mm_nats_destroy(nats);
    return err;
}

static pid_t
spawn_server(int port, char *const extra[])
{
    char port_text[16];
    snprintf(port_text, sizeof(port_text), "%d", port);
    char *argv[16] = {NATS_SERVER_EXE, "-a", "127.0.0.1", "-p", port_text};
    int n = 5;
    for (int i = 0; extra != NULL && extra[i] != NULL && n < 15; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    pid_t pid = mm_test_spawn(argv, "/dev/null");
    MM_REQUIRE(pid > 0 && mm_test_wait_port(port, 10000) == 0);
    return pid;
}

static int
round_trip(mm_nats *nats)
{
    natsConnection *nc = mm_nats_connection(nats);
    return natsConnection_PublishString(nc, "mm.test", "x") == NATS_OK && natsConnection_FlushTimeout(nc, 5000) == NATS_OK;
}

/* Redirects stderr (where mm_log writes) into a file until capture_end. */
struct capture {
    int saved;
    char path[300];
};

static void
capture_begin(struct capture *c)
{
    char dir[256];
    MM_REQUIRE(mm_test_tmpdir(dir, sizeof(dir)) == 0);
    snprintf(c->path, sizeof(c->path), "%s/stderr", dir);
    int fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    MM_REQUIRE(fd >= 0);
    fflush(stderr);
    c->saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
}

static void
capture_end(struct capture *c, char *out, size_t len)
{
    fflush(stderr);
    dup2(c->saved, STDERR_FILENO);
    close(c->saved);
    FILE *f = fopen(c->path, "r");
    size_t n = f != NULL ? fread(out, 1, len - 1, f) : 0;
    out[n] = '\0';
    if (f != NULL)
        fclose(f);
    unlink(c->path);
    *strrchr(c->path, '/') = '\0';
    rmdir(c->path);
}

static void
test_plain_and_reconnect(void)
{
    struct mm_test_nats server;
    MM_REQUIRE(mm_test_nats_start(&server) == 0);
    char host[64];
    snprintf(host, sizeof(host), "127.0.0.1:%d", server.port);
    env_reset(host, 1);
    mm_nats *nats = connect_now("test_plain");
    MM_CHECK_INT(mm_nats_wait_connected(nats, 10000), ==, MM_OK);
    MM_CHECK(mm_nats_is_connected(nats));
    MM_CHECK(round_trip(nats));

    natsSubscription *sub = NULL;
    MM_REQUIRE(natsConnection_SubscribeSync(&sub, mm_nats_connection(nats), "mm.reconnect") == NATS_OK);
    MM_REQUIRE(natsConnection_FlushTimeout(mm_nats_connection(nats), 5000) == NATS_OK);
    MM_REQUIRE(mm_test_nats_restart(&server) == 0);
    /* Publishes made while reconnecting are buffered; the subscription must come back. */
    int received = 0;
    for (int i = 0; i < 150 && !received; i++) {
        natsConnection_PublishString(mm_nats_connection(nats), "mm.reconnect", "after restart");
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, sub, 100) == NATS_OK) {
            received = 1;
            natsMsg_Destroy(m);
        }
    }
    MM_CHECK(received);
    MM_CHECK_INT(mm_nats_wait_connected(nats, 10000), ==, MM_OK);
    natsSubscription_Destroy(sub);
    mm_nats_destroy(nats);
    mm_test_nats_stop(&server);
}

static void
test_start_before_server(void)
{
    int port = mm_test_free_port();
    char host[64];
    snprintf(host, sizeof(host), "127.0.0.1:%d", port);
    env_reset(host, 1);
    mm_nats *nats = connect_now("test_early");
    MM_CHECK(!mm_nats_is_connected(nats));
    MM_CHECK_INT(mm_nats_wait_connected(nats, 300), ==, MM_ERR_TIMEOUT);
    pid_t pid = spawn_server(port, NULL);
    MM_CHECK_INT(mm_nats_wait_connected(nats, 20000), ==, MM_OK);
    MM_CHECK(round_trip(nats));
    mm_nats_destroy(nats);
    mm_test_stop(pid, 5000);
}

static void
test_user_password(void)
{
    int port = mm_test_free_port();
    char *extra[] = {"--user", "alice", "--pass", "Right-Pw-4711", NULL};
    pid_t pid = spawn_server(port, extra);
    char host[64], log[16384];
    snprintf(host, sizeof(host), "127.0.0.1:%d", port);

    env_reset(host, 1);
    setenv("NATS_USER", "alice", 1);
    setenv("NATS_PASS", "Right-Pw-4711", 1);
    struct capture cap;
    capture_begin(&cap);
    mm_nats *nats = connect_now("test_auth");
    mm_err err = mm_nats_wait_connected(nats, 10000);
    mm_nats_destroy(nats);
    capture_end(&cap, log, sizeof(log));
    MM_CHECK_INT(err, ==, MM_OK);
    MM_CHECK(strstr(log, "Right-Pw-4711") == NULL);
    MM_CHECK(strstr(log, "with a user and password") != NULL);

    setenv("NATS_PASS", "Wrong-Pw-0815", 1);
    capture_begin(&cap);
    char why[512] = "";
    err = connect_refused(why, sizeof(why));
    capture_end(&cap, log, sizeof(log));
    MM_CHECK_INT(err, ==, MM_ERR_IO);
    MM_CHECK(strcasestr(why, "authorization") != NULL);
    MM_CHECK(strstr(why, "Wrong-Pw-0815") == NULL);
    MM_CHECK(strstr(log, "Wrong-Pw-0815") == NULL);
    mm_test_stop(pid, 5000);
}

static int
openssl(char *const args[])
{
    char *argv[24] = {OPENSSL};
    int n = 1;
    for (int i = 0; args[i] != NULL && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return mm_test_run(argv, NULL, NULL, 0);
}

/* A CA and a server certificate for localhost/127.0.0.1 in dir; 0 on success. */
static int
make_certs(const char *dir)
{
    char ca_key[300], ca[300], key[300], csr[300], cert[300], ext[300];
    snprintf(ca_key, sizeof(ca_key), "%s/ca.key", dir);
    snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
    snprintf(key, sizeof(key), "%s/server.key", dir);
    snprintf(csr, sizeof(csr), "%s/server.csr", dir);
    snprintf(cert, sizeof(cert), "%s/server.pem", dir);
    snprintf(ext, sizeof(ext), "%s/ext.cnf", dir);
    FILE *f = fopen(ext, "w");
    if (f == NULL)
        return -1;
    fputs("subjectAltName=DNS:localhost,IP:127.0.0.1\n", f);
    fclose(f);
    char *ca_args[] = {"req",    "-x509",   "-newkey",        "ec",   "-pkeyopt", "ec_paramgen_curve:prime256v1",
                       "-nodes", "-keyout", ca_key,           "-out", ca,         "-days",
                       "2",      "-subj",   "/CN=mm test CA", NULL};
    char *csr_args[] = {"req",    "-newkey",       "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout",       key,  "-out",     csr,
                        "-subj",  "/CN=localhost", NULL};
    char *sign_args[] = {"x509", "-req", "-in",   csr, "-CA",      ca,  "-CAkey", ca_key, "-CAcreateserial",
                         "-out", cert,   "-days", "2", "-extfile", ext, NULL};
    return openssl(ca_args) == 0 && openssl(csr_args) == 0 && openssl(sign_args) == 0 ? 0 : -1;
}

static char *
read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char *buf = calloc(1, 65536);
    if (buf != NULL)
        buf[fread(buf, 1, 65535, f)] = '\0';
    fclose(f);
    return buf;
}

static void
test_tls(void)
{
    if (access(OPENSSL, X_OK) != 0) {
        printf("TLS part skipped: %s not installed\n", OPENSSL);
        return;
    }
    char dir[256], cert[300], key[300], ca[300];
    MM_REQUIRE(mm_test_tmpdir(dir, sizeof(dir)) == 0);
    MM_REQUIRE(make_certs(dir) == 0);
    snprintf(cert, sizeof(cert), "%s/server.pem", dir);
    snprintf(key, sizeof(key), "%s/server.key", dir);
    snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
    int port = mm_test_free_port();
    char *extra[] = {"--tls", "--tlscert", cert, "--tlskey", key, NULL};
    pid_t pid = spawn_server(port, extra);
    char host[64];
    snprintf(host, sizeof(host), "localhost:%d", port);

    /* TLS with the CA as PEM text: connects. */
    char *pem = read_file(ca);
    MM_REQUIRE(pem != NULL);
    env_reset(host, 0);
    setenv("NATS_CA_CONTENTS", pem, 1);
    mm_nats *nats = connect_now("test_tls");
    MM_CHECK_INT(mm_nats_wait_connected(nats, 10000), ==, MM_OK);
    MM_CHECK(round_trip(nats));
    mm_nats_destroy(nats);

    /* The CA as a path works the same. */
    env_reset(host, 0);
    setenv("NATS_CA", ca, 1);
    nats = connect_now("test_tls_path");
    MM_CHECK_INT(mm_nats_wait_connected(nats, 10000), ==, MM_OK);
    mm_nats_destroy(nats);

    /* Without our CA the self-signed chain is not trusted: refused with the TLS reason. */
    env_reset(host, 0);
    char why[512] = "";
    MM_CHECK_INT(connect_refused(why, sizeof(why)), ==, MM_ERR_IO);
    MM_CHECK(strcasestr(why, "ssl") != NULL || strcasestr(why, "tls") != NULL || strcasestr(why, "cert") != NULL);
    fprintf(stderr, "untrusted: %s\n", why);

    /* A CA path that does not exist is refused at connect, with the reason. */
    env_reset(host, 0);
    setenv("NATS_CA", "/nonexistent/ca.pem", 1);
    mm_nats_env *env = NULL;
    MM_REQUIRE(mm_nats_env_read(&env, NULL, why, sizeof(why)) == MM_OK);
    nats = NULL;
    MM_CHECK_INT(mm_nats_connect(env, NULL, &nats, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK(nats == NULL);
    MM_CHECK(strstr(why, "/nonexistent/ca.pem") != NULL);
    mm_nats_env_destroy(env);
    free(pem);
    mm_test_stop(pid, 5000);

    /* TLS required (no NATS_INSECURE) but the server is plain: no connection. */
    port = mm_test_free_port();
    pid = spawn_server(port, NULL);
    snprintf(host, sizeof(host), "127.0.0.1:%d", port);
    env_reset(host, 0);
    MM_CHECK_INT(connect_refused(why, sizeof(why)), ==, MM_ERR_IO);
    fprintf(stderr, "tls required: %s\n", why);
    mm_test_stop(pid, 5000);

    char *rm[] = {"/bin/rm", "-rf", dir, NULL};
    mm_test_run(rm, NULL, NULL, 0);
}

int
main(void)
{
    mm_log_setup("test_nats_conn", MM_LOG_INFO, MM_LOG_TEXT);
    test_plain_and_reconnect();
    test_start_before_server();
    test_user_password();
    test_tls();
    nats_CloseAndWait(5000);
    return MM_TEST_DONE();
}
