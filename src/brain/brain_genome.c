/* Genome parsing, validation and writing back: blueprint genes `_____10c-<id>-<cx|nx>-<gene>-<t>`
 * into brain_area_t by one table, so parse and write cannot disagree about a gene; the parsed
 * document is kept so unknown keys return unchanged. */
#include "brain/brain_genome.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonx.h"

typedef enum { G_INT, G_UINT, G_FLT, G_BOOL, G_TEXT, G_PCT } gene_kind_t;

/* One blueprint gene: its name, level (cx/nx), JSON type letter, and where it lives. */
typedef struct {
    const char *gene;
    const char *level;
    char type;
    gene_kind_t kind;
    size_t off;
    size_t size; /* G_TEXT: buffer size */
} gene_t;

#define A(f) offsetof(brain_area_t, f)
static const gene_t GENES[] = {
    {"__name", "cx", 't', G_TEXT, A(name), sizeof(((brain_area_t *)0)->name)},
    {"_group", "cx", 't', G_TEXT, A(group), sizeof(((brain_area_t *)0)->group)},
    {"subgrp", "cx", 't', G_TEXT, A(subgroup), sizeof(((brain_area_t *)0)->subgroup)},
    {"___bbx", "cx", 'i', G_UINT, A(dim[0]), 0},
    {"___bby", "cx", 'i', G_UINT, A(dim[1]), 0},
    {"___bbz", "cx", 'i', G_UINT, A(dim[2]), 0},
    {"rcordx", "cx", 'i', G_INT, A(pos3[0]), 0},
    {"rcordy", "cx", 'i', G_INT, A(pos3[1]), 0},
    {"rcordz", "cx", 'i', G_INT, A(pos3[2]), 0},
    {"2dcorx", "cx", 'i', G_INT, A(pos2[0]), 0},
    {"2dcory", "cx", 'i', G_INT, A(pos2[1]), 0},
    {"_n_cnt", "cx", 'i', G_UINT, A(npv), 0},
    {"gd_vis", "cx", 'b', G_BOOL, A(visible), 0},
    {"pspuni", "cx", 'b', G_BOOL, A(pspuni), 0},
    {"synatt", "cx", 'f', G_FLT, A(synatt), 0},
    {"de_gen", "cx", 'f', G_FLT, A(de_gen), 0},
    {"memory", "cx", 'b', G_BOOL, A(memory), 0},
    {"mem__t", "cx", 'i', G_INT, A(mem_t), 0},
    {"mem_gr", "cx", 'i', G_INT, A(mem_gr), 0},
    {"mem_ls", "cx", 'i', G_INT, A(mem_ls), 0},
    {"tmpdpt", "cx", 'i', G_INT, A(tmpdpt), 0},
    {"fire_t", "nx", 'f', G_FLT, A(fire_t), 0},
    {"fthlim", "nx", 'f', G_FLT, A(fthlim), 0},
    {"ftincx", "nx", 'f', G_FLT, A(ftinc[0]), 0},
    {"ftincy", "nx", 'f', G_FLT, A(ftinc[1]), 0},
    {"ftincz", "nx", 'f', G_FLT, A(ftinc[2]), 0},
    {"refrac", "nx", 'i', G_UINT, A(refrac), 0},
    {"leak_c", "nx", 'f', G_FLT, A(leak_c), 0},
    {"leak_v", "nx", 'f', G_FLT, A(leak_v), 0},
    {"c_fr_c", "nx", 'i', G_UINT, A(c_fr_c), 0},
    {"snooze", "nx", 'f', G_UINT, A(snooze), 0},
    {"mp_acc", "nx", 'b', G_BOOL, A(mp_acc), 0},
    {"mp_psp", "nx", 'b', G_BOOL, A(mp_psp), 0},
    {"pstcr_", "nx", 'f', G_FLT, A(pstcr), 0},
    {"pstcrm", "nx", 'f', G_FLT, A(pstcrm), 0},
    {"excite", "nx", 'f', G_PCT, A(excite), 0},
};
#undef A
#define N_GENES (sizeof GENES / sizeof GENES[0])

static const char GENE_PREFIX[] = "_____10c-";

void brain_area_id_to_wire(const char *id, uint8_t wire[BRAIN_AREA_WIRE_LEN])
{
    size_t n = strnlen(id, BRAIN_AREA_WIRE_LEN);
    memset(wire, '_', BRAIN_AREA_WIRE_LEN);
    memcpy(wire, id, n);
}

static bool area_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > BRAIN_AREA_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

void brain_area_defaults(brain_area_t *a, const char *id)
{
    memset(a, 0, sizeof *a);
    snprintf(a->id, sizeof a->id, "%s", id);
    snprintf(a->name, sizeof a->name, "%s", id);
    const char *grp = "CUSTOM";
    switch (id[0]) {
    case 'i':
        grp = "IPU";
        break;
    case 'o':
        grp = "OPU";
        break;
    case '_':
        grp = "CORE";
        break;
    case 'm':
        grp = "MEMORY";
        break;
    default:
        break;
    }
    snprintf(a->group, sizeof a->group, "%s", grp);
    a->dim[0] = a->dim[1] = a->dim[2] = 1;
    a->npv = 1;
    a->visible = true;
    a->fire_t = 1.0;
    a->pstcr = 1.0;
    a->pstcrm = 35.0;
    a->excite = 1.0;
    a->synatt = 100.0;
    a->mem_t = 100;
    a->mem_gr = 1;
    a->mem_ls = 9;
    a->tmpdpt = 1;
}

uint64_t brain_area_neurons(const brain_area_t *a)
{
    return (uint64_t)a->dim[0] * a->dim[1] * a->dim[2] * a->npv;
}

ssize_t brain_genome_area_find(const brain_genome_t *g, const char *id)
{
    for (size_t i = 0; i < g->n_areas; i++)
        if (strcmp(g->areas[i].id, id) == 0)
            return (ssize_t)i;
    return -1;
}

ssize_t brain_genome_area_find_wire(const brain_genome_t *g,
                                    const uint8_t wire[BRAIN_AREA_WIRE_LEN])
{
    for (size_t i = 0; i < g->n_areas; i++)
        if (strlen(g->areas[i].id) == BRAIN_AREA_WIRE_LEN &&
            memcmp(g->areas[i].id, wire, BRAIN_AREA_WIRE_LEN) == 0)
            return (ssize_t)i;
    uint8_t w[BRAIN_AREA_WIRE_LEN];
    for (size_t i = 0; i < g->n_areas; i++) {
        brain_area_id_to_wire(g->areas[i].id, w);
        if (memcmp(w, wire, BRAIN_AREA_WIRE_LEN) == 0)
            return (ssize_t)i;
    }
    return -1;
}

ssize_t brain_genome_morph_find(const brain_genome_t *g, const char *id)
{
    for (size_t i = 0; i < g->n_morphs; i++)
        if (strcmp(g->morphs[i].id, id) == 0)
            return (ssize_t)i;
    return -1;
}

/* ---- parsing ---- */

static void gerr(problem_t **err, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void gerr(problem_t **err, const char *key, const char *fmt, ...)
{
    char ptr[512], msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(ptr, sizeof ptr, "/blueprint/%s", key);
    problem_field_error(err, "body", ptr, "%s", msg);
}

static const gene_t *gene_lookup(const char *gene, const char *level)
{
    for (size_t i = 0; i < N_GENES; i++)
        if (strcmp(GENES[i].gene, gene) == 0 && strcmp(GENES[i].level, level) == 0)
            return &GENES[i];
    return NULL;
}

static int gene_set(brain_area_t *a, const gene_t *ge, const json_t *v, const char *key,
                    problem_t **err)
{
    char *base = (char *)a;
    switch (ge->kind) {
    case G_TEXT:
        if (!json_is_string(v)) {
            gerr(err, key, "%s must be a string", ge->gene);
            return -EINVAL;
        }
        snprintf(base + ge->off, ge->size, "%s", json_string_value(v));
        return 0;
    case G_BOOL:
        if (!json_is_boolean(v) && !json_is_integer(v)) {
            gerr(err, key, "%s must be a boolean", ge->gene);
            return -EINVAL;
        }
        *(bool *)(base + ge->off) =
            json_is_boolean(v) ? json_is_true(v) : json_integer_value(v) != 0;
        return 0;
    default:
        break;
    }
    if (!json_is_number(v)) {
        gerr(err, key, "%s must be a number", ge->gene);
        return -EINVAL;
    }
    double d = json_number_value(v);
    if (!isfinite(d)) {
        gerr(err, key, "%s must be finite", ge->gene);
        return -EINVAL;
    }
    switch (ge->kind) {
    case G_INT:
        if (d < -2147483648.0 || d > 2147483647.0) {
            gerr(err, key, "%s is out of range", ge->gene);
            return -EINVAL;
        }
        *(int32_t *)(base + ge->off) = (int32_t)d;
        break;
    case G_UINT:
        if (d < 0 || d > 4294967295.0) {
            gerr(err, key, "%s must be a non-negative integer", ge->gene);
            return -EINVAL;
        }
        *(uint32_t *)(base + ge->off) = (uint32_t)d;
        break;
    case G_PCT:
        if (d < 0) {
            gerr(err, key, "%s must not be negative", ge->gene);
            return -EINVAL;
        }
        /* FEAGI genomes write excitability in percent (100 = always); feagi-core as 0..1. */
        a->excite_pct = d > 1.0;
        *(double *)(base + ge->off) = d > 1.0 ? (d > 100.0 ? 1.0 : d / 100.0) : d;
        break;
    default:
        *(double *)(base + ge->off) = d;
        break;
    }
    return 0;
}

static int rule_parse(brain_rule_t *r, const json_t *v, const char *key, const char *dst, size_t i,
                      problem_t **err)
{
    char ptr[600];
    snprintf(ptr, sizeof ptr, "/blueprint/%s/%s/%zu", key, dst, i);
    memset(r, 0, sizeof *r);
    r->scalar[0] = r->scalar[1] = r->scalar[2] = 1;
    r->psc_multiplier = 1;
    r->ltp_multiplier = r->ltd_multiplier = 1;
    r->plasticity_constant = 1;
    const json_t *morph, *scalar, *psc, *pf = NULL, *pc = NULL, *ltp = NULL, *ltd = NULL,
                                        *pw = NULL;
    if (json_is_array(v)) {
        size_t n = json_array_size(v);
        if (n != 7 && n != 8) {
            problem_field_error(err, "body", ptr,
                                "a rule has 7 or 8 elements "
                                "[morphology, scalar, psc_multiplier, plasticity_flag, "
                                "plasticity_constant, ltp_multiplier, ltd_multiplier(, window)], "
                                "not %zu",
                                n);
            return -EINVAL;
        }
        r->arity = (int)n;
        morph = json_array_get(v, 0);
        scalar = json_array_get(v, 1);
        psc = json_array_get(v, 2);
        pf = json_array_get(v, 3);
        pc = json_array_get(v, 4);
        ltp = json_array_get(v, 5);
        ltd = json_array_get(v, 6);
        pw = n == 8 ? json_array_get(v, 7) : NULL;
    } else if (json_is_object(v)) {
        r->arity = 0;
        morph = json_object_get(v, "morphology_id");
        scalar = json_object_get(v, "morphology_scalar");
        psc = json_object_get(v, "postSynapticCurrent_multiplier");
        pf = json_object_get(v, "plasticity_flag");
        pc = json_object_get(v, "plasticity_constant");
        ltp = json_object_get(v, "ltp_multiplier");
        ltd = json_object_get(v, "ltd_multiplier");
        pw = json_object_get(v, "plasticity_window");
        if (!psc)
            psc = json_object_get(v, "postsynaptic_current_multiplier");
    } else {
        problem_field_error(err, "body", ptr, "a rule is an array or an object");
        return -EINVAL;
    }
    int rc = 0;
    if (!json_is_string(morph) || strlen(json_string_value(morph)) > BRAIN_MORPH_ID_MAX) {
        problem_field_error(err, "body", ptr, "the rule's morphology must be a morphology id");
        return -EINVAL;
    }
    snprintf(r->morphology, sizeof r->morphology, "%s", json_string_value(morph));
    if (scalar) {
        if (!json_is_array(scalar) || json_array_size(scalar) != 3) {
            problem_field_error(err, "body", ptr, "the scalar must be [sx, sy, sz]");
            rc = -EINVAL;
        } else {
            for (int k = 0; k < 3; k++) {
                const json_t *e = json_array_get(scalar, (size_t)k);
                if (!json_is_integer(e) || json_integer_value(e) < -65535 ||
                    json_integer_value(e) > 65535) {
                    problem_field_error(err, "body", ptr, "scalar elements are integers");
                    rc = -EINVAL;
                    break;
                }
                r->scalar[k] = (int32_t)json_integer_value(e);
            }
        }
    }
    if (psc) {
        if (!json_is_number(psc) || !isfinite(json_number_value(psc))) {
            problem_field_error(err, "body", ptr, "psc_multiplier must be a number");
            rc = -EINVAL;
        } else
            r->psc_multiplier = json_number_value(psc);
    }
    if (pf) {
        if (!json_is_boolean(pf)) {
            problem_field_error(err, "body", ptr, "plasticity_flag must be a boolean");
            rc = -EINVAL;
        } else
            r->plasticity = json_is_true(pf);
    }
    const json_t *nums[3] = {pc, ltp, ltd};
    double *dsts[3] = {&r->plasticity_constant, &r->ltp_multiplier, &r->ltd_multiplier};
    for (int k = 0; k < 3; k++) {
        if (!nums[k])
            continue;
        if (!json_is_number(nums[k])) {
            problem_field_error(err, "body", ptr, "plasticity numbers must be numbers");
            rc = -EINVAL;
        } else
            *dsts[k] = json_number_value(nums[k]);
    }
    if (pw) {
        if (!json_is_integer(pw)) {
            problem_field_error(err, "body", ptr, "plasticity_window must be an integer");
            rc = -EINVAL;
        } else
            r->plasticity_window = (int32_t)json_integer_value(pw);
    }
    return rc;
}

static int dstmap_parse(brain_area_t *a, const json_t *v, const char *key, problem_t **err)
{
    if (!json_is_object(v)) {
        gerr(err, key, "%s must be an object of destination id → rules", "dstmap");
        return -EINVAL;
    }
    /* The gene's type suffix is free ("-d", "-m" ...), so two keys can name one area's dstmap:
     * refused, rather than the second parsed over the first's array. */
    if (a->maps) {
        gerr(err, key, "area '%s' has a second %s gene", a->id, "dstmap");
        return -EINVAL;
    }
    size_t n = json_object_size(v);
    if (n > BRAIN_GENOME_MAX_AREAS) {
        gerr(err, key, "%s has more destinations than areas allowed", "dstmap");
        return -E2BIG;
    }
    a->maps = calloc(n ? n : 1, sizeof *a->maps);
    if (!a->maps)
        return -ENOMEM;
    int rc = 0;
    const char *dst;
    const json_t *rules;
    json_object_foreach((json_t *)(uintptr_t)v, dst, rules)
    {
        brain_mapping_t *m = &a->maps[a->n_maps];
        if (!area_id_ok(dst)) {
            gerr(err, key, "destination '%s' is not a cortical id", dst);
            rc = -EINVAL;
            continue;
        }
        snprintf(m->dst, sizeof m->dst, "%s", dst);
        if (!json_is_array(rules) || json_array_size(rules) > BRAIN_GENOME_MAX_RULES) {
            gerr(err, key, "the rules to '%s' must be an array of at most 128 rules", dst);
            rc = -EINVAL;
            continue;
        }
        size_t nr = json_array_size(rules);
        m->rules = calloc(nr ? nr : 1, sizeof *m->rules);
        if (!m->rules)
            return -ENOMEM;
        a->n_maps++;
        for (size_t i = 0; i < nr; i++) {
            if (rule_parse(&m->rules[m->n_rules], json_array_get(rules, i), key, dst, i, err) == 0)
                m->n_rules++;
            else
                rc = -EINVAL;
        }
    }
    return rc;
}

static int pat_elem(brain_pat_elem_t *e, const json_t *v)
{
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x < -65535 || x > 65535)
            return -EINVAL;
        e->kind = BRAIN_PAT_EXACT;
        e->value = (int32_t)x;
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "*") == 0)
            e->kind = BRAIN_PAT_ANY;
        else if (strcmp(s, "?") == 0)
            e->kind = BRAIN_PAT_SAME;
        else if (strcmp(s, "!") == 0)
            e->kind = BRAIN_PAT_OTHER;
        else
            return -EINVAL;
        return 0;
    }
    return -EINVAL;
}

static brain_fn_t fn_by_id(const char *id)
{
    static const struct {
        const char *id;
        brain_fn_t fn;
    } T[] = {{"projector", BRAIN_FN_PROJECTOR},
             {"block_to_block", BRAIN_FN_BLOCK_TO_BLOCK},
             {"expander_x", BRAIN_FN_EXPANDER_X},
             {"reducer_x", BRAIN_FN_REDUCER_X},
             {"randomizer", BRAIN_FN_RANDOMIZER},
             {"all_to_all", BRAIN_FN_ALL_TO_ALL},
             {"lateral_pairs_x", BRAIN_FN_LATERAL_PAIRS_X}};
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        if (strcmp(T[i].id, id) == 0)
            return T[i].fn;
    return BRAIN_FN_UNSUPPORTED;
}

static void morph_free(brain_morph_t *m)
{
    free(m->vectors);
    free(m->patterns);
    m->vectors = NULL;
    m->patterns = NULL;
}

/* Parses one morphology object into *m; errors point at /neuron_morphologies/<id>. */
static int morph_parse(brain_morph_t *m, const char *id, const json_t *v, problem_t **err)
{
    char ptr[300];
    snprintf(ptr, sizeof ptr, "/neuron_morphologies/%s", id);
    memset(m, 0, sizeof *m);
    if (strlen(id) == 0 || strlen(id) > BRAIN_MORPH_ID_MAX) {
        problem_field_error(err, "body", ptr, "a morphology id has 1..%d characters",
                            BRAIN_MORPH_ID_MAX);
        return -EINVAL;
    }
    snprintf(m->id, sizeof m->id, "%s", id);
    const json_t *type = json_object_get(v, "type");
    const json_t *params = json_object_get(v, "parameters");
    const json_t *cls = json_object_get(v, "class");
    if (!json_is_object(v) || !json_is_string(type)) {
        problem_field_error(err, "body", ptr, "a morphology is an object with a type");
        return -EINVAL;
    }
    snprintf(m->cls, sizeof m->cls, "%s", json_is_string(cls) ? json_string_value(cls) : "custom");
    const char *t = json_string_value(type);
    if (strcmp(t, "vectors") == 0) {
        m->type = BRAIN_MORPH_VECTORS;
        const json_t *vec = json_object_get(params, "vectors");
        if (!json_is_array(vec) || json_array_size(vec) > BRAIN_GENOME_MAX_VECTORS) {
            problem_field_error(err, "body", ptr,
                                "vectors morphologies need parameters.vectors, "
                                "an array of at most 4096 [x, y, z]");
            return -EINVAL;
        }
        size_t n = json_array_size(vec);
        m->vectors = calloc(n ? n : 1, sizeof *m->vectors);
        if (!m->vectors)
            return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
            const json_t *e = json_array_get(vec, i);
            bool ok = json_is_array(e) && json_array_size(e) == 3;
            for (int k = 0; ok && k < 3; k++) {
                const json_t *c = json_array_get(e, (size_t)k);
                ok = json_is_integer(c) && json_integer_value(c) >= -65535 &&
                     json_integer_value(c) <= 65535;
                if (ok)
                    m->vectors[i][k] = (int32_t)json_integer_value(c);
            }
            if (!ok) {
                problem_field_error(err, "body", ptr, "vector %zu is not [x, y, z] of integers", i);
                morph_free(m);
                return -EINVAL;
            }
        }
        m->n_items = n;
    } else if (strcmp(t, "patterns") == 0) {
        m->type = BRAIN_MORPH_PATTERNS;
        const json_t *pat = json_object_get(params, "patterns");
        if (!json_is_array(pat) || json_array_size(pat) > BRAIN_GENOME_MAX_VECTORS) {
            problem_field_error(err, "body", ptr,
                                "patterns morphologies need parameters.patterns, "
                                "an array of at most 4096 [src, dst] pairs");
            return -EINVAL;
        }
        size_t n = json_array_size(pat);
        m->patterns = calloc(n ? n : 1, sizeof *m->patterns);
        if (!m->patterns)
            return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
            const json_t *e = json_array_get(pat, i);
            bool ok = json_is_array(e) && json_array_size(e) == 2;
            for (int s = 0; ok && s < 2; s++) {
                const json_t *side = json_array_get(e, (size_t)s);
                ok = json_is_array(side) && json_array_size(side) == 3;
                for (int k = 0; ok && k < 3; k++) {
                    brain_pat_elem_t *pe = s == 0 ? &m->patterns[i].src[k] : &m->patterns[i].dst[k];
                    ok = pat_elem(pe, json_array_get(side, (size_t)k)) == 0;
                }
            }
            if (!ok) {
                problem_field_error(err, "body", ptr,
                                    "pattern %zu is not [[x, y, z], [x, y, z]] of integers or "
                                    "\"*\", \"?\", \"!\"",
                                    i);
                morph_free(m);
                return -EINVAL;
            }
        }
        m->n_items = n;
    } else if (strcmp(t, "functions") == 0) {
        m->type = BRAIN_MORPH_FUNCTIONS;
        m->fn = fn_by_id(id);
    } else if (strcmp(t, "composite") == 0) {
        m->type = BRAIN_MORPH_COMPOSITE;
    } else {
        problem_field_error(err, "body", ptr,
                            "type must be vectors, patterns, functions or composite, not '%s'", t);
        return -EINVAL;
    }
    return 0;
}

static void area_free(brain_area_t *a)
{
    for (size_t i = 0; i < a->n_maps; i++)
        free(a->maps[i].rules);
    free(a->maps);
    a->maps = NULL;
    a->n_maps = 0;
}

void brain_genome_destroy(brain_genome_t **gp)
{
    if (!gp || !*gp)
        return;
    brain_genome_t *g = *gp;
    for (size_t i = 0; i < g->n_areas; i++)
        area_free(&g->areas[i]);
    for (size_t i = 0; i < g->n_morphs; i++)
        morph_free(&g->morphs[i]);
    free(g->areas);
    free(g->morphs);
    json_decref(g->doc);
    free(g);
    *gp = NULL;
}

/* Splits a gene key into area id, level and gene name; false when it is not a gene key. */
static bool gene_key_split(const char *key, char id[BRAIN_AREA_ID_MAX + 1], char level[3],
                           char gene[8])
{
    if (strncmp(key, GENE_PREFIX, sizeof GENE_PREFIX - 1) != 0)
        return false;
    const char *p = key + sizeof GENE_PREFIX - 1;
    const char *d1 = strchr(p, '-');
    if (!d1 || d1 - p > BRAIN_AREA_ID_MAX || d1 == p)
        return false;
    memcpy(id, p, (size_t)(d1 - p));
    id[d1 - p] = 0;
    const char *q = d1 + 1;
    if (strncmp(q, "cx-", 3) != 0 && strncmp(q, "nx-", 3) != 0)
        return false;
    memcpy(level, q, 2);
    level[2] = 0;
    const char *r = q + 3;
    const char *d3 = strrchr(r, '-');
    if (!d3 || d3 - r != 6 || strlen(d3) != 2)
        return false;
    memcpy(gene, r, 6);
    gene[6] = 0;
    return true;
}

/* The nested form ({"blueprint": {"cortical_areas": {...}}, "morphologies": {...}}): rewritten
 * into the flat form in the document itself, so everything after sees one format. */
static int nested_flatten(json_t *doc, problem_t **err)
{
    json_t *bp = json_object_get(doc, "blueprint");
    json_t *areas = json_object_get(bp, "cortical_areas");
    if (!json_is_object(areas))
        return 0;
    json_t *flat = json_object();
    const char *k;
    json_t *a;
    json_object_foreach(areas, k, a)
    {
        const json_t *idv = json_object_get(a, "cortical_id");
        if (!json_is_string(idv) || !area_id_ok(json_string_value(idv))) {
            char ptr[300];
            snprintf(ptr, sizeof ptr, "/blueprint/cortical_areas/%s/cortical_id", k);
            problem_field_error(err, "body", ptr, "a cortical id has 1..8 characters [A-Za-z0-9_]");
            json_decref(flat);
            return -EINVAL;
        }
        const char *id = json_string_value(idv);
        char key[128];
#define SETG(gene, lvl, t, val)                                                                    \
    do {                                                                                           \
        snprintf(key, sizeof key, "%s%s-%s-%s-%s", GENE_PREFIX, id, lvl, gene, t);                 \
        json_object_set_new(flat, key, val);                                                       \
    } while (0)
        const json_t *name = json_object_get(a, "cortical_name");
        if (json_is_string(name))
            SETG("__name", "cx", "t", json_copy((json_t *)(uintptr_t)name));
        const char *axes[3] = {"x", "y", "z"};
        const char *bb[3] = {"___bbx", "___bby", "___bbz"};
        const char *rc[3] = {"rcordx", "rcordy", "rcordz"};
        for (int i = 0; i < 3; i++) {
            const json_t *dv = json_object_get(json_object_get(a, "dimensions"), axes[i]);
            if (dv)
                SETG(bb[i], "cx", "i", json_copy((json_t *)(uintptr_t)dv));
            const json_t *lv = json_object_get(json_object_get(a, "location"), axes[i]);
            if (lv)
                SETG(rc[i], "cx", "i", json_copy((json_t *)(uintptr_t)lv));
        }
        const json_t *npv = json_object_get(a, "cortical_neuron_per_voxel_count");
        if (npv)
            SETG("_n_cnt", "cx", "i", json_copy((json_t *)(uintptr_t)npv));
        /* cortical_mapping_dstn: {dst: {cortical_mapping_type, postsynaptic_current}}; the
         * fully connected type is all_to_all. */
        json_t *dm = json_object();
        const char *dst;
        json_t *mv;
        json_object_foreach(json_object_get(a, "cortical_mapping_dstn"), dst, mv)
        {
            /* the mapping's postsynaptic_current, when given, is the synapses' weight */
            const json_t *pc = json_object_get(mv, "postsynaptic_current");
            json_t *psc = json_is_number(pc) ? json_copy((json_t *)(uintptr_t)pc) : json_integer(1);
            json_t *rule = json_pack("[s[iii]obiii]", "all_to_all", 1, 1, 1, psc, 0, 1, 1, 1);
            json_object_set_new(dm, dst, json_pack("[o]", rule));
        }
        SETG("dstmap", "cx", "d", dm);
        /* neuron parameters from its morphology_id in "morphologies" */
        const json_t *mid = json_object_get(a, "morphology_id");
        const json_t *mp = json_object_get(
            json_object_get(json_object_get(doc, "morphologies"), json_string_value(mid)),
            "parameters");
        static const struct {
            const char *p, *gene, *t;
        } NP[] = {{"firing_threshold_starting_value", "fire_t", "f"},
                  {"firing_threshold_limit", "fthlim", "f"},
                  {"leak_coefficient", "leak_c", "f"},
                  {"leak_variability", "leak_v", "f"},
                  {"refractory_period", "refrac", "i"},
                  {"snooze_length", "snooze", "f"},
                  {"consecutive_fire_cnt_max", "c_fr_c", "i"},
                  {"mp_charge_accumulation", "mp_acc", "b"},
                  {"mp_driven_psp", "mp_psp", "b"},
                  {"postsynaptic_current", "pstcr_", "f"}};
        for (size_t i = 0; mp && i < sizeof NP / sizeof NP[0]; i++) {
            const json_t *pv = json_object_get(mp, NP[i].p);
            if (pv)
                SETG(NP[i].gene, "nx", NP[i].t, json_copy((json_t *)(uintptr_t)pv));
        }
        const json_t *uni = mp ? json_object_get(mp, "psp_uniform_distribution") : NULL;
        if (uni)
            SETG("pspuni", "cx", "b", json_copy((json_t *)(uintptr_t)uni));
#undef SETG
    }
    json_object_set_new(doc, "blueprint", flat);
    /* neuron models are not connectivity morphologies: the flat form has none of them */
    json_t *nm = json_object();
    json_object_set_new(nm, "all_to_all",
                        json_pack("{s:s,s:s,s:{s:[[[s,s,s],[s,s,s]]]}}", "type", "patterns",
                                  "class", "core", "parameters", "patterns", "*", "*", "*", "*",
                                  "*", "*"));
    if (!json_object_get(doc, "neuron_morphologies"))
        json_object_set_new(doc, "neuron_morphologies", nm);
    else
        json_decref(nm);
    return 0;
}

static int physiology_parse(brain_genome_t *g, problem_t **err)
{
    brain_physiology_t *p = &g->physiology;
    p->simulation_timestep = 0.1;
    const json_t *ph = json_object_get(g->doc, "physiology");
    if (!ph)
        return 0;
    if (!json_is_object(ph)) {
        problem_field_error(err, "body", "/physiology", "physiology must be an object");
        return -EINVAL;
    }
    const json_t *ts = json_object_get(ph, "simulation_timestep");
    if (!ts)
        ts = json_object_get(ph, "burst_delay");
    if (ts) {
        double d = json_number_value(ts);
        if (!json_is_number(ts) || !(d >= 0.001 && d <= 3600)) {
            problem_field_error(err, "body", "/physiology/simulation_timestep",
                                "simulation_timestep is seconds per burst, 0.001..3600");
            return -EINVAL;
        }
        p->simulation_timestep = d;
    }
    static const char *ints[] = {"max_age", "evolution_burst_count", "ipu_idle_threshold",
                                 "plasticity_queue_depth", "lifespan_mgmt_interval"};
    int64_t *dst[] = {&p->max_age, &p->evolution_burst_count, &p->ipu_idle_threshold,
                      &p->plasticity_queue_depth, &p->lifespan_mgmt_interval};
    for (int i = 0; i < 5; i++) {
        const json_t *v = json_object_get(ph, ints[i]);
        if (json_is_number(v))
            *dst[i] = (int64_t)json_number_value(v);
    }
    return 0;
}

static void text_copy(char *dst, size_t n, const json_t *v)
{
    if (json_is_string(v))
        snprintf(dst, n, "%s", json_string_value(v));
    else if (json_is_number(v))
        snprintf(dst, n, "%g", json_number_value(v));
}

int brain_genome_from_json(json_t *doc, brain_genome_t **out, problem_t **err)
{
    *out = NULL;
    if (!json_is_object(doc)) {
        json_decref(doc);
        problem_field_error(err, "body", "", "a genome is a JSON object");
        return -EINVAL;
    }
    brain_genome_t *g = calloc(1, sizeof *g);
    if (!g) {
        json_decref(doc);
        return -ENOMEM;
    }
    g->doc = doc;
    int rc = nested_flatten(doc, err);
    if (rc == 0)
        rc = physiology_parse(g, err);
    if (rc < 0)
        goto fail;
    text_copy(g->genome_id, sizeof g->genome_id, json_object_get(doc, "genome_id"));
    text_copy(g->title, sizeof g->title, json_object_get(doc, "genome_title"));
    text_copy(g->version, sizeof g->version, json_object_get(doc, "version"));
    g->regions = json_object_get(doc, "brain_regions");

    /* morphologies */
    const json_t *morphs = json_object_get(doc, "neuron_morphologies");
    if (morphs && !json_is_object(morphs)) {
        problem_field_error(err, "body", "/neuron_morphologies", "must be an object");
        rc = -EINVAL;
        goto fail;
    }
    if (json_object_size(morphs) > BRAIN_GENOME_MAX_MORPHS) {
        problem_field_error(err, "body", "/neuron_morphologies", "more than %u morphologies",
                            BRAIN_GENOME_MAX_MORPHS);
        rc = -E2BIG;
        goto fail;
    }
    g->morphs = calloc(json_object_size(morphs) + 1, sizeof *g->morphs);
    if (!g->morphs) {
        rc = -ENOMEM;
        goto fail;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)(uintptr_t)morphs, k, v)
    {
        int r = morph_parse(&g->morphs[g->n_morphs], k, v, err);
        if (r == 0)
            g->n_morphs++;
        else if (r == -ENOMEM) {
            rc = r;
            goto fail;
        } else
            rc = -EINVAL;
    }

    /* areas: first pass finds the ids, second sets genes */
    const json_t *bp = json_object_get(doc, "blueprint");
    if (!json_is_object(bp)) {
        problem_field_error(err, "body", "/blueprint", "a genome needs a blueprint object");
        rc = -EINVAL;
        goto fail;
    }
    size_t cap = 16;
    g->areas = calloc(cap, sizeof *g->areas);
    if (!g->areas) {
        rc = -ENOMEM;
        goto fail;
    }
    json_object_foreach((json_t *)(uintptr_t)bp, k, v)
    {
        char id[BRAIN_AREA_ID_MAX + 1], level[3], gene[8];
        if (!gene_key_split(k, id, level, gene))
            continue; /* unknown key: kept in doc */
        if (!area_id_ok(id)) {
            gerr(err, k, "'%s' is not a cortical id (1..8 characters [A-Za-z0-9_])", id);
            rc = -EINVAL;
            continue;
        }
        if (brain_genome_area_find(g, id) >= 0)
            continue;
        if (g->n_areas == BRAIN_GENOME_MAX_AREAS) {
            gerr(err, k, "more than %s cortical areas", "1024");
            rc = -E2BIG;
            goto fail;
        }
        if (g->n_areas == cap) {
            brain_area_t *na = realloc(g->areas, cap * 2 * sizeof *na);
            if (!na) {
                rc = -ENOMEM;
                goto fail;
            }
            g->areas = na;
            cap *= 2;
        }
        brain_area_defaults(&g->areas[g->n_areas++], id);
    }
    json_object_foreach((json_t *)(uintptr_t)bp, k, v)
    {
        char id[BRAIN_AREA_ID_MAX + 1], level[3], gene[8];
        if (!gene_key_split(k, id, level, gene) || !area_id_ok(id))
            continue;
        brain_area_t *a = &g->areas[brain_genome_area_find(g, id)];
        if (strcmp(gene, "dstmap") == 0 && strcmp(level, "cx") == 0) {
            int r = dstmap_parse(a, v, k, err);
            if (r == -ENOMEM) {
                rc = r;
                goto fail;
            }
            if (r < 0)
                rc = r;
            continue;
        }
        const gene_t *ge = gene_lookup(gene, level);
        if (ge && gene_set(a, ge, v, k, err) < 0)
            rc = -EINVAL;
    }
    if (rc < 0)
        goto fail;
    rc = brain_genome_validate(g, err);
    if (rc < 0)
        goto fail;
    *out = g;
    return 0;
fail:
    if (!*err && rc != -ENOMEM)
        *err = problem_new(422, "validation", "the genome is not valid");
    brain_genome_destroy(&g);
    return rc;
}

int brain_genome_parse(const char *text, size_t len, brain_genome_t **out, problem_t **err)
{
    *out = NULL;
    if (len > BRAIN_GENOME_MAX_BYTES) {
        *err = problem_new(413, "too-large", "the genome has %zu bytes, more than the %u allowed",
                           len, BRAIN_GENOME_MAX_BYTES);
        problem_ext_set(*err, "max_bytes", json_integer(BRAIN_GENOME_MAX_BYTES));
        return -E2BIG;
    }
    /* bounded like every request body: depth, and values in proportion to the length */
    json_t *doc = jsonx_parse(text, len, 64, err);
    if (!doc)
        return -EINVAL;
    return brain_genome_from_json(doc, out, err);
}

static void area_ptr(char *buf, size_t n, const char *id, const char *level, const char *gene,
                     char t)
{
    snprintf(buf, n, "/blueprint/%s%s-%s-%s-%c", GENE_PREFIX, id, level, gene, t);
}

int brain_genome_validate(const brain_genome_t *g, problem_t **err)
{
    int rc = 0;
    uint64_t total = 0;
    char ptr[256];
    for (size_t i = 0; i < g->n_areas; i++) {
        const brain_area_t *a = &g->areas[i];
        static const char *bb[3] = {"___bbx", "___bby", "___bbz"};
        uint64_t vox = 1;
        for (int d = 0; d < 3; d++) {
            if (a->dim[d] < 1 || a->dim[d] > BRAIN_GENOME_MAX_DIM) {
                area_ptr(ptr, sizeof ptr, a->id, "cx", bb[d], 'i');
                problem_field_error(err, "body", ptr,
                                    "area %s: a dimension is 1..%u voxels, not %u", a->id,
                                    BRAIN_GENOME_MAX_DIM, a->dim[d]);
                rc = -EINVAL;
            }
            vox *= a->dim[d] ? a->dim[d] : 1;
        }
        if (vox > BRAIN_GENOME_MAX_AREA_VOXELS) {
            area_ptr(ptr, sizeof ptr, a->id, "cx", "___bbx", 'i');
            problem_field_error(err, "body", ptr, "area %s has %llu voxels, more than %u", a->id,
                                (unsigned long long)vox, BRAIN_GENOME_MAX_AREA_VOXELS);
            rc = -EINVAL;
        }
        if (a->npv < 1 || a->npv > BRAIN_GENOME_MAX_NPV) {
            area_ptr(ptr, sizeof ptr, a->id, "cx", "_n_cnt", 'i');
            problem_field_error(err, "body", ptr, "area %s: neurons per voxel are 1..%u, not %u",
                                a->id, BRAIN_GENOME_MAX_NPV, a->npv);
            rc = -EINVAL;
        } else if (vox * a->npv > BRAIN_GENOME_MAX_AREA_NEURONS) {
            area_ptr(ptr, sizeof ptr, a->id, "cx", "_n_cnt", 'i');
            problem_field_error(err, "body", ptr, "area %s has %llu neurons, more than %u", a->id,
                                (unsigned long long)(vox * a->npv), BRAIN_GENOME_MAX_AREA_NEURONS);
            rc = -EINVAL;
        }
        total += vox * a->npv;
        /* a consecutive-fire limit above 65535 is no limit (the engine counts in 16 bits) */
        static const char *gn[2] = {"refrac", "snooze"};
        const uint32_t gv[2] = {a->refrac, a->snooze};
        for (int k = 0; k < 2; k++)
            if (gv[k] > 65535) {
                area_ptr(ptr, sizeof ptr, a->id, "nx", gn[k], k == 0 ? 'i' : 'f');
                problem_field_error(err, "body", ptr, "area %s: %s is at most 65535 bursts, not %u",
                                    a->id, gn[k], gv[k]);
                rc = -EINVAL;
            }
        for (size_t m = 0; m < a->n_maps; m++) {
            const brain_mapping_t *mp = &a->maps[m];
            area_ptr(ptr, sizeof ptr, a->id, "cx", "dstmap", 'd');
            size_t pl = strlen(ptr);
            snprintf(ptr + pl, sizeof ptr - pl, "/%s", mp->dst);
            if (brain_genome_area_find(g, mp->dst) < 0) {
                problem_field_error(err, "body", ptr, "area %s maps to '%s', which does not exist",
                                    a->id, mp->dst);
                rc = -EINVAL;
            }
            for (size_t r = 0; r < mp->n_rules; r++)
                if (brain_genome_morph_find(g, mp->rules[r].morphology) < 0) {
                    char rp[300];
                    snprintf(rp, sizeof rp, "%s/%zu", ptr, r);
                    problem_field_error(err, "body", rp, "area %s: morphology '%s' does not exist",
                                        a->id, mp->rules[r].morphology);
                    rc = -EINVAL;
                }
        }
    }
    if (total > BRAIN_NET_MAX_NEURONS) {
        problem_field_error(err, "body", "/blueprint",
                            "the genome has %llu neurons, more than the %u allowed",
                            (unsigned long long)total, BRAIN_NET_MAX_NEURONS);
        rc = -EINVAL;
    }
    return rc;
}

/* ---- writing back ---- */

static json_t *rule_to_json(const brain_rule_t *r)
{
    json_t *sc = json_pack("[iii]", r->scalar[0], r->scalar[1], r->scalar[2]);
    json_t *psc = (r->psc_multiplier == floor(r->psc_multiplier) && fabs(r->psc_multiplier) < 1e9)
                      ? json_integer((json_int_t)r->psc_multiplier)
                      : json_real(r->psc_multiplier);
    if (r->arity == 0) {
        json_t *o = json_object();
        json_object_set_new(o, "morphology_id", json_string(r->morphology));
        json_object_set_new(o, "morphology_scalar", sc);
        json_object_set_new(o, "postSynapticCurrent_multiplier", psc);
        json_object_set_new(o, "plasticity_flag", json_boolean(r->plasticity));
        json_object_set_new(o, "plasticity_constant", json_real(r->plasticity_constant));
        json_object_set_new(o, "ltp_multiplier", json_real(r->ltp_multiplier));
        json_object_set_new(o, "ltd_multiplier", json_real(r->ltd_multiplier));
        json_object_set_new(o, "plasticity_window", json_integer(r->plasticity_window));
        return o;
    }
    json_t *a = json_array();
    json_array_append_new(a, json_string(r->morphology));
    json_array_append_new(a, sc);
    json_array_append_new(a, psc);
    json_array_append_new(a, json_boolean(r->plasticity));
    const double nums[3] = {r->plasticity_constant, r->ltp_multiplier, r->ltd_multiplier};
    for (int i = 0; i < 3; i++)
        json_array_append_new(a, nums[i] == floor(nums[i]) && fabs(nums[i]) < 1e9
                                     ? json_integer((json_int_t)nums[i])
                                     : json_real(nums[i]));
    if (r->arity == 8)
        json_array_append_new(a, json_integer(r->plasticity_window));
    return a;
}

json_t *brain_rules_to_json(const brain_mapping_t *m)
{
    json_t *a = json_array();
    for (size_t i = 0; i < m->n_rules; i++)
        json_array_append_new(a, rule_to_json(&m->rules[i]));
    return a;
}

static json_t *gene_to_json(const brain_area_t *a, const gene_t *ge, const json_t *orig)
{
    const char *base = (const char *)a;
    switch (ge->kind) {
    case G_TEXT:
        return json_string(base + ge->off);
    case G_BOOL:
        return json_boolean(*(const bool *)(base + ge->off));
    case G_INT:
        return json_integer(*(const int32_t *)(base + ge->off));
    case G_UINT: {
        uint32_t u = *(const uint32_t *)(base + ge->off);
        return json_is_real(orig) ? json_real(u) : json_integer(u);
    }
    case G_PCT: {
        double d = a->excite_pct ? a->excite * 100.0 : a->excite;
        if (d == floor(d) && !json_is_real(orig))
            return json_integer((json_int_t)d);
        return json_real(d);
    }
    default: {
        double d = *(const double *)(base + ge->off);
        /* keep integers integers, as FEAGI writes most float genes */
        if (d == floor(d) && fabs(d) < 1e15 && !json_is_real(orig))
            return json_integer((json_int_t)d);
        return json_real(d);
    }
    }
}

json_t *brain_morph_to_json(const brain_morph_t *m)
{
    static const char *types[] = {"vectors", "patterns", "functions", "composite"};
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(types[m->type]));
    json_object_set_new(o, "class", json_string(m->cls));
    json_t *p = json_object();
    if (m->type == BRAIN_MORPH_VECTORS) {
        json_t *v = json_array();
        for (size_t i = 0; i < m->n_items; i++)
            json_array_append_new(
                v, json_pack("[iii]", m->vectors[i][0], m->vectors[i][1], m->vectors[i][2]));
        json_object_set_new(p, "vectors", v);
    } else if (m->type == BRAIN_MORPH_PATTERNS) {
        json_t *v = json_array();
        for (size_t i = 0; i < m->n_items; i++) {
            json_t *pair = json_array();
            for (int s = 0; s < 2; s++) {
                const brain_pat_elem_t *e = s == 0 ? m->patterns[i].src : m->patterns[i].dst;
                json_t *side = json_array();
                for (int k = 0; k < 3; k++) {
                    static const char *sym[] = {NULL, "*", "?", "!"};
                    json_array_append_new(side, e[k].kind == BRAIN_PAT_EXACT
                                                    ? json_integer(e[k].value)
                                                    : json_string(sym[e[k].kind]));
                }
                json_array_append_new(pair, side);
            }
            json_array_append_new(v, pair);
        }
        json_object_set_new(p, "patterns", v);
    }
    json_object_set_new(o, "parameters", p);
    return o;
}

json_t *brain_genome_to_json(const brain_genome_t *g)
{
    json_t *doc = json_deep_copy(g->doc);
    if (!doc)
        return NULL;
    json_t *bp = json_object_get(doc, "blueprint");
    /* drop the genes of areas that no longer exist */
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(bp, tmp, k, v)
    {
        char id[BRAIN_AREA_ID_MAX + 1], level[3], gene[8];
        if (!gene_key_split(k, id, level, gene))
            continue;
        if (brain_genome_area_find(g, id) < 0) {
            json_object_del(bp, k);
            continue;
        }
        /* a known gene under another type suffix ("dstmap-m", "___bbx-f"): it is written below
         * under its own key, and left here it would be read again over that one on reload */
        const gene_t *ge = gene_lookup(gene, level);
        char own = ge                                                        ? ge->type
                   : strcmp(gene, "dstmap") == 0 && strcmp(level, "cx") == 0 ? 'd'
                                                                             : 0;
        if (own && k[strlen(k) - 1] != own)
            json_object_del(bp, k);
    }
    char key[128];
    for (size_t i = 0; i < g->n_areas; i++) {
        const brain_area_t *a = &g->areas[i];
        for (size_t j = 0; j < N_GENES; j++) {
            const gene_t *ge = &GENES[j];
            snprintf(key, sizeof key, "%s%s-%s-%s-%c", GENE_PREFIX, a->id, ge->level, ge->gene,
                     ge->type);
            json_object_set_new(bp, key, gene_to_json(a, ge, json_object_get(bp, key)));
        }
        snprintf(key, sizeof key, "%s%s-cx-dstmap-d", GENE_PREFIX, a->id);
        json_t *dm = json_object();
        for (size_t m = 0; m < a->n_maps; m++)
            json_object_set_new(dm, a->maps[m].dst, brain_rules_to_json(&a->maps[m]));
        json_object_set_new(bp, key, dm);
    }
    json_t *nm = json_object_get(doc, "neuron_morphologies");
    if (!json_is_object(nm)) {
        nm = json_object();
        json_object_set_new(doc, "neuron_morphologies", nm);
    }
    json_object_foreach_safe(nm, tmp, k, v)
    {
        if (brain_genome_morph_find(g, k) < 0)
            json_object_del(nm, k);
    }
    for (size_t i = 0; i < g->n_morphs; i++) {
        const brain_morph_t *m = &g->morphs[i];
        json_t *mine = brain_morph_to_json(m);
        json_t *old = json_object_get(nm, m->id);
        if (json_is_object(old)) {
            /* keep keys we do not model (dimension_sensitive, composite parameters) */
            if (m->type == BRAIN_MORPH_COMPOSITE || m->type == BRAIN_MORPH_FUNCTIONS)
                json_object_del(mine, "parameters");
            json_object_update(old, mine);
            json_decref(mine);
        } else
            json_object_set_new(nm, m->id, mine);
    }
    json_t *ph = json_object_get(doc, "physiology");
    if (!json_is_object(ph)) {
        ph = json_object();
        json_object_set_new(doc, "physiology", ph);
    }
    json_object_set_new(ph, "simulation_timestep", json_real(g->physiology.simulation_timestep));
    return doc;
}

brain_genome_t *brain_genome_clone(const brain_genome_t *g)
{
    json_t *doc = brain_genome_to_json(g);
    if (!doc)
        return NULL;
    brain_genome_t *c = NULL;
    problem_t *err = NULL;
    if (brain_genome_from_json(doc, &c, &err) < 0) {
        problem_destroy(&err);
        return NULL;
    }
    return c;
}

json_t *brain_area_to_json(const brain_area_t *a)
{
    json_t *o = json_object();
    json_object_set_new(o, "cortical_id", json_string(a->id));
    json_object_set_new(o, "cortical_name", json_string(a->name));
    json_object_set_new(o, "cortical_group", json_string(a->group));
    json_object_set_new(o, "cortical_sub_group", json_string(a->subgroup));
    json_object_set_new(o, "cortical_dimensions",
                        json_pack("[iii]", a->dim[0], a->dim[1], a->dim[2]));
    json_object_set_new(o, "coordinates_3d",
                        json_pack("[iii]", a->pos3[0], a->pos3[1], a->pos3[2]));
    json_object_set_new(o, "coordinates_2d", json_pack("[ii]", a->pos2[0], a->pos2[1]));
    json_object_set_new(o, "cortical_neuron_per_vox_count", json_integer(a->npv));
    json_object_set_new(o, "visible", json_boolean(a->visible));
    json_object_set_new(o, "neuron_fire_threshold", json_real(a->fire_t));
    json_object_set_new(o, "neuron_firing_threshold_limit", json_real(a->fthlim));
    json_object_set_new(o, "neuron_fire_threshold_increment",
                        json_pack("[fff]", a->ftinc[0], a->ftinc[1], a->ftinc[2]));
    json_object_set_new(o, "neuron_refractory_period", json_integer(a->refrac));
    json_object_set_new(o, "neuron_leak_coefficient", json_real(a->leak_c));
    json_object_set_new(o, "neuron_leak_variability", json_real(a->leak_v));
    json_object_set_new(o, "neuron_consecutive_fire_count", json_integer(a->c_fr_c));
    json_object_set_new(o, "neuron_snooze_period", json_integer(a->snooze));
    json_object_set_new(o, "neuron_mp_charge_accumulation", json_boolean(a->mp_acc));
    json_object_set_new(o, "neuron_mp_driven_psp", json_boolean(a->mp_psp));
    json_object_set_new(o, "neuron_post_synaptic_potential", json_real(a->pstcr));
    json_object_set_new(o, "neuron_post_synaptic_potential_max", json_real(a->pstcrm));
    json_object_set_new(o, "neuron_psp_uniform_distribution", json_boolean(a->pspuni));
    json_object_set_new(o, "neuron_excitability", json_real(a->excite * 100.0));
    json_object_set_new(o, "is_mem_type", json_boolean(a->memory));
    json_object_set_new(o, "neuron_count", json_integer((json_int_t)brain_area_neurons(a)));
    return o;
}
