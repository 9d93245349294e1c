/* What the CLI's commands share: the parsed global options, the command table shape, exit
 * codes and output helpers. Internal to src/cli/; the rest of ganglion sees only cli.h. */
#ifndef GANGLION_CLI_PRIV_H
#define GANGLION_CLI_PRIV_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cli/cli_http.h"
#include "cli/cli_table.h"

/* Exit codes every command keeps to, so scripts can tell failures apart. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAIL = 1,        /* the daemon answered with an error (4xx/5xx) or is not ready */
    CLI_EXIT_USAGE = 2,       /* bad arguments or bad local input; nothing was sent */
    CLI_EXIT_UNREACHABLE = 3, /* the daemon could not be reached */
};

#define CLI_DEFAULT_URL     "http://127.0.0.1:7700"
#define CLI_DEFAULT_TIMEOUT 10.0
#define CLI_MAX_TOKEN       8192

/* Global options, parsed once in cli_main and handed to every command. */
typedef struct cli_ctx {
    const char *prog; /* argv[0]'s basename, for usage text */
    const char *url;  /* borrowed from argv or the environment */
    char *token;      /* owned; NULL when none (wiped on exit) */
    double timeout_s;
    cli_via_t via;
    bool json;    /* --json: machine output */
    bool out_tty; /* stdout is a terminal */
    bool color;   /* stdout is a terminal and NO_COLOR is unset */
    /* --cacert or $GANGLION_CACERT (borrowed; NULL = the system's CAs), --insecure */
    const char *cacert;
    bool insecure;
    const char *url_from; /* where url came from: "--url", "$GANGLION_URL", the config, "default" */
    char token_from[8400]; /* where token came from, for whoami; "" when there is none */
} cli_ctx_t;

/* The user config, $XDG_CONFIG_HOME/ganglion/config (KEY = VALUE lines, # comments). */
typedef struct cli_conf {
    bool found;
    char path[3600];
    char url[1024];                /* the daemon to talk to when neither --url nor $GANGLION_URL */
    char token[CLI_MAX_TOKEN + 1]; /* a bearer token for that daemon */
    char token_file[1024];         /* or a file holding one */
    char data_dir[1024];           /* the local daemon's data dir (its admin.token) */
} cli_conf_t;

/* $XDG_CONFIG_HOME/ganglion, else ~/.config/ganglion, into out. 0 or a negative errno. */
int cli_config_dir(char *out, size_t len);

/* Reads the user config into *conf (all empty when there is none; bad lines are warnings).
 * 0 or a negative errno when the file exists but cannot be opened. */
int cli_conf_load(cli_conf_t *conf);

/* Finds the credential for ctx->url: `token` (the --token option, may be NULL),
 * $GANGLION_TOKEN, the login session, the config's token or token_file (only for the config's
 * daemon), then admin.token in $GANGLION_DATA_DIR, the config's data_dir and ./var (loopback
 * URLs only). Sets ctx->token (owned) and ctx->token_from. */
void cli_cred_resolve(cli_ctx_t *ctx, const cli_conf_t *conf, const char *token);

/* A one-line secret file, trimmed; NULL when missing (silently) or unreadable (a warning).
 * Caller frees. */
char *cli_cred_file_read(const char *path);

/* A command: argv[0] is its own name, the global options are already removed. Returns the
 * process exit code. */
typedef int (*cli_cmd_fn)(cli_ctx_t *ctx, int argc, char **argv);

/* One row of a command table; a new (sub)command is one more row. `usage` is what
 * `ganglion GROUP NAME --help` prints after "usage: ganglion GROUP NAME ": the arguments, a blank
 * line, a paragraph and the options, one `--option` per line (the shell completion offers every
 * `--word` it finds there). NULL when the handler prints its own help. */
typedef struct cli_cmd {
    const char *name;
    const char *summary; /* one line in the group's listing */
    const char *usage;   /* per-command --help text, or NULL */
    cli_cmd_fn fn;
} cli_cmd_t;

/* A command table with the words that lead to it ("agent"; "" for the top level). The shell
 * completion walks these (cli_complete.c lists them). */
typedef struct cli_group {
    const char *name;
    const cli_cmd_t *cmds;
    size_t n;
} cli_group_t;

extern const cli_group_t cli_main_group;       /* cli_main.c */
extern const cli_group_t cli_agent_group;      /* cli_agent.c */
extern const cli_group_t cli_brain_group;      /* cli_brain.c */
extern const cli_group_t cli_watch_group;      /* cli_watch.c */
extern const cli_group_t cli_guard_group;      /* cli_guard.c */
extern const cli_group_t cli_memory_group;     /* cli_memory.c */
extern const cli_group_t cli_vault_group;      /* cli_vault.c */
extern const cli_group_t cli_program_group;    /* cli_program.c */
extern const cli_group_t cli_cert_group;       /* cli_cert.c */
extern const cli_group_t cli_user_group;       /* cli_auth.c */
extern const cli_group_t cli_team_group;       /* cli_team.c */
extern const cli_group_t cli_key_group;        /* cli_auth.c */
extern const cli_group_t cli_completion_group; /* cli_complete.c */
extern const cli_group_t cli_task_group;       /* cli_task.c */
extern const cli_group_t cli_alert_group;      /* cli_alert.c */

/* Runs the command named argv[0] from `cmds` (n entries). `group` is the words before it in
 * usage text ("ganglion", "ganglion agent"). `NAME --help` prints the row's usage when it has
 * one; unknown names get a suggestion ("did you mean 'logs'?") and exit 2. */
int cli_dispatch(cli_ctx_t *ctx, const cli_cmd_t *cmds, size_t n, const char *group, int argc,
                 char **argv);

/* Runs argv[1] of a group ("agent logs ..."): with no argument, -h/--help or `help` the group's
 * listing; otherwise cli_dispatch. `extra` is printed after the listing (examples), may be NULL. */
int cli_group_run(cli_ctx_t *ctx, const cli_group_t *g, const char *extra, int argc, char **argv);

/* The group's listing: usage line and one line per row. */
void cli_group_usage(const cli_ctx_t *ctx, const cli_group_t *g, FILE *out);

/* The commands. */
int cli_cmd_call(cli_ctx_t *ctx, int argc, char **argv);
int cli_cmd_agent(cli_ctx_t *ctx, int argc, char **argv);   /* cli_agent.c */
int cli_cmd_brain(cli_ctx_t *ctx, int argc, char **argv);   /* cli_brain.c */
int cli_cmd_program(cli_ctx_t *ctx, int argc, char **argv); /* cli_program.c */
int cli_cmd_cert(cli_ctx_t *ctx, int argc, char **argv);    /* cli_cert.c */
int cli_cmd_watch(cli_ctx_t *ctx, int argc, char **argv);   /* cli_watch.c */
int cli_cmd_guard(cli_ctx_t *ctx, int argc, char **argv);   /* cli_guard.c */
int cli_cmd_memory(cli_ctx_t *ctx, int argc, char **argv);  /* cli_memory.c */
int cli_cmd_vault(cli_ctx_t *ctx, int argc, char **argv);   /* cli_vault.c */
int cli_cmd_task(cli_ctx_t *ctx, int argc, char **argv);    /* cli_task.c */
int cli_cmd_team(cli_ctx_t *ctx, int argc, char **argv);    /* cli_team.c */
int cli_cmd_alert(cli_ctx_t *ctx, int argc, char **argv);   /* cli_alert.c */
int cli_cmd_chat(cli_ctx_t *ctx, int argc, char **argv);    /* cli_chat.c */
int cli_cmd_status(cli_ctx_t *ctx, int argc, char **argv);
int cli_cmd_whoami(cli_ctx_t *ctx, int argc, char **argv);     /* cli_whoami.c */
int cli_cmd_completion(cli_ctx_t *ctx, int argc, char **argv); /* cli_complete.c */
int cli_cmd_version(cli_ctx_t *ctx, int argc, char **argv);
int cli_cmd_log_level(cli_ctx_t *ctx, int argc, char **argv); /* cli_log_level.c */

/* True when argv (after the command name) asks for help with -h or --help before any "--". */
bool cli_wants_help(int argc, char **argv);

/* The global options' help text, appended to every command's usage. */
void cli_usage_globals(FILE *out);

/* Opens a client from the global options, with the timeout capped at max_timeout_s when that is
 * > 0. Prints the error and returns a negative errno on failure. */
int cli_client_open(const cli_ctx_t *ctx, double max_timeout_s, cli_client_t **out);

/* Maps a failed cli_client_request() to an exit code (3 when unreachable, else 1). */
int cli_exit_for(int rc);

/* One request with an optional body text through a client opened for it (max_timeout_s as in
 * cli_client_open): on a reply < 400 *out (may be NULL) gets its JSON — an empty object for an
 * empty body — and 0 is returned; otherwise the problem or the error is printed and the exit
 * code returned. The command files' one way to call the daemon. */
int cli_request(const cli_ctx_t *ctx, double max_timeout_s, const char *method, const char *path,
                const char *body, json_t **out);

/* cli_request with a JSON body (NULL: none). */
int cli_request_json(const cli_ctx_t *ctx, const char *method, const char *path, const json_t *body,
                     json_t **out);

/* The string member k of o, or "" (never NULL): for printing fields that may be absent. */
const char *cli_json_str(const json_t *o, const char *k);

/* "error: ..." on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints a JSON value on stdout, indented or compact, ending with a newline. 0, -ENOMEM, -EIO. */
int cli_json_print(const json_t *v, bool pretty);

/* Prints an error reply on stderr as `error: <status> <title>: <detail>` plus one line per field
 * error; understands RFC 9457 problems and degrades to the raw body otherwise. */
void cli_problem_print(const cli_response_t *r);

/* The same; with hint, a 401 adds how to give the CLI a credential (login, GANGLION_TOKEN, ...). */
void cli_problem_print_ex(const cli_response_t *r, bool hint);

/* True when the reply's content type is JSON (application/json or any +json). */
bool cli_response_is_json(const cli_response_t *r);

/* Parses a reply body as JSON when its content type says JSON; NULL otherwise. */
json_t *cli_response_json(const cli_response_t *r);

/* Human durations, two units at most: 42s, 12m05s, 3h 04m, 2d 4h. */
void cli_duration_format(double seconds, char *out, size_t outlen);

/* Copies s into out with control characters replaced, so text from the daemon cannot drive the
 * terminal. */
void cli_sanitize(const char *s, char *out, size_t outlen);

#endif
