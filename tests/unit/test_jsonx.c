/* Bounded JSON parsing and problem details: depth scanning that is not fooled by brackets in
 * strings, the value budget (what the scan counts, where it stops, that a refused input costs no
 * allocation), parse errors with positions, safe strings from invalid UTF-8, and problem JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
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

static void test_budget_sizes(void **state)
{
    jsonx_budget_t b;
    jsonx_budget_init(&b, 0, 64);
    assert_int_equal(b.values, JSONX_BUDGET_MIN_KIB * JSONX_VALUES_PER_KIB);
    assert_int_equal(b.containers, JSONX_BUDGET_MIN_KIB * JSONX_CONTAINERS_PER_KIB);
    jsonx_budget_init(&b, 1024 * 1024, 64);
    assert_int_equal(b.values, 1024 * JSONX_VALUES_PER_KIB);
    assert_int_equal(b.containers, 1024 * JSONX_CONTAINERS_PER_KIB);
    jsonx_budget_init(&b, (size_t)1 << 40, 100000);
    assert_int_equal(b.values, JSONX_VALUES_MAX);
    assert_int_equal(b.containers, JSONX_CONTAINERS_MAX);
    assert_int_equal(b.max_depth, JSONX_DEPTH_MAX);
}

/* Counts values (keys apart) and containers, and ends right after the first value. */
static void test_scan_counts(void **state)
{
    static const struct {
        const char *text;
        size_t values, containers, end;
    } cases[] = {
        {"{\"a\":[1,\"x\",{}],\"b\":null}", 6, 3, 25},
        {"  [1,2] tail", 3, 1, 7},
        {"\"a\\\"]\" x", 1, 0, 6},
        {"123,", 1, 0, 3},
        {"{\"k\":{\"k\":{}}}", 3, 3, 14},
        {"[[],[],{}]", 4, 4, 10},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        jsonx_budget_t b;
        jsonx_budget_init(&b, 0, 64);
        size_t v0 = b.values, c0 = b.containers, end = 0;
        problem_t *p = NULL;
        assert_int_equal(jsonx_scan(cases[i].text, strlen(cases[i].text), &b, &end, &p), 0);
        assert_null(p);
        if (v0 - b.values != cases[i].values || c0 - b.containers != cases[i].containers ||
            end != cases[i].end)
            fail_msg("case %zu: %zu values, %zu containers, end %zu", i, v0 - b.values,
                     c0 - b.containers, end);
    }
    static const struct {
        const char *text;
        int rc;
    } bad[] = {{"[1,2", -EINVAL}, {"[}", -EINVAL}, {"\"abc", -EINVAL},
               {"", -EINVAL},     {"]", -EINVAL},  {"[[[[1]]]]", -ELOOP}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        jsonx_budget_t b;
        jsonx_budget_init(&b, 0, 3);
        size_t end;
        problem_t *p = NULL;
        assert_int_equal(jsonx_scan(bad[i].text, strlen(bad[i].text), &b, &end, &p), bad[i].rc);
        assert_non_null(p);
        problem_destroy(&p);
    }
}

static size_t allocs;
static void *counting_malloc(size_t n)
{
    allocs++;
    return malloc(n);
}

/* A body of many empty arrays within the byte limit is refused by its budget (413) before
 * jansson makes anything; the same count spread over a larger body is taken. */
static void test_budget_refusal(void **state)
{
    size_t n = 3000, len = 0;
    char *buf = malloc(3 * n + 2);
    buf[len++] = '[';
    for (size_t i = 0; i < n; i++) {
        memcpy(buf + len, i ? ",[]" : "[]", i ? 3 : 2);
        len += i ? 3 : 2;
    }
    buf[len++] = ']';
    json_set_alloc_funcs(counting_malloc, free);
    allocs = 0;
    problem_t *p = NULL;
    assert_null(jsonx_parse(buf, len, 64, &p));
    size_t spent = allocs;
    json_set_alloc_funcs(malloc, free);
    assert_non_null(p);
    assert_int_equal(problem_status(p), 413);
    json_t *j = problem_to_json(p, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "type")),
                        "urn:ganglion:problem:json-over-budget");
    assert_int_equal(json_integer_value(json_object_get(j, "max_containers")),
                     (len + 1023) / 1024 * JSONX_CONTAINERS_PER_KIB);
    json_decref(j);
    problem_destroy(&p);
    assert_true(spent < 20); /* the problem's own members, not 3000 arrays */

    /* One budget shared by several inputs (NDJSON lines) bounds their sum. */
    jsonx_budget_t b;
    jsonx_budget_init(&b, 0, 64);
    size_t lines = 0;
    json_t *v;
    while ((v = jsonx_parse_budget("[[],[],[],[]]", 13, &b, &p)) != NULL) {
        json_decref(v);
        lines++;
    }
    assert_int_equal(problem_status(p), 413);
    problem_destroy(&p);
    assert_int_equal(lines, JSONX_BUDGET_MIN_KIB * JSONX_CONTAINERS_PER_KIB / 5);
    free(buf);
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
        cmocka_unit_test(test_depth),          cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_budget_sizes),   cmocka_unit_test(test_scan_counts),
        cmocka_unit_test(test_budget_refusal), cmocka_unit_test(test_safe_string),
        cmocka_unit_test(test_problem_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
