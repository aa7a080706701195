/*
 * mm_ceilings: command line of the raw-ceiling helper of bench/baseline.sh (modes and their
 * output in bench/ceilings.h). Figures only; nothing here passes or fails except on errors.
 *
 *   mm_ceilings ws-server --listen HOST:PORT
 *   mm_ceilings nats --server HOST:PORT [--user U --password P] [--seconds S]
 *   mm_ceilings edgegap-time --url http://HOST:PORT --api-key-env NAME [--app A] --rate R --seconds S
 *   mm_ceilings edgegap-get-cost --url http://HOST:PORT --api-key-env NAME [--app A] [--sessions N]
 *               [--burst K] [--every-ms MS] [--seconds S]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ceilings.h"
#include "mm/parse.h"

static int
usage(FILE *to, int status)
{
    fprintf(to, "usage: mm_ceilings ws-server --listen HOST:PORT\n"
                "       mm_ceilings nats --server HOST:PORT [--user U] [--password-env NAME] [--seconds S (2)]\n"
                "       mm_ceilings edgegap-time --url http://HOST:PORT --api-key-env NAME [--app NAME (bevygap-spaceships)]\n"
                "                    [--rate R (200)] [--seconds S (5)]\n"
                "       mm_ceilings edgegap-get-cost --url http://HOST:PORT --api-key-env NAME [--app NAME (bevygap-spaceships)]\n"
                "                    [--sessions N (2000)] [--burst K (40)] [--every-ms MS (50)] [--seconds S (8)]\n"
                "Raw ceilings for bench/baseline.sh; each measuring mode prints one JSON object on stdout.\n");
    return status;
}

static int
compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void
mm__ceil_percentiles(uint64_t *samples, size_t n, char *buf, size_t len)
{
    if (n == 0) {
        snprintf(buf, len, "\"p50\": null, \"p90\": null, \"p99\": null, \"max\": null");
        return;
    }
    qsort(samples, n, sizeof(*samples), compare_u64);
    const double q[3] = {0.50, 0.90, 0.99};
    double v[3];
    for (int i = 0; i < 3; i++) { /* nearest rank: the ceil(q n)-th smallest */
        size_t rank = (size_t)(q[i] * (double)n + 0.999999);
        v[i] = (double)samples[(rank ? rank : 1) - 1] / 1000.0;
    }
    snprintf(buf, len, "\"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"max\": %.3f", v[0], v[1], v[2],
             (double)samples[n - 1] / 1000.0);
}

/* Parses "--name value" pairs after the mode into the named slots; 0 on success. */
static int
take_flags(int argc, char **argv, const char *const *names, const char **values, int n)
{
    for (int i = 2; i < argc; i += 2) {
        int k = 0;
        while (k < n && strcmp(argv[i], names[k]) != 0)
            k++;
        if (k == n || i + 1 >= argc) {
            fprintf(stderr, "mm_ceilings: %s: unknown flag or missing value\n", argv[i]);
            return -1;
        }
        values[k] = argv[i + 1];
    }
    return 0;
}

static int
seconds_of(const char *text, double max, double *out)
{
    char *end = NULL;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || !(v > 0) || v > max) {
        fprintf(stderr, "mm_ceilings: %s: want a number above 0, at most %g\n", text, max);
        return -1;
    }
    *out = v;
    return 0;
}

static const char *
env_value(const char *name, const char *what)
{
    const char *v = name ? getenv(name) : NULL;
    if (name != NULL && v == NULL)
        fprintf(stderr, "mm_ceilings: %s: environment variable %s is not set\n", what, name);
    return v;
}

int
main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr, 2);
    const char *mode = argv[1];
    char host[256], why[160];
    uint16_t port = 0;
    if (strcmp(mode, "--help") == 0 || strcmp(mode, "-h") == 0)
        return usage(stdout, 0);
    if (strcmp(mode, "ws-server") == 0) {
        static const char *const names[] = {"--listen"};
        const char *v[1] = {NULL};
        if (take_flags(argc, argv, names, v, 1) != 0 || v[0] == NULL)
            return usage(stderr, 2);
        if (mm_parse_host_port(v[0], host, sizeof(host), &port, why, sizeof(why)) != MM_OK) {
            fprintf(stderr, "mm_ceilings: --listen: %s\n", why);
            return 2;
        }
        return mm__ceil_ws_server(host, port);
    }
    if (strcmp(mode, "nats") == 0) {
        static const char *const names[] = {"--server", "--user", "--password-env", "--seconds"};
        const char *v[4] = {NULL, NULL, NULL, "2"};
        double seconds = 0;
        if (take_flags(argc, argv, names, v, 4) != 0 || v[0] == NULL)
            return usage(stderr, 2);
        if (mm_parse_host_port(v[0], host, sizeof(host), &port, why, sizeof(why)) != MM_OK) {
            fprintf(stderr, "mm_ceilings: --server: %s\n", why);
            return 2;
        }
        const char *password = env_value(v[2], "--password-env");
        if ((v[2] != NULL && password == NULL) || seconds_of(v[3], 600, &seconds) != 0)
            return 2;
        return mm__ceil_nats(host, port, v[1], password, seconds);
    }
    if (strcmp(mode, "edgegap-time") == 0) {
        static const char *const names[] = {"--url", "--api-key-env", "--app", "--rate", "--seconds"};
        const char *v[5] = {NULL, NULL, "bevygap-spaceships", "200", "5"};
        double rate = 0, seconds = 0;
        if (take_flags(argc, argv, names, v, 5) != 0 || v[0] == NULL || v[1] == NULL)
            return usage(stderr, 2);
        const char *key = env_value(v[1], "--api-key-env");
        if (key == NULL || seconds_of(v[3], 100000, &rate) != 0 || seconds_of(v[4], 600, &seconds) != 0)
            return 2;
        return mm__ceil_edgegap_time(v[0], key, v[2], rate, seconds);
    }
    if (strcmp(mode, "edgegap-get-cost") == 0) {
        static const char *const names[] = {"--url", "--api-key-env", "--app", "--sessions", "--burst", "--every-ms", "--seconds"};
        const char *v[7] = {NULL, NULL, "bevygap-spaceships", "2000", "40", "50", "8"};
        uint64_t sessions = 0, burst = 0, every = 0;
        double seconds = 0;
        if (take_flags(argc, argv, names, v, 7) != 0 || v[0] == NULL || v[1] == NULL)
            return usage(stderr, 2);
        const char *key = env_value(v[1], "--api-key-env");
        if (key == NULL || seconds_of(v[6], 600, &seconds) != 0)
            return 2;
        if (mm_parse_u64(v[3], 1, 100000, &sessions, why, sizeof(why)) != MM_OK ||
            mm_parse_u64(v[4], 1, 10000, &burst, why, sizeof(why)) != MM_OK ||
            mm_parse_u64(v[5], 1, 60000, &every, why, sizeof(why)) != MM_OK) {
            fprintf(stderr, "mm_ceilings: edgegap-get-cost: %s\n", why);
            return 2;
        }
        return mm__ceil_edgegap_get_cost(v[0], key, v[2], (uint32_t)sessions, (uint32_t)burst, (uint32_t)every, seconds);
    }
    fprintf(stderr, "mm_ceilings: unknown mode %s\n", mode);
    return usage(stderr, 2);
}
