/* The ZMQ RPC envelope on the wire: JSON or MessagePack detected per message, MessagePack
 * mapped to and from jansson values faithfully (integers stay integers, floats stay floats), and
 * the request envelope {id, method, path, query?, body?, token?} checked into a struct. Pure
 * functions over buffers, so they are unit-testable without sockets. */
#ifndef GANGLION_ZMQ_CODEC_H
#define GANGLION_ZMQ_CODEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/problem.h"
#include "core/strbuf.h"

typedef enum zmq_codec_enc {
    ZMQ_CODEC_JSON = 0,
    ZMQ_CODEC_MSGPACK,
} zmq_codec_enc_t;

/* Envelope limits: an id is a string of at most this many bytes or an integer; a path is at
 * most ZMQ_CODEC_PATH_MAX bytes. */
#define ZMQ_CODEC_ID_MAX    128
#define ZMQ_CODEC_PATH_MAX  2048
#define ZMQ_CODEC_TOKEN_MAX 4096
/* The longest token the fast envelope reader takes; longer ones go the general way. */
#define ZMQ_CODEC_FAST_TOKEN_MAX 1024

/* Picks the encoding from the first byte: '{' (after JSON whitespace) is JSON, a MessagePack
 * map header (fixmap, map16, map32) is MessagePack. Returns -1 for anything else (an envelope is
 * always an object). */
int zmq_codec_detect(const void *buf, size_t len, zmq_codec_enc_t *enc);

/* Decodes one message into a new jansson value. MessagePack mapping: nil/bool/str/array as in
 * JSON; integers to JSON integers (an unsigned value above INT64_MAX is refused); float32/64 to
 * JSON reals (NaN and infinities refused); bin to a base64 string (standard alphabet, padded);
 * map keys must be strings; ext types are refused; trailing bytes are refused. Nesting deeper
 * than max_depth is refused. Returns NULL with a reason in err. */
json_t *zmq_codec_decode(zmq_codec_enc_t enc, const void *buf, size_t len, size_t max_depth,
                         char *err, size_t errlen);

/* Appends the encoding of v to out (JSON: compact text; MessagePack: the smallest forms, reals
 * always as float64 so that they read back as reals). 0 or -1 (out of memory / over the
 * strbuf's bound). */
int zmq_codec_encode(zmq_codec_enc_t enc, const json_t *v, strbuf_t *out);

/* A checked request envelope. Every pointer borrows from the json_t it was parsed from. */
typedef struct zmq_envelope {
    json_t *id;                    /* string or integer, or NULL when absent or unusable */
    char request_id[72];           /* the id as a registry request id when it is sane, else "" */
    char method[8];                /* upper case */
    char path[ZMQ_CODEC_PATH_MAX]; /* percent-decoded, without the query */
    const char *raw_query;         /* a query string carried after '?' in path, or NULL */
    json_t *query;     /* object of strings (numbers and booleans converted), new ref or NULL */
    json_t *body;      /* any JSON value, or NULL when absent or null */
    const char *token; /* or NULL */
    /* zmq_envelope_parse_fast only: the id is then a new reference and the token lives here */
    bool id_owned;
    char token_buf[ZMQ_CODEC_FAST_TOKEN_MAX + 1];
} zmq_envelope_t;

/* Checks a decoded envelope. On success returns 0 with env filled (release with
 * zmq_envelope_clear). On failure returns -1 and sets *p to a 400 problem whose errors[] name
 * the envelope fields at fault; env->id is still set when the id itself was usable, so the
 * caller can reply. */
int zmq_envelope_parse(json_t *root, zmq_envelope_t *env, problem_t **p);
/* The common request read straight from JSON bytes, with no tree built: an object of "id" (a
 * string or an integer), "method", "path" and optionally "token", every string printable ASCII
 * without escapes, every key once, a valid method and a path without a query. Returns 0 with
 * env filled exactly as zmq_codec_decode followed by zmq_envelope_parse would fill it (the id
 * is a new reference here), or 1 for anything else — then nothing is held and the caller takes
 * the general path, which also makes every error reply. */
int zmq_envelope_parse_fast(const void *buf, size_t len, zmq_envelope_t *env);
/* Releases what either parser holds in env. */
void zmq_envelope_clear(zmq_envelope_t *env);

/* Base64 (standard, padded) of len bytes; caller frees. NULL on out of memory. */
char *zmq_codec_base64(const void *buf, size_t len);

#endif
