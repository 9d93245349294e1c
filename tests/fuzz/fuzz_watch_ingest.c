/* Fuzzes the watch ingest parsers (src/watch/watch_ingest.c): event bodies posted to
 * /api/v1/watch/streams/{name}/events as JSON, NDJSON or text/plain, and OTLP/HTTP JSON logs
 * and metrics. Input: one selector byte (bits 0-2: the body kind, bit 3: redaction on, bit 4:
 * a metrics stream), then the body. */
#include "core/jsonx.h"
#include "fuzz_util.h"
#include "fuzz_watch.h"

#define FUZZ_WATCH_DEPTH  64
#define FUZZ_WATCH_EVENTS 1000

static void fuzz_events(const char *body, size_t len, const char *ct, bool redact, bool metrics)
{
    json_t *items = NULL, *rejected = NULL;
    problem_t *p = NULL;
    if (watch_body_items(body, len, ct, FUZZ_WATCH_DEPTH, FUZZ_WATCH_EVENTS, &items, &rejected,
                         &p) < 0) {
        assert(p && !items && !rejected);
        problem_destroy(&p);
        return;
    }
    assert(!p && json_is_array(items) && json_is_array(rejected));
    assert(json_array_size(items) <= FUZZ_WATCH_EVENTS);
    watch_stream_t *s = fuzz_watch_stream(metrics ? "metrics" : "logs", redact);
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        if (!json_is_null(item))
            fuzz_watch_event(s, item);
    }
    free(s);
    json_decref(items);
    json_decref(rejected);
}

static void fuzz_otlp_json(const char *body, size_t len, bool metrics, bool redact)
{
    problem_t *p = NULL;
    json_t *root = jsonx_parse(body, len, FUZZ_WATCH_DEPTH, &p);
    problem_destroy(&p);
    const char *top = metrics ? "resourceMetrics" : "resourceLogs";
    /* the endpoint's own check before conversion (watch_api.c) */
    if (!json_is_object(root) ||
        !(json_object_get(root, top) == NULL || json_is_array(json_object_get(root, top)))) {
        json_decref(root);
        return;
    }
    json_t *batches = NULL;
    size_t rejected = 0;
    char why[256];
    if (metrics)
        watch_otlp_metrics(root, 1700000000000, redact, &batches, &rejected, why, sizeof why);
    else
        watch_otlp_logs(root, 1700000000000, redact, &batches, &rejected, why, sizeof why);
    fuzz_watch_batches(batches, redact);
    json_decref(batches);
    json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    unsigned sel = fuzz_next_byte(&in);
    bool redact = sel & 8, metrics = sel & 16;
    /* the body as the registry hands it over: NUL-terminated after its length */
    char *body = malloc(in.n + 1);
    if (!body)
        abort();
    memcpy(body, in.p, in.n);
    body[in.n] = '\0';
    switch (sel & 7) {
    case 0:
        fuzz_events(body, in.n, "application/json", redact, metrics);
        break;
    case 1:
        fuzz_events(body, in.n, "application/x-ndjson", redact, metrics);
        break;
    case 2:
        fuzz_events(body, in.n, "text/plain; charset=utf-8", redact, metrics);
        break;
    case 3:
        fuzz_otlp_json(body, in.n, false, redact);
        break;
    case 4:
        fuzz_otlp_json(body, in.n, true, redact);
        break;
    default:
        fuzz_events(body, in.n, "application/jsonl", redact, metrics);
        break;
    }
    free(body);
    return 0;
}
