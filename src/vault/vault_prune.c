/* Retention and prune: which backups a keep-last/daily/weekly/monthly policy keeps, then
 * forget the others and sweep unreferenced chunks. Safe under kill -9: the forgotten manifests
 * are removed (and the directory synced) before any chunk, and a chunk goes only when no
 * remaining manifest names it; a repository lock keeps a backup and a prune apart. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vault/vault_internal.h"

int vault_lock_take(const vault_repo_t *r, bool exclusive, int *fd_out, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/locks/repository.lock", r->dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -errno;
    }
    if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) < 0) {
        close(fd);
        snprintf(err, errlen, "the repository is busy: %s",
                 exclusive ? "a backup or prune is running" : "a prune is running");
        return -EBUSY;
    }
    *fd_out = fd;
    return 0;
}

/* The period a backup falls in for each rule: day "2026-12-07", ISO week "2026-49", month. */
static void vault_periods(const char *created, char day[16], char week[16], char month[16])
{
    struct tm tm = {0};
    snprintf(day, 16, "%.10s", created);
    snprintf(month, 16, "%.7s", created);
    week[0] = '\0';
    if (strptime(created, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
        time_t t = timegm(&tm);
        gmtime_r(&t, &tm);
        strftime(week, 16, "%G-%V", &tm);
    }
}

/* Marks in keep[] (newest first order of list) the backups a rule keeps: the newest of each of
 * the first n distinct periods. */
static void vault_keep_periods(json_t *list, int n, int which, bool *keep)
{
    char last[16] = "";
    int taken = 0;
    for (size_t i = 0; i < json_array_size(list) && taken < n; i++) {
        const char *c = json_string_value(json_object_get(json_array_get(list, i), "created_at"));
        char p[3][16];
        vault_periods(c ? c : "", p[0], p[1], p[2]);
        if (strcmp(p[which], last)) {
            snprintf(last, sizeof last, "%s", p[which]);
            keep[i] = true;
            taken++;
        }
    }
}

int vault_prune_run(vault_repo_t *r, const vault_retention_t *keep_rule, bool dry_run,
                    json_t **report, char *err, size_t errlen)
{
    if (keep_rule->last <= 0 && keep_rule->daily <= 0 && keep_rule->weekly <= 0 &&
        keep_rule->monthly <= 0) {
        snprintf(err, errlen,
                 "no retention rule: give at least one of --keep-last, --keep-daily, "
                 "--keep-weekly, --keep-monthly");
        return -EINVAL;
    }
    int lock = -1;
    int rc = vault_lock_take(r, true, &lock, err, errlen);
    if (rc < 0)
        return rc;
    json_t *all = NULL;
    rc = vault_backup_list(r, &all, err, errlen);
    if (rc < 0) {
        close(lock);
        return rc;
    }
    /* newest first: ids begin with their UTC time */
    json_t *list = json_array();
    for (size_t i = json_array_size(all); i-- > 0;)
        json_array_append(list, json_array_get(all, i));
    json_decref(all);
    size_t n = json_array_size(list);
    bool *keep = calloc(n ? n : 1, sizeof *keep);
    for (size_t i = 0; i < n && (int)i < keep_rule->last; i++)
        keep[i] = true;
    vault_keep_periods(list, keep_rule->daily, 0, keep);
    vault_keep_periods(list, keep_rule->weekly, 1, keep);
    vault_keep_periods(list, keep_rule->monthly, 2, keep);
    json_t *kept = json_array(), *forgotten = json_array();
    bool damaged = false;
    for (size_t i = 0; i < n; i++) {
        json_t *b = json_array_get(list, i);
        if (json_object_get(b, "error")) {
            damaged = true; /* unreadable: neither forgotten nor swept around */
            json_array_append(kept, json_object_get(b, "id"));
        } else {
            json_array_append(keep[i] ? kept : forgotten, json_object_get(b, "id"));
        }
    }
    free(keep);
    json_decref(list);
    /* 1: forget (the manifests go first, durably) */
    char path[4096];
    size_t i;
    json_t *v;
    if (!dry_run) {
        json_array_foreach(forgotten, i, v)
        {
            snprintf(path, sizeof path, "%s/manifests/%s", r->dir, json_string_value(v));
            unlink(path);
        }
        snprintf(path, sizeof path, "%s/manifests", r->dir);
        int dfd = open(path, O_RDONLY | O_DIRECTORY);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    /* 2: mark what the remaining manifests reference */
    json_t *marked = json_object();
    json_array_foreach(kept, i, v)
    {
        json_t *m = NULL;
        char e[512];
        if (vault_manifest_get(r, json_string_value(v), &m, e, sizeof e) < 0) {
            damaged = true;
            continue;
        }
        size_t k, q;
        json_t *c, *h;
        json_array_foreach(json_object_get(m, "components"), k, c)
            json_array_foreach(json_object_get(c, "chunks"), q, h)
                json_object_set_new(marked, json_string_value(h), json_true());
        json_decref(m);
    }
    /* 3: sweep (nothing when a manifest could not be read: its chunks are unknown) */
    size_t swept = 0;
    unsigned long long freed = 0;
    snprintf(path, sizeof path, "%s/chunks", r->dir);
    DIR *top = damaged ? NULL : opendir(path);
    struct dirent *e;
    while (top && (e = readdir(top))) {
        if (e->d_name[0] == '.')
            continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/chunks/%.2s", r->dir, e->d_name);
        DIR *d = opendir(sub);
        struct dirent *f;
        while (d && (f = readdir(d))) {
            if (f->d_name[0] == '.' || json_object_get(marked, f->d_name))
                continue;
            char cp[4400];
            struct stat st;
            if ((size_t)snprintf(cp, sizeof cp, "%s/%s", sub, f->d_name) >= sizeof cp)
                continue;
            if (stat(cp, &st) == 0)
                freed += (unsigned long long)st.st_size;
            if (dry_run || unlink(cp) == 0)
                swept++;
        }
        if (d)
            closedir(d);
    }
    if (top)
        closedir(top);
    /* leftovers of interrupted writes */
    snprintf(path, sizeof path, "%s/tmp", r->dir);
    DIR *t = dry_run ? NULL : opendir(path);
    while (t && (e = readdir(t))) {
        char tp[4400];
        if (e->d_name[0] == '.' ||
            (size_t)snprintf(tp, sizeof tp, "%s/%s", path, e->d_name) >= sizeof tp)
            continue;
        unlink(tp);
    }
    if (t)
        closedir(t);
    json_decref(marked);
    close(lock);
    *report = json_pack("{s:o, s:o, s:I, s:I, s:b, s:b}", "kept", kept, "forgotten", forgotten,
                        "chunks_removed", (json_int_t)swept, "bytes_freed", (json_int_t)freed,
                        "dry_run", dry_run, "swept", !damaged);
    return 0;
}
