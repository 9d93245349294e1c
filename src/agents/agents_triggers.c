/* Restart triggers beyond exit, from the spawn spec: max_memory_restart (the sampled RSS over
 * a threshold), cron (a schedule, UTC) and watch (file changes under paths, via inotify,
 * debounced, with ignore globs). Armed when an agent becomes live, kept across its restarts,
 * released when it ends; each restart goes through agents_agent_restart with its reason. */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agents/agents_internal.h"
#include "core/clock.h"
#include "core/cron.h"
#include "core/hub.h"
#include "core/log.h"
#include "core/metrics.h"

#define AGENTS_WATCH_DIRS_MAX  1024  /* inotify watches of one agent */
#define AGENTS_WATCH_SCAN_MAX  20000 /* directory entries looked at while adding them */
#define AGENTS_WATCH_DEPTH_MAX 32
#define AGENTS_WATCH_READ_MAX  (64 * 1024) /* event bytes handled per readiness callback */
#define AGENTS_WATCH_DEBOUNCE  500
#define AGENTS_MEMORY_MIN      (1024 * 1024)
#define AGENTS_MEMORY_MAX      (1024ull * 1024 * 1024 * 1024)
#define AGENTS_TRIG_REASON_MAX AGENTS_TEXT_REASON_MAX

typedef struct agents_watch_dir {
    int wd;
    size_t root; /* index of the spec's path it is under */
    char *rel;   /* relative to that path ("" for the path itself) */
} agents_watch_dir_t;

struct agents_trig {
    agent_t *a; /* NULL once released: the handles are closing */
    int pending_close;
    /* max_memory_restart */
    uint64_t max_rss;
    /* cron */
    bool has_cron;
    cron_t cron;
    int64_t cron_at; /* the fire time the timer waits for (s, UTC) */
    uv_timer_t cron_timer;
    /* watch */
    int ifd;
    uv_poll_t poll;
    bool poll_open;
    uv_timer_t debounce;
    int64_t debounce_ms;
    agents_watch_dir_t *dirs;
    size_t ndirs, scanned;
    bool full_logged;
    const json_t *paths, *ignore; /* borrowed from the agent's spec */
    char **roots;                 /* the paths resolved against the agent's cwd */
    size_t nroots;
    char changed[PATH_MAX]; /* the first change of a burst, as shown in the reason */
    char last[PATH_MAX];    /* the latest: events on one path in a row count once */
    unsigned changes;
};

/* ---- max_memory_restart: bytes, or "500M" ---- */

int agents_bytes_parse(const json_t *v, uint64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (n < 0)
            return -EINVAL;
        *out = (uint64_t)n;
        return 0;
    }
    const char *s = json_string_value(v);
    if (!s || !*s)
        return -EINVAL;
    uint64_t n = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9') {
        if (n > AGENTS_MEMORY_MAX)
            return -EINVAL;
        n = n * 10 + (uint64_t)(*p++ - '0');
    }
    if (p == s)
        return -EINVAL;
    while (*p == ' ')
        p++;
    unsigned shift = 0;
    switch (*p) {
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    case 't':
    case 'T':
        shift = 40;
        break;
    case 'b':
    case 'B':
    case '\0':
        break;
    default:
        return -EINVAL;
    }
    if (shift) {
        p++;
        if (*p == 'i')
            p++;
    }
    if (*p == 'b' || *p == 'B')
        p++;
    if (*p || n > (AGENTS_MEMORY_MAX >> shift))
        return -EINVAL;
    *out = n << shift;
    return 0;
}

static void agents_mib_fmt(char *buf, size_t len, uint64_t bytes)
{
    if (bytes % (1024 * 1024) == 0)
        snprintf(buf, len, "%" PRIu64 " MiB", bytes >> 20);
    else
        snprintf(buf, len, "%.1f MiB", (double)bytes / (1024.0 * 1024.0));
}

/* ---- checks at spawn ---- */

static char *agents_path_join(const char *cwd, const char *path)
{
    char *out = NULL;
    if (path[0] == '/')
        return strdup(path);
    if (asprintf(&out, "%s/%s", cwd ? cwd : ".", path) < 0)
        return NULL;
    return out;
}

void agents_triggers_check(const json_t *body, const char *cwd, problem_t **p)
{
    const json_t *v = json_object_get(body, "max_memory_restart");
    uint64_t bytes;
    if (v && (agents_bytes_parse(v, &bytes) < 0 || bytes < AGENTS_MEMORY_MIN ||
              bytes > AGENTS_MEMORY_MAX))
        problem_field_error(p, "body", "/max_memory_restart",
                            "bytes (an integer) or a string like \"500M\" (K, M, G, T: powers "
                            "of 1024), from 1M to 1T");
    v = json_object_get(body, "cron");
    if (v) {
        cron_t c;
        char err[200];
        if (!json_is_string(v))
            problem_field_error(p, "body", "/cron", "must be a string");
        else if (cron_parse(json_string_value(v), &c, err, sizeof err) < 0)
            problem_field_error(p, "body", "/cron", "%s", err);
        else if (cron_next(&c, clock_wall_ms() / 1000) < 0)
            problem_field_error(p, "body", "/cron", "the schedule never fires");
    }
    const json_t *w = json_object_get(body, "watch");
    if (!w)
        return;
    size_t i;
    const json_t *e;
    char ptr[64];
    if (json_array_size(json_object_get(w, "paths")) == 0)
        problem_field_error(p, "body", "/watch/paths", "at least one path");
    json_array_foreach(json_object_get(w, "paths"), i, e)
    {
        snprintf(ptr, sizeof ptr, "/watch/paths/%zu", i);
        const char *s = json_string_value(e);
        char *full = s && *s ? agents_path_join(cwd, s) : NULL;
        struct stat st;
        if (!s || !*s)
            problem_field_error(p, "body", ptr, "an empty path");
        else if (!full)
            problem_field_error(p, "body", ptr, "out of memory");
        else if (stat(full, &st) < 0)
            problem_field_error(p, "body", ptr, "%s: %s", full, strerror(errno));
        free(full);
    }
    json_array_foreach(json_object_get(w, "ignore"), i, e)
    {
        const char *s = json_string_value(e);
        snprintf(ptr, sizeof ptr, "/watch/ignore/%zu", i);
        if (!s || !*s)
            problem_field_error(p, "body", ptr, "an empty pattern");
    }
}

/* ---- firing ---- */

static void agents_trig_fire(agent_t *a, const char *trigger, const char *reason)
{
    /* a paused agent stays as its user left it; stopping or waiting to restart: on its way */
    if (a->status != AGENTS_RUNNING && a->status != AGENTS_THINKING &&
        a->status != AGENTS_INITIALIZING)
        return;
    log_info(NULL, "agents: restart trigger", "{s:s,s:s,s:s}", "agent", a->id, "trigger", trigger,
             "reason", reason);
    hub_t *hub = a->owner->hub;
    if (hub->metrics) {
        char label[32];
        snprintf(label, sizeof label, "trigger=\"%s\"", trigger);
        metrics_counter_add(hub->metrics, "ganglion_agents_triggered_restarts_total", label, 1);
    }
    int rc = agents_agent_restart(a->owner, a, reason);
    if (rc < 0)
        log_warn(NULL, "agents: triggered restart failed", "{s:s,s:s,s:s}", "agent", a->id,
                 "reason", reason, "error", strerror(-rc));
}

void agents_triggers_usage(agent_t *a)
{
    agents_trig_t *t = a->trig;
    if (!t || !t->max_rss || a->usage.rss_bytes <= t->max_rss)
        return;
    char used[32], max[32], reason[AGENTS_TRIG_REASON_MAX];
    agents_mib_fmt(used, sizeof used, a->usage.rss_bytes);
    agents_mib_fmt(max, sizeof max, t->max_rss);
    snprintf(reason, sizeof reason, "memory %s over max_memory_restart %s", used, max);
    agents_trig_fire(a, "memory", reason);
}

/* ---- cron ---- */

static void agents_on_cron(uv_timer_t *h);

static void agents_cron_start(agents_trig_t *t, int64_t after_s)
{
    t->cron_at = cron_next(&t->cron, after_s);
    if (t->cron_at < 0)
        return;
    int64_t delay = t->cron_at * 1000 - clock_wall_ms();
    uv_timer_start(&t->cron_timer, agents_on_cron, delay > 0 ? (uint64_t)delay : 0, 0);
}

static void agents_on_cron(uv_timer_t *h)
{
    agents_trig_t *t = h->data;
    if (!t->a)
        return;
    int64_t now_ms = clock_wall_ms();
    if (now_ms < t->cron_at * 1000) {
        /* the timer runs on the monotonic clock: the wall clock was set back meanwhile */
        uv_timer_start(&t->cron_timer, agents_on_cron, (uint64_t)(t->cron_at * 1000 - now_ms), 0);
        return;
    }
    int64_t fired = t->cron_at;
    /* the next one first: the restart may release the triggers (when it fails) */
    agents_cron_start(t, now_ms / 1000 > fired ? now_ms / 1000 : fired);
    char reason[AGENTS_TRIG_REASON_MAX];
    snprintf(reason, sizeof reason, "cron schedule '%s'",
             json_string_value(json_object_get(t->a->spec, "cron")));
    agents_trig_fire(t->a, "cron", reason);
}

/* ---- watch ---- */

bool agents_watch_ignored(const json_t *ignore, const char *rel)
{
    size_t i;
    const json_t *e;
    json_array_foreach(ignore, i, e)
    {
        const char *pat = json_string_value(e);
        if (!pat || !*pat)
            continue;
        if (!strchr(pat, '/')) {
            for (const char *c = rel; c;) {
                const char *slash = strchr(c, '/');
                size_t n = slash ? (size_t)(slash - c) : strlen(c);
                char comp[NAME_MAX + 1];
                if (n <= NAME_MAX) {
                    memcpy(comp, c, n);
                    comp[n] = '\0';
                    if (fnmatch(pat, comp, FNM_PERIOD) == 0)
                        return true;
                }
                c = slash ? slash + 1 : NULL;
            }
            continue;
        }
        bool anchored = pat[0] == '/';
        if (anchored)
            pat++;
        size_t pl = strlen(pat);
        bool dirpat = pl > 3 && strcmp(pat + pl - 3, "/**") == 0;
        for (const char *c = rel; c;) {
            if (fnmatch(pat, c, 0) == 0)
                return true;
            if (dirpat && strlen(c) == pl - 3 && strncmp(c, pat, pl - 3) == 0)
                return true;
            if (dirpat && pl - 3 < PATH_MAX) {
                char stem[PATH_MAX];
                memcpy(stem, pat, pl - 3);
                stem[pl - 3] = '\0';
                if (fnmatch(stem, c, 0) == 0)
                    return true;
            }
            if (anchored)
                break;
            const char *slash = strchr(c, '/');
            c = slash ? slash + 1 : NULL;
        }
    }
    return false;
}

static int agents_watch_add(agents_trig_t *t, size_t root, const char *rel, int depth);

/* Adds dir (root + rel) and, below it, every directory that is not ignored, within the
 * bounds. 0 or a negative errno. */
static int agents_watch_add(agents_trig_t *t, size_t root, const char *rel, int depth)
{
    if (t->ndirs >= AGENTS_WATCH_DIRS_MAX || t->scanned >= AGENTS_WATCH_SCAN_MAX) {
        if (!t->full_logged)
            log_warn(NULL, "agents: watch limit reached; deeper directories are not watched",
                     "{s:s,s:i}", "agent", t->a->id, "max_dirs", AGENTS_WATCH_DIRS_MAX);
        t->full_logged = true;
        return -ENOSPC;
    }
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s%s%s", t->roots[root], *rel ? "/" : "", rel);
    if (n < 0 || (size_t)n >= sizeof path)
        return -ENAMETOOLONG;
    /* a path of the spec is followed if it is a symbolic link; links below it are not */
    int wd =
        inotify_add_watch(t->ifd, path,
                          IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                              IN_ATTRIB | IN_DELETE_SELF | (*rel ? IN_DONT_FOLLOW : 0));
    if (wd < 0)
        return -errno;
    char *copy = strdup(rel);
    agents_watch_dir_t *v = realloc(t->dirs, (t->ndirs + 1) * sizeof *v);
    if (!copy || !v) {
        free(copy);
        if (v)
            t->dirs = v;
        return -ENOMEM;
    }
    t->dirs = v;
    t->dirs[t->ndirs++] = (agents_watch_dir_t){.wd = wd, .root = root, .rel = copy};
    if (depth >= AGENTS_WATCH_DEPTH_MAX)
        return 0;
    DIR *d = opendir(path);
    if (!d)
        return 0; /* a file watched by itself */
    struct dirent *de;
    while ((de = readdir(d)) != NULL && t->scanned < AGENTS_WATCH_SCAN_MAX) {
        t->scanned++;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        bool dir = de->d_type == DT_DIR;
        if (de->d_type == DT_UNKNOWN) {
            struct stat st;
            char full[PATH_MAX];
            if (snprintf(full, sizeof full, "%s/%s", path, de->d_name) < (int)sizeof full &&
                lstat(full, &st) == 0)
                dir = S_ISDIR(st.st_mode);
        }
        if (!dir)
            continue;
        char sub[PATH_MAX];
        n = snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
        if (n < 0 || (size_t)n >= sizeof sub || agents_watch_ignored(t->ignore, sub))
            continue;
        if (agents_watch_add(t, root, sub, depth + 1) == -ENOSPC)
            break;
    }
    closedir(d);
    return 0;
}

static agents_watch_dir_t *agents_watch_dir_find(agents_trig_t *t, int wd)
{
    for (size_t i = 0; i < t->ndirs; i++)
        if (t->dirs[i].wd == wd)
            return &t->dirs[i];
    return NULL;
}

static void agents_on_debounce(uv_timer_t *h)
{
    agents_trig_t *t = h->data;
    if (!t->a || !t->changes)
        return;
    char reason[AGENTS_TRIG_REASON_MAX];
    if (t->changes > 1)
        snprintf(reason, sizeof reason, "files changed: %.160s and %u more", t->changed,
                 t->changes - 1);
    else
        snprintf(reason, sizeof reason, "file changed: %.160s", t->changed);
    t->changes = 0;
    agents_trig_fire(t->a, "watch", reason);
}

/* One change (display is the path as shown: the spec's path joined with the relative one). */
static void agents_watch_changed(agents_trig_t *t, const char *display)
{
    if (t->changes == 0)
        snprintf(t->changed, sizeof t->changed, "%s", display);
    if (t->changes == 0 || strcmp(t->last, display) != 0)
        t->changes++;
    snprintf(t->last, sizeof t->last, "%s", display);
    uv_timer_start(&t->debounce, agents_on_debounce, (uint64_t)t->debounce_ms, 0);
}

static void agents_watch_event(agents_trig_t *t, const struct inotify_event *ev)
{
    if (ev->mask & IN_Q_OVERFLOW) {
        agents_watch_changed(t, "(too many changes to list)");
        return;
    }
    agents_watch_dir_t *d = agents_watch_dir_find(t, ev->wd);
    if (!d)
        return;
    if (ev->mask & IN_IGNORED) {
        /* the watched inode is gone: a path of the spec replaced by rename (as editors save a
         * file) is watched again under its name, if something is there now */
        size_t root = d->root;
        bool top = !*d->rel;
        free(d->rel);
        *d = t->dirs[--t->ndirs];
        if (top)
            (void)agents_watch_add(t, root, "", 0);
        return;
    }
    char rel[PATH_MAX];
    int n = ev->len ? snprintf(rel, sizeof rel, "%s%s%s", d->rel, *d->rel ? "/" : "", ev->name)
                    : snprintf(rel, sizeof rel, "%s", d->rel);
    if (n < 0 || (size_t)n >= sizeof rel)
        return;
    if (*rel && agents_watch_ignored(t->ignore, rel))
        return;
    size_t root = d->root;
    if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && (ev->mask & IN_ISDIR))
        (void)agents_watch_add(t, root, rel, 0);
    const char *given = json_string_value(json_array_get(t->paths, root));
    char display[PATH_MAX];
    n = snprintf(display, sizeof display, "%s%s%s", given ? given : t->roots[root], *rel ? "/" : "",
                 rel);
    agents_watch_changed(t, n >= 0 && (size_t)n < sizeof display ? display : rel);
}

static void agents_on_inotify(uv_poll_t *h, int status, int events)
{
    (void)events;
    agents_trig_t *t = h->data;
    if (!t->a || status < 0)
        return;
    /* bounded per callback: a flood of events waits for the next turn of the loop */
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (size_t done = 0; done < AGENTS_WATCH_READ_MAX && t->a;) {
        ssize_t n = read(t->ifd, buf, sizeof buf);
        if (n <= 0)
            break;
        done += (size_t)n;
        for (char *p = buf; p < buf + n && t->a;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            agents_watch_event(t, ev);
            p += sizeof *ev + ev->len;
        }
    }
}

static int agents_watch_start(agents_trig_t *t, const json_t *w)
{
    agent_t *a = t->a;
    t->paths = json_object_get(w, "paths");
    t->ignore = json_object_get(w, "ignore");
    const json_t *db = json_object_get(w, "debounce_ms");
    t->debounce_ms = db ? json_integer_value(db) : AGENTS_WATCH_DEBOUNCE;
    t->nroots = json_array_size(t->paths);
    t->roots = calloc(t->nroots ? t->nroots : 1, sizeof *t->roots);
    if (!t->roots)
        return -ENOMEM;
    t->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (t->ifd < 0)
        return -errno;
    for (size_t i = 0; i < t->nroots; i++) {
        const char *s = json_string_value(json_array_get(t->paths, i));
        t->roots[i] = s ? agents_path_join(a->cwd, s) : NULL;
        if (!t->roots[i])
            continue;
        int err = agents_watch_add(t, i, "", 0);
        if (err < 0 && err != -ENOSPC)
            log_warn(NULL, "agents: a watch path cannot be watched", "{s:s,s:s,s:s}", "agent",
                     a->id, "path", t->roots[i], "error", strerror(-err));
    }
    int rc = uv_poll_init(a->owner->hub->loop, &t->poll, t->ifd);
    if (rc < 0)
        return rc == UV_ENOMEM ? -ENOMEM : -EIO;
    t->poll.data = t;
    t->poll_open = true;
    uv_unref((uv_handle_t *)&t->poll); /* the agent's own handles keep the loop alive */
    rc = uv_poll_start(&t->poll, UV_READABLE, agents_on_inotify);
    return rc < 0 ? -EIO : 0;
}

/* ---- arming and release ---- */

static bool agents_spec_has_triggers(const json_t *spec)
{
    return json_object_get(spec, "max_memory_restart") || json_object_get(spec, "cron") ||
           json_object_get(spec, "watch");
}

static void agents_trig_on_close(uv_handle_t *h)
{
    agents_trig_t *t = h->data;
    if (--t->pending_close > 0)
        return;
    for (size_t i = 0; i < t->ndirs; i++)
        free(t->dirs[i].rel);
    free(t->dirs);
    for (size_t i = 0; i < t->nroots; i++)
        free(t->roots[i]);
    free(t->roots);
    free(t);
}

static void agents_trig_release(agents_trig_t *t)
{
    t->a = NULL;
    t->pending_close = 2;
    uv_close((uv_handle_t *)&t->cron_timer, agents_trig_on_close);
    uv_close((uv_handle_t *)&t->debounce, agents_trig_on_close);
    if (t->poll_open) {
        t->pending_close++;
        uv_close((uv_handle_t *)&t->poll, agents_trig_on_close);
    }
    if (t->ifd >= 0)
        close(t->ifd); /* inotify removes its watches with the descriptor */
    t->ifd = -1;
}

static void agents_triggers_arm(agent_t *a)
{
    uv_loop_t *loop = a->owner->hub->loop;
    agents_trig_t *t = calloc(1, sizeof *t);
    if (!t) {
        log_warn(NULL, "agents: restart triggers not armed (out of memory)", "{s:s}", "agent",
                 a->id);
        return;
    }
    t->a = a;
    t->ifd = -1;
    uv_timer_init(loop, &t->cron_timer);
    uv_timer_init(loop, &t->debounce);
    t->cron_timer.data = t->debounce.data = t;
    uv_unref((uv_handle_t *)&t->cron_timer);
    uv_unref((uv_handle_t *)&t->debounce);
    a->trig = t;
    const json_t *spec = a->spec;
    const json_t *v = json_object_get(spec, "max_memory_restart");
    if (v && agents_bytes_parse(v, &t->max_rss) < 0)
        t->max_rss = 0;
    const char *expr = json_string_value(json_object_get(spec, "cron"));
    char err[200];
    if (expr && cron_parse(expr, &t->cron, err, sizeof err) == 0) {
        t->has_cron = true;
        agents_cron_start(t, clock_wall_ms() / 1000);
    } else if (expr) {
        log_warn(NULL, "agents: cron trigger not armed", "{s:s,s:s}", "agent", a->id, "reason",
                 err);
    }
    const json_t *w = json_object_get(spec, "watch");
    int rc = w ? agents_watch_start(t, w) : 0;
    if (rc < 0)
        log_warn(NULL, "agents: watch trigger not armed", "{s:s,s:s}", "agent", a->id, "reason",
                 strerror(-rc));
}

void agents_triggers_on_status(agent_t *a, agents_status_t from, agents_status_t to)
{
    (void)from;
    if (agents_status_final(to)) {
        agents_triggers_free(a);
        return;
    }
    if (!a->trig && agents_status_live(to) && !a->forget && !a->owner->shutting_down &&
        agents_spec_has_triggers(a->spec))
        agents_triggers_arm(a);
}

void agents_triggers_free(agent_t *a)
{
    if (!a->trig)
        return;
    agents_trig_release(a->trig);
    a->trig = NULL;
}
