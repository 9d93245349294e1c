/* The agent supervisor: the records of agents, their processes (vfork + setrlimit + execve, one
 * process group each), reaping through SIGCHLD, the lifecycle with its reasons, stop escalation,
 * wall-clock timeouts, restart policies with backoff and a crash-loop cap, daemon shutdown. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agents/agents_internal.h"
#include "core/bus.h"
#include "core/child.h"
#include "core/clock.h"
#include "core/htab.h"
#include "core/hub.h"
#include "core/log.h"
#include "core/metrics.h"

extern char **environ;

#define AGENTS_DRAIN_MS 1000 /* after the exit, wait this long for the pipes' EOF */

/* ---- records ---- */

/* ---- the id index: every record in memory by id (core/htab), so that a lookup and the new
 * id's uniqueness check do not walk up to 3000 records on every request and spawn ---- */

static const void *agents_idx_key(const void *item, size_t *len)
{
    const agent_t *a = item;
    *len = strlen(a->id);
    return a->id;
}

static agent_t *agents_idx_get(const agents_t *ag, const char *id)
{
    return htab_get_str(ag->by_id, id);
}

/* Adds a record whose id is set and unique. 0 or -ENOMEM. */
static int agents_idx_put(agents_t *ag, agent_t *a)
{
    int rc = htab_put(ag->by_id, a);
    assert(rc != -EEXIST);
    if (rc == 0)
        a->indexed = true;
    return rc;
}

static void agents_idx_del(agents_t *ag, agent_t *a)
{
    if (!a->indexed)
        return;
    agent_t *gone = htab_del(ag->by_id, a->id, strlen(a->id));
    assert(gone == a);
    (void)gone;
    a->indexed = false;
}

agent_t *agents_find(agents_t *ag, const char *id)
{
    if (!ag || !id)
        return NULL;
    agent_t *a = agents_idx_get(ag, id);
    return a && !a->forget ? a : NULL;
}

static void agents_on_handle_closed(uv_handle_t *h)
{
    agent_t *a = h->data;
    a->pending_close--;
    agents_agent_release(a);
}

static void agents_agent_free(agent_t *a)
{
    agents_t *ag = a->owner;
    agents_idx_del(ag, a);
    agents_name_del(a);
    if (a->prev)
        a->prev->next = a->next;
    else
        ag->head = a->next;
    if (a->next)
        a->next->prev = a->prev;
    else
        ag->tail = a->prev;
    ag->count--;
    agents_log_close(a);
    free(a->log.buf);
    for (int s = 0; s < 2; s++) {
        agents_ring_free(&a->ring[s]);
        strbuf_free(&a->part[s]);
    }
    json_decref(a->spec);
    agents_argv_free(a->argv);
    free(a->name);
    free(a->reason);
    free(a->restart_reason);
    free(a->cwd);
    if (a->cg_dir)
        (void)rmdir(a->cg_dir);
    free(a->cg_dir);
    agents_triggers_free(a);
    free(a);
}

void agents_agent_release(agent_t *a)
{
    if (a->forget && a->pending_close == 0 && !a->save_queued && a->pid == 0 && !a->in_open &&
        !a->out_open && !a->err_open)
        agents_agent_free(a);
}

/* Allocates a record with its timers; it is appended to the list. */
static agent_t *agents_agent_alloc(agents_t *ag, json_t *spec)
{
    agent_t *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->owner = ag;
    a->spec = spec;
    a->exit_code = -1;
    a->log.fd = -1;
    for (int s = 0; s < 2; s++) {
        agents_ring_init(&a->ring[s], ag->ring_bytes);
        strbuf_init(&a->part[s], ag->line_max + 1);
    }
    uv_timer_init(ag->hub->loop, &a->timer);
    uv_timer_init(ag->hub->loop, &a->stop_timer);
    a->timer.data = a->stop_timer.data = a;
    uv_unref((uv_handle_t *)&a->timer);
    uv_unref((uv_handle_t *)&a->stop_timer);
    a->prev = ag->tail;
    if (ag->tail)
        ag->tail->next = a;
    else
        ag->head = a;
    ag->tail = a;
    ag->count++;
    return a;
}

/* Closes the timers (the last step before a forgotten record is freed). */
static void agents_agent_close_timers(agent_t *a)
{
    if (!uv_is_closing((uv_handle_t *)&a->timer)) {
        a->pending_close++;
        uv_close((uv_handle_t *)&a->timer, agents_on_handle_closed);
    }
    if (!uv_is_closing((uv_handle_t *)&a->stop_timer)) {
        a->pending_close++;
        uv_close((uv_handle_t *)&a->stop_timer, agents_on_handle_closed);
    }
}

static void agents_limits_read(agents_limits_t *l, const json_t *lim)
{
    memset(l, 0, sizeof *l);
    l->memory_mb = json_integer_value(json_object_get(lim, "memory_mb"));
    l->cpu_s = json_integer_value(json_object_get(lim, "cpu_s"));
    l->nofile = json_integer_value(json_object_get(lim, "nofile"));
    l->cpu_percent = json_integer_value(json_object_get(lim, "cpu_percent"));
    json_t *t = json_object_get(lim, "timeout_s");
    if (t)
        l->timeout_ms = (int64_t)(json_number_value(t) * 1000.0 + 0.5);
    if (t && l->timeout_ms < 1)
        l->timeout_ms = 1;
}

/* Fills the fields derived from the spec. -1 with err/field set when the command line cannot
 * be built. */
static int agents_agent_configure(agent_t *a, char *err, size_t errlen, const char **field)
{
    agents_t *ag = a->owner;
    const json_t *spec = a->spec;
    a->argv = agents_argv_build(spec, err, errlen, field);
    if (!a->argv)
        return -1;
    a->name = strdup(json_string_value(json_object_get(spec, "name")));
    a->labels = json_object_get(spec, "labels");
    const char *cwd = json_string_value(json_object_get(spec, "cwd"));
    a->cwd = strdup(cwd ? cwd : ag->hub->cfg.data_dir);
    agents_limits_read(&a->limits, json_object_get(spec, "limits"));
    const char *r = json_string_value(json_object_get(spec, "restart"));
    a->restart = !r || !strcmp(r, "never") ? AGENTS_RESTART_NEVER
                 : !strcmp(r, "always")    ? AGENTS_RESTART_ALWAYS
                                           : AGENTS_RESTART_ON_FAILURE;
    json_t *v = json_object_get(spec, "restart_max");
    a->restart_max = v ? (int)json_integer_value(v) : 5;
    v = json_object_get(spec, "restart_window_s");
    a->restart_window_ms = (v ? json_integer_value(v) : 60) * 1000;
    v = json_object_get(spec, "stop_grace_ms");
    a->stop_grace_ms = v ? json_integer_value(v) : -1;
    if (!a->name || !a->cwd) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int agents_agent_respec(agent_t *a, json_t *spec, char *why, size_t whylen)
{
    const char *field;
    char **check = agents_argv_build(spec, why, whylen, &field);
    if (!check) {
        json_decref(spec);
        return -EINVAL;
    }
    agents_argv_free(check);
    json_t *old_spec = a->spec;
    char **old_argv = a->argv;
    char *old_name = a->name, *old_cwd = a->cwd;
    a->spec = spec;
    a->argv = NULL;
    a->name = a->cwd = NULL;
    if (agents_agent_configure(a, why, whylen, &field) < 0) {
        /* out of memory: the old spec and what was built from it stay */
        agents_argv_free(a->argv);
        free(a->name);
        free(a->cwd);
        json_decref(spec);
        a->spec = old_spec;
        a->argv = old_argv;
        a->name = old_name;
        a->cwd = old_cwd;
        a->labels = json_object_get(old_spec, "labels");
        return -EINVAL;
    }
    json_decref(old_spec);
    agents_argv_free(old_argv);
    free(old_name);
    free(old_cwd);
    a->spec_version++;
    a->spec_stored = false; /* the next write carries the new spec */
    agents_store_save(a);
    return 0;
}

agent_t *agents_record_new(agents_t *ag, const char *id, json_t *spec)
{
    agent_t *a = agents_agent_alloc(ag, spec);
    if (!a) {
        json_decref(spec);
        return NULL;
    }
    snprintf(a->id, sizeof a->id, "%s", id);
    if (agents_idx_get(ag, a->id) || agents_idx_put(ag, a) < 0) {
        /* a duplicate cannot come from the table (id is its key); out of memory can. The
         * record goes once its timers are closed. */
        a->forget = true;
        agents_agent_close_timers(a);
        return NULL;
    }
    char err[128];
    const char *field;
    if (agents_agent_configure(a, err, sizeof err, &field) < 0) {
        /* a row written by another version: keep what can be shown */
        if (!a->name)
            a->name = strdup(json_string_value(json_object_get(spec, "name"))
                                 ? json_string_value(json_object_get(spec, "name"))
                                 : "");
    }
    a->persisted = true;
    a->spec_stored = true; /* its row exists */
    /* every row loaded has ended (agents_store_load makes the others lost): indexed as such */
    a->status = AGENTS_LOST;
    if (agents_name_add(a) < 0)
        log_warn(NULL, "agents: the agent is found by id only (out of memory)", "{s:s}", "agent",
                 a->id);
    return a;
}

/* ---- the agent object ---- */

static json_t *agents_time_json(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    char buf[64];
    return json_string(clock_rfc3339(ms, buf, sizeof buf));
}

json_t *agents_agent_json(const agent_t *a)
{
    char sbuf[32];
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(a->id));
    json_object_set_new(o, "name", json_string(a->name ? a->name : ""));
    json_object_set_new(o, "status", json_string(agents_status_name(a->status)));
    json_object_set_new(o, "pid", a->pid ? json_integer(a->pid) : json_null());
    json_object_set_new(o, "exit_code",
                        a->exit_code >= 0 ? json_integer(a->exit_code) : json_null());
    json_object_set_new(o, "signal",
                        a->term_signal
                            ? json_string(agents_signal_name(a->term_signal, sbuf, sizeof sbuf))
                            : json_null());
    json_object_set_new(o, "reason", a->reason ? json_string(a->reason) : json_null());
    json_t *labels = json_object_get(a->spec, "labels");
    json_object_set_new(o, "labels", labels ? json_deep_copy(labels) : json_object());
    json_t *caps = json_object_get(a->spec, "capabilities");
    json_object_set_new(o, "capabilities", caps ? json_deep_copy(caps) : json_array());
    json_t *argv = json_array();
    for (size_t i = 0; a->argv && a->argv[i]; i++)
        json_array_append_new(argv, json_string(a->argv[i]));
    json_object_set_new(o, "argv", argv);
    json_object_set_new(o, "cwd", a->cwd ? json_string(a->cwd) : json_null());
    const char *preset = json_string_value(json_object_get(a->spec, "preset"));
    json_object_set_new(o, "preset", preset ? json_string(preset) : json_null());
    json_t *lim = json_object_get(a->spec, "limits");
    json_object_set_new(o, "limits", lim ? json_deep_copy(lim) : json_object());
    static const char *const rnames[] = {"never", "on-failure", "always"};
    json_object_set_new(o, "restart", json_string(rnames[a->restart]));
    json_object_set_new(o, "restarts", json_integer(a->restarts));
    json_object_set_new(o, "paused_mode",
                        a->status == AGENTS_PAUSED
                            ? json_string(a->forced_pause ? "forced" : "cooperative")
                            : json_null());
    json_object_set_new(o, "created_at", agents_time_json(a->created_ms));
    json_object_set_new(o, "started_at", agents_time_json(a->started_ms));
    json_object_set_new(o, "ended_at", agents_time_json(a->ended_ms));
    json_object_set_new(o, "status_at", agents_time_json(a->status_ms));
    json_object_set_new(o, "lost_at", agents_time_json(a->lost_ms));
    json_object_set_new(o, "usage", agents_usage_json(a));
    const char *owner = json_string_value(json_object_get(a->spec, "owner"));
    const char *team = json_string_value(json_object_get(a->spec, "team"));
    json_object_set_new(o, "owner", owner ? json_string(owner) : json_null());
    json_object_set_new(o, "team", team ? json_string(team) : json_null());
    json_object_set_new(o, "output",
                        json_pack("{s:I,s:I,s:I,s:I,s:I}", "stdout_lines",
                                  (json_int_t)a->lines_total[0], "stderr_lines",
                                  (json_int_t)a->lines_total[1], "stdout_bytes",
                                  (json_int_t)a->bytes_total[0], "stderr_bytes",
                                  (json_int_t)a->bytes_total[1], "last_seq", (json_int_t)a->seq));
    return o;
}

bool agents_agent_key(const agent_t *a, agents_agent_key_t *k)
{
    memset(k, 0, sizeof *k);
    k->spec = a->spec;
    k->name = a->name;
    k->argv = a->argv;
    k->cwd = a->cwd;
    k->spec_version = a->spec_version;
    k->created_ms = a->created_ms;
    k->started_ms = a->started_ms;
    k->ended_ms = a->ended_ms;
    k->status_ms = a->status_ms;
    k->lost_ms = a->lost_ms;
    for (int s = 0; s < 2; s++) {
        k->lines_total[s] = a->lines_total[s];
        k->bytes_total[s] = a->bytes_total[s];
    }
    k->seq = a->seq;
    k->status = (int)a->status;
    k->restart = (int)a->restart;
    k->restarts = a->restarts;
    k->pid = (int)a->pid;
    k->exit_code = a->exit_code;
    k->term_signal = a->term_signal;
    k->forced_pause = a->forced_pause;
    const agents_usage_t *u = agents_usage_of(a);
    k->usage_ms = u ? u->sampled_ms : 0;
    k->valid = true;
    if (a->reason) {
        size_t n = strlen(a->reason);
        if (n >= sizeof k->reason)
            return false;
        memcpy(k->reason, a->reason, n + 1);
    }
    return true;
}

/* ---- lifecycle ---- */

static void agents_reason_set(agent_t *a, const char *reason)
{
    if (!reason)
        return;
    /* a reason cut by a bounded snprintf can end inside a character: kept as valid UTF-8, so
     * that every event and reply carries it as it is */
    size_t n = strlen(reason);
    char *r = agents_utf8_valid(reason, n) ? strdup(reason) : agents_utf8_lossy(reason, n, &n);
    if (r) {
        free(a->reason);
        a->reason = r;
    }
}

/* Ended agents stay queryable, but only the most recent AGENTS_KEEP_FINISHED in memory (their
 * rows stay in the store): a daemon that runs many short agents does not grow without bound. */
static void agents_trim_finished(agents_t *ag, const agent_t *keep)
{
    if (ag->count <= AGENTS_KEEP_FINISHED)
        return; /* fewer records than the bound: no walk needed (one per ended agent) */
    size_t finished = 0;
    for (agent_t *x = ag->head; x; x = x->next)
        if (!x->forget && agents_status_final(x->status))
            finished++;
    for (agent_t *x = ag->head, *next; x && finished > AGENTS_KEEP_FINISHED; x = next) {
        next = x->next;
        if (x == keep || x->forget || !agents_status_final(x->status) || x->pid || x->exited)
            continue;
        finished--;
        x->forget = true;
        agents_io_close(x);
        agents_agent_close_timers(x);
        agents_agent_release(x);
    }
}

/* The status event's JSON written directly (three of them per short agent). The name came in
 * as a JSON string and the reason is kept valid UTF-8 (agents_reason_set), so both go in as
 * they are. NULL on OOM. */
static char *agents_status_event_text(const agent_t *a, agents_status_t from, agents_status_t to,
                                      size_t *out_len)
{
    const char *name = a->name ? a->name : "";
    size_t nl = strlen(name), rl = a->reason ? strlen(a->reason) : 0;
    size_t cap = agents_json_escaped_len(name, nl) + agents_json_escaped_len(a->reason, rl) + 256;
    char *buf = malloc(cap), *o = buf;
    if (!buf)
        return NULL;
    o += snprintf(o, cap, "{\"id\":\"%s\",\"name\":\"", a->id);
    o = agents_json_escape(o, name, nl);
    o += snprintf(o, cap - (size_t)(o - buf),
                  "\",\"status\":\"%s\",\"previous\":\"%s\",\"ts\":%" PRId64,
                  agents_status_name(to), agents_status_name(from), a->status_ms);
    if (a->reason) {
        o = mempcpy(o, ",\"reason\":\"", 11);
        o = agents_json_escape(o, a->reason, rl);
        *o++ = '"';
    }
    if (a->pid)
        o += snprintf(o, cap - (size_t)(o - buf), ",\"pid\":%d", (int)a->pid);
    if (a->exit_code >= 0 && agents_status_final(to))
        o += snprintf(o, cap - (size_t)(o - buf), ",\"exit_code\":%d", a->exit_code);
    if (a->term_signal && agents_status_final(to)) {
        char sbuf[32];
        o += snprintf(o, cap - (size_t)(o - buf), ",\"signal\":\"%s\"",
                      agents_signal_name(a->term_signal, sbuf, sizeof sbuf));
    }
    *o++ = '}';
    *o = '\0';
    *out_len = (size_t)(o - buf);
    return buf;
}

static void agents_status_publish(agent_t *a, agents_status_t from, agents_status_t to)
{
    char topic[64];
    snprintf(topic, sizeof topic, "agent.%s.status", a->id);
    size_t n = 0;
    char *text = agents_status_event_text(a, from, to, &n);
    if (!text) {
        log_warn(NULL, "agents: status event not published (out of memory)", "{s:s}", "agent",
                 a->id);
        return;
    }
    bus_publish_text(a->owner->hub->bus, topic, text, n);
    free(text);
}

bool agents_status_set(agent_t *a, agents_status_t to, const char *reason)
{
    agents_t *ag = a->owner;
    agents_status_t from = a->status;
    if (from == to) {
        agents_reason_set(a, reason);
        return true;
    }
    if (!agents_transition_allowed(from, to)) {
        log_warn(NULL, "agents: transition refused", "{s:s,s:s,s:s}", "agent", a->id, "from",
                 agents_status_name(from), "to", agents_status_name(to));
        return false;
    }
    bool was_live = agents_status_live(from), live = agents_status_live(to);
    if (was_live && !live)
        ag->live--;
    else if (!was_live && live)
        ag->live++;
    a->status = to;
    agents_name_sync(a);
    a->status_ms = clock_wall_ms();
    if (!reason &&
        (to == AGENTS_INITIALIZING || (to == AGENTS_RUNNING && from != AGENTS_THINKING))) {
        /* a (re)start says nothing more: the reason of the exit or pause before it is stale */
        free(a->reason);
        a->reason = NULL;
    }
    agents_reason_set(a, reason);
    if (agents_status_final(to))
        a->ended_ms = a->status_ms;
    agents_store_save(a);
    if (agents_status_final(to))
        agents_trim_finished(ag, a);
    if (ag->hub->bus)
        agents_status_publish(a, from, to);
    agents_triggers_on_status(a, from, to);
    if (ag->hub->metrics)
        metrics_gauge_set(ag->hub->metrics, "ganglion_agents_active", NULL, (double)ag->live);
    return true;
}

/* ---- spawning ---- */

typedef struct agents_exec {
    const char *path;
    char **argv;
    char **envp;
    const char *cwd;
    int fd[3];
    struct rlimit as, cpu, nofile;
    bool has_as, has_cpu;
    int cg_fd; /* the agent cgroup's cgroup.procs, or -1 */
    bool setid;
    uid_t uid;
    gid_t gid;
    pid_t parent;     /* the daemon */
    bool pdeathsig;   /* SIGKILL when the daemon dies (agents.orphans = stop) */
    volatile int err; /* written by the child (shared memory under vfork) */
    volatile int step;
} agents_exec_t;

enum {
    AGENTS_STEP_SETSID = 1,
    AGENTS_STEP_DUP,
    AGENTS_STEP_RLIMIT,
    AGENTS_STEP_CHDIR,
    AGENTS_STEP_SETID,
    AGENTS_STEP_EXEC,
    AGENTS_STEP_CGROUP,
    AGENTS_STEP_PRCTL
};

/* The child between vfork and execve: it shares the parent's memory, so it only makes system
 * calls (no malloc, no stdio, no locks) and reports a failure through x->err. Signal
 * dispositions are per process under vfork, so resetting them here leaves the parent's. */
__attribute__((noinline, noreturn)) static void agents_child(agents_exec_t *x)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            (void)sigaction(s, &sa, NULL); /* glibc's reserved signals fail: fine */
    int step = AGENTS_STEP_SETSID;
    if (setsid() < 0)
        goto fail;
    step = AGENTS_STEP_DUP;
    for (int i = 0; i < 3; i++)
        if (dup2(x->fd[i], i) < 0)
            goto fail;
    step = AGENTS_STEP_CGROUP;
    if (x->cg_fd >= 0) {
        /* join the agent's cgroup before anything runs in it: "0" written to cgroup.procs
         * moves the writing process */
        if (write(x->cg_fd, "0", 1) < 0)
            goto fail;
    }
    step = AGENTS_STEP_RLIMIT;
    if (x->has_as && setrlimit(RLIMIT_AS, &x->as) < 0)
        goto fail;
    if (x->has_cpu && setrlimit(RLIMIT_CPU, &x->cpu) < 0)
        goto fail;
    if (setrlimit(RLIMIT_NOFILE, &x->nofile) < 0)
        goto fail;
    step = AGENTS_STEP_CHDIR;
    if (chdir(x->cwd) < 0)
        goto fail;
    step = AGENTS_STEP_SETID;
    /* raw system calls: glibc's set*id wrappers would signal the parent's threads */
    if (x->setid && (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setgid, x->gid) < 0 ||
                     syscall(SYS_setuid, x->uid) < 0))
        goto fail;
    /* After the credentials change (which clears a parent-death signal). The main process is
     * the subreaper of its own descendants, so one that daemonizes (setsid, double fork) stays
     * in the agent's tree while it runs and comes to the daemon, not to init, when it exits. */
    step = AGENTS_STEP_PRCTL;
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        goto fail;
    /* The signal fires when the thread that spawned dies: that is the loop thread, which
     * lives as long as the daemon. A daemon killed before this line is seen by getppid. */
    if (x->pdeathsig && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        goto fail;
    if (x->pdeathsig && getppid() != x->parent) {
        errno = ESRCH;
        goto fail;
    }
#ifdef SYS_close_range
    /* anything a library left inheritable: close on exec (kernel 5.11+, else ignored) */
    (void)syscall(SYS_close_range, 3u, ~0u, 4u /* CLOSE_RANGE_CLOEXEC */);
#endif
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    step = AGENTS_STEP_EXEC;
    execve(x->path, x->argv, x->envp);
fail:
    x->err = errno;
    x->step = step;
    _exit(127);
}

/* vfork on purpose: no copy of the daemon's page tables per spawn, and the parent learns the
 * execve's failure from x->err. posix_spawn cannot set the rlimits, the cgroup, the
 * subreaper flag and the parent-death signal the child needs; agents_child makes only system
 * calls (above). */
__attribute__((noinline)) static pid_t agents_vfork(agents_exec_t *x)
{
    pid_t pid = vfork(); // NOLINT(clang-analyzer-security.insecureAPI.vfork): see above
    if (pid == 0)
        agents_child(x); // NOLINT(clang-analyzer-unix.Vfork): system calls only, then _exit
    return pid;
}

/* Resolves the program like execvp would, in the parent (the child must not allocate). */
static int agents_path_resolve(const char *prog, const char *pathvar, char *out, size_t len)
{
    if (strchr(prog, '/')) {
        snprintf(out, len, "%s", prog);
        return access(out, X_OK) == 0 ? 0 : -errno;
    }
    if (!pathvar)
        pathvar = "/usr/local/bin:/usr/bin:/bin";
    int err = -ENOENT;
    const char *p = pathvar;
    while (*p) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if ((size_t)snprintf(out, len, "%.*s/%s", (int)n, n ? p : ".", prog) < len) {
            if (access(out, X_OK) == 0)
                return 0;
            if (errno == EACCES)
                err = -EACCES;
        }
        p += n;
        if (*p == ':')
            p++;
    }
    return err;
}

/* The environment: the daemon's, then the spec's env, then AGENT_ID, AGENT_NAME,
 * AGENT_CONTEXT and TRACEPARENT (the spawn request's trace with a span of its own, unless the
 * spec's env names one). One allocation holding pointers; strings are the daemon's or the
 * spec's. */
static char **agents_envp_build(agent_t *a, char **owned, size_t nowned_max, size_t *nowned)
{
    json_t *env = json_object_get(a->spec, "env");
    size_t n = 0;
    for (char **e = environ; e && *e; e++)
        n++;
    n += json_object_size(env) + 5;
    const char *tp = json_string_value(json_object_get(a->spec, "traceparent"));
    if (json_object_get(env, "TRACEPARENT"))
        tp = NULL;
    char **envp = calloc(n + 1, sizeof *envp);
    if (!envp)
        return NULL;
    size_t k = 0;
    *nowned = 0;
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        size_t kl = eq ? (size_t)(eq - *e) : strlen(*e);
        bool replaced = false;
        const char *key;
        json_t *v;
        json_object_foreach(env, key, v)
        {
            if (strlen(key) == kl && strncmp(key, *e, kl) == 0)
                replaced = true;
        }
        if ((kl == 8 && !strncmp(*e, "AGENT_ID", 8)) ||
            (kl == 10 && !strncmp(*e, "AGENT_NAME", 10)) ||
            (kl == 13 && !strncmp(*e, "AGENT_CONTEXT", 13)) ||
            (tp && kl == 11 && !strncmp(*e, "TRACEPARENT", 11)))
            replaced = true;
        if (!replaced)
            envp[k++] = *e;
    }
    const char *key;
    json_t *v;
    char *s;
    json_object_foreach(env, key, v)
    {
        if (*nowned < nowned_max && asprintf(&s, "%s=%s", key, json_string_value(v)) >= 0)
            envp[k++] = owned[(*nowned)++] = s;
    }
    if (*nowned < nowned_max && asprintf(&s, "AGENT_ID=%s", a->id) >= 0)
        envp[k++] = owned[(*nowned)++] = s;
    if (*nowned < nowned_max && asprintf(&s, "AGENT_NAME=%s", a->name) >= 0)
        envp[k++] = owned[(*nowned)++] = s;
    const char *ctx = json_string_value(json_object_get(a->spec, "context"));
    if (ctx && *nowned < nowned_max && asprintf(&s, "AGENT_CONTEXT=%s", ctx) >= 0)
        envp[k++] = owned[(*nowned)++] = s;
    if (tp && *nowned < nowned_max && asprintf(&s, "TRACEPARENT=%s", tp) >= 0)
        envp[k++] = owned[(*nowned)++] = s;
    envp[k] = NULL;
    return envp;
}

/* A pipe end below 3 would be overwritten by the child's dup2 of another: move it up. */
static int agents_fd_high(int fd)
{
    if (fd >= 3)
        return fd;
    int n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return n;
}

static void agents_on_timeout(uv_timer_t *t);

/* A program's `user` (agents_programs_file.c checked that a switch is possible when it was
 * read): its uid and primary group, looked up at each start. */
static int agents_user_resolve(const agent_t *a, bool *setid, uid_t *uid, gid_t *gid, char *why,
                               size_t whylen)
{
    const char *user = json_string_value(json_object_get(a->spec, "user"));
    if (!user)
        return 0;
    struct passwd pw, *res = NULL;
    char buf[4096];
    if (getpwnam_r(user, &pw, buf, sizeof buf, &res) != 0 || !res) {
        snprintf(why, whylen, "run as %s: no such user", user);
        return -ENOENT;
    }
    if (res->pw_uid == geteuid())
        return 0;
    if (geteuid() != 0) {
        snprintf(why, whylen, "run as %s: the daemon is not root and cannot switch users", user);
        return -EPERM;
    }
    *setid = true;
    *uid = res->pw_uid;
    *gid = res->pw_gid;
    return 0;
}

int agents_proc_start(agent_t *a, char *why, size_t whylen)
{
    agents_t *ag = a->owner;
    char path[4096];
    const char *envpath =
        json_string_value(json_object_get(json_object_get(a->spec, "env"), "PATH"));
    int rc = agents_path_resolve(a->argv[0], envpath ? envpath : getenv("PATH"), path, sizeof path);
    if (rc < 0) {
        snprintf(why, whylen, "cannot execute %s: %s", a->argv[0], strerror(-rc));
        return rc;
    }
    struct stat st;
    if (stat(a->cwd, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(why, whylen, "working directory %s: %s", a->cwd,
                 errno && !S_ISDIR(st.st_mode) ? strerror(errno) : "not a directory");
        return -ENOTDIR;
    }
    int p_in[2], p_out[2], p_err[2];
    if (pipe2(p_in, O_CLOEXEC) < 0) {
        snprintf(why, whylen, "pipe: %s", strerror(errno));
        return -errno;
    }
    if (pipe2(p_out, O_CLOEXEC) < 0) {
        rc = -errno;
        close(p_in[0]);
        close(p_in[1]);
        snprintf(why, whylen, "pipe: %s", strerror(-rc));
        return rc;
    }
    if (pipe2(p_err, O_CLOEXEC) < 0) {
        rc = -errno;
        close(p_in[0]);
        close(p_in[1]);
        close(p_out[0]);
        close(p_out[1]);
        snprintf(why, whylen, "pipe: %s", strerror(-rc));
        return rc;
    }
    agents_exec_t x;
    memset(&x, 0, sizeof x);
    x.fd[0] = agents_fd_high(p_in[0]);
    x.fd[1] = agents_fd_high(p_out[1]);
    x.fd[2] = agents_fd_high(p_err[1]);
    x.path = path;
    x.argv = a->argv;
    x.cwd = a->cwd;
    char *owned[300];
    size_t nowned = 0;
    x.envp = agents_envp_build(a, owned, sizeof owned / sizeof owned[0], &nowned);
    if (a->limits.memory_mb) {
        x.has_as = true;
        x.as.rlim_cur = x.as.rlim_max = (rlim_t)a->limits.memory_mb * 1024 * 1024;
    }
    if (a->limits.cpu_s) {
        x.has_cpu = true;
        x.cpu.rlim_cur = (rlim_t)a->limits.cpu_s;
        x.cpu.rlim_max = (rlim_t)a->limits.cpu_s + 1; /* SIGXCPU first, SIGKILL a second later */
    }
    struct rlimit cur;
    getrlimit(RLIMIT_NOFILE, &cur);
    x.nofile.rlim_max = cur.rlim_max;
    x.nofile.rlim_cur = a->limits.nofile ? (rlim_t)a->limits.nofile : ag->nofile_soft;
    if (x.nofile.rlim_cur > x.nofile.rlim_max)
        x.nofile.rlim_cur = x.nofile.rlim_max;
    if (a->limits.nofile && (rlim_t)a->limits.nofile < x.nofile.rlim_max)
        x.nofile.rlim_max = (rlim_t)a->limits.nofile;
    x.setid = ag->setid;
    x.uid = ag->uid;
    x.gid = ag->gid;
    rc = agents_user_resolve(a, &x.setid, &x.uid, &x.gid, why, whylen);
    if (rc < 0) {
        close(x.fd[0]);
        close(x.fd[1]);
        close(x.fd[2]);
        close(p_in[1]);
        close(p_out[0]);
        close(p_err[0]);
        for (size_t i = 0; i < nowned; i++)
            free(owned[i]);
        free(x.envp);
        return rc;
    }
    x.parent = getpid();
    x.pdeathsig = !ag->orphans_leave;
    x.cg_fd = -1;
    int cg_rc =
        0; /* the limits were asked for and cannot be applied: refuse, never run unbounded */
    /* every agent gets a cgroup when one can be made: it holds all of the agent's processes,
     * whatever sessions and groups they make, and ends them together */
    if (ag->cgroup_v2) {
        char cg[1100], procs[1200];
        cg_rc = agents_cgroup_create(ag->cgroup_dir, a->id, a->limits.memory_mb,
                                     a->limits.cpu_percent, cg, sizeof cg);
        snprintf(procs, sizeof procs, "%s/cgroup.procs", cg);
        if (cg_rc == 0 && (x.cg_fd = open(procs, O_WRONLY | O_CLOEXEC)) < 0)
            cg_rc = -errno;
        if (cg_rc == 0 && !a->cg_dir && !(a->cg_dir = strdup(cg)))
            cg_rc = -ENOMEM;
        if (cg_rc < 0 && !a->limits.memory_mb && !a->limits.cpu_percent) {
            /* no limit was asked for: the agent runs without a cgroup (its tree is still
             * held by the subreapers) rather than not at all */
            log_warn(NULL, "agents: no cgroup for the agent", "{s:s,s:s}", "agent", a->id, "error",
                     strerror(-cg_rc));
            if (x.cg_fd >= 0)
                close(x.cg_fd);
            x.cg_fd = -1;
            if (a->cg_dir) {
                (void)rmdir(a->cg_dir);
                free(a->cg_dir);
                a->cg_dir = NULL;
            }
            cg_rc = 0;
        }
    }

    pid_t pid = -1;
    if (cg_rc == 0 && x.envp && x.fd[0] >= 0 && x.fd[1] >= 0 && x.fd[2] >= 0) {
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pid = agents_vfork(&x);
        int e = errno;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        errno = e;
    }
    rc = cg_rc ? cg_rc : pid < 0 ? -errno : 0;
    for (size_t i = 0; i < nowned; i++)
        free(owned[i]);
    free(x.envp);
    close(x.fd[0]);
    close(x.fd[1]);
    close(x.fd[2]);
    if (x.cg_fd >= 0)
        close(x.cg_fd);
    if (pid < 0) {
        close(p_in[1]);
        close(p_out[0]);
        close(p_err[0]);
        if (cg_rc)
            snprintf(why, whylen, "cannot apply the cgroup limits: %s", strerror(-cg_rc));
        else
            snprintf(why, whylen, "cannot create the process: %s", strerror(-rc ? -rc : ENOMEM));
        return rc ? rc : -ENOMEM;
    }
    if (x.err) {
        /* the child failed before or at execve and has exited: reap it now */
        static const char *const steps[] = {"",          "setsid",       "dup2",
                                            "setrlimit", "chdir",        "setuid/setgid",
                                            "execve",    "cgroup.procs", "prctl"};
        waitpid(pid, NULL, 0);
        close(p_in[1]);
        close(p_out[0]);
        close(p_err[0]);
        snprintf(why, whylen, "%s %s: %s",
                 x.step > 0 && (size_t)x.step < sizeof steps / sizeof steps[0] ? steps[x.step]
                                                                               : "exec",
                 a->argv[0], strerror(x.err));
        return -x.err;
    }
    a->pid = a->pgid = pid;
    /* recorded with the pid, so that a later daemon never mistakes a reused pid for it; the
     * process is an unreaped child, so its /proc entry is there */
    agents_proc_stat_t pst;
    a->pid_start = agents_proc_stat_read(pid, &pst) == 0 ? pst.start : 0;
    a->exit_code = -1;
    a->term_signal = 0;
    a->exited = false;
    a->stop_requested = a->kill_requested = a->timed_out = a->forced_pause = false;
    a->stdin_closed = false;
    a->started_ms = clock_wall_ms();
    a->ended_ms = 0;
    rc = agents_io_open(a, p_in[1], p_out[0], p_err[0]);
    if (rc < 0) {
        kill(-pid, SIGKILL);
        snprintf(why, whylen, "cannot watch the pipes: %s", uv_strerror(rc));
        /* the exit is reaped through SIGCHLD as usual */
    }
    if (a->limits.timeout_ms > 0)
        uv_timer_start(&a->timer, agents_on_timeout, (uint64_t)a->limits.timeout_ms, 0);
    return 0;
}

static void agents_id_new(agents_t *ag, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (;;) {
        unsigned char r[AGENTS_ID_LEN / 2];
        if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
            uint64_t t = clock_mono_ns() ^ ((uint64_t)getpid() << 32);
            memcpy(r, &t, sizeof r < sizeof t ? sizeof r : sizeof t);
        }
        for (size_t i = 0; i < sizeof r; i++) {
            out[2 * i] = hex[r[i] >> 4];
            out[2 * i + 1] = hex[r[i] & 15];
        }
        out[AGENTS_ID_LEN] = '\0';
        if (!agents_idx_get(ag, out))
            return;
    }
}

problem_t *agents_spawn(agents_t *ag, const json_t *body, agent_t **out)
{
    hub_t *hub = ag->hub;
    if (ag->shutting_down || hub->shutting_down)
        return problem_new(503, "shutting-down", "the server is shutting down");
    if ((int64_t)ag->live >= hub->cfg.agents_max) {
        problem_t *p = problem_new(429, "too-many-agents",
                                   "%zu agents are running, the limit (agents.max) is %" PRId64,
                                   ag->live, hub->cfg.agents_max);
        problem_header_set(p, "Retry-After", "1");
        return p;
    }
    if (!json_is_true(json_object_get(body, "allow_duplicate_name"))) {
        problem_t *p = agents_name_check(ag, json_string_value(json_object_get(body, "name")));
        if (p)
            return p;
    }
    json_t *spec = json_deep_copy(body);
    agent_t *a = spec ? agents_agent_alloc(ag, spec) : NULL;
    if (!a) {
        json_decref(spec);
        return problem_new(503, "out-of-memory", "the agent could not be created");
    }
    agents_id_new(ag, a->id);
    if (agents_idx_put(ag, a) < 0) {
        a->forget = true;
        agents_agent_close_timers(a);
        return problem_new(503, "out-of-memory", "the agent could not be created");
    }
    char why[512];
    const char *field = "";
    if (agents_agent_configure(a, why, sizeof why, &field) < 0) {
        a->forget = true;
        agents_agent_close_timers(a);
        problem_t *p = problem_validation_new();
        problem_field_add(p, "body", field, "%s", why);
        return p;
    }
    if (agents_name_add(a) < 0) {
        a->forget = true;
        agents_agent_close_timers(a);
        return problem_new(503, "out-of-memory", "the agent could not be created");
    }
    a->created_ms = clock_wall_ms();
    a->status = AGENTS_IDLE;
    a->status_ms = a->created_ms;
    int rc = agents_proc_start(a, why, sizeof why);
    if (rc < 0) {
        ag->spawns_failed++;
        if (hub->metrics)
            metrics_counter_add(hub->metrics, "ganglion_agents_spawns_total", "result=\"failed\"",
                                1);
        a->forget = true;
        agents_agent_close_timers(a);
        problem_t *p = problem_new(422, "spawn-failed", "%s", why);
        problem_field_add(p, "body", json_object_get(body, "argv") ? "/argv/0" : "/preset", "%s",
                          why);
        return p;
    }
    ag->spawns_ok++;
    if (hub->metrics)
        metrics_counter_add(hub->metrics, "ganglion_agents_spawns_total", "result=\"ok\"", 1);
    agents_status_set(a, AGENTS_INITIALIZING, NULL);
    /* execve succeeded (vfork returned after it): the program runs */
    agents_status_set(a, AGENTS_RUNNING, NULL);
    *out = a;
    return NULL;
}

/* ---- exits and reasons ---- */

static bool agents_stderr_mentions_memory(const agent_t *a)
{
    const agents_ring_t *r = &a->ring[AGENTS_STDERR];
    for (size_t i = r->n > 20 ? r->n - 20 : 0; i < r->n; i++) {
        const char *t = agents_ring_at(r, i)->data;
        if (strstr(t, "MemoryError") || strcasestr(t, "out of memory") ||
            strcasestr(t, "cannot allocate") || strcasestr(t, "bad_alloc") ||
            strcasestr(t, "memory exhausted"))
            return true;
    }
    return false;
}

static void agents_fmt_secs(char *buf, size_t len, int64_t ms)
{
    if (ms % 1000 == 0)
        snprintf(buf, len, "%" PRId64 "s", ms / 1000);
    else
        snprintf(buf, len, "%.3gs", (double)ms / 1000.0);
}

/* The end state and a reason people can read, from how the process ended and why. */
static agents_status_t agents_exit_verdict(agent_t *a, char *why, size_t len)
{
    char sbuf[32], t[32];
    const char *sig = a->term_signal ? agents_signal_name(a->term_signal, sbuf, sizeof sbuf) : NULL;
    if (a->kill_requested) {
        snprintf(why, len, "killed on request");
        return AGENTS_TERMINATED;
    }
    if (a->timed_out) {
        agents_fmt_secs(t, sizeof t, a->limits.timeout_ms);
        snprintf(why, len, "killed: wall-clock timeout %s", t);
        return AGENTS_FAILED;
    }
    if (a->stop_requested && a->daemon_stop_ms) {
        /* not the user's stop: the agent comes back at the next start (agents_restart.c) */
        if (a->term_signal == SIGKILL)
            snprintf(why, len, "daemon shutting down (SIGKILL after the grace period)");
        else if (sig)
            snprintf(why, len, "daemon shutting down (%s)", sig);
        else
            snprintf(why, len, "daemon shutting down (exit code %d)", a->exit_code);
        return AGENTS_TERMINATED;
    }
    if (a->stop_requested) {
        if (a->term_signal == SIGKILL)
            snprintf(why, len, "stopped on request (SIGKILL after the grace period)");
        else if (sig)
            snprintf(why, len, "stopped on request (%s)", sig);
        else
            snprintf(why, len, "stopped on request (exit code %d)", a->exit_code);
        return AGENTS_TERMINATED;
    }
    if (a->limits.cpu_s &&
        (a->term_signal == SIGXCPU ||
         (a->term_signal == SIGKILL && a->cpu_ns >= (uint64_t)a->limits.cpu_s * 1000000000u))) {
        snprintf(why, len, "killed: CPU time limit %" PRId64 "s exceeded (%s)", a->limits.cpu_s,
                 a->term_signal == SIGXCPU ? "SIGXCPU" : "SIGKILL");
        return AGENTS_FAILED;
    }
    if (a->limits.memory_mb && a->cg_oom && a->term_signal == SIGKILL) {
        snprintf(why, len, "killed: memory limit %" PRId64 " MiB (cgroup memory.max, OOM kill)",
                 a->limits.memory_mb);
        return AGENTS_FAILED;
    }
    if (a->limits.memory_mb &&
        (a->term_signal == SIGSEGV || a->term_signal == SIGABRT || a->term_signal == SIGBUS ||
         a->term_signal == SIGKILL || (a->exit_code > 0 && agents_stderr_mentions_memory(a)))) {
        snprintf(why, len, "out of memory (address-space limit %" PRId64 " MiB%s%s)",
                 a->limits.memory_mb, sig ? ", " : "", sig ? sig : "");
        return AGENTS_FAILED;
    }
    if (sig) {
        snprintf(why, len, "killed by %s", sig);
        return AGENTS_FAILED;
    }
    snprintf(why, len, "exited with code %d", a->exit_code);
    return a->exit_code == 0 ? AGENTS_COMPLETED : AGENTS_FAILED;
}

static void agents_on_restart_timer(uv_timer_t *t);

/* The process is gone and its pipes are drained: settle the state, maybe schedule a restart. */
static void agents_proc_finish(agent_t *a)
{
    agents_t *ag = a->owner;
    uv_timer_stop(&a->stop_timer);
    uv_timer_stop(&a->timer);
    agents_io_close(a);
    a->exited = false;
    char why[256];
    agents_status_t end = agents_exit_verdict(a, why, sizeof why);
    agents_actions_fail(a, 502, "agent-ended", why);
    if (agents_restart_resume(a, why))
        return;
    bool restart = !ag->shutting_down && !a->stop_requested && !a->kill_requested && !a->forget &&
                   (a->restart == AGENTS_RESTART_ALWAYS ||
                    (a->restart == AGENTS_RESTART_ON_FAILURE && end == AGENTS_FAILED));
    if (restart) {
        int64_t now = clock_wall_ms();
        int recent = 0;
        for (int i = 0; i < AGENTS_RESTART_LOG; i++)
            if (a->restart_times[i] && now - a->restart_times[i] < a->restart_window_ms)
                recent++;
        if (recent >= a->restart_max) {
            char r2[768];
            snprintf(r2, sizeof r2, "crash loop: %d restarts within %" PRId64 "s; last run %s",
                     recent, a->restart_window_ms / 1000, why);
            agents_status_set(a, AGENTS_FAILED, r2);
            return;
        }
        int64_t delay = ag->hub->cfg.agents_backoff_ms;
        for (int i = 0; i < recent && delay < ag->hub->cfg.agents_backoff_max_ms; i++)
            delay *= 2;
        if (delay > ag->hub->cfg.agents_backoff_max_ms)
            delay = ag->hub->cfg.agents_backoff_max_ms;
        char r2[768];
        snprintf(r2, sizeof r2, "restarting in %" PRId64 " ms (%s)", delay, why);
        agents_status_set(a, AGENTS_IDLE, r2);
        uv_timer_start(&a->stop_timer, agents_on_restart_timer, (uint64_t)delay, 0);
        return;
    }
    if (!agents_status_set(a, end, why) && !agents_status_final(a->status))
        agents_status_set(a, AGENTS_FAILED, why);
    agents_agent_release(a);
}

/* Bytes waiting in a pipe we read from (0 when closed or unknown). */
static int agents_pipe_pending(const uv_pipe_t *p, bool open)
{
    uv_os_fd_t fd;
    int n = 0;
    if (!open || uv_fileno((const uv_handle_t *)p, &fd) < 0 || ioctl(fd, FIONREAD, &n) < 0)
        return 0;
    return n;
}

static void agents_on_drain_timeout(uv_timer_t *t)
{
    agent_t *a = t->data;
    if (!a->exited)
        return;
    /* output still queued (the pipe waits for its turn under a flood): keep waiting */
    if (agents_pipe_pending(&a->out, a->out_open) > 0 ||
        agents_pipe_pending(&a->err, a->err_open) > 0) {
        uv_timer_start(&a->stop_timer, agents_on_drain_timeout, AGENTS_DRAIN_MS, 0);
        return;
    }
    agents_proc_finish(a);
}

void agents_proc_output_seen(agent_t *a)
{
    /* still draining after the exit: the drain deadline counts from the last output */
    if (a->exited)
        uv_timer_start(&a->stop_timer, agents_on_drain_timeout, AGENTS_DRAIN_MS, 0);
}

void agents_proc_drained(agent_t *a)
{
    if (a->exited && !a->out_open && !a->err_open)
        agents_proc_finish(a);
}

static void agents_on_exit(agent_t *a, int wstatus, const struct rusage *ru)
{
    if (WIFEXITED(wstatus)) {
        a->exit_code = WEXITSTATUS(wstatus);
        a->term_signal = 0;
    } else if (WIFSIGNALED(wstatus)) {
        a->term_signal = WTERMSIG(wstatus);
        a->exit_code = -1;
    }
    a->cpu_ns = ((uint64_t)ru->ru_utime.tv_sec + (uint64_t)ru->ru_stime.tv_sec) * 1000000000u +
                ((uint64_t)ru->ru_utime.tv_usec + (uint64_t)ru->ru_stime.tv_usec) * 1000u;
    /* the group (and cgroup) does not outlive its leader: children left behind are killed;
     * those in other groups now have the daemon as parent and go in the orphan sweep */
    agents_tree_end(a);
    if (a->cg_dir) {
        a->cg_oom = agents_cgroup_oom_kills(a->cg_dir);
        /* empty once the group is gone; if a child is still dying, at free or the next start */
        (void)rmdir(a->cg_dir);
    }
    a->pid = 0;
    a->exited = true;
    uv_timer_stop(&a->stop_timer);
    uv_timer_stop(&a->timer);
    if (a->forget) {
        a->exited = false;
        agents_io_close(a);
        agents_actions_fail(a, 502, "agent-ended", "the agent was deleted");
        if (agents_status_live(a->status))
            a->owner->live--;
        a->status = AGENTS_TERMINATED;
        agents_agent_release(a);
        return;
    }
    if (!a->out_open && !a->err_open)
        agents_proc_finish(a);
    else
        uv_timer_start(&a->stop_timer, agents_on_drain_timeout, AGENTS_DRAIN_MS, 0);
}

static void agents_on_sigchld(uv_signal_t *h, int signum)
{
    (void)signum;
    agents_t *ag = h->data;
    size_t reaped = 0;
    for (;;) {
        int st;
        struct rusage ru;
        pid_t pid = wait4(-1, &st, WNOHANG, &ru);
        if (pid <= 0)
            break;
        if (!WIFEXITED(st) && !WIFSIGNALED(st))
            continue;
        reaped++;
        /* not every child is an agent's main process: orphans the daemon inherited as their
         * subreaper are reaped here too, and only that */
        agent_t *a = ag->head;
        /* a record agents_on_exit freed left this list (a->owner is ag, which the analyzer
         * does not know: it reports a use after free here) */
        while (a && a->pid != pid) // NOLINT(clang-analyzer-unix.Malloc)
            a = a->next;
        if (a)
            agents_on_exit(a, st, &ru);
        else
            (void)child_reaped(pid, st); /* another module's child (core/child.h) */
    }
    /* an exit is when orphans arrive: a main process's children come to the daemon as it
     * exits (before its SIGCHLD), and an orphan's children as it is killed */
    if (reaped && ag->subreaper)
        agents_orphans_sweep_start(ag);
}

/* ---- operations ---- */

static problem_t *agents_not_live(const agent_t *a, const char *what)
{
    return problem_new(409, "agent-not-running", "cannot %s agent %s: it is %s", what, a->id,
                       agents_status_name(a->status));
}

static int agents_group_kill(agent_t *a, int sig)
{
    return agents_tree_signal(a, sig);
}

/* Whether the agent said it reads the JSON pause lines (the `pause-protocol` capability). A
 * program that does not would go on running while reported paused, so it is SIGSTOPped. */
static bool agents_speaks_pause(const agent_t *a)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(a->spec, "capabilities"), i, v)
    {
        const char *c = json_string_value(v);
        if (c && !strcmp(c, AGENTS_CAP_PAUSE))
            return true;
    }
    return false;
}

problem_t *agents_pause(agent_t *a, bool force)
{
    if (a->status == AGENTS_PAUSED)
        return problem_new(409, "agent-paused", "agent %s is already paused", a->id);
    if (!agents_status_live(a->status) || a->status == AGENTS_STOPPING || a->exited)
        return agents_not_live(a, "pause");
    bool fallback = !force && !agents_speaks_pause(a);
    force = force || fallback;
    if (force) {
        int rc = agents_group_kill(a, SIGSTOP);
        if (rc < 0)
            return problem_new(409, "agent-not-running", "SIGSTOP failed: %s", strerror(-rc));
    } else {
        static const char line[] = "{\"type\":\"pause\",\"action\":\"pause\"}\n";
        problem_t *p = agents_stdin_write(a, line, sizeof line - 1, false);
        if (p)
            return p;
    }
    a->forced_pause = force;
    agents_status_set(a, AGENTS_PAUSED,
                      fallback ? "paused (SIGSTOP: the agent has no " AGENTS_CAP_PAUSE
                                 " capability)"
                      : force ? "paused (SIGSTOP)"
                              : "paused (cooperative)");
    return NULL;
}

problem_t *agents_resume(agent_t *a)
{
    if (a->status != AGENTS_PAUSED)
        return problem_new(409, "agent-not-paused", "agent %s is %s, not paused", a->id,
                           agents_status_name(a->status));
    if (a->forced_pause) {
        int rc = agents_group_kill(a, SIGCONT);
        if (rc < 0)
            return problem_new(409, "agent-not-running", "SIGCONT failed: %s", strerror(-rc));
    } else {
        static const char line[] = "{\"type\":\"pause\",\"action\":\"resume\"}\n";
        problem_t *p = agents_stdin_write(a, line, sizeof line - 1, false);
        if (p)
            return p;
    }
    a->forced_pause = false;
    agents_status_set(a, AGENTS_RUNNING, "resumed");
    return NULL;
}

static void agents_on_grace_over(uv_timer_t *t)
{
    agent_t *a = t->data;
    if (a->pid) {
        log_info(NULL, "agents: grace period over, killing the process group", "{s:s,s:i}", "agent",
                 a->id, "pgid", (int)a->pgid);
        agents_group_kill(a, SIGKILL);
    }
}

static void agents_on_restart_timer(uv_timer_t *t)
{
    agent_t *a = t->data;
    agents_t *ag = a->owner;
    if (a->status != AGENTS_IDLE || ag->shutting_down)
        return;
    int64_t now = clock_wall_ms();
    memmove(a->restart_times + 1, a->restart_times,
            (AGENTS_RESTART_LOG - 1) * sizeof a->restart_times[0]);
    a->restart_times[0] = now;
    a->restarts++;
    ag->restarts_total++;
    char why[512];
    if ((int64_t)ag->live >= ag->hub->cfg.agents_max) {
        agents_status_set(a, AGENTS_FAILED, "restart refused: agents.max reached");
        return;
    }
    if (agents_proc_start(a, why, sizeof why) < 0) {
        ag->spawns_failed++;
        agents_status_set(a, AGENTS_FAILED, why);
        return;
    }
    ag->spawns_ok++;
    agents_status_set(a, AGENTS_INITIALIZING, NULL);
    agents_status_set(a, AGENTS_RUNNING, NULL);
}

static void agents_on_timeout(uv_timer_t *t)
{
    agent_t *a = t->data;
    if (!a->pid)
        return;
    a->timed_out = true;
    agents_stop(a, -1);
    a->stop_requested = false; /* a timeout is a failure: the restart policy applies */
}

problem_t *agents_stop(agent_t *a, int64_t grace_ms)
{
    agents_t *ag = a->owner;
    a->restart_pending = false; /* a stop asked for after a restart wins */
    if (a->status == AGENTS_IDLE) {
        /* waiting for a restart: nothing runs, just end it */
        uv_timer_stop(&a->stop_timer);
        agents_status_set(a, AGENTS_TERMINATED, "stopped on request (while waiting to restart)");
        return NULL;
    }
    /* idempotent: an agent on its way out, or whose process is gone (ended, or exited and
     * draining its pipes), is left as it is and the reply shows its status */
    if (a->status == AGENTS_STOPPING || !agents_status_live(a->status) || !a->pid)
        return NULL;
    if (grace_ms < 0)
        grace_ms = a->stop_grace_ms >= 0 ? a->stop_grace_ms : ag->hub->cfg.agents_stop_grace_ms;
    a->stop_requested = true;
    agents_group_kill(a, SIGTERM);
    /* a SIGSTOPped group would hold SIGTERM pending forever */
    if (a->status == AGENTS_PAUSED && a->forced_pause)
        agents_group_kill(a, SIGCONT);
    char why[96];
    snprintf(why, sizeof why, "stopping: SIGTERM sent, SIGKILL in %" PRId64 " ms", grace_ms);
    agents_status_set(a, AGENTS_STOPPING, why);
    uv_timer_stop(&a->timer);
    uv_timer_start(&a->stop_timer, agents_on_grace_over, (uint64_t)grace_ms, 0);
    return NULL;
}

problem_t *agents_kill(agent_t *a)
{
    a->restart_pending = false;
    if (a->status == AGENTS_IDLE) {
        uv_timer_stop(&a->stop_timer);
        agents_status_set(a, AGENTS_TERMINATED, "killed on request (while waiting to restart)");
        return NULL;
    }
    if (!a->pid)
        return NULL; /* nothing runs: idempotent, like stop */
    a->kill_requested = true;
    int rc = agents_group_kill(a, SIGKILL);
    if (rc < 0)
        return problem_new(409, "agent-not-running", "SIGKILL failed: %s", strerror(-rc));
    return NULL;
}

problem_t *agents_signal(agent_t *a, int sig)
{
    if (sig <= 0)
        return problem_new(422, "validation", "unknown signal");
    if (!a->pid)
        return agents_not_live(a, "signal");
    int rc = agents_group_kill(a, sig);
    if (rc < 0)
        return problem_new(409, "agent-not-running", "kill failed: %s", strerror(-rc));
    /* stop/cont by signal keep the status honest */
    if (sig == SIGSTOP && a->status != AGENTS_PAUSED && a->status != AGENTS_STOPPING) {
        a->forced_pause = true;
        agents_status_set(a, AGENTS_PAUSED, "paused (SIGSTOP)");
    } else if (sig == SIGCONT && a->status == AGENTS_PAUSED && a->forced_pause) {
        a->forced_pause = false;
        agents_status_set(a, AGENTS_RUNNING, "resumed (SIGCONT)");
    }
    return NULL;
}

problem_t *agents_command(agent_t *a, const char *command, const json_t *body)
{
    if (!strcmp(command, "pause"))
        return agents_pause(a, json_is_true(json_object_get(body, "force")));
    if (!strcmp(command, "resume"))
        return agents_resume(a);
    if (!strcmp(command, "stop")) {
        json_t *g = json_object_get(body, "grace_ms");
        return agents_stop(a, g ? json_integer_value(g) : -1);
    }
    if (!strcmp(command, "kill"))
        return agents_kill(a);
    if (!strcmp(command, "restart")) {
        int rc = agents_agent_restart(a->owner, a, NULL);
        return rc < 0 ? agents_restart_problem(a, rc, "restart") : NULL;
    }
    if (!strcmp(command, "signal"))
        return agents_signal(
            a, agents_signal_parse(json_string_value(json_object_get(body, "signal"))));
    return problem_new(422, "validation", "unknown command %s", command);
}

void agents_forget(agent_t *a)
{
    if (a->pid) {
        a->kill_requested = true;
        agents_group_kill(a, SIGKILL);
    }
    uv_timer_stop(&a->stop_timer);
    uv_timer_stop(&a->timer);
    agents_store_delete(a->owner, a->id);
    a->forget = true;
    agents_log_close(a);
    agents_log_remove(a->owner, a->id);
    if (!a->pid) {
        if (agents_status_live(a->status))
            a->owner->live--;
        agents_io_close(a);
        agents_actions_fail(a, 502, "agent-ended", "the agent was deleted");
    }
    agents_agent_close_timers(a);
    agents_agent_release(a);
}

/* ---- the daemon's side ---- */

void agents_metrics_collect(strbuf_t *out, void *ud)
{
    agents_t *ag = ud;
    strbuf_printf(out,
                  "# HELP ganglion_agents_live Agents with a live process.\n"
                  "# TYPE ganglion_agents_live gauge\n"
                  "ganglion_agents_live %zu\n"
                  "# HELP ganglion_agents_output_lines_total Output lines captured.\n"
                  "# TYPE ganglion_agents_output_lines_total counter\n"
                  "ganglion_agents_output_lines_total %" PRIu64 "\n"
                  "# HELP ganglion_agents_output_reads_deferred_total Pipe reads left for a later "
                  "loop turn by the per-turn output budget.\n"
                  "# TYPE ganglion_agents_output_reads_deferred_total counter\n"
                  "ganglion_agents_output_reads_deferred_total %" PRIu64 "\n"
                  "# HELP ganglion_agents_orphans_ended_total Processes left behind by exited "
                  "agents (or by a killed daemon's, at start) that were ended.\n"
                  "# TYPE ganglion_agents_orphans_ended_total counter\n"
                  "ganglion_agents_orphans_ended_total %" PRIu64 "\n",
                  ag->live, ag->lines_total, ag->throttled, ag->orphans_ended);
    strbuf_printf(out,
                  "# HELP ganglion_agents_log_bytes_total Output bytes written to agents' log "
                  "files.\n"
                  "# TYPE ganglion_agents_log_bytes_total counter\n"
                  "ganglion_agents_log_bytes_total %" PRIu64 "\n"
                  "# HELP ganglion_agents_log_dropped_total Output bytes (or lines, out of "
                  "memory) that could not be written to the log files.\n"
                  "# TYPE ganglion_agents_log_dropped_total counter\n"
                  "ganglion_agents_log_dropped_total %" PRIu64 "\n"
                  "# HELP ganglion_agents_log_rotations_total Log files rotated.\n"
                  "# TYPE ganglion_agents_log_rotations_total counter\n"
                  "ganglion_agents_log_rotations_total %" PRIu64 "\n",
                  ag->log_bytes, ag->log_dropped, ag->log_rotations);
}

/* cgroup v2 limits need a delegated, writable subtree; without one, rlimits are the limits.
 * The outcome is logged at start and shown as cgroup_v2 in the stats. */
static void agents_cgroup_detect(agents_t *ag)
{
    ag->cgroup_v2 = false;
    if (!ag->hub->cfg.agents_cgroup) {
        log_info(NULL, "agents: cgroup v2 not used (agents.cgroup = 0): limits are rlimits", NULL);
        return;
    }
    char text[4096] = "";
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (f) {
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    int rc = agents_cgroup_find(text, "/sys/fs/cgroup", ag->cgroup_dir, sizeof ag->cgroup_dir);
    static const char *const why[] = {"cgroup v1 only", "no unified hierarchy at /sys/fs/cgroup",
                                      "the daemon's cgroup is not delegated (not writable)",
                                      "cgroup path too long"};
    if (rc < 0) {
        log_info(NULL, "agents: cgroup v2 not used: limits are rlimits", "{s:s}", "reason",
                 why[rc == -ENOENT    ? 0
                     : rc == -ENOTSUP ? 1
                     : rc == -EACCES  ? 2
                                      : 3]);
        ag->cgroup_dir[0] = '\0';
        return;
    }
    rc = agents_cgroup_prepare(ag->cgroup_dir, getpid());
    if (rc < 0) {
        log_info(NULL, "agents: cgroup v2 not used: limits are rlimits", "{s:s,s:s,s:s}", "reason",
                 rc == -ENOTSUP ? "the memory and cpu controllers are not available"
                                : "the controllers could not be enabled",
                 "cgroup", ag->cgroup_dir, "error", strerror(-rc));
        ag->cgroup_dir[0] = '\0';
        return;
    }
    log_info(NULL, "agents: cgroup v2 limits on (memory.max, cpu.max)", "{s:s}", "cgroup",
             ag->cgroup_dir);
    ag->cgroup_v2 = true;
}

int agents_start(hub_t *hub)
{
    agents_t *ag = calloc(1, sizeof *ag);
    if (!ag || htab_new(&ag->by_id, agents_idx_key) < 0) {
        free(ag);
        return -1;
    }
    if (agents_names_init(ag) < 0) {
        htab_destroy(&ag->by_id);
        free(ag);
        return -1;
    }
    ag->hub = hub;
    ag->started_ms = clock_wall_ms();
    ag->ring_bytes = (size_t)hub->cfg.agents_output_buffer;
    ag->line_max = (size_t)hub->cfg.agents_line_max;
    if (ag->line_max + AGENTS_LINE_OVERHEAD > ag->ring_bytes / 4)
        ag->line_max = ag->ring_bytes / 4 - AGENTS_LINE_OVERHEAD;
    /* 1000 agents hold 3000 pipe ends: take every descriptor the hard limit allows */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        ag->nofile_soft = rl.rlim_cur;
        if (rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                log_warn(NULL, "agents: cannot raise the open-file limit", "{s:s}", "reason",
                         strerror(errno));
        }
    }
    if (hub->cfg.agents_user[0] || hub->cfg.agents_group[0]) {
        if (geteuid() != 0) {
            log_warn(NULL, "agents: agents.user/group need a root daemon; ignored", NULL);
        } else {
            struct passwd *pw = hub->cfg.agents_user[0] ? getpwnam(hub->cfg.agents_user) : NULL;
            struct group *gr = hub->cfg.agents_group[0] ? getgrnam(hub->cfg.agents_group) : NULL;
            if ((hub->cfg.agents_user[0] && !pw) || (hub->cfg.agents_group[0] && !gr)) {
                log_error(NULL, "agents: unknown agents.user or agents.group", "{s:s,s:s}", "user",
                          hub->cfg.agents_user, "group", hub->cfg.agents_group);
                htab_destroy(&ag->by_id);
                agents_names_fini(ag);
                free(ag);
                return -1;
            }
            ag->setid = true;
            ag->uid = pw ? pw->pw_uid : 0;
            ag->gid = gr ? gr->gr_gid : pw ? pw->pw_gid : 0;
        }
    }
    agents_cgroup_detect(ag);
    ag->orphans_leave = strcmp(hub->cfg.agents_orphans, "leave") == 0;
    if (agents_boot_id_read(ag->boot_id, sizeof ag->boot_id) < 0)
        log_warn(NULL, "agents: no boot id: leftovers of a killed daemon cannot be identified",
                 NULL);
    /* Every process an agent starts stays the daemon's to end: orphaned descendants are
     * re-parented to the daemon instead of init (agents_orphans_sweep). The sweep takes any
     * child of the daemon that is not an agent's main process for such an orphan, and this
     * module's SIGCHLD handler reaps every child: nothing else in the daemon may start
     * processes (nothing does) without going through this module. */
    ag->subreaper = prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0;
    if (!ag->subreaper)
        log_warn(NULL, "agents: not a child subreaper: orphaned descendants escape to init",
                 "{s:s}", "reason", strerror(errno));
    hub->agents = ag;
    (void)agents_logs_init(ag); /* without it, output stays in memory only (logged) */
    if (agents_store_load(ag) < 0) {
        free(ag->logs_dir);
        hub->agents = NULL;
        htab_destroy(&ag->by_id);
        agents_names_fini(ag);
        free(ag);
        return -1;
    }
    agents_io_init(ag);
    agents_store_init(ag);
    agents_procs_jobs_init(ag);
    if (agents_usage_init(ag) < 0)
        log_warn(NULL, "agents: usage sampling off (out of memory)", NULL);
    uv_signal_init(hub->loop, &ag->sigchld);
    ag->sigchld.data = ag;
    uv_signal_start(&ag->sigchld, agents_on_sigchld, SIGCHLD);
    uv_unref((uv_handle_t *)&ag->sigchld);
    ag->sigchld_open = true;
    agents_restart_revive(ag);
    agents_programs_boot(ag);
    log_info(NULL, "agents: ready", "{s:I,s:I,s:b}", "max", (json_int_t)hub->cfg.agents_max,
             "loaded", (json_int_t)ag->count, "cgroup_v2", ag->cgroup_v2);
    return 0;
}

void agents_shutdown(hub_t *hub)
{
    agents_t *ag = hub->agents;
    if (!ag)
        return;
    ag->shutting_down = true;
    /* leave room in the shutdown grace for the final writes */
    int64_t grace = hub->cfg.shutdown_grace_ms * 3 / 4;
    int64_t now = clock_wall_ms();
    /* what the daemon's own stop ends is marked (daemon_stop_ms): its reason says so, not
     * "stopped on request", and the next start brings it back by its restart policy */
    for (agent_t *a = ag->head; a; a = a->next) {
        if (a->forget)
            continue;
        if (a->status == AGENTS_IDLE && uv_is_active((uv_handle_t *)&a->stop_timer)) {
            uv_timer_stop(&a->stop_timer);
            a->daemon_stop_ms = now;
            agents_status_set(a, AGENTS_TERMINATED,
                              "daemon shutting down while waiting to restart");
        } else if (a->pid && a->status != AGENTS_STOPPING) {
            int64_t g = a->stop_grace_ms >= 0 ? a->stop_grace_ms : hub->cfg.agents_stop_grace_ms;
            agents_stop(a, g < grace ? g : grace);
            a->daemon_stop_ms = now;
            agents_reason_set(a, "stopping: daemon shutting down");
        } else if (a->restart_pending && (a->pid || a->exited)) {
            a->daemon_stop_ms = now; /* on its way to a restart the next start makes */
        }
    }
}

bool agents_busy(const hub_t *hub)
{
    const agents_t *ag = hub->agents;
    if (!ag)
        return false;
    if (agents_store_busy(ag) || ag->programs_reloading)
        return true;
    for (const agent_t *a = ag->head; a; a = a->next)
        if (a->pid || a->exited)
            return true;
    return false;
}

void agents_destroy(hub_t *hub)
{
    agents_t *ag = hub->agents;
    if (!ag)
        return;
    ag->shutting_down = true;
    agents_logs_fini(ag); /* what the last turns read goes to disk before records go */
    for (agent_t *a = ag->head; a; a = a->next) {
        if (a->pid) {
            agents_tree_signal(a, SIGKILL);
            waitpid(a->pid, NULL, 0);
            a->pid = 0;
        }
        a->exited = false;
        a->forget = true;
        agents_io_close(a);
        agents_actions_fail(a, 503, "shutting-down", "the server is shutting down");
        uv_timer_stop(&a->timer);
        uv_timer_stop(&a->stop_timer);
        agents_agent_close_timers(a);
    }
    agents_usage_fini(ag);
    agents_procs_jobs_fini(ag);
    /* what the main processes left behind came to the daemon as they died: end it too, level
     * by level (an orphan's children come as it dies), before the daemon's own exit would
     * hand them to init */
    for (int round = 0; round < 100 && ag->subreaper; round++) {
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        if (agents_orphans_sweep(ag) == 0)
            break;
        uv_sleep(1);
    }
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    agents_io_fini(ag);
    agents_store_fini(ag);
    if (ag->sigchld_open)
        uv_close((uv_handle_t *)&ag->sigchld, NULL);
    /* close callbacks free the records */
    for (int i = 0; i < 1000 && (ag->head || ag->sigchld_open); i++) {
        uv_run(hub->loop, UV_RUN_NOWAIT);
        if (uv_is_closing((uv_handle_t *)&ag->sigchld))
            ag->sigchld_open = false;
        if (ag->head)
            uv_sleep(1);
    }
    uv_run(hub->loop, UV_RUN_NOWAIT);
    while (ag->head) {
        /* a write that never finished (store gone): free what remains */
        agent_t *a = ag->head;
        a->pending_close = 0;
        a->in_open = a->out_open = a->err_open = false;
        agents_agent_free(a);
    }
    agents_programs_fini(ag);
    htab_destroy(&ag->by_id);
    agents_names_fini(ag);
    free(ag);
    hub->agents = NULL;
}
