/*
 * Game-server addresses as text: "IPV4:PORT" or "[IPV6]:PORT", numeric only (a connect token
 * carries addresses, so host names would have to be resolved first, which is the caller's
 * business). Splitting host and port is mm_parse_host_port's job; this adds the address parse.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "mm/parse.h"
#include "token_internal.h"

mm_err
mm_token_address_parse(const char *text, mm_token_address *addr, char *why, size_t why_len)
{
    if (text == NULL || addr == NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "no address given");
    char host[INET6_ADDRSTRLEN + 1];
    uint16_t port = 0;
    char sub[160];
    if (mm_parse_host_port(text, host, sizeof(host), &port, sub, sizeof(sub)) != MM_OK)
        return mm_fail(MM_ERR_INVALID, why, why_len, "%s", sub);
    mm_token_address a = {.port = port};
    if (text[0] == '[') {
        if (inet_pton(AF_INET6, host, a.ip) != 1)
            return mm_fail(MM_ERR_INVALID, why, why_len, "'%.60s' is not an IPv6 address", host);
        a.family = 6;
    } else {
        if (inet_pton(AF_INET, host, a.ip) != 1)
            return mm_fail(MM_ERR_INVALID, why, why_len,
                           "'%.60s' is not an IPv4 address (write IPv6 as [ADDR]:PORT; host names are not resolved)", host);
        a.family = 4;
    }
    *addr = a;
    return MM_OK;
}

void
mm_token_address_format(const mm_token_address *addr, char *buf, size_t len)
{
    if (buf == NULL || len == 0)
        return;
    char host[INET6_ADDRSTRLEN];
    if (addr == NULL || (addr->family != 4 && addr->family != 6) ||
        inet_ntop(addr->family == 4 ? AF_INET : AF_INET6, addr->ip, host, sizeof(host)) == NULL) {
        snprintf(buf, len, "(invalid address)");
        return;
    }
    snprintf(buf, len, addr->family == 4 ? "%s:%u" : "[%s]:%u", host, (unsigned)addr->port);
}
