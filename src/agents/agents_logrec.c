/* The records of agents' log files, read without building JSON objects: the head every record
 * starts with (seq and stream) and its text with the JSON escapes undone. Pure functions, any
 * thread; unit-tested in tests/unit/test_agents_logrec.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents_logrec.h"
#include "agents/agents_model.h"

/* The head every record starts with: {"seq":N,"stream":"stdout"|"stderr", written by
 * agents_line_json_write and by jansson alike. 0 or -EINVAL. */
int agents_logrec_head_parse(const char *p, size_t len, uint64_t *seq, int *stream)
{
    static const char k1[] = "{\"seq\":", k2[] = ",\"stream\":\"std";
    if (len < sizeof k1 - 1 || memcmp(p, k1, sizeof k1 - 1) != 0)
        return -EINVAL;
    size_t i = sizeof k1 - 1;
    uint64_t v = 0;
    size_t d = 0;
    for (; i < len && p[i] >= '0' && p[i] <= '9' && d < 19; i++, d++)
        v = v * 10 + (uint64_t)(p[i] - '0');
    if (d == 0 || len - i < sizeof k2 || memcmp(p + i, k2, sizeof k2 - 1) != 0)
        return -EINVAL;
    char c = p[i + sizeof k2 - 1];
    if (c != 'o' && c != 'e')
        return -EINVAL;
    *seq = v;
    *stream = c == 'e' ? AGENTS_STDERR : AGENTS_STDOUT;
    return 0;
}

static int agents_logrec_hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* c as UTF-8 at o; returns the end. A lone surrogate is written as it is: the pattern sees
 * what was logged. */
static char *agents_logrec_utf8_put(char *o, int c)
{
    if (c < 0x80) {
        *o++ = (char)c;
    } else if (c < 0x800) {
        *o++ = (char)(0xC0 | c >> 6);
        *o++ = (char)(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        *o++ = (char)(0xE0 | c >> 12);
        *o++ = (char)(0x80 | ((c >> 6) & 0x3F));
        *o++ = (char)(0x80 | (c & 0x3F));
    } else {
        *o++ = (char)(0xF0 | c >> 18);
        *o++ = (char)(0x80 | ((c >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((c >> 6) & 0x3F));
        *o++ = (char)(0x80 | (c & 0x3F));
    }
    return o;
}

/* The "text" of a record without building a JSON object (a grep reads every record): a
 * pointer into rec when the string has no escapes, else its unescaped bytes in *buf (grown as
 * needed, owned by the caller). 0, or -EINVAL/-ENOMEM (the caller then parses the record). */
int agents_logrec_text_get(const char *rec, size_t len, char **buf, size_t *cap, const char **text,
                           size_t *tlen)
{
    static const char key[] = ",\"text\":\"";
    const char *k = memmem(rec, len, key, sizeof key - 1);
    if (!k)
        return -EINVAL;
    const char *p = k + sizeof key - 1, *end = rec + len, *q = p;
    while (q < end && *q != '"' && *q != '\\')
        q++;
    if (q < end && *q == '"') {
        *text = p;
        *tlen = (size_t)(q - p);
        return 0;
    }
    if (*cap < len) { /* the unescaped text is never longer than its record */
        char *nb = realloc(*buf, len);
        if (!nb)
            return -ENOMEM;
        *buf = nb;
        *cap = len;
    }
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    char *o = *buf;
    while (p < end && *p != '"') {
        if (*p != '\\') {
            *o++ = *p++;
            continue;
        }
        if (end - p < 2)
            return -EINVAL;
        char e = p[1];
        p += 2;
        if (e != 'u') {
            const char *at = e ? strchr(from, e) : NULL;
            if (!at)
                return -EINVAL;
            *o++ = to[at - from];
            continue;
        }
        int c = end - p >= 4 ? agents_logrec_hex4(p) : -1;
        if (c < 0)
            return -EINVAL;
        p += 4;
        if (c >= 0xD800 && c < 0xDC00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
            int lo = agents_logrec_hex4(p + 2);
            if (lo >= 0xDC00 && lo < 0xE000) {
                c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
        }
        o = agents_logrec_utf8_put(o, c);
    }
    if (p >= end)
        return -EINVAL;
    *text = *buf;
    *tlen = (size_t)(o - *buf);
    return 0;
}
