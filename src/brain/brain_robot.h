/* Robot I/O in feagi-core's protocol: a ROUTER for registration, heartbeats and deregistration,
 * a PULL for sensory frames, a PUB for motor frames, every message a FeagiByteContainer v4
 * (brain_fbc.h). Runs on the daemon's libuv loop; a brain reaches it through the hooks below and
 * brain_robot_motor_publish(), both on the loop thread only. See docs/brain.md "Robot I/O". */
#ifndef GANGLION_BRAIN_ROBOT_H
#define GANGLION_BRAIN_ROBOT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "brain/brain_fbc.h"
#include "core/strbuf.h"

#define BRAIN_ROBOT_TOKEN_LEN   32   /* the registration's auth token, bytes */
#define BRAIN_ROBOT_UNKNOWN_MAX 1024 /* larger requests from unregistered peers are dropped */

typedef struct brain_robot brain_robot_t;

/* What a brain gives the robot sockets. Every member may be NULL. Called on the loop thread;
 * pointers passed in are borrowed for the call only. */
typedef struct brain_robot_hooks {
    void *ctx;
    /* A valid sensory frame from a registered agent. Keeping it for the next burst is the
     * brain's side (brain_io.c keeps each agent's latest); returns 1 when the frame replaced one
     * of the same agent's that no burst had taken yet (counted as superseded), else 0. */
    int (*sensory)(void *ctx, const uint8_t agent_id[BRAIN_FBC_ID_LEN], uint16_t counter,
                   const brain_fbc_frame_t *frame);
    /* An agent registered (true) or left: deregistered or silent too long (false). */
    void (*agent)(void *ctx, const uint8_t agent_id[BRAIN_FBC_ID_LEN], bool registered);
} brain_robot_hooks_t;

typedef struct brain_robot_config {
    /* Endpoints: "HOST:PORT", "tcp://HOST:PORT" or "" (off). The router must be on for the
     * others to be of use; a sensory or motor socket that is off is left out of the
     * registration reply. */
    const char *router, *sensory, *motor;
    /* The host named in the URLs handed to agents; "" = the address each socket is bound to. */
    const char *advertise;
    /* When has_token, a registration must carry exactly this token; otherwise any 32 bytes. */
    bool has_token;
    uint8_t token[BRAIN_ROBOT_TOKEN_LEN];
    uint64_t timeout_ms;     /* an agent silent this long is dropped (FEAGI: 30 000) */
    size_t max_agents;       /* registrations beyond it get failed_invalid_request */
    size_t max_message;      /* largest sensory container accepted, bytes */
    brain_fbc_limits_t xyzp; /* bounds of a sensory frame */
    int hwm;                 /* ZMQ high-water marks */
} brain_robot_config_t;

/* Binds the sockets that are on and serves them on loop. *out stays NULL when the router is off.
 * hooks is copied. Returns 0, or -1 with the reason in err. */
int brain_robot_start(uv_loop_t *loop, const brain_robot_config_t *cfg,
                      const brain_robot_hooks_t *hooks, brain_robot_t **out, char *err,
                      size_t errlen);

/* Replaces the hooks (a brain created or gone after the start). */
void brain_robot_hooks_set(brain_robot_t *r, const brain_robot_hooks_t *hooks);

/* Publishes one motor container (agent id all zeros, the burst counter's low 16 bits) holding
 * n areas on the PUB. Never blocks: a full pipe drops the frame (counted). Returns 0, -ENOTCONN
 * when the motor socket is off, or a BRAIN_FBC_E_* code. */
int brain_robot_motor_publish(brain_robot_t *r, uint16_t counter, const brain_fbc_area_t *areas,
                              size_t n);

/* The registered agents, a new array of {agent_id (hex), name, manufacturer, version,
 * capabilities[], registered_at, last_seen, sensory_frames, malformed_frames}. NULL when out of
 * memory. */
json_t *brain_robot_embodiments(const brain_robot_t *r);

/* The address a socket is bound to ("router", "sensory", "motor"), or "" when off. */
const char *brain_robot_endpoint(const brain_robot_t *r, const char *which);

/* Prometheus text of the robot counters (a metrics collector: ud is the brain_robot_t). */
void brain_robot_metrics_collect(strbuf_t *out, void *ud);

/* Shutdown, phase 1: stop reading; agents stay listed. */
void brain_robot_quiesce(brain_robot_t *r);

/* Shutdown, phase 2 (the loop no longer running): closes the sockets, runs the loop once for
 * the handles' close callbacks, frees everything. *r becomes NULL. */
void brain_robot_destroy(brain_robot_t **r);

#endif
