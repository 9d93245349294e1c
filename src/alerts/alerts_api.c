/* /api/v1/alerts/...: rules and notifiers (written through to the store, answered once
 * committed), their test notifications, the outbox with its dead letters, the history; and
 * the domain's metrics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/alerts_internal.h"
#include "alerts/alerts_notify.h"
#include "api/api.h"
#include "api/api_owner.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "store/retention.h"
#include "store/store_problem.h"

/* ---- schemas ---- */

static const char *const alerts_kinds[] = {"anomaly", "agent", "task", "brain", "metric", NULL};
static const char *const alerts_severities[] = {"none", "low", "medium", "high", "critical", NULL};
static const char *const alerts_ops[] = {">", ">=", "<", "<=", NULL};
static const char *const alerts_agent_statuses[] = {"completed", "failed",     "terminated",
                                                    "lost",      "restarting", NULL};
static const char *const alerts_task_states[] = {"succeeded", "failed", "cancelled", "expired",
                                                 NULL};
static const char *const alerts_notifier_kinds[] = {"webhook", "slack", "chat",
                                                    "exec",    "email", NULL};
static const char *const alerts_outbox_states[] = {"pending", "delivered", "dead", NULL};

static const api_field_t alerts_id_item[] = {
    {.name = "item", .type = API_T_STRING, .flags = API_F_MIN | API_F_MAX, .min = 1, .max = 64}};
static const api_field_t alerts_status_item[] = {
    {.name = "item", .type = API_T_STRING, .enums = alerts_agent_statuses}};
static const api_field_t alerts_state_item[] = {
    {.name = "item", .type = API_T_STRING, .enums = alerts_task_states}};
static const api_field_t alerts_arg_item[] = {
    {.name = "item", .type = API_T_STRING, .flags = API_F_MAX, .max = 4096}};

#define ALERTS_GLOB(n, d)                                                                          \
    {                                                                                              \
        .name = n, .type = API_T_STRING, .flags = API_F_MIN | API_F_MAX, .min = 1, .max = 256,     \
        .description = d                                                                           \
    }

static const api_field_t alerts_rule_body[] = {
    {.name = "name",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 128},
    {.name = "kind",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED,
     .enums = alerts_kinds,
     .description = "what the rule watches: anomaly, agent, task, brain (overruns) or metric"},
    {.name = "description", .type = API_T_STRING, .flags = API_F_MAX, .max = 1024},
    {.name = "enabled", .type = API_T_BOOLEAN, .def = "true"},
    {.name = "notifiers",
     .type = API_T_ARRAY,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 16,
     .items = alerts_id_item,
     .description = "the notifiers' ids"},
    {.name = "severity",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 32,
     .description = "the notification's severity (default: the anomaly's, else warning)"},
    ALERTS_GLOB("stream", "anomaly: a glob on the stream's name"),
    {.name = "min_severity",
     .type = API_T_STRING,
     .enums = alerts_severities,
     .description = "anomaly: the lowest severity that fires (default medium)"},
    ALERTS_GLOB("agent", "agent: a glob on the agent's name"),
    {.name = "statuses",
     .type = API_T_ARRAY,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 5,
     .items = alerts_status_item,
     .description = "agent: the statuses that fire (failed, lost)"},
    {.name = "restarts",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 1000,
     .description = "agent: a crash loop, this many such statuses ..."},
    {.name = "within_s",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 86400,
     .description = "... within this many seconds"},
    ALERTS_GLOB("task_type", "task: a glob on the task's type"),
    {.name = "states",
     .type = API_T_ARRAY,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 4,
     .items = alerts_state_item,
     .description = "task: the states that fire (failed)"},
    ALERTS_GLOB("brain", "brain: a glob on the brain's name"),
    {.name = "metric",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 200,
     .chars = "_:",
     .description = "metric: the metric family's name"},
    {.name = "labels",
     .type = API_T_STRING,
     .flags = API_F_MAX,
     .max = 256,
     .description = "metric: only series whose labels contain this text (e.g. status=\"500\"); "
                    "their values are summed"},
    {.name = "op", .type = API_T_STRING, .enums = alerts_ops, .def = ">"},
    {.name = "threshold", .type = API_T_NUMBER},
    {.name = "for_s",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = 86400,
     .description = "metric: how long the condition holds before it fires"},
    {.name = "group_window_s",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = 604800,
     .def = "300",
     .description = "one notification per group key (stream, agent, task type, brain, metric) "
                    "within this window"},
    {.name = "rate_limit",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = ALERTS_RATE_MAX,
     .description = "notifications per rate_window_s at most (0 = any)"},
    {.name = "rate_window_s",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 604800,
     .def = "3600"},
    API_OWNER_TEAM_FIELD,
    {0}};

static const api_field_t alerts_notifier_body[] = {
    {.name = "name",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 128},
    {.name = "kind", .type = API_T_STRING, .flags = API_F_REQUIRED, .enums = alerts_notifier_kinds},
    {.name = "url",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 8,
     .max = 2048,
     .description = "webhook, slack, chat: where to POST"},
    {.name = "secret",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 16,
     .max = 256,
     .description = "the HMAC-SHA256 key of X-Ganglion-Signature (never shown again)"},
    {.name = "template",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 2,
     .max = 16384,
     .description = "slack, chat, email: the body, {{path}} replaced from the notification"},
    {.name = "to",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 3,
     .max = 254,
     .description = "email: the recipient's address"},
    {.name = "subject",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 512,
     .description = "email: the subject, a template (default \"[ganglion] [{{severity}}] "
                    "{{title}}\")"},
    {.name = "argv",
     .type = API_T_ARRAY,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 64,
     .items = alerts_arg_item,
     .description = "exec: the command (absolute path) and arguments"},
    {.name = "timeout_ms",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 100,
     .max = 60000,
     .description = "one attempt's limit (default alerts.timeout_ms)"},
    API_OWNER_TEAM_FIELD,
    {0}};

static const api_field_t alerts_silence_body[] = {
    {.name = "seconds",
     .type = API_T_INTEGER,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 0,
     .max = 31536000,
     .description = "silence for this long from now; 0 ends a silence"},
    {.name = "reason", .type = API_T_STRING, .flags = API_F_MAX, .max = 512},
    {0}};

static const api_field_t alerts_id_param[] = {{.name = "id",
                                               .type = API_T_STRING,
                                               .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
                                               .min = 1,
                                               .max = 64},
                                              {0}};

static const api_field_t alerts_rows_query[] = {
    {.name = "limit",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 1000,
     .def = "100"},
    {.name = "state", .type = API_T_STRING, .enums = alerts_outbox_states},
    {.name = "rule", .type = API_T_STRING, .flags = API_F_MAX, .max = 64},
    {0}};

/* ---- documents ---- */

static alerts_t *alerts_of(api_req_t *req)
{
    return api_req_hub(req)->alerts;
}

/* A notifier as clients see it: the secret replaced by has_secret, and the URL cut after its
 * host — chat webhooks carry their credential in the path (hooks.slack.com/services/T/B/XXX),
 * which a viewer must not read. New reference. */
static json_t *alerts_notifier_view(const json_t *doc)
{
    json_t *v = json_deep_copy(doc);
    bool has = json_object_get(v, "secret") != NULL;
    json_object_del(v, "secret");
    json_object_set_new(v, "has_secret", json_boolean(has));
    const char *url = json_string_value(json_object_get(v, "url"));
    const char *host = url ? strstr(url, "://") : NULL;
    const char *path = host ? strchr(host + 3, '/') : NULL;
    if (path && path[1]) {
        char cut[2100];
        snprintf(cut, sizeof cut, "%.*s/...", (int)(path - url), url);
        json_object_set_new(v, "url", json_string(cut));
    }
    return v;
}

static const char *alerts_doc_owner(const json_t *doc)
{
    return json_string_value(json_object_get(doc, "owner"));
}

static const char *alerts_doc_team(const json_t *doc)
{
    return json_string_value(json_object_get(doc, "team"));
}

static bool alerts_doc_may_see(const api_req_t *req, const json_t *doc)
{
    return doc && api_owner_may_see(req, alerts_doc_owner(doc), alerts_doc_team(doc));
}

static bool alerts_doc_may_act(const api_req_t *req, const json_t *doc)
{
    return doc && api_owner_may_act(req, alerts_doc_owner(doc), alerts_doc_team(doc));
}

/* The rules (or notifiers) the caller may see. */
static json_t *alerts_list(const api_req_t *req, json_t *obj, bool notifiers)
{
    json_t *arr = json_array();
    const char *id;
    json_t *doc;
    json_object_foreach(obj, id, doc)
    {
        if (alerts_doc_may_see(req, doc))
            json_array_append_new(arr, notifiers ? alerts_notifier_view(doc) : json_incref(doc));
    }
    return arr;
}

static problem_t *alerts_not_found(const char *what, const char *id)
{
    return problem_new(404, "not-found", "no %s with id %s", what, id);
}

/* The document with that id when the caller may see it (act: and change it); otherwise NULL
 * with *p set: 404 exactly as for a missing one when the caller may not see it, 403 when it may
 * see but not change it. */
static json_t *alerts_doc_checked(api_req_t *req, json_t *obj, const char *what, const char *id,
                                  bool act, problem_t **p)
{
    json_t *doc = json_object_get(obj, id);
    if (!alerts_doc_may_see(req, doc)) {
        *p = alerts_not_found(what, id);
        return NULL;
    }
    *p = api_owner_check(req, what, id, alerts_doc_owner(doc), alerts_doc_team(doc), act);
    return *p ? NULL : doc;
}

/* Owner and team of a new document (the caller, the body's team), or of a replaced one (kept:
 * the team is fixed at creation, as everywhere). NULL, or the problem. */
static problem_t *alerts_doc_own(api_req_t *req, json_t *doc, const json_t *old)
{
    const char *team = alerts_doc_team(doc);
    if (old) {
        const char *was = alerts_doc_team(old);
        if (team && (!was || strcmp(team, was) != 0)) {
            problem_t *p = NULL;
            problem_field_error(&p, "body", "/team", "the team is fixed at creation (it is %s)",
                                was ? was : "none");
            return p;
        }
        json_object_del(doc, "owner");
        json_object_del(doc, "team");
        if (json_object_get(old, "owner"))
            json_object_set(doc, "owner", json_object_get(old, "owner"));
        if (json_object_get(old, "team"))
            json_object_set(doc, "team", json_object_get(old, "team"));
        return NULL;
    }
    problem_t *p = api_owner_team_check(req, team, "/team");
    if (p)
        return p;
    const char *owner = api_owner_of(req);
    if (owner)
        json_object_set_new(doc, "owner", json_string(owner));
    return NULL;
}

/* ---- writes of rules and notifiers ---- */

enum { ALERTS_W_INSERT, ALERTS_W_UPDATE, ALERTS_W_DELETE };

typedef struct alerts_write {
    alerts_t *al;
    api_req_t *req;
    bool rules;
    int op;
    char id[ALERTS_ID_LEN + 8];
    json_t *doc; /* owned (insert, update) */
    char *text;  /* owned: doc rendered for the worker */
    int64_t affected;
} alerts_write_t;

static int alerts_write_work(store_conn_t *c, void *ud)
{
    alerts_write_t *w = ud;
    const char *table = w->rules ? "alert_rules" : "alert_notifiers";
    if (w->op == ALERTS_W_DELETE)
        return alerts_db_doc_delete(c, table, w->id, &w->affected);
    return alerts_db_doc_put(c, table, w->id, w->text, w->op == ALERTS_W_INSERT);
}

static void alerts_write_done(int status, void *ud)
{
    alerts_write_t *w = ud;
    alerts_t *al = w->al;
    al->writes--;
    json_t *obj = w->rules ? al->rules : al->notifiers;
    const char *what = w->rules ? "rule" : "notifier";
    if (status < 0) {
        log_error(NULL, "alerts: write failed", "{s:s,s:s}", "what", what, "id", w->id);
        api_reply_problem(
            w->req, store_problem_new(al->hub->store, status,
                                      w->rules ? "storing the rule" : "storing the notifier"));
    } else if (w->op == ALERTS_W_DELETE) {
        json_object_del(obj, w->id);
        if (w->rules)
            alerts_rt_drop(al, w->id);
        if (w->affected == 0)
            api_reply_problem(w->req, alerts_not_found(what, w->id));
        else
            api_reply_empty(w->req, 204);
    } else {
        json_object_set(obj, w->id, w->doc);
        if (w->rules)
            alerts_tick_arm(al); /* a metric rule is sampled by the tick */
        api_reply_json(w->req, w->op == ALERTS_W_INSERT ? 201 : 200,
                       w->rules ? json_incref(w->doc) : alerts_notifier_view(w->doc));
    }
    json_decref(w->doc);
    free(w->text);
    free(w);
}

static void alerts_write_submit(api_req_t *req, bool rules, int op, const char *id, json_t *doc)
{
    alerts_t *al = alerts_of(req);
    alerts_write_t *w = calloc(1, sizeof *w);
    if (!w || !al->hub->store) {
        free(w);
        json_decref(doc);
        api_reply_problem(req, problem_new(503, "store-unavailable", "no store"));
        return;
    }
    w->al = al;
    w->req = req;
    w->rules = rules;
    w->op = op;
    snprintf(w->id, sizeof w->id, "%s", id);
    w->doc = doc;
    if (doc && !(w->text = json_dumps(doc, JSON_COMPACT))) {
        json_decref(doc);
        free(w);
        api_reply_problem(req, problem_new(503, "out-of-memory", "no memory"));
        return;
    }
    al->writes++;
    if (store_submit_ordered(al->hub->store, al->hub->loop, alerts_write_work, alerts_write_done,
                             w) < 0)
        alerts_write_done(STORE_ERR, w);
}

/* A new or replaced document from a validated body: id, times, and what an update keeps. */
static json_t *alerts_doc_from(const json_t *body, const char *id, const json_t *old)
{
    char ts[40];
    clock_rfc3339(clock_wall_ms(), ts, sizeof ts);
    json_t *doc = json_deep_copy(body);
    json_object_set_new(doc, "id", json_string(id));
    json_t *created = old ? json_object_get(old, "created_at") : NULL;
    json_object_set_new(doc, "created_at", created ? json_incref(created) : json_string(ts));
    json_object_set_new(doc, "updated_at", json_string(ts));
    return doc;
}

/* ---- rules ---- */

/* Whether the rule old (NULL = none) sends to notifier id already. */
static bool alerts_rule_sends_to(const json_t *old, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(old, "notifiers"), i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), id) == 0)
            return true;
    }
    return false;
}

/* The body's problems; every notifier it names must exist and, unless the rule (old) sends to
 * it already, be one the caller may see — a teammate editing a shared rule keeps its owner's
 * notifiers. */
static problem_t *alerts_rule_problem(api_req_t *req, alerts_t *al, const json_t *body,
                                      const json_t *old)
{
    char field[64], why[160];
    problem_t *p = NULL;
    if (alerts_rule_check(body, field, sizeof field, why, sizeof why) < 0)
        problem_field_error(&p, "body", field, "%s", why);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(body, "notifiers"), i, v)
    {
        const char *id = json_string_value(v);
        json_t *n = json_object_get(al->notifiers, id);
        if (!n || (!alerts_rule_sends_to(old, id) && !alerts_doc_may_see(req, n)))
            problem_field_error(&p, "body", "notifiers", "no notifier with id %s", id);
    }
    return p;
}

static void alerts_api_rules_list(api_req_t *req, void *ctx)
{
    (void)ctx;
    api_reply_json(req, 200,
                   json_pack("{s:o}", "rules", alerts_list(req, alerts_of(req)->rules, false)));
}

static void alerts_api_rule_get(api_req_t *req, void *ctx)
{
    (void)ctx;
    const char *id = api_req_param_str(req, "id");
    problem_t *p = NULL;
    json_t *doc = alerts_doc_checked(req, alerts_of(req)->rules, "rule", id, false, &p);
    if (!doc)
        api_reply_problem(req, p);
    else
        api_reply_json(req, 200, json_incref(doc));
}

static void alerts_api_rule_create(api_req_t *req, void *ctx)
{
    (void)ctx;
    alerts_t *al = alerts_of(req);
    json_t *body = api_req_body(req);
    problem_t *p = alerts_rule_problem(req, al, body, NULL);
    if (p) {
        api_reply_problem(req, p);
        return;
    }
    if (json_object_size(al->rules) >= ALERTS_RULES_MAX) {
        api_reply_problem(
            req, problem_new(422, "too-many-rules", "at most %d alert rules", ALERTS_RULES_MAX));
        return;
    }
    char id[ALERTS_ID_LEN + 1];
    alerts_id_new(id);
    json_t *doc = alerts_doc_from(body, id, NULL);
    if ((p = alerts_doc_own(req, doc, NULL))) {
        json_decref(doc);
        api_reply_problem(req, p);
        return;
    }
    alerts_write_submit(req, true, ALERTS_W_INSERT, id, doc);
}

static void alerts_api_rule_update(api_req_t *req, void *ctx)
{
    (void)ctx;
    alerts_t *al = alerts_of(req);
    const char *id = api_req_param_str(req, "id");
    problem_t *p = NULL;
    json_t *old = alerts_doc_checked(req, al->rules, "rule", id, true, &p);
    if (!old) {
        api_reply_problem(req, p);
        return;
    }
    json_t *body = api_req_body(req);
    p = alerts_rule_problem(req, al, body, old);
    if (p) {
        api_reply_problem(req, p);
        return;
    }
    json_t *doc = alerts_doc_from(body, id, old);
    if ((p = alerts_doc_own(req, doc, old))) {
        json_decref(doc);
        api_reply_problem(req, p);
        return;
    }
    static const char *const kept[] = {"silenced_until_ms", "silenced_until", "silence_reason"};
    for (size_t i = 0; i < 3; i++)
        if (json_object_get(old, kept[i]))
            json_object_set(doc, kept[i], json_object_get(old, kept[i]));
    alerts_write_submit(req, true, ALERTS_W_UPDATE, id, doc);
}

static void alerts_api_rule_delete(api_req_t *req, void *ctx)
{
    (void)ctx;
    const char *id = api_req_param_str(req, "id");
    problem_t *p = NULL;
    if (!alerts_doc_checked(req, alerts_of(req)->rules, "rule", id, true, &p)) {
        api_reply_problem(req, p);
        return;
    }
    alerts_write_submit(req, true, ALERTS_W_DELETE, id, NULL);
}

static void alerts_api_rule_silence(api_req_t *req, void *ctx)
{
    (void)ctx;
    alerts_t *al = alerts_of(req);
    const char *id = api_req_param_str(req, "id");
    problem_t *p = NULL;
    json_t *old = alerts_doc_checked(req, al->rules, "rule", id, true, &p);
    if (!old) {
        api_reply_problem(req, p);
        return;
    }
    json_t *body = api_req_body(req);
    json_int_t s = json_integer_value(json_object_get(body, "seconds"));
    json_t *doc = json_deep_copy(old);
    if (s == 0) {
        json_object_del(doc, "silenced_until_ms");
        json_object_del(doc, "silenced_until");
        json_object_del(doc, "silence_reason");
    } else {
        int64_t until = clock_wall_ms() + (int64_t)s * 1000;
        char ts[40];
        clock_rfc3339(until, ts, sizeof ts);
        json_object_set_new(doc, "silenced_until_ms", json_integer(until));
        json_object_set_new(doc, "silenced_until", json_string(ts));
        const char *why = json_string_value(json_object_get(body, "reason"));
        json_object_set_new(doc, "silence_reason", json_string(why ? why : ""));
    }
    alerts_write_submit(req, true, ALERTS_W_UPDATE, id, doc);
}

static void alerts_api_rule_test(api_req_t *req, void *ctx)
{
    (void)ctx;
    alerts_t *al = alerts_of(req);
    const char *id = api_req_param_str(req, "id");
    problem_t *p = NULL;
    json_t *rule = alerts_doc_checked(req, al->rules, "rule", id, true, &p);
    if (!rule) {
        api_reply_problem(req, p);
        return;
    }
    char title[200];
    snprintf(title, sizeof title, "test notification of rule %s",
             json_string_value(json_object_get(rule, "name")));
    const char *sev = json_string_value(json_object_get(rule, "severity"));
    json_t *ev = json_pack("{s:b,s:s}", "test", 1, "by", api_req_principal(req));
    json_t *alert = alerts_alert_new(rule, title, sev ? sev : "info", "test", "alerts.test", ev);
    json_decref(ev);
    alerts_enqueue(al, alert, json_object_get(rule, "notifiers"), req);
    json_decref(alert);
}

/* ---- notifiers ---- */

static problem_t *alerts_notifier_problem(const alerts_t *al, const json_t *body)
{
    const char *kind = json_string_value(json_object_get(body, "kind"));
    const alerts_notifier_kind_t *k = alerts_notifier_kind_find(kind);
    char field[64], why[160];
    problem_t *p = NULL;
    if (k && k->check(body, field, sizeof field, why, sizeof why) < 0)
        problem_field_error(&p, "body", field, "%s", why);
    else if (k == &alerts_notifier_email && !al->hub->cfg.mail_smtp_url[0])
        p = problem_new(409, "mail-not-configured",
                        "an email notifier sends through the [mail] relay: set mail.smtp_url "
                        "(GANGLION_MAIL_SMTP_URL) and mail.from first");
    return p;
}

static void alerts_api_notifiers_list(api_req_t *req, void *ctx)
{
    (void)ctx;
    api_reply_json(
        req, 200,
        json_pack("{s:o}", "notifiers", alerts_list(req, alerts_of(req)->notifiers, true)));
}

static void alerts_api_notifier_get(api_req_t *req, void *ctx)
{
    (void)ctx;
    const char *id = api_req_param_str(req, "id");
    problem_t *p = NULL;
    json_t *doc = alerts_doc_checked(req, alerts_of(req)->notifiers, "notifier", id, false, &p);
    if (!doc)
        api_reply_problem(req, p);
    else
        api_reply_json(req, 200, alerts_notifier_view(doc));
}

static void alerts_api_notifier_create(api_req_t *req, void *ctx)
{
    (void)ctx;
    alerts_t *al = alerts_of(req);
    json_t *body = api_req_body(req);
    problem_t *p = alerts_notifier_problem(al, body);
    if (p) {
        api_reply_problem(req, p);
        return;
    }
    if (json_object_size(al->notifiers) >= ALERTS_NOTIFIERS_MAX) {
        api_reply_problem(req, problem_new(422, "too-many-notifiers", "at most %d notifiers",
                                           ALERTS_NOTIFIERS_MAX));
        return;
    }
    char id[ALERTS_ID_LEN + 1];
    alerts_id_new(id);
    json_t *doc = alerts_doc_from(body, id, NULL);
    if ((p = alerts_doc_own(req, doc, NULL))) {
        json_decref(doc);
        api_reply_problem(req, p);
        return;
    }
    alerts_write_submit(req, false, ALERTS_W_INSERT, id, doc);
}

static void alerts_api_notifier_update(api_req_t *req, void *ctx)
{
    (void)ctx;
    alerts_t *al = alerts_of(req);
    const char *id = api_req_param_str(req, "id");
    problem_t *p = NULL;
    json_t *old = alerts_doc_checked(req, al->notifiers, "notifier", id, true, &p);
    if (!old) {
        api_reply_problem(req, p);
        return;
    }
    json_t *body = api_req_body(req);
    p = alerts_notifier_problem(al, body);
    if (p) {
        api_reply_problem(req, p);
        return;
    }
    json_t *doc = alerts_doc_from(body, id, old);
    if ((p = alerts_doc_own(req, doc, old))) {
        json_decref(doc);
        api_reply_problem(req, p);
        return;
    }
    if (!json_object_get(doc, "secret") && json_object_get(old, "secret"))
        json_object_set(doc, "secret", json_object_get(old, "secret")); /* kept unless replaced */
    alerts_write_submit(req, false, ALERTS_W_UPDATE, id, doc);
}

static void alerts_api_notifier_delete(api_req_t *req, void *ctx)
{
    (void)ctx;
    alerts_t *al = alerts_of(req);
    const char *id = api_req_param_str(req, "id");
    problem_t *p = NULL;
    if (!alerts_doc_checked(req, al->notifiers, "notifier", id, true, &p)) {
        api_reply_problem(req, p);
        return;
    }
    const char *rid;
    json_t *rule;
    json_object_foreach(al->rules, rid, rule)
    {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(rule, "notifiers"), i,
                           v) if (json_is_string(v) && strcmp(json_string_value(v), id) == 0)
        {
            bool seen = alerts_doc_may_see(req, rule); /* another's rule is not named */
            p = problem_new(409, "notifier-in-use",
                            "%s%s sends to notifier %s: change the rule first",
                            seen ? "rule " : "a rule you cannot see", seen ? rid : "", id);
            if (seen)
                problem_ext_set(p, "rule", json_string(rid));
            api_reply_problem(req, p);
            return;
        }
    }
    alerts_write_submit(req, false, ALERTS_W_DELETE, id, NULL);
}

static void alerts_api_notifier_test(api_req_t *req, void *ctx)
{
    (void)ctx;
    alerts_t *al = alerts_of(req);
    const char *id = api_req_param_str(req, "id");
    problem_t *p = NULL;
    json_t *n = alerts_doc_checked(req, al->notifiers, "notifier", id, true, &p);
    if (!n) {
        api_reply_problem(req, p);
        return;
    }
    char title[200];
    snprintf(title, sizeof title, "test notification of notifier %s",
             json_string_value(json_object_get(n, "name")));
    json_t *rule = json_pack("{s:s,s:s,s:s}", "id", "", "name", "", "kind", "test");
    json_t *ev = json_pack("{s:b,s:s}", "test", 1, "by", api_req_principal(req));
    json_t *alert = alerts_alert_new(rule, title, "info", "test", "alerts.test", ev);
    json_t *ids = json_pack("[s]", id);
    alerts_enqueue(al, alert, ids, req);
    json_decref(ids);
    json_decref(ev);
    json_decref(rule);
    json_decref(alert);
}

/* ---- the outbox and the history (read from the store) ---- */

typedef struct alerts_read {
    alerts_t *al;
    api_req_t *req;
    bool outbox; /* pending and dead only */
    char state[16], rule[72], id[72];
    int64_t limit;
    bool retry;
    json_t *rows;
    int64_t affected;
    /* what the caller may see (retry: change), as comma lists of ids; "*" = everything */
    char *rules_ok, *notifiers_ok;
} alerts_read_t;

/* A notification belongs to its rule, a notifier's test notification (no rule) to its
 * notifier: the caller sees (or retries) it when it may see (or change) that. Rows of deleted
 * rules and notifiers are left to admins. */
#define ALERTS_ROW_ALLOWED                                                                         \
    " AND ($4 = '*' OR (rule_id <> '' AND ',' || CAST($4 AS TEXT) || ',' LIKE '%,' || rule_id"     \
    " || ',%') OR (rule_id = '' AND ',' || CAST($5 AS TEXT) || ',' LIKE '%,' || notifier_id"       \
    " || ',%'))"

/* The ids of obj's documents the caller may see (act: change), comma-separated; "*" when the
 * caller is unrestricted. Caller frees; NULL on OOM. Ids are hex, so no LIKE wildcard. */
static char *alerts_ids_allowed(const api_req_t *req, json_t *obj, bool act)
{
    if (api_owner_unrestricted(req))
        return strdup("*");
    size_t cap = json_object_size(obj) * (ALERTS_ID_LEN + 1) + 1, n = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    out[0] = '\0';
    const char *id;
    json_t *doc;
    json_object_foreach(obj, id, doc)
    {
        if (strlen(id) != ALERTS_ID_LEN ||
            !(act ? alerts_doc_may_act(req, doc) : alerts_doc_may_see(req, doc)))
            continue;
        n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? "," : "", id);
    }
    return out;
}

/* Whether the caller may see (act: change) a stored row, from its rule and notifier. */
static bool alerts_row_allowed(const api_req_t *req, alerts_t *al, const json_t *row, bool act)
{
    if (api_owner_unrestricted(req))
        return true;
    const char *rule = json_string_value(json_object_get(row, "rule_id"));
    const char *nid = json_string_value(json_object_get(row, "notifier_id"));
    json_t *doc = rule && *rule ? json_object_get(al->rules, rule)
                                : json_object_get(al->notifiers, nid ? nid : "");
    return act ? alerts_doc_may_act(req, doc) : alerts_doc_may_see(req, doc);
}

static int alerts_read_work(store_conn_t *c, void *ud)
{
    alerts_read_t *r = ud;
    int rc = 0;
    if (r->retry) {
        store_val_t p[] = {STORE_TEXTV(r->id), STORE_INTV(clock_wall_ms()), STORE_TEXTV(""),
                           STORE_TEXTV(r->rules_ok), STORE_TEXTV(r->notifiers_ok)};
        rc = store_query(
            c,
            "UPDATE alert_outbox SET state = 'pending', attempts = 0, next_ms = $2,"
            " updated_ms = $2 WHERE id = $1 AND state = 'dead' AND $3 = ''" ALERTS_ROW_ALLOWED,
            p, 5, NULL, &r->affected);
        if (rc < 0)
            return rc;
        store_val_t q[] = {STORE_TEXTV(r->id)};
        return store_query(c,
                           "SELECT id, alert_id, rule_id, notifier_id, group_key, state, attempts,"
                           " next_ms, created_ms, updated_ms, last_error, payload FROM alert_outbox"
                           " WHERE id = $1",
                           q, 1, &r->rows, NULL);
    }
    store_val_t p[] = {STORE_TEXTV(r->state), STORE_TEXTV(r->rule), STORE_INTV(r->limit),
                       STORE_TEXTV(r->rules_ok), STORE_TEXTV(r->notifiers_ok)};
    rc = store_query(
        c,
        r->outbox
            ? "SELECT id, alert_id, rule_id, notifier_id, group_key, state, attempts,"
              " next_ms, created_ms, updated_ms, last_error, payload FROM alert_outbox"
              " WHERE state IN ('pending', 'dead') AND ($1 = '' OR state = $1)"
              " AND ($2 = '' OR rule_id = $2)" ALERTS_ROW_ALLOWED
              " ORDER BY created_ms DESC LIMIT $3"
            : "SELECT id, alert_id, rule_id, notifier_id, group_key, state, attempts,"
              " next_ms, created_ms, updated_ms, last_error, payload FROM alert_outbox"
              " WHERE ($1 = '' OR state = $1) AND ($2 = '' OR rule_id = $2)" ALERTS_ROW_ALLOWED
              " ORDER BY created_ms DESC LIMIT $3",
        p, 5, &r->rows, NULL);
    return rc;
}

/* A stored row as clients see it: times as RFC 3339, the payload as the notification. */
static json_t *alerts_row_view(json_t *row)
{
    char ts[40];
    static const char *const times[][2] = {
        {"created_ms", "created_at"}, {"updated_ms", "updated_at"}, {"next_ms", "next_attempt_at"}};
    for (size_t i = 0; i < 3; i++) {
        json_int_t ms = json_integer_value(json_object_get(row, times[i][0]));
        json_object_set_new(row, times[i][1], json_string(clock_rfc3339(ms, ts, sizeof ts)));
        json_object_del(row, times[i][0]);
    }
    json_t *alert = json_loads(json_string_value(json_object_get(row, "payload")), 0, NULL);
    json_object_del(row, "payload");
    json_object_set_new(row, "alert", alert ? alert : json_null());
    return row;
}

static void alerts_read_done(int status, void *ud)
{
    alerts_read_t *r = ud;
    alerts_t *al = r->al;
    al->writes -= r->retry;
    if (status < 0) {
        api_reply_problem(r->req, store_problem_new(al->hub->store, status, "reading the outbox"));
    } else if (r->retry) {
        json_t *row = json_array_get(r->rows, 0);
        if (!row || !alerts_row_allowed(r->req, al, row, false)) {
            api_reply_problem(r->req, alerts_not_found("notification", r->id));
        } else if (!alerts_row_allowed(r->req, al, row, true)) {
            api_reply_problem(r->req, problem_new(403, "forbidden",
                                                  "notification %s belongs to a rule or notifier "
                                                  "%s may not change",
                                                  r->id, api_req_principal(r->req)));
        } else if (r->affected == 0) {
            problem_t *p = problem_new(409, "not-dead", "notification %s is %s, not dead", r->id,
                                       json_string_value(json_object_get(row, "state")));
            api_reply_problem(r->req, p);
        } else {
            alerts_item_t *it = calloc(1, sizeof *it);
            const char *payload = json_string_value(json_object_get(row, "payload"));
            if (it && payload && (it->payload = strdup(payload))) {
                snprintf(it->id, sizeof it->id, "%.16s", r->id);
                snprintf(it->notifier, sizeof it->notifier, "%s",
                         json_string_value(json_object_get(row, "notifier_id")));
                it->next_ms = clock_wall_ms();
                alerts_outbox_add(al, it);
            } else {
                free(it);
            }
            api_reply_json(r->req, 202, json_incref(alerts_row_view(row)));
        }
    } else {
        size_t i;
        json_t *row;
        json_array_foreach(r->rows, i, row) alerts_row_view(row);
        api_reply_json(r->req, 200,
                       json_pack("{s:O,s:I}", r->outbox ? "outbox" : "history", r->rows, "count",
                                 (json_int_t)json_array_size(r->rows)));
    }
    json_decref(r->rows);
    free(r->rules_ok);
    free(r->notifiers_ok);
    free(r);
}

static void alerts_read_submit(api_req_t *req, bool outbox, bool retry)
{
    alerts_t *al = alerts_of(req);
    alerts_read_t *r = calloc(1, sizeof *r);
    if (!r || !al->hub->store) {
        free(r);
        api_reply_problem(req, problem_new(503, "store-unavailable", "no store"));
        return;
    }
    r->al = al;
    r->req = req;
    r->outbox = outbox;
    r->retry = retry;
    r->rules_ok = alerts_ids_allowed(req, al->rules, retry);
    r->notifiers_ok = alerts_ids_allowed(req, al->notifiers, retry);
    if (!r->rules_ok || !r->notifiers_ok) {
        free(r->rules_ok);
        free(r->notifiers_ok);
        free(r);
        api_reply_problem(req, problem_new(503, "out-of-memory", "no memory"));
        return;
    }
    if (retry) {
        snprintf(r->id, sizeof r->id, "%s", api_req_param_str(req, "id"));
    } else {
        const char *s = api_req_query_str(req, "state"), *rule = api_req_query_str(req, "rule");
        snprintf(r->state, sizeof r->state, "%s", s ? s : "");
        snprintf(r->rule, sizeof r->rule, "%s", rule ? rule : "");
        r->limit = api_req_query_int(req, "limit", 100);
    }
    al->writes += retry;
    int rc =
        retry ? store_submit_ordered(al->hub->store, al->hub->loop, alerts_read_work,
                                     alerts_read_done, r)
              : store_submit(al->hub->store, al->hub->loop, alerts_read_work, alerts_read_done, r);
    if (rc < 0)
        alerts_read_done(STORE_ERR, r);
}

static void alerts_api_outbox_list(api_req_t *req, void *ctx)
{
    (void)ctx;
    alerts_read_submit(req, true, false);
}

static void alerts_api_history_list(api_req_t *req, void *ctx)
{
    (void)ctx;
    alerts_read_submit(req, false, false);
}

static void alerts_api_outbox_retry(api_req_t *req, void *ctx)
{
    (void)ctx;
    alerts_read_submit(req, true, true);
}

/* ---- the table ---- */

#define ALERTS_RULE_OBJ                                                                            \
    "{id, name, kind, enabled, notifiers, ...the rule's fields, silenced_until?, created_at, "     \
    "updated_at}"
#define ALERTS_NOTIFIER_OBJ                                                                        \
    "{id, name, kind, url?, template?, argv?, to?, subject?, has_secret, created_at}"
#define ALERTS_ROW_OBJ                                                                             \
    "{id, alert_id, rule_id, notifier_id, group_key, state, attempts, last_error, created_at, "    \
    "updated_at, next_attempt_at, alert}"

static const api_endpoint_t alerts_endpoints[] = {
    {.method = "GET",
     .path = "/api/v1/alerts/rules",
     .scope = "alerts:read",
     .tag = "alerts",
     .summary = "Alert rules",
     .response = "{rules:[" ALERTS_RULE_OBJ "]}",
     .handler = alerts_api_rules_list},
    {.method = "POST",
     .path = "/api/v1/alerts/rules",
     .scope = "alerts:write",
     .tag = "alerts",
     .summary = "Create an alert rule",
     .body_kind = API_BODY_JSON,
     .body = alerts_rule_body,
     .status = 201,
     .response = ALERTS_RULE_OBJ,
     .handler = alerts_api_rule_create},
    {.method = "GET",
     .path = "/api/v1/alerts/rules/{id}",
     .scope = "alerts:read",
     .tag = "alerts",
     .summary = "One alert rule",
     .params = alerts_id_param,
     .response = ALERTS_RULE_OBJ,
     .handler = alerts_api_rule_get},
    {.method = "PUT",
     .path = "/api/v1/alerts/rules/{id}",
     .scope = "alerts:write",
     .tag = "alerts",
     .summary = "Replace an alert rule (its silence is kept)",
     .params = alerts_id_param,
     .body_kind = API_BODY_JSON,
     .body = alerts_rule_body,
     .response = ALERTS_RULE_OBJ,
     .handler = alerts_api_rule_update},
    {.method = "DELETE",
     .path = "/api/v1/alerts/rules/{id}",
     .scope = "alerts:write",
     .tag = "alerts",
     .summary = "Delete an alert rule",
     .params = alerts_id_param,
     .status = 204,
     .handler = alerts_api_rule_delete},
    {.method = "POST",
     .path = "/api/v1/alerts/rules/{id}/silence",
     .scope = "alerts:write",
     .tag = "alerts",
     .summary = "Silence a rule for a while (0 seconds ends the silence)",
     .params = alerts_id_param,
     .body_kind = API_BODY_JSON,
     .body = alerts_silence_body,
     .response = ALERTS_RULE_OBJ,
     .handler = alerts_api_rule_silence},
    {.method = "POST",
     .path = "/api/v1/alerts/rules/{id}/test",
     .scope = "alerts:write",
     .tag = "alerts",
     .summary = "Send a test notification to the rule's notifiers",
     .params = alerts_id_param,
     .status = 202,
     .response = "{notifications:[id]}",
     .handler = alerts_api_rule_test},
    {.method = "GET",
     .path = "/api/v1/alerts/notifiers",
     .scope = "alerts:read",
     .tag = "alerts",
     .summary = "Notifiers (secrets are never shown)",
     .response = "{notifiers:[" ALERTS_NOTIFIER_OBJ "]}",
     .handler = alerts_api_notifiers_list},
    {.method = "POST",
     .path = "/api/v1/alerts/notifiers",
     .scope = "alerts:write",
     .tag = "alerts",
     .summary = "Create a notifier",
     .body_kind = API_BODY_JSON,
     .body = alerts_notifier_body,
     .status = 201,
     .response = ALERTS_NOTIFIER_OBJ,
     .handler = alerts_api_notifier_create},
    {.method = "GET",
     .path = "/api/v1/alerts/notifiers/{id}",
     .scope = "alerts:read",
     .tag = "alerts",
     .summary = "One notifier",
     .params = alerts_id_param,
     .response = ALERTS_NOTIFIER_OBJ,
     .handler = alerts_api_notifier_get},
    {.method = "PUT",
     .path = "/api/v1/alerts/notifiers/{id}",
     .scope = "alerts:write",
     .tag = "alerts",
     .summary = "Replace a notifier (its secret is kept unless given)",
     .params = alerts_id_param,
     .body_kind = API_BODY_JSON,
     .body = alerts_notifier_body,
     .response = ALERTS_NOTIFIER_OBJ,
     .handler = alerts_api_notifier_update},
    {.method = "DELETE",
     .path = "/api/v1/alerts/notifiers/{id}",
     .scope = "alerts:write",
     .tag = "alerts",
     .summary = "Delete a notifier no rule uses",
     .params = alerts_id_param,
     .status = 204,
     .handler = alerts_api_notifier_delete},
    {.method = "POST",
     .path = "/api/v1/alerts/notifiers/{id}/test",
     .scope = "alerts:write",
     .tag = "alerts",
     .summary = "Send a test notification through this notifier",
     .params = alerts_id_param,
     .status = 202,
     .response = "{notifications:[id]}",
     .handler = alerts_api_notifier_test},
    {.method = "GET",
     .path = "/api/v1/alerts/outbox",
     .scope = "alerts:read",
     .tag = "alerts",
     .summary = "Notifications waiting (pending) or given up (dead), newest first",
     .query = alerts_rows_query,
     .response = "{outbox:[" ALERTS_ROW_OBJ "], count}",
     .handler = alerts_api_outbox_list},
    {.method = "POST",
     .path = "/api/v1/alerts/outbox/{id}/retry",
     .scope = "alerts:write",
     .tag = "alerts",
     .summary = "Send a dead-lettered notification again",
     .params = alerts_id_param,
     .status = 202,
     .response = ALERTS_ROW_OBJ,
     .handler = alerts_api_outbox_retry},
    {.method = "GET",
     .path = "/api/v1/alerts/history",
     .scope = "alerts:read",
     .tag = "alerts",
     .summary = "Every notification with its outcome, newest first",
     .query = alerts_rows_query,
     .response = "{history:[" ALERTS_ROW_OBJ "], count}",
     .handler = alerts_api_history_list},
};

static void alerts_metrics_collect(strbuf_t *out, void *ud)
{
    hub_t *hub = ud;
    alerts_t *al = hub->alerts;
    if (!al)
        return;
    strbuf_printf(out,
                  "# HELP ganglion_alerts_fired_total Alerts fired by rules (after silences, "
                  "grouping and rate limits)\n"
                  "# TYPE ganglion_alerts_fired_total counter\n"
                  "ganglion_alerts_fired_total %llu\n"
                  "# HELP ganglion_alerts_suppressed_total Matches held back by a silence, a "
                  "group window or a rate limit\n"
                  "# TYPE ganglion_alerts_suppressed_total counter\n"
                  "ganglion_alerts_suppressed_total %llu\n"
                  "# HELP ganglion_alerts_notifications_total Notification outcomes: delivered, "
                  "failed attempts, dead-lettered, dropped (outbox full or not stored)\n"
                  "# TYPE ganglion_alerts_notifications_total counter\n"
                  "ganglion_alerts_notifications_total{result=\"delivered\"} %llu\n"
                  "ganglion_alerts_notifications_total{result=\"failed\"} %llu\n"
                  "ganglion_alerts_notifications_total{result=\"dead\"} %llu\n"
                  "ganglion_alerts_notifications_total{result=\"dropped\"} %llu\n"
                  "# HELP ganglion_alerts_outbox_depth Notifications waiting in the outbox\n"
                  "# TYPE ganglion_alerts_outbox_depth gauge\n"
                  "ganglion_alerts_outbox_depth %zu\n"
                  "# HELP ganglion_alerts_outbox_max The outbox's bound (alerts.outbox_max)\n"
                  "# TYPE ganglion_alerts_outbox_max gauge\n"
                  "ganglion_alerts_outbox_max %lld\n",
                  (unsigned long long)al->fired, (unsigned long long)al->suppressed,
                  (unsigned long long)al->delivered, (unsigned long long)al->failed,
                  (unsigned long long)al->dead, (unsigned long long)al->dropped,
                  al->npending + al->nqueued, (long long)hub->cfg.alerts_outbox_max);
}

static size_t alerts_api_refs(const char *owner, const char *team, void *ud)
{
    alerts_t *al = ud;
    size_t n = 0;
    const char *id;
    json_t *doc;
    json_object_foreach(al->rules, id, doc) n += api_owner_doc_refers(doc, owner, team);
    json_object_foreach(al->notifiers, id, doc) n += api_owner_doc_refers(doc, owner, team);
    return n;
}

int alerts_api_register(hub_t *hub)
{
    api_register(hub->api, alerts_endpoints, sizeof alerts_endpoints / sizeof alerts_endpoints[0]);
    if (hub->alerts)
        api_owner_refs_add(hub->api, "alert rule or notifier", alerts_api_refs, hub->alerts);
    if (hub->metrics)
        metrics_collector_add(hub->metrics, alerts_metrics_collect, hub);
    if (hub->retention)
        retention_purge_add(hub->retention, "alerts", alerts_db_retention_purge, NULL, NULL);
    return 0;
}
