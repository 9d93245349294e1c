/* The account flows a console needs: self-registration (with an invitation code or an admin's
 * approval), invitations, password reset with single-use tokens (issued by an admin, or mailed
 * when the user asks) and e-mail verification. Each answer that could tell whether an account
 * exists is the same either way; each flow is rate-limited (the /api/v1/auth/ address bucket,
 * plus one bucket per account named for the mails) and audited. */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_owner.h"
#include "auth/auth_api_internal.h"
#include "core/clock.h"
#include "net/mail_outbox.h"
#include "net/smtp_client.h"

/* One mail per account named per [auth] mail_interval_s: keyed by what the asker typed (folded
 * to lower case), so the limit is the same whether the account exists or not. */
static problem_t *auth_mail_rate(auth_t *a, const char *what, const char *who)
{
    const config_t *cfg = &a->hub->cfg;
    if (!cfg->rl_enabled)
        return NULL;
    char key[128];
    int n = snprintf(key, sizeof key, "%s:", what);
    for (const char *p = who; *p && (size_t)n < sizeof key - 1; p++)
        key[n++] = (char)tolower((unsigned char)*p);
    key[n < (int)sizeof key ? n : (int)sizeof key - 1] = '\0';
    auth_rate_info_t ri;
    double interval = (double)cfg->auth_mail_interval_s;
    if (auth_rate_take(a->rate, key, 1.0 / interval, 1.0, (uint64_t)clock_wall_ms(),
                       (uint64_t)(interval * 1000.0) + 1000u, &ri))
        return NULL;
    return auth_limited(&ri, "account");
}

static problem_t *auth_mail_off(void)
{
    return problem_new(503, "mail-not-configured",
                       "this server sends no mail ([mail] smtp_url is empty); ask an admin for "
                       "a token instead");
}

/* ---- what a sign-in page may offer ------------------------------------------------------- */

void auth_api_options(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_t *a = auth_of(req);
    const config_t *cfg = &a->hub->cfg;
    bool mail = auth_mail_on(a);
    auth_reply_json(req, 200,
                    json_pack("{s:s,s:b,s:b,s:b,s:I}", "registration", cfg->auth_registration,
                              "password_reset_by_mail", mail, "email_verification", mail,
                              "refresh_cookie", 1, "password_min",
                              (json_int_t)cfg->auth_password_min));
}

/* ---- registration ----------------------------------------------------------------------- */

static void auth_signup_done(int status, void *ud)
{
    (void)status;
    auth_job_t *j = ud;
    api_req_t *req = j->req;
    if (j->status == 201) {
        auth_user_t u;
        memset(&u, 0, sizeof u);
        u.id = j->id;
        snprintf(u.username, sizeof u.username, "%s", j->username);
        snprintf(u.role, sizeof u.role, "viewer");
        u.disabled = j->pending;
        auth_user_put(j->a, &u);
        if (j->mail_to[0])
            mail_outbox_kick(j->a->outbox);
        auth_audit(req, "auth.register", 201,
                   json_pack("{s:s,s:I,s:b,s:b}", "username", j->username, "user_id",
                             (json_int_t)j->id, "pending", j->pending, "invite", j->with_invite));
        auth_reply_json(req, 201, json_incref(j->out));
    } else {
        problem_t *p;
        if (j->status == 403)
            p = problem_new(403, "invalid-invite",
                            "the invitation code is unknown, used or expired; ask an admin for "
                            "a new one");
        else if (j->status == 409)
            p = problem_new(409, "username-taken", "the username %s is taken; choose another",
                            j->username);
        else
            p = auth_store_problem();
        auth_audit(req, "auth.register", j->status, json_pack("{s:s}", "username", j->username));
        auth_reply_problem(req, p);
    }
    auth_job_free(j);
}

void auth_api_signup(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_t *a = auth_of(req);
    const config_t *cfg = &a->hub->cfg;
    json_t *b = api_req_body(req);
    const char *name = json_string_value(json_object_get(b, "username"));
    const char *pw = json_string_value(json_object_get(b, "password"));
    const char *email = json_string_value(json_object_get(b, "email"));
    const char *invite = json_string_value(json_object_get(b, "invite"));
    bool by_invite = strcmp(cfg->auth_registration, "invite") == 0;
    if (strcmp(cfg->auth_registration, "off") == 0) {
        auth_audit(req, "auth.register", 403, json_pack("{s:s}", "reason", "closed"));
        auth_reply_problem(req, problem_new(403, "registration-closed",
                                            "self-registration is off on this server; ask an "
                                            "admin for an account ([auth] registration)"));
        return;
    }
    if (by_invite && !invite) {
        problem_t *p = problem_new(403, "invite-required",
                                   "registration on this server needs an invitation code from "
                                   "an admin (the invite field)");
        auth_reply_problem(req, p);
        return;
    }
    problem_t *p = NULL;
    if (!auth_username_ok(name)) {
        p = problem_validation_new();
        problem_field_add(p, "body", "/username",
                          "may contain only letters, digits, '.', '_', '-' and '@'");
    } else if (email && smtp_addr_check(email) < 0) {
        p = problem_validation_new();
        problem_field_add(p, "body", "/email", "is not a plain e-mail address (name@domain)");
    } else if (!auth_user_by_name(auth_of(req), name) &&
               (p = auth_username_reuse_problem(req, name))) {
        /* what a taken name answers: registration tells no more */
        problem_destroy(&p);
        p = problem_new(409, "username-taken", "the username %s is taken; choose another", name);
    } else
        p = auth_policy_problem(pw, name, "/password", (size_t)cfg->auth_password_min);
    if (p) {
        auth_reply_problem(req, p);
        return;
    }
    auth_job_t *j = auth_job_new(req);
    if (!j) {
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    snprintf(j->username, sizeof j->username, "%s", name);
    j->email = email ? strdup(email) : NULL;
    j->password = strdup(pw);
    j->pending = !by_invite;
    j->with_invite = by_invite;
    j->ttl_ms = cfg->auth_verify_ttl_s * 1000;
    if (invite)
        snprintf(j->token, sizeof j->token, "%s", invite);
    if (!j->password || (email && !j->email)) {
        auth_job_free(j);
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    auth_submit(j, auth_register_work, auth_signup_done);
}

static void auth_invite_done(int status, void *ud)
{
    (void)status;
    auth_job_t *j = ud;
    api_req_t *req = j->req;
    if (j->status == 201) {
        char until[40];
        clock_rfc3339(j->now_ms + j->ttl_ms, until, sizeof until);
        auth_audit(req, "users.invite", 201, json_pack("{s:s}", "expires_at", until));
        auth_reply_json(req, 201, json_pack("{s:s,s:s}", "code", j->secret, "expires_at", until));
    } else {
        auth_audit(req, "users.invite", j->status, NULL);
        auth_reply_problem(req, auth_store_problem());
    }
    auth_job_free(j);
}

void auth_api_invite_create(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_job_t *j = auth_job_new(req);
    if (!j) {
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    json_t *ttl = json_object_get(api_req_body(req), "ttl_s");
    j->ttl_ms = (ttl ? json_integer_value(ttl) : j->a->hub->cfg.auth_invite_ttl_s) * 1000;
    auth_submit(j, auth_invite_create_work, auth_invite_done);
}

void auth_api_invite_list(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_submit_for_id(req, auth_invite_list_work, auth_read_done);
}

static void auth_invite_revoke_done(int status, void *ud)
{
    (void)status;
    auth_job_t *j = ud;
    api_req_t *req = j->req;
    auth_audit(req, "users.invite_revoke", j->status,
               json_pack("{s:I}", "invite_id", (json_int_t)j->id));
    if (j->status == 204)
        auth_reply_json(req, 204, NULL);
    else if (j->status == 404)
        auth_reply_problem(req, problem_new(404, "not-found",
                                            "no open invitation with id %lld (used, expired, "
                                            "revoked or never issued)",
                                            (long long)j->id));
    else
        auth_reply_problem(req, auth_store_problem());
    auth_job_free(j);
}

void auth_api_invite_revoke(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_submit_for_id(req, auth_invite_revoke_work, auth_invite_revoke_done);
}

static void auth_approve_done(int status, void *ud)
{
    (void)status;
    auth_job_t *j = ud;
    api_req_t *req = j->req;
    if (j->status == 200) {
        auth_user_t *u = auth_user_find(j->a, j->id);
        if (u)
            u->disabled = false;
        auth_audit(req, "users.approve", 200,
                   json_pack("{s:I,s:O}", "user_id", (json_int_t)j->id, "username",
                             json_object_get(j->out, "username")));
        auth_reply_json(req, 200, json_incref(j->out));
        auth_job_free(j);
        return;
    }
    problem_t *p;
    if (j->status == 404)
        p = problem_new(404, "not-found", "no user with id %lld", (long long)j->id);
    else if (j->status == 409)
        p = problem_new(409, "not-pending", "%s", j->why);
    else
        p = auth_store_problem();
    auth_audit(req, "users.approve", j->status, json_pack("{s:I}", "user_id", (json_int_t)j->id));
    auth_reply_problem(req, p);
    auth_job_free(j);
}

void auth_api_user_approve(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_submit_for_id(req, auth_user_approve_work, auth_approve_done);
}

/* ---- password reset --------------------------------------------------------------------- */

static void auth_reset_token_done(int status, void *ud)
{
    (void)status;
    auth_job_t *j = ud;
    api_req_t *req = j->req;
    if (j->status == 201) {
        char until[40];
        clock_rfc3339(j->now_ms + j->ttl_ms, until, sizeof until);
        auth_audit(
            req, "users.reset_token", 201,
            json_pack("{s:I,s:s}", "user_id", (json_int_t)j->id, "username", j->user.username));
        auth_reply_json(req, 201,
                        json_pack("{s:s,s:I,s:s,s:s}", "token", j->secret, "user_id",
                                  (json_int_t)j->id, "username", j->user.username, "expires_at",
                                  until));
    } else {
        auth_audit(req, "users.reset_token", j->status,
                   json_pack("{s:I}", "user_id", (json_int_t)j->id));
        auth_reply_problem(
            req, j->status == 404
                     ? problem_new(404, "not-found", "no user with id %lld", (long long)j->id)
                     : auth_store_problem());
    }
    auth_job_free(j);
}

void auth_api_user_reset_token(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_job_t *j = auth_job_new(req);
    if (!j) {
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    j->id = api_req_param_int(req, "id");
    j->ttl_ms = j->a->hub->cfg.auth_reset_ttl_s * 1000;
    auth_submit(j, auth_token_issue_work, auth_reset_token_done);
}

static void auth_reset_request_done(int status, void *ud)
{
    (void)status;
    auth_job_t *j = ud;
    api_req_t *req = j->req;
    if (j->status == 202) {
        bool sent = j->mail_to[0] != '\0';
        if (sent)
            mail_outbox_kick(j->a->outbox);
        auth_audit(req, "auth.password_reset.request", 202,
                   json_pack("{s:s,s:b}", "login", j->email, "mailed", sent));
        auth_reply_json(req, 202,
                        json_pack("{s:s,s:s}", "status", "accepted", "detail",
                                  "if an account with that name or address exists and has an "
                                  "e-mail address, a reset token is on its way"));
    } else {
        auth_audit(req, "auth.password_reset.request", j->status,
                   json_pack("{s:s}", "login", j->email));
        auth_reply_problem(req, auth_store_problem());
    }
    auth_job_free(j);
}

void auth_api_reset_request(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_t *a = auth_of(req);
    const char *login = json_string_value(json_object_get(api_req_body(req), "login"));
    if (!auth_mail_on(a)) {
        auth_reply_problem(req, auth_mail_off());
        return;
    }
    problem_t *p = auth_mail_rate(a, "reset", login);
    if (p) {
        auth_audit(req, "auth.password_reset.request", 429, json_pack("{s:s}", "login", login));
        auth_reply_problem(req, p);
        return;
    }
    auth_job_t *j = auth_job_new(req);
    if (!j) {
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    j->email = strdup(login); /* a username or an address: up to 254 bytes */
    if (!j->email) {
        auth_job_free(j);
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    j->ttl_ms = a->hub->cfg.auth_reset_ttl_s * 1000;
    auth_submit(j, auth_reset_request_work, auth_reset_request_done);
}

static void auth_reset_confirm_done(int status, void *ud)
{
    (void)status;
    auth_job_t *j = ud;
    api_req_t *req = j->req;
    if (j->status == 204) {
        auth_user_t *u = auth_user_find(j->a, j->id);
        if (u) {
            u->must_change = false;
            u->valid_after_s = j->now_ms / 1000; /* earlier access tokens stop working */
        }
        auth_revoke_fams_loop(j);
        auth_audit(
            req, "auth.password_reset", 204,
            json_pack("{s:I,s:s}", "user_id", (json_int_t)j->id, "username", j->user.username));
        auth_reply_json(req, 204, NULL);
    } else if (j->status == 422) {
        auth_audit(req, "auth.password_reset", 422, json_pack("{s:s}", "reason", "policy"));
        problem_t *p =
            problem_new(422, "validation", "the password does not meet the policy; see errors[]");
        problem_field_add(p, "body", "/new_password", "%s", j->why);
        auth_reply_problem(req, p);
    } else if (j->status == 400) {
        auth_audit(req, "auth.password_reset", 400,
                   json_pack("{s:s}", "reason", j->reason ? j->reason : "?"));
        auth_reply_problem(req, problem_new(400, "invalid-token",
                                            "the reset token is unknown, used or expired; ask "
                                            "for a new one"));
    } else
        auth_reply_problem(req, auth_store_problem());
    auth_job_free(j);
}

void auth_api_reset_confirm(api_req_t *req, void *ctx)
{
    (void)ctx;
    json_t *b = api_req_body(req);
    auth_job_t *j = auth_job_new(req);
    if (!j) {
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    snprintf(j->kind, sizeof j->kind, "reset");
    snprintf(j->token, sizeof j->token, "%s", json_string_value(json_object_get(b, "token")));
    j->password2 = strdup(json_string_value(json_object_get(b, "new_password")));
    if (!j->password2) {
        auth_job_free(j);
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    auth_submit(j, auth_reset_confirm_work, auth_reset_confirm_done);
}

/* ---- e-mail verification ---------------------------------------------------------------- */

static void auth_verify_request_done(int status, void *ud)
{
    (void)status;
    auth_job_t *j = ud;
    api_req_t *req = j->req;
    if (j->status == 202) {
        mail_outbox_kick(j->a->outbox);
        auth_audit(req, "auth.email_verification.request", 202, NULL);
        auth_reply_json(req, 202,
                        json_pack("{s:s,s:s}", "status", "accepted", "detail",
                                  "a verification token is on its way to the account's e-mail "
                                  "address"));
    } else {
        auth_audit(req, "auth.email_verification.request", j->status, NULL);
        auth_reply_problem(req, j->status == 409 ? problem_new(409, "conflict", "%s", j->why)
                                                 : auth_store_problem());
    }
    auth_job_free(j);
}

void auth_api_verify_request(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_t *a = auth_of(req);
    auth_ident_t id;
    const char *why = NULL;
    if (auth_identify(a, req, &id, &why) != 0 || id.kind != AUTH_ID_USER) {
        auth_reply_problem(req, problem_new(400, "not-a-user-session",
                                            "only a signed-in user has an e-mail address to "
                                            "verify"));
        return;
    }
    if (!auth_mail_on(a)) {
        auth_reply_problem(req, auth_mail_off());
        return;
    }
    problem_t *p = auth_mail_rate(a, "verify", id.principal);
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
    j->ttl_ms = a->hub->cfg.auth_verify_ttl_s * 1000;
    auth_submit(j, auth_verify_request_work, auth_verify_request_done);
}

static void auth_verify_confirm_done(int status, void *ud)
{
    (void)status;
    auth_job_t *j = ud;
    api_req_t *req = j->req;
    if (j->status == 200) {
        auth_audit(
            req, "auth.email_verification", 200,
            json_pack("{s:I,s:s}", "user_id", (json_int_t)j->id, "username", j->user.username));
        auth_reply_json(req, 200, json_incref(j->out));
    } else if (j->status == 400) {
        auth_audit(req, "auth.email_verification", 400,
                   json_pack("{s:s}", "reason", j->reason ? j->reason : "?"));
        auth_reply_problem(req, problem_new(400, "invalid-token",
                                            "the verification token is unknown, used, expired "
                                            "or for an address the account no longer has"));
    } else
        auth_reply_problem(req, auth_store_problem());
    auth_job_free(j);
}

void auth_api_verify_confirm(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_job_t *j = auth_job_new(req);
    if (!j) {
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    snprintf(j->kind, sizeof j->kind, "verify");
    snprintf(j->token, sizeof j->token, "%s",
             json_string_value(json_object_get(api_req_body(req), "token")));
    auth_submit(j, auth_verify_confirm_work, auth_verify_confirm_done);
}
