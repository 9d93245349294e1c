/* An index of items by key: open addressing with linear probing, at most half full, backward-
 * shift deletion (no tombstones), and a keyed hash (SipHash-1-3 with a random key per table, from
 * libsodium's generator) so that keys a client chooses — agent ids, stream names, ZMQ routing ids —
 * cannot be picked to collide and turn lookups into scans. The items stay the caller's; the table
 * holds pointers to them and reads each one's key through the caller's function. */
#ifndef GANGLION_CORE_HTAB_H
#define GANGLION_CORE_HTAB_H

#include <stddef.h>
#include <stdint.h>

typedef struct htab htab_t;

/* The key of an item: its bytes (borrowed, stable while the item is in the table) and length. */
typedef const void *(*htab_key_fn)(const void *item, size_t *len);

/* A new empty table. 0 or -ENOMEM. */
int htab_new(htab_t **out, htab_key_fn key);
/* Frees the table (not the items) and sets *t to NULL. NULL-safe. */
void htab_destroy(htab_t **t);

/* The item with this key, or NULL. */
void *htab_get(const htab_t *t, const void *key, size_t len);
/* The same for a NUL-terminated key (its bytes without the NUL). */
void *htab_get_str(const htab_t *t, const char *key);

/* Adds item under its key. 0, -EEXIST when an item with the same key is present (nothing
 * changes), or -ENOMEM. */
int htab_put(htab_t *t, void *item);

/* Removes and returns the item with this key, or NULL when there is none. */
void *htab_del(htab_t *t, const void *key, size_t len);

size_t htab_count(const htab_t *t);

/* Visits every item in no particular order: start with *pos = 0; NULL at the end. The table must
 * not change during a visit. */
void *htab_next(const htab_t *t, size_t *pos);

/* SipHash with c_rounds compression and d_rounds finalisation rounds under the key (k0, k1)
 * (the words of a 16-byte key read little-endian). The tables use 1 and 3; public so that the
 * tests can hold 2 and 4 against libsodium's crypto_shorthash. */
uint64_t htab_siphash(uint64_t k0, uint64_t k1, const void *key, size_t len, int c_rounds,
                      int d_rounds);

#endif
