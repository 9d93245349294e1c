/* The long-lived SSE streams of `ganglion top` on one libcurl multi handle: slot 0 carries the
 * bus events (`GET /api/v1/stream`), slot 1 the selected agent's log (`GET …/logs`). Waiting
 * also watches the terminal and the signal pipe, so keys are answered at once while the streams
 * are quiet, on one thread. */
#include "cli/cli_top.h"

#include "build_info.h"
#include "client/curl_dl.h"
#include "core/num.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLI_TOP_SLOTS 2

typedef struct cli_top_stream {
    CURL *easy; /* NULL when closed */
    struct curl_slist *headers;
    cli_top_sse_t sse;
    bool alive;  /* a 2xx head arrived */
    bool failed; /* a non-2xx head: the body is a problem, not events */
    int status;
    char body[512]; /* the start of a refusal's body, for the message */
    size_t body_len;
    char curl_err[CURL_ERROR_SIZE];
} cli_top_stream_t;

struct cli_top_net {
    CURLM *multi;
    char *url;
    char *auth;
    char *cacert;
    bool insecure;
    cli_top_stream_t s[CLI_TOP_SLOTS];
};

cli_top_net_t *cli_top_net_new(const cli_ctx_t *ctx)
{
    char err[256];
    if (ctx->via != CLI_VIA_HTTP) {
        cli_error("top follows the daemon's event stream over HTTP; drop --via zmq");
        return NULL;
    }
    if (curl_dl_load(err, sizeof err) < 0) {
        cli_error("%s", err);
        return NULL;
    }
    cli_top_net_t *n = calloc(1, sizeof *n);
    if (!n || !(n->multi = lcurl->multi_init()) || !(n->url = strdup(ctx->url)))
        goto oom;
    size_t ul = strlen(n->url);
    while (ul && n->url[ul - 1] == '/')
        n->url[--ul] = '\0';
    if (ctx->token && *ctx->token) {
        size_t alen = strlen(ctx->token) + sizeof "Authorization: Bearer ";
        if (!(n->auth = malloc(alen)))
            goto oom;
        snprintf(n->auth, alen, "Authorization: Bearer %s", ctx->token);
    }
    if (ctx->cacert && *ctx->cacert && !(n->cacert = strdup(ctx->cacert)))
        goto oom;
    n->insecure = ctx->insecure;
    return n;
oom:
    cli_error("out of memory");
    cli_top_net_destroy(&n);
    return NULL;
}

void cli_top_net_close(cli_top_net_t *n, int slot)
{
    cli_top_stream_t *s = &n->s[slot];
    if (s->easy) {
        lcurl->multi_remove_handle(n->multi, s->easy);
        lcurl->easy_cleanup(s->easy);
    }
    if (s->headers)
        lcurl->slist_free_all(s->headers);
    char last[sizeof s->sse.last_id];
    memcpy(last, s->sse.last_id, sizeof last);
    cli_top_sse_free(&s->sse);
    memset(s, 0, sizeof *s);
    memcpy(s->sse.last_id, last, sizeof last); /* kept for the reconnect */
}

void cli_top_net_destroy(cli_top_net_t **pn)
{
    cli_top_net_t *n = pn ? *pn : NULL;
    if (!n)
        return;
    for (int i = 0; i < CLI_TOP_SLOTS; i++)
        if (n->multi)
            cli_top_net_close(n, i);
    if (n->multi)
        lcurl->multi_cleanup(n->multi);
    free(n->url);
    if (n->auth) {
        explicit_bzero(n->auth, strlen(n->auth));
        free(n->auth);
    }
    free(n->cacert);
    free(n);
    *pn = NULL;
}

static size_t cli_top_net_on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    cli_top_stream_t *s = ud;
    size_t n = size * nmemb;
    if (s->failed) {
        size_t room = sizeof s->body - 1 - s->body_len;
        size_t take = n < room ? n : room;
        memcpy(s->body + s->body_len, p, take);
        s->body_len += take;
        s->body[s->body_len] = '\0';
        return n;
    }
    return cli_top_sse_feed(&s->sse, p, n) == 0 ? n : 0;
}

static size_t cli_top_net_on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    cli_top_stream_t *s = ud;
    size_t n = size * nmemb;
    /* "HTTP/1.1 200 OK\r\n", not NUL-terminated: the code is the 3 digits after the first
     * space */
    const char *sp = n > 9 && strncmp(p, "HTTP/", 5) == 0 ? memchr(p, ' ', n) : NULL;
    int64_t st;
    if (sp && (size_t)(sp - p) + 4 <= n && num_i64_parsen(sp + 1, 3, 100, 999, &st) == 0) {
        s->status = (int)st;
        s->alive = st >= 200 && st < 300;
        s->failed = !s->alive;
    }
    return n;
}

int cli_top_net_open(cli_top_net_t *n, int slot, const char *path, const char *last_event_id,
                     cli_top_sse_fn fn, void *ud)
{
    cli_top_net_close(n, slot);
    cli_top_stream_t *s = &n->s[slot];
    char last[sizeof s->sse.last_id];
    memcpy(last, s->sse.last_id, sizeof last);
    cli_top_sse_init(&s->sse, fn, ud);
    memcpy(s->sse.last_id, last, sizeof last);
    size_t ulen = strlen(n->url) + strlen(path) + 1;
    char *full = malloc(ulen);
    if (!full || !(s->easy = lcurl->easy_init())) {
        free(full);
        return -ENOMEM;
    }
    snprintf(full, ulen, "%s%s", n->url, path);
    char lei[64];
    struct curl_slist *h = NULL, *t;
    const char *hdrs[] = {"Accept: text/event-stream", n->auth, NULL};
    for (size_t i = 0; i < 2; i++) {
        if (!hdrs[i])
            continue;
        if (!(t = lcurl->slist_append(h, hdrs[i])))
            goto oom;
        h = t;
    }
    if (last_event_id && *last_event_id) {
        snprintf(lei, sizeof lei, "Last-Event-ID: %.40s", last_event_id);
        if (!(t = lcurl->slist_append(h, lei)))
            goto oom;
        h = t;
    }
    s->headers = h;
    CURL *e = s->easy;
    lcurl->easy_setopt(e, CURLOPT_URL, full);
    lcurl->easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    lcurl->easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    lcurl->easy_setopt(e, CURLOPT_USERAGENT, "ganglion-top/" GANGLION_VERSION);
    lcurl->easy_setopt(e, CURLOPT_HTTPHEADER, h);
    lcurl->easy_setopt(e, CURLOPT_ERRORBUFFER, s->curl_err);
    lcurl->easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    /* a stream has no end; a silent one (no heartbeat for a minute) is dead */
    lcurl->easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    lcurl->easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 60L);
    lcurl->easy_setopt(e, CURLOPT_WRITEFUNCTION, cli_top_net_on_body);
    lcurl->easy_setopt(e, CURLOPT_WRITEDATA, s);
    lcurl->easy_setopt(e, CURLOPT_HEADERFUNCTION, cli_top_net_on_header);
    lcurl->easy_setopt(e, CURLOPT_HEADERDATA, s);
    if (n->cacert)
        lcurl->easy_setopt(e, CURLOPT_CAINFO, n->cacert);
    if (n->insecure) {
        lcurl->easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        lcurl->easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    free(full);
    if (lcurl->multi_add_handle(n->multi, e) != CURLM_OK) {
        cli_top_net_close(n, slot);
        return -EIO;
    }
    return 0;
oom:
    lcurl->slist_free_all(h);
    free(full);
    cli_top_net_close(n, slot);
    return -ENOMEM;
}

bool cli_top_net_alive(const cli_top_net_t *n, int slot)
{
    return n->s[slot].easy && n->s[slot].alive;
}

const char *cli_top_net_last_id(const cli_top_net_t *n, int slot)
{
    return n->s[slot].sse.last_id;
}

/* Why a finished stream ended, in words. */
static void cli_top_net_reason(cli_top_stream_t *s, CURLcode cc, char *err, size_t errlen)
{
    if (s->failed) {
        char body[sizeof s->body];
        cli_sanitize(s->body, body, sizeof body);
        json_t *p = json_loads(s->body, 0, NULL);
        const char *d = json_string_value(json_object_get(p, "detail"));
        char detail[256];
        cli_sanitize(d ? d : body, detail, sizeof detail);
        snprintf(err, errlen, "event stream refused: %d %s", s->status, detail);
        json_decref(p);
    } else if (cc != CURLE_OK) {
        snprintf(err, errlen, "event stream: %s",
                 s->curl_err[0] ? s->curl_err : lcurl->easy_strerror(cc));
    } else {
        snprintf(err, errlen, "event stream ended");
    }
}

int cli_top_net_wait(cli_top_net_t *n, const int *fds, bool *ready, size_t nfds, int timeout_ms,
                     bool ended[2], char *err, size_t errlen)
{
    struct curl_waitfd w[4];
    if (nfds > 4)
        nfds = 4;
    for (size_t i = 0; i < nfds; i++) {
        w[i] = (struct curl_waitfd){.fd = fds[i], .events = CURL_WAIT_POLLIN};
        ready[i] = false;
    }
    ended[0] = ended[1] = false;
    int running = 0;
    CURLMcode mc = lcurl->multi_poll(n->multi, w, (unsigned)nfds, timeout_ms, NULL);
    if (mc != CURLM_OK) {
        snprintf(err, errlen, "waiting for events failed: multi code %d", (int)mc);
        return -EIO;
    }
    for (size_t i = 0; i < nfds; i++)
        ready[i] = (w[i].revents & CURL_WAIT_POLLIN) != 0;
    lcurl->multi_perform(n->multi, &running);
    CURLMsg *msg;
    int left;
    while ((msg = lcurl->multi_info_read(n->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        for (int i = 0; i < CLI_TOP_SLOTS; i++) {
            if (n->s[i].easy != msg->easy_handle)
                continue;
            cli_top_net_reason(&n->s[i], msg->data.result, err, errlen);
            ended[i] = true;
            n->s[i].alive = false;
        }
    }
    return 0;
}
