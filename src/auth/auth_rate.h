/* Token buckets keyed by a string ("ip:127.0.0.1", "p:user:alice"), in a table bounded to
 * `max` entries: idle buckets are dropped, and when every bucket is busy the least recently
 * used one goes. Loop thread only. The clock is a parameter so unit tests drive it. */
#ifndef GANGLION_AUTH_RATE_H
#define GANGLION_AUTH_RATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct auth_rate auth_rate_t;

typedef struct auth_rate_info {
    int64_t limit;       /* the bucket size */
    int64_t remaining;   /* whole tokens left after this request */
    int64_t reset_s;     /* seconds until the bucket is full again */
    int64_t retry_after; /* when refused: seconds until one token is there (>= 1) */
} auth_rate_info_t;

auth_rate_t *auth_rate_new(size_t max);
void auth_rate_destroy(auth_rate_t **r);

/* Takes one token from bucket `key` (created full), refilled at `rate` tokens per second up to
 * `burst`. Buckets untouched for idle_ms are evicted as the table is swept. True = allowed. */
bool auth_rate_take(auth_rate_t *r, const char *key, double rate, double burst, uint64_t now_ms,
                    uint64_t idle_ms, auth_rate_info_t *info);

size_t auth_rate_count(const auth_rate_t *r);

#endif
