/* Unit tests for the pure part of alerts: which events a rule matches and its group key, the
 * metric reader, the grouping and rate windows, the retry backoff and the template renderer
 * (JSON escaping, dotted paths, bounds), and the webhook signature. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alerts/alerts_notify.h"
#include "alerts/alerts_rule.h"

static json_t *js(const char *text)
{
    json_t *v = json_loads(text, 0, NULL);
    if (!v)
        fail_msg("bad JSON in test: %s", text);
    return v;
}

static bool matches(const char *rule, const char *topic, const char *data, char *key)
{
    json_t *r = js(rule), *d = js(data);
    bool m = alerts_rule_match(r, topic, d, key, ALERTS_KEY_MAX);
    json_decref(r);
    json_decref(d);
    return m;
}

static void test_anomaly_rules(void **state)
{
    (void)state;
    char key[ALERTS_KEY_MAX];
    const char *rule = "{\"kind\":\"anomaly\",\"stream\":\"web-*\",\"min_severity\":\"high\"}";
    assert_true(
        matches(rule, "anomaly.created", "{\"stream\":\"web-1\",\"severity\":\"high\"}", key));
    assert_string_equal(key, "web-1");
    assert_true(
        matches(rule, "anomaly.created", "{\"stream\":\"web-2\",\"severity\":\"critical\"}", key));
    assert_false(
        matches(rule, "anomaly.created", "{\"stream\":\"web-1\",\"severity\":\"medium\"}", key));
    assert_false(
        matches(rule, "anomaly.created", "{\"stream\":\"db\",\"severity\":\"high\"}", key));
    assert_false(
        matches(rule, "anomaly.updated", "{\"stream\":\"web-1\",\"severity\":\"high\"}", key));
    /* the default floor is medium; no stream pattern is every stream */
    assert_true(matches("{\"kind\":\"anomaly\"}", "anomaly.created",
                        "{\"stream\":\"x\",\"severity\":\"medium\"}", key));
    assert_false(matches("{\"kind\":\"anomaly\"}", "anomaly.created",
                         "{\"stream\":\"x\",\"severity\":\"low\"}", key));
}

static void test_agent_task_brain_rules(void **state)
{
    (void)state;
    char key[ALERTS_KEY_MAX];
    const char *agent = "{\"kind\":\"agent\",\"agent\":\"web*\"}";
    assert_true(matches(agent, "agent.a1.status",
                        "{\"id\":\"a1\",\"name\":\"web\",\"status\":\"lost\"}", key));
    assert_string_equal(key, "a1");
    assert_false(matches(agent, "agent.a1.status",
                         "{\"id\":\"a1\",\"name\":\"web\",\"status\":\"completed\"}", key));
    assert_false(matches(agent, "agent.a1.status",
                         "{\"id\":\"a1\",\"name\":\"db\",\"status\":\"failed\"}", key));
    assert_true(matches("{\"kind\":\"agent\",\"statuses\":[\"completed\"]}", "agent.a1.status",
                        "{\"id\":\"a1\",\"name\":\"db\",\"status\":\"completed\"}", key));
    /* a crash-loop rule counts the restarts (idle, "restarting in ...") besides its statuses */
    const char *loop = "{\"kind\":\"agent\",\"restarts\":3,\"within_s\":60}";
    const char *restarting = "{\"id\":\"a1\",\"name\":\"w\",\"status\":\"idle\","
                             "\"reason\":\"restarting in 500 ms (exited with code 1)\"}";
    assert_true(matches(loop, "agent.a1.status", restarting, key));
    assert_false(matches(agent, "agent.a1.status", restarting, key));
    const char *task = "{\"kind\":\"task\",\"task_type\":\"build*\"}";
    assert_true(matches(task, "task.t1.updated",
                        "{\"id\":\"t1\",\"type\":\"build\",\"state\":\"failed\"}", key));
    assert_string_equal(key, "build");
    assert_false(matches(task, "task.t1.updated",
                         "{\"id\":\"t1\",\"type\":\"build\",\"state\":\"running\"}", key));
    assert_true(
        matches("{\"kind\":\"brain\"}", "brain.b1.overrun", "{\"id\":\"b1\",\"name\":\"x\"}", key));
    assert_string_equal(key, "b1");
    assert_false(matches("{\"kind\":\"metric\",\"metric\":\"m\"}", "anomaly.created", "{}", key));
}

static void test_rule_check(void **state)
{
    (void)state;
    char field[64], why[160];
    json_t *r = js("{\"kind\":\"metric\"}");
    assert_int_equal(alerts_rule_check(r, field, sizeof field, why, sizeof why), -EINVAL);
    assert_string_equal(field, "metric");
    json_decref(r);
    r = js("{\"kind\":\"agent\",\"restarts\":3}");
    assert_int_equal(alerts_rule_check(r, field, sizeof field, why, sizeof why), -EINVAL);
    assert_string_equal(field, "within_s");
    json_decref(r);
    r = js("{\"kind\":\"task\",\"restarts\":3,\"within_s\":60}");
    assert_int_equal(alerts_rule_check(r, field, sizeof field, why, sizeof why), -EINVAL);
    json_decref(r);
    r = js("{\"kind\":\"agent\",\"restarts\":3,\"within_s\":60}");
    assert_int_equal(alerts_rule_check(r, field, sizeof field, why, sizeof why), 0);
    json_decref(r);
}

static void test_metric_read(void **state)
{
    (void)state;
    const char *text = "# HELP x_total X\n# TYPE x_total counter\n"
                       "x_total{status=\"500\"} 3\nx_total{status=\"200\"} 4\nx_totally 100\n"
                       "y 2.5\n";
    double v = 0;
    assert_int_equal(alerts_metric_read(text, strlen(text), "x_total", NULL, &v), 0);
    assert_true(v == 7);
    assert_int_equal(alerts_metric_read(text, strlen(text), "x_total", "status=\"500\"", &v), 0);
    assert_true(v == 3);
    assert_int_equal(alerts_metric_read(text, strlen(text), "y", NULL, &v), 0);
    assert_true(v == 2.5);
    assert_int_equal(alerts_metric_read(text, strlen(text), "z", NULL, &v), -ENOENT);
    assert_true(alerts_metric_compare(3, ">", 2) && !alerts_metric_compare(2, ">", 2));
    assert_true(alerts_metric_compare(2, ">=", 2) && alerts_metric_compare(1, "<", 2));
}

static void test_grouping_and_rate(void **state)
{
    (void)state;
    alerts_groups_t *g = calloc(1, sizeof *g);
    assert_true(alerts_groups_admit(g, "web", 1000, 500));
    assert_false(alerts_groups_admit(g, "web", 1400, 500)); /* same incident: held back */
    assert_true(alerts_groups_admit(g, "db", 1400, 500));   /* another key fires */
    assert_true(alerts_groups_admit(g, "web", 1500, 500));  /* the window has passed */
    /* a full table forgets its oldest key rather than refusing new ones */
    char k[32];
    for (int i = 0; i < ALERTS_GROUPS_MAX + 10; i++) {
        snprintf(k, sizeof k, "k%d", i);
        assert_true(alerts_groups_admit(g, k, 2000 + i, 100000));
    }
    assert_int_equal(g->n, ALERTS_GROUPS_MAX);
    free(g);
    alerts_rate_t *r = calloc(1, sizeof *r);
    assert_true(alerts_rate_admit(r, 0, 2, 1000));
    assert_true(alerts_rate_admit(r, 10, 2, 1000));
    assert_false(alerts_rate_admit(r, 20, 2, 1000));
    assert_true(alerts_rate_admit(r, 1001, 2, 1000)); /* the first left the window */
    assert_true(alerts_rate_admit(r, 1002, 0, 1000)); /* 0 = no limit */
    free(r);
}

static void test_backoff(void **state)
{
    (void)state;
    assert_int_equal(alerts_backoff_ms(1, 1000, 300000), 1000);
    assert_int_equal(alerts_backoff_ms(2, 1000, 300000), 2000);
    assert_int_equal(alerts_backoff_ms(4, 1000, 300000), 8000);
    assert_int_equal(alerts_backoff_ms(30, 1000, 300000), 300000);
    assert_int_equal(alerts_backoff_ms(1000, 1000, 300000), 300000);
}

static void test_templates(void **state)
{
    (void)state;
    json_t *doc = js("{\"title\":\"a \\\"quoted\\\" title\\n\",\"event\":{\"stream\":\"web\","
                     "\"score\":0.5},\"n\":3}");
    char *out = NULL;
    assert_int_equal(alerts_template_render("{\"text\":\"{{title}} on {{ event.stream }} "
                                            "({{event.score}}, {{n}}){{missing}}\"}",
                                            doc, true, 4096, &out),
                     0);
    assert_string_equal(out, "{\"text\":\"a \\\"quoted\\\" title\\n on web (0.5, 3)\"}");
    json_t *parsed = json_loads(out, 0, NULL);
    assert_non_null(parsed); /* escaping keeps the body valid JSON */
    json_decref(parsed);
    free(out);
    assert_int_equal(alerts_template_render("{{title}}", doc, false, 4096, &out), 0);
    assert_string_equal(out, "a \"quoted\" title\n");
    free(out);
    assert_int_equal(alerts_template_render("no placeholders {{", doc, true, 4096, &out), 0);
    assert_string_equal(out, "no placeholders {{");
    free(out);
    assert_int_equal(alerts_template_render("{{title}}{{title}}", doc, false, 20, &out), -E2BIG);
    json_decref(doc);
}

static void test_signature(void **state)
{
    (void)state;
    char sig[80];
    /* RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?" */
    alerts_sign("Jefe", "what do ya want for nothing?", 28, sig, sizeof sig);
    assert_string_equal(sig,
                        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anomaly_rules),     cmocka_unit_test(test_agent_task_brain_rules),
        cmocka_unit_test(test_rule_check),        cmocka_unit_test(test_metric_read),
        cmocka_unit_test(test_grouping_and_rate), cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_templates),         cmocka_unit_test(test_signature),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
