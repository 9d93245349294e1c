/* The HTTP transport: ganglion's own HTTP/1.1 server on the hub's libuv loop. The front door
 * (http_door.c) admits connections, http_conn.c frames requests and writes responses; here each
 * request becomes an api_call_t for the registry and each api_reply_t the bytes of a response
 * (JSON, problem+json, raw bytes, or an SSE stream fed from the bus through a bounded queue). */
#include "net/http.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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
#include "net/http_conn.h"
#include "net/http_door.h"
#include "net/http_head.h"
#include "net/http_parse.h"
#include "net/http_tls.h"
#include "net/http_ui.h"
#include "net/sse.h"
#include "net/tls.h"

#include "net/http_internal.h"

/* ---- small helpers ---------------------------------------------------------------------- */

static uint64_t http_mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* The request's id for transport-made responses: the client's if valid, else a fresh one. */
const char *http_rq_id(http_rq_t *rq)
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
    return rq->hreq ? http_request_header(rq->hreq, name) : NULL;
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

void http_waiting_unlink(http_rq_t *rq)
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
static http_rq_t *http_rq_get(http_server_t *srv, http_conn_t *conn)
{
    http_rq_t *rq = srv->free_rqs;
    if (rq) {
        srv->free_rqs = rq->next;
        srv->nfree--;
        memset(rq, 0, sizeof *rq);
    } else {
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return NULL;
    }
    rq->kind = HTTP_APP_RQ;
    rq->srv = srv;
    rq->conn = conn;
    return rq;
}

void http_rq_put(http_server_t *srv, http_rq_t *rq)
{
    if (srv->closing || srv->nfree >= HTTP_RQ_POOL_MAX) {
        free(rq);
        return;
    }
    rq->next = srv->free_rqs;
    srv->free_rqs = rq;
    srv->nfree++;
}

static const char *http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    default:
        return problem_title_for(status);
    }
}

/* The Date field value, formatted once a second. */
static const char *http_date(http_server_t *srv)
{
    time_t now = time(NULL);
    if (now != srv->date_at) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(srv->date, sizeof srv->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        srv->date_at = now;
    }
    return srv->date;
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
const char *http_csp_for(const char *ctype, const api_reply_t *r)
{
    for (size_t i = 0; r && i < r->nheaders; i++)
        if (r->headers[2 * i] && strcasecmp(r->headers[2 * i], "Content-Security-Policy") == 0)
            return NULL;
    return http_csp_for_type(ctype);
}

void http_field(strbuf_t *o, const char *name, const char *value)
{
    /* A value with CR or LF would end the field early and start another: never sent. */
    if (strpbrk(value, "\r\n") || strpbrk(name, "\r\n:"))
        return;
    strbuf_puts(o, name);
    strbuf_append(o, ": ", 2);
    strbuf_puts(o, value);
    strbuf_append(o, "\r\n", 2);
}

/* The status line and the fields every response has. */
void http_head_begin(http_rq_t *rq, strbuf_t *o, int status)
{
    http_server_t *srv = rq->srv;
    strbuf_printf(o, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status, http_reason(status), http_date(srv));
    /* During shutdown keep-alive clients are told to go, so the connection count drains. */
    if (http_conn_closing(rq->conn))
        strbuf_puts(o, "Connection: close\r\n");
    else if (!rq->http11)
        strbuf_puts(o, "Connection: keep-alive\r\n");
}

void http_head_common(http_rq_t *rq, strbuf_t *o, const char *rid, const char *csp)
{
    http_server_t *srv = rq->srv;
    strbuf_puts(o, "X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n"
                   "X-Frame-Options: DENY\r\n");
    if (csp)
        http_field(o, "Content-Security-Policy", csp);
    if (srv->hsts[0])
        http_field(o, "Strict-Transport-Security", srv->hsts);
    if (rid)
        http_field(o, "X-Request-Id", rid);
    if (rq->cors) {
        http_field(o, "Access-Control-Allow-Origin", rq->cors);
        strbuf_puts(o, "Access-Control-Expose-Headers: X-Request-Id\r\n");
        if (strcmp(rq->cors, "*") != 0)
            strbuf_puts(o, "Vary: Origin\r\n");
    }
}

/* Writes the response for a JSON/raw/empty reply into the connection's buffer. -1 when out of
 * memory (the connection is then dropped). */
static int http_response_write(http_rq_t *rq, const api_reply_t *r, int status)
{
    http_server_t *srv = rq->srv;
    const char *body = NULL;
    size_t len = 0;
    char *heap = NULL;
    const char *ctype = NULL;

    /* The registry renders a JSON body's text once (api_call_t.want_value is false here). */
    if (r->json_text) {
        body = r->json_text;
        len = r->json_text_len;
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

    strbuf_t *o = http_conn_out(rq->conn);
    size_t o0 = o->len;
    http_head_begin(rq, o, status);
    if (ctype)
        http_field(o, "Content-Type", ctype);
    if (gzipped)
        strbuf_puts(o, "Content-Encoding: gzip\r\n");
    if (vary)
        strbuf_puts(o, "Vary: Accept-Encoding\r\n");
    for (size_t i = 0; i < r->nheaders; i++) {
        const char *name = r->headers[2 * i], *value = r->headers[2 * i + 1];
        if (name && value)
            http_field(o, name, value);
    }
    http_head_common(rq, o, r->request_id ? r->request_id : http_rq_id(rq), http_csp_for(ctype, r));
    /* RFC 9110 8.6: no Content-Length in a 1xx or 204 response */
    if (status != 204 && status != 304 && status >= 200)
        strbuf_printf(o, "Content-Length: %zu\r\n", len);
    int rc = strbuf_append(o, "\r\n", 2);
    if (rc == 0 && len && !rq->is_head && status != 204 && status != 304)
        rc = strbuf_append(o, body, len);
    free(heap);
    if (rc < 0) {
        o->len = o0;
        return -1;
    }
    return 0;
}

/* A problem found by the transport itself (413, 400, 503, 500). p is destroyed. */
static int http_problem_write(http_rq_t *rq, problem_t *p, const char *path)
{
    http_server_t *srv = rq->srv;
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
    size_t n = j ? json_dumpb(j, srv->scratch, sizeof srv->scratch, JSON_COMPACT) : 0;
    if (n == 0 || n > sizeof srv->scratch) { /* a problem's text is small: out of memory */
        json_decref(j);
        problem_destroy(&p);
        return -1;
    }
    api_reply_t r = {
        .status = problem_status(p),
        .json = j,
        .json_text = srv->scratch,
        .json_text_len = n,
        .is_problem = true,
        .request_id = http_rq_id(rq),
        .headers = hdrs,
        .nheaders = nh,
    };
    int rc = http_response_write(rq, &r, r.status);
    json_decref(j);
    problem_destroy(&p);
    return rc;
}

/* Ends a request whose response is in the connection's buffer (or drops the connection when
 * it could not be written). rq goes back to the pool, unless `in_dispatch` (the registry's
 * reply arrived while api_dispatch runs: http_on_request releases it when that returns). */
void http_rq_finish(http_rq_t *rq, int rc, int how, bool in_dispatch)
{
    http_server_t *srv = rq->srv;
    http_conn_t *conn = rq->conn;
    if (rq->req) {
        http_waiting_unlink(rq);
        rq->req = NULL;
    }
    srv->inflight--;
    if (http_conn_app(conn) == rq)
        http_conn_app_set(conn, NULL);
    if (!in_dispatch)
        http_rq_put(srv, rq);
    if (rc < 0)
        http_conn_abort(conn); /* out of memory: dropping the connection is all that is left */
    else
        http_conn_respond(conn, how);
}

void http_fail(http_rq_t *rq, const char *path, problem_t *p, bool in_dispatch)
{
    int rc = http_problem_write(rq, p, path);
    http_rq_finish(rq, rc, HTTP_CONN_DONE, in_dispatch);
}

/* ---- the registry's reply --------------------------------------------------------------- */

static void http_on_reply(const api_reply_t *r, void *tctx)
{
    http_rq_t *rq = tctx;
    if (r->stream) {
        http_stream_open(rq, r);
        return;
    }
    int status = r->status ? r->status : 200;
    int rc = http_response_write(rq, r, status);
    http_rq_finish(rq, rc, HTTP_CONN_DONE, r->in_dispatch);
}

/* ---- requests --------------------------------------------------------------------------- */

/* Headers of every reply, also of the door's refusals, which no request context sees. */
#define HTTP_DOOR_HEADERS                                                                          \
    "X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n"                          \
    "X-Frame-Options: DENY\r\nContent-Security-Policy: " HTTP_CSP_API "\r\n"

/* The door's limits, read from the configuration at start and after each reload (body_limit
 * and the header timeout are reloadable; the door checks heads before a request reaches srv). */
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

/* Reloadable settings (SIGHUP rewrites hub->cfg) are copied here at start and when the reload
 * is announced (hub_reload_notify), never per request; the CORS list is parsed again only when
 * it changed. */
static void http_config_apply(http_server_t *srv)
{
    const config_t *cfg = &srv->hub->cfg;
    srv->body_limit = cfg->body_limit > 0 ? (uint64_t)cfg->body_limit : 0;
    srv->env.head.header_max = (size_t)cfg->header_max;
    srv->env.head.uri_max = (size_t)cfg->uri_max;
    srv->env.head.body_max = srv->body_limit;
    srv->env.header_timeout_ms = (uint64_t)cfg->header_timeout_ms;
    srv->env.idle_ms = (uint64_t)cfg->connection_timeout_s * 1000;
    srv->compress_min = cfg->compress_min_bytes > 0 ? (uint64_t)cfg->compress_min_bytes : 0;
    srv->client_queue = cfg->events_client_queue > 0 ? (size_t)cfg->events_client_queue : 256;
    if (cfg->events_heartbeat_s != srv->heartbeat_s) {
        srv->heartbeat_s = cfg->events_heartbeat_s;
        uv_timer_stop(&srv->heartbeat);
        if (srv->heartbeat_s > 0 && !srv->quiescing) {
            uint64_t ms = (uint64_t)srv->heartbeat_s * 1000;
            uv_timer_start(&srv->heartbeat, http_streams_heartbeat, ms, ms);
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
static void http_preflight(http_rq_t *rq, const http_request_t *hr)
{
    strbuf_t *o = http_conn_out(rq->conn);
    http_head_begin(rq, o, 204);
    strbuf_puts(o, "Access-Control-Allow-Methods: " HTTP_ALLOW_METHODS "\r\n");
    const char *req_hdrs = http_request_header(hr, "Access-Control-Request-Headers");
    http_field(o, "Access-Control-Allow-Headers",
               req_hdrs && strlen(req_hdrs) < HTTP_REQ_HEADERS_MAX ? req_hdrs : HTTP_ALLOW_HEADERS);
    strbuf_puts(o, "Access-Control-Max-Age: " HTTP_CORS_MAX_AGE "\r\n");
    strbuf_puts(o, "Allow: " HTTP_ALLOW_METHODS "\r\n");
    http_head_common(rq, o, http_rq_id(rq), HTTP_CSP_API);
    int rc = strbuf_append(o, "\r\n", 2);
    http_rq_finish(rq, rc, HTTP_CONN_DONE, false);
}

/* What every request context takes from its head: id, CORS origin, gzip. */
static void http_rq_from_head(http_rq_t *rq, const http_request_t *hr)
{
    http_server_t *srv = rq->srv;
    rq->http11 = hr->http11;
    rq->is_head = hr->is_head;
    const char *rid = http_request_header(hr, "X-Request-Id");
    if (rid && http_request_id_valid(rid))
        snprintf(rq->rid, sizeof rq->rid, "%s", rid);
    if (srv->cors.enabled)
        rq->cors = http_cors_allow(&srv->cors, http_request_header(hr, "Origin"));
    if (srv->compress_min)
        rq->gzip_ok = http_accepts_gzip(http_request_header(hr, "Accept-Encoding"));
}

/* True when every '%' of s starts a %HH sequence that is not %00 (as the path must). */
static bool http_escapes_ok(const char *s)
{
    for (const char *p = strchr(s, '%'); p; p = strchr(p + 1, '%')) {
        if (!isxdigit((unsigned char)p[1]) || !isxdigit((unsigned char)p[2]) ||
            (p[1] == '0' && p[2] == '0'))
            return false;
    }
    return true;
}

/* The hub's reload listener: the server's own copies, then the door's. */
static void http_on_reload(void *ud)
{
    http_server_t *srv = ud;
    http_config_apply(srv);
    http_door_limits_refresh(srv->door);
}

static void http_on_request(http_conn_t *conn, const http_request_t *hr, void *ud)
{
    http_server_t *srv = ud;
    http_rq_t *rq = http_rq_get(srv, conn);
    if (!rq) {
        http_conn_abort(conn);
        return;
    }
    srv->inflight++;
    http_rq_from_head(rq, hr);

    /* The target is the path, then an optional query the registry parses itself. */
    char *path = hr->target;
    char *query = strchr(path, '?');
    if (query)
        *query++ = '\0';
    bool bad = query && !http_escapes_ok(query);
    http_unescape_inplace(path, &bad);
    if (bad || path[0] != '/') {
        http_fail(rq, NULL,
                  problem_new(400, "bad-request",
                              bad ? "malformed percent-encoding in the URL"
                                  : "the request target is not an absolute path"),
                  false);
        return;
    }
    if (srv->cors.enabled && strcmp(hr->method, "OPTIONS") == 0) {
        http_preflight(rq, hr);
        return;
    }
    if (ws_wanted(path)) {
        ws_open(rq, hr);
        return;
    }
    if (http_ui_wanted(path)) {
        http_ui_serve(rq, hr, path);
        return;
    }

    api_call_t call;
    memset(&call, 0, sizeof call);
    call.transport = "http";
    call.method = hr->method;
    call.path = path;
    call.query = query && *query ? query : NULL;
    call.content_type = http_request_header(hr, "Content-Type");
    call.body = hr->body;
    call.body_len = hr->body_len;
    call.request_id = rq->rid[0] ? rq->rid : NULL;
    call.peer = http_conn_peer(conn);
    http_credential(http_request_header(hr, "Authorization"), http_request_header(hr, "X-Api-Key"),
                    &call.credential, &call.credential_error);
    call.header = http_header;
    call.transport_ctx = rq;

    rq->hreq = hr;
    api_req_t *req = api_dispatch(srv->hub->api, &call, http_on_reply, rq);
    rq->hreq = NULL;
    if (!req) { /* replied inside the call: the reply left rq to us (api_reply_t.in_dispatch) */
        http_rq_put(srv, rq);
        return;
    }
    rq->req = req;
    http_waiting_link(rq);
    http_conn_app_set(conn, rq);
}

/* The connection refuses what it read (a bad head, a bad or oversized body, a timeout): a
 * problem, then the connection closes. */
static void http_on_refuse(http_conn_t *conn, const http_request_t *hr, problem_t *p, void *ud)
{
    http_server_t *srv = ud;
    int status = problem_status(p);
    if (srv->hub->metrics) {
        char label[24];
        snprintf(label, sizeof label, "status=\"%d\"", status);
        metrics_counter_add(srv->hub->metrics, "ganglion_http_refused_total", label, 1);
    }
    if (status == 413)
        problem_ext_set(p, "max_bytes", json_integer((json_int_t)srv->env.head.body_max));
    http_rq_t *rq = http_rq_get(srv, conn);
    if (!rq) {
        problem_destroy(&p);
        http_conn_abort(conn);
        return;
    }
    srv->inflight++;
    rq->http11 = true;
    if (hr)
        http_rq_from_head(rq, hr);
    rq->is_head = false;
    int rc = http_problem_write(rq, p, NULL);
    http_rq_finish(rq, rc, HTTP_CONN_CLOSE, false);
}

static void http_on_drain(http_conn_t *conn, void *app, void *ud)
{
    (void)conn;
    (void)ud;
    http_stream_t *st = app;
    if (!st || st->kind != HTTP_APP_STREAM)
        return;
    st->writing = false;
    http_stream_pump(st);
}

/* Bytes for an upgraded connection (a WebSocket). */
static size_t http_on_input(http_conn_t *conn, void *app, char *data, size_t len, void *ud)
{
    (void)ud;
    if (!app || *(int *)app != HTTP_APP_WS) {
        http_conn_abort(conn);
        return len;
    }
    return ws_on_input(app, data, len);
}

static void http_on_idle(http_conn_t *conn, void *app, void *ud)
{
    (void)ud;
    if (!app || *(int *)app != HTTP_APP_WS) {
        http_conn_abort(conn);
        return;
    }
    ws_on_idle(app);
}

/* The client left (or the server closes) while the registry holds its request or it streams. */
static void http_on_gone(http_conn_t *conn, void *app, void *ud)
{
    (void)conn;
    http_server_t *srv = ud;
    if (*(int *)app == HTTP_APP_STREAM) {
        http_stream_free(app);
        return;
    }
    if (*(int *)app == HTTP_APP_WS) {
        ws_free(app);
        return;
    }
    http_rq_t *rq = app;
    if (rq->req) {
        api_call_cancel(rq->req);
        http_waiting_unlink(rq);
        rq->req = NULL;
    }
    srv->inflight--;
    http_rq_put(srv, rq);
}

static void http_on_closed(http_conn_t *conn, void *ud)
{
    http_server_t *srv = ud;
    if (http_conn_refused(conn)) { /* never counted as open */
        srv->tls_refusing--;
        return;
    }
    http_door_conn_closed(srv->door, http_conn_addr(conn));
    if (srv->hub->metrics)
        metrics_gauge_add(srv->hub->metrics, "ganglion_http_connections", NULL, -1);
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
        memset(&ss, 0, sizeof ss); /* getsockname fills it (the analyzer cannot see) */
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

/* Reads and checks the certificate, key and priorities before anything listens, so a bad file
 * is a start error naming it. */
static int http_tls_prepare(http_server_t *srv, const config_t *cfg, char *err, size_t errlen)
{
    if (!cfg->tls_cert_file[0] || !cfg->tls_key_file[0]) {
        snprintf(err, errlen, "tls.%s is set but tls.%s is not: HTTPS needs both",
                 cfg->tls_cert_file[0] ? "cert_file" : "key_file",
                 cfg->tls_cert_file[0] ? "key_file" : "cert_file");
        return -EINVAL;
    }
    tls_material_t m = {0}; /* tls_material_load fills it on success (another file) */
    int rc = tls_priorities_check(cfg->tls_priorities, err, errlen);
    if (rc == 0)
        rc = tls_material_load(cfg->tls_cert_file, cfg->tls_key_file, &m, err, errlen);
    if (rc < 0)
        return rc;
    rc = http_tls_ctx_new(&m, cfg->tls_priorities, &srv->tls, err, errlen);
    if (rc < 0) {
        tls_material_free(&m);
        return rc;
    }
    /* Over TLS only: a browser ignores it on plain HTTP anyway (RFC 6797 8.1). */
    if (cfg->tls_hsts_max_age_s > 0)
        snprintf(srv->hsts, sizeof srv->hsts, "max-age=%" PRId64, cfg->tls_hsts_max_age_s);
    if (m.key_mode & 077) {
        char mode[16];
        snprintf(mode, sizeof mode, "%04o", (unsigned)m.key_mode & 07777u);
        log_warn(NULL, "tls: the key file is readable or writable by other users; chmod 600 it",
                 "{s:s,s:s}", "key_file", cfg->tls_key_file, "mode", mode);
    }
    char until[40];
    clock_rfc3339((int64_t)m.not_after * 1000, until, sizeof until);
    time_t now = time(NULL);
    if (m.not_after < now || m.not_before > now)
        log_warn(NULL,
                 m.not_after < now ? "tls: the certificate has expired"
                                   : "tls: the certificate is not valid yet",
                 "{s:s,s:s}", "cert_file", cfg->tls_cert_file, "not_after", until);
    log_info(NULL, "tls: HTTPS on the HTTP listener", "{s:s,s:s,s:s,s:s}", "cert_file",
             cfg->tls_cert_file, "subject", m.subject, "not_after", until, "priorities",
             cfg->tls_priorities);
    tls_material_free(&m); /* GnuTLS keeps its own copy of the key */
    return 0;
}

/* The door admitted a connection: it is ours from here on (and closed on failure). */
static int http_on_handoff(void *ud, int fd, const struct sockaddr *sa, socklen_t salen)
{
    http_server_t *srv = ud;
    if (srv->closing || srv->quiescing) {
        close(fd);
        return -1;
    }
    http_door_conn_opened(srv->door, sa);
    http_conn_t *conn;
    int rc = http_conn_start(&srv->env, fd, sa, salen, &conn);
    if (rc < 0) {
        http_door_conn_closed(srv->door, sa);
        errno = -rc;
        return -1;
    }
    if (srv->hub->metrics)
        metrics_gauge_add(srv->hub->metrics, "ganglion_http_connections", NULL, 1);
    return 0;
}

/* The door refuses a TLS connection at a limit: answer with the problem after a handshake. */
static int http_on_door_refuse(void *ud, int fd, int status, const char *slug, const char *detail,
                               unsigned retry_after_s)
{
    http_server_t *srv = ud;
    if (srv->closing || srv->quiescing || srv->tls_refusing >= HTTP_TLS_REFUSING_MAX)
        return -1;
    problem_t *p = problem_new(status, slug, "%s", detail);
    if (retry_after_s) {
        char ra[16];
        snprintf(ra, sizeof ra, "%u", retry_after_s);
        problem_header_set(p, "Retry-After", ra);
    }
    http_conn_t *conn;
    srv->tls_refusing++;
    if (http_conn_start_refused(&srv->env, fd, NULL, 0, p, &conn) < 0) {
        srv->tls_refusing--;
        return 0; /* fd is closed */
    }
    return 0;
}

static void http_on_heartbeat_closed(uv_handle_t *h)
{
    free(h->data);
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
        http_tls_ctx_destroy(&srv->tls);
        http_cors_free(&srv->cors);
        free(srv);
        return rc;
    }
    srv->ops = (http_conn_ops_t){
        .request = http_on_request,
        .refuse = http_on_refuse,
        .drain = http_on_drain,
        .gone = http_on_gone,
        .input = http_on_input,
        .idle = http_on_idle,
        .closed = http_on_closed,
    };
    srv->env.loop = hub->loop;
    srv->env.ops = &srv->ops;
    srv->env.ud = srv;
    srv->env.tls = srv->tls;
    uv_timer_init(hub->loop, &srv->heartbeat);
    srv->heartbeat.data = srv;
    srv->heartbeat_open = true;
    http_config_apply(srv); /* limits, and starts the heartbeat timer */
    /* The door (http_door.c) owns the listening socket and hands connections over. */
    rc = http_door_start(hub->loop, fd, hub->metrics, http_door_limits_fill, http_on_handoff, srv,
                         &srv->door);
    if (rc < 0) {
        snprintf(err, errlen, "%s: cannot accept connections: %s", cfg->listen, uv_strerror(rc));
        close(fd);
        http_server_destroy(&srv);
        return rc;
    }
    if (srv->tls)
        http_door_tls_refuse_set(srv->door, http_on_door_refuse);
    if (hub_reload_hook_add(hub, http_on_reload, srv) < 0)
        log_warn(NULL, "http: no room for a reload listener; reloads reach HTTP at restart", NULL);
    http_declare_metrics(hub->metrics);
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
    srv->env.quiescing = true; /* every response from now on ends its connection */
    http_door_stop(srv->door); /* closes the listening socket */
    uv_timer_stop(&srv->heartbeat);
    http_streams_end(srv);
    ws_all_end(srv);
    http_conn_env_quiesce(&srv->env); /* idle keep-alive connections close now */
}

size_t http_server_inflight(const http_server_t *srv)
{
    return srv ? srv->inflight : 0;
}

/* Closes every connection now (pending requests are cancelled in the registry, streams
 * unsubscribe from the bus); the uv handles close asynchronously and the last memory goes with
 * their callbacks, so the caller must let the loop run once more (uv_run(loop,
 * UV_RUN_DEFAULT) until it returns) before uv_loop_close(). Call this before the bus and the
 * registry are destroyed. */
void http_server_destroy(http_server_t **psrv)
{
    http_server_t *srv = psrv ? *psrv : NULL;
    if (!srv)
        return;
    *psrv = NULL;
    hub_reload_hook_remove(srv->hub, http_on_reload, srv);
    srv->quiescing = true;
    srv->env.quiescing = true;
    http_conn_env_close_all(&srv->env); /* gone and closed for each, synchronously */
    srv->closing = true;
    http_door_destroy(&srv->door);
    http_tls_ctx_destroy(&srv->tls);
    while (srv->free_rqs) {
        http_rq_t *rq = srv->free_rqs;
        srv->free_rqs = rq->next;
        free(rq);
    }
    http_cors_free(&srv->cors);
    http_ui_free(srv);
    if (srv->heartbeat_open) {
        uv_timer_stop(&srv->heartbeat);
        uv_close((uv_handle_t *)&srv->heartbeat, http_on_heartbeat_closed);
    } else {
        free(srv);
    }
}
