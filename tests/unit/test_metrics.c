/* Unit tests for the Prometheus registry: exact text for each metric type, label escaping,
 * cumulative histogram buckets, collectors, atomic counters from threads, and a small parser
 * that checks the whole exposition is well-formed. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/metrics.h"
#include "core/strbuf.h"

static char *render(metrics_t *m)
{
    strbuf_t b;
    strbuf_init(&b, 0);
    assert_int_equal(metrics_render(m, &b), 0);
    return strbuf_steal(&b, NULL);
}

/* ---- a small exposition-format checker ---------------------------------------------------- */

static bool is_name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

/* Parses one sample line; fills name and the value. Fails the test on malformed input. */
static void parse_sample(const char *line, char *name, size_t name_len, double *value)
{
    const char *p = line;
    size_t n = 0;
    while (is_name_char(*p, p == line)) {
        assert_true(n + 1 < name_len);
        name[n++] = *p++;
    }
    name[n] = '\0';
    assert_true(n > 0);
    if (*p == '{') {
        p++;
        while (*p != '}') {
            const char *k = p;
            while (is_name_char(*p, p == k))
                p++;
            assert_true(p > k);
            assert_int_equal(*p++, '=');
            assert_int_equal(*p++, '"');
            while (*p != '"') {
                assert_true(*p != '\0' && *p != '\n');
                if (*p == '\\') {
                    p++;
                    assert_true(*p == '\\' || *p == '"' || *p == 'n');
                }
                p++;
            }
            p++;
            if (*p == ',')
                p++;
            else
                assert_int_equal(*p, '}');
        }
        p++;
    }
    assert_int_equal(*p++, ' ');
    char *end;
    *value = strtod(p, &end);
    assert_true(end > p);
    assert_true(*end == '\0');
}

/* Checks every line: comments are HELP/TYPE, each family is TYPE'd once before its samples,
 * histogram buckets never decrease and +Inf equals _count. Returns the number of samples. */
static int check_exposition(const char *text)
{
    char *copy = strdup(text);
    char family[256] = "", type[32] = "";
    double last_bucket = 0, inf_bucket = -1;
    int samples = 0;
    assert_true(text[0] == '\0' || text[strlen(text) - 1] == '\n');
    for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "# HELP ", 7) == 0)
            continue;
        if (strncmp(line, "# TYPE ", 7) == 0) {
            assert_int_equal(sscanf(line + 7, "%255s %31s", family, type), 2);
            assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
                        strcmp(type, "histogram") == 0);
            last_bucket = 0;
            continue;
        }
        assert_true(line[0] != '#');
        char name[256];
        double v;
        parse_sample(line, name, sizeof name, &v);
        samples++;
        if (strcmp(type, "histogram") != 0) {
            assert_string_equal(name, family);
            continue;
        }
        size_t fl = strlen(family);
        assert_memory_equal(name, family, fl);
        if (strcmp(name + fl, "_bucket") == 0) {
            assert_true(v >= last_bucket);
            last_bucket = v;
            if (strstr(line, "le=\"+Inf\"")) {
                inf_bucket = v;
                last_bucket = 0; /* the next series starts over */
            }
        } else if (strcmp(name + fl, "_count") == 0) {
            assert_true(v == inf_bucket);
        } else {
            assert_string_equal(name + fl, "_sum");
        }
    }
    free(copy);
    return samples;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_counter_gauge_exact(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    assert_non_null(m);
    assert_int_equal(metrics_declare(m, "ganglion_requests_total", "counter", "Requests served."),
                     0);
    assert_int_equal(metrics_declare(m, "ganglion_inflight", "gauge", "Requests in flight."), 0);
    assert_int_equal(metrics_declare(m, "ganglion_up", "gauge", ""), 0);

    metrics_counter_add(m, "ganglion_requests_total", "method=\"GET\",status=\"200\"", 1);
    metrics_counter_add(m, "ganglion_requests_total", "method=\"GET\",status=\"200\"", 2);
    metrics_counter_add(m, "ganglion_requests_total", "method=\"DELETE\",status=\"404\"", 1);
    metrics_counter_add(m, "ganglion_requests_total", "method=\"GET\",status=\"200\"", -5); /* no */
    metrics_counter_add(m, "ganglion_requests_total", "method=\"GET\",status=\"200\"", NAN);
    metrics_gauge_set(m, "ganglion_inflight", NULL, 4);
    metrics_gauge_add(m, "ganglion_inflight", "", -1.5);
    metrics_gauge_set(m, "ganglion_up", "", 1);

    char *text = render(m);
    assert_string_equal(text, "# HELP ganglion_requests_total Requests served.\n"
                              "# TYPE ganglion_requests_total counter\n"
                              "ganglion_requests_total{method=\"DELETE\",status=\"404\"} 1\n"
                              "ganglion_requests_total{method=\"GET\",status=\"200\"} 3\n"
                              "# HELP ganglion_inflight Requests in flight.\n"
                              "# TYPE ganglion_inflight gauge\n"
                              "ganglion_inflight 2.5\n"
                              "# TYPE ganglion_up gauge\n"
                              "ganglion_up 1\n");
    assert_int_equal(check_exposition(text), 4);
    free(text);
    metrics_destroy(&m);
    assert_null(m);
    metrics_destroy(&m);
}

static void test_declare_rules(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    assert_int_equal(metrics_declare(m, "a_total", "counter", "x"), 0);
    assert_int_equal(metrics_declare(m, "a_total", "counter", "x"), 0); /* idempotent */
    assert_int_equal(metrics_declare(m, "a_total", "gauge", "x"), -1);
    assert_int_equal(metrics_declare(m, "a_total", "histogram", "x"), -1);
    assert_int_equal(metrics_declare(m, "bad-name", "counter", "x"), -EINVAL);
    assert_int_equal(metrics_declare(m, "9lives", "counter", "x"), -EINVAL);
    assert_int_equal(metrics_declare(m, "", "counter", "x"), -EINVAL);
    assert_int_equal(metrics_declare(m, "ok", "summary", "x"), -EINVAL);
    const double b[] = {0.1, 1};
    const double bad[] = {1, 0.1};
    const double dup[] = {1, 1};
    const double inf[] = {1, INFINITY};
    assert_int_equal(metrics_declare_histogram(m, "h", "x", b, 2), 0);
    assert_int_equal(metrics_declare_histogram(m, "h", "x", b, 2), 0);
    assert_int_equal(metrics_declare_histogram(m, "h", "x", b, 1), -1);
    assert_int_equal(metrics_declare(m, "h", "histogram", "x"), 0);
    assert_int_equal(metrics_declare(m, "h", "counter", "x"), -1);
    assert_int_equal(metrics_declare_histogram(m, "h2", "x", bad, 2), -EINVAL);
    assert_int_equal(metrics_declare_histogram(m, "h2", "x", dup, 2), -EINVAL);
    assert_int_equal(metrics_declare_histogram(m, "h2", "x", inf, 2), -EINVAL);

    /* updates of the wrong type are dropped; undeclared names are declared on first use */
    metrics_gauge_set(m, "a_total", NULL, 5);
    metrics_histogram_observe(m, "a_total", NULL, 5);
    metrics_counter_add(m, "h", NULL, 1);
    metrics_counter_add(m, "late_total", NULL, 2);
    metrics_gauge_set(m, "late_total", NULL, 7); /* now a counter */
    metrics_counter_add(m, "bad name", NULL, 1);
    metrics_counter_add(m, NULL, NULL, 1);

    char *text = render(m);
    assert_string_equal(text, "# HELP a_total x\n"
                              "# TYPE a_total counter\n"
                              "# HELP h x\n"
                              "# TYPE h histogram\n"
                              "# TYPE late_total counter\n"
                              "late_total 2\n");
    check_exposition(text);
    free(text);
    metrics_destroy(&m);
}

static void test_histogram_exact(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    const double b[] = {0.005, 0.1, 1};
    assert_int_equal(metrics_declare_histogram(m, "ganglion_latency_seconds", "Latency.", b, 3), 0);
    const char *l = "endpoint=\"/healthz\"";
    metrics_histogram_observe(m, "ganglion_latency_seconds", l, 0.001);
    metrics_histogram_observe(m, "ganglion_latency_seconds", l, 0.005); /* le is inclusive */
    metrics_histogram_observe(m, "ganglion_latency_seconds", l, 0.05);
    metrics_histogram_observe(m, "ganglion_latency_seconds", l, 2);
    metrics_histogram_observe(m, "ganglion_latency_seconds", l, NAN); /* dropped */
    metrics_histogram_observe(m, "ganglion_latency_seconds", NULL, 0.5);

    char *text = render(m);
    assert_string_equal(text,
                        "# HELP ganglion_latency_seconds Latency.\n"
                        "# TYPE ganglion_latency_seconds histogram\n"
                        "ganglion_latency_seconds_bucket{le=\"0.005\"} 0\n"
                        "ganglion_latency_seconds_bucket{le=\"0.1\"} 0\n"
                        "ganglion_latency_seconds_bucket{le=\"1\"} 1\n"
                        "ganglion_latency_seconds_bucket{le=\"+Inf\"} 1\n"
                        "ganglion_latency_seconds_sum 0.5\n"
                        "ganglion_latency_seconds_count 1\n"
                        "ganglion_latency_seconds_bucket{endpoint=\"/healthz\",le=\"0.005\"} 2\n"
                        "ganglion_latency_seconds_bucket{endpoint=\"/healthz\",le=\"0.1\"} 3\n"
                        "ganglion_latency_seconds_bucket{endpoint=\"/healthz\",le=\"1\"} 3\n"
                        "ganglion_latency_seconds_bucket{endpoint=\"/healthz\",le=\"+Inf\"} 4\n"
                        "ganglion_latency_seconds_sum{endpoint=\"/healthz\"} 2.056\n"
                        "ganglion_latency_seconds_count{endpoint=\"/healthz\"} 4\n");
    assert_int_equal(check_exposition(text), 12);
    free(text);

    /* the default buckets */
    assert_int_equal(metrics_declare(m, "d_seconds", "histogram", "Default."), 0);
    metrics_histogram_observe(m, "d_seconds", NULL, 0.3);
    text = render(m);
    assert_non_null(strstr(text, "d_seconds_bucket{le=\"0.25\"} 0\n"
                                 "d_seconds_bucket{le=\"0.5\"} 1\n"));
    assert_non_null(strstr(text, "d_seconds_bucket{le=\"10\"} 1\n"
                                 "d_seconds_bucket{le=\"+Inf\"} 1\n"));
    check_exposition(text);
    free(text);
    metrics_destroy(&m);
}

static void test_values_and_escaping(void **state)
{
    (void)state;
    strbuf_t b;
    strbuf_init(&b, 0);
    metrics_label_escape(&b, "a\\b\"c\nd");
    assert_string_equal(b.data, "a\\\\b\\\"c\\nd");
    strbuf_reset(&b);
    metrics_label_escape(&b, "plain");
    metrics_label_escape(&b, "");
    assert_string_equal(b.data, "plain");

    metrics_t *m = metrics_new();
    assert_int_equal(metrics_declare(m, "g", "gauge", "Help with \\ and\nnewline."), 0);
    strbuf_reset(&b);
    strbuf_puts(&b, "path=\"");
    metrics_label_escape(&b, "/x\"y\n");
    strbuf_puts(&b, "\"");
    metrics_gauge_set(m, "g", b.data, 0.1);
    metrics_gauge_set(m, "g", "k=\"big\"", 1e21);
    metrics_gauge_set(m, "g", "k=\"inf\"", INFINITY);
    metrics_gauge_set(m, "g", "k=\"ninf\"", -INFINITY);
    metrics_gauge_set(m, "g", "k=\"nan\"", NAN);
    metrics_gauge_set(m, "g", "k=\"neg\"", -3);
    metrics_gauge_set(m, "g", "k=\"third\"", 1.0 / 3);
    char *text = render(m);
    assert_string_equal(text, "# HELP g Help with \\\\ and\\nnewline.\n"
                              "# TYPE g gauge\n"
                              "g{k=\"big\"} 1e+21\n"
                              "g{k=\"inf\"} +Inf\n"
                              "g{k=\"nan\"} NaN\n"
                              "g{k=\"neg\"} -3\n"
                              "g{k=\"ninf\"} -Inf\n"
                              "g{k=\"third\"} 0.3333333333333333\n"
                              "g{path=\"/x\\\"y\\n\"} 0.1\n");
    assert_int_equal(check_exposition(text), 7);
    /* shortest text that reads back exactly */
    assert_true(strtod(strstr(text, "third\"} ") + 8, NULL) == 1.0 / 3);
    free(text);
    strbuf_free(&b);
    metrics_destroy(&m);
}

static void collect_a(strbuf_t *out, void *ud)
{
    strbuf_printf(out, "# TYPE coll_a gauge\ncoll_a %d\n", *(int *)ud);
}

static void collect_b(strbuf_t *out, void *ud)
{
    (void)ud;
    strbuf_puts(out, "# TYPE coll_b counter\ncoll_b 7\n");
}

static void test_collectors(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    int live = 3;
    metrics_collector_add(m, collect_a, &live);
    metrics_collector_add(m, collect_b, NULL);
    metrics_collector_add(m, NULL, NULL); /* ignored */
    metrics_declare(m, "first_total", "counter", "Declared.");
    metrics_counter_add(m, "first_total", NULL, 1);
    char *text = render(m);
    assert_string_equal(text, "# HELP first_total Declared.\n"
                              "# TYPE first_total counter\n"
                              "first_total 1\n"
                              "# TYPE coll_a gauge\ncoll_a 3\n"
                              "# TYPE coll_b counter\ncoll_b 7\n");
    free(text);
    live = 9; /* collectors read live state at each render */
    text = render(m);
    assert_non_null(strstr(text, "coll_a 9\n"));
    assert_int_equal(check_exposition(text), 3);
    free(text);

    /* a capped buffer fails the render and leaves nothing partial behind */
    strbuf_t small;
    strbuf_init(&small, 10);
    strbuf_puts(&small, "keep");
    assert_true(metrics_render(m, &small) < 0);
    assert_string_equal(small.data, "keep");
    strbuf_free(&small);
    metrics_destroy(&m);
}

struct worker {
    metrics_atomic_t *a;
    int n;
};

static void *bump(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < w->n; i++)
        metrics_atomic_add(w->a, 1);
    return NULL;
}

static void test_atomic_counter(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    metrics_declare(m, "work_total", "counter", "Jobs.");
    metrics_declare(m, "g", "gauge", "");
    assert_null(metrics_counter_atomic(m, "g", NULL)); /* counters only */
    metrics_atomic_t *a = metrics_counter_atomic(m, "work_total", "pool=\"hash\"");
    assert_non_null(a);
    assert_ptr_equal(metrics_counter_atomic(m, "work_total", "pool=\"hash\""), a);
    metrics_atomic_add(NULL, 1);

    struct worker w = {a, 100000};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, bump, &w), 0);
    metrics_counter_add(m, "work_total", "pool=\"hash\"", 0.5); /* loop-side adds combine */
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    char *text = render(m);
    assert_non_null(strstr(text, "work_total{pool=\"hash\"} 400000.5\n"));
    free(text);
    metrics_destroy(&m);
}

static void test_many_series_lookup(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    metrics_declare(m, "req_total", "counter", "Requests.");
    char labels[64];
    for (int i = 0; i < 2000; i++) {
        snprintf(labels, sizeof labels, "endpoint=\"/e%04d\"", i);
        metrics_counter_add(m, "req_total", labels, 1);
    }
    /* every update after creation is a hash hit */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const int rounds = 200000;
    for (int i = 0; i < rounds; i++) {
        snprintf(labels, sizeof labels, "endpoint=\"/e%04d\"", i % 2000);
        metrics_counter_add(m, "req_total", labels, 1);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns =
        ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / rounds;
    print_message("counter_add with 2000 series: %.0f ns per call (incl. snprintf)\n", ns);
    assert_true(ns < 5000); /* generous: sanitizer builds run this too */

    char *text = render(m);
    assert_int_equal(check_exposition(text), 2000);
    assert_non_null(strstr(text, "req_total{endpoint=\"/e0000\"} 101\n"
                                 "req_total{endpoint=\"/e0001\"} 101\n"));
    free(text);
    metrics_destroy(&m);
}

static void test_series_bound(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    char labels[64];
    for (int i = 0; i < 10050; i++) {
        snprintf(labels, sizeof labels, "id=\"%d\"", i);
        metrics_gauge_set(m, "cardinality", labels, 1);
    }
    char *text = render(m);
    assert_int_equal(check_exposition(text), 10000); /* the rest were dropped */
    free(text);
    metrics_destroy(&m);
}

/* Quantiles interpolate inside the bucket that holds the rank, like histogram_quantile(). */
static void test_histogram_quantile(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    const double b[] = {0.001, 0.01, 0.1};
    assert_int_equal(metrics_declare_histogram(m, "lag_seconds", "x", b, 3), 0);
    double q = -1;
    assert_int_equal(metrics_histogram_quantile(m, "lag_seconds", NULL, 0.5, &q), -ENOENT);
    assert_int_equal(metrics_histogram_quantile(m, "nope", NULL, 0.5, &q), -ENOENT);
    assert_int_equal(metrics_histogram_quantile(m, "lag_seconds", NULL, 1.5, &q), -EINVAL);
    for (int i = 0; i < 90; i++)
        metrics_histogram_observe(m, "lag_seconds", NULL, 0.0005); /* bucket (0, 0.001] */
    for (int i = 0; i < 10; i++)
        metrics_histogram_observe(m, "lag_seconds", NULL, 0.05); /* bucket (0.01, 0.1] */
    assert_int_equal(metrics_histogram_quantile(m, "lag_seconds", NULL, 0.45, &q), 0);
    assert_true(fabs(q - 0.0005) < 1e-12); /* rank 45 of 90 in the first bucket */
    assert_int_equal(metrics_histogram_quantile(m, "lag_seconds", NULL, 0.95, &q), 0);
    assert_true(fabs(q - 0.055) < 1e-12);                 /* rank 95: half way through the third */
    metrics_histogram_observe(m, "lag_seconds", NULL, 5); /* +Inf: the highest bound */
    assert_int_equal(metrics_histogram_quantile(m, "lag_seconds", NULL, 1, &q), 0);
    assert_true(fabs(q - 0.1) < 1e-12);
    metrics_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_gauge_exact), cmocka_unit_test(test_declare_rules),
        cmocka_unit_test(test_histogram_exact),     cmocka_unit_test(test_values_and_escaping),
        cmocka_unit_test(test_collectors),          cmocka_unit_test(test_atomic_counter),
        cmocka_unit_test(test_many_series_lookup),  cmocka_unit_test(test_series_bound),
        cmocka_unit_test(test_histogram_quantile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
