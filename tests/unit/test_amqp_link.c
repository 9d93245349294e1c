/* net/amqp_link without a broker: librabbitmq resolves every function ganglion calls; names with
 * a wildcard are refused; a link whose broker is unreachable refuses work with -ENOTCONN and is
 * destroyed promptly while it retries. (With a broker: tests/integration/test_tasks_rabbitmq.py.)
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "net/amqp_dl.h"
#include "net/amqp_link.h"

static int events;
static void on_event(void *ud, const amqp_link_ev_t *ev)
{
    (void)ud;
    (void)ev;
    events++;
}

static void test_library_loads(void **state)
{
    (void)state;
    char err[256] = "";
    assert_int_equal(amqp_dl_load(err, sizeof err), 0);
    assert_non_null(lamqp->amqp_basic_publish);
    assert_non_null(lamqp->amqp_error_string2);
}

static void test_wildcards_refused(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    amqp_link_t *l = NULL;
    char err[256] = "";
    assert_int_equal(amqp_link_start(&loop, "amqp://127.0.0.1:1/%2F", "ex#", "event.t", on_event,
                                     NULL, &l, err, sizeof err),
                     -1);
    assert_null(l);
    assert_non_null(strstr(err, "wildcard"));
    uv_loop_close(&loop);
}

static void test_unreachable_broker(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    amqp_link_t *l = NULL;
    char err[256] = "";
    assert_int_equal(amqp_link_start(&loop, "amqp://guest:guest@127.0.0.1:1/%2F", "test.ex",
                                     "event.t", on_event, NULL, &l, err, sizeof err),
                     0);
    assert_non_null(l);
    uint64_t id = 0;
    assert_false(amqp_link_up(l));
    assert_int_equal(amqp_link_publish(l, "offer.any", "{}", 2, &id), -ENOTCONN);
    assert_int_equal(amqp_link_get(l, "offer.any"), -ENOTCONN);
    assert_int_equal(amqp_link_publish(l, "offer.cap.*", "{}", 2, &id), -EINVAL);
    char long_key[AMQP_LINK_KEY_MAX + 2];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    assert_int_equal(amqp_link_get(l, long_key), -EINVAL);
    amqp_link_settle(l, 1, 1, false); /* of no connection: nothing to do, nothing leaks */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    amqp_link_destroy(&l);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_null(l);
    assert_true(t1.tv_sec - t0.tv_sec < 3); /* the backoff wait is interrupted */
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(events, 0); /* never connected: no UP, nothing published */
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_library_loads),
        cmocka_unit_test(test_wildcards_refused),
        cmocka_unit_test(test_unreachable_broker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
