/*
 * Refuses requests whose body length is ambiguous (RFC 7230 section 3.3.3): two Content-Length
 * headers, two Transfer-Encoding headers, or both at once. A proxy in front that reads such a
 * request otherwise than h2o does (h2o 2.2.5 takes the first Content-Length, and
 * Transfer-Encoding over Content-Length) would see a different next request on the same
 * connection: request smuggling. Every duplicate Content-Length is refused, identical ones too
 * (RFC 7230 lets a server merge those; refusing them is simpler and no real client sends them).
 *
 * h2o 2.2.5 keeps neither header in req->headers (they are "init header special" tokens, read
 * by its entity reader), so the check reads the raw request again: when the handler runs, the
 * socket's input buffer still starts with this request's head (h2o consumes it only after the
 * response; a chunked body is decoded in place after the head). The head is parsed with the
 * same picohttpparser h2o used (exported by libh2o-evloop, not declared by its headers), so
 * both see the same header lines. The caller answers 400 and closes the connection, so bytes
 * that follow on it (a smuggled request) are never read.
 */
#include <stdio.h>
#include <string.h>

#include "front_internal.h"

/* picohttpparser, as bundled in libh2o-evloop 2.2.5 (docs/libnotes.md) */
struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len, const char **path, size_t *path_len,
                      int *minor_version, struct phr_header *headers, size_t *num_headers, size_t last_len);

bool
mm__front_framing_check(const char *raw, size_t len, char *why, size_t why_len)
{
    struct phr_header headers[H2O_MAX_HEADERS];
    size_t n = H2O_MAX_HEADERS, method_len, path_len;
    const char *method, *path;
    int minor;
    if (len > H2O_MAX_REQLEN)
        len = H2O_MAX_REQLEN;
    if (phr_parse_request(raw, len, &method, &method_len, &path, &path_len, &minor, headers, &n, 0) <= 0)
        return true; /* not a head we can read again (h2o did): nothing to compare */
    size_t cl = 0, te = 0;
    for (size_t i = 0; i < n; i++) {
        if (headers[i].name == NULL) /* a continuation line */
            continue;
        cl += h2o_lcstris(headers[i].name, headers[i].name_len, H2O_STRLIT("content-length"));
        te += h2o_lcstris(headers[i].name, headers[i].name_len, H2O_STRLIT("transfer-encoding"));
    }
    if (cl > 1) {
        snprintf(why, why_len, "more than one Content-Length header");
        return false;
    }
    if (te > 1) {
        snprintf(why, why_len, "more than one Transfer-Encoding header");
        return false;
    }
    if (cl > 0 && te > 0) {
        snprintf(why, why_len, "both Content-Length and Transfer-Encoding");
        return false;
    }
    return true;
}

bool
mm__front_framing_ok(h2o_req_t *req, char *why, size_t why_len)
{
    if (req->version >= 0x200) /* HTTP/2 frames its own bodies */
        return true;
    h2o_socket_t *sock = req->conn->callbacks->get_socket != NULL ? req->conn->callbacks->get_socket(req->conn) : NULL;
    if (sock == NULL || sock->input == NULL)
        return true;
    return mm__front_framing_check(sock->input->bytes, sock->input->size, why, why_len);
}
