/*
 * Edgegap client against a tiny HTTP responder thread of the test's own that answers canned
 * bodies: what the client sends (request line, single slashes, headers, the JSON body), and
 * every way an answer can be wrong (not JSON, wrong types, missing fields, unusable ids,
 * oversized or cut-off bodies, odd error bodies) -> the right outcome and a clear message.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mm_test.h"
#include "edgegap_test_util.h"

#define BIG (2u << 20) /* twice the client's default cap */

typedef struct canned {
    char key[160]; /* "GET /v1/app/x" */
    int status;
    const char *body;
    size_t big;     /* > 0: a body of this many 'x' instead */
    bool no_length; /* no Content-Length: the body ends when the connection closes */
    bool cut;       /* announce 90 bytes more than sent, then close */
} canned;

typedef struct responder {
    int listen_fd, port, stop_pipe[2];
    pthread_t thread;
    pthread_mutex_t lock;
    canned table[64];
    int n;
    char last[16384]; /* the last request, headers and body */
    int requests;
} responder;

static responder srv;

static void
send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        data += n;
        len -= (size_t)n;
    }
}

static void
serve_one(int fd)
{
    static char req[16384];
    size_t len = 0, content_length = 0;
    char *end;
    while ((end = memmem(req, len, "\r\n\r\n", 4)) == NULL) {
        ssize_t n = len < sizeof(req) - 1 ? recv(fd, req + len, sizeof(req) - 1 - len, 0) : 0;
        if (n <= 0)
            return;
        len += (size_t)n;
    }
    size_t head = (size_t)(end + 4 - req);
    req[len] = '\0';
    char *cl = strcasestr(req, "\r\ncontent-length:");
    if (cl != NULL && cl < end)
        content_length = strtoul(cl + 17, NULL, 10);
    while (len < head + content_length && len < sizeof(req) - 1) {
        ssize_t n = recv(fd, req + len, sizeof(req) - 1 - len, 0);
        if (n <= 0)
            return;
        len += (size_t)n;
    }
    req[len] = '\0';

    char method[16] = "", path[160] = "", key[180];
    sscanf(req, "%15s %159s", method, path);
    snprintf(key, sizeof(key), "%s %s", method, path);
    canned c = {.status = 404, .body = "{\"message\": \"no canned answer\"}"};
    pthread_mutex_lock(&srv.lock);
    snprintf(srv.last, sizeof(srv.last), "%s", req);
    srv.requests++;
    for (int i = 0; i < srv.n; i++)
        if (strcmp(srv.table[i].key, key) == 0)
            c = srv.table[i];
    pthread_mutex_unlock(&srv.lock);

    size_t body_len = c.big > 0 ? c.big : strlen(c.body);
    char header[256];
    int n =
        snprintf(header, sizeof(header), "HTTP/1.1 %d Canned\r\nContent-Type: application/json\r\nConnection: close\r\n", c.status);
    if (!c.no_length)
        n += snprintf(header + n, sizeof(header) - (size_t)n, "Content-Length: %zu\r\n", body_len + (c.cut ? 90 : 0));
    n += snprintf(header + n, sizeof(header) - (size_t)n, "\r\n");
    send_all(fd, header, (size_t)n);
    if (c.big == 0) {
        send_all(fd, c.body, body_len);
        return;
    }
    static char chunk[65536];
    memset(chunk, 'x', sizeof(chunk));
    for (size_t sent = 0; sent < c.big; sent += sizeof(chunk)) {
        ssize_t w = send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL);
        if (w <= 0)
            return; /* the client gave up, as it should */
    }
}

static void *
responder_main(void *arg)
{
    (void)arg;
    for (;;) {
        struct pollfd p[2] = {{srv.listen_fd, POLLIN, 0}, {srv.stop_pipe[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return NULL;
        }
        if (p[1].revents != 0)
            return NULL;
        int fd = accept(srv.listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        struct timeval tv = {2, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        serve_one(fd);
        close(fd);
    }
}

static void
responder_start(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(addr);
    pthread_mutex_init(&srv.lock, NULL);
    srv.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    MM_REQUIRE(srv.listen_fd >= 0);
    MM_REQUIRE(bind(srv.listen_fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
    MM_REQUIRE(listen(srv.listen_fd, 64) == 0);
    MM_REQUIRE(getsockname(srv.listen_fd, (struct sockaddr *)&addr, &alen) == 0);
    srv.port = ntohs(addr.sin_port);
    MM_REQUIRE(pipe(srv.stop_pipe) == 0);
    MM_REQUIRE(pthread_create(&srv.thread, NULL, responder_main, NULL) == 0);
}

static void
responder_stop(void)
{
    MM_CHECK(write(srv.stop_pipe[1], "x", 1) == 1);
    pthread_join(srv.thread, NULL);
    close(srv.listen_fd);
    close(srv.stop_pipe[0]);
    close(srv.stop_pipe[1]);
    pthread_mutex_destroy(&srv.lock);
}

static void
can(const char *key, int status, const char *body, size_t big, bool no_length, bool cut)
{
    pthread_mutex_lock(&srv.lock);
    MM_REQUIRE(srv.n < 64);
    canned *c = &srv.table[srv.n++];
    snprintf(c->key, sizeof(c->key), "%s", key);
    c->status = status;
    c->body = body;
    c->big = big;
    c->no_length = no_length;
    c->cut = cut;
    pthread_mutex_unlock(&srv.lock);
}

static void
last_request(char *out, size_t len)
{
    pthread_mutex_lock(&srv.lock);
    snprintf(out, len, "%s", srv.last);
    pthread_mutex_unlock(&srv.lock);
}

static void
test_request_shape(void)
{
    char base[96], req[16384];
    snprintf(base, sizeof(base), "http://127.0.0.1:%d/prefix/", srv.port);
    mm_edgegap_config cfg = {.base_url = base, .api_key = "token canned-key", .user_agent = "test-agent/1"};
    mm_edgegap *eg = NULL;
    MM_REQUIRE(mm_edgegap_create(&cfg, &eg, NULL, 0) == MM_OK);
    can("GET /prefix/v1/app/shape", 200, "{\"name\": \"shape\", \"is_active\": true}", 0, false, false);
    can("POST /prefix/v1/session", 200, "{\"session_id\": \"abc-S\"}", 0, false, false);

    eg_rec app = {0};
    MM_CHECK_INT(mm_edgegap_app_get(eg, "shape", eg_record, &app), ==, MM_OK);
    MM_REQUIRE(eg_drive(eg, &app.calls, 1, 10000));
    MM_CHECK_INT(app.outcome, ==, MM_EDGEGAP_OK);
    last_request(req, sizeof(req));
    MM_CHECK(strncmp(req, "GET /prefix/v1/app/shape HTTP/1.1\r\n", 35) == 0);
    MM_CHECK(eg_contains(req, "\r\nauthorization: token canned-key\r\n"));
    MM_CHECK(eg_contains(req, "\r\nuser-agent: test-agent/1\r\n"));
    MM_CHECK(eg_contains(req, "\r\naccept: application/json\r\n"));

    const char *ips[] = {"81.128.157.100", "2001:db8::1"};
    eg_rec created = {0};
    MM_CHECK_INT(mm_edgegap_session_create(eg, "app_1", "v.2", ips, 2, "https://hooks.example/a?b=\"c\"", eg_record, &created), ==,
                 MM_OK);
    MM_REQUIRE(eg_drive(eg, &created.calls, 1, 10000));
    MM_CHECK_INT(created.outcome, ==, MM_EDGEGAP_OK);
    MM_CHECK_STR(created.session_id, "abc-S");
    last_request(req, sizeof(req));
    MM_CHECK(strncmp(req, "POST /prefix/v1/session HTTP/1.1\r\n", 34) == 0);
    MM_CHECK(eg_contains(req, "\r\ncontent-type: application/json\r\n"));
    MM_CHECK(!eg_contains(req, "expect:"));
    const char *body = strstr(req, "\r\n\r\n");
    json_t *got = body != NULL ? json_loads(body + 4, 0, NULL) : NULL;
    json_t *want = json_pack("{s:s, s:s, s:[s, s], s:s}", "app_name", "app_1", "version_name", "v.2", "ip_list", "81.128.157.100",
                             "2001:db8::1", "webhook_url", "https://hooks.example/a?b=\"c\"");
    MM_CHECK(got != NULL && json_equal(got, want));
    json_decref(got);
    json_decref(want);

    /* session get and delete: method, path; the answers here are the responder's 404 */
    eg_rec get = {0}, del = {0};
    MM_CHECK_INT(mm_edgegap_session_get(eg, "abc-S", MM_EDGEGAP_URGENT, eg_record, &get), ==, MM_OK);
    MM_REQUIRE(eg_drive(eg, &get.calls, 1, 10000));
    last_request(req, sizeof(req));
    MM_CHECK(strncmp(req, "GET /prefix/v1/session/abc-S HTTP/1.1\r\n", 39) == 0);
    MM_CHECK_STR(get.message, "no canned answer");
    MM_CHECK_INT(mm_edgegap_session_delete(eg, "abc-S", eg_record, &del), ==, MM_OK);
    MM_REQUIRE(eg_drive(eg, &del.calls, 1, 10000));
    last_request(req, sizeof(req));
    MM_CHECK(strncmp(req, "DELETE /prefix/v1/session/abc-S HTTP/1.1\r\n", 42) == 0);
    MM_CHECK_INT(del.status, ==, 404);
    mm_edgegap_destroy(eg);
}

typedef struct shape_case {
    mm_edgegap_op op;
    const char *arg; /* app name (version "v") or session id */
    int status;
    const char *body;
    size_t big;
    bool no_length, cut;
    mm_edgegap_outcome want;
    const char *message_part; /* case-insensitive; "" means the message must be empty */
} shape_case;

#define SESSION(extra) "{\"session_id\": \"s\", \"status\": \"Status.READY\", \"linked\": true, \"error\": null, " extra "}"
#define DEPLOYED(ip, ports) "\"ready\": true, \"elapsed\": 3, \"deployment\": {\"public_ip\": " ip ", \"ports\": " ports "}"

static char ports33[4096];

static const shape_case cases[] = {
    {MM_EDGEGAP_APP_GET, "notjson", 200, "hello", 0, false, false, MM_EDGEGAP_BAD_RESPONSE, "not JSON"},
    {MM_EDGEGAP_APP_GET, "array", 200, "[1, 2]", 0, false, false, MM_EDGEGAP_BAD_RESPONSE, "not an object"},
    {MM_EDGEGAP_APP_GET, "missing", 200, "{\"name\": \"x\"}", 0, false, false, MM_EDGEGAP_BAD_RESPONSE,
     "'is_active' is missing, expected a boolean"},
    {MM_EDGEGAP_APP_GET, "wrongtype", 200, "{\"name\": \"x\", \"is_active\": \"yes\"}", 0, false, false, MM_EDGEGAP_BAD_RESPONSE,
     "'is_active' is a string, expected a boolean"},
    {MM_EDGEGAP_APP_GET, "nul", 200, "{\"name\": \"a\\u0000b\", \"is_active\": true}", 0, false, false, MM_EDGEGAP_BAD_RESPONSE,
     "NUL"},
    {MM_EDGEGAP_APP_GET, "extra", 200, "{\"name\": \"x\", \"is_active\": false, \"zzz\": [1, {}]}", 0, false, false, MM_EDGEGAP_OK,
     ""},
    {MM_EDGEGAP_APP_GET, "empty", 200, "", 0, false, false, MM_EDGEGAP_BAD_RESPONSE, "not JSON: empty"},
    {MM_EDGEGAP_APP_GET, "huge", 200, NULL, BIG, false, false, MM_EDGEGAP_BAD_RESPONSE, "larger than 1048576 bytes"},
    {MM_EDGEGAP_APP_GET, "hugestream", 200, NULL, BIG, true, false, MM_EDGEGAP_BAD_RESPONSE, "larger than 1048576"},
    {MM_EDGEGAP_APP_GET, "cut", 200, "{\"name\": \"x\"", 0, false, true, MM_EDGEGAP_TRANSPORT, "transfer closed"},
    {MM_EDGEGAP_APP_GET, "html502", 502, "<html>bad gateway</html>", 0, false, false, MM_EDGEGAP_HTTP_ERROR,
     "HTTP 502 with a non-JSON body"},
    {MM_EDGEGAP_APP_GET, "nomsg500", 500, "{\"error\": \"x\"}", 0, false, false, MM_EDGEGAP_HTTP_ERROR,
     "HTTP 500 without a message"},
    {MM_EDGEGAP_APP_GET, "empty404", 404, "", 0, false, false, MM_EDGEGAP_HTTP_ERROR, "HTTP 404 with an empty body"},
    {MM_EDGEGAP_APP_GET, "huge500", 500, NULL, BIG, false, false, MM_EDGEGAP_HTTP_ERROR,
     "HTTP 500 with a body larger than 1048576 bytes"},
    {MM_EDGEGAP_APP_GET, "moved", 301, "", 0, false, false, MM_EDGEGAP_HTTP_ERROR, "HTTP 301 with an empty body"},
    {MM_EDGEGAP_APP_GET, "ctrl400", 400, "{\"message\": \"line1\\nline2\\t\"}", 0, false, false, MM_EDGEGAP_HTTP_ERROR,
     "line1 line2"},
    {MM_EDGEGAP_VERSION_GET, "noports", 200, "{\"name\": \"v\", \"is_active\": true, \"ports\": null}", 0, false, false,
     MM_EDGEGAP_OK, ""},
    {MM_EDGEGAP_VERSION_GET, "unnamed", 200, "{\"name\": \"v\", \"is_active\": true, \"ports\": [{\"port\": 7000}]}", 0, false,
     false, MM_EDGEGAP_BAD_RESPONSE, "'name' is missing"},
    {MM_EDGEGAP_VERSION_GET, "portsobj", 200, "{\"name\": \"v\", \"is_active\": true, \"ports\": {}}", 0, false, false,
     MM_EDGEGAP_BAD_RESPONSE, "'ports' is an object, expected an array"},
    {MM_EDGEGAP_SESSION_CREATE, "dots", 200, "{\"session_id\": \"../etc\"}", 0, false, false, MM_EDGEGAP_BAD_RESPONSE,
     "not a usable id"},
    {MM_EDGEGAP_SESSION_CREATE, "number", 200, "{\"session_id\": 5}", 0, false, false, MM_EDGEGAP_BAD_RESPONSE,
     "'session_id' is a number, expected a string"},
    {MM_EDGEGAP_SESSION_GET, "s-nodep", 200, SESSION("\"ready\": false, \"elapsed\": 0, \"deployment\": null"), 0, false, false,
     MM_EDGEGAP_OK, ""},
    {MM_EDGEGAP_SESSION_GET, "s-readynodep", 200, SESSION("\"ready\": true, \"elapsed\": 0"), 0, false, false,
     MM_EDGEGAP_BAD_RESPONSE, "ready but has no deployment.public_ip"},
    {MM_EDGEGAP_SESSION_GET, "s-err", 200,
     "{\"session_id\": \"s\", \"status\": \"Status.ERROR\", \"ready\": false, \"linked\": false, \"error\": \"deploy "
     "failed\", \"elapsed\": 4}",
     0, false, false, MM_EDGEGAP_OK, ""},
    {MM_EDGEGAP_SESSION_GET, "s-errbool", 200, SESSION("\"ready\": false, \"elapsed\": 0, \"error\": true"), 0, false, false,
     MM_EDGEGAP_BAD_RESPONSE, "'error' is a boolean, expected a string or null"},
    {MM_EDGEGAP_SESSION_GET, "s-real", 200, SESSION("\"ready\": false, \"elapsed\": 2.7"), 0, false, false, MM_EDGEGAP_OK, ""},
    {MM_EDGEGAP_SESSION_GET, "s-elapsedstr", 200, SESSION("\"ready\": false, \"elapsed\": \"3\""), 0, false, false,
     MM_EDGEGAP_BAD_RESPONSE, "'elapsed' is a string, expected a number"},
    {MM_EDGEGAP_SESSION_GET, "s-noports", 200, SESSION(DEPLOYED("\"192.0.2.1\"", "{}")), 0, false, false, MM_EDGEGAP_OK, ""},
    {MM_EDGEGAP_SESSION_GET, "s-bigport", 200, SESSION(DEPLOYED("\"192.0.2.1\"", "{\"server\": {\"external\": 70000}}")), 0, false,
     false, MM_EDGEGAP_BAD_RESPONSE, "'external' is out of range"},
    {MM_EDGEGAP_SESSION_GET, "s-badip", 200, SESSION(DEPLOYED("\"not-an-ip\"", "{}")), 0, false, false, MM_EDGEGAP_BAD_RESPONSE,
     "'public_ip' is not an IP address"},
    {MM_EDGEGAP_SESSION_GET, "s-portnull", 200, SESSION(DEPLOYED("\"192.0.2.1\"", "{\"server\": null}")), 0, false, false,
     MM_EDGEGAP_BAD_RESPONSE, "ports['server'] is null"},
    {MM_EDGEGAP_SESSION_GET, "s-v6", 200,
     SESSION(DEPLOYED("\"2001:db8::5\"", "{\"server\": {\"external\": 40000, \"internal\": null}}")), 0, false, false,
     MM_EDGEGAP_OK, ""},
    {MM_EDGEGAP_SESSION_GET, "s-33ports", 200, ports33, 0, false, false, MM_EDGEGAP_BAD_RESPONSE, "more than 32 ports"},
    {MM_EDGEGAP_SESSION_DELETE, "d-text", 200, "Deleted", 0, false, false, MM_EDGEGAP_OK, ""},
    {MM_EDGEGAP_SESSION_DELETE, "d-204", 204, "", 0, false, false, MM_EDGEGAP_OK, ""},
    {MM_EDGEGAP_SESSION_DELETE, "d-json", 200, "{\"message\": \"Instance will be terminated\", \"session_id\": \"d-json\"}", 0,
     false, false, MM_EDGEGAP_OK, "Instance will be terminated"},
};
#define N_CASES (sizeof(cases) / sizeof(cases[0]))

static void
build_ports33(void)
{
    size_t n = (size_t)snprintf(ports33, sizeof(ports33),
                                "{\"session_id\": \"s\", \"status\": \"Ready\", \"ready\": true, \"linked\": true, "
                                "\"elapsed\": 1, \"deployment\": {\"public_ip\": \"192.0.2.1\", \"ports\": {");
    for (int i = 0; i < 33; i++)
        n += (size_t)snprintf(ports33 + n, sizeof(ports33) - n, "%s\"p%d\": {\"external\": %d}", i ? ", " : "", i, 31000 + i);
    snprintf(ports33 + n, sizeof(ports33) - n, "}}}");
}

static mm_err
issue(mm_edgegap *eg, const shape_case *c, eg_rec *rec)
{
    switch (c->op) {
    case MM_EDGEGAP_APP_GET:
        return mm_edgegap_app_get(eg, c->arg, eg_record, rec);
    case MM_EDGEGAP_VERSION_GET:
        return mm_edgegap_version_get(eg, "app", c->arg, eg_record, rec);
    case MM_EDGEGAP_SESSION_CREATE:
        return mm_edgegap_session_create(eg, "app", NULL, NULL, 0, NULL, eg_record, rec);
    case MM_EDGEGAP_SESSION_GET:
        return mm_edgegap_session_get(eg, c->arg, MM_EDGEGAP_URGENT, eg_record, rec);
    default:
        return mm_edgegap_session_delete(eg, c->arg, eg_record, rec);
    }
}

static void
can_case(const shape_case *c)
{
    static const char *const methods[] = {"GET", "GET", "POST", "GET", "DELETE"};
    char key[160];
    if (c->op == MM_EDGEGAP_APP_GET)
        snprintf(key, sizeof(key), "GET /v1/app/%s", c->arg);
    else if (c->op == MM_EDGEGAP_VERSION_GET)
        snprintf(key, sizeof(key), "GET /v1/app/app/version/%s", c->arg);
    else if (c->op == MM_EDGEGAP_SESSION_CREATE)
        snprintf(key, sizeof(key), "POST /v1/session");
    else
        snprintf(key, sizeof(key), "%s /v1/session/%s", methods[c->op], c->arg);
    /* One POST answer at a time: replace it. */
    pthread_mutex_lock(&srv.lock);
    for (int i = 0; i < srv.n; i++)
        if (strcmp(srv.table[i].key, key) == 0)
            srv.table[i] = srv.table[--srv.n];
    pthread_mutex_unlock(&srv.lock);
    can(key, c->status, c->body, c->big, c->no_length, c->cut);
}

static void
test_shapes(void)
{
    char base[64];
    static eg_rec recs[N_CASES];
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", srv.port);
    mm_edgegap *eg = eg_client(base, "token canned-key", 1, 0, 5000);
    build_ports33();
    for (size_t i = 0; i < N_CASES; i++) {
        can_case(&cases[i]);
        MM_REQUIRE(issue(eg, &cases[i], &recs[i]) == MM_OK);
        MM_REQUIRE(eg_drive(eg, &recs[i].calls, 1, 10000));
        const char *part = cases[i].message_part;
        bool ok =
            recs[i].outcome == cases[i].want && (part[0] == '\0' ? recs[i].message[0] == '\0' : eg_contains(recs[i].message, part));
        if (!ok)
            fprintf(stderr, "case %zu (%s %s): outcome %s, message \"%s\"; want %s, \"%s\"\n", i, mm_edgegap_op_name(cases[i].op),
                    cases[i].arg, mm_edgegap_outcome_name(recs[i].outcome), recs[i].message, mm_edgegap_outcome_name(cases[i].want),
                    part);
        MM_CHECK(ok);
        if (recs[i].outcome == MM_EDGEGAP_BAD_RESPONSE) /* nothing half-parsed is exposed */
            MM_CHECK(recs[i].name[0] == '\0' && recs[i].session_id[0] == '\0' && recs[i].n_ports == 0);
    }
    /* Field checks of the OK ones, by argument. */
    for (size_t i = 0; i < N_CASES; i++) {
        const char *a = cases[i].arg;
        eg_rec *r = &recs[i];
        if (strcmp(a, "extra") == 0) {
            MM_CHECK_STR(r->name, "x");
            MM_CHECK(!r->is_active);
        } else if (strcmp(a, "noports") == 0) {
            MM_CHECK_INT(r->n_ports, ==, 0);
        } else if (strcmp(a, "s-nodep") == 0) {
            MM_CHECK(!r->has_deployment && !r->ready && !r->has_error);
            MM_CHECK_INT(r->port_err, ==, MM_ERR_NOTFOUND);
            MM_CHECK(eg_contains(r->port_why, "no deployment"));
        } else if (strcmp(a, "s-err") == 0) {
            MM_CHECK(r->has_error);
            MM_CHECK_STR(r->error, "deploy failed");
            MM_CHECK_STR(r->session_status, "Status.ERROR");
            MM_CHECK_INT(r->elapsed, ==, 4);
        } else if (strcmp(a, "s-real") == 0) {
            MM_CHECK_INT(r->elapsed, ==, 2);
        } else if (strcmp(a, "s-noports") == 0) {
            MM_CHECK(r->ready && r->has_deployment);
            MM_CHECK_STR(r->public_ip, "192.0.2.1");
            MM_CHECK_INT(r->port_err, ==, MM_ERR_NOTFOUND);
            MM_CHECK(eg_contains(r->port_why, "no ports"));
        } else if (strcmp(a, "s-v6") == 0) {
            MM_CHECK_STR(r->public_ip, "2001:db8::5");
            MM_CHECK_INT(r->port_err, ==, MM_OK);
            MM_CHECK_INT(r->port, ==, 40000);
            MM_CHECK_INT(r->port_internal[0], ==, 0);
            MM_CHECK_STR(r->port_protocols[0], "");
        } else if (strcmp(a, "d-json") == 0) {
            MM_CHECK_STR(r->session_id, "d-json");
        } else if (strcmp(a, "d-text") == 0) {
            MM_CHECK(!r->has_json);
            MM_CHECK_STR(r->message, "");
        } else if (strcmp(a, "html502") == 0) {
            MM_CHECK(r->retryable);
            MM_CHECK_INT(r->status, ==, 502);
        } else if (strcmp(a, "cut") == 0) {
            MM_CHECK_INT(r->status, ==, 0);
            MM_CHECK(r->retryable);
        }
    }
    mm_edgegap_stats st;
    mm_edgegap_get_stats(eg, &st);
    MM_CHECK_U64(st.outcomes[MM_EDGEGAP_APP_GET][MM_EDGEGAP_BAD_RESPONSE], ==, 8);
    mm_edgegap_destroy(eg);
}

/* A long UTF-8 message is cut at a character boundary: still valid UTF-8 for jansson. */
static void
test_long_message(void)
{
    static char body[4096];
    char base[64];
    size_t n = (size_t)snprintf(body, sizeof(body), "{\"message\": \"");
    for (int i = 0; i < 600; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "\xc3\xa9");
    snprintf(body + n, sizeof(body) - n, "\"}");
    can("GET /v1/app/long", 400, body, 0, false, false);
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", srv.port);
    mm_edgegap *eg = eg_client(base, "token canned-key", 0, 0, 5000);
    eg_rec rec = {0};
    MM_REQUIRE(mm_edgegap_app_get(eg, "long", eg_record, &rec) == MM_OK);
    MM_REQUIRE(eg_drive(eg, &rec.calls, 1, 10000));
    MM_CHECK_INT(rec.status, ==, 400);
    MM_CHECK_INT(strlen(rec.message), ==, MM_EDGEGAP_MAX_MESSAGE - 2); /* 255 two-byte characters */
    json_t *s = json_string(rec.message);                              /* NULL if not valid UTF-8 */
    MM_CHECK(s != NULL);
    json_decref(s);
    mm_edgegap_destroy(eg);
}

int
main(void)
{
    responder_start();
    test_request_shape();
    test_shapes();
    test_long_message();
    responder_stop();
    return MM_TEST_DONE();
}
