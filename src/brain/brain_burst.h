/* The burst engine: one brain's running state on a network (brain_net.h). A burst follows
 * feagi-core's process_burst as docs/brain.md "The model" describes it; the same network, seed
 * and staged inputs give the same fired sets bit for bit, on one burst thread or two. Not
 * thread-safe: one thread runs bursts and stages input (the burst thread of brain-domain; a
 * large burst may hand half its propagation to the engine's own worker thread and waits for it);
 * readers copy what they need between bursts under the owner's lock. */
#ifndef GANGLION_BRAIN_BURST_H
#define GANGLION_BRAIN_BURST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "brain/brain_net.h"

/* A sensory or motor point: voxel coordinates and a value. For input, p is added to the
 * potential input of every neuron of that voxel; for output, p is the potential that fired. */
typedef struct {
    uint32_t x, y, z;
    float p;
} brain_xyzp_t;

#define BRAIN_LEDGER_MAX       1024u      /* bursts the fire ledger can keep */
#define BRAIN_STAGE_MAX_POINTS (1u << 22) /* staged points per burst, all areas together */
/* A burst whose fired set is expected to deliver at least this many synapses (fired neurons ×
 * the network's mean out-degree), in a network of at least BRAIN_BURST_SPLIT_NEURONS neurons
 * (changeable: brain_burst_split_neurons_set), propagates in two halves, the second summed
 * apart; with two burst threads the halves run at once. Below 2^19 neurons the input array
 * (4 bytes a neuron) stays in a core's cache, and a second one costs more than a second thread
 * saves (docs/benchmarks.md). */
#define BRAIN_BURST_SPLIT_DELIVERIES 100000u
#define BRAIN_BURST_SPLIT_NEURONS    (1u << 19)

typedef struct brain_burst brain_burst_t;

/* New engine on `net` (borrowed: it must outlive the engine; after brain_net_rebuild call
 * brain_burst_net_changed). `ledger_depth` bursts are kept (1..BRAIN_LEDGER_MAX). The excitability
 * draws come from a generator seeded with `seed`. Returns NULL on OOM. */
brain_burst_t *brain_burst_new(brain_net_t *net, uint64_t seed, unsigned ledger_depth);
void brain_burst_destroy(brain_burst_t **b);
/* The network's layout changed (brain_net_rebuild with ch->neurons, or a new net): state and
 * ledger are reset. */
int brain_burst_net_changed(brain_burst_t *b, brain_net_t *net);

/* Burst threads: 1, or 2 (a worker thread, started by the first split burst, runs half of each
 * split propagation); 0 = 2 when the machine has 2 or more CPUs online, else 1 (the default).
 * The fired sets do not depend on it. */
void brain_burst_threads_set(brain_burst_t *b, unsigned threads);
unsigned brain_burst_threads(const brain_burst_t *b);
/* Bursts whose propagation was split so far (safe to read from another thread while bursts
 * run), and in *worker_tasks (NULL from another thread) the tasks the worker thread ran: a half
 * of a propagation or the upper range of the dynamics. */
uint64_t brain_burst_splits(const brain_burst_t *b, uint64_t *worker_tasks);
/* Networks with fewer neurons than this never split their bursts (default
 * BRAIN_BURST_SPLIT_NEURONS). Whether a burst splits changes the last bits of its sums, so the
 * same setting repeats the same fired sets. Between bursts; -ENOMEM (no burst splits then). */
int brain_burst_split_neurons_set(brain_burst_t *b, uint32_t neurons);
/* Tests: on, the burst thread leaves the worker's tasks to it instead of running them itself
 * when the worker is late (so a test exercises both threads on every split burst). */
void brain_burst_worker_wait(brain_burst_t *b, bool on);

/* Input to the power area each burst (default: each power neuron's own threshold, so it fires
 * every burst it is not refractory). */
void brain_burst_power_set(brain_burst_t *b, float input);

/* Stages points for the next burst into area `area` (index in the net). Points outside the
 * area are dropped and counted in *dropped. -E2BIG when BRAIN_STAGE_MAX_POINTS would be
 * exceeded (nothing staged). Staging the same voxel twice adds both. */
int brain_burst_stage(brain_burst_t *b, uint32_t area, const brain_xyzp_t *pts, size_t n,
                      size_t *dropped);
/* Stages input for one neuron (tests, benchmarks). */
int brain_burst_stage_neuron(brain_burst_t *b, uint32_t neuron, float input);

/* Runs one burst: injection (staged input, power, propagation of the previous burst's fired
 * set), neuron dynamics, then the fired set becomes the next burst's input and enters the
 * ledger. Consumes the staged input. Returns the number of neurons fired. */
uint32_t brain_burst_step(brain_burst_t *b);

/* Bursts run so far. */
uint64_t brain_burst_count(const brain_burst_t *b);

/* The fired set of the last burst: ascending neuron indices (borrowed, valid until the next
 * step), and the potential each fired with. */
const uint32_t *brain_burst_fired(const brain_burst_t *b, uint32_t *n, const float **p);
/* Neurons of area `area` that fired in the last burst. */
uint32_t brain_burst_area_fired_count(const brain_burst_t *b, uint32_t area);

/* The fire ledger: neurons of `area` that fired in burst `burst` (one of the last ledger_depth
 * bursts) into out[0..cap) as ascending global indices; returns the count (may exceed cap:
 * the caller retries bigger), or -ENOENT when the burst is no longer (or not yet) in the ledger. */
ssize_t brain_burst_ledger_area(const brain_burst_t *b, uint64_t burst, uint32_t area,
                                uint32_t *out, size_t cap);
/* The oldest burst the ledger still holds (the newest is brain_burst_count()). */
uint64_t brain_burst_ledger_oldest(const brain_burst_t *b);

/* Motor data: the fired neurons of output area `area` in the last burst as voxel points
 * (several neurons of one voxel give one point with the largest p). Returns the count written
 * to out (at most cap) and the full count in *total. */
size_t brain_burst_area_xyzp(const brain_burst_t *b, uint32_t area, brain_xyzp_t *out, size_t cap,
                             size_t *total);

#endif
