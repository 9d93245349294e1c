/* synth: seeded, labelled synthetic traffic for the detector's tests, benchmarks and demos —
 * normal request logs and latency metrics, with bursts of injected anomalies (stack traces,
 * connection errors, OOM, timeouts, latency shifts, volume spikes, random bytes, gradual drift). */
#ifndef GANGLION_WATCH_SYNTH_H
#define GANGLION_WATCH_SYNTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    SYNTH_NORMAL = 0,
    SYNTH_STACK_TRACE,
    SYNTH_CONNECTION,
    SYNTH_OOM,
    SYNTH_TIMEOUT,
    SYNTH_LATENCY,
    SYNTH_VOLUME,
    SYNTH_RANDOM_BYTES,
    SYNTH_DRIFT,
    SYNTH_NKINDS,
} synth_kind_t;

#define SYNTH_ALL_ANOMALIES (((1u << SYNTH_NKINDS) - 1u) & ~1u)

typedef struct synth_opts {
    uint64_t seed;
    uint32_t anomalies; /* bit per synth_kind_t to inject; 0 = normal traffic only */
    uint32_t warmup;    /* normal events before the first burst (default 600) */
    uint32_t gap;       /* normal events between bursts (default 500) */
} synth_opts_t;

#define SYNTH_LINE_MAX 1024

typedef struct synth_event {
    uint64_t index;
    synth_kind_t label;        /* SYNTH_NORMAL or the anomaly this event belongs to */
    uint32_t burst;            /* 0 for normal events, else the burst's number from 1 */
    double latency_ms;         /* the request latency this event reports (the metrics signal) */
    char line[SYNTH_LINE_MAX]; /* the log line, NUL-terminated (random bytes stay printable-free
                                * of NUL and newline) */
    size_t len;
} synth_event_t;

typedef struct synth synth_t;

void synth_opts_default(synth_opts_t *o);
int synth_new(const synth_opts_t *o, synth_t **out); /* 0 or -ENOMEM */
void synth_destroy(synth_t **s);
void synth_next(synth_t *s, synth_event_t *ev);

const char *synth_kind_name(synth_kind_t k); /* "normal", "stack_trace", ... */
int synth_kind_parse(const char *name, synth_kind_t *out);

#endif
