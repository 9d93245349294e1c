/* The memory domain: agents' and people's records in five layers (short-term, working, episodic,
 * semantic, long-term), searched by full text and by embedding similarity, pruned per layer.
 * docs/memory.md describes the API; the daemon wires it through server/serve.c. */
#ifndef GANGLION_MEMORY_H
#define GANGLION_MEMORY_H

#include <stdbool.h>
#include <stddef.h>

#include "core/backup.h"
#include "store/store.h"

struct hub;

/* Migrations 600-609. */
const store_migration_t *memory_migrations(size_t *n);
/* Its tables and data-directory files, for the vault (core/backup.h). */
extern const backup_decl_t memory_backup;
/* Creates hub->memory, loads the vector index from the store and starts retention. 0 or -1. */
int memory_start(struct hub *hub);
/* Endpoints and metrics (memory_api.c). */
int memory_api_register(struct hub *hub);
/* Stops retention; in-flight jobs finish. */
void memory_shutdown(struct hub *hub);
bool memory_busy(const struct hub *hub);
void memory_destroy(struct hub *hub);

#endif
