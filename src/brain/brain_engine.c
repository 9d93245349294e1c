/* The engine behind a brain: the genome parsed and grown into a network by the pure core
 * (brain_genome.h, brain_net.h) and run burst by burst (brain_burst.h); each burst's fired set
 * summarised per area for the fire ledger. Runs on the thread pool (build) and the burst thread. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "brain/brain_burst.h"
#include "brain/brain_genome.h"
#include "brain/brain_internal.h"
#include "brain/brain_net.h"

#define BRAIN_ENGINE_THREADS 2 /* build threads: the machine's share */

struct brain_engine {
    brain_genome_t *g;
    brain_net_t *net;
    brain_burst_t *burst;
    brain_net_derive_stats_t derived; /* what the last derive redid (zero after a build) */
};

int brain_engine_build(json_t *genome, uint64_t seed, brain_engine_t **out, problem_t **p)
{
    *out = NULL;
    brain_engine_t *e = calloc(1, sizeof *e);
    json_t *doc = json_deep_copy(genome);
    if (!e || !doc) {
        free(e);
        json_decref(doc);
        *p = problem_new(503, "out-of-memory", "no memory to build the brain");
        return -1;
    }
    if (brain_genome_from_json(doc, &e->g, p) < 0 ||
        brain_net_build(e->g, seed, BRAIN_ENGINE_THREADS, &e->net, p) < 0) {
        brain_engine_destroy(&e);
        return -1;
    }
    e->burst = brain_burst_new(e->net, seed, 16);
    if (!e->burst) {
        brain_engine_destroy(&e);
        *p = problem_new(503, "out-of-memory", "no memory for the burst engine");
        return -1;
    }
    *out = e;
    return 0;
}

void brain_engine_destroy(brain_engine_t **pe)
{
    brain_engine_t *e = *pe;
    if (!e)
        return;
    brain_burst_destroy(&e->burst);
    brain_net_destroy(&e->net);
    brain_genome_destroy(&e->g);
    free(e);
    *pe = NULL;
}

int brain_engine_burst_config(brain_engine_t *e, unsigned threads, uint32_t split_neurons,
                              problem_t **p)
{
    brain_burst_threads_set(e->burst, threads);
    if (brain_burst_split_neurons_set(e->burst, split_neurons) < 0) {
        *p = problem_new(503, "out-of-memory", "no memory for the burst engine");
        return -1;
    }
    return 0;
}

unsigned brain_engine_burst_threads(const brain_engine_t *e, uint64_t *splits)
{
    *splits = brain_burst_splits(e->burst, NULL);
    return brain_burst_threads(e->burst);
}

uint64_t brain_engine_neurons(const brain_engine_t *e)
{
    return e->net->n_neurons;
}

uint64_t brain_engine_synapses(const brain_engine_t *e)
{
    return e->net->n_synapses;
}

size_t brain_engine_area_count(const brain_engine_t *e)
{
    return e->net->n_areas;
}

const char *brain_engine_area_id(const brain_engine_t *e, size_t i)
{
    return e->net->areas[i].id;
}

void brain_engine_burst(brain_engine_t *e, brain_fired_t *rec)
{
    brain_burst_step(e->burst);
    uint32_t n = 0;
    const float *pot = NULL;
    const uint32_t *fired = brain_burst_fired(e->burst, &n, &pot);
    memset(rec->counts, 0, rec->nareas * sizeof *rec->counts);
    rec->nfired = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t a = e->net->area[fired[i]];
        if (a < rec->nareas)
            rec->counts[a]++;
        if (rec->nfired < BRAIN_FIRED_KEEP) {
            uint32_t *f = &rec->fired[4 * rec->nfired++];
            f[0] = a;
            brain_net_neuron_coords(e->net, fired[i], f + 1);
        }
    }
}

int brain_engine_derive(const brain_engine_t *old, json_t *genome, brain_engine_t **out,
                        problem_t **p)
{
    *out = NULL;
    brain_engine_t *e = calloc(1, sizeof *e);
    json_t *doc = json_deep_copy(genome);
    if (!e || !doc) {
        free(e);
        json_decref(doc);
        *p = problem_new(503, "out-of-memory", "no memory to rebuild the brain");
        return -1;
    }
    brain_net_derive_stats_t st = {0};
    if (brain_genome_from_json(doc, &e->g, p) < 0 ||
        brain_net_derive(old->net, old->g, e->g, BRAIN_ENGINE_THREADS, &e->net, &st, p) < 0) {
        brain_engine_destroy(&e);
        return -1;
    }
    e->burst = brain_burst_new(e->net, e->net->seed, 16);
    if (!e->burst) {
        brain_engine_destroy(&e);
        *p = problem_new(503, "out-of-memory", "no memory for the burst engine");
        return -1;
    }
    e->derived = st;
    *out = e;
    return 0;
}

void brain_engine_derived(const brain_engine_t *e, uint64_t *grown, uint64_t *copied,
                          uint64_t *shared)
{
    *grown = e->derived.grown;
    *copied = e->derived.copied;
    *shared = e->derived.shared;
}

void brain_engine_state_carry(brain_engine_t *to, const brain_engine_t *from)
{
    brain_net_state_carry(to->net, from->net);
}

/* ---- robot I/O (brain_io.c; the burst thread) ---- */

int brain_engine_stage_wire(brain_engine_t *e, const uint8_t wire[BRAIN_AREA_WIRE_LEN],
                            const brain_xyzp_t *pts, size_t n, size_t *dropped)
{
    uint8_t w[BRAIN_AREA_WIRE_LEN];
    for (size_t i = 0; i < BRAIN_AREA_WIRE_LEN; i++) /* NUL padding reads as '_' padding */
        w[i] = wire[i] ? wire[i] : '_';
    ssize_t a = brain_genome_area_find_wire(e->g, w);
    if (a < 0)
        return -ENOENT;
    return brain_burst_stage(e->burst, (uint32_t)a, pts, n, dropped);
}

bool brain_engine_area_output(const brain_engine_t *e, size_t area, uint8_t wire[8])
{
    if (area >= e->net->n_areas || !e->net->areas[area].output)
        return false;
    brain_area_id_to_wire(e->net->areas[area].id, wire);
    return true;
}

size_t brain_engine_area_motor(const brain_engine_t *e, size_t area, brain_xyzp_t *out, size_t cap)
{
    size_t total = 0;
    return brain_burst_area_xyzp(e->burst, (uint32_t)area, out, cap, &total);
}
