/* The brain domain's shared internals: the registry and brain structs, the burst runner
 * (brain_run.c), the store (brain_store.c) and the genome's blueprint view (brain_blueprint.c).
 * Not for other modules: they use brain.h. */
#ifndef GANGLION_BRAIN_INTERNAL_H
#define GANGLION_BRAIN_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <uv.h>

#include "brain/brain.h"
#include "brain/brain_burst.h"

#define BRAIN_MAX_DEFAULT 16
#define BRAIN_FIRED_KEEP  4096 /* fired neurons kept per burst in the ledger */
#define BRAIN_AREAS_MAX   1024 /* cortical areas per genome */
#define BRAIN_BP_ID_MAX   32

/* ---- the blueprint view of a genome (pure, brain_blueprint.c) ---- */

typedef struct brain_bp_area {
    char id[BRAIN_BP_ID_MAX + 1];
    int64_t dim[3];
    int64_t per_voxel;
    uint64_t neurons; /* dim x * y * z * per_voxel */
} brain_bp_area_t;

/* The genome in the flat form (a nested `blueprint.cortical_areas` converted): the view every
 * reader below takes. New reference (the same genome when it is flat already). */
json_t *brain_bp_view(json_t *genome);
/* The areas of a genome's blueprint, in id order. New array (free()) of *n, or NULL with *n 0. */
brain_bp_area_t *brain_bp_areas(json_t *genome, size_t *n);
/* Splits a gene key `_____10c-<id>-<cx|nx>-<gene>-<type>`; false when it is not one. */
bool brain_bp_key_split(const char *key, char *id, size_t idlen, char *gene, size_t genelen,
                        char *type);
/* One area with FEAGI's property names (cortical_id, cortical_name, cortical_dimensions ...),
 * or NULL when the genome has no such area. New. */
json_t *brain_bp_area_json(json_t *genome, const char *area);
/* Sets properties given with FEAGI's names (or gene names) on an area of a copy of the genome:
 * new genome, or NULL with *p (404 unknown area, 422 unknown property or bad type). */
json_t *brain_bp_area_edit(json_t *genome, const char *area, json_t *props, problem_t **p);
/* Adds an area (FEAGI's names; cortical_id required) or removes one (and the mappings to it). */
json_t *brain_bp_area_add(json_t *genome, json_t *props, problem_t **p);
json_t *brain_bp_area_remove(json_t *genome, const char *area, problem_t **p);
/* Every mapping as {source, destination, rules:[...]}. New array. */
json_t *brain_bp_mappings(json_t *genome);
/* The mapping rules from src to dst (new array; empty when none). */
json_t *brain_bp_mapping_get(json_t *genome, const char *src, const char *dst);
/* Replaces them (an empty array removes the mapping): new genome or NULL with *p. */
json_t *brain_bp_mapping_set(json_t *genome, const char *src, const char *dst, json_t *rules,
                             problem_t **p);
/* The genome checked before a build: 422 with errors[] naming the gene key, or NULL. */
problem_t *brain_bp_validate(json_t *genome);

/* ---- the engine: network and bursts ---- */

typedef struct brain_engine brain_engine_t;
/* Grows the network (thread pool). 0, or a problem in *p. */
int brain_engine_build(json_t *genome, uint64_t seed, brain_engine_t **out, problem_t **p);
void brain_engine_destroy(brain_engine_t **e);
/* Threads the engine's large bursts run on (brain.burst_threads: 0 = auto, 1, 2) and the
 * smallest network that splits them (brain.burst_split_neurons). 0, or a problem in *p. */
int brain_engine_burst_config(brain_engine_t *e, unsigned threads, uint32_t split_neurons,
                              problem_t **p);
/* The burst threads, and the bursts split so far (any thread). */
unsigned brain_engine_burst_threads(const brain_engine_t *e, uint64_t *splits);
/* Loop thread: burst_threads and split_bursts of b's engine into o (the stats route). */
void brain_burst_stats_json(const brain_t *b, json_t *o);
uint64_t brain_engine_neurons(const brain_engine_t *e);
uint64_t brain_engine_synapses(const brain_engine_t *e);
size_t brain_engine_area_count(const brain_engine_t *e);
const char *brain_engine_area_id(const brain_engine_t *e, size_t i);

/* The engine of an edited genome grown from the running one, redoing only what the edit
 * changed (brain_net_derive), on the thread pool while `old` keeps bursting: `old` is only
 * read. 0, or a problem in *p. */
int brain_engine_derive(const brain_engine_t *old, json_t *genome, brain_engine_t **out,
                        problem_t **p);
/* What the derive that made e redid: synapses grown, copied row by row, shared as blocks. */
void brain_engine_derived(const brain_engine_t *e, uint64_t *grown, uint64_t *copied,
                          uint64_t *shared);
/* Between bursts: the neuron state of `from` carried into `to` for the areas they share. */
void brain_engine_state_carry(brain_engine_t *to, const brain_engine_t *from);

/* One burst's fire record: per-area counts and up to BRAIN_FIRED_KEEP fired neurons. */
typedef struct brain_fired {
    uint64_t burst;
    uint64_t duration_ns;
    size_t nareas;
    uint32_t *counts; /* [nareas] */
    size_t nfired;    /* kept in `fired` */
    uint32_t *fired;  /* [BRAIN_FIRED_KEEP * 4]: area index, x, y, z */
} brain_fired_t;

/* Runs one burst (burst thread) and records what fired into rec. */
void brain_engine_burst(brain_engine_t *e, brain_fired_t *rec);

/* Robot I/O (brain_io.c), on the burst thread. Stages points for the next burst into the area
 * named by 8 wire bytes ('_' or NUL padded): 0, -ENOENT (no such area) or brain_burst_stage's
 * -E2BIG. */
int brain_engine_stage_wire(brain_engine_t *e, const uint8_t wire[8], const brain_xyzp_t *pts,
                            size_t n, size_t *dropped);
/* Whether area is an output area (OPU), and its 8 wire bytes. */
bool brain_engine_area_output(const brain_engine_t *e, size_t area, uint8_t wire[8]);
/* The last burst's fired voxels of an area into out (at most cap); the count written. */
size_t brain_engine_area_motor(const brain_engine_t *e, size_t area, brain_xyzp_t *out, size_t cap);

/* ---- the registry and one brain ---- */

typedef struct brain_op brain_op_t; /* a client waiting for a change to be committed */

struct brain {
    brain_reg_t *reg;
    char id[BRAIN_ID_LEN + 1];
    char name[BRAIN_NAME_MAX + 1];
    char owner[96]; /* the principal that created it; "" = none (an admin's alone) */
    char team[65];  /* the team it is shared with; "" = none */
    json_t *genome; /* as uploaded or last edited: stored and downloaded */
    json_t *view;   /* brain_bp_view(genome): what areas, mappings and edits read */
    size_t nareas;  /* areas of the view */
    uint64_t genome_gen, genome_saved_gen; /* the genome is written only when it changed */
    uint64_t seed;
    brain_status_t status;
    char error[256]; /* why it failed */
    int64_t created_ms, status_ms;
    brain_engine_t *engine;     /* NULL until built; the build job's alone while building */
    uint64_t neurons, synapses; /* of the engine, as last built (read while building) */
    bool building;
    bool deleted;
    _Atomic double hz;
    _Atomic uint64_t bursts;
    _Atomic uint64_t overruns;
    uint64_t overruns_told; /* loop: overruns the last brain.<id>.overrun event reported */
    uint64_t overrun_told_ns;
    _Atomic uint64_t last_burst_ns;
    /* the burst thread */
    pthread_t thread;
    bool thread_live;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool quit;        /* under mu: the thread ends */
    bool paused;      /* under mu: no timed bursts */
    uint64_t steps;   /* under mu: single bursts asked for */
    uint64_t stepped; /* under mu: single bursts done */
    /* the fire ledger, under mu: BRAIN_LEDGER_DEPTH records, newest at ledger_next - 1 */
    brain_fired_t ledger[BRAIN_LEDGER_DEPTH];
    uint64_t ledger_n;
    uint64_t published_burst; /* loop: last burst put on the bus */
    uint64_t published_ns;
    /* robot I/O (brain_io.c): sensory inbox and motor frames, under mu; NULL until used */
    struct brain_io *io;
    /* waiting operations */
    brain_op_t *waiting;
    int writes; /* store writes in flight */
};

/* A Python FEAGI connector registered over HTTP (brain_api_feagi.c; in memory only). */
#define BRAIN_FEAGI_AGENTS_MAX 64
typedef struct brain_feagi_agent {
    char id[128];
    json_t *info;
} brain_feagi_agent_t;

struct brain_reg {
    struct hub *hub;
    bool feagi_open; /* brain.feagi_loopback_open, read when the routes are registered */
    brain_feagi_agent_t feagi_agents[BRAIN_FEAGI_AGENTS_MAX];
    size_t feagi_nagents;
    brain_t **v;
    size_t n, cap;
    uv_async_t wake; /* burst threads → loop: bursts done */
    bool wake_live;
    bool shutting_down;
    int writes;
    uint64_t created_total, bursts_published;
};

/* brain_run.c: the burst thread (loop side starts and stops it). */
int brain_thread_start(brain_t *b, bool paused);
void brain_thread_stop(brain_t *b);
void brain_thread_pause(brain_t *b, bool paused);
void brain_thread_step(brain_t *b);
/* Loop: after a wake, publishes activity and finishes waiting steps. */
void brain_run_drain(brain_reg_t *r);
void brain_ledger_free(brain_t *b);

/* brain.c: finishes operations waiting for a step. */
void brain_steps_done(brain_t *b, uint64_t stepped);

/* brain_store.c */
int brain_store_load(brain_reg_t *r, json_t **rows);
/* Writes the brain's row (or deletes it) on the pool; done on the loop with 0 or a problem. */
int brain_store_save(brain_t *b, bool remove, brain_done_fn done, void *ud);

#endif
