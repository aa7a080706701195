/*
 * Which client a request is for (docs/protocol.md section 2), and which address it is counted against.
 *
 * Two different questions:
 *   - the IP sent to Edgegap (the backend's client_ip): a `client_ip` query parameter or JSON
 *     field (a development override, off with --no-client-ip-override), else the address that
 *     X-Forwarded-For yields when the TCP peer is a trusted proxy (xff_walk: the rightmost
 *     address that is not a trusted proxy; the leftmost entries are whatever the client wrote),
 *     else the TCP peer; loopback becomes --fake-ip.
 *   - the address the limits count (the origin's key): never an override, which the client
 *     chooses freely; the X-Forwarded-For address or the peer.
 * A malformed client_ip override makes the request fail with a reason (ERR / 400), never a
 * guess. X-Forwarded-For never fails a request: the walk stops at an entry that is no address
 * and keeps the last address it trusted (the proxies in front wrote everything to its right).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "front_internal.h"

static int
hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decodes s[0..n) (and '+' as a space) into out; false on a broken escape, NUL or overflow. */
static bool
url_decode(const char *s, size_t n, char *out, size_t out_len)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 1 < n ? hex_value(s[i + 1]) : -1, lo = i + 2 < n ? hex_value(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return false;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        /* a raw NUL as well as %00: "1.2.3.4\0junk" would read as 1.2.3.4 (found by fuzz_client_ip) */
        if (c == '\0' || k + 1 >= out_len)
            return false;
        out[k++] = c;
    }
    out[k] = '\0';
    return true;
}

bool
mm__front_query_param(const char *query, size_t len, const char *name, char *out, size_t out_len, bool *malformed)
{
    size_t nlen = strlen(name);
    *malformed = false;
    for (size_t at = 0; at < len;) {
        const char *amp = memchr(query + at, '&', len - at);
        size_t end = amp != NULL ? (size_t)(amp - query) : len;
        const char *eq = memchr(query + at, '=', end - at);
        size_t key_end = eq != NULL ? (size_t)(eq - query) : end;
        if (key_end - at == nlen && memcmp(query + at, name, nlen) == 0) {
            size_t v = eq != NULL ? key_end + 1 : end;
            if (!url_decode(query + v, end - v, out, out_len)) {
                *malformed = true;
                return false;
            }
            return true;
        }
        at = end + 1;
    }
    return false;
}

/* The 16-byte form of the peer; false for a family we do not know. */
static bool
sockaddr_bytes(const struct sockaddr *sa, uint8_t out[16])
{
    if (sa->sa_family == AF_INET) {
        mm__front_addr_from_v4((const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr, out);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return true;
    }
    return false;
}

static void
key_of(const uint8_t addr[16], uint8_t key[16])
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memcpy(key, addr, 16);
    if (memcmp(addr, mapped, 12) != 0)
        memset(key + 8, 0, 8); /* IPv6: the /64 */
}

static bool
trusted(const mm_front_config *cfg, const uint8_t addr[16])
{
    for (size_t i = 0; i < cfg->n_proxies; i++)
        if (mm__front_cidr_contains(&cfg->proxies[i], addr))
            return true;
    return false;
}

/* "1 to 5 digits, at most 65535": the port a proxy may write after an address. */
static bool
port_ok(const char *s, size_t n)
{
    unsigned long v = 0;
    if (n == 0 || n > 5)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    return v <= 65535;
}

/* One X-Forwarded-For entry s[0..n) in a form proxies write (IPv4, IPv6, IPv4:port, [IPv6],
 * [IPv6]:port; spaces and tabs around it), as 16 bytes and canonical text; false if it is no
 * address ("unknown", empty, obfuscated identifiers of RFC 7239, a NUL, garbage). */
static bool
xff_entry(const char *s, size_t n, uint8_t addr[16], char out[MM_IP_TEXT_LEN])
{
    while (n > 0 && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    /* the longest form, "[" + 45 characters of IPv6 + "]:65535", is 53; a NUL would cut the text short */
    if (n == 0 || n > 60 || memchr(s, '\0', n) != NULL)
        return false;
    const char *host = s;
    size_t hn = n;
    bool want_v6 = false;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (close == NULL)
            return false;
        size_t after = n - (size_t)(close + 1 - s);
        if (after > 0 && (close[1] != ':' || !port_ok(close + 2, after - 1)))
            return false;
        host = s + 1;
        hn = (size_t)(close - host);
        want_v6 = true;
    } else {
        const char *colon = memchr(s, ':', n);
        if (colon != NULL && memchr(colon + 1, ':', n - (size_t)(colon + 1 - s)) == NULL) {
            /* exactly one colon: IPv4:port (no IPv6 address has a single colon) */
            if (!port_ok(colon + 1, n - (size_t)(colon + 1 - s)))
                return false;
            hn = (size_t)(colon - s);
        }
    }
    char text[64];
    memcpy(text, host, hn);
    text[hn] = '\0';
    bool is_v4 = false;
    if (hn == 0 || !mm__front_addr_parse(text, addr, &is_v4) || (want_v6 && is_v4))
        return false;
    return mm_client_ip_parse(text, out, NULL, 0) == MM_OK;
}

/*
 * The client address an X-Forwarded-For chain yields, for a trusted peer (docs/protocol.md section 2):
 * the header values joined in order into one list, walked from the right; each trusted proxy
 * is skipped; the first address that is not trusted is the client. An entry that is no address
 * ends the walk at the last address walked; if every entry is trusted the leftmost one walked
 * is the answer (as nginx's real_ip_recursive). addr/out hold the peer on entry and are
 * replaced by what the walk yields. Each byte is looked at a bounded number of times, and
 * nothing is copied but one entry (at most 60 bytes), so a long list costs linear time.
 */
static void
xff_walk(const mm_front_config *cfg, const h2o_iovec_t *xff, size_t n_xff, uint8_t addr[16], char out[MM_IP_TEXT_LEN])
{
    for (size_t h = n_xff; h-- > 0;) {
        const char *v = xff[h].base;
        size_t end = xff[h].len;
        if (v == NULL)
            return; /* an empty header: an empty entry */
        for (;;) {
            size_t start = end;
            while (start > 0 && v[start - 1] != ',')
                start--;
            uint8_t a[16];
            char text[MM_IP_TEXT_LEN];
            if (!xff_entry(v + start, end - start, a, text))
                return;
            memcpy(addr, a, 16);
            memcpy(out, text, MM_IP_TEXT_LEN);
            if (!trusted(cfg, a))
                return;
            if (start == 0)
                break;
            end = start - 1; /* before the comma */
        }
    }
}

void
mm__front_origin_resolve(const mm_front_config *cfg, const struct sockaddr *peer, const h2o_iovec_t *xff, size_t n_xff,
                         const char *query, size_t query_len, mm__front_origin *out)
{
    uint8_t addr[16] = {0};
    memset(out, 0, sizeof(*out));
    if (peer == NULL || !sockaddr_bytes(peer, addr)) {
        snprintf(out->error, sizeof(out->error), "the connection has no IP address");
        return;
    }
    /* an IPv4 client of a dual-stack socket shows as ::ffff:a.b.c.d: report it as IPv4 */
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char text[MM_IP_TEXT_LEN];
    if (memcmp(addr, mapped, 12) == 0)
        inet_ntop(AF_INET, addr + 12, text, sizeof(text));
    else
        inet_ntop(AF_INET6, addr, text, sizeof(text));
    if (mm_client_ip_parse(text, out->net_ip, NULL, 0) != MM_OK) {
        snprintf(out->error, sizeof(out->error), "the connection has no usable IP address");
        return;
    }
    if (n_xff > 0 && trusted(cfg, addr))
        xff_walk(cfg, xff, n_xff, addr, out->net_ip);
    key_of(addr, out->key);
    if (query == NULL || !cfg->client_ip_override)
        return;
    char raw[128];
    bool malformed;
    if (mm__front_query_param(query, query_len, "client_ip", raw, sizeof(raw), &malformed) && raw[0] != '\0') {
        if (mm_client_ip_parse(raw, out->query_ip, NULL, 0) != MM_OK) {
            snprintf(out->error, sizeof(out->error), "client_ip is not an IPv4 or IPv6 address");
            return;
        }
        out->has_query_ip = true;
    } else if (malformed) {
        snprintf(out->error, sizeof(out->error), "client_ip is not an IPv4 or IPv6 address");
    }
}

void
mm__front_origin_from_req(const mm_front_config *cfg, h2o_req_t *req, mm__front_origin *out)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    const struct sockaddr *peer = NULL;
    if (req->conn->callbacks->get_peername != NULL && req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss) > 0)
        peer = (const struct sockaddr *)&ss;
    /* every X-Forwarded-For header, in order (a proxy such as HAProxy adds one of its own) */
    size_t n_xff = 0;
    for (ssize_t h = -1; (h = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-forwarded-for"), h)) >= 0;)
        n_xff++;
    h2o_iovec_t *xff = n_xff > 0 ? h2o_mem_alloc_pool(&req->pool, n_xff * sizeof(*xff)) : NULL;
    n_xff = 0;
    for (ssize_t h = -1; xff != NULL && (h = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-forwarded-for"), h)) >= 0;)
        xff[n_xff++] = req->headers.entries[h].value;
    const char *query = NULL;
    size_t query_len = 0;
    if (req->query_at != SIZE_MAX) {
        query = req->path.base + req->query_at + 1;
        query_len = req->path.len - req->query_at - 1;
    }
    mm__front_origin_resolve(cfg, peer, xff, n_xff, query, query_len, out);
}

mm_err
mm__front_origin_client_ip(const mm_front_config *cfg, const mm__front_origin *o, const char *json_ip, char out[MM_IP_TEXT_LEN],
                           char *why, size_t why_len)
{
    const char *ip = o->net_ip;
    if (cfg->client_ip_override && o->has_query_ip)
        ip = o->query_ip;
    else if (cfg->client_ip_override && json_ip != NULL && json_ip[0] != '\0')
        ip = json_ip;
    return mm_client_ip_resolve(ip, cfg->fake_ip, out, NULL, why, why_len);
}

bool
mm__front_key_exempt(const mm_front_config *cfg, const uint8_t key[16])
{
    for (size_t i = 0; i < cfg->n_exempt; i++)
        if (mm__front_cidr_contains(&cfg->exempt[i], key))
            return true;
    return false;
}

bool
mm__front_peer_key(const mm_front_config *cfg, const struct sockaddr *peer, uint8_t key[16], bool *is_trusted)
{
    uint8_t addr[16];
    if (peer == NULL || !sockaddr_bytes(peer, addr))
        return false;
    key_of(addr, key);
    *is_trusted = trusted(cfg, addr);
    return true;
}
