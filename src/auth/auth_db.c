/* The security domain's database work: every statement of login, refresh, sessions, users and
 * API keys, run on the thread pool (store_submit) inside a transaction where a change spans
 * rows, and the password hashing that goes with it. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_api_internal.h"
#include "core/clock.h"

#define AUTH_USER_COLS                                                                             \
    "id, username, email, role, disabled, must_change, failed, locked_until_ms, created_ms,"       \
    " updated_ms, email_verified, pending"
#define AUTH_KEY_COLS                                                                              \
    "id, name, role, scopes, hash, prev_hash, prev_until_ms, expires_ms, rate_limit, revoked,"     \
    " created_by, created_ms, team"

/* Ends a transaction begun by the caller: commits when ok, else (or when the commit fails) rolls
 * back. Returns whether the writes are committed. */
bool auth_tx_end(store_conn_t *c, bool ok)
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

int auth_hash_pw(const auth_job_t *j, const char *pw, char out[crypto_pwhash_STRBYTES])
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
        "{s:I,s:s,s:O,s:b,s:b,s:s,s:b,s:b,s:b,s:s,s:s}", "id",
        json_integer_value(json_object_get(r, "id")), "username",
        json_string_value(json_object_get(r, "username")) ?: "", "email",
        email ? email : json_null(), "email_verified",
        json_integer_value(json_object_get(r, "email_verified")) != 0, "pending",
        json_integer_value(json_object_get(r, "pending")) != 0, "role",
        json_string_value(json_object_get(r, "role")) ?: "", "disabled",
        json_integer_value(json_object_get(r, "disabled")) != 0, "must_change_password",
        json_integer_value(json_object_get(r, "must_change")) != 0, "locked", locked > now_ms,
        "created_at",
        clock_rfc3339(json_integer_value(json_object_get(r, "created_ms")), c, sizeof c),
        "updated_at",
        clock_rfc3339(json_integer_value(json_object_get(r, "updated_ms")), u, sizeof u));
}

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

int auth_login_work(store_conn_t *c, void *ud)
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
int auth_refresh_work(store_conn_t *c, void *ud)
{
    return auth_tx(c, ud, auth_refresh_writes);
}

int auth_logout_work(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    j->status = store_query(c, "UPDATE auth_refresh SET revoked = 1 WHERE family = $1",
                            (store_val_t[]){STORE_TEXTV(j->fam)}, 1, NULL, NULL) == 0
                    ? 204
                    : 503;
    return 0;
}

int auth_user_get_work(store_conn_t *c, void *ud)
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

/* Revokes every session family of user j->id except j->fam (empty = all), collecting them in
 * j->fams so the loop can refuse their access tokens at once. Worker thread. */
int auth_revoke_sessions(store_conn_t *c, auth_job_t *j)
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

int auth_password_work(store_conn_t *c, void *ud)
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

int auth_user_create_work(store_conn_t *c, void *ud)
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

int auth_user_list_work(store_conn_t *c, void *ud)
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
            /* enabling a self-registered account waiting for approval approves it */
            store_query(c,
                        "UPDATE auth_users SET disabled = $2, pending = pending * $2 WHERE id = $1",
                        (store_val_t[]){STORE_INTV(j->id), STORE_INTV(j->disabled)}, 2, NULL, NULL);
    if (j->has_email)
        rc |= store_query(
            c, "UPDATE auth_users SET email = $2, email_verified = 0 WHERE id = $1",
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

int auth_user_patch_work(store_conn_t *c, void *ud)
{
    return auth_tx(c, ud, auth_user_patch_writes);
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
        store_query(c, "DELETE FROM auth_team_members WHERE user_id = $1",
                    (store_val_t[]){STORE_INTV(j->id)}, 1, NULL, NULL) < 0 ||
        store_query(c, "DELETE FROM auth_users WHERE id = $1", (store_val_t[]){STORE_INTV(j->id)},
                    1, NULL, NULL) < 0) {
        j->status = 503;
        return 0;
    }
    j->status = 204;
    return 0;
}

int auth_user_delete_work(store_conn_t *c, void *ud)
{
    return auth_tx(c, ud, auth_user_delete_writes);
}

int auth_user_reset_work(store_conn_t *c, void *ud)
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

int auth_key_create_work(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    char hex[2 * AUTH_HASH_BYTES + 1];
    auth_hex(j->key.hash, AUTH_HASH_BYTES, hex);
    char *sc = j->key.scopes ? json_dumps(j->key.scopes, JSON_COMPACT) : NULL;
    int64_t id = 0;
    int rc = store_insert_id(
        c,
        "INSERT INTO auth_keys (name, role, scopes, hash, expires_ms, rate_limit, created_by,"
        " created_ms, team) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        (store_val_t[]){STORE_TEXTV(j->key.name), STORE_TEXTV(j->key.role),
                        sc ? STORE_TEXTV(sc) : STORE_NULLV, STORE_TEXTV(hex),
                        STORE_INTV(j->key.expires_ms), STORE_INTV(j->key.rate_limit),
                        STORE_TEXTV(j->key.created_by), STORE_INTV(j->key.created_ms),
                        j->key.team[0] ? STORE_TEXTV(j->key.team) : STORE_NULLV},
        9, &id);
    free(sc);
    j->key.id = id;
    j->status = rc == 0 ? 201 : 503;
    return 0;
}

/* GET /api/v1/keys/{id}, or a page of GET /api/v1/keys: {keys, total, limit, offset,
 * has_more}, revoked keys only when asked for (a revoked key is kept for the audit trail but
 * is rarely what a listing is for). */
int auth_key_list_work(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    json_t *rows = NULL, *count = NULL;
    int64_t total = 0;
    int rc;
    if (j->id) {
        rc = store_query(c, "SELECT " AUTH_KEY_COLS " FROM auth_keys WHERE id = $1",
                         (store_val_t[]){STORE_INTV(j->id)}, 1, &rows, NULL);
    } else {
        store_val_t all = STORE_INTV(j->include_revoked ? 1 : 0);
        rc = store_query(c, "SELECT COUNT(*) AS n FROM auth_keys WHERE ($1 = 1 OR revoked = 0)",
                         &all, 1, &count, NULL);
        total = json_integer_value(json_object_get(json_array_get(count, 0), "n"));
        json_decref(count);
        if (rc == 0)
            rc = store_query(c,
                             "SELECT " AUTH_KEY_COLS " FROM auth_keys WHERE ($1 = 1 OR revoked = 0)"
                             " ORDER BY id LIMIT $2 OFFSET $3",
                             (store_val_t[]){all, STORE_INTV(j->limit), STORE_INTV(j->offset)}, 3,
                             &rows, NULL);
    }
    if (rc < 0) {
        json_decref(rows);
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
        j->out = json_pack("{s:o,s:I,s:I,s:I,s:b}", "keys", arr, "total", (json_int_t)total,
                           "limit", (json_int_t)j->limit, "offset", (json_int_t)j->offset,
                           "has_more", j->offset + (int64_t)json_array_size(arr) < total);
        j->status = 200;
    }
    return 0;
}

int auth_key_revoke_work(store_conn_t *c, void *ud)
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

int auth_key_rotate_work(store_conn_t *c, void *ud)
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
