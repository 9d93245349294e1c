/* Fuzzes the HTTP transport's own request helpers (src/net/http_parse.c): X-Request-Id,
 * Accept-Encoding, percent-decoding, Content-Length, the CORS origin list and an Origin against
 * it, the CSP per Content-Type: the header values read once a head is parsed (the head itself
 * is fuzz_http_head's). Input: fields separated by "\n--\n" in that order. Beyond memory safety
 * it checks what callers rely on: decoding never grows, an accepted length is plain decimal,
 * an allowed origin is one that was listed. */
#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>

#include "fuzz_util.h"
#include "net/http_parse.h"

static void fuzz_request_id(const char *s)
{
    bool ok = http_request_id_valid(s);
    size_t n = strlen(s);
    bool want = n >= 1 && n <= HTTP_REQUEST_ID_MAX;
    for (size_t i = 0; i < n && want; i++)
        want = isalnum((unsigned char)s[i]) || s[i] == '.' || s[i] == '_' || s[i] == '-';
    assert(ok == want);
}

static void fuzz_unescape(char *s, size_t len)
{
    bool bad = false;
    size_t n0 = strlen(s);
    size_t n = http_unescape_inplace(s, &bad);
    assert(n <= n0 && n0 <= len);
    if (!bad)
        assert(strlen(s) == n); /* no NUL was decoded into the middle */
}

static void fuzz_content_length(const char *s)
{
    uint64_t v = 0;
    if (http_content_length_parse(s, &v) != 0)
        return;
    /* accepted: optional blanks, digits, optional blanks — and the digits are the value */
    while (*s == ' ' || *s == '\t')
        s++;
    char want[24];
    snprintf(want, sizeof want, "%" PRIu64, v);
    while (*s == '0' && isdigit((unsigned char)s[1]))
        s++;
    size_t d = strlen(want);
    assert(strncmp(s, want, d) == 0 && !isdigit((unsigned char)s[d]));
    for (s += d; *s; s++)
        assert(*s == ' ' || *s == '\t');
}

static void fuzz_cors(const char *list, const char *origin)
{
    http_cors_t c;
    if (http_cors_parse(&c, list) != 0)
        return;
    assert(c.n <= HTTP_CORS_MAX);
    const char *allow = http_cors_allow(&c, origin);
    if (allow && strcmp(allow, "*") != 0) {
        bool listed = false;
        for (size_t i = 0; i < c.n; i++)
            listed = listed || strcmp(c.origins[i], origin) == 0;
        assert(listed && *origin);
    }
    http_cors_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    size_t len;
    char *rid = fuzz_next_field(&in, NULL);
    char *ae = fuzz_next_field(&in, NULL);
    char *esc = fuzz_next_field(&in, &len);
    char *cl = fuzz_next_field(&in, NULL);
    char *cors = fuzz_next_field(&in, NULL);
    char *origin = fuzz_next_field(&in, NULL);
    char *ct = fuzz_next_field(&in, NULL);

    fuzz_request_id(rid);
    (void)http_accepts_gzip(ae);
    fuzz_unescape(esc, len);
    fuzz_content_length(cl);
    fuzz_cors(cors, origin);
    const char *csp = http_csp_for_type(ct);
    assert(strcmp(csp, HTTP_CSP_API) == 0 || strcmp(csp, HTTP_CSP_HTML) == 0);

    free(rid);
    free(ae);
    free(esc);
    free(cl);
    free(cors);
    free(origin);
    free(ct);
    return 0;
}
