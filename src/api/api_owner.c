/* Ownership and sharing decisions (api_owner.h): the caller's principal, role and teams, as
 * the auth hook set them on the request, against a resource's owner and team. */
#include "api/api_owner.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The decisions over a caller's role, principal and teams, for requests and viewers alike. */
static bool api_owner_role_unrestricted(const char *role)
{
    return role[0] == '\0' || strcmp(role, "admin") == 0;
}

static bool api_owner_teams_have(const char *teams, const char *team)
{
    if (!team || !*team)
        return false;
    size_t n = strlen(team);
    for (const char *t = teams; *t;) {
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

static bool api_owner_sees(const char *role, const char *principal, const char *teams,
                           const char *owner, const char *team)
{
    return api_owner_role_unrestricted(role) || !owner || !*owner ||
           strcmp(owner, principal) == 0 || api_owner_teams_have(teams, team);
}

bool api_owner_unrestricted(const api_req_t *req)
{
    return api_owner_role_unrestricted(api_req_role(req));
}

bool api_owner_in_team(const api_req_t *req, const char *team)
{
    return api_owner_teams_have(api_req_teams(req), team);
}

static bool api_owner_is_caller(const api_req_t *req, const char *owner)
{
    return owner && *owner && strcmp(owner, api_req_principal(req)) == 0;
}

bool api_owner_may_see(const api_req_t *req, const char *owner, const char *team)
{
    return api_owner_sees(api_req_role(req), api_req_principal(req), api_req_teams(req), owner,
                          team);
}

bool api_owner_may_act(const api_req_t *req, const char *owner, const char *team)
{
    return api_owner_unrestricted(req) || api_owner_is_caller(req, owner) ||
           api_owner_in_team(req, team);
}

void api_viewer_from(api_viewer_t *v, const api_req_t *req)
{
    snprintf(v->principal, sizeof v->principal, "%s", api_req_principal(req));
    snprintf(v->role, sizeof v->role, "%s", api_req_role(req));
    snprintf(v->teams, sizeof v->teams, "%s", api_req_teams(req));
}

bool api_viewer_unrestricted(const api_viewer_t *v)
{
    return api_owner_role_unrestricted(v->role);
}

bool api_viewer_may_see(const api_viewer_t *v, const char *owner, const char *team)
{
    return api_owner_sees(v->role, v->principal, v->teams, owner, team);
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

int api_event_str(const char *data, size_t len, const char *key, char *out, size_t cap)
{
    char pat[64];
    int n = snprintf(pat, sizeof pat, "\"%s\":\"", key);
    if (n < 0 || (size_t)n >= sizeof pat || !data)
        return -ENOENT;
    const char *end = data + len;
    for (const char *p = data; (size_t)(end - p) > (size_t)n; p++) {
        if (memcmp(p, pat, (size_t)n) != 0)
            continue;
        const char *v = p + n, *q = v;
        while (q < end && *q != '"' && *q != '\\')
            q++;
        if (q >= end || *q != '"' || (size_t)(q - v) >= cap)
            return -ENOENT;
        memcpy(out, v, (size_t)(q - v));
        out[q - v] = '\0';
        return 0;
    }
    return -ENOENT;
}

int api_event_segment(const char *topic, char *out, size_t cap)
{
    const char *a = strchr(topic, '.');
    if (!a)
        return -ENOENT;
    a++;
    const char *b = strchr(a, '.');
    size_t n = b ? (size_t)(b - a) : strlen(a);
    if (n == 0 || n >= cap)
        return -ENOENT;
    memcpy(out, a, n);
    out[n] = '\0';
    return 0;
}

bool api_owner_doc_refers(const json_t *doc, const char *owner, const char *team)
{
    const char *o = json_string_value(json_object_get(doc, "owner"));
    const char *t = json_string_value(json_object_get(doc, "team"));
    return (owner && o && strcmp(owner, o) == 0) || (team && t && strcmp(team, t) == 0);
}
