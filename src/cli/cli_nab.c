/* `ganglion watch nab`: runs the detector over the NAB corpus and writes NAB's result layout. */
#include "cli/cli_nab_num.h"
#include "cli/cli_tools.h"
#include "watch/cbad.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CLI_NAB_BASELINES_MAX 4

enum { CLI_NAB_NUM, CLI_NAB_CBAD };

/* The settings `watch nab` starts from (chosen by the NAB score, see docs/watch.md). */
static void cli_nab_defaults(cbad_settings_t *s)
{
    cbad_settings_default(s);
    s->type = CBAD_STREAM_METRICS;
    s->baseline = 200;
    s->window = 4;
    s->hop = 1;
    s->permutations = 0;
    s->symbols = 26;
    s->level = 3;
}

typedef struct {
    const char *data_dir, *out_dir, *name;
    cbad_settings_t s;
    json_t *labels;
    size_t short_n, history_n;                 /* score calibration (cli_nab_calibrate) */
    uint32_t baselines[CLI_NAB_BASELINES_MAX]; /* one detector per baseline length */
    size_t n_baselines;
    bool calibrate;     /* false: write the raw NCD(W|B) (for tuning) */
    int detector;       /* CLI_NAB_NUM (default) or CLI_NAB_CBAD */
    num_settings_t num; /* the numeric detector's settings */
    double quiet_level; /* suppression after a detection (cli_nab_suppress) */
    size_t quiet_rows;
    double quiet_share;
    char **files; /* "category/file.csv" */
    size_t n_files;
    size_t next;
    int failed;
    pthread_mutex_t mu;
} cli_nab_t;

static int cli_nab_mkdirs(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* Per-series calibration of the window scores, seeing only the past: the mean of the last
 * short_n scores against the mean and spread of the history_n scores before them, turned into a
 * Gaussian upper-tail probability p and written as -log10(p)/10 clamped to [0,1], in place. Rows
 * before the first window, or with too little history, get NAN (no score). A detector's raw score
 * means different things on a quiet and a noisy series; the tail probability means the same
 * everywhere, so one corpus-wide threshold fits. */
static void cli_nab_calibrate(double *x, size_t n, size_t first, size_t short_n, size_t hist_n)
{
    double *out = malloc(sizeof *out * (n ? n : 1));
    if (!out)
        return;
    for (size_t i = 0; i < n; i++) {
        out[i] = NAN; /* no score yet: too little history */
        if (i < first + short_n + 30)
            continue;
        double sm = 0.0;
        for (size_t k = i + 1 - short_n; k <= i; k++)
            sm += x[k];
        sm /= (double)short_n;
        size_t hi = i + 1 - short_n, lo = hi > first + hist_n ? hi - hist_n : first;
        double mu = 0.0, var = 0.0;
        for (size_t k = lo; k < hi; k++)
            mu += x[k];
        mu /= (double)(hi - lo);
        for (size_t k = lo; k < hi; k++)
            var += (x[k] - mu) * (x[k] - mu);
        var /= (double)(hi - lo);
        double sd = sqrt(var) > 1e-6 ? sqrt(var) : 1e-6;
        /* -log10 of the upper tail, over 10: 0.5 at p = 1e-5, 1 at p = 1e-10 and beyond. */
        double tail = 0.5 * erfc((sm - mu) / (sd * sqrt(2.0)));
        double sc = tail > 0 ? -log10(tail) / 10.0 : 1.0;
        out[i] = sc < 0 ? 0 : sc > 1 ? 1 : sc;
    }
    memcpy(x, out, sizeof *out * n);
    free(out);
}

/* Suppression after a detection, seeing only the past: once a row's calibrated score reaches
 * `level`, the following max(rows, share x the rows seen so far) rows score 0. NAB rewards only
 * the first detection inside a window and charges every detection outside one, so the rows right
 * after a detection can only cost: inside the window they add nothing, after it they are false
 * positives. The share lets a long stream, whose incidents last longer in rows, stay quiet
 * longer. In place. */
static void cli_nab_suppress(double *x, size_t n, double level, size_t rows, double share)
{
    size_t quiet_until = 0;
    bool quiet = false;
    if (rows == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        if (quiet && i <= quiet_until) {
            x[i] = 0.0;
            continue;
        }
        quiet = false;
        size_t span = (size_t)(share * (double)i);
        span = span > rows ? span : rows;
        if (x[i] >= level) {
            quiet = true;
            quiet_until = i + span;
        }
    }
}

/* The window NCD(W|B) of every row of one series under settings s (a row before the first
 * window scores 0, a row after it the latest window's NCD), into out[0..n); *first is the first
 * row with a window. With permutations off, the calibration supplies what the test would. */
static int cli_nab_series(const cbad_settings_t *s, const double *val, size_t n, cbad_scratch_t *sc,
                          double *out, size_t *first)
{
    cbad_t *d = NULL;
    int rc = cbad_new(s, &d);
    double score = 0.0;
    *first = n;
    for (size_t i = 0; i < n && rc == 0; i++) {
        int r = cbad_push_value(d, val[i]);
        if (r == 1) {
            cbad_job_t *j = NULL;
            cbad_result_t res;
            if ((rc = cbad_job_take(d, &j)) == 0 && (rc = cbad_job_run(j, sc, &res)) == 0) {
                score = res.ncd;
                cbad_result_clear(&res);
                if (*first == n)
                    *first = i;
            }
            cbad_job_destroy(&j);
        } else if (r < 0) {
            rc = r;
        }
        out[i] = score;
    }
    cbad_destroy(&d);
    return rc;
}

static int cli_nab_one(cli_nab_t *nb, const char *rel, cbad_scratch_t *sc)
{
    char in[PATH_MAX], out[PATH_MAX], dir[PATH_MAX];
    const char *slash = strchr(rel, '/');
    if (!slash)
        return -EINVAL;
    int w1 = snprintf(in, sizeof in, "%s/%s", nb->data_dir, rel);
    int w2 =
        snprintf(dir, sizeof dir, "%s/%s/%.*s", nb->out_dir, nb->name, (int)(slash - rel), rel);
    if (w1 < 0 || (size_t)w1 >= sizeof in || w2 < 0 || (size_t)w2 + 2 >= sizeof dir / 2)
        return -ENAMETOOLONG;
    snprintf(out, sizeof out, "%.2000s/%.200s_%.1000s", dir, nb->name, slash + 1);
    if (cli_nab_mkdirs(dir) < 0)
        return -EIO;
    FILE *f = fopen(in, "r");
    if (!f)
        return -errno;
    size_t cap = 4096, n = 0;
    char **ts = malloc(cap * sizeof *ts), **vs = malloc(cap * sizeof *vs);
    double *val = malloc(cap * sizeof *val);
    char line[512];
    int rc = 0;
    bool header = true;
    while (ts && vs && val && fgets(line, sizeof line, f)) {
        if (header) {
            header = false;
            continue;
        }
        line[strcspn(line, "\r\n")] = '\0';
        char *comma = strchr(line, ',');
        if (!comma)
            continue;
        *comma = '\0';
        if (n == cap) {
            cap *= 2;
            char **t2 = realloc(ts, cap * sizeof *ts);
            if (t2)
                ts = t2;
            char **v2 = realloc(vs, cap * sizeof *vs);
            if (v2)
                vs = v2;
            double *d2 = realloc(val, cap * sizeof *val);
            if (d2)
                val = d2;
            if (!t2 || !v2 || !d2) {
                rc = -ENOMEM;
                break;
            }
        }
        ts[n] = strdup(line);
        vs[n] = strdup(comma + 1);
        val[n] = strtod(comma + 1, NULL);
        if (!ts[n] || !vs[n] || !isfinite(val[n])) {
            free(ts[n]);
            free(vs[n]);
            rc = -EINVAL;
            break;
        }
        n++;
    }
    fclose(f);
    if (!ts || !vs || !val)
        rc = -ENOMEM;
    json_t *lab = json_object_get(nb->labels, rel);
    FILE *o = NULL;
    if (rc == 0) {
        o = fopen(out, "w");
        if (!o)
            rc = -errno;
    }
    double *raw = rc == 0 ? calloc(n ? n : 1, sizeof *raw) : NULL;
    double *one = rc == 0 ? calloc(n ? n : 1, sizeof *one) : NULL;
    if (rc == 0 && (!raw || !one))
        rc = -ENOMEM;
    bool want_cbad = nb->detector == CLI_NAB_CBAD || nb->num.w_compress > 0;
    if (rc == 0 && want_cbad) {
        /* One detector per baseline length; a row scores the least of their calibrated scores
         * (or, uncalibrated, the mean of their NCDs): the window must be new to a short memory,
         * which follows level changes, and to a long one, which spans a daily cycle. */
        for (size_t b = 0; b < nb->n_baselines && rc == 0; b++) {
            cbad_settings_t s = nb->s;
            s.baseline = nb->baselines[b];
            size_t first = 0;
            if ((rc = cli_nab_series(&s, val, n, sc, one, &first)) < 0)
                break;
            if (nb->calibrate)
                cli_nab_calibrate(one, n, first, nb->short_n, nb->history_n);
            for (size_t i = 0; i < n; i++) {
                if (!nb->calibrate)
                    raw[i] = b == 0 ? one[i] / (double)nb->n_baselines
                                    : raw[i] + one[i] / (double)nb->n_baselines;
                else if (b == 0 || isnan(raw[i]) || one[i] < raw[i])
                    raw[i] = one[i]; /* a detector without a score yet has no say */
            }
        }
        for (size_t i = 0; i < n && nb->detector == CLI_NAB_CBAD; i++)
            if (isnan(raw[i]))
                raw[i] = 0.0;
    }
    if (rc == 0 && nb->detector == CLI_NAB_NUM)
        rc = cli_nab_num_series(&nb->num, val, want_cbad ? raw : NULL, n, raw);
    if (rc == 0) {
        fputs("timestamp,value,anomaly_score,label\n", o);
        if (nb->calibrate && nb->detector == CLI_NAB_CBAD)
            cli_nab_suppress(raw, n, nb->quiet_level, nb->quiet_rows, nb->quiet_share);
        for (size_t i = 0; i < n; i++) {
            int label = 0;
            size_t k;
            json_t *t;
            json_array_foreach(lab, k, t)
            {
                const char *ls = json_string_value(t);
                if (ls && strncmp(ls, ts[i], 19) == 0)
                    label = 1;
            }
            fprintf(o, "%s,%s,%.9f,%d\n", ts[i], vs[i], raw[i], label);
        }
        if (fclose(o) != 0 && rc == 0)
            rc = -EIO;
    } else if (o) {
        fclose(o);
    }
    free(raw);
    free(one);
    for (size_t i = 0; i < n; i++) {
        free(ts[i]);
        free(vs[i]);
    }
    free(ts);
    free(vs);
    free(val);
    return rc;
}

static void *cli_nab_worker(void *arg)
{
    cli_nab_t *nb = arg;
    cbad_scratch_t *sc = NULL;
    if (cbad_scratch_new(&sc) < 0) {
        pthread_mutex_lock(&nb->mu);
        nb->failed = 1;
        pthread_mutex_unlock(&nb->mu);
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock(&nb->mu);
        size_t i = nb->next < nb->n_files ? nb->next++ : nb->n_files;
        pthread_mutex_unlock(&nb->mu);
        if (i >= nb->n_files)
            break;
        int rc = cli_nab_one(nb, nb->files[i], sc);
        if (rc < 0) {
            cli_error("%s: %s", nb->files[i], strerror(-rc));
            pthread_mutex_lock(&nb->mu);
            nb->failed = 1;
            pthread_mutex_unlock(&nb->mu);
        }
    }
    cbad_scratch_destroy(&sc);
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void cli_nab_usage(const cli_ctx_t *ctx)
{
    printf(
        "usage: %s watch nab DATA_DIR OUT_DIR [--labels FILE] [--name NAME] [--threads N]\n"
        "       [--detector num|cbad]\n"
        "       num:  [--num-warmup N] [--num-bins N] [--num-context N] [--num-w-extreme X]\n"
        "             [--num-outer X] [--num-threshold X] [--num-rest N] [--num-rest-share X]\n"
        "             [--num-w-compress X] [--num-w-delta X] [--num-w-residual X] [--num-rare N]\n"
        "             [--num-shifted yes|no] [--num-ent-window N] [--num-ent-bits X] "
        "[--num-w-entropy X]\n"
        "       cbad: [--baseline N] [--window N] [--hop N] [--permutations N] [--symbols N]\n"
        "             [--baselines N,N..] [--level N] [--short N] [--history N]\n"
        "             [--calibrate yes|no] [--quiet-level X] [--quiet-rows N] [--quiet-share X]\n\n"
        "Runs a detector over every NAB series (DATA_DIR/<category>/<file>.csv) and writes\n"
        "OUT_DIR/<name>/<category>/<name>_<file>.csv with columns\n"
        "timestamp,value,anomaly_score,label; a row's score sees only rows up to it; label is 1\n"
        "at the timestamps of combined_labels.json (default:\n"
        "DATA_DIR/../labels/combined_labels.json), for the reader only.\n"
        "--detector num (default): the numeric-series detector: each value is quantised with a\n"
        "step of 1/--num-bins of the first --num-warmup values' range; the score is the share\n"
        "of its contexts (the last 1..--num-context steps) never seen before, plus\n"
        "--num-w-extreme when it lies beyond every earlier value, plus --num-w-entropy x the\n"
        "bits per point by which the last --num-ent-window rows are more surprising than the\n"
        "rows before them, over --num-ent-bits (optionally plus the weighted compression score,\n"
        "step-context novelty or level residual); a row scoring at least\n"
        "--num-threshold is a detection and the next max(--num-rest, --num-rest-share x rows\n"
        "seen) rows score 0.\n"
        "--detector cbad: the compression view: one detector per --baselines length, each\n"
        "window's NCD(W|B) calibrated per series (the mean of the last --short scores against\n"
        "the --history before them, as -log10 of a Gaussian tail over 10), the row scoring the\n"
        "least of its detectors' (--calibrate no: the mean raw NCD); once a row reaches\n"
        "--quiet-level the next max(--quiet-rows, --quiet-share x rows seen) rows score 0.\n"
        "Score the result with tools/nab_score.py.\n\n"
        "Defaults (tuned on the NAB score): num: warmup 150, bins 9, context 3, w-extreme 0.3,\n"
        "outer 4, threshold 0.9, rest 50, rest share 0.05, other weights 0; cbad: baselines "
        "200,400,\n"
        "window 4, hop 1, permutations 0, symbols 26, zstd level 3, short 2, history 1000,\n"
        "quiet level 0.2, quiet rows 75, quiet share 0.05; name ganglion, threads = CPUs.\n"
        "bench/nab/run (or make nab) runs and scores the whole corpus.\n\n"
        "example:\n"
        "  %s watch nab ../shared/data/nab/data /tmp/nab-results\n"
        "  python3 tools/nab_score.py /tmp/nab-results \\\n"
        "      --windows ../shared/data/nab/labels/combined_windows.json\n\n",
        ctx->prog, ctx->prog);
}

/* "200,400" -> nb->baselines. 0 or -1 (empty, too many, or out of range). */
static int cli_nab_parse_baselines(const char *v, cli_nab_t *nb)
{
    size_t k = 0;
    const char *p = v;
    while (*p) {
        char *end;
        errno = 0;
        unsigned long x = strtoul(p, &end, 10);
        if (end == p || errno || x < 2 || x > CBAD_BASELINE_MAX || k == CLI_NAB_BASELINES_MAX)
            return -1;
        nb->baselines[k++] = (uint32_t)x;
        if (*end == ',' && end[1])
            end++;
        else if (*end)
            return -1;
        p = end;
    }
    if (k == 0)
        return -1;
    nb->n_baselines = k;
    return 0;
}

int cli_watch_nab(cli_ctx_t *ctx, int argc, char **argv)
{
    if (argc < 3 || cli_wants_help(argc, argv)) {
        cli_nab_usage(ctx);
        return argc < 3 && !cli_wants_help(argc, argv) ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    cli_nab_t nb = {.data_dir = argv[1], .out_dir = argv[2], .name = "ganglion"};
    nb.short_n = 2;
    nb.history_n = 1000;
    nb.baselines[0] = 200;
    nb.baselines[1] = 400;
    nb.n_baselines = 2;
    nb.calibrate = true;
    nb.quiet_level = 0.2;
    nb.quiet_rows = 75;
    nb.quiet_share = 0.05;
    cli_nab_defaults(&nb.s);
    num_settings_default(&nb.num);
    const char *labels = NULL;
    uint64_t threads = (uint64_t)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1 || threads > 64)
        threads = 2;
    for (int i = 3; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int r = cli_tools_setting(&nb.s, a, v);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r == 1) {
            if (strcmp(a, "--baseline") == 0) {
                nb.baselines[0] = nb.s.baseline;
                nb.n_baselines = 1;
            }
            continue;
        }
        int nr = cli_nab_num_option(&nb.num, a, v);
        if (nr < 0)
            return CLI_EXIT_USAGE;
        if (nr == 1)
            continue;
        if (strcmp(a, "--detector") == 0 && v &&
            (strcmp(v, "num") == 0 || strcmp(v, "cbad") == 0)) {
            nb.detector = strcmp(v, "num") == 0 ? CLI_NAB_NUM : CLI_NAB_CBAD;
        } else if (strcmp(a, "--baselines") == 0 && v) {
            if (cli_nab_parse_baselines(v, &nb) < 0) {
                cli_error("--baselines wants 1 to %d lengths between 2 and %d, comma-separated",
                          CLI_NAB_BASELINES_MAX, CBAD_BASELINE_MAX);
                return CLI_EXIT_USAGE;
            }
        } else if (strcmp(a, "--labels") == 0 && v) {
            labels = v;
        } else if (strcmp(a, "--name") == 0 && v && v[0] && !strchr(v, '/')) {
            nb.name = v;
        } else if (strcmp(a, "--threads") == 0) {
            if (cli_tools_u64(a, v, 1, 64, &threads) < 0)
                return CLI_EXIT_USAGE;
        } else if (strcmp(a, "--calibrate") == 0 && v &&
                   (strcmp(v, "yes") == 0 || strcmp(v, "no") == 0)) {
            nb.calibrate = strcmp(v, "yes") == 0;
        } else if (strcmp(a, "--quiet-level") == 0 || strcmp(a, "--quiet-share") == 0) {
            if (cli_tools_dbl(a, v, 0.0, 1.0, a[8] == 'l' ? &nb.quiet_level : &nb.quiet_share) < 0)
                return CLI_EXIT_USAGE;
        } else if (strcmp(a, "--quiet-rows") == 0) {
            uint64_t x;
            if (cli_tools_u64(a, v, 0, 100000, &x) < 0)
                return CLI_EXIT_USAGE;
            nb.quiet_rows = (size_t)x;
        } else if (strcmp(a, "--short") == 0 || strcmp(a, "--history") == 0) {
            uint64_t x;
            if (cli_tools_u64(a, v, 1, 100000, &x) < 0)
                return CLI_EXIT_USAGE;
            *(a[2] == 's' ? &nb.short_n : &nb.history_n) = (size_t)x;
        } else {
            cli_error("unknown or incomplete option '%s' (see %s watch nab --help)", a, ctx->prog);
            return CLI_EXIT_USAGE;
        }
    }
    const char *field, *reason;
    if (num_settings_check(&nb.num, &field, &reason) < 0) {
        cli_error("--num %s %s", field, reason);
        return CLI_EXIT_USAGE;
    }
    for (size_t b = 0; b < nb.n_baselines; b++) {
        cbad_settings_t s = nb.s;
        s.baseline = nb.baselines[b];
        if (cbad_settings_check(&s, &field, &reason) < 0) {
            cli_error("%s %s", field, reason);
            return CLI_EXIT_USAGE;
        }
    }
    char lpath[PATH_MAX];
    if (!labels) {
        snprintf(lpath, sizeof lpath, "%s/../labels/combined_labels.json", nb.data_dir);
        labels = lpath;
    }
    json_error_t jerr;
    nb.labels = json_load_file(labels, 0, &jerr);
    if (!json_is_object(nb.labels)) {
        cli_error("cannot read labels %s: %s", labels, jerr.text);
        json_decref(nb.labels);
        return CLI_EXIT_USAGE;
    }
    /* Every <category>/<file>.csv under DATA_DIR, sorted. */
    size_t cap = 0;
    DIR *top = opendir(nb.data_dir);
    if (!top) {
        cli_error("cannot open %s: %s", nb.data_dir, strerror(errno));
        json_decref(nb.labels);
        return CLI_EXIT_USAGE;
    }
    struct dirent *de;
    while ((de = readdir(top))) {
        if (de->d_name[0] == '.')
            continue;
        char sub[PATH_MAX];
        snprintf(sub, sizeof sub, "%s/%s", nb.data_dir, de->d_name);
        DIR *dd = opendir(sub);
        if (!dd)
            continue;
        struct dirent *fe;
        while ((fe = readdir(dd))) {
            size_t l = strlen(fe->d_name);
            if (l < 5 || strcmp(fe->d_name + l - 4, ".csv") != 0)
                continue;
            if (nb.n_files == cap) {
                cap = cap ? cap * 2 : 64;
                char **f2 = realloc(nb.files, cap * sizeof *nb.files);
                if (!f2)
                    break;
                nb.files = f2;
            }
            if (asprintf(&nb.files[nb.n_files], "%s/%s", de->d_name, fe->d_name) >= 0)
                nb.n_files++;
        }
        closedir(dd);
    }
    closedir(top);
    qsort(nb.files, nb.n_files, sizeof *nb.files, cmp_str);
    pthread_mutex_init(&nb.mu, NULL);
    double t0 = cli_tools_now();
    pthread_t th[64];
    size_t started = 0;
    for (size_t i = 0; i < threads; i++)
        if (pthread_create(&th[started], NULL, cli_nab_worker, &nb) == 0)
            started++;
    if (started == 0)
        cli_nab_worker(&nb);
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&nb.mu);
    fprintf(stderr, "%zu series scored in %.1f s with %zu threads -> %s/%s\n", nb.n_files,
            cli_tools_now() - t0, started ? started : 1, nb.out_dir, nb.name);
    for (size_t i = 0; i < nb.n_files; i++)
        free(nb.files[i]);
    free(nb.files);
    json_decref(nb.labels);
    return nb.failed || nb.n_files == 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
