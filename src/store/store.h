/* The store: one interface over SQLite (embedded default) and PostgreSQL (libpq), with a small
 * connection pool, parameterised statements only, transactions, versioned migrations, and a
 * way to run blocking database work on the libuv thread pool and finish on the loop.
 *
 * SQL is written once for both backends where possible: parameters are $1..$N (the SQLite
 * backend maps them to ?N), booleans are 0/1, timestamps are integer epoch milliseconds.
 * Where the dialects differ (auto ids, upserts) a migration or query carries both texts. */
#ifndef GANGLION_STORE_H
#define GANGLION_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h> /* strlen in STORE_TEXTV */
#include <uv.h>

typedef struct store store_t;
typedef struct store_conn store_conn_t;

/* Error codes (negative, as every function here returns). */
enum {
    STORE_OK = 0,
    STORE_ERR = -1,         /* generic failure, message in the conn's error text */
    STORE_ECONSTRAINT = -2, /* unique / foreign key / check violation */
    STORE_EBUSY = -3,       /* locked / serialization failure: retry may succeed */
    STORE_ECONN = -4,       /* connection lost or server unreachable */
    STORE_ESCHEMA = -5,     /* database schema newer than this binary, or migration failed */
    STORE_EINVAL = -6,      /* bad URL, bad parameters */
    STORE_EFULL = -7,       /* disk or quota full: writes refused, reads may still work */
};

/* True for the codes that describe the store's condition rather than the request (connection
 * lost, busy, disk full): the same request may succeed later, so clients are told when to retry. */
bool store_code_transient(int code);

typedef enum {
    STORE_T_NULL = 0,
    STORE_T_INT,
    STORE_T_REAL,
    STORE_T_TEXT,
    STORE_T_BLOB,
} store_type_t;

/* A bound parameter. Text and blobs are borrowed for the duration of the call. */
typedef struct store_val {
    store_type_t type;
    union {
        int64_t i;
        double d;
        struct {
            const char *p;
            size_t len;
        } s;
    } u;
} store_val_t;

#define STORE_NULLV       ((store_val_t){.type = STORE_T_NULL})
#define STORE_INTV(x)     ((store_val_t){.type = STORE_T_INT, .u.i = (int64_t)(x)})
#define STORE_REALV(x)    ((store_val_t){.type = STORE_T_REAL, .u.d = (double)(x)})
#define STORE_TEXTV(x)    ((store_val_t){.type = STORE_T_TEXT, .u.s = {(x), strlen(x)}})
#define STORE_BLOBV(p, n) ((store_val_t){.type = STORE_T_BLOB, .u.s = {(const char *)(p), (n)}})

typedef struct store_options {
    int pool_size;       /* connections kept open (>= 1) */
    int busy_timeout_ms; /* SQLite busy timeout; PostgreSQL statement timeout */
    int sqlite_cache_kb; /* SQLite page cache per connection in KiB; 0 = SQLite's default */
    /* SQLite's memory in the whole process, every connection of the pool together, in KiB: a
     * soft limit (over it the page caches recycle their pages instead of taking more);
     * 0 = none. Process-wide: the last store opened sets it. */
    int64_t sqlite_heap_kb;
} store_options_t;

/* A migration: applied in version order inside a transaction, recorded in schema_migrations.
 * sql_pg NULL means sql_sqlite is portable. Statements are separated by ';'. */
typedef struct store_migration {
    int version;
    const char *name;
    const char *sql_sqlite;
    const char *sql_pg;
} store_migration_t;

/* Opens a store from a URL: "sqlite:PATH" (WAL, busy timeout, foreign keys on) or
 * "postgres://..." / "postgresql://...". err receives a readable reason on failure. */
int store_open(const char *url, const store_options_t *opt, store_t **out, char *err,
               size_t errlen);
void store_close(store_t **s);

/* "sqlite" or "postgres". */
const char *store_backend(const store_t *s);

/* Applies pending migrations from the list (sorted by version). Refuses with STORE_ESCHEMA and
 * a clear message when the database has a version the list does not know. */
int store_migrate(store_t *s, const store_migration_t *migs, size_t n, char *err, size_t errlen);
/* Highest applied version (0 if none), or a negative error. */
int store_schema_version(store_t *s);

/* Connections. acquire blocks until one is free (the pool is small and operations short). */
store_conn_t *store_conn_acquire(store_t *s);
void store_conn_release(store_t *s, store_conn_t *c);
const char *store_conn_error(const store_conn_t *c);

/* Runs a statement. If rows is non-NULL it receives a new JSON array of objects (column name ->
 * integer/real/string/null; blobs as base64 strings). affected (may be NULL) receives the row
 * count changed by INSERT/UPDATE/DELETE. Statements are prepared once per connection and cached. */
int store_query(store_conn_t *c, const char *sql, const store_val_t *params, size_t nparams,
                json_t **rows, int64_t *affected);
/* Like store_query but for INSERT ... RETURNING id on both backends; returns the new id. */
int store_insert_id(store_conn_t *c, const char *sql, const store_val_t *params, size_t nparams,
                    int64_t *id);

int store_tx_begin(store_conn_t *c);
int store_tx_commit(store_conn_t *c);
int store_tx_rollback(store_conn_t *c);

/* Reachability check (SELECT 1). */
int store_ping(store_t *s);

/* Outages (PostgreSQL). A statement that loses its connection (or gets no answer in time)
 * marks the store down. While it is down one statement at a time, at most once per backoff
 * period (STORE_RECONNECT_MIN_MS doubling to STORE_RECONNECT_MAX_MS), probes the server — on a
 * new connection when its own is broken — and every other statement fails at once with
 * STORE_ECONN instead of waiting on the server; the first probe that works marks the store up.
 * While it is up, a pooled connection the server closed when idle is re-established before its
 * next statement. A connection lost inside a transaction refuses every statement but ROLLBACK,
 * so a caller that missed the error cannot run the rest of its transaction outside one.
 * Thread-safe. */
#define STORE_RECONNECT_MIN_MS 250
#define STORE_RECONNECT_MAX_MS 4000
bool store_up(const store_t *s);
/* Seconds a client should wait before retrying after code (>= 1): while the store is down the
 * time to the next reconnect attempt, rounded up. */
int store_retry_after_s(const store_t *s, int code);
/* True from a write refused with STORE_EFULL until a write succeeds. */
bool store_full(const store_t *s);
/* Successful reconnects since open; times the store went down since open. */
uint64_t store_reconnects_total(const store_t *s);
uint64_t store_outages_total(const store_t *s);
/* WAL checkpoints the SQLite backend's checkpoint thread completed since open, off the request
 * path (0 on PostgreSQL). */
uint64_t store_checkpoints_total(const store_t *s);

/* Runs work(conn, ud) on the libuv thread pool with a pooled connection, then done(status, ud)
 * on the loop thread. status is what work returned. Returns 0 or a negative uv error. */
typedef int (*store_work_fn)(store_conn_t *c, void *ud);
typedef void (*store_done_fn)(int status, void *ud);
int store_submit(store_t *s, uv_loop_t *loop, store_work_fn work, store_done_fn done, void *ud);
/* Like store_submit, but jobs submitted this way run one at a time, in the order submitted
 * (writes whose order readers rely on, such as the audit log). Loop thread only. */
int store_submit_ordered(store_t *s, uv_loop_t *loop, store_work_fn work, store_done_fn done,
                         void *ud);

/* Counters for /metrics: operations and errors since open (thread-safe reads). */
uint64_t store_ops_total(const store_t *s);
uint64_t store_errors_total(const store_t *s);
/* Operations currently queued or running on the thread pool. */
int store_pending(const store_t *s);

#endif
