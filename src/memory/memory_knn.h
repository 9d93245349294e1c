/* The in-memory vector index of one memory layer: every embedding normalised and packed into one
 * contiguous float array, searched exactly (cosine = dot product of unit vectors) with blocked
 * dot products, a Cauchy-Schwarz bound that drops a vector half-way, and a bounded top-k heap. */
#ifndef GANGLION_MEMORY_KNN_H
#define GANGLION_MEMORY_KNN_H

#include <stddef.h>
#include <stdint.h>

#define MEMORY_ID_LEN    24 /* "mem-" + 16 hex + NUL, padded */
#define MEMORY_KNN_MAX_K 1000

typedef struct memory_knn memory_knn_t;

/* What a scan keeps: 0 hashes and 0 times mean "any". */
typedef struct memory_knn_filter {
    uint64_t principal_hash;
    uint64_t agent_hash;
    int64_t since_ms, until_ms;
} memory_knn_filter_t;

typedef struct memory_knn_hit {
    float score; /* cosine similarity in [-1, 1] */
    char id[MEMORY_ID_LEN];
} memory_knn_hit_t;

/* A new empty index for vectors of dim floats (1..4096); NULL when out of memory. */
memory_knn_t *memory_knn_new(size_t dim);
void memory_knn_free(memory_knn_t *ix);
size_t memory_knn_dim(const memory_knn_t *ix);
size_t memory_knn_count(const memory_knn_t *ix);

/* Adds (or replaces) id's vector, normalised on the way in. -EINVAL for a zero vector or a bad
 * id, -ENOMEM. */
int memory_knn_put(memory_knn_t *ix, const char *id, const float *vec, int64_t created_ms,
                   uint64_t principal_hash, uint64_t agent_hash);
/* Removes id; 0 or -ENOENT. */
int memory_knn_remove(memory_knn_t *ix, const char *id);

/* The k most similar vectors to q (need not be normalised) among those the filter keeps, best
 * first (ties: smaller id first). Returns the number of hits written to out (<= k), or -EINVAL
 * for a zero query. Read-only: several searches may run at once. */
int memory_knn_search(const memory_knn_t *ix, const float *q, size_t k,
                      const memory_knn_filter_t *f, memory_knn_hit_t *out);
/* The same answer by the plain loop (one vector at a time, norms computed per pair, no bound):
 * the baseline bench/memory compares against and the tests check the index against. */
int memory_knn_search_naive(const memory_knn_t *ix, const float *q, size_t k,
                            const memory_knn_filter_t *f, memory_knn_hit_t *out);

/* FNV-1a of a string (the filter's hashes); 0 for NULL or "". */
uint64_t memory_knn_hash(const char *s);

#endif
