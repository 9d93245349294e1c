/* One HTTP/1.x connection (see http_conn.h): a state machine driven by uv_poll on the socket.
 * Input collects in one bounded read buffer whose head stays in place while its request is
 * served (the parsed strings point into it); output goes through one buffer that the transport
 * fills; nothing more is read while a response waits to be written, so neither side grows. */
#include "net/http_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/log.h"
#include "net/http_chunked.h"

#define CONN_RBUF_INIT  (8 * 1024)
#define CONN_RBUF_MIN   (16 * 1024)  /* the read buffer may grow to max(this, header_max + 1) */
#define CONN_OUT_KEEP   (64 * 1024)  /* output buffer capacity kept between responses */
#define CONN_BODY_KEEP  (64 * 1024)  /* body buffer capacity kept between requests */
#define CONN_LINGER_MS  2000         /* after the last reply, unread input is drained this long */
#define CONN_LINGER_MAX (256 * 1024) /* and at most this much of it */
#define CONN_NEVER      UINT64_MAX

enum {
    CS_HANDSHAKE, /* TLS handshake */
    CS_HEAD,      /* reading a request head */
    CS_BODY,      /* reading its body */
    CS_APP,       /* the transport has the request; no response yet */
    CS_WRITE,     /* a response is being written (or streamed) */
    CS_LINGER,    /* the reply is out, the write side shut: draining input before close */
    CS_UPGRADED,  /* another protocol (WebSocket) owns the bytes both ways */
    CS_DEAD,
};

struct http_conn {
    http_conn_env_t *env;
    uv_poll_t poll;
    uv_timer_t timer;
    int fd;
    int handles; /* uv handles open; freed when the last one closes */
    int events;  /* the poll mask in force (-1: not polling) */
    int state;
    http_tls_t *tls;
    /* input: [0, hend) the head of the request being served, [rpos, rlen) unparsed input */
    char *rbuf;
    size_t rcap, rlen, rpos, hend;
    uint64_t head_start; /* when the head being read began (ms); CONN_NEVER: none yet */
    uint64_t last_io;    /* last progress reading or writing (ms) */
    uint64_t timer_due;  /* when the timer fires (ms); CONN_NEVER: not armed */
    uint64_t linger_end;
    size_t lingered;
    bool eof;         /* the client closed its side */
    bool close_after; /* the current response ends the connection */
    bool streaming;   /* the current response goes on after what is buffered */
    bool drain_due;   /* ops->drain once the buffer is written */
    bool in_advance, again;
    bool reset;
    /* the body being read */
    bool chunked;
    uint64_t body_left;
    http_chunked_t ck;
    strbuf_t body;
    http_request_t req;
    /* output: [woff, out.len) still to write */
    strbuf_t out;
    size_t woff;
    void *app;
    problem_t *refusal; /* answered right after the handshake, or NULL */
    bool refused_conn;  /* started by http_conn_start_refused */
    /* upgraded: input buffered up to up_max, ops->idle after up_idle_ms without input */
    size_t up_max;
    uint64_t up_idle_ms, last_in;
    bool up_fresh; /* input arrived that ops->input has not seen */
    struct sockaddr_storage sa;
    char peer[HTTP_CONN_PEER_MAX];
    http_conn_t *prev, *next; /* env->conns */
};

static void conn_advance(http_conn_t *c);

/* ---- small helpers ---------------------------------------------------------------------- */

static uint64_t conn_now(const http_conn_t *c)
{
    return uv_now(c->env->loop);
}

static void conn_peer_format(const struct sockaddr *sa, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        snprintf(out, outlen, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        snprintf(out, outlen, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
    } else {
        snprintf(out, outlen, "unknown");
    }
}

const char *http_request_header(const http_request_t *rq, const char *name)
{
    for (size_t i = 0; i < rq->nfields; i++)
        if (strcasecmp(rq->fields[i].name, name) == 0)
            return rq->fields[i].value;
    return NULL;
}

/* True when the comma list `list` holds `token` (case-insensitive). */
static bool conn_list_has(const char *list, const char *token)
{
    size_t tn = strlen(token);
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if ((size_t)(t - p) == tn && strncasecmp(p, token, tn) == 0)
            return true;
        p = e;
    }
    return false;
}

/* ---- closing ---------------------------------------------------------------------------- */

static void conn_on_closed(uv_handle_t *h)
{
    http_conn_t *c = h->data;
    if (--c->handles > 0)
        return;
    close(c->fd);
    problem_destroy(&c->refusal);
    strbuf_free(&c->out);
    strbuf_free(&c->body);
    free(c->rbuf);
    free(c);
}

/* Ends the connection: the transport hears of it (gone, closed) and the memory goes once the
 * loop has closed the handles. reset: drop unsent bytes and tell the client with a RST. */
static void conn_close(http_conn_t *c, bool reset)
{
    if (c->state == CS_DEAD)
        return;
    c->state = CS_DEAD;
    void *app = c->app;
    c->app = NULL;
    if (app && c->env->ops->gone)
        c->env->ops->gone(c, app, c->env->ud);
    if (reset) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        if (setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) < 0)
            log_debug(NULL, "http: SO_LINGER", "{s:s}", "error", strerror(errno));
    }
    if (c->tls)
        http_tls_free(&c->tls);
    http_conn_env_t *e = c->env;
    if (c->prev)
        c->prev->next = c->next;
    else if (e->conns == c)
        e->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    e->ops->closed(c, e->ud);
    uv_close((uv_handle_t *)&c->poll, conn_on_closed);
    uv_close((uv_handle_t *)&c->timer, conn_on_closed);
}

/* The last response is out: shut the write side and drain what the client still sends, so
 * that closing does not reset the connection before the client has read the reply. */
static void conn_linger(http_conn_t *c)
{
    if (c->tls)
        http_tls_bye(c->tls);
    if (c->eof || shutdown(c->fd, SHUT_WR) < 0) {
        conn_close(c, false);
        return;
    }
    c->state = CS_LINGER;
    c->linger_end = conn_now(c) + CONN_LINGER_MS;
    c->lingered = 0;
}

/* ---- input ------------------------------------------------------------------------------ */

static ssize_t conn_recv(http_conn_t *c, char *buf, size_t len)
{
    if (c->tls)
        return http_tls_read(c->tls, buf, len);
    ssize_t n = recv(c->fd, buf, len, 0);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
    return n;
}

/* The read buffer's limit: a whole head of header_max bytes, and one byte more to see that a
 * head is too large. */
static size_t conn_rbuf_max(const http_conn_t *c)
{
    if (c->state == CS_UPGRADED)
        return c->up_max;
    size_t m = c->env->head.header_max + 1;
    return m < CONN_RBUF_MIN ? CONN_RBUF_MIN : m;
}

/* True when the state takes input now (else it waits in the kernel: backpressure). */
static bool conn_reading(const http_conn_t *c)
{
    if (c->eof || c->state == CS_DEAD || c->state == CS_HANDSHAKE)
        return false;
    if (c->state == CS_LINGER)
        return true;
    if (c->rlen < c->rcap)
        return true;
    /* a head (or an upgraded protocol's frame) that fills the buffer may make it grow, up to
     * its limit */
    return (c->state == CS_HEAD || c->state == CS_UPGRADED) && c->rcap < conn_rbuf_max(c);
}

/* Reads what the socket has into the buffer. 0, or -1 when the connection was closed. */
static int conn_read(http_conn_t *c)
{
    for (;;) {
        if (c->state == CS_LINGER) {
            char sink[4096];
            ssize_t n = conn_recv(c, sink, sizeof sink);
            if (n == -EAGAIN)
                return 0;
            c->lingered += n > 0 ? (size_t)n : 0;
            if (n <= 0 || c->lingered > CONN_LINGER_MAX) {
                conn_close(c, false);
                return -1;
            }
            continue;
        }
        if (!conn_reading(c))
            return 0;
        if (c->rlen == c->rcap) {
            size_t cap = c->rcap * 2, max = conn_rbuf_max(c);
            if (cap > max)
                cap = max;
            char *p = realloc(c->rbuf, cap);
            if (!p)
                return 0; /* keep what we have; the head check refuses it when it is too big */
            c->rbuf = p;
            c->rcap = cap;
        }
        ssize_t n = conn_recv(c, c->rbuf + c->rlen, c->rcap - c->rlen);
        if (n == -EAGAIN)
            return 0;
        if (n < 0) {
            log_debug(NULL, "http: read failed", "{s:s,s:s}", "peer", c->peer, "error",
                      c->tls && n == -EPROTO ? http_tls_error(c->tls) : strerror((int)-n));
            conn_close(c, true);
            return -1;
        }
        if (n == 0) {
            c->eof = true;
            return 0;
        }
        if (c->state == CS_HEAD && c->head_start == CONN_NEVER && c->rlen == c->rpos)
            c->head_start = conn_now(c);
        c->rlen += (size_t)n;
        c->last_io = conn_now(c);
        if (c->state == CS_UPGRADED) {
            c->up_fresh = true;
            c->last_in = c->last_io;
        }
        if (!c->tls && c->rlen < c->rcap)
            return 0; /* the socket is empty: a short read says so */
    }
}

/* ---- output ----------------------------------------------------------------------------- */

strbuf_t *http_conn_out(http_conn_t *c)
{
    return &c->out;
}

/* Writes what is buffered. 0 when all of it is out or the socket is full, -1 when closed. */
static int conn_flush(http_conn_t *c)
{
    while (c->woff < c->out.len) {
        const char *p = c->out.data + c->woff;
        size_t len = c->out.len - c->woff;
        ssize_t n;
        if (c->tls) {
            n = http_tls_write(c->tls, p, len);
        } else {
            n = send(c->fd, p, len, MSG_NOSIGNAL);
            if (n < 0)
                n = errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
        }
        if (n == -EAGAIN)
            return 0;
        if (n < 0) {
            conn_close(c, true);
            return -1;
        }
        c->woff += (size_t)n;
        c->last_io = conn_now(c);
    }
    c->woff = 0;
    if (c->out.cap > CONN_OUT_KEEP)
        strbuf_free(&c->out);
    else
        strbuf_reset(&c->out);
    return 0;
}

static bool conn_out_pending(const http_conn_t *c)
{
    return c->woff < c->out.len;
}

/* ---- poll and timer --------------------------------------------------------------------- */

static void conn_on_poll(uv_poll_t *p, int status, int events);
static void conn_on_timer(uv_timer_t *t);

/* Waiting on the transport (a request being served, a stream between events): the end of the
 * client's input ends the connection. */
static bool conn_waiting(const http_conn_t *c)
{
    return !c->eof && (c->state == CS_APP || c->state == CS_UPGRADED ||
                       (c->state == CS_WRITE && c->streaming));
}

static void conn_poll_update(http_conn_t *c)
{
    if (c->state == CS_DEAD)
        return;
    int ev = 0;
    if (c->state == CS_HANDSHAKE)
        ev = c->tls && http_tls_wants_write(c->tls) ? UV_WRITABLE : UV_READABLE;
    else {
        if (conn_reading(c))
            ev |= UV_READABLE;
        else if (conn_waiting(c))
            ev |= UV_DISCONNECT; /* a client that leaves while served, its input buffer full */
        if (conn_out_pending(c))
            ev |= UV_WRITABLE;
    }
    if (ev == c->events)
        return;
    c->events = ev;
    if (ev)
        uv_poll_start(&c->poll, ev, conn_on_poll);
    else
        uv_poll_stop(&c->poll);
}

/* When the current state times out (ms), or CONN_NEVER. */
static uint64_t conn_deadline(const http_conn_t *c)
{
    const http_conn_env_t *e = c->env;
    switch (c->state) {
    case CS_HANDSHAKE:
        return c->head_start + e->header_timeout_ms;
    case CS_HEAD:
        if (c->head_start != CONN_NEVER)
            return c->head_start + e->header_timeout_ms;
        return c->last_io + e->idle_ms;
    case CS_BODY:
        return c->last_io + e->idle_ms;
    case CS_WRITE:
        return conn_out_pending(c) && !c->streaming ? c->last_io + e->idle_ms : CONN_NEVER;
    case CS_LINGER:
        return c->linger_end;
    case CS_UPGRADED:
        if (conn_out_pending(c) && c->last_io + e->idle_ms < c->last_in + c->up_idle_ms)
            return c->last_io + e->idle_ms; /* a peer that does not read */
        return c->last_in + c->up_idle_ms;
    default:
        return CONN_NEVER;
    }
}

static void conn_timer_update(http_conn_t *c)
{
    if (c->state == CS_DEAD)
        return;
    uint64_t due = conn_deadline(c);
    /* An armed timer that fires early finds the deadline not reached and re-arms: cheaper than
     * restarting the timer on every request. */
    if (due == CONN_NEVER || (c->timer_due != CONN_NEVER && c->timer_due <= due))
        return;
    uint64_t now = conn_now(c);
    c->timer_due = due;
    uv_timer_start(&c->timer, conn_on_timer, due > now ? due - now : 0, 0);
}

/* ---- requests --------------------------------------------------------------------------- */

/* The connection refuses its input: the transport answers with the problem and the
 * connection closes after it (framing is lost). */
static void conn_refuse(http_conn_t *c, const http_request_t *rq, int status, const char *slug,
                        const char *detail)
{
    c->close_after = true;
    c->state = CS_APP;
    c->streaming = false;
    problem_t *p = problem_new(status, slug, "%s", detail);
    c->env->ops->refuse(c, rq, p, c->env->ud);
}

static int conn_body_sink(void *ud, const char *data, size_t len)
{
    return strbuf_append(ud, data, len);
}

static void conn_dispatch(http_conn_t *c)
{
    c->state = CS_APP;
    c->req.body = c->body.len ? c->body.data : NULL;
    c->req.body_len = c->body.len;
    c->env->ops->request(c, &c->req, c->env->ud);
}

/* Sends "100 Continue" when the client waits for it before sending its body. */
static void conn_continue(http_conn_t *c)
{
    const char *expect = http_request_header(&c->req, "Expect");
    if (!c->req.http11 || !expect || strcasecmp(expect, "100-continue") != 0 || c->rpos < c->rlen)
        return;
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (strbuf_append(&c->out, cont, sizeof cont - 1) == 0)
        conn_flush(c);
}

/* A complete, checked head at rpos: split it and decide how its body is framed. */
static void conn_head_accept(http_conn_t *c)
{
    http_head_parts_t parts = {.fields = c->req.fields};
    /* The head moves to the front so that [0, hend) holds it while the request lives. */
    if (c->rpos) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
    }
    http_head_split(c->rbuf, c->rlen, &parts);
    http_request_t *rq = &c->req;
    rq->method = parts.method;
    rq->target = parts.target;
    rq->http11 = parts.http11;
    rq->nfields = parts.nfields;
    rq->is_head = strcmp(rq->method, "HEAD") == 0;
    const char *conn = http_request_header(rq, "Connection");
    rq->keep_alive = rq->http11 ? !conn_list_has(conn, "close") : conn_list_has(conn, "keep-alive");
    rq->body = NULL;
    rq->body_len = 0;
    c->hend = c->rpos = parts.head_len;
    c->head_start = CONN_NEVER;
    c->close_after = !rq->keep_alive;
    strbuf_reset(&c->body);
    c->body.max = (size_t)c->env->head.body_max;

    /* http_head_check accepted the framing: one Content-Length within the limit, or
     * Transfer-Encoding: chunked alone, or neither. */
    c->chunked = http_request_header(rq, "Transfer-Encoding") != NULL;
    c->body_left = 0;
    const char *cl = http_request_header(rq, "Content-Length");
    if (cl)
        for (const char *p = cl; *p >= '0' && *p <= '9'; p++)
            c->body_left = c->body_left * 10 + (uint64_t)(*p - '0');
    if (c->chunked)
        http_chunked_init(&c->ck, c->env->head.body_max, c->env->head.header_max);
    if (c->chunked || c->body_left) {
        c->state = CS_BODY;
        conn_continue(c);
    } else {
        conn_dispatch(c);
    }
}

static void conn_head(http_conn_t *c)
{
    if (c->rpos == c->rlen) {
        if (c->eof)
            conn_close(c, false);
        return;
    }
    http_head_verdict_t v;
    int rc = http_head_check(c->rbuf + c->rpos, c->rlen - c->rpos, &c->env->head, &v);
    if (rc == HTTP_HEAD_OK) {
        conn_head_accept(c);
    } else if (rc == HTTP_HEAD_REFUSED) {
        conn_refuse(c, NULL, v.status, v.slug, v.detail);
    } else if (c->eof) {
        conn_refuse(c, NULL, 400, "bad-request", "the request head ended early");
    } else if (c->rlen == c->rcap && c->rcap >= conn_rbuf_max(c)) {
        /* only reachable when the buffer could not grow */
        conn_refuse(c, NULL, 431, "header-fields-too-large", "the request head is too large");
    }
}

/* Body bytes from rpos go into the body buffer; consumed input is dropped after the head. */
static void conn_body(http_conn_t *c)
{
    size_t avail = c->rlen - c->rpos;
    if (c->chunked) {
        size_t used = 0;
        http_head_verdict_t v;
        int rc = http_chunked_feed(&c->ck, c->rbuf + c->rpos, avail, &used, conn_body_sink,
                                   &c->body, &v);
        c->rpos += used;
        if (rc == HTTP_CHUNKED_ERROR) {
            conn_refuse(c, &c->req, v.status, v.slug, v.detail);
            return;
        }
        if (rc == HTTP_CHUNKED_DONE) {
            memmove(c->rbuf + c->hend, c->rbuf + c->rpos, c->rlen - c->rpos);
            c->rlen = c->hend + (c->rlen - c->rpos);
            c->rpos = c->hend;
            conn_dispatch(c);
            return;
        }
    } else {
        size_t n = avail < c->body_left ? avail : (size_t)c->body_left;
        if (strbuf_append(&c->body, c->rbuf + c->rpos, n) < 0) {
            conn_refuse(c, &c->req, 500, "internal", "the request body could not be stored");
            return;
        }
        c->rpos += n;
        c->body_left -= n;
        if (c->body_left == 0) {
            conn_dispatch(c);
            return;
        }
    }
    c->rlen = c->rpos = c->hend; /* all input consumed: read the rest of the body after the head */
    if (c->eof)
        conn_refuse(c, &c->req, 400, "bad-request", "the request body ended early");
}

/* The response is written: the request's head and body are released and the next request
 * (perhaps already buffered: pipelining) is read. */
static void conn_next(http_conn_t *c)
{
    if (c->close_after || c->env->quiescing) {
        conn_linger(c);
        return;
    }
    size_t left = c->rlen - c->rpos;
    memmove(c->rbuf, c->rbuf + c->rpos, left);
    c->rlen = left;
    c->rpos = c->hend = 0;
    if (c->body.cap > CONN_BODY_KEEP)
        strbuf_free(&c->body);
    else
        strbuf_reset(&c->body);
    memset(&c->req, 0, offsetof(http_request_t, fields));
    c->state = CS_HEAD;
    c->head_start = left ? conn_now(c) : CONN_NEVER;
    c->last_io = conn_now(c);
}

static void conn_handshake(http_conn_t *c)
{
    int rc = http_tls_handshake(c->tls);
    if (rc == -EAGAIN)
        return;
    if (rc < 0) {
        log_debug(NULL, "http: TLS handshake failed", "{s:s,s:s}", "peer", c->peer, "error",
                  http_tls_error(c->tls));
        conn_close(c, false);
        return;
    }
    c->state = CS_HEAD;
    c->last_io = conn_now(c);
    /* the head timeout runs on from the accept */
    c->again = true;
    if (c->refusal) {
        problem_t *p = c->refusal;
        c->refusal = NULL;
        c->close_after = true;
        c->state = CS_APP;
        c->env->ops->refuse(c, NULL, p, c->env->ud);
    }
}

/* Upgraded: fresh input goes to the transport, which consumes whole frames; a drained output
 * buffer is reported; the peer's end of input ends the connection. */
static void conn_upgraded(http_conn_t *c)
{
    if (c->up_fresh && c->rlen > c->rpos) {
        c->up_fresh = false;
        size_t used =
            c->env->ops->input(c, c->app, c->rbuf + c->rpos, c->rlen - c->rpos, c->env->ud);
        if (c->state != CS_UPGRADED)
            return;
        c->rpos += used;
        if (c->rpos == c->rlen) {
            c->rpos = c->rlen = 0;
        } else if (c->rpos > 0 && c->rlen == c->rcap) { /* room for the rest of a frame */
            memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
            c->rlen -= c->rpos;
            c->rpos = 0;
        }
    }
    if (conn_out_pending(c))
        return;
    if (c->close_after) { /* http_conn_end: the transport's part is over */
        void *app = c->app;
        c->app = NULL;
        if (app && c->env->ops->gone)
            c->env->ops->gone(c, app, c->env->ud);
        conn_linger(c);
        return;
    }
    if (c->drain_due) {
        c->drain_due = false;
        c->env->ops->drain(c, c->app, c->env->ud);
        if (c->state != CS_UPGRADED)
            return;
    }
    if (c->eof)
        conn_close(c, false);
}

/* Runs the state machine until it waits for the socket, the timer or the transport. Re-entry
 * (a transport that answers inside ops->request) is folded into the running loop. */
static void conn_advance(http_conn_t *c)
{
    if (c->in_advance) {
        c->again = true;
        return;
    }
    c->in_advance = true;
    do {
        c->again = false;
        if (c->state != CS_HANDSHAKE && conn_out_pending(c) && conn_flush(c) < 0)
            break;
        /* GnuTLS may hold decrypted input the socket will not signal again */
        if (c->tls && c->state != CS_HANDSHAKE && http_tls_pending(c->tls) && conn_reading(c) &&
            conn_read(c) < 0)
            break;
        int st = c->state;
        switch (st) {
        case CS_HANDSHAKE:
            conn_handshake(c);
            break;
        case CS_HEAD:
            conn_head(c);
            break;
        case CS_BODY:
            conn_body(c);
            break;
        case CS_APP:
            if (c->eof) { /* the client left before its answer: tell the transport */
                conn_close(c, false);
            }
            break;
        case CS_UPGRADED:
            conn_upgraded(c);
            break;
        case CS_WRITE:
            if (conn_out_pending(c))
                break;
            if (c->streaming) {
                if (c->drain_due) {
                    c->drain_due = false;
                    c->env->ops->drain(c, c->app, c->env->ud);
                }
                if (c->eof && c->state == CS_WRITE) /* a stream ends when its client leaves */
                    conn_close(c, false);
                break;
            }
            conn_next(c);
            break;
        default:
            break;
        }
        if (c->state != st && c->state != CS_DEAD)
            c->again = true;
        /* Input consumed from a full buffer while GnuTLS still holds decrypted bytes: the
         * socket may be empty and never signal them, so read them now (each pass reads, so
         * this ends once the buffer is full or GnuTLS is drained). */
        if (c->tls && c->state != CS_HANDSHAKE && c->state != CS_DEAD && http_tls_pending(c->tls) &&
            conn_reading(c))
            c->again = true;
    } while (c->again && c->state != CS_DEAD);
    c->in_advance = false;
    conn_poll_update(c);
    conn_timer_update(c);
}

static void conn_on_poll(uv_poll_t *p, int status, int events)
{
    http_conn_t *c = p->data;
    if (status < 0) {
        conn_close(c, true);
        return;
    }
    if (conn_waiting(c) && (events & UV_DISCONNECT) && !(events & UV_READABLE)) {
        c->eof = true;
    } else if ((events & (UV_READABLE | UV_DISCONNECT)) && c->state != CS_HANDSHAKE) {
        if (conn_read(c) < 0)
            return;
    }
    conn_advance(c);
}

static void conn_on_timer(uv_timer_t *t)
{
    http_conn_t *c = t->data;
    c->timer_due = CONN_NEVER;
    uint64_t due = conn_deadline(c);
    if (due > conn_now(c)) {
        conn_timer_update(c);
        return;
    }
    char detail[128];
    switch (c->state) {
    case CS_HEAD:
        if (c->head_start == CONN_NEVER) { /* idle between requests */
            conn_close(c, false);
            return;
        }
        snprintf(detail, sizeof detail, "the request head did not arrive within %" PRIu64 " ms",
                 c->env->header_timeout_ms);
        conn_refuse(c, NULL, 408, "request-timeout", detail);
        break;
    case CS_BODY:
        snprintf(detail, sizeof detail, "no byte of the request body arrived for %" PRIu64 " s",
                 c->env->idle_ms / 1000);
        conn_refuse(c, &c->req, 408, "request-timeout", detail);
        break;
    case CS_WRITE: /* the client does not read its reply */
        conn_close(c, true);
        return;
    case CS_UPGRADED:
        if (conn_out_pending(c) && conn_now(c) >= c->last_io + c->env->idle_ms) {
            conn_close(c, true); /* the peer does not read */
            return;
        }
        if (c->close_after) { /* the transport's goodbye went unanswered */
            conn_close(c, true);
            return;
        }
        c->last_in = conn_now(c); /* the next idle period starts now */
        c->env->ops->idle(c, c->app, c->env->ud);
        break;
    default: /* handshake or linger */
        conn_close(c, false);
        return;
    }
    conn_advance(c);
}

/* ---- the transport's side --------------------------------------------------------------- */

static int conn_start(http_conn_env_t *env, int fd, const struct sockaddr *sa, socklen_t salen,
                      problem_t *refusal, http_conn_t **out)
{
    *out = NULL;
    http_conn_t *c = calloc(1, sizeof *c);
    char *rbuf = malloc(CONN_RBUF_INIT);
    if (!c || !rbuf) {
        free(c);
        free(rbuf);
        problem_destroy(&refusal);
        close(fd);
        return -ENOMEM;
    }
    c->env = env;
    c->fd = fd;
    c->rbuf = rbuf;
    c->rcap = CONN_RBUF_INIT;
    c->events = 0;
    c->timer_due = CONN_NEVER;
    strbuf_init(&c->out, 0);
    strbuf_init(&c->body, 0);
    if (sa && salen <= sizeof c->sa)
        memcpy(&c->sa, sa, salen);
    conn_peer_format(sa, c->peer, sizeof c->peer);
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = env->tls ? http_tls_new(env->tls, fd, &c->tls) : 0;
    if (rc == 0)
        rc = uv_poll_init_socket(env->loop, &c->poll, fd);
    if (rc < 0) {
        http_tls_free(&c->tls);
        free(rbuf);
        free(c);
        problem_destroy(&refusal);
        close(fd);
        return rc;
    }
    c->refusal = refusal;
    c->refused_conn = refusal != NULL;
    uv_timer_init(env->loop, &c->timer);
    c->poll.data = c->timer.data = c;
    c->handles = 2;
    c->head_start = c->last_io = conn_now(c);
    c->state = c->tls ? CS_HANDSHAKE : CS_HEAD;
    c->next = env->conns;
    if (env->conns)
        env->conns->prev = c;
    env->conns = c;
    *out = c;
    conn_advance(c);
    return 0;
}

int http_conn_start(http_conn_env_t *env, int fd, const struct sockaddr *sa, socklen_t salen,
                    http_conn_t **out)
{
    return conn_start(env, fd, sa, salen, NULL, out);
}

int http_conn_start_refused(http_conn_env_t *env, int fd, const struct sockaddr *sa,
                            socklen_t salen, problem_t *p, http_conn_t **out)
{
    if (!env->tls) {
        problem_destroy(&p);
        close(fd);
        return -EINVAL;
    }
    return conn_start(env, fd, sa, salen, p, out);
}

bool http_conn_refused(const http_conn_t *c)
{
    return c->refused_conn;
}

void http_conn_app_set(http_conn_t *c, void *app)
{
    c->app = app;
}

void *http_conn_app(const http_conn_t *c)
{
    return c->app;
}

void http_conn_respond(http_conn_t *c, int how)
{
    if (c->state == CS_DEAD)
        return;
    if (how == HTTP_CONN_CLOSE)
        c->close_after = true;
    c->streaming = how == HTTP_CONN_STREAM;
    c->drain_due = c->streaming;
    if (!c->streaming)
        c->app = NULL;
    c->state = CS_WRITE;
    conn_advance(c);
}

void http_conn_upgrade(http_conn_t *c, size_t input_max, uint64_t idle_ms)
{
    if (c->state == CS_DEAD)
        return;
    /* the head and body are done with; input already read after them is the new protocol's */
    size_t left = c->rlen - c->rpos;
    memmove(c->rbuf, c->rbuf + c->rpos, left);
    c->rlen = left;
    c->rpos = c->hend = 0;
    strbuf_free(&c->body);
    c->up_max = input_max < CONN_RBUF_INIT ? CONN_RBUF_INIT : input_max;
    c->up_idle_ms = idle_ms;
    c->last_in = conn_now(c);
    c->up_fresh = left > 0;
    c->streaming = false;
    c->close_after = false;
    c->state = CS_UPGRADED;
    conn_advance(c);
}

void http_conn_send(http_conn_t *c)
{
    if (c->state != CS_UPGRADED)
        return;
    c->drain_due = true;
    conn_advance(c);
}

void http_conn_end(http_conn_t *c)
{
    if (c->state != CS_UPGRADED)
        return;
    c->close_after = true;
    conn_advance(c);
}

void http_conn_abort(http_conn_t *c)
{
    conn_close(c, true);
}

void http_conn_quiesce(http_conn_t *c)
{
    if (c->state == CS_HEAD && c->rpos == c->rlen && !conn_out_pending(c))
        conn_close(c, false);
    else if (c->state == CS_HANDSHAKE)
        conn_close(c, false);
}

bool http_conn_closing(const http_conn_t *c)
{
    return c->close_after || c->eof || c->env->quiescing;
}

const char *http_conn_peer(const http_conn_t *c)
{
    return c->peer;
}

const struct sockaddr *http_conn_addr(const http_conn_t *c)
{
    return (const struct sockaddr *)&c->sa;
}

void http_conn_env_quiesce(http_conn_env_t *env)
{
    env->quiescing = true;
    http_conn_t *c = env->conns;
    while (c) {
        http_conn_t *next = c->next;
        http_conn_quiesce(c);
        c = next;
    }
}

void http_conn_env_close_all(http_conn_env_t *env)
{
    while (env->conns)
        conn_close(env->conns, false);
}

size_t http_conn_out_pending(const http_conn_t *c)
{
    return c->out.len - c->woff;
}
