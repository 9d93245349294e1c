/* Tasks: work handed to agents and its result. A task is queued, leased by a worker that asks
 * for work over the API (POST /api/v1/tasks/lease), heartbeated and completed exactly once;
 * every transition is committed before a client hears of it. The domain's public face. */
#ifndef GANGLION_TASKS_TASKS_H
#define GANGLION_TASKS_TASKS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/backup.h"
#include "store/store.h"

struct hub;

/* Its migrations (versions 700-709, and 710: the chat history of src/net/ws_chat_store.c). */
const store_migration_t *tasks_migrations(size_t *n);
/* Its tables and data-directory files, for the vault (core/backup.h). */
extern const backup_decl_t tasks_backup;
/* Creates the state and loads the stored tasks (those in flight go back to the queue). 0/-1. */
int tasks_start(struct hub *hub);
/* Registers the endpoints (tasks_api.c). After tasks_start. 0 or -1. */
int tasks_api_register(struct hub *hub);
/* Stops taking work: long-polls answered, held replies wait for their commit. */
void tasks_shutdown(struct hub *hub);
/* Transitions not yet committed. */
bool tasks_busy(const struct hub *hub);
void tasks_destroy(struct hub *hub);

/* A stdout line of an agent that is a task message (task_progress, task_result): serve.c
 * wires it as the hub's agent_task_line with the hub's tasks as ud. */
void tasks_agent_line(void *ud, const char *agent_id, const json_t *msg);

#endif
