/* The glass-box side of a result: the explanation a colleague would write, the detailed
 * evidence, bounded samples of baseline and window, the window lines the baseline explains worst,
 * and the JSON form with the design's field names. */
#include "watch/cbad_priv.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cbad_result_clear(cbad_result_t *r)
{
    free(r->explanation);
    free(r->detailed_explanation);
    for (size_t i = 0; i < CBAD_SAMPLES_MAX; i++) {
        free(r->baseline_samples[i]);
        free(r->window_samples[i]);
        free(r->novel_lines[i]);
    }
    memset(r, 0, sizeof *r);
}

/* A copy of one event without its trailing newline, cut at CBAD_SAMPLE_LEN on a UTF-8 boundary. */
static char *cbad_sample(const char *p, size_t len)
{
    if (len && p[len - 1] == '\n')
        len--;
    if (len > CBAD_SAMPLE_LEN) {
        len = CBAD_SAMPLE_LEN;
        while (len > 0 && ((unsigned char)p[len] & 0xC0) == 0x80)
            len--;
    }
    char *s = malloc(len + 1);
    if (s) {
        memcpy(s, p, len);
        s[len] = '\0';
    }
    return s;
}

static char *cbad_value_sample(double v)
{
    char buf[40];
    snprintf(buf, sizeof buf, "%.17g", v);
    return strdup(buf);
}

static const char *cbad_ncd_reading(double ncd)
{
    return ncd < 0.3 ? "low" : ncd < 0.7 ? "moderate" : "high";
}

static char *cbad_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *cbad_fmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Metrics: one symbol per value compresses alike whatever it is, so values are ranked by their
 * distance from the baseline's median in units of its median absolute deviation. */
static int cbad_novel_values(const cbad_job_t *j, cbad_result_t *r)
{
    uint32_t nb = j->s.baseline, nw = j->n - nb;
    double *tmp = malloc(sizeof *tmp * (nb ? nb : 1)); /* malloc(0) may be NULL */
    uint32_t *idx = malloc(sizeof *idx * (nw ? nw : 1));
    int rc = 0;
    if (!tmp || !idx) {
        rc = -ENOMEM;
        goto out;
    }
    memcpy(tmp, j->val, sizeof *tmp * nb);
    qsort(tmp, nb, sizeof *tmp, cmp_dbl);
    double med = tmp[nb / 2];
    for (uint32_t i = 0; i < nb; i++)
        tmp[i] = fabs(j->val[i] - med);
    qsort(tmp, nb, sizeof *tmp, cmp_dbl);
    double mad = tmp[nb / 2] > 0 ? tmp[nb / 2] : 1e-12;
    for (uint32_t i = 0; i < nw; i++)
        idx[i] = i;
    size_t keep = nw < CBAD_SAMPLES_MAX ? nw : CBAD_SAMPLES_MAX;
    for (size_t a = 0; a < keep; a++) {
        size_t best = a;
        for (size_t b = a + 1; b < nw; b++) {
            double db = fabs(j->val[nb + idx[b]] - med) / mad;
            double dm = fabs(j->val[nb + idx[best]] - med) / mad;
            if (db > dm || (db == dm && idx[b] < idx[best]))
                best = b;
        }
        uint32_t t = idx[a];
        idx[a] = idx[best];
        idx[best] = t;
        r->novel_lines[a] = cbad_value_sample(j->val[nb + idx[a]]);
        if (!r->novel_lines[a]) {
            rc = -ENOMEM;
            goto out;
        }
        r->n_novel = a + 1;
    }
out:
    free(tmp);
    free(idx);
    return rc;
}

/* Ranks window events by what they cost to compress with the baseline as a dictionary: the
 * lines the baseline explains worst come first. Only run for anomalies (one dictionary build and
 * one small compression per window event). */
static int cbad_novel(const cbad_job_t *j, const char *data, const size_t *off, cbad_scratch_t *sc,
                      cbad_result_t *r)
{
    uint32_t nb = j->s.baseline, n = j->n, nw = n - nb;
    if (j->val)
        return cbad_novel_values(j, r);
    ZSTD_CDict *dict = ZSTD_createCDict(data + off[0], off[nb] - off[0], j->s.level);
    if (!dict)
        return -ENOMEM;
    size_t *cost = malloc(sizeof *cost * (nw ? nw : 1)); /* malloc(0) may be NULL */
    uint32_t *idx = malloc(sizeof *idx * (nw ? nw : 1));
    int rc = 0;
    if (!cost || !idx) {
        rc = -ENOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < nw; i++) {
        uint32_t e = nb + i;
        size_t len = off[e + 1] - off[e];
        size_t c =
            ZSTD_compress_usingCDict(sc->cctx, sc->out, sc->out_cap, data + off[e], len, dict);
        if (ZSTD_isError(c)) {
            rc = -EIO;
            goto out;
        }
        cost[i] = c;
        idx[i] = i;
    }
    /* Selection of the costliest few; ties keep stream order. A new template's anomaly shows
     * the lines of the templates new to the stream first (cbad_template_new). */
    const uint8_t *fresh = r->new_template ? j->fresh : NULL;
    size_t keep = nw < CBAD_SAMPLES_MAX ? nw : CBAD_SAMPLES_MAX;
    for (size_t a = 0; a < keep; a++) {
        size_t best = a;
        for (size_t b = a + 1; b < nw; b++) {
            int fb = fresh ? fresh[idx[b]] : 0, fbest = fresh ? fresh[idx[best]] : 0;
            if (fb > fbest ||
                (fb == fbest && (cost[idx[b]] > cost[idx[best]] ||
                                 (cost[idx[b]] == cost[idx[best]] && idx[b] < idx[best]))))
                best = b;
        }
        uint32_t t = idx[a];
        idx[a] = idx[best];
        idx[best] = t;
        uint32_t e = nb + idx[a];
        if (j->val)
            r->novel_lines[a] = cbad_value_sample(j->val[e]);
        else
            r->novel_lines[a] = cbad_sample(data + off[e], off[e + 1] - off[e]);
        if (!r->novel_lines[a]) {
            rc = -ENOMEM;
            goto out;
        }
        r->n_novel = a + 1;
    }
    /* sc->cctx now carries dictionary state; the next compress2 call must start clean. */
    ZSTD_CCtx_reset(sc->cctx, ZSTD_reset_session_and_parameters);
    sc->level = 0;
out:
    ZSTD_freeCDict(dict);
    free(cost);
    free(idx);
    return rc;
}

static int cbad_samples(const cbad_job_t *j, const char *data, const size_t *off, cbad_result_t *r)
{
    uint32_t nb = j->s.baseline, nw = j->n - nb;
    /* Baseline: evenly spread over it; window: its first events. */
    size_t kb = nb < CBAD_SAMPLES_MAX ? nb : CBAD_SAMPLES_MAX;
    for (size_t i = 0; i < kb; i++) {
        uint32_t e = (uint32_t)(i * nb / kb);
        r->baseline_samples[i] =
            j->val ? cbad_value_sample(j->val[e]) : cbad_sample(data + off[e], off[e + 1] - off[e]);
        if (!r->baseline_samples[i])
            return -ENOMEM;
        r->n_baseline_samples = i + 1;
    }
    size_t kw = nw < CBAD_SAMPLES_MAX ? nw : CBAD_SAMPLES_MAX;
    for (size_t i = 0; i < kw; i++) {
        uint32_t e = nb + (uint32_t)i;
        r->window_samples[i] =
            j->val ? cbad_value_sample(j->val[e]) : cbad_sample(data + off[e], off[e + 1] - off[e]);
        if (!r->window_samples[i])
            return -ENOMEM;
        r->n_window_samples = i + 1;
    }
    return 0;
}

/* Why the permutation test ran fewer than N shuffles, if it did. */
static const char *cbad_stop_note(const cbad_result_t *r, const cbad_settings_t *s)
{
    if (r->permutations_run == 0 || r->permutations_run >= s->permutations)
        return "";
    if (r->p_value_is_bound)
        return " The test stopped early: so few shuffles reached the observed value that the full "
               "test is significant beyond doubt (error at most 1e-4); p is an upper bound on its "
               "p.";
    return " The test stopped early: enough shuffles already reached the observed value for the "
           "full test to be non-significant.";
}

int cbad_explain(const cbad_job_t *j, const char *data, const size_t *off, cbad_scratch_t *sc,
                 cbad_result_t *r)
{
    int rc;
    if ((rc = cbad_samples(j, data, off, r)) < 0)
        return rc;
    if (r->anomaly && (rc = cbad_novel(j, data, off, sc, r)) < 0)
        return rc;

    const cbad_settings_t *s = &j->s;
    /* The texts are written for anomalies alone: nobody is shown a normal window's, and two
     * paragraphs of formatted numbers per window cost more than the rest of the bookkeeping. */
    if (!r->anomaly)
        return 0;
    char verdict[200];
    if (r->new_template)
        snprintf(verdict, sizeof verdict,
                 "Anomaly (%s): a new template, the window holds a kind of line the stream has "
                 "never shown, after %u lines that brought none",
                 cbad_severity_name(r->severity), s->baseline);
    else if (r->flood)
        snprintf(verdict, sizeof verdict,
                 "Anomaly (%s): a flood, the window is %.0f %% more repetitive than usual",
                 cbad_severity_name(r->severity), r->repetition * 100.0);
    else
        snprintf(verdict, sizeof verdict,
                 "Anomaly (%s): the window holds events the baseline does not explain",
                 cbad_severity_name(r->severity));

    /* Compare the window with a baseline block of its own size: against the whole baseline a
     * 50-event window always compresses worse, because it is shorter. */
    double usual = r->compression_reference;
    double vs = usual > 0 ? (r->compression_window - usual) / usual : 0.0;
    char reading[200];
    if (vs <= -0.15)
        snprintf(reading, sizeof reading,
                 "the window compresses %.0f %% worse than a usual stretch of the baseline: new "
                 "kinds of events appeared",
                 -vs * 100.0);
    else if (vs >= 0.15)
        snprintf(reading, sizeof reading,
                 "the window compresses %.0f %% better than a usual stretch of the baseline: it "
                 "is more repetitive (a flood of one kind of event?)",
                 vs * 100.0);
    else
        snprintf(reading, sizeof reading,
                 "the window compresses about as well as a usual stretch of the baseline "
                 "(%+.0f %%)",
                 vs * 100.0);

    /* The novel lines are canonicalised, so lines of one template read alike: name each kind
     * once ("Most novel" for one; the kinds in order of novelty for several). */
    char kinds[3 * (CBAD_SAMPLE_LEN + 8) + 64];
    size_t kp = 0, n_kinds = 0;
    kinds[0] = '\0';
    for (size_t i = 0; i < r->n_novel && n_kinds < 3; i++) {
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = strcmp(r->novel_lines[k], r->novel_lines[i]) == 0;
        if (seen)
            continue;
        int w = snprintf(kinds + kp, sizeof kinds - kp, "%s\"%s\"", n_kinds ? "; " : "",
                         r->novel_lines[i]);
        if (w < 0 || (size_t)w >= sizeof kinds - kp)
            break;
        kp += (size_t)w;
        n_kinds++;
    }
    r->explanation =
        cbad_fmt("%s. NCD %.3f (%s) against a usual %.3f: novelty %.2f. p %s %.4g (confidence "
                 "%.1f %%, %u permutations). Compression: %s. Entropy %.2f -> %.2f bits/byte.%s%s",
                 verdict, r->ncd, cbad_ncd_reading(r->ncd), r->ncd_reference, r->novelty,
                 r->p_value_is_bound ? "<=" : "=", r->p_value, r->confidence * 100.0,
                 r->permutations_run, reading, r->baseline_entropy, r->window_entropy,
                 n_kinds == 0   ? ""
                 : n_kinds == 1 ? " Most novel: "
                                : " Most novel, by kind: ",
                 kinds);

    char novel[CBAD_SAMPLES_MAX * (CBAD_SAMPLE_LEN + 8) + 1];
    size_t pos = 0;
    novel[0] = '\0';
    for (size_t i = 0; i < r->n_novel && pos < sizeof novel; i++) {
        int w = snprintf(novel + pos, sizeof novel - pos, "  %zu. %s\n", i + 1, r->novel_lines[i]);
        if (w < 0)
            break;
        pos += (size_t)w;
    }
    r->detailed_explanation = cbad_fmt(
        "Verdict: %s.\n"
        "Window %llu: events %llu..%llu against the %u events before them.\n"
        "NCD(W|B) = %.4f (%s): (C(B+W) - C(B)) / C(W) with zstd level %d, the share of the "
        "window the baseline does not explain (symmetric NCD %.4f).\n"
        "Usual level %.4f (the baseline's own last events against the rest of it); novelty "
        "%.4f = how far above the usual level, threshold %.2f. Repetition %.4f (%s).\n"
        "Permutation test: %u of %u shuffles of whole events run; p %s %.4g (threshold %.3g), "
        "confidence %.2f %%.%s Over the first %u shuffles, which grade the severity, p = %.4g.\n"
        "Compression ratio (raw/compressed): baseline %.2f, window %.2f, baseline+window %.2f, "
        "usual block %.2f; "
        "window vs baseline %+.1f %%.\n"
        "Entropy (bits/byte): baseline %.3f, window %.3f, change %+.3f.\n"
        "%s%s",
        verdict, (unsigned long long)r->window_index, (unsigned long long)r->first_event,
        (unsigned long long)r->last_event, s->baseline, r->ncd, cbad_ncd_reading(r->ncd), s->level,
        r->ncd_symmetric, r->ncd_reference, r->novelty, s->ncd_threshold, r->repetition,
        r->flood ? "over the threshold while novelty is not: tested as a flood, by the window's "
                   "compression ratio"
                 : "the window's compression ratio against the baseline's last block",
        r->permutations_run, s->permutations, r->p_value_is_bound ? "<=" : "=", r->p_value,
        s->p_threshold, r->confidence * 100.0, cbad_stop_note(r, s),
        s->permutations < CBAD_GRADE_PERMUTATIONS ? s->permutations : CBAD_GRADE_PERMUTATIONS,
        r->p_graded, r->compression_baseline, r->compression_window, r->compression_combined, usual,
        r->compression_ratio_change * 100.0, r->baseline_entropy, r->window_entropy,
        r->entropy_change, r->n_novel ? "Window events the baseline explains worst:\n" : "", novel);
    if (!r->explanation || !r->detailed_explanation)
        return -ENOMEM;
    return 0;
}

static json_t *cbad_str_array(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_string(v[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

json_t *cbad_result_to_json(const cbad_result_t *r)
{
    json_t *o = json_pack(
        "{s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:b, s:b, s:s, s:I, s:f, s:f, s:f, s:f, s:f, s:f, "
        "s:f, s:s?, s:s?}",
        "window_index", (json_int_t)r->window_index, "first_event", (json_int_t)r->first_event,
        "last_event", (json_int_t)r->last_event, "score", r->score, "ncd_score", r->ncd, "p_value",
        r->p_value, "confidence_level", r->confidence, "is_statistically_significant",
        r->significant, "is_anomaly", r->anomaly, "severity", cbad_severity_name(r->severity),
        "permutations_run", (json_int_t)r->permutations_run, "compression_baseline",
        r->compression_baseline, "compression_window", r->compression_window,
        "compression_combined", r->compression_combined, "compression_ratio_change",
        r->compression_ratio_change, "baseline_entropy", r->baseline_entropy, "window_entropy",
        r->window_entropy, "entropy_change", r->entropy_change, "glass_box_explanation",
        r->explanation, "detailed_explanation", r->detailed_explanation);
    if (!o)
        return NULL;
    if (json_object_set_new(o, "repetition", json_real(r->repetition)) < 0 ||
        json_object_set_new(o, "repetition_usual", json_real(r->repetition_usual)) < 0 ||
        json_object_set_new(o, "flood", json_boolean(r->flood)) < 0 ||
        json_object_set_new(o, "new_template", json_boolean(r->new_template)) < 0 ||
        json_object_set_new(o, "ncd_symmetric", json_real(r->ncd_symmetric)) < 0 ||
        json_object_set_new(o, "ncd_reference", json_real(r->ncd_reference)) < 0 ||
        json_object_set_new(o, "novelty", json_real(r->novelty)) < 0 ||
        json_object_set_new(o, "p_value_is_bound", json_boolean(r->p_value_is_bound)) < 0 ||
        json_object_set_new(o, "p_graded", json_real(r->p_graded)) < 0) {
        json_decref(o);
        return NULL;
    }
    json_t *b = cbad_str_array(r->baseline_samples, r->n_baseline_samples);
    json_t *w = cbad_str_array(r->window_samples, r->n_window_samples);
    json_t *nv = cbad_str_array(r->novel_lines, r->n_novel);
    /* json_object_set_new consumes its value even when it fails (NULL included). */
    int bad = json_object_set_new(o, "baseline_data", b) < 0;
    bad |= json_object_set_new(o, "window_data", w) < 0;
    bad |= json_object_set_new(o, "novel_lines", nv) < 0;
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}
