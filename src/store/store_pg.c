/* The PostgreSQL backend (libpq): one PGconn per pool slot, statements prepared once per
 * connection (PQprepare, LRU cache), parameters sent as text with types inferred by the server
 * (bytea in binary), results converted by column type OID, SQLSTATEs mapped to store codes.
 * libpq is loaded on the first postgres:// open (pq_dl.h), so every call goes through `pq`. */
#include <errno.h>
#include <libpq-fe.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/log.h"
#include "core/num.h"
#include "store/pq_dl.h"
#include "core/htab.h"
#include "store/store_internal.h"

/* Type OIDs from pg_type.h (server headers are not a build dependency). */
enum {
    PG_OID_BOOL = 16,
    PG_OID_BYTEA = 17,
    PG_OID_INT8 = 20,
    PG_OID_INT2 = 21,
    PG_OID_INT4 = 23,
    PG_OID_FLOAT4 = 700,
    PG_OID_FLOAT8 = 701,
    PG_OID_NUMERIC = 1700,
};

typedef struct pg_stmt {
    char *sql; /* the text as given: the cache's key */
    size_t sqllen;
    char name[24];
    uint64_t used; /* LRU clock */
} pg_stmt_t;

static const void *pg_stmt_key(const void *item, size_t *len)
{
    const pg_stmt_t *e = item;
    *len = e->sqllen;
    return e->sql;
}

typedef struct pg_conn {
    store_conn_t base; /* first: store_conn_t * <-> pg_conn_t * */
    PGconn *pg;
    int statement_timeout_ms;
    pg_stmt_t cache[STORE_STMT_CACHE]; /* dense; the index points into it */
    size_t ncache;
    htab_t *index; /* the cache's entries by SQL text (core/htab) */
    uint64_t clock;
    uint64_t next_id; /* statement names are never reused on a connection */
} pg_conn_t;

static pg_conn_t *pgc(store_conn_t *c)
{
    return (pg_conn_t *)c;
}

/* libpq messages end in a newline and may span lines; keep the first line. */
static void pg_msg(char *dst, size_t len, const char *msg)
{
    snprintf(dst, len, "%s", msg && *msg ? msg : "unknown error");
    dst[strcspn(dst, "\n")] = '\0';
}

/* SQLSTATE classes: 23 integrity (a conflict the caller reports), 40 and 55P03 serialisation
 * and lock timeouts (retry), 53 insufficient resources (53100 disk full; the rest, memory and
 * connection slots, pass), 08 connection (but 08P01, a protocol violation, is the caller's) and
 * 57P01..57P03 shutdown, crash and start-up (the server is going or not there yet: an outage,
 * not an error in the request). */
static int pg_code_for(PGconn *pg, const PGresult *res)
{
    const char *state = res ? pq->PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (pq->PQstatus(pg) == CONNECTION_BAD)
        return STORE_ECONN;
    if (!state)
        return STORE_ERR;
    if (strncmp(state, "23", 2) == 0)
        return STORE_ECONSTRAINT;
    if (strcmp(state, "53100") == 0)
        return STORE_EFULL;
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0 ||
        strncmp(state, "53", 2) == 0)
        return STORE_EBUSY;
    if (strcmp(state, "08P01") == 0) /* protocol violation: a parameter count that is wrong */
        return STORE_EINVAL;
    if (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
        strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0)
        return STORE_ECONN;
    return STORE_ERR;
}

/* Records the error of res (or of the connection) on c and returns its store code. */
static int pg_fail(pg_conn_t *c, const PGresult *res)
{
    char msg[STORE_ERRMAX - 32];
    const char *state = res ? pq->PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    pg_msg(msg, sizeof msg, res ? pq->PQresultErrorMessage(res) : pq->PQerrorMessage(c->pg));
    if (!*msg || strcmp(msg, "unknown error") == 0)
        pg_msg(msg, sizeof msg, pq->PQerrorMessage(c->pg));
    return store_conn_fail(&c->base, pg_code_for(c->pg, res), "postgres: %s%s%s%s", msg,
                           state ? " (SQLSTATE " : "", state ? state : "", state ? ")" : "");
}

static int pg_session_setup(pg_conn_t *c)
{
    if (c->statement_timeout_ms <= 0)
        return 0;
    char ms[24];
    snprintf(ms, sizeof ms, "%d", c->statement_timeout_ms);
    const char *vals[] = {ms};
    PGresult *res = pq->PQexecParams(c->pg, "SELECT set_config('statement_timeout', $1, false)", 1,
                                     NULL, vals, NULL, NULL, 0);
    int rc = pq->PQresultStatus(res) == PGRES_TUPLES_OK ? 0 : pg_fail(c, res);
    pq->PQclear(res);
    return rc;
}

/* Removes e from the index when the index holds e (an entry left unindexed by an out-of-memory
 * put may share its text with an indexed one). */
static void pg_index_drop(pg_conn_t *c, pg_stmt_t *e)
{
    if (htab_get(c->index, e->sql, e->sqllen) == e)
        htab_del(c->index, e->sql, e->sqllen);
}

static void pg_cache_forget(pg_conn_t *c)
{
    for (size_t i = 0; i < c->ncache; i++) {
        pg_index_drop(c, &c->cache[i]);
        free(c->cache[i].sql);
    }
    c->ncache = 0;
}

/* Drops one cached statement, on the server too (best effort: in an aborted transaction
 * DEALLOCATE fails, and the name is simply never used again). */
static void pg_cache_evict(pg_conn_t *c, pg_stmt_t *e)
{
    char sql[48];
    snprintf(sql, sizeof sql, "DEALLOCATE %s", e->name);
    pq->PQclear(pq->PQexec(c->pg, sql));
    pg_index_drop(c, e);
    free(e->sql);
    pg_stmt_t *last = &c->cache[--c->ncache];
    if (last != e) { /* the last entry fills the hole: its index entry follows it */
        pg_index_drop(c, last);
        *e = *last;
        (void)htab_put(c->index, e); /* out of memory: unindexed until evicted */
    }
}

static int pg_reset(store_conn_t *base)
{
    pg_conn_t *c = pgc(base);
    pq->PQreset(c->pg);
    pg_cache_forget(c); /* a new session has no prepared statements */
    if (pq->PQstatus(c->pg) != CONNECTION_OK)
        return pg_fail(c, NULL);
    return pg_session_setup(c);
}

/* An idle connection has nothing to read unless the server spoke on its own; when it shuts
 * down or restarts that is a FATAL message and end of file. Reading them here turns a
 * connection the server already closed into a reconnect before the statement, instead of a
 * failed statement after a restart nobody saw. Never blocks (poll with a zero timeout). */
static bool pg_alive(store_conn_t *base)
{
    pg_conn_t *c = pgc(base);
    if (pq->PQstatus(c->pg) != CONNECTION_OK)
        return false;
    struct pollfd pfd = {.fd = pq->PQsocket(c->pg), .events = POLLIN};
    /* bounded: the message and then the end of file are two reads */
    for (int i = 0; i < 4 && pfd.fd >= 0 && poll(&pfd, 1, 0) == 1; i++)
        if (!pq->PQconsumeInput(c->pg) || pq->PQstatus(c->pg) != CONNECTION_OK)
            return false;
    return pq->PQstatus(c->pg) == CONNECTION_OK;
}

/* How long the client waits for an answer: twice the server's own statement timeout and a
 * second. A server that is up cancels the statement itself well before then, so running out
 * means it is frozen (stopped, paused, its disk hung) rather than slow. */
static int pg_answer_ms(const pg_conn_t *c)
{
    return c->statement_timeout_ms > 0 ? 2 * c->statement_timeout_ms + 1000 : -1;
}

static int64_t pg_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The result of what was just sent, waiting at most deadline_ms (monotonic; < 0: no limit).
 * A server that does not answer in time has its connection dropped — libpq then sees it
 * broken, the caller gets NULL and *late, and the next statement reconnects — because a
 * statement must not hold a pool connection and a worker thread for as long as a frozen
 * server stays frozen: keepalives do not help there, the server's kernel still answers them. */
static PGresult *pg_wait(pg_conn_t *c, int64_t deadline_ms, bool *late)
{
    PGresult *res = NULL;
    *late = false;
    for (;;) {
        while (!pq->PQisBusy(c->pg)) {
            PGresult *r = pq->PQgetResult(c->pg);
            if (!r)
                return res;
            if (res) /* one statement gives one result; keep the first */
                pq->PQclear(r);
            else
                res = r;
        }
        int wait = -1;
        if (deadline_ms >= 0) {
            int64_t left = deadline_ms - pg_now_ms();
            wait = left > 0 ? (int)left : 0;
        }
        struct pollfd pfd = {.fd = pq->PQsocket(c->pg), .events = POLLIN};
        int n = pfd.fd >= 0 ? poll(&pfd, 1, wait) : -1;
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0) {
            *late = true;
            (void)shutdown(pfd.fd, SHUT_RDWR);
        }
        if (!pq->PQconsumeInput(c->pg) || n <= 0) {
            /* broken or dropped: collect what libpq reports, then give up */
            for (PGresult *r; (r = pq->PQgetResult(c->pg)) != NULL;)
                pq->PQclear(r);
            if (res)
                pq->PQclear(res);
            return NULL;
        }
    }
}

static int64_t pg_deadline(const pg_conn_t *c)
{
    return pg_answer_ms(c) > 0 ? pg_now_ms() + pg_answer_ms(c) : -1;
}

/* The error for a statement that got no result (see pg_wait). */
static int pg_fail_unanswered(pg_conn_t *c, bool late)
{
    if (late)
        return store_conn_fail(&c->base, STORE_ECONN,
                               "postgres: no answer within %d ms; connection dropped",
                               pg_answer_ms(c));
    return pg_fail(c, NULL);
}

static int pg_prepare(pg_conn_t *c, const char *sql, const store_val_t *params, size_t n,
                      pg_stmt_t **out)
{
    size_t sqllen = strlen(sql);
    pg_stmt_t *hit = htab_get(c->index, sql, sqllen);
    if (hit) {
        hit->used = ++c->clock;
        *out = hit;
        return 0;
    }
    if (c->ncache == STORE_STMT_CACHE) {
        pg_stmt_t *old = &c->cache[0];
        for (size_t i = 1; i < c->ncache; i++)
            if (c->cache[i].used < old->used)
                old = &c->cache[i];
        pg_cache_evict(c, old);
    }
    /* Unknown (0) lets the server infer each type from context, which keeps one prepared
     * statement valid whatever the caller binds; only bytea travels in binary and says so. */
    Oid types[STORE_MAX_PARAMS];
    for (size_t i = 0; i < n; i++)
        types[i] = params[i].type == STORE_T_BLOB ? PG_OID_BYTEA : 0;
    pg_stmt_t *e = &c->cache[c->ncache];
    snprintf(e->name, sizeof e->name, "g%llu", (unsigned long long)++c->next_id);
    bool late = false;
    PGresult *res = pq->PQsendPrepare(c->pg, e->name, sql, (int)n, n ? types : NULL)
                        ? pg_wait(c, pg_deadline(c), &late)
                        : NULL;
    if (!res)
        return pg_fail_unanswered(c, late);
    if (pq->PQresultStatus(res) != PGRES_COMMAND_OK) {
        int rc = pg_fail(c, res);
        pq->PQclear(res);
        return rc;
    }
    pq->PQclear(res);
    e->sql = strdup(sql);
    if (!e->sql) {
        pq->PQclear(pq->PQexec(c->pg, "DEALLOCATE ALL"));
        pg_cache_forget(c);
        return store_conn_fail(&c->base, STORE_ERR, "postgres: out of memory");
    }
    e->sqllen = sqllen;
    e->used = ++c->clock;
    c->ncache++;
    (void)htab_put(c->index, e); /* out of memory: unindexed (prepared again) until evicted */
    *out = e;
    return 0;
}

/* bytea comes back as "\x<hex>" in text format. */
static json_t *pg_bytea_json(const char *s, size_t n)
{
    if (n < 2 || s[0] != '\\' || s[1] != 'x')
        return json_stringn(s, n);
    size_t len = (n - 2) / 2;
    unsigned char *buf = malloc(len ? len : 1);
    if (!buf)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        int v = num_hexbyte_parse(s + 2 + 2 * i);
        if (v < 0) {
            free(buf);
            return json_stringn(s, n);
        }
        buf[i] = (unsigned char)v;
    }
    json_t *j = store_base64_json(buf, len);
    free(buf);
    return j;
}

static json_t *pg_value(const PGresult *res, int row, int col)
{
    if (pq->PQgetisnull(res, row, col))
        return json_null();
    const char *s = pq->PQgetvalue(res, row, col);
    size_t n = (size_t)pq->PQgetlength(res, row, col);
    switch (pq->PQftype(res, col)) {
    case PG_OID_INT2:
    case PG_OID_INT4:
    case PG_OID_INT8:
        return json_integer(strtoll(s, NULL, 10));
    case PG_OID_FLOAT4:
    case PG_OID_FLOAT8:
    case PG_OID_NUMERIC: {
        double d = strtod(s, NULL);
        /* JSON has no NaN or infinity; keep PostgreSQL's spelling as text. */
        return isfinite(d) ? json_real(d) : json_stringn(s, n);
    }
    case PG_OID_BOOL:
        return json_integer(s[0] == 't');
    case PG_OID_BYTEA:
        return pg_bytea_json(s, n);
    default: {
        json_t *j = json_stringn(s, n);
        return j ? j : store_base64_json((const unsigned char *)s, n);
    }
    }
}

static int pg_rows(pg_conn_t *c, const PGresult *res, json_t **out)
{
    int nrows = pq->PQntuples(res), ncols = pq->PQnfields(res);
    json_t *arr = json_array();
    for (int r = 0; arr && r < nrows; r++) {
        json_t *row = json_object();
        for (int i = 0; row && i < ncols; i++) {
            json_t *v = pg_value(res, r, i);
            if (!v || json_object_set_new(row, pq->PQfname(res, i), v) < 0) {
                json_decref(row);
                row = NULL;
            }
        }
        if (!row || json_array_append_new(arr, row) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    if (!arr)
        return store_conn_fail(&c->base, STORE_ERR, "postgres: out of memory building rows");
    *out = arr;
    return 0;
}

/* Rows changed, as SQLite counts them: only for data-modifying commands (PQcmdTuples also
 * counts the rows a SELECT returned). */
static int64_t pg_affected(PGresult *res)
{
    static const char *const verbs[] = {"INSERT ", "UPDATE ", "DELETE ", "MERGE "};
    const char *status = pq->PQcmdStatus(res);
    for (size_t i = 0; status && i < sizeof verbs / sizeof verbs[0]; i++)
        if (strncmp(status, verbs[i], strlen(verbs[i])) == 0)
            return strtoll(pq->PQcmdTuples(res), NULL, 10);
    return 0;
}

static int pg_query(store_conn_t *base, const char *sql, const store_val_t *params, size_t nparams,
                    json_t **rows, int64_t *affected)
{
    pg_conn_t *c = pgc(base);
    /* A broken handle was reset (or the statement refused) by store.c before this call. */
    const char *values[STORE_MAX_PARAMS];
    int lengths[STORE_MAX_PARAMS], formats[STORE_MAX_PARAMS];
    char nums[STORE_MAX_PARAMS][32];
    char *owned[STORE_MAX_PARAMS];
    size_t nowned = 0;
    int rc = 0;

    for (size_t i = 0; i < nparams; i++) {
        const store_val_t *v = &params[i];
        values[i] = NULL;
        lengths[i] = 0;
        formats[i] = 0;
        switch (v->type) {
        case STORE_T_NULL:
            break;
        case STORE_T_INT:
            snprintf(nums[i], sizeof nums[i], "%lld", (long long)v->u.i);
            values[i] = nums[i];
            break;
        case STORE_T_REAL:
            snprintf(nums[i], sizeof nums[i], "%.17g", v->u.d);
            values[i] = nums[i];
            break;
        case STORE_T_TEXT: {
            /* NUL-free: checked in store_query. */
            char *t = malloc(v->u.s.len + 1);
            if (!t) {
                rc = store_conn_fail(base, STORE_ERR, "postgres: out of memory");
                goto out;
            }
            if (v->u.s.len)
                memcpy(t, v->u.s.p, v->u.s.len);
            t[v->u.s.len] = '\0';
            owned[nowned++] = t;
            values[i] = t;
            break;
        }
        case STORE_T_BLOB:
            if (v->u.s.len > (size_t)0x7fffffff) {
                rc = store_conn_fail(base, STORE_EINVAL, "postgres: blob too large");
                goto out;
            }
            values[i] = v->u.s.p ? v->u.s.p : "";
            lengths[i] = (int)v->u.s.len;
            formats[i] = 1;
            break;
        }
    }

    pg_stmt_t *st = NULL;
    rc = pg_prepare(c, sql, params, nparams, &st);
    if (!st && rc >= 0) /* not reached: st is set whenever rc >= 0, but rc comes from store.c,
                         * where the analyzer cannot see it is negative on every failure */
        rc = STORE_ERR;
    if (rc < 0)
        goto out;
    bool late = false;
    PGresult *res = pq->PQsendQueryPrepared(c->pg, st->name, (int)nparams, nparams ? values : NULL,
                                            nparams ? lengths : NULL, nparams ? formats : NULL, 0)
                        ? pg_wait(c, pg_deadline(c), &late)
                        : NULL;
    if (!res) {
        rc = pg_fail_unanswered(c, late);
        goto out;
    }
    ExecStatusType es = pq->PQresultStatus(res);
    if (es == PGRES_TUPLES_OK || es == PGRES_COMMAND_OK) {
        if (rows)
            rc = es == PGRES_TUPLES_OK ? pg_rows(c, res, rows) : ((*rows = json_array()), 0);
        if (rc == 0 && affected)
            *affected = pg_affected(res);
    } else {
        rc = pg_fail(c, res);
        /* A cached plan can go stale after DDL ("cached plan must not change result type");
         * forgetting it lets the next call prepare afresh. */
        if (rc == STORE_ERR)
            pg_cache_evict(c, st);
    }
    pq->PQclear(res);
out:
    for (size_t i = 0; i < nowned; i++)
        free(owned[i]);
    return rc;
}

static int pg_exec_script(store_conn_t *base, const char *sql)
{
    pg_conn_t *c = pgc(base);
    PGresult *res = pq->PQexec(c->pg, sql);
    ExecStatusType es = pq->PQresultStatus(res);
    int rc = (es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK) ? 0 : pg_fail(c, res);
    pq->PQclear(res);
    return rc;
}

static bool pg_in_tx(store_conn_t *base)
{
    PGTransactionStatusType t = pq->PQtransactionStatus(pgc(base)->pg);
    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR;
}

static void pg_conn_close(store_conn_t *base)
{
    pg_conn_t *c = pgc(base);
    if (!c)
        return;
    pg_cache_forget(c);
    htab_destroy(&c->index);
    if (c->pg)
        pq->PQfinish(c->pg);
    free(c);
}

/* libpq prints NOTICEs to stderr by default, which would break the one-JSON-object-per-line
 * log; route them through the logger instead. */
static void pg_notice(void *arg, const char *message)
{
    (void)arg;
    char msg[STORE_ERRMAX];
    pg_msg(msg, sizeof msg, message);
    log_debug(NULL, "postgres notice", "{s:s}", "notice", msg);
}

static int pg_conn_open(store_t *s, const char *url, const store_options_t *opt, store_conn_t **out,
                        char *err, size_t errlen)
{
    (void)s;
    if (pq_dl_load(err, errlen) < 0)
        return STORE_ERR;
    pg_conn_t *c = calloc(1, sizeof *c);
    if (!c || htab_new(&c->index, pg_stmt_key) < 0) {
        free(c);
        snprintf(err, errlen, "postgres: out of memory");
        return STORE_ERR;
    }
    c->statement_timeout_ms = opt->busy_timeout_ms;
    /* Keywords apply in order: the URL (dbname, expanded) may override the ones before it, but
     * the client encoding is ours because every string we hand to jansson must be UTF-8.
     * Keepalives and the TCP user timeout bound how long a statement waits on a server that
     * vanished without closing the connection (a network partition) to about 11 s; a stopped
     * server closes it, and that is seen at once; a frozen one is given up by pg_wait. A
     * connection attempt may take a second more than the statement timeout (2..10 s): it is
     * what a reconnect during an outage holds one worker for. */
    char connect_s[16];
    int cs = opt->busy_timeout_ms / 1000 + 1;
    snprintf(connect_s, sizeof connect_s, "%d", cs < 2 ? 2 : cs > 10 ? 10 : cs);
    const char *const keys[] = {"application_name",    "connect_timeout",
                                "keepalives",          "keepalives_idle",
                                "keepalives_interval", "keepalives_count",
                                "tcp_user_timeout",    "dbname",
                                "client_encoding",     NULL};
    const char *const vals[] = {"ganglion", connect_s, "1", "5",    "2",
                                "3",        "10000",   url, "UTF8", NULL};
    c->pg = pq->PQconnectdbParams(keys, vals, 1);
    if (!c->pg || pq->PQstatus(c->pg) != CONNECTION_OK) {
        char msg[STORE_ERRMAX];
        pg_msg(msg, sizeof msg, c->pg ? pq->PQerrorMessage(c->pg) : "out of memory");
        snprintf(err, errlen, "postgres: cannot connect: %s", msg);
        pg_conn_close(&c->base);
        return STORE_ECONN;
    }
    pq->PQsetNoticeProcessor(c->pg, pg_notice, NULL);
    int rc = pg_session_setup(c);
    if (rc < 0) {
        snprintf(err, errlen, "%s", c->base.err);
        pg_conn_close(&c->base);
        return rc;
    }
    *out = &c->base;
    return 0;
}

const store_backend_ops_t store_pg_ops = {
    .name = "postgres",
    .conn_open = pg_conn_open,
    .conn_close = pg_conn_close,
    .query = pg_query,
    .exec_script = pg_exec_script,
    .in_tx = pg_in_tx,
    .reset = pg_reset,
    .alive = pg_alive,
    .begin_sql = "BEGIN",
    /* Two daemons sharing one database must not apply the same migration at once. */
    .migrate_lock_sql = "SELECT pg_advisory_xact_lock(7370001) IS NULL AS locked",
    .table_exists_sql = "SELECT (to_regclass($1) IS NOT NULL) AS present",
};
