/* The HTTP transport: libmicrohttpd in external-epoll mode, driven by the hub's libuv loop.
 * Each request becomes an api_call_t for the registry; each api_reply_t becomes a response
 * (JSON, problem+json, raw bytes, or an SSE stream fed from the bus through a bounded queue). */
#include "net/http.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <uv.h>
#include <zlib.h>

#include "api/api.h"
#include "core/bus.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/hub.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/problem.h"
#include "core/strbuf.h"
#include "net/http_door.h"
#include "net/http_head.h"
#include "net/http_parse.h"
#include "net/sse.h"
#include "net/tls.h"

/* MHD's per-connection pool holds the request line, headers and the read/write buffers, so it
 * bounds what a client can make us hold before the access handler runs. It is kept this far
 * above server.header_max so that our 431 (a problem) answers before MHD's own (a page). */
#define HTTP_CONN_MEMORY_MIN (32 * 1024)
#define HTTP_CONN_MEMORY_PAD (16 * 1024)
/* The door enforces server.max_connections; MHD's own limit, a silent close, sits above it
 * for connections MHD has closed but not yet cleaned up. */
#define HTTP_MHD_LIMIT_SLACK 64
#define HTTP_RQ_POOL_MAX     256         /* request contexts kept for reuse */
#define HTTP_BODY_KEEP       (16 * 1024) /* body buffers up to this stay with pooled contexts */
#define HTTP_SCRATCH         (16 * 1024) /* JSON replies that fit are serialised without malloc */
#define HTTP_DISCARD_FACTOR  4 /* chunked bodies: drop the connection after limit * this */
#define HTTP_PEER_MAX        64
#define HTTP_RID_BUF         (HTTP_REQUEST_ID_MAX + 1)
#define HTTP_EXTRA_HEADERS   16 /* problem headers copied into a reply */
#define SSE_BLOCK            4096
#define SSE_BATCH            (16 * 1024)   /* bytes of frames formatted per reader call */
#define SSE_OUT_MAX          (1024 * 1024) /* one formatted batch never exceeds this */
#define HTTP_ALLOW_METHODS   "GET, POST, PUT, PATCH, DELETE, OPTIONS"
#define HTTP_ALLOW_HEADERS   "Authorization, Content-Type, X-Request-Id, Last-Event-ID"
#define HTTP_CORS_MAX_AGE    "600"

typedef struct http_rq http_rq_t;
typedef struct http_stream http_stream_t;

/* One TCP connection (MHD's socket context): what stays the same across keep-alive requests. */
typedef struct http_conn {
    char peer[HTTP_PEER_MAX];
    struct sockaddr_storage sa; /* the client, counted by the door while the connection lives */
    bool counted;
    bool bad_escape; /* the unescaper saw a malformed %-sequence in the request being parsed */
} http_conn_t;

/* One request (MHD's con_cls). Lives from the first access-handler call to the completion
 * notification; while the registry holds it (req != NULL) the connection is suspended, which
 * MHD guarantees keeps it open (no timeouts, no disconnect detection). */
struct http_rq {
    http_server_t *srv;
    struct MHD_Connection *conn;
    http_conn_t *hc;
    api_req_t *req;            /* pending in the registry, or NULL */
    struct MHD_Response *resp; /* built by the reply, queued on the next handler call */
    unsigned status;
    strbuf_t body;
    uint64_t discarded; /* bytes beyond the limit dropped from a chunked body */
    bool too_large;
    bool dispatched;
    bool in_dispatch; /* the reply may arrive synchronously: no suspend/resume then */
    bool suspended;
    bool counted; /* part of srv->inflight */
    bool gzip_ok;
    bool preflight;         /* a CORS preflight, answered once the request is complete */
    const char *cors;       /* Access-Control-Allow-Origin value (MHD-owned or static), or NULL */
    char rid[HTTP_RID_BUF]; /* the client's valid X-Request-Id, or generated on demand */
    http_rq_t *prev, *next; /* srv->waiting while req != NULL; free list otherwise */
};

enum { SSE_RUNNING = 0, SSE_END, SSE_ABORT };

/* One SSE client. Owned by its MHD response: freed by the response's free callback. */
struct http_stream {
    http_server_t *srv;
    struct MHD_Connection *conn;
    /* MHD does not notice a client hanging up while its connection is suspended, and an idle
     * stream is suspended most of the time, so the socket is watched here for EOF. */
    uv_poll_t watch;
    bool watching;
    bus_sub_t *sub;
    sse_queue_t q;
    strbuf_t out; /* formatted bytes not yet handed to MHD, from `off` */
    size_t off;
    bool suspended;
    bool heartbeat_due;
    int end;
    http_stream_t *prev, *next;
};

struct http_server {
    hub_t *hub;
    struct MHD_Daemon *d;
    int port;
    uv_poll_t poll;
    uv_timer_t timer;     /* MHD_get_timeout, or 0 ms after a resume */
    uv_timer_t heartbeat; /* one timer for every stream */
    int handles;          /* uv handles open; the server is freed when the last one closes */
    bool in_run, kicked, quiescing, closing;
    size_t inflight;
    uint64_t body_limit;
    uint64_t compress_min;
    size_t client_queue;
    http_cors_t cors;
    char cors_src[CONFIG_STR_MAX]; /* the list `cors` was parsed from */
    bool tls;
    tls_material_t tlsm; /* the PEM text handed to MHD, kept until MHD is stopped */
    char hsts[32];       /* Strict-Transport-Security value over TLS, "" = not sent */
    int64_t heartbeat_s;
    http_door_t *door; /* accepts, limits connections, checks first heads */
    http_head_limits_t head;
    http_rq_t *waiting; /* requests whose reply is pending in the registry */
    http_rq_t *free_rqs;
    size_t nfree;
    http_stream_t *streams;
    uint64_t rid_seed, rid_counter;
    char scratch[HTTP_SCRATCH];
};

/* ---- driving MHD from the loop -------------------------------------------------------- */

static void http_drive(http_server_t *srv);

static void http_on_timer(uv_timer_t *t)
{
    http_drive(t->data);
}

static void http_on_poll(uv_poll_t *p, int status, int events)
{
    (void)events;
    if (status < 0)
        log_warn(NULL, "http: poll error", "{s:s}", "error", uv_strerror(status));
    http_drive(p->data);
}

static void http_timer_arm(http_server_t *srv)
{
    if (srv->closing)
        return;
    uint64_t ms = 0;
    if (!srv->kicked) {
        MHD_UNSIGNED_LONG_LONG to = 0;
        if (MHD_get_timeout(srv->d, &to) != MHD_YES) {
            uv_timer_stop(&srv->timer);
            return;
        }
        ms = (uint64_t)to;
    }
    srv->kicked = false;
    uv_timer_start(&srv->timer, http_on_timer, ms, 0);
}

static void http_drive(http_server_t *srv)
{
    if (srv->closing)
        return;
    srv->kicked = false;
    srv->in_run = true;
    MHD_run(srv->d);
    srv->in_run = false;
    http_timer_arm(srv);
}

/* After MHD_resume_connection MHD must run again soon: the resumed connection does not make
 * the epoll descriptor readable by itself in every case, so arm a 0 ms timer (or, inside
 * MHD_run, let http_timer_arm do it when the run returns). */
static void http_kick(http_server_t *srv)
{
    srv->kicked = true;
    if (!srv->in_run && !srv->closing)
        uv_timer_start(&srv->timer, http_on_timer, 0, 0);
}

/* ---- small helpers ---------------------------------------------------------------------- */

static uint64_t http_mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* The request's id for transport-made responses: the client's if valid, else a fresh one. */
static const char *http_rq_id(http_rq_t *rq)
{
    if (!rq->rid[0]) {
        http_server_t *srv = rq->srv;
        snprintf(rq->rid, sizeof rq->rid, "%016" PRIx64,
                 http_mix64(srv->rid_seed + ++srv->rid_counter));
    }
    return rq->rid;
}

static const char *http_header(void *tctx, const char *name)
{
    http_rq_t *rq = tctx;
    return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

static void http_peer_format(const struct sockaddr *sa, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (!sa) {
        snprintf(out, outlen, "unknown");
        return;
    }
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        snprintf(out, outlen, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        snprintf(out, outlen, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
    } else {
        snprintf(out, outlen, "unknown");
    }
}

static void http_waiting_link(http_rq_t *rq)
{
    http_server_t *srv = rq->srv;
    rq->prev = NULL;
    rq->next = srv->waiting;
    if (srv->waiting)
        srv->waiting->prev = rq;
    srv->waiting = rq;
}

static void http_waiting_unlink(http_rq_t *rq)
{
    http_server_t *srv = rq->srv;
    if (rq->prev)
        rq->prev->next = rq->next;
    else if (srv->waiting == rq)
        srv->waiting = rq->next;
    if (rq->next)
        rq->next->prev = rq->prev;
    rq->prev = rq->next = NULL;
}

/* Request contexts are recycled so a keep-alive request costs no malloc in the transport. */
static http_rq_t *http_rq_get(http_server_t *srv, struct MHD_Connection *conn)
{
    http_rq_t *rq = srv->free_rqs;
    if (rq) {
        srv->free_rqs = rq->next;
        srv->nfree--;
        strbuf_t body = rq->body;
        memset(rq, 0, sizeof *rq);
        rq->body = body;
        strbuf_reset(&rq->body);
    } else {
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return NULL;
        strbuf_init(&rq->body, 0);
    }
    rq->srv = srv;
    rq->conn = conn;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    rq->hc = ci ? ci->socket_context : NULL;
    return rq;
}

static void http_rq_put(http_server_t *srv, http_rq_t *rq)
{
    if (srv->closing || srv->nfree >= HTTP_RQ_POOL_MAX || rq->body.cap > HTTP_BODY_KEEP) {
        strbuf_free(&rq->body);
        free(rq);
        return;
    }
    rq->next = srv->free_rqs;
    srv->free_rqs = rq;
    srv->nfree++;
}

/* ---- responses -------------------------------------------------------------------------- */

/* gzip of in[0..len) into a new buffer; 0, or -1 when it fails or does not shrink. */
static int http_gzip(const char *in, size_t len, char **out, size_t *outlen)
{
    if (len > UINT32_MAX / 2)
        return -1;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    uLong bound = deflateBound(&z, (uLong)len);
    char *buf = malloc(bound);
    if (!buf) {
        deflateEnd(&z);
        return -1;
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)buf;
    z.avail_out = (uInt)bound;
    int rc = deflate(&z, Z_FINISH);
    size_t n = (size_t)z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END || n >= len) {
        free(buf);
        return -1;
    }
    *out = buf;
    *outlen = n;
    return 0;
}

/* The Content-Security-Policy for a body of this type, or NULL when the reply brings its own. */
static const char *http_csp_for(const char *ctype, const api_reply_t *r)
{
    for (size_t i = 0; r && i < r->nheaders; i++)
        if (r->headers[2 * i] && strcasecmp(r->headers[2 * i], "Content-Security-Policy") == 0)
            return NULL;
    return http_csp_for_type(ctype);
}

static void http_headers_common(http_rq_t *rq, struct MHD_Response *resp, const char *rid,
                                const char *csp)
{
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    if (csp)
        MHD_add_response_header(resp, "Content-Security-Policy", csp);
    if (rq->srv->hsts[0])
        MHD_add_response_header(resp, "Strict-Transport-Security", rq->srv->hsts);
    if (rid)
        MHD_add_response_header(resp, "X-Request-Id", rid);
    if (rq->cors) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", rq->cors);
        MHD_add_response_header(resp, "Access-Control-Expose-Headers", "X-Request-Id");
        if (strcmp(rq->cors, "*") != 0)
            MHD_add_response_header(resp, "Vary", "Origin");
    }
    /* During shutdown keep-alive clients are told to go, so the connection count drains. */
    if (rq->srv->quiescing)
        MHD_add_response_header(resp, "Connection", "close");
}

/* Builds the MHD response for a JSON/raw/empty reply. NULL only when out of memory. */
static struct MHD_Response *http_response_build(http_rq_t *rq, const api_reply_t *r)
{
    http_server_t *srv = rq->srv;
    const char *body = NULL;
    size_t len = 0;
    char *heap = NULL;
    const char *ctype = NULL;

    if (r->json) {
        size_t n = json_dumpb(r->json, srv->scratch, sizeof srv->scratch, JSON_COMPACT);
        if (n > sizeof srv->scratch) {
            heap = malloc(n);
            if (!heap)
                return NULL;
            n = json_dumpb(r->json, heap, n, JSON_COMPACT);
            body = heap;
        } else {
            body = srv->scratch;
        }
        len = n;
        ctype = r->is_problem ? "application/problem+json" : "application/json";
    } else if (r->raw) {
        body = r->raw;
        len = r->raw_len;
        ctype = r->content_type ? r->content_type : "application/octet-stream";
    }

    bool vary = false, gzipped = false;
    if (srv->compress_min && len >= srv->compress_min) {
        vary = true;
        char *z;
        size_t zlen;
        if (rq->gzip_ok && http_gzip(body, len, &z, &zlen) == 0) {
            free(heap);
            heap = z;
            body = z;
            len = zlen;
            gzipped = true;
        }
    }

    struct MHD_Response *resp;
    if (heap) {
        resp = MHD_create_response_from_buffer(len, heap, MHD_RESPMEM_MUST_FREE);
        if (!resp)
            free(heap);
    } else {
        resp = MHD_create_response_from_buffer(len, (void *)(uintptr_t)(body ? body : ""),
                                               MHD_RESPMEM_MUST_COPY);
    }
    if (!resp)
        return NULL;
    if (ctype)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (gzipped)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    if (vary)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
    for (size_t i = 0; i < r->nheaders; i++) {
        const char *name = r->headers[2 * i], *value = r->headers[2 * i + 1];
        if (name && value)
            MHD_add_response_header(resp, name, value);
    }
    http_headers_common(rq, resp, r->request_id ? r->request_id : http_rq_id(rq),
                        http_csp_for(ctype, r));
    return resp;
}

/* A problem found by the transport itself (413, 400, 503, 500). p is destroyed. */
static struct MHD_Response *http_problem_response(http_rq_t *rq, problem_t *p, const char *path,
                                                  unsigned *status)
{
    const char *hdrs[2 * HTTP_EXTRA_HEADERS];
    size_t nh = 0;
    const char *name, *value;
    while (nh < HTTP_EXTRA_HEADERS && problem_header_at(p, nh, &name, &value) == 0) {
        hdrs[2 * nh] = name;
        hdrs[2 * nh + 1] = value;
        nh++;
    }
    problem_ext_set(p, "request_id", json_string(http_rq_id(rq)));
    json_t *j = problem_to_json(p, path);
    api_reply_t r = {
        .status = problem_status(p),
        .json = j,
        .is_problem = true,
        .request_id = http_rq_id(rq),
        .headers = hdrs,
        .nheaders = nh,
    };
    *status = (unsigned)r.status;
    struct MHD_Response *resp = http_response_build(rq, &r);
    json_decref(j);
    problem_destroy(&p);
    return resp;
}

static enum MHD_Result http_queue(http_rq_t *rq, unsigned status, struct MHD_Response *resp)
{
    if (!resp)
        return MHD_NO; /* out of memory: dropping the connection is all that is left */
    enum MHD_Result ret = MHD_queue_response(rq->conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result http_fail(http_rq_t *rq, const char *path, problem_t *p)
{
    unsigned status;
    struct MHD_Response *resp = http_problem_response(rq, p, path, &status);
    return http_queue(rq, status, resp);
}

/* ---- SSE streams ------------------------------------------------------------------------ */

static void http_stream_wake(http_stream_t *st)
{
    if (st->suspended) {
        st->suspended = false;
        MHD_resume_connection(st->conn);
        http_kick(st->srv);
    }
}

/* Ends a stream at once without sending what is buffered: the subscription and queued events
 * are released now, and the socket is reset (SO_LINGER 0 and an AF_UNSPEC connect, which is
 * TCP's abort on Linux) so that kernel buffers are dropped and the client sees the end even if
 * it is not reading; MHD then fails its next write and closes the connection. */
static void http_stream_abort(http_stream_t *st)
{
    if (st->end == SSE_ABORT)
        return;
    st->end = SSE_ABORT;
    bus_unsubscribe(st->srv->hub->bus, &st->sub);
    bus_event_t *old;
    while ((old = sse_queue_pop(&st->q)) != NULL)
        bus_event_unref(old);
    strbuf_free(&st->out);
    st->off = 0;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(st->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        struct sockaddr sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_family = AF_UNSPEC;
        if (setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) < 0 ||
            connect(ci->connect_fd, &sa, sizeof sa) < 0)
            log_debug(NULL, "http: SSE reset", "{s:s}", "error", strerror(errno));
    }
    http_stream_wake(st);
    http_kick(st->srv);
}

static void http_stream_on_event(bus_event_t *ev, void *ud)
{
    http_stream_t *st = ud;
    if (st->end != SSE_RUNNING)
        return;
    if (!sse_queue_push(&st->q, ev)) {
        /* The client reads slower than events arrive: drop it rather than buffer without end. */
        if (st->srv->hub->metrics)
            metrics_counter_add(st->srv->hub->metrics, "ganglion_sse_dropped_total", NULL, 1);
        log_warn(NULL, "http: slow SSE client dropped", "{s:i}", "queue", (int)st->q.cap);
        http_stream_abort(st);
        return;
    }
    http_stream_wake(st);
}

static void http_replay_count(bus_event_t *ev, void *ud)
{
    (void)ev;
    (*(size_t *)ud)++;
}

static void http_replay_push(bus_event_t *ev, void *ud)
{
    http_stream_t *st = ud;
    sse_queue_push(&st->q, ev);
}

static void http_out_compact(http_stream_t *st)
{
    if (st->off == st->out.len) {
        strbuf_reset(&st->out);
        st->off = 0;
    }
}

/* Formats queued events (and a due heartbeat) into out, a batch at a time. */
static void http_stream_fill(http_stream_t *st)
{
    bus_event_t *ev;
    while (st->out.len < SSE_BATCH && (ev = sse_queue_pop(&st->q)) != NULL) {
        int rc = sse_frame_append(&st->out, ev);
        bus_event_unref(ev);
        if (rc < 0) {
            st->end = SSE_ABORT;
            return;
        }
    }
    if (st->heartbeat_due) {
        st->heartbeat_due = false;
        if (sse_comment_append(&st->out, "heartbeat") < 0)
            st->end = SSE_ABORT;
    }
}

static void http_stream_unwatch(http_stream_t *st)
{
    if (st->watching) {
        st->watching = false;
        uv_poll_stop(&st->watch);
    }
}

static ssize_t http_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    http_stream_t *st = cls;
    if (st->end == SSE_ABORT) {
        http_stream_unwatch(st);
        http_kick(st->srv); /* so MHD's cleanup of the closed connection runs soon */
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    http_out_compact(st);
    if (st->out.len == 0)
        http_stream_fill(st);
    if (st->end == SSE_ABORT) {
        http_stream_unwatch(st);
        http_kick(st->srv);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (st->off < st->out.len) {
        size_t n = st->out.len - st->off;
        if (n > max)
            n = max;
        memcpy(buf, st->out.data + st->off, n);
        st->off += n;
        return (ssize_t)n;
    }
    if (st->end == SSE_END) {
        /* The connection may carry another request next: stop watching its socket. */
        http_stream_unwatch(st);
        http_kick(st->srv);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    /* Nothing to send: park the connection until an event, a heartbeat or shutdown wakes it.
     * MHD allows suspending from the content reader when the reader then returns 0. */
    st->suspended = true;
    MHD_suspend_connection(st->conn);
    return 0;
}

static void http_on_stream_closed(uv_handle_t *h)
{
    http_stream_t *st = h->data;
    http_server_t *srv = st->srv;
    free(st);
    if (--srv->handles == 0)
        free(srv);
}

/* The client's socket became readable while streaming: a client sends nothing after its
 * request, so this is EOF or an error (end the stream) or stray bytes (stop watching, MHD
 * will deal with them). */
static void http_on_stream_socket(uv_poll_t *p, int status, int events)
{
    (void)events;
    http_stream_t *st = p->data;
    int fd;
    char c;
    ssize_t n = -1;
    if (status == 0 && uv_fileno((uv_handle_t *)p, &fd) == 0)
        n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && status == 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    http_stream_unwatch(st);
    if (n > 0)
        return;
    if (st->end != SSE_ABORT) {
        st->end = SSE_ABORT;
        bus_unsubscribe(st->srv->hub->bus, &st->sub);
    }
    http_stream_wake(st);
}

static void http_stream_free(void *cls)
{
    http_stream_t *st = cls;
    http_server_t *srv = st->srv;
    http_stream_unwatch(st);
    if (st->sub && srv->hub->bus)
        bus_unsubscribe(srv->hub->bus, &st->sub);
    sse_queue_free(&st->q);
    strbuf_free(&st->out);
    if (st->prev)
        st->prev->next = st->next;
    else if (srv->streams == st)
        srv->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    if (srv->hub->metrics)
        metrics_gauge_add(srv->hub->metrics, "ganglion_sse_clients", NULL, -1);
    uv_close((uv_handle_t *)&st->watch, http_on_stream_closed);
}

/* Opens the stream for a reply with `stream` set: subscribe, replay, initial frame. */
static struct MHD_Response *http_stream_open(http_rq_t *rq, const api_reply_t *r, unsigned *status)
{
    http_server_t *srv = rq->srv;
    bus_t *bus = srv->hub->bus;
    const char *path = NULL;
    if (srv->quiescing || !bus)
        return http_problem_response(
            rq, problem_new(503, "shutting-down", "the server is shutting down"), path, status);

    http_stream_t *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->srv = srv;
    st->conn = rq->conn;
    strbuf_init(&st->out, SSE_OUT_MAX);
    const char *topics = r->stream_topics ? r->stream_topics : "";
    st->sub = bus_subscribe(bus, topics, http_stream_on_event, st);
    if (!st->sub) {
        free(st);
        problem_t *p = problem_new(400, "validation", "invalid topic list");
        problem_field_add(p, "query", "topics", "comma-separated dotted patterns expected");
        return http_problem_response(rq, p, path, status);
    }
    /* Replayed events get room on top of the live allowance: a reconnecting client may be
     * up to a ring behind without counting as slow. */
    size_t replay = 0;
    if (r->stream_after > 0)
        bus_replay(bus, st->sub, r->stream_after, http_replay_count, &replay);
    int gap = 0;
    if (sse_queue_init(&st->q, srv->client_queue + replay) < 0) {
        bus_unsubscribe(bus, &st->sub);
        free(st);
        return NULL;
    }
    char line[CONFIG_STR_MAX + 64];
    snprintf(line, sizeof line, "connected topics=%s last-id=%" PRIu64, topics, bus_last_id(bus));
    sse_comment_append(&st->out, line);
    if (r->stream_after > 0) {
        gap = bus_replay(bus, st->sub, r->stream_after, http_replay_push, st);
        if (gap == 1)
            strbuf_printf(&st->out, "event: gap\ndata: {\"after\":%" PRIu64 "}\n\n",
                          r->stream_after);
    }
    if (r->stream_prelude_len)
        strbuf_append(&st->out, r->stream_prelude, r->stream_prelude_len);

    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, SSE_BLOCK, http_stream_read, st, http_stream_free);
    if (!resp) {
        bus_unsubscribe(bus, &st->sub);
        sse_queue_free(&st->q);
        strbuf_free(&st->out);
        free(st);
        return NULL;
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci || uv_poll_init_socket(srv->hub->loop, &st->watch, ci->connect_fd) < 0) {
        MHD_destroy_response(resp);
        bus_unsubscribe(bus, &st->sub);
        sse_queue_free(&st->q);
        strbuf_free(&st->out);
        free(st);
        return NULL;
    }
    st->watch.data = st;
    srv->handles++;
    if (uv_poll_start(&st->watch, UV_READABLE | UV_DISCONNECT, http_on_stream_socket) == 0)
        st->watching = true;
    st->next = srv->streams;
    if (srv->streams)
        srv->streams->prev = st;
    srv->streams = st;
    if (srv->hub->metrics)
        metrics_gauge_add(srv->hub->metrics, "ganglion_sse_clients", NULL, 1);

    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache, no-store");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    for (size_t i = 0; i < r->nheaders; i++)
        if (r->headers[2 * i] && r->headers[2 * i + 1])
            MHD_add_response_header(resp, r->headers[2 * i], r->headers[2 * i + 1]);
    http_headers_common(rq, resp, r->request_id ? r->request_id : http_rq_id(rq),
                        http_csp_for("text/event-stream", r));
    *status = r->status ? (unsigned)r->status : 200;
    return resp;
}

static void http_on_heartbeat(uv_timer_t *t)
{
    http_server_t *srv = t->data;
    for (http_stream_t *st = srv->streams; st; st = st->next) {
        st->heartbeat_due = true;
        http_stream_wake(st);
    }
}

static void http_streams_end(http_server_t *srv)
{
    for (http_stream_t *st = srv->streams; st; st = st->next) {
        if (st->end == SSE_RUNNING)
            st->end = SSE_END;
        http_stream_wake(st);
    }
}

/* ---- the registry's reply --------------------------------------------------------------- */

static void http_on_reply(const api_reply_t *r, void *tctx)
{
    http_rq_t *rq = tctx;
    if (rq->req) {
        http_waiting_unlink(rq);
        rq->req = NULL;
    }
    unsigned status = r->status ? (unsigned)r->status : 200;
    struct MHD_Response *resp =
        r->stream ? http_stream_open(rq, r, &status) : http_response_build(rq, r);
    rq->resp = resp;
    rq->status = status;
    if (!rq->in_dispatch && rq->suspended) {
        rq->suspended = false;
        MHD_resume_connection(rq->conn);
        http_kick(rq->srv);
    }
}

/* ---- the access handler ----------------------------------------------------------------- */

/* The limits api_query_parse (src/api/validate.c) applies to a raw query string. */
#define HTTP_QUERY_MAX_PARAMS 64
#define HTTP_QUERY_VALUE_MAX  4095

typedef struct http_query {
    json_t *obj;
    bool bad;
    size_t n;
    problem_t *fields; /* 422 with the parameters refused, or NULL */
} http_query_t;

static void http_query_refuse(http_query_t *q, const char *key, const char *msg)
{
    problem_field_error(&q->fields, "query", key, "%s", msg);
}

/* Query arguments become an object of strings. A repeated parameter is refused, as the
 * registry does for a raw query: which of the values was meant cannot be known. */
static enum MHD_Result http_query_add(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    http_query_t *q = cls;
    if (!key)
        return MHD_YES;
    if (++q->n > HTTP_QUERY_MAX_PARAMS) {
        if (q->n == HTTP_QUERY_MAX_PARAMS + 1)
            http_query_refuse(q, "", "too many query parameters (at most 64)");
        return MHD_YES;
    }
    if (value && strlen(value) > HTTP_QUERY_VALUE_MAX) {
        http_query_refuse(q, key, "is longer than 4095 bytes");
        return MHD_YES;
    }
    if (json_object_get(q->obj, key)) {
        http_query_refuse(q, key, "is given more than once");
        return MHD_YES;
    }
    json_t *v = json_string(value ? value : "");
    if (!v || json_object_set_new(q->obj, key, v) < 0)
        q->bad = true; /* not UTF-8 */
    return MHD_YES;
}

/* Headers of every reply, also of the door's refusals, which MHD never sees. */
#define HTTP_DOOR_HEADERS                                                                          \
    "X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n"                          \
    "X-Frame-Options: DENY\r\nContent-Security-Policy: " HTTP_CSP_API "\r\n"

/* The door's limits, read from the configuration each time (body_limit and the header
 * timeout are reloadable; the door checks heads before any request syncs srv). */
static void http_door_limits_fill(void *ud, http_door_limits_t *lim)
{
    const http_server_t *srv = ud;
    const config_t *cfg = &srv->hub->cfg;
    memset(lim, 0, sizeof *lim);
    lim->max_conns = (size_t)cfg->max_connections;
    lim->max_per_addr = (size_t)(cfg->max_connections_per_address < cfg->max_connections
                                     ? cfg->max_connections_per_address
                                     : cfg->max_connections);
    lim->header_timeout_ms = (uint64_t)cfg->header_timeout_ms;
    lim->inspect = !srv->tls;
    lim->head.header_max = (size_t)cfg->header_max;
    lim->head.uri_max = (size_t)cfg->uri_max;
    lim->head.body_max = cfg->body_limit > 0 ? (uint64_t)cfg->body_limit : 0;
    lim->security_headers = HTTP_DOOR_HEADERS;
}

/* Reloadable settings (SIGHUP rewrites hub->cfg) are re-read here, once per request: a few
 * compares, and a re-parse only when the CORS list changed. */
static void http_config_sync(http_server_t *srv)
{
    const config_t *cfg = &srv->hub->cfg;
    srv->body_limit = cfg->body_limit > 0 ? (uint64_t)cfg->body_limit : 0;
    srv->head.header_max = (size_t)cfg->header_max;
    srv->head.uri_max = (size_t)cfg->uri_max;
    srv->head.body_max = srv->body_limit;
    srv->compress_min = cfg->compress_min_bytes > 0 ? (uint64_t)cfg->compress_min_bytes : 0;
    srv->client_queue = cfg->events_client_queue > 0 ? (size_t)cfg->events_client_queue : 256;
    if (cfg->events_heartbeat_s != srv->heartbeat_s) {
        srv->heartbeat_s = cfg->events_heartbeat_s;
        uv_timer_stop(&srv->heartbeat);
        if (srv->heartbeat_s > 0 && !srv->quiescing) {
            uint64_t ms = (uint64_t)srv->heartbeat_s * 1000;
            uv_timer_start(&srv->heartbeat, http_on_heartbeat, ms, ms);
        }
    }
    if (strcmp(cfg->cors_origins, srv->cors_src) != 0) {
        http_cors_t c;
        if (http_cors_parse(&c, cfg->cors_origins) == 0) {
            http_cors_free(&srv->cors);
            srv->cors = c;
        } else {
            log_warn(NULL, "http: cors_origins not applied", "{s:s}", "value", cfg->cors_origins);
        }
        snprintf(srv->cors_src, sizeof srv->cors_src, "%s", cfg->cors_origins);
    }
}

/* CORS preflight for any path: 204 with what may be sent; the origin header only if allowed. */
static enum MHD_Result http_preflight(http_rq_t *rq)
{
    struct MHD_Connection *conn = rq->conn;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)(uintptr_t) "", MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Access-Control-Allow-Methods", HTTP_ALLOW_METHODS);
    const char *req_hdrs =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Access-Control-Request-Headers");
    MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                            req_hdrs && strlen(req_hdrs) < 1024 ? req_hdrs : HTTP_ALLOW_HEADERS);
    MHD_add_response_header(resp, "Access-Control-Max-Age", HTTP_CORS_MAX_AGE);
    MHD_add_response_header(resp, "Allow", HTTP_ALLOW_METHODS);
    http_headers_common(rq, resp, http_rq_id(rq), HTTP_CSP_API);
    return http_queue(rq, MHD_HTTP_NO_CONTENT, resp);
}

static enum MHD_Result http_framing_add(void *cls, enum MHD_ValueKind kind, const char *key,
                                        size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    if (key)
        http_framing_field(cls, key, key_size, value ? value : "", value ? value_size : 0);
    return MHD_YES;
}

/* The framing rules of http_head.c over the fields MHD parsed, plus the target's length. */
static int http_rq_framing_check(http_rq_t *rq, const char *url, const char *version,
                                 http_head_verdict_t *v)
{
    http_server_t *srv = rq->srv;
    bool http11 = !version || strcmp(version, MHD_HTTP_VERSION_1_0) != 0;
    http_framing_t f;
    http_framing_init(&f);
    MHD_get_connection_values_n(rq->conn, MHD_HEADER_KIND, http_framing_add, &f);
    if (http_framing_verdict(&f, http11, &srv->head, v) < 0)
        return -1;
    if (url && strlen(url) > srv->head.uri_max) {
        v->status = 414;
        v->slug = "uri-too-long";
        snprintf(v->detail, sizeof v->detail, "the request target is longer than %zu bytes",
                 srv->head.uri_max);
        return -1;
    }
    return 0;
}

/* First call for a request: headers are in. Framing errors, preflight, early 413 and malformed
 * URLs are answered here, before any body is read. */
static enum MHD_Result http_rq_begin(http_rq_t *rq, const char *url, const char *method,
                                     const char *version)
{
    http_server_t *srv = rq->srv;
    struct MHD_Connection *conn = rq->conn;

    http_config_sync(srv);
    rq->body.max = (size_t)srv->body_limit;
    const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    if (rid && http_request_id_valid(rid))
        snprintf(rq->rid, sizeof rq->rid, "%s", rid);
    if (srv->cors.enabled)
        rq->cors = http_cors_allow(&srv->cors,
                                   MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin"));
    if (srv->compress_min)
        rq->gzip_ok = http_accepts_gzip(
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING));

    /* Every request, keep-alive ones included (the door sees only a connection's first): a
     * refusal here is queued before the body is read, so MHD closes the connection after it
     * and nothing of an ambiguous body is taken as the next request. */
    http_head_verdict_t v;
    if (http_rq_framing_check(rq, url, version, &v) < 0) {
        problem_t *p = problem_new(v.status, v.slug, "%s", v.detail);
        if (v.status == 413)
            problem_ext_set(p, "max_bytes", json_integer((json_int_t)srv->body_limit));
        return http_fail(rq, NULL, p);
    }

    if (rq->hc && rq->hc->bad_escape) {
        rq->hc->bad_escape = false;
        return http_fail(rq, NULL,
                         problem_new(400, "bad-request", "malformed percent-encoding in the URL"));
    }

    /* Preflights are answered on the final call: a response queued before the request is
     * complete makes MHD close the connection. */
    if (srv->cors.enabled && strcmp(method, MHD_HTTP_METHOD_OPTIONS) == 0)
        rq->preflight = true;

    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t n;
    if (cl && http_content_length_parse(cl, &n) == 0 && n > srv->body_limit) {
        problem_t *p =
            problem_new(413, "payload-too-large",
                        "request body of %" PRIu64 " bytes exceeds the limit of %" PRIu64 " bytes",
                        n, srv->body_limit);
        problem_ext_set(p, "max_bytes", json_integer((json_int_t)srv->body_limit));
        return http_fail(rq, url, p);
    }
    return MHD_YES;
}

static void http_rq_body(http_rq_t *rq, const char *data, size_t len)
{
    if (!rq->too_large && strbuf_append(&rq->body, data, len) == 0)
        return;
    rq->too_large = true;
    rq->discarded += len;
}

static enum MHD_Result http_rq_dispatch(http_rq_t *rq, const char *url, const char *method)
{
    http_server_t *srv = rq->srv;
    struct MHD_Connection *conn = rq->conn;

    if (rq->too_large) {
        problem_t *p =
            problem_new(413, "payload-too-large",
                        "request body exceeds the limit of %" PRIu64 " bytes", srv->body_limit);
        problem_ext_set(p, "max_bytes", json_integer((json_int_t)srv->body_limit));
        return http_fail(rq, url, p);
    }

    api_call_t call;
    memset(&call, 0, sizeof call);
    http_query_t q = {NULL, false, 0, NULL};
    if (MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, NULL, NULL) > 0) {
        q.obj = json_object();
        if (!q.obj)
            return MHD_NO;
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, http_query_add, &q);
        if (q.bad) {
            json_decref(q.obj);
            problem_destroy(&q.fields);
            problem_t *p = problem_new(400, "bad-request", "query string is not valid UTF-8");
            return http_fail(rq, url, p);
        }
        if (q.fields) {
            json_decref(q.obj);
            return http_fail(rq, url, q.fields);
        }
    }
    call.transport = "http";
    call.method = method;
    call.path = url;
    call.query_obj = q.obj;
    call.content_type =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    call.body = rq->body.len ? rq->body.data : NULL;
    call.body_len = rq->body.len;
    call.request_id = rq->rid[0] ? rq->rid : NULL;
    call.peer = rq->hc ? rq->hc->peer : "unknown";
    http_credential(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"),
                    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Api-Key"),
                    &call.credential, &call.credential_error);
    call.header = http_header;
    call.transport_ctx = rq;

    rq->dispatched = true;
    rq->counted = true;
    srv->inflight++;
    rq->in_dispatch = true;
    api_req_t *req = api_dispatch(srv->hub->api, &call, http_on_reply, rq);
    rq->in_dispatch = false;
    json_decref(q.obj);

    if (req && !rq->resp) {
        rq->req = req;
        http_waiting_link(rq);
        rq->suspended = true;
        MHD_suspend_connection(conn);
        return MHD_YES;
    }
    if (rq->resp) {
        struct MHD_Response *resp = rq->resp;
        rq->resp = NULL;
        return http_queue(rq, rq->status, resp);
    }
    return http_fail(rq, url, problem_new(500, "internal", "the request produced no reply"));
}

static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_size, void **con_cls)
{
    http_server_t *srv = cls;
    http_rq_t *rq = *con_cls;
    if (!rq) {
        rq = http_rq_get(srv, conn);
        if (!rq)
            return MHD_NO;
        *con_cls = rq;
        return http_rq_begin(rq, url, method, version);
    }
    if (*upload_size) {
        http_rq_body(rq, upload_data, *upload_size);
        *upload_size = 0;
        /* A chunked body far beyond the limit is not worth reading to the end. */
        if (rq->discarded > srv->body_limit * HTTP_DISCARD_FACTOR)
            return MHD_NO;
        return MHD_YES;
    }
    if (rq->resp) {
        struct MHD_Response *resp = rq->resp;
        rq->resp = NULL;
        return http_queue(rq, rq->status, resp);
    }
    if (rq->preflight)
        return http_preflight(rq);
    if (!rq->dispatched)
        return http_rq_dispatch(rq, url, method);
    if (rq->req) { /* resumed without a reply: wait again */
        rq->suspended = true;
        MHD_suspend_connection(conn);
        return MHD_YES;
    }
    /* The registry forgot us (cancelled at shutdown). */
    return http_fail(rq, url, problem_new(503, "shutting-down", "the server is shutting down"));
}

static void http_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    http_server_t *srv = cls;
    http_rq_t *rq = *con_cls;
    if (!rq)
        return;
    *con_cls = NULL;
    if (rq->req) {
        api_call_cancel(rq->req);
        http_waiting_unlink(rq);
        rq->req = NULL;
    }
    if (rq->resp)
        MHD_destroy_response(rq->resp);
    if (rq->counted)
        srv->inflight--;
    http_rq_put(srv, rq);
}

static void http_on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                               enum MHD_ConnectionNotificationCode toe)
{
    http_server_t *srv = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        http_conn_t *hc = calloc(1, sizeof *hc);
        if (hc) {
            const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
            http_peer_format(ci ? ci->client_addr : NULL, hc->peer, sizeof hc->peer);
            if (ci && ci->client_addr) {
                socklen_t sl = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                                      : sizeof(struct sockaddr_in);
                memcpy(&hc->sa, ci->client_addr, sl);
                hc->counted = true;
                http_door_conn_opened(srv->door, (const struct sockaddr *)&hc->sa);
            }
        }
        *socket_context = hc;
        if (srv->hub->metrics)
            metrics_gauge_add(srv->hub->metrics, "ganglion_http_connections", NULL, 1);
    } else {
        http_conn_t *hc = *socket_context;
        if (hc && hc->counted)
            http_door_conn_closed(srv->door, (const struct sockaddr *)&hc->sa);
        free(hc);
        *socket_context = NULL;
        if (srv->hub->metrics)
            metrics_gauge_add(srv->hub->metrics, "ganglion_http_connections", NULL, -1);
    }
}

/* MHD decodes the path and query with this, so malformed escapes can be refused with 400
 * instead of being passed through as MHD's default decoder does. */
static size_t http_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    bool bad = false;
    size_t n = http_unescape_inplace(s, &bad);
    if (bad) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        if (ci && ci->socket_context)
            ((http_conn_t *)ci->socket_context)->bad_escape = true;
    }
    return n;
}

static void http_on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    log_warn(NULL, "http: libmicrohttpd", "{s:s}", "detail", buf);
}

/* ---- start, quiesce, destroy ------------------------------------------------------------ */

static int http_listen(const char *listen_addr, int *fd_out, int *port_out, char *err,
                       size_t errlen)
{
    char host[256];
    int port;
    if (config_split_hostport(listen_addr, host, sizeof host, &port) < 0) {
        snprintf(err, errlen, "%s: expected HOST:PORT", listen_addr);
        return -EINVAL;
    }
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "%s: %s", listen_addr, gai_strerror(gai));
        return -EINVAL;
    }
    int rc = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            rc = -errno;
            continue;
        }
        int one = 1;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
            bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
            rc = -errno;
            close(fd);
            continue;
        }
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
            rc = -errno;
            close(fd);
            continue;
        }
        *port_out = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                             : ntohs(((struct sockaddr_in *)&ss)->sin_port);
        *fd_out = fd;
        rc = 0;
        break;
    }
    freeaddrinfo(res);
    if (rc < 0)
        snprintf(err, errlen, "%s: %s", listen_addr, strerror(-rc));
    return rc;
}

static void http_declare_metrics(metrics_t *m)
{
    if (!m)
        return;
    metrics_declare(m, "ganglion_http_connections", "gauge", "Open HTTP connections.");
    metrics_declare(m, "ganglion_sse_clients", "gauge", "Connected SSE clients.");
    metrics_declare(m, "ganglion_http_refused_total", "counter",
                    "Connections refused before a request reached the API, by the status sent.");
    metrics_declare(m, "ganglion_sse_dropped_total", "counter",
                    "SSE clients dropped because they read slower than events arrived.");
    metrics_gauge_set(m, "ganglion_http_connections", NULL, 0);
    metrics_gauge_set(m, "ganglion_sse_clients", NULL, 0);
    metrics_counter_add(m, "ganglion_sse_dropped_total", NULL, 0);
}

static void http_on_handle_closed(uv_handle_t *h)
{
    http_server_t *srv = h->data;
    if (--srv->handles == 0)
        free(srv);
}

/* Reads and checks the certificate, key and priorities before anything listens, so a bad file
 * is a start error naming it rather than a bare "libmicrohttpd failed to start". */
static int http_tls_prepare(http_server_t *srv, const config_t *cfg, char *err, size_t errlen)
{
    if (!cfg->tls_cert_file[0] || !cfg->tls_key_file[0]) {
        snprintf(err, errlen, "tls.%s is set but tls.%s is not: HTTPS needs both",
                 cfg->tls_cert_file[0] ? "cert_file" : "key_file",
                 cfg->tls_cert_file[0] ? "key_file" : "cert_file");
        return -EINVAL;
    }
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        snprintf(err, errlen, "this libmicrohttpd was built without TLS; unset tls.cert_file");
        return -ENOTSUP;
    }
    int rc = tls_priorities_check(cfg->tls_priorities, err, errlen);
    if (rc == 0)
        rc = tls_material_load(cfg->tls_cert_file, cfg->tls_key_file, &srv->tlsm, err, errlen);
    if (rc < 0)
        return rc;
    srv->tls = true;
    /* Over TLS only: a browser ignores it on plain HTTP anyway (RFC 6797 8.1). */
    if (cfg->tls_hsts_max_age_s > 0)
        snprintf(srv->hsts, sizeof srv->hsts, "max-age=%" PRId64, cfg->tls_hsts_max_age_s);
    const tls_material_t *m = &srv->tlsm;
    if (m->key_mode & 077) {
        char mode[16];
        snprintf(mode, sizeof mode, "%04o", (unsigned)m->key_mode & 07777u);
        log_warn(NULL, "tls: the key file is readable or writable by other users; chmod 600 it",
                 "{s:s,s:s}", "key_file", cfg->tls_key_file, "mode", mode);
    }
    char until[40];
    clock_rfc3339((int64_t)m->not_after * 1000, until, sizeof until);
    time_t now = time(NULL);
    if (m->not_after < now || m->not_before > now)
        log_warn(NULL,
                 m->not_after < now ? "tls: the certificate has expired"
                                    : "tls: the certificate is not valid yet",
                 "{s:s,s:s}", "cert_file", cfg->tls_cert_file, "not_after", until);
    log_info(NULL, "tls: HTTPS on the HTTP listener", "{s:s,s:s,s:s,s:s}", "cert_file",
             cfg->tls_cert_file, "subject", m->subject, "not_after", until, "priorities",
             cfg->tls_priorities);
    return 0;
}

/* MHD's per-connection pool: room for a head of server.header_max and the structures MHD
 * builds from it, so the head limits answered by us (431, 414) come first. */
static size_t http_conn_memory(const config_t *cfg)
{
    size_t n = (size_t)cfg->header_max + HTTP_CONN_MEMORY_PAD;
    return n < HTTP_CONN_MEMORY_MIN ? HTTP_CONN_MEMORY_MIN : n;
}

/* The door admitted a connection: MHD reads it from here on (and closes fd on failure). */
static int http_on_handoff(void *ud, int fd, const struct sockaddr *sa, socklen_t salen)
{
    http_server_t *srv = ud;
    if (srv->closing) {
        close(fd);
        return -1;
    }
    if (MHD_add_connection(srv->d, fd, sa, salen) != MHD_YES)
        return -1;
    http_kick(srv);
    return 0;
}

int http_server_start(struct hub *hub, http_server_t **out, char *err, size_t errlen)
{
    *out = NULL;
    const config_t *cfg = &hub->cfg;
    http_server_t *srv = calloc(1, sizeof *srv);
    if (!srv) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    srv->hub = hub;
    if (http_cors_parse(&srv->cors, cfg->cors_origins) < 0) {
        snprintf(err, errlen, "server.cors_origins: more than %d origins", HTTP_CORS_MAX);
        free(srv);
        return -EINVAL;
    }
    snprintf(srv->cors_src, sizeof srv->cors_src, "%s", cfg->cors_origins);
    int rc = 0;
    if ((cfg->tls_cert_file[0] || cfg->tls_key_file[0]) &&
        (rc = http_tls_prepare(srv, cfg, err, errlen)) < 0) {
        http_cors_free(&srv->cors);
        free(srv);
        return rc;
    }
    uint64_t seed = 0;
    if (uv_random(NULL, NULL, &seed, sizeof seed, 0, NULL) != 0)
        seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    srv->rid_seed = seed;

    int fd = -1;
    rc = http_listen(cfg->listen, &fd, &srv->port, err, errlen);
    if (rc < 0) {
        tls_material_free(&srv->tlsm);
        http_cors_free(&srv->cors);
        free(srv);
        return rc;
    }

    /* The door (http_door.c) owns the listening socket and hands connections over. */
    unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                         MHD_USE_TURBO | MHD_USE_NO_LISTEN_SOCKET;
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tlsm.cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tlsm.key_pem},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)(uintptr_t)cfg->tls_priorities},
        {MHD_OPTION_END, 0, NULL},
    };
    if (srv->tls)
        flags |= MHD_USE_TLS;
    else
        tls_opts[0].option = MHD_OPTION_END; /* plain HTTP: an empty option array */
    /* The logger goes first so that MHD's complaints about later options reach our log. */
    srv->d = MHD_start_daemon(
        flags, 0, NULL, NULL, http_access, srv, MHD_OPTION_EXTERNAL_LOGGER, http_on_mhd_log, srv,
        MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)cfg->max_connections + HTTP_MHD_LIMIT_SLACK, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)cfg->connection_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        http_conn_memory(cfg), MHD_OPTION_NOTIFY_COMPLETED, http_on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, http_on_connection, srv, MHD_OPTION_UNESCAPE_CALLBACK,
        http_unescape, srv, MHD_OPTION_END);
    if (!srv->d) {
        snprintf(err, errlen, "%s: libmicrohttpd failed to start%s", cfg->listen,
                 srv->tls ? " with TLS (see its log line above)" : "");
        close(fd);
        tls_material_free(&srv->tlsm);
        http_cors_free(&srv->cors);
        free(srv);
        return -EIO;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_EPOLL_FD);
    if (!di || (rc = uv_poll_init(hub->loop, &srv->poll, di->epoll_fd)) < 0) {
        snprintf(err, errlen, "%s: cannot poll the libmicrohttpd descriptor", cfg->listen);
        MHD_stop_daemon(srv->d);
        tls_material_free(&srv->tlsm);
        http_cors_free(&srv->cors);
        free(srv);
        return rc < 0 ? rc : -EIO;
    }
    srv->poll.data = srv;
    uv_timer_init(hub->loop, &srv->timer);
    srv->timer.data = srv;
    uv_timer_init(hub->loop, &srv->heartbeat);
    srv->heartbeat.data = srv;
    srv->handles = 3;
    uv_poll_start(&srv->poll, UV_READABLE, http_on_poll);
    http_config_sync(srv); /* limits, and starts the heartbeat timer */
    rc = http_door_start(hub->loop, fd, hub->metrics, http_door_limits_fill, http_on_handoff, srv,
                         &srv->door);
    if (rc < 0) {
        snprintf(err, errlen, "%s: cannot accept connections: %s", cfg->listen, uv_strerror(rc));
        close(fd);
        http_server_destroy(&srv);
        return rc;
    }
    http_declare_metrics(hub->metrics);
    http_timer_arm(srv);
    *out = srv;
    return 0;
}

int http_server_port(const http_server_t *srv)
{
    return srv ? srv->port : -1;
}

void http_server_quiesce(http_server_t *srv)
{
    if (!srv || srv->quiescing)
        return;
    srv->quiescing = true;
    http_door_stop(srv->door); /* closes the listening socket */
    uv_timer_stop(&srv->heartbeat);
    http_streams_end(srv);
    http_kick(srv);
}

size_t http_server_inflight(const http_server_t *srv)
{
    return srv ? srv->inflight : 0;
}

/* Closes every connection synchronously; the uv handles close asynchronously, and the server's
 * memory is released by the last close callback, so the caller must let the loop run once more
 * (uv_run(loop, UV_RUN_DEFAULT) until it returns) before uv_loop_close(). Call this before the
 * bus and the registry are destroyed: ending streams unsubscribes from the bus and cancels
 * pending registry requests. */
void http_server_destroy(http_server_t **psrv)
{
    http_server_t *srv = psrv ? *psrv : NULL;
    if (!srv)
        return;
    *psrv = NULL;
    /* MHD must not be stopped with suspended connections: cancel what the registry still
     * holds, end the streams, resume everything and let MHD answer once (503 / end of
     * stream) before closing the sockets. */
    srv->quiescing = true;
    while (srv->waiting) {
        http_rq_t *rq = srv->waiting;
        api_call_cancel(rq->req);
        rq->req = NULL;
        http_waiting_unlink(rq);
        if (rq->suspended) {
            rq->suspended = false;
            MHD_resume_connection(rq->conn);
        }
    }
    http_streams_end(srv);
    for (int i = 0; i < 2; i++)
        MHD_run(srv->d);
    srv->closing = true;
    /* Stop polling the epoll descriptor before MHD closes it. */
    uv_close((uv_handle_t *)&srv->poll, http_on_handle_closed);
    uv_close((uv_handle_t *)&srv->timer, http_on_handle_closed);
    uv_close((uv_handle_t *)&srv->heartbeat, http_on_handle_closed);
    MHD_stop_daemon(srv->d);
    srv->d = NULL;
    /* After MHD: its last connections are uncounted from the door as they close. */
    http_door_destroy(&srv->door);
    tls_material_free(&srv->tlsm);
    while (srv->free_rqs) {
        http_rq_t *rq = srv->free_rqs;
        srv->free_rqs = rq->next;
        strbuf_free(&rq->body);
        free(rq);
    }
    http_cors_free(&srv->cors);
}
