/* The burst engine: injection into a dense input array with a candidate bitmap, dynamics over
 * the candidates in ascending index order (so the excitability draws, and thus the fired sets,
 * are the same on every run), and a ring of the last bursts' fired sets. A large burst's
 * propagation is split in two fixed halves of the fired set, the second half summed apart and
 * added once per target, whatever the number of threads that run them (bit-for-bit equal). */
#include "brain/brain_burst.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brain/brain_genome.h"
#include "brain/brain_morph.h"

typedef struct {
    uint64_t burst;
    uint32_t n, cap;
    uint32_t *idx;
} ledger_entry_t;

/* The second burst thread, woken per split burst: it runs the second half of the propagation,
 * then the dynamics of the upper half of the neurons, each only if the burst thread has not
 * claimed it first (so a worker that wakes late costs nothing but the wake-up). Bursts are
 * numbered; a task is claimed and done for one burst. All fields under mu. */
typedef struct {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t wake_cv; /* the worker waits for a burst, then for its dynamics */
    pthread_cond_t done_cv; /* the burst thread waits for the worker's task */
    uint64_t job;           /* split bursts posted */
    uint64_t go;            /* the burst whose propagation is done: its dynamics may start */
    uint64_t prop_claim, prop_done; /* the second half of the propagation */
    uint64_t dyn_claim, dyn_done;   /* the dynamics of the upper range */
    uint32_t deferred; /* the upper range's fired and deferred neurons (DRAW_DEFERRED) */
    bool quit;
    brain_burst_t *b;
} burst_worker_t;

struct brain_burst {
    brain_net_t *net;
    uint64_t seed;
    brain_rng_t rng;
    float *input;    /* n_neurons */
    uint64_t *cand;  /* candidate bitmap */
    uint32_t *fired; /* last burst, ascending */
    float *fired_p;
    uint32_t n_fired;
    uint32_t *area_fired; /* per area, last burst */
    size_t staged;
    uint64_t count;
    bool power_set;
    float power;
    ledger_entry_t *ledger;
    unsigned depth;
    /* the second half of a split propagation: its sums and candidates, zero between bursts;
     * NULL when the network is too small for a burst ever to split */
    float *part;
    uint64_t *part_cand;
    unsigned threads;        /* 1 or 2 (brain_burst_threads_set) */
    uint32_t split_neurons;  /* smaller networks never split (brain_burst_split_neurons_set) */
    bool worker_wait;        /* tests: leave the worker's tasks to it (brain_burst_worker_wait) */
    _Atomic uint64_t splits; /* bursts whose propagation was split (read by the stats) */
    uint64_t worker_tasks;   /* tasks the worker ran (a propagation half, an upper range) */
    burst_worker_t *worker;  /* started by the first split burst on 2 threads */
};

static void state_free(brain_burst_t *b)
{
    free(b->part);
    free(b->part_cand);
    b->part = NULL;
    b->part_cand = NULL;
    free(b->input);
    free(b->cand);
    free(b->fired);
    free(b->fired_p);
    free(b->area_fired);
    for (unsigned i = 0; b->ledger && i < b->depth; i++)
        free(b->ledger[i].idx);
    free(b->ledger);
    b->input = NULL;
    b->cand = NULL;
    b->fired = NULL;
    b->fired_p = NULL;
    b->area_fired = NULL;
    b->ledger = NULL;
}

/* The second half's arrays, zeroed, when the network is large enough for a burst to split
 * (else NULL: no burst splits). */
static int part_alloc(brain_burst_t *b)
{
    free(b->part);
    free(b->part_cand);
    b->part = NULL;
    b->part_cand = NULL;
    const brain_net_t *n = b->net;
    if (n->n_neurons == 0 || n->n_neurons < b->split_neurons ||
        n->n_synapses < BRAIN_BURST_SPLIT_DELIVERIES)
        return 0;
    b->part = calloc(n->n_neurons, sizeof *b->part);
    b->part_cand = calloc(((size_t)n->n_neurons + 63) / 64, sizeof *b->part_cand);
    if (!b->part || !b->part_cand) {
        free(b->part);
        free(b->part_cand);
        b->part = NULL;
        b->part_cand = NULL;
        return -ENOMEM;
    }
    return 0;
}

static int state_alloc(brain_burst_t *b)
{
    size_t n = b->net->n_neurons ? b->net->n_neurons : 1;
    b->input = calloc(n, sizeof *b->input);
    b->cand = calloc((n + 63) / 64, sizeof *b->cand);
    b->fired = malloc(n * sizeof *b->fired);
    b->fired_p = malloc(n * sizeof *b->fired_p);
    b->area_fired = calloc(b->net->n_areas ? b->net->n_areas : 1, sizeof *b->area_fired);
    b->ledger = calloc(b->depth, sizeof *b->ledger);
    if (part_alloc(b) < 0) {
        state_free(b);
        return -ENOMEM;
    }
    if (!b->input || !b->cand || !b->fired || !b->fired_p || !b->area_fired || !b->ledger) {
        state_free(b);
        return -ENOMEM;
    }
    b->n_fired = 0;
    b->staged = 0;
    b->count = 0;
    brain_rng_seed(&b->rng, b->seed);
    return 0;
}

brain_burst_t *brain_burst_new(brain_net_t *net, uint64_t seed, unsigned ledger_depth)
{
    brain_burst_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->net = net;
    b->seed = seed;
    b->depth =
        ledger_depth < 1 ? 1 : (ledger_depth > BRAIN_LEDGER_MAX ? BRAIN_LEDGER_MAX : ledger_depth);
    brain_burst_threads_set(b, 0);
    b->split_neurons = BRAIN_BURST_SPLIT_NEURONS;
    if (state_alloc(b) < 0) {
        free(b);
        return NULL;
    }
    return b;
}

static void worker_stop(brain_burst_t *b)
{
    burst_worker_t *w = b->worker;
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->quit = true;
    pthread_cond_signal(&w->wake_cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    pthread_cond_destroy(&w->wake_cv);
    pthread_cond_destroy(&w->done_cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
    b->worker = NULL;
}

void brain_burst_destroy(brain_burst_t **bp)
{
    if (!bp || !*bp)
        return;
    worker_stop(*bp);
    state_free(*bp);
    free(*bp);
    *bp = NULL;
}

int brain_burst_net_changed(brain_burst_t *b, brain_net_t *net)
{
    state_free(b);
    b->net = net;
    return state_alloc(b);
}

void brain_burst_threads_set(brain_burst_t *b, unsigned threads)
{
    if (threads == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cpus >= 2 ? 2 : 1;
    }
    b->threads = threads >= 2 ? 2 : 1;
    if (b->threads == 1)
        worker_stop(b);
}

unsigned brain_burst_threads(const brain_burst_t *b)
{
    return b->threads;
}

int brain_burst_split_neurons_set(brain_burst_t *b, uint32_t neurons)
{
    b->split_neurons = neurons;
    return part_alloc(b);
}

void brain_burst_worker_wait(brain_burst_t *b, bool on)
{
    b->worker_wait = on;
}

uint64_t brain_burst_splits(const brain_burst_t *b, uint64_t *worker_tasks)
{
    if (worker_tasks) {
        *worker_tasks = 0;
        if (b->worker) {
            pthread_mutex_lock(&b->worker->mu);
            *worker_tasks = b->worker_tasks;
            pthread_mutex_unlock(&b->worker->mu);
        }
    }
    return atomic_load_explicit(&b->splits, memory_order_relaxed);
}

void brain_burst_power_set(brain_burst_t *b, float input)
{
    b->power_set = true;
    b->power = input;
}

static inline void add_input(brain_burst_t *b, uint32_t i, float v)
{
    b->input[i] += v;
    b->cand[i >> 6] |= 1ull << (i & 63);
}

int brain_burst_stage_neuron(brain_burst_t *b, uint32_t neuron, float input)
{
    if (neuron >= b->net->n_neurons || !isfinite(input))
        return -EINVAL;
    if (b->staged >= BRAIN_STAGE_MAX_POINTS)
        return -E2BIG;
    b->staged++;
    add_input(b, neuron, input);
    return 0;
}

int brain_burst_stage(brain_burst_t *b, uint32_t area, const brain_xyzp_t *pts, size_t n,
                      size_t *dropped)
{
    if (area >= b->net->n_areas)
        return -EINVAL;
    if (n > BRAIN_STAGE_MAX_POINTS - b->staged)
        return -E2BIG;
    const brain_net_area_t *a = &b->net->areas[area];
    size_t drop = 0;
    for (size_t i = 0; i < n; i++) {
        const brain_xyzp_t *p = &pts[i];
        if (p->x >= a->dim[0] || p->y >= a->dim[1] || p->z >= a->dim[2] || !isfinite(p->p)) {
            drop++;
            continue;
        }
        uint32_t base = a->first + ((p->z * a->dim[1] + p->y) * a->dim[0] + p->x) * a->npv;
        for (uint32_t k = 0; k < a->npv; k++)
            add_input(b, base + k, p->p);
    }
    b->staged += n;
    if (dropped)
        *dropped = drop;
    return 0;
}

/* The synapses of a source fired a few places ahead are fetched while this one's are added: the
 * blocks of successive fired neurons lie far apart, so each would otherwise wait for memory. */
static inline void prefetch_source(const brain_net_t *n, uint32_t src)
{
    const brain_net_area_t *a = &n->areas[n->area[src]];
    const brain_syn_block_t *s = &a->syn;
    uint32_t local = src - a->first, lo = s->off[local], hi = s->off[local + 1];
    for (uint32_t k = lo; k < hi; k += 16)
        __builtin_prefetch(s->target + k);
    if (s->uniform)
        return;
    for (uint32_t k = lo; k < hi; k += 64) {
        __builtin_prefetch(s->weight + k);
        __builtin_prefetch(s->psp + k);
        __builtin_prefetch(s->flags + k);
    }
}

/* Then the inputs those synapses will add to: in a large network they are scattered over more
 * memory than the caches hold, and fetching them in parallel is what bounds the burst. */
static inline void prefetch_targets(const brain_net_t *n, uint32_t src, const float *in)
{
    const brain_net_area_t *a = &n->areas[n->area[src]];
    const brain_syn_block_t *s = &a->syn;
    uint32_t local = src - a->first, lo = s->off[local], hi = s->off[local + 1];
    for (uint32_t k = lo; k < hi; k++)
        __builtin_prefetch(in + s->target[k], 1);
}

/* The synapses of fired[0..nf) added into in[] and marked in cand[]. */
static inline __attribute__((always_inline)) void
scatter(const brain_net_t *n, const uint32_t *fired, uint32_t nf, float *in, uint64_t *cand)
{
    for (uint32_t f = 0; f < nf; f++) {
        uint32_t src = fired[f];
        if (f + 8 < nf) {
            uint32_t ahead = fired[f + 8];
            const brain_net_area_t *aa = &n->areas[n->area[ahead]];
            __builtin_prefetch(aa->syn.off + (ahead - aa->first));
        }
        if (f + 4 < nf)
            prefetch_source(n, fired[f + 4]);
        if (f + 2 < nf)
            prefetch_targets(n, fired[f + 2], in);
        const brain_net_area_t *a = &n->areas[n->area[src]];
        const brain_syn_block_t *s = &a->syn;
        uint32_t local = src - a->first, lo = s->off[local], hi = s->off[local + 1];
        if (lo == hi)
            continue;
        /* divided PSP: each synapse carries weight × PSP / out-degree */
        float scale = a->pspuni ? 1.0f : 1.0f / (float)(hi - lo);
        const uint32_t *tg = s->target + lo;
        const uint8_t *w = s->weight + lo, *ps = s->psp + lo, *fl = s->flags + lo;
        uint32_t cnt = hi - lo;
        if (s->uniform) {
            /* every synapse of the block is the same: its first one, read by every source and
             * so in cache, not this source's (a cache miss per fired neuron otherwise) */
            float c = (float)((uint32_t)s->weight[0] * s->psp[0]) * scale;
            if (s->flags[0] & BRAIN_SYN_INHIBITORY)
                c = -c;
            for (uint32_t k = 0; k < cnt; k++) {
                uint32_t t = tg[k];
                in[t] += c;
                cand[t >> 6] |= 1ull << (t & 63);
            }
            continue;
        }
        for (uint32_t k = 0; k < cnt; k++) {
            float c = (float)((uint32_t)w[k] * ps[k]) * scale;
            if (fl[k] & BRAIN_SYN_INHIBITORY)
                c = -c;
            uint32_t t = tg[k];
            in[t] += c;
            cand[t >> 6] |= 1ull << (t & 63);
        }
    }
}

/* Half `h` of a split propagation: the first half of the fired set into the input (after the
 * staged input and the power), the second into the part arrays, summed from zero. */
static void half_run(brain_burst_t *b, unsigned h)
{
    uint32_t mid = b->n_fired / 2;
    if (h == 0)
        scatter(b->net, b->fired, mid, b->input, b->cand);
    else
        scatter(b->net, b->fired + mid, b->n_fired - mid, b->part, b->part_cand);
}

/* Step 1, first part: the power area's input. */
static void inject_power(brain_burst_t *b)
{
    brain_net_t *n = b->net;
    for (uint32_t ai = 0; ai < n->n_areas; ai++) {
        const brain_net_area_t *a = &n->areas[ai];
        if (!a->power)
            continue;
        for (uint32_t i = a->first; i < a->first + a->count; i++)
            add_input(b, i, b->power_set ? b->power : n->threshold[i]);
    }
}

/* True when the caller is to run the task whose claim mark is *claim for burst g. */
static bool task_claim(burst_worker_t *w, uint64_t *claim, uint64_t g)
{
    pthread_mutex_lock(&w->mu);
    bool mine = *claim != g;
    if (mine)
        *claim = g;
    pthread_mutex_unlock(&w->mu);
    return mine;
}

static void task_wait(burst_worker_t *w, const uint64_t *done, uint64_t g)
{
    pthread_mutex_lock(&w->mu);
    while (*done != g)
        pthread_cond_wait(&w->done_cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

/* Step 2 for a candidate that is not refractory and reached its threshold with potential
 * `pot`: the limits, the excitability draw, and the refractory period when it fires. True when
 * it fires. The common case (refractory, or below threshold) is in brain_burst_step. */
static inline __attribute__((always_inline)) bool dynamics_at_threshold(brain_burst_t *b,
                                                                        uint32_t i, float pot)
{
    brain_net_t *n = b->net;
    float lim = n->thr_limit[i];
    uint16_t cl = n->cfc_limit[i];
    bool fire = (lim == 0.0f || pot <= lim) && (cl == 0 || n->cfc[i] < cl);
    if (fire) {
        float e = n->excite[i];
        if (e < 1.0f)
            fire = e > 0.0f && brain_rng_unit(&b->rng) < e;
    }
    if (fire) {
        n->potential[i] = 0;
        if (n->cfc[i] < UINT16_MAX)
            n->cfc[i]++;
        uint32_t cd = n->refrac[i];
        if (cl && n->cfc[i] >= cl)
            cd += n->snooze[i];
        n->countdown[i] = (uint16_t)(cd > UINT16_MAX ? UINT16_MAX : cd);
        return true;
    }
    n->cfc[i] = 0;
    n->potential[i] = pot * (1.0f - n->leak[i]);
    return false;
}

static void ledger_push(brain_burst_t *b)
{
    ledger_entry_t *e = &b->ledger[b->count % b->depth];
    if (e->cap < b->n_fired) {
        uint32_t cap = b->n_fired + b->n_fired / 2 + 16;
        uint32_t *ni = realloc(e->idx, (size_t)cap * sizeof *ni);
        if (!ni) {
            e->n = 0; /* the entry is marked empty rather than wrong */
            e->burst = b->count;
            return;
        }
        e->idx = ni;
        e->cap = cap;
    }
    if (b->n_fired)
        memcpy(e->idx, b->fired, (size_t)b->n_fired * sizeof *e->idx);
    e->n = b->n_fired;
    e->burst = b->count;
}

/* A deferred candidate (its index in out_i with this bit): it reached its threshold and its
 * excitability needs a draw, which the burst thread makes (indices are below 2^26). */
#define DRAW_DEFERRED (1u << 31)
_Static_assert(BRAIN_NET_MAX_NEURONS < DRAW_DEFERRED, "neuron indices leave the top bit free");

/* Step 2 over the candidates of bitmap words [w0, w1) in ascending order; those that fire go
 * to out_i/out_p (their count is returned). `split` adds the second half's sums and candidates;
 * `defer` (the worker's upper range) leaves in out_i/out_p, marked DRAW_DEFERRED, the candidates
 * whose firing needs an excitability draw: the burst thread draws for them, in order, after the
 * lower range (every other candidate is decided here, since it draws nothing). Both are
 * constants in each call, so the common loop carries nothing of them. */
static inline __attribute__((always_inline)) uint32_t dynamics(brain_burst_t *b, size_t w0,
                                                               size_t w1, bool split, bool defer,
                                                               uint32_t *out_i, float *out_p)
{
    brain_net_t *n = b->net;
    uint32_t nf = 0;
    /* the arrays in locals: stores through them cannot change these pointers, so the compiler
     * keeps them in registers instead of reloading them from the network after every store */
    float *input = b->input, *potential = n->potential, *part = b->part;
    const float *threshold = n->threshold, *leak = n->leak;
    uint16_t *countdown = n->countdown, *cfc = n->cfc;
    const uint8_t *accumulate = n->accumulate;
    uint64_t *cand = b->cand, *part_cand = b->part_cand;
    for (size_t w = w0; w < w1; w++) {
        uint64_t m = cand[w];
        if (split && part_cand[w]) {
            m |= part_cand[w];
            part_cand[w] = 0;
        }
        if (!m)
            continue;
        cand[w] = 0;
        while (m) {
            uint32_t i = (uint32_t)(w * 64 + (unsigned)__builtin_ctzll(m));
            m &= m - 1;
            float in = input[i];
            input[i] = 0;
            if (split) {
                in += part[i];
                part[i] = 0;
            }
            /* feagi-core's order: refractory first, then the potential against the threshold */
            if (countdown[i] > 0) {
                countdown[i]--;
                continue;
            }
            float pot = accumulate[i] ? potential[i] + in : in;
            if (pot < threshold[i]) {
                /* nearly every candidate of a burst: the limits are never read, and the
                 * consecutive-fire count is written only when there is one to reset */
                if (cfc[i])
                    cfc[i] = 0;
                potential[i] = pot * (1.0f - leak[i]);
                continue;
            }
            if (defer) {
                float e = n->excite[i];
                if (e > 0.0f && e < 1.0f) {
                    out_i[nf] = i | DRAW_DEFERRED;
                    out_p[nf++] = pot;
                    continue;
                }
            }
            if (dynamics_at_threshold(b, i, pot)) {
                out_i[nf] = i;
                out_p[nf++] = pot;
            }
        }
    }
    return nf;
}

/* The upper range of the dynamics starts at this bitmap word. */
static size_t dynamics_mid(const brain_burst_t *b)
{
    return (((size_t)b->net->n_neurons + 63) / 64) / 2;
}

static void *worker_main(void *arg)
{
    burst_worker_t *w = arg;
    brain_burst_t *b = w->b;
    uint64_t seen = 0;
    pthread_mutex_lock(&w->mu);
    while (!w->quit) {
        if (w->job == seen) {
            pthread_cond_wait(&w->wake_cv, &w->mu);
            continue;
        }
        uint64_t g = seen = w->job;
        bool mine = w->prop_claim != g;
        if (mine)
            w->prop_claim = g;
        pthread_mutex_unlock(&w->mu);
        if (mine) {
            half_run(b, 1);
            pthread_mutex_lock(&w->mu);
            b->worker_tasks++;
            w->prop_done = g;
            pthread_cond_signal(&w->done_cv);
            pthread_mutex_unlock(&w->mu);
        }
        pthread_mutex_lock(&w->mu);
        while (!w->quit && w->go != g && w->job == g)
            pthread_cond_wait(&w->wake_cv, &w->mu);
        if (w->go != g)
            continue; /* quitting, or a later burst already posted */
        mine = w->dyn_claim != g;
        if (mine)
            w->dyn_claim = g;
        pthread_mutex_unlock(&w->mu);
        if (mine) {
            size_t mid = dynamics_mid(b), words = ((size_t)b->net->n_neurons + 63) / 64;
            /* the lower range fires at most mid*64 neurons: the upper part of the fired
             * arrays is free for the upper range's fired and deferred neurons */
            uint32_t nd =
                dynamics(b, mid, words, true, true, b->fired + mid * 64, b->fired_p + mid * 64);
            pthread_mutex_lock(&w->mu);
            w->deferred = nd;
            w->dyn_done = g;
            b->worker_tasks++;
            pthread_cond_signal(&w->done_cv);
        } else {
            pthread_mutex_lock(&w->mu);
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static int worker_start(brain_burst_t *b)
{
    burst_worker_t *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->b = b;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->wake_cv, NULL);
    pthread_cond_init(&w->done_cv, NULL);
    int rc = pthread_create(&w->th, NULL, worker_main, w);
    if (rc != 0) {
        pthread_cond_destroy(&w->wake_cv);
        pthread_cond_destroy(&w->done_cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return -rc;
    }
    b->worker = w;
    return 0;
}

/* A split burst on two threads: the halves of the propagation at once, then the two ranges of
 * the dynamics at once; the upper range's candidates whose firing needs an excitability draw
 * are drawn for here, after the lower range's, so the draws come in ascending order as on one
 * thread. Returns the number fired. */
static uint32_t split_parallel(brain_burst_t *b)
{
    burst_worker_t *w = b->worker;
    pthread_mutex_lock(&w->mu);
    uint64_t g = ++w->job;
    pthread_cond_signal(&w->wake_cv);
    pthread_mutex_unlock(&w->mu);
    half_run(b, 0);
    if (!b->worker_wait && task_claim(w, &w->prop_claim, g))
        half_run(b, 1);
    else
        task_wait(w, &w->prop_done, g);

    size_t mid = dynamics_mid(b), words = ((size_t)b->net->n_neurons + 63) / 64;
    pthread_mutex_lock(&w->mu);
    w->go = g;
    pthread_cond_signal(&w->wake_cv);
    pthread_mutex_unlock(&w->mu);
    uint32_t nf = dynamics(b, 0, mid, true, false, b->fired, b->fired_p);
    if (!b->worker_wait && task_claim(w, &w->dyn_claim, g))
        return nf + dynamics(b, mid, words, true, false, b->fired + nf, b->fired_p + nf);
    task_wait(w, &w->dyn_done, g);
    /* the upper range's fired neurons and deferred draws, in order; entry k is read before
     * fired[nf] (nf <= base + k) is written */
    size_t base = mid * 64;
    for (uint32_t k = 0; k < w->deferred; k++) {
        uint32_t i = b->fired[base + k];
        float pot = b->fired_p[base + k];
        if (i & DRAW_DEFERRED) {
            i &= ~DRAW_DEFERRED;
            if (!dynamics_at_threshold(b, i, pot))
                continue;
        }
        b->fired[nf] = i;
        b->fired_p[nf++] = pot;
    }
    return nf;
}

/* A split burst, out of line: the unsplit burst's loop, the common one, stays compact. */
static __attribute__((noinline)) uint32_t split_run(brain_burst_t *b)
{
    atomic_fetch_add_explicit(&b->splits, 1, memory_order_relaxed);
    if (b->threads >= 2 && (b->worker || worker_start(b) == 0))
        return split_parallel(b);
    /* one thread (or the worker could not start): the same sums, in turn */
    half_run(b, 0);
    half_run(b, 1);
    return dynamics(b, 0, ((size_t)b->net->n_neurons + 63) / 64, true, false, b->fired, b->fired_p);
}

uint32_t brain_burst_step(brain_burst_t *b)
{
    brain_net_t *n = b->net;
    inject_power(b);
    /* split by the deliveries expected (fired × the mean out-degree) in a network large enough
     * (b->part): properties of the network and the fired set, never of the thread count, so
     * one and two threads give the same sums */
    uint32_t nf;
    if (b->part && (uint64_t)b->n_fired * n->n_synapses >=
                       (uint64_t)BRAIN_BURST_SPLIT_DELIVERIES * n->n_neurons) {
        nf = split_run(b);
    } else {
        scatter(n, b->fired, b->n_fired, b->input, b->cand);
        nf = dynamics(b, 0, ((size_t)n->n_neurons + 63) / 64, false, false, b->fired, b->fired_p);
    }
    b->n_fired = nf;
    memset(b->area_fired, 0, n->n_areas * sizeof *b->area_fired);
    for (uint32_t f = 0; f < nf; f++)
        b->area_fired[n->area[b->fired[f]]]++;
    b->staged = 0;
    b->count++;
    ledger_push(b);
    return nf;
}

uint64_t brain_burst_count(const brain_burst_t *b)
{
    return b->count;
}

const uint32_t *brain_burst_fired(const brain_burst_t *b, uint32_t *n, const float **p)
{
    *n = b->n_fired;
    if (p)
        *p = b->fired_p;
    return b->fired;
}

uint32_t brain_burst_area_fired_count(const brain_burst_t *b, uint32_t area)
{
    return area < b->net->n_areas ? b->area_fired[area] : 0;
}

/* First index in a[0..n) whose value is >= v. */
static uint32_t lower_bound(const uint32_t *a, uint32_t n, uint32_t v)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (a[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint64_t brain_burst_ledger_oldest(const brain_burst_t *b)
{
    if (b->count == 0)
        return 0;
    return b->count > b->depth ? b->count - b->depth + 1 : 1;
}

ssize_t brain_burst_ledger_area(const brain_burst_t *b, uint64_t burst, uint32_t area,
                                uint32_t *out, size_t cap)
{
    if (area >= b->net->n_areas || burst == 0 || burst > b->count ||
        burst < brain_burst_ledger_oldest(b))
        return -ENOENT;
    const ledger_entry_t *e = &b->ledger[burst % b->depth];
    if (e->burst != burst)
        return -ENOENT;
    const brain_net_area_t *a = &b->net->areas[area];
    uint32_t lo = lower_bound(e->idx, e->n, a->first);
    uint32_t hi = lower_bound(e->idx, e->n, a->first + a->count);
    for (uint32_t i = lo; i < hi && (size_t)(i - lo) < cap; i++)
        out[i - lo] = e->idx[i];
    return (ssize_t)(hi - lo);
}

size_t brain_burst_area_xyzp(const brain_burst_t *b, uint32_t area, brain_xyzp_t *out, size_t cap,
                             size_t *total)
{
    *total = 0;
    if (area >= b->net->n_areas)
        return 0;
    const brain_net_area_t *a = &b->net->areas[area];
    uint32_t lo = lower_bound(b->fired, b->n_fired, a->first);
    uint32_t hi = lower_bound(b->fired, b->n_fired, a->first + a->count);
    size_t w = 0, t = 0;
    uint32_t last_vox = UINT32_MAX;
    for (uint32_t i = lo; i < hi; i++) {
        uint32_t vox = (b->fired[i] - a->first) / a->npv;
        if (vox == last_vox) {
            if (w > 0 && w <= cap && b->fired_p[i] > out[w - 1].p && t == w)
                out[w - 1].p = b->fired_p[i];
            continue;
        }
        last_vox = vox;
        if (w < cap) {
            out[w].x = vox % a->dim[0];
            out[w].y = (vox / a->dim[0]) % a->dim[1];
            out[w].z = vox / (a->dim[0] * a->dim[1]);
            out[w].p = b->fired_p[i];
            w++;
        }
        t++;
    }
    *total = t;
    return w;
}
