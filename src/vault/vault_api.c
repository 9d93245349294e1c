/* The vault endpoints (/api/v1/vault/...): the backups of the configured repository (list, one, run
 * now, verify), prune and the schedule — scope admin; every repository operation answered from the
 * thread pool. Restore is not here: it is a CLI operation on a stopped daemon or a new directory.
 */
#include <errno.h>
#include <string.h>

#include "api/api.h"
#include "core/hub.h"
#include "core/metrics.h"
#include "core/problem.h"
#include "core/strbuf.h"
#include "vault/vault.h"

static void vault_api_done(void *arg, int rc, json_t *result, const char *err)
{
    api_req_t *req = arg;
    if (rc == 0) {
        const api_endpoint_t *ep = api_req_endpoint(req);
        api_reply_json(req, ep && ep->status ? ep->status : 200, result);
        return;
    }
    int status = rc == -ENOENT ? 404 : rc == -EBUSY ? 409 : rc == -EACCES ? 503 : 500;
    const char *slug = rc == -ENOENT ? "not-found" : rc == -EBUSY ? "conflict" : "vault-failed";
    api_reply_problem(req, problem_new(status, slug, "%s", err && *err ? err : strerror(-rc)));
}

static void vault_api_submit(api_req_t *req, vault_op_t op, const char *id,
                             const vault_retention_t *keep)
{
    int rc = vault_job_submit(api_req_hub(req), op, id, keep, api_req_principal(req),
                              vault_api_done, req);
    if (rc == -ENODEV)
        api_reply_problem(req, problem_new(409, "vault-not-configured",
                                           "no repository: set vault.repo (docs/vault.md)"));
    else if (rc == -EBUSY)
        api_reply_problem(req, problem_new(409, "conflict", "a backup is already running"));
    else if (rc < 0)
        api_reply_problem(
            req, problem_new(503, "unavailable", "the job could not start: %s", strerror(-rc)));
}

static void vault_api_backups_list(api_req_t *req, void *ctx)
{
    (void)ctx;
    vault_api_submit(req, VAULT_OP_LIST, NULL, NULL);
}

static void vault_api_backup_create(api_req_t *req, void *ctx)
{
    (void)ctx;
    vault_api_submit(req, VAULT_OP_BACKUP, NULL, NULL);
}

static void vault_api_backup_get(api_req_t *req, void *ctx)
{
    (void)ctx;
    vault_api_submit(req, VAULT_OP_GET, api_req_param_str(req, "id"), NULL);
}

static void vault_api_backup_verify(api_req_t *req, void *ctx)
{
    (void)ctx;
    vault_api_submit(req, VAULT_OP_VERIFY, api_req_param_str(req, "id"), NULL);
}

static void vault_api_prune(api_req_t *req, void *ctx)
{
    (void)ctx;
    json_t *b = api_req_body(req);
    vault_retention_t keep = {
        .last = (int)json_integer_value(json_object_get(b, "keep_last")),
        .daily = (int)json_integer_value(json_object_get(b, "keep_daily")),
        .weekly = (int)json_integer_value(json_object_get(b, "keep_weekly")),
        .monthly = (int)json_integer_value(json_object_get(b, "keep_monthly")),
    };
    if (keep.last <= 0 && keep.daily <= 0 && keep.weekly <= 0 && keep.monthly <= 0) {
        problem_t *p = problem_validation_new();
        problem_field_error(&p, "body", "/keep_last", "give at least one keep_* rule");
        api_reply_problem(req, p);
        return;
    }
    vault_api_submit(req, VAULT_OP_PRUNE, NULL, &keep);
}

static void vault_api_schedule_get(api_req_t *req, void *ctx)
{
    (void)ctx;
    api_reply_json(req, 200, vault_schedule_get(api_req_hub(req)));
}

#define VAULT_KEEP(n, what)                                                                        \
    {                                                                                              \
        .name = n, .type = API_T_INTEGER, .flags = API_F_MIN | API_F_MAX, .min = 1, .max = 100000, \
        .description = what                                                                        \
    }
static const api_field_t vault_prune_body[] = {
    VAULT_KEEP("keep_last", "the newest N backups"),
    VAULT_KEEP("keep_daily", "the newest backup of each of the newest N days (UTC)"),
    VAULT_KEEP("keep_weekly", "the newest backup of each of the newest N ISO weeks"),
    VAULT_KEEP("keep_monthly", "the newest backup of each of the newest N months"),
    {0}};

static const api_field_t vault_id_param[] = {
    {.name = "id",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 100,
     .description = "a backup's id (GET /api/v1/vault/backups)"},
    {0}};

#define VAULT_EP(...)                                                                              \
    {                                                                                              \
        .tag = "vault", .scope = "admin", __VA_ARGS__                                              \
    }

static const api_endpoint_t vault_endpoints[] = {
    VAULT_EP(.method = "GET", .path = "/api/v1/vault/backups", .summary = "The backups",
             .response = "[{id, created_at, description, size, components, chunks}]",
             .handler = vault_api_backups_list),
    VAULT_EP(.method = "POST", .path = "/api/v1/vault/backups", .summary = "Back up now",
             .status = 201,
             .response = "the manifest (without its chunk lists), added_chunks, "
                         "added_bytes, seconds",
             .handler = vault_api_backup_create),
    VAULT_EP(.method = "GET", .path = "/api/v1/vault/backups/{id}", .params = vault_id_param,
             .summary = "One backup's manifest", .response = "the manifest",
             .handler = vault_api_backup_get),
    VAULT_EP(.method = "POST", .path = "/api/v1/vault/backups/{id}/verify",
             .params = vault_id_param,
             .summary = "Verify one backup: its manifest and every chunk it references",
             .response = "{ok, manifests, chunks_referenced, chunks_checked, damage[]}",
             .handler = vault_api_backup_verify),
    VAULT_EP(.method = "POST", .path = "/api/v1/vault/prune",
             .summary = "Forget backups beyond the retention rules, remove unreferenced chunks",
             .body_kind = API_BODY_JSON, .body = vault_prune_body,
             .response = "{kept[], forgotten[], chunks_removed, bytes_freed, swept}",
             .handler = vault_api_prune),
    VAULT_EP(.method = "GET", .path = "/api/v1/vault/schedule",
             .summary = "The schedule and the last runs",
             .response = "{repo, interval_s, cron, enabled, next_run, last_success, ...}",
             .handler = vault_api_schedule_get),
};

static void vault_api_metrics_collect(strbuf_t *out, void *ud)
{
    hub_t *hub = ud;
    json_t *s = vault_schedule_get(hub);
    strbuf_printf(out,
                  "# HELP ganglion_vault_last_success_timestamp_seconds When the last backup "
                  "finished (0 = none since start).\n"
                  "# TYPE ganglion_vault_last_success_timestamp_seconds gauge\n"
                  "ganglion_vault_last_success_timestamp_seconds %lld\n"
                  "# HELP ganglion_vault_last_size_bytes The last backup's size.\n"
                  "# TYPE ganglion_vault_last_size_bytes gauge\n"
                  "ganglion_vault_last_size_bytes %lld\n"
                  "# HELP ganglion_vault_last_duration_seconds How long the last backup took.\n"
                  "# TYPE ganglion_vault_last_duration_seconds gauge\n"
                  "ganglion_vault_last_duration_seconds %.3f\n"
                  "# HELP ganglion_vault_backups_total Backups run, by result.\n"
                  "# TYPE ganglion_vault_backups_total counter\n"
                  "ganglion_vault_backups_total{result=\"ok\"} %lld\n"
                  "ganglion_vault_backups_total{result=\"failed\"} %lld\n",
                  (long long)json_integer_value(json_object_get(s, "last_success")),
                  (long long)json_integer_value(json_object_get(s, "last_size")),
                  json_real_value(json_object_get(s, "last_duration_s")),
                  (long long)json_integer_value(json_object_get(s, "runs_ok")),
                  (long long)json_integer_value(json_object_get(s, "runs_failed")));
    json_decref(s);
}

int vault_api_register(struct hub *hub)
{
    api_register(hub->api, vault_endpoints, sizeof vault_endpoints / sizeof vault_endpoints[0]);
    if (hub->metrics)
        metrics_collector_add(hub->metrics, vault_api_metrics_collect, hub);
    return 0;
}
