/* Tasks persistence: the table (migration 700), transitions written in grouped commits — one
 * batch in flight at a time, holding every task changed since the last — and replies held
 * until the batch that holds what they report has committed. Loop thread, except the batch's
 * work on the store's thread pool. */
#include <stdlib.h>
#include <string.h>

#include "core/hub.h"
#include "core/log.h"
#include "store/store_problem.h"
#include "tasks/tasks_internal.h"

#define TASKS_BATCH_TRIES 3 /* a batch's transaction, when the server reports a deadlock */

static const store_migration_t tasks_migs[] = {
    {
        .version = 700,
        .name = "tasks",
        .sql_sqlite = "CREATE TABLE tasks ("
                      " id TEXT PRIMARY KEY,"
                      " state TEXT NOT NULL,"
                      " priority INTEGER NOT NULL,"
                      " idempotency_key TEXT UNIQUE,"
                      " created_ms BIGINT NOT NULL,"
                      " updated_ms BIGINT NOT NULL,"
                      " doc TEXT NOT NULL);"
                      "CREATE INDEX tasks_state ON tasks (state, created_ms);"
                      "CREATE INDEX tasks_updated ON tasks (updated_ms);",
    },
    {
        /* chat history per session (src/net/ws_chat_store.c): in the tasks range, as the
         * chat is the other half of talking to agents */
        .version = 710,
        .name = "chat_turns",
        .sql_sqlite = "CREATE TABLE chat_turns ("
                      " session TEXT NOT NULL,"
                      " seq BIGINT NOT NULL,"
                      " role TEXT NOT NULL,"
                      " agent TEXT NOT NULL,"
                      " content TEXT NOT NULL,"
                      " ts BIGINT NOT NULL,"
                      " PRIMARY KEY (session, seq));",
    },
    {
        /* hubs sharing one store (tasks_relay.c): the hub whose task a row is, and the hub it
         * was submitted to; '' for a hub without the relay */
        .version = 720,
        .name = "tasks_hub",
        .sql_sqlite = "ALTER TABLE tasks ADD COLUMN hub TEXT NOT NULL DEFAULT '';"
                      "ALTER TABLE tasks ADD COLUMN origin TEXT NOT NULL DEFAULT '';"
                      "CREATE INDEX tasks_hub ON tasks (hub, state);"
                      "CREATE INDEX tasks_origin ON tasks (origin, state);",
    },
    {
        /* Every transition moved an entry in four indexes; the queries need two, each over
         * the rows in a few states only: the unfinished (the start's loads, by created_ms)
         * and the finished (the start's recent ones and retention, by updated_ms). A
         * lease or a heartbeat now touches no secondary index; submitting and finishing
         * touch one. The query texts repeat these conditions verbatim: SQLite uses a
         * partial index only for a query whose WHERE holds the index's term as written.
         * ORs, not IN: SQLite evaluates an IN list through a temporary b-tree, built anew
         * for each partial index on every row written. */
        .version = 721,
        .name = "tasks_partial_indexes",
        .sql_sqlite = "DROP INDEX tasks_state;"
                      "DROP INDEX tasks_updated;"
                      "DROP INDEX tasks_hub;"
                      "DROP INDEX tasks_origin;"
                      "CREATE INDEX tasks_open ON tasks (created_ms)"
                      " WHERE state = 'queued' OR state = 'assigned' OR state = 'running';"
                      "CREATE INDEX tasks_finished ON tasks (updated_ms)"
                      " WHERE state = 'succeeded' OR state = 'failed' OR state = 'cancelled'"
                      " OR state = 'expired';",
    },
};

const store_migration_t *tasks_migrations(size_t *n)
{
    *n = sizeof tasks_migs / sizeof tasks_migs[0];
    return tasks_migs;
}

/* ---- the batch ---- */

typedef struct tasks_row {
    char id[TASKS_ID_LEN + 1];
    const char *state; /* static */
    int priority;
    char *key; /* owned or NULL */
    int64_t created_ms, updated_ms;
    char *doc;    /* owned */
    char *origin; /* owned; "" when the relay is off */
} tasks_row_t;

typedef struct tasks_batch {
    tasks_t *ts;
    tasks_row_t *rows;
    size_t n;
    size_t marked; /* dirty tasks taken: n plus copies of tasks another hub writes */
    char hub[128]; /* the hub writing: a row another hub took is left alone */
    char err[256];
} tasks_batch_t;

static void tasks_flush(tasks_t *ts);

/* One try of the batch's transaction. */
static int tasks_batch_try(store_conn_t *c, tasks_batch_t *b)
{
    int rc = store_tx_begin(c);
    for (size_t i = 0; rc == 0 && i < b->n; i++) {
        tasks_row_t *r = &b->rows[i];
        store_val_t p[] = {STORE_TEXTV(r->id),        STORE_TEXTV(r->state),
                           STORE_INTV(r->priority),   r->key ? STORE_TEXTV(r->key) : STORE_NULLV,
                           STORE_INTV(r->created_ms), STORE_INTV(r->updated_ms),
                           STORE_TEXTV(r->doc),       STORE_TEXTV(b->hub),
                           STORE_TEXTV(r->origin)};
        rc = store_query(c,
                         "INSERT INTO tasks (id, state, priority, idempotency_key, created_ms,"
                         " updated_ms, doc, hub, origin) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
                         " $9) ON CONFLICT (id) DO UPDATE SET state = excluded.state,"
                         " updated_ms = excluded.updated_ms, doc = excluded.doc,"
                         " hub = excluded.hub WHERE tasks.hub = excluded.hub OR tasks.hub = ''",
                         p, 9, NULL, NULL);
    }
    if (rc == 0)
        rc = store_tx_commit(c);
    if (rc < 0) {
        snprintf(b->err, sizeof b->err, "%s", store_conn_error(c));
        (void)store_tx_rollback(c); /* the error that counts is rc */
    }
    return rc;
}

/* Rows go in id order, so that hubs writing one shared table lock rows in the same order; a
 * deadlock or serialization failure the server still reports is tried again. */
static int tasks_batch_work(store_conn_t *c, void *ud)
{
    tasks_batch_t *b = ud;
    int rc = 0;
    for (int attempt = 0; attempt < TASKS_BATCH_TRIES; attempt++) {
        rc = tasks_batch_try(c, b);
        if (rc == 0 || (!strstr(b->err, "40P01") && !strstr(b->err, "40001")))
            break;
    }
    return rc;
}

static int tasks_row_cmp(const void *x, const void *y)
{
    return strcmp(((const tasks_row_t *)x)->id, ((const tasks_row_t *)y)->id);
}

static void tasks_batch_free(tasks_batch_t *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->rows[i].key);
        free(b->rows[i].doc);
        free(b->rows[i].origin);
    }
    free(b->rows);
    free(b);
}

/* Releases the replies whose rows are committed (or failed: then a 503). */
static void tasks_ack_release(tasks_t *ts, bool failed)
{
    while (ts->ack_head && ts->ack_head->mark <= ts->save_done) {
        tasks_ack_t *k = ts->ack_head;
        ts->ack_head = k->next;
        if (!ts->ack_head)
            ts->ack_tail = NULL;
        if (failed) {
            json_decref(k->body);
            api_reply_problem(k->req, store_problem_uncommitted(ts->hub->store, "the task"));
        } else if (k->text) {
            api_reply_json_text(k->req, k->status, k->text, k->len);
        } else {
            api_reply_json(k->req, k->status, k->body);
        }
        free(k->text);
        free(k);
    }
}

/* Finished tasks leave memory from the oldest: beyond TASKS_KEEP (their rows stay in the
 * store), or finished before cut_ms (retention removed their rows; 0 = no cut). */
static void tasks_evict(tasks_t *ts, int64_t cut_ms)
{
    while (ts->done.head && !ts->done.head->dirty &&
           (ts->done.n > TASKS_KEEP || ts->done.head->updated_ms < cut_ms)) {
        task_t *t = ts->done.head;
        ts->done.head = t->next;
        if (t->next)
            t->next->prev = NULL;
        else
            ts->done.tail = NULL;
        ts->done.n--;
        htab_del(ts->by_id, t->id, strlen(t->id));
        if (t->idem_key && htab_get_str(ts->by_key, t->idem_key) == t)
            htab_del(ts->by_key, t->idem_key, strlen(t->idem_key));
        tasks_free(t);
    }
}

/* Retention (registered by tasks_api.c): finished tasks not updated since the cut, with their
 * results; thread pool. */
int tasks_retention_purge(store_conn_t *c, retention_batch_t *b, void *ud)
{
    (void)ud;
    int64_t age_s = b->cfg->retention_tasks_max_age_s;
    if (age_s <= 0)
        return 0;
    store_val_t p[2] = {STORE_INTV(b->now_ms - age_s * 1000), STORE_INTV(b->limit)};
    return store_query(c,
                       "DELETE FROM tasks WHERE id IN (SELECT id FROM tasks WHERE (state ="
                       " 'succeeded' OR state = 'failed' OR state = 'cancelled' OR state ="
                       " 'expired') AND updated_ms < $1"
                       " ORDER BY updated_ms LIMIT $2)",
                       p, 2, NULL, &b->removed);
}

/* After the purge, on the loop: what it removed leaves memory too. */
void tasks_retention_after(void *ud, const config_t *cfg, int64_t now_ms)
{
    if (cfg->retention_tasks_max_age_s > 0)
        tasks_evict(ud, now_ms - cfg->retention_tasks_max_age_s * 1000);
}

static void tasks_batch_done(int status, void *ud)
{
    tasks_batch_t *b = ud;
    tasks_t *ts = b->ts;
    if (status < 0) {
        ts->errors++;
        log_error(NULL, "tasks: batch not committed", "{s:i,s:s}", "rows", (int)b->n, "reason",
                  b->err);
    }
    ts->save_done += b->marked;
    ts->batch_busy = false;
    /* tasks submitted to another hub: that hub hears of what is committed now */
    for (size_t i = 0; status >= 0 && ts->hub->tasks && i < b->n; i++)
        tasks_relay_committed(ts, b->rows[i].id, b->rows[i].origin, b->rows[i].doc);
    tasks_batch_free(b);
    if (!ts->hub->tasks) /* destroyed meanwhile */
        return;
    tasks_ack_release(ts, status < 0);
    tasks_evict(ts, 0);
    if (ts->dirty_head)
        tasks_flush(ts);
}

static void tasks_flush(tasks_t *ts)
{
    if (ts->batch_busy || !ts->dirty_head)
        return;
    size_t n = 0;
    for (task_t *t = ts->dirty_head; t; t = t->dnext)
        n++;
    tasks_batch_t *b = calloc(1, sizeof *b);
    tasks_row_t *rows = b ? calloc(n, sizeof *rows) : NULL;
    if (!rows) {
        free(b);
        log_error(NULL, "tasks: out of memory for a batch", NULL);
        return; /* the next change tries again */
    }
    b->ts = ts;
    b->rows = rows;
    snprintf(b->hub, sizeof b->hub, "%s", tasks_hub_name(ts));
    for (task_t *t = ts->dirty_head; t;) {
        task_t *nx = t->dnext;
        b->marked++;
        if (tasks_remote(ts, t)) { /* the hub running it writes its row */
            t->dirty = false;
            t->dnext = NULL;
            t = nx;
            continue;
        }
        tasks_row_t *r = &rows[b->n++];
        memcpy(r->id, t->id, sizeof r->id);
        r->state = tasks_state_names[t->state];
        r->priority = t->priority;
        r->key = t->idem_key ? strdup(t->idem_key) : NULL;
        r->created_ms = t->created_ms;
        r->updated_ms = t->updated_ms;
        /* encoded at its last transition (tasks_changed); between hubs a claim or a copy's
         * update can change the row after that, so there it is encoded here */
        r->doc = ts->relay ? NULL : t->doc;
        if (ts->relay)
            free(t->doc);
        t->doc = NULL;
        if (!r->doc) {
            json_t *doc = tasks_task_json(t);
            r->doc = json_dumps(doc, JSON_COMPACT);
            json_decref(doc);
        }
        r->origin = strdup(t->origin ? t->origin : "");
        t->dirty = false;
        t->dnext = NULL;
        t = nx;
    }
    ts->dirty_head = ts->dirty_tail = NULL;
    qsort(b->rows, b->n, sizeof *b->rows, tasks_row_cmp);
    ts->batch_busy = true;
    /* On the ordered lane, as the audit rows are: SQLite has one writer, and two writers racing
     * cost the loser a busy-handler sleep of a millisecond or more. */
    int rc =
        store_submit_ordered(ts->hub->store, ts->hub->loop, tasks_batch_work, tasks_batch_done, b);
    if (rc < 0) {
        snprintf(b->err, sizeof b->err, "cannot queue the batch: %s", uv_strerror(rc));
        tasks_batch_done(STORE_ERR, b);
    }
}

static void tasks_on_check(uv_check_t *h)
{
    tasks_t *ts = h->data;
    uv_check_stop(h);
    ts->check_on = false;
    tasks_flush(ts);
}

void tasks_dirty(tasks_t *ts, task_t *t)
{
    if (t->dirty)
        return; /* its row in the coming batch will show this change too */
    t->dirty = true;
    t->save_mark = ++ts->save_seq;
    if (ts->dirty_tail)
        ts->dirty_tail->dnext = t;
    else
        ts->dirty_head = t;
    ts->dirty_tail = t;
    if (!ts->batch_busy && !ts->check_on && ts->check.loop) {
        ts->check_on = true;
        uv_check_start(&ts->check, tasks_on_check);
    }
}

/* Holds k's reply until the batch that holds the latest change has committed. */
static void tasks_ack_queue(tasks_t *ts, tasks_ack_t *k)
{
    k->mark = ts->save_seq;
    if (ts->ack_tail)
        ts->ack_tail->next = k;
    else
        ts->ack_head = k;
    ts->ack_tail = k;
}

void tasks_ack_reply(tasks_t *ts, api_req_t *req, int status, json_t *body)
{
    if (ts->save_done >= ts->save_seq) {
        api_reply_json(req, status, body);
        return;
    }
    tasks_ack_t *k = calloc(1, sizeof *k);
    if (!k) {
        log_warn(api_req_id(req), "tasks: reply sent before its commit (out of memory)", NULL);
        api_reply_json(req, status, body);
        return;
    }
    k->req = req;
    k->body = body;
    k->status = status;
    tasks_ack_queue(ts, k);
}

void tasks_ack_reply_text(tasks_t *ts, api_req_t *req, int status, char *text, size_t len)
{
    if (!text) {
        api_reply_problem(req, problem_new(503, "out-of-memory", "cannot render the reply now"));
        return;
    }
    if (ts->save_done >= ts->save_seq) {
        api_reply_json_text(req, status, text, len);
        free(text);
        return;
    }
    tasks_ack_t *k = calloc(1, sizeof *k);
    if (!k) {
        log_warn(api_req_id(req), "tasks: reply sent before its commit (out of memory)", NULL);
        api_reply_json_text(req, status, text, len);
        free(text);
        return;
    }
    k->req = req;
    k->text = text;
    k->len = len;
    k->status = status;
    tasks_ack_queue(ts, k);
}

void tasks_ack_task(tasks_t *ts, api_req_t *req, int status, const task_t *t)
{
    size_t len = 0;
    char *text = tasks_task_text(t, &len);
    tasks_ack_reply_text(ts, req, status, text, len);
}

void tasks_ack_fini(tasks_t *ts)
{
    while (ts->ack_head) {
        tasks_ack_t *k = ts->ack_head;
        ts->ack_head = k->next;
        json_decref(k->body);
        free(k->text);
        api_reply_problem(k->req, problem_new(503, "shutting-down",
                                              "the server shut down before the change was "
                                              "committed"));
        free(k);
    }
    ts->ack_tail = NULL;
}

/* ---- start ---- */

/* mirror: the rows are tasks submitted here that another hub runs; copies that follow it */
static int tasks_load_rows(tasks_t *ts, store_conn_t *c, const char *sql, bool hub_param,
                           bool mirror)
{
    json_t *rows = NULL;
    store_val_t p[] = {STORE_TEXTV(tasks_hub_name(ts))};
    int rc = store_query(c, sql, hub_param ? p : NULL, hub_param ? 1 : 0, &rows, NULL);
    if (rc < 0)
        return rc;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        json_t *doc = json_loads(json_string_value(json_object_get(row, "doc")), 0, NULL);
        task_t *t = doc ? tasks_from_json(doc) : NULL;
        json_decref(doc);
        if (!t || htab_put(ts->by_id, t) < 0) {
            tasks_free(t);
            continue;
        }
        if (t->idem_key && htab_put(ts->by_key, t) < 0) {
            free(t->idem_key);
            t->idem_key = NULL;
        }
        if (mirror) {
            t->forwarded = true;
            tasks_link_flight(ts, t);
            continue;
        }
        bool requeued = !tasks_terminal(t->state) && t->state != TASK_QUEUED;
        tasks_place(ts, t);
        if (requeued)
            tasks_dirty(ts, t);
    }
    json_decref(rows);
    return 0;
}

int tasks_load(tasks_t *ts)
{
    if (!ts->hub->store)
        return 0;
    store_conn_t *c = store_conn_acquire(ts->hub->store);
    if (!c)
        return -1;
    int rc = tasks_load_rows(ts, c,
                             "SELECT doc FROM (SELECT doc, updated_ms FROM tasks WHERE (state ="
                             " 'succeeded' OR state = 'failed' OR state = 'cancelled' OR state ="
                             " 'expired')"
                             " ORDER BY updated_ms DESC LIMIT 10000) AS recent"
                             " ORDER BY updated_ms",
                             false, false);
    /* unfinished: this hub's own (and those no hub has taken yet) */
    if (rc == 0)
        rc = tasks_load_rows(ts, c,
                             "SELECT doc FROM tasks WHERE (hub = $1 OR hub = '') AND (state ="
                             " 'queued' OR state = 'assigned' OR state = 'running')"
                             " ORDER BY created_ms",
                             true, false);
    if (rc == 0 && ts->relay)
        rc = tasks_load_rows(ts, c,
                             "SELECT doc FROM tasks WHERE origin = $1 AND hub <> $1 AND hub <> ''"
                             " AND (state = 'queued' OR state = 'assigned' OR state = 'running')"
                             " ORDER BY created_ms",
                             true, true);
    if (rc < 0)
        log_error(NULL, "tasks: cannot load", "{s:s}", "reason", store_conn_error(c));
    store_conn_release(ts->hub->store, c);
    return rc < 0 ? -1 : 0;
}

/* what the vault backs up for this domain (core/backup.h) */
const backup_decl_t tasks_backup = {"tasks", BACKUP_LIST("tasks", "chat_turns"), BACKUP_NONE};
