/* The burst engine on one and on two burst threads: a network large enough that its bursts
 * split their propagation, run with the same seed and input on both, must give the same fired
 * sets, potentials and neuron state after every burst, bit for bit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "brain/brain_burst.h"
#include "brain/brain_genome.h"
#include "brain/brain_morph.h"
#include "brain/brain_net.h"

/* `n` randomizer rules into *out, the first `exc` excitatory, the others inhibitory. */
static void rules(char *out, size_t cap, int n, int exc)
{
    size_t off = 0;
    out[0] = 0;
    for (int k = 0; k < n && off < cap; k++)
        off += (size_t)snprintf(out + off, cap - off, "%s[\"randomizer\",[1,1,1],%d,false,1,1,1]",
                                k ? "," : "", k < exc ? 1 : -1);
}

/* 100 × 100 neurons (c_a___) mapped onto themselves by 31 randomizer rules, 11 of them
 * inhibitory, PSP divided by the out-degree (7/31 a synapse: sums that depend on their order
 * when rounded), accumulating, leaking, with refractory and consecutive-fire limits and 90 %
 * excitability (a draw for every neuron that reaches its threshold); 100 × 60 more (c_b___,
 * excitability 1: no draws) mapped onto both areas. The upper range of the split dynamics holds
 * neurons of both. */
static brain_genome_t *genome(void)
{
    char ra[4096], rba[2048], rbb[4096];
    rules(ra, sizeof ra, 31, 20);
    rules(rba, sizeof rba, 10, 10);
    rules(rbb, sizeof rbb, 21, 15);
    char text[16384];
    snprintf(text, sizeof text,
             "{\"genome_id\":\"t\",\"version\":\"2.1\",\"physiology\":{\"simulation_timestep\":"
             "0.01},\"neuron_morphologies\":{\"randomizer\":{\"type\":\"functions\","
             "\"parameters\":{}}},\"blueprint\":{"
             "\"_____10c-c_a___-cx-___bbx-i\":100,\"_____10c-c_a___-cx-___bby-i\":100,"
             "\"_____10c-c_a___-nx-fire_t-f\":2,\"_____10c-c_a___-nx-excite-f\":0.9,"
             "\"_____10c-c_a___-nx-pstcr_-f\":7,\"_____10c-c_a___-nx-leak_c-f\":0.3,"
             "\"_____10c-c_a___-nx-mp_acc-b\":true,\"_____10c-c_a___-nx-refrac-i\":1,"
             "\"_____10c-c_a___-nx-c_fr_c-i\":3,\"_____10c-c_a___-nx-snooze-f\":2,"
             "\"_____10c-c_a___-cx-dstmap-d\":{\"c_a___\":[%s]},"
             "\"_____10c-c_b___-cx-___bbx-i\":100,\"_____10c-c_b___-cx-___bby-i\":60,"
             "\"_____10c-c_b___-nx-fire_t-f\":2,\"_____10c-c_b___-nx-pstcr_-f\":5,"
             "\"_____10c-c_b___-nx-leak_c-f\":0.2,\"_____10c-c_b___-nx-mp_acc-b\":true,"
             "\"_____10c-c_b___-nx-refrac-i\":2,"
             "\"_____10c-c_b___-cx-dstmap-d\":{\"c_a___\":[%s],\"c_b___\":[%s]}}}",
             ra, rba, rbb);
    brain_genome_t *g = NULL;
    problem_t *err = NULL;
    assert_int_equal(brain_genome_parse(text, strlen(text), &g, &err), 0);
    return g;
}

typedef struct {
    brain_net_t *n;
    brain_burst_t *b;
} side_t;

static void side_up(side_t *s, const brain_genome_t *g, unsigned threads)
{
    problem_t *err = NULL;
    assert_int_equal(brain_net_build(g, 5, 1, &s->n, &err), 0);
    s->b = brain_burst_new(s->n, 5, 4);
    assert_non_null(s->b);
    brain_burst_threads_set(s->b, threads);
    assert_int_equal(brain_burst_split_neurons_set(s->b, 1000), 0); /* 16 000 neurons split */
    brain_burst_worker_wait(s->b, true);
}

static void side_down(side_t *s)
{
    brain_burst_destroy(&s->b);
    brain_net_destroy(&s->n);
}

static void test_one_and_two_threads_equal(void **state)
{
    (void)state;
    brain_genome_t *g = genome();
    side_t one, two;
    side_up(&one, g, 1);
    side_up(&two, g, 2);
    uint32_t nn = one.n->n_neurons;
    assert_true(one.n->n_synapses >= BRAIN_BURST_SPLIT_DELIVERIES);
    assert_int_equal(brain_burst_threads(one.b), 1);
    assert_int_equal(brain_burst_threads(two.b), 2);
    brain_rng_t in;
    brain_rng_seed(&in, 42);
    uint64_t fired = 0;
    for (int k = 0; k < 120; k++) {
        /* bursts of strong input alternate with quiet ones: split and unsplit bursts mix */
        uint32_t staged = (k / 6) % 2 ? 200 : 14000;
        for (uint32_t s = 0; s < staged; s++) {
            uint32_t i = (uint32_t)(brain_rng_next(&in) % nn);
            float v = 1.5f + (float)(brain_rng_next(&in) % 1000) / 997.0f;
            assert_int_equal(brain_burst_stage_neuron(one.b, i, v), 0);
            assert_int_equal(brain_burst_stage_neuron(two.b, i, v), 0);
        }
        uint32_t n1 = brain_burst_step(one.b), n2 = brain_burst_step(two.b);
        assert_int_equal(n1, n2);
        fired += n1;
        uint32_t c1, c2;
        const float *p1, *p2;
        const uint32_t *f1 = brain_burst_fired(one.b, &c1, &p1);
        const uint32_t *f2 = brain_burst_fired(two.b, &c2, &p2);
        assert_memory_equal(f1, f2, (size_t)c1 * sizeof *f1);
        assert_memory_equal(p1, p2, (size_t)c1 * sizeof *p1);
        assert_memory_equal(one.n->potential, two.n->potential, nn * sizeof(float));
        assert_memory_equal(one.n->countdown, two.n->countdown, nn * sizeof(uint16_t));
        assert_memory_equal(one.n->cfc, two.n->cfc, nn * sizeof(uint16_t));
    }
    uint64_t tasks1, tasks2;
    uint64_t s1 = brain_burst_splits(one.b, &tasks1), s2 = brain_burst_splits(two.b, &tasks2);
    /* both kinds of burst were run, and on two threads the worker ran its half of each split */
    assert_int_equal(s1, s2);
    assert_true(s1 >= 20 && s1 <= 100);
    assert_int_equal(tasks1, 0);
    assert_int_equal(tasks2, 2 * s2);
    assert_true(fired > 100000);
    side_down(&one);
    side_down(&two);
    brain_genome_destroy(&g);
}

/* The worker is stopped and started again as the thread count changes, and stopping it with
 * the engine leaves nothing behind (the sanitizer builds check the leak). */
static void test_threads_switch(void **state)
{
    (void)state;
    brain_genome_t *g = genome();
    side_t s;
    side_up(&s, g, 2);
    for (int k = 0; k < 6; k++) {
        brain_burst_threads_set(s.b, k % 2 ? 1 : 2);
        for (uint32_t i = 0; i < 6000; i++)
            assert_int_equal(brain_burst_stage_neuron(s.b, i, 3.0f), 0);
        brain_burst_step(s.b);
        brain_burst_step(s.b);
    }
    uint64_t tasks;
    assert_true(brain_burst_splits(s.b, &tasks) >= 3);
    side_down(&s);
    brain_genome_destroy(&g);
}

/* Below BRAIN_BURST_SPLIT_NEURONS no burst splits, however many synapses it delivers. */
static void test_small_networks_never_split(void **state)
{
    (void)state;
    brain_genome_t *g = genome();
    brain_net_t *n = NULL;
    problem_t *err = NULL;
    assert_int_equal(brain_net_build(g, 5, 1, &n, &err), 0);
    assert_true(n->n_neurons < BRAIN_BURST_SPLIT_NEURONS);
    brain_burst_t *b = brain_burst_new(n, 5, 4);
    assert_non_null(b);
    for (int k = 0; k < 4; k++) {
        for (uint32_t i = 0; i < n->n_neurons; i += 2)
            assert_int_equal(brain_burst_stage_neuron(b, i, 3.0f), 0);
        brain_burst_step(b);
    }
    assert_int_equal(brain_burst_splits(b, NULL), 0);
    /* lowered, the same bursts split */
    assert_int_equal(brain_burst_split_neurons_set(b, 1), 0);
    for (int k = 0; k < 4; k++) {
        for (uint32_t i = 0; i < n->n_neurons; i += 2)
            assert_int_equal(brain_burst_stage_neuron(b, i, 3.0f), 0);
        brain_burst_step(b);
    }
    assert_true(brain_burst_splits(b, NULL) >= 3);
    brain_burst_destroy(&b);
    brain_net_destroy(&n);
    brain_genome_destroy(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_and_two_threads_equal),
        cmocka_unit_test(test_threads_switch),
        cmocka_unit_test(test_small_networks_never_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
