/* The gear rolling hash of vault_chunk.h: h = (h << 1) + gear[byte]; each byte leaves the hash
 * after 64 steps, so a cut depends only on the 64 bytes before it. The gear table is derived
 * once from a fixed seed (splitmix64), the same in every build: chunk boundaries are stable. */
#include "vault/vault_chunk.h"

#include <pthread.h>

static uint64_t gear[256];
static pthread_once_t gear_once = PTHREAD_ONCE_INIT;

static void vault_chunk_gear_init(void)
{
    uint64_t s = 0x67616e676c696f6eull; /* "ganglion" */
    for (int i = 0; i < 256; i++) {
        uint64_t z = (s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        gear[i] = z ^ (z >> 31);
    }
}

size_t vault_chunk_cut(const uint8_t *p, size_t n, int at_end)
{
    pthread_once(&gear_once, vault_chunk_gear_init);
    size_t lim = n < VAULT_CHUNK_MAX ? n : VAULT_CHUNK_MAX;
    if (lim <= VAULT_CHUNK_MIN)
        return (n >= VAULT_CHUNK_MAX || at_end) ? lim : 0;
    const uint64_t mask = ~(~0ull >> VAULT_CHUNK_BITS);
    uint64_t h = 0;
    /* the hash window is 64 bytes: warm it up on the bytes just before the minimum */
    for (size_t i = VAULT_CHUNK_MIN - 64; i < VAULT_CHUNK_MIN; i++)
        h = (h << 1) + gear[p[i]];
    for (size_t i = VAULT_CHUNK_MIN; i < lim; i++) {
        h = (h << 1) + gear[p[i]];
        if (!(h & mask))
            return i + 1;
    }
    if (n >= VAULT_CHUNK_MAX || at_end)
        return lim;
    return 0;
}
