/* Agents' output on disk: every line also goes, as the NDJSON record /output returns for it, to
 * <data-dir>/logs/<id>.log (0600), rotated by size into <id>.log.1 … <id>.log.N
 * (agents.log_max_bytes, agents.log_backups); and the queries that reach before the rings read
 * those files back on the thread pool. Records wait in a per-agent buffer and are written once
 * per loop turn: a kill -9 of the daemon loses at most the lines of the turn it dies in. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agents/agents_internal.h"
#include "core/hub.h"
#include "core/log.h"

#define AGENTS_LOG_BUF_MAX   (4 * 1024 * 1024) /* records queued per agent between writes */
#define AGENTS_LOG_BUF_KEEP  (256 * 1024)      /* a larger buffer is freed once written */
#define AGENTS_LOG_FILES_MAX 100               /* agents.log_backups' maximum */
#define AGENTS_LOG_REPLY_MAX (8 * 1024 * 1024) /* line bytes one reply from the files carries */
#define AGENTS_LOG_PATH_MAX  1024

/* ---- paths ---------------------------------------------------------------------------- */

/* <dir>/<id>.log, or <dir>/<id>.log.<i> for i > 0. 0 or -ENAMETOOLONG. */
static int agents_log_path(const char *dir, const char *id, int i, char *out, size_t len)
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

/* ---- reading --------------------------------------------------------------------------- */

bool agents_log_wanted(const agent_t *a, const agents_out_q_t *q)
{
    if (!a->owner->logs_dir)
        return false;
    /* every line with seq >= cover is in the rings */
    uint64_t cover = a->ring_from;
    for (int s = 0; s < 2; s++) {
        const agents_line_t *first = agents_ring_at(&a->ring[s], 0);
        if (a->ring[s].evicted && first && first->seq > cover)
            cover = first->seq;
        if (a->ring[s].evicted && !first && a->seq + 1 > cover)
            cover = a->seq + 1;
    }
    if (q->since + 1 >= cover)
        return false;
    char path[AGENTS_LOG_PATH_MAX];
    struct stat st;
    for (int i = 0; i < 2; i++)
        if (agents_log_path(a->owner->logs_dir, a->id, i, path, sizeof path) == 0 &&
            stat(path, &st) == 0)
            return true;
    return false; /* no files (agents.log_max_bytes 0, or removed): the rings answer */
}

typedef struct agents_logq_job {
    uv_work_t work;
    agents_t *ag; /* borrowed: the module outlives the loop's last job */
    api_req_t *req;
    gregex_t *re; /* owned; NULL: every line */
    char id[AGENTS_ID_LEN + 1];
    char *dir; /* owned copy of the logs directory */
    agents_out_q_t q;
    int stream;     /* -1: both */
    uint64_t until; /* the last seq written when the query came */
    /* the result: kept records (owned strings), as a ring of `cap` when tail > 0 */
    char **kept;
    size_t cap, head, n, kept_bytes;
    int64_t total;
    bool cut;   /* the reply's byte cap stopped the page short */
    bool found; /* at least one file was read */
    uint64_t first_seq, last_seq_read;
    int rc; /* 0, -ENOMEM, -ERANGE/-ETIMEDOUT (the pattern's budget) */
    const char *reason;
    uint64_t at_seq, cpu_ns;
    char *text_buf; /* a record's unescaped text (worker only; owned) */
    size_t text_cap;
} agents_logq_job_t;

/* The head every record starts with: {"seq":N,"stream":"stdout"|"stderr", written by
 * agents_line_json_write and by jansson alike. 0 or -EINVAL. */
static int agents_log_record_head(const char *p, size_t len, uint64_t *seq, int *stream)
{
    static const char k1[] = "{\"seq\":", k2[] = ",\"stream\":\"std";
    if (len < sizeof k1 - 1 || memcmp(p, k1, sizeof k1 - 1) != 0)
        return -EINVAL;
    size_t i = sizeof k1 - 1;
    uint64_t v = 0;
    size_t d = 0;
    for (; i < len && p[i] >= '0' && p[i] <= '9' && d < 19; i++, d++)
        v = v * 10 + (uint64_t)(p[i] - '0');
    if (d == 0 || len - i < sizeof k2 || memcmp(p + i, k2, sizeof k2 - 1) != 0)
        return -EINVAL;
    char c = p[i + sizeof k2 - 1];
    if (c != 'o' && c != 'e')
        return -EINVAL;
    *seq = v;
    *stream = c == 'e' ? AGENTS_STDERR : AGENTS_STDOUT;
    return 0;
}

static int agents_hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* c as UTF-8 at o; returns the end. A lone surrogate is written as it is: the pattern sees
 * what was logged. */
static char *agents_utf8_put(char *o, int c)
{
    if (c < 0x80) {
        *o++ = (char)c;
    } else if (c < 0x800) {
        *o++ = (char)(0xC0 | c >> 6);
        *o++ = (char)(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        *o++ = (char)(0xE0 | c >> 12);
        *o++ = (char)(0x80 | ((c >> 6) & 0x3F));
        *o++ = (char)(0x80 | (c & 0x3F));
    } else {
        *o++ = (char)(0xF0 | c >> 18);
        *o++ = (char)(0x80 | ((c >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((c >> 6) & 0x3F));
        *o++ = (char)(0x80 | (c & 0x3F));
    }
    return o;
}

/* The "text" of a record without building a JSON object (a grep reads every record): a
 * pointer into rec when the string has no escapes, else its unescaped bytes in *buf (grown as
 * needed, owned by the caller). 0, or -EINVAL/-ENOMEM (the caller then parses the record). */
static int agents_log_record_text(const char *rec, size_t len, char **buf, size_t *cap,
                                  const char **text, size_t *tlen)
{
    static const char key[] = ",\"text\":\"";
    const char *k = memmem(rec, len, key, sizeof key - 1);
    if (!k)
        return -EINVAL;
    const char *p = k + sizeof key - 1, *end = rec + len, *q = p;
    while (q < end && *q != '"' && *q != '\\')
        q++;
    if (q < end && *q == '"') {
        *text = p;
        *tlen = (size_t)(q - p);
        return 0;
    }
    if (*cap < len) { /* the unescaped text is never longer than its record */
        char *nb = realloc(*buf, len);
        if (!nb)
            return -ENOMEM;
        *buf = nb;
        *cap = len;
    }
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    char *o = *buf;
    while (p < end && *p != '"') {
        if (*p != '\\') {
            *o++ = *p++;
            continue;
        }
        if (end - p < 2)
            return -EINVAL;
        char e = p[1];
        p += 2;
        if (e != 'u') {
            const char *at = e ? strchr(from, e) : NULL;
            if (!at)
                return -EINVAL;
            *o++ = to[at - from];
            continue;
        }
        int c = end - p >= 4 ? agents_hex4(p) : -1;
        if (c < 0)
            return -EINVAL;
        p += 4;
        if (c >= 0xD800 && c < 0xDC00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
            int lo = agents_hex4(p + 2);
            if (lo >= 0xDC00 && lo < 0xE000) {
                c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
        }
        o = agents_utf8_put(o, c);
    }
    if (p >= end)
        return -EINVAL;
    *text = *buf;
    *tlen = (size_t)(o - *buf);
    return 0;
}

static void agents_logq_keep(agents_logq_job_t *j, const char *rec, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy) {
        j->rc = -ENOMEM;
        return;
    }
    memcpy(copy, rec, len);
    copy[len] = '\0';
    if (j->q.tail > 0) {
        /* the last `tail` hits: a ring that drops its oldest past the count or the byte cap */
        if (j->n == j->cap || (j->n && j->kept_bytes + len > AGENTS_LOG_REPLY_MAX)) {
            j->kept_bytes -= strlen(j->kept[j->head]);
            free(j->kept[j->head]);
            j->head = (j->head + 1) % j->cap;
            j->n--;
            j->cut = true;
        }
        j->kept[(j->head + j->n) % j->cap] = copy;
    } else {
        j->kept[j->n] = copy;
    }
    j->n++;
    j->kept_bytes += len;
}

/* One record: filtered, matched, counted and kept if on the page. */
static void agents_logq_record(agents_logq_job_t *j, gregex_scan_t *scan, const char *rec,
                               size_t len)
{
    uint64_t seq;
    int stream;
    if (agents_log_record_head(rec, len, &seq, &stream) < 0 || seq <= j->last_seq_read ||
        seq > j->until)
        return; /* not a record, or seen in a file read twice across a rotation */
    j->last_seq_read = seq;
    if (!j->first_seq)
        j->first_seq = seq;
    if (seq <= j->q.since || (j->stream >= 0 && stream != j->stream))
        return;
    if (scan) {
        const char *text;
        size_t tlen;
        int m;
        if (agents_log_record_text(rec, len, &j->text_buf, &j->text_cap, &text, &tlen) == 0) {
            m = gregex_scan_match(scan, text, tlen);
        } else {
            json_t *o = json_loadb(rec, len, 0, NULL);
            json_t *t = json_object_get(o, "text");
            m = json_is_string(t)
                    ? gregex_scan_match(scan, json_string_value(t), json_string_length(t))
                    : 0;
            json_decref(o);
        }
        if (m < 0) {
            j->rc = m;
            j->at_seq = seq;
            j->reason = m == -ENOMEM ? "out of memory" : gregex_scan_reason(scan);
            return;
        }
        if (!m)
            return;
    }
    int64_t k = j->total++;
    if (j->q.tail > 0) {
        agents_logq_keep(j, rec, len);
    } else if (k >= j->q.offset && k < j->q.offset + j->q.limit) {
        if (j->n && j->kept_bytes + len > AGENTS_LOG_REPLY_MAX)
            j->cut = true;
        else if (!j->cut)
            agents_logq_keep(j, rec, len);
    }
}

static void agents_logq_work(uv_work_t *w)
{
    agents_logq_job_t *j = w->data;
    gregex_scan_t *scan = NULL;
    if (j->re && (j->rc = gregex_scan_new(j->re, &scan)) < 0)
        return;
    /* opened newest first, so that a rotation meanwhile can show a file twice (the seq
     * check skips it) but never hide one; read oldest first */
    FILE *fp[AGENTS_LOG_FILES_MAX + 1];
    int nf = 0;
    for (int i = 0; i <= AGENTS_LOG_FILES_MAX; i++) {
        char path[AGENTS_LOG_PATH_MAX];
        if (agents_log_path(j->dir, j->id, i, path, sizeof path) < 0)
            break;
        FILE *x = fopen(path, "re");
        if (!x) {
            if (i > 0)
                break;
            continue;
        }
        fp[nf++] = x;
    }
    j->found = nf > 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t n;
    int st;
    /* the oldest record on disk: the reply's first_seq */
    if (nf > 0 && (n = getline(&line, &lcap, fp[nf - 1])) > 0)
        (void)agents_log_record_head(line, (size_t)n, &j->first_seq, &st);
    if (nf > 0)
        rewind(fp[nf - 1]);
    for (int i = nf - 1; i >= 0; i--) {
        /* a file whose successor starts at or before since+1 holds nothing wanted */
        uint64_t next_first = 0;
        bool skip = i > 0 && (n = getline(&line, &lcap, fp[i - 1])) > 0 &&
                    agents_log_record_head(line, (size_t)n, &next_first, &st) == 0 &&
                    next_first <= j->q.since + 1;
        if (i > 0)
            rewind(fp[i - 1]);
        if (skip) {
            fclose(fp[i]);
            continue;
        }
        while (j->rc == 0 && (n = getline(&line, &lcap, fp[i])) > 0) {
            if (line[n - 1] != '\n')
                break; /* a record being written: it is after `until` */
            agents_logq_record(j, scan, line, (size_t)n - 1);
        }
        fclose(fp[i]);
    }
    free(line);
    if (scan)
        j->cpu_ns = gregex_scan_cpu_ns(scan);
    gregex_scan_destroy(&scan);
}

static void agents_logq_free(agents_logq_job_t *j)
{
    for (size_t i = 0; i < j->n; i++)
        free(j->kept[(j->head + i) % (j->cap ? j->cap : 1)]);
    free(j->kept);
    free(j->text_buf);
    gregex_destroy(&j->re);
    free(j->dir);
    free(j);
}

/* {id, lines, total, has_more, next_since, first_seq, last_seq, source} as text. */
static char *agents_logq_reply_text(agents_logq_job_t *j, size_t *len)
{
    strbuf_t sb;
    strbuf_init(&sb, 0);
    strbuf_printf(&sb, "{\"id\":\"%s\",\"lines\":[", j->id);
    uint64_t next = j->q.since;
    for (size_t i = 0; i < j->n; i++) {
        const char *rec = j->kept[(j->head + i) % j->cap];
        if (i)
            strbuf_append(&sb, ",", 1);
        strbuf_puts(&sb, rec);
        uint64_t seq;
        int stream;
        if (agents_log_record_head(rec, strlen(rec), &seq, &stream) == 0)
            next = seq;
    }
    bool more = j->q.tail > 0 ? false : j->cut || j->q.offset + j->q.limit < j->total;
    strbuf_printf(&sb,
                  "],\"total\":%" PRId64 ",\"has_more\":%s,\"next_since\":%" PRIu64
                  ",\"first_seq\":%" PRIu64 ",\"last_seq\":%" PRIu64 ",\"source\":\"files\"}",
                  j->total, more ? "true" : "false", next, j->first_seq,
                  j->until == UINT64_MAX ? j->last_seq_read : j->until);
    return strbuf_steal(&sb, len);
}

static void agents_logq_after(uv_work_t *w, int status)
{
    agents_logq_job_t *j = w->data;
    j->ag->grep_running--;
    if (status < 0 || j->rc == -ENOMEM) {
        api_reply_problem(j->req, problem_new(503, "out-of-memory",
                                              "the log files could not be read; try again"));
    } else if (j->rc == -ETIMEDOUT) {
        j->ag->grep_busy++;
        problem_t *p = problem_new(503, "busy",
                                   "the search of the log files ran out of time on a busy server "
                                   "(at line seq %llu); try again",
                                   (unsigned long long)j->at_seq);
        problem_header_set(p, "Retry-After", "1");
        api_reply_problem(j->req, p);
    } else if (j->rc < 0) {
        j->ag->grep_refused++;
        problem_t *p = problem_validation_new();
        problem_field_add(p, "query", "grep",
                          "the pattern exceeds its match budget (%s, at line seq %llu, after "
                          "%llu ms of matching): write it so that it backtracks less, or narrow "
                          "the lines with since or stream",
                          j->reason, (unsigned long long)j->at_seq,
                          (unsigned long long)(j->cpu_ns / 1000000u));
        api_reply_problem(j->req, p);
    } else {
        size_t len = 0;
        char *text = agents_logq_reply_text(j, &len);
        if (text)
            api_reply_json_text(j->req, 200, text, len);
        else
            api_reply_problem(j->req,
                              problem_new(503, "out-of-memory", "the reply could not be built"));
        free(text);
    }
    agents_logq_free(j);
}

void agents_log_query_start(agent_t *a, api_req_t *req, const agents_out_q_t *q, gregex_t *re)
{
    agents_t *ag = a->owner;
    if (ag->grep_running >= (int)ag->hub->cfg.agents_grep_jobs) {
        gregex_destroy(&re);
        ag->grep_busy++;
        problem_t *p = problem_new(503, "busy",
                                   "%d output searches are running (agents.grep_jobs); try again "
                                   "shortly",
                                   ag->grep_running);
        problem_header_set(p, "Retry-After", "1");
        api_reply_problem(req, p);
        return;
    }
    agents_logq_job_t *j = calloc(1, sizeof *j);
    if (j) {
        j->cap = q->tail > 0 ? (size_t)q->tail : (size_t)q->limit;
        j->kept = calloc(j->cap ? j->cap : 1, sizeof *j->kept);
        j->dir = strdup(ag->logs_dir);
    }
    if (!j || !j->kept || !j->dir) {
        if (j)
            agents_logq_free(j);
        gregex_destroy(&re);
        api_reply_problem(req, problem_new(503, "out-of-memory", "the query could not start"));
        return;
    }
    /* what the loop holds goes to the file first, so that the file has every line to now */
    agents_log_close(a);
    j->ag = ag;
    j->req = req;
    j->re = re;
    j->q = *q;
    j->stream = !q->stream ? -1 : strcmp(q->stream, "stderr") == 0 ? AGENTS_STDERR : AGENTS_STDOUT;
    j->q.stream = NULL; /* borrowed from the request: applied through j->stream */
    /* a live agent's later lines are the rings' business; an ended one writes no more, and
     * one lost to a killed daemon has more lines on disk than its row's last_seq */
    j->until = agents_status_live(a->status) ? a->seq : UINT64_MAX;
    memcpy(j->id, a->id, sizeof j->id);
    j->work.data = j;
    int rc = uv_queue_work(ag->hub->loop, &j->work, agents_logq_work, agents_logq_after);
    if (rc < 0) {
        agents_logq_free(j);
        api_reply_problem(
            req, problem_new(503, "unavailable", "the query could not start: %s", uv_strerror(rc)));
        return;
    }
    ag->grep_running++;
}
