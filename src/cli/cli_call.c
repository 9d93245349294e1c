/* `ganglion call METHOD PATH [JSON|@file|-]`: one request to any endpoint, the reply printed as
 * it came (pretty JSON for a person), and an exit code a script can branch on. The body is
 * checked locally so a typo is reported here, with its line and column, not as a 400. */
#include "cli/cli_priv.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Far above the daemon's default request limit (1 MiB, configurable): the daemon, not the
 * client, decides what is too large, but the client must not read an endless stream. */
#define CLI_CALL_MAX_BODY (16u * 1024u * 1024u)
#define CLI_CALL_MAX_PATH 8192

static void cli_call_usage(const cli_ctx_t *ctx)
{
    printf("usage: %s call METHOD PATH [JSON | @FILE | -]\n\n"
           "Sends one request to the daemon and prints the reply body: indented JSON on a\n"
           "terminal, compact JSON with --json, anything else (like /metrics) as it came.\n"
           "METHOD is case-insensitive; PATH starts with '/' and may carry a query string.\n"
           "The body is a JSON argument, @FILE to read it from a file, or - for stdin; it is\n"
           "checked locally and sent as given, with Content-Type: application/json.\n\n"
           "On a 4xx/5xx reply the problem is printed on stderr as\n"
           "  error: <status> <title>: <detail>\n"
           "followed by one line per field error, and the exit code is 1.\n\n"
           "examples:\n"
           "  %s call GET /healthz\n"
           "  %s call get '/api/v1/audit?limit=5'\n"
           "  %s call POST /api/v1/agents '{\"name\": \"w1\", \"argv\": [\"sleep\", \"60\"]}'\n"
           "  %s call POST /api/v1/agents @spawn.json\n"
           "  echo '{\"force\": true}' | %s call POST /api/v1/agents/ID/pause -\n"
           "  %s call GET /metrics | grep ganglion_uptime\n\n",
           ctx->prog, ctx->prog, ctx->prog, ctx->prog, ctx->prog, ctx->prog, ctx->prog);
    cli_usage_globals(stdout);
    puts("\nexit codes: 0 for 2xx/3xx, 1 for 4xx/5xx, 2 bad usage or body, 3 unreachable");
}

/* Reads all of f up to CLI_CALL_MAX_BODY bytes. Returns 0 (buffer NUL-terminated, caller
 * frees), -E2BIG, -EIO or -ENOMEM. */
static int cli_call_slurp(FILE *f, char **out, size_t *outlen)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        if (len + 1 == cap) {
            if (cap > CLI_CALL_MAX_BODY) {
                free(buf);
                return -E2BIG;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return -ENOMEM;
            }
            buf = nb;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        return -EIO;
    }
    if (len > CLI_CALL_MAX_BODY) {
        free(buf);
        return -E2BIG;
    }
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    return 0;
}

/* Resolves the body argument into bytes. Returns 0 or CLI_EXIT_USAGE after printing why.
 * `what` names the source for error messages. */
static int cli_call_body(const char *arg, char **body, size_t *len, char *what, size_t whatlen)
{
    FILE *f = NULL;
    int rc;
    if (strcmp(arg, "-") == 0) {
        snprintf(what, whatlen, "stdin");
        rc = cli_call_slurp(stdin, body, len);
    } else if (arg[0] == '@') {
        snprintf(what, whatlen, "%.200s", arg + 1);
        f = fopen(arg + 1, "rb");
        if (!f) {
            cli_error("cannot read body file '%s': %s", what, strerror(errno));
            return CLI_EXIT_USAGE;
        }
        rc = cli_call_slurp(f, body, len);
        fclose(f);
    } else {
        snprintf(what, whatlen, "the argument");
        *len = strlen(arg);
        *body = strdup(arg);
        rc = *body ? 0 : -ENOMEM;
        if (rc == 0 && *len > CLI_CALL_MAX_BODY) {
            /* the caller frees *body on every refusal */
            free(*body);
            *body = NULL;
            rc = -E2BIG;
        }
    }
    if (rc == -E2BIG) {
        cli_error("body from %s is larger than %u MiB", what, CLI_CALL_MAX_BODY / (1024u * 1024u));
        return CLI_EXIT_USAGE;
    }
    if (rc < 0) {
        cli_error("cannot read body from %s: %s", what, strerror(-rc));
        return CLI_EXIT_USAGE;
    }
    return 0;
}

static int cli_call_body_check(const char *body, size_t len, const char *what)
{
    json_error_t je;
    size_t i = 0;
    while (i < len && isspace((unsigned char)body[i]))
        i++;
    if (i == len) {
        cli_error("body from %s is empty; give a JSON value or leave the body out", what);
        return CLI_EXIT_USAGE;
    }
    json_t *v = json_loadb(body, len, JSON_DECODE_ANY, &je);
    if (!v) {
        char msg[200];
        cli_sanitize(je.text, msg, sizeof msg);
        cli_error("body from %s is not valid JSON (line %d, column %d): %s", what, je.line,
                  je.column, msg);
        return CLI_EXIT_USAGE;
    }
    json_decref(v);
    return 0;
}

/* METHOD: an HTTP token of letters, upper-cased in place into out. */
static int cli_call_method(const char *arg, char *out, size_t outlen)
{
    size_t n = strlen(arg);
    if (n == 0 || n >= outlen) {
        cli_error("'%.40s' is not an HTTP method (GET, POST, PUT, PATCH, DELETE, …)", arg);
        return CLI_EXIT_USAGE;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isalpha((unsigned char)arg[i])) {
            cli_error("'%.40s' is not an HTTP method (GET, POST, PUT, PATCH, DELETE, …)", arg);
            return CLI_EXIT_USAGE;
        }
        out[i] = (char)toupper((unsigned char)arg[i]);
    }
    out[n] = '\0';
    return 0;
}

static int cli_call_path(const char *path)
{
    if (path[0] != '/') {
        cli_error("PATH must start with '/' (got '%.80s'); the daemon's address goes in --url",
                  path);
        return CLI_EXIT_USAGE;
    }
    size_t n = strnlen(path, CLI_CALL_MAX_PATH + 1);
    if (n > CLI_CALL_MAX_PATH) {
        cli_error("PATH is longer than %d bytes", CLI_CALL_MAX_PATH);
        return CLI_EXIT_USAGE;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)path[i];
        if (ch <= 0x20 || ch == 0x7F) {
            cli_error("PATH contains a space or control character at offset %zu; "
                      "percent-encode it (a space is %%20)",
                      i);
            return CLI_EXIT_USAGE;
        }
        if (ch == '#') {
            cli_error("PATH must not contain a fragment ('#')");
            return CLI_EXIT_USAGE;
        }
    }
    return 0;
}

/* Prints a successful reply's body on stdout. */
static int cli_call_print(const cli_ctx_t *ctx, const cli_response_t *r)
{
    if (r->body_len == 0)
        return 0;
    json_t *v = (ctx->json || ctx->out_tty) ? cli_response_json(r) : NULL;
    if (v) {
        int rc = cli_json_print(v, !ctx->json);
        json_decref(v);
        return rc;
    }
    fwrite(r->body, 1, r->body_len, stdout);
    /* JSON rarely ends in a newline; add one so the prompt (or the next line of a script's
     * output) starts cleanly. Other bodies are passed through byte for byte. */
    if (r->body[r->body_len - 1] != '\n' && (ctx->out_tty || cli_response_is_json(r)))
        fputc('\n', stdout);
    return ferror(stdout) ? -EIO : 0;
}

int cli_cmd_call(cli_ctx_t *ctx, int argc, char **argv)
{
    const char *pos[3];
    int npos = 0;
    bool dashdash = false;
    if (cli_wants_help(argc, argv)) {
        cli_call_usage(ctx);
        return CLI_EXIT_OK;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!dashdash && strcmp(a, "--") == 0) {
            dashdash = true;
            continue;
        }
        /* "-" is stdin; other dash words are options, and call has none of its own. A JSON
         * body that starts with '-' (a negative number) can follow "--". */
        if (!dashdash && a[0] == '-' && a[1] != '\0') {
            cli_error("unknown option '%.40s' for call; see %s call --help", a, ctx->prog);
            return CLI_EXIT_USAGE;
        }
        if (npos == 3) {
            cli_error("too many arguments; quote the JSON body as one argument (see %s call "
                      "--help)",
                      ctx->prog);
            return CLI_EXIT_USAGE;
        }
        pos[npos++] = a;
    }
    if (npos < 2) {
        cli_error("call needs METHOD and PATH, e.g. %s call GET /healthz", ctx->prog);
        return CLI_EXIT_USAGE;
    }

    char method[17];
    int rc = cli_call_method(pos[0], method, sizeof method);
    if (rc == 0)
        rc = cli_call_path(pos[1]);
    if (rc != 0)
        return rc;

    char *body = NULL, what[256];
    size_t body_len = 0;
    if (npos == 3) {
        rc = cli_call_body(pos[2], &body, &body_len, what, sizeof what);
        if (rc == 0)
            rc = cli_call_body_check(body, body_len, what);
        if (rc != 0) {
            free(body);
            return rc;
        }
    }

    cli_client_t *c = NULL;
    cli_response_t r = {0};
    if (cli_client_open(ctx, 0, &c) < 0) {
        free(body);
        return CLI_EXIT_USAGE;
    }
    int err = cli_client_request(c, method, pos[1], body, body_len, &r);
    if (err < 0) {
        cli_error("%s", cli_client_error(c));
        rc = cli_exit_for(err);
    } else if (r.status >= 200 && r.status < 400) {
        rc = cli_call_print(ctx, &r) < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
    } else {
        /* Scripts asking for --json still get the problem document itself on stdout. */
        if (ctx->json) {
            json_t *p = cli_response_json(&r);
            if (p)
                cli_json_print(p, false);
            json_decref(p);
        }
        cli_problem_print(&r);
        rc = CLI_EXIT_FAIL;
    }
    cli_response_free(&r);
    cli_client_destroy(&c);
    free(body);
    return rc;
}
