/* Audit log storage: asynchronous inserts (a copy of the entry goes to the store's thread pool)
 * and filtered, paginated reads. Queries are assembled only from the fixed fragments below;
 * every value a client supplies travels as a bound parameter. */
#include "store/audit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "store/store_internal.h"

/* ---- writing ---------------------------------------------------------------------------- */

/* Copy of at most max bytes of s, cut back to a UTF-8 character boundary; NULL stays NULL. */
static char *audit_strdup_max(const char *s, size_t max)
{
    if (!s)
        return NULL;
    size_t n = strnlen(s, max + 1);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static char *audit_detail_text(const json_t *detail)
{
    if (!detail || json_is_null(detail))
        return NULL;
    char *text = json_dumps(detail, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text && strlen(text) > AUDIT_DETAIL_MAX) {
        /* Cutting JSON text would leave it unparseable; say how big it was instead. */
        size_t n = strlen(text);
        free(text);
        text = malloc(64);
        if (text)
            snprintf(text, 64, "{\"truncated\":%zu}", n);
    }
    return text;
}

typedef struct audit_job {
    int64_t ts_ms;
    int result;
    char *principal, *action, *target, *request_id, *transport, *peer, *detail;
} audit_job_t;

static void audit_job_free(audit_job_t *j)
{
    if (!j)
        return;
    free(j->principal);
    free(j->action);
    free(j->target);
    free(j->request_id);
    free(j->transport);
    free(j->peer);
    free(j->detail);
    free(j);
}

static store_val_t audit_textv(const char *s)
{
    return s ? STORE_TEXTV(s) : STORE_NULLV;
}

static const char sql_audit_insert[] =
    "INSERT INTO audit_log (ts_ms, principal, action, target, result, request_id, transport, "
    "peer, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

static int audit_job_insert(store_conn_t *c, const audit_job_t *j)
{
    store_val_t p[] = {
        STORE_INTV(j->ts_ms),      STORE_TEXTV(j->principal), STORE_TEXTV(j->action),
        audit_textv(j->target),    STORE_INTV(j->result),     audit_textv(j->request_id),
        audit_textv(j->transport), audit_textv(j->peer),      audit_textv(j->detail),
    };
    return store_query(c, sql_audit_insert, p, sizeof p / sizeof p[0], NULL, NULL);
}

/* Builds the owned copy; NULL on out-of-memory. */
static audit_job_t *audit_job_new(const audit_entry_t *e)
{
    audit_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->ts_ms = e->ts_ms ? e->ts_ms : clock_wall_ms();
    j->result = e->result;
    j->principal = audit_strdup_max(e->principal ? e->principal : "anonymous", AUDIT_PRINCIPAL_MAX);
    j->action = audit_strdup_max(e->action ? e->action : "unknown", AUDIT_ACTION_MAX);
    j->target = audit_strdup_max(e->target, AUDIT_TARGET_MAX);
    j->request_id = audit_strdup_max(e->request_id, AUDIT_REQUEST_ID_MAX);
    j->transport = audit_strdup_max(e->transport, AUDIT_TRANSPORT_MAX);
    j->peer = audit_strdup_max(e->peer, AUDIT_PEER_MAX);
    j->detail = audit_detail_text(e->detail);
    if (!j->principal || !j->action || (e->target && !j->target) ||
        (e->request_id && !j->request_id) || (e->transport && !j->transport) ||
        (e->peer && !j->peer) || (e->detail && !json_is_null(e->detail) && !j->detail)) {
        audit_job_free(j);
        return NULL;
    }
    return j;
}

int audit_insert(store_conn_t *c, const audit_entry_t *e)
{
    audit_job_t *j = audit_job_new(e);
    if (!j)
        return STORE_ERR;
    int rc = audit_job_insert(c, j);
    audit_job_free(j);
    return rc;
}

/* Group commit: entries written while a batch's job waits on the ordered lane join that batch,
 * and its job inserts them all in one transaction (one entry failing makes the job insert them
 * one by one, so that the others are kept). The open batch is the one whose job has not
 * started; the job detaches it first thing, under audit_mu (several hubs may share a process). */
#define AUDIT_BATCH_MAX 256

typedef struct audit_batch {
    store_t *store;
    audit_job_t *jobs[AUDIT_BATCH_MAX]; /* owned */
    int rc[AUDIT_BATCH_MAX];
    size_t n;
    char err[256]; /* the first error, logged on the loop */
} audit_batch_t;

static pthread_mutex_t audit_mu = PTHREAD_MUTEX_INITIALIZER;
static audit_batch_t *audit_open; /* guarded by audit_mu */

static int audit_batch_work(store_conn_t *c, void *ud)
{
    audit_batch_t *b = ud;
    pthread_mutex_lock(&audit_mu);
    if (audit_open == b)
        audit_open = NULL; /* from here on, nothing joins b */
    pthread_mutex_unlock(&audit_mu);
    int rc = 0;
    if (b->n > 1) {
        rc = store_tx_begin(c);
        for (size_t i = 0; rc == 0 && i < b->n; i++)
            rc = audit_job_insert(c, b->jobs[i]);
        if (rc == 0)
            rc = store_tx_commit(c);
        if (rc == 0)
            return 0;
        (void)store_tx_rollback(c); /* then one by one, below */
    }
    rc = 0;
    for (size_t i = 0; i < b->n; i++) {
        b->rc[i] = audit_job_insert(c, b->jobs[i]);
        if (b->rc[i] < 0 && rc == 0) {
            rc = b->rc[i];
            snprintf(b->err, sizeof b->err, "%s", store_conn_error(c));
        }
    }
    return rc;
}

static void audit_batch_done(int status, void *ud)
{
    audit_batch_t *b = ud;
    pthread_mutex_lock(&audit_mu);
    if (audit_open == b)
        audit_open = NULL; /* its job never ran (the store closed) */
    pthread_mutex_unlock(&audit_mu);
    for (size_t i = 0; i < b->n; i++) {
        audit_job_t *j = b->jobs[i];
        /* a job that never ran (store closing) fails every entry */
        int rc = status < 0 && !b->err[0] ? status : b->rc[i];
        if (rc < 0)
            log_error(j->request_id, "audit: write failed", "{s:i,s:s,s:s,s:i}", "code", rc,
                      "error", b->err[0] ? b->err : "cancelled", "action", j->action, "result",
                      j->result);
        audit_job_free(j);
    }
    free(b);
}

int audit_write(store_t *s, uv_loop_t *loop, const audit_entry_t *e)
{
    if (!s || !loop || !e) {
        log_error(NULL, "audit: write without store or loop", NULL);
        return STORE_EINVAL;
    }
    audit_job_t *j = audit_job_new(e);
    if (!j) {
        log_error(e->request_id, "audit: out of memory; entry dropped", "{s:s?,s:i}", "action",
                  e->action, "result", e->result);
        return STORE_ERR;
    }
    pthread_mutex_lock(&audit_mu);
    audit_batch_t *open = audit_open;
    bool joined = open && open->store == s && open->n < AUDIT_BATCH_MAX;
    if (joined) {
        open->rc[open->n] = 0;
        open->jobs[open->n++] = j;
    }
    pthread_mutex_unlock(&audit_mu);
    if (joined)
        return 0;
    audit_batch_t *b = malloc(sizeof *b);
    if (!b) {
        log_error(e->request_id, "audit: out of memory; entry dropped", "{s:s?,s:i}", "action",
                  e->action, "result", e->result);
        audit_job_free(j);
        return STORE_ERR;
    }
    b->store = s;
    b->jobs[0] = j;
    b->rc[0] = 0;
    b->n = 1;
    b->err[0] = '\0';
    pthread_mutex_lock(&audit_mu);
    audit_open = b;
    pthread_mutex_unlock(&audit_mu);
    /* Ordered, so that rows get ids in the order requests were answered. */
    int rc = store_submit_ordered(s, loop, audit_batch_work, audit_batch_done, b);
    if (rc < 0) {
        pthread_mutex_lock(&audit_mu);
        if (audit_open == b)
            audit_open = NULL;
        pthread_mutex_unlock(&audit_mu);
        log_error(e->request_id, "audit: could not queue write; entries dropped", "{s:s,s:i}",
                  "error", uv_strerror(rc), "entries", (int)b->n);
        for (size_t i = 0; i < b->n; i++)
            audit_job_free(b->jobs[i]);
        free(b);
        return STORE_ERR;
    }
    return 0;
}

/* ---- reading ---------------------------------------------------------------------------- */

#define AUDIT_SQL_MAX 1024

/* Appends a fixed fragment with the next parameter number; the text never contains input. */
static void audit_sql_add(char *sql, const char *fragment, int *nparam)
{
    size_t len = strlen(sql);
    snprintf(sql + len, AUDIT_SQL_MAX - len, "%s $%d", fragment, ++*nparam);
}

/* WHERE clause and its parameters for f; returns the parameter count. */
static int audit_where(const audit_filter_t *f, char *where, store_val_t *p)
{
    int n = 0;
    snprintf(where, AUDIT_SQL_MAX, " WHERE 1 = 1");
    if (f->principal) {
        audit_sql_add(where, " AND principal =", &n);
        p[n - 1] = STORE_TEXTV(f->principal);
    }
    if (f->action) {
        audit_sql_add(where, " AND action =", &n);
        p[n - 1] = STORE_TEXTV(f->action);
    }
    if (f->result) {
        audit_sql_add(where, " AND result =", &n);
        p[n - 1] = STORE_INTV(f->result);
    }
    if (f->has_since) {
        audit_sql_add(where, " AND ts_ms >=", &n);
        p[n - 1] = STORE_INTV(f->since_ms);
    }
    if (f->has_until) {
        audit_sql_add(where, " AND ts_ms <", &n);
        p[n - 1] = STORE_INTV(f->until_ms);
    }
    return n;
}

/* Turns a stored row into the API shape: RFC 3339 time beside ts_ms, detail parsed back. */
static void audit_row_shape(json_t *row)
{
    char ts[40];
    int64_t ms = json_integer_value(json_object_get(row, "ts_ms"));
    json_object_set_new(row, "ts", json_string(clock_rfc3339(ms, ts, sizeof ts)));
    const char *detail = json_string_value(json_object_get(row, "detail"));
    if (detail) {
        json_t *d = json_loads(detail, JSON_DECODE_ANY, NULL);
        if (d)
            json_object_set_new(row, "detail", d);
    }
}

int audit_query(store_conn_t *c, const audit_filter_t *f, json_t **out)
{
    *out = NULL;
    int limit = f->limit ? f->limit : AUDIT_LIMIT_DEFAULT;
    if (limit < 1 || limit > AUDIT_LIMIT_MAX || f->offset < 0)
        return store_conn_fail(c, STORE_EINVAL, "audit: limit or offset out of range");

    char where[AUDIT_SQL_MAX], sql[AUDIT_SQL_MAX * 2];
    store_val_t p[8];
    int n = audit_where(f, where, p);

    json_t *rows = NULL;
    snprintf(sql, sizeof sql, "SELECT COUNT(*) AS total FROM audit_log%s", where);
    int rc = store_query(c, sql, p, (size_t)n, &rows, NULL);
    if (rc < 0)
        return rc;
    json_int_t total = json_integer_value(json_object_get(json_array_get(rows, 0), "total"));
    json_decref(rows);

    /* One row beyond the page tells has_more without trusting total, which a concurrent
     * insert may already have made stale. */
    snprintf(sql, sizeof sql,
             "SELECT id, ts_ms, principal, action, target, result, request_id, transport, peer, "
             "detail FROM audit_log%s ORDER BY ts_ms DESC, id DESC LIMIT $%d OFFSET $%d",
             where, n + 1, n + 2);
    p[n] = STORE_INTV(limit + 1);
    p[n + 1] = STORE_INTV(f->offset);
    rc = store_query(c, sql, p, (size_t)n + 2, &rows, NULL);
    if (rc < 0)
        return rc;
    bool more = json_array_size(rows) > (size_t)limit;
    if (more)
        json_array_remove(rows, (size_t)limit);
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        audit_row_shape(row);
    }
    *out = json_pack("{s:o,s:I,s:i,s:I,s:b}", "entries", rows, "total", total, "limit", limit,
                     "offset", (json_int_t)f->offset, "has_more", more);
    return *out ? 0 : STORE_ERR;
}

int audit_retention_purge(store_conn_t *c, retention_batch_t *b, void *ud)
{
    (void)ud;
    int64_t age_s = b->cfg->retention_audit_max_age_s;
    if (age_s <= 0)
        return 0;
    store_val_t p[2] = {STORE_INTV(b->now_ms - age_s * 1000), STORE_INTV(b->limit)};
    return store_query(c,
                       "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log"
                       " WHERE ts_ms < $1 ORDER BY ts_ms LIMIT $2)",
                       p, 2, NULL, &b->removed);
}
