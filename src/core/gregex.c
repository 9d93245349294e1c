/* Client-chosen regular expressions on PCRE2 (8-bit, interpreter, no JIT) with every cost
 * bounded: the pattern's length, each match's steps, depth and heap, and a scan's CPU time.
 * A few POSIX ERE spellings PCRE2 reads differently are rewritten first, so that patterns the
 * former POSIX grep accepted keep their meaning. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "core/gregex.h"

#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct gregex {
    pcre2_code *code;
    gregex_limits_t lim;
};

struct gregex_scan {
    const gregex_t *re;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    uint64_t cpu_start, wall_start;
    uint64_t matches;
    int error;          /* once spent: -ERANGE or -ETIMEDOUT */
    const char *reason; /* static; set when spent */
};

/* The CPU clock is read once per this many matches, and after every long subject: reading it
 * costs about as much as matching a short line. */
#define GREGEX_CLOCK_EVERY 16
#define GREGEX_CLOCK_LONG  1024

void gregex_limits_default(gregex_limits_t *lim)
{
    lim->pattern_max = GREGEX_PATTERN_MAX;
    lim->match_limit = GREGEX_MATCH_LIMIT;
    lim->depth_limit = GREGEX_DEPTH_LIMIT;
    lim->heap_kib = GREGEX_HEAP_KIB;
    lim->budget_ns = GREGEX_BUDGET_NS;
    lim->deadline_ns = GREGEX_DEADLINE_NS;
    lim->jit = false;
}

/* ---- POSIX spellings --------------------------------------------------------------------- */

/* Appends n bytes at o (room checked by the caller: the output is at most 5x the input). */
static char *gregex_put(char *o, const char *s, size_t n)
{
    memcpy(o, s, n);
    return o + n;
}

/* Copies a bracket expression starting at p[i] == '[' and returns the index after it (len
 * when unterminated: PCRE2 then reports the error). Inside, POSIX classes [:name:] are kept,
 * the one-character equivalence classes and collating symbols [=x=] and [.x.] (all the C
 * locale has) become the character itself, and a backslash escapes the next byte, as in
 * PCRE2. */
static size_t gregex_bracket(const char *p, size_t len, size_t i, char **o)
{
    *(*o)++ = p[i++];
    if (i < len && p[i] == '^')
        *(*o)++ = p[i++];
    if (i < len && p[i] == ']')
        *(*o)++ = p[i++]; /* a leading ] is literal in both dialects */
    while (i < len && p[i] != ']') {
        char d = i + 1 < len ? p[i + 1] : 0;
        if (p[i] == '[' && (d == '=' || d == '.') && i + 4 < len && p[i + 3] == d &&
            p[i + 4] == ']') {
            static const char hex[] = "0123456789abcdef";
            unsigned char x = (unsigned char)p[i + 2];
            char esc[7] = {'\\', 'x', '{', hex[x >> 4], hex[x & 15], '}', 0};
            *o = gregex_put(*o, esc, 6);
            i += 5;
            continue;
        }
        size_t start = i;
        if (p[i] == '[' && d == ':') {
            size_t j = i + 2;
            while (j + 1 < len && !(p[j] == ':' && p[j + 1] == ']'))
                j++;
            i = j + 1 < len ? j + 2 : len;
        } else {
            i += (p[i] == '\\' && i + 1 < len) ? 2 : 1;
        }
        *o = gregex_put(*o, p + start, i - start);
    }
    if (i < len)
        *(*o)++ = p[i++];
    return i;
}

/* A quantifier directly after another applies to what the first one repeats in POSIX
 * ("a+?" is "(a+)?"), while PCRE2 reads a lazy or possessive quantifier. Only whether a line
 * matches is asked, so the pair is folded into the one quantifier with the same language:
 * '+' when both are '+', '?' when both are '?', '*' otherwise. */
static char gregex_quant_fold(char first, char second)
{
    return first == second && first != '*' ? first : '*';
}

/* Rewrites the GNU and POSIX spellings PCRE2 reads otherwise: \< and \> (word start and end),
 * \` and \' (start and end of subject), {,n} (at most n), stacked quantifiers (see
 * gregex_quant_fold) and, in brackets, [=x=] and [.x.] (the character x). \Q...\E is copied as
 * it is. out has room for 5 * len + 1 bytes; returns the output length. */
static size_t gregex_posix_rewrite(const char *p, size_t len, char *out)
{
    char *o = out;
    char *quant = NULL; /* the quantifier just written, if the last token was one */
    size_t i = 0;
    while (i < len) {
        char c = p[i];
        if (c == '*' || c == '+' || c == '?') {
            if (quant) {
                *quant = gregex_quant_fold(*quant, c);
            } else {
                quant = o;
                *o++ = c;
            }
            i++;
            continue;
        }
        quant = NULL;
        if (c == '[') {
            i = gregex_bracket(p, len, i, &o);
        } else if (c == '\\' && i + 1 < len) {
            char e = p[i + 1];
            i += 2;
            if (e == '<') {
                o = gregex_put(o, "\\b(?=\\w)", 8);
            } else if (e == '>') {
                o = gregex_put(o, "\\b(?<=\\w)", 9);
            } else if (e == '`') {
                o = gregex_put(o, "\\A", 2);
            } else if (e == '\'') {
                o = gregex_put(o, "\\z", 2);
            } else if (e == 'Q') {
                size_t j = i;
                while (j < len && !(p[j] == '\\' && j + 1 < len && p[j + 1] == 'E'))
                    j++;
                j = j < len ? j + 2 : len;
                o = gregex_put(o, p + i - 2, j - (i - 2));
                i = j;
            } else {
                *o++ = '\\';
                *o++ = e;
            }
        } else if (c == '(' && i + 1 < len && (p[i + 1] == '?' || p[i + 1] == '*')) {
            /* (?...) and (*VERB): PCRE2 syntax, not a quantifier after a group opening */
            o = gregex_put(o, p + i, 2);
            i += 2;
        } else if (c == '{' && i + 1 < len && p[i + 1] == ',' && i + 2 < len && p[i + 2] >= '0' &&
                   p[i + 2] <= '9') {
            o = gregex_put(o, "{0", 2);
            i++;
        } else {
            *o++ = c;
            i++;
        }
    }
    *o = '\0';
    return (size_t)(o - out);
}

/* ---- compile ----------------------------------------------------------------------------- */

static pcre2_code *gregex_pcre_compile(const char *pat, size_t len, uint32_t extra, int *ec,
                                       PCRE2_SIZE *eoff, pcre2_compile_context *cctx)
{
    /* POSIX regexec semantics on one subject: '.' matches a newline, '$' only at the end;
     * \C (a single byte inside a UTF character) is refused */
    uint32_t opts = PCRE2_DOTALL | PCRE2_DOLLAR_ENDONLY | PCRE2_NEVER_BACKSLASH_C | extra;
    return pcre2_compile((PCRE2_SPTR)pat, len, opts, ec, eoff, cctx);
}

int gregex_compile(const char *pattern, size_t len, const gregex_limits_t *lim, gregex_t **out,
                   char *err, size_t errlen)
{
    *out = NULL;
    if (errlen)
        err[0] = '\0';
    if (len > lim->pattern_max) {
        snprintf(err, errlen, "longer than %zu bytes", lim->pattern_max);
        return -E2BIG;
    }
    gregex_t *re = calloc(1, sizeof *re);
    char *text = malloc(5 * len + 1);
    pcre2_compile_context *cctx = pcre2_compile_context_create(NULL);
    if (!re || !text || !cctx) {
        free(re);
        free(text);
        pcre2_compile_context_free(cctx);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    re->lim = *lim;
    size_t n = gregex_posix_rewrite(pattern, len, text);
    int ec = 0;
    PCRE2_SIZE eoff = 0;
    re->code = gregex_pcre_compile(text, n, 0, &ec, &eoff, cctx);
    uint32_t all = 0;
    if (re->code && pcre2_pattern_info(re->code, PCRE2_INFO_ALLOPTIONS, &all) == 0 &&
        (all & PCRE2_UTF)) {
        /* (*UTF) asked for characters: invalid UTF-8 in a subject then simply does not
         * match, instead of failing the match */
        pcre2_code_free(re->code);
        re->code = gregex_pcre_compile(text, n, PCRE2_MATCH_INVALID_UTF, &ec, &eoff, cctx);
    }
    pcre2_compile_context_free(cctx);
    free(text);
    /* a pattern the JIT cannot take (or a platform without it) is matched by the interpreter:
     * pcre2_match picks whichever the code has */
    if (re->code && lim->jit)
        (void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);
    if (!re->code) {
        PCRE2_UCHAR msg[120];
        if (pcre2_get_error_message(ec, msg, sizeof msg) < 0)
            snprintf((char *)msg, sizeof msg, "error %d", ec);
        /* the offset is in the rewritten text; it equals the original's for every pattern
         * without the rewritten spellings */
        snprintf(err, errlen, "%s (near offset %zu)", (const char *)msg,
                 (size_t)(eoff < len ? eoff : len));
        free(re);
        return ec == PCRE2_ERROR_NOMEMORY ? -ENOMEM : -EINVAL;
    }
    *out = re;
    return 0;
}

void gregex_destroy(gregex_t **re)
{
    if (!re || !*re)
        return;
    pcre2_code_free((*re)->code);
    free(*re);
    *re = NULL;
}

/* ---- scan -------------------------------------------------------------------------------- */

static uint64_t gregex_clock_ns(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t gregex_cpu_ns(void)
{
    return gregex_clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

/* Marks the scan spent and returns err. */
static int gregex_scan_spend(gregex_scan_t *s, int err, const char *reason)
{
    s->error = err;
    s->reason = reason;
    return err;
}

int gregex_scan_new(const gregex_t *re, gregex_scan_t **out)
{
    *out = NULL;
    gregex_scan_t *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->re = re;
    /* one pair: only whether a line matches is asked */
    s->md = pcre2_match_data_create(1, NULL);
    s->mctx = pcre2_match_context_create(NULL);
    if (!s->md || !s->mctx) {
        gregex_scan_destroy(&s);
        return -ENOMEM;
    }
    pcre2_set_match_limit(s->mctx, re->lim.match_limit);
    pcre2_set_depth_limit(s->mctx, re->lim.depth_limit);
    pcre2_set_heap_limit(s->mctx, re->lim.heap_kib);
    s->cpu_start = gregex_cpu_ns();
    s->wall_start = gregex_clock_ns(CLOCK_MONOTONIC);
    *out = s;
    return 0;
}

int gregex_scan_rebind(gregex_scan_t *s, const gregex_t *re)
{
    s->re = re;
    pcre2_set_match_limit(s->mctx, re->lim.match_limit);
    pcre2_set_depth_limit(s->mctx, re->lim.depth_limit);
    pcre2_set_heap_limit(s->mctx, re->lim.heap_kib);
    /* a match's limits belonged to the previous pattern; the scan's budget goes on */
    if (s->error == -ERANGE && strcmp(s->reason, "CPU budget") != 0) {
        s->error = 0;
        s->reason = NULL;
    }
    return s->error;
}

void gregex_scan_destroy(gregex_scan_t **s)
{
    if (!s || !*s)
        return;
    pcre2_match_data_free((*s)->md);
    pcre2_match_context_free((*s)->mctx);
    free(*s);
    *s = NULL;
}

int gregex_scan_match(gregex_scan_t *s, const char *subject, size_t len)
{
    if (s->error)
        return s->error;
    int rc = pcre2_match(s->re->code, (PCRE2_SPTR)subject, len, 0, 0, s->md, s->mctx);
    s->matches++;
    if ((s->matches % GREGEX_CLOCK_EVERY) == 0 || len >= GREGEX_CLOCK_LONG) {
        /* the pattern's cost first: a busy machine must not hide an expensive pattern */
        if (gregex_cpu_ns() - s->cpu_start > s->re->lim.budget_ns)
            return gregex_scan_spend(s, -ERANGE, "CPU budget");
        if (s->re->lim.deadline_ns &&
            gregex_clock_ns(CLOCK_MONOTONIC) - s->wall_start > s->re->lim.deadline_ns)
            return gregex_scan_spend(s, -ETIMEDOUT, "deadline");
    }
    if (rc >= 0)
        return 1;
    switch (rc) {
    case PCRE2_ERROR_NOMATCH:
        return 0;
    case PCRE2_ERROR_MATCHLIMIT:
        return gregex_scan_spend(s, -ERANGE, "match limit");
    case PCRE2_ERROR_DEPTHLIMIT:
        return gregex_scan_spend(s, -ERANGE, "depth limit");
    case PCRE2_ERROR_HEAPLIMIT:
        return gregex_scan_spend(s, -ERANGE, "heap limit");
    case PCRE2_ERROR_JIT_STACKLIMIT: /* the JIT's stand-in for the depth limit */
        return gregex_scan_spend(s, -ERANGE, "depth limit");
    case PCRE2_ERROR_NOMEMORY:
        return -ENOMEM;
    default:
        /* invalid UTF in a non-tolerant mode cannot happen (see gregex_compile); anything
         * else the library reports is a subject that does not match */
        return 0;
    }
}

const char *gregex_scan_reason(const gregex_scan_t *s)
{
    return s->reason ? s->reason : "";
}

uint64_t gregex_scan_cpu_ns(const gregex_scan_t *s)
{
    return gregex_cpu_ns() - s->cpu_start;
}

uint64_t gregex_scan_matches(const gregex_scan_t *s)
{
    return s->matches;
}
