/* The watch endpoints: streams (CRUD and settings), ingest (JSON, arrays, NDJSON, text lines;
 * OTLP/HTTP JSON logs and metrics), anomalies (filtered list, one, the review workflow, signed
 * export), incidents (declared here, handled in watch_incident.c), the signing key, stats, and
 * the per-stream Prometheus series. Database work goes through store_submit; replies come back
 * on the loop. */
#include <stdio.h>
#include <stdlib.h>
#include <assert.h>
#include <string.h>
#include <strings.h>

#include "api/api_owner.h"
#include "core/bus.h"
#include "core/clock.h"
#include "core/hub.h"
#include "core/jsonx.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/strbuf.h"
#include "store/store_problem.h"
#include "watch/watch.h"
#include "watch/watch_internal.h"

static const char *const watch_types[] = {"logs",   "metrics", "traces", "llm",
                                          "events", "agent",   NULL};
/* ---- helpers -------------------------------------------------------------------------------- */

static watch_t *watch_of(api_req_t *req)
{
    /* The endpoints exist only while hub->watch does. */
    return api_req_hub(req)->watch;
}

static void watch_reply_store_error(api_req_t *req, int status, const char *err, const char *what)
{
    log_error(api_req_id(req), "watch: store operation failed", "{s:s,s:i,s:s}", "operation", what,
              "code", status, "error", err && *err ? err : "?");
    api_reply_problem(req, store_problem_new(api_req_hub(req)->store, status, what));
}

static problem_t *watch_unavailable(void)
{
    problem_t *p = problem_new(503, "shutting-down", "the daemon is shutting down");
    problem_header_set(p, "Retry-After", "5");
    return p;
}

static problem_t *watch_queue_full(const char *stream, size_t room, size_t want)
{
    problem_t *p = problem_new(429, "queue-full",
                               "stream %s has room for %zu more events and this request carries "
                               "%zu; nothing was accepted, retry later",
                               stream, room, want);
    problem_header_set(p, "Retry-After", "1");
    problem_ext_set(p, "stream", json_string(stream));
    return p;
}

/* ---- streams --------------------------------------------------------------------------------- */

static void watch_api_streams_list(api_req_t *req, void *ctx)
{
    watch_t *w = watch_of(req);
    json_t *arr = json_array();
    for (size_t i = 0; i < w->nstreams; i++)
        if (api_owner_may_see(req, w->streams[i]->owner, w->streams[i]->team))
            json_array_append_new(arr, watch_stream_json(w->streams[i]));
    api_reply_json(
        req, 200,
        json_pack("{s:o,s:I}", "streams", arr, "total", (json_int_t)json_array_size(arr)));
}

/* The stream of the path when the caller may see it (a GET) or change it (another method);
 * else NULL after a 404 (unknown, or not the caller's to see) or a 403. */
static watch_stream_t *watch_stream_param(api_req_t *req, watch_t *w)
{
    const char *name = api_req_param_str(req, "name");
    watch_stream_t *s = name ? watch_stream_find(w, name) : NULL;
    problem_t *p = s ? api_owner_check(req, "stream", s->name, s->owner, s->team,
                                       strcmp(api_req_method(req), "GET") != 0)
                     : problem_new(404, "not-found", "no stream named %s", name ? name : "(none)");
    if (p) {
        api_reply_problem(req, p);
        return NULL;
    }
    return s;
}

/* A stream just made by the caller: its owner and team. */
static void watch_stream_own(api_req_t *req, watch_stream_t *s, const char *team)
{
    const char *owner = api_owner_of(req);
    snprintf(s->owner, sizeof s->owner, "%s", owner ? owner : "");
    snprintf(s->team, sizeof s->team, "%s", team ? team : "");
}

static void watch_api_stream_get(api_req_t *req, void *ctx)
{
    watch_stream_t *s = watch_stream_param(req, watch_of(req));
    if (s)
        api_reply_json(req, 200, watch_stream_json(s));
}

static void watch_api_stream_scores(api_req_t *req, void *ctx)
{
    (void)ctx;
    watch_stream_t *s = watch_stream_param(req, watch_of(req));
    if (s)
        api_reply_json(req, 200, watch_stream_scores_json(s));
}

typedef struct watch_put_job {
    api_req_t *req;
    watch_t *w;
    char name[WATCH_NAME_MAX + 1];
    char type[16];
    char *overrides;
    int64_t created_ms, updated_ms;
    char owner[96], team[65];
    bool created;
    bool del;
    json_t *reply; /* owned: the ingest reply that waits for the stream's row (else NULL) */
    char err[256];
} watch_put_job_t;

static int watch_put_work(store_conn_t *c, void *ud)
{
    watch_put_job_t *j = ud;
    int rc = j->del ? watch_db_stream_delete(c, j->name)
                    : watch_db_stream_upsert(c, j->name, j->type, j->overrides, j->created_ms,
                                             j->updated_ms, j->owner, j->team);
    if (rc < 0)
        snprintf(j->err, sizeof j->err, "%s", store_conn_error(c));
    return rc;
}

static void watch_put_job_free(watch_put_job_t *j)
{
    json_decref(j->reply);
    free(j->overrides);
    free(j);
}

/* The stream's row as it is now, for an upsert; NULL when out of memory. */
static watch_put_job_t *watch_put_job_new(watch_t *w, const watch_stream_t *s, bool created)
{
    watch_put_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->w = w;
    j->created = created;
    snprintf(j->name, sizeof j->name, "%s", s->name);
    snprintf(j->type, sizeof j->type, "%s", cbad_stream_type_name(s->settings.type));
    j->overrides = json_dumps(s->overrides, JSON_COMPACT | JSON_SORT_KEYS);
    j->created_ms = s->created_ms;
    j->updated_ms = s->updated_ms;
    snprintf(j->owner, sizeof j->owner, "%s", s->owner);
    snprintf(j->team, sizeof j->team, "%s", s->team);
    if (!j->overrides) {
        free(j);
        return NULL;
    }
    return j;
}

static void watch_put_done(int status, void *ud)
{
    watch_put_job_t *j = ud;
    if (status < 0 && j->reply) {
        /* the events are queued already: say so, so that a client does not send them again */
        log_error(api_req_id(j->req), "watch: stream definition not stored", "{s:s,s:i,s:s}",
                  "stream", j->name, "code", status, "error", j->err[0] ? j->err : "?");
        problem_t *p = problem_new(503, "store-error",
                                   "stream %s was created and its events queued for scoring, but "
                                   "its definition could not be stored; it will not survive a "
                                   "restart",
                                   j->name);
        problem_ext_set(p, "accepted", json_incref(json_object_get(j->reply, "accepted")));
        api_reply_problem(j->req, p);
    } else if (j->reply) {
        api_reply_json(j->req, 202, json_incref(j->reply));
    } else if (status < 0) {
        watch_reply_store_error(j->req, status, j->err,
                                j->del ? "deleting the stream" : "storing the stream");
    } else if (j->del) {
        api_reply_empty(j->req, 204);
    } else {
        watch_stream_t *s = watch_stream_find(j->w, j->name);
        api_reply_json(j->req, j->created ? 201 : 200,
                       s ? watch_stream_json(s) : json_pack("{s:s}", "name", j->name));
    }
    watch_put_job_free(j);
}

static void watch_put_submit(api_req_t *req, watch_put_job_t *j)
{
    hub_t *hub = api_req_hub(req);
    j->req = req;
    int rc = store_submit(hub->store, hub->loop, watch_put_work, watch_put_done, j);
    if (rc < 0) {
        bool queued = j->reply != NULL;
        watch_put_job_free(j);
        api_reply_problem(req, problem_new(503, "store-unavailable", "%s could not be queued: %s",
                                           queued ? "the new stream's definition (its events are "
                                                    "queued for scoring)"
                                                  : "the change",
                                           uv_strerror(rc)));
    }
}

static void watch_api_stream_put(api_req_t *req, void *ctx)
{
    watch_t *w = watch_of(req);
    const char *name = api_req_param_str(req, "name");
    json_t *body = api_req_body(req);
    const char *type = json_string_value(json_object_get(body, "type"));
    json_t *settings = json_object_get(body, "settings");
    if (w->stopping) {
        api_reply_problem(req, watch_unavailable());
        return;
    }
    if (!name || !watch_name_valid(name)) {
        problem_t *p = problem_validation_new();
        problem_field_add(p, "path", "name",
                          "1 to %d characters among letters, digits and . _ - :", WATCH_NAME_MAX);
        api_reply_problem(req, p);
        return;
    }
    watch_stream_t *s = watch_stream_find(w, name);
    bool created = false;
    const char *team = json_string_value(json_object_get(body, "team"));
    problem_t *p;
    if (s) {
        p = api_owner_check(req, "stream", s->name, s->owner, s->team, true);
        if (!p)
            p = watch_stream_update(w, s, type, settings);
    } else {
        p = api_owner_team_check(req, team, "/team");
        if (!p)
            p = watch_stream_create(w, name, type, settings, &s);
        created = p == NULL;
        if (created)
            watch_stream_own(req, s, team);
    }
    if (p) {
        api_reply_problem(req, p);
        return;
    }
    watch_put_job_t *j = watch_put_job_new(w, s, created);
    if (!j) {
        api_reply_problem(req, problem_new(503, "out-of-memory", "the change could not be held"));
        return;
    }
    watch_put_submit(req, j);
}

static void watch_api_stream_delete(api_req_t *req, void *ctx)
{
    watch_t *w = watch_of(req);
    watch_stream_t *s = watch_stream_param(req, w);
    if (!s)
        return;
    watch_put_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        api_reply_problem(req, problem_new(503, "out-of-memory", "the change could not be held"));
        return;
    }
    j->w = w;
    j->del = true;
    snprintf(j->name, sizeof j->name, "%s", s->name);
    if (s->q_len)
        log_warn(api_req_id(req), "watch: stream deleted with events not yet scored", "{s:s,s:I}",
                 "stream", s->name, "events", (json_int_t)s->q_len);
    watch_stream_remove(w, s); /* its anomalies stay: they are evidence */
    watch_put_submit(req, j);
}

/* ---- ingest ---------------------------------------------------------------------------------- */

static void watch_count(hub_t *hub, const watch_stream_t *s, const char *name, size_t n)
{
    if (hub->metrics && n)
        metrics_counter_add(hub->metrics, name, s ? s->labels : "stream=\"_other\"", (double)n);
}

static void watch_api_events_post(api_req_t *req, void *ctx)
{
    watch_t *w = watch_of(req);
    hub_t *hub = w->hub;
    if (w->stopping) {
        api_reply_problem(req, watch_unavailable());
        return;
    }
    /* The query's schema (watch_events_query) required `stream` and checked its length and
     * characters before this handler runs. */
    const char *name = api_req_query_str(req, "stream");
    const char *type = api_req_query_str(req, "type");
    assert(name && watch_name_valid(name));
    size_t len = 0;
    const char *ct = NULL;
    const char *body = api_req_raw_body(req, &len, &ct);
    json_t *items = NULL, *rejected = NULL;
    problem_t *p = NULL;
    if (len == 0) {
        p = problem_validation_new();
        problem_field_add(p, "body", "", "no events: send one JSON event, an array, or NDJSON");
        api_reply_problem(req, p);
        return;
    }
    if (watch_body_items(body, len, ct, (size_t)hub->cfg.json_max_depth,
                         (size_t)hub->cfg.watch_max_events, &items, &rejected, &p) < 0) {
        api_reply_problem(req, p);
        return;
    }
    watch_stream_t *s = watch_stream_find(w, name);
    bool created = false;
    /* appending needs only to see the stream: its own, its teams' and unowned streams take
     * anyone's events, another's private stream is not there */
    if (s && (p = api_owner_check(req, "stream", s->name, s->owner, s->team, false))) {
        json_decref(items);
        json_decref(rejected);
        api_reply_problem(req, p);
        return;
    }
    if (!s) {
        p = watch_stream_create(w, name, type ? type : "logs", NULL, &s);
        if (p) {
            json_decref(items);
            json_decref(rejected);
            api_reply_problem(req, p);
            return;
        }
        watch_stream_own(req, s, NULL);
        created = true; /* its row is written with the reply (or when the request fails) */
    }
    size_t n = json_array_size(items);
    watch_event_t *evs = calloc(n ? n : 1, sizeof *evs);
    if (!evs) {
        if (created)
            watch_stream_persist(w, s);
        json_decref(items);
        json_decref(rejected);
        api_reply_problem(req, problem_new(503, "out-of-memory", "the events could not be held"));
        return;
    }
    size_t nev = 0;
    int64_t now = clock_wall_ms();
    /* rejects from line parsing and from conversion, merged in index order */
    json_t *all_rej = json_array();
    size_t i, next_rej = 0; /* parse-time rejects come in index order: walk them alongside */
    json_t *item;
    json_array_foreach(items, i, item)
    {
        json_t *r = json_array_get(rejected, next_rej);
        if (json_is_null(item) && r &&
            (size_t)json_integer_value(json_object_get(r, "index")) == i) {
            json_array_append(all_rej, r);
            next_rej++;
            continue;
        }
        const char *reason = NULL;
        if (watch_event_from_json(s, item, now, &evs[nev], &reason) == 0)
            nev++;
        else
            json_array_append_new(all_rej,
                                  json_pack("{s:I,s:s}", "index", (json_int_t)i, "reason", reason));
    }
    json_decref(items);
    json_decref(rejected);
    size_t nrej = json_array_size(all_rej);
    size_t room = watch_stream_room(s);
    if (nev > room) {
        for (size_t k = 0; k < nev; k++)
            watch_event_clear(&evs[k]);
        free(evs);
        json_decref(all_rej);
        watch_count(hub, s, "ganglion_watch_rejected_total", nev);
        w->rejected += nev;
        if (created)
            watch_stream_persist(w, s);
        api_reply_problem(req, watch_queue_full(s->name, room, nev));
        return;
    }
    if (nev > 0 && watch_stream_reserve(s, nev) < 0) {
        for (size_t k = 0; k < nev; k++)
            watch_event_clear(&evs[k]);
        free(evs);
        json_decref(all_rej);
        if (created)
            watch_stream_persist(w, s);
        api_reply_problem(req, problem_new(503, "out-of-memory", "the events could not be held"));
        return;
    }
    if (nev == 0) {
        free(evs);
        p = problem_new(422, "validation", "no event of the request was accepted; see errors[]");
        size_t k;
        json_t *r;
        json_array_foreach(all_rej, k, r)
        {
            if (k >= 100)
                break; /* the count is in `rejected`; errors[] stays readable */
            char ptr[32];
            snprintf(ptr, sizeof ptr, "/%" JSON_INTEGER_FORMAT,
                     json_integer_value(json_object_get(r, "index")));
            problem_field_add(p, "body", ptr, "%s",
                              json_string_value(json_object_get(r, "reason")));
        }
        problem_ext_set(p, "accepted", json_integer(0));
        problem_ext_set(p, "rejected", all_rej);
        watch_count(hub, s, "ganglion_watch_rejected_total", nrej);
        w->rejected += nrej;
        if (created)
            watch_stream_persist(w, s);
        api_reply_problem(req, p);
        return;
    }
    /* a stream this request created is reported (created: true) only once its row is
     * committed; the events themselves are queued in memory (durable: false, docs/watch.md) */
    watch_put_job_t *j = created ? watch_put_job_new(w, s, true) : NULL;
    if (created && !j) {
        for (size_t k = 0; k < nev; k++)
            watch_event_clear(&evs[k]);
        free(evs);
        json_decref(all_rej);
        watch_stream_remove(w, s);
        api_reply_problem(req, problem_new(503, "out-of-memory", "the events could not be held"));
        return;
    }
    for (size_t k = 0; k < nev; k++)
        watch_stream_push(w, s, &evs[k]);
    free(evs);
    watch_stream_kick(w, s);
    watch_count(hub, s, "ganglion_watch_events_total", nev);
    watch_count(hub, s, "ganglion_watch_rejected_total", nrej);
    w->rejected += nrej;
    json_t *reply = json_pack("{s:s,s:b,s:I,s:o,s:b}", "stream", s->name, "created", created,
                              "accepted", (json_int_t)nev, "rejected", all_rej, "durable", 0);
    if (!j) {
        api_reply_json(req, 202, reply);
        return;
    }
    j->reply = reply;
    watch_put_submit(req, j);
}

/* OTLP: every stream of the request must have room before anything is accepted. */
static void watch_otlp_post(api_req_t *req, watch_otlp_signal_t signal)
{
    static const char *const tops[] = {[WATCH_OTLP_LOGS] = "resourceLogs",
                                       [WATCH_OTLP_METRICS] = "resourceMetrics",
                                       [WATCH_OTLP_TRACES] = "resourceSpans"};
    static const char *const rejected_names[] = {[WATCH_OTLP_LOGS] = "rejectedLogRecords",
                                                 [WATCH_OTLP_METRICS] = "rejectedDataPoints",
                                                 [WATCH_OTLP_TRACES] = "rejectedSpans"};
    watch_t *w = watch_of(req);
    hub_t *hub = api_req_hub(req);
    if (!w || w->stopping) {
        api_reply_problem(req, watch_unavailable());
        return;
    }
    size_t len = 0;
    const char *ct = NULL;
    const char *body = api_req_raw_body(req, &len, &ct);
    problem_t *p = NULL;
    if (!ct) /* an empty body carries no content type through the registry */
        ct = api_req_header(req, "Content-Type");
    bool pb = ct && strncasecmp(ct, "application/x-protobuf", 22) == 0;
    json_t *root = pb ? watch_otlp_pb_decode(body ? body : "", len, signal, &p)
                      : jsonx_parse(body ? body : "", len, (size_t)hub->cfg.json_max_depth, &p);
    if (!root) {
        api_reply_problem(req, p);
        return;
    }
    const char *top = tops[signal];
    if (!json_is_object(root) ||
        !(json_object_get(root, top) == NULL || json_is_array(json_object_get(root, top)))) {
        json_decref(root);
        p = problem_new(400, "validation", "not an OTLP export request");
        char ptr[32];
        snprintf(ptr, sizeof ptr, "/%s", top);
        problem_field_add(p, "body", ptr, "must be an array");
        api_reply_problem(req, p);
        return;
    }
    json_t *batches = NULL;
    size_t rejected = 0;
    char why[256];
    int64_t now = clock_wall_ms();
    bool redact = w->defaults.redact;
    if (signal == WATCH_OTLP_METRICS)
        watch_otlp_metrics(root, now, redact, &batches, &rejected, why, sizeof why);
    else if (signal == WATCH_OTLP_TRACES)
        watch_otlp_traces(root, now, redact, &batches, &rejected, why, sizeof why);
    else
        watch_otlp_logs(root, now, redact, &batches, &rejected, why, sizeof why);
    json_decref(root);

    /* Streams first (created as needed), then room in every one, then accept. */
    size_t total = 0;
    const char *name;
    json_t *b;
    json_object_foreach(batches, name, b)
    {
        total += json_array_size(json_object_get(b, "events"));
    }
    if (total > (size_t)hub->cfg.watch_max_events) {
        json_decref(batches);
        p = problem_new(413, "too-many-events",
                        "a request may carry at most %lld records (watch.max_events)",
                        (long long)hub->cfg.watch_max_events);
        api_reply_problem(req, p);
        return;
    }
    void *tmp;
    json_object_foreach_safe(batches, tmp, name, b)
    {
        watch_stream_t *s = watch_stream_find(w, name);
        if (s && !api_owner_may_see(req, s->owner, s->team)) {
            /* another's private stream: its events are refused as for a stream that cannot be
             * made */
            rejected += json_array_size(json_object_get(b, "events"));
            snprintf(why, sizeof why, "no stream named %s", s->name);
            json_object_del(batches, name);
            continue;
        }
        if (!s) {
            p = watch_stream_create(w, name, json_string_value(json_object_get(b, "type")), NULL,
                                    &s);
            if (p) {
                rejected += json_array_size(json_object_get(b, "events"));
                snprintf(why, sizeof why, "%s", problem_detail(p));
                problem_destroy(&p);
                json_object_del(batches, name);
                continue;
            }
            watch_stream_own(req, s, NULL);
            watch_stream_persist(w, s);
        }
        size_t want = json_array_size(json_object_get(b, "events"));
        if (want > watch_stream_room(s)) {
            p = watch_queue_full(s->name, watch_stream_room(s), want);
            json_decref(batches);
            api_reply_problem(req, p);
            return;
        }
        if (watch_stream_reserve(s, want) < 0) {
            json_decref(batches);
            api_reply_problem(req,
                              problem_new(503, "out-of-memory", "the events could not be held"));
            return;
        }
    }
    json_object_foreach(batches, name, b)
    {
        watch_stream_t *s = watch_stream_find(w, name);
        size_t i, nev = 0;
        json_t *e;
        json_array_foreach(json_object_get(b, "events"), i, e)
        {
            watch_event_t ev;
            const char *reason = NULL;
            if (watch_event_from_json(s, json_object_get(e, "event"), now, &ev, &reason) < 0) {
                rejected++;
                snprintf(why, sizeof why, "%s", reason);
                continue;
            }
            json_t *meta = json_object_get(e, "meta");
            ev.meta = json_is_object(meta) ? json_incref(meta) : NULL;
            if (json_integer_value(json_object_get(e, "ts")) > 0)
                ev.ts_ms = json_integer_value(json_object_get(e, "ts"));
            watch_stream_push(w, s, &ev);
            nev++;
        }
        watch_count(hub, s, "ganglion_watch_events_total", nev);
        watch_stream_kick(w, s);
    }
    json_decref(batches);
    w->rejected += rejected;
    if (pb) {
        /* Export*ServiceResponse { partial_success = 1 { rejected = 1; error_message = 2 } } */
        unsigned char *buf = malloc(sizeof why + 32);
        size_t n = 0;
        if (buf && rejected) {
            size_t wl = strlen(why);
            unsigned char inner[sizeof why + 24];
            size_t k = 0;
            inner[k++] = 0x08;
            for (uint64_t v = rejected;; v >>= 7) {
                inner[k++] = (unsigned char)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
                if (v < 0x80)
                    break;
            }
            inner[k++] = 0x12;
            for (size_t v = wl;; v >>= 7) {
                inner[k++] = (unsigned char)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
                if (v < 0x80)
                    break;
            }
            memcpy(inner + k, why, wl);
            k += wl;
            buf[n++] = 0x0a;
            for (size_t v = k;; v >>= 7) {
                buf[n++] = (unsigned char)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
                if (v < 0x80)
                    break;
            }
            memcpy(buf + n, inner, k);
            n += k;
        }
        if (!buf) {
            api_reply_problem(req, problem_new(503, "out-of-memory", "no room for the reply"));
            return;
        }
        api_reply_raw(req, 200, "application/x-protobuf", (char *)buf, n);
        return;
    }
    json_t *reply = json_object();
    if (rejected) {
        json_object_set_new(reply, "partialSuccess",
                            json_pack("{s:I,s:s}", rejected_names[signal], (json_int_t)rejected,
                                      "errorMessage", why));
    }
    api_reply_json(req, 200, reply);
}

static void watch_api_otlp_logs_post(api_req_t *req, void *ctx)
{
    watch_otlp_post(req, WATCH_OTLP_LOGS);
}

static void watch_api_otlp_metrics_post(api_req_t *req, void *ctx)
{
    watch_otlp_post(req, WATCH_OTLP_METRICS);
}

static void watch_api_otlp_traces_post(api_req_t *req, void *ctx)
{
    watch_otlp_post(req, WATCH_OTLP_TRACES);
}

/* ---- anomalies: store jobs ------------------------------------------------------------------ */

enum { WQ_LIST, WQ_GET, WQ_PATCH, WQ_EXPORT, WQ_STATS };

typedef struct watch_q {
    api_req_t *req;
    watch_t *w;
    int kind;
    char id[64];
    char principal[256];
    watch_filter_t f;
    char fs_type[16], fs_status[16], fs_stream[WATCH_NAME_MAX + 1], fs_incident[64];
    json_t *patch; /* owned copy of the PATCH body */
    json_t *out;
    watch_access_t acc; /* the streams the caller may see and change */
    int outcome;        /* 0 ok, 403, 404, 409 */
    char from[32];
    char err[256];
} watch_q_t;

/* One anomaly's review, and its incident's status after it, in the caller's transaction. */
static int watch_patch_run(store_conn_t *c, watch_q_t *q)
{
    json_t *was = NULL;
    int rc = q->acc.see ? watch_db_anomaly_get(c, q->id, &was) : 0;
    if (rc < 0)
        return rc;
    if (q->acc.see) {
        q->outcome = watch_access_decide(
            &q->acc, was ? json_string_value(json_object_get(was, "stream")) : NULL, true);
        json_decref(was);
        if (q->outcome)
            return 0;
    }
    watch_review_t rv;
    rc = watch_review_apply(c, q->id, q->patch, q->principal, &rv);
    if (rc < 0)
        return rc;
    snprintf(q->from, sizeof q->from, "%s", rv.from);
    if (rv.outcome == WATCH_REVIEW_NOT_FOUND || rv.outcome == WATCH_REVIEW_REFUSED) {
        q->outcome = rv.outcome == WATCH_REVIEW_NOT_FOUND ? 404 : 409;
        return 0;
    }
    q->out = rv.out;
    const char *inc = json_string_value(json_object_get(rv.out, "incident_id"));
    return inc ? watch_db_incident_refresh(c, inc) : 0;
}

static int watch_q_work(store_conn_t *c, void *ud)
{
    watch_q_t *q = ud;
    int rc = 0;
    switch (q->kind) {
    case WQ_LIST:
        rc = watch_db_anomaly_list(c, &q->f, &q->out);
        break;
    case WQ_GET:
    case WQ_EXPORT:
        rc = watch_db_anomaly_get(c, q->id, &q->out);
        if (rc == 0 && !q->out)
            q->outcome = 404;
        else if (rc == 0 &&
                 watch_access_decide(&q->acc, json_string_value(json_object_get(q->out, "stream")),
                                     false) != 0)
            q->outcome = 404; /* not seen: as if it were not there */
        break;
    case WQ_PATCH:
        rc = store_tx_begin(c);
        if (rc == 0)
            rc = watch_patch_run(c, q);
        if (rc == 0 && q->outcome == 0)
            rc = store_tx_commit(c);
        else
            store_tx_rollback(c);
        break;
    case WQ_STATS:
        rc = watch_db_status_counts(c, q->acc.see, &q->out);
        break;
    }
    if (rc < 0)
        snprintf(q->err, sizeof q->err, "%s", store_conn_error(c));
    return rc;
}

/* The daemon-wide counters, and per stream those of the streams the caller may see (by_status:
 * of their anomalies only, counted so by the query). */
static json_t *watch_stats_json(watch_t *w, const api_req_t *req, json_t *by_status)
{
    json_t *streams = json_array();
    size_t depth = 0;
    for (size_t i = 0; i < w->nstreams; i++) {
        watch_stream_t *s = w->streams[i];
        depth += s->q_len;
        if (!api_owner_may_see(req, s->owner, s->team))
            continue;
        json_array_append_new(
            streams, json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:b}", "name", s->name, "type",
                               cbad_stream_type_name(s->settings.type), "events_in",
                               (json_int_t)s->events_in, "events_scored",
                               (json_int_t)s->events_scored, "windows_scored",
                               (json_int_t)s->windows_scored, "anomalies", (json_int_t)s->anomalies,
                               "queue_depth", (json_int_t)s->q_len, "scoring_seconds",
                               s->score_seconds, "last_score", s->last_score, "scoring", s->busy));
    }
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:o,s:o}", "streams_total",
                     (json_int_t)json_array_size(streams), "events_in", (json_int_t)w->events_in,
                     "events_rejected", (json_int_t)w->rejected, "windows_scored",
                     (json_int_t)w->windows_scored, "anomalies_detected", (json_int_t)w->anomalies,
                     "queue_depth", (json_int_t)depth, "jobs_running", w->jobs_running,
                     "anomalies_by_status", by_status ? by_status : json_object(), "streams",
                     streams);
}

static void watch_q_done(int status, void *ud)
{
    watch_q_t *q = ud;
    api_req_t *req = q->req;
    hub_t *hub = q->w->hub;
    if (status < 0) {
        watch_reply_store_error(req, status, q->err, "the anomaly query");
    } else if (q->outcome == 404) {
        api_reply_problem(req, problem_new(404, "not-found", "no anomaly with id %s", q->id));
    } else if (q->outcome == 403) {
        api_reply_problem(req, problem_new(403, "forbidden",
                                           "anomaly %s belongs to a stream %s may see but not "
                                           "change (only its owner, its team and admins may)",
                                           q->id, q->principal));
    } else if (q->outcome == 409) {
        const char *to = json_string_value(json_object_get(q->patch, "status"));
        json_t *allowed = watch_transitions_from(q->from);
        char list[128] = "";
        size_t i;
        json_t *x;
        json_array_foreach(allowed, i, x)
        {
            size_t l = strlen(list);
            snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "", json_string_value(x));
        }
        problem_t *p = problem_new(409, "invalid-transition",
                                   "an anomaly cannot move from %s to %s; from %s it can move to: "
                                   "%s",
                                   q->from, to ? to : "?", q->from, list[0] ? list : "(nothing)");
        problem_ext_set(p, "from", json_string(q->from));
        problem_ext_set(p, "to", json_string(to ? to : ""));
        problem_ext_set(p, "allowed", allowed);
        api_reply_problem(req, p);
    } else {
        switch (q->kind) {
        case WQ_PATCH:
            bus_publish(hub->bus, "anomaly.updated", json_incref(q->out));
            api_reply_json(req, 200, q->out);
            q->out = NULL;
            break;
        case WQ_EXPORT: {
            json_t *b = watch_bundle_make(q->w, q->out, q->principal, clock_wall_ms());
            if (!b) {
                api_reply_problem(
                    req, problem_new(503, "out-of-memory", "the bundle could not be built"));
                break;
            }
            char cd[128];
            snprintf(cd, sizeof cd, "attachment; filename=\"anomaly-%s.json\"", q->id);
            api_reply_header(req, "Content-Disposition", cd);
            api_reply_json(req, 200, b);
            break;
        }
        case WQ_STATS:
            api_reply_json(req, 200, watch_stats_json(q->w, req, q->out));
            q->out = NULL;
            break;
        default:
            api_reply_json(req, 200, q->out);
            q->out = NULL;
        }
    }
    json_decref(q->out);
    json_decref(q->patch);
    watch_access_free(&q->acc);
    free(q);
}

static watch_q_t *watch_q_new(api_req_t *req, watch_t *w, int kind)
{
    watch_q_t *q = calloc(1, sizeof *q);
    if (!q) {
        api_reply_problem(req, problem_new(503, "out-of-memory", "the query could not be held"));
        return NULL;
    }
    q->req = req;
    q->w = w;
    q->kind = kind;
    if (watch_access_init(w, req, &q->acc) < 0) {
        free(q);
        api_reply_problem(req, problem_new(503, "out-of-memory", "the query could not be held"));
        return NULL;
    }
    snprintf(q->principal, sizeof q->principal, "%s", api_req_principal(req));
    const char *id = api_req_param_str(req, "id");
    if (id)
        snprintf(q->id, sizeof q->id, "%s", id);
    return q;
}

static void watch_q_submit(watch_q_t *q)
{
    hub_t *hub = q->w->hub;
    int rc = store_submit(hub->store, hub->loop, watch_q_work, watch_q_done, q);
    if (rc < 0) {
        api_req_t *req = q->req;
        json_decref(q->patch);
        watch_access_free(&q->acc);
        free(q);
        api_reply_problem(req, problem_new(503, "store-unavailable",
                                           "the query could not be queued: %s", uv_strerror(rc)));
    }
}

/* ---- anomalies: handlers -------------------------------------------------------------------- */

static void watch_api_anomalies_list(api_req_t *req, void *ctx)
{
    watch_t *w = watch_of(req);
    problem_t *p = NULL;
    watch_filter_t f = {0};
    f.has_start = api_req_query_time(req, "start_time", &f.start_ms, &p);
    f.has_end = api_req_query_time(req, "end_time", &f.end_ms, &p);
    f.has_created_since = api_req_query_time(req, "created_since", &f.created_since_ms, &p);
    if (!p && f.has_start && f.has_end && f.end_ms <= f.start_ms) {
        p = problem_validation_new();
        problem_field_add(p, "query", "end_time", "must be later than start_time");
    }
    if (p) {
        api_reply_problem(req, p);
        return;
    }
    watch_q_t *q = watch_q_new(req, w, WQ_LIST);
    if (!q)
        return;
    json_t *qo = api_req_query(req);
    json_t *v;
    if ((v = json_object_get(qo, "min_ncd_score")) && json_is_number(v)) {
        f.has_min_ncd = true;
        f.min_ncd = json_number_value(v);
    }
    if ((v = json_object_get(qo, "max_p_value")) && json_is_number(v)) {
        f.has_max_p = true;
        f.max_p = json_number_value(v);
    }
    f.only_significant = api_req_query_bool(req, "only_significant", false);
    f.limit = (int)api_req_query_int(req, "limit", WATCH_LIMIT_DEFAULT);
    f.offset = api_req_query_int(req, "offset", 0);
    const char *t = api_req_query_str(req, "stream_type");
    const char *st = api_req_query_str(req, "status");
    const char *stream = api_req_query_str(req, "stream"); /* checked by watch_list_query */
    assert(!stream || watch_name_valid(stream));
    if (t) {
        snprintf(q->fs_type, sizeof q->fs_type, "%s", t);
        f.stream_type = q->fs_type;
    }
    if (st) {
        snprintf(q->fs_status, sizeof q->fs_status, "%s", st);
        f.status = q->fs_status;
    }
    if (stream) {
        snprintf(q->fs_stream, sizeof q->fs_stream, "%s", stream);
        f.stream = q->fs_stream;
    }
    const char *inc = api_req_query_str(req, "incident_id");
    if (inc) {
        snprintf(q->fs_incident, sizeof q->fs_incident, "%s", inc);
        f.incident = q->fs_incident;
    }
    f.min_severity = watch_severity_rank(api_req_query_str(req, "severity"));
    f.streams = q->acc.see;
    q->f = f;
    watch_q_submit(q);
}

static void watch_api_anomaly_get(api_req_t *req, void *ctx)
{
    watch_q_t *q = watch_q_new(req, watch_of(req), WQ_GET);
    if (q)
        watch_q_submit(q);
}

static void watch_api_anomaly_export(api_req_t *req, void *ctx)
{
    watch_q_t *q = watch_q_new(req, watch_of(req), WQ_EXPORT);
    if (q)
        watch_q_submit(q);
}

static void watch_api_anomaly_patch(api_req_t *req, void *ctx)
{
    json_t *body = api_req_body(req);
    if (!json_object_get(body, "status") && !json_object_get(body, "notes") &&
        !json_object_get(body, "tags") && !json_object_get(body, "add_tags")) {
        problem_t *p = problem_new(422, "validation", "nothing to change; see errors[]");
        problem_field_add(p, "body", "", "give at least one of status, notes, tags, add_tags");
        api_reply_problem(req, p);
        return;
    }
    watch_q_t *q = watch_q_new(req, watch_of(req), WQ_PATCH);
    if (!q)
        return;
    q->patch = json_deep_copy(body);
    watch_q_submit(q);
}

static void watch_api_stats(api_req_t *req, void *ctx)
{
    watch_q_t *q = watch_q_new(req, watch_of(req), WQ_STATS);
    if (q)
        watch_q_submit(q);
}

static void watch_api_signing_key(api_req_t *req, void *ctx)
{
    watch_t *w = watch_of(req);
    api_reply_json(req, 200, watch_public_key_json(w->pk));
}

/* ---- metrics ------------------------------------------------------------------------------- */

/* Gauges and scoring-time counters read from live state at render time; the labelled series
 * are the streams given a metric slot, the rest add up under stream="_other". */
static void watch_metrics_family(strbuf_t *out, watch_t *w, const char *name, const char *type,
                                 const char *help, int what)
{
    strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    double other = 0;
    bool any_other = false;
    for (size_t i = 0; i < w->nstreams; i++) {
        watch_stream_t *s = w->streams[i];
        double v = what == 0 ? (double)s->q_len : what == 1 ? s->score_seconds : (double)s->jobs;
        if (s->metric_slot < 0) {
            other += v;
            any_other = true;
            continue;
        }
        strbuf_printf(out, "%s{%s} %.9g\n", name, s->labels, v);
    }
    if (any_other)
        strbuf_printf(out, "%s{stream=\"_other\"} %.9g\n", name, other);
}

void watch_metrics_collect(strbuf_t *out, void *ud)
{
    watch_t *w = ud;
    watch_metrics_family(out, w, "ganglion_watch_queue_depth", "gauge",
                         "events accepted and not yet scored, by stream", 0);
    watch_metrics_family(out, w, "ganglion_watch_scoring_seconds_total", "counter",
                         "time spent scoring (thread pool), by stream", 1);
    watch_metrics_family(out, w, "ganglion_watch_scoring_jobs_total", "counter",
                         "scoring jobs run (each takes many events), by stream", 2);
    strbuf_printf(out,
                  "# HELP ganglion_watch_streams streams defined\n# TYPE ganglion_watch_streams "
                  "gauge\nganglion_watch_streams %zu\n",
                  w->nstreams);
    strbuf_printf(out,
                  "# HELP ganglion_watch_scratch_contexts scoring scratch contexts in memory "
                  "(about 1 MB each once warm; at most one idle per thread-pool thread)\n"
                  "# TYPE ganglion_watch_scratch_contexts gauge\n"
                  "ganglion_watch_scratch_contexts %zu\n",
                  cbad_pool_live(&w->scratch));
}

/* ---- declarations ---------------------------------------------------------------------------- */

static const api_field_t watch_name_param[] = {
    {.name = "name",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = WATCH_NAME_MAX,
     .description = "stream name: letters, digits and . _ - :"},
    {.name = NULL},
};

static const api_field_t watch_id_param[] = {
    {.name = "id",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 63,
     .description = "anomaly id"},
    {.name = NULL},
};

static const char *const watch_compressors[] = {"zstd", NULL};

static const char *const watch_detectors[] = {"auto", "numeric", "text", NULL};

static const api_field_t watch_settings_fields[] = {
    {.name = "detector",
     .type = API_T_STRING,
     .enums = watch_detectors,
     .description = "auto (numeric for metrics streams, text otherwise), numeric or text"},
    {.name = "baseline",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 2,
     .max = CBAD_BASELINE_MAX,
     .description = "events in the baseline"},
    {.name = "window",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = CBAD_WINDOW_MAX,
     .description = "events in a scored window"},
    {.name = "hop",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = CBAD_WINDOW_MAX,
     .description = "events between two scored windows (<= window)"},
    {.name = "compressor",
     .type = API_T_STRING,
     .enums = watch_compressors,
     .description = "compressor (zstd)"},
    {.name = "level",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 19,
     .description = "zstd level"},
    {.name = "ncd_threshold",
     .type = API_T_NUMBER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = 1,
     .description = "novelty (NCD above the stream's usual level) an anomaly must exceed"},
    {.name = "flood_threshold",
     .type = API_T_NUMBER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = 1,
     .description = "repetition a window must exceed to be tested as a flood"},
    {.name = "p_threshold",
     .type = API_T_NUMBER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = 1,
     .description = "p-value an anomaly must stay under"},
    {.name = "permutations",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = CBAD_PERMUTATIONS_MAX,
     .description = "permutations of the significance test"},
    {.name = "seed",
     .type = API_T_INTEGER,
     .flags = API_F_MIN,
     .min = 0,
     .description = "permutation generator seed"},
    {.name = "canonicalise",
     .type = API_T_BOOLEAN,
     .description = "replace volatile values by placeholders before scoring"},
    {.name = "redact", .type = API_T_BOOLEAN, .description = "blank secret-like fields"},
    {.name = "symbols",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 2,
     .max = 64,
     .description = "metrics: alphabet size of the quantile encoding"},
    {.name = "rare_template",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = 1000000,
     .description = "text: an anomaly's window must hold a line of a template new to the "
                    "baseline and window before it, or more lines of a template seen fewer than "
                    "this many times there than the baseline usually holds; a window overlapping "
                    "the last anomaly also a line after it of a template new to the stream (0: "
                    "off)"},
    {.name = "rare_history",
     .type = API_T_BOOLEAN,
     .description = "text: rare_template counts over the stream's whole history"},
    {.name = NULL},
};

static const api_field_t watch_stream_body[] = {
    {.name = "type",
     .type = API_T_STRING,
     .enums = watch_types,
     .description = "logs, metrics, traces, llm, events or agent (default logs)"},
    {.name = "settings",
     .type = API_T_OBJECT,
     .props = watch_settings_fields,
     .description = "overrides of the [watch] defaults; absent keys follow the defaults"},
    API_OWNER_TEAM_FIELD,
    {.name = NULL},
};

static const api_field_t watch_events_query[] = {
    {.name = "stream",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = WATCH_NAME_MAX,
     .chars = WATCH_NAME_CHARS,
     .description = "the stream; created with the defaults when unknown"},
    {.name = "type",
     .type = API_T_STRING,
     .enums = watch_types,
     .description = "type of a stream created by this request (default logs)"},
    {.name = NULL},
};

static const char *const watch_severities[] = {"medium", "high", "critical", NULL};

static const api_field_t watch_list_query[] = {
    {.name = "stream_type", .type = API_T_STRING, .enums = watch_types},
    {.name = "status", .type = API_T_STRING, .enums = watch_statuses},
    {.name = "stream",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = WATCH_NAME_MAX,
     .chars = WATCH_NAME_CHARS},
    {.name = "severity",
     .type = API_T_STRING,
     .enums = watch_severities,
     .description = "at least this severity (medium < high < critical)"},
    {.name = "incident_id",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 63,
     .description = "the anomalies of one incident"},
    {.name = "created_since",
     .type = API_T_STRING,
     .flags = API_F_MAX,
     .max = 64,
     .description = "RFC 3339; anomalies stored at or after it (what `watch anomalies -f` polls)"},
    {.name = "min_ncd_score",
     .type = API_T_NUMBER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = 1},
    {.name = "max_p_value",
     .type = API_T_NUMBER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = 1},
    {.name = "start_time",
     .type = API_T_STRING,
     .flags = API_F_MAX,
     .max = 64,
     .description = "RFC 3339; anomalies at or after it"},
    {.name = "end_time",
     .type = API_T_STRING,
     .flags = API_F_MAX,
     .max = 64,
     .description = "RFC 3339; anomalies before it"},
    {.name = "only_significant", .type = API_T_BOOLEAN, .def = "false"},
    {.name = "limit",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = WATCH_LIMIT_MAX,
     .def = "50"},
    {.name = "offset",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = 1000000000,
     .def = "0"},
    {.name = NULL},
};

static const api_field_t watch_tag_item = {
    .type = API_T_STRING, .flags = API_F_MIN | API_F_MAX, .min = 1, .max = WATCH_TAG_LEN};

#define WATCH_STATUS_MOVES                                                                         \
    "pending → investigating | acknowledged | resolved | dismissed; investigating → "          \
    "acknowledged | resolved | dismissed; acknowledged → investigating | resolved | dismissed; " \
    "resolved | dismissed → investigating"

static const api_field_t watch_patch_body[] = {
    {.name = "status",
     .type = API_T_STRING,
     .enums = watch_statuses,
     .description = WATCH_STATUS_MOVES},
    {.name = "notes", .type = API_T_STRING, .flags = API_F_MAX, .max = WATCH_NOTES_MAX},
    {.name = "tags",
     .type = API_T_ARRAY,
     .flags = API_F_MAX,
     .max = WATCH_TAGS_MAX,
     .items = &watch_tag_item,
     .description = "replaces the tags"},
    {.name = "add_tags",
     .type = API_T_ARRAY,
     .flags = API_F_MAX,
     .max = WATCH_TAGS_MAX,
     .items = &watch_tag_item,
     .description = "adds these tags to the ones there"},
    {.name = NULL},
};

static const api_field_t watch_incident_param[] = {
    {.name = "id",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 63,
     .description = "incident id (inc-...)"},
    {.name = NULL},
};

static const api_field_t watch_incidents_query[] = {
    {.name = "stream",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = WATCH_NAME_MAX,
     .chars = WATCH_NAME_CHARS},
    {.name = "status",
     .type = API_T_STRING,
     .enums = watch_statuses,
     .description = "the incident's status: its most urgent anomaly's"},
    {.name = "severity",
     .type = API_T_STRING,
     .enums = watch_severities,
     .description = "at least this highest severity (medium < high < critical)"},
    {.name = "limit",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = WATCH_LIMIT_MAX,
     .def = "50"},
    {.name = "offset",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = 1000000000,
     .def = "0"},
    {.name = NULL},
};

static const api_field_t watch_incident_get_query[] = {
    {.name = "limit",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = WATCH_LIMIT_MAX,
     .def = "50",
     .description = "anomalies of the incident in the reply (newest first)"},
    {.name = "offset",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = 1000000000,
     .def = "0"},
    {.name = NULL},
};

static const api_field_t watch_incident_patch_body[] = {
    {.name = "status",
     .type = API_T_STRING,
     .enums = watch_statuses,
     .description = "moves every anomaly of the incident that can make the move"},
    {.name = "notes",
     .type = API_T_STRING,
     .flags = API_F_MAX,
     .max = WATCH_NOTES_MAX,
     .description = "the incident's own notes"},
    {.name = "add_tags",
     .type = API_T_ARRAY,
     .flags = API_F_MAX,
     .max = WATCH_TAGS_MAX,
     .items = &watch_tag_item,
     .description = "added to every anomaly of the incident"},
    {.name = NULL},
};

static const char *const watch_ingest_types[] = {"application/json", "application/x-ndjson",
                                                 "application/jsonl", "text/plain", NULL};
static const char *const watch_otlp_types[] = {"application/json", "application/x-protobuf", NULL};

#define WATCH_EP(...)                                                                              \
    {                                                                                              \
        .tag = "watch", __VA_ARGS__                                                                \
    }

static const api_endpoint_t watch_endpoints[] = {
    WATCH_EP(.method = "GET", .path = "/api/v1/watch/streams", .scope = "watch:read",
             .summary = "List streams with their effective settings and counters",
             .response = "{streams:[...], total}", .handler = watch_api_streams_list),
    WATCH_EP(.method = "GET", .path = "/api/v1/watch/streams/{name}", .scope = "watch:read",
             .summary = "One stream", .params = watch_name_param,
             .response = "{name, type, settings, overrides, created_at, updated_at, stats}",
             .handler = watch_api_stream_get),
    WATCH_EP(.method = "GET", .path = "/api/v1/watch/streams/{name}/scores", .scope = "watch:read",
             .summary = "A numeric stream's last 256 point scores in [0,1]",
             .params = watch_name_param,
             .response = "{stream, detector, points_scored, points:[{index, value, score}]}",
             .handler = watch_api_stream_scores),
    WATCH_EP(.method = "PUT", .path = "/api/v1/watch/streams/{name}", .scope = "watch:write",
             .summary = "Create or update a stream (type, settings overrides)",
             .params = watch_name_param, .body_kind = API_BODY_JSON, .body = watch_stream_body,
             .response = "the stream (201 when created)", .handler = watch_api_stream_put),
    WATCH_EP(.method = "DELETE", .path = "/api/v1/watch/streams/{name}", .scope = "watch:write",
             .summary = "Delete a stream (its anomalies stay)", .params = watch_name_param,
             .status = 204, .handler = watch_api_stream_delete),
    WATCH_EP(.method = "POST", .path = "/api/v1/watch/events", .scope = "watch:write",
             .summary = "Ingest events: one JSON event, a JSON array, NDJSON or text lines",
             .query = watch_events_query, .body_kind = API_BODY_RAW,
             .content_types = watch_ingest_types, .status = 202, .no_audit = true,
             .response = "{stream, created, accepted, rejected:[{index, reason}], durable:false}. "
                         "202 means queued in memory for scoring, not durable: a crash loses "
                         "events not yet scored (at most watch.queue_events per stream); a "
                         "stream the request created (created:true) is committed, and so is "
                         "every anomaly once reported",
             .handler = watch_api_events_post),
    WATCH_EP(.method = "POST", .path = "/v1/logs", .scope = "watch:write",
             .summary = "OTLP/HTTP logs export (JSON encoding)", .body_kind = API_BODY_RAW,
             .content_types = watch_otlp_types, .no_audit = true,
             .response =
                 "{} or {partialSuccess:{rejectedLogRecords, errorMessage}}. "
                 "200 means queued in memory for scoring, not durable (as /api/v1/watch/events)",
             .handler = watch_api_otlp_logs_post),
    WATCH_EP(.method = "POST", .path = "/v1/metrics", .scope = "watch:write",
             .summary = "OTLP/HTTP metrics export (JSON encoding)", .body_kind = API_BODY_RAW,
             .content_types = watch_otlp_types, .no_audit = true,
             .response =
                 "{} or {partialSuccess:{rejectedDataPoints, errorMessage}}. "
                 "200 means queued in memory for scoring, not durable (as /api/v1/watch/events)",
             .handler = watch_api_otlp_metrics_post),
    WATCH_EP(.method = "POST", .path = "/v1/traces", .scope = "watch:write",
             .summary = "OTLP/HTTP traces export (JSON or protobuf): one event per span",
             .body_kind = API_BODY_RAW, .content_types = watch_otlp_types, .no_audit = true,
             .response =
                 "{} or {partialSuccess:{rejectedSpans, errorMessage}}. "
                 "200 means queued in memory for scoring, not durable (as /api/v1/watch/events)",
             .handler = watch_api_otlp_traces_post),
    WATCH_EP(.method = "GET", .path = "/api/v1/watch/anomalies", .scope = "watch:read",
             .summary = "List anomalies, newest first, with filters", .query = watch_list_query,
             .response = "{anomalies, total, limit, offset, has_more}",
             .handler = watch_api_anomalies_list),
    WATCH_EP(.method = "GET", .path = "/api/v1/watch/anomalies/{id}", .scope = "watch:read",
             .summary = "One anomaly with all its evidence", .params = watch_id_param,
             .handler = watch_api_anomaly_get),
    WATCH_EP(.method = "PATCH", .path = "/api/v1/watch/anomalies/{id}", .scope = "watch:write",
             .summary = "Review an anomaly: status (defined moves), notes, tags",
             .params = watch_id_param, .body_kind = API_BODY_JSON, .body = watch_patch_body,
             .handler = watch_api_anomaly_patch),
    WATCH_EP(.method = "GET", .path = "/api/v1/watch/anomalies/{id}/export", .scope = "watch:read",
             .summary = "Evidence bundle signed with the daemon's Ed25519 key",
             .params = watch_id_param,
             .response = "{format, anomaly, exported_at, exported_by, signature}",
             .handler = watch_api_anomaly_export),
    WATCH_EP(.method = "GET", .path = "/api/v1/watch/incidents", .scope = "watch:read",
             .summary = "List incidents (one burst on one stream each), newest first",
             .query = watch_incidents_query,
             .response = "{incidents:[{id, stream, stream_type, first_at, last_at, anomalies, "
                         "severity, status, notes, ...}], total, limit, offset, has_more}",
             .handler = watch_api_incidents_list),
    WATCH_EP(.method = "GET", .path = "/api/v1/watch/incidents/{id}", .scope = "watch:read",
             .summary = "One incident with its anomalies (newest first, paginated)",
             .params = watch_incident_param, .query = watch_incident_get_query,
             .response = "the incident with members:[anomaly...] and has_more",
             .handler = watch_api_incident_get),
    WATCH_EP(.method = "PATCH", .path = "/api/v1/watch/incidents/{id}", .scope = "watch:write",
             .summary = "Review an incident: the status move applies to each of its anomalies "
                        "that can make it; notes are the incident's",
             .params = watch_incident_param, .body_kind = API_BODY_JSON,
             .body = watch_incident_patch_body,
             .response = "the incident with review:{moved, unchanged, refused_total, refused}; "
                         "409 when none of its anomalies can make the move",
             .handler = watch_api_incident_patch),
    WATCH_EP(.method = "GET", .path = "/api/v1/watch/signing-key", .scope = "watch:read",
             .summary = "The public key that verifies evidence bundles",
             .response = "{algorithm, key_id, public_key, canonicalization}",
             .handler = watch_api_signing_key),
    WATCH_EP(.method = "GET", .path = "/api/v1/watch/stats", .scope = "watch:read",
             .summary = "Counters per stream and anomalies by status", .handler = watch_api_stats),
};

/* The event streams' filter for anomaly.* and incident.*: they name their stream, and reach
 * whom may see it. */
static bool watch_api_event_sees(const api_viewer_t *v, const char *topic, const char *data,
                                 size_t len, void *ud)
{
    (void)topic;
    char name[WATCH_NAME_MAX + 1];
    watch_stream_t *s = api_event_str(data, len, "stream", name, sizeof name) == 0
                            ? watch_stream_find(ud, name)
                            : NULL;
    return s && api_viewer_may_see(v, s->owner, s->team);
}

static size_t watch_api_refs(const char *owner, const char *team, void *ud)
{
    watch_t *w = ud;
    size_t n = 0;
    for (size_t i = 0; i < w->nstreams; i++) {
        const watch_stream_t *s = w->streams[i];
        n += (owner && strcmp(owner, s->owner) == 0) || (team && strcmp(team, s->team) == 0);
    }
    return n;
}

int watch_api_register(hub_t *hub)
{
    /* handlers reach the state through the request's hub */
    api_register(hub->api, watch_endpoints, sizeof watch_endpoints / sizeof watch_endpoints[0]);
    api_event_filter_add(hub->api, "anomaly.", watch_api_event_sees, hub->watch);
    api_event_filter_add(hub->api, "incident.", watch_api_event_sees, hub->watch);
    api_owner_refs_add(hub->api, "stream", watch_api_refs, hub->watch);
    if (hub->metrics) {
        metrics_declare(hub->metrics, "ganglion_watch_events_total", "counter",
                        "events accepted for scoring, by stream");
        metrics_declare(hub->metrics, "ganglion_watch_events_scored_total", "counter",
                        "events fed to the detector, by stream");
        metrics_declare(hub->metrics, "ganglion_watch_windows_scored_total", "counter",
                        "windows scored, by stream");
        metrics_declare(hub->metrics, "ganglion_watch_anomalies_total", "counter",
                        "anomalies detected, by stream");
        metrics_declare(hub->metrics, "ganglion_watch_rejected_total", "counter",
                        "events rejected at ingest (bad event or full queue), by stream");
        metrics_collector_add(hub->metrics, watch_metrics_collect, hub->watch);
    }
    if (hub->retention) {
        retention_purge_add(hub->retention, "anomalies", watch_retention_age, NULL, hub->watch);
        retention_purge_add(hub->retention, "anomalies", watch_retention_per_stream, NULL,
                            hub->watch);
        retention_purge_add(hub->retention, "incidents", watch_retention_incidents, NULL,
                            hub->watch);
        retention_purge_add(hub->retention, "anomalies_resolved", watch_retention_resolve, NULL,
                            hub->watch);
    }
    return 0;
}
