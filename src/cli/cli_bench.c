/* `ganglion watch bench`: measures the detector's fast path against the full permutation test
 * on synth traffic, and compares their decisions. */
#include "cli/cli_tools.h"
#include "watch/cbad.h"
#include "watch/synth.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    cbad_job_t **jobs;
    cbad_result_t *res;
    size_t n;
    size_t next;
    cbad_mode_t mode;
    int failed;
    pthread_mutex_t mu;
} cli_bench_pool_t;

static void *cli_bench_worker(void *arg)
{
    cli_bench_pool_t *p = arg;
    cbad_scratch_t *sc = NULL;
    if (cbad_scratch_new(&sc) < 0)
        return NULL;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        size_t i = p->next < p->n ? p->next++ : p->n;
        pthread_mutex_unlock(&p->mu);
        if (i >= p->n)
            break;
        if (cbad_job_run_mode(p->jobs[i], sc, p->mode, &p->res[i]) < 0)
            p->failed = 1;
    }
    cbad_scratch_destroy(&sc);
    return NULL;
}

/* Scores jobs[0..n) with `threads` workers; returns the wall time. */
static double cli_bench_score(cbad_job_t **jobs, cbad_result_t *res, size_t n, cbad_mode_t mode,
                              unsigned threads, int *failed)
{
    cli_bench_pool_t p = {.jobs = jobs, .res = res, .n = n, .mode = mode};
    pthread_mutex_init(&p.mu, NULL);
    double t0 = cli_tools_now();
    pthread_t th[16];
    unsigned started = 0;
    for (unsigned i = 0; i < threads && threads > 1; i++)
        if (pthread_create(&th[started], NULL, cli_bench_worker, &p) == 0)
            started++;
    if (started == 0)
        cli_bench_worker(&p);
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    double t = cli_tools_now() - t0;
    pthread_mutex_destroy(&p.mu);
    *failed |= p.failed;
    return t;
}

static void cli_bench_usage(const cli_ctx_t *ctx)
{
    printf("usage: %s watch bench [--events N] [--full-events N] [--anomalies all|none|KINDS]\n"
           "       [--seed S] [--gap N] [--threads N] [detector settings as for watch nab]\n\n"
           "Measures the detector in-process on synth log traffic at the default settings\n"
           "(baseline 400, window 50, hop 10, 1000 permutations, zstd 3): the fast path over\n"
           "--events events (default 20000) on one core (and on --threads cores, default 2),\n"
           "and the straightforward full test (every window, every permutation, a fresh\n"
           "compressor per compression) over the first --full-events events (default 1500);\n"
           "on those windows it compares the decisions. Prints one JSON object.\n\n",
           ctx->prog);
}

int cli_watch_bench(cli_ctx_t *ctx, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        cli_bench_usage(ctx);
        return CLI_EXIT_OK;
    }
    cbad_settings_t s;
    cbad_settings_default(&s);
    synth_opts_t o;
    synth_opts_default(&o);
    o.gap = 5000; /* an incident every ~5000 events unless told otherwise */
    uint64_t events = 20000, full_events = 1500, threads = 2, x;
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int r = cli_tools_setting(&s, a, v);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r == 1)
            continue;
        if (strcmp(a, "--events") == 0) {
            if (cli_tools_u64(a, v, 1000, 10000000, &events) < 0)
                return CLI_EXIT_USAGE;
        } else if (strcmp(a, "--full-events") == 0) {
            if (cli_tools_u64(a, v, 0, 10000000, &full_events) < 0)
                return CLI_EXIT_USAGE;
        } else if (strcmp(a, "--threads") == 0) {
            if (cli_tools_u64(a, v, 1, 16, &threads) < 0)
                return CLI_EXIT_USAGE;
        } else if (strcmp(a, "--gap") == 0) {
            if (cli_tools_u64(a, v, 0, 10000000, &x) < 0)
                return CLI_EXIT_USAGE;
            o.gap = (uint32_t)x;
        } else if (strcmp(a, "--anomalies") == 0 && v) {
            if (cli_tools_kinds(v, &o.anomalies) < 0)
                return CLI_EXIT_USAGE;
        } else {
            cli_error("unknown or incomplete option '%s' (see %s watch bench --help)", a,
                      ctx->prog);
            return CLI_EXIT_USAGE;
        }
    }
    const char *field, *reason;
    if (cbad_settings_check(&s, &field, &reason) < 0) {
        cli_error("%s %s", field, reason);
        return CLI_EXIT_USAGE;
    }
    if (full_events > events)
        full_events = events;
    synth_t *sy = NULL;
    cbad_t *d = NULL;
    cbad_scratch_t *sc = NULL;
    char *text = NULL;
    size_t text_cap = 0, *toff = malloc(sizeof *toff * (events + 1));
    size_t maxw = events / s.hop + 1, nj = 0, nw = 0, nfull = 0;
    cbad_job_t **jobs = calloc(maxw, sizeof *jobs);
    cbad_result_t *fast = calloc(maxw, sizeof *fast), *fast2 = calloc(maxw, sizeof *fast2);
    cbad_result_t *full = calloc(maxw, sizeof *full), *prefix = calloc(maxw, sizeof *prefix);
    int failed = 0;
    if (!toff || !jobs || !fast || !fast2 || !full || !prefix || synth_new(&o, &sy) < 0 ||
        cbad_scratch_new(&sc) < 0) {
        failed = 1;
        goto out;
    }
    /* The traffic is generated before any timing: what is measured is the detector. */
    toff[0] = 0;
    for (uint64_t i = 0; i < events; i++) {
        synth_event_t ev;
        synth_next(sy, &ev);
        if (toff[i] + ev.len > text_cap) {
            size_t cap = text_cap ? text_cap * 2 : 1 << 16;
            while (cap < toff[i] + ev.len)
                cap *= 2;
            char *grown = realloc(text, cap);
            if (!grown) {
                failed = 1;
                goto out;
            }
            text = grown;
            text_cap = cap;
        }
        if (ev.len) /* an empty first event leaves text NULL, which memcpy may not be given */
            memcpy(text + toff[i], ev.line, ev.len);
        toff[i + 1] = toff[i] + ev.len;
    }
    /* One core, as the daemon runs a stream: push (cleaning, ring), snapshot into the job's
     * reused buffers, score — window after window. */
    if (cbad_new(&s, &d) < 0) {
        failed = 1;
        goto out;
    }
    cbad_job_t *rj = NULL;
    double t0 = cli_tools_now(), c0 = cli_tools_cpu();
    for (uint64_t i = 0; i < events; i++) {
        if (cbad_push(d, text + toff[i], toff[i + 1] - toff[i]) != 1 || nw >= maxw)
            continue;
        if ((rj ? cbad_job_refill(d, rj) : cbad_job_take(d, &rj)) < 0 ||
            cbad_job_run_mode(rj, sc, CBAD_MODE_FAST, &fast[nw]) < 0)
            failed = 1;
        cbad_result_note(d, &fast[nw]); /* as the daemon does: overlapping windows fold */
        nw++;
    }
    double t_fast = cli_tools_now() - t0, c_fast = cli_tools_cpu() - c0;
    uint64_t folded = cbad_folded(d);
    cbad_job_destroy(&rj);
    cbad_destroy(&d);
    /* Snapshots kept for the full test and the threaded run; their ingest is timed apart. */
    if (cbad_new(&s, &d) < 0) {
        failed = 1;
        goto out;
    }
    t0 = cli_tools_now();
    for (uint64_t i = 0; i < events; i++) {
        if (cbad_push(d, text + toff[i], toff[i + 1] - toff[i]) == 1 && nj < maxw &&
            cbad_job_take(d, &jobs[nj]) == 0) {
            /* The same windows as the one-core run: its decisions fold the same ones (the
             * full test's decisions are compared with them below). */
            if (nj < nw)
                cbad_result_note(d, &fast[nj]);
            nj++;
            if (i < full_events)
                nfull = nj;
        }
    }
    double t_ingest = cli_tools_now() - t0;
    double t_fast2 = cli_bench_score(jobs, fast2, nj, CBAD_MODE_FAST, (unsigned)threads, &failed);
    double t_full = cli_bench_score(jobs, full, nfull, CBAD_MODE_FULL, 1, &failed);
    /* The fast path's time on the same windows the full test ran. */
    double t_fast_prefix = cli_bench_score(jobs, prefix, nfull, CBAD_MODE_FAST, 1, &failed);
    size_t mismatches = 0, anomalies_full = 0, anomalies_fast = 0, tested = 0, stopped_sig = 0;
    size_t common = 0; /* windows of common templates only: measured for repetition alone */
    size_t bound_compared = 0, bound_violations = 0;
    uint64_t perms = 0;
    for (size_t i = 0; i < nw; i++) {
        anomalies_fast += fast[i].anomaly;
        tested += fast[i].permutations_run > 0;
        common += fast[i].common;
        perms += fast[i].permutations_run;
        stopped_sig += fast[i].p_value_is_bound;
    }
    for (size_t i = 0; i < nfull && i < nw; i++) {
        anomalies_full += full[i].anomaly;
        if (full[i].anomaly != fast[i].anomaly || full[i].severity != fast[i].severity)
            mismatches++;
        if (fast[i].p_value_is_bound) {
            bound_compared++;
            bound_violations += !(full[i].p_value <= fast[i].p_value && full[i].significant);
        }
    }
    double ingest_per_event = t_ingest / (double)events;
    double fast_eps = (double)events / t_fast;
    double fast2_eps = (double)events / (t_ingest + t_fast2);
    double prefix_events = (double)nfull * s.hop;
    double full_eps = nfull ? prefix_events / (ingest_per_event * prefix_events + t_full) : 0;
    double fast_prefix_eps =
        nfull ? prefix_events / (ingest_per_event * prefix_events + t_fast_prefix) : 0;
    json_t *rep = json_pack(
        "{s:{s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:f}, s:{s:I, s:i, s:I}, "
        "s:{s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:I, s:I, s:I, s:I, s:I, s:f, s:I}, "
        "s:{s:I, s:f, s:f, s:f, s:I}, s:{s:I, s:I, s:b, s:f, s:I, s:I}}",
        "settings", "baseline", (int)s.baseline, "window", (int)s.window, "hop", (int)s.hop,
        "permutations", (int)s.permutations, "level", s.level, "ncd_threshold", s.ncd_threshold,
        "flood_threshold", s.flood_threshold, "p_threshold", s.p_threshold, "traffic", "seed",
        (json_int_t)o.seed, "anomaly_kinds", (int)o.anomalies, "gap", (json_int_t)o.gap, "fast",
        "events", (json_int_t)events, "windows", (json_int_t)nw, "windows_folded",
        (json_int_t)folded, "seconds", t_fast, "events_per_s_one_core", fast_eps,
        "events_per_cpu_s", (double)events / c_fast, "events_per_s_threads", fast2_eps, "threads",
        (json_int_t)threads, "windows_tested", (json_int_t)tested, "windows_common",
        (json_int_t)common, "windows_stopped_significant", (json_int_t)stopped_sig,
        "permutations_run", (json_int_t)perms, "permutations_per_window",
        nw ? (double)perms / (double)nw : 0.0, "anomalies", (json_int_t)anomalies_fast, "full",
        "windows", (json_int_t)nfull, "seconds", t_full, "events_per_s_one_core", full_eps,
        "fast_events_per_s_same_windows", fast_prefix_eps, "anomalies", (json_int_t)anomalies_full,
        "agreement", "windows_compared", (json_int_t)nfull, "mismatches", (json_int_t)mismatches,
        "identical_decisions", mismatches == 0, "speedup_same_windows",
        full_eps > 0 ? fast_prefix_eps / full_eps : 0.0, "p_bounds_compared",
        (json_int_t)bound_compared, "p_bound_violations", (json_int_t)bound_violations);
    if (!rep || cli_json_print(rep, true) < 0)
        failed = 1;
    json_decref(rep);
out:
    for (size_t i = 0; i < maxw && fast; i++) {
        if (jobs)
            cbad_job_destroy(&jobs[i]);
        cbad_result_clear(&fast[i]);
        if (fast2)
            cbad_result_clear(&fast2[i]);
        if (full)
            cbad_result_clear(&full[i]);
        if (prefix)
            cbad_result_clear(&prefix[i]);
    }
    free(jobs);
    free(fast);
    free(fast2);
    free(full);
    free(prefix);
    free(text);
    free(toff);
    cbad_scratch_destroy(&sc);
    cbad_destroy(&d);
    synth_destroy(&sy);
    return failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
