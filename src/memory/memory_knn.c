/* The vector index: vectors are stored normalised, row after row, so a query's cosine with every
 * vector is a dot product over contiguous memory that the compiler vectorises. Each row also has
 * a copy in 8-bit integers with the bound of its rounding error: a search first reads that copy
 * (a quarter of the bytes) and reads the floats only of rows whose score could still reach the
 * k-th best; and each row keeps the norms of its tails, so the float pass stops early too. */
#include "memory/memory_knn.h"

#include "core/htab.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

typedef struct memory_knn_meta {
    char id[MEMORY_ID_LEN];
    int64_t created_ms;
    uint64_t principal_hash, agent_hash;
} memory_knn_meta_t;

/* Where an id's row is: the table's items (one allocation each, so rows can move). */
typedef struct memory_knn_slot {
    char id[MEMORY_ID_LEN];
    size_t row;
} memory_knn_slot_t;

struct memory_knn {
    size_t dim, cut[2], n, cap; /* checkpoints at a quarter and a half of the row */
    /* The unit vectors split at cut[0]: every row's first quarter together (what each search
     * reads), the rest of the rows apart (read only for rows the bound does not drop). */
    float *head;  /* n rows of cut[0] floats */
    float *rest;  /* n rows of dim - cut[0] floats */
    float *tails; /* per row: norms of its elements [cut[0], dim) and [cut[1], dim) */
    /* The 8-bit copy: row r is about codes[r] * code_scale[r], and |row - that| is at most
     * code_err[r]. A quarter of the floats' bytes: what every search reads of every row. */
    int8_t *codes;
    float *code_scale, *code_err;
    memory_knn_meta_t *meta;
    memory_knn_slot_t **slots; /* slots[row] */
    htab_t *by_id;
};

static const void *memory_knn_slot_key(const void *item, size_t *len)
{
    const memory_knn_slot_t *s = item;
    *len = strlen(s->id);
    return s->id;
}

uint64_t memory_knn_hash(const char *s)
{
    if (!s || !*s)
        return 0;
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h ? h : 1;
}

memory_knn_t *memory_knn_new(size_t dim)
{
    if (dim == 0 || dim > 4096)
        return NULL;
    memory_knn_t *ix = calloc(1, sizeof *ix);
    if (!ix || htab_new(&ix->by_id, memory_knn_slot_key) < 0) {
        free(ix);
        return NULL;
    }
    ix->dim = dim;
    ix->cut[0] = dim / 4;
    ix->cut[1] = dim / 2;
    return ix;
}

void memory_knn_free(memory_knn_t *ix)
{
    if (!ix)
        return;
    for (size_t i = 0; i < ix->n; i++)
        free(ix->slots[i]);
    free(ix->slots);
    htab_destroy(&ix->by_id);
    free(ix->head);
    free(ix->rest);
    free(ix->tails);
    free(ix->codes);
    free(ix->code_scale);
    free(ix->code_err);
    free(ix->meta);
    free(ix);
}

size_t memory_knn_dim(const memory_knn_t *ix)
{
    return ix->dim;
}

size_t memory_knn_count(const memory_knn_t *ix)
{
    return ix->n;
}

static ptrdiff_t memory_knn_find(const memory_knn_t *ix, const char *id)
{
    const memory_knn_slot_t *s = htab_get_str(ix->by_id, id);
    return s ? (ptrdiff_t)s->row : -1;
}

#define MEMORY_KNN_LANES 16

static float memory_knn_dot(const float *restrict a, const float *restrict b, size_t n)
{
    /* independent running sums, one per lane: the loop over j is what the compiler turns into
     * vector instructions (no reassociation needed, so no -ffast-math) */
    float acc[MEMORY_KNN_LANES] = {0};
    size_t i = 0;
    for (; i + MEMORY_KNN_LANES <= n; i += MEMORY_KNN_LANES)
        for (size_t j = 0; j < MEMORY_KNN_LANES; j++)
            acc[j] += a[i + j] * b[i + j];
    float s = 0;
    for (; i < n; i++)
        s += a[i] * b[i];
    for (size_t j = 0; j < MEMORY_KNN_LANES; j++)
        s += acc[j];
    return s;
}

/* The dot product of a query in 16-bit integers and a row in 8-bit ones, exact in 32 bits for
 * the query's range (memory_knn_query_codes). SSE2 is part of x86-64, so this is what every
 * x86-64 build runs: 16 elements per step, widened and multiplied-added in pairs. */
static int32_t memory_knn_dot_codes(const int16_t *restrict q, const int8_t *restrict c, size_t n)
{
    size_t i = 0;
    int32_t s = 0;
#if defined(__SSE2__)
    __m128i acc0 = _mm_setzero_si128(), acc1 = _mm_setzero_si128();
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(c + i));
        /* each byte doubled into a 16-bit lane, shifted back down: sign-extended */
        __m128i lo = _mm_srai_epi16(_mm_unpacklo_epi8(v, v), 8);
        __m128i hi = _mm_srai_epi16(_mm_unpackhi_epi8(v, v), 8);
        acc0 = _mm_add_epi32(
            acc0, _mm_madd_epi16(lo, _mm_loadu_si128((const __m128i *)(const void *)(q + i))));
        acc1 = _mm_add_epi32(
            acc1, _mm_madd_epi16(hi, _mm_loadu_si128((const __m128i *)(const void *)(q + i + 8))));
    }
    int32_t lanes[4];
    _mm_storeu_si128((__m128i *)(void *)lanes, _mm_add_epi32(acc0, acc1));
    s = lanes[0] + lanes[1] + lanes[2] + lanes[3];
#endif
    for (; i < n; i++)
        s += (int32_t)q[i] * c[i];
    return s;
}

int memory_knn_put(memory_knn_t *ix, const char *id, const float *vec, int64_t created_ms,
                   uint64_t principal_hash, uint64_t agent_hash)
{
    if (!id || strlen(id) >= MEMORY_ID_LEN)
        return -EINVAL;
    double norm = 0;
    for (size_t i = 0; i < ix->dim; i++)
        norm += (double)vec[i] * vec[i];
    if (!(norm > 0) || !isfinite(norm))
        return -EINVAL;
    ptrdiff_t at = memory_knn_find(ix, id);
    if (at < 0) {
        if (ix->n == ix->cap) {
            size_t cap = ix->cap ? ix->cap * 2 : 64;
            size_t c0 = ix->cut[0];
            float *h = realloc(ix->head, cap * (c0 ? c0 : 1) * sizeof *h);
            if (!h)
                return -ENOMEM;
            ix->head = h;
            /* never a size of 0 (realloc may then free and return NULL) */
            float *r = realloc(ix->rest, cap * (ix->dim > c0 ? ix->dim - c0 : 1) * sizeof *r);
            if (!r)
                return -ENOMEM;
            ix->rest = r;
            float *t = realloc(ix->tails, cap * 2 * sizeof *t);
            if (!t)
                return -ENOMEM;
            ix->tails = t;
            int8_t *codes = realloc(ix->codes, cap * (ix->dim ? ix->dim : 1));
            if (!codes)
                return -ENOMEM;
            ix->codes = codes;
            float *cs = realloc(ix->code_scale, cap * sizeof *cs);
            if (!cs)
                return -ENOMEM;
            ix->code_scale = cs;
            float *ce = realloc(ix->code_err, cap * sizeof *ce);
            if (!ce)
                return -ENOMEM;
            ix->code_err = ce;
            memory_knn_meta_t *m = realloc(ix->meta, cap * sizeof *m);
            if (!m)
                return -ENOMEM;
            ix->meta = m;
            memory_knn_slot_t **sl = realloc(ix->slots, cap * sizeof *sl);
            if (!sl)
                return -ENOMEM;
            ix->slots = sl;
            ix->cap = cap;
        }
        memory_knn_slot_t *slot = calloc(1, sizeof *slot);
        if (!slot)
            return -ENOMEM;
        memcpy(slot->id, id, strlen(id));
        slot->row = ix->n;
        if (htab_put(ix->by_id, slot) < 0) {
            free(slot);
            return -ENOMEM;
        }
        ix->slots[ix->n] = slot;
        at = (ptrdiff_t)ix->n++;
    }
    size_t c0 = ix->cut[0], row = (size_t)at;
    float *head = ix->head + row * c0, *rest = ix->rest + row * (ix->dim - c0);
    float inv = (float)(1.0 / sqrt(norm));
    double tail[2] = {0, 0};
    int8_t *code = ix->codes + row * ix->dim;
    float top = 0;
    for (size_t i = 0; i < ix->dim; i++) {
        float x = vec[i] * inv;
        if (i < c0)
            head[i] = x;
        else
            rest[i - c0] = x;
        for (int c = 0; c < 2; c++)
            if (i >= ix->cut[c])
                tail[c] += (double)x * x;
        top = fabsf(x) > top ? fabsf(x) : top;
    }
    /* the 8-bit copy from the stored floats, so its error bound is about them */
    float sc = top / 127.0f;
    double e = 0;
    for (size_t i = 0; i < ix->dim; i++) {
        float x = i < c0 ? head[i] : rest[i - c0];
        long q = lrintf(x / sc);
        q = q > 127 ? 127 : q < -127 ? -127 : q;
        code[i] = (int8_t)q;
        double d = (double)x - (double)sc * (double)q;
        e += d * d;
    }
    ix->code_scale[row] = sc;
    ix->code_err[row] = (float)sqrt(e) * 1.001f + 1e-6f;
    memory_knn_meta_t *m = &ix->meta[at];
    memset(m->id, 0, sizeof m->id);
    memcpy(m->id, id, strlen(id));
    m->created_ms = created_ms;
    m->principal_hash = principal_hash;
    m->agent_hash = agent_hash;
    /* a little above: float rounding must never make the bound too tight */
    for (int c = 0; c < 2; c++)
        ix->tails[2 * row + c] = (float)sqrt(tail[c]) * 1.0001f + 1e-6f;
    return 0;
}

int memory_knn_remove(memory_knn_t *ix, const char *id)
{
    memory_knn_slot_t *gone = htab_del(ix->by_id, id, strlen(id));
    if (!gone)
        return -ENOENT;
    size_t at = gone->row, last = ix->n - 1;
    free(gone);
    if (at != last) {
        /* the last row fills the hole */
        size_t c0 = ix->cut[0], r = ix->dim - c0;
        memcpy(ix->head + at * c0, ix->head + last * c0, c0 * sizeof(float));
        memcpy(ix->rest + at * r, ix->rest + last * r, r * sizeof(float));
        memcpy(ix->tails + 2 * at, ix->tails + 2 * last, 2 * sizeof(float));
        memcpy(ix->codes + at * ix->dim, ix->codes + last * ix->dim, ix->dim);
        ix->code_scale[at] = ix->code_scale[last];
        ix->code_err[at] = ix->code_err[last];
        ix->meta[at] = ix->meta[last];
        ix->slots[at] = ix->slots[last];
        ix->slots[at]->row = at;
    }
    ix->n--;
    return 0;
}

/* ---- the bounded top-k: a min-heap on (score, then larger id is worse) ---- */

static int memory_hit_worse(const memory_knn_hit_t *a, const memory_knn_hit_t *b)
{
    if (a->score != b->score)
        return a->score < b->score;
    return strcmp(a->id, b->id) > 0;
}

static void memory_heap_sift_down(memory_knn_hit_t *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && memory_hit_worse(&h[l], &h[w]))
            w = l;
        if (r < n && memory_hit_worse(&h[r], &h[w]))
            w = r;
        if (w == i)
            return;
        memory_knn_hit_t t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

static void memory_heap_offer(memory_knn_hit_t *h, size_t *n, size_t k, float score, const char *id)
{
    memory_knn_hit_t c = {.score = score};
    memcpy(c.id, id, MEMORY_ID_LEN);
    if (*n < k) {
        size_t i = (*n)++;
        h[i] = c;
        while (i > 0) {
            size_t p = (i - 1) / 2;
            if (!memory_hit_worse(&h[i], &h[p]))
                break;
            memory_knn_hit_t t = h[i];
            h[i] = h[p];
            h[p] = t;
            i = p;
        }
    } else if (memory_hit_worse(&h[0], &c)) {
        h[0] = c;
        memory_heap_sift_down(h, *n, 0);
    }
}

static int memory_hit_cmp(const void *a, const void *b)
{
    const memory_knn_hit_t *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return strcmp(x->id, y->id);
}

static int memory_knn_keeps(const memory_knn_meta_t *m, const memory_knn_filter_t *f)
{
    if (!f)
        return 1;
    if (f->principal_hash && m->principal_hash != f->principal_hash)
        return 0;
    if (f->agent_hash && m->agent_hash != f->agent_hash)
        return 0;
    if (f->since_ms && m->created_ms < f->since_ms)
        return 0;
    if (f->until_ms && m->created_ms >= f->until_ms)
        return 0;
    return 1;
}

/* q normalised into qn (dim floats); the norms of its tails into qtail. -EINVAL for zero. */
static int memory_knn_query_prepare(const memory_knn_t *ix, const float *q, float *qn,
                                    float qtail[2])
{
    double norm = 0, tail[2] = {0, 0};
    for (size_t i = 0; i < ix->dim; i++)
        norm += (double)q[i] * q[i];
    if (!(norm > 0) || !isfinite(norm))
        return -EINVAL;
    float inv = (float)(1.0 / sqrt(norm));
    for (size_t i = 0; i < ix->dim; i++) {
        qn[i] = q[i] * inv;
        for (int c = 0; c < 2; c++)
            if (i >= ix->cut[c])
                tail[c] += (double)qn[i] * qn[i];
    }
    for (int c = 0; c < 2; c++)
        qtail[c] = (float)sqrt(tail[c]) * 1.0001f + 1e-6f;
    return 0;
}

/* The query's 16-bit copy for memory_knn_dot_codes: qn ~ code * *scale, |qn - that| <= *err.
 * Its range is kept where no sum of dim products with 8-bit codes can pass 32 bits. */
static void memory_knn_query_codes(const float *qn, size_t dim, int16_t *code, float *scale,
                                   float *err)
{
    long range = (long)(INT32_MAX / (127 * (long)dim));
    if (range > 32767)
        range = 32767;
    float top = 0;
    for (size_t i = 0; i < dim; i++)
        top = fabsf(qn[i]) > top ? fabsf(qn[i]) : top;
    float sc = top / (float)range;
    double e = 0;
    for (size_t i = 0; i < dim; i++) {
        long c = lrintf(qn[i] / sc);
        c = c > range ? range : c < -range ? -range : c;
        code[i] = (int16_t)c;
        double d = (double)qn[i] - (double)sc * (double)c;
        e += d * d;
    }
    *scale = sc;
    *err = (float)sqrt(e) * 1.001f + 1e-6f;
}

int memory_knn_search(const memory_knn_t *ix, const float *q, size_t k,
                      const memory_knn_filter_t *f, memory_knn_hit_t *out)
{
    if (k == 0)
        return 0;
    if (k > MEMORY_KNN_MAX_K)
        k = MEMORY_KNN_MAX_K;
    /* zeroed, though prepare writes all dim floats: the analyzer cannot see that the dot
     * products below read no further (cut[0] <= cut[1] <= dim, set by memory_knn_new) */
    float *qn = calloc(ix->dim, sizeof *qn);
    int16_t *qc = malloc(ix->dim * sizeof *qc);
    float qtail[2];
    if (!qn || !qc || memory_knn_query_prepare(ix, q, qn, qtail) < 0) {
        int rc = qn && qc ? -EINVAL : -ENOMEM;
        free(qn);
        free(qc);
        return rc;
    }
    float qscale, qerr;
    memory_knn_query_codes(qn, ix->dim, qc, &qscale, &qerr);
    size_t n = 0, dim = ix->dim, c0 = ix->cut[0], c1 = ix->cut[1];
    for (size_t r = 0; r < ix->n; r++) {
        if (!memory_knn_keeps(&ix->meta[r], f))
            continue;
        if (n == k) {
            /* q.v = q.v~ + q.(v - v~) with v~ the row's 8-bit copy (the query's own rounding
             * likewise): |q| = 1 and |v~| <= 1 + err, so the error is at most
             * err_v + err_q * (1 + err_v), plus float rounding of a score in [-1, 1] */
            float ev = ix->code_err[r];
            float approx = (float)memory_knn_dot_codes(qc, ix->codes + r * dim, dim) *
                           (qscale * ix->code_scale[r]);
            if (approx + ev + qerr * (1.0f + ev) + 1e-5f < out[0].score)
                continue;
        }
        const float *head = ix->head + r * c0, *rest = ix->rest + r * (dim - c0);
        const float *tail = ix->tails + 2 * r;
        /* at each checkpoint the rest can add at most |q_tail| * |row_tail| (Cauchy-Schwarz):
         * once that cannot reach the k-th best, the rest of the row is never read */
        float s = memory_knn_dot(qn, head, c0);
        if (n == k && s + qtail[0] * tail[0] < out[0].score)
            continue;
        s += memory_knn_dot(qn + c0, rest, c1 - c0);
        if (n == k && s + qtail[1] * tail[1] < out[0].score)
            continue;
        s += memory_knn_dot(qn + c1, rest + (c1 - c0), dim - c1);
        memory_heap_offer(out, &n, k, s, ix->meta[r].id);
    }
    free(qn);
    free(qc);
    qsort(out, n, sizeof out[0], memory_hit_cmp);
    return (int)n;
}

int memory_knn_search_naive(const memory_knn_t *ix, const float *q, size_t k,
                            const memory_knn_filter_t *f, memory_knn_hit_t *out)
{
    if (k == 0)
        return 0;
    if (k > MEMORY_KNN_MAX_K)
        k = MEMORY_KNN_MAX_K;
    double qq = 0;
    for (size_t i = 0; i < ix->dim; i++)
        qq += (double)q[i] * q[i];
    if (!(qq > 0))
        return -EINVAL;
    size_t n = 0;
    for (size_t r = 0; r < ix->n; r++) {
        if (!memory_knn_keeps(&ix->meta[r], f))
            continue;
        size_t c0 = ix->cut[0];
        const float *head = ix->head + r * c0, *rest = ix->rest + r * (ix->dim - c0);
        double dot = 0, vv = 0;
        for (size_t i = 0; i < ix->dim; i++) {
            float x = i < c0 ? head[i] : rest[i - c0];
            dot += (double)q[i] * x;
            vv += (double)x * x;
        }
        memory_heap_offer(out, &n, k, (float)(dot / sqrt(qq * vv)), ix->meta[r].id);
    }
    qsort(out, n, sizeof out[0], memory_hit_cmp);
    return (int)n;
}
