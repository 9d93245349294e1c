/* The whole schema this binary knows: the platform's migrations and every domain's, merged into
 * one list sorted by version. Version ranges keep domains apart: platform 1-99, auth 100-199,
 * agents 200-299, watch 300-399; later domains take the next hundred (server/domains.h). */
#ifndef GANGLION_SCHEMA_H
#define GANGLION_SCHEMA_H

#include <stddef.h>

#include "core/backup.h"
#include "store/store.h"

#define SCHEMA_MAX 256

/* Fills out (room for SCHEMA_MAX) with every migration, sorted; returns the count. Aborts on a
 * duplicate version: that is a programming error caught by every test run. */
size_t schema_migrations(store_migration_t *out);

/* What the platform and every domain contribute to a backup (core/backup.h), in domain order:
 * fills out (room for max) and returns the count. Borrowed, static. */
#define SCHEMA_BACKUP_MAX 32
size_t schema_backup_decls(const backup_decl_t **out, size_t max);

#endif
