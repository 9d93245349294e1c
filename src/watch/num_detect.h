/* Streaming detector for one numeric series (metrics): scores every point in [0,1] from named,
 * explainable signals — contextual novelty of the quantised recent history, a new extreme and a
 * robust level residual — and decides anomalies with a rest period. See docs/watch.md. */
#ifndef GANGLION_WATCH_NUM_DETECT_H
#define GANGLION_WATCH_NUM_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NUM_CONTEXT_MAX 8 /* longest context of quantised values */

typedef struct {
    uint32_t warmup;        /* points that fix the quantisation step (no score before) */
    bool learn_warmup;      /* the warm-up values' contexts are counted once the step is fixed */
    uint32_t bins;          /* quantisation steps across the warm-up range */
    uint32_t context;       /* context lengths 1..context are checked for novelty */
    uint32_t rare;          /* a context seen fewer than this many times before counts as new */
    bool rest_extend;       /* a point scoring >= threshold while resting extends the rest */
    double w_novelty;       /* weight of the context novelty in the score */
    double w_extreme;       /* weight of a value beyond every value seen so far */
    double outer;           /* >0: steps per doubling of the distance beyond the warm-up range */
    bool shifted;           /* a context must be new on a half-step-shifted grid too */
    double trim;            /* share of the warm-up values left out at each end of its range */
    uint32_t context_delta; /* context lengths of the quantised steps */
    double w_delta;         /* weight of the novelty of the steps' context */
    double w_compress;      /* weight of the compression signal given to num_detector_push_with */
    double w_residual;      /* weight of the robust level residual */
    double res_alpha;       /* smoothing of the level and spread (per point) */
    uint32_t ent_window;    /* points in the relative-entropy window (0: signal off) */
    double ent_bits;        /* excess surprise (bits per point) that scores 1 */
    double w_entropy;       /* weight of the window's excess surprise over the history's */
    double threshold;       /* a point scoring at least this is an anomaly ... */
    uint32_t rest;          /* ... unless an anomaly was raised in the rest rows before it */
    double rest_share;      /* rest grows to this share of the points seen */
} num_settings_t;

typedef struct {
    double score;       /* [0,1], 0 during warm-up */
    double novelty;     /* [0,1]: share of context lengths never seen before */
    double extreme;     /* 0 or 1: beyond the range of every earlier value */
    double residual;    /* [0,1]: tail score of the distance to the smoothed level */
    double delta;       /* [0,1]: share of step-context lengths never seen before */
    double compress;    /* [0,1]: the compression signal given (0 if none) */
    double entropy;     /* [0,1]: the window's excess surprise over the history's, / ent_bits */
    uint32_t novel_len; /* shortest novel context length, 0 if none */
    bool anomaly;       /* score >= threshold outside a rest period */
    bool resting;       /* inside the rest period of an earlier anomaly */
} num_point_t;

typedef struct num_detector num_detector_t;

void num_settings_default(num_settings_t *s);
/* 0, or -EINVAL with *field / *reason naming what is wrong. */
int num_settings_check(const num_settings_t *s, const char **field, const char **reason);
/* *out is owned by the caller (num_detector_destroy). 0 / -EINVAL / -ENOMEM. */
int num_detector_new(const num_settings_t *s, num_detector_t **out);
void num_detector_destroy(num_detector_t **d);
/* Scores one value (finite), seeing only earlier values. 0 / -EINVAL / -ENOMEM. */
int num_detector_push(num_detector_t *d, double value, num_point_t *out);
/* The same with the compression view's calibrated score for the point (NAN: none yet) as
 * one more signal, weighted by w_compress. */
int num_detector_push_with(num_detector_t *d, double value, double compress, num_point_t *out);
/* One line naming the signals behind a point, into buf (always terminated). */
void num_point_explain(const num_point_t *p, char *buf, size_t cap);

#endif
