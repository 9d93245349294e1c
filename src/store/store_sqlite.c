/* The SQLite backend: one sqlite3 handle per pool slot (WAL, busy timeout, foreign keys on),
 * statements prepared once with sqlite3_prepare_v3 and kept in a small per-connection LRU
 * cache, $N parameters rewritten to SQLite's ?N on the way in. */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/htab.h"
#include "store/sqlite_ckpt.h"
#include "store/store_internal.h"

typedef struct sqlite_stmt {
    char *sql; /* the text as given: the cache's key */
    size_t sqllen;
    sqlite3_stmt *stmt;
    uint64_t used; /* LRU clock */
} sqlite_stmt_t;

typedef struct sqlite_conn {
    store_conn_t base; /* first: store_conn_t * <-> sqlite_conn_t * */
    sqlite3 *db;
    sqlite_stmt_t cache[STORE_STMT_CACHE]; /* slots never move: the index points into them */
    size_t ncache;
    htab_t *index; /* the cache's entries by SQL text (core/htab) */
    uint64_t clock;
} sqlite_conn_t;

static const void *sqlite_stmt_key(const void *item, size_t *len)
{
    const sqlite_stmt_t *e = item;
    *len = e->sqllen;
    return e->sql;
}

static sqlite_conn_t *sq(store_conn_t *c)
{
    return (sqlite_conn_t *)c;
}

/* Maps SQLite result codes onto the store's: constraint and busy/locked are the ones a caller
 * can act on (report a conflict, retry); a full disk (SQLITE_FULL, and an I/O error whose
 * errno is ENOSPC or EDQUOT) refuses writes until space is freed, while reads go on. */
static int sqlite_code(sqlite_conn_t *c, int rc)
{
    int primary = rc & 0xff;
    if (primary == SQLITE_CONSTRAINT)
        return STORE_ECONSTRAINT;
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
        return STORE_EBUSY;
    if (primary == SQLITE_FULL)
        return STORE_EFULL;
    if (primary == SQLITE_IOERR) {
        int e = sqlite3_system_errno(c->db);
        return e == ENOSPC || e == EDQUOT ? STORE_EFULL : STORE_ERR;
    }
    if (primary == SQLITE_CANTOPEN || primary == SQLITE_NOTADB)
        return STORE_ECONN;
    return STORE_ERR;
}

static int sqlite_fail(sqlite_conn_t *c, int rc)
{
    return store_conn_fail(&c->base, sqlite_code(c, rc), "sqlite: %s", sqlite3_errmsg(c->db));
}

/* Rewrites $N placeholders to ?N outside string literals, quoted identifiers and comments.
 * SQLite reads "$1" as a *named* parameter numbered by first appearance, which would bind
 * "$2 ... $1" backwards; ?N is positional like PostgreSQL's $N. Caller frees. */
static char *sqlite_rewrite(const char *sql)
{
    size_t n = strlen(sql);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        char ch = sql[i];
        if (ch == '\'' || ch == '"') {
            size_t j = i + 1;
            while (j < n && sql[j] != ch)
                j++;
            j = j < n ? j + 1 : n;
            memcpy(out + o, sql + i, j - i);
            o += j - i;
            i = j;
        } else if (ch == '-' && sql[i + 1] == '-') {
            size_t j = i;
            while (j < n && sql[j] != '\n')
                j++;
            memcpy(out + o, sql + i, j - i);
            o += j - i;
            i = j;
        } else if (ch == '/' && sql[i + 1] == '*') {
            const char *end = strstr(sql + i + 2, "*/");
            size_t j = end ? (size_t)(end - sql) + 2 : n;
            memcpy(out + o, sql + i, j - i);
            o += j - i;
            i = j;
        } else if (ch == '$' && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
            out[o++] = '?';
            i++;
        } else {
            out[o++] = sql[i++];
        }
    }
    out[o] = '\0';
    return out;
}

/* Removes e from the index when the index holds e (an entry left unindexed by an out-of-memory
 * put may share its text with an indexed one). */
static void sqlite_index_drop(sqlite_conn_t *c, sqlite_stmt_t *e)
{
    if (htab_get(c->index, e->sql, e->sqllen) == e)
        htab_del(c->index, e->sql, e->sqllen);
}

static void sqlite_cache_clear(sqlite_conn_t *c)
{
    for (size_t i = 0; i < c->ncache; i++) {
        sqlite_index_drop(c, &c->cache[i]);
        sqlite3_finalize(c->cache[i].stmt);
        free(c->cache[i].sql);
    }
    c->ncache = 0;
}

/* Returns a reset statement for sql from the cache, preparing (and maybe evicting) on a miss. */
static int sqlite_prepare(sqlite_conn_t *c, const char *sql, sqlite3_stmt **out)
{
    size_t sqllen = strlen(sql);
    sqlite_stmt_t *e = htab_get(c->index, sql, sqllen);
    if (e) {
        e->used = ++c->clock;
        *out = e->stmt;
        return 0;
    }
    char *text = sqlite_rewrite(sql);
    char *copy = strdup(sql);
    if (!text || !copy) {
        free(text);
        free(copy);
        return store_conn_fail(&c->base, STORE_ERR, "sqlite: out of memory");
    }
    sqlite3_stmt *stmt = NULL;
    const char *tail = NULL;
    int rc = sqlite3_prepare_v3(c->db, text, -1, SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
    if (rc == SQLITE_OK && tail && tail[strspn(tail, " \t\r\n;")] != '\0') {
        sqlite3_finalize(stmt);
        free(text);
        free(copy);
        return store_conn_fail(&c->base, STORE_EINVAL,
                               "sqlite: one statement per call (use a migration for scripts)");
    }
    free(text);
    if (rc != SQLITE_OK || !stmt) {
        free(copy);
        if (rc == SQLITE_OK) /* empty statement */
            return store_conn_fail(&c->base, STORE_EINVAL, "sqlite: empty statement");
        return sqlite_fail(c, rc);
    }
    sqlite_stmt_t *slot;
    if (c->ncache < STORE_STMT_CACHE) {
        slot = &c->cache[c->ncache++];
    } else {
        slot = &c->cache[0];
        for (size_t i = 1; i < c->ncache; i++)
            if (c->cache[i].used < slot->used)
                slot = &c->cache[i];
        sqlite_index_drop(c, slot);
        sqlite3_finalize(slot->stmt);
        free(slot->sql);
    }
    *slot = (sqlite_stmt_t){.sql = copy, .sqllen = sqllen, .stmt = stmt, .used = ++c->clock};
    /* Out of memory in the index: the entry stays unindexed (prepared again next time) until
     * the LRU evicts it, and this call still runs. */
    (void)htab_put(c->index, slot);
    *out = stmt;
    return 0;
}

static int sqlite_bind(sqlite_conn_t *c, sqlite3_stmt *st, const store_val_t *params, size_t n)
{
    if ((int)n != sqlite3_bind_parameter_count(st))
        return store_conn_fail(&c->base, STORE_EINVAL,
                               "sqlite: statement takes %d parameters, %zu given",
                               sqlite3_bind_parameter_count(st), n);
    for (size_t i = 0; i < n; i++) {
        const store_val_t *v = &params[i];
        int idx = (int)i + 1, rc = SQLITE_OK;
        switch (v->type) {
        case STORE_T_NULL:
            rc = sqlite3_bind_null(st, idx);
            break;
        case STORE_T_INT:
            rc = sqlite3_bind_int64(st, idx, v->u.i);
            break;
        case STORE_T_REAL:
            rc = sqlite3_bind_double(st, idx, v->u.d);
            break;
        case STORE_T_TEXT:
            /* SQLITE_TRANSIENT: the caller's buffer is only borrowed for this call, and the
             * statement stays cached after it. */
            rc = sqlite3_bind_text64(st, idx, v->u.s.p ? v->u.s.p : "", v->u.s.len,
                                     SQLITE_TRANSIENT, SQLITE_UTF8);
            break;
        case STORE_T_BLOB:
            rc = sqlite3_bind_blob64(st, idx, v->u.s.p ? v->u.s.p : "", v->u.s.len,
                                     SQLITE_TRANSIENT);
            break;
        }
        if (rc != SQLITE_OK)
            return sqlite_fail(c, rc);
    }
    return 0;
}

static json_t *sqlite_column(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        return json_integer(sqlite3_column_int64(st, i));
    case SQLITE_FLOAT:
        return json_real(sqlite3_column_double(st, i));
    case SQLITE_TEXT: {
        const unsigned char *p = sqlite3_column_text(st, i);
        size_t n = (size_t)sqlite3_column_bytes(st, i);
        json_t *j = json_stringn((const char *)p, n);
        /* Text that is not UTF-8 cannot be a JSON string; base64 keeps it lossless. */
        return j ? j : store_base64_json(p, n);
    }
    case SQLITE_BLOB:
        return store_base64_json(sqlite3_column_blob(st, i), (size_t)sqlite3_column_bytes(st, i));
    default:
        return json_null();
    }
}

static int sqlite_query(store_conn_t *base, const char *sql, const store_val_t *params,
                        size_t nparams, json_t **rows, int64_t *affected)
{
    sqlite_conn_t *c = sq(base);
    sqlite3_stmt *st = NULL;
    int rc = sqlite_prepare(c, sql, &st);
    if (rc < 0)
        return rc;
    rc = sqlite_bind(c, st, params, nparams);
    if (rc < 0) {
        sqlite3_clear_bindings(st);
        return rc;
    }
    json_t *arr = rows ? json_array() : NULL;
    int ncol = sqlite3_column_count(st);
    int res = 0;
    for (;;) {
        int step = sqlite3_step(st);
        if (step == SQLITE_DONE)
            break;
        if (step != SQLITE_ROW) {
            res = sqlite_fail(c, sqlite3_extended_errcode(c->db));
            break;
        }
        if (!arr)
            continue;
        json_t *row = json_object();
        for (int i = 0; row && i < ncol; i++) {
            json_t *v = sqlite_column(st, i);
            if (!v || json_object_set_new(row, sqlite3_column_name(st, i), v) < 0) {
                json_decref(row);
                row = NULL;
            }
        }
        if (!row || json_array_append_new(arr, row) < 0) {
            res = store_conn_fail(base, STORE_ERR, "sqlite: out of memory building rows");
            break;
        }
    }
    if (res == 0 && affected)
        *affected = sqlite3_stmt_readonly(st) ? 0 : sqlite3_changes64(c->db);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (res < 0) {
        json_decref(arr);
        return res;
    }
    if (rows)
        *rows = arr;
    return 0;
}

static int sqlite_exec_script(store_conn_t *base, const char *sql)
{
    sqlite_conn_t *c = sq(base);
    char *msg = NULL;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        int code = sqlite_code(c, rc);
        store_conn_fail(base, code, "sqlite: %s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return code;
    }
    return 0;
}

static bool sqlite_in_tx(store_conn_t *base)
{
    return sqlite3_get_autocommit(sq(base)->db) == 0;
}

static void sqlite_conn_close(store_conn_t *base)
{
    sqlite_conn_t *c = sq(base);
    if (!c)
        return;
    sqlite_cache_clear(c);
    htab_destroy(&c->index);
    if (c->db)
        sqlite3_close_v2(c->db);
    free(c);
}

static int sqlite_conn_open(store_t *s, const char *path, const store_options_t *opt,
                            store_conn_t **out, char *err, size_t errlen)
{
    (void)s;
    sqlite_conn_t *c = calloc(1, sizeof *c);
    if (!c || htab_new(&c->index, sqlite_stmt_key) < 0) {
        free(c);
        snprintf(err, errlen, "sqlite: out of memory");
        return STORE_ERR;
    }
    /* NOMUTEX: a pooled connection is used by one thread at a time, so SQLite's own
     * per-connection mutex would be pure overhead. */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    /* SQLite creates a database 0644 less the umask, and its -wal and -shm files with the
     * database's mode: creating the file 0600 first keeps all three private. */
    if (path[0] && path[0] != ':' && strncmp(path, "file:", 5) != 0) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0)
            close(fd);
    }
    int rc = sqlite3_open_v2(path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "sqlite: cannot open %s: %s", path,
                 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        sqlite_conn_close(&c->base);
        return STORE_ECONN;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, opt->busy_timeout_ms);
    /* synchronous=NORMAL is durable across application crashes in WAL mode and only risks the
     * last transactions on power loss; that trade is what WAL is for. */
    static const char *const pragmas[] = {
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=NORMAL",
        "PRAGMA foreign_keys=ON",
    };
    /* The page cache is most of a pooled connection's memory: pool_size times this is the
     * store's share of RSS once the database is larger than the cache, unless the soft heap
     * limit, which SQLite keeps for all connections together, is lower: past it, a cache that
     * needs a page recycles its least recently used one instead of allocating. A soak whose
     * lists scan whole tables otherwise grew RSS by the pool's caches filling, long after the
     * warm-up (docs/testing.md, "Soak"). */
    (void)sqlite3_soft_heap_limit64(
        opt->sqlite_heap_kb > 0 ? (sqlite3_int64)opt->sqlite_heap_kb * 1024 : 0);
    char cache[48];
    snprintf(cache, sizeof cache, "PRAGMA cache_size=-%d",
             opt->sqlite_cache_kb > 0 ? opt->sqlite_cache_kb : 2000);
    rc = sqlite3_exec(c->db, cache, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "sqlite: %s on %s: %s", cache, path, sqlite3_errstr(rc));
        sqlite_conn_close(&c->base);
        return STORE_ECONN;
    }
    for (size_t i = 0; i < sizeof pragmas / sizeof pragmas[0]; i++) {
        char *msg = NULL;
        rc = sqlite3_exec(c->db, pragmas[i], NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
            snprintf(err, errlen, "sqlite: %s on %s: %s", pragmas[i], path,
                     msg ? msg : sqlite3_errstr(rc));
            sqlite3_free(msg);
            sqlite_conn_close(&c->base);
            return (rc & 0xff) == SQLITE_BUSY ? STORE_EBUSY : STORE_ECONN;
        }
    }
    *out = &c->base;
    return 0;
}

/* A database in WAL mode on a file gets the checkpointer (sqlite_ckpt.h); an in-memory one
 * has no WAL to checkpoint. */
static int sqlite_attach(store_conn_t **conns, int n, void **state, char *err, size_t errlen)
{
    *state = NULL;
    if (n < 1)
        return 0;
    sqlite3 *db = sq(conns[0])->db;
    const char *file = sqlite3_db_filename(db, "main");
    if (!file || !file[0])
        return 0;
    sqlite3_stmt *st = NULL;
    bool wal = false;
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *mode = sqlite3_column_text(st, 0);
        wal = mode && strcmp((const char *)mode, "wal") == 0;
    }
    sqlite3_finalize(st);
    if (!wal)
        return 0;
    sqlite_ckpt_t *k = NULL;
    int rc = sqlite_ckpt_start(file, &k, err, errlen);
    if (rc < 0)
        return rc;
    for (int i = 0; i < n; i++)
        sqlite_ckpt_attach(k, sq(conns[i])->db);
    *state = k;
    return 0;
}

static void sqlite_detach(void *state)
{
    sqlite_ckpt_t *k = state;
    sqlite_ckpt_stop(&k);
}

static uint64_t sqlite_checkpoints(const void *state)
{
    return sqlite_ckpt_count(state);
}

const store_backend_ops_t store_sqlite_ops = {
    .attach = sqlite_attach,
    .detach = sqlite_detach,
    .checkpoints = sqlite_checkpoints,
    .name = "sqlite",
    .conn_open = sqlite_conn_open,
    .conn_close = sqlite_conn_close,
    .query = sqlite_query,
    .exec_script = sqlite_exec_script,
    .in_tx = sqlite_in_tx,
    .reset = NULL,
    .begin_sql = "BEGIN IMMEDIATE",
    .migrate_lock_sql = NULL,
    .table_exists_sql =
        "SELECT COUNT(*) AS present FROM sqlite_master WHERE type = 'table' AND name = $1",
};
