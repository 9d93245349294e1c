/* Memory full-text helpers: query words, the match expressions handed to the stores, BM25 over
 * the candidates and snippets with the matches marked. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "memory/memory_text.h"

static void test_terms(void **state)
{
    (void)state;
    memory_terms_t t;
    assert_int_equal(memory_text_terms("Disk, disk; ALPHA-beta  café!", &t), 4);
    assert_string_equal(t.t[0], "disk");
    assert_string_equal(t.t[1], "alpha");
    assert_string_equal(t.t[2], "beta");
    assert_string_equal(t.t[3], "café");
    assert_int_equal(memory_text_terms("  !!  ", &t), 0);
    assert_int_equal(memory_text_terms(NULL, &t), 0);
    /* quotes and operators never reach the stores' query languages */
    assert_int_equal(memory_text_terms("a\" OR 'b' | c:*", &t), 4);
    char buf[256];
    assert_int_equal(memory_text_fts5(&t, buf, sizeof buf), 0);
    assert_string_equal(buf, "\"a\" OR \"or\" OR \"b\" OR \"c\"");
    assert_int_equal(memory_text_tsquery(&t, buf, sizeof buf), 0);
    assert_string_equal(buf, "'a' | 'or' | 'b' | 'c'");
    assert_int_equal(memory_text_fts5(&t, buf, 8), -ENOSPC);
    /* bounded: at most MEMORY_TERMS_MAX words of at most MEMORY_TERM_LEN-1 bytes */
    char many[2048] = "";
    for (int i = 0; i < 40; i++)
        strcat(many, i % 2 ? "w " : "x ");
    for (int i = 0; i < 40; i++) {
        char w[8];
        w[0] = (char)('a' + i % 26);
        w[1] = (char)('a' + i / 26);
        w[2] = ' ';
        w[3] = 0;
        strcat(many, w);
    }
    assert_int_equal(memory_text_terms(many, &t), MEMORY_TERMS_MAX);
    char longw[300];
    memset(longw, 'q', sizeof longw - 1);
    longw[sizeof longw - 1] = 0;
    assert_int_equal(memory_text_terms(longw, &t), 1);
    assert_int_equal(strlen(t.t[0]), MEMORY_TERM_LEN - 1);
}

static void test_bm25(void **state)
{
    (void)state;
    memory_terms_t t;
    memory_text_terms("disk", &t);
    const char *docs[] = {"disk", "disk disk and more words here", "nothing to see",
                          "a disk in a long sentence with many many other words in it"};
    double s[4];
    memory_text_rank(&t, docs, 4, s);
    assert_true(s[0] > s[1]); /* shorter wins at equal weight of evidence */
    assert_true(s[1] > s[3]); /* more occurrences win */
    assert_true(s[2] == 0.0);
    assert_true(s[3] > 0.0);
}

static void test_snippet(void **state)
{
    (void)state;
    memory_terms_t t;
    memory_text_terms("disk", &t);
    char *s = memory_text_snippet(&t, "the Disk was full");
    assert_string_equal(s, "the <b>Disk</b> was full");
    free(s);
    char text[1000] = "";
    for (int i = 0; i < 30; i++)
        strcat(text, "lorem ipsum ");
    strcat(text, "disk full ");
    for (int i = 0; i < 30; i++)
        strcat(text, "dolor sit ");
    s = memory_text_snippet(&t, text);
    assert_non_null(strstr(s, "<b>disk</b> full"));
    assert_memory_equal(s, "\xe2\x80\xa6", 3);
    assert_memory_equal(s + strlen(s) - 3, "\xe2\x80\xa6", 3);
    assert_true(strlen(s) < 200);
    assert_null(strstr(s, "lorem ipsum lorem ipsum lorem ipsum lorem ipsum"));
    free(s);
    /* no match: the start of the text */
    memory_text_terms("zebra", &t);
    s = memory_text_snippet(&t, "short text");
    assert_string_equal(s, "short text");
    free(s);
    /* a word is never cut, nor a UTF-8 character */
    memory_text_terms("x", &t);
    char u[400] = "";
    for (int i = 0; i < 60; i++)
        strcat(u, "éé ");
    strcat(u, "x");
    s = memory_text_snippet(&t, u);
    const char *body = s + 3;
    assert_true(body[0] == ' ' || (unsigned char)body[0] == 0xc3);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_terms),
        cmocka_unit_test(test_bm25),
        cmocka_unit_test(test_snippet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
