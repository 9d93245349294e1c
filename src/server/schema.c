/* Merges the platform's and the domains' migrations into one sorted list. A domain contributes
 * a function returning its static array; adding a domain means adding one line to `sources`. */
#include "server/schema.h"

#include <stdio.h>
#include <stdlib.h>

#include "agents/agents.h"
#include "auth/auth.h"
#include "store/migrations.h"
#include "watch/watch.h"

typedef const store_migration_t *(*schema_source_fn)(size_t *n);

static const schema_source_fn schema_sources[] = {
    store_platform_migrations, /* 1-99 */
    auth_migrations,           /* 100-199 */
    agents_migrations,         /* 200-299 */
    watch_migrations,          /* 300-399 */
};

static int schema_cmp(const void *a, const void *b)
{
    const store_migration_t *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

size_t schema_migrations(store_migration_t *out)
{
    size_t count = 0;
    for (size_t s = 0; s < sizeof schema_sources / sizeof schema_sources[0]; s++) {
        size_t k;
        const store_migration_t *m = schema_sources[s](&k);
        for (size_t i = 0; i < k; i++) {
            if (count == SCHEMA_MAX) {
                fprintf(stderr, "schema: more than %d migrations\n", SCHEMA_MAX);
                abort();
            }
            out[count++] = m[i];
        }
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
