/* `ganglion top`'s pure parts: the SSE reader (split input, CRLF, comments, oversized events),
 * durations and sizes as shown, UTF-8 truncation by terminal columns, the key decoder, and the
 * model fed by lists and bus events (new agents, usage, the selected agent's log). */
#include <errno.h>
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/cli_top.h"

typedef struct seen {
    int n;
    char event[8][64];
    char data[8][256];
    char id[8][32];
} seen_t;

static void on_event(void *ud, const char *id, const char *event, const char *data, size_t len)
{
    seen_t *s = ud;
    if (s->n >= 8)
        return;
    snprintf(s->event[s->n], sizeof s->event[0], "%s", event);
    snprintf(s->data[s->n], sizeof s->data[0], "%.*s", (int)len, data);
    snprintf(s->id[s->n], sizeof s->id[0], "%s", id);
    s->n++;
}

static void test_sse_split_and_crlf(void **state)
{
    (void)state;
    seen_t s = {0};
    cli_top_sse_t p;
    cli_top_sse_init(&p, on_event, &s);
    const char *text = ": heartbeat\r\n\r\nid: 7\r\nevent: agent.a1.status\r\ndata: {\"x\":1}\r\n"
                       "\r\nid: 8\nevent: agent.a1.output\ndata: one\ndata: two\n\n";
    /* byte by byte: the reader must not depend on how the network cuts the stream */
    for (size_t i = 0; text[i]; i++)
        assert_int_equal(cli_top_sse_feed(&p, text + i, 1), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.event[0], "agent.a1.status");
    assert_string_equal(s.data[0], "{\"x\":1}");
    assert_string_equal(s.id[0], "7");
    assert_string_equal(s.data[1], "one\ntwo");
    assert_string_equal(p.last_id, "8");
    cli_top_sse_free(&p);
}

static void test_sse_oversized_event_dropped(void **state)
{
    (void)state;
    seen_t s = {0};
    cli_top_sse_t p;
    cli_top_sse_init(&p, on_event, &s);
    size_t big = CLI_TOP_SSE_MAX + 100;
    char *line = malloc(big);
    assert_non_null(line);
    memset(line, 'x', big);
    assert_int_equal(cli_top_sse_feed(&p, "event: huge\ndata: ", 18), 0);
    assert_int_equal(cli_top_sse_feed(&p, line, big), 0);
    assert_int_equal(cli_top_sse_feed(&p, "\ndata: more\n\nevent: next\ndata: ok\n\n", 35), 0);
    free(line);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.event[0], "next");
    assert_string_equal(s.data[0], "ok");
    assert_true(p.line_cap <= 2 * (size_t)CLI_TOP_SSE_MAX);
    cli_top_sse_free(&p);
}

static void test_duration_and_bytes(void **state)
{
    (void)state;
    char b[32];
    cli_top_duration(42999, b, sizeof b);
    assert_string_equal(b, "42s");
    cli_top_duration(192000, b, sizeof b);
    assert_string_equal(b, "3m12s");
    cli_top_duration(2 * 3600000 + 5 * 60000 + 59000, b, sizeof b);
    assert_string_equal(b, "2h05m");
    cli_top_duration(4 * 86400000LL + 7 * 3600000, b, sizeof b);
    assert_string_equal(b, "4d07h");
    cli_top_duration(-5, b, sizeof b);
    assert_string_equal(b, "0s");
    cli_top_bytes(512, b, sizeof b);
    assert_string_equal(b, "512B");
    cli_top_bytes(5 * 1024 * 1024, b, sizeof b);
    assert_string_equal(b, "5.0M");
    cli_top_bytes(812 * 1024, b, sizeof b);
    assert_string_equal(b, "812K");
}

static void test_cut_utf8(void **state)
{
    (void)state;
    char out[64];
    /* é is two bytes, one column; 日 three bytes, two columns */
    assert_int_equal(cli_top_cut("héllo", 6, 3, out, sizeof out), 3);
    assert_string_equal(out, "hél");
    assert_int_equal(cli_top_cut("a日本", 7, 4, out, sizeof out), 3);
    assert_string_equal(out, "a日"); /* 本 would straddle the edge */
    /* controls cannot drive the terminal; invalid bytes show as '?' */
    assert_int_equal(cli_top_cut("a\033[2Jb\xff", 7, 10, out, sizeof out), 7);
    assert_string_equal(out, "a [2Jb?");
    /* a truncated sequence at the end of the input is not copied half */
    assert_int_equal(cli_top_cut("ab\xe6\x97", 4, 10, out, sizeof out), 4);
    assert_string_equal(out, "ab??");
    /* the output buffer bounds the copy too, on a character boundary */
    assert_int_equal(cli_top_cut("日本語", 9, 10, out, 7), 4);
    assert_string_equal(out, "日本");
}

static void test_keys(void **state)
{
    (void)state;
    int k[16];
    const unsigned char in[] = "j\033[A\033OB\033[6~\033q\033[1;5C";
    size_t n = cli_top_keys(in, sizeof in - 1, k, 16);
    assert_int_equal(n, 6);
    assert_int_equal(k[0], 'j');
    assert_int_equal(k[1], CLI_TOP_KEY_UP);
    assert_int_equal(k[2], CLI_TOP_KEY_DOWN);
    assert_int_equal(k[3], CLI_TOP_KEY_PGDOWN);
    assert_int_equal(k[4], CLI_TOP_KEY_ESC);
    assert_int_equal(k[5], 'q'); /* the unknown CSI after it is skipped whole */
}

static json_t *agent_obj(const char *id, const char *name, const char *status)
{
    return json_pack("{s:s,s:s,s:s,s:i,s:s}", "id", id, "name", name, "status", status, "restarts",
                     2, "started_at", "2026-01-01T00:00:00Z");
}

static void test_model_list_and_events(void **state)
{
    (void)state;
    cli_top_model_t m;
    cli_top_model_init(&m, "http://x");
    json_t *list = json_pack("{s:[o,o]}", "agents", agent_obj("a1", "alpha", "running"),
                             agent_obj("b2", "beta", "running"));
    assert_int_equal(cli_top_model_list_apply(&m, list), 0);
    json_decref(list);
    assert_int_equal((int)m.n, 2);
    assert_int_equal((int)m.agents[0].restarts, 2);
    assert_true(m.agents[0].started_ms > 0);
    assert_false(m.agents[0].has_usage);

    /* a status event about an unknown agent adds it and asks for its object */
    const char *st = "{\"id\":\"c3\",\"name\":\"gamma\",\"status\":\"running\",\"previous\":"
                     "\"initializing\",\"ts\":1000}";
    assert_true(cli_top_model_event(&m, "agent.c3.status", st, strlen(st)));
    assert_int_equal((int)m.n, 3);
    assert_string_equal(m.agents[2].name, "gamma");
    assert_int_equal((int)m.want_n, 1);
    assert_string_equal(m.want[0], "c3");

    /* usage fills CPU and RSS; a final status clears them */
    const char *u = "{\"cpu_percent\":12.5,\"rss_bytes\":4096}";
    assert_true(cli_top_model_event(&m, "agent.b2.usage", u, strlen(u)));
    assert_true(m.agents[1].has_usage);
    assert_int_equal((int)m.agents[1].rss_bytes, 4096);
    const char *term = "{\"status\":\"terminated\",\"previous\":\"stopping\"}";
    assert_true(cli_top_model_event(&m, "agent.b2.status", term, strlen(term)));
    assert_string_equal(m.agents[1].status, "terminated");
    assert_false(m.agents[1].has_usage);

    /* other topics and broken data change nothing */
    assert_false(cli_top_model_event(&m, "anomaly.x.created", "{}", 2));
    assert_false(cli_top_model_event(&m, "agent.b2.status", "{", 1));

    /* the selection stays on its agent across a resync that drops another */
    cli_top_model_select(&m, 2);
    assert_string_equal(cli_top_model_selected(&m)->id, "c3");
    list = json_pack("{s:[o,o]}", "agents", agent_obj("b2", "beta", "terminated"),
                     agent_obj("c3", "gamma", "running"));
    assert_int_equal(cli_top_model_list_apply(&m, list), 0);
    json_decref(list);
    assert_int_equal((int)m.n, 2);
    assert_string_equal(cli_top_model_selected(&m)->id, "c3");
    cli_top_model_select(&m, -100);
    assert_string_equal(cli_top_model_selected(&m)->id, "b2");
    cli_top_model_free(&m);
}

static void test_model_log(void **state)
{
    (void)state;
    cli_top_model_t m;
    cli_top_model_init(&m, "");
    cli_top_model_log_reset(&m, "a1");
    json_t *tail =
        json_pack("{s:[{s:i,s:s,s:s},{s:i,s:s,s:s}],s:i}", "lines", "seq", 4, "stream", "stdout",
                  "text", "four", "seq", 5, "stream", "stderr", "text", "five", "last_seq", 5);
    cli_top_model_log_apply(&m, tail);
    json_decref(tail);
    assert_int_equal((int)m.log_n, 2);
    assert_true(m.log[1].err);
    /* the live stream repeats seq 5: shown once; another agent's line is not shown */
    const char *l5 = "{\"seq\":5,\"stream\":\"stderr\",\"text\":\"five\"}";
    const char *l6 = "{\"seq\":6,\"stream\":\"stdout\",\"text\":\"six\"}";
    assert_false(cli_top_model_event(&m, "agent.a1.output", l5, strlen(l5)));
    assert_false(cli_top_model_event(&m, "agent.zz.output", l6, strlen(l6)));
    assert_true(cli_top_model_event(&m, "agent.a1.output", l6, strlen(l6)));
    assert_int_equal((int)m.log_n, 3);
    /* the ring keeps the newest CLI_TOP_LOG_LINES */
    for (int i = 0; i < CLI_TOP_LOG_LINES + 10; i++)
        cli_top_model_log_push(&m, "x", 1, false);
    assert_int_equal((int)m.log_n, CLI_TOP_LOG_LINES);
    cli_top_model_free(&m);
}

static void test_draw_plain(void **state)
{
    (void)state;
    cli_top_model_t m;
    cli_top_model_init(&m, "http://x");
    json_t *list = json_pack("{s:[o]}", "agents", agent_obj("a1", "alpha", "running"));
    cli_top_model_list_apply(&m, list);
    json_decref(list);
    cli_top_model_log_reset(&m, "a1");
    cli_top_model_log_push(&m, "hello \033[31mred", 14, false);
    int64_t now = m.agents[0].started_ms + 192500;
    char *f = cli_top_draw(&m, 100, 10, now, false);
    assert_non_null(f);
    assert_null(strchr(f, '\033'));
    assert_non_null(strstr(f, "3m12s"));
    assert_non_null(strstr(f, "hello  [31mred"));
    /* every line within the width, the frame exactly the height */
    int lines = 0;
    for (char *p = f, *nl; (nl = strchr(p, '\n')); p = nl + 1, lines++) {
        assert_true(nl - p <= 100 * 3);
    }
    assert_int_equal(lines, 10);
    free(f);
    /* the terminal frame: home, clear to end of line, no line past the height */
    f = cli_top_draw(&m, 100, 10, now, true);
    assert_non_null(f);
    assert_memory_equal(f, "\033[H", 3);
    int crlf = 0;
    for (char *p = f; (p = strstr(p, "\r\n")); p += 2)
        crlf++;
    assert_int_equal(crlf, 9);
    free(f);
    cli_top_model_free(&m);
}

int main(void)
{
    setlocale(LC_CTYPE, "C.UTF-8");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sse_split_and_crlf),
        cmocka_unit_test(test_sse_oversized_event_dropped),
        cmocka_unit_test(test_duration_and_bytes),
        cmocka_unit_test(test_cut_utf8),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_model_list_and_events),
        cmocka_unit_test(test_model_log),
        cmocka_unit_test(test_draw_plain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
