/* The MQTT transport. libmosquitto runs without a thread of its own: its socket is watched by a
 * uv_poll (readable, and writable while it has bytes queued), a 1 s timer runs its keep-alive
 * work, and a lost connection is retried from a second timer with a doubling delay. Requests
 * become api_call_t for the registry, exactly as on HTTP and ZMQ. */
#include "net/mqtt_server.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <mqtt_protocol.h>
#include <uv.h>

#include "api/api.h"
#include "core/bus.h"
#include "core/config.h"
#include "core/hub.h"
#include "core/jsonx.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/strbuf.h"
#include "net/mqtt_dl.h"
#include "net/zmq_codec.h"
#include "net/zmq_envelope.h"

#define MQTT_TOPIC_MAX       1024 /* a response topic we reply to, and every topic we build */
#define MQTT_CORR_MAX        256  /* correlation data echoed back */
#define MQTT_RETRY_FIRST_MS  200
#define MQTT_RETRY_MAX_MS    5000
#define MQTT_MISC_PERIOD_MS  1000
#define MQTT_DEFAULT_PORT    1883
#define MQTT_DEFAULT_TLSPORT 8883
/* Bytes handed to libmosquitto while its socket has not drained: past this, replies and events
 * are dropped (and counted) instead of queueing without bound behind a broker that stalls. */
#define MQTT_BACKLOG_MAX (16u * 1024 * 1024)

/* Topics that stand for one endpoint (the names Jamey's agents publish on): the payload is an
 * envelope without method and path, which come from this table. */
static const struct mqtt_route {
    const char *suffix; /* after "<prefix>/" */
    const char *method;
    const char *path;
} mqtt_routes[] = {
    {"conscience/evaluate", "POST", "/api/v1/guard/evaluate"},
    {"memory/store", "POST", "/api/v1/memory/records"},
    {"memory/query", "POST", "/api/v1/memory/search"},
};
#define MQTT_NROUTES (sizeof mqtt_routes / sizeof mqtt_routes[0])

/* The poll of one connection's socket; a new socket gets a new poll (freed by its close). */
typedef struct mqtt_poll {
    uv_poll_t h;
    struct mqtt_server *srv;
} mqtt_poll_t;

/* One request from dispatch to reply. */
typedef struct mqtt_rq {
    struct mqtt_server *srv;
    struct mqtt_rq *prev, *next; /* pending list (later replies only) */
    api_req_t *req;
    json_t *id;
    zmq_codec_enc_t enc;
    int qos;
    const zmq_envelope_t *env; /* while api_dispatch runs, for the body */
    char *token;
    char *reply_topic;
    void *corr;
    size_t corr_len;
} mqtt_rq_t;

struct mqtt_server {
    hub_t *hub;
    struct mosquitto *mosq;
    mqtt_poll_t *poll;
    int poll_fd;
    uv_timer_t misc_timer, retry_timer;
    int holds; /* the server and its handles still closing */
    bool connected, ever_connected, connect_called, quiescing;
    uint64_t retry_ms;
    char host[256];
    int port;
    bool tls;
    const char *prefix;
    size_t max_message;
    bus_sub_t *bus_sub;
    mqtt_rq_t *pending;
    size_t inflight;
    strbuf_t scratch;
    size_t backlog; /* bytes published since the socket last had nothing queued */
    /* counters for /metrics */
    uint64_t requests, replies, malformed, reconnects, events_out;
    uint64_t drop_malformed, drop_oversize, drop_offline, drop_events, drop_backlog;
};

/* ---- metrics ---------------------------------------------------------------------------- */

static void mqtt_metrics_collect(strbuf_t *out, void *ud)
{
    hub_t *hub = ud;
    mqtt_server_t *s = hub->mqtt;
    if (!s)
        return;
    strbuf_printf(
        out,
        "# HELP ganglion_mqtt_requests_total Requests received over MQTT.\n"
        "# TYPE ganglion_mqtt_requests_total counter\n"
        "ganglion_mqtt_requests_total %llu\n"
        "# HELP ganglion_mqtt_replies_total Replies published over MQTT.\n"
        "# TYPE ganglion_mqtt_replies_total counter\n"
        "ganglion_mqtt_replies_total %llu\n"
        "# HELP ganglion_mqtt_malformed_total Malformed MQTT requests (answered when "
        "they carried an id, else dropped).\n"
        "# TYPE ganglion_mqtt_malformed_total counter\n"
        "ganglion_mqtt_malformed_total %llu\n"
        "# HELP ganglion_mqtt_reconnects_total Connections to the broker re-established.\n"
        "# TYPE ganglion_mqtt_reconnects_total counter\n"
        "ganglion_mqtt_reconnects_total %llu\n"
        "# HELP ganglion_mqtt_connected 1 while connected to the broker.\n"
        "# TYPE ganglion_mqtt_connected gauge\n"
        "ganglion_mqtt_connected %d\n"
        "# HELP ganglion_mqtt_dropped_total MQTT messages dropped, by reason.\n"
        "# TYPE ganglion_mqtt_dropped_total counter\n"
        "ganglion_mqtt_dropped_total{reason=\"malformed\"} %llu\n"
        "ganglion_mqtt_dropped_total{reason=\"oversize\"} %llu\n"
        "ganglion_mqtt_dropped_total{reason=\"offline\"} %llu\n"
        "ganglion_mqtt_dropped_total{reason=\"event\"} %llu\n"
        "ganglion_mqtt_dropped_total{reason=\"backlog\"} %llu\n"
        "# HELP ganglion_mqtt_inflight_requests MQTT requests not yet answered.\n"
        "# TYPE ganglion_mqtt_inflight_requests gauge\n"
        "ganglion_mqtt_inflight_requests %zu\n"
        "# HELP ganglion_mqtt_events_published_total Bus events published over MQTT.\n"
        "# TYPE ganglion_mqtt_events_published_total counter\n"
        "ganglion_mqtt_events_published_total %llu\n",
        (unsigned long long)s->requests, (unsigned long long)s->replies,
        (unsigned long long)s->malformed, (unsigned long long)s->reconnects, s->connected ? 1 : 0,
        (unsigned long long)s->drop_malformed, (unsigned long long)s->drop_oversize,
        (unsigned long long)s->drop_offline, (unsigned long long)s->drop_events,
        (unsigned long long)s->drop_backlog, s->inflight, (unsigned long long)s->events_out);
}

/* ---- the socket on the loop -------------------------------------------------------------- */

static void mqtt_sync(mqtt_server_t *s);

static void mqtt_release(mqtt_server_t *s)
{
    if (--s->holds == 0) {
        strbuf_free(&s->scratch);
        free(s);
    }
}

static void mqtt_poll_close_cb(uv_handle_t *h)
{
    mqtt_poll_t *p = h->data;
    mqtt_server_t *s = p->srv;
    free(p);
    mqtt_release(s);
}

static void mqtt_poll_drop(mqtt_server_t *s)
{
    if (!s->poll)
        return;
    uv_poll_stop(&s->poll->h);
    uv_close((uv_handle_t *)&s->poll->h, mqtt_poll_close_cb);
    s->poll = NULL;
    s->poll_fd = -1;
}

static void mqtt_on_poll(uv_poll_t *h, int status, int events)
{
    mqtt_server_t *s = ((mqtt_poll_t *)h->data)->srv;
    if (status < 0 || (events & UV_READABLE))
        lmosq->mosquitto_loop_read(s->mosq, 1);
    if (lmosq->mosquitto_socket(s->mosq) >= 0 && (events & UV_WRITABLE))
        lmosq->mosquitto_loop_write(s->mosq, 1);
    mqtt_sync(s);
}

static void mqtt_on_retry(uv_timer_t *t);

/* The connection is gone: forget its poll, stop following the bus, try again later. */
static void mqtt_lost(mqtt_server_t *s)
{
    if (s->connected) {
        s->connected = false;
        log_warn(NULL, "mqtt: connection to the broker lost; reconnecting", "{s:s,s:i}", "host",
                 s->host, "port", s->port);
    }
    if (!uv_is_active((uv_handle_t *)&s->retry_timer)) {
        uv_timer_start(&s->retry_timer, mqtt_on_retry, s->retry_ms, 0);
        s->retry_ms = s->retry_ms * 2 > MQTT_RETRY_MAX_MS ? MQTT_RETRY_MAX_MS : s->retry_ms * 2;
    }
}

/* After every call into libmosquitto: follow its socket (it may have closed it, or opened a new
 * one) and watch for writability only while it has bytes queued. */
static void mqtt_sync(mqtt_server_t *s)
{
    int fd = lmosq->mosquitto_socket(s->mosq);
    if (fd != s->poll_fd)
        mqtt_poll_drop(s);
    if (fd < 0) {
        mqtt_lost(s);
        return;
    }
    if (!s->poll) {
        mqtt_poll_t *p = calloc(1, sizeof *p);
        if (!p || uv_poll_init(s->hub->loop, &p->h, fd) < 0) {
            free(p);
            log_error(NULL, "mqtt: cannot watch the broker connection", NULL);
            return;
        }
        p->srv = s;
        p->h.data = p;
        s->poll = p;
        s->poll_fd = fd;
        s->holds++;
        if (s->quiescing)
            uv_unref((uv_handle_t *)&p->h);
    }
    bool queued = lmosq->mosquitto_want_write(s->mosq);
    if (!queued)
        s->backlog = 0;
    int ev = UV_READABLE | (queued ? UV_WRITABLE : 0);
    uv_poll_start(&s->poll->h, ev, mqtt_on_poll);
}

static void mqtt_on_retry(uv_timer_t *t)
{
    mqtt_server_t *s = t->data;
    int rc = s->connect_called ? lmosq->mosquitto_reconnect_async(s->mosq)
                               : lmosq->mosquitto_connect_async(s->mosq, s->host, s->port,
                                                                (int)s->hub->cfg.mqtt_keepalive);
    s->connect_called = true;
    if (rc != MOSQ_ERR_SUCCESS)
        log_debug(NULL, "mqtt: connect attempt failed", "{s:s,s:s}", "host", s->host, "reason",
                  rc == MOSQ_ERR_ERRNO ? strerror(errno) : lmosq->mosquitto_strerror(rc));
    mqtt_sync(s);
}

static void mqtt_on_misc(uv_timer_t *t)
{
    mqtt_server_t *s = t->data;
    if (s->poll) {
        lmosq->mosquitto_loop_misc(s->mosq);
        mqtt_sync(s);
    }
}

/* ---- publishing ------------------------------------------------------------------------- */

/* Publishes payload on topic, with correlation data when given, or drops it and counts the drop
 * in *dropped (the caller's reason) — or in drop_backlog when the broker is not keeping up. */
static void mqtt_publish(mqtt_server_t *s, const char *topic, const void *corr, size_t corr_len,
                         const void *buf, size_t len, int qos, uint64_t *dropped, uint64_t *sent)
{
    if (!s->connected || len > INT32_MAX) {
        (*dropped)++;
        return;
    }
    if (s->backlog + len > MQTT_BACKLOG_MAX) {
        s->drop_backlog++;
        return;
    }
    mosquitto_property *props = NULL;
    if (corr && lmosq->mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, corr,
                                                     (uint16_t)corr_len) != MOSQ_ERR_SUCCESS) {
        lmosq->mosquitto_property_free_all(&props);
        (*dropped)++;
        return;
    }
    int rc = lmosq->mosquitto_publish_v5(s->mosq, NULL, topic, (int)len, buf, qos, false, props);
    lmosq->mosquitto_property_free_all(&props);
    s->backlog += len;
    mqtt_sync(s);
    (*(rc == MOSQ_ERR_SUCCESS ? sent : dropped))++;
}

static void mqtt_on_event(bus_event_t *ev, void *ud)
{
    mqtt_server_t *s = ud;
    char topic[MQTT_TOPIC_MAX];
    int n = snprintf(topic, sizeof topic, "%s/events/%s", s->prefix, ev->topic);
    if (n < 0 || (size_t)n >= sizeof topic) {
        s->drop_events++;
        return;
    }
    /* bus segments become topic levels; MQTT's wildcards cannot appear in a topic name */
    for (char *c = topic + strlen(s->prefix) + 8; *c; c++)
        *c = *c == '.' ? '/' : (*c == '+' || *c == '#') ? '_' : *c;
    mqtt_publish(s, topic, NULL, 0, ev->data, ev->data_len, (int)s->hub->cfg.mqtt_qos_events,
                 &s->drop_events, &s->events_out);
}

/* ---- replies ---------------------------------------------------------------------------- */

/* Encodes {id, status, body[, headers]} in enc and publishes it to the request's reply topic. */
static void mqtt_reply_value(mqtt_server_t *s, const char *topic, const void *corr, size_t corr_len,
                             int qos, zmq_codec_enc_t enc, json_t *id, int status, json_t *body,
                             json_t *headers)
{
    json_t *env = json_object();
    if (!env)
        return;
    json_object_set(env, "id", id ? id : json_null());
    json_object_set_new(env, "status", json_integer(status));
    json_object_set(env, "body", body ? body : json_null());
    if (headers)
        json_object_set(env, "headers", headers);
    strbuf_reset(&s->scratch);
    if (zmq_codec_encode(enc, env, &s->scratch) < 0)
        log_warn(NULL, "mqtt: reply could not be encoded", NULL);
    else
        mqtt_publish(s, topic, corr, corr_len, s->scratch.data, s->scratch.len, qos,
                     &s->drop_offline, &s->replies);
    json_decref(env);
}

/* A problem found by the transport itself (bad envelope, 413, 503). p is destroyed. */
static void mqtt_problem_send(mqtt_server_t *s, const char *topic, const void *corr,
                              size_t corr_len, int qos, zmq_codec_enc_t enc, json_t *id,
                              const char *rid, const char *path, problem_t *p)
{
    if (rid && rid[0])
        problem_ext_set(p, "request_id", json_string(rid));
    json_t *body = problem_to_json(p, path);
    mqtt_reply_value(s, topic, corr, corr_len, qos, enc, id, problem_status(p), body, NULL);
    json_decref(body);
    problem_destroy(&p);
}

static void mqtt_rq_free(mqtt_rq_t *rq)
{
    json_decref(rq->id);
    free(rq->token);
    free(rq->reply_topic);
    free(rq->corr);
    free(rq);
}

static void mqtt_pending_unlink(mqtt_rq_t *rq)
{
    mqtt_server_t *s = rq->srv;
    if (rq->prev)
        rq->prev->next = rq->next;
    else
        s->pending = rq->next;
    if (rq->next)
        rq->next->prev = rq->prev;
    rq->prev = rq->next = NULL;
    s->inflight--;
}

/* The JSON reply written as text: a handler's JSON text is copied, not parsed again. */
static void mqtt_reply_json(mqtt_server_t *s, mqtt_rq_t *rq, const api_reply_t *r, json_t **headers)
{
    strbuf_t *b = &s->scratch;
    strbuf_reset(b);
    char *id = json_dumps(rq->id, JSON_COMPACT | JSON_ENCODE_ANY);
    int rc =
        id ? strbuf_printf(b, "{\"id\":%s,\"status\":%d,\"body\":", id, r->status ? r->status : 200)
           : -1;
    free(id);
    if (r->json_text) {
        rc |= strbuf_append(b, r->json_text, r->json_text_len);
    } else {
        json_t *body = zmq_envelope_raw_body(r, headers);
        char *t = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        rc |= strbuf_puts(b, t ? t : "null");
        free(t);
        json_decref(body);
    }
    if (*headers) {
        char *h = json_dumps(*headers, JSON_COMPACT);
        rc |= h ? strbuf_printf(b, ",\"headers\":%s", h) : -1;
        free(h);
    }
    rc |= strbuf_append(b, "}", 1);
    if (rc < 0)
        log_warn(NULL, "mqtt: reply could not be encoded", NULL);
    else
        mqtt_publish(s, rq->reply_topic, rq->corr, rq->corr_len, b->data, b->len, rq->qos,
                     &s->drop_offline, &s->replies);
}

static void mqtt_on_reply(const api_reply_t *r, void *tctx)
{
    mqtt_rq_t *rq = tctx;
    mqtt_server_t *s = rq->srv;
    json_t *headers = NULL;
    for (size_t i = 0; i < r->nheaders; i++) {
        const char *name = r->headers[2 * i], *value = r->headers[2 * i + 1];
        if (name && value && (headers || (headers = json_object())))
            json_object_set_new(headers, name, json_string(value));
    }
    if (r->stream) {
        mqtt_problem_send(s, rq->reply_topic, rq->corr, rq->corr_len, rq->qos, rq->enc, rq->id,
                          r->request_id, NULL,
                          problem_new(400, "use-event-topics",
                                      "this endpoint streams events; over MQTT, subscribe to "
                                      "%s/events/# instead",
                                      s->prefix));
    } else if (rq->enc == ZMQ_CODEC_JSON) {
        mqtt_reply_json(s, rq, r, &headers); /* may add Content-Type: freed below */
    } else {
        json_t *body = r->json ? json_incref(r->json) : zmq_envelope_raw_body(r, &headers);
        mqtt_reply_value(s, rq->reply_topic, rq->corr, rq->corr_len, rq->qos, rq->enc, rq->id,
                         r->status ? r->status : 200, body, headers);
        json_decref(body);
    }
    json_decref(headers);
    if (r->in_dispatch)
        return; /* mqtt_dispatch frees rq when api_dispatch returns */
    mqtt_pending_unlink(rq);
    mqtt_rq_free(rq);
}

/* ---- requests --------------------------------------------------------------------------- */

static json_t *mqtt_body_decode(void *ctx, size_t max_depth, problem_t **p)
{
    mqtt_rq_t *rq = ctx;
    if (!rq->env) {
        *p = problem_new(500, "internal", "the request body is no longer held");
        return NULL;
    }
    return zmq_envelope_body(rq->env, max_depth, p);
}

/* Where a request's reply goes, and what it carries back. */
typedef struct mqtt_origin {
    const char *reply_topic;
    const void *corr;
    size_t corr_len;
    int qos;
    const char *peer;
} mqtt_origin_t;

/* Reads the envelope in buf and hands it to the registry; every message whose id can be read
 * is answered, whatever is wrong after it. */
static void mqtt_dispatch(mqtt_server_t *s, const mqtt_origin_t *o, const void *buf, size_t len)
{
    zmq_codec_enc_t enc;
    bool oversize = len > s->max_message;
    if (zmq_codec_detect(buf, len, &enc) < 0) {
        s->malformed++;
        s->drop_malformed++;
        return;
    }
    zmq_envelope_t env;
    problem_t *p = NULL;
    size_t depth = (size_t)s->hub->cfg.json_max_depth;
    if (zmq_envelope_read(enc, buf, len, depth, &env, &p) < 0) {
        s->malformed++;
        if (!env.id) {
            s->drop_malformed++;
            log_debug(NULL, "mqtt: message without a usable id dropped", "{s:s}", "reason",
                      p ? problem_detail(p) : "malformed");
            problem_destroy(&p);
            goto out;
        }
        if (!oversize) {
            mqtt_problem_send(s, o->reply_topic, o->corr, o->corr_len, o->qos, enc, env.id,
                              env.request_id, NULL, p);
            goto out;
        }
        problem_destroy(&p);
    }
    if (oversize) {
        p = problem_new(413, "payload-too-large",
                        "the MQTT message of %zu bytes exceeds the limit of %zu bytes", len,
                        s->max_message);
        problem_ext_set(p, "max_bytes", json_integer((json_int_t)s->max_message));
        mqtt_problem_send(s, o->reply_topic, o->corr, o->corr_len, o->qos, enc, env.id,
                          env.request_id, env.path[0] ? env.path : NULL, p);
        s->drop_oversize++;
        goto out;
    }
    if (s->quiescing) {
        p = problem_new(503, "shutting-down", "the daemon is shutting down");
        problem_header_set(p, "Retry-After", "1");
        mqtt_problem_send(s, o->reply_topic, o->corr, o->corr_len, o->qos, enc, env.id,
                          env.request_id, env.path, p);
        goto out;
    }
    mqtt_rq_t *rq = calloc(1, sizeof *rq);
    if (rq) {
        rq->reply_topic = strdup(o->reply_topic);
        rq->corr = o->corr ? malloc(o->corr_len) : NULL;
        rq->token = env.token ? strdup(env.token) : NULL;
    }
    if (!rq || !rq->reply_topic || (o->corr && !rq->corr) || (env.token && !rq->token)) {
        if (rq)
            mqtt_rq_free(rq);
        mqtt_problem_send(s, o->reply_topic, o->corr, o->corr_len, o->qos, enc, env.id,
                          env.request_id, env.path,
                          problem_new(503, "out-of-memory", "the request could not be held"));
        goto out;
    }
    rq->srv = s;
    rq->id = json_incref(env.id);
    rq->enc = enc;
    rq->qos = o->qos;
    if (o->corr) {
        memcpy(rq->corr, o->corr, o->corr_len);
        rq->corr_len = o->corr_len;
    }

    api_call_t call;
    memset(&call, 0, sizeof call);
    call.transport = "mqtt";
    call.method = env.method;
    call.path = env.path;
    call.query = env.raw_query;
    call.query_obj = env.query;
    call.body_decode = env.body_raw ? mqtt_body_decode : NULL;
    call.body_len = env.body_len;
    call.content_type = env.body_raw ? "application/json" : NULL;
    call.request_id = env.request_id[0] ? env.request_id : NULL;
    call.traceparent = env.traceparent[0] ? env.traceparent : NULL;
    call.peer = o->peer;
    call.credential = rq->token;
    call.transport_ctx = rq;
    call.want_value = enc != ZMQ_CODEC_JSON;

    rq->env = &env;
    api_req_t *req = api_dispatch(s->hub->api, &call, mqtt_on_reply, rq);
    rq->env = NULL;
    if (!req) {
        mqtt_rq_free(rq);
    } else {
        rq->req = req;
        rq->next = s->pending;
        if (s->pending)
            s->pending->prev = rq;
        s->pending = rq;
        s->inflight++;
    }
out:
    zmq_envelope_clear(&env);
}

/* A message on a mapped topic: its envelope gets the route's method and path, then goes the
 * common way. A payload that is not an object is dispatched as it is (and refused there). */
static void mqtt_dispatch_route(mqtt_server_t *s, const mqtt_origin_t *o,
                                const struct mqtt_route *rt, const void *buf, size_t len)
{
    zmq_codec_enc_t enc;
    problem_t *p = NULL;
    json_t *root = NULL;
    if (len <= s->max_message && zmq_codec_detect(buf, len, &enc) == 0) {
        jsonx_budget_t b;
        jsonx_budget_init(&b, len, (size_t)s->hub->cfg.json_max_depth);
        root = zmq_codec_decode_budget(enc, buf, len, &b, &p);
    }
    problem_destroy(&p);
    if (!json_is_object(root)) {
        json_decref(root);
        mqtt_dispatch(s, o, buf, len);
        return;
    }
    json_object_set_new(root, "method", json_string(rt->method));
    json_object_set_new(root, "path", json_string(rt->path));
    strbuf_t b;
    strbuf_init(&b, 0);
    if (zmq_codec_encode(enc, root, &b) == 0)
        mqtt_dispatch(s, o, b.data, b.len);
    else
        s->drop_malformed++;
    strbuf_free(&b);
    json_decref(root);
}

/* A response topic we may publish to: a topic name, not a filter. */
static bool mqtt_topic_ok(const char *t)
{
    size_t n = t ? strlen(t) : 0;
    return n > 0 && n < MQTT_TOPIC_MAX && !strpbrk(t, "+#");
}

static void mqtt_on_message(struct mosquitto *mosq, void *ud, const struct mosquitto_message *m,
                            const mosquitto_property *props)
{
    (void)mosq;
    mqtt_server_t *s = ud;
    size_t plen = strlen(s->prefix);
    if (!m->topic || strncmp(m->topic, s->prefix, plen) != 0 || m->topic[plen] != '/')
        return;
    const char *rest = m->topic + plen + 1;
    char reply[MQTT_TOPIC_MAX], peer[160];
    const struct mqtt_route *rt = NULL;
    if (strncmp(rest, "rpc/request/", 12) == 0 && rest[12] && !strchr(rest + 12, '/')) {
        snprintf(reply, sizeof reply, "%s/rpc/reply/%s", s->prefix, rest + 12);
        snprintf(peer, sizeof peer, "mqtt:%.120s", rest + 12);
    } else {
        for (size_t i = 0; i < MQTT_NROUTES && !rt; i++)
            if (strcmp(rest, mqtt_routes[i].suffix) == 0)
                rt = &mqtt_routes[i];
        if (!rt)
            return; /* our own replies and events, when a filter overlaps */
        snprintf(reply, sizeof reply, "%s/reply", m->topic);
        snprintf(peer, sizeof peer, "mqtt:%s", rt->suffix);
    }
    s->requests++;
    /* a larger message is not read at all; up to twice the limit still gets a 413 */
    size_t len = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;
    if (len > 2 * s->max_message) {
        s->drop_oversize++;
        return;
    }
    char *rtopic = NULL;
    void *corr = NULL;
    uint16_t corr_len = 0;
    lmosq->mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC, &rtopic, false);
    lmosq->mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &corr, &corr_len,
                                          false);
    if (corr && corr_len > MQTT_CORR_MAX) {
        free(corr);
        corr = NULL;
        corr_len = 0;
    }
    mqtt_origin_t o = {.reply_topic = mqtt_topic_ok(rtopic) ? rtopic : reply,
                       .corr = corr,
                       .corr_len = corr_len,
                       .qos = m->qos,
                       .peer = peer};
    if (rt)
        mqtt_dispatch_route(s, &o, rt, m->payload, len);
    else
        mqtt_dispatch(s, &o, m->payload, len);
    free(rtopic);
    free(corr);
}

static void mqtt_on_connect(struct mosquitto *mosq, void *ud, int rc)
{
    mqtt_server_t *s = ud;
    if (rc != 0) {
        log_warn(NULL, "mqtt: the broker refused the connection", "{s:s,s:s}", "host", s->host,
                 "reason", lmosq->mosquitto_connack_string(rc));
        return; /* the broker closes the socket; mqtt_sync sees it and retries */
    }
    s->connected = true;
    s->retry_ms = MQTT_RETRY_FIRST_MS;
    if (s->ever_connected)
        s->reconnects++;
    s->ever_connected = true;
    char topic[MQTT_TOPIC_MAX];
    snprintf(topic, sizeof topic, "%s/rpc/request/+", s->prefix);
    lmosq->mosquitto_subscribe(mosq, NULL, topic, 1);
    for (size_t i = 0; i < MQTT_NROUTES; i++) {
        snprintf(topic, sizeof topic, "%s/%s", s->prefix, mqtt_routes[i].suffix);
        lmosq->mosquitto_subscribe(mosq, NULL, topic, 1);
    }
    log_info(NULL, "mqtt: connected", "{s:s,s:i,s:s,s:b}", "host", s->host, "port", s->port,
             "prefix", s->prefix, "tls", s->tls);
}

/* ---- start and stop --------------------------------------------------------------------- */

/* mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (IPv6 in brackets). */
static int mqtt_url_parse(mqtt_server_t *s, const char *url, char *err, size_t errlen)
{
    const char *rest;
    if (strncmp(url, "mqtt://", 7) == 0) {
        rest = url + 7;
    } else if (strncmp(url, "mqtts://", 8) == 0) {
        rest = url + 8;
        s->tls = true;
    } else {
        snprintf(err, errlen, "mqtt.url: expected mqtt://HOST:PORT or mqtts://HOST:PORT");
        return -1;
    }
    if (strchr(rest, '@')) {
        /* kept out of the url, which is logged: mqtt.username and mqtt.password_file */
        snprintf(err, errlen,
                 "mqtt.url: give the user name as mqtt.username and the password as "
                 "mqtt.password_file, not in the url");
        return -1;
    }
    s->port = s->tls ? MQTT_DEFAULT_TLSPORT : MQTT_DEFAULT_PORT;
    const char *colon = NULL;
    if (rest[0] == '[') {
        const char *rb = strchr(rest, ']');
        if (!rb)
            goto bad;
        snprintf(s->host, sizeof s->host, "%.*s", (int)(rb - rest - 1), rest + 1);
        colon = rb[1] == ':' ? rb + 1 : NULL;
        if (!colon && rb[1] && strcmp(rb + 1, "/") != 0)
            goto bad;
    } else {
        colon = strrchr(rest, ':');
        size_t hl = colon ? (size_t)(colon - rest) : strcspn(rest, "/");
        if (hl == 0 || hl >= sizeof s->host || memchr(rest, '/', hl))
            goto bad;
        snprintf(s->host, sizeof s->host, "%.*s", (int)hl, rest);
    }
    if (colon) {
        char *e;
        long port = strtol(colon + 1, &e, 10);
        if (e == colon + 1 || port < 1 || port > 65535 || (*e && strcmp(e, "/") != 0))
            goto bad;
        s->port = (int)port;
    }
    if (s->host[0])
        return 0;
bad:
    snprintf(err, errlen, "mqtt.url: cannot read host and port in \"%s\"", url);
    return -1;
}

/* The password from mqtt.password or the first line of mqtt.password_file. */
static int mqtt_password(const config_t *cfg, char *out, size_t outlen, char *err, size_t errlen)
{
    snprintf(out, outlen, "%s", cfg->mqtt_password);
    if (!cfg->mqtt_password_file[0])
        return 0;
    FILE *f = fopen(cfg->mqtt_password_file, "r");
    if (!f || !fgets(out, (int)outlen, f)) {
        snprintf(err, errlen, "mqtt.password_file: cannot read %s: %s", cfg->mqtt_password_file,
                 f ? "empty file" : strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

static void mqtt_timer_close_cb(uv_handle_t *h)
{
    mqtt_release(h->data);
}

void mqtt_server_destroy(mqtt_server_t **sp)
{
    mqtt_server_t *s = sp ? *sp : NULL;
    if (!s)
        return;
    *sp = NULL;
    /* each request leaves s->pending before it is freed (rq->srv is s, which the analyzer
     * does not know: it reports a use after free) */
    while (s->pending) {
        mqtt_rq_t *rq = s->pending;
        mqtt_pending_unlink(rq); // NOLINT(clang-analyzer-unix.Malloc)
        api_call_cancel(rq->req);
        mqtt_rq_free(rq);
    }
    if (s->bus_sub)
        bus_unsubscribe(s->hub->bus, &s->bus_sub);
    mqtt_poll_drop(s);
    uv_close((uv_handle_t *)&s->misc_timer, mqtt_timer_close_cb);
    uv_close((uv_handle_t *)&s->retry_timer, mqtt_timer_close_cb);
    if (s->mosq) {
        if (s->connected)
            lmosq->mosquitto_disconnect(s->mosq); /* written at once: not inside a callback */
        lmosq->mosquitto_destroy(s->mosq);
        s->mosq = NULL;
    }
    uv_loop_t *loop = s->hub->loop;
    mqtt_release(s);
    uv_run(loop, UV_RUN_NOWAIT); /* runs the close callbacks, the last of which frees s */
}

int mqtt_server_start(hub_t *hub, mqtt_server_t **out, char *err, size_t errlen)
{
    *out = NULL;
    const config_t *cfg = &hub->cfg;
    if (!cfg->mqtt_url[0])
        return 0; /* libmosquitto stays unmapped */
    const char *pf = cfg->mqtt_prefix;
    if (!pf[0] || strpbrk(pf, "+#") || pf[0] == '/' || pf[strlen(pf) - 1] == '/') {
        snprintf(err, errlen,
                 "mqtt.prefix: \"%s\" must be topic levels without wildcards (+, #) or a "
                 "leading or trailing /",
                 pf);
        return -1;
    }
    if (cfg->mqtt_events[0] && !bus_pattern_valid(cfg->mqtt_events)) {
        snprintf(err, errlen, "mqtt.events: \"%s\" is not a list of bus topic patterns",
                 cfg->mqtt_events);
        return -1;
    }
    mqtt_server_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->hub = hub;
    s->prefix = cfg->mqtt_prefix;
    s->max_message = (size_t)cfg->mqtt_max_message;
    s->poll_fd = -1;
    s->retry_ms = MQTT_RETRY_FIRST_MS;
    strbuf_init(&s->scratch, 0);
    char password[256];
    if (mqtt_url_parse(s, cfg->mqtt_url, err, errlen) < 0 ||
        mqtt_password(cfg, password, sizeof password, err, errlen) < 0 ||
        mqtt_dl_load(err, errlen) < 0) {
        strbuf_free(&s->scratch);
        free(s);
        return -1;
    }
    s->holds = 3; /* the server, and its two timers until they close */
    uv_timer_init(hub->loop, &s->misc_timer);
    uv_timer_init(hub->loop, &s->retry_timer);
    s->misc_timer.data = s->retry_timer.data = s;

    char id[128];
    if (cfg->mqtt_client_id[0]) {
        snprintf(id, sizeof id, "%s", cfg->mqtt_client_id);
    } else {
        char host[64] = "host";
        gethostname(host, sizeof host - 1);
        snprintf(id, sizeof id, "ganglion-%.64s-%d", host, (int)getpid());
    }
    s->mosq = lmosq->mosquitto_new(id, true, s);
    if (!s->mosq) {
        snprintf(err, errlen, "mosquitto_new: %s", strerror(errno));
        goto fail;
    }
    lmosq->mosquitto_int_option(s->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    /* A reply follows the request's PUBACK at once: without this, Nagle holds it until the
     * broker's delayed ACK (tens of milliseconds per request). */
    lmosq->mosquitto_int_option(s->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    if (cfg->mqtt_username[0] &&
        lmosq->mosquitto_username_pw_set(s->mosq, cfg->mqtt_username,
                                         password[0] ? password : NULL) != MOSQ_ERR_SUCCESS) {
        snprintf(err, errlen, "mqtt.username: refused by libmosquitto");
        goto fail;
    }
    explicit_bzero(password, sizeof password);
    if (s->tls) {
        const char *ca = cfg->mqtt_ca_file[0] ? cfg->mqtt_ca_file : NULL;
        int rc = lmosq->mosquitto_tls_set(s->mosq, ca, ca ? NULL : "/etc/ssl/certs",
                                          cfg->mqtt_cert_file[0] ? cfg->mqtt_cert_file : NULL,
                                          cfg->mqtt_key_file[0] ? cfg->mqtt_key_file : NULL, NULL);
        if (rc != MOSQ_ERR_SUCCESS) {
            snprintf(err, errlen, "mqtt: TLS files (ca_file, cert_file, key_file) unusable: %s",
                     lmosq->mosquitto_strerror(rc));
            goto fail;
        }
    }
    lmosq->mosquitto_connect_callback_set(s->mosq, mqtt_on_connect);
    lmosq->mosquitto_message_v5_callback_set(s->mosq, mqtt_on_message);
    /* Events are followed from the start: those published while the broker is away are
     * counted as dropped rather than silently missed. */
    if (cfg->mqtt_events[0])
        s->bus_sub = bus_subscribe(hub->bus, cfg->mqtt_events, mqtt_on_event, s);
    metrics_collector_add(hub->metrics, mqtt_metrics_collect, hub);
    uv_timer_start(&s->misc_timer, mqtt_on_misc, MQTT_MISC_PERIOD_MS, MQTT_MISC_PERIOD_MS);
    uv_unref((uv_handle_t *)&s->misc_timer);
    log_info(NULL, "mqtt: connecting", "{s:s,s:i,s:s,s:s}", "host", s->host, "port", s->port,
             "client_id", id, "prefix", s->prefix);
    *out = s;
    mqtt_on_retry(&s->retry_timer); /* the first attempt, now */
    return 0;
fail:
    explicit_bzero(password, sizeof password);
    mqtt_server_destroy(&s);
    return -1;
}

void mqtt_server_quiesce(mqtt_server_t *s)
{
    if (!s)
        return;
    s->quiescing = true;
    if (s->bus_sub)
        bus_unsubscribe(s->hub->bus, &s->bus_sub);
    /* The connection stays up for the replies still to come, but no longer keeps the loop
     * running: the loop ends when the other transports and the domains are done. */
    if (s->poll)
        uv_unref((uv_handle_t *)&s->poll->h);
    uv_unref((uv_handle_t *)&s->retry_timer);
}
