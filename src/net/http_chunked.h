/* The chunked transfer coding of request bodies (RFC 9112 7.1): a streaming decoder that takes
 * bytes as they arrive, hands the data on, ignores extensions and trailers within bounds, and
 * says why it refuses malformed or oversized input. Pure; internal to src/net. */
#ifndef GANGLION_HTTP_CHUNKED_H
#define GANGLION_HTTP_CHUNKED_H

#include <stddef.h>
#include <stdint.h>

#include "net/http_head.h"

#define HTTP_CHUNKED_LINE_MAX 4096 /* a chunk-size line with its extensions, bytes */

typedef struct http_chunked {
    int state;
    uint64_t left;      /* data bytes of the current chunk still to come */
    uint64_t total;     /* data bytes so far */
    uint64_t max;       /* total allowed: 413 beyond */
    size_t line;        /* bytes of the current size or trailer line */
    size_t trailers;    /* bytes of trailer fields so far */
    size_t trailer_max; /* 431 beyond */
    unsigned digits;    /* significant hex digits of the size being read */
    int saw_digit;
} http_chunked_t;

enum {
    HTTP_CHUNKED_MORE = 0, /* all input used; the body goes on */
    HTTP_CHUNKED_DONE = 1, /* the body ended; *used says where */
    HTTP_CHUNKED_ERROR = 2 /* refused; v says why */
};

/* Data bytes go to a sink: 0, or a negative errno that stops decoding (reported as 500). */
typedef int (*http_chunked_sink_fn)(void *ud, const char *data, size_t len);

void http_chunked_init(http_chunked_t *c, uint64_t max, size_t trailer_max);

/* Decodes in[0..len). *used is the number of bytes consumed (all of them unless DONE or
 * ERROR). Returns HTTP_CHUNKED_MORE, HTTP_CHUNKED_DONE or HTTP_CHUNKED_ERROR (*v filled). */
int http_chunked_feed(http_chunked_t *c, const char *in, size_t len, size_t *used,
                      http_chunked_sink_fn sink, void *ud, http_head_verdict_t *v);

#endif
