/* The watch domain's life and its streams: defaults from [watch], streams with per-stream
 * overrides, a bounded queue of accepted events per stream, and the scoring glue — one job at a
 * time per stream on the libuv thread pool (so a stream's events are scored in order), results
 * back on the loop, anomalies stored and then announced on the bus as anomaly.created. */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "core/bus.h"
#include "core/clock.h"
#include "core/hub.h"
#include "core/log.h"
#include "core/metrics.h"
#include "watch/watch.h"
#include "watch/watch_internal.h"

/* ---- settings -------------------------------------------------------------------------- */

static int watch_threshold_parse(const char *s, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0 && v < 1))
        return -1;
    *out = v;
    return 0;
}

/* Computes the detector defaults from [watch] into w->defaults; on a bad value keeps the previous
 * defaults and says why. Called at start and whenever a stream's settings are resolved, so a
 * SIGHUP reload of [watch] reaches streams resolved after it. */
static int watch_defaults_from_config(watch_t *w, const config_t *cfg, char *err, size_t errlen)
{
    cbad_settings_t nd, *d = &nd;
    cbad_settings_default(d);
    d->baseline = (uint32_t)cfg->watch_baseline;
    d->window = (uint32_t)cfg->watch_window;
    d->hop = (uint32_t)cfg->watch_hop;
    d->level = (int)cfg->watch_level;
    d->permutations = (uint32_t)cfg->watch_permutations;
    d->seed = (uint64_t)cfg->watch_seed;
    d->canonicalise = cfg->watch_canonicalise != 0;
    d->redact = cfg->watch_redact != 0;
    if (watch_threshold_parse(cfg->watch_ncd_threshold, &d->ncd_threshold) < 0) {
        snprintf(err, errlen, "watch.ncd_threshold: expected a number between 0 and 1, got \"%s\"",
                 cfg->watch_ncd_threshold);
        return -1;
    }
    if (watch_threshold_parse(cfg->watch_flood_threshold, &d->flood_threshold) < 0) {
        snprintf(err, errlen,
                 "watch.flood_threshold: expected a number between 0 and 1, got \"%s\"",
                 cfg->watch_flood_threshold);
        return -1;
    }
    if (watch_threshold_parse(cfg->watch_p_threshold, &d->p_threshold) < 0) {
        snprintf(err, errlen, "watch.p_threshold: expected a number between 0 and 1, got \"%s\"",
                 cfg->watch_p_threshold);
        return -1;
    }
    const char *field = NULL, *reason = NULL;
    if (cbad_settings_check(d, &field, &reason) < 0) {
        snprintf(err, errlen, "watch.%s: %s", field ? field : "?", reason ? reason : "invalid");
        return -1;
    }
    w->defaults = nd;
    return 0;
}

/* Overlays explicit settings on s. Values were checked for type and range by the endpoint's
 * schema (or are re-checked by cbad_settings_check when loaded from the store). */
static void watch_settings_overlay(cbad_settings_t *s, const json_t *o)
{
    json_t *v;
    if (!json_is_object(o))
        return;
#define WATCH_INT(key, field, T)                                                                   \
    if ((v = json_object_get(o, key)) && json_is_integer(v) && json_integer_value(v) >= 0)         \
    s->field = (T)json_integer_value(v)
    WATCH_INT("baseline", baseline, uint32_t);
    WATCH_INT("window", window, uint32_t);
    WATCH_INT("hop", hop, uint32_t);
    WATCH_INT("level", level, int);
    WATCH_INT("permutations", permutations, uint32_t);
    WATCH_INT("seed", seed, uint64_t);
    WATCH_INT("symbols", symbols, uint32_t);
    WATCH_INT("rare_template", rare_template, uint32_t);
#undef WATCH_INT
    if ((v = json_object_get(o, "ncd_threshold")) && json_is_number(v))
        s->ncd_threshold = json_number_value(v);
    if ((v = json_object_get(o, "flood_threshold")) && json_is_number(v))
        s->flood_threshold = json_number_value(v);
    if ((v = json_object_get(o, "p_threshold")) && json_is_number(v))
        s->p_threshold = json_number_value(v);
    if ((v = json_object_get(o, "canonicalise")) && json_is_boolean(v))
        s->canonicalise = json_is_true(v);
    if ((v = json_object_get(o, "rare_history")) && json_is_boolean(v))
        s->rare_history = json_is_true(v);
    if ((v = json_object_get(o, "redact")) && json_is_boolean(v))
        s->redact = json_is_true(v);
}

json_t *watch_settings_json(const cbad_settings_t *s)
{
    return json_pack("{s:I,s:I,s:I,s:s,s:i,s:f,s:f,s:f,s:I,s:I,s:b,s:b,s:I,s:I,s:b}", "baseline",
                     (json_int_t)s->baseline, "window", (json_int_t)s->window, "hop",
                     (json_int_t)s->hop, "compressor", "zstd", "level", s->level, "ncd_threshold",
                     s->ncd_threshold, "flood_threshold", s->flood_threshold, "p_threshold",
                     s->p_threshold, "permutations", (json_int_t)s->permutations, "seed",
                     (json_int_t)s->seed, "canonicalise", s->canonicalise, "redact", s->redact,
                     "symbols", (json_int_t)s->symbols, "rare_template",
                     (json_int_t)s->rare_template, "rare_history", s->rare_history);
}

/* ---- streams --------------------------------------------------------------------------- */

bool watch_name_valid(const char *name)
{
    size_t n = 0;
    for (; name[n]; n++) {
        char c = name[n];
        if (n >= WATCH_NAME_MAX || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                     (c >= '0' && c <= '9') || strchr(WATCH_NAME_CHARS, c)))
            return false;
    }
    return n > 0;
}

watch_stream_t *watch_stream_find(watch_t *w, const char *name)
{
    for (size_t i = 0; i < w->nstreams; i++)
        if (strcmp(w->streams[i]->name, name) == 0)
            return w->streams[i];
    return NULL;
}

void watch_event_clear(watch_event_t *ev)
{
    free(ev->text);
    json_decref(ev->meta);
    memset(ev, 0, sizeof *ev);
}

static void watch_stream_free(watch_stream_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->q_len; i++)
        watch_event_clear(&s->q[(s->q_head + i) % s->q_alloc]);
    free(s->q);
    for (size_t i = 0; i < s->carry_n; i++)
        watch_event_clear(&s->carry[i]);
    free(s->carry);
    json_decref(s->overrides);
    cbad_destroy(&s->det);
    num_detector_destroy(&s->num);
    free(s);
}

/* The stream's `detector` setting: auto (the default), numeric or text. */
static const char *watch_detector_setting(const json_t *overrides)
{
    const char *d = json_string_value(json_object_get(overrides, "detector"));
    return d ? d : "auto";
}

/* Whether the stream's values go to the numeric detector: `detector: numeric`, or `auto` on a
 * metrics stream. Text events always go to the compression view. */
static bool watch_detector_numeric(const watch_stream_t *s)
{
    const char *d = watch_detector_setting(s->overrides);
    return !strcmp(d, "numeric") || (!strcmp(d, "auto") && s->settings.type == CBAD_STREAM_METRICS);
}

/* (Re)builds the stream's detectors from its settings. 0 / -ENOMEM. */
static int watch_detectors_build(watch_stream_t *s)
{
    cbad_destroy(&s->det);
    num_detector_destroy(&s->num);
    s->num_points = 0;
    if (cbad_new(&s->settings, &s->det) < 0)
        return -ENOMEM;
    if (watch_detector_numeric(s)) {
        num_settings_t ns;
        num_settings_default(&ns);
        if (num_detector_new(&ns, &s->num) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* Field by field: the struct has padding, which memcmp would compare too (and a struct copy
 * need not preserve), making equal settings look changed and the detector rebuilt. */
static bool watch_settings_same(const cbad_settings_t *a, const cbad_settings_t *b)
{
    return a->type == b->type && a->baseline == b->baseline && a->window == b->window &&
           a->hop == b->hop && a->compressor == b->compressor && a->level == b->level &&
           a->ncd_threshold == b->ncd_threshold && a->flood_threshold == b->flood_threshold &&
           a->p_threshold == b->p_threshold && a->permutations == b->permutations &&
           a->seed == b->seed && a->canonicalise == b->canonicalise && a->redact == b->redact &&
           a->fold == b->fold && a->symbols == b->symbols && a->rare_template == b->rare_template &&
           a->rare_history == b->rare_history;
}

/* Computes the effective settings of type+overrides over the defaults; on a bad combination
 * returns a 422 problem naming the field. */
static problem_t *watch_settings_resolve(watch_t *w, const char *type, const json_t *overrides,
                                         cbad_settings_t *out)
{
    char err[256];
    if (watch_defaults_from_config(w, &w->hub->cfg, err, sizeof err) < 0)
        log_warn(NULL, "watch: [watch] defaults not applied; keeping the previous ones", "{s:s}",
                 "reason", err);
    *out = w->defaults;
    if (type && cbad_stream_type_parse(type, &out->type) < 0) {
        problem_t *p = problem_validation_new();
        problem_field_add(p, "body", "/type",
                          "must be one of logs, metrics, traces, llm, events, agent");
        return p;
    }
    watch_settings_overlay(out, overrides);
    const char *field = NULL, *reason = NULL;
    if (cbad_settings_check(out, &field, &reason) < 0) {
        problem_t *p = problem_new(422, "validation", "the stream settings are inconsistent");
        char ptr[64];
        snprintf(ptr, sizeof ptr, "/settings/%s", field ? field : "");
        problem_field_add(p, "body", ptr, "%s", reason ? reason : "invalid");
        return p;
    }
    return NULL;
}

static void watch_stream_labels(watch_t *w, watch_stream_t *s)
{
    strbuf_t b;
    strbuf_init(&b, sizeof s->labels - 1);
    if (w->labelled < (size_t)w->hub->cfg.watch_metrics_streams) {
        s->metric_slot = (int)w->labelled++;
        strbuf_puts(&b, "stream=\"");
        metrics_label_escape(&b, s->name);
        strbuf_puts(&b, "\"");
    } else {
        s->metric_slot = -1;
        strbuf_puts(&b, "stream=\"_other\"");
    }
    snprintf(s->labels, sizeof s->labels, "%s", b.data ? b.data : "stream=\"_other\"");
    strbuf_free(&b);
}

problem_t *watch_stream_create(watch_t *w, const char *name, const char *type,
                               const json_t *overrides, watch_stream_t **out)
{
    *out = NULL;
    if (!watch_name_valid(name)) {
        problem_t *p = problem_validation_new();
        problem_field_add(p, "query", "stream",
                          "1 to %d characters among letters, digits and . _ - :", WATCH_NAME_MAX);
        return p;
    }
    if (w->nstreams >= (size_t)w->hub->cfg.watch_max_streams) {
        problem_t *p = problem_new(429, "too-many-streams",
                                   "the daemon already has %zu streams (watch.max_streams); "
                                   "delete one or raise the limit",
                                   w->nstreams);
        return p;
    }
    cbad_settings_t eff;
    problem_t *p = watch_settings_resolve(w, type, overrides, &eff);
    if (p)
        return p;
    watch_stream_t *s = calloc(1, sizeof *s);
    if (!s)
        return problem_new(503, "out-of-memory", "the stream could not be created");
    snprintf(s->name, sizeof s->name, "%s", name);
    s->settings = eff;
    s->overrides = json_is_object(overrides) ? json_deep_copy(overrides) : json_object();
    s->q_cap = (size_t)w->hub->cfg.watch_queue_events; /* the ring grows to it on demand */
    s->created_ms = s->updated_ms = clock_wall_ms();
    if (!s->overrides || watch_detectors_build(s) < 0) {
        watch_stream_free(s);
        return problem_new(503, "out-of-memory", "the stream could not be created");
    }
    if (w->nstreams == w->cap_streams) {
        size_t nc = w->cap_streams ? w->cap_streams * 2 : 16;
        watch_stream_t **ns = realloc(w->streams, nc * sizeof *ns);
        if (!ns) {
            watch_stream_free(s);
            return problem_new(503, "out-of-memory", "the stream could not be created");
        }
        w->streams = ns;
        w->cap_streams = nc;
    }
    watch_stream_labels(w, s);
    w->streams[w->nstreams++] = s;
    *out = s;
    return NULL;
}

problem_t *watch_stream_update(watch_t *w, watch_stream_t *s, const char *type,
                               const json_t *overrides)
{
    cbad_settings_t eff;
    problem_t *p = watch_settings_resolve(w, type ? type : cbad_stream_type_name(s->settings.type),
                                          overrides, &eff);
    if (p)
        return p;
    json_t *o = json_is_object(overrides) ? json_deep_copy(overrides) : json_object();
    if (!o)
        return problem_new(503, "out-of-memory", "the stream could not be updated");
    bool changed = !watch_settings_same(&eff, &s->settings) ||
                   strcmp(watch_detector_setting(o), watch_detector_setting(s->overrides)) != 0;
    json_decref(s->overrides);
    s->overrides = o;
    s->settings = eff;
    s->updated_ms = clock_wall_ms();
    if (changed) {
        /* New settings start a new detector: windows already scored keep their results. */
        if (s->busy) {
            s->reconfigure = true;
        } else {
            s->incident_events_valid = false;
            if (watch_detectors_build(s) < 0)
                return problem_new(503, "out-of-memory", "the detector could not be rebuilt");
        }
    }
    return NULL;
}

void watch_stream_remove(watch_t *w, watch_stream_t *s)
{
    for (size_t i = 0; i < w->nstreams; i++) {
        if (w->streams[i] == s) {
            w->streams[i] = w->streams[--w->nstreams];
            break;
        }
    }
    if (s->busy)
        s->dead = true; /* the job still holds the detector: freed when it comes back */
    else
        watch_stream_free(s);
}

json_t *watch_stream_json(const watch_stream_t *s)
{
    char c[40], u[40];
    return json_pack(
        "{s:s,s:s,s:s,s:o,s:O,s:s,s:s,s:{s:I,s:I,s:I,s:I,s:I,s:f},s:s?,s:s?}", "name", s->name,
        "type", cbad_stream_type_name(s->settings.type), "detector", s->num ? "numeric" : "text",
        "settings", watch_settings_json(&s->settings), "overrides", s->overrides, "created_at",
        clock_rfc3339(s->created_ms, c, sizeof c), "updated_at",
        clock_rfc3339(s->updated_ms, u, sizeof u), "stats", "events_in", (json_int_t)s->events_in,
        "events_scored", (json_int_t)s->events_scored, "windows_scored",
        (json_int_t)s->windows_scored, "anomalies", (json_int_t)s->anomalies, "queue_depth",
        (json_int_t)s->q_len, "last_score", s->last_score, "owner", s->owner[0] ? s->owner : NULL,
        "team", s->team[0] ? s->team : NULL);
}

json_t *watch_stream_scores_json(const watch_stream_t *s)
{
    json_t *pts = json_array();
    uint64_t n = s->num_points < WATCH_RECENT_POINTS ? s->num_points : WATCH_RECENT_POINTS;
    for (uint64_t at = s->num_points - n; pts && at < s->num_points; at++) {
        const watch_point_t *p = &s->recent[at % WATCH_RECENT_POINTS];
        json_array_append_new(pts, json_pack("{s:I,s:f,s:f}", "index", (json_int_t)p->index,
                                             "value", p->value, "score", p->score));
    }
    return json_pack("{s:s,s:s,s:I,s:o}", "stream", s->name, "detector",
                     s->num ? "numeric" : "text", "points_scored", (json_int_t)s->num_points,
                     "points", pts ? pts : json_array());
}

/* ---- persistence of stream definitions -------------------------------------------------- */

typedef struct watch_persist_job {
    char name[WATCH_NAME_MAX + 1];
    char type[16];
    char *overrides;
    int64_t created_ms, updated_ms;
    char owner[96], team[65];
    char err[256];
} watch_persist_job_t;

static int watch_persist_work(store_conn_t *c, void *ud)
{
    watch_persist_job_t *j = ud;
    int rc = watch_db_stream_upsert(c, j->name, j->type, j->overrides, j->created_ms, j->updated_ms,
                                    j->owner, j->team);
    if (rc < 0)
        snprintf(j->err, sizeof j->err, "%s", store_conn_error(c));
    return rc;
}

static void watch_persist_done(int status, void *ud)
{
    watch_persist_job_t *j = ud;
    if (status < 0)
        log_error(NULL, "watch: stream definition not stored", "{s:s,s:i,s:s}", "stream", j->name,
                  "code", status, "error", j->err);
    free(j->overrides);
    free(j);
}

void watch_stream_persist(watch_t *w, const watch_stream_t *s)
{
    hub_t *hub = w->hub;
    watch_persist_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return;
    snprintf(j->name, sizeof j->name, "%s", s->name);
    snprintf(j->owner, sizeof j->owner, "%s", s->owner);
    snprintf(j->team, sizeof j->team, "%s", s->team);
    snprintf(j->type, sizeof j->type, "%s", cbad_stream_type_name(s->settings.type));
    j->overrides = json_dumps(s->overrides, JSON_COMPACT | JSON_SORT_KEYS);
    j->created_ms = s->created_ms;
    j->updated_ms = s->updated_ms;
    if (!j->overrides ||
        store_submit(hub->store, hub->loop, watch_persist_work, watch_persist_done, j) < 0) {
        log_error(NULL, "watch: stream definition not stored", "{s:s}", "stream", s->name);
        free(j->overrides);
        free(j);
    }
}

/* ---- queue and scoring ------------------------------------------------------------------ */

size_t watch_stream_room(const watch_stream_t *s)
{
    return s->q_cap - s->q_len;
}

/* The ring starts at WATCH_QUEUE_MIN slots and doubles as the backlog needs. A ring of the full
 * watch.queue_events (20 000 slots, 940 KB) from the start was touched page by page as its
 * head went round, so each busy stream's RSS crept up to the whole of it whatever the backlog
 * was — the soak's three streams added 2.8 MB that way. */
#define WATCH_QUEUE_MIN 64
/* A drained ring larger than this goes back to the allocator (a burst's backlog is not kept). */
#define WATCH_QUEUE_KEEP 256

int watch_stream_reserve(watch_stream_t *s, size_t n)
{
    size_t need = s->q_len + n;
    if (need <= s->q_alloc)
        return 0;
    size_t cap = s->q_alloc ? s->q_alloc : WATCH_QUEUE_MIN;
    while (cap < need)
        cap *= 2;
    if (cap > s->q_cap)
        cap = s->q_cap > need ? s->q_cap : need;
    watch_event_t *q = malloc(cap * sizeof *q);
    if (!q)
        return -ENOMEM;
    /* unwrapped: the oldest first (q_len > 0 only with q_alloc > 0: the second test says so
     * to the analyzer) */
    for (size_t i = 0; i < s->q_len && s->q_alloc; i++)
        q[i] = s->q[(s->q_head + i) % s->q_alloc];
    free(s->q);
    s->q = q;
    s->q_alloc = cap;
    s->q_head = 0;
    return 0;
}

/* After a job took events: an empty ring starts again at slot 0, so the same few pages serve a
 * stream that keeps up, and a large one is freed. */
static void watch_stream_drained(watch_stream_t *s)
{
    if (s->q_len)
        return;
    s->q_head = 0;
    if (s->q_alloc > WATCH_QUEUE_KEEP) {
        free(s->q);
        s->q = NULL;
        s->q_alloc = 0;
    }
}

typedef struct watch_job {
    uv_work_t work;
    watch_t *w;
    watch_stream_t *s;
    char name[WATCH_NAME_MAX + 1];
    cbad_stream_type_t type;
    cbad_t *det;
    num_detector_t *num;                       /* the stream's numeric detector, or NULL */
    uint64_t point0;                           /* its point count when the job started */
    uint64_t points;                           /* values it scored in this job */
    watch_point_t recent[WATCH_RECENT_POINTS]; /* its last points, as the stream keeps them */
    watch_event_t *ev;
    size_t nev;
    size_t consumed;             /* events fed to the detector: all, or up to the first anomaly */
    watch_anomalies_t anomalies; /* found by the worker */
    uint64_t windows, scored;
    double last_score;
    double seconds;
    int error;
} watch_job_t;

/* A UUID v4 in text, from libsodium's generator (thread-safe). */
static void watch_uuid(char out[37])
{
    unsigned char b[16];
    randombytes_buf(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* Moves result r into a new anomaly of the job (r is left zeroed): identity, stream and times
 * around cbad's evidence. The metadata reference is taken later, on the loop thread. NULL when
 * out of memory (r is then cleared). */
static watch_anomaly_t *watch_job_anomaly_add(watch_job_t *j, cbad_result_t *r,
                                              const watch_event_t *last, int64_t now_ms)
{
    watch_anomaly_t *a = watch_anomalies_add(&j->anomalies);
    if (!a) {
        cbad_result_clear(r);
        return NULL;
    }
    a->r = *r;
    memset(r, 0, sizeof *r);
    watch_uuid(a->id);
    snprintf(a->stream, sizeof a->stream, "%s", j->name);
    a->type = j->type;
    a->ts_ms = last->ts_ms;
    a->created_ms = now_ms;
    a->meta = last->meta; /* borrowed until watch_job_after takes a reference */
    return a;
}

/* One value to the numeric detector; an anomaly by its decision rule is appended to j->anomalies
 * with the point's signals and their explanation. */
static void watch_job_point(watch_job_t *j, const watch_event_t *ev)
{
    num_point_t p;
    int rc = num_detector_push(j->num, ev->value, &p);
    if (rc < 0) {
        j->error = rc;
        return;
    }
    uint64_t at = j->point0 + j->points++;
    j->recent[at % WATCH_RECENT_POINTS] = (watch_point_t){at, ev->value, p.score};
    j->scored++;
    j->last_score = p.score;
    if (!p.anomaly)
        return;
    char why[512];
    num_point_explain(&p, why, sizeof why);
    cbad_result_t r;
    memset(&r, 0, sizeof r);
    r.window_index = r.first_event = r.last_event = at;
    r.score = p.score;
    r.novelty = p.novelty;
    r.confidence = 1.0;
    r.p_value = 1.0; /* no permutation test: the rule's false-alarm rate is in docs/watch.md */
    r.anomaly = true;
    r.severity = p.score >= 0.99 ? CBAD_SEVERITY_HIGH : CBAD_SEVERITY_MEDIUM;
    char line[640];
    snprintf(line, sizeof line, "Value %.6g (point %llu) is unusual for this series: %s", ev->value,
             (unsigned long long)at, why);
    r.explanation = strdup(line);
    watch_anomaly_t *a = r.explanation ? watch_job_anomaly_add(j, &r, ev, clock_wall_ms()) : NULL;
    if (a) {
        a->numeric = true;
        a->value = ev->value;
        a->signals = p;
    }
    cbad_result_clear(&r);
}

/* Thread pool: feeds the queued events to the stream's detector and scores every due window.
 * It stops after the first window that is an anomaly, so that the anomaly is stored and
 * announced without waiting for the windows after it; the rest goes to the next job. */
static void watch_job_work(uv_work_t *req)
{
    watch_job_t *j = req->data;
    uint64_t t0 = clock_mono_ns();
    /* Taken at the first window this job scores, not before: a numeric stream's job, or one
     * that only fills a window, never holds one, so the pool grows with the text streams that
     * score at the same moment rather than with every job (docs/testing.md, "Soak"). */
    cbad_scratch_t *sc = NULL;
    cbad_job_t *cj = NULL; /* one snapshot, refilled window after window */
    j->consumed = j->nev;
    for (size_t i = 0; i < j->nev; i++) {
        if (j->anomalies.n > 0) {
            j->consumed = i;
            break;
        }
        watch_event_t *ev = &j->ev[i];
        if (j->num && ev->has_value) {
            watch_job_point(j, ev);
            continue;
        }
        int rc = ev->has_value ? cbad_push_value(j->det, ev->value)
                               : cbad_push(j->det, ev->text, ev->len);
        if (rc < 0) {
            j->error = rc; /* one bad event does not stop the stream */
            continue;
        }
        j->scored++;
        if (rc == 0)
            continue;
        if (cj ? cbad_job_refill(j->det, cj) < 0 : cbad_job_take(j->det, &cj) < 0)
            continue;
        cbad_result_t r;
        memset(&r, 0, sizeof r);
        if (!sc)
            sc = cbad_pool_scratch_take(&j->w->scratch); /* NULL: cbad_job_run makes its own */
        if (cbad_job_run(cj, sc, &r) == 0) {
            j->windows++;
            j->last_score = r.score;
            cbad_result_note(j->det, &r);
            if (r.anomaly)
                watch_job_anomaly_add(j, &r, ev, clock_wall_ms());
        } else {
            j->error = -EIO;
        }
        cbad_result_clear(&r);
    }
    cbad_job_destroy(&cj);
    cbad_pool_scratch_give(&j->w->scratch, sc);
    j->seconds = (double)(clock_mono_ns() - t0) / 1e9;
}

typedef struct watch_store_job {
    watch_t *w;
    watch_anomalies_t anomalies; /* owned */
    json_t *payloads;            /* their objects, built once: stored, then published */
    char err[256];
} watch_store_job_t;

/* Store worker: each anomaly becomes its API object here, once; that object is the row written
 * and, after the commit, the anomaly.created payload. */
static int watch_store_work(store_conn_t *c, void *ud)
{
    watch_store_job_t *sj = ud;
    int rc = store_tx_begin(c);
    for (size_t i = 0; rc == 0 && i < sj->anomalies.n; i++) {
        const watch_anomaly_t *a = &sj->anomalies.v[i];
        json_t *o = watch_anomaly_json(a);
        if (!o || json_array_append_new(sj->payloads, o) < 0) {
            snprintf(sj->err, sizeof sj->err, "out of memory");
            store_tx_rollback(c);
            return -ENOMEM;
        }
        rc = watch_db_anomaly_insert(c, o);
        if (rc == 0)
            rc = watch_db_incident_note(c, a);
    }
    if (rc == 0)
        rc = store_tx_commit(c);
    if (rc < 0) {
        snprintf(sj->err, sizeof sj->err, "%s", store_conn_error(c));
        store_tx_rollback(c);
    }
    return rc;
}

static void watch_store_done(int status, void *ud)
{
    watch_store_job_t *sj = ud;
    hub_t *hub = sj->w->hub;
    if (status < 0) {
        log_error(NULL, "watch: anomalies could not be stored", "{s:i,s:i,s:s}", "count",
                  (int)sj->anomalies.n, "code", status, "error", sj->err);
    } else {
        size_t i;
        json_t *a;
        json_array_foreach(sj->payloads, i, a)
        {
            bus_publish(hub->bus, "anomaly.created", json_incref(a));
        }
    }
    json_decref(sj->payloads);
    watch_anomalies_free(&sj->anomalies);
    free(sj);
}

static void watch_job_after(uv_work_t *req, int status)
{
    watch_job_t *j = req->data;
    watch_t *w = j->w;
    watch_stream_t *s = j->s;
    hub_t *hub = w->hub;
    w->jobs_running--;
    /* The anomalies keep their last event's metadata past the events (loop thread: references). */
    for (size_t i = 0; i < j->anomalies.n; i++)
        json_incref(j->anomalies.v[i].meta);
    for (size_t i = 0; i < j->consumed; i++)
        watch_event_clear(&j->ev[i]);
    if (j->consumed < j->nev) {
        /* Not busy from here on and no job can start before this one's carry is set. */
        memmove(j->ev, j->ev + j->consumed, (j->nev - j->consumed) * sizeof *j->ev);
        s->carry = j->ev;
        s->carry_n = j->nev - j->consumed;
    } else {
        free(j->ev);
    }

    size_t n = j->anomalies.n;
    w->windows_scored += j->windows;
    w->anomalies += n;
    if (hub->metrics) {
        metrics_counter_add(hub->metrics, "ganglion_watch_windows_scored_total", s->labels,
                            (double)j->windows);
        metrics_counter_add(hub->metrics, "ganglion_watch_anomalies_total", s->labels, (double)n);
        metrics_counter_add(hub->metrics, "ganglion_watch_events_scored_total", s->labels,
                            (double)j->scored);
    }
    if (j->error)
        log_warn(NULL, "watch: some events could not be scored", "{s:s,s:i}", "stream", s->name,
                 "code", j->error);
    for (size_t i = 0; i < n; i++)
        watch_incident_assign_one(w, s, &j->anomalies.v[i]);
    if (n) {
        watch_store_job_t *sj = calloc(1, sizeof *sj);
        json_t *payloads = sj ? json_array() : NULL;
        if (payloads) {
            sj->w = w;
            sj->anomalies = j->anomalies;
            sj->payloads = payloads;
            memset(&j->anomalies, 0, sizeof j->anomalies);
            if (store_submit(hub->store, hub->loop, watch_store_work, watch_store_done, sj) < 0) {
                log_error(NULL, "watch: anomalies could not be queued for storage", "{s:i}",
                          "count", (int)n);
                json_decref(sj->payloads);
                watch_anomalies_free(&sj->anomalies);
                free(sj);
            }
        } else {
            free(sj);
            log_error(NULL, "watch: anomalies lost (out of memory)", "{s:i}", "count", (int)n);
        }
    }
    watch_anomalies_free(&j->anomalies);

    s->busy = false;
    s->events_scored += j->scored;
    s->windows_scored += j->windows;
    s->anomalies += n;
    s->score_seconds += j->seconds;
    s->jobs++;
    for (uint64_t k = j->points > WATCH_RECENT_POINTS ? j->points - WATCH_RECENT_POINTS : 0;
         k < j->points; k++) {
        uint64_t at = j->point0 + k;
        s->recent[at % WATCH_RECENT_POINTS] = j->recent[at % WATCH_RECENT_POINTS];
    }
    s->num_points += j->points;
    if (j->windows || j->points)
        s->last_score = j->last_score;
    free(j);
    (void)status;
    if (s->dead) {
        watch_stream_free(s);
        return;
    }
    if (s->reconfigure) {
        s->reconfigure = false;
        s->incident_events_valid = false;
        if (watch_detectors_build(s) < 0)
            log_error(NULL, "watch: detector could not be rebuilt", "{s:s}", "stream", s->name);
    }
    watch_stream_kick(w, s);
}

void watch_stream_kick(watch_t *w, watch_stream_t *s)
{
    if (s->busy || (s->q_len == 0 && s->carry_n == 0) || w->stopping || !s->det)
        return;
    watch_job_t *j = calloc(1, sizeof *j);
    bool carried = s->carry_n > 0;
    size_t n = carried ? s->carry_n : s->q_len < WATCH_JOB_EVENTS ? s->q_len : WATCH_JOB_EVENTS;
    if (j)
        j->ev = carried ? s->carry : malloc(n * sizeof *j->ev);
    if (!j || !j->ev) {
        if (j && !carried)
            free(j->ev);
        free(j);
        log_error(NULL, "watch: scoring job could not start (out of memory)", "{s:s}", "stream",
                  s->name);
        return;
    }
    if (carried) {
        s->carry = NULL;
        s->carry_n = 0;
    } else {
        for (size_t i = 0; i < n; i++) {
            j->ev[i] = s->q[s->q_head];
            memset(&s->q[s->q_head], 0, sizeof s->q[0]);
            s->q_head = (s->q_head + 1) % s->q_alloc;
        }
        s->q_len -= n;
    }
    j->nev = n;
    j->w = w;
    j->s = s;
    j->det = s->det;
    j->num = s->num;
    j->point0 = s->num_points;
    j->type = s->settings.type;
    snprintf(j->name, sizeof j->name, "%s", s->name);
    j->work.data = j;
    int rc = uv_queue_work(w->hub->loop, &j->work, watch_job_work, watch_job_after);
    if (rc < 0) {
        /* Put the events back in front: nothing accepted is dropped. */
        if (carried) {
            s->carry = j->ev;
            s->carry_n = n;
        } else {
            for (size_t i = n; i-- > 0;) {
                s->q_head = (s->q_head + s->q_alloc - 1) % s->q_alloc;
                s->q[s->q_head] = j->ev[i];
            }
            s->q_len += n;
            free(j->ev);
        }
        free(j);
        log_error(NULL, "watch: scoring job could not be queued", "{s:s,s:s}", "stream", s->name,
                  "error", uv_strerror(rc));
        return;
    }
    s->busy = true;
    w->jobs_running++;
    if (!carried)
        watch_stream_drained(s);
}

void watch_stream_push(watch_t *w, watch_stream_t *s, watch_event_t *ev)
{
    assert(s->q_len < s->q_alloc);
    size_t at = (s->q_head + s->q_len) % s->q_alloc;
    s->q[at] = *ev;
    memset(ev, 0, sizeof *ev);
    s->q_len++;
    s->events_in++;
    w->events_in++;
}

/* ---- agents' output ---------------------------------------------------------------------- */

/* Each line an agent prints becomes an event of a stream of type agent, by watch.agents:
 * `labelled` (the default) watches agents spawned with a watch label — watch=true (on, 1, yes)
 * scores into agent.<id>, watch=NAME into the stream NAME (several agents may share it); `all`
 * watches every agent unless its label says false (off, 0, no); `none` watches nobody. The
 * deprecated watch.agent_streams (0, 1, 2) wins when set. serve.c hands the lines over as they
 * are kept (hub->agent_output). */
static bool watch_word_in(const char *v, const char *const *words)
{
    for (size_t i = 0; v && words[i]; i++)
        if (!strcasecmp(v, words[i]))
            return true;
    return false;
}

/* The stream an agent's output goes to, in out; false when it is not watched. */
static bool watch_agent_stream_name(const watch_t *w, const char *agent_id, const json_t *labels,
                                    char *out, size_t outlen)
{
    static const char *const yes[] = {"on", "true", "1", "yes", NULL};
    static const char *const no[] = {"off", "false", "0", "no", NULL};
    const config_t *cfg = &w->hub->cfg;
    const json_t *label = json_object_get(labels, "watch");
    const char *v = json_string_value(label);
    bool on = json_is_true(label) || watch_word_in(v, yes);
    bool off = json_is_false(label) || watch_word_in(v, no);
    bool named = v && *v && !on && !off && watch_name_valid(v);
    const char *mode = cfg->watch_agents;
    if (cfg->watch_agent_streams >= 0)
        mode = cfg->watch_agent_streams == 1   ? "all"
               : cfg->watch_agent_streams == 2 ? "labelled"
                                               : "none";
    bool watched = !strcmp(mode, "all") ? !off : !strcmp(mode, "labelled") && (on || named);
    if (!watched)
        return false;
    if (named)
        snprintf(out, outlen, "%s", v);
    else
        snprintf(out, outlen, "agent.%s", agent_id);
    return watch_name_valid(out);
}

void watch_agent_output(void *ud, const char *agent_id, const json_t *labels, const char *line,
                        size_t len)
{
    watch_t *w = ud;
    char name[WATCH_NAME_MAX + 1];
    if (w->stopping || !watch_agent_stream_name(w, agent_id, labels, name, sizeof name))
        return;
    if (len && line[len - 1] == '\r')
        len--;
    if (len == 0)
        return;
    watch_stream_t *s = watch_stream_find(w, name);
    if (!s) {
        problem_t *p = watch_stream_create(w, name, "agent", NULL, &s);
        if (p) {
            log_warn(NULL, "watch: no stream for agent output", "{s:s,s:s}", "stream", name,
                     "reason", problem_detail(p));
            problem_destroy(&p);
            return;
        }
        watch_stream_persist(w, s);
    }
    if (watch_stream_room(s) == 0 || watch_stream_reserve(s, 1) < 0) {
        w->rejected++;
        log_warn(NULL, "watch: agent output not scored (queue full)", "{s:s}", "stream", name);
        return;
    }
    watch_event_t ev;
    const char *reason = NULL;
    if (watch_event_from_line(s, line, len, clock_wall_ms(), &ev, &reason) == 0)
        watch_stream_push(w, s, &ev);
    watch_stream_kick(w, s);
}

/* ---- life --------------------------------------------------------------------------------- */

typedef struct watch_load {
    json_t *rows;
    char err[256];
} watch_load_t;

static int watch_streams_load(watch_t *w, char *err, size_t errlen)
{
    store_conn_t *c = store_conn_acquire(w->hub->store);
    if (!c) {
        snprintf(err, errlen, "no store connection");
        return -1;
    }
    json_t *rows = NULL;
    int rc = watch_db_streams_load(c, &rows);
    if (rc < 0)
        snprintf(err, errlen, "streams could not be read: %s", store_conn_error(c));
    store_conn_release(w->hub->store, c);
    if (rc < 0)
        return -1;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *name = json_string_value(json_object_get(row, "name"));
        const char *type = json_string_value(json_object_get(row, "type"));
        const char *ov = json_string_value(json_object_get(row, "overrides"));
        json_t *o = ov ? json_loads(ov, 0, NULL) : NULL;
        watch_stream_t *s = NULL;
        problem_t *p = name ? watch_stream_create(w, name, type, o, &s) : NULL;
        if (p) {
            /* Stored settings this binary rejects: keep the stream on the defaults. */
            log_warn(NULL, "watch: stored stream settings not usable; defaults apply", "{s:s,s:s}",
                     "stream", name, "reason", problem_detail(p));
            problem_destroy(&p);
            p = watch_stream_create(w, name, NULL, NULL, &s);
            problem_destroy(&p);
        }
        if (s) {
            s->created_ms = json_integer_value(json_object_get(row, "created_ms"));
            s->updated_ms = json_integer_value(json_object_get(row, "updated_ms"));
            snprintf(s->owner, sizeof s->owner, "%s",
                     json_string_value(json_object_get(row, "owner")) ?: "");
            snprintf(s->team, sizeof s->team, "%s",
                     json_string_value(json_object_get(row, "team")) ?: "");
        }
        json_decref(o);
    }
    json_decref(rows);
    return 0;
}

int watch_start(hub_t *hub)
{
    char err[512];
    watch_t *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    w->hub = hub;
    if (cbad_pool_init(&w->scratch, cbad_pool_threads()) < 0) {
        free(w);
        return -1;
    }
    hub->watch = w;
    if (watch_defaults_from_config(w, &hub->cfg, err, sizeof err) < 0) {
        log_error(NULL, "watch: bad configuration", "{s:s}", "reason", err);
        fprintf(stderr, "ganglion serve: %s\n", err);
        return -1;
    }
    if (watch_sign_key_load(w, hub->cfg.data_dir, err, sizeof err) < 0) {
        log_error(NULL, "watch: signing key unavailable", "{s:s}", "reason", err);
        fprintf(stderr, "ganglion serve: %s\n", err);
        return -1;
    }
    if (watch_streams_load(w, err, sizeof err) < 0) {
        log_error(NULL, "watch: cannot load streams", "{s:s}", "reason", err);
        return -1;
    }
    log_info(NULL, "watch started", "{s:i,s:s}", "streams", (int)w->nstreams, "key_id", w->key_id);
    return 0;
}

void watch_shutdown(hub_t *hub)
{
    watch_t *w = hub->watch;
    if (!w)
        return;
    w->stopping = true;
    uint64_t queued = 0;
    for (size_t i = 0; i < w->nstreams; i++)
        queued += w->streams[i]->q_len + w->streams[i]->carry_n;
    if (queued)
        log_warn(NULL, "watch: stopping with events not yet scored", "{s:I}", "events",
                 (json_int_t)queued);
}

void watch_destroy(hub_t *hub)
{
    watch_t *w = hub->watch;
    if (!w)
        return;
    for (size_t i = 0; i < w->nstreams; i++)
        watch_stream_free(w->streams[i]);
    free(w->streams);
    cbad_pool_destroy(&w->scratch);
    memset(w->sk, 0, sizeof w->sk);
    free(w);
    hub->watch = NULL;
}
