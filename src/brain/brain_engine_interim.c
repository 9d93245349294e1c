/* Interim engine used until the pure core's network and burst engine are built in: the
 * network's size is read from the blueprint and only the `_power` area fires (every burst), so
 * the lifecycle, ledger and endpoints can run. Replaced by brain_engine.c. */
#include <stdlib.h>
#include <string.h>

#include "brain/brain_internal.h"

struct brain_engine {
    brain_bp_area_t *areas;
    size_t n;
    uint64_t neurons;
};

int brain_engine_build(json_t *genome, uint64_t seed, brain_engine_t **out, problem_t **p)
{
    (void)seed;
    brain_engine_t *e = calloc(1, sizeof *e);
    if (!e) {
        *p = problem_new(503, "out-of-memory", "no memory to build the brain");
        return -1;
    }
    json_t *view = brain_bp_view(genome);
    e->areas = brain_bp_areas(view, &e->n);
    json_decref(view);
    for (size_t i = 0; i < e->n; i++)
        e->neurons += e->areas[i].neurons;
    *out = e;
    return 0;
}

void brain_engine_destroy(brain_engine_t **pe)
{
    if (!*pe)
        return;
    free((*pe)->areas);
    free(*pe);
    *pe = NULL;
}

uint64_t brain_engine_neurons(const brain_engine_t *e)
{
    return e->neurons;
}

uint64_t brain_engine_synapses(const brain_engine_t *e)
{
    (void)e;
    return 0;
}

size_t brain_engine_area_count(const brain_engine_t *e)
{
    return e->n;
}

const char *brain_engine_area_id(const brain_engine_t *e, size_t i)
{
    return e->areas[i].id;
}

void brain_engine_burst(brain_engine_t *e, brain_fired_t *rec)
{
    memset(rec->counts, 0, rec->nareas * sizeof *rec->counts);
    rec->nfired = 0;
    for (size_t a = 0; a < e->n && a < rec->nareas; a++) {
        if (strcmp(e->areas[a].id, "_power") != 0)
            continue;
        rec->counts[a] = (uint32_t)e->areas[a].neurons;
        for (uint32_t i = 0; i < e->areas[a].neurons && rec->nfired < BRAIN_FIRED_KEEP; i++) {
            uint32_t *f = &rec->fired[4 * rec->nfired++];
            f[0] = (uint32_t)a;
            f[1] = f[2] = f[3] = 0;
        }
    }
}
