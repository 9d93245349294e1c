/* Unit tests for the compression-based detector: NCD and entropy on known inputs, the seeded
 * permutation test (determinism, p-value bounds), canonicalisation and redaction, window
 * arithmetic, the fast path against the full test, and the synthetic suite (recall and false
 * positives on labelled traffic). */
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

#include "watch/cbad_priv.h"
#include "watch/synth.h"

#if defined(__SANITIZE_ADDRESS__)
#define CBAD_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CBAD_TEST_SANITIZED 1
#endif
#endif
#ifndef CBAD_TEST_SANITIZED
#define CBAD_TEST_SANITIZED 0
#endif

/* ---- measures ------------------------------------------------------------------------------ */

static void test_ncd_known(void **state)
{
    (void)state;
    /* Symmetric: (C(BW) - min) / max. */
    assert_true(fabs(cbad_ncd(100, 50, 120) - 0.7) < 1e-12);
    assert_true(fabs(cbad_ncd(50, 100, 120) - 0.7) < 1e-12);
    assert_true(cbad_ncd(100, 50, 40) == 0.0);  /* clamped below */
    assert_true(cbad_ncd(100, 50, 400) == 1.0); /* clamped above */
    assert_true(cbad_ncd(0, 0, 0) == 0.0);
    /* Directed: (C(BW) - C(B)) / C(W). */
    assert_true(fabs(cbad_ncd_directed(100, 50, 120) - 0.4) < 1e-12);
    assert_true(cbad_ncd_directed(100, 50, 90) == 0.0);
    assert_true(cbad_ncd_directed(100, 50, 200) == 1.0);
    assert_true(cbad_ncd_directed(100, 0, 100) == 0.0);
}

static void test_entropy_known(void **state)
{
    (void)state;
    unsigned char buf[512];
    memset(buf, 'a', sizeof buf);
    assert_true(cbad_entropy(buf, sizeof buf) == 0.0);
    for (int i = 0; i < 256; i++)
        buf[i] = (unsigned char)i;
    assert_true(fabs(cbad_entropy(buf, 256) - 8.0) < 1e-12);
    for (int i = 0; i < 64; i++)
        buf[i] = (unsigned char)(i % 2 ? 'a' : 'b');
    assert_true(fabs(cbad_entropy(buf, 64) - 1.0) < 1e-12);
    for (int i = 0; i < 64; i++)
        buf[i] = (unsigned char)"abcd"[i % 4];
    assert_true(fabs(cbad_entropy(buf, 64) - 2.0) < 1e-12);
    assert_true(cbad_entropy(buf, 0) == 0.0);
}

static void test_rng(void **state)
{
    (void)state;
    cbad_rng_t a, b, c;
    cbad_rng_seed(&a, 42, 7);
    cbad_rng_seed(&b, 42, 7);
    cbad_rng_seed(&c, 42, 8);
    bool differs = false;
    for (int i = 0; i < 100; i++) {
        uint64_t x = cbad_rng_next(&a), y = cbad_rng_next(&b), z = cbad_rng_next(&c);
        assert_true(x == y);
        differs |= x != z;
    }
    assert_true(differs);
    /* below(n) stays in range and hits every value of a small range. */
    int seen[7] = {0};
    for (int i = 0; i < 7000; i++) {
        uint32_t v = cbad_rng_below(&a, 7);
        assert_true(v < 7);
        seen[v]++;
    }
    for (int i = 0; i < 7; i++)
        assert_true(seen[i] > 800 && seen[i] < 1200);
    assert_true(cbad_rng_below(&a, 1) == 0);
}

/* ---- canonicalisation and redaction -------------------------------------------------------- */

static void check_clean(const char *in, bool canon, bool redact, const char *want)
{
    char out[1024];
    size_t n = cbad_text_clean(in, strlen(in), canon, redact, out, sizeof out);
    if (strcmp(out, want) != 0)
        fail_msg("clean(\"%s\")\n  got  \"%s\"\n  want \"%s\"", in, out, want);
    assert_int_equal(n, strlen(want));
}

static void test_canonicalise(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"status=200 duration_ms=45", "status=<NUM3> duration_ms=<NUM2>"},
        {"took 4500ms", "took <NUM4>ms"},
        {"temp -3.5 and 1e6", "temp <NUM1> and <NUM1>"},
        {"api/v1/users v2", "api/v1/users v2"},
        {"id 550e8400-e29b-41d4-a716-446655440000 ok", "id <UUID> ok"},
        {"trace=4bf92f3577b34da6a3ce929d0e0e4736", "trace=<HEX>"},
        {"addr 0x7ffd5e8c", "addr <HEX>"},
        {"deadbeef is a word", "deadbeef is a word"}, /* letters only: not an id */
        {"at 2026-11-25T01:47:00.123Z done", "at <TS> done"},
        {"at 2026-11-25 01:47:00+01:00 done", "at <TS> done"},
        {"on 2026-11-25 only", "on <TS> only"},
        {"clock 12:30:45 tick", "clock <TS> tick"},
        {"from 10.0.3.17:5432 to 192.168.1.1", "from <IP> to <IP>"},
        {"v6 fe80::1 and 2001:db8::8a2e:370:7334", "v6 <IP> and <IP>"},
        {"mail ops@example.com now", "mail <EMAIL> now"},
        {"see https://example.com/a?b=1 now", "see <URL> now"},
        {"tok eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcDEF123_- end", "tok <JWT> end"},
        {"user_123 x1", "user_123 x1"},
        /* ids real logs glue into words, and calendar names of syslog stamps */
        {"block blk_38865049064139660 and blk_-6952295868487656571",
         "block blk_<NUM> and blk_<NUM>"},
        {"for appattempt_1445144423722_0020_000001", "for appattempt_<NUM>_<NUM>_<NUM>"},
        {"Package_for_KB3075220 x86_64 ssh2", "Package_for_KB<NUM> x86_64 ssh2"},
        {"token=Token{a64f992 u0}", "token=Token{<HEX> u0}"},
        {"Sun Dec <NUM2> ok", "<TS> <TS> <NUM2> ok"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_clean(cases[i].in, true, false, cases[i].want);
    /* Off means untouched. */
    check_clean("status=200 id=10.0.0.1", false, false, "status=200 id=10.0.0.1");
}

/* An anomaly noted on a text stream set to fold folds the windows overlapping it: the next window
 * handed out starts after the anomaly's last event. */
static void test_result_note_folds_overlapping_windows(void **state)
{
    (void)state;
    cbad_settings_t s;
    cbad_settings_default(&s);
    s.baseline = 20, s.window = 10, s.hop = 2;
    s.fold = true;
    cbad_t *d = NULL;
    assert_int_equal(cbad_new(&s, &d), 0);
    uint64_t due_at[64];
    size_t n_due = 0;
    for (int i = 0; i < 60; i++) {
        char ev[32];
        int len = snprintf(ev, sizeof ev, "line %d", i % 3);
        int rc = cbad_push(d, ev, (size_t)len);
        assert_true(rc >= 0);
        if (rc == 1) {
            due_at[n_due++] = cbad_events(d) - 1;
            cbad_job_t *j = NULL;
            assert_int_equal(cbad_job_take(d, &j), 0);
            cbad_job_destroy(&j);
            if (n_due == 1) {
                cbad_result_t r = {0};
                r.anomaly = true;
                r.first_event = 20, r.last_event = 29; /* the first window: events 20..29 */
                cbad_result_note(d, &r);
            }
        }
    }
    /* First window ends at event 29; the next one starting after it ends at 39. */
    assert_true(n_due >= 2);
    assert_int_equal(due_at[0], 29);
    assert_int_equal(due_at[1], 39);
    assert_int_equal(cbad_folded(d), 4);
    cbad_destroy(&d);
}

/* Anomalies over normal lines (five templates), a flood of one of them, then a burst of a new
 * template, with the per-template gate at `rare` (0: off); *flood_hits counts those in the flood.
 */
static size_t template_run(uint32_t rare, size_t *flood_hits)
{
    cbad_settings_t s;
    cbad_settings_default(&s);
    s.baseline = 100, s.window = 20, s.hop = 10, s.permutations = 200;
    s.rare_template = rare;
    cbad_t *d = NULL;
    assert_int_equal(cbad_new(&s, &d), 0);
    cbad_scratch_t *sc = NULL;
    assert_int_equal(cbad_scratch_new(&sc), 0);
    size_t hits = 0;
    *flood_hits = 0;
    for (int i = 0; i < 360; i++) {
        char ev[128];
        int len;
        if (i < 200 || i >= 260)
            len = snprintf(ev, sizeof ev, "svc-%d request done user=%d took %d ms", i % 5, i * 7,
                           i % 13);
        else if (i < 240)
            len = snprintf(ev, sizeof ev, "svc-1 request done user=%d took %d ms", i, i % 7);
        else
            len = snprintf(ev, sizeof ev, "kernel: segfault at %d ip %d error 4 in libfoo.so", i,
                           i * 3);
        int rc = cbad_push(d, ev, (size_t)len);
        assert_true(rc >= 0);
        if (rc != 1)
            continue;
        cbad_job_t *j = NULL;
        assert_int_equal(cbad_job_take(d, &j), 0);
        cbad_result_t r = {0};
        assert_int_equal(cbad_job_run(j, sc, &r), 0);
        cbad_result_note(d, &r);
        hits += r.anomaly;
        if (r.anomaly && r.last_event < 240)
            (*flood_hits)++;
        cbad_result_clear(&r);
        cbad_job_destroy(&j);
    }
    cbad_scratch_destroy(&sc);
    cbad_destroy(&d);
    return hits;
}

/* The per-template gate: a flood of a common template is no anomaly, a new template is. */
static void test_rare_template_gate(void **state)
{
    (void)state;
    size_t flood_off, flood_on;
    size_t off = template_run(0, &flood_off);
    size_t on = template_run(3, &flood_on);
    print_message("rare_template off: %zu anomalies (%zu in the flood); 3: %zu (%zu)\n", off,
                  flood_off, on, flood_on);
    assert_true(flood_off > 0); /* the compression view alone flags the flood */
    assert_int_equal(flood_on, 0);
    assert_true(on > 0); /* the new template's burst still is one */
}

/* One run over a known message about hosts never seen before (every line a new host name,
 * from 200 to 260) and then a new message (from 300); returns the anomalies in each part. */
static void host_run(uint32_t rare, bool numbered, size_t *hosts_hits, size_t *new_hits)
{
    cbad_settings_t s;
    cbad_settings_default(&s);
    s.baseline = 100, s.window = 20, s.hop = 10, s.permutations = 200;
    s.rare_template = rare;
    cbad_t *d = NULL;
    assert_int_equal(cbad_new(&s, &d), 0);
    cbad_scratch_t *sc = NULL;
    assert_int_equal(cbad_scratch_new(&sc), 0);
    *hosts_hits = *new_hits = 0;
    uint32_t x = 12345;
    for (int i = 0; i < 360; i++) {
        char ev[160], host[16];
        for (int k = 0; k < 12; k++) {
            x = x * 1103515245u + 12345u;
            host[k] = k == 4 || k == 8 ? '.' : (char)('a' + (x >> 16) % 26);
        }
        host[12] = '\0';
        if (numbered) /* cn910, bn47: a node's number in its name (Thunderbird's hosts) */
            snprintf(host, sizeof host, "%cn%u", 'a' + (char)(x >> 16) % 4, 10 + (x >> 8) % 990);
        int len;
        if (i >= 300 && i < 320)
            len = snprintf(ev, sizeof ev, "kernel: segfault at %d ip %d error 4 in libfoo.so", i,
                           i * 3);
        else
            len = snprintf(ev, sizeof ev, "proxy %s:443 close, %d bytes sent, %d received",
                           i >= 200 && i < 260 ? host
                           : i % 2             ? "api.shop.com"
                                               : "cdn.shop.com",
                           i % 9 * 100, i % 7 * 1000);
        int rc = cbad_push(d, ev, (size_t)len);
        assert_true(rc >= 0);
        if (rc != 1)
            continue;
        cbad_job_t *j = NULL;
        assert_int_equal(cbad_job_take(d, &j), 0);
        cbad_result_t r = {0};
        assert_int_equal(cbad_job_run(j, sc, &r), 0);
        cbad_result_note(d, &r);
        if (r.anomaly && r.last_event >= 300)
            (*new_hits)++;
        else if (r.anomaly && r.last_event >= 200)
            (*hosts_hits)++;
        cbad_result_clear(&r);
        cbad_job_destroy(&j);
    }
    cbad_scratch_destroy(&sc);
    cbad_destroy(&d);
}

/* The gate's template key reads names that are data (hosts, files, packages: letters joined by
 * '.', '_' or '~'; numbered hosts such as cn910) as one: a known message about new hosts is a
 * known template, a new message still opens the gate. */
static void test_rare_template_names(void **state)
{
    (void)state;
    size_t hosts_off, new_off, hosts_on, new_on;
    for (int numbered = 0; numbered < 2; numbered++) {
        host_run(0, numbered, &hosts_off, &new_off);
        host_run(3, numbered, &hosts_on, &new_on);
        print_message("%s hosts, rare_template off: %zu anomalies on new hosts, %zu on the new "
                      "message; 3: %zu, %zu\n",
                      numbered ? "numbered" : "dotted", hosts_off, new_off, hosts_on, new_on);
        assert_true(hosts_off > 0); /* the compression view alone flags the new hosts */
        assert_int_equal(hosts_on, 0);
        assert_true(new_on > 0);
    }
}

/* Whether the window due after line `probe_at` + a few more passes the gate, on a stream that is
 * settled (five templates) or `noisy` (forty templates in turn, each seen twice in the last 120
 * lines: every line is of a rare template). The probe is a template seen once, at line 200, and
 * again at `probe_at`; `fresh_at` (if not 0) puts a template never seen before there instead.
 * A window the gate stops is scored as one of common templates (r.common, fast mode). */
static bool gate_probe(bool noisy, int probe_at, int fresh_at)
{
    cbad_settings_t s;
    cbad_settings_default(&s);
    s.baseline = 100, s.window = 20, s.hop = 10, s.permutations = 0;
    cbad_t *d = NULL;
    assert_int_equal(cbad_new(&s, &d), 0);
    cbad_scratch_t *sc = NULL;
    assert_int_equal(cbad_scratch_new(&sc), 0);
    static const char *const words[] = {"alpha", "bravo",   "charlie", "delta",
                                        "echo",  "foxtrot", "golf",    "hotel"};
    bool passed = false;
    for (int i = 0; i < 280; i++) {
        char ev[128];
        int len;
        if (i == 200 || i == probe_at)
            len = snprintf(ev, sizeof ev, "scrub started on pool tank");
        else if (i == fresh_at)
            len = snprintf(ev, sizeof ev, "disk failure on pool tank");
        else if (noisy) /* 40 templates: two words of eight, in turn */
            len = snprintf(ev, sizeof ev, "worker %s %s heartbeat ok", words[i % 40 / 8],
                           words[i % 8]);
        else
            len = snprintf(ev, sizeof ev, "worker %s heartbeat ok", words[i % 5]);
        int rc = cbad_push(d, ev, (size_t)len);
        assert_true(rc >= 0);
        if (rc != 1)
            continue;
        cbad_job_t *j = NULL;
        assert_int_equal(cbad_job_take(d, &j), 0);
        cbad_result_t r = {0};
        assert_int_equal(cbad_job_run(j, sc, &r), 0);
        cbad_result_note(d, &r);
        int probe = fresh_at ? fresh_at : probe_at;
        if (r.first_event <= (uint64_t)probe && (uint64_t)probe <= r.last_event &&
            r.first_event > 200)
            passed |= !r.common;
        cbad_result_clear(&r);
        cbad_job_destroy(&j);
    }
    cbad_scratch_destroy(&sc);
    cbad_destroy(&d);
    return passed;
}

/* The gate measures rare lines against the stream's usual share of them: on a settled stream a
 * window holding a template seen once before passes; on a stream whose every line is of a rare
 * template it does not (as many rare lines as usual), while a template new to the stream still
 * passes there. */
static void test_rare_template_usual(void **state)
{
    (void)state;
    assert_true(gate_probe(false, 255, 0));
    assert_false(gate_probe(true, 255, 0));
    assert_true(gate_probe(true, 0, 255));
}

/* Anomalies over normal lines and a 40-line burst at line 200, noted as the daemon notes them:
 * either one new message repeated, or a new message every 10 lines. Returns the anomalies in the
 * burst; *overlapping counts those whose window overlaps the anomaly before it. */
static size_t burst_run(bool varied, size_t *overlapping)
{
    cbad_settings_t s;
    cbad_settings_default(&s);
    s.baseline = 100, s.window = 20, s.hop = 10, s.permutations = 200;
    cbad_t *d = NULL;
    assert_int_equal(cbad_new(&s, &d), 0);
    cbad_scratch_t *sc = NULL;
    assert_int_equal(cbad_scratch_new(&sc), 0);
    static const char *const kinds[] = {"segfault", "general protection fault", "invalid opcode",
                                        "double fault"};
    size_t hits = 0;
    uint64_t last_end = 0;
    *overlapping = 0;
    for (int i = 0; i < 300; i++) {
        char ev[128];
        int len;
        if (i >= 200 && i < 240)
            len = snprintf(ev, sizeof ev, "kernel: %s at %d ip %d error 4 in libfoo.so",
                           kinds[varied ? (i - 200) / 10 : 0], i, i * 3);
        else
            len = snprintf(ev, sizeof ev, "svc-%d request done user=%d took %d ms", i % 5, i * 7,
                           i % 13);
        int rc = cbad_push(d, ev, (size_t)len);
        assert_true(rc >= 0);
        if (rc != 1)
            continue;
        cbad_job_t *j = NULL;
        assert_int_equal(cbad_job_take(d, &j), 0);
        cbad_result_t r = {0};
        assert_int_equal(cbad_job_run(j, sc, &r), 0);
        cbad_result_note(d, &r);
        if (r.anomaly) {
            hits++;
            *overlapping += last_end > r.first_event;
            last_end = r.last_event + 1;
        }
        cbad_result_clear(&r);
        cbad_job_destroy(&j);
    }
    cbad_scratch_destroy(&sc);
    cbad_destroy(&d);
    return hits;
}

/* A burst's later windows repeat what its first anomaly reported: a burst of one new message
 * gives anomalies whose windows do not overlap; a burst that brings a new message every 10 lines
 * gives overlapping anomalies, each with a template new to the stream. */
static void test_rare_template_burst(void **state)
{
    (void)state;
    size_t ov_one, ov_varied;
    size_t one = burst_run(false, &ov_one);
    size_t varied = burst_run(true, &ov_varied);
    print_message("one message: %zu anomalies (%zu overlapping); a new one every 10 lines: %zu "
                  "(%zu)\n",
                  one, ov_one, varied, ov_varied);
    assert_true(one >= 1);
    assert_int_equal(ov_one, 0);
    assert_true(varied > one);
    assert_true(ov_varied > 0);
}

/* One line of a new message at line 600 among five known ones, at the defaults (200 shuffles),
 * noted as the daemon notes them; with `busy`, every other line before it is a known message
 * about a new kind of thing (a word never seen), so the stream keeps bringing new templates.
 * Each window holding the line is scored in both modes, which must decide it alike. Returns the
 * new-template anomalies; *shown: one of them shows the new line first. */
static size_t new_template_run(bool busy, bool *shown)
{
    cbad_settings_t s;
    cbad_settings_default(&s);
    s.permutations = 200;
    cbad_t *d = NULL;
    assert_int_equal(cbad_new(&s, &d), 0);
    cbad_scratch_t *sc = NULL;
    assert_int_equal(cbad_scratch_new(&sc), 0);
    size_t hits = 0;
    *shown = false;
    for (int i = 0; i < 700; i++) {
        char ev[128], word[8];
        for (int k = 0, x = i; k < 6; k++, x /= 26)
            word[k] = (char)('a' + x % 26);
        word[6] = '\0';
        int len;
        if (i == 600)
            len = snprintf(ev, sizeof ev, "kernel: watchdog: BUG: soft lockup on cpu %d", i % 8);
        else if (busy && i % 2)
            len = snprintf(ev, sizeof ev, "svc-1 unknown option %s ignored", word);
        else
            len = snprintf(ev, sizeof ev, "svc-%d request done user=%d took %d ms", i % 5, i * 7,
                           i % 13);
        int rc = cbad_push(d, ev, (size_t)len);
        assert_true(rc >= 0);
        if (rc != 1)
            continue;
        cbad_job_t *j = NULL;
        assert_int_equal(cbad_job_take(d, &j), 0);
        cbad_result_t r = {0}, full = {0};
        assert_int_equal(cbad_job_run(j, sc, &r), 0);
        if (r.first_event <= 600 && r.last_event >= 600) {
            assert_int_equal(cbad_job_run_mode(j, sc, CBAD_MODE_FULL, &full), 0);
            assert_int_equal(full.anomaly, r.anomaly);
            assert_int_equal(full.new_template, r.new_template);
            assert_int_equal(full.severity, r.severity);
            cbad_result_clear(&full);
        } else {
            assert_false(r.new_template);
        }
        if (r.new_template) {
            hits++;
            assert_true(r.anomaly);
            assert_int_equal(r.severity, CBAD_SEVERITY_MEDIUM);
            assert_non_null(strstr(r.explanation, "a new template"));
            json_t *o = cbad_result_to_json(&r);
            assert_non_null(o);
            assert_true(json_is_true(json_object_get(o, "new_template")));
            json_decref(o);
            *shown |= r.n_novel > 0 && strstr(r.novel_lines[0], "watchdog") != NULL;
        }
        cbad_result_note(d, &r);
        cbad_result_clear(&r);
        cbad_job_destroy(&j);
    }
    cbad_scratch_destroy(&sc);
    cbad_destroy(&d);
    return hits;
}

/* A template new to a settled stream is an anomaly of its own kind, though one line among 50
 * moves the compression view too little: one anomaly, medium, deciding alike in both modes,
 * its explanation showing the new line first. On a stream that keeps bringing new templates it
 * is no surprise by itself. */
static void test_rare_template_new(void **state)
{
    (void)state;
    bool shown_settled, shown_busy;
    size_t settled = new_template_run(false, &shown_settled);
    size_t busy = new_template_run(true, &shown_busy);
    print_message("new template: %zu anomalies on a settled stream, %zu on a busy one\n", settled,
                  busy);
    assert_int_equal(settled, 1);
    assert_true(shown_settled);
    assert_int_equal(busy, 0);
}

/* More distinct lines than the template table holds (2^18 slots, half full): it is rebuilt
 * from the ring instead of growing, and the detector keeps taking lines. */
static void test_rare_template_table_bounded(void **state)
{
    (void)state;
    cbad_settings_t s;
    cbad_settings_default(&s);
    s.baseline = 20, s.window = 10, s.hop = 10, s.permutations = 0;
    cbad_t *d = NULL;
    assert_int_equal(cbad_new(&s, &d), 0);
    char ev[32];
    for (uint32_t i = 0; i < 300000; i++) {
        char w[8];
        uint32_t x = i;
        for (int k = 0; k < 6; k++, x /= 26)
            w[k] = (char)('a' + x % 26);
        w[6] = '\0';
        int len = snprintf(ev, sizeof ev, "user %s logged in", w);
        assert_true(cbad_push(d, ev, (size_t)len) >= 0);
    }
    cbad_destroy(&d);
}

static void test_redact(void **state)
{
    (void)state;
    check_clean("{\"user\":\"ann\",\"password\":\"hunter2\",\"n\":1}", false, true,
                "{\"user\":\"ann\",\"password\":\"<REDACTED>\",\"n\":1}");
    check_clean("{\"Authorization\": \"Bearer abc\", \"api_key\": 12345}", false, true,
                "{\"Authorization\": \"<REDACTED>\", \"api_key\": \"<REDACTED>\"}");
    check_clean("{\"secret\":{\"a\":[1,2,\"}\"]},\"ok\":true}", false, true,
                "{\"secret\":\"<REDACTED>\",\"ok\":true}");
    check_clean("login user=ann token=abc.def cookie=\"x y\" keyboard=qwerty", false, true,
                "login user=ann token=<REDACTED> cookie=<REDACTED> keyboard=qwerty");
    /* A secret word anywhere in the name, in any case; a name that only starts one is kept. */
    check_clean("db_Password_hash=a x-API-KEY=b my_secretvalue=c access_token=d privatekey=e",
                false, true,
                "db_Password_hash=<REDACTED> x-API-KEY=<REDACTED> my_secretvalue=<REDACTED> "
                "access_token=<REDACTED> privatekey=<REDACTED>");
    check_clean("passw=a toke=b cooki=c credentia=d jw=e api_ke=f keys=g", false, true,
                "passw=a toke=b cooki=c credentia=d jw=e api_ke=f keys=g");
    check_clean("{\"note\":\"my password is in the vault\"}", false, true,
                "{\"note\":\"my password is in the vault\"}");
    /* Both: the secret never reaches the canonicaliser, numbers elsewhere still do. */
    check_clean("{\"jwt\":\"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig\",\"n\":42}", true, true,
                "{\"jwt\":\"<REDACTED>\",\"n\":<NUM2>}");
    /* Bounded output. */
    char small[8];
    size_t n = cbad_text_clean("abcdefghijkl", 12, false, false, small, sizeof small);
    assert_int_equal(n, 7);
    assert_string_equal(small, "abcdefg");
}

/* ---- settings and windows ------------------------------------------------------------------ */

static void test_settings(void **state)
{
    (void)state;
    cbad_settings_t s;
    cbad_settings_default(&s);
    const char *field = NULL, *reason = NULL;
    assert_int_equal(cbad_settings_check(&s, &field, &reason), 0);
    assert_int_equal(s.baseline, 400);
    assert_int_equal(s.window, 50);
    assert_int_equal(s.hop, 10);
    assert_int_equal(s.permutations, 1000);
    s.hop = 51;
    assert_int_equal(cbad_settings_check(&s, &field, &reason), -EINVAL);
    assert_string_equal(field, "hop");
    cbad_settings_default(&s);
    s.p_threshold = 1.0;
    assert_int_equal(cbad_settings_check(&s, &field, &reason), -EINVAL);
    assert_string_equal(field, "p_threshold");
    cbad_t *d = NULL;
    assert_int_equal(cbad_new(&s, &d), -EINVAL);
    assert_null(d);
    cbad_stream_type_t t;
    assert_int_equal(cbad_stream_type_parse("metrics", &t), 0);
    assert_int_equal(t, CBAD_STREAM_METRICS);
    assert_int_equal(cbad_stream_type_parse("nope", &t), -EINVAL);
    assert_string_equal(cbad_stream_type_name(CBAD_STREAM_AGENT), "agent");
}

/* A job refilled window after window (the daemon's and the bench's path) holds the same
 * snapshot as a fresh one and scores the same, for text, and after a switch to metrics. */
static void test_job_refill(void **state)
{
    (void)state;
    cbad_settings_t s;
    cbad_settings_default(&s);
    s.baseline = 40;
    s.window = 10;
    s.hop = 5;
    s.permutations = 50;
    cbad_t *a, *b;
    assert_int_equal(cbad_new(&s, &a), 0);
    assert_int_equal(cbad_new(&s, &b), 0);
    cbad_job_t *reused = NULL;
    char ev[128];
    int windows = 0;
    for (int i = 0; i < 300; i++) {
        /* lines of growing length, so the refilled buffers must grow */
        static const char pad[] = "................................";
        int n = i % 97 == 50 ? snprintf(ev, sizeof ev, "panic: %d %s", i, "x-x-x-x-x-x-x-x-x-x-x-x")
                             : snprintf(ev, sizeof ev, "GET /api/%d ok %.*s", i % 7, i / 10, pad);
        int ra = cbad_push(a, ev, (size_t)n), rb = cbad_push(b, ev, (size_t)n);
        assert_int_equal(ra, rb);
        if (ra != 1)
            continue;
        cbad_job_t *fresh = NULL;
        assert_int_equal(cbad_job_take(a, &fresh), 0);
        if (reused)
            assert_int_equal(cbad_job_refill(b, reused), 0);
        else
            assert_int_equal(cbad_job_take(b, &reused), 0);
        assert_int_equal(cbad_job_refill(b, reused), -EAGAIN); /* taken: nothing due */
        cbad_result_t r1, r2;
        assert_int_equal(cbad_job_run(fresh, NULL, &r1), 0);
        assert_int_equal(cbad_job_run(reused, NULL, &r2), 0);
        assert_int_equal(r1.window_index, r2.window_index);
        assert_true(r1.ncd == r2.ncd && r1.p_value == r2.p_value && r1.score == r2.score);
        assert_int_equal(r1.anomaly, r2.anomaly);
        cbad_result_clear(&r1);
        cbad_result_clear(&r2);
        cbad_job_destroy(&fresh);
        windows++;
    }
    assert_true(windows > 40);
    cbad_destroy(&a);
    cbad_destroy(&b);
    /* the same job refilled from a metrics detector */
    s.type = CBAD_STREAM_METRICS;
    assert_int_equal(cbad_new(&s, &a), 0);
    assert_int_equal(cbad_new(&s, &b), 0);
    for (int i = 0; i < 120; i++) {
        double v = 10.0 + (i % 5) + (i > 100 ? 50.0 : 0.0);
        int ra = cbad_push_value(a, v), rb = cbad_push_value(b, v);
        assert_int_equal(ra, rb);
        if (ra != 1)
            continue;
        cbad_job_t *fresh = NULL;
        assert_int_equal(cbad_job_take(a, &fresh), 0);
        assert_int_equal(cbad_job_refill(b, reused), 0);
        cbad_result_t r1, r2;
        assert_int_equal(cbad_job_run(fresh, NULL, &r1), 0);
        assert_int_equal(cbad_job_run(reused, NULL, &r2), 0);
        assert_true(r1.ncd == r2.ncd && r1.score == r2.score);
        cbad_result_clear(&r1);
        cbad_result_clear(&r2);
        cbad_job_destroy(&fresh);
    }
    cbad_job_destroy(&reused);
    assert_null(reused);
    cbad_destroy(&a);
    cbad_destroy(&b);
}

static void test_window_arithmetic(void **state)
{
    (void)state;
    cbad_settings_t s;
    cbad_settings_default(&s);
    s.baseline = 4;
    s.window = 3;
    s.hop = 2;
    s.permutations = 20;
    cbad_t *d;
    assert_int_equal(cbad_new(&s, &d), 0);
    cbad_job_t *j = NULL;
    assert_int_equal(cbad_job_take(d, &j), -EAGAIN);
    char ev[16];
    int due_at[32] = {0};
    for (int i = 0; i < 15; i++) {
        int n = snprintf(ev, sizeof ev, "event %c", 'a' + i);
        int r = cbad_push(d, ev, (size_t)n);
        assert_true(r == 0 || r == 1);
        due_at[i + 1] = r;
        if (r == 1 && i + 1 != 11) { /* the window due at 11 is skipped on purpose */
            assert_int_equal(cbad_job_take(d, &j), 0);
            uint64_t idx = cbad_job_window_index(j);
            /* The k-th window ends at event 7 + 2k - 1 and starts 3 events earlier. */
            assert_int_equal(idx, (uint64_t)(i + 1 - 7) / 2);
            cbad_result_t r0;
            assert_int_equal(cbad_job_run(j, NULL, &r0), 0);
            assert_int_equal(r0.window_index, idx);
            assert_int_equal(r0.last_event, (uint64_t)i);
            assert_int_equal(r0.first_event, (uint64_t)i - 2);
            /* The window's first sample is its first event; the baseline's the one 4 before. */
            char want[16];
            snprintf(want, sizeof want, "event %c", 'a' + (int)r0.first_event);
            assert_string_equal(r0.window_samples[0], want);
            snprintf(want, sizeof want, "event %c", 'a' + (int)r0.first_event - 4);
            assert_string_equal(r0.baseline_samples[0], want);
            assert_true(r0.score >= 0.0 && r0.score <= 1.0);
            cbad_result_clear(&r0);
            cbad_job_destroy(&j);
            assert_null(j);
        }
    }
    for (int n = 1; n <= 15; n++)
        assert_int_equal(due_at[n], n >= 7 && (n - 7) % 2 == 0);
    assert_int_equal(cbad_events(d), 15);
    assert_int_equal(cbad_windows(d), 5); /* ends at 7, 9, 11, 13, 15 */
    /* Logs refuse numbers-only pushes. */
    assert_int_equal(cbad_push_value(d, 1.0), -EINVAL);
    cbad_destroy(&d);
    assert_null(d);
    cbad_destroy(&d);

    /* Metrics: text must be a number. */
    s.type = CBAD_STREAM_METRICS;
    assert_int_equal(cbad_new(&s, &d), 0);
    assert_int_equal(cbad_push(d, " 42.5\n", 6), 0);
    assert_int_equal(cbad_push(d, "4x", 2), -EINVAL);
    assert_int_equal(cbad_push_value(d, NAN), -EINVAL);
    assert_int_equal(cbad_events(d), 1);
    cbad_destroy(&d);
}

/* ---- the permutation test ------------------------------------------------------------------ */

/* A job from the synthetic corpus: the window ending at event `end` (exclusive). */
static cbad_job_t *job_at(const cbad_settings_t *s, const synth_opts_t *o, uint64_t end)
{
    synth_t *sy;
    cbad_t *d;
    assert_int_equal(synth_new(o, &sy), 0);
    assert_int_equal(cbad_new(s, &d), 0);
    cbad_job_t *j = NULL;
    for (uint64_t i = 0; i < end; i++) {
        synth_event_t ev;
        synth_next(sy, &ev);
        int r = cbad_push(d, ev.line, ev.len);
        if (r == 1 && i + 1 == end)
            assert_int_equal(cbad_job_take(d, &j), 0);
    }
    assert_non_null(j);
    cbad_destroy(&d);
    synth_destroy(&sy);
    return j;
}

static void test_permutation_determinism(void **state)
{
    (void)state;
    cbad_settings_t s;
    cbad_settings_default(&s);
    s.permutations = 100;
    synth_opts_t o;
    synth_opts_default(&o);
    o.warmup = 420; /* a stack trace lands in the window ending at 470 */
    cbad_job_t *j = job_at(&s, &o, 470);
    cbad_scratch_t *sc;
    assert_int_equal(cbad_scratch_new(&sc), 0);
    cbad_result_t a, b, f;
    assert_int_equal(cbad_job_run_mode(j, sc, CBAD_MODE_FULL, &a), 0);
    assert_int_equal(cbad_job_run_mode(j, NULL, CBAD_MODE_FULL, &b), 0);
    assert_memory_equal(&a.ncd, &b.ncd, sizeof a.ncd);
    assert_memory_equal(&a.p_value, &b.p_value, sizeof a.p_value);
    assert_string_equal(a.detailed_explanation, b.detailed_explanation);
    /* p = (k+1)/(N+1) with 0 <= k <= N. */
    double k1 = a.p_value * (s.permutations + 1);
    assert_true(fabs(k1 - round(k1)) < 1e-9);
    assert_true(a.p_value >= 1.0 / (s.permutations + 1) && a.p_value <= 1.0);
    assert_true(a.anomaly);
    assert_true(a.n_novel > 0);
    /* The stack trace is what the baseline explains worst, not the requests around it. */
    for (size_t i = 0; i < a.n_novel; i++)
        assert_null(strstr(a.novel_lines[i], "Request completed"));
    /* Fast mode: same numbers for a window it tests to the end. */
    assert_int_equal(cbad_job_run_mode(j, sc, CBAD_MODE_FAST, &f), 0);
    assert_memory_equal(&a.p_value, &f.p_value, sizeof a.p_value);
    assert_int_equal(a.severity, f.severity);
    assert_int_equal(f.permutations_run, s.permutations);
    /* Another seed gives another (still valid) p. */
    cbad_job_destroy(&j);
    s.seed = 7;
    j = job_at(&s, &o, 470);
    cbad_result_t c;
    assert_int_equal(cbad_job_run_mode(j, sc, CBAD_MODE_FULL, &c), 0);
    assert_true(c.p_value >= 1.0 / (s.permutations + 1) && c.p_value <= 1.0);
    assert_memory_equal(&a.ncd, &c.ncd, sizeof a.ncd); /* the seed only drives the shuffles */

    json_t *js = cbad_result_to_json(&a);
    assert_non_null(js);
    assert_true(json_is_true(json_object_get(js, "is_anomaly")));
    assert_non_null(json_object_get(js, "compression_combined"));
    assert_int_equal(json_array_size(json_object_get(js, "window_data")), CBAD_SAMPLES_MAX);
    assert_non_null(
        strstr(json_string_value(json_object_get(js, "glass_box_explanation")), "Anomaly"));
    json_decref(js);
    cbad_result_clear(&a);
    cbad_result_clear(&b);
    cbad_result_clear(&c);
    cbad_result_clear(&f);
    cbad_job_destroy(&j);
    cbad_scratch_destroy(&sc);
}

/* The fast path (screening, sequential stopping, reused contexts, and with rare_template on the
 * windows of common templates measured for repetition alone) must decide every window of the
 * synthetic corpus exactly as the straightforward full test does. */
static void fast_matches_full(uint32_t rare)
{
    cbad_settings_t s;
    cbad_settings_default(&s);
    s.rare_template = rare;
    /* The full test at 1000 runs in `ganglion watch bench`; same code. Under ASan every fresh
     * compressor of the full test is a large instrumented allocation, so the corpus shrinks. */
    s.permutations = CBAD_TEST_SANITIZED ? 40 : 100;
    synth_opts_t o;
    synth_opts_default(&o);
    o.seed = 3;
    o.warmup = 450;
    o.gap = 150;
    synth_t *sy;
    cbad_t *d;
    cbad_scratch_t *sc;
    assert_int_equal(synth_new(&o, &sy), 0);
    assert_int_equal(cbad_new(&s, &d), 0);
    assert_int_equal(cbad_scratch_new(&sc), 0);
    unsigned windows = 0, anomalies = 0, tested = 0, stopped = 0, common = 0;
    unsigned long perms_fast = 0;
    for (int i = 0; i < (CBAD_TEST_SANITIZED ? 720 : 1000); i++) {
        synth_event_t ev;
        synth_next(sy, &ev);
        if (cbad_push(d, ev.line, ev.len) != 1)
            continue;
        cbad_job_t *j;
        assert_int_equal(cbad_job_take(d, &j), 0);
        cbad_result_t full, fast;
        assert_int_equal(cbad_job_run_mode(j, sc, CBAD_MODE_FULL, &full), 0);
        assert_int_equal(cbad_job_run_mode(j, sc, CBAD_MODE_FAST, &fast), 0);
        windows++;
        assert_int_equal(fast.anomaly, full.anomaly);
        assert_int_equal(fast.severity, full.severity);
        /* What the stream keeps from every window is bit-equal, common templates or not. */
        assert_memory_equal(&fast.repetition, &full.repetition, sizeof fast.repetition);
        assert_int_equal(fast.window_compressed, full.window_compressed);
        assert_false(full.common);
        if (fast.common) {
            common++;
            assert_true(rare > 0 && !full.anomaly && fast.permutations_run == 0);
            assert_null(fast.explanation); /* texts are written for anomalies alone */
        } else {
            assert_memory_equal(&fast.ncd, &full.ncd, sizeof fast.ncd);
            assert_memory_equal(&fast.novelty, &full.novelty, sizeof fast.novelty);
        }
        /* The detector's running byte counts give the entropy a pass over the bytes gives. */
        double eb = cbad_entropy(j->data, j->off[s.baseline]);
        double ew = cbad_entropy(j->data + j->off[s.baseline], j->off[j->n] - j->off[s.baseline]);
        assert_memory_equal(&fast.baseline_entropy, &eb, sizeof eb);
        assert_memory_equal(&fast.window_entropy, &ew, sizeof ew);
        if (fast.p_value_is_bound) {
            /* Stopped as significant: the full test agrees and its p is under the bound. */
            assert_true(full.significant && fast.significant);
            assert_true(full.p_value <= fast.p_value && fast.p_value < s.p_threshold);
            assert_memory_equal(&fast.p_graded, &full.p_graded, sizeof fast.p_graded);
        } else if (fast.permutations_run == s.permutations) {
            assert_memory_equal(&fast.p_value, &full.p_value, sizeof fast.p_value);
        } else if (fast.permutations_run > 0) {
            stopped++, assert_true(fast.p_value >= s.p_threshold && !full.significant);
        }
        if (full.anomaly)
            assert_memory_equal(&fast.p_graded, &full.p_graded, sizeof fast.p_graded);
        tested += fast.permutations_run > 0;
        anomalies += full.anomaly;
        perms_fast += fast.permutations_run;
        cbad_result_clear(&full);
        cbad_result_clear(&fast);
        cbad_job_destroy(&j);
    }
    print_message("fast vs full (rare_template %u): %u windows, %u anomalies, %u tested, %u "
                  "stopped early, %u of common templates, %lu of %lu permutations\n",
                  rare, windows, anomalies, tested, stopped, common, perms_fast,
                  (unsigned long)windows * s.permutations);
    if (rare)
        assert_true(common > 0 && common < windows); /* both paths are exercised */
    else
        assert_int_equal(common, 0);
    assert_true(windows > (CBAD_TEST_SANITIZED ? 25u : 50u));
    assert_true(anomalies >
                (CBAD_TEST_SANITIZED ? 1u : 3u)); /* the corpus exercises both decisions */
    assert_true(tested < windows);                /* and the screen */
    /* and the sequential stop; with the gate on, this corpus's one early stop (as not
     * significant) falls in a window the gate decides first (test_sequential_matches_full stops
     * windows early with the gate on) */
    assert_true(rare || stopped > 0);
    cbad_scratch_destroy(&sc);
    cbad_destroy(&d);
    synth_destroy(&sy);
}

static void test_fast_matches_full(void **state)
{
    (void)state;
    fast_matches_full(0);
}

static void test_fast_matches_full_common(void **state)
{
    (void)state;
    fast_matches_full(3);
}

/* The boundaries of the sequential test: where they allow a stop, and what they claim. */
static void test_sequential_boundaries(void **state)
{
    (void)state;
    cbad_seq_t t;
    memset(&t, 0, sizeof t);
    /* N = 1000, alpha = 0.05: the full test is significant iff K <= 49 (k_stop 50). */
    assert_int_equal(cbad_seq_build(&t, 1000, 0.05, 50, CBAD_GRADE_PERMUTATIONS), 0);
    assert_int_equal(t.kstar, 49);
    assert_int_equal(t.step, 10);
    uint32_t first_sig = 0;
    int32_t last_sig = -1, last_ns = 0;
    for (uint32_t l = 1; l <= t.looks; l++) {
        uint32_t n = l * t.step;
        if (t.sig_max[l] >= 0) {
            /* Never before the grading shuffles; more evidence allows more exceedances. */
            assert_true(n >= CBAD_GRADE_PERMUTATIONS);
            assert_true(t.sig_max[l] >= last_sig);
            last_sig = t.sig_max[l];
            if (!first_sig)
                first_sig = n;
            for (int32_t k = 0; k <= t.sig_max[l]; k++) {
                int32_t u = t.bound[(size_t)l * (t.kstar + 1) + (size_t)k];
                /* The bound keeps the full test's p under alpha. */
                assert_true(u >= 0 && (uint32_t)(k + u) <= t.kstar);
            }
        }
        if (t.ns_min[l] != INT32_MAX) {
            /* A stop as not significant needs far more exceedances than alpha n. */
            assert_true((double)t.ns_min[l] > 0.05 * (double)n);
            assert_true(t.ns_min[l] >= last_ns);
            last_ns = t.ns_min[l];
        }
    }
    /* No exceedance in the first 200 shuffles is significance beyond doubt; 10 of the first 10
     * or 30 of 100 is its absence. */
    assert_int_equal(first_sig, 200);
    assert_true(t.ns_min[1] <= 10 && t.ns_min[10] <= 30);
    cbad_seq_free(&t);
    /* Too few shuffles for boundaries: exact curtailment only. */
    assert_int_equal(cbad_seq_build(&t, 10, 0.05, 1, 10), 0);
    assert_int_equal(t.step, 0);
    cbad_seq_free(&t);
}

/* At the default N = 1000 the fast path stops significant windows early: their decisions and
 * severities must still be the full test's, and the reported p must bound the full test's. */
/* The fast path takes a window's C(B2) from the earlier window that held the same events (noted
 * with cbad_result_note, as the daemon does); every size and figure equals compressing it. */
static void b2_from_earlier_window(uint32_t rare)
{
    cbad_settings_t s;
    cbad_settings_default(&s);
    s.permutations = 20;    /* the screen is what is compared; shuffles only cost time here */
    s.rare_template = rare; /* 3: windows of common templates take their C(B2) the same way */
    synth_opts_t o;
    synth_opts_default(&o);
    o.seed = 5;
    o.warmup = 450;
    o.gap = 200;
    synth_t *sy;
    cbad_t *d;
    cbad_scratch_t *sc;
    assert_int_equal(synth_new(&o, &sy), 0);
    assert_int_equal(cbad_new(&s, &d), 0);
    assert_int_equal(cbad_scratch_new(&sc), 0);
    unsigned windows = 0, reused = 0, common = 0;
    for (int i = 0; i < 900; i++) {
        synth_event_t ev;
        synth_next(sy, &ev);
        if (cbad_push(d, ev.line, ev.len) != 1)
            continue;
        cbad_job_t *j;
        assert_int_equal(cbad_job_take(d, &j), 0);
        cbad_result_t full, fast;
        assert_int_equal(cbad_job_run_mode(j, sc, CBAD_MODE_FULL, &full), 0);
        assert_int_equal(cbad_job_run_mode(j, sc, CBAD_MODE_FAST, &fast), 0);
        windows++;
        reused += j->b2_comp > 0;
        common += fast.common;
        if (!fast.common) {
            assert_memory_equal(&fast.ncd_reference, &full.ncd_reference,
                                sizeof fast.ncd_reference);
            assert_memory_equal(&fast.novelty, &full.novelty, sizeof fast.novelty);
        }
        assert_memory_equal(&fast.compression_reference, &full.compression_reference,
                            sizeof fast.compression_reference);
        assert_memory_equal(&fast.repetition, &full.repetition, sizeof fast.repetition);
        assert_int_equal(fast.anomaly, full.anomaly);
        assert_int_equal(fast.severity, full.severity);
        cbad_result_note(d, &fast);
        cbad_result_clear(&full);
        cbad_result_clear(&fast);
        cbad_job_destroy(&j);
    }
    /* Every window from the sixth on finds its B2 (window / hop = 5 windows earlier). */
    assert_true(windows > 40);
    assert_int_equal(reused, windows - s.window / s.hop);
    assert_true(rare ? common > 0 : common == 0);
    cbad_scratch_destroy(&sc);
    cbad_destroy(&d);
    synth_destroy(&sy);
}

static void test_b2_from_earlier_window(void **state)
{
    (void)state;
    b2_from_earlier_window(0);
    b2_from_earlier_window(3);
}

static void test_sequential_matches_full(void **state)
{
    (void)state;
    cbad_settings_t s;
    cbad_settings_default(&s);
    synth_opts_t o;
    synth_opts_default(&o);
    o.seed = 3;
    o.warmup = 450;
    o.gap = 150;
    synth_t *sy;
    cbad_t *d;
    cbad_scratch_t *sc;
    assert_int_equal(synth_new(&o, &sy), 0);
    assert_int_equal(cbad_new(&s, &d), 0);
    assert_int_equal(cbad_scratch_new(&sc), 0);
    unsigned windows = 0, anomalies = 0, sig_stops = 0, full_runs = 0;
    /* Under ASan every fresh compressor of the full test is slow: three full tests there. */
    const unsigned max_full = CBAD_TEST_SANITIZED ? 3 : 1000;
    for (int i = 0; i < (CBAD_TEST_SANITIZED ? 520 : 700); i++) {
        synth_event_t ev;
        synth_next(sy, &ev);
        if (cbad_push(d, ev.line, ev.len) != 1)
            continue;
        cbad_job_t *j;
        assert_int_equal(cbad_job_take(d, &j), 0);
        cbad_result_t fast, full;
        assert_int_equal(cbad_job_run_mode(j, sc, CBAD_MODE_FAST, &fast), 0);
        /* The full test only where the fast path tested: elsewhere the screen is exact. */
        if (fast.permutations_run > 0 && full_runs < max_full) {
            full_runs++;
            assert_int_equal(cbad_job_run_mode(j, sc, CBAD_MODE_FULL, &full), 0);
            assert_int_equal(fast.anomaly, full.anomaly);
            assert_int_equal(fast.severity, full.severity);
            assert_int_equal(fast.significant, full.significant);
            if (fast.p_value_is_bound) {
                sig_stops++;
                assert_true(fast.permutations_run < s.permutations);
                assert_true(full.p_value <= fast.p_value && fast.p_value < s.p_threshold);
                assert_non_null(strstr(fast.detailed_explanation, "upper bound"));
            }
            anomalies += full.anomaly;
            cbad_result_clear(&full);
        } else if (fast.permutations_run == 0) {
            assert_false(fast.anomaly);
        }
        windows++;
        cbad_result_clear(&fast);
        cbad_job_destroy(&j);
    }
    print_message("sequential vs full at N = 1000: %u windows, %u anomalies, %u stopped early as "
                  "significant\n",
                  windows, anomalies, sig_stops);
    assert_true(anomalies > 0);
    assert_true(sig_stops > 0);
    cbad_scratch_destroy(&sc);
    cbad_destroy(&d);
    synth_destroy(&sy);
}

/* ---- the synthetic suite ------------------------------------------------------------------- */

typedef struct {
    unsigned windows, flagged, bursts, detected;
    unsigned after_windows, after_flagged; /* clean window, anomaly still in the baseline */
    unsigned kind_total[SYNTH_NKINDS], kind_hit[SYNTH_NKINDS];
} suite_t;

static void run_suite(const cbad_settings_t *s, const synth_opts_t *o, unsigned n, suite_t *out)
{
    memset(out, 0, sizeof *out);
    synth_t *sy;
    cbad_t *d;
    cbad_scratch_t *sc;
    assert_int_equal(synth_new(o, &sy), 0);
    assert_int_equal(cbad_new(s, &d), 0);
    assert_int_equal(cbad_scratch_new(&sc), 0);
    uint32_t *burst = calloc(n, sizeof *burst);
    uint8_t *hit = calloc(n + 1, 1);
    synth_kind_t *kind = calloc(n + 1, sizeof *kind);
    assert_non_null(burst);
    assert_non_null(hit);
    assert_non_null(kind);
    unsigned nb = 0;
    for (unsigned i = 0; i < n; i++) {
        synth_event_t ev;
        synth_next(sy, &ev);
        burst[i] = ev.burst;
        if (ev.burst) {
            nb = ev.burst;
            kind[ev.burst] = ev.label;
        }
        if (cbad_push(d, ev.line, ev.len) != 1)
            continue;
        cbad_job_t *j;
        assert_int_equal(cbad_job_take(d, &j), 0);
        cbad_result_t r;
        assert_int_equal(cbad_job_run(j, sc, &r), 0);
        bool clean = true;
        for (uint64_t e = r.first_event; e <= r.last_event; e++)
            if (burst[e]) {
                clean = false;
                if (r.anomaly)
                    hit[burst[e]] = 1;
            }
        bool clean_baseline = true;
        for (uint64_t e = r.first_event - s->baseline; e < r.first_event; e++)
            clean_baseline &= burst[e] == 0;
        if (clean && clean_baseline) {
            out->windows++;
            out->flagged += r.anomaly;
        } else if (clean) {
            out->after_windows++;
            out->after_flagged += r.anomaly;
        }
        cbad_result_clear(&r);
        cbad_job_destroy(&j);
    }
    for (unsigned b = 1; b <= nb; b++) {
        out->bursts++;
        out->detected += hit[b];
        out->kind_total[kind[b]]++;
        out->kind_hit[kind[b]] += hit[b];
    }
    free(burst);
    free(hit);
    free(kind);
    cbad_scratch_destroy(&sc);
    cbad_destroy(&d);
    synth_destroy(&sy);
}

static void test_synthetic_suite(void **state)
{
    (void)state;
    cbad_settings_t s;
    cbad_settings_default(&s);
    s.permutations = 200; /* p can still reach 1/201, far under 0.05; keeps the suite fast */
    synth_opts_t o;
    synth_opts_default(&o);
    o.seed = 11;

    /* Normal traffic only: false-positive windows. */
    o.anomalies = 0;
    suite_t normal;
    run_suite(&s, &o, 8000, &normal);
    print_message("normal traffic: %u of %u windows flagged\n", normal.flagged, normal.windows);
    assert_true(normal.windows > 700);
    assert_true(normal.flagged * 100 <= normal.windows); /* <= 1 % */

    /* Every kind of anomaly, three bursts each: recall within the windows they fall in, and
     * false positives among the windows whose baseline is normal too (the windows right after
     * a burst, while it sits in the baseline, are reported apart: see docs/watch.md). */
    o.anomalies = SYNTH_ALL_ANOMALIES;
    o.gap = 450;
    suite_t mixed;
    run_suite(&s, &o, 600 + 24 * 520, &mixed);
    for (int k = 1; k < SYNTH_NKINDS; k++)
        print_message("  %-16s %u/%u\n", synth_kind_name((synth_kind_t)k), mixed.kind_hit[k],
                      mixed.kind_total[k]);
    print_message("mixed traffic: %u of %u bursts detected, %u of %u clean windows flagged; "
                  "after a burst (clean window, burst still in the baseline): %u of %u\n",
                  mixed.detected, mixed.bursts, mixed.flagged, mixed.windows, mixed.after_flagged,
                  mixed.after_windows);
    assert_true(mixed.bursts >= 20);
    assert_true(mixed.detected * 10 >= mixed.bursts * 9); /* recall >= 0.9 */
    assert_true(mixed.flagged * 100 <= mixed.windows);
}

/* Metrics: a level shift in a latency series is found through the symbolic encoding. */
static void test_metrics_shift(void **state)
{
    (void)state;
    cbad_settings_t s;
    cbad_settings_default(&s);
    s.type = CBAD_STREAM_METRICS;
    s.permutations = 200;
    cbad_t *d;
    assert_int_equal(cbad_new(&s, &d), 0);
    cbad_rng_t rng;
    cbad_rng_seed(&rng, 5, 0);
    unsigned before = 0, windows_before = 0;
    bool after = false;
    for (int i = 0; i < 1000; i++) {
        double v = 40 + cbad_rng_below(&rng, 20);
        if (i >= 800 && i < 830)
            v = 500 + cbad_rng_below(&rng, 4500);
        int r = cbad_push_value(d, v);
        assert_true(r >= 0);
        if (r != 1)
            continue;
        cbad_job_t *j;
        assert_int_equal(cbad_job_take(d, &j), 0);
        cbad_result_t res;
        assert_int_equal(cbad_job_run(j, NULL, &res), 0);
        if (res.last_event < 800) {
            windows_before++;
            before += res.anomaly;
        }
        if (res.anomaly && res.first_event < 830 && res.last_event >= 800) {
            after = true;
            assert_non_null(res.novel_lines[0]);
            /* the novel value, as text: 500 or more */
            char *end = NULL;
            assert_true(strtod(res.novel_lines[0], &end) >= 500);
            assert_true(end != res.novel_lines[0]);
        }
        cbad_result_clear(&res);
        cbad_job_destroy(&j);
    }
    /* Uniform noise before the shift: about the test's level of windows flagged (the novelty
     * gate does little on noise; see docs/watch.md). */
    print_message("metrics: %u of %u windows flagged before the shift\n", before, windows_before);
    assert_true(before * 10 <= windows_before);
    assert_true(after);
    cbad_destroy(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ncd_known),
        cmocka_unit_test(test_entropy_known),
        cmocka_unit_test(test_rng),
        cmocka_unit_test(test_canonicalise),
        cmocka_unit_test(test_redact),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_window_arithmetic),
        cmocka_unit_test(test_job_refill),
        cmocka_unit_test(test_permutation_determinism),
        cmocka_unit_test(test_result_note_folds_overlapping_windows),
        cmocka_unit_test(test_fast_matches_full),
        cmocka_unit_test(test_fast_matches_full_common),
        cmocka_unit_test(test_b2_from_earlier_window),
        cmocka_unit_test(test_sequential_boundaries),
        cmocka_unit_test(test_sequential_matches_full),
        cmocka_unit_test(test_synthetic_suite),
        cmocka_unit_test(test_metrics_shift),
        cmocka_unit_test(test_rare_template_gate),
        cmocka_unit_test(test_rare_template_names),
        cmocka_unit_test(test_rare_template_usual),
        cmocka_unit_test(test_rare_template_burst),
        cmocka_unit_test(test_rare_template_new),
        cmocka_unit_test(test_rare_template_table_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
