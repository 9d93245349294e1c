/* The exporter of ganglion's own spans over OTLP/HTTP JSON: spans are queued on the loop
 * (bounded; a span that finds the queue full is dropped and counted), sent in batches from the
 * thread pool by libcurl (loaded on first use), one batch in flight at a time. */
#ifndef GANGLION_TRACE_EXPORT_H
#define GANGLION_TRACE_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/trace.h"

typedef struct trace_span {
    trace_ctx_t ctx;                /* the span's trace id and its own span id */
    uint8_t parent[TRACE_SPAN_LEN]; /* the caller's span id, when has_parent */
    int has_parent;
    char name[144]; /* "GET /api/v1/agents/{id}" */
    char method[16];
    char route[128]; /* the endpoint pattern, or the raw path's status */
    char transport[8];
    int status;
    uint64_t start_unix_ns, end_unix_ns;
} trace_span_t;

typedef struct trace_export trace_export_t;

/* endpoint: the full URL spans are POSTed to (".../v1/traces"); queue_max: spans held at most;
 * service: the resource's service.name (copied). Returns NULL when out of memory. */
trace_export_t *trace_export_new(uv_loop_t *loop, const char *endpoint, size_t queue_max,
                                 const char *service);
/* Stops the timer; a batch in flight finishes on the pool and the exporter is freed after it.
 * Spans still queued are sent in one last batch if none is in flight. Sets *x to NULL. */
void trace_export_destroy(trace_export_t **x);
/* Queues a copy of the span (on the loop). */
void trace_export_add(trace_export_t *x, const trace_span_t *span);

uint64_t trace_export_spans_sent(const trace_export_t *x);
uint64_t trace_export_spans_dropped(const trace_export_t *x);
uint64_t trace_export_failures(const trace_export_t *x);

#endif
