/* Fuzzes the FEAGI genome loader (src/brain/brain_genome.c) as POST /brains and a genome upload
 * reach it: arbitrary bytes parsed, validated and morphologies read by brain_genome_parse; an
 * accepted genome must write back to JSON that parses again, and a small one is grown into a
 * network. Input: the genome text, exactly as a request body. */
#include <assert.h>
#include <errno.h>

#include "brain/brain_genome.h"
#include "brain/brain_net.h"
#include "fuzz_util.h"

/* The API admits up to BRAIN_NET_MAX_NEURONS; the harness grows a network only under much
 * tighter bounds so one input stays in milliseconds: at most FUZZ_NEURONS neurons, and at most
 * FUZZ_SYN_WORK candidate synapses, counted per rule as source neurons × destination neurons ×
 * the morphology's vectors or patterns (an upper bound on what the rule can grow). */
#define FUZZ_NEURONS  512u
#define FUZZ_SYN_WORK (1ull << 20)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static bool fuzz_small(const brain_genome_t *g)
{
    uint64_t neurons = 0, work = 0;
    for (size_t a = 0; a < g->n_areas; a++)
        neurons += brain_area_neurons(&g->areas[a]);
    if (neurons > FUZZ_NEURONS)
        return false;
    for (size_t a = 0; a < g->n_areas; a++) {
        const brain_area_t *s = &g->areas[a];
        for (size_t m = 0; m < s->n_maps; m++) {
            ssize_t d = brain_genome_area_find(g, s->maps[m].dst);
            assert(d >= 0); /* validated: every destination exists */
            for (size_t r = 0; r < s->maps[m].n_rules; r++) {
                ssize_t k = brain_genome_morph_find(g, s->maps[m].rules[r].morphology);
                uint64_t items = k >= 0 && g->morphs[k].n_items ? g->morphs[k].n_items : 1;
                work += brain_area_neurons(s) * brain_area_neurons(&g->areas[d]) * items;
                if (work > FUZZ_SYN_WORK)
                    return false;
            }
        }
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    brain_genome_t *g = NULL;
    problem_t *err = NULL;
    int rc = brain_genome_parse((const char *)data, size, &g, &err);
    if (rc < 0) {
        assert(!g && (err || rc == -ENOMEM)); /* every refusal says why */
        problem_destroy(&err);
        return 0;
    }
    assert(g && !err);

    /* What is stored is what the daemon loads again at start: it must parse. */
    json_t *back = brain_genome_to_json(g);
    assert(back);
    brain_genome_t *again = NULL;
    rc = brain_genome_from_json(back, &again, &err); /* steals back */
    assert(rc == 0 && "a genome the loader accepted does not load again once written");
    assert(again->n_areas == g->n_areas && again->n_morphs == g->n_morphs);
    brain_genome_destroy(&again);

    if (fuzz_small(g)) {
        brain_net_t *net = NULL;
        if (brain_net_build(g, 1, 1, &net, &err) == 0) {
            assert(net->n_areas == g->n_areas);
            brain_net_destroy(&net);
        } else {
            problem_destroy(&err);
        }
    }
    brain_genome_destroy(&g);
    return 0;
}
