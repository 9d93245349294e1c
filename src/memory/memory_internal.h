/* What the memory domain's files share: its state, the record filter, and the statements
 * (memory_db.c, run on store worker threads). */
#ifndef GANGLION_MEMORY_INTERNAL_H
#define GANGLION_MEMORY_INTERNAL_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "core/hub.h"
#include "memory/memory.h"
#include "memory/memory_knn.h"
#include "memory/memory_text.h"

#define MEMORY_LAYERS      5
#define MEMORY_NAME_MAX    128 /* principal and agent names */
#define MEMORY_TAGS_MAX    32  /* tags on one record */
#define MEMORY_TAG_MAX     64  /* bytes of one tag */
#define MEMORY_LIMIT_MAX   1000
#define MEMORY_CANDIDATES  1000       /* full-text candidates ranked in C (the newest matching) */
#define MEMORY_POOL_FLOATS (1u << 22) /* kNN over more floats runs on the thread pool */

extern const char *const memory_layers[MEMORY_LAYERS];
int memory_layer_index(const char *name); /* -1 if unknown */

typedef struct memory {
    hub_t *hub;
    uv_rwlock_t lock; /* the indexes: searches on the pool read, the loop writes */
    memory_knn_t *knn[MEMORY_LAYERS];
    uv_timer_t prune;
    int prune_running;
    int64_t records;  /* rows in memory_records (as of the last commit) */
    int64_t reserved; /* inserts in flight, counted against memory.max_records */
    int inflight;     /* jobs on the pool */
    int stopping;
    uint64_t pruned_total, searches_total;
} memory_t;

typedef struct memory_filter {
    const char *layer, *principal, *agent;
    int64_t since_ms, until_ms, now_ms; /* now_ms: hides expired records */
    int64_t limit, offset;
} memory_filter_t;

/* ---- memory_db.c (worker threads) ---- */
int memory_db_insert(store_conn_t *c, const json_t *rec, const float *vec, size_t dim);
int memory_db_get(store_conn_t *c, const char *id, int64_t now_ms, json_t **row);
int memory_db_delete(store_conn_t *c, const char *id, int64_t *affected);
int memory_db_promote(store_conn_t *c, const char *id, const char *layer, int64_t *affected);
int memory_db_list(store_conn_t *c, const memory_filter_t *f, json_t **rows);
/* Rows matching the terms (newest first, at most MEMORY_CANDIDATES) under the filter. */
int memory_db_match(store_conn_t *c, bool pg, const memory_terms_t *t, const memory_filter_t *f,
                    json_t **rows);
int memory_db_by_ids(store_conn_t *c, const char *const *ids, size_t n, const memory_filter_t *f,
                     json_t **rows);
int memory_db_count(store_conn_t *c, int64_t *n);
/* One page of embeddings after rid (for the index at start). */
int memory_db_vectors(store_conn_t *c, int64_t after_rid, int limit, json_t **rows);
/* Deletes at most batch records of one layer that are expired, older than max_age_s or beyond
 * max_count (oldest first); their ids are appended to deleted. */
int memory_db_prune(store_conn_t *c, const char *layer, int64_t max_count, int64_t max_age_s,
                    int64_t now_ms, int64_t batch, json_t *deleted);

/* ---- memory.c (loop thread) ---- */
/* The record's embedding into its layer's index (the first vector fixes the layer's dimension).
 * -EINVAL when dim differs from the layer's, -ENOMEM. */
int memory_index_put(memory_t *m, int layer, const char *id, const float *vec, size_t dim,
                     int64_t created_ms, const char *principal, const char *agent);
void memory_index_remove(memory_t *m, const char *id);
/* The layer's dimension, 0 while it has no vector. */
size_t memory_index_dim(memory_t *m, int layer);

/* A row to the API's record (new reference). */
json_t *memory_record_from_row(const json_t *row);
/* The embedding of a row as floats (malloc'd, *dim set), NULL if none. */
float *memory_row_vector(const json_t *row, size_t *dim);

#endif
