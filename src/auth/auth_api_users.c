/* /api/v1/users: accounts, administered by admins. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "api/api_owner.h"
#include "auth/auth_api_internal.h"
#include "net/smtp_client.h"

bool auth_username_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '.' || *s == '_' || *s == '-' || *s == '@'))
            return false;
    return true;
}

static void auth_user_write_done(int status, void *ud)
{
    (void)status;
    auth_job_t *j = ud;
    api_req_t *req = j->req;
    const char *action =
        api_req_method(req)[0] == 'P' && api_req_method(req)[1] == 'O'
            ? "users.create"
            : (strcmp(api_req_method(req), "DELETE") == 0 ? "users.delete" : "users.update");
    if (j->status == 200 || j->status == 201 || j->status == 204) {
        if (j->out) {
            auth_user_t u;
            memset(&u, 0, sizeof u);
            u.id = json_integer_value(json_object_get(j->out, "id"));
            snprintf(u.username, sizeof u.username, "%s",
                     json_string_value(json_object_get(j->out, "username")) ?: "");
            snprintf(u.role, sizeof u.role, "%s",
                     json_string_value(json_object_get(j->out, "role")) ?: "");
            u.disabled = json_is_true(json_object_get(j->out, "disabled"));
            u.must_change = json_is_true(json_object_get(j->out, "must_change_password"));
            if (j->fams) /* sessions were revoked: refuse every older access token */
                u.valid_after_s = j->now_ms / 1000;
            auth_user_put(j->a, &u);
        } else if (strcmp(api_req_method(req), "DELETE") == 0) {
            auth_user_forget(j->a, j->id);
            auth_members_drop(j->a, 0, j->id);
        }
        auth_revoke_fams_loop(j);
        json_t *d = json_pack("{s:I}", "user_id", (json_int_t)j->id);
        if (j->out) {
            json_object_set(d, "username", json_object_get(j->out, "username"));
            json_object_set(d, "role", json_object_get(j->out, "role"));
            json_object_set(d, "disabled", json_object_get(j->out, "disabled"));
        }
        if (j->old_role[0] && j->out &&
            strcmp(j->old_role, json_string_value(json_object_get(j->out, "role")) ?: "") != 0) {
            json_object_set_new(d, "old_role", json_string(j->old_role));
            auth_audit(req, "users.role", j->status, json_deep_copy(d));
        }
        if (j->password2)
            action = "users.password_reset";
        auth_audit(req, action, j->status, d);
        if (j->status == 204 || !j->out)
            auth_reply_json(req, 204, NULL);
        else
            auth_reply_json(req, j->status, json_incref(j->out));
    } else {
        problem_t *p;
        if (j->status == 409 && j->why[0])
            p = problem_new(409, "conflict", "%s", j->why);
        else if (j->status == 409)
            p = problem_new(409, "conflict", "a user named %s already exists", j->username);
        else if (j->status == 404)
            p = problem_new(404, "not-found", "no user with id %lld", (long long)j->id);
        else
            p = auth_store_problem();
        auth_audit(req, action, j->status, json_pack("{s:I}", "user_id", (json_int_t)j->id));
        auth_reply_problem(req, p);
    }
    auth_job_free(j);
}

problem_t *auth_username_reuse_problem(api_req_t *req, const char *name)
{
    char owner[128];
    snprintf(owner, sizeof owner, "user:%s", name);
    const char *kind = NULL;
    size_t n = api_owner_refs(auth_of(req)->hub->api, owner, NULL, &kind);
    if (n == 0)
        return NULL;
    problem_t *p = problem_new(409, "username-in-use",
                               "%zu resource%s (first: %s) still record a deleted user named %s "
                               "as owner; a new user of that name would own them: delete them "
                               "or choose another name",
                               n, n == 1 ? "" : "s", kind ? kind : "?", name);
    problem_ext_set(p, "resources", json_integer((json_int_t)n));
    return p;
}

void auth_api_user_create(api_req_t *req, void *ctx)
{
    (void)ctx;
    json_t *b = api_req_body(req);
    const char *name = json_string_value(json_object_get(b, "username"));
    const char *pw = json_string_value(json_object_get(b, "password"));
    const char *em = json_string_value(json_object_get(b, "email"));
    problem_t *p = NULL;
    if (!auth_username_ok(name)) {
        p = problem_validation_new();
        problem_field_add(p, "body", "/username",
                          "may contain only letters, digits, '.', '_', '-' and '@'");
    } else if (em && smtp_addr_check(em) < 0) {
        p = problem_validation_new();
        problem_field_add(p, "body", "/email", "is not a plain e-mail address (name@domain)");
    } else if (!auth_user_by_name(auth_of(req), name) &&
               (p = auth_username_reuse_problem(req, name))) {
        /* refused: a deleted user's resources still carry the name */
    } else
        p = auth_policy_problem(pw, name, "/password",
                                (size_t)auth_of(req)->hub->cfg.auth_password_min);
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
    snprintf(j->role, sizeof j->role, "%s", json_string_value(json_object_get(b, "role")));
    const char *email = json_string_value(json_object_get(b, "email"));
    j->email = email ? strdup(email) : NULL;
    j->password = strdup(pw);
    if (!j->password) {
        auth_job_free(j);
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    auth_submit(j, auth_user_create_work, auth_user_write_done);
}

void auth_api_user_list(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_job_t *j = auth_job_new(req);
    if (!j) {
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    auth_submit(j, auth_user_list_work, auth_read_done);
}

void auth_api_user_get(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_submit_for_id(req, auth_user_get_work, auth_read_done);
}

void auth_api_user_patch(api_req_t *req, void *ctx)
{
    (void)ctx;
    json_t *b = api_req_body(req);
    auth_job_t *j = auth_job_new(req);
    if (!j) {
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    j->id = api_req_param_int(req, "id");
    json_t *v;
    if ((v = json_object_get(b, "role"))) {
        j->has_role = true;
        snprintf(j->role, sizeof j->role, "%s", json_string_value(v));
    }
    if ((v = json_object_get(b, "disabled"))) {
        j->has_disabled = true;
        j->disabled = json_is_true(v);
    }
    if ((v = json_object_get(b, "email")) && json_is_string(v) &&
        smtp_addr_check(json_string_value(v)) < 0) {
        auth_job_free(j);
        problem_t *p = problem_validation_new();
        problem_field_add(p, "body", "/email", "is not a plain e-mail address (name@domain)");
        auth_reply_problem(req, p);
        return;
    }
    if (v) {
        j->has_email = true;
        j->email = json_is_string(v) ? strdup(json_string_value(v)) : NULL;
    }
    auth_submit(j, auth_user_patch_work, auth_user_write_done);
}

void auth_api_user_delete(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_submit_for_id(req, auth_user_delete_work, auth_user_write_done);
}

void auth_api_user_reset(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_t *a = auth_of(req);
    int64_t id = api_req_param_int(req, "id");
    auth_user_t *u = auth_user_find(a, id);
    const char *pw = json_string_value(json_object_get(api_req_body(req), "password"));
    problem_t *p = auth_policy_problem(pw, u ? u->username : NULL, "/password",
                                       (size_t)a->hub->cfg.auth_password_min);
    if (p) {
        auth_reply_problem(req, p);
        return;
    }
    auth_job_t *j = auth_job_new(req);
    if (!j) {
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    j->id = id;
    j->password2 = strdup(pw);
    if (!j->password2) {
        auth_job_free(j);
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    auth_submit(j, auth_user_reset_work, auth_user_write_done);
}
