/* The HTTP notifiers: webhook (the notification's JSON as it is), slack (a Slack-compatible
 * {"text": ...} body from a template) and chat (any JSON body from a template). Each request
 * is signed (X-Ganglion-Signature: sha256=<HMAC-SHA256 of the body>) when the notifier has a
 * secret, and runs on a worker thread through libcurl, loaded on first use like the client's
 * (src/client/curl_dl.c), bounded by the attempt's timeout. */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "alerts/alerts_notify.h"
#include "alerts/alerts_rule.h"
#include "core/dl.h"

/* The few libcurl functions a delivery needs (without the curl_ prefix, as in client/). */
#define ALERTS_CURL_FUNCS(X)                                                                       \
    X(global_init)                                                                                 \
    X(easy_init)                                                                                   \
    X(easy_cleanup)                                                                                \
    X(easy_setopt)                                                                                 \
    X(easy_getinfo)                                                                                \
    X(easy_perform)                                                                                \
    X(easy_strerror)                                                                               \
    X(slist_append)                                                                                \
    X(slist_free_all)

#define ALERTS_CURL_MEMBER(name) __typeof__(curl_##name) *name;
typedef struct alerts_curl {
    ALERTS_CURL_FUNCS(ALERTS_CURL_MEMBER)
} alerts_curl_t;
#undef ALERTS_CURL_MEMBER

#define ALERTS_CURL_NAME(name)   #name,
#define ALERTS_CURL_OFFSET(name) offsetof(alerts_curl_t, name),
static const char *const alerts_curl_names[] = {ALERTS_CURL_FUNCS(ALERTS_CURL_NAME)};
static const size_t alerts_curl_offsets[] = {ALERTS_CURL_FUNCS(ALERTS_CURL_OFFSET)};
#undef ALERTS_CURL_NAME
#undef ALERTS_CURL_OFFSET

static alerts_curl_t alerts_curl_table;

static int alerts_curl_ready(const void *table, char *err, size_t errlen)
{
    const alerts_curl_t *t = table;
    if (t->global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "cannot initialise libcurl");
        return -1;
    }
    return 0;
}

static dl_lib_t alerts_curl_lib =
    DL_LIB_INIT("libcurl.so.4", "HTTP notifiers", "libcurl4", "curl_", alerts_curl_names,
                alerts_curl_offsets, &alerts_curl_table, alerts_curl_ready);

/* ---- settings ---- */

static int alerts_http_check(const json_t *doc, char *field, size_t flen, char *why, size_t wlen)
{
    const char *url = json_string_value(json_object_get(doc, "url"));
    if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
        snprintf(field, flen, "url");
        snprintf(why, wlen, "an http:// or https:// URL is required");
        return -EINVAL;
    }
    return 0;
}

static int alerts_chat_check(const json_t *doc, char *field, size_t flen, char *why, size_t wlen)
{
    int rc = alerts_http_check(doc, field, flen, why, wlen);
    if (rc == 0 && !json_string_value(json_object_get(doc, "template"))) {
        snprintf(field, flen, "template");
        snprintf(why, wlen, "a chat notifier sends the rendered template: give one");
        return -EINVAL;
    }
    return rc;
}

/* ---- one request ---- */

/* Keeps the start of the response; the rest is read and dropped. */
static size_t alerts_http_write(char *p, size_t size, size_t n, void *ud)
{
    alerts_delivery_t *d = ud;
    size_t len = size * n;
    size_t room = sizeof d->output - 1 - d->output_len;
    size_t take = len < room ? len : room;
    memcpy(d->output + d->output_len, p, take);
    d->output_len += take;
    d->output[d->output_len] = '\0';
    return len;
}

static void alerts_http_post(alerts_delivery_t *d, const char *body, size_t len)
{
    char err[256];
    if (dl_lib_load(&alerts_curl_lib, err, sizeof err) < 0) {
        snprintf(d->error, sizeof d->error, "%s", err);
        return;
    }
    const alerts_curl_t *c = &alerts_curl_table;
    CURL *h = c->easy_init();
    if (!h) {
        snprintf(d->error, sizeof d->error, "cannot create an HTTP handle");
        return;
    }
    struct curl_slist *hdrs = NULL, *tmp;
    char line[512];
    const char *secret = json_string_value(json_object_get(d->notifier, "secret"));
    int ok = 1;
#define ALERTS_HDR(...)                                                                            \
    do {                                                                                           \
        snprintf(line, sizeof line, __VA_ARGS__);                                                  \
        tmp = c->slist_append(hdrs, line);                                                         \
        if (tmp)                                                                                   \
            hdrs = tmp;                                                                            \
        else                                                                                       \
            ok = 0;                                                                                \
    } while (0)
    ALERTS_HDR("Content-Type: application/json");
    ALERTS_HDR("User-Agent: ganglion-alerts");
    ALERTS_HDR("X-Ganglion-Timestamp: %" PRId64, (int64_t)time(NULL));
    ALERTS_HDR("X-Ganglion-Delivery: %s", d->id ? d->id : "");
    if (secret && *secret) {
        char sig[80];
        alerts_sign(secret, body, len, sig, sizeof sig);
        ALERTS_HDR("X-Ganglion-Signature: %s", sig);
    }
    ALERTS_HDR("Expect:"); /* no 100-continue round trip */
#undef ALERTS_HDR
    if (!ok) {
        c->slist_free_all(hdrs);
        c->easy_cleanup(h);
        snprintf(d->error, sizeof d->error, "out of memory");
        return;
    }
    long timeout = (long)d->timeout_ms;
    c->easy_setopt(h, CURLOPT_URL, json_string_value(json_object_get(d->notifier, "url")));
    c->easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    c->easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    c->easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
    c->easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout);
    c->easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    c->easy_setopt(h, CURLOPT_POST, 1L);
    c->easy_setopt(h, CURLOPT_POSTFIELDS, body);
    c->easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    c->easy_setopt(h, CURLOPT_WRITEFUNCTION, alerts_http_write);
    c->easy_setopt(h, CURLOPT_WRITEDATA, d);
    CURLcode rc = c->easy_perform(h);
    long status = 0;
    if (rc == CURLE_OK)
        c->easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    c->slist_free_all(hdrs);
    c->easy_cleanup(h);
    d->status = (int)status;
    if (rc != CURLE_OK)
        snprintf(d->error, sizeof d->error, "%s", c->easy_strerror(rc));
    else if (status < 200 || status > 299)
        snprintf(d->error, sizeof d->error, "the receiver answered %ld", status);
    else
        d->ok = true;
}

static void alerts_webhook_deliver(alerts_delivery_t *d)
{
    alerts_http_post(d, d->body, d->body_len);
}

#define ALERTS_SLACK_TEMPLATE "{\"text\":\"[{{severity}}] {{title}}\"}"

static void alerts_template_deliver(alerts_delivery_t *d)
{
    const char *tmpl = json_string_value(json_object_get(d->notifier, "template"));
    char *body = NULL;
    int rc = alerts_template_render(tmpl ? tmpl : ALERTS_SLACK_TEMPLATE, d->alert, true,
                                    ALERTS_BODY_MAX, &body);
    if (rc < 0) {
        snprintf(d->error, sizeof d->error, "%s",
                 rc == -E2BIG ? "the rendered template is over 64 KiB" : "out of memory");
        return;
    }
    alerts_http_post(d, body, strlen(body));
    free(body);
}

const alerts_notifier_kind_t alerts_notifier_webhook = {"webhook", alerts_http_check,
                                                        alerts_webhook_deliver};
const alerts_notifier_kind_t alerts_notifier_slack = {"slack", alerts_http_check,
                                                      alerts_template_deliver};
const alerts_notifier_kind_t alerts_notifier_chat = {"chat", alerts_chat_check,
                                                     alerts_template_deliver};
