/* OTLP/HTTP JSON export of ganglion's spans: a ring of spans filled on the loop, a 1 s timer
 * (or a full batch) moving up to TRACE_BATCH of them into a job for the thread pool, where the
 * body is built and POSTed through libcurl with a short timeout, so a slow collector costs a
 * worker thread, never the loop. A failed batch is counted and dropped (spans are best-effort). */
#include "core/trace_export.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "build_info.h"
#include "core/http_post.h"
#include "core/log.h"

#define TRACE_BATCH       256
#define TRACE_FLUSH_MS    1000
#define TRACE_TIMEOUT_MS  5000L
#define TRACE_URL_MAX     512
#define TRACE_SERVICE_MAX 64

/* One batch on its way: the spans copied out of the ring, the outcome written by the worker. */
typedef struct trace_job {
    uv_work_t work;
    struct trace_export *x;
    size_t n;
    bool ok;
    char error[256];
    trace_span_t spans[];
} trace_job_t;

struct trace_export {
    uv_loop_t *loop;
    uv_timer_t timer;
    char url[TRACE_URL_MAX];
    char service[TRACE_SERVICE_MAX];
    trace_span_t *ring; /* queue_max slots; head is the oldest */
    size_t cap, head, count;
    bool busy;    /* a job is on the pool */
    bool closing; /* destroyed: freed when the job (if any) and the timer are done */
    bool timer_closed;
    uint64_t sent, dropped, failures;
    bool warned;
};

/* ---- the body (on a worker) ---- */

static json_t *trace_attr_str(const char *key, const char *value)
{
    return json_pack("{s:s,s:{s:s}}", "key", key, "value", "stringValue", value);
}

static json_t *trace_span_json(const trace_span_t *s)
{
    char tid[TRACE_ID_HEX_LEN + 1], sid[TRACE_SPAN_HEX_LEN + 1], pid[TRACE_SPAN_HEX_LEN + 1];
    char start[24], end[24];
    trace_hex(s->ctx.trace_id, TRACE_ID_LEN, tid);
    trace_hex(s->ctx.span_id, TRACE_SPAN_LEN, sid);
    snprintf(start, sizeof start, "%" PRIu64, s->start_unix_ns);
    snprintf(end, sizeof end, "%" PRIu64, s->end_unix_ns);
    json_t *attrs = json_array();
    json_array_append_new(attrs, trace_attr_str("http.request.method", s->method));
    json_array_append_new(attrs, trace_attr_str("http.route", s->route));
    /* OTLP JSON carries 64-bit integers as strings */
    char status[16];
    snprintf(status, sizeof status, "%d", s->status);
    json_array_append_new(attrs, json_pack("{s:s,s:{s:s}}", "key", "http.response.status_code",
                                           "value", "intValue", status));
    json_array_append_new(attrs, trace_attr_str("ganglion.transport", s->transport));
    /* kind 2 = SERVER; status code 2 = ERROR for a 5xx, else 0 = UNSET (OpenTelemetry's HTTP
     * semantic conventions leave 4xx unset on the server side) */
    json_t *span =
        json_pack("{s:s,s:s,s:s,s:i,s:s,s:s,s:o,s:{s:i}}", "traceId", tid, "spanId", sid, "name",
                  s->name, "kind", 2, "startTimeUnixNano", start, "endTimeUnixNano", end,
                  "attributes", attrs, "status", "code", s->status >= 500 ? 2 : 0);
    if (span && s->has_parent) {
        trace_hex(s->parent, TRACE_SPAN_LEN, pid);
        json_object_set_new(span, "parentSpanId", json_string(pid));
    }
    return span;
}

static char *trace_body(const trace_job_t *j, const char *service)
{
    json_t *spans = json_array();
    for (size_t i = 0; i < j->n; i++)
        json_array_append_new(spans, trace_span_json(&j->spans[i]));
    json_t *doc =
        json_pack("{s:[{s:{s:[o]},s:[{s:{s:s,s:s},s:o}]}]}", "resourceSpans", "resource",
                  "attributes", trace_attr_str("service.name", service), "scopeSpans", "scope",
                  "name", "ganglion", "version", GANGLION_VERSION, "spans", spans);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return text;
}

static void trace_job_work(uv_work_t *w)
{
    trace_job_t *j = w->data;
    char *body = trace_body(j, j->x->service);
    if (!body) {
        snprintf(j->error, sizeof j->error, "out of memory building the batch");
        return;
    }
    static const char *const headers[] = {"Content-Type: application/json", NULL};
    http_post_t post = {.url = j->x->url,
                        .body = body,
                        .len = strlen(body),
                        .headers = headers,
                        .timeout_ms = TRACE_TIMEOUT_MS};
    http_post_result_t r;
    j->ok = http_post_send(&post, "collector", &r) == 0;
    if (!j->ok)
        snprintf(j->error, sizeof j->error, "%s", r.error);
    free(body);
}

/* ---- the queue (on the loop) ---- */

static void trace_export_free(trace_export_t *x)
{
    free(x->ring);
    free(x);
}

static void trace_export_flush(trace_export_t *x);

static void trace_job_done(uv_work_t *w, int status)
{
    trace_job_t *j = w->data;
    trace_export_t *x = j->x;
    x->busy = false;
    if (j->ok && status == 0) {
        x->sent += j->n;
        x->warned = false;
    } else {
        x->failures++;
        if (!x->warned) /* once per run of failures, not once a second */
            log_warn(NULL, "trace: spans not exported", "{s:s,s:s}", "endpoint", x->url, "error",
                     status ? uv_strerror(status) : j->error);
        x->warned = true;
    }
    free(j);
    if (x->closing) {
        if (x->timer_closed)
            trace_export_free(x);
        return;
    }
    if (x->count >= TRACE_BATCH)
        trace_export_flush(x);
}

static void trace_export_flush(trace_export_t *x)
{
    if (x->busy || x->count == 0)
        return;
    size_t n = x->count < TRACE_BATCH ? x->count : TRACE_BATCH;
    trace_job_t *j = malloc(sizeof *j + n * sizeof j->spans[0]);
    if (!j)
        return; /* tried again at the next tick */
    j->x = x;
    j->n = n;
    j->ok = false;
    j->error[0] = '\0';
    for (size_t i = 0; i < n; i++)
        j->spans[i] = x->ring[(x->head + i) % x->cap];
    x->head = (x->head + n) % x->cap;
    x->count -= n;
    j->work.data = j;
    if (uv_queue_work(x->loop, &j->work, trace_job_work, trace_job_done) != 0) {
        x->failures++;
        free(j);
        return;
    }
    x->busy = true;
}

static void trace_export_tick(uv_timer_t *t)
{
    trace_export_flush(t->data);
}

trace_export_t *trace_export_new(uv_loop_t *loop, const char *endpoint, size_t queue_max,
                                 const char *service)
{
    trace_export_t *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->cap = queue_max ? queue_max : 1;
    x->ring = calloc(x->cap, sizeof x->ring[0]);
    if (!x->ring) {
        free(x);
        return NULL;
    }
    x->loop = loop;
    snprintf(x->url, sizeof x->url, "%s", endpoint);
    snprintf(x->service, sizeof x->service, "%s", service && *service ? service : "ganglion");
    uv_timer_init(loop, &x->timer);
    x->timer.data = x;
    uv_timer_start(&x->timer, trace_export_tick, TRACE_FLUSH_MS, TRACE_FLUSH_MS);
    uv_unref((uv_handle_t *)&x->timer);
    return x;
}

static void trace_export_timer_closed(uv_handle_t *h)
{
    trace_export_t *x = h->data;
    x->timer_closed = true;
    if (!x->busy)
        trace_export_free(x);
}

void trace_export_destroy(trace_export_t **px)
{
    trace_export_t *x = px ? *px : NULL;
    if (!x)
        return;
    *px = NULL;
    trace_export_flush(x); /* the last spans, if the pool is free */
    x->closing = true;
    uv_timer_stop(&x->timer);
    uv_close((uv_handle_t *)&x->timer, trace_export_timer_closed);
}

void trace_export_add(trace_export_t *x, const trace_span_t *span)
{
    if (!x || x->closing)
        return;
    if (x->count == x->cap) {
        x->dropped++;
        return;
    }
    x->ring[(x->head + x->count) % x->cap] = *span;
    x->count++;
    if (x->count >= TRACE_BATCH)
        trace_export_flush(x);
}

uint64_t trace_export_spans_sent(const trace_export_t *x)
{
    return x ? x->sent : 0;
}

uint64_t trace_export_spans_dropped(const trace_export_t *x)
{
    return x ? x->dropped : 0;
}

uint64_t trace_export_failures(const trace_export_t *x)
{
    return x ? x->failures : 0;
}
