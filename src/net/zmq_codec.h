/* The ZMQ RPC encodings on the wire: JSON or MessagePack detected per message, MessagePack
 * mapped to and from jansson values faithfully (integers stay integers, floats stay floats),
 * decoding bounded in depth and in values (core/jsonx.h). The envelope itself is read in
 * net/zmq_envelope.h. Pure functions over buffers, so they are unit-testable without sockets. */
#ifndef GANGLION_ZMQ_CODEC_H
#define GANGLION_ZMQ_CODEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/jsonx.h"
#include "core/problem.h"
#include "core/strbuf.h"

typedef enum zmq_codec_enc {
    ZMQ_CODEC_JSON = 0,
    ZMQ_CODEC_MSGPACK,
} zmq_codec_enc_t;

/* Picks the encoding from the first byte: '{' (after JSON whitespace) is JSON, a MessagePack
 * map header (fixmap, map16, map32) is MessagePack. Returns -1 for anything else (an envelope is
 * always an object). */
int zmq_codec_detect(const void *buf, size_t len, zmq_codec_enc_t *enc);

/* Decodes one value into a new jansson value within the budget b (which is charged; see
 * jsonx_budget_init). MessagePack mapping: nil/bool/str/array as in JSON; integers to JSON
 * integers (an unsigned value above INT64_MAX is refused); float32/64 to JSON reals (NaN and
 * infinities refused); bin to a base64 string (standard alphabet, padded); map keys must be
 * strings and appear once; ext types are refused; trailing bytes are refused. The bytes are
 * walked once without building anything first, so a refusal by depth or budget allocates
 * nothing. Returns NULL with *p set: 400 malformed-json / malformed-msgpack / json-too-deep, or
 * 413 json-over-budget. */
json_t *zmq_codec_decode_budget(zmq_codec_enc_t enc, const void *buf, size_t len, jsonx_budget_t *b,
                                problem_t **p);
/* Walks the one value at the start of buf as zmq_codec_decode_budget's first walk does (a
 * JSON value may be followed by more bytes; see jsonx_scan), building nothing, and sets *end
 * to the offset after it. Returns 0, or -EINVAL, -ELOOP or -E2BIG with *p the problem. */
int zmq_codec_skip(zmq_codec_enc_t enc, const void *buf, size_t len, jsonx_budget_t *b, size_t *end,
                   problem_t **p);
/* The same bounded in depth only, for replies from a daemon the caller chose to trust (the
 * client library). Returns NULL with a reason in err. */
json_t *zmq_codec_decode(zmq_codec_enc_t enc, const void *buf, size_t len, size_t max_depth,
                         char *err, size_t errlen);

/* Appends the encoding of v to out (JSON: compact text; MessagePack: the smallest forms, reals
 * always as float64 so that they read back as reals). 0 or -1 (out of memory / over the
 * strbuf's bound). */
int zmq_codec_encode(zmq_codec_enc_t enc, const json_t *v, strbuf_t *out);

/* Base64 (standard, padded) of len bytes; caller frees. NULL on out of memory. */
char *zmq_codec_base64(const void *buf, size_t len);

#endif
