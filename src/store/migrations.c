/* Every schema change ganglion has ever made, in order. store_migrate applies the ones a
 * database lacks, each in its own transaction, and refuses a database that has versions this
 * list does not know (it was written by a newer binary). */
#include "store/migrations.h"

/* How to add a migration (a new domain's tables, a new column, an index):
 *  - append an entry at the END with the next version number; never edit, reorder or delete
 *    an entry that has shipped, since databases in the field record its version as applied;
 *  - write sql_sqlite in SQL both backends accept where possible and leave sql_pg NULL; give
 *    sql_pg only where the dialects differ (auto ids, types, upserts);
 *  - statements are separated by ';' and all run in one transaction;
 *  - name it "<domain>_<what>" (e.g. "agents_create"); the name is recorded for people reading
 *    schema_migrations, the version is what counts.
 * Timestamps are integer epoch milliseconds (BIGINT), booleans 0/1 integers. */
static const store_migration_t platform_migrations[] = {
    {
        .version = 1,
        .name = "audit_log_create",
        .sql_sqlite = "CREATE TABLE audit_log ("
                      " id INTEGER PRIMARY KEY AUTOINCREMENT,"
                      " ts_ms BIGINT NOT NULL,"
                      " principal TEXT NOT NULL,"
                      " action TEXT NOT NULL,"
                      " target TEXT,"
                      " result INTEGER NOT NULL,"
                      " request_id TEXT,"
                      " transport TEXT,"
                      " peer TEXT,"
                      " detail TEXT);"
                      "CREATE INDEX audit_log_ts ON audit_log (ts_ms);"
                      "CREATE INDEX audit_log_principal ON audit_log (principal, ts_ms);"
                      "CREATE INDEX audit_log_action ON audit_log (action, ts_ms);",
        .sql_pg = "CREATE TABLE audit_log ("
                  " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                  " ts_ms BIGINT NOT NULL,"
                  " principal TEXT NOT NULL,"
                  " action TEXT NOT NULL,"
                  " target TEXT,"
                  " result INTEGER NOT NULL,"
                  " request_id TEXT,"
                  " transport TEXT,"
                  " peer TEXT,"
                  " detail TEXT);"
                  "CREATE INDEX audit_log_ts ON audit_log (ts_ms);"
                  "CREATE INDEX audit_log_principal ON audit_log (principal, ts_ms);"
                  "CREATE INDEX audit_log_action ON audit_log (action, ts_ms);",
    },
    /* Next: { .version = 2, .name = "<domain>_<what>", .sql_sqlite = "...", .sql_pg = NULL }, */
};

const store_migration_t *store_platform_migrations(size_t *n)
{
    *n = sizeof platform_migrations / sizeof platform_migrations[0];
    return platform_migrations;
}

/* what the vault backs up for the platform (core/backup.h) */
const backup_decl_t store_backup = {"audit", BACKUP_LIST("audit_log"), BACKUP_NONE};
