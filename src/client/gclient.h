/* gclient: a small blocking client for ganglion, one face over two transports — HTTP (libcurl,
 * loaded on first use) and ZMQ (a DEALER speaking the RPC envelope). Requests carry ids and
 * replies are matched to them (a reply with an unknown id is discarded); every request has a
 * timeout; over ZMQ a daemon that is down or restarting is retried with exponential backoff and
 * jitter (100 ms doubling to a 30 s cap), the socket closed and recreated for each attempt.
 * Not thread-safe: one gclient per thread. */
#ifndef GANGLION_GCLIENT_H
#define GANGLION_GCLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct gclient gclient_t;

typedef enum gclient_via {
    GCLIENT_HTTP = 0,
    GCLIENT_ZMQ,
} gclient_via_t;

#define GCLIENT_BACKOFF_MIN_MS 100
#define GCLIENT_BACKOFF_MAX_MS 30000

typedef struct gclient_opts {
    gclient_via_t via;
    /* HTTP: http(s)://HOST:PORT[/prefix]. ZMQ: tcp://HOST:PORT; an http(s) URL is accepted too
     * and means its host on the default ZMQ port 7701. */
    const char *url;
    const char *token; /* bearer token or NULL (borrowed only during gclient_new) */
    long timeout_ms;   /* bound on one request including reconnects; default 10000 */
    bool msgpack;      /* ZMQ: MessagePack instead of JSON envelopes */
    /* ZMQ CURVE: the server's public key (Z85) turns CURVE on; the client's secret key (Z85)
     * is optional (a throwaway keypair otherwise, which an allow-list will refuse). */
    const char *curve_server_key;
    const char *curve_secret_key;
    /* Called with one line about each reconnect attempt (for --debug output), or NULL. */
    void (*log)(void *ud, const char *line);
    void *log_ud;
} gclient_opts_t;

/* A reply. body is the decoded reply body (JSON value, a string for text replies, or NULL when
 * empty); headers holds the extra headers the daemon sent (Location, Retry-After, Allow,
 * Content-Type of a text reply) or NULL. Owned; release with gclient_reply_free. */
typedef struct gclient_reply {
    int status;
    json_t *body;
    json_t *headers;
    char request_id[80];
} gclient_reply_t;

/* 0, or a negative errno with a message in err: -EINVAL (bad URL, token or key), -ENOTSUP
 * (libcurl missing for HTTP), -ENOMEM. */
int gclient_new(const gclient_opts_t *opts, gclient_t **out, char *err, size_t errlen);
void gclient_destroy(gclient_t **c);

/* Sends one request. path starts with '/' and may carry "?query"; query (an object of values)
 * and body (any JSON value) are borrowed and may be NULL. Returns 0 when a reply arrived
 * (whatever its status), else -ETIMEDOUT (no reply in time; over ZMQ also when the daemon
 * could not be reached within the timeout), -ECONNREFUSED (HTTP: nothing listens), -EPROTO,
 * -EIO or -ENOMEM, with gclient_error() saying what happened. */
int gclient_request(gclient_t *c, const char *method, const char *path, const json_t *query,
                    const json_t *body, gclient_reply_t *reply);

void gclient_reply_free(gclient_reply_t *r);

/* The last error's text ("" when none). Borrowed. */
const char *gclient_error(const gclient_t *c);

/* How many reconnect attempts the last request needed, and the replies discarded for an
 * unknown id since the client was made (for tests and --debug). */
int gclient_last_retries(const gclient_t *c);
unsigned long gclient_discarded(const gclient_t *c);

/* The delay before retry number `attempt` (1-based): min(100 ms · 2^(attempt-1), 30 s), scaled
 * by a jitter factor in [0.5, 1.0) from `rnd` (uniform in [0,1)). Exposed for unit tests. */
long gclient_backoff_ms(int attempt, double rnd);

/* Decodes a reply's bytes (ZMQ: the envelope in enc, 0 JSON or 1 MessagePack; HTTP: a JSON
 * body, enc -1) within the JSON value budget of their length and a depth of
 * GCLIENT_JSON_DEPTH, as the daemon bounds what it reads: a reply cannot make the client build
 * more values than its size justifies. Returns 0 with *out (NULL when the bytes are not
 * valid), or -E2BIG when they are over budget or too deep, with the reason in err. */
#define GCLIENT_JSON_DEPTH 512
int gclient_reply_decode(int enc, const void *buf, size_t len, json_t **out, char *err,
                         size_t errlen);

/* The ZMQ endpoint for a client URL: tcp://… as is; http(s)://HOST[:PORT]… → tcp://HOST:7701.
 * 0 or -1. */
int gclient_zmq_endpoint(const char *url, char *out, size_t outlen);

#endif
