/* The guard domain: weighted rules that score an action before it runs (words, regular
 * expressions, conditions on a structured action), verdicts (allow, review, deny), the gate in
 * front of agents' spawn, stdin and custom actions, and a trust score per principal moved by
 * verdicts and decaying back to the default. docs/guard.md. */
#ifndef GANGLION_GUARD_H
#define GANGLION_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "core/backup.h"
#include "store/store.h"

struct hub;

/* The domain's migrations (versions 500-509), for src/server/schema.c. */
const store_migration_t *guard_migrations(size_t *n);
/* Its tables and data-directory files, for the vault (core/backup.h). */
extern const backup_decl_t guard_backup;
/* Loads the rules (creating the shipped defaults on the first start), their version and the
 * principals' trust into hub->guard. 0 or -1 (logged). */
int guard_start(struct hub *hub);
/* Registers the guard endpoints, metrics and the agents' gate (guard_api.c). 0 or -1. */
int guard_api_register(struct hub *hub);
/* A hub_gate_fn (core/hub.h) for agents: evaluates the action when guard.gate (or the agent's
 * guard label) says so; deny refuses (403), review holds it until an operator decides or
 * guard.review_timeout_ms passes. ud is hub->guard. */
int guard_agent_gate(void *ud, const json_t *action, const char *principal,
                     void (*resume)(void *resume_ud, struct problem *refusal), void *resume_ud,
                     struct problem **refusal);
/* A hub_task_gate_fn (core/hub.h) for task submissions, under the same guard.gate rule as
 * agents (the task's labels): deny refuses (403 guard-denied); review refuses too (403
 * guard-review-unsupported) — a submission is not held. NULL = allowed. ud is hub->guard. */
struct problem *guard_task_gate(void *ud, const json_t *submission, const char *principal);
/* Refuses the actions still held for review (the daemon stops). */
void guard_shutdown(struct hub *hub);
/* Frees hub->guard. Safe when guard_start never ran. */
void guard_destroy(struct hub *hub);

#endif
