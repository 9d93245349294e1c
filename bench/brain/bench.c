/* bench/brain: the burst engine against a straightforward per-synapse reference on the same
 * network, and the scale case. The network comes from a genome (one area mapped onto itself by
 * randomizer rules), so the figures are those of the real build and burst code; it is also
 * written out (pre/post arrays) for the Brian2 side of bench/brain/run.
 *
 *   bench <neurons> <synapses per neuron> <bursts> <fire fraction> <threads> [net.bin]
 *
 * Prints one JSON object. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "brain/brain_burst.h"
#include "brain/brain_genome.h"
#include "brain/brain_morph.h"
#include "brain/brain_net.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of this thread: what a burst costs when the machine's other users preempt us. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of the whole process: the burst thread and the engine's worker thread together. */
static double proc_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Per burst: every neuron leaks; every synapse is visited and adds its PSP when its source
 * fired; the staged neurons and those over threshold fire. The plain loop anyone would write. */
typedef struct {
    uint32_t n;
    uint64_t m;
    uint32_t *pre, *post;
    float *w;
    float *v;
    uint8_t *fired, *next;
} ref_t;

static uint32_t ref_step(ref_t *r, const uint32_t *stim, uint32_t n_stim, float thr, float leak)
{
    for (uint64_t s = 0; s < r->m; s++)
        if (r->fired[r->pre[s]])
            r->v[r->post[s]] += r->w[s];
    for (uint32_t k = 0; k < n_stim; k++)
        r->v[stim[k]] += thr;
    uint32_t nf = 0;
    for (uint32_t i = 0; i < r->n; i++) {
        if (r->v[i] >= thr) {
            r->next[i] = 1;
            r->v[i] = 0;
            nf++;
        } else {
            r->next[i] = 0;
            r->v[i] *= 1.0f - leak;
        }
    }
    uint8_t *t = r->fired;
    r->fired = r->next;
    r->next = t;
    return nf;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: bench neurons synapses bursts fraction threads [net.bin]\n");
        return 2;
    }
    uint32_t n = (uint32_t)strtoul(argv[1], NULL, 10);
    unsigned k = (unsigned)strtoul(argv[2], NULL, 10);
    unsigned bursts = (unsigned)strtoul(argv[3], NULL, 10);
    double frac = strtod(argv[4], NULL);
    unsigned threads = (unsigned)strtoul(argv[5], NULL, 10);
    const char *out = argc > 6 ? argv[6] : NULL;
    bool ref = getenv("BENCH_NO_REF") == NULL;

    /* The genome: one area of n neurons (x × y), k randomizer rules onto itself. Threshold 1000
     * and PSP 1 × weight 1: the synapses deliver input (the work) without making anyone fire,
     * so exactly the stimulated fraction fires every burst, as in the Brian2 run. */
    uint32_t x = n, y = 1;
    while (x > 65535) {
        y *= 10;
        x = n / y;
    }
    size_t cap = 4096 + (size_t)k * 64;
    char *text = malloc(cap);
    int len = snprintf(text, cap,
                       "{\"genome_id\":\"bench\",\"version\":\"2.1\","
                       "\"neuron_morphologies\":{\"randomizer\":{\"type\":\"functions\","
                       "\"parameters\":{}}},\"blueprint\":{"
                       "\"_____10c-c_bnch-cx-___bbx-i\":%u,\"_____10c-c_bnch-cx-___bby-i\":%u,"
                       "\"_____10c-c_bnch-nx-fire_t-f\":1000,\"_____10c-c_bnch-nx-pstcr_-f\":1,"
                       "\"_____10c-c_bnch-cx-pspuni-b\":true,"
                       "\"_____10c-c_bnch-nx-leak_c-f\":0.1,"
                       "\"_____10c-c_bnch-nx-mp_acc-b\":true,"
                       "\"_____10c-c_bnch-cx-dstmap-d\":{\"c_bnch\":[",
                       x, y);
    for (unsigned i = 0; i < k; i++)
        len += snprintf(text + len, cap - (size_t)len, "%s[\"randomizer\",[1,1,1],1,false,1,1,1]",
                        i ? "," : "");
    len += snprintf(text + len, cap - (size_t)len, "]}}}");
    brain_genome_t *g = NULL;
    problem_t *err = NULL;
    if (brain_genome_parse(text, (size_t)len, &g, &err) < 0) {
        fprintf(stderr, "bench: genome: %s\n", problem_detail(err));
        return 1;
    }
    free(text);
    double t0 = now();
    struct timespec pc0, pc1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &pc0);
    brain_net_t *net = NULL;
    if (brain_net_build(g, 1, threads, &net, &err) < 0) {
        fprintf(stderr, "bench: build: %s\n", err ? problem_detail(err) : "out of memory");
        return 1;
    }
    double build = now() - t0;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &pc1);
    double build_cpu =
        (double)(pc1.tv_sec - pc0.tv_sec) + (double)(pc1.tv_nsec - pc0.tv_nsec) * 1e-9;
    size_t nb, sb;
    brain_net_bytes(net, &nb, &sb);
    uint32_t nn = net->n_neurons;
    uint64_t m = net->n_synapses;

    if (out) {
        /* int32 pre[m], int32 post[m] for Brian2 */
        FILE *f = fopen(out, "wb");
        if (!f) {
            perror(out);
            return 1;
        }
        const brain_syn_block_t *s = &net->areas[0].syn;
        uint32_t *pre = malloc(m * sizeof *pre);
        for (uint32_t i = 0; i < nn; i++)
            for (uint32_t q = s->off[i]; q < s->off[i + 1]; q++)
                pre[q] = i;
        fwrite(pre, sizeof *pre, m, f);
        fwrite(s->target, sizeof *s->target, m, f);
        fclose(f);
        free(pre);
    }

    /* stimuli: the same random 1 % of neurons per burst on both sides */
    uint32_t per = (uint32_t)(frac * nn + 0.5);
    uint32_t *stim = malloc((size_t)bursts * per * sizeof *stim);
    brain_rng_t rng;
    brain_rng_seed(&rng, 77);
    for (size_t i = 0; i < (size_t)bursts * per; i++)
        stim[i] = (uint32_t)(brain_rng_next(&rng) % nn);

    brain_burst_t *b = brain_burst_new(net, 1, 4);
    /* BENCH_BURST_THREADS: 1 or 2 burst threads (default: the engine's, 2 on 2+ CPUs) */
    const char *bt = getenv("BENCH_BURST_THREADS");
    if (bt)
        brain_burst_threads_set(b, (unsigned)strtoul(bt, NULL, 10));
    unsigned burst_threads = brain_burst_threads(b);
    double *dt = malloc(bursts * sizeof *dt);
    double *ct = malloc(bursts * sizeof *ct);
    double *pt = malloc(bursts * sizeof *pt);
    uint64_t fired = 0;
    /* a few bursts to warm the caches, then the timed run */
    for (unsigned i = 0; i < 3 && i < bursts; i++) {
        for (uint32_t q = 0; q < per; q++)
            brain_burst_stage_neuron(b, stim[(size_t)i * per + q], 1000.0f);
        brain_burst_step(b);
    }
    for (unsigned i = 0; i < bursts; i++) {
        double a = now(), c = cpu_now(), pc = proc_cpu_now();
        for (uint32_t q = 0; q < per; q++)
            brain_burst_stage_neuron(b, stim[(size_t)i * per + q], 1000.0f);
        fired += brain_burst_step(b);
        dt[i] = now() - a;
        ct[i] = cpu_now() - c;
        pt[i] = proc_cpu_now() - pc;
    }
    double total = 0;
    for (unsigned i = 0; i < bursts; i++)
        total += dt[i];
    qsort(dt, bursts, sizeof *dt, cmp_double);
    double median = dt[bursts / 2], p99 = dt[(size_t)(bursts * 0.99)];
    qsort(ct, bursts, sizeof *ct, cmp_double);
    double cpu_median = ct[bursts / 2];
    qsort(pt, bursts, sizeof *pt, cmp_double);
    double proc_cpu_median = pt[bursts / 2];

    double ref_mean = 0;
    uint64_t ref_fired = 0;
    if (ref) {
        ref_t r = {.n = nn, .m = m};
        r.pre = malloc(m * sizeof *r.pre);
        r.post = malloc(m * sizeof *r.post);
        r.w = malloc(m * sizeof *r.w);
        r.v = calloc(nn, sizeof *r.v);
        r.fired = calloc(nn, 1);
        r.next = calloc(nn, 1);
        const brain_syn_block_t *s = &net->areas[0].syn;
        for (uint32_t i = 0; i < nn; i++)
            for (uint32_t q = s->off[i]; q < s->off[i + 1]; q++) {
                r.pre[q] = i;
                r.post[q] = s->target[q];
                r.w[q] = (float)s->weight[q] * s->psp[q];
            }
        unsigned rb = bursts;
        double a = now();
        for (unsigned i = 0; i < rb; i++)
            ref_fired += ref_step(&r, stim + (size_t)i * per, per, 1000.0f, 0.1f);
        ref_mean = (now() - a) / rb;
        free(r.pre);
        free(r.post);
        free(r.w);
        free(r.v);
        free(r.fired);
        free(r.next);
    }
    printf("{\"neurons\":%u,\"synapses\":%llu,\"bursts\":%u,\"stimulated_per_burst\":%u,"
           "\"fired_per_burst\":%.1f,\"build_s\":%.3f,\"build_cpu_s\":%.3f,\"threads\":%u,"
           "\"net_bytes_per_neuron\":%.1f,\"engine_bytes_per_neuron\":%.1f,\"net_bytes_per_"
           "synapse\":%.2f,"
           "\"burst_threads\":%u,\"burst_median_us\":%.2f,\"burst_cpu_median_us\":%.2f,"
           "\"burst_process_cpu_median_us\":%.2f,\"burst_mean_us\":%.2f,\"burst_"
           "p99_us\":%.2f,"
           "\"reference_mean_us\":%.2f,\"reference_fired_per_burst\":%.1f}\n",
           nn, (unsigned long long)m, bursts, per, (double)fired / bursts, build, build_cpu,
           threads, (double)nb / nn,
           /* engine state: input, candidate bit, fired, potential fired; the second input
            * array and its candidate bit where bursts can split */
           (double)nb / nn + 12.125 +
               (m >= BRAIN_BURST_SPLIT_DELIVERIES && nn >= BRAIN_BURST_SPLIT_NEURONS ? 4.125 : 0.0),
           m ? (double)sb / (double)m : 0.0, burst_threads, median * 1e6, cpu_median * 1e6,
           proc_cpu_median * 1e6, total / bursts * 1e6, p99 * 1e6, ref_mean * 1e6,
           ref ? (double)ref_fired / bursts : 0.0);
    free(dt);
    free(ct);
    free(pt);
    free(stim);
    brain_burst_destroy(&b);
    brain_net_destroy(&net);
    brain_genome_destroy(&g);
    return 0;
}
