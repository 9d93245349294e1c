/* Unit tests for the HTTP/1.1 server's pieces: the chunked body decoder (whole and byte by byte,
 * extensions, trailers, every refusal), splitting a checked head, and a connection's state
 * machine over a socketpair on a real libuv loop (keep-alive, pipelining in order, refusals that
 * close, and backpressure: a client that does not read stops the reading of its requests). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <fcntl.h>
#include <uv.h>

#include "core/strbuf.h"
#include "net/http_chunked.h"
#include "net/http_conn.h"
#include "net/http_head.h"

/* ---- the chunked decoder ------------------------------------------------------------------ */

static int sink(void *ud, const char *data, size_t len)
{
    return strbuf_append(ud, data, len);
}

/* Feeds in whole (step 0) or step bytes at a time; returns the final result. */
static int feed(const char *in, size_t len, size_t step, uint64_t max, strbuf_t *out,
                size_t *consumed, http_head_verdict_t *v)
{
    http_chunked_t c;
    http_chunked_init(&c, max, 1024);
    size_t off = 0;
    int rc = HTTP_CHUNKED_MORE;
    while (off < len && rc == HTTP_CHUNKED_MORE) {
        size_t n = step ? (len - off < step ? len - off : step) : len - off;
        size_t used = 0;
        rc = http_chunked_feed(&c, in + off, n, &used, sink, out, v);
        off += used;
    }
    *consumed = off;
    return rc;
}

static void test_chunked_whole_and_bytewise(void **state)
{
    (void)state;
    static const char body[] = "4;name=value\r\nWiki\r\n5\r\npedia\r\n0000E\r\n in\r\n\r\nchunks."
                               "\r\n0\r\nX-Trailer: t\r\nY: u\r\n\r\nGET / HTTP/1.1";
    size_t rest = strlen("GET / HTTP/1.1");
    for (size_t step = 0; step <= 3; step++) {
        strbuf_t out;
        strbuf_init(&out, 0);
        http_head_verdict_t v;
        size_t used;
        int rc = feed(body, sizeof body - 1, step, 1000, &out, &used, &v);
        assert_int_equal(rc, HTTP_CHUNKED_DONE);
        assert_int_equal(used, sizeof body - 1 - rest); /* the next request is left alone */
        assert_int_equal(out.len, 23);
        assert_memory_equal(out.data, "Wikipedia in\r\n\r\nchunks.", 23);
        strbuf_free(&out);
    }
}

static void expect_refusal(const char *in, uint64_t max, int status, const char *words)
{
    for (size_t step = 0; step <= 1; step++) {
        strbuf_t out;
        strbuf_init(&out, 0);
        http_head_verdict_t v;
        size_t used;
        int rc = feed(in, strlen(in), step, max, &out, &used, &v);
        if (rc != HTTP_CHUNKED_ERROR)
            fail_msg("%s: accepted", in);
        assert_int_equal(v.status, status);
        if (!strstr(v.detail, words))
            fail_msg("%s: detail \"%s\" lacks \"%s\"", in, v.detail, words);
        strbuf_free(&out);
    }
}

static void test_chunked_refusals(void **state)
{
    (void)state;
    expect_refusal("zz\r\n", 100, 400, "hexadecimal");
    expect_refusal("\r\n", 100, 400, "missing");
    expect_refusal(" 5\r\n", 100, 400, "blank");
    expect_refusal("2\r\nabcd\r\n", 100, 400, "CRLF");
    expect_refusal("2\r\nab\n", 100, 400, "CRLF");
    expect_refusal("2\nab\r\n", 100, 400, "LF");
    expect_refusal("10000000000000000\r\n", UINT64_MAX, 413, "2^64");
    expect_refusal("65\r\n", 100, 413, "100 bytes");
    expect_refusal("0\r\nX: a\nb\r\n\r\n", 100, 400, "trailer");
    /* leading zeros do not count towards the 16 digits of a 64-bit size */
    static const char zeros[] = "00000000000000000000000001\r\nx\r\n0\r\n\r\n";
    strbuf_t out;
    strbuf_init(&out, 0);
    http_head_verdict_t v;
    size_t used;
    assert_int_equal(feed(zeros, sizeof zeros - 1, 0, 100, &out, &used, &v), HTTP_CHUNKED_DONE);
    assert_int_equal(out.len, 1);
    strbuf_free(&out);
}

static void test_chunked_limits(void **state)
{
    (void)state;
    /* two chunks of 60 within 100: the second's size is refused before its data arrives */
    char in[256];
    memset(in, 'a', sizeof in);
    memcpy(in, "3c\r\n", 4);
    memcpy(in + 4 + 60, "\r\n3c\r\n", 6);
    strbuf_t out;
    strbuf_init(&out, 0);
    http_head_verdict_t v;
    size_t used;
    assert_int_equal(feed(in, 70, 0, 100, &out, &used, &v), HTTP_CHUNKED_ERROR);
    assert_int_equal(v.status, 413);
    assert_int_equal(out.len, 60);
    strbuf_free(&out);

    /* a size line with endless extensions, and endless trailers */
    char big[HTTP_CHUNKED_LINE_MAX + 16];
    memset(big, 'e', sizeof big);
    memcpy(big, "1;", 2);
    strbuf_init(&out, 0);
    assert_int_equal(feed(big, sizeof big, 0, 100, &out, &used, &v), HTTP_CHUNKED_ERROR);
    assert_int_equal(v.status, 400);
    char tr[2048];
    memset(tr, 't', sizeof tr);
    memcpy(tr, "0\r\n", 3);
    assert_int_equal(feed(tr, sizeof tr, 0, 100, &out, &used, &v), HTTP_CHUNKED_ERROR);
    assert_int_equal(v.status, 431);
    strbuf_free(&out);
}

/* ---- splitting a head --------------------------------------------------------------------- */

static void test_head_split(void **state)
{
    (void)state;
    char head[] = "\r\nPOST /a?b=1 HTTP/1.0\r\nHost:  x \r\nEmpty:\r\nX-Y: a b\t\r\n\r\nbody";
    http_head_limits_t lim = {.header_max = 1024, .uri_max = 256, .body_max = 10};
    http_head_verdict_t v;
    assert_int_equal(http_head_check(head, strlen(head), &lim, &v), HTTP_HEAD_OK);
    http_head_field_t fields[HTTP_HEAD_FIELDS_MAX];
    http_head_parts_t p = {.fields = fields};
    size_t len = strlen(head);
    http_head_split(head, len, &p);
    assert_string_equal(p.method, "POST");
    assert_string_equal(p.target, "/a?b=1");
    assert_false(p.http11);
    assert_int_equal(p.nfields, 3);
    assert_string_equal(fields[0].name, "Host");
    assert_string_equal(fields[0].value, "x");
    assert_string_equal(fields[1].value, "");
    assert_string_equal(fields[2].value, "a b");
    assert_int_equal(p.head_len, len - 4);
}

/* ---- a connection over a socketpair ------------------------------------------------------- */

typedef struct fixture {
    uv_loop_t loop;
    http_conn_env_t env;
    http_conn_ops_t ops;
    http_conn_t *conn;
    int client;
    int requests, refusals, closed;
    int last_status;
    size_t reply_size;  /* body bytes of each reply */
    size_t max_pending; /* the most output ever buffered when a request arrived */
    char targets[64][32];
} fixture_t;

static void reply(http_conn_t *c, fixture_t *f, int status, size_t size)
{
    strbuf_t *o = http_conn_out(c);
    strbuf_printf(o, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n\r\n", status, size);
    for (size_t i = 0; i < size; i++)
        strbuf_append(o, "x", 1);
    (void)f;
}

static void on_request(http_conn_t *c, const http_request_t *rq, void *ud)
{
    fixture_t *f = ud;
    size_t pending = http_conn_out_pending(c);
    if (pending > f->max_pending)
        f->max_pending = pending;
    if (f->requests < 64)
        snprintf(f->targets[f->requests], sizeof f->targets[0], "%s", rq->target);
    f->requests++;
    reply(c, f, 200, f->reply_size);
    http_conn_respond(c, HTTP_CONN_DONE);
}

static void on_refuse(http_conn_t *c, const http_request_t *rq, problem_t *p, void *ud)
{
    (void)rq;
    fixture_t *f = ud;
    f->refusals++;
    f->last_status = problem_status(p);
    reply(c, f, problem_status(p), 0);
    problem_destroy(&p);
    http_conn_respond(c, HTTP_CONN_CLOSE);
}

static void on_closed(http_conn_t *c, void *ud)
{
    (void)c;
    ((fixture_t *)ud)->closed++;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    uv_loop_init(&f->loop);
    f->ops.request = on_request;
    f->ops.refuse = on_refuse;
    f->ops.closed = on_closed;
    f->env.loop = &f->loop;
    f->env.ops = &f->ops;
    f->env.ud = f;
    f->env.head = (http_head_limits_t){.header_max = 4096, .uri_max = 1024, .body_max = 100};
    f->env.header_timeout_ms = 2000;
    f->env.idle_ms = 2000;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    f->client = sv[1];
    assert_int_equal(http_conn_start(&f->env, sv[0], NULL, 0, &f->conn), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    http_conn_env_close_all(&f->env);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    close(f->client);
    free(f);
    return 0;
}

static void spin(fixture_t *f, int turns)
{
    for (int i = 0; i < turns; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
}

static size_t drain(fixture_t *f, char *buf, size_t cap)
{
    size_t n = 0;
    for (int i = 0; i < 50; i++) {
        spin(f, 2);
        ssize_t r = recv(f->client, buf + n, cap - n - 1, 0);
        if (r > 0)
            n += (size_t)r;
    }
    buf[n] = '\0';
    return n;
}

static void test_conn_pipelined_in_order(void **state)
{
    fixture_t *f = *state;
    const char *reqs = "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
                       "POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                       "POST /3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "1\r\nz\r\n0\r\n\r\n"
                       "GET /4 HTTP/1.0\r\n\r\n";
    assert_int_equal(send(f->client, reqs, strlen(reqs), 0), (ssize_t)strlen(reqs));
    char buf[4096];
    drain(f, buf, sizeof buf);
    assert_int_equal(f->requests, 4);
    assert_string_equal(f->targets[0], "/1");
    assert_string_equal(f->targets[1], "/2");
    assert_string_equal(f->targets[2], "/3");
    assert_string_equal(f->targets[3], "/4");
    /* HTTP/1.0 without keep-alive ends the connection: the server shuts its side, then
     * closes when the client does */
    assert_int_equal(recv(f->client, buf, sizeof buf, 0), 0);
    shutdown(f->client, SHUT_WR);
    spin(f, 10);
    assert_int_equal(f->closed, 1);
    assert_int_equal(f->refusals, 0);
}

/* The same requests a byte at a time: partial heads, bodies and chunk lines at every cut. */
static void test_conn_bytewise(void **state)
{
    fixture_t *f = *state;
    const char *reqs = "\r\nGET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
                       "POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                       "POST /3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "1;a=b\r\nz\r\n0\r\nT: 1\r\n\r\n"
                       "GET /4 HTTP/1.1\r\nHost: x\r\n\r\n";
    char buf[4096];
    for (size_t i = 0; reqs[i]; i++) {
        assert_int_equal(send(f->client, reqs + i, 1, 0), 1);
        spin(f, 2);
        while (recv(f->client, buf, sizeof buf, 0) > 0)
            ;
    }
    spin(f, 4);
    assert_int_equal(f->requests, 4);
    assert_string_equal(f->targets[0], "/1");
    assert_string_equal(f->targets[2], "/3");
    assert_string_equal(f->targets[3], "/4");
    assert_int_equal(f->refusals, 0);
    assert_int_equal(f->closed, 0); /* keep-alive: still open */
}

static void spin_for_ms(fixture_t *f, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        usleep(10000);
        spin(f, 1);
    }
}

/* A later head that never ends gets 408 after the head timeout; a silent keep-alive connection
 * is closed after the idle timeout, without a reply. */
static void test_conn_timeouts(void **state)
{
    fixture_t *f = *state;
    f->env.header_timeout_ms = 100;
    f->env.idle_ms = 300;
    const char *one = "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\n";
    send(f->client, one, strlen(one), 0);
    spin_for_ms(f, 300);
    assert_int_equal(f->requests, 1);
    assert_int_equal(f->refusals, 1);
    assert_int_equal(f->last_status, 408);

    /* a second connection that answers one request and then hears nothing */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    http_conn_t *c2;
    assert_int_equal(http_conn_start(&f->env, sv[0], NULL, 0, &c2), 0);
    const char *req = "GET /3 HTTP/1.1\r\nHost: x\r\n\r\n";
    send(sv[1], req, strlen(req), 0);
    spin_for_ms(f, 150); /* past the head timeout: idle between requests is not a head */
    int closed = f->closed;
    assert_int_equal(f->refusals, 1);
    spin_for_ms(f, 400);
    assert_int_equal(f->refusals, 1);
    assert_true(f->closed > closed);
    char buf[256];
    ssize_t n;
    do
        n = recv(sv[1], buf, sizeof buf, 0);
    while (n > 0);
    assert_int_equal(n, 0); /* the client sees the close */
    close(sv[1]);
}

/* Random bytes, and valid requests with bytes flipped, each followed by the client's close:
 * every connection ends (and under the sanitizers, without an error or a leak). */
static void test_conn_random_input(void **state)
{
    fixture_t *f = *state;
    static const char good[] = "POST /r HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                               "\r\n4\r\nabcd\r\n0\r\n\r\n";
    unsigned seed = 12345;
    char buf[2048], sink[65536];
    for (int round = 0; round < 300; round++) {
        size_t n = (size_t)(rand_r(&seed) % sizeof buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)(rand_r(&seed) & 0xff);
        if (round % 2) { /* a valid request with a few bytes flipped */
            n = sizeof good - 1;
            memcpy(buf, good, n);
            for (int k = 0; k < 3; k++)
                buf[rand_r(&seed) % n] = (char)(rand_r(&seed) & 0xff);
        }
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
        http_conn_t *c;
        assert_int_equal(http_conn_start(&f->env, sv[0], NULL, 0, &c), 0);
        send(sv[1], buf, n, 0);
        shutdown(sv[1], SHUT_WR);
        spin(f, 6);
        while (recv(sv[1], sink, sizeof sink, 0) > 0)
            ;
        close(sv[1]);
        spin(f, 4);
    }
    http_conn_env_close_all(&f->env);
    spin(f, 2);
    assert_int_equal(f->closed, 301); /* every one of them, and the fixture's */
}

static void test_conn_bad_chunk_closes(void **state)
{
    fixture_t *f = *state;
    const char *reqs = "POST /1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "g\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n";
    send(f->client, reqs, strlen(reqs), 0);
    char buf[4096];
    drain(f, buf, sizeof buf);
    assert_int_equal(f->requests, 0);
    assert_int_equal(f->refusals, 1);
    assert_int_equal(f->last_status, 400);
    assert_non_null(strstr(buf, "HTTP/1.1 400"));
    assert_null(strstr(buf, "HTTP/1.1 200"));
}

static void test_conn_second_head_checked(void **state)
{
    fixture_t *f = *state;
    const char *reqs = "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/3.0\r\nHost: x\r\n\r\n";
    send(f->client, reqs, strlen(reqs), 0);
    char buf[4096];
    drain(f, buf, sizeof buf);
    assert_int_equal(f->requests, 1);
    assert_int_equal(f->last_status, 505);
}

static void test_conn_backpressure(void **state)
{
    fixture_t *f = *state;
    f->reply_size = 256 * 1024;
    /* many small requests, never read: each big reply waits until the client reads */
    char req[] = "GET /x HTTP/1.1\r\nHost: x\r\n\r\n";
    int sent = 0;
    for (int i = 0; i < 2000; i++) {
        if (send(f->client, req, sizeof req - 1, 0) != (ssize_t)(sizeof req - 1))
            break;
        sent++;
        if (i % 50 == 0)
            spin(f, 2);
    }
    spin(f, 50);
    assert_true(f->requests < sent);
    assert_true(f->requests <= 4); /* a socket buffer or two, never hundreds of replies */
    assert_int_equal(f->max_pending, 0);
    /* reading lets it go on */
    char buf[65536];
    for (int i = 0; i < 400; i++) {
        spin(f, 1);
        while (recv(f->client, buf, sizeof buf, 0) > 0)
            ;
    }
    assert_true(f->requests > 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunked_whole_and_bytewise),
        cmocka_unit_test(test_chunked_refusals),
        cmocka_unit_test(test_chunked_limits),
        cmocka_unit_test(test_head_split),
        cmocka_unit_test_setup_teardown(test_conn_pipelined_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conn_bytewise, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conn_bad_chunk_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conn_timeouts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conn_random_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conn_second_head_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conn_backpressure, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
