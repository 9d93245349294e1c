/* The CLI's entry: global options (accepted before or after the command), the command table and
 * its dispatch with "did you mean" suggestions, usage text, `help` and `version`. Commands with
 * subcommands (`agent …`, `user …`) reuse cli_dispatch() with their own table. */
#include "cli/cli.h"
#include "cli/cli_auth.h"
#include "cli/cli_priv.h"
#include "core/opt.h"
#include "cli/cli_tools.h"
#include "cli/cli_top.h"
#include "server/serve.h"

#include "build_info.h"
#include "core/buildinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int cli_cmd_help(cli_ctx_t *ctx, int argc, char **argv);
static int cli_cmd_serve(cli_ctx_t *ctx, int argc, char **argv);

static const cli_cmd_t cli_commands[] = {
    {"serve", "run the daemon (see ganglion serve --help)", NULL, cli_cmd_serve},
    {"status", "show whether the daemon is up and ready, its version and uptime", NULL,
     cli_cmd_status},
    {"call", "send one request to any endpoint and print the reply", NULL, cli_cmd_call},
    {"agent", "supervise agents: spawn, ls, show, logs, pause, stop ... (see agent help)", NULL,
     cli_cmd_agent},
    {"brain",
     "spiking networks from FEAGI genomes: create, ls, start, step, activity ... (see brain help)",
     NULL, cli_cmd_brain},
    {"top", "a live view of the agents: status, CPU, memory, log; keys to act", NULL, cli_cmd_top},
    {"program", "programs from program files: ls, reload, start, stop, restart", NULL,
     cli_cmd_program},
    {"cert", "write a self-signed development certificate for HTTPS", NULL, cli_cmd_cert},
    {"watch", "anomaly detection: anomalies, incidents, ack, verify ... (see watch --help)", NULL,
     cli_cmd_watch},
    {"guard", "rules that score actions, reviews of held actions (see guard --help)", NULL,
     cli_cmd_guard},
    {"memory", "memory records: add, search, show, rm (see memory --help)", NULL, cli_cmd_memory},
    {"vault", "encrypted, verified backups and restores (see vault --help)", NULL, cli_cmd_vault},
    {"task", "hand work to agents: submit, ls, show, cancel, wait (see task --help)", NULL,
     cli_cmd_task},
    {"alert", "alert rules and notifiers: rules, test, history, outbox (see alert --help)", NULL,
     cli_cmd_alert},
    {"chat", "talk to an agent: the answer streams as it comes (/history, /clear)",
     "AGENT [--message TEXT] [--session ID|new]\n\nA conversation with an agent over the WebSocket "
     "(docs/websocket.md): each line typed\n"
     "is sent to AGENT (an id or name) and its answer prints as it streams. /history shows the\n"
     "conversation, /clear forgets it; Ctrl-D or Ctrl-C leave. --timeout bounds the wait for\n"
     "each piece of an answer.\n\n"
     "  --message TEXT  send TEXT, print the whole answer and exit (1 when it failed)\n"
     "  --session ID    keep the conversation in the daemon's store under session ID and\n"
     "                  resume it (new: start one; its id is printed on stderr)\n",
     cli_cmd_chat},
    {"synth", "write labelled synthetic traffic for the anomaly detector", NULL, cli_cmd_synth},
    {"login", "sign in and store the session for later commands", NULL, cli_cmd_login},
    {"logout", "revoke and forget the stored session", NULL, cli_cmd_logout},
    {"whoami", "show who the daemon takes you for and where the credential came from", NULL,
     cli_cmd_whoami},
    {"user",
     "manage users: add, ls, disable, enable, passwd, role, reset-token, approve, invite, "
     "reset-password, verify-email",
     NULL, cli_cmd_user},
    {"team", "manage teams (admins): ls, show, create, delete, add, remove", NULL, cli_cmd_team},
    {"key", "manage API keys: create, ls, revoke, rotate", NULL, cli_cmd_key},
    {"audit", "show the audit log (who did what, with what result)", NULL, cli_cmd_audit},
    {"log-level", "show the daemon's log levels, or set one module's at run time", NULL,
     cli_cmd_log_level},
    {"completion", "print a bash or zsh completion script", NULL, cli_cmd_completion},
    {"version", "print the client's version and the daemon's", NULL, cli_cmd_version},
    {"help", "show help for ganglion or for one command", NULL, cli_cmd_help},
};
#define CLI_NCOMMANDS (sizeof cli_commands / sizeof cli_commands[0])

const cli_group_t cli_main_group = {"", cli_commands, CLI_NCOMMANDS};

void cli_usage_globals(FILE *out)
{
    fputs("global options (before or after the command):\n"
          "  --url URL          daemon URL (default: $GANGLION_URL, else url in the user\n"
          "                     config, else " CLI_DEFAULT_URL ")\n"
          "  --token TOKEN      bearer token (default: $GANGLION_TOKEN, else the `login`\n"
          "                     session, the user config, the daemon's admin.token; see\n"
          "                     `whoami --help`; prefer the variable: arguments are visible\n"
          "                     to other users)\n"
          "  --timeout SECONDS  bound on each request (default 10)\n"
          "  --cacert FILE      trust this PEM certificate for https:// URLs (default:\n"
          "                     $GANGLION_CACERT, else the system's CAs)\n"
          "  --insecure         do not verify the daemon's certificate (testing only)\n"
          "  --json             machine-readable output (compact JSON on stdout)\n"
          "  --via http|zmq     transport to the daemon (default http)\n"
          "  -h, --help         show help\n",
          out);
}

static void cli_usage(const cli_ctx_t *ctx, FILE *out)
{
    fprintf(out,
            "usage: %s [OPTIONS] COMMAND [ARGS]\n\n"
            "ganglion is a control plane for agents. `%s serve` runs the daemon; every other\n"
            "command is a client that talks to a running daemon.\n\n"
            "commands:\n",
            ctx->prog, ctx->prog);
    for (size_t i = 0; i < CLI_NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", cli_commands[i].name, cli_commands[i].summary);
    fputc('\n', out);
    cli_usage_globals(out);
    fprintf(out,
            "\nexit codes: 0 ok, 1 the daemon answered with an error, 2 bad usage,\n"
            "            3 the daemon could not be reached\n\n"
            "Run '%s COMMAND --help' for a command's options and examples.\n",
            ctx->prog);
}

/* Edit distance with transpositions ("lgos" is one step from "logs"), for suggestions; names
 * are short, so three rows of the O(n*m) table are tiny. */
static size_t cli_distance(const char *a, const char *b)
{
    size_t la = strnlen(a, 64), lb = strnlen(b, 64);
    size_t pp[65], prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = pp[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            cur[j] = del < ins ? del : ins;
            if (sub < cur[j])
                cur[j] = sub;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                pp[j - 2] + 1 < cur[j])
                cur[j] = pp[j - 2] + 1;
        }
        memcpy(pp, prev, (lb + 1) * sizeof *pp);
        memcpy(prev, cur, (lb + 1) * sizeof *prev);
    }
    return prev[lb];
}

static const cli_cmd_t *cli_suggest(const cli_cmd_t *cmds, size_t n, const char *name)
{
    const cli_cmd_t *best = NULL;
    size_t best_d = (size_t)-1;
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++) {
        /* A prefix ("stat") is as good a hint as a typo ("stauts"). */
        if (len >= 2 && strncmp(cmds[i].name, name, len) == 0)
            return &cmds[i];
        size_t d = cli_distance(name, cmds[i].name);
        if (d < best_d) {
            best_d = d;
            best = &cmds[i];
        }
    }
    size_t limit = len <= 4 ? 1 : 2;
    return best_d <= limit ? best : NULL;
}

/* "ganglion agent" → "agent "; "ganglion" → "" (for "unknown agent command"). */
static const char *cli_group_word(const char *group, char *buf, size_t len)
{
    const char *sp = strrchr(group, ' ');
    if (!sp)
        return "";
    snprintf(buf, len, "%s ", sp + 1);
    return buf;
}

int cli_dispatch(cli_ctx_t *ctx, const cli_cmd_t *cmds, size_t n, const char *group, int argc,
                 char **argv)
{
    const char *name = argv[0];
    for (size_t i = 0; i < n; i++)
        if (strcmp(cmds[i].name, name) == 0) {
            if (cmds[i].usage && cli_wants_help(argc, argv)) {
                printf("usage: %s %s %s\n", group, cmds[i].name, cmds[i].usage);
                cli_usage_globals(stdout);
                return CLI_EXIT_OK;
            }
            return cmds[i].fn(ctx, argc, argv);
        }

    char shown[80], word[64];
    cli_sanitize(name, shown, sizeof shown);
    const char *kind = cli_group_word(group, word, sizeof word);
    const cli_cmd_t *s = cli_suggest(cmds, n, name);
    if (s && !*kind)
        cli_error("unknown command '%s'. Did you mean '%s %s'?", shown, group, s->name);
    else if (s)
        cli_error("unknown %scommand '%s'; did you mean '%s'?", kind, shown, s->name);
    else
        cli_error("unknown %scommand '%s'", kind, shown);
    fprintf(stderr, "Run '%s --help' for the list of commands.\n", group);
    return CLI_EXIT_USAGE;
}

void cli_group_usage(const cli_ctx_t *ctx, const cli_group_t *g, FILE *out)
{
    size_t w = 4;
    for (size_t i = 0; i < g->n; i++)
        if (strlen(g->cmds[i].name) > w)
            w = strlen(g->cmds[i].name);
    fprintf(out, "usage: %s %s COMMAND [ARGS]\n\ncommands:\n", ctx->prog, g->name);
    for (size_t i = 0; i < g->n; i++)
        fprintf(out, "  %-*s %s\n", (int)w, g->cmds[i].name, g->cmds[i].summary);
    fprintf(out, "\nRun '%s %s COMMAND --help' for a command's arguments and options.\n", ctx->prog,
            g->name);
}

static int cli_group_run_sub(cli_ctx_t *ctx, const cli_group_t *g, int argc, char **argv)
{
    char group[128];
    snprintf(group, sizeof group, "%s %s", ctx->prog, g->name);
    return cli_dispatch(ctx, g->cmds, g->n, group, argc, argv);
}

int cli_group_run(cli_ctx_t *ctx, const cli_group_t *g, const char *extra, int argc, char **argv)
{
    bool bare = argc < 2;
    if (bare || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        (!strcmp(argv[1], "help") && argc == 2)) {
        FILE *out = bare ? stderr : stdout;
        cli_group_usage(ctx, g, out);
        if (extra)
            fprintf(out, "\n%s", extra);
        if (!bare) {
            fputc('\n', out);
            cli_usage_globals(out);
        }
        return bare ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    /* `agent help spawn` is `agent spawn --help` */
    if (!strcmp(argv[1], "help")) {
        static char help_opt[] = "--help";
        char *sub[] = {argv[2], help_opt, NULL};
        return cli_group_run_sub(ctx, g, 2, sub);
    }
    return cli_group_run_sub(ctx, g, argc - 1, argv + 1);
}

static int cli_cmd_help(cli_ctx_t *ctx, int argc, char **argv)
{
    if (argc < 2 || cli_wants_help(argc, argv)) {
        cli_usage(ctx, stdout);
        return CLI_EXIT_OK;
    }
    static char help_opt[] = "--help";
    char *sub[] = {argv[1], help_opt, NULL};
    return cli_dispatch(ctx, cli_commands, CLI_NCOMMANDS, ctx->prog, 2, sub);
}

/* Reached only when `serve` is not the first argument (main.c sends `ganglion serve …` straight
 * to the daemon). Help is forwarded; anything else would lose the options before it. */
static int cli_cmd_serve(cli_ctx_t *ctx, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        static char serve_name[] = "serve", help_opt[] = "--help";
        char *sub[] = {serve_name, help_opt, NULL};
        return serve_main(2, sub);
    }
    cli_error("`serve` must come first: %s serve [OPTIONS] (see %s serve --help)", ctx->prog,
              ctx->prog);
    return CLI_EXIT_USAGE;
}

/* ---- version ---------------------------------------------------------------------------- */

static void cli_version_usage(const cli_ctx_t *ctx)
{
    printf("usage: %s version [--json]\n\n"
           "Prints this client's version, revision and build options, and asks the daemon at\n"
           "--url for its own (GET /api/v1/system/info). An unreachable daemon is reported,\n"
           "not treated as a failure.\n\n"
           "examples:\n"
           "  %s version\n"
           "  %s version --json\n"
           "  %s --url http://10.0.0.5:7700 version\n\n",
           ctx->prog, ctx->prog, ctx->prog, ctx->prog);
    cli_usage_globals(stdout);
}

/* Asks the daemon for its version; fills `daemon` with what was learnt, never fails. */
static void cli_version_probe(const cli_ctx_t *ctx, json_t *daemon)
{
    cli_client_t *c = NULL;
    cli_response_t r = {0};
    json_object_set_new(daemon, "url", json_string(ctx->url));
    /* A version query should not hang for the full default timeout on a dead host. */
    if (cli_client_open(ctx, 3.0, &c) < 0) {
        json_object_set_new(daemon, "reachable", json_false());
        json_object_set_new(daemon, "error", json_string("invalid client options"));
        return;
    }
    int rc = cli_client_request(c, "GET", "/api/v1/system/info", NULL, 0, &r);
    if (rc < 0) {
        json_object_set_new(daemon, "reachable", json_false());
        json_object_set_new(daemon, "error", json_string(cli_client_error(c)));
    } else {
        json_object_set_new(daemon, "reachable", json_true());
        json_t *info = cli_response_json(&r);
        if (r.status >= 200 && r.status < 300 && json_is_object(info)) {
            static const char *const keys[] = {"version", "revision", "build_type", "build"};
            for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
                json_t *v = json_object_get(info, keys[i]);
                if (json_is_string(v) || json_is_object(v))
                    json_object_set(daemon, keys[i], v);
            }
        } else {
            char msg[256];
            snprintf(msg, sizeof msg, "GET /api/v1/system/info answered %d", r.status);
            json_object_set_new(daemon, "error", json_string(msg));
        }
        json_decref(info);
    }
    cli_response_free(&r);
    cli_client_destroy(&c);
}

/* "-O2, debug, sanitize none, fuzz off, gnutls 3.7.9, gcc 12.2.0" from a build object. */
static void cli_version_build_row(cli_table_t *t, const json_t *b)
{
    if (!json_is_object(b))
        return;
    const char *opt = json_string_value(json_object_get(b, "optimization"));
    const char *san = json_string_value(json_object_get(b, "sanitize"));
    const char *tls = json_string_value(json_object_get(b, "tls"));
    const char *cc = json_string_value(json_object_get(b, "compiler"));
    cli_table_row_add(t);
    cli_table_cellf(t, 1, CLI_COLOR_DIM, "-O%s, %s, sanitize %s, fuzz %s, %s, %s", opt ? opt : "?",
                    json_is_true(json_object_get(b, "debug")) ? "debug info" : "no debug info",
                    san && *san ? san : "none",
                    json_is_true(json_object_get(b, "fuzz")) ? "on" : "off", tls ? tls : "?",
                    cc ? cc : "?");
}

static void cli_version_row(cli_table_t *t, const char *who, const json_t *o)
{
    const char *v = json_string_value(json_object_get(o, "version"));
    const char *rev = json_string_value(json_object_get(o, "revision"));
    const char *bt = json_string_value(json_object_get(o, "build_type"));
    cli_table_row_add(t);
    cli_table_cell_set(t, 0, CLI_COLOR_BOLD, who);
    cli_table_cellf(t, 1, CLI_COLOR_NONE, "ganglion %s (revision %s, %s)", v ? v : "?",
                    rev ? rev : "?", bt ? bt : "?");
}

int cli_cmd_version(cli_ctx_t *ctx, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        cli_version_usage(ctx);
        return CLI_EXIT_OK;
    }
    if (argc > 1) {
        cli_error("version takes no arguments (got '%.80s'); see %s version --help", argv[1],
                  ctx->prog);
        return CLI_EXIT_USAGE;
    }
    json_t *out = json_object(), *client = json_object(), *daemon = json_object();
    if (!out || !client || !daemon) {
        json_decref(out);
        json_decref(client);
        json_decref(daemon);
        cli_error("out of memory");
        return CLI_EXIT_FAIL;
    }
    json_object_set_new(client, "version", json_string(GANGLION_VERSION));
    json_object_set_new(client, "revision", json_string(buildinfo_revision()));
    json_object_set_new(client, "build_type", json_string(GANGLION_BUILD_TYPE));
    json_object_set_new(client, "build", buildinfo_json());
    cli_version_probe(ctx, daemon);
    json_object_set_new(out, "client", client);
    json_object_set_new(out, "daemon", daemon);

    int rc = CLI_EXIT_OK;
    if (ctx->json) {
        if (cli_json_print(out, false) < 0)
            rc = CLI_EXIT_FAIL;
    } else {
        cli_table_t *t = cli_table_new(2, NULL);
        if (!t) {
            json_decref(out);
            cli_error("out of memory");
            return CLI_EXIT_FAIL;
        }
        cli_table_width_set(t, 1, 0);
        cli_version_row(t, "client", client);
        cli_version_build_row(t, json_object_get(client, "build"));
        const char *err = json_string_value(json_object_get(daemon, "error"));
        if (json_is_true(json_object_get(daemon, "reachable")) && !err) {
            cli_version_row(t, "daemon", daemon);
            cli_version_build_row(t, json_object_get(daemon, "build"));
            cli_table_row_add(t);
            cli_table_cell_set(t, 1, CLI_COLOR_DIM, ctx->url);
        } else {
            cli_table_row_add(t);
            cli_table_cell_set(t, 0, CLI_COLOR_BOLD, "daemon");
            if (json_is_true(json_object_get(daemon, "reachable")))
                cli_table_cellf(t, 1, CLI_COLOR_YELLOW, "reachable at %s, but %s", ctx->url,
                                err ? err : "no version");
            else
                cli_table_cell_set(t, 1, CLI_COLOR_YELLOW, err ? err : "not reachable");
        }
        if (cli_table_print(t, stdout, ctx->color) < 0)
            rc = CLI_EXIT_FAIL;
        cli_table_destroy(&t);
    }
    json_decref(out);
    return rc;
}

/* ---- global options ------------------------------------------------------------------- */

/* Removes the global options from argv wherever they are (until a "--"), leaving the command
 * and its own arguments in `rest`. Returns 0 or CLI_EXIT_USAGE after printing why. */
static int cli_globals_parse(cli_ctx_t *ctx, const cli_conf_t *conf, int argc, char **argv,
                             char **rest, int *nrest)
{
    const char *timeout = NULL, *via = NULL, *token = NULL, *url = NULL;
    bool dashdash = false;
    *nrest = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r = 0;
        if (!dashdash && strcmp(argv[i], "--") == 0)
            dashdash = true;
        if (dashdash) {
            rest[(*nrest)++] = argv[i];
            continue;
        }
        if (strcmp(argv[i], "--json") == 0) {
            ctx->json = true;
            continue;
        }
        if (strcmp(argv[i], "--insecure") == 0) {
            ctx->insecure = true;
            continue;
        }
        static const char *const names[] = {"--url", "--timeout", "--token", "--via", "--cacert"};
        const char **dst[] = {&url, &timeout, &token, &via, &ctx->cacert};
        for (size_t k = 0; k < 5 && r == 0; k++) {
            r = opt_value(argc, argv, &i, names[k], &v);
            if (r == 1)
                *dst[k] = v;
            else if (r < 0) {
                cli_error("option %s needs a value; see %s --help", names[k], ctx->prog);
                return CLI_EXIT_USAGE;
            }
        }
        if (r == 0)
            rest[(*nrest)++] = argv[i];
    }
    rest[*nrest] = NULL;

    if (timeout) {
        char *end;
        errno = 0;
        double t = strtod(timeout, &end);
        if (errno || end == timeout || *end || !isfinite(t) || t <= 0 || t > 86400) {
            cli_error("--timeout wants seconds between 0 and 86400, not '%.40s'", timeout);
            return CLI_EXIT_USAGE;
        }
        ctx->timeout_s = t;
    }
    if (via) {
        if (strcmp(via, "http") == 0) {
            ctx->via = CLI_VIA_HTTP;
        } else if (strcmp(via, "zmq") == 0) {
            ctx->via = CLI_VIA_ZMQ;
        } else {
            cli_error("--via wants http or zmq, not '%.40s'", via);
            return CLI_EXIT_USAGE;
        }
    }
    const char *env_url = getenv("GANGLION_URL");
    if (url) {
        ctx->url = url;
        ctx->url_from = "--url";
    } else if (env_url && *env_url) {
        ctx->url = env_url;
        ctx->url_from = "$GANGLION_URL";
    } else if (conf->url[0]) {
        ctx->url = conf->url;
        ctx->url_from = conf->path;
    } else {
        ctx->url = CLI_DEFAULT_URL;
        ctx->url_from = "default";
    }
    if (!*ctx->url) {
        cli_error("--url is empty");
        return CLI_EXIT_USAGE;
    }
    const char *env_token = getenv("GANGLION_TOKEN");
    if ((token && strlen(token) > CLI_MAX_TOKEN) ||
        (!token && env_token && strlen(env_token) > CLI_MAX_TOKEN)) {
        cli_error("the token is longer than %d bytes", CLI_MAX_TOKEN);
        return CLI_EXIT_USAGE;
    }
    cli_cred_resolve(ctx, conf, token);
    return 0;
}

int cli_main(int argc, char **argv)
{
    const char *prog = (argc > 0 && argv[0]) ? strrchr(argv[0], '/') : NULL;
    cli_ctx_t ctx = {
        .prog = prog ? prog + 1 : (argc > 0 && argv[0] ? argv[0] : "ganglion"),
        .url = CLI_DEFAULT_URL,
        .cacert = getenv("GANGLION_CACERT"),
        .timeout_s = CLI_DEFAULT_TIMEOUT,
        .via = CLI_VIA_HTTP,
    };
    /* Static: it is large and may hold a token (wiped on the way out); read once per process. */
    static cli_conf_t conf;
    int crc = cli_conf_load(&conf);
    if (crc < 0)
        fprintf(stderr, "warning: cannot read %s: %s\n", conf.path, strerror(-crc));
    const char *nc = getenv("NO_COLOR");
    const char *term = getenv("TERM");
    ctx.out_tty = isatty(STDOUT_FILENO) == 1;
    ctx.color = ctx.out_tty && !(nc && *nc) && !(term && strcmp(term, "dumb") == 0);

    char **rest = calloc((size_t)(argc > 0 ? argc : 1) + 1, sizeof *rest);
    if (!rest) {
        cli_error("out of memory");
        return CLI_EXIT_FAIL;
    }
    int nrest = 0, rc = cli_globals_parse(&ctx, &conf, argc, argv, rest, &nrest);
    if (rc != 0)
        goto out;

    if (nrest == 0) {
        cli_usage(&ctx, stderr);
        rc = CLI_EXIT_USAGE;
    } else if (strcmp(rest[0], "-h") == 0 || strcmp(rest[0], "--help") == 0) {
        cli_usage(&ctx, stdout);
        rc = CLI_EXIT_OK;
    } else if (strcmp(rest[0], "--version") == 0 || strcmp(rest[0], "-V") == 0) {
        static char version_name[] = "version";
        rest[0] = version_name;
        rc = cli_cmd_version(&ctx, nrest, rest);
    } else if (rest[0][0] == '-') {
        char shown[80];
        cli_sanitize(rest[0], shown, sizeof shown);
        cli_error("unknown option '%s'; see %s --help", shown, ctx.prog);
        rc = CLI_EXIT_USAGE;
    } else {
        rc = cli_dispatch(&ctx, cli_commands, CLI_NCOMMANDS, ctx.prog, nrest, rest);
    }
out:
    if (ctx.token) {
        explicit_bzero(ctx.token, strlen(ctx.token));
        free(ctx.token);
    }
    explicit_bzero(conf.token, sizeof conf.token);
    free(rest);
    fflush(stdout);
    return rc;
}
