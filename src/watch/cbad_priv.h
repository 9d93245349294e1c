/* What cbad's own files, its tests and its benchmark share beyond the public face: the job's
 * layout, the scratch state, the reference (straightforward full) test and the symbolic encoder. */
#ifndef GANGLION_WATCH_CBAD_PRIV_H
#define GANGLION_WATCH_CBAD_PRIV_H

#include "watch/cbad.h"

#include <zstd.h>

struct cbad_job {
    cbad_settings_t s;
    uint64_t index;                    /* window index */
    uint64_t first_event;              /* stream index of the baseline's first event */
    uint32_t n;                        /* baseline + window events */
    char *data;                        /* text events back to back, each followed by '\n' */
    size_t *off;                       /* n + 1 offsets into data */
    double *val;                       /* metrics: n values, else NULL */
    size_t data_cap, off_cap, val_cap; /* allocated sizes, kept when a job is refilled */
    double rep_usual;                  /* the stream's usual repetition when the job was taken */
    bool template_pass; /* text: the window passes the per-template view's gate (cbad.c,
                         * cbad_template_gate), so it may be an anomaly */
    bool template_new;  /* text: ... and its newest hop holds a template new to the stream while
                         * the baseline holds none (cbad_template_new): an anomaly of its own */
    uint8_t *fresh;     /* text, template_new: [i] 1 if window event i is of such a template */
    size_t fresh_cap;
    size_t b2_raw, b2_comp; /* text: C(B2) known from an earlier window whose window held the
                             * same events (cbad_result_note), else 0 */
    bool has_hist;          /* text: byte counts of the baseline and the window, kept by the */
    uint64_t hist[2][256];  /* detector as events come and go (entropy without a pass) */
};

/* Boundaries of the sequential test for one (N, p_threshold), built once per scratch
 * (cbad_seq.c). Looks are every `step` shuffles; look l is after l * step of them. */
typedef struct {
    uint32_t n_perm;
    double alpha;
    uint32_t kstar;   /* the full test is significant iff its count K <= kstar */
    uint32_t step;    /* shuffles between looks; 0 = no boundaries (exact curtailment only) */
    uint32_t looks;   /* looks before the last shuffle */
    int32_t *sig_max; /* [look]: stop as significant when k <= this (-1: never) */
    int32_t *ns_min;  /* [look]: stop as not significant when k >= this (INT32_MAX: never) */
    int32_t *bound;   /* [look][k]: u with the full test's K <= k + u (for k <= sig_max) */
} cbad_seq_t;

/* Probability, for any window, that a sequential stop decides otherwise than all N shuffles
 * would (summed over every look and both directions), and the largest K* it handles. */
#define CBAD_SEQ_RISK 1e-4
#define CBAD_SEQ_KMAX 1000u

/* Boundary tables a scratch keeps (streams with different settings share the pool's threads). */
#define CBAD_SEQ_CACHE 4u

/* Severity is graded on the first min(N, this) shuffles, which every significant window runs. */
#define CBAD_GRADE_PERMUTATIONS 200u

/* Builds t for N shuffles at level alpha, where the full test is significant iff its count
 * K < kstop, with no significant stop before n_grade shuffles. 0 or -ENOMEM. */
int cbad_seq_build(cbad_seq_t *t, uint32_t n_perm, double alpha, uint32_t kstop, uint32_t n_grade);
void cbad_seq_free(cbad_seq_t *t);

struct cbad_scratch {
    ZSTD_CCtx *cctx;                /* baseline-sized inputs (and cbad_novel) */
    ZSTD_CCtx *cctx_w;              /* window-sized inputs */
    int level;                      /* level cctx is set to, 0 = not yet */
    int level_w;                    /* level cctx_w is set to, 0 = not yet */
    cbad_seq_t seq[CBAD_SEQ_CACHE]; /* boundaries for the last (N, p_threshold) pairs seen */
    unsigned seq_next;              /* the slot the next new pair replaces */
    char *buf;                      /* a split's concatenation */
    size_t buf_cap;
    void *out; /* compressor output */
    size_t out_cap;
    uint32_t *order; /* event order of the current split */
    size_t order_cap;
    char *enc; /* metrics: the encoded events */
    size_t enc_cap;
    size_t *enc_off;
    size_t enc_off_cap;
};

/* Raw and compressed sizes of one split of events into baseline (the first nb of the order; B1
 * its first nb1 events, B2 the rest) and window W. */
typedef struct {
    size_t raw_b1, raw_b, raw_w, c_b1, c_b2, c_b, c_w, c_bw;
} cbad_sizes_t;

/* Grows *p (cap elements of elem bytes) to hold need elements. 0 or -ENOMEM. */
int cbad_grow(void **p, size_t *cap, size_t need, size_t elem);

/* The window's NCD given the baseline, (C(B||W) - C(B)) / C(W), clamped to [0,1]. */
double cbad_ncd_directed(size_t c_b, size_t c_w, size_t c_bw);

/* The symmetric NCD (C(B||W) - min) / max from compressed sizes, clamped to [0,1]. */
double cbad_ncd(size_t c_b, size_t c_w, size_t c_bw);

/* Shannon entropy of bytes in bits per byte (0 for empty input). */
double cbad_entropy(const void *p, size_t len);

/* The same from byte counts (the number of bytes is their sum); bit-equal to cbad_entropy over
 * bytes with these counts. */
double cbad_entropy_counts(const uint64_t counts[256]);

/* The seeded generator: xoshiro256** seeded through splitmix64 from seed and window index. */
typedef struct {
    uint64_t s[4];
} cbad_rng_t;
void cbad_rng_seed(cbad_rng_t *r, uint64_t seed, uint64_t window_index);
uint64_t cbad_rng_next(cbad_rng_t *r);
uint32_t cbad_rng_below(cbad_rng_t *r, uint32_t n); /* uniform in [0, n) */

/* Metrics: encodes vals[0..n) into two-character tokens (one event per value) in the scratch,
 * with the bins fitted on the first nb values (the baseline); sets *data and *off (n + 1
 * offsets). 0 or -ENOMEM. */
int cbad_symbolic_encode(const double *vals, uint32_t n, uint32_t nb, uint32_t symbols,
                         cbad_scratch_t *sc, const char **data, const size_t **off);

/* Explanation texts, samples and novel lines for a scored result (cbad_explain.c). */
int cbad_explain(const cbad_job_t *j, const char *data, const size_t *off, cbad_scratch_t *sc,
                 cbad_result_t *r);

#endif
