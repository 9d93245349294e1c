/* The watch domain's tables (migrations 300-399) and the statements on them. Every function here
 * runs on a store worker thread with a pooled connection; anomalies travel as JSON objects with
 * the API's field names and are mapped to columns by one table, so the insert, the reads and the
 * API cannot disagree on a field. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/strbuf.h"
#include "watch/watch.h"
#include "watch/watch_internal.h"

/* Both dialects accept this SQL: DOUBLE PRECISION is REAL affinity in SQLite and float8 in
 * PostgreSQL; timestamps are epoch milliseconds; JSON values are kept as text. */
#define WATCH_ANOMALIES_SQL                                                                        \
    "CREATE TABLE watch_anomalies ("                                                               \
    " id TEXT PRIMARY KEY,"                                                                        \
    " ts_ms BIGINT NOT NULL,"                                                                      \
    " stream TEXT NOT NULL,"                                                                       \
    " stream_type TEXT NOT NULL,"                                                                  \
    " severity TEXT NOT NULL,"                                                                     \
    " score DOUBLE PRECISION NOT NULL,"                                                            \
    " ncd_score DOUBLE PRECISION NOT NULL,"                                                        \
    " p_value DOUBLE PRECISION NOT NULL,"                                                          \
    " confidence_level DOUBLE PRECISION NOT NULL,"                                                 \
    " is_statistically_significant INTEGER NOT NULL,"                                              \
    " compression_baseline DOUBLE PRECISION NOT NULL,"                                             \
    " compression_window DOUBLE PRECISION NOT NULL,"                                               \
    " compression_combined DOUBLE PRECISION NOT NULL,"                                             \
    " compression_ratio_change DOUBLE PRECISION NOT NULL,"                                         \
    " baseline_entropy DOUBLE PRECISION NOT NULL,"                                                 \
    " window_entropy DOUBLE PRECISION NOT NULL,"                                                   \
    " entropy_change DOUBLE PRECISION NOT NULL,"                                                   \
    " glass_box_explanation TEXT NOT NULL,"                                                        \
    " detailed_explanation TEXT NOT NULL,"                                                         \
    " baseline_data TEXT NOT NULL,"                                                                \
    " window_data TEXT NOT NULL,"                                                                  \
    " novel_lines TEXT NOT NULL,"                                                                  \
    " metadata TEXT NOT NULL,"                                                                     \
    " tags TEXT NOT NULL,"                                                                         \
    " status TEXT NOT NULL,"                                                                       \
    " notes TEXT NOT NULL,"                                                                        \
    " acknowledged_by TEXT,"                                                                       \
    " acknowledged_at BIGINT,"                                                                     \
    " dismissed_by TEXT,"                                                                          \
    " dismissed_at BIGINT,"                                                                        \
    " created_at BIGINT NOT NULL,"                                                                 \
    " updated_at BIGINT NOT NULL);"                                                                \
    "CREATE INDEX watch_anomalies_ts ON watch_anomalies (ts_ms);"                                  \
    "CREATE INDEX watch_anomalies_stream ON watch_anomalies (stream, ts_ms);"                      \
    "CREATE INDEX watch_anomalies_type ON watch_anomalies (stream_type, ts_ms);"                   \
    "CREATE INDEX watch_anomalies_status ON watch_anomalies (status, ts_ms);"                      \
    "CREATE INDEX watch_anomalies_ncd ON watch_anomalies (ncd_score);"                             \
    "CREATE INDEX watch_anomalies_p ON watch_anomalies (p_value);"                                 \
    "CREATE INDEX watch_anomalies_sig ON watch_anomalies (is_statistically_significant, ts_ms);"

static const store_migration_t watch_migs[] = {
    {
        .version = 300,
        .name = "watch_streams_create",
        .sql_sqlite = "CREATE TABLE watch_streams ("
                      " name TEXT PRIMARY KEY,"
                      " type TEXT NOT NULL,"
                      " overrides TEXT NOT NULL,"
                      " created_ms BIGINT NOT NULL,"
                      " updated_ms BIGINT NOT NULL);",
    },
    {
        .version = 301,
        .name = "watch_anomalies_create",
        .sql_sqlite = WATCH_ANOMALIES_SQL,
    },
    {
        /* Evidence fields the detector adds beyond the columns (reference NCD, novelty, ...),
         * kept as one JSON object so a new field never needs a migration to survive storage. */
        .version = 302,
        .name = "watch_anomalies_extra",
        .sql_sqlite = "ALTER TABLE watch_anomalies ADD COLUMN extra TEXT NOT NULL DEFAULT '{}'",
    },
    {
        /* Incidents: the overlapping windows of one burst on one stream under one id. Anomalies
         * stored before it become an incident each (their grouping cannot be rebuilt). */
        .version = 303,
        .name = "watch_incidents_create",
        .sql_sqlite =
            "ALTER TABLE watch_anomalies ADD COLUMN incident_id TEXT;"
            "CREATE TABLE watch_incidents ("
            " id TEXT PRIMARY KEY,"
            " stream TEXT NOT NULL,"
            " stream_type TEXT NOT NULL,"
            " first_ms BIGINT NOT NULL,"
            " last_ms BIGINT NOT NULL,"
            " anomalies BIGINT NOT NULL,"
            " severity TEXT NOT NULL,"
            " severity_rank INTEGER NOT NULL,"
            " status TEXT NOT NULL,"
            " notes TEXT NOT NULL DEFAULT '',"
            " created_at BIGINT NOT NULL,"
            " updated_at BIGINT NOT NULL);"
            "UPDATE watch_anomalies SET incident_id = 'inc-' || id;"
            "INSERT INTO watch_incidents (id, stream, stream_type, first_ms, last_ms, anomalies,"
            " severity, severity_rank, status, created_at, updated_at)"
            " SELECT 'inc-' || id, stream, stream_type, ts_ms, ts_ms, 1, severity,"
            " CASE severity WHEN 'critical' THEN 3 WHEN 'high' THEN 2 WHEN 'medium' THEN 1"
            " ELSE 0 END, status, created_at, updated_at FROM watch_anomalies;"
            "CREATE INDEX watch_anomalies_incident ON watch_anomalies (incident_id, ts_ms);"
            "CREATE INDEX watch_anomalies_severity ON watch_anomalies (severity, ts_ms);"
            "CREATE INDEX watch_anomalies_created ON watch_anomalies (created_at);"
            "CREATE INDEX watch_incidents_last ON watch_incidents (last_ms);"
            "CREATE INDEX watch_incidents_stream ON watch_incidents (stream, last_ms);"
            "CREATE INDEX watch_incidents_status ON watch_incidents (status, last_ms);"
            "CREATE INDEX watch_incidents_severity ON watch_incidents (severity_rank, last_ms);",
    },
    {
        /* who created a stream and the team it is shared with (api/api_owner.h); NULL on
         * streams from before and on those the daemon makes itself: an admin's alone */
        .version = 304,
        .name = "watch_streams_owner",
        .sql_sqlite = "ALTER TABLE watch_streams ADD COLUMN owner TEXT;"
                      "ALTER TABLE watch_streams ADD COLUMN team TEXT;",
    },
};

const store_migration_t *watch_migrations(size_t *n)
{
    *n = sizeof watch_migs / sizeof watch_migs[0];
    return watch_migs;
}

/* ---- streams ---------------------------------------------------------------------------- */

int watch_db_streams_load(store_conn_t *c, json_t **rows)
{
    return store_query(
        c,
        "SELECT name, type, overrides, created_ms, updated_ms, owner, team FROM watch_streams "
        "ORDER BY name",
        NULL, 0, rows, NULL);
}

int watch_db_stream_upsert(store_conn_t *c, const char *name, const char *type,
                           const char *overrides_json, int64_t created_ms, int64_t updated_ms,
                           const char *owner, const char *team)
{
    store_val_t p[] = {STORE_TEXTV(name),
                       STORE_TEXTV(type),
                       STORE_TEXTV(overrides_json),
                       STORE_INTV(created_ms),
                       STORE_INTV(updated_ms),
                       owner && *owner ? STORE_TEXTV(owner) : STORE_NULLV,
                       team && *team ? STORE_TEXTV(team) : STORE_NULLV};
    return store_query(c,
                       "INSERT INTO watch_streams (name, type, overrides, created_ms, updated_ms,"
                       " owner, team) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                       " ON CONFLICT (name) DO UPDATE SET "
                       "type = excluded.type, overrides = excluded.overrides, "
                       "updated_ms = excluded.updated_ms",
                       p, 7, NULL, NULL);
}

int watch_db_stream_delete(store_conn_t *c, const char *name)
{
    store_val_t p[] = {STORE_TEXTV(name)};
    return store_query(c, "DELETE FROM watch_streams WHERE name = $1", p, 1, NULL, NULL);
}

/* ---- anomalies: the column map ------------------------------------------------------------ */

typedef enum { COL_TEXT, COL_REAL, COL_BOOL, COL_JSON, COL_TIME, COL_TEXT_NULL } col_kind_t;

typedef struct {
    const char *col;   /* column */
    const char *field; /* API field */
    col_kind_t kind;
} col_t;

static const col_t watch_cols[] = {
    {"id", "id", COL_TEXT},
    {"ts_ms", "timestamp", COL_TIME},
    {"stream", "stream", COL_TEXT},
    {"stream_type", "stream_type", COL_TEXT},
    {"severity", "severity", COL_TEXT},
    {"score", "score", COL_REAL},
    {"ncd_score", "ncd_score", COL_REAL},
    {"p_value", "p_value", COL_REAL},
    {"confidence_level", "confidence_level", COL_REAL},
    {"is_statistically_significant", "is_statistically_significant", COL_BOOL},
    {"compression_baseline", "compression_baseline", COL_REAL},
    {"compression_window", "compression_window", COL_REAL},
    {"compression_combined", "compression_combined", COL_REAL},
    {"compression_ratio_change", "compression_ratio_change", COL_REAL},
    {"baseline_entropy", "baseline_entropy", COL_REAL},
    {"window_entropy", "window_entropy", COL_REAL},
    {"entropy_change", "entropy_change", COL_REAL},
    {"glass_box_explanation", "glass_box_explanation", COL_TEXT},
    {"detailed_explanation", "detailed_explanation", COL_TEXT},
    {"baseline_data", "baseline_data", COL_JSON},
    {"window_data", "window_data", COL_JSON},
    {"novel_lines", "novel_lines", COL_JSON},
    {"metadata", "metadata", COL_JSON},
    {"tags", "tags", COL_JSON},
    {"status", "status", COL_TEXT},
    {"notes", "notes", COL_TEXT},
    {"acknowledged_by", "acknowledged_by", COL_TEXT_NULL},
    {"acknowledged_at", "acknowledged_at", COL_TIME},
    {"dismissed_by", "dismissed_by", COL_TEXT_NULL},
    {"dismissed_at", "dismissed_at", COL_TIME},
    {"created_at", "created_at", COL_TIME},
    {"updated_at", "updated_at", COL_TIME},
    {"incident_id", "incident_id", COL_TEXT_NULL},
};
#define WATCH_NCOLS (sizeof watch_cols / sizeof watch_cols[0])

static const char *watch_select_cols(void)
{
    static char cols[2048];
    static int done;
    /* Built once from the table above; races only ever write the same bytes. */
    if (!done) {
        size_t off = 0;
        for (size_t i = 0; i < WATCH_NCOLS; i++)
            off += (size_t)snprintf(cols + off, sizeof cols - off, "%s%s", i ? ", " : "",
                                    watch_cols[i].col);
        snprintf(cols + off, sizeof cols - off, ", extra");
        done = 1;
    }
    return cols;
}

/* Binds one field of a into *v; json text lands in *owned (freed by the caller). */
static void watch_bind(const json_t *a, const col_t *c, store_val_t *v, char **owned)
{
    json_t *x = json_object_get(a, c->field);
    *owned = NULL;
    switch (c->kind) {
    case COL_TEXT:
        *v = STORE_TEXTV(json_is_string(x) ? json_string_value(x) : "");
        return;
    case COL_TEXT_NULL:
        *v = json_is_string(x) ? STORE_TEXTV(json_string_value(x)) : STORE_NULLV;
        return;
    case COL_REAL:
        *v = STORE_REALV(json_is_number(x) ? json_number_value(x) : 0.0);
        return;
    case COL_BOOL:
        *v = STORE_INTV(json_is_true(x) ? 1 : 0);
        return;
    case COL_JSON:
        *owned = json_dumps(x ? x : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);
        *v = STORE_TEXTV(*owned ? *owned : "null");
        return;
    case COL_TIME: {
        int64_t ms = 0;
        if (strcmp(c->col, "ts_ms") == 0 && json_is_integer(json_object_get(a, "timestamp_ms")))
            *v = STORE_INTV(json_integer_value(json_object_get(a, "timestamp_ms")));
        else if (json_is_string(x) && clock_rfc3339_parse(json_string_value(x), &ms) == 0)
            *v = STORE_INTV(ms);
        else
            *v = STORE_NULLV;
        return;
    }
    }
}

/* The fields of a that have no column of their own, as compact JSON (caller frees). */
static char *watch_extra_dump(const json_t *a)
{
    json_t *extra = json_object();
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)(uintptr_t)a, k, x)
    {
        bool mapped = !strcmp(k, "timestamp_ms");
        for (size_t i = 0; i < WATCH_NCOLS && !mapped; i++)
            mapped = !strcmp(watch_cols[i].field, k);
        if (!mapped)
            json_object_set(extra, k, x);
    }
    char *s = json_dumps(extra, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(extra);
    return s;
}

int watch_db_anomaly_insert(store_conn_t *c, const json_t *a)
{
    store_val_t v[WATCH_NCOLS + 1];
    char *owned[WATCH_NCOLS];
    strbuf_t sql;
    strbuf_init(&sql, 0);
    strbuf_printf(&sql, "INSERT INTO watch_anomalies (%s) VALUES (", watch_select_cols());
    for (size_t i = 0; i < WATCH_NCOLS; i++) {
        watch_bind(a, &watch_cols[i], &v[i], &owned[i]);
        strbuf_printf(&sql, "%s$%zu", i ? ", " : "", i + 1);
    }
    char *extra = watch_extra_dump(a);
    v[WATCH_NCOLS] = STORE_TEXTV(extra ? extra : "{}");
    strbuf_printf(&sql, ", $%zu)", (size_t)WATCH_NCOLS + 1);
    int rc = sql.data ? store_query(c, sql.data, v, WATCH_NCOLS + 1, NULL, NULL) : STORE_ERR;
    free(extra);
    for (size_t i = 0; i < WATCH_NCOLS; i++)
        free(owned[i]);
    strbuf_free(&sql);
    return rc;
}

/* A stored row back to the API's object (new reference). */
static json_t *watch_row_to_anomaly(const json_t *row)
{
    json_t *ex = json_loads(json_string_value(json_object_get(row, "extra")) ?: "{}", 0, NULL);
    json_t *a = json_is_object(ex) ? json_incref(ex) : json_object();
    json_decref(ex);
    for (size_t i = 0; i < WATCH_NCOLS && a; i++) {
        const col_t *c = &watch_cols[i];
        json_t *x = json_object_get(row, c->col);
        switch (c->kind) {
        case COL_TEXT:
        case COL_TEXT_NULL:
            json_object_set_new(a, c->field, json_is_string(x) ? json_copy(x) : json_null());
            break;
        case COL_REAL:
            json_object_set_new(a, c->field,
                                json_real(json_is_number(x) ? json_number_value(x) : 0));
            break;
        case COL_BOOL:
            json_object_set_new(a, c->field,
                                json_boolean(json_is_integer(x) && json_integer_value(x)));
            break;
        case COL_JSON: {
            json_t *j =
                json_is_string(x) ? json_loads(json_string_value(x), JSON_DECODE_ANY, NULL) : NULL;
            json_object_set_new(a, c->field, j ? j : json_null());
            break;
        }
        case COL_TIME:
            if (json_is_integer(x)) {
                char buf[40];
                clock_rfc3339(json_integer_value(x), buf, sizeof buf);
                json_object_set_new(a, c->field, json_string(buf));
                if (strcmp(c->col, "ts_ms") == 0)
                    json_object_set_new(a, "timestamp_ms", json_copy(x));
            } else {
                json_object_set_new(a, c->field, json_null());
            }
            break;
        }
    }
    return a;
}

int watch_db_anomaly_get(store_conn_t *c, const char *id, json_t **out)
{
    char sql[2300];
    snprintf(sql, sizeof sql, "SELECT %s FROM watch_anomalies WHERE id = $1", watch_select_cols());
    store_val_t p[] = {STORE_TEXTV(id)};
    json_t *rows = NULL;
    *out = NULL;
    int rc = store_query(c, sql, p, 1, &rows, NULL);
    if (rc == 0 && json_array_size(rows) == 1)
        *out = watch_row_to_anomaly(json_array_get(rows, 0));
    json_decref(rows);
    return rc;
}

int watch_db_anomaly_list(store_conn_t *c, const watch_filter_t *f, json_t **out)
{
    store_val_t p[16];
    size_t n = 0;
    strbuf_t where;
    strbuf_init(&where, 0);
    strbuf_puts(&where, " WHERE 1 = 1");
    if (f->stream_type) {
        p[n++] = STORE_TEXTV(f->stream_type);
        strbuf_printf(&where, " AND stream_type = $%zu", n);
    }
    if (f->status) {
        p[n++] = STORE_TEXTV(f->status);
        strbuf_printf(&where, " AND status = $%zu", n);
    }
    if (f->stream) {
        p[n++] = STORE_TEXTV(f->stream);
        strbuf_printf(&where, " AND stream = $%zu", n);
    }
    if (f->incident) {
        p[n++] = STORE_TEXTV(f->incident);
        strbuf_printf(&where, " AND incident_id = $%zu", n);
    }
    if (f->streams) {
        p[n++] = STORE_TEXTV(f->streams);
        strbuf_printf(&where, WATCH_ACCESS_SQL, n);
    }
    if (f->min_severity > 0) /* fixed words, no parameter needed */
        strbuf_puts(&where, f->min_severity >= 3   ? " AND severity = 'critical'"
                            : f->min_severity == 2 ? " AND severity IN ('high', 'critical')"
                                                   : " AND severity IN ('medium', 'high', "
                                                     "'critical')");
    if (f->has_created_since) {
        p[n++] = STORE_INTV(f->created_since_ms);
        strbuf_printf(&where, " AND created_at >= $%zu", n);
    }
    if (f->has_min_ncd) {
        p[n++] = STORE_REALV(f->min_ncd);
        strbuf_printf(&where, " AND ncd_score >= $%zu", n);
    }
    if (f->has_max_p) {
        p[n++] = STORE_REALV(f->max_p);
        strbuf_printf(&where, " AND p_value <= $%zu", n);
    }
    if (f->has_start) {
        p[n++] = STORE_INTV(f->start_ms);
        strbuf_printf(&where, " AND ts_ms >= $%zu", n);
    }
    if (f->has_end) {
        p[n++] = STORE_INTV(f->end_ms);
        strbuf_printf(&where, " AND ts_ms < $%zu", n);
    }
    if (f->only_significant)
        strbuf_puts(&where, " AND is_statistically_significant = 1");
    if (!where.data)
        return STORE_ERR;

    json_t *rows = NULL, *cnt = NULL;
    /* taken before the query: a follower asking for created_since=as_of misses nothing stored
     * after this listing (it may see some of its anomalies again) */
    char as_of[40];
    clock_rfc3339(clock_wall_ms(), as_of, sizeof as_of);
    strbuf_t sql;
    strbuf_init(&sql, 0);
    strbuf_printf(&sql, "SELECT COUNT(*) AS n FROM watch_anomalies%s", where.data);
    int rc = sql.data ? store_query(c, sql.data, p, n, &cnt, NULL) : STORE_ERR;
    int64_t total = rc == 0 ? json_integer_value(json_object_get(json_array_get(cnt, 0), "n")) : 0;
    strbuf_reset(&sql);
    if (rc == 0) {
        p[n] = STORE_INTV(f->limit);
        p[n + 1] = STORE_INTV(f->offset);
        strbuf_printf(&sql,
                      "SELECT %s FROM watch_anomalies%s ORDER BY ts_ms DESC, id DESC "
                      "LIMIT $%zu OFFSET $%zu",
                      watch_select_cols(), where.data, n + 1, n + 2);
        rc = sql.data ? store_query(c, sql.data, p, n + 2, &rows, NULL) : STORE_ERR;
    }
    if (rc == 0) {
        json_t *list = json_array();
        size_t i;
        json_t *row;
        json_array_foreach(rows, i, row)
        {
            json_array_append_new(list, watch_row_to_anomaly(row));
        }
        *out = json_pack("{s:o,s:I,s:i,s:I,s:b,s:s}", "anomalies", list, "total", (json_int_t)total,
                         "limit", f->limit, "offset", (json_int_t)f->offset, "has_more",
                         f->offset + (int64_t)json_array_size(rows) < total, "as_of", as_of);
        if (!*out)
            rc = STORE_ERR;
    }
    json_decref(rows);
    json_decref(cnt);
    strbuf_free(&sql);
    strbuf_free(&where);
    return rc;
}

int watch_db_anomaly_update(store_conn_t *c, const char *id, const char *old_status,
                            const json_t *a)
{
    static const char *const fields[] = {"status",          "notes",           "tags",
                                         "acknowledged_by", "acknowledged_at", "dismissed_by",
                                         "dismissed_at",    "updated_at"};
    store_val_t v[10];
    char *owned[10] = {0};
    strbuf_t sql;
    strbuf_init(&sql, 0);
    strbuf_puts(&sql, "UPDATE watch_anomalies SET ");
    size_t n = 0;
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
        for (size_t i = 0; i < WATCH_NCOLS; i++) {
            if (strcmp(watch_cols[i].field, fields[k]) != 0)
                continue;
            watch_bind(a, &watch_cols[i], &v[n], &owned[n]);
            n++;
            strbuf_printf(&sql, "%s%s = $%zu", k ? ", " : "", watch_cols[i].col, n);
        }
    }
    v[n++] = STORE_TEXTV(id);
    v[n++] = STORE_TEXTV(old_status);
    strbuf_printf(&sql, " WHERE id = $%zu AND status = $%zu", n - 1, n);
    int64_t affected = 0;
    int rc = sql.data ? store_query(c, sql.data, v, n, NULL, &affected) : STORE_ERR;
    for (size_t i = 0; i < n; i++)
        free(owned[i]);
    strbuf_free(&sql);
    if (rc < 0)
        return rc;
    if (affected == 1)
        return 0;
    /* Nothing changed: the row is gone, or another request moved its status first. */
    json_t *now = NULL;
    rc = watch_db_anomaly_get(c, id, &now);
    json_decref(now);
    if (rc < 0)
        return rc;
    return now ? 2 : 1;
}

int watch_db_status_counts(store_conn_t *c, const char *streams, json_t **out)
{
    json_t *rows = NULL;
    char sql[512];
    store_val_t p[] = {STORE_TEXTV(streams ? streams : "")};
    snprintf(sql, sizeof sql,
             "SELECT status, COUNT(*) AS n FROM watch_anomalies WHERE 1 = 1%s GROUP BY status "
             "ORDER BY status",
             streams ? WATCH_ACCESS_SQL_1 : "");
    int rc = store_query(c, sql, p, streams ? 1 : 0, &rows, NULL);
    if (rc < 0)
        return rc;
    json_t *o = json_object();
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *s = json_string_value(json_object_get(row, "status"));
        if (s)
            json_object_set(o, s, json_object_get(row, "n"));
    }
    json_decref(rows);
    *out = o;
    return 0;
}

/* what the vault backs up for this domain (core/backup.h) */
const backup_decl_t watch_backup = {
    "watch", BACKUP_LIST("watch_streams", "watch_anomalies", "watch_incidents"),
    BACKUP_LIST("watch-signing.key")};
