/* What the detector's command-line tools share: bounded number options and the detector
 * settings options of `watch nab` and `watch bench`, and the clocks they time with. */
#include "cli/cli_tools.h"
#include "watch/synth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int cli_tools_u64(const char *opt, const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long x = v ? strtoull(v, &end, 10) : 0;
    if (!v || errno || !end || *end || end == v || x < lo || x > hi || v[0] == '-') {
        cli_error("%s wants a whole number from %llu to %llu", opt, (unsigned long long)lo,
                  (unsigned long long)hi);
        return -EINVAL;
    }
    *out = x;
    return 0;
}

int cli_tools_dbl(const char *opt, const char *v, double lo, double hi, double *out)
{
    char *end = NULL;
    errno = 0;
    double x = v ? strtod(v, &end) : 0;
    if (!v || errno || !end || *end || end == v || !(x > lo && x < hi)) {
        cli_error("%s wants a number strictly between %g and %g", opt, lo, hi);
        return -EINVAL;
    }
    *out = x;
    return 0;
}

double cli_tools_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* CPU time of the calling thread: on a shared machine it moves far less than the wall clock. */
double cli_tools_cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Options shared by `watch nab` and `watch bench`: detector settings. 1 = consumed, 0 = not a
 * settings option, -1 = bad value. */
int cli_tools_setting(cbad_settings_t *s, const char *a, const char *v)
{
    uint64_t x;
    double d;
    struct {
        const char *name;
        uint32_t *dst;
        uint64_t lo, hi;
    } ints[] = {{"--baseline", &s->baseline, 2, CBAD_BASELINE_MAX},
                {"--window", &s->window, 1, CBAD_WINDOW_MAX},
                {"--hop", &s->hop, 1, CBAD_WINDOW_MAX},
                {"--permutations", &s->permutations, 0, CBAD_PERMUTATIONS_MAX},
                {"--symbols", &s->symbols, 2, 64},
                {"--rare-template", &s->rare_template, 0, 1000000}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (strcmp(a, ints[i].name) == 0) {
            if (cli_tools_u64(a, v, ints[i].lo, ints[i].hi, &x) < 0)
                return -1;
            *ints[i].dst = (uint32_t)x;
            return 1;
        }
    if (strcmp(a, "--level") == 0) {
        if (cli_tools_u64(a, v, 1, 19, &x) < 0)
            return -1;
        s->level = (int)x;
        return 1;
    }
    if (strcmp(a, "--fold") == 0) {
        if (!v || (strcmp(v, "on") != 0 && strcmp(v, "off") != 0)) {
            cli_error("--fold wants on or off");
            return -1;
        }
        s->fold = strcmp(v, "on") == 0;
        return 1;
    }
    if (strcmp(a, "--rare-history") == 0) {
        if (!v || (strcmp(v, "on") != 0 && strcmp(v, "off") != 0)) {
            cli_error("--rare-history wants on or off");
            return -1;
        }
        s->rare_history = strcmp(v, "on") == 0;
        return 1;
    }
    if (strcmp(a, "--seed") == 0) {
        if (cli_tools_u64(a, v, 0, UINT64_MAX, &x) < 0)
            return -1;
        s->seed = x;
        return 1;
    }
    double *dd = strcmp(a, "--ncd-threshold") == 0     ? &s->ncd_threshold
                 : strcmp(a, "--flood-threshold") == 0 ? &s->flood_threshold
                 : strcmp(a, "--p-threshold") == 0     ? &s->p_threshold
                                                       : NULL;
    if (dd) {
        if (cli_tools_dbl(a, v, 0.0, 1.0, &d) < 0)
            return -1;
        *dd = d;
        return 1;
    }
    return 0;
}

int cli_tools_kinds(const char *v, uint32_t *mask)
{
    if (strcmp(v, "all") == 0) {
        *mask = SYNTH_ALL_ANOMALIES;
        return 0;
    }
    if (strcmp(v, "none") == 0) {
        *mask = 0;
        return 0;
    }
    *mask = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        synth_kind_t k;
        if (synth_kind_parse(t, &k) < 0 || k == SYNTH_NORMAL) {
            cli_error("unknown anomaly kind '%s' (see %s)", t, "ganglion synth --help");
            return -EINVAL;
        }
        *mask |= 1u << k;
    }
    return 0;
}
