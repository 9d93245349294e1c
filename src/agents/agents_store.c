/* Agents in the store: the agents table (migrations 200-299), one row per agent written on the
 * thread pool after each transition (coalesced per agent), the output tail of ended agents, and
 * at start the records of earlier runs, with agents that were alive marked lost. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents_internal.h"
#include "core/clock.h"
#include "core/hub.h"
#include "core/log.h"
#include "store/retention.h"

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
    {
        /* what identifies a live agent's processes, so that the next daemon can end them
         * after a crash without touching a reused pid: the main process's start time
         * (/proc/PID/stat field 22, clock ticks after boot, meaningful with boot_id), its
         * process group, and its cgroup when it has one */
        .version = 201,
        .name = "agents_process_identity",
        .sql_sqlite = "ALTER TABLE agents ADD COLUMN pid_start BIGINT;"
                      "ALTER TABLE agents ADD COLUMN pgid INTEGER;"
                      "ALTER TABLE agents ADD COLUMN cgroup TEXT;"
                      "ALTER TABLE agents ADD COLUMN boot_id TEXT;",
    },
    {
        /* when the daemon's own shutdown ended the agent (not a user's stop): the next start
         * brings it back by its restart policy (agents_restart.c) */
        .version = 202,
        .name = "agents_daemon_stop",
        .sql_sqlite = "ALTER TABLE agents ADD COLUMN daemon_stop_ms BIGINT;",
    },
};

const store_migration_t *agents_migrations(size_t *n)
{
    *n = sizeof agents_migration_list / sizeof agents_migration_list[0];
    return agents_migration_list;
}

/* ---- writes ---- */

#define AGENTS_BATCH_MAX 256 /* rows per transaction; the rest wait for the next one */

/* One row as it was when its batch was taken (the batch owns every string). */
typedef struct agents_write {
    char id[AGENTS_ID_LEN + 1];
    char *name, *status, *spec, *reason, *tail; /* spec NULL: the row exists, UPDATE it */
    int64_t pid, exit_code, sig, restarts, created, started, ended, status_ms, lost, last_seq;
    int64_t pid_start, pgid; /* with pid: the process's identity (0 without one) */
    int64_t daemon_stop_ms;  /* 0 unless the daemon's shutdown ended it */
    char *cgroup;            /* NULL without a live process in a cgroup */
    const char *boot_id;     /* borrowed from the module (set once at start); NULL: none */
    int rc;                  /* 0 once committed */
} agents_write_t;

struct agents_del {
    struct agents_del *next;
    char id[AGENTS_ID_LEN + 1];
};

typedef struct agents_batch {
    agents_t *ag;
    size_t n, ndel;
    size_t took;     /* save queue entries consumed, written or not (agents_ack_batch_done) */
    size_t nskipped; /* rows that could not be built (out of memory): never written */
    agents_write_t w[AGENTS_BATCH_MAX];
    char del[AGENTS_BATCH_MAX][AGENTS_ID_LEN + 1];
    int del_rc[AGENTS_BATCH_MAX];
    char skipped[AGENTS_BATCH_MAX][AGENTS_ID_LEN + 1];
} agents_batch_t;

static void agents_batch_free(agents_batch_t *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->w[i].name);
        free(b->w[i].status);
        free(b->w[i].spec);
        free(b->w[i].reason);
        free(b->w[i].tail);
        free(b->w[i].cgroup);
    }
    free(b);
}

static store_val_t agents_int_or_null(int64_t v)
{
    return v > 0 ? STORE_INTV(v) : STORE_NULLV;
}

static int agents_write_row(store_conn_t *c, const agents_write_t *w)
{
    store_val_t p[] = {
        STORE_TEXTV(w->id),
        STORE_TEXTV(w->name),
        STORE_TEXTV(w->status),
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
        w->spec ? STORE_TEXTV(w->spec) : STORE_NULLV,
        agents_int_or_null(w->pid_start),
        agents_int_or_null(w->pgid),
        w->cgroup ? STORE_TEXTV(w->cgroup) : STORE_NULLV,
        w->pid && w->boot_id ? STORE_TEXTV(w->boot_id) : STORE_NULLV,
        agents_int_or_null(w->daemon_stop_ms),
    };
    size_t np = sizeof p / sizeof p[0];
    if (!w->spec) {
        /* the spec never changes: later writes leave it (and its text) alone. Every parameter
         * is used (PostgreSQL cannot type one that is not), so created_ms ($9) is left out. */
        store_val_t u[] = {p[0],  p[1],  p[2],  p[3],  p[4],  p[5],  p[6],  p[7],  p[9], p[10],
                           p[11], p[12], p[13], p[14], p[16], p[17], p[18], p[19], p[20]};
        return store_query(c,
                           "UPDATE agents SET name = $2, status = $3, pid = $4, exit_code = $5,"
                           " signal = $6, reason = $7, restarts = $8, started_ms = $9,"
                           " ended_ms = $10, status_ms = $11, lost_ms = $12, last_seq = $13,"
                           " tail = COALESCE($14, tail), pid_start = $15, pgid = $16,"
                           " cgroup = $17, boot_id = $18, daemon_stop_ms = $19 WHERE id = $1",
                           u, sizeof u / sizeof u[0], NULL, NULL);
    }
    /* ON CONFLICT ... excluded: the same text on SQLite (3.24+) and PostgreSQL */
    return store_query(
        c,
        "INSERT INTO agents (id, name, status, pid, exit_code, signal, reason,"
        " restarts, created_ms, started_ms, ended_ms, status_ms, lost_ms, last_seq,"
        " tail, spec, pid_start, pgid, cgroup, boot_id, daemon_stop_ms)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21)"
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
        " status = excluded.status, pid = excluded.pid,"
        " exit_code = excluded.exit_code, signal = excluded.signal,"
        " reason = excluded.reason, restarts = excluded.restarts,"
        " started_ms = excluded.started_ms, ended_ms = excluded.ended_ms,"
        " status_ms = excluded.status_ms, lost_ms = excluded.lost_ms,"
        " last_seq = excluded.last_seq,"
        " tail = COALESCE(excluded.tail, agents.tail), pid_start = excluded.pid_start,"
        " pgid = excluded.pgid, cgroup = excluded.cgroup, boot_id = excluded.boot_id,"
        " daemon_stop_ms = excluded.daemon_stop_ms, spec = excluded.spec",
        p, np, NULL, NULL);
}

/* Every row and delete of the batch. With stop, the first error ends it; without, every one is
 * tried on its own (each its own commit, its result in its rc) and the last error is returned. */
static int agents_batch_apply(store_conn_t *c, agents_batch_t *b, bool stop)
{
    int rc = 0;
    for (size_t i = 0; i < b->n + b->ndel && !(stop && rc < 0); i++) {
        int r;
        if (i < b->n) {
            r = agents_write_row(c, &b->w[i]);
        } else {
            store_val_t p[] = {STORE_TEXTV(b->del[i - b->n])};
            r = store_query(c, "DELETE FROM agents WHERE id = $1", p, 1, NULL, NULL);
        }
        if (!stop && i < b->n)
            b->w[i].rc = r;
        else if (!stop)
            b->del_rc[i - b->n] = r;
        rc = r < 0 ? r : rc;
    }
    return rc;
}

/* The whole batch in one transaction: one commit (one WAL sync point) for every row. */
static int agents_batch_work(store_conn_t *c, void *ud)
{
    agents_batch_t *b = ud;
    /* one statement commits on its own: BEGIN and COMMIT would double its cost, and since
     * replies wait for their batch, batches of one row are common */
    if (b->n + b->ndel == 1)
        return agents_batch_apply(c, b, false);
    int rc = store_tx_begin(c);
    bool begun = rc == 0;
    if (rc == 0)
        rc = agents_batch_apply(c, b, true);
    if (rc == 0)
        rc = store_tx_commit(c);
    if (rc == 0) {
        for (size_t i = 0; i < b->n; i++)
            b->w[i].rc = 0;
        for (size_t i = 0; i < b->ndel; i++)
            b->del_rc[i] = 0;
        return 0;
    }
    if (begun)
        (void)store_tx_rollback(c); /* the error that counts is rc */
    /* one bad row (or a busy moment) must not cost the others: each again on its own, as
     * they were written before grouping */
    return agents_batch_apply(c, b, false);
}

/* The last tail_lines lines of both streams, merged by seq, as a JSON array text. */
static char *agents_tail_dump(const agent_t *a, int64_t max)
{
    size_t i0 = a->ring[0].n, i1 = a->ring[1].n;
    size_t n = (size_t)max < i0 + i1 ? (size_t)max : i0 + i1;
    const agents_line_t **v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return NULL;
    for (size_t k = n; k > 0; k--) { /* newest first, filled from the end */
        const agents_line_t *l0 = i0 ? agents_ring_at(&a->ring[0], i0 - 1) : NULL;
        const agents_line_t *l1 = i1 ? agents_ring_at(&a->ring[1], i1 - 1) : NULL;
        if (l0 && (!l1 || l0->seq > l1->seq)) {
            v[k - 1] = l0;
            i0--;
        } else {
            v[k - 1] = l1;
            i1--;
        }
    }
    char *s = agents_lines_json_text(v, n);
    free(v);
    return s;
}

static void agents_save_flush(uv_idle_t *h);

static void agents_save_schedule(agents_t *ag)
{
    if (ag->save_idle_open && !ag->batch_inflight && (ag->save_head || ag->del_head))
        uv_idle_start(&ag->save_idle, agents_save_flush);
}

/* The replies this batch completes go out now that their rows are committed (or fail with the
 * rows that were not). */
static void agents_batch_ack(const agents_batch_t *b)
{
    const char *failed[3 * AGENTS_BATCH_MAX];
    size_t nf = 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->w[i].rc < 0)
            failed[nf++] = b->w[i].id;
    for (size_t i = 0; i < b->ndel; i++)
        if (b->del_rc[i] < 0)
            failed[nf++] = b->del[i];
    for (size_t i = 0; i < b->nskipped; i++)
        failed[nf++] = b->skipped[i];
    agents_ack_batch_done(b->ag, b->took, b->ndel, failed, nf);
}

static void agents_batch_done(int status, void *ud)
{
    agents_batch_t *b = ud;
    agents_t *ag = b->ag;
    if (status < 0)
        log_warn(NULL, "agents: store write failed", "{s:I,s:I,s:i}", "rows", (json_int_t)b->n,
                 "deletes", (json_int_t)b->ndel, "code", status);
    ag->batch_inflight = NULL;
    agents_batch_ack(b);
    agents_batch_free(b);
    agents_save_schedule(ag);
}

/* The row as it is now. false when memory ran out (the row is skipped). */
static bool agents_write_fill(agents_write_t *w, agent_t *a)
{
    agents_t *ag = a->owner;
    memset(w, 0, sizeof *w);
    snprintf(w->id, sizeof w->id, "%s", a->id);
    w->name = strdup(a->name ? a->name : "");
    w->status = strdup(agents_status_name(a->status));
    w->spec = a->spec_stored ? NULL : json_dumps(a->spec, JSON_COMPACT);
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
    w->daemon_stop_ms = a->daemon_stop_ms;
    if (a->pid) {
        w->pid_start = (int64_t)a->pid_start;
        w->pgid = a->pgid;
        w->cgroup = a->cg_dir ? strdup(a->cg_dir) : NULL;
        w->boot_id = ag->boot_id[0] ? ag->boot_id : NULL;
    }
    w->rc = STORE_ERR; /* until the commit says otherwise */
    if (!w->name || !w->status || (!a->spec_stored && !w->spec)) {
        free(w->name);
        free(w->status);
        free(w->spec);
        free(w->reason);
        free(w->tail);
        free(w->cgroup);
        return false;
    }
    a->spec_stored = true;
    return true;
}

/* Once per loop turn while something is queued: takes up to AGENTS_BATCH_MAX rows and deletes
 * off the queues and sends them as one job; the next batch waits for this one. */
static void agents_save_flush(uv_idle_t *h)
{
    agents_t *ag = h->data;
    uv_idle_stop(h);
    if (ag->batch_inflight || (!ag->save_head && !ag->del_head))
        return;
    agents_batch_t *b = malloc(sizeof *b);
    if (!b) {
        agents_save_schedule(ag); /* try again next turn */
        return;
    }
    b->ag = ag;
    b->n = b->ndel = b->took = b->nskipped = 0;
    while (ag->save_head && b->took < AGENTS_BATCH_MAX) {
        agent_t *a = ag->save_head;
        ag->save_head = a->save_next;
        if (!ag->save_head)
            ag->save_tail = NULL;
        a->save_next = NULL;
        a->save_queued = false;
        b->took++;
        if (!a->forget && agents_write_fill(&b->w[b->n], a))
            b->n++;
        else if (!a->forget)
            memcpy(b->skipped[b->nskipped++], a->id, sizeof a->id);
        agents_agent_release(a);
    }
    while (ag->del_head && b->ndel < AGENTS_BATCH_MAX) {
        struct agents_del *d = ag->del_head;
        ag->del_head = d->next;
        if (!ag->del_head)
            ag->del_tail = NULL;
        b->del_rc[b->ndel] = STORE_ERR;
        memcpy(b->del[b->ndel++], d->id, sizeof d->id);
        free(d);
    }
    if (!b->n && !b->ndel) {
        /* nothing to write (forgotten agents): the replies waiting on these entries can go */
        agents_batch_ack(b);
        free(b);
        return;
    }
    hub_t *hub = ag->hub;
    ag->batch_inflight = b;
    int rc = store_submit(hub->store, hub->loop, agents_batch_work, agents_batch_done, b);
    if (rc < 0) {
        log_warn(NULL, "agents: store write not queued", "{s:s}", "reason", uv_strerror(rc));
        agents_batch_done(STORE_ERR, b);
    }
}

void agents_store_save(agent_t *a)
{
    agents_t *ag = a->owner;
    if (!ag->hub->store || a->forget || a->save_queued)
        return;
    a->save_queued = true;
    ag->save_seq++;
    a->save_next = NULL;
    if (ag->save_tail)
        ag->save_tail->save_next = a;
    else
        ag->save_head = a;
    ag->save_tail = a;
    agents_save_schedule(ag);
}

void agents_store_delete(agents_t *ag, const char *id)
{
    if (!ag->hub->store)
        return;
    struct agents_del *d = calloc(1, sizeof *d);
    if (!d)
        return;
    snprintf(d->id, sizeof d->id, "%s", id);
    ag->del_seq++;
    if (ag->del_tail)
        ag->del_tail->next = d;
    else
        ag->del_head = d;
    ag->del_tail = d;
    agents_save_schedule(ag);
}

void agents_store_init(agents_t *ag)
{
    uv_idle_init(ag->hub->loop, &ag->save_idle);
    ag->save_idle.data = ag;
    ag->save_idle_open = true;
}

bool agents_store_busy(const agents_t *ag)
{
    return ag->save_head || ag->del_head || ag->batch_inflight;
}

void agents_store_fini(agents_t *ag)
{
    /* the batch in flight refers to ag: let it finish (bounded, the store answers or fails);
     * no new one starts, what is still queued is dropped (the drain waited for it) */
    if (ag->save_idle_open)
        uv_idle_stop(&ag->save_idle);
    ag->save_idle_open = false;
    for (int i = 0; i < 5000 && ag->batch_inflight; i++) {
        uv_run(ag->hub->loop, UV_RUN_NOWAIT);
        if (ag->batch_inflight)
            uv_sleep(1);
    }
    while (ag->save_head) {
        agent_t *a = ag->save_head;
        ag->save_head = a->save_next;
        a->save_next = NULL;
        a->save_queued = false;
    }
    ag->save_tail = NULL;
    while (ag->del_head) {
        struct agents_del *d = ag->del_head;
        ag->del_head = d->next;
        free(d);
    }
    ag->del_tail = NULL;
    agents_ack_fini(ag);
    if (ag->save_idle.loop && !uv_is_closing((uv_handle_t *)&ag->save_idle))
        uv_close((uv_handle_t *)&ag->save_idle, NULL);
}

/* ---- prune of rows not in memory ---- */

typedef struct agents_prune_job {
    char *dir;  /* owned copy of the logs directory; NULL without one */
    char **mem; /* the ids of records in memory, sorted (owned): not this job's */
    size_t nmem;
    int64_t before, limit;
    json_t *match; /* owned */
    int64_t n;
    void (*done)(int64_t n, void *ud);
    void *ud;
} agents_prune_job_t;

static int agents_id_cmp(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static bool agents_prune_match(const agents_prune_job_t *j, json_t *row)
{
    const char *id = json_string_value(json_object_get(row, "id"));
    if (!id || (j->nmem && bsearch(&id, j->mem, j->nmem, sizeof *j->mem, agents_id_cmp)))
        return false;
    if (!j->match)
        return true;
    const char *text = json_string_value(json_object_get(row, "spec"));
    json_t *spec = text ? json_loads(text, 0, NULL) : NULL;
    json_t *labels = json_object_get(spec, "labels");
    const char *k;
    json_t *v;
    bool ok = true;
    json_object_foreach(j->match, k, v)
    {
        json_t *have = json_object_get(labels, k);
        if (!json_is_string(have) || strcmp(json_string_value(have), json_string_value(v)) != 0)
            ok = false;
    }
    json_decref(spec);
    return ok;
}

static int agents_prune_work(store_conn_t *c, void *ud)
{
    agents_prune_job_t *j = ud;
    store_val_t p[] = {STORE_INTV(j->before), STORE_INTV(j->limit)};
    json_t *rows = NULL;
    int rc = store_query(c,
                         "SELECT id, spec FROM agents WHERE status IN"
                         " ('completed', 'failed', 'terminated', 'lost')"
                         " AND COALESCE(ended_ms, status_ms, created_ms) <= $1"
                         " ORDER BY created_ms LIMIT $2",
                         p, 2, &rows, NULL);
    bool begun = rc == 0 && (rc = store_tx_begin(c)) == 0;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        if (rc < 0 || !agents_prune_match(j, row))
            continue;
        store_val_t d[] = {STORE_TEXTV(json_string_value(json_object_get(row, "id")))};
        rc = store_query(c, "DELETE FROM agents WHERE id = $1", d, 1, NULL, NULL);
        j->n++;
    }
    if (rc == 0)
        rc = store_tx_commit(c);
    else if (begun)
        (void)store_tx_rollback(c); /* the error that counts is rc */
    /* the files go once the rows are gone: a failed prune leaves both */
    json_array_foreach(rows, i, row)
    {
        if (rc == 0 && j->dir && agents_prune_match(j, row))
            agents_log_files_remove(j->dir, json_string_value(json_object_get(row, "id")));
    }
    json_decref(rows);
    return rc;
}

static void agents_prune_job_free(agents_prune_job_t *j)
{
    for (size_t i = 0; i < j->nmem; i++)
        free(j->mem[i]);
    free(j->mem);
    free(j->dir);
    json_decref(j->match);
    free(j);
}

static void agents_prune_done(int status, void *ud)
{
    agents_prune_job_t *j = ud;
    j->done(status < 0 ? status : j->n, j->ud);
    agents_prune_job_free(j);
}

int agents_store_prune(agents_t *ag, int64_t before_ms, json_t *match, int64_t limit,
                       void (*done)(int64_t n, void *ud), void *ud)
{
    agents_prune_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        json_decref(match);
        return -ENOMEM;
    }
    j->match = match;
    j->before = before_ms;
    j->limit = limit < 1 ? 1 : limit > AGENTS_PRUNE_MAX ? AGENTS_PRUNE_MAX : limit;
    j->done = done;
    j->ud = ud;
    j->dir = ag->logs_dir ? strdup(ag->logs_dir) : NULL;
    j->mem = calloc(ag->count ? ag->count : 1, sizeof *j->mem);
    bool oom = !j->mem || (ag->logs_dir && !j->dir);
    for (agent_t *a = ag->head; a && !oom; a = a->next)
        if (!(j->mem[j->nmem++] = strdup(a->id)))
            oom = true;
    if (oom) {
        agents_prune_job_free(j);
        return -ENOMEM;
    }
    qsort(j->mem, j->nmem, sizeof *j->mem, agents_id_cmp);
    int rc = store_submit(ag->hub->store, ag->hub->loop, agents_prune_work, agents_prune_done, j);
    if (rc < 0)
        agents_prune_job_free(j);
    return rc;
}

/* ---- retention ---- */

static void agents_retention_pruned(int64_t n, void *ud)
{
    agents_t *ag = ud;
    if (n > 0 && ag->hub->retention)
        retention_count(ag->hub->retention, "agents", n);
    else if (n < 0)
        log_warn(NULL, "agents: retention could not prune stored agents", "{s:i}", "code", (int)n);
}

void agents_retention_after(void *ud, const config_t *cfg, int64_t now_ms)
{
    agents_t *ag = ud;
    int64_t age_s = cfg->retention_agents_max_age_s;
    if (age_s <= 0 || ag->hub->shutting_down)
        return;
    int64_t before = now_ms - age_s * 1000;
    /* the rows no record holds first: its list of records still names those forgotten below,
     * so no agent is counted twice */
    if (ag->hub->store)
        (void)agents_store_prune(ag, before, NULL, cfg->retention_batch, agents_retention_pruned,
                                 ag);
    int64_t n = 0;
    for (agent_t *a = ag->head, *next; a && n < cfg->retention_batch; a = next) {
        next = a->next; /* a may be freed */
        if (a->forget || !agents_status_final(a->status) || a->pid || a->exited)
            continue;
        int64_t ended = a->ended_ms ? a->ended_ms : a->status_ms;
        if (ended > before)
            continue;
        agents_forget(a);
        n++;
    }
    if (n > 0 && ag->hub->retention)
        retention_count(ag->hub->retention, "agents", n);
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

/* The reason a lost agent's row gets, from what became of its processes. */
static void agents_lost_reason(const agents_t *ag, const agents_leftover_t *l, bool same_boot,
                               char *buf, size_t len)
{
    static const char base[] = "the daemon stopped while the agent was running";
    if (!l->start) {
        snprintf(buf, len, "%s", base);
    } else if (!same_boot) {
        snprintf(buf, len, "%s (the machine has restarted since)", base);
    } else if (ag->orphans_leave) {
        agents_proc_stat_t st;
        bool alive = agents_proc_stat_read(l->pid, &st) == 0 && st.start == l->start;
        if (alive)
            snprintf(buf, len,
                     "%s; left running (agents.orphans = leave): pid %d, process group %d", base,
                     (int)l->pid, (int)l->pgid);
        else
            snprintf(buf, len, "%s; its main process (pid %d) had ended by the restart", base,
                     (int)l->pid);
    } else if (l->ended) {
        snprintf(buf, len, "%s; %zu of its processes were still running and were ended at restart",
                 base, l->ended);
    } else {
        snprintf(buf, len, "%s; none of its processes was left at restart", base);
    }
}

/* Rows the last run left alive become lost; what their processes left running is ended
 * (agents.orphans = stop) or left alone (leave), each process identified by its start time
 * in this boot so that a reused pid is never touched. In one transaction. 0 or negative. */
static int agents_store_mark_lost(agents_t *ag, store_conn_t *c, int64_t now, int64_t *count)
{
    json_t *rows = NULL;
    *count = 0;
    int rc = store_query(c,
                         "SELECT id, pid, pid_start, pgid, cgroup, boot_id FROM agents"
                         " WHERE status NOT IN ('completed', 'failed', 'terminated', 'lost')",
                         NULL, 0, &rows, NULL);
    size_t n = json_array_size(rows);
    agents_leftover_t *v = calloc(n ? n : 1, sizeof *v);
    bool *same_boot = calloc(n ? n : 1, sizeof *same_boot);
    if (rc == 0 && (!v || !same_boot))
        rc = -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_t *row = json_array_get(rows, i);
        const char *boot = json_string_value(json_object_get(row, "boot_id"));
        v[i].id = json_string_value(json_object_get(row, "id"));
        v[i].pid = (pid_t)agents_row_int(row, "pid");
        v[i].pgid = (pid_t)agents_row_int(row, "pgid");
        v[i].start = (uint64_t)agents_row_int(row, "pid_start");
        v[i].cgroup = json_string_value(json_object_get(row, "cgroup"));
        same_boot[i] = boot && ag->boot_id[0] && strcmp(boot, ag->boot_id) == 0;
        if (!v[i].id || v[i].pid <= 0)
            v[i].start = 0; /* never acted on: nothing identifies its processes */
    }
    if (rc == 0 && !ag->orphans_leave) {
        /* only the rows of this boot take part: start times of another mean nothing */
        agents_leftover_t *act = calloc(n ? n : 1, sizeof *act);
        size_t m = 0;
        for (size_t i = 0; act && i < n; i++)
            if (v[i].start && same_boot[i])
                act[m++] = v[i];
        size_t ended = act ? agents_leftovers_end(ag, act, m) : 0;
        for (size_t i = 0, k = 0; act && i < n; i++)
            if (v[i].start && same_boot[i])
                v[i].ended = act[k++].ended;
        free(act);
        if (ended)
            log_warn(NULL, "agents: processes of agents from the previous run ended", "{s:I}",
                     "count", (json_int_t)ended);
    }
    bool begun = false;
    if (rc == 0 && n) {
        rc = store_tx_begin(c);
        begun = rc == 0;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!v[i].id)
            continue;
        char reason[256];
        agents_lost_reason(ag, &v[i], same_boot[i], reason, sizeof reason);
        store_val_t p[] = {STORE_INTV(now), STORE_TEXTV(reason), STORE_TEXTV(v[i].id)};
        rc = store_query(c,
                         "UPDATE agents SET status = 'lost', lost_ms = $1, ended_ms = $1,"
                         " status_ms = $1, pid = NULL, reason = $2 WHERE id = $3",
                         p, 3, NULL, NULL);
        (*count)++;
    }
    if (rc == 0 && begun)
        rc = store_tx_commit(c);
    else if (begun)
        (void)store_tx_rollback(c); /* the error that counts is rc */
    free(v);
    free(same_boot);
    json_decref(rows);
    return rc;
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
    int rc = agents_store_mark_lost(ag, c, now, &lost);
    json_t *rows = NULL;
    if (rc == 0) {
        store_val_t lim[] = {STORE_INTV(AGENTS_LOAD_MAX)};
        rc = store_query(c,
                         "SELECT id, name, status, spec, exit_code, signal, reason, restarts,"
                         " created_ms, started_ms, ended_ms, status_ms, lost_ms, last_seq, tail,"
                         " daemon_stop_ms FROM agents ORDER BY created_ms DESC LIMIT $1",
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
        a->daemon_stop_ms = agents_row_int(row, "daemon_stop_ms");
        agents_tail_restore(a, json_string_value(json_object_get(row, "tail")));
        a->seq = (uint64_t)agents_row_int(row, "last_seq");
        /* only the tail came back: earlier lines are in the log files (and an agent lost to
         * a killed daemon has no tail, and more lines on disk than its row's last_seq) */
        a->ring_from = UINT64_MAX;
        for (int k = 0; k < 2; k++) {
            const agents_line_t *f = agents_ring_at(&a->ring[k], 0);
            if (f && f->seq < a->ring_from)
                a->ring_from = f->seq;
        }
    }
    json_decref(rows);
    return 0;
}

/* what the vault backs up for this domain (core/backup.h) */
const backup_decl_t agents_backup = {"agents", BACKUP_LIST("agents"),
                                     BACKUP_LIST("programs.d", "logs")};
