/* The ZMQ transport. Each request frame becomes an api_call_t for the registry, exactly as the
 * HTTP transport does, so routing, auth, validation and problems are shared. libzmq sockets are
 * edge-triggered: ZMQ_FD only says "the socket's state may have changed", so every wake-up (and
 * every send made outside that wake-up) re-reads ZMQ_EVENTS and keeps receiving while ZMQ_POLLIN
 * is set — in bounded batches, the rest continued from a uv_idle handle so the loop stays fair. */
#include "net/zmq_server.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>
#include <zmq.h>

#include "api/api.h"
#include "core/bus.h"
#include "core/fmt.h"
#include "core/htab.h"
#include "core/hub.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/strbuf.h"
#include "net/zmq_auth.h"
#include "net/zmq_codec.h"
#include "net/zmq_dl.h"
#include "net/zmq_envelope.h"

#define ZSRV_BATCH          256 /* messages handled per loop iteration before yielding */
#define ZSRV_ENDPOINT_MAX   600 /* "tcp://HOST:PORT" */
#define ZSRV_CURVE_KEYS_MAX 10000
#define ZSRV_CURVE_FILE_MAX (1024 * 1024)
#define ZSRV_DEFAULT_LISTEN "127.0.0.1:7701"
#define ZSRV_DEFAULT_PUB    "127.0.0.1:7702"

/* A peer (ZMQ routing id) with requests in flight; freed when its count returns to zero. */
typedef struct zsrv_peer {
    size_t inflight;
    size_t idlen;
    unsigned char id[256];
} zsrv_peer_t;

/* One request from dispatch to reply. */
typedef struct zsrv_rq {
    struct zmq_server *srv;
    struct zsrv_rq *prev, *next; /* pending list (async replies only) */
    zsrv_peer_t *peer;
    api_req_t *req;
    json_t *id;
    zmq_codec_enc_t enc;
    bool delim;    /* the request came with an empty delimiter frame (REQ): mirror it */
    bool id_plain; /* the id came from the fast envelope reader (see zsrv_id_dump) */
    /* the envelope, with the body's undecoded bytes, while api_dispatch runs; NULL after */
    const zmq_envelope_t *env;
    bool has_token;
    char token[]; /* the envelope's token, kept until the reply (api_req_credential) */
} zsrv_rq_t;

struct zmq_server {
    hub_t *hub;
    void *ctx;
    void *router, *pub, *zap;
    uv_poll_t router_poll, pub_poll, zap_poll;
    uv_idle_t idle;
    bool router_poll_on, pub_poll_on, zap_poll_on, idle_init;
    int closing; /* handles still closing */
    bool quiescing;
    char rpc_ep[ZSRV_ENDPOINT_MAX], pub_ep[ZSRV_ENDPOINT_MAX];
    size_t max_message;
    htab_t *peers; /* zsrv_peer_t by routing id: peers with requests in flight */
    zsrv_rq_t *pending;
    size_t inflight;
    /* XPUB: the bus is followed only while some subscriber exists */
    size_t pub_prefixes;
    bus_sub_t *bus_sub;
    /* CURVE: the keypair and the clients' allow-list (zmq_auth.c); NULL when off */
    bool curve;
    zmq_auth_t *auth;
    /* counters for /metrics */
    uint64_t msgs_in, msgs_out, malformed, events_out;
    uint64_t drop_malformed, drop_oversize, drop_unroutable, drop_pub;
    strbuf_t scratch;
    /* Replies made while a batch is read are sent together at its end: a burst of sends
     * finds libzmq's I/O thread awake, instead of waking it (a syscall each) per reply. */
    bool batching;
    strbuf_t outbox;
};

/* One queued reply in the outbox: this header, the routing id, then the payload. */
typedef struct zsrv_out {
    size_t idlen, len;
    bool delim;
} zsrv_out_t;

/* ---- metrics ---------------------------------------------------------------------------- */

static void zsrv_metrics_collect(strbuf_t *out, void *ud)
{
    hub_t *hub = ud;
    zmq_server_t *s = hub->zmq;
    if (!s)
        return;
    strbuf_printf(out,
                  "# HELP ganglion_zmq_messages_in_total Request messages received on the ZMQ "
                  "RPC socket.\n# TYPE ganglion_zmq_messages_in_total counter\n"
                  "ganglion_zmq_messages_in_total %llu\n"
                  "# HELP ganglion_zmq_messages_out_total Reply messages sent on the ZMQ RPC "
                  "socket.\n# TYPE ganglion_zmq_messages_out_total counter\n"
                  "ganglion_zmq_messages_out_total %llu\n"
                  "# HELP ganglion_zmq_malformed_total Malformed ZMQ requests (answered when they "
                  "carried an id, else dropped).\n# TYPE ganglion_zmq_malformed_total counter\n"
                  "ganglion_zmq_malformed_total %llu\n"
                  "# HELP ganglion_zmq_dropped_total ZMQ messages dropped, by reason.\n"
                  "# TYPE ganglion_zmq_dropped_total counter\n"
                  "ganglion_zmq_dropped_total{reason=\"malformed\"} %llu\n"
                  "ganglion_zmq_dropped_total{reason=\"oversize\"} %llu\n"
                  "ganglion_zmq_dropped_total{reason=\"unroutable\"} %llu\n"
                  "ganglion_zmq_dropped_total{reason=\"pub_hwm\"} %llu\n"
                  "# HELP ganglion_zmq_inflight_requests ZMQ requests dispatched and not yet "
                  "answered.\n# TYPE ganglion_zmq_inflight_requests gauge\n"
                  "ganglion_zmq_inflight_requests %zu\n"
                  "# HELP ganglion_zmq_events_published_total Bus events sent on the ZMQ PUB "
                  "socket.\n# TYPE ganglion_zmq_events_published_total counter\n"
                  "ganglion_zmq_events_published_total %llu\n"
                  "# HELP ganglion_zmq_curve_auth_total CURVE handshakes by ZAP verdict.\n"
                  "# TYPE ganglion_zmq_curve_auth_total counter\n"
                  "ganglion_zmq_curve_auth_total{result=\"allowed\"} %llu\n"
                  "ganglion_zmq_curve_auth_total{result=\"denied\"} %llu\n",
                  (unsigned long long)s->msgs_in, (unsigned long long)s->msgs_out,
                  (unsigned long long)s->malformed, (unsigned long long)s->drop_malformed,
                  (unsigned long long)s->drop_oversize, (unsigned long long)s->drop_unroutable,
                  (unsigned long long)s->drop_pub, s->inflight, (unsigned long long)s->events_out,
                  (unsigned long long)zmq_auth_allowed_count(s->auth),
                  (unsigned long long)zmq_auth_denied_count(s->auth));
}

/* ---- peers ------------------------------------------------------------------------------ */

static const void *zsrv_peer_key(const void *item, size_t *len)
{
    const zsrv_peer_t *p = item;
    *len = p->idlen;
    return p->id;
}

static zsrv_peer_t *zsrv_peer_get(zmq_server_t *s, const void *id, size_t n)
{
    if (n > sizeof((zsrv_peer_t *)0)->id)
        return NULL;
    zsrv_peer_t *p = htab_get(s->peers, id, n);
    if (p)
        return p;
    p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    memcpy(p->id, id, n);
    p->idlen = n;
    if (htab_put(s->peers, p) < 0) {
        free(p);
        return NULL;
    }
    return p;
}

static void zsrv_peer_release(zmq_server_t *s, zsrv_peer_t *peer)
{
    if (--peer->inflight > 0)
        return;
    zsrv_peer_t *gone = htab_del(s->peers, peer->id, peer->idlen);
    assert(gone == peer);
    (void)gone;
    free(peer);
}

/* ---- sending ---------------------------------------------------------------------------- */

static void zsrv_schedule(zmq_server_t *s);

/* Sends [identity][""?][payload] without ever blocking the loop: ROUTER_MANDATORY turns a
 * vanished peer or a full pipe into an error we count instead of a silent loss or a wait. */
static void zsrv_send(zmq_server_t *s, const void *id, size_t idlen, bool delim, const void *buf,
                      size_t len)
{
    if (s->batching) {
        zsrv_out_t h = {.idlen = idlen, .len = len, .delim = delim};
        if (strbuf_append(&s->outbox, &h, sizeof h) == 0 &&
            strbuf_append(&s->outbox, id, idlen) == 0 && strbuf_append(&s->outbox, buf, len) == 0)
            return;
        s->drop_unroutable++; /* out of memory */
        return;
    }
    /* Only the routing id's frame can be refused (no such peer, or its pipe full); once it is
     * taken, the other frames go into the same pipe. A signal makes any of them fail with
     * EINTR, which zmq_dl_send retries: a frame given up then would drop the reply, or leave
     * the socket in the middle of a message that the next reply's frames would join. */
    if (zmq_dl_send(s->router, id, idlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        s->drop_unroutable++;
        return;
    }
    if ((delim && zmq_dl_send(s->router, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) ||
        zmq_dl_send(s->router, buf, len, ZMQ_DONTWAIT) < 0) {
        s->drop_unroutable++;
        return;
    }
    s->msgs_out++;
}

/* Encodes {id, status, body[, headers]} in enc and sends it. Consumes nothing. */
static void zsrv_reply_send(zmq_server_t *s, const void *pid, size_t pidlen, bool delim,
                            zmq_codec_enc_t enc, json_t *id, int status, json_t *body,
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
    if (zmq_codec_encode(enc, env, &s->scratch) == 0)
        zsrv_send(s, pid, pidlen, delim, s->scratch.data, s->scratch.len);
    else
        log_warn(NULL, "zmq: reply could not be encoded", NULL);
    json_decref(env);
}

/* A problem found by the transport itself (bad envelope, 413, 429). p is destroyed. */
static void zsrv_problem_send(zmq_server_t *s, const void *pid, size_t pidlen, bool delim,
                              zmq_codec_enc_t enc, json_t *id, const char *rid, const char *path,
                              problem_t *p)
{
    if (rid && rid[0])
        problem_ext_set(p, "request_id", json_string(rid));
    json_t *body = problem_to_json(p, path);
    json_t *headers = NULL;
    const char *name, *value;
    for (size_t i = 0; problem_header_at(p, i, &name, &value) == 0; i++) {
        if (!headers)
            headers = json_object();
        if (headers)
            json_object_set_new(headers, name, json_string(value));
    }
    zsrv_reply_send(s, pid, pidlen, delim, enc, id, problem_status(p), body, headers);
    json_decref(body);
    json_decref(headers);
    problem_destroy(&p);
}

/* ---- the registry's reply --------------------------------------------------------------- */

static void zsrv_rq_free(zsrv_rq_t *rq)
{
    zmq_server_t *s = rq->srv;
    if (rq->peer)
        zsrv_peer_release(s, rq->peer);
    json_decref(rq->id);
    free(rq);
}

static void zsrv_pending_unlink(zsrv_rq_t *rq)
{
    zmq_server_t *s = rq->srv;
    if (rq->prev)
        rq->prev->next = rq->next;
    else
        s->pending = rq->next;
    if (rq->next)
        rq->next->prev = rq->prev;
    rq->prev = rq->next = NULL;
    s->inflight--;
}

/* Appends v's compact JSON: json_dumpb straight into the buffer's spare room (jansson's callback
 * form costs a call per token), growing it once when the room is short. 0 or -1. */
static int zsrv_dump(strbuf_t *b, const json_t *v, size_t flags)
{
    size_t room = b->cap > b->len + 1 ? b->cap - b->len - 1 : 0;
    size_t n = json_dumpb(v, room ? b->data + b->len : NULL, room, flags);
    if (n == 0)
        return -1;
    if (n > room) {
        /* Rare: the reused buffer grows to the largest reply seen and stays there. */
        char *tmp = malloc(n);
        int rc = tmp && json_dumpb(v, tmp, n, flags) == n ? strbuf_append(b, tmp, n) : -1;
        free(tmp);
        return rc < 0 ? -1 : 0;
    }
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

/* The request's id as JSON: an integer's digits, or a string the fast envelope reader took
 * (printable ASCII without '"' or '\\', which jansson prints as it is) between quotes; any
 * other id through jansson. */
static int zsrv_id_dump(strbuf_t *b, const zsrv_rq_t *rq)
{
    if (json_is_integer(rq->id)) {
        char out[FMT_INT_MAX];
        size_t n = fmt_i64(out, (int64_t)json_integer_value(rq->id));
        return strbuf_append(b, out, n) < 0 ? -1 : 0;
    }
    if (rq->id_plain && json_is_string(rq->id)) {
        int rc = strbuf_append(b, "\"", 1);
        rc |= strbuf_append(b, json_string_value(rq->id), json_string_length(rq->id));
        rc |= strbuf_append(b, "\"", 1);
        return rc < 0 ? -1 : 0;
    }
    return zsrv_dump(b, rq->id, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* ,"status":<status>,"body": into out (48 bytes); returns the length. */
static size_t zsrv_status_text(char *out, int status)
{
    static const char head[] = ",\"status\":", tail[] = ",\"body\":";
    size_t n = sizeof head - 1;
    memcpy(out, head, n);
    n += fmt_i64(out + n, status);
    memcpy(out + n, tail, sizeof tail - 1);
    return n + sizeof tail - 1;
}

/* The JSON reply written straight into the scratch buffer: no envelope object is built, and a
 * handler's own JSON text (healthz) is copied rather than parsed and printed again. The bytes
 * are the same as zmq_codec_encode would give for {id, status, body[, headers]}. */
static void zsrv_reply_json_fast(zmq_server_t *s, zsrv_rq_t *rq, const api_reply_t *r,
                                 json_t **headers)
{
    strbuf_t *b = &s->scratch;
    strbuf_reset(b);
    int rc = strbuf_append(b, "{\"id\":", 6);
    rc |= zsrv_id_dump(b, rq);
    char st[48];
    rc |= strbuf_append(b, st, zsrv_status_text(st, r->status ? r->status : 200));
    /* a JSON body comes as text (the call did not set want_value): copied as it is */
    bool raw_json = !r->json_text && r->raw && r->raw_len && r->content_type &&
                    strcmp(r->content_type, "application/json") == 0;
    if (r->json_text) {
        rc |= strbuf_append(b, r->json_text, r->json_text_len);
    } else if (raw_json) {
        rc |= strbuf_append(b, r->raw, r->raw_len);
    } else {
        json_t *body = zmq_envelope_raw_body(r, headers);
        rc |=
            body ? zsrv_dump(b, body, JSON_COMPACT | JSON_ENCODE_ANY) : strbuf_append(b, "null", 4);
        json_decref(body);
    }
    if (*headers) {
        rc |= strbuf_append(b, ",\"headers\":", 11);
        rc |= zsrv_dump(b, *headers, JSON_COMPACT);
    }
    rc |= strbuf_append(b, "}", 1);
    if (rc == 0)
        zsrv_send(s, rq->peer->id, rq->peer->idlen, rq->delim, b->data, b->len);
    else
        log_warn(NULL, "zmq: reply could not be encoded", NULL);
}

static void zsrv_on_reply(const api_reply_t *r, void *tctx)
{
    zsrv_rq_t *rq = tctx;
    zmq_server_t *s = rq->srv;
    json_t *headers = NULL;
    for (size_t i = 0; i < r->nheaders; i++) {
        const char *name = r->headers[2 * i], *value = r->headers[2 * i + 1];
        if (!name || !value)
            continue;
        if (!headers)
            headers = json_object();
        if (headers)
            json_object_set_new(headers, name, json_string(value));
    }
    if (r->stream) {
        problem_t *p = problem_new(400, "use-pub-socket",
                                   "this endpoint streams events; over ZMQ, subscribe to the "
                                   "topics on the PUB socket instead");
        problem_ext_set(p, "pub", s->pub_ep[0] ? json_string(s->pub_ep) : json_null());
        zsrv_problem_send(s, rq->peer->id, rq->peer->idlen, rq->delim, rq->enc, rq->id,
                          r->request_id, NULL, p);
    } else if (rq->enc == ZMQ_CODEC_JSON) {
        zsrv_reply_json_fast(s, rq, r, &headers); /* may add Content-Type: freed below */
    } else {
        /* MessagePack: the registry handed the value (want_value), encoded here without a
         * JSON text in between */
        json_t *body = r->json ? json_incref(r->json) : zmq_envelope_raw_body(r, &headers);
        zsrv_reply_send(s, rq->peer->id, rq->peer->idlen, rq->delim, rq->enc, rq->id,
                        r->status ? r->status : 200, body, headers);
        json_decref(body);
    }
    json_decref(headers);
    if (r->in_dispatch)
        return; /* zsrv_handle frees rq when api_dispatch returns */
    zsrv_pending_unlink(rq);
    zsrv_rq_free(rq);
    /* A send outside a wake-up may have consumed the FD's edge: look at ZMQ_EVENTS again. */
    zsrv_schedule(s);
}

/* ---- receiving -------------------------------------------------------------------------- */

/* The registry asks for the body past routing and the auth hook: decoded only then. */
static json_t *zsrv_body_decode(void *ctx, size_t max_depth, problem_t **p)
{
    zsrv_rq_t *rq = ctx;
    if (!rq->env) { /* cannot happen: the registry decodes inside api_dispatch */
        *p = problem_new(500, "internal", "the request body is no longer held");
        return NULL;
    }
    return zmq_envelope_body(rq->env, max_depth, p);
}

/* Handles one size-checked message. The envelope is read without decoding its body; a reply
 * goes to every message whose id could be read, whatever is wrong after it. */
static void zsrv_handle(zmq_server_t *s, const unsigned char *pid, size_t pidlen, bool delim,
                        const char *peer_addr, const void *buf, size_t len, bool oversize)
{
    zmq_codec_enc_t enc;
    if (zmq_codec_detect(buf, len, &enc) < 0) {
        s->malformed++;
        s->drop_malformed++;
        return;
    }
    zmq_envelope_t env;
    problem_t *p = NULL;
    /* The usual request is read from its bytes directly; anything else (and every malformed
     * envelope) member by member, the body left as bytes. */
    if (enc != ZMQ_CODEC_JSON || zmq_envelope_parse_fast(buf, len, &env) != 0) {
        size_t depth = (size_t)s->hub->cfg.json_max_depth;
        if (zmq_envelope_read(enc, buf, len, depth, &env, &p) < 0) {
            s->malformed++;
            if (!env.id) {
                s->drop_malformed++;
                log_debug(NULL, "zmq: message without a usable id dropped", "{s:s}", "reason",
                          p ? problem_detail(p) : "malformed");
                problem_destroy(&p);
                goto out;
            }
            if (!oversize) {
                zsrv_problem_send(s, pid, pidlen, delim, enc, env.id, env.request_id, NULL, p);
                goto out;
            }
            problem_destroy(&p); /* an oversized message is answered 413, whatever else */
        }
    }
    if (oversize) {
        p = problem_new(413, "payload-too-large",
                        "the ZMQ message of %zu bytes exceeds the limit of %zu bytes", len,
                        s->max_message);
        problem_ext_set(p, "max_bytes", json_integer((json_int_t)s->max_message));
        zsrv_problem_send(s, pid, pidlen, delim, enc, env.id, env.request_id,
                          env.path[0] ? env.path : NULL, p);
        s->drop_oversize++;
        goto out;
    }
    zsrv_peer_t *peer = zsrv_peer_get(s, pid, pidlen);
    if (!peer) {
        zsrv_problem_send(s, pid, pidlen, delim, enc, env.id, env.request_id, env.path,
                          problem_new(503, "out-of-memory", "the request could not be held"));
        goto out;
    }
    size_t limit = (size_t)s->hub->cfg.zmq_max_inflight_per_peer;
    if (peer->inflight >= limit) {
        p = problem_new(429, "too-many-requests",
                        "more than %zu requests in flight on this connection; wait for replies",
                        limit);
        problem_header_set(p, "Retry-After", "1");
        zsrv_problem_send(s, pid, pidlen, delim, enc, env.id, env.request_id, env.path, p);
        goto out;
    }
    /* The request and its "Bearer <token>" header in one allocation. */
    size_t toklen = env.token ? strlen(env.token) : 0;
    zsrv_rq_t *rq = calloc(1, sizeof *rq + (env.token ? toklen + 1 : 0));
    if (!rq) {
        zsrv_problem_send(s, pid, pidlen, delim, enc, env.id, env.request_id, env.path,
                          problem_new(503, "out-of-memory", "the request could not be held"));
        if (peer->inflight == 0) {
            peer->inflight = 1;
            zsrv_peer_release(s, peer);
        }
        goto out;
    }
    rq->srv = s;
    rq->peer = peer;
    peer->inflight++;
    rq->id = json_incref(env.id);
    rq->id_plain = env.id_plain;
    rq->enc = enc;
    rq->delim = delim;
    if (env.token) {
        memcpy(rq->token, env.token, toklen + 1);
        rq->has_token = true;
    }

    api_call_t call;
    memset(&call, 0, sizeof call);
    call.transport = "zmq";
    call.method = env.method;
    call.path = env.path;
    call.query = env.raw_query;
    call.query_obj = env.query;
    call.body_decode = env.body_raw ? zsrv_body_decode : NULL;
    call.body_len = env.body_len;
    call.content_type = env.body_raw ? "application/json" : NULL;
    call.request_id = env.request_id[0] ? env.request_id : NULL;
    call.traceparent = env.traceparent[0] ? env.traceparent : NULL;
    call.peer = peer_addr;
    call.credential = rq->has_token ? rq->token : NULL;
    call.transport_ctx = rq;
    call.want_value = enc != ZMQ_CODEC_JSON;

    rq->env = &env;
    api_req_t *req = api_dispatch(s->hub->api, &call, zsrv_on_reply, rq);
    rq->env = NULL;
    if (!req) { /* replied inside the call (api_reply_t.in_dispatch) */
        zsrv_rq_free(rq);
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

/* Receives one multipart message, if any. Returns 1 when one was taken, 0 when none waited. */
static int zsrv_recv_one(zmq_server_t *s)
{
    zmq_msg_t parts[3];
    size_t n = 0, extra = 0;
    int more;
    do {
        zmq_msg_t m;
        lzmq->zmq_msg_init(&m);
        if (zmq_dl_msg_recv(&m, s->router, ZMQ_DONTWAIT) < 0) {
            lzmq->zmq_msg_close(&m);
            if (n == 0)
                return 0;
            break; /* cannot happen within a multipart message, but never loop on it */
        }
        more = lzmq->zmq_msg_more(&m);
        if (n < 3)
            parts[n++] = m;
        else {
            extra++;
            lzmq->zmq_msg_close(&m);
        }
    } while (more);
    s->msgs_in++;

    /* [identity][payload] from a DEALER, [identity][""][payload] from a REQ. */
    bool ok = extra == 0 && (n == 2 || (n == 3 && lzmq->zmq_msg_size(&parts[1]) == 0));
    if (!ok) {
        s->malformed++;
        s->drop_malformed++;
    } else {
        zmq_msg_t *payload = &parts[n - 1];
        const char *addr = lzmq->zmq_msg_gets(payload, "Peer-Address");
        size_t len = lzmq->zmq_msg_size(payload);
        zsrv_handle(s, lzmq->zmq_msg_data(&parts[0]), lzmq->zmq_msg_size(&parts[0]), n == 3,
                    addr ? addr : "zmq", lzmq->zmq_msg_data(payload), len, len > s->max_message);
    }
    for (size_t i = 0; i < n; i++)
        lzmq->zmq_msg_close(&parts[i]);
    return 1;
}

static bool zsrv_readable(void *sock)
{
    int ev = zmq_dl_events(sock);
    return ev > 0 && (ev & ZMQ_POLLIN);
}

static void zsrv_on_idle(uv_idle_t *h);

static void zsrv_outbox_flush(zmq_server_t *s)
{
    s->batching = false;
    size_t off = 0;
    while (off + sizeof(zsrv_out_t) <= s->outbox.len) {
        zsrv_out_t h;
        memcpy(&h, s->outbox.data + off, sizeof h);
        off += sizeof h;
        const char *id = s->outbox.data + off;
        const char *payload = id + h.idlen;
        zsrv_send(s, id, h.idlen, h.delim, payload, h.len);
        off += h.idlen + h.len;
    }
    if (s->outbox.cap > 4 * 1024 * 1024)
        strbuf_free(&s->outbox); /* do not keep a large reply's worth of memory around */
    else
        strbuf_reset(&s->outbox);
}

/* Drains up to ZSRV_BATCH messages; if more wait, continues on the next loop iteration from the
 * idle handle (which keeps the loop from blocking in epoll until then). Receiving until EAGAIN
 * processes the socket's pending commands, which is what ZMQ_EVENTS would do, without a
 * getsockopt per message; one ZMQ_EVENTS look at the end catches a state change made by the
 * replies sent meanwhile. */
static void zsrv_pump(zmq_server_t *s)
{
    if (s->quiescing || !s->router)
        return;
    int i = 0;
    s->batching = true;
    while (i < ZSRV_BATCH && zsrv_recv_one(s))
        i++;
    zsrv_outbox_flush(s);
    if (i == ZSRV_BATCH || zsrv_readable(s->router))
        uv_idle_start(&s->idle, zsrv_on_idle);
    else
        uv_idle_stop(&s->idle);
}

static void zsrv_on_idle(uv_idle_t *h)
{
    zsrv_pump(h->data);
}

static void zsrv_schedule(zmq_server_t *s)
{
    if (!s->quiescing && s->router)
        uv_idle_start(&s->idle, zsrv_on_idle);
}

static void zsrv_on_router_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    zsrv_pump(h->data);
}

/* ---- PUB -------------------------------------------------------------------------------- */

static void zsrv_on_event(bus_event_t *ev, void *ud)
{
    zmq_server_t *s = ud;
    if (zmq_dl_send(s->pub, ev->topic, strlen(ev->topic), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_dl_send(s->pub, ev->data, ev->data_len, ZMQ_DONTWAIT) < 0) {
        s->drop_pub++;
        return;
    }
    s->events_out++;
}

/* XPUB hands us (un)subscriptions: 0x01/0x00 then the prefix, one message per distinct prefix
 * coming or going. The bus is followed only while at least one prefix is subscribed. */
static void zsrv_pub_pump(zmq_server_t *s)
{
    for (int i = 0; i < ZSRV_BATCH && zsrv_readable(s->pub); i++) {
        zmq_msg_t m;
        lzmq->zmq_msg_init(&m);
        if (zmq_dl_msg_recv(&m, s->pub, ZMQ_DONTWAIT) < 0) {
            lzmq->zmq_msg_close(&m);
            break;
        }
        const unsigned char *d = lzmq->zmq_msg_data(&m);
        if (lzmq->zmq_msg_size(&m) >= 1 && d[0] == 1)
            s->pub_prefixes++;
        else if (lzmq->zmq_msg_size(&m) >= 1 && d[0] == 0 && s->pub_prefixes > 0)
            s->pub_prefixes--;
        lzmq->zmq_msg_close(&m);
    }
    if (s->pub_prefixes > 0 && !s->bus_sub && !s->quiescing)
        s->bus_sub = bus_subscribe(s->hub->bus, "*", zsrv_on_event, s);
    else if (s->pub_prefixes == 0 && s->bus_sub)
        bus_unsubscribe(s->hub->bus, &s->bus_sub);
}

static void zsrv_on_pub_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    zsrv_pub_pump(h->data);
}

/* ---- ZAP ------------------------------------------------------------------------------- */

static void zsrv_zap_pump(zmq_server_t *s)
{
    for (int i = 0; i < ZSRV_BATCH && zsrv_readable(s->zap); i++)
        zmq_auth_zap_answer(s->auth, s->zap);
}

static void zsrv_on_zap_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    zsrv_zap_pump(h->data);
}

/* ---- start and stop --------------------------------------------------------------------- */

/* "off" → "" ; "tcp://…" as is ; "HOST:PORT" → "tcp://HOST:PORT" (port 0 → any free port). */
static int zsrv_endpoint(const char *v, char *out, size_t outlen, bool *ipv6)
{
    *ipv6 = false;
    out[0] = '\0';
    if (!v[0] || strcasecmp(v, "off") == 0)
        return 0;
    if (strncmp(v, "tcp://", 6) == 0 || strncmp(v, "ipc://", 6) == 0) {
        snprintf(out, outlen, "%s", v);
        *ipv6 = strchr(v + 6, '[') != NULL;
        return 0;
    }
    char host[256];
    int port;
    if (config_split_hostport(v, host, sizeof host, &port) < 0 || port < 0 || port > 65535)
        return -1;
    *ipv6 = strchr(host, ':') != NULL;
    if (port == 0)
        snprintf(out, outlen, *ipv6 ? "tcp://[%s]:*" : "tcp://%s:*", host);
    else
        snprintf(out, outlen, *ipv6 ? "tcp://[%s]:%d" : "tcp://%s:%d", host, port);
    return 0;
}

static int zsrv_poll_start(zmq_server_t *s, void *sock, uv_poll_t *h, uv_poll_cb cb, bool *on)
{
    int fd;
    size_t sz = sizeof fd;
    if (lzmq->zmq_getsockopt(sock, ZMQ_FD, &fd, &sz) < 0)
        return -1;
    if (uv_poll_init(s->hub->loop, h, fd) < 0)
        return -1;
    h->data = s;
    *on = true;
    return uv_poll_start(h, UV_READABLE, cb) < 0 ? -1 : 0;
}

/* Creates, configures and binds one socket. Returns 0, 1 when a default address was busy (the
 * socket is then left out), or -1 with err filled. */
static int zsrv_open(zmq_server_t *s, int type, const char *cfgval, const char *dflt,
                     const char *what, void **sock, char *ep, char *err, size_t errlen)
{
    const config_t *cfg = &s->hub->cfg;
    bool ipv6;
    char want[ZSRV_ENDPOINT_MAX];
    if (zsrv_endpoint(cfgval, want, sizeof want, &ipv6) < 0) {
        snprintf(err, errlen, "zmq.%s: expected HOST:PORT, tcp://HOST:PORT or off, got \"%s\"",
                 what, cfgval);
        return -1;
    }
    if (!want[0])
        return 0;
    void *z = lzmq->zmq_socket(s->ctx, type);
    if (!z) {
        snprintf(err, errlen, "zmq_socket: %s", lzmq->zmq_strerror(lzmq->zmq_errno()));
        return -1;
    }
    int zero = 0, one = 1, hwm = (int)cfg->zmq_hwm;
    int64_t maxmsg = (int64_t)s->max_message * 2; /* up to twice the limit still gets a 413 */
    lzmq->zmq_setsockopt(z, ZMQ_LINGER, &zero, sizeof zero);
    lzmq->zmq_setsockopt(z, ZMQ_SNDHWM, &hwm, sizeof hwm);
    lzmq->zmq_setsockopt(z, ZMQ_RCVHWM, &hwm, sizeof hwm);
    lzmq->zmq_setsockopt(z, ZMQ_IPV6, &(int){ipv6 ? 1 : 0}, sizeof(int));
    if (type == ZMQ_ROUTER) {
        lzmq->zmq_setsockopt(z, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
        lzmq->zmq_setsockopt(z, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    } else {
        /* Subscribers send only subscriptions: a small cap keeps them small. */
        int64_t submax = 4096;
        lzmq->zmq_setsockopt(z, ZMQ_MAXMSGSIZE, &submax, sizeof submax);
    }
    if (s->curve) {
        lzmq->zmq_setsockopt(z, ZMQ_CURVE_SERVER, &one, sizeof one);
        lzmq->zmq_setsockopt(z, ZMQ_CURVE_SECRETKEY, zmq_auth_secret_key(s->auth), 40);
        lzmq->zmq_setsockopt(z, ZMQ_ZAP_DOMAIN, "ganglion", 8);
    }
    if (zmq_dl_bind(z, want) < 0) {
        int e = lzmq->zmq_errno();
        lzmq->zmq_close(z);
        if (e == EADDRINUSE && strcmp(cfgval, dflt) == 0) {
            log_warn(NULL, "zmq: default address in use; this socket is disabled", "{s:s,s:s}",
                     "socket", what, "endpoint", want);
            return 1;
        }
        snprintf(err, errlen, "cannot bind ZMQ %s socket to %s: %s", what, want,
                 lzmq->zmq_strerror(e));
        return -1;
    }
    size_t len = ZSRV_ENDPOINT_MAX;
    if (lzmq->zmq_getsockopt(z, ZMQ_LAST_ENDPOINT, ep, &len) < 0)
        snprintf(ep, ZSRV_ENDPOINT_MAX, "%s", want);
    *sock = z;
    return 0;
}

/* Drops one hold on the server; the last (the destroy call's own, or a handle's close
 * callback) frees it. */
static void zsrv_release(zmq_server_t *s)
{
    if (--s->closing == 0) {
        strbuf_free(&s->scratch);
        strbuf_free(&s->outbox);
        zmq_auth_destroy(&s->auth);
        htab_destroy(&s->peers);
        free(s);
    }
}

static void zsrv_close_cb(uv_handle_t *h)
{
    zsrv_release(h->data);
}

void zmq_server_destroy(zmq_server_t **sp)
{
    zmq_server_t *s = sp ? *sp : NULL;
    if (!s)
        return;
    *sp = NULL;
    /* each request leaves s->pending before it is freed (rq->srv is s, which the analyzer
     * does not know: it reports a use after free) */
    while (s->pending) {
        zsrv_rq_t *rq = s->pending;
        zsrv_pending_unlink(rq); // NOLINT(clang-analyzer-unix.Malloc)
        api_call_cancel(rq->req);
        zsrv_rq_free(rq);
    }
    if (s->bus_sub)
        bus_unsubscribe(s->hub->bus, &s->bus_sub);
    s->closing = 1; /* held until every handle has closed */
    uv_poll_t *polls[] = {&s->router_poll, &s->pub_poll, &s->zap_poll};
    bool on[] = {s->router_poll_on, s->pub_poll_on, s->zap_poll_on};
    for (size_t i = 0; i < 3; i++) {
        if (on[i]) {
            s->closing++;
            uv_close((uv_handle_t *)polls[i], zsrv_close_cb);
        }
    }
    if (s->idle_init) {
        s->closing++;
        uv_close((uv_handle_t *)&s->idle, zsrv_close_cb);
    }
    /* The polls are closed (stopped) before the descriptors they watch go away. */
    if (s->router)
        lzmq->zmq_close(s->router);
    if (s->pub)
        lzmq->zmq_close(s->pub);
    if (s->zap)
        lzmq->zmq_close(s->zap);
    if (s->ctx)
        zmq_dl_ctx_term(s->ctx);
    if (s->peers) {
        size_t pos = 0;
        zsrv_peer_t *p;
        while ((p = htab_next(s->peers, &pos)))
            free(p); /* the table goes with the server (zsrv_release) */
    }
    uv_loop_t *loop = s->hub->loop;
    bool handles = s->closing > 1;
    zsrv_release(s);
    if (handles)
        uv_run(loop, UV_RUN_NOWAIT); /* runs the close callbacks, which free the server */
}

int zmq_server_start(hub_t *hub, zmq_server_t **out, char *err, size_t errlen)
{
    *out = NULL;
    const config_t *cfg = &hub->cfg;
    bool ipv6;
    char tmp[ZSRV_ENDPOINT_MAX];
    if (zsrv_endpoint(cfg->zmq_listen, tmp, sizeof tmp, &ipv6) < 0 ||
        zsrv_endpoint(cfg->zmq_pub, tmp, sizeof tmp, &ipv6) < 0) {
        snprintf(err, errlen, "zmq.listen and zmq.pub take HOST:PORT, tcp://HOST:PORT or off");
        return -1;
    }
    bool want_rpc = strcasecmp(cfg->zmq_listen, "off") != 0 && cfg->zmq_listen[0];
    bool want_pub = strcasecmp(cfg->zmq_pub, "off") != 0 && cfg->zmq_pub[0];
    if (!want_rpc && !want_pub)
        return 0; /* libzmq stays unmapped */
    if (zmq_dl_load(err, errlen) < 0)
        return -1;

    zmq_server_t *s = calloc(1, sizeof *s);
    if (!s || htab_new(&s->peers, zsrv_peer_key) < 0) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->hub = hub;
    s->max_message = (size_t)cfg->zmq_max_message;
    s->curve = strcmp(cfg->zmq_curve, "on") == 0;
    strbuf_init(&s->scratch, 0);
    strbuf_init(&s->outbox, 0);
    uv_idle_init(hub->loop, &s->idle);
    s->idle.data = s;
    s->idle_init = true;
    s->ctx = lzmq->zmq_ctx_new();
    if (!s->ctx) {
        snprintf(err, errlen, "zmq_ctx_new: %s", lzmq->zmq_strerror(lzmq->zmq_errno()));
        goto fail;
    }
    if (s->curve) {
        if (!lzmq->zmq_has("curve")) {
            snprintf(err, errlen, "zmq.curve = on, but this libzmq was built without CURVE");
            goto fail;
        }
        if (zmq_auth_new(&s->auth, cfg->data_dir, cfg->zmq_curve_clients, err, errlen) < 0)
            goto fail;
        /* The ZAP handler must be bound before any CURVE socket takes a connection. */
        s->zap = lzmq->zmq_socket(s->ctx, ZMQ_REP);
        int zero = 0;
        if (!s->zap || lzmq->zmq_setsockopt(s->zap, ZMQ_LINGER, &zero, sizeof zero) < 0 ||
            zmq_dl_bind(s->zap, "inproc://zeromq.zap.01") < 0) {
            snprintf(err, errlen, "cannot start the ZAP handler: %s",
                     lzmq->zmq_strerror(lzmq->zmq_errno()));
            goto fail;
        }
        if (zsrv_poll_start(s, s->zap, &s->zap_poll, zsrv_on_zap_poll, &s->zap_poll_on) < 0) {
            snprintf(err, errlen, "cannot watch the ZAP socket");
            goto fail;
        }
    }
    if (zsrv_open(s, ZMQ_ROUTER, cfg->zmq_listen, ZSRV_DEFAULT_LISTEN, "listen", &s->router,
                  s->rpc_ep, err, errlen) < 0)
        goto fail;
    if (zsrv_open(s, ZMQ_XPUB, cfg->zmq_pub, ZSRV_DEFAULT_PUB, "pub", &s->pub, s->pub_ep, err,
                  errlen) < 0)
        goto fail;
    if (s->router && zsrv_poll_start(s, s->router, &s->router_poll, zsrv_on_router_poll,
                                     &s->router_poll_on) < 0) {
        snprintf(err, errlen, "cannot watch the ZMQ RPC socket");
        goto fail;
    }
    if (s->pub && zsrv_poll_start(s, s->pub, &s->pub_poll, zsrv_on_pub_poll, &s->pub_poll_on) < 0) {
        snprintf(err, errlen, "cannot watch the ZMQ PUB socket");
        goto fail;
    }
    metrics_collector_add(hub->metrics, zsrv_metrics_collect, hub);
    log_info(NULL, "zmq: serving", "{s:s,s:s,s:b}", "rpc", s->rpc_ep[0] ? s->rpc_ep : "off", "pub",
             s->pub_ep[0] ? s->pub_ep : "off", "curve", s->curve);
    *out = s;
    /* Messages may already be queued (and their edge spent) before the first poll. */
    zsrv_schedule(s);
    return 0;
fail:
    zmq_server_destroy(&s);
    return -1;
}

void zmq_server_quiesce(zmq_server_t *s)
{
    if (!s)
        return;
    s->quiescing = true;
    if (s->router_poll_on)
        uv_poll_stop(&s->router_poll);
    if (s->pub_poll_on)
        uv_poll_stop(&s->pub_poll);
    if (s->zap_poll_on)
        uv_poll_stop(&s->zap_poll);
    uv_idle_stop(&s->idle);
    if (s->bus_sub)
        bus_unsubscribe(s->hub->bus, &s->bus_sub);
}

size_t zmq_server_inflight(const zmq_server_t *s)
{
    return s ? s->inflight : 0;
}
