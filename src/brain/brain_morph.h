/* Morphologies as voxel maps: for one source voxel, the destination voxels a mapping rule
 * connects it to. Pure and allocation-free per call, so synaptogenesis can run it on any
 * worker thread; the randomizer draws from a generator the caller seeds. */
#ifndef GANGLION_BRAIN_MORPH_H
#define GANGLION_BRAIN_MORPH_H

#include <stddef.h>
#include <stdint.h>

#include "brain/brain_genome.h"

/* splitmix64: the one seeded generator of the brain (builds and bursts). */
typedef struct {
    uint64_t s;
} brain_rng_t;
void brain_rng_seed(brain_rng_t *r, uint64_t seed);
uint64_t brain_rng_next(brain_rng_t *r);
/* Uniform in [0, 1) with 24 bits (exact as a float). */
float brain_rng_unit(brain_rng_t *r);
/* A generator for one (seed, a, b, c) tuple: independent streams for parallel builds. */
void brain_rng_derive(brain_rng_t *r, uint64_t seed, uint64_t a, uint64_t b, uint64_t c);

/* Called once per destination voxel, in a fixed order (z-major is not promised; the order
 * is deterministic for given inputs). Return non-zero to stop. */
typedef int (*brain_voxel_fn)(void *ctx, uint32_t x, uint32_t y, uint32_t z);

/* Destination voxels of source voxel src[] for morphology m with the rule's scalar, between an
 * area of src_dim and one of dst_dim. Coordinates outside the destination are dropped;
 * duplicates are not emitted twice by one morphology item but two items may reach the same
 * voxel (FEAGI builds one synapse per item, and so does ganglion). `rng` is used by the
 * randomizer only. Returns 0, or the callback's non-zero value. */
int brain_morph_voxels(const brain_morph_t *m, const int32_t scalar[3], const uint32_t src_dim[3],
                       const uint32_t dst_dim[3], const uint32_t src[3], brain_rng_t *rng,
                       brain_voxel_fn fn, void *ctx);

#endif
