/* The retention scheduler: a pass runs every registered purge in turn, each as a chain of
 * batches; one batch is one store_submit job (one bounded statement), and the next is
 * submitted from the previous one's completion, so the loop serves requests between them. */
#include "store/retention.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"

typedef struct retention_purge {
    const char *kind;
    retention_purge_fn fn;
    retention_after_fn after;
    void *ud;
    metrics_series_t *removed; /* ganglion_retention_removed_total{kind}; NULL without metrics */
} retention_purge_t;

struct retention {
    hub_t *hub;
    uv_timer_t timer;
    bool timer_on;
    bool stopping;
    bool inflight;
    bool orphaned; /* destroyed with a batch in flight: its completion frees r */
    retention_purge_t purges[RETENTION_PURGES_MAX];
    size_t npurges;
    /* the pass in progress */
    bool running;
    size_t cur;    /* the purge running */
    config_t *cfg; /* the pass's copy of hub->cfg (owned) */
    retention_batch_t batch;
    int status;
    metrics_series_t *passes, *errors;
};

int retention_new(hub_t *hub, retention_t **out)
{
    retention_t *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->hub = hub;
    *out = r;
    return 0;
}

int retention_purge_add(retention_t *r, const char *kind, retention_purge_fn fn,
                        retention_after_fn after, void *ud)
{
    if (r->npurges == RETENTION_PURGES_MAX)
        return -ENOSPC;
    r->purges[r->npurges++] = (retention_purge_t){.kind = kind, .fn = fn, .after = after, .ud = ud};
    return 0;
}

void retention_count(retention_t *r, const char *kind, int64_t n)
{
    for (size_t i = 0; i < r->npurges; i++) {
        if (strcmp(r->purges[i].kind, kind) == 0) {
            if (r->purges[i].removed)
                metrics_series_add(r->purges[i].removed, (double)n);
            return;
        }
    }
}

static void retention_on_timer(uv_timer_t *t)
{
    retention_pass_begin(t->data);
}

int retention_start(retention_t *r)
{
    metrics_t *m = r->hub->metrics;
    if (m) {
        metrics_declare(m, "ganglion_retention_removed_total", "counter",
                        "Rows removed (anomalies: also auto-resolved) by retention, by kind.");
        metrics_declare(m, "ganglion_retention_passes_total", "counter",
                        "Retention passes completed.");
        metrics_declare(m, "ganglion_retention_errors_total", "counter",
                        "Retention batches that failed (logged; retried next pass).");
        for (size_t i = 0; i < r->npurges; i++) {
            char labels[96];
            snprintf(labels, sizeof labels, "kind=\"%s\"", r->purges[i].kind);
            r->purges[i].removed =
                metrics_counter_series(m, "ganglion_retention_removed_total", labels);
        }
        r->passes = metrics_counter_series(m, "ganglion_retention_passes_total", NULL);
        r->errors = metrics_counter_series(m, "ganglion_retention_errors_total", NULL);
    }
    int64_t every = r->hub->cfg.retention_interval_ms;
    if (every <= 0 || r->npurges == 0)
        return 0;
    int rc = uv_timer_init(r->hub->loop, &r->timer);
    if (rc < 0)
        return rc;
    r->timer.data = r;
    r->timer_on = true;
    uv_timer_start(&r->timer, retention_on_timer, (uint64_t)every, (uint64_t)every);
    uv_unref((uv_handle_t *)&r->timer); /* an idle daemon's loop is not kept alive by it */
    return 0;
}

/* Frees r once destroyed, with no batch in flight and the timer closed. */
static void retention_free_if_idle(retention_t *r)
{
    if (!r->inflight && !r->timer_on) {
        free(r->cfg);
        free(r);
    }
}

static void retention_timer_closed(uv_handle_t *h)
{
    retention_t *r = h->data;
    r->timer_on = false;
    if (r->orphaned)
        retention_free_if_idle(r);
}

static int retention_batch_work(store_conn_t *c, void *ud)
{
    retention_t *r = ud;
    retention_purge_t *p = &r->purges[r->cur];
    r->batch.removed = 0;
    return p->fn(c, &r->batch, p->ud);
}

static void retention_batch_done(int status, void *ud);

/* Submits the current purge's next batch, or ends the pass when none is left. */
static void retention_batch_next(retention_t *r)
{
    while (r->cur < r->npurges && !r->stopping) {
        retention_purge_t *p = &r->purges[r->cur];
        if (!p->fn) { /* a purge done on the loop by the domain itself */
            if (p->after)
                p->after(p->ud, r->cfg, r->batch.now_ms);
            r->cur++;
            continue;
        }
        r->batch.removed = 0;
        r->inflight = true;
        if (store_submit(r->hub->store, r->hub->loop, retention_batch_work, retention_batch_done,
                         r) == 0)
            return;
        r->inflight = false;
        if (r->errors)
            metrics_series_add(r->errors, 1);
        r->cur++;
    }
    if (!r->stopping && r->passes)
        metrics_series_add(r->passes, 1);
    r->running = false;
    free(r->cfg);
    r->cfg = NULL;
}

static void retention_batch_done(int status, void *ud)
{
    retention_t *r = ud;
    r->inflight = false;
    if (r->orphaned) {
        retention_free_if_idle(r);
        return;
    }
    retention_purge_t *p = &r->purges[r->cur];
    if (r->batch.removed > 0 && p->removed)
        metrics_series_add(p->removed, (double)r->batch.removed);
    if (status < 0) {
        log_warn(NULL, "retention batch failed; retried next pass", "{s:s,s:i}", "kind", p->kind,
                 "code", status);
        if (r->errors)
            metrics_series_add(r->errors, 1);
    }
    if (status < 0 || r->batch.removed < r->batch.limit) {
        if (status == 0 && p->after && !r->stopping)
            p->after(p->ud, r->cfg, r->batch.now_ms);
        r->cur++;
    }
    retention_batch_next(r);
}

void retention_pass_begin(retention_t *r)
{
    if (r->running || r->stopping || r->npurges == 0)
        return;
    r->cfg = malloc(sizeof *r->cfg);
    if (!r->cfg)
        return;
    memcpy(r->cfg, &r->hub->cfg, sizeof *r->cfg);
    r->running = true;
    r->cur = 0;
    r->batch = (retention_batch_t){
        .cfg = r->cfg, .now_ms = clock_wall_ms(), .limit = (int)r->cfg->retention_batch};
    retention_batch_next(r);
}

void retention_stop(retention_t *r)
{
    if (!r)
        return;
    r->stopping = true;
    if (r->timer_on && !uv_is_closing((uv_handle_t *)&r->timer))
        uv_close((uv_handle_t *)&r->timer, retention_timer_closed);
}

int retention_busy(const retention_t *r)
{
    return r && r->inflight ? 1 : 0;
}

void retention_destroy(retention_t **rp)
{
    retention_t *r = *rp;
    if (!r)
        return;
    *rp = NULL;
    r->orphaned = true;
    retention_stop(r);
    retention_free_if_idle(r);
}
