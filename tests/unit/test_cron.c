/* Unit tests for cron expressions: parsing (fields, lists, ranges, steps, names, macros, the
 * optional seconds field) with refusals and their reasons, and the next fire time in UTC across
 * month ends, leap days, years and the day-of-month / day-of-week OR rule. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/cron.h"

static int64_t at(const char *rfc3339)
{
    int64_t ms = 0;
    if (clock_rfc3339_parse(rfc3339, &ms) != 0)
        fail_msg("bad time in test: %s", rfc3339);
    return ms / 1000;
}

/* The next fire time of expr after `after`, as RFC 3339 (or "never"). */
static const char *next_of(const char *expr, const char *after, char *buf, size_t len)
{
    cron_t c;
    char err[160];
    if (cron_parse(expr, &c, err, sizeof err) != 0)
        fail_msg("'%s' refused: %s", expr, err);
    int64_t t = cron_next(&c, at(after));
    if (t < 0)
        return "never";
    return clock_rfc3339(t * 1000, buf, len);
}

#define ASSERT_NEXT(expr, after, want)                                                             \
    do {                                                                                           \
        char b_[40];                                                                               \
        assert_string_equal(next_of(expr, after, b_, sizeof b_), want);                            \
    } while (0)

static void test_every_minute_and_steps(void **state)
{
    (void)state;
    ASSERT_NEXT("* * * * *", "2026-01-01T00:00:00Z", "2026-01-01T00:01:00.000Z");
    ASSERT_NEXT("* * * * *", "2026-01-01T00:00:59Z", "2026-01-01T00:01:00.000Z");
    ASSERT_NEXT("*/5 * * * *", "2026-01-01T00:03:17Z", "2026-01-01T00:05:00.000Z");
    ASSERT_NEXT("*/5 * * * *", "2026-01-01T00:55:00Z", "2026-01-01T01:00:00.000Z");
    ASSERT_NEXT("5/15 * * * *", "2026-01-01T00:21:00Z", "2026-01-01T00:35:00.000Z");
    ASSERT_NEXT("5/15 * * * *", "2026-01-01T00:50:00Z", "2026-01-01T01:05:00.000Z");
    ASSERT_NEXT("10-20/5 * * * *", "2026-01-01T00:16:00Z", "2026-01-01T00:20:00.000Z");
    ASSERT_NEXT("10-20/5 * * * *", "2026-01-01T00:20:00Z", "2026-01-01T01:10:00.000Z");
    ASSERT_NEXT("30 4 1,15 * *", "2026-01-01T05:00:00Z", "2026-01-15T04:30:00.000Z");
    ASSERT_NEXT("0 22 * * 1-5", "2026-01-02T23:00:00Z", "2026-01-05T22:00:00.000Z");
}

static void test_strictly_after(void **state)
{
    (void)state;
    /* at the very second it fires, the next one is the following */
    ASSERT_NEXT("0 12 * * *", "2026-06-01T12:00:00Z", "2026-06-02T12:00:00.000Z");
    ASSERT_NEXT("0 12 * * *", "2026-06-01T11:59:59Z", "2026-06-01T12:00:00.000Z");
}

static void test_seconds_field(void **state)
{
    (void)state;
    cron_t c;
    char err[160];
    assert_int_equal(cron_parse("*/2 * * * * *", &c, err, sizeof err), 0);
    assert_true(c.has_seconds);
    ASSERT_NEXT("*/2 * * * * *", "2026-01-01T00:00:01Z", "2026-01-01T00:00:02.000Z");
    ASSERT_NEXT("*/2 * * * * *", "2026-01-01T00:00:58Z", "2026-01-01T00:01:00.000Z");
    ASSERT_NEXT("15,45 0 * * * *", "2026-01-01T00:00:46Z", "2026-01-01T01:00:15.000Z");
    assert_int_equal(cron_parse("0 * * * *", &c, err, sizeof err), 0);
    assert_false(c.has_seconds);
    assert_int_equal(c.sec, 1); /* five fields: at second 0 */
}

static void test_month_and_year_ends(void **state)
{
    (void)state;
    ASSERT_NEXT("0 0 1 1 *", "2026-12-31T23:59:59Z", "2027-01-01T00:00:00.000Z");
    ASSERT_NEXT("0 0 31 * *", "2026-04-01T00:00:00Z", "2026-05-31T00:00:00.000Z");
    ASSERT_NEXT("59 23 31 12 *", "2026-01-01T00:00:00Z", "2026-12-31T23:59:00.000Z");
    ASSERT_NEXT("0 0 1 * *", "2026-02-15T00:00:00Z", "2026-03-01T00:00:00.000Z");
    /* before the epoch works too */
    ASSERT_NEXT("0 0 1 1 *", "1969-12-31T23:59:59Z", "1970-01-01T00:00:00.000Z");
}

static void test_feb_29(void **state)
{
    (void)state;
    ASSERT_NEXT("0 0 29 2 *", "2025-03-01T00:00:00Z", "2028-02-29T00:00:00.000Z");
    ASSERT_NEXT("0 0 29 2 *", "2028-02-29T00:00:00Z", "2032-02-29T00:00:00.000Z");
    /* 2100 is not a leap year: eight years to the next Feb 29 */
    ASSERT_NEXT("0 0 29 2 *", "2096-03-01T00:00:00Z", "2104-02-29T00:00:00.000Z");
    ASSERT_NEXT("0 0 29 2 *", "2000-01-01T00:00:00Z", "2000-02-29T00:00:00.000Z");
    /* a day that never comes: parsed, but never fires */
    ASSERT_NEXT("0 0 30 2 *", "2026-01-01T00:00:00Z", "never");
    ASSERT_NEXT("0 0 31 4,6,9,11 *", "2026-01-01T00:00:00Z", "never");
}

static void test_dom_dow_or_rule(void **state)
{
    (void)state;
    /* both restricted: the 13th OR a Friday (2026-02-06 is a Friday, 02-13 both) */
    ASSERT_NEXT("0 12 13 * 5", "2026-02-01T00:00:00Z", "2026-02-06T12:00:00.000Z");
    ASSERT_NEXT("0 12 13 * 5", "2026-02-06T12:00:00Z", "2026-02-13T12:00:00.000Z");
    ASSERT_NEXT("0 0 1 * mon", "2026-06-02T00:00:00Z", "2026-06-08T00:00:00.000Z");
    ASSERT_NEXT("0 0 15 * mon", "2026-06-09T00:00:00Z", "2026-06-15T00:00:00.000Z");
    /* day of month starting with '*': both must match (odd days that are Fridays) */
    ASSERT_NEXT("0 0 */2 * 5", "2026-02-01T00:00:00Z", "2026-02-13T00:00:00.000Z");
    /* day of week '*': only the day of month counts */
    ASSERT_NEXT("0 0 13 * *", "2026-02-01T00:00:00Z", "2026-02-13T00:00:00.000Z");
}

static void test_names_and_sunday(void **state)
{
    (void)state;
    /* 2026-01-01 is a Thursday; the next Sunday is the 4th, whether 0, 7 or sun */
    ASSERT_NEXT("0 0 * * 0", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00.000Z");
    ASSERT_NEXT("0 0 * * 7", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00.000Z");
    ASSERT_NEXT("0 0 * * SUN", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00.000Z");
    ASSERT_NEXT("0 0 * * 5-7", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00.000Z");
    ASSERT_NEXT("0 9 * jan-mar mon-fri", "2026-03-31T10:00:00Z", "2027-01-01T09:00:00.000Z");
    ASSERT_NEXT("0 0 1 Jun,DEC *", "2026-07-01T00:00:00Z", "2026-12-01T00:00:00.000Z");
    ASSERT_NEXT("0 0 * * sat/2", "2026-01-01T00:00:00Z", "2026-01-03T00:00:00.000Z");
}

static void test_macros(void **state)
{
    (void)state;
    ASSERT_NEXT("@hourly", "2026-01-01T00:30:00Z", "2026-01-01T01:00:00.000Z");
    ASSERT_NEXT("@daily", "2026-01-01T00:30:00Z", "2026-01-02T00:00:00.000Z");
    ASSERT_NEXT("@midnight", "2026-01-01T00:30:00Z", "2026-01-02T00:00:00.000Z");
    ASSERT_NEXT("@weekly", "2026-01-01T00:30:00Z", "2026-01-04T00:00:00.000Z");
    ASSERT_NEXT("@monthly", "2026-01-01T00:30:00Z", "2026-02-01T00:00:00.000Z");
    ASSERT_NEXT("@yearly", "2026-01-01T00:30:00Z", "2027-01-01T00:00:00.000Z");
    ASSERT_NEXT("@annually", "2026-01-01T00:30:00Z", "2027-01-01T00:00:00.000Z");
    ASSERT_NEXT("  1  2 * *   *  ", "2026-01-01T00:30:00Z", "2026-01-01T02:01:00.000Z");
}

static void test_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *expr, *reason; /* a part of the reason */
    } bad[] = {
        {"", "no fields"},
        {"* * * *", "too few"},
        {"* * * * * * *", "more than 6"},
        {"60 * * * *", "minute: 60 is out of range 0-59"},
        {"* 24 * * *", "hour: 24 is out of range 0-23"},
        {"* * 0 * *", "day of month: 0 is out of range 1-31"},
        {"* * 32 * *", "day of month: 32 is out of range 1-31"},
        {"* * * 13 *", "month: 13 is out of range 1-12"},
        {"* * * 0 *", "month: 0 is out of range"},
        {"* * * * 8", "day of week: 8 is out of range 0-7"},
        {"60 * * * * *", "second: 60 is out of range"},
        {"*/0 * * * *", "step 0 is out of range"},
        {"*/61 * * * *", "step 61 is out of range"},
        {"5-1 * * * *", "range 5-1 runs backwards"},
        {"* * * * fri-mon", "runs backwards"},
        {"a * * * *", "minute: unexpected 'a'"},
        {"* * * foo *", "month: unknown name 'foo'"},
        {"* * * * sunday", "day of week: unexpected"},
        {"* * * jan *x", "day of week: unexpected 'x'"},
        {"1,,2 * * * *", "minute: a value is missing"},
        {"1, * * * *", "after ','"},
        {"1-2-3 * * * *", "minute: unexpected '-'"},
        {"-1 * * * *", "minute: a value is missing"},
        {"99999 * * * *", "number too long"},
        {"*/ * * * *", "a step needs a number"},
        {"*-5 * * * *", "unexpected '-'"},
        {"1/2/3 * * * *", "unexpected '/'"},
        {"@reboot", "unknown macro"},
        {"* * * mon *", "month: unknown name 'mon'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cron_t c;
        char err[160] = "";
        if (cron_parse(bad[i].expr, &c, err, sizeof err) != -EINVAL)
            fail_msg("accepted '%s'", bad[i].expr);
        if (!strstr(err, bad[i].reason))
            fail_msg("'%s': reason '%s' lacks '%s'", bad[i].expr, err, bad[i].reason);
    }
    char longexpr[CRON_EXPR_MAX + 10];
    memset(longexpr, '1', sizeof longexpr - 1);
    longexpr[sizeof longexpr - 1] = '\0';
    cron_t c;
    char err[160];
    assert_int_equal(cron_parse(longexpr, &c, err, sizeof err), -EINVAL);
    assert_int_equal(cron_parse(NULL, &c, err, sizeof err), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_minute_and_steps),
        cmocka_unit_test(test_strictly_after),
        cmocka_unit_test(test_seconds_field),
        cmocka_unit_test(test_month_and_year_ends),
        cmocka_unit_test(test_feb_29),
        cmocka_unit_test(test_dom_dow_or_rule),
        cmocka_unit_test(test_names_and_sunday),
        cmocka_unit_test(test_macros),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
