/* `ganglion chat AGENT`: a terminal conversation with an agent over the WebSocket's chat
 * (docs/websocket.md): a line typed is sent, the answer prints as it streams; /history and
 * /clear ask the daemon; Ctrl-D or Ctrl-C leave. --message TEXT sends one message, prints the
 * whole answer and exits (for scripts); --session keeps the conversation in the daemon's store. */
#include "cli/cli_chat_ws.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLI_CHAT_LINE_MAX (64 * 1024)

static volatile int cli_chat_stop;

static void cli_chat_sigint(int sig)
{
    (void)sig;
    cli_chat_stop = 1;
}

/* Prints text from the agent with control characters other than newline and tab dropped, so
 * an answer cannot drive the terminal. */
static void cli_chat_print(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 || c == '\n' || c == '\t')
            putchar(c);
    }
}

static void cli_chat_error(const json_t *m)
{
    const json_t *b = json_object_get(m, "body");
    cli_error("%lld %s: %s", (long long)json_integer_value(json_object_get(m, "status")),
              cli_json_str(b, "title"), cli_json_str(b, "detail"));
}

/* Waits for a message of type `want` (or an error), ignoring others. 1 with *out, else an exit
 * code already reported. */
static int cli_chat_await(const cli_ctx_t *ctx, cli_ws_t *ws, const char *want, json_t **out)
{
    for (;;) {
        json_t *m = NULL;
        int rc = cli_ws_next(ws, (int)(ctx->timeout_s * 1000), -1, &cli_chat_stop, &m);
        if (rc == -EINTR)
            return CLI_EXIT_OK;
        if (rc <= 0) {
            cli_error("%s", rc == 0 ? "no answer from the daemon in time"
                                    : "the connection to the daemon ended");
            return rc == 0 ? CLI_EXIT_FAIL : CLI_EXIT_UNREACHABLE;
        }
        const char *type = cli_json_str(m, "type");
        if (strcmp(type, want) == 0) {
            *out = m;
            return -1;
        }
        if (strcmp(type, "error") == 0) {
            cli_chat_error(m);
            json_decref(m);
            return CLI_EXIT_FAIL;
        }
        json_decref(m);
    }
}

/* One message to the agent and its answer, printed as it streams. 0 or an exit code. */
static int cli_chat_turn(const cli_ctx_t *ctx, cli_ws_t *ws, const char *agent, const char *text)
{
    json_t *msg = json_pack("{s:s,s:s,s:s}", "type", "chat", "agent", agent, "message", text);
    int rc = msg ? cli_ws_send_json(ws, msg) : -ENOMEM;
    json_decref(msg);
    if (rc < 0) {
        cli_error("cannot send the message");
        return CLI_EXIT_UNREACHABLE;
    }
    bool line_open = false;
    for (;;) {
        json_t *m = NULL;
        rc = cli_ws_next(ws, (int)(ctx->timeout_s * 1000), -1, &cli_chat_stop, &m);
        if (rc == -EINTR) {
            if (line_open)
                putchar('\n');
            return CLI_EXIT_OK;
        }
        if (rc <= 0) {
            if (line_open)
                putchar('\n');
            cli_error("%s", rc == 0 ? "the agent sent nothing in time (--timeout)"
                                    : "the connection to the daemon ended");
            return rc == 0 ? CLI_EXIT_FAIL : CLI_EXIT_UNREACHABLE;
        }
        const char *type = cli_json_str(m, "type");
        if (strcmp(type, "stream_chunk") == 0) {
            const char *c = cli_json_str(m, "content");
            cli_chat_print(c);
            if (*c)
                line_open = c[strlen(c) - 1] != '\n';
            fflush(stdout);
        } else if (strcmp(type, "stream_end") == 0) {
            bool cut = json_is_true(json_object_get(m, "interrupted"));
            json_decref(m);
            if (line_open)
                putchar('\n');
            fflush(stdout);
            if (cut)
                cli_error("the answer was interrupted (the agent ended or the answer was too "
                          "long)");
            return cut ? CLI_EXIT_FAIL : CLI_EXIT_OK;
        } else if (strcmp(type, "error") == 0) {
            if (line_open)
                putchar('\n');
            cli_chat_error(m);
            json_decref(m);
            return CLI_EXIT_FAIL;
        }
        json_decref(m);
    }
}

/* /history: every page, oldest first, one "role: content" per turn. */
static int cli_chat_history(const cli_ctx_t *ctx, cli_ws_t *ws)
{
    for (json_int_t offset = 0;;) {
        json_t *q =
            json_pack("{s:s,s:I,s:i}", "type", "get_history", "offset", offset, "limit", 100);
        int rc = q ? cli_ws_send_json(ws, q) : -ENOMEM;
        json_decref(q);
        if (rc < 0) {
            cli_error("cannot ask for the history");
            return CLI_EXIT_UNREACHABLE;
        }
        json_t *page = NULL;
        rc = cli_chat_await(ctx, ws, "history", &page);
        if (rc >= 0)
            return rc;
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(page, "messages"), i, t)
        {
            printf("%s: ", cli_json_str(t, "role"));
            cli_chat_print(cli_json_str(t, "content"));
            putchar('\n');
        }
        size_t n = json_array_size(json_object_get(page, "messages"));
        bool more = json_is_true(json_object_get(page, "has_more")) && n;
        json_decref(page);
        if (!more)
            break;
        offset += (json_int_t)n;
    }
    fflush(stdout);
    return CLI_EXIT_OK;
}

static int cli_chat_clear(const cli_ctx_t *ctx, cli_ws_t *ws)
{
    json_t *q = json_pack("{s:s}", "type", "clear_history");
    int rc = q ? cli_ws_send_json(ws, q) : -ENOMEM;
    json_decref(q);
    if (rc < 0) {
        cli_error("cannot clear the history");
        return CLI_EXIT_UNREACHABLE;
    }
    json_t *m = NULL;
    rc = cli_chat_await(ctx, ws, "history_cleared", &m);
    if (rc >= 0)
        return rc;
    json_decref(m);
    printf("history cleared\n");
    fflush(stdout);
    return CLI_EXIT_OK;
}

/* Binds the connection to a stored session: "new" starts one; its id goes to stderr. */
static int cli_chat_session(const cli_ctx_t *ctx, cli_ws_t *ws, const char *session)
{
    json_t *q = strcmp(session, "new") == 0
                    ? json_pack("{s:s}", "type", "session")
                    : json_pack("{s:s,s:s}", "type", "session", "session", session);
    int rc = q ? cli_ws_send_json(ws, q) : -ENOMEM;
    json_decref(q);
    if (rc < 0) {
        cli_error("cannot ask for the session");
        return CLI_EXIT_UNREACHABLE;
    }
    json_t *m = NULL;
    rc = cli_chat_await(ctx, ws, "session", &m);
    if (rc >= 0)
        return rc;
    fprintf(stderr, "session %s (%lld turns restored)\n", cli_json_str(m, "session"),
            (long long)json_integer_value(json_object_get(m, "restored")));
    json_decref(m);
    return CLI_EXIT_OK;
}

/* Lines from stdin read with read(2), so poll sees what is not yet taken. */
typedef struct cli_chat_in {
    char buf[CLI_CHAT_LINE_MAX];
    size_t len;
    bool eof;
} cli_chat_in_t;

/* The next line (without its end) into out: 1, 0 at the end of input, -EAGAIN when more bytes
 * are needed, -E2BIG for a line over CLI_CHAT_LINE_MAX (dropped). */
static int cli_chat_line(cli_chat_in_t *in, char *out)
{
    char *nl = memchr(in->buf, '\n', in->len);
    if (!nl && !in->eof) {
        if (in->len == sizeof in->buf) {
            in->len = 0;
            return -E2BIG;
        }
        ssize_t n = read(STDIN_FILENO, in->buf + in->len, sizeof in->buf - in->len);
        if (n < 0)
            return errno == EINTR ? -EAGAIN : 0;
        if (n == 0)
            in->eof = true;
        in->len += (size_t)n;
        nl = memchr(in->buf, '\n', in->len);
    }
    if (!nl && !in->eof)
        return -EAGAIN;
    size_t l = nl ? (size_t)(nl - in->buf) : in->len;
    if (!nl && l == 0)
        return 0;
    memcpy(out, in->buf, l);
    out[l] = '\0';
    if (l && out[l - 1] == '\r')
        out[l - 1] = '\0';
    size_t used = nl ? l + 1 : l;
    memmove(in->buf, in->buf + used, in->len - used);
    in->len -= used;
    return 1;
}

static int cli_chat_interactive(const cli_ctx_t *ctx, cli_ws_t *ws, const char *agent)
{
    bool tty = isatty(STDIN_FILENO);
    if (tty)
        fprintf(stderr, "chat with %s — /history, /clear; Ctrl-D or Ctrl-C to leave\n", agent);
    cli_chat_in_t *in = calloc(1, sizeof *in);
    char *line = malloc(CLI_CHAT_LINE_MAX + 1);
    int rc = CLI_EXIT_OK;
    bool prompt = true;
    while (in && line && !cli_chat_stop) {
        if (tty && prompt)
            fprintf(stderr, "> ");
        prompt = false;
        int got = cli_chat_line(in, line);
        if (got == -EAGAIN) {
            /* nothing typed yet: keep the connection answered (pings) while waiting */
            json_t *m = NULL;
            int w = cli_ws_next(ws, -1, STDIN_FILENO, &cli_chat_stop, &m);
            json_decref(m);
            if (w == -EAGAIN || w == 1 || w == -EINTR)
                continue;
            cli_error("the connection to the daemon ended");
            rc = CLI_EXIT_UNREACHABLE;
            break;
        }
        prompt = true;
        if (got == -E2BIG) {
            cli_error("a line is at most %d bytes", CLI_CHAT_LINE_MAX);
            continue;
        }
        if (got == 0)
            break;
        if (!line[strspn(line, " \t")])
            continue;
        if (strcmp(line, "/history") == 0)
            rc = cli_chat_history(ctx, ws);
        else if (strcmp(line, "/clear") == 0)
            rc = cli_chat_clear(ctx, ws);
        else if (strcmp(line, "/quit") == 0 || strcmp(line, "/exit") == 0)
            break;
        else
            rc = cli_chat_turn(ctx, ws, agent, line);
        if (rc == CLI_EXIT_UNREACHABLE)
            break;
    }
    if (tty && !cli_chat_stop)
        fputc('\n', stderr);
    free(in);
    free(line);
    return rc == CLI_EXIT_UNREACHABLE ? rc : CLI_EXIT_OK;
}

int cli_cmd_chat(cli_ctx_t *ctx, int argc, char **argv)
{
    const char *agent = NULL, *message = NULL, *session = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--message") == 0 || strcmp(argv[i], "-m") == 0) {
            if (++i == argc) {
                cli_error("%s needs a value", argv[i - 1]);
                return CLI_EXIT_USAGE;
            }
            message = argv[i];
        } else if (strncmp(argv[i], "--message=", 10) == 0) {
            message = argv[i] + 10;
        } else if (strcmp(argv[i], "--session") == 0) {
            if (++i == argc) {
                cli_error("--session needs a value (a session id, or new)");
                return CLI_EXIT_USAGE;
            }
            session = argv[i];
        } else if (argv[i][0] == '-' || agent) {
            cli_error("usage: chat AGENT [--message TEXT] [--session ID|new] (unexpected '%s')",
                      argv[i]);
            return CLI_EXIT_USAGE;
        } else {
            agent = argv[i];
        }
    }
    if (!agent || !*agent || strlen(agent) > 128) {
        cli_error(
            "usage: chat AGENT [--message TEXT] [--session ID|new] (AGENT: an agent's id or name)");
        return CLI_EXIT_USAGE;
    }
    if (message && !*message) {
        cli_error("--message needs some text");
        return CLI_EXIT_USAGE;
    }
    struct sigaction sa = {.sa_handler = cli_chat_sigint};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: poll and read return EINTR */
    cli_ws_t ws;
    char err[512];
    if (cli_ws_open(&ws, ctx, err, sizeof err) < 0) {
        cli_error("%s", err);
        return CLI_EXIT_UNREACHABLE;
    }
    int rc = session ? cli_chat_session(ctx, &ws, session) : CLI_EXIT_OK;
    if (rc == CLI_EXIT_OK && !cli_chat_stop)
        rc = message ? cli_chat_turn(ctx, &ws, agent, message)
                     : cli_chat_interactive(ctx, &ws, agent);
    cli_ws_close(&ws);
    return rc;
}
