/* The ZMQ request envelope: the member-by-member reader that leaves the body undecoded until
 * the registry asks for it, the checks shared by every reader, and the fast reader of the
 * common request that builds no tree at all. */
#include "net/zmq_envelope.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/jsonx.h"

/* ---- checks ---------------------------------------------------------------------------- */

static const char *const zmq_envelope_keys[] = {"id",   "method", "path",        "query",
                                                "body", "token",  "traceparent", NULL};
static const char *const zmq_envelope_methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", NULL};

static problem_t *zmq_envelope_problem(problem_t **p)
{
    if (!*p)
        *p = problem_new(400, "bad-envelope", "the request envelope is malformed; see errors[]");
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

/* Takes the id when it is usable; a field error otherwise. */
static void zmq_envelope_id(json_t *id, zmq_envelope_t *env, problem_t **p)
{
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
}

/* Checks root's members into env, adding field errors to *p (which may already hold some). */
static void zmq_envelope_check(json_t *root, zmq_envelope_t *env, problem_t **p)
{
    zmq_envelope_id(json_object_get(root, "id"), env, p);

    const char *k;
    json_t *v;
    json_object_foreach(root, k, v)
    {
        bool known = false;
        for (size_t i = 0; zmq_envelope_keys[i] && !known; i++)
            known = strcmp(k, zmq_envelope_keys[i]) == 0;
        if (!known)
            problem_field_add(
                zmq_envelope_problem(p), "envelope", k,
                "is not an envelope field (id, method, path, query, body, token, traceparent)");
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

    /* A W3C traceparent: kept when it is a string of sane length; its format is the registry's
     * to judge (a malformed one starts a new trace, it does not fail the request). */
    json_t *tp = json_object_get(root, "traceparent");
    if (tp && !json_is_null(tp)) {
        if (!json_is_string(tp))
            problem_field_add(zmq_envelope_problem(p), "envelope", "/traceparent",
                              "must be a W3C traceparent string");
        else if (json_string_length(tp) < sizeof env->traceparent)
            memcpy(env->traceparent, json_string_value(tp), json_string_length(tp) + 1);
    }
}

int zmq_envelope_parse(json_t *root, zmq_envelope_t *env, problem_t **p)
{
    memset(env, 0, sizeof *env);
    *p = NULL;
    if (!json_is_object(root)) {
        *p = problem_new(400, "bad-envelope", "the request envelope must be an object");
        return -1;
    }
    zmq_envelope_check(root, env, p);
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
    env->id_owned = env->id_plain = false;
    json_decref(env->root);
    env->root = NULL;
    env->body_raw = NULL;
    env->body_len = 0;
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
    env->id_owned = env->id_plain = true;
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
    env->traceparent[0] = '\0';
    env->root = NULL;
    env->body_raw = NULL;
    env->body_len = 0;
    if (tok_s) {
        memcpy(env->token_buf, tok_s, tok_n);
        env->token_buf[tok_n] = '\0';
        env->token = env->token_buf;
    }
    return 0;
}

/* ---- the reader that leaves the body undecoded ------------------------------------------ */

/* The members of an envelope, and the most bytes each may take encoded (JSON may escape every
 * character as \uXXXX): anything larger is refused without being decoded. */
enum { ENV_ID, ENV_METHOD, ENV_PATH, ENV_QUERY, ENV_BODY, ENV_TOKEN, ENV_TRACEPARENT, ENV_OTHER };
static const size_t zmq_envelope_field_max[] = {
    [ENV_ID] = 1024,
    [ENV_METHOD] = 64,
    [ENV_PATH] = 8 * ZMQ_CODEC_PATH_MAX,
    [ENV_QUERY] = ZMQ_CODEC_QUERY_MAX,
    [ENV_TOKEN] = 8 * ZMQ_CODEC_TOKEN_MAX,
    [ENV_TRACEPARENT] = 1024,
};
/* A key longer than this is not worth decoding: it is reported by its length. */
#define ZMQ_ENVELOPE_KEY_MAX 64

/* Walks the top-level object or map of a message, one member at a time. */
typedef struct env_rd {
    zmq_codec_enc_t enc;
    const unsigned char *p;
    size_t len, off;
    size_t n, i; /* MessagePack: entries declared and read */
    bool first;  /* JSON: no member read yet */
    jsonx_budget_t budget;
} env_rd_t;

static bool env_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void env_rd_skip_ws(env_rd_t *r)
{
    while (r->off < r->len && env_ws(r->p[r->off]))
        r->off++;
}

static int env_rd_fail(problem_t **p, const char *why, size_t at)
{
    *p = problem_new(400, "bad-envelope", "the request envelope is malformed at byte %zu: %s", at,
                     why);
    return -1;
}

/* Opens the top-level object; 0 or -1 (*p). */
static int env_rd_open(env_rd_t *r, problem_t **p)
{
    if (r->enc == ZMQ_CODEC_JSON) {
        env_rd_skip_ws(r);
        if (r->off == r->len || r->p[r->off] != '{')
            return env_rd_fail(p, "an object is expected", r->off);
        r->off++;
        r->first = true;
        return 0;
    }
    unsigned char c = r->len ? r->p[0] : 0;
    size_t w = c == 0xde ? 2 : c == 0xdf ? 4 : 0;
    if ((c & 0xf0) != 0x80 && !w)
        return env_rd_fail(p, "a map is expected", 0);
    if (r->len < 1 + w)
        return env_rd_fail(p, "truncated map header", 0);
    r->n = w ? 0 : c & 0x0f;
    for (size_t i = 0; i < w; i++)
        r->n = r->n << 8 | r->p[1 + i];
    r->off = 1 + w;
    if (r->n > (r->len - r->off) / 2)
        return env_rd_fail(p, "the map declares more entries than the message holds", 0);
    return 0;
}

/* A key's text as a new JSON string, or NULL when it is too long or not valid text. */
static json_t *env_key_text(zmq_codec_enc_t enc, const unsigned char *k, size_t n)
{
    if (n > ZMQ_ENVELOPE_KEY_MAX + (enc == ZMQ_CODEC_JSON ? 2 : 0))
        return NULL;
    if (enc == ZMQ_CODEC_MSGPACK)
        return json_stringn((const char *)k, n);
    return json_loadb((const char *)k, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
}

/* The next member: its key (a new string, or NULL when unusable, with *klen its encoded size)
 * and its value's bytes [*vs, *ve), walked and charged to the budget. Returns 1, 0 at the end
 * of the object (trailing bytes refused), or -1 with *p. */
static int env_rd_next(env_rd_t *r, json_t **key, size_t *klen, size_t *vs, size_t *ve,
                       problem_t **p)
{
    *key = NULL;
    const unsigned char *kp;
    if (r->enc == ZMQ_CODEC_JSON) {
        env_rd_skip_ws(r);
        if (r->off < r->len && r->p[r->off] == '}') {
            r->off++;
            env_rd_skip_ws(r);
            return r->off == r->len ? 0 : env_rd_fail(p, "trailing bytes", r->off);
        }
        if (!r->first) {
            if (r->off == r->len || r->p[r->off] != ',')
                return env_rd_fail(p, "',' or '}' expected", r->off);
            r->off++;
            env_rd_skip_ws(r);
        }
        r->first = false;
        if (r->off == r->len || r->p[r->off] != '"')
            return env_rd_fail(p, "a member name is expected", r->off);
        size_t k0 = r->off++;
        while (r->off < r->len && r->p[r->off] != '"')
            r->off += r->p[r->off] == '\\' ? 2 : 1;
        if (r->off >= r->len)
            return env_rd_fail(p, "truncated member name", k0);
        r->off++;
        kp = r->p + k0;
        *klen = r->off - k0;
        env_rd_skip_ws(r);
        if (r->off == r->len || r->p[r->off] != ':')
            return env_rd_fail(p, "':' expected", r->off);
        r->off++;
        env_rd_skip_ws(r);
    } else {
        if (r->i == r->n)
            return r->off == r->len ? 0 : env_rd_fail(p, "trailing bytes", r->off);
        r->i++;
        unsigned char c = r->off < r->len ? r->p[r->off] : 0;
        size_t w = c >= 0xd9 && c <= 0xdb ? (size_t)1 << (c - 0xd9) : 0;
        if ((c & 0xe0) != 0xa0 && !w)
            return env_rd_fail(p, "a member name must be a string", r->off);
        size_t k0 = r->off++, n = c & 0x1f;
        if (w) {
            if (r->len - r->off < w)
                return env_rd_fail(p, "truncated member name", k0);
            n = 0;
            for (size_t i = 0; i < w; i++)
                n = n << 8 | r->p[r->off++];
        }
        if (n > r->len - r->off)
            return env_rd_fail(p, "truncated member name", k0);
        kp = r->p + r->off;
        *klen = n;
        r->off += n;
    }
    *key = env_key_text(r->enc, kp, *klen);
    *vs = r->off;
    size_t end;
    problem_t *sp = NULL;
    int rc = zmq_codec_skip(r->enc, r->p + r->off, r->len - r->off, &r->budget, &end, &sp);
    if (rc < 0) {
        json_decref(*key);
        *key = NULL;
        if (rc == -E2BIG || rc == -ELOOP) {
            *p = sp;
            return -1;
        }
        *p = problem_new(400, "bad-envelope",
                         "the request envelope's member at byte %zu is malformed (%s)", r->off,
                         problem_detail(sp));
        problem_destroy(&sp);
        return -1;
    }
    r->off += end;
    *ve = r->off;
    return 1;
}

static int env_slot(const json_t *key)
{
    static const char *const names[] = {[ENV_ID] = "id",
                                        [ENV_METHOD] = "method",
                                        [ENV_PATH] = "path",
                                        [ENV_QUERY] = "query",
                                        [ENV_BODY] = "body",
                                        [ENV_TOKEN] = "token",
                                        [ENV_TRACEPARENT] = "traceparent"};
    const char *k = json_string_value(key);
    if (!k)
        return ENV_OTHER;
    for (int i = 0; i < ENV_OTHER; i++)
        if (json_string_length(key) == strlen(names[i]) && strcmp(k, names[i]) == 0)
            return i;
    return ENV_OTHER;
}

static bool env_is_null(zmq_codec_enc_t enc, const unsigned char *v, size_t n)
{
    return enc == ZMQ_CODEC_JSON ? n == 4 && memcmp(v, "null", 4) == 0 : n == 1 && v[0] == 0xc0;
}

/* Decodes one small member into root under its name; a member that is too large or does not
 * decode becomes false, which the checks then refuse with the field's rule. */
static void env_member_set(env_rd_t *r, json_t *root, int slot, const char *name, size_t vs,
                           size_t ve, problem_t **p)
{
    json_t *v = NULL;
    if (ve - vs <= zmq_envelope_field_max[slot]) {
        jsonx_budget_t b;
        problem_t *dp = NULL;
        /* A query is one flat object; the other members are scalars. */
        jsonx_budget_init(&b, ve - vs, slot == ENV_QUERY ? 1 : r->budget.max_depth);
        v = zmq_codec_decode_budget(r->enc, r->p + vs, ve - vs, &b, &dp);
        if (!v && slot == ENV_QUERY)
            problem_field_add(zmq_envelope_problem(p), "envelope", "/query",
                              "must be one object of strings, numbers and booleans, nothing "
                              "nested");
        problem_destroy(&dp);
    } else if (slot == ENV_QUERY) {
        problem_field_add(zmq_envelope_problem(p), "envelope", "/query", "is longer than %d bytes",
                          ZMQ_CODEC_QUERY_MAX);
    }
    if (!v)
        v = slot == ENV_QUERY ? json_null() : json_false();
    json_object_set_new(root, name, v);
}

int zmq_envelope_read(zmq_codec_enc_t enc, const void *buf, size_t len, size_t max_depth,
                      zmq_envelope_t *env, problem_t **p)
{
    memset(env, 0, sizeof *env);
    *p = NULL;
    env_rd_t r = {.enc = enc, .p = buf, .len = len};
    jsonx_budget_init(&r.budget, len, max_depth);
    json_t *root = json_object();
    if (!root) {
        *p = problem_new(503, "out-of-memory", "the request could not be held");
        return -1;
    }
    env->root = root;
    if (env_rd_open(&r, p) < 0)
        return -1;
    unsigned seen = 0;
    for (;;) {
        json_t *key;
        size_t klen, vs, ve;
        problem_t *fault = NULL;
        int rc = env_rd_next(&r, &key, &klen, &vs, &ve, &fault);
        if (rc == 0)
            break;
        if (rc < 0) {
            /* The fault is the answer, rather than field errors found before it; the id, when
             * read before it, addresses the reply. */
            problem_destroy(p);
            *p = fault;
            problem_t *ignored = NULL;
            zmq_envelope_id(json_object_get(root, "id"), env, &ignored);
            problem_destroy(&ignored);
            return -1;
        }
        int slot = env_slot(key);
        const char *name = json_string_value(key);
        if (slot != ENV_OTHER && (seen & 1u << slot)) {
            char field[16];
            snprintf(field, sizeof field, "/%s", name);
            problem_field_add(zmq_envelope_problem(p), "envelope", field, "appears more than once");
        } else if (slot == ENV_BODY) {
            if (!env_is_null(enc, r.p + vs, ve - vs)) {
                env->body_raw = r.p + vs;
                env->body_len = ve - vs;
                env->body_enc = enc;
            }
        } else if (slot != ENV_OTHER) {
            env_member_set(&r, root, slot, name, vs, ve, p);
        } else if (name && strlen(name) == json_string_length(key)) {
            json_object_set_new(root, name, json_null()); /* reported by the checks */
        } else {
            problem_field_add(
                zmq_envelope_problem(p), "envelope", "",
                "a member name of %zu bytes (too long, or not valid UTF-8) is not "
                "an envelope field (id, method, path, query, body, token, traceparent)",
                klen);
        }
        if (slot != ENV_OTHER)
            seen |= 1u << slot;
        json_decref(key);
    }
    /* The checks keep the field errors already found and leave body_raw as set above. */
    zmq_envelope_check(root, env, p);
    if (*p) {
        json_decref(env->query);
        env->query = NULL;
        return -1;
    }
    return 0;
}

json_t *zmq_envelope_body(const zmq_envelope_t *env, size_t max_depth, problem_t **p)
{
    jsonx_budget_t b;
    jsonx_budget_init(&b, env->body_len, max_depth);
    return zmq_codec_decode_budget(env->body_enc, env->body_raw, env->body_len, &b, p);
}

json_t *zmq_envelope_raw_body(const api_reply_t *r, json_t **headers)
{
    if (!r->raw || r->raw_len == 0)
        return NULL;
    /* A handler that wrote its JSON itself: the envelope carries the value, not its text. */
    if (r->content_type && (strncasecmp(r->content_type, "application/json", 16) == 0 ||
                            strstr(r->content_type, "+json"))) {
        json_t *j = json_loadb(r->raw, r->raw_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (j)
            return j;
    }
    json_t *b = json_stringn(r->raw, r->raw_len);
    if (!b) {
        /* Not UTF-8: the body travels as base64 and the reply says so. */
        char *b64 = zmq_codec_base64(r->raw, r->raw_len);
        b = b64 ? json_string(b64) : NULL;
        free(b64);
        if (*headers || (*headers = json_object()))
            json_object_set_new(*headers, "Content-Transfer-Encoding", json_string("base64"));
    }
    if (r->content_type && (*headers || (*headers = json_object())))
        json_object_set_new(*headers, "Content-Type", json_string(r->content_type));
    return b;
}
