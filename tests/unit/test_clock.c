/* Unit tests for the clock helpers: RFC 3339 formatting and parsing, offsets, fractions, and
 * rejection of malformed or out-of-range timestamps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/clock.h"

static void test_format(void **state)
{
    (void)state;
    char buf[32];
    assert_string_equal(clock_rfc3339(0, buf, sizeof buf), "1970-01-01T00:00:00.000Z");
    /* 2026-11-25T01:02:03.456Z */
    assert_string_equal(clock_rfc3339(1795568523456LL, buf, sizeof buf),
                        "2026-11-25T01:02:03.456Z");
    assert_string_equal(clock_rfc3339(-1, buf, sizeof buf), "1969-12-31T23:59:59.999Z");
    char tiny[8];
    assert_string_equal(clock_rfc3339(0, tiny, sizeof tiny), "");
}

static void test_parse(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(clock_rfc3339_parse("2026-11-25T01:02:03.456Z", &ms), 0);
    assert_int_equal(ms, 1795568523456LL);
    assert_int_equal(clock_rfc3339_parse("2026-11-25T01:02:03Z", &ms), 0);
    assert_int_equal(ms, 1795568523000LL);
    assert_int_equal(clock_rfc3339_parse("2026-11-25T01:02:03.4Z", &ms), 0);
    assert_int_equal(ms, 1795568523400LL);
    assert_int_equal(clock_rfc3339_parse("2026-11-25T01:02:03.456789123Z", &ms), 0);
    assert_int_equal(ms, 1795568523456LL);
    assert_int_equal(clock_rfc3339_parse("2026-11-25t01:02:03z", &ms), 0);
    assert_int_equal(clock_rfc3339_parse("2026-11-25T03:32:03.456+02:30", &ms), 0);
    assert_int_equal(ms, 1795568523456LL);
    assert_int_equal(clock_rfc3339_parse("2026-11-24T23:02:03.456-02:00", &ms), 0);
    assert_int_equal(ms, 1795568523456LL);
    assert_int_equal(clock_rfc3339_parse("2024-02-29T00:00:00Z", &ms), 0);
    assert_int_equal(clock_rfc3339_parse("2000-02-29T00:00:00Z", &ms), 0);
    assert_int_equal(clock_rfc3339_parse("1969-12-31T23:59:59Z", &ms), 0);
    assert_int_equal(ms, -1000);

    /* round trip */
    char buf[32];
    int64_t now = clock_wall_ms();
    assert_int_equal(clock_rfc3339_parse(clock_rfc3339(now, buf, sizeof buf), &ms), 0);
    assert_int_equal(ms, now);
}

static void test_parse_rejects(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "2026-11-25",
        "2026-11-25T01:02:03",   /* no zone */
        "2026-11-25T01:02:03.Z", /* empty fraction */
        "2026-13-01T00:00:00Z",  /* month */
        "2026-00-01T00:00:00Z",
        "2026-02-29T00:00:00Z", /* not a leap year */
        "1900-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-11-25T24:00:00Z",
        "2026-11-25T00:60:00Z",
        "2026-11-25T00:00:61Z",
        "2026-11-25T00:00:00+24:00",
        "2026-11-25T00:00:00+01:60",
        "2026-11-25T00:00:00+0100",
        "2026-11-25T00:00:00Zjunk",
        "2026-11-25X00:00:00Z",
        "26-11-25T00:00:00Z",
        "2026-1-25T00:00:00Z",
        " 2026-11-25T00:00:00Z",
        "2026-11-25T00:00:00.12a3Z",
    };
    int64_t ms = 7;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (clock_rfc3339_parse(bad[i], &ms) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
    }
    assert_int_equal(clock_rfc3339_parse(NULL, &ms), -1);
}

static void test_monotonic(void **state)
{
    (void)state;
    uint64_t a = clock_mono_ns();
    uint64_t b = clock_mono_ns();
    assert_true(b >= a);
    assert_true(a > 0);
    assert_true(clock_wall_ms() > 1700000000000LL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_monotonic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
