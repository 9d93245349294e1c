/* The hub: the one context created in main that owns the loop and every module. Tests build
 * their own. Handlers reach it through api_req_hub(). */
#ifndef GANGLION_HUB_H
#define GANGLION_HUB_H

#include <jansson.h>
#include <stddef.h>
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
struct brain_reg;
struct brain_robot;

/* A consumer of agents' output lines besides the bus, called on the loop for each line kept:
 * the agent's id and labels (borrowed; labels may be NULL), and the line as text (valid UTF-8,
 * no newline, not NUL-terminated). serve.c wires it (watch follows agents' output). */
typedef void (*hub_output_fn)(void *ud, const char *agent_id, const json_t *labels,
                              const char *line, size_t len);

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
    struct brain_reg *brain;
    struct brain_robot *brain_robot; /* robot I/O sockets (brain/brain_robot.c), or NULL */
    /* Wiring between domains (serve.c): agents' output lines to their consumer, or NULL. */
    hub_output_fn agent_output;
    void *agent_output_ud;
} hub_t;

#endif
