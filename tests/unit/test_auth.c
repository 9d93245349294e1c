/* The security module's pure parts: EdDSA JWT encode/verify (alg pinning, foreign keys, time
 * and audience claims), the password policy, the role → scope table and the token buckets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_jwt.h"
#include "auth/auth_policy.h"
#include "auth/auth_rate.h"

static unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];

static json_t *claims_at(int64_t now, int64_t ttl, const char *aud)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:s}", "iss", "ganglion", "aud", aud, "sub", "1",
                     "jti", "abc", "iat", (json_int_t)now, "nbf", (json_int_t)now, "exp",
                     (json_int_t)(now + ttl), "role", "admin");
}

static char *b64(const char *s)
{
    size_t cap = sodium_base64_ENCODED_LEN(strlen(s), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *o = malloc(cap);
    sodium_bin2base64(o, cap, (const unsigned char *)s, strlen(s),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return o;
}

static void test_jwt_roundtrip(void **state)
{
    (void)state;
    json_t *c = claims_at(1000, 900, "ganglion");
    char *t = auth_jwt_encode(c, sk, "kid1");
    assert_non_null(t);
    json_t *out = NULL;
    assert_int_equal(auth_jwt_verify(t, pk, 1001, "ganglion", "ganglion", &out), AUTH_JWT_OK);
    assert_string_equal(json_string_value(json_object_get(out, "role")), "admin");
    json_decref(out);
    /* expired, not yet valid, wrong issuer, wrong audience */
    assert_int_equal(auth_jwt_verify(t, pk, 1900, "ganglion", "ganglion", &out), AUTH_JWT_EEXPIRED);
    assert_int_equal(auth_jwt_verify(t, pk, 900, "ganglion", "ganglion", &out), AUTH_JWT_ENOTYET);
    assert_int_equal(auth_jwt_verify(t, pk, 1001, "other", "ganglion", &out), AUTH_JWT_EISS);
    assert_int_equal(auth_jwt_verify(t, pk, 1001, "ganglion", "other", &out), AUTH_JWT_EAUD);
    assert_null(out);
    /* a tampered payload or signature */
    char *dot = strchr(t, '.');
    dot[3] ^= 1;
    assert_int_not_equal(auth_jwt_verify(t, pk, 1001, "ganglion", "ganglion", &out), AUTH_JWT_OK);
    free(t);
    json_decref(c);
}

static void test_jwt_other_key(void **state)
{
    (void)state;
    unsigned char pk2[crypto_sign_PUBLICKEYBYTES], sk2[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(pk2, sk2);
    json_t *c = claims_at(1000, 900, "ganglion");
    char *t = auth_jwt_encode(c, sk2, NULL);
    json_t *out = NULL;
    assert_int_equal(auth_jwt_verify(t, pk, 1001, "ganglion", "ganglion", &out), AUTH_JWT_ESIG);
    free(t);
    json_decref(c);
}

static void test_jwt_alg_pinned(void **state)
{
    (void)state;
    const char *payload = "{\"iss\":\"ganglion\",\"aud\":\"ganglion\",\"sub\":\"1\",\"jti\":\"x\","
                          "\"iat\":1000,\"nbf\":1000,\"exp\":99999999999,\"role\":\"admin\"}";
    const char *hdrs[] = {"{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"alg\":\"HS256\"}",
                          "{\"alg\":\"eddsa\"}", "{\"typ\":\"JWT\"}",
                          "{\"alg\":\"EdDSA\",\"crit\":[\"x\"]}"};
    char *p = b64(payload);
    for (size_t i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++) {
        char *h = b64(hdrs[i]);
        char tok[2048];
        snprintf(tok, sizeof tok, "%s.%s.", h, p);
        json_t *out = NULL;
        assert_int_equal(auth_jwt_verify(tok, pk, 1001, "ganglion", "ganglion", &out),
                         AUTH_JWT_EALG);
        snprintf(tok, sizeof tok, "%s.%s.AAAA", h, p);
        assert_int_equal(auth_jwt_verify(tok, pk, 1001, "ganglion", "ganglion", &out),
                         AUTH_JWT_EALG);
        free(h);
    }
    free(p);
    json_t *out = NULL;
    assert_int_equal(auth_jwt_verify("abc", pk, 1, "g", "g", &out), AUTH_JWT_EMALFORMED);
    assert_int_equal(auth_jwt_verify("a.b.c.d", pk, 1, "g", "g", &out), AUTH_JWT_EMALFORMED);
    assert_int_equal(auth_jwt_verify("", pk, 1, "g", "g", &out), AUTH_JWT_EMALFORMED);
}

static void test_password_policy(void **state)
{
    (void)state;
    char why[160];
    assert_int_equal(auth_password_check("short", "bob", 12, why, sizeof why), -1);
    assert_non_null(strstr(why, "at least 12"));
    assert_int_equal(auth_password_check("password1234", "bob", 12, why, sizeof why), -1);
    assert_non_null(strstr(why, "common"));
    assert_int_equal(auth_password_check("PassWord1234", "bob", 12, why, sizeof why), -1);
    assert_int_equal(
        auth_password_check("averylongusername", "averylongusername", 12, why, sizeof why), -1);
    assert_non_null(strstr(why, "username"));
    char big[200];
    memset(big, 'x', 129);
    big[129] = 0;
    assert_int_equal(auth_password_check(big, "bob", 12, why, sizeof why), -1);
    assert_int_equal(auth_password_check("tangerine-otter-41", "bob", 12, why, sizeof why), 0);
    /* characters, not bytes: 12 two-byte letters are 12 characters */
    assert_int_equal(auth_password_check("ééééééééééé", "bob", 12, why, sizeof why), -1);
    assert_int_equal(auth_password_check("éééééééééééé", "bob", 12, why, sizeof why), 0);
    assert_int_equal(auth_password_check("abcdefgh-x1", "bob", 8, why, sizeof why), 0);
}

static void test_scope_table(void **state)
{
    (void)state;
    assert_true(auth_role_allows("admin", "admin"));
    assert_true(auth_role_allows("admin", "users:write"));
    assert_true(auth_role_allows("viewer", "public"));
    assert_true(auth_role_allows("operator", "agents:write"));
    assert_false(auth_role_allows("operator", "users:read"));
    assert_false(auth_role_allows("operator", "keys:write"));
    assert_false(auth_role_allows("operator", "admin"));
    assert_true(auth_role_allows("viewer", "system:read"));
    assert_false(auth_role_allows("viewer", "system:write"));
    assert_true(auth_role_allows("agent", "agents:write"));
    assert_false(auth_role_allows("agent", "system:read"));
    assert_true(auth_role_allows("agent", "self"));
    assert_false(auth_role_allows("root", "system:read"));
    assert_false(auth_role_allows(NULL, "system:read"));
    assert_true(auth_scope_valid("watch:read"));
    assert_false(auth_scope_valid("watch:delete"));
    assert_false(auth_scope_valid("Watch:read"));
    assert_false(auth_scope_valid(":read"));
}

static void test_buckets(void **state)
{
    (void)state;
    auth_rate_t *r = auth_rate_new(4);
    auth_rate_info_t ri;
    for (int i = 0; i < 3; i++)
        assert_true(auth_rate_take(r, "a", 1, 3, 1000, 60000, &ri));
    assert_false(auth_rate_take(r, "a", 1, 3, 1000, 60000, &ri));
    assert_int_equal(ri.retry_after, 1);
    assert_int_equal(ri.limit, 3);
    assert_int_equal(ri.remaining, 0);
    assert_true(auth_rate_take(r, "a", 1, 3, 2000, 60000, &ri)); /* one token back after 1 s */
    assert_true(auth_rate_take(r, "b", 1, 3, 2000, 60000, &ri)); /* separate bucket */
    /* bounded: more keys than room evicts, never grows */
    for (int i = 0; i < 100; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        auth_rate_take(r, k, 1, 3, 3000 + (uint64_t)i, 60000, NULL);
    }
    assert_true(auth_rate_count(r) <= 4);
    /* idle buckets are dropped */
    auth_rate_take(r, "late", 1, 3, 200000, 60000, NULL);
    assert_int_equal(auth_rate_count(r), 1);
    auth_rate_destroy(&r);
    assert_null(r);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    crypto_sign_keypair(pk, sk);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jwt_roundtrip),  cmocka_unit_test(test_jwt_other_key),
        cmocka_unit_test(test_jwt_alg_pinned), cmocka_unit_test(test_password_policy),
        cmocka_unit_test(test_scope_table),    cmocka_unit_test(test_buckets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
