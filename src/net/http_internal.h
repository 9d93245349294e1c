/* What http.c, http_stream.c and ws.c share, and nothing else includes: the server, a request's
 * context and an SSE stream, and the response helpers the stream's head is written with. */
#ifndef GANGLION_HTTP_INTERNAL_H
#define GANGLION_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <uv.h>

#include "api/api.h"
#include "api/api_owner.h"
#include "core/config.h"
#include "core/strbuf.h"
#include "net/http.h"
#include "net/http_conn.h"
#include "net/http_door.h"
#include "net/http_parse.h"
#include "net/http_tls.h"
#include "net/sse.h"

#define HTTP_RQ_POOL_MAX     256         /* request contexts kept for reuse */
#define HTTP_SCRATCH         (16 * 1024) /* the transport's own problems are serialised here */
#define HTTP_RID_BUF         (HTTP_REQUEST_ID_MAX + 1)
#define HTTP_EXTRA_HEADERS   16          /* problem headers copied into a reply */
#define SSE_BATCH            (16 * 1024) /* bytes of frames formatted per write */
#define SSE_CHUNK_HEAD       10          /* "%08zx\r\n": room kept for a chunk's size line */
#define HTTP_ALLOW_METHODS   "GET, POST, PUT, PATCH, DELETE, OPTIONS"
#define HTTP_ALLOW_HEADERS   "Authorization, Content-Type, X-Request-Id, Last-Event-ID"
#define HTTP_CORS_MAX_AGE    "600"
#define HTTP_REQ_HEADERS_MAX 1024 /* Access-Control-Request-Headers echoed up to this length */
/* Connections refused at a limit under TLS get their problem after a handshake; beyond this
 * many such handshakes at once they are closed without one, so refusing stays cheap. */
#define HTTP_TLS_REFUSING_MAX 32

typedef struct http_rq http_rq_t;
typedef struct http_stream http_stream_t;
typedef struct ws_conn ws_conn_t;

/* What a connection carries for the transport (its app pointer): a request the registry holds,
 * or a stream. */
enum { HTTP_APP_RQ = 1, HTTP_APP_STREAM, HTTP_APP_WS };

/* One request, from its head to the registry's reply (or its cancellation). */
struct http_rq {
    int kind; /* HTTP_APP_RQ */
    http_server_t *srv;
    http_conn_t *conn;
    const http_request_t *hreq; /* while dispatching: the head, for header lookups */
    api_req_t *req;             /* pending in the registry, or NULL */
    bool gzip_ok;
    bool is_head;
    bool http11;
    const char *cors;       /* Access-Control-Allow-Origin value (static or srv-owned), or NULL */
    char rid[HTTP_RID_BUF]; /* the client's valid X-Request-Id, or generated on demand */
    http_rq_t *prev, *next; /* srv->waiting while req != NULL; free list otherwise */
};

enum { SSE_RUNNING = 0, SSE_END };

/* One SSE client: lives from its reply to the end of its connection (ops->gone). */
struct http_stream {
    int kind; /* HTTP_APP_STREAM */
    http_server_t *srv;
    http_conn_t *conn;
    bus_sub_t *sub;
    sse_queue_t q;
    api_viewer_t viewer; /* who reads: events it may not see are skipped */
    bool chunked;        /* HTTP/1.1: chunked framing; HTTP/1.0: the close ends the body */
    bool writing;        /* bytes handed to the connection and not yet written */
    bool heartbeat_due;
    int end;
    http_stream_t *prev, *next;
};

struct http_server {
    hub_t *hub;
    int port;
    uv_timer_t heartbeat; /* one timer for every stream */
    bool quiescing, closing, heartbeat_open;
    size_t inflight;
    size_t tls_refusing; /* connections answering a refusal after their handshake */
    uint64_t body_limit;
    uint64_t compress_min;
    size_t client_queue;
    http_cors_t cors;
    char cors_src[CONFIG_STR_MAX]; /* the list `cors` was parsed from */
    http_tls_ctx_t *tls;
    char hsts[32]; /* Strict-Transport-Security value over TLS, "" = not sent */
    int64_t heartbeat_s;
    http_door_t *door; /* accepts, limits connections, checks first heads */
    http_conn_env_t env;
    http_conn_ops_t ops;
    http_rq_t *waiting; /* requests whose reply is pending in the registry */
    http_rq_t *free_rqs;
    size_t nfree;
    http_stream_t *streams;
    ws_conn_t *wss;           /* every open WebSocket (ws.c) */
    struct http_ui_cache *ui; /* the console's zstd copies, made on demand (http_ui.c) */
    uint64_t rid_seed, rid_counter;
    time_t date_at;
    char date[40]; /* the Date field value of date_at */
    char scratch[HTTP_SCRATCH];
};

/* ---- http.c: requests and responses ---- */

/* The request id of rq: the client's valid X-Request-Id, or one generated on first use. */
const char *http_rq_id(http_rq_t *rq);
/* rq leaves srv->waiting (its registry request is done or cancelled). */
void http_waiting_unlink(http_rq_t *rq);
/* Returns rq to the server's pool (or frees it). */
void http_rq_put(http_server_t *srv, http_rq_t *rq);
/* The status line and the fields every response has; then the common tail (request id, CORS,
 * security headers, CSP). */
void http_head_begin(http_rq_t *rq, strbuf_t *o, int status);
void http_field(strbuf_t *o, const char *name, const char *value);
void http_head_common(http_rq_t *rq, strbuf_t *o, const char *rid, const char *csp);
const char *http_csp_for(const char *ctype, const api_reply_t *r);
/* Ends a request whose response is in the connection's buffer; rq goes back to the pool unless
 * in_dispatch (api_reply_t.in_dispatch: http_on_request releases it). */
void http_rq_finish(http_rq_t *rq, int rc, int how, bool in_dispatch);
/* Answers rq with the problem p (destroyed). */
void http_fail(http_rq_t *rq, const char *path, problem_t *p, bool in_dispatch);

/* ---- http_stream.c: SSE stream life ---- */

/* Opens the stream for a reply with `stream` set: subscribe, replay, the head and the first
 * chunk; from then the connection carries st, not rq. */
void http_stream_open(http_rq_t *rq, const api_reply_t *r);
/* Formats what is queued (and a due heartbeat) once the previous chunk is written. */
void http_stream_pump(http_stream_t *st);
/* Unsubscribes and frees st (its connection is gone or ended). */
void http_stream_free(http_stream_t *st);
/* The heartbeat timer's callback: every stream gets a comment. */
void http_streams_heartbeat(uv_timer_t *t);
/* Shutdown: every stream unsubscribes and ends once its queue is written. */
void http_streams_end(http_server_t *srv);

/* ---- ws.c: the WebSocket transport ---- */

/* True for the WebSocket's path (GET /api/v1/ws). */
bool ws_wanted(const char *path);
/* Answers rq with the opening handshake (101, the connection then carries a ws_conn_t) or a
 * problem (426, 400, 401, 403). */
void ws_open(http_rq_t *rq, const http_request_t *hr);
/* The connection's ops for a ws_conn_t app (see http_conn_ops_t). */
size_t ws_on_input(ws_conn_t *ws, char *data, size_t len);
void ws_on_idle(ws_conn_t *ws);
void ws_free(ws_conn_t *ws);
/* Shutdown: every WebSocket stops its events and closes with 1001 once its requests in flight
 * are answered. */
void ws_all_end(http_server_t *srv);

#endif
