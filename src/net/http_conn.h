/* One HTTP/1.x connection on the libuv loop: reads request heads (checked by http_head.c),
 * bodies (Content-Length or chunked, bounded), hands each complete request to the transport,
 * writes its response with backpressure, and keeps the connection for the next one (keep-alive,
 * pipelining answered in order) within the head, idle and body timeouts. Plain TCP or TLS.
 * Internal to src/net: http.c owns the environment and every connection. */
#ifndef GANGLION_HTTP_CONN_H
#define GANGLION_HTTP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "core/problem.h"
#include "core/strbuf.h"
#include "net/http_head.h"
#include "net/http_tls.h"

#define HTTP_CONN_PEER_MAX 64

typedef struct http_conn http_conn_t;

/* A request as parsed from the head. The strings point into the connection's read buffer
 * and stay valid until the response to this request is complete (or the connection ends). */
typedef struct http_request {
    const char *method; /* NUL-terminated */
    char *target;       /* the raw request target, NUL-terminated; the transport may edit it */
    bool http11;        /* HTTP/1.1 (else 1.0) */
    bool keep_alive;    /* the client allows another request on this connection */
    bool is_head;       /* HEAD: the response goes without its body */
    size_t nfields;
    http_head_field_t fields[HTTP_HEAD_FIELDS_MAX];
    const char *body; /* the whole body (NULL when none); valid like the strings */
    size_t body_len;
} http_request_t;

/* What a connection tells the transport. `app` is what the transport attached with
 * http_conn_app_set for the current request (NULL when none). */
typedef struct http_conn_ops {
    /* A complete request. The transport answers now or later with http_conn_respond. */
    void (*request)(http_conn_t *c, const http_request_t *rq, void *ud);
    /* The connection refuses the input (p is the transport's to send with http_conn_respond
     * and close_after; rq is NULL when no head was parsed). */
    void (*refuse)(http_conn_t *c, const http_request_t *rq, problem_t *p, void *ud);
    /* A streamed response's buffered bytes are all written: more may be appended. */
    void (*drain)(http_conn_t *c, void *app, void *ud);
    /* The connection ends while app is attached (client gone, abort, shutdown). */
    void (*gone)(http_conn_t *c, void *app, void *ud);
    /* The connection is closed and about to be freed: the last call for it. */
    void (*closed)(http_conn_t *c, void *ud);
    /* An upgraded connection (http_conn_upgrade) received bytes: data[0..len) is everything
     * not yet consumed. Returns how many bytes it consumed (the rest is offered again with
     * more input). */
    size_t (*input)(http_conn_t *c, void *app, char *data, size_t len, void *ud);
    /* An upgraded connection saw no input for its idle time (again after each further idle
     * time without input: the transport decides when to end it). */
    void (*idle)(http_conn_t *c, void *app, void *ud);
} http_conn_ops_t;

/* Settings shared by all connections of a server; http.c owns it and may change the values
 * between requests (reload). */
typedef struct http_conn_env {
    uv_loop_t *loop;
    const http_conn_ops_t *ops;
    void *ud;
    http_tls_ctx_t *tls;        /* NULL: plain HTTP */
    http_head_limits_t head;    /* header_max, uri_max, body_max */
    uint64_t header_timeout_ms; /* a head's first byte (or accept) to its end */
    uint64_t idle_ms;           /* no progress reading a head or body, or writing a reply */
    bool quiescing;             /* shutting down: no new request after the current one */
    http_conn_t *conns;         /* every open connection; maintained by http_conn.c */
} http_conn_env_t;

/* Takes fd (a connected, non-blocking socket; closed by the connection from now on, also on
 * failure). 0, or a negative errno. The connection lives until ops->closed. */
int http_conn_start(http_conn_env_t *env, int fd, const struct sockaddr *sa, socklen_t salen,
                    http_conn_t **out);

/* Like http_conn_start, for a connection refused before any request (a limit, under TLS):
 * after the handshake ops->refuse gets p (owned by the connection until then) and the
 * connection closes after the answer. */
int http_conn_start_refused(http_conn_env_t *env, int fd, const struct sockaddr *sa,
                            socklen_t salen, problem_t *p, http_conn_t **out);

/* True for a connection started by http_conn_start_refused. */
bool http_conn_refused(const http_conn_t *c);

/* Attaches the transport's state of the current request (borrowed; see ops->gone). */
void http_conn_app_set(http_conn_t *c, void *app);
void *http_conn_app(const http_conn_t *c);

/* The buffer a response is written into (status line, fields, body). */
strbuf_t *http_conn_out(http_conn_t *c);

enum {
    HTTP_CONN_DONE = 0,   /* the response is complete */
    HTTP_CONN_CLOSE = 1,  /* complete; close the connection after it */
    HTTP_CONN_STREAM = 2, /* more follows: ops->drain when written, then append again */
};

/* Sends what was appended to http_conn_out. A DONE or CLOSE ends the current request (the
 * app pointer is cleared); after the last byte the next request is read (DONE) or the
 * connection closes (CLOSE, or when the client or shutdown asked for it). */
void http_conn_respond(http_conn_t *c, int how);

/* Switches the connection to another protocol (WebSocket) once the 101 response appended to
 * http_conn_out is written: from then on input goes to ops->input (buffered up to input_max
 * bytes), output appended to http_conn_out goes out with http_conn_send, and ops->idle runs
 * after idle_ms without input. app (set with http_conn_app_set) stays until ops->gone. */
void http_conn_upgrade(http_conn_t *c, size_t input_max, uint64_t idle_ms);

/* Upgraded: writes what was appended to http_conn_out; ops->drain once all of it is out. */
void http_conn_send(http_conn_t *c);

/* Upgraded: ends the connection after what is buffered is written (the peer's remaining
 * input is drained for a short while, then the connection closes; ops->gone then). */
void http_conn_end(http_conn_t *c);

/* Ends the connection at once (reset), dropping what is buffered; ops->gone if app is set. */
void http_conn_abort(http_conn_t *c);

/* Shutting down: an idle connection closes now, a busy one after its response. */
void http_conn_quiesce(http_conn_t *c);

/* Every connection of env: quiesce, or close at once (the transport hears gone and closed
 * for each before this returns). */
void http_conn_env_quiesce(http_conn_env_t *env);
void http_conn_env_close_all(http_conn_env_t *env);

/* Bytes of the response buffer not yet written. */
size_t http_conn_out_pending(const http_conn_t *c);

/* True when the current response should close the connection (client asked, HTTP/1.0
 * without keep-alive, shutdown, or input that cannot be framed). */
bool http_conn_closing(const http_conn_t *c);

const char *http_conn_peer(const http_conn_t *c);
const struct sockaddr *http_conn_addr(const http_conn_t *c);

/* Looks up a header field of the request (case-insensitive; the first one), or NULL. */
const char *http_request_header(const http_request_t *rq, const char *name);

#endif
