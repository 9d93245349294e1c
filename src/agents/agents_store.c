/* Agents in the store: the agents table (migrations 200-299), one row per agent written on the
 * thread pool after each transition (coalesced per agent), the output tail of ended agents, and
 * at start the records of earlier runs, with agents that were alive marked lost. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents_internal.h"
#include "core/clock.h"
#include "core/hub.h"
#include "core/log.h"

#define AGENTS_LOAD_MAX 10000 /* most recent rows loaded at start */

static const store_migration_t agents_migration_list[] = {
    {
        .version = 200,
        .name = "agents_create",
        .sql_sqlite = "CREATE TABLE agents ("
                      " id TEXT PRIMARY KEY,"
                      " name TEXT NOT NULL,"
                      " status TEXT NOT NULL,"
                      " spec TEXT NOT NULL,"
                      " pid INTEGER,"
                      " exit_code INTEGER,"
                      " signal INTEGER,"
                      " reason TEXT,"
                      " restarts INTEGER NOT NULL DEFAULT 0,"
                      " created_ms BIGINT NOT NULL,"
                      " started_ms BIGINT,"
                      " ended_ms BIGINT,"
                      " status_ms BIGINT,"
                      " lost_ms BIGINT,"
                      " last_seq BIGINT NOT NULL DEFAULT 0,"
                      " tail TEXT);"
                      "CREATE INDEX agents_status ON agents (status);"
                      "CREATE INDEX agents_created ON agents (created_ms);",
    },
};

const store_migration_t *agents_migrations(size_t *n)
{
    *n = sizeof agents_migration_list / sizeof agents_migration_list[0];
    return agents_migration_list;
}

/* ---- writes ---- */

typedef struct agents_write {
    agents_t *ag;
    agent_t *agent; /* NULL for a delete */
    char id[AGENTS_ID_LEN + 1];
    char *name, *status, *spec, *reason, *tail;
    int64_t pid, exit_code, sig, restarts, created, started, ended, status_ms, lost, last_seq;
    bool del;
} agents_write_t;

static void agents_write_free(agents_write_t *w)
{
    free(w->name);
    free(w->status);
    free(w->spec);
    free(w->reason);
    free(w->tail);
    free(w);
}

static store_val_t agents_int_or_null(int64_t v)
{
    return v > 0 ? STORE_INTV(v) : STORE_NULLV;
}

static int agents_write_work(store_conn_t *c, void *ud)
{
    agents_write_t *w = ud;
    if (w->del) {
        store_val_t p[] = {STORE_TEXTV(w->id)};
        return store_query(c, "DELETE FROM agents WHERE id = $1", p, 1, NULL, NULL);
    }
    store_val_t p[] = {
        STORE_TEXTV(w->id),
        STORE_TEXTV(w->name),
        STORE_TEXTV(w->status),
        STORE_TEXTV(w->spec),
        agents_int_or_null(w->pid),
        w->exit_code >= 0 ? STORE_INTV(w->exit_code) : STORE_NULLV,
        agents_int_or_null(w->sig),
        w->reason ? STORE_TEXTV(w->reason) : STORE_NULLV,
        STORE_INTV(w->restarts),
        STORE_INTV(w->created),
        agents_int_or_null(w->started),
        agents_int_or_null(w->ended),
        agents_int_or_null(w->status_ms),
        agents_int_or_null(w->lost),
        STORE_INTV(w->last_seq),
        w->tail ? STORE_TEXTV(w->tail) : STORE_NULLV,
    };
    /* ON CONFLICT ... excluded: the same text on SQLite (3.24+) and PostgreSQL */
    return store_query(c,
                       "INSERT INTO agents (id, name, status, spec, pid, exit_code, signal, reason,"
                       " restarts, created_ms, started_ms, ended_ms, status_ms, lost_ms, last_seq,"
                       " tail) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)"
                       " ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
                       " status = excluded.status, pid = excluded.pid,"
                       " exit_code = excluded.exit_code, signal = excluded.signal,"
                       " reason = excluded.reason, restarts = excluded.restarts,"
                       " started_ms = excluded.started_ms, ended_ms = excluded.ended_ms,"
                       " status_ms = excluded.status_ms, lost_ms = excluded.lost_ms,"
                       " last_seq = excluded.last_seq,"
                       " tail = COALESCE(excluded.tail, agents.tail)",
                       p, sizeof p / sizeof p[0], NULL, NULL);
}

static void agents_store_submit(agents_write_t *w);

static void agents_write_done(int status, void *ud)
{
    agents_write_t *w = ud;
    agents_t *ag = w->ag;
    ag->writes_inflight--;
    if (status < 0)
        log_warn(NULL, "agents: store write failed", "{s:s,s:i}", "agent", w->id, "code", status);
    agent_t *a = w->agent;
    agents_write_free(w);
    if (!a)
        return;
    a->write_inflight = false;
    if (a->write_dirty && !a->forget) {
        a->write_dirty = false;
        agents_store_save(a);
    } else {
        agents_agent_release(a);
    }
}

static void agents_store_submit(agents_write_t *w)
{
    hub_t *hub = w->ag->hub;
    w->ag->writes_inflight++;
    if (w->agent)
        w->agent->write_inflight = true;
    int rc = store_submit(hub->store, hub->loop, agents_write_work, agents_write_done, w);
    if (rc < 0) {
        log_warn(NULL, "agents: store write not queued", "{s:s,s:s}", "agent", w->id, "reason",
                 uv_strerror(rc));
        agents_write_done(STORE_ERR, w);
    }
}

/* The last tail_lines lines of both streams, merged by seq, as a JSON array text. */
static char *agents_tail_dump(const agent_t *a, int64_t max)
{
    json_t *arr = json_array();
    size_t i0 = a->ring[0].n, i1 = a->ring[1].n;
    json_t *rev = json_array();
    for (int64_t k = 0; k < max && (i0 || i1); k++) {
        const agents_line_t *l0 = i0 ? agents_ring_at(&a->ring[0], i0 - 1) : NULL;
        const agents_line_t *l1 = i1 ? agents_ring_at(&a->ring[1], i1 - 1) : NULL;
        const agents_line_t *l;
        if (l0 && (!l1 || l0->seq > l1->seq)) {
            l = l0;
            i0--;
        } else {
            l = l1;
            i1--;
        }
        json_array_append_new(rev, agents_line_json(a, l));
    }
    for (size_t k = json_array_size(rev); k > 0; k--)
        json_array_append(arr, json_array_get(rev, k - 1));
    json_decref(rev);
    char *s = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return s;
}

void agents_store_save(agent_t *a)
{
    agents_t *ag = a->owner;
    if (!ag->hub->store || a->forget)
        return;
    if (a->write_inflight) {
        a->write_dirty = true;
        return;
    }
    agents_write_t *w = calloc(1, sizeof *w);
    if (!w)
        return;
    w->ag = ag;
    w->agent = a;
    snprintf(w->id, sizeof w->id, "%s", a->id);
    w->name = strdup(a->name ? a->name : "");
    w->status = strdup(agents_status_name(a->status));
    w->spec = json_dumps(a->spec, JSON_COMPACT);
    w->reason = a->reason ? strdup(a->reason) : NULL;
    if (agents_status_final(a->status) && ag->hub->cfg.agents_tail_lines > 0)
        w->tail = agents_tail_dump(a, ag->hub->cfg.agents_tail_lines);
    w->pid = a->pid;
    w->exit_code = a->exit_code;
    w->sig = a->term_signal;
    w->restarts = a->restarts;
    w->created = a->created_ms;
    w->started = a->started_ms;
    w->ended = a->ended_ms;
    w->status_ms = a->status_ms;
    w->lost = a->lost_ms;
    w->last_seq = (int64_t)a->seq;
    if (!w->name || !w->status || !w->spec) {
        agents_write_free(w);
        return;
    }
    agents_store_submit(w);
}

void agents_store_delete(agents_t *ag, const char *id)
{
    if (!ag->hub->store)
        return;
    agents_write_t *w = calloc(1, sizeof *w);
    if (!w)
        return;
    w->ag = ag;
    w->del = true;
    snprintf(w->id, sizeof w->id, "%s", id);
    agents_store_submit(w);
}

/* ---- start ---- */

static int64_t agents_row_int(json_t *row, const char *k)
{
    json_t *v = json_object_get(row, k);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

static void agents_tail_restore(agent_t *a, const char *text)
{
    json_t *arr = text ? json_loads(text, 0, NULL) : NULL;
    size_t i;
    json_t *l;
    json_array_foreach(arr, i, l)
    {
        const char *st = json_string_value(json_object_get(l, "stream"));
        const char *t = json_string_value(json_object_get(l, "text"));
        int stream = st && !strcmp(st, "stderr") ? AGENTS_STDERR : AGENTS_STDOUT;
        unsigned flags = 0;
        if (json_is_true(json_object_get(l, "cont")))
            flags |= AGENTS_LINE_CONT;
        if (json_is_true(json_object_get(l, "noeol")))
            flags |= AGENTS_LINE_NOEOL;
        if (t) {
            agents_ring_push(&a->ring[stream], (uint64_t)agents_row_int(l, "seq"),
                             agents_row_int(l, "ts"), stream, t,
                             json_string_length(l ? json_object_get(l, "text") : NULL), flags);
            a->lines_total[stream]++;
        }
    }
    json_decref(arr);
}

int agents_store_load(agents_t *ag)
{
    store_t *st = ag->hub->store;
    if (!st)
        return 0;
    store_conn_t *c = store_conn_acquire(st);
    if (!c)
        return -1;
    int64_t now = clock_wall_ms();
    int64_t lost = 0;
    store_val_t up[] = {STORE_INTV(now)};
    int rc = store_query(c,
                         "UPDATE agents SET status = 'lost', lost_ms = $1, ended_ms = $1,"
                         " status_ms = $1, pid = NULL,"
                         " reason = 'the daemon stopped while the agent was running'"
                         " WHERE status NOT IN ('completed', 'failed', 'terminated', 'lost')",
                         up, 1, NULL, &lost);
    json_t *rows = NULL;
    if (rc == 0) {
        store_val_t lim[] = {STORE_INTV(AGENTS_LOAD_MAX)};
        rc = store_query(c,
                         "SELECT id, name, status, spec, exit_code, signal, reason, restarts,"
                         " created_ms, started_ms, ended_ms, status_ms, lost_ms, last_seq, tail"
                         " FROM agents ORDER BY created_ms DESC LIMIT $1",
                         lim, 1, &rows, NULL);
    }
    if (rc < 0) {
        log_error(NULL, "agents: cannot read the agents table", "{s:s}", "error",
                  store_conn_error(c));
        store_conn_release(st, c);
        return -1;
    }
    store_conn_release(st, c);
    if (lost > 0)
        log_warn(NULL, "agents: agents from the previous run marked lost", "{s:I}", "count",
                 (json_int_t)lost);
    for (size_t i = json_array_size(rows); i > 0; i--) {
        json_t *row = json_array_get(rows, i - 1);
        const char *id = json_string_value(json_object_get(row, "id"));
        const char *spec_text = json_string_value(json_object_get(row, "spec"));
        json_t *spec = spec_text ? json_loads(spec_text, 0, NULL) : NULL;
        if (!id || strlen(id) > AGENTS_ID_LEN || !json_is_object(spec)) {
            json_decref(spec);
            continue;
        }
        agent_t *a = agents_record_new(ag, id, spec);
        if (!a)
            break;
        agents_status_t s = AGENTS_LOST;
        agents_status_parse(json_string_value(json_object_get(row, "status")), &s);
        if (!agents_status_final(s))
            s = AGENTS_LOST;
        a->status = s;
        json_t *ec = json_object_get(row, "exit_code");
        a->exit_code = json_is_integer(ec) ? (int)json_integer_value(ec) : -1;
        a->term_signal = (int)agents_row_int(row, "signal");
        const char *reason = json_string_value(json_object_get(row, "reason"));
        a->reason = reason ? strdup(reason) : NULL;
        a->restarts = (int)agents_row_int(row, "restarts");
        a->created_ms = agents_row_int(row, "created_ms");
        a->started_ms = agents_row_int(row, "started_ms");
        a->ended_ms = agents_row_int(row, "ended_ms");
        a->status_ms = agents_row_int(row, "status_ms");
        a->lost_ms = agents_row_int(row, "lost_ms");
        agents_tail_restore(a, json_string_value(json_object_get(row, "tail")));
        a->seq = (uint64_t)agents_row_int(row, "last_seq");
    }
    json_decref(rows);
    return 0;
}
