/* JSON and MessagePack for the ZMQ envelope. Encoding uses msgpack-c's packer. Decoding walks
 * the MessagePack bytes directly into jansson values: msgpack-c's unpacker allocates a
 * container's declared size up front, so a 5-byte "array of 4 billion" would cost gigabytes;
 * here every declared count is checked against the bytes that remain before anything is made. */
#include "net/zmq_codec.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "core/jsonx.h"

/* ---- detection -------------------------------------------------------------------------- */

int zmq_codec_detect(const void *buf, size_t len, zmq_codec_enc_t *enc)
{
    const unsigned char *p = buf;
    if (len == 0)
        return -1;
    unsigned char c = p[0];
    if ((c & 0xf0) == 0x80 || c == 0xde || c == 0xdf) {
        *enc = ZMQ_CODEC_MSGPACK;
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        c = p[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (c == '{') {
            *enc = ZMQ_CODEC_JSON;
            return 0;
        }
        return -1;
    }
    return -1;
}

/* ---- base64 ----------------------------------------------------------------------------- */

char *zmq_codec_base64(const void *buf, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = buf;
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    size_t o = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = tab[v >> 6 & 63];
        out[o++] = tab[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = i + 1 < len ? tab[v >> 6 & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

/* ---- MessagePack → jansson -------------------------------------------------------------- */

typedef struct mp_reader {
    const unsigned char *p;
    size_t len, off;
    size_t max_depth;
    char *err;
    size_t errlen;
} mp_reader_t;

__attribute__((format(printf, 2, 3))) static json_t *mp_fail(mp_reader_t *r, const char *fmt, ...)
{
    if (r->err && r->errlen && !r->err[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err, r->errlen, fmt, ap);
        va_end(ap);
    }
    return NULL;
}

static int mp_need(mp_reader_t *r, size_t n)
{
    return r->len - r->off >= n ? 0 : -1;
}

static uint64_t mp_be(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Reads an n-byte big-endian unsigned count or length. */
static int mp_uint(mp_reader_t *r, size_t n, uint64_t *v)
{
    if (mp_need(r, n) < 0)
        return -1;
    *v = mp_be(r->p + r->off, n);
    r->off += n;
    return 0;
}

static json_t *mp_value(mp_reader_t *r, size_t depth);

static json_t *mp_str(mp_reader_t *r, uint64_t n)
{
    if (n > r->len - r->off)
        return mp_fail(r, "truncated string at byte %zu", r->off);
    json_t *s = json_stringn((const char *)r->p + r->off, (size_t)n);
    if (!s)
        return mp_fail(r, "string at byte %zu is not valid UTF-8", r->off);
    r->off += (size_t)n;
    return s;
}

static json_t *mp_bin(mp_reader_t *r, uint64_t n)
{
    if (n > r->len - r->off)
        return mp_fail(r, "truncated binary at byte %zu", r->off);
    char *b64 = zmq_codec_base64(r->p + r->off, (size_t)n);
    if (!b64)
        return mp_fail(r, "out of memory");
    r->off += (size_t)n;
    json_t *s = json_string(b64);
    free(b64);
    return s ? s : mp_fail(r, "out of memory");
}

static json_t *mp_array(mp_reader_t *r, uint64_t n, size_t depth)
{
    /* Every element takes at least one byte: a larger count cannot be honest. */
    if (n > r->len - r->off)
        return mp_fail(r, "array of %llu items exceeds the message", (unsigned long long)n);
    if (depth >= r->max_depth)
        return mp_fail(r, "nesting deeper than %zu", r->max_depth);
    json_t *a = json_array();
    if (!a)
        return mp_fail(r, "out of memory");
    for (uint64_t i = 0; i < n; i++) {
        json_t *v = mp_value(r, depth + 1);
        if (!v || json_array_append_new(a, v) < 0) {
            json_decref(a);
            return v ? mp_fail(r, "out of memory") : NULL;
        }
    }
    return a;
}

static json_t *mp_map(mp_reader_t *r, uint64_t n, size_t depth)
{
    if (n > (r->len - r->off) / 2)
        return mp_fail(r, "map of %llu entries exceeds the message", (unsigned long long)n);
    if (depth >= r->max_depth)
        return mp_fail(r, "nesting deeper than %zu", r->max_depth);
    json_t *o = json_object();
    if (!o)
        return mp_fail(r, "out of memory");
    for (uint64_t i = 0; i < n; i++) {
        size_t at = r->off;
        json_t *k = mp_value(r, depth + 1);
        if (!k) {
            json_decref(o);
            return NULL;
        }
        if (!json_is_string(k)) {
            json_decref(k);
            json_decref(o);
            return mp_fail(r, "map key at byte %zu is not a string", at);
        }
        /* A key with a NUL in it is refused as the JSON parser refuses it: lookups by name
         * would miss it while iteration shows its prefix, so a field could pass validation
         * unchecked. */
        if (memchr(json_string_value(k), '\0', json_string_length(k))) {
            json_decref(k);
            json_decref(o);
            return mp_fail(r, "map key at byte %zu contains a NUL byte", at);
        }
        json_t *v = mp_value(r, depth + 1);
        if (!v) {
            json_decref(k);
            json_decref(o);
            return NULL;
        }
        /* Duplicate keys are ambiguous: refused, as the JSON parser refuses them. */
        int rc;
        if (json_object_getn(o, json_string_value(k), json_string_length(k))) {
            json_decref(v);
            rc = -1;
        } else {
            rc = json_object_setn_new(o, json_string_value(k), json_string_length(k), v);
        }
        json_decref(k);
        if (rc < 0) {
            json_decref(o);
            return mp_fail(r, "map key at byte %zu is repeated or not usable", at);
        }
    }
    return o;
}

static json_t *mp_real(mp_reader_t *r, double d)
{
    if (!isfinite(d))
        return mp_fail(r, "NaN and infinities have no JSON form");
    json_t *v = json_real(d);
    return v ? v : mp_fail(r, "out of memory");
}

static json_t *mp_value(mp_reader_t *r, size_t depth)
{
    if (mp_need(r, 1) < 0)
        return mp_fail(r, "truncated message");
    unsigned char c = r->p[r->off++];
    uint64_t n;
    if (c <= 0x7f)
        return json_integer(c);
    if (c >= 0xe0)
        return json_integer((int8_t)c);
    if ((c & 0xf0) == 0x80)
        return mp_map(r, c & 0x0f, depth);
    if ((c & 0xf0) == 0x90)
        return mp_array(r, c & 0x0f, depth);
    if ((c & 0xe0) == 0xa0)
        return mp_str(r, c & 0x1f);
    switch (c) {
    case 0xc0:
        return json_null();
    case 0xc2:
        return json_false();
    case 0xc3:
        return json_true();
    case 0xc4:
    case 0xc5:
    case 0xc6:
        if (mp_uint(r, (size_t)1 << (c - 0xc4), &n) < 0)
            return mp_fail(r, "truncated binary length");
        return mp_bin(r, n);
    case 0xca: {
        uint64_t bits;
        if (mp_uint(r, 4, &bits) < 0)
            return mp_fail(r, "truncated float32");
        uint32_t b32 = (uint32_t)bits;
        float f;
        memcpy(&f, &b32, sizeof f);
        return mp_real(r, (double)f);
    }
    case 0xcb: {
        uint64_t bits;
        if (mp_uint(r, 8, &bits) < 0)
            return mp_fail(r, "truncated float64");
        double d;
        memcpy(&d, &bits, sizeof d);
        return mp_real(r, d);
    }
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
        if (mp_uint(r, (size_t)1 << (c - 0xcc), &n) < 0)
            return mp_fail(r, "truncated integer");
        if (n > (uint64_t)INT64_MAX)
            return mp_fail(r, "integer %llu is beyond the signed 64-bit range",
                           (unsigned long long)n);
        return json_integer((json_int_t)n);
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: {
        size_t w = (size_t)1 << (c - 0xd0);
        if (mp_uint(r, w, &n) < 0)
            return mp_fail(r, "truncated integer");
        int64_t v;
        if (w == 8) {
            memcpy(&v, &n, sizeof v);
        } else {
            uint64_t sign = (uint64_t)1 << (w * 8 - 1);
            v = (int64_t)((n ^ sign) - sign);
        }
        return json_integer((json_int_t)v);
    }
    case 0xd9:
    case 0xda:
    case 0xdb:
        if (mp_uint(r, (size_t)1 << (c - 0xd9), &n) < 0)
            return mp_fail(r, "truncated string length");
        return mp_str(r, n);
    case 0xdc:
    case 0xdd:
        if (mp_uint(r, c == 0xdc ? 2 : 4, &n) < 0)
            return mp_fail(r, "truncated array length");
        return mp_array(r, n, depth);
    case 0xde:
    case 0xdf:
        if (mp_uint(r, c == 0xde ? 2 : 4, &n) < 0)
            return mp_fail(r, "truncated map length");
        return mp_map(r, n, depth);
    default: /* 0xc1 (never used), 0xc7-0xc9 and 0xd4-0xd8 (ext) */
        return mp_fail(r, "unsupported MessagePack type 0x%02x at byte %zu", c, r->off - 1);
    }
}

json_t *zmq_codec_decode(zmq_codec_enc_t enc, const void *buf, size_t len, size_t max_depth,
                         char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (enc == ZMQ_CODEC_JSON) {
        problem_t *p = NULL;
        json_t *v = jsonx_parse(buf, len, max_depth, &p);
        if (!v && err && errlen)
            snprintf(err, errlen, "%s", p ? problem_detail(p) : "invalid JSON");
        problem_destroy(&p);
        return v;
    }
    mp_reader_t r = {.p = buf, .len = len, .max_depth = max_depth, .err = err, .errlen = errlen};
    json_t *v = mp_value(&r, 0);
    if (v && r.off != r.len) {
        json_decref(v);
        return mp_fail(&r, "%zu trailing bytes after the message", r.len - r.off);
    }
    return v;
}

/* ---- jansson → MessagePack -------------------------------------------------------------- */

static int mp_write(void *data, const char *buf, size_t len)
{
    return strbuf_append(data, buf, len) == 0 ? 0 : -1;
}

static int mp_pack(msgpack_packer *pk, const json_t *v, size_t depth)
{
    if (depth > 1024)
        return -1;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (msgpack_pack_map(pk, json_object_size(v)) < 0)
            return -1;
        const char *k;
        size_t klen;
        json_t *item;
        void *tmp;
        json_object_keylen_foreach_safe((json_t *)(uintptr_t)v, tmp, k, klen, item)
        {
            if (msgpack_pack_str_with_body(pk, k, klen) < 0 || mp_pack(pk, item, depth + 1) < 0)
                return -1;
        }
        return 0;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        if (msgpack_pack_array(pk, n) < 0)
            return -1;
        for (size_t i = 0; i < n; i++)
            if (mp_pack(pk, json_array_get(v, i), depth + 1) < 0)
                return -1;
        return 0;
    }
    case JSON_STRING:
        return msgpack_pack_str_with_body(pk, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return msgpack_pack_int64(pk, (int64_t)json_integer_value(v));
    case JSON_REAL:
        return msgpack_pack_double(pk, json_real_value(v));
    case JSON_TRUE:
        return msgpack_pack_true(pk);
    case JSON_FALSE:
        return msgpack_pack_false(pk);
    case JSON_NULL:
        return msgpack_pack_nil(pk);
    }
    return -1;
}

static int zmq_codec_json_write(const char *buf, size_t len, void *data)
{
    return strbuf_append(data, buf, len) == 0 ? 0 : -1;
}

int zmq_codec_encode(zmq_codec_enc_t enc, const json_t *v, strbuf_t *out)
{
    if (enc == ZMQ_CODEC_JSON)
        return json_dump_callback(v, zmq_codec_json_write, out, JSON_COMPACT | JSON_ENCODE_ANY);
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, mp_write);
    return mp_pack(&pk, v, 0);
}

/* ---- the envelope ----------------------------------------------------------------------- */

static const char *const zmq_envelope_keys[] = {"id",   "method", "path", "query",
                                                "body", "token",  NULL};
static const char *const zmq_envelope_methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", NULL};

static problem_t *zmq_envelope_problem(problem_t **p)
{
    if (!*p)
        *p = problem_new(400, "bad-envelope", "the ZMQ envelope is malformed; see errors[]");
    return *p;
}

static bool zmq_request_id_ok(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

static int zmq_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes src[0..n) into out (the HTTP transport sees decoded paths too). */
static int zmq_path_decode(const char *src, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = zmq_hex(src[i + 1]), lo = zmq_hex(src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi << 4 | lo);
            if (c == '\0')
                return -1;
            i += 2;
        }
        if (o + 1 >= outlen)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* Query values travel as text on HTTP; numbers and booleans are converted so that the
 * registry's query schemas see exactly what an HTTP client would send. */
static json_t *zmq_query_convert(json_t *q, problem_t **p)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    if (!out)
        return NULL;
    json_object_foreach(q, k, v)
    {
        char buf[64];
        json_t *s = NULL;
        switch (json_typeof(v)) {
        case JSON_STRING:
            s = json_incref(v);
            break;
        case JSON_INTEGER:
            snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            s = json_string(buf);
            break;
        case JSON_REAL:
            snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
            s = json_string(buf);
            break;
        case JSON_TRUE:
        case JSON_FALSE:
            s = json_string(json_is_true(v) ? "true" : "false");
            break;
        case JSON_NULL:
            continue;
        default:
            problem_field_add(zmq_envelope_problem(p), "envelope", "/query",
                              "query value \"%s\" must be a string, number or boolean", k);
            continue;
        }
        if (s)
            json_object_set_new(out, k, s);
    }
    return out;
}

int zmq_envelope_parse(json_t *root, zmq_envelope_t *env, problem_t **p)
{
    memset(env, 0, sizeof *env);
    *p = NULL;
    if (!json_is_object(root)) {
        *p = problem_new(400, "bad-envelope", "the ZMQ envelope must be an object");
        return -1;
    }

    json_t *id = json_object_get(root, "id");
    if (json_is_integer(id)) {
        env->id = id;
        snprintf(env->request_id, sizeof env->request_id, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(id));
    } else if (json_is_string(id) && json_string_length(id) > 0 &&
               json_string_length(id) <= ZMQ_CODEC_ID_MAX) {
        env->id = id;
        if (zmq_request_id_ok(json_string_value(id), json_string_length(id)))
            snprintf(env->request_id, sizeof env->request_id, "%s", json_string_value(id));
    } else {
        problem_field_add(zmq_envelope_problem(p), "envelope", "/id",
                          id ? "must be an integer or a string of 1 to %d bytes"
                             : "is required (an integer or a string of 1 to %d bytes)",
                          ZMQ_CODEC_ID_MAX);
    }

    const char *k;
    json_t *v;
    json_object_foreach(root, k, v)
    {
        bool known = false;
        for (size_t i = 0; zmq_envelope_keys[i] && !known; i++)
            known = strcmp(k, zmq_envelope_keys[i]) == 0;
        if (!known)
            problem_field_add(zmq_envelope_problem(p), "envelope", k,
                              "is not an envelope field (id, method, path, query, body, token)");
    }

    json_t *m = json_object_get(root, "method");
    const char *ms = json_string_value(m);
    bool method_ok = false;
    if (ms && strlen(ms) < sizeof env->method) {
        for (size_t i = 0; ms[i]; i++)
            env->method[i] = (char)toupper((unsigned char)ms[i]);
        for (size_t i = 0; zmq_envelope_methods[i] && !method_ok; i++)
            method_ok = strcmp(env->method, zmq_envelope_methods[i]) == 0;
    }
    if (!method_ok)
        problem_field_add(zmq_envelope_problem(p), "envelope", "/method",
                          m ? "must be one of GET, POST, PUT, PATCH, DELETE" : "is required");

    json_t *path = json_object_get(root, "path");
    const char *ps = json_string_value(path);
    if (!ps || ps[0] != '/') {
        problem_field_add(zmq_envelope_problem(p), "envelope", "/path",
                          path ? "must be a string starting with /" : "is required");
    } else {
        size_t plen = json_string_length(path);
        const char *q = memchr(ps, '?', plen);
        size_t n = q ? (size_t)(q - ps) : plen;
        if (plen >= ZMQ_CODEC_PATH_MAX || zmq_path_decode(ps, n, env->path, sizeof env->path) < 0)
            problem_field_add(zmq_envelope_problem(p), "envelope", "/path",
                              "is longer than %d bytes or has a malformed %%-escape",
                              ZMQ_CODEC_PATH_MAX - 1);
        if (q)
            env->raw_query = q + 1;
    }

    json_t *query = json_object_get(root, "query");
    if (query && !json_is_null(query)) {
        if (!json_is_object(query))
            problem_field_add(zmq_envelope_problem(p), "envelope", "/query", "must be an object");
        else if (env->raw_query)
            problem_field_add(zmq_envelope_problem(p), "envelope", "/query",
                              "give the query either in path after '?' or as an object, not both");
        else
            env->query = zmq_query_convert(query, p);
    }

    json_t *body = json_object_get(root, "body");
    env->body = json_is_null(body) ? NULL : body;

    json_t *token = json_object_get(root, "token");
    if (token && !json_is_null(token)) {
        const char *ts = json_string_value(token);
        if (!ts || json_string_length(token) == 0 ||
            json_string_length(token) > ZMQ_CODEC_TOKEN_MAX ||
            strlen(ts) != json_string_length(token))
            problem_field_add(zmq_envelope_problem(p), "envelope", "/token",
                              "must be a non-empty string of at most %d bytes",
                              ZMQ_CODEC_TOKEN_MAX);
        else
            env->token = ts;
    }

    if (*p) {
        json_decref(env->query);
        env->query = NULL;
        return -1;
    }
    return 0;
}

void zmq_envelope_clear(zmq_envelope_t *env)
{
    json_decref(env->query);
    env->query = NULL;
    if (env->id_owned)
        json_decref(env->id);
    env->id = NULL;
    env->id_owned = false;
}

/* ---- the fast envelope reader ----------------------------------------------------------- */

static const unsigned char *fx_ws(const unsigned char *p, const unsigned char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* A string of printable ASCII without escapes (so its bytes are its value and valid UTF-8):
 * *s and *n get its contents, the byte after the closing quote is returned; NULL otherwise. */
static const unsigned char *fx_str(const unsigned char *p, const unsigned char *e, const char **s,
                                   size_t *n)
{
    if (p == e || *p != '"')
        return NULL;
    const unsigned char *q = ++p;
    while (q < e && *q >= 0x20 && *q <= 0x7e && *q != '"' && *q != '\\')
        q++;
    if (q == e || *q != '"')
        return NULL;
    *s = (const char *)p;
    *n = (size_t)(q - p);
    return q + 1;
}

/* An integer as JSON writes it, of at most 18 digits (so it fits an int64): -?(0|[1-9][0-9]*).
 * What follows is checked by the caller (a ',' or '}' after whitespace, so "1.5" or "1e3"
 * are not taken). */
static const unsigned char *fx_int(const unsigned char *p, const unsigned char *e, int64_t *v)
{
    bool neg = p < e && *p == '-';
    if (neg)
        p++;
    if (p == e || *p < '0' || *p > '9' || (*p == '0' && neg))
        return NULL;
    if (*p == '0')
        return p + 1 < e && p[1] >= '0' && p[1] <= '9' ? NULL : (*v = 0, p + 1);
    int64_t x = 0;
    size_t digits = 0;
    for (; p < e && *p >= '0' && *p <= '9'; p++) {
        if (++digits > 18)
            return NULL;
        x = x * 10 + (*p - '0');
    }
    *v = neg ? -x : x;
    return p;
}

enum { FX_ID = 1, FX_METHOD = 2, FX_PATH = 4, FX_TOKEN = 8 };

int zmq_envelope_parse_fast(const void *buf, size_t len, zmq_envelope_t *env)
{
    const unsigned char *p = buf, *e = p + len;
    const char *id_s = NULL, *m_s = NULL, *path_s = NULL, *tok_s = NULL;
    size_t id_n = 0, m_n = 0, path_n = 0, tok_n = 0;
    int64_t id_i = 0;
    unsigned seen = 0;
    p = fx_ws(p, e);
    if (p == e || *p++ != '{')
        return 1;
    for (;;) {
        const char *k;
        size_t kn;
        p = fx_str(fx_ws(p, e), e, &k, &kn);
        if (!p)
            return 1;
        p = fx_ws(p, e);
        if (p == e || *p++ != ':')
            return 1;
        p = fx_ws(p, e);
        unsigned which = kn == 2 && memcmp(k, "id", 2) == 0       ? FX_ID
                         : kn == 6 && memcmp(k, "method", 6) == 0 ? FX_METHOD
                         : kn == 4 && memcmp(k, "path", 4) == 0   ? FX_PATH
                         : kn == 5 && memcmp(k, "token", 5) == 0  ? FX_TOKEN
                                                                  : 0;
        if (!which || (seen & which))
            return 1; /* another key, or a repeated one */
        seen |= which;
        if (which == FX_ID && p < e && *p != '"')
            p = fx_int(p, e, &id_i);
        else if (which == FX_ID)
            p = fx_str(p, e, &id_s, &id_n);
        else if (which == FX_METHOD)
            p = fx_str(p, e, &m_s, &m_n);
        else if (which == FX_PATH)
            p = fx_str(p, e, &path_s, &path_n);
        else
            p = fx_str(p, e, &tok_s, &tok_n);
        if (!p)
            return 1;
        p = fx_ws(p, e);
        if (p == e)
            return 1;
        if (*p == '}')
            break;
        if (*p++ != ',')
            return 1;
    }
    if (fx_ws(p + 1, e) != e ||
        (seen & (FX_ID | FX_METHOD | FX_PATH)) != (FX_ID | FX_METHOD | FX_PATH))
        return 1;

    /* The values, checked as zmq_envelope_parse checks them; any doubt goes the general way. */
    if (id_s && (id_n == 0 || id_n > ZMQ_CODEC_ID_MAX))
        return 1;
    if (m_n == 0 || m_n >= sizeof env->method)
        return 1;
    for (size_t i = 0; i < m_n; i++)
        env->method[i] = (char)toupper((unsigned char)m_s[i]);
    env->method[m_n] = '\0';
    bool method_ok = false;
    for (size_t i = 0; zmq_envelope_methods[i] && !method_ok; i++)
        method_ok = strcmp(env->method, zmq_envelope_methods[i]) == 0;
    if (!method_ok || path_n == 0 || path_s[0] != '/' || path_n >= ZMQ_CODEC_PATH_MAX ||
        memchr(path_s, '?', path_n) || (tok_s && (tok_n == 0 || tok_n > ZMQ_CODEC_FAST_TOKEN_MAX)))
        return 1;
    if (zmq_path_decode(path_s, path_n, env->path, sizeof env->path) < 0)
        return 1;
    json_t *id = id_s ? json_stringn(id_s, id_n) : json_integer((json_int_t)id_i);
    if (!id)
        return 1;
    env->id = id;
    env->id_owned = true;
    if (id_s) {
        env->request_id[0] = '\0';
        if (zmq_request_id_ok(id_s, id_n)) {
            memcpy(env->request_id, id_s, id_n);
            env->request_id[id_n] = '\0';
        }
    } else {
        snprintf(env->request_id, sizeof env->request_id, "%" JSON_INTEGER_FORMAT,
                 (json_int_t)id_i);
    }
    env->raw_query = NULL;
    env->query = NULL;
    env->body = NULL;
    env->token = NULL;
    if (tok_s) {
        memcpy(env->token_buf, tok_s, tok_n);
        env->token_buf[tok_n] = '\0';
        env->token = env->token_buf;
    }
    return 0;
}
