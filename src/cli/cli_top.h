/* `ganglion top`'s parts: the model of the agents on screen (filled by one list and then by bus
 * events), the SSE parser, the frame renderer, the terminal and the network streams. Internal to
 * src/cli/; the pure parts (model, SSE, drawing) are unit-tested. */
#ifndef GANGLION_CLI_TOP_H
#define GANGLION_CLI_TOP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/cli_priv.h"

#define CLI_TOP_MAX_AGENTS 1000   /* the daemon's largest page; more are not shown */
#define CLI_TOP_LOG_LINES  512    /* lines of the selected agent kept for the lower pane */
#define CLI_TOP_LINE_MAX   4096   /* bytes of one log line kept (the rest is cut) */
#define CLI_TOP_SSE_MAX    262144 /* bytes of one SSE event; larger events are skipped */
#define CLI_TOP_ID_MAX     64
#define CLI_TOP_NAME_MAX   128
#define CLI_TOP_STATUS_MAX 24
#define CLI_TOP_MSG_MAX    256

/* ---- the model (cli_top_model.c) ---- */

typedef struct cli_top_agent {
    char id[CLI_TOP_ID_MAX + 1];
    char name[CLI_TOP_NAME_MAX + 1];
    char status[CLI_TOP_STATUS_MAX + 1];
    long long restarts;
    int64_t started_ms; /* 0 when unknown */
    bool has_usage;     /* cpu/rss known (the daemon reported them at least once) */
    double cpu_percent;
    long long rss_bytes;
    bool stale; /* set before a resync; agents still stale afterwards are gone */
} cli_top_agent_t;

typedef struct cli_top_log_line {
    char *text; /* owned, sanitised */
    bool err;   /* stderr */
} cli_top_log_line_t;

typedef enum cli_top_mode {
    CLI_TOP_MODE_TABLE = 0,
    CLI_TOP_MODE_HELP,    /* the key list replaces the log pane */
    CLI_TOP_MODE_CONFIRM, /* "kill NAME? (y/N)" */
    CLI_TOP_MODE_SIGNAL,  /* a signal name being typed */
} cli_top_mode_t;

typedef struct cli_top_model {
    cli_top_agent_t *agents; /* owned, sorted by creation (the daemon's order) */
    size_t n, cap;
    size_t sel; /* index of the selected agent when n > 0 */
    size_t top; /* first table row shown (scrolling) */
    /* The log pane: a ring of the selected agent's last lines. */
    char log_id[CLI_TOP_ID_MAX + 1]; /* whose lines the ring holds ("" = none) */
    cli_top_log_line_t log[CLI_TOP_LOG_LINES];
    size_t log_head, log_n;
    long long log_seq; /* the last output seq in the ring */
    /* What the header and the status line say. */
    char url[CLI_TOP_MSG_MAX];
    char msg[CLI_TOP_MSG_MAX]; /* last action's outcome or a problem; "" = the key hints */
    bool msg_err;
    bool live;       /* the event stream is connected */
    bool full_table; /* --once: every row, the log pane gets what is left */
    cli_top_mode_t mode;
    char input[32]; /* the signal name being typed */
    /* Agents the loop should fetch once (new or restarted); bounded, deduplicated. */
    char want[16][CLI_TOP_ID_MAX + 1];
    size_t want_n;
} cli_top_model_t;

void cli_top_model_init(cli_top_model_t *m, const char *url);
void cli_top_model_free(cli_top_model_t *m);

/* Replaces the table with the daemon's list ({agents:[…]} or the array), keeping the selection
 * on the same agent when it is still there. 0 or -ENOMEM / -EINVAL. */
int cli_top_model_list_apply(cli_top_model_t *m, const json_t *list);
/* Inserts or updates one agent from its object (GET /agents/{id}). */
int cli_top_model_agent_apply(cli_top_model_t *m, const json_t *agent);
/* Applies one bus event (`agent.<id>.status|usage|output`). Returns true when the screen changes.
 */
bool cli_top_model_event(cli_top_model_t *m, const char *event, const char *data, size_t len);

/* Moves the selection by delta rows (clamped). */
void cli_top_model_select(cli_top_model_t *m, long delta);
/* The selected agent or NULL. Borrowed. */
const cli_top_agent_t *cli_top_model_selected(const cli_top_model_t *m);
cli_top_agent_t *cli_top_model_find(cli_top_model_t *m, const char *id);

/* The log pane: cleared for agent id, a line appended (cut to CLI_TOP_LINE_MAX, sanitised). */
void cli_top_model_log_reset(cli_top_model_t *m, const char *id);
void cli_top_model_log_push(cli_top_model_t *m, const char *text, size_t len, bool err);
/* Lines from the output endpoint's reply ({lines:[{seq, stream, text}]}). */
void cli_top_model_log_apply(cli_top_model_t *m, const json_t *reply);

void cli_top_model_say(cli_top_model_t *m, bool err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- SSE (cli_top_sse.c) ---- */

typedef void (*cli_top_sse_fn)(void *ud, const char *id, const char *event, const char *data,
                               size_t len);

typedef struct cli_top_sse {
    char *line; /* the line being read; owned, at most CLI_TOP_SSE_MAX */
    size_t line_len, line_cap;
    char *data; /* the event's data lines joined by '\n'; owned */
    size_t data_len, data_cap;
    char event[128];
    char id[32];
    char last_id[32]; /* the last dispatched id, for Last-Event-ID on reconnect */
    bool skip;        /* the event grew too large: dropped up to its blank line */
    bool cr;          /* the previous byte was '\r' (so "\r\n" is one end of line) */
    cli_top_sse_fn fn;
    void *ud;
} cli_top_sse_t;

void cli_top_sse_init(cli_top_sse_t *s, cli_top_sse_fn fn, void *ud);
void cli_top_sse_free(cli_top_sse_t *s);
/* Feeds bytes; calls fn once per complete event. 0 or -ENOMEM. */
int cli_top_sse_feed(cli_top_sse_t *s, const char *p, size_t n);

/* ---- drawing (cli_top_draw.c) ---- */

/* Durations without fractions: 42s, 3m12s, 2h05m, 4d07h. */
void cli_top_duration(int64_t ms, char *out, size_t outlen);
/* Bytes in binary units: 812K, 12.4M, 1.2G. */
void cli_top_bytes(long long bytes, char *out, size_t outlen);
/* Copies at most `cols` terminal columns of UTF-8 text s (len bytes) into out, never splitting
 * a character; control characters become spaces and invalid bytes '?'. Returns the columns
 * used. */
int cli_top_cut(const char *s, size_t len, int cols, char *out, size_t outlen);

/* Renders the whole screen (w x h cells) into a malloc'd string: with ANSI (color) for the
 * terminal, or as plain lines for --once. now_ms is the wall clock. NULL on OOM. */
char *cli_top_draw(cli_top_model_t *m, int w, int h, int64_t now_ms, bool ansi);

/* ---- the terminal (cli_top_term.c) ---- */

/* Raw mode, alternate screen, hidden cursor; handlers that restore the terminal on SIGINT,
 * SIGTERM, SIGHUP, SIGQUIT and fatal signals, and note SIGWINCH. Returns the fd to poll for
 * those signals (readable when one arrived), or a negative errno. */
int cli_top_term_enter(void);
/* Restores the terminal (idempotent; also registered with atexit). */
void cli_top_term_leave(void);
/* Drains the signal pipe: returns a bit set of CLI_TOP_SIG_*. */
#define CLI_TOP_SIG_RESIZE 1
#define CLI_TOP_SIG_QUIT   2
int cli_top_term_signals(void);
/* The terminal's size (80x24 when unknown). */
void cli_top_term_size(int *w, int *h);
/* Writes a whole frame (retrying short writes). */
void cli_top_term_write(const char *s, size_t n);

/* Keys decoded from terminal input. */
enum {
    CLI_TOP_KEY_UP = 0x101,
    CLI_TOP_KEY_DOWN,
    CLI_TOP_KEY_PGUP,
    CLI_TOP_KEY_PGDOWN,
    CLI_TOP_KEY_HOME,
    CLI_TOP_KEY_END,
    CLI_TOP_KEY_ESC,
};
/* Decodes keys from buf (n bytes) into keys (at most max); returns how many. */
size_t cli_top_keys(const unsigned char *buf, size_t n, int *keys, size_t max);

/* ---- the streams (cli_top_net.c) ---- */

typedef struct cli_top_net cli_top_net_t;

/* One curl multi handle that carries the long-lived SSE streams. NULL on failure (printed). */
cli_top_net_t *cli_top_net_new(const cli_ctx_t *ctx);
void cli_top_net_destroy(cli_top_net_t **n);
/* (Re)opens stream `slot` (0 = the bus events, 1 = the selected agent's log) on path, feeding
 * every event to fn. last_event_id may be "" . 0 or a negative errno. */
int cli_top_net_open(cli_top_net_t *n, int slot, const char *path, const char *last_event_id,
                     cli_top_sse_fn fn, void *ud);
void cli_top_net_close(cli_top_net_t *n, int slot);
/* True while the slot's stream is connected (2xx head read, not ended). */
bool cli_top_net_alive(const cli_top_net_t *n, int slot);
/* The slot's Last-Event-ID (the last id its parser dispatched). Borrowed. */
const char *cli_top_net_last_id(const cli_top_net_t *n, int slot);
/* Waits up to timeout_ms for stream data or one of the extra fds (nfds of them, readable);
 * transfers what arrived. Sets ended[slot] for a stream that finished or failed, with the
 * reason in err. 0 or a negative errno. */
int cli_top_net_wait(cli_top_net_t *n, const int *fds, bool *ready, size_t nfds, int timeout_ms,
                     bool ended[2], char *err, size_t errlen);

/* The command (cli_top.c). */
int cli_cmd_top(cli_ctx_t *ctx, int argc, char **argv);

#endif
