/* Internal to src/auth: the domain's state (keys, the in-memory API key and user indexes,
 * revoked session families, rate buckets) and what auth.c (state, hook) and auth_api.c
 * (endpoints) share. Everything here is touched on the loop thread only. */
#ifndef GANGLION_AUTH_INTERNAL_H
#define GANGLION_AUTH_INTERNAL_H

#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"
#include "auth/auth.h"
#include "auth/auth_rate.h"
#include "core/hub.h"

#define AUTH_HASH_BYTES 32
#define AUTH_NAME_MAX   64
#define AUTH_FAM_LEN    32 /* hex of 16 random bytes */

typedef struct auth_key {
    int64_t id;
    char name[AUTH_NAME_MAX + 1];
    char role[16];
    json_t *scopes;     /* array of strings (a subset of the role's), or NULL = the role's */
    int64_t expires_ms; /* 0 = never */
    int64_t rate_limit; /* requests/s, 0 = the role's */
    int64_t created_ms;
    char created_by[96];
    bool revoked;
    unsigned char hash[AUTH_HASH_BYTES];
    unsigned char prev_hash[AUTH_HASH_BYTES];
    int64_t prev_until_ms;        /* the previous secret is valid until then; 0 = none */
    char team[AUTH_NAME_MAX + 1]; /* the team the key acts with (beside its creator's); "" */
} auth_key_t;

typedef struct auth_user {
    int64_t id;
    char username[AUTH_NAME_MAX + 1];
    char role[16];
    bool disabled;
    bool must_change;
    int64_t valid_after_s; /* access tokens issued before this are refused */
} auth_user_t;

typedef struct auth_team {
    int64_t id;
    char name[AUTH_NAME_MAX + 1];
} auth_team_t;

typedef struct auth_member {
    int64_t team_id, user_id;
} auth_member_t;

typedef struct auth_fam {
    char fam[AUTH_FAM_LEN + 1];
    int64_t until_s; /* forgotten once every access token of the family has expired */
} auth_fam_t;

typedef struct auth_slot {
    uint32_t key; /* index + 1 into keys, 0 = empty */
    bool prev;
} auth_slot_t;

/* A verified access token remembered by its hash (what was signed cannot change). */
#define AUTH_SEEN_SLOTS 4096
typedef struct auth_jwt_seen {
    unsigned char hash[AUTH_HASH_BYTES];
    int64_t exp_s; /* 0 = empty slot */
    int64_t iat;
    int64_t uid;
    char role[16];
    char fam[AUTH_FAM_LEN + 1];
} auth_jwt_seen_t;

/* An API key as presented and its keyed hash: the hash is a pure function of the key and the
 * server secret (fixed for the process), so remembering it changes nothing about what the key
 * may do — revocation, expiry and rotation are still read from the key index every time. */
#define AUTH_KEYHASH_SLOTS  256
#define AUTH_KEY_SECRET_MAX 128
typedef struct auth_keyhash {
    size_t len; /* 0 = empty slot */
    char secret[AUTH_KEY_SECRET_MAX];
    unsigned char hash[AUTH_HASH_BYTES];
} auth_keyhash_t;

struct auth {
    hub_t *hub;
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    char kid[17];
    unsigned char secret[32]; /* keys the hashes of API keys and refresh tokens */
    char dummy_hash[crypto_pwhash_STRBYTES];
    auth_key_t *keys;
    size_t nkeys, capkeys;
    auth_slot_t *slots; /* open addressing over key hashes, rebuilt on every change */
    size_t nslots;
    auth_user_t *users;
    size_t nusers, capusers;
    auth_fam_t *fams;
    size_t nfams, capfams;
    auth_team_t *teams; /* auth_teams.c */
    size_t nteams, capteams;
    auth_member_t *members;
    size_t nmembers, capmembers;
    auth_rate_t *rate;
    struct mail_outbox *outbox;   /* the reset and verification mails (net/mail_outbox.h) */
    unsigned char outbox_key[32]; /* seals them at rest */
    auth_jwt_seen_t seen[AUTH_SEEN_SLOTS];      /* direct-mapped by token hash */
    auth_keyhash_t keyhash[AUTH_KEYHASH_SLOTS]; /* direct-mapped by a cheap hash of the key */
};

/* Who a request is, as resolved from its credential. */
typedef enum { AUTH_ID_NONE = 0, AUTH_ID_USER, AUTH_ID_KEY } auth_id_kind_t;

typedef struct auth_ident {
    auth_id_kind_t kind;
    int64_t id; /* user id or key id */
    char name[AUTH_NAME_MAX + 1];
    char role[16];
    char principal[96];         /* "user:alice", "key:7" */
    char fam[AUTH_FAM_LEN + 1]; /* users: the session family of the access token */
    const json_t *scopes;       /* keys: the subset, or NULL (borrowed from the index) */
    int64_t rate_limit;         /* keys: their own limit, 0 = the role's */
    bool must_change;
} auth_ident_t;

/* Resolves the request's credential (Authorization: Bearer <jwt|gk_…> or X-Api-Key). Returns 0
 * with *id filled, 1 when there is no credential, or -1 with a reason (no secret in it) when
 * the credential is invalid, expired or revoked. Only while the request's headers are
 * readable: in the auth hook and synchronously in a handler. */
int auth_identify(auth_t *a, api_req_t *req, auth_ident_t *id, const char **why);

/* Whether the ident may use scope (role table, then the key's own subset). */
bool auth_ident_allows(const auth_ident_t *id, const char *scope);

/* Keyed hash (the server secret) of a secret, for API keys and refresh tokens. */
void auth_secret_hash(const auth_t *a, const char *secret, unsigned char out[AUTH_HASH_BYTES]);
void auth_hex(const unsigned char *p, size_t n, char *out); /* out: 2n+1 */
int auth_unhex(const char *s, unsigned char *out, size_t n);

/* Random printable secret with a prefix: "gk_" + 43 base64url chars. out >= 64 bytes. */
void auth_random_secret(const char *prefix, char *out, size_t outlen);
void auth_random_hex(char *out, size_t nbytes); /* out: 2*nbytes+1 */

/* The in-memory key index: add (copied; the scopes reference is taken), find, rebuild. */
auth_key_t *auth_key_add(auth_t *a, const auth_key_t *k);
auth_key_t *auth_key_find(auth_t *a, int64_t id);
void auth_keys_reindex(auth_t *a);

/* The in-memory user state. */
auth_user_t *auth_user_find(auth_t *a, int64_t id);
auth_user_t *auth_user_put(auth_t *a, const auth_user_t *u);
void auth_user_forget(auth_t *a, int64_t id);

/* Removes AUTH_FIRST_PASSWORD_FILE once the admin has changed the password (missing is fine). */
void auth_first_password_forget(auth_t *a);
void auth_fam_revoke(auth_t *a, const char *fam);

/* Signs an access token for a user and session family. Caller frees. */
char *auth_access_token(auth_t *a, const auth_user_t *u, const char *fam);

/* Writes an audit row for req (principal, request id, peer, transport taken from it). */
void auth_audit(api_req_t *req, const char *action, int result, json_t *detail /* stolen */);

/* A row → key record (scopes parsed). 0 or -1. */
int auth_key_from_row(const json_t *row, auth_key_t *k);
/* Key record → the JSON shown by the API (never the secret or its hash). New reference. */
json_t *auth_key_json(const auth_key_t *k);

/* The 429 of a refused rate bucket (Retry-After and RateLimit-* headers), naming what was
 * limited ("address", "principal", "account"). */
problem_t *auth_limited(const auth_rate_info_t *ri, const char *what);

/* The relay settings of [mail] for the outbox (auth_mail.c); ud is the auth_t. */
struct smtp_conf;
void auth_mail_conf(void *ud, struct smtp_conf *out);

/* The registry's auth hook (auth.c): installed by auth_api_register. */
problem_t *auth_hook(api_req_t *req, const api_endpoint_t *ep, void *ud);

/* Teams (auth_teams.c): loaded at start, the caller's teams for the auth hook (','-separated
 * into out, within cap), a user's team names (new array), memberships dropped (a team's with
 * user 0, a user's with team 0). */
int auth_teams_load(auth_t *a, store_conn_t *c);
void auth_teams_free(auth_t *a);
void auth_ident_teams(auth_t *a, const auth_ident_t *id, char *out, size_t cap);
json_t *auth_user_teams_json(auth_t *a, int64_t user);
bool auth_team_exists(auth_t *a, const char *name);
void auth_members_drop(auth_t *a, int64_t team, int64_t user);
auth_team_t *auth_team_by_name(auth_t *a, const char *name);
auth_team_t *auth_team_by_id(auth_t *a, int64_t id);
auth_user_t *auth_user_by_name(auth_t *a, const char *name);
/* Adds to memory (no-op when present); 0 or -1 (out of memory). */
int auth_team_put(auth_t *a, int64_t id, const char *name);
int auth_member_put(auth_t *a, int64_t team, int64_t user);
void auth_team_drop(auth_t *a, int64_t id);

/* Migrations (auth.c). */
extern const store_migration_t auth_migration_list[];

#endif
