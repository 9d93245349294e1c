/* The data-directory lock: one daemon per data dir, enforced with flock(2) on
 * <data-dir>/ganglion.lock, which also records the owner's pid for the error message. The lock
 * dies with the process, so a crash never leaves a stale lock behind. */
#ifndef GANGLION_LOCKFILE_H
#define GANGLION_LOCKFILE_H

#include <stddef.h>

typedef struct lockfile lockfile_t;

/* Creates dir if needed and takes the lock. On failure returns a negative errno with a
 * readable reason in err (-EWOULDBLOCK: held by another process, whose pid is named). */
int lockfile_acquire(const char *dir, lockfile_t **out, char *err, size_t errlen);
void lockfile_release(lockfile_t **lf);

/* mkdir -p; the directories it creates get mode 0700 (the data directory holds password
 * hashes, keys and tokens), whatever the umask. 0 or -errno. */
int lockfile_mkdirs(const char *dir);

#endif
