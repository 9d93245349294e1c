/* What retention removes from watch: anomalies older than the bound (by the time of the window
 * they were found in) and the incidents they made, each stream's surplus beyond its newest N,
 * and pending ones left unreviewed too long marked resolved. One bounded statement per batch,
 * run by the retention scheduler on the thread pool (registered in watch_api.c). */
#include "watch/watch_internal.h"

#include <jansson.h>

int watch_retention_age(store_conn_t *c, retention_batch_t *b, void *ud)
{
    (void)ud;
    int64_t age_s = b->cfg->retention_anomalies_max_age_s;
    if (age_s <= 0)
        return 0;
    store_val_t p[2] = {STORE_INTV(b->now_ms - age_s * 1000), STORE_INTV(b->limit)};
    return store_query(c,
                       "DELETE FROM watch_anomalies WHERE id IN (SELECT id FROM watch_anomalies"
                       " WHERE ts_ms < $1 ORDER BY ts_ms LIMIT $2)",
                       p, 2, NULL, &b->removed);
}

int watch_retention_incidents(store_conn_t *c, retention_batch_t *b, void *ud)
{
    (void)ud;
    int64_t age_s = b->cfg->retention_anomalies_max_age_s;
    if (age_s <= 0)
        return 0;
    /* every member of such an incident is older than the cut too, so none is left behind */
    store_val_t p[2] = {STORE_INTV(b->now_ms - age_s * 1000), STORE_INTV(b->limit)};
    return store_query(c,
                       "DELETE FROM watch_incidents WHERE id IN (SELECT id FROM watch_incidents"
                       " WHERE last_ms < $1 ORDER BY last_ms LIMIT $2)",
                       p, 2, NULL, &b->removed);
}

/* Streams over the bound, a few at a time; each gives up its oldest surplus until the batch's
 * limit is spent. */
int watch_retention_per_stream(store_conn_t *c, retention_batch_t *b, void *ud)
{
    (void)ud;
    int64_t keep = b->cfg->retention_anomalies_max_per_stream;
    if (keep <= 0)
        return 0;
    json_t *rows = NULL;
    store_val_t q[1] = {STORE_INTV(keep)};
    int rc = store_query(c,
                         "SELECT stream FROM watch_anomalies GROUP BY stream HAVING COUNT(*) > $1"
                         " ORDER BY stream LIMIT 16",
                         q, 1, &rows, NULL);
    if (rc < 0)
        return rc;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        int64_t left = b->limit - b->removed;
        if (left <= 0)
            break;
        const char *stream = json_string_value(json_object_get(row, "stream"));
        if (!stream)
            continue;
        store_val_t p[3] = {STORE_TEXTV(stream), STORE_INTV(left), STORE_INTV(keep)};
        int64_t n = 0;
        rc = store_query(c,
                         "DELETE FROM watch_anomalies WHERE id IN (SELECT id FROM watch_anomalies"
                         " WHERE stream = $1 ORDER BY ts_ms DESC, id DESC LIMIT $2 OFFSET $3)",
                         p, 3, NULL, &n);
        if (rc < 0)
            break;
        b->removed += n;
        /* an incident whose every member went goes too (one that keeps some keeps its count
         * of the anomalies it grouped) */
        store_val_t q1[1] = {STORE_TEXTV(stream)};
        rc = store_query(c,
                         "DELETE FROM watch_incidents WHERE stream = $1 AND NOT EXISTS (SELECT 1"
                         " FROM watch_anomalies a WHERE a.incident_id = watch_incidents.id)",
                         q1, 1, NULL, NULL);
        if (rc < 0)
            break;
    }
    json_decref(rows);
    return rc < 0 ? rc : 0;
}

int watch_retention_resolve(store_conn_t *c, retention_batch_t *b, void *ud)
{
    (void)ud;
    int64_t after_s = b->cfg->retention_anomalies_resolve_after_s;
    if (after_s <= 0)
        return 0;
    store_val_t p[3] = {STORE_INTV(b->now_ms - after_s * 1000), STORE_INTV(b->now_ms),
                        STORE_INTV(b->limit)};
    int rc = store_tx_begin(c);
    if (rc < 0)
        return rc;
    rc = store_query(c,
                     "UPDATE watch_anomalies SET status = 'resolved', updated_at = $2 WHERE id IN"
                     " (SELECT id FROM watch_anomalies WHERE status = 'pending' AND ts_ms < $1"
                     " ORDER BY ts_ms LIMIT $3)",
                     p, 3, NULL, &b->removed);
    if (rc == 0)
        rc = store_query(c,
                         "UPDATE watch_incidents SET status = 'resolved', updated_at = $2 WHERE id"
                         " IN (SELECT id FROM watch_incidents WHERE status = 'pending' AND"
                         " last_ms < $1 ORDER BY last_ms LIMIT $3)",
                         p, 3, NULL, NULL);
    if (rc < 0) {
        store_tx_rollback(c);
        return rc;
    }
    return store_tx_commit(c);
}
