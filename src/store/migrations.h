/* The platform's schema: the ordered list of migrations store_migrate applies at start.
 * Domains add their tables by appending to the list in migrations.c. */
#ifndef GANGLION_MIGRATIONS_H
#define GANGLION_MIGRATIONS_H

#include <stddef.h>

#include "core/backup.h"
#include "store/store.h"

/* The migrations this binary knows, sorted by version; *n receives the count. Static data. */
const store_migration_t *store_platform_migrations(size_t *n);
/* The platform's tables (the audit log), for the vault (core/backup.h). */
extern const backup_decl_t store_backup;

#endif
