/* The gate in front of agents (spawn, stdin writes, custom actions) and the review queue:
 * deny refuses at once, review holds the action — the client's request waiting — until an
 * operator approves or rejects it or guard.review_timeout_ms passes (then it is refused). At
 * most guard.reviews_max actions are held; one timer each. Every verdict and decision is
 * stored with the action's digest and moves the principal's trust. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bus.h"
#include "core/clock.h"
#include "core/log.h"
#include "guard/guard_api_internal.h"

struct guard_review {
    int64_t id;
    int64_t created_ms, deadline_ms;
    json_t *action;
    char principal[GUARD_PRINCIPAL_MAX + 1];
    guard_result_t res; /* res.fired owned */
    hub_gate_resume_fn resume;
    void *resume_ud;
    struct guard_timer *timer; /* owned; freed in its close callback */
};

/* A review's timer finds its review by id: the array moves as reviews come and go. */
typedef struct guard_timer {
    uv_timer_t t;
    guard_t *g;
    int64_t id;
} guard_timer_t;

/* Whether labels match every KEY=VALUE of a comma-separated selector (non-empty). */
static bool guard_selector_match(const char *sel, const json_t *labels)
{
    bool any = false;
    while (*sel) {
        const char *end = strchr(sel, ',');
        size_t n = end ? (size_t)(end - sel) : strlen(sel);
        const char *eq = memchr(sel, '=', n);
        if (n) {
            if (!eq || eq == sel)
                return false; /* a malformed term matches nothing */
            char key[128];
            size_t kl = (size_t)(eq - sel);
            if (kl >= sizeof key)
                return false;
            memcpy(key, sel, kl);
            key[kl] = '\0';
            const char *v = json_string_value(json_object_get(labels, key));
            size_t vl = n - kl - 1;
            if (!v || strlen(v) != vl || memcmp(v, eq + 1, vl) != 0)
                return false;
            any = true;
        }
        sel += n + (end ? 1 : 0);
    }
    return any;
}

/* Whether the agent's action is gated: guard.gate=all unless the agent says guard=false;
 * labelled (the default) when it says guard=true or its labels match guard.gate_selector; off
 * never. */
static bool guard_gate_applies(const guard_t *g, const json_t *action)
{
    const char *mode = g->hub->cfg.guard_gate;
    const json_t *labels = json_object_get(action, "labels");
    const char *label = json_string_value(json_object_get(labels, "guard"));
    if (strcmp(mode, "off") == 0)
        return false;
    if (strcmp(mode, "all") == 0)
        return !(label && strcmp(label, "false") == 0);
    if (label)
        return strcmp(label, "true") == 0;
    return g->hub->cfg.guard_gate_selector[0] &&
           guard_selector_match(g->hub->cfg.guard_gate_selector, labels);
}

static problem_t *guard_refusal(const guard_result_t *res, int status, const char *slug,
                                const char *detail)
{
    problem_t *p = problem_new(status, slug, "%s (score %lld)", detail, (long long)res->score);
    problem_ext_set(p, "score", json_integer(res->score));
    problem_ext_set(p, "verdict", json_string(guard_verdict_names[res->verdict]));
    problem_ext_set(p, "fired", json_incref(res->fired));
    problem_ext_set(p, "digest", json_string(res->digest));
    return p;
}

static void guard_timer_closed(uv_handle_t *h)
{
    free(h);
}

/* Takes the review out of the queue (its timer stopped); the caller frees it. */
static guard_review_t guard_review_take(guard_t *g, size_t i)
{
    guard_review_t r = g->reviews[i];
    memmove(&g->reviews[i], &g->reviews[i + 1], (g->nreviews - i - 1) * sizeof *g->reviews);
    g->nreviews--;
    if (r.timer) {
        uv_timer_stop(&r.timer->t);
        uv_close((uv_handle_t *)&r.timer->t, guard_timer_closed);
    }
    return r;
}

static ssize_t guard_review_index(const guard_t *g, int64_t id)
{
    for (size_t i = 0; i < g->nreviews; i++)
        if (g->reviews[i].id == id)
            return (ssize_t)i;
    return -1;
}

static void guard_review_publish(guard_t *g, const guard_review_t *r, const char *what)
{
    char topic[64];
    snprintf(topic, sizeof topic, "guard.review.%lld.%s", (long long)r->id, what);
    bus_publish(g->hub->bus, topic,
                json_pack("{s:I,s:s,s:I,s:s}", "id", (json_int_t)r->id, "principal", r->principal,
                          "score", (json_int_t)r->res.score, "digest", r->res.digest));
}

/* Ends a held action: cause approved (it runs), rejected or expired (refused). */
static void guard_review_finish(guard_t *g, guard_review_t *r, const char *cause,
                                const guard_audit_t *audit, api_req_t *req)
{
    problem_t *refusal = NULL;
    if (strcmp(cause, "rejected") == 0)
        refusal = guard_refusal(&r->res, 403, "guard-review-rejected",
                                "an operator rejected the action after review");
    else if (strcmp(cause, "expired") == 0)
        refusal = guard_refusal(&r->res, 403, "guard-review-expired",
                                "no operator decided on the action in time");
    else if (strcmp(cause, "shutdown") == 0)
        refusal = guard_refusal(&r->res, 503, "guard-review-abandoned",
                                "the daemon stopped while the action waited for review");
    guard_review_publish(g, r, cause);
    json_t *reply = req ? json_pack("{s:I,s:s,s:s}", "id", (json_int_t)r->id, "decision", cause,
                                    "digest", r->res.digest)
                        : NULL;
    /* trust moves by the decision's step; the row records the decision itself */
    if (guard_record(g, &r->res, r->principal, "review", cause, audit, req, reply, NULL, NULL) <
            0 &&
        req)
        api_reply_problem(req, problem_new(503, "store-unavailable",
                                           "the decision could not be queued for storing"));
    r->resume(r->resume_ud, refusal);
    json_decref(r->action);
    json_decref(r->res.fired);
}

static void guard_review_expire(uv_timer_t *t)
{
    guard_timer_t *gt = (guard_timer_t *)t;
    guard_t *g = gt->g;
    ssize_t i = guard_review_index(g, gt->id);
    if (i < 0)
        return;
    guard_review_t r = guard_review_take(g, (size_t)i);
    log_info(NULL, "guard: review expired", "{s:I,s:s}", "review", (json_int_t)r.id, "digest",
             r.res.digest);
    guard_review_finish(g, &r, "expired", NULL, NULL);
}

/* The gate's verdict on one action: 0 allowed, 1 held for review (resume told later), -1
 * refused (*refusal set). Without resume a review verdict is refused: the caller cannot wait. */
static int guard_gate_run(guard_t *g, const json_t *action, const char *principal,
                          hub_gate_resume_fn resume, void *resume_ud, problem_t **refusal)
{
    guard_result_t res;
    if (guard_evaluate(g, action, principal, &res) < 0) {
        json_decref(res.fired);
        *refusal = problem_new(503, "out-of-memory", "the guard could not evaluate the action");
        return -1;
    }
    const char *kind = json_string_value(json_object_get(action, "kind")) ?: "action";
    char source[32];
    snprintf(source, sizeof source, "gate.%s", kind);
    int rc = 0;
    if (res.verdict == GUARD_DENY) {
        *refusal = guard_refusal(&res, 403, "guard-denied", "the guard denied the action");
        rc = -1;
    } else if (res.verdict == GUARD_REVIEW && !resume) {
        *refusal = guard_refusal(&res, 403, "guard-review-unsupported",
                                 "the action needs a review, and held submissions are not "
                                 "supported here yet");
        rc = -1;
    } else if (res.verdict == GUARD_REVIEW &&
               (g->stopping || g->nreviews >= (size_t)g->hub->cfg.guard_reviews_max)) {
        *refusal = guard_refusal(&res, 503, "guard-review-queue-full",
                                 "the action needs a review and the review queue is full");
        problem_header_set(*refusal, "Retry-After", "5");
        rc = -1;
    } else if (res.verdict == GUARD_REVIEW) {
        guard_review_t *arr = realloc(g->reviews, (g->nreviews + 1) * sizeof *arr);
        guard_timer_t *t = malloc(sizeof *t);
        if (!arr || !t) {
            free(t);
            if (arr)
                g->reviews = arr;
            *refusal = problem_new(503, "out-of-memory", "the action could not be held");
            json_decref(res.fired);
            return -1;
        }
        g->reviews = arr;
        guard_review_t *r = &g->reviews[g->nreviews++];
        memset(r, 0, sizeof *r);
        r->id = g->next_review++;
        r->created_ms = clock_wall_ms();
        r->deadline_ms = r->created_ms + g->hub->cfg.guard_review_timeout_ms;
        r->action = json_deep_copy(action);
        snprintf(r->principal, sizeof r->principal, "%s", principal ? principal : "");
        r->res = res;
        r->res.fired = json_incref(res.fired);
        r->resume = resume;
        r->resume_ud = resume_ud;
        r->timer = t;
        t->g = g;
        t->id = r->id;
        uv_timer_init(g->hub->loop, &t->t);
        uv_timer_start(&t->t, guard_review_expire, (uint64_t)g->hub->cfg.guard_review_timeout_ms,
                       0);
        guard_review_publish(g, r, "held");
        rc = 1;
    }
    /* the verdict's own audit row, beside the request's: who, which agent, the digest */
    guard_audit_t audit = {.status = rc < 0 ? problem_status(*refusal) : rc > 0 ? 202 : 200};
    snprintf(audit.principal, sizeof audit.principal, "%s", principal ? principal : "anonymous");
    snprintf(audit.action, sizeof audit.action, "GUARD %s", source);
    snprintf(audit.target, sizeof audit.target, "%s",
             json_string_value(json_object_get(action, "agent")) ?: "");
    snprintf(audit.transport, sizeof audit.transport, "gate");
    if (guard_record(g, &res, principal, source, NULL, &audit, NULL, NULL, NULL, NULL) < 0)
        log_error(NULL, "guard: verdict not queued for storing", "{s:s}", "digest", res.digest);
    json_decref(res.fired);
    return rc;
}

int guard_agent_gate(void *ud, const json_t *action, const char *principal,
                     hub_gate_resume_fn resume, void *resume_ud, problem_t **refusal)
{
    guard_t *g = ud;
    if (!g || !guard_gate_applies(g, action))
        return 0;
    return guard_gate_run(g, action, principal, resume, resume_ud, refusal);
}

problem_t *guard_task_gate(void *ud, const json_t *submission, const char *principal)
{
    guard_t *g = ud;
    if (!g || !guard_gate_applies(g, submission))
        return NULL;
    /* what the rules read: the description as text, the input as its JSON (bounded by the
     * tasks domain); "agent" names the target in the verdict's audit row */
    const json_t *in = json_object_get(submission, "input");
    char *input = in ? json_dumps(in, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_t *action = json_pack(
        "{s:s,s:O*,s:O*,s:s*,s:O*,s:O*,s:O*}", "kind", "task", "type",
        json_object_get(submission, "type"), "text", json_object_get(submission, "description"),
        "input", input, "agent", json_object_get(submission, "agent"), "capability",
        json_object_get(submission, "capability"), "labels", json_object_get(submission, "labels"));
    free(input);
    if (!action)
        return problem_new(503, "out-of-memory", "the guard could not evaluate the task");
    problem_t *refusal = NULL;
    guard_gate_run(g, action, principal, NULL, NULL, &refusal);
    json_decref(action);
    return refusal;
}

/* ---- the reviews' endpoints ------------------------------------------------------------- */

static json_t *guard_review_json(const guard_review_t *r)
{
    char c[40], d[40];
    clock_rfc3339(r->created_ms, c, sizeof c);
    clock_rfc3339(r->deadline_ms, d, sizeof d);
    return json_pack("{s:I,s:O,s:s,s:I,s:O,s:s,s:s,s:s}", "id", (json_int_t)r->id, "action",
                     r->action, "principal", r->principal, "score", (json_int_t)r->res.score,
                     "fired", r->res.fired, "digest", r->res.digest, "created_at", c, "expires_at",
                     d);
}

void guard_api_reviews_list(api_req_t *req, void *ctx)
{
    (void)ctx;
    guard_t *g = guard_of(req);
    json_t *arr = json_array();
    for (size_t i = 0; i < g->nreviews; i++)
        json_array_append_new(arr, guard_review_json(&g->reviews[i]));
    api_reply_json(req, 200,
                   json_pack("{s:o,s:I,s:I}", "reviews", arr, "total", (json_int_t)g->nreviews,
                             "max", (json_int_t)g->hub->cfg.guard_reviews_max));
}

static void guard_api_review_decide(api_req_t *req, const char *cause)
{
    guard_t *g = guard_of(req);
    int64_t id = api_req_param_int(req, "id");
    ssize_t i = guard_review_index(g, id);
    if (i < 0) {
        api_reply_problem(req, problem_new(404, "review-not-found",
                                           "no action held for review with id %lld (decided, "
                                           "expired or never held)",
                                           (long long)id));
        return;
    }
    guard_review_t r = guard_review_take(g, (size_t)i);
    guard_audit_t audit;
    guard_audit_from(&audit, req, 200,
                     strcmp(cause, "approved") == 0 ? "review.approved" : "review.rejected");
    guard_review_finish(g, &r, cause, &audit, req);
}

void guard_api_review_approve(api_req_t *req, void *ctx)
{
    (void)ctx;
    guard_api_review_decide(req, "approved");
}

void guard_api_review_reject(api_req_t *req, void *ctx)
{
    (void)ctx;
    guard_api_review_decide(req, "rejected");
}

void guard_shutdown(hub_t *hub)
{
    guard_t *g = hub->guard;
    if (!g)
        return;
    g->stopping = true;
    while (g->nreviews) {
        guard_review_t r = guard_review_take(g, 0);
        guard_review_finish(g, &r, "shutdown", NULL, NULL);
    }
}
