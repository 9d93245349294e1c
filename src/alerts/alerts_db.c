/* The alerts tables (migration 900): rules and notifiers as JSON documents, and the outbox —
 * one row per notification, pending until delivered or dead-lettered, kept afterwards as the
 * history. Statements run on the thread pool, except the load at start. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/alerts_internal.h"
#include "core/log.h"
#include "store/retention.h"

static const store_migration_t alerts_migs[] = {
    {
        .version = 900,
        .name = "alerts",
        .sql_sqlite = "CREATE TABLE alert_rules ("
                      " id TEXT PRIMARY KEY,"
                      " doc TEXT NOT NULL);"
                      "CREATE TABLE alert_notifiers ("
                      " id TEXT PRIMARY KEY,"
                      " doc TEXT NOT NULL);"
                      "CREATE TABLE alert_outbox ("
                      " id TEXT PRIMARY KEY,"
                      " alert_id TEXT NOT NULL,"
                      " rule_id TEXT NOT NULL,"
                      " notifier_id TEXT NOT NULL,"
                      " group_key TEXT NOT NULL,"
                      " state TEXT NOT NULL,"
                      " attempts INTEGER NOT NULL,"
                      " next_ms BIGINT NOT NULL,"
                      " created_ms BIGINT NOT NULL,"
                      " updated_ms BIGINT NOT NULL,"
                      " last_error TEXT NOT NULL,"
                      " payload TEXT NOT NULL);"
                      "CREATE INDEX alert_outbox_state ON alert_outbox (state, next_ms);"
                      "CREATE INDEX alert_outbox_created ON alert_outbox (created_ms);",
    },
};

const store_migration_t *alerts_migrations(size_t *n)
{
    *n = sizeof alerts_migs / sizeof alerts_migs[0];
    return alerts_migs;
}

/* Loads documents of one table into obj (id -> parsed document). */
static int alerts_db_docs(store_conn_t *c, const char *sql, json_t *obj)
{
    json_t *rows = NULL;
    int rc = store_query(c, sql, NULL, 0, &rows, NULL);
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        const char *id = json_string_value(json_object_get(r, "id"));
        json_t *doc = json_loads(json_string_value(json_object_get(r, "doc")), 0, NULL);
        if (id && json_is_object(doc))
            json_object_set_new(obj, id, doc);
        else
            json_decref(doc);
    }
    json_decref(rows);
    return rc;
}

int alerts_db_load(alerts_t *al)
{
    store_t *s = al->hub->store;
    if (!s)
        return 0;
    store_conn_t *c = store_conn_acquire(s);
    int rc = alerts_db_docs(c, "SELECT id, doc FROM alert_rules", al->rules);
    if (rc == 0)
        rc = alerts_db_docs(c, "SELECT id, doc FROM alert_notifiers", al->notifiers);
    json_t *rows = NULL;
    if (rc == 0)
        rc = store_query(c,
                         "SELECT id, notifier_id, attempts, next_ms, payload FROM alert_outbox"
                         " WHERE state = 'pending' ORDER BY created_ms",
                         NULL, 0, &rows, NULL);
    if (rc < 0)
        log_error(NULL, "alerts: cannot load", "{s:s}", "error", store_conn_error(c));
    store_conn_release(s, c);
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        alerts_item_t *it = calloc(1, sizeof *it);
        const char *id = json_string_value(json_object_get(r, "id"));
        const char *nid = json_string_value(json_object_get(r, "notifier_id"));
        const char *payload = json_string_value(json_object_get(r, "payload"));
        if (!it || !id || !nid || !payload || !(it->payload = strdup(payload))) {
            free(it);
            continue;
        }
        snprintf(it->id, sizeof it->id, "%s", id);
        snprintf(it->notifier, sizeof it->notifier, "%s", nid);
        it->attempts = (int)json_integer_value(json_object_get(r, "attempts"));
        it->next_ms = json_integer_value(json_object_get(r, "next_ms"));
        alerts_outbox_add(al, it);
    }
    json_decref(rows);
    return rc < 0 ? -1 : 0;
}

int alerts_db_outbox_insert(store_conn_t *c, const alerts_row_t *rows, size_t n)
{
    int rc = store_tx_begin(c);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const alerts_row_t *r = &rows[i];
        store_val_t p[] = {STORE_TEXTV(r->id),        STORE_TEXTV(r->alert_id),
                           STORE_TEXTV(r->rule),      STORE_TEXTV(r->notifier),
                           STORE_TEXTV(r->key),       STORE_INTV(r->next_ms),
                           STORE_INTV(r->created_ms), STORE_TEXTV(r->payload)};
        rc = store_query(c,
                         "INSERT INTO alert_outbox (id, alert_id, rule_id, notifier_id, group_key,"
                         " state, attempts, next_ms, created_ms, updated_ms, last_error, payload)"
                         " VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7, $7, '', $8)",
                         p, sizeof p / sizeof p[0], NULL, NULL);
    }
    if (rc == 0)
        return store_tx_commit(c);
    store_tx_rollback(c);
    return rc;
}

int alerts_db_outbox_update(store_conn_t *c, const alerts_row_t *r)
{
    store_val_t p[] = {STORE_TEXTV(r->id),     STORE_TEXTV(r->state),     STORE_INTV(r->attempts),
                       STORE_INTV(r->next_ms), STORE_INTV(r->created_ms), STORE_TEXTV(r->error)};
    return store_query(c,
                       "UPDATE alert_outbox SET state = $2, attempts = $3, next_ms = $4,"
                       " updated_ms = $5, last_error = $6 WHERE id = $1",
                       p, sizeof p / sizeof p[0], NULL, NULL);
}

int alerts_db_doc_put(store_conn_t *c, const char *table, const char *id, const char *doc,
                      bool insert)
{
    store_val_t p[] = {STORE_TEXTV(id), STORE_TEXTV(doc)};
    bool rules = strcmp(table, "alert_rules") == 0;
    const char *sql = insert ? (rules ? "INSERT INTO alert_rules (id, doc) VALUES ($1, $2)"
                                      : "INSERT INTO alert_notifiers (id, doc) VALUES ($1, $2)")
                             : (rules ? "UPDATE alert_rules SET doc = $2 WHERE id = $1"
                                      : "UPDATE alert_notifiers SET doc = $2 WHERE id = $1");
    return store_query(c, sql, p, 2, NULL, NULL);
}

int alerts_db_doc_delete(store_conn_t *c, const char *table, const char *id, int64_t *affected)
{
    store_val_t p[] = {STORE_TEXTV(id)};
    const char *sql = strcmp(table, "alert_rules") == 0
                          ? "DELETE FROM alert_rules WHERE id = $1"
                          : "DELETE FROM alert_notifiers WHERE id = $1";
    return store_query(c, sql, p, 1, NULL, affected);
}

/* what the vault backs up for this domain (core/backup.h) */
const backup_decl_t alerts_backup = {
    "alerts", BACKUP_LIST("alert_rules", "alert_notifiers", "alert_outbox"), BACKUP_NONE};

int alerts_db_retention_purge(store_conn_t *c, retention_batch_t *b, void *ud)
{
    (void)ud;
    int64_t age_s = b->cfg->retention_alerts_max_age_s;
    if (age_s <= 0)
        return 0;
    /* pending rows are never removed: they are notifications still owed to someone */
    store_val_t p[2] = {STORE_INTV(b->now_ms - age_s * 1000), STORE_INTV(b->limit)};
    return store_query(c,
                       "DELETE FROM alert_outbox WHERE id IN (SELECT id FROM alert_outbox"
                       " WHERE state IN ('delivered', 'dead') AND updated_ms < $1"
                       " ORDER BY updated_ms LIMIT $2)",
                       p, 2, NULL, &b->removed);
}
