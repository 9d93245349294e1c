/* Fuzzes the ZMQ envelope (src/net/zmq_codec.c) as an unauthenticated peer sends it: encoding
 * detection, JSON and MessagePack decoding, the envelope checks, and the fast reader. Input: one
 * message, exactly as a frame. Checks beyond memory safety: a decoded value re-encodes and
 * decodes to an equal value in MessagePack (and in JSON when it came as JSON), and whenever the
 * fast reader takes a message the general path reads the same envelope from it. */
#include <assert.h>

#include "fuzz_util.h"
#include "net/zmq_codec.h"

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

static void fuzz_fast_matches(const uint8_t *data, size_t size, const zmq_envelope_t *slow,
                              int slow_rc)
{
    zmq_envelope_t fast;
    memset(&fast, 0, sizeof fast);
    if (zmq_envelope_parse_fast(data, size, &fast) != 0)
        return;
    assert(slow_rc == 0);
    assert(json_equal(fast.id, slow->id));
    assert(strcmp(fast.request_id, slow->request_id) == 0);
    assert(strcmp(fast.method, slow->method) == 0);
    assert(strcmp(fast.path, slow->path) == 0);
    assert(!slow->raw_query && !slow->query && !slow->body);
    assert((fast.token == NULL) == (slow->token == NULL));
    assert(!fast.token || strcmp(fast.token, slow->token) == 0);
    zmq_envelope_clear(&fast);
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
    char err[256];
    json_t *root = zmq_codec_decode(enc, data, size, FUZZ_ZMQ_DEPTH, err, sizeof err);
    if (!root) {
        assert(err[0] != '\0'); /* every refusal says why */
        if (enc == ZMQ_CODEC_JSON) {
            zmq_envelope_t fast;
            memset(&fast, 0, sizeof fast);
            assert(zmq_envelope_parse_fast(data, size, &fast) != 0);
        }
        return 0;
    }
    fuzz_round_trip(ZMQ_CODEC_MSGPACK, root);
    if (enc == ZMQ_CODEC_JSON)
        fuzz_round_trip(ZMQ_CODEC_JSON, root);

    zmq_envelope_t env;
    problem_t *p = NULL;
    int rc = zmq_envelope_parse(root, &env, &p);
    assert((rc == 0) == (p == NULL));
    if (enc == ZMQ_CODEC_JSON)
        fuzz_fast_matches(data, size, &env, rc);
    if (p) {
        json_t *pj = problem_to_json(p, "/zmq");
        json_decref(pj);
    }
    problem_destroy(&p);
    zmq_envelope_clear(&env);
    json_decref(root);
    return 0;
}
