/* `ganglion program …`: the programs of the daemon's program files — list them with their
 * agents, reload the files (only what changed is applied), start, stop or restart one. Each
 * subcommand is one request to /api/v1/programs…; tables on a terminal, JSON with --json. */
#include "cli/cli_priv.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The agents of one result as "name id result" lines under a heading; 1 when one failed. */
static int cli_program_results(const char *head, const json_t *agents)
{
    int failed = 0;
    size_t i;
    json_t *x;
    printf("%s\n", head);
    json_array_foreach(agents, i, x)
    {
        const char *err = cli_json_str(x, "error");
        char detail[300];
        cli_sanitize(err, detail, sizeof detail);
        printf("  %-24s %-12s %s%s%s\n", cli_json_str(x, "name"),
               json_is_string(json_object_get(x, "id")) ? cli_json_str(x, "id") : "-",
               cli_json_str(x, "result"), *err ? ": " : "", detail);
        failed |= !strcmp(cli_json_str(x, "result"), "error");
    }
    return failed;
}

static int cli_program_ls(cli_ctx_t *ctx, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    json_t *r = NULL;
    int rc = cli_request(ctx, 0, "GET", "/api/v1/programs", NULL, &r);
    if (rc == 0 && ctx->json) {
        cli_json_print(r, true);
    } else if (rc == 0) {
        static const char *const hdr[] = {"PROGRAM", "AGENTS", "RUNNING", "AUTOSTART", "COMMAND"};
        cli_table_t *t = cli_table_new(5, hdr);
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(r, "programs"), i, p)
        {
            json_t *agents = json_object_get(p, "agents");
            size_t running = 0, k;
            json_t *a;
            json_array_foreach(agents, k, a)
            {
                const char *st = cli_json_str(a, "status");
                running += !strcmp(st, "running") || !strcmp(st, "thinking") ||
                           !strcmp(st, "initializing");
            }
            char n[32], run[32], cmd[512] = "";
            snprintf(n, sizeof n, "%" JSON_INTEGER_FORMAT,
                     json_integer_value(json_object_get(p, "numprocs")));
            snprintf(run, sizeof run, "%zu", running);
            json_t *w;
            json_array_foreach(json_object_get(p, "argv"), k, w)
            {
                size_t l = strlen(cmd);
                snprintf(cmd + l, sizeof cmd - l, "%s%s", l ? " " : "", json_string_value(w));
            }
            char safe[512];
            cli_sanitize(cmd, safe, sizeof safe);
            cli_table_row_add(t);
            cli_table_cell_set(t, 0, CLI_COLOR_NONE, cli_json_str(p, "name"));
            cli_table_cell_set(t, 1, CLI_COLOR_NONE, n);
            cli_table_cell_set(t, 2, running ? CLI_COLOR_GREEN : CLI_COLOR_DIM, run);
            cli_table_cell_set(t, 3, CLI_COLOR_NONE,
                               json_is_true(json_object_get(p, "autostart")) ? "yes" : "no");
            cli_table_cell_set(t, 4, CLI_COLOR_DIM, safe);
        }
        if (t)
            cli_table_print(t, stdout, ctx->color);
        cli_table_destroy(&t);
        json_array_foreach(json_object_get(r, "errors"), i, p)
        {
            char safe[1100];
            cli_sanitize(json_string_value(p), safe, sizeof safe);
            fprintf(stderr, "warning: %s\n", safe);
        }
    }
    json_decref(r);
    return rc;
}

static int cli_program_reload(cli_ctx_t *ctx, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    json_t *r = NULL;
    int rc = cli_request(ctx, 0, "POST", "/api/v1/programs/reload", "{}", &r);
    if (rc == 0 && ctx->json) {
        cli_json_print(r, true);
    } else if (rc == 0) {
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(r, "programs"), i, p)
        {
            char head[160];
            snprintf(head, sizeof head, "%s: %s", cli_json_str(p, "program"),
                     cli_json_str(p, "action"));
            if (cli_program_results(head, json_object_get(p, "agents")))
                rc = CLI_EXIT_FAIL;
        }
        if (!json_array_size(json_object_get(r, "programs")))
            printf("no programs in %s\n", cli_json_str(r, "dir"));
    }
    json_decref(r);
    return rc;
}

static int cli_program_command(cli_ctx_t *ctx, int argc, char **argv)
{
    if (argc != 2) {
        cli_error("usage: program %s NAME", argv[0]);
        return CLI_EXIT_USAGE;
    }
    for (const char *s = argv[1]; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("._-", *s)) {
            cli_error("program names are [A-Za-z0-9._-]: '%.60s'", argv[1]);
            return CLI_EXIT_USAGE;
        }
    char path[256];
    snprintf(path, sizeof path, "/api/v1/programs/%.64s/%s", argv[1], argv[0]);
    json_t *r = NULL;
    int rc = cli_request(ctx, 0, "POST", path, "{}", &r);
    if (rc == 0 && ctx->json) {
        cli_json_print(r, true);
    } else if (rc == 0) {
        char head[160];
        snprintf(head, sizeof head, "%s: %s", argv[1], argv[0]);
        if (cli_program_results(head, json_object_get(r, "agents")))
            rc = CLI_EXIT_FAIL;
    }
    json_decref(r);
    return rc;
}

/* One row per subcommand (see cli_cmd_t). */
static const cli_cmd_t cli_program_cmds[] = {
    {"ls", "the programs of the program files, their agents and the files' errors",
     "\n\nLists the programs of <data-dir>/programs.d/*.ini with their agents, and the files'\n"
     "errors (file:line).\n",
     cli_program_ls},
    {"reload", "read the program files again; apply only what changed",
     "\n\nReads the program files again and applies only what changed: new programs start,\n"
     "removed ones stop, changed ones restart with their new spec, the others are untouched.\n",
     cli_program_reload},
    {"start", "start the program's agents that are not running: NAME",
     "NAME\n\nStarts the program's agents that are not running.\n", cli_program_command},
    {"stop", "stop the program's agents: NAME", "NAME\n\nStops the program's agents.\n",
     cli_program_command},
    {"restart", "restart the program's agents (same ids): NAME",
     "NAME\n\nRestarts the program's agents, keeping their ids.\n", cli_program_command},
};

const cli_group_t cli_program_group = {"program", cli_program_cmds,
                                       sizeof cli_program_cmds / sizeof cli_program_cmds[0]};

int cli_cmd_program(cli_ctx_t *ctx, int argc, char **argv)
{
    return cli_group_run(ctx, &cli_program_group,
                         "Programs are [program:NAME] sections of <data-dir>/programs.d/*.ini "
                         "(docs/agents.md, Programs).\n",
                         argc, argv);
}
