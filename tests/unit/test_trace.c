/* W3C traceparent: the strict parse (what starts a new trace instead), the text form, and ids
 * that are never all zero. */
#include <setjmp.h>
#include <stdarg.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/trace.h"

#define T "4bf92f3577b34da6a3ce929d0e0e4736"
#define P "00f067aa0ba902b7"

static void test_parse_format(void **state)
{
    (void)state;
    trace_ctx_t c;
    assert_int_equal(trace_parent_parse("00-" T "-" P "-01", &c), 0);
    assert_int_equal(c.flags, 1);
    assert_int_equal(c.trace_id[0], 0x4b);
    assert_int_equal(c.span_id[7], 0xb7);
    char out[TRACE_PARENT_LEN + 1];
    trace_parent_format(&c, out);
    assert_string_equal(out, "00-" T "-" P "-01");
    /* a later version: its version-00 prefix, and what follows after a '-' */
    assert_int_equal(trace_parent_parse("cc-" T "-" P "-00-future", &c), 0);
    assert_int_equal(c.flags, 0);
}

static void test_parse_refusals(void **state)
{
    (void)state;
    const char *bad[] = {
        NULL,
        "",
        "00-" T "-" P "-0",                             /* short */
        "00-" T "-" P "-01-",                           /* version 00 is exactly 55 */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-" P "-01", /* upper case */
        "00-00000000000000000000000000000000-" P "-01", /* zero trace id */
        "00-" T "-0000000000000000-01",                 /* zero parent */
        "ff-" T "-" P "-01",                            /* version ff */
        "0g-" T "-" P "-01",                            /* not hex */
        "00_" T "-" P "-01",                            /* separator */
        "00-" T "_" P "-01",
        "00-" T "-" P "_01",
        "01-" T "-" P "-01x", /* later version without '-' */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(trace_parent_parse(bad[i], NULL), -EINVAL);
}

static void test_ids(void **state)
{
    (void)state;
    trace_rng_t rng;
    trace_rng_seed(&rng);
    trace_ctx_t a, b;
    trace_ctx_new(&rng, &a);
    trace_ctx_new(&rng, &b);
    assert_memory_not_equal(a.trace_id, b.trace_id, TRACE_ID_LEN);
    char text[TRACE_PARENT_LEN + 1];
    trace_parent_format(&a, text);
    trace_ctx_t back;
    assert_int_equal(trace_parent_parse(text, &back), 0);
    assert_memory_equal(&back, &a, sizeof a);
    /* a state that would give zeros is still never all zero */
    uint8_t span[TRACE_SPAN_LEN];
    for (int i = 0; i < 1000; i++) {
        trace_span_id_new(&rng, span);
        uint8_t any = 0;
        for (int k = 0; k < TRACE_SPAN_LEN; k++)
            any |= span[k];
        assert_true(any != 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_format),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
