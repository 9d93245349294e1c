/* TLS for the HTTP listener: GnuTLS sessions over non-blocking sockets driven by the libuv
 * loop (the server's credentials and priorities shared, one session per connection). Reads and
 * writes never block: they report -EAGAIN and which direction the session waits for. */
#ifndef GANGLION_HTTP_TLS_H
#define GANGLION_HTTP_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "net/tls.h"

typedef struct http_tls_ctx http_tls_ctx_t;
typedef struct http_tls http_tls_t;

/* Credentials from the material (copied; m may be freed after) and the priority string.
 * 0, or a negative errno with err saying why. */
int http_tls_ctx_new(const tls_material_t *m, const char *priorities, http_tls_ctx_t **out,
                     char *err, size_t errlen);
void http_tls_ctx_destroy(http_tls_ctx_t **pctx);

/* A server session on fd (borrowed: the caller closes it after http_tls_free). */
int http_tls_new(http_tls_ctx_t *ctx, int fd, http_tls_t **out);
void http_tls_free(http_tls_t **pt);

/* 0 when the handshake is done, -EAGAIN to be called again when the socket is ready
 * (http_tls_wants_write says for what), or -EPROTO / -ECONNRESET. */
int http_tls_handshake(http_tls_t *t);
/* Bytes read (0 at the peer's close), -EAGAIN, or a negative errno. */
ssize_t http_tls_read(http_tls_t *t, void *buf, size_t len);
/* Bytes written, -EAGAIN (call again with the same bytes), or a negative errno. */
ssize_t http_tls_write(http_tls_t *t, const void *buf, size_t len);
/* True when the last -EAGAIN waited for the socket to be writable rather than readable. */
bool http_tls_wants_write(const http_tls_t *t);
/* Decrypted bytes held by GnuTLS that a read returns without touching the socket. */
size_t http_tls_pending(const http_tls_t *t);
/* Sends close_notify if it goes out at once; never waits. */
void http_tls_bye(http_tls_t *t);
/* The reason of the last failure, for the log. */
const char *http_tls_error(const http_tls_t *t);

#endif
