/* What store.c shares with its backends: the backend vtable, the connection header every
 * backend embeds, and helpers (error text, base64, $N rewriting) used by both. Not a public
 * header: only the files in src/store include it. */
#ifndef GANGLION_STORE_INTERNAL_H
#define GANGLION_STORE_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define STORE_ERRMAX 512
/* Prepared statements kept per connection. Audit queries alone can produce a few dozen
 * distinct texts (filter combinations), so the cache is generous; eviction is LRU. */
#define STORE_STMT_CACHE 128
/* Parameters per statement; more is a programming error reported as STORE_EINVAL. */
#define STORE_MAX_PARAMS 64

typedef struct store_backend_ops store_backend_ops_t;

/* The part of a connection store.c knows. Backends allocate a larger struct whose first
 * member is this one, so a store_conn_t * converts to the backend's type. */
struct store_conn {
    const store_backend_ops_t *ops;
    store_t *store;
    char err[STORE_ERRMAX];
    bool in_pool; /* free in the pool (guards against double release) */
    bool tx_lost; /* the connection broke inside a transaction: only ROLLBACK until release */
};

struct store_backend_ops {
    const char *name;
    /* Opens one connection. target is the path (sqlite) or the whole URL (postgres). */
    int (*conn_open)(store_t *s, const char *target, const store_options_t *opt, store_conn_t **out,
                     char *err, size_t errlen);
    void (*conn_close)(store_conn_t *c);
    /* One statement with bound parameters (params already checked for count). */
    int (*query)(store_conn_t *c, const char *sql, const store_val_t *params, size_t nparams,
                 json_t **rows, int64_t *affected);
    /* Several ';'-separated statements without parameters (migrations only). */
    int (*exec_script)(store_conn_t *c, const char *sql);
    /* True when the connection is inside a transaction block. */
    bool (*in_tx)(store_conn_t *c);
    /* Re-establishes a broken connection (postgres); NULL when it cannot break. */
    int (*reset)(store_conn_t *c);
    /* False when the connection is known to be broken (the server closed it while it was
     * idle); NULL when it cannot break. Called before every statement: must not block. */
    bool (*alive)(store_conn_t *c);
    /* Starts what the backend runs beside the pool once every connection is open (sqlite: the
     * WAL checkpointer), kept in *state; NULL when there is nothing. */
    int (*attach)(store_conn_t **conns, int n, void **state, char *err, size_t errlen);
    /* Ends it, after every pooled connection is closed. */
    void (*detach)(void *state);
    /* WAL checkpoints completed (sqlite); NULL when the backend has none. */
    uint64_t (*checkpoints)(const void *state);
    const char *begin_sql;        /* sqlite takes the write lock up front: BEGIN IMMEDIATE */
    const char *migrate_lock_sql; /* serialises migrating processes inside the tx, or NULL */
    const char *table_exists_sql; /* $1 = table name; returns one row, one 0/1 column */
};

extern const store_backend_ops_t store_sqlite_ops;
extern const store_backend_ops_t store_pg_ops;

/* Formats into c->err and returns code (for `return store_conn_fail(c, STORE_ERR, ...)`). */
int store_conn_fail(store_conn_t *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Base64 (standard alphabet, padded) of n bytes as a new JSON string; NULL on OOM. */
json_t *store_base64_json(const unsigned char *p, size_t n);

#endif
