/* /api/v1/auth: login, refresh, logout, me and the caller's own password. */

#include <stdio.h>
#include <string.h>

#include "auth/auth_api_internal.h"

static problem_t *auth_bad_credentials(void)
{
    return problem_new(401, "invalid-credentials",
                       "the username or password is wrong, or the account cannot sign in now");
}

/* Cookie mode: the refresh token leaves the body for an HttpOnly cookie, and the CSRF token the
 * refresh call must echo takes its place. */
static void auth_token_cookie(auth_job_t *j, json_t *body)
{
    if (!j->cookie || !body)
        return;
    char csrf[AUTH_CSRF_LEN + 1];
    auth_cookie_set(j->req, j->a, j->refresh, j->refresh_ms / 1000, csrf);
    json_object_del(body, "refresh_token");
    json_object_set_new(body, "csrf_token", json_string(csrf));
    json_object_set_new(body, "refresh_cookie", json_true());
}

static void auth_login_done(int status, void *ud)
{
    (void)status;
    auth_job_t *j = ud;
    api_req_t *req = j->req;
    if (j->lock_event)
        auth_audit(req, "auth.lockout", 401, json_pack("{s:s}", "username", j->username));
    if (j->status == 200) {
        json_t *body = auth_token_reply(j);
        if (body) {
            char p[96];
            snprintf(p, sizeof p, "user:%s", j->user.username);
            api_req_principal_set(req, p);
            auth_audit(req, "auth.login", 200,
                       json_pack("{s:s,s:b}", "username", j->username, "cookie", j->cookie));
            auth_token_cookie(j, body);
            auth_reply_json(req, 200, body);
        } else
            auth_reply_problem(req, auth_store_problem());
    } else if (j->status == 401) {
        auth_audit(req, "auth.login", 401,
                   json_pack("{s:s,s:s}", "username", j->username, "reason", j->reason ?: "?"));
        auth_reply_problem(req, auth_bad_credentials());
    } else {
        auth_reply_problem(req, auth_store_problem());
    }
    auth_job_free(j);
}

void auth_api_login(api_req_t *req, void *ctx)
{
    (void)ctx;
    json_t *b = api_req_body(req);
    auth_job_t *j = auth_job_new(req);
    if (!j) {
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    snprintf(j->username, sizeof j->username, "%s",
             json_string_value(json_object_get(b, "username")));
    j->password = strdup(json_string_value(json_object_get(b, "password")));
    /* cookies exist on HTTP only; elsewhere the body keeps the refresh token */
    j->cookie =
        json_is_true(json_object_get(b, "cookie")) && strcmp(api_req_transport(req), "http") == 0;
    if (!j->password) {
        auth_job_free(j);
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    auth_submit(j, auth_login_work, auth_login_done);
}

static void auth_refresh_done(int status, void *ud)
{
    (void)status;
    auth_job_t *j = ud;
    api_req_t *req = j->req;
    if (j->status == 200) {
        char p[96];
        snprintf(p, sizeof p, "user:%s", j->user.username);
        api_req_principal_set(req, p);
        json_t *body = auth_token_reply(j);
        auth_audit(req, "auth.refresh", body ? 200 : 503,
                   j->cookie ? json_pack("{s:b}", "cookie", 1) : NULL);
        auth_token_cookie(j, body);
        if (body)
            auth_reply_json(req, 200, body);
        else
            auth_reply_problem(req, auth_store_problem());
    } else if (j->status == 401) {
        if (j->reuse) {
            auth_fam_revoke(j->a, j->fam);
            auth_audit(req, "auth.refresh.reuse", 401,
                       json_pack("{s:I}", "user_id", (json_int_t)j->user.id));
        } else {
            auth_audit(req, "auth.refresh", 401, json_pack("{s:s}", "reason", j->reason ?: "?"));
        }
        problem_t *p = problem_new(401, "invalid-refresh-token",
                                   "the refresh token is invalid, expired, used or revoked");
        if (j->cookie) /* a dead cookie is of no use to keep */
            auth_cookie_clear(req, j->a);
        auth_reply_problem(req, p);
    } else {
        auth_reply_problem(req, auth_store_problem());
    }
    auth_job_free(j);
}

void auth_api_refresh(api_req_t *req, void *ctx)
{
    (void)ctx;
    const char *t = json_string_value(json_object_get(api_req_body(req), "refresh_token"));
    auth_job_t *j = auth_job_new(req);
    if (!j) {
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    if (t)
        snprintf(j->token, sizeof j->token, "%s", t);
    else {
        const char *why = NULL;
        int rc = auth_cookie_refresh(req, j->a, j->token, sizeof j->token, &why);
        if (rc < 0) {
            auth_job_free(j);
            if (rc == -2)
                auth_audit(req, "auth.refresh", 403, json_pack("{s:s}", "reason", "csrf"));
            auth_reply_problem(req, rc == -1 ? problem_new(400, "refresh-token-required", "%s", why)
                                             : problem_new(403, "csrf-token-required", "%s", why));
            return;
        }
        j->cookie = true;
    }
    auth_submit(j, auth_refresh_work, auth_refresh_done);
}

/* The caller as a user (the hook already authenticated; headers are still readable). Replies
 * and returns false when the caller is not a user. */
static bool auth_caller_user(api_req_t *req, auth_ident_t *id)
{
    const char *why = NULL;
    if (auth_identify(auth_of(req), req, id, &why) != 0) {
        auth_reply_problem(req, problem_new(401, "unauthorized", "%s", why ?: "no credential"));
        return false;
    }
    if (id->kind != AUTH_ID_USER) {
        auth_reply_problem(req, problem_new(400, "not-a-user-session",
                                            "API keys have no session or password; revoke or "
                                            "rotate the key instead"));
        return false;
    }
    return true;
}

static void auth_logout_done(int status, void *ud)
{
    (void)status;
    auth_job_t *j = ud;
    api_req_t *req = j->req;
    if (j->status == 204) {
        auth_fam_revoke(j->a, j->fam);
        auth_audit(req, "auth.logout", 204, NULL);
        auth_cookie_clear(req, j->a);
        auth_reply_json(req, 204, NULL);
    } else
        auth_reply_problem(req, auth_store_problem());
    auth_job_free(j);
}

void auth_api_logout(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_ident_t id;
    if (!auth_caller_user(req, &id))
        return;
    auth_job_t *j = auth_job_new(req);
    if (!j) {
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    snprintf(j->fam, sizeof j->fam, "%s", id.fam);
    auth_submit(j, auth_logout_work, auth_logout_done);
}

static void auth_me_done(int status, void *ud)
{
    (void)status;
    auth_job_t *j = ud;
    api_req_t *req = j->req;
    if (j->status == 200) {
        json_object_set_new(j->out, "kind", json_string("user"));
        json_object_set_new(j->out, "principal", json_string(api_req_principal(req)));
        json_object_set_new(j->out, "teams", auth_user_teams_json(j->a, j->id));
        auth_reply_json(req, 200, json_incref(j->out));
    } else if (j->status == 404)
        auth_reply_problem(req, problem_new(401, "unauthorized", "the user no longer exists"));
    else
        auth_reply_problem(req, auth_store_problem());
    auth_job_free(j);
}

void auth_api_me(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_ident_t id;
    const char *why = NULL;
    if (auth_identify(auth_of(req), req, &id, &why) != 0) {
        auth_reply_problem(req, problem_new(401, "unauthorized", "%s", why ?: "no credential"));
        return;
    }
    if (id.kind == AUTH_ID_KEY) {
        auth_key_t *k = auth_key_find(auth_of(req), id.id);
        json_t *o = k ? auth_key_json(k) : json_object();
        json_object_set_new(o, "kind", json_string("key"));
        json_object_set_new(o, "principal", json_string(id.principal));
        char teams[1024];
        auth_ident_teams(auth_of(req), &id, teams, sizeof teams);
        json_t *arr = json_array();
        for (char *t = teams, *end; *t; t = end + 1) {
            end = strchr(t, ',');
            if (end)
                *end = '\0';
            json_array_append_new(arr, json_string(t));
            if (!end)
                break;
        }
        json_object_set_new(o, "teams", arr);
        auth_reply_json(req, 200, o);
        return;
    }
    auth_job_t *j = auth_job_new(req);
    if (!j) {
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    j->id = id.id;
    auth_submit(j, auth_user_get_work, auth_me_done);
}

static void auth_password_done(int status, void *ud)
{
    (void)status;
    auth_job_t *j = ud;
    api_req_t *req = j->req;
    if (j->status == 204) {
        auth_revoke_fams_loop(j);
        auth_user_t *u = auth_user_find(j->a, j->id);
        if (u)
            u->must_change = false;
        if (u && strcmp(u->username, "admin") == 0)
            auth_first_password_forget(j->a);
        auth_audit(req, "auth.password", 204, NULL);
        auth_reply_json(req, 204, NULL);
    } else if (j->status == 422) {
        auth_audit(req, "auth.password", 422, json_pack("{s:s}", "reason", "bad_current_password"));
        problem_t *p = problem_validation_new();
        problem_field_add(p, "body", "/current_password", "is not the current password");
        auth_reply_problem(req, p);
    } else
        auth_reply_problem(req, auth_store_problem());
    auth_job_free(j);
}

void auth_api_password(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_ident_t id;
    if (!auth_caller_user(req, &id))
        return;
    json_t *b = api_req_body(req);
    const char *np = json_string_value(json_object_get(b, "new_password"));
    problem_t *p = auth_policy_problem(np, id.name, "/new_password",
                                       (size_t)auth_of(req)->hub->cfg.auth_password_min);
    if (!p && strcmp(np, json_string_value(json_object_get(b, "current_password"))) == 0) {
        p = problem_new(422, "validation", "the password does not meet the policy; see errors[]");
        problem_field_add(p, "body", "/new_password", "must differ from the current password");
    }
    if (p) {
        auth_reply_problem(req, p);
        return;
    }
    auth_job_t *j = auth_job_new(req);
    if (!j) {
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    j->id = id.id;
    snprintf(j->fam, sizeof j->fam, "%s", id.fam);
    j->password = strdup(json_string_value(json_object_get(b, "current_password")));
    j->password2 = strdup(np);
    if (!j->password || !j->password2) {
        auth_job_free(j);
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    auth_submit(j, auth_password_work, auth_password_done);
}
