/* Unit tests for the numeric-series detector: scores in [0,1], determinism, a level shift and a
 * spike found, the rest period, and the false-alarm rate on i.i.d. noise against the stated
 * bound (docs/watch.md: at most about 2 ln(N / warmup) alarms over N points). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "watch/num_detect.h"

/* xorshift64*: a deterministic generator so every run sees the same noise. */
static double test_uniform(uint64_t *st)
{
    *st ^= *st >> 12;
    *st ^= *st << 25;
    *st ^= *st >> 27;
    return (double)((*st * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

static double test_gauss(uint64_t *st)
{
    double u = test_uniform(st), v = test_uniform(st);
    return sqrt(-2.0 * log(u > 1e-300 ? u : 1e-300)) * cos(2.0 * M_PI * v);
}

/* Alarms raised over n points of noise (gaussian or uniform) with the default settings. */
static size_t test_alarms(uint64_t seed, size_t n, bool gauss, double *score_lo, double *score_hi)
{
    num_settings_t s;
    num_settings_default(&s);
    num_detector_t *d = NULL;
    assert_int_equal(num_detector_new(&s, &d), 0);
    size_t alarms = 0;
    for (size_t i = 0; i < n; i++) {
        num_point_t p;
        double v = 10.0 + (gauss ? test_gauss(&seed) : test_uniform(&seed));
        assert_int_equal(num_detector_push(d, v, &p), 0);
        *score_lo = p.score < *score_lo ? p.score : *score_lo;
        *score_hi = p.score > *score_hi ? p.score : *score_hi;
        alarms += p.anomaly;
    }
    num_detector_destroy(&d);
    return alarms;
}

static void test_false_alarm_rate(void **state)
{
    (void)state;
    const size_t n = 20000, seeds = 20;
    num_settings_t s;
    num_settings_default(&s);
    /* The stated bound: a new extreme of i.i.d. continuous values arrives at point t with
     * probability 2 / t, so about 2 ln(N / warmup) alarms over N points, plus the few outer
     * quantisation steps that are entered for the first time. */
    double bound = 2.0 * log((double)n / (double)s.warmup) + 4.0;
    for (int g = 0; g < 2; g++) {
        size_t total = 0;
        double lo = 1, hi = 0;
        for (uint64_t k = 1; k <= seeds; k++)
            total += test_alarms(0x9E3779B97F4A7C15ULL * k, n, g == 1, &lo, &hi);
        double mean = (double)total / (double)seeds;
        if (getenv("NUM_DETECT_PRINT"))
            fprintf(stderr, "%s: %.2f alarms per %zu points (bound %.2f)\n",
                    g ? "gaussian" : "uniform", mean, n, bound);
        assert_true(lo >= 0.0 && hi <= 1.0);
        assert_true(mean <= bound);
        /* Under one alarm per 1000 points over the run. */
        assert_true(mean * 1000.0 / (double)n < 1.0);
    }
}

static void test_level_shift_and_spike(void **state)
{
    (void)state;
    num_settings_t s;
    num_settings_default(&s);
    num_detector_t *d = NULL;
    assert_int_equal(num_detector_new(&s, &d), 0);
    uint64_t seed = 42;
    bool shift_found = false, spike_found = false;
    size_t early = 0;
    for (size_t i = 0; i < 4000; i++) {
        double v = 5.0 + test_gauss(&seed);
        if (i >= 2000 && i < 3000)
            v += 8.0; /* a level shift */
        if (i == 3500)
            v += 12.0; /* a spike */
        num_point_t p;
        assert_int_equal(num_detector_push(d, v, &p), 0);
        if (p.anomaly && i >= 2000 && i < 2010)
            shift_found = true;
        if (p.anomaly && i == 3500)
            spike_found = true;
        if (p.anomaly && i < 2000)
            early++;
        if (i < s.warmup)
            assert_true(p.score == 0.0 && !p.anomaly);
    }
    num_detector_destroy(&d);
    assert_true(shift_found);
    assert_true(spike_found);
    /* Before the shift: noise only, within the stated bound for 2000 points. */
    assert_true((double)early <= 2.0 * log(2000.0 / (double)s.warmup) + 4.0);
}

static void test_rest_and_determinism(void **state)
{
    (void)state;
    num_settings_t s;
    num_settings_default(&s);
    num_detector_t *a = NULL, *b = NULL;
    assert_int_equal(num_detector_new(&s, &a), 0);
    assert_int_equal(num_detector_new(&s, &b), 0);
    size_t last = 0, alarms = 0;
    for (size_t i = 0; i < 3000; i++) {
        double v = i < 1000 ? (double)(i % 7) : 1000.0 + (double)i; /* a climb: new every point */
        num_point_t p, q;
        assert_int_equal(num_detector_push(a, v, &p), 0);
        assert_int_equal(num_detector_push(b, v, &q), 0);
        assert_true(p.score == q.score && p.anomaly == q.anomaly);
        if (p.anomaly) {
            if (alarms++)
                assert_true(i - last > s.rest); /* never two alarms within a rest period */
            last = i;
            assert_true(p.novelty > 0 || p.extreme > 0);
        }
    }
    assert_true(alarms >= 2);
    char buf[256];
    num_point_t p = {.score = 1.0, .novelty = 1.0, .novel_len = 1, .extreme = 1.0, .compress = 0.5};
    num_point_explain(&p, buf, sizeof buf);
    assert_non_null(strstr(buf, "novel context"));
    assert_non_null(strstr(buf, "beyond every earlier value"));
    assert_non_null(strstr(buf, "compression score 0.50"));
    num_detector_destroy(&a);
    num_detector_destroy(&b);
}

/* The relative-entropy signal: a series that moves into a part of its known range it rarely
 * visited scores high, while the same series before the move stays low. */
static void test_entropy_inside_range(void **state)
{
    (void)state;
    num_settings_t s;
    num_settings_default(&s);
    s.ent_window = 50;
    s.w_entropy = 1.0;
    num_detector_t *d = NULL;
    assert_int_equal(num_detector_new(&s, &d), 0);
    uint64_t seed = 7;
    double before = 0, after = 0;
    char why[256];
    for (size_t i = 0; i < 2300; i++) {
        num_point_t p;
        double u = test_uniform(&seed);
        /* mostly near 2, one point in ten anywhere in 0..10; from 2000 on near 8 */
        double v = i % 10 == 0 ? 10.0 * u : (i < 2000 ? 2.0 : 8.0) + 0.5 * u;
        assert_int_equal(num_detector_push(d, v, &p), 0);
        assert_true(p.entropy >= 0 && p.entropy <= 1);
        if (i >= 600 && i < 2000 && p.entropy > before)
            before = p.entropy;
        if (i >= 2000 && p.entropy > after) {
            after = p.entropy;
            num_point_explain(&p, why, sizeof why);
        }
    }
    assert_true(before < 0.5);
    assert_true(after >= 1.0);
    assert_non_null(strstr(why, "relative entropy"));
    num_detector_destroy(&d);
}

/* Values spread over many orders of magnitude beyond a narrow warm-up make more contexts than
 * the table holds (2^18 slots, half full; 300 000 such points fill it): it stops
 * growing and every point is still scored in [0,1]. */
static void test_table_bounded(void **state)
{
    (void)state;
    num_settings_t s;
    num_settings_default(&s);
    num_detector_t *d = NULL;
    assert_int_equal(num_detector_new(&s, &d), 0);
    uint64_t seed = 11;
    for (size_t i = 0; i < 300000; i++) {
        num_point_t p;
        double u = test_uniform(&seed), sign = test_uniform(&seed) < 0.5 ? -1.0 : 1.0;
        double v = i < 150 ? u : sign * exp(40.0 * u); /* a narrow warm-up, then everywhere */
        assert_int_equal(num_detector_push(d, v, &p), 0);
        assert_true(p.score >= 0 && p.score <= 1);
    }
    num_detector_destroy(&d);
}

static void test_settings_refused(void **state)
{
    (void)state;
    num_settings_t s;
    const char *f, *r;
    num_settings_default(&s);
    assert_int_equal(num_settings_check(&s, &f, &r), 0);
    s.context = NUM_CONTEXT_MAX + 1;
    assert_int_equal(num_settings_check(&s, &f, &r), -EINVAL);
    num_detector_t *d = NULL;
    assert_int_equal(num_detector_new(&s, &d), -EINVAL);
    assert_null(d);
    num_settings_default(&s);
    assert_int_equal(num_detector_new(&s, &d), 0);
    num_point_t p;
    assert_int_equal(num_detector_push(d, NAN, &p), -EINVAL);
    num_detector_destroy(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_false_alarm_rate),     cmocka_unit_test(test_level_shift_and_spike),
        cmocka_unit_test(test_rest_and_determinism), cmocka_unit_test(test_entropy_inside_range),
        cmocka_unit_test(test_settings_refused),     cmocka_unit_test(test_table_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
