/* The blueprint view of a genome (src/brain/brain_blueprint.c): gene keys split, areas gathered
 * with FEAGI's property names, edits written back as genes of the right type, mappings set and
 * removed, validation naming the gene key, and the nested form seen as the flat one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "brain/brain_internal.h"

/* Two areas: c__src (2×3×1, 2 per voxel) mapping to o__dst (1×1×1) with a projector. */
static json_t *genome_small(void)
{
    json_t *g = json_loads(
        "{\"genome_id\":\"t\",\"neuron_morphologies\":{\"projector\":{\"type\":\"functions\","
        "\"parameters\":{}}},\"blueprint\":{"
        "\"_____10c-c__src-cx-__name-t\":\"source\","
        "\"_____10c-c__src-cx-___bbx-i\":2,\"_____10c-c__src-cx-___bby-i\":3,"
        "\"_____10c-c__src-cx-___bbz-i\":1,\"_____10c-c__src-cx-_n_cnt-i\":2,"
        "\"_____10c-c__src-nx-fire_t-f\":1.5,\"_____10c-c__src-cx-unknwn-i\":9,"
        "\"_____10c-c__src-cx-dstmap-d\":{\"o__dst\":[[\"projector\",[1,1,1],1.0,false]]},"
        "\"_____10c-o__dst-cx-___bbx-i\":1,\"_____10c-o__dst-cx-___bby-i\":1,"
        "\"_____10c-o__dst-cx-___bbz-i\":1,\"_____10c-o__dst-cx-dstmap-d\":{}},"
        "\"extra\":{\"kept\":true}}",
        0, NULL);
    assert_non_null(g);
    return g;
}

static void test_key_split(void **state)
{
    (void)state;
    char id[40], gene[32], type;
    assert_true(
        brain_bp_key_split("_____10c-c__for-cx-dstmap-d", id, sizeof id, gene, sizeof gene, &type));
    assert_string_equal(id, "c__for");
    assert_string_equal(gene, "dstmap");
    assert_int_equal(type, 'd');
    assert_true(
        brain_bp_key_split("_____10c-_power-nx-fire_t-f", id, sizeof id, gene, sizeof gene, &type));
    assert_string_equal(id, "_power");
    assert_string_equal(gene, "fire_t");
    assert_false(brain_bp_key_split("genome_id", id, sizeof id, gene, sizeof gene, &type));
    assert_false(
        brain_bp_key_split("_____10c-x-zx-gene-i", id, sizeof id, gene, sizeof gene, &type));
    assert_false(
        brain_bp_key_split("_____10c--cx-gene-i", id, sizeof id, gene, sizeof gene, &type));
    assert_false(
        brain_bp_key_split("_____10c-a-cx-gene-ii", id, sizeof id, gene, sizeof gene, &type));
}

static void test_areas_and_properties(void **state)
{
    (void)state;
    json_t *g = genome_small();
    size_t n = 0;
    brain_bp_area_t *a = brain_bp_areas(g, &n);
    assert_int_equal(n, 2);
    assert_string_equal(a[0].id, "c__src");
    assert_int_equal(a[0].neurons, 12);
    assert_string_equal(a[1].id, "o__dst");
    assert_int_equal(a[1].neurons, 1);
    free(a);
    json_t *p = brain_bp_area_json(g, "c__src");
    assert_string_equal(json_string_value(json_object_get(p, "cortical_name")), "source");
    assert_string_equal(json_string_value(json_object_get(p, "cortical_group")), "CUSTOM");
    assert_int_equal(
        json_integer_value(json_array_get(json_object_get(p, "cortical_dimensions"), 1)), 3);
    assert_true(json_real_value(json_object_get(p, "neuron_fire_threshold")) == 1.5);
    assert_int_equal(json_integer_value(json_object_get(p, "neuron_count")), 12);
    json_decref(p);
    p = brain_bp_area_json(g, "o__dst");
    assert_string_equal(json_string_value(json_object_get(p, "cortical_group")), "OPU");
    json_decref(p);
    assert_null(brain_bp_area_json(g, "nope__"));
    json_decref(g);
}

static void test_area_edit(void **state)
{
    (void)state;
    json_t *g = genome_small();
    problem_t *p = NULL;
    json_t *props = json_pack("{s:i,s:[i,i,i],s:b}", "neuron_fire_threshold", 3,
                              "cortical_dimensions", 4, 4, 1, "neuron_mp_charge_accumulation", 1);
    json_t *e = brain_bp_area_edit(g, "c__src", props, &p);
    assert_non_null(e);
    json_t *bp = json_object_get(e, "blueprint");
    /* the float gene stays a float; a new gene gets its level and type */
    assert_true(json_is_real(json_object_get(bp, "_____10c-c__src-nx-fire_t-f")));
    assert_int_equal(json_integer_value(json_object_get(bp, "_____10c-c__src-cx-___bbx-i")), 4);
    assert_true(json_is_true(json_object_get(bp, "_____10c-c__src-nx-mp_acc-b")));
    /* unknown genes and keys are kept */
    assert_int_equal(json_integer_value(json_object_get(bp, "_____10c-c__src-cx-unknwn-i")), 9);
    assert_non_null(json_object_get(e, "extra"));
    /* the original is untouched */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(g, "blueprint"),
                                                        "_____10c-c__src-cx-___bbx-i")),
                     2);
    json_decref(e);
    json_decref(props);
    props = json_pack("{s:s,s:i}", "bogus", "x", "cortical_dimensions", 3);
    assert_null(brain_bp_area_edit(g, "c__src", props, &p));
    assert_int_equal(problem_status(p), 422);
    assert_int_equal(problem_field_count(p), 2);
    problem_destroy(&p);
    assert_null(brain_bp_area_edit(g, "nope__", props, &p));
    assert_int_equal(problem_status(p), 404);
    problem_destroy(&p);
    json_decref(props);
    json_decref(g);
}

static void test_area_add_remove_and_mappings(void **state)
{
    (void)state;
    json_t *g = genome_small();
    problem_t *p = NULL;
    json_t *props = json_pack("{s:s,s:s}", "cortical_id", "c__new", "cortical_name", "new");
    json_t *g2 = brain_bp_area_add(g, props, &p);
    assert_non_null(g2);
    assert_null(brain_bp_area_add(g2, props, &p));
    assert_int_equal(problem_status(p), 409);
    problem_destroy(&p);
    json_t *rules = json_pack("[[s,[i,i,i],f,b]]", "projector", 1, 1, 1, 1.0, 0);
    json_t *g3 = brain_bp_mapping_set(g2, "c__new", "o__dst", rules, &p);
    assert_non_null(g3);
    json_t *all = brain_bp_mappings(g3);
    assert_int_equal(json_array_size(all), 2);
    json_decref(all);
    /* removing o__dst removes both mappings to it */
    json_t *g4 = brain_bp_area_remove(g3, "o__dst", &p);
    assert_non_null(g4);
    all = brain_bp_mappings(g4);
    assert_int_equal(json_array_size(all), 0);
    json_decref(all);
    /* an empty rule list removes one mapping */
    json_t *none = json_array();
    json_t *g5 = brain_bp_mapping_set(g3, "c__src", "o__dst", none, &p);
    json_t *left = brain_bp_mapping_get(g5, "c__src", "o__dst");
    assert_int_equal(json_array_size(left), 0);
    json_decref(left);
    /* a rule naming a morphology that does not exist is refused */
    json_t *bad = json_pack("[[s,[i,i,i],f,b]]", "nosuch", 1, 1, 1, 1.0, 0);
    assert_null(brain_bp_mapping_set(g3, "c__src", "o__dst", bad, &p));
    assert_int_equal(problem_status(p), 422);
    problem_destroy(&p);
    json_decref(bad);
    json_decref(none);
    json_decref(rules);
    json_decref(props);
    json_decref(g5);
    json_decref(g4);
    json_decref(g3);
    json_decref(g2);
    json_decref(g);
}

static void test_validate_names_the_gene(void **state)
{
    (void)state;
    json_t *g = genome_small();
    assert_null(brain_bp_validate(g));
    json_t *bp = json_object_get(g, "blueprint");
    json_object_set_new(json_object_get(bp, "_____10c-c__src-cx-dstmap-d"), "gone__",
                        json_pack("[[s,[i,i,i],f,b]]", "projector", 1, 1, 1, 1.0, 0));
    json_object_set_new(bp, "_____10c-o__dst-cx-___bby-i", json_integer(0));
    problem_t *p = brain_bp_validate(g);
    assert_non_null(p);
    assert_int_equal(problem_status(p), 422);
    json_t *j = problem_to_json(p, "/x");
    const char *dump = json_dumps(j, 0);
    assert_non_null(strstr(dump, "_____10c-c__src-cx-dstmap-d"));
    assert_non_null(strstr(dump, "_____10c-o__dst-cx-___bby-i"));
    free((void *)(uintptr_t)dump);
    json_decref(j);
    problem_destroy(&p);
    json_decref(g);
    json_t *empty = json_pack("{s:{}}", "blueprint");
    p = brain_bp_validate(empty);
    assert_int_equal(problem_status(p), 422);
    problem_destroy(&p);
    json_decref(empty);
}

static void test_nested_view(void **state)
{
    (void)state;
    json_t *g = json_loads(
        "{\"blueprint\":{\"cortical_areas\":{\"sensory\":{\"cortical_id\":\"sens_1\","
        "\"cortical_name\":\"S\",\"dimensions\":{\"x\":10,\"y\":10,\"z\":1},"
        "\"location\":{\"x\":1,\"y\":2,\"z\":3},\"cortical_neuron_per_voxel_count\":1,"
        "\"cortical_mapping_dstn\":{}},\"motor\":{\"cortical_id\":\"motor_1\","
        "\"dimensions\":{\"x\":10,\"y\":5,\"z\":1},\"cortical_mapping_dstn\":{\"sens_1\":"
        "{\"cortical_mapping_type\":\"fully_connected\",\"postsynaptic_current\":50}}}}},"
        "\"morphologies\":{\"lif\":{\"type\":\"vectors\"}}}",
        0, NULL);
    json_t *v = brain_bp_view(g);
    assert_ptr_not_equal(v, g);
    assert_null(brain_bp_validate(v));
    size_t n = 0;
    brain_bp_area_t *a = brain_bp_areas(v, &n);
    assert_int_equal(n, 2);
    assert_string_equal(a[0].id, "motor_1");
    assert_int_equal(a[0].neurons, 50);
    assert_int_equal(a[1].neurons, 100);
    free(a);
    json_t *rules = brain_bp_mapping_get(v, "motor_1", "sens_1");
    assert_string_equal(json_string_value(json_array_get(json_array_get(rules, 0), 0)),
                        "all_to_all");
    json_decref(rules);
    /* the genome itself is unchanged */
    assert_non_null(json_object_get(json_object_get(g, "blueprint"), "cortical_areas"));
    json_decref(v);
    /* a flat genome is its own view */
    json_t *flat = genome_small();
    json_t *fv = brain_bp_view(flat);
    assert_ptr_equal(fv, flat);
    json_decref(fv);
    json_decref(flat);
    json_decref(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_split),
        cmocka_unit_test(test_areas_and_properties),
        cmocka_unit_test(test_area_edit),
        cmocka_unit_test(test_area_add_remove_and_mappings),
        cmocka_unit_test(test_validate_names_the_gene),
        cmocka_unit_test(test_nested_view),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
