/* The guard's state and what its files share: the committed rules and their compiled set, the
 * rule changes queued for the store, the principals' trust and the actions held for review.
 * Loop thread only, except where a job says otherwise. */
#ifndef GANGLION_GUARD_INTERNAL_H
#define GANGLION_GUARD_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/hub.h"
#include "guard/guard.h"
#include "guard/guard_rules.h"

#define GUARD_RULES_MAX      5000      /* rules in a set */
#define GUARD_NAME_MAX       64        /* bytes of a rule's name */
#define GUARD_DESC_MAX       1024      /* bytes of a rule's description */
#define GUARD_PRINCIPALS_MAX 100000    /* principals whose trust is tracked */
#define GUARD_PRINCIPAL_MAX  128       /* bytes of a principal's id */
#define GUARD_SET_BYTES_MAX  (1 << 20) /* bytes of words and regexes in all the rules */
#define GUARD_PRUNE_EVERY    512       /* verdicts stored between two prunes of the table */

typedef struct guard_review guard_review_t;

typedef struct guard {
    hub_t *hub;
    json_t *rules;           /* committed rules, by id: [{id, name, ..., created_ms, updated_ms}] */
    json_t *pending;         /* the rules once every queued change is committed */
    int64_t version;         /* committed rules_version */
    int64_t pending_version; /* the version the last queued change will commit */
    int64_t next_id;
    guard_set_t *set;        /* compiled from `rules`; swapped on the loop */
    json_t *principals;      /* id -> {trust, updated_ms, history:[...]} */
    guard_review_t *reviews; /* held actions, oldest first */
    size_t nreviews;
    int64_t next_review;
    bool stopping;
    uint64_t evaluations, verdicts[3];
    uint64_t recorded; /* verdicts queued for storing: every GUARD_PRUNE_EVERY one prunes */
} guard_t;

typedef enum { GUARD_ALLOW = 0, GUARD_REVIEW = 1, GUARD_DENY = 2 } guard_verdict_t;

extern const char *const guard_verdict_names[];

/* ---- guard_defaults.c ---- */
/* The shipped rules as an array of {name, description, weight, enabled, match}. New ref. */
json_t *guard_defaults_json(void);

/* ---- guard_db.c: statements (thread pool) ---- */
int guard_db_load(store_conn_t *c, json_t **rules, int64_t *version, bool *seeded,
                  json_t **principals);
int guard_db_seed(store_conn_t *c, const json_t *rules, int64_t version);
int guard_db_rule_put(store_conn_t *c, const json_t *rule, int64_t version);
int guard_db_rule_delete(store_conn_t *c, int64_t id, int64_t version);
int guard_db_principal_put(store_conn_t *c, const char *id, const json_t *p);
/* Deletes the verdict rows beyond the newest `keep`. */
int guard_db_verdicts_prune(store_conn_t *c, int64_t keep);
int guard_db_verdict_insert(store_conn_t *c, const char *digest, const char *principal,
                            const char *source, const char *verdict, int64_t score,
                            const json_t *fired, int64_t rules_version, int64_t ts_ms);

/* ---- guard.c ---- */
/* The verdict of a score under the configured thresholds. */
guard_verdict_t guard_verdict_of(const guard_t *g, int64_t score);
/* Renders a rule for the API (created_at, updated_at). New reference. */
json_t *guard_rule_json(const json_t *rule);
json_t *guard_rule_find(json_t *rules, int64_t id, size_t *index);
/* The hex SHA-256 of an action's compact JSON. out: 65 bytes. */
void guard_digest(const json_t *action, char out[65]);

/* ---- guard_trust.c ---- */
/* The principal's trust now (decayed), the default when unknown. */
double guard_trust_get(const guard_t *g, const char *principal, int64_t now_ms);
/* Moves it by step_milli/1000 (clamped to [0,1]) for `cause`, recording the history. Returns
 * the principal's record (borrowed) to persist, or NULL when untracked. */
json_t *guard_trust_move(guard_t *g, const char *principal, int64_t step_milli, const char *cause,
                         int64_t now_ms);
/* The step configured for a cause: allow, review, deny, approved, rejected. */
int64_t guard_trust_step(const guard_t *g, const char *cause);
/* {id, trust, default, updated_at, history?} for the API. New reference. */
json_t *guard_principal_json(const guard_t *g, const char *id, const json_t *rec, bool history,
                             int64_t now_ms);

#endif
