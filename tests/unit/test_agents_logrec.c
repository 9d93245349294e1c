/* Unit tests for the log-file records (agents_logrec.c): every record the writer makes gives its
 * seq, stream and exact text back without a JSON parse, whatever the text holds (quotes,
 * backslashes, control characters, escape sequences, UTF-8), records jansson wrote (binary
 * lines) too, and what is not a record is refused rather than misread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents_internal.h"
#include "agents/agents_logrec.h"

/* The record agents_logfile.c writes for a text line. Malloc'ed, NUL-terminated. */
static char *record_of(uint64_t seq, int stream, const char *text, size_t len, unsigned flags)
{
    agents_line_t *l = calloc(1, sizeof *l + len + 1);
    assert_non_null(l);
    l->seq = seq;
    l->ts_ms = 1700000000123;
    l->len = (uint32_t)len;
    l->stream = (uint8_t)stream;
    l->flags = (uint8_t)flags;
    memcpy(l->data, text, len);
    char *rec = malloc(AGENTS_LINE_JSON_FIXED + agents_json_escaped_len(text, len) + 1);
    assert_non_null(rec);
    char *end = agents_line_json_write(rec, l);
    *end = '\0';
    free(l);
    return rec;
}

static void check_round_trip(const char *text, size_t len, bool zero_copy)
{
    char *rec = record_of(42, AGENTS_STDERR, text, len, 0);
    uint64_t seq = 0;
    int stream = -1;
    assert_int_equal(agents_logrec_head_parse(rec, strlen(rec), &seq, &stream), 0);
    assert_int_equal(seq, 42);
    assert_int_equal(stream, AGENTS_STDERR);
    char *buf = NULL;
    size_t cap = 0, tlen = 0;
    const char *got = NULL;
    assert_int_equal(agents_logrec_text_get(rec, strlen(rec), &buf, &cap, &got, &tlen), 0);
    assert_int_equal(tlen, len);
    assert_memory_equal(got, text, len);
    if (zero_copy)
        assert_true(got > rec && got < rec + strlen(rec)); /* no copy without escapes */
    /* and what jansson reads from the same record */
    json_t *j = json_loads(rec, 0, NULL);
    assert_non_null(j);
    json_t *t = json_object_get(j, "text");
    assert_int_equal(json_string_length(t), len);
    assert_memory_equal(json_string_value(t), text, len);
    json_decref(j);
    free(buf);
    free(rec);
}

static void test_plain_text_is_read_in_place(void **state)
{
    (void)state;
    check_round_trip("line 00000001 xxxx", 18, true);
    check_round_trip("", 0, true);
    check_round_trip("caf\xc3\xa9 \xf0\x9f\x98\x80", 10, true); /* UTF-8 is not escaped */
}

static void test_escaped_text_comes_back_exactly(void **state)
{
    (void)state;
    static const char t1[] = "tab\t\"q\" back\\slash \x1b[1mbold\x1b[0m\r\f\b/";
    check_round_trip(t1, sizeof t1 - 1, false);
    static const char t2[] = "\x01\x02\x1f end";
    check_round_trip(t2, sizeof t2 - 1, false);
    static const char t3[] = "\"";
    check_round_trip(t3, 1, false);
}

static void test_stdout_and_flags(void **state)
{
    (void)state;
    char *rec = record_of(7, AGENTS_STDOUT, "part", 4, AGENTS_LINE_CONT | AGENTS_LINE_NOEOL);
    uint64_t seq;
    int stream;
    assert_int_equal(agents_logrec_head_parse(rec, strlen(rec), &seq, &stream), 0);
    assert_int_equal(seq, 7);
    assert_int_equal(stream, AGENTS_STDOUT);
    char *buf = NULL;
    size_t cap = 0, tlen;
    const char *got;
    assert_int_equal(agents_logrec_text_get(rec, strlen(rec), &buf, &cap, &got, &tlen), 0);
    assert_int_equal(tlen, 4);
    assert_memory_equal(got, "part", 4);
    free(buf);
    free(rec);
}

static void test_jansson_records_and_unicode_escapes(void **state)
{
    (void)state;
    /* a binary line's record is jansson's, with data_b64 after the text */
    json_t *o = json_pack("{s:I,s:s,s:I,s:s,s:s}", "seq", (json_int_t)9, "stream", "stdout", "ts",
                          (json_int_t)1, "text", "ok \xef\xbf\xbd bytes", "data_b64", "b2s=");
    char *rec = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    uint64_t seq;
    int stream;
    assert_int_equal(agents_logrec_head_parse(rec, strlen(rec), &seq, &stream), 0);
    assert_int_equal(seq, 9);
    char *buf = NULL;
    size_t cap = 0, tlen;
    const char *got;
    assert_int_equal(agents_logrec_text_get(rec, strlen(rec), &buf, &cap, &got, &tlen), 0);
    assert_int_equal(tlen, 12);
    assert_memory_equal(got, "ok \xef\xbf\xbd bytes", 12);
    free(rec);
    /* \u escapes, a surrogate pair among them */
    static const char r2[] =
        "{\"seq\":1,\"stream\":\"stdout\",\"ts\":1,\"text\":\"\\u00e9\\ud83d\\ude00\\u0041\"}";
    assert_int_equal(agents_logrec_text_get(r2, sizeof r2 - 1, &buf, &cap, &got, &tlen), 0);
    assert_int_equal(tlen, 2 + 4 + 1);
    assert_memory_equal(got,
                        "\xc3\xa9\xf0\x9f\x98\x80"
                        "A",
                        7);
    free(buf);
}

static void test_what_is_not_a_record_is_refused(void **state)
{
    (void)state;
    uint64_t seq;
    int stream;
    static const char *bad_heads[] = {
        "",
        "{}",
        "{\"seq\":,\"stream\":\"stdout\"}",
        "{\"seq\":1,\"stream\":\"other\"}",
        "{\"seq\":1}",
        "{\"seq\":12345678901234567890123,\"stream\":\"stdout\"}",
        "not json at all",
    };
    for (size_t i = 0; i < sizeof bad_heads / sizeof bad_heads[0]; i++)
        assert_int_equal(
            agents_logrec_head_parse(bad_heads[i], strlen(bad_heads[i]), &seq, &stream), -EINVAL);
    char *buf = NULL;
    size_t cap = 0, tlen;
    const char *got;
    static const char *bad_texts[] = {
        "{\"seq\":1,\"stream\":\"stdout\",\"ts\":1}",                    /* no text */
        "{\"seq\":1,\"stream\":\"stdout\",\"ts\":1,\"text\":\"open",     /* cut short */
        "{\"seq\":1,\"stream\":\"stdout\",\"ts\":1,\"text\":\"a\\x\"}",  /* unknown escape */
        "{\"seq\":1,\"stream\":\"stdout\",\"ts\":1,\"text\":\"\\u12\"}", /* short \u */
        "{\"seq\":1,\"stream\":\"stdout\",\"ts\":1,\"text\":\"a\\",      /* ends in a backslash */
    };
    for (size_t i = 0; i < sizeof bad_texts / sizeof bad_texts[0]; i++)
        assert_int_equal(
            agents_logrec_text_get(bad_texts[i], strlen(bad_texts[i]), &buf, &cap, &got, &tlen),
            -EINVAL);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_text_is_read_in_place),
        cmocka_unit_test(test_escaped_text_comes_back_exactly),
        cmocka_unit_test(test_stdout_and_flags),
        cmocka_unit_test(test_jansson_records_and_unicode_escapes),
        cmocka_unit_test(test_what_is_not_a_record_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
