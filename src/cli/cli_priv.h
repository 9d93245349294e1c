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
} cli_ctx_t;

/* A command: argv[0] is its own name, the global options are already removed. Returns the
 * process exit code. */
typedef int (*cli_cmd_fn)(cli_ctx_t *ctx, int argc, char **argv);

typedef struct cli_cmd {
    const char *name;
    const char *summary;
    cli_cmd_fn fn;
} cli_cmd_t;

/* Runs the command named argv[0] from `cmds` (n entries). `group` is the words before it in
 * usage text ("ganglion", later "ganglion agent"). Unknown names get a suggestion and exit 2. */
int cli_dispatch(cli_ctx_t *ctx, const cli_cmd_t *cmds, size_t n, const char *group, int argc,
                 char **argv);

/* The commands. */
int cli_cmd_call(cli_ctx_t *ctx, int argc, char **argv);
int cli_cmd_agent(cli_ctx_t *ctx, int argc, char **argv);   /* cli_agent.c */
int cli_cmd_program(cli_ctx_t *ctx, int argc, char **argv); /* cli_program.c */
int cli_cmd_cert(cli_ctx_t *ctx, int argc, char **argv);    /* cli_cert.c */
int cli_cmd_watch(cli_ctx_t *ctx, int argc, char **argv);   /* cli_watch.c */
int cli_cmd_status(cli_ctx_t *ctx, int argc, char **argv);
int cli_cmd_version(cli_ctx_t *ctx, int argc, char **argv);

/* True when argv (after the command name) asks for help with -h or --help before any "--". */
bool cli_wants_help(int argc, char **argv);

/* The global options' help text, appended to every command's usage. */
void cli_usage_globals(FILE *out);

/* Opens a client from the global options, with the timeout capped at max_timeout_s when that is
 * > 0. Prints the error and returns a negative errno on failure. */
int cli_client_open(const cli_ctx_t *ctx, double max_timeout_s, cli_client_t **out);

/* Maps a failed cli_client_request() to an exit code (3 when unreachable, else 1). */
int cli_exit_for(int rc);

/* "error: ..." on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints a JSON value on stdout, indented or compact, ending with a newline. 0, -ENOMEM, -EIO. */
int cli_json_print(const json_t *v, bool pretty);

/* Prints an error reply on stderr as `error: <status> <title>: <detail>` plus one line per field
 * error; understands RFC 9457 problems and degrades to the raw body otherwise. */
void cli_problem_print(const cli_response_t *r);

/* True when the reply's content type is JSON (application/json or any +json). */
bool cli_response_is_json(const cli_response_t *r);

/* Parses a reply body as JSON when its content type says JSON; NULL otherwise. */
json_t *cli_response_json(const cli_response_t *r);

/* Human durations: 3h 12m 5s, 2d 4h 0m 1s, 42s. */
void cli_duration_format(double seconds, char *out, size_t outlen);

/* Copies s into out with control characters replaced, so text from the daemon cannot drive the
 * terminal. */
void cli_sanitize(const char *s, char *out, size_t outlen);

#endif
