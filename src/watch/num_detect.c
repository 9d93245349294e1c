/* The numeric-series detector: quantises each value with a step fixed by the warm-up range,
 * counts every context (the last 1..L quantised values) in a hash table, and scores a point by
 * how many of its contexts are new, whether it is a new extreme, and its robust level residual. */
#include "watch/num_detect.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NUM_TABLE_MAX (1u << 18) /* context table slots at most (3 MiB per detector) */

typedef struct {
    uint64_t key; /* 0: empty slot */
    uint32_t count;
} num_slot_t;

typedef struct {
    int64_t sym[NUM_CONTEXT_MAX]; /* the last symbols, newest at (n - 1) % max */
    uint64_t n;                   /* symbols seen */
    uint64_t salt;                /* keeps the streams' contexts apart in one table */
} num_stream_t;

struct num_detector {
    num_settings_t s;
    uint64_t n;              /* values seen */
    double lo, hi;           /* range of the values seen */
    double w_lo, step;       /* quantisation: floor((v - w_lo) / step), step > 0 */
    num_stream_t val, delta; /* quantised values, and their quantised steps */
    num_stream_t half;       /* quantised values on the grid shifted by half a step */
    double prev;             /* the previous value */
    double level, spread;    /* smoothed level and mean absolute deviation */
    uint64_t rest_until;     /* no anomaly raised while n <= rest_until */
    bool resting;
    double *sur;     /* ring of the last ent_window points' surprise (bits) */
    double sur_sum;  /* their sum */
    double hist_sum; /* surprise summed over the points that left the ring */
    uint64_t hist_n; /* how many they are */
    double *warm;    /* the warm-up values (freed once the step is fixed) */
    num_slot_t *tab; /* open addressing, cap a power of two, at most half full */
    size_t cap, used;
};

void num_settings_default(num_settings_t *s)
{
    /* Chosen on the NAB corpus, one set for every series (docs/watch.md, "Numeric series"). */
    *s = (num_settings_t){.warmup = 150,
                          .bins = 9,
                          .context = 3,
                          .rare = 1,
                          .shifted = false,
                          .outer = 4.0,
                          .trim = 0.0,
                          .context_delta = 3,
                          .w_novelty = 1.0,
                          .w_extreme = 0.3,
                          .w_delta = 0.0,
                          .w_compress = 0.0,
                          .w_residual = 0.0,
                          .res_alpha = 0.02,
                          .ent_window = 60,
                          .ent_bits = 4.0,
                          .w_entropy = 0.3,
                          .threshold = 0.9,
                          .rest = 50,
                          .rest_share = 0.05};
}

int num_settings_check(const num_settings_t *s, const char **field, const char **reason)
{
    if (s->warmup < 2 || s->warmup > 100000)
        return *field = "warmup", *reason = "must be 2..100000", -EINVAL;
    if (s->rare < 1 || s->rare > 1000)
        return *field = "rare", *reason = "must be 1..1000", -EINVAL;
    if (!(s->trim >= 0 && s->trim < 0.5))
        return *field = "trim", *reason = "must be in [0,0.5)", -EINVAL;
    if (s->bins < 1 || s->bins > 4096)
        return *field = "bins", *reason = "must be 1..4096", -EINVAL;
    if (s->context < 1 || s->context > NUM_CONTEXT_MAX)
        return *field = "context", *reason = "must be 1..8", -EINVAL;
    if (!(s->w_novelty >= 0 && s->w_extreme >= 0 && s->w_residual >= 0) ||
        s->w_novelty + s->w_extreme + s->w_residual <= 0)
        return *field = "weights", *reason = "must be >= 0 and not all 0", -EINVAL;
    if (s->ent_window > 100000 || !(s->ent_bits > 0) || !(s->w_entropy >= 0))
        return *field = "entropy", *reason = "window <= 100000, bits > 0, weight >= 0", -EINVAL;
    if (!(s->res_alpha > 0 && s->res_alpha <= 1))
        return *field = "res_alpha", *reason = "must be in (0,1]", -EINVAL;
    if (!(s->threshold > 0 && s->threshold <= 1))
        return *field = "threshold", *reason = "must be in (0,1]", -EINVAL;
    if (s->rest > 1000000 || !(s->rest_share >= 0 && s->rest_share <= 1))
        return *field = "rest", *reason = "rows must be <= 1000000, share in [0,1]", -EINVAL;
    return 0;
}

int num_detector_new(const num_settings_t *s, num_detector_t **out)
{
    const char *f, *r;
    *out = NULL;
    if (num_settings_check(s, &f, &r) < 0)
        return -EINVAL;
    num_detector_t *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    d->s = *s;
    d->val.salt = 0x51ed270b27b3d3a1ULL;
    d->delta.salt = 0x2545f4914f6cdd1dULL;
    d->half.salt = 0x94d049bb133111ebULL;
    d->cap = 1024;
    d->tab = calloc(d->cap, sizeof *d->tab);
    d->warm = calloc(2 * (size_t)s->warmup, sizeof *d->warm); /* in order, then sorted */
    d->sur = calloc(s->ent_window ? s->ent_window : 1, sizeof *d->sur);
    if (!d->tab || !d->warm || !d->sur) {
        free(d->sur);
        free(d->warm);
        free(d->tab);
        free(d);
        return -ENOMEM;
    }
    *out = d;
    return 0;
}

void num_detector_destroy(num_detector_t **d)
{
    if (!d || !*d)
        return;
    free((*d)->tab);
    free((*d)->warm);
    free((*d)->sur);
    free(*d);
    *d = NULL;
}

static int num_cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static uint64_t num_mix(uint64_t h, uint64_t x)
{
    h ^= x + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static int num_table_grow(num_detector_t *d)
{
    size_t cap = d->cap * 2;
    num_slot_t *t = calloc(cap, sizeof *t);
    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < d->cap; i++) {
        if (!d->tab[i].key)
            continue;
        size_t j = d->tab[i].key & (cap - 1);
        while (t[j].key)
            j = (j + 1) & (cap - 1);
        t[j] = d->tab[i];
    }
    free(d->tab);
    d->tab = t;
    d->cap = cap;
    return 0;
}

/* Count of key before this call; the count is then incremented. -ENOMEM when it cannot grow.
 * The table stops at NUM_TABLE_MAX slots: a context new after that is not stored and counts as
 * seen (the memory of a stream stays bounded; novelty then comes from known contexts only). */
static int64_t num_table_bump(num_detector_t *d, uint64_t key)
{
    key |= 1; /* never 0, the empty mark */
    bool full = (d->used + 1) * 2 > d->cap && d->cap >= NUM_TABLE_MAX;
    if (!full && (d->used + 1) * 2 > d->cap && num_table_grow(d) < 0)
        return -ENOMEM;
    size_t j = key & (d->cap - 1);
    while (d->tab[j].key && d->tab[j].key != key)
        j = (j + 1) & (d->cap - 1);
    if (!d->tab[j].key && full)
        return UINT32_MAX;
    if (!d->tab[j].key) {
        d->tab[j].key = key;
        d->used++;
    }
    uint32_t c = d->tab[j].count;
    if (c < UINT32_MAX)
        d->tab[j].count++;
    return c;
}

/* -log10 of the two-sided Gaussian tail of z, over 10, in [0,1]: 0.5 at p = 1e-5. */
static double num_tail_score(double z)
{
    double p = erfc(z / sqrt(2.0));
    if (!(p > 0))
        return 1.0;
    double sc = -log10(p) / 10.0;
    return sc < 0 ? 0 : sc > 1 ? 1 : sc;
}

/* Appends q to st and counts its contexts of length 1..L; the share of lengths whose context
 * was seen fewer than `rare` times before into *novelty, the shortest such length into *shortest
 * (0 if none). 0 / -ENOMEM. */
static int num_stream_novelty(num_detector_t *d, num_stream_t *st, int64_t q, uint32_t L,
                              double *novelty, uint32_t *shortest, int64_t *count1)
{
    st->sym[st->n % NUM_CONTEXT_MAX] = q;
    st->n++;
    uint64_t avail = st->n < L ? st->n : L;
    uint64_t h = st->salt;
    uint32_t novel = 0;
    *shortest = 0;
    for (uint32_t l = 1; l <= avail; l++) {
        h = num_mix(h, (uint64_t)st->sym[(st->n - l) % NUM_CONTEXT_MAX]);
        int64_t c = num_table_bump(d, num_mix(h, l));
        if (c < 0)
            return (int)c;
        if (l == 1 && count1)
            *count1 = c;
        if (c < (int64_t)d->s.rare) {
            novel++;
            if (!*shortest)
                *shortest = l;
        }
    }
    *novelty = (double)novel / (double)L;
    return 0;
}

/* The symbol of x (a value in steps above the warm-up minimum): linear inside the warm-up
 * range, log-spaced (outer per doubling) beyond it. */
static double num_symbol(const num_settings_t *s, double x)
{
    double q = floor(x);
    if (s->outer > 0 && q >= (double)s->bins)
        q = (double)s->bins + floor(s->outer * log2(q - (double)s->bins + 1.0));
    else if (s->outer > 0 && q < 0)
        q = -1.0 - floor(s->outer * log2(-q));
    return q < -1e15 ? -1e15 : q > 1e15 ? 1e15 : q;
}

/* The relative-entropy signal: a point's surprise is -log2 of its symbol's share among the
 * symbols before it (add-one smoothed); the signal is how many bits per point the last
 * ent_window points' mean surprise exceeds the mean surprise of every point before them, over
 * ent_bits, in [0,1] — high when the recent values are distributed unlike the history. O(1). */
static double num_entropy_push(num_detector_t *d, int64_t seen)
{
    const num_settings_t *s = &d->s;
    uint64_t k = d->val.n - 1; /* symbols before this one */
    double bits = -log2(((double)seen + 1.0) / ((double)k + (double)s->bins + 1.0));
    uint64_t slot = k % s->ent_window;
    if (k >= s->ent_window) {
        d->hist_sum += d->sur[slot];
        d->hist_n++;
        d->sur_sum -= d->sur[slot];
    }
    d->sur[slot] = bits;
    d->sur_sum += bits;
    if (d->hist_n < s->ent_window)
        return 0.0;
    double excess = d->sur_sum / (double)s->ent_window - d->hist_sum / (double)d->hist_n;
    double e = excess / s->ent_bits;
    return e < 0 ? 0 : e > 1 ? 1 : e;
}

/* Counts the contexts of the warm-up values (in their order) once the step is fixed, so that the
 * first points after the warm-up are not new merely because nothing was counted yet. Once per
 * detector, O(warmup x context). 0 / -ENOMEM. */
static int num_warmup_learn(num_detector_t *d)
{
    const num_settings_t *s = &d->s;
    for (uint32_t i = 0; i < s->warmup; i++) {
        double nov;
        uint32_t len;
        int64_t q = (int64_t)num_symbol(s, (d->warm[i] - d->w_lo) / d->step);
        int rc = num_stream_novelty(d, &d->val, q, s->context, &nov, &len, NULL);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int num_detector_push(num_detector_t *d, double v, num_point_t *p)
{
    return num_detector_push_with(d, v, NAN, p);
}

int num_detector_push_with(num_detector_t *d, double v, double compress, num_point_t *p)
{
    if (!d || !p || !isfinite(v))
        return -EINVAL;
    *p = (num_point_t){0};
    const num_settings_t *s = &d->s;
    bool warm = d->n >= s->warmup;
    if (d->n == 0) {
        d->lo = d->hi = d->level = v;
        d->spread = 0;
    }
    if (d->n < s->warmup)
        d->warm[d->n] = v;
    if (d->n == s->warmup) { /* the quantisation step is fixed from here on */
        double *sorted = d->warm + s->warmup;
        memcpy(sorted, d->warm, s->warmup * sizeof *d->warm);
        qsort(sorted, s->warmup, sizeof *sorted, num_cmp_dbl);
        size_t cut = (size_t)(s->trim * (double)s->warmup);
        double wlo = sorted[cut], whi = sorted[s->warmup - 1 - cut];
        double range = whi - wlo;
        if (!(range > 0))
            range = fabs(d->hi) > 0 ? fabs(d->hi) : 1.0;
        d->w_lo = wlo;
        d->step = range / (double)s->bins;
        int rc = s->learn_warmup ? num_warmup_learn(d) : 0;
        free(d->warm);
        d->warm = NULL;
        if (rc < 0)
            return rc;
        /* The contexts are learnt from here on: the first rest period starts now, so the first
         * points after the warm-up (every context new) raise no anomaly. */
        uint64_t span = (uint64_t)(s->rest_share * (double)d->n);
        d->rest_until = d->n + (span > s->rest ? span : s->rest);
        d->resting = true;
    }
    if (warm) {
        p->extreme = v > d->hi || v < d->lo ? 1.0 : 0.0;
        double q = num_symbol(s, (v - d->w_lo) / d->step);
        int64_t seen = 0;
        int rc = num_stream_novelty(d, &d->val, (int64_t)q, s->context, &p->novelty, &p->novel_len,
                                    &seen);
        if (rc == 0 && s->shifted) { /* new on the half-step-shifted grid too, or not new */
            double nov2;
            uint32_t len2;
            rc = num_stream_novelty(d, &d->half,
                                    (int64_t)num_symbol(s, (v - d->w_lo) / d->step + 0.5),
                                    s->context, &nov2, &len2, NULL);
            if (rc == 0 && nov2 < p->novelty) { /* a failed look (rc < 0) set neither */
                p->novelty = nov2;
                p->novel_len = len2;
            }
        }
        if (rc == 0 && s->w_delta > 0) {
            double dq = floor((v - d->prev) / d->step + 0.5);
            dq = dq < -1e15 ? -1e15 : dq > 1e15 ? 1e15 : dq;
            uint32_t dl;
            rc = num_stream_novelty(d, &d->delta, (int64_t)dq, s->context_delta, &p->delta, &dl,
                                    NULL);
        }
        if (rc < 0)
            return rc;
        if (s->ent_window > 0)
            p->entropy = num_entropy_push(d, seen);
        double sd = d->spread * 1.2533 + 1e-9 * (fabs(d->level) + 1);
        p->residual = num_tail_score(fabs(v - d->level) / sd);
        double sc = s->w_novelty * p->novelty + s->w_extreme * p->extreme +
                    s->w_residual * p->residual + s->w_delta * p->delta + s->w_entropy * p->entropy;
        if (isfinite(compress)) {
            p->compress = compress < 0 ? 0 : compress > 1 ? 1 : compress;
            sc += s->w_compress * p->compress;
        }
        p->score = sc > 1 ? 1 : sc;
        if (d->resting && d->n > d->rest_until)
            d->resting = false;
        p->resting = d->resting;
        if (d->resting && s->rest_extend && p->score >= s->threshold) {
            uint64_t span = (uint64_t)(s->rest_share * (double)d->n);
            d->rest_until = d->n + (span > s->rest ? span : s->rest);
        }
        if (p->score >= s->threshold && !d->resting) {
            p->anomaly = true;
            uint64_t span = (uint64_t)(s->rest_share * (double)d->n);
            d->rest_until = d->n + (span > s->rest ? span : s->rest);
            d->resting = true;
        }
    }
    double a = d->n < 1.0 / s->res_alpha ? 1.0 / (double)(d->n + 1) : s->res_alpha;
    d->spread += a * (fabs(v - d->level) - d->spread);
    d->level += a * (v - d->level);
    d->lo = v < d->lo ? v : d->lo;
    d->hi = v > d->hi ? v : d->hi;
    d->prev = v;
    d->n++;
    return 0;
}

void num_point_explain(const num_point_t *p, char *buf, size_t cap)
{
    if (!cap)
        return;
    int w = snprintf(buf, cap, "score %.2f:", p->score);
    size_t at = w > 0 && (size_t)w < cap ? (size_t)w : cap - 1;
    if (p->novelty > 0 && at < cap)
        at += (size_t)snprintf(buf + at, cap - at,
                               " novel context (%.0f%% of lengths new, shortest %u)",
                               100 * p->novelty, p->novel_len);
    if (p->extreme > 0 && at < cap)
        at += (size_t)snprintf(buf + at, cap - at, " beyond every earlier value;");
    if (p->delta > 0 && at < cap)
        at += (size_t)snprintf(buf + at, cap - at, " novel step pattern (%.0f%% of lengths new);",
                               100 * p->delta);
    if (p->entropy > 0 && at < cap)
        at += (size_t)snprintf(buf + at, cap - at,
                               " recent values distributed unlike the history (relative entropy "
                               "%.2f);",
                               p->entropy);
    if (p->compress > 0 && at < cap)
        at += (size_t)snprintf(buf + at, cap - at, " compression score %.2f;", p->compress);
    if (p->residual > 0.3 && at < cap)
        snprintf(buf + at, cap - at, " far from the smoothed level (tail score %.2f)", p->residual);
}
