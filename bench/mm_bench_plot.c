/*
 * --plot FILE.png (mm_bench.h): the per-second timeline drawn by gnuplot (Debian's gnuplot-nox,
 * installed by deploy/install-deps.sh), so a person sees a run at a glance: on top the
 * time-to-ready percentiles of each second (log scale); in the middle the started (a shaded
 * area, visible under equal lines) / ready / not-ready rates with the requests in flight on the
 * right axis; at the bottom the not-ready requests of each second by class (error_429,
 * error_503, timeout, ...: why they failed). A second's figures are drawn across that
 * second (x = t .. t+1); the in-flight count is the one at its end. The data and the script go to private
 * temporary files that are removed afterwards; gnuplot runs as a child and its exit status is
 * checked. A missing gnuplot is a clear error, never a silent missing picture.
 */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mm/url.h"
#include "mm_bench.h"

extern char **environ;

/* A private temporary file "<tmpdir>/mm_bench_<what>_XXXXXX<suffix>", opened for writing. */
static FILE *
temp_file(const char *what, const char *suffix, char *path, size_t len)
{
    const char *dir = getenv("TMPDIR");
    if (dir == NULL || dir[0] == '\0')
        dir = "/tmp";
    int n = snprintf(path, len, "%s/mm_bench_%s_XXXXXX%s", dir, what, suffix);
    if (n < 0 || (size_t)n >= len)
        return NULL;
    int fd = mkstemps(path, (int)strlen(suffix));
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        unlink(path);
    }
    return f;
}

#define PLOT_CODES 8 /* Error codes drawn apart in the bottom panel; the rest as error_other */

/* The failure classes the bottom panel draws: the Error codes seen, then the other classes. */
struct classes {
    uint16_t codes[PLOT_CODES];
    size_t code_count;
    int code_other;                         /* some Errors fall in error_other */
    int outcome[MM_BENCH_OUTCOME_COUNT];    /* non-Error classes seen */
    size_t count;                           /* columns */
};

static void
classes_find(const mm_bench_stats *st, struct classes *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < st->second_count; i++) {
        const mm_bench_second *r = &st->seconds[i];
        for (size_t k = 0; k < r->code_count; k++) {
            size_t j = 0;
            while (j < c->code_count && c->codes[j] != r->codes[k])
                j++;
            if (j == c->code_count && j < PLOT_CODES)
                c->codes[c->code_count++] = r->codes[k];
            else if (j == c->code_count)
                c->code_other = 1;
        }
        c->code_other |= r->codes_other > 0;
        for (int o = MM_BENCH_ERR_REFUSED; o < MM_BENCH_OUTCOME_COUNT; o++)
            c->outcome[o] |= r->failed_by[o] > 0;
    }
    c->count = c->code_count + (size_t)c->code_other;
    for (int o = MM_BENCH_ERR_REFUSED; o < MM_BENCH_OUTCOME_COUNT; o++)
        c->count += (size_t)c->outcome[o];
}

/* One row's counts in the class columns' order. */
static void
row_classes(const mm_bench_second *r, const struct classes *c, uint64_t *out)
{
    size_t n = 0;
    uint64_t other = r->codes_other;
    for (size_t j = 0; j < c->code_count; j++) {
        out[n] = 0;
        for (size_t k = 0; k < r->code_count; k++)
            if (r->codes[k] == c->codes[j])
                out[n] = r->code_counts[k];
        n++;
    }
    for (size_t k = 0; k < r->code_count; k++) {
        int drawn = 0;
        for (size_t j = 0; j < c->code_count; j++)
            drawn |= r->codes[k] == c->codes[j];
        other += drawn ? 0 : r->code_counts[k];
    }
    if (c->code_other)
        out[n++] = other;
    for (int o = MM_BENCH_ERR_REFUSED; o < MM_BENCH_OUTCOME_COUNT; o++)
        if (c->outcome[o])
            out[n++] = r->failed_by[o];
}

static int
write_data(FILE *f, const mm_bench_stats *st, const struct classes *c)
{
    uint64_t cols[PLOT_CODES + 1 + MM_BENCH_OUTCOME_COUNT];
    fprintf(f, "# t started ready failed in_flight p50_ms p90_ms p99_ms max_ms, then failures by class\n");
    for (size_t i = 0; i < st->second_count; i++) {
        const mm_bench_second *s = &st->seconds[i];
        fprintf(f, "%zu %llu %llu %llu %llu", i, (unsigned long long)s->started, (unsigned long long)s->ready,
                (unsigned long long)s->failed, (unsigned long long)s->in_flight);
        if (s->ready > 0)
            fprintf(f, " %.3f %.3f %.3f %.3f", s->p50_us / 1000.0, s->p90_us / 1000.0, s->p99_us / 1000.0, s->max_us / 1000.0);
        else
            fprintf(f, " ? ? ? ?");
        row_classes(s, c, cols);
        for (size_t k = 0; k < c->count; k++)
            fprintf(f, " %llu", (unsigned long long)cols[k]);
        fputc('\n', f);
    }
    return ferror(f) ? -1 : 0;
}

/* The bottom panel: one step line per failure class. */
static void
write_classes_plot(FILE *f, const char *data, const struct classes *c, uint64_t top_failed)
{
    static const char *const colors[] = {"#d73027", "#fc8d59", "#91bfdb", "#4575b4", "#1a9850", "#984ea3",
                                         "#a65628", "#f781bf", "#999999", "#e6ab02", "#66a61e", "#e7298a",
                                         "#7570b3", "#d95f02", "#1b9e77", "#000000"};
    char name[32];
    size_t col = 10, n = 0;
    fprintf(f,
            "set title 'not ready per second, by class (why requests failed)'\n"
            "set ylabel 'per second'\n"
            "unset y2label\n"
            "unset y2tics\n"
            "set ytics mirror\n"
            "set yrange [0:%llu]\n"
            "set xlabel 'seconds since the start'\n",
            (unsigned long long)(top_failed + top_failed / 8 + 1));
    if (c->count == 0) {
        fprintf(f, "set label 2 'every request was ready' at graph 0.5, 0.5 center\n"
                   "plot -1 notitle\n");
        return;
    }
    fprintf(f, "plot ");
    for (size_t j = 0; j < c->code_count; j++, n++) {
        snprintf(name, sizeof(name), "error_%u", (unsigned)c->codes[j]);
        fprintf(f, "%s'%s' using ($1+0.5):%zu with histeps lw 2 lc rgb '%s' title '%s'", n ? ", " : "", data, col++,
                colors[n % 16], name);
    }
    if (c->code_other) {
        fprintf(f, "%s'%s' using ($1+0.5):%zu with histeps lw 2 lc rgb '%s' title 'error_other'", n ? ", " : "", data, col++,
                colors[n % 16]);
        n++;
    }
    for (int o = MM_BENCH_ERR_REFUSED; o < MM_BENCH_OUTCOME_COUNT; o++)
        if (c->outcome[o]) {
            fprintf(f, "%s'%s' using ($1+0.5):%zu with histeps lw 2 lc rgb '%s' title '%s'", n ? ", " : "", data, col++,
                    colors[n % 16], mm_bench_outcome_name((mm_bench_outcome)o));
            n++;
        }
    fputc('\n', f);
}

static int
write_script(FILE *f, const char *png, const char *data, const mm_bench_config *cfg, const mm_bench_stats *st,
             const struct classes *classes)
{
    char title[700], url[sizeof(cfg->url)];
    snprintf(title, sizeof(title), "mm_bench %s, %s", mm_url_redact(cfg->url, url, sizeof(url)),
             cfg->mode == MM_BENCH_OPEN_LOOP ? "open loop" : "closed loop");
    for (char *p = title; *p != '\0'; p++)
        if (*p == '\'' || *p == '\\' || (unsigned char)*p < 0x20)
            *p = ' ';
    int any_ready = 0;
    uint64_t top = 1, top_in_flight = 1, top_failed = 1; /* fixed ranges: gnuplot clips a line drawn at its autoscaled top */
    for (size_t i = 0; i < st->second_count; i++) {
        const mm_bench_second *r = &st->seconds[i];
        any_ready |= r->ready > 0;
        top = r->started > top ? r->started : top;
        top = r->ready > top ? r->ready : top;
        top = r->failed > top ? r->failed : top;
        top_failed = r->failed > top_failed ? r->failed : top_failed;
        top_in_flight = r->in_flight > top_in_flight ? r->in_flight : top_in_flight;
    }
    /* keys below each panel, sample then text (a right-justified key inside at the left ran
     * its text past the border); fixed margins so the three x axes line up */
    fprintf(f,
            "set terminal pngcairo size 1200,1350 noenhanced font ',10'\n"
            "set output '%s'\n"
            "set datafile missing '?'\n"
            "set multiplot layout 3,1 title '%s'\n"
            "set grid\n"
            "set key below horizontal Left reverse samplen 3 spacing 1.1\n"
            "set lmargin 12\n"
            "set rmargin 12\n"
            "set xrange [0:%zu]\n"
            "set title 'time-to-ready of the requests that became ready in each second'\n"
            "set ylabel 'ms'\n",
            png, title, st->second_count);
    if (any_ready)
        fprintf(f,
                "set logscale y\n"
                "plot '%s' using ($1+0.5):6 with linespoints pt 7 ps 0.4 title 'p50', '' using ($1+0.5):7 with linespoints pt 7 "
                "ps 0.4 title 'p90', '' using ($1+0.5):8 with linespoints pt 7 ps 0.4 title 'p99', '' using ($1+0.5):9 with "
                "linespoints pt 7 ps 0.4 title 'max'\n"
                "unset logscale y\n",
                data);
    else
        fprintf(f, "set label 1 'no request became ready' at graph 0.5, 0.5 center\n"
                   "plot [] [0:1] -1 notitle\n"
                   "unset label 1\n");
    /* started is a shaded area under the lines, so it shows where ready or not ready equals it */
    fprintf(f,
            "set title 'requests per second (left) and in flight (right)'\n"
            "set ylabel 'per second'\n"
            "set y2label 'in flight'\n"
            "set ytics nomirror\n"
            "set y2tics\n"
            "set yrange [0:%llu]\n"
            "set y2range [0:%llu]\n"
            "set boxwidth 1 absolute\n"
            "plot '%s' using ($1+0.5):2 with boxes fs solid 0.25 noborder lc rgb '#7b3294' title 'started', '' using "
            "($1+0.5):3 with histeps lw 2 lc rgb '#1a9850' title 'ready', '' using ($1+0.5):4 with histeps lw 2 dt 2 lc rgb "
            "'#d73027' title 'not ready', '' using ($1+1):5 axes x1y2 with linespoints dt 3 pt 7 ps 0.4 lc rgb '#4575b4' "
            "title 'in flight (end of second)'\n",
            (unsigned long long)(top + top / 8 + 1), (unsigned long long)(top_in_flight + top_in_flight / 8 + 1), data);
    write_classes_plot(f, data, classes, top_failed);
    fprintf(f, "unset multiplot\n");
    return ferror(f) ? -1 : 0;
}

/* Is there an executable gnuplot on PATH? */
static int
gnuplot_found(void)
{
    const char *path = getenv("PATH");
    char candidate[4096];
    while (path != NULL && *path != '\0') {
        size_t n = strcspn(path, ":");
        if (n > 0 && n < sizeof(candidate) - 9) {
            snprintf(candidate, sizeof(candidate), "%.*s/gnuplot", (int)n, path);
            if (access(candidate, X_OK) == 0)
                return 1;
        }
        path += n + (path[n] == ':');
    }
    return 0;
}

mm_err
mm_bench_plot_check(const char *path, char *why, size_t why_len)
{
    if (strpbrk(path, "'\\\n") != NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "the path must not contain quotes, backslashes or newlines");
    if (!gnuplot_found())
        return mm_fail(MM_ERR_NOTFOUND, why, why_len, "gnuplot is not on PATH (install gnuplot-nox, see deploy/install-deps.sh)");
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return mm_fail(MM_ERR_IO, why, why_len, "cannot write %s: %s", path, strerror(errno));
    fclose(f);
    return MM_OK;
}

mm_err
mm_bench_plot(const char *path, const mm_bench_config *cfg, const mm_bench_stats *st, char *why, size_t why_len)
{
    char data_path[512] = "", script_path[512] = "";
    FILE *data = NULL, *script = NULL;
    mm_err err = MM_ERR_IO;
    if (strpbrk(path, "'\\\n") != NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "the path must not contain quotes, backslashes or newlines");
    data = temp_file("plot", ".dat", data_path, sizeof(data_path));
    script = temp_file("plot", ".gp", script_path, sizeof(script_path));
    if (data == NULL || script == NULL) {
        mm_fail(err, why, why_len, "cannot create a temporary file: %s", strerror(errno));
        goto cleanup;
    }
    struct classes classes;
    classes_find(st, &classes);
    int bad = write_data(data, st, &classes) != 0 || write_script(script, path, data_path, cfg, st, &classes) != 0;
    bad |= fclose(data) != 0;
    bad |= fclose(script) != 0;
    data = script = NULL;
    if (bad) {
        mm_fail(err, why, why_len, "cannot write the plot's temporary files");
        goto cleanup;
    }
    pid_t pid;
    char *argv[] = {"gnuplot", script_path, NULL};
    int rc = posix_spawnp(&pid, "gnuplot", NULL, NULL, argv, environ);
    if (rc != 0) {
        err = mm_fail(rc == ENOENT ? MM_ERR_NOTFOUND : MM_ERR_SYS, why, why_len, "cannot run gnuplot: %s%s", strerror(rc),
                      rc == ENOENT ? " (install gnuplot-nox, see deploy/install-deps.sh)" : "");
        goto cleanup;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        mm_fail(err, why, why_len, "gnuplot failed (status %d) drawing %s", WIFEXITED(status) ? WEXITSTATUS(status) : -1, path);
        goto cleanup;
    }
    err = MM_OK;
cleanup:
    if (data != NULL)
        fclose(data);
    if (script != NULL)
        fclose(script);
    if (data_path[0] != '\0')
        unlink(data_path);
    if (script_path[0] != '\0')
        unlink(script_path);
    return err;
}
