/* Bounded JSON input and safe string building. The depth scan runs before jansson parses, so a
 * body of a million '[' costs one linear pass and a 400, not a deep recursion. */
#include "core/jsonx.h"

#include <stdlib.h>
#include <string.h>

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
    *err = NULL;
    if (len == 0) {
        *err = problem_new(400, "malformed-json",
                           "the request body is empty; a JSON value is expected");
        return NULL;
    }
    if (jsonx_depth(buf, len, max_depth) > max_depth) {
        *err = problem_new(400, "json-too-deep",
                           "JSON nesting is deeper than the limit of %zu levels", max_depth);
        problem_ext_set(*err, "max_depth", json_integer((json_int_t)max_depth));
        return NULL;
    }
    json_error_t e;
    json_t *v = json_loadb(buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
    if (!v) {
        *err = problem_new(400, "malformed-json", "malformed JSON at line %d, column %d: %s",
                           e.line, e.column, e.text);
        return NULL;
    }
    return v;
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
