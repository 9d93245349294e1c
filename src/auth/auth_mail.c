/* The mails of the account flows: a password-reset or e-mail verification token, written out
 * for a person and handed to the SMTP client, which sends it on the thread pool. A failed send
 * is logged (and counted in the audit log by the caller's action), never told to the asker:
 * whether an account exists must not show. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_api_internal.h"
#include "core/log.h"
#include "net/smtp_client.h"

bool auth_mail_on(const auth_t *a)
{
    return a->hub->cfg.mail_smtp_url[0] != '\0';
}

typedef struct auth_mail_note {
    char kind[8];
    char username[AUTH_NAME_MAX + 1];
} auth_mail_note_t;

static void auth_mail_done(int rc, const char *err, void *ud)
{
    auth_mail_note_t *n = ud;
    if (rc < 0)
        log_warn(NULL, "auth: mail not sent", "{s:s,s:s,s:s}", "kind", n->kind, "username",
                 n->username, "reason", err ? err : "");
    else
        log_info(NULL, "auth: mail sent", "{s:s,s:s}", "kind", n->kind, "username", n->username);
    free(n);
}

int auth_mail_token(auth_t *a, const char *kind, const char *to, const char *username,
                    const char *token, int64_t ttl_s)
{
    const config_t *cfg = &a->hub->cfg;
    if (!auth_mail_on(a))
        return -ENOTCONN;
    bool reset = strcmp(kind, "reset") == 0;
    char link[CONFIG_STR_MAX + 128] = "";
    if (cfg->auth_console_url[0])
        snprintf(link, sizeof link, "\nOr open this link:\n\n  %s/#/%s?token=%s\n",
                 cfg->auth_console_url, reset ? "reset" : "verify", token);
    char body[2048];
    long long mins = (long long)(ttl_s / 60);
    if (reset)
        snprintf(body, sizeof body,
                 "Hello %s,\n\n"
                 "someone asked to reset the password of your ganglion account. If it was\n"
                 "you, set a new password with this token (valid %lld minutes, once):\n\n"
                 "  %s\n"
                 "%s\n"
                 "If it was not you, ignore this message; your password stays as it is.\n",
                 username, mins, token, link);
    else
        snprintf(body, sizeof body,
                 "Hello %s,\n\n"
                 "please confirm that this address belongs to your ganglion account with\n"
                 "this token (valid %lld minutes, once):\n\n"
                 "  %s\n"
                 "%s\n"
                 "If you did not expect this message, ignore it.\n",
                 username, mins, token, link);
    smtp_conf_t sc;
    memset(&sc, 0, sizeof sc);
    snprintf(sc.url, sizeof sc.url, "%s", cfg->mail_smtp_url);
    snprintf(sc.from, sizeof sc.from, "%s", cfg->mail_from);
    snprintf(sc.helo, sizeof sc.helo, "%s", cfg->mail_helo);
    sc.timeout_ms = cfg->mail_timeout_s * 1000;
    smtp_msg_t m = {.to = to,
                    .subject = reset ? "ganglion: reset your password"
                                     : "ganglion: confirm your e-mail address",
                    .body = body};
    auth_mail_note_t *n = calloc(1, sizeof *n);
    if (!n)
        return -ENOMEM;
    snprintf(n->kind, sizeof n->kind, "%s", kind);
    snprintf(n->username, sizeof n->username, "%s", username);
    int rc = smtp_send_queue(a->hub->loop, &sc, &m, auth_mail_done, n);
    if (rc < 0) {
        log_warn(NULL, "auth: mail not queued", "{s:s,s:s,s:i}", "kind", kind, "username", username,
                 "errno", -rc);
        free(n);
    }
    sodium_memzero(body, sizeof body);
    sodium_memzero(&sc, sizeof sc);
    return rc;
}
