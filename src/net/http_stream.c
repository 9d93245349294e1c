/* SSE stream life for the HTTP transport: a reply with `stream` set becomes a bus
 * subscription feeding a bounded queue, formatted into chunks as the connection drains, with
 * heartbeats from one timer for every stream and an orderly end at shutdown. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bus.h"
#include "core/hub.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/problem.h"
#include "net/http_internal.h"
#include "net/sse.h"

void http_stream_free(http_stream_t *st)
{
    http_server_t *srv = st->srv;
    if (st->sub && srv->hub->bus)
        bus_unsubscribe(srv->hub->bus, &st->sub);
    sse_queue_free(&st->q);
    if (st->prev)
        st->prev->next = st->next;
    else if (srv->streams == st)
        srv->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    if (srv->hub->metrics)
        metrics_gauge_add(srv->hub->metrics, "ganglion_sse_clients", NULL, -1);
    free(st);
}

/* Formats queued events (and a due heartbeat) into the connection's buffer as one chunk and
 * hands it over; at the end of a stream, the last chunk. Only while nothing is being written,
 * so a stream holds at most one batch beyond its queue. */
void http_stream_pump(http_stream_t *st)
{
    if (st->writing)
        return;
    strbuf_t *o = http_conn_out(st->conn);
    size_t o0 = o->len;
    if (st->chunked)
        strbuf_append(o, "00000000\r\n", SSE_CHUNK_HEAD);
    size_t d0 = o->len;
    bus_event_t *ev;
    int rc = 0;
    while (rc == 0 && o->len - d0 < SSE_BATCH && (ev = sse_queue_pop(&st->q)) != NULL) {
        rc = sse_frame_append(o, ev);
        bus_event_unref(ev);
    }
    if (rc == 0 && st->heartbeat_due) {
        st->heartbeat_due = false;
        rc = sse_comment_append(o, "heartbeat");
    }
    if (rc < 0) {
        http_conn_abort(st->conn); /* frees st through ops->gone */
        return;
    }
    size_t n = o->len - d0;
    if (n == 0) {
        o->len = o0;
        if (st->end == SSE_END) {
            if (st->chunked)
                strbuf_append(o, "0\r\n\r\n", 5);
            http_conn_t *conn = st->conn;
            bool chunked = st->chunked;
            http_conn_app_set(conn, NULL);
            http_stream_free(st);
            /* without chunked framing only the close tells the client the body ended */
            http_conn_respond(conn, chunked ? HTTP_CONN_DONE : HTTP_CONN_CLOSE);
        }
        return;
    }
    if (st->chunked) {
        char size[32];
        snprintf(size, sizeof size, "%08zx\r\n", n & 0xffffffffu);
        memcpy(o->data + o0, size, SSE_CHUNK_HEAD);
        strbuf_append(o, "\r\n", 2);
    }
    st->writing = true;
    http_conn_respond(st->conn, HTTP_CONN_STREAM);
}

/* Whether the stream's reader may see the event (docs/security.md, "Ownership and teams"). */
static bool http_stream_sees(const http_stream_t *st, const bus_event_t *ev)
{
    return api_event_visible(st->srv->hub->api, &st->viewer, ev->topic, ev->data, ev->data_len);
}

static void http_stream_on_event(bus_event_t *ev, void *ud)
{
    http_stream_t *st = ud;
    if (st->end != SSE_RUNNING)
        return;
    if (!http_stream_sees(st, ev))
        return;
    if (!sse_queue_push(&st->q, ev)) {
        /* The client reads slower than events arrive: drop it rather than buffer without end. */
        if (st->srv->hub->metrics)
            metrics_counter_add(st->srv->hub->metrics, "ganglion_sse_dropped_total", NULL, 1);
        log_warn(NULL, "http: slow SSE client dropped", "{s:i}", "queue", (int)st->q.cap);
        http_conn_abort(st->conn); /* a reset: the client sees the end even if not reading */
        return;
    }
    http_stream_pump(st);
}

static void http_replay_count(bus_event_t *ev, void *ud)
{
    (void)ev;
    (*(size_t *)ud)++;
}

static void http_replay_push(bus_event_t *ev, void *ud)
{
    http_stream_t *st = ud;
    if (http_stream_sees(st, ev))
        sse_queue_push(&st->q, ev);
}

/* Opens the stream for a reply with `stream` set: subscribe, replay, the head and the first
 * chunk (a comment, a gap notice, the handler's prelude). */
void http_stream_open(http_rq_t *rq, const api_reply_t *r)
{
    http_server_t *srv = rq->srv;
    bus_t *bus = srv->hub->bus;
    if (srv->quiescing || !bus) {
        http_fail(rq, NULL, problem_new(503, "shutting-down", "the server is shutting down"),
                  r->in_dispatch);
        return;
    }
    http_stream_t *st = calloc(1, sizeof *st);
    if (!st) {
        http_rq_finish(rq, -1, HTTP_CONN_CLOSE, r->in_dispatch);
        return;
    }
    st->kind = HTTP_APP_STREAM;
    st->srv = srv;
    st->conn = rq->conn;
    st->chunked = rq->http11;
    if (r->viewer)
        st->viewer = *r->viewer;
    const char *topics = r->stream_topics ? r->stream_topics : "";
    st->sub = bus_subscribe(bus, topics, http_stream_on_event, st);
    if (!st->sub) {
        free(st);
        problem_t *p = problem_new(400, "validation", "invalid topic list");
        problem_field_add(p, "query", "topics", "comma-separated dotted patterns expected");
        http_fail(rq, NULL, p, r->in_dispatch);
        return;
    }
    /* Replayed events get room on top of the live allowance: a reconnecting client may be
     * up to a ring behind without counting as slow. */
    size_t replay = 0;
    if (r->stream_after > 0)
        bus_replay(bus, st->sub, r->stream_after, http_replay_count, &replay);
    if (sse_queue_init(&st->q, srv->client_queue + replay) < 0) {
        bus_unsubscribe(bus, &st->sub);
        free(st);
        http_rq_finish(rq, -1, HTTP_CONN_CLOSE, r->in_dispatch);
        return;
    }
    st->next = srv->streams;
    if (srv->streams)
        srv->streams->prev = st;
    srv->streams = st;
    if (srv->hub->metrics)
        metrics_gauge_add(srv->hub->metrics, "ganglion_sse_clients", NULL, 1);

    strbuf_t *o = http_conn_out(rq->conn);
    int status = r->status ? r->status : 200;
    http_head_begin(rq, o, status);
    strbuf_puts(o, "Content-Type: text/event-stream\r\nCache-Control: no-cache, no-store\r\n"
                   "X-Accel-Buffering: no\r\n");
    if (st->chunked)
        strbuf_puts(o, "Transfer-Encoding: chunked\r\n");
    for (size_t i = 0; i < r->nheaders; i++)
        if (r->headers[2 * i] && r->headers[2 * i + 1])
            http_field(o, r->headers[2 * i], r->headers[2 * i + 1]);
    http_head_common(rq, o, r->request_id ? r->request_id : http_rq_id(rq),
                     http_csp_for("text/event-stream", r));
    strbuf_append(o, "\r\n", 2);

    /* The first chunk: what the client learns before any live event. */
    size_t c0 = o->len;
    if (st->chunked)
        strbuf_append(o, "00000000\r\n", SSE_CHUNK_HEAD);
    size_t d0 = o->len;
    char line[CONFIG_STR_MAX + 64];
    snprintf(line, sizeof line, "connected topics=%s last-id=%" PRIu64, topics, bus_last_id(bus));
    sse_comment_append(o, line);
    if (r->stream_after > 0) {
        int gap = bus_replay(bus, st->sub, r->stream_after, http_replay_push, st);
        if (gap == 1)
            strbuf_printf(o, "event: gap\ndata: {\"after\":%" PRIu64 "}\n\n", r->stream_after);
    }
    if (r->stream_prelude_len)
        strbuf_append(o, r->stream_prelude, r->stream_prelude_len);
    if (st->chunked) {
        char size[32];
        snprintf(size, sizeof size, "%08zx\r\n", (o->len - d0) & 0xffffffffu);
        memcpy(o->data + c0, size, SSE_CHUNK_HEAD);
        strbuf_append(o, "\r\n", 2);
    }

    /* From here the connection carries the stream, not the request. */
    http_conn_t *conn = rq->conn;
    if (rq->req) {
        http_waiting_unlink(rq);
        rq->req = NULL;
    }
    srv->inflight--;
    if (!r->in_dispatch)
        http_rq_put(srv, rq);
    http_conn_app_set(conn, st);
    st->writing = true;
    http_conn_respond(conn, HTTP_CONN_STREAM);
}

void http_streams_heartbeat(uv_timer_t *t)
{
    http_server_t *srv = t->data;
    http_stream_t *st = srv->streams;
    while (st) {
        http_stream_t *next = st->next; /* a pump may end st */
        st->heartbeat_due = true;
        http_stream_pump(st);
        st = next;
    }
}

void http_streams_end(http_server_t *srv)
{
    http_stream_t *st = srv->streams;
    while (st) {
        http_stream_t *next = st->next;
        if (st->end == SSE_RUNNING) {
            st->end = SSE_END;
            bus_unsubscribe(srv->hub->bus, &st->sub);
        }
        http_stream_pump(st);
        st = next;
    }
}
