/* The audit log: one row per mutating request (who, what, on which target, with what result),
 * written asynchronously so a request never waits on it, and read back with filters and
 * pagination (GET /api/v1/audit lives above, in api/audit_api.c). The table is created by
 * platform migration 1. */
#ifndef GANGLION_AUDIT_H
#define GANGLION_AUDIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "store/retention.h"
#include "store/store.h"

/* Stored lengths: longer values are cut (at a UTF-8 boundary) so a hostile request cannot
 * grow the log by more than a few KiB per row. */
#define AUDIT_PRINCIPAL_MAX  256
#define AUDIT_ACTION_MAX     512
#define AUDIT_TARGET_MAX     2048
#define AUDIT_REQUEST_ID_MAX 128
#define AUDIT_TRANSPORT_MAX  32
#define AUDIT_PEER_MAX       256
#define AUDIT_DETAIL_MAX     16384 /* serialised JSON; larger details become {"truncated":N} */

#define AUDIT_LIMIT_DEFAULT 50
#define AUDIT_LIMIT_MAX     1000

/* One entry. Every pointer is borrowed for the call; audit_write copies what it keeps. */
typedef struct audit_entry {
    int64_t ts_ms;          /* 0 = now */
    const char *principal;  /* NULL = "anonymous" */
    const char *action;     /* "POST /api/v1/agents/{id}/stop" */
    const char *target;     /* the concrete path, or NULL */
    int result;             /* HTTP status */
    const char *request_id; /* may be NULL */
    const char *transport;  /* "http", "zmq", ... may be NULL */
    const char *peer;       /* may be NULL */
    const json_t *detail;   /* any JSON, or NULL */
} audit_entry_t;

/* Filters for audit_query; zero-initialise and set what applies. Strings are borrowed. */
typedef struct audit_filter {
    const char *principal; /* exact match, NULL = any */
    const char *action;    /* exact match, NULL = any */
    int result;            /* status, 0 = any */
    bool has_since;
    int64_t since_ms; /* ts_ms >= since_ms (inclusive) */
    bool has_until;
    int64_t until_ms; /* ts_ms < until_ms (exclusive: [since, until) pages cleanly) */
    int limit;        /* 1..AUDIT_LIMIT_MAX; 0 = AUDIT_LIMIT_DEFAULT */
    int64_t offset;   /* >= 0 */
} audit_filter_t;

/* Copies e and inserts it on the store's thread pool. Failures are logged, never fatal.
 * Returns 0 when queued or a negative error (also logged). */
int audit_write(store_t *s, uv_loop_t *loop, const audit_entry_t *e);

/* Retention's purge of audit rows older than retention.audit_max_age_s (thread pool; serve.c
 * registers it). */
int audit_retention_purge(store_conn_t *c, retention_batch_t *b, void *ud);

/* Inserts e synchronously on a connection (what audit_write's worker runs). */
int audit_insert(store_conn_t *c, const audit_entry_t *e);

/* Runs a filtered query, newest first. *out receives a new object
 * {entries:[{id, ts, ts_ms, principal, action, target, result, request_id, transport, peer,
 * detail}], total, limit, offset, has_more}. Returns 0 or a store error. */
int audit_query(store_conn_t *c, const audit_filter_t *f, json_t **out);

#endif
