/* SHA-1 (FIPS 180-4), for the one protocol that still names it: the WebSocket handshake's
 * Sec-WebSocket-Accept (RFC 6455 4.2.2). Not for anything that needs collision resistance. */
#ifndef GANGLION_CORE_SHA1_H
#define GANGLION_CORE_SHA1_H

#include <stddef.h>

#define SHA1_LEN 20

/* The digest of len bytes at data into out. */
void sha1_digest(const void *data, size_t len, unsigned char out[SHA1_LEN]);

#endif
