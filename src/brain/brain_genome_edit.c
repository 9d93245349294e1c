/* Genome edits: each edit is applied to the JSON form, parsed and validated as a whole genome,
 * and swapped in only when valid; the difference between old and new says what a network
 * rebuild must redo (brain_change_t). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brain/brain_genome.h"

/* FEAGI property names → gene names (level, gene, type letter). */
static const struct {
    const char *prop, *level, *gene;
    char t;
} PROPS[] = {
    {"cortical_name", "cx", "__name", 't'},
    {"cortical_group", "cx", "_group", 't'},
    {"cortical_neuron_per_vox_count", "cx", "_n_cnt", 'i'},
    {"visible", "cx", "gd_vis", 'b'},
    {"neuron_fire_threshold", "nx", "fire_t", 'f'},
    {"firing_threshold", "nx", "fire_t", 'f'},
    {"neuron_firing_threshold_limit", "nx", "fthlim", 'f'},
    {"neuron_refractory_period", "nx", "refrac", 'i'},
    {"neuron_leak_coefficient", "nx", "leak_c", 'f'},
    {"neuron_leak_variability", "nx", "leak_v", 'f'},
    {"neuron_consecutive_fire_count", "nx", "c_fr_c", 'i'},
    {"neuron_snooze_period", "nx", "snooze", 'f'},
    {"neuron_mp_charge_accumulation", "nx", "mp_acc", 'b'},
    {"neuron_mp_driven_psp", "nx", "mp_psp", 'b'},
    {"neuron_post_synaptic_potential", "nx", "pstcr_", 'f'},
    {"neuron_post_synaptic_potential_max", "nx", "pstcrm", 'f'},
    {"neuron_psp_uniform_distribution", "cx", "pspuni", 'b'},
    {"neuron_excitability", "nx", "excite", 'f'},
    {"fire_t", "nx", "fire_t", 'f'},
    {"fthlim", "nx", "fthlim", 'f'},
    {"refrac", "nx", "refrac", 'i'},
    {"leak_c", "nx", "leak_c", 'f'},
    {"leak_v", "nx", "leak_v", 'f'},
    {"c_fr_c", "nx", "c_fr_c", 'i'},
    {"snooze", "nx", "snooze", 'f'},
    {"mp_acc", "nx", "mp_acc", 'b'},
    {"mp_psp", "nx", "mp_psp", 'b'},
    {"pstcr_", "nx", "pstcr_", 'f'},
    {"pstcrm", "nx", "pstcrm", 'f'},
    {"pspuni", "cx", "pspuni", 'b'},
    {"excite", "nx", "excite", 'f'},
    {"_n_cnt", "cx", "_n_cnt", 'i'},
    {"__name", "cx", "__name", 't'},
};

static void gene_key(char *buf, size_t n, const char *id, const char *level, const char *gene,
                     char t)
{
    snprintf(buf, n, "_____10c-%s-%s-%s-%c", id, level, gene, t);
}

/* Three-valued array properties: dimensions and coordinates. */
static int props_triple(json_t *bp, const char *id, const char *key, const json_t *v,
                        problem_t **err)
{
    static const struct {
        const char *prop, *g[3];
        int n;
    } T[] = {{"cortical_dimensions", {"___bbx", "___bby", "___bbz"}, 3},
             {"coordinates_3d", {"rcordx", "rcordy", "rcordz"}, 3},
             {"coordinates_2d", {"2dcorx", "2dcory", NULL}, 2}};
    for (size_t i = 0; i < 3; i++) {
        if (strcmp(T[i].prop, key) != 0)
            continue;
        if (!json_is_array(v) || json_array_size(v) != (size_t)T[i].n) {
            char ptr[80];
            snprintf(ptr, sizeof ptr, "/%s", key);
            problem_field_error(err, "body", ptr, "%s is an array of %d integers", key, T[i].n);
            return -EINVAL;
        }
        char gk[128];
        for (int d = 0; d < T[i].n; d++) {
            gene_key(gk, sizeof gk, id, "cx", T[i].g[d], 'i');
            json_object_set(bp, gk, json_array_get(v, (size_t)d));
        }
        return 1;
    }
    return 0;
}

static int props_apply(json_t *bp, const char *id, const json_t *props, problem_t **err)
{
    const char *k;
    const json_t *v;
    int rc = 0;
    json_object_foreach((json_t *)(uintptr_t)props, k, v)
    {
        if (strcmp(k, "cortical_id") == 0)
            continue;
        int t = props_triple(bp, id, k, v, err);
        if (t < 0)
            rc = t;
        if (t != 0)
            continue;
        bool found = false;
        for (size_t i = 0; i < sizeof PROPS / sizeof PROPS[0]; i++) {
            if (strcmp(PROPS[i].prop, k) != 0)
                continue;
            char gk[128];
            gene_key(gk, sizeof gk, id, PROPS[i].level, PROPS[i].gene, PROPS[i].t);
            json_object_set(bp, gk, (json_t *)(uintptr_t)v);
            found = true;
            break;
        }
        if (!found) {
            char ptr[300];
            snprintf(ptr, sizeof ptr, "/%s", k);
            problem_field_error(err, "body", ptr, "'%s' is not an area property", k);
            rc = -EINVAL;
        }
    }
    return rc;
}

static bool area_params_equal(const brain_area_t *a, const brain_area_t *b)
{
    /* Copied byte for byte (an assignment may leave the padding out), from areas that
     * brain_area_defaults zeroed whole, so that equal fields compare equal below. */
    brain_area_t x, y;
    memcpy(&x, a, sizeof x);
    memcpy(&y, b, sizeof y);
    x.maps = y.maps = NULL;
    x.n_maps = y.n_maps = 0;
    memset(x.name, 0, sizeof x.name);
    memset(y.name, 0, sizeof y.name);
    return memcmp(&x, &y, sizeof x) == 0; // NOLINT(bugprone-suspicious-memory-comparison)
}

static bool maps_equal(const brain_genome_t *og, const brain_area_t *a, const brain_genome_t *ng,
                       const brain_area_t *b)
{
    json_t *ja = json_object(), *jb = json_object();
    for (size_t i = 0; i < a->n_maps; i++)
        json_object_set_new(ja, a->maps[i].dst, brain_rules_to_json(&a->maps[i]));
    for (size_t i = 0; i < b->n_maps; i++)
        json_object_set_new(jb, b->maps[i].dst, brain_rules_to_json(&b->maps[i]));
    bool eq = json_equal(ja, jb);
    json_decref(ja);
    json_decref(jb);
    /* a rule whose morphology changed is a changed mapping */
    for (size_t i = 0; eq && i < b->n_maps; i++)
        for (size_t r = 0; eq && r < b->maps[i].n_rules; r++) {
            ssize_t mo = brain_genome_morph_find(og, b->maps[i].rules[r].morphology);
            ssize_t mn = brain_genome_morph_find(ng, b->maps[i].rules[r].morphology);
            if (mo < 0 || mn < 0)
                eq = false;
            else {
                json_t *x = brain_morph_to_json(&og->morphs[mo]);
                json_t *y = brain_morph_to_json(&ng->morphs[mn]);
                eq = json_equal(x, y);
                json_decref(x);
                json_decref(y);
            }
        }
    return eq;
}

static int change_compute(const brain_genome_t *og, const brain_genome_t *ng, brain_change_t *ch)
{
    memset(ch, 0, sizeof *ch);
    if (og->n_areas != ng->n_areas)
        ch->neurons = true;
    for (size_t i = 0; !ch->neurons && i < ng->n_areas; i++) {
        const brain_area_t *b = &ng->areas[i], *a = &og->areas[i];
        if (strcmp(a->id, b->id) != 0 || a->npv != b->npv || memcmp(a->dim, b->dim, sizeof a->dim))
            ch->neurons = true;
    }
    ch->areas = calloc(ng->n_areas ? ng->n_areas : 1, 1);
    if (!ch->areas)
        return -ENOMEM;
    for (size_t i = 0; i < ng->n_areas; i++) {
        if (ch->neurons) {
            ch->areas[i] = 1;
            continue;
        }
        const brain_area_t *a = &og->areas[i], *b = &ng->areas[i];
        if (!area_params_equal(a, b)) {
            ch->params = true;
            ch->areas[i] = 1;
        }
        if (!maps_equal(og, a, ng, b)) {
            ch->synapses = true;
            ch->areas[i] = 1;
        }
    }
    if (!ch->neurons && !ch->params && !ch->synapses) {
        free(ch->areas);
        ch->areas = NULL;
    }
    return 0;
}

/* Parses the edited document and, when valid, moves the new genome into *g. `doc` is stolen. */
static int commit(brain_genome_t *g, json_t *doc, brain_change_t *changed, problem_t **err)
{
    brain_genome_t *ng = NULL;
    int rc = brain_genome_from_json(doc, &ng, err);
    if (rc < 0)
        return rc;
    if (changed) {
        rc = change_compute(g, ng, changed);
        if (rc < 0) {
            brain_genome_destroy(&ng);
            return rc;
        }
    }
    brain_genome_t old = *g;
    *g = *ng;
    *ng = old;
    brain_genome_destroy(&ng);
    return 0;
}

static json_t *doc_for_edit(const brain_genome_t *g, json_t **bp)
{
    json_t *doc = brain_genome_to_json(g);
    if (doc)
        *bp = json_object_get(doc, "blueprint");
    return doc;
}

int brain_genome_area_update(brain_genome_t *g, const char *id, const json_t *props,
                             brain_change_t *changed, problem_t **err)
{
    if (brain_genome_area_find(g, id) < 0) {
        *err = problem_new(404, "not-found", "no cortical area '%s'", id);
        return -ENOENT;
    }
    if (!json_is_object(props)) {
        problem_field_error(err, "body", "", "area properties are an object");
        return -EINVAL;
    }
    json_t *bp, *doc = doc_for_edit(g, &bp);
    if (!doc)
        return -ENOMEM;
    int rc = props_apply(bp, id, props, err);
    if (rc < 0) {
        json_decref(doc);
        return rc;
    }
    return commit(g, doc, changed, err);
}

int brain_genome_area_add(brain_genome_t *g, const json_t *props, brain_change_t *changed,
                          problem_t **err)
{
    const json_t *idv = json_object_get(props, "cortical_id");
    if (!json_is_string(idv) || json_string_length(idv) == 0 ||
        json_string_length(idv) > BRAIN_AREA_ID_MAX) {
        problem_field_error(err, "body", "/cortical_id", "cortical_id has 1..8 characters");
        return -EINVAL;
    }
    const char *id = json_string_value(idv);
    if (brain_genome_area_find(g, id) >= 0) {
        *err = problem_new(409, "conflict", "cortical area '%s' exists already", id);
        return -EEXIST;
    }
    json_t *bp, *doc = doc_for_edit(g, &bp);
    if (!doc)
        return -ENOMEM;
    char gk[128];
    gene_key(gk, sizeof gk, id, "cx", "dstmap", 'd');
    json_object_set_new(bp, gk, json_object());
    int rc = props_apply(bp, id, props, err);
    if (rc < 0) {
        json_decref(doc);
        return rc;
    }
    return commit(g, doc, changed, err);
}

int brain_genome_area_remove(brain_genome_t *g, const char *id, brain_change_t *changed,
                             problem_t **err)
{
    if (brain_genome_area_find(g, id) < 0) {
        *err = problem_new(404, "not-found", "no cortical area '%s'", id);
        return -ENOENT;
    }
    json_t *bp, *doc = doc_for_edit(g, &bp);
    if (!doc)
        return -ENOMEM;
    char pre[64];
    snprintf(pre, sizeof pre, "_____10c-%s-", id);
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(bp, tmp, k, v)
    {
        if (strncmp(k, pre, strlen(pre)) == 0)
            json_object_del(bp, k);
        else if (json_is_object(v) && strstr(k, "-cx-dstmap-d"))
            json_object_del(v, id);
    }
    return commit(g, doc, changed, err);
}

int brain_genome_mapping_set(brain_genome_t *g, const char *src, const char *dst,
                             const json_t *rules, brain_change_t *changed, problem_t **err)
{
    if (brain_genome_area_find(g, src) < 0) {
        *err = problem_new(404, "not-found", "no cortical area '%s'", src);
        return -ENOENT;
    }
    if (!json_is_array(rules)) {
        problem_field_error(err, "body", "/mapping_string", "the rules are an array");
        return -EINVAL;
    }
    json_t *bp, *doc = doc_for_edit(g, &bp);
    if (!doc)
        return -ENOMEM;
    char gk[128];
    gene_key(gk, sizeof gk, src, "cx", "dstmap", 'd');
    json_t *dm = json_object_get(bp, gk);
    if (json_array_size(rules) == 0)
        json_object_del(dm, dst);
    else
        json_object_set_new(dm, dst, json_deep_copy(rules));
    return commit(g, doc, changed, err);
}

int brain_genome_morph_set(brain_genome_t *g, const char *id, const json_t *morph,
                           brain_change_t *changed, problem_t **err)
{
    json_t *bp, *doc = doc_for_edit(g, &bp);
    if (!doc)
        return -ENOMEM;
    json_object_set_new(json_object_get(doc, "neuron_morphologies"), id, json_deep_copy(morph));
    return commit(g, doc, changed, err);
}

int brain_genome_morph_remove(brain_genome_t *g, const char *id, problem_t **err)
{
    if (brain_genome_morph_find(g, id) < 0) {
        *err = problem_new(404, "not-found", "no morphology '%s'", id);
        return -ENOENT;
    }
    for (size_t i = 0; i < g->n_areas; i++)
        for (size_t m = 0; m < g->areas[i].n_maps; m++)
            for (size_t r = 0; r < g->areas[i].maps[m].n_rules; r++)
                if (strcmp(g->areas[i].maps[m].rules[r].morphology, id) == 0) {
                    *err = problem_new(409, "conflict",
                                       "morphology '%s' is used by the mapping %s → %s", id,
                                       g->areas[i].id, g->areas[i].maps[m].dst);
                    return -EBUSY;
                }
    json_t *bp, *doc = doc_for_edit(g, &bp);
    if (!doc)
        return -ENOMEM;
    json_object_del(json_object_get(doc, "neuron_morphologies"), id);
    return commit(g, doc, NULL, err);
}

int brain_genome_regions_set(brain_genome_t *g, json_t *regions, problem_t **err)
{
    if (!json_is_object(regions)) {
        json_decref(regions);
        problem_field_error(err, "body", "/brain_regions", "brain_regions is an object");
        return -EINVAL;
    }
    int rc = 0;
    const char *id;
    json_t *r;
    json_object_foreach(regions, id, r)
    {
        char ptr[300];
        snprintf(ptr, sizeof ptr, "/brain_regions/%s/areas", id);
        json_t *areas = json_object_get(r, "areas");
        if (areas && !json_is_array(areas)) {
            problem_field_error(err, "body", ptr, "a region's areas are an array of ids");
            rc = -EINVAL;
            continue;
        }
        size_t i;
        json_t *a;
        json_array_foreach(areas, i, a)
        {
            if (!json_is_string(a) || brain_genome_area_find(g, json_string_value(a)) < 0) {
                problem_field_error(err, "body", ptr,
                                    "region %s lists area %s, which does not exist", id,
                                    json_is_string(a) ? json_string_value(a) : "(not a string)");
                rc = -EINVAL;
            }
        }
    }
    if (rc < 0) {
        json_decref(regions);
        return rc;
    }
    json_object_set_new(g->doc, "brain_regions", regions);
    g->regions = regions;
    return 0;
}
