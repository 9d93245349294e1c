/* The endpoint registry: routing, the auth hook, validation, metrics, audit and logging around
 * every handler, for every transport. A request lives from api_dispatch to its one reply; a
 * handler that replies later keeps the api_req_t and replies from the loop thread. */
#include "api/api_internal.h"
#include "api/api_owner.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

#include "core/clock.h"
#include "core/fmt.h"
#include "core/hub.h"
#include "core/jsonx.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/trace.h"
#include "core/trace_export.h"

#define API_MAX_REPLY_HEADERS 16

/* A route's metric series, found once (core/metrics) instead of by their label text on every
 * request: its latency histogram, and its request counters for the statuses seen most. */
#define API_STATUS_SERIES 4
typedef struct api_route_series {
    metrics_series_t *duration;
    int status[API_STATUS_SERIES];
    metrics_series_t *requests[API_STATUS_SERIES];
    unsigned next; /* the slot a status not yet remembered takes (round robin) */
} api_route_series_t;

#define API_TEXT_SCRATCH (16 * 1024)
#define API_TEXT_FLAGS   (JSON_COMPACT | JSON_ENCODE_ANY)

struct api_registry {
    hub_t *hub;
    api_router_t *router;
    api_route_series_t *series; /* by route index; grown as routes are used */
    size_t nseries;
    api_auth_fn auth;
    void *auth_ud;
    api_audit_fn audit;
    void *audit_ud;
    api_team_fn team;
    void *team_ud;
    struct {
        char prefix[32];
        api_event_see_fn fn;
        void *ud;
    } filters[API_EVENT_FILTERS_MAX];
    size_t nfilters;
    struct {
        const char *kind;
        api_owner_refs_fn fn;
        void *ud;
    } refs[API_OWNER_REFS_MAX];
    size_t nrefs;
    api_viewer_fn viewer;
    void *viewer_ud;
    size_t inflight;
    uint64_t rid_counter;
    char rid_prefix[16];
    /* JSON replies' text is rendered here when it fits (no malloc); a reply rendered while
     * another one's text is still in use (a reply callback that leads to another reply) takes
     * the heap instead. */
    bool text_busy;
    char text[API_TEXT_SCRATCH];
    struct {
        void (*fn)(void *ud);
        void *ud;
    } cleanup[API_MAX_CLEANUPS];
    size_t ncleanup;
    trace_rng_t trace_rng;        /* new trace and span ids */
    trace_export_t *trace_export; /* spans go here when set (borrowed) */
};

struct api_req {
    api_registry_t *reg;
    const api_endpoint_t *ep;
    const api_route_t *route;
    char method[8];
    char *path;
    char request_id[72];
    char peer[64];
    char transport[16];
    char *principal;
    char role[16]; /* the credential's role (auth hook), "" when none */
    char *teams;   /* the principal's teams, ','-separated (auth hook); NULL = none */
    json_t *params;
    json_t *query;
    json_t *body;
    char *raw_body;
    size_t raw_len;
    size_t body_bytes; /* the body's encoded length, whoever decoded it */
    char *content_type;
    const char *(*header)(void *tctx, const char *name);
    void *header_ctx;
    const char *credential, *credential_error; /* borrowed from the transport until the reply */
    bool want_value;                           /* api_call_t.want_value */
    api_reply_fn reply;
    void *tctx;
    char *hname[API_MAX_REPLY_HEADERS];
    char *hvalue[API_MAX_REPLY_HEADERS];
    size_t nheaders;
    uint64_t start_ns;
    bool cancelled;
    /* While api_dispatch runs: its own "replied" flag, set by the reply (which frees req), so
     * that it knows whether to return the request or NULL. NULL once the request is pending. */
    bool *replied_flag;
    /* W3C trace context: the request's trace (the caller's or a new one) and its own span */
    trace_ctx_t trace;
    uint8_t trace_parent[TRACE_SPAN_LEN];
    bool has_trace_parent;
};

static const double api_latency_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                             0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                             1,      2.5,     5,      10};

api_registry_t *api_registry_new(hub_t *hub)
{
    api_registry_t *reg = calloc(1, sizeof *reg);
    if (!reg)
        return NULL;
    reg->hub = hub;
    reg->router = api_router_new();
    if (!reg->router) {
        free(reg);
        return NULL;
    }
    /* Request ids: a random per-process prefix and a counter — unique, cheap, and sortable
     * within one run. */
    unsigned char rnd[4];
    randombytes_buf(rnd, sizeof rnd);
    snprintf(reg->rid_prefix, sizeof reg->rid_prefix, "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
             rnd[3]);
    trace_rng_seed(&reg->trace_rng);
    if (hub && hub->metrics) {
        metrics_declare(hub->metrics, "ganglion_http_requests_total", "counter",
                        "Requests answered, by endpoint pattern, method and status.");
        metrics_declare_histogram(hub->metrics, "ganglion_http_request_duration_seconds",
                                  "Time from dispatch to reply, by endpoint pattern and method.",
                                  api_latency_buckets,
                                  sizeof api_latency_buckets / sizeof api_latency_buckets[0]);
    }
    return reg;
}

void api_registry_destroy(api_registry_t **preg)
{
    api_registry_t *reg = *preg;
    if (!reg)
        return;
    for (size_t i = 0; i < reg->ncleanup; i++)
        reg->cleanup[i].fn(reg->cleanup[i].ud);
    api_router_destroy(&reg->router);
    free(reg->series);
    free(reg);
    *preg = NULL;
}

int api_registry_cleanup_add(api_registry_t *reg, void (*fn)(void *ud), void *ud)
{
    if (reg->ncleanup == API_MAX_CLEANUPS)
        return -ENOSPC;
    reg->cleanup[reg->ncleanup].fn = fn;
    reg->cleanup[reg->ncleanup].ud = ud;
    reg->ncleanup++;
    return 0;
}

void api_register(api_registry_t *reg, const api_endpoint_t *eps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = api_router_add(reg->router, &eps[i]);
        if (rc < 0) {
            log_error(NULL, "endpoint registration failed", "{s:s,s:s,s:s}", "method",
                      eps[i].method, "path", eps[i].path, "reason",
                      rc == -2 ? "duplicate" : "malformed pattern");
            abort();
        }
    }
}

size_t api_endpoint_count(const api_registry_t *reg)
{
    return api_router_count(reg->router);
}

const api_endpoint_t *api_endpoint_at(const api_registry_t *reg, size_t i)
{
    const api_route_t *rt = api_router_at(reg->router, i);
    return rt ? rt->ep : NULL;
}

void api_auth_hook_set(api_registry_t *reg, api_auth_fn fn, void *ud)
{
    reg->auth = fn;
    reg->auth_ud = ud;
}

void api_audit_hook_set(api_registry_t *reg, api_audit_fn fn, void *ud)
{
    reg->audit = fn;
    reg->audit_ud = ud;
}

void api_team_hook_set(api_registry_t *reg, api_team_fn fn, void *ud)
{
    reg->team = fn;
    reg->team_ud = ud;
}

int api_event_filter_add(api_registry_t *reg, const char *prefix, api_event_see_fn fn, void *ud)
{
    if (reg->nfilters >= API_EVENT_FILTERS_MAX || strlen(prefix) >= sizeof reg->filters[0].prefix)
        return -ENOSPC;
    snprintf(reg->filters[reg->nfilters].prefix, sizeof reg->filters[0].prefix, "%s", prefix);
    reg->filters[reg->nfilters].fn = fn;
    reg->filters[reg->nfilters].ud = ud;
    reg->nfilters++;
    return 0;
}

bool api_event_visible(const api_registry_t *reg, const api_viewer_t *v, const char *topic,
                       const char *data, size_t len)
{
    if (api_viewer_unrestricted(v))
        return true;
    for (size_t i = 0; i < reg->nfilters; i++) {
        size_t n = strlen(reg->filters[i].prefix);
        if (strncmp(topic, reg->filters[i].prefix, n) == 0)
            return reg->filters[i].fn(v, topic, data, len, reg->filters[i].ud);
    }
    return true;
}

void api_viewer_hook_set(api_registry_t *reg, api_viewer_fn fn, void *ud)
{
    reg->viewer = fn;
    reg->viewer_ud = ud;
}

int api_viewer_lookup(const api_registry_t *reg, const char *principal, api_viewer_t *out)
{
    return reg->viewer ? reg->viewer(principal, out, reg->viewer_ud) : -ENOSYS;
}

int api_owner_refs_add(api_registry_t *reg, const char *kind, api_owner_refs_fn fn, void *ud)
{
    if (reg->nrefs >= API_OWNER_REFS_MAX)
        return -ENOSPC;
    reg->refs[reg->nrefs].kind = kind;
    reg->refs[reg->nrefs].fn = fn;
    reg->refs[reg->nrefs].ud = ud;
    reg->nrefs++;
    return 0;
}

size_t api_owner_refs(const api_registry_t *reg, const char *owner, const char *team,
                      const char **kind)
{
    size_t total = 0;
    if (kind)
        *kind = NULL;
    for (size_t i = 0; i < reg->nrefs; i++) {
        size_t n = reg->refs[i].fn(owner, team, reg->refs[i].ud);
        if (n && kind && !*kind)
            *kind = reg->refs[i].kind;
        total += n;
    }
    return total;
}

bool api_req_team_exists(const api_req_t *req, const char *team)
{
    return !req->reg->team || req->reg->team(team, req->reg->team_ud);
}

size_t api_inflight(const api_registry_t *reg)
{
    return reg->inflight;
}

/* ---- request lifetime ---- */

static void api_req_free(api_req_t *req)
{
    free(req->path);
    free(req->principal);
    free(req->teams);
    json_decref(req->params);
    json_decref(req->query);
    json_decref(req->body);
    free(req->raw_body);
    free(req->content_type);
    for (size_t i = 0; i < req->nheaders; i++) {
        free(req->hname[i]);
        free(req->hvalue[i]);
    }
    size_t body_bytes = req->body_bytes;
    free(req);
    jsonx_release(body_bytes); /* what a large body cost goes back to the system */
}

static bool api_method_mutates(const char *m)
{
    return strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0 && strcmp(m, "OPTIONS") != 0;
}

static api_route_series_t *api_route_series(api_registry_t *reg, const api_route_t *rt)
{
    if (rt->index >= reg->nseries) {
        size_t n = api_router_count(reg->router);
        if (rt->index >= n)
            return NULL;
        api_route_series_t *grown = realloc(reg->series, n * sizeof *grown);
        if (!grown)
            return NULL;
        memset(grown + reg->nseries, 0, (n - reg->nseries) * sizeof *grown);
        reg->series = grown;
        reg->nseries = n;
    }
    return &reg->series[rt->index];
}

/* ganglion_http_requests_total{endpoint,method,status} and the request's latency. */
static void api_req_measure(api_registry_t *reg, const api_req_t *req, int status, double secs)
{
    metrics_t *m = reg->hub->metrics;
    api_route_series_t *rs = req->route ? api_route_series(reg, req->route) : NULL;
    const char *base =
        req->route ? req->route->metric_labels : "endpoint=\"unmatched\",method=\"other\"";
    metrics_series_t *count = NULL;
    if (rs) {
        for (unsigned i = 0; i < API_STATUS_SERIES && !count; i++)
            if (rs->requests[i] && rs->status[i] == status)
                count = rs->requests[i];
        if (!rs->duration)
            rs->duration =
                metrics_histogram_series(m, "ganglion_http_request_duration_seconds", base);
    }
    if (!count) {
        /* base,status="<status>" (base is under 512 bytes, so this always fits) */
        char labels[600];
        size_t n = fmt_copy(labels, sizeof labels - 32, base);
        memcpy(labels + n, ",status=\"", 9);
        n += 9;
        n += fmt_i64(labels + n, status);
        labels[n++] = '"';
        labels[n] = '\0';
        count = metrics_counter_series(m, "ganglion_http_requests_total", labels);
        if (rs && count) {
            unsigned slot = rs->next++ % API_STATUS_SERIES;
            rs->status[slot] = status;
            rs->requests[slot] = count;
        }
    }
    metrics_series_add(count, 1);
    metrics_series_observe(
        rs ? rs->duration
           : metrics_histogram_series(m, "ganglion_http_request_duration_seconds", base),
        secs);
}

/* What api_body_render made for one reply, released after the reply callback. */
typedef struct api_body_render {
    char *heap;    /* text rendered outside the scratch */
    bool scratch;  /* text rendered into reg->text */
    json_t *value; /* value parsed from the handler's text */
} api_body_render_t;

/* Puts a JSON reply's body into the form the transport asked for, once: compact text (from
 * the value, into the scratch when it fits) or the value (parsed from the handler's text only
 * when it gave nothing else). Out of memory turns the reply into an empty 503. */
static void api_body_render(api_registry_t *reg, api_reply_t *rep, bool want_value,
                            api_body_render_t *br)
{
    if (want_value && !rep->json && rep->json_text) {
        br->value =
            json_loadb(rep->json_text, rep->json_text_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        rep->json = br->value;
    } else if (!want_value && rep->json && !rep->json_text) {
        /* json_dumpb gives the size needed when the buffer is too small */
        size_t n = reg->text_busy
                       ? json_dumpb(rep->json, NULL, 0, API_TEXT_FLAGS)
                       : json_dumpb(rep->json, reg->text, sizeof reg->text, API_TEXT_FLAGS);
        if (!reg->text_busy && n && n <= sizeof reg->text) {
            reg->text_busy = br->scratch = true;
            rep->json_text = reg->text;
        } else if (n) {
            br->heap = malloc(n);
            if (br->heap && json_dumpb(rep->json, br->heap, n, API_TEXT_FLAGS) == n)
                rep->json_text = br->heap;
        }
        rep->json_text_len = rep->json_text ? n : 0;
    } else {
        return;
    }
    if (!rep->json && !rep->json_text) {
        rep->status = 503;
        rep->is_problem = false;
        rep->raw = "";
        rep->raw_len = 0;
        rep->content_type = NULL;
    }
}

static void api_body_render_done(api_registry_t *reg, api_body_render_t *br)
{
    if (br->scratch)
        reg->text_busy = false;
    free(br->heap);
    json_decref(br->value);
}

/* One span per request, named after the endpoint pattern (bounded cardinality, as in metrics). */
static void api_req_span_export(const api_req_t *req, int status, double secs)
{
    trace_span_t sp;
    memset(&sp, 0, sizeof sp);
    sp.ctx = req->trace;
    sp.has_parent = req->has_trace_parent;
    memcpy(sp.parent, req->trace_parent, sizeof sp.parent);
    const char *route = req->ep ? req->ep->path : "unmatched";
    snprintf(sp.name, sizeof sp.name, "%s %s", req->method, route);
    fmt_copy(sp.method, sizeof sp.method, req->method);
    fmt_copy(sp.route, sizeof sp.route, route);
    fmt_copy(sp.transport, sizeof sp.transport, req->transport);
    sp.status = status;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    sp.end_unix_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    uint64_t dur = (uint64_t)(secs * 1e9);
    sp.start_unix_ns = sp.end_unix_ns > dur ? sp.end_unix_ns - dur : 0;
    trace_export_add(req->reg->trace_export, &sp);
}

static void api_req_finish(api_req_t *req, api_reply_t *rep)
{
    api_registry_t *reg = req->reg;
    double secs = (double)(clock_mono_ns() - req->start_ns) / 1e9;
    hub_t *hub = reg->hub;

    if (hub && hub->metrics)
        api_req_measure(reg, req, rep->status, secs);
    if (req->ep && reg->audit && api_method_mutates(req->method) && !req->ep->no_audit)
        reg->audit(req, rep->status, reg->audit_ud);

    if (rep->status >= 500 || log_enabled_for("http", LOG_LEVEL_DEBUG)) {
        char tid[TRACE_ID_HEX_LEN + 1], sid[TRACE_SPAN_HEX_LEN + 1];
        trace_hex(req->trace.trace_id, TRACE_ID_LEN, tid);
        trace_hex(req->trace.span_id, TRACE_SPAN_LEN, sid);
        if (rep->status >= 500)
            log_warn(req->request_id, "http: request failed", "{s:s,s:s,s:i,s:f,s:s,s:s,s:s}",
                     "method", req->method, "path", req->path, "status", rep->status, "duration_ms",
                     secs * 1e3, "transport", req->transport, "trace_id", tid, "span_id", sid);
        else
            log_debug(req->request_id, "http: request", "{s:s,s:s,s:i,s:f,s:s,s:s,s:s,s:s}",
                      "method", req->method, "path", req->path, "status", rep->status,
                      "duration_ms", secs * 1e3, "transport", req->transport, "peer", req->peer,
                      "trace_id", tid, "span_id", sid);
    }
    if (reg->trace_export)
        api_req_span_export(req, rep->status, secs);

    rep->request_id = req->request_id;
    rep->headers = (const char *const *)NULL;
    const char *hv[API_MAX_REPLY_HEADERS * 2 + 2];
    for (size_t i = 0; i < req->nheaders; i++) {
        hv[2 * i] = req->hname[i];
        hv[2 * i + 1] = req->hvalue[i];
    }
    rep->headers = hv;
    rep->nheaders = req->nheaders;
    /* The trace goes back to HTTP clients, and to ZMQ clients that sent one (the ZMQ reply
     * stays headerless, and cheap, otherwise). */
    char traceparent[TRACE_PARENT_LEN + 1];
    if (req->has_trace_parent || strcmp(req->transport, "http") == 0) {
        trace_parent_format(&req->trace, traceparent);
        hv[2 * rep->nheaders] = "traceparent";
        hv[2 * rep->nheaders + 1] = traceparent;
        rep->nheaders++;
    }

    rep->in_dispatch = req->replied_flag != NULL;
    if (req->replied_flag)
        *req->replied_flag = true;
    assert(reg->inflight > 0);
    assert(rep->status >= 100 && rep->status <= 599);
    reg->inflight--;
    if (!req->cancelled) {
        api_body_render_t br = {0};
        api_body_render(reg, rep, req->want_value, &br);
        req->reply(rep, req->tctx);
        api_body_render_done(reg, &br);
    }
    /* hv lives on this frame: the caller's reply must not keep pointing at it */
    rep->headers = NULL;
    rep->nheaders = 0;
    api_req_free(req);
}

void api_reply_header(api_req_t *req, const char *name, const char *value)
{
    /* Set-Cookie is the one header sent once per value (RFC 6265 3): each call adds one. */
    bool repeat = strcasecmp(name, "Set-Cookie") == 0;
    for (size_t i = 0; i < req->nheaders && !repeat; i++) {
        if (strcasecmp(req->hname[i], name) == 0) {
            char *v = strdup(value);
            if (v) {
                free(req->hvalue[i]);
                req->hvalue[i] = v;
            }
            return;
        }
    }
    if (req->nheaders == API_MAX_REPLY_HEADERS)
        return;
    req->hname[req->nheaders] = strdup(name);
    req->hvalue[req->nheaders] = strdup(value);
    if (!req->hname[req->nheaders] || !req->hvalue[req->nheaders]) {
        free(req->hname[req->nheaders]);
        free(req->hvalue[req->nheaders]);
        return;
    }
    req->nheaders++;
}

void api_reply_json(api_req_t *req, int status, json_t *json)
{
    api_reply_t rep = {.status = status, .json = json ? json : json_object()};
    api_req_finish(req, &rep);
    json_decref(rep.json);
}

void api_reply_problem(api_req_t *req, problem_t *p)
{
    const char *name, *value;
    for (size_t i = 0; problem_header_at(p, i, &name, &value) == 0; i++)
        api_reply_header(req, name, value);
    api_reply_t rep = {.status = problem_status(p), .is_problem = true};
    rep.json = problem_to_json(p, req->path);
    if (req->request_id[0])
        json_object_set_new(rep.json, "request_id", json_string(req->request_id));
    problem_destroy(&p);
    api_req_finish(req, &rep);
    json_decref(rep.json);
}

void api_reply_raw(api_req_t *req, int status, const char *content_type, char *buf, size_t len)
{
    api_reply_t rep = {.status = status,
                       .raw = buf ? buf : "",
                       .raw_len = buf ? len : 0,
                       .content_type = content_type};
    api_req_finish(req, &rep);
    free(buf);
}

void api_reply_json_text(api_req_t *req, int status, const char *text, size_t len)
{
    api_reply_t rep = {.status = status, .json_text = text, .json_text_len = len};
    api_req_finish(req, &rep);
}

void api_reply_json_rendered(api_req_t *req, int status, const json_t *value, const char *text,
                             size_t len)
{
    /* value is only read: the transports encode from it, none changes it */
    api_reply_t rep = {.status = status,
                       .json = (json_t *)(uintptr_t)value,
                       .json_text = text,
                       .json_text_len = len};
    api_req_finish(req, &rep);
}

void api_reply_empty(api_req_t *req, int status)
{
    api_reply_t rep = {.status = status, .raw = "", .raw_len = 0, .content_type = NULL};
    api_req_finish(req, &rep);
}

void api_reply_stream(api_req_t *req, const char *topics, uint64_t after_id)
{
    api_viewer_t v;
    api_viewer_from(&v, req);
    api_reply_t rep = {.status = 200,
                       .stream = true,
                       .stream_topics = topics,
                       .stream_after = after_id,
                       .viewer = &v};
    api_req_finish(req, &rep);
}

void api_reply_stream_prelude(api_req_t *req, const char *topics, char *prelude, size_t len)
{
    api_viewer_t v;
    api_viewer_from(&v, req);
    api_reply_t rep = {.status = 200,
                       .stream = true,
                       .stream_topics = topics,
                       .viewer = &v,
                       .stream_prelude = prelude,
                       .stream_prelude_len = prelude ? len : 0};
    api_req_finish(req, &rep);
    free(prelude);
}

void api_call_cancel(api_req_t *req)
{
    if (req)
        req->cancelled = true;
}

/* ---- accessors ---- */

hub_t *api_req_hub(const api_req_t *req)
{
    return req->reg->hub;
}
const api_endpoint_t *api_req_endpoint(const api_req_t *req)
{
    return req->ep;
}
const char *api_req_id(const api_req_t *req)
{
    return req->request_id;
}
const char *api_req_path(const api_req_t *req)
{
    return req->path;
}
const char *api_req_method(const api_req_t *req)
{
    return req->method;
}
const char *api_req_peer(const api_req_t *req)
{
    return req->peer;
}
const char *api_req_transport(const api_req_t *req)
{
    return req->transport;
}
bool api_req_cancelled(const api_req_t *req)
{
    return req->cancelled;
}
json_t *api_req_params(const api_req_t *req)
{
    return req->params;
}
json_t *api_req_query(const api_req_t *req)
{
    return req->query;
}
json_t *api_req_body(const api_req_t *req)
{
    return req->body;
}

const char *api_req_header(const api_req_t *req, const char *name)
{
    return req->header ? req->header(req->header_ctx, name) : NULL;
}

const char *api_req_credential(const api_req_t *req)
{
    return req->credential;
}

const char *api_req_credential_error(const api_req_t *req)
{
    return req->credential_error;
}

const char *api_req_raw_body(const api_req_t *req, size_t *len, const char **content_type)
{
    if (len)
        *len = req->raw_len;
    if (content_type)
        *content_type = req->content_type;
    return req->raw_body;
}

const char *api_req_param_str(const api_req_t *req, const char *name)
{
    return json_string_value(json_object_get(req->params, name));
}

int64_t api_req_param_int(const api_req_t *req, const char *name)
{
    return json_integer_value(json_object_get(req->params, name));
}

const char *api_req_query_str(const api_req_t *req, const char *name)
{
    return json_string_value(json_object_get(req->query, name));
}

int64_t api_req_query_int(const api_req_t *req, const char *name, int64_t def)
{
    json_t *v = json_object_get(req->query, name);
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_real(v))
        return (int64_t)json_real_value(v);
    return def;
}

bool api_req_query_bool(const api_req_t *req, const char *name, bool def)
{
    json_t *v = json_object_get(req->query, name);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

bool api_req_query_time(const api_req_t *req, const char *name, int64_t *ms, problem_t **p)
{
    const char *s = api_req_query_str(req, name);
    if (!s)
        return false;
    if (clock_rfc3339_parse(s, ms) == 0)
        return true;
    problem_field_error(p, "query", name,
                        "must be an RFC 3339 date-time such as 2026-01-31T12:00:00Z");
    return false;
}

const char *api_req_principal(const api_req_t *req)
{
    return req->principal ? req->principal : "anonymous";
}

void api_req_principal_set(api_req_t *req, const char *principal)
{
    char *p = strdup(principal);
    if (!p)
        return;
    free(req->principal);
    req->principal = p;
}

const char *api_req_role(const api_req_t *req)
{
    return req->role;
}

void api_req_role_set(api_req_t *req, const char *role)
{
    snprintf(req->role, sizeof req->role, "%s", role ? role : "");
}

const char *api_req_teams(const api_req_t *req)
{
    return req->teams ? req->teams : "";
}

void api_req_teams_set(api_req_t *req, const char *teams)
{
    free(req->teams);
    req->teams = teams && *teams ? strdup(teams) : NULL;
}

/* ---- dispatch ---- */

static bool api_content_type_is(const char *ct, const char *want)
{
    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    size_t n = strlen(want);
    if (strncasecmp(ct, want, n) != 0)
        return false;
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

static bool api_content_type_json(const char *ct)
{
    if (!ct)
        return false;
    if (api_content_type_is(ct, "application/json"))
        return true;
    /* application/<anything>+json (problem+json, merge-patch+json) is JSON too. */
    const char *semi = strchr(ct, ';');
    size_t len = semi ? (size_t)(semi - ct) : strlen(ct);
    while (len && ct[len - 1] == ' ')
        len--;
    return len > 5 && strncasecmp(ct + len - 5, "+json", 5) == 0 &&
           strncasecmp(ct, "application/", 12) == 0;
}

static bool api_request_id_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= 64 || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
            return false;
    }
    return n > 0;
}

static size_t api_max_depth(const api_req_t *req)
{
    return req->reg->hub ? (size_t)req->reg->hub->cfg.json_max_depth : 64;
}

/* Parses and validates the body per the endpoint's declaration; body_json is the call's
 * decoded body if any (borrowed). Returns a problem for errors that stop validation at once
 * (415, 400); field errors accumulate in *fields. */
static problem_t *api_body_check(api_req_t *req, const api_call_t *call, json_t *body_json,
                                 problem_t **fields)
{
    const api_endpoint_t *ep = req->ep;
    bool has_body = body_json != NULL || call->body_len > 0;
    size_t max_depth = api_max_depth(req);

    switch (ep->body_kind) {
    case API_BODY_NONE:
        if (!has_body)
            return NULL;
        if (json_is_object(body_json) && json_object_size(body_json) == 0)
            return NULL;
        if (!body_json && call->body && call->body_len == 2 && memcmp(call->body, "{}", 2) == 0)
            return NULL;
        return problem_new(400, "unexpected-body", "%s %s takes no request body", ep->method,
                           ep->path);
    case API_BODY_RAW: {
        if (!body_json && ep->content_types) {
            bool ok = false;
            for (size_t i = 0; ep->content_types[i] && !ok; i++)
                ok = api_content_type_is(call->content_type, ep->content_types[i]);
            if (!ok) {
                problem_t *p = problem_new(415, "unsupported-media-type",
                                           "Content-Type %s is not accepted here",
                                           call->content_type ? call->content_type : "(none)");
                problem_ext_set(p, "accepted", json_string(ep->content_types[0]));
                return p;
            }
        }
        if (body_json) {
            req->raw_body = json_dumps(body_json, JSON_COMPACT | JSON_ENCODE_ANY);
            req->raw_len = req->raw_body ? strlen(req->raw_body) : 0;
            req->content_type = strdup("application/json");
        } else if (call->body_len) {
            req->raw_body = malloc(call->body_len + 1);
            if (!req->raw_body)
                return problem_new(503, "out-of-memory", "the request body could not be held");
            memcpy(req->raw_body, call->body, call->body_len);
            req->raw_body[call->body_len] = '\0';
            req->raw_len = call->body_len;
            req->content_type = call->content_type ? strdup(call->content_type) : NULL;
        }
        return NULL;
    }
    case API_BODY_JSON:
        break;
    }

    json_t *body;
    if (body_json) {
        body = json_incref(body_json);
    } else if (!has_body) {
        body = json_object(); /* so that required fields are reported one by one */
    } else {
        if (!api_content_type_json(call->content_type)) {
            problem_t *p = problem_new(415, "unsupported-media-type",
                                       "the body must be JSON (Content-Type: application/json), "
                                       "not %s",
                                       call->content_type ? call->content_type : "untyped");
            problem_ext_set(p, "accepted", json_string("application/json"));
            return p;
        }
        problem_t *perr = NULL;
        body = jsonx_parse(call->body, call->body_len, max_depth, &perr);
        if (!body)
            return perr;
    }
    if (ep->body) {
        if (!json_is_object(body)) {
            problem_field_error(fields, "body", "", "must be a JSON object");
        } else {
            api_validate_object(body, ep->body, false, "body", "", fields);
        }
    }
    req->body = body;
    return NULL;
}

/* The body decoded first when the transport left it to us (only now, past routing and the
 * auth hook), then checked. */
static problem_t *api_body_prepare(api_req_t *req, const api_call_t *call, problem_t **fields)
{
    req->body_bytes = call->body_len;
    if (!call->body_decode)
        return api_body_check(req, call, call->body_json, fields);
    problem_t *p = NULL;
    json_t *body = call->body_decode(call->transport_ctx, api_max_depth(req), &p);
    if (!body)
        return p ? p : problem_new(400, "malformed-body", "the request body could not be read");
    p = api_body_check(req, call, body, fields);
    json_decref(body);
    return p;
}

api_req_t *api_dispatch(api_registry_t *reg, const api_call_t *call, api_reply_fn reply, void *tctx)
{
    api_req_t *req = calloc(1, sizeof *req);
    if (!req) {
        api_reply_t rep = {
            .status = 503, .raw = "", .content_type = "text/plain", .in_dispatch = true};
        reply(&rep, tctx);
        return NULL;
    }
    bool replied = false;
    req->reg = reg;
    req->start_ns = clock_mono_ns();
    req->reply = reply;
    req->tctx = tctx;
    req->header = call->header;
    req->header_ctx = call->transport_ctx;
    req->credential = call->credential;
    req->credential_error = call->credential_error;
    req->want_value = call->want_value;
    req->replied_flag = &replied;
    fmt_copy(req->method, sizeof req->method, call->method ? call->method : "");
    req->path = strdup(call->path ? call->path : "/");
    fmt_copy(req->peer, sizeof req->peer, call->peer ? call->peer : "");
    fmt_copy(req->transport, sizeof req->transport, call->transport ? call->transport : "");
    if (call->request_id && api_request_id_ok(call->request_id)) {
        fmt_copy(req->request_id, sizeof req->request_id, call->request_id);
    } else {
        /* "<prefix>-<counter>": 8 + 1 + at most 20 bytes, well inside request_id */
        size_t n = fmt_copy(req->request_id, 16, reg->rid_prefix);
        req->request_id[n++] = '-';
        n += fmt_u64(req->request_id + n, ++reg->rid_counter);
        req->request_id[n] = '\0';
    }
    const char *tp = call->traceparent;
    if (!tp && call->header)
        tp = call->header(call->transport_ctx, "traceparent");
    /* A malformed traceparent starts a new trace (W3C Trace Context, 4.3). */
    if (tp && trace_parent_parse(tp, &req->trace) == 0) {
        memcpy(req->trace_parent, req->trace.span_id, TRACE_SPAN_LEN);
        req->has_trace_parent = true;
        trace_span_id_new(&reg->trace_rng, req->trace.span_id);
    } else {
        trace_ctx_new(&reg->trace_rng, &req->trace);
    }
    reg->inflight++;
    if (!req->path) {
        api_reply_problem(req, problem_new(503, "out-of-memory", "request could not be held"));
        return NULL;
    }

    char allow[128];
    api_match_t m;
    int rc = api_router_match(reg->router, req->method, req->path, &m, allow, sizeof allow);
    if (rc == -EPERM) {
        problem_t *p =
            problem_new(405, "method-not-allowed", "%s is not allowed on %s (allowed: %s)",
                        req->method, req->path, allow);
        problem_header_set(p, "Allow", allow);
        api_reply_problem(req, p);
        return NULL;
    }
    if (rc == -E2BIG) {
        api_reply_problem(
            req, problem_new(414, "uri-too-long", "the path is too long or has too many segments"));
        return NULL;
    }
    if (rc == -ENAMETOOLONG) {
        api_reply_problem(req, problem_new(400, "bad-path-parameter",
                                           "a path parameter is longer than 255 bytes"));
        return NULL;
    }
    if (rc < 0) {
        size_t plen = strlen(req->path);
        if (plen > 1 && req->path[plen - 1] == '/')
            api_reply_problem(req, problem_new(404, "not-found",
                                               "no endpoint at %s (paths have no trailing slash)",
                                               req->path));
        else
            api_reply_problem(req, problem_new(404, "not-found", "no endpoint at %s", req->path));
        return NULL;
    }
    req->route = m.route;
    req->ep = m.route->ep;

    if (reg->auth) {
        problem_t *p = reg->auth(req, req->ep, reg->auth_ud);
        if (p) {
            api_reply_problem(req, p);
            return NULL;
        }
    }

    problem_t *fields = NULL;
    json_t *pstr = json_object();
    for (size_t i = 0; i < m.nparams; i++) {
        json_t *v = json_string(m.values[i]);
        if (!v) {
            problem_field_error(&fields, "path", m.names[i], "is not valid UTF-8");
            continue;
        }
        json_object_set_new(pstr, m.names[i], v);
    }
    req->params = api_convert_params(pstr, req->ep->params, "path", &fields);
    json_decref(pstr);

    json_t *qstr =
        call->query_obj ? json_incref(call->query_obj) : api_query_parse(call->query, &fields);
    req->query = api_convert_params(qstr, req->ep->query, "query", &fields);
    json_decref(qstr);

    problem_t *stop = api_body_prepare(req, call, &fields);
    if (stop) {
        problem_destroy(&fields);
        api_reply_problem(req, stop);
        return NULL;
    }
    if (fields) {
        api_reply_problem(req, fields);
        return NULL;
    }

    req->ep->handler(req, req->ep->ctx);
    if (replied)
        return NULL;
    /* Pending: headers belong to the transport's call and are gone after we return. */
    req->replied_flag = NULL;
    req->header = NULL;
    return req;
}

void api_trace_export_set(api_registry_t *reg, struct trace_export *x)
{
    reg->trace_export = x;
}

void api_req_trace_child(api_req_t *req, char out[56])
{
    trace_ctx_t child = req->trace;
    trace_span_id_new(&req->reg->trace_rng, child.span_id);
    trace_parent_format(&child, out);
}

void api_req_trace_ids(const api_req_t *req, char trace_id[33], char span_id[17])
{
    trace_hex(req->trace.trace_id, TRACE_ID_LEN, trace_id);
    trace_hex(req->trace.span_id, TRACE_SPAN_LEN, span_id);
}
