/* The pure half of the SMTP client: addresses checked, relay URLs parsed, a text message laid
 * out with its RFC 5322 headers and its body dot-stuffed for DATA. No I/O, so the unit tests
 * drive every byte of it. */

#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/num.h"
#include "core/strbuf.h"
#include "net/smtp_client.h"

#define SMTP_LINE_MAX 998 /* RFC 5322 2.1.1, without the CRLF */

int smtp_addr_check(const char *addr)
{
    if (!addr)
        return -EINVAL;
    size_t n = strlen(addr);
    const char *at = strrchr(addr, '@');
    if (n < 3 || n > SMTP_ADDR_MAX || !at || at == addr || at[1] == '\0')
        return -EINVAL;
    for (const char *p = addr; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= ' ' || ch >= 127 || strchr("<>\"(),;:\\[]", ch))
            return -EINVAL;
    }
    return 0;
}

static int smtp_copy(char *dst, size_t cap, const char *src, size_t n)
{
    if (n >= cap)
        return -EINVAL;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 0;
}

/* Undoes %XX in place (user names and passwords in URLs). */
static void smtp_unpercent(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        int byte = r[0] == '%' ? num_hexbyte_parse(r + 1) : -EINVAL;
        if (byte >= 0) {
            *w++ = (char)byte;
            r += 2;
        } else
            *w++ = *r;
    }
    *w = '\0';
}

int smtp_url_parse(const char *url, smtp_url_t *u)
{
    memset(u, 0, sizeof *u);
    const char *rest;
    const char *defport;
    if (strncmp(url, "smtp://", 7) == 0) {
        rest = url + 7;
        defport = "25";
    } else if (strncmp(url, "smtp+starttls://", 16) == 0) {
        rest = url + 16;
        u->tls = SMTP_TLS_STARTTLS;
        defport = "587";
    } else if (strncmp(url, "smtps://", 8) == 0) {
        rest = url + 8;
        u->tls = SMTP_TLS_IMPLICIT;
        defport = "465";
    } else
        return -EINVAL;
    size_t hostpart = strcspn(rest, "/?#");
    if (rest[hostpart] != '\0' && strcmp(rest + hostpart, "/") != 0)
        return -EINVAL; /* no path or options: nothing would read them */
    const char *at = memchr(rest, '@', hostpart);
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        size_t ulen = colon ? (size_t)(colon - rest) : (size_t)(at - rest);
        if (smtp_copy(u->user, sizeof u->user, rest, ulen) < 0 ||
            (colon && smtp_copy(u->pass, sizeof u->pass, colon + 1, (size_t)(at - colon - 1)) < 0))
            return -EINVAL;
        smtp_unpercent(u->user);
        smtp_unpercent(u->pass);
        hostpart -= (size_t)(at + 1 - rest);
        rest = at + 1;
    }
    const char *hp_end = rest + hostpart;
    const char *port = NULL;
    const char *hend = hp_end;
    if (rest[0] == '[') {
        const char *rb = memchr(rest, ']', hostpart);
        if (!rb)
            return -EINVAL;
        if (smtp_copy(u->host, sizeof u->host, rest + 1, (size_t)(rb - rest - 1)) < 0)
            return -EINVAL;
        if (rb + 1 < hp_end) {
            if (rb[1] != ':')
                return -EINVAL;
            port = rb + 2;
        }
    } else {
        const char *colon = memchr(rest, ':', hostpart);
        if (colon) {
            hend = colon;
            port = colon + 1;
        }
        if (smtp_copy(u->host, sizeof u->host, rest, (size_t)(hend - rest)) < 0)
            return -EINVAL;
    }
    if (u->host[0] == '\0')
        return -EINVAL;
    if (port) {
        size_t pl = (size_t)(hp_end - port);
        if (pl == 0 || pl > 5 || strspn(port, "0123456789") < pl ||
            smtp_copy(u->port, sizeof u->port, port, pl) < 0 ||
            num_i64_parse(u->port, 1, 65535, &(int64_t){0}) < 0)
            return -EINVAL;
    } else
        snprintf(u->port, sizeof u->port, "%s", defport);
    return 0;
}

int smtp_body_encode(const char *body, char **out, size_t *outlen)
{
    size_t n = strlen(body);
    if (n > SMTP_BODY_MAX)
        return -E2BIG;
    strbuf_t b;
    strbuf_init(&b, 4 * SMTP_BODY_MAX);
    size_t col = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char ch = body[i];
        if (ch == '\r' && body[i + 1] == '\n')
            continue; /* the \n that follows ends the line */
        if (ch == '\n' || ch == '\r') {
            rc = strbuf_append(&b, "\r\n", 2);
            col = 0;
            continue;
        }
        if (col == 0 && ch == '.')
            rc = strbuf_append(&b, ".", 1);
        if (rc == 0)
            rc = strbuf_append(&b, &ch, 1);
        if (++col > SMTP_LINE_MAX)
            rc = -E2BIG;
    }
    if (rc == 0 && col > 0)
        rc = strbuf_append(&b, "\r\n", 2);
    if (rc == 0 && b.len == 0)
        rc = strbuf_append(&b, "\r\n", 2);
    if (rc != 0) {
        strbuf_free(&b);
        return rc == -E2BIG ? -E2BIG : -ENOMEM;
    }
    *out = strbuf_steal(&b, outlen);
    return *out ? 0 : -ENOMEM;
}

/* RFC 5322 date in UTC: "Mon, 07 Dec 2026 03:21:24 +0000" (names fixed, not the locale's). */
static void smtp_date(int64_t now_ms, char *out, size_t len)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, len, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Subject: as is when printable ASCII, else one RFC 2047 encoded word per chunk of at most 45
 * bytes (60 base64 characters, within the 75-character word limit), never splitting a UTF-8
 * sequence. Control characters are refused (they would inject headers). */
static int smtp_subject_append(strbuf_t *b, const char *s)
{
    size_t n = strlen(s);
    bool ascii = true;
    if (n > SMTP_SUBJECT_MAX)
        return -E2BIG;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < ' ' || ch == 127)
            return -EINVAL;
        if (ch >= 128)
            ascii = false;
    }
    if (ascii)
        return strbuf_printf(b, "Subject: %s\r\n", s);
    int rc = strbuf_append(b, "Subject:", 8);
    size_t i = 0;
    while (rc == 0 && i < n) {
        size_t take = n - i < 45 ? n - i : 45;
        while (take > 0 && i + take < n && ((unsigned char)s[i + take] & 0xC0) == 0x80)
            take--; /* do not cut inside a multi-byte sequence */
        char enc[128];
        sodium_bin2base64(enc, sizeof enc, (const unsigned char *)s + i, take,
                          sodium_base64_VARIANT_ORIGINAL);
        rc = strbuf_printf(b, "%s=?UTF-8?B?%s?=", i ? "\r\n " : " ", enc);
        i += take;
    }
    return rc == 0 ? strbuf_append(b, "\r\n", 2) : rc;
}

int smtp_message_build(const char *from, const smtp_msg_t *m, int64_t now_ms, char **out,
                       size_t *outlen)
{
    if (smtp_addr_check(from) < 0 || smtp_addr_check(m->to) < 0 || !m->subject || !m->body)
        return -EINVAL;
    char *body = NULL;
    size_t blen = 0;
    int rc = smtp_body_encode(m->body, &body, &blen);
    if (rc < 0)
        return rc;
    char date[64];
    smtp_date(now_ms, date, sizeof date);
    unsigned char rnd[16];
    char id[33];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(id, sizeof id, rnd, sizeof rnd);
    strbuf_t b;
    strbuf_init(&b, 4 * SMTP_BODY_MAX);
    rc = strbuf_printf(&b, "Date: %s\r\nMessage-ID: <%s%s>\r\nFrom: %s\r\nTo: %s\r\n", date, id,
                       strrchr(from, '@'), from, m->to);
    if (rc == 0)
        rc = smtp_subject_append(&b, m->subject);
    if (rc == 0)
        rc = strbuf_printf(&b, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                               "Content-Transfer-Encoding: 8bit\r\n\r\n");
    if (rc == 0)
        rc = strbuf_append(&b, body, blen);
    free(body);
    if (rc != 0) {
        strbuf_free(&b);
        return rc == -EINVAL || rc == -E2BIG ? rc : -ENOMEM;
    }
    *out = strbuf_steal(&b, outlen);
    return *out ? 0 : -ENOMEM;
}
