/* JWT encode/verify with EdDSA (Ed25519 via libsodium). The header is parsed and alg pinned
 * before any signature work, and claims are read only after the signature verified. */
#include "auth/auth_jwt.h"

#include <stdlib.h>
#include <string.h>

#define JWT_LEEWAY_S 30 /* clock skew tolerated for nbf/iat */

static char *jwt_b64(const unsigned char *p, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = malloc(cap);
    if (out)
        sodium_bin2base64(out, cap, p, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

/* Decodes base64url without padding; returns a malloc'd buffer (NUL-terminated) or NULL. */
static unsigned char *jwt_unb64(const char *s, size_t n, size_t *outlen)
{
    unsigned char *out = malloc(n + 1);
    if (!out)
        return NULL;
    const char *end = NULL;
    if (sodium_base642bin(out, n, s, n, NULL, outlen, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != s + n) {
        free(out);
        return NULL;
    }
    out[*outlen] = 0;
    return out;
}

char *auth_jwt_encode(const json_t *claims, const unsigned char *sk, const char *kid)
{
    json_t *hdr = json_pack("{s:s,s:s}", "alg", "EdDSA", "typ", "JWT");
    if (!hdr)
        return NULL;
    if (kid)
        json_object_set_new(hdr, "kid", json_string(kid));
    char *h = json_dumps(hdr, JSON_COMPACT);
    char *c = json_dumps(claims, JSON_COMPACT);
    json_decref(hdr);
    char *hb = h ? jwt_b64((const unsigned char *)h, strlen(h)) : NULL;
    char *cb = c ? jwt_b64((const unsigned char *)c, strlen(c)) : NULL;
    free(h);
    free(c);
    char *out = NULL;
    if (hb && cb) {
        size_t sl = strlen(hb) + 1 + strlen(cb);
        char *signing = malloc(sl + 1);
        if (signing) {
            memcpy(signing, hb, strlen(hb));
            signing[strlen(hb)] = '.';
            memcpy(signing + strlen(hb) + 1, cb, strlen(cb) + 1);
            unsigned char sig[crypto_sign_BYTES];
            crypto_sign_detached(sig, NULL, (const unsigned char *)signing, sl, sk);
            char *sb = jwt_b64(sig, sizeof sig);
            if (sb) {
                out = malloc(sl + 1 + strlen(sb) + 1);
                if (out) {
                    memcpy(out, signing, sl);
                    out[sl] = '.';
                    memcpy(out + sl + 1, sb, strlen(sb) + 1);
                }
                free(sb);
            }
            free(signing);
        }
    }
    free(hb);
    free(cb);
    return out;
}

static json_t *jwt_part_json(const char *s, size_t n)
{
    size_t len = 0;
    unsigned char *raw = jwt_unb64(s, n, &len);
    if (!raw)
        return NULL;
    json_t *j = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL);
    free(raw);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static int jwt_aud_ok(const json_t *v, const char *aud)
{
    if (json_is_string(v))
        return strcmp(json_string_value(v), aud) == 0;
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (json_is_string(e) && strcmp(json_string_value(e), aud) == 0)
                return 1;
        }
    }
    return 0;
}

int auth_jwt_verify(const char *token, const unsigned char *pk, int64_t now_s, const char *iss,
                    const char *aud, json_t **claims)
{
    *claims = NULL;
    if (!token)
        return AUTH_JWT_EMALFORMED;
    size_t tl = strnlen(token, AUTH_JWT_MAX + 1);
    if (tl == 0 || tl > AUTH_JWT_MAX)
        return AUTH_JWT_EMALFORMED;
    const char *d1 = memchr(token, '.', tl);
    if (!d1)
        return AUTH_JWT_EMALFORMED;
    const char *d2 = memchr(d1 + 1, '.', tl - (size_t)(d1 + 1 - token));
    if (!d2 || memchr(d2 + 1, '.', tl - (size_t)(d2 + 1 - token)))
        return AUTH_JWT_EMALFORMED;

    json_t *hdr = jwt_part_json(token, (size_t)(d1 - token));
    if (!hdr)
        return AUTH_JWT_EMALFORMED;
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    int alg_ok = alg && strcmp(alg, "EdDSA") == 0 && !json_object_get(hdr, "crit");
    json_decref(hdr);
    if (!alg_ok)
        return AUTH_JWT_EALG;

    size_t siglen = 0;
    unsigned char *sig = jwt_unb64(d2 + 1, tl - (size_t)(d2 + 1 - token), &siglen);
    if (!sig)
        return AUTH_JWT_EMALFORMED;
    int ok = siglen == crypto_sign_BYTES &&
             crypto_sign_verify_detached(sig, (const unsigned char *)token,
                                         (unsigned long long)(d2 - token), pk) == 0;
    free(sig);
    if (!ok)
        return AUTH_JWT_ESIG;

    json_t *c = jwt_part_json(d1 + 1, (size_t)(d2 - d1 - 1));
    if (!c)
        return AUTH_JWT_EMALFORMED;
    json_t *exp = json_object_get(c, "exp"), *iat = json_object_get(c, "iat"),
           *nbf = json_object_get(c, "nbf");
    int rc = AUTH_JWT_OK;
    if (!json_is_integer(exp) || !json_is_integer(iat) || !json_is_integer(nbf) ||
        !json_is_string(json_object_get(c, "sub")) || !json_is_string(json_object_get(c, "jti")) ||
        !json_is_string(json_object_get(c, "iss")))
        rc = AUTH_JWT_ECLAIMS;
    else if (json_integer_value(exp) <= now_s)
        rc = AUTH_JWT_EEXPIRED;
    else if (json_integer_value(nbf) > now_s + JWT_LEEWAY_S ||
             json_integer_value(iat) > now_s + JWT_LEEWAY_S)
        rc = AUTH_JWT_ENOTYET;
    else if (strcmp(json_string_value(json_object_get(c, "iss")), iss) != 0)
        rc = AUTH_JWT_EISS;
    else if (!jwt_aud_ok(json_object_get(c, "aud"), aud))
        rc = AUTH_JWT_EAUD;
    if (rc != AUTH_JWT_OK) {
        json_decref(c);
        return rc;
    }
    *claims = c;
    return AUTH_JWT_OK;
}

const char *auth_jwt_strerror(int rc)
{
    switch (rc) {
    case AUTH_JWT_OK:
        return "ok";
    case AUTH_JWT_EMALFORMED:
        return "the token is malformed";
    case AUTH_JWT_EALG:
        return "the token's algorithm is not accepted";
    case AUTH_JWT_ESIG:
        return "the token's signature is invalid";
    case AUTH_JWT_EEXPIRED:
        return "the token has expired";
    case AUTH_JWT_ENOTYET:
        return "the token is not valid yet";
    case AUTH_JWT_EISS:
        return "the token's issuer is not accepted";
    case AUTH_JWT_EAUD:
        return "the token is for another audience";
    default:
        return "the token's claims are invalid";
    }
}
