/* Unit tests for the detectors' scratch pool: it keeps at most one idle scratch per thread-pool
 * thread however many jobs once ran at the same time, reuses the ones it keeps, and reads the
 * thread pool's size as libuv does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "watch/cbad_pool.h"

#define CAP   4
#define BURST (3 * CAP)

static void test_pool_keeps_at_most_cap_idle(void **state)
{
    (void)state;
    cbad_pool_t p;
    assert_int_equal(cbad_pool_init(&p, CAP), 0);
    for (int round = 0; round < 3; round++) {
        cbad_scratch_t *sc[BURST];
        for (int i = 0; i < BURST; i++) {
            sc[i] = cbad_pool_scratch_take(&p);
            assert_non_null(sc[i]);
        }
        assert_int_equal(cbad_pool_idle(&p), 0);
        assert_int_equal(cbad_pool_live(&p), BURST);
        for (int i = 0; i < BURST; i++)
            cbad_pool_scratch_give(&p, sc[i]);
        assert_int_equal(cbad_pool_idle(&p), CAP); /* the other 8 were freed */
        assert_int_equal(cbad_pool_live(&p), CAP);
    }
    cbad_pool_destroy(&p);
}

static void test_pool_reuses_what_it_keeps(void **state)
{
    (void)state;
    cbad_pool_t p;
    assert_int_equal(cbad_pool_init(&p, 2), 0);
    cbad_scratch_t *a = cbad_pool_scratch_take(&p), *b = cbad_pool_scratch_take(&p);
    assert_non_null(a);
    assert_non_null(b);
    cbad_pool_scratch_give(&p, a);
    cbad_pool_scratch_give(&p, b);
    cbad_pool_scratch_give(&p, NULL); /* ignored */
    assert_int_equal(cbad_pool_idle(&p), 2);
    cbad_scratch_t *c = cbad_pool_scratch_take(&p), *d = cbad_pool_scratch_take(&p);
    assert_true((c == a && d == b) || (c == b && d == a));
    cbad_pool_scratch_give(&p, c);
    cbad_pool_scratch_give(&p, d);
    cbad_pool_destroy(&p);
}

static void test_pool_threads_as_libuv(void **state)
{
    (void)state;
    unsetenv("UV_THREADPOOL_SIZE");
    assert_int_equal(cbad_pool_threads(), 4);
    setenv("UV_THREADPOOL_SIZE", "8", 1);
    assert_int_equal(cbad_pool_threads(), 8);
    setenv("UV_THREADPOOL_SIZE", "0", 1);
    assert_int_equal(cbad_pool_threads(), 1);
    setenv("UV_THREADPOOL_SIZE", "100000", 1);
    assert_int_equal(cbad_pool_threads(), 1024);
    setenv("UV_THREADPOOL_SIZE", "many", 1);
    assert_int_equal(cbad_pool_threads(), 4);
    unsetenv("UV_THREADPOOL_SIZE");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_keeps_at_most_cap_idle),
        cmocka_unit_test(test_pool_reuses_what_it_keeps),
        cmocka_unit_test(test_pool_threads_as_libuv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
