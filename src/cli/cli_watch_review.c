/* `ganglion watch anomalies|show|ack|resolve|false-positive|streams|incidents`: reviewing what
 * the detector found, from a terminal. Each command is a few requests to /api/v1/watch/… through
 * the CLI's client face; `anomalies -f` polls created_since (so it works over --via zmq, as
 * `agent logs -f` does). An ID starting with "inc-" names an incident, any other an anomaly. */
#include "cli/cli_watch_review.h"

#include "core/clock.h"
#include "core/opt.h"

#include <ctype.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CLI_WATCH_PATH_MAX  1024
#define CLI_WATCH_FOLLOW_MS 500
/* A follower asks again from this far before the last listing, since an anomaly is stamped
 * when detected and stored a moment later; the ids seen in that span are remembered. */
#define CLI_WATCH_FOLLOW_BACK_MS 30000
#define CLI_WATCH_SHOW_LINES     20 /* evidence lines `show` prints before "N more" */

/* ---- requests ------------------------------------------------------------------------------ */

static int cli_watch_req(cli_client_t *c, const char *method, const char *path, const json_t *body,
                         json_t **out)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    cli_response_t r;
    int rc = cli_client_request(c, method, path, text, text ? strlen(text) : 0, &r);
    free(text);
    *out = NULL;
    if (rc < 0) {
        cli_error("%s", cli_client_error(c));
        cli_response_free(&r);
        return cli_exit_for(rc);
    }
    if (r.status >= 400) {
        cli_problem_print(&r);
        cli_response_free(&r);
        return CLI_EXIT_FAIL;
    }
    *out = r.body_len ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
    cli_response_free(&r);
    if (!*out) {
        cli_error("the daemon's reply to %s %s is not JSON", method, path);
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

/* One request with its own client: the commands that need only one. */
static int cli_watch_once(cli_ctx_t *ctx, const char *method, const char *path, const json_t *body,
                          json_t **out)
{
    cli_client_t *c = NULL;
    *out = NULL;
    if (cli_client_open(ctx, 0, &c) < 0)
        return CLI_EXIT_USAGE;
    int rc = cli_watch_req(c, method, path, body, out);
    cli_client_destroy(&c);
    return rc;
}

/* Ids, stream names and the enums are all made of [A-Za-z0-9._:-]: checked, then pasted as they
 * are into paths and query strings. */
static bool cli_watch_word_ok(const char *what, const char *v, size_t max)
{
    size_t n = v ? strlen(v) : 0;
    bool ok = n > 0 && n <= max;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)v[i]) || strchr("._:-", v[i]);
    if (!ok)
        cli_error("%s: 1 to %zu letters, digits and . _ : - expected, not '%.80s'", what, max,
                  v ? v : "");
    return ok;
}

static void cli_watch_query_add(char *path, size_t len, const char *key, const char *val)
{
    if (!val)
        return;
    size_t n = strlen(path);
    snprintf(path + n, len - n, "%s%s=%s", strchr(path, '?') ? "&" : "?", key, val);
}

static bool cli_watch_one_of(const char *what, const char *v, const char *const *words)
{
    if (!v)
        return true; /* not given */
    for (size_t i = 0; words[i]; i++)
        if (!strcmp(v, words[i]))
            return true;
    char list[128] = "";
    for (size_t i = 0; words[i]; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "", words[i]);
    }
    cli_error("%s: one of %s, not '%.40s'", what, list, v);
    return false;
}

static const char *const cli_watch_severities[] = {"medium", "high", "critical", NULL};
static const char *const cli_watch_statuses[] = {"pending",  "investigating", "acknowledged",
                                                 "resolved", "dismissed",     NULL};

static cli_color_t cli_watch_severity_color(const char *sev)
{
    if (!strcmp(sev, "critical"))
        return CLI_COLOR_RED;
    if (!strcmp(sev, "high"))
        return CLI_COLOR_YELLOW;
    return CLI_COLOR_NONE;
}

static cli_color_t cli_watch_status_color(const char *st)
{
    if (!strcmp(st, "pending"))
        return CLI_COLOR_BOLD;
    if (!strcmp(st, "investigating"))
        return CLI_COLOR_CYAN;
    if (!strcmp(st, "acknowledged"))
        return CLI_COLOR_BLUE;
    if (!strcmp(st, "resolved"))
        return CLI_COLOR_GREEN;
    return CLI_COLOR_DIM;
}

/* "2026-12-07T00:31:02.123Z" → "2026-12-07 00:31:02" (the daemon's UTC, to the second). */
static void cli_watch_time(const char *rfc, char *out, size_t outlen)
{
    snprintf(out, outlen, "%.19s", rfc);
    if (strlen(out) > 10 && out[10] == 'T')
        out[10] = ' ';
}

/* The first line of the short explanation. */
static void cli_watch_summary(const json_t *a, char *out, size_t outlen)
{
    const char *s = cli_json_str(a, "glass_box_explanation");
    size_t n = strcspn(s, "\n");
    snprintf(out, outlen, "%.*s", (int)(n < outlen ? n : outlen - 1), s);
}

static const char *const cli_watch_anomaly_hdr[] = {"TIME",     "STREAM", "SEVERITY", "STATUS",
                                                    "INCIDENT", "ID",     "SUMMARY"};

static void cli_watch_anomaly_row(cli_table_t *t, const json_t *a)
{
    char when[32], sum[512];
    cli_watch_time(cli_json_str(a, "timestamp"), when, sizeof when);
    cli_watch_summary(a, sum, sizeof sum);
    const char *sev = cli_json_str(a, "severity"), *st = cli_json_str(a, "status");
    const char *inc = cli_json_str(a, "incident_id");
    cli_table_row_add(t);
    cli_table_cell_set(t, 0, CLI_COLOR_NONE, when);
    cli_table_cell_set(t, 1, CLI_COLOR_BOLD, cli_json_str(a, "stream"));
    cli_table_cell_set(t, 2, cli_watch_severity_color(sev), sev);
    cli_table_cell_set(t, 3, cli_watch_status_color(st), st);
    cli_table_cell_set(t, 4, CLI_COLOR_DIM, *inc ? inc : "-");
    cli_table_cell_set(t, 5, CLI_COLOR_NONE, cli_json_str(a, "id"));
    cli_table_cell_set(t, 6, CLI_COLOR_DIM, sum);
}

/* Anomalies as a table, in the order given (header only when `header`). */
static void cli_watch_anomalies_print(const cli_ctx_t *ctx, const json_t *list, bool header,
                                      bool reverse)
{
    cli_table_t *t = cli_table_new(7, header ? cli_watch_anomaly_hdr : NULL);
    size_t n = json_array_size(list);
    for (size_t i = 0; t && i < n; i++)
        cli_watch_anomaly_row(t, json_array_get(list, reverse ? n - 1 - i : i));
    if (t)
        cli_table_print(t, stdout, ctx->color);
    cli_table_destroy(&t);
}

/* ---- watch anomalies ------------------------------------------------------------------------ */

static volatile sig_atomic_t cli_watch_interrupted;

static void cli_watch_on_sigint(int sig)
{
    (void)sig;
    cli_watch_interrupted = 1;
}

typedef struct cli_watch_listq {
    const char *stream, *severity, *status, *incident, *limit;
    bool follow;
} cli_watch_listq_t;

static int cli_watch_listq_parse(const char *cmd, int argc, char **argv, cli_watch_listq_t *q,
                                 bool anomalies)
{
    struct {
        const char *name;
        const char **dst;
        size_t max;
    } opts[] = {{"--stream", &q->stream, 128},
                {"--severity", &q->severity, 16},
                {"--status", &q->status, 16},
                {"--limit", &q->limit, 4},
                {"--incident", &q->incident, 63}};
    size_t nopts = anomalies ? 5 : 4;
    for (int i = 1; i < argc; i++) {
        if (anomalies && (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--follow"))) {
            q->follow = true;
            continue;
        }
        int hit = 0;
        for (size_t k = 0; k < nopts && !hit; k++) {
            hit = opt_value(argc, argv, &i, opts[k].name, opts[k].dst);
            if (hit < 0) {
                cli_error("%s: %s needs a value", cmd, opts[k].name);
                return CLI_EXIT_USAGE;
            }
            if (hit && !cli_watch_word_ok(opts[k].name, *opts[k].dst, opts[k].max))
                return CLI_EXIT_USAGE;
        }
        if (!hit) {
            cli_error("%s: unexpected '%.80s'; see %s --help", cmd, argv[i], cmd);
            return CLI_EXIT_USAGE;
        }
    }
    char *end = NULL;
    long limit = q->limit ? strtol(q->limit, &end, 10) : 1;
    if (q->limit && (*end || limit < 1 || limit > 1000)) {
        cli_error("%s: --limit wants a number from 1 to 1000, not '%s'", cmd, q->limit);
        return CLI_EXIT_USAGE;
    }
    if (!cli_watch_one_of("--severity", q->severity, cli_watch_severities) ||
        !cli_watch_one_of("--status", q->status, cli_watch_statuses))
        return CLI_EXIT_USAGE;
    return CLI_EXIT_OK;
}

static void cli_watch_anomalies_usage(const cli_ctx_t *ctx)
{
    printf("usage: %s watch anomalies [--stream S] [--severity LEVEL] [--status STATUS]\n"
           "                [--incident ID] [--limit N] [-f] [--json]\n\n"
           "Lists anomalies, newest first (20 unless --limit, at most 1000).\n\n"
           "  --stream S        only this stream's\n"
           "  --severity LEVEL  at least this severity: medium, high or critical\n"
           "  --status STATUS   pending, investigating, acknowledged, resolved or dismissed\n"
           "  --incident ID     only the anomalies of this incident\n"
           "  -f, --follow      then print new anomalies as they are found, until Ctrl-C\n"
           "  --json            the daemon's JSON (with -f: one anomaly per line)\n\n"
           "exit codes: 0 done, 1 the daemon refused, 2 bad usage, 3 unreachable\n",
           ctx->prog);
}

/* The listing's path with the filters (created_since and offset are added by the caller). */
static void cli_watch_anomalies_path(const cli_watch_listq_t *q, char *path, size_t len)
{
    snprintf(path, len, "/api/v1/watch/anomalies");
    cli_watch_query_add(path, len, "stream", q->stream);
    cli_watch_query_add(path, len, "severity", q->severity);
    cli_watch_query_add(path, len, "status", q->status);
    cli_watch_query_add(path, len, "incident_id", q->incident);
}

/* Remembers the ids shown lately (id → created ms) and forgets those older than `keep_ms`. */
static void cli_watch_seen_prune(json_t *seen, int64_t keep_ms)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(seen, tmp, k, v)
    {
        if (json_integer_value(v) < keep_ms)
            json_object_del(seen, k);
    }
}

static int64_t cli_watch_ms(const json_t *o, const char *k)
{
    /* the daemon writes "YYYY-MM-DDTHH:MM:SS.mmmZ" in UTC */
    int64_t ms;
    return clock_rfc3339_parse(cli_json_str(o, k), &ms) == 0 ? ms : 0;
}

static void cli_watch_rfc3339(int64_t ms, char *out, size_t len)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* Polls for anomalies stored since `as_of` until Ctrl-C; prints each once, oldest first. */
static int cli_watch_follow(cli_ctx_t *ctx, cli_client_t *c, const cli_watch_listq_t *q,
                            int64_t as_of, json_t *seen)
{
    struct sigaction sa = {.sa_handler = cli_watch_on_sigint};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int rc = CLI_EXIT_OK;
    while (!cli_watch_interrupted) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = CLI_WATCH_FOLLOW_MS * 1000000L};
        nanosleep(&ts, NULL);
        if (cli_watch_interrupted)
            break;
        char path[CLI_WATCH_PATH_MAX], since[96];
        cli_watch_anomalies_path(q, path, sizeof path);
        cli_watch_rfc3339(as_of - CLI_WATCH_FOLLOW_BACK_MS, since, sizeof since);
        cli_watch_query_add(path, sizeof path, "created_since", since);
        cli_watch_query_add(path, sizeof path, "limit", "1000");
        json_t *r = NULL;
        rc = cli_watch_req(c, "GET", path, NULL, &r);
        if (rc)
            break;
        json_t *list = json_object_get(r, "anomalies"), *fresh = json_array();
        for (size_t i = json_array_size(list); i-- > 0;) {
            json_t *a = json_array_get(list, i);
            const char *id = cli_json_str(a, "id");
            if (json_object_get(seen, id))
                continue;
            json_object_set_new(seen, id, json_integer(cli_watch_ms(a, "created_at")));
            json_array_append(fresh, a);
        }
        for (size_t i = 0; ctx->json && i < json_array_size(fresh); i++)
            cli_json_print(json_array_get(fresh, i), false);
        if (!ctx->json && json_array_size(fresh))
            cli_watch_anomalies_print(ctx, fresh, false, false);
        fflush(stdout);
        json_decref(fresh);
        int64_t next = cli_watch_ms(r, "as_of");
        if (next > as_of)
            as_of = next;
        cli_watch_seen_prune(seen, as_of - 2 * CLI_WATCH_FOLLOW_BACK_MS);
        json_decref(r);
    }
    return rc;
}

int cli_watch_anomalies(cli_ctx_t *ctx, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        cli_watch_anomalies_usage(ctx);
        return CLI_EXIT_OK;
    }
    cli_watch_listq_t q = {0};
    int rc = cli_watch_listq_parse("watch anomalies", argc, argv, &q, true);
    if (rc)
        return rc;
    char path[CLI_WATCH_PATH_MAX];
    cli_watch_anomalies_path(&q, path, sizeof path);
    cli_watch_query_add(path, sizeof path, "limit", q.limit ? q.limit : "20");
    cli_client_t *c = NULL;
    if (cli_client_open(ctx, 0, &c) < 0)
        return CLI_EXIT_USAGE;
    json_t *r = NULL;
    rc = cli_watch_req(c, "GET", path, NULL, &r);
    if (rc) {
        cli_client_destroy(&c);
        return rc;
    }
    json_t *list = json_object_get(r, "anomalies");
    if (ctx->json && !q.follow) {
        cli_json_print(r, true);
    } else if (ctx->json) {
        for (size_t i = json_array_size(list); i-- > 0;)
            cli_json_print(json_array_get(list, i), false);
    } else if (json_array_size(list) == 0) {
        puts("no anomalies");
    } else {
        cli_watch_anomalies_print(ctx, list, true, false);
        if (json_is_true(json_object_get(r, "has_more")))
            printf("(%" JSON_INTEGER_FORMAT " in all; more with --limit)\n",
                   json_integer_value(json_object_get(r, "total")));
    }
    fflush(stdout);
    if (q.follow) {
        json_t *seen = json_object();
        size_t i;
        json_t *a;
        json_array_foreach(list, i, a)
        {
            json_object_set_new(seen, cli_json_str(a, "id"),
                                json_integer(cli_watch_ms(a, "created_at")));
        }
        if (ctx->out_tty && !ctx->json)
            fprintf(stderr, "following new anomalies (Ctrl-C to stop)\n");
        int64_t as_of = cli_watch_ms(r, "as_of");
        if (as_of == 0) /* a daemon that does not say: this machine's clock, minus the margin */
            as_of = (int64_t)time(NULL) * 1000;
        rc = cli_watch_follow(ctx, c, &q, as_of, seen);
        json_decref(seen);
    }
    json_decref(r);
    cli_client_destroy(&c);
    return rc;
}

/* ---- watch show ---------------------------------------------------------------------------- */

/* Text from the daemon, line by line with control characters neutralised, indented. */
static void cli_watch_text(const char *s, const char *indent, size_t max_lines)
{
    size_t lines = 0;
    while (s && *s && lines < max_lines) {
        size_t n = strcspn(s, "\n");
        char raw[2048], clean[2048];
        snprintf(raw, sizeof raw, "%.*s", (int)(n < sizeof raw ? n : sizeof raw - 1), s);
        cli_sanitize(raw, clean, sizeof clean);
        printf("%s%s\n", indent, clean);
        lines++;
        s += n;
        if (*s == '\n')
            s++;
    }
}

static void cli_watch_kv(cli_table_t *t, const char *k, const char *v)
{
    cli_table_row_add(t);
    cli_table_cell_set(t, 0, CLI_COLOR_BOLD, k);
    cli_table_cell_set(t, 1, CLI_COLOR_NONE, v && *v ? v : "-");
}

/* A list of strings (novel lines, the window's events) with at most `max` shown. */
static void cli_watch_lines(const char *title, const json_t *arr, size_t max)
{
    size_t n = json_array_size(arr);
    if (!n)
        return;
    printf("\n%s (%zu):\n", title, n);
    for (size_t i = 0; i < n && i < max; i++) {
        const json_t *x = json_array_get(arr, i);
        char *dump = json_is_string(x) ? NULL : json_dumps(x, JSON_COMPACT | JSON_ENCODE_ANY);
        cli_watch_text(dump ? dump : json_string_value(x), "  ", 1);
        free(dump);
    }
    if (n > max)
        printf("  ... %zu more (--json shows all)\n", n - max);
}

static void cli_watch_anomaly_show(const cli_ctx_t *ctx, const json_t *a)
{
    cli_table_t *t = cli_table_new(2, NULL);
    if (!t)
        return;
    cli_table_width_set(t, 1, 0);
    char buf[128];
    static const char *const keys[] = {"id",           "timestamp",       "stream",
                                       "stream_type",  "severity",        "status",
                                       "incident_id",  "acknowledged_by", "acknowledged_at",
                                       "dismissed_by", "dismissed_at",    "notes"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        cli_watch_kv(t, keys[i], cli_json_str(a, keys[i]));
        if (i == 5) {
            snprintf(buf, sizeof buf, "%.4f (the stream's usual %.4f, novelty %.4f)",
                     json_number_value(json_object_get(a, "ncd_score")),
                     json_number_value(json_object_get(a, "ncd_reference")),
                     json_number_value(json_object_get(a, "novelty")));
            cli_watch_kv(t, "ncd_score", buf);
            snprintf(buf, sizeof buf, "%.4g (confidence %.2f %%, %s)",
                     json_number_value(json_object_get(a, "p_value")),
                     json_number_value(json_object_get(a, "confidence_level")) * 100.0,
                     json_is_true(json_object_get(a, "is_statistically_significant"))
                         ? "significant"
                         : "not significant");
            cli_watch_kv(t, "p_value", buf);
        }
    }
    json_t *tags = json_object_get(a, "tags");
    char tagbuf[1024] = "";
    for (size_t i = 0; i < json_array_size(tags); i++) {
        size_t l = strlen(tagbuf);
        snprintf(tagbuf + l, sizeof tagbuf - l, "%s%s", i ? ", " : "",
                 json_string_value(json_array_get(tags, i)) ?: "");
    }
    cli_watch_kv(t, "tags", tagbuf);
    cli_table_print(t, stdout, ctx->color);
    cli_table_destroy(&t);
    printf("\nexplanation:\n");
    cli_watch_text(cli_json_str(a, "glass_box_explanation"), "  ", 50);
    const char *det = cli_json_str(a, "detailed_explanation");
    if (*det) {
        printf("\ndetails:\n");
        cli_watch_text(det, "  ", 200);
    }
    cli_watch_lines("novel lines", json_object_get(a, "novel_lines"), CLI_WATCH_SHOW_LINES);
    cli_watch_lines("window (the evidence)", json_object_get(a, "window_data"),
                    CLI_WATCH_SHOW_LINES);
    size_t nb = json_array_size(json_object_get(a, "baseline_data"));
    if (nb)
        printf("\nbaseline: %zu events (--json shows them)\n", nb);
}

static void cli_watch_incident_show(const cli_ctx_t *ctx, const json_t *inc)
{
    cli_table_t *t = cli_table_new(2, NULL);
    if (!t)
        return;
    cli_table_width_set(t, 1, 0);
    char buf[64];
    cli_watch_kv(t, "id", cli_json_str(inc, "id"));
    cli_watch_kv(t, "stream", cli_json_str(inc, "stream"));
    cli_watch_kv(t, "status", cli_json_str(inc, "status"));
    cli_watch_kv(t, "severity", cli_json_str(inc, "severity"));
    snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(inc, "anomalies")));
    cli_watch_kv(t, "anomalies", buf);
    cli_watch_kv(t, "first_at", cli_json_str(inc, "first_at"));
    cli_watch_kv(t, "last_at", cli_json_str(inc, "last_at"));
    cli_watch_kv(t, "notes", cli_json_str(inc, "notes"));
    cli_table_print(t, stdout, ctx->color);
    cli_table_destroy(&t);
    json_t *members = json_object_get(inc, "members");
    if (json_array_size(members)) {
        printf("\n");
        cli_watch_anomalies_print(ctx, members, true, false);
        if (json_is_true(json_object_get(inc, "has_more")))
            printf("(more: %s watch anomalies --incident %s --limit N)\n", ctx->prog,
                   cli_json_str(inc, "id"));
    }
}

int cli_watch_show(cli_ctx_t *ctx, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: %s watch show ID [--json]\n\n"
               "An anomaly with its explanation and evidence (the window's events, the lines\n"
               "the baseline had not seen), or an incident (ID inc-...) with its anomalies.\n",
               ctx->prog);
        return CLI_EXIT_OK;
    }
    if (argc != 2) {
        cli_error("usage: %s watch show ID", ctx->prog);
        return CLI_EXIT_USAGE;
    }
    if (!cli_watch_word_ok("ID", argv[1], 63))
        return CLI_EXIT_USAGE;
    bool incident = !strncmp(argv[1], "inc-", 4);
    char path[CLI_WATCH_PATH_MAX];
    snprintf(path, sizeof path, "/api/v1/watch/%s/%s%s", incident ? "incidents" : "anomalies",
             argv[1], incident ? "?limit=100" : "");
    json_t *r = NULL;
    int rc = cli_watch_once(ctx, "GET", path, NULL, &r);
    if (rc == 0) {
        if (ctx->json)
            cli_json_print(r, true);
        else if (incident)
            cli_watch_incident_show(ctx, r);
        else
            cli_watch_anomaly_show(ctx, r);
    }
    json_decref(r);
    return rc;
}

/* ---- watch ack | resolve | false-positive ---------------------------------------------------- */

/* One review verb: status to move to, and tags it adds. */
static int cli_watch_review(cli_ctx_t *ctx, int argc, char **argv, const char *status,
                            const char *tag, const char *done)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: %s watch %s ID [--note TEXT] [--json]\n\n"
               "Marks an anomaly %s, or every anomaly of an incident (ID inc-...) that can make\n"
               "the move (the others are named; the note is then the incident's).\n"
               "From pending this is one step; a resolved or dismissed anomaly is reopened\n"
               "first with PATCH status=investigating.\n\n"
               "exit codes: 0 done (also when it already was), 1 refused (e.g. not a move\n"
               "from where it is, unknown ID), 2 bad usage, 3 unreachable\n",
               ctx->prog, argv[0], done);
        return CLI_EXIT_OK;
    }
    const char *id = NULL, *note = NULL;
    for (int i = 1; i < argc; i++) {
        int hit = opt_value(argc, argv, &i, "--note", &note);
        if (hit < 0) {
            cli_error("--note needs a value");
            return CLI_EXIT_USAGE;
        }
        if (hit)
            continue;
        if (id || argv[i][0] == '-') {
            cli_error("watch %s: unexpected '%.80s'", argv[0], argv[i]);
            return CLI_EXIT_USAGE;
        }
        id = argv[i];
    }
    if (!id) {
        cli_error("usage: %s watch %s ID [--note TEXT]", ctx->prog, argv[0]);
        return CLI_EXIT_USAGE;
    }
    if (!cli_watch_word_ok("ID", id, 63))
        return CLI_EXIT_USAGE;
    bool incident = !strncmp(id, "inc-", 4);
    char path[CLI_WATCH_PATH_MAX];
    snprintf(path, sizeof path, "/api/v1/watch/%s/%s", incident ? "incidents" : "anomalies", id);
    json_t *body = json_pack("{s:s}", "status", status);
    if (note)
        json_object_set_new(body, "notes", json_string(note));
    if (tag)
        json_object_set_new(body, "add_tags", json_pack("[s]", tag));
    json_t *r = NULL;
    int rc = cli_watch_once(ctx, "PATCH", path, body, &r);
    json_decref(body);
    if (rc == 0 && ctx->json) {
        cli_json_print(r, true);
    } else if (rc == 0 && incident) {
        json_t *rv = json_object_get(r, "review");
        printf("incident %s: %s (%" JSON_INTEGER_FORMAT " anomalies moved, %" JSON_INTEGER_FORMAT
               " already were, %" JSON_INTEGER_FORMAT " could not move)\n",
               id, cli_json_str(r, "status"), json_integer_value(json_object_get(rv, "moved")),
               json_integer_value(json_object_get(rv, "unchanged")),
               json_integer_value(json_object_get(rv, "refused_total")));
        json_t *refused = json_object_get(rv, "refused");
        for (size_t i = 0; i < json_array_size(refused); i++) {
            json_t *x = json_array_get(refused, i);
            printf("  %s stays %s\n", cli_json_str(x, "id"), cli_json_str(x, "status"));
        }
    } else if (rc == 0) {
        printf("anomaly %s: %s\n", id, cli_json_str(r, "status"));
    }
    json_decref(r);
    return rc;
}

int cli_watch_ack(cli_ctx_t *ctx, int argc, char **argv)
{
    return cli_watch_review(ctx, argc, argv, "acknowledged", NULL, "acknowledged");
}

int cli_watch_resolve(cli_ctx_t *ctx, int argc, char **argv)
{
    return cli_watch_review(ctx, argc, argv, "resolved", NULL, "resolved");
}

int cli_watch_false_positive(cli_ctx_t *ctx, int argc, char **argv)
{
    return cli_watch_review(ctx, argc, argv, "dismissed", "false-positive",
                            "dismissed with the tag false-positive");
}

/* ---- watch streams ----------------------------------------------------------------------- */

int cli_watch_streams(cli_ctx_t *ctx, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: %s watch streams [--json]\n\n"
               "The streams with their events in, scored and queued, and anomalies found since\n"
               "the daemon started.\n",
               ctx->prog);
        return CLI_EXIT_OK;
    }
    if (argc > 1) {
        cli_error("watch streams: unexpected '%.80s'", argv[1]);
        return CLI_EXIT_USAGE;
    }
    json_t *r = NULL;
    int rc = cli_watch_once(ctx, "GET", "/api/v1/watch/streams", NULL, &r);
    if (rc || ctx->json) {
        if (rc == 0)
            cli_json_print(r, true);
        json_decref(r);
        return rc;
    }
    static const char *const hdr[] = {"NAME",   "TYPE",      "EVENTS", "SCORED",
                                      "QUEUED", "ANOMALIES", "WINDOW"};
    cli_table_t *t = cli_table_new(7, hdr);
    json_t *list = json_object_get(r, "streams");
    for (size_t i = 0; t && i < json_array_size(list); i++) {
        json_t *s = json_array_get(list, i), *st = json_object_get(s, "stats");
        json_t *set = json_object_get(s, "settings");
        cli_table_row_add(t);
        cli_table_cell_set(t, 0, CLI_COLOR_BOLD, cli_json_str(s, "name"));
        cli_table_cell_set(t, 1, CLI_COLOR_NONE, cli_json_str(s, "type"));
        static const char *const counters[] = {"events_in", "events_scored", "queue_depth",
                                               "anomalies"};
        for (size_t k = 0; k < 4; k++)
            cli_table_cellf(t, 2 + k, CLI_COLOR_NONE, "%" JSON_INTEGER_FORMAT,
                            json_integer_value(json_object_get(st, counters[k])));
        cli_table_cellf(t, 6, CLI_COLOR_DIM,
                        "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
                        json_integer_value(json_object_get(set, "baseline")),
                        json_integer_value(json_object_get(set, "window")),
                        json_integer_value(json_object_get(set, "hop")));
    }
    if (t) {
        for (size_t k = 2; k < 6; k++)
            cli_table_align_set(t, k, CLI_ALIGN_RIGHT);
        if (cli_table_rows(t) == 0)
            puts("no streams");
        else
            cli_table_print(t, stdout, ctx->color);
    }
    cli_table_destroy(&t);
    json_decref(r);
    return CLI_EXIT_OK;
}

/* ---- watch incidents --------------------------------------------------------------------- */

int cli_watch_incidents(cli_ctx_t *ctx, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: %s watch incidents [--stream S] [--severity LEVEL] [--status STATUS]\n"
               "                [--limit N] [--json]\n\n"
               "Incidents, newest first: the anomalies of one burst on one stream (windows that\n"
               "overlap, or come within watch.incident_gap_s of each other). STATUS is the most\n"
               "urgent of its anomalies'; SEVERITY the highest. Review one with\n"
               "'%s watch ack|resolve|false-positive inc-...'.\n",
               ctx->prog, ctx->prog);
        return CLI_EXIT_OK;
    }
    cli_watch_listq_t q = {0};
    int rc = cli_watch_listq_parse("watch incidents", argc, argv, &q, false);
    if (rc)
        return rc;
    char path[CLI_WATCH_PATH_MAX];
    snprintf(path, sizeof path, "/api/v1/watch/incidents");
    cli_watch_query_add(path, sizeof path, "stream", q.stream);
    cli_watch_query_add(path, sizeof path, "severity", q.severity);
    cli_watch_query_add(path, sizeof path, "status", q.status);
    cli_watch_query_add(path, sizeof path, "limit", q.limit ? q.limit : "20");
    json_t *r = NULL;
    rc = cli_watch_once(ctx, "GET", path, NULL, &r);
    if (rc || ctx->json) {
        if (rc == 0)
            cli_json_print(r, true);
        json_decref(r);
        return rc;
    }
    static const char *const hdr[] = {"LAST",     "FIRST",  "STREAM", "ANOMALIES",
                                      "SEVERITY", "STATUS", "ID"};
    cli_table_t *t = cli_table_new(7, hdr);
    json_t *list = json_object_get(r, "incidents");
    for (size_t i = 0; t && i < json_array_size(list); i++) {
        json_t *x = json_array_get(list, i);
        char last[32], first[32];
        cli_watch_time(cli_json_str(x, "last_at"), last, sizeof last);
        cli_watch_time(cli_json_str(x, "first_at"), first, sizeof first);
        const char *sev = cli_json_str(x, "severity"), *st = cli_json_str(x, "status");
        cli_table_row_add(t);
        cli_table_cell_set(t, 0, CLI_COLOR_NONE, last);
        cli_table_cell_set(t, 1, CLI_COLOR_DIM, first);
        cli_table_cell_set(t, 2, CLI_COLOR_BOLD, cli_json_str(x, "stream"));
        cli_table_cellf(t, 3, CLI_COLOR_NONE, "%" JSON_INTEGER_FORMAT,
                        json_integer_value(json_object_get(x, "anomalies")));
        cli_table_cell_set(t, 4, cli_watch_severity_color(sev), sev);
        cli_table_cell_set(t, 5, cli_watch_status_color(st), st);
        cli_table_cell_set(t, 6, CLI_COLOR_NONE, cli_json_str(x, "id"));
    }
    if (t) {
        cli_table_align_set(t, 3, CLI_ALIGN_RIGHT);
        if (cli_table_rows(t) == 0)
            puts("no incidents");
        else
            cli_table_print(t, stdout, ctx->color);
        if (json_is_true(json_object_get(r, "has_more")))
            printf("(%" JSON_INTEGER_FORMAT " in all; more with --limit)\n",
                   json_integer_value(json_object_get(r, "total")));
    }
    cli_table_destroy(&t);
    json_decref(r);
    return CLI_EXIT_OK;
}
