/* Agents: child processes supervised by ganglion — spawned from a spec, observed through their
 * output rings and lifecycle states, controlled over the endpoint registry (agents_api.c).
 * The whole module lives on the loop thread; the daemon reaches it only through this header. */
#ifndef GANGLION_AGENTS_H
#define GANGLION_AGENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/backup.h"
#include "store/store.h"

struct hub;

/* Creates hub->agents, marks agents the store still shows as running as `lost` and starts
 * reaping children. 0 or -1 (logged). Call after the store is migrated. */
int agents_start(struct hub *hub);

/* Registers the agents endpoints and metrics (agents_api.c). After agents_start. 0 or -1. */
int agents_api_register(struct hub *hub);

/* Daemon shutdown: refuse new spawns, stop every live agent (SIGTERM to its group, then SIGKILL
 * after the grace period). */
void agents_shutdown(struct hub *hub);

/* True while agents are still being stopped or their final state is being written; serve.c's
 * drain waits for it (bounded by the shutdown grace). */
bool agents_busy(const struct hub *hub);

/* Kills what is left, closes every handle and frees hub->agents (sets it NULL). Runs the loop
 * briefly to finish closing handles. */
void agents_destroy(struct hub *hub);

/* Migrations 200-299 (static data) for server/schema.c. */
const store_migration_t *agents_migrations(size_t *n);
/* Its tables and data-directory files, for the vault (core/backup.h). */
extern const backup_decl_t agents_backup;

/* What other domains reach through the hub (serve.c wires these into hub_t; agents_port.c):
 * visit every agent that runs with its stdin open, and write a line to one's stdin. */
void agents_each_live(struct hub *hub,
                      void (*fn)(void *ud, const char *id, const char *name,
                                 const json_t *capabilities),
                      void *ud);
int agents_stdin_line(struct hub *hub, const char *id, const char *line, size_t len);

#endif
