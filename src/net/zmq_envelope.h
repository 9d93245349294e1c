/* The request envelope {id, method, path, query?, body?, token?} of ZMQ and MQTT: read from
 * the message bytes member by member, so that the id, the route and the credential are known
 * before the body is decoded (the registry decodes it, through zmq_envelope_body, only after
 * routing and the auth hook), and checked into a struct. Pure functions over buffers,
 * unit-tested. */
#ifndef GANGLION_ZMQ_ENVELOPE_H
#define GANGLION_ZMQ_ENVELOPE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "api/api.h"
#include "core/problem.h"
#include "net/zmq_codec.h"

/* Envelope limits: an id is a string of at most this many bytes or an integer; a path is at
 * most ZMQ_CODEC_PATH_MAX bytes. */
#define ZMQ_CODEC_ID_MAX    128
#define ZMQ_CODEC_PATH_MAX  2048
#define ZMQ_CODEC_TOKEN_MAX 4096
/* The longest token the fast envelope reader takes; longer ones go the general way. */
#define ZMQ_CODEC_FAST_TOKEN_MAX 1024
/* The most bytes an encoded query object may take (a URL's query is bounded too). */
#define ZMQ_CODEC_QUERY_MAX 16384

/* A checked request envelope. Every pointer borrows from the json_t it was parsed from, or
 * from the message bytes (body_raw). */
typedef struct zmq_envelope {
    json_t *id;                    /* string or integer, or NULL when absent or unusable */
    char request_id[72];           /* the id as a registry request id when it is sane, else "" */
    char method[8];                /* upper case */
    char path[ZMQ_CODEC_PATH_MAX]; /* percent-decoded, without the query */
    const char *raw_query;         /* a query string carried after '?' in path, or NULL */
    json_t *query;         /* object of strings (numbers and booleans converted), new ref or NULL */
    json_t *body;          /* zmq_envelope_parse: any JSON value, or NULL when absent or null */
    const char *token;     /* or NULL */
    char traceparent[128]; /* as sent (checked by the registry), "" when absent */
    /* zmq_envelope_read: the body's bytes, not decoded (NULL when absent or null), borrowed
     * from the message, in body_enc; and the members it decoded, which the pointers above
     * borrow from (owned) */
    const void *body_raw;
    size_t body_len;
    zmq_codec_enc_t body_enc;
    json_t *root;
    /* zmq_envelope_parse_fast only: the id is then a new reference, a string id is printable
     * ASCII without '"' or '\\' (id_plain), and the token lives here */
    bool id_owned, id_plain;
    char token_buf[ZMQ_CODEC_FAST_TOKEN_MAX + 1];
} zmq_envelope_t;

/* Checks a decoded envelope. On success returns 0 with env filled (release with
 * zmq_envelope_clear). On failure returns -1 and sets *p to a 400 problem whose errors[] name
 * the envelope fields at fault; env->id is still set when the id itself was usable, so the
 * caller can reply. */
int zmq_envelope_parse(json_t *root, zmq_envelope_t *env, problem_t **p);

/* Reads the envelope from the message bytes without building its body. The members are
 * walked in order: id, method, path, token and query are decoded (each within a few KiB, or
 * refused as a field error), the body is only located and walked — its depth and its values
 * charged to the budget of the whole message (jsonx_budget_init over len), nothing built — and
 * any other member is skipped and reported. A repeated member is a field error. Returns 0 with
 * env filled as zmq_envelope_parse fills it, except that the body is left in body_raw for
 * zmq_envelope_body; or -1 with *p (400 bad-envelope or json-too-deep, 413 json-over-budget)
 * and env->id set whenever an id was read before the fault, so the caller can reply. Release
 * env with zmq_envelope_clear in both cases. */
int zmq_envelope_read(zmq_codec_enc_t enc, const void *buf, size_t len, size_t max_depth,
                      zmq_envelope_t *env, problem_t **p);

/* Decodes the body zmq_envelope_read located, within the budget of its own length: a new
 * reference, or NULL with *p (see zmq_codec_decode_budget). The message must still be held. */
json_t *zmq_envelope_body(const zmq_envelope_t *env, size_t max_depth, problem_t **p);

/* The common request read straight from JSON bytes, with no tree built: an object of "id" (a
 * string or an integer), "method", "path" and optionally "token", every string printable ASCII
 * without escapes, every key once, a valid method and a path without a query. Returns 0 with
 * env filled exactly as zmq_codec_decode followed by zmq_envelope_parse would fill it (the id
 * is a new reference here), or 1 for anything else — then nothing is held and the caller takes
 * the general path, which also makes every error reply. */
int zmq_envelope_parse_fast(const void *buf, size_t len, zmq_envelope_t *env);
/* Releases what any of the readers holds in env. */
void zmq_envelope_clear(zmq_envelope_t *env);

/* A reply body the handler gave as bytes, as the envelope's `body`: JSON as its value, text as a
 * string, anything else as base64 (said in *headers, created when NULL, with the Content-Type).
 * New reference, or NULL for no body. Shared by the ZMQ and MQTT transports. */
json_t *zmq_envelope_raw_body(const api_reply_t *r, json_t **headers);

#endif
