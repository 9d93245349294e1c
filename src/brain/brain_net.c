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

/* A stable key for an area id: random streams are derived from it rather than from the area's
 * index, so adding or removing an area does not change the other areas' draws. */
static uint64_t id_key(const char *id)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *c = (const unsigned char *)id; *c; c++)
        h = (h ^ *c) * 0x100000001b3ull;
    return h;
}

static void block_free(brain_syn_block_t *s)
{
    if (s->refs && __atomic_sub_fetch(s->refs, 1, __ATOMIC_ACQ_REL) > 0) {
        memset(s, 0, sizeof *s);
        return;
    }
    free(s->refs);
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
    /* areas is NULL when net_alloc ran out of memory after setting n_areas */
    for (uint32_t i = 0; n->areas && i < n->n_areas; i++)
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
    brain_rng_derive(&rng, n->seed, 0x1eaf, id_key(ga->id), 0);
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
    /* derive: the old network, this area's old index, and per mapping whether it is grown
     * (1) or copied from the old row (0); regrow NULL = grow every mapping */
    const brain_net_t *old;
    int old_area;
    const uint8_t *regrow;
    uint64_t grown, copied;
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

/* Copies (or counts) the old row's synapses of a local neuron into destination area dst,
 * renumbered to the destination's place in the new layout, with the source area's new PSP. */
static void grow_copy(grow_t *c, uint32_t local, const char *dst)
{
    int od = brain_net_area_find(c->old, dst);
    if (od < 0)
        return;
    const brain_syn_block_t *ob = &c->old->areas[c->old_area].syn;
    uint32_t lo = c->old->areas[od].first, hi = lo + c->old->areas[od].count;
    uint32_t first = c->dst->first;
    uint64_t k = 0;
    for (uint32_t s = ob->off[local]; s < ob->off[local + 1]; s++) {
        uint32_t t = ob->target[s];
        if (t < lo || t >= hi)
            continue;
        k++;
        if (!c->fill)
            continue;
        uint32_t p = c->pos++;
        c->blk->target[p] = t - lo + first;
        c->blk->weight[p] = ob->weight[s];
        c->blk->psp[p] = c->psp;
        c->blk->flags[p] = ob->flags[s];
    }
    c->emitted += k;
    c->copied += k;
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
        if (c->regrow && !c->regrow[m]) {
            ri += mp->n_rules;
            grow_copy(c, local, mp->dst);
            continue;
        }
        uint64_t before = c->emitted;
        for (size_t r = 0; r < mp->n_rules; r++) {
            const brain_rule_t *rule = &mp->rules[r];
            const brain_morph_t *mo = c->morph[ri++];
            if (!mo)
                continue;
            c->w = (uint8_t)clamp255(rule->psc_multiplier);
            c->flags = rule->psc_multiplier < 0 ? BRAIN_SYN_INHIBITORY : 0;
            brain_rng_t rng;
            brain_rng_derive(&rng, c->n->seed, id_key(ga->id), id_key(mp->dst) * 256 + r, local);
            brain_morph_voxels(mo, rule->scalar, sa->dim, c->dst->dim, xyz, &rng, grow_voxel, c);
        }
        c->grown += c->emitted - before;
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
    /* derive: see grow_t; old_idx and regrow are per area of the new network */
    const brain_net_t *old;
    const int *old_idx;
    uint8_t *const *regrow;
    _Atomic uint64_t grown, copied;
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
        if (j->old && j->old_idx[ai] >= 0) {
            c.old = j->old;
            c.old_area = j->old_idx[ai];
            c.regrow = j->regrow[ai];
        }
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
        if (!j->fill) { /* counted once, in the count pass */
            atomic_fetch_add(&j->grown, c.grown);
            atomic_fetch_add(&j->copied, c.copied);
        }
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
static int grow_run(job_t *jp, unsigned threads, uint64_t kept, problem_t **err)
{
    brain_net_t *n = jp->n;
    const uint8_t *only = jp->only;
    brain_syn_block_t *blocks = jp->blocks;
    atomic_init(&jp->grown, 0);
    atomic_init(&jp->copied, 0);
    uint64_t items = 0;
    for (uint32_t a = 0; a < n->n_areas; a++)
        if (!only || only[a])
            items += (n->areas[a].count + CHUNK - 1) / CHUNK;
    jp->item_area = malloc((items + 1) * sizeof *jp->item_area);
    jp->item_start = malloc((items + 1) * sizeof *jp->item_start);
    int rc = 0;
    if (!jp->item_area || !jp->item_start) {
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
            jp->item_area[jp->n_items] = a;
            jp->item_start[jp->n_items++] = s;
        }
    }
    jp->fill = false;
    atomic_store(&jp->overflow, false);
    job_run(jp, threads);
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
        if (sum > UINT32_MAX || total > BRAIN_NET_MAX_SYNAPSES || atomic_load(&jp->overflow)) {
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
        b->refs = malloc(sizeof *b->refs);
        if (!b->target || !b->weight || !b->psp || !b->flags || !b->refs)
            rc = -ENOMEM;
        else
            *b->refs = 1;
    }
    if (rc == 0) {
        jp->fill = true;
        job_run(jp, threads);
        if (atomic_load(&jp->overflow))
            rc = -ENOMEM; /* a chunk could not be filled */
        for (uint32_t a = 0; a < n->n_areas && rc == 0; a++)
            if (!only || only[a])
                block_uniform_set(&blocks[a]);
    }
out:
    free(jp->item_area);
    free(jp->item_start);
    return rc;
}

static int grow(brain_net_t *n, const brain_genome_t *g, const uint8_t *only,
                brain_syn_block_t *blocks, unsigned threads, uint64_t kept, problem_t **err)
{
    job_t j = {.n = n, .g = g, .only = only, .blocks = blocks};
    return grow_run(&j, threads, kept, err);
}

/* The neuron layout of genome g: areas in the genome's order, arrays allocated, state zero,
 * parameters not yet written, no synapses. */
static int net_alloc(const brain_genome_t *g, uint64_t seed, brain_net_t **out, problem_t **err)
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
    *out = n;
    return 0;
}

int brain_net_build(const brain_genome_t *g, uint64_t seed, unsigned threads, brain_net_t **out,
                    problem_t **err)
{
    brain_net_t *n = NULL;
    int rc = net_alloc(g, seed, &n, err);
    if (rc < 0)
        return rc;
    for (uint32_t i = 0; i < n->n_areas; i++)
        params_write(n, g, i);
    brain_syn_block_t *blocks = calloc(n->n_areas ? n->n_areas : 1, sizeof *blocks);
    if (!blocks) {
        brain_net_destroy(&n);
        return -ENOMEM;
    }
    rc = grow(n, g, NULL, blocks, threads, 0, err);
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

/* ---- derive: a network from an older one, redoing only what an edit changed ---- */

static bool area_geometry_same(const brain_net_area_t *o, const brain_net_area_t *a)
{
    return o->dim[0] == a->dim[0] && o->dim[1] == a->dim[1] && o->dim[2] == a->dim[2] &&
           o->npv == a->npv;
}

/* The genes params_write reads (geometry apart). */
static bool area_params_same(const brain_area_t *o, const brain_area_t *a)
{
    return o->fire_t == a->fire_t && o->fthlim == a->fthlim && o->ftinc[0] == a->ftinc[0] &&
           o->ftinc[1] == a->ftinc[1] && o->ftinc[2] == a->ftinc[2] && o->refrac == a->refrac &&
           o->leak_c == a->leak_c && o->leak_v == a->leak_v && o->c_fr_c == a->c_fr_c &&
           o->snooze == a->snooze && o->mp_acc == a->mp_acc && o->excite == a->excite;
}

static const brain_mapping_t *area_mapping_find(const brain_area_t *a, const char *dst)
{
    for (size_t m = 0; m < a->n_maps; m++)
        if (strcmp(a->maps[m].dst, dst) == 0)
            return &a->maps[m];
    return NULL;
}

/* Whether morphology id builds the same voxels in both genomes. */
static bool morph_same(const brain_genome_t *og, const brain_genome_t *g, const char *id)
{
    ssize_t oi = brain_genome_morph_find(og, id), ni = brain_genome_morph_find(g, id);
    if (oi < 0 || ni < 0)
        return oi < 0 && ni < 0;
    json_t *o = brain_morph_to_json(&og->morphs[oi]), *n = brain_morph_to_json(&g->morphs[ni]);
    bool same = o && n && json_equal(o, n);
    json_decref(o);
    json_decref(n);
    return same;
}

/* The synapse-building fields of two mappings' rules (plasticity genes build nothing). */
static bool rules_same(const brain_genome_t *og, const brain_mapping_t *o, const brain_genome_t *g,
                       const brain_mapping_t *m)
{
    if (o->n_rules != m->n_rules)
        return false;
    for (size_t r = 0; r < m->n_rules; r++) {
        const brain_rule_t *a = &o->rules[r], *b = &m->rules[r];
        if (strcmp(a->morphology, b->morphology) != 0 || a->scalar[0] != b->scalar[0] ||
            a->scalar[1] != b->scalar[1] || a->scalar[2] != b->scalar[2] ||
            clamp255(a->psc_multiplier) != clamp255(b->psc_multiplier) ||
            (a->psc_multiplier < 0) != (b->psc_multiplier < 0) || !morph_same(og, g, b->morphology))
            return false;
    }
    return true;
}

/* Plans area a of the new network: old_idx (-1 = grow whole), regrow[m] per mapping, and
 * whether its block can be shared as it is. */
static int derive_plan(const brain_net_t *old, const brain_genome_t *og, const brain_net_t *n,
                       const brain_genome_t *g, uint32_t a, int *old_idx, uint8_t **regrow,
                       bool *share)
{
    const brain_area_t *ga = &g->areas[a];
    int oa = brain_net_area_find(old, ga->id);
    *share = false;
    *regrow = NULL;
    if (oa < 0 || !area_geometry_same(&old->areas[oa], &n->areas[a]) || !old->areas[oa].syn.refs) {
        *old_idx = -1;
        return 0;
    }
    *old_idx = oa;
    const brain_area_t *oga = &og->areas[oa];
    bool same = clamp255(oga->pstcr) == clamp255(ga->pstcr) && oga->n_maps == ga->n_maps;
    uint8_t *rg = calloc(ga->n_maps + 1, 1);
    if (!rg)
        return -ENOMEM;
    for (size_t m = 0; m < ga->n_maps; m++) {
        const brain_mapping_t *mp = &ga->maps[m];
        const brain_mapping_t *omp = area_mapping_find(oga, mp->dst);
        int nd = brain_net_area_find(n, mp->dst), od = brain_net_area_find(old, mp->dst);
        if (nd < 0 || od < 0) {
            rg[m] = nd >= 0; /* a new destination grows; a missing one builds nothing */
        } else {
            rg[m] = !omp || !area_geometry_same(&old->areas[od], &n->areas[nd]) ||
                    !rules_same(og, omp, g, mp);
            same = same && old->areas[od].first == n->areas[nd].first;
        }
        same = same && !rg[m] && m < oga->n_maps && strcmp(oga->maps[m].dst, mp->dst) == 0;
    }
    *share = same;
    *regrow = rg;
    return 0;
}

static void state_copy(brain_net_t *to, uint32_t a, const brain_net_t *from, uint32_t oa)
{
    size_t f = to->areas[a].first, of = from->areas[oa].first, c = to->areas[a].count;
    memcpy(to->potential + f, from->potential + of, c * sizeof *to->potential);
    memcpy(to->countdown + f, from->countdown + of, c * sizeof *to->countdown);
    memcpy(to->cfc + f, from->cfc + of, c * sizeof *to->cfc);
}

static void params_copy(brain_net_t *to, uint32_t a, const brain_net_t *from, uint32_t oa)
{
    size_t f = to->areas[a].first, of = from->areas[oa].first, c = to->areas[a].count;
    memcpy(to->threshold + f, from->threshold + of, c * sizeof *to->threshold);
    memcpy(to->thr_limit + f, from->thr_limit + of, c * sizeof *to->thr_limit);
    memcpy(to->leak + f, from->leak + of, c * sizeof *to->leak);
    memcpy(to->excite + f, from->excite + of, c * sizeof *to->excite);
    memcpy(to->refrac + f, from->refrac + of, c * sizeof *to->refrac);
    memcpy(to->cfc_limit + f, from->cfc_limit + of, c * sizeof *to->cfc_limit);
    memcpy(to->snooze + f, from->snooze + of, c * sizeof *to->snooze);
    memcpy(to->accumulate + f, from->accumulate + of, c);
}

void brain_net_state_carry(brain_net_t *to, const brain_net_t *from)
{
    for (uint32_t a = 0; a < to->n_areas; a++) {
        int oa = brain_net_area_find(from, to->areas[a].id);
        if (oa >= 0 && area_geometry_same(&from->areas[oa], &to->areas[a]))
            state_copy(to, a, from, (uint32_t)oa);
    }
}

int brain_net_derive(const brain_net_t *old, const brain_genome_t *old_g, const brain_genome_t *g,
                     unsigned threads, brain_net_t **out, brain_net_derive_stats_t *st,
                     problem_t **err)
{
    brain_net_derive_stats_t stats = {0};
    brain_net_t *n = NULL;
    int rc = net_alloc(g, old->seed, &n, err);
    if (rc < 0)
        return rc;
    uint32_t na = n->n_areas ? n->n_areas : 1;
    int *old_idx = calloc(na, sizeof *old_idx);
    uint8_t **regrow = calloc(na, sizeof *regrow);
    uint8_t *only = calloc(na, 1);
    brain_syn_block_t *blocks = calloc(na, sizeof *blocks);
    if (!old_idx || !regrow || !only || !blocks) {
        rc = -ENOMEM;
        goto out;
    }
    uint64_t kept = 0;
    for (uint32_t a = 0; a < n->n_areas && rc == 0; a++) {
        bool share = false;
        rc = derive_plan(old, old_g, n, g, a, &old_idx[a], &regrow[a], &share);
        int oa = old_idx[a];
        if (rc < 0)
            break;
        if (oa >= 0 && area_params_same(&old_g->areas[oa], &g->areas[a])) {
            params_copy(n, a, old, (uint32_t)oa);
            n->areas[a].pspuni = g->areas[a].pspuni;
        } else {
            params_write(n, g, a);
            stats.neurons_written += n->areas[a].count;
        }
        if (share) {
            blocks[a] = old->areas[oa].syn;
            __atomic_add_fetch(blocks[a].refs, 1, __ATOMIC_ACQ_REL);
            kept += blocks[a].n;
            stats.shared += blocks[a].n;
        } else {
            only[a] = 1;
        }
    }
    if (rc == 0) {
        job_t j = {.n = n,
                   .g = g,
                   .only = only,
                   .blocks = blocks,
                   .old = old,
                   .old_idx = old_idx,
                   .regrow = regrow};
        rc = grow_run(&j, threads, kept, err);
        stats.grown = atomic_load(&j.grown);
        stats.copied = atomic_load(&j.copied);
    }
out:
    for (uint32_t a = 0; blocks && a < n->n_areas; a++) {
        n->areas[a].syn = blocks[a];
        n->n_synapses += blocks[a].n;
    }
    for (uint32_t a = 0; regrow && a < n->n_areas; a++)
        free(regrow[a]);
    free(regrow);
    free(old_idx);
    free(only);
    free(blocks);
    if (rc < 0) {
        brain_net_destroy(&n);
        return rc;
    }
    if (st)
        *st = stats;
    *out = n;
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
