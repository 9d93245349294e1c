/* A bounded pool of cbad scratch contexts shared by the thread pool's workers: a worker takes
 * one for a job and gives it back, so that the zstd contexts and buffers inside (sized by the
 * largest input they met) are reused instead of allocated per job. */
#ifndef GANGLION_CBAD_POOL_H
#define GANGLION_CBAD_POOL_H

#include <pthread.h>
#include <stddef.h>

#include "watch/cbad.h"

/* The pool keeps at most `cap` idle scratches, the number of threads that can run a job at
 * once: one more would never be taken while the others are idle. A scratch given back to a
 * full pool is freed. Fields are private to cbad_pool.c. */
typedef struct cbad_pool {
    pthread_mutex_t mu;
    cbad_scratch_t **idle; /* cap slots, allocated once */
    size_t nidle, cap;
    size_t live; /* scratches in existence: taken plus idle */
} cbad_pool_t;

/* libuv's thread pool size as libuv reads it (UV_THREADPOOL_SIZE, default 4, at most 1024). */
size_t cbad_pool_threads(void);

int cbad_pool_init(cbad_pool_t *p, size_t cap); /* 0 or -ENOMEM; cap >= 1 */
/* A scratch for one job, idle or new; NULL when out of memory. The caller owns it until it is
 * given back. Safe from any thread. */
cbad_scratch_t *cbad_pool_scratch_take(cbad_pool_t *p);
/* Gives a scratch back (NULL is ignored): kept when fewer than cap are idle, freed otherwise. */
void cbad_pool_scratch_give(cbad_pool_t *p, cbad_scratch_t *sc);
size_t cbad_pool_idle(cbad_pool_t *p);
size_t cbad_pool_live(cbad_pool_t *p);  /* scratches made and not freed: at most cap + taken */
void cbad_pool_destroy(cbad_pool_t *p); /* frees the idle scratches; none may be taken */

#endif
