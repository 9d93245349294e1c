/* Content-defined chunking: a gear rolling hash picks cut points from the bytes themselves, so
 * an insertion moves only the chunks around it and the rest deduplicate. Pure; unit-tested.
 * Parameters: minimum 512 KiB, average about 2 MiB past the minimum, maximum 8 MiB. */
#ifndef GANGLION_VAULT_CHUNK_H
#define GANGLION_VAULT_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#define VAULT_CHUNK_MIN  (512u * 1024u)
#define VAULT_CHUNK_MAX  (8u * 1024u * 1024u)
#define VAULT_CHUNK_BITS 21 /* a cut where the hash's top 21 bits are zero: 1 in 2 MiB */

/* Where the first chunk of p[0..n) ends. n may exceed VAULT_CHUNK_MAX (only the first
 * VAULT_CHUNK_MAX bytes are looked at). When no cut point is found: VAULT_CHUNK_MAX if n reaches
 * it, else n when at_end, else 0 ("give me more bytes"). */
size_t vault_chunk_cut(const uint8_t *p, size_t n, int at_end);

#endif
