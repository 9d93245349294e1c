/* bench/brain edit: how long one mapping change takes on a large network, grown incrementally
 * (brain_net_derive) against the whole network built again from the edited genome.
 *
 *   edit <neurons> <synapses per neuron> <areas> <threads>
 *
 * The genome: `areas` areas of neurons/areas each, area i mapped onto area i+1 (the last onto the
 * first) by `synapses` randomizer rules. The edit: the first mapping's rules get another weight.
 * Prints one JSON object. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "brain/brain_genome.h"
#include "brain/brain_net.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static brain_genome_t *genome(uint32_t neurons, unsigned k, unsigned areas, int first_weight)
{
    size_t cap = 4096 + (size_t)areas * (512 + (size_t)k * 48);
    char *text = malloc(cap);
    uint32_t per = neurons / areas, x = per, y = 1;
    while (x > 65535) {
        y *= 10;
        x = per / y;
    }
    int len = snprintf(text, cap,
                       "{\"genome_id\":\"edit\",\"version\":\"2.1\",\"neuron_morphologies\":{"
                       "\"randomizer\":{\"type\":\"functions\",\"parameters\":{}}},"
                       "\"blueprint\":{");
    for (unsigned a = 0; a < areas; a++) {
        len += snprintf(text + len, cap - (size_t)len,
                        "%s\"_____10c-c_%04u-cx-___bbx-i\":%u,\"_____10c-c_%04u-cx-___bby-i\":%u,"
                        "\"_____10c-c_%04u-cx-dstmap-d\":{\"c_%04u\":[",
                        a ? "," : "", a, x, a, y, a, (a + 1) % areas);
        for (unsigned i = 0; i < k; i++)
            len +=
                snprintf(text + len, cap - (size_t)len, "%s[\"randomizer\",[1,1,1],%d,false,1,1,1]",
                         i ? "," : "", a == 0 ? first_weight : 1);
        len += snprintf(text + len, cap - (size_t)len, "]}");
    }
    len += snprintf(text + len, cap - (size_t)len, "}}");
    brain_genome_t *g = NULL;
    problem_t *err = NULL;
    /* from_json: denser than a request body may be (1 000 rules of 10 values) */
    if (brain_genome_from_json(json_loadb(text, (size_t)len, 0, NULL), &g, &err) < 0) {
        fprintf(stderr, "edit: genome: %s\n", problem_detail(err));
        exit(1);
    }
    free(text);
    return g;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: edit neurons synapses areas threads\n");
        return 2;
    }
    uint32_t n = (uint32_t)strtoul(argv[1], NULL, 10);
    unsigned k = (unsigned)strtoul(argv[2], NULL, 10);
    unsigned areas = (unsigned)strtoul(argv[3], NULL, 10);
    unsigned threads = (unsigned)strtoul(argv[4], NULL, 10);
    brain_genome_t *ga = genome(n, k, areas, 1), *gb = genome(n, k, areas, 2);
    problem_t *err = NULL;
    brain_net_t *na = NULL, *nb = NULL, *fresh = NULL;
    double t0 = now();
    if (brain_net_build(ga, 1, threads, &na, &err) < 0)
        return 1;
    double build_a = now() - t0;
    brain_net_derive_stats_t st;
    t0 = now();
    if (brain_net_derive(na, ga, gb, threads, &nb, &st, &err) < 0)
        return 1;
    double derive = now() - t0;
    t0 = now();
    if (brain_net_build(gb, 1, threads, &fresh, &err) < 0)
        return 1;
    double build_b = now() - t0;
    int same = nb->n_synapses == fresh->n_synapses;
    for (uint32_t a = 0; same && a < nb->n_areas; a++)
        same = memcmp(nb->areas[a].syn.target, fresh->areas[a].syn.target,
                      (size_t)nb->areas[a].syn.n * sizeof *nb->areas[a].syn.target) == 0;
    printf("{\"neurons\":%u,\"synapses\":%llu,\"areas\":%u,\"threads\":%u,\"build_s\":%.3f,"
           "\"rebuild_s\":%.3f,\"edit_s\":%.4f,\"edit_grown\":%llu,\"edit_copied\":%llu,"
           "\"edit_shared\":%llu,\"ratio\":%.1f,\"same_as_rebuild\":%s}\n",
           nb->n_neurons, (unsigned long long)nb->n_synapses, areas, threads, build_a, build_b,
           derive, (unsigned long long)st.grown, (unsigned long long)st.copied,
           (unsigned long long)st.shared, build_b / derive, same ? "true" : "false");
    brain_net_destroy(&fresh);
    brain_net_destroy(&nb);
    brain_net_destroy(&na);
    brain_genome_destroy(&ga);
    brain_genome_destroy(&gb);
    return same ? 0 : 1;
}
