/* The statements on watch_incidents (migration 303): one row per burst, kept up to date in the
 * transaction that stores its anomalies or reviews them, so that listing incidents never has to
 * group the anomalies table. Every function runs on a store worker thread. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/strbuf.h"
#include "watch/watch_internal.h"

#define WATCH_INCIDENT_COLS                                                                        \
    "id, stream, stream_type, first_ms, last_ms, anomalies, severity, status, notes, "             \
    "created_at, updated_at"

int watch_db_incident_note(store_conn_t *c, const watch_anomaly_t *a)
{
    if (!a->incident[0])
        return 0;
    const char *sev = cbad_severity_name(a->r.severity);
    int64_t now = clock_wall_ms();
    store_val_t p[] = {STORE_TEXTV(a->incident),
                       STORE_TEXTV(a->stream),
                       STORE_TEXTV(cbad_stream_type_name(a->type)),
                       STORE_INTV(a->ts_ms),
                       STORE_TEXTV(sev),
                       STORE_INTV(watch_severity_rank(sev)),
                       STORE_INTV(now)};
    /* A new anomaly needs a look: the incident goes back to pending whatever it was. */
    return store_query(
        c,
        "INSERT INTO watch_incidents (id, stream, stream_type, first_ms, last_ms, "
        "anomalies, severity, severity_rank, status, notes, created_at, updated_at) "
        "VALUES ($1, $2, $3, $4, $4, 1, $5, $6, 'pending', '', $7, $7) "
        "ON CONFLICT (id) DO UPDATE SET "
        "anomalies = watch_incidents.anomalies + 1, "
        "first_ms = CASE WHEN excluded.first_ms < watch_incidents.first_ms "
        "THEN excluded.first_ms ELSE watch_incidents.first_ms END, "
        "last_ms = CASE WHEN excluded.last_ms > watch_incidents.last_ms "
        "THEN excluded.last_ms ELSE watch_incidents.last_ms END, "
        "severity = CASE WHEN excluded.severity_rank > watch_incidents.severity_rank "
        "THEN excluded.severity ELSE watch_incidents.severity END, "
        "severity_rank = CASE WHEN excluded.severity_rank > "
        "watch_incidents.severity_rank THEN excluded.severity_rank "
        "ELSE watch_incidents.severity_rank END, "
        "status = 'pending', updated_at = excluded.updated_at",
        p, sizeof p / sizeof p[0], NULL, NULL);
}

int watch_db_incident_refresh(store_conn_t *c, const char *id)
{
    store_val_t p[] = {STORE_TEXTV(id)};
    json_t *rows = NULL;
    int rc = store_query(c,
                         "SELECT status, COUNT(*) AS n FROM watch_anomalies WHERE incident_id = $1 "
                         "GROUP BY status",
                         p, 1, &rows, NULL);
    if (rc < 0)
        return rc;
    const char *best = NULL;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *st = json_string_value(json_object_get(row, "status"));
        if (st && (!best || watch_status_rank(st) < watch_status_rank(best)))
            best = st;
    }
    if (best) {
        store_val_t u[] = {STORE_TEXTV(best), STORE_INTV(clock_wall_ms()), STORE_TEXTV(id)};
        rc = store_query(c, "UPDATE watch_incidents SET status = $1, updated_at = $2 WHERE id = $3",
                         u, 3, NULL, NULL);
    }
    json_decref(rows);
    return rc;
}

int watch_db_incident_notes_set(store_conn_t *c, const char *id, const char *notes)
{
    store_val_t p[] = {STORE_TEXTV(notes), STORE_INTV(clock_wall_ms()), STORE_TEXTV(id)};
    return store_query(c, "UPDATE watch_incidents SET notes = $1, updated_at = $2 WHERE id = $3", p,
                       3, NULL, NULL);
}

static const char *watch_row_str(const json_t *row, const char *col, const char *def)
{
    const char *v = json_string_value(json_object_get(row, col));
    return v ? v : def;
}

/* A row to the API's object (new reference). */
static json_t *watch_incident_from_row(const json_t *row)
{
    char first[40], last[40], created[40], updated[40];
    int64_t f = json_integer_value(json_object_get(row, "first_ms"));
    int64_t l = json_integer_value(json_object_get(row, "last_ms"));
    clock_rfc3339(f, first, sizeof first);
    clock_rfc3339(l, last, sizeof last);
    clock_rfc3339(json_integer_value(json_object_get(row, "created_at")), created, sizeof created);
    clock_rfc3339(json_integer_value(json_object_get(row, "updated_at")), updated, sizeof updated);
    return json_pack("{s:s,s:s,s:s,s:s,s:I,s:s,s:I,s:I,s:s,s:s,s:s,s:s,s:s}", "id",
                     watch_row_str(row, "id", ""), "stream", watch_row_str(row, "stream", ""),
                     "stream_type", watch_row_str(row, "stream_type", ""), "first_at", first,
                     "first_ms", (json_int_t)f, "last_at", last, "last_ms", (json_int_t)l,
                     "anomalies", (json_int_t)json_integer_value(json_object_get(row, "anomalies")),
                     "severity", watch_row_str(row, "severity", "none"), "status",
                     watch_row_str(row, "status", "pending"), "notes",
                     watch_row_str(row, "notes", ""), "created_at", created, "updated_at", updated);
}

int watch_db_incident_get(store_conn_t *c, const char *id, json_t **out)
{
    store_val_t p[] = {STORE_TEXTV(id)};
    json_t *rows = NULL;
    *out = NULL;
    int rc = store_query(c, "SELECT " WATCH_INCIDENT_COLS " FROM watch_incidents WHERE id = $1", p,
                         1, &rows, NULL);
    if (rc == 0 && json_array_size(rows) == 1)
        *out = watch_incident_from_row(json_array_get(rows, 0));
    json_decref(rows);
    return rc;
}

int watch_db_incident_list(store_conn_t *c, const watch_ifilter_t *f, json_t **out)
{
    store_val_t p[8];
    size_t n = 0;
    char where[512] = " WHERE 1 = 1";
    size_t wl = strlen(where);
    if (f->streams) {
        p[n++] = STORE_TEXTV(f->streams);
        wl += (size_t)snprintf(where + wl, sizeof where - wl, WATCH_ACCESS_SQL, n);
    }
    if (f->stream) {
        p[n++] = STORE_TEXTV(f->stream);
        wl += (size_t)snprintf(where + wl, sizeof where - wl, " AND stream = $%zu", n);
    }
    if (f->status) {
        p[n++] = STORE_TEXTV(f->status);
        wl += (size_t)snprintf(where + wl, sizeof where - wl, " AND status = $%zu", n);
    }
    if (f->min_severity > 0) {
        p[n++] = STORE_INTV(f->min_severity);
        snprintf(where + wl, sizeof where - wl, " AND severity_rank >= $%zu", n);
    }
    char sql[1024];
    json_t *cnt = NULL, *rows = NULL;
    snprintf(sql, sizeof sql, "SELECT COUNT(*) AS n FROM watch_incidents%s", where);
    int rc = store_query(c, sql, p, n, &cnt, NULL);
    int64_t total = rc == 0 ? json_integer_value(json_object_get(json_array_get(cnt, 0), "n")) : 0;
    if (rc == 0) {
        p[n] = STORE_INTV(f->limit);
        p[n + 1] = STORE_INTV(f->offset);
        snprintf(sql, sizeof sql,
                 "SELECT " WATCH_INCIDENT_COLS " FROM watch_incidents%s "
                 "ORDER BY last_ms DESC, id DESC LIMIT $%zu OFFSET $%zu",
                 where, n + 1, n + 2);
        rc = store_query(c, sql, p, n + 2, &rows, NULL);
    }
    if (rc == 0) {
        json_t *list = json_array();
        size_t i;
        json_t *row;
        json_array_foreach(rows, i, row)
        {
            json_array_append_new(list, watch_incident_from_row(row));
        }
        *out = json_pack("{s:o,s:I,s:i,s:I,s:b}", "incidents", list, "total", (json_int_t)total,
                         "limit", f->limit, "offset", (json_int_t)f->offset, "has_more",
                         f->offset + (int64_t)json_array_size(rows) < total);
        if (!*out)
            rc = STORE_ERR;
    }
    json_decref(cnt);
    json_decref(rows);
    return rc;
}

int watch_db_incident_members(store_conn_t *c, const char *id, json_t **ids)
{
    store_val_t p[] = {STORE_TEXTV(id)};
    json_t *rows = NULL;
    *ids = NULL;
    int rc = store_query(c, "SELECT id FROM watch_anomalies WHERE incident_id = $1 ORDER BY ts_ms",
                         p, 1, &rows, NULL);
    if (rc < 0)
        return rc;
    json_t *list = json_array();
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        json_array_append(list, json_object_get(row, "id"));
    }
    json_decref(rows);
    *ids = list;
    return 0;
}
