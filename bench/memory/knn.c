/* kNN bench: exact cosine top-k over N vectors of DIM floats with the memory index
 * (src/memory/memory_knn.c: contiguous unit vectors, blocked dot products, the half-way bound,
 * a bounded heap) against the naive loop over the same data (one pair at a time, norms computed
 * per pair). Prints one JSON object. Usage: knn N DIM QUERIES K [clustered] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "memory/memory_knn.h"

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static float rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: knn N DIM QUERIES K [clustered]\n");
        return 2;
    }
    size_t n = strtoull(argv[1], NULL, 10), dim = strtoull(argv[2], NULL, 10);
    int queries = atoi(argv[3]);
    size_t k = strtoull(argv[4], NULL, 10);
    int clustered = argc > 5 && strcmp(argv[5], "clustered") == 0;
    memory_knn_t *ix = memory_knn_new(dim);
    float *v = malloc(dim * sizeof *v);
    /* clustered: 256 centres, each vector a centre plus noise (closer to real embeddings,
     * where most vectors are far from a query and the bound drops them half-way) */
    size_t ncent = 256;
    float *cent = malloc(ncent * dim * sizeof *cent);
    for (size_t i = 0; i < ncent * dim; i++)
        cent[i] = rnd();
    double t0 = now_s();
    char id[MEMORY_ID_LEN];
    for (size_t i = 0; i < n; i++) {
        const float *c = cent + (i % ncent) * dim;
        for (size_t d = 0; d < dim; d++)
            v[d] = clustered ? c[d] + 0.3f * rnd() : rnd();
        snprintf(id, sizeof id, "mem-%016zx", i);
        if (memory_knn_put(ix, id, v, (int64_t)i, 0, 0) != 0) {
            fprintf(stderr, "put failed at %zu\n", i);
            return 1;
        }
    }
    double load = now_s() - t0;
    memory_knn_hit_t *a = calloc(k, sizeof *a), *b = calloc(k, sizeof *b);
    double *ta = calloc((size_t)queries, sizeof *ta), *tb = calloc((size_t)queries, sizeof *tb);
    int same = 1;
    for (int q = 0; q < queries; q++) {
        const float *c = cent + ((size_t)q * 7 % ncent) * dim;
        for (size_t d = 0; d < dim; d++)
            v[d] = clustered ? c[d] + 0.3f * rnd() : rnd();
        double s = now_s();
        int na = memory_knn_search(ix, v, k, NULL, a);
        ta[q] = now_s() - s;
        s = now_s();
        int nb = memory_knn_search_naive(ix, v, k, NULL, b);
        tb[q] = now_s() - s;
        for (int i = 0; i < na && i < nb; i++)
            same &= strcmp(a[i].id, b[i].id) == 0;
        same &= na == nb;
    }
    qsort(ta, (size_t)queries, sizeof *ta, cmp_d);
    qsort(tb, (size_t)queries, sizeof *tb, cmp_d);
    int p50 = queries / 2, p99 = (queries * 99 + 99) / 100 - 1;
    printf("{\"n\":%zu,\"dim\":%zu,\"k\":%zu,\"queries\":%d,\"data\":\"%s\",\"load_s\":%.2f,"
           "\"index_p50_ms\":%.2f,\"index_p99_ms\":%.2f,\"naive_p50_ms\":%.2f,"
           "\"naive_p99_ms\":%.2f,\"speedup_p50\":%.2f,\"same_answers\":%s}\n",
           n, dim, k, queries, clustered ? "clustered" : "uniform", load, ta[p50] * 1e3,
           ta[p99] * 1e3, tb[p50] * 1e3, tb[p99] * 1e3, tb[p50] / ta[p50], same ? "true" : "false");
    memory_knn_free(ix);
    return same ? 0 : 1;
}
