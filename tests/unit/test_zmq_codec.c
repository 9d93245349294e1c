/* The ZMQ envelope codec: encoding detection, MessagePack ⇄ JSON with integers and floats kept
 * apart, binary as base64, hostile MessagePack (lying lengths, depth, ext, trailing bytes, more
 * values than its budget), the envelope checks with their field errors, and the member-by-member
 * reader: the same envelope as decode + parse, the body left as bytes, an id for every fault. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "net/zmq_codec.h"
#include "net/zmq_envelope.h"

static json_t *mp(const char *bytes, size_t n, char *err, size_t errlen)
{
    return zmq_codec_decode(ZMQ_CODEC_MSGPACK, bytes, n, 64, err, errlen);
}

static void test_detect(void **state)
{
    zmq_codec_enc_t e;
    assert_int_equal(zmq_codec_detect("  {\"id\":1}", 10, &e), 0);
    assert_int_equal(e, ZMQ_CODEC_JSON);
    assert_int_equal(zmq_codec_detect("\x83", 1, &e), 0);
    assert_int_equal(e, ZMQ_CODEC_MSGPACK);
    assert_int_equal(zmq_codec_detect("\xde\x00\x01", 3, &e), 0);
    assert_int_equal(e, ZMQ_CODEC_MSGPACK);
    assert_int_equal(zmq_codec_detect("[1]", 3, &e), -1);
    assert_int_equal(zmq_codec_detect("\x93", 1, &e), -1); /* an array is no envelope */
    assert_int_equal(zmq_codec_detect("", 0, &e), -1);
    assert_int_equal(zmq_codec_detect("   ", 3, &e), -1);
}

/* Every JSON value survives JSON → MessagePack → JSON with its type. */
static void test_round_trip(void **state)
{
    const char *text =
        "{\"i\":1,\"neg\":-70000,\"big\":9223372036854775807,\"min\":-9223372036854775808,"
        "\"f\":1.0,\"g\":-2.5e-10,\"s\":\"caf\xc3\xa9\",\"e\":\"\",\"n\":null,"
        "\"t\":true,\"no\":false,\"a\":[1,[2,{\"x\":[]}],{}],\"long\":\"";
    char buf[70000];
    size_t n = (size_t)snprintf(buf, sizeof buf, "%s", text);
    memset(buf + n, 'z', 66000);
    n += 66000;
    memcpy(buf + n, "\"}", 3);
    n += 2;
    json_error_t jerr;
    json_t *v = json_loadb(buf, n, 0, &jerr);
    assert_non_null(v);
    strbuf_t out;
    strbuf_init(&out, 0);
    assert_int_equal(zmq_codec_encode(ZMQ_CODEC_MSGPACK, v, &out), 0);
    char err[128];
    json_t *back = mp(out.data, out.len, err, sizeof err);
    assert_non_null(back);
    assert_true(json_equal(v, back));
    assert_true(json_is_real(json_object_get(back, "f")));
    assert_true(json_is_integer(json_object_get(back, "i")));
    assert_int_equal(json_integer_value(json_object_get(back, "min")), INT64_MIN);
    json_decref(back);

    strbuf_reset(&out);
    assert_int_equal(zmq_codec_encode(ZMQ_CODEC_JSON, v, &out), 0);
    back = zmq_codec_decode(ZMQ_CODEC_JSON, out.data, out.len, 64, err, sizeof err);
    assert_non_null(back);
    assert_true(json_equal(v, back));
    json_decref(back);
    strbuf_free(&out);
    json_decref(v);
}

static void test_msgpack_scalars(void **state)
{
    char err[128];
    /* {"b": bin8 [0x00 0xff 0x10], "f": float32 1.5, "u": uint64 2^63-1, "n": int8 -3} */
    const char m[] = "\x84\xa1"
                     "b\xc4\x03\x00\xff\x10"
                     "\xa1"
                     "f\xca\x3f\xc0\x00\x00"
                     "\xa1"
                     "u\xcf\x7f\xff\xff\xff\xff\xff\xff\xff"
                     "\xa1"
                     "n\xd0\xfd";
    json_t *v = mp(m, sizeof m - 1, err, sizeof err);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "b")), "AP8Q");
    assert_true(json_is_real(json_object_get(v, "f")));
    assert_true(json_real_value(json_object_get(v, "f")) == 1.5);
    assert_int_equal(json_integer_value(json_object_get(v, "u")), INT64_MAX);
    assert_int_equal(json_integer_value(json_object_get(v, "n")), -3);
    json_decref(v);
}

static void test_msgpack_refused(void **state)
{
    char err[128];
    static const struct {
        const char *bytes;
        size_t len;
        const char *why;
    } bad[] = {
        {"\xcf\x80\x00\x00\x00\x00\x00\x00\x00", 9, "signed 64-bit"}, /* 2^63 */
        {"\xdd\xff\xff\xff\xff", 5, "exceeds"},                       /* array of 4G items */
        {"\xdf\xff\xff\xff\xff\x01", 6, "exceeds"},                   /* map of 4G entries */
        {"\xdb\xff\xff\xff\xff", 5, "truncated"},                     /* str of 4G bytes */
        {"\x81\x01\x02", 3, "not a string"},                          /* integer key */
        {"\x82\xa1k\x01\xa1k\x02", 7, "repeated"},                    /* duplicate key */
        {"\xd4\x01\x00", 3, "unsupported"},                           /* fixext */
        {"\xc1", 1, "unsupported"},
        {"\xa2\xff\xfe", 3, "UTF-8"},
        {"\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00", 9, "NaN"},
        {"\x80\x00", 2, "trailing"},
        {"\x81\xa1k", 3, "truncated"},
        {"", 0, "truncated"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *v = mp(bad[i].bytes, bad[i].len, err, sizeof err);
        assert_null(v);
        if (!strstr(err, bad[i].why))
            fail_msg("case %zu: \"%s\" does not mention \"%s\"", i, err, bad[i].why);
    }
    /* Depth: 100 nested fixarrays against a limit of 64. */
    char deep[101];
    memset(deep, '\x91', 100);
    deep[100] = '\x01';
    assert_null(mp(deep, sizeof deep, err, sizeof err));
    assert_non_null(strstr(err, "deeper"));
    assert_null(zmq_codec_decode(ZMQ_CODEC_MSGPACK, deep + 89, 12, 10, err, sizeof err));
    json_t *ok = zmq_codec_decode(ZMQ_CODEC_MSGPACK, deep + 90, 11, 10, err, sizeof err);
    assert_non_null(ok);
    json_decref(ok);
}

/* A map key with a NUL byte is refused as the JSON parser refuses one: by name it could not be
 * found, while iteration shows only the part before the NUL, so {"role\0": x} passed a body's
 * unknown-field check as "role" with its value never checked (found by fuzz_zmq_codec). */
static void test_msgpack_nul_key(void **state)
{
    char err[128];
    assert_null(mp("\x81\xa5role\x00\xa5"
                   "admin",
                   13, err, sizeof err));
    assert_non_null(strstr(err, "NUL"));
    assert_null(mp("\x81\xa1\x00\x4c", 4, err, sizeof err));
    assert_non_null(strstr(err, "NUL"));
    /* a NUL inside a string value stays allowed, as in JSON ("\u0000") */
    json_t *v = mp("\x81\xa1k\xa3"
                   "a\x00"
                   "b",
                   7, err, sizeof err);
    assert_non_null(v);
    assert_int_equal(json_string_length(json_object_get(v, "k")), 3);
    json_decref(v);
}

static json_t *env_of(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    assert_non_null(v);
    return v;
}

static void test_envelope_ok(void **state)
{
    json_t *root = env_of("{\"id\":\"r-1\",\"method\":\"post\",\"path\":\"/api/v1/a%20b/x\","
                          "\"query\":{\"n\":5,\"f\":1.5,\"b\":true,\"s\":\"x\",\"z\":null},"
                          "\"body\":{\"k\":1},\"token\":\"tok\"}");
    zmq_envelope_t env;
    problem_t *p = NULL;
    assert_int_equal(zmq_envelope_parse(root, &env, &p), 0);
    assert_null(p);
    assert_string_equal(env.method, "POST");
    assert_string_equal(env.path, "/api/v1/a b/x");
    assert_string_equal(env.request_id, "r-1");
    assert_string_equal(env.token, "tok");
    assert_string_equal(json_string_value(json_object_get(env.query, "n")), "5");
    assert_string_equal(json_string_value(json_object_get(env.query, "f")), "1.5");
    assert_string_equal(json_string_value(json_object_get(env.query, "b")), "true");
    assert_null(json_object_get(env.query, "z"));
    assert_int_equal(json_integer_value(json_object_get(env.body, "k")), 1);
    zmq_envelope_clear(&env);
    json_decref(root);

    /* Integer ids become request ids; the query may ride in the path; a weird string id is
     * echoed but not used as a request id. */
    root = env_of("{\"id\":42,\"method\":\"GET\",\"path\":\"/x?limit=3&a=b\",\"body\":null}");
    assert_int_equal(zmq_envelope_parse(root, &env, &p), 0);
    assert_string_equal(env.request_id, "42");
    assert_string_equal(env.path, "/x");
    assert_string_equal(env.raw_query, "limit=3&a=b");
    assert_null(env.body);
    zmq_envelope_clear(&env);
    json_decref(root);
    root = env_of("{\"id\":\"has space\",\"method\":\"GET\",\"path\":\"/\"}");
    assert_int_equal(zmq_envelope_parse(root, &env, &p), 0);
    assert_string_equal(env.request_id, "");
    assert_string_equal(json_string_value(env.id), "has space");
    zmq_envelope_clear(&env);
    json_decref(root);
}

static void test_envelope_errors(void **state)
{
    zmq_envelope_t env;
    problem_t *p = NULL;
    json_t *root = env_of("{\"id\":7,\"method\":\"FETCH\",\"path\":\"x\",\"query\":[1],"
                          "\"token\":5,\"extra\":1}");
    assert_int_equal(zmq_envelope_parse(root, &env, &p), -1);
    assert_non_null(p);
    assert_int_equal(problem_status(p), 400);
    assert_int_equal(problem_field_count(p), 5);
    assert_non_null(env.id); /* still usable for the reply */
    json_t *j = problem_to_json(p, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "type")),
                        "urn:ganglion:problem:bad-envelope");
    json_decref(j);
    problem_destroy(&p);
    zmq_envelope_clear(&env);
    json_decref(root);

    const char *bad[] = {
        "{\"method\":\"GET\",\"path\":\"/\"}",            /* no id */
        "{\"id\":[1],\"method\":\"GET\",\"path\":\"/\"}", /* id of the wrong type */
        "{\"id\":\"\",\"method\":\"GET\",\"path\":\"/\"}",
        "{\"id\":1,\"method\":\"GET\",\"path\":\"/%zz\"}",
        "{\"id\":1,\"method\":\"GET\",\"path\":\"/a%00\"}",
        "{\"id\":1,\"method\":\"GET\",\"path\":\"/a?x=1\",\"query\":{\"y\":1}}",
        "{\"id\":1,\"method\":\"GET\",\"path\":\"/\",\"query\":{\"y\":[1]}}",
        "{\"id\":1,\"method\":\"GET\",\"path\":\"/\",\"token\":\"\"}",
        "[1]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        root = env_of(bad[i]);
        assert_int_equal(zmq_envelope_parse(root, &env, &p), -1);
        assert_non_null(p);
        if (i < 3)
            assert_null(env.id);
        problem_destroy(&p);
        zmq_envelope_clear(&env);
        json_decref(root);
    }
}

/* The fast envelope reader agrees with decode + parse on everything it takes, and leaves
 * everything else (escapes, non-ASCII, other or repeated keys, query, body, odd numbers,
 * malformed values) to the general path. */
static const char *const fast_taken[] = {
    "{\"id\":\"r1\",\"method\":\"GET\",\"path\":\"/api/v1/agents/abc\",\"token\":\"gk_x\"}",
    " { \"path\" : \"/healthz\" , \"method\" : \"get\" , \"id\" : 7 } \n",
    "{\"id\":-12,\"method\":\"delete\",\"path\":\"/a%20b\"}",
    "{\"id\":0,\"method\":\"POST\",\"path\":\"/\"}",
    "{\"id\":\"not a request id!\",\"method\":\"GET\",\"path\":\"/x\"}",
    "{\"id\":123456789012345678,\"method\":\"PATCH\",\"path\":\"/x\",\"token\":\"t\"}",
};
static const char *const fast_left[] = {
    "{\"id\":\"r\\u0031\",\"method\":\"GET\",\"path\":\"/x\"}",         /* escape */
    "{\"id\":\"r1\",\"method\":\"GET\",\"path\":\"/caf\xc3\xa9\"}",     /* non-ASCII */
    "{\"id\":\"r1\",\"method\":\"GET\",\"path\":\"/x\",\"body\":{}}",   /* body */
    "{\"id\":\"r1\",\"method\":\"GET\",\"path\":\"/x\",\"query\":{}}",  /* query */
    "{\"id\":\"r1\",\"method\":\"GET\",\"path\":\"/x?a=1\"}",           /* query in the path */
    "{\"id\":\"r1\",\"method\":\"GET\",\"path\":\"/x\",\"extra\":1}",   /* unknown key */
    "{\"id\":\"r1\",\"id\":\"r2\",\"method\":\"GET\",\"path\":\"/x\"}", /* repeated key */
    "{\"id\":1.5,\"method\":\"GET\",\"path\":\"/x\"}",
    "{\"id\":1e3,\"method\":\"GET\",\"path\":\"/x\"}",
    "{\"id\":-0,\"method\":\"GET\",\"path\":\"/x\"}",
    "{\"id\":01,\"method\":\"GET\",\"path\":\"/x\"}",
    "{\"id\":1234567890123456789,\"method\":\"GET\",\"path\":\"/x\"}", /* 19 digits */
    "{\"id\":\"\",\"method\":\"GET\",\"path\":\"/x\"}",
    "{\"id\":null,\"method\":\"GET\",\"path\":\"/x\"}",
    "{\"id\":true,\"method\":\"GET\",\"path\":\"/x\"}",
    "{\"method\":\"GET\",\"path\":\"/x\"}",
    "{\"id\":1,\"path\":\"/x\"}",
    "{\"id\":1,\"method\":\"GET\"}",
    "{\"id\":1,\"method\":\"FETCH\",\"path\":\"/x\"}",
    "{\"id\":1,\"method\":\"GET\",\"path\":\"x\"}",
    "{\"id\":1,\"method\":\"GET\",\"path\":\"/%zz\"}",
    "{\"id\":1,\"method\":\"GET\",\"path\":\"/%00\"}",
    "{\"id\":1,\"method\":\"GET\",\"path\":\"/x\",\"token\":\"\"}",
    "{\"id\":1,\"method\":\"GET\",\"path\":\"/x\",\"token\":null}",
    "{\"id\":1,\"method\":\"GET\",\"path\":\"/x\"} x",
    "{\"id\":1,\"method\":\"GET\",\"path\":\"/x\",}",
    "{\"id\":1,\"method\":\"GET\",\"path\":\"/x\"",
    "{\"id\":1,\"method\":\"GET\",\"path\":\"/x\t\"}", /* a control character */
    "{}",
    "[]",
    "",
};

static void test_envelope_fast(void **state)
{
    for (size_t i = 0; i < sizeof fast_taken / sizeof *fast_taken; i++) {
        const char *t = fast_taken[i];
        zmq_envelope_t f, g;
        problem_t *p = NULL;
        assert_int_equal(zmq_envelope_parse_fast(t, strlen(t), &f), 0);
        json_t *root = zmq_codec_decode(ZMQ_CODEC_JSON, t, strlen(t), 64, NULL, 0);
        assert_non_null(root);
        assert_int_equal(zmq_envelope_parse(root, &g, &p), 0);
        assert_true(json_equal(f.id, g.id));
        assert_string_equal(f.request_id, g.request_id);
        assert_string_equal(f.method, g.method);
        assert_string_equal(f.path, g.path);
        assert_null(f.raw_query);
        assert_null(f.query);
        assert_null(g.query);
        assert_null(f.body);
        assert_null(g.body);
        if (g.token)
            assert_string_equal(f.token, g.token);
        else
            assert_null(f.token);
        zmq_envelope_clear(&f);
        zmq_envelope_clear(&g);
        json_decref(root);
    }
    for (size_t i = 0; i < sizeof fast_left / sizeof *fast_left; i++) {
        zmq_envelope_t f;
        assert_int_equal(zmq_envelope_parse_fast(fast_left[i], strlen(fast_left[i]), &f), 1);
    }
    /* A token longer than the fast reader's buffer goes the general way, where it is valid. */
    char big[ZMQ_CODEC_FAST_TOKEN_MAX + 100];
    int n = snprintf(big, sizeof big, "{\"id\":1,\"method\":\"GET\",\"path\":\"/x\",\"token\":\"");
    memset(big + n, 'a', ZMQ_CODEC_FAST_TOKEN_MAX + 1);
    snprintf(big + n + ZMQ_CODEC_FAST_TOKEN_MAX + 1,
             sizeof big - (size_t)n - ZMQ_CODEC_FAST_TOKEN_MAX - 1, "\"}");
    zmq_envelope_t f;
    assert_int_equal(zmq_envelope_parse_fast(big, strlen(big), &f), 1);
    big[n + ZMQ_CODEC_FAST_TOKEN_MAX] = '"';
    big[n + ZMQ_CODEC_FAST_TOKEN_MAX + 1] = '}';
    big[n + ZMQ_CODEC_FAST_TOKEN_MAX + 2] = '\0';
    assert_int_equal(zmq_envelope_parse_fast(big, strlen(big), &f), 0);
    assert_int_equal(strlen(f.token), ZMQ_CODEC_FAST_TOKEN_MAX);
    zmq_envelope_clear(&f);
}

/* The reader agrees with decode + parse on every envelope that decodes as a whole, in JSON and
 * in MessagePack, and its body bytes decode to the body. */
static void assert_read_agrees(const char *text)
{
    json_t *root = zmq_codec_decode(ZMQ_CODEC_JSON, text, strlen(text), 64, NULL, 0);
    if (!root)
        return;
    for (int e = 0; e < 2; e++) {
        zmq_codec_enc_t enc = e ? ZMQ_CODEC_MSGPACK : ZMQ_CODEC_JSON;
        strbuf_t mp;
        strbuf_init(&mp, 0);
        const char *buf = text;
        size_t len = strlen(text);
        if (enc == ZMQ_CODEC_MSGPACK) {
            if (!json_is_object(root)) {
                strbuf_free(&mp);
                continue;
            }
            assert_int_equal(zmq_codec_encode(enc, root, &mp), 0);
            buf = mp.data;
            len = mp.len;
        }
        zmq_envelope_t g, r;
        problem_t *pg = NULL, *pr = NULL;
        int rg = zmq_envelope_parse(root, &g, &pg);
        int rr = zmq_envelope_read(enc, buf, len, 64, &r, &pr);
        if (rg != rr || (rg < 0 && problem_field_count(pg) != problem_field_count(pr)))
            fail_msg("%s (%d): parse %d, read %d (%s)", text, e, rg, rr,
                     pr ? problem_detail(pr) : "");
        assert_true((!g.id && !r.id) || json_equal(g.id, r.id));
        assert_string_equal(g.request_id, r.request_id);
        if (rg == 0) {
            assert_string_equal(g.method, r.method);
            assert_string_equal(g.path, r.path);
            assert_true((!g.raw_query && !r.raw_query) || strcmp(g.raw_query, r.raw_query) == 0);
            assert_true((!g.query && !r.query) || json_equal(g.query, r.query));
            assert_true((!g.token && !r.token) || strcmp(g.token, r.token) == 0);
            assert_null(r.body);
            if (!g.body) {
                assert_null(r.body_raw);
            } else {
                problem_t *pb = NULL;
                json_t *body = zmq_envelope_body(&r, 64, &pb);
                assert_non_null(body);
                assert_true(json_equal(body, g.body));
                json_decref(body);
            }
        }
        problem_destroy(&pg);
        problem_destroy(&pr);
        zmq_envelope_clear(&g);
        zmq_envelope_clear(&r);
        strbuf_free(&mp);
    }
    json_decref(root);
}

static void test_envelope_read_agrees(void **state)
{
    static const char *const more[] = {
        "{\"id\":\"r-1\",\"method\":\"post\",\"path\":\"/api/v1/a%20b/x\",\"query\":{\"n\":5,"
        "\"f\":1.5,\"b\":true,\"s\":\"x\",\"z\":null},\"body\":{\"k\":[1,2.5,\"\\u00e9\"]},"
        "\"token\":\"tok\"}",
        "{\"id\":42,\"method\":\"GET\",\"path\":\"/x?limit=3&a=b\",\"body\":null}",
        "{\"body\":[[],{}],\"id\":\"b\",\"method\":\"PUT\",\"path\":\"/\"}",
        "{\"id\":7,\"method\":\"FETCH\",\"path\":\"x\",\"query\":[1],\"token\":5,\"extra\":1}",
        "{\"id\":1,\"method\":\"GET\",\"path\":\"/\",\"query\":{\"y\":[1]}}",
        "{\"id\":1,\"method\":\"GET\",\"path\":\"/\",\"body\":\"text\"}",
        "{\"id\":{\"x\":1},\"method\":\"GET\",\"path\":\"/\"}",
    };
    for (size_t i = 0; i < sizeof more / sizeof *more; i++)
        assert_read_agrees(more[i]);
    for (size_t i = 0; i < sizeof fast_taken / sizeof *fast_taken; i++)
        assert_read_agrees(fast_taken[i]);
    for (size_t i = 0; i < sizeof fast_left / sizeof *fast_left; i++)
        assert_read_agrees(fast_left[i]);
}

/* The body is located, not decoded: what is wrong inside it surfaces only when the registry
 * asks for it; what is wrong with the envelope is answered with the id whenever it was read. */
static void test_envelope_read_body(void **state)
{
    static const char *const lazy[] = {
        "{\"id\":1,\"method\":\"POST\",\"path\":\"/x\",\"body\":{\"a\":NaN}}",
        "{\"id\":1,\"method\":\"POST\",\"path\":\"/x\",\"body\":{\"a\":1,\"a\":2}}",
        "{\"id\":1,\"method\":\"POST\",\"path\":\"/x\",\"body\":[\"\xff\xfe\"]}",
    };
    for (size_t i = 0; i < sizeof lazy / sizeof *lazy; i++) {
        zmq_envelope_t env;
        problem_t *p = NULL;
        assert_int_equal(zmq_envelope_read(ZMQ_CODEC_JSON, lazy[i], strlen(lazy[i]), 64, &env, &p),
                         0);
        assert_non_null(env.body_raw);
        assert_ptr_equal(env.body_raw, strstr(lazy[i], "\"body\":") + 7);
        assert_int_equal(env.body_len, strlen(lazy[i]) - 1 -
                                           (size_t)(strstr(lazy[i], "\"body\":") + 7 - lazy[i]));
        assert_null(json_object_get(env.root, "body"));
        assert_null(zmq_envelope_body(&env, 64, &p));
        assert_int_equal(problem_status(p), 400);
        problem_destroy(&p);
        zmq_envelope_clear(&env);
    }

    /* MessagePack: ext, NaN, a repeated key and invalid UTF-8 inside the body. */
    static const struct {
        const char *body;
        size_t len;
        int read_rc;
    } mbad[] = {
        {"\xd4\x01\x00", 3, -1}, /* ext: no JSON form, refused by the walk */
        {"\x81\xa1x\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00", 12, 0}, /* NaN */
        {"\x82\xa1k\x01\xa1k\x02", 7, 0},                         /* repeated key */
        {"\xa2\xff\xfe", 3, 0},                                   /* invalid UTF-8 */
        {"\x93\x01", 2, -1},                                      /* truncated */
    };
    for (size_t i = 0; i < sizeof mbad / sizeof *mbad; i++) {
        char buf[128];
        const char head[] = "\x84\xa2id\xa1q\xa6method\xa4POST\xa4path\xa2/x\xa4"
                            "body";
        memcpy(buf, head, sizeof head - 1);
        memcpy(buf + sizeof head - 1, mbad[i].body, mbad[i].len);
        zmq_envelope_t env;
        problem_t *p = NULL;
        int rc =
            zmq_envelope_read(ZMQ_CODEC_MSGPACK, buf, sizeof head - 1 + mbad[i].len, 64, &env, &p);
        if (rc != mbad[i].read_rc)
            fail_msg("case %zu: %d (%s)", i, rc, p ? problem_detail(p) : "");
        assert_string_equal(json_string_value(env.id), "q");
        if (rc == 0) {
            assert_null(zmq_envelope_body(&env, 64, &p));
        }
        assert_int_equal(problem_status(p), 400);
        problem_destroy(&p);
        zmq_envelope_clear(&env);
    }

    /* map16 and map32 headers are envelopes too (some encoders never use fixmap). */
    static const char m16[] = "\xde\x00\x03\xa2id\x05\xa6method\xa3GET\xa4path\xa2/x";
    static const char m32[] = "\xdf\x00\x00\x00\x03\xa2id\x05\xa6method\xa3GET\xa4path\xa2/x";
    const char *const wide[] = {m16, m32};
    const size_t wide_len[] = {sizeof m16 - 1, sizeof m32 - 1};
    for (size_t i = 0; i < 2; i++) {
        zmq_envelope_t env;
        problem_t *p = NULL;
        assert_int_equal(zmq_envelope_read(ZMQ_CODEC_MSGPACK, wide[i], wide_len[i], 64, &env, &p),
                         0);
        assert_int_equal(json_integer_value(env.id), 5);
        assert_string_equal(env.path, "/x");
        zmq_envelope_clear(&env);
    }

    /* Faults in the envelope: the id read before them is kept, not one read after. */
    static const struct {
        const char *text;
        const char *id;
        int status;
    } faults[] = {
        {"{\"id\":\"a\",\"method\":\"POST\",\"path\":\"/x\",\"body\":{\"a\":[1,2", "a", 400},
        {"{\"id\":\"a\",\"method\":\"GET\",\"method\":\"POST\",\"path\":\"/x\"}", "a", 400},
        {"{\"id\":\"a\",\"path\":\"/x\",\"body\":[1] \"method\":\"GET\"}", "a", 400},
        {"{\"id\":\"a\",\"method\":\"GET\",\"path\":\"/x\"} trailing", "a", 400},
        {"{\"id\":\"a\",\"id\":\"b\",\"body\":[1,", "a", 400}, /* field error, then a fault */
        {"{\"method\":\"GET\",\"body\":[1,", NULL, 400},
        {"{\"body\":[1}],\"id\":\"a\"}", NULL, 400},
    };
    for (size_t i = 0; i < sizeof faults / sizeof *faults; i++) {
        zmq_envelope_t env;
        problem_t *p = NULL;
        const char *t = faults[i].text;
        assert_int_equal(zmq_envelope_read(ZMQ_CODEC_JSON, t, strlen(t), 64, &env, &p), -1);
        if (faults[i].id)
            assert_string_equal(json_string_value(env.id), faults[i].id);
        else
            assert_null(env.id);
        assert_int_equal(problem_status(p), faults[i].status);
        problem_destroy(&p);
        zmq_envelope_clear(&env);
    }
}

/* A body over the message's budget, or deeper than the limit, is refused by the walk — 413 or
 * 400 with the id — and one within it is left for the registry. */
static void test_envelope_read_budget(void **state)
{
    strbuf_t b;
    strbuf_init(&b, 0);
    strbuf_printf(&b, "{\"id\":\"big\",\"method\":\"POST\",\"path\":\"/x\",\"body\":[[]");
    for (int i = 0; i < 5000; i++)
        strbuf_append(&b, ",[]", 3);
    strbuf_append(&b, "]}", 2);
    zmq_envelope_t env;
    problem_t *p = NULL;
    assert_int_equal(zmq_envelope_read(ZMQ_CODEC_JSON, b.data, b.len, 64, &env, &p), -1);
    assert_int_equal(problem_status(p), 413);
    assert_string_equal(json_string_value(env.id), "big");
    problem_destroy(&p);
    zmq_envelope_clear(&env);

    /* MessagePack: 5000 empty arrays in 5 KB. */
    strbuf_reset(&b);
    static const char head[] = "\x84\xa2id\x01\xa6method\xa4POST\xa4path\xa2/x\xa4"
                               "body\xdc\x13\x88";
    strbuf_append(&b, head, sizeof head - 1);
    for (int i = 0; i < 5000; i++)
        strbuf_append(&b, "\x90", 1);
    assert_int_equal(zmq_envelope_read(ZMQ_CODEC_MSGPACK, b.data, b.len, 64, &env, &p), -1);
    assert_int_equal(problem_status(p), 413);
    assert_int_equal(json_integer_value(env.id), 1);
    problem_destroy(&p);
    zmq_envelope_clear(&env);

    strbuf_reset(&b);
    strbuf_printf(&b, "{\"id\":2,\"method\":\"POST\",\"path\":\"/x\",\"body\":");
    for (int i = 0; i < 100; i++)
        strbuf_append(&b, "[", 1);
    for (int i = 0; i < 100; i++)
        strbuf_append(&b, "]", 1);
    strbuf_append(&b, "}", 1);
    assert_int_equal(zmq_envelope_read(ZMQ_CODEC_JSON, b.data, b.len, 64, &env, &p), -1);
    assert_int_equal(problem_status(p), 400);
    assert_non_null(strstr(problem_detail(p), "deeper"));
    assert_int_equal(json_integer_value(env.id), 2);
    problem_destroy(&p);
    zmq_envelope_clear(&env);
    strbuf_free(&b);
}

static void test_base64(void **state)
{
    const char *cases[][2] = {
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < 5; i++) {
        char *b = zmq_codec_base64(cases[i][0], strlen(cases[i][0]));
        assert_string_equal(b, cases[i][1]);
        free(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_msgpack_scalars),
        cmocka_unit_test(test_msgpack_refused),
        cmocka_unit_test(test_msgpack_nul_key),
        cmocka_unit_test(test_envelope_ok),
        cmocka_unit_test(test_envelope_errors),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_envelope_fast),
        cmocka_unit_test(test_envelope_read_agrees),
        cmocka_unit_test(test_envelope_read_body),
        cmocka_unit_test(test_envelope_read_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
