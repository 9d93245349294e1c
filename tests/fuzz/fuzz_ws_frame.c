/* Fuzzes the WebSocket framer (src/net/ws_frame.c): a client's byte stream is cut into frames,
 * data frames are assembled into bounded messages, close payloads are checked. Invariants: a
 * parsed frame lies inside the input, a control frame is whole and at most 125 bytes, a text
 * message is valid UTF-8 (checked here by a separate decoder), every frame re-encodes and parses
 * back to the same frame, and no close frame the server writes carries 1005 or 1006.
 * Input: byte 0 picks the frame and message bounds and whether masking is required; the rest
 * is the stream. */
#include <assert.h>
#include <stdbool.h>

#include "fuzz_util.h"
#include "net/ws_frame.h"

/* A plain decoder, independent of ws_utf8_feed: true when s[0..n) is UTF-8. */
static bool fuzz_utf8(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t c = s[i], cp;
        size_t k;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (k >= n - i)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        static const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += k + 1;
    }
    return true;
}

static void fuzz_roundtrip(const ws_frame_t *f)
{
    strbuf_t out;
    strbuf_init(&out, 0);
    if (ws_frame_encode(&out, f->opcode, f->fin, f->payload, f->len) != 0)
        abort();
    ws_frame_t g;
    size_t used = 0;
    uint16_t code = 0;
    int rc = ws_frame_parse((uint8_t *)out.data, out.len, SIZE_MAX >> 1, false, &g, &used, &code);
    assert(rc == WS_FRAME_OK && used == out.len && g.fin == f->fin && g.opcode == f->opcode);
    assert(g.len == f->len && (f->len == 0 || memcmp(g.payload, f->payload, f->len) == 0));
    strbuf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t opt = data[0];
    size_t frame_max = (opt & 3) == 0 ? 125 : (opt & 3) == 1 ? 4096 : 1 << 20;
    size_t message_max = (opt & 4) ? 256 : 1 << 20;
    bool require_mask = (opt & 8) != 0;
    size_t len = size - 1;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        abort();
    if (len)
        memcpy(buf, data + 1, len);

    ws_msg_t m;
    ws_msg_init(&m, message_max);
    size_t off = 0;
    while (off < len) {
        ws_frame_t f;
        size_t used = 0;
        uint16_t code = 0;
        int rc = ws_frame_parse(buf + off, len - off, frame_max, require_mask, &f, &used, &code);
        if (rc == WS_FRAME_MORE)
            break;
        if (rc == WS_FRAME_ERROR) {
            assert(ws_close_code_valid(code));
            break;
        }
        assert(used > 0 && used <= len - off && f.len <= frame_max);
        assert(f.payload >= buf + off && f.payload + f.len <= buf + off + used);
        if (f.opcode & 0x8)
            assert(f.fin && f.len <= WS_CONTROL_MAX);
        fuzz_roundtrip(&f);
        off += used;
        if (f.opcode == WS_OP_CLOSE) {
            uint16_t st = 0;
            const char *reason;
            size_t rlen;
            if (ws_close_parse(f.payload, f.len, &st, &reason, &rlen, &code) == 0) {
                assert(st == WS_CLOSE_NO_STATUS || ws_close_code_valid(st));
                assert(fuzz_utf8((const uint8_t *)reason, rlen));
                strbuf_t out;
                strbuf_init(&out, 0);
                char r[WS_CONTROL_MAX + 1];
                memcpy(r, reason ? reason : "", rlen);
                r[rlen] = '\0';
                if (ws_close_encode(&out, st, r) != 0)
                    abort();
                assert(out.len <= 2 + WS_CONTROL_MAX);
                if (out.len >= 4) {
                    unsigned c = (unsigned)(uint8_t)out.data[2] << 8 | (uint8_t)out.data[3];
                    assert(c != WS_CLOSE_NO_STATUS && c != WS_CLOSE_ABNORMAL);
                }
                strbuf_free(&out);
            } else {
                assert(code == WS_CLOSE_PROTOCOL || code == WS_CLOSE_BAD_DATA);
            }
            break;
        }
        if (f.opcode == WS_OP_PING || f.opcode == WS_OP_PONG)
            continue;
        int op = 0;
        rc = ws_msg_feed(&m, &f, &op, &code);
        if (rc == WS_FRAME_ERROR) {
            assert(ws_close_code_valid(code));
            break;
        }
        if (rc == WS_FRAME_OK) {
            assert(m.data.len <= message_max);
            if (op == WS_OP_TEXT)
                assert(fuzz_utf8((const uint8_t *)m.data.data, m.data.len));
            ws_msg_reset(&m);
        }
    }
    ws_msg_free(&m);
    free(buf);
    return 0;
}
