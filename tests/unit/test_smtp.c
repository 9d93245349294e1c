/* The pure half of the SMTP client: dot-stuffing and line ends of DATA, the message's RFC 5322
 * headers (and the subject's RFC 2047 words), addresses refused before they reach a command,
 * relay URLs, the relay's replies and EHLO keywords. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net/smtp_client.h"

static char *encode(const char *in)
{
    char *out = NULL;
    size_t n = 0;
    assert_int_equal(smtp_body_encode(in, &out, &n), 0);
    assert_int_equal(strlen(out), n);
    return out;
}

static void test_dot_stuffing(void **state)
{
    (void)state;
    char *o = encode(".hidden\n..two\nmid.dle\n.\nend");
    assert_string_equal(o, "..hidden\r\n...two\r\nmid.dle\r\n..\r\nend\r\n");
    free(o);
    o = encode("a\r\n.b\r\n\r\n.");
    assert_string_equal(o, "a\r\n..b\r\n\r\n..\r\n");
    free(o);
    o = encode("lone\rcr");
    assert_string_equal(o, "lone\r\ncr\r\n");
    free(o);
    o = encode("");
    assert_string_equal(o, "\r\n");
    free(o);
}

static void test_line_and_body_limits(void **state)
{
    (void)state;
    char *line = malloc(1200);
    memset(line, 'x', 999);
    line[999] = '\0';
    char *o = NULL;
    size_t n;
    assert_int_equal(smtp_body_encode(line, &o, &n), -E2BIG);
    line[998] = '\0';
    assert_int_equal(smtp_body_encode(line, &o, &n), 0);
    assert_int_equal(n, 1000);
    free(o);
    free(line);
    char *big = malloc(SMTP_BODY_MAX + 2);
    for (size_t i = 0; i < SMTP_BODY_MAX + 1; i++)
        big[i] = i % 80 == 79 ? '\n' : 'y';
    big[SMTP_BODY_MAX + 1] = '\0';
    assert_int_equal(smtp_body_encode(big, &o, &n), -E2BIG);
    free(big);
}

static void test_message_headers(void **state)
{
    (void)state;
    smtp_msg_t m = {.to = "alice@example.org", .subject = "Reset", .body = ".line\nnext"};
    char *o = NULL;
    size_t n = 0;
    /* 2026-12-07T03:21:24Z, a Monday */
    assert_int_equal(smtp_message_build("ganglion@example.com", &m, 1796613684000LL, &o, &n), 0);
    assert_non_null(strstr(o, "Date: Mon, 07 Dec 2026 03:21:24 +0000\r\n"));
    assert_non_null(strstr(o, "@example.com>\r\n"));
    assert_non_null(strstr(o, "Message-ID: <"));
    assert_non_null(strstr(o, "From: ganglion@example.com\r\nTo: alice@example.org\r\n"));
    assert_non_null(strstr(o, "Subject: Reset\r\nMIME-Version: 1.0\r\n"));
    assert_non_null(strstr(o, "Content-Type: text/plain; charset=UTF-8\r\n"));
    const char *sep = strstr(o, "\r\n\r\n");
    assert_non_null(sep);
    assert_string_equal(sep + 4, "..line\r\nnext\r\n");
    free(o);
}

static void test_subject_encoding(void **state)
{
    (void)state;
    smtp_msg_t m = {.to = "a@b.c", .subject = "Passwort zurücksetzen", .body = "x"};
    char *o = NULL;
    size_t n = 0;
    assert_int_equal(smtp_message_build("g@b.c", &m, 0, &o, &n), 0);
    /* base64 of "Passwort zurücksetzen" */
    assert_non_null(strstr(o, "Subject: =?UTF-8?B?UGFzc3dvcnQgenVyw7xja3NldHplbg==?=\r\n"));
    free(o);
    m.subject = "evil\r\nBcc: x@y.z";
    assert_int_equal(smtp_message_build("g@b.c", &m, 0, &o, &n), -EINVAL);
}

static void test_addresses(void **state)
{
    (void)state;
    assert_int_equal(smtp_addr_check("alice@example.org"), 0);
    assert_int_equal(smtp_addr_check("a.b+tag@sub.example.org"), 0);
    const char *bad[] = {"",        "alice",   "@x",
                         "a@",      "a b@c.d", "a@b.c>\r\nRCPT TO:<x@y.z",
                         "<a@b.c>", "a,b@c.d", "a\"@b.c"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(smtp_addr_check(bad[i]), -EINVAL);
    smtp_msg_t m = {.to = "x@y.z>\r\nDATA", .subject = "s", .body = "b"};
    char *o = NULL;
    size_t n;
    assert_int_equal(smtp_message_build("g@b.c", &m, 0, &o, &n), -EINVAL);
}

static void test_urls(void **state)
{
    (void)state;
    smtp_url_t u;
    assert_int_equal(smtp_url_parse("smtp://127.0.0.1:2525", &u), 0);
    assert_int_equal(u.tls, SMTP_TLS_NONE);
    assert_string_equal(u.host, "127.0.0.1");
    assert_string_equal(u.port, "2525");
    assert_string_equal(u.user, "");
    assert_int_equal(smtp_url_parse("smtps://bob:p%40ss@mail.example.org", &u), 0);
    assert_int_equal(u.tls, SMTP_TLS_IMPLICIT);
    assert_string_equal(u.user, "bob");
    assert_string_equal(u.pass, "p@ss");
    assert_string_equal(u.port, "465");
    assert_int_equal(smtp_url_parse("smtp+starttls://[::1]/", &u), 0);
    assert_int_equal(u.tls, SMTP_TLS_STARTTLS);
    assert_string_equal(u.host, "::1");
    assert_string_equal(u.port, "587");
    const char *bad[] = {"http://x",    "smtp://",       "smtp://h:0", "smtp://h:70000",
                         "smtp://h:2x", "smtp://h/path", "smtp://[::1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(smtp_url_parse(bad[i], &u), -EINVAL);
}

/* Feeds `bytes` to one reply the way the client reads them, `chunk` bytes at a time. */
static int take(const char *bytes, size_t chunk, char *whole, size_t wlen, char *text)
{
    char buf[SMTP_REPLY_MAX];
    size_t have = 0, at = 0, n = strlen(bytes);
    smtp_reply_t r = {0};
    for (;;) {
        size_t k = n - at < chunk ? n - at : chunk;
        memcpy(buf + have, bytes + at, k);
        have += k;
        at += k;
        buf[have] = '\0';
        int code = smtp_reply_take(&r, buf, &have, whole, wlen, text, 256);
        if (code != 0 || at == n)
            return code;
    }
}

static void test_replies(void **state)
{
    (void)state;
    char whole[SMTP_REPLY_MAX], text[256];
    /* a multi-line reply split anywhere: every line kept, the code and last line returned */
    const char *ehlo = "250-relay.example Hello\r\n250-SIZE 100\r\n250 STARTTLS\r\n";
    for (size_t chunk = 1; chunk < 8; chunk++) {
        assert_int_equal(take(ehlo, chunk, whole, sizeof whole, text), 250);
        assert_string_equal(whole, "250-relay.example Hello\n250-SIZE 100\n250 STARTTLS\n");
        assert_string_equal(text, "250 STARTTLS");
    }
    /* not ended yet: more bytes needed */
    assert_int_equal(take("250-a\r\n250 b", 64, whole, sizeof whole, text), 0);
    /* malformed: no code, a code outside 1xx..5xx, a code that changes within the reply */
    assert_int_equal(take("hello\r\n", 64, whole, sizeof whole, text), -EPROTO);
    assert_int_equal(take("000 zero\r\n", 64, whole, sizeof whole, text), -EPROTO);
    assert_int_equal(take("250-a\r\n550 b\r\n", 64, whole, sizeof whole, text), -EPROTO);
    assert_non_null(strstr(text, "changed the code"));
    /* a line that fills the whole buffer is refused rather than waited on */
    char *big = malloc(SMTP_REPLY_MAX + 1);
    assert_non_null(big);
    memset(big, 'x', SMTP_REPLY_MAX);
    memcpy(big, "250 ", 4);
    big[SMTP_REPLY_MAX - 1] = '\0';
    assert_int_equal(take(big, SMTP_REPLY_MAX, whole, sizeof whole, text), -EPROTO);
    free(big);
}

static void test_ehlo_keywords(void **state)
{
    (void)state;
    const char *ext = "250-relay.example offers STARTTLS soon\n250-starttls\n250-AUTH PLAIN\n"
                      "250 SIZE\n";
    /* keywords are case-insensitive and only the first word of a line after the greeting */
    assert_true(smtp_ehlo_has(ext, "STARTTLS"));
    assert_true(smtp_ehlo_has(ext, "AUTH"));
    assert_true(smtp_ehlo_has(ext, "SIZE"));
    assert_false(smtp_ehlo_has(ext, "PLAIN"));
    assert_false(smtp_ehlo_has(ext, "AUT"));
    assert_false(smtp_ehlo_has("250-relay.example STARTTLS\n250 SIZE\n", "STARTTLS"));
    assert_false(smtp_ehlo_has("250 relay.example\n", "STARTTLS"));
    assert_false(smtp_ehlo_has("", "STARTTLS"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dot_stuffing),    cmocka_unit_test(test_line_and_body_limits),
        cmocka_unit_test(test_message_headers), cmocka_unit_test(test_subject_encoding),
        cmocka_unit_test(test_addresses),       cmocka_unit_test(test_urls),
        cmocka_unit_test(test_replies),         cmocka_unit_test(test_ehlo_keywords),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
