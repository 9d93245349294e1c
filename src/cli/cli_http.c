/* The client's HTTP transport over libcurl: one easy handle reused for every request (so
 * keep-alive works across the calls of one command), bounded replies, per-request ids, and
 * error text that tells a user what to do rather than what curl saw. */
#include "cli/cli_http.h"

#include "build_info.h"

#include "client/curl_dl.h"
#include "client/gclient.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

/* One transport's implementation. `zmq` will add a second table; the cli_client_* face picks
 * the table once, in cli_client_new(). */
typedef struct cli_transport {
    int (*request)(cli_client_t *c, const char *method, const char *path, const char *body,
                   size_t body_len, cli_response_t *resp);
    void (*close)(cli_client_t *c);
} cli_transport_t;

struct cli_client {
    const cli_transport_t *tp;
    char *url; /* base URL without a trailing '/' */
    char *auth_header;
    char *cacert; /* CURLOPT_CAINFO, or NULL */
    int insecure;
    long timeout_ms;
    CURL *curl;
    struct gclient *gc; /* --via zmq: the ZMQ transport */
    char err[512];
    char curl_err[CURL_ERROR_SIZE];
};

/* State for one transfer: where the body and the headers we care about go. */
typedef struct cli_http_xfer {
    cli_response_t *resp;
    size_t cap;
    int too_big;
} cli_http_xfer_t;

int cli_client_unreachable(int rc)
{
    return rc == -ECONNREFUSED || rc == -EHOSTUNREACH || rc == -ETIMEDOUT || rc == -ENETUNREACH;
}

void cli_response_free(cli_response_t *r)
{
    if (!r)
        return;
    free(r->body);
    free(r->content_type);
    free(r->request_id);
    free(r->retry_after);
    free(r->location);
    memset(r, 0, sizeof *r);
}

static int cli_response_init(cli_response_t *r)
{
    memset(r, 0, sizeof *r);
    r->body = calloc(1, 1);
    return r->body ? 0 : -ENOMEM;
}

const char *cli_client_error(const cli_client_t *c)
{
    return c ? c->err : "";
}

const char *cli_client_url(const cli_client_t *c)
{
    return c ? c->url : "";
}

int cli_url_is_loopback(const char *url)
{
    char err[256];
    if (curl_dl_load(err, sizeof err) < 0)
        return 0; /* no local token then; the request itself reports the missing library */
    CURLU *u = lcurl->url();
    char *host = NULL;
    int loop = 0;
    if (!u)
        return 0;
    /* tcp:// (ZMQ) URLs count too: curl parses them when told to accept any scheme. */
    if (lcurl->url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
        lcurl->url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host) {
        /* 127.0.0.0/8 is all loopback; IPv6 hosts come back bracketed. */
        loop = strcasecmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
               strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0;
    }
    lcurl->free(host);
    lcurl->url_cleanup(u);
    return loop;
}

/* A request id unique enough to find one CLI call in the daemon's logs. */
static void cli_http_request_id(char *out, size_t outlen)
{
    unsigned char raw[12];
    static const char hex[] = "0123456789abcdef";
    if (getrandom(raw, sizeof raw, GRND_NONBLOCK) != (ssize_t)sizeof raw) {
        /* Entropy is not vital here; fall back to something that still differs per call. */
        unsigned long v = (unsigned long)getpid() ^ (unsigned long)(uintptr_t)out;
        for (size_t i = 0; i < sizeof raw; i++) {
            v = v * 6364136223846793005ul + 1442695040888963407ul;
            raw[i] = (unsigned char)(v >> 56);
        }
    }
    size_t n = 0;
    const char prefix[] = "cli-";
    for (size_t i = 0; prefix[i] && n + 1 < outlen; i++)
        out[n++] = prefix[i];
    for (size_t i = 0; i < sizeof raw && n + 2 < outlen; i++) {
        out[n++] = hex[raw[i] >> 4];
        out[n++] = hex[raw[i] & 15];
    }
    out[n] = '\0';
}

static size_t cli_http_on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    cli_http_xfer_t *x = ud;
    cli_response_t *r = x->resp;
    size_t n = size * nmemb;
    if (n > CLI_CLIENT_MAX_REPLY - r->body_len) {
        x->too_big = 1;
        return 0; /* makes curl fail the transfer with CURLE_WRITE_ERROR */
    }
    if (r->body_len + n + 1 > x->cap) {
        size_t cap = x->cap < 4096 ? 4096 : x->cap;
        while (cap < r->body_len + n + 1)
            cap *= 2;
        char *nb = realloc(r->body, cap);
        if (!nb)
            return 0;
        r->body = nb;
        x->cap = cap;
    }
    memcpy(r->body + r->body_len, ptr, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return n;
}

/* Copies a header's value, trimmed, into *dst (replacing an earlier one). */
static void cli_http_header_take(char **dst, const char *v, size_t len)
{
    while (len && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
        len--;
    char *s = strndup(v, len);
    if (s) {
        free(*dst);
        *dst = s;
    }
}

static size_t cli_http_on_header(char *buf, size_t size, size_t nmemb, void *ud)
{
    cli_http_xfer_t *x = ud;
    size_t n = size * nmemb;
    static const struct {
        const char *name;
        size_t off;
    } want[] = {
        {"content-type:", offsetof(cli_response_t, content_type)},
        {"x-request-id:", offsetof(cli_response_t, request_id)},
        {"retry-after:", offsetof(cli_response_t, retry_after)},
        {"location:", offsetof(cli_response_t, location)},
    };
    /* A new status line (after a 100 Continue, say) starts a fresh header block. */
    if (n > 5 && strncmp(buf, "HTTP/", 5) == 0) {
        cli_response_t *r = x->resp;
        free(r->content_type);
        free(r->request_id);
        free(r->retry_after);
        free(r->location);
        r->content_type = r->request_id = r->retry_after = r->location = NULL;
    }
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        size_t wl = strlen(want[i].name);
        if (n > wl && strncasecmp(buf, want[i].name, wl) == 0) {
            char **dst = (char **)(void *)((char *)x->resp + want[i].off);
            cli_http_header_take(dst, buf + wl, n - wl);
        }
    }
    return n;
}

/* Turns a curl failure into a negative errno and a sentence a user can act on. */
static int cli_http_fail(cli_client_t *c, CURLcode cc, const cli_http_xfer_t *x)
{
    long os_errno = 0;
    lcurl->easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &os_errno);
    const char *detail = c->curl_err[0] ? c->curl_err : lcurl->easy_strerror(cc);
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
        if (os_errno == ECONNREFUSED || os_errno == 0) {
            snprintf(c->err, sizeof c->err,
                     "cannot reach ganglion at %s: connection refused (is `ganglion serve` "
                     "running?)",
                     c->url);
            return -ECONNREFUSED;
        }
        snprintf(c->err, sizeof c->err, "cannot reach ganglion at %s: %s", c->url,
                 strerror((int)os_errno));
        return os_errno == ENETUNREACH ? -ENETUNREACH : -EHOSTUNREACH;
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(c->err, sizeof c->err, "cannot reach ganglion at %s: unknown host (%s)", c->url,
                 detail);
        return -EHOSTUNREACH;
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(c->err, sizeof c->err,
                 "no reply from ganglion at %s within %.1f s (raise --timeout?)", c->url,
                 (double)c->timeout_ms / 1000.0);
        return -ETIMEDOUT;
    case CURLE_WRITE_ERROR:
        if (x->too_big) {
            snprintf(c->err, sizeof c->err, "reply from %s is larger than %u MiB; refused", c->url,
                     CLI_CLIENT_MAX_REPLY / (1024u * 1024u));
            return -E2BIG;
        }
        snprintf(c->err, sizeof c->err, "out of memory while reading the reply");
        return -ENOMEM;
    case CURLE_PEER_FAILED_VERIFICATION:
        snprintf(c->err, sizeof c->err,
                 "cannot verify the certificate of ganglion at %s: %s (trust it with --cacert FILE "
                 "or $GANGLION_CACERT)",
                 c->url, detail);
        return -EPROTO;
    case CURLE_SSL_CONNECT_ERROR:
        snprintf(c->err, sizeof c->err,
                 "TLS handshake with ganglion at %s failed: %s (does the daemon serve https?)",
                 c->url, detail);
        return -EPROTO;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        /* What a plain request to an HTTPS listener gets: say so. */
        snprintf(c->err, sizeof c->err, "ganglion at %s closed the connection: %s%s", c->url,
                 detail,
                 strncasecmp(c->url, "http://", 7) == 0
                     ? " (if the daemon serves HTTPS, use an https:// URL)"
                     : "");
        return -EPROTO;
    default:
        snprintf(c->err, sizeof c->err, "request to %s failed: %s", c->url, detail);
        return -EIO;
    }
}

static int cli_http_request(cli_client_t *c, const char *method, const char *path, const char *body,
                            size_t body_len, cli_response_t *resp)
{
    CURL *h = c->curl;
    struct curl_slist *hdrs = NULL, *t;
    char rid[40], line[96];
    int rc = 0;

    size_t ulen = strlen(c->url) + strlen(path) + 1;
    char *full = malloc(ulen);
    if (!full)
        return -ENOMEM;
    snprintf(full, ulen, "%s%s", c->url, path);

    lcurl->easy_reset(h); /* keeps the connection cache, drops the previous request's options */
    cli_http_xfer_t x = {.resp = resp, .cap = 1};
    cli_http_request_id(rid, sizeof rid);
    c->curl_err[0] = '\0';

    /* One list, grown header by header; a failed append leaves the old list intact. */
#define CLI_HDR(s)                                                                                 \
    do {                                                                                           \
        if (!(t = lcurl->slist_append(hdrs, (s)))) {                                               \
            rc = -ENOMEM;                                                                          \
            goto out;                                                                              \
        }                                                                                          \
        hdrs = t;                                                                                  \
    } while (0)
    snprintf(line, sizeof line, "X-Request-Id: %s", rid);
    CLI_HDR(line);
    CLI_HDR("Accept: application/json, application/problem+json;q=0.9, */*;q=0.5");
    if (body)
        CLI_HDR("Content-Type: application/json");
    else
        CLI_HDR("Content-Type:"); /* curl must not invent one */
    CLI_HDR("Expect:");           /* no 100-continue round trip for bodies */
    if (c->auth_header)
        CLI_HDR(c->auth_header);
#undef CLI_HDR

    lcurl->easy_setopt(h, CURLOPT_URL, full);
    lcurl->easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    lcurl->easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    lcurl->easy_setopt(h, CURLOPT_USERAGENT, "ganglion-cli/" GANGLION_VERSION);
    lcurl->easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    lcurl->easy_setopt(h, CURLOPT_ERRORBUFFER, c->curl_err);
    if (c->cacert)
        lcurl->easy_setopt(h, CURLOPT_CAINFO, c->cacert);
    if (c->insecure) {
        lcurl->easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        lcurl->easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    lcurl->easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    lcurl->easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
    lcurl->easy_setopt(h, CURLOPT_WRITEFUNCTION, cli_http_on_body);
    lcurl->easy_setopt(h, CURLOPT_WRITEDATA, &x);
    lcurl->easy_setopt(h, CURLOPT_HEADERFUNCTION, cli_http_on_header);
    lcurl->easy_setopt(h, CURLOPT_HEADERDATA, &x);
    lcurl->easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CLI_CLIENT_MAX_REPLY);
    /* The daemon may compress large bodies; let curl negotiate whatever it can decode. */
    lcurl->easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    if (strcmp(method, "HEAD") == 0) {
        lcurl->easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") != 0 || body) {
        lcurl->easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    if (body) {
        lcurl->easy_setopt(h, CURLOPT_POSTFIELDS, body);
        lcurl->easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }

    CURLcode cc = lcurl->easy_perform(h);
    if (cc == CURLE_FILESIZE_EXCEEDED) {
        x.too_big = 1;
        cc = CURLE_WRITE_ERROR;
    }
    if (cc != CURLE_OK) {
        rc = cli_http_fail(c, cc, &x);
        goto out;
    }
    long status = 0;
    lcurl->easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    resp->status = (int)status;
    if (!resp->request_id)
        resp->request_id = strdup(rid);

out:
    lcurl->slist_free_all(hdrs);
    free(full);
    return rc;
}

static void cli_http_close(cli_client_t *c)
{
    if (c->curl)
        lcurl->easy_cleanup(c->curl);
    c->curl = NULL;
}

static const cli_transport_t cli_http_transport = {
    .request = cli_http_request,
    .close = cli_http_close,
};

/* ---- ZMQ: the same face over gclient's DEALER (reconnects with backoff) ---- */

static void cli_zmq_log(void *ud, const char *line)
{
    (void)ud;
    const char *d = getenv("GANGLION_DEBUG");
    if (d && strcmp(d, "1") == 0)
        fprintf(stderr, "debug: %s\n", line);
}

static int cli_zmq_request(cli_client_t *c, const char *method, const char *path, const char *body,
                           size_t body_len, cli_response_t *resp)
{
    json_t *jb = NULL;
    if (body && body_len) {
        jb = json_loadb(body, body_len, JSON_DECODE_ANY, NULL);
        if (!jb) {
            snprintf(c->err, sizeof c->err, "over ZMQ the request body must be JSON");
            return -EINVAL;
        }
    }
    gclient_reply_t r;
    int rc = gclient_request(c->gc, method, path, NULL, jb, &r);
    json_decref(jb);
    if (rc < 0) {
        snprintf(c->err, sizeof c->err, "%s", gclient_error(c->gc));
        return rc;
    }
    /* A text reply (metrics) arrives as a string with its Content-Type; JSON as a value. */
    const char *ct = json_string_value(json_object_get(r.headers, "Content-Type"));
    char *text = NULL;
    if (ct && json_is_string(r.body))
        text = strdup(json_string_value(r.body));
    else if (r.body)
        text = json_dumps(r.body, JSON_COMPACT | JSON_ENCODE_ANY);
    else
        text = strdup("");
    if (!ct)
        ct = r.status >= 400 && json_object_get(r.body, "type") ? "application/problem+json"
                                                                : "application/json";
    const char *ra = json_string_value(json_object_get(r.headers, "Retry-After"));
    const char *loc = json_string_value(json_object_get(r.headers, "Location"));
    resp->status = r.status;
    if (text) {
        free(resp->body);
        resp->body = text;
        resp->body_len = strlen(text);
    }
    resp->content_type = strdup(ct);
    resp->request_id = strdup(r.request_id);
    resp->retry_after = ra ? strdup(ra) : NULL;
    resp->location = loc ? strdup(loc) : NULL;
    gclient_reply_free(&r);
    return text ? 0 : -ENOMEM;
}

static void cli_zmq_close(cli_client_t *c)
{
    gclient_destroy(&c->gc);
}

static const cli_transport_t cli_zmq_transport = {
    .request = cli_zmq_request,
    .close = cli_zmq_close,
};

static int cli_zmq_client_new(const cli_client_opts_t *o, cli_client_t **out, char *err,
                              size_t errlen)
{
    cli_client_t *c = calloc(1, sizeof *c);
    if (!c || !(c->url = strdup(o->url))) {
        free(c);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    c->tp = &cli_zmq_transport;
    c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
    const char *sk = getenv("GANGLION_ZMQ_SERVER_KEY"), *ck = getenv("GANGLION_ZMQ_CLIENT_SECRET");
    gclient_opts_t go = {.via = GCLIENT_ZMQ,
                         .url = o->url,
                         .token = o->token,
                         .timeout_ms = c->timeout_ms,
                         .curve_server_key = sk && *sk ? sk : NULL,
                         .curve_secret_key = ck && *ck ? ck : NULL,
                         .log = cli_zmq_log};
    int rc = gclient_new(&go, &c->gc, err, errlen);
    if (rc < 0) {
        cli_client_destroy(&c);
        return rc;
    }
    *out = c;
    return 0;
}

/* Checks the base URL once so every later message can quote it as given. */
static int cli_http_url_check(const char *url, char *err, size_t errlen)
{
    CURLU *u = lcurl->url();
    char *scheme = NULL;
    int rc = 0;
    if (!u)
        return -ENOMEM;
    if (strlen(url) > 2048 || lcurl->url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        lcurl->url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
        snprintf(err, errlen, "invalid URL '%.200s' (expected e.g. http://127.0.0.1:7700)", url);
        rc = -EINVAL;
    } else if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
        snprintf(err, errlen, "unsupported URL scheme '%s' in '%.200s' (use http:// or https://)",
                 scheme, url);
        rc = -EINVAL;
    } else if (strchr(url, '?') || strchr(url, '#')) {
        snprintf(err, errlen, "the URL '%.200s' must not carry a query or fragment", url);
        rc = -EINVAL;
    }
    lcurl->free(scheme);
    lcurl->url_cleanup(u);
    return rc;
}

int cli_client_new(const cli_client_opts_t *o, cli_client_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (o->via == CLI_VIA_ZMQ)
        return cli_zmq_client_new(o, out, err, errlen);
    /* libcurl is loaded here, on the first request, and never by the daemon. */
    if (curl_dl_load(err, errlen) < 0)
        return -ENOTSUP;
    int rc = cli_http_url_check(o->url, err, errlen);
    if (rc < 0)
        return rc;
    if (o->token && (strpbrk(o->token, "\r\n") || strlen(o->token) > 8192)) {
        snprintf(err, errlen, "the token contains a line break or is too long; refused");
        return -EINVAL;
    }
    cli_client_t *c = calloc(1, sizeof *c);
    if (!c)
        goto oom;
    c->tp = &cli_http_transport;
    c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
    c->insecure = o->insecure;
    if (o->cacert) {
        if (access(o->cacert, R_OK) < 0) {
            snprintf(err, errlen, "cannot read the CA certificate '%.200s': %s", o->cacert,
                     strerror(errno));
            cli_client_destroy(&c);
            return -EINVAL;
        }
        if (!(c->cacert = strdup(o->cacert)))
            goto oom;
    }
    c->url = strdup(o->url);
    if (!c->url)
        goto oom;
    size_t n = strlen(c->url);
    while (n > 0 && c->url[n - 1] == '/')
        c->url[--n] = '\0';
    if (o->token && *o->token) {
        size_t alen = strlen(o->token) + sizeof "Authorization: Bearer ";
        c->auth_header = malloc(alen);
        if (!c->auth_header)
            goto oom;
        snprintf(c->auth_header, alen, "Authorization: Bearer %s", o->token);
    }
    c->curl = lcurl->easy_init();
    if (!c->curl)
        goto oom;
    *out = c;
    return 0;
oom:
    cli_client_destroy(&c);
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
}

void cli_client_destroy(cli_client_t **pc)
{
    cli_client_t *c = pc ? *pc : NULL;
    if (!c)
        return;
    if (c->tp)
        c->tp->close(c);
    else if (c->curl)
        lcurl->easy_cleanup(c->curl);
    free(c->url);
    free(c->cacert);
    if (c->auth_header) {
        /* The header holds a secret; do not leave it in freed memory. */
        explicit_bzero(c->auth_header, strlen(c->auth_header));
        free(c->auth_header);
    }
    free(c);
    *pc = NULL;
}

int cli_client_request(cli_client_t *c, const char *method, const char *path, const char *body,
                       size_t body_len, cli_response_t *resp)
{
    if (cli_response_init(resp) < 0) {
        snprintf(c->err, sizeof c->err, "out of memory");
        return -ENOMEM;
    }
    c->err[0] = '\0';
    if (!path || path[0] != '/') {
        snprintf(c->err, sizeof c->err, "the path must start with '/'");
        return -EINVAL;
    }
    return c->tp->request(c, method, path, body, body_len, resp);
}
