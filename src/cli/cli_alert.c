/* `ganglion alert …`: alert rules and notifiers, test notifications, the history and the outbox
 * with its dead letters (docs/alerts.md). Each subcommand is one or two requests to
 * /api/v1/alerts…; tables on a terminal, JSON with --json. Rules and notifiers are named by id
 * or by name. */
#include "cli/cli_priv.h"

#include "core/opt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whether s may go into a path as it is (ids are hex; names are looked up first). */
static bool cli_alert_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (; *s; s++)
        if (!strchr("0123456789abcdefABCDEF", *s))
            return false;
    return true;
}

/* The id of the rule or notifier (which: "rules" or "notifiers") whose id or name is ref, into
 * out; 0, 1 when none is, or an exit code. */
static int cli_alert_find(cli_ctx_t *ctx, const char *which, const char *ref, char *out, size_t len)
{
    char path[64];
    snprintf(path, sizeof path, "/api/v1/alerts/%s", which);
    json_t *r = NULL;
    int rc = cli_request(ctx, 0, "GET", path, NULL, &r);
    if (rc != 0)
        return rc;
    size_t i;
    json_t *x;
    rc = 1;
    json_array_foreach(json_object_get(r, which), i, x)
    {
        if (!strcmp(cli_json_str(x, "id"), ref) || !strcmp(cli_json_str(x, "name"), ref)) {
            snprintf(out, len, "%s", cli_json_str(x, "id"));
            rc = 0;
            break;
        }
    }
    json_decref(r);
    return rc;
}

static void cli_alert_cell(cli_table_t *t, size_t col, cli_color_t color, const char *s)
{
    char buf[200];
    cli_sanitize(s, buf, sizeof buf);
    cli_table_cell_set(t, col, color, *buf ? buf : "-");
}

static int cli_alert_rules(cli_ctx_t *ctx, int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        cli_error("alert rules takes no arguments");
        return CLI_EXIT_USAGE;
    }
    json_t *r = NULL;
    int rc = cli_request(ctx, 0, "GET", "/api/v1/alerts/rules", NULL, &r);
    if (rc == 0 && ctx->json) {
        cli_json_print(r, true);
    } else if (rc == 0) {
        static const char *const hdr[] = {"ID", "NAME", "KIND", "NOTIFIERS", "SILENCED UNTIL"};
        cli_table_t *t = cli_table_new(5, hdr);
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(r, "rules"), i, x)
        {
            char n[16];
            snprintf(n, sizeof n, "%zu", json_array_size(json_object_get(x, "notifiers")));
            cli_table_row_add(t);
            cli_alert_cell(t, 0, CLI_COLOR_NONE, cli_json_str(x, "id"));
            cli_alert_cell(
                t, 1, json_is_false(json_object_get(x, "enabled")) ? CLI_COLOR_DIM : CLI_COLOR_NONE,
                cli_json_str(x, "name"));
            cli_alert_cell(t, 2, CLI_COLOR_NONE, cli_json_str(x, "kind"));
            cli_alert_cell(t, 3, CLI_COLOR_NONE, n);
            cli_alert_cell(t, 4, CLI_COLOR_YELLOW, cli_json_str(x, "silenced_until"));
        }
        if (t)
            cli_table_print(t, stdout, ctx->color);
        cli_table_destroy(&t);
    }
    json_decref(r);
    return rc;
}

static int cli_alert_notifiers(cli_ctx_t *ctx, int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        cli_error("alert notifiers takes no arguments");
        return CLI_EXIT_USAGE;
    }
    json_t *r = NULL;
    int rc = cli_request(ctx, 0, "GET", "/api/v1/alerts/notifiers", NULL, &r);
    if (rc == 0 && ctx->json) {
        cli_json_print(r, true);
    } else if (rc == 0) {
        static const char *const hdr[] = {"ID", "NAME", "KIND", "TARGET", "SIGNED"};
        cli_table_t *t = cli_table_new(5, hdr);
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(r, "notifiers"), i, x)
        {
            const char *target = cli_json_str(x, "url");
            if (!*target)
                target = json_string_value(json_array_get(json_object_get(x, "argv"), 0));
            cli_table_row_add(t);
            cli_alert_cell(t, 0, CLI_COLOR_NONE, cli_json_str(x, "id"));
            cli_alert_cell(t, 1, CLI_COLOR_NONE, cli_json_str(x, "name"));
            cli_alert_cell(t, 2, CLI_COLOR_NONE, cli_json_str(x, "kind"));
            cli_alert_cell(t, 3, CLI_COLOR_DIM, target ? target : "");
            cli_alert_cell(t, 4, CLI_COLOR_NONE,
                           json_is_true(json_object_get(x, "has_secret")) ? "yes" : "no");
        }
        if (t)
            cli_table_print(t, stdout, ctx->color);
        cli_table_destroy(&t);
    }
    json_decref(r);
    return rc;
}

/* history and outbox: the same rows, from two endpoints. */
static int cli_alert_rows(cli_ctx_t *ctx, int argc, char **argv)
{
    bool outbox = !strcmp(argv[0], "outbox");
    char path[300];
    snprintf(path, sizeof path, "/api/v1/alerts/%s?limit=50", outbox ? "outbox" : "history");
    const char *v;
    for (int i = 1; i < argc; i++) {
        int r = 0;
        const char *names[] = {"--state", "--rule", "--limit"};
        size_t k;
        for (k = 0; k < 3 && !(r = opt_value(argc, argv, &i, names[k], &v)); k++)
            ;
        /* values go into the query as they are: ids are hex, states and limits alphanumeric */
        if (k == 3 || r < 0 || strlen(v) == 0 || strlen(v) > 64 ||
            strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEF0123456789") != strlen(v)) {
            cli_error("unexpected argument '%.60s' (see alert %s --help)", argv[i], argv[0]);
            return CLI_EXIT_USAGE;
        }
        size_t l = strlen(path);
        snprintf(path + l, sizeof path - l, "&%s=%s", names[k] + 2, v);
    }
    json_t *r = NULL;
    int rc = cli_request(ctx, 0, "GET", path, NULL, &r);
    if (rc == 0 && ctx->json) {
        cli_json_print(r, true);
    } else if (rc == 0) {
        static const char *const hdr[] = {"ID", "STATE", "ATTEMPTS", "CREATED", "TITLE", "ERROR"};
        cli_table_t *t = cli_table_new(6, hdr);
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(r, outbox ? "outbox" : "history"), i, x)
        {
            char att[16];
            snprintf(att, sizeof att, "%" JSON_INTEGER_FORMAT,
                     json_integer_value(json_object_get(x, "attempts")));
            const char *st = cli_json_str(x, "state");
            cli_table_row_add(t);
            cli_alert_cell(t, 0, CLI_COLOR_NONE, cli_json_str(x, "id"));
            cli_alert_cell(t, 1,
                           !strcmp(st, "delivered") ? CLI_COLOR_GREEN
                           : !strcmp(st, "dead")    ? CLI_COLOR_RED
                                                    : CLI_COLOR_YELLOW,
                           st);
            cli_alert_cell(t, 2, CLI_COLOR_NONE, att);
            cli_alert_cell(t, 3, CLI_COLOR_DIM, cli_json_str(x, "created_at"));
            cli_alert_cell(t, 4, CLI_COLOR_NONE,
                           cli_json_str(json_object_get(x, "alert"), "title"));
            cli_alert_cell(t, 5, CLI_COLOR_RED, cli_json_str(x, "last_error"));
        }
        if (t)
            cli_table_print(t, stdout, ctx->color);
        cli_table_destroy(&t);
    }
    json_decref(r);
    return rc;
}

static int cli_alert_test(cli_ctx_t *ctx, int argc, char **argv)
{
    if (argc != 2) {
        cli_error("usage: alert test RULE|NOTIFIER (an id or a name)");
        return CLI_EXIT_USAGE;
    }
    char id[80], path[160];
    const char *which = "rules";
    int rc = cli_alert_find(ctx, which, argv[1], id, sizeof id);
    if (rc == 1)
        rc = cli_alert_find(ctx, which = "notifiers", argv[1], id, sizeof id);
    if (rc == 1) {
        cli_error("no rule or notifier with the id or name '%.60s'", argv[1]);
        return 1;
    }
    if (rc != 0)
        return rc;
    snprintf(path, sizeof path, "/api/v1/alerts/%s/%s/test", which, id);
    json_t *r = NULL;
    rc = cli_request(ctx, 0, "POST", path, "{}", &r);
    if (rc == 0 && ctx->json) {
        cli_json_print(r, true);
    } else if (rc == 0) {
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(r, "notifications"), i, x)
            printf("%s\n", json_string_value(x));
    }
    json_decref(r);
    return rc;
}

static int cli_alert_add(cli_ctx_t *ctx, int argc, char **argv)
{
    if (argc != 2) {
        cli_error("usage: alert %s JSON", argv[0]);
        return CLI_EXIT_USAGE;
    }
    json_error_t e;
    json_t *body = json_loads(argv[1], 0, &e);
    if (!json_is_object(body)) {
        cli_error("%s wants a JSON object%s%s", argv[0], body ? "" : ": ", body ? "" : e.text);
        json_decref(body);
        return CLI_EXIT_USAGE;
    }
    json_t *r = NULL;
    int rc = cli_request_json(ctx, "POST",
                              !strcmp(argv[0], "rule-add") ? "/api/v1/alerts/rules"
                                                           : "/api/v1/alerts/notifiers",
                              body, &r);
    if (rc == 0 && ctx->json)
        cli_json_print(r, true);
    else if (rc == 0)
        printf("%s\n", cli_json_str(r, "id"));
    json_decref(r);
    json_decref(body);
    return rc;
}

static int cli_alert_rm(cli_ctx_t *ctx, int argc, char **argv)
{
    if (argc != 2) {
        cli_error("usage: alert rm RULE|NOTIFIER (an id or a name)");
        return CLI_EXIT_USAGE;
    }
    char id[80], path[160];
    const char *which = "rules";
    int rc = cli_alert_find(ctx, which, argv[1], id, sizeof id);
    if (rc == 1)
        rc = cli_alert_find(ctx, which = "notifiers", argv[1], id, sizeof id);
    if (rc == 1) {
        cli_error("no rule or notifier with the id or name '%.60s'", argv[1]);
        return 1;
    }
    if (rc != 0)
        return rc;
    snprintf(path, sizeof path, "/api/v1/alerts/%s/%s", which, id);
    rc = cli_request(ctx, 0, "DELETE", path, NULL, NULL);
    if (rc == 0 && !ctx->json)
        printf("%s %s removed\n", !strcmp(which, "rules") ? "rule" : "notifier", id);
    return rc;
}

static int cli_alert_silence(cli_ctx_t *ctx, int argc, char **argv)
{
    const char *reason = NULL, *v;
    const char *pos[2] = {NULL, NULL};
    size_t npos = 0;
    for (int i = 1; i < argc; i++) {
        int r = opt_value(argc, argv, &i, "--reason", &v);
        if (r > 0)
            reason = v;
        else if (r < 0 || argv[i][0] == '-' || npos == 2) {
            cli_error("unexpected argument '%.60s' (see alert silence --help)", argv[i]);
            return CLI_EXIT_USAGE;
        } else
            pos[npos++] = argv[i];
    }
    char *end = NULL;
    long long s = npos == 2 ? strtoll(pos[1], &end, 10) : -1;
    if (npos != 2 || !end || *end || s < 0) {
        cli_error("usage: alert silence RULE SECONDS [--reason TEXT]");
        return CLI_EXIT_USAGE;
    }
    char id[80], path[160];
    int rc = cli_alert_find(ctx, "rules", pos[0], id, sizeof id);
    if (rc == 1) {
        cli_error("no rule with the id or name '%.60s'", pos[0]);
        return 1;
    }
    if (rc != 0)
        return rc;
    snprintf(path, sizeof path, "/api/v1/alerts/rules/%s/silence", id);
    json_t *body = json_pack("{s:I}", "seconds", (json_int_t)s);
    if (reason)
        json_object_set_new(body, "reason", json_string(reason));
    json_t *r = NULL;
    rc = cli_request_json(ctx, "POST", path, body, &r);
    if (rc == 0 && ctx->json)
        cli_json_print(r, true);
    else if (rc == 0)
        printf("%s\n", s ? cli_json_str(r, "silenced_until") : "silence ended");
    json_decref(r);
    json_decref(body);
    return rc;
}

static int cli_alert_retry(cli_ctx_t *ctx, int argc, char **argv)
{
    if (argc != 2 || !cli_alert_id_ok(argv[1])) {
        cli_error("usage: alert retry ID (a dead notification's id, from alert outbox)");
        return CLI_EXIT_USAGE;
    }
    char path[160];
    snprintf(path, sizeof path, "/api/v1/alerts/outbox/%s/retry", argv[1]);
    json_t *r = NULL;
    int rc = cli_request(ctx, 0, "POST", path, "{}", &r);
    if (rc == 0 && ctx->json)
        cli_json_print(r, true);
    else if (rc == 0)
        printf("%s pending again\n", argv[1]);
    json_decref(r);
    return rc;
}

static const cli_cmd_t cli_alert_cmds[] = {
    {"rules", "list alert rules", "\n\nLists the alert rules.\n", cli_alert_rules},
    {"notifiers", "list notifiers", "\n\nLists the notifiers (secrets are never shown).\n",
     cli_alert_notifiers},
    {"test", "send a test notification: RULE|NOTIFIER",
     "RULE|NOTIFIER\n\nPuts a test notification in the outbox for the rule's notifiers (or the "
     "one\nnotifier) and prints its ids; alert history shows how it went.\n",
     cli_alert_test},
    {"history", "notifications and their outcome, newest first (--state, --rule, --limit)",
     "[options]\n\nLists notifications, newest first.\n\n"
     "  --state STATE         pending, delivered or dead\n"
     "  --rule ID             only this rule's\n"
     "  --limit N             at most N (default 50)\n",
     cli_alert_rows},
    {"outbox", "notifications waiting or dead-lettered (--state, --rule, --limit)",
     "[options]\n\nLists the outbox: pending and dead notifications, newest first.\n\n"
     "  --state STATE         pending or dead\n"
     "  --rule ID             only this rule's\n"
     "  --limit N             at most N (default 50)\n",
     cli_alert_rows},
    {"retry", "send a dead-lettered notification again: ID",
     "ID\n\nPuts a dead notification back in the outbox.\n", cli_alert_retry},
    {"silence", "silence a rule: RULE SECONDS [--reason TEXT] (0 ends it)",
     "RULE SECONDS [options]\n\nHolds the rule's notifications back for SECONDS; 0 ends the "
     "silence.\n\n"
     "  --reason TEXT         why (shown with the rule)\n",
     cli_alert_silence},
    {"rule-add", "create a rule: JSON (see docs/alerts.md)",
     "JSON\n\nCreates a rule from its JSON document and prints its id, e.g.\n"
     "  {\"name\":\"web\",\"kind\":\"anomaly\",\"stream\":\"web-*\",\"notifiers\":[\"ID\"]}\n",
     cli_alert_add},
    {"notifier-add", "create a notifier: JSON (see docs/alerts.md)",
     "JSON\n\nCreates a notifier from its JSON document and prints its id, e.g.\n"
     "  {\"name\":\"ops\",\"kind\":\"webhook\",\"url\":\"https://...\",\"secret\":\"...\"}\n"
     "  {\"name\":\"on-call\",\"kind\":\"email\",\"to\":\"oncall@example.com\"}  (the [mail] "
     "relay)\n"
     "Kinds: webhook, slack, chat, exec, email.\n",
     cli_alert_add},
    {"rm", "delete a rule or a notifier: RULE|NOTIFIER",
     "RULE|NOTIFIER\n\nDeletes the rule, or the notifier (refused while a rule sends to it).\n",
     cli_alert_rm},
};

const cli_group_t cli_alert_group = {"alert", cli_alert_cmds,
                                     sizeof cli_alert_cmds / sizeof cli_alert_cmds[0]};

int cli_cmd_alert(cli_ctx_t *ctx, int argc, char **argv)
{
    return cli_group_run(ctx, &cli_alert_group,
                         "Alert rules send notifications through notifiers (docs/alerts.md).\n",
                         argc, argv);
}
