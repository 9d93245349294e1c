/* WebSocket framing (see ws_frame.h): the frame parser, the UTF-8 check that runs across
 * fragments, the message assembler with its size bound, the close payload check and the
 * server-side encoder. Every length read from the wire is checked before it is used. */
#include "net/ws_frame.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "core/sha1.h"

static int ws_fail(uint16_t *code, uint16_t c)
{
    *code = c;
    return WS_FRAME_ERROR;
}

static bool ws_opcode_known(int op)
{
    return op == WS_OP_CONT || op == WS_OP_TEXT || op == WS_OP_BINARY || op == WS_OP_CLOSE ||
           op == WS_OP_PING || op == WS_OP_PONG;
}

int ws_frame_parse(uint8_t *buf, size_t len, size_t frame_max, bool require_mask, ws_frame_t *f,
                   size_t *used, uint16_t *code)
{
    if (len < 2)
        return WS_FRAME_MORE;
    uint8_t b0 = buf[0], b1 = buf[1];
    if (b0 & 0x70) /* RSV1-3: no extension was negotiated */
        return ws_fail(code, WS_CLOSE_PROTOCOL);
    f->fin = (b0 & 0x80) != 0;
    f->opcode = b0 & 0x0F;
    if (!ws_opcode_known(f->opcode))
        return ws_fail(code, WS_CLOSE_PROTOCOL);
    bool masked = (b1 & 0x80) != 0;
    if (require_mask && !masked)
        return ws_fail(code, WS_CLOSE_PROTOCOL);
    bool control = (f->opcode & 0x8) != 0;
    uint64_t plen = b1 & 0x7F;
    size_t pos = 2;
    if (control && (!f->fin || plen > WS_CONTROL_MAX))
        return ws_fail(code, WS_CLOSE_PROTOCOL);
    if (plen == 126) {
        if (len < 4)
            return WS_FRAME_MORE;
        plen = (uint64_t)buf[2] << 8 | buf[3];
        pos = 4;
    } else if (plen == 127) {
        if (len < 10)
            return WS_FRAME_MORE;
        plen = 0;
        for (int i = 0; i < 8; i++)
            plen = plen << 8 | buf[2 + i];
        if (plen >> 63)
            return ws_fail(code, WS_CLOSE_PROTOCOL);
        pos = 10;
    }
    if (plen > frame_max)
        return ws_fail(code, WS_CLOSE_TOO_BIG);
    uint8_t mask[4] = {0};
    if (masked) {
        if (len < pos + 4)
            return WS_FRAME_MORE;
        memcpy(mask, buf + pos, 4);
        pos += 4;
    }
    if (len - pos < plen)
        return WS_FRAME_MORE;
    f->payload = buf + pos;
    f->len = (size_t)plen;
    if (masked)
        for (size_t i = 0; i < f->len; i++)
            f->payload[i] ^= mask[i & 3];
    *used = pos + f->len;
    return WS_FRAME_OK;
}

/* ---- UTF-8 ------------------------------------------------------------------------------ */

bool ws_utf8_feed(ws_utf8_t *u, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (u->need) {
            if (c < u->lo || c > u->hi)
                return false;
            u->need--;
            u->lo = 0x80;
            u->hi = 0xBF;
            continue;
        }
        u->lo = 0x80;
        u->hi = 0xBF;
        if (c < 0x80)
            continue;
        if (c >= 0xC2 && c <= 0xDF) {
            u->need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            u->need = 2;
            if (c == 0xE0)
                u->lo = 0xA0; /* overlong */
            else if (c == 0xED)
                u->hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            u->need = 3;
            if (c == 0xF0)
                u->lo = 0x90; /* overlong */
            else if (c == 0xF4)
                u->hi = 0x8F; /* above U+10FFFF */
        } else {
            return false;
        }
    }
    return true;
}

bool ws_utf8_done(const ws_utf8_t *u)
{
    return u->need == 0;
}

/* ---- messages --------------------------------------------------------------------------- */

void ws_msg_init(ws_msg_t *m, size_t message_max)
{
    memset(m, 0, sizeof *m);
    strbuf_init(&m->data, message_max);
}

void ws_msg_free(ws_msg_t *m)
{
    strbuf_free(&m->data);
    m->opcode = 0;
}

void ws_msg_reset(ws_msg_t *m)
{
    strbuf_reset(&m->data);
    m->opcode = 0;
    memset(&m->utf8, 0, sizeof m->utf8);
}

int ws_msg_feed(ws_msg_t *m, const ws_frame_t *f, int *opcode, uint16_t *code)
{
    if (f->opcode == WS_OP_CONT) {
        if (!m->opcode) /* a continuation with no message open */
            return ws_fail(code, WS_CLOSE_PROTOCOL);
    } else if (f->opcode == WS_OP_TEXT || f->opcode == WS_OP_BINARY) {
        if (m->opcode) /* a new message while one is fragmented */
            return ws_fail(code, WS_CLOSE_PROTOCOL);
        m->opcode = f->opcode;
        memset(&m->utf8, 0, sizeof m->utf8);
    } else {
        return ws_fail(code, WS_CLOSE_PROTOCOL);
    }
    if (m->data.max && f->len > m->data.max - m->data.len)
        return ws_fail(code, WS_CLOSE_TOO_BIG);
    if (m->opcode == WS_OP_TEXT && !ws_utf8_feed(&m->utf8, f->payload, f->len))
        return ws_fail(code, WS_CLOSE_BAD_DATA);
    if (f->len && strbuf_append(&m->data, f->payload, f->len) < 0)
        return ws_fail(code, WS_CLOSE_TOO_BIG);
    if (!f->fin)
        return WS_FRAME_MORE;
    if (m->opcode == WS_OP_TEXT && !ws_utf8_done(&m->utf8))
        return ws_fail(code, WS_CLOSE_BAD_DATA);
    *opcode = m->opcode;
    return WS_FRAME_OK;
}

/* ---- close ------------------------------------------------------------------------------ */

bool ws_close_code_valid(unsigned code)
{
    if (code >= 3000 && code <= 4999)
        return true;
    switch (code) {
    case 1000:
    case 1001:
    case 1002:
    case 1003:
    case 1007:
    case 1008:
    case 1009:
    case 1010:
    case 1011:
    case 1012:
    case 1013:
    case 1014:
        return true;
    default:
        return false;
    }
}

int ws_close_parse(const uint8_t *p, size_t len, uint16_t *status, const char **reason,
                   size_t *reason_len, uint16_t *code)
{
    *reason = NULL;
    *reason_len = 0;
    if (len == 0) {
        *status = WS_CLOSE_NO_STATUS;
        return 0;
    }
    if (len == 1) {
        *code = WS_CLOSE_PROTOCOL;
        return -1;
    }
    unsigned c = (unsigned)p[0] << 8 | p[1];
    if (!ws_close_code_valid(c)) {
        *code = WS_CLOSE_PROTOCOL;
        return -1;
    }
    ws_utf8_t u = {0};
    if (!ws_utf8_feed(&u, p + 2, len - 2) || !ws_utf8_done(&u)) {
        *code = WS_CLOSE_BAD_DATA;
        return -1;
    }
    *status = (uint16_t)c;
    *reason = (const char *)p + 2;
    *reason_len = len - 2;
    return 0;
}

/* ---- encoding --------------------------------------------------------------------------- */

int ws_frame_encode(strbuf_t *out, int opcode, bool fin, const void *payload, size_t len)
{
    if ((opcode & 0x8) && (len > WS_CONTROL_MAX || !fin))
        return -EINVAL;
    uint8_t head[10];
    size_t n = 2;
    head[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0F));
    if (len < 126) {
        head[1] = (uint8_t)len;
    } else if (len <= 0xFFFF) {
        head[1] = 126;
        head[2] = (uint8_t)(len >> 8);
        head[3] = (uint8_t)len;
        n = 4;
    } else {
        head[1] = 127;
        for (int i = 0; i < 8; i++)
            head[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        n = 10;
    }
    int rc = strbuf_append(out, head, n);
    if (rc == 0 && len)
        rc = strbuf_append(out, payload, len);
    return rc;
}

int ws_close_encode(strbuf_t *out, unsigned code, const char *reason)
{
    if (!ws_close_code_valid(code))
        return ws_frame_encode(out, WS_OP_CLOSE, true, NULL, 0);
    uint8_t p[WS_CONTROL_MAX];
    p[0] = (uint8_t)(code >> 8);
    p[1] = (uint8_t)code;
    size_t n = reason ? strlen(reason) : 0;
    if (n > WS_CONTROL_MAX - 2) {
        n = WS_CONTROL_MAX - 2;
        while (n > 0 && ((uint8_t)reason[n] & 0xC0) == 0x80)
            n--; /* do not cut a character */
    }
    if (n)
        memcpy(p + 2, reason, n);
    return ws_frame_encode(out, WS_OP_CLOSE, true, p, 2 + n);
}

/* ---- the opening handshake -------------------------------------------------------------- */

int ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char raw[18];
    size_t rawlen = 0;
    if (!key || strlen(key) != 24 ||
        sodium_base642bin(raw, sizeof raw, key, 24, NULL, &rawlen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        rawlen != 16)
        return -EINVAL;
    char buf[24 + sizeof guid];
    memcpy(buf, key, 24);
    memcpy(buf + 24, guid, sizeof guid);
    unsigned char sha[SHA1_LEN];
    sha1_digest(buf, 24 + sizeof guid - 1, sha);
    sodium_bin2base64(out, WS_ACCEPT_LEN + 1, sha, sizeof sha, sodium_base64_VARIANT_ORIGINAL);
    return 0;
}
