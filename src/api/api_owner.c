/* Ownership and sharing decisions (api_owner.h): the caller's principal, role and teams, as
 * the auth hook set them on the request, against a resource's owner and team. */
#include "api/api_owner.h"

#include <string.h>

bool api_owner_unrestricted(const api_req_t *req)
{
    const char *role = api_req_role(req);
    return role[0] == '\0' || strcmp(role, "admin") == 0;
}

bool api_owner_in_team(const api_req_t *req, const char *team)
{
    if (!team || !*team)
        return false;
    size_t n = strlen(team);
    for (const char *t = api_req_teams(req); *t;) {
        const char *end = strchr(t, ',');
        size_t len = end ? (size_t)(end - t) : strlen(t);
        if (len == n && memcmp(t, team, n) == 0)
            return true;
        if (!end)
            break;
        t = end + 1;
    }
    return false;
}

static bool api_owner_is_caller(const api_req_t *req, const char *owner)
{
    return owner && *owner && strcmp(owner, api_req_principal(req)) == 0;
}

bool api_owner_may_see(const api_req_t *req, const char *owner, const char *team)
{
    return api_owner_unrestricted(req) || !owner || !*owner || api_owner_is_caller(req, owner) ||
           api_owner_in_team(req, team);
}

bool api_owner_may_act(const api_req_t *req, const char *owner, const char *team)
{
    return api_owner_unrestricted(req) || api_owner_is_caller(req, owner) ||
           api_owner_in_team(req, team);
}

problem_t *api_owner_check(const api_req_t *req, const char *kind, const char *handle,
                           const char *owner, const char *team, bool act)
{
    if (!api_owner_may_see(req, owner, team))
        return problem_new(404, "not-found", "no %s %s", kind, handle);
    if (!act || api_owner_may_act(req, owner, team))
        return NULL;
    if (!owner || !*owner)
        return problem_new(403, "forbidden",
                           "%s %s has no owner (created before ownership was recorded, or by "
                           "the daemon itself): only an admin may change it",
                           kind, handle);
    return problem_new(403, "forbidden",
                       "%s %s belongs to %s%s%s; %s may change only what it owns or what its "
                       "teams share",
                       kind, handle, owner, team && *team ? " and team " : "",
                       team && *team ? team : "", api_req_principal(req));
}

problem_t *api_owner_team_check(const api_req_t *req, const char *team, const char *ptr)
{
    problem_t *p = NULL;
    if (team && !api_req_team_exists(req, team)) { /* even an admin's: a typo shares nothing */
        problem_field_error(&p, "body", ptr, "no team named %s", team);
        return p;
    }
    if (!team || api_owner_unrestricted(req) || api_owner_in_team(req, team))
        return NULL;
    const char *mine = api_req_teams(req);
    problem_field_error(&p, "body", ptr, "%s is not a member of team %s (its teams: %s)",
                        api_req_principal(req), team, *mine ? mine : "none");
    return p;
}

const char *api_owner_of(const api_req_t *req)
{
    return api_req_role(req)[0] ? api_req_principal(req) : NULL;
}
