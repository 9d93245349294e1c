/* Unit tests for the agents' held replies (agents_ack.c): a reply waits for every row and delete
 * queued before it, goes out in order as batches finish, becomes a 503 when the row it reports
 * (or, for a batch command, any row) did not commit, and is answered at shutdown. The batches are
 * simulated: agents_ack_batch_done is what agents_store.c calls when one finishes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "agents/agents_internal.h"
#include "api/api.h"
#include "core/hub.h"
#include "core/metrics.h"

typedef struct captured {
    int calls;
    int status;
    json_t *json;
} captured_t;

static void capture(const api_reply_t *r, void *tctx)
{
    captured_t *c = tctx;
    c->calls++;
    c->status = r->status;
    json_decref(c->json);
    c->json = r->json ? json_deep_copy(r->json) : NULL;
}

static hub_t hub;
static api_registry_t *reg;
static agents_t *ag;

/* what the next request's handler hands to agents_ack_reply */
static const char *next_id;
static bool next_any;

static void h_ack(api_req_t *req, void *ctx)
{
    (void)ctx;
    agents_ack_reply(ag, req, 201, json_pack("{s:s}", "id", next_id ? next_id : ""), next_id,
                     next_any);
}

static void h_ack_empty(api_req_t *req, void *ctx)
{
    (void)ctx;
    agents_ack_reply(ag, req, 204, NULL, next_id, false);
}

static const api_endpoint_t eps[] = {
    {.method = "POST", .path = "/ack", .scope = "agents:write", .handler = h_ack},
    {.method = "DELETE", .path = "/ack", .scope = "agents:write", .handler = h_ack_empty},
};

static int setup(void **state)
{
    (void)state;
    memset(&hub, 0, sizeof hub);
    config_defaults(&hub.cfg);
    hub.metrics = metrics_new();
    reg = api_registry_new(&hub);
    hub.api = reg;
    api_register(reg, eps, sizeof eps / sizeof eps[0]);
    ag = calloc(1, sizeof *ag);
    assert_non_null(ag);
    ag->hub = &hub;
    next_id = NULL;
    next_any = false;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    agents_ack_fini(ag);
    free(ag);
    api_registry_destroy(&reg);
    metrics_destroy(&hub.metrics);
    return 0;
}

/* Dispatches one request; the reply lands in *c (now or later). */
static api_req_t *send_req(captured_t *c, const char *method, const char *id, bool any)
{
    next_id = id;
    next_any = any;
    api_call_t k = {.transport = "test", .method = method, .path = "/ack"};
    return api_dispatch(reg, &k, capture, c);
}

static void test_nothing_queued_replies_at_once(void **state)
{
    (void)state;
    captured_t c = {0};
    assert_null(send_req(&c, "POST", "a1", false));
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.status, 201);
    json_decref(c.json);
}

static void test_reply_waits_for_every_row_queued_before_it(void **state)
{
    (void)state;
    captured_t c1 = {0}, c2 = {0};
    ag->save_seq = 2; /* two rows queued: the first reply waits for both */
    assert_non_null(send_req(&c1, "POST", "a1", false));
    ag->save_seq = 3; /* one more, then a second reply */
    assert_non_null(send_req(&c2, "POST", "a2", false));
    assert_int_equal(api_inflight(reg), 2);

    agents_ack_batch_done(ag, 1, 0, NULL, 0); /* the first row only */
    assert_int_equal(c1.calls, 0);
    agents_ack_batch_done(ag, 1, 0, NULL, 0); /* the second: the first reply goes */
    assert_int_equal(c1.calls, 1);
    assert_int_equal(c1.status, 201);
    assert_string_equal(json_string_value(json_object_get(c1.json, "id")), "a1");
    assert_int_equal(c2.calls, 0);
    agents_ack_batch_done(ag, 1, 0, NULL, 0);
    assert_int_equal(c2.calls, 1);
    assert_int_equal(c2.status, 201);
    assert_int_equal(api_inflight(reg), 0);
    json_decref(c1.json);
    json_decref(c2.json);
}

static void test_deletes_are_waited_for(void **state)
{
    (void)state;
    captured_t c = {0};
    ag->del_seq = 1;
    assert_non_null(send_req(&c, "DELETE", "a1", false));
    agents_ack_batch_done(ag, 0, 0, NULL, 0); /* a batch without the delete */
    assert_int_equal(c.calls, 0);
    agents_ack_batch_done(ag, 0, 1, NULL, 0);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.status, 204);
}

static void test_failed_row_turns_its_reply_into_503(void **state)
{
    (void)state;
    captured_t bad = {0}, good = {0};
    ag->save_seq = 2;
    assert_non_null(send_req(&bad, "POST", "a1", false));
    assert_non_null(send_req(&good, "POST", "a2", false));
    const char *failed[] = {"a1"};
    agents_ack_batch_done(ag, 2, 0, failed, 1);
    assert_int_equal(bad.calls, 1);
    assert_int_equal(bad.status, 503);
    assert_string_equal(json_string_value(json_object_get(bad.json, "agent")), "a1");
    assert_non_null(strstr(json_string_value(json_object_get(bad.json, "type")), "store-error"));
    assert_int_equal(good.calls, 1);
    assert_int_equal(good.status, 201);
    assert_int_equal(ag->errors, 1);
    json_decref(bad.json);
    json_decref(good.json);
}

static void test_failure_in_an_earlier_batch_counts(void **state)
{
    (void)state;
    /* the reply's row was in the batch in flight, which failed; a later batch releases it */
    captured_t c = {0};
    ag->save_seq = 2;
    assert_non_null(send_req(&c, "POST", "a1", false));
    const char *failed[] = {"a1"};
    agents_ack_batch_done(ag, 1, 0, failed, 1);
    assert_int_equal(c.calls, 0);
    agents_ack_batch_done(ag, 1, 0, NULL, 0);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.status, 503);
    json_decref(c.json);
}

static void test_any_fails_on_any_row(void **state)
{
    (void)state;
    captured_t batch = {0}, other = {0};
    ag->save_seq = 1;
    assert_non_null(send_req(&batch, "POST", NULL, true));
    assert_non_null(send_req(&other, "POST", "a9", false));
    const char *failed[] = {"a3"};
    agents_ack_batch_done(ag, 1, 0, failed, 1);
    assert_int_equal(batch.status, 503);
    assert_int_equal(other.status, 201); /* its own row did not fail */
    json_decref(batch.json);
    json_decref(other.json);
}

static void test_shutdown_answers_what_waits(void **state)
{
    (void)state;
    captured_t c = {0};
    ag->save_seq = 1;
    assert_non_null(send_req(&c, "POST", "a1", false));
    agents_ack_fini(ag);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.status, 503);
    assert_non_null(strstr(json_string_value(json_object_get(c.json, "type")), "shutting-down"));
    assert_int_equal(api_inflight(reg), 0);
    json_decref(c.json);
}

static void test_client_gone_before_the_commit(void **state)
{
    (void)state;
    captured_t c = {0};
    ag->save_seq = 1;
    api_req_t *r = send_req(&c, "POST", "a1", false);
    assert_non_null(r);
    api_call_cancel(r);
    agents_ack_batch_done(ag, 1, 0, NULL, 0);
    assert_int_equal(c.calls, 0); /* nobody to tell, and nothing leaks (ASan) */
    assert_int_equal(api_inflight(reg), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nothing_queued_replies_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reply_waits_for_every_row_queued_before_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_deletes_are_waited_for, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_row_turns_its_reply_into_503, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_in_an_earlier_batch_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_any_fails_on_any_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_answers_what_waits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_gone_before_the_commit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
