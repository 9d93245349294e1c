/* Bounded token-bucket table: chained hashing over a fixed array of buckets, so memory is
 * set at creation and a flood of new client addresses cannot grow it. */
#include "auth/auth_rate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RATE_KEY_MAX 96

typedef struct rate_bucket {
    char key[RATE_KEY_MAX];
    double tokens;
    uint64_t last_ms;
    uint32_t next; /* chain or free list: index + 1, 0 = end */
    bool used;
} rate_bucket_t;

struct auth_rate {
    rate_bucket_t *b;
    uint32_t *heads; /* index + 1 */
    size_t max, nheads, count;
    uint32_t top;       /* buckets [0, top) have been handed out; the rest were never touched */
    uint32_t free_head; /* buckets released by eviction, index + 1 */
    uint64_t last_sweep_ms;
};

static uint32_t rate_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

auth_rate_t *auth_rate_new(size_t max)
{
    auth_rate_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->max = max < 1 ? 1 : max;
    r->nheads = r->max * 2;
    r->b = calloc(r->max, sizeof *r->b);
    r->heads = calloc(r->nheads, sizeof *r->heads);
    if (!r->b || !r->heads) {
        auth_rate_destroy(&r);
        return NULL;
    }
    /* Buckets are handed out from `top` upwards, so pages of the table that no client has
     * needed yet are never touched and cost no resident memory. */
    return r;
}

void auth_rate_destroy(auth_rate_t **r)
{
    if (!r || !*r)
        return;
    free((*r)->b);
    free((*r)->heads);
    free(*r);
    *r = NULL;
}

size_t auth_rate_count(const auth_rate_t *r)
{
    return r->count;
}

static void rate_remove(auth_rate_t *r, uint32_t idx)
{
    rate_bucket_t *e = &r->b[idx];
    uint32_t *link = &r->heads[rate_hash(e->key) % r->nheads];
    while (*link && *link != idx + 1)
        link = &r->b[*link - 1].next;
    if (*link)
        *link = e->next;
    e->used = false;
    e->next = r->free_head;
    r->free_head = idx + 1;
    r->count--;
}

static void rate_sweep(auth_rate_t *r, uint64_t now_ms, uint64_t idle_ms)
{
    for (uint32_t i = 0; i < r->top; i++)
        if (r->b[i].used && now_ms - r->b[i].last_ms >= idle_ms)
            rate_remove(r, i);
    r->last_sweep_ms = now_ms;
}

bool auth_rate_take(auth_rate_t *r, const char *key, double rate, double burst, uint64_t now_ms,
                    uint64_t idle_ms, auth_rate_info_t *info)
{
    char k[RATE_KEY_MAX];
    size_t kl = strlen(key);
    if (kl >= sizeof k)
        kl = sizeof k - 1;
    memcpy(k, key, kl);
    k[kl] = 0;
    uint32_t h = rate_hash(k) % r->nheads;
    rate_bucket_t *e = NULL;
    for (uint32_t i = r->heads[h]; i; i = r->b[i - 1].next)
        if (strcmp(r->b[i - 1].key, k) == 0) {
            e = &r->b[i - 1];
            break;
        }
    if (!e) {
        bool full = !r->free_head && r->top == r->max;
        if (now_ms - r->last_sweep_ms >= idle_ms || full)
            rate_sweep(r, now_ms, idle_ms);
        if (!r->free_head && r->top == r->max) { /* all busy: the least recently used goes */
            uint32_t lru = 0;
            for (uint32_t i = 1; i < r->max; i++)
                if (r->b[i].last_ms < r->b[lru].last_ms)
                    lru = i;
            rate_remove(r, lru);
        }
        uint32_t idx;
        if (r->free_head) {
            idx = r->free_head - 1;
            r->free_head = r->b[idx].next;
        } else {
            idx = r->top++;
        }
        e = &r->b[idx];
        memcpy(e->key, k, kl + 1);
        e->tokens = burst;
        e->last_ms = now_ms;
        e->used = true;
        e->next = r->heads[h];
        r->heads[h] = idx + 1;
        r->count++;
    }
    if (now_ms > e->last_ms)
        e->tokens += rate * (double)(now_ms - e->last_ms) / 1000.0;
    if (e->tokens > burst)
        e->tokens = burst;
    e->last_ms = now_ms;
    bool ok = e->tokens >= 1.0;
    if (ok)
        e->tokens -= 1.0;
    if (info) {
        info->limit = (int64_t)burst;
        info->remaining = (int64_t)floor(e->tokens);
        info->reset_s = (int64_t)ceil((burst - e->tokens) / rate);
        info->retry_after = ok ? 0 : (int64_t)ceil((1.0 - e->tokens) / rate);
        if (!ok && info->retry_after < 1)
            info->retry_after = 1;
    }
    return ok;
}
