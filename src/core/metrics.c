/* The Prometheus registry: families in declaration order, series found through one hash keyed
 * by (name, label string) because every request updates several, and rendering in the text
 * exposition format 0.0.4. Loop-thread only, except metrics_atomic_add(). */
#include "core/metrics.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/htab.h"

/* Cardinality bounds: a label value that slipped in from outside must not grow memory without
 * end. Updates that would create a series beyond them are dropped. */
#define METRICS_MAX_SERIES     10000
#define METRICS_MAX_LABELS_LEN 1024
#define METRICS_MAX_NAME_LEN   200
#define METRICS_MAX_BUCKETS    64

enum metrics_type { MT_COUNTER, MT_GAUGE, MT_HISTOGRAM };

static const char *const type_names[] = {"counter", "gauge", "histogram"};

struct family;

struct metrics_series {
    struct family *fam;
    char *key; /* the index key: the family's name, a 0xff byte, the labels */
    size_t key_len;
    char *labels; /* inside key, after the 0xff: "" when there are none */
    double value; /* counter and gauge */
    /* Worker-thread increments for counters, added to value when rendered. */
    _Atomic uint64_t atomic_total;
    uint64_t *counts; /* histogram: per-bucket (not cumulative), nbuckets + 1 for +Inf */
    double sum;
    uint64_t count;
};

struct family {
    char *name;
    char *help;
    enum metrics_type type;
    double *buckets;
    size_t nbuckets;
    struct metrics_series **series; /* sorted by label string, for stable output */
    size_t nseries, cap;
};

struct collector {
    metrics_collect_fn fn;
    void *ud;
};

struct metrics {
    struct family **fams; /* declaration order */
    size_t nfams, fams_cap;
    htab_t *fam_tab; /* struct family *, by name */
    htab_t *ser_tab; /* struct metrics_series *, by (name, labels) */
    size_t nseries;
    struct collector *collectors;
    size_t ncollectors, collectors_cap;
};

/* ---- the indexes ------------------------------------------------------------------------- */

/* A series' key: the name, a byte no name contains, then the labels. */
#define METRICS_KEY_MAX (METRICS_MAX_NAME_LEN + 1 + METRICS_MAX_LABELS_LEN)
#define METRICS_KEY_SEP '\xff'

static const void *fam_key(const void *e, size_t *len)
{
    const struct family *f = e;
    *len = strlen(f->name);
    return f->name;
}

static const void *ser_key(const void *e, size_t *len)
{
    const struct metrics_series *s = e;
    *len = s->key_len;
    return s->key;
}

/* Writes the key of (name, labels) into buf (METRICS_KEY_MAX bytes); its length, or 0 when
 * either part is too long to be a series. */
static size_t series_key(char *buf, const char *name, const char *labels)
{
    size_t n = strlen(name), l = strlen(labels);
    if (n > METRICS_MAX_NAME_LEN || l > METRICS_MAX_LABELS_LEN)
        return 0;
    memcpy(buf, name, n);
    buf[n] = METRICS_KEY_SEP;
    memcpy(buf + n + 1, labels, l);
    return n + 1 + l;
}

static struct family *family_find(const metrics_t *m, const char *name)
{
    return htab_get_str(m->fam_tab, name);
}

/* ---- declaration -------------------------------------------------------------------------- */

static bool name_valid(const char *name)
{
    if (!name || !*name || strlen(name) > METRICS_MAX_NAME_LEN)
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (p != name && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

metrics_t *metrics_new(void)
{
    metrics_t *m = calloc(1, sizeof(metrics_t));
    if (m && (htab_new(&m->fam_tab, fam_key) < 0 || htab_new(&m->ser_tab, ser_key) < 0))
        metrics_destroy(&m);
    return m;
}

static void family_free(struct family *f)
{
    for (size_t i = 0; i < f->nseries; i++) {
        free(f->series[i]->key);
        free(f->series[i]->counts);
        free(f->series[i]);
    }
    free(f->series);
    free(f->buckets);
    free(f->name);
    free(f->help);
    free(f);
}

void metrics_destroy(metrics_t **pm)
{
    if (!pm || !*pm)
        return;
    metrics_t *m = *pm;
    for (size_t i = 0; i < m->nfams; i++)
        family_free(m->fams[i]);
    free(m->fams);
    htab_destroy(&m->fam_tab);
    htab_destroy(&m->ser_tab);
    free(m->collectors);
    free(m);
    *pm = NULL;
}

static int family_add(metrics_t *m, const char *name, enum metrics_type type, const char *help,
                      const double *buckets, size_t nbuckets, struct family **out)
{
    if (m->nfams == m->fams_cap) {
        size_t ncap = m->fams_cap ? m->fams_cap * 2 : 16;
        struct family **nf = realloc(m->fams, ncap * sizeof *nf);
        if (!nf)
            return -ENOMEM;
        m->fams = nf;
        m->fams_cap = ncap;
    }
    struct family *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    if (nbuckets) {
        f->buckets = malloc(nbuckets * sizeof *f->buckets);
        if (f->buckets)
            memcpy(f->buckets, buckets, nbuckets * sizeof *f->buckets);
        f->nbuckets = nbuckets;
    }
    if (!f->name || !f->help || (nbuckets && !f->buckets)) {
        family_free(f);
        return -ENOMEM;
    }
    if (htab_put(m->fam_tab, f) < 0) {
        family_free(f);
        return -ENOMEM;
    }
    m->fams[m->nfams++] = f;
    if (out)
        *out = f;
    return 0;
}

static int type_parse(const char *type)
{
    for (int i = 0; i < 3; i++)
        if (type && strcmp(type, type_names[i]) == 0)
            return i;
    return -1;
}

int metrics_declare(metrics_t *m, const char *name, const char *type, const char *help)
{
    int t = type_parse(type);
    if (!m || !name_valid(name) || t < 0)
        return -EINVAL;
    struct family *f = family_find(m, name);
    if (f)
        return f->type == (enum metrics_type)t ? 0 : -1;
    if (t == MT_HISTOGRAM) /* a histogram needs buckets; use the default Prometheus set */
        return metrics_declare_histogram(m, name, help, NULL, 0);
    return family_add(m, name, (enum metrics_type)t, help, NULL, 0, NULL);
}

int metrics_declare_histogram(metrics_t *m, const char *name, const char *help,
                              const double *buckets, size_t nbuckets)
{
    static const double defaults[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    if (!m || !name_valid(name) || nbuckets > METRICS_MAX_BUCKETS || (nbuckets && !buckets))
        return -EINVAL;
    if (nbuckets == 0) {
        buckets = defaults;
        nbuckets = sizeof defaults / sizeof defaults[0];
    }
    for (size_t i = 0; i < nbuckets; i++)
        if (!isfinite(buckets[i]) || (i > 0 && !(buckets[i] > buckets[i - 1])))
            return -EINVAL;
    struct family *f = family_find(m, name);
    if (f) {
        bool same = f->type == MT_HISTOGRAM && f->nbuckets == nbuckets &&
                    memcmp(f->buckets, buckets, nbuckets * sizeof *buckets) == 0;
        return same ? 0 : -1;
    }
    return family_add(m, name, MT_HISTOGRAM, help, buckets, nbuckets, NULL);
}

/* ---- series ------------------------------------------------------------------------------- */

static struct metrics_series *series_find(const metrics_t *m, const char *key, size_t len)
{
    return htab_get(m->ser_tab, key, len);
}

static struct metrics_series *series_create(metrics_t *m, struct family *f, const char *key,
                                            size_t len)
{
    if (m->nseries >= METRICS_MAX_SERIES)
        return NULL;
    if (f->nseries == f->cap) {
        size_t ncap = f->cap ? f->cap * 2 : 8;
        struct metrics_series **ns = realloc(f->series, ncap * sizeof *ns);
        if (!ns)
            return NULL;
        f->series = ns;
        f->cap = ncap;
    }
    struct metrics_series *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->fam = f;
    s->key = malloc(len + 1);
    if (s->key) {
        memcpy(s->key, key, len);
        s->key[len] = '\0';
        s->key_len = len;
        s->labels = s->key + strlen(f->name) + 1;
    }
    if (f->type == MT_HISTOGRAM)
        s->counts = calloc(f->nbuckets + 1, sizeof *s->counts);
    if (!s->key || (f->type == MT_HISTOGRAM && !s->counts) || htab_put(m->ser_tab, s) < 0) {
        free(s->key);
        free(s->counts);
        free(s);
        return NULL;
    }
    const char *labels = s->labels;
    atomic_init(&s->atomic_total, 0);

    /* Keep the family's series sorted by labels; creation is rare, rendering is not. */
    size_t lo = 0, hi = f->nseries;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(f->series[mid]->labels, labels) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    memmove(&f->series[lo + 1], &f->series[lo], (f->nseries - lo) * sizeof *f->series);
    f->series[lo] = s;
    f->nseries++;
    m->nseries++;
    return s;
}

/* Finds or creates the series; an undeclared family is declared on first use with the type the
 * caller implies. NULL when the type does not match, a bound is hit, or memory ran out: metrics
 * are best-effort and never fail the request that updates them. */
static struct metrics_series *series_get(metrics_t *m, const char *name, const char *labels,
                                         enum metrics_type type)
{
    if (!m || !name)
        return NULL;
    if (!labels)
        labels = "";
    char key[METRICS_KEY_MAX];
    size_t len = series_key(key, name, labels);
    if (len == 0)
        return NULL;
    struct metrics_series *s = series_find(m, key, len);
    if (s)
        return s->fam->type == type ? s : NULL;
    struct family *f = family_find(m, name);
    if (!f) {
        int rc = type == MT_HISTOGRAM ? metrics_declare_histogram(m, name, "", NULL, 0)
                                      : metrics_declare(m, name, type_names[type], "");
        if (rc < 0 || !(f = family_find(m, name)))
            return NULL;
    }
    if (f->type != type)
        return NULL;
    return series_create(m, f, key, len);
}

metrics_series_t *metrics_counter_series(metrics_t *m, const char *name, const char *labels)
{
    return series_get(m, name, labels, MT_COUNTER);
}

metrics_series_t *metrics_histogram_series(metrics_t *m, const char *name, const char *labels)
{
    return series_get(m, name, labels, MT_HISTOGRAM);
}

void metrics_series_add(metrics_series_t *s, double v)
{
    if (s && v >= 0) /* counters only go up; also drops NaN */
        s->value += v;
}

void metrics_counter_add(metrics_t *m, const char *name, const char *labels, double v)
{
    if (v >= 0)
        metrics_series_add(series_get(m, name, labels, MT_COUNTER), v);
}

void metrics_gauge_set(metrics_t *m, const char *name, const char *labels, double v)
{
    struct metrics_series *s = series_get(m, name, labels, MT_GAUGE);
    if (s)
        s->value = v;
}

void metrics_gauge_add(metrics_t *m, const char *name, const char *labels, double v)
{
    struct metrics_series *s = series_get(m, name, labels, MT_GAUGE);
    if (s)
        s->value += v;
}

void metrics_histogram_observe(metrics_t *m, const char *name, const char *labels, double v)
{
    if (!isnan(v))
        metrics_series_observe(series_get(m, name, labels, MT_HISTOGRAM), v);
}

void metrics_series_observe(metrics_series_t *s, double v)
{
    if (!s || isnan(v))
        return;
    assert(s->fam->type == MT_HISTOGRAM);
    const struct family *f = s->fam;
    size_t i = 0;
    while (i < f->nbuckets && v > f->buckets[i])
        i++;
    s->counts[i]++;
    s->sum += v;
    s->count++;
}

int metrics_histogram_quantile(const metrics_t *m, const char *name, const char *labels, double q,
                               double *out)
{
    if (!m || !name || !out || !(q >= 0 && q <= 1))
        return -EINVAL;
    if (!labels)
        labels = "";
    char key[METRICS_KEY_MAX];
    size_t len = series_key(key, name, labels);
    const struct metrics_series *s = len ? series_find(m, key, len) : NULL;
    if (!s || s->fam->type != MT_HISTOGRAM || s->count == 0)
        return -ENOENT;
    const struct family *f = s->fam;
    double rank = q * (double)s->count, below = 0;
    for (size_t i = 0; i <= f->nbuckets; i++) {
        double in = (double)s->counts[i];
        if (below + in >= rank && in > 0) {
            if (i == f->nbuckets) /* past the last bound: nothing better to say */
                *out = f->nbuckets ? f->buckets[f->nbuckets - 1] : 0;
            else {
                double lo = i ? f->buckets[i - 1] : 0, hi = f->buckets[i];
                *out = lo + (hi - lo) * ((rank - below) / in);
            }
            return 0;
        }
        below += in;
    }
    *out = f->nbuckets ? f->buckets[f->nbuckets - 1] : 0;
    return 0;
}

metrics_atomic_t *metrics_counter_atomic(metrics_t *m, const char *name, const char *labels)
{
    return series_get(m, name, labels, MT_COUNTER);
}

void metrics_atomic_add(metrics_atomic_t *a, uint64_t n)
{
    if (a)
        atomic_fetch_add_explicit(&a->atomic_total, n, memory_order_relaxed);
}

void metrics_collector_add(metrics_t *m, metrics_collect_fn fn, void *ud)
{
    if (!m || !fn)
        return;
    if (m->ncollectors == m->collectors_cap) {
        size_t ncap = m->collectors_cap ? m->collectors_cap * 2 : 8;
        struct collector *nc = realloc(m->collectors, ncap * sizeof *nc);
        if (!nc)
            return;
        m->collectors = nc;
        m->collectors_cap = ncap;
    }
    m->collectors[m->ncollectors++] = (struct collector){fn, ud};
}

/* ---- rendering ---------------------------------------------------------------------------- */

void metrics_label_escape(strbuf_t *out, const char *value)
{
    if (!out || !value)
        return;
    const char *run = value;
    for (const char *p = value;; p++) {
        const char *esc = NULL;
        if (*p == '\\')
            esc = "\\\\";
        else if (*p == '"')
            esc = "\\\"";
        else if (*p == '\n')
            esc = "\\n";
        else if (*p != '\0')
            continue;
        /* A failed append shows up as a short buffer; the caller's next append fails too. */
        if (p > run && strbuf_append(out, run, (size_t)(p - run)) < 0)
            return;
        if (!esc || strbuf_puts(out, esc) < 0)
            return;
        run = p + 1;
    }
}

/* Shortest text that reads back as the same double, in the forms Prometheus parses. */
static const char *fmt_value(char *buf, size_t len, double v)
{
    if (isnan(v))
        return "NaN";
    if (isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    return buf;
}

static int put_help_type(strbuf_t *out, const struct family *f)
{
    int rc = 0;
    if (f->help[0]) {
        rc = strbuf_printf(out, "# HELP %s ", f->name);
        /* HELP text escapes only backslash and newline. */
        for (const char *p = f->help; rc == 0 && *p; p++) {
            if (*p == '\\')
                rc = strbuf_append(out, "\\\\", 2);
            else if (*p == '\n')
                rc = strbuf_append(out, "\\n", 2);
            else
                rc = strbuf_append(out, p, 1);
        }
        if (rc == 0)
            rc = strbuf_append(out, "\n", 1);
    }
    if (rc == 0)
        rc = strbuf_printf(out, "# TYPE %s %s\n", f->name, type_names[f->type]);
    return rc;
}

static int put_sample(strbuf_t *out, const char *name, const char *suffix, const char *labels,
                      const char *le, double v)
{
    char buf[32];
    bool has_labels = labels[0] != '\0';
    int rc = strbuf_printf(out, "%s%s", name, suffix);
    if (rc == 0 && (has_labels || le))
        rc = strbuf_printf(out, "{%s%s%s%s%s}", labels, has_labels && le ? "," : "",
                           le ? "le=\"" : "", le ? le : "", le ? "\"" : "");
    if (rc == 0)
        rc = strbuf_printf(out, " %s\n", fmt_value(buf, sizeof buf, v));
    return rc;
}

static int render_family(strbuf_t *out, const struct family *f)
{
    int rc = put_help_type(out, f);
    for (size_t i = 0; rc == 0 && i < f->nseries; i++) {
        const struct metrics_series *s = f->series[i];
        if (f->type != MT_HISTOGRAM) {
            double v = s->value;
            if (f->type == MT_COUNTER)
                v += (double)atomic_load_explicit(&s->atomic_total, memory_order_relaxed);
            rc = put_sample(out, f->name, "", s->labels, NULL, v);
            continue;
        }
        uint64_t cum = 0;
        char le[32];
        for (size_t b = 0; rc == 0 && b < f->nbuckets; b++) {
            cum += s->counts[b];
            rc = put_sample(out, f->name, "_bucket", s->labels,
                            fmt_value(le, sizeof le, f->buckets[b]), (double)cum);
        }
        if (rc == 0)
            rc = put_sample(out, f->name, "_bucket", s->labels, "+Inf", (double)s->count);
        if (rc == 0)
            rc = put_sample(out, f->name, "_sum", s->labels, NULL, s->sum);
        if (rc == 0)
            rc = put_sample(out, f->name, "_count", s->labels, NULL, (double)s->count);
    }
    return rc;
}

int metrics_render(metrics_t *m, strbuf_t *out)
{
    if (!m || !out)
        return -EINVAL;
    size_t len0 = out->len;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < m->nfams; i++)
        rc = render_family(out, m->fams[i]);
    for (size_t i = 0; rc == 0 && i < m->ncollectors; i++)
        m->collectors[i].fn(out, m->collectors[i].ud);
    if (rc < 0) {
        out->len = len0; /* never serve a truncated exposition */
        if (out->data)
            out->data[len0] = '\0';
    }
    return rc;
}
