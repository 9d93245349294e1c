/* The WebSocket transport at /api/v1/ws: the RFC 6455 opening handshake on an HTTP connection,
 * then JSON text messages both ways — the ZMQ request envelope {id, method, path, query?, body?,
 * token?} answered {id, status, body, headers?} through the registry, event subscriptions with
 * the SSE topic patterns (checked by the registry as GET /api/v1/stream), and a connection
 * token from the upgrade's Authorization header or a first {"type":"auth"} message. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "core/bus.h"
#include "core/hub.h"
#include "core/jsonx.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/problem.h"
#include "core/strbuf.h"
#include "net/http_internal.h"
#include "net/ws_frame.h"
#include "net/zmq_envelope.h"
#include "net/ws_internal.h"

/* ---- sending ---------------------------------------------------------------------------- */

/* Appends one text message. The output is flushed by ws_flush (or when ops->input returns). */
void ws_send(ws_conn_t *ws, const char *text, size_t len)
{
    if (ws->closing)
        return;
    /* The backlog before this message counts, so one reply larger than the bound still goes
     * to a client that reads. */
    if (http_conn_out_pending(ws->conn) > (size_t)ws->srv->hub->cfg.ws_queue_bytes) {
        ws->slow = true;
        return;
    }
    if (ws_frame_encode(http_conn_out(ws->conn), WS_OP_TEXT, true, text, len) < 0)
        ws->slow = true; /* the buffer cannot take it: treated like a client that does not read */
}

void ws_send_json(ws_conn_t *ws, json_t *v)
{
    size_t len = 0;
    char *text = v ? jsonx_dump(v, &len) : NULL;
    if (text)
        ws_send(ws, text, len);
    else
        ws->slow = true;
    free(text);
    json_decref(v);
}

/* Queues a close frame and ends the connection once it is written. The last use of ws: the
 * connection may free it before this returns. */
static void ws_close(ws_conn_t *ws, unsigned code, const char *reason)
{
    if (ws->sub)
        bus_unsubscribe(ws->srv->hub->bus, &ws->sub);
    ws_chat_free(ws);
    if (!ws->closing) {
        ws->closing = true;
        if (ws_close_encode(http_conn_out(ws->conn), code, reason) < 0) {
            http_conn_abort(ws->conn);
            return;
        }
    }
    http_conn_end(ws->conn);
}

/* Sends what was appended, or closes a client that does not read (1008). The last use of ws. */
void ws_flush(ws_conn_t *ws)
{
    if (ws->slow && !ws->closing) {
        hub_t *hub = ws->srv->hub;
        if (hub->metrics)
            metrics_counter_add(hub->metrics, "ganglion_ws_slow_closed_total", NULL, 1);
        log_warn(NULL, "ws: slow client closed", "{s:s,s:I}", "peer", http_conn_peer(ws->conn),
                 "queue_bytes", (json_int_t)hub->cfg.ws_queue_bytes);
        ws_close(ws, WS_CLOSE_POLICY, "slow consumer: output queue full");
        return;
    }
    if (ws->in_input)
        return;
    http_conn_send(ws->conn);
}

/* A problem as a message: {"type": type, "status", "body", "id"?}, or without "type" (NULL)
 * as the reply to an RPC envelope, shaped like every other reply. p is destroyed. */
void ws_send_problem(ws_conn_t *ws, const char *type, json_t *id, problem_t *p)
{
    json_t *m =
        json_pack("{s:i,s:o}", "status", problem_status(p), "body", problem_to_json(p, WS_PATH));
    if (m && type)
        json_object_set_new(m, "type", json_string(type));
    if (m && id)
        json_object_set(m, "id", id);
    ws_send_json(ws, m);
    problem_destroy(&p);
}

/* ---- replies ---------------------------------------------------------------------------- */

static void ws_rq_free(ws_rq_t *rq)
{
    json_decref(rq->id);
    free(rq);
}

static void ws_pending_unlink(ws_rq_t *rq)
{
    ws_conn_t *ws = rq->ws;
    if (rq->prev)
        rq->prev->next = rq->next;
    else if (ws->pending == rq)
        ws->pending = rq->next;
    if (rq->next)
        rq->next->prev = rq->prev;
    rq->prev = rq->next = NULL;
    ws->inflight--;
}

/* The reply's body as JSON text appended to b: the handler's JSON as it is, raw text as a
 * string (raw bytes that are not UTF-8 as null, with a header saying so). */
static int ws_body_append(strbuf_t *b, const api_reply_t *r, json_t **headers)
{
    if (r->json_text)
        return strbuf_append(b, r->json_text, r->json_text_len);
    if (r->json) {
        size_t n;
        char *t = jsonx_dump(r->json, &n);
        int rc = t ? strbuf_append(b, t, n) : -ENOMEM;
        free(t);
        return rc;
    }
    if (!r->raw || r->raw_len == 0)
        return strbuf_puts(b, "null");
    bool is_json = r->content_type && (strncasecmp(r->content_type, "application/json", 16) == 0 ||
                                       strstr(r->content_type, "+json"));
    json_t *v = is_json ? json_loadb(r->raw, r->raw_len, JSON_DECODE_ANY, NULL) : NULL;
    if (!v)
        v = json_stringn(r->raw, r->raw_len);
    if (!is_json && r->content_type && (*headers || (*headers = json_object())))
        json_object_set_new(*headers, "Content-Type", json_string(r->content_type));
    if (!v)
        return strbuf_puts(b, "null");
    size_t n;
    char *t = jsonx_dump(v, &n);
    json_decref(v);
    int rc = t ? strbuf_append(b, t, n) : -ENOMEM;
    free(t);
    return rc;
}

/* {"id":…, "status":…, "body":…, "headers":…} — the body spliced in as the registry wrote it. */
static void ws_reply_rpc(ws_conn_t *ws, ws_rq_t *rq, const api_reply_t *r)
{
    json_t *headers = NULL;
    for (size_t i = 0; i < r->nheaders; i++) {
        const char *name = r->headers[2 * i], *value = r->headers[2 * i + 1];
        if (name && value && (headers || (headers = json_object())))
            json_object_set_new(headers, name, json_string(value));
    }
    strbuf_t b;
    strbuf_init(&b, 0);
    char *id = rq->id ? jsonx_dump(rq->id, NULL) : NULL;
    int rc = strbuf_printf(&b, "{\"id\":%s,\"status\":%d,\"body\":", id ? id : "null",
                           r->status ? r->status : 200);
    free(id);
    if (rc == 0)
        rc = ws_body_append(&b, r, &headers);
    if (rc == 0 && headers) {
        char *h = jsonx_dump(headers, NULL);
        rc = h ? strbuf_printf(&b, ",\"headers\":%s", h) : -ENOMEM;
        free(h);
    }
    if (rc == 0)
        rc = strbuf_puts(&b, "}");
    if (rc == 0)
        ws_send(ws, b.data, b.len);
    else
        ws->slow = true;
    strbuf_free(&b);
    json_decref(headers);
}

static void ws_on_event(bus_event_t *ev, void *ud);

/* The registry's answer to a subscribe message (GET /api/v1/stream): a stream means the
 * topics were valid and the credential may read events. */
static void ws_reply_subscribe(ws_conn_t *ws, ws_rq_t *rq, const api_reply_t *r)
{
    if (!r->stream) {
        json_t *body = r->json ? json_incref(r->json)
                               : json_loadb(r->json_text ? r->json_text : "null",
                                            r->json_text ? r->json_text_len : 4, 0, NULL);
        json_t *m = json_pack("{s:s,s:i,s:o*}", "type", "error", "status", r->status, "body", body);
        if (m && rq->id)
            json_object_set(m, "id", rq->id);
        ws_send_json(ws, m);
        return;
    }
    bus_t *bus = ws->srv->hub->bus;
    if (ws->sub)
        bus_unsubscribe(bus, &ws->sub);
    ws->sub = bus_subscribe(bus, r->stream_topics, ws_on_event, ws);
    if (r->viewer)
        ws->viewer = *r->viewer; /* the credential that subscribed */
    json_t *m = json_pack("{s:s,s:s,s:I}", "type", "subscribed", "topics", r->stream_topics,
                          "last_event_id", (json_int_t)bus_last_id(bus));
    if (m && rq->id)
        json_object_set(m, "id", rq->id);
    ws_send_json(ws, m);
}

/* The registry's answer to an auth message (GET /api/v1/auth/me with the new token). */
static void ws_reply_auth(ws_conn_t *ws, ws_rq_t *rq, const api_reply_t *r)
{
    /* a refused token leaves the connection's credential as it was */
    char *tok = r->status >= 200 && r->status < 300 ? strdup(rq->token) : NULL;
    if (tok) {
        free(ws->token);
        ws->token = tok;
    }
    json_t *body = r->json ? json_incref(r->json)
                           : json_loadb(r->json_text ? r->json_text : "null",
                                        r->json_text ? r->json_text_len : 4, 0, NULL);
    json_t *m = json_pack("{s:s,s:i,s:o*}", "type", "auth", "status", r->status, "body", body);
    if (m && rq->id)
        json_object_set(m, "id", rq->id);
    ws_send_json(ws, m);
}

static void ws_on_reply(const api_reply_t *r, void *tctx)
{
    ws_rq_t *rq = tctx;
    ws_conn_t *ws = rq->ws;
    if (rq->kind == WS_RQ_SUBSCRIBE)
        ws_reply_subscribe(ws, rq, r);
    else if (rq->kind == WS_RQ_CHAT)
        ws_chat_reply(ws, rq, r);
    else if (rq->kind == WS_RQ_AUTH)
        ws_reply_auth(ws, rq, r);
    else if (r->stream) {
        problem_t *p = problem_new(400, "use-subscribe",
                                   "this endpoint streams events; over WebSocket, send "
                                   "{\"type\":\"subscribe\",\"topics\":[...]} instead");
        if (r->request_id)
            problem_ext_set(p, "request_id", json_string(r->request_id));
        api_reply_t pr = {.status = 400, .json = problem_to_json(p, NULL), .is_problem = true};
        ws_reply_rpc(ws, rq, &pr);
        json_decref(pr.json);
        problem_destroy(&p);
    } else {
        ws_reply_rpc(ws, rq, r);
    }
    if (r->in_dispatch)
        return; /* ws_dispatch frees rq when api_dispatch returns */
    ws_pending_unlink(rq);
    ws_rq_free(rq);
    if (ws->ending && !ws->pending) {
        ws_close(ws, WS_CLOSE_GOING_AWAY, "server shutting down");
        return;
    }
    ws_flush(ws);
}

/* ---- requests --------------------------------------------------------------------------- */

/* Hands one call to the registry on behalf of ws. token: the request's credential or NULL. */
void ws_dispatch(ws_conn_t *ws, int kind, json_t *id, api_call_t *call, const char *token)
{
    size_t limit = (size_t)ws->srv->hub->cfg.ws_max_inflight;
    if (ws->ending) {
        ws_send_problem(ws, kind == WS_RQ_RPC ? NULL : "error", id,
                        problem_new(503, "shutting-down", "the server is shutting down"));
        return;
    }
    if (ws->inflight >= limit) {
        problem_t *p = problem_new(429, "too-many-requests",
                                   "more than %zu requests in flight on this WebSocket; wait "
                                   "for replies",
                                   limit);
        problem_header_set(p, "Retry-After", "1");
        ws_send_problem(ws, kind == WS_RQ_RPC ? NULL : "error", id, p);
        return;
    }
    size_t toklen = token ? strlen(token) : 0;
    ws_rq_t *rq = calloc(1, sizeof *rq + toklen + 1);
    if (!rq) {
        ws_send_problem(ws, "error", id,
                        problem_new(503, "out-of-memory", "the request could not be held"));
        return;
    }
    rq->ws = ws;
    rq->kind = kind;
    rq->id = json_incref(id);
    if (token)
        memcpy(rq->token, token, toklen + 1);
    call->transport = "ws";
    call->peer = http_conn_peer(ws->conn);
    call->credential = rq->token[0] ? rq->token : NULL;
    call->transport_ctx = rq;
    api_req_t *req = api_dispatch(ws->srv->hub->api, call, ws_on_reply, rq);
    if (!req) {
        ws_rq_free(rq);
        return;
    }
    rq->req = req;
    rq->next = ws->pending;
    if (ws->pending)
        ws->pending->prev = rq;
    ws->pending = rq;
    ws->inflight++;
}

/* An RPC envelope. */
static void ws_rpc(ws_conn_t *ws, json_t *root)
{
    zmq_envelope_t env;
    problem_t *p = NULL;
    if (zmq_envelope_parse(root, &env, &p) < 0) {
        if (env.request_id[0])
            problem_ext_set(p, "request_id", json_string(env.request_id));
        ws_send_problem(ws, env.id ? NULL : "error", env.id, p);
        zmq_envelope_clear(&env);
        return;
    }
    api_call_t call;
    memset(&call, 0, sizeof call);
    call.method = env.method;
    call.path = env.path;
    call.query = env.raw_query;
    call.query_obj = env.query;
    call.body_json = env.body;
    call.content_type = env.body ? "application/json" : NULL;
    call.request_id = env.request_id[0] ? env.request_id : NULL;
    call.traceparent = env.traceparent[0] ? env.traceparent : NULL;
    ws_dispatch(ws, WS_RQ_RPC, env.id, &call, env.token ? env.token : ws->token);
    zmq_envelope_clear(&env);
}

/* {"type":"subscribe","topics":["agent.*", ...]} (or a comma-separated string): checked by the
 * registry exactly as GET /api/v1/stream?topics=... */
static void ws_subscribe(ws_conn_t *ws, json_t *root)
{
    json_t *topics = json_object_get(root, "topics");
    json_t *id = json_object_get(root, "id");
    char joined[WS_TOPICS_MAX];
    size_t n = 0;
    bool ok = json_is_string(topics) || (json_is_array(topics) && json_array_size(topics) > 0);
    if (json_is_string(topics)) {
        n = (size_t)snprintf(joined, sizeof joined, "%s", json_string_value(topics));
        ok = n < sizeof joined;
    } else if (ok) {
        size_t i;
        json_t *t;
        json_array_foreach(topics, i, t)
        {
            const char *s = json_string_value(t);
            int w = s ? snprintf(joined + n, sizeof joined - n, "%s%s", i ? "," : "", s) : -1;
            if (w < 0 || (size_t)w >= sizeof joined - n) {
                ok = false;
                break;
            }
            n += (size_t)w;
        }
    }
    if (!ok) {
        problem_t *p = problem_validation_new();
        problem_field_add(p, "message", "topics",
                          "must be a non-empty array of topic patterns (or one comma-separated "
                          "string) of at most %d bytes",
                          WS_TOPICS_MAX - 1);
        ws_send_problem(ws, "error", id, p);
        return;
    }
    json_t *q = json_pack("{s:s}", "topics", joined);
    api_call_t call;
    memset(&call, 0, sizeof call);
    call.method = "GET";
    call.path = "/api/v1/stream";
    call.query_obj = q;
    ws_dispatch(ws, WS_RQ_SUBSCRIBE, id, &call, ws->token);
    json_decref(q);
}

/* {"type":"auth","token":"..."}: the connection's credential from now on, once the registry
 * accepts it (GET /api/v1/auth/me). */
static void ws_auth(ws_conn_t *ws, json_t *root)
{
    json_t *tok = json_object_get(root, "token");
    json_t *id = json_object_get(root, "id");
    const char *t = json_string_value(tok);
    if (!t || !*t || json_string_length(tok) > WS_TOKEN_MAX ||
        strlen(t) != json_string_length(tok)) {
        problem_t *p = problem_validation_new();
        problem_field_add(p, "message", "token", "must be a non-empty string of at most %d bytes",
                          WS_TOKEN_MAX);
        ws_send_problem(ws, "auth", id, p);
        return;
    }
    api_call_t call;
    memset(&call, 0, sizeof call);
    call.method = "GET";
    call.path = "/api/v1/auth/me";
    ws_dispatch(ws, WS_RQ_AUTH, id, &call, t);
}

/* One complete text message. */
static void ws_message(ws_conn_t *ws, const char *data, size_t len)
{
    problem_t *p = NULL;
    json_t *root = jsonx_parse(data, len, (size_t)ws->srv->hub->cfg.json_max_depth, &p);
    if (!root) {
        ws_send_problem(ws, "error", NULL, p);
        return;
    }
    json_t *type = json_object_get(root, "type");
    const char *ts = json_string_value(type);
    if (!json_is_object(root)) {
        ws_send_problem(ws, "error", NULL,
                        problem_new(400, "bad-message", "a message must be a JSON object"));
    } else if (!type) {
        ws_rpc(ws, root);
    } else if (ts && strcmp(ts, "subscribe") == 0) {
        ws_subscribe(ws, root);
    } else if (ts && strcmp(ts, "unsubscribe") == 0) {
        if (ws->sub)
            bus_unsubscribe(ws->srv->hub->bus, &ws->sub);
        ws_send_json(ws, json_pack("{s:s}", "type", "unsubscribed"));
    } else if (ts && strcmp(ts, "auth") == 0) {
        ws_auth(ws, root);
    } else if (ts && strcmp(ts, "ping") == 0) {
        ws_send_json(ws, json_pack("{s:s}", "type", "pong"));
    } else if (ts && ws_chat_message(ws, ts, root)) {
        /* chat, get_history, clear_history (ws_chat.c) */
    } else {
        ws_send_problem(ws, "error", json_object_get(root, "id"),
                        problem_new(400, "bad-message",
                                    "unknown message type; use an RPC envelope {id, method, "
                                    "path, ...} or type auth, subscribe, unsubscribe or ping"));
    }
    json_decref(root);
    jsonx_release(len);
}

/* ---- events ----------------------------------------------------------------------------- */

static void ws_on_event(bus_event_t *ev, void *ud)
{
    ws_conn_t *ws = ud;
    if (ws->closing ||
        !api_event_visible(ws->srv->hub->api, &ws->viewer, ev->topic, ev->data, ev->data_len))
        return;
    strbuf_t b;
    strbuf_init(&b, 0);
    json_t *tj = json_string(ev->topic);
    char *tt = tj ? jsonx_dump(tj, NULL) : NULL;
    json_decref(tj);
    int rc = tt ? strbuf_printf(&b,
                                "{\"type\":\"event\",\"id\":%" PRIu64
                                ",\"topic\":%s,\"ts\":%" PRId64 ",\"data\":",
                                ev->id, tt, ev->ts_ms)
                : -ENOMEM;
    free(tt);
    if (rc == 0)
        rc = strbuf_append(&b, ev->data, ev->data_len);
    if (rc == 0)
        rc = strbuf_puts(&b, "}");
    if (rc == 0) {
        ws_send(ws, b.data, b.len);
        ws->events_sent++;
    }
    strbuf_free(&b);
    ws_flush(ws);
}

/* ---- the connection --------------------------------------------------------------------- */

size_t ws_on_input(ws_conn_t *ws, char *data, size_t len)
{
    size_t off = 0;
    ws->in_input = true;
    ws->pinged = false; /* any frame, a pong among them, shows the client is there */
    while (!ws->closing && off < len) {
        ws_frame_t f;
        size_t used = 0;
        uint16_t code = 0;
        int rc =
            ws_frame_parse((uint8_t *)data + off, len - off, ws->frame_max, true, &f, &used, &code);
        if (rc == WS_FRAME_MORE)
            break;
        if (rc == WS_FRAME_ERROR) {
            ws_close(ws, code, code == WS_CLOSE_TOO_BIG ? "frame too big" : "protocol error");
            off = len;
            break;
        }
        off += used;
        if (f.opcode == WS_OP_PING) {
            if (ws_frame_encode(http_conn_out(ws->conn), WS_OP_PONG, true, f.payload, f.len) < 0)
                ws->slow = true;
        } else if (f.opcode == WS_OP_PONG) {
            /* an answer to nothing, or a keep-alive: input is all the idle timer needs */
        } else if (f.opcode == WS_OP_CLOSE) {
            uint16_t status = 0;
            const char *reason;
            size_t rlen;
            if (ws_close_parse(f.payload, f.len, &status, &reason, &rlen, &code) < 0)
                ws_close(ws, code, "bad close frame");
            else
                ws_close(ws, status, NULL); /* echo the code; 1005 goes back empty */
            off = len;
        } else {
            int op = 0;
            rc = ws_msg_feed(&ws->msg, &f, &op, &code);
            if (rc == WS_FRAME_ERROR) {
                ws_close(ws, code,
                         code == WS_CLOSE_TOO_BIG    ? "message too big"
                         : code == WS_CLOSE_BAD_DATA ? "text is not UTF-8"
                                                     : "protocol error");
                off = len;
            } else if (rc == WS_FRAME_OK) {
                if (op == WS_OP_TEXT)
                    ws_message(ws, ws->msg.data.data, ws->msg.data.len);
                else
                    ws_close(ws, WS_CLOSE_UNSUPPORTED, "send JSON as text messages");
                ws_msg_reset(&ws->msg);
                if (ws->msg.data.cap > 64 * 1024)
                    strbuf_free(&ws->msg.data); /* keep max; drop a large buffer */
            }
        }
    }
    ws->in_input = false;
    if (ws->slow && !ws->closing) {
        ws_flush(ws);
        return len;
    }
    http_conn_send(ws->conn);
    return off;
}

/* No frame from the client for websocket.idle_s: a ping first (browsers answer pings but
 * send none, so a quiet page stays connected), then, with no answer after another idle_s, the
 * close. */
void ws_on_idle(ws_conn_t *ws)
{
    if (ws->pinged || ws->closing) {
        ws_close(ws, WS_CLOSE_GOING_AWAY, "idle timeout");
        return;
    }
    ws->pinged = true;
    if (ws_frame_encode(http_conn_out(ws->conn), WS_OP_PING, true, "idle", 4) < 0)
        ws->slow = true;
    ws_flush(ws);
}

void ws_all_end(http_server_t *srv)
{
    ws_conn_t *ws = srv->wss;
    while (ws) {
        ws_conn_t *next = ws->next;
        ws->ending = true;
        if (ws->sub)
            bus_unsubscribe(srv->hub->bus, &ws->sub);
        ws_chat_free(ws);
        if (!ws->pending)
            ws_close(ws, WS_CLOSE_GOING_AWAY, "server shutting down");
        ws = next;
    }
}

void ws_free(ws_conn_t *ws)
{
    http_server_t *srv = ws->srv;
    if (ws->prev)
        ws->prev->next = ws->next;
    else if (srv->wss == ws)
        srv->wss = ws->next;
    if (ws->next)
        ws->next->prev = ws->prev;
    /* each request leaves ws->pending before it is freed (rq->ws is ws, which the analyzer
     * does not know: it reports a use after free) */
    while (ws->pending) {
        ws_rq_t *rq = ws->pending;
        api_call_cancel(rq->req); // NOLINT(clang-analyzer-unix.Malloc)
        ws_pending_unlink(rq);
        ws_rq_free(rq);
    }
    if (ws->sub)
        bus_unsubscribe(ws->srv->hub->bus, &ws->sub);
    ws_chat_free(ws);
    ws_msg_free(&ws->msg);
    free(ws->token);
    if (ws->srv->hub->metrics)
        metrics_gauge_add(ws->srv->hub->metrics, "ganglion_ws_connections", NULL, -1);
    free(ws);
}

/* ---- the opening handshake -------------------------------------------------------------- */

/* True when the comma-separated list has token (case-insensitive). */
static bool ws_list_has(const char *list, const char *token)
{
    size_t tl = strlen(token);
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *end = e;
        while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if ((size_t)(end - p) == tl && strncasecmp(p, token, tl) == 0)
            return true;
        p = e;
    }
    return false;
}

bool ws_wanted(const char *path)
{
    return strcmp(path, WS_PATH) == 0;
}

/* A browser's Origin: its own (the Host it talks to) or one the CORS list allows. Clients that
 * send no Origin are not browsers and are not limited here. */
static bool ws_origin_ok(http_server_t *srv, const http_request_t *hr)
{
    const char *origin = http_request_header(hr, "Origin");
    if (!origin)
        return true;
    const char *host = http_request_header(hr, "Host");
    const char *sep = strstr(origin, "://");
    if (host && sep && strcasecmp(sep + 3, host) == 0)
        return true;
    return srv->cors.enabled && http_cors_allow(&srv->cors, origin) != NULL;
}

static problem_t *ws_handshake_check(http_server_t *srv, const http_request_t *hr,
                                     char accept[WS_ACCEPT_LEN + 1])
{
    const char *upgrade = http_request_header(hr, "Upgrade");
    if (!upgrade || !ws_list_has(upgrade, "websocket")) {
        problem_t *p = problem_new(426, "upgrade-required",
                                   "%s is a WebSocket: send GET with Upgrade: websocket", WS_PATH);
        problem_header_set(p, "Upgrade", "websocket");
        return p;
    }
    if (strcmp(hr->method, "GET") != 0 || !hr->http11)
        return problem_new(400, "bad-upgrade", "a WebSocket opens with an HTTP/1.1 GET");
    if (!ws_list_has(http_request_header(hr, "Connection"), "upgrade"))
        return problem_new(400, "bad-upgrade", "Connection must include Upgrade");
    const char *version = http_request_header(hr, "Sec-WebSocket-Version");
    if (!version || strcmp(version, "13") != 0) {
        problem_t *p =
            problem_new(426, "upgrade-required", "only WebSocket version 13 (RFC 6455) is spoken");
        problem_header_set(p, "Sec-WebSocket-Version", "13");
        return p;
    }
    if (ws_accept_key(http_request_header(hr, "Sec-WebSocket-Key"), accept) < 0)
        return problem_new(400, "bad-upgrade",
                           "Sec-WebSocket-Key must be the base64 of 16 random bytes");
    if (!ws_origin_ok(srv, hr))
        return problem_new(403, "origin-not-allowed",
                           "the Origin is neither this server nor in server.cors_origins");
    return NULL;
}

void ws_open(http_rq_t *rq, const http_request_t *hr)
{
    http_server_t *srv = rq->srv;
    http_conn_t *conn = rq->conn;
    char accept[WS_ACCEPT_LEN + 1];
    problem_t *p = ws_handshake_check(srv, hr, accept);
    const char *cred = NULL, *why = NULL;
    if (!p && http_credential(http_request_header(hr, "Authorization"),
                              http_request_header(hr, "X-Api-Key"), &cred, &why) < 0)
        p = problem_new(401, "unauthorized", "%s", why ? why : "unusable credential");
    if (!p && cred && strlen(cred) > WS_TOKEN_MAX)
        p = problem_new(401, "unauthorized", "the token is longer than %d bytes", WS_TOKEN_MAX);
    ws_conn_t *ws = p ? NULL : calloc(1, sizeof *ws);
    if (!p && (!ws || (cred && !(ws->token = strdup(cred))))) {
        free(ws);
        http_fail(rq, WS_PATH, problem_new(503, "out-of-memory", "the WebSocket could not be held"),
                  false);
        return;
    }
    if (p) {
        http_fail(rq, WS_PATH, p, false);
        return;
    }
    ws->kind = HTTP_APP_WS;
    ws->srv = srv;
    ws->conn = conn;
    const config_t *cfg = &srv->hub->cfg;
    ws_msg_init(&ws->msg, (size_t)cfg->ws_max_message);
    ws->frame_max = (size_t)cfg->ws_max_frame;

    const char *proto = http_request_header(hr, "Sec-WebSocket-Protocol");
    strbuf_t *o = http_conn_out(conn);
    int rc = strbuf_printf(o,
                           "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
                           accept,
                           proto && ws_list_has(proto, WS_PROTOCOL)
                               ? "Sec-WebSocket-Protocol: " WS_PROTOCOL "\r\n"
                               : "");
    /* the request context is done: the connection carries ws from here */
    srv->inflight--;
    if (http_conn_app(conn) == rq)
        http_conn_app_set(conn, NULL);
    http_rq_put(srv, rq);
    if (rc < 0) {
        ws_msg_free(&ws->msg);
        free(ws->token);
        free(ws);
        http_conn_abort(conn);
        return;
    }
    if (srv->hub->metrics)
        metrics_gauge_add(srv->hub->metrics, "ganglion_ws_connections", NULL, 1);
    ws->next = srv->wss;
    if (srv->wss)
        srv->wss->prev = ws;
    srv->wss = ws;
    http_conn_app_set(conn, ws);
    http_conn_upgrade(conn, ws->frame_max + WS_HEAD_MAX, (uint64_t)cfg->ws_idle_s * 1000);
}
