/* The CLI's pure output helpers: durations as people read them (two units at most, no
 * fractions), and what they do with values no duration can have. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "cli/cli_priv.h"

static void check(double s, const char *want)
{
    char buf[64];
    cli_duration_format(s, buf, sizeof buf);
    assert_string_equal(buf, want);
}

static void test_duration_units(void **state)
{
    (void)state;
    check(0, "0s");
    check(0.9999, "0s");
    check(42.7, "42s");
    check(60, "1m00s");
    check(12 * 60 + 5.25, "12m05s");
    check(3600, "1h 00m");
    check(3 * 3600 + 4 * 60 + 59, "3h 04m");
    check(86400, "1d 0h");
    check(3 * 86400 + 4 * 3600 + 1234, "3d 4h");
}

static void test_duration_refusals(void **state)
{
    (void)state;
    check(-1, "?");
    check(0.0 / 0.0, "?");
    check(1e13, "?");
    char tiny[4];
    cli_duration_format(3 * 86400, tiny, sizeof tiny); /* truncated, still terminated */
    assert_int_equal(tiny[3], '\0');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_units),
        cmocka_unit_test(test_duration_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
