/* The genome's blueprint seen by area: the flat `_____10c-<id>-<cx|nx>-<gene>-<type>` genes
 * gathered per cortical area with FEAGI's property names, and edits written back as genes.
 * Pure functions on JSON: genes this file does not know are kept untouched. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brain/brain_internal.h"

/* FEAGI's property name ↔ gene, with the gene's level and type when it has to be added. */
typedef struct brain_prop {
    const char *name;
    const char *gene;
    const char *level; /* "cx" or "nx" */
    char type;         /* i, f, b, t */
} brain_prop_t;

static const brain_prop_t brain_props[] = {
    {"cortical_name", "__name", "cx", 't'},
    {"cortical_group", "_group", "cx", 't'},
    {"cortical_sub_group", "subgrp", "cx", 't'},
    {"cortical_neuron_per_vox_count", "_n_cnt", "cx", 'i'},
    {"cortical_synaptic_attractivity", "synatt", "cx", 'f'},
    {"cortical_degeneration", "de_gen", "cx", 'f'},
    {"cortical_visibility", "gd_vis", "cx", 'b'},
    {"neuron_psp_uniform_distribution", "pspuni", "cx", 'b'},
    {"neuron_post_synaptic_potential", "pstcr_", "nx", 'f'},
    {"neuron_post_synaptic_potential_max", "pstcrm", "nx", 'f'},
    {"neuron_fire_threshold", "fire_t", "nx", 'f'},
    {"neuron_firing_threshold_limit", "fthlim", "nx", 'f'},
    {"neuron_refractory_period", "refrac", "nx", 'i'},
    {"neuron_leak_coefficient", "leak_c", "nx", 'f'},
    {"neuron_leak_variability", "leak_v", "nx", 'f'},
    {"neuron_consecutive_fire_count", "c_fr_c", "nx", 'i'},
    {"neuron_snooze_period", "snooze", "nx", 'i'},
    {"neuron_mp_charge_accumulation", "mp_acc", "nx", 'b'},
    {"neuron_mp_driven_psp", "mp_psp", "nx", 'b'},
    {"neuron_excitability", "excite", "nx", 'f'},
    {"cortical_is_memory", "memory", "cx", 'b'},
};
#define BRAIN_NPROPS (sizeof brain_props / sizeof brain_props[0])

/* Vector properties: FEAGI's [x, y, z] (or [x, y]) spread over one gene per axis. */
typedef struct brain_vprop {
    const char *name;
    const char *genes[3];
    const char *level;
    char type;
    int n;
} brain_vprop_t;

static const brain_vprop_t brain_vprops[] = {
    {"cortical_dimensions", {"___bbx", "___bby", "___bbz"}, "cx", 'i', 3},
    {"coordinates_3d", {"rcordx", "rcordy", "rcordz"}, "cx", 'i', 3},
    {"coordinates_2d", {"2dcorx", "2dcory", NULL}, "cx", 'i', 2},
    {"neuron_fire_threshold_increment", {"ftincx", "ftincy", "ftincz"}, "nx", 'f', 3},
};
#define BRAIN_NVPROPS (sizeof brain_vprops / sizeof brain_vprops[0])

#define BRAIN_GENE_PREFIX "_____10c-"

bool brain_bp_key_split(const char *key, char *id, size_t idlen, char *gene, size_t genelen,
                        char *type)
{
    size_t plen = strlen(BRAIN_GENE_PREFIX);
    if (strncmp(key, BRAIN_GENE_PREFIX, plen) != 0)
        return false;
    const char *s = key + plen;
    const char *t = strrchr(s, '-'); /* -<type> */
    if (!t || t == s || strlen(t + 1) != 1)
        return false;
    const char *g = t - 1;
    while (g > s && *g != '-')
        g--;
    if (g <= s || g + 1 == t)
        return false;
    const char *l = g - 3; /* -cx- / -nx- before the gene */
    if (l <= s || l[0] != '-' || l[2] != 'x' || (l[1] != 'c' && l[1] != 'n'))
        return false;
    size_t il = (size_t)(l - s), gl = (size_t)(t - g - 1);
    if (il == 0 || il >= idlen || gl >= genelen)
        return false;
    memcpy(id, s, il);
    id[il] = 0;
    memcpy(gene, g + 1, gl);
    gene[gl] = 0;
    *type = t[1];
    return true;
}

static json_t *brain_bp_blueprint(json_t *genome)
{
    json_t *bp = json_object_get(genome, "blueprint");
    return json_is_object(bp) ? bp : NULL;
}

/* The key of an area's gene in the blueprint (whatever its level and type), or NULL. */
static const char *brain_bp_gene_key(json_t *bp, const char *area, const char *gene)
{
    static const char *const levels[] = {"cx", "nx"};
    static const char types[] = "ifbtd";
    char key[160];
    for (size_t l = 0; l < 2; l++)
        for (const char *t = types; *t; t++) {
            snprintf(key, sizeof key, BRAIN_GENE_PREFIX "%s-%s-%s-%c", area, levels[l], gene, *t);
            void *it = json_object_iter_at(bp, key);
            if (it)
                return json_object_iter_key(it);
        }
    return NULL;
}

static json_t *brain_bp_gene(json_t *bp, const char *area, const char *gene)
{
    const char *k = brain_bp_gene_key(bp, area, gene);
    return k ? json_object_get(bp, k) : NULL;
}

static int64_t brain_bp_int(json_t *bp, const char *area, const char *gene, int64_t def)
{
    json_t *v = brain_bp_gene(bp, area, gene);
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_real(v))
        return (int64_t)json_real_value(v);
    return def;
}

static int brain_bp_area_cmp(const void *a, const void *b)
{
    return strcmp(((const brain_bp_area_t *)a)->id, ((const brain_bp_area_t *)b)->id);
}

brain_bp_area_t *brain_bp_areas(json_t *genome, size_t *n)
{
    *n = 0;
    json_t *bp = brain_bp_blueprint(genome);
    if (!bp)
        return NULL;
    size_t cap = 16, k = 0;
    brain_bp_area_t *v = calloc(cap, sizeof *v);
    if (!v)
        return NULL;
    const char *key;
    json_t *val;
    json_object_foreach(bp, key, val)
    {
        char id[BRAIN_BP_ID_MAX + 1], gene[32], type;
        if (!brain_bp_key_split(key, id, sizeof id, gene, sizeof gene, &type))
            continue;
        /* an area's genes usually come together: the last area first, then the others */
        if (k > 0 && strcmp(v[k - 1].id, id) == 0)
            continue;
        size_t i = 0;
        while (i < k && strcmp(v[i].id, id) != 0)
            i++;
        if (i < k)
            continue;
        if (k == BRAIN_AREAS_MAX)
            break;
        if (k == cap) {
            brain_bp_area_t *nv = realloc(v, 2 * cap * sizeof *v);
            if (!nv) {
                free(v);
                return NULL;
            }
            v = nv;
            cap *= 2;
        }
        memset(&v[k], 0, sizeof v[k]);
        snprintf(v[k].id, sizeof v[k].id, "%s", id);
        k++;
    }
    for (size_t i = 0; i < k; i++) {
        v[i].dim[0] = brain_bp_int(bp, v[i].id, "___bbx", 1);
        v[i].dim[1] = brain_bp_int(bp, v[i].id, "___bby", 1);
        v[i].dim[2] = brain_bp_int(bp, v[i].id, "___bbz", 1);
        v[i].per_voxel = brain_bp_int(bp, v[i].id, "_n_cnt", 1);
        uint64_t nn = 1;
        for (int a = 0; a < 3; a++)
            nn *= v[i].dim[a] > 0 ? (uint64_t)v[i].dim[a] : 0;
        v[i].neurons = nn * (v[i].per_voxel > 0 ? (uint64_t)v[i].per_voxel : 0);
    }
    qsort(v, k, sizeof *v, brain_bp_area_cmp);
    *n = k;
    return v;
}

static const char *brain_bp_type_of(const char *area)
{
    switch (area[0]) {
    case 'i':
        return "IPU";
    case 'o':
        return "OPU";
    case '_':
        return "CORE";
    case 'm':
        return "MEMORY";
    default:
        return "CUSTOM";
    }
}

json_t *brain_bp_area_json(json_t *genome, const char *area)
{
    json_t *bp = brain_bp_blueprint(genome);
    if (!bp || !brain_bp_gene_key(bp, area, "___bbx"))
        return NULL;
    json_t *o = json_object();
    json_object_set_new(o, "cortical_id", json_string(area));
    for (size_t i = 0; i < BRAIN_NPROPS; i++) {
        json_t *v = brain_bp_gene(bp, area, brain_props[i].gene);
        if (v)
            json_object_set(o, brain_props[i].name, v);
    }
    for (size_t i = 0; i < BRAIN_NVPROPS; i++) {
        json_t *a = json_array();
        for (int k = 0; k < brain_vprops[i].n; k++) {
            json_t *v = brain_bp_gene(bp, area, brain_vprops[i].genes[k]);
            json_array_append(a, v ? v : json_integer(0));
            if (!v)
                json_decref(json_array_get(a, json_array_size(a) - 1));
        }
        json_object_set_new(o, brain_vprops[i].name, a);
    }
    json_t *grp = json_object_get(o, "cortical_group");
    json_object_set_new(o, "cortical_type",
                        json_string(json_is_string(grp) && json_string_length(grp)
                                        ? json_string_value(grp)
                                        : brain_bp_type_of(area)));
    if (!grp)
        json_object_set_new(o, "cortical_group", json_string(brain_bp_type_of(area)));
    if (!json_object_get(o, "cortical_name"))
        json_object_set_new(o, "cortical_name", json_string(area));
    json_t *vis = json_object_get(o, "cortical_visibility");
    json_object_set_new(o, "visible", json_boolean(!vis || json_is_true(vis)));
    size_t n = 0;
    brain_bp_area_t *areas = brain_bp_areas(genome, &n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(areas[i].id, area) == 0)
            json_object_set_new(o, "neuron_count", json_integer((json_int_t)areas[i].neurons));
    free(areas);
    json_t *dm = brain_bp_gene(bp, area, "dstmap");
    json_object_set_new(o, "efferent_area_count",
                        json_integer(json_is_object(dm) ? (json_int_t)json_object_size(dm) : 0));
    return o;
}

/* The value checked against a gene type: new reference or NULL. */
static json_t *brain_bp_typed(json_t *v, char type)
{
    switch (type) {
    case 'i':
        if (json_is_integer(v))
            return json_incref(v);
        if (json_is_real(v) && json_real_value(v) == (double)(int64_t)json_real_value(v))
            return json_integer((json_int_t)json_real_value(v));
        return NULL;
    case 'f':
        return json_is_number(v) ? json_real(json_number_value(v)) : NULL;
    case 'b':
        return json_is_boolean(v) ? json_incref(v) : NULL;
    case 't':
        return json_is_string(v) ? json_incref(v) : NULL;
    default:
        return json_incref(v);
    }
}

/* Sets one gene of an area, keeping the key (and type) it already has. */
static int brain_bp_gene_set(json_t *bp, const char *area, const char *gene, const char *level,
                             char type, json_t *v)
{
    char key[160];
    const char *old = brain_bp_gene_key(bp, area, gene);
    if (old) {
        snprintf(key, sizeof key, "%s", old);
        type = key[strlen(key) - 1];
    } else {
        snprintf(key, sizeof key, BRAIN_GENE_PREFIX "%s-%s-%s-%c", area, level, gene, type);
    }
    json_t *tv = brain_bp_typed(v, type);
    if (!tv)
        return -1;
    return json_object_set_new(bp, key, tv);
}

static int brain_bp_props_apply(json_t *bp, const char *area, json_t *props, problem_t **p)
{
    const char *k;
    json_t *v;
    json_object_foreach(props, k, v)
    {
        if (strcmp(k, "cortical_id") == 0)
            continue;
        bool known = false;
        for (size_t i = 0; i < BRAIN_NPROPS && !known; i++)
            if (strcmp(k, brain_props[i].name) == 0 || strcmp(k, brain_props[i].gene) == 0) {
                known = true;
                if (brain_bp_gene_set(bp, area, brain_props[i].gene, brain_props[i].level,
                                      brain_props[i].type, v) < 0)
                    problem_field_error(p, "body", k, "has the wrong type for gene %s",
                                        brain_props[i].gene);
            }
        for (size_t i = 0; i < BRAIN_NVPROPS && !known; i++) {
            if (strcmp(k, brain_vprops[i].name) != 0)
                continue;
            known = true;
            if (!json_is_array(v) || json_array_size(v) != (size_t)brain_vprops[i].n) {
                problem_field_error(p, "body", k, "must be an array of %d numbers",
                                    brain_vprops[i].n);
                continue;
            }
            for (int a = 0; a < brain_vprops[i].n; a++)
                if (brain_bp_gene_set(bp, area, brain_vprops[i].genes[a], brain_vprops[i].level,
                                      brain_vprops[i].type, json_array_get(v, (size_t)a)) < 0)
                    problem_field_error(p, "body", k, "element %d has the wrong type", a);
        }
        if (!known)
            problem_field_error(p, "body", k, "is not a cortical area property");
    }
    return *p ? -1 : 0;
}

json_t *brain_bp_area_edit(json_t *genome, const char *area, json_t *props, problem_t **p)
{
    json_t *bp0 = brain_bp_blueprint(genome);
    if (!bp0 || !brain_bp_gene_key(bp0, area, "___bbx")) {
        *p = problem_new(404, "not-found", "no cortical area '%s' in the genome", area);
        return NULL;
    }
    json_t *g = json_deep_copy(genome);
    json_t *bp = json_object_get(g, "blueprint");
    if (brain_bp_props_apply(bp, area, props, p) < 0) {
        json_decref(g);
        return NULL;
    }
    return g;
}

static bool brain_bp_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > BRAIN_BP_ID_MAX)
        return false;
    for (const char *c = id; *c; c++)
        if (*c == '-' || (unsigned char)*c < 0x21 || (unsigned char)*c > 0x7e)
            return false;
    return true;
}

json_t *brain_bp_area_add(json_t *genome, json_t *props, problem_t **p)
{
    const char *id = json_string_value(json_object_get(props, "cortical_id"));
    if (!id || !brain_bp_id_ok(id)) {
        *p = problem_field_error(p, "body", "cortical_id",
                                 "must be 1 to %d printable characters without '-'",
                                 BRAIN_BP_ID_MAX);
        return NULL;
    }
    json_t *bp0 = brain_bp_blueprint(genome);
    if (bp0 && brain_bp_gene_key(bp0, id, "___bbx")) {
        *p = problem_new(409, "conflict", "cortical area '%s' exists already", id);
        return NULL;
    }
    json_t *g = json_deep_copy(genome);
    json_t *bp = json_object_get(g, "blueprint");
    if (!json_is_object(bp)) {
        bp = json_object();
        json_object_set_new(g, "blueprint", bp);
    }
    json_t *one = json_integer(1);
    const char *dims[] = {"___bbx", "___bby", "___bbz", "_n_cnt"};
    for (size_t i = 0; i < 4; i++)
        brain_bp_gene_set(bp, id, dims[i], "cx", 'i', one);
    json_decref(one);
    json_t *empty = json_object();
    char key[160];
    snprintf(key, sizeof key, BRAIN_GENE_PREFIX "%s-cx-dstmap-d", id);
    json_object_set_new(bp, key, empty);
    if (brain_bp_props_apply(bp, id, props, p) < 0) {
        json_decref(g);
        return NULL;
    }
    return g;
}

json_t *brain_bp_area_remove(json_t *genome, const char *area, problem_t **p)
{
    json_t *bp0 = brain_bp_blueprint(genome);
    if (!bp0 || !brain_bp_gene_key(bp0, area, "___bbx")) {
        *p = problem_new(404, "not-found", "no cortical area '%s' in the genome", area);
        return NULL;
    }
    json_t *g = json_deep_copy(genome);
    json_t *bp = json_object_get(g, "blueprint");
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(bp, tmp, k, v)
    {
        char id[BRAIN_BP_ID_MAX + 1], gene[32], type;
        if (!brain_bp_key_split(k, id, sizeof id, gene, sizeof gene, &type))
            continue;
        if (strcmp(id, area) == 0)
            json_object_del(bp, k);
        else if (strcmp(gene, "dstmap") == 0 && json_is_object(v))
            json_object_del(v, area);
    }
    return g;
}

json_t *brain_bp_mappings(json_t *genome)
{
    json_t *out = json_array();
    json_t *bp = brain_bp_blueprint(genome);
    if (!bp)
        return out;
    size_t n = 0;
    brain_bp_area_t *areas = brain_bp_areas(genome, &n);
    for (size_t i = 0; i < n; i++) {
        json_t *dm = brain_bp_gene(bp, areas[i].id, "dstmap");
        const char *dst;
        json_t *rules;
        json_object_foreach(dm, dst, rules)
        {
            json_array_append_new(out, json_pack("{s:s,s:s,s:O}", "source", areas[i].id,
                                                 "destination", dst, "rules", rules));
        }
    }
    free(areas);
    return out;
}

json_t *brain_bp_mapping_get(json_t *genome, const char *src, const char *dst)
{
    json_t *bp = brain_bp_blueprint(genome);
    json_t *dm = bp ? brain_bp_gene(bp, src, "dstmap") : NULL;
    json_t *r = json_object_get(dm, dst);
    return json_is_array(r) ? json_deep_copy(r) : json_array();
}

json_t *brain_bp_mapping_set(json_t *genome, const char *src, const char *dst, json_t *rules,
                             problem_t **p)
{
    json_t *bp0 = brain_bp_blueprint(genome);
    if (!bp0 || !brain_bp_gene_key(bp0, src, "___bbx") || !brain_bp_gene_key(bp0, dst, "___bbx")) {
        *p = problem_new(404, "not-found", "no cortical area '%s'",
                         bp0 && brain_bp_gene_key(bp0, src, "___bbx") ? dst : src);
        return NULL;
    }
    if (!json_is_array(rules)) {
        *p = problem_field_error(p, "body", "rules", "must be an array of mapping rules");
        return NULL;
    }
    json_t *g = json_deep_copy(genome);
    json_t *bp = json_object_get(g, "blueprint");
    const char *k = brain_bp_gene_key(bp, src, "dstmap");
    char key[160];
    if (!k) {
        snprintf(key, sizeof key, BRAIN_GENE_PREFIX "%s-cx-dstmap-d", src);
        json_object_set_new(bp, key, json_object());
        k = key;
    }
    json_t *dm = json_object_get(bp, k);
    if (json_array_size(rules) == 0)
        json_object_del(dm, dst);
    else
        json_object_set_new(dm, dst, json_deep_copy(rules));
    if ((*p = brain_bp_validate(g))) {
        json_decref(g);
        return NULL;
    }
    return g;
}

/* A rule's morphology id: the first element of an array rule or `morphology_id` of an object. */
static const char *brain_bp_rule_morph(json_t *rule)
{
    if (json_is_array(rule))
        return json_string_value(json_array_get(rule, 0));
    return json_string_value(json_object_get(rule, "morphology_id"));
}

problem_t *brain_bp_validate(json_t *genome)
{
    problem_t *p = NULL;
    if (!json_is_object(genome))
        return problem_new(422, "invalid-genome", "a genome is a JSON object");
    json_t *bp = brain_bp_blueprint(genome);
    if (!bp)
        return problem_field_error(&p, "genome", "blueprint", "is missing or not an object");
    json_t *morphs = json_object_get(genome, "neuron_morphologies");
    size_t n = 0;
    brain_bp_area_t *areas = brain_bp_areas(genome, &n);
    if (n == 0)
        problem_field_error(&p, "genome", "blueprint", "has no cortical area");
    for (size_t i = 0; i < n; i++) {
        for (int a = 0; a < 3; a++)
            if (areas[i].dim[a] < 1) {
                const char *g[] = {"___bbx", "___bby", "___bbz"};
                problem_field_error(&p, "genome", brain_bp_gene_key(bp, areas[i].id, g[a]),
                                    "dimension of area %s must be at least 1", areas[i].id);
            }
        const char *dk = brain_bp_gene_key(bp, areas[i].id, "dstmap");
        json_t *dm = dk ? json_object_get(bp, dk) : NULL;
        const char *dst;
        json_t *rules;
        json_object_foreach(dm, dst, rules)
        {
            bool found = false;
            for (size_t j = 0; j < n && !found; j++)
                found = strcmp(areas[j].id, dst) == 0;
            if (!found)
                problem_field_error(&p, "genome", dk, "maps to %s, which does not exist", dst);
            size_t r;
            json_t *rule;
            json_array_foreach(rules, r, rule)
            {
                const char *m = brain_bp_rule_morph(rule);
                if (!m)
                    problem_field_error(&p, "genome", dk, "rule %zu to %s names no morphology", r,
                                        dst);
                else if (!json_object_get(morphs, m))
                    problem_field_error(&p, "genome", dk,
                                        "rule %zu to %s uses morphology %s,"
                                        " which does not exist",
                                        r, dst, m);
            }
        }
    }
    free(areas);
    return p;
}

/* The nested form some FEAGI examples use (`blueprint.cortical_areas`, `morphologies`), seen
 * as the flat one: each area's genes written out, its `cortical_mapping_dstn` as rules
 * (`fully_connected` becomes all_to_all). Areas and mappings only; neuron parameters of the
 * nested form stay in its morphologies. */
static void brain_bp_flatten_area(json_t *bp, json_t *a, const char *key, json_t *morphs)
{
    const char *id = json_string_value(json_object_get(a, "cortical_id"));
    if (!id)
        id = key;
    if (!brain_bp_id_ok(id))
        return;
    char k[160];
#define BRAIN_BP_SET(gene, t, v)                                                                   \
    do {                                                                                           \
        snprintf(k, sizeof k, BRAIN_GENE_PREFIX "%s-cx-%s-%c", id, gene, t);                       \
        json_object_set_new(bp, k, v);                                                             \
    } while (0)
    const char *name = json_string_value(json_object_get(a, "cortical_name"));
    BRAIN_BP_SET("__name", 't', json_string(name ? name : id));
    json_t *dims = json_object_get(a, "dimensions"), *loc = json_object_get(a, "location");
    const char *ax[] = {"x", "y", "z"}, *dg[] = {"___bbx", "___bby", "___bbz"},
               *lg[] = {"rcordx", "rcordy", "rcordz"};
    for (int i = 0; i < 3; i++) {
        json_t *d = json_object_get(dims, ax[i]);
        BRAIN_BP_SET(dg[i], 'i', json_integer(json_is_integer(d) ? json_integer_value(d) : 1));
        json_t *l = json_object_get(loc, ax[i]);
        BRAIN_BP_SET(lg[i], 'i', json_integer(json_is_integer(l) ? json_integer_value(l) : 0));
    }
    json_t *npv = json_object_get(a, "cortical_neuron_per_voxel_count");
    BRAIN_BP_SET("_n_cnt", 'i', json_integer(json_is_integer(npv) ? json_integer_value(npv) : 1));
    json_t *dm = json_object();
    const char *dst;
    json_t *m;
    json_object_foreach(json_object_get(a, "cortical_mapping_dstn"), dst, m)
    {
        const char *type = json_string_value(json_object_get(m, "cortical_mapping_type"));
        const char *morph = type && strcmp(type, "fully_connected") == 0 ? "all_to_all"
                            : type                                       ? type
                                                                         : "all_to_all";
        if (!json_object_get(morphs, morph))
            json_object_set_new(
                morphs, morph,
                json_pack("{s:s,s:s,s:{}}", "type", "functions", "class", "core", "parameters"));
        json_t *psc = json_object_get(m, "postsynaptic_current");
        json_object_set_new(dm, dst,
                            json_pack("[[s,[i,i,i],f,b]]", morph, 1, 1, 1,
                                      json_is_number(psc) ? json_number_value(psc) : 1.0, 0));
    }
    BRAIN_BP_SET("dstmap", 'd', dm);
#undef BRAIN_BP_SET
}

json_t *brain_bp_view(json_t *genome)
{
    json_t *bp = json_object_get(genome, "blueprint");
    json_t *areas = json_object_get(bp, "cortical_areas");
    if (!json_is_object(areas))
        return json_incref(genome);
    json_t *v = json_deep_copy(genome);
    json_t *flat = json_object();
    json_t *morphs = json_object_get(genome, "neuron_morphologies");
    if (!json_is_object(morphs))
        morphs = json_object_get(genome, "morphologies");
    morphs = json_is_object(morphs) ? json_deep_copy(morphs) : json_object();
    /* mappings name destinations by cortical_id: keys of cortical_areas may differ */
    const char *key;
    json_t *a;
    json_object_foreach(areas, key, a) brain_bp_flatten_area(flat, a, key, morphs);
    json_object_set_new(v, "blueprint", flat);
    json_object_set_new(v, "neuron_morphologies", morphs);
    return v;
}
