/* SHA-1 against the FIPS 180 examples and lengths around the block boundary (digests from
 * sha1sum). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/sha1.h"

static void hex(const unsigned char *d, char *out)
{
    for (int i = 0; i < SHA1_LEN; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void check(const void *data, size_t len, const char *want)
{
    unsigned char d[SHA1_LEN];
    char got[2 * SHA1_LEN + 1];
    sha1_digest(data, len, d);
    hex(d, got);
    assert_string_equal(got, want);
}

static void test_known_vectors(void **state)
{
    (void)state;
    check("", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    check("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d");
    /* 56 bytes: the padding needs a second block */
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check(two, strlen(two), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}

static void test_block_boundaries(void **state)
{
    (void)state;
    static char a[1000];
    memset(a, 'a', sizeof a);
    check(a, 55, "c1c8bbdc22796e28c0e15163d20899b65621d65a");
    check(a, 63, "03f09f5b158a7a8cdad920bddc29b81c18a551f5");
    check(a, 64, "0098ba824b5c16427bd7a1122a5a442a25ec644d");
    check(a, 1000, "291e9a6c66994949b57ba5e650361e98fc36b1ba");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_vectors),
        cmocka_unit_test(test_block_boundaries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
