/* Ownership and sharing, decided in one place: every owned resource (agent, watch stream,
 * brain, task, guard rule, API key) carries its owner's principal ("user:alice", "key:7", or
 * none) and an optional team; these functions say who may see it and who may act on it
 * (docs/security.md, "Ownership and teams"). Pure over the request's principal, role and
 * teams as the auth hook set them. */
#ifndef GANGLION_API_OWNER_H
#define GANGLION_API_OWNER_H

#include <jansson.h>
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
/* Who a long-lived subscription (an event stream) reads for: a copy of its request's
 * principal, role and teams, as the request ends before the stream does. */
typedef struct api_viewer {
    char principal[API_OWNER_MAX];
    char role[16];
    char teams[1024];
} api_viewer_t;
void api_viewer_from(api_viewer_t *v, const api_req_t *req);
bool api_viewer_unrestricted(const api_viewer_t *v);
/* api_owner_may_see for a viewer. */
bool api_viewer_may_see(const api_viewer_t *v, const char *owner, const char *team);
/* The viewer a principal ("user:alice", "key:7") reads as now — its role and teams — from the
 * hook auth sets, for work done on a principal's behalf without a request (an alert rule's
 * notifications). 0; -ENOENT when it no longer acts (deleted, disabled, revoked); -ENOSYS
 * without the hook (no auth: everyone is unrestricted). */
typedef int (*api_viewer_fn)(const char *principal, api_viewer_t *out, void *ud);
void api_viewer_hook_set(api_registry_t *reg, api_viewer_fn fn, void *ud);
int api_viewer_lookup(const api_registry_t *reg, const char *principal, api_viewer_t *out);

/* Event visibility. A domain registers, for a topic prefix ("agent."), a function that says
 * whether a viewer may see one of its events, from memory only (it runs per event and
 * subscriber on the loop); the transports that deliver bus events to one subscriber (SSE,
 * WebSocket) ask api_event_visible. Topics no domain claims are seen by every reader. At most
 * API_EVENT_FILTERS_MAX prefixes; -ENOSPC beyond. */
#define API_EVENT_FILTERS_MAX 16
typedef bool (*api_event_see_fn)(const api_viewer_t *v, const char *topic, const char *data,
                                 size_t len, void *ud);
int api_event_filter_add(api_registry_t *reg, const char *prefix, api_event_see_fn fn, void *ud);
bool api_event_visible(const api_registry_t *reg, const api_viewer_t *v, const char *topic,
                       const char *data, size_t len);
/* The string value of a top-level-looking "key":"value" in an event's compact JSON, copied into
 * out (at most cap - 1 bytes; values with escapes are not read). 0, or -ENOENT. For events
 * whose owner is named in their payload (an anomaly's stream), without parsing it whole. */
int api_event_str(const char *data, size_t len, const char *key, char *out, size_t cap);
/* The topic's second segment ("agent.<id>.status" -> <id>) into out. 0, or -ENOENT. */
int api_event_segment(const char *topic, char *out, size_t cap);

/* References to owners and teams. Each domain registers one counter over the resources it
 * holds in memory: how many record owner (when owner is set) or name team (when team is set).
 * Auth asks before it gives a name out again: a team created under a deleted team's name, or a
 * user under a deleted user's, would inherit what still names it. At most API_OWNER_REFS_MAX
 * counters; -ENOSPC beyond. */
#define API_OWNER_REFS_MAX 16
typedef size_t (*api_owner_refs_fn)(const char *owner, const char *team, void *ud);
int api_owner_refs_add(api_registry_t *reg, const char *kind, api_owner_refs_fn fn, void *ud);
/* The resources that record owner / name team, over every domain; *kind (when not NULL) the
 * first kind with one (a static string of the registration), NULL when none. */
size_t api_owner_refs(const api_registry_t *reg, const char *owner, const char *team,
                      const char **kind);
/* Whether a document (an alert rule, a guard rule) with "owner" and "team" fields matches. */
bool api_owner_doc_refers(const json_t *doc, const char *owner, const char *team);

/* At creation: the team asked for (NULL = none) must exist (even for an admin) and be one of
 * the caller's, unless the caller is unrestricted; a 422 on the field ptr (e.g. "/team")
 * otherwise. */
problem_t *api_owner_team_check(const api_req_t *req, const char *team, const char *ptr);
/* The owner a new resource records: the caller's principal, or NULL without auth. Borrowed
 * from the request. */
const char *api_owner_of(const api_req_t *req);

#endif
