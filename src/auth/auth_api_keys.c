/* /api/v1/keys: API keys, created, listed, revoked and rotated. */

#include <stdio.h>
#include <string.h>

#include "api/api_owner.h"
#include "auth/auth_api_internal.h"
#include "auth/auth_policy.h"
#include "core/clock.h"

static void auth_key_write_done(int status, void *ud)
{
    (void)status;
    auth_job_t *j = ud;
    api_req_t *req = j->req;
    auth_t *a = j->a;
    bool rotate = strstr(api_req_path(req), "/rotate") != NULL;
    bool del = strcmp(api_req_method(req), "DELETE") == 0;
    const char *action = del ? "keys.revoke" : rotate ? "keys.rotate" : "keys.create";
    json_t *d = json_pack("{s:I}", "key_id", (json_int_t)(j->key.id ? j->key.id : j->id));
    if (j->status == 201 && !rotate) {
        auth_key_t k = j->key;
        json_incref(k.scopes);
        auth_key_t *kk = auth_key_add(a, &k);
        if (!kk)
            json_decref(k.scopes);
        auth_keys_reindex(a);
        json_t *o = auth_key_json(&j->key);
        json_object_set_new(o, "secret", json_string(j->secret));
        json_object_set_new(d, "name", json_string(j->key.name));
        json_object_set_new(d, "role", json_string(j->key.role));
        auth_audit(req, action, 201, d);
        auth_reply_json(req, 201, o);
    } else if (j->status == 200 && rotate) {
        auth_key_t *k = auth_key_find(a, j->id);
        if (k) {
            memcpy(k->prev_hash, k->hash, AUTH_HASH_BYTES);
            memcpy(k->hash, j->key.hash, AUTH_HASH_BYTES);
            k->prev_until_ms = j->key.prev_until_ms;
            auth_keys_reindex(a);
        }
        json_t *o = k ? auth_key_json(k) : json_object();
        json_object_set_new(o, "secret", json_string(j->secret));
        auth_audit(req, action, 200, d);
        auth_reply_json(req, 200, o);
    } else if (j->status == 204) {
        auth_key_t *k = auth_key_find(a, j->id);
        if (k) {
            k->revoked = true;
            auth_keys_reindex(a);
        }
        auth_audit(req, action, 204, d);
        auth_reply_json(req, 204, NULL);
    } else {
        auth_audit(req, action, j->status, d);
        if (j->status == 404)
            auth_reply_problem(
                req, problem_new(404, "not-found", "no active key with id %lld", (long long)j->id));
        else
            auth_reply_problem(req, auth_store_problem());
    }
    auth_job_free(j);
}

void auth_api_key_create(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_t *a = auth_of(req);
    json_t *b = api_req_body(req);
    auth_ident_t me;
    const char *why = NULL;
    if (auth_identify(a, req, &me, &why) != 0) {
        auth_reply_problem(req, problem_new(401, "unauthorized", "%s", why ?: "no credential"));
        return;
    }
    const char *role = json_string_value(json_object_get(b, "role"));
    json_t *scopes = json_object_get(b, "scopes");
    const char *exp = json_string_value(json_object_get(b, "expires_at"));
    problem_t *p = NULL;
#define KEY_FIELD_ERR(f, ...) problem_field_error(&p, "body", f, __VA_ARGS__)
    if (!role && !scopes)
        KEY_FIELD_ERR("/role", "give a role or scopes[] (or both)");
    if (!role)
        role = me.role;
    size_t i;
    json_t *s;
    json_array_foreach(scopes, i, s)
    {
        const char *sv = json_string_value(s);
        char ptr[32];
        snprintf(ptr, sizeof ptr, "/scopes/%zu", i);
        if (!auth_scope_valid(sv))
            KEY_FIELD_ERR(ptr, "is not a scope (admin, self or <domain>:read|write)");
        else if (!auth_role_allows(role, sv))
            KEY_FIELD_ERR(ptr, "is not granted to the role %s", role);
        else if (!auth_ident_allows(&me, sv))
            KEY_FIELD_ERR(ptr, "is not held by the caller, who cannot hand it out");
    }
    if (me.kind == AUTH_ID_KEY && me.scopes && !scopes)
        KEY_FIELD_ERR("/scopes", "a key with limited scopes can only create keys with scopes[]");
    int64_t exp_ms = 0;
    if (exp && (clock_rfc3339_parse(exp, &exp_ms) < 0))
        KEY_FIELD_ERR("/expires_at", "is not an RFC 3339 date-time");
    else if (exp && exp_ms <= clock_wall_ms())
        KEY_FIELD_ERR("/expires_at", "is in the past");
    const char *team = json_string_value(json_object_get(b, "team"));
    if (team && !auth_team_exists(a, team))
        KEY_FIELD_ERR("/team", "no team named %s (an admin creates it: POST /api/v1/teams)", team);
    else if (!p)
        p = api_owner_team_check(req, team, "/team");
    if (p) {
        auth_reply_problem(req, p);
        return;
    }
#undef KEY_FIELD_ERR
    auth_job_t *j = auth_job_new(req);
    if (!j) {
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    snprintf(j->key.name, sizeof j->key.name, "%s", json_string_value(json_object_get(b, "name")));
    snprintf(j->key.role, sizeof j->key.role, "%s", role);
    j->key.scopes = scopes ? json_deep_copy(scopes) : NULL;
    j->key.expires_ms = exp_ms;
    j->key.rate_limit = json_integer_value(json_object_get(b, "rate_limit"));
    j->key.created_ms = j->now_ms;
    snprintf(j->key.created_by, sizeof j->key.created_by, "%s", me.principal);
    snprintf(j->key.team, sizeof j->key.team, "%s", team ? team : "");
    auth_random_secret("gk_", j->secret, sizeof j->secret);
    auth_secret_hash(a, j->secret, j->key.hash);
    auth_submit(j, auth_key_create_work, auth_key_write_done);
}

void auth_api_key_list(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_job_t *j = auth_job_new(req);
    if (!j) {
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    if (strcmp(api_req_path(req), "/api/v1/keys") != 0) {
        j->id = api_req_param_int(req, "id");
    } else {
        j->limit = api_req_query_int(req, "limit", AUTH_KEYS_PAGE_DEFAULT);
        j->offset = api_req_query_int(req, "offset", 0);
        j->include_revoked = api_req_query_bool(req, "include_revoked", false);
    }
    auth_submit(j, auth_key_list_work, auth_read_done);
}

void auth_api_key_revoke(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_submit_for_id(req, auth_key_revoke_work, auth_key_write_done);
}

void auth_api_key_rotate(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_job_t *j = auth_job_new(req);
    if (!j) {
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    j->id = api_req_param_int(req, "id");
    auth_random_secret("gk_", j->secret, sizeof j->secret);
    auth_secret_hash(j->a, j->secret, j->key.hash);
    auth_submit(j, auth_key_rotate_work, auth_key_write_done);
}
