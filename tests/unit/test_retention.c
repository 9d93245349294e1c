/* Unit tests for the retention scheduler (store/retention.c) on a real SQLite store and loop:
 * a purge runs in batches of retention.batch until one removes fewer, the loop turns between
 * batches, counts land in /metrics per kind, a failing purge does not stop the others, and a
 * scheduler destroyed with a batch in flight frees itself when it returns. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/hub.h"
#include "core/metrics.h"
#include "core/strbuf.h"
#include "store/retention.h"
#include "store/store.h"

#define OLD_ROWS 1234
#define NEW_ROWS 10
#define NOW_MS   4000000000000LL /* the new rows: far beyond any cut a pass makes */

typedef struct fx {
    hub_t hub;
    uv_loop_t loop;
    char path[256];
    int batches; /* batches the purge ran */
    int afters;  /* its after calls */
    int idles;   /* loop turns seen while the pass ran */
    bool fail;   /* the failing purge fails */
    uv_idle_t idle;
} fx_t;

static int fx_setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->path, sizeof f->path, "%s/ganglion-test-retention-%d.db",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    unlink(f->path);
    char url[300], err[256];
    snprintf(url, sizeof url, "sqlite:%s", f->path);
    store_options_t opt = {.pool_size = 2, .busy_timeout_ms = 5000};
    if (store_open(url, &opt, &f->hub.store, err, sizeof err) < 0)
        fail_msg("store_open: %s", err);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->hub.loop = &f->loop;
    f->hub.metrics = metrics_new();
    config_defaults(&f->hub.cfg);
    f->hub.cfg.retention_interval_ms = 0; /* passes begun by the test */
    f->hub.cfg.retention_batch = 100;
    store_conn_t *c = store_conn_acquire(f->hub.store);
    assert_int_equal(store_query(c, "CREATE TABLE t (id INTEGER PRIMARY KEY, ts BIGINT NOT NULL)",
                                 NULL, 0, NULL, NULL),
                     0);
    assert_int_equal(store_tx_begin(c), 0);
    for (int i = 0; i < OLD_ROWS + NEW_ROWS; i++) {
        store_val_t p[] = {STORE_INTV(i < OLD_ROWS ? 1 : NOW_MS)};
        assert_int_equal(store_query(c, "INSERT INTO t (ts) VALUES ($1)", p, 1, NULL, NULL), 0);
    }
    assert_int_equal(store_tx_commit(c), 0);
    store_conn_release(f->hub.store, c);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    fx_t *f = *state;
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    store_close(&f->hub.store);
    metrics_destroy(&f->hub.metrics);
    unlink(f->path);
    free(f);
    return 0;
}

static int purge_t(store_conn_t *c, retention_batch_t *b, void *ud)
{
    fx_t *f = ud;
    f->batches++; /* the worker runs one batch at a time: no race on the counter */
    store_val_t p[] = {STORE_INTV(b->now_ms / 2), STORE_INTV(b->limit)};
    return store_query(c, "DELETE FROM t WHERE id IN (SELECT id FROM t WHERE ts < $1 LIMIT $2)", p,
                       2, NULL, &b->removed);
}

static int purge_failing(store_conn_t *c, retention_batch_t *b, void *ud)
{
    fx_t *f = ud;
    if (!f->fail)
        return 0;
    return store_query(c, "DELETE FROM no_such_table", NULL, 0, NULL, &b->removed);
}

static void after_t(void *ud, const config_t *cfg, int64_t now_ms)
{
    fx_t *f = ud;
    assert_int_equal(cfg->retention_batch, 100);
    assert_true(now_ms > 0);
    f->afters++;
}

/* A purge done by the domain itself on the loop: counted through retention_count. */
static retention_t *g_ret;
static void after_loop_only(void *ud, const config_t *cfg, int64_t now_ms)
{
    (void)ud;
    (void)cfg;
    (void)now_ms;
    retention_count(g_ret, "loop", 7);
}

static void on_idle(uv_idle_t *h)
{
    fx_t *f = h->data;
    f->idles++;
}

static double metric(fx_t *f, const char *series)
{
    strbuf_t out;
    strbuf_init(&out, 0);
    assert_int_equal(metrics_render(f->hub.metrics, &out), 0);
    char *text = strbuf_steal(&out, NULL);
    char needle[160]; /* the sample's line, not the HELP or TYPE line naming the family */
    snprintf(needle, sizeof needle, "\n%s ", series);
    const char *at = text ? strstr(text, needle) : NULL;
    double v = at ? strtod(at + strlen(needle), NULL) : -1;
    free(text);
    return v;
}

static int64_t rows_left(fx_t *f)
{
    store_conn_t *c = store_conn_acquire(f->hub.store);
    json_t *rows = NULL;
    assert_int_equal(store_query(c, "SELECT COUNT(*) AS n FROM t", NULL, 0, &rows, NULL), 0);
    int64_t n = json_integer_value(json_object_get(json_array_get(rows, 0), "n"));
    json_decref(rows);
    store_conn_release(f->hub.store, c);
    return n;
}

static void test_batches_until_one_removes_fewer(void **state)
{
    fx_t *f = *state;
    retention_t *r = NULL;
    assert_int_equal(retention_new(&f->hub, &r), 0);
    g_ret = r;
    assert_int_equal(retention_purge_add(r, "broken", purge_failing, NULL, f), 0);
    assert_int_equal(retention_purge_add(r, "t", purge_t, after_t, f), 0);
    assert_int_equal(retention_purge_add(r, "loop", NULL, after_loop_only, NULL), 0);
    assert_int_equal(retention_start(r), 0);
    f->fail = true;

    uv_idle_init(&f->loop, &f->idle);
    f->idle.data = f;
    uv_idle_start(&f->idle, on_idle);
    retention_pass_begin(r);
    assert_int_equal(retention_busy(r), 1);
    retention_pass_begin(r); /* one pass at a time: ignored */
    while (retention_busy(r))
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&f->idle, NULL);

    /* 1234 old rows by 100: 12 full batches and one of 34 that ends the purge */
    assert_int_equal(f->batches, (OLD_ROWS + 99) / 100);
    assert_int_equal(rows_left(f), NEW_ROWS);
    assert_int_equal(f->afters, 1);
    assert_true(f->idles >= f->batches); /* the loop turned between batches */
    assert_true(metric(f, "ganglion_retention_removed_total{kind=\"t\"}") == OLD_ROWS);
    assert_true(metric(f, "ganglion_retention_removed_total{kind=\"loop\"}") == 7);
    assert_true(metric(f, "ganglion_retention_errors_total") == 1);
    assert_true(metric(f, "ganglion_retention_passes_total") == 1);

    /* the next pass finds nothing: one batch, nothing counted */
    f->fail = false;
    retention_pass_begin(r);
    while (retention_busy(r))
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(f->batches, (OLD_ROWS + 99) / 100 + 1);
    assert_true(metric(f, "ganglion_retention_removed_total{kind=\"t\"}") == OLD_ROWS);
    assert_true(metric(f, "ganglion_retention_passes_total") == 2);
    retention_destroy(&r);
    assert_null(r);
}

static void test_destroyed_with_a_batch_in_flight(void **state)
{
    fx_t *f = *state;
    retention_t *r = NULL;
    assert_int_equal(retention_new(&f->hub, &r), 0);
    assert_int_equal(retention_purge_add(r, "t", purge_t, after_t, f), 0);
    f->hub.cfg.retention_interval_ms = 50; /* a timer to close too */
    assert_int_equal(retention_start(r), 0);
    retention_pass_begin(r);
    assert_int_equal(retention_busy(r), 1);
    retention_destroy(&r); /* the batch returns later and frees the state (ASan: no leak) */
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(f->batches, 1);
    assert_int_equal(f->afters, 0); /* stopped: no after, no next batch */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batches_until_one_removes_fewer, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_destroyed_with_a_batch_in_flight, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
