/* The email notifier: one mail to one address through the [mail] relay (net/smtp_client.h),
 * sent on the worker thread that runs the attempt. Subject and body are templates over the
 * notification ({{severity}}, {{title}}, {{event.stream}} ...) with plain-text defaults; a
 * refused or unreachable relay is a failed attempt, retried by the outbox like any other. */
#include <errno.h>
#include <stdbool.h>
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
    "event:\n"
#define ALERTS_MAIL_LINE 900 /* longer body lines are broken (SMTP allows 998 bytes) */
#define ALERTS_MAIL_SOFT 800 /* past this, a line is broken at its next space */

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
        } else if ((col >= ALERTS_MAIL_LINE && (c & 0xc0) != 0x80) ||
                   (col >= ALERTS_MAIL_SOFT && c == ' ')) {
            out[o++] = '\n';
            col = 0;
            if (c == ' ')
                continue;
        }
        if (c != '\n')
            col++;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return out;
}

/* The default body: the summary above, then the event as indented JSON, cut at a line end when
 * it would not fit. */
static int alerts_mail_body_default(const alerts_delivery_t *d, char **out)
{
    char *head = NULL;
    int rc = alerts_template_render(ALERTS_MAIL_BODY, d->alert, false, SMTP_BODY_MAX / 4, &head);
    if (rc < 0)
        return rc;
    const json_t *ev = json_object_get(d->alert, "event");
    char *evs = ev ? json_dumps(ev, JSON_ENCODE_ANY | JSON_INDENT(2)) : strdup("null");
    if (!evs) {
        free(head);
        return -ENOMEM;
    }
    size_t hlen = strlen(head), elen = strlen(evs), room = SMTP_BODY_MAX / 2 - hlen - 128;
    static const char cut[] = "\n... (cut: the whole event is in ganglion alert history)";
    bool cutting = elen > room;
    if (cutting) {
        elen = room;
        while (elen > 0 && evs[elen - 1] != '\n')
            elen--;
    }
    char *body = malloc(hlen + elen + sizeof cut + 2);
    if (body)
        snprintf(body, hlen + elen + sizeof cut + 2, "%s%.*s%s\n", head, (int)elen, evs,
                 cutting ? cut : "");
    free(head);
    free(evs);
    *out = body;
    return body ? 0 : -ENOMEM;
}

static void alerts_mail_deliver(alerts_delivery_t *d)
{
    if (!d->mail || !d->mail->url[0]) {
        snprintf(d->error, sizeof d->error, "no mail relay: set [mail] smtp_url");
        return;
    }
    char *subject = NULL, *body = NULL, *wrapped = NULL;
    const char *stmpl = json_string_value(json_object_get(d->notifier, "subject"));
    int rc = alerts_template_render(stmpl ? stmpl : ALERTS_MAIL_SUBJECT, d->alert, false, 16384,
                                    &subject);
    const char *tmpl = json_string_value(json_object_get(d->notifier, "template"));
    if (rc == 0)
        rc = tmpl ? alerts_template_render(tmpl, d->alert, false, SMTP_BODY_MAX / 2, &body)
                  : alerts_mail_body_default(d, &body);
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
