/* Pure helpers of the HTTP transport (see http_parse.h): everything here works on strings only,
 * so the rules for request ids, encodings and origins are tested without a server. */
#include "net/http_parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/num.h"

bool http_request_id_valid(const char *s)
{
    if (!s || !*s)
        return false;
    size_t i = 0;
    for (; s[i]; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (i >= HTTP_REQUEST_ID_MAX)
            return false;
        if (!(isalnum(ch) || ch == '.' || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

/* True when a q parameter value is zero ("0", "0.", "0.000"): the coding is refused. */
static bool qvalue_zero(const char *v, size_t n)
{
    if (n == 0 || v[0] != '0')
        return false;
    for (size_t i = 1; i < n; i++)
        if (v[i] != '.' && v[i] != '0')
            return false;
    return true;
}

int http_credential(const char *authorization, const char *api_key, const char **cred,
                    const char **why)
{
    *cred = NULL;
    *why = NULL;
    if (authorization && *authorization) {
        if (strncasecmp(authorization, "Bearer ", 7) != 0) {
            *why = "the Authorization header must use the Bearer scheme";
            return -EINVAL;
        }
        const char *t = authorization + 7;
        while (*t == ' ')
            t++;
        *cred = *t ? t : NULL;
        return 0;
    }
    *cred = api_key && *api_key ? api_key : NULL;
    return 0;
}

static bool coding_is_gzip(const char *name, size_t nlen)
{
    return (nlen == 4 && strncasecmp(name, "gzip", 4) == 0) ||
           (nlen == 6 && strncasecmp(name, "x-gzip", 6) == 0) || (nlen == 1 && name[0] == '*');
}

/* zstd only when named: "*" is taken as gzip, the coding every client decodes. */
static bool coding_is_zstd(const char *name, size_t nlen)
{
    return nlen == 4 && strncasecmp(name, "zstd", 4) == 0;
}

/* True when the Accept-Encoding list has a coding `match` takes, without q=0. */
static bool http_accepts(const char *ae, bool (*match_fn)(const char *, size_t))
{
    if (!ae)
        return false;
    const char *p = ae;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *name = p;
        while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t')
            p++;
        size_t nlen = (size_t)(p - name);
        bool match = match_fn(name, nlen);
        bool refused = false;
        /* parameters up to the next comma; only q matters */
        while (*p && *p != ',') {
            if (*p == ';') {
                p++;
                while (*p == ' ' || *p == '\t')
                    p++;
                if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
                    const char *v = p + 2;
                    const char *e = v;
                    while (*e && *e != ',' && *e != ';' && *e != ' ' && *e != '\t')
                        e++;
                    refused = qvalue_zero(v, (size_t)(e - v));
                    p = e;
                    continue;
                }
            }
            if (*p && *p != ',')
                p++;
        }
        if (match && nlen > 0)
            return !refused;
    }
    return false;
}

bool http_accepts_gzip(const char *ae)
{
    return http_accepts(ae, coding_is_gzip);
}

bool http_accepts_zstd(const char *ae)
{
    return http_accepts(ae, coding_is_zstd);
}

size_t http_unescape_inplace(char *s, bool *bad)
{
    char *w = s;
    const char *r = s;
    while (*r) {
        if (*r != '%') {
            *w++ = *r++;
            continue;
        }
        int byte = num_hexbyte_parse(r + 1);
        if (byte < 0) {
            *bad = true;
            *w++ = *r++;
            continue;
        }
        char ch = (char)byte;
        if (ch == '\0')
            *bad = true;
        *w++ = ch;
        r += 3;
    }
    *w = '\0';
    return (size_t)(w - s);
}

int http_content_length_parse(const char *s, uint64_t *out)
{
    if (!s)
        return -1;
    while (*s == ' ' || *s == '\t')
        s++;
    if (!isdigit((unsigned char)*s))
        return -1;
    uint64_t v = 0;
    for (; isdigit((unsigned char)*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s)
        return -1;
    *out = v;
    return 0;
}

int http_cors_parse(http_cors_t *c, const char *list)
{
    memset(c, 0, sizeof *c);
    const char *p = list ? list : "";
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        size_t len = (size_t)(end - start);
        if (len == 0)
            continue;
        c->enabled = true;
        if (len == 1 && *start == '*') {
            c->any = true;
            continue;
        }
        if (c->n == HTTP_CORS_MAX) {
            http_cors_free(c);
            return -1;
        }
        char *o = strndup(start, len);
        if (!o) {
            http_cors_free(c);
            return -1;
        }
        c->origins[c->n++] = o;
    }
    return 0;
}

const char *http_cors_allow(const http_cors_t *c, const char *origin)
{
    if (!c->enabled || !origin || !*origin)
        return NULL;
    if (c->any)
        return "*";
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->origins[i], origin) == 0)
            return origin;
    return NULL;
}

void http_cors_free(http_cors_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->origins[i]);
    memset(c, 0, sizeof *c);
}

const char *http_csp_for_type(const char *content_type)
{
    const char *t = content_type;
    while (t && (*t == ' ' || *t == '\t'))
        t++;
    bool html = t && strncasecmp(t, "text/html", 9) == 0 &&
                (t[9] == '\0' || t[9] == ';' || t[9] == ' ' || t[9] == '\t');
    return html ? HTTP_CSP_HTML : HTTP_CSP_API;
}
