/* Sequential stopping of the permutation test with a bounded error against the full test: the
 * boundaries (per look, the counts at which the outcome of all N shuffles is beyond doubt either
 * way) and the bound on the full test's p reported when a window stops early as significant. */
#include "watch/cbad_priv.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Points of the grid over the exceedance probability q: 0, then log-spaced from 1e-7 to 1. The
 * supremum over q of a product of a falling and a rising function is bounded on every cell
 * [q_i, q_i+1] by the falling one at q_i times the rising one at q_i+1, so a finite grid gives a
 * rigorous (slightly conservative) bound. */
#define CBAD_SEQ_GRID 320

/* Whether look l (after l * step shuffles) may stop a window as significant: the first look
 * once the grading shuffles have run, then every tenth. A significant window has to run those
 * anyway, and few such looks leave each a larger share of the risk. */
static bool cbad_seq_sig_look(uint32_t l, uint32_t step, uint32_t n_grade)
{
    uint32_t n = l * step;
    return n >= n_grade && (n - step < n_grade || l % 10 == 0);
}

/* rat[j] = (n - j) / (j + 1) for j = 0..kmax (0 from j = n on): the ratio of successive binomial
 * coefficients, computed once per n for every grid point (the division was most of the build). */
static void cbad_binom_ratios(uint32_t n, uint32_t kmax, double *rat)
{
    for (uint32_t j = 0; j <= kmax; j++)
        rat[j] = j < n ? (double)(n - j) / (double)(j + 1) : 0.0;
}

/* P(Bin(n, q) <= j) for j = 0..kmax into cdf[], given rat from cbad_binom_ratios(n, kmax). The
 * probabilities by the ratio of successive terms, in the linear domain while the first term is
 * representable, else in logs. */
static void cbad_binom_cdf(uint32_t n, double q, uint32_t kmax, const double *rat, double *cdf)
{
    if (q <= 0.0) {
        for (uint32_t j = 0; j <= kmax; j++)
            cdf[j] = 1.0;
        return;
    }
    if (q >= 1.0) {
        for (uint32_t j = 0; j <= kmax; j++)
            cdf[j] = j >= n ? 1.0 : 0.0;
        return;
    }
    double l0 = (double)n * log1p(-q), acc = 0.0;
    if (l0 > -700.0) {
        double p = exp(l0), r = q / (1.0 - q);
        for (uint32_t j = 0; j <= kmax; j++) {
            if (j <= n) {
                acc += p;
                p *= rat[j] * r;
            }
            cdf[j] = acc < 1.0 ? acc : 1.0;
        }
        return;
    }
    double lp = l0, lr = log(q) - log1p(-q);
    for (uint32_t j = 0; j <= kmax; j++) {
        if (j <= n) {
            acc += exp(lp);
            if (j < n)
                lp += log(rat[j]) + lr;
        }
        cdf[j] = acc < 1.0 ? acc : 1.0;
    }
}

void cbad_seq_free(cbad_seq_t *t)
{
    free(t->sig_max);
    free(t->ns_min);
    free(t->bound);
    memset(t, 0, sizeof *t);
}

/* P(Bin(m, q) >= t) from a cdf vector of Bin(m, q) (t = 0 is certain). */
static double cbad_sf(const double *cdf, uint32_t t)
{
    if (t == 0)
        return 1.0;
    double v = 1.0 - cdf[t - 1];
    return v > 0.0 ? v : 0.0;
}

int cbad_seq_build(cbad_seq_t *t, uint32_t n_perm, double alpha, uint32_t kstop, uint32_t n_grade)
{
    cbad_seq_free(t);
    t->n_perm = n_perm;
    t->alpha = alpha;
    /* The full test is significant iff K <= kstar, with K its count over all N shuffles. */
    if (kstop == 0 || kstop - 1 > CBAD_SEQ_KMAX || n_perm < 20)
        return 0; /* no sequential boundaries: exact curtailment only */
    uint32_t kstar = kstop - 1;
    t->kstar = kstar;
    t->step = n_perm / 100 > 10 ? n_perm / 100 : 10;
    t->looks = (n_perm - 1) / t->step; /* looks at step, 2 step, ... < n_perm */
    if (t->looks == 0)
        return 0;
    /* Half the risk goes to the stops as not significant, possible at every look; half to the
     * stops as significant, at the looks cbad_seq_sig_look allows. */
    uint32_t sig_looks = 0;
    for (uint32_t l = 1; l <= t->looks; l++)
        sig_looks += cbad_seq_sig_look(l, t->step, n_grade);
    double eps_ns = CBAD_SEQ_RISK / 2.0 / (double)t->looks;
    double eps_sig = sig_looks ? CBAD_SEQ_RISK / 2.0 / (double)sig_looks : 0.0;
    uint32_t kw = kstar + 2;
    size_t g = CBAD_SEQ_GRID + 1;
    double *q = malloc(sizeof *q * g);
    double *cn = malloc(sizeof *cn * g * kw); /* cdf of Bin(n, q_i) */
    double *cm = malloc(sizeof *cm * g * kw); /* cdf of Bin(N - n, q_i) */
    double *rn = malloc(sizeof *rn * 2 * kw), *rm = rn ? rn + kw : NULL; /* their ratios */
    t->sig_max = malloc(sizeof *t->sig_max * (t->looks + 1));
    t->ns_min = malloc(sizeof *t->ns_min * (t->looks + 1));
    t->bound = malloc(sizeof *t->bound * (t->looks + 1) * (kstar + 1));
    int rc = 0;
    if (!q || !cn || !cm || !rn || !t->sig_max || !t->ns_min || !t->bound) {
        rc = -ENOMEM;
        goto out;
    }
    q[0] = 0.0;
    for (size_t i = 1; i < g; i++)
        q[i] = pow(10.0, -7.0 + 7.0 * (double)(i - 1) / (double)(g - 2));
    q[g - 1] = 1.0;
    for (uint32_t l = 0; l <= t->looks; l++) {
        t->sig_max[l] = -1;
        t->ns_min[l] = INT32_MAX;
        for (uint32_t k = 0; k <= kstar; k++)
            t->bound[(size_t)l * (kstar + 1) + k] = -1;
    }
    for (uint32_t l = 1; l <= t->looks; l++) {
        uint32_t n = l * t->step, m = n_perm - n;
        cbad_binom_ratios(n, kstar + 1, rn);
        cbad_binom_ratios(m, kstar + 1, rm);
        for (size_t i = 0; i < g; i++) {
            cbad_binom_cdf(n, q[i], kstar + 1, rn, cn + i * kw);
            cbad_binom_cdf(m, q[i], kstar + 1, rm, cm + i * kw);
        }
        /* Stop as significant with k <= sig_max: wrong if the remaining m shuffles bring the
         * count over kstar. Risk sup_q P(Bin(n,q) <= k) P(Bin(m,q) >= kstar + 1 - k). Severity is
         * graded on the first n_grade shuffles, so no look before them stops as significant. */
        if (cbad_seq_sig_look(l, t->step, n_grade)) {
            for (uint32_t k = 0; k <= kstar; k++) {
                double risk = 0.0;
                for (size_t i = 0; i + 1 < g; i++) {
                    double v = cn[i * kw + k] * cbad_sf(cm + (i + 1) * kw, kstar + 1 - k);
                    risk = v > risk ? v : risk;
                }
                if (risk > eps_sig)
                    break;
                t->sig_max[l] = (int32_t)k;
                /* The bound: the smallest u with P(k <= k, more than u of the rest) <= eps;
                 * then K <= k + u, and the full test's p <= (k + u + 1) / (N + 1). The risk
                 * falls as u grows and u = kstar - k passes (just checked): bisection. */
                uint32_t lo = 0, hi = kstar - k;
                while (lo < hi) {
                    uint32_t u = lo + (hi - lo) / 2;
                    double r2 = 0.0;
                    for (size_t i = 0; i + 1 < g; i++) {
                        double v = cn[i * kw + k] * cbad_sf(cm + (i + 1) * kw, u + 1);
                        r2 = v > r2 ? v : r2;
                    }
                    if (r2 <= eps_sig)
                        hi = u;
                    else
                        lo = u + 1;
                }
                t->bound[(size_t)l * (kstar + 1) + k] = (int32_t)lo;
            }
        }
        /* Stop as not significant with k >= ns_min: wrong if the full count stays <= kstar.
         * Risk sup_q P(Bin(n,q) >= k) P(Bin(m,q) <= kstar - k). */
        for (uint32_t k = 1; k <= kstar && k <= n; k++) {
            double risk = 0.0;
            for (size_t i = 0; i + 1 < g; i++) {
                double v = cbad_sf(cn + (i + 1) * kw, k) * cm[i * kw + (kstar - k)];
                risk = v > risk ? v : risk;
            }
            if (risk <= eps_ns) {
                t->ns_min[l] = (int32_t)k;
                break;
            }
        }
    }
out:
    free(q);
    free(cn);
    free(cm);
    free(rn);
    if (rc < 0)
        cbad_seq_free(t);
    return rc;
}
