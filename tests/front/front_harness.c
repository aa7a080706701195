/*
 * The front helpers of front_harness.h: a front on a free loopback port with the test backend,
 * /metrics samples, and one whole WebSocket session.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "front_harness.h"
#include "mm_test.h"
#include "ws_client.h"

void
fh_config(mm_front_config *cfg)
{
    mm_front_config_init(cfg);
    MM_REQUIRE(mm_front_config_flag(cfg, "--bind", "127.0.0.1:0", NULL, NULL, 0) == 1);
}

void
fh_start(fh *h, const mm_front_config *cfg)
{
    mm_front_config def;
    mm_front_backend be;
    char why[256] = "";
    if (cfg == NULL) {
        fh_config(&def);
        cfg = &def;
    }
    h->tb = tb_create();
    tb_backend_iface(h->tb, &be);
    mm_err err = mm_front_start(cfg, &be, &h->front, why, sizeof(why));
    if (err != MM_OK)
        fprintf(stderr, "mm_front_start: %s\n", why);
    MM_REQUIRE(err == MM_OK);
    h->port = mm_front_port(h->front, 0);
    MM_REQUIRE(h->port != 0);
}

void
fh_stop(fh *h, uint32_t deadline_ms)
{
    mm_front_stop(h->front, deadline_ms);
    tb_stop(h->tb);
    mm_front_destroy(h->front);
    tb_destroy(h->tb);
    h->front = NULL;
    h->tb = NULL;
}

long long
fh_metric(uint16_t port, const char *sample)
{
    mm_http_resp r;
    if (mm_http_get(port, "/metrics", &r, 5000) != 0)
        return -1;
    long long v = -1;
    size_t n = strlen(sample);
    for (const char *p = r.body; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, sample, n) == 0 && p[n] == ' ') {
            v = (long long)strtod(p + n + 1, NULL);
            break;
        }
    mm_http_resp_free(&r);
    return v;
}

int
fh_ws_session(uint16_t port, const char *path, const char *headers, const char *first, char texts[][512], int max,
              int *close_code, int timeout_ms)
{
    mm_ws_client *c = malloc(sizeof(*c));
    int n = 0;
    *close_code = -1;
    if (mm_ws_connect(c, port, path ? path : "/matchmaker/ws", headers, timeout_ms) != 0) {
        mm_ws_close(c);
        free(c);
        return -1;
    }
    if (first != NULL)
        mm_ws_send_text(c, first);
    for (;;) {
        mm_ws_msg m;
        if (mm_ws_recv(c, &m, timeout_ms) != 1)
            break;
        if (m.opcode == MM_WS_OP_CLOSE) {
            *close_code = m.close_code;
            uint8_t echo[2] = {(uint8_t)(m.close_code >> 8), (uint8_t)m.close_code};
            mm_ws_send_frame(c, MM_WS_FIN | MM_WS_OP_CLOSE, echo, m.close_code ? 2 : 0, true);
            mm_ws_msg_free(&m);
            mm_ws_wait_eof(c, timeout_ms);
            break;
        }
        if (m.opcode == MM_WS_OP_TEXT && n < max)
            snprintf(texts[n++], 512, "%s", m.data);
        mm_ws_msg_free(&m);
    }
    mm_ws_close(c);
    free(c);
    return n;
}
