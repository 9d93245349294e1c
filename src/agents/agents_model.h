/* The agent model's pure parts, kept apart from processes and the loop so they can be unit
 * tested: lifecycle states and their allowed transitions, signal names, the command line built
 * from a spawn spec (argv or preset + task), and the per-stream output ring. */
#ifndef GANGLION_AGENTS_MODEL_H
#define GANGLION_AGENTS_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- lifecycle ---- */

typedef enum {
    AGENTS_IDLE = 0,     /* created, not started yet; or waiting to be restarted */
    AGENTS_INITIALIZING, /* process started, nothing heard yet */
    AGENTS_RUNNING,
    AGENTS_THINKING,
    AGENTS_PAUSED,
    AGENTS_STOPPING,   /* SIGTERM sent, waiting for the grace period */
    AGENTS_COMPLETED,  /* final: exit 0 */
    AGENTS_FAILED,     /* final: non-zero exit, signal, spawn error, limit breach, crash loop */
    AGENTS_TERMINATED, /* final: stopped or killed on request */
    AGENTS_LOST,       /* final: was running when the daemon went away */
    AGENTS_STATUS_COUNT
} agents_status_t;

const char *agents_status_name(agents_status_t s);
/* 0, or -1 for an unknown name. */
int agents_status_parse(const char *name, agents_status_t *out);
bool agents_status_final(agents_status_t s);
/* A live process exists (or is about to) in this state. */
bool agents_status_live(agents_status_t s);
bool agents_transition_allowed(agents_status_t from, agents_status_t to);

/* ---- signals ---- */

/* A signal's name, with or without "SIG", in any case ("term", "SIGWINCH", "RtMin+2",
 * "RTMAX-1", the aliases IOT, CLD and POLL), or its number ("28") → the signal number; -1 for
 * what the platform does not name (so also 0, 32 and 33, the C library's own). */
int agents_signal_parse(const char *name);
/* "SIGTERM" for 15, "SIGRTMIN+2" / "SIGRTMAX-1" as kill -l says, "signal 32" for a number
 * without a name (static, or written into buf). */
const char *agents_signal_name(int sig, char *buf, size_t len);
/* What agents_signal_parse accepts, in words, for a refusal's message (into text; returned). */
const char *agents_signal_accepted(char *text, size_t len);
/* The accepted names without "SIG" as a JSON array (a refusal's `accepted`). New reference. */
json_t *agents_signal_names_json(void);

/* ---- command line ---- */

/* Builds the NULL-terminated argv for a validated spawn body: `argv` as given, or the preset's
 * command line from `preset`, `task`, `program`, `model` and `args`. Returns a malloc'ed
 * vector of malloc'ed strings (free with agents_argv_free), or NULL with a readable reason in
 * err (the caller turns it into a 422 on the named field). */
char **agents_argv_build(const json_t *body, char *err, size_t errlen, const char **field);
void agents_argv_free(char **argv);

/* ---- output ring ---- */

enum { AGENTS_STDOUT = 0, AGENTS_STDERR = 1 };
enum {
    AGENTS_LINE_CONT = 1 << 0,   /* the line continues in the next record (split at the cap) */
    AGENTS_LINE_BINARY = 1 << 1, /* not valid UTF-8: text has U+FFFD, data_b64 the bytes */
    AGENTS_LINE_NOEOL = 1 << 2,  /* last bytes before EOF, without a newline */
};

typedef struct agents_line {
    uint64_t seq;
    int64_t ts_ms;
    uint32_t len;
    uint8_t stream;
    uint8_t flags;
    char data[]; /* len bytes, then a NUL (not counted) */
} agents_line_t;

/* Lines in order of seq, bounded by the bytes they hold (payload plus a fixed per-line
 * overhead). Memory is allocated on the first push. The lines are packed one after another
 * into chunks of AGENTS_CHUNK_BYTES (a longer line gets a chunk of its own), which are freed
 * whole once their last line has been evicted: one allocation per chunk instead of one per
 * line, so an agent's output no longer scatters hundreds of small blocks through the loop's
 * heap between the longer-lived ones (docs/testing.md, "Soak"). The chunks hold at most two
 * chunks more than max_bytes: the one being filled and the oldest, partly evicted. */
typedef struct agents_chunk agents_chunk_t;
typedef struct agents_ring {
    agents_line_t **v;
    size_t cap, head, n;
    size_t bytes, max_bytes;
    uint64_t evicted; /* lines dropped to make room (readers see the gap through seq) */
    agents_chunk_t *oldest, *newest; /* owned; the oldest holds the line at head */
    size_t chunks;                   /* chunks allocated now */
} agents_ring_t;

#define AGENTS_CHUNK_BYTES (16 * 1024 - 64) /* a little under 16 KiB with malloc's header */

#define AGENTS_LINE_OVERHEAD (sizeof(agents_line_t) + sizeof(void *) + 16)

void agents_ring_init(agents_ring_t *r, size_t max_bytes);
/* Copies the line in, evicting the oldest lines until it fits. A line larger than the whole
 * ring is refused (-E2BIG): callers split lines at a cap below max_bytes. 0 or -errno. */
int agents_ring_push(agents_ring_t *r, uint64_t seq, int64_t ts_ms, int stream, const char *p,
                     size_t len, unsigned flags);
/* Index of the first line with seq > after (== n when none). */
size_t agents_ring_after(const agents_ring_t *r, uint64_t after);
const agents_line_t *agents_ring_at(const agents_ring_t *r, size_t i);
void agents_ring_free(agents_ring_t *r);

/* ---- cgroup v2 detection ---- */

/* Finds the cgroup v2 directory agents' cgroups could go under, from the text of
 * /proc/self/cgroup and the mount point of the unified hierarchy (fsroot, "/sys/fs/cgroup"):
 * the "0::<path>" line, fsroot/cgroup.controllers present (a unified, not a v1 or hybrid,
 * hierarchy) and fsroot<path>/cgroup.subtree_control writable (a delegated subtree). 0 with
 * dir set; -ENOENT when there is no "0::" line (cgroup v1 only), -ENOTSUP when fsroot is not
 * a unified hierarchy, -EACCES when the subtree is not delegated, -ENAMETOOLONG. */
int agents_cgroup_find(const char *proc_cgroup, const char *fsroot, char *dir, size_t dirlen);

/* ---- cgroup v2 limits ---- */

/* Makes root (the daemon's delegated cgroup, from agents_cgroup_find) able to hold agents'
 * cgroups with the memory and cpu controllers: root must list both in cgroup.controllers;
 * they are enabled in its cgroup.subtree_control, after moving the daemon (pid) into the leaf
 * root/daemon when root still holds processes (cgroup v2's no-internal-process rule).
 * 0 or a negative errno (-ENOTSUP: a controller is not available). */
int agents_cgroup_prepare(const char *root, pid_t pid);
/* Creates (or reuses, after a restart) root/agent-<id> and writes memory.max (memory_mb MiB;
 * memory.swap.max 0 when present, so the limit is not dodged by swapping) and cpu.max
 * (cpu_percent % of one CPU per 100 ms period); a zero limit writes "max". dir receives the
 * cgroup's path. 0 or a negative errno. */
int agents_cgroup_create(const char *root, const char *id, int64_t memory_mb, int64_t cpu_percent,
                         char *dir, size_t dirlen);
/* The oom_kill count of dir/memory.events (0 when absent). */
uint64_t agents_cgroup_oom_kills(const char *dir);

/* ---- processes (/proc) ---- */

/* What identifies a process and places it in the tree, from /proc/PID/stat. A pid is reused
 * after its process is reaped; (pid, start) is not, within one boot. */
typedef struct agents_proc_stat {
    pid_t pid, ppid, pgid, sid;
    char state;         /* 'R', 'S', 'Z' ... */
    uint64_t start;     /* field 22: start time in clock ticks after boot */
    uint64_t cpu_ticks; /* fields 14 + 15: user and system time, in clock ticks */
    uint64_t rss_pages; /* field 24: resident set size, in pages (0 when absent) */
} agents_proc_stat_t;

/* Parses the text of /proc/PID/stat. The command name (field 2) is in parentheses and may
 * hold spaces and ')', so the fields after it are counted from the last ')'. Fields 23 and 24
 * may be missing (rss_pages is then 0). 0 or -EINVAL. */
int agents_proc_stat_parse(const char *text, agents_proc_stat_t *out);

/* True if p[0..len) is valid UTF-8 without NUL bytes. */
bool agents_utf8_valid(const char *p, size_t len);

#endif
