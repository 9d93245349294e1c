/* Fuzzes credential parsing: the Authorization and X-Api-Key headers of any request as HTTP reads
 * them (http_credential in src/net/http_parse.c), then auth_identify in src/auth/auth.c (API
 * keys) and src/auth/auth_jwt.c (tokens), before anything else looks at the request. Input:
 * a selector byte, then two fields separated by "\n--\n". Selector bit 0 clear: the fields are
 * the two header values as sent. Bit 0 set: they are a JWT header and claims (JSON text), which
 * the harness signs with the server's own key, so the claim checks behind the signature are
 * reached too. A user (id 1, admin) and an API key exist; seeds hold a working token and key. */
#include <assert.h>

#include "auth/auth_internal.h"
#include "auth/auth_jwt.h"
#include "core/clock.h"
#include "fuzz_util.h"
#include "net/http_parse.h"

/* The API key the harness's index knows (key id 7, role viewer). */
#define FUZZ_AUTH_KEY "gk_fuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuz"

static hub_t hub;
static auth_t *auth;
static api_registry_t *reg;

static void fuzz_identify(api_req_t *req, void *ctx)
{
    auth_ident_t id;
    const char *why = NULL;
    int rc = auth_identify(auth, req, &id, &why);
    if (rc == 0) {
        assert(id.kind == AUTH_ID_USER || id.kind == AUTH_ID_KEY);
        (void)auth_ident_allows(&id, "agents:read");
    } else if (rc < 0) {
        assert(why && *why); /* a refusal says why, for the 401's detail */
    }
    api_reply_empty(req, rc == 0 ? 204 : 401);
}

static void fuzz_reply(const api_reply_t *r, void *tctx)
{
    (void)r;
    (void)tctx;
}

static const api_endpoint_t fuzz_endpoints[] = {
    {.method = "GET",
     .path = "/fuzz",
     .scope = API_SCOPE_PUBLIC,
     .summary = "identify",
     .tag = "fuzz",
     .handler = fuzz_identify},
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    if (sodium_init() < 0)
        abort();
    config_defaults(&hub.cfg);
    reg = api_registry_new(&hub);
    auth = calloc(1, sizeof *auth);
    if (!reg || !auth)
        abort();
    hub.api = reg;
    auth->hub = &hub;
    unsigned char seed[crypto_sign_SEEDBYTES];
    memset(seed, 0x5a, sizeof seed);
    crypto_sign_seed_keypair(auth->pk, auth->sk, seed);
    memset(auth->secret, 0xa5, sizeof auth->secret);
    snprintf(auth->kid, sizeof auth->kid, "fuzzkid000000000");
    auth_user_t u = {.id = 1, .username = "admin", .role = "admin"};
    if (!auth_user_put(auth, &u))
        abort();
    auth_key_t k = {.id = 7, .name = "fuzz", .role = "viewer"};
    auth_secret_hash(auth, FUZZ_AUTH_KEY, k.hash);
    if (!auth_key_add(auth, &k))
        abort();
    auth_keys_reindex(auth);
    api_register(reg, fuzz_endpoints, 1);
    return 0;
}

static char *fuzz_b64url(const char *s, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = malloc(cap);
    if (!out)
        abort();
    sodium_bin2base64(out, cap, (const unsigned char *)s, n,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

/* "Bearer " + b64url(header) "." b64url(claims) "." b64url(Ed25519 signature). */
static char *fuzz_sign(const char *hdr, size_t hl, const char *claims, size_t cl)
{
    char *h = fuzz_b64url(hdr, hl), *c = fuzz_b64url(claims, cl);
    size_t n = strlen(h) + 1 + strlen(c);
    char *signing = malloc(n + 1);
    if (!signing)
        abort();
    snprintf(signing, n + 1, "%s.%s", h, c);
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const unsigned char *)signing, n, auth->sk);
    char *s = fuzz_b64url((const char *)sig, sizeof sig);
    size_t total = 7 + n + 1 + strlen(s) + 1;
    char *out = malloc(total);
    if (!out)
        abort();
    snprintf(out, total, "Bearer %s.%s", signing, s);
    free(h);
    free(c);
    free(s);
    free(signing);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    unsigned sel = fuzz_next_byte(&in);
    size_t l1, l2;
    char *f1 = fuzz_next_field(&in, &l1);
    char *f2 = fuzz_next_field(&in, &l2);
    /* the caches would make the outcome depend on earlier inputs */
    memset(auth->seen, 0, sizeof auth->seen);
    memset(auth->keyhash, 0, sizeof auth->keyhash);

    const char *authorization = NULL, *api_key = NULL;
    char *signed_token = NULL;
    if (sel & 1) {
        signed_token = fuzz_sign(f1, l1, f2, l2);
        authorization = signed_token;
        json_t *claims = NULL;
        int rc = auth_jwt_verify(signed_token + 7, auth->pk, clock_wall_ms() / 1000, "ganglion",
                                 "ganglion", &claims);
        assert((rc == AUTH_JWT_OK) == (claims != NULL));
        assert(rc != AUTH_JWT_ESIG); /* the harness signed it */
        json_decref(claims);
    } else {
        authorization = l1 ? f1 : NULL;
        api_key = l2 ? f2 : NULL;
    }
    api_call_t call = {.method = "GET", .path = "/fuzz", .transport = "fuzz", .peer = "127.0.0.1"};
    int crc = http_credential(authorization, api_key, &call.credential, &call.credential_error);
    assert((crc == 0) == (call.credential_error == NULL));
    api_req_t *pending = api_dispatch(reg, &call, fuzz_reply, NULL);
    assert(pending == NULL);
    free(signed_token);
    free(f1);
    free(f2);
    return 0;
}
