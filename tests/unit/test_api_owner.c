/* api/api_owner: the pure parts the event streams' filters rely on — a viewer's decisions, the
 * payload field and topic segment readers (bounded, never past the event's length). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api/api_owner.h"

static void test_viewer_decisions(void **state)
{
    (void)state;
    api_viewer_t admin = {.principal = "user:root", .role = "admin"};
    api_viewer_t op = {.principal = "user:alice", .role = "operator", .teams = "red,blue"};
    assert_true(api_viewer_unrestricted(&admin));
    assert_false(api_viewer_unrestricted(&op));
    assert_true(api_viewer_may_see(&admin, "user:bob", NULL));
    assert_true(api_viewer_may_see(&op, "user:alice", NULL)); /* its own */
    assert_true(api_viewer_may_see(&op, NULL, NULL));         /* unowned */
    assert_true(api_viewer_may_see(&op, "user:bob", "blue")); /* a team's */
    assert_false(api_viewer_may_see(&op, "user:bob", NULL));
    assert_false(api_viewer_may_see(&op, "user:bob", "blu")); /* whole names only */
    assert_false(api_viewer_may_see(&op, "user:alicex", "green"));
}

static void test_event_str(void **state)
{
    (void)state;
    char out[16];
    const char *d = "{\"id\":\"a1\",\"stream\":\"web.logs\",\"severity\":\"high\"}";
    assert_int_equal(api_event_str(d, strlen(d), "stream", out, sizeof out), 0);
    assert_string_equal(out, "web.logs");
    assert_int_equal(api_event_str(d, strlen(d), "nope", out, sizeof out), -ENOENT);
    /* cut short: the value's end lies past the length given */
    assert_int_equal(api_event_str(d, 25, "stream", out, sizeof out), -ENOENT);
    /* too long for out, or escaped: not read */
    const char *l = "{\"stream\":\"a-very-long-stream-name\"}";
    assert_int_equal(api_event_str(l, strlen(l), "stream", out, sizeof out), -ENOENT);
    const char *e = "{\"stream\":\"a\\\"b\"}";
    assert_int_equal(api_event_str(e, strlen(e), "stream", out, sizeof out), -ENOENT);
}

static void test_event_segment(void **state)
{
    (void)state;
    char out[8];
    assert_int_equal(api_event_segment("agent.42.status", out, sizeof out), 0);
    assert_string_equal(out, "42");
    assert_int_equal(api_event_segment("task.abc", out, sizeof out), 0);
    assert_string_equal(out, "abc");
    assert_int_equal(api_event_segment("agent", out, sizeof out), -ENOENT);
    assert_int_equal(api_event_segment("agent..x", out, sizeof out), -ENOENT);
    assert_int_equal(api_event_segment("agent.123456789.x", out, sizeof out), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_viewer_decisions),
        cmocka_unit_test(test_event_str),
        cmocka_unit_test(test_event_segment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
