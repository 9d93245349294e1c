/* The HTTP notifiers: webhook (the notification's JSON as it is), slack (a Slack-compatible
 * {"text": ...} body from a template) and chat (any JSON body from a template). Each request
 * is signed (X-Ganglion-Signature: sha256=<HMAC-SHA256 of the body>) when the notifier has a
 * secret, and runs on a worker thread through src/core/http_post.c, bounded by the attempt's
 * timeout. */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerts/alerts_notify.h"
#include "alerts/alerts_rule.h"
#include "core/http_post.h"

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

static void alerts_http_post(alerts_delivery_t *d, const char *body, size_t len)
{
    char sig[80] = "", stamp[48], delivery[128], signature[104];
    const char *secret = json_string_value(json_object_get(d->notifier, "secret"));
    snprintf(stamp, sizeof stamp, "X-Ganglion-Timestamp: %" PRId64, (int64_t)time(NULL));
    snprintf(delivery, sizeof delivery, "X-Ganglion-Delivery: %s", d->id ? d->id : "");
    const char *headers[7] = {"Content-Type: application/json", "User-Agent: ganglion-alerts",
                              stamp, delivery, "Expect:"}; /* no 100-continue round trip */
    if (secret && *secret) {
        alerts_sign(secret, body, len, sig, sizeof sig);
        snprintf(signature, sizeof signature, "X-Ganglion-Signature: %s", sig);
        headers[5] = signature;
    }
    http_post_t post = {
        .url = json_string_value(json_object_get(d->notifier, "url")),
        .body = body,
        .len = len,
        .headers = headers,
        .timeout_ms = (long)d->timeout_ms,
        .reply = d->output,
        .reply_cap = sizeof d->output,
    };
    http_post_result_t r;
    d->ok = http_post_send(&post, "receiver", &r) == 0;
    d->status = r.status;
    d->output_len = r.reply_len;
    if (!d->ok)
        snprintf(d->error, sizeof d->error, "%s", r.error);
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
