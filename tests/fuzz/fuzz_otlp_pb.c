/* Fuzzes OTLP/HTTP protobuf ingest (src/watch/watch_otlp_pb.c, then the converters in
 * watch_ingest.c): an ExportLogsServiceRequest, ExportMetricsServiceRequest or
 * ExportTraceServiceRequest body as a collector posts it to /v1/logs, /v1/metrics or
 * /v1/traces. Input: one selector byte (bit 0: metrics, bit 1: redaction on, bit 2: traces),
 * then the protobuf bytes. */
#include "fuzz_util.h"
#include "fuzz_watch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    unsigned sel = fuzz_next_byte(&in);
    bool metrics = sel & 1, redact = sel & 2;
    watch_otlp_signal_t signal = sel & 4   ? WATCH_OTLP_TRACES
                                 : metrics ? WATCH_OTLP_METRICS
                                           : WATCH_OTLP_LOGS;
    json_t *root = watch_otlp_pb_decode(in.n ? (const char *)in.p : "", in.n, signal, NULL);
    if (!root)
        return 0;
    /* what the decoder yields is what the JSON encoding would: an object of one array */
    const char *top = signal == WATCH_OTLP_TRACES ? "resourceSpans"
                      : metrics                   ? "resourceMetrics"
                                                  : "resourceLogs";
    assert(json_is_object(root));
    json_t *arr = json_object_get(root, top);
    assert(arr == NULL || json_is_array(arr));
    json_t *batches = NULL;
    size_t rejected = 0;
    char why[256];
    if (signal == WATCH_OTLP_TRACES)
        watch_otlp_traces(root, 1700000000000, redact, &batches, &rejected, why, sizeof why);
    else if (metrics)
        watch_otlp_metrics(root, 1700000000000, redact, &batches, &rejected, why, sizeof why);
    else
        watch_otlp_logs(root, 1700000000000, redact, &batches, &rejected, why, sizeof why);
    fuzz_watch_batches(batches, redact);
    json_decref(batches);
    json_decref(root);
    return 0;
}
