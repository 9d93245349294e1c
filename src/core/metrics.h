/* Prometheus metrics: counters, gauges and histograms keyed by name and a label set, rendered
 * in the text exposition format. Loop-thread only, except the atomic counters that worker
 * threads bump through metrics_counter_atomic(). Modules may add collectors that append their
 * own lines at render time (gauges read from live state). */
#ifndef GANGLION_METRICS_H
#define GANGLION_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"

typedef struct metrics metrics_t;

typedef void (*metrics_collect_fn)(strbuf_t *out, void *ud);

metrics_t *metrics_new(void);
void metrics_destroy(metrics_t **m);

/* Declares a family once (name, help, type "counter"|"gauge"|"histogram"). Histograms take
 * their bucket upper bounds (seconds), ascending. Returns 0 or -1 if already declared with
 * another type. */
int metrics_declare(metrics_t *m, const char *name, const char *type, const char *help);
int metrics_declare_histogram(metrics_t *m, const char *name, const char *help,
                              const double *buckets, size_t nbuckets);

/* `labels` is the preformatted label body without braces: method="GET",status="200". Use
 * metrics_label_escape() for values from outside. NULL or "" = no labels. */
void metrics_counter_add(metrics_t *m, const char *name, const char *labels, double v);
void metrics_gauge_set(metrics_t *m, const char *name, const char *labels, double v);
void metrics_gauge_add(metrics_t *m, const char *name, const char *labels, double v);
void metrics_histogram_observe(metrics_t *m, const char *name, const char *labels, double v);
/* A series found once and updated often (the registry keeps one per route): the series (name,
 * labels), created on first use like the calls above, or NULL when the type differs or a bound
 * is hit. Valid for the life of m. The update calls take NULL and then do nothing. */
typedef struct metrics_series metrics_series_t;
metrics_series_t *metrics_counter_series(metrics_t *m, const char *name, const char *labels);
metrics_series_t *metrics_histogram_series(metrics_t *m, const char *name, const char *labels);
void metrics_series_add(metrics_series_t *s, double v);     /* a counter's series */
void metrics_series_observe(metrics_series_t *s, double v); /* a histogram's series */

/* The q-quantile (0..1) of a histogram series, interpolated linearly inside its bucket as
 * Prometheus' histogram_quantile() does (the +Inf bucket answers the highest finite bound).
 * 0 with *out set; -ENOENT when the series has no observation yet. */
int metrics_histogram_quantile(const metrics_t *m, const char *name, const char *labels, double q,
                               double *out);

/* Appends an escaped label value (backslash, quote, newline) into out. */
void metrics_label_escape(strbuf_t *out, const char *value);

/* A counter series that worker threads may bump without the loop: obtain the handle on the
 * loop thread (the family must be a declared counter), then metrics_atomic_add() from any
 * thread. The handle is borrowed and lives as long as m. NULL on a bad name or no memory. */
typedef struct metrics_series metrics_atomic_t;
metrics_atomic_t *metrics_counter_atomic(metrics_t *m, const char *name, const char *labels);
void metrics_atomic_add(metrics_atomic_t *a, uint64_t n);

void metrics_collector_add(metrics_t *m, metrics_collect_fn fn, void *ud);

/* Renders everything (declared families, then collectors). 0 or -ENOMEM. */
int metrics_render(metrics_t *m, strbuf_t *out);

#endif
