/* brain core: every morphology against hand-computed voxel lists, the shipped genomes (counts,
 * a few bursts), validation errors naming gene keys, edits that rebuild only what changed, the
 * burst semantics on tiny networks, and bit-for-bit determinism. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "brain/brain_burst.h"
#include "brain/brain_genome.h"
#include "brain/brain_morph.h"
#include "brain/brain_net.h"

#ifndef GENOME_DIR
#define GENOME_DIR "/work/shared/data/feagi-genomes"
#endif

/* ---- morphologies ---- */

typedef struct {
    uint32_t v[64][3];
    size_t n;
} voxels_t;

static int collect(void *ctx, uint32_t x, uint32_t y, uint32_t z)
{
    voxels_t *c = ctx;
    if (c->n < 64) {
        c->v[c->n][0] = x;
        c->v[c->n][1] = y;
        c->v[c->n][2] = z;
    }
    c->n++;
    return 0;
}

/* Voxels of one source voxel as "x,y,z x,y,z" for a readable comparison. */
static char *voxels_str(const brain_morph_t *m, const int32_t sc[3], uint32_t sx, uint32_t sy,
                        uint32_t sz, uint32_t dx, uint32_t dy, uint32_t dz, uint32_t ax,
                        uint32_t ay, uint32_t az)
{
    static char buf[1024];
    voxels_t c = {.n = 0};
    const uint32_t sd[3] = {sx, sy, sz}, dd[3] = {dx, dy, dz}, s[3] = {ax, ay, az};
    brain_rng_t rng;
    brain_rng_seed(&rng, 7);
    brain_morph_voxels(m, sc, sd, dd, s, &rng, collect, &c);
    buf[0] = 0;
    for (size_t i = 0; i < c.n && i < 64; i++) {
        size_t l = strlen(buf);
        snprintf(buf + l, sizeof buf - l, "%s%u,%u,%u", i ? " " : "", c.v[i][0], c.v[i][1],
                 c.v[i][2]);
    }
    return buf;
}

static const int32_t ONE[3] = {1, 1, 1};

static brain_morph_t fn_morph(brain_fn_t fn)
{
    brain_morph_t m = {.type = BRAIN_MORPH_FUNCTIONS, .fn = fn};
    return m;
}

static void test_morph_vectors(void **state)
{
    (void)state;
    int32_t vec[2][3] = {{1, 0, 0}, {0, -1, 0}};
    brain_morph_t m = {.type = BRAIN_MORPH_VECTORS, .vectors = vec, .n_items = 2};
    const int32_t sc[3] = {2, 1, 1};
    /* scalar doubles x; (0,1,0) + (2,0,0) and + (0,-1,0) */
    assert_string_equal(voxels_str(&m, sc, 4, 2, 1, 4, 2, 1, 0, 1, 0), "2,1,0 0,0,0");
    /* both fall outside a 4×2×1 destination */
    assert_string_equal(voxels_str(&m, sc, 4, 2, 1, 4, 2, 1, 3, 0, 0), "");
    /* a destination of 1×1×1: only the zero vector could land */
    assert_string_equal(voxels_str(&m, ONE, 1, 1, 1, 1, 1, 1, 0, 0, 0), "");
    int32_t zero[1][3] = {{0, 0, 0}};
    brain_morph_t z = {.type = BRAIN_MORPH_VECTORS, .vectors = zero, .n_items = 1};
    assert_string_equal(voxels_str(&z, ONE, 1, 1, 1, 1, 1, 1, 0, 0, 0), "0,0,0");
    /* source larger than destination: the same position or nothing */
    assert_string_equal(voxels_str(&z, ONE, 8, 1, 1, 2, 1, 1, 1, 0, 0), "1,0,0");
    assert_string_equal(voxels_str(&z, ONE, 8, 1, 1, 2, 1, 1, 5, 0, 0), "");
}

static void test_morph_patterns(void **state)
{
    (void)state;
    brain_pattern_t p[2] = {
        /* source x = 0 → any x, same y, any z but the source's */
        {.src = {{BRAIN_PAT_EXACT, 0}, {BRAIN_PAT_ANY, 0}, {BRAIN_PAT_ANY, 0}},
         .dst = {{BRAIN_PAT_ANY, 0}, {BRAIN_PAT_SAME, 0}, {BRAIN_PAT_OTHER, 0}}},
        /* any source → exactly (1,0,0) */
        {.src = {{BRAIN_PAT_ANY, 0}, {BRAIN_PAT_ANY, 0}, {BRAIN_PAT_ANY, 0}},
         .dst = {{BRAIN_PAT_EXACT, 1}, {BRAIN_PAT_EXACT, 0}, {BRAIN_PAT_EXACT, 0}}},
    };
    brain_morph_t m = {.type = BRAIN_MORPH_PATTERNS, .patterns = p, .n_items = 2};
    assert_string_equal(voxels_str(&m, ONE, 2, 2, 2, 2, 2, 2, 0, 1, 0), "0,1,1 1,1,1 1,0,0");
    /* source x = 1: only the second pattern */
    assert_string_equal(voxels_str(&m, ONE, 2, 2, 2, 2, 2, 2, 1, 1, 1), "1,0,0");
    /* 1×1×1 destination: `!` leaves nothing, the exact (1,0,0) is outside */
    assert_string_equal(voxels_str(&m, ONE, 1, 1, 1, 1, 1, 1, 0, 0, 0), "");
    /* source larger than destination: `?` beyond the destination is dropped */
    assert_string_equal(voxels_str(&m, ONE, 4, 4, 1, 2, 2, 1, 0, 3, 0), "1,0,0");
    /* smaller source: `*` spans the whole destination */
    brain_pattern_t all = {.src = {{BRAIN_PAT_ANY, 0}, {BRAIN_PAT_ANY, 0}, {BRAIN_PAT_ANY, 0}},
                           .dst = {{BRAIN_PAT_ANY, 0}, {BRAIN_PAT_ANY, 0}, {BRAIN_PAT_ANY, 0}}};
    brain_morph_t a = {.type = BRAIN_MORPH_PATTERNS, .patterns = &all, .n_items = 1};
    assert_string_equal(voxels_str(&a, ONE, 1, 1, 1, 2, 1, 2, 0, 0, 0), "0,0,0 1,0,0 0,0,1 1,0,1");
}

static void test_morph_projector(void **state)
{
    (void)state;
    brain_morph_t m = fn_morph(BRAIN_FN_PROJECTOR);
    /* equal sizes: x → x */
    assert_string_equal(voxels_str(&m, ONE, 3, 2, 1, 3, 2, 1, 2, 1, 0), "2,1,0");
    /* larger source 4 → 2: floor(x / 2) */
    assert_string_equal(voxels_str(&m, ONE, 4, 1, 1, 2, 1, 1, 0, 0, 0), "0,0,0");
    assert_string_equal(voxels_str(&m, ONE, 4, 1, 1, 2, 1, 1, 1, 0, 0), "0,0,0");
    assert_string_equal(voxels_str(&m, ONE, 4, 1, 1, 2, 1, 1, 3, 0, 0), "1,0,0");
    /* smaller source 2 → 4: every d with floor(d / 2) == x */
    assert_string_equal(voxels_str(&m, ONE, 2, 1, 1, 4, 1, 1, 1, 0, 0), "2,0,0 3,0,0");
    /* 1×1×1 → 3×1×2: the whole destination */
    assert_string_equal(voxels_str(&m, ONE, 1, 1, 1, 3, 1, 2, 0, 0, 0),
                        "0,0,0 1,0,0 2,0,0 0,0,1 1,0,1 2,0,1");
    /* 3 → 1: everything into 0 */
    assert_string_equal(voxels_str(&m, ONE, 3, 1, 1, 1, 1, 1, 2, 0, 0), "0,0,0");
    /* uneven 3 → 5: x=1 covers d with floor(d·3/5) == 1: d = 2, 3 */
    assert_string_equal(voxels_str(&m, ONE, 3, 1, 1, 5, 1, 1, 1, 0, 0), "2,0,0 3,0,0");
}

static void test_morph_block_expander_reducer(void **state)
{
    (void)state;
    brain_morph_t b = fn_morph(BRAIN_FN_BLOCK_TO_BLOCK);
    assert_string_equal(voxels_str(&b, ONE, 8, 2, 1, 3, 4, 1, 5, 1, 0), "2,1,0");
    assert_string_equal(voxels_str(&b, ONE, 1, 1, 1, 1, 1, 1, 0, 0, 0), "0,0,0");
    brain_morph_t e = fn_morph(BRAIN_FN_EXPANDER_X);
    assert_string_equal(voxels_str(&e, ONE, 2, 1, 1, 4, 1, 1, 1, 0, 0), "2,0,0");
    assert_string_equal(voxels_str(&e, ONE, 4, 2, 1, 2, 4, 1, 3, 1, 0), "1,2,0");
    brain_morph_t r = fn_morph(BRAIN_FN_REDUCER_X);
    /* 5 = 0b101 → x 0 and 2 */
    assert_string_equal(voxels_str(&r, ONE, 8, 1, 1, 4, 1, 1, 5, 0, 0), "0,0,0 2,0,0");
    /* bit 3 lies beyond a destination 3 wide */
    assert_string_equal(voxels_str(&r, ONE, 16, 1, 1, 3, 1, 1, 9, 0, 0), "0,0,0");
    assert_string_equal(voxels_str(&r, ONE, 1, 1, 1, 1, 1, 1, 0, 0, 0), "");
    brain_morph_t l = fn_morph(BRAIN_FN_LATERAL_PAIRS_X);
    assert_string_equal(voxels_str(&l, ONE, 4, 1, 1, 4, 1, 1, 2, 0, 0), "3,0,0");
    assert_string_equal(voxels_str(&l, ONE, 4, 1, 1, 4, 1, 1, 3, 0, 0), "2,0,0");
}

static void test_morph_all_to_all_and_randomizer(void **state)
{
    (void)state;
    brain_morph_t a = fn_morph(BRAIN_FN_ALL_TO_ALL);
    assert_string_equal(voxels_str(&a, ONE, 5, 5, 5, 2, 1, 2, 4, 4, 4), "0,0,0 1,0,0 0,0,1 1,0,1");
    assert_string_equal(voxels_str(&a, ONE, 1, 1, 1, 1, 1, 1, 0, 0, 0), "0,0,0");
    brain_morph_t r = fn_morph(BRAIN_FN_RANDOMIZER);
    /* one voxel, inside, and the same for the same seed */
    char first[64];
    snprintf(first, sizeof first, "%s", voxels_str(&r, ONE, 2, 2, 2, 7, 5, 3, 1, 1, 1));
    assert_string_equal(voxels_str(&r, ONE, 2, 2, 2, 7, 5, 3, 1, 1, 1), first);
    char *p = first, *end = NULL;
    unsigned long x = strtoul(p, &end, 10);
    assert_true(end != p && *end == ',');
    unsigned long y = strtoul(p = end + 1, &end, 10);
    assert_true(end != p && *end == ',');
    unsigned long z = strtoul(p = end + 1, &end, 10);
    assert_true(end != p && *end == '\0');
    assert_true(x < 7 && y < 5 && z < 3);
    assert_string_equal(voxels_str(&r, ONE, 2, 2, 2, 1, 1, 1, 1, 1, 1), "0,0,0");
}

/* ---- genomes ---- */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t r = fread(b, 1, (size_t)n, f);
    fclose(f);
    b[r] = 0;
    *len = r;
    return b;
}

static brain_genome_t *load(const char *name)
{
    char path[512];
    const char *dir = getenv("GANGLION_GENOME_DIR");
    snprintf(path, sizeof path, "%s/%s_genome.json", dir ? dir : GENOME_DIR, name);
    size_t len;
    char *text = slurp(path, &len);
    if (!text)
        return NULL;
    brain_genome_t *g = NULL;
    problem_t *err = NULL;
    int rc = brain_genome_parse(text, len, &g, &err);
    if (rc < 0) {
        json_t *j = problem_to_json(err, NULL);
        char *s = json_dumps(j, 0);
        fprintf(stderr, "%s: %s\n", name, s);
        free(s);
        json_decref(j);
        problem_destroy(&err);
    }
    free(text);
    return g;
}

static void test_shipped_genomes(void **state)
{
    (void)state;
    /* areas, neurons and synapses as computed independently from the JSON */
    static const struct {
        const char *name;
        size_t areas;
        uint32_t neurons;
        uint64_t synapses;
    } G[] = {{"barebones", 2, 2, 0},
             {"essential", 24, 55357, 1552},
             {"vision", 25, 204862, 2064},
             {"example_fp32", 2, 150, 5000}};
    for (size_t i = 0; i < sizeof G / sizeof G[0]; i++) {
        brain_genome_t *g = load(G[i].name);
        if (!g && access(GENOME_DIR, R_OK) != 0)
            skip();
        assert_non_null(g);
        assert_int_equal(g->n_areas, G[i].areas);
        brain_net_t *n = NULL;
        problem_t *err = NULL;
        assert_int_equal(brain_net_build(g, 42, 2, &n, &err), 0);
        assert_int_equal(n->n_neurons, G[i].neurons);
        assert_int_equal(n->n_synapses, G[i].synapses);
        if (strcmp(G[i].name, "example_fp32") == 0) {
            /* the nested form's fully connected mapping, its postsynaptic_current the weight */
            int motor = brain_net_area_find(n, "motor_1");
            assert_true(motor >= 0);
            assert_int_equal(n->areas[motor].syn.n, 5000);
            assert_int_equal(n->areas[motor].syn.weight[0], 50);
        }
        brain_burst_t *b = brain_burst_new(n, 1, 8);
        assert_non_null(b);
        uint64_t fired = 0;
        for (int k = 0; k < 20; k++) {
            /* poke the first voxel of every input area */
            for (uint32_t a = 0; a < n->n_areas; a++)
                if (n->areas[a].id[0] == 'i') {
                    brain_xyzp_t p = {0, 0, 0, 100.0f};
                    assert_int_equal(brain_burst_stage(b, a, &p, 1, NULL), 0);
                }
            fired += brain_burst_step(b);
        }
        assert_int_equal(brain_burst_count(b), 20);
        if (strcmp(G[i].name, "example_fp32") != 0)
            assert_true(fired > 0); /* at least the power area */
        /* written back, parsed again: the same genome */
        json_t *j = brain_genome_to_json(g);
        brain_genome_t *g2 = NULL;
        assert_int_equal(brain_genome_from_json(json_deep_copy(j), &g2, &err), 0);
        json_t *j2 = brain_genome_to_json(g2);
        assert_true(json_equal(j, j2));
        /* keys ganglion does not model are kept */
        if (strcmp(G[i].name, "vision") == 0) {
            assert_non_null(json_object_get(j, "signatures"));
            assert_non_null(json_object_get(j, "brain_regions"));
            assert_non_null(
                json_object_get(json_object_get(j, "blueprint"), "_____10c-iic400-cx-synatt-f"));
            assert_non_null(json_object_get(json_object_get(j, "neuron_morphologies"), "tile"));
        }
        json_decref(j);
        json_decref(j2);
        brain_genome_destroy(&g2);
        brain_burst_destroy(&b);
        brain_net_destroy(&n);
        brain_genome_destroy(&g);
    }
}

/* A tiny genome: areas as "id:x,y,z" and genes appended verbatim. */
static brain_genome_t *tiny(const char *blueprint_extra, const char *morphs_extra, problem_t **err)
{
    char text[8192];
    snprintf(
        text, sizeof text,
        "{\"genome_id\":\"t\",\"version\":\"2.1\",\"physiology\":{\"simulation_timestep\":0.01},"
        "\"neuron_morphologies\":{\"projector\":{\"type\":\"functions\",\"parameters\":{},"
        "\"class\":\"core\"},\"all_to_all\":{\"type\":\"functions\",\"parameters\":{}},"
        "\"randomizer\":{\"type\":\"functions\",\"parameters\":{}}%s},"
        "\"blueprint\":{%s}}",
        morphs_extra, blueprint_extra);
    brain_genome_t *g = NULL;
    *err = NULL;
    brain_genome_parse(text, strlen(text), &g, err);
    return g;
}

/* The error pointers of a 422 joined by spaces. */
static char *error_fields(problem_t *p)
{
    static char buf[2048];
    buf[0] = 0;
    json_t *j = problem_to_json(p, NULL);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(j, "errors"), i, e)
    {
        size_t l = strlen(buf);
        const char *f = json_string_value(json_object_get(e, "field"));
        if (!f)
            f = json_string_value(json_object_get(e, "pointer"));
        snprintf(buf + l, sizeof buf - l, "%s%s", l ? " " : "", f ? f : "?");
    }
    json_decref(j);
    return buf;
}

static void test_validation_errors(void **state)
{
    (void)state;
    problem_t *err = NULL;
    brain_genome_t *g =
        tiny("\"_____10c-c_a___-cx-___bbx-i\":2,"
             "\"_____10c-c_a___-cx-dstmap-d\":{\"c_none\":[[\"projector\",[1,1,1],1,false,1,1,1]],"
             "\"c_a___\":[[\"nomorph\",[1,1,1],1,false,1,1,1],[\"projector\",[1,1],1,false]]},"
             "\"_____10c-c_b___-cx-___bby-i\":0",
             "", &err);
    assert_null(g);
    assert_non_null(err);
    assert_int_equal(problem_status(err), 422);
    const char *f = error_fields(err);
    /* the wrong arity is reported at parse, the rest at validation: both name the gene key */
    assert_non_null(strstr(f, "/blueprint/_____10c-c_a___-cx-dstmap-d/c_a___/1"));
    problem_destroy(&err);

    g = tiny("\"_____10c-c_a___-cx-___bbx-i\":2,"
             "\"_____10c-c_a___-cx-dstmap-d\":{\"c_none\":[[\"projector\",[1,1,1],1,false,1,1,1]],"
             "\"c_a___\":[[\"nomorph\",[1,1,1],1,false,1,1,1]]},"
             "\"_____10c-c_b___-cx-___bby-i\":0",
             "", &err);
    assert_null(g);
    f = error_fields(err);
    assert_non_null(strstr(f, "/blueprint/_____10c-c_a___-cx-dstmap-d/c_none"));
    assert_non_null(strstr(f, "/blueprint/_____10c-c_a___-cx-dstmap-d/c_a___/0"));
    assert_non_null(strstr(f, "/blueprint/_____10c-c_b___-cx-___bby-i"));
    problem_destroy(&err);

    /* a morphology of unknown type, and a bad pattern element */
    g = tiny("\"_____10c-c_a___-cx-___bbx-i\":2",
             ",\"m1\":{\"type\":\"spiral\",\"parameters\":{}},"
             "\"m2\":{\"type\":\"patterns\",\"parameters\":{\"patterns\":[[[0,0,0],[\"#\",0,0]]]}}",
             &err);
    assert_null(g);
    f = error_fields(err);
    assert_non_null(strstr(f, "/neuron_morphologies/m1"));
    assert_non_null(strstr(f, "/neuron_morphologies/m2"));
    problem_destroy(&err);

    /* not JSON, too long */
    assert_int_equal(brain_genome_parse("{\"blueprint\":", 13, &g, &err), -EINVAL);
    assert_int_equal(problem_status(err), 400);
    problem_destroy(&err);
    assert_int_equal(brain_genome_parse("{}", BRAIN_GENOME_MAX_BYTES + 1, &g, &err), -E2BIG);
    assert_int_equal(problem_status(err), 413);
    problem_destroy(&err);

    /* two dstmap genes for one area (the type suffix differs): refused, naming the second;
     * the second was parsed over the first's array, writing past its end */
    g = tiny("\"_____10c-c_a___-cx-___bbx-i\":2,"
             "\"_____10c-c_a___-cx-dstmap-d\":{\"c_a___\":[[\"projector\",[1,1,1],1,false,1,1,1]]},"
             "\"_____10c-c_a___-cx-dstmap-m\":{\"c_a___\":[[\"projector\",[1,1,1],1,false,1,1,1]]}",
             "", &err);
    assert_null(g);
    assert_int_equal(problem_status(err), 422);
    assert_non_null(strstr(error_fields(err), "/blueprint/_____10c-c_a___-cx-dstmap-m"));
    problem_destroy(&err);

    /* one dstmap under another suffix is read, and written back under its own key only, so
     * the stored genome loads again with the same mapping */
    g = tiny("\"_____10c-c_a___-cx-___bbx-i\":2,\"_____10c-c_a___-cx-___bby-f\":3,"
             "\"_____10c-c_a___-cx-dstmap-m\":{\"c_a___\":[[\"projector\",[1,1,1],1,false,1,1,1]]}",
             "", &err);
    assert_non_null(g);
    assert_int_equal(g->areas[0].n_maps, 1);
    g->areas[0].dim[1] = 5; /* an edit: the written genome must carry it, not the old gene */
    json_t *back = brain_genome_to_json(g);
    assert_null(json_object_get(json_object_get(back, "blueprint"), "_____10c-c_a___-cx-dstmap-m"));
    brain_genome_t *again = NULL;
    assert_int_equal(brain_genome_from_json(back, &again, &err), 0);
    assert_int_equal(again->areas[0].n_maps, 1);
    assert_int_equal(again->areas[0].dim[1], 5);
    brain_genome_destroy(&again);
    brain_genome_destroy(&g);

    /* too many neurons in one area */
    g = tiny("\"_____10c-c_a___-cx-___bbx-i\":4096,\"_____10c-c_a___-cx-___bby-i\":4096,"
             "\"_____10c-c_a___-cx-___bbz-i\":2",
             "", &err);
    assert_null(g);
    assert_non_null(strstr(error_fields(err), "/blueprint/_____10c-c_a___-cx-___bbx-i"));
    problem_destroy(&err);
}

static void test_edit_rebuilds_only_what_changed(void **state)
{
    (void)state;
    problem_t *err = NULL;
    brain_genome_t *g = tiny(
        "\"_____10c-c_a___-cx-___bbx-i\":4,"
        "\"_____10c-c_a___-cx-dstmap-d\":{\"c_b___\":[[\"projector\",[1,1,1],1,false,1,1,1]]},"
        "\"_____10c-c_b___-cx-___bbx-i\":2,\"_____10c-c_c___-cx-___bbx-i\":3,"
        "\"_____10c-c_c___-cx-dstmap-d\":{\"c_b___\":[[\"all_to_all\",[1,1,1],1,false,1,1,1]]}",
        "", &err);
    assert_non_null(g);
    brain_net_t *n = NULL;
    assert_int_equal(brain_net_build(g, 5, 1, &n, &err), 0);
    assert_int_equal(n->n_synapses, 4 + 6);
    const uint32_t *c_block = n->areas[2].syn.target;

    /* a threshold: parameters of c_a only */
    brain_change_t ch;
    json_t *props = json_pack("{s:f}", "neuron_fire_threshold", 3.5);
    assert_int_equal(brain_genome_area_update(g, "c_a___", props, &ch, &err), 0);
    json_decref(props);
    assert_false(ch.neurons);
    assert_true(ch.params);
    assert_false(ch.synapses);
    assert_int_equal(ch.areas[0], 1);
    assert_int_equal(ch.areas[1], 0);
    assert_int_equal(ch.areas[2], 0);
    assert_int_equal(brain_net_rebuild(n, g, &ch, 1, &err), 0);
    free(ch.areas);
    assert_true(n->threshold[n->areas[0].first] == 3.5f);

    /* a mapping: c_a → c_b becomes all_to_all; c_c's block stays the same memory */
    json_t *rules = json_pack("[[s,[i,i,i],i,b,i,i,i]]", "all_to_all", 1, 1, 1, -2, 0, 1, 1, 1);
    assert_int_equal(brain_genome_mapping_set(g, "c_a___", "c_b___", rules, &ch, &err), 0);
    json_decref(rules);
    assert_true(ch.synapses);
    assert_int_equal(ch.areas[0], 1);
    assert_int_equal(ch.areas[2], 0);
    assert_int_equal(brain_net_rebuild(n, g, &ch, 2, &err), 0);
    free(ch.areas);
    assert_int_equal(n->n_synapses, 8 + 6);
    assert_ptr_equal(n->areas[2].syn.target, c_block);
    assert_int_equal(n->areas[0].syn.weight[0], 2);
    assert_int_equal(n->areas[0].syn.flags[0], BRAIN_SYN_INHIBITORY);
    assert_true(n->areas[0].syn.uniform); /* one rule: one weight, the burst reads targets only */

    /* a dimension: the whole network */
    props = json_pack("{s:[i,i,i]}", "cortical_dimensions", 5, 1, 1);
    assert_int_equal(brain_genome_area_update(g, "c_b___", props, &ch, &err), 0);
    json_decref(props);
    assert_true(ch.neurons);
    assert_int_equal(brain_net_rebuild(n, g, &ch, 2, &err), 0);
    free(ch.areas);
    assert_int_equal(n->n_neurons, 4 + 5 + 3);
    assert_int_equal(n->n_synapses, 4 * 5 + 3 * 5);

    /* refusals leave the genome as it was */
    props = json_pack("{s:i}", "no_such_property", 1);
    assert_int_equal(brain_genome_area_update(g, "c_b___", props, &ch, &err), -EINVAL);
    json_decref(props);
    problem_destroy(&err);
    rules = json_pack("[[s,[i,i,i],i,b,i,i,i]]", "nomorph", 1, 1, 1, 1, 0, 1, 1, 1);
    assert_int_equal(brain_genome_mapping_set(g, "c_a___", "c_b___", rules, &ch, &err), -EINVAL);
    json_decref(rules);
    problem_destroy(&err);
    assert_int_equal(brain_genome_morph_remove(g, "all_to_all", &err), -EBUSY);
    problem_destroy(&err);
    /* regions: kept as given, areas checked */
    assert_int_equal(
        brain_genome_regions_set(g, json_pack("{s:{s:[s]}}", "r1", "areas", "c_x___"), &err),
        -EINVAL);
    assert_non_null(strstr(error_fields(err), "/brain_regions/r1/areas"));
    problem_destroy(&err);
    assert_int_equal(
        brain_genome_regions_set(
            g, json_pack("{s:{s:[s],s:s}}", "r1", "areas", "c_a___", "title", "T"), &err),
        0);
    json_t *doc = brain_genome_to_json(g);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(doc, "brain_regions"), "r1"), "title")),
                        "T");
    json_decref(doc);

    assert_int_equal(brain_genome_area_remove(g, "c_b___", &ch, &err), 0);
    free(ch.areas);
    assert_int_equal(g->n_areas, 2);
    assert_int_equal(g->areas[0].n_maps, 0);
    brain_net_destroy(&n);
    brain_genome_destroy(&g);
}

/* ---- burst semantics on tiny networks ---- */

typedef struct {
    brain_genome_t *g;
    brain_net_t *n;
    brain_burst_t *b;
} rig_t;

static void rig_up(rig_t *r, const char *blueprint)
{
    problem_t *err = NULL;
    r->g = tiny(blueprint, "", &err);
    if (!r->g) {
        json_t *j = problem_to_json(err, NULL);
        char *s = json_dumps(j, 0);
        fprintf(stderr, "%s\n", s);
        free(s);
        json_decref(j);
    }
    assert_non_null(r->g);
    assert_int_equal(brain_net_build(r->g, 11, 1, &r->n, &err), 0);
    r->b = brain_burst_new(r->n, 3, 16);
    assert_non_null(r->b);
}

static void rig_down(rig_t *r)
{
    brain_burst_destroy(&r->b);
    brain_net_destroy(&r->n);
    brain_genome_destroy(&r->g);
}

/* Stages `in` into neuron 0 for each burst and returns the fire pattern of neuron `watch`. */
static char *pattern(rig_t *r, float in, uint32_t watch, int bursts)
{
    static char buf[128];
    for (int k = 0; k < bursts; k++) {
        if (in != 0)
            assert_int_equal(brain_burst_stage_neuron(r->b, 0, in), 0);
        brain_burst_step(r->b);
        uint32_t nf;
        const uint32_t *f = brain_burst_fired(r->b, &nf, NULL);
        bool on = false;
        for (uint32_t i = 0; i < nf; i++)
            on |= f[i] == watch;
        buf[k] = on ? '1' : '0';
    }
    buf[bursts] = 0;
    return buf;
}

#define ONE_NEURON "\"_____10c-c_a___-nx-fire_t-f\":10,"

static void test_burst_refractory(void **state)
{
    (void)state;
    rig_t r;
    rig_up(&r, ONE_NEURON "\"_____10c-c_a___-nx-refrac-i\":2");
    assert_string_equal(pattern(&r, 10, 0, 7), "1001001");
    rig_down(&r);
}

static void test_burst_consecutive_limit_and_snooze(void **state)
{
    (void)state;
    rig_t r;
    rig_up(&r, ONE_NEURON "\"_____10c-c_a___-nx-c_fr_c-i\":2,\"_____10c-c_a___-nx-snooze-f\":1");
    /* two fires, one snoozed burst, one burst where the count is still at the limit (it is reset
     * by not firing), then again */
    assert_string_equal(pattern(&r, 10, 0, 8), "11001100");
    rig_down(&r);
    rig_up(&r, ONE_NEURON "\"_____10c-c_a___-nx-c_fr_c-i\":3");
    assert_string_equal(pattern(&r, 10, 0, 8), "11101110");
    rig_down(&r);
}

static void test_burst_leak_and_accumulate(void **state)
{
    (void)state;
    rig_t r;
    /* 6, then 3 + 6 = 9, then 4.5 + 6 = 10.5: fires on the third */
    rig_up(&r,
           ONE_NEURON "\"_____10c-c_a___-nx-mp_acc-b\":true,\"_____10c-c_a___-nx-leak_c-f\":0.5");
    assert_string_equal(pattern(&r, 6, 0, 4), "0010");
    assert_true(r.n->potential[0] == 6.0f * 0.5f);
    rig_down(&r);
    /* no leak: 6, 12 */
    rig_up(&r, ONE_NEURON "\"_____10c-c_a___-nx-mp_acc-b\":true");
    assert_string_equal(pattern(&r, 6, 0, 4), "0101");
    rig_down(&r);
    /* leak in percent, as FEAGI genomes write it: 50 */
    rig_up(&r,
           ONE_NEURON "\"_____10c-c_a___-nx-mp_acc-b\":true,\"_____10c-c_a___-nx-leak_c-f\":50");
    assert_string_equal(pattern(&r, 6, 0, 4), "0010");
    rig_down(&r);
    /* no accumulation: 6 each burst never reaches 10 */
    rig_up(&r, ONE_NEURON "\"_____10c-c_a___-nx-mp_acc-b\":false");
    assert_string_equal(pattern(&r, 6, 0, 5), "00000");
    rig_down(&r);
}

static void test_burst_threshold_limit(void **state)
{
    (void)state;
    rig_t r;
    rig_up(&r, ONE_NEURON "\"_____10c-c_a___-nx-fthlim-f\":20");
    assert_string_equal(pattern(&r, 25, 0, 2), "00");
    assert_string_equal(pattern(&r, 20, 0, 2), "11");
    assert_string_equal(pattern(&r, 9.5f, 0, 1), "0");
    rig_down(&r);
    /* threshold increment by position: neuron x=2 needs 10 + 2·5 */
    rig_up(&r, ONE_NEURON "\"_____10c-c_a___-cx-___bbx-i\":3,\"_____10c-c_a___-nx-ftincx-f\":5");
    assert_true(r.n->threshold[2] == 20.0f);
    rig_down(&r);
}

static void test_burst_excitability(void **state)
{
    (void)state;
    rig_t r;
    rig_up(&r, ONE_NEURON "\"_____10c-c_a___-nx-excite-f\":0");
    assert_string_equal(pattern(&r, 50, 0, 6), "000000");
    rig_down(&r);
    rig_up(&r, ONE_NEURON "\"_____10c-c_a___-nx-excite-f\":1");
    assert_string_equal(pattern(&r, 50, 0, 6), "111111");
    rig_down(&r);
    rig_up(&r, ONE_NEURON "\"_____10c-c_a___-nx-excite-f\":100");
    assert_string_equal(pattern(&r, 50, 0, 6), "111111");
    rig_down(&r);
    /* 50 %: some fire, some do not, over 200 bursts */
    rig_up(&r, ONE_NEURON "\"_____10c-c_a___-nx-excite-f\":0.5");
    char *p = pattern(&r, 50, 0, 100);
    int ones = 0;
    for (int i = 0; p[i]; i++)
        ones += p[i] == '1';
    assert_true(ones > 25 && ones < 75);
    rig_down(&r);
}

/* Three areas: a (excitatory to c), b (inhibitory to c), c. */
#define TRIO                                                                                       \
    "\"_____10c-c_a___-nx-fire_t-f\":1,\"_____10c-c_b___-nx-fire_t-f\":1,"                         \
    "\"_____10c-c_c___-nx-fire_t-f\":1,\"_____10c-c_a___-nx-pstcr_-f\":3,"                         \
    "\"_____10c-c_b___-nx-pstcr_-f\":3,"                                                           \
    "\"_____10c-c_a___-cx-dstmap-d\":{\"c_c___\":[[\"projector\",[1,1,1],2,false,1,1,1]]},"        \
    "\"_____10c-c_b___-cx-dstmap-d\":{\"c_c___\":[[\"projector\",[1,1,1],-2,false,1,1,1]]}"

static void test_burst_inhibitory(void **state)
{
    (void)state;
    rig_t r;
    rig_up(&r, TRIO);
    /* a alone: c gets 2 × 3 = 6 in the next burst and fires */
    assert_int_equal(brain_burst_stage_neuron(r.b, 0, 5), 0);
    assert_int_equal(brain_burst_step(r.b), 1);
    assert_int_equal(brain_burst_step(r.b), 1);
    uint32_t nf;
    const float *p;
    const uint32_t *f = brain_burst_fired(r.b, &nf, &p);
    assert_int_equal(f[0], 2);
    assert_true(p[0] == 6.0f);
    /* a and b together cancel */
    assert_int_equal(brain_burst_stage_neuron(r.b, 0, 5), 0);
    assert_int_equal(brain_burst_stage_neuron(r.b, 1, 5), 0);
    assert_int_equal(brain_burst_step(r.b), 2);
    assert_int_equal(brain_burst_step(r.b), 0);
    rig_down(&r);
}

static void test_burst_psp_divided_and_uniform(void **state)
{
    (void)state;
    rig_t r;
    /* one source to four targets, PSP 10 weight 1: divided 2.5 each, under a threshold of 3 */
    const char *bp =
        "\"_____10c-c_a___-nx-fire_t-f\":1,\"_____10c-c_a___-nx-pstcr_-f\":10,"
        "\"_____10c-c_b___-cx-___bbx-i\":4,\"_____10c-c_b___-nx-fire_t-f\":3,"
        "\"_____10c-c_a___-cx-dstmap-d\":{\"c_b___\":[[\"all_to_all\",[1,1,1],1,false,1,1,1]]}";
    rig_up(&r, bp);
    assert_int_equal(brain_burst_stage_neuron(r.b, 0, 1), 0);
    assert_int_equal(brain_burst_step(r.b), 1);
    assert_int_equal(brain_burst_step(r.b), 0);
    rig_down(&r);
    char uni[1024];
    snprintf(uni, sizeof uni, "%s,\"_____10c-c_a___-cx-pspuni-b\":true", bp);
    rig_up(&r, uni);
    assert_int_equal(brain_burst_stage_neuron(r.b, 0, 1), 0);
    assert_int_equal(brain_burst_step(r.b), 1);
    assert_int_equal(brain_burst_step(r.b), 4);
    /* the ledger, per area; motor points of the fired voxels */
    uint32_t out[8];
    assert_int_equal(brain_burst_ledger_area(r.b, 2, 1, out, 8), 4);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[3], 4);
    assert_int_equal(brain_burst_ledger_area(r.b, 1, 1, out, 8), 0);
    assert_int_equal(brain_burst_ledger_area(r.b, 1, 0, out, 8), 1);
    assert_int_equal(brain_burst_ledger_area(r.b, 3, 0, out, 8), -ENOENT);
    assert_int_equal(brain_burst_area_fired_count(r.b, 1), 4);
    brain_xyzp_t pts[8];
    size_t total;
    assert_int_equal(brain_burst_area_xyzp(r.b, 1, pts, 8, &total), 4);
    assert_int_equal(pts[2].x, 2);
    assert_true(pts[2].p == 10.0f);
    rig_down(&r);
}

static void test_burst_power_and_ledger_depth(void **state)
{
    (void)state;
    rig_t r;
    rig_up(&r, "\"_____10c-_power-nx-fire_t-f\":1,\"_____10c-_power-cx-___bbx-i\":2");
    for (int i = 0; i < 20; i++)
        assert_int_equal(brain_burst_step(r.b), 2);
    /* ledger of 16: bursts 5..20 */
    assert_int_equal(brain_burst_ledger_oldest(r.b), 5);
    uint32_t out[2];
    assert_int_equal(brain_burst_ledger_area(r.b, 4, 0, out, 2), -ENOENT);
    assert_int_equal(brain_burst_ledger_area(r.b, 5, 0, out, 2), 2);
    assert_int_equal(brain_burst_ledger_area(r.b, 21, 0, out, 2), -ENOENT);
    rig_down(&r);
}

/* Same genome, seed and input → the same fire sequence; the build's thread count does not
 * matter. A randomizer mapping and 50 % excitability make every seed-dependent path count. */
static uint64_t run_hash(unsigned threads, uint64_t seed)
{
    problem_t *err = NULL;
    brain_genome_t *g =
        tiny("\"_____10c-c_a___-cx-___bbx-i\":40,\"_____10c-c_a___-cx-___bby-i\":25,"
             "\"_____10c-c_a___-nx-fire_t-f\":2,\"_____10c-c_a___-nx-excite-f\":0.5,"
             "\"_____10c-c_a___-nx-leak_c-f\":0.2,\"_____10c-c_a___-nx-leak_v-f\":0.1,"
             "\"_____10c-c_a___-nx-mp_acc-b\":true,\"_____10c-c_a___-nx-refrac-i\":1,"
             "\"_____10c-c_a___-cx-dstmap-d\":{\"c_a___\":[[\"randomizer\",[1,1,1],1,false,1,1,1],"
             "[\"randomizer\",[1,1,1],1,false,1,1,1],[\"randomizer\",[1,1,1],-1,false,1,1,1]]}",
             "", &err);
    assert_non_null(g);
    brain_net_t *n = NULL;
    assert_int_equal(brain_net_build(g, seed, threads, &n, &err), 0);
    assert_false(n->areas[0].syn.uniform); /* excitatory and inhibitory rules mixed */
    brain_burst_t *b = brain_burst_new(n, seed, 4);
    brain_rng_t in;
    brain_rng_seed(&in, 99);
    uint64_t h = 1469598103934665603ull;
    uint64_t total = 0;
    for (int k = 0; k < 200; k++) {
        for (int s = 0; s < 20; s++)
            brain_burst_stage_neuron(b, (uint32_t)(brain_rng_next(&in) % n->n_neurons), 3.0f);
        brain_burst_step(b);
        uint32_t nf;
        const uint32_t *f = brain_burst_fired(b, &nf, NULL);
        total += nf;
        for (uint32_t i = 0; i < nf; i++)
            h = (h ^ f[i]) * 1099511628211ull;
        h = (h ^ 0xffffffffu) * 1099511628211ull;
    }
    assert_true(total > 200);
    brain_burst_destroy(&b);
    brain_net_destroy(&n);
    brain_genome_destroy(&g);
    return h;
}

static void test_determinism(void **state)
{
    (void)state;
    uint64_t a = run_hash(1, 1234);
    assert_true(run_hash(1, 1234) == a);
    assert_true(run_hash(3, 1234) == a);
    assert_true(run_hash(1, 1235) != a);
}

static void test_wire_ids(void **state)
{
    (void)state;
    uint8_t w[8];
    brain_area_id_to_wire("iic400", w);
    assert_memory_equal(w, "iic400__", 8);
    brain_genome_t *g = load("essential");
    if (!g)
        skip();
    ssize_t i = brain_genome_area_find_wire(g, (const uint8_t *)"omot00__");
    assert_true(i >= 0);
    assert_string_equal(g->areas[i].id, "omot00");
    assert_int_equal(brain_genome_area_find_wire(g, (const uint8_t *)"omot01__"), -1);
    brain_genome_destroy(&g);
}

/* Genes replaced by values of the wrong type, sign or size, many at a time: the parser either
 * accepts a genome that then builds and runs, or refuses it with a problem; nothing else. */
static void test_mutated_genomes(void **state)
{
    (void)state;
    brain_genome_t *base = load("essential");
    if (!base)
        skip();
    json_t *doc = brain_genome_to_json(base);
    brain_genome_destroy(&base);
    json_t *bp = json_object_get(doc, "blueprint");
    size_t n_keys = json_object_size(bp);
    const char **keys = calloc(n_keys, sizeof *keys);
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(bp, k, v) keys[i++] = k;
    brain_rng_t rng;
    brain_rng_seed(&rng, 2024);
    int accepted = 0, refused = 0;
    for (int round = 0; round < 150; round++) {
        json_t *m = json_deep_copy(doc);
        json_t *mbp = json_object_get(m, "blueprint");
        for (int e = 0; e < 3; e++) {
            const char *key = keys[brain_rng_next(&rng) % n_keys];
            json_t *val;
            switch (brain_rng_next(&rng) % 9) {
            case 0:
                val = json_integer(-1);
                break;
            case 1:
                val = json_integer(0);
                break;
            case 2:
                val = json_integer(3);
                break;
            case 3:
                val = json_real(1e12);
                break;
            case 4:
                val = json_string("x");
                break;
            case 5:
                val = json_array();
                break;
            case 6:
                val = json_pack("{s:[[s,[i,i,i],i,b,i,i,i]]}", "omot00", "projector", 1, 1, 1, -300,
                                0, 1, 1, 1);
                break;
            case 7:
                val = json_pack("{s:[[s]]}", "nowhere", "projector");
                break;
            default:
                val = json_null();
                break;
            }
            json_object_set_new(mbp, key, val);
        }
        brain_genome_t *g = NULL;
        problem_t *err = NULL;
        if (brain_genome_from_json(m, &g, &err) == 0) {
            brain_net_t *n = NULL;
            if (brain_net_build(g, 3, 2, &n, &err) == 0) {
                brain_burst_t *b = brain_burst_new(n, 3, 2);
                for (int s = 0; s < 3; s++)
                    brain_burst_step(b);
                brain_burst_destroy(&b);
                brain_net_destroy(&n);
            }
            brain_genome_destroy(&g);
            accepted++;
        } else {
            assert_non_null(err);
            int st = problem_status(err);
            assert_true(st == 400 || st == 413 || st == 422);
            refused++;
        }
        problem_destroy(&err);
    }
    assert_true(accepted > 0 && refused > 0);
    free(keys);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_morph_vectors),
        cmocka_unit_test(test_morph_patterns),
        cmocka_unit_test(test_morph_projector),
        cmocka_unit_test(test_morph_block_expander_reducer),
        cmocka_unit_test(test_morph_all_to_all_and_randomizer),
        cmocka_unit_test(test_shipped_genomes),
        cmocka_unit_test(test_validation_errors),
        cmocka_unit_test(test_edit_rebuilds_only_what_changed),
        cmocka_unit_test(test_burst_refractory),
        cmocka_unit_test(test_burst_consecutive_limit_and_snooze),
        cmocka_unit_test(test_burst_leak_and_accumulate),
        cmocka_unit_test(test_burst_threshold_limit),
        cmocka_unit_test(test_burst_excitability),
        cmocka_unit_test(test_burst_inhibitory),
        cmocka_unit_test(test_burst_psp_divided_and_uniform),
        cmocka_unit_test(test_burst_power_and_ledger_depth),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_wire_ids),
        cmocka_unit_test(test_mutated_genomes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
