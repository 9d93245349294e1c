/* What the security domain's endpoint files share: the job a request carries from its
 * handler to the thread pool and back, the helpers that answer it, the database work
 * (auth_db.c) and the handlers the endpoint table names (auth_api_session.c, auth_api_users.c,
 * auth_api_keys.c). */
#ifndef GANGLION_AUTH_API_INTERNAL_H
#define GANGLION_AUTH_API_INTERNAL_H

#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"
#include "auth/auth_internal.h"
#include "store/store.h"

#define AUTH_KEYS_PAGE_DEFAULT 100
#define AUTH_KEYS_PAGE_MAX     1000

/* One request's state: inputs copied on the loop, outputs written by the database work on the
 * thread pool, read back in the done callback. Owned by the request until auth_job_free. */
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
    auth_key_t key;        /* keys: the record to insert */
    int64_t limit, offset; /* keys list: the page */
    bool include_revoked;  /* keys list: revoked keys too */
    char secret[80];
    char team[AUTH_NAME_MAX + 1]; /* teams: the team of the path or body */
    /* account flows (auth_db_flows.c) */
    char kind[8];      /* token kind: reset, verify, invite */
    int64_t ttl_ms;    /* lifetime of the token issued */
    int64_t pw_min;    /* the password policy's shortest length */
    bool pending;      /* registration: the account waits for an admin */
    bool with_invite;  /* registration: j->token is an invitation code to consume */
    bool cookie;       /* the refresh token goes in a cookie (auth_cookie.c) */
    bool mail_on;      /* mail is configured: issue a verification token when there is an e-mail */
    char mail_to[256]; /* out: where the token issued is to be mailed; empty = nowhere */
    char verify[80];   /* out: the verification token issued with a registration */
    char *link;        /* auth.console_url when set (copied on the loop), for the mails */
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

/* ---- auth_api.c: shared by the handlers ---- */
auth_t *auth_of(api_req_t *req);
/* 409 when resources still record "user:<name>" as owner (a deleted user's): a new user of
 * that name would own them. NULL otherwise. auth_api_users.c */
problem_t *auth_username_reuse_problem(api_req_t *req, const char *name);
auth_job_t *auth_job_new(api_req_t *req);
void auth_job_free(auth_job_t *j);
void auth_reply_json(api_req_t *req, int status, json_t *body);
void auth_reply_problem(api_req_t *req, problem_t *p);
bool auth_submit(auth_job_t *j, store_work_fn work, store_done_fn done);
problem_t *auth_store_problem(void);
/* The whole of a handler that acts on the path's {id}: a job for it submitted with work and
 * done, or a 503 when no job could be made. */
void auth_submit_for_id(api_req_t *req, store_work_fn work, store_done_fn done);
json_t *auth_token_reply(auth_job_t *j);
void auth_revoke_fams_loop(auth_job_t *j);
problem_t *auth_policy_problem(const char *pw, const char *username, const char *field, size_t min);
void auth_read_done(int status, void *ud);

/* ---- auth_db.c: the database work, run on the thread pool by auth_submit ---- */
int auth_login_work(store_conn_t *c, void *ud);
int auth_refresh_work(store_conn_t *c, void *ud);
int auth_logout_work(store_conn_t *c, void *ud);
int auth_user_get_work(store_conn_t *c, void *ud);
int auth_password_work(store_conn_t *c, void *ud);
int auth_user_create_work(store_conn_t *c, void *ud);
int auth_user_list_work(store_conn_t *c, void *ud);
int auth_user_patch_work(store_conn_t *c, void *ud);
int auth_user_delete_work(store_conn_t *c, void *ud);
int auth_user_reset_work(store_conn_t *c, void *ud);
int auth_key_create_work(store_conn_t *c, void *ud);
int auth_key_list_work(store_conn_t *c, void *ud);
int auth_key_revoke_work(store_conn_t *c, void *ud);
int auth_key_rotate_work(store_conn_t *c, void *ud);

/* ---- auth_db_flows.c: registration, invitations, reset and verification tokens ---- */
int auth_token_issue_work(store_conn_t *c, void *ud);
int auth_reset_request_work(store_conn_t *c, void *ud);
int auth_reset_confirm_work(store_conn_t *c, void *ud);
int auth_verify_request_work(store_conn_t *c, void *ud);
int auth_verify_confirm_work(store_conn_t *c, void *ud);
int auth_invite_create_work(store_conn_t *c, void *ud);
int auth_invite_list_work(store_conn_t *c, void *ud);
int auth_invite_revoke_work(store_conn_t *c, void *ud);
int auth_register_work(store_conn_t *c, void *ud);
int auth_user_approve_work(store_conn_t *c, void *ud);
/* Shared with auth_db.c: the transaction helpers and the row readers. */
bool auth_tx_end(store_conn_t *c, bool ok);
int auth_hash_pw(const auth_job_t *j, const char *pw, char out[crypto_pwhash_STRBYTES]);
int auth_revoke_sessions(store_conn_t *c, auth_job_t *j);

/* ---- auth_mail.c: the mails of the account flows, sent off the loop ---- */
/* Whether a relay is configured ([mail] smtp_url). */
bool auth_mail_on(const auth_t *a);
/* Worker thread, in the transaction that issued token: puts the reset ("reset") or
 * verification ("verify") mail carrying it to `to` in the outbox. 0 or a negative code. The
 * loop kicks the outbox (mail_outbox_kick) after the commit. */
int auth_mail_enqueue(store_conn_t *c, auth_job_t *j, const char *kind, const char *to,
                      const char *username, const char *token, int64_t ttl_s);

/* ---- auth_cookie.c: the refresh token as an HttpOnly cookie, with a CSRF token ---- */
#define AUTH_CSRF_LEN (2 * AUTH_HASH_BYTES)
/* The CSRF token of a refresh token: hex of its keyed hash. */
void auth_cookie_csrf(const auth_t *a, const char *refresh, char out[AUTH_CSRF_LEN + 1]);
/* Adds the Set-Cookie headers of a refresh token (and its CSRF cookie) to the reply; csrf
 * receives the CSRF token for the body. */
void auth_cookie_set(api_req_t *req, const auth_t *a, const char *refresh, int64_t max_age_s,
                     char csrf[AUTH_CSRF_LEN + 1]);
/* Adds the Set-Cookie headers that remove both cookies. */
void auth_cookie_clear(api_req_t *req, const auth_t *a);
/* The value of cookie `name` in a Cookie header. 0, or -1 when absent, empty or too long. */
int auth_cookie_get(const char *header, const char *name, char *out, size_t outlen);
/* The refresh token of the request's cookie when its X-CSRF-Token header matches: 0; -1 when
 * there is no cookie, -2 when the CSRF header is missing or wrong (*why says which). */
int auth_cookie_refresh(api_req_t *req, const auth_t *a, char *token, size_t len, const char **why);

/* ---- handlers: auth_api_session.c, auth_api_users.c, auth_api_keys.c ---- */
void auth_api_login(api_req_t *req, void *ctx);
void auth_api_refresh(api_req_t *req, void *ctx);
void auth_api_logout(api_req_t *req, void *ctx);
void auth_api_me(api_req_t *req, void *ctx);
void auth_api_password(api_req_t *req, void *ctx);
void auth_api_user_create(api_req_t *req, void *ctx);
void auth_api_user_list(api_req_t *req, void *ctx);
void auth_api_user_get(api_req_t *req, void *ctx);
void auth_api_user_patch(api_req_t *req, void *ctx);
void auth_api_user_delete(api_req_t *req, void *ctx);
void auth_api_user_reset(api_req_t *req, void *ctx);
void auth_api_key_create(api_req_t *req, void *ctx);
void auth_api_key_list(api_req_t *req, void *ctx);
void auth_api_key_revoke(api_req_t *req, void *ctx);
void auth_api_key_rotate(api_req_t *req, void *ctx);
void auth_api_team_list(api_req_t *req, void *ctx);
void auth_api_team_get(api_req_t *req, void *ctx);
void auth_api_team_create(api_req_t *req, void *ctx);
void auth_api_team_delete(api_req_t *req, void *ctx);
void auth_api_team_member_add(api_req_t *req, void *ctx);
void auth_api_team_member_remove(api_req_t *req, void *ctx);
/* auth_api_flows.c */
void auth_api_signup(api_req_t *req, void *ctx);
void auth_api_options(api_req_t *req, void *ctx);
void auth_api_invite_create(api_req_t *req, void *ctx);
void auth_api_invite_list(api_req_t *req, void *ctx);
void auth_api_invite_revoke(api_req_t *req, void *ctx);
void auth_api_user_approve(api_req_t *req, void *ctx);
void auth_api_user_reset_token(api_req_t *req, void *ctx);
void auth_api_reset_request(api_req_t *req, void *ctx);
void auth_api_reset_confirm(api_req_t *req, void *ctx);
void auth_api_verify_request(api_req_t *req, void *ctx);
void auth_api_verify_confirm(api_req_t *req, void *ctx);
bool auth_username_ok(const char *s);

#endif
