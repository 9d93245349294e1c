/* The guard's tables (migrations 500-509) and every statement on them. Runs on the thread pool
 * (or at start) with a pooled connection; each change is one transaction that also records its
 * audit row, so a change and its audit entry commit together. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/guard_internal.h"
#include "store/store.h"

static const store_migration_t guard_migs[] = {
    {
        .version = 500,
        .name = "guard_rules_create",
        .sql_sqlite = "CREATE TABLE guard_rules ("
                      " id BIGINT PRIMARY KEY,"
                      " name TEXT NOT NULL UNIQUE,"
                      " description TEXT NOT NULL,"
                      " weight INTEGER NOT NULL,"
                      " enabled INTEGER NOT NULL,"
                      " match_json TEXT NOT NULL,"
                      " created_ms BIGINT NOT NULL,"
                      " updated_ms BIGINT NOT NULL);"
                      "CREATE TABLE guard_meta (name TEXT PRIMARY KEY, value BIGINT NOT NULL);",
    },
    {
        .version = 501,
        .name = "guard_principals_create",
        .sql_sqlite = "CREATE TABLE guard_principals ("
                      " id TEXT PRIMARY KEY,"
                      " trust DOUBLE PRECISION NOT NULL,"
                      " updated_ms BIGINT NOT NULL,"
                      " history TEXT NOT NULL);",
    },
    {
        .version = 502,
        .name = "guard_verdicts_create",
        .sql_sqlite = "CREATE TABLE guard_verdicts ("
                      " id INTEGER PRIMARY KEY AUTOINCREMENT,"
                      " ts_ms BIGINT NOT NULL,"
                      " digest TEXT NOT NULL,"
                      " principal TEXT,"
                      " source TEXT NOT NULL,"
                      " verdict TEXT NOT NULL,"
                      " score BIGINT NOT NULL,"
                      " fired TEXT NOT NULL,"
                      " rules_version BIGINT NOT NULL);"
                      "CREATE INDEX guard_verdicts_ts ON guard_verdicts (ts_ms);",
        .sql_pg = "CREATE TABLE guard_verdicts ("
                  " id BIGSERIAL PRIMARY KEY,"
                  " ts_ms BIGINT NOT NULL,"
                  " digest TEXT NOT NULL,"
                  " principal TEXT,"
                  " source TEXT NOT NULL,"
                  " verdict TEXT NOT NULL,"
                  " score BIGINT NOT NULL,"
                  " fired TEXT NOT NULL,"
                  " rules_version BIGINT NOT NULL);"
                  "CREATE INDEX guard_verdicts_ts ON guard_verdicts (ts_ms);",
    },
    {
        /* who created a rule and the team it names (api/api_owner.h); rules are an admin's
         * (guard_rules:*), so this records, it does not restrict; NULL on seeded rules */
        .version = 503,
        .name = "guard_rules_owner",
        .sql_sqlite = "ALTER TABLE guard_rules ADD COLUMN owner TEXT;"
                      "ALTER TABLE guard_rules ADD COLUMN team TEXT;",
    },
};

const store_migration_t *guard_migrations(size_t *n)
{
    *n = sizeof guard_migs / sizeof guard_migs[0];
    return guard_migs;
}

static int guard_db_version_put(store_conn_t *c, const char *key, int64_t v)
{
    store_val_t p[] = {STORE_TEXTV(key), STORE_INTV(v)};
    return store_query(c,
                       "INSERT INTO guard_meta (name, value) VALUES ($1, $2) "
                       "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                       p, 2, NULL, NULL);
}

int guard_db_load(store_conn_t *c, json_t **rules, int64_t *version, bool *seeded,
                  json_t **principals)
{
    json_t *meta = NULL, *prows = NULL;
    *rules = NULL;
    *principals = json_object();
    int rc = store_query(c,
                         "SELECT id, name, description, weight, enabled, match_json, created_ms, "
                         "updated_ms, owner, team FROM guard_rules ORDER BY id",
                         NULL, 0, rules, NULL);
    if (rc == 0)
        rc = store_query(c, "SELECT name, value FROM guard_meta", NULL, 0, &meta, NULL);
    if (rc == 0)
        rc = store_query(c, "SELECT id, trust, updated_ms, history FROM guard_principals", NULL, 0,
                         &prows, NULL);
    if (rc < 0)
        goto out;
    *version = 0;
    *seeded = false;
    size_t i;
    json_t *row;
    json_array_foreach(meta, i, row)
    {
        const char *k = json_string_value(json_object_get(row, "name"));
        json_int_t v = json_integer_value(json_object_get(row, "value"));
        if (k && strcmp(k, "rules_version") == 0)
            *version = v;
        if (k && strcmp(k, "seeded") == 0)
            *seeded = v != 0;
    }
    json_array_foreach(*rules, i, row)
    {
        json_t *m =
            json_loads(json_string_value(json_object_get(row, "match_json")) ?: "", 0, NULL);
        json_object_del(row, "match_json");
        json_object_set_new(row, "match", m ? m : json_object());
        json_object_set_new(row, "enabled",
                            json_boolean(json_integer_value(json_object_get(row, "enabled"))));
    }
    json_array_foreach(prows, i, row)
    {
        json_t *h = json_loads(json_string_value(json_object_get(row, "history")) ?: "", 0, NULL);
        json_t *t = json_object_get(row, "trust");
        json_object_set_new(*principals, json_string_value(json_object_get(row, "id")) ?: "",
                            json_pack("{s:f,s:O,s:o}", "trust", json_number_value(t), "updated_ms",
                                      json_object_get(row, "updated_ms"), "history",
                                      json_is_array(h) ? h : json_array()));
    }
out:
    json_decref(meta);
    json_decref(prows);
    if (rc < 0) {
        json_decref(*rules);
        json_decref(*principals);
        *rules = *principals = NULL;
    }
    return rc;
}

static int guard_db_rule_write(store_conn_t *c, const json_t *r)
{
    char *match = json_dumps(json_object_get(r, "match"), JSON_COMPACT | JSON_SORT_KEYS);
    if (!match)
        return STORE_EINVAL;
    store_val_t p[] = {
        STORE_INTV(json_integer_value(json_object_get(r, "id"))),
        STORE_TEXTV(json_string_value(json_object_get(r, "name"))),
        STORE_TEXTV(json_string_value(json_object_get(r, "description"))),
        STORE_INTV(json_integer_value(json_object_get(r, "weight"))),
        STORE_INTV(json_is_true(json_object_get(r, "enabled"))),
        STORE_TEXTV(match),
        STORE_INTV(json_integer_value(json_object_get(r, "created_ms"))),
        STORE_INTV(json_integer_value(json_object_get(r, "updated_ms"))),
        json_is_string(json_object_get(r, "owner"))
            ? STORE_TEXTV(json_string_value(json_object_get(r, "owner")))
            : STORE_NULLV,
        json_is_string(json_object_get(r, "team"))
            ? STORE_TEXTV(json_string_value(json_object_get(r, "team")))
            : STORE_NULLV,
    };
    int rc =
        store_query(c,
                    "INSERT INTO guard_rules (id, name, description, weight, enabled, match_json, "
                    "created_ms, updated_ms, owner, team) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
                    "ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = "
                    "excluded.description, weight = excluded.weight, enabled = "
                    "excluded.enabled, match_json = excluded.match_json, updated_ms = "
                    "excluded.updated_ms",
                    p, 10, NULL, NULL);
    free(match);
    return rc;
}

int guard_db_seed(store_conn_t *c, const json_t *rules, int64_t version)
{
    int rc = store_tx_begin(c);
    size_t i;
    json_t *r;
    json_array_foreach(rules, i, r) if (rc == 0) rc = guard_db_rule_write(c, r);
    if (rc == 0)
        rc = guard_db_version_put(c, "rules_version", version);
    if (rc == 0)
        rc = guard_db_version_put(c, "seeded", 1);
    if (rc == 0)
        return store_tx_commit(c);
    store_tx_rollback(c);
    return rc;
}

int guard_db_rule_put(store_conn_t *c, const json_t *rule, int64_t version)
{
    int rc = guard_db_rule_write(c, rule);
    return rc == 0 ? guard_db_version_put(c, "rules_version", version) : rc;
}

int guard_db_rule_delete(store_conn_t *c, int64_t id, int64_t version)
{
    store_val_t p[] = {STORE_INTV(id)};
    int rc = store_query(c, "DELETE FROM guard_rules WHERE id = $1", p, 1, NULL, NULL);
    return rc == 0 ? guard_db_version_put(c, "rules_version", version) : rc;
}

int guard_db_principal_put(store_conn_t *c, const char *id, const json_t *rec)
{
    char *hist = json_dumps(json_object_get(rec, "history"), JSON_COMPACT);
    if (!hist)
        return STORE_EINVAL;
    store_val_t p[] = {
        STORE_TEXTV(id), STORE_REALV(json_number_value(json_object_get(rec, "trust"))),
        STORE_INTV(json_integer_value(json_object_get(rec, "updated_ms"))), STORE_TEXTV(hist)};
    int rc = store_query(c,
                         "INSERT INTO guard_principals (id, trust, updated_ms, history) VALUES "
                         "($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET trust = excluded.trust, "
                         "updated_ms = excluded.updated_ms, history = excluded.history",
                         p, 4, NULL, NULL);
    free(hist);
    return rc;
}

int guard_db_verdicts_prune(store_conn_t *c, int64_t keep)
{
    store_val_t p[] = {STORE_INTV(keep)};
    return store_query(c,
                       "DELETE FROM guard_verdicts WHERE id <= "
                       "(SELECT MAX(id) FROM guard_verdicts) - $1",
                       p, 1, NULL, NULL);
}

int guard_db_verdict_insert(store_conn_t *c, const char *digest, const char *principal,
                            const char *source, const char *verdict, int64_t score,
                            const json_t *fired, int64_t rules_version, int64_t ts_ms)
{
    char *f = json_dumps(fired, JSON_COMPACT);
    if (!f)
        return STORE_EINVAL;
    store_val_t p[] = {STORE_INTV(ts_ms),
                       STORE_TEXTV(digest),
                       principal ? STORE_TEXTV(principal) : STORE_NULLV,
                       STORE_TEXTV(source),
                       STORE_TEXTV(verdict),
                       STORE_INTV(score),
                       STORE_TEXTV(f),
                       STORE_INTV(rules_version)};
    int rc = store_query(c,
                         "INSERT INTO guard_verdicts (ts_ms, digest, principal, source, verdict, "
                         "score, fired, rules_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                         p, 8, NULL, NULL);
    free(f);
    return rc;
}

/* what the vault backs up for this domain (core/backup.h) */
const backup_decl_t guard_backup = {
    "guard", BACKUP_LIST("guard_rules", "guard_principals", "guard_verdicts", "guard_meta"),
    BACKUP_NONE};
