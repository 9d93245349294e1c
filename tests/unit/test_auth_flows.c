/* The pure parts of the account flows: token hashes keyed with the server secret (what the
 * store keeps instead of a reset, verification or invitation token), the CSRF token bound to a
 * refresh token, and the cookie header parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "auth/auth_api_internal.h"

static auth_t *auth_with_secret(unsigned char fill)
{
    auth_t *a = calloc(1, sizeof *a);
    assert_non_null(a);
    memset(a->secret, fill, sizeof a->secret);
    return a;
}

static void test_token_hash_is_keyed(void **state)
{
    (void)state;
    auth_t *a = auth_with_secret(1), *b = auth_with_secret(2);
    char tok[80];
    auth_random_secret("gpr_", tok, sizeof tok);
    assert_int_equal(strlen(tok), 4 + 43);
    assert_memory_equal(tok, "gpr_", 4);
    unsigned char h1[AUTH_HASH_BYTES], h2[AUTH_HASH_BYTES], h3[AUTH_HASH_BYTES];
    auth_secret_hash(a, tok, h1);
    auth_secret_hash(a, tok, h2);
    assert_memory_equal(h1, h2, sizeof h1); /* a pure function: the lookup key */
    auth_secret_hash(b, tok, h3);
    assert_memory_not_equal(h1, h3, sizeof h1); /* a database copy alone does not help */
    char other[80];
    auth_random_secret("gpr_", other, sizeof other);
    assert_string_not_equal(tok, other);
    auth_secret_hash(a, other, h2);
    assert_memory_not_equal(h1, h2, sizeof h1);
    char hex[2 * AUTH_HASH_BYTES + 1];
    auth_hex(h1, sizeof h1, hex);
    assert_int_equal(strlen(hex), 64);
    assert_null(strstr(hex, tok + 4));
    free(a);
    free(b);
}

static void test_csrf_bound_to_refresh_token(void **state)
{
    (void)state;
    auth_t *a = auth_with_secret(7), *b = auth_with_secret(8);
    char c1[AUTH_CSRF_LEN + 1], c2[AUTH_CSRF_LEN + 1], c3[AUTH_CSRF_LEN + 1];
    auth_cookie_csrf(a, "grt_one", c1);
    auth_cookie_csrf(a, "grt_one", c2);
    assert_string_equal(c1, c2);
    assert_int_equal(strlen(c1), AUTH_CSRF_LEN);
    auth_cookie_csrf(a, "grt_two", c3);
    assert_string_not_equal(c1, c3);
    auth_cookie_csrf(b, "grt_one", c3);
    assert_string_not_equal(c1, c3);
    /* not the plain token hash: the CSRF value cannot be used to look the token up */
    unsigned char h[AUTH_HASH_BYTES];
    char hex[2 * AUTH_HASH_BYTES + 1];
    auth_secret_hash(a, "grt_one", h);
    auth_hex(h, sizeof h, hex);
    assert_string_not_equal(hex, c1);
    free(a);
    free(b);
}

static void test_cookie_header(void **state)
{
    (void)state;
    char v[64];
    assert_int_equal(
        auth_cookie_get("a=1; ganglion_refresh=grt_x; b=2", "ganglion_refresh", v, sizeof v), 0);
    assert_string_equal(v, "grt_x");
    assert_int_equal(auth_cookie_get("ganglion_refresh=grt_y", "ganglion_refresh", v, sizeof v), 0);
    assert_string_equal(v, "grt_y");
    assert_int_equal(auth_cookie_get("xganglion_refresh=1", "ganglion_refresh", v, sizeof v), -1);
    assert_int_equal(auth_cookie_get("ganglion_refresh=", "ganglion_refresh", v, sizeof v), -1);
    assert_int_equal(auth_cookie_get("ganglion_refreshed=1", "ganglion_refresh", v, sizeof v), -1);
    assert_int_equal(auth_cookie_get("", "ganglion_refresh", v, sizeof v), -1);
    char small[4];
    assert_int_equal(
        auth_cookie_get("ganglion_refresh=toolong", "ganglion_refresh", small, sizeof small), -1);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_hash_is_keyed),
        cmocka_unit_test(test_csrf_bound_to_refresh_token),
        cmocka_unit_test(test_cookie_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
