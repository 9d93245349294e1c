/* Brains in the store (migrations 400-409): one row per brain holding its connectome snapshot —
 * the genome as last edited, the seed, and its state (status, frequency, burst counter) — written
 * on the thread pool after every change, read once at start. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brain/brain_internal.h"
#include "core/clock.h"
#include "core/hub.h"
#include "core/jsonx.h"
#include "core/log.h"
#include "store/store_problem.h"

static const store_migration_t brain_migration_list[] = {
    {
        .version = 400,
        .name = "brains_create",
        .sql_sqlite = "CREATE TABLE brains ("
                      " id TEXT PRIMARY KEY,"
                      " name TEXT NOT NULL UNIQUE,"
                      " genome TEXT NOT NULL,"
                      " seed BIGINT NOT NULL,"
                      " status TEXT NOT NULL,"
                      " frequency_hz DOUBLE PRECISION NOT NULL,"
                      " burst_count BIGINT NOT NULL DEFAULT 0,"
                      " created_ms BIGINT NOT NULL,"
                      " status_ms BIGINT NOT NULL,"
                      " learned TEXT);",
    },
    {
        /* who created the brain and the team it is shared with (api/api_owner.h); NULL on
         * brains from before: an admin's alone */
        .version = 401,
        .name = "brains_owner",
        .sql_sqlite = "ALTER TABLE brains ADD COLUMN owner TEXT;"
                      "ALTER TABLE brains ADD COLUMN team TEXT;",
    },
};

const store_migration_t *brain_migrations(size_t *n)
{
    *n = sizeof brain_migration_list / sizeof brain_migration_list[0];
    return brain_migration_list;
}

int brain_store_load(brain_reg_t *r, json_t **rows)
{
    store_conn_t *c = store_conn_acquire(r->hub->store);
    if (!c)
        return -1;
    int rc = store_query(c,
                         "SELECT id, name, genome, seed, status, frequency_hz, burst_count,"
                         " created_ms, status_ms, owner, team FROM brains"
                         " ORDER BY created_ms, id",
                         NULL, 0, rows, NULL);
    if (rc < 0)
        log_error(NULL, "brain: cannot read the brains table", "{s:s}", "error",
                  store_conn_error(c));
    store_conn_release(r->hub->store, c);
    return rc;
}

/* One write as it was when asked for (owns its strings). */
typedef struct brain_write {
    brain_reg_t *reg;
    brain_t *b; /* NULL once the brain is gone */
    bool remove;
    char id[BRAIN_ID_LEN + 1];
    char name[BRAIN_NAME_MAX + 1];
    char owner[96], team[65];
    char *genome; /* NULL: unchanged since it was last written */
    uint64_t genome_gen;
    char status[16];
    int64_t seed, bursts, created_ms, status_ms;
    double hz;
    brain_done_fn done;
    void *ud;
} brain_write_t;

static int brain_store_work(store_conn_t *c, void *ud)
{
    brain_write_t *w = ud;
    if (w->remove) {
        store_val_t p[] = {STORE_TEXTV(w->id)};
        return store_query(c, "DELETE FROM brains WHERE id = $1", p, 1, NULL, NULL);
    }
    if (!w->genome) {
        /* the genome is in the row already: only the state changes (no large text per step) */
        store_val_t u[] = {STORE_TEXTV(w->id), STORE_TEXTV(w->name),  STORE_TEXTV(w->status),
                           STORE_REALV(w->hz), STORE_INTV(w->bursts), STORE_INTV(w->status_ms),
                           STORE_INTV(w->seed)};
        return store_query(c,
                           "UPDATE brains SET name = $2, status = $3, frequency_hz = $4,"
                           " burst_count = $5, status_ms = $6, seed = $7 WHERE id = $1",
                           u, sizeof u / sizeof u[0], NULL, NULL);
    }
    store_val_t p[] = {STORE_TEXTV(w->id),
                       STORE_TEXTV(w->name),
                       STORE_TEXTV(w->genome),
                       STORE_INTV(w->seed),
                       STORE_TEXTV(w->status),
                       STORE_REALV(w->hz),
                       STORE_INTV(w->bursts),
                       STORE_INTV(w->created_ms),
                       STORE_INTV(w->status_ms),
                       w->owner[0] ? STORE_TEXTV(w->owner) : STORE_NULLV,
                       w->team[0] ? STORE_TEXTV(w->team) : STORE_NULLV};
    /* the owner and team are written with the first row and never changed */
    return store_query(c,
                       "INSERT INTO brains (id, name, genome, seed, status, frequency_hz,"
                       " burst_count, created_ms, status_ms, owner, team)"
                       " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)"
                       " ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
                       " genome = excluded.genome, seed = excluded.seed,"
                       " status = excluded.status, frequency_hz = excluded.frequency_hz,"
                       " burst_count = excluded.burst_count, status_ms = excluded.status_ms",
                       p, sizeof p / sizeof p[0], NULL, NULL);
}

static void brain_store_done(int status, void *ud)
{
    brain_write_t *w = ud;
    w->reg->writes--;
    if (w->b) {
        w->b->writes--;
        if (status >= 0 && w->genome && w->genome_gen > w->b->genome_saved_gen)
            w->b->genome_saved_gen = w->genome_gen;
    }
    problem_t *p = NULL;
    if (status < 0) {
        log_error(NULL, "brain: cannot write the brain's row", "{s:s,s:i}", "brain", w->id, "code",
                  status);
        p = store_problem_new(w->reg->hub->store, status, "storing the brain");
    }
    if (w->done)
        w->done(p, w->ud);
    else
        problem_destroy(&p);
    free(w->genome);
    free(w);
}

int brain_store_save(brain_t *b, bool remove, brain_done_fn done, void *ud)
{
    brain_write_t *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    w->reg = b->reg;
    w->b = remove ? NULL : b;
    w->remove = remove;
    snprintf(w->id, sizeof w->id, "%s", b->id);
    snprintf(w->name, sizeof w->name, "%s", b->name);
    snprintf(w->owner, sizeof w->owner, "%s", b->owner);
    snprintf(w->team, sizeof w->team, "%s", b->team);
    snprintf(w->status, sizeof w->status, "%s", brain_status_name(b->status));
    if (!remove && b->genome_saved_gen != b->genome_gen) {
        w->genome = json_dumps(b->genome, JSON_COMPACT);
        w->genome_gen = b->genome_gen;
        if (!w->genome) {
            free(w);
            return -1;
        }
    }
    w->seed = (int64_t)b->seed;
    w->bursts = (int64_t)atomic_load(&b->bursts);
    w->created_ms = b->created_ms;
    w->status_ms = b->status_ms;
    w->hz = atomic_load(&b->hz);
    w->done = done;
    w->ud = ud;
    hub_t *hub = b->reg->hub;
    /* ordered: the row a client reads back is the last one asked for */
    if (store_submit_ordered(hub->store, hub->loop, brain_store_work, brain_store_done, w) < 0) {
        free(w->genome);
        free(w);
        return -1;
    }
    b->reg->writes++;
    if (!remove)
        b->writes++;
    return 0;
}

/* what the vault backs up for this domain (core/backup.h) */
const backup_decl_t brain_backup = {"brain", BACKUP_LIST("brains"), BACKUP_NONE};
