/* `ganglion synth`: writes labelled synthetic traffic (NDJSON, a JSON array or OTLP JSON) or
 * posts it to a daemon. */
#include "cli/cli_tools.h"
#include "core/num.h"
#include "watch/synth.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
            /* Retry-After in seconds; absent, unreadable, 0 or 30 and over: one second */
            double wait = 1.0;
            if (!r.retry_after || num_double_parse(r.retry_after, 0, 30, &wait) < 0 || wait <= 0 ||
                wait >= 30)
                wait = 1.0;
            cli_response_free(&r);
            usleep((useconds_t)(wait * 1e6));
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
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
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
            if (cli_tools_kinds(v, &o.anomalies) < 0)
                return CLI_EXIT_USAGE;
        } else if (strcmp(a, "--stream") == 0 && v && v[0]) {
            out.stream = v;
        } else {
            cli_error("unknown or incomplete option '%s' (see %s synth --help)", a, ctx->prog);
            return CLI_EXIT_USAGE;
        }
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
