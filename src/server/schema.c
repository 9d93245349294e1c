/* Merges the platform's and the domains' migrations into one sorted list. A domain contributes
 * a function returning its static array; adding a domain means adding one line to `sources`. */
#include "server/schema.h"

#include <stdio.h>
#include <stdlib.h>

#include "store/migrations.h"

typedef const store_migration_t *(*schema_source_fn)(size_t *n);

static const schema_source_fn schema_sources[] = {
    store_platform_migrations,
};

#define SCHEMA_MAX 256

static store_migration_t schema_all[SCHEMA_MAX];
static size_t schema_count;

static int schema_cmp(const void *a, const void *b)
{
    const store_migration_t *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

const store_migration_t *schema_migrations(size_t *n)
{
    if (schema_count == 0) {
        for (size_t s = 0; s < sizeof schema_sources / sizeof schema_sources[0]; s++) {
            size_t k;
            const store_migration_t *m = schema_sources[s](&k);
            for (size_t i = 0; i < k; i++) {
                if (schema_count == SCHEMA_MAX) {
                    fprintf(stderr, "schema: more than %d migrations\n", SCHEMA_MAX);
                    abort();
                }
                schema_all[schema_count++] = m[i];
            }
        }
        qsort(schema_all, schema_count, sizeof schema_all[0], schema_cmp);
        for (size_t i = 1; i < schema_count; i++) {
            if (schema_all[i].version == schema_all[i - 1].version) {
                fprintf(stderr, "schema: migration version %d is defined twice (%s, %s)\n",
                        schema_all[i].version, schema_all[i - 1].name, schema_all[i].name);
                abort();
            }
        }
    }
    *n = schema_count;
    return schema_all;
}
