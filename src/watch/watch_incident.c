/* Incidents: the anomalies of one burst on one stream under one id. A burst lights up several
 * overlapping windows, each its own anomaly; grouping them lets people review the burst once
 * (GET/PATCH /api/v1/watch/incidents/{id}) instead of window by window. */
#include <stdio.h>
#include <stdlib.h>
#include <assert.h>
#include <string.h>

#include <sodium.h>

#include "core/bus.h"
#include "core/hub.h"
#include "core/log.h"
#include "store/store_problem.h"
#include "watch/watch_internal.h"

#define WATCH_REFUSED_SHOWN 100 /* anomalies named in a reply's `refused` */

int watch_severity_rank(const char *severity)
{
    if (!severity)
        return 0;
    if (!strcmp(severity, "critical"))
        return 3;
    if (!strcmp(severity, "high"))
        return 2;
    return !strcmp(severity, "medium") ? 1 : 0;
}

/* ---- grouping (loop thread) ------------------------------------------------------------- */

/* The incident an anomaly of window [first, last] at ts (events' own time) belongs to: the
 * stream's open one when it is the same burst, else a new one. Returns s->incident. */
static const char *watch_incident_join(watch_t *w, watch_stream_t *s, uint64_t first, uint64_t last,
                                       int64_t ts)
{
    int64_t gap_ms = w->hub->cfg.watch_incident_gap_s * 1000;
    int64_t dt = ts - s->incident_last_ms;
    /* Same burst: its window overlaps or adjoins the incident's last window, or it comes
     * within the gap (in the events' own time) of the incident's last anomaly. */
    bool join = s->incident[0] && s->incident_count < WATCH_INCIDENT_MAX &&
                ((s->incident_events_valid && first <= s->incident_last_event + 1) ||
                 (dt <= gap_ms && dt >= -gap_ms));
    if (!join) {
        unsigned char b[12];
        randombytes_buf(b, sizeof b);
        char *o = s->incident;
        o += snprintf(o, sizeof s->incident, "inc-");
        for (size_t k = 0; k < sizeof b; k++)
            o += snprintf(o, 3, "%02x", b[k]);
        s->incident_last_ms = ts;
        s->incident_last_event = last;
        s->incident_count = 0;
    }
    s->incident_count++;
    if (ts > s->incident_last_ms)
        s->incident_last_ms = ts;
    if (!s->incident_events_valid || last > s->incident_last_event)
        s->incident_last_event = last;
    s->incident_events_valid = true;
    return s->incident;
}

void watch_incident_assign_one(watch_t *w, watch_stream_t *s, watch_anomaly_t *a)
{
    const char *id = watch_incident_join(w, s, a->r.first_event, a->r.last_event, a->ts_ms);
    snprintf(a->incident, sizeof a->incident, "%s", id);
}

void watch_incident_assign(watch_t *w, watch_stream_t *s, json_t *anomalies)
{
    size_t i;
    json_t *a;
    json_array_foreach(anomalies, i, a)
    {
        json_t *meta = json_object_get(a, "metadata");
        uint64_t first = (uint64_t)json_integer_value(json_object_get(meta, "first_event"));
        uint64_t last = (uint64_t)json_integer_value(json_object_get(meta, "last_event"));
        int64_t ts = json_integer_value(json_object_get(a, "timestamp_ms"));
        json_object_set_new(a, "incident_id",
                            json_string(watch_incident_join(w, s, first, last, ts)));
    }
}

/* ---- store jobs ------------------------------------------------------------------------- */

enum { WI_LIST, WI_GET, WI_PATCH };

typedef struct watch_iq {
    api_req_t *req;
    hub_t *hub;
    int kind;
    char id[64];
    char principal[256];
    char stream[WATCH_NAME_MAX + 1], status[16];
    watch_ifilter_t f;
    int limit;
    int64_t offset;
    json_t *patch;      /* owned: the PATCH body */
    json_t *out;        /* the reply body built by the worker */
    int outcome;        /* 0, 404, 409 */
    json_t *found;      /* 409: {status: count} of the incident's anomalies */
    watch_access_t acc; /* the streams the caller may see and change */
    char err[256];
} watch_iq_t;

static int watch_iq_get(store_conn_t *c, watch_iq_t *q)
{
    int rc = watch_db_incident_get(c, q->id, &q->out);
    if (rc < 0 || !q->out) {
        q->outcome = rc < 0 ? 0 : 404;
        return rc;
    }
    if (watch_access_decide(&q->acc, json_string_value(json_object_get(q->out, "stream")), false)) {
        q->outcome = 404; /* not seen: as if it were not there */
        return 0;
    }
    watch_filter_t f = {.incident = q->id, .limit = q->limit, .offset = q->offset};
    json_t *page = NULL;
    rc = watch_db_anomaly_list(c, &f, &page);
    if (rc == 0) {
        json_object_set(q->out, "members", json_object_get(page, "anomalies"));
        json_object_set(q->out, "has_more", json_object_get(page, "has_more"));
    }
    json_decref(page);
    return rc;
}

/* Applies the review to every anomaly of the incident that can make the move; the incident's
 * own notes take `notes`. Refused when none of them can (409). */
static int watch_iq_patch(store_conn_t *c, watch_iq_t *q)
{
    json_t *inc = NULL;
    int rc = watch_db_incident_get(c, q->id, &inc);
    if (rc < 0 || !inc) {
        q->outcome = rc < 0 ? 0 : 404;
        return rc;
    }
    q->outcome =
        watch_access_decide(&q->acc, json_string_value(json_object_get(inc, "stream")), true);
    json_decref(inc);
    if (q->outcome)
        return 0;
    json_t *ids = NULL;
    bool per_anomaly = json_object_get(q->patch, "status") || json_object_get(q->patch, "add_tags");
    /* notes alone are the incident's: its anomalies are left untouched */
    rc = per_anomaly ? watch_db_incident_members(c, q->id, &ids) : 0;
    if (rc < 0)
        return rc;
    json_t *each = json_object();
    json_t *v;
    if ((v = json_object_get(q->patch, "status")))
        json_object_set(each, "status", v);
    if ((v = json_object_get(q->patch, "add_tags")))
        json_object_set(each, "add_tags", v);
    size_t moved = 0, kept = 0, seen = 0, i;
    json_t *refused = json_array(), *found = json_object(), *idj;
    json_array_foreach(ids, i, idj)
    {
        watch_review_t rv;
        rc = watch_review_apply(c, json_string_value(idj), each, q->principal, &rv);
        if (rc < 0)
            break;
        json_decref(rv.out);
        seen++;
        if (rv.outcome == WATCH_REVIEW_MOVED)
            moved++;
        else if (rv.outcome == WATCH_REVIEW_KEPT)
            kept++;
        if (rv.outcome == WATCH_REVIEW_REFUSED && json_array_size(refused) < WATCH_REFUSED_SHOWN)
            json_array_append_new(refused, json_pack("{s:O,s:s}", "id", idj, "status", rv.from));
        json_int_t n = json_integer_value(json_object_get(found, rv.from));
        json_object_set_new(found, rv.from, json_integer(n + 1));
    }
    json_decref(ids);
    json_decref(each);
    if (rc == 0 && json_object_get(q->patch, "status") && moved == 0 && kept == 0) {
        q->outcome = 409;
        q->found = found;
        json_decref(refused);
        return 0;
    }
    json_decref(found);
    json_t *notes = json_object_get(q->patch, "notes");
    if (rc == 0 && json_is_string(notes))
        rc = watch_db_incident_notes_set(c, q->id, json_string_value(notes));
    if (rc == 0)
        rc = watch_db_incident_refresh(c, q->id);
    if (rc == 0)
        rc = watch_db_incident_get(c, q->id, &q->out);
    if (rc == 0 && q->out)
        json_object_set_new(q->out, "review",
                            json_pack("{s:I,s:I,s:I,s:o}", "moved", (json_int_t)moved, "unchanged",
                                      (json_int_t)kept, "refused_total",
                                      (json_int_t)(seen - moved - kept), "refused", refused));
    else
        json_decref(refused);
    return rc;
}

static int watch_iq_work(store_conn_t *c, void *ud)
{
    watch_iq_t *q = ud;
    int rc = 0;
    switch (q->kind) {
    case WI_LIST:
        rc = watch_db_incident_list(c, &q->f, &q->out);
        break;
    case WI_GET:
        rc = watch_iq_get(c, q);
        break;
    case WI_PATCH:
        rc = store_tx_begin(c);
        if (rc == 0)
            rc = watch_iq_patch(c, q);
        if (rc == 0 && q->outcome == 0)
            rc = store_tx_commit(c);
        else
            store_tx_rollback(c);
        break;
    }
    if (rc < 0)
        snprintf(q->err, sizeof q->err, "%s", store_conn_error(c));
    return rc;
}

static void watch_iq_free(watch_iq_t *q)
{
    json_decref(q->patch);
    json_decref(q->out);
    json_decref(q->found);
    watch_access_free(&q->acc);
    free(q);
}

static void watch_iq_done(int status, void *ud)
{
    watch_iq_t *q = ud;
    api_req_t *req = q->req;
    if (status < 0) {
        log_error(api_req_id(req), "watch: incident query failed", "{s:i,s:s}", "code", status,
                  "error", q->err[0] ? q->err : "?");
        api_reply_problem(req, store_problem_new(q->hub->store, status, "the incident query"));
    } else if (q->outcome == 409) {
        const char *to = json_string_value(json_object_get(q->patch, "status"));
        problem_t *p = problem_new(409, "invalid-transition",
                                   "no anomaly of incident %s can move to %s from where it is; "
                                   "see found for their statuses",
                                   q->id, to ? to : "?");
        problem_ext_set(p, "to", json_string(to ? to : ""));
        problem_ext_set(p, "found", json_incref(q->found));
        api_reply_problem(req, p);
    } else if (q->outcome == 403) {
        api_reply_problem(req, problem_new(403, "forbidden",
                                           "incident %s belongs to a stream %s may see but not "
                                           "change (only its owner, its team and admins may)",
                                           q->id, q->principal));
    } else if (q->outcome == 404 || !q->out) {
        api_reply_problem(req, problem_new(404, "not-found", "no incident with id %s", q->id));
    } else {
        if (q->kind == WI_PATCH)
            bus_publish(q->hub->bus, "incident.updated", json_incref(q->out));
        api_reply_json(req, 200, q->out);
        q->out = NULL;
    }
    watch_iq_free(q);
}

static watch_iq_t *watch_iq_new(api_req_t *req, int kind)
{
    watch_iq_t *q = calloc(1, sizeof *q);
    if (!q) {
        api_reply_problem(req, problem_new(503, "out-of-memory", "the query could not be held"));
        return NULL;
    }
    q->req = req;
    q->hub = api_req_hub(req);
    q->kind = kind;
    if (watch_access_init(q->hub->watch, req, &q->acc) < 0) {
        free(q);
        api_reply_problem(req, problem_new(503, "out-of-memory", "the query could not be held"));
        return NULL;
    }
    snprintf(q->principal, sizeof q->principal, "%s", api_req_principal(req));
    const char *id = api_req_param_str(req, "id");
    if (id)
        snprintf(q->id, sizeof q->id, "%s", id);
    q->limit = (int)api_req_query_int(req, "limit", WATCH_LIMIT_DEFAULT);
    q->offset = api_req_query_int(req, "offset", 0);
    return q;
}

static void watch_iq_submit(watch_iq_t *q)
{
    int rc = store_submit(q->hub->store, q->hub->loop, watch_iq_work, watch_iq_done, q);
    if (rc < 0) {
        api_req_t *req = q->req;
        watch_iq_free(q);
        api_reply_problem(req, problem_new(503, "store-unavailable",
                                           "the query could not be queued: %s", uv_strerror(rc)));
    }
}

/* ---- handlers ----------------------------------------------------------------------------- */

void watch_api_incidents_list(api_req_t *req, void *ctx)
{
    /* The query's schema (watch_incidents_query) checked `stream`'s length and characters. */
    const char *stream = api_req_query_str(req, "stream");
    assert(!stream || watch_name_valid(stream));
    watch_iq_t *q = watch_iq_new(req, WI_LIST);
    if (!q)
        return;
    const char *st = api_req_query_str(req, "status");
    if (stream) {
        snprintf(q->stream, sizeof q->stream, "%s", stream);
        q->f.stream = q->stream;
    }
    if (st) {
        snprintf(q->status, sizeof q->status, "%s", st);
        q->f.status = q->status;
    }
    q->f.min_severity = watch_severity_rank(api_req_query_str(req, "severity"));
    q->f.streams = q->acc.see;
    q->f.limit = q->limit;
    q->f.offset = q->offset;
    watch_iq_submit(q);
}

void watch_api_incident_get(api_req_t *req, void *ctx)
{
    watch_iq_t *q = watch_iq_new(req, WI_GET);
    if (q)
        watch_iq_submit(q);
}

void watch_api_incident_patch(api_req_t *req, void *ctx)
{
    json_t *body = api_req_body(req);
    if (!json_object_get(body, "status") && !json_object_get(body, "notes") &&
        !json_object_get(body, "add_tags")) {
        problem_t *p = problem_new(422, "validation", "nothing to change; see errors[]");
        problem_field_add(p, "body", "", "give at least one of status, notes, add_tags");
        api_reply_problem(req, p);
        return;
    }
    watch_iq_t *q = watch_iq_new(req, WI_PATCH);
    if (!q)
        return;
    q->patch = json_deep_copy(body);
    watch_iq_submit(q);
}
