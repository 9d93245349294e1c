/* The SQLite WAL checkpointer (see sqlite_ckpt.h). A pooled connection's WAL hook runs after
 * each of its commits, with the write lock already released, and only wakes the thread; the
 * thread runs PASSIVE checkpoints, which never wait for readers or writers. A reader holding an
 * old snapshot can keep a checkpoint from finishing, and writes can outrun the thread: past
 * SQLITE_CKPT_BACKSTOP_PAGES the committing thread checkpoints itself, as SQLite would by
 * itself, after the thread's checkpoint in progress if there is one, so the WAL stays bounded
 * whatever the thread does. */
#include "store/sqlite_ckpt.h"

#include <assert.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "store/store.h"

struct sqlite_ckpt {
    char *path;  /* the database file */
    sqlite3 *db; /* the thread's own connection, opened and closed by the thread */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* Held while a checkpoint runs, by the thread or by a committer past the backstop: a
     * committer there waits for the thread's checkpoint to end and then runs its own, which
     * nothing else can then overtake, so the WAL restarts at the next commit (SQLite would
     * refuse a second concurrent checkpoint with SQLITE_BUSY without waiting). */
    pthread_mutex_t run_mu;
    bool wanted;  /* guarded by mu: a commit crossed the threshold since the last checkpoint */
    bool stop;    /* guarded by mu */
    bool started; /* guarded by mu: the thread runs (it starts with the first checkpoint) */
    bool failed;  /* guarded by mu: it could not start, or not open the database; committers
                   * checkpoint themselves */
    atomic_uint_least64_t done; /* checkpoints the thread completed (off the request path) */
};

/* One PASSIVE checkpoint on db; true when it ran. */
static bool ckpt_run(sqlite_ckpt_t *k, sqlite3 *db, const char *who)
{
    pthread_mutex_lock(&k->run_mu);
    int rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    pthread_mutex_unlock(&k->run_mu);
    /* BUSY: another process is checkpointing the same database; the next commit asks again.
     * Anything else is worth a line: the WAL grows until it works. */
    if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY)
        log_warn(NULL, "store: WAL checkpoint failed", "{s:s,s:s}", "by", who, "error",
                 sqlite3_errstr(rc));
    return rc == SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
    sqlite_ckpt_t *k = arg;
    /* NOMUTEX: only this thread uses the connection (the backstop uses the committer's). Its
     * checkpoints copy frames page by page and need no cache of their own to speak of; without
     * a WAL hook it never checkpoints on commit (it never commits). Opened here, with the first
     * checkpoint, so a daemon that writes little never holds it. */
    int rc = sqlite3_open_v2(k->path, &k->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        log_warn(NULL,
                 "store: cannot open the database for checkpoints; commits checkpoint "
                 "themselves",
                 "{s:s,s:s}", "path", k->path, "error",
                 k->db ? sqlite3_errmsg(k->db) : sqlite3_errstr(rc));
        sqlite3_close(k->db);
        k->db = NULL;
        pthread_mutex_lock(&k->mu);
        k->failed = true;
        pthread_mutex_unlock(&k->mu);
        return NULL;
    }
    (void)sqlite3_exec(k->db, "PRAGMA cache_size=-64", NULL, NULL, NULL);
    pthread_mutex_lock(&k->mu);
    for (;;) {
        while (!k->wanted && !k->stop)
            pthread_cond_wait(&k->cv, &k->mu);
        if (k->stop)
            break;
        k->wanted = false;
        pthread_mutex_unlock(&k->mu);
        if (ckpt_run(k, k->db, "checkpointer"))
            atomic_fetch_add(&k->done, 1);
        pthread_mutex_lock(&k->mu);
    }
    pthread_mutex_unlock(&k->mu);
    sqlite3_close(k->db);
    k->db = NULL;
    return NULL;
}

/* Runs on the committing thread after its commit, locks released (sqlite3_wal_hook). */
static int ckpt_hook(void *arg, sqlite3 *db, const char *schema, int pages)
{
    (void)schema;
    sqlite_ckpt_t *k = arg;
    if (pages >= SQLITE_CKPT_BACKSTOP_PAGES) {
        (void)ckpt_run(k, db, "backstop");
        return SQLITE_OK;
    }
    if (pages < SQLITE_CKPT_PAGES)
        return SQLITE_OK;
    pthread_mutex_lock(&k->mu);
    if (!k->started && !k->failed && !k->stop) {
        /* The thread starts with the first checkpoint, not with the store: a daemon that
         * writes little never has one. It takes no signals (the loop's handlers run elsewhere). */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        if (pthread_create(&k->thread, NULL, ckpt_main, k) == 0)
            k->started = true;
        else
            k->failed = true;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (k->failed)
            log_warn(NULL, "store: no WAL checkpoint thread; commits checkpoint themselves", NULL);
    }
    bool inline_run = !k->started || k->failed;
    if (k->started && !k->wanted) {
        k->wanted = true;
        pthread_cond_signal(&k->cv);
    }
    pthread_mutex_unlock(&k->mu);
    if (inline_run)
        (void)ckpt_run(k, db, "committer");
    return SQLITE_OK;
}

int sqlite_ckpt_start(const char *path, sqlite_ckpt_t **out, char *err, size_t errlen)
{
    *out = NULL;
    sqlite_ckpt_t *k = calloc(1, sizeof *k);
    if (!k) {
        snprintf(err, errlen, "sqlite: out of memory");
        return STORE_ERR;
    }
    atomic_init(&k->done, 0);
    k->path = strdup(path);
    if (!k->path) {
        free(k);
        snprintf(err, errlen, "sqlite: out of memory");
        return STORE_ERR;
    }
    pthread_mutex_init(&k->mu, NULL);
    pthread_mutex_init(&k->run_mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    *out = k;
    return 0;
}

void sqlite_ckpt_attach(sqlite_ckpt_t *k, sqlite3 *db)
{
    assert(k && db);
    (void)sqlite3_wal_hook(db, ckpt_hook, k);
}

uint64_t sqlite_ckpt_count(const sqlite_ckpt_t *k)
{
    return k ? atomic_load(&((sqlite_ckpt_t *)(uintptr_t)k)->done) : 0;
}

void sqlite_ckpt_stop(sqlite_ckpt_t **kp)
{
    sqlite_ckpt_t *k = kp ? *kp : NULL;
    if (!k)
        return;
    pthread_mutex_lock(&k->mu);
    k->stop = true;
    bool started = k->started;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
    if (started)
        pthread_join(k->thread, NULL);
    pthread_cond_destroy(&k->cv);
    pthread_mutex_destroy(&k->run_mu);
    pthread_mutex_destroy(&k->mu);
    free(k->path);
    free(k);
    *kp = NULL;
}
