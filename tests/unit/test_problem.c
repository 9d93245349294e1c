/* Problems: the validation problem every module starts from, field errors collected into it, and
 * the bound on how many are kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/problem.h"

static void test_field_error_creates_once(void **state)
{
    (void)state;
    problem_t *p = NULL;
    problem_t *first = problem_field_error(&p, "body", "/name", "must be at most %d bytes", 64);
    assert_non_null(p);
    assert_ptr_equal(first, p);
    assert_ptr_equal(problem_field_error(&p, "query", "limit", "must be a number"), first);
    assert_int_equal(problem_status(p), 422);
    assert_string_equal(problem_detail(p), "the request has invalid fields; see errors[]");
    assert_int_equal(problem_field_count(p), 2);
    json_t *j = problem_to_json(p, "/x");
    json_t *e0 = json_array_get(json_object_get(j, "errors"), 0);
    assert_string_equal(json_string_value(json_object_get(e0, "in")), "body");
    assert_string_equal(json_string_value(json_object_get(e0, "field")), "/name");
    assert_string_equal(json_string_value(json_object_get(e0, "message")),
                        "must be at most 64 bytes");
    assert_string_equal(json_string_value(json_object_get(j, "type")),
                        "urn:ganglion:problem:validation");
    json_decref(j);
    problem_destroy(&p);
    assert_null(p);
}

static void test_field_errors_bounded(void **state)
{
    (void)state;
    problem_t *p = NULL;
    for (int i = 0; i < 10000; i++)
        problem_field_error(&p, "body", "/x", "bad %d", i);
    assert_true(problem_field_count(p) < 10000);
    assert_true(problem_field_count(p) > 0);
    problem_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field_error_creates_once),
        cmocka_unit_test(test_field_errors_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
