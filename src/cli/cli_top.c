/* `ganglion top`: a live view of the agents. One list at start, then the daemon's event stream
 * (`agent.*.status`, `agent.*.usage`) keeps the table current and the selected agent's log
 * stream fills the lower pane; a full list every 10 s only resynchronises. Keys act on the
 * selection through the agents' endpoints. `--once` prints one frame and exits. */
#include "cli/cli_top.h"

#include "core/clock.h"
#include "core/num.h"

#include <ctype.h>
#include <errno.h>
#include <locale.h>
#include <langinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLI_TOP_RESYNC_MS   10000 /* the full list, as a resync only */
#define CLI_TOP_DEBOUNCE_MS 120   /* the log follows a selection that has rested this long */
#define CLI_TOP_FRAME_MS    40    /* at most 25 frames a second, however chatty the log */
#define CLI_TOP_BACKOFF_MIN 250
#define CLI_TOP_BACKOFF_MAX 5000
#define CLI_TOP_TAIL        200 /* lines fetched when a log is first shown */
#define CLI_TOP_ACTION_S    5.0 /* bound on one request from the keyboard */
#define CLI_TOP_PATH_MAX    512
#define CLI_TOP_EVENTS_PATH "/api/v1/stream?topics=agent.*.status,agent.*.usage"

typedef struct cli_top {
    cli_ctx_t *ctx;
    cli_client_t *c;
    cli_top_net_t *net;
    cli_top_model_t m;
    bool dirty, quit;
    char log_for[CLI_TOP_ID_MAX + 1]; /* the agent whose log the pane follows */
    char sel_id[CLI_TOP_ID_MAX + 1];  /* the selection last seen, for the debounce */
    int64_t sel_ms;
    int64_t resync_at;
    int64_t reopen_at[2]; /* 0 = the stream is open or not wanted */
    int backoff[2];
    bool was_alive;
} cli_top_t;

/* Timers run on the monotonic clock (a wall-clock step must not stall the resync); only the
 * uptimes and the header's time use the wall clock. */
static int64_t cli_top_now(void)
{
    return (int64_t)(clock_mono_ns() / 1000000u);
}

static void cli_top_usage(const cli_ctx_t *ctx)
{
    printf("usage: %s top [--once]\n\n"
           "A live view of the agents: status, CPU %%, RSS, restarts and uptime, with the\n"
           "selected agent's log below. It follows the daemon's event stream (one list at\n"
           "start, then events; a resync every 10 s).\n\n"
           "keys:\n"
           "  up/down, j/k  select      r restart   s stop       p pause/resume\n"
           "  K kill (y/N)              S signal (type a name, Enter)\n"
           "  ? help                    q quit\n\n"
           "options:\n"
           "  --once, --batch   print one frame on stdout and exit (for scripts)\n\n"
           "examples:\n"
           "  %s top\n"
           "  %s top --once | grep running\n\n",
           ctx->prog, ctx->prog, ctx->prog);
    cli_usage_globals(stdout);
}

/* ---- requests ---- */

/* One request; on a reply < 400 its JSON goes to *out. Otherwise the status line says why
 * (what: the action's name) and a negative value returns: the errno, or -EPROTO for a refusal. */
static int cli_top_req(cli_top_t *t, const char *what, const char *method, const char *path,
                       const char *body, json_t **out)
{
    cli_response_t r;
    if (out)
        *out = NULL;
    int rc = cli_client_request(t->c, method, path, body, body ? strlen(body) : 0, &r);
    if (rc < 0) {
        cli_top_model_say(&t->m, true, "%s: %s", what, cli_client_error(t->c));
        cli_response_free(&r);
        return rc;
    }
    json_t *j = cli_response_json(&r);
    if (r.status >= 400) {
        const char *title = json_string_value(json_object_get(j, "title"));
        const char *detail = json_string_value(json_object_get(j, "detail"));
        cli_top_model_say(&t->m, true, "%s: %d %s%s%s", what, r.status, title ? title : "error",
                          detail ? ": " : "", detail ? detail : "");
        json_decref(j);
        cli_response_free(&r);
        return -EPROTO;
    }
    if (out)
        *out = j;
    else
        json_decref(j);
    cli_response_free(&r);
    return 0;
}

static int cli_top_list_load(cli_top_t *t)
{
    json_t *j = NULL;
    int rc = cli_top_req(t, "list", "GET", "/api/v1/agents?limit=1000", NULL, &j);
    if (rc == 0)
        rc = cli_top_model_list_apply(&t->m, j);
    json_decref(j);
    t->dirty = true;
    return rc;
}

/* An agent's id is the daemon's hex; anything else is not put into a path. */
static bool cli_top_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (!n || n > CLI_TOP_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]) && id[i] != '-' && id[i] != '_')
            return false;
    return true;
}

static void cli_top_agent_load(cli_top_t *t, const char *id)
{
    char path[CLI_TOP_PATH_MAX];
    json_t *j = NULL;
    if (!cli_top_id_ok(id))
        return;
    snprintf(path, sizeof path, "/api/v1/agents/%s", id);
    if (cli_top_req(t, "refresh", "GET", path, NULL, &j) == 0)
        cli_top_model_agent_apply(&t->m, j);
    json_decref(j);
    t->dirty = true;
}

static void cli_top_on_event(void *ud, const char *id, const char *event, const char *data,
                             size_t len)
{
    cli_top_t *t = ud;
    (void)id;
    if (strcmp(event, "gap") == 0) {
        t->resync_at = 0; /* events were lost: the next turn reloads the list */
        return;
    }
    if (cli_top_model_event(&t->m, event, data, len))
        t->dirty = true;
}

static void cli_top_log_open(cli_top_t *t)
{
    char path[CLI_TOP_PATH_MAX];
    if (!t->net || !t->log_for[0])
        return;
    snprintf(path, sizeof path, "/api/v1/agents/%s/logs?since=%lld", t->log_for, t->m.log_seq);
    t->reopen_at[1] = 0;
    if (cli_top_net_open(t->net, 1, path, "", cli_top_on_event, t) < 0)
        t->reopen_at[1] = cli_top_now() + CLI_TOP_BACKOFF_MAX;
}

/* The lower pane follows the selected agent: its last lines, then its live ones. */
static void cli_top_log_load(cli_top_t *t)
{
    const cli_top_agent_t *a = cli_top_model_selected(&t->m);
    if (t->net)
        cli_top_net_close(t->net, 1);
    t->reopen_at[1] = 0;
    cli_top_model_log_reset(&t->m, a ? a->id : "");
    snprintf(t->log_for, sizeof t->log_for, "%s", a ? a->id : "");
    t->dirty = true;
    if (!a || !cli_top_id_ok(a->id))
        return;
    char path[CLI_TOP_PATH_MAX];
    snprintf(path, sizeof path, "/api/v1/agents/%s/output?tail=%d", a->id, CLI_TOP_TAIL);
    json_t *j = NULL;
    if (cli_top_req(t, "log", "GET", path, NULL, &j) == 0)
        cli_top_model_log_apply(&t->m, j);
    json_decref(j);
    cli_top_log_open(t);
}

/* ---- actions ---- */

/* POST …/{id}/verb with body; the status line then says "<label> NAME: <new status>" or the
 * daemon's problem. label defaults to the verb. */
static void cli_top_act(cli_top_t *t, const char *verb, const char *label, const char *body)
{
    const cli_top_agent_t *a = cli_top_model_selected(&t->m);
    if (!a) {
        cli_top_model_say(&t->m, true, "no agent selected");
        return;
    }
    char path[CLI_TOP_PATH_MAX], what[CLI_TOP_NAME_MAX + 64], id[CLI_TOP_ID_MAX + 1];
    snprintf(id, sizeof id, "%s", a->id);
    snprintf(what, sizeof what, "%s %s", label ? label : verb, a->name[0] ? a->name : a->id);
    if (!cli_top_id_ok(id))
        return;
    snprintf(path, sizeof path, "/api/v1/agents/%s/%s", id, verb);
    json_t *j = NULL;
    if (cli_top_req(t, what, "POST", path, body ? body : "{}", &j) == 0) {
        const char *st = json_string_value(json_object_get(j, "status"));
        cli_top_model_say(&t->m, false, "%s: %s", what, st ? st : "done");
        if (json_is_object(j) && json_object_get(j, "id"))
            cli_top_model_agent_apply(&t->m, j);
    }
    json_decref(j);
    t->dirty = true;
}

/* "SIGHUP", "Hup", "hup" → "hup": the daemon's names are lower case without the prefix. */
static void cli_top_signal_send(cli_top_t *t)
{
    char name[sizeof t->m.input];
    const char *s = t->m.input;
    if (strncasecmp(s, "sig", 3) == 0)
        s += 3;
    size_t n = 0;
    for (; *s && n + 1 < sizeof name; s++)
        name[n++] = (char)tolower((unsigned char)*s);
    name[n] = '\0';
    if (!n) {
        cli_top_model_say(&t->m, true, "no signal given");
        return;
    }
    char body[96], label[64];
    snprintf(body, sizeof body, "{\"signal\":\"%s\"}", name);
    snprintf(label, sizeof label, "signal %s to", name);
    cli_top_act(t, "signal", label, body);
}

static void cli_top_key_input(cli_top_t *t, int k)
{
    cli_top_model_t *m = &t->m;
    size_t n = strlen(m->input);
    if (k == '\r' || k == '\n') {
        m->mode = CLI_TOP_MODE_TABLE;
        cli_top_signal_send(t);
    } else if (k == CLI_TOP_KEY_ESC || k == 3) {
        m->mode = CLI_TOP_MODE_TABLE;
        cli_top_model_say(m, false, "signal cancelled");
    } else if ((k == 127 || k == 8) && n) {
        m->input[n - 1] = '\0';
    } else if (k < 0x80 && (isalnum(k) || k == '_') && n + 1 < sizeof m->input) {
        m->input[n] = (char)k;
        m->input[n + 1] = '\0';
    }
}

static void cli_top_key(cli_top_t *t, int k)
{
    cli_top_model_t *m = &t->m;
    t->dirty = true;
    switch (m->mode) {
    case CLI_TOP_MODE_SIGNAL:
        cli_top_key_input(t, k);
        return;
    case CLI_TOP_MODE_CONFIRM:
        m->mode = CLI_TOP_MODE_TABLE;
        if (k == 'y' || k == 'Y')
            cli_top_act(t, "kill", NULL, "{}");
        else
            cli_top_model_say(m, false, "kill cancelled");
        return;
    case CLI_TOP_MODE_HELP:
        m->mode = CLI_TOP_MODE_TABLE;
        if (k != 'q' && k != 3)
            return; /* any key closes the help; q still quits */
        break;
    default:
        break;
    }
    int page = 10;
    switch (k) {
    case 'q':
    case 3: /* Ctrl-C: ISIG is off in raw mode */
        t->quit = true;
        break;
    case CLI_TOP_KEY_UP:
    case 'k':
        cli_top_model_select(m, -1);
        break;
    case CLI_TOP_KEY_DOWN:
    case 'j':
        cli_top_model_select(m, 1);
        break;
    case CLI_TOP_KEY_PGUP:
        cli_top_model_select(m, -page);
        break;
    case CLI_TOP_KEY_PGDOWN:
        cli_top_model_select(m, page);
        break;
    case CLI_TOP_KEY_HOME:
    case 'g':
        cli_top_model_select(m, -(long)CLI_TOP_MAX_AGENTS);
        break;
    case CLI_TOP_KEY_END:
    case 'G':
        cli_top_model_select(m, (long)CLI_TOP_MAX_AGENTS);
        break;
    case 'r':
        cli_top_act(t, "restart", NULL, "{}");
        break;
    case 's':
        cli_top_act(t, "stop", NULL, "{}");
        break;
    case 'p': {
        const cli_top_agent_t *a = cli_top_model_selected(m);
        cli_top_act(t, a && strcmp(a->status, "paused") == 0 ? "resume" : "pause", NULL, "{}");
        break;
    }
    case 'K':
        if (cli_top_model_selected(m))
            m->mode = CLI_TOP_MODE_CONFIRM;
        break;
    case 'S':
        if (cli_top_model_selected(m)) {
            m->mode = CLI_TOP_MODE_SIGNAL;
            m->input[0] = '\0';
        }
        break;
    case '?':
    case 'h':
        m->mode = CLI_TOP_MODE_HELP;
        break;
    case CLI_TOP_KEY_ESC:
        m->msg[0] = '\0';
        break;
    default:
        break;
    }
}

static void cli_top_keys_read(cli_top_t *t)
{
    unsigned char buf[256];
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n == 0) {
        t->quit = true; /* the terminal is gone */
        return;
    }
    if (n < 0)
        return;
    int keys[256];
    size_t k = cli_top_keys(buf, (size_t)n, keys, sizeof keys / sizeof keys[0]);
    for (size_t i = 0; i < k && !t->quit; i++)
        cli_top_key(t, keys[i]);
}

/* ---- the loop ---- */

static void cli_top_draw_now(cli_top_t *t)
{
    int w, h;
    cli_top_term_size(&w, &h);
    char *frame = cli_top_draw(&t->m, w, h, clock_wall_ms(), true);
    if (frame) {
        cli_top_term_write(frame, strlen(frame));
        free(frame);
    }
    t->dirty = false;
}

static void cli_top_streams_tend(cli_top_t *t, int64_t now)
{
    if (t->reopen_at[0] && now >= t->reopen_at[0]) {
        t->reopen_at[0] = 0;
        if (cli_top_net_open(t->net, 0, CLI_TOP_EVENTS_PATH, cli_top_net_last_id(t->net, 0),
                             cli_top_on_event, t) < 0)
            t->reopen_at[0] = now + CLI_TOP_BACKOFF_MAX;
    }
    if (t->reopen_at[1] && now >= t->reopen_at[1])
        cli_top_log_open(t);
    bool alive = cli_top_net_alive(t->net, 0);
    if (alive && !t->was_alive) {
        /* (re)connected: what happened before the stream began is in the list */
        t->backoff[0] = 0;
        t->resync_at = 0;
        if (t->m.msg_err)
            t->m.msg[0] = '\0';
    }
    if (alive != t->m.live)
        t->dirty = true;
    t->was_alive = t->m.live = alive;
}

static void cli_top_stream_ended(cli_top_t *t, int slot, const char *why, int64_t now)
{
    int b = t->backoff[slot] ? t->backoff[slot] * 2 : CLI_TOP_BACKOFF_MIN;
    t->backoff[slot] = b > CLI_TOP_BACKOFF_MAX ? CLI_TOP_BACKOFF_MAX : b;
    t->reopen_at[slot] = now + t->backoff[slot];
    cli_top_net_close(t->net, slot);
    if (slot == 0) {
        cli_top_model_say(&t->m, true, "%s; reconnecting", why);
        t->dirty = true;
    }
}

static int cli_top_run(cli_top_t *t)
{
    int sigfd = cli_top_term_enter();
    if (sigfd < 0) {
        cli_error("top needs a terminal (use --once for one frame on stdout)");
        return CLI_EXIT_USAGE;
    }
    t->reopen_at[0] = 1; /* open at once */
    int64_t last_second = 0, last_frame = 0;
    while (!t->quit) {
        int64_t now = cli_top_now();
        cli_top_streams_tend(t, now);
        /* not while the stream is down: the reconnect reloads the list anyway, and a daemon
         * that does not answer would hold the keys for the request's timeout */
        if (now >= t->resync_at && t->m.live) {
            cli_top_list_load(t);
            t->resync_at = now + CLI_TOP_RESYNC_MS;
        }
        for (size_t i = 0; i < t->m.want_n; i++)
            cli_top_agent_load(t, t->m.want[i]);
        t->m.want_n = 0;
        const cli_top_agent_t *a = cli_top_model_selected(&t->m);
        const char *sid = a ? a->id : "";
        if (strcmp(sid, t->sel_id) != 0) {
            snprintf(t->sel_id, sizeof t->sel_id, "%s", sid);
            t->sel_ms = now;
        }
        bool settled = now - t->sel_ms >= CLI_TOP_DEBOUNCE_MS;
        if (settled && strcmp(t->sel_id, t->log_for) != 0)
            cli_top_log_load(t);
        bool frame_due = now - last_frame >= CLI_TOP_FRAME_MS;
        if ((t->dirty && frame_due) || now / 1000 != last_second) {
            cli_top_draw_now(t); /* the uptimes move every second */
            last_second = now / 1000;
            last_frame = now;
        }
        int timeout = 1000 - (int)(now % 1000);
        if (t->dirty && timeout > CLI_TOP_FRAME_MS)
            timeout = CLI_TOP_FRAME_MS; /* a change waits for the next frame, not a second */
        if (strcmp(t->sel_id, t->log_for) != 0 && timeout > CLI_TOP_DEBOUNCE_MS)
            timeout = CLI_TOP_DEBOUNCE_MS;
        for (int s = 0; s < 2; s++)
            if (t->reopen_at[s] && t->reopen_at[s] - now < timeout)
                timeout = t->reopen_at[s] > now ? (int)(t->reopen_at[s] - now) : 0;
        int fds[2] = {STDIN_FILENO, sigfd};
        bool ready[2], ended[2];
        char why[CLI_TOP_MSG_MAX];
        if (cli_top_net_wait(t->net, fds, ready, 2, timeout, ended, why, sizeof why) < 0) {
            cli_top_model_say(&t->m, true, "%s", why);
            break;
        }
        int sig = cli_top_term_signals();
        if (sig & CLI_TOP_SIG_QUIT)
            t->quit = true;
        if (sig & CLI_TOP_SIG_RESIZE)
            t->dirty = true;
        if (ready[0])
            cli_top_keys_read(t);
        now = cli_top_now();
        for (int s = 0; s < 2; s++)
            if (ended[s])
                cli_top_stream_ended(t, s, why, now);
    }
    cli_top_term_leave();
    return CLI_EXIT_OK;
}

/* One frame on stdout: the table and the first agent's last lines. */
static int cli_top_once(cli_top_t *t)
{
    int rc = cli_top_list_load(t);
    if (rc < 0) {
        fprintf(stderr, "error: %s\n", t->m.msg);
        return rc == -EPROTO ? CLI_EXIT_FAIL : cli_exit_for(rc);
    }
    cli_top_log_load(t);
    int w = 120, h;
    int64_t cols = 0; /* COLUMNS as a terminal could have it (20-65535); else 120 */
    if (isatty(STDOUT_FILENO))
        cli_top_term_size(&w, &h);
    else if (num_i64_parse(getenv("COLUMNS"), 20, 65535, &cols) == 0)
        w = (int)cols;
    /* every agent, then up to ten lines of the selected one's log */
    size_t logs = t->m.log_n < 10 ? t->m.log_n : 10;
    t->m.full_table = true;
    h = (int)(4 + (t->m.n ? t->m.n : 1) + logs);
    t->m.live = true;
    char *frame = cli_top_draw(&t->m, w, h, clock_wall_ms(), false);
    if (!frame) {
        cli_error("out of memory");
        return CLI_EXIT_FAIL;
    }
    fputs(frame, stdout);
    free(frame);
    return t->m.msg_err ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

int cli_cmd_top(cli_ctx_t *ctx, int argc, char **argv)
{
    bool once = false;
    if (cli_wants_help(argc, argv)) {
        cli_top_usage(ctx);
        return CLI_EXIT_OK;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--once") || !strcmp(argv[i], "--batch")) {
            once = true;
        } else {
            char shown[64];
            cli_sanitize(argv[i], shown, sizeof shown);
            cli_error("top: unknown argument '%s' (see %s top --help)", shown, ctx->prog);
            return CLI_EXIT_USAGE;
        }
    }
    /* widths of names and log lines are counted in terminal columns */
    if (!setlocale(LC_CTYPE, "") || strcmp(nl_langinfo(CODESET), "UTF-8") != 0)
        setlocale(LC_CTYPE, "C.UTF-8");
    cli_top_t t = {.ctx = ctx};
    cli_top_model_init(&t.m, ctx->url);
    int rc;
    if (cli_client_open(ctx, CLI_TOP_ACTION_S, &t.c) < 0) {
        rc = CLI_EXIT_USAGE;
    } else if (once) {
        rc = cli_top_once(&t);
    } else if (!(t.net = cli_top_net_new(ctx))) {
        rc = CLI_EXIT_USAGE;
    } else if ((rc = cli_top_list_load(&t)) < 0) {
        /* the first list says whether the daemon is there and lets us in, before the screen
         * is taken */
        fprintf(stderr, "error: %s\n", t.m.msg);
        rc = rc == -EPROTO ? CLI_EXIT_FAIL : cli_exit_for(rc);
    } else {
        rc = cli_top_run(&t);
    }
    cli_top_net_destroy(&t.net);
    cli_client_destroy(&t.c);
    cli_top_model_free(&t.m);
    return rc;
}
