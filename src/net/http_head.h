/* Request-head checks: the request line, field syntax and framing rules of RFC 9110/9112, with
 * the status each violation gets, and the split of an accepted head into its parts. Applied by
 * the door to a connection's first head (http_door.c) and by the connection to every head
 * (http_conn.c). Pure functions on memory; internal to src/net. */
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

/* Fills v with a refusal: its status, problem slug and printf-style detail. */
void http_head_verdict_set(http_head_verdict_t *v, int status, const char *slug, const char *fmt,
                           ...) __attribute__((format(printf, 4, 5)));

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

/* One header field of a split head: NUL-terminated, the value without surrounding blanks. */
typedef struct http_head_field {
    const char *name;
    const char *value;
} http_head_field_t;

/* The parts of a head that http_head_check found complete and acceptable (HTTP_HEAD_OK), at the
 * start of buf. buf is modified: NULs end the method, the target, each name and each value, and
 * the parts point into it. *head_len is the length of the head with its final empty line. */
typedef struct http_head_parts {
    const char *method;
    char *target;
    bool http11;
    size_t nfields;
    http_head_field_t *fields; /* room for HTTP_HEAD_FIELDS_MAX, the caller's */
    size_t head_len;
} http_head_parts_t;

void http_head_split(char *buf, size_t len, http_head_parts_t *out);

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
