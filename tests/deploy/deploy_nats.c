/*
 * See deploy_nats.h. The configuration files are copied from the source tree into a temp dir
 * per node; nats-server.conf gets loopback addresses, free ports and its own store directory,
 * nats-server-cluster.conf its cluster address and the three nodes' routes. Everything else
 * (users, permissions, JetStream limits, the include structure) is used exactly as shipped.
 */
#include "deploy_nats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/clock.h"
#include "mm_harness.h"
#include "mm_test.h"

#define CONF_MAX 65536

/* Reads path into a malloc'd NUL-terminated buffer (stops the test on failure). */
static char *
read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fprintf(stderr, "cannot read %s\n", path);
    MM_REQUIRE(f != NULL);
    char *buf = malloc(CONF_MAX);
    MM_REQUIRE(buf != NULL);
    size_t n = fread(buf, 1, CONF_MAX - 1, f);
    fclose(f);
    MM_REQUIRE(n < CONF_MAX - 1);
    buf[n] = '\0';
    return buf;
}

static void
write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    MM_REQUIRE(f != NULL);
    MM_REQUIRE(fputs(text, f) >= 0);
    MM_REQUIRE(fclose(f) == 0);
}

/* Replaces every occurrence of from in *text (a malloc'd buffer); at least one must exist. */
static void
subst(char **text, const char *from, const char *to)
{
    size_t from_len = strlen(from), to_len = strlen(to);
    char *out = malloc(CONF_MAX);
    MM_REQUIRE(out != NULL);
    size_t used = 0;
    int hits = 0;
    const char *p = *text;
    for (const char *hit; (hit = strstr(p, from)) != NULL; p = hit + from_len, hits++) {
        size_t head = (size_t)(hit - p);
        MM_REQUIRE(used + head + to_len < CONF_MAX);
        memcpy(out + used, p, head);
        memcpy(out + used + head, to, to_len);
        used += head + to_len;
    }
    size_t rest = strlen(p);
    MM_REQUIRE(used + rest < CONF_MAX);
    memcpy(out + used, p, rest + 1);
    if (hits == 0)
        fprintf(stderr, "deploy/nats: the shipped configuration no longer contains \"%s\"\n", from);
    MM_REQUIRE(hits > 0);
    free(*text);
    *text = out;
}

/* Copies deploy/nats/<name> to dir, applying up to n substitutions (pairs from, to). */
static void
copy_conf(const char *dir, const char *name, const char *const *pairs, int n)
{
    char src[512], dst[512];
    snprintf(src, sizeof(src), "%s/deploy/nats/%s", mm_test_source_dir(), name);
    snprintf(dst, sizeof(dst), "%s/%s", dir, name);
    char *text = read_text(src);
    for (int i = 0; i < n; i++)
        subst(&text, pairs[2 * i], pairs[2 * i + 1]);
    write_text(dst, text);
    free(text);
}

static void
node_prepare(dn_cluster *c, int i, char *conf_dir, size_t len)
{
    snprintf(conf_dir, len, "%s/node-%d", c->dir, i + 1);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", conf_dir);
    MM_REQUIRE(system(cmd) == 0);

    char port[64], http[64], store[400], cluster[64];
    snprintf(port, sizeof(port), "\nhost: 127.0.0.1\nport: %d\n", c->port[i]);
    snprintf(http, sizeof(http), "\nhttp: \"127.0.0.1:%d\"\n", c->http_port[i]);
    snprintf(store, sizeof(store), "store_dir: \"%s/store\"", conf_dir);
    const char *main_pairs[] = {"\nport: 4222\n", port, "\nhttp_port: 8222\n", http, "store_dir: \"/data/jetstream\"", store};
    copy_conf(conf_dir, "nats-server.conf", main_pairs, 3);
    copy_conf(conf_dir, "permissions.conf", NULL, 0);
    copy_conf(conf_dir, "users.conf", NULL, 0);
    copy_conf(conf_dir, "nats-server.demo.conf", NULL, 0);

    snprintf(cluster, sizeof(cluster), "listen: \"127.0.0.1:%d\"", c->cluster_port[i]);
    char routes[DN_MAX_NODES][64];
    for (int k = 0; k < DN_MAX_NODES; k++)
        snprintf(routes[k], sizeof(routes[k]), "127.0.0.1:%d", c->cluster_port[k]);
    const char *cluster_pairs[] = {"port: 6222",  cluster,   "nats-1:6222", routes[0],
                                   "nats-2:6222", routes[1], "nats-3:6222", routes[2]};
    copy_conf(conf_dir, "nats-server-cluster.conf", cluster_pairs, 4);
}

void
dn_start(dn_cluster *c, const char *config)
{
    memset(c, 0, sizeof(*c));
    c->nodes = strcmp(config, "nats-server-cluster.conf") == 0 ? DN_MAX_NODES : 1;
    MM_REQUIRE(mm_test_tmpdir(c->dir, sizeof(c->dir)) == 0);
    for (int i = 0; i < DN_MAX_NODES; i++) {
        c->port[i] = mm_test_free_port();
        c->http_port[i] = mm_test_free_port();
        c->cluster_port[i] = mm_test_free_port();
    }
    setenv("MATCHMAKER_NATS_PASSWORD", DN_PW_MATCHMAKER, 1);
    setenv("MATCHMAKER_HTTPD_NATS_PASSWORD", DN_PW_HTTPD, 1);
    setenv("GAMESERVER_NATS_PASSWORD", DN_PW_GAMESERVER, 1);
    for (int i = 0; i < c->nodes; i++) {
        char conf_dir[300], conf[400], name[16];
        node_prepare(c, i, conf_dir, sizeof(conf_dir));
        snprintf(conf, sizeof(conf), "%s/%s", conf_dir, config);
        snprintf(c->log[i], sizeof(c->log[i]), "%s/nats-server.log", conf_dir);
        snprintf(name, sizeof(name), "nats-%d", i + 1);
        setenv("NATS_SERVER_NAME", name, 1); /* read by the cluster config; the child inherits it */
        char *argv[] = {DEPLOY_NATS_SERVER, "-c", conf, NULL};
        c->pid[i] = mm_test_spawn(argv, c->log[i]);
        MM_REQUIRE(c->pid[i] > 0);
    }
    for (int i = 0; i < c->nodes; i++) {
        if (mm_test_wait_port(c->port[i], 10000) != 0) {
            h_dump_log(c->log[i], 20);
            MM_REQUIRE(!"nats-server did not start with the shipped configuration");
        }
    }
    /* /healthz is 200 once JetStream is up and, in a cluster, current with the meta leader */
    for (int i = 0; i < c->nodes; i++) {
        char url[80], body[512];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", c->http_port[i]);
        uint64_t until = mm_now_ms() + 30000;
        long status = -1;
        while ((status = h_http_get(url, body, sizeof(body))) != 200 && mm_now_ms() < until)
            mm_test_sleep_ms(100);
        if (status != 200) {
            fprintf(stderr, "nats-%d /healthz: %ld %s\n", i + 1, status, body);
            h_dump_log(c->log[i], 20);
        }
        MM_REQUIRE(status == 200);
    }
}

void
dn_stop(dn_cluster *c)
{
    for (int i = 0; i < c->nodes; i++) {
        if (c->pid[i] > 0)
            mm_test_stop(c->pid[i], 5000);
        c->pid[i] = 0;
    }
    if (c->dir[0] != '\0') {
        char *argv[] = {"/bin/rm", "-rf", c->dir, NULL};
        mm_test_run(argv, NULL, NULL, 0);
        c->dir[0] = '\0';
    }
}

void
dn_host(const dn_cluster *c, int i, char *buf, size_t len)
{
    snprintf(buf, len, "127.0.0.1:%d", c->port[i]);
}

/* Counts (and optionally prints) the lines of every node log that contain needle. */
static int
log_scan(const dn_cluster *c, const char *needle, bool print)
{
    int n = 0;
    for (int i = 0; i < c->nodes; i++) {
        FILE *f = fopen(c->log[i], "r");
        if (f == NULL)
            continue;
        char line[4096];
        while (fgets(line, sizeof(line), f) != NULL) {
            if (strstr(line, needle) != NULL) {
                n++;
                if (print)
                    fprintf(stderr, "nats-%d: %s", i + 1, line);
            }
        }
        fclose(f);
    }
    return n;
}

int
dn_log_count(const dn_cluster *c, const char *needle)
{
    return log_scan(c, needle, false);
}

void
dn_log_print(const dn_cluster *c, const char *needle)
{
    log_scan(c, needle, true);
}

bool
dn_log_wait(const dn_cluster *c, const char *needle, int timeout_ms)
{
    uint64_t until = mm_now_ms() + (uint64_t)timeout_ms;
    while (log_scan(c, needle, false) == 0) {
        if (mm_now_ms() >= until)
            return false;
        mm_test_sleep_ms(20);
    }
    return true;
}

static void
on_async_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    (void)sub;
    dn_client *cl = closure;
    const char *text = NULL;
    natsConnection_GetLastError(nc, &text);
    pthread_mutex_lock(&cl->mu);
    if (err == NATS_NOT_PERMITTED)
        cl->not_permitted++;
    snprintf(cl->last, sizeof(cl->last), "%s", text != NULL ? text : natsStatus_GetText(err));
    pthread_mutex_unlock(&cl->mu);
}

natsStatus
dn_connect(dn_client *cl, const dn_cluster *c, int i, const char *user, const char *password)
{
    memset(cl, 0, sizeof(*cl));
    pthread_mutex_init(&cl->mu, NULL);
    char url[64];
    snprintf(url, sizeof(url), "nats://127.0.0.1:%d", c->port[i]);
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = natsOptions_SetURL(o, url);
    if (s == NATS_OK && user != NULL)
        s = natsOptions_SetUserInfo(o, user, password);
    if (s == NATS_OK)
        s = natsOptions_SetErrorHandler(o, on_async_error, cl);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, 0);
    if (s == NATS_OK)
        s = natsOptions_SetName(o, "test_deploy");
    if (s == NATS_OK)
        s = natsConnection_Connect(&cl->nc, o);
    natsOptions_Destroy(o);
    return s;
}

void
dn_close(dn_client *cl)
{
    if (cl->nc != NULL) {
        natsConnection_Close(cl->nc);
        natsConnection_Destroy(cl->nc);
        cl->nc = NULL;
    }
    /* the mutex is not destroyed: nats.c may still be running the error handler's last call */
}

int
dn_refusals(dn_client *cl)
{
    pthread_mutex_lock(&cl->mu);
    int n = cl->not_permitted;
    pthread_mutex_unlock(&cl->mu);
    return n;
}

bool
dn_wait_refusals(dn_client *cl, int than, int timeout_ms)
{
    uint64_t until = mm_now_ms() + (uint64_t)timeout_ms;
    while (dn_refusals(cl) <= than) {
        if (mm_now_ms() >= until)
            return false;
        mm_test_sleep_ms(10);
    }
    return true;
}
