/* /api/v1/guard: rules (versioned, each change one transaction with its audit row), evaluate,
 * principals and their trust; the reviews and the agents' gate are guard_gate.c's. Replies
 * come after the commit. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_owner.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/bus.h"
#include "core/metrics.h"
#include "core/strbuf.h"
#include "guard/guard_api_internal.h"
#include "store/audit.h"
#include "store/store_problem.h"

guard_t *guard_of(api_req_t *req)
{
    return api_req_hub(req)->guard;
}

void guard_audit_from(guard_audit_t *a, api_req_t *req, int status, const char *what)
{
    snprintf(a->principal, sizeof a->principal, "%s", api_req_principal(req));
    snprintf(a->action, sizeof a->action, "GUARD %s", what);
    snprintf(a->target, sizeof a->target, "%s", api_req_path(req));
    snprintf(a->request_id, sizeof a->request_id, "%s", api_req_id(req) ?: "");
    snprintf(a->transport, sizeof a->transport, "%s", api_req_transport(req) ?: "");
    snprintf(a->peer, sizeof a->peer, "%s", api_req_peer(req) ?: "");
    a->status = status;
}

int guard_audit_insert(store_conn_t *c, const guard_audit_t *a, const json_t *detail)
{
    audit_entry_t e = {.principal = a->principal,
                       .action = a->action,
                       .target = a->target,
                       .result = a->status,
                       .request_id = a->request_id[0] ? a->request_id : NULL,
                       .transport = a->transport[0] ? a->transport : NULL,
                       .peer = a->peer[0] ? a->peer : NULL,
                       .detail = detail};
    return audit_insert(c, &e);
}

/* ---- rule changes ----------------------------------------------------------------------- */

typedef enum { GUARD_CHANGE_CREATE, GUARD_CHANGE_UPDATE, GUARD_CHANGE_DELETE } guard_change_op_t;

typedef struct guard_change {
    guard_t *g;
    api_req_t *req;
    guard_change_op_t op;
    json_t *rule;     /* the rule as stored after the change (or as it was, when deleted) */
    json_t *snapshot; /* every rule once this change is committed */
    int64_t version;
    guard_set_t *set; /* compiled from snapshot on the thread pool */
    guard_audit_t audit;
    char err[300];
} guard_change_t;

static int guard_change_work(store_conn_t *c, void *ud)
{
    guard_change_t *j = ud;
    j->set = guard_set_build(j->snapshot, j->err, sizeof j->err);
    if (!j->set)
        return STORE_EINVAL;
    int64_t id = json_integer_value(json_object_get(j->rule, "id"));
    json_t *detail = json_pack("{s:I,s:O,s:I,s:s}", "rule", (json_int_t)id, "name",
                               json_object_get(j->rule, "name"), "rules_version",
                               (json_int_t)j->version, "change",
                               j->op == GUARD_CHANGE_CREATE   ? "create"
                               : j->op == GUARD_CHANGE_UPDATE ? "update"
                                                              : "delete");
    int rc = store_tx_begin(c);
    if (rc == 0)
        rc = j->op == GUARD_CHANGE_DELETE ? guard_db_rule_delete(c, id, j->version)
                                          : guard_db_rule_put(c, j->rule, j->version);
    if (rc == 0)
        rc = guard_audit_insert(c, &j->audit, detail);
    if (rc == 0)
        rc = store_tx_commit(c);
    else
        store_tx_rollback(c);
    json_decref(detail);
    if (rc < 0)
        snprintf(j->err, sizeof j->err, "%s", store_conn_error(c));
    return rc;
}

/* Applies a committed change to the committed rules. */
static void guard_change_apply(guard_t *g, guard_change_t *j)
{
    int64_t id = json_integer_value(json_object_get(j->rule, "id"));
    size_t at;
    json_t *old = guard_rule_find(g->rules, id, &at);
    if (j->op == GUARD_CHANGE_DELETE) {
        if (old)
            json_array_remove(g->rules, at);
    } else if (old) {
        json_array_set(g->rules, at, j->rule);
    } else {
        json_array_append(g->rules, j->rule);
    }
    g->version = j->version;
    if (json_equal(g->rules, j->snapshot)) {
        guard_set_destroy(&g->set);
        g->set = j->set;
        j->set = NULL;
        return;
    }
    /* an earlier queued change failed, so this snapshot was built on it: compile what is
     * committed (rare; on the loop) */
    char err[300];
    guard_set_t *s = guard_set_build(g->rules, err, sizeof err);
    if (s) {
        guard_set_destroy(&g->set);
        g->set = s;
    } else {
        log_error(NULL, "guard: cannot compile the committed rules", "{s:s}", "reason", err);
    }
}

static void guard_change_done(int status, void *ud)
{
    guard_change_t *j = ud;
    guard_t *g = j->g;
    if (status < 0) {
        /* queued changes built on this one are dropped from what is pending */
        json_decref(g->pending);
        g->pending = json_deep_copy(g->rules);
        g->pending_version = g->version;
        if (!j->set && status == STORE_EINVAL)
            api_reply_problem(j->req, problem_new(422, "invalid-rule", "%s", j->err));
        else if (status == STORE_ECONSTRAINT)
            api_reply_problem(j->req, problem_new(409, "rule-name-taken",
                                                  "a rule with this name exists already"));
        else
            api_reply_problem(j->req,
                              store_problem_new(g->hub->store, status, "storing the rule change"));
    } else {
        guard_change_apply(g, j);
        char topic[64];
        snprintf(topic, sizeof topic, "guard.rule.%lld.%s",
                 (long long)json_integer_value(json_object_get(j->rule, "id")),
                 j->op == GUARD_CHANGE_DELETE ? "deleted" : "changed");
        bus_publish(g->hub->bus, topic,
                    json_pack("{s:O,s:I}", "id", json_object_get(j->rule, "id"), "rules_version",
                              (json_int_t)j->version));
        if (j->op == GUARD_CHANGE_DELETE) {
            api_reply_empty(j->req, 204);
        } else {
            json_t *out = guard_rule_json(j->rule);
            json_object_set_new(out, "rules_version", json_integer(j->version));
            api_reply_json(j->req, j->op == GUARD_CHANGE_CREATE ? 201 : 200, out);
        }
    }
    guard_set_destroy(&j->set);
    json_decref(j->rule);
    json_decref(j->snapshot);
    free(j);
}

static void guard_change_submit(api_req_t *req, guard_t *g, guard_change_op_t op, json_t *rule,
                                int status)
{
    guard_change_t *j = calloc(1, sizeof *j);
    if (!j) {
        json_decref(rule);
        api_reply_problem(req, problem_new(503, "out-of-memory", "the change could not be held"));
        return;
    }
    j->g = g;
    j->req = req;
    j->op = op;
    j->rule = rule;
    int64_t id = json_integer_value(json_object_get(rule, "id"));
    size_t at;
    json_t *old = guard_rule_find(g->pending, id, &at);
    if (op == GUARD_CHANGE_DELETE)
        json_array_remove(g->pending, at);
    else if (old)
        json_array_set(g->pending, at, rule);
    else
        json_array_append(g->pending, rule);
    j->version = ++g->pending_version;
    j->snapshot = json_deep_copy(g->pending);
    guard_audit_from(&j->audit, req, status,
                     op == GUARD_CHANGE_CREATE   ? "rule.create"
                     : op == GUARD_CHANGE_UPDATE ? "rule.update"
                                                 : "rule.delete");
    hub_t *hub = api_req_hub(req);
    int rc = j->snapshot ? store_submit_ordered(hub->store, hub->loop, guard_change_work,
                                                guard_change_done, j)
                         : -ENOMEM;
    if (rc < 0) {
        g->pending_version--;
        json_decref(g->pending);
        g->pending = json_deep_copy(g->rules);
        json_decref(j->rule);
        json_decref(j->snapshot);
        free(j);
        api_reply_problem(req, problem_new(503, "store-unavailable",
                                           "the change could not be queued: %s", uv_strerror(rc)));
    }
}

static bool guard_name_taken(const guard_t *g, const char *name, int64_t except_id)
{
    size_t i;
    json_t *r;
    json_array_foreach(g->pending, i, r)
    {
        if (json_integer_value(json_object_get(r, "id")) != except_id &&
            strcmp(json_string_value(json_object_get(r, "name")) ?: "", name) == 0)
            return true;
    }
    return false;
}

static bool guard_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > GUARD_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return false;
    return true;
}

/* Bytes of a match's words and regexes. */
static size_t guard_match_bytes(const json_t *match)
{
    size_t n = 0, i;
    json_t *v;
    json_array_foreach(json_object_get(match, "words"), i, v) n += json_string_length(v);
    json_array_foreach(json_object_get(match, "regex"), i, v) n += json_string_length(v);
    return n;
}

/* Checks the fields of a create or update body; a 422 (409) problem or NULL. */
static problem_t *guard_rule_check(const guard_t *g, const json_t *body, int64_t id)
{
    problem_t *p = NULL;
    const char *name = json_string_value(json_object_get(body, "name"));
    if (name && !guard_name_valid(name))
        problem_field_error(&p, "body", "name",
                            "1 to %d characters among letters, digits and - _ .", GUARD_NAME_MAX);
    else if (name && guard_name_taken(g, name, id))
        return problem_new(409, "rule-name-taken", "a rule named %s exists already", name);
    json_t *match = json_object_get(body, "match");
    char err[300];
    if (match && guard_match_check(match, err, sizeof err) < 0)
        problem_field_error(&p, "body", "match", "%s", err);
    if (!p && match) {
        /* the automaton grows with the bytes of all words: bounded for the whole set */
        size_t total = guard_match_bytes(match), i;
        json_t *r;
        json_array_foreach(g->pending, i, r) if (json_integer_value(json_object_get(r, "id")) != id)
            total += guard_match_bytes(json_object_get(r, "match"));
        if (total > GUARD_SET_BYTES_MAX)
            return problem_new(409, "rule-set-too-large",
                               "the rules' words and regexes would take %zu bytes, more than the "
                               "%d a rule set may hold",
                               total, GUARD_SET_BYTES_MAX);
    }
    return p;
}

static void guard_api_rule_create(api_req_t *req, void *ctx)
{
    (void)ctx;
    guard_t *g = guard_of(req);
    json_t *body = api_req_body(req);
    problem_t *p = guard_rule_check(g, body, -1);
    if (p) {
        api_reply_problem(req, p);
        return;
    }
    problem_t *tp =
        api_owner_team_check(req, json_string_value(json_object_get(body, "team")), "/team");
    if (tp) {
        api_reply_problem(req, tp);
        return;
    }
    if (json_array_size(g->pending) >= GUARD_RULES_MAX) {
        api_reply_problem(req, problem_new(409, "too-many-rules",
                                           "the rule set holds %d rules, "
                                           "its maximum",
                                           GUARD_RULES_MAX));
        return;
    }
    int64_t now = clock_wall_ms();
    json_t *enabled = json_object_get(body, "enabled");
    json_t *rule =
        json_pack("{s:I,s:O,s:s,s:O,s:b,s:O,s:I,s:I}", "id", (json_int_t)g->next_id++, "name",
                  json_object_get(body, "name"), "description",
                  json_string_value(json_object_get(body, "description")) ?: "", "weight",
                  json_object_get(body, "weight"), "enabled", enabled ? json_is_true(enabled) : 1,
                  "match", json_object_get(body, "match"), "created_ms", (json_int_t)now,
                  "updated_ms", (json_int_t)now);
    const char *owner = api_owner_of(req);
    json_object_set_new(rule, "owner", owner ? json_string(owner) : json_null());
    json_object_set(rule, "team", json_object_get(body, "team") ?: json_null());
    guard_change_submit(req, g, GUARD_CHANGE_CREATE, rule, 201);
}

static json_t *guard_rule_param(api_req_t *req, guard_t *g)
{
    int64_t id = api_req_param_int(req, "id");
    json_t *r = guard_rule_find(g->pending, id, NULL);
    if (!r)
        api_reply_problem(
            req, problem_new(404, "rule-not-found", "no rule with id %lld", (long long)id));
    return r;
}

static void guard_api_rule_update(api_req_t *req, void *ctx)
{
    (void)ctx;
    guard_t *g = guard_of(req);
    json_t *old = guard_rule_param(req, g);
    if (!old)
        return;
    json_t *body = api_req_body(req);
    problem_t *p = guard_rule_check(g, body, json_integer_value(json_object_get(old, "id")));
    if (p) {
        api_reply_problem(req, p);
        return;
    }
    json_t *rule = json_deep_copy(old);
    const char *keys[] = {"name", "description", "weight", "enabled", "match"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (json_object_get(body, keys[i]))
            json_object_set(rule, keys[i], json_object_get(body, keys[i]));
    json_object_set_new(rule, "updated_ms", json_integer(clock_wall_ms()));
    guard_change_submit(req, g, GUARD_CHANGE_UPDATE, rule, 200);
}

static void guard_api_rule_delete(api_req_t *req, void *ctx)
{
    (void)ctx;
    guard_t *g = guard_of(req);
    json_t *old = guard_rule_param(req, g);
    if (old)
        guard_change_submit(req, g, GUARD_CHANGE_DELETE, json_deep_copy(old), 204);
}

static void guard_api_rule_get(api_req_t *req, void *ctx)
{
    (void)ctx;
    guard_t *g = guard_of(req);
    json_t *r = guard_rule_find(g->rules, api_req_param_int(req, "id"), NULL);
    if (!r) {
        api_reply_problem(req, problem_new(404, "rule-not-found", "no rule with id %lld",
                                           (long long)api_req_param_int(req, "id")));
        return;
    }
    json_t *out = guard_rule_json(r);
    json_object_set_new(out, "rules_version", json_integer(g->version));
    api_reply_json(req, 200, out);
}

static void guard_api_rules_list(api_req_t *req, void *ctx)
{
    (void)ctx;
    guard_t *g = guard_of(req);
    json_t *arr = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(g->rules, i, r) json_array_append_new(arr, guard_rule_json(r));
    api_reply_json(req, 200,
                   json_pack("{s:o,s:I,s:I,s:{s:I,s:I}}", "rules", arr, "total",
                             (json_int_t)json_array_size(g->rules), "rules_version",
                             (json_int_t)g->version, "thresholds", "review",
                             (json_int_t)g->hub->cfg.guard_review_at, "deny",
                             (json_int_t)g->hub->cfg.guard_deny_at));
}

/* ---- evaluate --------------------------------------------------------------------------- */

json_t *guard_thresholds_json(const guard_t *g)
{
    return json_pack("{s:I,s:I}", "review", (json_int_t)g->hub->cfg.guard_review_at, "deny",
                     (json_int_t)g->hub->cfg.guard_deny_at);
}

int guard_evaluate(guard_t *g, const json_t *action, const char *principal, guard_result_t *res)
{
    memset(res, 0, sizeof *res);
    int64_t now = clock_wall_ms();
    res->trust = guard_trust_get(g, principal, now);
    guard_eval_t ev;
    if (guard_set_eval(g->set, action, principal, res->trust, &ev) < 0)
        return -ENOMEM;
    res->score = ev.score;
    res->verdict = guard_verdict_of(g, ev.score);
    res->fired = guard_eval_fired_json(g->set, &ev, action, principal, res->trust);
    guard_eval_clear(&ev);
    res->rules_version = g->version;
    guard_digest(action, res->digest);
    g->evaluations++;
    g->verdicts[res->verdict]++;
    return res->fired ? 0 : -ENOMEM;
}

json_t *guard_result_json(const guard_t *g, const guard_result_t *res, const char *principal)
{
    json_t *o =
        json_pack("{s:I,s:s,s:O,s:o,s:I,s:s,s:f}", "score", (json_int_t)res->score, "verdict",
                  guard_verdict_names[res->verdict], "fired", res->fired, "thresholds",
                  guard_thresholds_json(g), "rules_version", (json_int_t)res->rules_version,
                  "digest", res->digest, "trust", res->trust);
    if (principal)
        json_object_set_new(o, "principal", json_string(principal));
    return o;
}

typedef struct guard_record {
    guard_t *g;
    api_req_t *req;
    json_t *reply;
    json_t *fired;
    json_t *principal_rec; /* a copy of the principal's record to store, or NULL */
    char principal[GUARD_PRINCIPAL_MAX + 1];
    char digest[65];
    char source[32];
    const char *verdict;
    int64_t score, rules_version, ts_ms;
    guard_audit_t audit;
    bool has_audit;
    int64_t prune_keep; /* > 0: prune the table to this many rows after the insert */
    void (*then)(void *ud, int status);
    void *then_ud;
} guard_record_t;

static int guard_record_work(store_conn_t *c, void *ud)
{
    guard_record_t *j = ud;
    json_t *detail = json_pack("{s:s,s:s,s:I,s:I,s:s}", "digest", j->digest, "verdict", j->verdict,
                               "score", (json_int_t)j->score, "rules_version",
                               (json_int_t)j->rules_version, "source", j->source);
    int rc = store_tx_begin(c);
    if (rc == 0)
        rc = guard_db_verdict_insert(c, j->digest, j->principal[0] ? j->principal : NULL, j->source,
                                     j->verdict, j->score, j->fired, j->rules_version, j->ts_ms);
    if (rc == 0 && j->principal_rec)
        rc = guard_db_principal_put(c, j->principal, j->principal_rec);
    if (rc == 0 && j->has_audit)
        rc = guard_audit_insert(c, &j->audit, detail);
    if (rc == 0 && j->prune_keep > 0)
        rc = guard_db_verdicts_prune(c, j->prune_keep);
    if (rc == 0)
        rc = store_tx_commit(c);
    else
        store_tx_rollback(c);
    json_decref(detail);
    return rc;
}

static void guard_record_done(int status, void *ud)
{
    guard_record_t *j = ud;
    if (j->req) {
        if (status < 0)
            api_reply_problem(j->req,
                              store_problem_new(j->g->hub->store, status, "storing the verdict"));
        else
            api_reply_json(j->req, 200, json_incref(j->reply));
    }
    if (status < 0)
        log_error(NULL, "guard: verdict not stored", "{s:s,s:i}", "digest", j->digest, "code",
                  status);
    if (j->then)
        j->then(j->then_ud, status);
    json_decref(j->reply);
    json_decref(j->fired);
    json_decref(j->principal_rec);
    free(j);
}

int guard_record(guard_t *g, const guard_result_t *res, const char *principal, const char *source,
                 const char *cause, const guard_audit_t *audit, api_req_t *req, json_t *reply,
                 void (*then)(void *ud, int status), void *then_ud)
{
    guard_record_t *j = calloc(1, sizeof *j);
    if (!j) {
        json_decref(reply);
        return -ENOMEM;
    }
    j->g = g;
    j->req = req;
    j->reply = reply;
    j->fired = json_incref(res->fired);
    j->ts_ms = clock_wall_ms();
    snprintf(j->principal, sizeof j->principal, "%s", principal ? principal : "");
    memcpy(j->digest, res->digest, sizeof j->digest);
    snprintf(j->source, sizeof j->source, "%s", source);
    j->verdict = cause ? cause : guard_verdict_names[res->verdict];
    j->score = res->score;
    j->rules_version = res->rules_version;
    if (audit) {
        j->audit = *audit;
        j->has_audit = true;
    }
    j->then = then;
    j->then_ud = then_ud;
    if (++g->recorded % GUARD_PRUNE_EVERY == 0)
        j->prune_keep = g->hub->cfg.guard_verdicts_max;
    const char *c = cause ? cause : guard_verdict_names[res->verdict];
    json_t *rec = guard_trust_move(g, principal, guard_trust_step(g, c), c, j->ts_ms);
    j->principal_rec = rec ? json_deep_copy(rec) : NULL;
    int rc =
        store_submit_ordered(g->hub->store, g->hub->loop, guard_record_work, guard_record_done, j);
    if (rc < 0) {
        json_decref(j->reply);
        json_decref(j->fired);
        json_decref(j->principal_rec);
        free(j);
    }
    return rc;
}

static void guard_api_evaluate(api_req_t *req, void *ctx)
{
    (void)ctx;
    guard_t *g = guard_of(req);
    json_t *body = api_req_body(req);
    json_t *action = json_object_get(body, "action");
    if (!(json_is_string(action) && json_string_length(action) <= GUARD_TEXT_MAX) &&
        !json_is_object(action)) {
        problem_t *p = NULL;
        problem_field_error(&p, "body", "action",
                            "a text of up to %d bytes or an object {kind, agent, argv, path, env, "
                            "labels, text, input, ...}",
                            GUARD_TEXT_MAX);
        api_reply_problem(req, p);
        return;
    }
    const char *principal = json_string_value(json_object_get(body, "principal"));
    if (!principal)
        principal = api_req_principal(req);
    guard_result_t res;
    if (guard_evaluate(g, action, principal, &res) < 0) {
        json_decref(res.fired);
        api_reply_problem(req, problem_new(503, "out-of-memory", "the evaluation failed"));
        return;
    }
    json_t *reply = guard_result_json(g, &res, principal);
    if (json_is_true(json_object_get(body, "dry_run"))) {
        json_object_set_new(reply, "recorded", json_false());
        json_decref(res.fired);
        api_reply_json(req, 200, reply);
        return;
    }
    json_object_set_new(reply, "recorded", json_true());
    guard_audit_t audit;
    guard_audit_from(&audit, req, 200, "evaluate");
    int rc = guard_record(g, &res, principal, "evaluate", NULL, &audit, req, reply, NULL, NULL);
    json_decref(res.fired);
    if (rc < 0)
        api_reply_problem(req, problem_new(503, "store-unavailable",
                                           "the verdict could not be queued for storing"));
}

/* ---- principals ------------------------------------------------------------------------- */

static void guard_api_principals_list(api_req_t *req, void *ctx)
{
    (void)ctx;
    guard_t *g = guard_of(req);
    int64_t limit = api_req_query_int(req, "limit", 100),
            offset = api_req_query_int(req, "offset", 0);
    int64_t now = clock_wall_ms();
    json_t *arr = json_array();
    const char *id;
    json_t *rec;
    int64_t i = 0;
    json_object_foreach(g->principals, id, rec)
    {
        if (i++ < offset)
            continue;
        if ((int64_t)json_array_size(arr) >= limit)
            break;
        json_array_append_new(arr, guard_principal_json(g, id, rec, false, now));
    }
    api_reply_json(req, 200,
                   json_pack("{s:o,s:I,s:I,s:I}", "principals", arr, "total",
                             (json_int_t)json_object_size(g->principals), "limit",
                             (json_int_t)limit, "offset", (json_int_t)offset));
}

static void guard_api_principal_get(api_req_t *req, void *ctx)
{
    (void)ctx;
    guard_t *g = guard_of(req);
    const char *id = api_req_param_str(req, "id");
    json_t *rec = json_object_get(g->principals, id);
    json_t *o = guard_principal_json(g, id, rec, true, clock_wall_ms());
    json_object_set_new(o, "known", json_boolean(rec != NULL));
    api_reply_json(req, 200, o);
}

/* ---- metrics ---------------------------------------------------------------------------- */

static void guard_metrics_collect(strbuf_t *out, void *ud)
{
    guard_t *g = ud;
    strbuf_printf(out,
                  "# HELP ganglion_guard_rules rules in the committed set\n"
                  "# TYPE ganglion_guard_rules gauge\nganglion_guard_rules %zu\n"
                  "# HELP ganglion_guard_rules_version version of the committed rule set\n"
                  "# TYPE ganglion_guard_rules_version gauge\nganglion_guard_rules_version %lld\n"
                  "# HELP ganglion_guard_reviews_held actions waiting for a review\n"
                  "# TYPE ganglion_guard_reviews_held gauge\nganglion_guard_reviews_held %zu\n"
                  "# HELP ganglion_guard_evaluations_total actions evaluated, by verdict\n"
                  "# TYPE ganglion_guard_evaluations_total counter\n"
                  "ganglion_guard_evaluations_total{verdict=\"allow\"} %llu\n"
                  "ganglion_guard_evaluations_total{verdict=\"review\"} %llu\n"
                  "ganglion_guard_evaluations_total{verdict=\"deny\"} %llu\n",
                  json_array_size(g->rules), (long long)g->version, g->nreviews,
                  (unsigned long long)g->verdicts[0], (unsigned long long)g->verdicts[1],
                  (unsigned long long)g->verdicts[2]);
}

/* ---- the table -------------------------------------------------------------------------- */

static const api_field_t guard_id_param[] = {
    {.name = "id", .type = API_T_INTEGER, .flags = API_F_REQUIRED | API_F_MIN, .min = 1}, {0}};
static const api_field_t guard_principal_param[] = {
    {.name = "id",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = GUARD_PRINCIPAL_MAX},
    {0}};
static const api_field_t guard_page_query[] = {
    {.name = "limit",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 1000,
     .def = "100"},
    {.name = "offset", .type = API_T_INTEGER, .flags = API_F_MIN, .min = 0, .def = "0"},
    {0}};

static const api_field_t guard_review_param[] = {
    {.name = "id", .type = API_T_INTEGER, .flags = API_F_REQUIRED | API_F_MIN, .min = 1}, {0}};

#define GUARD_RULE_FIELDS(req)                                                                     \
    {.name = "name",                                                                               \
     .type = API_T_STRING,                                                                         \
     .flags = (req) | API_F_MIN | API_F_MAX,                                                       \
     .min = 1,                                                                                     \
     .max = GUARD_NAME_MAX},                                                                       \
        {.name = "description", .type = API_T_STRING, .flags = API_F_MAX, .max = GUARD_DESC_MAX},  \
        {.name = "weight",                                                                         \
         .type = API_T_INTEGER,                                                                    \
         .flags = (req) | API_F_MIN | API_F_MAX,                                                   \
         .min = -100,                                                                              \
         .max = 100},                                                                              \
        {.name = "enabled", .type = API_T_BOOLEAN},                                                \
    {                                                                                              \
        .name = "match", .type = API_T_OBJECT, .flags = (req) | API_F_ADDITIONAL,                  \
        .description = "{words?:[...], regex?:[...], conditions?:[{field, op, value}]}"            \
    }

static const api_field_t guard_rule_create_body[] = {
    GUARD_RULE_FIELDS(API_F_REQUIRED), API_OWNER_TEAM_FIELD, {0}};
static const api_field_t guard_rule_update_body[] = {GUARD_RULE_FIELDS(0), {0}};
static const api_field_t guard_evaluate_body[] = {
    {.name = "action",
     .type = API_T_ANY,
     .flags = API_F_REQUIRED,
     .description = "a text, or an object {kind, agent, argv, path, env, labels, text, input}"},
    {.name = "principal",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = GUARD_PRINCIPAL_MAX,
     .description = "whose action (default: the caller)"},
    {.name = "dry_run",
     .type = API_T_BOOLEAN,
     .description = "true: neither stored nor counted in the principal's trust"},
    {0}};

#define GUARD_EP(...)                                                                              \
    {                                                                                              \
        .tag = "guard", __VA_ARGS__                                                                \
    }

static const api_endpoint_t guard_endpoints[] = {
    GUARD_EP(.method = "GET", .path = "/api/v1/guard/rules", .scope = "guard:read",
             .summary = "The rules, their version and the thresholds",
             .response = "{rules:[...], total, rules_version, thresholds}",
             .handler = guard_api_rules_list),
    GUARD_EP(.method = "POST", .path = "/api/v1/guard/rules", .scope = "guard_rules:write",
             .summary = "Create a rule (admin)", .body_kind = API_BODY_JSON,
             .body = guard_rule_create_body, .status = 201,
             .response = "the rule with the new rules_version", .handler = guard_api_rule_create),
    GUARD_EP(.method = "GET", .path = "/api/v1/guard/rules/{id}", .scope = "guard:read",
             .summary = "One rule", .params = guard_id_param, .handler = guard_api_rule_get),
    GUARD_EP(.method = "PUT", .path = "/api/v1/guard/rules/{id}", .scope = "guard_rules:write",
             .summary = "Change a rule (the fields given) (admin)", .params = guard_id_param,
             .body_kind = API_BODY_JSON, .body = guard_rule_update_body,
             .response = "the rule with the new rules_version", .handler = guard_api_rule_update),
    GUARD_EP(.method = "DELETE", .path = "/api/v1/guard/rules/{id}", .scope = "guard_rules:write",
             .summary = "Delete a rule (admin)", .params = guard_id_param, .status = 204,
             .handler = guard_api_rule_delete),
    GUARD_EP(.method = "POST", .path = "/api/v1/guard/evaluate", .scope = "guard:write",
             .summary = "Score an action: verdict, the rules that fired (stored, moves trust)",
             .body_kind = API_BODY_JSON, .body = guard_evaluate_body,
             .response = "{score, verdict, fired:[{rule, name, weight, why}], thresholds, "
                         "rules_version, digest, trust, principal, recorded}",
             .handler = guard_api_evaluate),
    GUARD_EP(.method = "GET", .path = "/api/v1/guard/principals", .scope = "guard:read",
             .summary = "Principals with their trust now", .query = guard_page_query,
             .response = "{principals:[{id, trust, default, updated_at}], total, limit, offset}",
             .handler = guard_api_principals_list),
    GUARD_EP(.method = "GET", .path = "/api/v1/guard/principals/{id}", .scope = "guard:read",
             .summary = "One principal's trust and its history", .params = guard_principal_param,
             .response = "{id, trust, default, known, updated_at, history:[{at, cause, from, to}]}",
             .handler = guard_api_principal_get),
    {.method = "GET",
     .path = "/api/v1/guard/reviews",
     .scope = "guard:read",
     .tag = "guard",
     .summary = "Actions held for review",
     .response = "{reviews:[{id, action, principal, score, fired, digest, created_at, "
                 "expires_at}], total, max}",
     .handler = guard_api_reviews_list},
    {.method = "POST",
     .path = "/api/v1/guard/reviews/{id}/approve",
     .scope = "guard:write",
     .tag = "guard",
     .summary = "Approve a held action: it runs",
     .params = guard_review_param,
     .response = "{id, decision, digest}",
     .handler = guard_api_review_approve},
    {.method = "POST",
     .path = "/api/v1/guard/reviews/{id}/reject",
     .scope = "guard:write",
     .tag = "guard",
     .summary = "Reject a held action: it is refused (403)",
     .params = guard_review_param,
     .response = "{id, decision, digest}",
     .handler = guard_api_review_reject},
};

static size_t guard_api_refs(const char *owner, const char *team, void *ud)
{
    guard_t *g = ud;
    size_t n = 0, i;
    json_t *r;
    json_array_foreach(g->pending, i, r) n += api_owner_doc_refers(r, owner, team);
    return n;
}

int guard_api_register(hub_t *hub)
{
    api_register(hub->api, guard_endpoints, sizeof guard_endpoints / sizeof guard_endpoints[0]);
    if (hub->guard)
        api_owner_refs_add(hub->api, "guard rule", guard_api_refs, hub->guard);
    if (hub->metrics)
        metrics_collector_add(hub->metrics, guard_metrics_collect, hub->guard);
    return 0;
}
