/* The condition evaluator: a field resolved on the action (or the principal and its trust),
 * compared with one operator. Missing fields make every comparison false except !=. */
#include "guard/guard_cond.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    GUARD_OP_EQ,
    GUARD_OP_NE,
    GUARD_OP_IN,
    GUARD_OP_GLOB,
    GUARD_OP_LT,
    GUARD_OP_GT
} guard_op_t;

typedef enum {
    GUARD_F_TOP,       /* a top-level field of the action: kind, agent, path, ... */
    GUARD_F_ARGV,      /* argv[N] */
    GUARD_F_ENV,       /* env.NAME */
    GUARD_F_LABEL,     /* labels.NAME */
    GUARD_F_PRINCIPAL, /* the principal's id */
    GUARD_F_TRUST,     /* the principal's trust now */
} guard_field_kind_t;

struct guard_cond {
    guard_field_kind_t kind;
    char field[GUARD_COND_FIELD_MAX + 1]; /* as written, for explanations */
    const char *key;                      /* the name after "env." / "labels.", or the field */
    size_t index;                         /* argv[N] */
    guard_op_t op;
    json_t *value; /* owned */
};

static const char *const guard_op_names[] = {"==", "!=", "in", "glob", "<", ">"};

static bool guard_field_parse(guard_cond_t *c, const char *f, char *err, size_t errlen)
{
    size_t n = strlen(f);
    if (n == 0 || n > GUARD_COND_FIELD_MAX) {
        snprintf(err, errlen, "field: 1 to %d characters", GUARD_COND_FIELD_MAX);
        return false;
    }
    memcpy(c->field, f, n + 1);
    c->key = c->field;
    if (strcmp(f, "principal") == 0) {
        c->kind = GUARD_F_PRINCIPAL;
    } else if (strcmp(f, "trust") == 0) {
        c->kind = GUARD_F_TRUST;
    } else if (strncmp(f, "env.", 4) == 0 && f[4]) {
        c->kind = GUARD_F_ENV;
        c->key = c->field + 4;
    } else if (strncmp(f, "labels.", 7) == 0 && f[7]) {
        c->kind = GUARD_F_LABEL;
        c->key = c->field + 7;
    } else if (strncmp(f, "argv[", 5) == 0) {
        char *end;
        unsigned long i = strtoul(f + 5, &end, 10);
        if (end == f + 5 || strcmp(end, "]") != 0 || i > 4096) {
            snprintf(err, errlen, "field: argv[N] with N a number up to 4096");
            return false;
        }
        c->kind = GUARD_F_ARGV;
        c->index = i;
    } else {
        for (const char *p = f; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '_')) {
                snprintf(err, errlen,
                         "field: one of kind, agent, argv[N], path, env.NAME, labels.NAME, "
                         "principal, trust or a top-level field name (letters, digits, _)");
                return false;
            }
        c->kind = GUARD_F_TOP;
    }
    return true;
}

static bool guard_value_scalar(const json_t *v)
{
    return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
}

guard_cond_t *guard_cond_parse(const json_t *obj, char *err, size_t errlen)
{
    if (!json_is_object(obj)) {
        snprintf(err, errlen, "a condition is an object {field, op, value}");
        return NULL;
    }
    const char *field = json_string_value(json_object_get(obj, "field"));
    const char *op = json_string_value(json_object_get(obj, "op"));
    json_t *value = json_object_get(obj, "value");
    if (!field || !op || !value) {
        snprintf(err, errlen, "a condition needs field, op and value");
        return NULL;
    }
    guard_cond_t *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!guard_field_parse(c, field, err, errlen))
        goto bad;
    size_t nops = sizeof guard_op_names / sizeof guard_op_names[0];
    size_t i = 0;
    while (i < nops && strcmp(op, guard_op_names[i]) != 0)
        i++;
    if (i == nops) {
        snprintf(err, errlen, "op: one of ==, !=, in, glob, <, >");
        goto bad;
    }
    c->op = (guard_op_t)i;
    if (c->op == GUARD_OP_IN) {
        bool ok = json_is_array(value) && json_array_size(value) <= GUARD_COND_IN_MAX;
        size_t k;
        json_t *v;
        json_array_foreach(value, k, v) ok = ok && guard_value_scalar(v);
        if (!ok) {
            snprintf(err, errlen, "value: `in` takes an array of up to %d strings or numbers",
                     GUARD_COND_IN_MAX);
            goto bad;
        }
    } else if (c->op == GUARD_OP_GLOB) {
        if (!json_is_string(value) || json_string_length(value) > 512) {
            snprintf(err, errlen, "value: `glob` takes a pattern of up to 512 characters");
            goto bad;
        }
    } else if (c->op == GUARD_OP_LT || c->op == GUARD_OP_GT) {
        if (!json_is_number(value)) {
            snprintf(err, errlen, "value: `%s` takes a number", op);
            goto bad;
        }
    } else if (!guard_value_scalar(value)) {
        snprintf(err, errlen, "value: `%s` takes a string, number or boolean", op);
        goto bad;
    }
    c->value = json_incref(value);
    return c;
bad:
    free(c);
    return NULL;
}

void guard_cond_destroy(guard_cond_t **cp)
{
    if (!cp || !*cp)
        return;
    json_decref((*cp)->value);
    free(*cp);
    *cp = NULL;
}

/* The field's value on the subject: a borrowed JSON value, or NULL when absent. tmp holds
 * values made up here (principal, trust). */
static const json_t *guard_field_get(const guard_cond_t *c, const guard_subject_t *s, json_t **tmp)
{
    const json_t *a = s->action;
    switch (c->kind) {
    case GUARD_F_PRINCIPAL:
        return s->principal ? (*tmp = json_string(s->principal)) : NULL;
    case GUARD_F_TRUST:
        return *tmp = json_real(s->trust);
    case GUARD_F_ARGV:
        return json_array_get(json_object_get(a, "argv"), c->index);
    case GUARD_F_ENV:
        return json_object_get(json_object_get(a, "env"), c->key);
    case GUARD_F_LABEL:
        return json_object_get(json_object_get(a, "labels"), c->key);
    case GUARD_F_TOP:
        return json_object_get(a, c->key);
    }
    return NULL;
}

static bool guard_json_eq(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    return json_equal(a, b);
}

static void guard_why_set(const guard_cond_t *c, const json_t *got, char *why, size_t whylen)
{
    if (!why || whylen == 0)
        return;
    char *g = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    char *v = json_dumps(c->value, JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(why, whylen, "%s %s %s (is %s)", c->field, guard_op_names[c->op], v ? v : "?",
             g ? g : "absent");
    free(g);
    free(v);
}

bool guard_cond_eval(const guard_cond_t *c, const guard_subject_t *subj, char *why, size_t whylen)
{
    json_t *tmp = NULL;
    const json_t *got = guard_field_get(c, subj, &tmp);
    bool r = false;
    switch (c->op) {
    case GUARD_OP_EQ:
        r = got && guard_json_eq(got, c->value);
        break;
    case GUARD_OP_NE:
        r = !got || !guard_json_eq(got, c->value);
        break;
    case GUARD_OP_IN: {
        size_t i;
        json_t *v;
        json_array_foreach(c->value, i, v) if (got && guard_json_eq(got, v)) r = true;
        break;
    }
    case GUARD_OP_GLOB:
        r = json_is_string(got) &&
            fnmatch(json_string_value(c->value), json_string_value(got), 0) == 0;
        break;
    case GUARD_OP_LT:
        r = json_is_number(got) && json_number_value(got) < json_number_value(c->value);
        break;
    case GUARD_OP_GT:
        r = json_is_number(got) && json_number_value(got) > json_number_value(c->value);
        break;
    }
    if (r)
        guard_why_set(c, got, why, whylen);
    json_decref(tmp);
    return r;
}
