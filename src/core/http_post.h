/* One blocking HTTP(S) POST through libcurl (loaded on first use), for a worker thread: the
 * alert notifiers and the OTLP span exporter send with it. Bounded by a timeout; the start of
 * the response is kept in the caller's buffer and the rest is read and dropped. */
#ifndef GANGLION_CORE_HTTP_POST_H
#define GANGLION_CORE_HTTP_POST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct http_post {
    const char *url;  /* http:// or https:// only */
    const char *body; /* len bytes, not copied */
    size_t len;
    const char *const *headers; /* "Name: value" lines, NULL-terminated; may be NULL */
    long timeout_ms;            /* the whole exchange, connection included */
    char *reply;                /* may be NULL: the response's first reply_cap - 1 bytes, */
    size_t reply_cap;           /*   NUL-terminated */
} http_post_t;

typedef struct http_post_result {
    int status;       /* the HTTP status, 0 when no response came */
    size_t reply_len; /* bytes kept in reply */
    char error[256];  /* why it failed: set unless ok */
    bool ok;          /* a 2xx came back */
} http_post_result_t;

/* Sends the POST and waits for the answer (never on the loop thread). Returns 0 when a 2xx came
 * back, else -1 with r->error set ("the receiver answered 500", a curl error, a missing libcurl
 * naming its Debian package). `who` names the receiver in that message ("receiver",
 * "collector"). */
int http_post_send(const http_post_t *p, const char *who, http_post_result_t *r);

#endif
