/* The detector's tools: `ganglion synth` writes labelled synthetic traffic (NDJSON, a JSON
 * array or OTLP JSON) or posts it to a daemon; `ganglion watch nab` runs the detector over the
 * NAB corpus in NAB's result layout; `ganglion watch bench` measures it against the full test. */
#include "cli/cli_synth.h"
#include "watch/cbad_priv.h"
#include "watch/synth.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- small helpers ------------------------------------------------------------------------- */

static int cli_tools_u64(const char *opt, const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
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

static int cli_tools_dbl(const char *opt, const char *v, double lo, double hi, double *out)
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

static double cli_tools_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* CPU time of the calling thread: on a shared machine it moves far less than the wall clock. */
static double cli_tools_cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Random bytes are not UTF-8; JSON carries each byte as the code point of the same value. */
static json_t *cli_synth_text(const char *s, size_t len)
{
    json_t *v = json_stringn(s, len);
    if (v)
        return v;
    char *u = malloc(len * 2 + 1);
    if (!u)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            u[n++] = (char)c;
        } else {
            u[n++] = (char)(0xC0 | (c >> 6));
            u[n++] = (char)(0x80 | (c & 0x3F));
        }
    }
    v = json_stringn(u, n);
    free(u);
    return v;
}

/* ---- synth --------------------------------------------------------------------------------- */

static void cli_synth_usage(const cli_ctx_t *ctx)
{
    printf(
        "usage: %s synth [--seed S] [--count N] [--format ndjson|json|otlp]\n"
        "       [--signal logs|metrics] [--anomalies all|none|KIND,KIND...] [--gap N]\n"
        "       [--warmup N] [--stream NAME [--batch N]]\n\n"
        "Writes labelled synthetic traffic: request logs (\"Request completed method=GET\n"
        "path=/api/users status=200 duration_ms=40..59\") or their latency metric, with bursts\n"
        "of injected anomalies. Each event carries its label (\"normal\" or the anomaly kind)\n"
        "and its burst number. The same seed gives the same traffic, byte for byte.\n\n"
        "  --seed S          generator seed (default 1)\n"
        "  --count N         events to write (default 10000)\n"
        "  --format F        ndjson (default; one event a line), json (one array) or otlp\n"
        "                    (OTLP/JSON ExportLogsServiceRequest / ExportMetricsServiceRequest)\n"
        "  --signal S        logs (default) or metrics (the latency in ms as a gauge)\n"
        "  --anomalies A     all (default), none, or a comma list of: stack_trace,\n"
        "                    connection_error, oom, timeout, latency, volume_spike,\n"
        "                    random_bytes, gradual_drift\n"
        "  --warmup N        normal events before the first burst (default 600)\n"
        "  --gap N           normal events between bursts (default 500, plus 0..49)\n"
        "  --stream NAME     post to the daemon at --url instead of writing: JSON arrays to\n"
        "                    /api/v1/watch/events?stream=NAME, or with --format otlp to\n"
        "                    /v1/logs or /v1/metrics (service.name NAME)\n"
        "  --batch N         events per request when posting (default 500)\n\n"
        "examples:\n"
        "  %s synth --count 2000 | head\n"
        "  %s synth --anomalies none --count 50000 > normal.ndjson\n"
        "  %s synth --stream checkout --count 20000\n\n",
        ctx->prog, ctx->prog, ctx->prog, ctx->prog);
    cli_usage_globals(stdout);
}

typedef struct {
    const char *format; /* ndjson | json | otlp */
    bool metrics;
    const char *stream;
} cli_synth_out_t;

static json_t *cli_synth_event(const synth_event_t *ev, bool metrics)
{
    /* 2026-11-25T00:00:00Z plus 100 ms per event. */
    char ts[40];
    uint64_t ms = ev->index * 100;
    snprintf(ts, sizeof ts, "2026-11-25T%02u:%02u:%02u.%03uZ", (unsigned)(ms / 3600000) % 24,
             (unsigned)(ms / 60000) % 60, (unsigned)(ms / 1000) % 60, (unsigned)(ms % 1000));
    json_t *o = json_pack("{s:s, s:s, s:I}", "timestamp", ts, "label", synth_kind_name(ev->label),
                          "burst", (json_int_t)ev->burst);
    if (!o)
        return NULL;
    if (metrics) {
        json_object_set_new(o, "metric", json_string("http_request_duration_ms"));
        json_object_set_new(o, "value", json_real(ev->latency_ms));
    } else {
        json_object_set_new(o, "message", cli_synth_text(ev->line, ev->len));
        json_object_set_new(o, "latency_ms", json_real(ev->latency_ms));
    }
    return o;
}

static json_t *cli_synth_otlp_attr(const char *key, json_t *value)
{
    return json_pack("{s:s, s:o}", "key", key, "value", value);
}

/* An OTLP/JSON export request holding the events of `batch` (an array of cli_synth_event). */
static json_t *cli_synth_otlp(json_t *batch, bool metrics, const char *service, uint64_t first)
{
    json_t *records = json_array();
    size_t i;
    json_t *ev;
    json_array_foreach(batch, i, ev)
    {
        uint64_t idx = first + (uint64_t)i;
        char nanos[32], burst[24];
        snprintf(burst, sizeof burst, "%lld",
                 (long long)json_integer_value(json_object_get(ev, "burst")));
        snprintf(nanos, sizeof nanos, "%llu",
                 1795564800000000000ull + (unsigned long long)idx * 100000000ull);
        /* Labels travel as attributes only when writing a corpus, never when posting. */
        json_t *attrs = json_array();
        if (json_object_get(ev, "label")) {
            json_t *two =
                json_pack("[o, o]",
                          cli_synth_otlp_attr("label", json_pack("{s:O}", "stringValue",
                                                                 json_object_get(ev, "label"))),
                          cli_synth_otlp_attr("burst", json_pack("{s:s}", "intValue", burst)));
            if (two)
                json_array_extend(attrs, two);
            json_decref(two);
        }
        if (metrics) {
            json_array_append_new(records,
                                  json_pack("{s:s, s:O, s:o}", "timeUnixNano", nanos, "asDouble",
                                            json_object_get(ev, "value"), "attributes", attrs));
        } else {
            json_array_append_new(records,
                                  json_pack("{s:s, s:s, s:{s:O}, s:o}", "timeUnixNano", nanos,
                                            "severityText", "INFO", "body", "stringValue",
                                            json_object_get(ev, "message"), "attributes", attrs));
        }
    }
    json_t *resource =
        json_pack("{s:[o]}", "attributes",
                  cli_synth_otlp_attr("service.name", json_pack("{s:s}", "stringValue", service)));
    json_t *scope = json_pack("{s:s}", "name", "ganglion-synth");
    if (metrics)
        return json_pack("{s:[{s:o, s:[{s:o, s:[{s:s, s:s, s:{s:o}}]}]}]}", "resourceMetrics",
                         "resource", resource, "scopeMetrics", "scope", scope, "metrics", "name",
                         "http_request_duration_ms", "unit", "ms", "gauge", "dataPoints", records);
    return json_pack("{s:[{s:o, s:[{s:o, s:o}]}]}", "resourceLogs", "resource", resource,
                     "scopeLogs", "scope", scope, "logRecords", records);
}

/* Posts one batch; retries on 429/503 after Retry-After (at most 30 times). */
static int cli_synth_post(cli_client_t *c, const char *path, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT);
    if (!s)
        return CLI_EXIT_FAIL;
    int ex = CLI_EXIT_OK;
    for (int attempt = 0;; attempt++) {
        cli_response_t r = {0};
        int rc = cli_client_request(c, "POST", path, s, strlen(s), &r);
        if (rc < 0) {
            cli_error("%s", cli_client_error(c));
            ex = cli_exit_for(rc);
        } else if ((r.status == 429 || r.status == 503) && attempt < 30) {
            double wait = r.retry_after ? atof(r.retry_after) : 1.0;
            cli_response_free(&r);
            usleep((useconds_t)((wait > 0 && wait < 30 ? wait : 1.0) * 1e6));
            continue;
        } else if (r.status < 200 || r.status >= 300) {
            cli_problem_print(&r);
            ex = CLI_EXIT_FAIL;
        }
        cli_response_free(&r);
        break;
    }
    free(s);
    return ex;
}

static int cli_synth_parse_kinds(const char *v, uint32_t *mask)
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

int cli_cmd_synth(cli_ctx_t *ctx, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        cli_synth_usage(ctx);
        return CLI_EXIT_OK;
    }
    synth_opts_t o;
    synth_opts_default(&o);
    uint64_t count = 10000, batch = 500, x;
    cli_synth_out_t out = {"ndjson", false, NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--seed") == 0) {
            if (cli_tools_u64(a, v, 0, UINT64_MAX, &o.seed) < 0)
                return CLI_EXIT_USAGE;
        } else if (strcmp(a, "--count") == 0) {
            if (cli_tools_u64(a, v, 0, 100000000, &count) < 0)
                return CLI_EXIT_USAGE;
        } else if (strcmp(a, "--batch") == 0) {
            if (cli_tools_u64(a, v, 1, 100000, &batch) < 0)
                return CLI_EXIT_USAGE;
        } else if (strcmp(a, "--gap") == 0 || strcmp(a, "--warmup") == 0) {
            if (cli_tools_u64(a, v, 0, 10000000, &x) < 0)
                return CLI_EXIT_USAGE;
            *(a[2] == 'g' ? &o.gap : &o.warmup) = (uint32_t)x;
        } else if (strcmp(a, "--format") == 0 && v &&
                   (strcmp(v, "ndjson") == 0 || strcmp(v, "json") == 0 || strcmp(v, "otlp") == 0)) {
            out.format = v;
        } else if (strcmp(a, "--signal") == 0 && v &&
                   (strcmp(v, "logs") == 0 || strcmp(v, "metrics") == 0)) {
            out.metrics = v[0] == 'm';
        } else if (strcmp(a, "--anomalies") == 0 && v) {
            if (cli_synth_parse_kinds(v, &o.anomalies) < 0)
                return CLI_EXIT_USAGE;
        } else if (strcmp(a, "--stream") == 0 && v && v[0]) {
            out.stream = v;
        } else {
            cli_error("unknown or incomplete option '%s' (see %s synth --help)", a, ctx->prog);
            return CLI_EXIT_USAGE;
        }
        i++;
    }

    synth_t *sy = NULL;
    cli_client_t *c = NULL;
    if (synth_new(&o, &sy) < 0)
        return CLI_EXIT_FAIL;
    char path[300];
    if (out.stream) {
        if (cli_client_open(ctx, 0, &c) < 0) {
            synth_destroy(&sy);
            return CLI_EXIT_UNREACHABLE;
        }
        if (strcmp(out.format, "otlp") == 0) {
            snprintf(path, sizeof path, "%s", out.metrics ? "/v1/metrics" : "/v1/logs");
        } else {
            char enc[200];
            size_t n = 0;
            for (const char *p = out.stream; *p && n + 4 < sizeof enc; p++) {
                unsigned char ch = (unsigned char)*p;
                if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.')
                    enc[n++] = (char)ch;
                else
                    n += (size_t)snprintf(enc + n, sizeof enc - n, "%%%02X", ch);
            }
            enc[n] = '\0';
            snprintf(path, sizeof path, "/api/v1/watch/events?stream=%s", enc);
        }
    }
    bool ndjson = strcmp(out.format, "ndjson") == 0 && !out.stream;
    json_t *acc = json_array();
    int ex = CLI_EXIT_OK;
    synth_event_t ev;
    for (uint64_t i = 0; i < count && ex == CLI_EXIT_OK; i++) {
        synth_next(sy, &ev);
        json_t *e = cli_synth_event(&ev, out.metrics);
        if (!e) {
            ex = CLI_EXIT_FAIL;
            break;
        }
        if (ndjson) {
            char *s = json_dumps(e, JSON_COMPACT);
            if (s)
                puts(s);
            free(s);
            json_decref(e);
            continue;
        }
        if (out.stream) {
            /* What a service would send: the labels stay with whoever generated the traffic,
             * or the detector would be reading the answer. */
            json_object_del(e, "label");
            json_object_del(e, "burst");
            json_object_del(e, "latency_ms");
        }
        json_array_append_new(acc, e);
        if (out.stream && (json_array_size(acc) >= batch || i + 1 == count)) {
            json_t *body =
                strcmp(out.format, "otlp") == 0
                    ? cli_synth_otlp(acc, out.metrics, out.stream, i + 1 - json_array_size(acc))
                    : json_incref(acc);
            ex = cli_synth_post(c, path, body);
            json_decref(body);
            json_array_clear(acc);
        }
    }
    if (!out.stream && !ndjson && ex == CLI_EXIT_OK) {
        json_t *body = strcmp(out.format, "otlp") == 0
                           ? cli_synth_otlp(acc, out.metrics, "synth", 0)
                           : json_incref(acc);
        if (cli_json_print(body, false) < 0)
            ex = CLI_EXIT_FAIL;
        json_decref(body);
    }
    if (out.stream && ex == CLI_EXIT_OK)
        fprintf(stderr, "posted %llu events to %s\n", (unsigned long long)count, path);
    json_decref(acc);
    cli_client_destroy(&c);
    synth_destroy(&sy);
    if (fflush(stdout) != 0)
        ex = CLI_EXIT_FAIL;
    return ex;
}

/* ---- watch nab ----------------------------------------------------------------------------- */

#define CLI_NAB_BASELINES_MAX 4

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
    if (rc == 0) {
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
        for (size_t i = 0; i < n; i++)
            if (isnan(raw[i]))
                raw[i] = 0.0;
    }
    if (rc == 0) {
        fputs("timestamp,value,anomaly_score,label\n", o);
        if (nb->calibrate)
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
        "       [--baseline N] [--window N] [--hop N] [--permutations N] [--symbols N]\n"
        "       [--baselines N,N..] [--level N] [--short N] [--history N] [--calibrate yes|no]\n"
        "       [--quiet-level X] [--quiet-rows N] [--quiet-share X]\n\n"
        "Runs the detector over every NAB series (DATA_DIR/<category>/<file>.csv) as a\n"
        "metrics stream and writes OUT_DIR/<name>/<category>/<name>_<file>.csv with columns\n"
        "timestamp,value,anomaly_score,label. Each row gets the score of the latest window,\n"
        "which only sees rows up to it; label is 1 at the timestamps of combined_labels.json\n"
        "(default: DATA_DIR/../labels/combined_labels.json). One detector runs per\n"
        "--baselines length (--baseline N: just one); each window's NCD(W|B) is calibrated\n"
        "per series: the mean of the last --short scores against the --history scores\n"
        "before them, as -log10 of a Gaussian tail over 10, and the row scores the least\n"
        "of its detectors' (--calibrate no: the mean raw NCD, nothing else). Once a row's\n"
        "score reaches --quiet-level, the next max(--quiet-rows, --quiet-share x rows\n"
        "seen) rows score 0 (NAB counts only the first detection in a window;\n"
        "--quiet-rows 0 turns it off).\n"
        "Score the result with tools/nab_score.py.\n\n"
        "Defaults (tuned on the NAB score): baselines 200,400, window 4, hop 1, permutations 0,\n"
        "symbols 26, zstd level 3, short 2, history 1000, quiet level 0.2, quiet rows 75,\n"
        "quiet share 0.05, name ganglion, threads = CPUs.\n\n"
        "example:\n"
        "  %s watch nab ../shared/data/nab/data /tmp/nab-results\n"
        "  python3 tools/nab_score.py /tmp/nab-results \\\n"
        "      --windows ../shared/data/nab/labels/combined_windows.json\n\n",
        ctx->prog, ctx->prog);
}

/* Options shared by `watch nab` and `watch bench`: detector settings. 1 = consumed, 0 = not a
 * settings option, -1 = bad value. */
static int cli_tools_setting(cbad_settings_t *s, const char *a, const char *v)
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
                {"--symbols", &s->symbols, 2, 64}};
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
        if (strcmp(a, "--baselines") == 0 && v) {
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

/* ---- watch bench --------------------------------------------------------------------------- */

typedef struct {
    cbad_job_t **jobs;
    cbad_result_t *res;
    size_t n;
    size_t next;
    cbad_mode_t mode;
    int failed;
    pthread_mutex_t mu;
} cli_bench_pool_t;

static void *cli_bench_worker(void *arg)
{
    cli_bench_pool_t *p = arg;
    cbad_scratch_t *sc = NULL;
    if (cbad_scratch_new(&sc) < 0)
        return NULL;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        size_t i = p->next < p->n ? p->next++ : p->n;
        pthread_mutex_unlock(&p->mu);
        if (i >= p->n)
            break;
        if (cbad_job_run_mode(p->jobs[i], sc, p->mode, &p->res[i]) < 0)
            p->failed = 1;
    }
    cbad_scratch_destroy(&sc);
    return NULL;
}

/* Scores jobs[0..n) with `threads` workers; returns the wall time. */
static double cli_bench_score(cbad_job_t **jobs, cbad_result_t *res, size_t n, cbad_mode_t mode,
                              unsigned threads, int *failed)
{
    cli_bench_pool_t p = {.jobs = jobs, .res = res, .n = n, .mode = mode};
    pthread_mutex_init(&p.mu, NULL);
    double t0 = cli_tools_now();
    pthread_t th[16];
    unsigned started = 0;
    for (unsigned i = 0; i < threads && threads > 1; i++)
        if (pthread_create(&th[started], NULL, cli_bench_worker, &p) == 0)
            started++;
    if (started == 0)
        cli_bench_worker(&p);
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    double t = cli_tools_now() - t0;
    pthread_mutex_destroy(&p.mu);
    *failed |= p.failed;
    return t;
}

static void cli_bench_usage(const cli_ctx_t *ctx)
{
    printf("usage: %s watch bench [--events N] [--full-events N] [--anomalies all|none|KINDS]\n"
           "       [--seed S] [--gap N] [--threads N] [detector settings as for watch nab]\n\n"
           "Measures the detector in-process on synth log traffic at the default settings\n"
           "(baseline 400, window 50, hop 10, 1000 permutations, zstd 3): the fast path over\n"
           "--events events (default 20000) on one core (and on --threads cores, default 2),\n"
           "and the straightforward full test (every window, every permutation, a fresh\n"
           "compressor per compression) over the first --full-events events (default 1500);\n"
           "on those windows it compares the decisions. Prints one JSON object.\n\n",
           ctx->prog);
}

int cli_watch_bench(cli_ctx_t *ctx, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        cli_bench_usage(ctx);
        return CLI_EXIT_OK;
    }
    cbad_settings_t s;
    cbad_settings_default(&s);
    synth_opts_t o;
    synth_opts_default(&o);
    o.gap = 5000; /* an incident every ~5000 events unless told otherwise */
    uint64_t events = 20000, full_events = 1500, threads = 2, x;
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int r = cli_tools_setting(&s, a, v);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r == 1)
            continue;
        if (strcmp(a, "--events") == 0) {
            if (cli_tools_u64(a, v, 1000, 10000000, &events) < 0)
                return CLI_EXIT_USAGE;
        } else if (strcmp(a, "--full-events") == 0) {
            if (cli_tools_u64(a, v, 0, 10000000, &full_events) < 0)
                return CLI_EXIT_USAGE;
        } else if (strcmp(a, "--threads") == 0) {
            if (cli_tools_u64(a, v, 1, 16, &threads) < 0)
                return CLI_EXIT_USAGE;
        } else if (strcmp(a, "--gap") == 0) {
            if (cli_tools_u64(a, v, 0, 10000000, &x) < 0)
                return CLI_EXIT_USAGE;
            o.gap = (uint32_t)x;
        } else if (strcmp(a, "--anomalies") == 0 && v) {
            if (cli_synth_parse_kinds(v, &o.anomalies) < 0)
                return CLI_EXIT_USAGE;
        } else {
            cli_error("unknown or incomplete option '%s' (see %s watch bench --help)", a,
                      ctx->prog);
            return CLI_EXIT_USAGE;
        }
    }
    const char *field, *reason;
    if (cbad_settings_check(&s, &field, &reason) < 0) {
        cli_error("%s %s", field, reason);
        return CLI_EXIT_USAGE;
    }
    if (full_events > events)
        full_events = events;
    synth_t *sy = NULL;
    cbad_t *d = NULL;
    cbad_scratch_t *sc = NULL;
    char *text = NULL;
    size_t text_cap = 0, *toff = malloc(sizeof *toff * (events + 1));
    size_t maxw = events / s.hop + 1, nj = 0, nw = 0, nfull = 0;
    cbad_job_t **jobs = calloc(maxw, sizeof *jobs);
    cbad_result_t *fast = calloc(maxw, sizeof *fast), *fast2 = calloc(maxw, sizeof *fast2);
    cbad_result_t *full = calloc(maxw, sizeof *full), *prefix = calloc(maxw, sizeof *prefix);
    int failed = 0;
    if (!toff || !jobs || !fast || !fast2 || !full || !prefix || synth_new(&o, &sy) < 0 ||
        cbad_scratch_new(&sc) < 0) {
        failed = 1;
        goto out;
    }
    /* The traffic is generated before any timing: what is measured is the detector. */
    toff[0] = 0;
    for (uint64_t i = 0; i < events; i++) {
        synth_event_t ev;
        synth_next(sy, &ev);
        void *p = text;
        if (cbad_grow(&p, &text_cap, toff[i] + ev.len, 1) < 0) {
            failed = 1;
            goto out;
        }
        text = p;
        memcpy(text + toff[i], ev.line, ev.len);
        toff[i + 1] = toff[i] + ev.len;
    }
    /* One core, as the daemon runs a stream: push (cleaning, ring), snapshot into the job's
     * reused buffers, score — window after window. */
    if (cbad_new(&s, &d) < 0) {
        failed = 1;
        goto out;
    }
    cbad_job_t *rj = NULL;
    double t0 = cli_tools_now(), c0 = cli_tools_cpu();
    for (uint64_t i = 0; i < events; i++) {
        if (cbad_push(d, text + toff[i], toff[i + 1] - toff[i]) != 1 || nw >= maxw)
            continue;
        if ((rj ? cbad_job_refill(d, rj) : cbad_job_take(d, &rj)) < 0 ||
            cbad_job_run_mode(rj, sc, CBAD_MODE_FAST, &fast[nw]) < 0)
            failed = 1;
        nw++;
    }
    double t_fast = cli_tools_now() - t0, c_fast = cli_tools_cpu() - c0;
    cbad_job_destroy(&rj);
    cbad_destroy(&d);
    /* Snapshots kept for the full test and the threaded run; their ingest is timed apart. */
    if (cbad_new(&s, &d) < 0) {
        failed = 1;
        goto out;
    }
    t0 = cli_tools_now();
    for (uint64_t i = 0; i < events; i++) {
        if (cbad_push(d, text + toff[i], toff[i + 1] - toff[i]) == 1 && nj < maxw &&
            cbad_job_take(d, &jobs[nj]) == 0) {
            nj++;
            if (i < full_events)
                nfull = nj;
        }
    }
    double t_ingest = cli_tools_now() - t0;
    double t_fast2 = cli_bench_score(jobs, fast2, nj, CBAD_MODE_FAST, (unsigned)threads, &failed);
    double t_full = cli_bench_score(jobs, full, nfull, CBAD_MODE_FULL, 1, &failed);
    /* The fast path's time on the same windows the full test ran. */
    double t_fast_prefix = cli_bench_score(jobs, prefix, nfull, CBAD_MODE_FAST, 1, &failed);
    size_t mismatches = 0, anomalies_full = 0, anomalies_fast = 0, tested = 0, stopped_sig = 0;
    size_t bound_compared = 0, bound_violations = 0;
    uint64_t perms = 0;
    for (size_t i = 0; i < nw; i++) {
        anomalies_fast += fast[i].anomaly;
        tested += fast[i].permutations_run > 0;
        perms += fast[i].permutations_run;
        stopped_sig += fast[i].p_value_is_bound;
    }
    for (size_t i = 0; i < nfull && i < nw; i++) {
        anomalies_full += full[i].anomaly;
        if (full[i].anomaly != fast[i].anomaly || full[i].severity != fast[i].severity)
            mismatches++;
        if (fast[i].p_value_is_bound) {
            bound_compared++;
            bound_violations += !(full[i].p_value <= fast[i].p_value && full[i].significant);
        }
    }
    double ingest_per_event = t_ingest / (double)events;
    double fast_eps = (double)events / t_fast;
    double fast2_eps = (double)events / (t_ingest + t_fast2);
    double prefix_events = (double)nfull * s.hop;
    double full_eps = nfull ? prefix_events / (ingest_per_event * prefix_events + t_full) : 0;
    double fast_prefix_eps =
        nfull ? prefix_events / (ingest_per_event * prefix_events + t_fast_prefix) : 0;
    json_t *rep = json_pack(
        "{s:{s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:f}, s:{s:I, s:i, s:I}, "
        "s:{s:I, s:I, s:f, s:f, s:f, s:f, s:I, s:I, s:I, s:I, s:f, s:I}, "
        "s:{s:I, s:f, s:f, s:f, s:I}, s:{s:I, s:I, s:b, s:f, s:I, s:I}}",
        "settings", "baseline", (int)s.baseline, "window", (int)s.window, "hop", (int)s.hop,
        "permutations", (int)s.permutations, "level", s.level, "ncd_threshold", s.ncd_threshold,
        "flood_threshold", s.flood_threshold, "p_threshold", s.p_threshold, "traffic", "seed",
        (json_int_t)o.seed, "anomaly_kinds", (int)o.anomalies, "gap", (json_int_t)o.gap, "fast",
        "events", (json_int_t)events, "windows", (json_int_t)nw, "seconds", t_fast,
        "events_per_s_one_core", fast_eps, "events_per_cpu_s", (double)events / c_fast,
        "events_per_s_threads", fast2_eps, "threads", (json_int_t)threads, "windows_tested",
        (json_int_t)tested, "windows_stopped_significant", (json_int_t)stopped_sig,
        "permutations_run", (json_int_t)perms, "permutations_per_window",
        nw ? (double)perms / (double)nw : 0.0, "anomalies", (json_int_t)anomalies_fast, "full",
        "windows", (json_int_t)nfull, "seconds", t_full, "events_per_s_one_core", full_eps,
        "fast_events_per_s_same_windows", fast_prefix_eps, "anomalies", (json_int_t)anomalies_full,
        "agreement", "windows_compared", (json_int_t)nfull, "mismatches", (json_int_t)mismatches,
        "identical_decisions", mismatches == 0, "speedup_same_windows",
        full_eps > 0 ? fast_prefix_eps / full_eps : 0.0, "p_bounds_compared",
        (json_int_t)bound_compared, "p_bound_violations", (json_int_t)bound_violations);
    if (!rep || cli_json_print(rep, true) < 0)
        failed = 1;
    json_decref(rep);
out:
    for (size_t i = 0; i < maxw && fast; i++) {
        if (jobs)
            cbad_job_destroy(&jobs[i]);
        cbad_result_clear(&fast[i]);
        if (fast2)
            cbad_result_clear(&fast2[i]);
        if (full)
            cbad_result_clear(&full[i]);
        if (prefix)
            cbad_result_clear(&prefix[i]);
    }
    free(jobs);
    free(fast);
    free(fast2);
    free(full);
    free(prefix);
    free(text);
    free(toff);
    cbad_scratch_destroy(&sc);
    cbad_destroy(&d);
    synth_destroy(&sy);
    return failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
