/* The database work of the account flows, on the thread pool: single-use tokens (password
 * reset, e-mail verification, invitations) stored as keyed hashes, self-registration and its
 * approval. A token is consumed by an UPDATE that only matches it unused and unexpired, in the
 * same transaction as what it unlocks, so two uses racing each other cannot both succeed. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_api_internal.h"
#include "auth/auth_policy.h"
#include "core/clock.h"
#include "net/smtp_client.h"

static void auth_token_hex(const auth_job_t *j, const char *token,
                           char hex[2 * AUTH_HASH_BYTES + 1])
{
    unsigned char h[AUTH_HASH_BYTES];
    auth_secret_hash(j->a, token, h);
    auth_hex(h, sizeof h, hex);
}

static const char *auth_token_prefix(const char *kind)
{
    if (strcmp(kind, "reset") == 0)
        return "gpr_";
    if (strcmp(kind, "verify") == 0)
        return "gev_";
    return "gin_";
}

/* Inserts a fresh token of `kind` for user_id (0 for invitations) into out (>= 64 bytes). */
static int auth_token_insert(store_conn_t *c, auth_job_t *j, const char *kind, int64_t user_id,
                             const char *email, int64_t ttl_ms, char *out, size_t outlen)
{
    char hex[2 * AUTH_HASH_BYTES + 1];
    auth_random_secret(auth_token_prefix(kind), out, outlen);
    auth_token_hex(j, out, hex);
    const char *by = api_req_principal(j->req);
    return store_query(c,
                       "INSERT INTO auth_tokens (kind, token_hash, user_id, email, created_by,"
                       " expires_ms, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                       (store_val_t[]){STORE_TEXTV(kind), STORE_TEXTV(hex), STORE_INTV(user_id),
                                       email ? STORE_TEXTV(email) : STORE_NULLV,
                                       STORE_TEXTV(by ? by : "anonymous"),
                                       STORE_INTV(j->now_ms + ttl_ms), STORE_INTV(j->now_ms)},
                       7, NULL, NULL);
}

/* Earlier unused tokens of the kind for the user stop working: only the newest one is valid. */
static int auth_token_supersede(store_conn_t *c, auth_job_t *j, const char *kind, int64_t uid)
{
    return store_query(c,
                       "UPDATE auth_tokens SET used_ms = $3 WHERE user_id = $1 AND kind = $2"
                       " AND used_ms = 0",
                       (store_val_t[]){STORE_INTV(uid), STORE_TEXTV(kind), STORE_INTV(j->now_ms)},
                       3, NULL, NULL);
}

/* Admin: a reset token for user j->id. 201, 404 or 503. */
int auth_token_issue_work(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    json_t *rows = NULL;
    if (store_query(c, "SELECT username FROM auth_users WHERE id = $1",
                    (store_val_t[]){STORE_INTV(j->id)}, 1, &rows, NULL) < 0) {
        j->status = 503;
        return 0;
    }
    const char *name = json_string_value(json_object_get(json_array_get(rows, 0), "username"));
    if (!name) {
        json_decref(rows);
        j->status = 404;
        return 0;
    }
    snprintf(j->user.username, sizeof j->user.username, "%s", name);
    json_decref(rows);
    bool ok =
        store_tx_begin(c) == 0 && auth_token_supersede(c, j, "reset", j->id) == 0 &&
        auth_token_insert(c, j, "reset", j->id, NULL, j->ttl_ms, j->secret, sizeof j->secret) == 0;
    j->status = auth_tx_end(c, ok) ? 201 : 503;
    return 0;
}

/* Anyone: a reset mailed to the account named (by username or e-mail) when it exists, can sign
 * in and has an e-mail. The asker learns nothing: j->status is 202 either way, j->mail_to says
 * whether there is something to send. */
int auth_reset_request_work(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    json_t *rows = NULL;
    j->status = 202;
    if (store_query(c,
                    "SELECT id, username, email FROM auth_users WHERE (username = $1 OR"
                    " lower(email) = lower($1)) AND disabled = 0 AND pending = 0"
                    " AND email IS NOT NULL ORDER BY id LIMIT 1",
                    (store_val_t[]){STORE_TEXTV(j->email)}, 1, &rows, NULL) < 0) {
        j->status = 503;
        return 0;
    }
    json_t *r = json_array_get(rows, 0);
    const char *email = r ? json_string_value(json_object_get(r, "email")) : NULL;
    /* an address no mail can go to (set by an admin before addresses were checked) is no
     * address: the answer must not differ from an unknown account's */
    if (!email || smtp_addr_check(email) < 0) {
        j->reason = "no_such_account";
        json_decref(rows);
        return 0;
    }
    j->user.id = json_integer_value(json_object_get(r, "id"));
    snprintf(j->user.username, sizeof j->user.username, "%s",
             json_string_value(json_object_get(r, "username")) ?: "");
    snprintf(j->mail_to, sizeof j->mail_to, "%s", email);
    json_decref(rows);
    bool ok = store_tx_begin(c) == 0 && auth_token_supersede(c, j, "reset", j->user.id) == 0 &&
              auth_token_insert(c, j, "reset", j->user.id, NULL, j->ttl_ms, j->secret,
                                sizeof j->secret) == 0 &&
              auth_mail_enqueue(c, j, "reset", j->mail_to, j->user.username, j->secret,
                                j->ttl_ms / 1000) == 0;
    if (!auth_tx_end(c, ok)) {
        j->mail_to[0] = '\0';
        j->status = 503;
    }
    return 0;
}

/* The token j->token of kind j->kind when it is unused and unexpired: its row, or NULL with
 * j->reason set. */
static json_t *auth_token_find(store_conn_t *c, auth_job_t *j, int *err)
{
    char hex[2 * AUTH_HASH_BYTES + 1];
    json_t *rows = NULL;
    auth_token_hex(j, j->token, hex);
    *err = 0;
    if (store_query(c,
                    "SELECT t.id, t.user_id, t.email, t.used_ms, t.expires_ms, u.username"
                    " FROM auth_tokens t JOIN auth_users u ON u.id = t.user_id"
                    " WHERE t.token_hash = $1 AND t.kind = $2",
                    (store_val_t[]){STORE_TEXTV(hex), STORE_TEXTV(j->kind)}, 2, &rows, NULL) < 0) {
        *err = -1;
        return NULL;
    }
    json_t *r = json_incref(json_array_get(rows, 0));
    json_decref(rows);
    if (!r)
        j->reason = "unknown";
    else if (json_integer_value(json_object_get(r, "used_ms")) != 0)
        j->reason = "used";
    else if (json_integer_value(json_object_get(r, "expires_ms")) <= j->now_ms)
        j->reason = "expired";
    else
        return r;
    json_decref(r);
    return NULL;
}

/* Marks token row r used; false when another request used it first. */
static bool auth_token_consume(store_conn_t *c, auth_job_t *j, const json_t *r)
{
    int64_t n = 0;
    return store_query(c, "UPDATE auth_tokens SET used_ms = $2 WHERE id = $1 AND used_ms = 0",
                       (store_val_t[]){STORE_INTV(json_integer_value(json_object_get(r, "id"))),
                                       STORE_INTV(j->now_ms)},
                       2, NULL, &n) == 0 &&
           n == 1;
}

/* Anyone holding a reset token: the new password j->password2. 204, 400 (token), 422
 * (policy, j->why) or 503. Every session of the user ends; a lock is lifted. */
int auth_reset_confirm_work(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    int err;
    j->status = 400;
    json_t *r = auth_token_find(c, j, &err);
    if (!r) {
        j->status = err ? 503 : 400;
        return 0;
    }
    j->id = json_integer_value(json_object_get(r, "user_id"));
    snprintf(j->user.username, sizeof j->user.username, "%s",
             json_string_value(json_object_get(r, "username")) ?: "");
    char nh[crypto_pwhash_STRBYTES];
    if (auth_password_check(j->password2, j->user.username, (size_t)j->pw_min, j->why,
                            sizeof j->why) < 0) {
        json_decref(r);
        j->status = 422;
        return 0;
    }
    if (auth_hash_pw(j, j->password2, nh) != 0) {
        json_decref(r);
        j->status = 503;
        return 0;
    }
    if (store_tx_begin(c) < 0) {
        json_decref(r);
        j->status = 503;
        return 0;
    }
    j->fam[0] = '\0';
    if (!auth_token_consume(c, j, r)) {
        (void)auth_tx_end(c, false);
        json_decref(r);
        j->reason = "used";
        j->status = 400;
        return 0;
    }
    json_decref(r);
    bool ok =
        store_query(c,
                    "UPDATE auth_users SET pwhash = $2, must_change = 0, failed = 0,"
                    " locked_until_ms = 0, updated_ms = $3 WHERE id = $1",
                    (store_val_t[]){STORE_INTV(j->id), STORE_TEXTV(nh), STORE_INTV(j->now_ms)}, 3,
                    NULL, NULL) == 0 &&
        auth_revoke_sessions(c, j) == 0;
    j->status = auth_tx_end(c, ok) ? 204 : 503;
    return 0;
}

/* The signed-in user j->id asks for a verification mail to their e-mail. 202, 409 (no e-mail,
 * already verified: j->why) or 503. */
int auth_verify_request_work(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    json_t *rows = NULL;
    if (store_query(c, "SELECT username, email, email_verified FROM auth_users WHERE id = $1",
                    (store_val_t[]){STORE_INTV(j->id)}, 1, &rows, NULL) < 0) {
        j->status = 503;
        return 0;
    }
    json_t *r = json_array_get(rows, 0);
    const char *email = json_string_value(json_object_get(r, "email"));
    snprintf(j->user.username, sizeof j->user.username, "%s",
             json_string_value(json_object_get(r, "username")) ?: "");
    if (!email || !email[0]) {
        snprintf(j->why, sizeof j->why,
                 "the account has no e-mail address; set one first (PATCH /api/v1/users/{id})");
        j->status = 409;
    } else if (smtp_addr_check(email) < 0) {
        snprintf(j->why, sizeof j->why,
                 "the account's e-mail address is not one mail can be sent to (name@domain)");
        j->status = 409;
    } else if (json_integer_value(json_object_get(r, "email_verified")) != 0) {
        snprintf(j->why, sizeof j->why, "the e-mail address %.120s is verified already", email);
        j->status = 409;
    } else {
        snprintf(j->mail_to, sizeof j->mail_to, "%s", email);
        bool ok = store_tx_begin(c) == 0 && auth_token_supersede(c, j, "verify", j->id) == 0 &&
                  auth_token_insert(c, j, "verify", j->id, email, j->ttl_ms, j->secret,
                                    sizeof j->secret) == 0 &&
                  auth_mail_enqueue(c, j, "verify", email, j->user.username, j->secret,
                                    j->ttl_ms / 1000) == 0;
        j->status = auth_tx_end(c, ok) ? 202 : 503;
        if (j->status != 202)
            j->mail_to[0] = '\0';
    }
    json_decref(rows);
    return 0;
}

/* Anyone holding a verification token: the address it was sent to is verified, if it is still
 * the account's. 200 (j->out), 400 or 503. */
int auth_verify_confirm_work(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    int err;
    json_t *r = auth_token_find(c, j, &err);
    if (!r) {
        j->status = err ? 503 : 400;
        return 0;
    }
    j->id = json_integer_value(json_object_get(r, "user_id"));
    snprintf(j->user.username, sizeof j->user.username, "%s",
             json_string_value(json_object_get(r, "username")) ?: "");
    const char *email = json_string_value(json_object_get(r, "email")) ?: "";
    int64_t n = 0;
    bool ok =
        store_tx_begin(c) == 0 && auth_token_consume(c, j, r) &&
        store_query(c,
                    "UPDATE auth_users SET email_verified = 1, updated_ms = $3"
                    " WHERE id = $1 AND email = $2",
                    (store_val_t[]){STORE_INTV(j->id), STORE_TEXTV(email), STORE_INTV(j->now_ms)},
                    3, NULL, &n) == 0 &&
        n == 1;
    if (ok)
        j->out = json_pack("{s:s,s:s,s:b}", "username", j->user.username, "email", email,
                           "email_verified", 1);
    if (!auth_tx_end(c, ok)) {
        json_decref(j->out);
        j->out = NULL;
        j->reason = n == 0 ? "email_changed" : "used";
        j->status = 400;
    } else
        j->status = 200;
    json_decref(r);
    return 0;
}

/* Admin: an invitation code, valid j->ttl_ms. 201 (j->secret) or 503. */
int auth_invite_create_work(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    j->status =
        auth_token_insert(c, j, "invite", 0, NULL, j->ttl_ms, j->secret, sizeof j->secret) == 0
            ? 201
            : 503;
    return 0;
}

/* Admin: the invitations still open (unused, unexpired), never their codes. 200 or 503. */
int auth_invite_list_work(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    json_t *rows = NULL;
    if (store_query(c,
                    "SELECT id, created_by, created_ms, expires_ms FROM auth_tokens"
                    " WHERE kind = 'invite' AND used_ms = 0 AND expires_ms > $1 ORDER BY id"
                    " LIMIT 1000",
                    (store_val_t[]){STORE_INTV(j->now_ms)}, 1, &rows, NULL) < 0) {
        j->status = 503;
        return 0;
    }
    json_t *arr = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        char c1[40], c2[40];
        json_array_append_new(
            arr, json_pack("{s:I,s:s,s:s,s:s}", "id", json_integer_value(json_object_get(r, "id")),
                           "created_by", json_string_value(json_object_get(r, "created_by")) ?: "",
                           "created_at",
                           clock_rfc3339(json_integer_value(json_object_get(r, "created_ms")), c1,
                                         sizeof c1),
                           "expires_at",
                           clock_rfc3339(json_integer_value(json_object_get(r, "expires_ms")), c2,
                                         sizeof c2)));
    }
    json_decref(rows);
    j->out = json_pack("{s:o}", "invites", arr);
    j->status = 200;
    return 0;
}

/* Admin: an open invitation j->id stops working. 204, 404 or 503. */
int auth_invite_revoke_work(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    int64_t n = 0;
    if (store_query(c,
                    "UPDATE auth_tokens SET used_ms = $2 WHERE id = $1 AND kind = 'invite'"
                    " AND used_ms = 0 AND expires_ms > $2",
                    (store_val_t[]){STORE_INTV(j->id), STORE_INTV(j->now_ms)}, 2, NULL, &n) < 0) {
        j->status = 503;
        return 0;
    }
    j->status = n == 1 ? 204 : 404;
    return 0;
}

/* Self-registration: a viewer j->username with j->password (and j->email), consuming the
 * invitation j->token when j->with_invite, disabled and pending when j->pending. A
 * verification token is issued with an e-mail when mail is on (j->verify). 201, 403
 * (invitation), 409 (name taken) or 503; j->out is the user. */
int auth_register_work(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    char h[crypto_pwhash_STRBYTES];
    if (auth_hash_pw(j, j->password, h) != 0 || store_tx_begin(c) < 0) {
        j->status = 503;
        return 0;
    }
    if (j->with_invite) {
        char hex[2 * AUTH_HASH_BYTES + 1];
        int64_t n = 0;
        auth_token_hex(j, j->token, hex);
        int qrc =
            store_query(c,
                        "UPDATE auth_tokens SET used_ms = $2 WHERE token_hash = $1 AND"
                        " kind = 'invite' AND used_ms = 0 AND expires_ms > $2",
                        (store_val_t[]){STORE_TEXTV(hex), STORE_INTV(j->now_ms)}, 2, NULL, &n);
        if (qrc < 0 || n != 1) {
            (void)auth_tx_end(c, false);
            j->status = qrc < 0 ? 503 : 403;
            return 0;
        }
    }
    int64_t id = 0;
    int rc = store_insert_id(
        c,
        "INSERT INTO auth_users (username, email, role, pwhash, disabled, pending, created_ms,"
        " updated_ms) VALUES ($1, $2, 'viewer', $3, $4, $4, $5, $5) RETURNING id",
        (store_val_t[]){STORE_TEXTV(j->username), j->email ? STORE_TEXTV(j->email) : STORE_NULLV,
                        STORE_TEXTV(h), STORE_INTV(j->pending ? 1 : 0), STORE_INTV(j->now_ms)},
        5, &id);
    if (rc < 0) {
        (void)auth_tx_end(c, false); /* the invitation stays unused */
        j->status = rc == STORE_ECONSTRAINT ? 409 : 503;
        return 0;
    }
    bool ok = true;
    if (j->email && j->mail_on) {
        ok = auth_token_insert(c, j, "verify", id, j->email, j->ttl_ms, j->verify,
                               sizeof j->verify) == 0 &&
             auth_mail_enqueue(c, j, "verify", j->email, j->username, j->verify,
                               j->ttl_ms / 1000) == 0;
        if (ok)
            snprintf(j->mail_to, sizeof j->mail_to, "%s", j->email);
    }
    if (!auth_tx_end(c, ok)) {
        j->mail_to[0] = '\0';
        j->status = 503;
        return 0;
    }
    j->id = id;
    auth_user_get_work(c, j);
    if (j->status == 200)
        j->status = 201;
    return 0;
}

/* Admin: a pending account may sign in from now on. 200 (j->out), 404, 409 (not pending) or
 * 503. */
int auth_user_approve_work(store_conn_t *c, void *ud)
{
    auth_job_t *j = ud;
    int64_t n = 0;
    if (store_query(c,
                    "UPDATE auth_users SET pending = 0, disabled = 0, updated_ms = $2"
                    " WHERE id = $1 AND pending = 1",
                    (store_val_t[]){STORE_INTV(j->id), STORE_INTV(j->now_ms)}, 2, NULL, &n) < 0) {
        j->status = 503;
        return 0;
    }
    auth_user_get_work(c, j);
    if (j->status == 200 && n != 1) {
        snprintf(j->why, sizeof j->why, "user %lld is not waiting for approval", (long long)j->id);
        j->status = 409;
    }
    return 0;
}
