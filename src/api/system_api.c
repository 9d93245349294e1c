/* Built-in endpoints. /healthz answers without touching anything (liveness); /readyz pings the
 * store on a worker thread (readiness); /metrics renders the registry plus live gauges. The
 * diagnostic /api/v1/test endpoints exist only with GANGLION_TEST_ENDPOINTS=1. */
#include "api/system_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build_info.h"
#include "core/buildinfo.h"
#include "core/bus.h"
#include "core/clock.h"
#include "core/hub.h"
#include "core/log.h"
#include "core/metrics.h"
#include "store/store.h"
#include "store/store_problem.h"

/* ---- liveness and readiness ---- */

static void system_api_healthz(api_req_t *req, void *ctx)
{
    static const char body[] = "{\"status\":\"ok\"}";
    api_reply_json_text(req, 200, body, sizeof body - 1);
}

typedef struct sys_ready {
    api_req_t *req;
    int version;
} sys_ready_t;

static int sys_ready_work(store_conn_t *c, void *ud)
{
    sys_ready_t *r = ud;
    json_t *rows = NULL;
    int rc = store_query(c, "SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations", NULL, 0,
                         &rows, NULL);
    if (rc == 0)
        r->version = (int)json_integer_value(json_object_get(json_array_get(rows, 0), "v"));
    json_decref(rows);
    return rc;
}

static void sys_ready_done(int status, void *ud)
{
    sys_ready_t *r = ud;
    hub_t *hub = api_req_hub(r->req);
    if (status != 0) {
        problem_t *p = problem_new(503, "not-ready", "the store is not reachable (%s)",
                                   store_backend(hub->store));
        char secs[16];
        snprintf(secs, sizeof secs, "%d", store_retry_after_s(hub->store, status));
        problem_header_set(p, "Retry-After", secs);
        api_reply_problem(r->req, p);
    } else if (r->version != hub->schema_version) {
        api_reply_problem(r->req, problem_new(503, "not-ready",
                                              "the store schema is at version %d, expected %d",
                                              r->version, hub->schema_version));
    } else {
        api_reply_json(r->req, 200,
                       json_pack("{s:s,s:s,s:i}", "status", "ready", "store",
                                 store_backend(hub->store), "schema_version", r->version));
    }
    free(r);
}

static void system_api_readyz(api_req_t *req, void *ctx)
{
    hub_t *hub = api_req_hub(req);
    if (hub->shutting_down) {
        api_reply_problem(req, problem_new(503, "shutting-down", "the daemon is shutting down"));
        return;
    }
    sys_ready_t *r = calloc(1, sizeof *r);
    if (!r) {
        api_reply_problem(req, problem_new(503, "out-of-memory", "readiness check not possible"));
        return;
    }
    r->req = req;
    if (store_submit(hub->store, hub->loop, sys_ready_work, sys_ready_done, r) != 0) {
        free(r);
        api_reply_problem(req, problem_new(503, "not-ready", "the store queue is not accepting"));
    }
}

/* ---- metrics ---- */

static void sys_metrics_collect(strbuf_t *out, void *ud)
{
    hub_t *hub = ud;
    double uptime = (double)(clock_mono_ns() - hub->started_mono_ns) / 1e9;
    strbuf_printf(out,
                  "# HELP ganglion_build_info Build of the running daemon.\n"
                  "# TYPE ganglion_build_info gauge\n"
                  "ganglion_build_info{version=\"%s\",revision=\"%s\",build_type=\"%s\"} 1\n",
                  GANGLION_VERSION, buildinfo_revision(), GANGLION_BUILD_TYPE);
    strbuf_printf(out,
                  "# HELP ganglion_uptime_seconds Seconds since the daemon started.\n"
                  "# TYPE ganglion_uptime_seconds gauge\nganglion_uptime_seconds %.3f\n",
                  uptime);
    strbuf_printf(out,
                  "# HELP ganglion_start_time_seconds Start time, Unix epoch seconds.\n"
                  "# TYPE ganglion_start_time_seconds gauge\nganglion_start_time_seconds %.3f\n",
                  (double)hub->started_wall_ms / 1e3);
    strbuf_printf(out,
                  "# HELP ganglion_http_inflight_requests Requests dispatched and not yet "
                  "answered.\n# TYPE ganglion_http_inflight_requests gauge\n"
                  "ganglion_http_inflight_requests %zu\n",
                  api_inflight(hub->api));
    if (hub->store) {
        strbuf_printf(out,
                      "# HELP ganglion_store_operations_total Statements run on the store.\n"
                      "# TYPE ganglion_store_operations_total counter\n"
                      "ganglion_store_operations_total{backend=\"%s\"} %llu\n"
                      "# HELP ganglion_store_errors_total Statements that failed.\n"
                      "# TYPE ganglion_store_errors_total counter\n"
                      "ganglion_store_errors_total{backend=\"%s\"} %llu\n"
                      "# HELP ganglion_store_pending Store operations queued or running.\n"
                      "# TYPE ganglion_store_pending gauge\nganglion_store_pending %d\n"
                      "# HELP ganglion_store_up 0 from a lost database connection until a "
                      "reconnect works, else 1.\n"
                      "# TYPE ganglion_store_up gauge\nganglion_store_up %d\n"
                      "# HELP ganglion_store_full 1 from a write refused for want of disk space "
                      "until a write succeeds, else 0.\n"
                      "# TYPE ganglion_store_full gauge\nganglion_store_full %d\n"
                      "# HELP ganglion_store_outages_total Times the database connection was "
                      "lost.\n"
                      "# TYPE ganglion_store_outages_total counter\n"
                      "ganglion_store_outages_total %llu\n"
                      "# HELP ganglion_store_reconnects_total Database connections "
                      "re-established.\n"
                      "# TYPE ganglion_store_reconnects_total counter\n"
                      "ganglion_store_reconnects_total %llu\n"
                      "# HELP ganglion_store_checkpoints_total SQLite WAL checkpoints completed "
                      "off the request path.\n"
                      "# TYPE ganglion_store_checkpoints_total counter\n"
                      "ganglion_store_checkpoints_total %llu\n",
                      store_backend(hub->store), (unsigned long long)store_ops_total(hub->store),
                      store_backend(hub->store), (unsigned long long)store_errors_total(hub->store),
                      store_pending(hub->store), store_up(hub->store) ? 1 : 0,
                      store_full(hub->store) ? 1 : 0,
                      (unsigned long long)store_outages_total(hub->store),
                      (unsigned long long)store_reconnects_total(hub->store),
                      (unsigned long long)store_checkpoints_total(hub->store));
    }
    if (hub->bus) {
        strbuf_printf(out,
                      "# HELP ganglion_bus_subscribers Subscriptions on the event bus.\n"
                      "# TYPE ganglion_bus_subscribers gauge\nganglion_bus_subscribers %zu\n"
                      "# HELP ganglion_bus_events_total Events published on the bus.\n"
                      "# TYPE ganglion_bus_events_total counter\nganglion_bus_events_total %llu\n",
                      bus_subscriber_count(hub->bus),
                      (unsigned long long)bus_published_total(hub->bus));
    }
}

static void system_api_metrics(api_req_t *req, void *ctx)
{
    hub_t *hub = api_req_hub(req);
    strbuf_t out;
    strbuf_init(&out, 0);
    if (metrics_render(hub->metrics, &out) < 0) {
        strbuf_free(&out);
        api_reply_problem(req, problem_new(503, "out-of-memory", "metrics could not be rendered"));
        return;
    }
    size_t len;
    char *text = strbuf_steal(&out, &len);
    api_reply_raw(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

/* ---- log levels ---- */

/* {default, modules: {name: level or null}}: every module, null when it follows the default. */
static json_t *sys_log_levels_json(void)
{
    json_t *mods = json_object();
    for (size_t i = 0; log_modules[i]; i++) {
        log_level_t l = log_module_level(log_modules[i]);
        json_object_set_new(mods, log_modules[i],
                            l == LOG_LEVEL_DEFAULT ? json_null() : json_string(log_level_name(l)));
    }
    return json_pack("{s:s,s:o}", "default", log_level_name(log_level_get()), "modules", mods);
}

static void system_api_log_levels_get(api_req_t *req, void *ctx)
{
    api_reply_json(req, 200, sys_log_levels_json());
}

/* Changes one level at run time (until the next restart or reload, which apply [log] again). */
static void system_api_log_levels_put(api_req_t *req, void *ctx)
{
    json_t *body = api_req_body(req);
    const char *module = json_string_value(json_object_get(body, "module"));
    const char *level = json_string_value(json_object_get(body, "level"));
    log_level_t l = LOG_LEVEL_DEFAULT;
    if (strcmp(level, "default") != 0)
        log_level_parse(level, &l); /* the schema allows only known names */
    if (!module) {
        if (l == LOG_LEVEL_DEFAULT) {
            problem_t *p = NULL;
            problem_field_error(&p, "body", "/level",
                                "the default level needs a level (debug, info, warn, error, off)");
            api_reply_problem(req, p);
            return;
        }
        log_level_set(l);
    } else {
        log_module_level_set(module, l);
    }
    log_info(api_req_id(req), "log levels changed", "{s:s,s:s,s:s}", "module",
             module ? module : "(default)", "level", level, "by",
             api_req_principal(req) ? api_req_principal(req) : "");
    api_reply_json(req, 200, sys_log_levels_json());
}

/* ---- documents ---- */

static void system_api_openapi(api_req_t *req, void *ctx)
{
    api_reply_json(req, 200, api_openapi(api_req_hub(req)->api));
}

static void system_api_info(api_req_t *req, void *ctx)
{
    hub_t *hub = api_req_hub(req);
    char started[40];
    clock_rfc3339(hub->started_wall_ms, started, sizeof started);
    json_t *info = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:i,s:{s:s,s:i},s:{s:s,s:s,s:I,s:s,s:I}}", "name", "ganglion",
        "version", GANGLION_VERSION, "revision", buildinfo_revision(), "build_type",
        GANGLION_BUILD_TYPE, "compiler", GANGLION_COMPILER, "started_at", started, "uptime_s",
        (json_int_t)((clock_mono_ns() - hub->started_mono_ns) / 1000000000u), "pid", (int)getpid(),
        "store", "backend", store_backend(hub->store), "schema_version", hub->schema_version,
        "config", "listen", hub->cfg.listen, "data_dir", hub->cfg.data_dir, "body_limit",
        (json_int_t)hub->cfg.body_limit, "log_level", hub->cfg.log_level, "events_ring",
        (json_int_t)hub->cfg.events_ring);
    json_object_set_new(info, "endpoints", json_integer((json_int_t)api_endpoint_count(hub->api)));
    json_object_set_new(info, "build", buildinfo_json());
    api_reply_json(req, 200, info);
}

/* ---- the event stream ---- */

static void system_api_stream(api_req_t *req, void *ctx)
{
    const char *topics = api_req_query_str(req, "topics");
    if (!bus_pattern_valid(topics)) {
        problem_t *p = problem_validation_new();
        problem_field_add(p, "query", "topics",
                          "must be a comma-separated list of dotted topic patterns (at most 32, "
                          "e.g. anomaly.*,agent.42.status)");
        api_reply_problem(req, p);
        return;
    }
    uint64_t after = (uint64_t)api_req_query_int(req, "last_event_id", 0);
    const char *hdr = api_req_header(req, "Last-Event-ID");
    if (hdr && *hdr) {
        char *end;
        unsigned long long v = strtoull(hdr, &end, 10);
        if (*end == '\0')
            after = v;
    }
    api_reply_stream(req, topics, after);
}

/* ---- diagnostics for tests ---- */

static void system_api_test_echo(api_req_t *req, void *ctx)
{
    api_reply_json(req, 200, json_incref(api_req_body(req)));
}

static void system_api_test_publish(api_req_t *req, void *ctx)
{
    json_t *body = api_req_body(req);
    json_t *data = json_object_get(body, "data");
    uint64_t id =
        bus_publish(api_req_hub(req)->bus, json_string_value(json_object_get(body, "topic")),
                    data ? json_incref(data) : json_object());
    api_reply_json(req, 200, json_pack("{s:I}", "id", (json_int_t)id));
}

/* Sleepers are tracked so that a shutdown past its grace period can answer and free them. */
typedef struct sys_sleeper {
    uv_timer_t timer;
    api_req_t *req;
    struct sys_sleeper *next, *prev;
} sys_sleeper_t;

struct system_state {
    sys_sleeper_t *sleepers;
};

static void sys_sleeper_close(uv_handle_t *h)
{
    free(h->data);
}

static void sys_sleeper_end(hub_t *hub, sys_sleeper_t *sl, problem_t *p)
{
    if (sl->prev)
        sl->prev->next = sl->next;
    else
        hub->system->sleepers = sl->next;
    if (sl->next)
        sl->next->prev = sl->prev;
    if (p)
        api_reply_problem(sl->req, p);
    else
        api_reply_json(sl->req, 200, json_pack("{s:b}", "slept", 1));
    uv_timer_stop(&sl->timer);
    uv_close((uv_handle_t *)&sl->timer, sys_sleeper_close);
}

static void sys_sleep_done(uv_timer_t *t)
{
    sys_sleeper_t *sl = t->data;
    sys_sleeper_end(api_req_hub(sl->req), sl, NULL);
}

static void system_api_test_sleep(api_req_t *req, void *ctx)
{
    hub_t *hub = api_req_hub(req);
    sys_sleeper_t *sl = calloc(1, sizeof *sl);
    if (!sl) {
        api_reply_problem(req, problem_new(503, "out-of-memory", "no timer"));
        return;
    }
    sl->req = req;
    uv_timer_init(hub->loop, &sl->timer);
    sl->timer.data = sl;
    sl->next = hub->system->sleepers;
    if (sl->next)
        sl->next->prev = sl;
    hub->system->sleepers = sl;
    uv_timer_start(&sl->timer, sys_sleep_done, (uint64_t)api_req_query_int(req, "ms", 0), 0);
}

void system_api_abort(hub_t *hub)
{
    while (hub->system && hub->system->sleepers)
        sys_sleeper_end(hub, hub->system->sleepers,
                        problem_new(503, "shutting-down",
                                    "the daemon shut down before this request completed"));
}

void system_api_destroy(hub_t *hub)
{
    system_api_abort(hub);
    free(hub->system);
    hub->system = NULL;
}

/* ---- declarations ---- */

static const api_field_t sys_stream_query[] = {
    {.name = "topics",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 2048,
     .description = "Comma-separated topic patterns ('*' wildcards)"},
    {.name = "last_event_id",
     .type = API_T_INTEGER,
     .flags = API_F_MIN,
     .min = 0,
     .description = "Replay events after this id (the Last-Event-ID header wins)"},
    {0}};

static const char *const sys_modes[] = {"a", "b", NULL};
static const api_field_t sys_nested[] = {{.name = "x", .type = API_T_NUMBER}, {0}};
static const api_field_t sys_tag_item = {.type = API_T_STRING, .flags = API_F_MAX, .max = 1024};
static const api_field_t sys_echo_body[] = {
    {.name = "name",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 64},
    {.name = "count", .type = API_T_INTEGER, .flags = API_F_MIN | API_F_MAX, .min = 0, .max = 100},
    {.name = "mode", .type = API_T_STRING, .enums = sys_modes},
    {.name = "tags", .type = API_T_ARRAY, .flags = API_F_MAX, .max = 10, .items = &sys_tag_item},
    {.name = "nested", .type = API_T_OBJECT, .props = sys_nested},
    {0}};
static const api_field_t sys_publish_body[] = {{.name = "topic",
                                                .type = API_T_STRING,
                                                .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
                                                .min = 1,
                                                .max = 200},
                                               {.name = "data", .type = API_T_ANY},
                                               {0}};
static const api_field_t sys_sleep_query[] = {{.name = "ms",
                                               .type = API_T_INTEGER,
                                               .flags = API_F_MIN | API_F_MAX,
                                               .min = 0,
                                               .max = 10000,
                                               .def = "0"},
                                              {0}};

static const char *const sys_log_level_names[] = {"debug", "info",    "warn", "error",
                                                  "off",   "default", NULL};
static const api_field_t sys_log_levels_body[] = {
    {.name = "module",
     .type = API_T_STRING,
     .enums = log_modules,
     .description = "the module whose level changes; absent: the default level"},
    {.name = "level",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED,
     .enums = sys_log_level_names,
     .description = "the new level; default: the module follows the default level again"},
    {0}};

static const api_endpoint_t sys_endpoints[] = {
    {.method = "GET",
     .path = "/healthz",
     .scope = API_SCOPE_PUBLIC,
     .tag = "system",
     .summary = "Liveness: the daemon is running",
     .response = "{status: ok}",
     .handler = system_api_healthz},
    {.method = "GET",
     .path = "/readyz",
     .scope = API_SCOPE_PUBLIC,
     .tag = "system",
     .summary = "Readiness: store reachable and migrations applied",
     .response = "{status: ready, store, schema_version}",
     .handler = system_api_readyz},
    {.method = "GET",
     .path = "/metrics",
     .scope = "metrics:read",
     .tag = "system",
     .summary = "Prometheus metrics (text exposition format)",
     .handler = system_api_metrics},
    {.method = "GET",
     .path = "/openapi.json",
     .scope = "system:read",
     .tag = "system",
     .summary = "This API as an OpenAPI 3.1 document",
     .handler = system_api_openapi},
    {.method = "GET",
     .path = "/api/v1/system/info",
     .scope = "system:read",
     .tag = "system",
     .summary = "Version, build, configuration summary and uptime",
     .handler = system_api_info},
    {.method = "GET",
     .path = "/api/v1/system/log-levels",
     .scope = "system:read",
     .tag = "system",
     .summary = "The log's default level and each module's own",
     .response = "{default, modules: {module: level | null}}",
     .handler = system_api_log_levels_get},
    {.method = "PUT",
     .path = "/api/v1/system/log-levels",
     .scope = "admin",
     .tag = "system",
     .summary = "Change the default log level or one module's, at run time",
     .body_kind = API_BODY_JSON,
     .body = sys_log_levels_body,
     .response = "{default, modules: {module: level | null}}",
     .handler = system_api_log_levels_put},
    {.method = "GET",
     .path = "/api/v1/stream",
     .scope = "events:read",
     .tag = "events",
     .summary = "Server-sent events for the given topic patterns",
     .query = sys_stream_query,
     .streaming = true,
     .handler = system_api_stream},
};

static const api_endpoint_t sys_test_endpoints[] = {
    {.method = "POST",
     .path = "/api/v1/test/echo",
     .scope = "system:write",
     .tag = "test",
     .summary = "Echo a validated body (diagnostics)",
     .body_kind = API_BODY_JSON,
     .body = sys_echo_body,
     .handler = system_api_test_echo},
    {.method = "POST",
     .path = "/api/v1/test/publish",
     .scope = "system:write",
     .tag = "test",
     .summary = "Publish an event on the bus (diagnostics)",
     .body_kind = API_BODY_JSON,
     .body = sys_publish_body,
     .handler = system_api_test_publish},
    {.method = "GET",
     .path = "/api/v1/test/sleep",
     .scope = "system:read",
     .tag = "test",
     .summary = "Reply after a delay (diagnostics)",
     .query = sys_sleep_query,
     .handler = system_api_test_sleep},
};

void system_api_register(api_registry_t *reg, hub_t *hub, bool test_endpoints)
{
    hub->system = calloc(1, sizeof *hub->system);
    if (!hub->system)
        abort();
    api_register(reg, sys_endpoints, sizeof sys_endpoints / sizeof sys_endpoints[0]);
    if (test_endpoints)
        api_register(reg, sys_test_endpoints,
                     sizeof sys_test_endpoints / sizeof sys_test_endpoints[0]);
    metrics_collector_add(hub->metrics, sys_metrics_collect, hub);
}
