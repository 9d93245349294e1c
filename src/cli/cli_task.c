/* `ganglion task …`: submit a task, list, show, cancel and wait for tasks (docs/tasks.md).
 * Each subcommand is one request to /api/v1/tasks… (wait repeats a bounded long-poll);
 * tables on a terminal, JSON with --json. */
#include "cli/cli_priv.h"

#include "core/num.h"
#include "core/opt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A task id as it may go into a path: t- and hex digits. */
static bool cli_task_id_ok(const char *id)
{
    if (strncmp(id, "t-", 2) || strlen(id) > 40)
        return false;
    for (const char *s = id + 2; *s; s++)
        if (!strchr("0123456789abcdef", *s))
            return false;
    return true;
}

/* Percent-encodes s into out (query values). */
static void cli_task_qenc(const char *s, char *out, size_t len)
{
    size_t o = 0;
    for (; *s && o + 4 < len; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            strchr("-._~", ch))
            out[o++] = (char)ch;
        else
            o += (size_t)snprintf(out + o, len - o, "%%%02X", ch);
    }
    out[o] = '\0';
}

static void cli_task_print(const cli_ctx_t *ctx, const json_t *t)
{
    if (ctx->json) {
        cli_json_print(t, true);
        return;
    }
    char err[512];
    cli_sanitize(cli_json_str(t, "error"), err, sizeof err);
    printf("%s  %s  %s  attempts %" JSON_INTEGER_FORMAT "  worker %s%s%s\n", cli_json_str(t, "id"),
           cli_json_str(t, "state"), cli_json_str(t, "type"),
           json_integer_value(json_object_get(t, "attempts")),
           json_is_string(json_object_get(t, "worker")) ? cli_json_str(t, "worker") : "-",
           *err ? "  error: " : "", err);
    json_t *out = json_object_get(t, "output");
    if (out && !json_is_null(out))
        cli_json_print(out, false);
}

/* Waits for the task's end with long-polls shorter than the client timeout; 0 when it
 * succeeded, 1 otherwise (or an exit code). *out gets the task as last seen. */
static int cli_task_wait_for(cli_ctx_t *ctx, const char *id, double timeout_s, json_t **out)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    *out = NULL;
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double left = timeout_s -
                      ((double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9);
        double poll = ctx->timeout_s - 1.0;
        if (poll > 30)
            poll = 30;
        if (poll > left)
            poll = left;
        if (poll < 0)
            poll = 0;
        char path[160];
        snprintf(path, sizeof path, "/api/v1/tasks/%s/wait?timeout_ms=%d", id, (int)(poll * 1000));
        json_decref(*out);
        int rc = cli_request(ctx, 0, "GET", path, NULL, out);
        if (rc)
            return rc;
        const char *st = cli_json_str(*out, "state");
        bool end = strcmp(st, "queued") && strcmp(st, "assigned") && strcmp(st, "running");
        if (end)
            return strcmp(st, "succeeded") ? CLI_EXIT_FAIL : CLI_EXIT_OK;
        if (left <= 0) {
            cli_error("task %s is still %s", id, st);
            return CLI_EXIT_FAIL;
        }
    }
}

static int cli_task_submit(cli_ctx_t *ctx, int argc, char **argv)
{
    json_t *body = json_object(), *labels = json_object();
    bool wait = false;
    double wait_s = 300;
    const char *type = NULL, *v;
    int rc = CLI_EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = opt_value(argc, argv, &i, "--input", &v)) != 0) {
            json_error_t e;
            json_t *in = r > 0 ? json_loads(v, JSON_DECODE_ANY, &e) : NULL;
            if (!in) {
                cli_error("--input wants JSON%s%s", r > 0 ? ": " : "", r > 0 ? e.text : "");
                goto out;
            }
            json_object_set_new(body, "input", in);
        } else if ((r = opt_value(argc, argv, &i, "--capability", &v)) != 0 ||
                   (r = opt_value(argc, argv, &i, "--agent", &v)) != 0 ||
                   (r = opt_value(argc, argv, &i, "--description", &v)) != 0 ||
                   (r = opt_value(argc, argv, &i, "--deadline", &v)) != 0 ||
                   (r = opt_value(argc, argv, &i, "--key", &v)) != 0) {
            if (r < 0) {
                cli_error("%s wants a value", argv[i]);
                goto out;
            }
            const char *opt = argv[i - (strchr(argv[i], '=') ? 0 : 1)] + 2;
            char key[32];
            snprintf(key, sizeof key, "%.*s", (int)strcspn(opt, "="), opt);
            json_object_set_new(body, !strcmp(key, "key") ? "idempotency_key" : key,
                                json_string(v));
        } else if ((r = opt_value(argc, argv, &i, "--priority", &v)) != 0 ||
                   (r = opt_value(argc, argv, &i, "--max-attempts", &v)) != 0 ||
                   (r = opt_value(argc, argv, &i, "--timeout-ms", &v)) != 0) {
            const char *opt = argv[i - (strchr(argv[i], '=') ? 0 : 1)] + 2;
            char *end = NULL;
            long long n = r > 0 ? strtoll(v, &end, 10) : 0;
            if (r < 0 || !end || *end) {
                cli_error("--%.*s wants a whole number", (int)strcspn(opt, "="), opt);
                goto out;
            }
            json_object_set_new(body,
                                !strncmp(opt, "priority", 8)        ? "priority"
                                : !strncmp(opt, "max-attempts", 12) ? "max_attempts"
                                                                    : "timeout_ms",
                                json_integer(n));
        } else if ((r = opt_value(argc, argv, &i, "--label", &v)) != 0) {
            const char *eq = r > 0 ? strchr(v, '=') : NULL;
            if (!eq || eq == v) {
                cli_error("--label wants KEY=VALUE");
                goto out;
            }
            json_object_setn_new(labels, v, (size_t)(eq - v), json_string(eq + 1));
        } else if ((r = opt_value(argc, argv, &i, "--wait-s", &v)) != 0) {
            wait = true;
            if (r < 0 || num_double_parse(v, 0, 1e9, &wait_s) < 0) {
                cli_error("--wait-s wants a number of seconds, not '%.60s'", r < 0 ? "" : v);
                goto out;
            }
        } else if (!strcmp(argv[i], "--wait")) {
            wait = true;
        } else if (argv[i][0] == '-' || type) {
            cli_error("unexpected argument '%.60s' (see task submit --help)", argv[i]);
            goto out;
        } else {
            type = argv[i];
        }
    }
    if (!type) {
        cli_error("usage: task submit TYPE [options]");
        goto out;
    }
    json_object_set_new(body, "type", json_string(type));
    if (json_object_size(labels))
        json_object_set(body, "labels", labels);
    char *text = json_dumps(body, JSON_COMPACT);
    json_t *t = NULL;
    rc = cli_request(ctx, 0, "POST", "/api/v1/tasks", text, &t);
    free(text);
    if (rc == 0 && wait) {
        json_t *fin = NULL;
        rc = cli_task_wait_for(ctx, cli_json_str(t, "id"), wait_s, &fin);
        if (fin)
            cli_task_print(ctx, fin);
        json_decref(fin);
    } else if (rc == 0) {
        if (ctx->json)
            cli_json_print(t, true);
        else
            printf("%s\n", cli_json_str(t, "id"));
    }
    json_decref(t);
out:
    json_decref(body);
    json_decref(labels);
    return rc;
}

static int cli_task_ls(cli_ctx_t *ctx, int argc, char **argv)
{
    char path[600] = "/api/v1/tasks?limit=100";
    const char *v;
    for (int i = 1; i < argc; i++) {
        int r = 0;
        const char *names[] = {"--state", "--type", "--agent", "--capability", "--limit"};
        size_t k;
        for (k = 0; k < 5 && !(r = opt_value(argc, argv, &i, names[k], &v)); k++)
            ;
        if (k == 5 || r < 0) {
            cli_error("unexpected argument '%.60s' (see task ls --help)", argv[i]);
            return CLI_EXIT_USAGE;
        }
        char enc[300];
        cli_task_qenc(v, enc, sizeof enc);
        size_t l = strlen(path);
        snprintf(path + l, sizeof path - l, "&%s=%s", names[k] + 2, enc);
    }
    json_t *r = NULL;
    int rc = cli_request(ctx, 0, "GET", path, NULL, &r);
    if (rc == 0 && ctx->json) {
        cli_json_print(r, true);
    } else if (rc == 0) {
        static const char *const hdr[] = {"ID", "STATE", "TYPE", "PRI", "ATTEMPTS", "WORKER"};
        cli_table_t *t = cli_table_new(6, hdr);
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(r, "tasks"), i, x)
        {
            char pri[16], att[16], type[200], worker[200];
            snprintf(pri, sizeof pri, "%" JSON_INTEGER_FORMAT,
                     json_integer_value(json_object_get(x, "priority")));
            snprintf(att, sizeof att, "%" JSON_INTEGER_FORMAT,
                     json_integer_value(json_object_get(x, "attempts")));
            cli_sanitize(cli_json_str(x, "type"), type, sizeof type);
            cli_sanitize(cli_json_str(x, "worker"), worker, sizeof worker);
            const char *st = cli_json_str(x, "state");
            cli_table_row_add(t);
            cli_table_cell_set(t, 0, CLI_COLOR_NONE, cli_json_str(x, "id"));
            cli_table_cell_set(t, 1,
                               !strcmp(st, "succeeded")                          ? CLI_COLOR_GREEN
                               : !strcmp(st, "failed") || !strcmp(st, "expired") ? CLI_COLOR_RED
                                                                                 : CLI_COLOR_NONE,
                               st);
            cli_table_cell_set(t, 2, CLI_COLOR_NONE, type);
            cli_table_cell_set(t, 3, CLI_COLOR_NONE, pri);
            cli_table_cell_set(t, 4, CLI_COLOR_NONE, att);
            cli_table_cell_set(t, 5, CLI_COLOR_DIM, *worker ? worker : "-");
        }
        if (t)
            cli_table_print(t, stdout, ctx->color);
        cli_table_destroy(&t);
    }
    json_decref(r);
    return rc;
}

static int cli_task_one(cli_ctx_t *ctx, int argc, char **argv)
{
    if (argc < 2 || !cli_task_id_ok(argv[1])) {
        cli_error("usage: task %s ID (an id as task submit prints it: t-...)", argv[0]);
        return CLI_EXIT_USAGE;
    }
    json_t *t = NULL;
    int rc;
    if (!strcmp(argv[0], "wait")) {
        double s = 300;
        const char *v;
        for (int i = 2; i < argc; i++) {
            int r = opt_value(argc, argv, &i, "--timeout-s", &v);
            if (r <= 0) {
                cli_error("unexpected argument '%.60s'", argv[i]);
                return CLI_EXIT_USAGE;
            }
            if (num_double_parse(v, 0, 1e9, &s) < 0) {
                cli_error("--timeout-s wants a number of seconds, not '%.60s'", v);
                return CLI_EXIT_USAGE;
            }
        }
        rc = cli_task_wait_for(ctx, argv[1], s, &t);
        if (t)
            cli_task_print(ctx, t);
    } else {
        char path[128];
        bool cancel = !strcmp(argv[0], "cancel");
        snprintf(path, sizeof path, "/api/v1/tasks/%s%s", argv[1], cancel ? "/cancel" : "");
        rc = cli_request(ctx, 0, cancel ? "POST" : "GET", path, cancel ? "{}" : NULL, &t);
        if (rc == 0 && (ctx->json || !cancel))
            cli_json_print(t, true);
        else if (rc == 0)
            printf("%s cancelled\n", argv[1]);
    }
    json_decref(t);
    return rc;
}

static const cli_cmd_t cli_task_cmds[] = {
    {"submit", "submit a task: TYPE [--input JSON] [--capability C | --agent A] ...",
     "TYPE [options]\n\nSubmits a task and prints its id (with --wait: waits for its end, prints "
     "the\nresult and exits 0 only when it succeeded).\n\n"
     "  --input JSON          the task's input (any JSON)\n"
     "  --capability NAME     any worker with this capability takes it\n"
     "  --agent NAME          only this agent (id or name) takes it\n"
     "  --priority N          0-9, higher first (default 0)\n"
     "  --max-attempts N      attempts before it fails (default 3)\n"
     "  --timeout-ms N        it expires unless finished within N ms\n"
     "  --deadline TIME       it expires at this RFC 3339 time\n"
     "  --label KEY=VALUE     a label (repeatable)\n"
     "  --description TEXT    for people\n"
     "  --key KEY             idempotency key: the same key returns the first task\n"
     "  --wait                wait for the task's end\n"
     "  --wait-s S            wait at most S seconds (default 300)\n",
     cli_task_submit},
    {"ls", "list tasks (--state, --type, --agent, --capability, --limit)",
     "[options]\n\nLists tasks, oldest first.\n\n"
     "  --state STATE         queued, assigned, running, succeeded, failed, cancelled, expired\n"
     "  --type TYPE\n  --agent NAME\n  --capability NAME\n  --limit N\n",
     cli_task_ls},
    {"show", "show one task as JSON: ID", "ID\n\nPrints the task as JSON.\n", cli_task_one},
    {"cancel", "cancel a task: ID", "ID\n\nCancels the task; its worker is told.\n", cli_task_one},
    {"wait", "wait for a task's end: ID [--timeout-s S]",
     "ID [options]\n\nWaits for the task's end and prints it; exits 0 only when it succeeded.\n\n"
     "  --timeout-s S         give up after S seconds (default 300)\n",
     cli_task_one},
};

const cli_group_t cli_task_group = {"task", cli_task_cmds,
                                    sizeof cli_task_cmds / sizeof cli_task_cmds[0]};

int cli_cmd_task(cli_ctx_t *ctx, int argc, char **argv)
{
    return cli_group_run(ctx, &cli_task_group,
                         "Tasks are handed to stdin workers and leasing workers "
                         "(docs/tasks.md).\n",
                         argc, argv);
}
