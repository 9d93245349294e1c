/* Data-directory lock with flock(2). See lockfile.h. */
#include "server/lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct lockfile {
    int fd;
    char path[PATH_MAX];
};

int lockfile_mkdirs(const char *dir)
{
    char buf[PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf)
        return -ENAMETOOLONG;
    memcpy(buf, dir, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0700) < 0 && errno != EEXIST)
        return -errno;
    struct stat st;
    if (stat(buf, &st) < 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int lockfile_acquire(const char *dir, lockfile_t **out, char *err, size_t errlen)
{
    *out = NULL;
    int rc = lockfile_mkdirs(dir);
    if (rc < 0) {
        snprintf(err, errlen, "cannot create data directory %s: %s", dir, strerror(-rc));
        return rc;
    }
    lockfile_t *lf = calloc(1, sizeof *lf);
    if (!lf)
        return -ENOMEM;
    if ((size_t)snprintf(lf->path, sizeof lf->path, "%s/ganglion.lock", dir) >= sizeof lf->path) {
        free(lf);
        snprintf(err, errlen, "data directory path is too long");
        return -ENAMETOOLONG;
    }
    lf->fd = open(lf->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lf->fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot open %s: %s", lf->path, strerror(errno));
        free(lf);
        return rc;
    }
    if (flock(lf->fd, LOCK_EX | LOCK_NB) < 0) {
        rc = -errno;
        char pid[32] = "";
        ssize_t got = pread(lf->fd, pid, sizeof pid - 1, 0);
        if (got > 0) {
            pid[got] = '\0';
            pid[strcspn(pid, "\n")] = '\0';
        }
        if (rc == -EWOULDBLOCK)
            snprintf(err, errlen,
                     "data directory %s is in use by another ganglion daemon (pid %s); "
                     "stop it or choose another --data-dir",
                     dir, *pid ? pid : "unknown");
        else
            snprintf(err, errlen, "cannot lock %s: %s", lf->path, strerror(-rc));
        close(lf->fd);
        free(lf);
        return rc;
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(lf->fd, 0) < 0 || pwrite(lf->fd, pid, (size_t)len, 0) != len) {
        /* The lock holds without the pid; the pid only improves the message. */
    }
    *out = lf;
    return 0;
}

void lockfile_release(lockfile_t **plf)
{
    lockfile_t *lf = *plf;
    if (!lf)
        return;
    if (ftruncate(lf->fd, 0) < 0) {
        /* Nothing to do: the lock is released by close below regardless. */
    }
    close(lf->fd);
    free(lf);
    *plf = NULL;
}
