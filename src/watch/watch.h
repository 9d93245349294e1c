/* watch: compression-based anomaly detection as a service — named streams fed over HTTP, OTLP
 * and the bus (agents' output), scored on the thread pool by cbad, anomalies persisted with
 * their evidence, a review workflow, signed evidence export and a live feed on the bus. */
#ifndef GANGLION_WATCH_H
#define GANGLION_WATCH_H

#include <jansson.h>
#include <stddef.h>

#include "core/backup.h"
#include "store/store.h"

struct hub;

/* Creates hub->watch, loads the persisted streams, loads or creates the signing key in the data
 * dir and subscribes to agents' output when enabled. 0, or -1 after logging why (the daemon then
 * refuses to start). */
int watch_start(struct hub *hub);

/* Registers the watch endpoints and metrics (watch_api.c). After watch_start. 0 or -1. */
int watch_api_register(struct hub *hub);

/* A hub_output_fn (core/hub.h): one line an agent printed, scored as an event of the stream
 * agent.<id> (or the stream its watch=NAME label names) when watch.agents says so: by default
 * for agents with a watch label. ud is hub->watch. */
void watch_agent_output(void *ud, const char *agent_id, const json_t *labels, const char *line,
                        size_t len);

/* Stops taking events: ingest answers 503 and no new scoring job starts. Jobs already running
 * finish on the loop (their anomalies are still stored). */
void watch_shutdown(struct hub *hub);

/* Frees hub->watch (after the loop has run dry). Safe when watch_start never ran. */
void watch_destroy(struct hub *hub);

/* ---- evidence bundles (also used offline by `ganglion watch verify`) ---- */

/* The bytes a bundle's signature covers: the bundle without "signature", keys sorted, compact,
 * non-ASCII escaped. Caller frees; NULL on out-of-memory. */
char *watch_bundle_canonical(const json_t *bundle, size_t *len);
/* 0 when the bundle's Ed25519 signature verifies under pk; else -1 with err in words. */
int watch_bundle_verify(const json_t *bundle, const unsigned char pk[32], char *err, size_t errlen);
/* A public key as 64 hex digits or 44 base64 characters (surrounding whitespace allowed). 0/-1. */
int watch_key_parse(const char *text, unsigned char pk[32]);
/* {algorithm, key_id, public_key (base64), canonicalization}: a new reference. */
json_t *watch_public_key_json(const unsigned char pk[32]);

/* The domain's migrations (versions 300-399), for src/server/schema.c. */
const store_migration_t *watch_migrations(size_t *n);
/* Its tables and data-directory files, for the vault (core/backup.h). */
extern const backup_decl_t watch_backup;

#endif
