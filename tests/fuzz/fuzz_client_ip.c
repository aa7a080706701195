/*
 * libFuzzer driver for the web front's client address rules (src/net/front/client_ip.c and the
 * CIDR half of config.c). Byte 0 picks the target:
 *   0  mm__front_origin_resolve + mm__front_origin_client_ip: a TCP peer, trusted proxies,
 *      X-Forwarded-For, a query string and a JSON client_ip, all fuzzed
 *   1  mm__front_cidr_parse and mm__front_cidr_contains
 *   2  mm__front_query_param with a small output buffer
 * Each answer must equal that of a reference written here from the rules in docs/protocol.md section 2
 * and client_ip.c's header comment: strict parsing of the overrides (an element with anything
 * but an address between its separators, a NUL included, is refused), X-Forwarded-For only
 * from a trusted peer, its headers (the fuzzed bytes split at '\n') joined into one list and
 * walked from the right past trusted proxies, stopping at an entry that is no address (the
 * forms ip, ip:port, [v6], [v6]:port with spaces or tabs around), the query before the JSON
 * field, loopback to the fake IP. Whatever is
 * accepted must be canonical text that inet_pton takes back unchanged. Raw header and query
 * bytes are passed in exactly sized heap blocks, so ASan sees any read past their length.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "front_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(bool ok, const char *what)
{
    if (ok)
        return;
    fprintf(stderr, "fuzz_client_ip: %s\n", what);
    abort();
}

/* ---- reference ---- */

/* Parses an address into its 16-byte form (IPv4 mapped) and canonical text. */
static bool
ref_ip(const char *text, uint8_t addr[16], char canon[INET6_ADDRSTRLEN], bool *v4)
{
    uint8_t b[16];
    if (inet_pton(AF_INET, text, b) == 1) {
        memset(addr, 0, 10);
        addr[10] = addr[11] = 0xff;
        memcpy(addr + 12, b, 4);
        *v4 = true;
        return inet_ntop(AF_INET, b, canon, INET6_ADDRSTRLEN) != NULL;
    }
    if (inet_pton(AF_INET6, text, b) == 1) {
        memcpy(addr, b, 16);
        *v4 = false;
        return inet_ntop(AF_INET6, b, canon, INET6_ADDRSTRLEN) != NULL;
    }
    return false;
}

/* Canonical text of a byte range that must be an address exactly (no NUL inside). */
static bool
ref_ip_bytes(const char *s, size_t n, uint8_t addr[16], char canon[INET6_ADDRSTRLEN])
{
    if (n == 0 || memchr(s, '\0', n) != NULL)
        return false;
    char *text = malloc(n + 1);
    memcpy(text, s, n);
    text[n] = '\0';
    bool v4, ok = ref_ip(text, addr, canon, &v4);
    free(text);
    return ok;
}

static bool
ref_loopback(const uint8_t a[16])
{
    static const uint8_t one[16] = {[15] = 1}, mapped[12] = {[10] = 0xff, [11] = 0xff};
    return memcmp(a, one, 16) == 0 || (memcmp(a, mapped, 12) == 0 && a[12] == 127);
}

static bool
ref_contains(const uint8_t net[16], unsigned prefix, const uint8_t a[16])
{
    for (unsigned bit = 0; bit < prefix; bit++)
        if (((net[bit / 8] ^ a[bit / 8]) >> (7 - bit % 8)) & 1)
            return false;
    return true;
}

static int
hex(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The first name=value pair of the query named name: 0 absent, 1 found (out set), -1 malformed
 * (a broken escape, a NUL raw or escaped, or a value of out_len bytes or more). */
static int
ref_query(const char *q, size_t n, const char *name, char *out, size_t out_len)
{
    size_t at = 0, nlen = strlen(name);
    while (at < n) {
        size_t end = at;
        while (end < n && q[end] != '&')
            end++;
        size_t key_end = at;
        while (key_end < end && q[key_end] != '=')
            key_end++;
        if (key_end - at == nlen && memcmp(q + at, name, nlen) == 0) {
            size_t k = 0;
            for (size_t i = key_end + 1; i < end; i++) {
                int c = (unsigned char)q[i];
                if (c == '+') {
                    c = ' ';
                } else if (c == '%') {
                    if (i + 2 >= end || hex(q[i + 1]) < 0 || hex(q[i + 2]) < 0)
                        return -1;
                    c = hex(q[i + 1]) << 4 | hex(q[i + 2]);
                    i += 2;
                }
                if (c == '\0' || k + 1 >= out_len)
                    return -1;
                out[k++] = (char)c;
            }
            out[k] = '\0';
            return 1;
        }
        at = end + 1;
    }
    return 0;
}

/* ---- target 0: origin and client IP ---- */

typedef struct expectation {
    const char *error; /* NULL: no error; else a prefix of the product's reason */
    char net_ip[INET6_ADDRSTRLEN];
    uint8_t key[16];
    bool has_query_ip;
    char query_ip[INET6_ADDRSTRLEN];
} expectation;

static bool
ref_trusted(const mm_front_config *cfg, const uint8_t a[16])
{
    bool trusted = false;
    for (size_t i = 0; i < cfg->n_proxies; i++)
        trusted = trusted || ref_contains(cfg->proxies[i].addr, cfg->proxies[i].prefix, a);
    return trusted;
}

static bool
ref_port(const char *s, size_t n)
{
    if (n < 1 || n > 5 || strspn(s, "0123456789") < n)
        return false;
    return strtoul(s, NULL, 10) <= 65535;
}

/* One X-Forwarded-For entry: trimmed, then the whole, or [v6] with an optional :port, or
 * v4:port (split at the last colon). */
static bool
ref_entry(const char *s, size_t n, uint8_t addr[16], char canon[INET6_ADDRSTRLEN])
{
    while (n > 0 && (s[0] == ' ' || s[0] == '\t'))
        s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0 || memchr(s, '\0', n) != NULL)
        return false;
    char *text = malloc(n + 1);
    memcpy(text, s, n);
    text[n] = '\0';
    bool v4 = false, ok = ref_ip(text, addr, canon, &v4);
    char *close = strchr(text, ']'), *colon = strrchr(text, ':');
    if (!ok && text[0] == '[' && close != NULL) {
        *close = '\0';
        ok = (close[1] == '\0' || (close[1] == ':' && ref_port(close + 2, strlen(close + 2)))) &&
             ref_ip(text + 1, addr, canon, &v4) && !v4;
    } else if (!ok && text[0] != '[' && colon != NULL) {
        *colon = '\0';
        ok = ref_port(colon + 1, strlen(colon + 1)) && ref_ip(text, addr, canon, &v4) && v4;
    }
    free(text);
    return ok;
}

static void
expect_origin(const mm_front_config *cfg, const uint8_t peer[16], const char *xff, size_t xff_len,
              const char *query, size_t query_len, expectation *e)
{
    memset(e, 0, sizeof(*e));
    uint8_t addr[16];
    memcpy(addr, peer, 16);
    if (memcmp(peer, (const uint8_t[12]){[10] = 0xff, [11] = 0xff}, 12) == 0)
        inet_ntop(AF_INET, peer + 12, e->net_ip, sizeof(e->net_ip));
    else
        inet_ntop(AF_INET6, peer, e->net_ip, sizeof(e->net_ip));
    if (xff != NULL && ref_trusted(cfg, peer)) {
        /* the entries left to right: the headers' values (split at '\n') split at ',' */
        size_t n = 1;
        for (size_t i = 0; i < xff_len; i++)
            n += xff[i] == ',' || xff[i] == '\n';
        size_t *from = malloc(n * sizeof(*from)), *to = malloc(n * sizeof(*to)), k = 0;
        from[0] = 0;
        for (size_t i = 0; i < xff_len; i++)
            if (xff[i] == ',' || xff[i] == '\n') {
                to[k++] = i;
                from[k] = i + 1;
            }
        to[k] = xff_len;
        for (size_t i = n; i-- > 0;) {
            uint8_t a[16];
            char canon[INET6_ADDRSTRLEN];
            if (!ref_entry(xff + from[i], to[i] - from[i], a, canon))
                break;
            memcpy(addr, a, 16);
            memcpy(e->net_ip, canon, sizeof(canon));
            if (!ref_trusted(cfg, a))
                break;
        }
        free(from);
        free(to);
    }
    memcpy(e->key, addr, 16);
    if (memcmp(addr, (const uint8_t[12]){[10] = 0xff, [11] = 0xff}, 12) != 0)
        memset(e->key + 8, 0, 8);
    if (query == NULL || !cfg->client_ip_override)
        return;
    char raw[128];
    int found = ref_query(query, query_len, "client_ip", raw, sizeof(raw));
    uint8_t a[16];
    if (found < 0 || (found > 0 && raw[0] != '\0' && !ref_ip_bytes(raw, strlen(raw), a, e->query_ip)))
        e->error = "client_ip";
    else
        e->has_query_ip = found > 0 && raw[0] != '\0';
}

static void
fuzz_origin(const uint8_t *d, size_t n)
{
    if (n < 20)
        return;
    uint8_t flags = d[0], how = d[1];
    bool v4 = flags & 1;
    mm_front_config cfg;
    mm_front_config_init(&cfg);
    cfg.client_ip_override = !(flags & 8);
    if ((flags & 6) == 2) { /* trust everyone: ::/0 */
        cfg.n_proxies = 1;
        memset(&cfg.proxies[0], 0, sizeof(cfg.proxies[0]));
    } else if ((flags & 6) == 4) {
        cfg.n_proxies = 0;
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    uint8_t peer[16] = {[10] = 0xff, [11] = 0xff};
    if (v4) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        memcpy(&s4->sin_addr, d + 2, 4);
        memcpy(peer + 12, d + 2, 4);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = how & 0x80 ? AF_UNIX : AF_INET6;
        memcpy(&s6->sin6_addr, d + 2, 16);
        memcpy(peer, d + 2, 16);
    }
    /* then two lengths, the X-Forwarded-For bytes, the JSON client_ip, and the query string */
    size_t at = 20, rest = n - 20;
    size_t xff_len = d[18] < rest ? d[18] : rest;
    size_t json_len = d[19] < rest - xff_len ? d[19] : rest - xff_len;
    char *xff = (flags & 0x10) ? NULL : malloc(xff_len ? xff_len : 1);
    if (xff != NULL)
        memcpy(xff, d + at, xff_len);
    char *json = malloc(json_len + 1);
    memcpy(json, d + at + xff_len, json_len);
    json[json_len] = '\0';
    at += xff_len + json_len;
    size_t query_len = n - at;
    char *query = (flags & 0x20) ? NULL : malloc(query_len ? query_len : 1);
    if (query != NULL)
        memcpy(query, d + at, query_len);

    /* the X-Forwarded-For bytes are the values of several headers, split at '\n' (which a header
     * value cannot hold), each passed without the others' bytes around it */
    h2o_iovec_t hdr[256];
    size_t n_hdr = 0;
    for (size_t i = 0, start = 0; xff != NULL && i <= xff_len; i++)
        if (i == xff_len || xff[i] == '\n') {
            hdr[n_hdr++] = h2o_iovec_init(xff + start, i - start);
            start = i + 1;
        }
    mm__front_origin o;
    memset(&o, 0x5a, sizeof(o)); /* what the product does not set shows */
    mm__front_origin_resolve(&cfg, (const struct sockaddr *)&ss, hdr, n_hdr, query, query_len, &o);
    check(memchr(o.error, '\0', sizeof(o.error)) != NULL, "the error is not terminated");
    if (ss.ss_family == AF_UNIX) {
        check(o.error[0] != '\0', "a peer without an IP address was accepted");
        goto cleanup;
    }
    expectation e;
    expect_origin(&cfg, peer, xff, xff_len, query, query_len, &e);
    if (e.error != NULL || o.error[0] != '\0') {
        if (e.error == NULL || strstr(o.error, e.error) == NULL)
            fprintf(stderr, "want error %s, got \"%s\"\n", e.error ? e.error : "(none)", o.error);
        check(e.error != NULL && strstr(o.error, e.error) != NULL, "refusal differs from the reference");
        goto cleanup;
    }
    if (strcmp(o.net_ip, e.net_ip) != 0)
        fprintf(stderr, "want net_ip %s, got %.64s\n", e.net_ip, o.net_ip);
    check(strcmp(o.net_ip, e.net_ip) == 0, "net_ip differs from the reference");
    check(memcmp(o.key, e.key, 16) == 0, "the limits key differs from the reference");
    check(o.has_query_ip == e.has_query_ip && (!e.has_query_ip || strcmp(o.query_ip, e.query_ip) == 0),
          "the query client_ip differs from the reference");

    /* the backend's client IP */
    const char *json_ip = (flags & 0x40) ? NULL : json;
    char ip[MM_IP_TEXT_LEN], why[128], canon[INET6_ADDRSTRLEN];
    mm_err err = mm__front_origin_client_ip(&cfg, &o, json_ip, ip, why, sizeof(why));
    const char *want = e.net_ip;
    if (cfg.client_ip_override && e.has_query_ip)
        want = e.query_ip;
    else if (cfg.client_ip_override && json_ip != NULL && json_ip[0] != '\0')
        want = json_ip;
    uint8_t a[16];
    bool ok = ref_ip_bytes(want, strlen(want), a, canon);
    check((err == MM_OK) == ok, "the client IP is accepted or refused unlike the reference");
    if (!ok) {
        check(memchr(why, '\0', sizeof(why)) != NULL && why[0] != '\0', "a refusal without a reason");
        goto cleanup;
    }
    if (ref_loopback(a))
        snprintf(canon, sizeof(canon), "%s", cfg.fake_ip);
    check(strcmp(ip, canon) == 0, "the client IP differs from the reference");
    bool v4ip;
    char again[INET6_ADDRSTRLEN];
    check(ref_ip(ip, a, again, &v4ip) && strcmp(ip, again) == 0 && !ref_loopback(a), "the client IP is not canonical");
cleanup:
    free(xff);
    free(json);
    free(query);
}

/* ---- target 1: CIDR ranges ---- */

static void
fuzz_cidr(const uint8_t *d, size_t n)
{
    if (n < 16)
        return;
    char *text = malloc(n - 16 + 1);
    memcpy(text, d + 16, n - 16);
    text[n - 16] = '\0';
    mm_front_cidr c;
    char why[160];
    mm_err err = mm__front_cidr_parse(text, &c, why, sizeof(why));

    /* reference: ADDRESS or ADDRESS/BITS, BITS decimal digits within the family's width */
    char *slash = strchr(text, '/');
    if (slash != NULL)
        *slash = '\0';
    uint8_t net[16];
    char canon[INET6_ADDRSTRLEN];
    bool v4 = false, ok = ref_ip(text, net, canon, &v4);
    unsigned long bits = v4 ? 32 : 128;
    if (ok && slash != NULL) {
        const char *p = slash + 1;
        ok = *p != '\0' && strspn(p, "0123456789") == strlen(p);
        for (bits = 0; ok && *p != '\0'; p++)
            if ((bits = bits * 10 + (unsigned long)(*p - '0')) > (v4 ? 32u : 128u))
                ok = false;
    }
    check((err == MM_OK) == ok, "a CIDR range is accepted or refused unlike the reference");
    if (!ok) {
        check(memchr(why, '\0', sizeof(why)) != NULL && why[0] != '\0', "a refusal without a reason");
        free(text);
        return;
    }
    unsigned prefix = v4 ? 96 + (unsigned)bits : (unsigned)bits;
    for (unsigned bit = prefix; bit < 128; bit++)
        net[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
    check(c.prefix == prefix && memcmp(c.addr, net, 16) == 0, "a CIDR range differs from the reference");
    check(mm__front_cidr_contains(&c, c.addr), "a range does not contain its own address");
    check(mm__front_cidr_contains(&c, d) == ref_contains(net, prefix, d), "containment differs from the reference");
    free(text);
}

/* ---- target 2: the query parameter reader ---- */

static void
fuzz_query(const uint8_t *d, size_t n)
{
    if (n < 3)
        return;
    size_t out_len = 1 + d[0] % 40, name_len = d[1] % 12;
    if (name_len > n - 2)
        name_len = n - 2;
    char name[12];
    memcpy(name, d + 2, name_len);
    name[name_len] = '\0';
    size_t qn = n - 2 - name_len;
    char *q = malloc(qn ? qn : 1), out[64], want[64];
    memcpy(q, d + 2 + name_len, qn);
    bool malformed;
    memset(out, 0x5a, sizeof(out));
    bool got = mm__front_query_param(q, qn, name, out, out_len, &malformed);
    int ref = ref_query(q, qn, name, want, out_len);
    if ((ref == 1) != got || (ref < 0) != malformed)
        fprintf(stderr, "name \"%s\" out_len %zu: want %d, got %d (malformed %d)\n", name, out_len, ref, got, malformed);
    check((ref == 1) == got && (ref < 0) == malformed, "the query reader disagrees with the reference");
    if (got)
        check(strcmp(out, want) == 0, "a query value differs from the reference");
    free(q);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        fuzz_origin(data + 1, size - 1);
        break;
    case 1:
        fuzz_cidr(data + 1, size - 1);
        break;
    default:
        fuzz_query(data + 1, size - 1);
        break;
    }
    return 0;
}
