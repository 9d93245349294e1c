/* Teams: named groups of users that resources are shared with (api/api_owner.h). The teams and
 * memberships are held in memory (loaded at start, changed after each commit of
 * auth_api_teams.c) so that the auth hook tells a request's teams without a database round
 * trip. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_internal.h"

/* ---- the in-memory state ---- */

auth_team_t *auth_team_by_name(auth_t *a, const char *name)
{
    for (size_t i = 0; i < a->nteams; i++)
        if (strcmp(a->teams[i].name, name) == 0)
            return &a->teams[i];
    return NULL;
}

auth_team_t *auth_team_by_id(auth_t *a, int64_t id)
{
    for (size_t i = 0; i < a->nteams; i++)
        if (a->teams[i].id == id)
            return &a->teams[i];
    return NULL;
}

auth_user_t *auth_user_by_name(auth_t *a, const char *name)
{
    for (size_t i = 0; i < a->nusers; i++)
        if (strcmp(a->users[i].username, name) == 0)
            return &a->users[i];
    return NULL;
}

int auth_team_put(auth_t *a, int64_t id, const char *name)
{
    if (auth_team_by_id(a, id))
        return 0;
    if (a->nteams == a->capteams) {
        size_t cap = a->capteams ? a->capteams * 2 : 8;
        auth_team_t *t = realloc(a->teams, cap * sizeof *t);
        if (!t)
            return -1;
        a->teams = t;
        a->capteams = cap;
    }
    auth_team_t *t = &a->teams[a->nteams++];
    memset(t, 0, sizeof *t);
    t->id = id;
    snprintf(t->name, sizeof t->name, "%s", name);
    return 0;
}

int auth_member_put(auth_t *a, int64_t team, int64_t user)
{
    for (size_t i = 0; i < a->nmembers; i++)
        if (a->members[i].team_id == team && a->members[i].user_id == user)
            return 0;
    if (a->nmembers == a->capmembers) {
        size_t cap = a->capmembers ? a->capmembers * 2 : 16;
        auth_member_t *m = realloc(a->members, cap * sizeof *m);
        if (!m)
            return -1;
        a->members = m;
        a->capmembers = cap;
    }
    a->members[a->nmembers++] = (auth_member_t){.team_id = team, .user_id = user};
    return 0;
}

/* Drops the memberships that match: a team's (user 0) or a user's (team 0), or one. */
void auth_members_drop(auth_t *a, int64_t team, int64_t user)
{
    size_t k = 0;
    for (size_t i = 0; i < a->nmembers; i++) {
        const auth_member_t *m = &a->members[i];
        if ((team == 0 || m->team_id == team) && (user == 0 || m->user_id == user))
            continue;
        a->members[k++] = *m;
    }
    a->nmembers = k;
}

void auth_team_drop(auth_t *a, int64_t id)
{
    auth_members_drop(a, id, 0);
    for (size_t i = 0; i < a->nteams; i++)
        if (a->teams[i].id == id) {
            a->teams[i] = a->teams[--a->nteams];
            return;
        }
}

/* Appends the names of user's teams to out (','-separated), within cap. */
static void auth_user_teams(auth_t *a, int64_t user, char *out, size_t cap)
{
    for (size_t i = 0; i < a->nmembers; i++) {
        if (a->members[i].user_id != user)
            continue;
        const auth_team_t *t = auth_team_by_id(a, a->members[i].team_id);
        size_t len = strlen(out);
        if (t && len + strlen(t->name) + 2 <= cap)
            snprintf(out + len, cap - len, "%s%s", len ? "," : "", t->name);
    }
}

void auth_ident_teams(auth_t *a, const auth_ident_t *id, char *out, size_t cap)
{
    out[0] = '\0';
    if (id->kind == AUTH_ID_USER) {
        auth_user_teams(a, id->id, out, cap);
        return;
    }
    const auth_key_t *k = id->kind == AUTH_ID_KEY ? auth_key_find(a, id->id) : NULL;
    if (!k)
        return;
    if (k->team[0])
        snprintf(out, cap, "%s", k->team);
    /* a key acts with its creator's teams too */
    const auth_user_t *u =
        strncmp(k->created_by, "user:", 5) == 0 ? auth_user_by_name(a, k->created_by + 5) : NULL;
    if (u)
        auth_user_teams(a, u->id, out, cap);
}

json_t *auth_user_teams_json(auth_t *a, int64_t user)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < a->nmembers; i++) {
        const auth_team_t *t =
            a->members[i].user_id == user ? auth_team_by_id(a, a->members[i].team_id) : NULL;
        if (t)
            json_array_append_new(arr, json_string(t->name));
    }
    return arr;
}

bool auth_team_exists(auth_t *a, const char *name)
{
    return auth_team_by_name(a, name) != NULL;
}

int auth_teams_load(auth_t *a, store_conn_t *c)
{
    json_t *rows = NULL;
    if (store_query(c, "SELECT id, name FROM auth_teams", NULL, 0, &rows, NULL) < 0)
        return -1;
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        if (auth_team_put(a, json_integer_value(json_object_get(r, "id")),
                          json_string_value(json_object_get(r, "name")) ?: "") < 0)
            break;
    }
    json_decref(rows);
    rows = NULL;
    if (store_query(c, "SELECT team_id, user_id FROM auth_team_members", NULL, 0, &rows, NULL) < 0)
        return -1;
    json_array_foreach(rows, i, r)
    {
        if (auth_member_put(a, json_integer_value(json_object_get(r, "team_id")),
                            json_integer_value(json_object_get(r, "user_id"))) < 0)
            break;
    }
    json_decref(rows);
    return 0;
}

void auth_teams_free(auth_t *a)
{
    free(a->teams);
    free(a->members);
    a->teams = NULL;
    a->members = NULL;
    a->nteams = a->capteams = a->nmembers = a->capmembers = 0;
}
