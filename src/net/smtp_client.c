/* The talking half of the SMTP client: one blocking conversation with the relay (plain,
 * STARTTLS or implicit TLS through GnuTLS), every read and write bounded by the conversation's
 * deadline, and smtp_send_queue that keeps it off the loop thread (uv_queue_work). */

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <sodium.h>

#include "core/clock.h"
#include "net/smtp_client.h"
#include "net/tls_dl.h"

typedef struct smtp_conv {
    int fd;
    gnutls_session_t tls; /* NULL = plain */
    gnutls_certificate_credentials_t cred;
    int64_t deadline_ms; /* monotonic */
    char buf[SMTP_REPLY_MAX];
    size_t have; /* bytes in buf not yet consumed */
    char *err;
    size_t errlen;
} smtp_conv_t;

static int64_t smtp_left(const smtp_conv_t *c)
{
    return c->deadline_ms - (int64_t)(clock_mono_ns() / 1000000u);
}

/* Applies what is left of the deadline as the socket's send and receive timeouts. */
static int smtp_arm(smtp_conv_t *c)
{
    int64_t left = smtp_left(c);
    if (left <= 0)
        return -ETIMEDOUT;
    struct timeval tv = {.tv_sec = (time_t)(left / 1000),
                         .tv_usec = (suseconds_t)(left % 1000) * 1000};
    if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
        setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0)
        return -errno;
    return 0;
}

static int smtp_fail(smtp_conv_t *c, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int smtp_fail(smtp_conv_t *c, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
    return rc;
}

static int smtp_write(smtp_conv_t *c, const char *p, size_t n)
{
    while (n > 0) {
        int rc = smtp_arm(c);
        if (rc < 0)
            return smtp_fail(c, rc, "timed out writing to the relay");
        ssize_t w;
        if (c->tls) {
            w = ltls->gnutls_record_send(c->tls, p, n);
            if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED)
                continue;
            if (w < 0)
                return smtp_fail(c, -EPROTO, "TLS write failed: %s", ltls->gnutls_strerror((int)w));
        } else {
            w = send(c->fd, p, n, MSG_NOSIGNAL);
            if (w < 0 && (errno == EINTR || errno == EAGAIN))
                continue; /* a send timeout: smtp_arm ends it at the deadline */
            if (w < 0)
                return smtp_fail(c, -errno, "writing to the relay failed: %s", strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* GnuTLS may answer GNUTLS_E_AGAIN on a blocking socket after a post-handshake message (a
 * TLS 1.3 session ticket) as well as on a receive timeout: either way the read is tried again
 * until the conversation's deadline, which smtp_arm enforces. */
static int smtp_fill(smtp_conv_t *c)
{
    if (c->have >= sizeof c->buf - 1)
        return smtp_fail(c, -EPROTO, "the relay's reply is too long");
    ssize_t r;
    for (;;) {
        int rc = smtp_arm(c);
        if (rc < 0)
            return smtp_fail(c, rc, "timed out waiting for the relay");
        if (c->tls) {
            r = ltls->gnutls_record_recv(c->tls, c->buf + c->have, sizeof c->buf - 1 - c->have);
            if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
                continue;
            if (r < 0)
                return smtp_fail(c, -EPROTO, "TLS read failed: %s", ltls->gnutls_strerror((int)r));
        } else {
            r = recv(c->fd, c->buf + c->have, sizeof c->buf - 1 - c->have, 0);
            if (r < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (r < 0)
                return smtp_fail(c, -errno, "reading from the relay failed: %s", strerror(errno));
        }
        break;
    }
    if (r == 0)
        return smtp_fail(c, -ECONNRESET, "the relay closed the connection");
    c->have += (size_t)r;
    c->buf[c->have] = '\0';
    return 0;
}

/* Reads one reply (all its lines) and returns its code, or a negative errno. The reply's text
 * (last line) is kept in c->err for a refusal's message; whole, when given, receives the whole
 * reply so EHLO's extensions can be looked up. */
static int smtp_reply(smtp_conv_t *c, char *whole, size_t wlen)
{
    smtp_reply_t r = {0};
    if (whole)
        whole[0] = '\0';
    for (;;) {
        int code = smtp_reply_take(&r, c->buf, &c->have, whole, wlen, c->err, c->errlen);
        if (code != 0)
            return code;
        int rc = smtp_fill(c);
        if (rc < 0)
            return rc;
    }
}

/* Sends a command (CRLF added) and checks the reply's code against want (its first digit). */
static int smtp_cmd(smtp_conv_t *c, const char *cmd, int want, char *whole, size_t wlen)
{
    char line[SMTP_ADDR_MAX + 64];
    if (cmd) {
        int n = snprintf(line, sizeof line, "%s\r\n", cmd);
        if (n < 0 || (size_t)n >= sizeof line)
            return smtp_fail(c, -EINVAL, "command too long");
        int rc = smtp_write(c, line, (size_t)n);
        if (rc < 0)
            return rc;
    }
    int code = smtp_reply(c, whole, wlen);
    if (code < 0)
        return code;
    if (code / 100 != want / 100) {
        char why[256];
        snprintf(why, sizeof why, "%s", c->err);
        snprintf(c->err, c->errlen, "the relay refused %.20s: %.200s", cmd ? cmd : "the greeting",
                 why);
        return code / 100 == 5 ? -EPERM : -EPROTO; /* 5xx: permanent (RFC 5321 4.2.1) */
    }
    return 0;
}

static int smtp_connect(smtp_conv_t *c, const smtp_url_t *u)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(u->host, u->port, &hints, &res);
    if (g != 0)
        return smtp_fail(c, -EHOSTUNREACH, "cannot resolve the relay: %s", gai_strerror(g));
    int rc = -ECONNREFUSED;
    for (struct addrinfo *ai = res; ai && c->fd < 0; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
            rc = -errno;
            close(fd);
            continue;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int64_t left = smtp_left(c);
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        int pr = left > 0 ? poll(&pfd, 1, (int)left) : 0;
        if (pr <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr != 0) {
            rc = pr == 0 ? -ETIMEDOUT : -(soerr ? soerr : errno);
            close(fd);
            continue;
        }
        /* back to blocking: the timeouts come from SO_RCVTIMEO/SO_SNDTIMEO */
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
            close(fd);
            continue;
        }
        c->fd = fd;
    }
    freeaddrinfo(res);
    if (c->fd < 0)
        return smtp_fail(c, rc, "cannot connect to the relay: %s", strerror(-rc));
    return 0;
}

static int smtp_tls_start(smtp_conv_t *c, const smtp_url_t *u, const char *ca_file)
{
    char err[200];
    if (tls_dl_load(err, sizeof err) < 0)
        return smtp_fail(c, -ENOSYS, "%s", err);
    int rc = ltls->gnutls_certificate_allocate_credentials(&c->cred);
    if (rc >= 0 && (ca_file[0] ? ltls->gnutls_certificate_set_x509_trust_file(c->cred, ca_file,
                                                                              GNUTLS_X509_FMT_PEM)
                               : ltls->gnutls_certificate_set_x509_system_trust(c->cred)) <= 0)
        return smtp_fail(c, -EPROTO, "no trust anchors for the relay's certificate (%s)",
                         ca_file[0] ? ca_file : "the system's store");
    if (rc >= 0)
        rc = ltls->gnutls_init(&c->tls, GNUTLS_CLIENT);
    unsigned char ip[16];
    bool literal = inet_pton(AF_INET, u->host, ip) == 1 || inet_pton(AF_INET6, u->host, ip) == 1;
    if (rc >= 0 && !literal) /* SNI carries names only (RFC 6066 3) */
        rc = ltls->gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, u->host, strlen(u->host));
    if (rc >= 0)
        rc = ltls->gnutls_set_default_priority(c->tls);
    if (rc >= 0)
        rc = ltls->gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, c->cred);
    if (rc < 0)
        return smtp_fail(c, -EPROTO, "TLS setup failed: %s", ltls->gnutls_strerror(rc));
    ltls->gnutls_session_set_verify_cert(c->tls, u->host, 0);
    ltls->gnutls_transport_set_int(c->tls, c->fd);
    do {
        if (smtp_arm(c) < 0)
            return smtp_fail(c, -ETIMEDOUT, "timed out in the TLS handshake");
        rc = ltls->gnutls_handshake(c->tls);
    } while (rc < 0 && !ltls->gnutls_error_is_fatal(rc) && rc != GNUTLS_E_AGAIN);
    if (rc == GNUTLS_E_AGAIN)
        return smtp_fail(c, -ETIMEDOUT, "timed out in the TLS handshake");
    if (rc < 0)
        return smtp_fail(c, -EPROTO, "TLS handshake with the relay failed: %s",
                         ltls->gnutls_strerror(rc));
    return 0;
}

static bool smtp_loopback(const char *host)
{
    return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
           strcmp(host, "::1") == 0;
}

/* AUTH PLAIN (RFC 4616): "\0user\0pass" in base64 on the command line. */
static int smtp_auth(smtp_conv_t *c, const smtp_url_t *u)
{
    if (!c->tls && !smtp_loopback(u->host))
        return smtp_fail(c, -EACCES,
                         "refusing to send the relay's password in the clear; use "
                         "smtps:// or smtp+starttls://");
    unsigned char raw[sizeof u->user + sizeof u->pass + 2];
    size_t ul = strlen(u->user), pl = strlen(u->pass);
    raw[0] = '\0';
    memcpy(raw + 1, u->user, ul);
    raw[1 + ul] = '\0';
    memcpy(raw + 2 + ul, u->pass, pl);
    char cmd[11 + sodium_base64_ENCODED_LEN(sizeof raw, sodium_base64_VARIANT_ORIGINAL)];
    memcpy(cmd, "AUTH PLAIN ", 11);
    sodium_bin2base64(cmd + 11, sizeof cmd - 11, raw, 2 + ul + pl, sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(raw, sizeof raw);
    int rc = smtp_write(c, cmd, strlen(cmd));
    sodium_memzero(cmd, sizeof cmd);
    if (rc == 0)
        rc = smtp_write(c, "\r\n", 2);
    return rc < 0 ? rc : smtp_cmd(c, NULL, 235, NULL, 0);
}

static int smtp_ehlo(smtp_conv_t *c, const smtp_conf_t *conf, char *ext, size_t extlen)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "EHLO %s", conf->helo[0] ? conf->helo : "localhost");
    return smtp_cmd(c, cmd, 250, ext, extlen);
}

static int smtp_converse(smtp_conv_t *c, const smtp_conf_t *conf, const smtp_url_t *u,
                         const smtp_msg_t *m, const char *data, size_t dlen)
{
    char ext[SMTP_REPLY_MAX];
    char cmd[SMTP_ADDR_MAX + 32];
    int rc = smtp_connect(c, u);
    if (rc == 0 && u->tls == SMTP_TLS_IMPLICIT)
        rc = smtp_tls_start(c, u, conf->ca_file);
    if (rc == 0)
        rc = smtp_cmd(c, NULL, 220, NULL, 0);
    if (rc == 0)
        rc = smtp_ehlo(c, conf, ext, sizeof ext);
    if (rc == 0 && u->tls == SMTP_TLS_STARTTLS) {
        if (!smtp_ehlo_has(ext, "STARTTLS"))
            return smtp_fail(c, -EPROTO, "the relay does not offer STARTTLS");
        rc = smtp_cmd(c, "STARTTLS", 220, NULL, 0);
        if (rc == 0 && c->have > 0)
            return smtp_fail(c, -EPROTO, "the relay sent data before the TLS handshake");
        if (rc == 0)
            rc = smtp_tls_start(c, u, conf->ca_file);
        if (rc == 0)
            rc = smtp_ehlo(c, conf, ext, sizeof ext);
    }
    if (rc == 0 && u->user[0])
        rc = smtp_auth(c, u);
    if (rc == 0) {
        snprintf(cmd, sizeof cmd, "MAIL FROM:<%s>", conf->from);
        rc = smtp_cmd(c, cmd, 250, NULL, 0);
    }
    if (rc == 0) {
        snprintf(cmd, sizeof cmd, "RCPT TO:<%s>", m->to);
        rc = smtp_cmd(c, cmd, 250, NULL, 0);
    }
    if (rc == 0)
        rc = smtp_cmd(c, "DATA", 354, NULL, 0);
    if (rc == 0)
        rc = smtp_write(c, data, dlen);
    if (rc == 0)
        rc = smtp_cmd(c, ".", 250, NULL, 0);
    if (rc == 0)
        (void)smtp_cmd(c, "QUIT", 221, NULL, 0); /* the message is accepted already */
    return rc;
}

int smtp_send(const smtp_conf_t *conf, const smtp_msg_t *m, char *err, size_t errlen)
{
    smtp_url_t u;
    smtp_conv_t *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    c->fd = -1;
    c->err = err;
    c->errlen = errlen;
    c->deadline_ms =
        (int64_t)(clock_mono_ns() / 1000000u) + (conf->timeout_ms > 0 ? conf->timeout_ms : 30000);
    err[0] = '\0';
    char *data = NULL;
    size_t dlen = 0;
    int rc;
    if (smtp_url_parse(conf->url, &u) < 0)
        rc = smtp_fail(c, -EINVAL, "the relay URL is not smtp://, smtp+starttls:// or smtps://");
    else if ((rc = smtp_message_build(conf->from, m, clock_wall_ms(), &data, &dlen)) < 0)
        rc = smtp_fail(c, rc, "the message cannot be built (address, subject or size)");
    else
        rc = smtp_converse(c, conf, &u, m, data, dlen);
    if (c->tls) {
        if (rc == 0)
            (void)ltls->gnutls_bye(c->tls, GNUTLS_SHUT_WR);
        ltls->gnutls_deinit(c->tls);
    }
    if (c->cred)
        ltls->gnutls_certificate_free_credentials(c->cred);
    if (c->fd >= 0)
        close(c->fd);
    sodium_memzero(&u, sizeof u);
    free(data);
    free(c);
    return rc;
}

/* ---- on the thread pool ----------------------------------------------------------------- */

typedef struct smtp_job {
    uv_work_t work;
    smtp_conf_t conf;
    char *to, *subject, *body;
    smtp_done_fn done;
    void *ud;
    int rc;
    char err[256];
} smtp_job_t;

static void smtp_job_free(smtp_job_t *j)
{
    sodium_memzero(&j->conf, sizeof j->conf);
    free(j->to);
    free(j->subject);
    free(j->body);
    free(j);
}

static void smtp_job_work(uv_work_t *w)
{
    smtp_job_t *j = w->data;
    smtp_msg_t m = {.to = j->to, .subject = j->subject, .body = j->body};
    j->rc = smtp_send(&j->conf, &m, j->err, sizeof j->err);
}

static void smtp_job_after(uv_work_t *w, int status)
{
    smtp_job_t *j = w->data;
    if (status == UV_ECANCELED) {
        j->rc = -ECANCELED;
        snprintf(j->err, sizeof j->err, "cancelled at shutdown");
    }
    if (j->done)
        j->done(j->rc, j->err, j->ud);
    smtp_job_free(j);
}

int smtp_send_queue(uv_loop_t *loop, const smtp_conf_t *conf, const smtp_msg_t *m,
                    smtp_done_fn done, void *ud)
{
    if (smtp_addr_check(m->to) < 0 || smtp_addr_check(conf->from) < 0 || !m->subject || !m->body)
        return -EINVAL;
    smtp_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    j->conf = *conf;
    j->to = strdup(m->to);
    j->subject = strdup(m->subject);
    j->body = strdup(m->body);
    j->done = done;
    j->ud = ud;
    j->work.data = j;
    if (!j->to || !j->subject || !j->body) {
        smtp_job_free(j);
        return -ENOMEM;
    }
    int rc = uv_queue_work(loop, &j->work, smtp_job_work, smtp_job_after);
    if (rc < 0)
        smtp_job_free(j);
    return rc;
}
