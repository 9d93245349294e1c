/* The hub: the one context created in main that owns the loop and every module. Tests build
 * their own. Handlers reach it through api_req_hub(). */
#ifndef GANGLION_HUB_H
#define GANGLION_HUB_H

#include <stdint.h>
#include <uv.h>

#include "core/config.h"

struct bus;
struct metrics;
struct store;
struct api_registry;
struct http_server;
struct auth;
struct agents;
struct zmq_server;
struct watch;

typedef struct hub {
    uv_loop_t *loop;
    config_t cfg;
    struct store *store;
    struct bus *bus;
    struct metrics *metrics;
    struct api_registry *api;
    struct http_server *http;
    int64_t started_wall_ms;
    uint64_t started_mono_ns;
    int schema_version;
    int shutting_down;
    double loop_lag_ms;          /* last measured event-loop lag */
    struct system_state *system; /* built-in endpoints' own state (system_api.c) */
    /* Domains: each owns its state, created in serve.c, reached by other modules only through
     * the domain's public header or the bus. */
    struct auth *auth;
    struct agents *agents;
    struct zmq_server *zmq;
    struct watch *watch;
} hub_t;

#endif
