/* opt_value: both spellings of an option with a value, a missing value, and look-alike names. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/opt.h"

static void test_spellings(void **state)
{
    (void)state;
    char a0[] = "ganglion", a1[] = "--data-dir", a2[] = "/var/g", a3[] = "--listen=127.0.0.1:1",
         a4[] = "--data-dirs", a5[] = "x", a6[] = "--set";
    char *argv[] = {a0, a1, a2, a3, a4, a5, a6};
    int argc = 7, i = 1;
    const char *v = NULL;
    assert_int_equal(opt_value(argc, argv, &i, "--data-dir", &v), 1);
    assert_string_equal(v, "/var/g");
    assert_int_equal(i, 2); /* the caller's loop steps past the value */
    i = 3;
    assert_int_equal(opt_value(argc, argv, &i, "--listen", &v), 1);
    assert_string_equal(v, "127.0.0.1:1");
    assert_int_equal(i, 3);
    i = 4;
    assert_int_equal(opt_value(argc, argv, &i, "--data-dir", &v), 0);
    assert_int_equal(opt_value(argc, argv, &i, "--listen", &v), 0);
    i = 6;
    assert_int_equal(opt_value(argc, argv, &i, "--set", &v), -EINVAL);
    assert_int_equal(i, 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spellings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
