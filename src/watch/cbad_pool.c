/* The bounded pool of cbad scratch contexts (cbad_pool.h). Each scratch holds two zstd
 * compression contexts and buffers that grow to the largest windows it scored (about 0.95 MB in
 * the soak: 0.7 MB of zstd contexts, 0.25 MB of buffers), so the pool's bound, the thread
 * pool's size, is what bounds the detectors' working memory: 4 x 0.95 MB by default. */
#include "watch/cbad_pool.h"

#include <errno.h>
#include <stdlib.h>

#define CBAD_POOL_THREADS_DEFAULT 4    /* libuv's default */
#define CBAD_POOL_THREADS_MAX     1024 /* and its maximum */

size_t cbad_pool_threads(void)
{
    const char *v = getenv("UV_THREADPOOL_SIZE");
    if (!v || !*v)
        return CBAD_POOL_THREADS_DEFAULT;
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v)
        return CBAD_POOL_THREADS_DEFAULT;
    if (n < 1)
        return 1; /* as libuv: at least one thread */
    return n > CBAD_POOL_THREADS_MAX ? CBAD_POOL_THREADS_MAX : (size_t)n;
}

int cbad_pool_init(cbad_pool_t *p, size_t cap)
{
    *p = (cbad_pool_t){.cap = cap ? cap : 1};
    p->idle = calloc(p->cap, sizeof *p->idle);
    if (!p->idle)
        return -ENOMEM;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p->idle);
        p->idle = NULL;
        return -ENOMEM;
    }
    return 0;
}

cbad_scratch_t *cbad_pool_scratch_take(cbad_pool_t *p)
{
    cbad_scratch_t *sc = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->nidle)
        sc = p->idle[--p->nidle];
    pthread_mutex_unlock(&p->mu);
    if (sc)
        return sc;
    if (cbad_scratch_new(&sc) < 0)
        return NULL;
    pthread_mutex_lock(&p->mu);
    p->live++;
    pthread_mutex_unlock(&p->mu);
    return sc;
}

void cbad_pool_scratch_give(cbad_pool_t *p, cbad_scratch_t *sc)
{
    if (!sc)
        return;
    pthread_mutex_lock(&p->mu);
    if (p->nidle < p->cap) {
        p->idle[p->nidle++] = sc;
        sc = NULL;
    } else {
        p->live--;
    }
    pthread_mutex_unlock(&p->mu);
    cbad_scratch_destroy(&sc);
}

size_t cbad_pool_idle(cbad_pool_t *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->nidle;
    pthread_mutex_unlock(&p->mu);
    return n;
}

size_t cbad_pool_live(cbad_pool_t *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->live;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void cbad_pool_destroy(cbad_pool_t *p)
{
    if (!p->idle)
        return;
    for (size_t i = 0; i < p->nidle; i++)
        cbad_scratch_destroy(&p->idle[i]);
    free(p->idle);
    p->idle = NULL;
    p->nidle = 0;
    pthread_mutex_destroy(&p->mu);
}
