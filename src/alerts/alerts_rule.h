/* The pure part of alerts: which events a rule matches and under which group key, the
 * grouping and rate-limit windows, the retry backoff and the chat template. No loop, store or
 * threads: unit-tested on its own (tests/unit/test_alerts_rule.c). */
#ifndef GANGLION_ALERTS_RULE_H
#define GANGLION_ALERTS_RULE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ALERTS_KEY_MAX    128  /* bytes of a group key */
#define ALERTS_GROUPS_MAX 256  /* group keys remembered per rule (the oldest forgotten) */
#define ALERTS_RATE_MAX   1000 /* notifications a rate limit may allow per window */

/* A severity's rank: none 0, low 1, medium 2, high 3, critical 4; -1 for anything else. */
int alerts_severity_rank(const char *name);

/* Shell-style glob (fnmatch, no flags); NULL or "" matches everything. */
bool alerts_glob_match(const char *pattern, const char *s);

/* Checks a rule document's kind-specific fields (the API validated types and bounds). 0, or
 * -EINVAL with the offending field's name and the reason written. */
int alerts_rule_check(const json_t *rule, char *field, size_t flen, char *why, size_t wlen);

/* The bus patterns a rule kind listens to (static), NULL for metric rules (sampled). */
const char *alerts_rule_topics(const char *kind);

/* Whether an event (topic, its payload) is one the rule fires on, and if so its group key
 * (the stream, agent, task type or brain; written into key). Crash loops are counted by the
 * caller: this answers only whether the event is one of the counted ones. */
bool alerts_rule_match(const json_t *rule, const char *topic, const json_t *data, char *key,
                       size_t klen);

/* A metric series' value read from Prometheus text: the sum of every series of that name
 * whose label body contains `labels` (NULL or "" = all). 0 with *value set, -ENOENT when no
 * series matched. */
int alerts_metric_read(const char *text, size_t len, const char *name, const char *labels,
                       double *value);
/* Whether value op threshold holds (op ">", ">=", "<", "<="). */
bool alerts_metric_compare(double value, const char *op, double threshold);

/* Grouping: one notification per key per window. */
typedef struct alerts_groups {
    struct {
        char key[ALERTS_KEY_MAX];
        int64_t fired_ms;
    } v[ALERTS_GROUPS_MAX];
    size_t n;
} alerts_groups_t;
/* True (and remembered) when key has not fired within window_ms of now; false while the window
 * is open. A full table forgets its oldest key. */
bool alerts_groups_admit(alerts_groups_t *g, const char *key, int64_t now_ms, int64_t window_ms);

/* Rate limit: at most max notifications per window_ms (max 0 = no limit). */
typedef struct alerts_rate {
    int64_t sent_ms[ALERTS_RATE_MAX]; /* a ring of the last sends */
    size_t head, n;
} alerts_rate_t;
bool alerts_rate_admit(alerts_rate_t *r, int64_t now_ms, int64_t max, int64_t window_ms);

/* Wait before attempt number `attempt` (1 = the first retry): base doubled per attempt, at
 * most max_ms. */
int64_t alerts_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms);

/* Renders a template: "{{path}}" is replaced by the value at the dotted path in doc (strings as
 * they are, numbers and other values as compact JSON, missing as ""); with json_escape the
 * inserted text is escaped for a JSON string. *out is malloc'd, NUL-terminated. 0, -E2BIG over
 * max bytes, -ENOMEM. */
int alerts_template_render(const char *tmpl, const json_t *doc, bool json_escape, size_t max,
                           char **out);

#endif
