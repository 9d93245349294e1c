/* The vault inside the daemon: repository operations run on the thread pool (the repository
 * is opened — argon2id included — off the loop for each job), the schedule (an interval or a
 * cron expression; a run missed while the daemon was down runs at start), and every backup
 * published (vault.backup.started/finished/failed) and audited. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "core/bus.h"
#include "core/clock.h"
#include "core/cron.h"
#include "core/hub.h"
#include "core/log.h"
#include "store/audit.h"
#include "store/store.h"
#include "vault/vault_internal.h"

struct vault {
    hub_t *hub;
    uv_timer_t timer;
    bool timer_on, stopping, has_cron;
    cron_t cron;
    int inflight;
    bool backup_running;
    int64_t next_run_s, last_success_s, last_size;
    double last_duration_s;
    uint64_t runs_ok, runs_failed;
    vault_component_t components[VAULT_COMPONENTS_MAX];
    size_t n_components;
    const backup_decl_t *decls[VAULT_DECLS_MAX]; /* what the domains declared (serve.c) */
    size_t n_decls;
};

typedef struct vault_work {
    uv_work_t work;
    struct vault *v;
    vault_op_t op;
    char id[128], who[128];
    vault_retention_t keep;
    char repo[1024], key_file[1024];
    vault_done_fn done;
    void *arg;
    int rc;
    json_t *result;
    char err[512];
    bool scheduled;
} vault_work_t;

const struct store_migration *vault_migrations(size_t *n)
{
    *n = 0; /* the vault keeps its state in the repository, not in the store */
    return NULL;
}

static void vault_work_run(uv_work_t *w)
{
    vault_work_t *j = w->data;
    vault_key_src_t key = {.key_file = j->key_file[0] ? j->key_file : NULL,
                           .passphrase =
                               j->key_file[0] ? NULL : getenv("GANGLION_VAULT_PASSPHRASE")};
    vault_repo_t *r = NULL;
    j->rc = vault_repo_open(j->repo, &key, &r, j->err, sizeof j->err);
    if (j->rc < 0)
        return;
    switch (j->op) {
    case VAULT_OP_BACKUP: {
        /* the tables are filled before the loop runs and never change after; the store URL is
         * not reloadable */
        const struct vault *v = j->v;
        vault_backup_src_t src = {.data_dir = v->hub->cfg.data_dir,
                                  .store_url = v->hub->cfg.store_url,
                                  .description = j->scheduled ? "scheduled" : "requested",
                                  .decls = v->decls,
                                  .n_decls = v->n_decls,
                                  .extra = v->components,
                                  .n_extra = v->n_components};
        j->rc = vault_backup_run(r, &src, NULL, NULL, &j->result, j->err, sizeof j->err);
    }
        if (j->result)
            json_object_del(j->result, "components");
        break;
    case VAULT_OP_LIST:
        j->rc = vault_backup_list(r, &j->result, j->err, sizeof j->err);
        break;
    case VAULT_OP_GET:
        j->rc = vault_manifest_get(r, j->id, &j->result, j->err, sizeof j->err);
        break;
    case VAULT_OP_VERIFY:
        j->rc = vault_verify_run(r, j->id, 100.0, NULL, NULL, &j->result, j->err, sizeof j->err);
        break;
    case VAULT_OP_PRUNE:
        j->rc = vault_prune_run(r, &j->keep, false, &j->result, j->err, sizeof j->err);
        break;
    }
    vault_repo_close(r);
}

static void vault_schedule_arm(struct vault *v, int64_t after_s);

static void vault_backup_report(struct vault *v, vault_work_t *j)
{
    hub_t *hub = v->hub;
    json_t *ev = json_pack("{s:s, s:b}", "by", j->who, "scheduled", j->scheduled);
    if (j->rc == 0) {
        v->runs_ok++;
        v->last_success_s = (int64_t)time(NULL);
        v->last_size = (int64_t)json_integer_value(json_object_get(j->result, "size"));
        v->last_duration_s = json_real_value(json_object_get(j->result, "seconds"));
        json_object_set(ev, "backup", j->result);
    } else {
        v->runs_failed++;
        json_object_set_new(ev, "error", json_string(j->err));
        log_warn(NULL, "vault: backup failed", "{s:s}", "error", j->err);
    }
    if (hub->bus)
        bus_publish(hub->bus, j->rc == 0 ? "vault.backup.finished" : "vault.backup.failed",
                    json_incref(ev));
    if (j->scheduled && hub->store) {
        audit_entry_t e = {.principal = "vault-schedule",
                           .action = "vault.backup",
                           .target = j->repo,
                           .result = j->rc == 0 ? 201 : 500,
                           .detail = ev};
        audit_write(hub->store, hub->loop, &e);
    }
    json_decref(ev);
}

static void vault_work_after(uv_work_t *w, int status)
{
    vault_work_t *j = w->data;
    struct vault *v = j->v;
    v->inflight--;
    if (status < 0 && j->rc == 0) {
        j->rc = status;
        snprintf(j->err, sizeof j->err, "the job was cancelled");
    }
    if (j->op == VAULT_OP_BACKUP) {
        v->backup_running = false;
        vault_backup_report(v, j);
        if (!v->stopping)
            vault_schedule_arm(v, (int64_t)time(NULL));
    }
    if (j->done)
        j->done(j->arg, j->rc, j->rc == 0 ? j->result : NULL, j->err);
    else
        json_decref(j->result);
    if (j->done && j->rc < 0)
        json_decref(j->result);
    free(j);
}

static int vault_job_queue(struct vault *v, vault_op_t op, const char *id,
                           const vault_retention_t *keep, const char *who, bool scheduled,
                           vault_done_fn done, void *arg)
{
    hub_t *hub = v->hub;
    if (!hub->cfg.vault_repo[0])
        return -ENODEV;
    if (v->stopping)
        return -ESHUTDOWN;
    if (op == VAULT_OP_BACKUP && v->backup_running)
        return -EBUSY;
    vault_work_t *j = calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    j->v = v;
    j->op = op;
    j->scheduled = scheduled;
    j->done = done;
    j->arg = arg;
    snprintf(j->id, sizeof j->id, "%s", id ? id : "");
    snprintf(j->who, sizeof j->who, "%s", who ? who : "anonymous");
    snprintf(j->repo, sizeof j->repo, "%s", hub->cfg.vault_repo);
    snprintf(j->key_file, sizeof j->key_file, "%s", hub->cfg.vault_key_file);
    if (keep)
        j->keep = *keep;
    j->work.data = j;
    int rc = uv_queue_work(hub->loop, &j->work, vault_work_run, vault_work_after);
    if (rc < 0) {
        free(j);
        return rc;
    }
    v->inflight++;
    if (op == VAULT_OP_BACKUP) {
        v->backup_running = true;
        if (hub->bus)
            bus_publish(hub->bus, "vault.backup.started",
                        json_pack("{s:s, s:b}", "by", j->who, "scheduled", scheduled));
    }
    return 0;
}

int vault_job_submit(struct hub *hub, vault_op_t op, const char *id, const vault_retention_t *keep,
                     const char *who, vault_done_fn done, void *arg)
{
    return vault_job_queue(hub->vault, op, id, keep, who, false, done, arg);
}

/* ---- the schedule ---------------------------------------------------------------------- */

static void vault_timer_fire(uv_timer_t *t)
{
    struct vault *v = t->data;
    int rc = vault_job_queue(v, VAULT_OP_BACKUP, NULL, NULL, "vault-schedule", true, NULL, NULL);
    if (rc == -EBUSY) /* a requested backup is running: it re-arms the schedule when done */
        return;
    if (rc < 0) {
        log_warn(NULL, "vault: scheduled backup could not start", "{s:s}", "error", strerror(-rc));
        vault_schedule_arm(v, (int64_t)time(NULL));
    }
}

/* The next run after a run (or the last success) at after_s; due now when it is past. */
static void vault_schedule_arm(struct vault *v, int64_t after_s)
{
    const config_t *cfg = &v->hub->cfg;
    if (!v->timer_on || v->stopping)
        return;
    int64_t next = -1;
    if (cfg->vault_interval_s > 0)
        next = after_s + cfg->vault_interval_s;
    if (v->has_cron) {
        int64_t c = cron_next(&v->cron, after_s);
        if (c >= 0 && (next < 0 || c < next))
            next = c;
    }
    if (next < 0)
        return;
    v->next_run_s = next;
    int64_t now = (int64_t)time(NULL);
    uv_timer_start(&v->timer, vault_timer_fire, next > now ? (uint64_t)(next - now) * 1000 : 0, 0);
}

/* At start: the newest backup's time says whether a run was missed. */
static void vault_latest_done(void *arg, int rc, json_t *result, const char *err)
{
    struct vault *v = arg;
    int64_t last = 0;
    size_t n = rc == 0 ? json_array_size(result) : 0;
    for (size_t i = n; i-- > 0;) {
        const char *c = json_string_value(json_object_get(json_array_get(result, i), "created_at"));
        struct tm tm = {0};
        if (c && strptime(c, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
            last = (int64_t)timegm(&tm);
            break;
        }
    }
    json_decref(result);
    if (rc < 0)
        log_warn(NULL, "vault: repository unreadable", "{s:s, s:s}", "repo", v->hub->cfg.vault_repo,
                 "error", err);
    v->last_success_s = last;
    /* never backed up: due now; else the next time after the last one (now if missed) */
    vault_schedule_arm(v, last ? last
                               : (int64_t)time(NULL) - (v->hub->cfg.vault_interval_s > 0
                                                            ? v->hub->cfg.vault_interval_s
                                                            : 0));
}

int vault_start(struct hub *hub)
{
    struct vault *v = calloc(1, sizeof *v);
    if (!v)
        return -1;
    v->hub = hub;
    hub->vault = v;
    const config_t *cfg = &hub->cfg;
    if (cfg->vault_cron[0]) {
        char err[256];
        if (cron_parse(cfg->vault_cron, &v->cron, err, sizeof err) < 0) {
            log_error(NULL, "vault: bad vault.cron", "{s:s, s:s}", "cron", cfg->vault_cron, "error",
                      err);
            return -1;
        }
        v->has_cron = true;
    }
    if (cfg->vault_repo[0] && (cfg->vault_interval_s > 0 || v->has_cron)) {
        uv_timer_init(hub->loop, &v->timer);
        v->timer.data = v;
        v->timer_on = true;
        vault_job_queue(v, VAULT_OP_LIST, NULL, NULL, "vault-schedule", true, vault_latest_done, v);
    }
    return 0;
}

int vault_component_register(struct hub *hub, const char *name, vault_component_fn fn, void *ud)
{
    struct vault *v = hub->vault;
    size_t n = name ? strlen(name) : 0;
    if (!v || !fn || n == 0 || n >= sizeof v->components[0].name ||
        strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n)
        return -EINVAL;
    for (size_t i = 0; i < v->n_components; i++)
        if (!strcmp(v->components[i].name, name))
            return -EEXIST;
    if (v->n_components == VAULT_COMPONENTS_MAX)
        return -ENOSPC;
    vault_component_t *c = &v->components[v->n_components++];
    snprintf(c->name, sizeof c->name, "%s", name);
    c->fn = fn;
    c->ud = ud;
    return 0;
}

int vault_decls_set(struct hub *hub, const backup_decl_t *const *decls, size_t n)
{
    struct vault *v = hub->vault;
    if (!v || n > VAULT_DECLS_MAX)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        v->decls[i] = decls[i];
    v->n_decls = n;
    return 0;
}

json_t *vault_schedule_get(const struct hub *hub)
{
    const struct vault *v = hub->vault;
    const config_t *cfg = &hub->cfg;
    return json_pack("{s:s, s:I, s:s, s:b, s:I, s:I, s:I, s:f, s:I, s:I, s:b}", "repo",
                     cfg->vault_repo, "interval_s", (json_int_t)cfg->vault_interval_s, "cron",
                     cfg->vault_cron, "enabled", v->timer_on, "next_run",
                     (json_int_t)(v->timer_on ? v->next_run_s : 0), "last_success",
                     (json_int_t)v->last_success_s, "last_size", (json_int_t)v->last_size,
                     "last_duration_s", v->last_duration_s, "runs_ok", (json_int_t)v->runs_ok,
                     "runs_failed", (json_int_t)v->runs_failed, "running", v->backup_running);
}

void vault_shutdown(struct hub *hub)
{
    struct vault *v = hub->vault;
    if (!v)
        return;
    v->stopping = true;
    if (v->timer_on) {
        uv_timer_stop(&v->timer);
        uv_close((uv_handle_t *)&v->timer, NULL);
    }
}

bool vault_busy(const struct hub *hub)
{
    return hub->vault && hub->vault->inflight > 0;
}

void vault_destroy(struct hub *hub)
{
    free(hub->vault);
    hub->vault = NULL;
}
