/* Pure helpers of the HTTP transport: request-id checks, Accept-Encoding, percent-decoding,
 * CORS origin lists, the Content-Security-Policy per body type. Kept apart from http.c so they
 * can be unit-tested without a socket. Internal to src/net. */
#ifndef GANGLION_HTTP_PARSE_H
#define GANGLION_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_REQUEST_ID_MAX 128
#define HTTP_CORS_MAX       32

/* True when s is 1..HTTP_REQUEST_ID_MAX characters of [A-Za-z0-9._-]. */
bool http_request_id_valid(const char *s);

/* True when an Accept-Encoding value allows gzip (gzip, x-gzip or *, without q=0). */
bool http_accepts_gzip(const char *accept_encoding);
/* True when an Accept-Encoding value names zstd without q=0 ("*" does not count). */
bool http_accepts_zstd(const char *accept_encoding);

/* The credential of a request from its Authorization and X-Api-Key values (either may be NULL):
 * the Bearer token, else the API key, else NULL. Returns 0, or -EINVAL with *why set when an
 * Authorization header uses another scheme. *cred points into the inputs. */
int http_credential(const char *authorization, const char *api_key, const char **cred,
                    const char **why);

/* Decodes %HH sequences in place. Returns the new length; *bad is set when a '%' is not
 * followed by two hex digits or a sequence decodes to NUL (such input is refused with 400). */
size_t http_unescape_inplace(char *s, bool *bad);

/* Parses a Content-Length value: 0 and *out set, or -1 when it is not a plain decimal. */
int http_content_length_parse(const char *s, uint64_t *out);

/* Allowed CORS origins parsed once from the configured comma list. */
typedef struct http_cors {
    bool enabled;
    bool any; /* "*" was listed */
    size_t n;
    char *origins[HTTP_CORS_MAX];
} http_cors_t;

/* 0, or -1 when the list has more than HTTP_CORS_MAX entries or memory runs out. */
int http_cors_parse(http_cors_t *c, const char *list);
/* The Access-Control-Allow-Origin value for a request's Origin, or NULL if not allowed. */
const char *http_cors_allow(const http_cors_t *c, const char *origin);
void http_cors_free(http_cors_t *c);

/* Content-Security-Policy values. API replies are data, never a page: nothing may load or
 * frame them. HTML (the dashboard) may load only its own scripts, styles and images. */
#define HTTP_CSP_API "default-src 'none'; frame-ancestors 'none'"
#define HTTP_CSP_HTML                                                                              \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

/* The policy for a body of this Content-Type (NULL: no body): HTML's for text/html, else the
 * API's. */
const char *http_csp_for_type(const char *content_type);

#endif
