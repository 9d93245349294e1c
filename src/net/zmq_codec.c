/* JSON and MessagePack for the ZMQ envelope. Encoding uses msgpack-c's packer. Decoding walks
 * the MessagePack bytes directly into jansson values: msgpack-c's unpacker allocates a
 * container's declared size up front, so a 5-byte "array of 4 billion" would cost gigabytes;
 * here every declared count is checked against the bytes that remain, and a first walk that
 * builds nothing charges the value budget (core/jsonx.h), before anything is made. */
#include "net/zmq_codec.h"

#include <errno.h>
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
    jsonx_budget_t *budget; /* charged by mp_skip */
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

/* ---- MessagePack walked without building ----------------------------------------------- */

static int mp_skip_fail(mp_reader_t *r, int rc, const char *why)
{
    mp_fail(r, "%s at byte %zu", why, r->off);
    return rc;
}

/* Walks one value and builds nothing: every length checked against the bytes that remain,
 * nesting against max_depth, each value (an array or a map also as a container; a map's keys,
 * which must be strings, not apart from their values) charged to the budget, and the types
 * without a JSON form refused. 0, or -EINVAL, -ELOOP (too deep) or -E2BIG (over budget). */
static int mp_skip(mp_reader_t *r, size_t depth, bool key)
{
    if (mp_need(r, 1) < 0)
        return mp_skip_fail(r, -EINVAL, "truncated message");
    unsigned char c = r->p[r->off++];
    enum { SCALAR, BYTES, ARRAY, MAP } kind = SCALAR;
    size_t width = 0; /* a scalar's payload, or the width of a length or count */
    uint64_t n = 0;
    if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
        kind = SCALAR;
    } else if ((c & 0xf0) == 0x80 || (c & 0xf0) == 0x90) {
        kind = (c & 0xf0) == 0x80 ? MAP : ARRAY;
        n = c & 0x0f;
    } else if ((c & 0xe0) == 0xa0) {
        kind = BYTES;
        n = c & 0x1f;
    } else if (c >= 0xc4 && c <= 0xc6) {
        kind = BYTES;
        width = (size_t)1 << (c - 0xc4);
    } else if (c == 0xca || c == 0xcb) {
        width = c == 0xca ? 4 : 8;
    } else if (c >= 0xcc && c <= 0xd3) {
        width = (size_t)1 << ((c - 0xcc) & 3);
    } else if (c >= 0xd9 && c <= 0xdb) {
        kind = BYTES;
        width = (size_t)1 << (c - 0xd9);
    } else if (c >= 0xdc && c <= 0xdf) {
        kind = c <= 0xdd ? ARRAY : MAP;
        width = c == 0xdc || c == 0xde ? 2 : 4;
    } else { /* 0xc1 (never used), 0xc7-0xc9 and 0xd4-0xd8 (ext) */
        r->off--;
        mp_fail(r, "unsupported MessagePack type 0x%02x at byte %zu", c, r->off);
        return -EINVAL;
    }
    bool str = (c & 0xe0) == 0xa0 || (c >= 0xd9 && c <= 0xdb);
    if (key && !str) {
        r->off--;
        return mp_skip_fail(r, -EINVAL, "map key is not a string");
    }
    if (!key && jsonx_budget_take(r->budget, kind == ARRAY || kind == MAP) < 0)
        return -E2BIG;
    if (kind == SCALAR) {
        if (mp_need(r, width) < 0)
            return mp_skip_fail(r, -EINVAL, "truncated number");
        r->off += width;
        return 0;
    }
    if (width && mp_uint(r, width, &n) < 0)
        return mp_skip_fail(r, -EINVAL, "truncated length");
    if (kind == BYTES) {
        if (n > r->len - r->off)
            return mp_skip_fail(r, -EINVAL, "truncated string or binary");
        r->off += (size_t)n;
        return 0;
    }
    /* Every item takes at least one byte, every entry two: a larger count cannot be honest. */
    if (n > (kind == MAP ? (r->len - r->off) / 2 : r->len - r->off)) {
        mp_fail(r, "%s of %llu items exceeds the message", kind == MAP ? "map" : "array",
                (unsigned long long)n);
        return -EINVAL;
    }
    if (depth >= r->max_depth)
        return -ELOOP;
    for (uint64_t i = 0; i < n; i++) {
        int rc = kind == MAP ? mp_skip(r, depth + 1, true) : 0;
        if (rc == 0)
            rc = mp_skip(r, depth + 1, false);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int zmq_codec_skip(zmq_codec_enc_t enc, const void *buf, size_t len, jsonx_budget_t *b, size_t *end,
                   problem_t **p)
{
    *p = NULL;
    if (enc == ZMQ_CODEC_JSON)
        return jsonx_scan(buf, len, b, end, p);
    char why[256] = "";
    mp_reader_t r = {.p = buf,
                     .len = len,
                     .max_depth = b->max_depth,
                     .err = why,
                     .errlen = sizeof why,
                     .budget = b};
    int rc = mp_skip(&r, 0, false);
    if (rc == -E2BIG)
        *p = jsonx_budget_problem(b);
    else if (rc == -ELOOP)
        *p = jsonx_depth_problem(b->max_depth);
    else if (rc < 0)
        *p = problem_new(400, "malformed-msgpack", "malformed MessagePack: %s", why);
    else
        *end = r.off;
    return rc;
}

json_t *zmq_codec_decode_budget(zmq_codec_enc_t enc, const void *buf, size_t len, jsonx_budget_t *b,
                                problem_t **p)
{
    *p = NULL;
    if (enc == ZMQ_CODEC_JSON)
        return jsonx_parse_budget(buf, len, b, p);
    char why[256] = "";
    mp_reader_t r = {.p = buf,
                     .len = len,
                     .max_depth = b->max_depth,
                     .err = why,
                     .errlen = sizeof why,
                     .budget = b};
    int rc = mp_skip(&r, 0, false);
    if (rc == 0 && r.off != r.len) {
        mp_fail(&r, "%zu trailing bytes after the message", r.len - r.off);
        rc = -EINVAL;
    }
    if (rc == -E2BIG) {
        *p = jsonx_budget_problem(b);
        return NULL;
    }
    if (rc == -ELOOP) {
        *p = jsonx_depth_problem(b->max_depth);
        return NULL;
    }
    json_t *v = NULL;
    if (rc == 0) {
        r.off = 0;
        v = mp_value(&r, 0);
    }
    if (!v)
        *p = problem_new(400, "malformed-msgpack", "malformed MessagePack: %s",
                         why[0] ? why : "out of memory");
    return v;
}

json_t *zmq_codec_decode(zmq_codec_enc_t enc, const void *buf, size_t len, size_t max_depth,
                         char *err, size_t errlen)
{
    jsonx_budget_t b;
    problem_t *p = NULL;
    jsonx_budget_unlimited(&b, max_depth);
    json_t *v = zmq_codec_decode_budget(enc, buf, len, &b, &p);
    if (err && errlen)
        snprintf(err, errlen, "%s", p ? problem_detail(p) : "");
    problem_destroy(&p);
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
