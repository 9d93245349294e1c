/* The memory domain's state: the vector index of each layer (loaded from the store at start,
 * kept in step by the API after each commit) and per-layer retention, which deletes expired,
 * too old and surplus records in bounded batches on the thread pool. Loop thread. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "memory/memory_internal.h"

#define MEMORY_LOAD_PAGE 1000

const char *const memory_layers[MEMORY_LAYERS] = {"short-term", "working", "episodic", "semantic",
                                                  "long-term"};

int memory_layer_index(const char *name)
{
    for (int i = 0; name && i < MEMORY_LAYERS; i++)
        if (strcmp(name, memory_layers[i]) == 0)
            return i;
    return -1;
}

size_t memory_index_dim(memory_t *m, int layer)
{
    return m->knn[layer] ? memory_knn_dim(m->knn[layer]) : 0;
}

int memory_index_put(memory_t *m, int layer, const char *id, const float *vec, size_t dim,
                     int64_t created_ms, const char *principal, const char *agent)
{
    uv_rwlock_wrlock(&m->lock);
    int rc = 0;
    if (!m->knn[layer]) {
        m->knn[layer] = memory_knn_new(dim);
        if (!m->knn[layer])
            rc = -ENOMEM;
    }
    if (rc == 0 && memory_knn_dim(m->knn[layer]) != dim)
        rc = -EINVAL;
    if (rc == 0)
        rc = memory_knn_put(m->knn[layer], id, vec, created_ms, memory_knn_hash(principal),
                            memory_knn_hash(agent));
    uv_rwlock_wrunlock(&m->lock);
    return rc;
}

void memory_index_remove(memory_t *m, const char *id)
{
    uv_rwlock_wrlock(&m->lock);
    for (int i = 0; i < MEMORY_LAYERS; i++)
        if (m->knn[i] && memory_knn_remove(m->knn[i], id) == 0)
            break;
    uv_rwlock_wrunlock(&m->lock);
}

/* Start: the record count and every stored embedding, page by page. */
static int memory_load(memory_t *m)
{
    store_conn_t *c = store_conn_acquire(m->hub->store);
    if (!c)
        return -1;
    int rc = memory_db_count(c, &m->records);
    int64_t after = 0;
    size_t loaded = 0;
    while (rc == 0) {
        json_t *rows = NULL;
        rc = memory_db_vectors(c, after, MEMORY_LOAD_PAGE, &rows);
        size_t i, n = json_array_size(rows);
        json_t *r;
        json_array_foreach(rows, i, r)
        {
            after = json_integer_value(json_object_get(r, "rid"));
            size_t dim = 0;
            float *v = memory_row_vector(r, &dim);
            int layer = memory_layer_index(json_string_value(json_object_get(r, "layer")));
            if (v && layer >= 0 &&
                memory_index_put(m, layer, json_string_value(json_object_get(r, "id")), v, dim,
                                 json_integer_value(json_object_get(r, "created_at")),
                                 json_string_value(json_object_get(r, "principal")),
                                 json_string_value(json_object_get(r, "agent"))) == 0)
                loaded++;
            free(v);
        }
        json_decref(rows);
        if (n < MEMORY_LOAD_PAGE)
            break;
    }
    if (rc < 0)
        log_error(NULL, "memory: loading the records failed", "{s:s}", "error",
                  store_conn_error(c));
    store_conn_release(m->hub->store, c);
    if (rc == 0)
        log_info(NULL, "memory: index loaded", "{s:I,s:I}", "records", (json_int_t)m->records,
                 "vectors", (json_int_t)loaded);
    return rc < 0 ? -1 : 0;
}

/* ---- retention -------------------------------------------------------------------------- */

typedef struct memory_prune_job {
    memory_t *m;
    int64_t max_count[MEMORY_LAYERS], max_age_s[MEMORY_LAYERS], batch, now_ms;
    json_t *deleted;
} memory_prune_job_t;

static int memory_prune_work(store_conn_t *c, void *ud)
{
    memory_prune_job_t *j = ud;
    for (int i = 0; i < MEMORY_LAYERS; i++) {
        int64_t left = j->batch - (int64_t)json_array_size(j->deleted);
        if (left <= 0)
            break;
        int rc = memory_db_prune(c, memory_layers[i], j->max_count[i], j->max_age_s[i], j->now_ms,
                                 left, j->deleted);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void memory_prune_tick(uv_timer_t *t);

static void memory_prune_done(int status, void *ud)
{
    memory_prune_job_t *j = ud;
    memory_t *m = j->m;
    m->prune_running = 0;
    m->inflight--;
    size_t i, n = json_array_size(j->deleted);
    json_t *d;
    json_array_foreach(j->deleted, i, d)
        memory_index_remove(m, json_string_value(json_object_get(d, "id")));
    m->records -= (int64_t)n;
    if (m->records < 0)
        m->records = 0;
    m->pruned_total += n;
    if (status < 0)
        log_warn(NULL, "memory: retention pass failed", "{s:i}", "code", status);
    else if (n > 0)
        log_info(NULL, "memory: retention pruned records", "{s:I}", "records", (json_int_t)n);
    json_decref(j->deleted);
    free(j);
    /* a full batch: more may wait, go on at once rather than after the interval */
    if (!m->stopping && n > 0 && (int64_t)n >= m->hub->cfg.memory_prune_batch)
        uv_timer_start(&m->prune, memory_prune_tick, 0, 0);
}

static void memory_prune_tick(uv_timer_t *t)
{
    memory_t *m = t->data;
    if (m->stopping)
        return;
    const config_t *cfg = &m->hub->cfg;
    /* again after the interval, whatever this pass does (a full batch restarts it sooner) */
    uv_timer_start(&m->prune, memory_prune_tick, (uint64_t)cfg->memory_prune_interval_ms,
                   (uint64_t)cfg->memory_prune_interval_ms);
    if (m->prune_running)
        return;
    memory_prune_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->m = m;
    j->deleted = json_array();
    j->batch = cfg->memory_prune_batch;
    j->now_ms = clock_wall_ms();
    for (int i = 0; i < MEMORY_LAYERS; i++) {
        j->max_count[i] = cfg->memory_max_count[i];
        j->max_age_s[i] = cfg->memory_max_age_s[i];
    }
    if (!j->deleted ||
        store_submit(m->hub->store, m->hub->loop, memory_prune_work, memory_prune_done, j) < 0) {
        json_decref(j->deleted);
        free(j);
        return;
    }
    m->prune_running = 1;
    m->inflight++;
}

/* ---- life ------------------------------------------------------------------------------- */

int memory_start(hub_t *hub)
{
    memory_t *m = calloc(1, sizeof *m);
    if (!m || uv_rwlock_init(&m->lock) != 0) {
        free(m);
        return -1;
    }
    m->hub = hub;
    hub->memory = m;
    if (memory_load(m) < 0)
        return -1;
    uv_timer_init(hub->loop, &m->prune);
    m->prune.data = m;
    uv_unref((uv_handle_t *)&m->prune);
    uint64_t every = (uint64_t)hub->cfg.memory_prune_interval_ms;
    uv_timer_start(&m->prune, memory_prune_tick, every, every);
    return 0;
}

void memory_shutdown(hub_t *hub)
{
    memory_t *m = hub->memory;
    if (!m)
        return;
    m->stopping = 1;
    uv_timer_stop(&m->prune);
}

bool memory_busy(const hub_t *hub)
{
    return hub->memory && hub->memory->inflight > 0;
}

static void memory_free_closed(uv_handle_t *h)
{
    memory_t *m = h->data;
    for (int i = 0; i < MEMORY_LAYERS; i++)
        memory_knn_free(m->knn[i]);
    uv_rwlock_destroy(&m->lock);
    free(m);
}

void memory_destroy(hub_t *hub)
{
    memory_t *m = hub->memory;
    if (!m)
        return;
    hub->memory = NULL;
    if (m->prune.loop) {
        uv_timer_stop(&m->prune);
        uv_close((uv_handle_t *)&m->prune, memory_free_closed);
    } else {
        m->prune.data = m;
        memory_free_closed((uv_handle_t *)&m->prune);
    }
}
