/* What the watch domain's files share (streams, their queues, the store functions, ingest
 * parsing, signing); nothing outside src/watch/ includes it. Everything here is owned by the loop
 * thread, except a stream's detector, which belongs to its scoring job while one runs. */
#ifndef GANGLION_WATCH_INTERNAL_H
#define GANGLION_WATCH_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "api/api.h"
#include "core/problem.h"
#include "core/strbuf.h"
#include "store/retention.h"
#include "store/store.h"
#include "watch/cbad_pool.h"
#include "watch/cbad.h"
#include "watch/num_detect.h"

struct hub;
struct bus_sub;

#define WATCH_NAME_MAX      128    /* stream names: [A-Za-z0-9._:-], 1..128 */
#define WATCH_NAME_CHARS    "._-:" /* the characters of a name beyond letters and digits */
#define WATCH_JOB_EVENTS    4096   /* events one scoring job takes from a queue */
#define WATCH_TAGS_MAX      32
#define WATCH_TAG_LEN       64
#define WATCH_NOTES_MAX     8192
#define WATCH_META_MAX      8192 /* bytes of serialised metadata kept per anomaly */
#define WATCH_LIMIT_DEFAULT 50
#define WATCH_LIMIT_MAX     1000
#define WATCH_KEY_FILE      "watch-signing.key"
#define WATCH_INCIDENT_MAX  10000 /* anomalies in one incident: reviewing one stays bounded */

#define WATCH_RECENT_POINTS 256 /* numeric streams: the last points' scores kept for the API */

/* One value scored by the numeric detector. */
typedef struct watch_point {
    uint64_t index; /* among the values given to the stream's numeric detector */
    double value, score;
} watch_point_t;

/* One accepted event waiting to be scored. */
typedef struct watch_event {
    char *text; /* owned; the bytes fed to the detector (already redacted) */
    size_t len;
    double value; /* metrics streams: the number */
    bool has_value;
    int64_t ts_ms; /* the event's own time if it had one, else arrival */
    json_t *meta;  /* shared reference or NULL (OTLP resource/scope attributes) */
} watch_event_t;

/* One anomaly from the scoring job to the store and the bus, typed: the window's evidence, its
 * identity and times, the stream, the last event's metadata and, for a numeric stream, its
 * signals. watch_anomaly_json turns it into the API's object where it leaves the domain (the
 * stored row and the anomaly.created payload, built once). */
#define WATCH_INCIDENT_ID_MAX 32 /* "inc-" and 24 hex digits */
typedef struct watch_anomaly {
    cbad_result_t r; /* owned: evidence, explanation, samples */
    char id[37];     /* UUID v4 */
    char stream[WATCH_NAME_MAX + 1];
    cbad_stream_type_t type;
    int64_t ts_ms;      /* the last event's time */
    int64_t created_ms; /* when it was detected */
    json_t *meta;       /* one reference (taken on the loop thread) or NULL */
    bool numeric;       /* from the numeric detector: value and signals below */
    double value;
    num_point_t signals;
    char incident[WATCH_INCIDENT_ID_MAX + 1]; /* "" until watch_incident_assign_one */
} watch_anomaly_t;

/* A growable list of anomalies (owned by whoever holds the list). */
typedef struct watch_anomalies {
    watch_anomaly_t *v;
    size_t n, cap;
} watch_anomalies_t;

/* A zeroed slot at the end of l, or NULL when out of memory. */
watch_anomaly_t *watch_anomalies_add(watch_anomalies_t *l);
/* Frees every anomaly's result and metadata reference, then the list; safe on a zeroed list.
 * Loop thread (it drops metadata references). */
void watch_anomalies_free(watch_anomalies_t *l);
/* The API's object for a (new reference; NULL when out of memory). Any thread: it only reads
 * a->meta. */
json_t *watch_anomaly_json(const watch_anomaly_t *a);

typedef struct watch_stream {
    char name[WATCH_NAME_MAX + 1];
    char owner[96];           /* who created it ("user:alice"); "" = none: an admin's alone */
    char team[65];            /* the team it is shared with; "" = none */
    cbad_settings_t settings; /* effective: defaults overlaid with `overrides` */
    json_t *overrides;        /* the settings set explicitly over the API (object, owned) */
    int64_t created_ms, updated_ms;
    /* accepted, not yet scored: a ring of q_alloc slots that grows with the backlog up to q_cap
     * (watch.queue_events) and is given back when a drained backlog had made it large, so a
     * stream holds memory for the events it waits on, not for its throughput */
    watch_event_t *q;
    size_t q_head, q_len, q_alloc, q_cap;
    /* taken by the last job but not fed to the detector (the job stopped at an anomaly so that
     * it is announced at once): the next job scores them first. Owned; carry_n events. */
    watch_event_t *carry;
    size_t carry_n;
    bool busy;        /* a scoring job owns `det` */
    bool dead;        /* deleted while busy: freed when the job comes back */
    bool reconfigure; /* settings changed while busy: new detector when the job comes back */
    cbad_t *det;
    /* the numeric detector scoring the stream's values, per point: set when the stream's
     * `detector` setting is numeric, or auto on a metrics stream (watch.c) */
    num_detector_t *num;
    uint64_t num_points;                       /* values given to it so far */
    watch_point_t recent[WATCH_RECENT_POINTS]; /* the last points, point i at i % the size */
    int metric_slot; /* index of its own labels, or -1 for the "_other" series */
    char labels[WATCH_NAME_MAX * 2 + 16];
    /* the open incident: anomalies whose windows overlap or adjoin its last one (event indices of
     * this detector), or come within watch.incident_gap_s of it, join it (watch_incident.c) */
    char incident[48];
    int64_t incident_last_ms;
    uint64_t incident_last_event;
    uint32_t incident_count;    /* anomalies given to it since it opened (WATCH_INCIDENT_MAX) */
    bool incident_events_valid; /* false once the detector is rebuilt: indices start again */
    /* counters */
    uint64_t events_in, events_scored, windows_scored, anomalies, jobs;
    double score_seconds, last_score;
} watch_stream_t;

typedef struct watch {
    struct hub *hub;
    cbad_settings_t defaults;
    watch_stream_t **streams; /* unordered; bounded by cfg.watch_max_streams */
    size_t nstreams, cap_streams;
    size_t labelled; /* streams given their own metric labels so far */
    bool stopping;
    /* scratch contexts for cbad_job_run, shared by the pool's threads; at most one idle per
     * thread-pool thread (cbad_pool.h) */
    cbad_pool_t scratch;
    int jobs_running;
    /* the evidence signing key */
    unsigned char pk[32], sk[64];
    char key_id[17];
    /* totals */
    uint64_t events_in, windows_scored, anomalies, rejected;
} watch_t;

/* ---- streams (watch.c) ---- */
bool watch_name_valid(const char *name);
watch_stream_t *watch_stream_find(watch_t *w, const char *name);
/* Creates a stream with the defaults overlaid by `overrides` (borrowed, may be NULL). 0, or a
 * problem (bad settings 422, too many streams 429). */
problem_t *watch_stream_create(watch_t *w, const char *name, const char *type,
                               const json_t *overrides, watch_stream_t **out);
/* Applies new overrides (and type) to an existing stream. */
problem_t *watch_stream_update(watch_t *w, watch_stream_t *s, const char *type,
                               const json_t *overrides);
void watch_stream_remove(watch_t *w, watch_stream_t *s);
json_t *watch_stream_json(const watch_stream_t *s);
json_t *watch_settings_json(const cbad_settings_t *s);
/* {stream, detector, points_scored, points:[{index, value, score}]}: the numeric detector's
 * last WATCH_RECENT_POINTS scores, oldest first (none for a text stream). New reference. */
json_t *watch_stream_scores_json(const watch_stream_t *s);
/* Persists (upserts) a stream's definition in the background; failures are logged. */
void watch_stream_persist(watch_t *w, const watch_stream_t *s);
/* Free room in a stream's queue. */
size_t watch_stream_room(const watch_stream_t *s);
/* Makes the queue hold n more events without allocating in watch_stream_push (the caller
 * checked room first): 0, or -ENOMEM. */
int watch_stream_reserve(watch_stream_t *s, size_t n);
/* Moves ev into the queue (the caller reserved room). */
void watch_stream_push(watch_t *w, watch_stream_t *s, watch_event_t *ev);
void watch_stream_kick(watch_t *w, watch_stream_t *s);
void watch_event_clear(watch_event_t *ev);

/* ---- ingest (watch_ingest.c) ---- */
/* Secret-looking key names (password, token, api_key, authorization, cookie, ...). */
bool watch_key_secret(const char *key);
/* Replaces the values of secret-looking keys in place, recursively (objects and arrays). */
void watch_redact(json_t *v);
/* Converts one decoded event for stream s into ev. On a bad event returns -1 with *reason a
 * static sentence. */
int watch_event_from_json(const watch_stream_t *s, json_t *item, int64_t now_ms, watch_event_t *ev,
                          const char **reason);

/* One line of text (agents' output) as an event for stream s, taken as it is — no JSON on the
 * way: the same checks and bytes as a JSON string item holding the line. -1 with *reason. */
int watch_event_from_line(const watch_stream_t *s, const char *line, size_t len, int64_t now_ms,
                          watch_event_t *ev, const char **reason);

/* Splits a body into decoded items by content type (JSON value or array; NDJSON and text/plain
 * one per line). Lines that are not JSON become null items with their reason in *rejected
 * ({index, reason}). Too many events → 413 problem; a body that is not JSON → 400 problem. */
int watch_body_items(const char *body, size_t len, const char *ct, size_t max_depth,
                     size_t max_events, json_t **items, json_t **rejected, problem_t **p);
/* OTLP/HTTP JSON to {stream: {type, events:[{event, meta}]}}; *rejected counts records that
 * carried nothing usable, *why says why (the last one). */
int watch_otlp_logs(const json_t *root, int64_t now_ms, bool redact, json_t **out, size_t *rejected,
                    char *why, size_t whylen);
int watch_otlp_metrics(const json_t *root, int64_t now_ms, bool redact, json_t **out,
                       size_t *rejected, char *why, size_t whylen);
/* Spans: one event per span in otel.<service>.traces (docs/watch.md, "OpenTelemetry"). */
int watch_otlp_traces(const json_t *root, int64_t now_ms, bool redact, json_t **out,
                      size_t *rejected, char *why, size_t whylen);

/* The three OTLP signals ganglion ingests. */
typedef enum { WATCH_OTLP_LOGS, WATCH_OTLP_METRICS, WATCH_OTLP_TRACES } watch_otlp_signal_t;

/* OTLP protobuf (ExportLogsServiceRequest / ExportMetricsServiceRequest /
 * ExportTraceServiceRequest) to the JSON encoding's
 * shape; NULL when the bytes are not such a message. New reference. */
/* NULL when the body is malformed (400 bad-protobuf) or would make more values than its length
 * allows (413, the JSON value budget of core/jsonx.h); *p (when p is not NULL) says which. */
json_t *watch_otlp_pb_decode(const void *body, size_t len, watch_otlp_signal_t signal,
                             problem_t **p);

/* ---- persistence (watch_db.c; these run on the store's worker threads) ---- */
int watch_db_streams_load(store_conn_t *c, json_t **rows);
/* owner and team ("" = none) are written with the first row and never changed */
int watch_db_stream_upsert(store_conn_t *c, const char *name, const char *type,
                           const char *overrides_json, int64_t created_ms, int64_t updated_ms,
                           const char *owner, const char *team);
int watch_db_stream_delete(store_conn_t *c, const char *name);
int watch_db_anomaly_insert(store_conn_t *c, const json_t *a);
int watch_db_anomaly_get(store_conn_t *c, const char *id, json_t **out);
/* The streams a caller may see and change, for store jobs (watch_access.c): comma lists of
 * names, both NULL for an admin (everything). Anomalies and incidents follow their stream;
 * those of a deleted stream are left to admins. */
typedef struct watch_access {
    char *see, *act; /* owned */
} watch_access_t;
int watch_access_init(watch_t *w, const api_req_t *req, watch_access_t *a); /* 0, -ENOMEM */
void watch_access_free(watch_access_t *a);
/* 0 when the caller may see (act: change) what belongs to stream; 404 when it may not see it,
 * 403 when it may see but not change it. Pure: any thread. */
int watch_access_decide(const watch_access_t *a, const char *stream, bool act);
/* The SQL condition on a stream column against a list parameter ($N): names are letters,
 * digits and ._-: so only '_' needs escaping for LIKE. */
#define WATCH_ACCESS_SQL                                                                           \
    " AND ',' || CAST($%zu AS TEXT) || ',' LIKE '%%,' || REPLACE(stream, '_', '!_') || ',%%'"      \
    " ESCAPE '!'"
#define WATCH_ACCESS_SQL_1                                                                         \
    " AND ',' || CAST($1 AS TEXT) || ',' LIKE '%,' || REPLACE(stream, '_', '!_') || ',%'"          \
    " ESCAPE '!'"

typedef struct watch_filter {
    const char *stream_type, *status, *stream, *incident;
    const char *streams; /* the visible streams' list (watch_access_t.see); NULL = all */
    bool has_min_ncd, has_max_p, has_start, has_end, only_significant, has_created_since;
    double min_ncd, max_p;
    int64_t start_ms, end_ms, created_since_ms;
    int min_severity; /* 0 = any; else the rank of watch_severity_rank() it must reach */
    int limit;
    int64_t offset;
} watch_filter_t;
int watch_db_anomaly_list(store_conn_t *c, const watch_filter_t *f, json_t **out);
/* Updates status/notes/tags with optimistic concurrency on the old status. Returns 0, 1 when
 * the row is not there, 2 when its status moved meanwhile. */
int watch_db_anomaly_update(store_conn_t *c, const char *id, const char *old_status,
                            const json_t *a);
/* Anomalies by status, of the streams listed (NULL = all). */
int watch_db_status_counts(store_conn_t *c, const char *streams, json_t **out);

/* ---- workflow (watch_workflow.c) ---- */
/* pending, investigating, acknowledged, resolved, dismissed (NULL-terminated), in the order of
 * watch_status_rank: the most urgent first. */
extern const char *const watch_statuses[];
/* True when an anomaly may move from `from` to `to`. */
bool watch_transition_ok(const char *from, const char *to);
/* The statuses reachable from `from` (a new JSON array). */
json_t *watch_transitions_from(const char *from);
int watch_status_rank(const char *status);

enum { WATCH_REVIEW_NOT_FOUND, WATCH_REVIEW_REFUSED, WATCH_REVIEW_MOVED, WATCH_REVIEW_KEPT };
typedef struct watch_review {
    int outcome;   /* WATCH_REVIEW_* */
    char from[32]; /* the status found */
    json_t *out;   /* owned by the caller: the anomaly as stored (MOVED or KEPT), else NULL */
} watch_review_t;
/* Applies a review body {status, notes, tags, add_tags} to one anomaly inside the caller's
 * transaction (optimistic on the old status, retried a few times). Does not touch its
 * incident's row. 0 with rv filled, or a store error. */
int watch_review_apply(store_conn_t *c, const char *id, const json_t *patch, const char *principal,
                       watch_review_t *rv);

/* ---- incidents (watch_incident.c, watch_incident_db.c) ---- */
/* medium 1, high 2, critical 3, anything else 0. */
int watch_severity_rank(const char *severity);
/* Gives each new anomaly of stream s (in detection order; JSON objects) its incident_id: the
 * stream's open incident when the anomaly belongs to the same burst, else a new one. Loop thread.
 */
void watch_incident_assign(watch_t *w, watch_stream_t *s, json_t *anomalies);
/* The same for one typed anomaly: the grouping above, with its window's events and time. Writes
 * the incident's id to a->incident. */
void watch_incident_assign_one(watch_t *w, watch_stream_t *s, watch_anomaly_t *a);
/* Incident rows, on store worker threads. note: counts a just-inserted anomaly in its incident
 * (created when new; its status back to pending). refresh: the status recomputed from its
 * anomalies (the most urgent one's). */
int watch_db_incident_note(store_conn_t *c, const watch_anomaly_t *a);
int watch_db_incident_refresh(store_conn_t *c, const char *id);
int watch_db_incident_get(store_conn_t *c, const char *id, json_t **out);
typedef struct watch_ifilter {
    const char *stream, *status;
    const char *streams; /* the visible streams' list; NULL = all */
    int min_severity;
    int limit;
    int64_t offset;
} watch_ifilter_t;
int watch_db_incident_list(store_conn_t *c, const watch_ifilter_t *f, json_t **out);
int watch_db_incident_members(store_conn_t *c, const char *id, json_t **ids);
int watch_db_incident_notes_set(store_conn_t *c, const char *id, const char *notes);

/* ---- signing (watch_sign.c) ---- */
int watch_sign_key_load(watch_t *w, const char *data_dir, char *err, size_t errlen);
/* A new bundle {anomaly, exported_at, exported_by, signature{...}}; anomaly is borrowed. */
json_t *watch_bundle_make(const watch_t *w, const json_t *anomaly, const char *who, int64_t now_ms);

/* ---- endpoints (watch_api.c; the incidents' handlers in watch_incident.c) ---- */
void watch_metrics_collect(strbuf_t *out, void *ud);
void watch_api_incidents_list(api_req_t *req, void *ctx);
void watch_api_incident_get(api_req_t *req, void *ctx);
void watch_api_incident_patch(api_req_t *req, void *ctx);

/* Retention's purges (watch_retention.c), registered by watch_api.c; thread pool. */
int watch_retention_age(store_conn_t *c, retention_batch_t *b, void *ud);
int watch_retention_incidents(store_conn_t *c, retention_batch_t *b, void *ud);
int watch_retention_per_stream(store_conn_t *c, retention_batch_t *b, void *ud);
int watch_retention_resolve(store_conn_t *c, retention_batch_t *b, void *ud);

#endif
