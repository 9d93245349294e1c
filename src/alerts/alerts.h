/* Alerts: rules over bus events and metrics that put notifications into a durable outbox, and
 * the notifiers that deliver them (webhooks, chat webhooks, commands) with retries, backoff and
 * dead letters. The domain's public face (docs/alerts.md). */
#ifndef GANGLION_ALERTS_ALERTS_H
#define GANGLION_ALERTS_ALERTS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/backup.h"
#include "store/store.h"

struct hub;

/* Its migrations (versions 900-909). */
const store_migration_t *alerts_migrations(size_t *n);
/* Creates the state, loads rules, notifiers and the outbox's pending notifications, subscribes
 * to the bus and starts the delivery timer. 0 / -1. */
int alerts_start(struct hub *hub);
/* Registers the endpoints and metrics (alerts_api.c). After alerts_start. 0 / -1. */
int alerts_api_register(struct hub *hub);
/* Starts no new delivery; those running finish (bounded by alerts.timeout_ms). */
void alerts_shutdown(struct hub *hub);
/* Deliveries or outbox writes still running. */
bool alerts_busy(const struct hub *hub);
void alerts_destroy(struct hub *hub);

/* what the vault backs up for this domain (core/backup.h) */
extern const backup_decl_t alerts_backup;

#endif
