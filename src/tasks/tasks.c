/* The task model and its scheduling: submission, the priority queues (higher priority first,
 * FIFO within one), leases and their lapse, retries with backoff, deadlines, cancellation and
 * the long-polls that wait for work or for a task's end. Loop thread only. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bus.h"
#include "core/clock.h"
#include "core/hub.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "store/audit.h"
#include "tasks/tasks_internal.h"

const char *const tasks_state_names[] = {"queued", "assigned",  "running", "succeeded",
                                         "failed", "cancelled", "expired", NULL};

bool tasks_terminal(task_state_t s)
{
    return s >= TASK_SUCCEEDED;
}

static const void *tasks_id_key(const void *item, size_t *len)
{
    const task_t *t = item;
    *len = strlen(t->id);
    return t->id;
}

static const void *tasks_idem_key(const void *item, size_t *len)
{
    const task_t *t = item;
    *len = strlen(t->idem_key);
    return t->idem_key;
}

int tasks_tables_new(tasks_t *ts);
int tasks_tables_new(tasks_t *ts)
{
    if (htab_new(&ts->by_id, tasks_id_key) < 0 || htab_new(&ts->by_key, tasks_idem_key) < 0 ||
        tasks_routes_new(ts) < 0)
        return -1;
    return 0;
}

task_t *tasks_get(tasks_t *ts, const char *id)
{
    return htab_get_str(ts->by_id, id);
}

void tasks_free(task_t *t)
{
    if (!t)
        return;
    free(t->type);
    free(t->description);
    free(t->agent);
    free(t->capability);
    free(t->idem_key);
    free(t->worker);
    free(t->error);
    free(t->owner);
    free(t->team);
    free(t->origin);
    free(t->holder);
    json_decref(t->input);
    json_decref(t->labels);
    json_decref(t->output);
    json_decref(t->progress);
    free(t->doc);
    free(t);
}

/* ---- lists ---- */

static tasks_list_t *tasks_list_of(tasks_t *ts, const task_t *t)
{
    switch (t->list) {
    case TASKS_L_QUEUE:
        return &ts->queue[t->priority];
    case TASKS_L_FLIGHT:
        return &ts->flight;
    case TASKS_L_DONE:
        return &ts->done;
    }
    return NULL;
}

static void tasks_unlink(tasks_t *ts, task_t *t)
{
    tasks_list_t *l = tasks_list_of(ts, t);
    if (!l)
        return;
    if (t->list == TASKS_L_QUEUE) {
        tasks_route_del(ts, t);
        if (t->deadline_ms)
            ts->queued_deadlines--;
    }
    if (t->prev)
        t->prev->next = t->next;
    else
        l->head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        l->tail = t->prev;
    l->n--;
    t->prev = t->next = NULL;
    t->list = TASKS_L_NONE;
}

/* Appends t to a list, or for the queue puts it in submission order (a retried task keeps its
 * place ahead of later submissions). */
static void tasks_link(tasks_t *ts, task_t *t, int which)
{
    tasks_unlink(ts, t);
    t->list = which;
    tasks_list_t *l = tasks_list_of(ts, t);
    task_t *after = l->tail;
    if (which == TASKS_L_QUEUE)
        while (after && after->seq > t->seq)
            after = after->prev;
    t->prev = after;
    t->next = after ? after->next : l->head;
    if (t->next)
        t->next->prev = t;
    else
        l->tail = t;
    if (after)
        after->next = t;
    else
        l->head = t;
    l->n++;
    if (which == TASKS_L_QUEUE) {
        tasks_route_add(ts, t);
        if (t->deadline_ms)
            ts->queued_deadlines++;
    }
}

void tasks_link_flight(tasks_t *ts, task_t *t)
{
    tasks_link(ts, t, TASKS_L_FLIGHT);
}

void tasks_place(tasks_t *ts, task_t *t)
{
    if (t->seq > ts->seq)
        ts->seq = t->seq;
    if (tasks_terminal(t->state)) {
        tasks_link(ts, t, TASKS_L_DONE);
    } else {
        /* a lease does not survive a restart: the task goes back to the queue */
        t->state = TASK_QUEUED;
        free(t->worker);
        t->worker = NULL;
        tasks_link(ts, t, TASKS_L_QUEUE);
    }
}

/* ---- JSON ---- */

static void tasks_set_time(json_t *o, const char *key, int64_t ms)
{
    char buf[40];
    json_object_set_new(o, key, ms ? json_string(clock_rfc3339(ms, buf, sizeof buf)) : json_null());
}

json_t *tasks_task_json(const task_t *t)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(t->id));
    json_object_set_new(o, "type", json_string(t->type));
    json_object_set_new(o, "description",
                        t->description ? json_string(t->description) : json_null());
    json_object_set_new(o, "state", json_string(tasks_state_names[t->state]));
    json_object_set_new(o, "input", t->input ? json_incref(t->input) : json_null());
    json_object_set_new(o, "agent", t->agent ? json_string(t->agent) : json_null());
    json_object_set_new(o, "capability", t->capability ? json_string(t->capability) : json_null());
    json_object_set_new(o, "labels", t->labels ? json_incref(t->labels) : json_object());
    json_object_set_new(o, "priority", json_integer(t->priority));
    json_object_set_new(o, "max_attempts", json_integer(t->max_attempts));
    json_object_set_new(o, "attempts", json_integer(t->attempts));
    json_object_set_new(o, "idempotency_key", t->idem_key ? json_string(t->idem_key) : json_null());
    json_object_set_new(o, "worker", t->worker ? json_string(t->worker) : json_null());
    json_object_set_new(o, "progress", t->progress ? json_incref(t->progress) : json_null());
    json_object_set_new(o, "output", t->output ? json_incref(t->output) : json_null());
    json_object_set_new(o, "error", t->error ? json_string(t->error) : json_null());
    json_object_set_new(o, "owner", t->owner ? json_string(t->owner) : json_null());
    json_object_set_new(o, "team", t->team ? json_string(t->team) : json_null());
    tasks_set_time(o, "created_at", t->created_ms);
    tasks_set_time(o, "updated_at", t->updated_ms);
    tasks_set_time(o, "deadline", t->deadline_ms);
    json_object_set_new(o, "seq", json_integer((json_int_t)t->seq));
    json_object_set_new(o, "via",
                        t->state == TASK_QUEUED ? json_null()
                                                : json_string(t->via_stdin ? "stdin" : "lease"));
    json_object_set_new(o, "lease", json_integer((json_int_t)t->lease));
    json_object_set_new(o, "origin", t->origin ? json_string(t->origin) : json_null());
    json_object_set_new(o, "hub", t->holder ? json_string(t->holder) : json_null());
    tasks_set_time(o, "lease_expires_at",
                   t->state == TASK_ASSIGNED || t->state == TASK_RUNNING ? t->lease_expires_ms : 0);
    return o;
}

static char *tasks_dup(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? strdup(s) : NULL;
}

static int64_t tasks_time_of(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    int64_t ms = 0;
    if (s && clock_rfc3339_parse(s, &ms) < 0)
        ms = 0;
    return ms;
}

static json_t *tasks_ref(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return v && !json_is_null(v) ? json_incref(v) : NULL;
}

task_t *tasks_from_json(const json_t *doc)
{
    const char *id = json_string_value(json_object_get(doc, "id"));
    const char *state = json_string_value(json_object_get(doc, "state"));
    if (!id || strlen(id) > TASKS_ID_LEN || !state)
        return NULL;
    task_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    snprintf(t->id, sizeof t->id, "%s", id);
    for (int i = 0; tasks_state_names[i]; i++)
        if (!strcmp(state, tasks_state_names[i]))
            t->state = (task_state_t)i;
    t->type = tasks_dup(doc, "type");
    t->description = tasks_dup(doc, "description");
    t->agent = tasks_dup(doc, "agent");
    t->capability = tasks_dup(doc, "capability");
    t->idem_key = tasks_dup(doc, "idempotency_key");
    t->worker = tasks_dup(doc, "worker");
    t->error = tasks_dup(doc, "error");
    t->owner = tasks_dup(doc, "owner");
    t->team = tasks_dup(doc, "team");
    t->origin = tasks_dup(doc, "origin");
    t->holder = tasks_dup(doc, "hub");
    const char *via = json_string_value(json_object_get(doc, "via"));
    t->via_stdin = via && !strcmp(via, "stdin");
    t->input = tasks_ref(doc, "input");
    t->labels = tasks_ref(doc, "labels");
    t->output = tasks_ref(doc, "output");
    t->progress = tasks_ref(doc, "progress");
    t->priority = (int)json_integer_value(json_object_get(doc, "priority"));
    if (t->priority < 0 || t->priority >= TASKS_PRIORITIES)
        t->priority = 0;
    t->max_attempts = (int)json_integer_value(json_object_get(doc, "max_attempts"));
    t->attempts = (int)json_integer_value(json_object_get(doc, "attempts"));
    t->seq = (uint64_t)json_integer_value(json_object_get(doc, "seq"));
    t->lease = (uint64_t)json_integer_value(json_object_get(doc, "lease"));
    t->created_ms = tasks_time_of(doc, "created_at");
    t->updated_ms = tasks_time_of(doc, "updated_at");
    t->deadline_ms = tasks_time_of(doc, "deadline");
    if (!t->type)
        t->type = strdup("task");
    return t;
}

/* ---- transitions ---- */

/* Every transition: persisted (marked for the next batch), published, and audited when no
 * request caused it (a request's own audit row covers the others). */
void tasks_changed(tasks_t *ts, task_t *t, const char *system_cause)
{
    t->updated_ms = clock_wall_ms();
    tasks_dirty(ts, t);
    char topic[64];
    snprintf(topic, sizeof topic, "task.%s.updated", t->id);
    /* encoded once: the event's payload and the row the next batch writes */
    size_t len = 0;
    char *text = tasks_task_render(t, &len);
    if (text) {
        bus_publish_text(ts->hub->bus, topic, text, len);
        free(t->doc);
        t->doc = text;
    }
    if (system_cause && ts->hub->store) {
        char target[64];
        snprintf(target, sizeof target, "/api/v1/tasks/%s", t->id);
        json_t *detail = json_pack("{s:s,s:s,s:i}", "state", tasks_state_names[t->state], "cause",
                                   system_cause, "attempts", t->attempts);
        audit_entry_t e = {.principal = "system",
                           .action = "task transition",
                           .target = target,
                           .result = 200,
                           .detail = detail};
        (void)audit_write(ts->hub->store, ts->hub->loop, &e);
        json_decref(detail);
    }
    if (tasks_terminal(t->state)) {
        tasks_link(ts, t, TASKS_L_DONE);
        ts->completed++;
        /* clients waiting for this task's end */
        tasks_waiter_t *w = ts->waits.head;
        while (w) {
            tasks_waiter_t *nx = w->next;
            if (!strcmp(w->task_id, t->id)) {
                api_req_t *req = w->req;
                w->req = NULL;
                tasks_waiter_free(&ts->waits, w);
                tasks_ack_task(ts, req, 200, t);
            }
            w = nx;
        }
    }
}

void tasks_requeue_or_fail(tasks_t *ts, task_t *t, const char *why)
{
    free(t->worker);
    t->worker = NULL;
    if (t->attempts >= t->max_attempts) {
        t->state = TASK_FAILED;
        free(t->error);
        t->error = strdup(why);
        tasks_changed(ts, t, why);
        return;
    }
    int64_t backoff = TASKS_BACKOFF_MS;
    for (int i = 1; i < t->attempts && backoff < TASKS_BACKOFF_MAX; i++)
        backoff *= 2;
    if (backoff > TASKS_BACKOFF_MAX)
        backoff = TASKS_BACKOFF_MAX;
    t->not_before_ms = clock_wall_ms() + backoff;
    t->state = TASK_QUEUED;
    tasks_link(ts, t, TASKS_L_QUEUE);
    tasks_changed(ts, t, why);
}

static problem_t *tasks_field(const char *field, const char *why)
{
    problem_t *p = problem_validation_new();
    problem_field_add(p, "body", field, "%s", why);
    return p;
}

task_t *tasks_submit(tasks_t *ts, const json_t *body, const char *principal, const char *owner,
                     bool *existed, problem_t **p)
{
    *existed = false;
    const char *key = json_string_value(json_object_get(body, "idempotency_key"));
    if (key) {
        task_t *old = htab_get_str(ts->by_key, key);
        if (old) {
            *existed = true;
            return old;
        }
    }
    const char *agent = json_string_value(json_object_get(body, "agent"));
    const char *cap = json_string_value(json_object_get(body, "capability"));
    if (agent && cap) {
        *p = tasks_field("agent", "name either an agent or a capability, not both");
        return NULL;
    }
    json_t *input = json_object_get(body, "input");
    if (input && json_dumpb(input, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY) > TASKS_INPUT_MAX) {
        *p = problem_new(413, "input-too-large", "a task's input is at most %d bytes of JSON",
                         TASKS_INPUT_MAX);
        return NULL;
    }
    const char *deadline = json_string_value(json_object_get(body, "deadline"));
    int64_t deadline_ms = 0;
    if (deadline && clock_rfc3339_parse(deadline, &deadline_ms) < 0) {
        *p = tasks_field("deadline", "not an RFC 3339 date-time");
        return NULL;
    }
    json_t *timeout = json_object_get(body, "timeout_ms");
    if (timeout && !deadline)
        deadline_ms = clock_wall_ms() + json_integer_value(timeout);
    size_t live = htab_count(ts->by_id) - ts->done.n;
    if (live >= TASKS_LIVE_MAX) {
        *p = problem_new(429, "too-many-tasks", "%zu tasks are unfinished; at most %d at once",
                         live, TASKS_LIVE_MAX);
        problem_header_set(*p, "Retry-After", "1");
        return NULL;
    }
    /* The guard gate (hub->task_gate, wired in serve.c): the one place a submission is
     * evaluated before it is queued. */
    if (ts->hub->task_gate) {
        *p = ts->hub->task_gate(ts->hub->task_gate_ud, body, principal);
        if (*p)
            return NULL;
    }
    task_t *t = calloc(1, sizeof *t);
    if (!t) {
        *p = problem_new(503, "out-of-memory", "cannot hold another task");
        return NULL;
    }
    unsigned char rnd[8];
    randombytes_buf(rnd, sizeof rnd);
    snprintf(t->id, sizeof t->id, "t-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
             rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    t->type = tasks_dup(body, "type");
    t->description = tasks_dup(body, "description");
    t->agent = agent ? strdup(agent) : NULL;
    t->capability = cap ? strdup(cap) : NULL;
    t->idem_key = key ? strdup(key) : NULL;
    t->owner = owner ? strdup(owner) : NULL;
    t->team = tasks_dup(body, "team");
    t->input = tasks_ref(body, "input");
    t->labels = tasks_ref(body, "labels");
    json_t *pr = json_object_get(body, "priority");
    t->priority = pr ? (int)json_integer_value(pr) : 0;
    json_t *ma = json_object_get(body, "max_attempts");
    t->max_attempts = ma ? (int)json_integer_value(ma) : 3;
    t->deadline_ms = deadline_ms;
    t->created_ms = clock_wall_ms();
    t->seq = ++ts->seq;
    t->state = TASK_QUEUED;
    if (ts->relay) {
        t->origin = strdup(tasks_hub_name(ts));
        t->holder = strdup(tasks_hub_name(ts));
    }
    if (htab_put(ts->by_id, t) < 0 || (t->idem_key && htab_put(ts->by_key, t) < 0)) {
        htab_del(ts->by_id, t->id, strlen(t->id));
        tasks_free(t);
        *p = problem_new(503, "out-of-memory", "cannot hold another task");
        return NULL;
    }
    tasks_link(ts, t, TASKS_L_QUEUE);
    ts->submitted++;
    tasks_changed(ts, t, NULL);
    return t;
}

#define TASKS_LEASE_CAPS 64 /* capabilities one lease names (the API's bound) */

char *tasks_task_text(const task_t *t, size_t *len)
{
    if (t->doc) {
        *len = strlen(t->doc);
        char *s = malloc(*len + 1);
        if (s)
            memcpy(s, t->doc, *len + 1);
        return s;
    }
    return tasks_task_render(t, len);
}

size_t tasks_lease(tasks_t *ts, const json_t *caps, const char *agent, const char *principal,
                   int max, int64_t lease_ms, char **text, size_t *len)
{
    int64_t now = clock_wall_ms();
    /* the routes this worker serves: its capabilities, its name, and tasks for anyone */
    tasks_route_t *routes[TASKS_LEASE_CAPS + 2], *r;
    size_t n = 0, i;
    json_t *c;
    json_array_foreach(caps, i, c)
    {
        const char *s = json_string_value(c);
        if (s && n < TASKS_LEASE_CAPS && (r = tasks_route_get(ts, 'c', s)))
            routes[n++] = r;
    }
    if (agent && (r = tasks_route_get(ts, 'a', agent)))
        routes[n++] = r;
    if ((r = tasks_route_get(ts, '*', NULL)))
        routes[n++] = r;
    /* the reply is the tasks as their transitions rendered them: encoded once, not again */
    strbuf_t out;
    strbuf_init(&out, 0);
    bool oom = strbuf_puts(&out, "{\"tasks\":[") < 0;
    size_t got = 0;
    task_t *t;
    while ((int)got < max && (t = tasks_route_pick(routes, n, now))) {
        t->state = TASK_ASSIGNED;
        t->via_stdin = false;
        t->attempts++;
        t->lease = ++ts->lease_seq;
        t->lease_expires_ms = now + lease_ms;
        free(t->worker);
        t->worker = strdup(agent ? agent : principal ? principal : "worker");
        tasks_link(ts, t, TASKS_L_FLIGHT);
        tasks_changed(ts, t, NULL);
        size_t tl = 0;
        char *tt = tasks_task_text(t, &tl);
        oom = oom || !tt || (got && strbuf_puts(&out, ",") < 0) || strbuf_append(&out, tt, tl) < 0;
        free(tt);
        got++;
    }
    oom = oom || strbuf_puts(&out, "]}") < 0;
    *text = oom ? NULL : strbuf_steal(&out, len);
    if (oom) {
        strbuf_free(&out);
        *len = 0;
    }
    return got;
}

static problem_t *tasks_lease_check(const task_t *t, uint64_t lease)
{
    if ((t->state != TASK_ASSIGNED && t->state != TASK_RUNNING) || t->lease != lease) {
        problem_t *p = problem_new(409, "lease-not-held",
                                   "task %s is %s and lease %llu is not its current lease", t->id,
                                   tasks_state_names[t->state], (unsigned long long)lease);
        problem_ext_set(p, "state", json_string(tasks_state_names[t->state]));
        return p;
    }
    return NULL;
}

static problem_t *tasks_size_check(const json_t *v, const char *what)
{
    if (v && json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY) > TASKS_RESULT_MAX)
        return problem_new(413, "result-too-large", "a task's %s is at most %d bytes of JSON", what,
                           TASKS_RESULT_MAX);
    return NULL;
}

problem_t *tasks_heartbeat(tasks_t *ts, task_t *t, uint64_t lease, const json_t *progress,
                           int64_t lease_ms)
{
    problem_t *p = tasks_lease_check(t, lease);
    if (!p)
        p = tasks_size_check(progress, "progress");
    if (p)
        return p;
    t->lease_expires_ms = clock_wall_ms() + lease_ms;
    bool changed = t->state != TASK_RUNNING || progress;
    t->state = TASK_RUNNING;
    if (progress) {
        json_decref(t->progress);
        t->progress = json_deep_copy(progress);
    }
    if (changed)
        tasks_changed(ts, t, NULL);
    return NULL;
}

problem_t *tasks_result(tasks_t *ts, task_t *t, uint64_t lease, bool ok, const json_t *output,
                        const char *error)
{
    problem_t *p = tasks_lease_check(t, lease);
    if (!p)
        p = tasks_size_check(output, "output");
    if (p)
        return p;
    json_decref(t->output);
    t->output = output && !json_is_null(output) ? json_deep_copy(output) : NULL;
    free(t->error);
    t->error = error ? strdup(error) : NULL;
    t->state = ok ? TASK_SUCCEEDED : TASK_FAILED;
    tasks_changed(ts, t, NULL);
    return NULL;
}

problem_t *tasks_cancel(tasks_t *ts, task_t *t)
{
    if (tasks_terminal(t->state)) {
        problem_t *p = problem_new(409, "task-finished", "task %s is already %s", t->id,
                                   tasks_state_names[t->state]);
        problem_ext_set(p, "state", json_string(tasks_state_names[t->state]));
        return p;
    }
    bool at_stdin = t->via_stdin && (t->state == TASK_ASSIGNED || t->state == TASK_RUNNING);
    t->state = TASK_CANCELLED;
    tasks_changed(ts, t, NULL);
    if (at_stdin)
        tasks_stdin_cancel(ts, t);
    return NULL;
}

/* ---- long-polls ---- */

void tasks_waiter_add(tasks_waiters_t *l, tasks_waiter_t *w)
{
    w->prev = l->tail;
    w->next = NULL;
    if (l->tail)
        l->tail->next = w;
    else
        l->head = w;
    l->tail = w;
    l->n++;
}

void tasks_waiter_free(tasks_waiters_t *l, tasks_waiter_t *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        l->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        l->tail = w->prev;
    l->n--;
    json_decref(w->caps);
    free(w->agent);
    free(w->principal);
    free(w);
}

static bool tasks_queued_any(const tasks_t *ts)
{
    for (int i = 0; i < TASKS_PRIORITIES; i++)
        if (ts->queue[i].n)
            return true;
    return false;
}

void tasks_dispatch(tasks_t *ts)
{
    tasks_stdin_dispatch(ts);
    tasks_waiter_t *w = ts->leases.head;
    while (w && tasks_queued_any(ts)) {
        tasks_waiter_t *nx = w->next;
        char *text = NULL;
        size_t len = 0;
        if (tasks_lease(ts, w->caps, w->agent, w->principal, w->max, w->lease_ms, &text, &len)) {
            api_req_t *req = w->req;
            tasks_waiter_free(&ts->leases, w);
            tasks_ack_reply_text(ts, req, 200, text, len);
        } else {
            free(text);
        }
        w = nx;
    }
}

/* Every tick: leases that lapsed, deadlines passed, long-polls over, backoffs ended. */
static void tasks_on_tick(uv_timer_t *h)
{
    tasks_t *ts = h->data;
    int64_t now = clock_wall_ms();
    task_t *t = ts->flight.head;
    while (t) {
        task_t *nx = t->next;
        if (tasks_remote(ts, t)) {
            t = nx; /* its deadline and lease are the running hub's to watch */
            continue;
        }
        if (t->deadline_ms && t->deadline_ms <= now) {
            t->state = TASK_EXPIRED;
            tasks_changed(ts, t, "deadline passed");
        } else if (t->forwarded) {
            /* offered, not taken yet: no lease to lapse */
        } else if (!t->via_stdin && t->lease_expires_ms <= now) {
            ts->lapsed++;
            tasks_requeue_or_fail(ts, t, "lease lapsed");
        }
        t = nx;
    }
    for (int pr = 0; pr < TASKS_PRIORITIES && ts->queued_deadlines; pr++) {
        t = ts->queue[pr].head;
        while (t) {
            task_t *nx = t->next;
            if (t->deadline_ms && t->deadline_ms <= now) {
                t->state = TASK_EXPIRED;
                tasks_changed(ts, t, "deadline passed");
            }
            t = nx;
        }
    }
    tasks_dispatch(ts);
    tasks_relay_tick(ts);
    tasks_routes_sweep(ts);
    for (tasks_waiters_t *l = &ts->leases; l; l = l == &ts->leases ? &ts->waits : NULL) {
        tasks_waiter_t *w = l->head;
        while (w) {
            tasks_waiter_t *nx = w->next;
            if (w->until_ms <= now || ts->stopping) {
                api_req_t *req = w->req;
                json_t *body = l == &ts->leases ? json_pack("{s:[]}", "tasks")
                                                : tasks_task_json(tasks_get(ts, w->task_id));
                tasks_waiter_free(l, w);
                api_reply_json(req, 200, body);
            }
            w = nx;
        }
    }
}

/* An agent came, went or changed: its tasks follow (reconcile), free slots get work. */
static void tasks_on_agent_status(bus_event_t *ev, void *ud)
{
    (void)ev;
    tasks_t *ts = ud;
    tasks_stdin_reconcile(ts);
    tasks_dispatch(ts);
}

int tasks_start(hub_t *hub)
{
    tasks_t *ts = calloc(1, sizeof *ts);
    if (!ts)
        return -1;
    ts->hub = hub;
    hub->tasks = ts;
    if (tasks_tables_new(ts) < 0)
        return -1;
    uv_check_init(hub->loop, &ts->check);
    ts->check.data = ts;
    if (tasks_relay_start(ts) < 0 || tasks_load(ts) < 0)
        return -1;
    uv_timer_init(hub->loop, &ts->tick);
    ts->tick.data = ts;
    uv_timer_start(&ts->tick, tasks_on_tick, TASKS_TICK_MS, TASKS_TICK_MS);
    ts->agent_sub = bus_subscribe(hub->bus, "agent.*.status", tasks_on_agent_status, ts);
    uv_unref((uv_handle_t *)&ts->tick);
    log_info(NULL, "tasks started", "{s:i}", "tasks", (int)htab_count(ts->by_id));
    return 0;
}

void tasks_shutdown(hub_t *hub)
{
    tasks_t *ts = hub->tasks;
    if (!ts)
        return;
    ts->stopping = true;
    tasks_on_tick(&ts->tick); /* answers every long-poll */
}

bool tasks_busy(const hub_t *hub)
{
    const tasks_t *ts = hub->tasks;
    return ts && (ts->batch_busy || ts->dirty_head || ts->ack_head || tasks_relay_busy(ts));
}

static void tasks_handle_closed(uv_handle_t *h)
{
    (void)h;
}

void tasks_destroy(hub_t *hub)
{
    tasks_t *ts = hub->tasks;
    if (!ts)
        return;
    tasks_ack_fini(ts);
    tasks_relay_destroy(ts);
    if (ts->agent_sub)
        bus_unsubscribe(hub->bus, &ts->agent_sub);
    /* tasks_waiter_free unlinks the head (whose prev is NULL) before freeing it; the analyzer
     * supposes a head with a prev and reports a use after free */
    while (ts->leases.head) {
        api_reply_json(ts->leases.head->req, 200, // NOLINT(clang-analyzer-unix.Malloc)
                       json_pack("{s:[]}", "tasks"));
        tasks_waiter_free(&ts->leases, ts->leases.head);
    }
    while (ts->waits.head) {
        api_reply_problem(ts->waits.head->req, // NOLINT(clang-analyzer-unix.Malloc)
                          problem_new(503, "shutting-down", "the server is shutting down"));
        tasks_waiter_free(&ts->waits, ts->waits.head);
    }
    if (uv_is_active((uv_handle_t *)&ts->tick) || ts->tick.loop) {
        uv_close((uv_handle_t *)&ts->tick, tasks_handle_closed);
        uv_close((uv_handle_t *)&ts->check, tasks_handle_closed);
        uv_run(hub->loop, UV_RUN_NOWAIT);
    }
    size_t pos = 0;
    task_t *t;
    while ((t = htab_next(ts->by_id, &pos)))
        tasks_free(t);
    htab_destroy(&ts->by_id);
    htab_destroy(&ts->by_key);
    tasks_routes_free(ts);
    free(ts);
    hub->tasks = NULL;
}
