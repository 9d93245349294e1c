/* Bounded JSON parsing and problem details: depth scanning that is not fooled by brackets in
 * strings, parse errors with positions, safe strings from invalid UTF-8, and problem JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/jsonx.h"
#include "core/problem.h"

static void test_depth(void **state)
{
    assert_int_equal(jsonx_depth("1", 1, 10), 0);
    assert_int_equal(jsonx_depth("{\"a\":[1,{}]}", 12, 10), 3);
    const char *tricky = "{\"a\":\"[[[[{{{{\\\"[[[\"}";
    assert_int_equal(jsonx_depth(tricky, strlen(tricky), 10), 1);
    char deep[1000];
    memset(deep, '[', sizeof deep);
    assert_int_equal(jsonx_depth(deep, sizeof deep, 64), 65); /* stops early */
}

static void test_parse_errors(void **state)
{
    problem_t *p = NULL;
    json_t *v = jsonx_parse("{\"a\": }", 7, 8, &p);
    assert_null(v);
    assert_int_equal(problem_status(p), 400);
    assert_non_null(strstr(problem_detail(p), "line 1"));
    problem_destroy(&p);
    assert_null(p);

    v = jsonx_parse("{\"a\":1,\"a\":2}", 13, 8, &p);
    assert_null(v); /* duplicate keys are ambiguous: rejected */
    problem_destroy(&p);

    v = jsonx_parse("[[[1]]]", 7, 2, &p);
    assert_null(v);
    assert_non_null(strstr(problem_detail(p), "deeper"));
    problem_destroy(&p);

    v = jsonx_parse("", 0, 2, &p);
    assert_null(v);
    problem_destroy(&p);

    v = jsonx_parse("[1,2]", 5, 2, &p);
    assert_non_null(v);
    assert_null(p);
    json_decref(v);
}

static void test_safe_string(void **state)
{
    json_t *s = jsonx_string("ok \xff\xfe end");
    assert_non_null(s);
    assert_string_equal(json_string_value(s), "ok \xEF\xBF\xBD\xEF\xBF\xBD end");
    json_decref(s);
    s = jsonx_string("caf\xC3\xA9");
    assert_string_equal(json_string_value(s), "caf\xC3\xA9");
    json_decref(s);
}

static void test_problem_json(void **state)
{
    problem_t *p = problem_new(422, "validation", "bad %s", "input");
    problem_field_add(p, "body", "/name", "is required");
    problem_field_add(p, "query", "x\xff", "bad byte in name");
    problem_header_set(p, "Retry-After", "5");
    json_t *j = problem_to_json(p, "/things");
    assert_string_equal(json_string_value(json_object_get(j, "type")),
                        "urn:ganglion:problem:validation");
    assert_string_equal(json_string_value(json_object_get(j, "title")), "Unprocessable Content");
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 422);
    assert_string_equal(json_string_value(json_object_get(j, "detail")), "bad input");
    assert_string_equal(json_string_value(json_object_get(j, "instance")), "/things");
    assert_int_equal(json_array_size(json_object_get(j, "errors")), 2);
    assert_string_equal(problem_header_get(p, "retry-after"), "5");
    json_decref(j);
    problem_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_safe_string),
        cmocka_unit_test(test_problem_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
