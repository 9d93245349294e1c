/* Registry tests: routing (404/405/params), the auth and audit hooks, query and body validation
 * with field errors, a body the transport decodes only past routing and auth, asynchronous
 * replies and cancellation, and the OpenAPI document. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_owner.h"
#include "core/hub.h"
#include "core/metrics.h"

typedef struct captured {
    int calls;
    int status;
    json_t *json;
    char allow[128];
    char request_id[80];
    bool stream;
    bool in_dispatch;
} captured_t;

static void capture(const api_reply_t *r, void *tctx)
{
    captured_t *c = tctx;
    c->calls++;
    c->status = r->status;
    c->json = r->json ? json_deep_copy(r->json) : NULL;
    c->stream = r->stream;
    c->in_dispatch = r->in_dispatch;
    snprintf(c->request_id, sizeof c->request_id, "%s", r->request_id ? r->request_id : "");
    c->allow[0] = '\0';
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcmp(r->headers[2 * i], "Allow") == 0)
            snprintf(c->allow, sizeof c->allow, "%s", r->headers[2 * i + 1]);
}

static api_req_t *pending;
static int audit_calls;
static int handler_calls;

static void h_echo(api_req_t *req, void *ctx)
{
    handler_calls++;
    json_t *out =
        json_pack("{s:O,s:O,s:O}", "params", api_req_params(req), "query", api_req_query(req),
                  "body", api_req_body(req) ? api_req_body(req) : json_null());
    api_reply_json(req, 200, out);
}

static void h_later(api_req_t *req, void *ctx)
{
    handler_calls++;
    pending = req;
}

static const char *const modes[] = {"fast", "slow", NULL};
static const api_field_t q_list[] = {{.name = "limit",
                                      .type = API_T_INTEGER,
                                      .flags = API_F_MIN | API_F_MAX,
                                      .min = 1,
                                      .max = 100,
                                      .def = "50"},
                                     {.name = "all", .type = API_T_BOOLEAN},
                                     {.name = "mode", .type = API_T_STRING, .enums = modes},
                                     {0}};
static const api_field_t p_id[] = {
    {.name = "id", .type = API_T_INTEGER, .flags = API_F_MIN, .min = 1}, {0}};
static const api_field_t inner[] = {
    {.name = "mem", .type = API_T_INTEGER, .flags = API_F_MIN, .min = 0}, {0}};
static const api_field_t str_item = {.type = API_T_STRING, .flags = API_F_MAX, .max = 3};
static const api_field_t b_spawn[] = {
    {.name = "name",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 8},
    {.name = "limits", .type = API_T_OBJECT, .props = inner},
    {.name = "argv", .type = API_T_ARRAY, .flags = API_F_MAX, .max = 3, .items = &str_item},
    {.name = "flag", .type = API_T_BOOLEAN},
    {0}};

static const api_endpoint_t eps[] = {
    {.method = "GET",
     .path = "/things",
     .scope = "things:read",
     .query = q_list,
     .handler = h_echo},
    {.method = "POST",
     .path = "/things",
     .scope = "things:write",
     .body_kind = API_BODY_JSON,
     .body = b_spawn,
     .handler = h_echo},
    {.method = "GET",
     .path = "/things/{id}",
     .scope = "things:read",
     .params = p_id,
     .handler = h_echo},
    {.method = "DELETE",
     .path = "/things/{id}",
     .scope = "things:write",
     .params = p_id,
     .handler = h_echo},
    {.method = "GET", .path = "/things/special", .scope = "things:read", .handler = h_echo},
    {.method = "POST", .path = "/later", .scope = "things:write", .handler = h_later},
};

static hub_t hub;
static api_registry_t *reg;

static void audit_hook(api_req_t *req, int status, void *ud)
{
    audit_calls++;
}

static int setup(void **state)
{
    memset(&hub, 0, sizeof hub);
    config_defaults(&hub.cfg);
    hub.metrics = metrics_new();
    reg = api_registry_new(&hub);
    hub.api = reg;
    api_register(reg, eps, sizeof eps / sizeof eps[0]);
    api_audit_hook_set(reg, audit_hook, NULL);
    audit_calls = handler_calls = 0;
    pending = NULL;
    return 0;
}

static int teardown(void **state)
{
    api_registry_destroy(&reg);
    metrics_destroy(&hub.metrics);
    return 0;
}

static captured_t call(const char *method, const char *path, const char *query, const char *ct,
                       const char *body)
{
    captured_t c = {0};
    api_call_t k = {.transport = "test",
                    .method = method,
                    .path = path,
                    .query = query,
                    .content_type = ct,
                    .body = body,
                    .body_len = body ? strlen(body) : 0};
    api_dispatch(reg, &k, capture, &c);
    return c;
}

static const char *first_error_field(const captured_t *c)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(c->json, "errors"), 0), "field"));
}

static void test_not_found_and_method(void **state)
{
    captured_t c = call("GET", "/nope", NULL, NULL, NULL);
    assert_int_equal(c.status, 404);
    assert_string_equal(json_string_value(json_object_get(c.json, "type")),
                        "urn:ganglion:problem:not-found");
    json_decref(c.json);

    c = call("PUT", "/things", NULL, NULL, NULL);
    assert_int_equal(c.status, 405);
    assert_string_equal(c.allow, "GET, POST");
    json_decref(c.json);

    c = call("GET", "/things/", NULL, NULL, NULL);
    assert_int_equal(c.status, 404);
    json_decref(c.json);
    assert_int_equal(handler_calls, 0);
}

static void test_path_params_and_literal_precedence(void **state)
{
    captured_t c = call("GET", "/things/42", NULL, NULL, NULL);
    assert_int_equal(c.status, 200);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(c.json, "params"), "id")),
                     42);
    json_decref(c.json);

    c = call("GET", "/things/special", NULL, NULL, NULL);
    assert_int_equal(c.status, 200);
    assert_int_equal(json_object_size(json_object_get(c.json, "params")), 0);
    json_decref(c.json);

    c = call("GET", "/things/abc", NULL, NULL, NULL);
    assert_int_equal(c.status, 422);
    assert_string_equal(first_error_field(&c), "id");
    json_decref(c.json);

    c = call("GET", "/things/0", NULL, NULL, NULL);
    assert_int_equal(c.status, 422);
    json_decref(c.json);
}

static void test_query_conversion(void **state)
{
    captured_t c = call("GET", "/things", "all=true&mode=slow", NULL, NULL);
    assert_int_equal(c.status, 200);
    json_t *q = json_object_get(c.json, "query");
    assert_int_equal(json_integer_value(json_object_get(q, "limit")), 50); /* default */
    assert_true(json_is_true(json_object_get(q, "all")));
    assert_string_equal(json_string_value(json_object_get(q, "mode")), "slow");
    json_decref(c.json);

    c = call("GET", "/things", "limit=500", NULL, NULL);
    assert_int_equal(c.status, 422);
    assert_string_equal(first_error_field(&c), "limit");
    json_decref(c.json);

    c = call("GET", "/things", "mode=medium", NULL, NULL);
    assert_int_equal(c.status, 422);
    json_decref(c.json);

    c = call("GET", "/things", "limt=5", NULL, NULL);
    assert_int_equal(c.status, 422);
    assert_string_equal(first_error_field(&c), "limt");
    json_decref(c.json);

    c = call("GET", "/things", "mode=%zz", NULL, NULL);
    assert_int_equal(c.status, 422);
    json_decref(c.json);

    c = call("GET", "/things", "limit=1&limit=2", NULL, NULL);
    assert_int_equal(c.status, 422);
    json_decref(c.json);
}

static void test_body_validation(void **state)
{
    captured_t c = call("POST", "/things", NULL, "application/json",
                        "{\"name\":\"x\",\"limits\":{\"mem\":5},\"argv\":[\"a\"]}");
    assert_int_equal(c.status, 200);
    json_decref(c.json);

    c = call("POST", "/things", NULL, "application/json", "{\"limits\":{\"mem\":-1}}");
    assert_int_equal(c.status, 422);
    json_t *errs = json_object_get(c.json, "errors");
    assert_int_equal(json_array_size(errs), 2);
    assert_string_equal(first_error_field(&c), "/name");
    assert_string_equal(json_string_value(json_object_get(json_array_get(errs, 1), "field")),
                        "/limits/mem");
    json_decref(c.json);

    c = call("POST", "/things", NULL, "application/json",
             "{\"name\":\"x\",\"argv\":[\"ok\",\"toolong\"],\"extra\":1,\"flag\":\"yes\"}");
    assert_int_equal(c.status, 422);
    assert_int_equal(json_array_size(json_object_get(c.json, "errors")), 3);
    json_decref(c.json);

    c = call("POST", "/things", NULL, "application/json", "[1,2]");
    assert_int_equal(c.status, 422);
    json_decref(c.json);

    c = call("POST", "/things", NULL, "application/json", "{\"name\":");
    assert_int_equal(c.status, 400);
    assert_string_equal(json_string_value(json_object_get(c.json, "type")),
                        "urn:ganglion:problem:malformed-json");
    json_decref(c.json);

    c = call("POST", "/things", NULL, "text/plain", "{\"name\":\"x\"}");
    assert_int_equal(c.status, 415);
    json_decref(c.json);

    c = call("POST", "/things", NULL, "application/json; charset=utf-8", "{\"name\":\"x\"}");
    assert_int_equal(c.status, 200);
    json_decref(c.json);

    char deep[300];
    memset(deep, '[', 200);
    deep[200] = '\0';
    c = call("POST", "/things", NULL, "application/json", deep);
    assert_int_equal(c.status, 400);
    assert_string_equal(json_string_value(json_object_get(c.json, "type")),
                        "urn:ganglion:problem:json-too-deep");
    json_decref(c.json);

    c = call("GET", "/things/1", NULL, "application/json", "{\"a\":1}");
    assert_int_equal(c.status, 400);
    json_decref(c.json);
}

static void test_async_reply_and_cancel(void **state)
{
    captured_t c = {0};
    api_call_t k = {.transport = "test", .method = "POST", .path = "/later"};
    api_req_t *r = api_dispatch(reg, &k, capture, &c);
    assert_non_null(r);
    assert_ptr_equal(r, pending);
    assert_int_equal(c.calls, 0);
    assert_int_equal(api_inflight(reg), 1);
    api_reply_json(pending, 202, json_pack("{s:b}", "done", 1));
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.status, 202);
    assert_int_equal(api_inflight(reg), 0);
    json_decref(c.json);

    captured_t c2 = {0};
    r = api_dispatch(reg, &k, capture, &c2);
    assert_non_null(r);
    api_call_cancel(r);
    api_reply_json(pending, 200, NULL);
    assert_int_equal(c2.calls, 0); /* transport gone: not called */
    assert_int_equal(api_inflight(reg), 0);
    assert_int_equal(audit_calls, 2);
}

/* "Replied yet?" is the registry's: a reply inside api_dispatch says so (and dispatch returns
 * NULL), a later one does not, whatever the transport tracks. */
static void test_reply_in_dispatch_flag(void **state)
{
    captured_t c = {0};
    api_call_t k = {.transport = "test", .method = "GET", .path = "/things/7"};
    assert_null(api_dispatch(reg, &k, capture, &c));
    assert_int_equal(c.calls, 1);
    assert_true(c.in_dispatch);
    json_decref(c.json);

    captured_t n = {0};
    k.path = "/nothing-here";
    assert_null(api_dispatch(reg, &k, capture, &n));
    assert_true(n.in_dispatch);
    assert_int_equal(n.status, 404);
    json_decref(n.json);

    captured_t l = {0};
    api_call_t kl = {.transport = "test", .method = "POST", .path = "/later"};
    assert_non_null(api_dispatch(reg, &kl, capture, &l));
    api_reply_json(pending, 200, NULL);
    assert_int_equal(l.calls, 1);
    assert_false(l.in_dispatch);
    json_decref(l.json);
}

static void test_audit_only_mutations(void **state)
{
    captured_t c = call("GET", "/things/1", NULL, NULL, NULL);
    json_decref(c.json);
    assert_int_equal(audit_calls, 0);
    c = call("DELETE", "/things/1", NULL, NULL, NULL);
    json_decref(c.json);
    assert_int_equal(audit_calls, 1);
    c = call("DELETE", "/things/x", NULL, NULL, NULL); /* rejected, still audited */
    json_decref(c.json);
    assert_int_equal(audit_calls, 2);
}

static problem_t *deny_writes(api_req_t *req, const api_endpoint_t *ep, void *ud)
{
    if (strstr(ep->scope, ":write"))
        return problem_new(403, "forbidden", "missing scope %s", ep->scope);
    return NULL;
}

static void test_auth_hook_runs_before_validation(void **state)
{
    api_auth_hook_set(reg, deny_writes, NULL);
    captured_t c = call("POST", "/things", NULL, "application/json", "not json");
    assert_int_equal(c.status, 403);
    json_decref(c.json);
    c = call("GET", "/things/3", NULL, NULL, NULL);
    assert_int_equal(c.status, 200);
    json_decref(c.json);
    api_auth_hook_set(reg, NULL, NULL);
}

/* A transport's lazy body (ZMQ): decoded once, and only for a request that got past routing
 * and the auth hook; its decode problem is the reply. */
static int lazy_decodes;
static json_t *lazy_body(void *tctx, size_t max_depth, problem_t **p)
{
    lazy_decodes++;
    json_t *v = json_loads(tctx, 0, NULL);
    if (!v)
        *p = problem_new(400, "malformed-body", "the test body is not JSON");
    return v;
}

static void test_lazy_body_after_auth(void **state)
{
    struct {
        const char *method, *path, *body;
        bool deny;
        int status, decodes;
    } cases[] = {
        {"POST", "/nowhere", "{\"name\":\"x\"}", false, 404, 0},
        {"PUT", "/things", "{\"name\":\"x\"}", false, 405, 0},
        {"POST", "/things", "{\"name\":\"x\"}", true, 403, 0},
        {"POST", "/things", "{\"name\":\"x\"}", false, 200, 1},
        {"POST", "/things", "{\"name\":", false, 400, 1},
        {"GET", "/things/1", "{}", false, 200, 1},
        {"GET", "/things/1", "{\"a\":1}", false, 400, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        api_auth_hook_set(reg, cases[i].deny ? deny_writes : NULL, NULL);
        lazy_decodes = 0;
        captured_t c = {0};
        api_call_t k = {.transport = "test",
                        .method = cases[i].method,
                        .path = cases[i].path,
                        .content_type = "application/json",
                        .body_decode = lazy_body,
                        .transport_ctx = (void *)(uintptr_t)cases[i].body};
        api_dispatch(reg, &k, capture, &c);
        if (c.status != cases[i].status || lazy_decodes != cases[i].decodes)
            fail_msg("case %zu: status %d, %d decodes", i, c.status, lazy_decodes);
        json_decref(c.json);
    }
    api_auth_hook_set(reg, NULL, NULL);
}

static void test_request_ids(void **state)
{
    captured_t c = {0};
    api_call_t k = {.method = "GET", .path = "/things/1", .request_id = "client-abc.1"};
    api_dispatch(reg, &k, capture, &c);
    assert_string_equal(c.request_id, "client-abc.1");
    json_decref(c.json);
    k.request_id = "bad id with spaces";
    api_dispatch(reg, &k, capture, &c);
    assert_string_not_equal(c.request_id, "bad id with spaces");
    assert_true(strlen(c.request_id) > 0);
    json_decref(c.json);
}

static void test_openapi(void **state)
{
    json_t *doc = api_openapi(reg);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    json_t *paths = json_object_get(doc, "paths");
    assert_non_null(json_object_get(json_object_get(paths, "/things"), "post"));
    json_t *get = json_object_get(json_object_get(paths, "/things/{id}"), "get");
    assert_non_null(get);
    json_t *param = json_array_get(json_object_get(get, "parameters"), 0);
    assert_string_equal(json_string_value(json_object_get(param, "in")), "path");
    assert_true(json_is_true(json_object_get(param, "required")));
    json_t *schema = json_object_get(
        json_object_get(
            json_object_get(
                json_object_get(json_object_get(json_object_get(paths, "/things"), "post"),
                                "requestBody"),
                "content"),
            "application/json"),
        "schema");
    assert_string_equal(json_string_value(json_array_get(json_object_get(schema, "required"), 0)),
                        "name");
    json_decref(doc);
}

/* ---- ownership (api/api_owner.c) over what an auth hook put on the request ---- */

static const char *who_principal, *who_role, *who_teams;

static problem_t *set_who(api_req_t *req, const api_endpoint_t *ep, void *ud)
{
    if (who_role) {
        api_req_principal_set(req, who_principal);
        api_req_role_set(req, who_role);
        api_req_teams_set(req, who_teams);
    }
    return NULL;
}

/* A request held by h_later as principal/role/teams (role NULL: no auth hook at all). */
static api_req_t *held_as(const char *principal, const char *role, const char *teams)
{
    who_principal = principal;
    who_role = role;
    who_teams = teams;
    api_auth_hook_set(reg, set_who, NULL);
    pending = NULL;
    static captured_t c;
    memset(&c, 0, sizeof c);
    api_dispatch(reg, &(api_call_t){.transport = "test", .method = "POST", .path = "/later"},
                 capture, &c);
    assert_non_null(pending);
    return pending;
}

static void release(api_req_t *req)
{
    api_reply_empty(req, 204);
    api_auth_hook_set(reg, NULL, NULL);
}

static int owner_status(api_req_t *req, const char *owner, const char *team, bool act)
{
    problem_t *p = api_owner_check(req, "thing", "x", owner, team, act);
    int st = p ? problem_status(p) : 0;
    problem_destroy(&p);
    return st;
}

static void test_owner_decisions(void **state)
{
    api_req_t *r = held_as("user:a", "operator", "t1,t22");
    assert_true(api_owner_in_team(r, "t1"));
    assert_true(api_owner_in_team(r, "t22"));
    assert_false(api_owner_in_team(r, "t2")); /* a prefix of a member is not a member */
    assert_false(api_owner_in_team(r, ""));
    assert_int_equal(owner_status(r, "user:a", NULL, true), 0);    /* own */
    assert_int_equal(owner_status(r, "user:b", "t22", true), 0);   /* shared with a team */
    assert_int_equal(owner_status(r, "user:b", NULL, false), 404); /* another's: not there */
    assert_int_equal(owner_status(r, "user:b", "t3", true), 404);  /* another team's */
    assert_int_equal(owner_status(r, NULL, NULL, false), 0);       /* unowned: seen */
    assert_int_equal(owner_status(r, "", NULL, true), 403);        /* unowned: admin's */
    assert_string_equal(api_owner_of(r), "user:a");
    problem_t *p = api_owner_team_check(r, "t9", "/team");
    assert_non_null(p);
    assert_int_equal(problem_status(p), 422);
    problem_destroy(&p);
    assert_null(api_owner_team_check(r, "t1", "/team"));
    assert_null(api_owner_team_check(r, NULL, "/team"));
    release(r);

    r = held_as("user:root", "admin", NULL);
    assert_int_equal(owner_status(r, "user:b", "t3", true), 0);
    assert_int_equal(owner_status(r, NULL, NULL, true), 0);
    assert_null(api_owner_team_check(r, "any", "/team"));
    release(r);

    r = held_as("key:7", "viewer", NULL); /* a viewer without a team: only unowned things */
    assert_int_equal(owner_status(r, "user:b", NULL, false), 404);
    assert_int_equal(owner_status(r, NULL, NULL, false), 0);
    release(r);

    r = held_as(NULL, NULL, NULL); /* no auth: everything, and no owner recorded */
    assert_int_equal(owner_status(r, "user:b", "t3", true), 0);
    assert_null(api_owner_of(r));
    release(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_not_found_and_method, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_params_and_literal_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_conversion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_reply_and_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_only_mutations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_hook_runs_before_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lazy_body_after_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_openapi, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reply_in_dispatch_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_owner_decisions, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
