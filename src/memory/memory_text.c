/* Words, BM25 and snippets for memory search. A word is a run of ASCII letters/digits or
 * non-ASCII bytes; ASCII is compared case-folded. This is what both stores' tokenisers (FTS5
 * unicode61, PostgreSQL's 'simple' configuration) agree on for ordinary text. */
#include "memory/memory_text.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"

#define MEMORY_SNIPPET_BEFORE 40
#define MEMORY_SNIPPET_AFTER  120

static int memory_word_byte(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

static char memory_fold(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* The next word at or after *p: its start and length; 0 at the end. */
static size_t memory_word_next(const char **p, const char **start)
{
    const char *s = *p;
    while (*s && !memory_word_byte((unsigned char)*s))
        s++;
    const char *e = s;
    while (*e && memory_word_byte((unsigned char)*e))
        e++;
    *start = s;
    *p = e;
    return (size_t)(e - s);
}

/* Which term the word is (-1 if none). */
static int memory_term_of(const memory_terms_t *t, const char *w, size_t len)
{
    for (size_t i = 0; i < t->n; i++) {
        const char *x = t->t[i];
        size_t k = 0;
        while (k < len && x[k] && x[k] == memory_fold(w[k]))
            k++;
        if (k == len && x[k] == '\0')
            return (int)i;
    }
    return -1;
}

size_t memory_text_terms(const char *query, memory_terms_t *out)
{
    out->n = 0;
    const char *p = query ? query : "", *w;
    size_t len;
    while ((len = memory_word_next(&p, &w)) > 0 && out->n < MEMORY_TERMS_MAX) {
        if (len >= MEMORY_TERM_LEN)
            len = MEMORY_TERM_LEN - 1;
        while (len > 0 && ((unsigned char)w[len] & 0xC0) == 0x80 && p != w + len)
            len--; /* do not cut a UTF-8 character */
        if (memory_term_of(out, w, len) >= 0)
            continue;
        char *d = out->t[out->n++];
        for (size_t i = 0; i < len; i++)
            d[i] = memory_fold(w[i]);
        d[len] = '\0';
    }
    return out->n;
}

int memory_text_fts5(const memory_terms_t *t, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < t->n; i++) {
        int w = snprintf(buf + o, len - o, "%s\"%s\"", i ? " OR " : "", t->t[i]);
        if (w < 0 || (size_t)w >= len - o)
            return -ENOSPC;
        o += (size_t)w;
    }
    return 0;
}

int memory_text_tsquery(const memory_terms_t *t, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < t->n; i++) {
        int w = snprintf(buf + o, len - o, "%s'%s'", i ? " | " : "", t->t[i]);
        if (w < 0 || (size_t)w >= len - o)
            return -ENOSPC;
        o += (size_t)w;
    }
    return 0;
}

void memory_text_rank(const memory_terms_t *t, const char *const *content, size_t n, double *score)
{
    size_t df[MEMORY_TERMS_MAX] = {0};
    double total_len = 0;
    /* two passes: document frequencies and lengths, then the scores */
    for (size_t d = 0; d < n; d++) {
        int seen[MEMORY_TERMS_MAX] = {0};
        const char *p = content[d], *w;
        size_t len, words = 0;
        while ((len = memory_word_next(&p, &w)) > 0) {
            words++;
            int k = memory_term_of(t, w, len);
            if (k >= 0 && !seen[k]) {
                seen[k] = 1;
                df[k]++;
            }
        }
        total_len += (double)words;
    }
    double avg = n ? total_len / (double)n : 1.0;
    if (avg <= 0)
        avg = 1.0;
    for (size_t d = 0; d < n; d++) {
        size_t tf[MEMORY_TERMS_MAX] = {0};
        const char *p = content[d], *w;
        size_t len, words = 0;
        while ((len = memory_word_next(&p, &w)) > 0) {
            words++;
            int k = memory_term_of(t, w, len);
            if (k >= 0)
                tf[k]++;
        }
        double s = 0;
        for (size_t k = 0; k < t->n; k++) {
            if (!tf[k])
                continue;
            double idf = log(1.0 + ((double)n - (double)df[k] + 0.5) / ((double)df[k] + 0.5));
            double f = (double)tf[k];
            s += idf * f * 2.2 / (f + 1.2 * (0.25 + 0.75 * (double)words / avg));
        }
        /* six decimals: the order must not hang on the last bit of a float */
        score[d] = round(s * 1e6) / 1e6;
    }
}

char *memory_text_snippet(const memory_terms_t *t, const char *content)
{
    const char *p = content, *w, *first = NULL;
    size_t len;
    while ((len = memory_word_next(&p, &w)) > 0)
        if (memory_term_of(t, w, len) >= 0) {
            first = w;
            break;
        }
    size_t clen = strlen(content);
    const char *from = content, *to = content + clen;
    if (first && (size_t)(first - content) > MEMORY_SNIPPET_BEFORE)
        from = first - MEMORY_SNIPPET_BEFORE;
    if ((size_t)(to - from) > MEMORY_SNIPPET_BEFORE + MEMORY_SNIPPET_AFTER)
        to = from + MEMORY_SNIPPET_BEFORE + MEMORY_SNIPPET_AFTER;
    /* cut at word boundaries, never inside a UTF-8 character */
    while (from > content && memory_word_byte((unsigned char)from[-1]) &&
           memory_word_byte((unsigned char)from[0]))
        from++;
    while (to < content + clen && to > from && memory_word_byte((unsigned char)to[-1]) &&
           memory_word_byte((unsigned char)to[0]))
        to--;
    strbuf_t sb;
    strbuf_init(&sb, 0);
    if (from > content)
        strbuf_append(&sb, "\xe2\x80\xa6", 3);
    p = from;
    const char *done = from;
    while (p < to && (len = memory_word_next(&p, &w)) > 0 && w < to) {
        if (w + len > to)
            break;
        if (memory_term_of(t, w, len) < 0)
            continue;
        strbuf_append(&sb, done, (size_t)(w - done));
        strbuf_append(&sb, "<b>", 3);
        strbuf_append(&sb, w, len);
        strbuf_append(&sb, "</b>", 4);
        done = w + len;
    }
    strbuf_append(&sb, done, (size_t)(to - done));
    if (to < content + clen)
        strbuf_append(&sb, "\xe2\x80\xa6", 3);
    return strbuf_steal(&sb, NULL);
}
