/* The security domain's endpoints: the table of /api/v1/auth (login, refresh, logout, me,
 * password), /api/v1/users (admin CRUD) and /api/v1/keys (API keys), and what their handlers
 * share. Password hashing and every database access run on the thread pool (auth_db.c);
 * handlers (auth_api_session.c, auth_api_users.c, auth_api_keys.c) reply from the done
 * callback. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_owner.h"
#include "auth/auth_api_internal.h"
#include "auth/auth_policy.h"
#include "core/clock.h"

auth_t *auth_of(api_req_t *req)
{
    return api_req_hub(req)->auth;
}

auth_job_t *auth_job_new(api_req_t *req)
{
    auth_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->a = auth_of(req);
    j->req = req;
    const config_t *cfg = &j->a->hub->cfg;
    j->now_ms = clock_wall_ms();
    j->opslimit = cfg->auth_pwhash_opslimit;
    j->memlimit = cfg->auth_pwhash_memlimit;
    j->threshold = cfg->auth_lockout_threshold;
    j->lock_ms = cfg->auth_lockout_s * 1000;
    j->refresh_ms = cfg->auth_refresh_ttl_s * 1000;
    j->grace_ms = cfg->auth_key_grace_s * 1000;
    j->pw_min = cfg->auth_password_min;
    j->mail_on = cfg->mail_smtp_url[0] != '\0';
    j->link = j->mail_on && cfg->auth_console_url[0] ? strdup(cfg->auth_console_url) : NULL;
    j->status = 500;
    return j;
}

static void auth_wipe_free(char *s)
{
    if (s) {
        sodium_memzero(s, strlen(s));
        free(s);
    }
}

void auth_job_free(auth_job_t *j)
{
    auth_wipe_free(j->password);
    auth_wipe_free(j->password2);
    free(j->email);
    free(j->link);
    json_decref(j->out);
    json_decref(j->fams);
    json_decref(j->key.scopes);
    sodium_memzero(j->token, sizeof j->token);
    sodium_memzero(j->secret, sizeof j->secret);
    sodium_memzero(j->refresh, sizeof j->refresh);
    free(j);
}

void auth_reply_json(api_req_t *req, int status, json_t *body)
{
    api_reply_header(req, "Cache-Control", "no-store");
    if (status == 204) {
        json_decref(body);
        api_reply_empty(req, 204);
    } else
        api_reply_json(req, status, body);
}

void auth_reply_problem(api_req_t *req, problem_t *p)
{
    problem_header_set(p, "Cache-Control", "no-store");
    api_reply_problem(req, p);
}

bool auth_submit(auth_job_t *j, store_work_fn work, store_done_fn done)
{
    hub_t *hub = j->a->hub;
    if (store_submit(hub->store, hub->loop, work, done, j) < 0) {
        api_req_t *req = j->req;
        auth_job_free(j);
        auth_reply_problem(req, problem_new(503, "unavailable", "the store is busy; retry"));
        return false;
    }
    return true;
}

/* Every failure here is temporary (store outages, memory), so clients are told when to retry;
 * the exact cause is in the log. */
problem_t *auth_store_problem(void)
{
    problem_t *p =
        problem_new(503, "store-error", "the store could not complete the operation; retry");
    problem_header_set(p, "Retry-After", "1");
    return p;
}

void auth_submit_for_id(api_req_t *req, store_work_fn work, store_done_fn done)
{
    auth_job_t *j = auth_job_new(req);
    if (!j) {
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    j->id = api_req_param_int(req, "id");
    auth_submit(j, work, done);
}

json_t *auth_token_reply(auth_job_t *j)
{
    auth_user_t *u = auth_user_put(j->a, &j->user);
    char *at = u ? auth_access_token(j->a, u, j->fam) : NULL;
    if (!at)
        return NULL;
    json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:b}", "access_token", at, "refresh_token", j->refresh,
                          "token_type", "Bearer", "expires_in",
                          (json_int_t)j->a->hub->cfg.auth_access_ttl_s, "must_change_password",
                          j->user.must_change);
    sodium_memzero(at, strlen(at));
    free(at);
    return o;
}

void auth_revoke_fams_loop(auth_job_t *j)
{
    size_t i;
    json_t *r;
    json_array_foreach(j->fams, i, r)
    {
        const char *f = json_string_value(json_object_get(r, "family"));
        if (f)
            auth_fam_revoke(j->a, f);
    }
}

problem_t *auth_policy_problem(const char *pw, const char *username, const char *field, size_t min)
{
    char why[160];
    if (auth_password_check(pw, username, min, why, sizeof why) == 0)
        return NULL;
    problem_t *p =
        problem_new(422, "validation", "the password does not meet the policy; see errors[]");
    problem_field_add(p, "body", field, "%s", why);
    return p;
}

void auth_read_done(int status, void *ud)
{
    (void)status;
    auth_job_t *j = ud;
    api_req_t *req = j->req;
    if (j->status == 200)
        auth_reply_json(req, 200, json_incref(j->out));
    else if (j->status == 404)
        auth_reply_problem(req, problem_new(404, "not-found", "no such %s with id %lld",
                                            strstr(api_req_path(req), "/keys") ? "key" : "user",
                                            (long long)j->id));
    else
        auth_reply_problem(req, auth_store_problem());
    auth_job_free(j);
}

/* ---- declarations ----------------------------------------------------------------------- */

static const char *const auth_role_enum[] = {"admin", "operator", "viewer", "agent", NULL};

static const api_field_t auth_login_body[] = {
    {.name = "username",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = AUTH_NAME_MAX},
    {.name = "password",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 1024},
    {.name = "cookie",
     .type = API_T_BOOLEAN,
     .description = "true = the refresh token is set as an HttpOnly cookie (not in the body) "
                    "and csrf_token is returned for the refresh call's X-CSRF-Token header"},
    {.name = NULL},
};
static const api_field_t auth_refresh_body[] = {
    {.name = "refresh_token",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 120,
     .description = "absent = the ganglion_refresh cookie, with the X-CSRF-Token header"},
    {.name = NULL},
};
static const api_field_t auth_password_body[] = {
    {.name = "current_password",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 1024},
    {.name = "new_password",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MAX,
     .max = 1024,
     .description = "12-128 characters, not common, not the username"},
    {.name = NULL},
};
static const api_field_t auth_user_body[] = {
    {.name = "username",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = AUTH_NAME_MAX},
    {.name = "password", .type = API_T_STRING, .flags = API_F_REQUIRED | API_F_MAX, .max = 1024},
    {.name = "role", .type = API_T_STRING, .flags = API_F_REQUIRED, .enums = auth_role_enum},
    {.name = "email", .type = API_T_STRING, .flags = API_F_MAX, .max = 254},
    {.name = NULL},
};
static const api_field_t auth_user_patch_body[] = {
    {.name = "role", .type = API_T_STRING, .enums = auth_role_enum},
    {.name = "disabled", .type = API_T_BOOLEAN},
    {.name = "email", .type = API_T_STRING, .flags = API_F_MAX | API_F_NULLABLE, .max = 254},
    {.name = NULL},
};
static const api_field_t auth_reset_body[] = {
    {.name = "password",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MAX,
     .max = 1024,
     .description = "temporary password; the user must change it at the next login"},
    {.name = NULL},
};
static const api_field_t auth_id_params[] = {
    {.name = "id",
     .type = API_T_INTEGER,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 9007199254740991.0},
    {.name = NULL},
};
static const api_field_t auth_scope_item = {
    .type = API_T_STRING, .flags = API_F_MIN | API_F_MAX, .min = 1, .max = 64};
static const api_field_t auth_key_body[] = {
    {.name = "name",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = AUTH_NAME_MAX},
    {.name = "role", .type = API_T_STRING, .enums = auth_role_enum},
    {.name = "scopes",
     .type = API_T_ARRAY,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 64,
     .items = &auth_scope_item},
    {.name = "expires_at",
     .type = API_T_STRING,
     .flags = API_F_MAX,
     .max = 64,
     .description = "RFC 3339 date-time; absent = never"},
    {.name = "rate_limit",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 1000000,
     .description = "requests per second; absent = the role's"},
    API_OWNER_TEAM_FIELD,
    {.name = NULL},
};
static const api_field_t auth_team_body[] = {
    {.name = "name",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = API_TEAM_MAX,
     .chars = "._-"},
    {.name = NULL},
};
static const api_field_t auth_team_params[] = {
    {.name = "name", .type = API_T_STRING, .flags = API_F_REQUIRED | API_F_MAX, .max = 64},
    {.name = NULL},
};
static const api_field_t auth_member_params[] = {
    {.name = "name", .type = API_T_STRING, .flags = API_F_REQUIRED | API_F_MAX, .max = 64},
    {.name = "user", .type = API_T_STRING, .flags = API_F_REQUIRED | API_F_MAX, .max = 64},
    {.name = NULL},
};

static const api_field_t auth_key_list_query[] = {{.name = "limit",
                                                   .type = API_T_INTEGER,
                                                   .flags = API_F_MIN | API_F_MAX,
                                                   .min = 1,
                                                   .max = AUTH_KEYS_PAGE_MAX,
                                                   .def = "100",
                                                   .description = "keys per page"},
                                                  {.name = "offset",
                                                   .type = API_T_INTEGER,
                                                   .flags = API_F_MIN | API_F_MAX,
                                                   .min = 0,
                                                   .max = 1000000000,
                                                   .def = "0",
                                                   .description = "keys to skip (ordered by id)"},
                                                  {.name = "include_revoked",
                                                   .type = API_T_BOOLEAN,
                                                   .def = "false",
                                                   .description = "list revoked keys too"},
                                                  {.name = NULL}};

/* ---- account flows (auth_api_flows.c) ---- */
static const api_field_t auth_signup_body[] = {
    {.name = "username",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = AUTH_NAME_MAX},
    {.name = "password",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MAX,
     .max = 1024,
     .description = "12-128 characters, not common, not the username"},
    {.name = "email",
     .type = API_T_STRING,
     .flags = API_F_MAX,
     .max = 254,
     .description = "a verification token is mailed to it when mail is configured"},
    {.name = "invite",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 120,
     .description = "the invitation code (registration = invite)"},
    {.name = NULL},
};
static const api_field_t auth_invite_body[] = {
    {.name = "ttl_s",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 60,
     .max = 86400 * 90,
     .description = "seconds the code stays valid; absent = auth.invite_ttl_s"},
    {.name = NULL},
};
static const api_field_t auth_reset_request_body[] = {
    {.name = "login",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 254,
     .description = "the username or the e-mail address of the account"},
    {.name = NULL},
};
static const api_field_t auth_reset_confirm_body[] = {
    {.name = "token",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 120},
    {.name = "new_password",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MAX,
     .max = 1024,
     .description = "12-128 characters, not common, not the username"},
    {.name = NULL},
};
static const api_field_t auth_token_body[] = {
    {.name = "token",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 120},
    {.name = NULL},
};

static const api_endpoint_t auth_endpoints[] = {
    {.method = "POST",
     .path = "/api/v1/auth/login",
     .scope = API_SCOPE_PUBLIC,
     .summary = "Sign in with a username and password",
     .tag = "auth",
     .body_kind = API_BODY_JSON,
     .body = auth_login_body,
     .no_audit = true,
     .response = "{access_token, refresh_token (or csrf_token in cookie mode), token_type, "
                 "expires_in, must_change_password}",
     .handler = auth_api_login},
    {.method = "POST",
     .path = "/api/v1/auth/refresh",
     .scope = API_SCOPE_PUBLIC,
     .summary = "Exchange a refresh token for new tokens (single use)",
     .tag = "auth",
     .body_kind = API_BODY_JSON,
     .body = auth_refresh_body,
     .no_audit = true,
     .response = "{access_token, refresh_token, token_type, expires_in}",
     .handler = auth_api_refresh},
    {.method = "POST",
     .path = "/api/v1/auth/logout",
     .scope = "self",
     .summary = "Sign out: revoke this session's refresh tokens",
     .tag = "auth",
     .status = 204,
     .no_audit = true,
     .response = "no content",
     .handler = auth_api_logout},
    {.method = "GET",
     .path = "/api/v1/auth/me",
     .scope = "self",
     .summary = "Who the caller is",
     .tag = "auth",
     .response = "{kind, principal, id, username|name, role, ...}",
     .handler = auth_api_me},
    {.method = "POST",
     .path = "/api/v1/auth/password",
     .scope = "self",
     .summary = "Change one's password (signs out other sessions)",
     .tag = "auth",
     .body_kind = API_BODY_JSON,
     .body = auth_password_body,
     .status = 204,
     .no_audit = true,
     .response = "no content",
     .handler = auth_api_password},
    {.method = "POST",
     .path = "/api/v1/users",
     .scope = "users:write",
     .summary = "Create a user",
     .tag = "users",
     .body_kind = API_BODY_JSON,
     .body = auth_user_body,
     .status = 201,
     .no_audit = true,
     .response = "the user",
     .handler = auth_api_user_create},
    {.method = "GET",
     .path = "/api/v1/users",
     .scope = "users:read",
     .summary = "List users",
     .tag = "users",
     .response = "{users:[...]}",
     .handler = auth_api_user_list},
    {.method = "GET",
     .path = "/api/v1/users/{id}",
     .scope = "users:read",
     .summary = "Show a user",
     .tag = "users",
     .params = auth_id_params,
     .response = "the user",
     .handler = auth_api_user_get},
    {.method = "PATCH",
     .path = "/api/v1/users/{id}",
     .scope = "users:write",
     .summary = "Change a user's role, disabled flag or e-mail",
     .tag = "users",
     .params = auth_id_params,
     .body_kind = API_BODY_JSON,
     .body = auth_user_patch_body,
     .no_audit = true,
     .response = "the user",
     .handler = auth_api_user_patch},
    {.method = "DELETE",
     .path = "/api/v1/users/{id}",
     .scope = "users:write",
     .summary = "Delete a user",
     .tag = "users",
     .params = auth_id_params,
     .status = 204,
     .no_audit = true,
     .response = "no content",
     .handler = auth_api_user_delete},
    {.method = "POST",
     .path = "/api/v1/users/{id}/password",
     .scope = "users:write",
     .summary = "Reset a user's password (must change it at the next login)",
     .tag = "users",
     .params = auth_id_params,
     .body_kind = API_BODY_JSON,
     .body = auth_reset_body,
     .no_audit = true,
     .response = "the user",
     .handler = auth_api_user_reset},
    {.method = "GET",
     .path = "/api/v1/auth/options",
     .scope = API_SCOPE_PUBLIC,
     .summary = "What a sign-in page may offer: registration mode, mailed reset, verification",
     .tag = "auth",
     .response = "{registration, password_reset_by_mail, email_verification, refresh_cookie, "
                 "password_min}",
     .handler = auth_api_options},
    {.method = "POST",
     .path = "/api/v1/auth/register",
     .scope = API_SCOPE_PUBLIC,
     .summary = "Create one's own viewer account (when auth.registration allows it)",
     .tag = "auth",
     .body_kind = API_BODY_JSON,
     .body = auth_signup_body,
     .status = 201,
     .no_audit = true,
     .response = "the user (pending: true until an admin approves, with registration = approval)",
     .handler = auth_api_signup},
    {.method = "POST",
     .path = "/api/v1/auth/password-reset",
     .scope = API_SCOPE_PUBLIC,
     .summary = "Ask for a password-reset token by mail (same answer whether the account "
                "exists or not)",
     .tag = "auth",
     .body_kind = API_BODY_JSON,
     .body = auth_reset_request_body,
     .status = 202,
     .no_audit = true,
     .response = "{status, detail}",
     .handler = auth_api_reset_request},
    {.method = "POST",
     .path = "/api/v1/auth/password-reset/confirm",
     .scope = API_SCOPE_PUBLIC,
     .summary = "Set a new password with a reset token (single use; signs out every session)",
     .tag = "auth",
     .body_kind = API_BODY_JSON,
     .body = auth_reset_confirm_body,
     .status = 204,
     .no_audit = true,
     .response = "no content",
     .handler = auth_api_reset_confirm},
    {.method = "POST",
     .path = "/api/v1/auth/email-verification",
     .scope = "self",
     .summary = "Mail a verification token to one's e-mail address",
     .tag = "auth",
     .status = 202,
     .no_audit = true,
     .response = "{status, detail}",
     .handler = auth_api_verify_request},
    {.method = "POST",
     .path = "/api/v1/auth/email-verification/confirm",
     .scope = API_SCOPE_PUBLIC,
     .summary = "Verify an e-mail address with the token mailed to it (single use)",
     .tag = "auth",
     .body_kind = API_BODY_JSON,
     .body = auth_token_body,
     .no_audit = true,
     .response = "{username, email, email_verified}",
     .handler = auth_api_verify_confirm},
    {.method = "POST",
     .path = "/api/v1/invites",
     .scope = "users:write",
     .summary = "Create an invitation code for self-registration (shown only in this reply)",
     .tag = "users",
     .body_kind = API_BODY_JSON,
     .body = auth_invite_body,
     .status = 201,
     .no_audit = true,
     .response = "{code, expires_at}",
     .handler = auth_api_invite_create},
    {.method = "GET",
     .path = "/api/v1/invites",
     .scope = "users:read",
     .summary = "List the open invitation codes (never the codes themselves)",
     .tag = "users",
     .response = "{invites:[{id, created_by, created_at, expires_at}]}",
     .handler = auth_api_invite_list},
    {.method = "DELETE",
     .path = "/api/v1/invites/{id}",
     .scope = "users:write",
     .summary = "Revoke an open invitation code",
     .tag = "users",
     .params = auth_id_params,
     .status = 204,
     .no_audit = true,
     .response = "no content",
     .handler = auth_api_invite_revoke},
    {.method = "POST",
     .path = "/api/v1/users/{id}/approve",
     .scope = "users:write",
     .summary = "Approve a self-registered account waiting for approval",
     .tag = "users",
     .params = auth_id_params,
     .no_audit = true,
     .response = "the user",
     .handler = auth_api_user_approve},
    {.method = "POST",
     .path = "/api/v1/users/{id}/reset-token",
     .scope = "users:write",
     .summary = "Issue a single-use password-reset token for a user (shown only in this reply)",
     .tag = "users",
     .params = auth_id_params,
     .status = 201,
     .no_audit = true,
     .response = "{token, user_id, username, expires_at}",
     .handler = auth_api_user_reset_token},
    {.method = "POST",
     .path = "/api/v1/keys",
     .scope = "keys:write",
     .summary = "Create an API key (the secret is shown only in this reply)",
     .tag = "keys",
     .body_kind = API_BODY_JSON,
     .body = auth_key_body,
     .status = 201,
     .no_audit = true,
     .response = "{id, secret, name, role, scopes, expires_at, ...}",
     .handler = auth_api_key_create},
    {.method = "GET",
     .path = "/api/v1/keys",
     .scope = "keys:read",
     .summary = "List API keys (a page; revoked ones with include_revoked=true)",
     .tag = "keys",
     .query = auth_key_list_query,
     .response = "{keys:[...], total, limit, offset, has_more}",
     .handler = auth_api_key_list},
    {.method = "GET",
     .path = "/api/v1/keys/{id}",
     .scope = "keys:read",
     .summary = "Show an API key",
     .tag = "keys",
     .params = auth_id_params,
     .response = "the key",
     .handler = auth_api_key_list},
    {.method = "DELETE",
     .path = "/api/v1/keys/{id}",
     .scope = "keys:write",
     .summary = "Revoke an API key",
     .tag = "keys",
     .params = auth_id_params,
     .status = 204,
     .no_audit = true,
     .response = "no content",
     .handler = auth_api_key_revoke},
    {.method = "POST",
     .path = "/api/v1/keys/{id}/rotate",
     .scope = "keys:write",
     .summary = "New secret for a key; the old one stays valid for auth.key_grace_s",
     .tag = "keys",
     .params = auth_id_params,
     .no_audit = true,
     .response = "{id, secret, previous_valid_until, ...}",
     .handler = auth_api_key_rotate},
    {.method = "GET",
     .path = "/api/v1/teams",
     .scope = "users:read",
     .summary = "List teams and their members",
     .tag = "teams",
     .response = "{teams:[{id, name, members}]}",
     .handler = auth_api_team_list},
    {.method = "POST",
     .path = "/api/v1/teams",
     .scope = "users:write",
     .summary = "Create a team (resources are shared with a team by its name)",
     .tag = "teams",
     .body_kind = API_BODY_JSON,
     .body = auth_team_body,
     .status = 201,
     .no_audit = true,
     .response = "the team",
     .handler = auth_api_team_create},
    {.method = "GET",
     .path = "/api/v1/teams/{name}",
     .scope = "users:read",
     .summary = "Show a team and its members",
     .tag = "teams",
     .params = auth_team_params,
     .response = "the team",
     .handler = auth_api_team_get},
    {.method = "DELETE",
     .path = "/api/v1/teams/{name}",
     .scope = "users:write",
     .summary = "Delete a team (what was shared with it stays its owners')",
     .tag = "teams",
     .params = auth_team_params,
     .status = 204,
     .no_audit = true,
     .response = "no content",
     .handler = auth_api_team_delete},
    {.method = "PUT",
     .path = "/api/v1/teams/{name}/members/{user}",
     .scope = "users:write",
     .summary = "Add a user (by username) to a team",
     .tag = "teams",
     .params = auth_member_params,
     .no_audit = true,
     .response = "the team",
     .handler = auth_api_team_member_add},
    {.method = "DELETE",
     .path = "/api/v1/teams/{name}/members/{user}",
     .scope = "users:write",
     .summary = "Remove a user from a team",
     .tag = "teams",
     .params = auth_member_params,
     .no_audit = true,
     .response = "the team",
     .handler = auth_api_team_member_remove},
};

static bool auth_api_team_exists(const char *team, void *ud)
{
    return auth_team_exists(ud, team);
}

/* API keys refer to their creator by name (they act with its teams) and name their team. */
static size_t auth_api_refs(const char *owner, const char *team, void *ud)
{
    auth_t *a = ud;
    size_t n = 0;
    for (size_t i = 0; i < a->nkeys; i++) {
        const auth_key_t *k = &a->keys[i];
        n += !k->revoked &&
             ((owner && strcmp(owner, k->created_by) == 0) || (team && strcmp(team, k->team) == 0));
    }
    return n;
}

/* A principal's role and teams as they are now (api_viewer_lookup). */
static int auth_api_viewer(const char *principal, api_viewer_t *out, void *ud)
{
    auth_t *a = ud;
    auth_ident_t id = {0};
    if (strncmp(principal, "user:", 5) == 0) {
        const auth_user_t *u = auth_user_by_name(a, principal + 5);
        if (!u || u->disabled)
            return -ENOENT;
        id.kind = AUTH_ID_USER;
        id.id = u->id;
        snprintf(out->role, sizeof out->role, "%s", u->role);
    } else if (strncmp(principal, "key:", 4) == 0) {
        char *end;
        long long kid = strtoll(principal + 4, &end, 10);
        const auth_key_t *k = *end == '\0' ? auth_key_find(a, kid) : NULL;
        if (!k || k->revoked || (k->expires_ms && k->expires_ms <= clock_wall_ms()))
            return -ENOENT;
        id.kind = AUTH_ID_KEY;
        id.id = k->id;
        snprintf(out->role, sizeof out->role, "%s", k->role);
    } else {
        return -ENOENT;
    }
    snprintf(out->principal, sizeof out->principal, "%s", principal);
    auth_ident_teams(a, &id, out->teams, sizeof out->teams);
    return 0;
}

int auth_api_register(hub_t *hub)
{
    api_register(hub->api, auth_endpoints, sizeof auth_endpoints / sizeof auth_endpoints[0]);
    api_auth_hook_set(hub->api, auth_hook, hub->auth);
    api_team_hook_set(hub->api, auth_api_team_exists, hub->auth);
    api_viewer_hook_set(hub->api, auth_api_viewer, hub->auth);
    api_owner_refs_add(hub->api, "API key", auth_api_refs, hub->auth);
    return 0;
}
