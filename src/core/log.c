/* Structured logging: each record is built as one JSON object, serialised to a single line and
 * written with one write(2) under a mutex, so concurrent threads and processes appending to the
 * same file never interleave partial lines. Before log_open the logger writes to stderr at info. */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/clock.h"

/* A record larger than this is replaced by a short one saying so: a runaway field must not
 * produce a multi-megabyte log line. */
#define LOG_LINE_MAX (64 * 1024)
/* Longest message kept; longer ones are cut (on a UTF-8 boundary) before encoding. */
#define LOG_MSG_MAX 4096

static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;
static atomic_int log_level = LOG_LEVEL_INFO;
static int log_fd = STDERR_FILENO; /* guarded by log_mutex */
static char log_path[PATH_MAX];    /* guarded by log_mutex; "" = stderr */

static const char *const log_names[] = {"debug", "info", "warn", "error", "off"};

/* The modules that log, by the prefix of their messages. */
const char *const log_modules[] = {"agents", "alerts", "audit",  "auth",  "brain",  "chat",
                                   "guard",  "http",   "memory", "mqtt",  "reload", "retention",
                                   "store",  "tasks",  "tls",    "trace", "vault",  "watch",
                                   "ws",     "zmq",    NULL};
#define LOG_NMODULES (sizeof log_modules / sizeof log_modules[0] - 1)
/* Each module's own level plus one, or 0 to follow the default; atomics so that any thread reads
 * them without the mutex. log_floor is the lowest level anything is written at. */
static atomic_int log_module_levels[LOG_NMODULES];
static atomic_int log_floor = LOG_LEVEL_INFO;

static void log_floor_update(void)
{
    int floor = atomic_load(&log_level);
    for (size_t i = 0; i < LOG_NMODULES; i++) {
        int l = atomic_load(&log_module_levels[i]) - 1;
        if (l >= 0 && l < floor)
            floor = l;
    }
    atomic_store(&log_floor, floor);
}

static int log_module_index(const char *module, size_t len)
{
    for (size_t i = 0; i < LOG_NMODULES; i++)
        if (strlen(log_modules[i]) == len && memcmp(log_modules[i], module, len) == 0)
            return (int)i;
    return -1;
}

/* The module of a message: its prefix up to ':' when that names a module, else -1. */
static int log_msg_module(const char *msg)
{
    if (!msg)
        return -1;
    size_t n = 0;
    while (n < LOG_MODULE_MAX && msg[n] >= 'a' && msg[n] <= 'z')
        n++;
    return n && msg[n] == ':' ? log_module_index(msg, n) : -1;
}

static int log_level_of(int module)
{
    int l = module >= 0 ? atomic_load(&log_module_levels[module]) - 1 : -1;
    return l >= 0 ? l : atomic_load(&log_level);
}

int log_module_level_set(const char *module, log_level_t level)
{
    int i = module ? log_module_index(module, strlen(module)) : -1;
    if (i < 0)
        return -ENOENT;
    if ((int)level < -1 || (int)level > (int)LOG_LEVEL_OFF)
        return -EINVAL;
    atomic_store(&log_module_levels[i], (int)level + 1);
    log_floor_update();
    return 0;
}

log_level_t log_module_level(const char *module)
{
    int i = module ? log_module_index(module, strlen(module)) : -1;
    return i < 0 ? LOG_LEVEL_DEFAULT : (log_level_t)(atomic_load(&log_module_levels[i]) - 1);
}

log_level_t log_level_get(void)
{
    return (log_level_t)atomic_load(&log_level);
}

static int log_module_levels_parse(const char *spec, int *want, char *err, size_t errlen)
{
    for (size_t i = 0; i < LOG_NMODULES; i++)
        want[i] = -1;
    const char *p = spec ? spec : "";
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *eq = strchr(p, '='), *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        char level[16];
        size_t ln = eq && eq < end ? (size_t)(end - eq - 1) : 0;
        int m = eq && eq < end ? log_module_index(p, (size_t)(eq - p)) : -1;
        log_level_t lv;
        if (ln > 0 && ln < sizeof level) {
            memcpy(level, eq + 1, ln);
            level[ln] = '\0';
        }
        if (m < 0 || ln == 0 || ln >= sizeof level || log_level_parse(level, &lv) < 0) {
            if (err && errlen)
                snprintf(err, errlen, "'%.*s' is not MODULE=LEVEL with a known module and level",
                         (int)(end - p) > 64 ? 64 : (int)(end - p), p);
            return -EINVAL;
        }
        want[m] = (int)lv;
        p = end;
    }
    return 0;
}

int log_module_levels_check(const char *spec, char *err, size_t errlen)
{
    int want[LOG_NMODULES];
    return log_module_levels_parse(spec, want, err, errlen);
}

int log_module_levels_apply(const char *spec, char *err, size_t errlen)
{
    int want[LOG_NMODULES];
    int rc = log_module_levels_parse(spec, want, err, errlen);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < LOG_NMODULES; i++)
        atomic_store(&log_module_levels[i], want[i] + 1);
    log_floor_update();
    return 0;
}

int log_level_parse(const char *s, log_level_t *out)
{
    if (!s)
        return -1;
    for (int i = 0; i <= LOG_LEVEL_OFF; i++) {
        if (strcmp(s, log_names[i]) == 0) {
            if (out)
                *out = (log_level_t)i;
            return 0;
        }
    }
    return -1;
}

const char *log_level_name(log_level_t level)
{
    if ((int)level < 0 || level > LOG_LEVEL_OFF)
        return "unknown";
    return log_names[level];
}

void log_level_set(log_level_t level)
{
    if ((int)level < 0 || level > LOG_LEVEL_OFF)
        level = LOG_LEVEL_INFO;
    atomic_store(&log_level, (int)level);
    log_floor_update();
}

int log_enabled(log_level_t level)
{
    return level != LOG_LEVEL_OFF && (int)level >= atomic_load(&log_floor);
}

int log_enabled_for(const char *module, log_level_t level)
{
    int m = module ? log_module_index(module, strlen(module)) : -1;
    return level != LOG_LEVEL_OFF && (int)level >= log_level_of(m);
}

static int log_open_fd(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    return fd < 0 ? -errno : fd;
}

/* Replaces the destination under the lock; the old file is closed after the new one is in place
 * so no record is lost between the two. */
static void log_swap_locked(int fd, const char *path)
{
    int old = log_fd;
    log_fd = fd;
    if (path != log_path)
        snprintf(log_path, sizeof log_path, "%s", path ? path : "");
    if (old != STDERR_FILENO && old != fd)
        close(old);
}

int log_open(log_level_t level, const char *path)
{
    int fd = STDERR_FILENO;
    if (path && path[0]) {
        if (strlen(path) >= sizeof log_path)
            return -ENAMETOOLONG;
        fd = log_open_fd(path);
        if (fd < 0)
            return fd;
    }
    pthread_mutex_lock(&log_mutex);
    log_swap_locked(fd, path);
    pthread_mutex_unlock(&log_mutex);
    log_level_set(level);
    return 0;
}

int log_reopen(void)
{
    int rc = 0;
    pthread_mutex_lock(&log_mutex);
    if (log_path[0]) {
        int fd = log_open_fd(log_path);
        if (fd < 0)
            rc = fd; /* keep writing to the old file rather than losing records */
        else
            log_swap_locked(fd, log_path);
    }
    pthread_mutex_unlock(&log_mutex);
    return rc;
}

void log_close(void)
{
    pthread_mutex_lock(&log_mutex);
    log_swap_locked(STDERR_FILENO, "");
    pthread_mutex_unlock(&log_mutex);
}

/* Length of the longest prefix of s (at most max bytes) that is valid UTF-8, or -1 if s has an
 * invalid sequence before that point. */
static long log_utf8_prefix(const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (p[i]) {
        unsigned char c = p[i];
        size_t n = c < 0x80             ? 1
                   : (c & 0xE0) == 0xC0 ? 2
                   : (c & 0xF0) == 0xE0 ? 3
                   : (c & 0xF8) == 0xF0 ? 4
                                        : 0;
        if (n == 0 || (n == 2 && c < 0xC2) || (n == 4 && c > 0xF4))
            return -1;
        for (size_t k = 1; k < n; k++)
            if ((p[i + k] & 0xC0) != 0x80)
                return -1;
        if (i + n > max)
            break;
        i += n;
    }
    return (long)i;
}

/* Builds a JSON string from possibly invalid or oversized text: cut at LOG_MSG_MAX on a
 * character boundary, and invalid bytes replaced by '?', so a record is never lost to bad
 * input. */
static json_t *log_string(const char *s)
{
    if (!s)
        s = "";
    long n = log_utf8_prefix(s, LOG_MSG_MAX);
    if (n >= 0) {
        /* jansson's own check is stricter (overlong forms, surrogates); fall through if it
         * still refuses. */
        json_t *j = json_stringn(s, (size_t)n);
        if (j)
            return j;
    }
    char buf[LOG_MSG_MAX + 1];
    size_t out = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p && out < LOG_MSG_MAX) {
        buf[out++] = *p < 0x80 ? (char)*p : '?';
        p++;
    }
    buf[out] = '\0';
    return json_stringn(buf, out);
}

static void log_write(const char *line, size_t len)
{
    pthread_mutex_lock(&log_mutex);
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(log_fd, line + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* nowhere left to report a failed log write */
        off += (size_t)w;
    }
    pthread_mutex_unlock(&log_mutex);
}

void log_emit(log_level_t level, const char *request_id, const char *msg, const char *fields, ...)
{
    if ((int)level < 0 || level >= LOG_LEVEL_OFF || !log_enabled(level) ||
        (int)level < log_level_of(log_msg_module(msg)))
        return;

    char ts[40];
    clock_rfc3339(clock_wall_ms(), ts, sizeof ts);
    json_t *rec = json_object();
    if (!rec)
        return;
    json_object_set_new(rec, "ts", json_string(ts));
    json_object_set_new(rec, "level", json_string(log_names[level]));
    json_object_set_new(rec, "msg", log_string(msg));
    if (request_id)
        json_object_set_new(rec, "request_id", log_string(request_id));

    if (fields && fields[0]) {
        json_error_t jerr;
        va_list ap;
        va_start(ap, fields);
        json_t *extra = json_vpack_ex(&jerr, 0, fields, ap);
        va_end(ap);
        if (!extra) {
            json_object_set_new(rec, "log_error", log_string(jerr.text));
        } else if (!json_is_object(extra)) {
            json_object_set_new(rec, "log_error", json_string("fields is not an object"));
        } else {
            /* The standard keys win: a field called "level" must not disguise a record. */
            json_object_update_missing(rec, extra);
        }
        json_decref(extra);
    }

    char *line = json_dumps(rec, JSON_COMPACT);
    if (line && strlen(line) > LOG_LINE_MAX) {
        size_t big = strlen(line);
        free(line);
        json_t *small = json_pack("{s:s,s:s,s:o,s:I}", "ts", ts, "level", log_names[level], "msg",
                                  log_string(msg), "log_error_size", (json_int_t)big);
        if (small && request_id)
            json_object_set_new(small, "request_id", log_string(request_id));
        if (small)
            json_object_set_new(small, "log_error",
                                json_string("record too large, fields dropped"));
        line = small ? json_dumps(small, JSON_COMPACT) : NULL;
        json_decref(small);
    }
    json_decref(rec);
    if (!line)
        return;
    size_t len = strlen(line);
    /* json_dumps allocates exactly; grow by one for the newline so the record goes out in a
     * single write. */
    char *out = realloc(line, len + 2);
    if (!out) {
        free(line);
        return;
    }
    out[len] = '\n';
    out[len + 1] = '\0';
    log_write(out, len + 1);
    free(out);
}
