/* The client's transport face: one request in, one reply out. HTTP (libcurl) is the only
 * transport today; `--via zmq` will add a second implementation behind the same cli_client_*
 * functions, so commands never see which wire carried their request. */
#ifndef GANGLION_CLI_HTTP_H
#define GANGLION_CLI_HTTP_H

#include <stddef.h>

/* Replies larger than this are refused rather than buffered: the CLI holds a reply in memory. */
#define CLI_CLIENT_MAX_REPLY (64u * 1024u * 1024u)

typedef enum cli_via {
    CLI_VIA_HTTP = 0,
    CLI_VIA_ZMQ,
} cli_via_t;

typedef struct cli_client_opts {
    cli_via_t via;
    const char *url;   /* base URL, e.g. http://127.0.0.1:7700 (a path prefix is kept) */
    const char *token; /* bearer token or NULL; never logged or printed */
    long timeout_ms;   /* whole-request bound, > 0 */
    /* https: a PEM file of trusted certificates (NULL = the system's CAs); insecure nonzero
     * skips certificate and host name verification. */
    const char *cacert;
    int insecure;
} cli_client_opts_t;

/* A reply. All strings are owned by the reply and freed by cli_response_free(). */
typedef struct cli_response {
    int status; /* HTTP status (or the status carried in a ZMQ reply) */
    char *body; /* NUL-terminated (the NUL is not counted in body_len); never NULL */
    size_t body_len;
    char *content_type; /* NULL when absent */
    char *request_id;   /* the X-Request-Id the daemon echoed, else the one we sent */
    char *retry_after;  /* NULL when absent */
    char *location;     /* NULL when absent */
} cli_response_t;

typedef struct cli_client cli_client_t;

/* Creates a client. Returns 0, or a negative errno (-EINVAL for a bad URL or token, -ENOTSUP
 * for a transport not built in) with a message in err. Caller destroys *out. */
int cli_client_new(const cli_client_opts_t *opts, cli_client_t **out, char *err, size_t errlen);
void cli_client_destroy(cli_client_t **c);

/* Sends one request; path starts with '/' and may carry a query string. body may be NULL.
 * Returns 0 when a reply arrived (whatever its status), else a negative errno:
 * -ECONNREFUSED, -EHOSTUNREACH, -ETIMEDOUT (the daemon is unreachable or silent), -E2BIG (the
 * reply exceeded CLI_CLIENT_MAX_REPLY), -EPROTO / -EIO (anything else). On error
 * cli_client_error() says what happened in words fit for a user. *resp is always initialised;
 * free it with cli_response_free() either way. */
int cli_client_request(cli_client_t *c, const char *method, const char *path, const char *body,
                       size_t body_len, cli_response_t *resp);

/* The last error's text, "" when none. Borrowed; valid until the next request. */
const char *cli_client_error(const cli_client_t *c);
/* The base URL the client talks to (for messages). Borrowed. */
const char *cli_client_url(const cli_client_t *c);

/* True when the error means the daemon could not be reached at all (exit code 3). */
int cli_client_unreachable(int rc);

void cli_response_free(cli_response_t *r);

/* True when the URL's host is a loopback address or "localhost" (decides whether the local
 * admin token may be sent). Unparseable URLs are not loopback. */
int cli_url_is_loopback(const char *url);

#endif
