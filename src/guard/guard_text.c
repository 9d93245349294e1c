/* Case folding, word boundaries and the Aho-Corasick automaton behind the guard's words and
 * phrases: every word of every rule in one trie, so that a text is scanned once whatever the
 * number of rules. The root has a full table; other states' edges live in one hash table. */
#include "guard/guard_text.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- UTF-8 and folding ------------------------------------------------------------------ */

/* Decodes one code point at s[0..n); returns its length (1..4) and *cp, or 0 when the bytes
 * there are not valid UTF-8 (then the caller takes one byte as it is). */
static size_t guard_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
    if (len == 0 || s[0] > 0xF4 || len > n)
        return 0;
    uint32_t c = s[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
        (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

/* The lower-case form of cp in the scripts we fold; cp itself elsewhere. Every mapping stays
 * within the two-byte range, so folding never changes a code point's encoded length. */
static uint32_t guard_fold_cp(uint32_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c + 32;
    if (c < 0xC0)
        return c;
    if (c <= 0xDE)
        return c == 0xD7 ? c : c + 32; /* Latin-1 capitals; U+00D7 is the multiplication sign */
    if (c >= 0x100 && c <= 0x17F) {    /* Latin Extended-A: capital, small pairs */
        if (c == 0x130 || c == 0x131 || c == 0x138 || c == 0x149 || c == 0x17F)
            return c; /* dotted/dotless i, kra, 'n: no simple pair */
        if (c == 0x178)
            return 0xFF;
        if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
            return (c & 1) ? c + 1 : c;
        return (c & 1) ? c : c + 1;
    }
    if (c >= 0x370 && c <= 0x3FF) { /* Greek */
        if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2)
            return c + 32;
        if (c == 0x386)
            return 0x3AC;
        if (c >= 0x388 && c <= 0x38A)
            return c + 37;
        if (c == 0x38C)
            return 0x3CC;
        if (c == 0x38E || c == 0x38F)
            return c + 63;
        if (c == 0x3C2)
            return 0x3C3; /* final sigma matches sigma */
        return c;
    }
    if (c >= 0x400 && c <= 0x40F) /* Cyrillic Ѐ..Џ */
        return c + 80;
    if (c >= 0x410 && c <= 0x42F) /* Cyrillic А..Я */
        return c + 32;
    return c;
}

static size_t guard_utf8_put2(uint32_t c, char *out)
{
    out[0] = (char)(0xC0 | (c >> 6));
    out[1] = (char)(0x80 | (c & 0x3F));
    return 2;
}

static bool guard_space(unsigned char b)
{
    return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f';
}

size_t guard_text_fold(const char *in, size_t len, char *out)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0;
    bool pending_space = false;
    for (size_t i = 0; i < len;) {
        if (guard_space(s[i])) {
            pending_space = o > 0;
            i++;
            continue;
        }
        if (pending_space) {
            out[o++] = ' ';
            pending_space = false;
        }
        /* ASCII, the common case, a byte at a time until the next space or non-ASCII byte:
         * no decoding, and the case fold is one compare */
        while (i < len && s[i] < 0x80 && !guard_space(s[i])) {
            unsigned char b = s[i++];
            out[o++] = (char)((unsigned)(b - 'A') < 26u ? b + 32 : b);
        }
        if (i == len || s[i] < 0x80)
            continue;
        uint32_t cp;
        size_t n = guard_utf8_decode(s + i, len - i, &cp);
        if (n == 0) {
            out[o++] = (char)s[i++];
            continue;
        }
        uint32_t f = guard_fold_cp(cp);
        if (f == cp) {
            memcpy(out + o, s + i, n);
            o += n;
        } else if (f < 0x80) {
            out[o++] = (char)f;
        } else {
            o += guard_utf8_put2(f, out + o);
        }
        i += n;
    }
    return o;
}

static bool guard_cp_word(uint32_t c)
{
    if (c < 0x80)
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_';
    if (c < 0xC0)
        return c == 0xAA || c == 0xB5 || c == 0xBA;
    if (c == 0xD7 || c == 0xF7)
        return false;
    if ((c >= 0x2000 && c <= 0x206F) || (c >= 0x2E00 && c <= 0x2E7F) ||
        (c >= 0x3000 && c <= 0x303F) || (c >= 0xFE30 && c <= 0xFE4F) ||
        (c >= 0xFF00 && c <= 0xFF0F))
        return false;
    return true;
}

bool guard_text_word_at(const char *text, size_t len, size_t pos)
{
    if (pos >= len)
        return false;
    uint32_t cp;
    size_t n = guard_utf8_decode((const unsigned char *)text + pos, len - pos, &cp);
    return n == 0 ? true : guard_cp_word(cp);
}

bool guard_text_word_before(const char *text, size_t pos)
{
    if (pos == 0)
        return false;
    size_t start = pos - 1;
    while (start > 0 && pos - start < 4 && ((unsigned char)text[start] & 0xC0) == 0x80)
        start--;
    uint32_t cp = 0; /* set whenever n is the whole span, the only case it is read */
    size_t n = guard_utf8_decode((const unsigned char *)text + start, pos - start, &cp);
    if (n != pos - start) /* not one whole code point: judge the last byte alone */
        return ((unsigned char)text[pos - 1] & 0x80) ? true : guard_cp_word(text[pos - 1]);
    return guard_cp_word(cp);
}

/* ---- the automaton ---------------------------------------------------------------------- */

typedef struct guard_ac_pat {
    char *text;
    uint32_t len;
    uint32_t tag;
    int32_t next; /* next pattern ending in the same state, or -1 */
    bool word_first, word_last;
} guard_ac_pat_t;

struct guard_ac {
    /* states: 0 is the root */
    uint32_t nstates, cap_states;
    int32_t *fail, *dict, *out, *first_child, *sibling;
    unsigned char *byte;
    uint32_t root[256]; /* the root's edges (0 = back to the root) */
    /* the first two bytes of every pattern (a bit per pair) and the one-byte patterns: from
     * the root, a position where no pattern can start is passed without leaving the root */
    uint64_t bigram[256 * 256 / 64];
    bool single[256];
    /* other edges: key (state << 8 | byte) + 1 -> state; open addressing */
    uint64_t *keys;
    uint32_t *vals;
    size_t ecap, nedges;
    guard_ac_pat_t *pats;
    size_t npats, cap_pats;
    size_t maxlen; /* the longest pattern: a state never stands for more bytes than this */
    bool built;
    /* The full transition table once built, over byte classes (the bytes patterns use, each
     * its own class; every other byte class 0, which always leads back to the root): one
     * lookup per byte of text. An entry holds the next state and, in its top bit, whether that
     * state reports matches. In 16 bits (delta16) when the states fit in 15, else 32 (delta):
     * the scan is bound by cache misses on the table, so half the bytes is fewer misses. Both
     * NULL when it would pass GUARD_AC_DFA_MAX bytes: then the hashed edges and failure links
     * serve. */
    uint32_t *delta;
    uint16_t *delta16;
    uint32_t *old_of; /* the table numbers states breadth-first (the shallow ones, visited
                       * most, share cache lines); the trie's number of each */
    uint8_t cls[256];
    unsigned nclasses;
};

#define GUARD_AC_DFA_MAX (64u << 20)
#define GUARD_AC_OUT     0x80000000u

static size_t guard_ac_slot(uint64_t key, size_t cap)
{
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 20) & (cap - 1);
}

static int32_t guard_ac_edge(const guard_ac_t *ac, uint32_t s, unsigned char b)
{
    if (s == 0)
        return ac->root[b] ? (int32_t)ac->root[b] : -1;
    if (ac->ecap == 0)
        return -1;
    uint64_t key = ((uint64_t)s << 8 | b) + 1;
    for (size_t i = guard_ac_slot(key, ac->ecap);; i = (i + 1) & (ac->ecap - 1)) {
        if (ac->keys[i] == key)
            return (int32_t)ac->vals[i];
        if (ac->keys[i] == 0)
            return -1;
    }
}

static int guard_ac_edges_grow(guard_ac_t *ac)
{
    size_t cap = ac->ecap ? ac->ecap * 2 : 1024;
    uint64_t *keys = calloc(cap, sizeof *keys);
    uint32_t *vals = calloc(cap, sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return -ENOMEM;
    }
    for (size_t i = 0; i < ac->ecap; i++) {
        if (!ac->keys[i])
            continue;
        size_t j = guard_ac_slot(ac->keys[i], cap);
        while (keys[j])
            j = (j + 1) & (cap - 1);
        keys[j] = ac->keys[i];
        vals[j] = ac->vals[i];
    }
    free(ac->keys);
    free(ac->vals);
    ac->keys = keys;
    ac->vals = vals;
    ac->ecap = cap;
    return 0;
}

static int guard_ac_states_grow(guard_ac_t *ac)
{
    uint32_t cap = ac->cap_states ? ac->cap_states * 2 : 256;
    int32_t **arrs[] = {&ac->fail, &ac->dict, &ac->out, &ac->first_child, &ac->sibling};
    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++) {
        int32_t *p = realloc(*arrs[i], cap * sizeof **arrs[i]);
        if (!p)
            return -ENOMEM;
        *arrs[i] = p;
    }
    unsigned char *b = realloc(ac->byte, cap);
    if (!b)
        return -ENOMEM;
    ac->byte = b;
    ac->cap_states = cap;
    return 0;
}

static int32_t guard_ac_state_new(guard_ac_t *ac, uint32_t parent, unsigned char b)
{
    if (ac->nstates == ac->cap_states && guard_ac_states_grow(ac) < 0)
        return -ENOMEM;
    uint32_t s = ac->nstates++;
    ac->fail[s] = 0;
    ac->dict[s] = -1;
    ac->out[s] = -1;
    ac->first_child[s] = -1;
    ac->byte[s] = b;
    if (s == 0) {
        ac->sibling[s] = -1;
        return 0;
    }
    ac->sibling[s] = ac->first_child[parent];
    ac->first_child[parent] = (int32_t)s;
    if (parent == 0) {
        ac->root[b] = s;
        return (int32_t)s;
    }
    if ((ac->nedges + 1) * 2 > ac->ecap && guard_ac_edges_grow(ac) < 0)
        return -ENOMEM;
    uint64_t key = ((uint64_t)parent << 8 | b) + 1;
    size_t i = guard_ac_slot(key, ac->ecap);
    while (ac->keys[i])
        i = (i + 1) & (ac->ecap - 1);
    ac->keys[i] = key;
    ac->vals[i] = s;
    ac->nedges++;
    return (int32_t)s;
}

guard_ac_t *guard_ac_new(void)
{
    guard_ac_t *ac = calloc(1, sizeof *ac);
    if (!ac || guard_ac_state_new(ac, 0, 0) < 0) {
        guard_ac_destroy(&ac);
        return NULL;
    }
    return ac;
}

void guard_ac_destroy(guard_ac_t **acp)
{
    guard_ac_t *ac = acp ? *acp : NULL;
    if (!ac)
        return;
    for (size_t i = 0; i < ac->npats; i++)
        free(ac->pats[i].text);
    free(ac->pats);
    free(ac->fail);
    free(ac->dict);
    free(ac->out);
    free(ac->first_child);
    free(ac->sibling);
    free(ac->byte);
    free(ac->keys);
    free(ac->vals);
    free(ac->delta);
    free(ac->delta16);
    free(ac->old_of);
    free(ac);
    *acp = NULL;
}

int guard_ac_add(guard_ac_t *ac, const char *pat, size_t len, uint32_t tag)
{
    if (len == 0 || len > UINT32_MAX || ac->built)
        return -EINVAL;
    if (ac->npats == ac->cap_pats) {
        size_t cap = ac->cap_pats ? ac->cap_pats * 2 : 64;
        guard_ac_pat_t *p = realloc(ac->pats, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        ac->pats = p;
        ac->cap_pats = cap;
    }
    char *copy = malloc(len);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, pat, len);
    uint32_t s = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)pat[i];
        int32_t n = guard_ac_edge(ac, s, b);
        if (n < 0)
            n = guard_ac_state_new(ac, s, b);
        if (n < 0) {
            free(copy);
            return -ENOMEM;
        }
        s = (uint32_t)n;
    }
    unsigned char b0 = (unsigned char)pat[0];
    if (len == 1) {
        ac->single[b0] = true;
    } else {
        unsigned pair = (unsigned)b0 << 8 | (unsigned char)pat[1];
        ac->bigram[pair >> 6] |= 1ull << (pair & 63);
    }
    if (len > ac->maxlen)
        ac->maxlen = len;
    guard_ac_pat_t *p = &ac->pats[ac->npats];
    p->text = copy;
    p->len = (uint32_t)len;
    p->tag = tag;
    p->next = ac->out[s];
    p->word_first = guard_text_word_at(pat, len, 0);
    p->word_last = guard_text_word_before(pat, len);
    ac->out[s] = (int32_t)ac->npats++;
    return 0;
}

/* Fills the full table in breadth-first order (a state's failure is shallower, so its row is
 * ready): an edge where the trie has one, else the failure's entry. Leaves delta NULL when the
 * table would be too large or memory is short. */
static void guard_ac_dfa_build(guard_ac_t *ac, const uint32_t *bfs, size_t nbfs)
{
    bool used[256] = {false};
    for (size_t i = 0; i < ac->npats; i++)
        for (size_t k = 0; k < ac->pats[i].len; k++)
            used[(unsigned char)ac->pats[i].text[k]] = true;
    unsigned k = 1;
    for (unsigned b = 0; b < 256; b++)
        ac->cls[b] = used[b] ? (uint8_t)k++ : 0;
    if (k > 255)
        return; /* every byte used: a class per byte would not fit uint8_t, keep the hash */
    ac->nclasses = k;
    if ((uint64_t)ac->nstates * k * sizeof(uint32_t) > GUARD_AC_DFA_MAX)
        return;
    uint32_t *d = calloc((size_t)ac->nstates * k, sizeof *d);
    uint32_t *new_of = malloc((size_t)ac->nstates * sizeof *new_of);
    uint32_t *old_of = malloc((size_t)ac->nstates * sizeof *old_of);
    if (!d || !new_of || !old_of) {
        free(d);
        free(new_of);
        free(old_of);
        return;
    }
    old_of[0] = 0;
    new_of[0] = 0;
    for (size_t q = 1; q <= nbfs; q++) {
        old_of[q] = bfs[q - 1];
        new_of[bfs[q - 1]] = (uint32_t)q;
    }
    unsigned char byte_of[256];
    for (unsigned b = 0; b < 256; b++)
        if (ac->cls[b])
            byte_of[ac->cls[b]] = (unsigned char)b;
    for (size_t q = 0; q <= nbfs; q++) {
        uint32_t u = old_of[q];
        for (unsigned c = 1; c < k; c++) {
            int32_t n = guard_ac_edge(ac, u, byte_of[c]);
            uint32_t v; /* in the table's numbering */
            if (n >= 0) {
                v = new_of[n];
                if (ac->out[n] >= 0 || ac->dict[n] >= 0)
                    v |= GUARD_AC_OUT;
            } else {
                v = u == 0 ? 0 : d[(size_t)new_of[ac->fail[u]] * k + c];
            }
            d[q * k + c] = v;
        }
    }
    free(new_of);
    ac->old_of = old_of;
    uint16_t *d16 = ac->nstates <= 0x7fff ? malloc((size_t)ac->nstates * k * sizeof *d16) : NULL;
    if (!d16) {
        ac->delta = d;
        return;
    }
    for (size_t i = 0; i < (size_t)ac->nstates * k; i++)
        d16[i] = (uint16_t)((d[i] & 0x7fffu) | (d[i] & GUARD_AC_OUT ? 0x8000u : 0));
    free(d);
    ac->delta16 = d16;
}

int guard_ac_build(guard_ac_t *ac)
{
    uint32_t *queue = malloc((size_t)ac->nstates * sizeof *queue);
    if (!queue)
        return -ENOMEM;
    size_t head = 0, tail = 0;
    for (int32_t c = ac->first_child[0]; c >= 0; c = ac->sibling[c]) {
        ac->fail[c] = 0;
        ac->dict[c] = -1;
        queue[tail++] = (uint32_t)c;
    }
    while (head < tail) {
        uint32_t u = queue[head++];
        for (int32_t v = ac->first_child[u]; v >= 0; v = ac->sibling[v]) {
            unsigned char b = ac->byte[v];
            uint32_t f = (uint32_t)ac->fail[u];
            int32_t n;
            while ((n = guard_ac_edge(ac, f, b)) < 0 && f != 0)
                f = (uint32_t)ac->fail[f];
            ac->fail[v] = n >= 0 && n != v ? n : 0;
            uint32_t fv = (uint32_t)ac->fail[v];
            ac->dict[v] = ac->out[fv] >= 0 ? (int32_t)fv : ac->dict[fv];
            queue[tail++] = (uint32_t)v;
        }
    }
    ac->built = true;
    guard_ac_dfa_build(ac, queue, tail);
    free(queue);
    return 0;
}

size_t guard_ac_patterns(const guard_ac_t *ac)
{
    return ac->npats;
}

size_t guard_ac_states(const guard_ac_t *ac)
{
    return ac->nstates;
}

const char *guard_ac_pattern(const guard_ac_t *ac, uint32_t i, size_t *len)
{
    if (i >= ac->npats)
        return NULL;
    *len = ac->pats[i].len;
    return ac->pats[i].text;
}

/* Reports the patterns ending in state s at text[end) that sit on word boundaries. */
static int guard_ac_report(const guard_ac_t *ac, int32_t s, const char *text, size_t len,
                           size_t end, guard_ac_hit_fn hit, void *ud, size_t *hits)
{
    for (int32_t p = ac->out[s]; p >= 0; p = ac->pats[p].next) {
        const guard_ac_pat_t *pt = &ac->pats[p];
        size_t start = end - pt->len;
        if (pt->word_first && guard_text_word_before(text, start))
            continue;
        if (pt->word_last && guard_text_word_at(text, len, end))
            continue;
        (*hits)++;
        if (hit(ud, pt->tag, (uint32_t)p))
            return 1;
    }
    return 0;
}

/* The table's next state from s on byte b, GUARD_AC_OUT set when it reports matches. */
static inline uint32_t guard_ac_next(const guard_ac_t *ac, uint32_t s, unsigned char b)
{
    size_t at = (size_t)s * ac->nclasses + ac->cls[b];
    if (ac->delta16) {
        uint32_t v = ac->delta16[at];
        return (v & 0x7fffu) | (v & 0x8000u ? GUARD_AC_OUT : 0);
    }
    return ac->delta[at];
}

/* Reports the patterns that end at text[end) in the table's state `row`. */
static int guard_ac_report_row(const guard_ac_t *ac, uint32_t row, const char *text, size_t len,
                               size_t end, guard_ac_hit_fn hit, void *ud, size_t *hits)
{
    int32_t t = (int32_t)ac->old_of[row];
    for (int32_t o = ac->out[t] >= 0 ? t : ac->dict[t]; o >= 0; o = ac->dict[o])
        if (guard_ac_report(ac, o, text, len, end, hit, ud, hits))
            return 1;
    return 0;
}

/* A text long enough is scanned as GUARD_AC_STREAMS segments walked in step, one byte of each
 * per round: each byte's table lookup depends on the previous one of its segment only, so the
 * core waits for several cache misses at once instead of one after another (a table of
 * thousands of rules does not stay in cache between evaluations). A segment's walk starts
 * maxlen - 1 bytes early, from the root: after that many bytes it is in the state a walk from
 * the start of the text would be in. Matches are reported in text order: segment 0's at once,
 * the others' kept (up to GUARD_AC_EVENTS each, the segment pausing when full) and reported
 * after the segments before them. */
#define GUARD_AC_STREAMS   4
#define GUARD_AC_SPLIT_MIN 256 /* bytes of text below which one walk is as fast */
#define GUARD_AC_EVENTS    16

typedef struct guard_ac_stream {
    size_t pos, from, end; /* walks text[pos..end); reports matches ending at from + 1 or later */
    uint32_t row;          /* the state, in the table's numbering */
    unsigned nev;          /* kept matches: the state and the end of each */
    bool paused;
    uint32_t ev_row[GUARD_AC_EVENTS];
    size_t ev_end[GUARD_AC_EVENTS];
} guard_ac_stream_t;

/* Reports a stream's kept matches, then walks the rest of it reporting as it goes. */
static int guard_ac_stream_finish(const guard_ac_t *ac, guard_ac_stream_t *st, const char *text,
                                  size_t len, guard_ac_hit_fn hit, void *ud, size_t *hits)
{
    for (unsigned e = 0; e < st->nev; e++)
        if (guard_ac_report_row(ac, st->ev_row[e], text, len, st->ev_end[e], hit, ud, hits))
            return 1;
    st->nev = 0;
    uint32_t row = st->row;
    for (size_t i = st->pos; i < st->end; i++) {
        uint32_t v = guard_ac_next(ac, row, (unsigned char)text[i]);
        row = v & ~GUARD_AC_OUT;
        if ((v & GUARD_AC_OUT) && i >= st->from &&
            guard_ac_report_row(ac, row, text, len, i + 1, hit, ud, hits))
            return 1;
    }
    return 0;
}

static size_t guard_ac_scan_table(const guard_ac_t *ac, const char *text, size_t len,
                                  guard_ac_hit_fn hit, void *ud)
{
    size_t hits = 0, overlap = ac->maxlen ? ac->maxlen - 1 : 0;
    guard_ac_stream_t st[GUARD_AC_STREAMS];
    if (len < GUARD_AC_SPLIT_MIN || overlap * GUARD_AC_STREAMS > len / 2) {
        st[0] = (guard_ac_stream_t){.pos = 0, .from = 0, .end = len};
        guard_ac_stream_finish(ac, &st[0], text, len, hit, ud, &hits);
        return hits;
    }
    size_t steps = len;
    for (size_t j = 0; j < GUARD_AC_STREAMS; j++) {
        size_t from = len * j / GUARD_AC_STREAMS, end = len * (j + 1) / GUARD_AC_STREAMS;
        st[j] = (guard_ac_stream_t){.pos = j ? from - overlap : 0, .from = from, .end = end};
        if (end - st[j].pos < steps)
            steps = end - st[j].pos;
    }
    for (size_t t = 0; t < steps; t++) {
        for (size_t j = 0; j < GUARD_AC_STREAMS; j++) {
            guard_ac_stream_t *x = &st[j];
            if (x->paused)
                continue;
            size_t i = x->pos++;
            uint32_t v = guard_ac_next(ac, x->row, (unsigned char)text[i]);
            x->row = v & ~GUARD_AC_OUT;
            if (!(v & GUARD_AC_OUT) || i < x->from)
                continue;
            if (j == 0) {
                if (guard_ac_report_row(ac, x->row, text, len, i + 1, hit, ud, &hits))
                    return hits;
                continue;
            }
            x->ev_row[x->nev] = x->row;
            x->ev_end[x->nev] = i + 1;
            x->paused = ++x->nev == GUARD_AC_EVENTS;
        }
    }
    for (size_t j = 0; j < GUARD_AC_STREAMS; j++)
        if (guard_ac_stream_finish(ac, &st[j], text, len, hit, ud, &hits))
            break;
    return hits;
}

size_t guard_ac_scan(const guard_ac_t *ac, const char *text, size_t len, guard_ac_hit_fn hit,
                     void *ud)
{
    if (ac->delta || ac->delta16)
        return guard_ac_scan_table(ac, text, len, hit, ud);
    size_t hits = 0;
    uint32_t s = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)text[i];
        if (s == 0 && !ac->single[b]) {
            unsigned pair = i + 1 < len ? (unsigned)b << 8 | (unsigned char)text[i + 1] : 0;
            if (i + 1 >= len || !(ac->bigram[pair >> 6] & (1ull << (pair & 63))))
                continue;
        }
        int32_t n = -1;
        while (s != 0 && (n = guard_ac_edge(ac, s, b)) < 0)
            s = (uint32_t)ac->fail[s];
        if (s == 0)
            n = (int32_t)ac->root[b];
        s = (uint32_t)n;
        if (s == 0)
            continue;
        for (int32_t o = ac->out[s] >= 0 ? (int32_t)s : ac->dict[s]; o >= 0; o = ac->dict[o])
            if (guard_ac_report(ac, o, text, len, i + 1, hit, ud, &hits))
                return hits;
    }
    return hits;
}
