/* The HTTP transport: ganglion's own HTTP/1.1 server (plain or TLS) on the hub's libuv loop.
 * Translates each request into an api_call_t for the registry and the api_reply_t back into a
 * response (JSON, problem+json, raw text, or an SSE stream fed by the bus). */
#ifndef GANGLION_HTTP_H
#define GANGLION_HTTP_H

#include <stddef.h>

struct hub;
typedef struct http_server http_server_t;

/* Binds hub->cfg.listen and starts serving on hub->loop. err gets the reason on failure
 * (address in use, bad address). */
int http_server_start(struct hub *hub, http_server_t **out, char *err, size_t errlen);

/* The bound port (useful with port 0). */
int http_server_port(const http_server_t *srv);

/* Shutdown, phase 1: stop accepting new connections and end SSE streams; requests in flight
 * continue. */
void http_server_quiesce(http_server_t *srv);

/* Requests received but not yet fully answered. */
size_t http_server_inflight(const http_server_t *srv);

/* Shutdown, phase 2: closes every connection and frees the server; *srv becomes NULL. */
void http_server_destroy(http_server_t **srv);

#endif
