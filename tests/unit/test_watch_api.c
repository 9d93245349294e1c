/* Unit tests of the watch API's pure parts: the review workflow's moves, secret-looking keys and
 * redaction, body splitting (JSON, arrays, NDJSON, text) with per-index rejects, OTLP JSON
 * conversion, and evidence bundles signed, verified and caught when tampered with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/hub.h"
#include "watch/watch.h"
#include "watch/watch_internal.h"

static void test_transitions(void **state)
{
    (void)state;
    /* one step from pending to any outcome */
    assert_true(watch_transition_ok("pending", "investigating"));
    assert_true(watch_transition_ok("pending", "acknowledged"));
    assert_true(watch_transition_ok("pending", "resolved"));
    assert_true(watch_transition_ok("pending", "dismissed"));
    assert_true(watch_transition_ok("investigating", "acknowledged"));
    assert_true(watch_transition_ok("investigating", "dismissed"));
    assert_true(watch_transition_ok("acknowledged", "resolved"));
    assert_true(watch_transition_ok("acknowledged", "dismissed"));
    assert_true(watch_transition_ok("acknowledged", "investigating"));
    /* closed ones reopen through investigating only; nothing goes back to pending */
    assert_true(watch_transition_ok("dismissed", "investigating"));
    assert_true(watch_transition_ok("resolved", "investigating"));
    assert_false(watch_transition_ok("resolved", "acknowledged"));
    assert_false(watch_transition_ok("dismissed", "resolved"));
    assert_false(watch_transition_ok("dismissed", "pending"));
    assert_false(watch_transition_ok("investigating", "pending"));
    json_t *a = watch_transitions_from("investigating");
    assert_int_equal(json_array_size(a), 3);
    json_decref(a);
    a = watch_transitions_from("nonsense");
    assert_int_equal(json_array_size(a), 0);
    json_decref(a);
    /* an incident shows its most urgent anomaly's status */
    assert_true(watch_status_rank("pending") < watch_status_rank("investigating"));
    assert_true(watch_status_rank("acknowledged") < watch_status_rank("resolved"));
    assert_true(watch_status_rank("resolved") < watch_status_rank("dismissed"));
    assert_int_equal(watch_severity_rank("critical"), 3);
    assert_int_equal(watch_severity_rank("medium"), 1);
    assert_int_equal(watch_severity_rank("none"), 0);
    assert_int_equal(watch_severity_rank(NULL), 0);
}

/* One anomaly as the scoring job builds it: its window's events and its time. */
static json_t *anomaly_at(int first, int last, int64_t ts_ms)
{
    return json_pack("{s:{s:i,s:i},s:I}", "metadata", "first_event", first, "last_event", last,
                     "timestamp_ms", (json_int_t)ts_ms);
}

static const char *incident_of(json_t *list, size_t i)
{
    return json_string_value(json_object_get(json_array_get(list, i), "incident_id"));
}

static void test_incident_grouping(void **state)
{
    (void)state;
    hub_t hub;
    memset(&hub, 0, sizeof hub);
    hub.cfg.watch_incident_gap_s = 10;
    watch_t w = {.hub = &hub};
    watch_stream_t s;
    memset(&s, 0, sizeof s);
    int64_t t0 = 1000000;
    json_t *l = json_array();
    json_array_append_new(l, anomaly_at(100, 109, t0));          /* opens an incident */
    json_array_append_new(l, anomaly_at(105, 114, t0 + 50000));  /* overlaps: joins, late or not */
    json_array_append_new(l, anomaly_at(115, 124, t0 + 90000));  /* adjoins: joins */
    json_array_append_new(l, anomaly_at(300, 309, t0 + 95000));  /* far, but within the gap */
    json_array_append_new(l, anomaly_at(500, 509, t0 + 200000)); /* far and later: a new one */
    watch_incident_assign(&w, &s, l);
    assert_non_null(incident_of(l, 0));
    assert_memory_equal(incident_of(l, 0), "inc-", 4);
    assert_int_equal(strlen(incident_of(l, 0)), 28);
    for (size_t i = 1; i < 4; i++)
        assert_string_equal(incident_of(l, i), incident_of(l, 0));
    assert_string_not_equal(incident_of(l, 4), incident_of(l, 0));
    /* a rebuilt detector counts events from 0 again: only time can join then */
    s.incident_events_valid = false;
    json_t *m = json_array();
    json_array_append_new(m, anomaly_at(0, 9, t0 + 400000));
    watch_incident_assign(&w, &s, m);
    assert_string_not_equal(incident_of(m, 0), incident_of(l, 4));
    /* an incident without end is cut at WATCH_INCIDENT_MAX anomalies */
    json_t *n = json_array();
    for (int i = 0; i <= WATCH_INCIDENT_MAX; i++)
        json_array_append_new(n, anomaly_at(1000 + i, 1009 + i, t0 + 500000));
    watch_incident_assign(&w, &s, n);
    assert_string_equal(incident_of(n, WATCH_INCIDENT_MAX - 1), incident_of(n, 0));
    assert_string_not_equal(incident_of(n, WATCH_INCIDENT_MAX), incident_of(n, 0));
    json_decref(l);
    json_decref(m);
    json_decref(n);
}

static void test_secret_keys_and_redaction(void **state)
{
    (void)state;
    const char *yes[] = {"password",      "DB_PASSWORD",   "token",   "access_token",
                         "Authorization", "cookie",        "api_key", "x-api-key",
                         "key",           "client_secret", "jwt",     NULL};
    const char *no[] = {"message", "keyboard", "monkey", "level", "path", "duration_ms", NULL};
    for (size_t i = 0; yes[i]; i++)
        assert_true(watch_key_secret(yes[i]));
    for (size_t i = 0; no[i]; i++)
        assert_false(watch_key_secret(no[i]));
    json_t *v = json_loads("{\"user\":\"ann\",\"password\":\"hunter2\",\"nested\":[{\"token\":7,"
                           "\"ok\":1}],\"cookie\":null}",
                           0, NULL);
    watch_redact(v);
    char *s = json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(s, "{\"cookie\":null,\"nested\":[{\"ok\":1,\"token\":\"<REDACTED>\"}],"
                           "\"password\":\"<REDACTED>\",\"user\":\"ann\"}");
    free(s);
    json_decref(v);
}

static void test_body_items(void **state)
{
    (void)state;
    json_t *items = NULL, *rej = NULL;
    problem_t *p = NULL;
    const char *nd = "{\"a\":1}\n\n{bad\r\n\"s\"\n";
    assert_int_equal(
        watch_body_items(nd, strlen(nd), "application/x-ndjson", 64, 100, &items, &rej, &p), 0);
    assert_int_equal(json_array_size(items), 3);
    assert_true(json_is_null(json_array_get(items, 1)));
    assert_int_equal(json_array_size(rej), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(rej, 0), "index")), 1);
    json_decref(items);
    json_decref(rej);

    const char *arr = "[1,2,3]";
    assert_int_equal(
        watch_body_items(arr, strlen(arr), "application/json", 64, 2, &items, &rej, &p), -1);
    assert_int_equal(problem_status(p), 413);
    problem_destroy(&p);
    assert_int_equal(watch_body_items("{", 1, "application/json", 64, 2, &items, &rej, &p), -1);
    assert_int_equal(problem_status(p), 400);
    problem_destroy(&p);
    const char *txt = "one\ntwo\n";
    assert_int_equal(
        watch_body_items(txt, strlen(txt), "text/plain; charset=utf-8", 64, 10, &items, &rej, &p),
        0);
    assert_string_equal(json_string_value(json_array_get(items, 1)), "two");
    json_decref(items);
    json_decref(rej);
}

static void test_otlp_logs_and_metrics(void **state)
{
    (void)state;
    json_t *root = json_loads(
        "{\"resourceLogs\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{"
        "\"stringValue\":\"pay ments\"}}]},\"scopeLogs\":[{\"scope\":{\"name\":\"sc\"},"
        "\"logRecords\":[{\"timeUnixNano\":\"1700000000123000000\",\"body\":{\"stringValue\":"
        "\"hi\"}}]}]}]}",
        0, NULL);
    json_t *out = NULL;
    size_t rejected = 9;
    char why[128];
    assert_int_equal(watch_otlp_logs(root, 5, true, &out, &rejected, why, sizeof why), 0);
    assert_int_equal(rejected, 0);
    json_t *b = json_object_get(out, "otel.pay_ments.logs");
    assert_non_null(b);
    json_t *e = json_array_get(json_object_get(b, "events"), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(e, "event"), "body")),
                        "hi");
    assert_int_equal(json_integer_value(json_object_get(e, "ts")), 1700000000123);
    assert_null(json_object_get(json_object_get(e, "event"), "ts"));
    json_decref(out);
    json_decref(root);

    root = json_loads("{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"m\","
                      "\"sum\":{\"dataPoints\":[{\"asInt\":\"41\"},{\"asDouble\":\"x\"}]}}]}]}]}",
                      0, NULL);
    assert_int_equal(watch_otlp_metrics(root, 5, true, &out, &rejected, why, sizeof why), 0);
    assert_int_equal(rejected, 1);
    b = json_object_get(out, "otel.unknown_service.metrics.m");
    assert_non_null(b);
    e = json_array_get(json_object_get(b, "events"), 0);
    assert_true(json_number_value(json_object_get(json_object_get(e, "event"), "value")) == 41.0);
    json_decref(out);
    json_decref(root);
}

/* Metrics conversion costs what the request holds, not points x resource attributes: each data
 * point's metadata shares the resource instead of copying it (2 000 attributes and 2 000 points,
 * 118 KB of JSON, took 700 MB when every point copied them). */
static void test_otlp_metrics_share_resource(void **state)
{
    (void)state;
    json_t *attrs = json_array(), *pts = json_array();
    for (int i = 0; i < 2000; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        json_array_append_new(attrs,
                              json_pack("{s:s,s:{s:s}}", "key", k, "value", "stringValue", "v"));
        json_array_append_new(pts, json_pack("{s:f}", "asDouble", 1.5));
    }
    json_t *root = json_pack("{s:[{s:{s:o},s:[{s:[{s:s,s:{s:o}}]}]}]}", "resourceMetrics",
                             "resource", "attributes", attrs, "scopeMetrics", "metrics", "name",
                             "m", "gauge", "dataPoints", pts);
    assert_non_null(root);
    struct rusage before, after;
    assert_int_equal(getrusage(RUSAGE_SELF, &before), 0);
    json_t *out = NULL;
    size_t rejected = 0;
    char why[256];
    assert_int_equal(watch_otlp_metrics(root, 5, true, &out, &rejected, why, sizeof why), 0);
    assert_int_equal(getrusage(RUSAGE_SELF, &after), 0);
    const char *name;
    json_t *b;
    size_t events = 0;
    json_object_foreach(out, name, b)
    {
        json_t *evs = json_object_get(b, "events");
        events += json_array_size(evs);
        /* every point still carries the resource's attributes and its own metric name */
        json_t *meta = json_object_get(json_array_get(evs, 0), "meta");
        assert_int_equal(json_object_size(json_object_get(meta, "resource")), 2000);
        assert_string_equal(json_string_value(json_object_get(meta, "metric")), "m");
    }
    assert_int_equal(events, 2000);
    assert_int_equal(rejected, 0);
    assert_true(after.ru_maxrss - before.ru_maxrss < 100 * 1024); /* KB: < 100 MB */
    json_decref(out);
    json_decref(root);
}

static void test_bundle_sign_verify_tamper(void **state)
{
    (void)state;
    assert_true(sodium_init() >= 0);
    watch_t w;
    memset(&w, 0, sizeof w);
    crypto_sign_keypair(w.pk, w.sk);
    json_t *a = json_loads("{\"id\":\"x\",\"ncd_score\":0.41234567890123,\"note\":\"caf\\u00e9\","
                           "\"tags\":[\"a\"]}",
                           0, NULL);
    json_t *b = watch_bundle_make(&w, a, "ann", 1700000000000);
    assert_non_null(b);
    char err[256];
    assert_int_equal(watch_bundle_verify(b, w.pk, err, sizeof err), 0);

    /* through text and back, as a file would carry it */
    char *text = json_dumps(b, JSON_INDENT(2));
    json_t *b2 = json_loads(text, 0, NULL);
    free(text);
    assert_int_equal(watch_bundle_verify(b2, w.pk, err, sizeof err), 0);
    json_object_set_new(json_object_get(b2, "anomaly"), "ncd_score", json_real(0.1));
    assert_int_equal(watch_bundle_verify(b2, w.pk, err, sizeof err), -1);
    json_decref(b2);

    unsigned char other[32], osk[64];
    crypto_sign_keypair(other, osk);
    assert_int_equal(watch_bundle_verify(b, other, err, sizeof err), -1);

    const char *pkb64 =
        json_string_value(json_object_get(json_object_get(b, "signature"), "public_key"));
    unsigned char parsed[32];
    assert_int_equal(watch_key_parse(pkb64, parsed), 0);
    assert_memory_equal(parsed, w.pk, 32);
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, w.pk, 32);
    assert_int_equal(watch_key_parse(hex, parsed), 0);
    assert_memory_equal(parsed, w.pk, 32);
    assert_int_equal(watch_key_parse("nope", parsed), -1);
    json_decref(b);
    json_decref(a);
}

/* The signing key in the data dir: made once (0600), the same key on the next start, a key left
 * readable by others made private again, and a damaged key file refused with a reason (never
 * replaced: bundles signed with it would stop verifying). */
static void test_sign_key_load(void **state)
{
    (void)state;
    char dir[256], path[400], err[512] = "";
    snprintf(dir, sizeof dir, "%s/ganglion-test-watchkey-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/%s", dir, WATCH_KEY_FILE);

    watch_t a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    assert_int_equal(watch_sign_key_load(&a, dir, err, sizeof err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 64);

    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(watch_sign_key_load(&b, dir, err, sizeof err), 0);
    assert_memory_equal(a.pk, b.pk, 32);
    assert_string_equal(a.key_id, b.key_id);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    assert_int_equal(truncate(path, 63), 0);
    assert_int_equal(watch_sign_key_load(&b, dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "is not a 64-byte Ed25519 secret key"));
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 63); /* left for the operator to move away */

    FILE *f = fopen(path, "ab");
    assert_non_null(f);
    fputs("xy", f); /* 65 bytes: too long is as wrong as too short */
    fclose(f);
    assert_int_equal(watch_sign_key_load(&b, dir, err, sizeof err), -1);
    unlink(path);

    char gone[450];
    snprintf(gone, sizeof gone, "%s/no-such-dir", dir);
    assert_int_equal(watch_sign_key_load(&b, gone, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot create"));
    assert_int_equal(rmdir(dir), 0);
}

/* What `ganglion watch verify` says of files that are not signed bundles. */
static void test_bundle_verify_refusals(void **state)
{
    (void)state;
    assert_true(sodium_init() >= 0);
    unsigned char pk[32], sk[64];
    crypto_sign_keypair(pk, sk);
    char err[256];
    json_t *v = json_loads("[1]", 0, NULL);
    assert_int_equal(watch_bundle_verify(v, pk, err, sizeof err), -1);
    assert_non_null(strstr(err, "not an evidence bundle"));
    json_decref(v);

    v = json_loads("{\"anomaly\":{}}", 0, NULL);
    assert_int_equal(watch_bundle_verify(v, pk, err, sizeof err), -1);
    assert_non_null(strstr(err, "no Ed25519 signature"));
    json_decref(v);

    v = json_loads("{\"anomaly\":{},\"signature\":{\"algorithm\":\"RSA\",\"value\":\"AA==\"}}", 0,
                   NULL);
    assert_int_equal(watch_bundle_verify(v, pk, err, sizeof err), -1);
    assert_non_null(strstr(err, "no Ed25519 signature"));
    json_decref(v);

    v = json_loads("{\"anomaly\":{},\"signature\":{\"algorithm\":\"Ed25519\",\"value\":\"AAAA\"}}",
                   0, NULL);
    assert_int_equal(watch_bundle_verify(v, pk, err, sizeof err), -1);
    assert_non_null(strstr(err, "not 64 bytes of base64"));
    json_decref(v);
}

/* Arbitrary bytes never crash the protobuf reader: they decode to something or to NULL. */
static void test_otlp_protobuf_garbage(void **state)
{
    (void)state;
    unsigned char buf[256];
    uint32_t x = 12345;
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)(round % (int)sizeof buf);
        for (size_t i = 0; i < n; i++) {
            x = x * 1103515245u + 12345u;
            buf[i] = (unsigned char)(x >> 16);
            if (round % 3 == 0 && i % 4 == 0)
                buf[i] = 0x0a; /* many length-delimited field 1 keys: deep nesting */
        }
        json_t *v = watch_otlp_pb_decode(buf, n, (watch_otlp_signal_t)(round % 3), NULL);
        json_decref(v);
    }
    /* a logs request with one record whose body is the string "hi" */
    static const unsigned char req[] = {0x0a, 0x0c, 0x12, 0x0a, 0x12, 0x08, 0x2a,
                                        0x04, 0x0a, 0x02, 'h',  'i',  0x10, 0x09};
    json_t *v = watch_otlp_pb_decode(req, sizeof req, WATCH_OTLP_LOGS, NULL);
    assert_non_null(v);
    json_t *rec = json_array_get(
        json_object_get(
            json_array_get(
                json_object_get(json_array_get(json_object_get(v, "resourceLogs"), 0), "scopeLogs"),
                0),
            "logRecords"),
        0);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(rec, "body"), "stringValue")), "hi");
    assert_int_equal(json_integer_value(json_object_get(rec, "severityNumber")), 9);
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transitions),
        cmocka_unit_test(test_incident_grouping),
        cmocka_unit_test(test_secret_keys_and_redaction),
        cmocka_unit_test(test_body_items),
        cmocka_unit_test(test_otlp_logs_and_metrics),
        cmocka_unit_test(test_otlp_metrics_share_resource),
        cmocka_unit_test(test_bundle_sign_verify_tamper),
        cmocka_unit_test(test_sign_key_load),
        cmocka_unit_test(test_bundle_verify_refusals),
        cmocka_unit_test(test_otlp_protobuf_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
