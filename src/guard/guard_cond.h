/* Conditions on the fields of a structured action: `{field, op, value}` with op one of ==, !=,
 * in, glob, <, >, over kind, agent, argv[N], path, env.NAME, labels.NAME, principal, trust or
 * any other top-level field of the action. Parsed once when a rule set is built. Pure. */
#ifndef GANGLION_GUARD_COND_H
#define GANGLION_GUARD_COND_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define GUARD_COND_FIELD_MAX 128 /* bytes of a field name */
#define GUARD_COND_IN_MAX    256 /* values of an `in` list */

typedef struct guard_cond guard_cond_t;

/* What conditions are evaluated against: the action (an object, or NULL for a text action),
 * the principal (may be NULL) and its trust now. All borrowed. */
typedef struct guard_subject {
    const json_t *action;
    const char *principal;
    double trust;
} guard_subject_t;

/* Parses one condition object. Returns it, or NULL with err saying why (field, op or value). */
guard_cond_t *guard_cond_parse(const json_t *obj, char *err, size_t errlen);
void guard_cond_destroy(guard_cond_t **c);
/* True when the condition holds. When it does and why is non-NULL, why receives a short
 * explanation ("argv[0] == rm"). */
bool guard_cond_eval(const guard_cond_t *c, const guard_subject_t *subj, char *why, size_t whylen);

#endif
