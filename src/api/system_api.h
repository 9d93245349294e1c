/* Built-in endpoints: liveness, readiness, metrics, OpenAPI, system info, the event stream,
 * and (only when asked for) diagnostic endpoints the integration tests drive. */
#ifndef GANGLION_SYSTEM_API_H
#define GANGLION_SYSTEM_API_H

#include <stdbool.h>

#include "api/api.h"

struct hub;

void system_api_register(api_registry_t *reg, struct hub *hub, bool test_endpoints);

/* Shutdown after the grace period: answers requests still waiting on this module's timers
 * with 503 and releases them, so the loop can end. */
void system_api_abort(struct hub *hub);
/* Frees the module's state. */
void system_api_destroy(struct hub *hub);

#endif
