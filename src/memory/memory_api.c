/* The memory endpoints: records (store, list, get, delete, promote) and search (full text,
 * embeddings, or both). Every write replies after its commit and updates the vector index then;
 * searches run on the thread pool (candidates from the store, the index read under its lock).
 * A caller with the agent role sees only the records it wrote. */
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/bus.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/strbuf.h"
#include "memory/memory_internal.h"
#include "store/store_problem.h"

#define MEMORY_K_DEFAULT   10
#define MEMORY_VECTOR_POOL 1000 /* vector candidates a hybrid search considers */

enum { MJ_CREATE, MJ_LIST, MJ_GET, MJ_DELETE, MJ_PROMOTE, MJ_SEARCH };

typedef struct memory_job {
    int kind;
    api_req_t *req;
    memory_t *m;
    bool pg;
    char id[MEMORY_ID_LEN + 8];
    char owner[MEMORY_NAME_MAX + 1]; /* non-empty: only this principal's records */
    char layer[16], principal[MEMORY_NAME_MAX + 1], agent[MEMORY_NAME_MAX + 1];
    memory_filter_t f;
    json_t *rec; /* create: the record; get/promote: the row found */
    float *vec;  /* create: the embedding; search: the query vector */
    size_t dim;
    memory_terms_t terms;
    int64_t k;
    double weight; /* hybrid: the text score's share */
    int outcome;   /* 0, 404, 422 (promotion to a layer of another dimension) */
    json_t *out;
} memory_job_t;

/* ---- jobs --------------------------------------------------------------------------------- */

static void memory_job_free(memory_job_t *j)
{
    json_decref(j->rec);
    json_decref(j->out);
    free(j->vec);
    free(j);
}

static bool memory_owned(const memory_job_t *j, const json_t *row)
{
    return !j->owner[0] ||
           strcmp(json_string_value(json_object_get(row, "principal")) ?: "", j->owner) == 0;
}

typedef struct memory_hit {
    json_t *row;
    double text, vector, score;
    int has_vector;
} memory_hit_t;

static int memory_hit_cmp(const void *a, const void *b)
{
    const memory_hit_t *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    int64_t cx = json_integer_value(json_object_get(x->row, "created_at"));
    int64_t cy = json_integer_value(json_object_get(y->row, "created_at"));
    if (cx != cy)
        return cx < cy ? 1 : -1;
    return strcmp(json_string_value(json_object_get(x->row, "id")) ?: "",
                  json_string_value(json_object_get(y->row, "id")) ?: "");
}

/* The vector candidates of every layer the query's dimension fits (or the one asked for). */
static int memory_search_vectors(memory_job_t *j, memory_knn_hit_t **hits, size_t *nhits)
{
    memory_t *m = j->m;
    size_t want = j->terms.n ? MEMORY_VECTOR_POOL : (size_t)j->k;
    memory_knn_filter_t kf = {.principal_hash = memory_knn_hash(j->f.principal),
                              .agent_hash = memory_knn_hash(j->f.agent),
                              .since_ms = j->f.since_ms,
                              .until_ms = j->f.until_ms};
    memory_knn_hit_t *all = calloc(want * MEMORY_LAYERS, sizeof *all);
    if (!all)
        return STORE_ERR;
    size_t n = 0;
    uv_rwlock_rdlock(&m->lock);
    for (int l = 0; l < MEMORY_LAYERS; l++) {
        if (j->f.layer && memory_layer_index(j->f.layer) != l)
            continue;
        if (!m->knn[l] || memory_knn_dim(m->knn[l]) != j->dim)
            continue;
        int got = memory_knn_search(m->knn[l], j->vec, want, &kf, all + n);
        if (got > 0)
            n += (size_t)got;
    }
    uv_rwlock_rdunlock(&m->lock);
    *hits = all;
    *nhits = n;
    return 0;
}

static int memory_search_work(store_conn_t *c, memory_job_t *j)
{
    json_t *rows = json_array();
    memory_knn_hit_t *vh = NULL;
    size_t nv = 0;
    int rc = 0;
    if (j->terms.n) {
        json_t *cand = NULL;
        rc = memory_db_match(c, j->pg, &j->terms, &j->f, &cand);
        if (rc == 0)
            json_array_extend(rows, cand);
        json_decref(cand);
    }
    if (rc == 0 && j->vec) {
        rc = memory_search_vectors(j, &vh, &nv);
        /* rows for the vector hits not among the text candidates (filters checked again) */
        const char **ids = rc == 0 ? calloc(nv ? nv : 1, sizeof *ids) : NULL;
        size_t nid = 0;
        for (size_t i = 0; ids && i < nv; i++) {
            bool have = false;
            size_t r;
            json_t *row;
            json_array_foreach(rows, r, row)
            {
                if (strcmp(json_string_value(json_object_get(row, "id")) ?: "", vh[i].id) == 0) {
                    have = true;
                    break;
                }
            }
            if (!have)
                ids[nid++] = vh[i].id;
        }
        json_t *more = NULL;
        if (ids)
            rc = memory_db_by_ids(c, ids, nid, &j->f, &more);
        else if (rc == 0)
            rc = STORE_ERR;
        if (rc == 0)
            json_array_extend(rows, more);
        json_decref(more);
        free(ids);
    }
    size_t n = json_array_size(rows);
    memory_hit_t *h = calloc(n ? n : 1, sizeof *h);
    const char **content = calloc(n ? n : 1, sizeof *content);
    double *text = calloc(n ? n : 1, sizeof *text);
    if (rc == 0 && (!h || !content || !text))
        rc = STORE_ERR;
    if (rc == 0) {
        for (size_t i = 0; i < n; i++) {
            h[i].row = json_array_get(rows, i);
            content[i] = json_string_value(json_object_get(h[i].row, "content")) ?: "";
        }
        double max_text = 0;
        if (j->terms.n) {
            memory_text_rank(&j->terms, content, n, text);
            for (size_t i = 0; i < n; i++)
                max_text = text[i] > max_text ? text[i] : max_text;
        }
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) {
            memory_hit_t x = h[i];
            x.text = j->terms.n ? text[i] : 0;
            const char *id = json_string_value(json_object_get(x.row, "id")) ?: "";
            for (size_t v = 0; v < nv; v++)
                if (strcmp(vh[v].id, id) == 0) {
                    x.vector = vh[v].score;
                    x.has_vector = 1;
                    break;
                }
            if (j->terms.n && j->vec) {
                double tn = max_text > 0 ? x.text / max_text : 0;
                x.score = j->weight * tn + (1 - j->weight) * (x.has_vector ? x.vector : 0);
            } else if (j->terms.n) {
                if (x.text <= 0)
                    continue; /* a candidate the words do not match after all */
                x.score = x.text;
            } else {
                x.score = x.vector;
            }
            x.score = round(x.score * 1e6) / 1e6;
            h[kept++] = x;
        }
        qsort(h, kept, sizeof *h, memory_hit_cmp);
        if (kept > (size_t)j->k)
            kept = (size_t)j->k;
        j->out = json_array();
        for (size_t i = 0; j->out && i < kept; i++) {
            json_t *r = json_object();
            json_object_set_new(r, "record", memory_record_from_row(h[i].row));
            json_object_set_new(r, "score", json_real(h[i].score));
            if (j->terms.n) {
                json_object_set_new(r, "text_score", json_real(h[i].text));
                char *snip = memory_text_snippet(
                    &j->terms, json_string_value(json_object_get(h[i].row, "content")) ?: "");
                json_object_set_new(r, "snippet", snip ? json_string(snip) : json_null());
                free(snip);
            }
            if (j->vec)
                json_object_set_new(r, "vector_score",
                                    h[i].has_vector ? json_real(h[i].vector) : json_null());
            json_array_append_new(j->out, r);
        }
    }
    free(h);
    free(content);
    free(text);
    free(vh);
    json_decref(rows);
    return rc;
}

static int memory_job_work(store_conn_t *c, void *ud)
{
    memory_job_t *j = ud;
    int64_t n = 0;
    int rc;
    switch (j->kind) {
    case MJ_CREATE:
        return memory_db_insert(c, j->rec, j->vec, j->dim);
    case MJ_LIST:
        return memory_db_list(c, &j->f, &j->out);
    case MJ_SEARCH:
        return memory_search_work(c, j);
    default:
        break;
    }
    /* get, delete, promote: the record first, then whether the caller may see it */
    rc = memory_db_get(c, j->id, clock_wall_ms(), &j->rec);
    if (rc < 0)
        return rc;
    if (!j->rec || !memory_owned(j, j->rec)) {
        j->outcome = 404;
        return 0;
    }
    if (j->kind == MJ_PROMOTE) {
        /* an embedding must fit the target layer's dimension (read under the index lock) */
        size_t dim = (size_t)json_integer_value(json_object_get(j->rec, "dim"));
        uv_rwlock_rdlock(&j->m->lock);
        memory_knn_t *ix = j->m->knn[memory_layer_index(j->layer)];
        j->dim = ix ? memory_knn_dim(ix) : 0;
        uv_rwlock_rdunlock(&j->m->lock);
        if (dim && j->dim && dim != j->dim) {
            j->outcome = 422;
            j->k = (int64_t)dim;
            return 0;
        }
    }
    if (j->kind == MJ_DELETE)
        rc = memory_db_delete(c, j->id, &n);
    else if (j->kind == MJ_PROMOTE)
        rc = memory_db_promote(c, j->id, j->layer, &n);
    else
        return 0;
    if (rc == 0 && n == 0)
        j->outcome = 404; /* deleted meanwhile */
    return rc;
}

static void memory_job_done(int status, void *ud)
{
    memory_job_t *j = ud;
    memory_t *m = j->m;
    api_req_t *req = j->req;
    m->inflight--;
    if (j->kind == MJ_CREATE)
        m->reserved--;
    if (status < 0) {
        log_error(api_req_id(req), "memory: statement failed", "{s:i}", "code", status);
        api_reply_problem(req, store_problem_new(m->hub->store, status, "the memory operation"));
    } else if (j->outcome == 404) {
        api_reply_problem(req, problem_new(404, "not-found", "no memory record with id %s", j->id));
    } else if (j->outcome == 422) {
        problem_t *p = problem_validation_new();
        problem_field_add(p, "body", "layer",
                          "the %s layer holds vectors of %zu dimensions, this record's has %lld",
                          j->layer, j->dim, (long long)j->k);
        api_reply_problem(req, p);
    } else if (j->kind == MJ_CREATE) {
        const char *id = json_string_value(json_object_get(j->rec, "id"));
        int layer = memory_layer_index(json_string_value(json_object_get(j->rec, "layer")));
        m->records++;
        if (j->vec && memory_index_put(m, layer, id, j->vec, j->dim,
                                       json_integer_value(json_object_get(j->rec, "created_ms")),
                                       json_string_value(json_object_get(j->rec, "principal")),
                                       json_string_value(json_object_get(j->rec, "agent"))) < 0)
            log_warn(api_req_id(req), "memory: embedding not indexed", "{s:s}", "id", id);
        json_t *row = json_pack("{s:s,s:s,s:O,s:O,s:O,s:s,s:O,s:O?,s:I}", "id", id, "layer",
                                memory_layers[layer], "content", json_object_get(j->rec, "content"),
                                "principal", json_object_get(j->rec, "principal"), "agent",
                                json_object_get(j->rec, "agent"), "tags", "", "created_at",
                                json_object_get(j->rec, "created_ms"), "expires_at",
                                json_object_get(j->rec, "expires_ms"), "dim", (json_int_t)j->dim);
        char *tags = json_dumps(json_object_get(j->rec, "tags"), JSON_COMPACT);
        json_object_set_new(row, "tags", json_string(tags ? tags : "[]"));
        free(tags);
        json_t *out = memory_record_from_row(row);
        json_decref(row);
        bus_publish(m->hub->bus, "memory.created",
                    json_pack("{s:s,s:s}", "id", id, "layer", memory_layers[layer]));
        api_reply_json(req, 201, out);
    } else if (j->kind == MJ_DELETE) {
        m->records--;
        memory_index_remove(m, j->id);
        bus_publish(m->hub->bus, "memory.deleted", json_pack("{s:s}", "id", j->id));
        api_reply_empty(req, 204);
    } else if (j->kind == MJ_PROMOTE) {
        json_object_set_new(j->rec, "layer", json_string(j->layer));
        size_t dim = 0;
        float *v = memory_row_vector(j->rec, &dim);
        memory_index_remove(m, j->id);
        int layer = memory_layer_index(j->layer);
        if (v && memory_index_put(m, layer, j->id, v, dim,
                                  json_integer_value(json_object_get(j->rec, "created_at")),
                                  json_string_value(json_object_get(j->rec, "principal")),
                                  json_string_value(json_object_get(j->rec, "agent"))) < 0)
            log_warn(api_req_id(req), "memory: promoted embedding not indexed", "{s:s}", "id",
                     j->id);
        free(v);
        bus_publish(m->hub->bus, "memory.promoted",
                    json_pack("{s:s,s:s}", "id", j->id, "layer", j->layer));
        api_reply_json(req, 200, memory_record_from_row(j->rec));
    } else if (j->kind == MJ_GET) {
        api_reply_json(req, 200, memory_record_from_row(j->rec));
    } else if (j->kind == MJ_LIST) {
        json_t *list = json_array();
        size_t i, n = json_array_size(j->out);
        json_t *row;
        json_array_foreach(j->out, i, row)
        {
            if (i < (size_t)j->f.limit - 1)
                json_array_append_new(list, memory_record_from_row(row));
        }
        api_reply_json(req, 200,
                       json_pack("{s:o,s:b,s:I,s:I}", "records", list, "has_more",
                                 n >= (size_t)j->f.limit, "limit", (json_int_t)(j->f.limit - 1),
                                 "offset", (json_int_t)j->f.offset));
    } else {
        m->searches_total++;
        api_reply_json(req, 200, json_pack("{s:O}", "results", j->out));
    }
    memory_job_free(j);
}

static memory_job_t *memory_job_new(api_req_t *req, int kind)
{
    hub_t *hub = api_req_hub(req);
    memory_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        api_reply_problem(req, problem_new(503, "out-of-memory", "the request could not be held"));
        return NULL;
    }
    j->kind = kind;
    j->req = req;
    j->m = hub->memory;
    j->pg = strcmp(store_backend(hub->store), "postgres") == 0;
    j->f.now_ms = clock_wall_ms();
    if (strcmp(api_req_role(req), "agent") == 0)
        snprintf(j->owner, sizeof j->owner, "%s", api_req_principal(req));
    const char *id = api_req_param_str(req, "id");
    if (id)
        snprintf(j->id, sizeof j->id, "%s", id);
    return j;
}

static void memory_job_submit(memory_job_t *j)
{
    memory_t *m = j->m;
    int rc = store_submit(m->hub->store, m->hub->loop, memory_job_work, memory_job_done, j);
    if (rc < 0) {
        api_req_t *req = j->req;
        memory_job_free(j);
        api_reply_problem(req, problem_new(503, "store-unavailable",
                                           "the request could not be queued: %s", uv_strerror(rc)));
        return;
    }
    m->inflight++;
    if (j->kind == MJ_CREATE)
        m->reserved++;
}

/* The filters of a list or search (query string or body), the owner's confinement applied.
 * false with a problem replied. */
static bool memory_filter_read(memory_job_t *j, const json_t *body)
{
    api_req_t *req = j->req;
    problem_t *p = NULL;
    const char *layer, *principal, *agent, *since = NULL, *until = NULL;
    if (body) {
        layer = json_string_value(json_object_get(body, "layer"));
        principal = json_string_value(json_object_get(body, "principal"));
        agent = json_string_value(json_object_get(body, "agent"));
        since = json_string_value(json_object_get(body, "since"));
        until = json_string_value(json_object_get(body, "until"));
        if (since && clock_rfc3339_parse(since, &j->f.since_ms) != 0)
            problem_field_error(&p, "body", "since", "must be an RFC 3339 date-time");
        if (until && clock_rfc3339_parse(until, &j->f.until_ms) != 0)
            problem_field_error(&p, "body", "until", "must be an RFC 3339 date-time");
    } else {
        layer = api_req_query_str(req, "layer");
        principal = api_req_query_str(req, "principal");
        agent = api_req_query_str(req, "agent");
        (void)api_req_query_time(req, "since", &j->f.since_ms, &p);
        (void)api_req_query_time(req, "until", &j->f.until_ms, &p);
    }
    if (p) {
        api_reply_problem(req, p);
        return false;
    }
    if (j->owner[0]) {
        if (principal && strcmp(principal, j->owner) != 0) {
            api_reply_problem(req, problem_new(403, "forbidden",
                                               "an agent key reads only its own records (%s)",
                                               j->owner));
            return false;
        }
        principal = j->owner;
    }
    if (layer) {
        snprintf(j->layer, sizeof j->layer, "%s", layer);
        j->f.layer = j->layer;
    }
    if (principal) {
        snprintf(j->principal, sizeof j->principal, "%s", principal);
        j->f.principal = j->principal;
    }
    if (agent) {
        snprintf(j->agent, sizeof j->agent, "%s", agent);
        j->f.agent = j->agent;
    }
    return true;
}

/* A JSON array of numbers as floats (malloc'd). false with a problem replied. */
static bool memory_vector_read(api_req_t *req, const json_t *arr, const char *field, size_t max,
                               float **out, size_t *dim)
{
    size_t n = json_array_size(arr);
    if (n == 0 || n > max) {
        problem_t *p = problem_validation_new();
        problem_field_add(p, "body", field, "needs 1 to %zu numbers (memory.max_dim), got %zu", max,
                          n);
        api_reply_problem(req, p);
        return false;
    }
    float *v = malloc(n * sizeof *v);
    if (!v) {
        api_reply_problem(req, problem_new(503, "out-of-memory", "the vector could not be held"));
        return false;
    }
    double norm = 0;
    for (size_t i = 0; i < n; i++) {
        v[i] = (float)json_number_value(json_array_get(arr, i));
        norm += (double)v[i] * v[i];
    }
    if (!(norm > 0) || !isfinite(norm)) {
        free(v);
        problem_t *p = problem_validation_new();
        problem_field_add(p, "body", field, "must be a finite vector that is not all zeros");
        api_reply_problem(req, p);
        return false;
    }
    *out = v;
    *dim = n;
    return true;
}

/* ---- handlers ----------------------------------------------------------------------------- */

static void memory_api_record_create(api_req_t *req, void *ctx)
{
    (void)ctx;
    hub_t *hub = api_req_hub(req);
    memory_t *m = hub->memory;
    json_t *body = api_req_body(req);
    const char *layer = json_string_value(json_object_get(body, "layer"));
    const char *content = json_string_value(json_object_get(body, "content"));
    size_t clen = strlen(content);
    if ((int64_t)clen > hub->cfg.memory_max_content) {
        problem_t *p =
            problem_new(413, "record-too-large",
                        "the content has %zu bytes; memory.max_content_bytes allows %lld", clen,
                        (long long)hub->cfg.memory_max_content);
        problem_ext_set(p, "max_bytes", json_integer(hub->cfg.memory_max_content));
        api_reply_problem(req, p);
        return;
    }
    if (m->records + m->reserved >= hub->cfg.memory_max_records) {
        problem_t *p = problem_new(422, "memory-full",
                                   "%lld records are stored; memory.max_records allows %lld: "
                                   "delete some or let retention prune them",
                                   (long long)(m->records + m->reserved),
                                   (long long)hub->cfg.memory_max_records);
        api_reply_problem(req, p);
        return;
    }
    int64_t expires = 0;
    const char *exp = json_string_value(json_object_get(body, "expires_at"));
    if (exp && clock_rfc3339_parse(exp, &expires) != 0) {
        problem_t *p = problem_validation_new();
        problem_field_add(p, "body", "expires_at", "must be an RFC 3339 date-time");
        api_reply_problem(req, p);
        return;
    }
    int li = memory_layer_index(layer);
    float *vec = NULL;
    size_t dim = 0;
    json_t *emb = json_object_get(body, "embedding");
    if (emb &&
        !memory_vector_read(req, emb, "embedding", (size_t)hub->cfg.memory_max_dim, &vec, &dim))
        return;
    if (vec) {
        size_t fixed = memory_index_dim(m, li);
        if (fixed && fixed != dim) {
            free(vec);
            problem_t *p = problem_validation_new();
            problem_field_add(p, "body", "embedding",
                              "the %s layer holds vectors of %zu dimensions, this one has %zu",
                              layer, fixed, dim);
            api_reply_problem(req, p);
            return;
        }
    }
    memory_job_t *j = memory_job_new(req, MJ_CREATE);
    if (!j) {
        free(vec);
        return;
    }
    unsigned char rnd[8];
    randombytes_buf(rnd, sizeof rnd);
    int o = snprintf(j->id, sizeof j->id, "mem-");
    for (size_t i = 0; i < sizeof rnd; i++)
        o += snprintf(j->id + o, sizeof j->id - (size_t)o, "%02x", rnd[i]);
    const char *agent = json_string_value(json_object_get(body, "agent"));
    json_t *tags = json_object_get(body, "tags");
    j->rec = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:I}", "id", j->id, "layer", layer, "content",
                       content, "principal", api_req_principal(req), "agent", agent ? agent : "",
                       "tags", tags ? json_incref(tags) : json_array(), "created_ms",
                       (json_int_t)clock_wall_ms());
    if (j->rec && exp)
        json_object_set_new(j->rec, "expires_ms", json_integer(expires));
    j->vec = vec;
    j->dim = dim;
    if (!j->rec) {
        memory_job_free(j);
        api_reply_problem(req, problem_new(503, "out-of-memory", "the record could not be held"));
        return;
    }
    if (vec && memory_index_dim(m, li) == 0) {
        /* the first vector of the layer fixes its dimension before any other can race it */
        uv_rwlock_wrlock(&m->lock);
        if (!m->knn[li])
            m->knn[li] = memory_knn_new(dim);
        uv_rwlock_wrunlock(&m->lock);
    }
    memory_job_submit(j);
}

static void memory_api_records_list(api_req_t *req, void *ctx)
{
    (void)ctx;
    memory_job_t *j = memory_job_new(req, MJ_LIST);
    if (!j)
        return;
    if (!memory_filter_read(j, NULL)) {
        memory_job_free(j);
        return;
    }
    j->f.limit = api_req_query_int(req, "limit", 50) + 1; /* one more says whether more follow */
    j->f.offset = api_req_query_int(req, "offset", 0);
    memory_job_submit(j);
}

static void memory_api_record_get(api_req_t *req, void *ctx)
{
    (void)ctx;
    memory_job_t *j = memory_job_new(req, MJ_GET);
    if (j)
        memory_job_submit(j);
}

static void memory_api_record_delete(api_req_t *req, void *ctx)
{
    (void)ctx;
    memory_job_t *j = memory_job_new(req, MJ_DELETE);
    if (j)
        memory_job_submit(j);
}

static void memory_api_record_promote(api_req_t *req, void *ctx)
{
    (void)ctx;
    memory_job_t *j = memory_job_new(req, MJ_PROMOTE);
    if (!j)
        return;
    snprintf(j->layer, sizeof j->layer, "%s",
             json_string_value(json_object_get(api_req_body(req), "layer")));
    memory_job_submit(j);
}

static void memory_api_search(api_req_t *req, void *ctx)
{
    (void)ctx;
    hub_t *hub = api_req_hub(req);
    json_t *body = api_req_body(req);
    const char *query = json_string_value(json_object_get(body, "query"));
    json_t *vector = json_object_get(body, "vector");
    memory_job_t *j = memory_job_new(req, MJ_SEARCH);
    if (!j)
        return;
    if (query)
        memory_text_terms(query, &j->terms);
    if (!j->terms.n && !vector) {
        memory_job_free(j);
        problem_t *p = problem_validation_new();
        problem_field_add(p, "body", "query",
                          "give a query with at least one word, a vector, or both");
        api_reply_problem(req, p);
        return;
    }
    if (!memory_filter_read(j, body)) {
        memory_job_free(j);
        return;
    }
    if (vector && !memory_vector_read(req, vector, "vector", (size_t)hub->cfg.memory_max_dim,
                                      &j->vec, &j->dim)) {
        memory_job_free(j);
        return;
    }
    json_t *k = json_object_get(body, "k");
    j->k = k ? json_integer_value(k) : MEMORY_K_DEFAULT;
    json_t *w = json_object_get(body, "hybrid_weight");
    j->weight = w ? json_number_value(w) : 0.5;
    memory_job_submit(j);
}

/* ---- declarations ------------------------------------------------------------------------ */

static const char *const memory_layer_enum[] = {"short-term", "working",   "episodic",
                                                "semantic",   "long-term", NULL};

static const api_field_t memory_tag_item = {
    .type = API_T_STRING, .flags = API_F_MIN | API_F_MAX, .min = 1, .max = MEMORY_TAG_MAX};
static const api_field_t memory_number_item = {.type = API_T_NUMBER};

static const api_field_t memory_record_body[] = {
    {.name = "layer",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED,
     .enums = memory_layer_enum,
     .description = "the layer the record goes to"},
    {.name = "content",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN,
     .min = 1,
     .description = "the text (at most memory.max_content_bytes; larger: 413)"},
    {.name = "agent",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = MEMORY_NAME_MAX,
     .description = "the agent the record is about or from"},
    {.name = "tags",
     .type = API_T_ARRAY,
     .flags = API_F_MAX,
     .max = MEMORY_TAGS_MAX,
     .items = &memory_tag_item},
    {.name = "expires_at",
     .type = API_T_STRING,
     .description = "RFC 3339: hidden from then on and pruned by retention"},
    {.name = "embedding",
     .type = API_T_ARRAY,
     .flags = API_F_MAX,
     .max = 4096,
     .items = &memory_number_item,
     .description = "the client's embedding; every vector of a layer has the same dimension"},
    {0}};

static const api_field_t memory_id_param[] = {{.name = "id",
                                               .type = API_T_STRING,
                                               .flags = API_F_REQUIRED | API_F_MAX,
                                               .max = MEMORY_ID_LEN - 1,
                                               .description = "record id (mem-...)"},
                                              {0}};

static const api_field_t memory_list_query[] = {
    {.name = "layer", .type = API_T_STRING, .enums = memory_layer_enum},
    {.name = "principal", .type = API_T_STRING, .flags = API_F_MAX, .max = MEMORY_NAME_MAX},
    {.name = "agent", .type = API_T_STRING, .flags = API_F_MAX, .max = MEMORY_NAME_MAX},
    {.name = "since", .type = API_T_STRING, .description = "RFC 3339: created at or after"},
    {.name = "until", .type = API_T_STRING, .description = "RFC 3339: created before"},
    {.name = "limit",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = MEMORY_LIMIT_MAX,
     .def = "50"},
    {.name = "offset", .type = API_T_INTEGER, .flags = API_F_MIN, .min = 0, .def = "0"},
    {0}};

static const api_field_t memory_promote_body[] = {
    {.name = "layer", .type = API_T_STRING, .flags = API_F_REQUIRED, .enums = memory_layer_enum},
    {0}};

static const api_field_t memory_search_body[] = {
    {.name = "query",
     .type = API_T_STRING,
     .flags = API_F_MAX,
     .max = 1024,
     .description = "words (any of them matches; at most 16 count)"},
    {.name = "vector",
     .type = API_T_ARRAY,
     .flags = API_F_MAX,
     .max = 4096,
     .items = &memory_number_item,
     .description = "query embedding: cosine similarity with the layers of its dimension"},
    {.name = "k",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = MEMORY_KNN_MAX_K,
     .def = "10"},
    {.name = "hybrid_weight",
     .type = API_T_NUMBER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = 1,
     .def = "0.5",
     .description = "with both query and vector: the text score's share"},
    {.name = "layer", .type = API_T_STRING, .enums = memory_layer_enum},
    {.name = "principal", .type = API_T_STRING, .flags = API_F_MAX, .max = MEMORY_NAME_MAX},
    {.name = "agent", .type = API_T_STRING, .flags = API_F_MAX, .max = MEMORY_NAME_MAX},
    {.name = "since", .type = API_T_STRING},
    {.name = "until", .type = API_T_STRING},
    {0}};

#define MEMORY_EP(...)                                                                             \
    {                                                                                              \
        .tag = "memory", __VA_ARGS__                                                               \
    }

static const api_endpoint_t memory_endpoints[] = {
    MEMORY_EP(.method = "POST", .path = "/api/v1/memory/records", .scope = "memory:write",
              .summary = "Store a memory record (its principal is the caller)",
              .body_kind = API_BODY_JSON, .body = memory_record_body, .status = 201,
              .response = "the record: {id, layer, content, principal, agent, tags, created_at, "
                          "expires_at, dim}",
              .handler = memory_api_record_create),
    MEMORY_EP(.method = "GET", .path = "/api/v1/memory/records", .scope = "memory:read",
              .summary = "List records, newest first, by layer, principal, agent and time",
              .query = memory_list_query, .response = "{records:[record], has_more, limit, offset}",
              .handler = memory_api_records_list),
    MEMORY_EP(.method = "GET", .path = "/api/v1/memory/records/{id}", .scope = "memory:read",
              .summary = "One record", .params = memory_id_param, .response = "the record",
              .handler = memory_api_record_get),
    MEMORY_EP(.method = "DELETE", .path = "/api/v1/memory/records/{id}", .scope = "memory:write",
              .summary = "Delete a record", .params = memory_id_param, .status = 204,
              .handler = memory_api_record_delete),
    MEMORY_EP(.method = "POST", .path = "/api/v1/memory/records/{id}/promote",
              .scope = "memory:write", .summary = "Move a record to another layer",
              .params = memory_id_param, .body_kind = API_BODY_JSON, .body = memory_promote_body,
              .response = "the record in its new layer", .handler = memory_api_record_promote),
    MEMORY_EP(.method = "POST", .path = "/api/v1/memory/search", .scope = "memory:read",
              .summary = "Search by words (BM25 over the candidates, with snippets), by "
                         "embedding (exact cosine k-NN), or both (hybrid)",
              .body_kind = API_BODY_JSON, .body = memory_search_body, .no_audit = true,
              .response = "{results:[{record, score, text_score?, snippet?, vector_score?}]}",
              .handler = memory_api_search),
};

static void memory_metrics_collect(strbuf_t *out, void *ud)
{
    memory_t *m = ud;
    strbuf_printf(out,
                  "# HELP ganglion_memory_records memory records stored\n"
                  "# TYPE ganglion_memory_records gauge\nganglion_memory_records %lld\n"
                  "# HELP ganglion_memory_pruned_total records deleted by retention\n"
                  "# TYPE ganglion_memory_pruned_total counter\n"
                  "ganglion_memory_pruned_total %llu\n"
                  "# HELP ganglion_memory_searches_total searches answered\n"
                  "# TYPE ganglion_memory_searches_total counter\n"
                  "ganglion_memory_searches_total %llu\n",
                  (long long)m->records, (unsigned long long)m->pruned_total,
                  (unsigned long long)m->searches_total);
}

int memory_api_register(hub_t *hub)
{
    api_register(hub->api, memory_endpoints, sizeof memory_endpoints / sizeof memory_endpoints[0]);
    if (hub->metrics)
        metrics_collector_add(hub->metrics, memory_metrics_collect, hub->memory);
    return 0;
}
