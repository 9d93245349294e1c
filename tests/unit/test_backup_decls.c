/* The backup declarations (core/backup.h): every table the daemon's migrations create belongs to
 * exactly one domain's declaration, so a PostgreSQL backup exports all of ganglion's data and a
 * new table that no domain declares fails here rather than going missing from backups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/schema.h"
#include "store/store.h"

static const char *decl_owner(const backup_decl_t *const *decls, size_t n, const char *table,
                              int *owners)
{
    const char *owner = NULL;
    *owners = 0;
    for (size_t d = 0; d < n; d++)
        for (const char *const *t = decls[d]->tables; *t; t++)
            if (!strcmp(*t, table)) {
                owner = decls[d]->domain;
                (*owners)++;
            }
    return owner;
}

static void test_every_migrated_table_is_declared_once(void **state)
{
    (void)state;
    char path[256], url[300], err[512];
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(path, sizeof path, "%s/ganglion-test-decls-%d.db", tmp, (int)getpid());
    unlink(path);
    snprintf(url, sizeof url, "sqlite:%s", path);
    store_options_t opt = {.pool_size = 1, .busy_timeout_ms = 5000};
    store_t *s = NULL;
    if (store_open(url, &opt, &s, err, sizeof err) < 0)
        fail_msg("store_open: %s", err);
    store_migration_t migs[SCHEMA_MAX];
    size_t nm = schema_migrations(migs);
    if (store_migrate(s, migs, nm, err, sizeof err) < 0)
        fail_msg("store_migrate: %s", err);

    const backup_decl_t *decls[SCHEMA_BACKUP_MAX];
    size_t n = schema_backup_decls(decls, SCHEMA_BACKUP_MAX);
    assert_true(n >= 8); /* the platform and seven domains */

    store_conn_t *c = store_conn_acquire(s);
    json_t *rows = NULL;
    assert_int_equal(store_query(c,
                                 /* a full-text index (a virtual table and its shadow tables)
                                  * is SQLite's derived copy of a declared table, not data */
                                 "SELECT name FROM sqlite_master t WHERE type = 'table' AND name "
                                 "NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' AND NOT "
                                 "EXISTS (SELECT 1 FROM sqlite_master v WHERE v.sql LIKE "
                                 "'CREATE VIRTUAL TABLE%' AND (t.name = v.name OR t.name LIKE "
                                 "v.name || '\\_%' ESCAPE '\\'))",
                                 NULL, 0, &rows, NULL),
                     0);
    store_conn_release(s, c);
    assert_true(json_array_size(rows) >= 16);
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        const char *table = json_string_value(json_object_get(r, "name"));
        int owners = 0;
        const char *owner = decl_owner(decls, n, table, &owners);
        if (owners != 1)
            fail_msg("table %s is declared by %d domains (%s): declare it once, beside the "
                     "migration that creates it (core/backup.h)",
                     table, owners, owner ? owner : "none");
    }
    /* and nothing declared that no migration creates */
    for (size_t d = 0; d < n; d++)
        for (const char *const *t = decls[d]->tables; *t; t++) {
            bool found = false;
            json_array_foreach(rows, i, r) found =
                found || !strcmp(json_string_value(json_object_get(r, "name")), *t);
            if (!found)
                fail_msg("domain %s declares table %s, which no migration creates",
                         decls[d]->domain, *t);
        }
    json_decref(rows);
    store_close(&s);
    for (const char *ext = ""; ext; ext = !*ext ? "-wal" : !strcmp(ext, "-wal") ? "-shm" : NULL) {
        char f[300];
        snprintf(f, sizeof f, "%s%s", path, ext);
        unlink(f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_migrated_table_is_declared_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
