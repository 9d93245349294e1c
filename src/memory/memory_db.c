/* The memory domain's table (migrations 600-609) and the statements on it. SQLite keeps an FTS5
 * index in step through triggers; PostgreSQL a generated tsvector with a GIN index. Both use
 * plain lower-cased words (FTS5 unicode61, tsvector 'simple'): they choose the candidates and
 * memory_text.c ranks them, so both stores answer in the same order. Worker threads only. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "memory/memory_internal.h"

static const store_migration_t memory_migs[] = {
    {.version = 600,
     .name = "memory_records",
     .sql_sqlite =
         "CREATE TABLE memory_records ("
         " rid INTEGER PRIMARY KEY,"
         " id TEXT NOT NULL UNIQUE,"
         " layer TEXT NOT NULL,"
         " content TEXT NOT NULL,"
         " principal TEXT NOT NULL DEFAULT '',"
         " agent TEXT NOT NULL DEFAULT '',"
         " tags TEXT NOT NULL DEFAULT '[]',"
         " created_at BIGINT NOT NULL,"
         " expires_at BIGINT,"
         " dim INTEGER NOT NULL DEFAULT 0,"
         " embedding BLOB);"
         "CREATE INDEX memory_records_layer ON memory_records (layer, created_at);"
         "CREATE INDEX memory_records_principal ON memory_records (principal, created_at);"
         "CREATE VIRTUAL TABLE memory_fts USING fts5(content, content='memory_records',"
         " content_rowid='rid', tokenize='unicode61 remove_diacritics 0');"
         "CREATE TRIGGER memory_fts_ins AFTER INSERT ON memory_records BEGIN"
         " INSERT INTO memory_fts (rowid, content) VALUES (new.rid, new.content); END;"
         "CREATE TRIGGER memory_fts_del AFTER DELETE ON memory_records BEGIN"
         " INSERT INTO memory_fts (memory_fts, rowid, content)"
         " VALUES ('delete', old.rid, old.content); END",
     .sql_pg = "CREATE TABLE memory_records ("
               " rid BIGSERIAL PRIMARY KEY,"
               " id TEXT NOT NULL UNIQUE,"
               " layer TEXT NOT NULL,"
               " content TEXT NOT NULL,"
               " principal TEXT NOT NULL DEFAULT '',"
               " agent TEXT NOT NULL DEFAULT '',"
               " tags TEXT NOT NULL DEFAULT '[]',"
               " created_at BIGINT NOT NULL,"
               " expires_at BIGINT,"
               " dim INTEGER NOT NULL DEFAULT 0,"
               " embedding BYTEA,"
               " tsv TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', content)) STORED);"
               "CREATE INDEX memory_records_layer ON memory_records (layer, created_at);"
               "CREATE INDEX memory_records_principal ON memory_records (principal, created_at);"
               "CREATE INDEX memory_records_tsv ON memory_records USING GIN (tsv)"},
};

const store_migration_t *memory_migrations(size_t *n)
{
    *n = sizeof memory_migs / sizeof memory_migs[0];
    return memory_migs;
}

#define MEMORY_COLS "id, layer, content, principal, agent, tags, created_at, expires_at, dim"

int memory_db_insert(store_conn_t *c, const json_t *rec, const float *vec, size_t dim)
{
    const json_t *exp = json_object_get(rec, "expires_ms");
    char *tags = json_dumps(json_object_get(rec, "tags"), JSON_COMPACT);
    if (!tags)
        return STORE_ERR;
    store_val_t p[] = {
        STORE_TEXTV(json_string_value(json_object_get(rec, "id"))),
        STORE_TEXTV(json_string_value(json_object_get(rec, "layer"))),
        STORE_TEXTV(json_string_value(json_object_get(rec, "content"))),
        STORE_TEXTV(json_string_value(json_object_get(rec, "principal")) ?: ""),
        STORE_TEXTV(json_string_value(json_object_get(rec, "agent")) ?: ""),
        STORE_TEXTV(tags),
        STORE_INTV(json_integer_value(json_object_get(rec, "created_ms"))),
        json_is_integer(exp) ? STORE_INTV(json_integer_value(exp)) : STORE_NULLV,
        STORE_INTV(dim),
        vec ? STORE_BLOBV(vec, dim * sizeof(float)) : STORE_NULLV,
    };
    int rc = store_query(c,
                         "INSERT INTO memory_records (id, layer, content, principal, agent, tags, "
                         "created_at, expires_at, dim, embedding) "
                         "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                         p, sizeof p / sizeof p[0], NULL, NULL);
    free(tags);
    return rc;
}

int memory_db_get(store_conn_t *c, const char *id, int64_t now_ms, json_t **row)
{
    store_val_t p[] = {STORE_TEXTV(id), STORE_INTV(now_ms)};
    json_t *rows = NULL;
    *row = NULL;
    int rc = store_query(c,
                         "SELECT " MEMORY_COLS ", embedding FROM memory_records WHERE id = $1 "
                         "AND (expires_at IS NULL OR expires_at > $2)",
                         p, 2, &rows, NULL);
    if (rc == 0 && json_array_size(rows) == 1)
        *row = json_incref(json_array_get(rows, 0));
    json_decref(rows);
    return rc;
}

int memory_db_delete(store_conn_t *c, const char *id, int64_t *affected)
{
    store_val_t p[] = {STORE_TEXTV(id)};
    return store_query(c, "DELETE FROM memory_records WHERE id = $1", p, 1, NULL, affected);
}

int memory_db_promote(store_conn_t *c, const char *id, const char *layer, int64_t *affected)
{
    store_val_t p[] = {STORE_TEXTV(layer), STORE_TEXTV(id)};
    return store_query(c, "UPDATE memory_records SET layer = $1 WHERE id = $2", p, 2, NULL,
                       affected);
}

/* Appends the filter's conditions (AND ...) to sql, its values to p from *n on. */
static void memory_db_where(const memory_filter_t *f, char *sql, size_t len, store_val_t *p,
                            size_t *n)
{
    size_t o = strlen(sql);
#define MEMORY_COND(cond, val)                                                                     \
    do {                                                                                           \
        p[(*n)++] = (val);                                                                         \
        o += (size_t)snprintf(sql + o, len - o, cond, *n);                                         \
    } while (0)
    if (f->layer)
        MEMORY_COND(" AND layer = $%zu", STORE_TEXTV(f->layer));
    if (f->principal)
        MEMORY_COND(" AND principal = $%zu", STORE_TEXTV(f->principal));
    if (f->agent)
        MEMORY_COND(" AND agent = $%zu", STORE_TEXTV(f->agent));
    if (f->since_ms)
        MEMORY_COND(" AND created_at >= $%zu", STORE_INTV(f->since_ms));
    if (f->until_ms)
        MEMORY_COND(" AND created_at < $%zu", STORE_INTV(f->until_ms));
    MEMORY_COND(" AND (expires_at IS NULL OR expires_at > $%zu)", STORE_INTV(f->now_ms));
#undef MEMORY_COND
}

int memory_db_list(store_conn_t *c, const memory_filter_t *f, json_t **rows)
{
    char sql[1024] = "SELECT " MEMORY_COLS " FROM memory_records WHERE 1 = 1";
    store_val_t p[10];
    size_t n = 0;
    memory_db_where(f, sql, sizeof sql, p, &n);
    size_t o = strlen(sql);
    p[n++] = STORE_INTV(f->limit);
    p[n++] = STORE_INTV(f->offset);
    snprintf(sql + o, sizeof sql - o, " ORDER BY created_at DESC, rid DESC LIMIT $%zu OFFSET $%zu",
             n - 1, n);
    return store_query(c, sql, p, n, rows, NULL);
}

int memory_db_match(store_conn_t *c, bool pg, const memory_terms_t *t, const memory_filter_t *f,
                    json_t **rows)
{
    char expr[MEMORY_TERMS_MAX * (MEMORY_TERM_LEN + 8)];
    if ((pg ? memory_text_tsquery(t, expr, sizeof expr) : memory_text_fts5(t, expr, sizeof expr)) <
        0)
        return STORE_EINVAL;
    char sql[1536];
    snprintf(sql, sizeof sql,
             pg ? "SELECT " MEMORY_COLS " FROM memory_records WHERE tsv @@ to_tsquery('simple', $1)"
                : "SELECT " MEMORY_COLS " FROM memory_records WHERE rid IN "
                  "(SELECT rowid FROM memory_fts WHERE memory_fts MATCH $1)");
    store_val_t p[10] = {STORE_TEXTV(expr)};
    size_t n = 1;
    memory_db_where(f, sql, sizeof sql, p, &n);
    size_t o = strlen(sql);
    snprintf(sql + o, sizeof sql - o, " ORDER BY created_at DESC, rid DESC LIMIT %d",
             MEMORY_CANDIDATES);
    return store_query(c, sql, p, n, rows, NULL);
}

#define MEMORY_IDS_CHUNK 50

int memory_db_by_ids(store_conn_t *c, const char *const *ids, size_t n, const memory_filter_t *f,
                     json_t **rows)
{
    *rows = json_array();
    if (!*rows)
        return STORE_ERR;
    /* chunks of MEMORY_IDS_CHUNK ids, the last one padded with its last id: one statement text
     * (prepared once per connection) whatever n is */
    char sql[2048] = "SELECT " MEMORY_COLS " FROM memory_records WHERE id IN (";
    size_t o = strlen(sql);
    for (size_t i = 0; i < MEMORY_IDS_CHUNK; i++)
        o += (size_t)snprintf(sql + o, sizeof sql - o, "%s$%zu", i ? ", " : "", i + 1);
    snprintf(sql + o, sizeof sql - o, ")");
    for (size_t at = 0; at < n; at += MEMORY_IDS_CHUNK) {
        char q[2048];
        memcpy(q, sql, sizeof q);
        store_val_t p[MEMORY_IDS_CHUNK + 10];
        size_t k = 0;
        for (; k < MEMORY_IDS_CHUNK; k++)
            p[k] = STORE_TEXTV(ids[at + k < n ? at + k : n - 1]);
        memory_db_where(f, q, sizeof q, p, &k);
        json_t *r = NULL;
        int rc = store_query(c, q, p, k, &r, NULL);
        if (rc < 0) {
            json_decref(r);
            return rc;
        }
        json_array_extend(*rows, r);
        json_decref(r);
    }
    return 0;
}

int memory_db_count(store_conn_t *c, int64_t *n)
{
    json_t *rows = NULL;
    int rc = store_query(c, "SELECT COUNT(*) AS n FROM memory_records", NULL, 0, &rows, NULL);
    *n = rc == 0 ? json_integer_value(json_object_get(json_array_get(rows, 0), "n")) : 0;
    json_decref(rows);
    return rc;
}

int memory_db_vectors(store_conn_t *c, int64_t after_rid, int limit, json_t **rows)
{
    store_val_t p[] = {STORE_INTV(after_rid), STORE_INTV(limit)};
    return store_query(c,
                       "SELECT rid, id, layer, principal, agent, created_at, dim, embedding "
                       "FROM memory_records WHERE rid > $1 AND dim > 0 ORDER BY rid LIMIT $2",
                       p, 2, rows, NULL);
}

static int memory_db_delete_rows(store_conn_t *c, json_t *rows, json_t *deleted)
{
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        const char *id = json_string_value(json_object_get(r, "id"));
        if (!id)
            continue;
        int64_t n = 0;
        int rc = memory_db_delete(c, id, &n);
        if (rc < 0)
            return rc;
        if (n > 0)
            json_array_append_new(deleted,
                                  json_pack("{s:s,s:s}", "id", id, "layer",
                                            json_string_value(json_object_get(r, "layer")) ?: ""));
    }
    return 0;
}

int memory_db_prune(store_conn_t *c, const char *layer, int64_t max_count, int64_t max_age_s,
                    int64_t now_ms, int64_t batch, json_t *deleted)
{
    int64_t cutoff = max_age_s > 0 ? now_ms - max_age_s * 1000 : 0;
    store_val_t p[] = {STORE_TEXTV(layer), STORE_INTV(now_ms), STORE_INTV(cutoff),
                       STORE_INTV(batch)};
    json_t *rows = NULL;
    int rc = store_query(c,
                         "SELECT id, layer FROM memory_records WHERE layer = $1 AND "
                         "((expires_at IS NOT NULL AND expires_at <= $2) OR created_at < $3) "
                         "ORDER BY created_at, rid LIMIT $4",
                         p, 4, &rows, NULL);
    if (rc == 0)
        rc = memory_db_delete_rows(c, rows, deleted);
    json_decref(rows);
    if (rc < 0 || max_count <= 0)
        return rc;
    int64_t left = batch - (int64_t)json_array_size(deleted);
    if (left <= 0)
        return 0;
    /* beyond the count: the oldest, past the newest max_count (records made in the same
     * millisecond are ordered as they were written, by rid) */
    store_val_t q[] = {STORE_TEXTV(layer), STORE_INTV(max_count), STORE_INTV(left)};
    rows = NULL;
    rc = store_query(
        c,
        "SELECT id, layer FROM memory_records WHERE layer = $1 AND id NOT IN "
        "(SELECT id FROM memory_records WHERE layer = $1 "
        "ORDER BY created_at DESC, rid DESC LIMIT $2) ORDER BY created_at, rid LIMIT $3",
        q, 3, &rows, NULL);
    if (rc == 0)
        rc = memory_db_delete_rows(c, rows, deleted);
    json_decref(rows);
    return rc;
}

json_t *memory_record_from_row(const json_t *row)
{
    char created[40], expires[40];
    clock_rfc3339(json_integer_value(json_object_get(row, "created_at")), created, sizeof created);
    const json_t *exp = json_object_get(row, "expires_at");
    if (json_is_integer(exp))
        clock_rfc3339(json_integer_value(exp), expires, sizeof expires);
    json_t *tags = json_loads(json_string_value(json_object_get(row, "tags")) ?: "[]", 0, NULL);
    const char *pr = json_string_value(json_object_get(row, "principal"));
    const char *ag = json_string_value(json_object_get(row, "agent"));
    return json_pack("{s:s,s:s,s:s,s:o,s:o,s:o,s:s,s:I,s:o,s:I}", "id",
                     json_string_value(json_object_get(row, "id")) ?: "", "layer",
                     json_string_value(json_object_get(row, "layer")) ?: "", "content",
                     json_string_value(json_object_get(row, "content")) ?: "", "principal",
                     pr && *pr ? json_string(pr) : json_null(), "agent",
                     ag && *ag ? json_string(ag) : json_null(), "tags", tags ? tags : json_array(),
                     "created_at", created, "created_ms",
                     (json_int_t)json_integer_value(json_object_get(row, "created_at")),
                     "expires_at", json_is_integer(exp) ? json_string(expires) : json_null(), "dim",
                     (json_int_t)json_integer_value(json_object_get(row, "dim")));
}

float *memory_row_vector(const json_t *row, size_t *dim)
{
    const char *b64 = json_string_value(json_object_get(row, "embedding"));
    size_t d = (size_t)json_integer_value(json_object_get(row, "dim"));
    if (!b64 || d == 0 || d > 4096)
        return NULL;
    float *v = malloc(d * sizeof *v);
    size_t got = 0;
    if (!v ||
        sodium_base642bin((unsigned char *)v, d * sizeof *v, b64, strlen(b64), NULL, &got, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        got != d * sizeof *v) {
        free(v);
        return NULL;
    }
    *dim = d;
    return v;
}

/* what the vault backs up for this domain (core/backup.h) */
const backup_decl_t memory_backup = {"memory", BACKUP_LIST("memory_records"), BACKUP_NONE};
