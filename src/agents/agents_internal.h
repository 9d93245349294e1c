/* What the agents module's files share: the agent and module structs and the operations the
 * endpoint handlers call. Not for other modules (they use agents.h or the bus). Loop thread
 * only. */
#ifndef GANGLION_AGENTS_INTERNAL_H
#define GANGLION_AGENTS_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "agents/agents.h"
#include "agents/agents_model.h"
#include "api/api.h"
#include "core/gregex.h"
#include "core/config.h"
#include "core/problem.h"
#include "core/strbuf.h"

struct hub;

typedef enum {
    AGENTS_RESTART_NEVER = 0,
    AGENTS_RESTART_ON_FAILURE,
    AGENTS_RESTART_ALWAYS
} agents_restart_t;

typedef struct agents_limits {
    int64_t memory_mb;   /* RLIMIT_AS (and memory.max with cgroups); 0 = none */
    int64_t cpu_s;       /* RLIMIT_CPU; 0 = none */
    int64_t nofile;      /* RLIMIT_NOFILE; 0 = inherit */
    int64_t timeout_ms;  /* wall clock; 0 = none */
    int64_t cpu_percent; /* cpu.max (cgroups only); 0 = none */
} agents_limits_t;

#define AGENTS_CAP_PAUSE     "pause-protocol" /* the agent reads the JSON pause lines */
#define AGENTS_ID_LEN        12
#define AGENTS_READ_BUF      (64 * 1024) /* one read buffer shared by every pipe (loop thread) */
#define AGENTS_RESTART_LOG   64          /* restart times remembered for the crash-loop window */
#define AGENTS_KEEP_FINISHED 2000        /* ended agents kept in memory (all stay in the store) */

typedef struct agents_action agents_action_t;
typedef struct agents_ack agents_ack_t;

/* Everything the agent object (agents_agent_json) is built from that can change after spawn,
 * plus the identity of what cannot: the agent's version as a renderer sees it (the API's
 * render cache, agents_api.c). Zero-filled before use, so it compares with memcmp. */
#define AGENTS_TEXT_REASON_MAX 256
typedef struct agents_agent_key {
    const void *spec, *name, *argv, *cwd; /* set at spawn; compared by identity */
    uint64_t spec_version;                /* and a spec change, whatever the addresses */
    int64_t created_ms, started_ms, ended_ms, status_ms, lost_ms;
    uint64_t lines_total[2], bytes_total[2], seq;
    int status, restart, restarts, pid, exit_code, term_signal;
    bool forced_pause, valid;
    int64_t usage_ms;                    /* the sample shown (agents_usage.c); 0: none */
    char reason[AGENTS_TEXT_REASON_MAX]; /* the text: a freed reason's address can be reused */
} agents_agent_key_t;
/* A snapshot of the process table, and a signal for an agent's tree (agents_procs.c). */
typedef struct agents_tree_req agents_tree_req_t;
typedef struct agents_procs {
    agents_proc_stat_t *v; /* sorted by parent pid; zombies left out */
    size_t n, cap;
} agents_procs_t;

typedef struct agents agents_t;

/* The last resource sample of an agent's process tree (agents_usage.c). Shown while pid is the
 * agent's current process; zero before the first sample. */
typedef struct agents_usage {
    pid_t pid;          /* the main process the sample is of */
    double cpu_percent; /* since the previous sample (the first: since the process started) */
    uint64_t rss_bytes; /* resident memory of the tree (or the cgroup's anon + mapped files) */
    int64_t sampled_ms; /* wall clock */
    uint64_t cpu_ns;    /* CPU time of the tree at the sample */
    uint64_t mono_ns;   /* monotonic time of the sample */
    /* what the last agent.<id>.usage event said, and when (events go out on a change) */
    int64_t pub_cpu10, pub_ms;
    uint64_t pub_rss;
} agents_usage_t;
typedef struct agents_trig agents_trig_t;
/* An agent's log file (agents_logfile.c): records waiting for the end of the loop turn, and
 * the open file they go to. */
typedef struct agents_logfile {
    char *buf; /* owned: NDJSON records not written yet */
    size_t len, cap;
    int fd;       /* -1 while closed; opened on the first write */
    int64_t size; /* bytes in <id>.log */
    bool dirty;   /* on the module's flush list */
    bool warned;  /* a write error was logged (once per agent) */
    struct agent *dirty_next;
} agents_logfile_t;

typedef struct agent {
    agents_t *owner;
    struct agent *prev, *next; /* creation order */
    char id[AGENTS_ID_LEN + 1];
    char *name;
    json_t *spec;   /* the validated spawn body (owned) */
    char **argv;    /* built from spec */
    json_t *labels; /* borrowed from spec */
    agents_limits_t limits;
    agents_restart_t restart;
    int restart_max;
    int64_t restart_window_ms;
    int64_t stop_grace_ms;

    agents_status_t status;
    pid_t pid;       /* 0 when no process */
    int exit_code;   /* -1 unless exited */
    int term_signal; /* 0 unless killed by a signal */
    char *reason;
    int64_t created_ms, started_ms, ended_ms, status_ms, lost_ms;
    int restarts;
    int64_t restart_times[AGENTS_RESTART_LOG];
    bool stop_requested; /* the end is terminated, not failed */
    bool kill_requested;
    bool forced_pause;
    bool timed_out;
    bool forget;        /* DELETE: free once reaped and closed */
    bool persisted;     /* loaded from the store (not a live record) */
    bool indexed;       /* in the owner's id index */
    uint64_t cpu_ns;    /* user+sys of the last exit (limit reasons) */
    char *cg_dir;       /* owned: the agent's cgroup v2 directory while it has one */
    uint64_t pid_start; /* the main process's start time (/proc/PID/stat field 22) */
    uint64_t cg_oom;    /* the cgroup's oom_kill count at the last exit */

    /* pipes: handles are embedded, `open` bits say which need closing */
    uv_pipe_t in, out, err;
    uv_timer_t timer;      /* wall-clock timeout */
    uv_timer_t stop_timer; /* stop grace, then SIGKILL; also restart backoff */
    unsigned handles_open;
    bool in_open, out_open, err_open;
    bool stdin_closed;

    uint64_t seq;
    agents_ring_t ring[2];
    strbuf_t part[2]; /* partial line per stream */
    uint64_t lines_total[2];
    uint64_t bytes_total[2];
    /* lines with seq < ring_from may be missing from the rings even though none was evicted:
     * a record loaded at start holds only the persisted tail (agents_logfile.c reads the
     * rest from the log files) */
    uint64_t ring_from;
    agents_logfile_t log;

    agents_action_t *actions;
    uint64_t action_seq;

    bool save_queued;        /* on the owner's save queue (agents_store.c) */
    bool spec_stored;        /* the row exists with its spec: later saves only UPDATE */
    struct agent *save_next; /* save queue link */
    bool exited;             /* reaped; waiting for the pipes to drain */
    pid_t pgid;              /* the group to signal (== pid while alive) */
    int pending_close;       /* handles whose close callback has not run */
    char *cwd;

    /* the name index (agents_names.c): the agent's place among its namesakes, in the list of
     * those that have not ended (name_live) or of those that have */
    struct agents_name *name_ent;
    struct agent *name_prev, *name_next;
    bool name_live;
    /* starting again with the same id (agents_restart.c) */
    bool restart_pending;   /* start again once the process has ended */
    char *restart_reason;   /* owned: why, kept while the restart is pending */
    int64_t daemon_stop_ms; /* the daemon's shutdown ended it: started again at the next start */

    uint64_t spec_version; /* bumped when the spec is replaced (agents_agent_key) */

    agents_usage_t usage; /* the last sample (agents_usage.c) */
    agents_trig_t *trig;  /* restart triggers while armed (agents_triggers.c); owned */
} agent_t;

struct agents {
    struct hub *hub;
    /* The API's render cache (agents_api.c): owned by the registry, which frees it. */
    struct agents_render *render;
    agent_t *head, *tail;
    size_t count;         /* records in memory */
    struct htab *by_id;   /* every record in memory by id (agents.c) */
    struct htab *by_name; /* the records by name (agents_names.c) */
    size_t live;          /* with a process (or about to) */
    uv_signal_t sigchld;
    bool sigchld_open;
    bool shutting_down;
    /* transitions are written in groups: agents whose row changed wait on the save queue
     * (and deletes on theirs); once per loop turn the queue becomes one transaction on the
     * thread pool, one at a time (agents_store.c) */
    agent_t *save_head, *save_tail;
    struct agents_del *del_head, *del_tail;
    struct agents_batch *batch_inflight;
    uv_idle_t save_idle;
    bool save_idle_open;
    bool cgroup_v2;     /* a writable delegated cgroup was found */
    bool orphans_leave; /* agents.orphans = leave: no parent-death signal, nothing ended at start */
    bool subreaper;     /* PR_SET_CHILD_SUBREAPER took: orphans of agents come to the daemon */
    char boot_id[40];   /* /proc/sys/kernel/random/boot_id: start times compare within a boot */
    /* reads of /proc on the thread pool, one job at a time (agents_procs.c) */
    agents_tree_req_t *tree_q; /* tree signals waiting for the next job */
    size_t tree_n, tree_cap;
    bool sweep_wanted; /* a main process exited since the last sweep's read */
    bool job_inflight, jobs_closed;
    uv_timer_t job_timer; /* the next sweep, while exits keep coming */
    bool job_timer_open;
    /* rows and deletes ever queued, and of those the ones whose batch has finished: a reply
     * held for a commit waits until *_done reaches the *_seq it saw (agents_ack.c) */
    uint64_t save_seq, save_done, del_seq, del_done;
    agents_ack_t *ack_head, *ack_tail; /* held replies, oldest first */
    char cgroup_dir[512];
    /* statistics */
    uint64_t spawns_ok, spawns_failed, commands, errors, restarts_total;
    uint64_t lines_total;
    int64_t started_ms;
    /* the daemon's own limits, restored for children */
    uint64_t nofile_soft;
    bool setid; /* agents.user/group resolved (daemon is root) */
    unsigned uid, gid;
    char read_buf[AGENTS_READ_BUF];
    /* fairness: output bytes read in this loop iteration; past the budget, pipes are left for
     * the next turn (the check handle resets the budget after the poll phase), so a flood of
     * output cannot hold the loop (the writers block on their full pipes: nothing is lost) */
    size_t read_budget_used;
    uv_check_t read_check;
    bool read_check_open;
    uint64_t throttled;     /* reads deferred to a later turn by the budget (statistics) */
    uint64_t orphans_ended; /* processes ended by the sweep and at start (statistics) */
    char *scratch;          /* an output line's event is written here before the bus copies it */
    size_t scratch_cap;
    size_t ring_bytes, line_max;
    /* log files (agents_logfile.c): <data-dir>/logs, the agents with records to write */
    char *logs_dir; /* owned; NULL when the directory could not be made */
    agent_t *log_dirty;
    uint64_t log_bytes, log_dropped, log_rotations;
    /* output searches (agents_output.c): jobs on the thread pool, and refusals */
    int grep_running;
    uint64_t grep_refused, grep_busy;
    struct agents_sampler *sampler; /* resource sampling (agents_usage.c); owned */
    /* programs (agents_programs.c): the set applied last (owned), and a reload in flight */
    json_t *programs;
    bool programs_reloading;
};

/* ---- agents_procs.c: the processes behind agents, from /proc ---- */

/* Reads the whole process table into t (reusing its memory). 0 or a negative errno. */
int agents_procs_read(agents_procs_t *t);
void agents_procs_free(agents_procs_t *t);
/* Indexes into t->v of root's descendants started at or after min_start (a younger process
 * under an older one is a reused pid's), parents before children; at most max. */
size_t agents_procs_descendants(const agents_procs_t *t, pid_t root, uint64_t min_start,
                                size_t *out, size_t max);
int agents_proc_stat_read(pid_t pid, agents_proc_stat_t *st);
/* Sends sig to pid only if it is still the process that started at start (a pidfd holds it
 * while the start time is checked). 0, -ESRCH (gone, or the pid was reused), -EPERM. */
int agents_proc_signal(pid_t pid, uint64_t start, int sig);
/* sig to the agent's process group now (and with SIGKILL, to its cgroup) and to every
 * descendant that left the group once the next job has read /proc. 0 or the group kill's
 * negative errno. */
int agents_tree_signal(agent_t *a, int sig);
/* The main process exited: SIGKILL to what is left of its group and cgroup. */
void agents_tree_end(agent_t *a);
/* Ends the daemon's children that are not agents' main processes (orphans it inherited as
 * subreaper) and their descendants, now. Returns how many were signalled. */
size_t agents_orphans_sweep(agents_t *ag);
/* The same with /proc read by the next job (on an exit: sweeps run at most every 50 ms). */
void agents_orphans_sweep_start(agents_t *ag);
/* The jobs' timer (agents_start) and their end (agents_destroy: waits for the job in flight;
 * later sweeps are agents_orphans_sweep's). */
void agents_procs_jobs_init(agents_t *ag);
void agents_procs_jobs_fini(agents_t *ag);
int agents_boot_id_read(char *out, size_t len);

/* An agent of an earlier run that the store shows alive, as recorded when it started. */
typedef struct agents_leftover {
    const char *id;     /* borrowed */
    pid_t pid, pgid;    /* 0 when not recorded */
    uint64_t start;     /* 0: not recorded, the row is never acted on */
    const char *cgroup; /* borrowed; NULL or "" without one */
    bool group_reused;  /* set by agents_leftovers_end */
    size_t ended;       /* processes ended (out) */
} agents_leftover_t;
/* SIGKILL to every process left of these agents (same boot only: the caller checks): the
 * main process by pid and start time, its group and session, processes carrying its AGENT_ID,
 * everything under those, and its cgroup. Returns the total ended. */
size_t agents_leftovers_end(agents_t *ag, agents_leftover_t *v, size_t n);

/* ---- agents_names.c: names as handles ---- */

/* The index's table (agents_start) and its end (agents_destroy, after every record is freed).
 * 0 or -ENOMEM. */
int agents_names_init(agents_t *ag);
void agents_names_fini(agents_t *ag);
/* Adds a record whose name is set, among its namesakes that have ended or not as its status
 * says. 0 or -ENOMEM (the record is then found by id only). */
int agents_name_add(agent_t *a);
/* Removes the record (agents_agent_free). */
void agents_name_del(agent_t *a);
/* The status moved between ended and not ended: the record changes list (an agent that ends
 * goes last among the ended). agents_status_set calls it; code that sets a->status directly
 * must call it too. */
void agents_name_sync(agent_t *a);
/* A spawn's name check: NULL, or a 409 `name-taken` problem naming the agent (not ended) that
 * already has this name. */
problem_t *agents_name_check(agents_t *ag, const char *name);
/* What an endpoint's {id} names: the agent with that id; else the one agent not ended with that
 * name (409 `ambiguous-name` with `candidates` when there are several); else the one of that
 * name that ended last; else 404. NULL with *out set, or the problem. */
problem_t *agents_resolve(agents_t *ag, const char *handle, agent_t **out);

/* ---- agents.c: the registry of agents and their operations ---- */

agent_t *agents_find(agents_t *ag, const char *id);
/* The agent object every reply carries. New reference. */
json_t *agents_agent_json(const agent_t *a);
/* Fills k with what agents_agent_json(a) is built from: two equal keys give the same object.
 * Returns false when the state cannot be captured (an unusually long reason): render every
 * time then. A field added to the object must be added to the key too. */
bool agents_agent_key(const agent_t *a, agents_agent_key_t *k);
/* Spawns from a validated body. 0 with *out set (the agent may already be failed if the
 * program could not be executed), or a problem (422 field errors, 429 too many agents, 503
 * shutting down). */
problem_t *agents_spawn(agents_t *ag, const json_t *body, agent_t **out);
problem_t *agents_pause(agent_t *a, bool force);
problem_t *agents_resume(agent_t *a);
problem_t *agents_stop(agent_t *a, int64_t grace_ms);
problem_t *agents_kill(agent_t *a);
problem_t *agents_signal(agent_t *a, int sig);
problem_t *agents_stdin_write(agent_t *a, const char *data, size_t len, bool eof);
/* Kill and forget: the record goes now, the process is reaped in the background. */
void agents_forget(agent_t *a);
/* Runs a batch command on one agent (pause/resume/stop/kill/signal). */
problem_t *agents_command(agent_t *a, const char *command, const json_t *body);

/* Custom actions: built-ins answered here, others written to stdin and answered by the
 * agent's reply line (or a 504 after timeout_ms). Replies to req exactly once. */
void agents_action(agent_t *a, api_req_t *req, const char *name, json_t *params,
                   int64_t timeout_ms);

/* Moves to `to` if the state machine allows it: timestamps, persists, publishes
 * agent.<id>.status. Returns false (and changes nothing) when the move is not allowed. */
bool agents_status_set(agent_t *a, agents_status_t to, const char *reason);
/* A handle of the agent finished closing; frees a forgotten agent once nothing refers to it. */
void agents_agent_release(agent_t *a);
/* The process's pipes both reached EOF (or were closed). */
void agents_proc_drained(agent_t *a);
/* Output arrived: after the exit, the wait for EOF starts over. */
void agents_proc_output_seen(agent_t *a);

/* Starts the process (the spec's argv, cwd, env and limits). 0, or a negative errno with a
 * readable reason in why. The status is the caller's to set. */
int agents_proc_start(agent_t *a, char *why, size_t whylen);

/* Gives the agent a new spec (taken, also on failure): argv, name, cwd, labels, limits and
 * policy are rebuilt from it and the row's spec is written again. A running process keeps
 * what it was started with until it is started again. 0, or -EINVAL with why set (the agent
 * keeps its old spec). */
int agents_agent_respec(agent_t *a, json_t *spec, char *why, size_t whylen);

/* ---- agents_programs.c: programs from files, on the loop ---- */

/* The directory program files are read from (agents.programs, or <data-dir>/programs.d). */
const char *agents_programs_dir(const agents_t *ag, char *buf, size_t len);
/* Applies a set read by agents_programs_read (taken: it becomes the current one) and returns
 * what happened, [{program, action, agents:[{id, name, result, error?}]}]. boot: every program
 * is brought to its declaration, reusing agents of the previous run by program and name;
 * otherwise only programs added, changed or removed since the current set are touched. */
json_t *agents_programs_apply(agents_t *ag, json_t *set, bool boot);
/* At daemon start: reads the directory, logs each error (file:line), applies the rest. */
void agents_programs_boot(agents_t *ag);
/* {dir, programs:[{name, file, line, numprocs, autostart, argv, restart, agents:[…]}], errors}. */
json_t *agents_programs_json(agents_t *ag);
/* start | stop | restart the agents of program name; *out: {program, command, agents:[…]}.
 * 404 for an unknown program. */
problem_t *agents_program_command(agents_t *ag, const char *name, const char *cmd, json_t **out);
void agents_programs_fini(agents_t *ag);

/* ---- agents_restart.c: starting an agent again with the same id ---- */

/* Stops the agent with its own grace and starts it again with the same id and spec, whatever
 * its restart policy, counting a restart; reason (copied; NULL: "restarted on request") is the
 * agent's reason once it runs again, e.g. "memory 612 MB over max_memory_restart 500 MB". An
 * ended agent (or one waiting for a policy restart) is started at once; a live one goes to
 * stopping and is started when its process has ended. 0, -ENOENT (deleted), -ESHUTDOWN (the
 * daemon is shutting down), -EAGAIN (agents.max reached), -ENOEXEC (its stored spec cannot be
 * run by this version), -ENOMEM, or the start's negative errno (the agent is then failed). */
int agents_agent_restart(agents_t *ag, agent_t *a, const char *reason);
/* Starts an ended agent (completed, failed, terminated, lost) again with the same id and
 * spec, counting a restart. The codes of agents_agent_restart, and -EBUSY when it is not
 * ended. */
int agents_agent_start(agents_t *ag, agent_t *a, const char *reason);
/* The process of an agent with a restart pending has ended (why: how): starts it again.
 * Returns false when no restart was pending (the caller settles the end as usual). */
bool agents_restart_resume(agent_t *a, const char *why);
/* Daemon start: the agents the last run left alive (lost) or stopped at its shutdown whose
 * policy is always or on-failure are started again, keeping their ids. */
void agents_restart_revive(agents_t *ag);
/* The problem a client sees for a negative code of the functions above (what: "start"...). */
problem_t *agents_restart_problem(const agent_t *a, int rc, const char *what);

/* ---- agents_io.c: pipes, output lines, stdin, custom actions ---- */

/* Takes the parent ends (stdin write, stdout read, stderr read) and starts reading. 0 or a
 * negative uv error (the fds are closed either way). */
int agents_io_open(agent_t *a, int fd_in, int fd_out, int fd_err);
/* The read scheduler (budget per loop iteration) of the module. */
void agents_io_init(agents_t *ag);
void agents_io_fini(agents_t *ag);
#define AGENTS_READ_BUDGET (32 * 1024) /* output bytes handled per loop iteration */
/* Closes whatever pipes are still open (flushing partial lines first). */
void agents_io_close(agent_t *a);
/* Appends one record to the ring and publishes it (split and UTF-8 checks done by caller). */
void agents_output_line(agent_t *a, int stream, const char *p, size_t len, unsigned flags,
                        int64_t ts_ms);
/* One line's JSON {seq, stream, ts, text[, data_b64][, cont][, noeol]}. New reference. */
json_t *agents_line_json(const agent_t *a, const agents_line_t *l);
/* A text line's record as compact JSON (the object /output returns for it) at o, which has
 * room for AGENTS_LINE_JSON_FIXED + agents_json_escaped_len(text). Returns the end. */
#define AGENTS_LINE_JSON_FIXED 128
char *agents_line_json_write(char *o, const agents_line_t *l);
/* JSON string bodies written directly (hot paths that skip building jansson objects): the
 * bytes s[0..len) need between quotes (valid UTF-8 in; quote, backslash and control
 * characters escaped as jansson's compact dump does), and the writer (returns the end). */
size_t agents_json_escaped_len(const char *s, size_t len);
/* s[0..len) with every invalid UTF-8 byte (and NUL) replaced by U+FFFD, NUL-terminated, its
 * length in *out_len. Malloc'ed; NULL on OOM. */
char *agents_utf8_lossy(const char *s, size_t len, size_t *out_len);
char *agents_json_escape(char *o, const char *s, size_t len);
/* A JSON array text of the lines (in the given order), as json_dumps of their
 * agents_line_json() objects would give. Malloc'ed; NULL on OOM. */
char *agents_lines_json_text(const agents_line_t *const *lines, size_t n);
/* Fails every pending custom action of the agent (it ended). */
void agents_actions_fail(agent_t *a, int status, const char *slug, const char *detail);

/* ---- agents_store.c ---- */

/* Queues the agent's row to be written; the queue goes to the store as one transaction per
 * loop turn (one at a time, in order), each agent's row as it is at that moment, so several
 * transitions in one turn cost one row write. Final states add the output tail. */
void agents_store_save(agent_t *a);
/* Queues the deletion of the agent's row (DELETE /agents/{id}), after any queued write. */
void agents_store_delete(agents_t *ag, const char *id);
/* The save queue's handle (agents_start) and its end (agents_destroy: runs the loop until the
 * batch in flight is done, drops what was never written). */
void agents_store_init(agents_t *ag);
void agents_store_fini(agents_t *ag);
/* Forgets the ended agents no record in memory holds (ended agents that left memory, rows
 * beyond what the start loaded): on the thread pool, at most limit (<= AGENTS_PRUNE_MAX) rows that
 * ended at or before before_ms and have every label in match (owned; NULL: any) are deleted in one
 * transaction, and their log files; then done(count or a negative store error, ud) runs on
 * the loop. 0, or a negative error (done is not called). */
#define AGENTS_PRUNE_MAX 10000
int agents_store_prune(agents_t *ag, int64_t before_ms, json_t *match, int64_t limit,
                       void (*done)(int64_t n, void *ud), void *ud);
/* Retention (registered by agents_api.c), on the loop once per pass: ended agents that ended
 * retention.agents_max_age_s ago are forgotten — records, rows, tails and log files — at most
 * retention.batch in memory and as many rows not in memory; counted under "agents". */
void agents_retention_after(void *ud, const config_t *cfg, int64_t now_ms);
/* Rows still to write or being written (the shutdown drain waits for them). */
bool agents_store_busy(const agents_t *ag);
/* At start: marks rows of agents that were alive as lost and loads recent agents as records.
 * Runs before the loop serves anything, like the migrations. 0 or -1. */
int agents_store_load(agents_t *ag);
/* Builds an in-memory record (status given) for a row loaded from the store; NULL on OOM. */
agent_t *agents_record_new(agents_t *ag, const char *id, json_t *spec);

/* ---- agents_output.c: the output query and its grep ---- */

/* The lines of one or both rings after a seq, merged by seq. Valid while the loop does not
 * run (the rings change only on the loop thread). */
typedef struct agents_out_iter {
    const agents_ring_t *r[2];
    size_t i[2];
} agents_out_iter_t;
/* stream: "stdout", "stderr", or NULL for both. */
void agents_out_iter_init(agents_out_iter_t *it, const agent_t *a, const char *stream,
                          uint64_t since);
const agents_line_t *agents_out_iter_next(agents_out_iter_t *it);

/* The validated query of GET /agents/{id}/output. */
typedef struct agents_out_q {
    uint64_t since;
    int64_t offset, limit, tail; /* tail > 0: the last `tail` lines instead of offset/limit */
    const char *stream;          /* NULL for both; borrowed from the request */
} agents_out_q_t;

/* Replies with the page of lines q selects, without a pattern (on the loop: no matching). */
void agents_out_answer(agent_t *a, api_req_t *req, const agents_out_q_t *q);
/* The same filtered by a client's regular expression: compiled here (422 on the grep field
 * when invalid or too long), the lines copied, matched on the thread pool within the pattern's
 * limits (422 when they are exceeded), the reply sent from the loop; 503 with Retry-After when
 * agents.grep_jobs searches are already running. Replies to req exactly once; the agent may
 * go away before the reply (the snapshot answers). */
void agents_grep_start(agent_t *a, api_req_t *req, const char *pattern, const agents_out_q_t *q);
/* ---- agents_logfile.c: output on disk, rotated; agents_logquery.c: read back ---- */

#define AGENTS_LOG_FILES_MAX 100 /* agents.log_backups' maximum */
#define AGENTS_LOG_PATH_MAX  1024
/* <dir>/<id>.log, or <dir>/<id>.log.<i> for i > 0. 0 or -ENAMETOOLONG. */
int agents_log_path(const char *dir, const char *id, int i, char *out, size_t len);
/* <data-dir>/logs (0700). 0, or -1 when it cannot be made (then no files are written). */
int agents_logs_init(agents_t *ag);
/* Writes what is buffered and closes every file (shutdown). */
void agents_logs_fini(agents_t *ag);
/* Queues the line's record for the agent's log file (written at the end of the loop turn). */
void agents_log_line(agent_t *a, const agents_line_t *l);
/* Writes every agent's queued records: once per loop turn, after the reads, and before an
 * output reply (what a client saw survives a kill -9). */
void agents_logs_flush(agents_t *ag);
/* Writes the agent's queued records and closes its file (it ended, or is freed). */
void agents_log_close(agent_t *a);
/* Deletes the agent's files (<id>.log and its backups): the agent is forgotten. */
void agents_log_remove(agents_t *ag, const char *id);
/* The same given the directory: any thread. */
void agents_log_files_remove(const char *dir, const char *id);
/* True when q reaches lines the rings no longer hold and the files may have them. */
bool agents_log_wanted(const agent_t *a, const agents_out_q_t *q);
/* Answers q (re may be NULL; owned) from the log files on the thread pool, counted against
 * agents.grep_jobs; replies to req exactly once. */
void agents_log_query_start(agent_t *a, api_req_t *req, const agents_out_q_t *q, gregex_t *re);

/* ---- agents_ack.c: replies that wait for the commit of what they report ---- */
/* Replies to req with status and body (stolen; NULL: an empty reply) once every row write and
 * delete queued until now has been committed, or at once when nothing is queued (or there is
 * no store). If the write of agent id's row (id may be NULL) failed meanwhile — with any, if
 * any row failed — the reply is a 503 problem instead. Held replies are bounded by the
 * requests in flight. */
void agents_ack_reply(agents_t *ag, api_req_t *req, int status, json_t *body, const char *id,
                      bool any);
/* A batch finished: it had taken nsave rows and ndel deletes off the queues; failed holds the
 * ids whose write or delete did not commit. Releases the replies it completes. */
void agents_ack_batch_done(agents_t *ag, size_t nsave, size_t ndel, const char *const *failed,
                           size_t nfailed);
/* Shutdown: replies 503 to every reply still held (its write was never made). */
void agents_ack_fini(agents_t *ag);

/* ---- agents_usage.c: CPU and resident memory of live agents ---- */

/* Starts sampling every agents.sample_ms: /proc (or the agents' cgroups) read on the thread
 * pool, one job at a time; each sample updates a->usage, publishes agent.<id>.usage and feeds
 * the memory trigger. 0 or -ENOMEM. */
int agents_usage_init(agents_t *ag);
/* Stops sampling; waits for the job in flight (a bounded read). */
void agents_usage_fini(agents_t *ag);
/* The sample shown for a: NULL when there is none for its current process (before the
 * first, or once it ended). */
const agents_usage_t *agents_usage_of(const agent_t *a);
/* {"cpu_percent", "rss_bytes", "sampled_at"} or JSON null. New reference. */
json_t *agents_usage_json(const agent_t *a);
/* A cgroup v2 directory's CPU time (cpu.stat usage_usec) and resident memory: memory.stat's
 * anon plus file_mapped, what RSS counts (not the page cache memory.current also holds).
 * 0, or -ENOENT when a file or a line is missing. Blocking reads: thread pool or tests. */
int agents_usage_cgroup_read(const char *dir, uint64_t *cpu_ns, uint64_t *rss_bytes);

/* ---- agents_triggers.c: restarts on memory, a cron schedule, and file changes ---- */

/* Checks the trigger fields of a spawn body (max_memory_restart, cron, watch); adds field
 * errors to *p (created when NULL). cwd resolves relative watch paths. */
void agents_triggers_check(const json_t *body, const char *cwd, problem_t **p);
/* The agent's status moved: its triggers are armed when it becomes live and released when it
 * ends (a restart keeps them). */
void agents_triggers_on_status(agent_t *a, agents_status_t from, agents_status_t to);
/* A new usage sample arrived: restarts the agent when it is over max_memory_restart. */
void agents_triggers_usage(agent_t *a);
/* The record is freed: its triggers go (their handles close in the background). */
void agents_triggers_free(agent_t *a);
/* max_memory_restart's value: an integer number of bytes, or a string, a whole number with an
 * optional unit K, M, G or T (powers of 1024; "KB", "MiB" and the like read the same).
 * 0 or -EINVAL. */
int agents_bytes_parse(const json_t *v, uint64_t *out);
/* Whether rel (a path relative to a watched path) matches one of the ignore globs (a JSON
 * array of strings): a pattern without '/' is matched against each component ("*.pyc",
 * "node_modules" anywhere), one with '/' against the whole path and every tail of it that
 * starts at a component ("a/" followed by "**" also matches the directory a itself; a leading
 * '/' anchors at the watched path). */
bool agents_watch_ignored(const json_t *ignore, const char *rel);

/* ---- agents_api.c ---- */
void agents_metrics_collect(strbuf_t *out, void *ud);

/* ---- programs_api.c: /api/v1/programs (registered by agents_api_register) ---- */
int programs_api_register(struct hub *hub);

#endif
