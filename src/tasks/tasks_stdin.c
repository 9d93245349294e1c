/* Stdin workers: agents that declare the capability `tasks:N` take up to N tasks at once as
 * JSON lines on their stdin and answer with task_progress / task_result lines on stdout.
 * Routing: by the task's agent (id or name) or capability, least-loaded first; a worker that
 * ends gets its tasks retried elsewhere. Loop thread only. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/hub.h"
#include "core/log.h"
#include "tasks/tasks_internal.h"

#define TASKS_STDIN_AGENTS 256 /* stdin workers considered in one pass */
#define TASKS_SLOTS_MAX    1024

typedef struct tasks_worker {
    char id[64];
    char name[129];
    json_t *caps; /* owned reference */
    int slots, load;
} tasks_worker_t;

typedef struct tasks_workers {
    tasks_worker_t w[TASKS_STDIN_AGENTS];
    size_t n;
    bool all; /* visit every live agent, also those without slots (reconcile) */
} tasks_workers_t;

/* The N of a `tasks:N` capability, 0 when there is none. */
static int tasks_stdin_slots(const json_t *caps)
{
    size_t i;
    json_t *c;
    json_array_foreach(caps, i, c)
    {
        const char *s = json_string_value(c);
        if (s && !strncmp(s, "tasks:", 6)) {
            char *end;
            long n = strtol(s + 6, &end, 10);
            if (*end == '\0' && n > 0)
                return n > TASKS_SLOTS_MAX ? TASKS_SLOTS_MAX : (int)n;
        }
    }
    return 0;
}

static void tasks_stdin_visit(void *ud, const char *id, const char *name, const json_t *caps)
{
    tasks_workers_t *ws = ud;
    int slots = tasks_stdin_slots(caps);
    if (ws->n == TASKS_STDIN_AGENTS || (!slots && !ws->all))
        return;
    tasks_worker_t *w = &ws->w[ws->n++];
    snprintf(w->id, sizeof w->id, "%s", id);
    snprintf(w->name, sizeof w->name, "%s", name);
    w->caps = caps ? json_deep_copy(caps) : NULL; /* a copy: the visit lends it */
    w->slots = slots;
    w->load = 0;
}

static tasks_worker_t *tasks_stdin_find(tasks_workers_t *ws, const char *id)
{
    for (size_t i = 0; i < ws->n; i++)
        if (!strcmp(ws->w[i].id, id))
            return &ws->w[i];
    return NULL;
}

static void tasks_workers_free(tasks_workers_t *ws)
{
    for (size_t i = 0; i < ws->n; i++)
        json_decref(ws->w[i].caps);
    free(ws);
}

static tasks_workers_t *tasks_workers_get(tasks_t *ts, bool all)
{
    if (!ts->hub->agents_each_live)
        return NULL;
    tasks_workers_t *ws = calloc(1, sizeof *ws);
    if (!ws)
        return NULL;
    ws->all = all;
    ts->hub->agents_each_live(ts->hub, tasks_stdin_visit, ws);
    if (!ws->n) {
        tasks_workers_free(ws);
        return NULL;
    }
    for (task_t *t = ts->flight.head; t; t = t->next) {
        tasks_worker_t *w = t->via_stdin && t->worker ? tasks_stdin_find(ws, t->worker) : NULL;
        if (w)
            w->load++;
    }
    return ws;
}

static bool tasks_stdin_can(const tasks_worker_t *w, const task_t *t)
{
    if (w->load >= w->slots)
        return false;
    if (t->agent)
        return !strcmp(t->agent, w->id) || !strcmp(t->agent, w->name);
    if (!t->capability)
        return true;
    size_t i;
    json_t *c;
    json_array_foreach(w->caps, i, c)
    {
        const char *s = json_string_value(c);
        if (s && !strcmp(s, t->capability))
            return true;
    }
    return false;
}

/* Writes the task line; 0 or a negative errno. */
static int tasks_stdin_send(tasks_t *ts, const tasks_worker_t *w, const task_t *t)
{
    json_t *line =
        json_pack("{s:s,s:s,s:s,s:O,s:i}", "type", "task", "id", t->id, "task_type", t->type,
                  "input", t->input ? t->input : json_null(), "attempt", t->attempts + 1);
    char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
    json_decref(line);
    if (!text)
        return -ENOMEM;
    size_t n = strlen(text);
    char *nl = realloc(text, n + 2);
    if (!nl) {
        free(text);
        return -ENOMEM;
    }
    nl[n] = '\n';
    nl[n + 1] = '\0';
    int rc = ts->hub->agents_stdin_line(ts->hub, w->id, nl, n + 1);
    free(nl);
    return rc;
}

/* Whether some worker with a free slot may take the tasks of route r (all of them alike). */
static bool tasks_stdin_serves(const tasks_workers_t *ws, const tasks_route_t *r)
{
    const task_t *t = NULL;
    for (int pr = 0; pr < TASKS_PRIORITIES && !t && r->n; pr++)
        t = r->q[pr].head;
    for (size_t i = 0; t && i < ws->n; i++)
        if (tasks_stdin_can(&ws->w[i], t))
            return true;
    return false;
}

/* Keeps the routes some free worker serves; returns how many remain. */
static size_t tasks_stdin_routes(const tasks_workers_t *ws, tasks_route_t **routes, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (tasks_stdin_serves(ws, routes[i]))
            routes[k++] = routes[i];
    return k;
}

void tasks_stdin_dispatch(tasks_t *ts)
{
    bool queued = false;
    for (int pr = 0; pr < TASKS_PRIORITIES && !queued; pr++)
        queued = ts->queue[pr].n > 0;
    if (!queued || !ts->hub->agents_stdin_line)
        return;
    tasks_workers_t *ws = tasks_workers_get(ts, false);
    if (!ws)
        return;
    size_t n = 0;
    for (tasks_route_t *r = ts->route_head; r; r = r->next)
        n++;
    tasks_route_t **routes = malloc((n ? n : 1) * sizeof *routes);
    if (!routes) {
        tasks_workers_free(ws);
        return; /* the next dispatch tries again */
    }
    n = 0;
    for (tasks_route_t *r = ts->route_head; r; r = r->next)
        routes[n++] = r;
    n = tasks_stdin_routes(ws, routes, n);
    int64_t now = clock_wall_ms();
    task_t *t;
    while (n && (t = tasks_route_pick(routes, n, now))) {
        tasks_worker_t *best = NULL;
        for (size_t i = 0; i < ws->n; i++)
            if (tasks_stdin_can(&ws->w[i], t) && (!best || ws->w[i].load < best->load))
                best = &ws->w[i];
        if (!best || tasks_stdin_send(ts, best, t) < 0) {
            /* not deliverable now: its route waits for the next dispatch */
            for (size_t i = 0; i < n; i++)
                if (routes[i] == t->route) {
                    routes[i] = routes[--n];
                    break;
                }
            continue;
        }
        t->state = TASK_ASSIGNED;
        t->via_stdin = true;
        t->attempts++;
        t->lease = ++ts->lease_seq;
        t->lease_expires_ms = 0;
        free(t->worker);
        t->worker = strdup(best->id);
        tasks_link_flight(ts, t);
        tasks_changed(ts, t, NULL);
        if (++best->load == best->slots)
            n = tasks_stdin_routes(ws, routes, n);
    }
    free(routes);
    tasks_workers_free(ws);
}

void tasks_stdin_reconcile(tasks_t *ts)
{
    bool any = false;
    for (task_t *t = ts->flight.head; t && !any; t = t->next)
        any = t->via_stdin;
    if (!any)
        return;
    tasks_workers_t *ws = tasks_workers_get(ts, true);
    task_t *t = ts->flight.head;
    while (t) {
        task_t *nx = t->next;
        if (t->via_stdin && (!ws || !t->worker || !tasks_stdin_find(ws, t->worker)))
            tasks_requeue_or_fail(ts, t, "agent ended");
        t = nx;
    }
    if (ws)
        tasks_workers_free(ws);
}

void tasks_stdin_cancel(tasks_t *ts, const task_t *t)
{
    if (!ts->hub->agents_stdin_line || !t->worker)
        return;
    char line[96];
    int n = snprintf(line, sizeof line, "{\"type\":\"task_cancel\",\"id\":\"%s\"}\n", t->id);
    (void)ts->hub->agents_stdin_line(ts->hub, t->worker, line, (size_t)n);
}

void tasks_agent_line(void *ud, const char *agent_id, const json_t *msg)
{
    tasks_t *ts = ud;
    const char *type = json_string_value(json_object_get(msg, "type"));
    const char *id = json_string_value(json_object_get(msg, "id"));
    task_t *t = id ? tasks_get(ts, id) : NULL;
    if (!t || !t->via_stdin || !t->worker || strcmp(t->worker, agent_id) ||
        (t->state != TASK_ASSIGNED && t->state != TASK_RUNNING)) {
        log_debug(NULL, "tasks: a task line for no task this agent holds", "{s:s,s:s}", "agent",
                  agent_id, "task", id ? id : "");
        return;
    }
    problem_t *p = NULL;
    if (!strcmp(type, "task_progress")) {
        p = tasks_heartbeat(ts, t, t->lease, json_object_get(msg, "progress"), 0);
    } else if (!strcmp(type, "task_result")) {
        json_t *ok = json_object_get(msg, "ok");
        p = tasks_result(ts, t, t->lease, ok ? json_is_true(ok) : true,
                         json_object_get(msg, "output"),
                         json_string_value(json_object_get(msg, "error")));
        if (!p)
            tasks_dispatch(ts);
    }
    if (p) {
        log_warn(NULL, "tasks: a stdin worker's line refused", "{s:s,s:s,s:s}", "agent", agent_id,
                 "task", t->id, "reason", problem_detail(p));
        /* too large a result still ends the attempt: the task fails with the reason */
        if (problem_status(p) == 413 && !strcmp(type, "task_result"))
            (void)tasks_result(ts, t, t->lease, false, NULL, problem_detail(p));
        problem_destroy(&p);
    }
}

void tasks_stdin_wants(tasks_t *ts, tasks_want_fn want, void *ud)
{
    tasks_workers_t *ws = tasks_workers_get(ts, false);
    if (!ws)
        return;
    for (size_t i = 0; i < ws->n; i++) {
        const tasks_worker_t *w = &ws->w[i];
        if (w->load >= w->slots)
            continue;
        want(ud, "agent", w->id);
        want(ud, "agent", w->name);
        size_t j;
        json_t *c;
        json_array_foreach(w->caps, j, c)
        {
            const char *s = json_string_value(c);
            if (s && strncmp(s, "tasks:", 6))
                want(ud, "cap", s);
        }
        want(ud, NULL, NULL);
    }
    tasks_workers_free(ws);
}
