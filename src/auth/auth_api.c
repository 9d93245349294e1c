/* The security domain's endpoints: /api/v1/auth (login, refresh, logout, me, password),
 * /api/v1/users (admin CRUD) and /api/v1/keys (API keys). Password hashing and every database
 * access run on the thread pool (store_submit); handlers reply from the done callback. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_internal.h"
#include "auth/auth_policy.h"
#include "core/clock.h"
#include "core/log.h"
#include "store/audit.h"

typedef struct auth_job {
    auth_t *a;
    api_req_t *req;
    /* inputs (copied on the loop) */
    char username[AUTH_NAME_MAX + 1];
    char *password;  /* wiped and freed with the job */
    char *password2; /* new password */
    char role[16];
    char *email;
    bool has_role, has_disabled, has_email, disabled;
    int64_t id;
    char fam[AUTH_FAM_LEN + 1];
    char token[128]; /* refresh token presented (wiped) */
    int64_t now_ms, opslimit, memlimit, threshold, lock_ms, refresh_ms, grace_ms;
    auth_key_t key; /* keys: the record to insert */
    char secret[80];
    /* outputs */
    int status;
    const char *reason;
    char field[32];
    char why[160];
    auth_user_t user;
    char refresh[80];
    char old_role[16];
    bool lock_event, reuse;
    json_t *out;
    json_t *fams; /* session families revoked */
} auth_job_t;

static auth_t *auth_of(api_req_t *req)
{
    return api_req_hub(req)->auth;
}

static auth_job_t *auth_job_new(api_req_t *req)
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

static void auth_job_free(auth_job_t *j)
{
    auth_wipe_free(j->password);
    auth_wipe_free(j->password2);
    free(j->email);
    json_decref(j->out);
    json_decref(j->fams);
    json_decref(j->key.scopes);
    sodium_memzero(j->token, sizeof j->token);
    sodium_memzero(j->secret, sizeof j->secret);
    sodium_memzero(j->refresh, sizeof j->refresh);
    free(j);
}

static void auth_reply_json(api_req_t *req, int status, json_t *body)
{
    api_reply_header(req, "Cache-Control", "no-store");
    if (status == 204) {
        json_decref(body);
        api_reply_empty(req, 204);
    } else
        api_reply_json(req, status, body);
}

static void auth_reply_problem(api_req_t *req, problem_t *p)
{
    problem_header_set(p, "Cache-Control", "no-store");
    api_reply_problem(req, p);
}

static bool auth_submit(auth_job_t *j, store_work_fn work, store_done_fn done)
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

static problem_t *auth_store_problem(void)
{
    return problem_new(503, "store-error", "the store could not complete the operation; retry");
}

/* Ends a transaction begun by the caller: commits when ok, else (or when the commit fails) rolls
 * back. Returns whether the writes are committed. */
static bool auth_tx_end(store_conn_t *c, bool ok)
{
    if (ok && store_tx_commit(c) == 0)
        return true;
    (void)store_tx_rollback(c); /* nothing of the change stays; the caller answers 503 */
    return false;
}

/* Runs work with every statement in one transaction, so that a change of several rows (a
 * password and the sessions it revokes, a user and its tokens) is committed whole or not at all,
 * whatever moment the daemon dies: the 2xx is sent after the commit. Committed unless work set
 * status 503. Work must not hash passwords (the write lock is held throughout). */
static int auth_tx(store_conn_t *c, auth_job_t *j, store_work_fn work)
{
    if (store_tx_begin(c) < 0) {
        j->status = 503;
        return 0;
    }
    int rc = work(c, j);
    if (!auth_tx_end(c, rc == 0 && j->status != 503))
        j->status = 503;
    return 0;
}

static int auth_hash_pw(const auth_job_t *j, const char *pw, char out[crypto_pwhash_STRBYTES])
{
    return crypto_pwhash_str(out, pw, strlen(pw), (unsigned long long)j->opslimit,
                             (size_t)j->memlimit);
}

static void auth_user_from_row(const json_t *r, auth_user_t *u)
{
    memset(u, 0, sizeof *u);
    u->id = json_integer_value(json_object_get(r, "id"));
    snprintf(u->username, sizeof u->username, "%s",
             json_string_value(json_object_get(r, "username")) ?: "");
    snprintf(u->role, sizeof u->role, "%s", json_string_value(json_object_get(r, "role")) ?: "");
    u->disabled = json_integer_value(json_object_get(r, "disabled")) != 0;
    u->must_change = json_integer_value(json_object_get(r, "must_change")) != 0;
}

static json_t *auth_user_json(const json_t *r, int64_t now_ms)
{
    char c[40], u[40];
    json_t *email = json_object_get(r, "email");
    int64_t locked = json_integer_value(json_object_get(r, "locked_until_ms"));
    return json_pack(
        "{s:I,s:s,s:O,s:s,s:b,s:b,s:b,s:s,s:s}", "id", json_integer_value(json_object_get(r, "id")),
        "username", json_string_value(json_object_get(r, "username")) ?: "", "email",
        email ? email : json_null(), "role", json_string_value(json_object_get(r, "role")) ?: "",
        "disabled", json_integer_value(json_object_get(r, "disabled")) != 0, "must_change_password",
        json_integer_value(json_object_get(r, "must_change")) != 0, "locked", locked > now_ms,
        "created_at",
        clock_rfc3339(json_integer_value(json_object_get(r, "created_ms")), c, sizeof c),
        "updated_at",
        clock_rfc3339(json_integer_value(json_object_get(r, "updated_ms")), u, sizeof u));
}

#define AUTH_USER_COLS                                                                             \
    "id, username, email, role, disabled, must_change, failed, locked_until_ms, created_ms,"       \
    " updated_ms"

/* Issues a refresh token in family j->fam for j->user (worker thread). */
static int auth_refresh_issue(store_conn_t *c, auth_job_t *j)
{
    unsigned char h[AUTH_HASH_BYTES];
    char hex[2 * AUTH_HASH_BYTES + 1];
    auth_random_secret("grt_", j->refresh, sizeof j->refresh);
    auth_secret_hash(j->a, j->refresh, h);
    auth_hex(h, sizeof h, hex);
    return store_query(c,
                       "INSERT INTO auth_refresh (user_id, family, token_hash, expires_ms,"
                       " created_ms) VALUES ($1, $2, $3, $4, $5)",
                       (store_val_t[]){STORE_INTV(j->user.id), STORE_TEXTV(j->fam),
                                       STORE_TEXTV(hex), STORE_INTV(j->now_ms + j->refresh_ms),
                                       STORE_INTV(j->now_ms)},
                       5, NULL, NULL);
}

static json_t *auth_token_reply(auth_job_t *j)
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

/* ---- login ------------------------------------------------------------------------------ */

/* A verification against the dummy hash: the cost of a real one, whose result is meaningless.
 * After the parameters were changed (SIGHUP) the dummy is stale, so a hash with the current
 * parameters is computed instead; its cost is the same as a verification with them. */
static void auth_burn(const auth_job_t *j)
{
    if (crypto_pwhash_str_needs_rehash(j->a->dummy_hash, (unsigned long long)j->opslimit,
                                       (size_t)j->memlimit) != 0) {
        char tmp[crypto_pwhash_STRBYTES];
        volatile int r = crypto_pwhash_str(tmp, j->password, strlen(j->password),
                                           (unsigned long long)j->opslimit, (size_t)j->memlimit);
        (void)r;
        return;
    }
    volatile int r = crypto_pwhash_str_verify(j->a->dummy_hash, j->password, strlen(j->password));
    (void)r;
}

static int auth_login_work(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    json_t *rows = NULL;
    j->status = 401;
    if (store_query(c,
                    "SELECT id, username, role, pwhash, disabled, must_change, failed,"
                    " locked_until_ms FROM auth_users WHERE username = $1",
                    (store_val_t[]){STORE_TEXTV(j->username)}, 1, &rows, NULL) < 0) {
        /* Still spend the hash time: a store error must not be a faster answer. */
        auth_burn(j);
        j->status = 503;
        return 0;
    }
    json_t *r = json_array_get(rows, 0);
    if (!r) {
        auth_burn(j);
        j->reason = "unknown_user";
        json_decref(rows);
        return 0;
    }
    const char *hash = json_string_value(json_object_get(r, "pwhash")) ?: "";
    /* Always verify, then decide: the lock and the disabled flag must not make the answer faster
     * or different, and must not reveal whether the password was right. */
    bool ok = crypto_pwhash_str_verify(hash, j->password, strlen(j->password)) == 0;
    auth_user_from_row(r, &j->user);
    int64_t locked = json_integer_value(json_object_get(r, "locked_until_ms"));
    if (locked > j->now_ms) {
        j->reason = "locked";
    } else if (!ok) {
        j->reason = "bad_password";
        json_t *f = NULL;
        store_query(c, "UPDATE auth_users SET failed = failed + 1 WHERE id = $1",
                    (store_val_t[]){STORE_INTV(j->user.id)}, 1, NULL, NULL);
        if (store_query(c, "SELECT failed FROM auth_users WHERE id = $1",
                        (store_val_t[]){STORE_INTV(j->user.id)}, 1, &f, NULL) == 0 &&
            json_integer_value(json_object_get(json_array_get(f, 0), "failed")) >= j->threshold) {
            store_query(c, "UPDATE auth_users SET failed = 0, locked_until_ms = $2 WHERE id = $1",
                        (store_val_t[]){STORE_INTV(j->user.id), STORE_INTV(j->now_ms + j->lock_ms)},
                        2, NULL, NULL);
            j->lock_event = true;
        }
        json_decref(f);
    } else if (j->user.disabled) {
        j->reason = "disabled";
    } else {
        store_query(c, "UPDATE auth_users SET failed = 0 WHERE id = $1",
                    (store_val_t[]){STORE_INTV(j->user.id)}, 1, NULL, NULL);
        if (crypto_pwhash_str_needs_rehash(hash, (unsigned long long)j->opslimit,
                                           (size_t)j->memlimit) != 0) {
            char nh[crypto_pwhash_STRBYTES];
            if (auth_hash_pw(j, j->password, nh) == 0)
                store_query(c, "UPDATE auth_users SET pwhash = $2 WHERE id = $1",
                            (store_val_t[]){STORE_INTV(j->user.id), STORE_TEXTV(nh)}, 2, NULL,
                            NULL);
        }
        auth_random_hex(j->fam, AUTH_FAM_LEN / 2);
        j->status = auth_refresh_issue(c, j) == 0 ? 200 : 503;
    }
    json_decref(rows);
    return 0;
}

static problem_t *auth_bad_credentials(void)
{
    return problem_new(401, "invalid-credentials",
                       "the username or password is wrong, or the account cannot sign in now");
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
            auth_audit(req, "auth.login", 200, json_pack("{s:s}", "username", j->username));
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

static void auth_login_handler(api_req_t *req, void *ctx)
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
    if (!j->password) {
        auth_job_free(j);
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    auth_submit(j, auth_login_work, auth_login_done);
}

/* ---- refresh ---------------------------------------------------------------------------- */

static int auth_refresh_writes(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    unsigned char h[AUTH_HASH_BYTES];
    char hex[2 * AUTH_HASH_BYTES + 1];
    auth_secret_hash(j->a, j->token, h);
    auth_hex(h, sizeof h, hex);
    json_t *rows = NULL;
    j->status = 401;
    if (store_query(c,
                    "SELECT id, user_id, family, used, revoked, expires_ms FROM auth_refresh"
                    " WHERE token_hash = $1",
                    (store_val_t[]){STORE_TEXTV(hex)}, 1, &rows, NULL) < 0) {
        j->status = 503;
        return 0;
    }
    json_t *r = json_array_get(rows, 0);
    if (!r) {
        j->reason = "unknown";
        json_decref(rows);
        return 0;
    }
    int64_t rid = json_integer_value(json_object_get(r, "id"));
    j->user.id = json_integer_value(json_object_get(r, "user_id"));
    snprintf(j->fam, sizeof j->fam, "%s", json_string_value(json_object_get(r, "family")) ?: "");
    bool used = json_integer_value(json_object_get(r, "used")) != 0;
    bool revoked = json_integer_value(json_object_get(r, "revoked")) != 0;
    int64_t exp = json_integer_value(json_object_get(r, "expires_ms"));
    json_decref(rows);
    int64_t affected = 0;
    if (revoked) {
        j->reason = "revoked";
        return 0;
    }
    if (!used && exp <= j->now_ms) {
        j->reason = "expired";
        return 0;
    }
    if (!used && store_query(c, "UPDATE auth_refresh SET used = 1 WHERE id = $1 AND used = 0",
                             (store_val_t[]){STORE_INTV(rid)}, 1, NULL, &affected) < 0) {
        j->status = 503;
        return 0;
    }
    if (used || affected != 1) {
        /* A used token again: it was stolen or replayed. The whole family goes. */
        j->reason = "reuse";
        j->reuse = true;
        store_query(c, "UPDATE auth_refresh SET revoked = 1 WHERE family = $1",
                    (store_val_t[]){STORE_TEXTV(j->fam)}, 1, NULL, NULL);
        return 0;
    }
    rows = NULL;
    if (store_query(c, "SELECT " AUTH_USER_COLS " FROM auth_users WHERE id = $1",
                    (store_val_t[]){STORE_INTV(j->user.id)}, 1, &rows, NULL) < 0) {
        j->status = 503;
        return 0;
    }
    r = json_array_get(rows, 0);
    if (!r || json_integer_value(json_object_get(r, "disabled"))) {
        j->reason = "user_gone_or_disabled";
        json_decref(rows);
        return 0;
    }
    auth_user_from_row(r, &j->user);
    json_decref(rows);
    j->status = auth_refresh_issue(c, j) == 0 ? 200 : 503;
    return 0;
}

/* the old token's use and the new token (or the family's revocation) together */
static int auth_refresh_work(store_conn_t *c, void *ud)
{
    return auth_tx(c, ud, auth_refresh_writes);
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
        auth_audit(req, "auth.refresh", body ? 200 : 503, NULL);
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
        auth_reply_problem(req, p);
    } else {
        auth_reply_problem(req, auth_store_problem());
    }
    auth_job_free(j);
}

static void auth_refresh_handler(api_req_t *req, void *ctx)
{
    (void)ctx;
    const char *t = json_string_value(json_object_get(api_req_body(req), "refresh_token"));
    auth_job_t *j = auth_job_new(req);
    if (!j) {
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    snprintf(j->token, sizeof j->token, "%s", t);
    auth_submit(j, auth_refresh_work, auth_refresh_done);
}

/* ---- the caller's own session ----------------------------------------------------------- */

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

static int auth_logout_work(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    j->status = store_query(c, "UPDATE auth_refresh SET revoked = 1 WHERE family = $1",
                            (store_val_t[]){STORE_TEXTV(j->fam)}, 1, NULL, NULL) == 0
                    ? 204
                    : 503;
    return 0;
}

static void auth_logout_done(int status, void *ud)
{
    (void)status;
    auth_job_t *j = ud;
    api_req_t *req = j->req;
    if (j->status == 204) {
        auth_fam_revoke(j->a, j->fam);
        auth_audit(req, "auth.logout", 204, NULL);
        auth_reply_json(req, 204, NULL);
    } else
        auth_reply_problem(req, auth_store_problem());
    auth_job_free(j);
}

static void auth_logout_handler(api_req_t *req, void *ctx)
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

static int auth_user_get_work(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    json_t *rows = NULL;
    if (store_query(c, "SELECT " AUTH_USER_COLS " FROM auth_users WHERE id = $1",
                    (store_val_t[]){STORE_INTV(j->id)}, 1, &rows, NULL) < 0) {
        j->status = 503;
        return 0;
    }
    json_t *r = json_array_get(rows, 0);
    if (r) {
        j->out = auth_user_json(r, j->now_ms);
        j->status = 200;
    } else
        j->status = 404;
    json_decref(rows);
    return 0;
}

static void auth_me_done(int status, void *ud)
{
    (void)status;
    auth_job_t *j = ud;
    api_req_t *req = j->req;
    if (j->status == 200) {
        json_object_set_new(j->out, "kind", json_string("user"));
        json_object_set_new(j->out, "principal", json_string(api_req_principal(req)));
        auth_reply_json(req, 200, json_incref(j->out));
    } else if (j->status == 404)
        auth_reply_problem(req, problem_new(401, "unauthorized", "the user no longer exists"));
    else
        auth_reply_problem(req, auth_store_problem());
    auth_job_free(j);
}

static void auth_me_handler(api_req_t *req, void *ctx)
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

/* Revokes every session family of user j->id except j->fam (empty = all), collecting them in
 * j->fams so the loop can refuse their access tokens at once. Worker thread. */
static int auth_revoke_sessions(store_conn_t *c, auth_job_t *j)
{
    json_t *rows = NULL;
    if (store_query(c,
                    "SELECT DISTINCT family FROM auth_refresh WHERE user_id = $1 AND revoked = 0"
                    " AND family <> $2",
                    (store_val_t[]){STORE_INTV(j->id), STORE_TEXTV(j->fam)}, 2, &rows, NULL) < 0)
        return -1;
    j->fams = rows;
    return store_query(c, "UPDATE auth_refresh SET revoked = 1 WHERE user_id = $1 AND family <> $2",
                       (store_val_t[]){STORE_INTV(j->id), STORE_TEXTV(j->fam)}, 2, NULL, NULL);
}

static void auth_revoke_fams_loop(auth_job_t *j)
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

static int auth_password_work(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    json_t *rows = NULL;
    if (store_query(c, "SELECT pwhash FROM auth_users WHERE id = $1",
                    (store_val_t[]){STORE_INTV(j->id)}, 1, &rows, NULL) < 0) {
        j->status = 503;
        return 0;
    }
    const char *h = json_string_value(json_object_get(json_array_get(rows, 0), "pwhash"));
    bool ok = h && crypto_pwhash_str_verify(h, j->password, strlen(j->password)) == 0;
    json_decref(rows);
    if (!ok) {
        j->status = 422;
        return 0;
    }
    char nh[crypto_pwhash_STRBYTES];
    if (auth_hash_pw(j, j->password2, nh) != 0 || store_tx_begin(c) < 0) {
        j->status = 503;
        return 0;
    }
    /* the new password and the end of the other sessions: both or neither */
    bool written =
        store_query(c,
                    "UPDATE auth_users SET pwhash = $2, must_change = 0, updated_ms = $3"
                    " WHERE id = $1",
                    (store_val_t[]){STORE_INTV(j->id), STORE_TEXTV(nh), STORE_INTV(j->now_ms)}, 3,
                    NULL, NULL) == 0 &&
        auth_revoke_sessions(c, j) == 0;
    if (!auth_tx_end(c, written)) {
        j->status = 503;
        return 0;
    }
    j->status = 204;
    return 0;
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

static problem_t *auth_policy_problem(const char *pw, const char *username, const char *field,
                                      size_t min)
{
    char why[160];
    if (auth_password_check(pw, username, min, why, sizeof why) == 0)
        return NULL;
    problem_t *p =
        problem_new(422, "validation", "the password does not meet the policy; see errors[]");
    problem_field_add(p, "body", field, "%s", why);
    return p;
}

static void auth_password_handler(api_req_t *req, void *ctx)
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

/* ---- users ------------------------------------------------------------------------------ */

static bool auth_username_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '.' || *s == '_' || *s == '-' || *s == '@'))
            return false;
    return true;
}

static int auth_user_create_work(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    char h[crypto_pwhash_STRBYTES];
    if (auth_hash_pw(j, j->password, h) != 0) {
        j->status = 503;
        return 0;
    }
    int64_t id = 0;
    int rc = store_insert_id(
        c,
        "INSERT INTO auth_users (username, email, role, pwhash, created_ms,"
        " updated_ms) VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
        (store_val_t[]){STORE_TEXTV(j->username), j->email ? STORE_TEXTV(j->email) : STORE_NULLV,
                        STORE_TEXTV(j->role), STORE_TEXTV(h), STORE_INTV(j->now_ms)},
        5, &id);
    if (rc == STORE_ECONSTRAINT) {
        j->status = 409;
        return 0;
    }
    if (rc < 0) {
        j->status = 503;
        return 0;
    }
    j->id = id;
    return auth_user_get_work(c, j) == 0 && j->status == 200 ? (j->status = 201, 0) : 0;
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

static void auth_user_create_handler(api_req_t *req, void *ctx)
{
    (void)ctx;
    json_t *b = api_req_body(req);
    const char *name = json_string_value(json_object_get(b, "username"));
    const char *pw = json_string_value(json_object_get(b, "password"));
    problem_t *p = NULL;
    if (!auth_username_ok(name)) {
        p = problem_validation_new();
        problem_field_add(p, "body", "/username",
                          "may contain only letters, digits, '.', '_', '-' and '@'");
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

static int auth_user_list_work(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    json_t *rows = NULL;
    if (store_query(c, "SELECT " AUTH_USER_COLS " FROM auth_users ORDER BY id", NULL, 0, &rows,
                    NULL) < 0) {
        j->status = 503;
        return 0;
    }
    json_t *arr = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r) json_array_append_new(arr, auth_user_json(r, j->now_ms));
    json_decref(rows);
    j->out = json_pack("{s:o}", "users", arr);
    j->status = 200;
    return 0;
}

static void auth_read_done(int status, void *ud)
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

static void auth_user_list_handler(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_job_t *j = auth_job_new(req);
    if (!j) {
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    auth_submit(j, auth_user_list_work, auth_read_done);
}

static void auth_user_get_handler(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_job_t *j = auth_job_new(req);
    if (!j) {
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    j->id = api_req_param_int(req, "id");
    auth_submit(j, auth_user_get_work, auth_read_done);
}

/* Would removing admin power from user j->id leave no enabled admin? Worker thread. */
static bool auth_last_admin(store_conn_t *c, auth_job_t *j)
{
    json_t *rows = NULL;
    bool last = false;
    if (store_query(c,
                    "SELECT COUNT(*) AS n FROM auth_users WHERE role = 'admin' AND disabled = 0"
                    " AND id <> $1",
                    (store_val_t[]){STORE_INTV(j->id)}, 1, &rows, NULL) == 0)
        last = json_integer_value(json_object_get(json_array_get(rows, 0), "n")) == 0;
    json_decref(rows);
    return last;
}

static int auth_user_patch_writes(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    json_t *rows = NULL;
    if (store_query(c, "SELECT role, disabled FROM auth_users WHERE id = $1",
                    (store_val_t[]){STORE_INTV(j->id)}, 1, &rows, NULL) < 0) {
        j->status = 503;
        return 0;
    }
    json_t *r = json_array_get(rows, 0);
    if (!r) {
        json_decref(rows);
        j->status = 404;
        return 0;
    }
    snprintf(j->old_role, sizeof j->old_role, "%s",
             json_string_value(json_object_get(r, "role")) ?: "");
    bool was_disabled = json_integer_value(json_object_get(r, "disabled")) != 0;
    json_decref(rows);
    bool demote =
        strcmp(j->old_role, "admin") == 0 &&
        ((j->has_role && strcmp(j->role, "admin") != 0) || (j->has_disabled && j->disabled));
    if (demote && auth_last_admin(c, j)) {
        j->status = 409;
        snprintf(j->why, sizeof j->why, "this is the last enabled admin; promote another first");
        return 0;
    }
    int rc = 0;
    if (j->has_role)
        rc |= store_query(c, "UPDATE auth_users SET role = $2 WHERE id = $1",
                          (store_val_t[]){STORE_INTV(j->id), STORE_TEXTV(j->role)}, 2, NULL, NULL);
    if (j->has_disabled)
        rc |=
            store_query(c, "UPDATE auth_users SET disabled = $2 WHERE id = $1",
                        (store_val_t[]){STORE_INTV(j->id), STORE_INTV(j->disabled)}, 2, NULL, NULL);
    if (j->has_email)
        rc |= store_query(
            c, "UPDATE auth_users SET email = $2 WHERE id = $1",
            (store_val_t[]){STORE_INTV(j->id), j->email ? STORE_TEXTV(j->email) : STORE_NULLV}, 2,
            NULL, NULL);
    rc |= store_query(c, "UPDATE auth_users SET updated_ms = $2 WHERE id = $1",
                      (store_val_t[]){STORE_INTV(j->id), STORE_INTV(j->now_ms)}, 2, NULL, NULL);
    if (rc == 0 && j->has_disabled && j->disabled && !was_disabled)
        rc = auth_revoke_sessions(c, j);
    if (rc != 0) {
        j->status = 503;
        return 0;
    }
    return auth_user_get_work(c, j);
}

static int auth_user_patch_work(store_conn_t *c, void *ud)
{
    return auth_tx(c, ud, auth_user_patch_writes);
}

static void auth_user_patch_handler(api_req_t *req, void *ctx)
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
    if ((v = json_object_get(b, "email"))) {
        j->has_email = true;
        j->email = json_is_string(v) ? strdup(json_string_value(v)) : NULL;
    }
    auth_submit(j, auth_user_patch_work, auth_user_write_done);
}

static int auth_user_delete_writes(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    json_t *rows = NULL;
    if (store_query(c, "SELECT role FROM auth_users WHERE id = $1",
                    (store_val_t[]){STORE_INTV(j->id)}, 1, &rows, NULL) < 0) {
        j->status = 503;
        return 0;
    }
    json_t *r = json_array_get(rows, 0);
    bool admin = r && strcmp(json_string_value(json_object_get(r, "role")) ?: "", "admin") == 0;
    json_decref(rows);
    if (!r) {
        j->status = 404;
        return 0;
    }
    if (admin && auth_last_admin(c, j)) {
        j->status = 409;
        snprintf(j->why, sizeof j->why, "this is the last enabled admin; promote another first");
        return 0;
    }
    if (auth_revoke_sessions(c, j) < 0 ||
        store_query(c, "DELETE FROM auth_refresh WHERE user_id = $1",
                    (store_val_t[]){STORE_INTV(j->id)}, 1, NULL, NULL) < 0 ||
        store_query(c, "DELETE FROM auth_users WHERE id = $1", (store_val_t[]){STORE_INTV(j->id)},
                    1, NULL, NULL) < 0) {
        j->status = 503;
        return 0;
    }
    j->status = 204;
    return 0;
}

static int auth_user_delete_work(store_conn_t *c, void *ud)
{
    return auth_tx(c, ud, auth_user_delete_writes);
}

static void auth_user_delete_handler(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_job_t *j = auth_job_new(req);
    if (!j) {
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    j->id = api_req_param_int(req, "id");
    auth_submit(j, auth_user_delete_work, auth_user_write_done);
}

static int auth_user_reset_work(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    char h[crypto_pwhash_STRBYTES];
    int64_t affected = 0;
    if (auth_hash_pw(j, j->password2, h) != 0 || store_tx_begin(c) < 0) {
        j->status = 503;
        return 0;
    }
    /* the new password and the end of every session: both or neither */
    bool ok = store_query(c,
                          "UPDATE auth_users SET pwhash = $2, must_change = 1, failed = 0,"
                          " locked_until_ms = 0, updated_ms = $3 WHERE id = $1",
                          (store_val_t[]){STORE_INTV(j->id), STORE_TEXTV(h), STORE_INTV(j->now_ms)},
                          3, NULL, &affected) == 0 &&
              (affected == 0 || auth_revoke_sessions(c, j) == 0);
    if (!auth_tx_end(c, ok)) {
        j->status = 503;
        return 0;
    }
    if (affected == 0) {
        j->status = 404;
        return 0;
    }
    return auth_user_get_work(c, j);
}

static void auth_user_reset_handler(api_req_t *req, void *ctx)
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

/* ---- API keys --------------------------------------------------------------------------- */

#define AUTH_KEY_COLS                                                                              \
    "id, name, role, scopes, hash, prev_hash, prev_until_ms, expires_ms, rate_limit, revoked,"     \
    " created_by, created_ms"

static int auth_key_create_work(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    char hex[2 * AUTH_HASH_BYTES + 1];
    auth_hex(j->key.hash, AUTH_HASH_BYTES, hex);
    char *sc = j->key.scopes ? json_dumps(j->key.scopes, JSON_COMPACT) : NULL;
    int64_t id = 0;
    int rc = store_insert_id(
        c,
        "INSERT INTO auth_keys (name, role, scopes, hash, expires_ms, rate_limit, created_by,"
        " created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        (store_val_t[]){STORE_TEXTV(j->key.name), STORE_TEXTV(j->key.role),
                        sc ? STORE_TEXTV(sc) : STORE_NULLV, STORE_TEXTV(hex),
                        STORE_INTV(j->key.expires_ms), STORE_INTV(j->key.rate_limit),
                        STORE_TEXTV(j->key.created_by), STORE_INTV(j->key.created_ms)},
        8, &id);
    free(sc);
    j->key.id = id;
    j->status = rc == 0 ? 201 : 503;
    return 0;
}

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

static void auth_key_create_handler(api_req_t *req, void *ctx)
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
    auth_random_secret("gk_", j->secret, sizeof j->secret);
    auth_secret_hash(a, j->secret, j->key.hash);
    auth_submit(j, auth_key_create_work, auth_key_write_done);
}

static int auth_key_list_work(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    json_t *rows = NULL;
    int rc = j->id ? store_query(c, "SELECT " AUTH_KEY_COLS " FROM auth_keys WHERE id = $1",
                                 (store_val_t[]){STORE_INTV(j->id)}, 1, &rows, NULL)
                   : store_query(c, "SELECT " AUTH_KEY_COLS " FROM auth_keys ORDER BY id", NULL, 0,
                                 &rows, NULL);
    if (rc < 0) {
        j->status = 503;
        return 0;
    }
    json_t *arr = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        auth_key_t k;
        auth_key_from_row(r, &k);
        json_array_append_new(arr, auth_key_json(&k));
        json_decref(k.scopes);
    }
    json_decref(rows);
    if (j->id) {
        j->status = json_array_size(arr) ? 200 : 404;
        j->out = json_incref(json_array_get(arr, 0));
        json_decref(arr);
    } else {
        j->out = json_pack("{s:o}", "keys", arr);
        j->status = 200;
    }
    return 0;
}

static void auth_key_list_handler(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_job_t *j = auth_job_new(req);
    if (!j) {
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    if (strcmp(api_req_path(req), "/api/v1/keys") != 0)
        j->id = api_req_param_int(req, "id");
    auth_submit(j, auth_key_list_work, auth_read_done);
}

static int auth_key_revoke_work(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    int64_t affected = 0;
    if (store_query(c, "UPDATE auth_keys SET revoked = 1 WHERE id = $1 AND revoked = 0",
                    (store_val_t[]){STORE_INTV(j->id)}, 1, NULL, &affected) < 0)
        j->status = 503;
    else
        j->status = affected ? 204 : 404;
    return 0;
}

static void auth_key_revoke_handler(api_req_t *req, void *ctx)
{
    (void)ctx;
    auth_job_t *j = auth_job_new(req);
    if (!j) {
        auth_reply_problem(req, auth_store_problem());
        return;
    }
    j->id = api_req_param_int(req, "id");
    auth_submit(j, auth_key_revoke_work, auth_key_write_done);
}

static int auth_key_rotate_work(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    char hex[2 * AUTH_HASH_BYTES + 1];
    auth_hex(j->key.hash, AUTH_HASH_BYTES, hex);
    int64_t affected = 0;
    j->key.prev_until_ms = j->now_ms + j->grace_ms;
    if (store_query(
            c,
            "UPDATE auth_keys SET prev_hash = hash, prev_until_ms = $2, hash = $3"
            " WHERE id = $1 AND revoked = 0",
            (store_val_t[]){STORE_INTV(j->id), STORE_INTV(j->key.prev_until_ms), STORE_TEXTV(hex)},
            3, NULL, &affected) < 0)
        j->status = 503;
    else
        j->status = affected ? 200 : 404;
    return 0;
}

static void auth_key_rotate_handler(api_req_t *req, void *ctx)
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
    {.name = NULL},
};
static const api_field_t auth_refresh_body[] = {
    {.name = "refresh_token",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 120},
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
     .response = "{access_token, refresh_token, token_type, expires_in, must_change_password}",
     .handler = auth_login_handler},
    {.method = "POST",
     .path = "/api/v1/auth/refresh",
     .scope = API_SCOPE_PUBLIC,
     .summary = "Exchange a refresh token for new tokens (single use)",
     .tag = "auth",
     .body_kind = API_BODY_JSON,
     .body = auth_refresh_body,
     .no_audit = true,
     .response = "{access_token, refresh_token, token_type, expires_in}",
     .handler = auth_refresh_handler},
    {.method = "POST",
     .path = "/api/v1/auth/logout",
     .scope = "self",
     .summary = "Sign out: revoke this session's refresh tokens",
     .tag = "auth",
     .status = 204,
     .no_audit = true,
     .response = "no content",
     .handler = auth_logout_handler},
    {.method = "GET",
     .path = "/api/v1/auth/me",
     .scope = "self",
     .summary = "Who the caller is",
     .tag = "auth",
     .response = "{kind, principal, id, username|name, role, ...}",
     .handler = auth_me_handler},
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
     .handler = auth_password_handler},
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
     .handler = auth_user_create_handler},
    {.method = "GET",
     .path = "/api/v1/users",
     .scope = "users:read",
     .summary = "List users",
     .tag = "users",
     .response = "{users:[...]}",
     .handler = auth_user_list_handler},
    {.method = "GET",
     .path = "/api/v1/users/{id}",
     .scope = "users:read",
     .summary = "Show a user",
     .tag = "users",
     .params = auth_id_params,
     .response = "the user",
     .handler = auth_user_get_handler},
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
     .handler = auth_user_patch_handler},
    {.method = "DELETE",
     .path = "/api/v1/users/{id}",
     .scope = "users:write",
     .summary = "Delete a user",
     .tag = "users",
     .params = auth_id_params,
     .status = 204,
     .no_audit = true,
     .response = "no content",
     .handler = auth_user_delete_handler},
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
     .handler = auth_user_reset_handler},
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
     .handler = auth_key_create_handler},
    {.method = "GET",
     .path = "/api/v1/keys",
     .scope = "keys:read",
     .summary = "List API keys",
     .tag = "keys",
     .response = "{keys:[...]}",
     .handler = auth_key_list_handler},
    {.method = "GET",
     .path = "/api/v1/keys/{id}",
     .scope = "keys:read",
     .summary = "Show an API key",
     .tag = "keys",
     .params = auth_id_params,
     .response = "the key",
     .handler = auth_key_list_handler},
    {.method = "DELETE",
     .path = "/api/v1/keys/{id}",
     .scope = "keys:write",
     .summary = "Revoke an API key",
     .tag = "keys",
     .params = auth_id_params,
     .status = 204,
     .no_audit = true,
     .response = "no content",
     .handler = auth_key_revoke_handler},
    {.method = "POST",
     .path = "/api/v1/keys/{id}/rotate",
     .scope = "keys:write",
     .summary = "New secret for a key; the old one stays valid for auth.key_grace_s",
     .tag = "keys",
     .params = auth_id_params,
     .no_audit = true,
     .response = "{id, secret, previous_valid_until, ...}",
     .handler = auth_key_rotate_handler},
};

int auth_api_register(hub_t *hub)
{
    api_register(hub->api, auth_endpoints, sizeof auth_endpoints / sizeof auth_endpoints[0]);
    api_auth_hook_set(hub->api, auth_hook, hub->auth);
    return 0;
}
