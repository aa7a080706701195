/*
 * edgegap_sim, webhooks: a session's webhook_url receives a POST with the contracted fields when
 * the session becomes ready (after a deployment, at once, or when seated after seeking), fails,
 * or is unprocessable; none is sent without a webhook_url; failed deliveries (nobody listening,
 * an error answer, a receiver that never answers) are counted. The receiver is a small blocking
 * HTTP server in a thread here.
 * The webhook_drop fault (--webhook-drop-percent, session_create:webhook_drop_next/_rate at run
 * time) drops webhooks, counted as webhooks_dropped, the same ones for the same --seed.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mm_test.h"
#include "edgegap_sim_test_util.h"

#define HOOK_SPEC "=session_id:s status:s ready:b kind:s user_count:i linked:b webhook_url:s deployment_request_id:s?"
#define MAX_HOOKS 32

typedef struct receiver {
    int fd, port;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t mu;
    int n;
    char *bodies[MAX_HOOKS];
    int held[MAX_HOOKS]; /* connections of /hang requests, never answered */
    int nheld;
} receiver;

static void *
receiver_main(void *arg)
{
    receiver *rc = arg;
    while (!atomic_load(&rc->stop)) {
        struct pollfd p = {rc->fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(rc->fd, NULL, NULL);
        if (c < 0)
            continue;
        char path[64] = "";
        char *body = mm_test_read_http_request(c, path, sizeof(path));
        if (body != NULL && strcmp(path, "/hang") == 0 && rc->nheld < MAX_HOOKS) {
            rc->held[rc->nheld++] = c;
            free(body);
            continue;
        }
        const char *answer = strcmp(path, "/fail") == 0
                                 ? "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                                 : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK";
        if (body != NULL && write(c, answer, strlen(answer)) < 0)
            perror("receiver write");
        close(c);
        pthread_mutex_lock(&rc->mu);
        if (body != NULL && strcmp(path, "/hook") == 0 && rc->n < MAX_HOOKS)
            rc->bodies[rc->n++] = body;
        else
            free(body);
        pthread_mutex_unlock(&rc->mu);
    }
    return NULL;
}

static void
receiver_start(receiver *rc)
{
    memset(rc, 0, sizeof(*rc));
    pthread_mutex_init(&rc->mu, NULL);
    rc->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = 0};
    socklen_t sl = sizeof(sa);
    MM_REQUIRE(bind(rc->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(rc->fd, 64) == 0);
    getsockname(rc->fd, (struct sockaddr *)&sa, &sl);
    rc->port = ntohs(sa.sin_port);
    MM_REQUIRE(pthread_create(&rc->thread, NULL, receiver_main, rc) == 0);
}

static void
receiver_stop(receiver *rc)
{
    atomic_store(&rc->stop, true);
    pthread_join(rc->thread, NULL);
    close(rc->fd);
    for (int i = 0; i < rc->nheld; i++)
        close(rc->held[i]);
    for (int i = 0; i < rc->n; i++)
        free(rc->bodies[i]);
    pthread_mutex_destroy(&rc->mu);
}

/* Waits until the receiver holds n bodies; returns body i parsed (caller releases), or NULL. */
static json_t *
received(receiver *rc, int i, int timeout_ms)
{
    long long deadline = mm_test_now_ms() + timeout_ms;
    for (;;) {
        pthread_mutex_lock(&rc->mu);
        json_t *j = rc->n > i ? json_loads(rc->bodies[i], 0, NULL) : NULL;
        pthread_mutex_unlock(&rc->mu);
        if (j != NULL || mm_test_now_ms() >= deadline)
            return j;
        mm_test_sleep_ms(10);
    }
}

static long long
wait_stat(const sim_proc *sim, const char *key, long long want, int timeout_ms)
{
    long long deadline = mm_test_now_ms() + timeout_ms, v;
    while ((v = sim_stat(sim, key)) != want && mm_test_now_ms() < deadline)
        mm_test_sleep_ms(20);
    return v;
}

static void
check_hook(const json_t *j, const char *id, const char *status, bool ready, bool linked, const char *url)
{
    check_shape(j, HOOK_SPEC, "webhook body");
    MM_CHECK_STR(json_string_value(json_object_get(j, "session_id")), id);
    MM_CHECK_STR(json_string_value(json_object_get(j, "status")), status);
    MM_CHECK(json_is_true(json_object_get(j, "ready")) == ready);
    MM_CHECK(json_is_true(json_object_get(j, "linked")) == linked);
    MM_CHECK_STR(json_string_value(json_object_get(j, "kind")), "Seat");
    MM_CHECK_INT(json_integer_value(json_object_get(j, "user_count")), ==, 1);
    MM_CHECK_STR(json_string_value(json_object_get(j, "webhook_url")), url);
    if (linked)
        MM_CHECK(is_edgegap_id(json_string_value(json_object_get(j, "deployment_request_id")), false));
}

int
main(void)
{
    receiver rc;
    receiver_start(&rc);
    char url[128], body[300], sid[4][32];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", rc.port);
    snprintf(body, sizeof(body), "{\"app_name\":\"bevygap-spaceships\",\"ip_list\":[\"81.128.157.100\"],\"webhook_url\":\"%s\"}",
             url);

    sim_proc sim;
    const char *extra[] = {"--deploy-delay-ms", "200", "--webhook-timeout-ms", "500", NULL};
    MM_REQUIRE(sim_start(&sim, extra) == 0);

    /* ready after the deployment started, then at once on the same deployment */
    const char *id = sim_create_session(&sim, body);
    MM_REQUIRE(id != NULL);
    snprintf(sid[0], sizeof(sid[0]), "%s", id);
    json_t *j = received(&rc, 0, 5000);
    MM_REQUIRE(j != NULL);
    check_hook(j, sid[0], "Ready", true, true, url);
    json_decref(j);
    MM_REQUIRE((id = sim_create_session(&sim, "{\"app_name\":\"bevygap-spaceships\",\"ip_list\":[\"1.1.1.1\"]}")) != NULL);
    snprintf(sid[1], sizeof(sid[1]), "%s", id); /* no webhook_url: nothing is sent for it */
    MM_REQUIRE((id = sim_create_session(&sim, body)) != NULL);
    snprintf(sid[2], sizeof(sid[2]), "%s", id);
    j = received(&rc, 1, 5000);
    MM_REQUIRE(j != NULL);
    check_hook(j, sid[2], "Ready", true, true, url);
    json_decref(j);
    MM_CHECK_INT(wait_stat(&sim, "webhooks_sent", 2, 5000), ==, 2);

    /* a failing deployment: the webhook says so */
    MM_CHECK_INT(sim_call(&sim, "POST", "/__sim/reset", "", NULL), ==, 200);
    MM_CHECK_INT(sim_call(&sim, "POST", "/__sim/faults", "{\"session_create\": {\"deploy_fail_next\": 1}}", NULL), ==, 200);
    MM_REQUIRE((id = sim_create_session(&sim, body)) != NULL);
    snprintf(sid[3], sizeof(sid[3]), "%s", id);
    j = received(&rc, 2, 5000);
    MM_REQUIRE(j != NULL);
    check_hook(j, sid[3], "Error", false, true, url);
    json_decref(j);
    MM_CHECK_INT(wait_stat(&sim, "webhooks_sent", 1, 5000), ==, 1); /* counted since the reset */

    /* failed deliveries: nobody listening, an error status, a receiver that never answers */
    const char *paths[] = {NULL, "/fail", "/hang"};
    for (int i = 0; i < 3; i++) {
        char bad[300];
        if (paths[i] == NULL)
            snprintf(bad, sizeof(bad), "{\"app_name\":\"bevygap-spaceships\",\"webhook_url\":\"http://127.0.0.1:%d/hook\"}",
                     mm_test_free_port());
        else
            snprintf(bad, sizeof(bad), "{\"app_name\":\"bevygap-spaceships\",\"webhook_url\":\"http://127.0.0.1:%d%s\"}", rc.port,
                     paths[i]);
        MM_CHECK(sim_create_session(&sim, bad) != NULL);
        MM_CHECK_INT(wait_stat(&sim, "webhooks_failed", i + 1, 5000), ==, i + 1);
        MM_CHECK_INT(sim_call(&sim, "GET", "/v1/app/bevygap-spaceships", NULL, NULL), ==, 200);
    }
    MM_CHECK_INT(wait_stat(&sim, "webhooks_pending", 0, 5000), ==, 0);
    MM_CHECK_INT(sim_stat(&sim, "webhooks_sent"), ==, 1);
    MM_CHECK_INT(sim_stop(&sim), ==, 0);

    /* no deployment may start: the session is unprocessable, and says so */
    const char *no_deploy[] = {"--no-autodeploy", NULL};
    MM_REQUIRE(sim_start(&sim, no_deploy) == 0);
    MM_REQUIRE((id = sim_create_session(&sim, body)) != NULL);
    char unprocessable[32], path[96];
    snprintf(unprocessable, sizeof(unprocessable), "%s", id);
    j = received(&rc, 3, 5000);
    MM_REQUIRE(j != NULL);
    check_hook(j, unprocessable, "Unprocessable", false, false, url);
    MM_CHECK(json_is_null(json_object_get(j, "deployment_request_id")));
    json_decref(j);
    snprintf(path, sizeof(path), "/v1/session/%s", unprocessable);
    MM_CHECK_INT(sim_call(&sim, "GET", path, NULL, &j), ==, 200);
    MM_CHECK_STR(json_string_value(json_object_get(j, "status")), "Status.UNPROCESSABLE");
    MM_CHECK(json_is_string(json_object_get(j, "error")));
    json_decref(j);
    MM_CHECK_INT(sim_stop(&sim), ==, 0);

    pthread_mutex_lock(&rc.mu);
    MM_CHECK_INT(rc.n, ==, 4); /* and none for the session without a webhook_url */
    for (int i = 0; i < rc.n; i++)
        MM_CHECK(strstr(rc.bodies[i], sid[1]) == NULL);
    pthread_mutex_unlock(&rc.mu);

    /* sessions that seek first (--seek-delay-ms): each gets its "Ready" webhook when it is seated,
     * the first on the deployment it starts, the second on that deployment, already ready (the
     * readiness signal of the matchmaker's webhook mode in bench scenario 3w) */
    const char *seek[] = {"--seek-delay-ms", "300", "--deploy-delay-ms", "0", NULL};
    MM_REQUIRE(sim_start(&sim, seek) == 0);
    char dep[2][32];
    for (int i = 0; i < 2; i++) {
        char seeking[32];
        MM_REQUIRE((id = sim_create_session(&sim, body)) != NULL);
        snprintf(seeking, sizeof(seeking), "%s", id);
        j = received(&rc, 4 + i, 5000);
        MM_REQUIRE(j != NULL);
        check_hook(j, seeking, "Ready", true, true, url);
        snprintf(dep[i], sizeof(dep[i]), "%s", json_string_value(json_object_get(j, "deployment_request_id")));
        json_decref(j);
        snprintf(path, sizeof(path), "/v1/session/%s", seeking);
        MM_CHECK_INT(sim_call(&sim, "GET", path, NULL, &j), ==, 200);
        MM_CHECK_STR(json_string_value(json_object_get(j, "status")), "Status.READY");
        json_decref(j);
    }
    MM_CHECK_STR(dep[1], dep[0]);
    MM_CHECK_INT(sim_stat(&sim, "deployments_started"), ==, 1);
    MM_CHECK_INT(wait_stat(&sim, "webhooks_sent", 2, 5000), ==, 2);
    MM_CHECK_INT(sim_stop(&sim), ==, 0);

    /* dropped webhooks: --webhook-drop-percent 50 drops some and sends the others; the same seed
     * drops the same number again; the faults API drops exactly the next one */
    long long dropped[2] = {0, 0};
    for (int run = 0; run < 2; run++) {
        const char *drop[] = {"--seed", "4242", "--webhook-drop-percent", "50", "--deploy-delay-ms", "0", NULL};
        MM_REQUIRE(sim_start(&sim, drop) == 0);
        for (int i = 0; i < 20; i++)
            MM_REQUIRE(sim_create_session(&sim, body) != NULL);
        long long deadline = mm_test_now_ms() + 5000;
        while (sim_stat(&sim, "webhooks_sent") + sim_stat(&sim, "webhooks_dropped") < 20 && mm_test_now_ms() < deadline)
            mm_test_sleep_ms(20);
        dropped[run] = sim_stat(&sim, "webhooks_dropped");
        MM_CHECK_INT(sim_stat(&sim, "webhooks_sent") + dropped[run], ==, 20);
        MM_CHECK_INT(dropped[run], >, 0);
        MM_CHECK_INT(dropped[run], <, 20);
        MM_CHECK_INT(sim_stop(&sim), ==, 0);
    }
    MM_CHECK_INT(dropped[0], ==, dropped[1]);
    fprintf(stderr, "webhook_drop 50%%: %lld of 20 dropped (same seed, same count)\n", dropped[0]);
    const char *plain[] = {"--deploy-delay-ms", "0", NULL};
    MM_REQUIRE(sim_start(&sim, plain) == 0);
    MM_CHECK_INT(sim_call(&sim, "POST", "/__sim/faults", "{\"session_create\": {\"webhook_drop_next\": 1}}", NULL), ==, 200);
    MM_REQUIRE(sim_create_session(&sim, body) != NULL);
    MM_CHECK_INT(wait_stat(&sim, "webhooks_dropped", 1, 5000), ==, 1);
    MM_REQUIRE(sim_create_session(&sim, body) != NULL);
    MM_CHECK_INT(wait_stat(&sim, "webhooks_sent", 1, 5000), ==, 1);
    MM_CHECK_INT(sim_stat(&sim, "webhooks_dropped"), ==, 1);
    MM_CHECK_INT(sim_stop(&sim), ==, 0);

    receiver_stop(&rc);
    http_cleanup();
    return MM_TEST_DONE();
}
