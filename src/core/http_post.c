/* A blocking POST through libcurl, loaded on first use (src/core/dl.c) so a daemon that never
 * sends one never maps it. See http_post.h. */
#include "core/http_post.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "core/dl.h"

/* The few libcurl functions a POST needs (without the curl_ prefix, as in client/). */
#define HTTP_POST_CURL_FUNCS(X)                                                                    \
    X(global_init)                                                                                 \
    X(easy_init)                                                                                   \
    X(easy_cleanup)                                                                                \
    X(easy_setopt)                                                                                 \
    X(easy_getinfo)                                                                                \
    X(easy_perform)                                                                                \
    X(easy_strerror)                                                                               \
    X(slist_append)                                                                                \
    X(slist_free_all)

#define HTTP_POST_CURL_MEMBER(name) __typeof__(curl_##name) *name;
typedef struct http_post_curl {
    HTTP_POST_CURL_FUNCS(HTTP_POST_CURL_MEMBER)
} http_post_curl_t;
#undef HTTP_POST_CURL_MEMBER

#define HTTP_POST_CURL_NAME(name)   #name,
#define HTTP_POST_CURL_OFFSET(name) offsetof(http_post_curl_t, name),
static const char *const http_post_curl_names[] = {HTTP_POST_CURL_FUNCS(HTTP_POST_CURL_NAME)};
static const size_t http_post_curl_offsets[] = {HTTP_POST_CURL_FUNCS(HTTP_POST_CURL_OFFSET)};
#undef HTTP_POST_CURL_NAME
#undef HTTP_POST_CURL_OFFSET

static http_post_curl_t http_post_curl_table;

static int http_post_curl_ready(const void *table, char *err, size_t errlen)
{
    const http_post_curl_t *t = table;
    if (t->global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "cannot initialise libcurl");
        return -1;
    }
    return 0;
}

static dl_lib_t http_post_curl_lib = DL_LIB_INIT(
    "libcurl.so.4", "outgoing HTTP (alert notifiers, OTLP export)", "libcurl4", "curl_",
    http_post_curl_names, http_post_curl_offsets, &http_post_curl_table, http_post_curl_ready);

typedef struct http_post_sink {
    const http_post_t *p;
    http_post_result_t *r;
} http_post_sink_t;

/* Keeps the start of the response; the rest is read and dropped. */
static size_t http_post_write(char *data, size_t size, size_t n, void *ud)
{
    http_post_sink_t *s = ud;
    size_t len = size * n;
    if (s->p->reply && s->p->reply_cap > 0) {
        size_t room = s->p->reply_cap - 1 - s->r->reply_len;
        size_t take = len < room ? len : room;
        memcpy(s->p->reply + s->r->reply_len, data, take);
        s->r->reply_len += take;
        s->p->reply[s->r->reply_len] = '\0';
    }
    return len;
}

int http_post_send(const http_post_t *p, const char *who, http_post_result_t *r)
{
    memset(r, 0, sizeof *r);
    if (p->reply && p->reply_cap > 0)
        p->reply[0] = '\0';
    if (dl_lib_load(&http_post_curl_lib, r->error, sizeof r->error) < 0)
        return -1;
    const http_post_curl_t *c = &http_post_curl_table;
    CURL *h = c->easy_init();
    struct curl_slist *hdrs = NULL;
    bool ok = h != NULL;
    for (const char *const *line = p->headers; ok && line && *line; line++) {
        struct curl_slist *tmp = c->slist_append(hdrs, *line);
        if (tmp)
            hdrs = tmp;
        else
            ok = false;
    }
    if (!ok) {
        c->slist_free_all(hdrs);
        if (h)
            c->easy_cleanup(h);
        snprintf(r->error, sizeof r->error, "cannot create an HTTP request (out of memory)");
        return -1;
    }
    http_post_sink_t sink = {p, r};
    c->easy_setopt(h, CURLOPT_URL, p->url);
    c->easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    c->easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    c->easy_setopt(h, CURLOPT_TIMEOUT_MS, p->timeout_ms);
    c->easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, p->timeout_ms);
    c->easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    c->easy_setopt(h, CURLOPT_POST, 1L);
    c->easy_setopt(h, CURLOPT_POSTFIELDS, p->body);
    c->easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->len);
    c->easy_setopt(h, CURLOPT_WRITEFUNCTION, http_post_write);
    c->easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    CURLcode rc = c->easy_perform(h);
    long status = 0;
    if (rc == CURLE_OK)
        c->easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    c->slist_free_all(hdrs);
    c->easy_cleanup(h);
    r->status = (int)status;
    if (rc != CURLE_OK)
        snprintf(r->error, sizeof r->error, "%s", c->easy_strerror(rc));
    else if (status < 200 || status > 299)
        snprintf(r->error, sizeof r->error, "the %s answered %ld", who, status);
    else
        r->ok = true;
    return r->ok ? 0 : -1;
}
