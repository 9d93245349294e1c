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
    double loop_lag_ms; /* last measured event-loop lag */
    struct system_state *system; /* built-in endpoints' own state (system_api.c) */
} hub_t;

#endif
