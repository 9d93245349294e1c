/* Agents' output on disk: every line also goes, as the NDJSON record /output returns for it, to
 * <data-dir>/logs/<id>.log (0600), rotated by size into <id>.log.1 … <id>.log.N
 * (agents.log_max_bytes, agents.log_backups, or the agent's own). Records wait in a per-agent
 * buffer and are written once per loop turn: a kill -9 of the daemon loses at most the lines of
 * the turn it dies in. Reading them back is agents_logquery.c's. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agents/agents_internal.h"
#include "core/hub.h"
#include "core/log.h"

#define AGENTS_LOG_BUF_MAX  (4 * 1024 * 1024) /* records queued per agent between writes */
#define AGENTS_LOG_BUF_KEEP (256 * 1024)      /* a larger buffer is freed once written */

/* ---- paths ---------------------------------------------------------------------------- */

int agents_log_path(const char *dir, const char *id, int i, char *out, size_t len)
{
    int n = i > 0 ? snprintf(out, len, "%s/%s.log.%d", dir, id, i)
                  : snprintf(out, len, "%s/%s.log", dir, id);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int agents_logs_init(agents_t *ag)
{
    char dir[AGENTS_LOG_PATH_MAX];
    int n = snprintf(dir, sizeof dir, "%s/logs", ag->hub->cfg.data_dir);
    if (n < 0 || (size_t)n >= sizeof dir - 32)
        return -1;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        log_warn(NULL, "agents: no log directory: output is kept in memory only", "{s:s,s:s}",
                 "dir", dir, "reason", strerror(errno));
        return -1;
    }
    ag->logs_dir = strdup(dir);
    return ag->logs_dir ? 0 : -1;
}

/* ---- writing --------------------------------------------------------------------------- */

/* The agent's own setting from its spec, else the daemon's. */
static int64_t agents_log_setting(const agent_t *a, const char *key, int64_t dflt)
{
    json_t *v = json_object_get(a->spec, key);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static int64_t agents_log_max_bytes(const agent_t *a)
{
    return agents_log_setting(a, "log_max_bytes", a->owner->hub->cfg.agents_log_max_bytes);
}

static bool agents_logs_on(const agent_t *a)
{
    return a->owner->logs_dir && agents_log_max_bytes(a) > 0;
}

void agents_log_line(agent_t *a, const agents_line_t *l)
{
    agents_t *ag = a->owner;
    agents_logfile_t *f = &a->log;
    if (!l || a->forget || !agents_logs_on(a))
        return;
    char *bin = NULL;
    size_t need;
    if (l->flags & AGENTS_LINE_BINARY) {
        /* rare: jansson writes the record with its data_b64 */
        json_t *j = agents_line_json(a, l);
        bin = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (!bin) {
            ag->log_dropped++;
            return;
        }
        need = strlen(bin) + 1;
    } else {
        need = AGENTS_LINE_JSON_FIXED + agents_json_escaped_len(l->data, l->len) + 1;
    }
    if (f->len + need > AGENTS_LOG_BUF_MAX)
        agents_log_close(a); /* a turn with this much output: write it now */
    if (f->len + need > f->cap) {
        size_t cap = f->cap ? f->cap : 4096;
        while (cap < f->len + need)
            cap *= 2;
        char *nb = realloc(f->buf, cap);
        if (!nb) {
            free(bin);
            ag->log_dropped++;
            return;
        }
        f->buf = nb;
        f->cap = cap;
    }
    char *o = f->buf + f->len;
    if (bin) {
        o = mempcpy(o, bin, need - 1);
        free(bin);
    } else {
        o = agents_line_json_write(o, l);
    }
    *o++ = '\n';
    f->len = (size_t)(o - f->buf);
    if (!f->dirty) {
        f->dirty = true;
        f->dirty_next = ag->log_dirty;
        ag->log_dirty = a;
    }
}

/* <id>.log becomes <id>.log.1, .1 becomes .2 …, the oldest beyond agents.log_backups goes. */
static void agents_log_rotate(agent_t *a)
{
    agents_t *ag = a->owner;
    agents_logfile_t *f = &a->log;
    if (f->fd >= 0)
        (void)close(f->fd);
    f->fd = -1;
    f->size = 0;
    ag->log_rotations++;
    int keep = (int)agents_log_setting(a, "log_backups", ag->hub->cfg.agents_log_backups);
    char from[AGENTS_LOG_PATH_MAX], to[AGENTS_LOG_PATH_MAX];
    if (keep == 0) {
        if (agents_log_path(ag->logs_dir, a->id, 0, from, sizeof from) == 0)
            (void)unlink(from);
        return;
    }
    for (int i = keep; i >= 1; i--) {
        if (agents_log_path(ag->logs_dir, a->id, i - 1, from, sizeof from) < 0 ||
            agents_log_path(ag->logs_dir, a->id, i, to, sizeof to) < 0)
            return;
        if (rename(from, to) < 0 && errno != ENOENT)
            log_warn(NULL, "agents: log file not rotated", "{s:s,s:s}", "file", from, "reason",
                     strerror(errno));
    }
}

static int agents_log_open(agent_t *a)
{
    agents_logfile_t *f = &a->log;
    char path[AGENTS_LOG_PATH_MAX];
    if (agents_log_path(a->owner->logs_dir, a->id, 0, path, sizeof path) < 0)
        return -ENAMETOOLONG;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = -errno;
        (void)close(fd);
        return e;
    }
    f->fd = fd;
    f->size = st.st_size;
    return 0;
}

static int agents_log_write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Writes the buffered records, rotating between whole records so that no file grows past
 * agents.log_max_bytes (a single record longer than that gets a file of its own). */
static void agents_log_write(agent_t *a)
{
    agents_t *ag = a->owner;
    agents_logfile_t *f = &a->log;
    int64_t max = agents_log_max_bytes(a);
    const char *p = f->buf;
    size_t left = f->len;
    int rc = 0;
    while (left && rc == 0) {
        if (f->fd < 0 && (rc = agents_log_open(a)) < 0)
            break;
        /* the records that fit in what is left of the file */
        size_t take = 0;
        while (take < left) {
            const char *nl = memchr(p + take, '\n', left - take);
            size_t rec = (size_t)(nl - (p + take)) + 1;
            if (f->size + (int64_t)(take + rec) > max && (take > 0 || f->size > 0))
                break;
            take += rec;
        }
        if (take == 0) {
            agents_log_rotate(a);
            continue;
        }
        rc = agents_log_write_all(f->fd, p, take);
        if (rc == 0) {
            f->size += (int64_t)take;
            ag->log_bytes += take;
            p += take;
            left -= take;
        }
    }
    if (rc < 0) {
        ag->log_dropped += left;
        if (!f->warned)
            log_warn(NULL, "agents: output not written to the log file", "{s:s,s:s}", "agent",
                     a->id, "reason", strerror(-rc));
        f->warned = true;
        if (f->fd >= 0)
            (void)close(f->fd);
        f->fd = -1;
    }
    f->len = 0;
}

void agents_logs_flush(agents_t *ag)
{
    agent_t *a = ag->log_dirty;
    ag->log_dirty = NULL;
    while (a) {
        agent_t *next = a->log.dirty_next;
        a->log.dirty = false;
        a->log.dirty_next = NULL;
        if (a->forget || !agents_logs_on(a))
            a->log.len = 0;
        else if (a->log.len)
            agents_log_write(a);
        /* an ended agent writes nothing more: its descriptor goes; a buffer a burst made
         * large goes too (the next turn's lines allocate what they need) */
        bool ended = !a->out_open && !a->err_open;
        if (ended && a->log.fd >= 0) {
            (void)close(a->log.fd);
            a->log.fd = -1;
        }
        if (ended || a->log.cap > AGENTS_LOG_BUF_KEEP) {
            free(a->log.buf);
            a->log.buf = NULL;
            a->log.cap = 0;
        }
        a = next;
    }
}

void agents_log_close(agent_t *a)
{
    agents_t *ag = a->owner;
    agents_logfile_t *f = &a->log;
    if (f->dirty) {
        for (agent_t **pp = &ag->log_dirty; *pp; pp = &(*pp)->log.dirty_next)
            if (*pp == a) {
                *pp = a->log.dirty_next;
                break;
            }
        f->dirty = false;
        f->dirty_next = NULL;
    }
    if (f->len && !a->forget && agents_logs_on(a))
        agents_log_write(a);
    f->len = 0;
    if (f->fd >= 0)
        (void)close(f->fd);
    f->fd = -1;
}

void agents_logs_fini(agents_t *ag)
{
    agents_logs_flush(ag);
    for (agent_t *a = ag->head; a; a = a->next)
        agents_log_close(a);
    free(ag->logs_dir);
    ag->logs_dir = NULL;
}

void agents_log_files_remove(const char *dir, const char *id)
{
    char path[AGENTS_LOG_PATH_MAX];
    /* the backups are numbered without gaps: the first one missing ends the walk */
    for (int i = 0; i <= AGENTS_LOG_FILES_MAX; i++) {
        if (agents_log_path(dir, id, i, path, sizeof path) < 0)
            return;
        if (unlink(path) < 0 && errno == ENOENT && i > 0)
            return;
    }
}

void agents_log_remove(agents_t *ag, const char *id)
{
    if (ag->logs_dir)
        agents_log_files_remove(ag->logs_dir, id);
}
