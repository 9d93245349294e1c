/* W3C Trace Context (traceparent) for ganglion's own requests: the ids, their strict parse and
 * their text form, and a fast generator for new ids. Pure; no allocation. The exporter of the
 * spans is core/trace_export.h. */
#ifndef GANGLION_TRACE_H
#define GANGLION_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#define TRACE_ID_LEN       16
#define TRACE_SPAN_LEN     8
#define TRACE_PARENT_LEN   55 /* "00-<32 hex>-<16 hex>-<2 hex>" */
#define TRACE_ID_HEX_LEN   (2 * TRACE_ID_LEN)
#define TRACE_SPAN_HEX_LEN (2 * TRACE_SPAN_LEN)

typedef struct trace_ctx {
    uint8_t trace_id[TRACE_ID_LEN];
    uint8_t span_id[TRACE_SPAN_LEN];
    uint8_t flags; /* bit 0: sampled */
} trace_ctx_t;

/* A generator of ids (xoshiro256**), seeded once from the system's random source: ids need to
 * be unique, not secret, and a syscall per request would cost more than the rest of a span. */
typedef struct trace_rng {
    uint64_t s[4];
} trace_rng_t;

/* Seeds from libsodium's randombytes. */
void trace_rng_seed(trace_rng_t *rng);
/* Fills a new non-zero span id. */
void trace_span_id_new(trace_rng_t *rng, uint8_t out[TRACE_SPAN_LEN]);
/* A new trace: new trace id and span id, flags sampled. */
void trace_ctx_new(trace_rng_t *rng, trace_ctx_t *out);

/* Parses a traceparent header strictly (W3C Trace Context level 1): version 00 exactly 55
 * characters; a later version at least 55 with '-' after the flags; lower-case hex only; the
 * version ff, an all-zero trace id or parent id refused. Returns 0, or -EINVAL. */
int trace_parent_parse(const char *s, trace_ctx_t *out);
/* Writes "00-<trace>-<span>-<flags>" and a NUL into out (TRACE_PARENT_LEN + 1 bytes). */
void trace_parent_format(const trace_ctx_t *ctx, char out[TRACE_PARENT_LEN + 1]);
/* Lower-case hex of n bytes and a NUL into out (2n + 1 bytes). */
void trace_hex(const uint8_t *bytes, unsigned n, char *out);

#endif
