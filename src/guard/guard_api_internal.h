/* What guard_api.c and guard_gate.c share: the audit fields a job copies from its request,
 * one evaluation's result, and the recording of a verdict (its row, the principal's trust and
 * its audit row in one transaction). Loop thread. */
#ifndef GANGLION_GUARD_API_INTERNAL_H
#define GANGLION_GUARD_API_INTERNAL_H

#include "api/api.h"
#include "guard/guard_internal.h"

typedef struct guard_audit {
    char principal[160];
    char action[160];
    char target[256];
    char request_id[80];
    char transport[16];
    char peer[80];
    int status;
} guard_audit_t;

typedef struct guard_result {
    int64_t score;
    guard_verdict_t verdict;
    json_t *fired; /* owned by the caller */
    int64_t rules_version;
    double trust;
    char digest[65];
} guard_result_t;

guard_t *guard_of(api_req_t *req);
/* The audit fields of the change a request makes: its own row (action "GUARD <what>", with the
 * change's detail) beside the one the registry writes for the request. */
void guard_audit_from(guard_audit_t *a, api_req_t *req, int status, const char *what);
int guard_audit_insert(store_conn_t *c, const guard_audit_t *a, const json_t *detail);
json_t *guard_thresholds_json(const guard_t *g);

/* Evaluates an action with the committed rules. 0 or -ENOMEM (res->fired to release). */
int guard_evaluate(guard_t *g, const json_t *action, const char *principal, guard_result_t *res);
/* {score, verdict, fired, thresholds, rules_version, digest, trust, principal?}. New ref. */
json_t *guard_result_json(const guard_t *g, const guard_result_t *res, const char *principal);

/* Stores a verdict (cause: NULL = the result's verdict, or approved/rejected/expired) and moves
 * the principal's trust by the cause's step, with an audit row when audit is given. Then, after
 * the commit, replies `reply` (stolen) to req when req is non-NULL, and calls then(then_ud,
 * status) when then is non-NULL. 0 or a negative error (nothing happens then). */
int guard_record(guard_t *g, const guard_result_t *res, const char *principal, const char *source,
                 const char *cause, const guard_audit_t *audit, api_req_t *req, json_t *reply,
                 void (*then)(void *ud, int status), void *then_ud);

/* guard_api_gate.c: the reviews' handlers (the agents' gate itself is in guard.h). */
void guard_api_reviews_list(api_req_t *req, void *ctx);
void guard_api_review_approve(api_req_t *req, void *ctx);
void guard_api_review_reject(api_req_t *req, void *ctx);

#endif
