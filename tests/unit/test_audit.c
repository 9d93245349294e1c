/* Unit tests for the audit log: asynchronous writes, filtered and paginated queries, bounds on
 * stored values, and GET /api/v1/audit plus the registry hook through a real registry. Run on
 * SQLite and, when GANGLION_TEST_PG_URL is set, on PostgreSQL. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/hub.h"
#include "core/log.h"
#include "api/audit_api.h"
#include "store/audit.h"
#include "store/migrations.h"
#include "store/store.h"

/* ---- fixtures (the same shape as test_store.c) ------------------------------------------ */

typedef struct fx {
    store_t *s;
    uv_loop_t loop;
    bool pg;
    char url[1024];
    char path[256];
    char schema[64];
} fx_t;

static int fx_counter;

static void fx_migrate(fx_t *f)
{
    size_t n;
    const store_migration_t *migs = store_platform_migrations(&n);
    char err[512];
    if (store_migrate(f->s, migs, n, err, sizeof err) < 0)
        fail_msg("migrate: %s", err);
    assert_int_equal(uv_loop_init(&f->loop), 0);
}

static int fx_setup_sqlite(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(f->path, sizeof f->path, "%s/ganglion-test-audit-%d-%d.db", tmp, (int)getpid(),
             ++fx_counter);
    unlink(f->path);
    snprintf(f->url, sizeof f->url, "sqlite:%s", f->path);
    char err[512];
    store_options_t opt = {.pool_size = 4, .busy_timeout_ms = 5000};
    if (store_open(f->url, &opt, &f->s, err, sizeof err) < 0)
        fail_msg("store_open: %s", err);
    fx_migrate(f);
    *state = f;
    return 0;
}

static void pg_admin(const char *sql)
{
    store_t *s = NULL;
    char err[512];
    store_options_t opt = {.pool_size = 1, .busy_timeout_ms = 10000};
    if (store_open(getenv("GANGLION_TEST_PG_URL"), &opt, &s, err, sizeof err) < 0)
        fail_msg("admin store_open: %s", err);
    store_conn_t *c = store_conn_acquire(s);
    if (store_query(c, sql, NULL, 0, NULL, NULL) < 0)
        fail_msg("admin %s: %s", sql, store_conn_error(c));
    store_conn_release(s, c);
    store_close(&s);
}

static int fx_setup_pg(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->pg = true;
    snprintf(f->schema, sizeof f->schema, "a_%d_%d", (int)getpid(), ++fx_counter);
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", f->schema);
    pg_admin(sql);
    const char *base = getenv("GANGLION_TEST_PG_URL");
    snprintf(f->url, sizeof f->url, "%s%soptions=-csearch_path%%3D%s", base,
             strchr(base, '?') ? "&" : "?", f->schema);
    char err[512];
    store_options_t opt = {.pool_size = 4, .busy_timeout_ms = 10000};
    if (store_open(f->url, &opt, &f->s, err, sizeof err) < 0)
        fail_msg("store_open: %s", err);
    fx_migrate(f);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    fx_t *f = *state;
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    store_close(&f->s);
    if (f->pg) {
        char sql[128];
        snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", f->schema);
        pg_admin(sql);
    } else {
        char p[300];
        unlink(f->path);
        snprintf(p, sizeof p, "%s-wal", f->path);
        unlink(p);
        snprintf(p, sizeof p, "%s-shm", f->path);
        unlink(p);
    }
    free(f);
    return 0;
}

/* ---- helpers ---------------------------------------------------------------------------- */

#define BASE_MS  1700000000000LL
#define NENTRIES 30
static const char *const principals[] = {"alice", "bob", "carol"};
static const char stop_action[] = "POST /api/v1/agents/{id}/stop";
static const char delete_action[] = "DELETE /api/v1/agents/{id}";

/* Entry i: principal i%3, stop on odd i, result 500 when i%5==0, ts BASE + i seconds. */
static void write_entries(fx_t *f)
{
    for (int i = 0; i < NENTRIES; i++) {
        char rid[32], target[64];
        snprintf(rid, sizeof rid, "req-%d", i);
        snprintf(target, sizeof target, "/api/v1/agents/%d%s", i, i % 2 ? "/stop" : "");
        json_t *detail = json_pack("{s:i}", "i", i);
        audit_entry_t e = {
            .ts_ms = BASE_MS + i * 1000,
            .principal = principals[i % 3],
            .action = i % 2 ? stop_action : delete_action,
            .target = target,
            .result = i % 5 == 0 ? 500 : 200,
            .request_id = rid,
            .transport = "http",
            .peer = "127.0.0.1:5555",
            .detail = detail,
        };
        assert_int_equal(audit_write(f->s, &f->loop, &e), 0);
        json_decref(detail); /* audit_write copied it */
    }
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(store_pending(f->s), 0);
}

static json_t *query(fx_t *f, const audit_filter_t *flt)
{
    store_conn_t *c = store_conn_acquire(f->s);
    json_t *out = NULL;
    int rc = audit_query(c, flt, &out);
    if (rc < 0)
        fail_msg("audit_query: %d %s", rc, store_conn_error(c));
    store_conn_release(f->s, c);
    return out;
}

static size_t query_count(fx_t *f, const audit_filter_t *flt)
{
    json_t *out = query(f, flt);
    size_t n = json_array_size(json_object_get(out, "entries"));
    assert_int_equal(json_integer_value(json_object_get(out, "total")), (json_int_t)n);
    json_decref(out);
    return n;
}

static int64_t entry_i(json_t *out, size_t k)
{
    json_t *e = json_array_get(json_object_get(out, "entries"), k);
    return json_integer_value(json_object_get(json_object_get(e, "detail"), "i"));
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_write_and_query(void **state)
{
    fx_t *f = *state;
    write_entries(f);
    json_t *out = query(f, &(audit_filter_t){0});
    assert_int_equal(json_integer_value(json_object_get(out, "total")), NENTRIES);
    assert_int_equal(json_integer_value(json_object_get(out, "limit")), AUDIT_LIMIT_DEFAULT);
    assert_int_equal(json_integer_value(json_object_get(out, "offset")), 0);
    assert_true(json_is_false(json_object_get(out, "has_more")));
    json_t *entries = json_object_get(out, "entries");
    assert_int_equal(json_array_size(entries), NENTRIES);

    /* newest first, with every column in API shape */
    json_t *e = json_array_get(entries, 0);
    char ts[40];
    clock_rfc3339(BASE_MS + 29000, ts, sizeof ts);
    assert_int_equal(json_integer_value(json_object_get(e, "ts_ms")), BASE_MS + 29000);
    assert_string_equal(json_string_value(json_object_get(e, "ts")), ts);
    assert_true(json_integer_value(json_object_get(e, "id")) > 0);
    assert_string_equal(json_string_value(json_object_get(e, "principal")), "carol");
    assert_string_equal(json_string_value(json_object_get(e, "action")), stop_action);
    assert_string_equal(json_string_value(json_object_get(e, "target")), "/api/v1/agents/29/stop");
    assert_int_equal(json_integer_value(json_object_get(e, "result")), 200);
    assert_string_equal(json_string_value(json_object_get(e, "request_id")), "req-29");
    assert_string_equal(json_string_value(json_object_get(e, "transport")), "http");
    assert_string_equal(json_string_value(json_object_get(e, "peer")), "127.0.0.1:5555");
    assert_int_equal(entry_i(out, 0), 29);
    assert_int_equal(entry_i(out, NENTRIES - 1), 0);
    json_decref(out);
}

static void test_filters(void **state)
{
    fx_t *f = *state;
    write_entries(f);
    assert_int_equal(query_count(f, &(audit_filter_t){.principal = "alice"}), 10);
    assert_int_equal(query_count(f, &(audit_filter_t){.action = stop_action}), 15);
    assert_int_equal(query_count(f, &(audit_filter_t){.result = 500}), 6);
    assert_int_equal(
        query_count(f, &(audit_filter_t){.has_since = true, .since_ms = BASE_MS + 10000}), 20);
    assert_int_equal(
        query_count(f, &(audit_filter_t){.has_until = true, .until_ms = BASE_MS + 20000}), 20);
    assert_int_equal(query_count(f, &(audit_filter_t){.has_since = true,
                                                      .since_ms = BASE_MS + 10000,
                                                      .has_until = true,
                                                      .until_ms = BASE_MS + 20000}),
                     10);
    /* i%3==0 and i%5==0: 0 and 15 */
    assert_int_equal(query_count(f, &(audit_filter_t){.principal = "alice", .result = 500}), 2);
    assert_int_equal(
        query_count(f, &(audit_filter_t){.principal = "bob", .action = stop_action, .result = 200}),
        4); /* i in 1,7,13,19,25 minus 25 (500) */
    /* exact matching only, and input never becomes SQL */
    assert_int_equal(query_count(f, &(audit_filter_t){.principal = "alice' OR '1'='1"}), 0);
    assert_int_equal(query_count(f, &(audit_filter_t){.principal = "ali%"}), 0);
    assert_int_equal(query_count(f, &(audit_filter_t){.action = "POST"}), 0);
}

static void test_pagination(void **state)
{
    fx_t *f = *state;
    write_entries(f);
    for (int off = 0; off <= NENTRIES; off += 10) {
        json_t *out = query(f, &(audit_filter_t){.limit = 10, .offset = off});
        size_t n = json_array_size(json_object_get(out, "entries"));
        assert_int_equal(n, off < NENTRIES ? 10 : 0);
        assert_int_equal(json_integer_value(json_object_get(out, "total")), NENTRIES);
        assert_int_equal(json_integer_value(json_object_get(out, "limit")), 10);
        assert_int_equal(json_integer_value(json_object_get(out, "offset")), off);
        assert_true(json_is_boolean(json_object_get(out, "has_more")));
        assert_int_equal(json_is_true(json_object_get(out, "has_more")), off + 10 < NENTRIES);
        if (n)
            assert_int_equal(entry_i(out, 0), NENTRIES - 1 - off);
        json_decref(out);
    }
    /* a filtered page */
    json_t *out = query(f, &(audit_filter_t){.principal = "bob", .limit = 3, .offset = 3});
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 10);
    assert_int_equal(json_array_size(json_object_get(out, "entries")), 3);
    assert_true(json_is_true(json_object_get(out, "has_more")));
    assert_int_equal(entry_i(out, 0), 19); /* bob: 28,25,22 | 19,16,13 | ... */
    json_decref(out);

    store_conn_t *c = store_conn_acquire(f->s);
    json_t *bad = NULL;
    assert_int_equal(audit_query(c, &(audit_filter_t){.limit = AUDIT_LIMIT_MAX + 1}, &bad),
                     STORE_EINVAL);
    assert_int_equal(audit_query(c, &(audit_filter_t){.offset = -1}, &bad), STORE_EINVAL);
    assert_null(bad);
    store_conn_release(f->s, c);
}

static void test_bounds(void **state)
{
    fx_t *f = *state;
    char longp[1001];
    memset(longp, 'a', 1000);
    longp[1000] = '\0';
    /* 300 two-byte characters: the cut must not split one */
    char utf8[601];
    for (int i = 0; i < 300; i++)
        memcpy(utf8 + 2 * i, "\xc3\xa9", 2);
    utf8[600] = '\0';
    json_t *big = json_object();
    char *blob = malloc(AUDIT_DETAIL_MAX + 10);
    assert_non_null(blob);
    memset(blob, 'x', AUDIT_DETAIL_MAX + 9);
    blob[AUDIT_DETAIL_MAX + 9] = '\0';
    json_object_set_new(big, "blob", json_string(blob));
    free(blob);

    store_conn_t *c = store_conn_acquire(f->s);
    assert_int_equal(
        audit_insert(
            c, &(audit_entry_t){.principal = longp, .action = "A", .result = 200, .ts_ms = 3}),
        0);
    assert_int_equal(audit_insert(c, &(audit_entry_t){.principal = utf8,
                                                      .action = "B",
                                                      .result = 200,
                                                      .ts_ms = 2,
                                                      .detail = big}),
                     0);
    assert_int_equal(audit_insert(c, &(audit_entry_t){.action = NULL, .result = 201, .ts_ms = 1}),
                     0);
    store_conn_release(f->s, c);
    json_decref(big);

    json_t *out = query(f, &(audit_filter_t){0});
    json_t *es = json_object_get(out, "entries");
    assert_int_equal(json_array_size(es), 3);
    assert_int_equal(strlen(json_string_value(json_object_get(json_array_get(es, 0), "principal"))),
                     AUDIT_PRINCIPAL_MAX);
    const char *p2 = json_string_value(json_object_get(json_array_get(es, 1), "principal"));
    assert_non_null(p2); /* still valid UTF-8, or jansson would have refused it */
    assert_int_equal(strlen(p2), AUDIT_PRINCIPAL_MAX);
    json_t *d = json_object_get(json_array_get(es, 1), "detail");
    assert_true(json_integer_value(json_object_get(d, "truncated")) > AUDIT_DETAIL_MAX);
    json_t *e3 = json_array_get(es, 2);
    assert_string_equal(json_string_value(json_object_get(e3, "principal")), "anonymous");
    assert_string_equal(json_string_value(json_object_get(e3, "action")), "unknown");
    assert_true(json_is_null(json_object_get(e3, "target")));
    assert_true(json_is_null(json_object_get(e3, "detail")));
    json_decref(out);

    /* bad arguments are errors, never crashes */
    assert_true(audit_write(NULL, &f->loop, &(audit_entry_t){.action = "x"}) < 0);
    assert_true(audit_write(f->s, NULL, &(audit_entry_t){.action = "x"}) < 0);
    assert_true(audit_write(f->s, &f->loop, NULL) < 0);
}

/* ---- through the registry --------------------------------------------------------------- */

typedef struct reply_box {
    int got;
    int status;
    json_t *json;
} reply_box_t;

static void on_reply(const api_reply_t *r, void *tctx)
{
    reply_box_t *b = tctx;
    b->got++;
    b->status = r->status;
    json_decref(b->json);
    b->json = r->json ? json_incref(r->json) : NULL;
}

static void thing_handler(api_req_t *req, void *ctx)
{
    (void)ctx;
    api_reply_empty(req, 204);
}

static const api_field_t thing_params[] = {
    {.name = "id", .type = API_T_INTEGER},
    {.name = NULL},
};

static const api_endpoint_t thing_eps[] = {
    {.method = "POST",
     .path = "/api/v1/things/{id}/poke",
     .scope = "things:write",
     .summary = "test",
     .tag = "test",
     .params = thing_params,
     .status = 204,
     .handler = thing_handler},
};

static void call(api_registry_t *reg, uv_loop_t *loop, const char *method, const char *path,
                 const char *q, reply_box_t *b)
{
    api_call_t c = {
        .transport = "test", .method = method, .path = path, .query = q, .peer = "10.0.0.1:1"};
    b->got = 0;
    api_dispatch(reg, &c, on_reply, b);
    while (!b->got && uv_run(loop, UV_RUN_ONCE))
        ;
    assert_int_equal(b->got, 1);
}

static bool has_field_error(json_t *problem, const char *field)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(problem, "errors"), i, e)
    {
        const char *name = json_string_value(json_object_get(e, "field"));
        if (!name)
            name = json_string_value(json_object_get(e, "name"));
        if (name && strcmp(name, field) == 0)
            return true;
    }
    return false;
}

static void test_api(void **state)
{
    fx_t *f = *state;
    write_entries(f);
    hub_t hub = {0};
    config_defaults(&hub.cfg);
    hub.loop = &f->loop;
    hub.store = f->s;
    api_registry_t *reg = api_registry_new(&hub);
    assert_non_null(reg);
    hub.api = reg;
    audit_api_register(reg);
    api_register(reg, thing_eps, 1);
    api_audit_hook_set(reg, audit_api_hook, NULL);
    reply_box_t b = {0};

    /* a mutating request leaves an audit row with the concrete target */
    call(reg, &f->loop, "POST", "/api/v1/things/42/poke", NULL, &b);
    assert_int_equal(b.status, 204);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0); /* the audit write lands */

    call(reg, &f->loop, "GET", "/api/v1/audit",
         "action=POST%20%2Fapi%2Fv1%2Fthings%2F%7Bid%7D%2Fpoke", &b);
    assert_int_equal(b.status, 200);
    json_t *es = json_object_get(b.json, "entries");
    assert_int_equal(json_array_size(es), 1);
    json_t *e = json_array_get(es, 0);
    assert_string_equal(json_string_value(json_object_get(e, "target")), "/api/v1/things/42/poke");
    assert_int_equal(json_integer_value(json_object_get(e, "result")), 204);
    assert_string_equal(json_string_value(json_object_get(e, "transport")), "test");
    assert_string_equal(json_string_value(json_object_get(e, "peer")), "10.0.0.1:1");
    assert_non_null(json_string_value(json_object_get(e, "request_id")));
    assert_non_null(json_string_value(json_object_get(e, "principal")));

    /* filters and pagination through the query string */
    char since[40], until[40], q[200];
    clock_rfc3339(BASE_MS + 10000, since, sizeof since);
    clock_rfc3339(BASE_MS + 20000, until, sizeof until);
    snprintf(q, sizeof q, "principal=alice&since=%s&until=%s&limit=2&offset=1", since, until);
    call(reg, &f->loop, "GET", "/api/v1/audit", q, &b);
    assert_int_equal(b.status, 200);
    /* alice in [10, 20): 12, 15, 18 -> skip 18, then 15, 12 */
    assert_int_equal(json_integer_value(json_object_get(b.json, "total")), 3);
    assert_int_equal(json_array_size(json_object_get(b.json, "entries")), 2);
    assert_int_equal(entry_i(b.json, 0), 15);
    assert_true(json_is_false(json_object_get(b.json, "has_more")));
    call(reg, &f->loop, "GET", "/api/v1/audit", "result=500&limit=1", &b);
    assert_int_equal(b.status, 200);
    assert_int_equal(json_integer_value(json_object_get(b.json, "total")), 6);
    assert_true(json_is_true(json_object_get(b.json, "has_more")));

    /* bad input: a problem naming the field */
    call(reg, &f->loop, "GET", "/api/v1/audit", "since=yesterday", &b);
    assert_int_equal(b.status, 422);
    assert_true(has_field_error(b.json, "since"));
    snprintf(q, sizeof q, "since=%s&until=%s", until, since);
    call(reg, &f->loop, "GET", "/api/v1/audit", q, &b);
    assert_int_equal(b.status, 422);
    assert_true(has_field_error(b.json, "until"));
    call(reg, &f->loop, "GET", "/api/v1/audit", "limit=0", &b);
    assert_true(b.status == 400 || b.status == 422);
    call(reg, &f->loop, "GET", "/api/v1/audit", "result=99", &b);
    assert_true(b.status == 400 || b.status == 422);

    json_decref(b.json);
    api_registry_destroy(&reg);
}

#define T(fn, setup) cmocka_unit_test_setup_teardown(fn, setup, fx_teardown)
#define COMMON(setup)                                                                              \
    T(test_write_and_query, setup), T(test_filters, setup), T(test_pagination, setup),             \
        T(test_bounds, setup), T(test_api, setup)

int main(void)
{
    log_open(LOG_LEVEL_OFF, NULL); /* failure paths log on purpose */
    const struct CMUnitTest sqlite_tests[] = {COMMON(fx_setup_sqlite)};
    const struct CMUnitTest pg_tests[] = {COMMON(fx_setup_pg)};
    int failed = cmocka_run_group_tests_name("audit/sqlite", sqlite_tests, NULL, NULL);
    if (getenv("GANGLION_TEST_PG_URL") && *getenv("GANGLION_TEST_PG_URL"))
        failed += cmocka_run_group_tests_name("audit/postgres", pg_tests, NULL, NULL);
    else
        fprintf(stderr, "audit/postgres: SKIPPED (GANGLION_TEST_PG_URL is not set; run under "
                        "tests/harness/with-pg)\n");
    return failed;
}
