/* The keyed open-addressing index (see htab.h). */
#include "core/htab.h"

#include <assert.h>
#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HTAB_CAP_MIN 16 /* slots; always a power of two */

typedef struct htab_slot {
    uint64_t hash; /* of the item's key; meaningful only when item != NULL */
    void *item;
} htab_slot_t;

struct htab {
    htab_key_fn key;
    htab_slot_t *slots;
    size_t cap; /* power of two */
    size_t count;
    uint64_t k0, k1; /* the table's random SipHash key */
};

/* SipHash-1-3 (one compression round per 8-byte word, three finalisation rounds): the keyed
 * hash of hash tables exposed to chosen keys, at about half SipHash-2-4's cost. */
#define HTAB_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define HTAB_SIPROUND                                                                              \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = HTAB_ROTL(v1, 13);                                                                    \
        v1 ^= v0;                                                                                  \
        v0 = HTAB_ROTL(v0, 32);                                                                    \
        v2 += v3;                                                                                  \
        v3 = HTAB_ROTL(v3, 16);                                                                    \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = HTAB_ROTL(v3, 21);                                                                    \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = HTAB_ROTL(v1, 17);                                                                    \
        v1 ^= v2;                                                                                  \
        v2 = HTAB_ROTL(v2, 32);                                                                    \
    } while (0)

static uint64_t htab_load64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v); /* little-endian hosts: the word SipHash defines */
    return v;
}

uint64_t htab_siphash(uint64_t k0, uint64_t k1, const void *key, size_t len, int c_rounds,
                      int d_rounds)
{
    const unsigned char *p = key;
    uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
    size_t whole = len & ~(size_t)7;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = htab_load64(p + i);
        v3 ^= m;
        for (int r = 0; r < c_rounds; r++)
            HTAB_SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = 0; i < (len & 7); i++)
        b |= (uint64_t)p[whole + i] << (8 * i);
    v3 ^= b;
    for (int r = 0; r < c_rounds; r++)
        HTAB_SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    for (int r = 0; r < d_rounds; r++)
        HTAB_SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t htab_hash(const htab_t *t, const void *key, size_t len)
{
    return htab_siphash(t->k0, t->k1, key, len, 1, 3);
}

int htab_new(htab_t **out, htab_key_fn key)
{
    assert(key);
    *out = NULL;
    if (sodium_init() < 0)
        return -ENOMEM;
    htab_t *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->slots = calloc(HTAB_CAP_MIN, sizeof *t->slots);
    if (!t->slots) {
        free(t);
        return -ENOMEM;
    }
    t->key = key;
    t->cap = HTAB_CAP_MIN;
    t->k0 = randombytes_random() | (uint64_t)randombytes_random() << 32;
    t->k1 = randombytes_random() | (uint64_t)randombytes_random() << 32;
    *out = t;
    return 0;
}

void htab_destroy(htab_t **t)
{
    if (!t || !*t)
        return;
    free((*t)->slots);
    free(*t);
    *t = NULL;
}

static bool htab_same(const htab_t *t, const htab_slot_t *s, uint64_t h, const void *key,
                      size_t len)
{
    if (s->hash != h)
        return false;
    size_t n;
    const void *k = t->key(s->item, &n);
    return n == len && memcmp(k, key, len) == 0;
}

/* The slot holding key, or the empty slot that ends its probe chain. */
static size_t htab_find(const htab_t *t, uint64_t h, const void *key, size_t len)
{
    size_t mask = t->cap - 1;
    size_t i = (size_t)h & mask;
    while (t->slots[i].item && !htab_same(t, &t->slots[i], h, key, len))
        i = (i + 1) & mask;
    return i;
}

void *htab_get(const htab_t *t, const void *key, size_t len)
{
    return t->slots[htab_find(t, htab_hash(t, key, len), key, len)].item;
}

void *htab_get_str(const htab_t *t, const char *key)
{
    return htab_get(t, key, strlen(key));
}

static int htab_grow(htab_t *t)
{
    size_t cap = t->cap * 2;
    htab_slot_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -ENOMEM;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slots[i].item)
            continue;
        size_t j = (size_t)t->slots[i].hash & (cap - 1);
        while (slots[j].item)
            j = (j + 1) & (cap - 1);
        slots[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

int htab_put(htab_t *t, void *item)
{
    assert(item);
    size_t len;
    const void *key = t->key(item, &len);
    uint64_t h = htab_hash(t, key, len);
    size_t i = htab_find(t, h, key, len);
    if (t->slots[i].item)
        return -EEXIST;
    if ((t->count + 1) * 2 > t->cap) {
        if (htab_grow(t) < 0)
            return -ENOMEM;
        i = htab_find(t, h, key, len);
    }
    t->slots[i].hash = h;
    t->slots[i].item = item;
    t->count++;
    return 0;
}

void *htab_del(htab_t *t, const void *key, size_t len)
{
    size_t mask = t->cap - 1;
    size_t i = htab_find(t, htab_hash(t, key, len), key, len);
    void *item = t->slots[i].item;
    if (!item)
        return NULL;
    /* Backward shift: move each later member of the chain into the hole unless its home slot
     * lies cyclically in (hole, j], so that every probe chain stays unbroken. */
    for (size_t j = (i + 1) & mask; t->slots[j].item; j = (j + 1) & mask) {
        size_t home = (size_t)t->slots[j].hash & mask;
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i].item = NULL;
    t->count--;
    return item;
}

size_t htab_count(const htab_t *t)
{
    return t->count;
}

void *htab_next(const htab_t *t, size_t *pos)
{
    while (*pos < t->cap) {
        void *item = t->slots[(*pos)++].item;
        if (item)
            return item;
    }
    return NULL;
}
