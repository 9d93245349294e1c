/* The tasks endpoints: submission and queries for clients (tasks:write, tasks:read), and the
 * leasing protocol for workers — lease (a bounded long-poll), heartbeat, result. Every reply
 * that reports a change waits for its commit (tasks_ack_reply). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_owner.h"
#include "core/clock.h"
#include "core/hub.h"
#include "core/metrics.h"
#include "tasks/tasks_internal.h"

#define TASK_OBJ                                                                                   \
    "{id, type, description, state, input, agent, capability, labels, priority, max_attempts, "    \
    "attempts, idempotency_key, worker, progress, output, error, created_at, updated_at, "         \
    "deadline, seq, lease, lease_expires_at}"

static const api_field_t tasks_name_item[] = {
    {.name = "item", .type = API_T_STRING, .flags = API_F_MIN | API_F_MAX, .min = 1, .max = 128}};

static const char *const tasks_states_enum[] = {"queued", "assigned",  "running", "succeeded",
                                                "failed", "cancelled", "expired", NULL};

static const api_field_t tasks_submit_body[] = {
    {.name = "type",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 128,
     .description = "what kind of work (the worker's switch)"},
    {.name = "description", .type = API_T_STRING, .flags = API_F_MAX, .max = 4096},
    {.name = "input", .type = API_T_ANY, .description = "any JSON, at most 64 KiB encoded (413)"},
    {.name = "agent",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 128,
     .description = "only this agent (its name, as a leasing worker gives it) takes the task"},
    {.name = "capability",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 128,
     .description = "any worker that declares this capability takes the task"},
    {.name = "labels",
     .type = API_T_OBJECT,
     .flags = API_F_ADDITIONAL,
     .description = "free key/value pairs (filters of GET /api/v1/tasks)"},
    {.name = "priority",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = 9,
     .def = "0",
     .description = "higher first; FIFO within one priority"},
    {.name = "deadline",
     .type = API_T_STRING,
     .flags = API_F_MAX,
     .max = 64,
     .description = "RFC 3339: unfinished by then, the task expires"},
    {.name = "timeout_ms",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 31536000000.0,
     .description = "the deadline as a delay from now (when deadline is absent)"},
    {.name = "max_attempts",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 100,
     .def = "3",
     .description = "leases that may lapse before the task fails"},
    {.name = "idempotency_key",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 128,
     .description = "a second submission with the same key returns the first task (200)"},
    API_OWNER_TEAM_FIELD,
    {0}};

static const api_field_t tasks_list_query[] = {
    {.name = "state", .type = API_T_STRING, .enums = tasks_states_enum},
    {.name = "type", .type = API_T_STRING, .flags = API_F_MAX, .max = 128},
    {.name = "agent", .type = API_T_STRING, .flags = API_F_MAX, .max = 128},
    {.name = "capability", .type = API_T_STRING, .flags = API_F_MAX, .max = 128},
    {.name = "limit",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 1000,
     .def = "100"},
    {.name = "after",
     .type = API_T_INTEGER,
     .flags = API_F_MIN,
     .min = 0,
     .def = "0",
     .description = "the cursor: tasks submitted after this seq (the reply's next)"},
    {0}};

static const api_field_t tasks_id_param[] = {{.name = "id",
                                              .type = API_T_STRING,
                                              .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
                                              .min = 1,
                                              .max = TASKS_ID_LEN},
                                             {0}};

static const api_field_t tasks_wait_query[] = {{.name = "timeout_ms",
                                                .type = API_T_INTEGER,
                                                .flags = API_F_MIN | API_F_MAX,
                                                .min = 0,
                                                .max = 60000,
                                                .def = "30000"},
                                               {0}};

static const api_field_t tasks_lease_body[] = {
    {.name = "capabilities",
     .type = API_T_ARRAY,
     .flags = API_F_MAX,
     .max = 64,
     .items = tasks_name_item,
     .description = "what this worker can do"},
    {.name = "agent",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 128,
     .description = "the worker's agent name: it also takes tasks addressed to it"},
    {.name = "max",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = TASKS_LEASE_MAX,
     .def = "1"},
    {.name = "wait_ms",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = 60000,
     .def = "0",
     .description = "wait this long for work when none is queued"},
    {.name = "lease_ms",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 50,
     .max = 3600000,
     .def = "30000",
     .description = "the lease lapses unless a heartbeat renews it in time"},
    {0}};

static const api_field_t tasks_heartbeat_body[] = {
    {.name = "lease", .type = API_T_INTEGER, .flags = API_F_REQUIRED | API_F_MIN, .min = 1},
    {.name = "progress", .type = API_T_ANY, .description = "any JSON, at most 256 KiB (413)"},
    {.name = "lease_ms",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 50,
     .max = 3600000,
     .def = "30000"},
    {0}};

static const api_field_t tasks_result_body[] = {
    {.name = "lease", .type = API_T_INTEGER, .flags = API_F_REQUIRED | API_F_MIN, .min = 1},
    {.name = "ok", .type = API_T_BOOLEAN, .flags = API_F_REQUIRED},
    {.name = "output",
     .type = API_T_ANY,
     .flags = API_F_NULLABLE,
     .description = "any JSON, at most 256 KiB (413); null or absent: none"},
    {.name = "error", .type = API_T_STRING, .flags = API_F_MAX, .max = 4096},
    {0}};

/* The batches: one request for many submissions or results, each item as its own endpoint
 * takes it, one grouped commit for all before the reply. */
static const api_field_t tasks_batch_submit_item[] = {
    {.name = "item", .type = API_T_OBJECT, .props = tasks_submit_body}};

static const api_field_t tasks_batch_submit_body[] = {
    {.name = "tasks",
     .type = API_T_ARRAY,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = TASKS_BATCH_MAX,
     .items = tasks_batch_submit_item,
     .description = "submissions, each as POST /api/v1/tasks takes it"},
    {0}};

static const api_field_t tasks_batch_result_props[] = {
    {.name = "id",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 128},
    {.name = "lease", .type = API_T_INTEGER, .flags = API_F_REQUIRED | API_F_MIN, .min = 1},
    {.name = "ok", .type = API_T_BOOLEAN, .flags = API_F_REQUIRED},
    {.name = "output",
     .type = API_T_ANY,
     .flags = API_F_NULLABLE,
     .description = "any JSON, at most 256 KiB (413); null or absent: none"},
    {.name = "error", .type = API_T_STRING, .flags = API_F_MAX, .max = 4096},
    {0}};

static const api_field_t tasks_batch_result_item[] = {
    {.name = "item", .type = API_T_OBJECT, .props = tasks_batch_result_props}};

static const api_field_t tasks_batch_results_body[] = {
    {.name = "results",
     .type = API_T_ARRAY,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = TASKS_BATCH_MAX,
     .items = tasks_batch_result_item,
     .description = "results of leased tasks, each as POST /api/v1/tasks/{id}/result takes it"},
    {0}};

static tasks_t *tasks_of(api_req_t *req)
{
    return api_req_hub(req)->tasks;
}

/* The task of the path, or NULL after a 404. With owner, only when the caller may see it
 * (act false) or change it (act true), else NULL after a 404 or 403; without, the worker's
 * side: a lease's holder reports on it, whoever submitted it. */
static task_t *tasks_find_as(api_req_t *req, bool owner, bool act)
{
    const char *id = api_req_param_str(req, "id");
    task_t *t = tasks_get(tasks_of(req), id);
    problem_t *p = t && owner ? api_owner_check(req, "task", id, t->owner, t->team, act) : NULL;
    if (!t)
        p = problem_new(404, "task-not-found",
                        "no task %s (finished tasks beyond the "
                        "most recent 10000 are kept only in the store)",
                        id);
    if (p) {
        api_reply_problem(req, p);
        return NULL;
    }
    return t;
}

static task_t *tasks_find(api_req_t *req)
{
    return tasks_find_as(req, true, false);
}

static bool tasks_stopping(api_req_t *req)
{
    if (!tasks_of(req)->stopping)
        return false;
    api_reply_problem(req, problem_new(503, "shutting-down", "the server is shutting down"));
    return true;
}

static void tasks_api_submit(api_req_t *req, void *ctx)
{
    (void)ctx;
    if (tasks_stopping(req))
        return;
    tasks_t *ts = tasks_of(req);
    problem_t *p = NULL;
    bool existed = false;
    p = api_owner_team_check(req, json_string_value(json_object_get(api_req_body(req), "team")),
                             "/team");
    task_t *t = p ? NULL
                  : tasks_submit(ts, api_req_body(req), api_req_principal(req), api_owner_of(req),
                                 &existed, &p);
    if (!t) {
        api_reply_problem(req, p);
        return;
    }
    if (existed && !api_owner_may_see(req, t->owner, t->team)) {
        /* another's task under the same key: not shown, and not a new one either */
        api_reply_problem(req, problem_new(409, "conflict",
                                           "the idempotency_key is taken by a task that is not "
                                           "the caller's; choose another"));
        return;
    }
    tasks_dispatch(ts);
    tasks_ack_task(ts, req, existed ? 200 : 201, t);
}

static int tasks_seq_cmp(const void *a, const void *b)
{
    const task_t *x = *(task_t *const *)a, *y = *(task_t *const *)b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool tasks_str_eq(const char *filter, const char *v)
{
    return !filter || (v && !strcmp(filter, v));
}

static void tasks_api_list(api_req_t *req, void *ctx)
{
    (void)ctx;
    tasks_t *ts = tasks_of(req);
    const char *state = api_req_query_str(req, "state");
    const char *type = api_req_query_str(req, "type");
    const char *agent = api_req_query_str(req, "agent");
    const char *cap = api_req_query_str(req, "capability");
    int64_t limit = api_req_query_int(req, "limit", 100);
    uint64_t after = (uint64_t)api_req_query_int(req, "after", 0);
    size_t n = htab_count(ts->by_id), k = 0, pos = 0;
    task_t **all = malloc((n ? n : 1) * sizeof *all);
    if (!all) {
        api_reply_problem(req, problem_new(503, "out-of-memory", "cannot list tasks now"));
        return;
    }
    task_t *t;
    while ((t = htab_next(ts->by_id, &pos)))
        if (t->seq > after && (!state || !strcmp(state, tasks_state_names[t->state])) &&
            tasks_str_eq(type, t->type) && tasks_str_eq(agent, t->agent) &&
            tasks_str_eq(cap, t->capability) && api_owner_may_see(req, t->owner, t->team))
            all[k++] = t;
    qsort(all, k, sizeof *all, tasks_seq_cmp);
    json_t *arr = json_array();
    size_t shown = k < (size_t)limit ? k : (size_t)limit;
    for (size_t i = 0; i < shown; i++)
        json_array_append_new(arr, tasks_task_json(all[i]));
    json_t *next = shown < k ? json_integer((json_int_t)all[shown - 1]->seq) : json_null();
    free(all);
    api_reply_json(req, 200,
                   json_pack("{s:o,s:o,s:b}", "tasks", arr, "next", next, "has_more", shown < k));
}

static void tasks_api_get(api_req_t *req, void *ctx)
{
    (void)ctx;
    task_t *t = tasks_find(req);
    if (t)
        api_reply_json(req, 200, tasks_task_json(t));
}

static void tasks_api_cancel(api_req_t *req, void *ctx)
{
    (void)ctx;
    tasks_t *ts = tasks_of(req);
    task_t *t = tasks_find_as(req, true, true);
    if (!t)
        return;
    if (!tasks_remote(ts, t) && tasks_relay_cancel_offered(ts, t, req))
        return; /* offered to other hubs: the store says whether one took it meanwhile */
    if (tasks_remote(ts, t) && !tasks_terminal(t->state)) {
        /* the hub running it cancels it; this copy follows when that is committed */
        problem_t *p = tasks_relay_cancel(ts, t);
        if (p)
            api_reply_problem(req, p);
        else
            api_reply_json(req, 202, tasks_task_json(t));
        return;
    }
    problem_t *p = tasks_cancel(ts, t);
    if (p)
        api_reply_problem(req, p);
    else
        tasks_ack_task(ts, req, 200, t);
}

static bool tasks_waiter_room(api_req_t *req)
{
    tasks_t *ts = tasks_of(req);
    if (ts->leases.n + ts->waits.n < TASKS_WAITERS_MAX)
        return true;
    problem_t *p =
        problem_new(429, "too-many-waiters", "%d long-polls are held already", TASKS_WAITERS_MAX);
    problem_header_set(p, "Retry-After", "1");
    api_reply_problem(req, p);
    return false;
}

static void tasks_api_wait(api_req_t *req, void *ctx)
{
    (void)ctx;
    tasks_t *ts = tasks_of(req);
    task_t *t = tasks_find(req);
    if (!t)
        return;
    int64_t timeout = api_req_query_int(req, "timeout_ms", 30000);
    if (tasks_terminal(t->state) || timeout == 0 || ts->stopping) {
        tasks_ack_task(ts, req, 200, t);
        return;
    }
    if (!tasks_waiter_room(req))
        return;
    tasks_waiter_t *w = calloc(1, sizeof *w);
    if (!w) {
        api_reply_problem(req, problem_new(503, "out-of-memory", "cannot wait now"));
        return;
    }
    w->req = req;
    w->until_ms = clock_wall_ms() + timeout;
    memcpy(w->task_id, t->id, sizeof w->task_id);
    tasks_waiter_add(&ts->waits, w);
}

static void tasks_api_events(api_req_t *req, void *ctx)
{
    (void)ctx;
    task_t *t = tasks_find(req);
    if (!t)
        return;
    char topic[64];
    snprintf(topic, sizeof topic, "task.%s.updated", t->id);
    api_reply_stream(req, topic, 0);
}

static void tasks_api_lease(api_req_t *req, void *ctx)
{
    (void)ctx;
    if (tasks_stopping(req))
        return;
    tasks_t *ts = tasks_of(req);
    json_t *body = api_req_body(req);
    json_t *caps = json_object_get(body, "capabilities");
    const char *agent = json_string_value(json_object_get(body, "agent"));
    json_t *v = json_object_get(body, "max");
    int max = v ? (int)json_integer_value(v) : 1;
    v = json_object_get(body, "wait_ms");
    int64_t wait_ms = v ? json_integer_value(v) : 0;
    v = json_object_get(body, "lease_ms");
    int64_t lease_ms = v ? json_integer_value(v) : 30000;
    json_t *none = json_array(); /* no capabilities: only tasks for anyone or for `agent` */
    char *text = NULL;
    size_t len = 0;
    size_t got = tasks_lease(ts, caps ? caps : none, agent, api_req_principal(req), max, lease_ms,
                             &text, &len);
    json_decref(none);
    if (got || wait_ms == 0) {
        tasks_ack_reply_text(ts, req, 200, text, len);
        return;
    }
    free(text);
    if (!tasks_waiter_room(req))
        return;
    tasks_waiter_t *w = calloc(1, sizeof *w);
    if (!w) {
        api_reply_problem(req, problem_new(503, "out-of-memory", "cannot wait now"));
        return;
    }
    w->req = req;
    w->until_ms = clock_wall_ms() + wait_ms;
    w->caps = caps ? json_incref(caps) : json_array();
    w->agent = agent ? strdup(agent) : NULL;
    w->principal = strdup(api_req_principal(req));
    w->max = max;
    w->lease_ms = lease_ms;
    tasks_waiter_add(&ts->leases, w);
    tasks_relay_poke(ts); /* an idle worker: other hubs' offers may fit it */
}

static void tasks_api_heartbeat(api_req_t *req, void *ctx)
{
    (void)ctx;
    tasks_t *ts = tasks_of(req);
    task_t *t = tasks_find_as(req, false, false);
    if (!t)
        return;
    json_t *body = api_req_body(req);
    json_t *lm = json_object_get(body, "lease_ms");
    problem_t *p =
        tasks_heartbeat(ts, t, (uint64_t)json_integer_value(json_object_get(body, "lease")),
                        json_object_get(body, "progress"), lm ? json_integer_value(lm) : 30000);
    if (p)
        api_reply_problem(req, p);
    else /* rendered anew: a renewal alone is no transition, its lease_expires_at is new */
        tasks_ack_reply(ts, req, 200, tasks_task_json(t));
}

static void tasks_api_result(api_req_t *req, void *ctx)
{
    (void)ctx;
    tasks_t *ts = tasks_of(req);
    task_t *t = tasks_find_as(req, false, false);
    if (!t)
        return;
    json_t *body = api_req_body(req);
    problem_t *p =
        tasks_result(ts, t, (uint64_t)json_integer_value(json_object_get(body, "lease")),
                     json_is_true(json_object_get(body, "ok")), json_object_get(body, "output"),
                     json_string_value(json_object_get(body, "error")));
    if (p) {
        api_reply_problem(req, p);
        return;
    }
    tasks_ack_task(ts, req, 200, t);
    tasks_dispatch(ts); /* a stdin worker's slot may be free now */
}

/* One item of a batch reply: what the single endpoint would have answered, in short — the
 * task's id, status and state when taken, the problem when refused (p is consumed). */
static json_t *tasks_batch_item(const char *id, const task_t *t, int status, problem_t *p)
{
    json_t *o =
        json_pack("{s:s?,s:i}", "id", t ? t->id : id, "status", p ? problem_status(p) : status);
    if (p) {
        json_object_set_new(o, "problem", problem_to_json(p, NULL));
        problem_destroy(&p);
    } else if (t) { /* always, with no problem: said for the analyzer (problem_new is never NULL) */
        json_object_set_new(o, "state", json_string(tasks_state_names[t->state]));
        json_object_set_new(o, "seq", json_integer((json_int_t)t->seq));
    }
    return o;
}

static void tasks_api_batch_submit(api_req_t *req, void *ctx)
{
    (void)ctx;
    if (tasks_stopping(req))
        return;
    tasks_t *ts = tasks_of(req);
    json_t *items = json_object_get(api_req_body(req), "tasks"), *item;
    json_t *out = json_array();
    size_t i, taken = 0;
    json_array_foreach(items, i, item)
    {
        char ptr[48];
        snprintf(ptr, sizeof ptr, "/tasks/%zu/team", i);
        bool existed = false;
        problem_t *p =
            api_owner_team_check(req, json_string_value(json_object_get(item, "team")), ptr);
        task_t *t =
            p ? NULL
              : tasks_submit(ts, item, api_req_principal(req), api_owner_of(req), &existed, &p);
        if (t && existed && !api_owner_may_see(req, t->owner, t->team)) {
            t = NULL;
            p = problem_new(409, "conflict",
                            "the idempotency_key is taken by a task that is not the caller's; "
                            "choose another");
        }
        taken += t != NULL;
        json_array_append_new(out, tasks_batch_item(NULL, t, existed ? 200 : 201, p));
    }
    tasks_dispatch(ts);
    tasks_ack_reply(ts, req, 200,
                    json_pack("{s:o,s:I,s:I}", "tasks", out, "accepted", (json_int_t)taken,
                              "refused", (json_int_t)(json_array_size(items) - taken)));
}

static void tasks_api_batch_results(api_req_t *req, void *ctx)
{
    (void)ctx;
    tasks_t *ts = tasks_of(req);
    json_t *items = json_object_get(api_req_body(req), "results"), *item;
    json_t *out = json_array();
    size_t i, taken = 0;
    json_array_foreach(items, i, item)
    {
        const char *id = json_string_value(json_object_get(item, "id"));
        task_t *t = tasks_get(ts, id);
        problem_t *p =
            t ? tasks_result(ts, t, (uint64_t)json_integer_value(json_object_get(item, "lease")),
                             json_is_true(json_object_get(item, "ok")),
                             json_object_get(item, "output"),
                             json_string_value(json_object_get(item, "error")))
              : problem_new(404, "task-not-found", "no task %s", id);
        taken += p == NULL;
        json_array_append_new(out, tasks_batch_item(id, p ? NULL : t, 200, p));
    }
    tasks_ack_reply(ts, req, 200,
                    json_pack("{s:o,s:I,s:I}", "results", out, "completed", (json_int_t)taken,
                              "refused", (json_int_t)(json_array_size(items) - taken)));
    tasks_dispatch(ts); /* stdin workers' slots may be free now */
}

static const api_endpoint_t tasks_endpoints[] = {
    {.method = "POST",
     .path = "/api/v1/tasks",
     .scope = "tasks:write",
     .tag = "tasks",
     .summary = "Submit a task (to an agent by name, or to any worker with a capability)",
     .body_kind = API_BODY_JSON,
     .body = tasks_submit_body,
     .status = 201,
     .response = TASK_OBJ " (201 once committed; 200 with the first task for a repeated "
                          "idempotency_key)",
     .handler = tasks_api_submit},
    {.method = "GET",
     .path = "/api/v1/tasks",
     .scope = "tasks:read",
     .tag = "tasks",
     .summary = "List tasks (filters; oldest first, paginated by the seq cursor)",
     .query = tasks_list_query,
     .response = "{tasks:[task], next, has_more}",
     .handler = tasks_api_list},
    {.method = "POST",
     .path = "/api/v1/tasks/lease",
     .scope = "tasks:write",
     .tag = "tasks",
     .summary = "Lease queued tasks a worker can do (waits up to wait_ms for work)",
     .body_kind = API_BODY_JSON,
     .body = tasks_lease_body,
     .response = "{tasks:[task]} (each with its lease number; [] when none came in time)",
     .handler = tasks_api_lease},
    {.method = "POST",
     .path = "/api/v1/tasks/batch",
     .scope = "tasks:write",
     .tag = "tasks",
     .summary = "Submit up to 100 tasks in one request (each accepted or refused on its own)",
     .body_kind = API_BODY_JSON,
     .body = tasks_batch_submit_body,
     .response = "{tasks:[{id, status, state, seq} | {status, problem}], accepted, refused} "
                 "(200 once every accepted task is committed; items in request order, each "
                 "status as POST /api/v1/tasks gives it)",
     .handler = tasks_api_batch_submit},
    {.method = "POST",
     .path = "/api/v1/tasks/results",
     .scope = "tasks:write",
     .tag = "tasks",
     .summary = "Complete up to 100 leased tasks in one request (each exactly once)",
     .body_kind = API_BODY_JSON,
     .body = tasks_batch_results_body,
     .response = "{results:[{id, status, state, seq} | {id, status, problem}], completed, "
                 "refused} (200 once every completion is committed; items in request order, "
                 "each status as POST /api/v1/tasks/{id}/result gives it: 409 for a lapsed "
                 "lease, 404, 413)",
     .handler = tasks_api_batch_results},
    {.method = "GET",
     .path = "/api/v1/tasks/{id}",
     .scope = "tasks:read",
     .tag = "tasks",
     .summary = "One task",
     .params = tasks_id_param,
     .response = TASK_OBJ,
     .handler = tasks_api_get},
    {.method = "POST",
     .path = "/api/v1/tasks/{id}/cancel",
     .scope = "tasks:write",
     .tag = "tasks",
     .summary = "Cancel a task (its worker's next heartbeat or result gets 409)",
     .params = tasks_id_param,
     .response = TASK_OBJ " (409 when already finished; 202 when it runs on another hub, "
                          "which cancels it)",
     .handler = tasks_api_cancel},
    {.method = "GET",
     .path = "/api/v1/tasks/{id}/wait",
     .scope = "tasks:read",
     .tag = "tasks",
     .summary = "The task once it has finished, or as it is after timeout_ms",
     .params = tasks_id_param,
     .query = tasks_wait_query,
     .response = TASK_OBJ,
     .handler = tasks_api_wait},
    {.method = "GET",
     .path = "/api/v1/tasks/{id}/events",
     .scope = "tasks:read",
     .tag = "tasks",
     .summary = "The task's transitions and progress as server-sent events",
     .params = tasks_id_param,
     .streaming = true,
     .response = "SSE of task.<id>.updated events, each the task",
     .handler = tasks_api_events},
    {.method = "POST",
     .path = "/api/v1/tasks/{id}/heartbeat",
     .scope = "tasks:write",
     .tag = "tasks",
     .summary = "Renew a lease and report progress (409 when the lease is no longer held)",
     .params = tasks_id_param,
     .body_kind = API_BODY_JSON,
     .body = tasks_heartbeat_body,
     .response = TASK_OBJ,
     .handler = tasks_api_heartbeat},
    {.method = "POST",
     .path = "/api/v1/tasks/{id}/result",
     .scope = "tasks:write",
     .tag = "tasks",
     .summary = "Complete a leased task, exactly once (409 for a lapsed or replaced lease)",
     .params = tasks_id_param,
     .body_kind = API_BODY_JSON,
     .body = tasks_result_body,
     .response = TASK_OBJ " (413 when output exceeds 256 KiB)",
     .handler = tasks_api_result},
};

/* The RabbitMQ relay's figures, when it is on. */
static void tasks_api_metrics(strbuf_t *out, void *ud)
{
    hub_t *hub = ud;
    if (!hub->tasks)
        return;
    tasks_relay_stats_t st;
    tasks_relay_stats(hub->tasks, &st);
    if (!st.on)
        return;
    static const struct {
        const char *name, *help;
        size_t off;
    } counters[] = {
        {"published", "Messages published to RabbitMQ (offers, transitions, cancels).",
         offsetof(tasks_relay_stats_t, published)},
        {"confirmed", "Publishes the broker confirmed.", offsetof(tasks_relay_stats_t, confirmed)},
        {"rejected", "Publishes the broker nacked or lost with the connection.",
         offsetof(tasks_relay_stats_t, rejected)},
        {"consumed", "Messages received from RabbitMQ.", offsetof(tasks_relay_stats_t, consumed)},
        {"redelivered", "Received messages the broker had delivered before.",
         offsetof(tasks_relay_stats_t, redelivered)},
        {"connects", "Connections to the broker established.",
         offsetof(tasks_relay_stats_t, connects)},
        {"offered", "Tasks offered to other hubs.", offsetof(tasks_relay_stats_t, offered)},
        {"taken", "Offered tasks this hub took to run.", offsetof(tasks_relay_stats_t, taken)},
        {"duplicates", "Offers dropped because the task was taken or finished already.",
         offsetof(tasks_relay_stats_t, duplicates)},
        {"applied", "Transitions of tasks running on other hubs applied here.",
         offsetof(tasks_relay_stats_t, applied)},
    };
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++) {
        uint64_t v;
        memcpy(&v, (const char *)&st + counters[i].off, sizeof v);
        strbuf_printf(out,
                      "# HELP ganglion_rabbitmq_%s_total %s\n"
                      "# TYPE ganglion_rabbitmq_%s_total counter\n"
                      "ganglion_rabbitmq_%s_total %llu\n",
                      counters[i].name, counters[i].help, counters[i].name, counters[i].name,
                      (unsigned long long)v);
    }
    strbuf_printf(out,
                  "# HELP ganglion_rabbitmq_connected 1 while connected to the broker.\n"
                  "# TYPE ganglion_rabbitmq_connected gauge\n"
                  "ganglion_rabbitmq_connected %d\n",
                  st.connected ? 1 : 0);
}

/* The event streams' filter for task.<id>.*: whom may see the task. */
static bool tasks_api_event_sees(const api_viewer_t *v, const char *topic, const char *data,
                                 size_t len, void *ud)
{
    (void)data;
    (void)len;
    char id[128];
    task_t *t = api_event_segment(topic, id, sizeof id) == 0 ? tasks_get(ud, id) : NULL;
    return t && api_viewer_may_see(v, t->owner, t->team);
}

static size_t tasks_api_refs(const char *owner, const char *team, void *ud)
{
    tasks_t *ts = ud;
    size_t n = 0, pos = 0;
    for (task_t *t; (t = htab_next(ts->by_id, &pos));)
        n += (owner && t->owner && strcmp(owner, t->owner) == 0) ||
             (team && t->team && strcmp(team, t->team) == 0);
    return n;
}

int tasks_api_register(hub_t *hub)
{
    if (!hub->tasks)
        return -1;
    api_register(hub->api, tasks_endpoints, sizeof tasks_endpoints / sizeof tasks_endpoints[0]);
    api_event_filter_add(hub->api, "task.", tasks_api_event_sees, hub->tasks);
    api_owner_refs_add(hub->api, "task", tasks_api_refs, hub->tasks);
    if (hub->retention)
        retention_purge_add(hub->retention, "tasks", tasks_retention_purge, tasks_retention_after,
                            hub->tasks);
    metrics_collector_add(hub->metrics, tasks_api_metrics, hub);
    return 0;
}
