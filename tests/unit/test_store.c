/* Unit tests for the store, run once against SQLite (a temp file per test) and once against
 * PostgreSQL when GANGLION_TEST_PG_URL is set (a fresh schema per test; see
 * tests/harness/with-pg). The same test bodies run on both: behaviour must not depend on the
 * backend. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "store/migrations.h"
#include "store/store.h"
#include "store/store_problem.h"

/* ---- fixtures (shared shape with test_audit.c) ------------------------------------------ */

typedef struct fx {
    store_t *s;
    bool pg;
    char url[1024];
    char path[256];  /* sqlite file */
    char schema[64]; /* postgres schema */
} fx_t;

static int fx_counter;

static int fx_setup_sqlite(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(f->path, sizeof f->path, "%s/ganglion-test-store-%d-%d.db", tmp, (int)getpid(),
             ++fx_counter);
    unlink(f->path);
    snprintf(f->url, sizeof f->url, "sqlite:%s", f->path);
    char err[512];
    store_options_t opt = {.pool_size = 4, .busy_timeout_ms = 5000};
    int rc = store_open(f->url, &opt, &f->s, err, sizeof err);
    if (rc < 0)
        fail_msg("store_open: %s", err);
    *state = f;
    return 0;
}

/* Runs one statement on a separate single-connection store over the base URL. */
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
    snprintf(f->schema, sizeof f->schema, "t_%d_%d", (int)getpid(), ++fx_counter);
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", f->schema);
    pg_admin(sql);
    const char *base = getenv("GANGLION_TEST_PG_URL");
    /* Each test sees only its own schema: tests (and test binaries) run in parallel. */
    snprintf(f->url, sizeof f->url, "%s%soptions=-csearch_path%%3D%s", base,
             strchr(base, '?') ? "&" : "?", f->schema);
    char err[512];
    store_options_t opt = {.pool_size = 4, .busy_timeout_ms = 10000};
    if (store_open(f->url, &opt, &f->s, err, sizeof err) < 0)
        fail_msg("store_open: %s", err);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    fx_t *f = *state;
    store_close(&f->s);
    assert_null(f->s);
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

/* A test table in both dialects, applied as a migration (version 100, after the platform's). */
static const store_migration_t items_migration[] = {
    {.version = 100,
     .name = "test_items",
     .sql_sqlite = "CREATE TABLE items ("
                   " id INTEGER PRIMARY KEY AUTOINCREMENT,"
                   " name TEXT NOT NULL UNIQUE,"
                   " n BIGINT,"
                   " r DOUBLE PRECISION,"
                   " data BLOB,"
                   " flag BOOLEAN,"
                   " parent BIGINT REFERENCES items(id));",
     .sql_pg = "CREATE TABLE items ("
               " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
               " name TEXT NOT NULL UNIQUE,"
               " n BIGINT,"
               " r DOUBLE PRECISION,"
               " data BYTEA,"
               " flag BOOLEAN,"
               " parent BIGINT REFERENCES items(id));"},
};

static void items_create(fx_t *f)
{
    char err[512];
    if (store_migrate(f->s, items_migration, 1, err, sizeof err) < 0)
        fail_msg("migrate: %s", err);
}

static int64_t items_count(fx_t *f)
{
    store_conn_t *c = store_conn_acquire(f->s);
    json_t *rows = NULL;
    assert_int_equal(store_query(c, "SELECT COUNT(*) AS n FROM items", NULL, 0, &rows, NULL), 0);
    int64_t n = json_integer_value(json_object_get(json_array_get(rows, 0), "n"));
    json_decref(rows);
    store_conn_release(f->s, c);
    return n;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_open_close(void **state)
{
    fx_t *f = *state;
    assert_string_equal(store_backend(f->s), f->pg ? "postgres" : "sqlite");
    assert_int_equal(store_ping(f->s), 0);

    store_t *s = NULL;
    char err[256] = "";
    assert_int_equal(store_open("mysql://x", NULL, &s, err, sizeof err), STORE_EINVAL);
    assert_null(s);
    assert_non_null(strstr(err, "unsupported URL"));
    assert_int_equal(store_open("sqlite:", NULL, &s, err, sizeof err), STORE_EINVAL);
    store_options_t bad = {.pool_size = 0, .busy_timeout_ms = 10};
    assert_int_equal(store_open(f->url, &bad, &s, err, sizeof err), STORE_EINVAL);
    if (f->pg) {
        /* Nothing listens on port 1: a clear connection error, quickly. */
        assert_int_equal(
            store_open("postgres://nobody@127.0.0.1:1/none", NULL, &s, err, sizeof err),
            STORE_ECONN);
        assert_non_null(strstr(err, "cannot connect"));
    } else {
        assert_int_equal(store_open("sqlite:/nonexistent-dir/x/y.db", NULL, &s, err, sizeof err),
                         STORE_ECONN);
        assert_non_null(strstr(err, "cannot open"));
        /* sqlite://PATH names the same file as sqlite:PATH */
        char url[400];
        snprintf(url, sizeof url, "sqlite://%s", f->path);
        assert_int_equal(store_open(url, NULL, &s, err, sizeof err), 0);
        assert_int_equal(store_ping(s), 0);
        store_close(&s);
    }
    assert_null(s);
    store_close(&s); /* NULL is fine */
}

static void test_migrate_idempotent(void **state)
{
    fx_t *f = *state;
    size_t n;
    const store_migration_t *migs = store_platform_migrations(&n);
    char err[512];
    assert_true(n >= 1);
    assert_int_equal(store_schema_version(f->s), 0);
    assert_int_equal(store_migrate(f->s, migs, n, err, sizeof err), 0);
    assert_int_equal(store_schema_version(f->s), migs[n - 1].version);
    assert_int_equal(store_migrate(f->s, migs, n, err, sizeof err), 0);
    assert_int_equal(store_schema_version(f->s), migs[n - 1].version);

    store_conn_t *c = store_conn_acquire(f->s);
    json_t *rows = NULL;
    assert_int_equal(store_query(c, "SELECT version, name, applied_at_ms FROM schema_migrations",
                                 NULL, 0, &rows, NULL),
                     0);
    assert_int_equal(json_array_size(rows), n);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 0), "version")), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "name")),
                        "audit_log_create");
    assert_true(json_integer_value(json_object_get(json_array_get(rows, 0), "applied_at_ms")) >
                1600000000000LL);
    json_decref(rows);
    /* audit_log exists with its columns */
    assert_int_equal(store_query(c,
                                 "SELECT id, ts_ms, principal, action, target, result, "
                                 "request_id, transport, peer, detail FROM audit_log",
                                 NULL, 0, &rows, NULL),
                     0);
    assert_int_equal(json_array_size(rows), 0);
    json_decref(rows);
    store_conn_release(f->s, c);
}

static void test_schema_newer_refused(void **state)
{
    fx_t *f = *state;
    char err[512] = "";
    store_migration_t two[] = {
        {.version = 1, .name = "one", .sql_sqlite = "CREATE TABLE m1 (x INTEGER)"},
        {.version = 2, .name = "two", .sql_sqlite = "CREATE TABLE m2 (x INTEGER)"},
    };
    assert_int_equal(store_migrate(f->s, two, 2, err, sizeof err), 0);
    assert_int_equal(store_schema_version(f->s), 2);

    /* An older binary knows only version 1. */
    assert_int_equal(store_migrate(f->s, two, 1, err, sizeof err), STORE_ESCHEMA);
    assert_non_null(strstr(err, "refusing to downgrade"));
    assert_non_null(strstr(err, "version 2 (two)"));
    assert_non_null(strstr(err, "this binary knows, 1;"));

    /* Unsorted or duplicate lists are programming errors. */
    store_migration_t unsorted[] = {two[1], two[0]};
    assert_int_equal(store_migrate(f->s, unsorted, 2, err, sizeof err), STORE_EINVAL);

    /* A failing migration is rolled back whole and not recorded. */
    store_migration_t broken[] = {
        two[0],
        two[1],
        {.version = 3,
         .name = "broken",
         .sql_sqlite = "CREATE TABLE m3 (x INTEGER); CREATE TABLE m3 (x INTEGER)"},
    };
    assert_int_equal(store_migrate(f->s, broken, 3, err, sizeof err), STORE_ESCHEMA);
    assert_non_null(strstr(err, "migration 3 (broken) failed"));
    assert_int_equal(store_schema_version(f->s), 2);
    store_conn_t *c = store_conn_acquire(f->s);
    assert_true(store_query(c, "SELECT x FROM m3", NULL, 0, NULL, NULL) < 0);
    store_conn_release(f->s, c);
}

static void test_query_insert_id_affected(void **state)
{
    fx_t *f = *state;
    items_create(f);
    store_conn_t *c = store_conn_acquire(f->s);
    int64_t id1 = 0, id2 = 0, affected = -1;
    store_val_t p1[] = {STORE_TEXTV("alpha"), STORE_INTV(42), STORE_REALV(1.5), STORE_INTV(1)};
    assert_int_equal(store_insert_id(c,
                                     "INSERT INTO items (name, n, r, flag) VALUES ($1, $2, $3, "
                                     "$4) RETURNING id",
                                     p1, 4, &id1),
                     0);
    store_val_t p2[] = {STORE_TEXTV("beta"), STORE_INTV(-7), STORE_NULLV, STORE_INTV(0)};
    assert_int_equal(store_insert_id(c,
                                     "INSERT INTO items (name, n, r, flag) VALUES ($1, $2, $3, "
                                     "$4) RETURNING id",
                                     p2, 4, &id2),
                     0);
    assert_true(id1 > 0);
    assert_int_equal(id2, id1 + 1);

    /* Parameters out of order: $2 before $1 must bind positionally on both backends. */
    json_t *rows = NULL;
    store_val_t p3[] = {STORE_INTV(0), STORE_TEXTV("alpha")};
    assert_int_equal(
        store_query(c, "SELECT id, name, n, r, flag FROM items WHERE name = $2 AND n > $1", p3, 2,
                    &rows, &affected),
        0);
    assert_int_equal(affected, 0); /* a SELECT changes nothing */
    assert_int_equal(json_array_size(rows), 1);
    json_t *row = json_array_get(rows, 0);
    assert_true(json_is_integer(json_object_get(row, "id")));
    assert_int_equal(json_integer_value(json_object_get(row, "n")), 42);
    assert_true(json_is_real(json_object_get(row, "r")));
    assert_true(json_real_value(json_object_get(row, "r")) == 1.5);
    assert_true(json_is_integer(json_object_get(row, "flag")));
    assert_int_equal(json_integer_value(json_object_get(row, "flag")), 1);
    assert_string_equal(json_string_value(json_object_get(row, "name")), "alpha");
    json_decref(rows);

    /* NULL comes back as JSON null; booleans as 0/1 */
    assert_int_equal(store_query(c, "SELECT r, flag FROM items WHERE id = $1",
                                 (store_val_t[]){STORE_INTV(id2)}, 1, &rows, NULL),
                     0);
    assert_true(json_is_null(json_object_get(json_array_get(rows, 0), "r")));
    assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 0), "flag")), 0);
    json_decref(rows);

    assert_int_equal(store_query(c, "UPDATE items SET n = n + 1", NULL, 0, NULL, &affected), 0);
    assert_int_equal(affected, 2);
    assert_int_equal(store_query(c, "DELETE FROM items WHERE name = $1",
                                 (store_val_t[]){STORE_TEXTV("nope")}, 1, NULL, &affected),
                     0);
    assert_int_equal(affected, 0);

    /* Syntax errors and wrong parameter counts are errors with a message, not crashes. */
    assert_true(store_query(c, "SELEC nonsense", NULL, 0, &rows, NULL) < 0);
    assert_null(rows);
    assert_true(strlen(store_conn_error(c)) > 0);
    assert_true(store_query(c, "SELECT name FROM items WHERE id = $1", NULL, 0, NULL, NULL) < 0);
    /* insert_id without RETURNING */
    assert_true(store_insert_id(c, "SELECT 'x' AS s", NULL, 0, &id1) < 0);
    store_conn_release(f->s, c);
    assert_true(store_ops_total(f->s) > 5);
    assert_true(store_errors_total(f->s) >= 3);
}

static void test_params_quotes_binary(void **state)
{
    fx_t *f = *state;
    items_create(f);
    store_conn_t *c = store_conn_acquire(f->s);
    static const char *const texts[] = {
        "O'Brien said \"hi\"; DROP TABLE items; --", "'); DELETE FROM items; --",
        "back\\slash \\x00 $1 ?1 :name @x",          "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80",
        "ctrl \x01\x02\x1f\x7f tab\t nl\n cr\r",     "",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int64_t id;
        store_val_t p[] = {STORE_TEXTV(texts[i])};
        assert_int_equal(
            store_insert_id(c, "INSERT INTO items (name) VALUES ($1) RETURNING id", p, 1, &id), 0);
        json_t *rows = NULL;
        assert_int_equal(store_query(c, "SELECT name FROM items WHERE id = $1",
                                     (store_val_t[]){STORE_INTV(id)}, 1, &rows, NULL),
                         0);
        assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "name")),
                            texts[i]);
        json_decref(rows);
        /* and matching by the same text finds exactly it */
        assert_int_equal(store_query(c, "SELECT id FROM items WHERE name = $1", p, 1, &rows, NULL),
                         0);
        assert_int_equal(json_array_size(rows), 1);
        json_decref(rows);
    }
    assert_int_equal(items_count(f), (int64_t)(sizeof texts / sizeof texts[0]));

    /* Text with an explicit length (not NUL-terminated at len). */
    const char buf[] = "abcdef";
    store_val_t part = {.type = STORE_T_TEXT, .u.s = {buf, 3}};
    json_t *rows = NULL;
    assert_int_equal(store_query(c, "SELECT $1 AS s", &part, 1, &rows, NULL), 0);
    assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "s")), "abc");
    json_decref(rows);

    /* NUL inside text is refused on both backends; binary belongs in blobs. */
    store_val_t nul = {.type = STORE_T_TEXT, .u.s = {"a\0b", 3}};
    assert_int_equal(store_query(c, "SELECT $1 AS s", &nul, 1, NULL, NULL), STORE_EINVAL);

    /* Blobs round-trip every byte value, NUL included, and come back as base64. */
    const unsigned char blob[] = {0x00, 0xff, 0x10, 0x00, 'a', '\'', 0x80};
    store_val_t pb[] = {STORE_TEXTV("blob"), STORE_BLOBV(blob, sizeof blob)};
    assert_int_equal(
        store_query(c, "INSERT INTO items (name, data) VALUES ($1, $2)", pb, 2, NULL, NULL), 0);
    assert_int_equal(store_query(c, "SELECT data FROM items WHERE name = $1", pb, 1, &rows, NULL),
                     0);
    assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "data")),
                        "AP8QAGEngA==");
    json_decref(rows);
    /* Literals in the SQL text that look like parameters are left alone. */
    assert_int_equal(
        store_query(c, "SELECT '$1' AS a, $1 AS b", (store_val_t[]){STORE_INTV(5)}, 1, &rows, NULL),
        0);
    assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "a")), "$1");
    json_decref(rows);
    store_conn_release(f->s, c);
}

static void test_constraint(void **state)
{
    fx_t *f = *state;
    items_create(f);
    store_conn_t *c = store_conn_acquire(f->s);
    const char *ins = "INSERT INTO items (name, parent) VALUES ($1, $2)";
    store_val_t p[] = {STORE_TEXTV("dup"), STORE_NULLV};
    assert_int_equal(store_query(c, ins, p, 2, NULL, NULL), 0);
    assert_int_equal(store_query(c, ins, p, 2, NULL, NULL), STORE_ECONSTRAINT);
    assert_true(strlen(store_conn_error(c)) > 0);
    /* foreign key (foreign_keys=ON on SQLite) */
    store_val_t fk[] = {STORE_TEXTV("orphan"), STORE_INTV(999999)};
    assert_int_equal(store_query(c, ins, fk, 2, NULL, NULL), STORE_ECONSTRAINT);
    /* NOT NULL */
    store_val_t nn[] = {STORE_NULLV, STORE_NULLV};
    assert_int_equal(store_query(c, ins, nn, 2, NULL, NULL), STORE_ECONSTRAINT);
    /* the connection is still usable */
    assert_int_equal(items_count(f), 1);
    assert_int_equal(store_query(c, "SELECT 1 AS one", NULL, 0, NULL, NULL), 0);
    store_conn_release(f->s, c);
}

static void test_transactions(void **state)
{
    fx_t *f = *state;
    items_create(f);
    store_conn_t *c = store_conn_acquire(f->s);
    const char *ins = "INSERT INTO items (name) VALUES ($1)";

    assert_int_equal(store_tx_begin(c), 0);
    assert_int_equal(store_query(c, ins, (store_val_t[]){STORE_TEXTV("gone")}, 1, NULL, NULL), 0);
    assert_int_equal(store_tx_rollback(c), 0);
    store_conn_release(f->s, c);
    assert_int_equal(items_count(f), 0);

    c = store_conn_acquire(f->s);
    assert_int_equal(store_tx_begin(c), 0);
    assert_int_equal(store_query(c, ins, (store_val_t[]){STORE_TEXTV("kept")}, 1, NULL, NULL), 0);
    assert_int_equal(store_query(c, ins, (store_val_t[]){STORE_TEXTV("kept2")}, 1, NULL, NULL), 0);
    assert_int_equal(store_tx_commit(c), 0);
    store_conn_release(f->s, c);
    assert_int_equal(items_count(f), 2);

    /* A failed statement inside a transaction, then rollback: nothing of it remains. */
    c = store_conn_acquire(f->s);
    assert_int_equal(store_tx_begin(c), 0);
    assert_int_equal(store_query(c, ins, (store_val_t[]){STORE_TEXTV("x")}, 1, NULL, NULL), 0);
    assert_int_equal(store_query(c, ins, (store_val_t[]){STORE_TEXTV("kept")}, 1, NULL, NULL),
                     STORE_ECONSTRAINT);
    assert_int_equal(store_tx_rollback(c), 0);
    store_conn_release(f->s, c);
    assert_int_equal(items_count(f), 2);

    /* Released inside a transaction: the pool rolls it back. */
    c = store_conn_acquire(f->s);
    assert_int_equal(store_tx_begin(c), 0);
    assert_int_equal(store_query(c, ins, (store_val_t[]){STORE_TEXTV("leak")}, 1, NULL, NULL), 0);
    store_conn_release(f->s, c);
    assert_int_equal(items_count(f), 2);
    c = store_conn_acquire(f->s);
    assert_int_equal(store_tx_begin(c), 0); /* not "already in a transaction" */
    assert_int_equal(store_tx_commit(c), 0);
    store_conn_release(f->s, c);
}

#define POOL_THREADS 8
#define POOL_ITERS   40

typedef struct pool_arg {
    fx_t *f;
    int idx;
    int failures;
} pool_arg_t;

static void *pool_thread(void *p)
{
    pool_arg_t *a = p;
    for (int i = 0; i < POOL_ITERS; i++) {
        store_conn_t *c = store_conn_acquire(a->f->s);
        char name[64];
        snprintf(name, sizeof name, "t%d-%d", a->idx, i);
        if (store_query(c, "INSERT INTO items (name, n) VALUES ($1, $2)",
                        (store_val_t[]){STORE_TEXTV(name), STORE_INTV(a->idx)}, 2, NULL, NULL) < 0)
            a->failures++;
        store_conn_release(a->f->s, c);
    }
    return NULL;
}

static void test_pool_threads(void **state)
{
    fx_t *f = *state;
    items_create(f);
    pthread_t th[POOL_THREADS];
    pool_arg_t args[POOL_THREADS];
    for (int i = 0; i < POOL_THREADS; i++) {
        args[i] = (pool_arg_t){.f = f, .idx = i};
        assert_int_equal(pthread_create(&th[i], NULL, pool_thread, &args[i]), 0);
    }
    for (int i = 0; i < POOL_THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(args[i].failures, 0);
    }
    assert_int_equal(items_count(f), POOL_THREADS * POOL_ITERS);
    /* every connection is back: acquiring all of them does not block */
    store_conn_t *cs[4];
    for (int i = 0; i < 4; i++)
        cs[i] = store_conn_acquire(f->s);
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < i; j++)
            assert_ptr_not_equal(cs[i], cs[j]);
        store_conn_release(f->s, cs[i]);
    }
}

#define SUBMIT_JOBS 24

typedef struct submit_ctx {
    uv_thread_t loop_thread;
    int done;
    int errors;
    int wrong_thread;
    int work_on_loop_thread;
} submit_ctx_t;

typedef struct submit_job {
    submit_ctx_t *ctx;
    int n;
} submit_job_t;

static int submit_work(store_conn_t *c, void *ud)
{
    submit_job_t *j = ud;
    uv_thread_t self = uv_thread_self();
    if (uv_thread_equal(&self, &j->ctx->loop_thread))
        j->ctx->work_on_loop_thread++;
    if (j->n < 0) /* a failing job: its status reaches done */
        return store_query(c, "SELECT * FROM no_such_table", NULL, 0, NULL, NULL);
    char name[32];
    snprintf(name, sizeof name, "job%d", j->n);
    return store_query(c, "INSERT INTO items (name) VALUES ($1)",
                       (store_val_t[]){STORE_TEXTV(name)}, 1, NULL, NULL);
}

static void submit_done(int status, void *ud)
{
    submit_job_t *j = ud;
    uv_thread_t self = uv_thread_self();
    if (!uv_thread_equal(&self, &j->ctx->loop_thread))
        j->ctx->wrong_thread++;
    if (status < 0)
        j->ctx->errors++;
    j->ctx->done++;
    free(j);
}

static void test_submit(void **state)
{
    fx_t *f = *state;
    items_create(f);
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    submit_ctx_t ctx = {.loop_thread = uv_thread_self()};
    for (int i = 0; i < SUBMIT_JOBS; i++) {
        submit_job_t *j = malloc(sizeof *j);
        assert_non_null(j);
        *j = (submit_job_t){.ctx = &ctx, .n = i == 3 ? -1 : i};
        assert_int_equal(store_submit(f->s, &loop, submit_work, submit_done, j), 0);
    }
    assert_int_equal(store_pending(f->s), SUBMIT_JOBS);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(ctx.done, SUBMIT_JOBS);
    assert_int_equal(ctx.errors, 1);
    assert_int_equal(ctx.wrong_thread, 0);
    assert_int_equal(ctx.work_on_loop_thread, 0);
    assert_int_equal(store_pending(f->s), 0);
    assert_int_equal(items_count(f), SUBMIT_JOBS - 1);
    assert_int_equal(store_submit(f->s, &loop, NULL, NULL, NULL), UV_EINVAL);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Ordered submissions complete in the order they were made and insert rows in that order,
 * although the pool has several connections and threads. */
typedef struct ordered_job {
    int n;
    int *log;
    int *nlog;
} ordered_job_t;

static int ordered_work(store_conn_t *c, void *ud)
{
    ordered_job_t *j = ud;
    char name[32];
    snprintf(name, sizeof name, "o%02d", j->n);
    return store_query(c, "INSERT INTO items (name) VALUES ($1)",
                       (store_val_t[]){STORE_TEXTV(name)}, 1, NULL, NULL);
}

static void ordered_done(int status, void *ud)
{
    ordered_job_t *j = ud;
    if (status == 0)
        j->log[(*j->nlog)++] = j->n;
    free(j);
}

static void test_submit_ordered(void **state)
{
    fx_t *f = *state;
    items_create(f);
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    int log[SUBMIT_JOBS], nlog = 0;
    for (int i = 0; i < SUBMIT_JOBS; i++) {
        ordered_job_t *j = malloc(sizeof *j);
        assert_non_null(j);
        *j = (ordered_job_t){.n = i, .log = log, .nlog = &nlog};
        assert_int_equal(store_submit_ordered(f->s, &loop, ordered_work, ordered_done, j), 0);
    }
    assert_int_equal(store_pending(f->s), SUBMIT_JOBS);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(nlog, SUBMIT_JOBS);
    for (int i = 0; i < SUBMIT_JOBS; i++)
        assert_int_equal(log[i], i);
    json_t *rows = NULL;
    store_conn_t *c = store_conn_acquire(f->s);
    assert_int_equal(store_query(c, "SELECT name FROM items ORDER BY id", NULL, 0, &rows, NULL), 0);
    store_conn_release(f->s, c);
    assert_int_equal(json_array_size(rows), SUBMIT_JOBS);
    for (int i = 0; i < SUBMIT_JOBS; i++) {
        char want[32];
        snprintf(want, sizeof want, "o%02d", i);
        assert_string_equal(
            json_string_value(json_object_get(json_array_get(rows, (size_t)i), "name")), want);
    }
    json_decref(rows);
    assert_int_equal(store_pending(f->s), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* SQLite: a writer holding the lock makes another writer fail with STORE_EBUSY once the busy
 * timeout passes. */
static void test_sqlite_busy(void **state)
{
    fx_t *f = *state;
    items_create(f);
    store_t *s2 = NULL;
    char err[256];
    store_options_t opt = {.pool_size = 1, .busy_timeout_ms = 50};
    assert_int_equal(store_open(f->url, &opt, &s2, err, sizeof err), 0);
    store_conn_t *a = store_conn_acquire(f->s);
    store_conn_t *b = store_conn_acquire(s2);
    assert_int_equal(store_tx_begin(a), 0);
    assert_int_equal(store_tx_begin(b), STORE_EBUSY);
    assert_int_equal(store_tx_rollback(a), 0);
    assert_int_equal(store_tx_begin(b), 0);
    assert_int_equal(store_tx_commit(b), 0);
    store_conn_release(f->s, a);
    store_conn_release(s2, b);
    store_close(&s2);
}

/* PostgreSQL: a connection the server closed while it was idle is re-established before the
 * next statement, which succeeds; no outage is declared for it. */
static void test_pg_reconnect(void **state)
{
    fx_t *f = *state;
    store_conn_t *a = store_conn_acquire(f->s);
    store_conn_t *b = store_conn_acquire(f->s);
    json_t *rows = NULL;
    assert_int_equal(store_query(a, "SELECT pg_backend_pid() AS pid", NULL, 0, &rows, NULL), 0);
    int64_t pid = json_integer_value(json_object_get(json_array_get(rows, 0), "pid"));
    json_decref(rows);
    assert_int_equal(store_query(b, "SELECT pg_terminate_backend($1) AS ok",
                                 (store_val_t[]){STORE_INTV(pid)}, 1, &rows, NULL),
                     0);
    json_decref(rows);
    usleep(100 * 1000);
    assert_int_equal(store_query(a, "SELECT 1 AS one", NULL, 0, &rows, NULL), 0);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 0), "one")), 1);
    json_decref(rows);
    /* still in the test's schema after the reconnect */
    items_create(f);
    assert_int_equal(store_query(a, "SELECT COUNT(*) AS n FROM items", NULL, 0, NULL, NULL), 0);
    store_conn_release(f->s, a);
    store_conn_release(f->s, b);
}

/* SQLite: a full database (max_page_count stands in for a full disk) refuses writes with
 * STORE_EFULL, a transient code, while reads go on; raising the limit lets writes resume. */
static void test_sqlite_full(void **state)
{
    fx_t *f = *state;
    items_create(f);
    store_conn_t *c = store_conn_acquire(f->s);
    json_t *rows = NULL;
    assert_int_equal(store_query(c, "PRAGMA page_count", NULL, 0, &rows, NULL), 0);
    int64_t pages = json_integer_value(json_object_get(json_array_get(rows, 0), "page_count"));
    json_decref(rows);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", (long long)pages);
    assert_int_equal(store_query(c, sql, NULL, 0, NULL, NULL), 0);
    static char blob[256 * 1024];
    store_val_t p[] = {STORE_TEXTV("big"), STORE_BLOBV(blob, sizeof blob)};
    const char *ins = "INSERT INTO items (name, data) VALUES ($1, $2)";
    int rc = store_query(c, ins, p, 2, NULL, NULL);
    assert_int_equal(rc, STORE_EFULL);
    assert_true(store_code_transient(rc));
    assert_true(store_full(f->s));
    assert_int_equal(store_query(c, "SELECT COUNT(*) AS n FROM items", NULL, 0, NULL, NULL), 0);
    snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", (long long)pages * 1000);
    assert_int_equal(store_query(c, sql, NULL, 0, NULL, NULL), 0);
    assert_int_equal(store_query(c, ins, p, 2, NULL, NULL), 0);
    assert_false(store_full(f->s));
    store_conn_release(f->s, c);
    assert_true(store_up(f->s)); /* a full disk is not a lost connection */
}

/* More distinct statements than the prepared-statement cache holds, then the first ones again:
 * each evicted entry leaves the cache's index with it, and every statement still answers its
 * own query (no stale entry found under another text). */
static void test_stmt_cache_eviction(void **state)
{
    fx_t *f = *state;
    store_conn_t *c = store_conn_acquire(f->s);
    assert_non_null(c);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 400; i++) { /* the cache holds 128 (STORE_STMT_CACHE) */
            char sql[96];
            snprintf(sql, sizeof sql, "SELECT %d + $1 AS n", i);
            json_t *rows = NULL;
            assert_int_equal(store_query(c, sql, (store_val_t[]){STORE_INTV(1000)}, 1, &rows, NULL),
                             0);
            assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 0), "n")),
                             i + 1000);
            json_decref(rows);
        }
    }
    store_conn_release(f->s, c);
}

/* SQLite: store.sqlite_cache_kb reaches every pooled connection's page cache. */
static void test_sqlite_cache_size(void **state)
{
    fx_t *f = *state;
    store_t *s2 = NULL;
    char err[256];
    store_options_t opt = {.pool_size = 2, .busy_timeout_ms = 50, .sqlite_cache_kb = 300};
    assert_int_equal(store_open(f->url, &opt, &s2, err, sizeof err), 0);
    store_conn_t *a = store_conn_acquire(s2);
    store_conn_t *b = store_conn_acquire(s2);
    store_conn_t *both[] = {a, b};
    for (size_t i = 0; i < 2; i++) {
        json_t *rows = NULL;
        assert_int_equal(store_query(both[i], "PRAGMA cache_size", NULL, 0, &rows, NULL), 0);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 0), "cache_size")),
                         -300);
        json_decref(rows);
    }
    store_conn_release(s2, a);
    store_conn_release(s2, b);
    store_close(&s2);
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : 0;
}

/* SQLite: WAL checkpoints run on the store's checkpointer thread, not inside a commit, and the
 * WAL stays bounded even when commits come back to back faster than the thread checkpoints:
 * 20 000 commits of 2 KB each (over 40 MB of WAL if nothing checkpointed) leave checkpoints
 * counted, the WAL file under the backstop (4 000 pages, 16 MB) plus slack, and every row there. */
static void test_sqlite_checkpoints(void **state)
{
    fx_t *f = *state;
    items_create(f);
    assert_int_equal(store_checkpoints_total(f->s), 0);
    store_conn_t *c = store_conn_acquire(f->s);
    for (int i = 0; i < 20000; i++)
        assert_int_equal(store_query(c,
                                     "INSERT INTO items (name, data) VALUES ($1, randomblob(2000))",
                                     &STORE_INTV(i), 1, NULL, NULL),
                         0);
    store_conn_release(f->s, c);
    for (int i = 0; i < 500 && store_checkpoints_total(f->s) == 0; i++)
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    assert_true(store_checkpoints_total(f->s) > 0);
    char wal[300];
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    assert_true(file_size(wal) < 24 * 1024 * 1024);
    assert_int_equal(items_count(f), 20000);
}

/* Reads every row of a 4 MB table on both connections of a pool opened with opt; returns what
 * SQLite holds afterwards. */
static int64_t sqlite_heap_after_scans(fx_t *f, const store_options_t *opt)
{
    store_t *s2 = NULL;
    char err[256];
    assert_int_equal(store_open(f->url, opt, &s2, err, sizeof err), 0);
    store_conn_t *a = store_conn_acquire(s2);
    store_conn_t *b = store_conn_acquire(s2);
    store_conn_t *both[] = {a, b};
    for (size_t i = 0; i < 2; i++) {
        json_t *rows = NULL;
        assert_int_equal(
            store_query(both[i], "SELECT SUM(length(data)) AS n FROM items", NULL, 0, &rows, NULL),
            0);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 0), "n")),
                         1000 * 4000);
        json_decref(rows);
    }
    int64_t used = sqlite3_memory_used();
    store_conn_release(s2, a);
    store_conn_release(s2, b);
    store_close(&s2);
    return used;
}

/* SQLite: store.sqlite_heap_kb bounds the page caches of the whole pool together — two
 * connections that each may cache 8 MB, scanning a 4 MB table, stay near the limit with it and
 * hold both copies without it. */
static void test_sqlite_heap_limit(void **state)
{
    fx_t *f = *state;
    items_create(f);
    store_conn_t *c = store_conn_acquire(f->s);
    assert_int_equal(store_query(c,
                                 "WITH RECURSIVE k(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM k "
                                 "WHERE x < 1000) INSERT INTO items (name, data) "
                                 "SELECT 'r' || x, randomblob(4000) FROM k",
                                 NULL, 0, NULL, NULL),
                     0);
    store_conn_release(f->s, c);
    store_close(&f->s); /* the fixture's pool would cache the table too */
    store_options_t opt = {
        .pool_size = 2, .busy_timeout_ms = 50, .sqlite_cache_kb = 8192, .sqlite_heap_kb = 1024};
    int64_t limited = sqlite_heap_after_scans(f, &opt);
    opt.sqlite_heap_kb = 0;
    int64_t unlimited = sqlite_heap_after_scans(f, &opt);
    assert_true(limited < 1536 * 1024);
    assert_true(unlimited > 6 * 1024 * 1024);
}

/* PostgreSQL: a connection lost inside a transaction refuses the rest of it — a later
 * statement must not run outside a transaction on the new session — until ROLLBACK, which
 * succeeds; nothing of the transaction is committed, and the connection works afterwards. */
static void test_pg_tx_lost(void **state)
{
    fx_t *f = *state;
    items_create(f);
    store_conn_t *a = store_conn_acquire(f->s);
    store_conn_t *b = store_conn_acquire(f->s);
    json_t *rows = NULL;
    const char *ins = "INSERT INTO items (name) VALUES ($1)";
    assert_int_equal(store_tx_begin(a), 0);
    assert_int_equal(store_query(a, ins, (store_val_t[]){STORE_TEXTV("in-tx")}, 1, NULL, NULL), 0);
    assert_int_equal(store_query(a, "SELECT pg_backend_pid() AS pid", NULL, 0, &rows, NULL), 0);
    int64_t pid = json_integer_value(json_object_get(json_array_get(rows, 0), "pid"));
    json_decref(rows);
    assert_int_equal(store_query(b, "SELECT pg_terminate_backend($1) AS ok",
                                 (store_val_t[]){STORE_INTV(pid)}, 1, &rows, NULL),
                     0);
    json_decref(rows);
    usleep(100 * 1000);
    store_val_t after[] = {STORE_TEXTV("after-loss")};
    assert_int_equal(store_query(a, ins, after, 1, NULL, NULL), STORE_ECONN);
    assert_int_equal(store_query(a, ins, after, 1, NULL, NULL), STORE_ECONN);
    assert_int_equal(store_tx_commit(a), STORE_ECONN);
    assert_int_equal(store_tx_rollback(a), 0);
    assert_int_equal(items_count(f), 0);
    assert_int_equal(store_query(a, ins, after, 1, NULL, NULL), 0);
    assert_int_equal(items_count(f), 1);
    store_conn_release(f->s, a);
    store_conn_release(f->s, b);
    assert_true(store_up(f->s));
    assert_true(store_reconnects_total(f->s) >= 1);
}

/* Error codes as problems: outages are 503 with Retry-After, conflicts 409, the rest 500. */
static void test_store_problem(void **state)
{
    (void)state;
    static const struct {
        int code, status;
        const char *type;
        bool retry;
    } cases[] = {
        {STORE_ECONN, 503, "urn:ganglion:problem:store-unavailable", true},
        {STORE_EBUSY, 503, "urn:ganglion:problem:store-busy", true},
        {STORE_EFULL, 503, "urn:ganglion:problem:store-full", true},
        {STORE_ECONSTRAINT, 409, "urn:ganglion:problem:conflict", false},
        {STORE_ERR, 500, "urn:ganglion:problem:store-error", false},
        {STORE_EINVAL, 500, "urn:ganglion:problem:store-error", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        problem_t *p = store_problem_new(NULL, cases[i].code, "writing the thing");
        assert_int_equal(problem_status(p), cases[i].status);
        json_t *j = problem_to_json(p, NULL);
        assert_string_equal(json_string_value(json_object_get(j, "type")), cases[i].type);
        json_decref(j);
        const char *ra = problem_header_get(p, "Retry-After");
        if (cases[i].retry)
            assert_string_equal(ra, "1");
        else
            assert_null(ra);
        assert_true(strstr(problem_detail(p), "writing the thing") != NULL);
        assert_int_equal(store_code_transient(cases[i].code), cases[i].retry);
        problem_destroy(&p);
    }
}

#define T(fn, setup) cmocka_unit_test_setup_teardown(fn, setup, fx_teardown)
#define COMMON(setup)                                                                              \
    T(test_open_close, setup), T(test_migrate_idempotent, setup),                                  \
        T(test_schema_newer_refused, setup), T(test_query_insert_id_affected, setup),              \
        T(test_params_quotes_binary, setup), T(test_constraint, setup),                            \
        T(test_transactions, setup), T(test_pool_threads, setup), T(test_submit, setup),           \
        T(test_submit_ordered, setup), T(test_stmt_cache_eviction, setup)

int main(void)
{
    log_open(LOG_LEVEL_ERROR, NULL); /* keep test output readable */
    const struct CMUnitTest sqlite_tests[] = {COMMON(fx_setup_sqlite),
                                              T(test_sqlite_busy, fx_setup_sqlite),
                                              T(test_sqlite_full, fx_setup_sqlite),
                                              T(test_sqlite_cache_size, fx_setup_sqlite),
                                              T(test_sqlite_heap_limit, fx_setup_sqlite),
                                              T(test_sqlite_checkpoints, fx_setup_sqlite),
                                              cmocka_unit_test(test_store_problem)};
    const struct CMUnitTest pg_tests[] = {COMMON(fx_setup_pg), T(test_pg_reconnect, fx_setup_pg),
                                          T(test_pg_tx_lost, fx_setup_pg)};
    int failed = cmocka_run_group_tests_name("store/sqlite", sqlite_tests, NULL, NULL);
    if (getenv("GANGLION_TEST_PG_URL") && *getenv("GANGLION_TEST_PG_URL"))
        failed += cmocka_run_group_tests_name("store/postgres", pg_tests, NULL, NULL);
    else
        fprintf(stderr, "store/postgres: SKIPPED (GANGLION_TEST_PG_URL is not set; run under "
                        "tests/harness/with-pg)\n");
    return failed;
}
