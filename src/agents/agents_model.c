/* Lifecycle states and transitions, signal names, preset command lines and the output ring:
 * the parts of the agent model that need neither processes nor the loop. */
#include "agents/agents_model.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- lifecycle ---- */

static const char *const agents_status_names[AGENTS_STATUS_COUNT] = {
    "idle",     "initializing", "running", "thinking",   "paused",
    "stopping", "completed",    "failed",  "terminated", "lost",
};

const char *agents_status_name(agents_status_t s)
{
    return (unsigned)s < AGENTS_STATUS_COUNT ? agents_status_names[s] : "unknown";
}

int agents_status_parse(const char *name, agents_status_t *out)
{
    for (int i = 0; i < AGENTS_STATUS_COUNT; i++) {
        if (name && strcmp(name, agents_status_names[i]) == 0) {
            *out = (agents_status_t)i;
            return 0;
        }
    }
    return -1;
}

bool agents_status_final(agents_status_t s)
{
    return s == AGENTS_COMPLETED || s == AGENTS_FAILED || s == AGENTS_TERMINATED ||
           s == AGENTS_LOST;
}

bool agents_status_live(agents_status_t s)
{
    return s == AGENTS_INITIALIZING || s == AGENTS_RUNNING || s == AGENTS_THINKING ||
           s == AGENTS_PAUSED || s == AGENTS_STOPPING;
}

#define B(s) (1u << (s))

/* The design's moves, plus: `stopping` from any live state and from it to an end; `idle` from
 * a live state when the process exited and a restart is scheduled; `completed` from paused
 * (a cooperatively paused agent may still finish); `lost` from anything not final; `idle`
 * from an end when the agent is started again with the same id. */
static const unsigned agents_moves[AGENTS_STATUS_COUNT] = {
    [AGENTS_IDLE] =
        B(AGENTS_INITIALIZING) | B(AGENTS_TERMINATED) | B(AGENTS_FAILED) | B(AGENTS_LOST),
    [AGENTS_INITIALIZING] = B(AGENTS_RUNNING) | B(AGENTS_THINKING) | B(AGENTS_FAILED) |
                            B(AGENTS_TERMINATED) | B(AGENTS_PAUSED) | B(AGENTS_COMPLETED) |
                            B(AGENTS_STOPPING) | B(AGENTS_IDLE) | B(AGENTS_LOST),
    [AGENTS_RUNNING] = B(AGENTS_THINKING) | B(AGENTS_PAUSED) | B(AGENTS_COMPLETED) |
                       B(AGENTS_FAILED) | B(AGENTS_TERMINATED) | B(AGENTS_STOPPING) |
                       B(AGENTS_IDLE) | B(AGENTS_LOST),
    [AGENTS_THINKING] = B(AGENTS_RUNNING) | B(AGENTS_PAUSED) | B(AGENTS_COMPLETED) |
                        B(AGENTS_FAILED) | B(AGENTS_TERMINATED) | B(AGENTS_STOPPING) |
                        B(AGENTS_IDLE) | B(AGENTS_LOST),
    [AGENTS_PAUSED] = B(AGENTS_RUNNING) | B(AGENTS_THINKING) | B(AGENTS_FAILED) |
                      B(AGENTS_TERMINATED) | B(AGENTS_COMPLETED) | B(AGENTS_STOPPING) |
                      B(AGENTS_IDLE) | B(AGENTS_LOST),
    [AGENTS_STOPPING] = B(AGENTS_TERMINATED) | B(AGENTS_FAILED) | B(AGENTS_COMPLETED) |
                        B(AGENTS_IDLE) | B(AGENTS_LOST),
    /* an ended agent moves only when it is started again (agent start, daemon start) */
    [AGENTS_COMPLETED] = B(AGENTS_IDLE),
    [AGENTS_FAILED] = B(AGENTS_IDLE),
    [AGENTS_TERMINATED] = B(AGENTS_IDLE),
    [AGENTS_LOST] = B(AGENTS_IDLE),
};

bool agents_transition_allowed(agents_status_t from, agents_status_t to)
{
    if ((unsigned)from >= AGENTS_STATUS_COUNT || (unsigned)to >= AGENTS_STATUS_COUNT)
        return false;
    return (agents_moves[from] & B(to)) != 0;
}

/* ---- signals ---- */

/* Every signal Linux names (the replies' spelling; input may leave "SIG" out). The
 * real-time signals are RTMIN..RTMAX, counted at run time (the C library keeps the first few). */
static const struct {
    const char *name;
    int sig;
} agents_signals[] = {
    {"SIGHUP", SIGHUP},       {"SIGINT", SIGINT},   {"SIGQUIT", SIGQUIT},
    {"SIGILL", SIGILL},       {"SIGTRAP", SIGTRAP}, {"SIGABRT", SIGABRT},
    {"SIGBUS", SIGBUS},       {"SIGFPE", SIGFPE},   {"SIGKILL", SIGKILL},
    {"SIGUSR1", SIGUSR1},     {"SIGSEGV", SIGSEGV}, {"SIGUSR2", SIGUSR2},
    {"SIGPIPE", SIGPIPE},     {"SIGALRM", SIGALRM}, {"SIGTERM", SIGTERM},
#ifdef SIGSTKFLT
    {"SIGSTKFLT", SIGSTKFLT},
#endif
    {"SIGCHLD", SIGCHLD},     {"SIGCONT", SIGCONT}, {"SIGSTOP", SIGSTOP},
    {"SIGTSTP", SIGTSTP},     {"SIGTTIN", SIGTTIN}, {"SIGTTOU", SIGTTOU},
    {"SIGURG", SIGURG},       {"SIGXCPU", SIGXCPU}, {"SIGXFSZ", SIGXFSZ},
    {"SIGVTALRM", SIGVTALRM}, {"SIGPROF", SIGPROF}, {"SIGWINCH", SIGWINCH},
#ifdef SIGIO
    {"SIGIO", SIGIO},
#endif
#ifdef SIGPWR
    {"SIGPWR", SIGPWR},
#endif
    {"SIGSYS", SIGSYS},
};

/* Other spellings accepted on input (the replies use the names above). */
static const struct {
    const char *name;
    int sig;
} agents_signal_aliases[] = {{"IOT", SIGABRT},
                             {"CLD", SIGCHLD},
#ifdef SIGPOLL
                             {"POLL", SIGPOLL}
#endif
};

#define AGENTS_NSIGNALS (sizeof agents_signals / sizeof agents_signals[0])

/* n in "+n" / "-n" (decimal, at most 3 digits), or -1. */
static int agents_signal_offset(const char *s)
{
    int n = 0, digits = 0;
    for (; *s; s++, digits++) {
        if (*s < '0' || *s > '9' || digits == 3)
            return -1;
        n = n * 10 + (*s - '0');
    }
    return digits ? n : -1;
}

static int agents_signal_rt(const char *s)
{
    int lo = SIGRTMIN, hi = SIGRTMAX, n;
    if (!strncasecmp(s, "RTMIN", 5)) {
        if (!s[5])
            return lo;
        n = s[5] == '+' ? agents_signal_offset(s + 6) : -1;
        return n >= 0 && n <= hi - lo ? lo + n : -1;
    }
    if (!strncasecmp(s, "RTMAX", 5)) {
        if (!s[5])
            return hi;
        n = s[5] == '-' ? agents_signal_offset(s + 6) : -1;
        return n >= 0 && n <= hi - lo ? hi - n : -1;
    }
    return -1;
}

int agents_signal_parse(const char *name)
{
    if (!name || !*name)
        return -1;
    if (name[0] >= '0' && name[0] <= '9') {
        /* a number is taken when the platform names it: glibc's reserved 32 and 33 are not */
        int n = agents_signal_offset(name);
        for (size_t i = 0; n > 0 && i < AGENTS_NSIGNALS; i++)
            if (agents_signals[i].sig == n)
                return n;
        return n >= SIGRTMIN && n <= SIGRTMAX ? n : -1;
    }
    if (!strncasecmp(name, "SIG", 3))
        name += 3;
    for (size_t i = 0; i < AGENTS_NSIGNALS; i++)
        if (!strcasecmp(name, agents_signals[i].name + 3))
            return agents_signals[i].sig;
    for (size_t i = 0; i < sizeof agents_signal_aliases / sizeof agents_signal_aliases[0]; i++)
        if (!strcasecmp(name, agents_signal_aliases[i].name))
            return agents_signal_aliases[i].sig;
    return agents_signal_rt(name);
}

const char *agents_signal_name(int sig, char *buf, size_t len)
{
    for (size_t i = 0; i < AGENTS_NSIGNALS; i++)
        if (agents_signals[i].sig == sig)
            return agents_signals[i].name;
    int lo = SIGRTMIN, hi = SIGRTMAX;
    if (sig == lo)
        return "SIGRTMIN";
    if (sig == hi)
        return "SIGRTMAX";
    /* as kill -l names them: the lower half from RTMIN, the upper half from RTMAX */
    if (sig > lo && sig < hi) {
        if (sig - lo <= (hi - lo) / 2)
            snprintf(buf, len, "SIGRTMIN+%d", sig - lo);
        else
            snprintf(buf, len, "SIGRTMAX-%d", hi - sig);
        return buf;
    }
    snprintf(buf, len, "signal %d", sig);
    return buf;
}

const char *agents_signal_accepted(char *text, size_t len)
{
    size_t o = 0;
    text[0] = '\0';
    for (size_t i = 0; i < AGENTS_NSIGNALS && o < len; i++)
        o += (size_t)snprintf(text + o, len - o, "%s ", agents_signals[i].name + 3);
    if (o < len)
        snprintf(text + o, len - o,
                 "RTMIN RTMIN+n RTMAX-n RTMAX (n up to %d), with or without SIG, in any case; or "
                 "a number 1-%d that has one of these names",
                 SIGRTMAX - SIGRTMIN, SIGRTMAX);
    return text;
}

json_t *agents_signal_names_json(void)
{
    json_t *a = json_array();
    for (size_t i = 0; i < AGENTS_NSIGNALS; i++)
        json_array_append_new(a, json_string(agents_signals[i].name + 3));
    json_array_append_new(a, json_string("RTMIN"));
    json_array_append_new(a, json_string("RTMIN+n"));
    json_array_append_new(a, json_string("RTMAX-n"));
    json_array_append_new(a, json_string("RTMAX"));
    return a;
}

/* ---- command line ---- */

typedef struct agents_argv {
    char **v;
    size_t n, cap;
    bool oom;
} agents_argv_t;

static void agents_argv_push(agents_argv_t *a, const char *s)
{
    if (a->oom)
        return;
    if (a->n + 2 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        char **v = realloc(a->v, cap * sizeof *v);
        if (!v) {
            a->oom = true;
            return;
        }
        a->v = v;
        a->cap = cap;
    }
    if (!(a->v[a->n] = strdup(s))) {
        a->oom = true;
        return;
    }
    a->v[++a->n] = NULL;
}

static void agents_argv_push_array(agents_argv_t *a, const json_t *arr)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v))
            agents_argv_push(a, json_string_value(v));
    }
}

void agents_argv_free(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
}

char **agents_argv_build(const json_t *body, char *err, size_t errlen, const char **field)
{
    const json_t *argv = json_object_get(body, "argv");
    const char *preset = json_string_value(json_object_get(body, "preset"));
    const char *task = json_string_value(json_object_get(body, "task"));
    const char *program = json_string_value(json_object_get(body, "program"));
    const char *model = json_string_value(json_object_get(body, "model"));
    const json_t *args = json_object_get(body, "args");
    agents_argv_t a = {0};
    *field = "";

    if (argv && preset) {
        snprintf(err, errlen, "give either argv or preset, not both");
        *field = "/preset";
        return NULL;
    }
    if (argv) {
        if (json_array_size(argv) == 0) {
            snprintf(err, errlen, "must have at least 1 item");
            *field = "/argv";
            return NULL;
        }
        agents_argv_push_array(&a, argv);
        agents_argv_push_array(&a, args);
    } else if (!preset) {
        snprintf(err, errlen, "either argv or preset is required");
        *field = "/argv";
        return NULL;
    } else {
        if (!task) {
            snprintf(err, errlen, "the %s preset needs a task", preset);
            *field = "/task";
            return NULL;
        }
        if (strcmp(preset, "claude") == 0) {
            /* --verbose: the claude CLI refuses stream-json in print mode without it */
            const char *base[] = {"claude",          "-p",          task,
                                  "--output-format", "stream-json", "--verbose"};
            for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
                agents_argv_push(&a, base[i]);
            if (model) {
                agents_argv_push(&a, "--model");
                agents_argv_push(&a, model);
            }
            agents_argv_push_array(&a, args);
        } else if (strcmp(preset, "opencode") == 0) {
            const char *base[] = {"opencode", "run", "--format", "json", task};
            for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
                agents_argv_push(&a, base[i]);
            if (model) {
                agents_argv_push(&a, "--model");
                agents_argv_push(&a, model);
            }
            agents_argv_push_array(&a, args);
        } else if (strcmp(preset, "cli") == 0) {
            if (!program) {
                snprintf(err, errlen, "the cli preset needs a program");
                *field = "/program";
                return NULL;
            }
            agents_argv_push(&a, program);
            agents_argv_push_array(&a, args);
            agents_argv_push(&a, task);
        } else {
            snprintf(err, errlen, "unknown preset");
            *field = "/preset";
            return NULL;
        }
    }
    if (a.oom || !a.v) {
        agents_argv_free(a.v);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!a.v[0][0]) {
        agents_argv_free(a.v);
        snprintf(err, errlen, "the program must not be empty");
        *field = argv ? "/argv/0" : "/program";
        return NULL;
    }
    return a.v;
}

/* ---- output ring ---- */

/* A run of lines, packed in the order they were pushed. Lines leave in the same order, so only
 * the oldest chunk ever loses lines and counting them is enough to know when it is empty. */
struct agents_chunk {
    agents_chunk_t *next; /* the next newer chunk */
    size_t used, cap;     /* bytes of data[] */
    size_t lines;         /* lines in it not yet evicted */
    alignas(agents_line_t) unsigned char data[];
};

void agents_ring_init(agents_ring_t *r, size_t max_bytes)
{
    memset(r, 0, sizeof *r);
    r->max_bytes = max_bytes;
}

static size_t agents_line_cost(size_t len)
{
    return len + AGENTS_LINE_OVERHEAD;
}

/* Bytes a line takes in a chunk, rounded so that the next line stays aligned. */
static size_t agents_line_span(size_t len)
{
    size_t a = alignof(agents_line_t);
    return (sizeof(agents_line_t) + len + 1 + a - 1) / a * a;
}

static void agents_ring_pop(agents_ring_t *r)
{
    agents_line_t *l = r->v[r->head];
    r->bytes -= agents_line_cost(l->len);
    r->v[r->head] = NULL;
    r->head = (r->head + 1) & (r->cap - 1);
    r->n--;
    r->evicted++;
    agents_chunk_t *c = r->oldest;
    if (--c->lines > 0)
        return;
    if (c == r->newest) { /* the only chunk: keep it for the next lines */
        c->used = 0;
        return;
    }
    r->oldest = c->next;
    free(c);
    r->chunks--;
}

/* Room for a line of span bytes at the end of the newest chunk, a new chunk when it is full.
 * NULL when out of memory. */
static agents_line_t *agents_ring_place(agents_ring_t *r, size_t span)
{
    agents_chunk_t *c = r->newest;
    if (c && c->lines == 0)
        c->used = 0;
    if (!c || c->cap - c->used < span) {
        size_t cap = span > AGENTS_CHUNK_BYTES ? span : AGENTS_CHUNK_BYTES;
        agents_chunk_t *nc = malloc(sizeof *nc + cap);
        if (!nc)
            return NULL;
        nc->next = NULL;
        nc->used = nc->lines = 0;
        nc->cap = cap;
        if (c && c->lines == 0) { /* an empty last chunk too small for this line */
            free(c);
            r->chunks--;
            r->oldest = r->newest = NULL;
            c = NULL;
        }
        if (c)
            c->next = nc;
        else
            r->oldest = nc;
        r->newest = c = nc;
        r->chunks++;
    }
    agents_line_t *l = (agents_line_t *)(void *)(c->data + c->used);
    c->used += span;
    c->lines++;
    return l;
}

int agents_ring_push(agents_ring_t *r, uint64_t seq, int64_t ts_ms, int stream, const char *p,
                     size_t len, unsigned flags)
{
    size_t cost = agents_line_cost(len);
    if (cost > r->max_bytes || len > UINT32_MAX)
        return -E2BIG;
    while (r->n && r->bytes + cost > r->max_bytes)
        agents_ring_pop(r);
    if (r->n == r->cap) {
        /* capacity stays a power of two so that indexes wrap with a mask */
        size_t cap = r->cap ? r->cap * 2 : 16;
        agents_line_t **v = malloc(cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        for (size_t i = 0; i < r->n; i++)
            v[i] = r->v[(r->head + i) & (r->cap - 1)];
        free(r->v);
        r->v = v;
        r->cap = cap;
        r->head = 0;
    }
    agents_line_t *l = agents_ring_place(r, agents_line_span(len));
    if (!l)
        return -ENOMEM;
    l->seq = seq;
    l->ts_ms = ts_ms;
    l->len = (uint32_t)len;
    l->stream = (uint8_t)stream;
    l->flags = (uint8_t)flags;
    if (len)
        memcpy(l->data, p, len);
    l->data[len] = '\0';
    r->v[(r->head + r->n) & (r->cap - 1)] = l;
    r->n++;
    r->bytes += cost;
    return 0;
}

const agents_line_t *agents_ring_at(const agents_ring_t *r, size_t i)
{
    return i < r->n ? r->v[(r->head + i) & (r->cap - 1)] : NULL;
}

size_t agents_ring_after(const agents_ring_t *r, uint64_t after)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (agents_ring_at(r, mid)->seq <= after)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void agents_ring_free(agents_ring_t *r)
{
    while (r->n)
        agents_ring_pop(r);
    while (r->oldest) {
        agents_chunk_t *next = r->oldest->next;
        free(r->oldest);
        r->oldest = next;
    }
    r->newest = NULL;
    r->chunks = 0;
    free(r->v);
    r->v = NULL;
    r->cap = r->head = 0;
    r->evicted = 0;
}

bool agents_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *e = p + len;
    while (p < e) {
        /* ASCII without NUL eight bytes at a time: no high bit, no zero byte */
        while (e - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            if ((w & 0x8080808080808080ull) ||
                ((w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull))
                break;
            p += 8;
        }
        if (p == e)
            break;
        unsigned c = *p;
        if (c == 0)
            return false;
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t n;
        unsigned min;
        if ((c & 0xE0) == 0xC0) {
            n = 1;
            min = 0x80;
            c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            min = 0x800;
            c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            min = 0x10000;
            c &= 0x07;
        } else
            return false;
        if ((size_t)(e - p) <= n)
            return false;
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
            c = (c << 6) | (p[i] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return false;
        p += n + 1;
    }
    return true;
}

/* ---- cgroup v2 detection ---- */

int agents_cgroup_find(const char *proc_cgroup, const char *fsroot, char *dir, size_t dirlen)
{
    const char *line = proc_cgroup, *rel = NULL;
    size_t rlen = 0;
    while (line && *line) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        if (n >= 3 && strncmp(line, "0::", 3) == 0) {
            rel = line + 3;
            rlen = n - 3;
        }
        line = end ? end + 1 : NULL;
    }
    if (!rel || rlen == 0 || rel[0] != '/')
        return -ENOENT;
    char path[1024];
    if ((size_t)snprintf(path, sizeof path, "%s/cgroup.controllers", fsroot) >= sizeof path)
        return -ENAMETOOLONG;
    if (access(path, R_OK) != 0)
        return -ENOTSUP;
    if ((size_t)snprintf(dir, dirlen, "%s%.*s", fsroot, (int)rlen, rel) >= dirlen ||
        (size_t)snprintf(path, sizeof path, "%s/cgroup.subtree_control", dir) >= sizeof path)
        return -ENAMETOOLONG;
    if (access(path, W_OK) != 0)
        return -EACCES;
    return 0;
}

/* ---- cgroup v2 limits ---- */

static int agents_cgroup_write(const char *dir, const char *file, const char *text)
{
    char path[1100];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >= sizeof path)
        return -ENAMETOOLONG;
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    int rc = w < 0 ? -errno : (size_t)w == n ? 0 : -EIO;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    return rc;
}

static int agents_cgroup_read(const char *dir, const char *file, char *buf, size_t len)
{
    char path[1100];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >= sizeof path)
        return -ENAMETOOLONG;
    buf[0] = '\0'; /* a string on every return (the analyzer takes -errno for 0) */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, len - 1);
    int rc = n < 0 ? -errno : 0;
    close(fd);
    buf[n > 0 ? (size_t)n : 0] = '\0';
    return rc;
}

/* True when the space-separated list holds word. */
static bool agents_word_in(const char *list, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = list; (p = strstr(p, word)) != NULL; p += wl)
        if ((p == list || p[-1] == ' ' || p[-1] == '+') &&
            (p[wl] == '\0' || p[wl] == ' ' || p[wl] == '\n'))
            return true;
    return false;
}

int agents_cgroup_prepare(const char *root, pid_t pid)
{
    char buf[512];
    int rc = agents_cgroup_read(root, "cgroup.controllers", buf, sizeof buf);
    if (rc < 0)
        return rc;
    if (!agents_word_in(buf, "memory") || !agents_word_in(buf, "cpu"))
        return -ENOTSUP;
    if (agents_cgroup_read(root, "cgroup.subtree_control", buf, sizeof buf) == 0 &&
        agents_word_in(buf, "memory") && agents_word_in(buf, "cpu"))
        return 0;
    rc = agents_cgroup_write(root, "cgroup.subtree_control", "+memory +cpu");
    if (rc != -EBUSY)
        return rc;
    /* root holds processes (the daemon): move it to a leaf of its own, then enable */
    char leaf[1100], num[32];
    if ((size_t)snprintf(leaf, sizeof leaf, "%s/daemon", root) >= sizeof leaf)
        return -ENAMETOOLONG;
    if (mkdir(leaf, 0755) < 0 && errno != EEXIST)
        return -errno;
    snprintf(num, sizeof num, "%ld", (long)pid);
    rc = agents_cgroup_write(leaf, "cgroup.procs", num);
    if (rc < 0)
        return rc;
    return agents_cgroup_write(root, "cgroup.subtree_control", "+memory +cpu");
}

int agents_cgroup_create(const char *root, const char *id, int64_t memory_mb, int64_t cpu_percent,
                         char *dir, size_t dirlen)
{
    if ((size_t)snprintf(dir, dirlen, "%s/agent-%s", root, id) >= dirlen)
        return -ENAMETOOLONG;
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return -errno;
    char v[64];
    if (memory_mb > 0)
        snprintf(v, sizeof v, "%" PRId64, memory_mb * 1024 * 1024);
    else
        snprintf(v, sizeof v, "max");
    int rc = agents_cgroup_write(dir, "memory.max", v);
    if (rc == 0 && memory_mb > 0) {
        int s = agents_cgroup_write(dir, "memory.swap.max", "0");
        if (s < 0 && s != -ENOENT) /* no swap accounting: nothing to dodge with */
            rc = s;
    }
    if (rc == 0) {
        /* cpu.max is "quota period" in microseconds; 100 % is one CPU */
        if (cpu_percent > 0)
            snprintf(v, sizeof v, "%" PRId64 " 100000", cpu_percent * 1000);
        else
            snprintf(v, sizeof v, "max 100000");
        rc = agents_cgroup_write(dir, "cpu.max", v);
    }
    if (rc < 0)
        (void)rmdir(dir);
    return rc;
}

uint64_t agents_cgroup_oom_kills(const char *dir)
{
    char buf[1024];
    if (agents_cgroup_read(dir, "memory.events", buf, sizeof buf) < 0)
        return 0;
    for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, "oom_kill ", 9) == 0)
            return strtoull(p + 9, NULL, 10);
    return 0;
}

/* ---- processes (/proc) ---- */

int agents_proc_stat_parse(const char *text, agents_proc_stat_t *out)
{
    memset(out, 0, sizeof *out);
    const char *open_paren = text ? strchr(text, '(') : NULL;
    const char *close_paren = text ? strrchr(text, ')') : NULL;
    if (!open_paren || !close_paren || close_paren < open_paren)
        return -EINVAL;
    char *end;
    errno = 0;
    long pid = strtol(text, &end, 10);
    if (errno || end == text || pid <= 0)
        return -EINVAL;
    /* after ") ": state, ppid, pgrp, session, then 15 fields, then starttime (field 22);
     * utime and stime (fields 14 and 15) and rss (field 24) for the usage sampler, the last
     * optional so that a shortened line still identifies its process */
    const char *p = close_paren + 1;
    if (p[0] != ' ' || !p[1] || p[2] != ' ')
        return -EINVAL;
    out->pid = (pid_t)pid;
    out->state = p[1];
    p += 3;
    long long v[4] = {0}, cpu = 0, rss = 0;
    for (int field = 4; field <= 24; field++) {
        errno = 0;
        long long x = strtoll(p, &end, 10);
        if (field > 22 && end == p)
            break;
        if (errno || end == p || (*end != ' ' && *end != '\n' && *end != '\0'))
            return -EINVAL;
        if (field <= 6)
            v[field - 4] = x;
        else if (field == 14 || field == 15)
            cpu += x > 0 ? x : 0;
        else if (field == 22)
            v[3] = x;
        else if (field == 24)
            rss = x > 0 ? x : 0;
        p = end;
    }
    if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0)
        return -EINVAL;
    out->ppid = (pid_t)v[0];
    out->pgid = (pid_t)v[1];
    out->sid = (pid_t)v[2];
    out->start = (uint64_t)v[3];
    out->cpu_ticks = (uint64_t)cpu;
    out->rss_pages = (uint64_t)rss;
    return 0;
}
