/* The memory vector index: exact cosine k-NN with pruning gives the naive loop's answer, the
 * top-k heap keeps the best k in order, filters and removal hold, bad input is refused. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "memory/memory_knn.h"

static uint64_t rng_state = 88172645463325252ULL;

static float rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void id_of(char *buf, size_t i)
{
    snprintf(buf, MEMORY_ID_LEN, "mem-%016zx", i);
}

static memory_knn_t *random_index(size_t n, size_t dim)
{
    memory_knn_t *ix = memory_knn_new(dim);
    assert_non_null(ix);
    float *v = malloc(dim * sizeof *v);
    char id[MEMORY_ID_LEN];
    for (size_t i = 0; i < n; i++) {
        for (size_t d = 0; d < dim; d++)
            v[d] = rnd();
        id_of(id, i);
        assert_int_equal(memory_knn_put(ix, id, v, (int64_t)i, i % 3 + 1, 0), 0);
    }
    free(v);
    return ix;
}

static void test_matches_the_naive_loop(void **state)
{
    (void)state;
    size_t dims[] = {3, 17, 64, 384};
    for (size_t t = 0; t < sizeof dims / sizeof dims[0]; t++) {
        size_t dim = dims[t];
        memory_knn_t *ix = random_index(2000, dim);
        float *q = malloc(dim * sizeof *q);
        memory_knn_hit_t a[50], b[50];
        for (int round = 0; round < 5; round++) {
            for (size_t d = 0; d < dim; d++)
                q[d] = rnd();
            int na = memory_knn_search(ix, q, 50, NULL, a);
            int nb = memory_knn_search_naive(ix, q, 50, NULL, b);
            assert_int_equal(na, 50);
            assert_int_equal(nb, 50);
            for (int i = 0; i < 50; i++) {
                assert_string_equal(a[i].id, b[i].id);
                assert_true(fabsf(a[i].score - b[i].score) < 1e-4f);
                if (i)
                    assert_true(a[i - 1].score >= a[i].score);
            }
        }
        free(q);
        memory_knn_free(ix);
    }
}

static void test_exact_neighbours_and_scores(void **state)
{
    (void)state;
    memory_knn_t *ix = memory_knn_new(2);
    float e[] = {2, 0}, ne[] = {1, 1}, n[] = {0, 5}, w[] = {-1, 0};
    assert_int_equal(memory_knn_put(ix, "east", e, 1, 0, 0), 0);
    assert_int_equal(memory_knn_put(ix, "north-east", ne, 2, 0, 0), 0);
    assert_int_equal(memory_knn_put(ix, "north", n, 3, 0, 0), 0);
    assert_int_equal(memory_knn_put(ix, "west", w, 4, 0, 0), 0);
    float q[] = {10, 0};
    memory_knn_hit_t h[4];
    assert_int_equal(memory_knn_search(ix, q, 10, NULL, h), 4);
    assert_string_equal(h[0].id, "east");
    assert_true(fabsf(h[0].score - 1.0f) < 1e-6f);
    assert_string_equal(h[1].id, "north-east");
    assert_true(fabsf(h[1].score - (float)M_SQRT1_2) < 1e-6f);
    assert_string_equal(h[2].id, "north");
    assert_string_equal(h[3].id, "west");
    assert_true(fabsf(h[3].score + 1.0f) < 1e-6f);
    /* k smaller than the index: the best k only */
    assert_int_equal(memory_knn_search(ix, q, 1, NULL, h), 1);
    assert_string_equal(h[0].id, "east");
    /* replacing a vector moves it */
    float s[] = {0, -1};
    assert_int_equal(memory_knn_put(ix, "east", s, 1, 0, 0), 0);
    assert_int_equal(memory_knn_count(ix), 4);
    assert_int_equal(memory_knn_search(ix, q, 1, NULL, h), 1);
    assert_string_equal(h[0].id, "north-east");
    memory_knn_free(ix);
}

static void test_ties_are_broken_by_id(void **state)
{
    (void)state;
    memory_knn_t *ix = memory_knn_new(2);
    float v[] = {1, 1};
    const char *ids[] = {"mem-c", "mem-a", "mem-d", "mem-b"};
    for (int i = 0; i < 4; i++)
        assert_int_equal(memory_knn_put(ix, ids[i], v, i, 0, 0), 0);
    memory_knn_hit_t h[3];
    assert_int_equal(memory_knn_search(ix, v, 3, NULL, h), 3);
    assert_string_equal(h[0].id, "mem-a");
    assert_string_equal(h[1].id, "mem-b");
    assert_string_equal(h[2].id, "mem-c");
    memory_knn_free(ix);
}

static void test_filters_and_removal(void **state)
{
    (void)state;
    memory_knn_t *ix = random_index(300, 8);
    float q[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    memory_knn_hit_t h[300], g[300];
    memory_knn_filter_t f = {.principal_hash = 2, .since_ms = 100, .until_ms = 200};
    int n = memory_knn_search(ix, q, 300, &f, h);
    int m = memory_knn_search_naive(ix, q, 300, &f, g);
    assert_int_equal(n, m);
    assert_true(n > 0);
    for (int i = 0; i < n; i++) {
        size_t row = strtoull(h[i].id + 4, NULL, 16);
        assert_true(row >= 100 && row < 200 && row % 3 + 1 == 2);
        assert_string_equal(h[i].id, g[i].id);
    }
    /* remove every other row: they are never found again, the rest still are */
    char id[MEMORY_ID_LEN];
    for (size_t i = 0; i < 300; i += 2) {
        id_of(id, i);
        assert_int_equal(memory_knn_remove(ix, id), 0);
    }
    id_of(id, 0);
    assert_int_equal(memory_knn_remove(ix, id), -ENOENT);
    assert_int_equal(memory_knn_count(ix), 150);
    n = memory_knn_search(ix, q, 300, NULL, h);
    assert_int_equal(n, 150);
    for (int i = 0; i < n; i++)
        assert_int_equal(strtoull(h[i].id + 4, NULL, 16) % 2, 1);
    memory_knn_free(ix);
}

/* The 8-bit first pass only skips rows that cannot make the top k: vectors that differ by less
 * than its rounding still come out in the naive loop's order, rows moved by a removal keep their
 * copy, and the widest dimension does not overflow its integer sums. */
static void test_first_pass_is_exact(void **state)
{
    (void)state;
    size_t dims[] = {384, 4096};
    for (size_t t = 0; t < 2; t++) {
        size_t dim = dims[t];
        memory_knn_t *ix = memory_knn_new(dim);
        assert_non_null(ix);
        float *base = malloc(dim * sizeof *base), *v = malloc(dim * sizeof *v);
        for (size_t d = 0; d < dim; d++)
            base[d] = rnd();
        char id[MEMORY_ID_LEN];
        for (size_t i = 0; i < 600; i++) {
            float eps = i % 2 ? 0.02f : 0.5f; /* half the rows within the first pass's rounding */
            for (size_t d = 0; d < dim; d++)
                v[d] = base[d] + eps * rnd();
            id_of(id, i);
            assert_int_equal(memory_knn_put(ix, id, v, (int64_t)i, 0, 0), 0);
        }
        for (size_t i = 0; i < 600; i += 3) {
            id_of(id, i);
            assert_int_equal(memory_knn_remove(ix, id), 0);
        }
        memory_knn_hit_t a[20], b[20];
        for (int round = 0; round < 4; round++) {
            for (size_t d = 0; d < dim; d++)
                v[d] = base[d] + 0.05f * (float)round * rnd();
            int na = memory_knn_search(ix, v, 20, NULL, a);
            int nb = memory_knn_search_naive(ix, v, 20, NULL, b);
            assert_int_equal(na, 20);
            assert_int_equal(nb, 20);
            for (int i = 0; i < 20; i++) {
                /* the same rows, in the same order but where float sums over 4096 elements
                 * tie with the naive loop's double ones */
                assert_true(strcmp(a[i].id, b[i].id) == 0 ||
                            fabsf(a[i].score - b[i].score) < 1e-6f);
                assert_true(fabsf(a[i].score - b[i].score) < 1e-5f);
            }
        }
        free(base);
        free(v);
        memory_knn_free(ix);
    }
}

static void test_bad_input(void **state)
{
    (void)state;
    assert_null(memory_knn_new(0));
    assert_null(memory_knn_new(4097));
    memory_knn_t *ix = memory_knn_new(3);
    float z[3] = {0, 0, 0}, v[3] = {1, 2, 3};
    assert_int_equal(memory_knn_put(ix, "zero", z, 0, 0, 0), -EINVAL);
    assert_int_equal(memory_knn_put(ix, "a-very-long-identifier-beyond-the-bound", v, 0, 0, 0),
                     -EINVAL);
    assert_int_equal(memory_knn_put(ix, "ok", v, 0, 0, 0), 0);
    memory_knn_hit_t h[1];
    assert_int_equal(memory_knn_search(ix, z, 1, NULL, h), -EINVAL);
    assert_int_equal(memory_knn_search(ix, v, 0, NULL, h), 0);
    assert_int_equal(memory_knn_hash(NULL), 0);
    assert_int_equal(memory_knn_hash(""), 0);
    assert_true(memory_knn_hash("a") != memory_knn_hash("b"));
    memory_knn_free(ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_the_naive_loop),
        cmocka_unit_test(test_first_pass_is_exact),
        cmocka_unit_test(test_exact_neighbours_and_scores),
        cmocka_unit_test(test_ties_are_broken_by_id),
        cmocka_unit_test(test_filters_and_removal),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
