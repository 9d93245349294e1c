/* FNV-1a (64-bit): the one fast, non-cryptographic hash of the in-memory tables (metrics
 * series, the agents' id index, ZMQ peers, cached API-key hashes, the agents' render cache).
 * Never for anything that must resist a chosen input beyond a longer probe. */
#ifndef GANGLION_HASH_H
#define GANGLION_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV1A_SEED 14695981039346656037ULL

/* Continues h over n bytes at p (start with HASH_FNV1A_SEED). */
static inline uint64_t hash_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

/* The same over a NUL-terminated string. */
static inline uint64_t hash_fnv1a_str(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

#endif
