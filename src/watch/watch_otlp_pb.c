/* OTLP/HTTP protobuf bodies (application/x-protobuf): a small schema-driven reader of the
 * protobuf wire format for ExportLogsServiceRequest, ExportMetricsServiceRequest and
 * ExportTraceServiceRequest that yields
 * the same JSON shape as OTLP's JSON encoding, so one converter (watch_ingest.c) serves both.
 * Only the fields ingest uses are described; everything else is skipped. Bounded by the body
 * size and a nesting limit; malformed input is an error, never a crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonx.h"
#include "watch/watch_internal.h"

#define PB_DEPTH_MAX 24

typedef enum {
    PB_MSG,    /* length-delimited sub-message */
    PB_STR,    /* length-delimited UTF-8 */
    PB_HEX,    /* length-delimited bytes shown as hex (trace/span ids, bytes values) */
    PB_FIX64,  /* fixed64 as a decimal string (nanosecond times, counts) */
    PB_SFIX64, /* sfixed64 as a decimal string (asInt) */
    PB_DOUBLE, /* fixed64 IEEE double */
    PB_VARINT, /* int64/uint32/enum as an integer */
    PB_INT64S, /* int64 varint as a decimal string (AnyValue.intValue, as OTLP/JSON writes it) */
    PB_BOOL,
} pb_kind_t;

typedef struct pb_field {
    unsigned num;
    const char *name;
    pb_kind_t kind;
    bool repeated;
    const struct pb_field *sub; /* PB_MSG: the sub-message's fields, ending with num 0 */
} pb_field_t;

/* AnyValue refers to itself through ArrayValue and KeyValueList. */
static const pb_field_t pb_any[];
static const pb_field_t pb_kv[] = {
    {1, "key", PB_STR, false, NULL},
    {2, "value", PB_MSG, false, pb_any},
    {0, NULL, 0, false, NULL},
};
static const pb_field_t pb_values_any[] = {
    {1, "values", PB_MSG, true, pb_any},
    {0, NULL, 0, false, NULL},
};
static const pb_field_t pb_values_kv[] = {
    {1, "values", PB_MSG, true, pb_kv},
    {0, NULL, 0, false, NULL},
};
static const pb_field_t pb_any[] = {
    {1, "stringValue", PB_STR, false, NULL},
    {2, "boolValue", PB_BOOL, false, NULL},
    {3, "intValue", PB_INT64S, false, NULL},
    {4, "doubleValue", PB_DOUBLE, false, NULL},
    {5, "arrayValue", PB_MSG, false, pb_values_any},
    {6, "kvlistValue", PB_MSG, false, pb_values_kv},
    {7, "bytesValue", PB_HEX, false, NULL},
    {0, NULL, 0, false, NULL},
};
static const pb_field_t pb_resource[] = {
    {1, "attributes", PB_MSG, true, pb_kv},
    {0, NULL, 0, false, NULL},
};
static const pb_field_t pb_scope[] = {
    {1, "name", PB_STR, false, NULL},
    {2, "version", PB_STR, false, NULL},
    {3, "attributes", PB_MSG, true, pb_kv},
    {0, NULL, 0, false, NULL},
};
static const pb_field_t pb_log_record[] = {
    {1, "timeUnixNano", PB_FIX64, false, NULL},
    {11, "observedTimeUnixNano", PB_FIX64, false, NULL},
    {2, "severityNumber", PB_VARINT, false, NULL},
    {3, "severityText", PB_STR, false, NULL},
    {5, "body", PB_MSG, false, pb_any},
    {6, "attributes", PB_MSG, true, pb_kv},
    {9, "traceId", PB_HEX, false, NULL},
    {10, "spanId", PB_HEX, false, NULL},
    {0, NULL, 0, false, NULL},
};
static const pb_field_t pb_scope_logs[] = {
    {1, "scope", PB_MSG, false, pb_scope},
    {2, "logRecords", PB_MSG, true, pb_log_record},
    {0, NULL, 0, false, NULL},
};
static const pb_field_t pb_resource_logs[] = {
    {1, "resource", PB_MSG, false, pb_resource},
    {2, "scopeLogs", PB_MSG, true, pb_scope_logs},
    {0, NULL, 0, false, NULL},
};
static const pb_field_t pb_logs_request[] = {
    {1, "resourceLogs", PB_MSG, true, pb_resource_logs},
    {0, NULL, 0, false, NULL},
};
static const pb_field_t pb_number_point[] = {
    {7, "attributes", PB_MSG, true, pb_kv},
    {3, "timeUnixNano", PB_FIX64, false, NULL},
    {4, "asDouble", PB_DOUBLE, false, NULL},
    {6, "asInt", PB_SFIX64, false, NULL},
    {0, NULL, 0, false, NULL},
};
static const pb_field_t pb_hist_point[] = {
    {9, "attributes", PB_MSG, true, pb_kv},
    {3, "timeUnixNano", PB_FIX64, false, NULL},
    {4, "count", PB_FIX64, false, NULL},
    {5, "sum", PB_DOUBLE, false, NULL},
    {11, "min", PB_DOUBLE, false, NULL},
    {12, "max", PB_DOUBLE, false, NULL},
    {0, NULL, 0, false, NULL},
};
static const pb_field_t pb_number_points[] = {
    {1, "dataPoints", PB_MSG, true, pb_number_point},
    {0, NULL, 0, false, NULL},
};
static const pb_field_t pb_hist_points[] = {
    {1, "dataPoints", PB_MSG, true, pb_hist_point},
    {0, NULL, 0, false, NULL},
};
static const pb_field_t pb_metric[] = {
    {1, "name", PB_STR, false, NULL},
    {2, "description", PB_STR, false, NULL},
    {3, "unit", PB_STR, false, NULL},
    {5, "gauge", PB_MSG, false, pb_number_points},
    {7, "sum", PB_MSG, false, pb_number_points},
    {9, "histogram", PB_MSG, false, pb_hist_points},
    {0, NULL, 0, false, NULL},
};
static const pb_field_t pb_scope_metrics[] = {
    {1, "scope", PB_MSG, false, pb_scope},
    {2, "metrics", PB_MSG, true, pb_metric},
    {0, NULL, 0, false, NULL},
};
static const pb_field_t pb_resource_metrics[] = {
    {1, "resource", PB_MSG, false, pb_resource},
    {2, "scopeMetrics", PB_MSG, true, pb_scope_metrics},
    {0, NULL, 0, false, NULL},
};
static const pb_field_t pb_metrics_request[] = {
    {1, "resourceMetrics", PB_MSG, true, pb_resource_metrics},
    {0, NULL, 0, false, NULL},
};

/* opentelemetry/proto/trace/v1/trace.proto: Span, Status, ScopeSpans, ResourceSpans */
static const pb_field_t pb_status[] = {
    {2, "message", PB_STR, false, NULL},
    {3, "code", PB_VARINT, false, NULL},
    {0, NULL, 0, false, NULL},
};
static const pb_field_t pb_span[] = {
    {1, "traceId", PB_HEX, false, NULL},           {2, "spanId", PB_HEX, false, NULL},
    {4, "parentSpanId", PB_HEX, false, NULL},      {5, "name", PB_STR, false, NULL},
    {6, "kind", PB_VARINT, false, NULL},           {7, "startTimeUnixNano", PB_FIX64, false, NULL},
    {8, "endTimeUnixNano", PB_FIX64, false, NULL}, {9, "attributes", PB_MSG, true, pb_kv},
    {15, "status", PB_MSG, false, pb_status},      {0, NULL, 0, false, NULL},
};
static const pb_field_t pb_scope_spans[] = {
    {1, "scope", PB_MSG, false, pb_scope},
    {2, "spans", PB_MSG, true, pb_span},
    {0, NULL, 0, false, NULL},
};
static const pb_field_t pb_resource_spans[] = {
    {1, "resource", PB_MSG, false, pb_resource},
    {2, "scopeSpans", PB_MSG, true, pb_scope_spans},
    {0, NULL, 0, false, NULL},
};
static const pb_field_t pb_traces_request[] = {
    {1, "resourceSpans", PB_MSG, true, pb_resource_spans},
    {0, NULL, 0, false, NULL},
};

typedef struct {
    const unsigned char *p, *end;
} pb_buf_t;

static int pb_varint(pb_buf_t *b, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (b->p >= b->end)
            return -1;
        unsigned char c = *b->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

static int pb_fixed64(pb_buf_t *b, uint64_t *out)
{
    if (b->end - b->p < 8)
        return -1;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | b->p[i];
    b->p += 8;
    *out = v;
    return 0;
}

static int pb_skip(pb_buf_t *b, unsigned wire)
{
    uint64_t v;
    switch (wire) {
    case 0:
        return pb_varint(b, &v);
    case 1:
        return pb_fixed64(b, &v);
    case 2:
        if (pb_varint(b, &v) < 0 || v > (uint64_t)(b->end - b->p))
            return -1;
        b->p += v;
        return 0;
    case 5:
        if (b->end - b->p < 4)
            return -1;
        b->p += 4;
        return 0;
    default:
        return -1; /* groups (3, 4) are not used by OTLP */
    }
}

/* Puts v (stolen) into obj under f, charging the budget for it and for a new array. -1 when
 * the budget is spent or memory ran out (v is freed). */
static int pb_put(json_t *obj, const pb_field_t *f, json_t *v, jsonx_budget_t *bud)
{
    if (!v)
        return -1;
    if (jsonx_budget_take(bud, json_is_object(v)) < 0) {
        json_decref(v);
        return -1;
    }
    if (f->repeated) {
        json_t *arr = json_object_get(obj, f->name);
        if (!arr) {
            if (jsonx_budget_take(bud, true) < 0 || !(arr = json_array())) {
                json_decref(v);
                return -1;
            }
            json_object_set_new(obj, f->name, arr);
        }
        json_array_append_new(arr, v);
    } else {
        json_object_set_new(obj, f->name, v);
    }
    return 0;
}

static json_t *pb_message(const unsigned char *p, size_t len, const pb_field_t *fields, int depth,
                          jsonx_budget_t *bud)
{
    if (depth > PB_DEPTH_MAX)
        return NULL;
    pb_buf_t b = {p, p + len};
    json_t *obj = json_object();
    while (obj && b.p < b.end) {
        uint64_t key;
        if (pb_varint(&b, &key) < 0)
            goto bad;
        unsigned num = (unsigned)(key >> 3), wire = (unsigned)(key & 7);
        const pb_field_t *f = fields;
        while (f->num && f->num != num)
            f++;
        if (!f->num) {
            if (pb_skip(&b, wire) < 0)
                goto bad;
            continue;
        }
        uint64_t v = 0;
        char num_text[32];
        switch (f->kind) {
        case PB_MSG:
        case PB_STR:
        case PB_HEX: {
            if (wire != 2 || pb_varint(&b, &v) < 0 || v > (uint64_t)(b.end - b.p))
                goto bad;
            const unsigned char *s = b.p;
            b.p += v;
            if (f->kind == PB_MSG) {
                json_t *sub = pb_message(s, (size_t)v, f->sub, depth + 1, bud);
                if (!sub)
                    goto bad;
                if (pb_put(obj, f, sub, bud) < 0)
                    goto bad;
            } else if (f->kind == PB_STR) {
                json_t *str = json_stringn((const char *)s, (size_t)v);
                if (pb_put(obj, f, str ? str : json_string("<invalid UTF-8>"), bud) < 0)
                    goto bad;
            } else {
                char *hex = malloc((size_t)v * 2 + 1);
                if (!hex)
                    goto bad;
                for (size_t i = 0; i < v; i++)
                    snprintf(hex + 2 * i, 3, "%02x", s[i]);
                hex[2 * v] = '\0';
                json_t *hv = json_string(hex);
                free(hex);
                if (pb_put(obj, f, hv, bud) < 0)
                    goto bad;
            }
            break;
        }
        case PB_FIX64:
        case PB_SFIX64:
        case PB_DOUBLE:
            if (wire != 1 || pb_fixed64(&b, &v) < 0)
                goto bad;
            if (f->kind == PB_DOUBLE) {
                double d;
                memcpy(&d, &v, sizeof d);
                if (pb_put(obj, f, json_real(d), bud) < 0)
                    goto bad;
            } else {
                if (f->kind == PB_FIX64)
                    snprintf(num_text, sizeof num_text, "%llu", (unsigned long long)v);
                else
                    snprintf(num_text, sizeof num_text, "%lld", (long long)(int64_t)v);
                if (pb_put(obj, f, json_string(num_text), bud) < 0)
                    goto bad;
            }
            break;
        case PB_VARINT:
        case PB_INT64S:
        case PB_BOOL:
            if (wire != 0 || pb_varint(&b, &v) < 0)
                goto bad;
            if (f->kind == PB_BOOL) {
                if (pb_put(obj, f, json_boolean(v != 0), bud) < 0)
                    goto bad;
            } else if (f->kind == PB_INT64S) {
                snprintf(num_text, sizeof num_text, "%lld", (long long)(int64_t)v);
                if (pb_put(obj, f, json_string(num_text), bud) < 0)
                    goto bad;
            } else {
                if (pb_put(obj, f, json_integer((json_int_t)v), bud) < 0)
                    goto bad;
            }
            break;
        }
    }
    return obj;
bad:
    json_decref(obj);
    return NULL;
}

json_t *watch_otlp_pb_decode(const void *body, size_t len, watch_otlp_signal_t signal,
                             problem_t **p)
{
    static const pb_field_t *const requests[] = {
        [WATCH_OTLP_LOGS] = pb_logs_request,
        [WATCH_OTLP_METRICS] = pb_metrics_request,
        [WATCH_OTLP_TRACES] = pb_traces_request,
    };
    static const char *const names[] = {[WATCH_OTLP_LOGS] = "logs",
                                        [WATCH_OTLP_METRICS] = "metrics",
                                        [WATCH_OTLP_TRACES] = "trace"};
    jsonx_budget_t bud;
    jsonx_budget_init(&bud, len, PB_DEPTH_MAX + 1);
    if (jsonx_budget_take(&bud, true) < 0)
        return NULL;
    json_t *root = pb_message(body, len, requests[signal], 0, &bud);
    if (!root && p)
        *p = bud.values == 0 || bud.containers == 0
                 ? jsonx_budget_problem(&bud)
                 : problem_new(400, "bad-protobuf", "the body is not an OTLP %s export request",
                               names[signal]);
    return root;
}
