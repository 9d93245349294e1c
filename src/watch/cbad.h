/* cbad: compression-based anomaly detection on one stream of events (logs, JSON events,
 * metrics). A detector keeps the most recent baseline+window events; every `hop` events it hands
 * out a self-contained job that scores the window against the baseline (NCD + permutation test). */
#ifndef GANGLION_WATCH_CBAD_H
#define GANGLION_WATCH_CBAD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- settings ------------------------------------------------------------------------------ */

typedef enum {
    CBAD_STREAM_LOGS = 0,
    CBAD_STREAM_METRICS, /* events are numbers: symbolic encoding before compression */
    CBAD_STREAM_TRACES,
    CBAD_STREAM_LLM,
    CBAD_STREAM_EVENTS,
    CBAD_STREAM_AGENT,
} cbad_stream_type_t;

typedef enum {
    CBAD_COMPRESSOR_ZSTD = 0,
} cbad_compressor_t;

typedef enum {
    CBAD_SEVERITY_NONE = 0, /* not an anomaly */
    CBAD_SEVERITY_MEDIUM,
    CBAD_SEVERITY_HIGH,
    CBAD_SEVERITY_CRITICAL,
} cbad_severity_t;

/* Limits enforced by cbad_settings_check(). */
#define CBAD_BASELINE_MAX     10000u
#define CBAD_WINDOW_MAX       5000u
#define CBAD_PERMUTATIONS_MAX 100000u
#define CBAD_EVENT_MAX        65536u /* bytes of one event after canonicalisation; longer is cut */

typedef struct cbad_settings {
    cbad_stream_type_t type;
    uint32_t baseline; /* events in the baseline (>= 2) */
    uint32_t window;   /* events in the window (>= 1) */
    uint32_t hop;      /* events between two scored windows (1..window) */
    cbad_compressor_t compressor;
    int level;              /* zstd level 1..19 */
    double ncd_threshold;   /* anomaly needs novelty (NCD above the usual level) > this; (0,1) */
    double flood_threshold; /* a flood needs repetition > this; (0,1) */
    double p_threshold;     /* anomaly needs p < this; (0,1) */
    uint32_t permutations;  /* N of the permutation test, 0 = no test (p = 1 unless screened) */
    uint64_t seed;          /* permutation generator seed; per window seed + window index */
    bool canonicalise;      /* replace volatile values (numbers, ids, times, ...) by placeholders */
    bool redact;            /* blank values of secret-like JSON fields before anything is kept */
    bool fold;              /* text: windows overlapping a noted anomaly are folded into it, not
                             * handed out (cbad_result_note); off by default: the daemon scores
                             * every window and groups overlapping anomalies into incidents */
    uint32_t symbols;       /* metrics: alphabet size of the quantile encoding (2..64) */
    uint32_t rare_template; /* text: an anomaly's window must hold a line of a template new to
                             * the baseline and window before it, or more lines of a template
                             * seen fewer than this many times there than the baseline usually
                             * holds; a window overlapping the last noted anomaly also a line
                             * after it of a template new to the stream (0: no such gate;
                             * docs/watch.md, "The per-template view") */
    bool rare_history;      /* text: ... in the stream's whole history instead */
} cbad_settings_t;

/* Defaults: logs, baseline 400, window 50, hop 10, zstd level 3, ncd 0.15, flood 0.3, p 0.05, 1000
 * permutations, seed 42, canonicalise and redact on, 16 symbols. */
void cbad_settings_default(cbad_settings_t *s);

/* 0 when usable; else -EINVAL with *field naming the setting and *reason a static sentence. */
int cbad_settings_check(const cbad_settings_t *s, const char **field, const char **reason);

const char *cbad_stream_type_name(cbad_stream_type_t t);               /* "logs", "metrics", ... */
int cbad_stream_type_parse(const char *name, cbad_stream_type_t *out); /* 0 or -EINVAL */
const char *cbad_severity_name(cbad_severity_t s);                     /* "none", "medium", ... */

/* ---- results ------------------------------------------------------------------------------- */

#define CBAD_SAMPLES_MAX 5   /* baseline/window samples and novel lines kept per result */
#define CBAD_SAMPLE_LEN  512 /* bytes kept of each sample line (cut at a UTF-8 boundary) */

typedef struct cbad_result {
    uint64_t window_index; /* 0 for the first scored window, then +1 per hop */
    uint64_t first_event;  /* stream index (0-based, counting every pushed event) of the window's */
    uint64_t last_event;   /* first and last events; the baseline is the baseline events before */
    double score; /* in [0,1] for every window: effect x confidence (untested: confidence 1) */
    double ncd;   /* the window's NCD given the baseline, (C(B||W) - C(B)) / C(W), in
                   * [0,1]: the share of the window the baseline does not explain. This
                   * is the statistic of the permutation test (docs/watch.md, "Why directed") */
    double ncd_symmetric;    /* the textbook (C(B||W) - min(C(B),C(W))) / max(C(B),C(W)) */
    double ncd_reference;    /* the same directed NCD of the baseline's own last `window` events
                              * given the rest of the baseline: the stream's usual level */
    double novelty;          /* (ncd - ncd_reference) / (1 - ncd_reference) clamped to [0,1]: how
                              * much more the window is new than usual; ncd_threshold applies here */
    double repetition;       /* 1 - (usual compression ratio / the window's), clamped to [0,1]: how
                              * much more repetitive than usual the window is (a flood) */
    double repetition_usual; /* the largest repetition of the stream's recent windows
                              * (cbad_result_note); a flood must exceed it too */
    bool flood;              /* tested as a flood: novelty <= ncd_threshold, repetition >
                              * flood_threshold */
    bool new_template;       /* text: an anomaly because the window's newest hop holds a template
                              * new to the stream while its baseline holds none, though the
                              * compression view found nothing significant (docs/watch.md) */
    bool common;             /* text, fast mode: the per-template view's gate stopped the window
                              * (no line of a template new or rarer than usual; rare_template),
                              * so it cannot be an anomaly; only C(W) and the repetition were
                              * measured (ncd, novelty and the baseline's ratios are 0;
                              * docs/watch.md, "Speed") */
    double p_value;          /* (k+1)/(N+1); 1 when the window was screened out untested (novelty
                              * at or under the threshold: it cannot be an anomaly); after an early
                              * stop: see p_value_is_bound and docs/watch.md, "Speed" */
    double confidence;       /* 1 - p_value */
    bool significant;        /* p_value < p_threshold */
    bool anomaly;            /* significant, and novelty > ncd_threshold or a flood */
    cbad_severity_t severity;
    uint32_t permutations_run;   /* N actually spent (sequential stopping may spend fewer) */
    bool p_value_is_bound;       /* stopped early, significant beyond doubt: p_value is an upper
                                  * bound on the full test's p (else, after an early stop as not
                                  * significant, Besag-Clifford's p, at least p_threshold) */
    double p_graded;             /* p over the first min(N, 200) shuffles, which every
                                  * significant window runs: severity is graded on it */
    double compression_baseline; /* raw/compressed ratios (>1 = compressible) */
    double compression_window;
    double compression_combined;     /* the real ratio of B||W */
    double compression_reference;    /* ratio of the baseline's last `window` events (usual) */
    double compression_ratio_change; /* (window - baseline) / baseline */
    double baseline_entropy;         /* Shannon entropy, bits per byte, of the encoded bytes */
    double window_entropy;
    double entropy_change;      /* window - baseline, bits per byte */
    size_t window_raw;          /* text: the window's bytes and their compressed size, which */
    size_t window_compressed;   /* cbad_result_note keeps for a later window's C(B2) */
    char *explanation;          /* one paragraph, owned by the result; anomalies only (NULL for
                                 * a normal window, whose numbers are all above) */
    char *detailed_explanation; /* several lines with every number, owned; anomalies only */
    size_t n_baseline_samples, n_window_samples, n_novel;
    char *baseline_samples[CBAD_SAMPLES_MAX]; /* as stored: canonicalised/redacted if enabled */
    char *window_samples[CBAD_SAMPLES_MAX];
    char
        *novel_lines[CBAD_SAMPLES_MAX]; /* window events the baseline explains worst, worst first */
} cbad_result_t;

/* Frees the strings a result owns and zeroes it; safe on a zeroed result. */
void cbad_result_clear(cbad_result_t *r);

/* A new JSON object with the design doc's field names (ncd_score, p_value, confidence_level,
 * is_statistically_significant, compression_*, *_entropy, glass_box_explanation, ...,
 * baseline_data, window_data, novel_lines, window_index, first_event, last_event, score,
 * severity). NULL on allocation failure. */
json_t *cbad_result_to_json(const cbad_result_t *r);

/* ---- detector ------------------------------------------------------------------------------ */

/* Threading: a cbad_t is used by one thread at a time (the caller serialises push/take). A job is
 * self-contained (it copies what it needs), so it can run on any thread while the detector keeps
 * taking events; cbad_job_run() is the CPU-heavy part and belongs on the thread pool. Results
 * depend only on the events, the settings and the window index, never on scheduling. */
typedef struct cbad cbad_t;
typedef struct cbad_job cbad_job_t;
typedef struct cbad_scratch cbad_scratch_t;

/* Copies the settings (checked: -EINVAL when cbad_settings_check fails), -ENOMEM. */
int cbad_new(const cbad_settings_t *s, cbad_t **out);
void cbad_destroy(cbad_t **d);
const cbad_settings_t *cbad_settings(const cbad_t *d);

/* Feeds one event (its bytes; canonicalised/redacted as configured, then kept). For metrics
 * streams the bytes must parse as a number (else -EINVAL). Returns 1 when a window is due (take
 * it with cbad_job_take before the next push, or it is skipped), 0 when not, negative on error. */
int cbad_push(cbad_t *d, const void *event, size_t len);
/* Feeds one numeric value (metrics streams; -EINVAL for others or for NaN/inf). Same returns. */
int cbad_push_value(cbad_t *d, double value);

/* Tells a text detector (no-op for metrics) how a window it handed out was scored; call for
 * every window in stream order, before pushing the events after it. An anomaly, with `fold` set:
 * the next windows overlapping it are folded into it, not handed out, so one burst of new lines
 * is one anomaly window rather than window/hop overlapping ones and nothing is re-tested; the
 * first window after it holds only lines it did not report. Any other window: its repetition joins
 * the stream's usual repetition (the largest over the last baseline/hop windows), which a flood
 * must exceed (real logs are bursty: a burst like those the stream has shown is not a flood). */
void cbad_result_note(cbad_t *d, const cbad_result_t *r);
/* Windows folded so far (due but not handed out because of cbad_result_note). */
uint64_t cbad_folded(const cbad_t *d);

/* Total events pushed; windows handed out so far. */
uint64_t cbad_events(const cbad_t *d);
uint64_t cbad_windows(const cbad_t *d);

/* Snapshot of the due window and its baseline as a job owned by the caller; -EAGAIN when no
 * window is due, -ENOMEM. */
int cbad_job_take(cbad_t *d, cbad_job_t **out);
/* Like cbad_job_take, into a job taken before (its buffers are reused, grown when needed): a
 * stream scoring window after window allocates nothing per window. -EAGAIN (j unchanged),
 * -ENOMEM (j stays valid to destroy). */
int cbad_job_refill(cbad_t *d, cbad_job_t *j);
void cbad_job_destroy(cbad_job_t **j);
uint64_t cbad_job_window_index(const cbad_job_t *j);

/* Scores the job into *out (caller clears it with cbad_result_clear). scratch holds reusable
 * compression contexts and buffers: pass one per thread to avoid reallocating them per window,
 * or NULL to use a temporary one. 0, or -ENOMEM / -EIO (compressor failure). */
int cbad_job_run(const cbad_job_t *j, cbad_scratch_t *scratch, cbad_result_t *out);

/* How cbad_job_run_mode spends the permutation budget. The daemon always scores FAST; FULL is
 * the reference that `ganglion synth bench` and the tests compare it with. */
typedef enum {
    CBAD_MODE_FAST = 0, /* screening + sequential stopping + reused contexts (docs/watch.md) */
    CBAD_MODE_FULL,     /* the straightforward test: every window, all N permutations, a fresh
                         * compressor per compression (the yardstick for agreement and speed) */
} cbad_mode_t;

/* cbad_job_run with the mode chosen: cbad_job_run(j, s, out) is
 * cbad_job_run_mode(j, s, CBAD_MODE_FAST, out). */
int cbad_job_run_mode(const cbad_job_t *j, cbad_scratch_t *scratch, cbad_mode_t mode,
                      cbad_result_t *out);

/* Reusable per-thread state for cbad_job_run: never shared by two threads at once. */
int cbad_scratch_new(cbad_scratch_t **out);
void cbad_scratch_destroy(cbad_scratch_t **s);

/* ---- text helpers (also used by ingest) ---------------------------------------------------- */

/* Canonicalises (placeholders <NUMd> (d = integer digits) <UUID> <HEX> <TS> <IP> <EMAIL> <URL>
 * <JWT>) and/or redacts (JSON "password"/"token"/"key"/"secret"/"jwt"/"authorization"/"cookie"-like
 * fields → "<REDACTED>") in into out (cap bytes, NUL-terminated, cut at cap-1). Returns the output
 * length. */
size_t cbad_text_clean(const char *in, size_t len, bool canonicalise, bool redact, char *out,
                       size_t cap);

#endif
