/* Unit tests for the HTTP transport's pure helpers: request-id rules, Accept-Encoding, strict
 * percent-decoding, Content-Length parsing and CORS origin lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net/http_parse.h"

static void test_request_id(void **state)
{
    (void)state;
    char long_ok[HTTP_REQUEST_ID_MAX + 1];
    memset(long_ok, 'a', HTTP_REQUEST_ID_MAX);
    long_ok[HTTP_REQUEST_ID_MAX] = '\0';
    char too_long[HTTP_REQUEST_ID_MAX + 2];
    memset(too_long, 'a', HTTP_REQUEST_ID_MAX + 1);
    too_long[HTTP_REQUEST_ID_MAX + 1] = '\0';

    assert_true(http_request_id_valid("abc-123_XYZ.7"));
    assert_true(http_request_id_valid(long_ok));
    assert_false(http_request_id_valid(too_long));
    assert_false(http_request_id_valid(""));
    assert_false(http_request_id_valid(NULL));
    assert_false(http_request_id_valid("a b"));
    assert_false(http_request_id_valid("a\tb"));
    assert_false(http_request_id_valid("\xc3\xa9"));
    assert_false(http_request_id_valid("x/y"));
}

static void test_accepts_gzip(void **state)
{
    (void)state;
    assert_true(http_accepts_gzip("gzip"));
    assert_true(http_accepts_gzip("br, gzip"));
    assert_true(http_accepts_gzip("gzip, deflate, br"));
    assert_true(http_accepts_gzip("GZIP;q=0.5"));
    assert_true(http_accepts_gzip("x-gzip"));
    assert_true(http_accepts_gzip("*"));
    assert_true(http_accepts_gzip("deflate;q=0, gzip;q=1.0"));
    assert_false(http_accepts_gzip("gzip;q=0"));
    assert_false(http_accepts_gzip("gzip; q=0.000"));
    assert_false(http_accepts_gzip("br"));
    assert_false(http_accepts_gzip("gzipx"));
    assert_false(http_accepts_gzip(""));
    assert_false(http_accepts_gzip(NULL));
    assert_false(http_accepts_gzip("identity;q=1"));
}

static void test_unescape(void **state)
{
    (void)state;
    char a[] = "/api/v1/a%20b%2Fc";
    bool bad = false;
    size_t n = http_unescape_inplace(a, &bad);
    assert_false(bad);
    assert_string_equal(a, "/api/v1/a b/c");
    assert_int_equal(n, strlen(a));

    char b[] = "/x%zz";
    bad = false;
    http_unescape_inplace(b, &bad);
    assert_true(bad);

    char c[] = "/x%4";
    bad = false;
    http_unescape_inplace(c, &bad);
    assert_true(bad);

    char d[] = "/x%";
    bad = false;
    http_unescape_inplace(d, &bad);
    assert_true(bad);

    char e[] = "/x%00y";
    bad = false;
    http_unescape_inplace(e, &bad);
    assert_true(bad);

    char f[] = "%C3%A9";
    bad = false;
    n = http_unescape_inplace(f, &bad);
    assert_false(bad);
    assert_int_equal(n, 2);
    assert_string_equal(f, "\xc3\xa9");
}

static void test_content_length(void **state)
{
    (void)state;
    uint64_t v = 1;
    assert_int_equal(http_content_length_parse("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(http_content_length_parse(" 1073741824 ", &v), 0);
    assert_int_equal(v, 1073741824u);
    assert_int_equal(http_content_length_parse("18446744073709551615", &v), 0);
    assert_int_equal(http_content_length_parse("18446744073709551616", &v), -1);
    assert_int_equal(http_content_length_parse("-1", &v), -1);
    assert_int_equal(http_content_length_parse("12a", &v), -1);
    assert_int_equal(http_content_length_parse("", &v), -1);
    assert_int_equal(http_content_length_parse(NULL, &v), -1);
}

static void test_cors(void **state)
{
    (void)state;
    http_cors_t c;
    assert_int_equal(http_cors_parse(&c, ""), 0);
    assert_false(c.enabled);
    assert_null(http_cors_allow(&c, "https://a.example"));
    http_cors_free(&c);

    assert_int_equal(http_cors_parse(&c, " https://a.example , http://b.example:8080,"), 0);
    assert_true(c.enabled);
    assert_int_equal(c.n, 2);
    assert_string_equal(http_cors_allow(&c, "https://a.example"), "https://a.example");
    assert_string_equal(http_cors_allow(&c, "http://b.example:8080"), "http://b.example:8080");
    assert_null(http_cors_allow(&c, "https://evil.example"));
    assert_null(http_cors_allow(&c, NULL));
    http_cors_free(&c);

    assert_int_equal(http_cors_parse(&c, "*"), 0);
    assert_string_equal(http_cors_allow(&c, "https://any.example"), "*");
    http_cors_free(&c);

    char many[HTTP_CORS_MAX * 8 + 64] = "";
    for (int i = 0; i < HTTP_CORS_MAX + 1; i++)
        strcat(many, "http://x,");
    assert_int_equal(http_cors_parse(&c, many), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_id), cmocka_unit_test(test_accepts_gzip),
        cmocka_unit_test(test_unescape),   cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_cors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
