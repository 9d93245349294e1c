/* guard: case folding across scripts, whole-word matching in the Aho-Corasick automaton
 * (overlapping patterns, suffixes found through failure links, phrases), the condition
 * evaluator's fields and operators, and a compiled rule set's scores. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guard/guard_cond.h"
#include "guard/guard_rules.h"
#include "guard/guard_text.h"

static void fold_is(const char *in, const char *want)
{
    char out[256];
    size_t n = guard_text_fold(in, strlen(in), out);
    out[n] = '\0';
    assert_string_equal(out, want);
}

static void test_fold(void **state)
{
    (void)state;
    fold_is("Hello  WORLD\n\t!", "hello world !");
    fold_is("  ÀÉÎÕÜ ÿŸ ×", "àéîõü ÿÿ ×"); /* Latin-1; U+00D7 stays */
    fold_is("ŁÓDŹ Ğ", "łódź ğ");           /* Latin Extended-A pairs */
    fold_is("ΣΟΦΊΑ ΟΔΟΣ", "σοφία οδοσ");   /* Greek, final sigma */
    fold_is("ὈΔΟΣ", "Ὀδοσ");               /* Greek Extended is outside the table: kept */
    fold_is("ПРИВЕТ ЁЖ Ђ", "привет ёж ђ"); /* Cyrillic */
    fold_is("a\xff\xfeZ", "a\xff\xfez");   /* invalid UTF-8 passes through */
}

typedef struct hits {
    int n;
    uint32_t tags[16];
} hits_t;

static int on_hit(void *ud, uint32_t tag, uint32_t pattern)
{
    (void)pattern;
    hits_t *h = ud;
    if (h->n < 16)
        h->tags[h->n] = tag;
    h->n++;
    return 0;
}

static guard_ac_t *ac_of(const char *const *pats, size_t n)
{
    guard_ac_t *ac = guard_ac_new();
    assert_non_null(ac);
    for (size_t i = 0; i < n; i++) {
        char f[128];
        size_t len = guard_text_fold(pats[i], strlen(pats[i]), f);
        assert_int_equal(guard_ac_add(ac, f, len, (uint32_t)i), 0);
    }
    assert_int_equal(guard_ac_build(ac), 0);
    return ac;
}

static int scan(const guard_ac_t *ac, const char *text, hits_t *h)
{
    char f[512];
    size_t n = guard_text_fold(text, strlen(text), f);
    memset(h, 0, sizeof *h);
    guard_ac_scan(ac, f, n, on_hit, h);
    return h->n;
}

static void test_automaton_whole_words(void **state)
{
    (void)state;
    static const char *const pats[] = {"he", "she", "his", "hers", "rm -rf /", "σοφία"};
    guard_ac_t *ac = ac_of(pats, 6);
    hits_t h;
    assert_int_equal(scan(ac, "ushers", &h), 0);   /* inside a word: nothing */
    assert_int_equal(scan(ac, "she said", &h), 1); /* "he" is inside "she" */
    assert_int_equal(h.tags[0], 1);
    assert_int_equal(scan(ac, "HE, SHE; hers.", &h), 3);
    assert_int_equal(scan(ac, "x; RM  -RF /", &h), 1); /* phrase, whitespace folded */
    assert_int_equal(h.tags[0], 4);
    assert_int_equal(scan(ac, "rm -rf /home", &h), 1); /* ends in '/': no boundary needed */
    assert_int_equal(scan(ac, "ΣΟΦΊΑ!", &h), 1);
    assert_int_equal(scan(ac, "ΣΟΦΊΑς", &h), 0); /* a Greek letter follows */
    assert_int_equal(scan(ac, "", &h), 0);
    assert_int_equal(guard_ac_patterns(ac), 6);
    guard_ac_destroy(&ac);
    assert_null(ac);
}

static void test_automaton_many_patterns(void **state)
{
    (void)state;
    guard_ac_t *ac = guard_ac_new();
    char w[32];
    for (uint32_t i = 0; i < 5000; i++) {
        int n = snprintf(w, sizeof w, "word%u", i);
        assert_int_equal(guard_ac_add(ac, w, (size_t)n, i), 0);
    }
    assert_int_equal(guard_ac_build(ac), 0);
    hits_t h;
    assert_int_equal(scan(ac, "a word4999 and word12 but not word12x", &h), 2);
    assert_int_equal(h.tags[0], 4999);
    assert_int_equal(h.tags[1], 12);
    guard_ac_destroy(&ac);
}

static guard_cond_t *cond(const char *json)
{
    json_t *o = json_loads(json, 0, NULL);
    char err[200];
    guard_cond_t *c = guard_cond_parse(o, err, sizeof err);
    json_decref(o);
    return c;
}

static bool holds(const char *c_json, const char *action, const char *principal, double trust)
{
    guard_cond_t *c = cond(c_json);
    assert_non_null(c);
    json_t *a = json_loads(action, 0, NULL);
    guard_subject_t s = {.action = a, .principal = principal, .trust = trust};
    char why[200];
    bool r = guard_cond_eval(c, &s, why, sizeof why);
    json_decref(a);
    guard_cond_destroy(&c);
    return r;
}

typedef struct ordered {
    size_t n;
    uint32_t tags[512];
} ordered_t;

static int on_hit_ordered(void *ud, uint32_t tag, uint32_t pattern)
{
    (void)pattern;
    ordered_t *o = ud;
    if (o->n < 512)
        o->tags[o->n] = tag;
    o->n++;
    return 0;
}

/* A long text is walked in several segments at once: every match is reported exactly once and
 * in text order, also matches that straddle a segment's edge and more matches per segment than
 * a segment keeps before it pauses. */
static void test_automaton_long_text_order(void **state)
{
    (void)state;
    guard_ac_t *ac = guard_ac_new();
    char w[32];
    for (uint32_t i = 0; i < 3000; i++) {
        int n = snprintf(w, sizeof w, "w%u", i);
        assert_int_equal(guard_ac_add(ac, w, (size_t)n, i), 0);
    }
    assert_int_equal(guard_ac_add(ac, "rm -rf /", 8, 9999), 0);
    assert_int_equal(guard_ac_build(ac), 0);
    static char text[8192];
    size_t len = 0;
    uint32_t want[400];
    size_t nwant = 0;
    for (uint32_t k = 0; k < 300; k++) {
        uint32_t tag = (k * 7919u) % 3000u;
        if (k % 50 == 25) {
            len += (size_t)snprintf(text + len, sizeof text - len, "rm -rf / ");
            want[nwant++] = 9999;
        }
        len += (size_t)snprintf(text + len, sizeof text - len, "w%u xw%u ", tag, tag);
        want[nwant++] = tag; /* "xw.." is inside a word: no match */
    }
    ordered_t o = {0};
    assert_int_equal(guard_ac_scan(ac, text, len, on_hit_ordered, &o), nwant);
    assert_int_equal(o.n, nwant);
    for (size_t i = 0; i < nwant; i++)
        assert_int_equal(o.tags[i], want[i]);
    guard_ac_destroy(&ac);
}

static void test_conditions(void **state)
{
    (void)state;
    const char *act = "{\"kind\":\"spawn\",\"argv\":[\"rm\",\"-r\"],\"path\":\"/srv/x\","
                      "\"env\":{\"USER\":\"root\"},\"labels\":{\"tier\":\"prod\"},\"n\":5}";
    assert_true(holds("{\"field\":\"kind\",\"op\":\"==\",\"value\":\"spawn\"}", act, NULL, 0.5));
    assert_false(holds("{\"field\":\"kind\",\"op\":\"!=\",\"value\":\"spawn\"}", act, NULL, 0.5));
    assert_true(
        holds("{\"field\":\"argv[0]\",\"op\":\"in\",\"value\":[\"rm\",\"dd\"]}", act, NULL, 0));
    assert_false(holds("{\"field\":\"argv[7]\",\"op\":\"==\",\"value\":\"rm\"}", act, NULL, 0));
    assert_true(holds("{\"field\":\"argv[7]\",\"op\":\"!=\",\"value\":\"rm\"}", act, NULL, 0));
    assert_true(holds("{\"field\":\"path\",\"op\":\"glob\",\"value\":\"/srv/*\"}", act, NULL, 0));
    assert_true(holds("{\"field\":\"env.USER\",\"op\":\"==\",\"value\":\"root\"}", act, NULL, 0));
    assert_true(
        holds("{\"field\":\"labels.tier\",\"op\":\"glob\",\"value\":\"pr?d\"}", act, NULL, 0));
    assert_true(holds("{\"field\":\"n\",\"op\":\">\",\"value\":4}", act, NULL, 0));
    assert_true(holds("{\"field\":\"n\",\"op\":\"==\",\"value\":5.0}", act, NULL, 0));
    assert_true(holds("{\"field\":\"trust\",\"op\":\"<\",\"value\":0.3}", act, NULL, 0.2));
    assert_false(holds("{\"field\":\"trust\",\"op\":\"<\",\"value\":0.3}", act, NULL, 0.6));
    assert_true(holds("{\"field\":\"principal\",\"op\":\"glob\",\"value\":\"agent:*\"}", act,
                      "agent:7", 0));
    assert_false(holds("{\"field\":\"principal\",\"op\":\"==\",\"value\":\"x\"}", act, NULL, 0));
    assert_false(
        holds("{\"field\":\"kind\",\"op\":\"==\",\"value\":\"spawn\"}", "\"text\"", NULL, 0));
    /* refused: bad fields, ops and values */
    assert_null(cond("{\"field\":\"argv[x]\",\"op\":\"==\",\"value\":1}"));
    assert_null(cond("{\"field\":\"a-b\",\"op\":\"==\",\"value\":1}"));
    assert_null(cond("{\"field\":\"kind\",\"op\":\"=~\",\"value\":1}"));
    assert_null(cond("{\"field\":\"kind\",\"op\":\"<\",\"value\":\"a\"}"));
    assert_null(cond("{\"field\":\"kind\",\"op\":\"in\",\"value\":\"a\"}"));
    assert_null(cond("{\"field\":\"kind\",\"op\":\"==\"}"));
}

static void test_rule_set_scores(void **state)
{
    (void)state;
    json_t *rules = json_loads(
        "[{\"id\":1,\"name\":\"w\",\"weight\":30,\"enabled\":true,\"match\":{\"words\":[\"drop\"]}}"
        ","
        " {\"id\":2,\"name\":\"r\",\"weight\":50,\"enabled\":true,\"match\":{\"regex\":[\"t[a-z]+"
        "e\"],"
        "  \"conditions\":[{\"field\":\"kind\",\"op\":\"==\",\"value\":\"sql\"}]}},"
        " {\"id\":3,\"name\":\"off\",\"weight\":99,\"enabled\":false,\"match\":{\"words\":["
        "\"drop\"]}},"
        " {\"id\":4,\"name\":\"neg\",\"weight\":-20,\"enabled\":true,\"match\":{\"conditions\":"
        "  [{\"field\":\"principal\",\"op\":\"==\",\"value\":\"ci\"}]}}]",
        0, NULL);
    char err[300];
    guard_set_t *set = guard_set_build(rules, err, sizeof err);
    assert_non_null(set);
    assert_int_equal(guard_set_rules(set), 3);
    json_t *a = json_loads("{\"kind\":\"sql\",\"text\":\"DROP table t\"}", 0, NULL);
    guard_eval_t ev;
    assert_int_equal(guard_set_eval(set, a, "ci", 0.5, &ev), 0);
    assert_int_equal(ev.score, 30 + 50 - 20);
    assert_int_equal(ev.nfired, 3);
    guard_eval_clear(&ev);
    json_t *t = json_string("drop table");
    assert_int_equal(guard_set_eval(set, t, NULL, 0.5, &ev), 0);
    assert_int_equal(ev.score, 30); /* the regex rule's condition needs an object */
    guard_eval_clear(&ev);
    json_decref(t);
    json_decref(a);
    guard_set_destroy(&set);
    json_decref(rules);
}

/* Guard regexes are compiled to machine code; a pattern that backtracks without end still
 * stops at its step limit and counts as a match (fail closed), and plain ones match as before. */
static void test_regex_limits_fail_closed(void **state)
{
    (void)state;
    json_t *rules = json_loads("[{\"id\":1,\"name\":\"slow\",\"weight\":40,\"enabled\":true,"
                               "  \"match\":{\"regex\":[\"^(a|aa)+$\"]}},"
                               " {\"id\":2,\"name\":\"key\",\"weight\":7,\"enabled\":true,"
                               "  \"match\":{\"regex\":[\"AKIA[0-9A-Z]{16}\"]}}]",
                               0, NULL);
    char err[300];
    guard_set_t *set = guard_set_build(rules, err, sizeof err);
    assert_non_null(set);
    char text[200];
    memset(text, 'a', 120);
    memcpy(text + 120, "! AKIAABCDEFGHIJKLMNOP", 23);
    json_t *a = json_string(text);
    guard_eval_t ev;
    assert_int_equal(guard_set_eval(set, a, NULL, 0.5, &ev), 0);
    assert_int_equal(ev.score, 47);
    assert_int_equal(ev.nfired, 2);
    assert_true(ev.fired[0].regex_cost);  /* past its step limit: counted */
    assert_false(ev.fired[1].regex_cost); /* a real match */
    guard_eval_clear(&ev);
    json_decref(a);
    a = json_string("nothing to see");
    assert_int_equal(guard_set_eval(set, a, NULL, 0.5, &ev), 0);
    assert_int_equal(ev.score, 0);
    guard_eval_clear(&ev);
    json_decref(a);
    guard_set_destroy(&set);
    json_decref(rules);
}

static void test_match_check(void **state)
{
    (void)state;
    char err[300];
    json_t *m = json_loads("{\"words\":[\"  \"]}", 0, NULL);
    assert_int_equal(guard_match_check(m, err, sizeof err), -22);
    json_decref(m);
    m = json_loads("{\"regex\":[\"(a\"]}", 0, NULL);
    assert_int_equal(guard_match_check(m, err, sizeof err), -22);
    json_decref(m);
    m = json_loads("{\"other\":[\"a\"]}", 0, NULL);
    assert_int_equal(guard_match_check(m, err, sizeof err), -22);
    json_decref(m);
    m = json_loads("{\"words\":[\"a\"],\"regex\":[\"b+\"]}", 0, NULL);
    assert_int_equal(guard_match_check(m, err, sizeof err), 0);
    json_decref(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fold),
        cmocka_unit_test(test_automaton_whole_words),
        cmocka_unit_test(test_automaton_many_patterns),
        cmocka_unit_test(test_automaton_long_text_order),
        cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_rule_set_scores),
        cmocka_unit_test(test_regex_limits_fail_closed),
        cmocka_unit_test(test_match_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
