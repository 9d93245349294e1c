/* Genome edits grown incrementally: for each kind of edit, network A derived into B must equal a
 * network built from B from scratch (neuron arrays and every synapse, bit for bit), and the
 * derive must have redone only what the edit touched (grown / copied / shared counts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "brain/brain_genome.h"
#include "brain/brain_net.h"

#define SEED 7

#define G(area, gene, type) "_____10c-" area "-" gene "-" type

/* Genome A: four areas, every kind of morphology the derive must keep straight (a function, the
 * seeded randomizer, all_to_all, custom vectors) and leak variability (seeded too). */
static json_t *genome_a(void)
{
    json_error_t je;
    json_t *g = json_loads(
        "{\"genome_id\":\"d\",\"version\":\"2.1\",\"physiology\":{\"simulation_timestep\":0.01},"
        "\"neuron_morphologies\":{"
        "\"projector\":{\"type\":\"functions\",\"parameters\":{}},"
        "\"all_to_all\":{\"type\":\"functions\",\"parameters\":{}},"
        "\"randomizer\":{\"type\":\"functions\",\"parameters\":{}},"
        "\"v1\":{\"type\":\"vectors\",\"parameters\":{\"vectors\":[[1,0,0],[0,1,0]]}}},"
        "\"blueprint\":{"
        "\"" G("c_a___", "cx", "___bbx") "-i\":4,\"" G(
            "c_a___", "cx",
            "___bby") "-i\":2,"
                      "\"" G("c_a___", "cx",
                             "_n_cnt") "-i\":2,"
                                       "\"" G("c_a___", "nx", "leak_c") "-f\":0.5,\"" G(
                                           "c_a___", "nx",
                                           "leak_v") "-f\":0.2,"
                                                     "\"" G(
                                                         "c_a___", "cx",
                                                         "dstmap") "-d\":{"
                                                                   "\"c_b___\":[[\"projector\",[1,"
                                                                   "1,1],1,false,1,1,1]],"
                                                                   "\"c_c___\":[[\"randomizer\",[1,"
                                                                   "1,1],2,false,1,1,1]]},"
                                                                   "\"" G("c_b___", "cx", "___bbx") "-i\":3,\"" G(
                                                                       "c_b___", "cx",
                                                                       "___bby") "-i\":3,"
                                                                                 "\"" G(
                                                                                     "c_b___", "cx",
                                                                                     "dstmap") "-d"
                                                                                               "\":"
                                                                                               "{"
                                                                                               "\"c"
                                                                                               "_c_"
                                                                                               "__"
                                                                                               "\":"
                                                                                               "[["
                                                                                               "\"a"
                                                                                               "ll_"
                                                                                               "to_"
                                                                                               "all"
                                                                                               "\","
                                                                                               "[1,"
                                                                                               "1,"
                                                                                               "1],"
                                                                                               "1,"
                                                                                               "fal"
                                                                                               "se,"
                                                                                               "1,"
                                                                                               "1,"
                                                                                               "1]]"
                                                                                               "},"
                                                                                               "\"" G("c_c___", "cx", "___bbx") "-i\":2,\"" G(
                                                                                                   "c_c___",
                                                                                                   "cx",
                                                                                                   "___bby") "-i\":2,"
                                                                                                             "\"" G(
                                                                                                                 "c_c___",
                                                                                                                 "cx",
                                                                                                                 "___bbz") "-i\":2,"
                                                                                                                           "\"" G(
                                                                                                                               "c_c___",
                                                                                                                               "cx",
                                                                                                                               "dstmap") "-d\":{"
                                                                                                                                         "\"c_a___\":[[\"v1\",[1,1,1],-3,false,1,1,1]]},"
                                                                                                                                         "\"" G(
                                                                                                                                             "c_d___",
                                                                                                                                             "cx",
                                                                                                                                             "___bbx") "-i\":2,"
                                                                                                                                                       "\"" G(
                                                                                                                                                           "c_d___",
                                                                                                                                                           "cx",
                                                                                                                                                           "dstmap") "-d\":{"
                                                                                                                                                                     "\"c_b___\":[[\"v1\",[1,1,1],1,false,1,1,1]]}}}",
        0, &je);
    assert_non_null(g);
    return g;
}

static json_t *blueprint(json_t *g)
{
    return json_object_get(g, "blueprint");
}

static brain_genome_t *parse(json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    assert_non_null(text);
    brain_genome_t *g = NULL;
    problem_t *err = NULL;
    int rc = brain_genome_parse(text, strlen(text), &g, &err);
    if (rc < 0)
        fail_msg("genome: %s", problem_detail(err));
    free(text);
    return g;
}

/* Synapses from src to dst in net. */
static uint64_t pair_count(const brain_net_t *n, const char *src, const char *dst)
{
    int s = brain_net_area_find(n, src), d = brain_net_area_find(n, dst);
    if (s < 0 || d < 0)
        return 0;
    const brain_syn_block_t *b = &n->areas[s].syn;
    uint32_t lo = n->areas[d].first, hi = lo + n->areas[d].count;
    uint64_t k = 0;
    for (uint32_t i = 0; i < b->n; i++)
        k += b->target[i] >= lo && b->target[i] < hi;
    return k;
}

#define SAME_ARRAY(f) assert_memory_equal(x->f, y->f, (size_t)x->n_neurons * sizeof *x->f)

static void nets_equal(const brain_net_t *x, const brain_net_t *y)
{
    assert_int_equal(x->n_neurons, y->n_neurons);
    assert_int_equal(x->n_areas, y->n_areas);
    assert_int_equal(x->n_synapses, y->n_synapses);
    for (uint32_t a = 0; a < x->n_areas; a++) {
        const brain_net_area_t *p = &x->areas[a], *q = &y->areas[a];
        assert_string_equal(p->id, q->id);
        assert_int_equal(p->first, q->first);
        assert_int_equal(p->count, q->count);
        assert_memory_equal(p->dim, q->dim, sizeof p->dim);
        assert_int_equal(p->npv, q->npv);
        assert_int_equal(p->output, q->output);
        assert_int_equal(p->power, q->power);
        assert_int_equal(p->pspuni, q->pspuni);
        assert_int_equal(p->syn.n, q->syn.n);
        assert_int_equal(p->syn.uniform, q->syn.uniform);
        assert_memory_equal(p->syn.off, q->syn.off, ((size_t)p->count + 1) * sizeof *p->syn.off);
        if (p->syn.n) {
            assert_memory_equal(p->syn.target, q->syn.target, p->syn.n * sizeof *p->syn.target);
            assert_memory_equal(p->syn.weight, q->syn.weight, p->syn.n);
            assert_memory_equal(p->syn.psp, q->syn.psp, p->syn.n);
            assert_memory_equal(p->syn.flags, q->syn.flags, p->syn.n);
        }
    }
    if (!x->n_neurons)
        return;
    SAME_ARRAY(area);
    SAME_ARRAY(potential);
    SAME_ARRAY(threshold);
    SAME_ARRAY(thr_limit);
    SAME_ARRAY(leak);
    SAME_ARRAY(excite);
    SAME_ARRAY(refrac);
    SAME_ARRAY(countdown);
    SAME_ARRAY(cfc);
    SAME_ARRAY(cfc_limit);
    SAME_ARRAY(snooze);
    SAME_ARRAY(accumulate);
}

/* Builds A, derives B from it and checks it against B built from scratch; returns the derive's
 * counts and B (fresh) for the caller's own checks. */
static brain_net_derive_stats_t derive_check(json_t *b_doc, brain_net_t **fresh_out)
{
    json_t *a_doc = genome_a();
    brain_genome_t *ga = parse(a_doc), *gb = parse(b_doc);
    problem_t *err = NULL;
    brain_net_t *na = NULL, *nb = NULL, *fresh = NULL;
    assert_int_equal(brain_net_build(ga, SEED, 2, &na, &err), 0);
    brain_net_derive_stats_t st;
    assert_int_equal(brain_net_derive(na, ga, gb, 2, &nb, &st, &err), 0);
    assert_int_equal(brain_net_build(gb, SEED, 1, &fresh, &err), 0);
    nets_equal(nb, fresh);
    assert_int_equal(st.grown + st.copied + st.shared, fresh->n_synapses);
    /* the old network is untouched by the derive and freed independently of the new one */
    brain_net_t *again = NULL;
    assert_int_equal(brain_net_build(ga, SEED, 1, &again, &err), 0);
    nets_equal(na, again);
    brain_net_destroy(&again);
    brain_net_destroy(&na);
    brain_net_destroy(&nb);
    brain_genome_destroy(&ga);
    brain_genome_destroy(&gb);
    json_decref(a_doc);
    json_decref(b_doc);
    *fresh_out = fresh;
    return st;
}

static void test_area_params_in_place(void **state)
{
    (void)state;
    json_t *b = genome_a();
    json_object_set_new(blueprint(b), G("c_b___", "nx", "fire_t") "-f", json_real(3.5));
    json_object_set_new(blueprint(b), G("c_b___", "nx", "refrac") "-i", json_integer(2));
    brain_net_t *f = NULL;
    brain_net_derive_stats_t st = derive_check(b, &f);
    assert_int_equal(st.grown, 0);
    assert_int_equal(st.copied, 0);
    assert_int_equal(st.shared, f->n_synapses);
    assert_int_equal(st.neurons_written, 9); /* c_b's neurons only */
    assert_true(f->threshold[f->areas[brain_net_area_find(f, "c_b___")].first] == 3.5f);
    brain_net_destroy(&f);
}

static void test_area_psp_rewrites_its_block(void **state)
{
    (void)state;
    json_t *b = genome_a();
    json_object_set_new(blueprint(b), G("c_a___", "nx", "pstcr_") "-f", json_real(7));
    brain_net_t *f = NULL;
    brain_net_derive_stats_t st = derive_check(b, &f);
    assert_int_equal(st.grown, 0); /* no morphology evaluated: c_a's rows copied, PSP rewritten */
    assert_int_equal(st.copied, f->areas[0].syn.n);
    assert_int_equal(f->areas[0].syn.psp[0], 7);
    brain_net_destroy(&f);
}

static void test_mapping_grows_that_pair_only(void **state)
{
    (void)state;
    json_t *b = genome_a();
    json_t *map = json_object_get(blueprint(b), G("c_a___", "cx", "dstmap") "-d");
    json_object_set_new(map, "c_b___",
                        json_pack("[[s,[i,i,i],i,b,i,i,i]]", "all_to_all", 1, 1, 1, 2, 0, 1, 1, 1));
    brain_net_t *f = NULL;
    brain_net_derive_stats_t st = derive_check(b, &f);
    assert_int_equal(st.grown, pair_count(f, "c_a___", "c_b___"));
    assert_int_equal(st.grown, 16 * 9);
    assert_int_equal(st.copied, pair_count(f, "c_a___", "c_c___")); /* randomizer: not redrawn */
    assert_int_equal(st.neurons_written, 0);
    brain_net_destroy(&f);
}

static void test_mapping_removed(void **state)
{
    (void)state;
    json_t *b = genome_a();
    json_t *map = json_object_get(blueprint(b), G("c_a___", "cx", "dstmap") "-d");
    json_object_del(map, "c_c___");
    brain_net_t *f = NULL;
    brain_net_derive_stats_t st = derive_check(b, &f);
    assert_int_equal(st.grown, 0);
    assert_int_equal(st.copied, pair_count(f, "c_a___", "c_b___"));
    brain_net_destroy(&f);
}

static void test_morphology_grows_its_mappings_only(void **state)
{
    (void)state;
    json_t *b = genome_a();
    json_t *v1 = json_object_get(json_object_get(b, "neuron_morphologies"), "v1");
    json_object_set_new(json_object_get(v1, "parameters"), "vectors",
                        json_pack("[[i,i,i],[i,i,i],[i,i,i]]", 0, 0, 0, 1, 1, 0, 1, 0, 0));
    brain_net_t *f = NULL;
    brain_net_derive_stats_t st = derive_check(b, &f);
    assert_int_equal(st.grown,
                     pair_count(f, "c_c___", "c_a___") + pair_count(f, "c_d___", "c_b___"));
    assert_true(st.grown > 0);
    assert_int_equal(st.copied, 0);
    assert_int_equal(st.shared, pair_count(f, "c_a___", "c_b___") +
                                    pair_count(f, "c_a___", "c_c___") +
                                    pair_count(f, "c_b___", "c_c___"));
    brain_net_destroy(&f);
}

static void test_area_added(void **state)
{
    (void)state;
    /* c_0 comes first in the genome: every other area's neurons move and their rows are
     * renumbered, but only c_0's own mapping is grown */
    json_t *a = genome_a();
    json_t *b = json_object();
    json_object_set_new(b, "genome_id", json_string("d"));
    json_object_set_new(b, "version", json_string("2.1"));
    json_object_set(b, "physiology", json_object_get(a, "physiology"));
    json_object_set(b, "neuron_morphologies", json_object_get(a, "neuron_morphologies"));
    json_t *bp = json_object();
    json_object_set_new(bp, G("c_0___", "cx", "___bbx") "-i", json_integer(3));
    json_object_set_new(
        bp, G("c_0___", "cx", "dstmap") "-d",
        json_pack("{s:[[s,[i,i,i],i,b,i,i,i]]}", "c_c___", "randomizer", 1, 1, 1, 1, 0, 1, 1, 1));
    json_object_update(bp, blueprint(a));
    json_object_set_new(b, "blueprint", bp);
    json_decref(a);
    brain_net_t *f = NULL;
    brain_net_derive_stats_t st = derive_check(b, &f);
    assert_int_equal(st.grown, pair_count(f, "c_0___", "c_c___"));
    assert_int_equal(st.neurons_written, 3);
    brain_net_destroy(&f);
}

static void test_area_deleted(void **state)
{
    (void)state;
    json_t *b = genome_a();
    json_t *bp = blueprint(b);
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(bp, tmp, key, v)
    {
        if (strstr(key, "-c_b___-"))
            json_object_del(bp, key);
    }
    json_object_del(json_object_get(bp, G("c_a___", "cx", "dstmap") "-d"), "c_b___");
    json_object_del(json_object_get(bp, G("c_d___", "cx", "dstmap") "-d"), "c_b___");
    brain_net_t *f = NULL;
    brain_net_derive_stats_t st = derive_check(b, &f);
    assert_int_equal(st.grown, 0);
    assert_int_equal(st.neurons_written, 0);
    assert_int_equal(brain_net_area_find(f, "c_b___"), -1);
    brain_net_destroy(&f);
}

static void test_area_resized(void **state)
{
    (void)state;
    json_t *b = genome_a();
    json_object_set_new(blueprint(b), G("c_c___", "cx", "___bbx") "-i", json_integer(3));
    brain_net_t *f = NULL;
    brain_net_derive_stats_t st = derive_check(b, &f);
    /* into and out of c_c grown again; c_a → c_b and c_d → c_b renumbered or shared */
    assert_int_equal(st.grown, pair_count(f, "c_a___", "c_c___") +
                                   pair_count(f, "c_b___", "c_c___") +
                                   pair_count(f, "c_c___", "c_a___"));
    assert_int_equal(st.neurons_written, 12);
    brain_net_destroy(&f);
}

static void test_state_carried(void **state)
{
    (void)state;
    json_t *a_doc = genome_a(), *b_doc = genome_a();
    json_object_set_new(blueprint(b_doc), G("c_c___", "cx", "___bbx") "-i", json_integer(3));
    brain_genome_t *ga = parse(a_doc), *gb = parse(b_doc);
    problem_t *err = NULL;
    brain_net_t *na = NULL, *nb = NULL;
    assert_int_equal(brain_net_build(ga, SEED, 1, &na, &err), 0);
    assert_int_equal(brain_net_derive(na, ga, gb, 1, &nb, NULL, &err), 0);
    int a = brain_net_area_find(na, "c_b___"), c = brain_net_area_find(na, "c_c___");
    na->potential[na->areas[a].first + 1] = 2.5f;
    na->potential[na->areas[c].first] = 1.5f;
    brain_net_state_carry(nb, na);
    assert_true(nb->potential[nb->areas[brain_net_area_find(nb, "c_b___")].first + 1] == 2.5f);
    assert_true(nb->potential[nb->areas[brain_net_area_find(nb, "c_c___")].first] == 0.0f);
    brain_net_destroy(&na);
    brain_net_destroy(&nb);
    brain_genome_destroy(&ga);
    brain_genome_destroy(&gb);
    json_decref(a_doc);
    json_decref(b_doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_area_params_in_place),
        cmocka_unit_test(test_area_psp_rewrites_its_block),
        cmocka_unit_test(test_mapping_grows_that_pair_only),
        cmocka_unit_test(test_mapping_removed),
        cmocka_unit_test(test_morphology_grows_its_mappings_only),
        cmocka_unit_test(test_area_added),
        cmocka_unit_test(test_area_deleted),
        cmocka_unit_test(test_area_resized),
        cmocka_unit_test(test_state_carried),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
