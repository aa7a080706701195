/*
 * Strict number and address parsers (include/mm/parse.h). strtoull alone accepts leading
 * spaces, a sign and "-1" as a huge number; these refuse all of that and say why.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/parse.h"

mm_err
mm_parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out, char *why, size_t why_len)
{
    if (text == NULL || *text == '\0')
        return mm_fail(MM_ERR_INVALID, why, why_len, "empty value, expected a whole number");
    for (const char *p = text; *p != '\0'; p++)
        if (*p < '0' || *p > '9')
            return mm_fail(MM_ERR_INVALID, why, why_len, "'%.40s' is not a whole number", text);
    errno = 0;
    unsigned long long v = strtoull(text, NULL, 10);
    if (errno == ERANGE)
        return mm_fail(MM_ERR_INVALID, why, why_len, "'%.40s' is too large (max %llu)", text, (unsigned long long)max);
    if (v < min || v > max)
        return mm_fail(MM_ERR_INVALID, why, why_len, "%llu is out of range %llu..%llu", v, (unsigned long long)min,
                       (unsigned long long)max);
    *out = v;
    return MM_OK;
}

mm_err
mm_parse_i64(const char *text, int64_t min, int64_t max, int64_t *out, char *why, size_t why_len)
{
    if (text == NULL || *text == '\0')
        return mm_fail(MM_ERR_INVALID, why, why_len, "empty value, expected a whole number");
    const char *p = text;
    if (*p == '-')
        p++;
    if (*p == '\0')
        return mm_fail(MM_ERR_INVALID, why, why_len, "'%.40s' is not a whole number", text);
    for (; *p != '\0'; p++)
        if (*p < '0' || *p > '9')
            return mm_fail(MM_ERR_INVALID, why, why_len, "'%.40s' is not a whole number", text);
    errno = 0;
    long long v = strtoll(text, NULL, 10);
    if (errno == ERANGE)
        return mm_fail(MM_ERR_INVALID, why, why_len, "'%.40s' is out of range", text);
    if (v < min || v > max)
        return mm_fail(MM_ERR_INVALID, why, why_len, "%lld is out of range %lld..%lld", v, (long long)min, (long long)max);
    *out = v;
    return MM_OK;
}

mm_err
mm_parse_host_port(const char *text, char *host, size_t host_len, uint16_t *port, char *why, size_t why_len)
{
    if (text == NULL || *text == '\0')
        return mm_fail(MM_ERR_INVALID, why, why_len, "empty address, expected HOST:PORT");
    const char *host_start = text, *host_end, *colon;
    if (*text == '[') {
        host_start = text + 1;
        host_end = strchr(host_start, ']');
        if (host_end == NULL || host_end[1] != ':')
            return mm_fail(MM_ERR_INVALID, why, why_len, "'%.60s' is not [IPV6]:PORT", text);
        colon = host_end + 1;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL)
            return mm_fail(MM_ERR_INVALID, why, why_len, "'%.60s' has no port, expected HOST:PORT", text);
        if (memchr(text, ':', (size_t)(colon - text)) != NULL)
            return mm_fail(MM_ERR_INVALID, why, why_len, "'%.60s': write IPv6 addresses as [ADDR]:PORT", text);
        host_end = colon;
    }
    size_t n = (size_t)(host_end - host_start);
    if (n == 0)
        return mm_fail(MM_ERR_INVALID, why, why_len, "'%.60s' has an empty host", text);
    if (n >= host_len)
        return mm_fail(MM_ERR_INVALID, why, why_len, "host in '%.60s' is too long", text);
    uint64_t p;
    char sub[128];
    if (mm_parse_u64(colon + 1, 1, 65535, &p, sub, sizeof(sub)) != MM_OK)
        return mm_fail(MM_ERR_INVALID, why, why_len, "bad port in '%.60s': %s", text, sub);
    memcpy(host, host_start, n);
    host[n] = '\0';
    *port = (uint16_t)p;
    return MM_OK;
}

void
mm_args_init(mm_args *a, int argc, char **argv)
{
    a->argc = argc;
    a->argv = argv;
    a->next = 1;
}

int
mm_args_flag(mm_args *a, mm_flag *f, char *why, size_t why_len)
{
    f->name[0] = '\0';
    f->inline_value = NULL;
    if (a->next >= a->argc)
        return 0;
    const char *arg = a->argv[a->next++];
    if (strcmp(arg, "-h") == 0)
        arg = "--help";
    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0' || arg[2] == '=') {
        mm_fail(MM_ERR_INVALID, why, why_len, "'%.60s' is not a flag (flags look like --name VALUE or --name=VALUE)", arg);
        return -1;
    }
    const char *eq = strchr(arg, '=');
    size_t n = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
    if (n >= sizeof(f->name)) {
        mm_fail(MM_ERR_INVALID, why, why_len, "'%.60s...': flag name too long", arg);
        return -1;
    }
    memcpy(f->name, arg, n);
    f->name[n] = '\0';
    f->inline_value = eq != NULL ? eq + 1 : NULL;
    return 1;
}

const char *
mm_args_value(mm_args *a, const mm_flag *f)
{
    if (f->inline_value != NULL)
        return f->inline_value;
    if (a->next >= a->argc)
        return NULL;
    return a->argv[a->next++];
}
