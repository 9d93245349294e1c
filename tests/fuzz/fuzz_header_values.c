/* Fuzzes two request header values that are read by hand rather than by the HTTP parser: the
 * Cookie header's refresh token (auth_cookie_get in src/auth/auth_cookie.c) and the W3C
 * traceparent header (trace_parent_parse in src/core/trace.c), both read before any
 * credential is checked. Checks: a cookie value found is a string within its buffer without
 * ';'; an accepted version-00 traceparent formats back to exactly the text given. Input: one
 * selector byte (the cookie buffer's size), then the Cookie header, "\n--\n", the traceparent. */
#include <assert.h>

#include "auth/auth_api_internal.h"
#include "core/trace.h"
#include "fuzz_util.h"

/* The refresh cookie's name (AUTH_COOKIE_REFRESH in src/auth/auth_cookie.c). */
#define FUZZ_COOKIE "ganglion_refresh"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    size_t outlen = fuzz_next_byte(&in) % 160 + 1;
    char *cookie = fuzz_next_field(&in, NULL);
    char *tp = fuzz_next_field(&in, NULL);

    char *out = malloc(outlen); /* exact size, so ASan sees one byte too many */
    assert(out);
    if (auth_cookie_get(cookie, FUZZ_COOKIE, out, outlen) == 0) {
        size_t n = strnlen(out, outlen);
        assert(n > 0 && n < outlen && !strchr(out, ';'));
        assert(strstr(cookie, out));
    }
    free(out);

    trace_ctx_t c;
    if (trace_parent_parse(tp, &c) == 0) {
        char back[TRACE_PARENT_LEN + 1];
        trace_parent_format(&c, back);
        if (tp[0] == '0' && tp[1] == '0')
            assert(strcmp(back, tp) == 0);
        trace_ctx_t again;
        assert(trace_parent_parse(back, &again) == 0 && !memcmp(&again, &c, sizeof c));
    }
    free(cookie);
    free(tp);
    return 0;
}
