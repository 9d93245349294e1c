/* Ingest: request bodies (one JSON event, a JSON array, NDJSON, plain text lines) split into
 * events with a reason for each one refused, secret-looking fields blanked before anything is
 * kept, and OTLP/HTTP JSON (logs and metrics) turned into events of per-service streams with the
 * resource and scope attributes as metadata. Loop thread; everything here is bounded by the
 * request body limit and watch.max_events. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/jsonx.h"
#include "watch/watch_internal.h"

/* ---- redaction ----------------------------------------------------------------------------- */

bool watch_key_secret(const char *key)
{
    static const char *const words[] = {"password", "passwd",        "secret",     "token",
                                        "jwt",      "authorization", "cookie",     "api_key",
                                        "apikey",   "private_key",   "credential", NULL};
    char low[128];
    size_t n = 0;
    for (; n < sizeof low - 1 && key[n]; n++)
        low[n] = (char)tolower((unsigned char)key[n]);
    low[n] = '\0';
    for (size_t i = 0; words[i]; i++)
        if (strstr(low, words[i]))
            return true;
    /* "key" alone or as a suffix (access_key, x-api-key), not "keyboard" or "monkey_count". */
    if (!strcmp(low, "key"))
        return true;
    return n > 4 && !strcmp(low + n - 3, "key") &&
           (low[n - 4] == '_' || low[n - 4] == '-' || low[n - 4] == '.');
}

void watch_redact(json_t *v)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            if (watch_key_secret(k) && !json_is_object(x) && !json_is_array(x) && !json_is_null(x))
                json_object_set_new(v, k, json_string("<REDACTED>"));
            else
                watch_redact(x);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            watch_redact(x);
        }
    }
}

/* ---- one event ------------------------------------------------------------------------------- */

static bool watch_event_time(const json_t *o, int64_t *ms)
{
    static const char *const keys[] = {"timestamp", "ts", "time", NULL};
    for (size_t i = 0; keys[i]; i++) {
        json_t *t = json_object_get(o, keys[i]);
        if (json_is_string(t) && clock_rfc3339_parse(json_string_value(t), ms) == 0)
            return true;
        if (json_is_integer(t) && json_integer_value(t) > 0) {
            *ms = json_integer_value(t);
            return true;
        }
    }
    return false;
}

static int watch_number_text(const char *s, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    while (end && isspace((unsigned char)*end))
        end++;
    if (errno || end == s || (end && *end) || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int watch_event_from_json(const watch_stream_t *s, json_t *item, int64_t now_ms, watch_event_t *ev,
                          const char **reason)
{
    memset(ev, 0, sizeof *ev);
    ev->ts_ms = now_ms;
    if (s->settings.type == CBAD_STREAM_METRICS) {
        json_t *v = item;
        if (json_is_object(item)) {
            v = json_object_get(item, "value");
            watch_event_time(item, &ev->ts_ms);
        }
        if (json_is_number(v)) {
            ev->value = json_number_value(v);
        } else if (!json_is_string(v) || watch_number_text(json_string_value(v), &ev->value) < 0) {
            *reason = "a metrics event must be a number or an object with a numeric \"value\"";
            return -1;
        }
        if (!isfinite(ev->value)) {
            *reason = "the value must be a finite number";
            return -1;
        }
        ev->has_value = true;
        char buf[64];
        int n = snprintf(buf, sizeof buf, "%.17g", ev->value);
        ev->text = strndup(buf, (size_t)n);
        ev->len = (size_t)n;
        if (!ev->text) {
            *reason = "out of memory";
            return -1;
        }
        return 0;
    }
    if (json_is_string(item)) {
        size_t len = json_string_length(item);
        if (len == 0) {
            *reason = "an event must not be empty";
            return -1;
        }
        if (len > CBAD_EVENT_MAX) {
            *reason = "an event must be at most 65536 bytes";
            return -1;
        }
        ev->text = strndup(json_string_value(item), len);
        ev->len = len;
    } else if (json_is_object(item)) {
        if (json_object_size(item) == 0) {
            *reason = "an event must not be an empty object";
            return -1;
        }
        watch_event_time(item, &ev->ts_ms);
        if (s->settings.redact)
            watch_redact(item);
        /* Sorted keys: equal events are equal bytes whatever the sender's key order. */
        ev->text = json_dumps(item, JSON_COMPACT | JSON_SORT_KEYS);
        ev->len = ev->text ? strlen(ev->text) : 0;
        if (ev->len > CBAD_EVENT_MAX) {
            free(ev->text);
            ev->text = NULL;
            *reason = "an event must be at most 65536 bytes when serialised";
            return -1;
        }
    } else if (json_is_number(item)) {
        char buf[64];
        int n = snprintf(buf, sizeof buf, "%.17g", json_number_value(item));
        ev->text = strndup(buf, (size_t)n);
        ev->len = (size_t)n;
    } else {
        *reason = "an event must be a JSON object, a string or a number";
        return -1;
    }
    if (!ev->text) {
        *reason = "out of memory";
        return -1;
    }
    return 0;
}

/* Well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF): what jansson
 * accepts as a string, so a line taken here can be shown in an anomaly's JSON later. */
static bool watch_utf8_valid(const unsigned char *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t n = c < 0x80             ? 0
                   : (c & 0xE0) == 0xC0 ? 1
                   : (c & 0xF0) == 0xE0 ? 2
                   : (c & 0xF8) == 0xF0 ? 3
                                        : 4;
        if (n == 4 || i + n >= len)
            return false;
        uint32_t cp = n == 0 ? c : n == 1 ? c & 0x1F : n == 2 ? c & 0x0F : c & 0x07;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + k] & 0x3F);
        }
        static const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0)
            return false;
        i += n + 1;
    }
    return true;
}

int watch_event_from_line(const watch_stream_t *s, const char *line, size_t len, int64_t now_ms,
                          watch_event_t *ev, const char **reason)
{
    memset(ev, 0, sizeof *ev);
    ev->ts_ms = now_ms;
    if (len == 0) {
        *reason = "an event must not be empty";
        return -1;
    }
    if (len > CBAD_EVENT_MAX) {
        *reason = "an event must be at most 65536 bytes";
        return -1;
    }
    if (!watch_utf8_valid((const unsigned char *)line, len)) {
        *reason = "an event must be UTF-8 text";
        return -1;
    }
    ev->text = strndup(line, len);
    ev->len = len;
    if (!ev->text) {
        *reason = "out of memory";
        return -1;
    }
    if (s->settings.type != CBAD_STREAM_METRICS)
        return 0;
    /* A metrics stream takes a line that is a number, as it takes a JSON string that is one. */
    if (watch_number_text(ev->text, &ev->value) < 0 || !isfinite(ev->value)) {
        watch_event_clear(ev);
        *reason = "a metrics event must be a number or an object with a numeric \"value\"";
        return -1;
    }
    ev->has_value = true;
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%.17g", ev->value);
    free(ev->text);
    ev->text = strndup(buf, (size_t)n);
    ev->len = (size_t)n;
    if (!ev->text) {
        *reason = "out of memory";
        return -1;
    }
    return 0;
}

/* ---- request bodies ------------------------------------------------------------------------- */

static bool watch_ct_is(const char *ct, const char *want)
{
    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    size_t n = strlen(want);
    return strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static void watch_reject(json_t *rejected, size_t index, const char *reason)
{
    json_array_append_new(rejected,
                          json_pack("{s:I,s:s}", "index", (json_int_t)index, "reason", reason));
}

/* A line of NDJSON or text, or one array element. */
static int watch_items_add(json_t *items, json_t *v, size_t max_events, problem_t **p)
{
    if (json_array_size(items) >= max_events) {
        json_decref(v);
        *p = problem_new(413, "too-many-events",
                         "a request may carry at most %zu events (watch.max_events)", max_events);
        problem_ext_set(*p, "max_events", json_integer((json_int_t)max_events));
        return -1;
    }
    json_array_append_new(items, v);
    return 0;
}

int watch_body_items(const char *body, size_t len, const char *ct, size_t max_depth,
                     size_t max_events, json_t **items_out, json_t **rejected_out, problem_t **p)
{
    json_t *items = json_array(), *rejected = json_array();
    *p = NULL;
    *items_out = *rejected_out = NULL;
    if (!items || !rejected) {
        json_decref(items);
        json_decref(rejected);
        *p = problem_new(503, "out-of-memory", "the request could not be held");
        return -1;
    }
    bool lines = watch_ct_is(ct, "application/x-ndjson") || watch_ct_is(ct, "application/jsonl") ||
                 watch_ct_is(ct, "text/plain");
    bool text = watch_ct_is(ct, "text/plain");
    if (!lines) {
        json_t *v = jsonx_parse(body ? body : "", len, max_depth, p);
        if (!v)
            goto fail;
        if (json_is_array(v)) {
            if (json_array_size(v) > max_events) {
                json_decref(v);
                *p = problem_new(413, "too-many-events",
                                 "a request may carry at most %zu events (watch.max_events)",
                                 max_events);
                problem_ext_set(*p, "max_events", json_integer((json_int_t)max_events));
                goto fail;
            }
            json_decref(items);
            items = v; /* one event per element; rejects are reported per index later */
        } else {
            json_array_append_new(items, v);
        }
    } else {
        /* One budget for the whole body, so that many small lines cost what one large value
         * would (each line alone would get the floor of a small input). */
        jsonx_budget_t budget;
        jsonx_budget_init(&budget, len, max_depth);
        size_t at = 0, index = 0;
        while (at < len) {
            const char *line = body + at;
            const char *nl = memchr(line, '\n', len - at);
            size_t n = nl ? (size_t)(nl - line) : len - at;
            at += n + (nl ? 1 : 0);
            while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
                n--;
            if (n == 0)
                continue;
            json_t *v;
            if (text) {
                v = json_stringn(line, n);
                if (!v) /* not UTF-8: keep the event, readable */
                    v = json_string("<invalid UTF-8>");
            } else {
                problem_t *lp = NULL;
                v = jsonx_parse_budget(line, n, &budget, &lp);
                if (!v && problem_status(lp) == 413) {
                    *p = lp; /* the body as a whole is over its budget */
                    goto fail;
                }
                if (!v) {
                    char why[256];
                    snprintf(why, sizeof why, "not JSON: %s", problem_detail(lp));
                    watch_reject(rejected, index, why);
                    problem_destroy(&lp);
                    v = json_null(); /* a placeholder keeps indexes aligned */
                }
            }
            if (watch_items_add(items, v, max_events, p) < 0)
                goto fail;
            index++;
        }
    }
    *items_out = items;
    *rejected_out = rejected;
    return 0;
fail:
    json_decref(items);
    json_decref(rejected);
    return -1;
}

/* ---- OTLP/HTTP JSON ----------------------------------------------------------------------- */

/* AnyValue → plain JSON. */
static json_t *otlp_value(const json_t *v, int depth)
{
    json_t *x;
    if (!json_is_object(v) || depth > 8)
        return json_null();
    if ((x = json_object_get(v, "stringValue")))
        return json_copy(x);
    if ((x = json_object_get(v, "boolValue")))
        return json_copy(x);
    if ((x = json_object_get(v, "intValue"))) {
        /* int64 travels as a JSON string in OTLP/JSON */
        if (json_is_string(x)) {
            char *end = NULL;
            long long n = strtoll(json_string_value(x), &end, 10);
            return end && !*end ? json_integer(n) : json_copy(x);
        }
        return json_copy(x);
    }
    if ((x = json_object_get(v, "doubleValue")))
        return json_copy(x);
    if ((x = json_object_get(v, "bytesValue")))
        return json_copy(x);
    if ((x = json_object_get(v, "arrayValue"))) {
        json_t *arr = json_array();
        json_t *vals = json_object_get(x, "values");
        size_t i;
        json_t *e;
        json_array_foreach(vals, i, e)
        {
            json_array_append_new(arr, otlp_value(e, depth + 1));
        }
        return arr;
    }
    if ((x = json_object_get(v, "kvlistValue"))) {
        json_t *o = json_object();
        json_t *vals = json_object_get(x, "values");
        size_t i;
        json_t *e;
        json_array_foreach(vals, i, e)
        {
            const char *k = json_string_value(json_object_get(e, "key"));
            if (k)
                json_object_set_new(o, k, otlp_value(json_object_get(e, "value"), depth + 1));
        }
        return o;
    }
    return json_null();
}

static json_t *otlp_attrs(const json_t *attrs)
{
    json_t *o = json_object();
    size_t i;
    json_t *e;
    json_array_foreach(attrs, i, e)
    {
        const char *k = json_string_value(json_object_get(e, "key"));
        if (k)
            json_object_set_new(o, k, otlp_value(json_object_get(e, "value"), 0));
    }
    return o;
}

static int64_t otlp_time_ms(const json_t *rec, const char *key, const char *fallback,
                            int64_t now_ms)
{
    const char *keys[] = {key, fallback};
    for (size_t i = 0; i < 2; i++) {
        json_t *t = keys[i] ? json_object_get(rec, keys[i]) : NULL;
        unsigned long long ns = 0;
        if (json_is_string(t)) {
            char *end = NULL;
            ns = strtoull(json_string_value(t), &end, 10);
            if (!end || *end)
                ns = 0;
        } else if (json_is_integer(t) && json_integer_value(t) > 0) {
            ns = (unsigned long long)json_integer_value(t);
        }
        if (ns)
            return (int64_t)(ns / 1000000ull);
    }
    return now_ms;
}

/* otel.<service>.<suffix> with characters outside the stream alphabet replaced. */
static void otlp_stream_name(const json_t *res_attrs, const char *suffix, char *out, size_t cap)
{
    const char *svc = json_string_value(json_object_get(res_attrs, "service.name"));
    if (!svc || !*svc)
        svc = "unknown_service";
    /* a longer name is cut at cap: stream names are bounded, and the cut one stays valid */
    if (snprintf(out, cap, "otel.%.48s.%s", svc, suffix) < 0)
        out[0] = '\0';
    out[cap - 1] = '\0';
    for (char *c = out; *c; c++)
        if (!(isalnum((unsigned char)*c) || *c == '.' || *c == '_' || *c == '-' || *c == ':'))
            *c = '_';
}

static json_t *otlp_meta(json_t *res_attrs, const json_t *scope, bool redact)
{
    json_t *m = json_pack("{s:O,s:{s:o,s:o,s:o}}", "resource", res_attrs, "scope", "name",
                          json_copy(json_object_get(scope, "name")) ?: json_null(), "version",
                          json_copy(json_object_get(scope, "version")) ?: json_null(), "attributes",
                          otlp_attrs(json_object_get(scope, "attributes")));
    if (m && redact)
        watch_redact(m);
    return m;
}

/* Adds one event to out[stream] = {type, events:[{event, meta, ts}]}. The time travels beside
 * the event, not in it, so that it never adds novelty to what is compressed. */
static void otlp_add(json_t *out, const char *stream, const char *type, json_t *event, json_t *meta,
                     int64_t ts_ms)
{
    json_t *b = json_object_get(out, stream);
    if (!b) {
        b = json_pack("{s:s,s:[]}", "type", type, "events");
        json_object_set_new(out, stream, b);
    }
    json_array_append_new(json_object_get(b, "events"),
                          json_pack("{s:o,s:O,s:I}", "event", event, "meta",
                                    meta ? meta : json_null(), "ts", (json_int_t)ts_ms));
}

int watch_otlp_logs(const json_t *root, int64_t now_ms, bool redact, json_t **out, size_t *rejected,
                    char *why, size_t whylen)
{
    json_t *res = json_object();
    *rejected = 0;
    why[0] = '\0';
    size_t i, j, k;
    json_t *rl, *sl, *lr;
    json_array_foreach(json_object_get(root, "resourceLogs"), i, rl)
    {
        json_t *rattrs = otlp_attrs(json_object_get(json_object_get(rl, "resource"), "attributes"));
        char stream[WATCH_NAME_MAX + 1];
        otlp_stream_name(rattrs, "logs", stream, sizeof stream);
        json_array_foreach(json_object_get(rl, "scopeLogs"), j, sl)
        {
            json_t *meta = otlp_meta(rattrs, json_object_get(sl, "scope"), redact);
            json_array_foreach(json_object_get(sl, "logRecords"), k, lr)
            {
                if (!json_is_object(lr)) {
                    (*rejected)++;
                    snprintf(why, whylen, "a logRecord must be an object");
                    continue;
                }
                json_t *body = otlp_value(json_object_get(lr, "body"), 0);
                json_t *attrs = otlp_attrs(json_object_get(lr, "attributes"));
                json_t *sev = json_object_get(lr, "severityText");
                json_t *ev = json_pack("{s:o,s:o,s:o}", "body", body, "severity",
                                       json_is_string(sev) ? json_copy(sev) : json_string(""),
                                       "attributes", attrs);
                otlp_add(res, stream, "logs", ev, meta,
                         otlp_time_ms(lr, "timeUnixNano", "observedTimeUnixNano", now_ms));
            }
            json_decref(meta);
        }
        json_decref(rattrs);
    }
    *out = res;
    return 0;
}

/* The number a data point stands for: gauge/sum value, or a histogram's mean. */
static int otlp_point_value(const json_t *dp, bool histogram, double *v)
{
    json_t *x;
    if (histogram) {
        json_t *cnt = json_object_get(dp, "count"), *sum = json_object_get(dp, "sum");
        double c =
            json_is_string(cnt) ? strtod(json_string_value(cnt), NULL) : json_number_value(cnt);
        if (!(c > 0) || !json_is_number(sum))
            return -1;
        *v = json_number_value(sum) / c;
        return 0;
    }
    if ((x = json_object_get(dp, "asDouble")) && json_is_number(x)) {
        *v = json_number_value(x);
        return 0;
    }
    if ((x = json_object_get(dp, "asInt"))) {
        if (json_is_integer(x)) {
            *v = (double)json_integer_value(x);
            return 0;
        }
        if (json_is_string(x)) {
            char *end = NULL;
            long long n = strtoll(json_string_value(x), &end, 10);
            if (end && !*end) {
                *v = (double)n;
                return 0;
            }
        }
    }
    return -1;
}

int watch_otlp_metrics(const json_t *root, int64_t now_ms, bool redact, json_t **out,
                       size_t *rejected, char *why, size_t whylen)
{
    json_t *res = json_object();
    *rejected = 0;
    why[0] = '\0';
    size_t i, j, k, d;
    json_t *rm, *sm, *m, *dp;
    json_array_foreach(json_object_get(root, "resourceMetrics"), i, rm)
    {
        json_t *rattrs = otlp_attrs(json_object_get(json_object_get(rm, "resource"), "attributes"));
        json_array_foreach(json_object_get(rm, "scopeMetrics"), j, sm)
        {
            json_t *meta = otlp_meta(rattrs, json_object_get(sm, "scope"), redact);
            json_array_foreach(json_object_get(sm, "metrics"), k, m)
            {
                const char *name = json_string_value(json_object_get(m, "name"));
                static const char *const kinds[] = {"gauge", "sum", "histogram", NULL};
                json_t *data = NULL;
                size_t kind = 0;
                for (; kinds[kind] && !data; kind++)
                    data = json_object_get(m, kinds[kind]);
                if (!name || !*name || !data) {
                    (*rejected)++;
                    snprintf(why, whylen,
                             "a metric needs a name and gauge, sum or histogram data points");
                    continue;
                }
                bool hist = kind - 1 == 2;
                char suffix[96], stream[WATCH_NAME_MAX + 1];
                snprintf(suffix, sizeof suffix, "metrics.%.80s", name);
                otlp_stream_name(rattrs, suffix, stream, sizeof stream);
                json_array_foreach(json_object_get(data, "dataPoints"), d, dp)
                {
                    double v;
                    if (otlp_point_value(dp, hist, &v) < 0 || !isfinite(v)) {
                        (*rejected)++;
                        snprintf(why, whylen,
                                 "metric %.64s: a data point needs asDouble or asInt (histograms: "
                                 "count and sum)",
                                 name);
                        continue;
                    }
                    json_t *ev = json_pack("{s:f}", "value", v);
                    /* A shallow copy: the resource and scope are shared by every point, as
                     * logs share them; a deep copy per point cost points x attributes (118 KB
                     * of 2 000 attributes and 2 000 points took 700 MB and 0.9 s). */
                    json_t *pm = json_copy(meta);
                    json_object_set_new(pm, "metric", json_string(name));
                    json_t *attrs = otlp_attrs(json_object_get(dp, "attributes"));
                    if (redact)
                        watch_redact(attrs);
                    json_object_set_new(pm, "attributes", attrs);
                    otlp_add(res, stream, "metrics", ev, pm,
                             otlp_time_ms(dp, "timeUnixNano", NULL, now_ms));
                    json_decref(pm);
                }
            }
            json_decref(meta);
        }
        json_decref(rattrs);
    }
    *out = res;
    return 0;
}

/* ---- OTLP traces ------------------------------------------------------------------------- */

/* A span's duration as one of a few words: the text detector sees a span that became slow as a
 * new word, while the exact figure (which would make every event novel) stays in the meta.
 * Words, not "10-100ms": the canonicaliser turns digits into placeholders. */
static const char *otlp_duration_bucket(double ms)
{
    return ms < 1       ? "sub_ms"           /* < 1 ms */
           : ms < 10    ? "ms"               /* 1-10 ms */
           : ms < 100   ? "tens_of_ms"       /* 10-100 ms */
           : ms < 1000  ? "hundreds_of_ms"   /* 100 ms - 1 s */
           : ms < 10000 ? "seconds"          /* 1-10 s */
                        : "tens_of_seconds"; /* 10 s and more */
}

static unsigned long long otlp_ns(const json_t *rec, const char *key)
{
    json_t *t = json_object_get(rec, key);
    if (json_is_string(t)) {
        char *end = NULL;
        unsigned long long ns = strtoull(json_string_value(t), &end, 10);
        return end && !*end ? ns : 0;
    }
    return json_is_integer(t) && json_integer_value(t) > 0
               ? (unsigned long long)json_integer_value(t)
               : 0;
}

/* OTLP's enums arrive as integers (protobuf, most JSON exporters) or as their names. */
static const char *otlp_enum_word(const json_t *v, const char *const *words, size_t n,
                                  const char *prefix)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0 && (size_t)json_integer_value(v) < n)
        return words[json_integer_value(v)];
    const char *s = json_string_value(v);
    size_t pl = strlen(prefix);
    if (s && strncmp(s, prefix, pl) == 0)
        for (size_t i = 0; i < n; i++)
            if (strcasecmp(s + pl, words[i]) == 0)
                return words[i];
    return words[0];
}

int watch_otlp_traces(const json_t *root, int64_t now_ms, bool redact, json_t **out,
                      size_t *rejected, char *why, size_t whylen)
{
    static const char *const kinds[] = {"unspecified", "internal", "server",
                                        "client",      "producer", "consumer"};
    static const char *const codes[] = {"unset", "ok", "error"};
    json_t *res = json_object();
    *rejected = 0;
    why[0] = '\0';
    size_t i, j, k;
    json_t *rs, *ss, *sp;
    json_array_foreach(json_object_get(root, "resourceSpans"), i, rs)
    {
        json_t *rattrs = otlp_attrs(json_object_get(json_object_get(rs, "resource"), "attributes"));
        char stream[WATCH_NAME_MAX + 1];
        otlp_stream_name(rattrs, "traces", stream, sizeof stream);
        json_array_foreach(json_object_get(rs, "scopeSpans"), j, ss)
        {
            json_t *meta = otlp_meta(rattrs, json_object_get(ss, "scope"), redact);
            json_array_foreach(json_object_get(ss, "spans"), k, sp)
            {
                const char *name = json_string_value(json_object_get(sp, "name"));
                if (!json_is_object(sp) || !name || !*name) {
                    (*rejected)++;
                    snprintf(why, whylen, "a span needs a name");
                    continue;
                }
                unsigned long long start = otlp_ns(sp, "startTimeUnixNano");
                unsigned long long end = otlp_ns(sp, "endTimeUnixNano");
                double ms = end > start ? (double)(end - start) / 1e6 : 0;
                json_t *status = json_object_get(sp, "status");
                json_t *msg = json_object_get(status, "message");
                json_t *attrs = otlp_attrs(json_object_get(sp, "attributes"));
                if (redact)
                    watch_redact(attrs);
                json_t *ev = json_pack(
                    "{s:s,s:s,s:s,s:s,s:o}", "name", name, "kind",
                    otlp_enum_word(json_object_get(sp, "kind"), kinds, 6, "SPAN_KIND_"), "status",
                    otlp_enum_word(json_object_get(status, "code"), codes, 3, "STATUS_CODE_"),
                    "duration", otlp_duration_bucket(ms), "attributes", attrs);
                if (ev && json_is_string(msg) && json_string_length(msg))
                    json_object_set(ev, "status_message", msg);
                /* ids and the exact duration beside the event, as the resource is (shallow
                 * copy: the resource and scope are shared by every span) */
                json_t *pm = json_copy(meta);
                static const char *const ids[] = {"traceId", "spanId", "parentSpanId"};
                for (size_t n = 0; n < 3; n++) {
                    json_t *id = json_object_get(sp, ids[n]);
                    if (pm && json_is_string(id) && json_string_length(id))
                        json_object_set(pm, ids[n], id);
                }
                if (pm)
                    json_object_set_new(pm, "duration_ms", json_real(ms));
                otlp_add(res, stream, "traces", ev, pm,
                         start ? (int64_t)(start / 1000000ull) : now_ms);
                json_decref(pm);
            }
            json_decref(meta);
        }
        json_decref(rattrs);
    }
    *out = res;
    return 0;
}
