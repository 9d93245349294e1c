/* What the tasks files share: the task, the queue, held replies and the persistence batch.
 * Everything here is used on the loop thread only, except the batch rows the store worker
 * reads (owned by the batch while it is in flight). */
#ifndef GANGLION_TASKS_INTERNAL_H
#define GANGLION_TASKS_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "api/api.h"
#include "core/htab.h"
#include "store/retention.h"
#include "tasks/tasks.h"

#define TASKS_ID_LEN      18 /* "t-" + 16 hex digits */
#define TASKS_PRIORITIES  10
#define TASKS_INPUT_MAX   (64 * 1024)  /* encoded input, bytes */
#define TASKS_RESULT_MAX  (256 * 1024) /* encoded output or progress, bytes */
#define TASKS_KEEP        10000        /* finished tasks kept in memory (all are stored) */
#define TASKS_LIVE_MAX    100000       /* unfinished tasks at once */
#define TASKS_LEASE_MAX   100          /* tasks in one lease */
#define TASKS_BATCH_MAX   100          /* submissions or results in one batch request */
#define TASKS_WAITERS_MAX 4096         /* long-polls held at once (leases and waits) */
#define TASKS_BACKOFF_MS  200          /* first retry delay; doubles, up to ... */
#define TASKS_BACKOFF_MAX 10000
#define TASKS_TICK_MS     20

typedef enum {
    TASK_QUEUED = 0,
    TASK_ASSIGNED,
    TASK_RUNNING,
    TASK_SUCCEEDED,
    TASK_FAILED,
    TASK_CANCELLED,
    TASK_EXPIRED,
} task_state_t;

extern const char *const tasks_state_names[]; /* NULL-terminated, in task_state_t order */

typedef struct task {
    char id[TASKS_ID_LEN + 1];
    char *type, *description, *agent, *capability, *idem_key; /* owned; NULL when unset */
    char *worker;       /* who holds the lease (principal), owned, or NULL */
    char *error;        /* why it failed, owned, or NULL */
    char *owner, *team; /* who submitted it and the team it is shared with; owned or NULL */
    json_t *input, *labels, *output, *progress; /* owned; NULL when unset */
    char *doc; /* owned: the task as encoded at its last transition, until the batch takes it */
    int priority, max_attempts, attempts;
    task_state_t state;
    int64_t created_ms, updated_ms, deadline_ms, not_before_ms, lease_expires_ms;
    uint64_t lease;           /* the current lease's number; a result must name it */
    uint64_t seq;             /* submission order (FIFO within a priority) */
    struct task *prev, *next; /* in one list: a priority queue, in flight, or finished */
    int list;                 /* which: TASKS_L_* */
    struct task *dnext;       /* dirty list */
    bool dirty;
    bool via_stdin; /* handed to a stdin worker: no lease lapse; the agent's end retries it */
    /* between hubs (tasks_relay.c); NULL/false when the relay is off */
    char *origin;       /* the hub it was submitted to, owned */
    char *holder;       /* the hub whose row it is (runs it, or offers it), owned */
    bool forwarded;     /* offered to other hubs or running under one: a copy that follows */
    uint64_t save_mark; /* committed once save_done reaches it */

    /* while queued: its route, and its neighbours there (same priority), else NULL */
    struct tasks_route *route;
    struct task *rprev, *rnext;
} task_t;

enum { TASKS_L_NONE = 0, TASKS_L_QUEUE, TASKS_L_FLIGHT, TASKS_L_DONE };

typedef struct tasks_list {
    task_t *head, *tail;
    size_t n;
} tasks_list_t;

/* The queued tasks one kind of worker may take: those for a named agent ("a:<name>"), for a
 * capability ("c:<name>") or for anyone ("*"); per priority, in submission order. */
typedef struct tasks_route {
    char *key; /* owned */
    tasks_list_t q[TASKS_PRIORITIES];
    size_t n;
    struct tasks_route *prev, *next; /* every route */
} tasks_route_t;

/* A held reply: sent when the batch holding what it reports has committed. */
typedef struct tasks_ack {
    struct tasks_ack *next;
    api_req_t *req;
    json_t *body; /* owned; or NULL and text */
    char *text;   /* owned: the body already rendered, or NULL */
    size_t len;
    int status;
    uint64_t mark;
} tasks_ack_t;

/* A long-poll: a worker's lease waiting for work, or a client waiting for a task's end. */
typedef struct tasks_waiter {
    struct tasks_waiter *prev, *next;
    api_req_t *req;
    int64_t until_ms;
    /* lease */
    json_t *caps; /* owned array of strings */
    char *agent;  /* owned or NULL */
    char *principal;
    int max;
    int64_t lease_ms;
    /* wait */
    char task_id[TASKS_ID_LEN + 1];
} tasks_waiter_t;

typedef struct tasks_waiters {
    tasks_waiter_t *head, *tail;
    size_t n;
} tasks_waiters_t;

typedef struct tasks {
    struct hub *hub;
    htab_t *by_id, *by_key;
    htab_t *routes; /* tasks_route_t by key, also listed from route_head */
    tasks_route_t *route_head;
    size_t unrouted;         /* queued tasks left out of their route (out of memory) */
    size_t queued_deadlines; /* queued tasks with a deadline: the tick scans the queue then */
    tasks_list_t queue[TASKS_PRIORITIES];
    tasks_list_t flight, done;
    tasks_waiters_t leases, waits;
    uint64_t seq, lease_seq;
    /* persistence: rows marked, rows committed; one batch in flight at a time */
    task_t *dirty_head, *dirty_tail;
    uint64_t save_seq, save_done;
    bool batch_busy, check_on;
    tasks_ack_t *ack_head, *ack_tail;
    uv_check_t check;
    uv_timer_t tick;
    bool stopping;
    struct bus_sub *agent_sub; /* agent.*.status: stdin workers come and go */
    struct tasks_relay *relay; /* RabbitMQ between hubs, or NULL */
    uint64_t submitted, completed, lapsed, errors;
} tasks_t;

/* ---- tasks.c: the model and scheduling ---- */
task_t *tasks_get(tasks_t *ts, const char *id);
json_t *tasks_task_json(const task_t *t);
/* Validated submission body → a new queued task (or the one with the same idempotency key,
 * *existed set). NULL with *p on refusal. */
task_t *tasks_submit(tasks_t *ts, const json_t *body, const char *principal, const char *owner,
                     bool *existed, problem_t **p);
/* The task as compact JSON text (owned by the caller): its rendering at its last transition
 * while the batch has not taken it yet (no second encoding), else a new one; NULL when out of
 * memory. */
char *tasks_task_text(const task_t *t, size_t *len);
/* Moves up to max matching queued tasks to `assigned` under new leases of lease_ms; returns
 * how many, and the lease reply {"tasks":[task, …]} (each with "lease") as new text in
 * *text (NULL when out of memory: the caller answers 503; the leases stand and lapse). */
size_t tasks_lease(tasks_t *ts, const json_t *caps, const char *agent, const char *principal,
                   int max, int64_t lease_ms, char **text, size_t *len);
problem_t *tasks_heartbeat(tasks_t *ts, task_t *t, uint64_t lease, const json_t *progress,
                           int64_t lease_ms);
problem_t *tasks_result(tasks_t *ts, task_t *t, uint64_t lease, bool ok, const json_t *output,
                        const char *error);
problem_t *tasks_cancel(tasks_t *ts, task_t *t);
/* A transition: marked for the next batch, published, audited when no request caused it
 * (system_cause names why). */
void tasks_changed(tasks_t *ts, task_t *t, const char *system_cause);
/* An attempt ended without a result: back to the queue after a backoff, or failed. */
void tasks_requeue_or_fail(tasks_t *ts, task_t *t, const char *why);
/* Leases waiting for work, then stdin workers with a free slot, get what the queue has. */
void tasks_dispatch(tasks_t *ts);
void tasks_waiter_add(tasks_waiters_t *l, tasks_waiter_t *w);
void tasks_waiter_free(tasks_waiters_t *l, tasks_waiter_t *w);
bool tasks_terminal(task_state_t s);
void tasks_free(task_t *t);
/* Puts a loaded task into its place (queue or finished). */
void tasks_place(tasks_t *ts, task_t *t);
void tasks_link_flight(tasks_t *ts, task_t *t);
task_t *tasks_from_json(const json_t *doc);

/* ---- tasks_text.c: the task as compact JSON text, the document tasks_task_json builds ---- */
/* New text (owned by the caller), or NULL when out of memory. */
char *tasks_task_render(const task_t *t, size_t *len);

/* ---- tasks_route.c: the ready queue per route ---- */
int tasks_routes_new(tasks_t *ts);
void tasks_routes_free(tasks_t *ts);
/* A queued task enters (add) or leaves (del) its route; tasks_link/tasks_unlink call these. */
void tasks_route_add(tasks_t *ts, task_t *t);
void tasks_route_del(tasks_t *ts, task_t *t);
/* The route of kind 'a' (agent), 'c' (capability) or '*' (anyone; name unused), or NULL (none;
 * one may also be empty). Valid until the next tasks_routes_sweep. */
tasks_route_t *tasks_route_get(tasks_t *ts, char kind, const char *name);
/* The next task to hand out among routes: highest priority, then oldest, not backing off. */
task_t *tasks_route_pick(tasks_route_t *const *routes, size_t n, int64_t now);
/* Frees empty routes (the tick: no route pointer is held then). */
void tasks_routes_sweep(tasks_t *ts);

/* ---- tasks_stdin.c: stdin workers (agents that declare the capability tasks:N) ---- */
void tasks_stdin_dispatch(tasks_t *ts);
/* Tasks of stdin workers that are gone go back to the queue (or fail). */
void tasks_stdin_reconcile(tasks_t *ts);
/* Tells a stdin worker that its task was cancelled. */
void tasks_stdin_cancel(tasks_t *ts, const task_t *t);

/* Calls want(ud, kind, name) for what a stdin worker with a free slot takes: kind "agent" with
 * its id and its name, "cap" with each capability, and NULL kind (any task). */
typedef void (*tasks_want_fn)(void *ud, const char *kind, const char *name);
void tasks_stdin_wants(tasks_t *ts, tasks_want_fn want, void *ud);

/* ---- tasks_relay.c: tasks between hubs over RabbitMQ ---- */
typedef struct tasks_relay_stats {
    bool on, connected;
    uint64_t published, confirmed, rejected, consumed, redelivered, connects;
    uint64_t offered, taken, duplicates, applied;
} tasks_relay_stats_t;
/* Starts the relay when [rabbitmq] url is set (0 when it is not). 0 or -1. */
int tasks_relay_start(tasks_t *ts);
void tasks_relay_destroy(tasks_t *ts);
/* Offers what waited too long here, asks for offers for idle local workers. Every tick. */
void tasks_relay_tick(tasks_t *ts);
/* A local worker became idle: ask the broker for offers now rather than at the next poll. */
void tasks_relay_poke(tasks_t *ts);
/* A committed row (doc: its JSON) of a task submitted to another hub: tell that hub. */
void tasks_relay_committed(tasks_t *ts, const char *id, const char *origin, const char *doc);
/* Cancels a task this hub offered (t->forwarded), whichever hub holds its row by now, and
 * replies to req. false when t is not such a task (the caller cancels it as usual). */
bool tasks_relay_cancel_offered(tasks_t *ts, task_t *t, api_req_t *req);
/* Asks the hub running t to cancel it. NULL, or why not. */
problem_t *tasks_relay_cancel(tasks_t *ts, const task_t *t);
/* Claims in the store or publishes awaiting a confirm. */
bool tasks_relay_busy(const tasks_t *ts);
void tasks_relay_stats(const tasks_t *ts, tasks_relay_stats_t *out);
/* This hub's name, "" when the relay is off. */
const char *tasks_hub_name(const tasks_t *ts);
/* t runs under another hub (a copy here follows it). */
bool tasks_remote(const tasks_t *ts, const task_t *t);

/* ---- tasks_store.c: persistence and held replies ---- */
void tasks_dirty(tasks_t *ts, task_t *t);
/* Sends body (stolen) with status once everything marked so far has committed. */
void tasks_ack_reply(tasks_t *ts, api_req_t *req, int status, json_t *body);
/* The same with the body as compact JSON text (stolen; NULL: a 503 now). */
void tasks_ack_reply_text(tasks_t *ts, api_req_t *req, int status, char *text, size_t len);
/* The same with the task t as the body (as it is now). */
void tasks_ack_task(tasks_t *ts, api_req_t *req, int status, const task_t *t);
void tasks_ack_fini(tasks_t *ts);
int tasks_load(tasks_t *ts);
/* Retention (tasks_store.c): the purge (thread pool) and what memory drops after it (loop). */
int tasks_retention_purge(store_conn_t *c, retention_batch_t *b, void *ud);
void tasks_retention_after(void *ud, const config_t *cfg, int64_t now_ms);

#endif
