/* The SQLite backend's WAL checkpointer: checkpoints run on a thread of their own, with a
 * connection of their own, instead of inside the commit that crossed SQLite's auto-checkpoint
 * threshold. A checkpoint copies the WAL's pages into the database and syncs both files —
 * about 5 ms on this class of disk — and SQLite's default runs it on the committing thread, so
 * every few hundred transitions one request waited for it (the round-trip p99 of tasks was that
 * stall). In WAL mode a checkpoint runs beside writers: they keep appending while it copies.
 * Only the files in src/store include this header. */
#ifndef GANGLION_STORE_SQLITE_CKPT_H
#define GANGLION_STORE_SQLITE_CKPT_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* WAL pages after which a commit asks the thread for a checkpoint (SQLite's own default), and
 * after which the committing thread runs one itself because the thread has fallen behind. */
#define SQLITE_CKPT_PAGES          1000
#define SQLITE_CKPT_BACKSTOP_PAGES (4 * SQLITE_CKPT_PAGES)

typedef struct sqlite_ckpt sqlite_ckpt_t;

/* A checkpointer for the database at path (already in WAL mode): the thread, and its own
 * connection, start with the first checkpoint needed. Returns 0 and *out, or a negative
 * STORE_* code with err set. */
int sqlite_ckpt_start(const char *path, sqlite_ckpt_t **out, char *err, size_t errlen);
/* Hands db's checkpoints to k: replaces db's WAL hook (and with it SQLite's auto-checkpoint).
 * k must outlive db's last commit. */
void sqlite_ckpt_attach(sqlite_ckpt_t *k, sqlite3 *db);
/* Checkpoints the thread completed (not those committing threads ran past the backstop). */
uint64_t sqlite_ckpt_count(const sqlite_ckpt_t *k);
/* Stops and joins the thread, closes its connection and frees k; *kp = NULL. Call after the
 * last commit on an attached connection. NULL-safe. */
void sqlite_ckpt_stop(sqlite_ckpt_t **kp);

#endif
