/* The security domain's state and the registry's auth hook: signing key and server secret in
 * the data dir, first-start admin bootstrap, in-memory indexes of API keys and users (so a
 * request is verified with a hash and a lookup, no database round trip), scope enforcement and
 * token-bucket rate limits. */
#include "auth/auth_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth_jwt.h"
#include "auth/auth_policy.h"
#include "core/clock.h"
#include "core/fmt.h"
#include "core/hash.h"
#include "core/log.h"
#include "net/mail_outbox.h"
#include "store/audit.h"

/* ---- migrations ------------------------------------------------------------------------- */

#define AUTH_USERS_COLS                                                                            \
    " username TEXT NOT NULL UNIQUE,"                                                              \
    " email TEXT,"                                                                                 \
    " role TEXT NOT NULL,"                                                                         \
    " pwhash TEXT NOT NULL,"                                                                       \
    " disabled INTEGER NOT NULL DEFAULT 0,"                                                        \
    " must_change INTEGER NOT NULL DEFAULT 0,"                                                     \
    " failed INTEGER NOT NULL DEFAULT 0,"                                                          \
    " locked_until_ms BIGINT NOT NULL DEFAULT 0,"                                                  \
    " created_ms BIGINT NOT NULL,"                                                                 \
    " updated_ms BIGINT NOT NULL)"
#define AUTH_REFRESH_COLS                                                                          \
    " user_id BIGINT NOT NULL,"                                                                    \
    " family TEXT NOT NULL,"                                                                       \
    " token_hash TEXT NOT NULL UNIQUE,"                                                            \
    " used INTEGER NOT NULL DEFAULT 0,"                                                            \
    " revoked INTEGER NOT NULL DEFAULT 0,"                                                         \
    " expires_ms BIGINT NOT NULL,"                                                                 \
    " created_ms BIGINT NOT NULL);"                                                                \
    "CREATE INDEX auth_refresh_family ON auth_refresh (family);"                                   \
    "CREATE INDEX auth_refresh_user ON auth_refresh (user_id)"
#define AUTH_KEYS_COLS                                                                             \
    " name TEXT NOT NULL,"                                                                         \
    " role TEXT NOT NULL,"                                                                         \
    " scopes TEXT,"                                                                                \
    " hash TEXT NOT NULL UNIQUE,"                                                                  \
    " prev_hash TEXT,"                                                                             \
    " prev_until_ms BIGINT NOT NULL DEFAULT 0,"                                                    \
    " expires_ms BIGINT NOT NULL DEFAULT 0,"                                                       \
    " rate_limit BIGINT NOT NULL DEFAULT 0,"                                                       \
    " revoked INTEGER NOT NULL DEFAULT 0,"                                                         \
    " created_by TEXT NOT NULL,"                                                                   \
    " created_ms BIGINT NOT NULL)"

#define AUTH_TEAMS_COLS                                                                            \
    " name TEXT NOT NULL UNIQUE,"                                                                  \
    " created_ms BIGINT NOT NULL)"
#define AUTH_MEMBERS_TABLE                                                                         \
    "CREATE TABLE auth_team_members ("                                                             \
    " team_id BIGINT NOT NULL REFERENCES auth_teams (id),"                                         \
    " user_id BIGINT NOT NULL REFERENCES auth_users (id),"                                         \
    " created_ms BIGINT NOT NULL,"                                                                 \
    " PRIMARY KEY (team_id, user_id));"                                                            \
    "CREATE INDEX auth_team_members_user ON auth_team_members (user_id)"
/* Single-use tokens of the account flows (password reset, e-mail verification, invitations),
 * kept as keyed hashes; the users' e-mail verification and pending-approval flags. */
#define AUTH_TOKENS_COLS                                                                           \
    " kind TEXT NOT NULL,"                                                                         \
    " token_hash TEXT NOT NULL UNIQUE,"                                                            \
    " user_id BIGINT NOT NULL DEFAULT 0,"                                                          \
    " email TEXT,"                                                                                 \
    " created_by TEXT NOT NULL,"                                                                   \
    " expires_ms BIGINT NOT NULL,"                                                                 \
    " used_ms BIGINT NOT NULL DEFAULT 0,"                                                          \
    " created_ms BIGINT NOT NULL);"                                                                \
    "CREATE INDEX auth_tokens_user ON auth_tokens (user_id);"                                      \
    "ALTER TABLE auth_users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;"                 \
    "ALTER TABLE auth_users ADD COLUMN pending INTEGER NOT NULL DEFAULT 0"

/* The durable outbox of src/net/mail_outbox.c: mails sealed with a key derived from the server
 * secret, until the relay took them. */
#define AUTH_OUTBOX_COLS                                                                           \
    " source TEXT NOT NULL,"                                                                       \
    " recipient TEXT NOT NULL,"                                                                    \
    " sealed TEXT NOT NULL,"                                                                       \
    " attempts INTEGER NOT NULL DEFAULT 0,"                                                        \
    " next_ms BIGINT NOT NULL,"                                                                    \
    " last_error TEXT,"                                                                            \
    " created_ms BIGINT NOT NULL);"                                                                \
    "CREATE INDEX mail_outbox_due ON mail_outbox (source, next_ms)"

const store_migration_t auth_migration_list[] = {
    {
        .version = 100,
        .name = "auth_create",
        .sql_sqlite =
            "CREATE TABLE auth_users (id INTEGER PRIMARY KEY AUTOINCREMENT," AUTH_USERS_COLS
            ";CREATE TABLE auth_refresh (id INTEGER PRIMARY KEY AUTOINCREMENT," AUTH_REFRESH_COLS
            ";CREATE TABLE auth_keys (id INTEGER PRIMARY KEY AUTOINCREMENT," AUTH_KEYS_COLS,
        .sql_pg = "CREATE TABLE auth_users (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY "
                  "KEY," AUTH_USERS_COLS ";CREATE TABLE auth_refresh (id BIGINT GENERATED ALWAYS "
                  "AS IDENTITY PRIMARY KEY," AUTH_REFRESH_COLS
                  ";CREATE TABLE auth_keys (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY "
                  "KEY," AUTH_KEYS_COLS,
    },
    {
        /* teams: named groups of users that resources are shared with (auth_teams.c) */
        .version = 101,
        .name = "auth_teams",
        .sql_sqlite =
            "CREATE TABLE auth_teams (id INTEGER PRIMARY KEY AUTOINCREMENT," AUTH_TEAMS_COLS,
        .sql_pg = "CREATE TABLE auth_teams (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY "
                  "KEY," AUTH_TEAMS_COLS,
    },
    {
        .version = 102,
        .name = "auth_team_members",
        .sql_sqlite = AUTH_MEMBERS_TABLE,
    },
    {
        /* the team an API key acts with, beside its creator's teams */
        .version = 103,
        .name = "auth_key_team",
        .sql_sqlite = "ALTER TABLE auth_keys ADD COLUMN team TEXT",
    },
    {
        .version = 105,
        .name = "auth_account_flows",
        .sql_sqlite =
            "CREATE TABLE auth_tokens (id INTEGER PRIMARY KEY AUTOINCREMENT," AUTH_TOKENS_COLS,
        .sql_pg = "CREATE TABLE auth_tokens (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY "
                  "KEY," AUTH_TOKENS_COLS,
    },
    {
        .version = 106,
        .name = "mail_outbox",
        .sql_sqlite =
            "CREATE TABLE mail_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT," AUTH_OUTBOX_COLS,
        .sql_pg = "CREATE TABLE mail_outbox (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY "
                  "KEY," AUTH_OUTBOX_COLS,
    },
};

const store_migration_t *auth_migrations(size_t *n)
{
    *n = sizeof auth_migration_list / sizeof auth_migration_list[0];
    return auth_migration_list;
}

/* ---- small helpers ---------------------------------------------------------------------- */

void auth_hex(const unsigned char *p, size_t n, char *out)
{
    sodium_bin2hex(out, 2 * n + 1, p, n);
}

int auth_unhex(const char *s, unsigned char *out, size_t n)
{
    size_t got = 0;
    const char *end = NULL;
    if (!s || strlen(s) != 2 * n || sodium_hex2bin(out, n, s, 2 * n, NULL, &got, &end) != 0 ||
        got != n)
        return -1;
    return 0;
}

void auth_secret_hash(const auth_t *a, const char *secret, unsigned char out[AUTH_HASH_BYTES])
{
    crypto_generichash(out, AUTH_HASH_BYTES, (const unsigned char *)secret, strlen(secret),
                       a->secret, sizeof a->secret);
}

void auth_random_secret(const char *prefix, char *out, size_t outlen)
{
    unsigned char r[32];
    randombytes_buf(r, sizeof r);
    size_t pl = strlen(prefix);
    snprintf(out, outlen, "%s", prefix);
    sodium_bin2base64(out + pl, outlen - pl, r, sizeof r, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(r, sizeof r);
}

void auth_random_hex(char *out, size_t nbytes)
{
    unsigned char r[32];
    if (nbytes > sizeof r)
        nbytes = sizeof r;
    randombytes_buf(r, nbytes);
    auth_hex(r, nbytes, out);
}

void auth_audit(api_req_t *req, const char *action, int result, json_t *detail)
{
    hub_t *hub = api_req_hub(req);
    audit_entry_t e = {
        .principal = api_req_principal(req),
        .action = action,
        .target = api_req_path(req),
        .result = result,
        .request_id = api_req_id(req),
        .transport = api_req_transport(req),
        .peer = api_req_peer(req),
        .detail = detail,
    };
    if (hub && hub->store)
        (void)audit_write(hub->store, hub->loop, &e);
    json_decref(detail);
}

/* ---- files in the data dir -------------------------------------------------------------- */

/* Reads exactly n bytes from path (1), creates it with fresh random bytes, mode 0600 (0), or
 * fails (-1, logged). A file of the wrong size is an error, never silently replaced. */
static int auth_file_secret(const char *dir, const char *name, unsigned char *buf, size_t n,
                            bool is_sign_key, unsigned char *pk)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) {
        struct stat st;
        ssize_t got = -1;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == n)
            got = read(fd, buf, n);
        close(fd);
        if (got != (ssize_t)n) {
            log_error(NULL, "auth: key file has the wrong size or cannot be read", "{s:s}", "path",
                      path);
            return -1;
        }
        if (is_sign_key)
            crypto_sign_ed25519_sk_to_pk(pk, buf);
        return 1;
    }
    if (errno != ENOENT) {
        log_error(NULL, "auth: cannot open key file", "{s:s,s:s}", "path", path, "reason",
                  strerror(errno));
        return -1;
    }
    if (is_sign_key)
        crypto_sign_keypair(pk, buf);
    else
        randombytes_buf(buf, n);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || write(fd, buf, n) != (ssize_t)n || fsync(fd) != 0) {
        log_error(NULL, "auth: cannot write key file", "{s:s,s:s}", "path", path, "reason",
                  strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/* Writes `secret` and a newline to <dir>/<name> (mode 0600, replaced atomically). 0 or -1. */
static int auth_write_secret_file(const char *dir, const char *name, const char *secret)
{
    char path[1024], tmp[1100];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -1;
    size_t n = strlen(secret);
    int ok = write(fd, secret, n) == (ssize_t)n && write(fd, "\n", 1) == 1 &&
             fchmod(fd, 0600) == 0 && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* ---- in-memory indexes ------------------------------------------------------------------ */

auth_key_t *auth_key_find(auth_t *a, int64_t id)
{
    for (size_t i = 0; i < a->nkeys; i++)
        if (a->keys[i].id == id)
            return &a->keys[i];
    return NULL;
}

auth_key_t *auth_key_add(auth_t *a, const auth_key_t *k)
{
    if (a->nkeys == a->capkeys) {
        size_t cap = a->capkeys ? a->capkeys * 2 : 16;
        auth_key_t *n = realloc(a->keys, cap * sizeof *n);
        if (!n)
            return NULL;
        a->keys = n;
        a->capkeys = cap;
    }
    a->keys[a->nkeys] = *k;
    return &a->keys[a->nkeys++];
}

static uint64_t auth_slot_hash(const unsigned char *h)
{
    uint64_t v;
    memcpy(&v, h, sizeof v); /* the hash is already uniform */
    return v;
}

static void auth_slot_put(auth_t *a, uint32_t idx, bool prev)
{
    const unsigned char *h = prev ? a->keys[idx].prev_hash : a->keys[idx].hash;
    size_t mask = a->nslots - 1;
    for (size_t s = auth_slot_hash(h) & mask;; s = (s + 1) & mask) {
        if (!a->slots[s].key) {
            a->slots[s].key = idx + 1;
            a->slots[s].prev = prev;
            return;
        }
    }
}

void auth_keys_reindex(auth_t *a)
{
    size_t want = 16;
    while (want < a->nkeys * 4)
        want *= 2;
    if (want != a->nslots) {
        auth_slot_t *n = calloc(want, sizeof *n);
        if (!n)
            return; /* keep the old (still correct) table */
        free(a->slots);
        a->slots = n;
        a->nslots = want;
    } else {
        memset(a->slots, 0, a->nslots * sizeof *a->slots);
    }
    for (size_t i = 0; i < a->nkeys; i++) {
        if (a->keys[i].revoked)
            continue;
        auth_slot_put(a, (uint32_t)i, false);
        if (a->keys[i].prev_until_ms)
            auth_slot_put(a, (uint32_t)i, true);
    }
}

static auth_key_t *auth_key_lookup(auth_t *a, const unsigned char *h, bool *prev)
{
    if (!a->nslots)
        return NULL;
    size_t mask = a->nslots - 1;
    for (size_t s = auth_slot_hash(h) & mask; a->slots[s].key; s = (s + 1) & mask) {
        auth_key_t *k = &a->keys[a->slots[s].key - 1];
        const unsigned char *kh = a->slots[s].prev ? k->prev_hash : k->hash;
        if (sodium_memcmp(kh, h, AUTH_HASH_BYTES) == 0) {
            *prev = a->slots[s].prev;
            return k;
        }
    }
    return NULL;
}

auth_user_t *auth_user_find(auth_t *a, int64_t id)
{
    for (size_t i = 0; i < a->nusers; i++)
        if (a->users[i].id == id)
            return &a->users[i];
    return NULL;
}

auth_user_t *auth_user_put(auth_t *a, const auth_user_t *u)
{
    auth_user_t *e = auth_user_find(a, u->id);
    if (e) {
        int64_t va = e->valid_after_s > u->valid_after_s ? e->valid_after_s : u->valid_after_s;
        *e = *u;
        e->valid_after_s = va;
        return e;
    }
    if (a->nusers == a->capusers) {
        size_t cap = a->capusers ? a->capusers * 2 : 16;
        auth_user_t *n = realloc(a->users, cap * sizeof *n);
        if (!n)
            return NULL;
        a->users = n;
        a->capusers = cap;
    }
    a->users[a->nusers] = *u;
    return &a->users[a->nusers++];
}

void auth_user_forget(auth_t *a, int64_t id)
{
    for (size_t i = 0; i < a->nusers; i++)
        if (a->users[i].id == id) {
            a->users[i] = a->users[--a->nusers];
            return;
        }
}

void auth_fam_revoke(auth_t *a, const char *fam)
{
    int64_t now = clock_wall_ms() / 1000;
    size_t w = 0;
    for (size_t i = 0; i < a->nfams; i++) /* forget families whose tokens are all expired */
        if (a->fams[i].until_s > now)
            a->fams[w++] = a->fams[i];
    a->nfams = w;
    if (a->nfams == a->capfams) {
        size_t cap = a->capfams ? a->capfams * 2 : 16;
        auth_fam_t *n = realloc(a->fams, cap * sizeof *n);
        if (!n)
            return;
        a->fams = n;
        a->capfams = cap;
    }
    snprintf(a->fams[a->nfams].fam, sizeof a->fams[0].fam, "%s", fam);
    a->fams[a->nfams].until_s = now + a->hub->cfg.auth_access_ttl_s + 60;
    a->nfams++;
}

static bool auth_fam_revoked(const auth_t *a, const char *fam)
{
    for (size_t i = 0; i < a->nfams; i++)
        if (strcmp(a->fams[i].fam, fam) == 0)
            return true;
    return false;
}

int auth_key_from_row(const json_t *row, auth_key_t *k)
{
    memset(k, 0, sizeof *k);
    k->id = json_integer_value(json_object_get(row, "id"));
    snprintf(k->name, sizeof k->name, "%s", json_string_value(json_object_get(row, "name")) ?: "");
    snprintf(k->role, sizeof k->role, "%s", json_string_value(json_object_get(row, "role")) ?: "");
    snprintf(k->created_by, sizeof k->created_by, "%s",
             json_string_value(json_object_get(row, "created_by")) ?: "");
    k->expires_ms = json_integer_value(json_object_get(row, "expires_ms"));
    k->rate_limit = json_integer_value(json_object_get(row, "rate_limit"));
    k->created_ms = json_integer_value(json_object_get(row, "created_ms"));
    k->revoked = json_integer_value(json_object_get(row, "revoked")) != 0;
    k->prev_until_ms = json_integer_value(json_object_get(row, "prev_until_ms"));
    snprintf(k->team, sizeof k->team, "%s", json_string_value(json_object_get(row, "team")) ?: "");
    const char *sc = json_string_value(json_object_get(row, "scopes"));
    if (sc && *sc) {
        k->scopes = json_loads(sc, 0, NULL);
        if (!json_is_array(k->scopes)) {
            json_decref(k->scopes);
            k->scopes = json_array(); /* unreadable: grant nothing rather than the whole role */
        }
    }
    if (auth_unhex(json_string_value(json_object_get(row, "hash")), k->hash, AUTH_HASH_BYTES) < 0)
        k->revoked = true;
    if (k->prev_until_ms && auth_unhex(json_string_value(json_object_get(row, "prev_hash")),
                                       k->prev_hash, AUTH_HASH_BYTES) < 0)
        k->prev_until_ms = 0;
    return 0;
}

json_t *auth_key_json(const auth_key_t *k)
{
    char ts[40];
    json_t *o = json_pack("{s:I,s:s,s:s,s:O?,s:b,s:s,s:I}", "id", (json_int_t)k->id, "name",
                          k->name, "role", k->role, "scopes", k->scopes, "revoked", k->revoked,
                          "created_by", k->created_by, "rate_limit", (json_int_t)k->rate_limit);
    if (!o)
        return NULL;
    json_object_set_new(o, "created_at", json_string(clock_rfc3339(k->created_ms, ts, sizeof ts)));
    json_object_set_new(o, "expires_at",
                        k->expires_ms ? json_string(clock_rfc3339(k->expires_ms, ts, sizeof ts))
                                      : json_null());
    json_object_set_new(o, "previous_valid_until",
                        k->prev_until_ms
                            ? json_string(clock_rfc3339(k->prev_until_ms, ts, sizeof ts))
                            : json_null());
    json_object_set_new(o, "owner", json_string(k->created_by));
    json_object_set_new(o, "team", k->team[0] ? json_string(k->team) : json_null());
    return o;
}

/* ---- tokens ----------------------------------------------------------------------------- */

static json_t *auth_role_scopes(const char *role)
{
    /* The scopes a token lists for clients; enforcement uses the role table itself. */
    json_t *a = json_array();
    if (strcmp(role, "admin") == 0)
        json_array_append_new(a, json_string("*"));
    else if (strcmp(role, "operator") == 0) {
        json_array_append_new(a, json_string("*:read"));
        json_array_append_new(a, json_string("*:write"));
    } else if (strcmp(role, "viewer") == 0)
        json_array_append_new(a, json_string("*:read"));
    else if (strcmp(role, "agent") == 0) {
        json_array_append_new(a, json_string("agents:read"));
        json_array_append_new(a, json_string("agents:write"));
        json_array_append_new(a, json_string("events:read"));
    }
    json_array_append_new(a, json_string("self"));
    return a;
}

char *auth_access_token(auth_t *a, const auth_user_t *u, const char *fam)
{
    int64_t now = clock_wall_ms() / 1000;
    char jti[33], sub[32];
    auth_random_hex(jti, 16);
    snprintf(sub, sizeof sub, "%lld", (long long)u->id);
    json_t *c =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:o,s:s,s:b}", "iss",
                  a->hub->cfg.auth_issuer, "aud", a->hub->cfg.auth_audience, "sub", sub, "name",
                  u->username, "jti", jti, "role", u->role, "iat", (json_int_t)now, "nbf",
                  (json_int_t)now, "exp", (json_int_t)(now + a->hub->cfg.auth_access_ttl_s),
                  "scopes", auth_role_scopes(u->role), "fam", fam, "pwc", u->must_change);
    if (!c)
        return NULL;
    char *t = auth_jwt_encode(c, a->sk, a->kid);
    json_decref(c);
    return t;
}

/* ---- identification --------------------------------------------------------------------- */

/* The keyed hash of an API key (len <= AUTH_KEY_SECRET_MAX), remembered for the keys seen
 * recently: a repeated key costs a comparison instead of a BLAKE2b. The slot is picked by a
 * cheap hash; an entry is used only when the whole key matches (compared in constant time). */
static void auth_key_hash_cached(auth_t *a, const char *cred, size_t len,
                                 unsigned char out[AUTH_HASH_BYTES])
{
    uint64_t h = hash_fnv1a(HASH_FNV1A_SEED, cred, len);
    auth_keyhash_t *e = &a->keyhash[h % AUTH_KEYHASH_SLOTS];
    if (e->len == len && sodium_memcmp(e->secret, cred, len) == 0) {
        memcpy(out, e->hash, AUTH_HASH_BYTES);
        return;
    }
    auth_secret_hash(a, cred, out);
    memcpy(e->secret, cred, len);
    memcpy(e->hash, out, AUTH_HASH_BYTES);
    e->len = len;
}

int auth_identify(auth_t *a, api_req_t *req, auth_ident_t *id, const char **why)
{
    memset(id, 0, sizeof *id);
    *why = NULL;
    if (api_req_credential_error(req)) {
        *why = api_req_credential_error(req);
        return -1;
    }
    const char *cred = api_req_credential(req);
    if (!cred || !*cred)
        return 1;
    int64_t now_ms = clock_wall_ms();
    if (strncmp(cred, "gk_", 3) == 0) {
        size_t clen = strlen(cred);
        if (clen > AUTH_KEY_SECRET_MAX) {
            *why = "the API key is invalid";
            return -1;
        }
        unsigned char hh[AUTH_HASH_BYTES];
        auth_key_hash_cached(a, cred, clen, hh);
        bool prev = false;
        auth_key_t *k = auth_key_lookup(a, hh, &prev);
        if (!k || k->revoked || (prev && k->prev_until_ms <= now_ms)) {
            *why = "the API key is invalid or revoked";
            return -1;
        }
        if (k->expires_ms && k->expires_ms <= now_ms) {
            *why = "the API key has expired";
            return -1;
        }
        id->kind = AUTH_ID_KEY;
        id->id = k->id;
        fmt_copy(id->name, sizeof id->name, k->name);
        fmt_copy(id->role, sizeof id->role, k->role);
        /* "key:<id>" */
        memcpy(id->principal, "key:", 4);
        id->principal[4 + fmt_i64(id->principal + 4, k->id)] = '\0';
        id->scopes = k->scopes;
        id->rate_limit = k->rate_limit;
        return 0;
    }
    /* A token verified before is found by its hash: one BLAKE2b instead of an Ed25519
     * verification and two JSON parses. Everything that can change after issue (the user, its
     * role, revocations) is still checked below on every request. */
    unsigned char th[AUTH_HASH_BYTES];
    crypto_generichash(th, sizeof th, (const unsigned char *)cred, strlen(cred), NULL, 0);
    auth_jwt_seen_t *slot = &a->seen[auth_slot_hash(th) % AUTH_SEEN_SLOTS];
    auth_jwt_seen_t t;
    if (slot->exp_s > now_ms / 1000 && sodium_memcmp(slot->hash, th, sizeof th) == 0) {
        t = *slot;
    } else {
        json_t *c = NULL;
        int rc = auth_jwt_verify(cred, a->pk, now_ms / 1000, a->hub->cfg.auth_issuer,
                                 a->hub->cfg.auth_audience, &c);
        if (rc != AUTH_JWT_OK) {
            *why = auth_jwt_strerror(rc);
            return -1;
        }
        const char *sub = json_string_value(json_object_get(c, "sub"));
        const char *role = json_string_value(json_object_get(c, "role"));
        const char *fam = json_string_value(json_object_get(c, "fam"));
        char *end = NULL;
        memset(&t, 0, sizeof t);
        t.uid = strtoll(sub, &end, 10);
        if (!end || *end || end == sub || !role || !fam || strlen(fam) != AUTH_FAM_LEN ||
            strlen(role) >= sizeof t.role) {
            json_decref(c);
            *why = "the token's claims are invalid";
            return -1;
        }
        memcpy(t.hash, th, sizeof th);
        snprintf(t.role, sizeof t.role, "%s", role);
        snprintf(t.fam, sizeof t.fam, "%s", fam);
        t.iat = json_integer_value(json_object_get(c, "iat"));
        t.exp_s = json_integer_value(json_object_get(c, "exp"));
        json_decref(c);
        *slot = t;
    }
    auth_user_t *u = auth_user_find(a, t.uid);
    if (!u || u->disabled)
        *why = "the token's user does not exist or is disabled";
    else if (strcmp(t.role, u->role) != 0)
        *why = "the user's role changed since the token was issued; refresh it";
    else if (t.iat < u->valid_after_s || auth_fam_revoked(a, t.fam))
        *why = "the token was revoked";
    else {
        id->kind = AUTH_ID_USER;
        id->id = u->id;
        fmt_copy(id->name, sizeof id->name, u->username);
        fmt_copy(id->role, sizeof id->role, u->role);
        memcpy(id->principal, "user:", 5);
        fmt_copy(id->principal + 5, sizeof id->principal - 5, u->username);
        fmt_copy(id->fam, sizeof id->fam, t.fam);
        id->must_change = u->must_change;
        return 0;
    }
    return -1;
}

bool auth_ident_allows(const auth_ident_t *id, const char *scope)
{
    if (!auth_role_allows(id->role, scope))
        return false;
    if (id->kind == AUTH_ID_KEY && id->scopes) {
        size_t i;
        json_t *s;
        json_array_foreach(id->scopes, i, s)
        {
            if (json_is_string(s) && strcmp(json_string_value(s), scope) == 0)
                return true;
        }
        return false;
    }
    return true;
}

/* ---- the hook --------------------------------------------------------------------------- */

static problem_t *auth_unauthorized(const char *why, bool invalid)
{
    problem_t *p = problem_new(401, "unauthorized", "%s",
                               why ? why : "this endpoint needs a bearer token or an API key");
    problem_header_set(p, "WWW-Authenticate",
                       invalid ? "Bearer realm=\"ganglion\", error=\"invalid_token\""
                               : "Bearer realm=\"ganglion\"");
    problem_header_set(p, "Cache-Control", "no-store");
    return p;
}

problem_t *auth_limited(const auth_rate_info_t *ri, const char *what)
{
    problem_t *p =
        problem_new(429, "rate-limited", "too many requests from this %s; retry in %lld s", what,
                    (long long)ri->retry_after);
    char b[32];
    snprintf(b, sizeof b, "%lld", (long long)ri->retry_after);
    problem_header_set(p, "Retry-After", b);
    snprintf(b, sizeof b, "%lld", (long long)ri->limit);
    problem_header_set(p, "RateLimit-Limit", b);
    snprintf(b, sizeof b, "%lld", (long long)ri->remaining);
    problem_header_set(p, "RateLimit-Remaining", b);
    snprintf(b, sizeof b, "%lld", (long long)ri->reset_s);
    problem_header_set(p, "RateLimit-Reset", b);
    problem_ext_set(p, "retry_after", json_integer(ri->retry_after));
    return p;
}

static bool auth_is_auth_class(const api_endpoint_t *ep)
{
    return strncmp(ep->path, "/api/v1/auth/", 13) == 0;
}

static int64_t auth_role_rate(const config_t *cfg, const char *role)
{
    if (strcmp(role, "admin") == 0)
        return cfg->rl_admin_rate;
    if (strcmp(role, "operator") == 0)
        return cfg->rl_operator_rate;
    if (strcmp(role, "agent") == 0)
        return cfg->rl_agent_rate;
    return cfg->rl_viewer_rate;
}

/* The client's address without the port ("127.0.0.1:5555" -> "127.0.0.1", "[::1]:5555" ->
 * "[::1]"): buckets are per address, not per connection. */
static void auth_peer_addr(const char *peer, char *out, size_t outlen)
{
    size_t n = strlen(peer);
    const char *colon = strchr(peer, ':');
    if (peer[0] == '[' && strchr(peer, ']'))
        n = (size_t)(strchr(peer, ']') - peer) + 1;
    else if (colon && !strchr(colon + 1, ':'))
        n = (size_t)(colon - peer);
    if (n > outlen - 1)
        n = outlen - 1;
    memcpy(out, peer, n);
    out[n] = '\0';
}

problem_t *auth_hook(api_req_t *req, const api_endpoint_t *ep, void *ud)
{
    auth_t *a = ud;
    const config_t *cfg = &a->hub->cfg;
    uint64_t now = (uint64_t)clock_wall_ms();
    uint64_t idle = (uint64_t)cfg->rl_idle_s * 1000u;
    auth_rate_info_t ri;
    char key[128];
    /* Health probes are never throttled: an orchestrator must always see them. */
    bool probe = strcmp(ep->path, "/healthz") == 0 || strcmp(ep->path, "/readyz") == 0;
    if (cfg->rl_enabled && !probe) {
        char peer[80];
        auth_peer_addr(api_req_peer(req), peer, sizeof peer);
        snprintf(key, sizeof key, "ip:%s", peer);
        if (!auth_rate_take(a->rate, key, (double)cfg->rl_ip_rate, (double)cfg->rl_ip_burst, now,
                            idle, &ri))
            return auth_limited(&ri, "address");
        if (auth_is_auth_class(ep) && strcmp(ep->scope, API_SCOPE_PUBLIC) == 0) {
            snprintf(key, sizeof key, "auth:%s", peer);
            if (!auth_rate_take(a->rate, key, (double)cfg->rl_auth_rate, (double)cfg->rl_auth_burst,
                                now, idle, &ri))
                return auth_limited(&ri, "address");
        }
    }
    bool public = strcmp(ep->scope, API_SCOPE_PUBLIC) == 0 ||
                  (cfg->auth_public_metrics && strcmp(ep->path, "/metrics") == 0) ||
                  (cfg->auth_public_openapi && strcmp(ep->path, "/openapi.json") == 0);
    if (public)
        return NULL;
    auth_ident_t id;
    const char *why = NULL;
    int rc = auth_identify(a, req, &id, &why);
    if (rc != 0)
        return auth_unauthorized(rc > 0 ? NULL : why, rc < 0);
    api_req_principal_set(req, id.principal);
    api_req_role_set(req, id.role);
    if (strcmp(id.role, "admin") != 0 && (a->nmembers || id.kind == AUTH_ID_KEY)) {
        char teams[1024]; /* what the ownership checks (api/api_owner.h) share by */
        auth_ident_teams(a, &id, teams, sizeof teams);
        api_req_teams_set(req, teams);
    }
    if (!auth_ident_allows(&id, ep->scope)) {
        problem_t *p =
            problem_new(403, "forbidden", "this endpoint needs the scope %s, which %s lacks",
                        ep->scope, id.principal);
        problem_ext_set(p, "required_scope", json_string(ep->scope));
        return p;
    }
    if (id.must_change && strcmp(ep->scope, "self") != 0) {
        problem_t *p =
            problem_new(403, "password-change-required",
                        "the password must be changed first (POST /api/v1/auth/password)");
        problem_ext_set(p, "required_scope", json_string(ep->scope));
        return p;
    }
    if (cfg->rl_enabled) {
        int64_t rate = id.rate_limit > 0 ? id.rate_limit : auth_role_rate(cfg, id.role);
        /* At least one second of the principal's rate, so a fast role is not capped by a
         * bucket sized for a slow one. */
        double burst = (double)cfg->rl_principal_burst;
        if (burst < (double)rate)
            burst = (double)rate;
        if (id.rate_limit > 0 && burst > (double)id.rate_limit * 10)
            burst = (double)id.rate_limit * 10;
        snprintf(key, sizeof key, "p:%s", id.principal);
        if (!auth_rate_take(a->rate, key, (double)rate, burst, now, idle, &ri))
            return auth_limited(&ri, "principal");
    }
    return NULL;
}

/* ---- start ------------------------------------------------------------------------------ */

static int auth_load(auth_t *a, store_conn_t *c)
{
    json_t *rows = NULL;
    if (store_query(c, "SELECT id, username, role, disabled, must_change FROM auth_users", NULL, 0,
                    &rows, NULL) < 0)
        return -1;
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        auth_user_t u = {.id = json_integer_value(json_object_get(r, "id"))};
        snprintf(u.username, sizeof u.username, "%s",
                 json_string_value(json_object_get(r, "username")) ?: "");
        snprintf(u.role, sizeof u.role, "%s", json_string_value(json_object_get(r, "role")) ?: "");
        u.disabled = json_integer_value(json_object_get(r, "disabled")) != 0;
        u.must_change = json_integer_value(json_object_get(r, "must_change")) != 0;
        auth_user_put(a, &u);
    }
    json_decref(rows);
    rows = NULL;
    if (store_query(
            c,
            "SELECT id, name, role, scopes, hash, prev_hash, prev_until_ms, expires_ms,"
            " rate_limit, revoked, created_by, created_ms, team FROM auth_keys WHERE revoked = 0",
            NULL, 0, &rows, NULL) < 0)
        return -1;
    json_array_foreach(rows, i, r)
    {
        auth_key_t k;
        auth_key_from_row(r, &k);
        if (!auth_key_add(a, &k))
            json_decref(k.scopes);
    }
    json_decref(rows);
    auth_keys_reindex(a);
    return 0;
}

void auth_first_password_forget(auth_t *a)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", a->hub->cfg.data_dir, AUTH_FIRST_PASSWORD_FILE);
    if (unlink(path) < 0 && errno != ENOENT)
        log_warn(NULL, "auth: cannot remove " AUTH_FIRST_PASSWORD_FILE, "{s:s}", "reason",
                 strerror(errno));
}

/* First start: `admin` with the given or a random password, and a local admin API key in
 * <data-dir>/admin.token for the CLI on this machine. */
static int auth_bootstrap(auth_t *a, store_conn_t *c)
{
    json_t *rows = NULL;
    if (store_query(c, "SELECT COUNT(*) AS n FROM auth_users", NULL, 0, &rows, NULL) < 0)
        return -1;
    json_int_t n = json_integer_value(json_object_get(json_array_get(rows, 0), "n"));
    json_decref(rows);
    if (n > 0)
        return 0;
    const config_t *cfg = &a->hub->cfg;
    char pw[AUTH_PASSWORD_MAX * 4 + 1];
    const char *given = getenv("GANGLION_ADMIN_PASSWORD");
    if (given && *given) {
        char why[128];
        if (auth_password_check(given, "admin", (size_t)cfg->auth_password_min, why, sizeof why) <
            0) {
            fprintf(stderr, "ganglion serve: GANGLION_ADMIN_PASSWORD %s\n", why);
            log_error(NULL, "auth: GANGLION_ADMIN_PASSWORD is not acceptable", "{s:s}", "reason",
                      why);
            return -1;
        }
        snprintf(pw, sizeof pw, "%s", given);
    } else {
        auth_random_secret("", pw, 48); /* 32 random bytes: 43 characters */
        pw[24] = 0;
    }
    char hash[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str(hash, pw, strlen(pw), (unsigned long long)cfg->auth_pwhash_opslimit,
                          (size_t)cfg->auth_pwhash_memlimit) != 0) {
        sodium_memzero(pw, sizeof pw);
        return -1;
    }
    int64_t now = clock_wall_ms();
    char secret[80], hhex[2 * AUTH_HASH_BYTES + 1];
    auth_random_secret("gk_", secret, sizeof secret);
    unsigned char hh[AUTH_HASH_BYTES];
    auth_secret_hash(a, secret, hh);
    auth_hex(hh, sizeof hh, hhex);
    int64_t uid = 0, kid = 0;
    /* The generated password goes to a 0600 file before the admin exists, so a start that fails
     * later (port busy, killed, stderr lost) never leaves an admin nobody can sign in as. It is
     * removed when the admin changes the password (auth_first_password_forget). */
    bool saved = !(given && *given);
    if (saved && auth_write_secret_file(cfg->data_dir, AUTH_FIRST_PASSWORD_FILE, pw) < 0) {
        log_error(NULL, "auth: cannot write " AUTH_FIRST_PASSWORD_FILE, "{s:s,s:s}", "data_dir",
                  cfg->data_dir, "reason", strerror(errno));
        fprintf(stderr, "ganglion serve: cannot write %s/%s: %s\n", cfg->data_dir,
                AUTH_FIRST_PASSWORD_FILE, strerror(errno));
        sodium_memzero(pw, sizeof pw);
        return -1;
    }
    int rc = store_tx_begin(c);
    if (rc == 0)
        rc = store_insert_id(
            c,
            "INSERT INTO auth_users (username, role, pwhash, created_ms, updated_ms)"
            " VALUES ('admin', 'admin', $1, $2, $2) RETURNING id",
            (store_val_t[]){STORE_TEXTV(hash), STORE_INTV(now)}, 2, &uid);
    if (rc == 0)
        rc = store_insert_id(c,
                             "INSERT INTO auth_keys (name, role, hash, created_by, created_ms)"
                             " VALUES ('local-admin', 'admin', $1, 'system', $2) RETURNING id",
                             (store_val_t[]){STORE_TEXTV(hhex), STORE_INTV(now)}, 2, &kid);
    bool committed = false;
    if (rc == 0)
        committed = (rc = store_tx_commit(c)) == 0;
    else
        store_tx_rollback(c);
    if (rc == 0 && auth_write_secret_file(cfg->data_dir, "admin.token", secret) < 0) {
        log_error(NULL, "auth: cannot write admin.token", "{s:s}", "data_dir", cfg->data_dir);
        rc = -1;
    }
    sodium_memzero(secret, sizeof secret);
    if (saved && !committed) {
        auth_first_password_forget(a);
    } else if (rc == 0) {
        if (saved)
            fprintf(stderr,
                    "ganglion: created user 'admin' with password: %s\n"
                    "ganglion: it is kept in %s/%s (mode 0600) until the admin changes it;\n"
                    "ganglion: the local CLI uses %s/admin.token\n",
                    pw, cfg->data_dir, AUTH_FIRST_PASSWORD_FILE, cfg->data_dir);
        log_info(NULL, "auth: created the first admin user and the local admin key", "{s:s,s:I}",
                 "user", "admin", "key_id", (json_int_t)kid);
    }
    sodium_memzero(pw, sizeof pw);
    return rc < 0 ? -1 : 0;
}

int auth_start(hub_t *hub)
{
    if (sodium_init() < 0)
        return -1;
    auth_t *a = calloc(1, sizeof *a);
    if (!a)
        return -1;
    a->hub = hub;
    hub->auth = a;
    if (auth_file_secret(hub->cfg.data_dir, "auth_signing.key", a->sk, sizeof a->sk, true, a->pk) <
            0 ||
        auth_file_secret(hub->cfg.data_dir, "auth_secret.key", a->secret, sizeof a->secret, false,
                         NULL) < 0)
        return -1;
    unsigned char kh[8];
    crypto_generichash(kh, sizeof kh, a->pk, sizeof a->pk, NULL, 0);
    auth_hex(kh, sizeof kh, a->kid);
    a->rate = auth_rate_new((size_t)hub->cfg.rl_max_buckets);
    if (!a->rate)
        return -1;
    /* The outbox key: derived from the server secret, so no second file to keep. */
    crypto_generichash(a->outbox_key, sizeof a->outbox_key, (const unsigned char *)"mail-outbox",
                       11, a->secret, sizeof a->secret);
    a->outbox = mail_outbox_new(hub->loop, hub->store, "auth", a->outbox_key, auth_mail_conf, a);
    if (!a->outbox)
        return -1;
    mail_outbox_retry_set(a->outbox, hub->cfg.mail_retry_s * 1000);
    /* A dummy hash for unknown users, so their login costs what a real one does. */
    char rnd[48];
    auth_random_secret("", rnd, sizeof rnd);
    if (crypto_pwhash_str(a->dummy_hash, rnd, strlen(rnd),
                          (unsigned long long)hub->cfg.auth_pwhash_opslimit,
                          (size_t)hub->cfg.auth_pwhash_memlimit) != 0)
        return -1;
    store_conn_t *c = store_conn_acquire(hub->store);
    if (!c)
        return -1;
    int rc = auth_bootstrap(a, c);
    if (rc == 0)
        rc = auth_load(a, c);
    if (rc == 0)
        rc = auth_teams_load(a, c);
    if (rc < 0)
        log_error(NULL, "auth: cannot load users and keys", "{s:s}", "reason",
                  store_conn_error(c) ?: "");
    store_conn_release(hub->store, c);
    if (rc < 0)
        return -1;
    return 0;
}

void auth_shutdown(hub_t *hub)
{
    if (hub->auth)
        mail_outbox_shutdown(hub->auth->outbox);
}

bool auth_busy(const hub_t *hub)
{
    return hub->auth && mail_outbox_busy(hub->auth->outbox) > 0;
}

void auth_destroy(hub_t *hub)
{
    auth_t *a = hub ? hub->auth : NULL;
    if (!a)
        return;
    for (size_t i = 0; i < a->nkeys; i++)
        json_decref(a->keys[i].scopes);
    free(a->keys);
    free(a->slots);
    free(a->users);
    free(a->fams);
    auth_teams_free(a);
    auth_rate_destroy(&a->rate);
    mail_outbox_destroy(&a->outbox);
    sodium_memzero(a, sizeof *a);
    free(a);
    hub->auth = NULL;
}

/* what the vault backs up for this domain (core/backup.h) */
const backup_decl_t auth_backup = {
    "auth",
    BACKUP_LIST("auth_users", "auth_keys", "auth_refresh", "auth_teams", "auth_team_members",
                "auth_tokens", "mail_outbox"),
    BACKUP_LIST("auth_signing.key", "auth_secret.key", "admin.token", AUTH_FIRST_PASSWORD_FILE)};
