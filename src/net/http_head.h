/* Request-head checks: the framing rules of RFC 9110/9112 that libmicrohttpd does not enforce or
 * enforces with an HTML page. Applied to the raw bytes of a connection's first request before
 * libmicrohttpd sees them (http_door.c) and to the parsed fields of every request in the access
 * handler (http.c). Pure functions on memory; internal to src/net. */
#ifndef GANGLION_HTTP_HEAD_H
#define GANGLION_HTTP_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_HEAD_FIELDS_MAX 100 /* header fields per request; 431 beyond */
#define HTTP_HEAD_DETAIL     160

typedef struct http_head_limits {
    size_t header_max; /* request line and header fields together, bytes: 431 beyond */
    size_t uri_max;    /* request target, bytes: 414 beyond */
    uint64_t body_max; /* a Content-Length above this: 413 */
} http_head_limits_t;

/* Why a head was refused: the HTTP status, a problem type slug and a detail. status 0 = fine. */
typedef struct http_head_verdict {
    int status;
    const char *slug; /* static */
    char detail[HTTP_HEAD_DETAIL];
} http_head_verdict_t;

enum {
    HTTP_HEAD_OK = 0,      /* a complete, acceptable head */
    HTTP_HEAD_PARTIAL = 1, /* acceptable so far; more bytes needed */
    HTTP_HEAD_REFUSED = 2, /* v says why */
};

/* Checks the request head at buf[0..len) (the start of a connection's input: the head may be
 * incomplete and may be followed by body bytes). Returns HTTP_HEAD_OK, HTTP_HEAD_PARTIAL or
 * HTTP_HEAD_REFUSED with *v filled. Never reads past len. */
int http_head_check(const char *buf, size_t len, const http_head_limits_t *lim,
                    http_head_verdict_t *v);

/* The framing-relevant header fields of one request, fed one field at a time. */
typedef struct http_framing {
    unsigned content_length; /* fields seen */
    unsigned transfer_encoding;
    unsigned host;
    unsigned fields;
    size_t bytes;     /* name + value + 4 per field, the size they take on the wire */
    bool cl_bad;      /* a Content-Length that is not a plain decimal */
    bool cl_overflow; /* digits only, but beyond 2^64 */
    uint64_t cl;
    bool te_chunked_only; /* the (single) Transfer-Encoding is exactly "chunked" */
    bool te_chunked_last; /* chunked is its final coding */
} http_framing_t;

void http_framing_init(http_framing_t *f);
void http_framing_field(http_framing_t *f, const char *name, size_t nlen, const char *value,
                        size_t vlen);
/* The verdict for the fields seen: 0, or -1 with *v filled. http11 is true for HTTP/1.1 (and
 * 1.x above it), which requires exactly one Host field. */
int http_framing_verdict(const http_framing_t *f, bool http11, const http_head_limits_t *lim,
                         http_head_verdict_t *v);

#endif
