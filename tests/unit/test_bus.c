/* Unit tests for the event bus (matching, validation, delivery, unsubscription from callbacks,
 * replay ring, refcounts) and for the SSE framing and bounded queue built on its events. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/bus.h"
#include "core/strbuf.h"
#include "net/sse.h"

/* ---- matching ----------------------------------------------------------------------------- */

static void test_topic_match_table(void **state)
{
    (void)state;
    static const struct {
        const char *pattern, *topic;
        bool match;
    } cases[] = {
        {"agent.42.status", "agent.42.status", true},
        {"agent.42.status", "agent.42.output", false},
        {"agent.42.status", "agent.42", false},
        {"agent.42", "agent.42.status", false},
        {"agent.*.status", "agent.42.status", true},
        {"agent.*.status", "agent.42.output", false},
        {"agent.*.status", "agent.42.x.status", false}, /* inner '*' is exactly one segment */
        {"agent.*.status", "agent.status", false},
        {"agent.*", "agent.42", true},
        {"agent.*", "agent.42.status", true}, /* trailing '*' is one or more */
        {"agent.*", "agent.1.2.3.4", true},
        {"agent.*", "agent", false},     /* ... but not zero */
        {"agent.*", "agents.42", false}, /* whole segments, not prefixes */
        {"agent.*", "task.42", false},
        {"*", "x", true},
        {"*", "a.b.c", true},
        {"*.status", "agent.status", true},
        {"*.status", "agent.42.status", false},
        {"*.*", "a", false},
        {"*.*", "a.b", true},
        {"*.*", "a.b.c", true},
        {"anomaly.created", "anomaly.created", true},
        {"anomaly.created", "anomaly.createdx", false},
        {"anomaly.createdx", "anomaly.created", false},
        {"a.b", "a.bb", false},
        /* invalid patterns or topics never match */
        {"", "a", false},
        {"a..b", "a..b", false},
        {".a", "a", false},
        {"a.", "a", false},
        {"a*", "a1", false},
        {"a.b*", "a.bc", false},
        {"**", "a", false},
        {"a", "", false},
        {"a", "a.", false},
        {"a.*", "a..b", false},
        {"a.*", "a.b\nc", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool got = bus_topic_match(cases[i].pattern, cases[i].topic);
        if (got != cases[i].match)
            fail_msg("pattern '%s' topic '%s': expected %d", cases[i].pattern, cases[i].topic,
                     cases[i].match);
    }
    assert_false(bus_topic_match(NULL, "a"));
    assert_false(bus_topic_match("a", NULL));
}

static void test_pattern_valid(void **state)
{
    (void)state;
    assert_true(bus_pattern_valid(""));
    assert_true(bus_pattern_valid("   "));
    assert_true(bus_pattern_valid("a"));
    assert_true(bus_pattern_valid("agent.*,task.*.updated"));
    assert_true(bus_pattern_valid("agent.* , task.*"));
    assert_true(bus_pattern_valid("*"));
    assert_false(bus_pattern_valid(NULL));
    assert_false(bus_pattern_valid("a,,b"));
    assert_false(bus_pattern_valid("a,"));
    assert_false(bus_pattern_valid(",a"));
    assert_false(bus_pattern_valid("a..b"));
    assert_false(bus_pattern_valid("a.b."));
    assert_false(bus_pattern_valid("a*"));
    assert_false(bus_pattern_valid("a.\x01"));
    assert_false(bus_pattern_valid("a\nb"));

    char buf[1024];
    /* 32 patterns is the limit, 33 is over */
    buf[0] = '\0';
    for (int i = 0; i < 32; i++)
        strcat(buf, i ? ",p" : "p");
    assert_true(bus_pattern_valid(buf));
    strcat(buf, ",p");
    assert_false(bus_pattern_valid(buf));

    /* 256 bytes per pattern is the limit */
    memset(buf, 'x', 256);
    buf[256] = '\0';
    assert_true(bus_pattern_valid(buf));
    buf[256] = 'x';
    buf[257] = '\0';
    assert_false(bus_pattern_valid(buf));
}

/* ---- publish and subscribe ---------------------------------------------------------------- */

struct rec {
    char log[1024];
    int calls;
    uint64_t last_id;
    bus_t *bus;
    bus_sub_t **unsub; /* unsubscribed from inside the callback when set */
};

static void record(bus_event_t *ev, void *ud)
{
    struct rec *r = ud;
    char line[300];
    snprintf(line, sizeof line, ":%s=%s;", ev->topic, ev->data);
    strncat(r->log, line, sizeof r->log - strlen(r->log) - 1);
    r->calls++;
    assert_true(ev->id > r->last_id); /* ids only grow */
    r->last_id = ev->id;
}

static void test_publish_delivery(void **state)
{
    (void)state;
    bus_t *bus = bus_new(16);
    assert_non_null(bus);
    struct rec a = {0}, b = {0}, c = {0};
    bus_sub_t *sa = bus_subscribe(bus, "agent.*", record, &a);
    bus_sub_t *sb = bus_subscribe(bus, "agent.*.status, task.*", record, &b);
    bus_sub_t *sc = bus_subscribe(bus, "", record, &c);
    assert_non_null(sa);
    assert_non_null(sb);
    assert_non_null(sc);
    assert_null(bus_subscribe(bus, "a..b", record, &a));
    assert_null(bus_subscribe(bus, "a", NULL, &a));
    assert_int_equal(bus_subscriber_count(bus), 3);

    assert_int_equal(bus_publish(bus, "agent.1.status", json_pack("{s:s}", "s", "up")), 1);
    assert_int_equal(bus_publish(bus, "agent.1.output", json_pack("{s:i}", "n", 3)), 2);
    assert_int_equal(bus_publish(bus, "task.9", NULL), 3);
    assert_int_equal(bus_publish(bus, "other", json_integer(5)), 4);
    /* invalid topics are refused with id 0 and the payload is still released */
    assert_int_equal(bus_publish(bus, "bad..topic", json_object()), 0);
    assert_int_equal(bus_publish(bus, "bad\ntopic", json_object()), 0);
    assert_int_equal(bus_publish(bus, "a*", NULL), 0);
    assert_int_equal(bus_publish(bus, "a,b", NULL), 0);
    assert_int_equal(bus_publish(bus, "", NULL), 0);
    assert_int_equal(bus_publish(bus, NULL, NULL), 0);
    char longt[300];
    memset(longt, 'a', 257);
    longt[257] = '\0';
    assert_int_equal(bus_publish(bus, longt, NULL), 0);
    longt[256] = '\0';
    assert_int_equal(bus_publish(bus, longt, NULL), 5);

    assert_string_equal(a.log, ":agent.1.status={\"s\":\"up\"};:agent.1.output={\"n\":3};");
    assert_string_equal(b.log, ":agent.1.status={\"s\":\"up\"};:task.9={};");
    assert_int_equal(c.calls, 0);
    assert_int_equal(bus_last_id(bus), 5);
    assert_int_equal(bus_published_total(bus), 5);

    bus_unsubscribe(bus, &sb);
    assert_null(sb);
    bus_unsubscribe(bus, &sb); /* NULL is a no-op */
    assert_int_equal(bus_subscriber_count(bus), 2);
    bus_publish(bus, "task.9", NULL);
    assert_int_equal(b.calls, 2);
    bus_destroy(&bus);
    assert_null(bus);
    bus_destroy(&bus);
}

static int order_log[16];
static int order_n;

static void order_cb(bus_event_t *ev, void *ud)
{
    (void)ev;
    order_log[order_n++] = (int)(intptr_t)ud;
}

static void test_subscription_order(void **state)
{
    (void)state;
    bus_t *bus = bus_new(4);
    bus_sub_t *subs[5];
    for (int i = 0; i < 5; i++)
        subs[i] = bus_subscribe(bus, "x", order_cb, (void *)(intptr_t)i);
    order_n = 0;
    bus_publish(bus, "x", NULL);
    assert_int_equal(order_n, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(order_log[i], i);
    bus_unsubscribe(bus, &subs[2]);
    order_n = 0;
    bus_publish(bus, "x", NULL);
    int want[] = {0, 1, 3, 4};
    assert_int_equal(order_n, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(order_log[i], want[i]);
    bus_destroy(&bus); /* frees remaining subscriptions */
}

static void unsub_cb(bus_event_t *ev, void *ud)
{
    struct rec *r = ud;
    record(ev, ud);
    if (r->unsub)
        bus_unsubscribe(r->bus, r->unsub);
}

static void test_unsubscribe_in_callback(void **state)
{
    (void)state;
    bus_t *bus = bus_new(4);
    struct rec self = {0}, other = {0}, victim = {0}, after = {0};
    bus_sub_t *s_self = NULL, *s_victim = NULL;
    self.bus = other.bus = bus;

    /* the first removes itself, the second removes the third before it runs */
    s_self = bus_subscribe(bus, "t", unsub_cb, &self);
    self.unsub = &s_self;
    bus_sub_t *s_other = bus_subscribe(bus, "t", unsub_cb, &other);
    s_victim = bus_subscribe(bus, "t", record, &victim);
    other.unsub = &s_victim;
    bus_sub_t *s_after = bus_subscribe(bus, "t", record, &after);
    assert_int_equal(bus_subscriber_count(bus), 4);

    bus_publish(bus, "t", NULL);
    assert_null(s_self);
    assert_null(s_victim);
    assert_int_equal(self.calls, 1);
    assert_int_equal(other.calls, 1);
    assert_int_equal(victim.calls, 0);
    assert_int_equal(after.calls, 1);
    assert_int_equal(bus_subscriber_count(bus), 2);

    other.unsub = NULL;
    bus_publish(bus, "t", NULL);
    assert_int_equal(self.calls, 1);
    assert_int_equal(other.calls, 2);
    assert_int_equal(after.calls, 2);

    bus_unsubscribe(bus, &s_other);
    bus_unsubscribe(bus, &s_after);
    assert_int_equal(bus_subscriber_count(bus), 0);
    bus_destroy(&bus);
}

/* A subscription made and a publish made from inside a callback. */
struct nest {
    bus_t *bus;
    bus_sub_t *late;
    struct rec late_rec;
    int depth;
};

static void nest_cb(bus_event_t *ev, void *ud)
{
    struct nest *n = ud;
    if (strcmp(ev->topic, "outer") != 0)
        return;
    if (!n->late)
        n->late = bus_subscribe(n->bus, "outer,inner", record, &n->late_rec);
    bus_publish(n->bus, "inner", NULL);
}

static void test_subscribe_and_publish_in_callback(void **state)
{
    (void)state;
    bus_t *bus = bus_new(1); /* the nested publish evicts the event being delivered */
    struct nest n = {.bus = bus};
    bus_sub_t *s = bus_subscribe(bus, "*", nest_cb, &n);
    assert_int_equal(bus_publish(bus, "outer", json_pack("{s:i}", "k", 1)), 1);
    assert_non_null(n.late);
    /* the late subscriber sees the nested event but not the one being delivered */
    assert_string_equal(n.late_rec.log, ":inner={};");
    bus_unsubscribe(bus, &n.late);
    bus_unsubscribe(bus, &s);
    bus_destroy(&bus);
}

/* ---- replay ------------------------------------------------------------------------------- */

static void test_replay(void **state)
{
    (void)state;
    bus_t *bus = bus_new(4);
    struct rec live = {0};
    bus_sub_t *sub = bus_subscribe(bus, "a.*", record, &live);

    struct rec r = {0};
    assert_int_equal(bus_replay(bus, sub, 0, record, &r), 0); /* empty ring, no gap */
    assert_int_equal(r.calls, 0);

    bus_publish(bus, "a.1", NULL); /* 1 */
    bus_publish(bus, "b.1", NULL); /* 2 */
    bus_publish(bus, "a.2", NULL); /* 3 */

    memset(&r, 0, sizeof r);
    assert_int_equal(bus_replay(bus, sub, 0, record, &r), 0);
    assert_string_equal(r.log, ":a.1={};:a.2={};");
    memset(&r, 0, sizeof r);
    assert_int_equal(bus_replay(bus, sub, 1, record, &r), 0);
    assert_string_equal(r.log, ":a.2={};");
    memset(&r, 0, sizeof r);
    assert_int_equal(bus_replay(bus, sub, 3, record, &r), 0);
    assert_int_equal(r.calls, 0);
    assert_int_equal(bus_replay(bus, sub, 99, record, &r), 0); /* from the future */
    assert_int_equal(bus_replay(bus, sub, UINT64_MAX, record, &r), 0);
    assert_int_equal(r.calls, 0);

    bus_publish(bus, "a.3", NULL); /* 4: ring full, holds 1..4 */
    memset(&r, 0, sizeof r);
    assert_int_equal(bus_replay(bus, sub, 0, record, &r), 0);
    assert_int_equal(r.calls, 3);

    bus_publish(bus, "a.4", NULL); /* 5: evicts 1, holds 2..5 */
    memset(&r, 0, sizeof r);
    assert_int_equal(bus_replay(bus, sub, 0, record, &r), 1); /* 1 was lost */
    assert_string_equal(r.log, ":a.2={};:a.3={};:a.4={};");
    memset(&r, 0, sizeof r);
    assert_int_equal(bus_replay(bus, sub, 1, record, &r), 0); /* has seen 1: nothing lost */
    assert_string_equal(r.log, ":a.2={};:a.3={};:a.4={};");

    for (int i = 0; i < 10; i++)
        bus_publish(bus, "a.x", NULL); /* 6..15, holds 12..15 */
    memset(&r, 0, sizeof r);
    assert_int_equal(bus_replay(bus, sub, 5, record, &r), 1);
    assert_int_equal(r.calls, 4);
    assert_int_equal(r.last_id, 15);
    memset(&r, 0, sizeof r);
    assert_int_equal(bus_replay(bus, sub, 10, record, &r), 1);
    assert_int_equal(r.calls, 4);
    memset(&r, 0, sizeof r);
    assert_int_equal(bus_replay(bus, sub, 11, record, &r), 0);
    assert_int_equal(r.calls, 4);
    memset(&r, 0, sizeof r);
    assert_int_equal(bus_replay(bus, sub, 13, record, &r), 0);
    assert_int_equal(r.calls, 2);

    assert_int_equal(bus_replay(bus, NULL, 0, record, &r), -EINVAL);
    bus_unsubscribe(bus, &sub);
    bus_destroy(&bus);
}

static void test_replay_without_ring(void **state)
{
    (void)state;
    bus_t *bus = bus_new(0);
    struct rec live = {0}, r = {0};
    bus_sub_t *sub = bus_subscribe(bus, "*", record, &live);
    assert_int_equal(bus_replay(bus, sub, 0, record, &r), 0);
    bus_publish(bus, "a", NULL);
    assert_int_equal(live.calls, 1); /* delivery works without a ring */
    assert_int_equal(bus_replay(bus, sub, 0, record, &r), 1);
    assert_int_equal(bus_replay(bus, sub, 1, record, &r), 0);
    assert_int_equal(r.calls, 0);
    bus_unsubscribe(bus, &sub);
    bus_destroy(&bus);
}

/* ---- refcounts ---------------------------------------------------------------------------- */

static bus_event_t *kept;

static void keep_cb(bus_event_t *ev, void *ud)
{
    (void)ud;
    kept = bus_event_ref(ev);
}

static void test_refcounts(void **state)
{
    (void)state;
    bus_t *bus = bus_new(2);
    bus_sub_t *sub = bus_subscribe(bus, "k", keep_cb, NULL);
    bus_publish(bus, "k", json_pack("{s:[i,i]}", "v", 1, 2));
    assert_non_null(kept);
    assert_int_equal(kept->refs, 2); /* the ring's and ours */
    assert_string_equal(kept->data, "{\"v\":[1,2]}");
    assert_int_equal(kept->data_len, strlen(kept->data));
    assert_true(kept->ts_ms > 0);
    bus_event_t *first = kept;

    bus_publish(bus, "k", NULL);
    bus_event_unref(kept);
    bus_publish(bus, "k", NULL); /* evicts the first from the ring */
    assert_int_equal(first->refs, 1);
    assert_string_equal(first->topic, "k"); /* still readable: we hold it */
    bus_event_unref(first);
    bus_event_unref(kept); /* the third */
    bus_event_unref(NULL);

    /* an event held past bus_destroy stays valid */
    bus_publish(bus, "k", json_string("x"));
    bus_unsubscribe(bus, &sub);
    bus_destroy(&bus);
    assert_int_equal(kept->refs, 1);
    assert_string_equal(kept->data, "\"x\"");
    bus_event_unref(kept);
    kept = NULL;
}

/* Pre-encoded payloads: copied into the event's own allocation, delivered and replayed like
 * any other, freed with the event (ASan checks the single allocation). */
static void test_publish_text(void **state)
{
    (void)state;
    bus_t *bus = bus_new(1);
    bus_sub_t *sub = bus_subscribe(bus, "agent.*.output", keep_cb, NULL);
    char text[] = "{\"seq\":1,\"text\":\"hi\"}";
    /* a topic no pattern could name is refused, as bus_publish refuses it */
    assert_int_equal(bus_publish_text(bus, "agent..output", text, strlen(text)), 0);
    assert_int_equal(bus_publish_text(bus, "a,b", text, strlen(text)), 0);
    assert_null(kept);
    uint64_t id = bus_publish_text(bus, "agent.ab12.output", text, strlen(text));
    assert_true(id > 0);
    text[0] = 'X'; /* the event holds its own copy */
    assert_non_null(kept);
    assert_string_equal(kept->data, "{\"seq\":1,\"text\":\"hi\"}");
    assert_int_equal(kept->data_len, strlen(kept->data));
    assert_string_equal(kept->topic, "agent.ab12.output");
    assert_int_equal(bus_publish_text(bus, "agent.ab12.output", NULL, 0), 0);
    bus_event_t *first = kept;
    bus_publish_text(bus, "agent.ab12.output", "{}", 2); /* evicts the first from the ring */
    assert_int_equal(first->refs, 1);
    bus_event_unref(first);
    assert_string_equal(kept->data, "{}");
    bus_unsubscribe(bus, &sub);
    bus_destroy(&bus);
    bus_event_unref(kept);
    kept = NULL;
}

/* ---- SSE ---------------------------------------------------------------------------------- */

static bus_event_t *make_event(uint64_t id, const char *topic, const char *data)
{
    bus_event_t *ev = calloc(1, sizeof *ev);
    ev->id = id;
    ev->topic = strdup(topic);
    ev->data = strdup(data);
    ev->data_len = strlen(data);
    ev->refs = 1;
    return ev;
}

static void free_made(bus_event_t *ev)
{
    /* make_event allocates the topic apart, unlike the bus; free by hand */
    free(ev->topic);
    free(ev->data);
    free(ev);
}

static void enqueue_cb(bus_event_t *ev, void *ud)
{
    assert_true(sse_queue_push(ud, ev));
}

static void test_sse_frames(void **state)
{
    (void)state;
    strbuf_t b;
    strbuf_init(&b, 0);
    bus_event_t *ev = make_event(42, "agent.7.status", "{\"state\":\"up\"}");
    assert_int_equal(sse_frame_append(&b, ev), 0);
    assert_string_equal(b.data, "id: 42\nevent: agent.7.status\ndata: {\"state\":\"up\"}\n\n");
    free_made(ev);

    strbuf_reset(&b);
    ev = make_event(1, "t", "line1\nline2\r\nline3\rline4");
    assert_int_equal(sse_frame_append(&b, ev), 0);
    assert_string_equal(b.data,
                        "id: 1\nevent: t\ndata: line1\ndata: line2\ndata: line3\ndata: line4\n\n");
    free_made(ev);

    strbuf_reset(&b);
    ev = make_event(2, "t", "a\n");
    assert_int_equal(sse_frame_append(&b, ev), 0);
    assert_string_equal(b.data, "id: 2\nevent: t\ndata: a\ndata: \n\n");
    free_made(ev);

    strbuf_reset(&b);
    assert_int_equal(sse_comment_append(&b, "hb"), 0);
    assert_int_equal(sse_comment_append(&b, NULL), 0);
    assert_int_equal(sse_comment_append(&b, "x\ny"), 0);
    assert_string_equal(b.data, ": hb\n\n:\n\n: x\n: y\n\n");

    /* frames appended back to back from real bus events */
    strbuf_reset(&b);
    bus_t *bus = bus_new(4);
    bus_publish(bus, "a.b", json_pack("{s:s}", "m", "x\ny"));
    bus_publish(bus, "c", NULL);
    bus_sub_t *sub = bus_subscribe(bus, "*", order_cb, NULL);
    sse_queue_t q;
    assert_int_equal(sse_queue_init(&q, 4), 0);
    assert_int_equal(bus_replay(bus, sub, 0, enqueue_cb, &q), 0);
    bus_event_t *e;
    while ((e = sse_queue_pop(&q)) != NULL) {
        assert_int_equal(sse_frame_append(&b, e), 0);
        bus_event_unref(e);
    }
    /* JSON escapes the newline, so data stays one line */
    assert_string_equal(b.data, "id: 1\nevent: a.b\ndata: {\"m\":\"x\\ny\"}\n\n"
                                "id: 2\nevent: c\ndata: {}\n\n");
    sse_queue_free(&q);
    bus_unsubscribe(bus, &sub);
    bus_destroy(&bus);

    /* a capped buffer fails whole: nothing half-written stays behind */
    strbuf_t small;
    strbuf_init(&small, 16);
    ev = make_event(3, "topic", "0123456789abcdef");
    assert_int_equal(sse_comment_append(&small, "ok"), 0);
    assert_true(sse_frame_append(&small, ev) < 0);
    assert_string_equal(small.data, ": ok\n\n");
    assert_int_equal(small.len, 6);
    free_made(ev);
    strbuf_free(&small);

    assert_int_equal(sse_frame_append(NULL, NULL), -EINVAL);
    strbuf_free(&b);
}

static void test_sse_queue(void **state)
{
    (void)state;
    sse_queue_t q;
    assert_int_equal(sse_queue_init(&q, 0), -EINVAL);
    assert_int_equal(sse_queue_init(&q, 3), 0);
    assert_null(sse_queue_pop(&q));

    bus_event_t *ev[5];
    for (int i = 0; i < 5; i++)
        ev[i] = make_event((uint64_t)i + 1, "t", "{}");

    assert_true(sse_queue_push(&q, ev[0]));
    assert_true(sse_queue_push(&q, ev[1]));
    assert_int_equal(ev[0]->refs, 2);
    bus_event_t *p = sse_queue_pop(&q);
    assert_ptr_equal(p, ev[0]);
    assert_int_equal(p->refs, 2); /* the popped reference is now ours */
    bus_event_unref(p);
    assert_int_equal(ev[0]->refs, 1);

    /* wrap around, then fill */
    assert_true(sse_queue_push(&q, ev[2]));
    assert_true(sse_queue_push(&q, ev[3]));
    assert_false(q.overflowed);
    assert_int_equal(q.len, 3);
    assert_false(sse_queue_push(&q, ev[4]));
    assert_true(q.overflowed);
    assert_int_equal(ev[4]->refs, 1); /* no reference taken on failure */
    assert_int_equal(q.len, 3);

    /* FIFO order survives the wrap */
    p = sse_queue_pop(&q);
    assert_ptr_equal(p, ev[1]);
    bus_event_unref(p);
    assert_true(q.overflowed); /* sticky: the client is dropped anyway */

    /* free releases what is left */
    sse_queue_free(&q);
    assert_null(q.items);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ev[i]->refs, 1);
        free_made(ev[i]);
    }
    sse_queue_free(&q); /* idempotent */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic_match_table),
        cmocka_unit_test(test_pattern_valid),
        cmocka_unit_test(test_publish_delivery),
        cmocka_unit_test(test_subscription_order),
        cmocka_unit_test(test_unsubscribe_in_callback),
        cmocka_unit_test(test_subscribe_and_publish_in_callback),
        cmocka_unit_test(test_replay),
        cmocka_unit_test(test_replay_without_ring),
        cmocka_unit_test(test_refcounts),
        cmocka_unit_test(test_publish_text),
        cmocka_unit_test(test_sse_frames),
        cmocka_unit_test(test_sse_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
