/* GET /api/v1/audit: the audit log through the endpoint registry, queried on a worker thread
 * and answered on the loop; and audit_api_hook, the registry hook that writes one audit row per
 * mutating request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/audit_api.h"
#include "core/clock.h"
#include "core/hub.h"
#include "core/log.h"
#include "store/audit.h"

/* ---- GET /api/v1/audit ------------------------------------------------------------------ */

typedef struct audit_list_job {
    api_req_t *req;
    audit_filter_t f;
    char *principal; /* owned copies: the worker must not read the request's JSON */
    char *action;
    json_t *out;
    char err[256];
} audit_list_job_t;

static int audit_list_work(store_conn_t *c, void *ud)
{
    audit_list_job_t *j = ud;
    int rc = audit_query(c, &j->f, &j->out);
    if (rc < 0)
        snprintf(j->err, sizeof j->err, "%s", store_conn_error(c));
    return rc;
}

static void audit_list_job_free(audit_list_job_t *j)
{
    free(j->principal);
    free(j->action);
    json_decref(j->out);
    free(j);
}

static void audit_list_done(int status, void *ud)
{
    audit_list_job_t *j = ud;
    if (status < 0) {
        /* The database's message stays in the log: it can name tables and servers. */
        log_error(api_req_id(j->req), "audit: query failed", "{s:i,s:s}", "code", status, "error",
                  j->err[0] ? j->err : "cancelled");
        bool transient = status == STORE_ECONN || status == STORE_EBUSY;
        api_reply_problem(j->req, problem_new(transient ? 503 : 500,
                                              transient ? "store-unavailable" : "store-error",
                                              "the audit log could not be read"));
    } else {
        api_reply_json(j->req, 200, j->out);
        j->out = NULL; /* stolen by the reply */
    }
    audit_list_job_free(j);
}

static void audit_api_list(api_req_t *req, void *ctx)
{
    (void)ctx;
    hub_t *hub = api_req_hub(req);
    problem_t *p = NULL;
    audit_filter_t f = {0};

    f.has_since = api_req_query_time(req, "since", &f.since_ms, &p);
    f.has_until = api_req_query_time(req, "until", &f.until_ms, &p);
    if (!p && f.has_since && f.has_until && f.until_ms <= f.since_ms) {
        p = problem_validation_new();
        problem_field_add(p, "query", "until", "must be later than since");
    }
    if (p) {
        api_reply_problem(req, p);
        return;
    }
    if (!hub || !hub->store) {
        api_reply_problem(req, problem_new(503, "store-unavailable", "no store is open"));
        return;
    }
    int64_t limit = api_req_query_int(req, "limit", AUDIT_LIMIT_DEFAULT);
    if (hub->cfg.audit_page_max > 0 && limit > hub->cfg.audit_page_max)
        limit = hub->cfg.audit_page_max; /* the reply's `limit` shows what was applied */
    if (limit < 1 || limit > AUDIT_LIMIT_MAX)
        limit = AUDIT_LIMIT_DEFAULT;
    f.limit = (int)limit;
    f.offset = api_req_query_int(req, "offset", 0);
    f.result = (int)api_req_query_int(req, "result", 0);

    audit_list_job_t *j = calloc(1, sizeof *j);
    const char *principal = api_req_query_str(req, "principal");
    const char *action = api_req_query_str(req, "action");
    if (j) {
        j->req = req;
        j->principal = principal ? strdup(principal) : NULL;
        j->action = action ? strdup(action) : NULL;
    }
    if (!j || (principal && !j->principal) || (action && !j->action)) {
        if (j)
            audit_list_job_free(j);
        api_reply_problem(req, problem_new(503, "out-of-memory", "the query could not be held"));
        return;
    }
    j->f = f;
    j->f.principal = j->principal;
    j->f.action = j->action;
    /* On the ordered lane, behind every audit write submitted before it: a client that lists
     * the log right after an action sees that action's entry (on PostgreSQL another pooled
     * connection could otherwise read before the write commits). */
    int rc = store_submit_ordered(hub->store, hub->loop, audit_list_work, audit_list_done, j);
    if (rc < 0) {
        audit_list_job_free(j);
        api_reply_problem(req,
                          problem_new(503, "store-unavailable",
                                      "the audit query could not be queued: %s", uv_strerror(rc)));
    }
}

static const api_field_t audit_query_fields[] = {
    {.name = "principal",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 128,
     .description = "only entries by this principal (exact)"},
    {.name = "action",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 256,
     .description = "only this action, e.g. \"POST /api/v1/agents/{id}/stop\" (exact)"},
    {.name = "result",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 100,
     .max = 599,
     .description = "only entries with this HTTP status"},
    {.name = "since",
     .type = API_T_STRING,
     .flags = API_F_MAX,
     .max = 64,
     .description = "RFC 3339 date-time; entries at or after it"},
    {.name = "until",
     .type = API_T_STRING,
     .flags = API_F_MAX,
     .max = 64,
     .description = "RFC 3339 date-time; entries before it"},
    {.name = "limit",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = AUDIT_LIMIT_MAX,
     .def = "50",
     .description = "page size"},
    {.name = "offset",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = 1000000000,
     .def = "0",
     .description = "entries to skip (newest first)"},
    {.name = NULL},
};

static const api_endpoint_t audit_endpoints[] = {
    {
        .method = "GET",
        .path = "/api/v1/audit",
        .scope = "audit:read",
        .summary = "Query the audit log (newest first)",
        .tag = "audit",
        .query = audit_query_fields,
        .response = "{entries:[{id, ts, ts_ms, principal, action, target, result, request_id, "
                    "transport, peer, detail}], total, limit, offset, has_more}",
        .handler = audit_api_list,
    },
};

void audit_api_register(api_registry_t *reg)
{
    api_register(reg, audit_endpoints, sizeof audit_endpoints / sizeof audit_endpoints[0]);
}

/* ---- the registry's audit hook ---------------------------------------------------------- */

void audit_api_hook(api_req_t *req, int status, void *ud)
{
    (void)ud;
    hub_t *hub = api_req_hub(req);
    const api_endpoint_t *ep = api_req_endpoint(req);
    if (!hub || !hub->store || !ep)
        return;
    char action[AUDIT_ACTION_MAX + 1];
    snprintf(action, sizeof action, "%s %s", ep->method, ep->path);
    audit_entry_t e = {
        .principal = api_req_principal(req),
        .action = action,
        .target = api_req_path(req),
        .result = status,
        .request_id = api_req_id(req),
        .transport = api_req_transport(req),
        .peer = api_req_peer(req),
    };
    (void)audit_write(hub->store, hub->loop, &e);
}
