/* The ZMQ transport: a ROUTER socket serving the whole endpoint registry through the RPC
 * envelope ({id, method, path, query?, body?, token?} → {id, status, body}, JSON or
 * MessagePack), an XPUB socket publishing bus events as [topic][payload] while anyone
 * subscribes, and optional CURVE with a ZAP allow-list of client keys. Every socket is driven by
 * the hub's libuv loop (ZMQ_FD + ZMQ_EVENTS, edge-triggered). See docs/agents.md "ZMQ envelope". */
#ifndef GANGLION_ZMQ_SERVER_H
#define GANGLION_ZMQ_SERVER_H

#include <stddef.h>

struct hub;
typedef struct zmq_server zmq_server_t;

/* Binds hub->cfg.zmq_listen and hub->cfg.zmq_pub ("off" disables one) and starts serving on
 * hub->loop. *out stays NULL when both are off. A default address that is already in use only
 * disables that socket with a warning (so several daemons can share a machine); an address
 * set explicitly must bind or the start fails. Returns 0, or -1 with the reason in err. */
int zmq_server_start(struct hub *hub, zmq_server_t **out, char *err, size_t errlen);

/* Shutdown, phase 1: stop reading requests; replies to those in flight are still sent. */
void zmq_server_quiesce(zmq_server_t *srv);

/* Requests dispatched and not yet answered. */
size_t zmq_server_inflight(const zmq_server_t *srv);

/* Shutdown, phase 2 (loop no longer running): cancels what is still pending, closes the sockets
 * with linger 0 and the context. *srv becomes NULL. */
void zmq_server_destroy(zmq_server_t **srv);

#endif
