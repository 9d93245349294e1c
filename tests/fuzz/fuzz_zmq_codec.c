/* Fuzzes the ZMQ transport's decoding (src/net/zmq_codec.c, src/net/zmq_envelope.c) as an
 * unauthenticated peer reaches it: encoding detection, the fast reader, the member-by-member
 * envelope reader and the body decoded after it, and the codec itself (JSON and MessagePack
 * within the value budget). Input: one message, exactly as a frame. Checks beyond memory
 * safety: whenever the fast reader takes a message, the general reader reads the same
 * envelope; every refusal is a problem; a decoded value re-encodes and decodes to an equal
 * value in MessagePack (and in JSON when it came as JSON). */
#include <assert.h>

#include "fuzz_util.h"
#include "net/zmq_codec.h"
#include "net/zmq_envelope.h"

#define FUZZ_ZMQ_DEPTH 64

static void fuzz_round_trip(zmq_codec_enc_t enc, const json_t *v)
{
    strbuf_t out;
    strbuf_init(&out, 1u << 24);
    char err[256];
    if (zmq_codec_encode(enc, v, &out) == 0) {
        json_t *back =
            zmq_codec_decode(enc, out.data, out.len, FUZZ_ZMQ_DEPTH + 1, err, sizeof err);
        assert(back && json_equal(v, back));
        json_decref(back);
    }
    strbuf_free(&out);
}

/* The fast reader took the message: the general reader must read the same envelope. */
static void fuzz_fast_agrees(const uint8_t *data, size_t size, const zmq_envelope_t *fast)
{
    zmq_envelope_t env;
    memset(&env, 0, sizeof env);
    problem_t *p = NULL;
    int rc = zmq_envelope_read(ZMQ_CODEC_JSON, data, size, FUZZ_ZMQ_DEPTH, &env, &p);
    assert(rc == 0 && p == NULL);
    assert(json_equal(fast->id, env.id));
    assert(strcmp(fast->request_id, env.request_id) == 0);
    assert(strcmp(fast->method, env.method) == 0);
    assert(strcmp(fast->path, env.path) == 0);
    assert(!env.raw_query && !env.query && !env.body_raw);
    assert((fast->token == NULL) == (env.token == NULL));
    assert(!fast->token || strcmp(fast->token, env.token) == 0);
    zmq_envelope_clear(&env);
}

/* What zmq_server.c does with a message: the fast reader, else the envelope reader, then the
 * body once the route is known. */
static void fuzz_envelope(zmq_codec_enc_t enc, const uint8_t *data, size_t size)
{
    zmq_envelope_t env;
    memset(&env, 0, sizeof env);
    if (enc == ZMQ_CODEC_JSON && zmq_envelope_parse_fast(data, size, &env) == 0) {
        fuzz_fast_agrees(data, size, &env);
        zmq_envelope_clear(&env);
        return;
    }
    memset(&env, 0, sizeof env);
    problem_t *p = NULL;
    int rc = zmq_envelope_read(enc, data, size, FUZZ_ZMQ_DEPTH, &env, &p);
    assert((rc == 0) == (p == NULL));
    if (rc == 0 && env.body_raw) {
        problem_t *bp = NULL;
        json_t *body = zmq_envelope_body(&env, FUZZ_ZMQ_DEPTH, &bp);
        assert((body == NULL) == (bp != NULL));
        json_decref(body);
        problem_destroy(&bp);
    }
    if (p) {
        json_t *pj = problem_to_json(p, "/zmq");
        assert(pj);
        json_decref(pj);
    }
    problem_destroy(&p);
    zmq_envelope_clear(&env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    zmq_codec_enc_t enc;
    if (zmq_codec_detect(data, size, &enc) != 0) {
        zmq_envelope_t fast;
        memset(&fast, 0, sizeof fast);
        assert(zmq_envelope_parse_fast(data, size, &fast) != 0);
        return 0;
    }
    fuzz_envelope(enc, data, size);

    jsonx_budget_t b;
    jsonx_budget_init(&b, size, FUZZ_ZMQ_DEPTH);
    problem_t *p = NULL;
    json_t *root = zmq_codec_decode_budget(enc, data, size, &b, &p);
    assert((root == NULL) == (p != NULL));
    problem_destroy(&p);
    if (!root)
        return 0;
    fuzz_round_trip(ZMQ_CODEC_MSGPACK, root);
    if (enc == ZMQ_CODEC_JSON)
        fuzz_round_trip(ZMQ_CODEC_JSON, root);
    zmq_envelope_t env;
    int rc = zmq_envelope_parse(root, &env, &p);
    assert((rc == 0) == (p == NULL));
    problem_destroy(&p);
    zmq_envelope_clear(&env);
    json_decref(root);
    return 0;
}
