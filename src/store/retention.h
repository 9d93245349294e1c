/* Retention: one timer that runs the purges the domains registered — old anomalies, audit rows,
 * finished tasks, ... — in bounded batches on the store's thread pool, one batch in flight at a
 * time and the loop free between batches, so tables stop growing without a long statement or a
 * request ever waiting on one. Rows removed are counted per kind in /metrics. */
#ifndef GANGLION_RETENTION_H
#define GANGLION_RETENTION_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/hub.h"
#include "store/store.h"

#define RETENTION_PURGES_MAX 16 /* registered purges (a fixed set, one or two per domain) */

typedef struct retention retention_t;

/* One batch's inputs and its result. cfg is the pass's own copy of the configuration (settings
 * reloaded during a pass apply from the next one); removed is set by the purge. */
typedef struct retention_batch {
    const config_t *cfg;
    int64_t now_ms;
    int limit;       /* rows one statement may remove (retention.batch) */
    int64_t removed; /* out: rows removed (or changed) by this batch */
} retention_batch_t;

/* Runs one batch on a pooled connection, on the thread pool: removes at most b->limit rows and
 * sets b->removed. A batch that removes b->limit rows is run again after the loop had a turn;
 * fewer ends this purge for the pass. 0 or a negative store error (logged; the pass moves on). */
typedef int (*retention_purge_fn)(store_conn_t *c, retention_batch_t *b, void *ud);
/* Called on the loop after a purge finished its pass (may be NULL): what a domain keeps in
 * memory of the rows removed follows (finished tasks older than the cut leave memory too). */
typedef void (*retention_after_fn)(void *ud, const config_t *cfg, int64_t now_ms);

/* Creates the scheduler for hub->store on hub->loop; nothing runs until retention_start.
 * 0 or -ENOMEM. The caller owns *out (retention_destroy). */
int retention_new(hub_t *hub, retention_t **out);
/* Adds a purge counted under `kind` (a static string: "audit", "anomalies", ...; several purges
 * may share a kind); fn NULL: a purge the domain does itself in after, on the loop (counted with
 * retention_count). 0, or -ENOSPC past RETENTION_PURGES_MAX. Before retention_start. */
int retention_purge_add(retention_t *r, const char *kind, retention_purge_fn fn,
                        retention_after_fn after, void *ud);
/* Adds n to the removed count of kind (a domain that removes some of its rows itself, from an
 * after callback). Loop thread. */
void retention_count(retention_t *r, const char *kind, int64_t n);
/* Declares the metrics and starts the timer (retention.interval_ms; 0 = never). */
int retention_start(retention_t *r);
/* Runs a pass now unless one runs (tests, the first pass after start). */
void retention_pass_begin(retention_t *r);
/* Stops the timer; the batch in flight finishes, no other begins. */
void retention_stop(retention_t *r);
/* 1 while a batch is in flight, else 0 (the drain waits for it). */
int retention_busy(const retention_t *r);
/* Frees r; a batch still in flight frees the state when it returns. */
void retention_destroy(retention_t **r);

#endif
