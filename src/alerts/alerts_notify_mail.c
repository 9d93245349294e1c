/* The email notifier: one mail to one address through the [mail] relay (net/smtp_client.h),
 * sent on the worker thread that runs the attempt. Subject and body are templates over the
 * notification ({{severity}}, {{title}}, {{event.stream}} ...) with plain-text defaults; a
 * refused or unreachable relay is a failed attempt, retried by the outbox like any other. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/alerts_notify.h"
#include "alerts/alerts_rule.h"
#include "net/smtp_client.h"

#define ALERTS_MAIL_SUBJECT "[ganglion] [{{severity}}] {{title}}"
#define ALERTS_MAIL_BODY                                                                           \
    "{{title}}\n\n"                                                                                \
    "severity: {{severity}}\n"                                                                     \
    "rule:     {{rule.name}} ({{rule.kind}})\n"                                                    \
    "group:    {{group_key}}\n"                                                                    \
    "topic:    {{topic}}\n"                                                                        \
    "fired at: {{fired_at}}\n"                                                                     \
    "alert:    {{alert_id}}\n\n"                                                                   \
    "event:\n{{event}}\n"
#define ALERTS_MAIL_LINE 900 /* longer body lines are broken (SMTP allows 998 bytes) */

static int alerts_mail_check(const json_t *doc, char *field, size_t flen, char *why, size_t wlen)
{
    const char *to = json_string_value(json_object_get(doc, "to"));
    if (!to || smtp_addr_check(to) < 0) {
        snprintf(field, flen, "to");
        snprintf(why, wlen, "an email notifier needs one plain address (local@domain) in to");
        return -EINVAL;
    }
    return 0;
}

/* The rendered subject on one line: control characters (a newline from an event's text) become
 * spaces, and it is cut at SMTP_SUBJECT_MAX bytes without splitting a UTF-8 sequence. */
static void alerts_mail_subject_clean(char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] < 0x20 || s[n] == 0x7f)
            s[n] = ' ';
    if (n > SMTP_SUBJECT_MAX) {
        n = SMTP_SUBJECT_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
        s[n] = '\0';
    }
}

/* body with every line over ALERTS_MAIL_LINE bytes broken (at a UTF-8 boundary), in a new
 * malloc'd string; NULL when out of memory. */
static char *alerts_mail_body_wrap(const char *body)
{
    size_t len = strlen(body);
    char *out = malloc(len + len / ALERTS_MAIL_LINE + 2);
    if (!out)
        return NULL;
    size_t o = 0, col = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)body[i];
        if (c == '\n') {
            col = 0;
        } else if (col >= ALERTS_MAIL_LINE && (c & 0xc0) != 0x80) {
            out[o++] = '\n';
            col = 0;
        }
        if (c != '\n')
            col++;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return out;
}

static int alerts_mail_render(const alerts_delivery_t *d, const char *key, const char *def,
                              size_t max, char **out)
{
    const char *tmpl = json_string_value(json_object_get(d->notifier, key));
    return alerts_template_render(tmpl ? tmpl : def, d->alert, false, max, out);
}

static void alerts_mail_deliver(alerts_delivery_t *d)
{
    if (!d->mail || !d->mail->url[0]) {
        snprintf(d->error, sizeof d->error, "no mail relay: set [mail] smtp_url");
        return;
    }
    char *subject = NULL, *body = NULL, *wrapped = NULL;
    int rc = alerts_mail_render(d, "subject", ALERTS_MAIL_SUBJECT, 4 * SMTP_SUBJECT_MAX, &subject);
    if (rc == 0)
        rc = alerts_mail_render(d, "template", ALERTS_MAIL_BODY, SMTP_BODY_MAX / 2, &body);
    if (rc == 0 && !(wrapped = alerts_mail_body_wrap(body)))
        rc = -ENOMEM;
    if (rc < 0) {
        snprintf(d->error, sizeof d->error, "%s",
                 rc == -E2BIG ? "the rendered subject or body is too long" : "out of memory");
    } else {
        alerts_mail_subject_clean(subject);
        smtp_conf_t conf = *d->mail;
        conf.timeout_ms = d->timeout_ms;
        smtp_msg_t m = {.to = json_string_value(json_object_get(d->notifier, "to")),
                        .subject = subject,
                        .body = wrapped};
        char err[256] = "";
        rc = smtp_send(&conf, &m, err, sizeof err);
        if (rc == 0)
            d->ok = true;
        else
            snprintf(d->error, sizeof d->error, "%s", err[0] ? err : strerror(-rc));
    }
    free(subject);
    free(body);
    free(wrapped);
}

const alerts_notifier_kind_t alerts_notifier_email = {"email", alerts_mail_check,
                                                      alerts_mail_deliver};
