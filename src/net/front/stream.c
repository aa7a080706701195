/*
 * The HTTP forms of a session request (docs/protocol.md section 2):
 *   POST /matchmaker/request/{game}/{version}: each feedback text as one chunk of a chunked
 *     application/json response, ended by a newline; the response ends with the stream.
 *   POST /matchmaker/wannaplay: one answer, as the reference gives it: SessionReady becomes
 *     {"connect_token","gameserver_ip","gameserver_port","cert_digest"} (text/json); an Error
 *     becomes its HTTP status with the message as the body; 408 on timeout; 503 when refused.
 * Refusals before the hand-off are plain HTTP answers: 400 bad input, 413 (h2o) body too
 * large, 429 limits, 503 stopping or busy.
 *
 * The request's state lives in the h2o request's memory pool, with a dispose hook: whenever h2o
 * frees the request (answered, or its connection failed), the state finishes its request and
 * detaches, so no answer can reach a freed request. h2o does not read a connection while its
 * request is being answered, so a client that leaves a silent request is noticed by peeking at
 * its socket every ping interval; it is then answered into the void, which makes h2o close it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "mm/feedback.h"
#include "mm/log.h"
#include "front_internal.h"

typedef struct chunk {
    struct chunk *next;
    size_t len;
    char text[];
} chunk;

typedef struct http_stream {
    mm__front_req req;
    mm__front_loop *loop;
    h2o_req_t *hreq;
    h2o_generator_t gen; /* chunked only */
    chunk *head, *tail, *inflight;
    bool sending;     /* an h2o_send is waiting for proceed */
    bool end_pending; /* the stream ended: send the final part once the chunks are out */
    bool final_sent;
    bool answered; /* wannaplay */
    h2o_timeout_entry_t t_request, t_check;
} http_stream;

static void
free_chunks(chunk *c)
{
    while (c != NULL) {
        chunk *next = c->next;
        free(c);
        c = next;
    }
}

static void
stream_dispose(void *p)
{
    http_stream *st = p;
    h2o_timeout_unlink(&st->t_request);
    h2o_timeout_unlink(&st->t_check);
    mm__front_req_finish(&st->req, MM__OUT_CLIENT_GONE);
    free_chunks(st->head);
    free_chunks(st->inflight);
    st->head = st->tail = st->inflight = NULL;
}

/* ---- chunked ---- */

static void
send_next(http_stream *st)
{
    if (st->sending || st->final_sent)
        return;
    if (st->head != NULL) {
        chunk *c = st->head;
        st->head = c->next;
        if (st->head == NULL)
            st->tail = NULL;
        c->next = NULL;
        st->inflight = c;
        st->sending = true;
        h2o_iovec_t v = h2o_iovec_init(c->text, c->len);
        h2o_send(st->hreq, &v, 1, H2O_SEND_STATE_IN_PROGRESS);
    } else if (st->end_pending) {
        st->final_sent = true;
        h2o_timeout_unlink(&st->t_request);
        h2o_timeout_unlink(&st->t_check);
        h2o_send(st->hreq, NULL, 0, H2O_SEND_STATE_FINAL);
    }
}

static void
on_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
    (void)req;
    http_stream *st = MM__CONTAINER(gen, http_stream, gen);
    free_chunks(st->inflight);
    st->inflight = NULL;
    st->sending = false;
    send_next(st);
}

static void
on_stop(h2o_generator_t *gen, h2o_req_t *req)
{
    (void)gen;
    (void)req; /* the pool's dispose hook cleans up */
}

static void
push_chunk(http_stream *st, const char *text, size_t len)
{
    chunk *c = malloc(sizeof(*c) + len + 1);
    if (c == NULL) {
        mm_error("front: out of memory for a response chunk; dropping it");
        return;
    }
    c->next = NULL;
    c->len = len + 1;
    memcpy(c->text, text, len);
    c->text[len] = '\n';
    if (st->tail != NULL)
        st->tail->next = c;
    else
        st->head = c;
    st->tail = c;
}

static void
chunked_deliver(mm__front_req *r, const char *text, size_t len)
{
    http_stream *st = MM__CONTAINER(r, http_stream, req);
    push_chunk(st, text, len);
    send_next(st);
}

static void
chunked_end(mm__front_req *r)
{
    http_stream *st = MM__CONTAINER(r, http_stream, req);
    mm__front_req_finish(r, mm__front_req_outcome(r));
    st->end_pending = true;
    send_next(st);
}

static void
chunked_abandon(mm__front_req *r, uint16_t status, const char *message, mm__outcome outcome)
{
    http_stream *st = MM__CONTAINER(r, http_stream, req);
    char *text = NULL;
    size_t len = 0;
    if (mm_feedback_error(status, message, &text, &len) == MM_OK)
        push_chunk(st, text, len);
    free(text);
    mm__front_req_finish(r, outcome);
    st->end_pending = true;
    send_next(st);
}

static const mm__front_req_ops chunked_ops = {.deliver = chunked_deliver, .end = chunked_end, .abandon = chunked_abandon};

/* ---- wannaplay ---- */

static void
answer(http_stream *st, int status, const char *ctype, const char *body, size_t len, mm__outcome outcome)
{
    if (st->answered)
        return;
    st->answered = true;
    h2o_timeout_unlink(&st->t_request);
    h2o_timeout_unlink(&st->t_check);
    mm__front_req_finish(&st->req, outcome);
    mm__front_respond(st->hreq, status, ctype, body, len, false);
}

static void
wannaplay_deliver(mm__front_req *r, const char *text, size_t len)
{
    http_stream *st = MM__CONTAINER(r, http_stream, req);
    mm_feedback fb;
    char why[160];
    if (mm_feedback_decode(text, len, &fb, why, sizeof(why)) != MM_OK) {
        mm_warn("front: wannaplay request %llu: the backend sent a text that is not feedback: %s", (unsigned long long)r->id, why);
        return;
    }
    if (fb.kind == MM_FEEDBACK_READY) {
        char *body = NULL;
        size_t blen = 0;
        if (mm_session_response_encode(fb.token, fb.ip, fb.port, fb.cert_digest, &body, &blen) == MM_OK)
            answer(st, 200, "text/json", body, blen, MM__OUT_OK);
        else
            answer(st, 500, "text/plain; charset=utf-8", H2O_STRLIT("out of memory"), MM__OUT_ERROR);
        free(body);
    } else if (fb.kind == MM_FEEDBACK_ERROR) {
        int status = fb.status >= 200 && fb.status <= 599 ? fb.status : 500;
        answer(st, status, "text/plain; charset=utf-8", fb.text, strlen(fb.text), MM__OUT_ERROR);
    }
    mm_feedback_clear(&fb);
}

static void
wannaplay_end(mm__front_req *r)
{
    http_stream *st = MM__CONTAINER(r, http_stream, req);
    answer(st, 500, "text/plain; charset=utf-8", H2O_STRLIT("the matchmaker ended the request without an answer"), MM__OUT_ERROR);
}

static void
wannaplay_abandon(mm__front_req *r, uint16_t status, const char *message, mm__outcome outcome)
{
    http_stream *st = MM__CONTAINER(r, http_stream, req);
    answer(st, status, "text/plain; charset=utf-8", message, strlen(message), outcome);
}

static const mm__front_req_ops wannaplay_ops = {.deliver = wannaplay_deliver, .end = wannaplay_end, .abandon = wannaplay_abandon};

/* ---- timers ---- */

static bool
peer_gone(h2o_req_t *req)
{
    h2o_socket_t *sock = req->conn->callbacks->get_socket != NULL ? req->conn->callbacks->get_socket(req->conn) : NULL;
    if (sock == NULL)
        return false;
    char c;
    ssize_t n = recv(h2o_socket_get_fd(sock), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static void
on_check(h2o_timeout_entry_t *e)
{
    http_stream *st = MM__CONTAINER(e, http_stream, t_check);
    if (st->req.id == 0)
        return;
    if (!peer_gone(st->hreq)) {
        h2o_timeout_link(st->loop->evloop, &st->loop->t_ping, &st->t_check);
        return;
    }
    /* answer into the void so that h2o closes the connection */
    st->hreq->http1_is_persistent = 0;
    st->req.ops->abandon(&st->req, 503, "the client went away", MM__OUT_CLIENT_GONE);
}

static void
on_request_timeout(h2o_timeout_entry_t *e)
{
    http_stream *st = MM__CONTAINER(e, http_stream, t_request);
    if (st->req.id == 0)
        return;
    mm__front_count_refusal(st->loop->front, MM__REF_REQ_TIMEOUT);
    st->req.ops->abandon(&st->req, 408, "Request timeout", MM__OUT_TIMEOUT);
}

/* ---- the handlers ---- */

static void
refuse(h2o_req_t *req, mm_front *front, mm_front_route route, mm__refusal why, mm__outcome outcome, int status, const char *text)
{
    mm__front_count_refusal(front, why);
    mm__front_count_request(front, route, outcome);
    mm__front_respond(req, status, "text/plain; charset=utf-8", text, strlen(text), false);
}

/* Checks what every session request needs and starts it; NULL when it answered already. */
static http_stream *
start(mm__front_loop *loop, h2o_req_t *req, mm_front_route route, mm_session_request *sr)
{
    mm_front *front = loop->front;
    mm__front_origin origin;
    char why[160];
    if (loop->stopping) {
        refuse(req, front, route, MM__REF_STOPPING, MM__OUT_STOPPED, 503, "the matchmaker front is stopping");
        return NULL;
    }
    mm__front_origin_from_req(&front->cfg, req, &origin);
    if (origin.error[0] != '\0' ||
        mm__front_origin_client_ip(&front->cfg, &origin, NULL, sr->client_ip, why, sizeof(why)) != MM_OK) {
        refuse(req, front, route, MM__REF_BAD_REQUEST, MM__OUT_INVALID, 400, origin.error[0] != '\0' ? origin.error : why);
        return NULL;
    }
    sr->has_client_ip = true;
    http_stream *st = h2o_mem_alloc_shared(&req->pool, sizeof(*st), stream_dispose);
    memset(st, 0, sizeof(*st));
    st->loop = loop;
    st->hreq = req;
    mm__admit a = mm__front_req_begin(loop, &st->req, route == MM_FRONT_CHUNKED ? &chunked_ops : &wannaplay_ops, route, origin.key);
    if (a != MM__ADMIT_OK) {
        mm__front_respond(req, 429, "text/plain; charset=utf-8", mm__front_admit_message(a), strlen(mm__front_admit_message(a)),
                          false);
        return NULL;
    }
    mm_err err = mm__front_req_submit(&st->req, sr);
    if (err != MM_OK) {
        mm__front_req_finish(&st->req, MM__OUT_BUSY);
        const char *text = err == MM_ERR_FULL      ? "the matchmaker is busy, try again"
                           : err == MM_ERR_STOPPED ? "the matchmaker is stopping"
                                                   : "the matchmaker could not take the request";
        mm__front_respond(req, err == MM_ERR_FULL || err == MM_ERR_STOPPED ? 503 : 500, "text/plain; charset=utf-8", text,
                          strlen(text), false);
        return NULL;
    }
    mm_debug("front: %s request %llu for %s/%s from %s", route == MM_FRONT_CHUNKED ? "chunked" : "wannaplay",
             (unsigned long long)st->req.id, sr->game, sr->version, sr->client_ip);
    st->t_request.cb = on_request_timeout;
    st->t_check.cb = on_check;
    h2o_timeout_link(loop->evloop, &loop->t_request, &st->t_request);
    h2o_timeout_link(loop->evloop, &loop->t_ping, &st->t_check);
    return st;
}

static bool
check_name(h2o_req_t *req, mm_front *front, const char *value, const char *what)
{
    char why[64];
    if (mm_request_name_valid(value))
        return true;
    snprintf(why, sizeof(why), strlen(value) > MM_NAME_MAX_LEN ? "Game %s too long (max %d chars)" : "Game %s invalid", what,
             MM_NAME_MAX_LEN);
    refuse(req, front, MM_FRONT_CHUNKED, MM__REF_BAD_REQUEST, MM__OUT_INVALID, 400, why);
    return false;
}

void
mm__front_chunked_handle(mm__front_loop *loop, h2o_req_t *req, const char *game, const char *version)
{
    mm_session_request sr;
    memset(&sr, 0, sizeof(sr));
    if (!check_name(req, loop->front, game, "name") || !check_name(req, loop->front, version, "version"))
        return;
    snprintf(sr.game, sizeof(sr.game), "%s", game);
    snprintf(sr.version, sizeof(sr.version), "%s", version);
    http_stream *st = start(loop, req, MM_FRONT_CHUNKED, &sr);
    if (st == NULL)
        return;
    st->gen.proceed = on_proceed;
    st->gen.stop = on_stop;
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    mm__front_cors(loop->front, req);
    h2o_start_response(req, &st->gen);
    st->sending = true; /* the headers go out now; the first text waits for proceed */
    h2o_send(req, NULL, 0, H2O_SEND_STATE_IN_PROGRESS);
}

void
mm__front_wannaplay_handle(mm__front_loop *loop, h2o_req_t *req)
{
    mm_session_request sr;
    memset(&sr, 0, sizeof(sr));
    start(loop, req, MM_FRONT_WANNAPLAY, &sr);
}
