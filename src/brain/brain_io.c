/* Robot frames in and out of a running brain. The inbox keeps each agent's latest sensory frame
 * (points grouped by area, wire ids kept: the burst thread resolves them against the network it
 * runs); the motor ring holds the last few bursts' output voxels until the loop publishes them.
 * Both live under the brain's mutex; the burst thread's own build buffer does not. */
#include "brain/brain_io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "brain/brain_internal.h"
#include "brain/brain_robot.h"
#include "core/clock.h"
#include "core/hub.h"

#define IO_SLOTS        64         /* agents with a frame waiting, per brain */
#define IO_INBOX_MAX    (1u << 20) /* points waiting in all slots together */
#define IO_MOTOR_RING   4          /* motor frames the loop may fall behind by */
#define IO_MOTOR_AREAS  64         /* output areas in one motor frame */
#define IO_MOTOR_POINTS 4096       /* voxels in one motor frame */
#define IO_LAT_KEEP     4096       /* answer latencies kept for the stats */

typedef struct io_area {
    uint8_t wire[BRAIN_FBC_ID_LEN];
    size_t first, n;
} io_area_t;

/* One agent's latest frame. */
typedef struct io_slot {
    bool used;
    uint8_t agent[BRAIN_FBC_ID_LEN];
    io_area_t *areas;
    size_t nareas, areas_cap;
    brain_xyzp_t *pts;
    size_t npts, pts_cap;
} io_slot_t;

/* One burst's motor frame, planar as the wire wants it, areas one after the other. */
typedef struct io_motor {
    uint64_t burst;
    /* the stimulus this frame answers (0 = none): its arrival, the start of the burst that
     * injected it, and the end of this frame's burst (monotonic ns) */
    uint64_t stim_ns, inject_ns, end_ns;
    uint64_t after; /* bursts between the injecting burst and this one */
    size_t nareas, npts;
    uint8_t wire[IO_MOTOR_AREAS][BRAIN_FBC_ID_LEN];
    size_t count[IO_MOTOR_AREAS];
    uint32_t x[IO_MOTOR_POINTS], y[IO_MOTOR_POINTS], z[IO_MOTOR_POINTS];
    float p[IO_MOTOR_POINTS];
} io_motor_t;

struct brain_io {
    io_slot_t slots[IO_SLOTS];
    size_t inbox_pts;
    io_motor_t *ring[IO_MOTOR_RING]; /* under mu */
    uint64_t written, read;          /* under mu */
    io_motor_t *build;               /* the burst thread's */
    brain_xyzp_t *scratch;           /* the burst thread's: IO_MOTOR_POINTS */
    /* answer latency, under mu: the oldest frame not yet staged (0 none); the oldest staged
     * stimulus not yet answered by a motor frame of a later burst */
    uint64_t pending_ns, inflight_ns, inflight_inject_ns, inflight_burst;
    /* per answered stimulus, loop: arrival→send, injection→send, burst end→send (µs) */
    uint32_t lat[3][IO_LAT_KEEP];
    uint64_t lat_n;
    uint64_t next_burst; /* answers that left in the burst right after the injecting one */
};

static void io_destroy(struct brain_io *io)
{
    if (!io)
        return;
    for (size_t i = 0; i < IO_SLOTS; i++) {
        free(io->slots[i].areas);
        free(io->slots[i].pts);
    }
    for (size_t i = 0; i < IO_MOTOR_RING; i++)
        free(io->ring[i]);
    free(io->build);
    free(io->scratch);
    free(io);
}

/* The brain's I/O state, created on first use. Under b->mu. */
static struct brain_io *io_get(brain_t *b)
{
    if (b->io)
        return b->io;
    struct brain_io *io = calloc(1, sizeof *io);
    if (!io)
        return NULL;
    bool ok = true;
    for (size_t i = 0; i < IO_MOTOR_RING; i++)
        ok &= (io->ring[i] = calloc(1, sizeof(io_motor_t))) != NULL;
    io->build = calloc(1, sizeof(io_motor_t));
    io->scratch = calloc(IO_MOTOR_POINTS, sizeof *io->scratch);
    if (!ok || !io->build || !io->scratch) {
        io_destroy(io);
        return NULL;
    }
    b->io = io;
    return io;
}

static io_slot_t *io_slot_find(struct brain_io *io, const uint8_t agent[BRAIN_FBC_ID_LEN],
                               bool create)
{
    io_slot_t *free_slot = NULL;
    for (size_t i = 0; i < IO_SLOTS; i++) {
        io_slot_t *s = &io->slots[i];
        if (s->used && memcmp(s->agent, agent, BRAIN_FBC_ID_LEN) == 0)
            return s;
        if (!s->used && !free_slot)
            free_slot = s;
    }
    if (!create || !free_slot)
        return NULL;
    free_slot->used = true;
    memcpy(free_slot->agent, agent, BRAIN_FBC_ID_LEN);
    return free_slot;
}

static void io_slot_clear(struct brain_io *io, io_slot_t *s)
{
    io->inbox_pts -= s->npts;
    s->npts = s->nareas = 0;
}

/* Room for n areas and m points; both bounded by the robot's frame limits. */
static int io_slot_reserve(io_slot_t *s, size_t n, size_t m)
{
    if (n > s->areas_cap) {
        io_area_t *a = realloc(s->areas, n * sizeof *a);
        if (!a)
            return -ENOMEM;
        s->areas = a;
        s->areas_cap = n;
    }
    if (m > s->pts_cap) {
        brain_xyzp_t *p = realloc(s->pts, m * sizeof *p);
        if (!p)
            return -ENOMEM;
        s->pts = p;
        s->pts_cap = m;
    }
    return 0;
}

int brain_io_sensory(void *ctx, const uint8_t agent_id[BRAIN_FBC_ID_LEN], uint16_t counter,
                     const brain_fbc_frame_t *frame)
{
    (void)counter;
    brain_t *b = brain_default(ctx);
    if (!b || !b->thread_live)
        return 0; /* no running brain: the frame goes nowhere */
    int replaced = 0;
    uint64_t now = clock_mono_ns();
    pthread_mutex_lock(&b->mu);
    struct brain_io *io = io_get(b);
    io_slot_t *s = io ? io_slot_find(io, agent_id, true) : NULL;
    if (io && !io->pending_ns)
        io->pending_ns = now;
    if (s) {
        replaced = s->nareas > 0;
        io_slot_clear(io, s);
        if (io->inbox_pts + frame->points <= IO_INBOX_MAX &&
            io_slot_reserve(s, frame->n_areas, frame->points) == 0) {
            for (size_t a = 0; a < frame->n_areas; a++) {
                const brain_fbc_view_t *v = &frame->areas[a];
                io_area_t *ia = &s->areas[s->nareas++];
                memcpy(ia->wire, v->id, BRAIN_FBC_ID_LEN);
                ia->first = s->npts;
                ia->n = v->n;
                for (size_t i = 0; i < v->n; i++) {
                    brain_xyzp_t *pt = &s->pts[s->npts++];
                    brain_fbc_xyzp_point(v, i, &pt->x, &pt->y, &pt->z, &pt->p);
                }
            }
            io->inbox_pts += s->npts;
        }
    }
    pthread_mutex_unlock(&b->mu);
    return replaced;
}

void brain_io_agent(void *ctx, const uint8_t agent_id[BRAIN_FBC_ID_LEN], bool registered)
{
    brain_reg_t *r = ctx;
    if (registered)
        return;
    for (size_t i = 0; i < brain_count(r); i++) {
        brain_t *b = brain_at(r, i);
        pthread_mutex_lock(&b->mu);
        io_slot_t *s = b->io ? io_slot_find(b->io, agent_id, false) : NULL;
        if (s) {
            io_slot_clear(b->io, s);
            s->used = false;
        }
        pthread_mutex_unlock(&b->mu);
    }
}

void brain_io_stage_locked(brain_t *b)
{
    struct brain_io *io = b->io;
    if (io && io->pending_ns) {
        if (!io->inflight_ns) {
            io->inflight_ns = io->pending_ns;
            io->inflight_inject_ns = clock_mono_ns();
            io->inflight_burst = atomic_load(&b->bursts) + 1;
        }
        io->pending_ns = 0;
    }
    if (!io || !io->inbox_pts || !b->engine)
        return;
    for (size_t i = 0; i < IO_SLOTS; i++) {
        io_slot_t *s = &io->slots[i];
        for (size_t a = 0; s->used && a < s->nareas; a++) {
            size_t dropped = 0; /* points outside the area: the engine drops them */
            /* an unknown area or a full stage drops that area's points, nothing else */
            (void)brain_engine_stage_wire(b->engine, s->areas[a].wire, s->pts + s->areas[a].first,
                                          s->areas[a].n, &dropped);
        }
        s->npts = s->nareas = 0;
    }
    io->inbox_pts = 0;
}

void brain_io_motor_collect(brain_t *b, uint64_t burst)
{
    /* the sockets may open while stored brains already run: read the pointer atomically */
    if (!__atomic_load_n(&b->reg->hub->brain_robot, __ATOMIC_ACQUIRE) || !b->engine)
        return;
    pthread_mutex_lock(&b->mu);
    struct brain_io *io = io_get(b);
    pthread_mutex_unlock(&b->mu);
    if (!io)
        return;
    io_motor_t *m = io->build;
    m->burst = burst;
    m->nareas = m->npts = 0;
    size_t na = brain_engine_area_count(b->engine);
    for (size_t a = 0; a < na && m->nareas < IO_MOTOR_AREAS; a++) {
        uint8_t wire[BRAIN_FBC_ID_LEN];
        if (!brain_engine_area_output(b->engine, a, wire))
            continue;
        size_t k = brain_engine_area_motor(b->engine, a, io->scratch, IO_MOTOR_POINTS - m->npts);
        if (k == 0)
            continue;
        memcpy(m->wire[m->nareas], wire, BRAIN_FBC_ID_LEN);
        m->count[m->nareas++] = k;
        for (size_t i = 0; i < k; i++) {
            m->x[m->npts] = io->scratch[i].x;
            m->y[m->npts] = io->scratch[i].y;
            m->z[m->npts] = io->scratch[i].z;
            m->p[m->npts++] = io->scratch[i].p;
        }
    }
    if (m->nareas == 0)
        return; /* no output area fired: no motor frame */
    m->stim_ns = 0;
    pthread_mutex_lock(&b->mu);
    if (io->inflight_ns && burst > io->inflight_burst) { /* the answer: a later burst's output */
        m->stim_ns = io->inflight_ns;
        m->inject_ns = io->inflight_inject_ns;
        m->end_ns = clock_mono_ns();
        m->after = burst - io->inflight_burst;
        io->inflight_ns = 0;
    }
    size_t slot = io->written % IO_MOTOR_RING;
    io->build = io->ring[slot];
    io->ring[slot] = m;
    io->written++;
    if (io->written - io->read > IO_MOTOR_RING)
        io->read = io->written - IO_MOTOR_RING; /* the loop fell behind: the oldest are lost */
    pthread_mutex_unlock(&b->mu);
}

void brain_io_motor_flush(brain_reg_t *r, brain_t *b)
{
    brain_robot_t *robot = r->hub->brain_robot;
    if (!robot || !b->io)
        return;
    bool publish = brain_default(r) == b;
    pthread_mutex_lock(&b->mu);
    struct brain_io *io = b->io;
    for (; io->read < io->written; io->read++) {
        const io_motor_t *m = io->ring[io->read % IO_MOTOR_RING];
        if (!publish)
            continue;
        brain_fbc_area_t areas[IO_MOTOR_AREAS];
        size_t at = 0;
        for (size_t a = 0; a < m->nareas; a++) {
            areas[a] = (brain_fbc_area_t){
                .n = m->count[a], .x = m->x + at, .y = m->y + at, .z = m->z + at, .p = m->p + at};
            memcpy(areas[a].id, m->wire[a], BRAIN_FBC_ID_LEN);
            at += m->count[a];
        }
        (void)brain_robot_motor_publish(robot, (uint16_t)m->burst, areas, m->nareas);
        if (m->stim_ns) {
            io->next_burst += m->after == 1;
            uint64_t now = clock_mono_ns(), k = io->lat_n++ % IO_LAT_KEEP;
            const uint64_t from[3] = {m->stim_ns, m->inject_ns, m->end_ns};
            for (size_t i = 0; i < 3; i++) {
                uint64_t us = now > from[i] ? (now - from[i]) / 1000 : 0;
                io->lat[i][k] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
            }
        }
    }
    pthread_mutex_unlock(&b->mu);
}

static int io_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

json_t *brain_io_latency_json(brain_t *b)
{
    static const char *const names[3] = {"arrival_to_send", "injection_to_send",
                                         "burst_end_to_send"};
    uint32_t *v = malloc(IO_LAT_KEEP * sizeof *v);
    json_t *o = json_object();
    if (!v || !o) {
        free(v);
        return o;
    }
    pthread_mutex_lock(&b->mu);
    struct brain_io *io = b->io;
    size_t n = !io ? 0 : io->lat_n < IO_LAT_KEEP ? (size_t)io->lat_n : IO_LAT_KEEP;
    json_object_set_new(o, "answers", json_integer(io ? (json_int_t)io->lat_n : 0));
    json_object_set_new(o, "answers_next_burst", json_integer(io ? (json_int_t)io->next_burst : 0));
    for (size_t i = 0; i < 3; i++) {
        if (n == 0)
            break;
        memcpy(v, io->lat[i], n * sizeof *v);
        qsort(v, n, sizeof *v, io_cmp_u32);
        json_object_set_new(
            o, names[i],
            json_pack("{s:f,s:f,s:f}", "p50_ms", v[n / 2] / 1e3, "p99_ms",
                      v[(size_t)((double)n * 0.99) < n ? (size_t)((double)n * 0.99) : n - 1] / 1e3,
                      "max_ms", v[n - 1] / 1e3));
    }
    pthread_mutex_unlock(&b->mu);
    free(v);
    return o;
}

void brain_io_free(brain_t *b)
{
    io_destroy(b->io);
    b->io = NULL;
}
