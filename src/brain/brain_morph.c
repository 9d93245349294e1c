/* Morphologies as voxel maps (brain_morph.h) and the seeded generator the brain draws from.
 * Each morphology reports destination voxels through a callback so synaptogenesis can count
 * in one pass and fill in a second without allocating per voxel. */
#include "brain/brain_morph.h"

void brain_rng_seed(brain_rng_t *r, uint64_t seed)
{
    r->s = seed;
}

uint64_t brain_rng_next(brain_rng_t *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

float brain_rng_unit(brain_rng_t *r)
{
    return (float)(brain_rng_next(r) >> 40) * (1.0f / 16777216.0f);
}

void brain_rng_derive(brain_rng_t *r, uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
    brain_rng_t t = {seed};
    uint64_t s = brain_rng_next(&t);
    t.s = s ^ (a * 0xd6e8feb86659fd93ull);
    s = brain_rng_next(&t);
    t.s = s ^ (b * 0xa0761d6478bd642full);
    s = brain_rng_next(&t);
    t.s = s ^ (c * 0xe7037ed1a0b428dbull);
    r->s = brain_rng_next(&t);
}

/* Uniform in [0, d) by multiply-shift (no division: the randomizer runs once per synapse); an
 * axis of one voxel draws nothing. */
static uint32_t rng_below(brain_rng_t *r, uint32_t d)
{
    if (d <= 1)
        return 0;
    return (uint32_t)(((brain_rng_next(r) >> 32) * d) >> 32);
}

/* Emits (x, y, z) when inside dst. */
static int emit(brain_voxel_fn fn, void *ctx, const uint32_t dst[3], int64_t x, int64_t y,
                int64_t z)
{
    if (x < 0 || y < 0 || z < 0 || x >= dst[0] || y >= dst[1] || z >= dst[2])
        return 0;
    return fn(ctx, (uint32_t)x, (uint32_t)y, (uint32_t)z);
}

/* Destination range [lo, hi) on one axis for a pattern element. `skip` is set for `!`. */
static void pat_range(const brain_pat_elem_t *e, uint32_t src, uint32_t dim, int64_t *lo,
                      int64_t *hi, int64_t *skip)
{
    *skip = -1;
    switch (e->kind) {
    case BRAIN_PAT_EXACT:
        *lo = e->value, *hi = (int64_t)e->value + 1;
        break;
    case BRAIN_PAT_SAME:
        *lo = src, *hi = (int64_t)src + 1;
        break;
    case BRAIN_PAT_OTHER:
        *lo = 0, *hi = dim, *skip = src;
        break;
    default:
        *lo = 0, *hi = dim;
        break;
    }
    if (*lo < 0)
        *lo = 0;
    if (*hi > dim)
        *hi = dim;
}

static bool pat_src_match(const brain_pat_elem_t *e, uint32_t v)
{
    /* on the source side `?` and `!` have no other coordinate to compare with: any */
    return e->kind != BRAIN_PAT_EXACT || (e->value >= 0 && (uint32_t)e->value == v);
}

static int morph_patterns(const brain_morph_t *m, const uint32_t dd[3], const uint32_t s[3],
                          brain_voxel_fn fn, void *ctx)
{
    for (size_t i = 0; i < m->n_items; i++) {
        const brain_pattern_t *p = &m->patterns[i];
        if (!pat_src_match(&p->src[0], s[0]) || !pat_src_match(&p->src[1], s[1]) ||
            !pat_src_match(&p->src[2], s[2]))
            continue;
        int64_t lo[3], hi[3], sk[3];
        for (int k = 0; k < 3; k++)
            pat_range(&p->dst[k], s[k], dd[k], &lo[k], &hi[k], &sk[k]);
        for (int64_t z = lo[2]; z < hi[2]; z++) {
            if (z == sk[2])
                continue;
            for (int64_t y = lo[1]; y < hi[1]; y++) {
                if (y == sk[1])
                    continue;
                for (int64_t x = lo[0]; x < hi[0]; x++) {
                    if (x == sk[0])
                        continue;
                    int rc = fn(ctx, (uint32_t)x, (uint32_t)y, (uint32_t)z);
                    if (rc)
                        return rc;
                }
            }
        }
    }
    return 0;
}

/* Projector on one axis: the destination range [lo, hi) of source coordinate s. */
static void proj_axis(uint32_t s, uint32_t sd, uint32_t dd, uint32_t *lo, uint32_t *hi)
{
    if (sd == dd) {
        *lo = s, *hi = s + 1;
    } else if (sd > dd) {
        /* x → floor(x / (src/dst)) = floor(x · dst / src) */
        uint32_t d = (uint32_t)((uint64_t)s * dd / sd);
        *lo = d, *hi = d + 1;
    } else {
        /* every d with floor(d / (dst/src)) == s, i.e. floor(d · src / dst) == s */
        uint64_t a = ((uint64_t)s * dd + sd - 1) / sd;
        uint64_t b = ((uint64_t)(s + 1) * dd + sd - 1) / sd;
        *lo = (uint32_t)a, *hi = (uint32_t)(b > dd ? dd : b);
    }
}

int brain_morph_voxels(const brain_morph_t *m, const int32_t sc[3], const uint32_t sd[3],
                       const uint32_t dd[3], const uint32_t s[3], brain_rng_t *rng,
                       brain_voxel_fn fn, void *ctx)
{
    int rc = 0;
    if (m->type == BRAIN_MORPH_VECTORS) {
        for (size_t i = 0; i < m->n_items && !rc; i++)
            rc = emit(fn, ctx, dd, (int64_t)s[0] + (int64_t)m->vectors[i][0] * sc[0],
                      (int64_t)s[1] + (int64_t)m->vectors[i][1] * sc[1],
                      (int64_t)s[2] + (int64_t)m->vectors[i][2] * sc[2]);
        return rc;
    }
    if (m->type == BRAIN_MORPH_PATTERNS)
        return morph_patterns(m, dd, s, fn, ctx);
    if (m->type != BRAIN_MORPH_FUNCTIONS)
        return 0;
    switch (m->fn) {
    case BRAIN_FN_PROJECTOR: {
        uint32_t lo[3], hi[3];
        for (int k = 0; k < 3; k++)
            proj_axis(s[k], sd[k], dd[k], &lo[k], &hi[k]);
        for (uint32_t z = lo[2]; z < hi[2]; z++)
            for (uint32_t y = lo[1]; y < hi[1]; y++)
                for (uint32_t x = lo[0]; x < hi[0]; x++)
                    if ((rc = fn(ctx, x, y, z)))
                        return rc;
        return 0;
    }
    case BRAIN_FN_BLOCK_TO_BLOCK: {
        uint32_t c[3];
        for (int k = 0; k < 3; k++)
            c[k] = s[k] < dd[k] ? s[k] : dd[k] - 1;
        return fn(ctx, c[0], c[1], c[2]);
    }
    case BRAIN_FN_EXPANDER_X: {
        /* scaled coordinates: d = floor(s · dst / src) on every axis */
        uint32_t c[3];
        for (int k = 0; k < 3; k++)
            c[k] = (uint32_t)((uint64_t)s[k] * dd[k] / sd[k]);
        return fn(ctx, c[0], c[1], c[2]);
    }
    case BRAIN_FN_REDUCER_X: {
        /* the source x in binary: bit i set → destination x = i, same y and z */
        for (uint32_t i = 0; i < dd[0] && i < 32 && !rc; i++)
            if (s[0] & (1u << i))
                rc = emit(fn, ctx, dd, i, s[1], s[2]);
        return rc;
    }
    case BRAIN_FN_RANDOMIZER: {
        uint32_t x = rng_below(rng, dd[0]);
        uint32_t y = rng_below(rng, dd[1]);
        uint32_t z = rng_below(rng, dd[2]);
        return fn(ctx, x, y, z);
    }
    case BRAIN_FN_ALL_TO_ALL:
        for (uint32_t z = 0; z < dd[2]; z++)
            for (uint32_t y = 0; y < dd[1]; y++)
                for (uint32_t x = 0; x < dd[0]; x++)
                    if ((rc = fn(ctx, x, y, z)))
                        return rc;
        return 0;
    case BRAIN_FN_LATERAL_PAIRS_X:
        /* pairs along x: 0↔1, 2↔3, … */
        return emit(fn, ctx, dd, (s[0] % 2 == 0) ? (int64_t)s[0] + 1 : (int64_t)s[0] - 1, s[1],
                    s[2]);
    default:
        return 0;
    }
}
