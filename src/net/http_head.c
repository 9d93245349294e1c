/* Request-head checks (see http_head.h): the request line, the header-field syntax and the
 * message framing (Content-Length, Transfer-Encoding, Host) of RFC 9112, with the status each
 * violation gets. Works on bytes only, so it is unit-tested and fuzzed without a socket. */
#include "net/http_head.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define HTTP_METHOD_MAX 32

void http_head_verdict_set(http_head_verdict_t *v, int status, const char *slug, const char *fmt,
                           ...)
{
    v->status = status;
    v->slug = slug;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->detail, sizeof v->detail, fmt, ap);
    va_end(ap);
}

/* A refusal of the head: the verdict filled, HTTP_HEAD_REFUSED returned. */
#define head_refuse(v, ...) (http_head_verdict_set((v), __VA_ARGS__), HTTP_HEAD_REFUSED)

/* RFC 9110 5.6.2 tchar. */
static bool head_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* The end of the line starting at p (the '\n'), or NULL when it is not in [p, end). */
static const char *head_eol(const char *p, const char *end)
{
    return memchr(p, '\n', (size_t)(end - p));
}

/* The line [p, nl) without its CR; false when a CR appears anywhere but just before LF. */
static bool head_line(const char *p, const char *nl, size_t *len)
{
    size_t n = (size_t)(nl - p);
    if (n && p[n - 1] == '\r')
        n--;
    if (memchr(p, '\r', n))
        return false;
    *len = n;
    return true;
}

/* Checks "METHOD SP TARGET SP HTTP/x.y" (line of n bytes, complete or not). */
static int head_request_line(const char *p, size_t n, bool complete, const http_head_limits_t *lim,
                             http_head_verdict_t *v, bool *http11)
{
    size_t i = 0;
    while (i < n && head_tchar((unsigned char)p[i]))
        i++;
    if (i > HTTP_METHOD_MAX)
        return head_refuse(v, 400, "bad-request", "the method is longer than %d characters",
                           HTTP_METHOD_MAX);
    if (i == n && !complete)
        return HTTP_HEAD_PARTIAL;
    if (i == 0 || i == n || p[i] != ' ')
        return head_refuse(v, 400, "bad-request", "malformed request line");
    size_t t0 = ++i;
    while (i < n && (unsigned char)p[i] > ' ' && p[i] != 0x7f)
        i++;
    if (i - t0 > lim->uri_max)
        return head_refuse(v, 414, "uri-too-long", "the request target is longer than %zu bytes",
                           lim->uri_max);
    if (i == n && !complete)
        return HTTP_HEAD_PARTIAL;
    if (i == t0)
        return head_refuse(v, 400, "bad-request", "malformed request line: no target");
    if (i == n)
        return head_refuse(v, 400, "bad-request",
                           "no HTTP version in the request line (HTTP/0.9 is not supported)");
    if (p[i] != ' ')
        return head_refuse(v, 400, "bad-request", "malformed request line");
    const char *ver = p + i + 1;
    size_t vlen = n - i - 1;
    if (!complete)
        return vlen > 8 ? head_refuse(v, 400, "bad-request", "malformed HTTP version")
                        : HTTP_HEAD_PARTIAL;
    if (vlen != 8 || memcmp(ver, "HTTP/", 5) != 0 || ver[5] < '0' || ver[5] > '9' ||
        ver[6] != '.' || ver[7] < '0' || ver[7] > '9')
        return head_refuse(v, 400, "bad-request", "malformed HTTP version");
    if (ver[5] != '1')
        return head_refuse(v, 505, "http-version-not-supported",
                           "HTTP/%c.%c is not supported; use HTTP/1.1 or HTTP/1.0", ver[5], ver[7]);
    *http11 = ver[7] != '0';
    return HTTP_HEAD_OK;
}

/* Checks one complete header line of n bytes and feeds it to f. */
static int head_field_line(const char *p, size_t n, http_framing_t *f, http_head_verdict_t *v)
{
    if (p[0] == ' ' || p[0] == '\t')
        return head_refuse(v, 400, "bad-request", "obsolete line folding in a header field");
    size_t i = 0;
    while (i < n && head_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i == n || p[i] != ':')
        return head_refuse(v, 400, "bad-request", "malformed header field \"%.*s\"",
                           (int)(i < 40 ? i : 40), p);
    if (memchr(p + i + 1, '\0', n - i - 1))
        return head_refuse(v, 400, "bad-request", "NUL in header field \"%.*s\"",
                           (int)(i < 40 ? i : 40), p);
    http_framing_field(f, p, i, p + i + 1, n - i - 1);
    return HTTP_HEAD_OK;
}

int http_head_check(const char *buf, size_t len, const http_head_limits_t *lim,
                    http_head_verdict_t *v)
{
    memset(v, 0, sizeof *v);
    const char *p = buf, *end = buf + len;
    /* RFC 9112 2.2: empty lines before the request line are ignored. */
    while (p < end && (*p == '\r' || *p == '\n'))
        p++;
    const char *head = p;
    size_t avail = (size_t)(end - head);

    const char *nl = head_eol(p, end);
    size_t n;
    bool http11 = false;
    if (!nl) {
        n = avail && p[avail - 1] == '\r' ? avail - 1 : avail; /* its LF may be next */
        if (memchr(p, '\r', n))
            return head_refuse(v, 400, "bad-request", "CR without LF in the request line");
        int rc = head_request_line(p, n, false, lim, v, &http11);
        if (rc == HTTP_HEAD_PARTIAL && len > lim->header_max)
            return head_refuse(v, 431, "header-fields-too-large",
                               "the request head is larger than %zu bytes", lim->header_max);
        return rc;
    }
    if (!head_line(p, nl, &n))
        return head_refuse(v, 400, "bad-request", "CR without LF in the request line");
    int rc = head_request_line(p, n, true, lim, v, &http11);
    if (rc != HTTP_HEAD_OK)
        return rc;

    http_framing_t f;
    http_framing_init(&f);
    for (p = nl + 1;;) {
        if ((size_t)(p - buf) > lim->header_max)
            return head_refuse(v, 431, "header-fields-too-large",
                               "the request head is larger than %zu bytes", lim->header_max);
        nl = head_eol(p, end);
        if (!nl) {
            /* A lone CR may start the empty line that ends the head, which a complete head is
             * measured without: counting it here refused a head at the limit only when its
             * last bytes arrived in a later read (found by fuzz_http_head). */
            bool may_end = end - p == 1 && *p == '\r';
            if (len > lim->header_max && !may_end)
                return head_refuse(v, 431, "header-fields-too-large",
                                   "the request head is larger than %zu bytes", lim->header_max);
            return HTTP_HEAD_PARTIAL;
        }
        if (!head_line(p, nl, &n))
            return head_refuse(v, 400, "bad-request", "CR without LF in a header field");
        if (n == 0)
            break;
        if ((size_t)(nl + 1 - buf) > lim->header_max)
            return head_refuse(v, 431, "header-fields-too-large",
                               "the request head is larger than %zu bytes", lim->header_max);
        if ((rc = head_field_line(p, n, &f, v)) != HTTP_HEAD_OK)
            return rc;
        p = nl + 1;
    }
    return http_framing_verdict(&f, http11, lim, v) == 0 ? HTTP_HEAD_OK : HTTP_HEAD_REFUSED;
}

/* ---- splitting a checked head ------------------------------------------------------------ */

void http_head_split(char *buf, size_t len, http_head_parts_t *out)
{
    char *p = buf, *end = buf + len;
    out->nfields = 0;
    while (p < end && (*p == '\r' || *p == '\n'))
        p++;
    char *nl = memchr(p, '\n', (size_t)(end - p));
    char *sp = memchr(p, ' ', (size_t)(nl - p));
    *sp = '\0';
    out->method = p;
    char *t = sp + 1;
    sp = memchr(t, ' ', (size_t)(nl - t));
    *sp = '\0';
    out->target = t;
    out->http11 = sp[8] != '0'; /* "HTTP/1.x": checked already */
    for (p = nl + 1; p < end; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl;
        if (e > p && e[-1] == '\r')
            e--;
        if (e == p)
            break;
        char *colon = memchr(p, ':', (size_t)(e - p));
        *colon = '\0';
        char *v = colon + 1;
        while (v < e && (*v == ' ' || *v == '\t'))
            v++;
        while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        *e = '\0';
        if (out->nfields < HTTP_HEAD_FIELDS_MAX) {
            out->fields[out->nfields].name = p;
            out->fields[out->nfields].value = v;
            out->nfields++;
        }
    }
    out->head_len = nl ? (size_t)(nl + 1 - buf) : len;
}

/* ---- framing ------------------------------------------------------------------------------ */

void http_framing_init(http_framing_t *f)
{
    memset(f, 0, sizeof *f);
}

static void framing_trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

static void framing_content_length(http_framing_t *f, const char *s, size_t n)
{
    framing_trim(&s, &n);
    if (n == 0) {
        f->cl_bad = true;
        return;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            f->cl_bad = true;
            return;
        }
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            f->cl_overflow = true;
            return;
        }
        v = v * 10 + d;
    }
    f->cl = v;
}

/* Transfer-Encoding is a comma list of codings; only its last one decides the framing. */
static void framing_transfer_encoding(http_framing_t *f, const char *s, size_t n)
{
    framing_trim(&s, &n);
    f->te_chunked_only = n == 7 && strncasecmp(s, "chunked", 7) == 0;
    const char *last = s;
    size_t lastn = n;
    const char *comma = n ? memrchr(s, ',', n) : NULL;
    if (comma) {
        last = comma + 1;
        lastn = n - (size_t)(last - s);
        framing_trim(&last, &lastn);
    }
    f->te_chunked_last = lastn == 7 && strncasecmp(last, "chunked", 7) == 0;
}

void http_framing_field(http_framing_t *f, const char *name, size_t nlen, const char *value,
                        size_t vlen)
{
    f->fields++;
    f->bytes += nlen + vlen + 4;
    if (nlen == 14 && strncasecmp(name, "Content-Length", 14) == 0) {
        if (f->content_length++ == 0)
            framing_content_length(f, value, vlen);
    } else if (nlen == 17 && strncasecmp(name, "Transfer-Encoding", 17) == 0) {
        if (f->transfer_encoding++ == 0)
            framing_transfer_encoding(f, value, vlen);
    } else if (nlen == 4 && strncasecmp(name, "Host", 4) == 0) {
        f->host++;
    }
}

int http_framing_verdict(const http_framing_t *f, bool http11, const http_head_limits_t *lim,
                         http_head_verdict_t *v)
{
    memset(v, 0, sizeof *v);
    if (f->fields > HTTP_HEAD_FIELDS_MAX || f->bytes > lim->header_max) {
        http_head_verdict_set(v, 431, "header-fields-too-large",
                              "the request has more than %d header fields or %zu bytes of them",
                              HTTP_HEAD_FIELDS_MAX, lim->header_max);
        return -1;
    }
    /* RFC 9112 3.2: a server MUST answer 400 to a request without Host or with several. */
    if (http11 && f->host != 1) {
        http_head_verdict_set(v, 400, "bad-request",
                              f->host ? "more than one Host header field"
                                      : "an HTTP/1.1 request needs a Host field");
        return -1;
    }
    /* RFC 9112 6.1 and 6.3: both framings at once, or several lengths, are how requests are
     * smuggled past intermediaries; the body's length cannot be trusted, so nothing is read. */
    if (f->transfer_encoding && f->content_length) {
        http_head_verdict_set(
            v, 400, "bad-request",
            "both Transfer-Encoding and Content-Length: the body length is ambiguous");
        return -1;
    }
    if (f->transfer_encoding > 1) {
        http_head_verdict_set(v, 400, "bad-request",
                              "more than one Transfer-Encoding header field");
        return -1;
    }
    if (f->transfer_encoding && !f->te_chunked_last) {
        http_head_verdict_set(
            v, 400, "bad-request",
            "Transfer-Encoding does not end with chunked: the body length is unknown");
        return -1;
    }
    if (f->transfer_encoding && !f->te_chunked_only) {
        http_head_verdict_set(v, 501, "not-implemented",
                              "only the chunked transfer coding is supported");
        return -1;
    }
    if (f->content_length > 1) {
        http_head_verdict_set(v, 400, "bad-request", "more than one Content-Length header field");
        return -1;
    }
    if (f->content_length && f->cl_bad) {
        http_head_verdict_set(v, 400, "bad-request", "Content-Length is not a decimal number");
        return -1;
    }
    if (f->content_length && (f->cl_overflow || f->cl > lim->body_max)) {
        http_head_verdict_set(v, 413, "payload-too-large",
                              "request body exceeds the limit of %" PRIu64 " bytes", lim->body_max);
        return -1;
    }
    return 0;
}
