/* CPU % and resident memory of live agents, sampled every agents.sample_ms off the loop: a job
 * on the thread pool reads the agents' cgroups, or /proc for the process trees of agents
 * without one (one stat read per process), and the loop applies the results, publishes
 * agent.<id>.usage and lets the memory trigger look. One job at a time; a slow read delays
 * the next tick instead of piling up. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agents/agents_internal.h"
#include "core/bus.h"
#include "core/clock.h"
#include "core/hub.h"
#include "core/log.h"

#define AGENTS_USAGE_TREE_MAX 4096  /* processes of one tree counted per sample */
#define AGENTS_USAGE_QUIET_MS 10000 /* an unchanged sample is published at least this often */

typedef struct agents_usage_item {
    char id[AGENTS_ID_LEN + 1];
    pid_t pid;
    uint64_t start;
    char *cg_dir; /* owned copy, or NULL: the process tree from /proc */
    /* results (the job's) */
    int rc;
    bool cgroup; /* read from the cgroup (its CPU time spans the agent's earlier runs) */
    uint64_t cpu_ns, rss_bytes;
} agents_usage_item_t;

typedef struct agents_sampler {
    agents_t *ag;
    uv_timer_t timer;
    uv_work_t work;
    bool inflight;
    agents_usage_item_t *items;
    size_t n, cap;
    bool need_procs;      /* some item has no cgroup: read the process table */
    agents_procs_t procs; /* the job's table (reused) */
    size_t *tree;         /* the job's descendant indexes */
    uint64_t mono_ns;     /* when the job read */
    long page_size, ticks;
} agents_sampler_t;

/* ---- reading (thread pool) ---- */

/* The value of the line "key N" in text (cpu.stat, memory.stat). 0 or -ENOENT. */
static int agents_usage_kv(const char *text, const char *key, uint64_t *out)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, key, kl) == 0 && p[kl] == ' ') {
            *out = strtoull(p + kl + 1, NULL, 10);
            return 0;
        }
    return -ENOENT;
}

static int agents_usage_file(const char *dir, const char *name, char *buf, size_t len)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    buf[0] = '\0'; /* a string on every return (the analyzer takes -errno for 0) */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, len - 1);
    int err = errno;
    close(fd);
    if (n < 0)
        return -err;
    buf[n] = '\0';
    return 0;
}

int agents_usage_cgroup_read(const char *dir, uint64_t *cpu_ns, uint64_t *rss_bytes)
{
    char buf[8192];
    uint64_t usec, anon, mapped = 0;
    if (agents_usage_file(dir, "cpu.stat", buf, sizeof buf) < 0 ||
        agents_usage_kv(buf, "usage_usec", &usec) < 0)
        return -ENOENT;
    if (agents_usage_file(dir, "memory.stat", buf, sizeof buf) < 0 ||
        agents_usage_kv(buf, "anon", &anon) < 0)
        return -ENOENT;
    (void)agents_usage_kv(buf, "file_mapped", &mapped);
    *cpu_ns = usec * 1000u;
    *rss_bytes = anon + mapped;
    return 0;
}

/* The main process and its descendants from the table (shared pages are counted once per
 * process, as ps and top count them). */
static int agents_usage_tree(agents_sampler_t *s, agents_usage_item_t *it)
{
    agents_proc_stat_t st;
    if (agents_proc_stat_read(it->pid, &st) < 0 || st.start != it->start)
        return -ESRCH;
    uint64_t ticks = st.cpu_ticks, pages = st.rss_pages;
    size_t n = s->procs.n ? agents_procs_descendants(&s->procs, it->pid, it->start, s->tree,
                                                     AGENTS_USAGE_TREE_MAX)
                          : 0;
    for (size_t i = 0; i < n; i++) {
        ticks += s->procs.v[s->tree[i]].cpu_ticks;
        pages += s->procs.v[s->tree[i]].rss_pages;
    }
    it->cpu_ns = ticks * (1000000000u / (uint64_t)s->ticks);
    it->rss_bytes = pages * (uint64_t)s->page_size;
    return 0;
}

static void agents_usage_work(uv_work_t *w)
{
    agents_sampler_t *s = w->data;
    if (s->need_procs && agents_procs_read(&s->procs) < 0)
        s->procs.n = 0; /* the main processes alone */
    s->mono_ns = clock_mono_ns();
    for (size_t i = 0; i < s->n; i++) {
        agents_usage_item_t *it = &s->items[i];
        it->rc = it->cg_dir ? agents_usage_cgroup_read(it->cg_dir, &it->cpu_ns, &it->rss_bytes)
                            : -ENOENT;
        it->cgroup = it->rc == 0;
        if (it->rc < 0)
            it->rc = agents_usage_tree(s, it);
    }
}

/* ---- applying (loop) ---- */

const agents_usage_t *agents_usage_of(const agent_t *a)
{
    return a->pid && a->usage.pid == a->pid && a->usage.sampled_ms ? &a->usage : NULL;
}

json_t *agents_usage_json(const agent_t *a)
{
    const agents_usage_t *u = agents_usage_of(a);
    if (!u)
        return json_null();
    char ts[40];
    return json_pack("{s:f,s:I,s:s}", "cpu_percent", round(u->cpu_percent * 10.0) / 10.0,
                     "rss_bytes", (json_int_t)u->rss_bytes, "sampled_at",
                     clock_rfc3339(u->sampled_ms, ts, sizeof ts));
}

/* An event when the figures moved (CPU by 0.1 point, RSS by 1 %), and at least every
 * AGENTS_USAGE_QUIET_MS: idle agents do not fill the bus's replay ring every second. */
static void agents_usage_publish(agent_t *a, bool first)
{
    hub_t *hub = a->owner->hub;
    agents_usage_t *u = &a->usage;
    int64_t cpu10 = (int64_t)llround(u->cpu_percent * 10.0);
    uint64_t drss =
        u->rss_bytes > u->pub_rss ? u->rss_bytes - u->pub_rss : u->pub_rss - u->rss_bytes;
    if (!hub->bus || (!first && cpu10 == u->pub_cpu10 && drss * 100 < u->pub_rss &&
                      u->sampled_ms - u->pub_ms < AGENTS_USAGE_QUIET_MS))
        return;
    u->pub_cpu10 = cpu10;
    u->pub_rss = u->rss_bytes;
    u->pub_ms = u->sampled_ms;
    json_t *ev = agents_usage_json(a);
    if (!json_is_object(ev)) {
        json_decref(ev);
        return;
    }
    json_object_set_new(ev, "id", json_string(a->id));
    json_object_set_new(ev, "name", json_string(a->name ? a->name : ""));
    json_object_set_new(ev, "pid", json_integer(a->pid));
    char topic[64];
    snprintf(topic, sizeof topic, "agent.%s.usage", a->id);
    bus_publish(hub->bus, topic, ev);
}

static void agents_usage_apply(agents_sampler_t *s, const agents_usage_item_t *it, int64_t wall_ms)
{
    agent_t *a = agents_find(s->ag, it->id);
    if (!a || a->forget || a->pid != it->pid || it->rc < 0 || !agents_status_live(a->status))
        return;
    agents_usage_t *u = &a->usage;
    bool first = u->pid != it->pid;
    double cpu;
    if (u->pid == it->pid && u->mono_ns && s->mono_ns > u->mono_ns)
        cpu = it->cpu_ns > u->cpu_ns
                  ? (double)(it->cpu_ns - u->cpu_ns) * 100.0 / (double)(s->mono_ns - u->mono_ns)
                  : 0.0; /* a child that ended took its time with it */
    else if (it->cgroup)
        cpu = 0.0; /* the first sample of this run: no share of the cgroup's time is its own */
    else
        cpu = wall_ms > a->started_ms
                  ? (double)it->cpu_ns / 1e6 * 100.0 / (double)(wall_ms - a->started_ms)
                  : 0.0;
    u->pid = it->pid;
    u->cpu_percent = cpu;
    u->rss_bytes = it->rss_bytes;
    u->cpu_ns = it->cpu_ns;
    u->mono_ns = s->mono_ns;
    u->sampled_ms = wall_ms;
    agents_usage_publish(a, first);
    agents_triggers_usage(a);
}

static void agents_usage_items_clear(agents_sampler_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->items[i].cg_dir);
    s->n = 0;
}

static void agents_usage_done(uv_work_t *w, int status)
{
    agents_sampler_t *s = w->data;
    s->inflight = false;
    if (status == 0 && s->ag) {
        int64_t wall_ms = clock_wall_ms();
        for (size_t i = 0; i < s->n; i++)
            agents_usage_apply(s, &s->items[i], wall_ms);
    }
    agents_usage_items_clear(s);
}

static void agents_usage_tick(uv_timer_t *t)
{
    agents_sampler_t *s = t->data;
    agents_t *ag = s->ag;
    if (s->inflight || ag->shutting_down)
        return;
    s->n = 0;
    s->need_procs = false;
    for (agent_t *a = ag->head; a; a = a->next) {
        if (!a->pid || a->forget || a->exited || !agents_status_live(a->status))
            continue;
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 64;
            agents_usage_item_t *v = realloc(s->items, cap * sizeof *v);
            if (!v)
                break;
            s->items = v;
            s->cap = cap;
        }
        agents_usage_item_t *it = &s->items[s->n];
        memset(it, 0, sizeof *it);
        memcpy(it->id, a->id, sizeof it->id);
        it->pid = a->pid;
        it->start = a->pid_start;
        it->cg_dir = a->cg_dir ? strdup(a->cg_dir) : NULL;
        if (!it->cg_dir)
            s->need_procs = true;
        s->n++;
    }
    if (s->n == 0)
        return;
    s->work.data = s;
    if (uv_queue_work(ag->hub->loop, &s->work, agents_usage_work, agents_usage_done) < 0) {
        agents_usage_items_clear(s);
        return;
    }
    s->inflight = true;
}

int agents_usage_init(agents_t *ag)
{
    agents_sampler_t *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->tree = malloc(AGENTS_USAGE_TREE_MAX * sizeof *s->tree);
    if (!s->tree) {
        free(s);
        return -ENOMEM;
    }
    s->ag = ag;
    s->page_size = sysconf(_SC_PAGESIZE);
    s->ticks = sysconf(_SC_CLK_TCK);
    if (s->page_size <= 0)
        s->page_size = 4096;
    if (s->ticks <= 0)
        s->ticks = 100;
    uv_timer_init(ag->hub->loop, &s->timer);
    s->timer.data = s;
    uv_unref((uv_handle_t *)&s->timer);
    uint64_t period = (uint64_t)ag->hub->cfg.agents_sample_ms;
    uv_timer_start(&s->timer, agents_usage_tick, period, period);
    ag->sampler = s;
    return 0;
}

static void agents_usage_on_close(uv_handle_t *h)
{
    agents_sampler_t *s = h->data;
    agents_usage_items_clear(s);
    free(s->items);
    free(s->tree);
    agents_procs_free(&s->procs);
    free(s);
}

void agents_usage_fini(agents_t *ag)
{
    agents_sampler_t *s = ag->sampler;
    if (!s)
        return;
    uv_timer_stop(&s->timer);
    /* the job reads into s: let it finish (a read of /proc is bounded) */
    for (int i = 0; i < 5000 && s->inflight; i++) {
        uv_run(ag->hub->loop, UV_RUN_NOWAIT);
        if (s->inflight)
            uv_sleep(1);
    }
    s->ag = NULL;
    ag->sampler = NULL;
    if (s->inflight) {
        log_warn(NULL, "agents: a usage sample did not finish; its memory is left", NULL);
        return;
    }
    uv_close((uv_handle_t *)&s->timer, agents_usage_on_close);
}
