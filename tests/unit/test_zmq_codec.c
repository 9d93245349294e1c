/* The ZMQ envelope codec: encoding detection, MessagePack ⇄ JSON with integers and floats kept
 * apart, binary as base64, hostile MessagePack (lying lengths, depth, ext, trailing bytes), and
 * the envelope checks with their field errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "net/zmq_codec.h"

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
                   12, err, sizeof err));
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
        cmocka_unit_test(test_detect),          cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_msgpack_scalars), cmocka_unit_test(test_msgpack_refused),
        cmocka_unit_test(test_msgpack_nul_key), cmocka_unit_test(test_envelope_ok),
        cmocka_unit_test(test_envelope_errors), cmocka_unit_test(test_base64),
        cmocka_unit_test(test_envelope_fast),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
