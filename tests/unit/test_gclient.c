/* The client library's pure parts: the reconnect backoff schedule with its jitter bounds, and
 * how a client URL becomes a ZMQ endpoint. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/gclient.h"

/* Replies are decoded within the value budget of their size, over HTTP and ZMQ alike. */
static void test_reply_decode_budget(void **state)
{
    char err[256] = "";
    json_t *v = NULL;
    const char ok[] = "{\"status\":\"ok\",\"n\":[1,2,3]}";
    assert_int_equal(gclient_reply_decode(-1, ok, sizeof ok - 1, &v, err, sizeof err), 0);
    assert_int_equal(json_array_size(json_object_get(v, "n")), 3);
    json_decref(v);
    assert_int_equal(gclient_reply_decode(0, ok, sizeof ok - 1, &v, err, sizeof err), 0);
    assert_non_null(v);
    json_decref(v);

    /* 20 000 empty arrays in 60 KB: far more containers than 60 KB of JSON may make */
    size_t n = 20000, len = 0;
    char *dense = malloc(3 * n + 2);
    assert_non_null(dense);
    dense[len++] = '[';
    for (size_t i = 0; i < n; i++) {
        memcpy(dense + len, i ? ",[]" : "[]", i ? 3 : 2);
        len += i ? 3 : 2;
    }
    dense[len++] = ']';
    for (int enc = -1; enc <= 0; enc++) {
        err[0] = '\0';
        assert_int_equal(gclient_reply_decode(enc, dense, len, &v, err, sizeof err), -E2BIG);
        assert_null(v);
        assert_non_null(strstr(err, "refused"));
    }
    free(dense);

    /* not JSON: no value, no error (the caller treats it as a reply without a body) */
    assert_int_equal(gclient_reply_decode(-1, "{nope", 5, &v, err, sizeof err), 0);
    assert_null(v);
}

static void test_backoff(void **state)
{
    /* Without jitter (rnd → 1) the schedule doubles from 100 ms and stops at 30 s. */
    long expect[] = {100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000};
    for (int a = 1; a <= 11; a++) {
        long hi = gclient_backoff_ms(a, 0.9999999);
        long lo = gclient_backoff_ms(a, 0.0);
        assert_true(hi <= expect[a - 1] && hi >= expect[a - 1] - 1);
        assert_int_equal(lo, expect[a - 1] / 2);
    }
    assert_int_equal(gclient_backoff_ms(1000, 0.5), 22500); /* no overflow far out */
    assert_int_equal(gclient_backoff_ms(1, -3), 50);        /* rnd clamped */
}

static void test_endpoint(void **state)
{
    char ep[128];
    assert_int_equal(gclient_zmq_endpoint("tcp://10.1.2.3:9000", ep, sizeof ep), 0);
    assert_string_equal(ep, "tcp://10.1.2.3:9000");
    assert_int_equal(gclient_zmq_endpoint("http://127.0.0.1:7700/x", ep, sizeof ep), 0);
    assert_string_equal(ep, "tcp://127.0.0.1:7701");
    assert_int_equal(gclient_zmq_endpoint("https://host.example", ep, sizeof ep), 0);
    assert_string_equal(ep, "tcp://host.example:7701");
    assert_int_equal(gclient_zmq_endpoint("http://[::1]:7700", ep, sizeof ep), 0);
    assert_string_equal(ep, "tcp://[::1]:7701");
    assert_int_equal(gclient_zmq_endpoint("ftp://x", ep, sizeof ep), -1);
    assert_int_equal(gclient_zmq_endpoint("", ep, sizeof ep), -1);
    assert_int_equal(gclient_zmq_endpoint("http://", ep, sizeof ep), -1);
    assert_int_equal(gclient_zmq_endpoint("tcp://a:1", ep, 5), -1);
}

static void test_new_refuses_bad_input(void **state)
{
    char err[256];
    gclient_t *c = NULL;
    gclient_opts_t o = {.via = GCLIENT_ZMQ, .url = "mailto:x"};
    assert_int_equal(gclient_new(&o, &c, err, sizeof err), -EINVAL);
    assert_null(c);
    o.url = "tcp://127.0.0.1:1";
    o.token = "a\nb";
    assert_int_equal(gclient_new(&o, &c, err, sizeof err), -EINVAL);
    o.token = NULL;
    o.curve_server_key = "short";
    assert_int_equal(gclient_new(&o, &c, err, sizeof err), -EINVAL);
    o.curve_server_key = NULL;
    o.timeout_ms = 300;
    assert_int_equal(gclient_new(&o, &c, err, sizeof err), 0);
    /* Nothing listens on port 1: the request ends within its timeout, retried meanwhile. */
    gclient_reply_t r;
    assert_int_equal(gclient_request(c, "GET", "/healthz", NULL, NULL, &r), -ETIMEDOUT);
    assert_true(gclient_last_retries(c) >= 1);
    assert_non_null(strstr(gclient_error(c), "cannot reach"));
    assert_int_equal(gclient_request(c, "GET", "healthz", NULL, NULL, &r), -EINVAL);
    gclient_destroy(&c);
    assert_null(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_reply_decode_budget),
        cmocka_unit_test(test_endpoint),
        cmocka_unit_test(test_new_refuses_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
