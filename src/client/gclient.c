/* gclient: one request/reply face over HTTP (libcurl through the CLI's loader) and ZMQ (a
 * DEALER carrying the RPC envelope). Over ZMQ the request is handed to the socket only once a
 * connection is up (ZMQ_IMMEDIATE), so a request is never sent twice: while the daemon is away
 * each attempt closes the socket, waits a jittered, doubling delay and connects afresh. */
#include "client/gclient.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <zmq.h>

#include "client/curl_dl.h"
#include "core/jsonx.h"
#include "core/strbuf.h"
#include "net/zmq_codec.h"
#include "net/zmq_dl.h"

#define GCLIENT_MAX_REPLY       (64u * 1024u * 1024u)
#define GCLIENT_CONNECT_WAIT_MS 250 /* how long one attempt waits for its connection */

struct gclient {
    gclient_via_t via;
    char *url; /* HTTP base without trailing '/', or the tcp:// endpoint */
    char *token;
    long timeout_ms;
    bool msgpack;
    char curve_server[41], curve_public[41], curve_secret[41];
    bool curve;
    void (*log)(void *, const char *);
    void *log_ud;
    /* ZMQ */
    void *zctx, *sock;
    char id_prefix[20];
    unsigned long seq;
    int retries;
    unsigned long discarded;
    uint64_t rnd_state;
    /* HTTP */
    CURL *curl;
    char err[512];
};

/* ---- small helpers ---------------------------------------------------------------------- */

static int64_t gclient_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void gclient_sleep_ms(long ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* xorshift64*: jitter needs no cryptographic quality, only independence between clients. */
static double gclient_rand(gclient_t *c)
{
    uint64_t x = c->rnd_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    c->rnd_state = x;
    return (double)((x * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

__attribute__((format(printf, 2, 3))) static void gclient_logf(gclient_t *c, const char *fmt, ...)
{
    if (!c->log)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    c->log(c->log_ud, line);
}

long gclient_backoff_ms(int attempt, double rnd)
{
    long d = GCLIENT_BACKOFF_MIN_MS;
    for (int i = 1; i < attempt && d < GCLIENT_BACKOFF_MAX_MS; i++)
        d *= 2;
    if (d > GCLIENT_BACKOFF_MAX_MS)
        d = GCLIENT_BACKOFF_MAX_MS;
    if (rnd < 0)
        rnd = 0;
    if (rnd >= 1)
        rnd = 0.999999;
    return (long)((double)d * (0.5 + rnd / 2));
}

int gclient_zmq_endpoint(const char *url, char *out, size_t outlen)
{
    if (!url || !url[0])
        return -1;
    if (strncmp(url, "tcp://", 6) == 0 || strncmp(url, "ipc://", 6) == 0) {
        if ((size_t)snprintf(out, outlen, "%s", url) >= outlen)
            return -1;
        return 0;
    }
    const char *p = NULL;
    if (strncasecmp(url, "http://", 7) == 0)
        p = url + 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        p = url + 8;
    if (!p)
        return -1;
    size_t n;
    if (*p == '[') {
        const char *e = strchr(p, ']');
        if (!e)
            return -1;
        n = (size_t)(e - p) + 1;
    } else {
        n = strcspn(p, ":/?#");
    }
    if (n == 0 || n > 255)
        return -1;
    return (size_t)snprintf(out, outlen, "tcp://%.*s:7701", (int)n, p) < outlen ? 0 : -1;
}

void gclient_reply_free(gclient_reply_t *r)
{
    if (!r)
        return;
    json_decref(r->body);
    json_decref(r->headers);
    memset(r, 0, sizeof *r);
}

const char *gclient_error(const gclient_t *c)
{
    return c ? c->err : "";
}

int gclient_last_retries(const gclient_t *c)
{
    return c ? c->retries : 0;
}

unsigned long gclient_discarded(const gclient_t *c)
{
    return c ? c->discarded : 0;
}

/* ---- ZMQ -------------------------------------------------------------------------------- */

static void gclient_zmq_close(gclient_t *c)
{
    if (c->sock) {
        lzmq->zmq_close(c->sock);
        c->sock = NULL;
    }
}

static int gclient_zmq_open(gclient_t *c)
{
    c->sock = lzmq->zmq_socket(c->zctx, ZMQ_DEALER);
    if (!c->sock)
        return -1;
    int zero = 0, one = 1;
    lzmq->zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof zero);
    /* Queue only to a connected daemon, so that "could not send" means "not yet sent". */
    lzmq->zmq_setsockopt(c->sock, ZMQ_IMMEDIATE, &one, sizeof one);
    int64_t maxmsg = GCLIENT_MAX_REPLY;
    lzmq->zmq_setsockopt(c->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (c->curve) {
        lzmq->zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, c->curve_server, 40);
        lzmq->zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, c->curve_public, 40);
        lzmq->zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, c->curve_secret, 40);
    }
    if (zmq_dl_connect(c->sock, c->url) < 0) {
        gclient_zmq_close(c);
        return -1;
    }
    return 0;
}

/* Polls the socket for events until ms pass; a signal does not end the wait (EINTR polls again
 * for what is left of it). Returns the events seen, 0 when none came in time, -1 on error. */
static int gclient_zmq_wait(gclient_t *c, short events, long ms)
{
    int64_t until = gclient_now_ms() + ms;
    for (;;) {
        zmq_pollitem_t it = {.socket = c->sock, .events = events};
        int rc = lzmq->zmq_poll(&it, 1, ms);
        if (rc > 0)
            return it.revents;
        if (rc == 0)
            return 0;
        if (lzmq->zmq_errno() != EINTR)
            return -1;
        ms = (long)(until - gclient_now_ms());
        if (ms <= 0)
            return 0;
    }
}

/* Waits until the socket can take a message (a connection is up) or ms pass. */
static bool gclient_zmq_writable(gclient_t *c, long ms)
{
    int ev = gclient_zmq_wait(c, ZMQ_POLLOUT, ms);
    return ev > 0 && (ev & ZMQ_POLLOUT);
}

/* Hands the encoded request to a connected socket, reconnecting with backoff until deadline. */
static int gclient_zmq_send(gclient_t *c, const strbuf_t *msg, int64_t deadline)
{
    c->retries = 0;
    for (int attempt = 1;; attempt++) {
        if (!c->sock && gclient_zmq_open(c) < 0) {
            snprintf(c->err, sizeof c->err, "cannot open a ZMQ socket to %s: %s", c->url,
                     lzmq->zmq_strerror(lzmq->zmq_errno()));
            return -EIO;
        }
        int64_t now = gclient_now_ms();
        long wait = (long)(deadline - now);
        if (wait > GCLIENT_CONNECT_WAIT_MS)
            wait = GCLIENT_CONNECT_WAIT_MS;
        if (wait > 0 && gclient_zmq_writable(c, wait) &&
            zmq_dl_send(c->sock, msg->data, msg->len, ZMQ_DONTWAIT) == (int)msg->len)
            return 0;
        /* No connection: start over with a fresh socket after a jittered, doubling delay. */
        gclient_zmq_close(c);
        now = gclient_now_ms();
        if (now >= deadline) {
            snprintf(c->err, sizeof c->err,
                     "cannot reach ganglion at %s over ZMQ (is the daemon running with "
                     "zmq.listen on?); gave up after %d attempts",
                     c->url, attempt);
            return -ETIMEDOUT;
        }
        long delay = gclient_backoff_ms(attempt, gclient_rand(c));
        if (delay > deadline - now)
            delay = (long)(deadline - now);
        c->retries = attempt;
        gclient_logf(c, "zmq: no connection to %s; retry %d in %ld ms", c->url, attempt, delay);
        gclient_sleep_ms(delay);
    }
}

static json_t *gclient_envelope(gclient_t *c, const char *id, const char *method, const char *path,
                                const json_t *query, const json_t *body)
{
    json_t *env = json_pack("{s:s,s:s,s:s}", "id", id, "method", method, "path", path);
    if (!env)
        return NULL;
    if (query)
        json_object_set(env, "query", (json_t *)(uintptr_t)query);
    if (body)
        json_object_set(env, "body", (json_t *)(uintptr_t)body);
    if (c->token)
        json_object_set_new(env, "token", json_string(c->token));
    return env;
}

static int gclient_zmq_request(gclient_t *c, const char *method, const char *path,
                               const json_t *query, const json_t *body, gclient_reply_t *reply)
{
    int64_t deadline = gclient_now_ms() + c->timeout_ms;
    char id[64];
    snprintf(id, sizeof id, "%s-%lu", c->id_prefix, ++c->seq);
    json_t *env = gclient_envelope(c, id, method, path, query, body);
    strbuf_t msg;
    strbuf_init(&msg, GCLIENT_MAX_REPLY);
    zmq_codec_enc_t enc = c->msgpack ? ZMQ_CODEC_MSGPACK : ZMQ_CODEC_JSON;
    if (!env || zmq_codec_encode(enc, env, &msg) < 0) {
        json_decref(env);
        strbuf_free(&msg);
        snprintf(c->err, sizeof c->err, "the request could not be encoded");
        return -ENOMEM;
    }
    json_decref(env);
    int rc = gclient_zmq_send(c, &msg, deadline);
    strbuf_free(&msg);
    if (rc < 0)
        return rc;

    for (;;) {
        long wait = (long)(deadline - gclient_now_ms());
        int ev = wait > 0 ? gclient_zmq_wait(c, ZMQ_POLLIN, wait) : 0;
        if (ev <= 0 || !(ev & ZMQ_POLLIN)) {
            /* The daemon may have gone away with our request; a fresh socket next time. */
            gclient_zmq_close(c);
            snprintf(c->err, sizeof c->err, "no reply from ganglion at %s within %ld ms", c->url,
                     c->timeout_ms);
            return -ETIMEDOUT;
        }
        zmq_msg_t m;
        lzmq->zmq_msg_init(&m);
        if (zmq_dl_msg_recv(&m, c->sock, ZMQ_DONTWAIT) < 0) {
            lzmq->zmq_msg_close(&m);
            continue;
        }
        int more = lzmq->zmq_msg_more(&m);
        json_t *r = NULL;
        zmq_codec_enc_t renc;
        int drc = 0;
        if (zmq_codec_detect(lzmq->zmq_msg_data(&m), lzmq->zmq_msg_size(&m), &renc) == 0)
            drc = gclient_reply_decode((int)renc, lzmq->zmq_msg_data(&m), lzmq->zmq_msg_size(&m),
                                       &r, c->err, sizeof c->err);
        lzmq->zmq_msg_close(&m);
        while (more) { /* a reply is one frame; drain anything else */
            lzmq->zmq_msg_init(&m);
            if (zmq_dl_msg_recv(&m, c->sock, 0) < 0)
                more = 0;
            else
                more = lzmq->zmq_msg_more(&m);
            lzmq->zmq_msg_close(&m);
        }
        if (drc < 0) {
            /* whose reply it was cannot be read: a fresh socket, so no late reply follows */
            gclient_zmq_close(c);
            return drc;
        }
        json_t *rid = json_object_get(r, "id");
        if (!r || !json_is_string(rid) || strcmp(json_string_value(rid), id) != 0) {
            c->discarded++; /* a late reply to an earlier, timed-out request */
            json_decref(r);
            continue;
        }
        memset(reply, 0, sizeof *reply);
        reply->status = (int)json_integer_value(json_object_get(r, "status"));
        json_t *b = json_object_get(r, "body");
        reply->body = json_is_null(b) ? NULL : json_incref(b);
        json_t *h = json_object_get(r, "headers");
        reply->headers = json_is_object(h) ? json_incref(h) : NULL;
        const char *prid = json_string_value(json_object_get(b, "request_id"));
        snprintf(reply->request_id, sizeof reply->request_id, "%s", prid ? prid : id);
        json_decref(r);
        return 0;
    }
}

/* ---- replies --------------------------------------------------------------------------- */

int gclient_reply_decode(int enc, const void *buf, size_t len, json_t **out, char *err,
                         size_t errlen)
{
    *out = NULL;
    jsonx_budget_t b;
    jsonx_budget_init(&b, len, GCLIENT_JSON_DEPTH);
    problem_t *p = NULL;
    json_t *v = enc < 0 ? jsonx_parse_budget(buf, len, &b, &p)
                        : zmq_codec_decode_budget((zmq_codec_enc_t)enc, buf, len, &b, &p);
    int rc = 0;
    if (!v && p && problem_status(p) == 413) {
        snprintf(err, errlen, "the reply was refused: %s", problem_detail(p));
        rc = -E2BIG;
    }
    problem_destroy(&p);
    *out = v;
    return rc;
}

/* ---- HTTP ------------------------------------------------------------------------------- */

typedef struct gclient_http_xfer {
    strbuf_t body;
    json_t *headers;
    char ctype[128];
    bool too_big;
} gclient_http_xfer_t;

static size_t gclient_http_on_body(char *p, size_t sz, size_t n, void *ud)
{
    gclient_http_xfer_t *x = ud;
    if (strbuf_append(&x->body, p, sz * n) < 0) {
        x->too_big = true;
        return 0;
    }
    return sz * n;
}

static size_t gclient_http_on_header(char *p, size_t sz, size_t n, void *ud)
{
    gclient_http_xfer_t *x = ud;
    size_t len = sz * n;
    static const char *const keep[] = {"Location", "Retry-After", "Allow", "Content-Type",
                                       "X-Request-Id"};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        size_t kl = strlen(keep[i]);
        if (len > kl + 1 && strncasecmp(p, keep[i], kl) == 0 && p[kl] == ':') {
            const char *v = p + kl + 1;
            size_t vl = len - kl - 1;
            while (vl && (*v == ' ' || *v == '\t'))
                v++, vl--;
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
                vl--;
            if (!x->headers)
                x->headers = json_object();
            json_t *s = json_stringn(v, vl);
            if (x->headers && s)
                json_object_set_new(x->headers, keep[i], s);
            else
                json_decref(s);
            if (i == 3)
                snprintf(x->ctype, sizeof x->ctype, "%.*s", (int)vl, v);
        }
    }
    return len;
}

/* Appends ?k=v&… (values percent-encoded; numbers and booleans as text). */
static int gclient_http_query(strbuf_t *u, const json_t *query, bool has_q)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)(uintptr_t)query, k, v)
    {
        char num[64];
        const char *s = json_string_value(v);
        if (json_is_integer(v))
            snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v)), s = num;
        else if (json_is_real(v))
            snprintf(num, sizeof num, "%.17g", json_real_value(v)), s = num;
        else if (json_is_boolean(v))
            s = json_is_true(v) ? "true" : "false";
        if (!s)
            continue;
        strbuf_puts(u, has_q ? "&" : "?");
        has_q = true;
        for (const char *t = k; *t; t++)
            isalnum((unsigned char)*t) || strchr("-_.~", *t)
                ? strbuf_append(u, t, 1)
                : strbuf_printf(u, "%%%02X", (unsigned char)*t);
        strbuf_puts(u, "=");
        for (const char *t = s; *t; t++)
            isalnum((unsigned char)*t) || strchr("-_.~", *t)
                ? strbuf_append(u, t, 1)
                : strbuf_printf(u, "%%%02X", (unsigned char)*t);
    }
    return 0;
}

static int gclient_http_request(gclient_t *c, const char *method, const char *path,
                                const json_t *query, const json_t *body, gclient_reply_t *reply)
{
    char id[64];
    snprintf(id, sizeof id, "%s-%lu", c->id_prefix, ++c->seq);
    strbuf_t u;
    strbuf_init(&u, 0);
    strbuf_printf(&u, "%s%s", c->url, path);
    if (query)
        gclient_http_query(&u, query, strchr(path, '?') != NULL);
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    struct curl_slist *hdrs = NULL;
    char line[8300];
    snprintf(line, sizeof line, "X-Request-Id: %s", id);
    hdrs = lcurl->slist_append(hdrs, line);
    if (text)
        hdrs = lcurl->slist_append(hdrs, "Content-Type: application/json");
    if (c->token) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", c->token);
        hdrs = lcurl->slist_append(hdrs, line);
        explicit_bzero(line, sizeof line);
    }
    gclient_http_xfer_t x;
    memset(&x, 0, sizeof x);
    strbuf_init(&x.body, GCLIENT_MAX_REPLY);
    CURL *h = c->curl;
    lcurl->easy_reset(h);
    lcurl->easy_setopt(h, CURLOPT_URL, u.data);
    lcurl->easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    lcurl->easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    lcurl->easy_setopt(h, CURLOPT_PROXY, "");
    lcurl->easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    lcurl->easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    lcurl->easy_setopt(h, CURLOPT_WRITEFUNCTION, gclient_http_on_body);
    lcurl->easy_setopt(h, CURLOPT_WRITEDATA, &x);
    lcurl->easy_setopt(h, CURLOPT_HEADERFUNCTION, gclient_http_on_header);
    lcurl->easy_setopt(h, CURLOPT_HEADERDATA, &x);
    if (text) {
        lcurl->easy_setopt(h, CURLOPT_POSTFIELDS, text);
        lcurl->easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
    }
    CURLcode cc = lcurl->easy_perform(h);
    lcurl->slist_free_all(hdrs);
    free(text);
    strbuf_free(&u);
    int rc = 0;
    if (cc != CURLE_OK) {
        snprintf(c->err, sizeof c->err, "HTTP request to %s failed: %s", c->url,
                 lcurl->easy_strerror(cc));
        rc = cc == CURLE_COULDNT_CONNECT            ? -ECONNREFUSED
             : cc == CURLE_OPERATION_TIMEDOUT       ? -ETIMEDOUT
             : cc == CURLE_WRITE_ERROR && x.too_big ? -E2BIG
                                                    : -EIO;
    } else {
        long status = 0;
        lcurl->easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        memset(reply, 0, sizeof *reply);
        reply->status = (int)status;
        bool is_json =
            strncasecmp(x.ctype, "application/json", 16) == 0 || strstr(x.ctype, "+json") != NULL;
        if (x.body.len && is_json)
            rc = gclient_reply_decode(-1, x.body.data, x.body.len, &reply->body, c->err,
                                      sizeof c->err);
        else if (x.body.len)
            reply->body = json_stringn(x.body.data, x.body.len);
        if (rc < 0) {
            json_decref(x.headers);
            strbuf_free(&x.body);
            return rc;
        }
        if (is_json && x.headers)
            json_object_del(x.headers, "Content-Type");
        const char *rid = json_string_value(json_object_get(x.headers, "X-Request-Id"));
        snprintf(reply->request_id, sizeof reply->request_id, "%s", rid ? rid : id);
        json_object_del(x.headers, "X-Request-Id");
        if (x.headers && json_object_size(x.headers) == 0) {
            json_decref(x.headers);
            x.headers = NULL;
        }
        reply->headers = x.headers;
        x.headers = NULL;
    }
    json_decref(x.headers);
    strbuf_free(&x.body);
    return rc;
}

/* ---- the face --------------------------------------------------------------------------- */

int gclient_request(gclient_t *c, const char *method, const char *path, const json_t *query,
                    const json_t *body, gclient_reply_t *reply)
{
    memset(reply, 0, sizeof *reply);
    c->err[0] = '\0';
    if (!path || path[0] != '/') {
        snprintf(c->err, sizeof c->err, "the path must start with '/'");
        return -EINVAL;
    }
    return c->via == GCLIENT_ZMQ ? gclient_zmq_request(c, method, path, query, body, reply)
                                 : gclient_http_request(c, method, path, query, body, reply);
}

int gclient_new(const gclient_opts_t *o, gclient_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (o->token && (strpbrk(o->token, "\r\n") || strlen(o->token) > 8192)) {
        snprintf(err, errlen, "the token contains a line break or is too long; refused");
        return -EINVAL;
    }
    gclient_t *c = calloc(1, sizeof *c);
    if (!c)
        goto oom;
    c->via = o->via;
    c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
    c->msgpack = o->msgpack;
    c->log = o->log;
    c->log_ud = o->log_ud;
    unsigned char rnd[8];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        memcpy(rnd, &c, sizeof rnd < sizeof c ? sizeof rnd : sizeof c);
    memcpy(&c->rnd_state, rnd, sizeof rnd);
    c->rnd_state |= 1;
    snprintf(c->id_prefix, sizeof c->id_prefix, "gc%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
             rnd[3]);
    if (o->token && !(c->token = strdup(o->token)))
        goto oom;

    if (c->via == GCLIENT_ZMQ) {
        char ep[600];
        if (gclient_zmq_endpoint(o->url, ep, sizeof ep) < 0) {
            snprintf(err, errlen, "'%.200s' is not a ZMQ endpoint (tcp://HOST:PORT) or an HTTP URL",
                     o->url ? o->url : "");
            gclient_destroy(&c);
            return -EINVAL;
        }
        if (!(c->url = strdup(ep)))
            goto oom;
        if (zmq_dl_load(err, errlen) < 0) {
            gclient_destroy(&c);
            return -ENOTSUP;
        }
        if (o->curve_server_key) {
            uint8_t tmp[32];
            if (strlen(o->curve_server_key) != 40 ||
                !lzmq->zmq_z85_decode(tmp, o->curve_server_key)) {
                snprintf(err, errlen, "the server's CURVE key must be 40 Z85 characters");
                gclient_destroy(&c);
                return -EINVAL;
            }
            memcpy(c->curve_server, o->curve_server_key, 41);
            if (o->curve_secret_key) {
                if (strlen(o->curve_secret_key) != 40 ||
                    lzmq->zmq_curve_public(c->curve_public, o->curve_secret_key) < 0) {
                    snprintf(err, errlen,
                             "the client's CURVE secret key must be 40 Z85 characters");
                    gclient_destroy(&c);
                    return -EINVAL;
                }
                memcpy(c->curve_secret, o->curve_secret_key, 41);
            } else if (lzmq->zmq_curve_keypair(c->curve_public, c->curve_secret) < 0) {
                snprintf(err, errlen, "this libzmq has no CURVE support");
                gclient_destroy(&c);
                return -ENOTSUP;
            }
            c->curve = true;
        }
        c->zctx = lzmq->zmq_ctx_new();
        if (!c->zctx)
            goto oom;
    } else {
        if (curl_dl_load(err, errlen) < 0) {
            gclient_destroy(&c);
            return -ENOTSUP;
        }
        if (!o->url ||
            (strncasecmp(o->url, "http://", 7) != 0 && strncasecmp(o->url, "https://", 8) != 0)) {
            snprintf(err, errlen, "'%.200s' is not an http:// or https:// URL",
                     o->url ? o->url : "");
            gclient_destroy(&c);
            return -EINVAL;
        }
        if (!(c->url = strdup(o->url)))
            goto oom;
        size_t n = strlen(c->url);
        while (n && c->url[n - 1] == '/')
            c->url[--n] = '\0';
        if (!(c->curl = lcurl->easy_init()))
            goto oom;
    }
    *out = c;
    return 0;
oom:
    gclient_destroy(&c);
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
}

void gclient_destroy(gclient_t **pc)
{
    gclient_t *c = pc ? *pc : NULL;
    if (!c)
        return;
    *pc = NULL;
    gclient_zmq_close(c);
    if (c->zctx)
        lzmq->zmq_ctx_term(c->zctx);
    if (c->curl)
        lcurl->easy_cleanup(c->curl);
    if (c->token) {
        explicit_bzero(c->token, strlen(c->token));
        free(c->token);
    }
    explicit_bzero(c->curve_secret, sizeof c->curve_secret);
    free(c->url);
    free(c);
}
