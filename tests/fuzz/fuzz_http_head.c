/* Fuzzes the request-head checks (src/net/http_head.c): the raw bytes of a request head as the
 * connection (http_conn.c) and the front door (http_door.c) check them from their read buffers,
 * and the framing verdict over header fields. Input: a selector byte (limits: bit 0 small ones,
 * bit 1 HTTP/1.0 for the framing verdict), then the bytes as a client sends them. Checks beyond
 * memory safety: a refusal carries a status, a slug and a detail; and the verdict does not
 * depend on how the bytes arrive: a prefix that is refused means the whole is refused, so a
 * client sending byte by byte meets the same rules as one sending at once. */
#include <assert.h>
#include <stdbool.h>

#include "fuzz_util.h"
#include "net/http_head.h"

static void fuzz_verdict_ok(int rc, const http_head_verdict_t *v)
{
    assert(rc == HTTP_HEAD_OK || rc == HTTP_HEAD_PARTIAL || rc == HTTP_HEAD_REFUSED);
    if (rc == HTTP_HEAD_REFUSED) {
        assert(v->status >= 400 && v->status < 600);
        assert(v->slug && *v->slug);
        assert(memchr(v->detail, '\0', sizeof v->detail));
    }
}

/* Checks buf[0..n) from an exact-size copy, so a read past n is caught. */
static int fuzz_check(const uint8_t *p, size_t n, const http_head_limits_t *lim)
{
    char *copy = malloc(n ? n : 1);
    if (!copy)
        abort();
    if (n)
        memcpy(copy, p, n);
    http_head_verdict_t v;
    memset(&v, 0, sizeof v);
    int rc = http_head_check(copy, n, lim, &v);
    fuzz_verdict_ok(rc, &v);
    free(copy);
    return rc;
}

/* The header fields of the input (lines "name: value" after the first), fed to the framing
 * checks one field at a time. */
static void fuzz_framing(const uint8_t *p, size_t n, bool http11, const http_head_limits_t *lim)
{
    http_framing_t f;
    http_framing_init(&f);
    const char *s = (const char *)p, *e = s + n;
    const char *line = memchr(s, '\n', n);
    while (line && line + 1 < e) {
        const char *start = line + 1;
        const char *end = memchr(start, '\n', (size_t)(e - start));
        if (!end)
            end = e;
        const char *colon = memchr(start, ':', (size_t)(end - start));
        if (colon) {
            const char *val = colon + 1;
            size_t vlen = (size_t)(end - val);
            while (vlen && (*val == ' ' || *val == '\t')) {
                val++;
                vlen--;
            }
            while (vlen && (val[vlen - 1] == '\r' || val[vlen - 1] == ' '))
                vlen--;
            http_framing_field(&f, start, (size_t)(colon - start), val, vlen);
        }
        line = end < e ? end : NULL;
    }
    http_head_verdict_t v;
    memset(&v, 0, sizeof v);
    int rc = http_framing_verdict(&f, http11, lim, &v);
    assert(rc == 0 || rc == -1);
    fuzz_verdict_ok(rc == 0 ? HTTP_HEAD_OK : HTTP_HEAD_REFUSED, &v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    unsigned sel = fuzz_next_byte(&in);
    http_head_limits_t lim = {.header_max = 8192, .uri_max = 2048, .body_max = 1048576};
    if (sel & 1)
        lim = (http_head_limits_t){.header_max = 64, .uri_max = 16, .body_max = 10};
    int whole = fuzz_check(in.p, in.n, &lim);
    /* every prefix up to 512 bytes, then a few */
    for (size_t k = 0; k < in.n; k += in.n <= 512 ? 1 : in.n / 8 + 1) {
        int part = fuzz_check(in.p, k, &lim);
        if (part == HTTP_HEAD_REFUSED)
            assert(whole == HTTP_HEAD_REFUSED);
        if (part == HTTP_HEAD_OK)
            assert(whole == HTTP_HEAD_OK); /* a complete head stays complete */
    }
    fuzz_framing(in.p, in.n, !(sel & 2), &lim);
    return 0;
}
