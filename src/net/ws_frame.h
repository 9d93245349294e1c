/* WebSocket framing (RFC 6455) as pure functions over buffers: one frame parsed from a client
 * (masking required, reserved bits and opcodes refused, control frames short and whole), frames
 * assembled into bounded messages with text checked as UTF-8 across fragments, close payloads
 * checked, and server frames encoded. No socket here; ws.c drives it. */
#ifndef GANGLION_WS_FRAME_H
#define GANGLION_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"

enum {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA,
};

/* Close codes used here (RFC 6455 7.4.1). 1005 and 1006 are never sent on the wire. */
enum {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL = 1002,
    WS_CLOSE_UNSUPPORTED = 1003,
    WS_CLOSE_NO_STATUS = 1005,
    WS_CLOSE_ABNORMAL = 1006,
    WS_CLOSE_BAD_DATA = 1007,
    WS_CLOSE_POLICY = 1008,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_INTERNAL = 1011,
};

#define WS_CONTROL_MAX 125 /* a control frame's payload */
#define WS_HEAD_MAX    14  /* 2 + 8 (length) + 4 (mask) */

/* Results of the parsers. */
enum {
    WS_FRAME_MORE = 0,   /* not enough bytes yet */
    WS_FRAME_OK = 1,     /* a frame, or a message step (see ws_msg_feed) */
    WS_FRAME_ERROR = -1, /* fail the connection with *code */
};

typedef struct ws_frame {
    bool fin;
    int opcode;
    uint8_t *payload; /* unmasked in place; points into the caller's buffer */
    size_t len;
} ws_frame_t;

/* Parses one frame at buf[0..len). On WS_FRAME_OK the payload is unmasked in place and *used
 * is the frame's size. require_mask: frames from a client must be masked. frame_max bounds a
 * frame's payload (WS_CLOSE_TOO_BIG beyond). On WS_FRAME_ERROR, *code is the close code. */
int ws_frame_parse(uint8_t *buf, size_t len, size_t frame_max, bool require_mask, ws_frame_t *f,
                   size_t *used, uint16_t *code);

/* Incremental UTF-8 check (no overlongs, no surrogates, nothing above U+10FFFF). */
typedef struct ws_utf8 {
    uint8_t need;   /* continuation bytes still expected */
    uint8_t lo, hi; /* the range of the next continuation byte */
} ws_utf8_t;

/* False as soon as the bytes cannot be UTF-8. */
bool ws_utf8_feed(ws_utf8_t *u, const uint8_t *p, size_t n);
/* True when the bytes fed so far end on a character boundary. */
bool ws_utf8_done(const ws_utf8_t *u);

/* A message being assembled from data frames. msg holds the payload (its max is the message
 * bound); opcode is WS_OP_TEXT or WS_OP_BINARY while one is open, 0 between messages. */
typedef struct ws_msg {
    strbuf_t data;
    int opcode;
    ws_utf8_t utf8;
} ws_msg_t;

void ws_msg_init(ws_msg_t *m, size_t message_max);
void ws_msg_free(ws_msg_t *m);
/* Feeds one data frame (text, binary or continuation). WS_FRAME_OK: a whole message is in
 * m->data (its opcode in *opcode) — the caller uses it, then calls ws_msg_reset. WS_FRAME_MORE:
 * a fragment was absorbed. WS_FRAME_ERROR: *code (protocol error, bad UTF-8, too big). */
int ws_msg_feed(ws_msg_t *m, const ws_frame_t *f, int *opcode, uint16_t *code);
void ws_msg_reset(ws_msg_t *m);

/* Checks a close frame's payload: empty (*status 1005, no code given), or a code a peer may
 * send and a UTF-8 reason. 0, or -1 with *code the close code to answer with. */
int ws_close_parse(const uint8_t *p, size_t len, uint16_t *status, const char **reason,
                   size_t *reason_len, uint16_t *code);

/* True for a close code an endpoint may put on the wire. */
bool ws_close_code_valid(unsigned code);

/* Appends one unmasked server frame. 0, -EINVAL (a control frame over 125 bytes), or -ENOMEM
 * / -ENOSPC from the buffer. */
int ws_frame_encode(strbuf_t *out, int opcode, bool fin, const void *payload, size_t len);

/* Appends a close frame: code and a reason cut to fit 123 bytes on a character boundary. A
 * code that may not travel (1005, 1006, 1015, invalid) sends an empty close payload. */
int ws_close_encode(strbuf_t *out, unsigned code, const char *reason);

/* The Sec-WebSocket-Accept value for a client's Sec-WebSocket-Key: base64(SHA-1(key + GUID)).
 * The key must be base64 of 16 bytes (24 characters). 0, or -EINVAL for a bad key. */
#define WS_ACCEPT_LEN 28
int ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1]);

#endif
