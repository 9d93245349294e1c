/* Compact JWS (JWT) with EdDSA over Ed25519 only: encode signs a claims object, verify pins
 * alg=EdDSA (rejects "none", HS256 and anything else), checks the signature, then exp/nbf/iat,
 * iss and aud. Pure functions of their inputs (the clock is a parameter) so unit tests cover
 * them directly. */
#ifndef GANGLION_AUTH_JWT_H
#define GANGLION_AUTH_JWT_H

#include <jansson.h>
#include <stdint.h>

#include <sodium.h>

#define AUTH_JWT_MAX 8192 /* longest token accepted */

/* Signs claims (borrowed) with sk (crypto_sign_SECRETKEYBYTES). Returns a new string or NULL. */
char *auth_jwt_encode(const json_t *claims, const unsigned char *sk, const char *kid);

enum {
    AUTH_JWT_OK = 0,
    AUTH_JWT_EMALFORMED = -1, /* not three base64url parts of JSON */
    AUTH_JWT_EALG = -2,       /* alg is not EdDSA */
    AUTH_JWT_ESIG = -3,       /* signature does not verify */
    AUTH_JWT_EEXPIRED = -4,   /* exp <= now */
    AUTH_JWT_ENOTYET = -5,    /* nbf or iat in the future (beyond leeway) */
    AUTH_JWT_EISS = -6,
    AUTH_JWT_EAUD = -7,
    AUTH_JWT_ECLAIMS = -8, /* a required claim is missing or of the wrong type */
};

/* Verifies token with pk (crypto_sign_PUBLICKEYBYTES) at time now_s (epoch seconds). On
 * AUTH_JWT_OK *claims receives the payload (new reference). Required claims: iss, aud (string
 * or array containing aud), sub, jti (strings), exp, iat, nbf (integers). */
int auth_jwt_verify(const char *token, const unsigned char *pk, int64_t now_s, const char *iss,
                    const char *aud, json_t **claims);

/* Reason text for an error code (no token content in it). */
const char *auth_jwt_strerror(int rc);

#endif
