/* Unit tests for the WebSocket framer: the cases of the Autobahn suite that a server must get
 * right — fragmentation, control frames between fragments, reserved bits and opcodes, unmasked
 * client frames, size bounds, UTF-8 in text and close reasons, close codes, the accept key. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "net/ws_frame.h"

/* A client frame: masked with a fixed key unless mask is false. Returns its size. */
static size_t client_frame(uint8_t *out, bool fin, int op, const void *payload, size_t len,
                           bool mask)
{
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t n = 0;
    out[n++] = (uint8_t)((fin ? 0x80 : 0) | op);
    uint8_t m = mask ? 0x80 : 0;
    if (len < 126) {
        out[n++] = (uint8_t)(m | len);
    } else if (len <= 0xFFFF) {
        out[n++] = m | 126;
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = m | 127;
        for (int i = 0; i < 8; i++)
            out[n++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    if (mask) {
        memcpy(out + n, key, 4);
        n += 4;
    }
    for (size_t i = 0; i < len; i++)
        out[n + i] = (uint8_t)(((const uint8_t *)payload)[i] ^ (mask ? key[i & 3] : 0));
    return n + len;
}

static uint8_t buf[80000];

static void test_parse_masked_text(void **state)
{
    (void)state;
    size_t n = client_frame(buf, true, WS_OP_TEXT, "Hello", 5, true);
    ws_frame_t f;
    size_t used = 0;
    uint16_t code = 0;
    /* every prefix is incomplete, not an error */
    for (size_t k = 0; k < n; k++)
        assert_int_equal(ws_frame_parse(buf, k, 1024, true, &f, &used, &code), WS_FRAME_MORE);
    assert_int_equal(ws_frame_parse(buf, n, 1024, true, &f, &used, &code), WS_FRAME_OK);
    assert_int_equal(used, n);
    assert_true(f.fin);
    assert_int_equal(f.opcode, WS_OP_TEXT);
    assert_int_equal(f.len, 5);
    assert_memory_equal(f.payload, "Hello", 5);
}

static void test_parse_lengths(void **state)
{
    (void)state;
    static uint8_t payload[70000];
    memset(payload, 'x', sizeof payload);
    size_t sizes[] = {0, 125, 126, 127, 65535, 65536, 70000};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t n = client_frame(buf, true, WS_OP_BINARY, payload, sizes[i], true);
        ws_frame_t f;
        size_t used;
        uint16_t code;
        assert_int_equal(ws_frame_parse(buf, n, 100000, true, &f, &used, &code), WS_FRAME_OK);
        assert_int_equal(f.len, sizes[i]);
        assert_int_equal(used, n);
        /* above the frame bound: 1009 as soon as the length is known */
        if (sizes[i] > 0) {
            assert_int_equal(ws_frame_parse(buf, 10, sizes[i] - 1, true, &f, &used, &code),
                             WS_FRAME_ERROR);
            assert_int_equal(code, WS_CLOSE_TOO_BIG);
        }
    }
    /* a 64-bit length with its top bit set */
    uint8_t huge[14] = {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
    ws_frame_t f;
    size_t used;
    uint16_t code = 0;
    assert_int_equal(ws_frame_parse(huge, sizeof huge, SIZE_MAX, true, &f, &used, &code),
                     WS_FRAME_ERROR);
    assert_int_equal(code, WS_CLOSE_PROTOCOL);
}

static void expect_protocol_error(uint8_t *b, size_t n)
{
    ws_frame_t f;
    size_t used;
    uint16_t code = 0;
    assert_int_equal(ws_frame_parse(b, n, 1 << 20, true, &f, &used, &code), WS_FRAME_ERROR);
    assert_int_equal(code, WS_CLOSE_PROTOCOL);
}

static void test_parse_refusals(void **state)
{
    (void)state;
    /* unmasked client frame */
    size_t n = client_frame(buf, true, WS_OP_TEXT, "hi", 2, false);
    expect_protocol_error(buf, n);
    /* reserved bits */
    for (int rsv = 0x10; rsv <= 0x40; rsv <<= 1) {
        n = client_frame(buf, true, WS_OP_TEXT, "hi", 2, true);
        buf[0] |= (uint8_t)rsv;
        expect_protocol_error(buf, n);
    }
    /* reserved opcodes, data and control */
    int bad[] = {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        n = client_frame(buf, true, bad[i], "", 0, true);
        expect_protocol_error(buf, n);
    }
    /* control frames: fragmented, or over 125 bytes */
    n = client_frame(buf, false, WS_OP_PING, "x", 1, true);
    expect_protocol_error(buf, n);
    static uint8_t big[126];
    n = client_frame(buf, true, WS_OP_PING, big, sizeof big, true);
    expect_protocol_error(buf, n);
    n = client_frame(buf, true, WS_OP_CLOSE, big, sizeof big, true);
    expect_protocol_error(buf, n);
    /* 125 bytes is fine */
    n = client_frame(buf, true, WS_OP_PONG, big, 125, true);
    ws_frame_t f;
    size_t used;
    uint16_t code;
    assert_int_equal(ws_frame_parse(buf, n, 1 << 20, true, &f, &used, &code), WS_FRAME_OK);
}

/* Feeds a frame built from (fin, op, payload) into m. */
static int feed(ws_msg_t *m, bool fin, int op, const char *p, size_t len, int *opcode,
                uint16_t *code)
{
    ws_frame_t f = {.fin = fin, .opcode = op, .payload = (uint8_t *)(uintptr_t)p, .len = len};
    return ws_msg_feed(m, &f, opcode, code);
}

static void test_fragmentation(void **state)
{
    (void)state;
    ws_msg_t m;
    ws_msg_init(&m, 64);
    int op = 0;
    uint16_t code = 0;
    assert_int_equal(feed(&m, false, WS_OP_TEXT, "frag", 4, &op, &code), WS_FRAME_MORE);
    /* a ping between fragments is handled by the caller; the message stays open */
    assert_int_equal(feed(&m, false, WS_OP_CONT, "men", 3, &op, &code), WS_FRAME_MORE);
    assert_int_equal(feed(&m, true, WS_OP_CONT, "ted", 3, &op, &code), WS_FRAME_OK);
    assert_int_equal(op, WS_OP_TEXT);
    assert_int_equal(m.data.len, 10);
    assert_memory_equal(m.data.data, "fragmented", 10);
    ws_msg_reset(&m);
    /* empty fragments are fine */
    assert_int_equal(feed(&m, false, WS_OP_BINARY, "", 0, &op, &code), WS_FRAME_MORE);
    assert_int_equal(feed(&m, true, WS_OP_CONT, "", 0, &op, &code), WS_FRAME_OK);
    assert_int_equal(op, WS_OP_BINARY);
    ws_msg_reset(&m);
    /* a continuation with nothing open */
    assert_int_equal(feed(&m, true, WS_OP_CONT, "x", 1, &op, &code), WS_FRAME_ERROR);
    assert_int_equal(code, WS_CLOSE_PROTOCOL);
    ws_msg_reset(&m);
    /* a new data frame while a message is open */
    assert_int_equal(feed(&m, false, WS_OP_TEXT, "a", 1, &op, &code), WS_FRAME_MORE);
    assert_int_equal(feed(&m, true, WS_OP_TEXT, "b", 1, &op, &code), WS_FRAME_ERROR);
    assert_int_equal(code, WS_CLOSE_PROTOCOL);
    ws_msg_reset(&m);
    /* the message bound, reached across fragments */
    char big[40];
    memset(big, 'a', sizeof big);
    assert_int_equal(feed(&m, false, WS_OP_BINARY, big, 40, &op, &code), WS_FRAME_MORE);
    assert_int_equal(feed(&m, true, WS_OP_CONT, big, 24, &op, &code), WS_FRAME_OK);
    ws_msg_reset(&m);
    assert_int_equal(feed(&m, false, WS_OP_BINARY, big, 40, &op, &code), WS_FRAME_MORE);
    assert_int_equal(feed(&m, true, WS_OP_CONT, big, 25, &op, &code), WS_FRAME_ERROR);
    assert_int_equal(code, WS_CLOSE_TOO_BIG);
    ws_msg_free(&m);
}

static void test_text_utf8(void **state)
{
    (void)state;
    ws_msg_t m;
    ws_msg_init(&m, 1024);
    int op;
    uint16_t code = 0;
    /* "κόσμε" split inside a character: valid across fragments */
    const char *kosme = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
    assert_int_equal(feed(&m, false, WS_OP_TEXT, kosme, 3, &op, &code), WS_FRAME_MORE);
    assert_int_equal(feed(&m, true, WS_OP_CONT, kosme + 3, strlen(kosme) - 3, &op, &code),
                     WS_FRAME_OK);
    ws_msg_reset(&m);
    /* invalid bytes fail fast, in the fragment that holds them */
    const char *bad[] = {"\xff",         "\xc0\xaf",         "\xe0\x80\xaf",
                         "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80",
                         "\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(feed(&m, false, WS_OP_TEXT, bad[i], strlen(bad[i]), &op, &code),
                         WS_FRAME_ERROR);
        assert_int_equal(code, WS_CLOSE_BAD_DATA);
        ws_msg_reset(&m);
    }
    /* a message that ends inside a character */
    assert_int_equal(feed(&m, true, WS_OP_TEXT, "\xce", 1, &op, &code), WS_FRAME_ERROR);
    assert_int_equal(code, WS_CLOSE_BAD_DATA);
    ws_msg_reset(&m);
    /* binary is not checked */
    assert_int_equal(feed(&m, true, WS_OP_BINARY, "\xff", 1, &op, &code), WS_FRAME_OK);
    /* the largest code point and the last before the surrogates */
    ws_utf8_t u = {0};
    assert_true(ws_utf8_feed(&u, (const uint8_t *)"\xf4\x8f\xbf\xbf\xed\x9f\xbf", 7));
    assert_true(ws_utf8_done(&u));
    ws_msg_free(&m);
}

static void test_close_payload(void **state)
{
    (void)state;
    uint16_t st = 0, code = 0;
    const char *reason;
    size_t rlen;
    assert_int_equal(ws_close_parse((const uint8_t *)"", 0, &st, &reason, &rlen, &code), 0);
    assert_int_equal(st, WS_CLOSE_NO_STATUS);
    assert_int_equal(ws_close_parse((const uint8_t *)"\x03", 1, &st, &reason, &rlen, &code), -1);
    assert_int_equal(code, WS_CLOSE_PROTOCOL);
    assert_int_equal(ws_close_parse((const uint8_t *)"\x03\xe8"
                                                     "bye",
                                    5, &st, &reason, &rlen, &code),
                     0);
    assert_int_equal(st, 1000);
    assert_int_equal(rlen, 3);
    assert_memory_equal(reason, "bye", 3);
    /* codes a peer may not send */
    unsigned bad[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        uint8_t p[2] = {(uint8_t)(bad[i] >> 8), (uint8_t)bad[i]};
        assert_int_equal(ws_close_parse(p, 2, &st, &reason, &rlen, &code), -1);
        assert_int_equal(code, WS_CLOSE_PROTOCOL);
    }
    unsigned good[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        uint8_t p[2] = {(uint8_t)(good[i] >> 8), (uint8_t)good[i]};
        assert_int_equal(ws_close_parse(p, 2, &st, &reason, &rlen, &code), 0);
    }
    /* a reason that is not UTF-8 */
    assert_int_equal(ws_close_parse((const uint8_t *)"\x03\xe8\xce", 3, &st, &reason, &rlen, &code),
                     -1);
    assert_int_equal(code, WS_CLOSE_BAD_DATA);
}

static void test_encode(void **state)
{
    (void)state;
    strbuf_t out;
    strbuf_init(&out, 0);
    assert_int_equal(ws_frame_encode(&out, WS_OP_TEXT, true, "Hello", 5), 0);
    assert_int_equal(out.len, 7);
    assert_memory_equal(out.data, "\x81\x05Hello", 7);
    strbuf_reset(&out);
    static char big[70000];
    assert_int_equal(ws_frame_encode(&out, WS_OP_BINARY, true, big, 300), 0);
    assert_memory_equal(out.data, "\x82\x7e\x01\x2c", 4);
    strbuf_reset(&out);
    assert_int_equal(ws_frame_encode(&out, WS_OP_BINARY, true, big, 70000), 0);
    assert_int_equal(out.len, 70010);
    assert_memory_equal(out.data, "\x82\x7f\0\0\0\0\0\x01\x11\x70", 10);
    strbuf_reset(&out);
    /* control frames stay whole and short */
    assert_int_equal(ws_frame_encode(&out, WS_OP_PING, true, big, 126), -EINVAL);
    assert_int_equal(ws_frame_encode(&out, WS_OP_PING, false, big, 1), -EINVAL);
    /* close: 1005 and 1006 never travel; a long reason is cut on a character boundary */
    assert_int_equal(ws_close_encode(&out, WS_CLOSE_NO_STATUS, "x"), 0);
    assert_memory_equal(out.data, "\x88\x00", 2);
    strbuf_reset(&out);
    assert_int_equal(ws_close_encode(&out, WS_CLOSE_ABNORMAL, NULL), 0);
    assert_int_equal(out.len, 2);
    strbuf_reset(&out);
    char reason[200];
    for (size_t i = 0; i + 1 < sizeof reason; i += 2)
        memcpy(reason + i, "\xce\xbc", 2);
    reason[sizeof reason - 1] = '\0';
    assert_int_equal(ws_close_encode(&out, WS_CLOSE_POLICY, reason), 0);
    assert_true(out.len <= 2 + WS_CONTROL_MAX);
    uint16_t st, code;
    const char *r;
    size_t rlen;
    assert_int_equal(
        ws_close_parse((const uint8_t *)out.data + 2, out.len - 2, &st, &r, &rlen, &code), 0);
    assert_int_equal(st, WS_CLOSE_POLICY);
    assert_int_equal(rlen % 2, 0);
    strbuf_free(&out);
}

static void test_accept_key(void **state)
{
    (void)state;
    char out[WS_ACCEPT_LEN + 1];
    /* RFC 6455 section 1.3 */
    assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ", out), -EINVAL);
    assert_int_equal(ws_accept_key("not base64 at all!!!!!==", out), -EINVAL);
    assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZXg=", out), -EINVAL); /* 17 bytes */
    assert_int_equal(ws_accept_key(NULL, out), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_masked_text),
        cmocka_unit_test(test_parse_lengths),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_fragmentation),
        cmocka_unit_test(test_text_utf8),
        cmocka_unit_test(test_close_payload),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_accept_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
