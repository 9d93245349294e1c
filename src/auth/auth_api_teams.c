/* /api/v1/teams: teams and their members, managed by admins. Reads are answered from memory;
 * each change is one transaction on the pool, applied to memory after its commit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_owner.h"
#include "auth/auth_api_internal.h"
#include "core/log.h"

/* ---- replies from memory ---- */

static json_t *auth_team_json(auth_t *a, const auth_team_t *t)
{
    json_t *members = json_array();
    for (size_t i = 0; i < a->nmembers; i++) {
        const auth_user_t *u =
            a->members[i].team_id == t->id ? auth_user_find(a, a->members[i].user_id) : NULL;
        if (u)
            json_array_append_new(members, json_string(u->username));
    }
    return json_pack("{s:I,s:s,s:o}", "id", (json_int_t)t->id, "name", t->name, "members", members);
}

void auth_api_team_list(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_t *a = auth_of(req);
    json_t *arr = json_array();
    for (size_t i = 0; i < a->nteams; i++)
        json_array_append_new(arr, auth_team_json(a, &a->teams[i]));
    auth_reply_json(req, 200, json_pack("{s:o}", "teams", arr));
}

static problem_t *auth_team_missing(const char *name)
{
    return problem_new(404, "not-found", "no team named %s", name);
}

void auth_api_team_get(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_t *a = auth_of(req);
    const char *name = api_req_param_str(req, "name");
    auth_team_t *t = auth_team_by_name(a, name);
    if (!t) {
        auth_reply_problem(req, auth_team_missing(name));
        return;
    }
    auth_reply_json(req, 200, auth_team_json(a, t));
}

/* ---- writes: one transaction on the pool, the memory changed after the commit ---- */

static int auth_team_create_work(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    int64_t id = 0;
    int rc = store_insert_id(c,
                             "INSERT INTO auth_teams (name, created_ms) VALUES ($1, $2)"
                             " RETURNING id",
                             (store_val_t[]){STORE_TEXTV(j->team), STORE_INTV(j->now_ms)}, 2, &id);
    j->status = rc == STORE_ECONSTRAINT ? 409 : rc < 0 ? 503 : 201;
    j->id = id;
    return 0;
}

static int auth_team_delete_writes(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    int64_t n = 0;
    store_val_t p[] = {STORE_INTV(j->id)};
    if (store_query(c, "DELETE FROM auth_team_members WHERE team_id = $1", p, 1, NULL, NULL) < 0 ||
        store_query(c, "DELETE FROM auth_teams WHERE id = $1", p, 1, NULL, &n) < 0) {
        j->status = 503;
        return -1;
    }
    j->status = n ? 204 : 404;
    return 0;
}

static int auth_team_delete_work(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    if (store_tx_begin(c) < 0) {
        j->status = 503;
        return 0;
    }
    bool ok = auth_team_delete_writes(c, j) == 0;
    if (!(ok && store_tx_commit(c) == 0)) {
        (void)store_tx_rollback(c);
        j->status = 503;
    }
    return 0;
}

static int auth_member_add_work(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    /* the same text on both stores: a second add of a member changes nothing */
    int rc = store_query(
        c,
        "INSERT INTO auth_team_members (team_id, user_id, created_ms)"
        " VALUES ($1, $2, $3) ON CONFLICT (team_id, user_id) DO NOTHING",
        (store_val_t[]){STORE_INTV(j->id), STORE_INTV(j->user.id), STORE_INTV(j->now_ms)}, 3, NULL,
        NULL);
    j->status = rc == STORE_ECONSTRAINT ? 404 : rc < 0 ? 503 : 200;
    return 0;
}

static int auth_member_remove_work(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    int rc = store_query(c, "DELETE FROM auth_team_members WHERE team_id = $1 AND user_id = $2",
                         (store_val_t[]){STORE_INTV(j->id), STORE_INTV(j->user.id)}, 2, NULL, NULL);
    j->status = rc < 0 ? 503 : 200;
    return 0;
}

static void auth_team_write_done(int status, void *ud)
{
    (void)status;
    auth_job_t *j = ud;
    api_req_t *req = j->req;
    auth_t *a = j->a;
    const char *m = api_req_method(req);
    bool member = api_req_param_str(req, "user") != NULL;
    const char *action = member ? (m[0] == 'D' ? "teams.member_remove" : "teams.member_add")
                                : (m[0] == 'D' ? "teams.delete" : "teams.create");
    json_t *d = json_pack("{s:s}", "team", j->team);
    if (member)
        json_object_set_new(d, "user", json_string(j->username));
    if (j->status >= 400) {
        auth_audit(req, action, j->status, d);
        if (j->status == 409)
            auth_reply_problem(
                req, problem_new(409, "conflict", "a team named %s already exists", j->team));
        else if (j->status == 404)
            auth_reply_problem(req, auth_team_missing(j->team));
        else
            auth_reply_problem(req, auth_store_problem());
        auth_job_free(j);
        return;
    }
    if (j->status == 201 && auth_team_put(a, j->id, j->team) < 0)
        log_error(NULL, "auth: team created but not held in memory until restart", "{s:s}", "team",
                  j->team);
    else if (j->status == 204)
        auth_team_drop(a, j->id);
    else if (member && m[0] == 'D')
        auth_members_drop(a, j->id, j->user.id);
    else if (member && auth_member_put(a, j->id, j->user.id) < 0)
        log_error(NULL, "auth: membership added but not held in memory until restart", "{s:s}",
                  "team", j->team);
    auth_audit(req, action, j->status, d);
    auth_team_t *t = auth_team_by_id(a, j->id);
    if (j->status == 204 || !t)
        auth_reply_json(req, 204, NULL);
    else
        auth_reply_json(req, j->status, auth_team_json(a, t));
    auth_job_free(j);
}

void auth_api_team_create(api_req_t *req, void *ctx)
{
    (void)ctx;
    const char *name = json_string_value(json_object_get(api_req_body(req), "name"));
    const char *kind = NULL;
    size_t n = auth_team_by_name(auth_of(req), name)
                   ? 0
                   : api_owner_refs(auth_of(req)->hub->api, NULL, name, &kind);
    if (n) {
        /* a deleted team's name: a new team under it would share what still names it */
        problem_t *p = problem_new(409, "team-name-in-use",
                                   "%zu resource%s (first: %s) still name a deleted team %s; a "
                                   "new team of that name would share them: choose another name",
                                   n, n == 1 ? "" : "s", kind ? kind : "?", name);
        problem_ext_set(p, "resources", json_integer((json_int_t)n));
        auth_reply_problem(req, p);
        return;
    }
    auth_job_t *j = auth_job_new(req);
    if (!j) {
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    snprintf(j->team, sizeof j->team, "%s", name);
    auth_submit(j, auth_team_create_work, auth_team_write_done);
}

/* The team of the path (and its member, for /members/{user}) into a job, or a reply. */
static auth_job_t *auth_team_job(api_req_t *req)
{
    auth_t *a = auth_of(req);
    const char *name = api_req_param_str(req, "name");
    const char *user = api_req_param_str(req, "user");
    auth_team_t *t = auth_team_by_name(a, name);
    auth_user_t *u = user ? auth_user_by_name(a, user) : NULL;
    if (!t || (user && !u)) {
        auth_reply_problem(req, !t ? auth_team_missing(name)
                                   : problem_new(404, "not-found", "no user named %s", user));
        return NULL;
    }
    auth_job_t *j = auth_job_new(req);
    if (!j) {
        auth_reply_problem(req, auth_store_problem());
        return NULL;
    }
    j->id = t->id;
    snprintf(j->team, sizeof j->team, "%s", t->name);
    if (u) {
        j->user.id = u->id;
        snprintf(j->username, sizeof j->username, "%s", u->username);
    }
    return j;
}

void auth_api_team_delete(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_job_t *j = auth_team_job(req);
    if (j)
        auth_submit(j, auth_team_delete_work, auth_team_write_done);
}

void auth_api_team_member_add(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_job_t *j = auth_team_job(req);
    if (j)
        auth_submit(j, auth_member_add_work, auth_team_write_done);
}

void auth_api_team_member_remove(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_job_t *j = auth_team_job(req);
    if (j)
        auth_submit(j, auth_member_remove_work, auth_team_write_done);
}
