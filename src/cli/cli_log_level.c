/* `ganglion log-level`: the daemon's log levels, the client side of /api/v1/system/log-levels.
 * Without arguments it lists the default and each module's level; MODULE LEVEL changes one
 * (LEVEL "default" makes the module follow the default again), at run time, until a restart or
 * reload applies [log] levels again. */
#include "cli/cli_priv.h"
#include "cli/cli_table.h"

#include <stdio.h>
#include <string.h>

static void cli_log_level_usage(const cli_ctx_t *ctx, FILE *out)
{
    fprintf(out,
            "usage: %s log-level                  list the default level and every module's\n"
            "       %s log-level MODULE LEVEL     set a module's level (admin)\n"
            "       %s log-level default LEVEL    set the default level (admin)\n"
            "LEVEL is debug, info, warn, error or off; for a module also 'default' (follow the\n"
            "default level again). Modules are the prefixes of the log's messages (agents, http,\n"
            "watch ...). A restart or reload applies [log] level and [log] levels again.\n",
            ctx->prog, ctx->prog, ctx->prog);
}

static void cli_log_level_print(const cli_ctx_t *ctx, const json_t *r)
{
    if (ctx->json) {
        cli_json_print(r, false);
        return;
    }
    static const char *const hdr[] = {"MODULE", "LEVEL"};
    cli_table_t *t = cli_table_new(2, hdr);
    const char *dflt = cli_json_str(r, "default");
    cli_table_row_add(t);
    cli_table_cell_set(t, 0, CLI_COLOR_NONE, "(default)");
    cli_table_cell_set(t, 1, CLI_COLOR_NONE, dflt ? dflt : "");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)json_object_get(r, "modules"), k, v)
    {
        char level[32];
        snprintf(level, sizeof level, "%s", json_is_string(v) ? json_string_value(v) : "-");
        cli_table_row_add(t);
        cli_table_cell_set(t, 0, CLI_COLOR_NONE, k);
        cli_table_cell_set(t, 1, json_is_string(v) ? CLI_COLOR_NONE : CLI_COLOR_DIM, level);
    }
    cli_table_print(t, stdout, ctx->color);
    cli_table_destroy(&t);
}

int cli_cmd_log_level(cli_ctx_t *ctx, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        cli_log_level_usage(ctx, stdout);
        return CLI_EXIT_OK;
    }
    if (argc != 1 && argc != 3) {
        cli_log_level_usage(ctx, stderr);
        return CLI_EXIT_USAGE;
    }
    json_t *r = NULL;
    int rc;
    if (argc == 1) {
        rc = cli_request(ctx, 0, "GET", "/api/v1/system/log-levels", NULL, &r);
    } else {
        json_t *body = strcmp(argv[1], "default") == 0
                           ? json_pack("{s:s}", "level", argv[2])
                           : json_pack("{s:s,s:s}", "module", argv[1], "level", argv[2]);
        rc = cli_request_json(ctx, "PUT", "/api/v1/system/log-levels", body, &r);
        json_decref(body);
    }
    if (rc == 0)
        cli_log_level_print(ctx, r);
    json_decref(r);
    return rc;
}
