/* The printf-free writers and the table hash: the same text snprintf gives, at the edges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/fmt.h"
#include "core/hash.h"

static void check_i64(int64_t v)
{
    char want[32], got[FMT_INT_MAX + 1];
    snprintf(want, sizeof want, "%lld", (long long)v);
    size_t n = fmt_i64(got, v);
    got[n] = '\0';
    assert_string_equal(got, want);
    assert_true(n <= FMT_INT_MAX);
}

static void test_integers(void **state)
{
    (void)state;
    const int64_t vals[] = {0, 1, -1, 9, 10, -10, 200, 404, 1234567890123LL, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        check_i64(vals[i]);
    char got[FMT_INT_MAX + 1];
    got[fmt_u64(got, UINT64_MAX)] = '\0';
    assert_string_equal(got, "18446744073709551615");
    got[fmt_u64(got, 0)] = '\0';
    assert_string_equal(got, "0");
}

static void test_copy(void **state)
{
    (void)state;
    char d[6];
    assert_int_equal(fmt_copy(d, sizeof d, "abc"), 3);
    assert_string_equal(d, "abc");
    assert_int_equal(fmt_copy(d, sizeof d, "abcdefgh"), 5); /* cut like snprintf */
    assert_string_equal(d, "abcde");
    assert_int_equal(fmt_copy(d, 1, "abc"), 0);
    assert_string_equal(d, "");
}

static void test_hash(void **state)
{
    (void)state;
    /* FNV-1a 64 reference values */
    assert_true(hash_fnv1a_str(HASH_FNV1A_SEED, "") == 0xcbf29ce484222325ULL);
    assert_true(hash_fnv1a_str(HASH_FNV1A_SEED, "a") == 0xaf63dc4c8601ec8cULL);
    assert_true(hash_fnv1a_str(HASH_FNV1A_SEED, "foobar") == 0x85944171f73967e8ULL);
    assert_true(hash_fnv1a(HASH_FNV1A_SEED, "foobar", 6) ==
                hash_fnv1a_str(HASH_FNV1A_SEED, "foobar"));
    /* continuing over parts is hashing the whole */
    assert_true(hash_fnv1a_str(hash_fnv1a_str(HASH_FNV1A_SEED, "foo"), "bar") ==
                hash_fnv1a_str(HASH_FNV1A_SEED, "foobar"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
