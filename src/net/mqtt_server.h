/* The MQTT transport: a libmosquitto client, driven by the hub's libuv loop, that serves the
 * whole endpoint registry through the ZMQ request envelope ({id, method, path, query?, body?,
 * token?} → {id, status, body}) on <prefix>/rpc/request/<client>, maps a few fixed topics onto
 * endpoints, and publishes bus events on <prefix>/events/... See docs/mqtt.md. */
#ifndef GANGLION_NET_MQTT_SERVER_H
#define GANGLION_NET_MQTT_SERVER_H

#include <stddef.h>

struct hub;
typedef struct mqtt_server mqtt_server_t;

/* Starts connecting to hub->cfg.mqtt_url (empty: *out stays NULL, libmosquitto stays unmapped).
 * An unreachable broker is not an error: the transport keeps retrying with backoff. Returns 0,
 * or -1 with the reason in err (a bad url, an unreadable password or TLS file). */
int mqtt_server_start(struct hub *hub, mqtt_server_t **out, char *err, size_t errlen);

/* Shutdown, phase 1: stop taking requests; replies to those in flight are still sent. */
void mqtt_server_quiesce(mqtt_server_t *srv);

/* Shutdown, phase 2: cancels what is pending, disconnects, frees. *srv becomes NULL. */
void mqtt_server_destroy(mqtt_server_t **srv);

#endif
