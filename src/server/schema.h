/* The whole schema this binary knows: the platform's migrations and every domain's, merged into
 * one list sorted by version. Version ranges keep domains apart: platform 1-99, auth 100-199,
 * agents 200-299, watch 300-399; later domains take the next hundred (server/domains.h). */
#ifndef GANGLION_SCHEMA_H
#define GANGLION_SCHEMA_H

#include <stddef.h>

#include "store/store.h"

#define SCHEMA_MAX 256

/* Fills out (room for SCHEMA_MAX) with every migration, sorted; returns the count. Aborts on a
 * duplicate version: that is a programming error caught by every test run. */
size_t schema_migrations(store_migration_t *out);

#endif
