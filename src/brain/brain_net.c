/* Neurogenesis and synaptogenesis: lays out the neurons of a genome's areas and grows each
 * source area's CSR block in two passes (count, then fill) over chunks of source neurons that
 * worker threads take in turn. Every random draw comes from a stream derived from (seed, area,
 * rule, neuron), so the result does not depend on the thread count or on scheduling. */
#include "brain/brain_net.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "brain/brain_morph.h"

#define CHUNK 4096u

static float clamp255(double v)
{
    v = fabs(v);
    return (float)(v > 255.0 ? 255.0 : v);
}

/* Genome values written in percent (above 1) as fractions. */
static double frac(double v)
{
    if (v > 1.0)
        v /= 100.0;
    return v < 0 ? 0 : (v > 1 ? 1 : v);
}

static uint16_t u16(uint32_t v)
{
    return (uint16_t)(v > 65535 ? 65535 : v);
}

void brain_net_neuron_coords(const brain_net_t *n, uint32_t neuron, uint32_t xyz[3])
{
    const brain_net_area_t *a = &n->areas[n->area[neuron]];
    uint32_t v = (neuron - a->first) / a->npv;
    xyz[0] = v % a->dim[0];
    xyz[1] = (v / a->dim[0]) % a->dim[1];
    xyz[2] = v / (a->dim[0] * a->dim[1]);
}

int brain_net_area_find(const brain_net_t *n, const char *id)
{
    for (uint32_t i = 0; i < n->n_areas; i++)
        if (strcmp(n->areas[i].id, id) == 0)
            return (int)i;
    return -1;
}

static void block_free(brain_syn_block_t *s)
{
    free(s->off);
    free(s->target);
    free(s->weight);
    free(s->psp);
    free(s->flags);
    memset(s, 0, sizeof *s);
}

void brain_net_destroy(brain_net_t **np)
{
    if (!np || !*np)
        return;
    brain_net_t *n = *np;
    for (uint32_t i = 0; i < n->n_areas; i++)
        block_free(&n->areas[i].syn);
    free(n->areas);
    free(n->area);
    free(n->potential);
    free(n->threshold);
    free(n->thr_limit);
    free(n->leak);
    free(n->excite);
    free(n->refrac);
    free(n->countdown);
    free(n->cfc);
    free(n->cfc_limit);
    free(n->snooze);
    free(n->accumulate);
    free(n);
    *np = NULL;
}

/* Parameters of area ai's neurons from the genome (state untouched). */
static void params_write(brain_net_t *n, const brain_genome_t *g, uint32_t ai)
{
    const brain_area_t *ga = &g->areas[ai];
    brain_net_area_t *a = &n->areas[ai];
    a->pspuni = ga->pspuni;
    double leak = frac(ga->leak_c), lv = frac(ga->leak_v);
    brain_rng_t rng;
    brain_rng_derive(&rng, n->seed, 0x1eaf, ai, 0);
    for (uint32_t i = 0; i < a->count; i++) {
        uint32_t ni = a->first + i, xyz[3];
        brain_net_neuron_coords(n, ni, xyz);
        n->threshold[ni] = (float)(ga->fire_t + xyz[0] * ga->ftinc[0] + xyz[1] * ga->ftinc[1] +
                                   xyz[2] * ga->ftinc[2]);
        n->thr_limit[ni] = (float)ga->fthlim;
        double l = leak;
        if (lv > 0) {
            l += (2.0 * brain_rng_unit(&rng) - 1.0) * lv;
            l = l < 0 ? 0 : (l > 1 ? 1 : l);
        }
        n->leak[ni] = (float)l;
        n->excite[ni] = (float)(ga->excite < 0 ? 0 : (ga->excite > 1 ? 1 : ga->excite));
        n->refrac[ni] = u16(ga->refrac);
        n->cfc_limit[ni] = ga->c_fr_c > 65535 ? 0 : (uint16_t)ga->c_fr_c;
        n->snooze[ni] = u16(ga->snooze);
        n->accumulate[ni] = ga->mp_acc;
    }
}

/* ---- synaptogenesis ---- */

typedef struct {
    const brain_net_t *n;
    const brain_genome_t *g;
    uint32_t src_area;
    uint32_t *counts; /* count pass: per neuron (off + 1) */
    brain_syn_block_t *blk;
    uint32_t pos; /* fill pass: next slot */
    const brain_net_area_t *dst;
    uint8_t w, psp, flags;
    bool fill;
    uint64_t emitted;
    /* the source area's mappings resolved once per chunk: destination index per mapping,
     * morphology per rule (NULL when absent), rules in mapping order */
    int *dst_idx;
    const brain_morph_t **morph;
} grow_t;

static int grow_voxel(void *ctx, uint32_t x, uint32_t y, uint32_t z)
{
    grow_t *c = ctx;
    const brain_net_area_t *d = c->dst;
    if (!c->fill) {
        c->emitted += d->npv;
        return 0;
    }
    uint32_t base = d->first + ((z * d->dim[1] + y) * d->dim[0] + x) * d->npv;
    for (uint32_t k = 0; k < d->npv; k++) {
        uint32_t p = c->pos++;
        c->blk->target[p] = base + k;
        c->blk->weight[p] = c->w;
        c->blk->psp[p] = c->psp;
        c->blk->flags[p] = c->flags;
    }
    return 0;
}

/* Synapses of one source neuron (count or fill). */
static uint64_t grow_neuron(grow_t *c, uint32_t local)
{
    const brain_area_t *ga = &c->g->areas[c->src_area];
    const brain_net_area_t *sa = &c->n->areas[c->src_area];
    uint32_t xyz[3];
    brain_net_neuron_coords(c->n, sa->first + local, xyz);
    c->emitted = 0;
    c->psp = (uint8_t)clamp255(ga->pstcr);
    size_t ri = 0;
    for (size_t m = 0; m < ga->n_maps; m++) {
        const brain_mapping_t *mp = &ga->maps[m];
        int di = c->dst_idx[m];
        if (di < 0) {
            ri += mp->n_rules;
            continue;
        }
        c->dst = &c->n->areas[di];
        for (size_t r = 0; r < mp->n_rules; r++) {
            const brain_rule_t *rule = &mp->rules[r];
            const brain_morph_t *mo = c->morph[ri++];
            if (!mo)
                continue;
            c->w = (uint8_t)clamp255(rule->psc_multiplier);
            c->flags = rule->psc_multiplier < 0 ? BRAIN_SYN_INHIBITORY : 0;
            brain_rng_t rng;
            brain_rng_derive(&rng, c->n->seed, c->src_area, m * 256 + r, local);
            brain_morph_voxels(mo, rule->scalar, sa->dim, c->dst->dim, xyz, &rng, grow_voxel, c);
        }
    }
    return c->emitted;
}

typedef struct {
    brain_net_t *n;
    const brain_genome_t *g;
    const uint8_t *only; /* areas to grow, NULL = all */
    brain_syn_block_t *blocks;
    /* work items: (area, chunk) pairs in order */
    uint32_t *item_area, *item_start;
    uint32_t n_items;
    atomic_uint next;
    bool fill;
    atomic_bool overflow;
} job_t;

static void *grow_worker(void *arg)
{
    job_t *j = arg;
    for (;;) {
        uint32_t it = atomic_fetch_add(&j->next, 1);
        if (it >= j->n_items)
            break;
        uint32_t ai = j->item_area[it], start = j->item_start[it];
        const brain_net_area_t *sa = &j->n->areas[ai];
        uint32_t end = start + CHUNK < sa->count ? start + CHUNK : sa->count;
        brain_syn_block_t *blk = &j->blocks[ai];
        grow_t c = {.n = j->n, .g = j->g, .src_area = ai, .blk = blk, .fill = j->fill};
        const brain_area_t *ga = &j->g->areas[ai];
        size_t nr = 0;
        for (size_t m = 0; m < ga->n_maps; m++)
            nr += ga->maps[m].n_rules;
        c.dst_idx = malloc((ga->n_maps + 1) * sizeof *c.dst_idx);
        c.morph = malloc((nr + 1) * sizeof *c.morph);
        if (!c.dst_idx || !c.morph) {
            /* counted as an overflow: the build fails rather than grows a partial network */
            atomic_store(&j->overflow, true);
            free(c.dst_idx);
            free(c.morph);
            continue;
        }
        for (size_t m = 0, ri = 0; m < ga->n_maps; m++) {
            c.dst_idx[m] = brain_net_area_find(j->n, ga->maps[m].dst);
            for (size_t r = 0; r < ga->maps[m].n_rules; r++, ri++) {
                ssize_t mi = brain_genome_morph_find(j->g, ga->maps[m].rules[r].morphology);
                c.morph[ri] = mi < 0 ? NULL : &j->g->morphs[mi];
            }
        }
        for (uint32_t i = start; i < end; i++) {
            if (j->fill) {
                c.pos = blk->off[i];
                grow_neuron(&c, i);
            } else {
                uint64_t k = grow_neuron(&c, i);
                if (k > UINT32_MAX) {
                    atomic_store(&j->overflow, true);
                    k = 0;
                }
                blk->off[i + 1] = (uint32_t)k;
            }
        }
        free(c.dst_idx);
        free(c.morph);
    }
    return NULL;
}

static void job_run(job_t *j, unsigned threads)
{
    atomic_store(&j->next, 0);
    if (threads < 1)
        threads = 1;
    if (threads > 64)
        threads = 64;
    pthread_t th[64];
    unsigned started = 0;
    for (unsigned t = 1; t < threads; t++)
        if (pthread_create(&th[started], NULL, grow_worker, j) == 0)
            started++;
    grow_worker(j);
    for (unsigned t = 0; t < started; t++)
        pthread_join(th[t], NULL);
}

static void block_uniform_set(brain_syn_block_t *b)
{
    b->uniform = true;
    for (uint32_t k = 1; k < b->n && b->uniform; k++)
        b->uniform =
            b->weight[k] == b->weight[0] && b->psp[k] == b->psp[0] && b->flags[k] == b->flags[0];
}

/* Grows the blocks of the areas in `only` (all when NULL) into blocks[]; the prefix sums and the
 * synapse bound are checked between the passes. */
static int grow(brain_net_t *n, const brain_genome_t *g, const uint8_t *only,
                brain_syn_block_t *blocks, unsigned threads, uint64_t kept, problem_t **err)
{
    job_t j = {.n = n, .g = g, .only = only, .blocks = blocks};
    uint64_t items = 0;
    for (uint32_t a = 0; a < n->n_areas; a++)
        if (!only || only[a])
            items += (n->areas[a].count + CHUNK - 1) / CHUNK;
    j.item_area = malloc((items + 1) * sizeof *j.item_area);
    j.item_start = malloc((items + 1) * sizeof *j.item_start);
    int rc = 0;
    if (!j.item_area || !j.item_start) {
        rc = -ENOMEM;
        goto out;
    }
    for (uint32_t a = 0; a < n->n_areas; a++) {
        if (only && !only[a])
            continue;
        blocks[a].off = calloc((size_t)n->areas[a].count + 1, sizeof *blocks[a].off);
        if (!blocks[a].off) {
            rc = -ENOMEM;
            goto out;
        }
        for (uint32_t s = 0; s < n->areas[a].count; s += CHUNK) {
            j.item_area[j.n_items] = a;
            j.item_start[j.n_items++] = s;
        }
    }
    j.fill = false;
    atomic_store(&j.overflow, false);
    job_run(&j, threads);
    uint64_t total = kept;
    for (uint32_t a = 0; a < n->n_areas && rc == 0; a++) {
        if (only && !only[a])
            continue;
        brain_syn_block_t *b = &blocks[a];
        uint64_t sum = 0;
        for (uint32_t i = 0; i < n->areas[a].count; i++) {
            sum += b->off[i + 1];
            if (sum > UINT32_MAX)
                break;
            b->off[i + 1] = (uint32_t)sum;
        }
        total += sum;
        if (sum > UINT32_MAX || total > BRAIN_NET_MAX_SYNAPSES || atomic_load(&j.overflow)) {
            char ptr[128];
            snprintf(ptr, sizeof ptr, "/blueprint/_____10c-%s-cx-dstmap-d", n->areas[a].id);
            problem_field_error(err, "body", ptr,
                                "area %s grows more synapses than the network may hold (%llu)",
                                n->areas[a].id, (unsigned long long)BRAIN_NET_MAX_SYNAPSES);
            rc = -E2BIG;
            break;
        }
        b->n = (uint32_t)sum;
        size_t cnt = sum ? sum : 1;
        b->target = malloc(cnt * sizeof *b->target);
        b->weight = malloc(cnt);
        b->psp = malloc(cnt);
        b->flags = malloc(cnt);
        if (!b->target || !b->weight || !b->psp || !b->flags)
            rc = -ENOMEM;
    }
    if (rc == 0) {
        j.fill = true;
        job_run(&j, threads);
        if (atomic_load(&j.overflow))
            rc = -ENOMEM; /* a chunk could not be filled */
        for (uint32_t a = 0; a < n->n_areas && rc == 0; a++)
            if (!only || only[a])
                block_uniform_set(&blocks[a]);
    }
out:
    free(j.item_area);
    free(j.item_start);
    return rc;
}

int brain_net_build(const brain_genome_t *g, uint64_t seed, unsigned threads, brain_net_t **out,
                    problem_t **err)
{
    *out = NULL;
    uint64_t total = 0;
    for (size_t i = 0; i < g->n_areas; i++)
        total += brain_area_neurons(&g->areas[i]);
    if (total > BRAIN_NET_MAX_NEURONS || g->n_areas > 65535) {
        problem_field_error(err, "body", "/blueprint",
                            "the genome has %llu neurons, more than the %u allowed",
                            (unsigned long long)total, BRAIN_NET_MAX_NEURONS);
        return -E2BIG;
    }
    brain_net_t *n = calloc(1, sizeof *n);
    if (!n)
        return -ENOMEM;
    n->seed = seed;
    n->n_neurons = (uint32_t)total;
    n->n_areas = (uint32_t)g->n_areas;
    size_t nn = total ? total : 1;
    n->areas = calloc(g->n_areas ? g->n_areas : 1, sizeof *n->areas);
    n->area = malloc(nn * sizeof *n->area);
    n->potential = calloc(nn, sizeof *n->potential);
    n->threshold = malloc(nn * sizeof *n->threshold);
    n->thr_limit = malloc(nn * sizeof *n->thr_limit);
    n->leak = malloc(nn * sizeof *n->leak);
    n->excite = malloc(nn * sizeof *n->excite);
    n->refrac = malloc(nn * sizeof *n->refrac);
    n->countdown = calloc(nn, sizeof *n->countdown);
    n->cfc = calloc(nn, sizeof *n->cfc);
    n->cfc_limit = malloc(nn * sizeof *n->cfc_limit);
    n->snooze = malloc(nn * sizeof *n->snooze);
    n->accumulate = malloc(nn);
    if (!n->areas || !n->area || !n->potential || !n->threshold || !n->thr_limit || !n->leak ||
        !n->excite || !n->refrac || !n->countdown || !n->cfc || !n->cfc_limit || !n->snooze ||
        !n->accumulate) {
        brain_net_destroy(&n);
        return -ENOMEM;
    }
    uint32_t first = 0;
    for (uint32_t i = 0; i < n->n_areas; i++) {
        const brain_area_t *ga = &g->areas[i];
        brain_net_area_t *a = &n->areas[i];
        memcpy(a->id, ga->id, sizeof a->id);
        a->first = first;
        a->count = (uint32_t)brain_area_neurons(ga);
        memcpy(a->dim, ga->dim, sizeof a->dim);
        a->npv = ga->npv;
        a->output = strcmp(ga->group, "OPU") == 0 || ga->id[0] == 'o';
        a->power = strcmp(ga->id, "_power") == 0;
        for (uint32_t k = 0; k < a->count; k++)
            n->area[first + k] = (uint16_t)i;
        first += a->count;
    }
    for (uint32_t i = 0; i < n->n_areas; i++)
        params_write(n, g, i);
    brain_syn_block_t *blocks = calloc(n->n_areas ? n->n_areas : 1, sizeof *blocks);
    if (!blocks) {
        brain_net_destroy(&n);
        return -ENOMEM;
    }
    int rc = grow(n, g, NULL, blocks, threads, 0, err);
    for (uint32_t i = 0; i < n->n_areas; i++) {
        n->areas[i].syn = blocks[i];
        n->n_synapses += blocks[i].n;
    }
    free(blocks);
    if (rc < 0) {
        brain_net_destroy(&n);
        return rc;
    }
    *out = n;
    return 0;
}

int brain_net_rebuild(brain_net_t *n, const brain_genome_t *g, const brain_change_t *ch,
                      unsigned threads, problem_t **err)
{
    if (!ch->areas && !ch->neurons)
        return 0;
    if (ch->neurons || g->n_areas != n->n_areas) {
        brain_net_t *fresh = NULL;
        int rc = brain_net_build(g, n->seed, threads, &fresh, err);
        if (rc < 0)
            return rc;
        brain_net_t old = *n;
        *n = *fresh;
        *fresh = old;
        brain_net_destroy(&fresh);
        return 0;
    }
    brain_syn_block_t *blocks = calloc(n->n_areas, sizeof *blocks);
    if (!blocks)
        return -ENOMEM;
    uint64_t kept = 0;
    for (uint32_t a = 0; a < n->n_areas; a++)
        if (!ch->areas[a])
            kept += n->areas[a].syn.n;
    int rc = grow(n, g, ch->areas, blocks, threads, kept, err);
    if (rc < 0) {
        for (uint32_t a = 0; a < n->n_areas; a++)
            block_free(&blocks[a]);
        free(blocks);
        return rc;
    }
    n->n_synapses = kept;
    for (uint32_t a = 0; a < n->n_areas; a++) {
        if (ch->areas[a]) {
            block_free(&n->areas[a].syn);
            n->areas[a].syn = blocks[a];
            params_write(n, g, a);
        }
    }
    for (uint32_t a = 0; a < n->n_areas; a++)
        if (ch->areas[a])
            n->n_synapses += n->areas[a].syn.n;
    free(blocks);
    return 0;
}

size_t brain_net_bytes(const brain_net_t *n, size_t *neuron_bytes, size_t *synapse_bytes)
{
    /* area 2, potential/threshold/limit/leak/excite 4 each, refrac/countdown/cfc/limit/snooze 2
     * each, accumulate 1; the CSR offset (4) counts as a neuron's too */
    size_t nb = (size_t)n->n_neurons * (2 + 5 * 4 + 5 * 2 + 1 + 4);
    size_t sb = (size_t)n->n_synapses * (4 + 1 + 1 + 1);
    if (neuron_bytes)
        *neuron_bytes = nb;
    if (synapse_bytes)
        *synapse_bytes = sb;
    return nb + sb + n->n_areas * sizeof *n->areas;
}
