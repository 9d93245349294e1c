/* The relay's replies read as bytes (RFC 5321 4.2): complete lines taken off the front of the
 * receive buffer into one reply (multi-line with "250-", ended by "250 "), and EHLO's
 * extension keywords looked up. Pure, so the fuzz harness reaches what a hostile relay sends. */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "net/smtp_client.h"

#define SMTP_REPLY_LINES 128 /* lines of one multi-line reply */

static int smtp_reply_fail(char *text, size_t textlen, const char *why, const char *line)
{
    if (text && textlen)
        snprintf(text, textlen, "%s%.80s", why, line);
    return -EPROTO;
}

int smtp_reply_take(smtp_reply_t *r, char *buf, size_t *have, char *whole, size_t wlen, char *text,
                    size_t textlen)
{
    for (;;) {
        char *nl = memchr(buf, '\n', *have);
        if (!nl) {
            if (*have >= SMTP_REPLY_MAX - 1)
                return smtp_reply_fail(text, textlen, "the relay's reply is too long", "");
            return 0;
        }
        size_t ll = (size_t)(nl - buf) + 1;
        if (ll > SMTP_REPLY_MAX - 1)
            return smtp_reply_fail(text, textlen, "the relay's reply is too long", "");
        char line[SMTP_REPLY_MAX];
        memcpy(line, buf, ll);
        line[ll] = '\0';
        memmove(buf, buf + ll, *have - ll);
        *have -= ll;
        line[strcspn(line, "\r\n")] = '\0';
        if (strspn(line, "0123456789") < 3 || line[0] < '1' || line[0] > '5')
            return smtp_reply_fail(text, textlen, "the relay sent a malformed reply: ", line);
        int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
        if (r->lines > 0 && code != r->code)
            return smtp_reply_fail(text, textlen,
                                   "the relay changed the code within one reply: ", line);
        r->code = code;
        if (++r->lines > SMTP_REPLY_LINES)
            return smtp_reply_fail(text, textlen, "the relay's reply has too many lines", "");
        size_t n = strlen(line);
        if (whole && wlen && r->used + n + 2 <= wlen) {
            memcpy(whole + r->used, line, n);
            whole[r->used + n] = '\n';
            r->used += n + 1;
            whole[r->used] = '\0';
        }
        if (line[3] != '-') {
            if (text && textlen)
                snprintf(text, textlen, "%.200s", line);
            return code;
        }
    }
}

bool smtp_ehlo_has(const char *ext, const char *keyword)
{
    size_t kl = strlen(keyword);
    const char *p = strchr(ext, '\n'); /* the first line greets; keywords follow it */
    while (p && *++p) {
        /* "250-KEYWORD params" or "250 KEYWORD": the keyword is case-insensitive */
        const char *end = strchr(p, '\n');
        size_t ll = end ? (size_t)(end - p) : strlen(p);
        if (ll >= 4 + kl && strncasecmp(p + 4, keyword, kl) == 0 &&
            (ll == 4 + kl || p[4 + kl] == ' '))
            return true;
        p = end;
    }
    return false;
}
