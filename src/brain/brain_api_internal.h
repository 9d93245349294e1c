/* What the brain domain's two endpoint files share: the registry from a request and the
 * reply-after-commit helpers (brain_api.c), and the FEAGI routes' registration
 * (brain_api_feagi.c). */
#ifndef GANGLION_BRAIN_API_INTERNAL_H
#define GANGLION_BRAIN_API_INTERNAL_H

#include "api/api.h"
#include "brain/brain.h"

struct hub;

/* Replies to req for brain b (NULL when it is gone) once a change is committed. */
typedef void (*brain_api_reply_fn)(api_req_t *req, brain_t *b);

brain_reg_t *brain_api_reg(api_req_t *req);
/* NULL when the caller may see the brain (a GET) or change it (another method), else the 404
 * or 403 of api_owner_check. */
problem_t *brain_api_owner_check(const api_req_t *req, const brain_t *b);
/* A completion that replies to req: with reply, or else with the brain's JSON and `status`
 * (204: no body). *ud is what to pass with it (free() it if the operation is refused). */
brain_done_fn brain_api_done_fn(api_req_t *req, const char *id, int status,
                                brain_api_reply_fn reply, void **ud);
/* Runs op on b and replies after it is committed (or with its problem at once). */
void brain_api_change(api_req_t *req, brain_t *b, int status, brain_api_reply_fn reply,
                      problem_t *(*op)(brain_t *, brain_done_fn, void *));
/* Replaces b's genome with an edited one (stolen); replies once rebuilt and committed. */
void brain_api_genome_apply(api_req_t *req, brain_t *b, json_t *genome, int status,
                            brain_api_reply_fn reply);

/* The FEAGI /v1 table (public when brain.feagi_loopback_open); brain_api.c registers it. */
const api_endpoint_t *brain_api_feagi_endpoints(const struct hub *hub, size_t *n);

#endif
