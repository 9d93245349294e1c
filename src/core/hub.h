/* The hub: the one context created in main that owns the loop and every module. Tests build
 * their own. Handlers reach it through api_req_hub(). */
#ifndef GANGLION_HUB_H
#define GANGLION_HUB_H

#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/config.h"
#include "core/problem.h"

struct bus;
struct metrics;
struct store;
struct api_registry;
struct http_server;
struct auth;
struct agents;
struct zmq_server;
struct mqtt_server;
struct watch;
struct guard;
struct memory;
struct vault;
struct brain_reg;
struct brain_robot;
struct tasks;
struct alerts;
struct retention;

/* A consumer of agents' output lines besides the bus, called on the loop for each line kept:
 * the agent's id and labels (borrowed; labels may be NULL), and the line as text (valid UTF-8,
 * no newline, not NUL-terminated). serve.c wires it (watch follows agents' output). */
typedef void (*hub_output_fn)(void *ud, const char *agent_id, const json_t *labels,
                              const char *line, size_t len);

/* Between the agents and tasks domains (serve.c wires them; either may be NULL): a live agent
 * as the agents domain shows it to a visitor (borrowed for the call: id, name, and its
 * capabilities array), and a stdout line of an agent that is a task message ("type" starting
 * with "task_"), parsed (borrowed). */
typedef void (*hub_agent_visit_fn)(void *ud, const char *id, const char *name,
                                   const json_t *capabilities);
typedef void (*hub_agent_task_line_fn)(void *ud, const char *agent_id, const json_t *msg);

/* Told after a reload (SIGHUP) applied the reloadable settings to hub->cfg, on the loop: a
 * module that copies settings into its own state (the HTTP server's limits, CORS list and
 * heartbeat) refreshes them here, instead of comparing them on every request. */
typedef void (*hub_reload_fn)(void *ud);
#define HUB_RELOAD_HOOKS 8
/* A gate in front of what agents are asked to do (spawn, stdin writes, custom actions), called on
 * the loop with the action — {kind, agent, argv, path, env, labels, input, name, ...}, borrowed
 * — and the principal asking. Returns 0 to let the action run now; -1 to refuse it, with
 * *refusal set (the caller replies it); or 1 when it holds the action: it then calls
 * resume(resume_ud, refusal) exactly once, later, on the loop, with refusal NULL to run it or
 * the problem to reply (owned by resume). serve.c wires it (the guard's gate). */
typedef void (*hub_gate_resume_fn)(void *resume_ud, problem_t *refusal);
/* A synchronous gate: NULL = allowed, else the refusal (owned by the caller). */
typedef problem_t *(*hub_task_gate_fn)(void *ud, const json_t *submission, const char *principal);
typedef int (*hub_gate_fn)(void *ud, const json_t *action, const char *principal,
                           hub_gate_resume_fn resume, void *resume_ud, problem_t **refusal);

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
    struct retention *retention; /* the background purges (store/retention.c) */
    /* Domains: each owns its state, created in serve.c, reached by other modules only through
     * the domain's public header or the bus. */
    struct auth *auth;
    struct agents *agents;
    struct zmq_server *zmq;
    struct mqtt_server *mqtt;
    struct watch *watch;
    struct guard *guard;
    struct memory *memory;
    struct vault *vault;
    struct brain_reg *brain;
    struct brain_robot *brain_robot; /* robot I/O sockets (brain/brain_robot.c), or NULL */
    struct tasks *tasks;
    struct alerts *alerts;
    /* Wiring between domains (serve.c): agents' output lines to their consumer, or NULL. */
    hub_output_fn agent_output;
    void *agent_output_ud;
    /* agents → others: visit every agent that can take stdin lines now; write one line
     * (newline included) to an agent's stdin (0, or a negative errno: -ENOENT, -EPIPE, -EAGAIN) */
    void (*agents_each_live)(struct hub *hub, hub_agent_visit_fn fn, void *ud);
    int (*agents_stdin_line)(struct hub *hub, const char *id, const char *line, size_t len);
    /* agents' task_* stdout lines to the tasks domain */
    hub_agent_task_line_fn agent_task_line;
    void *agent_task_line_ud;
    /* Reload listeners (hub_reload_hook_add), told in the order added. */
    struct {
        hub_reload_fn fn;
        void *ud;
    } reload_hooks[HUB_RELOAD_HOOKS];
    size_t nreload_hooks;
    /* Wiring: the gate agents' spawn, stdin and custom actions pass first, or NULL. */
    hub_gate_fn agent_gate;
    void *agent_gate_ud;
    /* Wiring: the gate task submissions pass before they are queued (synchronous), or NULL. */
    hub_task_gate_fn task_gate;
    void *task_gate_ud;
} hub_t;

/* Adds a reload listener; -ENOSPC when HUB_RELOAD_HOOKS are taken (a programming error: the
 * set of listeners is fixed at start). */
static inline int hub_reload_hook_add(hub_t *hub, hub_reload_fn fn, void *ud)
{
    if (hub->nreload_hooks == HUB_RELOAD_HOOKS)
        return -ENOSPC;
    hub->reload_hooks[hub->nreload_hooks].fn = fn;
    hub->reload_hooks[hub->nreload_hooks].ud = ud;
    hub->nreload_hooks++;
    return 0;
}

/* Removes the listener added with this fn and ud (a module stopping before the hub). */
static inline void hub_reload_hook_remove(hub_t *hub, hub_reload_fn fn, void *ud)
{
    for (size_t i = 0; i < hub->nreload_hooks; i++) {
        if (hub->reload_hooks[i].fn == fn && hub->reload_hooks[i].ud == ud) {
            for (size_t j = i + 1; j < hub->nreload_hooks; j++)
                hub->reload_hooks[j - 1] = hub->reload_hooks[j];
            hub->nreload_hooks--;
            return;
        }
    }
}

/* Tells every listener that hub->cfg holds newly applied reloadable settings. */
static inline void hub_reload_notify(hub_t *hub)
{
    for (size_t i = 0; i < hub->nreload_hooks; i++)
        hub->reload_hooks[i].fn(hub->reload_hooks[i].ud);
}

#endif
