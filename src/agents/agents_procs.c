/* The processes behind agents, read from /proc: a snapshot of the process table to find every
 * descendant of an agent (setsid takes a process out of its group, not out of its parent's
 * tree), signals that never reach a reused pid (checked against the start time through a pidfd),
 * the sweep of orphans the daemon inherits as their subreaper, and at start the end of what a
 * daemon that was killed left running. Loop thread, but for the jobs' reads of /proc on the
 * thread pool, which touch only what the job owns. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agents/agents_internal.h"
#include "core/child.h"
#include "core/hub.h"
#include "core/log.h"
#include "core/num.h"

#define AGENTS_PROCS_MAX    (4u << 20) /* PID_MAX_LIMIT: no table holds more */
#define AGENTS_ENVIRON_MAX  (256 * 1024)
#define AGENTS_SWEEP_GAP_MS 50 /* between two reads of /proc while exits keep coming */

/* ---- one process ---- */

int agents_proc_stat_read(pid_t pid, agents_proc_stat_t *st)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    memset(st, 0, sizeof *st); /* defined on every return (the analyzer takes -errno for 0) */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -ESRCH : -errno;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    int e = errno;
    close(fd);
    if (n <= 0)
        return n < 0 && e != ESRCH ? -e : -ESRCH;
    buf[n] = '\0';
    return agents_proc_stat_parse(buf, st);
}

/* pidfd_open and pidfd_send_signal (Linux 5.3+) by number: older C libraries lack wrappers */
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

int agents_proc_signal(pid_t pid, uint64_t start, int sig)
{
    if (pid <= 1 || pid == getpid())
        return -EPERM;
    /* the pidfd pins the process it was opened on: if its start time matches, the signal goes
     * to that process even if it exits and its pid is reused meanwhile */
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0 && errno != ENOSYS)
        return errno == ESRCH ? -ESRCH : -errno;
    agents_proc_stat_t st;
    int rc = agents_proc_stat_read(pid, &st);
    if (rc == 0 && st.start != start)
        rc = -ESRCH; /* another process under a reused pid */
    if (rc == 0) {
        if (fd >= 0)
            rc = syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) < 0 ? -errno : 0;
        else
            rc = kill(pid, sig) < 0 ? -errno : 0; /* no pidfd: the window is this line */
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

/* ---- the process table ---- */

static int agents_by_ppid(const void *x, const void *y)
{
    const agents_proc_stat_t *a = x, *b = y;
    return a->ppid < b->ppid ? -1 : a->ppid > b->ppid ? 1 : a->pid < b->pid ? -1 : a->pid > b->pid;
}

void agents_procs_free(agents_procs_t *t)
{
    free(t->v);
    memset(t, 0, sizeof *t);
}

int agents_procs_read(agents_procs_t *t)
{
    t->n = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return -errno;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 1024;
            agents_proc_stat_t *v = cap <= AGENTS_PROCS_MAX ? realloc(t->v, cap * sizeof *v) : NULL;
            if (!v) {
                closedir(d);
                return -ENOMEM;
            }
            t->v = v;
            t->cap = cap;
        }
        if (agents_proc_stat_read((pid_t)pid, &t->v[t->n]) == 0 && t->v[t->n].state != 'Z')
            t->n++; /* a zombie is gone already (its parent reaps it) */
    }
    closedir(d);
    /* by parent: the children of a process are one range, found by binary search (t->v is
     * NULL while the table is empty, which qsort may not be given) */
    if (t->n > 1)
        qsort(t->v, t->n, sizeof *t->v, agents_by_ppid);
    return 0;
}

/* The index of the first entry whose parent is ppid (t->n when none). */
static size_t agents_procs_first_child(const agents_procs_t *t, pid_t ppid)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->v[mid].ppid < ppid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t agents_procs_descendants(const agents_procs_t *t, pid_t root, uint64_t min_start,
                                size_t *out, size_t max)
{
    /* breadth first: out[] is the queue; each entry's children are appended after it */
    size_t n = 0;
    pid_t parent = root;
    for (size_t q = 0;; q++) {
        for (size_t i = agents_procs_first_child(t, parent);
             i < t->n && t->v[i].ppid == parent && n < max; i++)
            if (t->v[i].start >= min_start)
                out[n++] = i;
        if (q >= n)
            break;
        parent = t->v[out[q]].pid;
    }
    return n;
}

/* ---- an agent's processes ---- */

static int agents_cgroup_kill(const char *dir)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/cgroup.kill", dir);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t w = write(fd, "1", 1);
        close(fd);
        if (w == 1)
            return 0;
    }
    /* before Linux 5.14: each member in turn (a member forking meanwhile is caught by the
     * sweep when its parent dies) */
    snprintf(path, sizeof path, "%s/cgroup.procs", dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    char line[32]; /* one pid a line */
    int64_t pid;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (num_i64_parse(line, 2, INT32_MAX, &pid) == 0 && pid != getpid())
            (void)kill((pid_t)pid, SIGKILL);
    }
    fclose(f);
    return 0;
}

static int agents_pid_cmp(const void *x, const void *y)
{
    pid_t a = *(const pid_t *)x, b = *(const pid_t *)y;
    return a < b ? -1 : a > b;
}

/* The pids of agents' main processes, sorted (malloc'ed; *n their count). */
static pid_t *agents_main_pids(const agents_t *ag, size_t *n)
{
    *n = 0;
    pid_t *v = malloc((ag->count + CHILD_MAX) * sizeof *v);
    if (!v)
        return NULL;
    for (const agent_t *a = ag->head; a && *n < ag->count; a = a->next)
        if (a->pid)
            v[(*n)++] = a->pid;
    /* the children other modules started (core/child.h) are not orphans either */
    *n += child_pids(v + *n, CHILD_MAX);
    qsort(v, *n, sizeof *v, agents_pid_cmp);
    return v;
}

/* The daemon is the subreaper of everything its agents start: a process it did not spawn but
 * is the parent of was left behind by an agent's main process that exited (each main process
 * is itself the subreaper of its descendants while it runs). Such processes and everything
 * under them, from t (mains sorted). Malloc'ed; *n their count; NULL when none or OOM.
 * With roots, (*roots)[i] receives the daemon's child that out[i] is or descends from. */
static agents_proc_stat_t *agents_orphans_find(const agents_procs_t *t, pid_t self,
                                               const pid_t *mains, size_t nmains, size_t *n,
                                               pid_t **roots)
{
    *n = 0;
    size_t *idx = t->n ? malloc(t->n * sizeof *idx) : NULL;
    agents_proc_stat_t *out = t->n ? malloc(t->n * sizeof *out) : NULL;
    pid_t *r = roots && t->n ? malloc(t->n * sizeof *r) : NULL;
    if (!idx || !out || (roots && !r)) {
        free(idx);
        free(out);
        free(r);
        return NULL;
    }
    for (size_t i = agents_procs_first_child(t, self); i < t->n && t->v[i].ppid == self; i++) {
        const agents_proc_stat_t *o = &t->v[i];
        if (bsearch(&o->pid, mains, nmains, sizeof *mains, agents_pid_cmp))
            continue;
        size_t first = *n;
        out[(*n)++] = *o;
        size_t m = agents_procs_descendants(t, o->pid, o->start, idx, t->n);
        for (size_t k = 0; k < m && *n < t->n; k++)
            out[(*n)++] = t->v[idx[k]];
        for (size_t k = first; r && k < *n; k++)
            r[k] = o->pid;
    }
    free(idx);
    if (!*n) {
        free(out);
        free(r);
        return NULL;
    }
    if (roots)
        *roots = r;
    return out;
}

/* SIGKILL to each, if it is still the process it was (start time). Returns how many. */
static size_t agents_orphans_kill(agents_t *ag, const agents_proc_stat_t *v, size_t n)
{
    size_t ended = 0;
    for (size_t i = 0; i < n; i++)
        if (agents_proc_signal(v[i].pid, v[i].start, SIGKILL) == 0)
            ended++;
    ag->orphans_ended += ended;
    if (ended)
        log_info(NULL, "agents: ended processes left behind by exited agents", "{s:I}", "count",
                 (json_int_t)ended);
    return ended;
}

size_t agents_orphans_sweep(agents_t *ag)
{
    agents_procs_t t = {0};
    size_t nmains = 0, n = 0;
    pid_t *mains = agents_procs_read(&t) == 0 ? agents_main_pids(ag, &nmains) : NULL;
    agents_proc_stat_t *v =
        mains ? agents_orphans_find(&t, getpid(), mains, nmains, &n, NULL) : NULL;
    size_t ended = agents_orphans_kill(ag, v, n);
    free(v);
    free(mains);
    agents_procs_free(&t);
    return ended;
}

/* ---- reading /proc off the loop: it costs tens of microseconds per process (a read of
 * 1 100 processes took 24 ms here), so it runs on the thread pool, one job at a time, and the
 * loop only sends the signals. A job carries the tree signals asked for since the last one
 * (sent in the order asked, so a pause then a resume end resumed) and, when an agent's main
 * process has exited since, the orphan sweep. ---- */

#define AGENTS_TREE_QUEUE_MAX 65536 /* tree signals waiting for the next job */
#define AGENTS_SWEEP_GAP_MS   50    /* between two sweeps while exits keep coming */

struct agents_tree_req {
    pid_t root, pgid;
    uint64_t start;
    int sig;
};

typedef struct agents_procs_job {
    uv_work_t req;
    agents_t *ag;
    pid_t self;
    agents_tree_req_t *reqs; /* owned */
    size_t nreqs;
    bool sweep;
    pid_t *mains; /* sorted, owned (sweep only) */
    size_t nmains;
    /* results: tree signals in the order asked, then the orphans */
    agents_proc_stat_t *sig_to; /* owned */
    int *sig;                   /* owned */
    size_t nsig;
    agents_proc_stat_t *victims; /* owned */
    pid_t *roots;                /* owned: the daemon's child each victim is or is under */
    size_t nvictims;
} agents_procs_job_t;

static void agents_job_free(agents_procs_job_t *j)
{
    free(j->reqs);
    free(j->mains);
    free(j->sig_to);
    free(j->sig);
    free(j->victims);
    free(j->roots);
    free(j);
}

/* The job's reading part (thread pool, or the loop when no job could be queued). */
static void agents_job_read(agents_procs_job_t *j)
{
    agents_procs_t t = {0};
    if (agents_procs_read(&t) < 0 || !t.n) {
        agents_procs_free(&t);
        return;
    }
    size_t *idx = malloc(t.n * sizeof *idx), cap = 0;
    for (size_t r = 0; idx && r < j->nreqs; r++) {
        /* the descendants that left the group (setsid, setpgid); the group had it at once */
        const agents_tree_req_t *q = &j->reqs[r];
        size_t m = agents_procs_descendants(&t, q->root, q->start, idx, t.n);
        for (size_t k = 0; k < m; k++) {
            if (t.v[idx[k]].pgid == q->pgid)
                continue;
            if (j->nsig == cap) {
                size_t nc = cap ? cap * 2 : 64;
                agents_proc_stat_t *a = realloc(j->sig_to, nc * sizeof *a);
                if (a)
                    j->sig_to = a;
                int *b = a ? realloc(j->sig, nc * sizeof *b) : NULL;
                if (!b)
                    break;
                j->sig = b;
                cap = nc;
            }
            j->sig_to[j->nsig] = t.v[idx[k]];
            j->sig[j->nsig++] = q->sig;
        }
    }
    free(idx);
    if (j->sweep && j->mains)
        j->victims = agents_orphans_find(&t, j->self, j->mains, j->nmains, &j->nvictims, &j->roots);
    agents_procs_free(&t);
}

/* The job's signalling part (loop). Every signal goes through the start-time check: a pid
 * reused since the read is not signalled. */
static void agents_job_apply(agents_procs_job_t *j)
{
    agents_t *ag = j->ag;
    for (size_t i = 0; i < j->nsig; i++)
        (void)agents_proc_signal(j->sig_to[i].pid, j->sig_to[i].start, j->sig[i]);
    if (!j->nvictims)
        return;
    /* an agent spawned after the job took its list of main processes was read as a child
     * that is no agent's: it and what is under it are kept */
    size_t nmains = 0, k = 0;
    pid_t *mains = agents_main_pids(ag, &nmains);
    for (size_t i = 0; mains && i < j->nvictims; i++)
        if (!bsearch(&j->roots[i], mains, nmains, sizeof *mains, agents_pid_cmp))
            j->victims[k++] = j->victims[i];
    agents_orphans_kill(ag, j->victims, k);
    free(mains);
}

static void agents_job_start(agents_t *ag);

static void agents_job_work(uv_work_t *req)
{
    agents_job_read(req->data);
}

static void agents_job_on_timer(uv_timer_t *t)
{
    agents_job_start(t->data);
}

static void agents_job_done(uv_work_t *req, int status)
{
    agents_procs_job_t *j = req->data;
    agents_t *ag = j->ag;
    (void)status;
    agents_job_apply(j);
    agents_job_free(j);
    ag->job_inflight = false;
    if (ag->tree_n)
        agents_job_start(ag); /* signals wait for nobody */
    else if (ag->sweep_wanted && ag->job_timer_open && !ag->shutting_down)
        /* exits keep coming: the next sweep waits a little, so that a stream of exits costs
         * a read every AGENTS_SWEEP_GAP_MS, not a thread busy reading /proc */
        uv_timer_start(&ag->job_timer, agents_job_on_timer, AGENTS_SWEEP_GAP_MS, 0);
    else if (ag->sweep_wanted)
        agents_job_start(ag);
}

/* Starts a job with what is waiting, unless one is in flight (its end starts the next). */
static void agents_job_start(agents_t *ag)
{
    if (ag->job_inflight || ag->jobs_closed || (!ag->tree_n && !ag->sweep_wanted))
        return;
    if (ag->job_timer_open)
        uv_timer_stop(&ag->job_timer);
    agents_procs_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return; /* out of memory: what waits goes with the next start */
    j->ag = ag;
    j->self = getpid();
    j->req.data = j;
    j->reqs = ag->tree_q;
    j->nreqs = ag->tree_n;
    ag->tree_q = NULL;
    ag->tree_n = ag->tree_cap = 0;
    j->sweep = ag->sweep_wanted;
    ag->sweep_wanted = false;
    if (j->sweep)
        j->mains = agents_main_pids(ag, &j->nmains);
    if (uv_queue_work(ag->hub->loop, &j->req, agents_job_work, agents_job_done) < 0) {
        agents_job_read(j); /* no thread pool: on the loop */
        agents_job_apply(j);
        agents_job_free(j);
        return;
    }
    ag->job_inflight = true;
}

void agents_procs_jobs_init(agents_t *ag)
{
    uv_timer_init(ag->hub->loop, &ag->job_timer);
    ag->job_timer.data = ag;
    uv_unref((uv_handle_t *)&ag->job_timer);
    ag->job_timer_open = true;
}

void agents_procs_jobs_fini(agents_t *ag)
{
    /* the job in flight refers to ag: let it finish (a read of /proc is bounded) */
    if (ag->job_timer_open)
        uv_timer_stop(&ag->job_timer);
    for (int i = 0; i < 5000 && ag->job_inflight; i++) {
        uv_run(ag->hub->loop, UV_RUN_NOWAIT);
        if (ag->job_inflight)
            uv_sleep(1);
    }
    ag->jobs_closed = true; /* from here, agents_orphans_sweep (on the loop) only */
    free(ag->tree_q);
    ag->tree_q = NULL;
    ag->tree_n = ag->tree_cap = 0;
    if (ag->job_timer_open)
        uv_close((uv_handle_t *)&ag->job_timer, NULL);
    ag->job_timer_open = false;
}

void agents_orphans_sweep_start(agents_t *ag)
{
    ag->sweep_wanted = true;
    if (ag->job_timer_open && uv_is_active((uv_handle_t *)&ag->job_timer))
        return; /* a sweep is due shortly, after this exit */
    agents_job_start(ag);
}

int agents_tree_signal(agent_t *a, int sig)
{
    agents_t *ag = a->owner;
    if (a->pgid <= 0 || !a->pid)
        return -ESRCH;
    int rc = kill(-a->pgid, sig) < 0 ? -errno : 0;
    if (sig == SIGKILL && a->cg_dir)
        (void)agents_cgroup_kill(a->cg_dir);
    /* the descendants that left the group get the same signal once /proc is read; the
     * agent's main process is their subreaper, so the tree holds them until it exits */
    if (ag->tree_n == ag->tree_cap) {
        size_t cap = ag->tree_cap ? ag->tree_cap * 2 : 16;
        agents_tree_req_t *q =
            cap <= AGENTS_TREE_QUEUE_MAX ? realloc(ag->tree_q, cap * sizeof *q) : NULL;
        if (!q) {
            log_warn(NULL, "agents: signal not sent to descendants outside the group", "{s:s,s:i}",
                     "agent", a->id, "signal", sig);
            return rc;
        }
        ag->tree_q = q;
        ag->tree_cap = cap;
    }
    ag->tree_q[ag->tree_n++] =
        (agents_tree_req_t){.root = a->pid, .pgid = a->pgid, .start = a->pid_start, .sig = sig};
    agents_job_start(ag);
    return rc;
}

void agents_tree_end(agent_t *a)
{
    /* the main process has exited: its group, and its cgroup when it has one. Descendants in
     * other groups were re-parented to the daemon and are ended by the sweep. */
    if (a->pgid > 0)
        (void)kill(-a->pgid, SIGKILL);
    if (a->cg_dir)
        (void)agents_cgroup_kill(a->cg_dir);
}

/* ---- what a killed daemon left running ---- */

int agents_boot_id_read(char *out, size_t len)
{
    out[0] = '\0';
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
    if (!f)
        return -errno;
    bool ok = fgets(out, (int)len, f) != NULL;
    fclose(f);
    if (!ok)
        return -EIO;
    out[strcspn(out, "\n")] = '\0';
    return 0;
}

/* The value of AGENT_ID in the process's environment ("" when absent or unreadable). */
static void agents_environ_agent_id(pid_t pid, char *buf, size_t buflen, char *id, size_t idlen)
{
    id[0] = '\0';
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    size_t len = 0;
    ssize_t r;
    while (len < buflen && (r = read(fd, buf + len, buflen - len)) > 0)
        len += (size_t)r;
    close(fd);
    static const char key[] = "AGENT_ID=";
    for (size_t i = 0; i < len;) {
        const char *e = buf + i;
        const char *nul = memchr(e, '\0', len - i);
        size_t el = nul ? (size_t)(nul - e) : len - i;
        if (el > sizeof key - 1 && memcmp(e, key, sizeof key - 1) == 0) {
            snprintf(id, idlen, "%.*s", (int)(el - (sizeof key - 1)), e + sizeof key - 1);
            return;
        }
        i += el + 1;
    }
}

static bool agents_pid_in(const pid_t *v, size_t n, pid_t pid)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == pid)
            return true;
    return false;
}

/* The row a process belongs to, or -1: its own pid and start time, its group or session (the
 * group's number is still that agent's: no live process holds it as its own pid with another
 * start time), or the AGENT_ID it inherited; and never a process older than the agent. */
static long agents_leftover_match(const agents_leftover_t *v, size_t n, const agents_proc_stat_t *e,
                                  const char *env_id)
{
    for (size_t i = 0; i < n; i++) {
        if (!v[i].start || e->start < v[i].start)
            continue;
        if (e->pid == v[i].pid && e->start == v[i].start)
            return (long)i;
        if (v[i].pgid > 0 && !v[i].group_reused && (e->pgid == v[i].pgid || e->sid == v[i].pgid))
            return (long)i;
        if (env_id && env_id[0] && strcmp(env_id, v[i].id) == 0)
            return (long)i;
    }
    return -1;
}

size_t agents_leftovers_end(agents_t *ag, agents_leftover_t *v, size_t n)
{
    size_t total = 0;
    if (!n)
        return 0;
    agents_procs_t t = {0};
    if (agents_procs_read(&t) < 0) {
        log_warn(NULL, "agents: cannot read the process table: leftovers of the last run not ended",
                 NULL);
        return 0;
    }
    uint64_t min_start = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        v[i].ended = 0;
        for (size_t k = 0; k < t.n && v[i].pgid > 0; k++)
            if (t.v[k].pid == v[i].pgid && t.v[k].start != v[i].start)
                v[i].group_reused = true;
        if (v[i].start && v[i].start < min_start)
            min_start = v[i].start;
    }
    /* the daemon and its ancestors are never candidates (an operator may start it from a
     * shell that an agent of the last run opened) */
    pid_t self = getpid();
    pid_t *ancestors = malloc(64 * sizeof *ancestors);
    size_t nanc = 0;
    for (pid_t p = self; ancestors && p > 1 && nanc < 64;) {
        ancestors[nanc++] = p;
        agents_proc_stat_t st;
        if (agents_proc_stat_read(p, &st) < 0)
            break;
        p = st.ppid;
    }
    long *owner = calloc(t.n ? t.n : 1, sizeof *owner);
    char *envbuf = malloc(AGENTS_ENVIRON_MAX);
    size_t *idx = malloc((t.n ? t.n : 1) * sizeof *idx);
    if (!ancestors || !owner || !envbuf || !idx) {
        free(ancestors);
        free(owner);
        free(envbuf);
        free(idx);
        agents_procs_free(&t);
        return 0;
    }
    for (size_t k = 0; k < t.n; k++) {
        const agents_proc_stat_t *e = &t.v[k];
        owner[k] = -1;
        bool skip = e->pid <= 2 || e->ppid == 2 || e->start < min_start; /* kernel threads */
        if (skip || agents_pid_in(ancestors, nanc, e->pid))
            continue;
        owner[k] = agents_leftover_match(v, n, e, NULL);
        if (owner[k] < 0) {
            char id[AGENTS_ID_LEN + 2];
            agents_environ_agent_id(e->pid, envbuf, AGENTS_ENVIRON_MAX, id, sizeof id);
            owner[k] = agents_leftover_match(v, n, e, id);
        }
    }
    /* everything under a leftover goes with it */
    for (size_t k = 0; k < t.n; k++) {
        if (owner[k] < 0)
            continue;
        size_t m = agents_procs_descendants(&t, t.v[k].pid, v[owner[k]].start, idx, t.n);
        for (size_t j = 0; j < m; j++)
            if (owner[idx[j]] < 0 && !agents_pid_in(ancestors, nanc, t.v[idx[j]].pid))
                owner[idx[j]] = owner[k];
    }
    for (size_t k = 0; k < t.n; k++) {
        if (owner[k] < 0 || agents_proc_signal(t.v[k].pid, t.v[k].start, SIGKILL) < 0)
            continue;
        v[owner[k]].ended++;
        total++;
    }
    ag->orphans_ended += total;
    for (size_t i = 0; i < n; i++) {
        if (!v[i].cgroup || !v[i].cgroup[0])
            continue;
        /* only a cgroup this daemon would have made: agent-<id> under its own */
        const char *base = strrchr(v[i].cgroup, '/');
        size_t rl = strlen(ag->cgroup_dir);
        if (!ag->cgroup_v2 || !base || strncmp(base, "/agent-", 7) || strcmp(base + 7, v[i].id) ||
            strncmp(v[i].cgroup, ag->cgroup_dir, rl) || v[i].cgroup + rl != base)
            continue;
        if (agents_cgroup_kill(v[i].cgroup) == 0)
            (void)rmdir(v[i].cgroup); /* EBUSY while a member is still dying: left empty */
    }
    free(ancestors);
    free(owner);
    free(envbuf);
    free(idx);
    agents_procs_free(&t);
    return total;
}
