/*
 * Strict number and address parsers (include/mm/parse.h). strtoull alone accepts leading
 * spaces, a sign and "-1" as a huge number; these refuse all of that and say why.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/log.h"
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

/* ---- flag tables ---- */

/* An ENUM flag's field is written as an int: the enums it is used for are int-sized. */
_Static_assert(sizeof(mm_log_level) == sizeof(int) && sizeof(mm_log_format) == sizeof(int), "enum flags are int-sized");

const mm_opt_choice mm_opt_log_levels[] = {
    {"debug", MM_LOG_DEBUG}, {"info", MM_LOG_INFO}, {"warn", MM_LOG_WARN}, {"error", MM_LOG_ERROR}, {NULL, 0},
};
const mm_opt_choice mm_opt_log_formats[] = {{"text", MM_LOG_TEXT}, {"json", MM_LOG_JSON}, {NULL, 0}};

const mm_opt *
mm_opt_find(const mm_opt_table *tables, size_t n_tables, const char *name, const mm_opt_table **table)
{
    if (name == NULL)
        return NULL;
    if (strncmp(name, "--", 2) == 0)
        name += 2;
    for (size_t t = 0; t < n_tables; t++)
        for (size_t i = 0; i < tables[t].n; i++)
            if (strcmp(tables[t].opts[i].name + 2, name) == 0) {
                if (table != NULL)
                    *table = &tables[t];
                return &tables[t].opts[i];
            }
    return NULL;
}

/* "a, b or c" */
static void
choices_text(const mm_opt_choice *c, char *buf, size_t len)
{
    size_t used = 0, n = 0;
    while (c[n].name != NULL)
        n++;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < len; i++) {
        int w = snprintf(buf + used, len - used, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ", c[i].name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

mm_err
mm_opt_apply(const mm_opt *o, void *opts, const char *value, char *why, size_t why_len)
{
    char reason[200];
    char *field = (char *)opts + o->offset;
    if (o->metavar != NULL && value == NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "%s: needs a value", o->name);
    if (o->metavar == NULL && value != NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "%s: takes no value", o->name);
    switch (o->kind) {
    case MM_OPT_U64:
    case MM_OPT_U32:
    case MM_OPT_INT: {
        uint64_t v = 0;
        if (mm_parse_u64(value, o->min, o->max, &v, reason, sizeof(reason)) != MM_OK)
            return mm_fail(MM_ERR_INVALID, why, why_len, "%s: %s", o->name, reason);
        if (o->kind == MM_OPT_U64)
            memcpy(field, &v, sizeof(uint64_t));
        else if (o->kind == MM_OPT_U32)
            *(uint32_t *)(void *)field = (uint32_t)v;
        else
            *(int *)(void *)field = (int)v;
        return MM_OK;
    }
    case MM_OPT_I64: {
        int64_t v = 0;
        if (mm_parse_i64(value, (int64_t)o->min, (int64_t)o->max, &v, reason, sizeof(reason)) != MM_OK)
            return mm_fail(MM_ERR_INVALID, why, why_len, "%s: %s", o->name, reason);
        memcpy(field, &v, sizeof(v));
        return MM_OK;
    }
    case MM_OPT_STR:
        memcpy(field, &value, sizeof(value));
        return MM_OK;
    case MM_OPT_SWITCH:
        *(bool *)(void *)field = true;
        return MM_OK;
    case MM_OPT_ENUM:
        for (const mm_opt_choice *c = o->choices; c->name != NULL; c++)
            if (strcmp(c->name, value) == 0) {
                *(int *)(void *)field = c->value;
                return MM_OK;
            }
        choices_text(o->choices, reason, sizeof(reason));
        return mm_fail(MM_ERR_INVALID, why, why_len, "%s: must be %s", o->name, reason);
    case MM_OPT_CUSTOM:
        reason[0] = '\0';
        if (o->set(opts, value, reason, sizeof(reason)) != MM_OK)
            return mm_fail(MM_ERR_INVALID, why, why_len, "%s: %s", o->name, reason[0] != '\0' ? reason : "bad value");
        return MM_OK;
    }
    return mm_fail(MM_ERR_INVALID, why, why_len, "%s: unknown kind of flag", o->name);
}

int
mm_opts_parse(const mm_opt_table *tables, size_t n_tables, void *opts, int argc, char **argv, char *why, size_t why_len)
{
    mm_args args;
    mm_flag fl;
    char reason[160];
    int got;
    mm_args_init(&args, argc, argv);
    while ((got = mm_args_flag(&args, &fl, reason, sizeof(reason))) != 0) {
        if (got < 0) {
            mm_fail(MM_ERR_INVALID, why, why_len, "command line: %s", reason);
            return -1;
        }
        if (strcmp(fl.name, "--help") == 0)
            return 1;
        const mm_opt_table *t = NULL;
        const mm_opt *o = mm_opt_find(tables, n_tables, fl.name, &t);
        if (o == NULL) {
            mm_fail(MM_ERR_INVALID, why, why_len, "%s: unknown flag", fl.name);
            return -1;
        }
        const char *value = o->metavar != NULL ? mm_args_value(&args, &fl) : fl.inline_value;
        if (mm_opt_apply(o, (char *)opts + t->base, value, why, why_len) != MM_OK)
            return -1;
    }
    return 0;
}

/* The default of o as --help shows it, from the defaults' field; "" for none. */
static void
default_text(const mm_opt *o, const char *field, char *buf, size_t len)
{
    buf[0] = '\0';
    if (o->def != NULL) {
        snprintf(buf, len, "%s", o->def);
        return;
    }
    if (field == NULL)
        return;
    switch (o->kind) {
    case MM_OPT_U64: {
        uint64_t v;
        memcpy(&v, field, sizeof(v));
        snprintf(buf, len, "%llu", (unsigned long long)v);
        break;
    }
    case MM_OPT_U32:
        snprintf(buf, len, "%lu", (unsigned long)*(const uint32_t *)(const void *)field);
        break;
    case MM_OPT_INT:
        snprintf(buf, len, "%d", *(const int *)(const void *)field);
        break;
    case MM_OPT_I64: {
        int64_t v;
        memcpy(&v, field, sizeof(v));
        snprintf(buf, len, "%lld", (long long)v);
        break;
    }
    case MM_OPT_STR: {
        const char *s;
        memcpy(&s, field, sizeof(s));
        if (s != NULL)
            snprintf(buf, len, "%s", s);
        break;
    }
    case MM_OPT_ENUM:
        for (const mm_opt_choice *c = o->choices; c->name != NULL; c++)
            if (c->value == *(const int *)(const void *)field) {
                snprintf(buf, len, "%s", c->name);
                break;
            }
        break;
    default:
        break;
    }
}

/* Whether a table before tables[t] names the flag too: it parses the flag, and lists it. */
static bool
shadowed(const mm_opt_table *tables, size_t t, const char *name)
{
    for (size_t e = 0; e < t; e++)
        for (size_t i = 0; i < tables[e].n; i++)
            if (strcmp(tables[e].opts[i].name, name) == 0)
                return true;
    return false;
}

/* The lines of tables[first..n_tables), each flag once: tables[0..first) are listed elsewhere. */
static size_t
usage_from(const mm_opt_table *tables, size_t first, size_t n_tables, const void *defaults, int width, char *buf, size_t len)
{
    size_t used = 0;
    if (buf == NULL || len == 0)
        return 0;
    buf[0] = '\0';
    for (size_t t = first; t < n_tables; t++)
        for (size_t i = 0; i < tables[t].n; i++) {
            const mm_opt *o = &tables[t].opts[i];
            if (shadowed(tables, t, o->name))
                continue;
            char head[96], def[128];
            snprintf(head, sizeof(head), "%s%s%s", o->name, o->metavar != NULL ? " " : "", o->metavar != NULL ? o->metavar : "");
            default_text(o, defaults != NULL ? (const char *)defaults + tables[t].base + o->offset : NULL, def, sizeof(def));
            int n = snprintf(buf + used, len - used, "  %-*s %s%s%s%s\n", width, head, o->help, def[0] != '\0' ? " (default " : "",
                             def, def[0] != '\0' ? ")" : "");
            if (n < 0 || (size_t)n >= len - used) {
                buf[used] = '\0';
                return used;
            }
            used += (size_t)n;
        }
    return used;
}

size_t
mm_opts_usage(const mm_opt_table *tables, size_t n_tables, const void *defaults, int width, char *buf, size_t len)
{
    return usage_from(tables, 0, n_tables, defaults, width, buf, len);
}

int
mm_opts_cli_parse(const mm_opts_cli *cli, void *opts, int argc, char **argv)
{
    char why[320];
    cli->init(opts);
    int rc = mm_opts_parse(cli->tables, cli->n_tables, opts, argc, argv, why, sizeof(why));
    if (rc < 0) {
        fprintf(stderr, "%s: %s (see --help)\n", cli->prog, why);
        return 2;
    }
    if (rc == 0)
        return 0;
    void *defaults = malloc(cli->size);
    char *text = malloc(8192);
    if (defaults != NULL && text != NULL) {
        cli->init(defaults);
        fputs(cli->head, stdout);
        usage_from(cli->tables, 0, cli->n_own, defaults, cli->width, text, 8192);
        fputs(text, stdout);
        printf("  %-*s %s\n", cli->width, "--help", "this text");
        if (cli->n_tables > cli->n_own) {
            fputs(cli->more, stdout);
            usage_from(cli->tables, cli->n_own, cli->n_tables, defaults, cli->more_width, text, 8192);
            fputs(text, stdout);
        }
    }
    free(text);
    free(defaults);
    return 1;
}
