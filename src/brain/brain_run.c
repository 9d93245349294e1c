/* The burst thread of a brain: one burst every 1/hz seconds on an absolute schedule (an overrun
 * is counted and the schedule restarts from now rather than catching up), single steps while
 * paused, and the fire ledger it fills. It never touches the loop: it wakes it through the
 * registry's uv_async, and the loop reads the ledger under the brain's lock. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "brain/brain_internal.h"
#include "brain/brain_io.h"
#include "core/bus.h"
#include "core/clock.h"
#include "core/hub.h"
#include "core/log.h"

static int brain_fired_alloc(brain_fired_t *f, size_t nareas)
{
    f->nareas = nareas;
    f->counts = calloc(nareas ? nareas : 1, sizeof *f->counts);
    f->fired = malloc(4 * BRAIN_FIRED_KEEP * sizeof *f->fired);
    f->nfired = 0;
    return f->counts && f->fired ? 0 : -ENOMEM;
}

static void brain_fired_free(brain_fired_t *f)
{
    free(f->counts);
    free(f->fired);
    memset(f, 0, sizeof *f);
}

void brain_ledger_free(brain_t *b)
{
    for (size_t i = 0; i < BRAIN_LEDGER_DEPTH; i++)
        brain_fired_free(&b->ledger[i]);
    b->ledger_n = 0;
}

static void brain_ns_to_ts(uint64_t ns, struct timespec *ts)
{
    ts->tv_sec = (time_t)(ns / 1000000000u);
    ts->tv_nsec = (long)(ns % 1000000000u);
}

static void *brain_thread_main(void *arg)
{
    brain_t *b = arg;
    brain_fired_t scratch;
    if (brain_fired_alloc(&scratch, brain_engine_area_count(b->engine)) < 0) {
        brain_fired_free(&scratch);
        return NULL;
    }
    uint64_t next = clock_mono_ns();
    pthread_mutex_lock(&b->mu);
    while (!b->quit) {
        bool single = b->steps > b->stepped;
        if (b->paused && !single) {
            pthread_cond_wait(&b->cv, &b->mu);
            next = clock_mono_ns();
            continue;
        }
        uint64_t now = clock_mono_ns();
        if (!single && now < next) {
            struct timespec ts;
            brain_ns_to_ts(next, &ts);
            pthread_cond_timedwait(&b->cv, &b->mu, &ts);
            continue;
        }
        brain_io_stage_locked(b); /* the robots' latest sensory frames */
        pthread_mutex_unlock(&b->mu);
        uint64_t t0 = clock_mono_ns();
        brain_engine_burst(b->engine, &scratch);
        uint64_t t1 = clock_mono_ns();
        brain_io_motor_collect(b, atomic_load(&b->bursts) + 1);
        pthread_mutex_lock(&b->mu);
        uint64_t n = atomic_fetch_add(&b->bursts, 1) + 1;
        scratch.burst = n;
        scratch.duration_ns = t1 - t0;
        brain_fired_t *slot = &b->ledger[b->ledger_n % BRAIN_LEDGER_DEPTH];
        brain_fired_t old = *slot;
        *slot = scratch;
        scratch = old;
        if (!scratch.counts && brain_fired_alloc(&scratch, slot->nareas) < 0)
            b->quit = true; /* out of memory: the loop sees the thread end */
        b->ledger_n++;
        atomic_store(&b->last_burst_ns, t1 - t0);
        if (single) {
            b->stepped++;
        } else {
            double hz = atomic_load(&b->hz);
            uint64_t period = (uint64_t)(1e9 / hz);
            next += period;
            if (t1 > next) {
                atomic_fetch_add(&b->overruns, 1);
                next = t1;
            }
        }
        pthread_mutex_unlock(&b->mu);
        uv_async_send(&b->reg->wake);
        pthread_mutex_lock(&b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    brain_fired_free(&scratch);
    uv_async_send(&b->reg->wake);
    return NULL;
}

int brain_thread_start(brain_t *b, bool paused)
{
    if (b->thread_live) {
        brain_thread_pause(b, paused);
        return 0;
    }
    if (!b->engine)
        return -EINVAL;
    size_t nareas = brain_engine_area_count(b->engine);
    for (size_t i = 0; i < BRAIN_LEDGER_DEPTH; i++)
        if (b->ledger[i].nareas != nareas || !b->ledger[i].counts) {
            brain_fired_free(&b->ledger[i]);
            if (brain_fired_alloc(&b->ledger[i], nareas) < 0)
                return -ENOMEM;
        }
    b->quit = false;
    b->paused = paused;
    b->steps = b->stepped = 0;
    int rc = pthread_create(&b->thread, NULL, brain_thread_main, b);
    if (rc != 0)
        return -rc;
    b->thread_live = true;
    return 0;
}

void brain_thread_stop(brain_t *b)
{
    if (!b->thread_live)
        return;
    pthread_mutex_lock(&b->mu);
    b->quit = true;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    /* a burst is bounded by the network's size; joining waits for at most that one */
    pthread_join(b->thread, NULL);
    b->thread_live = false;
    brain_steps_done(b, b->stepped);
}

void brain_thread_pause(brain_t *b, bool paused)
{
    pthread_mutex_lock(&b->mu);
    b->paused = paused;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

void brain_thread_step(brain_t *b)
{
    pthread_mutex_lock(&b->mu);
    b->steps++;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

/* One burst's activity for the bus: {brain, burst, duration_us, areas:{id: fired}}. */
static json_t *brain_activity_json(const brain_t *b, const brain_fired_t *f)
{
    json_t *areas = json_object();
    for (size_t a = 0; a < f->nareas && b->engine; a++)
        json_object_set_new(areas, brain_engine_area_id(b->engine, a),
                            json_integer((json_int_t)f->counts[a]));
    return json_pack("{s:s,s:I,s:f,s:o}", "brain", b->id, "burst", (json_int_t)f->burst,
                     "duration_us", (double)(f->duration_ns / 10) / 100.0, "areas", areas);
}

/* Bursts that overran their period since the last report, on the bus at most once a second
 * per brain: {id, name, overruns (in all), new, hz}. The alerts' brain rules watch it. */
#define BRAIN_OVERRUN_GAP_NS 1000000000ull
static void brain_overrun_publish(brain_reg_t *r, brain_t *b, uint64_t now, bool listeners)
{
    uint64_t n = atomic_load(&b->overruns);
    if (!listeners || n == b->overruns_told || now - b->overrun_told_ns < BRAIN_OVERRUN_GAP_NS)
        return;
    char topic[64];
    snprintf(topic, sizeof topic, "brain.%s.overrun", b->id);
    bus_publish(r->hub->bus, topic,
                json_pack("{s:s,s:s,s:I,s:I,s:f}", "id", b->id, "name", b->name, "overruns",
                          (json_int_t)n, "new", (json_int_t)(n - b->overruns_told), "hz",
                          atomic_load(&b->hz)));
    b->overruns_told = n;
    b->overrun_told_ns = now;
}

void brain_run_drain(brain_reg_t *r)
{
    hub_t *hub = r->hub;
    uint64_t now = clock_mono_ns();
    uint64_t gap = (uint64_t)(1e9 / (double)hub->cfg.brain_events_hz);
    bool listeners = bus_subscriber_count(hub->bus) > 0;
    for (size_t i = 0; i < r->n; i++) {
        brain_t *b = r->v[i];
        if (!b->thread_live)
            continue;
        json_t *ev = NULL;
        pthread_mutex_lock(&b->mu);
        uint64_t stepped = b->stepped;
        /* nobody listening (no SSE client, no ZMQ PUB): nothing is built or kept in the ring */
        if (listeners && b->ledger_n > 0 && b->ledger_n != b->published_burst &&
            now - b->published_ns >= gap) {
            const brain_fired_t *f = &b->ledger[(b->ledger_n - 1) % BRAIN_LEDGER_DEPTH];
            ev = brain_activity_json(b, f);
            b->published_burst = b->ledger_n;
            b->published_ns = now;
        }
        pthread_mutex_unlock(&b->mu);
        if (ev) {
            char topic[64];
            snprintf(topic, sizeof topic, "brain.%s.burst", b->id);
            bus_publish(hub->bus, topic, ev);
            r->bursts_published++;
        }
        brain_overrun_publish(r, b, now, listeners);
        brain_io_motor_flush(r, b);
        brain_steps_done(b, stepped);
    }
}

json_t *brain_ledger_json(brain_t *b, const char *area, size_t bursts)
{
    json_t *out = json_array();
    if (!b->engine) /* an edit's job only reads the running engine: its ledger stays readable */
        return out;
    ssize_t ai = -1;
    if (area) {
        for (size_t a = 0; a < brain_engine_area_count(b->engine); a++)
            if (strcmp(brain_engine_area_id(b->engine, a), area) == 0)
                ai = (ssize_t)a;
        if (ai < 0)
            return out;
    }
    pthread_mutex_lock(&b->mu);
    uint64_t have = b->ledger_n < BRAIN_LEDGER_DEPTH ? b->ledger_n : BRAIN_LEDGER_DEPTH;
    for (uint64_t k = 0; k < have && k < bursts; k++) {
        const brain_fired_t *f = &b->ledger[(b->ledger_n - 1 - k) % BRAIN_LEDGER_DEPTH];
        if (!f->counts)
            break;
        if (ai >= 0) {
            json_t *pts = json_array();
            for (size_t i = 0; i < f->nfired; i++)
                if (f->fired[4 * i] == (uint32_t)ai)
                    json_array_append_new(pts, json_pack("[i,i,i]", (int)f->fired[4 * i + 1],
                                                         (int)f->fired[4 * i + 2],
                                                         (int)f->fired[4 * i + 3]));
            json_array_append_new(out, json_pack("{s:I,s:I,s:o}", "burst", (json_int_t)f->burst,
                                                 "count", (json_int_t)f->counts[ai], "fired", pts));
        } else {
            json_array_append_new(out, brain_activity_json(b, f));
        }
    }
    pthread_mutex_unlock(&b->mu);
    return out;
}
