/*
 * A small blocking WebSocket client for the web front's end-to-end tests (RFC 6455, client side:
 * masked frames, no extensions). Every read has a deadline; a ping is answered with a pong
 * inside ws_read. One client per connection, one thread.
 */
#ifndef MM_TEST_HTTPD_WS_CLIENT_H
#define MM_TEST_HTTPD_WS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#define WS_OP_TEXT 1
#define WS_OP_BINARY 2
#define WS_OP_CLOSE 8
#define WS_OP_PING 9
#define WS_OP_PONG 10

typedef struct ws_client {
    int fd;
    unsigned char buf[65536]; /* bytes read but not consumed */
    size_t len;
} ws_client;

/**
 * Connects to 127.0.0.1:port and upgrades path. headers: extra request header lines, each ending
 * with "\r\n" (may be NULL). Returns the HTTP status of the answer (101 on success), -1 when the
 * connection or the answer failed.
 */
int ws_open(ws_client *c, int port, const char *path, const char *headers, int timeout_ms);

/** Sends one frame (masked) with opcode op; 0 on success. */
int ws_send(ws_client *c, int op, const void *data, size_t len);

/**
 * Reads the next frame that is not a ping (pings are answered). Returns its opcode with a new
 * NUL-terminated *payload (free()) of *len bytes; -1 on timeout, error or EOF (*payload NULL).
 */
int ws_read(ws_client *c, char **payload, size_t *len, int timeout_ms);

/** Closes the socket (no close frame). Accepts a client that never opened. */
void ws_close(ws_client *c);

#endif
