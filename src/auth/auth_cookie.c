/* The refresh token as a cookie, for a browser console that keeps its access token in memory
 * only: the refresh token travels HttpOnly, SameSite=Strict, on /api/v1/auth alone (Secure over
 * TLS), and is honoured only with an X-CSRF-Token header equal to a keyed hash of it — the
 * value of the readable ganglion_csrf cookie and of csrf_token in the token reply. A page of
 * another origin can make the browser send the cookie but can neither read nor compute it. */

#include <stdio.h>
#include <string.h>

#include "auth/auth_api_internal.h"

#define AUTH_COOKIE_REFRESH "ganglion_refresh"
#define AUTH_COOKIE_CSRF    "ganglion_csrf"

void auth_cookie_csrf(const auth_t *a, const char *refresh, char out[AUTH_CSRF_LEN + 1])
{
    char in[160];
    unsigned char h[AUTH_HASH_BYTES];
    snprintf(in, sizeof in, "csrf:%s", refresh);
    auth_secret_hash(a, in, h);
    auth_hex(h, sizeof h, out);
    sodium_memzero(in, sizeof in);
}

static bool auth_cookie_secure(const auth_t *a)
{
    return a->hub->cfg.tls_cert_file[0] && a->hub->cfg.tls_key_file[0];
}

void auth_cookie_set(api_req_t *req, const auth_t *a, const char *refresh, int64_t max_age_s,
                     char csrf[AUTH_CSRF_LEN + 1])
{
    char v[384];
    const char *sec = auth_cookie_secure(a) ? "; Secure" : "";
    auth_cookie_csrf(a, refresh, csrf);
    snprintf(v, sizeof v,
             AUTH_COOKIE_REFRESH "=%s; Path=/api/v1/auth; Max-Age=%lld; HttpOnly; "
                                 "SameSite=Strict%s",
             refresh, (long long)max_age_s, sec);
    api_reply_header(req, "Set-Cookie", v);
    snprintf(v, sizeof v, AUTH_COOKIE_CSRF "=%s; Path=/; Max-Age=%lld; SameSite=Strict%s", csrf,
             (long long)max_age_s, sec);
    api_reply_header(req, "Set-Cookie", v);
    sodium_memzero(v, sizeof v);
}

void auth_cookie_clear(api_req_t *req, const auth_t *a)
{
    char v[160];
    const char *sec = auth_cookie_secure(a) ? "; Secure" : "";
    snprintf(v, sizeof v,
             AUTH_COOKIE_REFRESH "=; Path=/api/v1/auth; Max-Age=0; HttpOnly; SameSite=Strict%s",
             sec);
    api_reply_header(req, "Set-Cookie", v);
    snprintf(v, sizeof v, AUTH_COOKIE_CSRF "=; Path=/; Max-Age=0; SameSite=Strict%s", sec);
    api_reply_header(req, "Set-Cookie", v);
}

int auth_cookie_get(const char *header, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    for (const char *p = header; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        size_t len = strcspn(p, ";");
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t vl = len - nl - 1;
            if (vl == 0 || vl >= outlen)
                return -1;
            memcpy(out, p + nl + 1, vl);
            out[vl] = '\0';
            return 0;
        }
        p += len;
    }
    return -1;
}

int auth_cookie_refresh(api_req_t *req, const auth_t *a, char *token, size_t len, const char **why)
{
    const char *cookies = api_req_header(req, "Cookie");
    if (!cookies || auth_cookie_get(cookies, AUTH_COOKIE_REFRESH, token, len) < 0) {
        *why = "no refresh_token in the body and no " AUTH_COOKIE_REFRESH " cookie";
        return -1;
    }
    const char *sent = api_req_header(req, "X-CSRF-Token");
    if (!sent || !*sent) {
        *why = "the refresh cookie needs an X-CSRF-Token header (the csrf_token of the token "
               "reply, also in the " AUTH_COOKIE_CSRF " cookie)";
        return -2;
    }
    char want[AUTH_CSRF_LEN + 1];
    auth_cookie_csrf(a, token, want);
    if (strlen(sent) != AUTH_CSRF_LEN || sodium_memcmp(sent, want, AUTH_CSRF_LEN) != 0) {
        *why = "the X-CSRF-Token header does not belong to the refresh cookie";
        return -2;
    }
    return 0;
}
