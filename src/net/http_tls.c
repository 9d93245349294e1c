/* GnuTLS on the loop (see http_tls.h): the default transport functions read and write the
 * non-blocking socket directly, so GNUTLS_E_AGAIN is the "not now" of every call and the
 * connection polls for the direction gnutls_record_get_direction() names. */
#include "net/http_tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/tls_dl.h"

struct http_tls_ctx {
    gnutls_certificate_credentials_t cred;
    gnutls_priority_t prio;
};

struct http_tls {
    gnutls_session_t s;
    int last; /* last GnuTLS error code, for the log */
};

int http_tls_ctx_new(const tls_material_t *m, const char *priorities, http_tls_ctx_t **out,
                     char *err, size_t errlen)
{
    *out = NULL;
    if (tls_dl_load(err, errlen) < 0)
        return -ENOSYS;
    http_tls_ctx_t *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int rc = ltls->gnutls_certificate_allocate_credentials(&c->cred);
    if (rc < 0) {
        snprintf(err, errlen, "tls: %s", ltls->gnutls_strerror(rc));
        free(c);
        return -ENOMEM;
    }
    gnutls_datum_t cert = {(unsigned char *)m->cert_pem, (unsigned)strlen(m->cert_pem)};
    gnutls_datum_t key = {(unsigned char *)m->key_pem, (unsigned)m->key_len};
    rc = ltls->gnutls_certificate_set_x509_key_mem(c->cred, &cert, &key, GNUTLS_X509_FMT_PEM);
    if (rc < 0) {
        snprintf(err, errlen, "tls: the certificate and key cannot be used: %s",
                 ltls->gnutls_strerror(rc));
        ltls->gnutls_certificate_free_credentials(c->cred);
        free(c);
        return -EINVAL;
    }
    const char *where = NULL;
    rc = ltls->gnutls_priority_init(&c->prio, priorities, &where);
    if (rc < 0) {
        snprintf(err, errlen, "tls.priorities: GnuTLS refuses it at \"%.60s\" (%s)",
                 where ? where : priorities, ltls->gnutls_strerror(rc));
        ltls->gnutls_certificate_free_credentials(c->cred);
        free(c);
        return -EINVAL;
    }
    *out = c;
    return 0;
}

void http_tls_ctx_destroy(http_tls_ctx_t **pctx)
{
    http_tls_ctx_t *c = pctx ? *pctx : NULL;
    if (!c)
        return;
    *pctx = NULL;
    ltls->gnutls_priority_deinit(c->prio);
    ltls->gnutls_certificate_free_credentials(c->cred);
    free(c);
}

int http_tls_new(http_tls_ctx_t *ctx, int fd, http_tls_t **out)
{
    *out = NULL;
    http_tls_t *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    if (ltls->gnutls_init(&t->s, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL) < 0) {
        free(t);
        return -ENOMEM;
    }
    if (ltls->gnutls_priority_set(t->s, ctx->prio) < 0 ||
        ltls->gnutls_credentials_set(t->s, GNUTLS_CRD_CERTIFICATE, ctx->cred) < 0) {
        ltls->gnutls_deinit(t->s);
        free(t);
        return -EINVAL;
    }
    ltls->gnutls_certificate_server_set_request(t->s, GNUTLS_CERT_IGNORE);
    ltls->gnutls_transport_set_int(t->s, fd);
    *out = t;
    return 0;
}

void http_tls_free(http_tls_t **pt)
{
    http_tls_t *t = pt ? *pt : NULL;
    if (!t)
        return;
    *pt = NULL;
    ltls->gnutls_deinit(t->s);
    free(t);
}

static ssize_t http_tls_errno(http_tls_t *t, ssize_t rc)
{
    t->last = (int)rc;
    if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED)
        return -EAGAIN;
    if (rc == GNUTLS_E_PREMATURE_TERMINATION || rc == GNUTLS_E_PUSH_ERROR ||
        rc == GNUTLS_E_PULL_ERROR)
        return -ECONNRESET;
    return -EPROTO;
}

int http_tls_handshake(http_tls_t *t)
{
    int rc;
    do {
        rc = ltls->gnutls_handshake(t->s);
    } while (rc < 0 && !ltls->gnutls_error_is_fatal(rc) && rc != GNUTLS_E_AGAIN &&
             rc != GNUTLS_E_INTERRUPTED);
    return rc < 0 ? (int)http_tls_errno(t, rc) : 0;
}

ssize_t http_tls_read(http_tls_t *t, void *buf, size_t len)
{
    ssize_t rc = ltls->gnutls_record_recv(t->s, buf, len);
    if (rc >= 0)
        return rc;
    /* A client may close without close_notify; for HTTP with explicit lengths that is the
     * ordinary end of a connection. */
    if (rc == GNUTLS_E_PREMATURE_TERMINATION)
        return 0;
    return http_tls_errno(t, rc);
}

ssize_t http_tls_write(http_tls_t *t, const void *buf, size_t len)
{
    ssize_t rc = ltls->gnutls_record_send(t->s, buf, len);
    return rc >= 0 ? rc : http_tls_errno(t, rc);
}

bool http_tls_wants_write(const http_tls_t *t)
{
    return ltls->gnutls_record_get_direction(t->s) == 1;
}

size_t http_tls_pending(const http_tls_t *t)
{
    return ltls->gnutls_record_check_pending(t->s);
}

void http_tls_bye(http_tls_t *t)
{
    (void)ltls->gnutls_bye(t->s, GNUTLS_SHUT_WR);
}

const char *http_tls_error(const http_tls_t *t)
{
    return t->last ? ltls->gnutls_strerror(t->last) : "none";
}
