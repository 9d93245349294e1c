/* The network grown from a genome: neurons as struct-of-arrays, synapses in CSR blocks indexed
 * by source, one block per source area so an edit rebuilds only the areas it touched. Neuron
 * coordinates are not stored: neuron i of an area is voxel (i / npv) in x-fastest order, so
 * brain_net_neuron_coords derives them. Built on worker threads; pure (no loop, no store). */
#ifndef GANGLION_BRAIN_NET_H
#define GANGLION_BRAIN_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "brain/brain_genome.h"
#include "core/problem.h"

/* Synapse flags. */
#define BRAIN_SYN_INHIBITORY 1u

/* Outgoing synapses of one source area's neurons: off[i]..off[i+1] for its i-th neuron. */
typedef struct {
    uint32_t *off;    /* n_neurons + 1 */
    uint32_t *target; /* global neuron index */
    uint8_t *weight;  /* 0..255 */
    uint8_t *psp;     /* 0..255 */
    uint8_t *flags;   /* BRAIN_SYN_* */
    uint32_t n;       /* synapses in the block */
    /* Set when every synapse of the block has the same weight, PSP and flags (one mapping
     * weight, the usual case): the burst then reads the targets only. Whoever changes a
     * weight in place (plasticity) clears it. */
    bool uniform;
    /* Nets derived from one another share the blocks an edit did not touch: the holders count,
     * and the last brain_net_destroy frees the arrays. Blocks are immutable once built. */
    uint32_t *refs;
} brain_syn_block_t;

typedef struct {
    char id[BRAIN_AREA_ID_MAX + 1];
    uint32_t first, count; /* neuron range [first, first + count) */
    uint32_t dim[3], npv;
    bool output; /* OPU: its fired neurons become motor data */
    bool power;  /* the `_power` area: fed a constant input every burst */
    bool pspuni;
    brain_syn_block_t syn;
} brain_net_area_t;

/* Neuron state and parameters, one array per field, n_neurons long. */
typedef struct {
    uint32_t n_neurons;
    uint64_t n_synapses;
    uint32_t n_areas;
    brain_net_area_t *areas;
    uint16_t *area; /* neuron → area index */
    float *potential;
    float *threshold;    /* fire_t + position × ftinc */
    float *thr_limit;    /* 0 = none */
    float *leak;         /* 0..1 */
    float *excite;       /* probability 0..1 */
    uint16_t *refrac;    /* refractory period */
    uint16_t *countdown; /* refractory countdown */
    uint16_t *cfc;       /* consecutive fires */
    uint16_t *cfc_limit; /* 0 = none */
    uint16_t *snooze;
    uint8_t *accumulate; /* mp_acc */
    uint64_t seed;
} brain_net_t;

/* Builds the network of a validated genome with a seed (the randomizer, leak variability) on
 * `threads` worker threads (1 = the calling thread only). The same genome and seed build the same
 * network whatever the thread count. Returns 0 or a negative errno with *err set (-E2BIG when
 * the total neurons or synapses exceed the bounds: a 422 naming the area and its dstmap gene). */
int brain_net_build(const brain_genome_t *g, uint64_t seed, unsigned threads, brain_net_t **out,
                    problem_t **err);

/* In place, for a caller that owns the network outright (the daemon, whose burst thread runs the
 * network meanwhile, uses brain_net_derive instead).
 * After an edit: when ch->neurons is set the network is built anew (state lost); otherwise the
 * areas flagged in ch->areas get their parameters rewritten (state kept) and their outgoing
 * synapse blocks rebuilt, and every other block is kept as it is. */
int brain_net_rebuild(brain_net_t *n, const brain_genome_t *g, const brain_change_t *ch,
                      unsigned threads, problem_t **err);

/* What brain_net_derive did: synapses grown by the morphologies, copied from the old network's
 * rows (renumbered when the layout moved) and shared with it as whole blocks; neurons whose
 * parameters were written from the genome rather than copied. */
typedef struct {
    uint64_t grown, copied, shared;
    uint64_t neurons_written;
} brain_net_derive_stats_t;

/* Builds the network of genome g (validated) from `old`, the network of genome old_g with the
 * same seed, redoing only what differs between the two genomes: a mapping (source, destination)
 * is grown again when its rules, a morphology it uses or either area's geometry changed, every
 * other mapping's synapses are copied from the old rows (or the whole block shared), and neuron
 * parameters are written only for areas whose genes changed. The result is identical to
 * brain_net_build(g, seed), neuron state at rest included. `old`'s parameters and synapses are
 * only read (its blocks' holder counts excepted) and its state not at all, so a burst thread may
 * keep running it meanwhile; brain_net_state_carry then takes the state over at the swap. */
int brain_net_derive(const brain_net_t *old, const brain_genome_t *old_g, const brain_genome_t *g,
                     unsigned threads, brain_net_t **out, brain_net_derive_stats_t *st,
                     problem_t **err);
/* Copies the state of `from`'s areas into `to`'s areas with the same id and geometry. */
void brain_net_state_carry(brain_net_t *to, const brain_net_t *from);

void brain_net_destroy(brain_net_t **n);

/* Voxel coordinates of a neuron within its area (its area index is n->area[neuron]). */
void brain_net_neuron_coords(const brain_net_t *n, uint32_t neuron, uint32_t xyz[3]);
/* Index of an area by id, -1 when absent. */
int brain_net_area_find(const brain_net_t *n, const char *id);
/* Bytes the network holds (arrays only): for the stats and the benchmark. */
size_t brain_net_bytes(const brain_net_t *n, size_t *neuron_bytes, size_t *synapse_bytes);

#endif
