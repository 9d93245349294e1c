/* The brains registry: create (from a genome, built on the thread pool), list, find, delete;
 * each brain's lifecycle (stopped, running, paused, failed) with its burst thread, status events
 * on the bus and a row in the store written before a change is acknowledged. Loop thread. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "brain/brain_internal.h"
#include "brain/brain_io.h"
#include "core/bus.h"
#include "core/clock.h"
#include "core/hub.h"
#include "core/log.h"

#define BRAIN_GENOME_FILE_MAX (16u << 20)

struct brain_op {
    brain_op_t *next;
    uint64_t target; /* stepped count that completes it */
    brain_done_fn done;
    void *ud;
};

static const char *const brain_status_names[] = {"stopped", "running", "paused", "failed"};

const char *brain_status_name(brain_status_t s)
{
    return (unsigned)s < 4 ? brain_status_names[s] : "unknown";
}

static brain_status_t brain_status_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (s && strcmp(s, brain_status_names[i]) == 0)
            return (brain_status_t)i;
    return BRAIN_STOPPED;
}

/* ---- reading ---- */

const char *brain_id(const brain_t *b)
{
    return b->id;
}
const char *brain_name(const brain_t *b)
{
    return b->name;
}
brain_status_t brain_status(const brain_t *b)
{
    return b->status;
}
json_t *brain_genome(const brain_t *b)
{
    return b->genome;
}
json_t *brain_view(const brain_t *b)
{
    return b->view;
}
double brain_frequency(const brain_t *b)
{
    return atomic_load(&b->hz);
}
uint64_t brain_seed(const brain_t *b)
{
    return b->seed;
}
uint64_t brain_bursts(const brain_t *b)
{
    return atomic_load(&b->bursts);
}
uint64_t brain_overruns(const brain_t *b)
{
    return atomic_load(&b->overruns);
}

void brain_burst_stats_json(const brain_t *b, json_t *o)
{
    uint64_t splits = 0;
    unsigned threads = b->engine ? brain_engine_burst_threads(b->engine, &splits) : 0;
    json_object_set_new(o, "burst_threads", json_integer(threads));
    json_object_set_new(o, "split_bursts", json_integer((json_int_t)splits));
}

json_t *brain_to_json(const brain_t *b, bool detail)
{
    char created[40];
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:f,s:I,s:I,s:s,s:s}", "id", b->id, "name", b->name, "status",
        b->building ? "building" : brain_status_name(b->status), "frequency_hz", brain_frequency(b),
        "burst_count", (json_int_t)brain_bursts(b), "overruns", (json_int_t)brain_overruns(b),
        "genome_id", json_string_value(json_object_get(b->genome, "genome_id")) ?: "", "created_at",
        clock_rfc3339(b->created_ms, created, sizeof created));
    json_object_set_new(o, "area_count", json_integer((json_int_t)b->nareas));
    json_object_set_new(o, "owner", b->owner[0] ? json_string(b->owner) : json_null());
    json_object_set_new(o, "team", b->team[0] ? json_string(b->team) : json_null());
    json_object_set_new(o, "neuron_count", json_integer((json_int_t)b->neurons));
    json_object_set_new(o, "synapse_count",
                        json_integer(b->engine ? (json_int_t)brain_engine_synapses(b->engine) : 0));
    if (b->status == BRAIN_FAILED && b->error[0])
        json_object_set_new(o, "error", json_string(b->error));
    if (detail) {
        json_object_set_new(o, "seed", json_integer((json_int_t)b->seed));
        json_object_set_new(o, "last_burst_us",
                            json_real((double)(atomic_load(&b->last_burst_ns) / 10) / 100.0));
        json_object_set_new(
            o, "genome_title",
            json_string(json_string_value(json_object_get(b->genome, "genome_title")) ?: ""));
    }
    return o;
}

/* ---- the registry ---- */

brain_t *brain_find(brain_reg_t *r, const char *key)
{
    if (!r || !key)
        return NULL;
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->v[i]->id, key) == 0)
            return r->v[i];
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->v[i]->name, key) == 0)
            return r->v[i];
    return NULL;
}

brain_t *brain_default(brain_reg_t *r)
{
    if (!r)
        return NULL;
    const char *d = r->hub->cfg.brain_default;
    brain_t *b = d[0] ? brain_find(r, d) : NULL;
    return b ? b : (r->n ? r->v[0] : NULL);
}

size_t brain_count(const brain_reg_t *r)
{
    return r ? r->n : 0;
}
brain_t *brain_at(brain_reg_t *r, size_t i)
{
    return i < r->n ? r->v[i] : NULL;
}

static void brain_status_set(brain_t *b, brain_status_t s)
{
    brain_status_t prev = b->status;
    b->status = s;
    b->status_ms = clock_wall_ms();
    if (prev == s)
        return;
    char topic[64];
    snprintf(topic, sizeof topic, "brain.%s.status", b->id);
    bus_publish(b->reg->hub->bus, topic,
                json_pack("{s:s,s:s,s:s,s:s,s:I}", "id", b->id, "name", b->name, "status",
                          brain_status_name(s), "previous", brain_status_name(prev), "burst_count",
                          (json_int_t)brain_bursts(b)));
}

static int brain_reg_add(brain_reg_t *r, brain_t *b)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 8;
        brain_t **v = realloc(r->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        r->v = v;
        r->cap = cap;
    }
    r->v[r->n++] = b;
    return 0;
}

static void brain_reg_remove(brain_reg_t *r, brain_t *b)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i] == b) {
            memmove(&r->v[i], &r->v[i + 1], (r->n - i - 1) * sizeof *r->v);
            r->n--;
            return;
        }
}

static void brain_free(brain_t *b)
{
    brain_engine_destroy(&b->engine);
    brain_ledger_free(b);
    brain_io_free(b);
    json_decref(b->genome);
    json_decref(b->view);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b);
}

static brain_t *brain_alloc(brain_reg_t *r, const char *id, const char *name, json_t *genome,
                            uint64_t seed)
{
    brain_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_mutex_init(&b->mu, NULL) != 0 || pthread_cond_init(&b->cv, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        free(b);
        return NULL;
    }
    pthread_condattr_destroy(&ca);
    b->reg = r;
    snprintf(b->id, sizeof b->id, "%s", id);
    snprintf(b->name, sizeof b->name, "%s", name);
    b->genome = genome;
    b->genome_gen = 1;
    b->view = brain_bp_view(genome);
    free(brain_bp_areas(b->view, &b->nareas));
    b->seed = seed;
    double ts = json_number_value(
        json_object_get(json_object_get(genome, "physiology"), "simulation_timestep"));
    double hz = ts > 0 ? 1.0 / ts : 10.0;
    atomic_store(&b->hz, hz < BRAIN_HZ_MIN ? BRAIN_HZ_MIN : hz > BRAIN_HZ_MAX ? BRAIN_HZ_MAX : hz);
    b->created_ms = b->status_ms = clock_wall_ms();
    return b;
}

static void brain_id_new(char *id)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
        v = clock_mono_ns() ^ (uint64_t)clock_wall_ms() << 20;
    snprintf(id, BRAIN_ID_LEN + 1, "b%015" PRIx64, v & (uint64_t)0xfffffffffffffff);
}

static bool brain_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > BRAIN_NAME_MAX)
        return false;
    for (const char *c = name; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("-_.", *c))
            return false;
    return true;
}

/* ---- builds on the thread pool ---- */

typedef struct brain_build {
    uv_work_t w;
    brain_t *b;
    json_t *genome; /* a copy owned by the job */
    brain_engine_t *engine;
    problem_t *p;
    const brain_engine_t *old; /* an edit: the running engine the new one is derived from */
    brain_status_t then;       /* status once built */
    bool creating;             /* a create: failure removes the brain */
    brain_done_fn done;
    void *ud;
    unsigned burst_threads; /* brain.burst_threads, read on the loop */
    uint32_t split_neurons; /* brain.burst_split_neurons */
} brain_build_t;

static void brain_build_work(uv_work_t *w)
{
    brain_build_t *j = w->data;
    if (j->old)
        brain_engine_derive(j->old, j->genome, &j->engine, &j->p);
    else
        brain_engine_build(j->genome, j->b->seed, &j->engine, &j->p);
    if (j->engine &&
        brain_engine_burst_config(j->engine, j->burst_threads, j->split_neurons, &j->p) < 0)
        brain_engine_destroy(&j->engine);
}

/* The engine an edit replaced, freed on the pool: its arrays are large, the loop need not wait. */
typedef struct brain_retire {
    uv_work_t w;
    brain_engine_t *e;
} brain_retire_t;

static void brain_retire_work(uv_work_t *w)
{
    brain_retire_t *t = w->data;
    brain_engine_destroy(&t->e);
}

static void brain_retire_after(uv_work_t *w, int status)
{
    (void)status;
    brain_retire_t *t = w->data;
    brain_engine_destroy(&t->e); /* cancelled: freed here */
    free(t);
}

static void brain_engine_retire(brain_reg_t *r, brain_engine_t *e)
{
    if (!e)
        return;
    brain_retire_t *t = calloc(1, sizeof *t);
    if (t) {
        t->w.data = t;
        t->e = e;
        if (uv_queue_work(r->hub->loop, &t->w, brain_retire_work, brain_retire_after) == 0)
            return;
        free(t);
    }
    brain_engine_destroy(&e);
}

static void brain_build_after(uv_work_t *w, int status)
{
    brain_build_t *j = w->data;
    brain_t *b = j->b;
    brain_reg_t *r = b->reg;
    b->building = false;
    if (status < 0 && !j->p)
        j->p = problem_new(503, "cancelled", "the build was cancelled");
    if (j->p) {
        log_warn(NULL, "brain: build failed", "{s:s,s:s}", "brain", b->id, "detail",
                 problem_detail(j->p) ?: "");
        if (j->creating) {
            brain_reg_remove(r, b);
            brain_free(b);
        } else if (j->old) {
            /* an edit that could not be grown: the brain runs on as it was */
        } else {
            snprintf(b->error, sizeof b->error, "%s", problem_detail(j->p) ?: "build failed");
            brain_status_set(b, BRAIN_FAILED);
            if (!r->shutting_down)
                brain_store_save(b, false, NULL, NULL);
        }
        if (j->done)
            j->done(j->p, j->ud);
        else
            problem_destroy(&j->p);
        json_decref(j->genome);
        free(j);
        return;
    }
    /* the swap, between two bursts: the thread ends after its current burst, the new engine
     * takes the old one's neuron state and the thread starts again below */
    uint64_t swap0 = clock_mono_ns();
    brain_thread_stop(b);
    brain_engine_t *retired = b->engine;
    if (retired)
        brain_engine_state_carry(j->engine, retired);
    b->engine = j->engine;
    b->neurons = brain_engine_neurons(b->engine);
    b->synapses = brain_engine_synapses(b->engine);
    if (j->genome != b->genome)
        b->genome_gen++;
    json_decref(b->genome);
    b->genome = j->genome;
    json_decref(b->view);
    b->view = brain_bp_view(b->genome);
    free(brain_bp_areas(b->view, &b->nareas));
    brain_status_t then = j->then;
    if (r->shutting_down)
        then = b->status; /* kept for the next start; not run now */
    else if (then == BRAIN_RUNNING || then == BRAIN_PAUSED) {
        if (brain_thread_start(b, then == BRAIN_PAUSED) < 0) {
            snprintf(b->error, sizeof b->error, "cannot start the burst thread");
            then = BRAIN_FAILED;
        }
    }
    uint64_t swap_ns = clock_mono_ns() - swap0;
    brain_engine_retire(r, retired);
    brain_status_set(b, then);
    if (j->old) {
        uint64_t grown, copied, shared;
        brain_engine_derived(b->engine, &grown, &copied, &shared);
        log_info(NULL, "brain: edit applied", "{s:s,s:I,s:I,s:I,s:I}", "brain", b->id,
                 "synapses_grown", (json_int_t)grown, "synapses_copied", (json_int_t)copied,
                 "synapses_shared", (json_int_t)shared, "swap_us", (json_int_t)(swap_ns / 1000));
    }
    if (!j->done && !j->creating) { /* a restore: its row is as it was */
        free(j);
        return;
    }
    if (brain_store_save(b, false, j->done, j->ud) < 0 && j->done)
        j->done(problem_new(503, "store-unavailable", "cannot write the brain"), j->ud);
    free(j);
}

static int brain_build_submit(brain_t *b, json_t *genome, brain_status_t then, bool creating,
                              brain_done_fn done, void *ud, const brain_engine_t *old)
{
    brain_build_t *j = calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    j->old = old;
    j->w.data = j;
    j->b = b;
    j->genome = genome;
    j->then = then;
    j->creating = creating;
    j->done = done;
    j->ud = ud;
    j->burst_threads = (unsigned)b->reg->hub->cfg.brain_burst_threads;
    j->split_neurons = (uint32_t)b->reg->hub->cfg.brain_burst_split_neurons;
    int rc = uv_queue_work(b->reg->hub->loop, &j->w, brain_build_work, brain_build_after);
    if (rc < 0) {
        free(j);
        return rc;
    }
    b->building = true;
    return 0;
}

/* ---- create, delete ---- */

problem_t *brain_create(brain_reg_t *r, const char *name, json_t *genome, uint64_t seed, bool start,
                        const char *owner, const char *team, brain_t **out, brain_done_fn done,
                        void *ud)
{
    *out = NULL;
    if (r->shutting_down) {
        json_decref(genome);
        return problem_new(503, "shutting-down", "the daemon is shutting down");
    }
    if ((int64_t)r->n >= r->hub->cfg.brain_max) {
        json_decref(genome);
        return problem_new(429, "too-many-brains", "%zu brains exist already (brain.max)", r->n);
    }
    char id[BRAIN_ID_LEN + 1];
    brain_id_new(id);
    if (!name || !name[0])
        name = id;
    if (!brain_name_ok(name)) {
        json_decref(genome);
        problem_t *p = NULL;
        return problem_field_error(
            &p, "body", "name", "must be 1 to %d letters, digits, '-', '_' or '.'", BRAIN_NAME_MAX);
    }
    if (brain_find(r, name)) {
        json_decref(genome);
        return problem_new(409, "name-taken", "a brain named '%s' exists already", name);
    }
    json_t *view = brain_bp_view(genome);
    problem_t *p = brain_bp_validate(view);
    json_decref(view);
    if (p) {
        json_decref(genome);
        return p;
    }
    if (seed == 0)
        seed = strtoull(id + 1, NULL, 16) | 1;
    brain_t *b = brain_alloc(r, id, name, json_incref(genome), seed);
    if (!b || brain_reg_add(r, b) < 0) {
        if (b)
            brain_free(b);
        json_decref(genome);
        return problem_new(503, "out-of-memory", "no memory for a brain");
    }
    snprintf(b->owner, sizeof b->owner, "%s", owner ? owner : "");
    snprintf(b->team, sizeof b->team, "%s", team ? team : "");
    int rc =
        brain_build_submit(b, genome, start ? BRAIN_RUNNING : BRAIN_STOPPED, true, done, ud, NULL);
    if (rc < 0) {
        brain_reg_remove(r, b);
        brain_free(b);
        json_decref(genome);
        return problem_new(503, "busy", "cannot queue the build: %s", uv_strerror(rc));
    }
    r->created_total++;
    *out = b;
    return NULL;
}

static problem_t *brain_busy_problem(const brain_t *b)
{
    if (b->building)
        return problem_new(409, "brain-building", "brain %s is being built; try again shortly",
                           b->id);
    if (b->reg->shutting_down)
        return problem_new(503, "shutting-down", "the daemon is shutting down");
    return NULL;
}

typedef struct brain_del {
    brain_t *b;
    brain_done_fn done;
    void *ud;
} brain_del_t;

static void brain_delete_done(problem_t *p, void *ud)
{
    brain_del_t *d = ud;
    brain_free(d->b);
    if (d->done)
        d->done(p, d->ud);
    else
        problem_destroy(&p);
    free(d);
}

problem_t *brain_delete(brain_reg_t *r, brain_t *b, brain_done_fn done, void *ud)
{
    problem_t *p = brain_busy_problem(b);
    if (p)
        return p;
    brain_del_t *d = calloc(1, sizeof *d);
    if (!d)
        return problem_new(503, "out-of-memory", "no memory");
    brain_thread_stop(b);
    brain_status_set(b, BRAIN_STOPPED);
    brain_reg_remove(r, b);
    b->deleted = true;
    d->b = b;
    d->done = done;
    d->ud = ud;
    char topic[64];
    snprintf(topic, sizeof topic, "brain.%s.deleted", b->id);
    bus_publish(r->hub->bus, topic, json_pack("{s:s,s:s}", "id", b->id, "name", b->name));
    if (brain_store_save(b, true, brain_delete_done, d) < 0) {
        brain_free(b);
        free(d);
        return problem_new(503, "store-unavailable", "cannot delete the brain's row");
    }
    return NULL;
}

/* ---- lifecycle ---- */

static problem_t *brain_save_or_problem(brain_t *b, brain_done_fn done, void *ud)
{
    if (brain_store_save(b, false, done, ud) < 0)
        return problem_new(503, "store-unavailable", "cannot write the brain");
    return NULL;
}

problem_t *brain_run_start(brain_t *b, brain_done_fn done, void *ud)
{
    problem_t *p = brain_busy_problem(b);
    if (p)
        return p;
    if (b->status == BRAIN_FAILED || !b->engine)
        return problem_new(409, "brain-failed", "brain %s failed to build: %s", b->id,
                           b->error[0] ? b->error : "no network");
    if (brain_thread_start(b, false) < 0)
        return problem_new(503, "thread", "cannot start the burst thread");
    brain_status_set(b, BRAIN_RUNNING);
    return brain_save_or_problem(b, done, ud);
}

problem_t *brain_run_stop(brain_t *b, brain_done_fn done, void *ud)
{
    problem_t *p = brain_busy_problem(b);
    if (p)
        return p;
    brain_thread_stop(b);
    if (b->status != BRAIN_FAILED)
        brain_status_set(b, BRAIN_STOPPED);
    return brain_save_or_problem(b, done, ud);
}

problem_t *brain_run_pause(brain_t *b, brain_done_fn done, void *ud)
{
    problem_t *p = brain_busy_problem(b);
    if (p)
        return p;
    if (b->status != BRAIN_RUNNING && b->status != BRAIN_PAUSED)
        return problem_new(409, "not-running", "brain %s is %s; only a running brain pauses", b->id,
                           brain_status_name(b->status));
    brain_thread_pause(b, true);
    brain_status_set(b, BRAIN_PAUSED);
    return brain_save_or_problem(b, done, ud);
}

problem_t *brain_run_step(brain_t *b, brain_done_fn done, void *ud)
{
    problem_t *p = brain_busy_problem(b);
    if (p)
        return p;
    if (b->status == BRAIN_RUNNING)
        return problem_new(409, "running", "brain %s is running; pause it to step", b->id);
    if (b->status == BRAIN_FAILED || !b->engine)
        return problem_new(409, "brain-failed", "brain %s has no network", b->id);
    brain_op_t *op = calloc(1, sizeof *op);
    if (!op)
        return problem_new(503, "out-of-memory", "no memory");
    if (!b->thread_live && brain_thread_start(b, true) < 0) {
        free(op);
        return problem_new(503, "thread", "cannot start the burst thread");
    }
    brain_status_set(b, BRAIN_PAUSED);
    pthread_mutex_lock(&b->mu);
    op->target = b->steps + 1;
    pthread_mutex_unlock(&b->mu);
    op->done = done;
    op->ud = ud;
    op->next = b->waiting;
    b->waiting = op;
    brain_thread_step(b);
    return NULL;
}

void brain_steps_done(brain_t *b, uint64_t stepped)
{
    brain_op_t **pp = &b->waiting;
    while (*pp) {
        brain_op_t *op = *pp;
        if (op->target <= stepped || !b->thread_live) {
            *pp = op->next;
            problem_t *p = NULL;
            if (op->target > stepped)
                p = problem_new(409, "stopped", "brain %s stopped before the step", b->id);
            else if (brain_store_save(b, false, op->done, op->ud) == 0) {
                free(op);
                continue;
            } else
                p = problem_new(503, "store-unavailable", "cannot write the brain");
            if (op->done)
                op->done(p, op->ud);
            else
                problem_destroy(&p);
            free(op);
        } else {
            pp = &op->next;
        }
    }
}

problem_t *brain_frequency_set(brain_t *b, double hz, brain_done_fn done, void *ud)
{
    if (!(hz >= BRAIN_HZ_MIN && hz <= BRAIN_HZ_MAX))
        return problem_new(422, "invalid-frequency", "frequency must be %g..%g Hz", BRAIN_HZ_MIN,
                           BRAIN_HZ_MAX);
    problem_t *p = brain_busy_problem(b);
    if (p)
        return p;
    atomic_store(&b->hz, hz);
    pthread_mutex_lock(&b->mu);
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    return brain_save_or_problem(b, done, ud);
}

/* A new genome (stolen): grown on the thread pool from the running engine, redoing only what
 * differs from the current genome (brain_net_derive; the whole network when the brain has no
 * engine), while the burst thread keeps running; swapped in between two bursts. */
static problem_t *brain_rebuild(brain_t *b, json_t *genome, brain_done_fn done, void *ud)
{
    problem_t *p = brain_busy_problem(b);
    if (!p) {
        json_t *view = brain_bp_view(genome);
        p = brain_bp_validate(view);
        json_decref(view);
    }
    if (p) {
        json_decref(genome);
        return p;
    }
    brain_status_t then = b->status == BRAIN_FAILED ? BRAIN_STOPPED : b->status;
    if (brain_build_submit(b, genome, then, false, done, ud, b->engine) < 0) {
        json_decref(genome);
        return problem_new(503, "busy", "cannot queue the rebuild");
    }
    return NULL;
}

problem_t *brain_genome_replace(brain_t *b, json_t *genome, brain_done_fn done, void *ud)
{
    return brain_rebuild(b, genome, done, ud);
}

problem_t *brain_area_update(brain_t *b, const char *area, json_t *props, brain_done_fn done,
                             void *ud)
{
    problem_t *p = brain_busy_problem(b);
    json_t *g = p ? NULL : brain_bp_area_edit(b->view, area, props, &p);
    if (!g)
        return p;
    return brain_rebuild(b, g, done, ud);
}

problem_t *brain_mapping_update(brain_t *b, const char *src, const char *dst, json_t *rules,
                                brain_done_fn done, void *ud)
{
    problem_t *p = brain_busy_problem(b);
    json_t *g = p ? NULL : brain_bp_mapping_set(b->view, src, dst, rules, &p);
    if (!g)
        return p;
    return brain_rebuild(b, g, done, ud);
}

/* ---- shipped genomes ---- */

static void brain_genome_dir(brain_reg_t *r, char *out, size_t len)
{
    const config_t *c = &r->hub->cfg;
    int n = c->brain_genome_dir[0] ? snprintf(out, len, "%s", c->brain_genome_dir)
                                   : snprintf(out, len, "%s/genomes", c->data_dir);
    if (n < 0 || (size_t)n >= len)
        out[0] = 0;
}

static bool brain_genome_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64)
        return false;
    for (const char *c = name; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-')
            return false;
    return true;
}

json_t *brain_genome_shipped(brain_reg_t *r, const char *name, problem_t **p)
{
    if (!brain_genome_name_ok(name)) {
        *p = NULL;
        problem_field_error(p, "body", "genome_name",
                            "must be a genome's name (letters, digits,"
                            " '_' and '-')");
        return NULL;
    }
    char dir[CONFIG_STR_MAX + 16], path[CONFIG_STR_MAX + 160];
    brain_genome_dir(r, dir, sizeof dir);
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s%s", dir, name, i == 0 ? ".json" : "_genome.json");
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        json_error_t je;
        json_t *g = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
        long size = ftell(f);
        fclose(f);
        if (!g || size > (long)BRAIN_GENOME_FILE_MAX) {
            json_decref(g);
            *p = problem_new(422, "invalid-genome", "shipped genome %s is not valid JSON: %s", name,
                             je.text);
            return NULL;
        }
        return g;
    }
    *p = problem_new(404, "not-found", "no shipped genome named '%s' (brain.genome_dir)", name);
    return NULL;
}

json_t *brain_genome_shipped_list(brain_reg_t *r)
{
    char dir[CONFIG_STR_MAX + 16];
    brain_genome_dir(r, dir, sizeof dir);
    json_t *a = json_array();
    uv_fs_t req;
    if (uv_fs_scandir(NULL, &req, dir, 0, NULL) < 0) {
        uv_fs_req_cleanup(&req);
        return a;
    }
    uv_dirent_t ent;
    while (uv_fs_scandir_next(&req, &ent) != UV_EOF && json_array_size(a) < 256) {
        size_t n = strlen(ent.name);
        if (n <= 5 || strcmp(ent.name + n - 5, ".json") != 0)
            continue;
        size_t cut = n > 12 && strcmp(ent.name + n - 12, "_genome.json") == 0 ? 12 : 5;
        json_array_append_new(a, json_stringn(ent.name, n - cut));
    }
    uv_fs_req_cleanup(&req);
    return a;
}

/* ---- the domain's life ---- */

static void brain_wake_cb(uv_async_t *h)
{
    brain_run_drain(h->data);
}

int brain_start(hub_t *hub)
{
    brain_reg_t *r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    r->hub = hub;
    if (uv_async_init(hub->loop, &r->wake, brain_wake_cb) < 0) {
        free(r);
        return -1;
    }
    r->wake.data = r;
    r->wake_live = true;
    hub->brain = r;
    json_t *rows = NULL;
    if (brain_store_load(r, &rows) < 0)
        return -1;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *text = json_string_value(json_object_get(row, "genome"));
        json_t *genome = text ? json_loads(text, 0, NULL) : NULL;
        const char *id = json_string_value(json_object_get(row, "id"));
        const char *name = json_string_value(json_object_get(row, "name"));
        if (!genome || !id || !name) {
            json_decref(genome);
            log_error(NULL, "brain: a stored brain cannot be read; skipped", "{s:s}", "brain",
                      id ?: "?");
            continue;
        }
        brain_t *b = brain_alloc(r, id, name, genome,
                                 (uint64_t)json_integer_value(json_object_get(row, "seed")));
        if (!b || brain_reg_add(r, b) < 0) {
            if (b)
                brain_free(b);
            else
                json_decref(genome);
            continue;
        }
        double hz = json_number_value(json_object_get(row, "frequency_hz"));
        if (hz >= BRAIN_HZ_MIN && hz <= BRAIN_HZ_MAX)
            atomic_store(&b->hz, hz);
        atomic_store(&b->bursts, (uint64_t)json_integer_value(json_object_get(row, "burst_count")));
        b->genome_saved_gen = b->genome_gen; /* the row holds it */
        b->created_ms = json_integer_value(json_object_get(row, "created_ms"));
        snprintf(b->owner, sizeof b->owner, "%s",
                 json_string_value(json_object_get(row, "owner")) ?: "");
        snprintf(b->team, sizeof b->team, "%s",
                 json_string_value(json_object_get(row, "team")) ?: "");
        b->status_ms = json_integer_value(json_object_get(row, "status_ms"));
        brain_status_t st = brain_status_parse(json_string_value(json_object_get(row, "status")));
        b->status = st == BRAIN_FAILED ? BRAIN_STOPPED : st;
        brain_status_t then = b->status;
        b->status = BRAIN_STOPPED;
        if (brain_build_submit(b, json_incref(genome), then, false, NULL, NULL, NULL) < 0)
            json_decref(genome);
        log_info(NULL, "brain: restored", "{s:s,s:s,s:s}", "brain", b->id, "name", b->name,
                 "status", brain_status_name(then));
    }
    json_decref(rows);
    return 0;
}

static void brain_wake_closed(uv_handle_t *h)
{
    (void)h;
}

void brain_shutdown(hub_t *hub)
{
    brain_reg_t *r = hub->brain;
    if (!r || r->shutting_down)
        return;
    r->shutting_down = true;
    for (size_t i = 0; i < r->n; i++) {
        brain_t *b = r->v[i];
        brain_thread_stop(b);
        if (!b->building)
            brain_store_save(b, false, NULL, NULL); /* keeps its status: it runs again */
    }
    /* no burst thread is left to wake the loop: the handle must not keep it running */
    if (r->wake_live) {
        uv_close((uv_handle_t *)&r->wake, brain_wake_closed);
        r->wake_live = false;
    }
}

bool brain_busy(const hub_t *hub)
{
    const brain_reg_t *r = hub->brain;
    if (!r)
        return false;
    bool busy = r->writes > 0;
    for (size_t i = 0; i < r->n; i++)
        busy = busy || r->v[i]->building;
    return busy;
}

void brain_destroy(hub_t *hub)
{
    brain_reg_t *r = hub->brain;
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        brain_thread_stop(r->v[i]);
        brain_free(r->v[i]);
    }
    free(r->v);
    for (size_t i = 0; i < r->feagi_nagents; i++)
        json_decref(r->feagi_agents[i].info);
    if (r->wake_live) {
        uv_close((uv_handle_t *)&r->wake, brain_wake_closed);
        uv_run(hub->loop, UV_RUN_NOWAIT);
    }
    free(r);
    hub->brain = NULL;
}
