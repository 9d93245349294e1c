/* The audit log's face in the registry: GET /api/v1/audit, and the hook that writes one audit
 * row per mutating request (the rows themselves are store/audit.h's). */
#ifndef GANGLION_API_AUDIT_API_H
#define GANGLION_API_AUDIT_API_H

#include "api/api.h"

/* Registers GET /api/v1/audit (scope audit:read). */
void audit_api_register(api_registry_t *reg);

/* An api_audit_fn that records every mutating request through audit_write, using the request's
 * hub (store and loop). Install with api_audit_hook_set(reg, audit_api_hook, NULL). */
void audit_api_hook(api_req_t *req, int status, void *ud);

#endif
