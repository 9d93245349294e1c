/* The front door of the HTTP listener: accepts connections itself, refuses those beyond the
 * total or per-address limits with a problem, holds each admitted one until its first request
 * head has arrived whole (or its header timeout passes), refuses a malformed first head with a
 * problem, and hands the rest to the transport (http_conn.c). Internal to src/net. */
#ifndef GANGLION_HTTP_DOOR_H
#define GANGLION_HTTP_DOOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "core/metrics.h"
#include "net/http_head.h"

typedef struct http_door http_door_t;

typedef struct http_door_limits {
    size_t max_conns;           /* connections open at once, held here or by the transport */
    size_t max_per_addr;        /* of them from one client address */
    uint64_t header_timeout_ms; /* accept to the end of the first request head */
    bool inspect;            /* plain HTTP: check the first head and answer refusals with a problem.
                              * false under TLS (the bytes are TLS): refusals are a bare close. */
    http_head_limits_t head; /* the checks of that head */
    const char *security_headers; /* "Name: value\r\n" lines added to refusals; borrowed */
} http_door_limits_t;

/* Fills *lim with the limits in force now; called at start and by http_door_limits_refresh
 * (the transport's reload listener), not per connection. */
typedef void (*http_door_limits_fn)(void *ud, http_door_limits_t *lim);

/* Takes an admitted connection: fd is the callee's from now on (closed by it on failure).
 * Returns 0, or -1 when it could not be taken. */
typedef int (*http_door_handoff_fn)(void *ud, int fd, const struct sockaddr *sa, socklen_t salen);

/* Starts accepting on listen_fd (a listening, non-blocking socket whose ownership passes to
 * the door once started). Refusals are counted in ganglion_http_refused_total{status} of m
 * (borrowed, may be NULL). Returns 0 or a negative errno; *out is freed by http_door_destroy. */
int http_door_start(uv_loop_t *loop, int listen_fd, metrics_t *m, http_door_limits_fn limits,
                    http_door_handoff_fn handoff, void *ud, http_door_t **out);

/* Under TLS (inspect false) a refusal can only be read after a handshake: the transport may
 * take fd to answer it with a problem then (0; fd is its own and the refusal counted by it),
 * or decline (-1; fd stays the door's, which closes it). */
typedef int (*http_door_refuse_fn)(void *ud, int fd, int status, const char *slug,
                                   const char *detail, unsigned retry_after_s);
void http_door_tls_refuse_set(http_door_t *d, http_door_refuse_fn fn);

/* Reads the limits again (after a reload): connections admitted from now on see them. */
void http_door_limits_refresh(http_door_t *d);

/* A connection handed to the transport opened or closed: it counts against the limits while
 * open. */
void http_door_conn_opened(http_door_t *d, const struct sockaddr *sa);
void http_door_conn_closed(http_door_t *d, const struct sockaddr *sa);

/* Stops accepting: the listening socket and the connections still waiting for a head are
 * closed. Counting of the transport's connections goes on until destroy. */
void http_door_stop(http_door_t *d);

/* Stops and frees; the memory goes once the loop has run the handles' close callbacks. */
void http_door_destroy(http_door_t **pd);

#endif
