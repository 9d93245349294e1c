/* core/htab: lookups, duplicates, growth, and deletions that keep every probe chain intact,
 * checked against a plain array over thousands of random operations. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/htab.h"

typedef struct item {
    char key[16];
    int value;
} item_t;

static const void *item_key(const void *p, size_t *len)
{
    const item_t *it = p;
    *len = strlen(it->key);
    return it->key;
}

/* With 2 and 4 rounds the tables' SipHash is the reference SipHash-2-4 that libsodium ships. */
static void test_siphash_reference(void **state)
{
    (void)state;
    assert_true(sodium_init() >= 0);
    unsigned char k[crypto_shorthash_KEYBYTES], msg[64], want[crypto_shorthash_BYTES];
    for (size_t i = 0; i < sizeof k; i++)
        k[i] = (unsigned char)i;
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (unsigned char)(i * 7 + 1);
    uint64_t k0, k1;
    memcpy(&k0, k, 8);
    memcpy(&k1, k + 8, 8);
    for (size_t len = 0; len <= sizeof msg; len++) {
        crypto_shorthash(want, msg, len, k);
        uint64_t w;
        memcpy(&w, want, 8);
        assert_true(htab_siphash(k0, k1, msg, len, 2, 4) == w);
        assert_true(htab_siphash(k0, k1, msg, len, 1, 3) != w);
    }
}

static void test_basic(void **state)
{
    (void)state;
    htab_t *t = NULL;
    assert_int_equal(htab_new(&t, item_key), 0);
    item_t a = {"alpha", 1}, b = {"beta", 2}, a2 = {"alpha", 3};
    assert_null(htab_get_str(t, "alpha"));
    assert_int_equal(htab_put(t, &a), 0);
    assert_int_equal(htab_put(t, &b), 0);
    assert_int_equal(htab_put(t, &a2), -EEXIST);
    assert_ptr_equal(htab_get_str(t, "alpha"), &a);
    assert_ptr_equal(htab_get(t, "beta", 4), &b);
    assert_null(htab_get(t, "bet", 3));
    assert_int_equal(htab_count(t), 2);
    assert_ptr_equal(htab_del(t, "alpha", 5), &a);
    assert_null(htab_del(t, "alpha", 5));
    assert_null(htab_get_str(t, "alpha"));
    assert_int_equal(htab_count(t), 1);
    size_t pos = 0, seen = 0;
    while (htab_next(t, &pos))
        seen++;
    assert_int_equal(seen, 1);
    htab_destroy(&t);
    assert_null(t);
}

static void test_random_against_array(void **state)
{
    (void)state;
    enum { N = 2000, OPS = 40000 };
    item_t *items = calloc(N, sizeof *items);
    int *in = calloc(N, sizeof *in);
    assert_non_null(items);
    assert_non_null(in);
    for (int i = 0; i < N; i++) {
        snprintf(items[i].key, sizeof items[i].key, "k%d", i);
        items[i].value = i;
    }
    htab_t *t = NULL;
    assert_int_equal(htab_new(&t, item_key), 0);
    uint64_t x = 88172645463325252ULL;
    size_t count = 0;
    for (int op = 0; op < OPS; op++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int k = (int)(x % N);
        if (x >> 62) { /* 3 in 4: put or get */
            int rc = htab_put(t, &items[k]);
            assert_int_equal(rc, in[k] ? -EEXIST : 0);
            count += !in[k];
            in[k] = 1;
        } else {
            item_t *got = htab_del(t, items[k].key, strlen(items[k].key));
            assert_ptr_equal(got, in[k] ? &items[k] : NULL);
            count -= in[k];
            in[k] = 0;
        }
        if (op % 997 == 0)
            for (int j = 0; j < N; j++)
                assert_ptr_equal(htab_get_str(t, items[j].key), in[j] ? &items[j] : NULL);
    }
    assert_int_equal(htab_count(t), count);
    htab_destroy(&t);
    free(items);
    free(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siphash_reference),
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_random_against_array),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
