/* Unit tests for the HTTP transport's pure helpers: request-id rules, Accept-Encoding, strict
 * percent-decoding, Content-Length parsing and CORS origin lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "net/http_head.h"
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

static void test_credential(void **state)
{
    (void)state;
    const char *cred, *why;
    assert_int_equal(http_credential("Bearer  abc.def", "gk_x", &cred, &why), 0);
    assert_string_equal(cred, "abc.def"); /* Authorization wins over X-Api-Key */
    assert_null(why);
    assert_int_equal(http_credential("bearer gk_1", NULL, &cred, &why), 0);
    assert_string_equal(cred, "gk_1");
    assert_int_equal(http_credential(NULL, "gk_2", &cred, &why), 0);
    assert_string_equal(cred, "gk_2");
    assert_int_equal(http_credential("", "", &cred, &why), 0);
    assert_null(cred);
    assert_int_equal(http_credential("Bearer ", NULL, &cred, &why), 0);
    assert_null(cred);
    assert_true(http_credential("Basic YWRtaW46eA==", "gk_3", &cred, &why) < 0);
    assert_null(cred);
    assert_non_null(strstr(why, "Bearer"));
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

#define LIM_HEADER_MAX 256
static const http_head_limits_t LIM = {
    .header_max = LIM_HEADER_MAX, .uri_max = 64, .body_max = 1000};

static int head(const char *s, http_head_verdict_t *v)
{
    return http_head_check(s, strlen(s), &LIM, v);
}

/* A good head is PARTIAL at every prefix and OK once whole: no prefix is refused early. */
static void test_head_prefixes(void **state)
{
    (void)state;
    const char *good = "\r\nPOST /a?b=c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
    size_t end = strstr(good, "\r\n\r\n") - good + 4;
    http_head_verdict_t v;
    for (size_t n = 0; n < end; n++)
        assert_int_equal(http_head_check(good, n, &LIM, &v), HTTP_HEAD_PARTIAL);
    for (size_t n = end; n <= strlen(good); n++)
        assert_int_equal(http_head_check(good, n, &LIM, &v), HTTP_HEAD_OK);
    assert_int_equal(head("GET / HTTP/1.0\n\n", &v), HTTP_HEAD_OK); /* bare LF, no Host */
}

/* A head whose fields end exactly at header_max is accepted however its bytes arrive: the
 * prefix that ends in the first byte of the closing empty line is not refused either (it was,
 * with 431, when that CR came in a read of its own; found by fuzz_http_head). */
static void test_head_at_limit(void **state)
{
    (void)state;
    char h[LIM_HEADER_MAX + 3];
    int n = snprintf(h, sizeof h, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
    memset(h + n, 'a', LIM_HEADER_MAX - 2 - (size_t)n);
    memcpy(h + LIM_HEADER_MAX - 2, "\r\n\r\n", 4);
    http_head_verdict_t v;
    for (size_t k = 0; k < LIM_HEADER_MAX + 2; k++)
        if (http_head_check(h, k, &LIM, &v) != HTTP_HEAD_PARTIAL)
            fail_msg("prefix %zu: %d %s", k, v.status, v.detail);
    assert_int_equal(http_head_check(h, LIM_HEADER_MAX + 2, &LIM, &v), HTTP_HEAD_OK);
}

static void test_head_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int status;
    } cases[] = {
        {"GET /\r\n\r\n", 400},
        {"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
        {"GET / HTTP/0.9\r\nHost: x\r\n\r\n", 505},
        {"GET / HTTP/1.1x\r\n", 400},
        {"GET / HTTP/1.1\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
         400},
        {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n", 413},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHo\rst: a\r\n\r\n", 400},
        {"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 414},
        {"G(T / HTTP/1.1\r\n", 400},
    };
    http_head_verdict_t v;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = head(cases[i].in, &v);
        if (rc != HTTP_HEAD_REFUSED || v.status != cases[i].status)
            fail_msg("case %zu: rc %d status %d (%s)", i, rc, v.status, v.detail);
        assert_non_null(v.slug);
        assert_true(v.detail[0] != '\0');
    }
    /* A head that never ends is refused once it passes header_max, not held forever. */
    char big[400];
    int n = snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
    memset(big + n, 'a', sizeof big - (size_t)n);
    assert_int_equal(http_head_check(big, 256, &LIM, &v), HTTP_HEAD_PARTIAL);
    assert_int_equal(http_head_check(big, 257, &LIM, &v), HTTP_HEAD_REFUSED);
    assert_int_equal(v.status, 431);
    /* Empty lines before the request line count too. */
    char blank[300];
    memset(blank, '\n', sizeof blank);
    assert_int_equal(http_head_check(blank, 256, &LIM, &v), HTTP_HEAD_PARTIAL);
    assert_int_equal(http_head_check(blank, sizeof blank, &LIM, &v), HTTP_HEAD_REFUSED);
    assert_int_equal(v.status, 431);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_id),     cmocka_unit_test(test_credential),
        cmocka_unit_test(test_accepts_gzip),   cmocka_unit_test(test_unescape),
        cmocka_unit_test(test_content_length), cmocka_unit_test(test_cors),
        cmocka_unit_test(test_head_prefixes),  cmocka_unit_test(test_head_at_limit),
        cmocka_unit_test(test_head_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
