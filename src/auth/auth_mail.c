/* The mails of the account flows: a password-reset or e-mail verification token, written out
 * for a person and put in the durable outbox in the transaction that issued the token (the
 * outbox sends it off the loop and retries). A failed send is logged, never told to the asker:
 * whether an account exists must not show. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_api_internal.h"
#include "core/log.h"
#include "net/mail_outbox.h"
#include "net/smtp_client.h"

bool auth_mail_on(const auth_t *a)
{
    return a->hub->cfg.mail_smtp_url[0] != '\0';
}

void auth_mail_conf(void *ud, smtp_conf_t *out)
{
    const config_t *cfg = &((auth_t *)ud)->hub->cfg;
    snprintf(out->url, sizeof out->url, "%s", cfg->mail_smtp_url);
    snprintf(out->from, sizeof out->from, "%s", cfg->mail_from);
    snprintf(out->helo, sizeof out->helo, "%s", cfg->mail_helo);
    out->timeout_ms = cfg->mail_timeout_s * 1000;
    snprintf(out->ca_file, sizeof out->ca_file, "%s", cfg->mail_ca_file);
}

int auth_mail_enqueue(store_conn_t *c, auth_job_t *j, const char *kind, const char *to,
                      const char *username, const char *token, int64_t ttl_s)
{
    bool reset = strcmp(kind, "reset") == 0;
    char link[CONFIG_STR_MAX + 128] = "";
    if (j->link)
        snprintf(link, sizeof link, "\nOr open this link:\n\n  %s/#/%s?token=%s\n", j->link,
                 reset ? "reset" : "verify", token);
    char body[2048];
    long long mins = (long long)(ttl_s / 60);
    if (reset)
        snprintf(body, sizeof body,
                 "Hello %s,\n\n"
                 "someone asked to reset the password of your ganglion account. If it was\n"
                 "you, set a new password with this token (valid %lld minutes, once):\n\n"
                 "  %s\n\n"
                 "for instance with\n\n"
                 "  ganglion user reset-password %s\n"
                 "%s\n"
                 "If it was not you, ignore this message; your password stays as it is.\n",
                 username, mins, token, token, link);
    else
        snprintf(body, sizeof body,
                 "Hello %s,\n\n"
                 "please confirm that this address belongs to your ganglion account with\n"
                 "this token (valid %lld minutes, once):\n\n"
                 "  %s\n\n"
                 "for instance with\n\n"
                 "  ganglion user verify-email %s\n"
                 "%s\n"
                 "If you did not expect this message, ignore it.\n",
                 username, mins, token, token, link);
    smtp_msg_t m = {.to = to,
                    .subject = reset ? "ganglion: reset your password"
                                     : "ganglion: confirm your e-mail address",
                    .body = body};
    int rc = mail_outbox_add(c, "auth", j->a->outbox_key, &m, j->now_ms);
    sodium_memzero(body, sizeof body);
    sodium_memzero(link, sizeof link);
    return rc;
}
