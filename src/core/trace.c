/* W3C traceparent parse and format, and the id generator behind new traces and spans. The
 * parse is strict because a malformed header must start a new trace rather than continue a
 * corrupted one (W3C Trace Context, "3.2.2 traceparent Header Field Values"). */
#include "core/trace.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

static uint64_t trace_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t trace_rng_next(trace_rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t out = trace_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = trace_rotl(s[3], 45);
    return out;
}

void trace_rng_seed(trace_rng_t *rng)
{
    do {
        randombytes_buf(rng->s, sizeof rng->s);
    } while ((rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]) == 0);
}

static void trace_fill(trace_rng_t *rng, uint8_t *out, unsigned n)
{
    for (;;) {
        uint8_t any = 0;
        for (unsigned i = 0; i < n; i += 8) {
            uint64_t v = trace_rng_next(rng);
            unsigned k = n - i < 8 ? n - i : 8;
            memcpy(out + i, &v, k);
        }
        for (unsigned i = 0; i < n; i++)
            any |= out[i];
        if (any) /* an all-zero id is invalid */
            return;
    }
}

void trace_span_id_new(trace_rng_t *rng, uint8_t out[TRACE_SPAN_LEN])
{
    trace_fill(rng, out, TRACE_SPAN_LEN);
}

void trace_ctx_new(trace_rng_t *rng, trace_ctx_t *out)
{
    trace_fill(rng, out->trace_id, TRACE_ID_LEN);
    trace_fill(rng, out->span_id, TRACE_SPAN_LEN);
    out->flags = 1;
}

static int trace_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* upper case is invalid in traceparent */
}

/* Reads 2n hex characters into n bytes; -1 on a non-hex character. */
static int trace_unhex(const char *s, uint8_t *out, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        int hi = trace_nibble(s[2 * i]), lo = trace_nibble(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static bool trace_zero(const uint8_t *b, unsigned n)
{
    uint8_t any = 0;
    for (unsigned i = 0; i < n; i++)
        any |= b[i];
    return any == 0;
}

int trace_parent_parse(const char *s, trace_ctx_t *out)
{
    if (!s)
        return -EINVAL;
    size_t len = strnlen(s, TRACE_PARENT_LEN + 1);
    uint8_t version;
    if (len < TRACE_PARENT_LEN || trace_unhex(s, &version, 1) < 0 || version == 0xff)
        return -EINVAL;
    if (version == 0 && len != TRACE_PARENT_LEN)
        return -EINVAL;
    if (version != 0 && len > TRACE_PARENT_LEN && s[TRACE_PARENT_LEN] != '-')
        return -EINVAL;
    if (s[2] != '-' || s[35] != '-' || s[52] != '-')
        return -EINVAL;
    trace_ctx_t c;
    if (trace_unhex(s + 3, c.trace_id, TRACE_ID_LEN) < 0 ||
        trace_unhex(s + 36, c.span_id, TRACE_SPAN_LEN) < 0 || trace_unhex(s + 53, &c.flags, 1) < 0)
        return -EINVAL;
    if (trace_zero(c.trace_id, TRACE_ID_LEN) || trace_zero(c.span_id, TRACE_SPAN_LEN))
        return -EINVAL;
    if (out)
        *out = c;
    return 0;
}

void trace_hex(const uint8_t *bytes, unsigned n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

void trace_parent_format(const trace_ctx_t *ctx, char out[TRACE_PARENT_LEN + 1])
{
    out[0] = '0';
    out[1] = '0';
    out[2] = '-';
    trace_hex(ctx->trace_id, TRACE_ID_LEN, out + 3);
    out[35] = '-';
    trace_hex(ctx->span_id, TRACE_SPAN_LEN, out + 36);
    out[52] = '-';
    trace_hex(&ctx->flags, 1, out + 53);
}
