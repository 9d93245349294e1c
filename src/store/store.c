/* The backend-independent half of the store: URL parsing, the connection pool, counters,
 * migrations, transactions and store_submit (blocking database work on the libuv thread pool,
 * completion on the loop). Backends (store_sqlite.c, store_pg.c) only run statements. */
#include "store/store.h"

#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "store/store_internal.h"

#define STORE_POOL_MAX 64

struct store {
    const store_backend_ops_t *ops;
    void *backend;        /* ops->attach's state, or NULL */
    store_conn_t **conns; /* every connection, for close */
    store_conn_t **free;  /* stack of idle connections */
    int nconns;
    int nfree;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint_least64_t ops_total;
    atomic_uint_least64_t errors_total;
    atomic_int pending;
    /* The ordered lane (store_submit_ordered): loop-thread only, one job on the pool at a time. */
    struct store_job *oq_head, *oq_tail;
    bool oq_running;
    /* Outages (see store.h), guarded by mu: down from a lost connection until a reconnect
     * works; probing while one thread tries; no attempt before retry_at_ms (monotonic). */
    bool down, probing;
    int64_t retry_at_ms;
    int backoff_ms;
    atomic_uint_least64_t reconnects;
    atomic_uint_least64_t outages;
    /* From a write refused for want of space until a write succeeds (see store_full). */
    atomic_bool full;
};

static void store_ordered_fail_all(store_t *s);

/* ---- helpers shared with the backends --------------------------------------------------- */

int store_conn_fail(store_conn_t *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return code;
}

json_t *store_base64_json(const unsigned char *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t outlen = (n + 2) / 3 * 4;
    char *out = malloc(outlen + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    json_t *j = json_stringn(out, o);
    free(out);
    return j;
}

static void errset(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void errset(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- open / close ----------------------------------------------------------------------- */

/* Splits a URL into backend and target. "sqlite:PATH" and "sqlite://PATH" both name a file
 * (so "sqlite:///abs/db" and "sqlite:rel/db" work); postgres URLs go to libpq whole. */
static int store_url_parse(const char *url, const store_backend_ops_t **ops, const char **target)
{
    if (strncmp(url, "sqlite:", 7) == 0) {
        const char *p = url + 7;
        if (strncmp(p, "//", 2) == 0)
            p += 2;
        if (!*p)
            return STORE_EINVAL;
        *ops = &store_sqlite_ops;
        *target = p;
        return 0;
    }
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0) {
        *ops = &store_pg_ops;
        *target = url;
        return 0;
    }
    return STORE_EINVAL;
}

int store_open(const char *url, const store_options_t *opt, store_t **out, char *err, size_t errlen)
{
    store_options_t o = {.pool_size = 4, .busy_timeout_ms = 5000};
    const store_backend_ops_t *ops;
    const char *target;

    *out = NULL;
    if (opt)
        o = *opt;
    if (!url || store_url_parse(url, &ops, &target) < 0) {
        /* The URL may hold a password: name only the accepted forms, not the input. */
        errset(err, errlen, "store: unsupported URL (expected sqlite:PATH or postgres://...)");
        return STORE_EINVAL;
    }
    if (o.pool_size < 1 || o.pool_size > STORE_POOL_MAX) {
        errset(err, errlen, "store: pool size must be 1..%d", STORE_POOL_MAX);
        return STORE_EINVAL;
    }
    if (o.busy_timeout_ms < 0)
        o.busy_timeout_ms = 0;
    /* Each in-memory SQLite connection would be a separate database. */
    if (ops == &store_sqlite_ops && strcmp(target, ":memory:") == 0)
        o.pool_size = 1;

    store_t *s = calloc(1, sizeof *s);
    if (!s) {
        errset(err, errlen, "store: out of memory");
        return STORE_ERR;
    }
    s->ops = ops;
    s->conns = calloc((size_t)o.pool_size, sizeof *s->conns);
    s->free = calloc((size_t)o.pool_size, sizeof *s->free);
    if (!s->conns || !s->free) {
        free(s->conns);
        free(s->free);
        free(s);
        errset(err, errlen, "store: out of memory");
        return STORE_ERR;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    atomic_init(&s->ops_total, 0);
    atomic_init(&s->errors_total, 0);
    atomic_init(&s->pending, 0);
    atomic_init(&s->reconnects, 0);
    atomic_init(&s->outages, 0);
    atomic_init(&s->full, false);
    s->backoff_ms = STORE_RECONNECT_MIN_MS;

    /* Open every connection now, so a bad path or an unreachable server fails at start and not
     * on the first request. */
    for (int i = 0; i < o.pool_size; i++) {
        store_conn_t *c = NULL;
        int rc = ops->conn_open(s, target, &o, &c, err, errlen);
        if (rc < 0) {
            store_close(&s);
            return rc;
        }
        c->ops = ops;
        c->store = s;
        c->in_pool = true;
        s->conns[s->nconns++] = c;
        s->free[s->nfree++] = c;
    }
    if (ops->attach) {
        int rc = ops->attach(s->conns, s->nconns, &s->backend, err, errlen);
        if (rc < 0) {
            store_close(&s);
            return rc;
        }
    }
    *out = s;
    return 0;
}

void store_close(store_t **sp)
{
    store_t *s = sp ? *sp : NULL;
    if (!s)
        return;
    store_ordered_fail_all(s);
    /* Callers drain store_submit work first (the daemon waits for store_pending() == 0);
     * a connection still out of the pool here is a bug, but closing is still the right move. */
    if (atomic_load(&s->pending) != 0 || s->nfree != s->nconns)
        log_warn(NULL, "store closed with work in flight", "{s:i,s:i}", "pending",
                 atomic_load(&s->pending), "busy", s->nconns - s->nfree);
    for (int i = 0; i < s->nconns; i++)
        s->ops->conn_close(s->conns[i]);
    if (s->ops->detach && s->backend)
        s->ops->detach(s->backend);
    free(s->conns);
    free(s->free);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
    *sp = NULL;
}

const char *store_backend(const store_t *s)
{
    return s->ops->name;
}

/* ---- pool ------------------------------------------------------------------------------- */

store_conn_t *store_conn_acquire(store_t *s)
{
    pthread_mutex_lock(&s->mu);
    while (s->nfree == 0)
        pthread_cond_wait(&s->cv, &s->mu);
    store_conn_t *c = s->free[--s->nfree];
    c->in_pool = false;
    pthread_mutex_unlock(&s->mu);
    c->err[0] = '\0';
    c->tx_lost = false;
    return c;
}

void store_conn_release(store_t *s, store_conn_t *c)
{
    if (!c)
        return;
    assert(c->store == s);
    /* A transaction left open would leak its locks and half its writes into the next user's
     * work: roll it back here, where it cannot be missed. */
    c->tx_lost = false; /* the server ended that transaction with the connection */
    if (c->ops->in_tx(c)) {
        log_warn(NULL, "store: connection released inside a transaction; rolling back", NULL);
        if (c->ops->query(c, "ROLLBACK", NULL, 0, NULL, NULL) < 0 && c->ops->reset)
            (void)c->ops->reset(c);
    }
    pthread_mutex_lock(&s->mu);
    assert(!c->in_pool);
    if (!c->in_pool) {
        c->in_pool = true;
        s->free[s->nfree++] = c;
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
}

const char *store_conn_error(const store_conn_t *c)
{
    return c->err;
}

/* ---- outages --------------------------------------------------------------------------- */

static int64_t store_now_ms(void)
{
    return (int64_t)(clock_mono_ns() / 1000000u);
}

/* Marks the store down (once per outage: counted and logged on the transition). The first
 * reconnect may be tried at once, since a restarted server is often back already. Returns
 * whether this call made the transition. Called with s->mu held. */
static bool store_down_locked(store_t *s)
{
    if (s->down)
        return false;
    s->down = true;
    s->retry_at_ms = store_now_ms();
    s->backoff_ms = STORE_RECONNECT_MIN_MS;
    atomic_fetch_add(&s->outages, 1);
    return true;
}

static void store_down_log(const store_t *s, const char *why)
{
    log_error(NULL, "store: connection lost; requests that need the store get 503 until it is back",
              "{s:s,s:s}", "backend", s->ops->name, "error", why && *why ? why : "?");
}

/* A statement lost its connection. */
static void store_outage_begin(store_t *s, const char *why)
{
    pthread_mutex_lock(&s->mu);
    bool first = store_down_locked(s);
    pthread_mutex_unlock(&s->mu);
    if (first)
        store_down_log(s, why);
}

/* The end of a reconnect or of a probe statement: ok marks the store up, otherwise the next
 * attempt waits for the backoff, which doubles. */
static void store_probe_end(store_t *s, bool ok, const char *why)
{
    pthread_mutex_lock(&s->mu);
    s->probing = false;
    bool back = false, first = false;
    if (ok) {
        back = s->down;
        s->down = false;
        s->backoff_ms = STORE_RECONNECT_MIN_MS;
    } else {
        first = store_down_locked(s);
        s->retry_at_ms = store_now_ms() + s->backoff_ms;
        s->backoff_ms =
            s->backoff_ms * 2 > STORE_RECONNECT_MAX_MS ? STORE_RECONNECT_MAX_MS : s->backoff_ms * 2;
    }
    pthread_mutex_unlock(&s->mu);
    if (first)
        store_down_log(s, why);
    if (back)
        log_info(NULL, "store: reconnected", "{s:s}", "backend", s->ops->name);
}

/* Makes c usable before a statement. While the store is up, a broken connection (the server
 * closed it while idle: a restart nobody saw) is re-established at once. While it is down, one
 * statement at a time, once the backoff has run out, is the probe — on a new connection if its
 * own is broken — and *probe says so (the caller reports its outcome with store_probe_end);
 * every other statement fails at once, also on a connection that looks alive, since a frozen
 * server would hold it for the whole answer timeout — but for a ROLLBACK on a live connection,
 * so that a transaction begun before the outage can end. Returns 0 (go ahead), 1 (go ahead on
 * a new session) or STORE_ECONN (message in c->err). */
static int store_conn_ready(store_conn_t *c, bool rollback, bool *probe)
{
    *probe = false;
    if (!c->ops->reset)
        return 0; /* cannot break (sqlite) */
    store_t *s = c->store;
    bool alive = !c->ops->alive || c->ops->alive(c);
    if (alive && rollback)
        return 0; /* ending a transaction on a live connection is never refused */
    pthread_mutex_lock(&s->mu);
    int64_t wait = s->retry_at_ms - store_now_ms();
    bool down = s->down, mine = !down || (!s->probing && wait <= 0);
    if (down && mine)
        s->probing = *probe = true;
    pthread_mutex_unlock(&s->mu);
    if (!mine)
        return store_conn_fail(c, STORE_ECONN, "%s unreachable; next reconnect attempt in %lld ms",
                               s->ops->name, (long long)(wait > 0 ? wait : 0));
    if (alive)
        return 0;
    int rc = c->ops->reset(c);
    *probe = false; /* the reset was the probe: it answers for the server */
    store_probe_end(s, rc == 0, c->err);
    if (rc < 0)
        return STORE_ECONN; /* whatever failed in the reset, the connection is what is missing */
    atomic_fetch_add(&s->reconnects, 1);
    return 1;
}

/* Logged once per change, so an operator sees when writes stopped and when they resumed. */
static void store_full_set(store_t *s, bool full, const char *why)
{
    if (atomic_exchange(&s->full, full) == full)
        return;
    if (full)
        log_error(NULL, "store: disk full; writes get 503 until space is freed, reads go on",
                  "{s:s,s:s}", "backend", s->ops->name, "error", why && *why ? why : "?");
    else
        log_info(NULL, "store: writes succeed again", "{s:s}", "backend", s->ops->name);
}

bool store_full(const store_t *s)
{
    return atomic_load(&((store_t *)(uintptr_t)s)->full);
}

bool store_code_transient(int code)
{
    return code == STORE_ECONN || code == STORE_EBUSY || code == STORE_EFULL;
}

bool store_up(const store_t *s)
{
    store_t *m = (store_t *)(uintptr_t)s;
    pthread_mutex_lock(&m->mu);
    bool up = !m->down;
    pthread_mutex_unlock(&m->mu);
    return up;
}

int store_retry_after_s(const store_t *s, int code)
{
    if (!s || code != STORE_ECONN)
        return 1;
    store_t *m = (store_t *)(uintptr_t)s;
    pthread_mutex_lock(&m->mu);
    int64_t wait = m->down ? m->retry_at_ms - store_now_ms() : 0;
    pthread_mutex_unlock(&m->mu);
    return wait > 1000 ? (int)((wait + 999) / 1000) : 1;
}

uint64_t store_reconnects_total(const store_t *s)
{
    return atomic_load(&((store_t *)(uintptr_t)s)->reconnects);
}

uint64_t store_checkpoints_total(const store_t *s)
{
    return s->ops->checkpoints && s->backend ? s->ops->checkpoints(s->backend) : 0;
}

uint64_t store_outages_total(const store_t *s)
{
    return atomic_load(&((store_t *)(uintptr_t)s)->outages);
}

/* ---- statements ------------------------------------------------------------------------- */

#define STORE_TX_LOST "the connection was lost inside a transaction; roll back and retry"

static int store_count(store_conn_t *c, int rc)
{
    atomic_fetch_add(&c->store->ops_total, 1);
    if (rc < 0)
        atomic_fetch_add(&c->store->errors_total, 1);
    return rc;
}

int store_query(store_conn_t *c, const char *sql, const store_val_t *params, size_t nparams,
                json_t **rows, int64_t *affected)
{
    if (rows)
        *rows = NULL;
    if (affected)
        *affected = 0;
    if (!sql || (nparams && !params) || nparams > STORE_MAX_PARAMS)
        return store_count(c, store_conn_fail(c, STORE_EINVAL, "bad statement or parameters"));
    for (size_t i = 0; i < nparams; i++) {
        const store_val_t *v = &params[i];
        if (v->type > STORE_T_BLOB ||
            ((v->type == STORE_T_TEXT || v->type == STORE_T_BLOB) && !v->u.s.p && v->u.s.len))
            return store_count(c, store_conn_fail(c, STORE_EINVAL, "bad parameter $%zu", i + 1));
        /* PostgreSQL takes text as C strings, so a NUL would cut the value there; refuse it on
         * both backends so behaviour does not depend on the backend (binary goes in blobs). */
        if (v->type == STORE_T_TEXT && v->u.s.len && memchr(v->u.s.p, '\0', v->u.s.len))
            return store_count(
                c, store_conn_fail(c, STORE_EINVAL, "text parameter $%zu contains NUL", i + 1));
    }
    c->err[0] = '\0';
    bool rollback = strcmp(sql, "ROLLBACK") == 0;
    if (c->tx_lost) {
        if (rollback) { /* nothing left to roll back: the server ended it with the connection */
            c->tx_lost = false;
            return store_count(c, 0);
        }
        return store_count(c, store_conn_fail(c, STORE_ECONN, STORE_TX_LOST));
    }
    /* Asked before store_conn_ready, which may replace a broken connection by a new one that
     * is outside any transaction. */
    bool in_tx = c->ops->in_tx(c);
    bool probe;
    int rc = store_conn_ready(c, rollback, &probe);
    if (rc > 0 && in_tx) { /* reconnected under a transaction: it went with the old session */
        c->tx_lost = !rollback;
        return store_count(c, rollback ? 0 : store_conn_fail(c, STORE_ECONN, STORE_TX_LOST));
    }
    int64_t changed = 0;
    if (rc >= 0) {
        rc = c->ops->query(c, sql, params, nparams, rows, affected ? affected : &changed);
        if (rc == STORE_ECONN && c->ops->reset)
            c->tx_lost = in_tx && !rollback;
        if (probe)
            store_probe_end(c->store, rc != STORE_ECONN, c->err);
        else if (rc == STORE_ECONN && c->ops->reset)
            store_outage_begin(c->store, c->err);
    }
    if (rc == STORE_EFULL)
        store_full_set(c->store, true, c->err);
    else if (rc == 0 && atomic_load(&c->store->full) &&
             ((affected ? *affected : changed) > 0 || strcmp(sql, "COMMIT") == 0))
        store_full_set(c->store, false, NULL);
    return store_count(c, rc);
}

int store_insert_id(store_conn_t *c, const char *sql, const store_val_t *params, size_t nparams,
                    int64_t *id)
{
    json_t *rows = NULL;
    int rc = store_query(c, sql, params, nparams, &rows, NULL);
    if (rc < 0)
        return rc;
    json_t *row = json_array_get(rows, 0);
    json_t *val = NULL;
    if (json_is_object(row)) {
        void *it = json_object_iter(row);
        val = it ? json_object_iter_value(it) : NULL;
    }
    if (!json_is_integer(val)) {
        json_decref(rows);
        atomic_fetch_add(&c->store->errors_total, 1);
        return store_conn_fail(c, STORE_ERR, "insert returned no id (missing RETURNING id?)");
    }
    if (id)
        *id = json_integer_value(val);
    json_decref(rows);
    return 0;
}

int store_tx_begin(store_conn_t *c)
{
    return store_query(c, c->ops->begin_sql, NULL, 0, NULL, NULL);
}

int store_tx_commit(store_conn_t *c)
{
    return store_query(c, "COMMIT", NULL, 0, NULL, NULL);
}

int store_tx_rollback(store_conn_t *c)
{
    return store_query(c, "ROLLBACK", NULL, 0, NULL, NULL);
}

int store_ping(store_t *s)
{
    store_conn_t *c = store_conn_acquire(s);
    json_t *rows = NULL;
    int rc = store_query(c, "SELECT 1 AS ok", NULL, 0, &rows, NULL);
    json_decref(rows);
    store_conn_release(s, c);
    return rc;
}

/* ---- migrations ------------------------------------------------------------------------- */

static const char sql_migrations_table[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                           " version INTEGER PRIMARY KEY,"
                                           " name TEXT NOT NULL,"
                                           " applied_at_ms BIGINT NOT NULL)";

static int migrations_table_exists(store_conn_t *c, bool *exists)
{
    json_t *rows = NULL;
    store_val_t p[] = {STORE_TEXTV("schema_migrations")};
    int rc = store_query(c, c->ops->table_exists_sql, p, 1, &rows, NULL);
    if (rc < 0)
        return rc;
    json_t *row = json_array_get(rows, 0);
    *exists = row && json_integer_value(json_object_get(row, "present")) != 0;
    json_decref(rows);
    return 0;
}

static int schema_version_on(store_conn_t *c)
{
    bool exists = false;
    int rc = migrations_table_exists(c, &exists);
    if (rc < 0)
        return rc;
    if (!exists)
        return 0;
    json_t *rows = NULL;
    rc = store_query(c, "SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations", NULL, 0,
                     &rows, NULL);
    if (rc < 0)
        return rc;
    int v = (int)json_integer_value(json_object_get(json_array_get(rows, 0), "v"));
    json_decref(rows);
    return v;
}

int store_schema_version(store_t *s)
{
    store_conn_t *c = store_conn_acquire(s);
    int v = schema_version_on(c);
    store_conn_release(s, c);
    return v;
}

static bool migs_known(const store_migration_t *migs, size_t n, int version)
{
    for (size_t i = 0; i < n; i++)
        if (migs[i].version == version)
            return true;
    return false;
}

/* Begins a migration transaction holding the backend's cross-process migration lock. */
static int migrate_begin(store_conn_t *c)
{
    int rc = store_tx_begin(c);
    if (rc < 0)
        return rc;
    if (c->ops->migrate_lock_sql) {
        json_t *rows = NULL;
        rc = store_query(c, c->ops->migrate_lock_sql, NULL, 0, &rows, NULL);
        json_decref(rows);
        if (rc < 0) {
            (void)store_tx_rollback(c);
            return rc;
        }
    }
    return 0;
}

/* Refuses a database carrying versions this binary does not know: running old code against a
 * newer schema could silently corrupt what the newer code wrote. */
static int migrate_check_known(store_conn_t *c, const store_migration_t *migs, size_t n, char *err,
                               size_t errlen)
{
    json_t *rows = NULL;
    int rc = store_query(c, "SELECT version, name FROM schema_migrations ORDER BY version", NULL, 0,
                         &rows, NULL);
    if (rc < 0) {
        errset(err, errlen, "store: reading schema_migrations: %s", c->err);
        return rc;
    }
    int maxknown = n ? migs[n - 1].version : 0;
    /* the newest applied first: a database a newer binary migrated is a downgrade, said so */
    json_t *last = json_array_get(rows, json_array_size(rows) ? json_array_size(rows) - 1 : 0);
    int newest = last ? (int)json_integer_value(json_object_get(last, "version")) : 0;
    if (newest > maxknown) {
        errset(err, errlen,
               "store: refusing to downgrade: the database's schema is at version %d (%s), "
               "newer than the newest this binary knows, %d; a newer ganglion migrated it — run "
               "that version again, or restore a backup taken before the upgrade",
               newest, json_string_value(json_object_get(last, "name")), maxknown);
        json_decref(rows);
        return STORE_ESCHEMA;
    }
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        int v = (int)json_integer_value(json_object_get(row, "version"));
        if (!migs_known(migs, n, v)) {
            errset(err, errlen,
                   "store: database schema version %d (%s) is unknown to this binary "
                   "(newest it knows: %d); it was written by another build — use that build "
                   "or another database",
                   v, json_string_value(json_object_get(row, "name")), maxknown);
            json_decref(rows);
            return STORE_ESCHEMA;
        }
    }
    json_decref(rows);
    return 0;
}

static int migrate_one(store_conn_t *c, const store_migration_t *m, char *err, size_t errlen)
{
    int rc = migrate_begin(c);
    if (rc < 0) {
        errset(err, errlen, "store: migration %d: begin: %s", m->version, c->err);
        return rc;
    }
    json_t *rows = NULL;
    store_val_t pv[] = {STORE_INTV(m->version)};
    rc = store_query(c, "SELECT version FROM schema_migrations WHERE version = $1", pv, 1, &rows,
                     NULL);
    size_t done = json_array_size(rows);
    json_decref(rows);
    if (rc < 0)
        goto fail;
    if (done) /* applied meanwhile by another process */
        return store_tx_commit(c);

    const char *sql = (c->ops == &store_pg_ops && m->sql_pg) ? m->sql_pg : m->sql_sqlite;
    atomic_fetch_add(&c->store->ops_total, 1);
    c->err[0] = '\0';
    rc = c->ops->exec_script(c, sql);
    if (rc < 0) {
        atomic_fetch_add(&c->store->errors_total, 1);
        goto fail;
    }
    store_val_t ins[] = {STORE_INTV(m->version), STORE_TEXTV(m->name), STORE_INTV(clock_wall_ms())};
    rc = store_query(c,
                     "INSERT INTO schema_migrations (version, name, applied_at_ms) "
                     "VALUES ($1, $2, $3)",
                     ins, 3, NULL, NULL);
    if (rc < 0)
        goto fail;
    rc = store_tx_commit(c);
    if (rc < 0)
        goto fail;
    log_info(NULL, "store: migration applied", "{s:i,s:s}", "version", m->version, "name", m->name);
    return 0;
fail:
    errset(err, errlen, "store: migration %d (%s) failed: %s", m->version, m->name, c->err);
    (void)store_tx_rollback(c);
    return STORE_ESCHEMA;
}

int store_migrate(store_t *s, const store_migration_t *migs, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        if (migs[i].version <= 0 || !migs[i].name || !migs[i].sql_sqlite ||
            (i > 0 && migs[i].version <= migs[i - 1].version)) {
            errset(err, errlen, "store: migration list not sorted/unique at index %zu", i);
            return STORE_EINVAL;
        }
    }
    store_conn_t *c = store_conn_acquire(s);
    int rc = migrate_begin(c);
    if (rc == 0) {
        rc = store_query(c, sql_migrations_table, NULL, 0, NULL, NULL);
        rc = rc < 0 ? rc : store_tx_commit(c);
        if (rc < 0)
            (void)store_tx_rollback(c);
    }
    if (rc < 0) {
        errset(err, errlen, "store: creating schema_migrations: %s", c->err);
        store_conn_release(s, c);
        return rc;
    }
    rc = migrate_check_known(c, migs, n, err, errlen);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = migrate_one(c, &migs[i], err, errlen);
    store_conn_release(s, c);
    return rc;
}

/* ---- work on the thread pool ------------------------------------------------------------ */

typedef struct store_job {
    uv_work_t req;
    store_t *s;
    uv_loop_t *loop;
    store_work_fn work;
    store_done_fn done;
    void *ud;
    int status;
    bool ordered;
    struct store_job *next; /* ordered lane */
} store_job_t;

static void store_job_run(uv_work_t *req)
{
    store_job_t *j = req->data;
    store_conn_t *c = store_conn_acquire(j->s);
    j->status = j->work(c, j->ud);
    store_conn_release(j->s, c);
}

static void store_ordered_next(store_t *s);

static void store_job_after(uv_work_t *req, int status)
{
    store_job_t *j = req->data;
    store_t *s = j->s;
    bool ordered = j->ordered;
    /* UV_ECANCELED: the loop is shutting down before the work started. */
    int st = status == UV_ECANCELED ? STORE_ERR : j->status;
    atomic_fetch_sub(&s->pending, 1);
    if (j->done)
        j->done(st, j->ud);
    free(j);
    if (ordered) {
        s->oq_running = false;
        store_ordered_next(s);
    }
}

static store_job_t *store_job_new(store_t *s, uv_loop_t *loop, store_work_fn work,
                                  store_done_fn done, void *ud)
{
    store_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->req.data = j;
    j->s = s;
    j->loop = loop;
    j->work = work;
    j->done = done;
    j->ud = ud;
    return j;
}

int store_submit(store_t *s, uv_loop_t *loop, store_work_fn work, store_done_fn done, void *ud)
{
    if (!s || !loop || !work)
        return UV_EINVAL;
    store_job_t *j = store_job_new(s, loop, work, done, ud);
    if (!j)
        return UV_ENOMEM;
    atomic_fetch_add(&s->pending, 1);
    int rc = uv_queue_work(loop, &j->req, store_job_run, store_job_after);
    if (rc < 0) {
        atomic_fetch_sub(&s->pending, 1);
        free(j);
    }
    return rc;
}

/* Starts the next job of the ordered lane unless one is on the pool already. A job that cannot
 * be queued completes at once with an error, and the lane moves on. */
static void store_ordered_next(store_t *s)
{
    while (!s->oq_running && s->oq_head) {
        store_job_t *j = s->oq_head;
        s->oq_head = j->next;
        if (!s->oq_head)
            s->oq_tail = NULL;
        s->oq_running = true;
        if (uv_queue_work(j->loop, &j->req, store_job_run, store_job_after) == 0)
            return;
        s->oq_running = false;
        atomic_fetch_sub(&s->pending, 1);
        if (j->done)
            j->done(STORE_ERR, j->ud);
        free(j);
    }
}

/* Ordered jobs never started (the loop ended before them) complete with an error. */
static void store_ordered_fail_all(store_t *s)
{
    while (s->oq_head) {
        store_job_t *j = s->oq_head;
        s->oq_head = j->next;
        atomic_fetch_sub(&s->pending, 1);
        if (j->done)
            j->done(STORE_ERR, j->ud);
        free(j);
    }
    s->oq_tail = NULL;
}

int store_submit_ordered(store_t *s, uv_loop_t *loop, store_work_fn work, store_done_fn done,
                         void *ud)
{
    if (!s || !loop || !work)
        return UV_EINVAL;
    store_job_t *j = store_job_new(s, loop, work, done, ud);
    if (!j)
        return UV_ENOMEM;
    j->ordered = true;
    atomic_fetch_add(&s->pending, 1);
    if (s->oq_tail)
        s->oq_tail->next = j;
    else
        s->oq_head = j;
    s->oq_tail = j;
    store_ordered_next(s);
    return 0;
}

/* ---- counters --------------------------------------------------------------------------- */

uint64_t store_ops_total(const store_t *s)
{
    return atomic_load(&((store_t *)(uintptr_t)s)->ops_total);
}

uint64_t store_errors_total(const store_t *s)
{
    return atomic_load(&((store_t *)(uintptr_t)s)->errors_total);
}

int store_pending(const store_t *s)
{
    return atomic_load(&((store_t *)(uintptr_t)s)->pending);
}
