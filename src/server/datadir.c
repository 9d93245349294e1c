/* Start-time check of the data directory's permissions (see datadir.h). Looks only at the
 * directory and the files directly in it, a bounded number of them, and changes nothing: the
 * operator decides, the log says what and how. */
#include "server/datadir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

#define DATADIR_SCAN_MAX 1024 /* entries looked at; the directory holds a handful */

static bool datadir_public(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && strcmp(name + n - 4, ".pub") == 0;
}

static void datadir_warn(const char *path, mode_t mode, const char *fix)
{
    char m[8];
    snprintf(m, sizeof m, "%04o", (unsigned)(mode & 07777));
    log_warn(NULL, "data directory: permissions wider than owner-only", "{s:s,s:s,s:s}", "path",
             path, "mode", m, "fix", fix);
}

int datadir_modes_check(const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    struct stat st;
    int found = 0;
    if (fstat(dfd, &st) == 0 && (st.st_mode & 077)) {
        datadir_warn(dir, st.st_mode, "chmod 700");
        found++;
    }
    DIR *d = fdopendir(dfd);
    if (!d) {
        int rc = -errno;
        close(dfd);
        return rc;
    }
    struct dirent *e;
    for (int seen = 0; seen < DATADIR_SCAN_MAX && (e = readdir(d)) != NULL; seen++) {
        if (e->d_name[0] == '.' || datadir_public(e->d_name))
            continue;
        if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (st.st_mode & 077) {
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            datadir_warn(path, st.st_mode, "chmod 600");
            found++;
        }
    }
    closedir(d);
    return found;
}
