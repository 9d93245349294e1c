/* `ganglion team`: teams and their members (admins), the client side of /api/v1/teams. A
 * resource created with --team (or "team" in its body) is shared with the team's members
 * (docs/security.md, "Ownership and teams"). */
#include "cli/cli_priv.h"
#include "cli/cli_table.h"

#include <stdio.h>
#include <string.h>

/* One team call: prints the reply as JSON with --json, else msg (NULL: nothing). */
static int cli_team_call(cli_ctx_t *ctx, const char *method, const char *path, json_t *body,
                         const char *msg)
{
    json_t *out = NULL;
    int rc = cli_request_json(ctx, method, path, body, &out);
    json_decref(body);
    if (rc == 0 && ctx->json)
        cli_json_print(out, false);
    else if (rc == 0 && msg)
        printf("%s\n", msg);
    json_decref(out);
    return rc;
}

static void cli_team_members(const json_t *team, char *out, size_t len)
{
    size_t i, o = 0;
    json_t *m;
    out[0] = '\0';
    json_array_foreach(json_object_get(team, "members"), i, m)
    {
        int n = snprintf(out + o, len - o, "%s%s", o ? ", " : "", json_string_value(m) ?: "");
        if (n < 0 || (size_t)n >= len - o)
            break;
        o += (size_t)n;
    }
}

static int cli_team_ls(cli_ctx_t *ctx, int argc, char **argv)
{
    if (argc != 1) {
        cli_error("team ls takes no arguments (got '%.60s')", argv[1]);
        return CLI_EXIT_USAGE;
    }
    json_t *r = NULL;
    int rc = cli_request(ctx, 0, "GET", "/api/v1/teams", NULL, &r);
    if (rc == 0 && ctx->json) {
        cli_json_print(r, false);
    } else if (rc == 0) {
        static const char *const hdr[] = {"NAME", "MEMBERS"};
        cli_table_t *t = cli_table_new(2, hdr);
        size_t i;
        json_t *team;
        json_array_foreach(json_object_get(r, "teams"), i, team)
        {
            char members[1024];
            cli_team_members(team, members, sizeof members);
            cli_table_row_add(t);
            cli_table_cell_set(t, 0, CLI_COLOR_NONE, cli_json_str(team, "name"));
            cli_table_cell_set(t, 1, CLI_COLOR_NONE, members);
        }
        cli_table_print(t, stdout, ctx->color);
        cli_table_destroy(&t);
    }
    json_decref(r);
    return rc;
}

static int cli_team_show(cli_ctx_t *ctx, int argc, char **argv)
{
    if (argc != 2) {
        cli_error("usage: team show TEAM");
        return CLI_EXIT_USAGE;
    }
    char path[160];
    snprintf(path, sizeof path, "/api/v1/teams/%.64s", argv[1]);
    json_t *r = NULL;
    int rc = cli_request(ctx, 0, "GET", path, NULL, &r);
    if (rc == 0 && ctx->json) {
        cli_json_print(r, false);
    } else if (rc == 0) {
        char members[4096];
        cli_team_members(r, members, sizeof members);
        printf("%s: %s\n", cli_json_str(r, "name"), members[0] ? members : "(no members)");
    }
    json_decref(r);
    return rc;
}

static int cli_team_create(cli_ctx_t *ctx, int argc, char **argv)
{
    if (argc != 2) {
        cli_error("usage: team create TEAM");
        return CLI_EXIT_USAGE;
    }
    char msg[128];
    snprintf(msg, sizeof msg, "created team %.64s", argv[1]);
    return cli_team_call(ctx, "POST", "/api/v1/teams", json_pack("{s:s}", "name", argv[1]), msg);
}

static int cli_team_delete(cli_ctx_t *ctx, int argc, char **argv)
{
    if (argc != 2) {
        cli_error("usage: team delete TEAM");
        return CLI_EXIT_USAGE;
    }
    char path[160], msg[128];
    snprintf(path, sizeof path, "/api/v1/teams/%.64s", argv[1]);
    snprintf(msg, sizeof msg, "deleted team %.64s", argv[1]);
    return cli_team_call(ctx, "DELETE", path, NULL, msg);
}

/* add and remove: argv[0] says which. */
static int cli_team_member(cli_ctx_t *ctx, int argc, char **argv)
{
    bool add = strcmp(argv[0], "add") == 0;
    if (argc != 3) {
        cli_error("usage: team %s TEAM USER", argv[0]);
        return CLI_EXIT_USAGE;
    }
    char path[240], msg[200];
    snprintf(path, sizeof path, "/api/v1/teams/%.64s/members/%.64s", argv[1], argv[2]);
    snprintf(msg, sizeof msg, "%.64s %s team %.64s", argv[2], add ? "added to" : "removed from",
             argv[1]);
    return cli_team_call(ctx, add ? "PUT" : "DELETE", path, NULL, msg);
}

static const cli_cmd_t cli_team_cmds[] = {
    {"ls", "list teams and their members", "\n\nLists the teams with their members.\n",
     cli_team_ls},
    {"show", "a team's members: TEAM", "TEAM\n\nShows the team's members.\n", cli_team_show},
    {"create", "create a team: TEAM",
     "TEAM\n\nCreates a team (letters, digits, '.', '_', '-'; at most 64).\n", cli_team_create},
    {"delete", "delete a team: TEAM",
     "TEAM\n\nDeletes a team and its memberships; what was shared with it stays its owners'.\n",
     cli_team_delete},
    {"add", "add a user to a team: TEAM USER",
     "TEAM USER\n\nAdds the user (by username) to the team: from its next request it sees and\n"
     "changes what is shared with the team.\n",
     cli_team_member},
    {"remove", "remove a user from a team: TEAM USER",
     "TEAM USER\n\nRemoves the user from the team.\n", cli_team_member},
};

const cli_group_t cli_team_group = {"team", cli_team_cmds,
                                    sizeof cli_team_cmds / sizeof cli_team_cmds[0]};

int cli_cmd_team(cli_ctx_t *ctx, int argc, char **argv)
{
    return cli_group_run(ctx, &cli_team_group,
                         "Teams are managed by admins; resources are shared with a team by "
                         "naming it at creation (docs/security.md).\n",
                         argc, argv);
}
