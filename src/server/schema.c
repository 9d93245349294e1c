/* Merges the platform's and the domains' migrations into one sorted list. A domain contributes
 * a function returning its static array through its row in serve_domains (domains.h). */
#include "server/schema.h"

#include <stdio.h>
#include <stdlib.h>

#include "server/domains.h"
#include "store/migrations.h"

static size_t schema_add(store_migration_t *out, size_t count, const store_migration_t *m, size_t k)
{
    for (size_t i = 0; i < k; i++) {
        if (count == SCHEMA_MAX) {
            fprintf(stderr, "schema: more than %d migrations\n", SCHEMA_MAX);
            abort();
        }
        out[count++] = m[i];
    }
    return count;
}

static int schema_cmp(const void *a, const void *b)
{
    const store_migration_t *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

size_t schema_migrations(store_migration_t *out)
{
    size_t k;
    const store_migration_t *m = store_platform_migrations(&k); /* 1-99 */
    size_t count = schema_add(out, 0, m, k);
    for (size_t d = 0; d < serve_domains_count; d++) {
        m = serve_domains[d].migrations(&k);
        count = schema_add(out, count, m, k);
    }
    qsort(out, count, sizeof out[0], schema_cmp);
    for (size_t i = 1; i < count; i++) {
        if (out[i].version == out[i - 1].version) {
            fprintf(stderr, "schema: migration version %d is defined twice (%s, %s)\n",
                    out[i].version, out[i - 1].name, out[i].name);
            abort();
        }
    }
    return count;
}

size_t schema_backup_decls(const backup_decl_t **out, size_t max)
{
    size_t n = 0;
    if (n < max)
        out[n++] = &store_backup;
    for (size_t d = 0; d < serve_domains_count && n < max; d++)
        if (serve_domains[d].backup)
            out[n++] = serve_domains[d].backup;
    return n;
}
