/* num.h: whole-text, range-checked conversions — what atoi/atof/sscanf accepted silently ("12abc",
 * "", an overflow, a space) is refused with the reason, valid text converts as before. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/num.h"

static void test_integers_in_range(void **state)
{
    (void)state;
    int64_t v = -1;
    assert_int_equal(num_i64_parse("0", 0, 10, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(num_i64_parse("65535", 1, 65535, &v), 0);
    assert_int_equal(v, 65535);
    assert_int_equal(num_i64_parse("-42", INT64_MIN, INT64_MAX, &v), 0);
    assert_int_equal(v, -42);
    assert_int_equal(num_i64_parse("+7", 0, 10, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(num_i64_parse("007", 0, 10, &v), 0); /* base 10, not octal */
    assert_int_equal(v, 7);
    assert_int_equal(num_i64_parse("9223372036854775807", INT64_MIN, INT64_MAX, &v), 0);
    assert_true(v == INT64_MAX);
}

static void test_integers_refused(void **state)
{
    (void)state;
    int64_t v = 99;
    static const char *const invalid[] = {"",     "abc", "12abc", " 12", "12 ", "1.5",
                                          "0x10", "-",   "+",     "1e3", "\t3"};
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
        assert_int_equal(num_i64_parse(invalid[i], INT64_MIN, INT64_MAX, &v), -EINVAL);
    assert_int_equal(num_i64_parse(NULL, 0, 1, &v), -EINVAL);
    assert_int_equal(num_i64_parse("0", 1, 65535, &v), -ERANGE);
    assert_int_equal(num_i64_parse("65536", 1, 65535, &v), -ERANGE);
    assert_int_equal(num_i64_parse("-1", 0, 10, &v), -ERANGE);
    assert_int_equal(num_i64_parse("99999999999999999999", INT64_MIN, INT64_MAX, &v), -ERANGE);
    assert_int_equal(num_i64_parse("-99999999999999999999", INT64_MIN, INT64_MAX, &v), -ERANGE);
    assert_int_equal(v, 99); /* untouched by every refusal */
}

static void test_integers_of_a_length(void **state)
{
    (void)state;
    int64_t v = 0;
    /* a status line's code, not NUL-terminated after it */
    assert_int_equal(num_i64_parsen("200 OK", 3, 100, 999, &v), 0);
    assert_int_equal(v, 200);
    assert_int_equal(num_i64_parsen("2x0 OK", 3, 100, 999, &v), -EINVAL);
    assert_int_equal(num_i64_parsen("20", 0, 0, 999, &v), -EINVAL);
    assert_int_equal(num_i64_parsen("2\0"
                                    "0",
                                    3, 0, 999, &v),
                     -EINVAL);
    assert_int_equal(num_i64_parsen("12345678901234567890123456789012", 32, 0, 9, &v), -ERANGE);
    assert_int_equal(num_i64_parsen(NULL, 3, 0, 9, &v), -EINVAL);
}

static void test_doubles(void **state)
{
    (void)state;
    double d = -1;
    assert_int_equal(num_double_parse("1.5", 0, 30, &d), 0);
    assert_true(d == 1.5);
    assert_int_equal(num_double_parse("30", 0, 30, &d), 0);
    assert_true(d == 30);
    assert_int_equal(num_double_parse(".25", 0, 1, &d), 0);
    assert_true(d == 0.25);
    assert_int_equal(num_double_parse("2e2", 0, 1000, &d), 0);
    assert_true(d == 200);
    assert_int_equal(num_double_parse("-0.5", -1, 0, &d), 0);
    assert_true(d == -0.5);
    d = 7;
    static const char *const invalid[] = {"", "x", "1.5s", " 1", "inf", "nan", "0x1p3", "-", "."};
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
        assert_int_equal(num_double_parse(invalid[i], -1e300, 1e300, &d), -EINVAL);
    assert_int_equal(num_double_parse("31", 0, 30, &d), -ERANGE);
    assert_int_equal(num_double_parse("1e999", 0, 1e300, &d), -ERANGE);
    assert_int_equal(num_double_parse(NULL, 0, 1, &d), -EINVAL);
    assert_true(d == 7);
}

static void test_hex_bytes(void **state)
{
    (void)state;
    assert_int_equal(num_hexbyte_parse("2F"), 0x2f);
    assert_int_equal(num_hexbyte_parse("2f"), 0x2f);
    assert_int_equal(num_hexbyte_parse("00"), 0);
    assert_int_equal(num_hexbyte_parse("ff"), 255);
    assert_int_equal(num_hexbyte_parse("7fzz"), 0x7f); /* two digits, the rest is not read */
    assert_int_equal(num_hexbyte_parse("g0"), -EINVAL);
    assert_int_equal(num_hexbyte_parse("0g"), -EINVAL);
    assert_int_equal(num_hexbyte_parse(" 4"), -EINVAL); /* sscanf's %1x skipped the space */
    assert_int_equal(num_hexbyte_parse("+4"), -EINVAL);
    assert_int_equal(num_hexbyte_parse("4"), -EINVAL); /* the terminator is not a digit */
    assert_int_equal(num_hexbyte_parse(""), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integers_in_range),
        cmocka_unit_test(test_integers_refused),
        cmocka_unit_test(test_integers_of_a_length),
        cmocka_unit_test(test_doubles),
        cmocka_unit_test(test_hex_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
