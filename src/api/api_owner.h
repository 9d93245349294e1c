/* Ownership and sharing, decided in one place: every owned resource (agent, watch stream,
 * brain, task, guard rule, API key) carries its owner's principal ("user:alice", "key:7", or
 * none) and an optional team; these functions say who may see it and who may act on it
 * (docs/security.md, "Ownership and teams"). Pure over the request's principal, role and
 * teams as the auth hook set them. */
#ifndef GANGLION_API_OWNER_H
#define GANGLION_API_OWNER_H

#include <stdbool.h>

#include "api/api.h"

#define API_OWNER_MAX 96 /* "user:<name>" / "key:<id>" */
#define API_TEAM_MAX  64 /* a team's name, bytes */

/* The optional "team" field of a creation body, the same in every domain. */
#define API_OWNER_TEAM_FIELD                                                                       \
    {                                                                                              \
        .name = "team", .type = API_T_STRING, .flags = API_F_MIN | API_F_MAX, .min = 1,            \
        .max = API_TEAM_MAX, .chars = "._-",                                                       \
        .description = "share it with this team (one of the caller's, unless admin)"               \
    }

/* True for an admin, and for every caller when no auth hook is installed (role ""). */
bool api_owner_unrestricted(const api_req_t *req);
/* Whether team (NULL or "" = none) is one of the caller's teams. */
bool api_owner_in_team(const api_req_t *req, const char *team);
/* Seeing: unrestricted, or the resource has no owner (created before ownership was recorded,
 * or by the daemon itself), or the caller owns it, or it is shared with one of the caller's
 * teams. */
bool api_owner_may_see(const api_req_t *req, const char *owner, const char *team);
/* Acting: unrestricted, or the caller owns it, or it is shared with one of the caller's teams.
 * A resource without an owner is an admin's alone. */
bool api_owner_may_act(const api_req_t *req, const char *owner, const char *team);
/* NULL when the caller may do what it asks (act = a change, else a read); a 404 naming kind
 * and handle when the caller may not see the resource (its existence is not revealed); a 403
 * saying why when it may see but not act. Caller frees the problem. */
problem_t *api_owner_check(const api_req_t *req, const char *kind, const char *handle,
                           const char *owner, const char *team, bool act);
/* At creation: the team asked for (NULL = none) must exist (even for an admin) and be one of
 * the caller's, unless the caller is unrestricted; a 422 on the field ptr (e.g. "/team")
 * otherwise. */
problem_t *api_owner_team_check(const api_req_t *req, const char *team, const char *ptr);
/* The owner a new resource records: the caller's principal, or NULL without auth. Borrowed
 * from the request. */
const char *api_owner_of(const api_req_t *req);

#endif
