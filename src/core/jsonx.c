/* Bounded JSON input and safe string building. A scan runs before jansson parses, so a body of
 * a million '[' costs one linear pass and a 400, not a deep recursion, and a body of a million
 * "[]" costs one pass and a 413, not a million allocations. */
#include "core/jsonx.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void jsonx_budget_init(jsonx_budget_t *b, size_t len, size_t max_depth)
{
    size_t kib = len / 1024 + (len % 1024 != 0);
    if (kib < JSONX_BUDGET_MIN_KIB)
        kib = JSONX_BUDGET_MIN_KIB;
    size_t values = kib > JSONX_VALUES_MAX / JSONX_VALUES_PER_KIB ? JSONX_VALUES_MAX
                                                                  : kib * JSONX_VALUES_PER_KIB;
    size_t containers = kib > JSONX_CONTAINERS_MAX / JSONX_CONTAINERS_PER_KIB
                            ? JSONX_CONTAINERS_MAX
                            : kib * JSONX_CONTAINERS_PER_KIB;
    b->max_depth = max_depth < JSONX_DEPTH_MAX ? max_depth : JSONX_DEPTH_MAX;
    b->values = b->max_values = values;
    b->containers = b->max_containers = containers;
}

void jsonx_budget_unlimited(jsonx_budget_t *b, size_t max_depth)
{
    b->max_depth = max_depth < JSONX_DEPTH_MAX ? max_depth : JSONX_DEPTH_MAX;
    b->values = b->max_values = SIZE_MAX;
    b->containers = b->max_containers = SIZE_MAX;
}

int jsonx_budget_take(jsonx_budget_t *b, bool container)
{
    if (b->values == 0 || (container && b->containers == 0))
        return -E2BIG;
    if (b->values != SIZE_MAX)
        b->values--;
    if (container && b->containers != SIZE_MAX)
        b->containers--;
    return 0;
}

problem_t *jsonx_budget_problem(const jsonx_budget_t *b)
{
    problem_t *p = problem_new(413, "json-over-budget",
                               "the request holds more than %zu values or %zu arrays and objects: "
                               "at most %d values and %d arrays or objects per KiB are decoded "
                               "(%d and %d in all)",
                               b->max_values, b->max_containers, JSONX_VALUES_PER_KIB,
                               JSONX_CONTAINERS_PER_KIB, JSONX_VALUES_MAX, JSONX_CONTAINERS_MAX);
    problem_ext_set(p, "max_values", json_integer((json_int_t)b->max_values));
    problem_ext_set(p, "max_containers", json_integer((json_int_t)b->max_containers));
    return p;
}

problem_t *jsonx_depth_problem(size_t max_depth)
{
    problem_t *p = problem_new(400, "json-too-deep",
                               "JSON nesting is deeper than the limit of %zu levels", max_depth);
    problem_ext_set(p, "max_depth", json_integer((json_int_t)max_depth));
    return p;
}

static bool jsonx_is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A number or literal runs until whitespace or punctuation. */
static bool jsonx_is_delim(char c)
{
    return jsonx_is_ws(c) || c == '{' || c == '}' || c == '[' || c == ']' || c == ',' || c == ':' ||
           c == '"';
}

static int jsonx_scan_fail(int rc, const jsonx_budget_t *b, size_t at, problem_t **err)
{
    if (rc == -E2BIG)
        *err = jsonx_budget_problem(b);
    else if (rc == -ELOOP)
        *err = jsonx_depth_problem(b->max_depth);
    else
        *err = problem_new(
            400, "malformed-json",
            "malformed JSON: unbalanced brackets or a truncated value at byte %zu of the value",
            at);
    return rc;
}

int jsonx_scan(const char *buf, size_t len, jsonx_budget_t *b, size_t *end, problem_t **err)
{
    /* Bit d says whether the container open at depth d is an object (then a string after '{'
     * or ',' is a key, which is not a value of its own). */
    unsigned char is_obj[JSONX_DEPTH_MAX / 8] = {
        0}; /* bits are set before read; zeroed for the analyzers */
    size_t depth = 0, i = 0;
    bool key_next = false;
    *err = NULL;
    for (;;) {
        while (i < len && jsonx_is_ws(buf[i]))
            i++;
        if (i == len)
            return jsonx_scan_fail(-EINVAL, b, i, err);
        char c = buf[i];
        if (c == '{' || c == '[') {
            if (depth >= b->max_depth)
                return jsonx_scan_fail(-ELOOP, b, i, err);
            if (jsonx_budget_take(b, true) < 0)
                return jsonx_scan_fail(-E2BIG, b, i, err);
            unsigned char bit = (unsigned char)(1u << (depth % 8));
            if (c == '{')
                is_obj[depth / 8] |= bit;
            else
                is_obj[depth / 8] &= (unsigned char)~bit;
            depth++;
            i++;
            key_next = c == '{';
            continue;
        }
        if (c == '}' || c == ']') {
            if (depth == 0 || ((is_obj[(depth - 1) / 8] >> ((depth - 1) % 8) & 1) != (c == '}')))
                return jsonx_scan_fail(-EINVAL, b, i, err);
            depth--;
            i++;
            key_next = false;
            if (depth == 0)
                break;
            continue;
        }
        if (c == ',' || c == ':') {
            if (depth == 0)
                return jsonx_scan_fail(-EINVAL, b, i, err);
            key_next = c == ',' && (is_obj[(depth - 1) / 8] >> ((depth - 1) % 8) & 1);
            i++;
            continue;
        }
        /* A string or a scalar: a value of its own unless it is an object's key. */
        bool key = key_next && c == '"';
        key_next = false;
        if (!key && jsonx_budget_take(b, false) < 0)
            return jsonx_scan_fail(-E2BIG, b, i, err);
        if (c == '"') {
            for (i++; i < len && buf[i] != '"'; i++)
                if (buf[i] == '\\')
                    i++;
            if (i >= len)
                return jsonx_scan_fail(-EINVAL, b, len, err);
            i++;
        } else {
            while (i < len && !jsonx_is_delim(buf[i]))
                i++;
        }
        if (depth == 0)
            break;
    }
    *end = i;
    return 0;
}

size_t jsonx_depth(const char *buf, size_t len, size_t limit)
{
    size_t depth = 0, max = 0;
    int in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max) {
                max = depth;
                if (max > limit)
                    return limit + 1;
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return max;
}

json_t *jsonx_parse(const char *buf, size_t len, size_t max_depth, problem_t **err)
{
    jsonx_budget_t b;
    jsonx_budget_init(&b, len, max_depth);
    return jsonx_parse_budget(buf, len, &b, err);
}

json_t *jsonx_parse_budget(const char *buf, size_t len, jsonx_budget_t *b, problem_t **err)
{
    *err = NULL;
    if (len == 0) {
        *err = problem_new(400, "malformed-json",
                           "the request body is empty; a JSON value is expected");
        return NULL;
    }
    size_t end;
    int rc = jsonx_scan(buf, len, b, &end, err);
    if (rc == -E2BIG || rc == -ELOOP)
        return NULL;
    /* Other faults are named better by jansson (line and column), and it builds no more than
     * the scan counted before the fault. */
    problem_destroy(err);
    json_error_t e;
    json_t *v = json_loadb(buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
    if (!v) {
        *err = problem_new(400, "malformed-json", "malformed JSON at line %d, column %d: %s",
                           e.line, e.column, e.text);
        return NULL;
    }
    return v;
}

void jsonx_release(size_t len)
{
#ifdef __GLIBC__
    if (len >= JSONX_RELEASE_BYTES)
        malloc_trim(0);
#else
    (void)len;
#endif
}

char *jsonx_dump(const json_t *v, size_t *len)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s && len)
        *len = strlen(s);
    return s;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t jsonx_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t need;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0) {
        need = 2;
        cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        need = 3;
        cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        need = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((need == 2 && cp < 0x80) || (need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return need;
}

json_t *jsonx_string(const char *s)
{
    if (!s)
        return json_null();
    size_t n = strlen(s);
    json_t *v = json_stringn(s, n);
    if (v)
        return v;
    /* Not valid UTF-8: replace each bad byte with U+FFFD so the text still reads. */
    char *out = malloc(n * 3 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t l = jsonx_utf8_len((const unsigned char *)s + i, n - i);
        if (l == 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(out + o, s + i, l);
            o += l;
            i += l;
        }
    }
    v = json_stringn(out, o);
    free(out);
    return v;
}
