/* Brains: spiking networks grown from FEAGI genomes, hosted like agents — an id, a name, a
 * lifecycle (stopped, running, paused, failed), a burst thread per running brain, events on the
 * bus and a snapshot in the store. Loop thread only unless a function says otherwise. */
#ifndef GANGLION_BRAIN_H
#define GANGLION_BRAIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/backup.h"
#include "core/problem.h"
#include "store/store.h"

struct hub;
typedef struct brain_reg brain_reg_t; /* hub->brain: every brain of the daemon */
typedef struct brain brain_t;         /* one brain; owned by the registry */

#define BRAIN_ID_LEN       16 /* "b" + 15 hex digits */
#define BRAIN_NAME_MAX     64
#define BRAIN_HZ_MIN       0.01
#define BRAIN_HZ_MAX       1000.0
#define BRAIN_LEDGER_DEPTH 64 /* bursts kept in the fire ledger */

typedef enum {
    BRAIN_STOPPED = 0,
    BRAIN_RUNNING,
    BRAIN_PAUSED,
    BRAIN_FAILED,
} brain_status_t;

const char *brain_status_name(brain_status_t s);

/* ---- the domain's face to server/serve.c ---- */

/* Migrations 400-409 (static data) for server/schema.c. */
const store_migration_t *brain_migrations(size_t *n);
/* Its tables and data-directory files, for the vault (core/backup.h). */
extern const backup_decl_t brain_backup;
/* Creates hub->brain and loads the stored brains; those stored running run again. 0 or -1. */
int brain_start(struct hub *hub);
/* Registers the native and FEAGI endpoints and the metrics (brain_api.c). */
int brain_api_register(struct hub *hub);
/* Daemon shutdown: stops every burst thread and writes each brain's counters, keeping the
 * status it had (a running brain runs again after the restart). */
void brain_shutdown(struct hub *hub);
/* Writes still pending (serve.c's drain waits for them). */
bool brain_busy(const struct hub *hub);
void brain_destroy(struct hub *hub);

/* ---- the registry ---- */

/* Completion of an operation that writes the store: 0 once committed, or a problem (owned by
 * the callback). The brain may be gone by then when the operation was a delete. */
typedef void (*brain_done_fn)(problem_t *p, void *ud);

/* Creates a brain from a genome (stolen). seed 0 = derived from the id. Validates first
 * (422 with errors[] on a bad genome); *out is the new brain (borrowed). done runs once the
 * row is committed — and, with start, once the brain runs. 0 or a problem. */
problem_t *brain_create(brain_reg_t *r, const char *name, json_t *genome, uint64_t seed, bool start,
                        const char *owner, const char *team, brain_t **out, brain_done_fn done,
                        void *ud);
/* A shipped genome by name (file <brain.genome_dir>/<name>.json or <name>_genome.json).
 * New reference or NULL with *p set (404). */
json_t *brain_genome_shipped(brain_reg_t *r, const char *name, problem_t **p);
/* Names of the shipped genomes (new array). */
json_t *brain_genome_shipped_list(brain_reg_t *r);

brain_t *brain_find(brain_reg_t *r, const char *id_or_name);
/* brain.default, else the only/first brain; NULL when there is none. */
brain_t *brain_default(brain_reg_t *r);
size_t brain_count(const brain_reg_t *r);
brain_t *brain_at(brain_reg_t *r, size_t i);

problem_t *brain_delete(brain_reg_t *r, brain_t *b, brain_done_fn done, void *ud);
problem_t *brain_run_start(brain_t *b, brain_done_fn done, void *ud);
problem_t *brain_run_stop(brain_t *b, brain_done_fn done, void *ud);
problem_t *brain_run_pause(brain_t *b, brain_done_fn done, void *ud);
/* One burst on a brain that is paused or stopped (it is paused afterwards); done runs once the
 * burst is over. */
problem_t *brain_run_step(brain_t *b, brain_done_fn done, void *ud);
/* Bursts per second; applies at the next burst of a running brain. */
problem_t *brain_frequency_set(brain_t *b, double hz, brain_done_fn done, void *ud);
/* Sets one area's properties (FEAGI's names or gene names), or replaces the rules of one
 * mapping (rules: an array; empty removes it). Only the areas the edit touches are rebuilt; the
 * brain keeps its state and goes on in its status. 404/422 problems at once. */
problem_t *brain_area_update(brain_t *b, const char *area, json_t *props, brain_done_fn done,
                             void *ud);
problem_t *brain_mapping_update(brain_t *b, const char *src, const char *dst, json_t *rules,
                                brain_done_fn done, void *ud);
/* Replaces the genome after an edit (stolen): the network is rebuilt, the row written. */
problem_t *brain_genome_replace(brain_t *b, json_t *genome, brain_done_fn done, void *ud);

/* ---- reading a brain (borrowed values, valid until the next change on the loop) ---- */

const char *brain_id(const brain_t *b);
const char *brain_name(const brain_t *b);
brain_status_t brain_status(const brain_t *b);
json_t *brain_genome(const brain_t *b); /* borrowed: do not modify */
/* The genome in the flat 2.x form (a nested genome converted) that areas, mappings and edits
 * read; the same as brain_genome for a flat genome. Borrowed. */
json_t *brain_view(const brain_t *b);
double brain_frequency(const brain_t *b);
uint64_t brain_seed(const brain_t *b);
uint64_t brain_bursts(const brain_t *b);
uint64_t brain_overruns(const brain_t *b);
/* The brain as the API shows it: id, name, status, frequency_hz, burst_count, counts ... New. */
json_t *brain_to_json(const brain_t *b, bool detail);
/* The fire ledger: for each of the last `bursts` bursts (newest first) the neurons of `area`
 * that fired, as {burst, fired:[[x,y,z],...], count}. NULL area: counts of every area. New. */
json_t *brain_ledger_json(brain_t *b, const char *area, size_t bursts);

#endif
