/* `ganglion status`: one look at a daemon — alive (/healthz), ready (/readyz) and what it is
 * (/api/v1/system/info) — as a short table for a person or one JSON object for a script. Every
 * field the daemon sends is optional here: an older or newer daemon must not break the client. */
#include "cli/cli_priv.h"

#include <string.h>

static void cli_status_usage(const cli_ctx_t *ctx)
{
    printf("usage: %s status [--json]\n\n"
           "Asks the daemon at --url whether it is alive and ready, and shows its version,\n"
           "revision, uptime, store backend, schema version and pid. Status is ok (alive and\n"
           "ready), degraded (answering but not ready) or down (not reachable).\n\n"
           "examples:\n"
           "  %s status\n"
           "  %s status --json | jq .uptime_s\n"
           "  GANGLION_URL=http://10.0.0.5:7700 %s status\n\n",
           ctx->prog, ctx->prog, ctx->prog, ctx->prog);
    cli_usage_globals(stdout);
    puts("\nexit codes: 0 ok, 1 reachable but not healthy or not ready, 3 unreachable");
}

/* One GET; returns the parsed JSON body (or NULL) and the status (0 when unreachable). On a
 * transport failure `err` receives the client's message. */
static json_t *cli_status_get(cli_client_t *c, const char *path, int *status, int *trc, char *err,
                              size_t errlen)
{
    cli_response_t r = {0};
    json_t *v = NULL;
    *trc = cli_client_request(c, "GET", path, NULL, 0, &r);
    *status = 0;
    if (*trc < 0) {
        snprintf(err, errlen, "%s", cli_client_error(c));
    } else {
        *status = r.status;
        v = cli_response_json(&r);
        if (r.status < 200 || r.status >= 300) {
            const char *d = json_string_value(json_object_get(v, "detail"));
            const char *t = json_string_value(json_object_get(v, "title"));
            char clean[300];
            cli_sanitize(d ? d : (t ? t : ""), clean, sizeof clean);
            snprintf(err, errlen, "%s answered %d%s%s", path, r.status, clean[0] ? ": " : "",
                     clean);
        }
    }
    cli_response_free(&r);
    return v;
}

/* Copies member `key` of `from` (if it has type `type`) into `to` under `as`. */
static void cli_status_take(json_t *to, const char *as, const json_t *from, const char *key,
                            json_type type)
{
    json_t *v = json_object_get(from, key);
    if (v && (json_typeof(v) == type || (type == JSON_REAL && json_is_number(v)) ||
              (type == JSON_INTEGER && json_is_integer(v))))
        json_object_set(to, as, v);
}

/* Gathers everything into one object with stable keys (null when unknown). Returns the exit
 * code the command will end with. */
static int cli_status_collect(cli_client_t *c, const char *url, json_t *out)
{
    char herr[400] = "", rerr[400] = "", ierr[400] = "";
    int hst, rst, ist, htrc, rtrc, itrc;
    static const char *const keys[] = {"version",    "revision", "build_type", "started_at",
                                       "uptime_s",   "uptime",   "pid",        "ready_detail",
                                       "info_error", "error"};
    json_object_set_new(out, "url", json_string(url));
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        json_object_set_new(out, keys[i], json_null());
    json_t *store = json_pack("{s:n,s:n}", "backend", "schema_version");
    json_object_set_new(out, "store", store);

    json_t *health = cli_status_get(c, "/healthz", &hst, &htrc, herr, sizeof herr);
    json_decref(health);
    if (htrc < 0) {
        json_object_set_new(out, "status", json_string("down"));
        json_object_set_new(out, "healthy", json_false());
        json_object_set_new(out, "ready", json_false());
        json_object_set_new(out, "error", json_string(herr));
        return cli_exit_for(htrc);
    }
    bool healthy = hst >= 200 && hst < 300;

    json_t *ready = cli_status_get(c, "/readyz", &rst, &rtrc, rerr, sizeof rerr);
    bool is_ready = rtrc == 0 && rst >= 200 && rst < 300;
    if (json_is_object(ready)) {
        cli_status_take(store, "backend", ready, "store", JSON_STRING);
        cli_status_take(store, "schema_version", ready, "schema_version", JSON_INTEGER);
    }
    json_decref(ready);

    json_t *info = cli_status_get(c, "/api/v1/system/info", &ist, &itrc, ierr, sizeof ierr);
    if (json_is_object(info) && ist >= 200 && ist < 300) {
        cli_status_take(out, "version", info, "version", JSON_STRING);
        cli_status_take(out, "revision", info, "revision", JSON_STRING);
        cli_status_take(out, "build_type", info, "build_type", JSON_STRING);
        cli_status_take(out, "started_at", info, "started_at", JSON_STRING);
        cli_status_take(out, "uptime_s", info, "uptime_s", JSON_REAL);
        cli_status_take(out, "pid", info, "pid", JSON_INTEGER);
        json_t *is = json_object_get(info, "store");
        if (json_is_object(is)) {
            cli_status_take(store, "backend", is, "backend", JSON_STRING);
            cli_status_take(store, "schema_version", is, "schema_version", JSON_INTEGER);
        } else if (json_is_string(is)) {
            json_object_set(store, "backend", is);
        }
        json_t *up = json_object_get(out, "uptime_s");
        if (json_is_real(up)) /* an older daemon's float: whole seconds, like today's */
            json_object_set_new(out, "uptime_s", json_integer((json_int_t)json_real_value(up)));
        up = json_object_get(out, "uptime_s");
        if (json_is_number(up)) {
            char buf[64];
            cli_duration_format(json_number_value(up), buf, sizeof buf);
            json_object_set_new(out, "uptime", json_string(buf));
        }
    } else if (ierr[0]) {
        json_object_set_new(out, "info_error", json_string(ierr));
    }
    json_decref(info);

    if (!healthy)
        json_object_set_new(out, "error", json_string(herr));
    if (!is_ready)
        json_object_set_new(out, "ready_detail", json_string(rerr[0] ? rerr : "not ready"));
    json_object_set_new(out, "healthy", json_boolean(healthy));
    json_object_set_new(out, "ready", json_boolean(is_ready));
    json_object_set_new(out, "status", json_string(healthy && is_ready ? "ok" : "degraded"));
    return healthy && is_ready ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

static void cli_status_row(cli_table_t *t, const char *key, cli_color_t color, const json_t *v)
{
    if (!v || json_is_null(v))
        return;
    cli_table_row_add(t);
    cli_table_cell_set(t, 0, CLI_COLOR_BOLD, key);
    if (json_is_string(v))
        cli_table_cell_set(t, 1, color, json_string_value(v));
    else if (json_is_integer(v))
        cli_table_cellf(t, 1, color, "%lld", (long long)json_integer_value(v));
    else if (json_is_number(v))
        cli_table_cellf(t, 1, color, "%g", json_number_value(v));
}

static int cli_status_print(const cli_ctx_t *ctx, const json_t *s)
{
    cli_table_t *t = cli_table_new(2, NULL);
    if (!t)
        return -1;
    /* Messages (ready_detail, errors) are the cells most worth reading in full. */
    cli_table_width_set(t, 1, 100);
    const char *st = json_string_value(json_object_get(s, "status"));
    cli_color_t sc = CLI_COLOR_RED;
    if (st && strcmp(st, "ok") == 0)
        sc = CLI_COLOR_GREEN;
    else if (st && strcmp(st, "degraded") == 0)
        sc = CLI_COLOR_YELLOW;
    const json_t *store = json_object_get(s, "store");
    cli_status_row(t, "URL", CLI_COLOR_NONE, json_object_get(s, "url"));
    cli_status_row(t, "status", sc, json_object_get(s, "status"));
    cli_status_row(t, "error", CLI_COLOR_RED, json_object_get(s, "error"));
    cli_status_row(t, "not ready", CLI_COLOR_YELLOW, json_object_get(s, "ready_detail"));
    cli_status_row(t, "version", CLI_COLOR_NONE, json_object_get(s, "version"));
    cli_status_row(t, "revision", CLI_COLOR_NONE, json_object_get(s, "revision"));
    cli_status_row(t, "build", CLI_COLOR_NONE, json_object_get(s, "build_type"));
    cli_status_row(t, "uptime", CLI_COLOR_NONE, json_object_get(s, "uptime"));
    cli_status_row(t, "started", CLI_COLOR_DIM, json_object_get(s, "started_at"));
    cli_status_row(t, "store", CLI_COLOR_NONE, json_object_get(store, "backend"));
    cli_status_row(t, "schema", CLI_COLOR_NONE, json_object_get(store, "schema_version"));
    cli_status_row(t, "pid", CLI_COLOR_NONE, json_object_get(s, "pid"));
    cli_status_row(t, "info", CLI_COLOR_YELLOW, json_object_get(s, "info_error"));
    int rc = cli_table_print(t, stdout, ctx->color);
    cli_table_destroy(&t);
    return rc;
}

int cli_cmd_status(cli_ctx_t *ctx, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        cli_status_usage(ctx);
        return CLI_EXIT_OK;
    }
    if (argc > 1) {
        cli_error("status takes no arguments (got '%.80s'); see %s status --help", argv[1],
                  ctx->prog);
        return CLI_EXIT_USAGE;
    }
    cli_client_t *c = NULL;
    if (cli_client_open(ctx, 0, &c) < 0)
        return CLI_EXIT_USAGE;
    json_t *s = json_object();
    if (!s) {
        cli_client_destroy(&c);
        cli_error("out of memory");
        return CLI_EXIT_FAIL;
    }
    int rc = cli_status_collect(c, cli_client_url(c), s);
    int prc = ctx->json ? cli_json_print(s, false) : cli_status_print(ctx, s);
    if (prc < 0 && rc == CLI_EXIT_OK)
        rc = CLI_EXIT_FAIL;
    json_decref(s);
    cli_client_destroy(&c);
    return rc;
}
