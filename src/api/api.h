/* The endpoint registry: every operation of ganglion is an endpoint declared here once, with
 * its method, path pattern, scope, input schema and handler. Transports (HTTP, later ZMQ, MQTT,
 * WebSocket) only translate their wire format into an api_call_t and deliver the api_reply_t;
 * routing, the auth hook, validation, metrics and audit happen in the registry, so behaviour is
 * identical on every transport.
 *
 * A handler replies exactly once, either before it returns or later on the loop thread (after a
 * worker thread or a store call). The request stays valid until the reply. */
#ifndef GANGLION_API_H
#define GANGLION_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/problem.h"

struct hub;
typedef struct api_registry api_registry_t;
typedef struct api_req api_req_t;

/* ---- schemas ---------------------------------------------------------------------------- */

typedef enum {
    API_T_ANY = 0,
    API_T_STRING,
    API_T_INTEGER,
    API_T_NUMBER,
    API_T_BOOLEAN,
    API_T_OBJECT,
    API_T_ARRAY,
} api_type_t;

enum {
    API_F_REQUIRED = 1 << 0,
    API_F_MIN = 1 << 1,        /* `min` applies: value (numbers), length (strings, arrays) */
    API_F_MAX = 1 << 2,        /* `max` applies, likewise */
    API_F_ADDITIONAL = 1 << 3, /* objects: keys beyond `props` are allowed */
    API_F_NULLABLE = 1 << 4,
};

/* One field of a schema. Arrays of fields end with an entry whose name is NULL. */
typedef struct api_field {
    const char *name;
    api_type_t type;
    unsigned flags;
    double min, max;
    const char *const *enums;      /* NULL-terminated allowed strings, or NULL */
    const struct api_field *props; /* API_T_OBJECT: its fields */
    const struct api_field *items; /* API_T_ARRAY: the schema of one item (name ignored) */
    const char *description;
    const char *def;   /* default shown in OpenAPI (queries: applied when absent) */
    const char *chars; /* strings: when set, only ASCII letters, digits and these characters
                        * (names such as stream names; OpenAPI shows it as a `pattern`) */
} api_field_t;

/* ---- endpoints -------------------------------------------------------------------------- */

typedef void (*api_handler_fn)(api_req_t *req, void *ctx);

typedef enum {
    API_BODY_NONE = 0, /* a body is an error (unless empty) */
    API_BODY_JSON,     /* application/json, validated against `body` */
    API_BODY_RAW,      /* handler reads the bytes itself (content types in `content_types`) */
} api_body_kind_t;

typedef struct api_endpoint {
    const char *method; /* "GET", "POST", "PUT", "PATCH", "DELETE" */
    const char *path;   /* "/api/v1/agents/{id}" — params match one segment */
    const char *scope;  /* "agents:read", "admin", or API_SCOPE_PUBLIC */
    const char *summary;
    const char *tag;           /* OpenAPI tag (domain) */
    const api_field_t *params; /* path parameters */
    const api_field_t *query;
    api_body_kind_t body_kind;
    const api_field_t *body;          /* API_BODY_JSON: fields of the top-level object */
    const char *const *content_types; /* API_BODY_RAW: accepted types, NULL-terminated */
    const char *response;             /* description of the success reply for OpenAPI */
    int status;                       /* success status (200 default, 201, 202, 204) */
    bool streaming;                   /* replies with api_reply_stream (SSE) */
    bool no_audit;                    /* mutating but not worth an audit row (e.g. ingest) */
    api_handler_fn handler;
    void *ctx;
} api_endpoint_t;

#define API_SCOPE_PUBLIC "public"

/* ---- what a transport hands in ---------------------------------------------------------- */

typedef struct api_call {
    const char *transport; /* "http", "zmq", ... (for logs and metrics) */
    const char *method;
    const char *path;         /* decoded path without the query */
    const char *query;        /* raw query string without '?', may be NULL */
    json_t *query_obj;        /* alternatively an object of query values (ZMQ); borrowed */
    const char *content_type; /* may be NULL */
    const char *body;         /* raw body bytes, may be NULL */
    size_t body_len;          /* their length; with body_decode, the encoded body's length */
    json_t *body_json;        /* alternatively an already-decoded body; borrowed */
    /* or a body the transport decodes only when the endpoint looks at it, after routing and
     * the auth hook, so that no request that is refused there costs a decode (ZMQ): a new
     * reference, or NULL with *p set; called at most once, inside api_dispatch */
    json_t *(*body_decode)(void *transport_ctx, size_t max_depth, problem_t **p);
    const char *request_id; /* from the client, or NULL to generate */
    /* A W3C traceparent the transport read outside its headers (ZMQ's envelope), or NULL to
     * look it up through `header`; a malformed one starts a new trace. */
    const char *traceparent;
    const char *peer; /* client address for logs and audit */
    /* The credential the transport read (a JWT or an API key), or NULL: HTTP's Bearer or
     * X-Api-Key, ZMQ's envelope token. Borrowed, valid until the reply, like transport_ctx. */
    const char *credential;
    /* Why a credential the client sent cannot be used (a non-Bearer Authorization), or NULL. */
    const char *credential_error;
    /* header lookup (Last-Event-ID, ...); may be NULL */
    const char *(*header)(void *transport_ctx, const char *name);
    void *transport_ctx;
    /* The form a JSON reply body is wanted in: false (HTTP, ZMQ's JSON envelope) — its compact
     * text, api_reply_t.json_text; true (ZMQ's MessagePack envelope) — the value,
     * api_reply_t.json, which the transport encodes itself. The registry produces that form
     * once from whatever the handler gave; the transport does not convert. */
    bool want_value;
} api_call_t;

/* The reply delivered to the transport: a JSON body (json_text, or json when the call set
 * want_value — in the form asked for, and possibly also the other), a raw body (raw), or a
 * stream; an empty reply has raw "" of length 0. */
typedef struct api_reply {
    int status;
    /* The registry's answer to "replied yet?", the one place it is kept: true when this reply
     * is delivered while api_dispatch still runs (which then returns NULL). The transport keeps
     * its request context alive until api_dispatch returns and releases it there; when false
     * (a later reply), the callback is the context's last use. */
    bool in_dispatch;
    json_t *json;          /* the JSON value; borrowed for the callback */
    const char *json_text; /* its compact text; borrowed for the callback */
    size_t json_text_len;
    const char *raw; /* raw bytes (metrics text) */
    size_t raw_len;
    const char *content_type; /* of raw; json implies application/json (or problem+json) */
    bool is_problem;
    bool stream; /* SSE: the transport subscribes to `stream_topics` on the bus */
    const char *stream_topics;
    uint64_t stream_after; /* replay events after this id (Last-Event-ID) */
    /* the stream's reader (api/api_owner.h), for the transport to copy and ask
     * api_event_visible per event; borrowed for the callback */
    const struct api_viewer *viewer;
    /* SSE: frames already formatted by the handler (a domain's own history, such as an agent's
     * output ring), sent after the bus replay and before live events. Borrowed. */
    const char *stream_prelude;
    size_t stream_prelude_len;
    const char *request_id;
    /* extra headers: name/value pairs */
    const char *const *headers;
    size_t nheaders;
} api_reply_t;

typedef void (*api_reply_fn)(const api_reply_t *reply, void *transport_ctx);

/* ---- registry --------------------------------------------------------------------------- */

api_registry_t *api_registry_new(struct hub *hub);
void api_registry_destroy(api_registry_t **reg);

/* Registers endpoints (the array must outlive the registry; usually static const). Aborts on a
 * duplicate method+path or a malformed pattern: these are programming errors. */
void api_register(api_registry_t *reg, const api_endpoint_t *eps, size_t n);

/* Calls fn(ud) when the registry is destroyed: state an *_api.c file keeps for its handlers
 * (a render cache) lives as long as the endpoints that use it. At most API_MAX_CLEANUPS;
 * -ENOSPC beyond. */
#define API_MAX_CLEANUPS 8
int api_registry_cleanup_add(api_registry_t *reg, void (*fn)(void *ud), void *ud);

size_t api_endpoint_count(const api_registry_t *reg);
const api_endpoint_t *api_endpoint_at(const api_registry_t *reg, size_t i);

/* The auth hook: called after routing, before validation. Returns NULL to allow or a problem
 * (401/403) to deny; may set the principal on the request. The default allows everything. */
typedef problem_t *(*api_auth_fn)(api_req_t *req, const api_endpoint_t *ep, void *ud);
void api_auth_hook_set(api_registry_t *reg, api_auth_fn fn, void *ud);

/* Called once per reply of a mutating request (for the audit log). */
typedef void (*api_audit_fn)(api_req_t *req, int status, void *ud);
void api_audit_hook_set(api_registry_t *reg, api_audit_fn fn, void *ud);
/* Spans of every request go to this exporter (borrowed; NULL = none). serve.c sets it. */
struct trace_export;
void api_trace_export_set(api_registry_t *reg, struct trace_export *x);

/* Whether a team of that name exists (set by auth, which holds the teams); without it every
 * name passes. Asked when a resource is created shared with a team. */
typedef bool (*api_team_fn)(const char *team, void *ud);
void api_team_hook_set(api_registry_t *reg, api_team_fn fn, void *ud);
bool api_req_team_exists(const api_req_t *req, const char *team);

/* Dispatches a call. The reply callback runs exactly once, possibly before this returns —
 * unless the transport cancels first. Returns the pending request when the handler will reply
 * later (keep it to cancel), or NULL when the reply has already been delivered (with
 * api_reply_t.in_dispatch set): NULL always means replied. The call's
 * strings need only live until this returns; the registry copies what it keeps. Headers are
 * looked up only while api_dispatch runs. */
api_req_t *api_dispatch(api_registry_t *reg, const api_call_t *call, api_reply_fn reply,
                        void *tctx);

/* The transport's client went away: the reply callback will not be called for this request
 * (the handler still replies, and the request is freed then). Loop thread only. */
void api_call_cancel(api_req_t *req);

/* Requests not yet replied to (for graceful shutdown and the in-flight gauge). */
size_t api_inflight(const api_registry_t *reg);

/* OpenAPI 3.1 document for every registered endpoint. New reference. */
json_t *api_openapi(const api_registry_t *reg);

/* ---- for handlers ----------------------------------------------------------------------- */

struct hub *api_req_hub(const api_req_t *req);
const api_endpoint_t *api_req_endpoint(const api_req_t *req);
const char *api_req_id(const api_req_t *req);
/* A traceparent for work the request starts (a spawned agent's TRACEPARENT): the request's
 * trace id with a new span id, "00-<32 hex>-<16 hex>-<2 hex>" and a NUL. */
void api_req_trace_child(api_req_t *req, char out[56]);
/* The request's trace id and its own span id in hex (for log lines). */
void api_req_trace_ids(const api_req_t *req, char trace_id[33], char span_id[17]);
/* The concrete request path as received (decoded, without the query). */
const char *api_req_path(const api_req_t *req);
const char *api_req_method(const api_req_t *req);
const char *api_req_peer(const api_req_t *req);
const char *api_req_transport(const api_req_t *req);
const char *api_req_header(const api_req_t *req, const char *name);
/* The call's credential and credential_error (see api_call_t), valid until the reply. */
const char *api_req_credential(const api_req_t *req);
const char *api_req_credential_error(const api_req_t *req);
bool api_req_cancelled(const api_req_t *req);

/* Validated inputs: path params and query are objects with values of their declared types
 * (defaults applied); body is the validated JSON (or NULL). Borrowed. */
json_t *api_req_params(const api_req_t *req);
json_t *api_req_query(const api_req_t *req);
json_t *api_req_body(const api_req_t *req);
const char *api_req_raw_body(const api_req_t *req, size_t *len, const char **content_type);

const char *api_req_param_str(const api_req_t *req, const char *name);
int64_t api_req_param_int(const api_req_t *req, const char *name);
const char *api_req_query_str(const api_req_t *req, const char *name); /* NULL if absent */
int64_t api_req_query_int(const api_req_t *req, const char *name, int64_t def);
bool api_req_query_bool(const api_req_t *req, const char *name, bool def);
/* An RFC 3339 date-time query value as epoch milliseconds. Returns true when present and valid;
 * when present but not a date-time, adds a field error to *p (creating the 422 problem). */
bool api_req_query_time(const api_req_t *req, const char *name, int64_t *ms, problem_t **p);

/* The principal set by the auth hook ("anonymous" until the security module sets it). */
const char *api_req_principal(const api_req_t *req);
void api_req_principal_set(api_req_t *req, const char *principal);
/* The caller's role ("admin", "agent" ...) as the auth hook found it; "" without auth. Domains
 * use it to confine a role's view (an agent key sees only its own memory records). */
const char *api_req_role(const api_req_t *req);
void api_req_role_set(api_req_t *req, const char *role);
/* The caller's teams as the auth hook found them: names separated by ',', "" when none.
 * Ownership decisions read them through api/api_owner.h. */
const char *api_req_teams(const api_req_t *req);
void api_req_teams_set(api_req_t *req, const char *teams);

/* Extra response header for the coming reply (copied); a later value of the same name replaces
 * it, except Set-Cookie, of which each call adds one. */
void api_reply_header(api_req_t *req, const char *name, const char *value);
/* Replies (each frees the request afterwards; do not touch req again). json is stolen. */
void api_reply_json(api_req_t *req, int status, json_t *json);
void api_reply_problem(api_req_t *req, problem_t *p); /* p is destroyed */
void api_reply_raw(api_req_t *req, int status, const char *content_type, char *buf, size_t len);
/* Replies with JSON the handler already holds as compact text (what json_dumpb gives with
 * JSON_COMPACT): transports send the bytes as they are, with Content-Type application/json.
 * text is borrowed for the call (a cached rendering need not be copied). */
void api_reply_json_text(api_req_t *req, int status, const char *text, size_t len);
/* Replies with a value the handler keeps rendered both ways (a render cache): value and its
 * compact text, both borrowed for the call, so that neither form is rebuilt for any
 * transport. */
void api_reply_json_rendered(api_req_t *req, int status, const json_t *value, const char *text,
                             size_t len);
void api_reply_empty(api_req_t *req, int status);
void api_reply_stream(api_req_t *req, const char *topics, uint64_t after_id);
/* Like api_reply_stream(after_id 0), first sending `prelude` (SSE frames, taken and freed; keep
 * it well under 1 MiB). Nothing published between this call and the first live event is lost:
 * the subscription starts within the call. */
void api_reply_stream_prelude(api_req_t *req, const char *topics, char *prelude, size_t len);

#endif
