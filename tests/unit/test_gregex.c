/* core/gregex: normal matches, the POSIX ERE patterns the former grep accepted keep their
 * meaning (checked against the C library's regexec), and every refusal — invalid, too long,
 * past a match's limits or a scan's CPU budget — is reported as such and bounded in time. */
#include <errno.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/gregex.h"

static gregex_t *compile_ok(const char *pat)
{
    gregex_limits_t lim;
    gregex_limits_default(&lim);
    gregex_t *re = NULL;
    char err[GREGEX_ERR_MAX];
    int rc = gregex_compile(pat, strlen(pat), &lim, &re, err, sizeof err);
    if (rc != 0)
        fail_msg("pattern %s refused: %s", pat, err);
    return re;
}

/* 1 or 0 for one subject with a fresh scan. */
static int match1(const gregex_t *re, const char *subject)
{
    gregex_scan_t *s = NULL;
    assert_int_equal(gregex_scan_new(re, &s), 0);
    int rc = gregex_scan_match(s, subject, strlen(subject));
    gregex_scan_destroy(&s);
    assert_null(s);
    return rc;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_normal_matches(void **state)
{
    (void)state;
    static const struct {
        const char *pat, *subject;
        int want;
    } cases[] = {
        {"error", "an error here", 1},
        {"error", "all fine", 0},
        {"^out(1|7)$", "out7", 1},
        {"^out(1|7)$", "out10", 0},
        {"warn|fail", "FAILED", 0},
        {"(?i)warn|fail", "FAILED", 1},
        {"[0-9]{3}-[0-9]{4}", "call 555-1234 now", 1},
        {"\\d+ms", "took 15ms", 1},
        {"\\bfox\\b", "firefox", 0},
        {"a.c", "a\nc", 1},           /* '.' matches a newline, as in POSIX */
        {"end$", "the end\n", 0},     /* '$' is the end of the subject only */
        {"(*UTF)^.$", "\xc3\xa9", 1}, /* characters when asked for */
        {"^..$", "\xc3\xa9", 1},      /* bytes by default, as before */
        {"(*UTF)caf", "caf\xff", 1},  /* invalid UTF-8 in a subject is tolerated */
        {"(*UTF)x.", "\xffx\xff", 0}, /* but matches no character */
        {"a++a", "aa", 1},            /* stacked quantifiers are POSIX's, not possessive */
        {"a(?:b|c)+d", "abcd", 1},    /* PCRE2 groups stay as they are */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gregex_t *re = compile_ok(cases[i].pat);
        if (match1(re, cases[i].subject) != cases[i].want)
            fail_msg("%s on %s: want %d", cases[i].pat, cases[i].subject, cases[i].want);
        gregex_destroy(&re);
        assert_null(re);
    }
}

/* Every pattern here is accepted by regcomp(REG_EXTENDED); gregex must accept it too and
 * agree with regexec on every subject. */
static void test_posix_patterns_keep_their_meaning(void **state)
{
    (void)state;
    static const char *const pats[] = {
        "abc",         "^abc$",     "a|b|",   "()",           "(a|b)*c",
        "a{2,3}",      "a{,2}b",    "a{2}",   "[[:digit:]]+", "[^[:space:]]",
        "[]a]",        "[^]a]",     "[a-]",   "[[=e=]]x",     "[[.-.]]",
        "[[.a.]-c]",   "\\<fox\\>", "\\bfox", "\\`ab",        "ab\\'",
        "\\w+\\s\\w+", "a\\.b",     "a+?b",   "x\\{1\\}",     "(a)(b)\\2",
        "[.]",         "[*+?]",     "a|^b",   "(^a|b$)",      "[[:alpha:]_][[:alnum:]_]*=",
    };
    static const char *const subjects[] = {
        "",        "abc",    "xabcx", "aab",  "aaab", "b",   "ab",  "123",
        " x",      "]",      "-",     "e",    "ex",   "a-b", "fox", "the fox jumps",
        "firefox", "a.b",    "axb",   "x{1}", "abb",  "*",   "c",   "ba",
        "key_1=v", "1key=v",
    };
    for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++) {
        regex_t px;
        if (regcomp(&px, pats[i], REG_EXTENDED | REG_NOSUB) != 0)
            fail_msg("corpus error: POSIX refuses %s", pats[i]);
        gregex_t *re = compile_ok(pats[i]);
        for (size_t k = 0; k < sizeof subjects / sizeof subjects[0]; k++) {
            int want = regexec(&px, subjects[k], 0, NULL, 0) == 0;
            int got = match1(re, subjects[k]);
            if (got != want)
                fail_msg("%s on \"%s\": POSIX %d, gregex %d", pats[i], subjects[k], want, got);
        }
        regfree(&px);
        gregex_destroy(&re);
    }
}

static void test_invalid_patterns(void **state)
{
    (void)state;
    static const char *const bad[] = {"(unclosed", "a)",  "[z-a]", "*a",
                                      "a{2,1}",    "(?<", "\\",    "[\\]"};
    gregex_limits_t lim;
    gregex_limits_default(&lim);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gregex_t *re = (gregex_t *)&lim; /* must be cleared */
        char err[GREGEX_ERR_MAX];
        assert_int_equal(gregex_compile(bad[i], strlen(bad[i]), &lim, &re, err, sizeof err),
                         -EINVAL);
        assert_null(re);
        assert_non_null(strstr(err, "offset"));
    }
}

static void test_too_long_pattern(void **state)
{
    (void)state;
    gregex_limits_t lim;
    gregex_limits_default(&lim);
    char pat[GREGEX_PATTERN_MAX + 2];
    memset(pat, 'a', sizeof pat);
    gregex_t *re = NULL;
    char err[GREGEX_ERR_MAX];
    assert_int_equal(gregex_compile(pat, GREGEX_PATTERN_MAX + 1, &lim, &re, err, sizeof err),
                     -E2BIG);
    assert_null(re);
    assert_non_null(strstr(err, "512"));
    /* the longest allowed compiles, even as a worst case for the rewrite (\< is 2 → 8 bytes) */
    for (size_t i = 0; i + 1 < GREGEX_PATTERN_MAX; i += 2)
        memcpy(pat + i, "\\<", 2);
    assert_int_equal(gregex_compile(pat, GREGEX_PATTERN_MAX, &lim, &re, err, sizeof err), 0);
    gregex_destroy(&re);
}

/* (a|aa)*[bc] over a run of 'a' backtracks exponentially (no required character lets the
 * engine skip it): the match limit stops it at once, and the scan stays spent. */
static void test_match_limit(void **state)
{
    (void)state;
    gregex_t *re = compile_ok("(a|aa)*[bc]");
    size_t n = 16384;
    char *a = malloc(n);
    assert_non_null(a);
    memset(a, 'a', n);
    gregex_scan_t *s = NULL;
    assert_int_equal(gregex_scan_new(re, &s), 0);
    double t0 = mono_s();
    assert_int_equal(gregex_scan_match(s, a, n), -ERANGE);
    assert_true(mono_s() - t0 < 1.0);
    assert_string_equal(gregex_scan_reason(s), "match limit");
    assert_int_equal(gregex_scan_match(s, "b", 1), -ERANGE); /* spent */
    gregex_scan_destroy(&s);
    free(a);
    gregex_destroy(&re);
}

/* One scan serves several patterns (the guard's regexes of one evaluation): rebinding keeps
 * the budget, and forgives a match limit that belonged to the previous pattern. */
static void test_rebind(void **state)
{
    (void)state;
    gregex_t *costly = compile_ok("(a|aa)*[bc]"), *plain = compile_ok("b+");
    size_t n = 16384;
    char *a = malloc(n);
    assert_non_null(a);
    memset(a, 'a', n);
    gregex_scan_t *s = NULL;
    assert_int_equal(gregex_scan_new(costly, &s), 0);
    assert_int_equal(gregex_scan_match(s, a, n), -ERANGE);
    assert_int_equal(gregex_scan_rebind(s, plain), 0);
    assert_string_equal(gregex_scan_reason(s), "");
    assert_int_equal(gregex_scan_match(s, "abba", 4), 1);
    assert_int_equal(gregex_scan_match(s, "aaa", 3), 0);
    assert_int_equal(gregex_scan_rebind(s, costly), 0);
    assert_int_equal(gregex_scan_match(s, "aab", 3), 1);
    gregex_scan_destroy(&s);
    free(a);
    gregex_destroy(&costly);
    gregex_destroy(&plain);
}

/* Lines each under the per-match limit but costly together: the CPU budget ends the scan. */
static void test_cpu_budget(void **state)
{
    (void)state;
    gregex_limits_t lim;
    gregex_limits_default(&lim);
    lim.budget_ns = 50 * 1000000ull;
    lim.deadline_ns = 0; /* however busy the machine, the CPU budget decides */
    gregex_t *re = NULL;
    char err[GREGEX_ERR_MAX];
    assert_int_equal(gregex_compile("(a|aa)*[bc]", 11, &lim, &re, err, sizeof err), 0);
    char line[16];
    memset(line, 'a', sizeof line);
    gregex_scan_t *s = NULL;
    assert_int_equal(gregex_scan_new(re, &s), 0);
    int rc = 0;
    size_t i = 0;
    double t0 = mono_s();
    for (; i < 1000000 && rc == 0; i++)
        rc = gregex_scan_match(s, line, sizeof line);
    assert_int_equal(rc, -ERANGE);
    assert_string_equal(gregex_scan_reason(s), "CPU budget");
    assert_true(i > 1); /* single lines were within their limits */
    assert_true(gregex_scan_cpu_ns(s) >= lim.budget_ns);
    assert_true(mono_s() - t0 < 5.0);
    assert_true(gregex_scan_matches(s) == i);
    gregex_scan_destroy(&s);
    gregex_destroy(&re);
}

/* Within its CPU budget but past its wall-clock deadline: told apart from a costly pattern. */
static void test_deadline(void **state)
{
    (void)state;
    gregex_limits_t lim;
    gregex_limits_default(&lim);
    lim.budget_ns = 60ull * 1000000000ull;
    lim.deadline_ns = 1;
    gregex_t *re = NULL;
    char err[GREGEX_ERR_MAX];
    assert_int_equal(gregex_compile("x", 1, &lim, &re, err, sizeof err), 0);
    char line[GREGEX_PATTERN_MAX * 4];
    memset(line, 'a', sizeof line);
    gregex_scan_t *s = NULL;
    assert_int_equal(gregex_scan_new(re, &s), 0);
    struct timespec pause = {0, 1000000};
    nanosleep(&pause, NULL);
    assert_int_equal(gregex_scan_match(s, line, sizeof line), -ETIMEDOUT);
    assert_string_equal(gregex_scan_reason(s), "deadline");
    assert_int_equal(gregex_scan_match(s, "x", 1), -ETIMEDOUT); /* spent */
    gregex_scan_destroy(&s);
    gregex_destroy(&re);
}

/* A deep pattern stopped by its depth or heap limit rather than by memory. */
static void test_depth_and_heap_limits(void **state)
{
    (void)state;
    gregex_limits_t lim;
    gregex_limits_default(&lim);
    lim.depth_limit = 1000;
    gregex_t *re = NULL;
    char err[GREGEX_ERR_MAX];
    assert_int_equal(gregex_compile("^(a|b)*$", 8, &lim, &re, err, sizeof err), 0);
    size_t n = 100000;
    char *a = malloc(n);
    assert_non_null(a);
    memset(a, 'a', n);
    gregex_scan_t *s = NULL;
    assert_int_equal(gregex_scan_new(re, &s), 0);
    assert_int_equal(gregex_scan_match(s, a, n), -ERANGE);
    assert_string_equal(gregex_scan_reason(s), "depth limit");
    gregex_scan_destroy(&s);
    gregex_destroy(&re);

    gregex_limits_default(&lim);
    lim.heap_kib = 64;
    assert_int_equal(gregex_compile("^(a|b)*$", 8, &lim, &re, err, sizeof err), 0);
    assert_int_equal(gregex_scan_new(re, &s), 0);
    assert_int_equal(gregex_scan_match(s, a, n), -ERANGE);
    assert_string_equal(gregex_scan_reason(s), "heap limit");
    gregex_scan_destroy(&s);
    gregex_destroy(&re);
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normal_matches),
        cmocka_unit_test(test_posix_patterns_keep_their_meaning),
        cmocka_unit_test(test_invalid_patterns),
        cmocka_unit_test(test_too_long_pattern),
        cmocka_unit_test(test_match_limit),
        cmocka_unit_test(test_cpu_budget),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_rebind),
        cmocka_unit_test(test_depth_and_heap_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
