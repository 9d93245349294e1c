/* `ganglion agent …`: spawn, list, show, follow and control supervised agents. Each subcommand
 * is one or a few requests to /api/v1/agents… through the CLI's client face, so `--via zmq`
 * works for all of them (log following polls /output rather than holding an SSE stream, for the
 * same reason). Tables with status colours on a terminal, the daemon's JSON with --json. */
#include "cli/cli_agent_triggers.h"
#include "cli/cli_priv.h"
#include "core/clock.h"
#include "core/num.h"
#include "core/opt.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define CLI_AGENT_MAX_LABELS 64
#define CLI_AGENT_PATH_MAX   4096
#define CLI_AGENT_FOLLOW_MS  300

/* ---- requests ---------------------------------------------------------------------------- */

/* Percent-encodes s (unreserved characters kept) onto the end of out. */
static void cli_agent_pct(char *out, size_t outlen, const char *s)
{
    size_t o = strlen(out);
    for (; *s && o + 4 < outlen; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, outlen - o, "%%%02X", c);
    }
    out[o] = '\0';
}

/* Sends method path [body]; on a reply < 400 stores its parsed JSON in *out (may be NULL for an
 * empty body) and returns 0; otherwise prints the problem or the error and returns the exit
 * code. */
static int cli_agent_req(cli_ctx_t *ctx, cli_client_t *c, const char *method, const char *path,
                         const json_t *body, json_t **out)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    cli_response_t r;
    int rc = cli_client_request(c, method, path, text, text ? strlen(text) : 0, &r);
    free(text);
    if (out)
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
    if (out && r.body_len)
        *out = json_loadb(r.body, r.body_len, JSON_DECODE_ANY, NULL);
    cli_response_free(&r);
    return CLI_EXIT_OK;
}

static int cli_agent_open(cli_ctx_t *ctx, cli_client_t **c)
{
    return cli_client_open(ctx, 0, c) < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
}

/* ---- output ----------------------------------------------------------------------------- */

static cli_color_t cli_agent_status_color(const char *st)
{
    if (!st)
        return CLI_COLOR_NONE;
    if (!strcmp(st, "running"))
        return CLI_COLOR_GREEN;
    if (!strcmp(st, "thinking"))
        return CLI_COLOR_CYAN;
    if (!strcmp(st, "paused") || !strcmp(st, "stopping") || !strcmp(st, "initializing"))
        return CLI_COLOR_YELLOW;
    if (!strcmp(st, "failed") || !strcmp(st, "lost"))
        return CLI_COLOR_RED;
    if (!strcmp(st, "completed"))
        return CLI_COLOR_BLUE;
    if (!strcmp(st, "terminated"))
        return CLI_COLOR_DIM;
    return CLI_COLOR_NONE;
}

/* A scalar as text ("-" for null or absent). */
static void cli_agent_val(const json_t *v, char *out, size_t outlen)
{
    if (!v || json_is_null(v))
        snprintf(out, outlen, "-");
    else if (json_is_string(v))
        snprintf(out, outlen, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, outlen, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        snprintf(out, outlen, "%g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(out, outlen, "%s", json_is_true(v) ? "true" : "false");
    else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
        snprintf(out, outlen, "%s", s ? s : "?");
        free(s);
    }
}

static void cli_agent_labels(const json_t *labels, char *out, size_t outlen)
{
    out[0] = '\0';
    const char *k;
    json_t *v;
    size_t o = 0;
    json_object_foreach((json_t *)(uintptr_t)labels, k, v)
    {
        int n = snprintf(out + o, outlen - o, "%s%s=%s", o ? "," : "", k,
                         json_string_value(v) ? json_string_value(v) : "");
        if (n < 0 || (size_t)n >= outlen - o)
            break;
        o += (size_t)n;
    }
}

static int cli_agent_print_json(const json_t *v)
{
    return cli_json_print(v, false) < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

/* One agent as key/value lines. */
static int cli_agent_print_one(cli_ctx_t *ctx, const json_t *a)
{
    if (ctx->json)
        return cli_agent_print_json(a);
    cli_table_t *t = cli_table_new(2, NULL);
    if (!t)
        return CLI_EXIT_FAIL;
    cli_table_width_set(t, 1, 0);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)(uintptr_t)a, k, v)
    {
        char text[CLI_TABLE_MAX_CELL];
        if (!strcmp(k, "labels") && json_is_object(v))
            cli_agent_labels(v, text, sizeof text);
        else
            cli_agent_val(v, text, sizeof text);
        cli_table_row_add(t);
        cli_table_cell_set(t, 0, CLI_COLOR_DIM, k);
        cli_table_cell_set(
            t, 1, !strcmp(k, "status") ? cli_agent_status_color(text) : CLI_COLOR_NONE, text);
    }
    int rc = cli_table_print(t, stdout, ctx->color);
    cli_table_destroy(&t);
    return rc < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

/* A control command's reply: the agent's id and new status, or the JSON. */
static int cli_agent_print_brief(cli_ctx_t *ctx, const json_t *a, const char *verb)
{
    if (ctx->json)
        return cli_agent_print_json(a ? a : json_null());
    const char *st = cli_json_str(a, "status");
    static const char *const ended[] = {"completed", "failed", "terminated", "lost"};
    for (size_t i = 0; !strcmp(verb, "stopping") && i < sizeof ended / sizeof ended[0]; i++)
        if (!strcmp(st, ended[i]))
            verb = "stopped"; /* it had ended already: stop is idempotent */
    if (ctx->color && *st)
        printf("%s %s: \033[%sm%s\033[0m\n", verb, cli_json_str(a, "id"),
               cli_agent_status_color(st) == CLI_COLOR_RED     ? "31"
               : cli_agent_status_color(st) == CLI_COLOR_GREEN ? "32"
                                                               : "33",
               st);
    else if (*st)
        printf("%s %s: %s\n", verb, cli_json_str(a, "id"), st);
    else
        printf("%s %s\n", verb, cli_json_str(a, "id"));
    return CLI_EXIT_OK;
}

/* An RFC 3339 UTC time as the daemon writes it (2026-01-02T03:04:05.678Z) in ms; -1 if not. */
static int64_t cli_agent_time_ms(const char *s)
{
    int64_t ms;
    return clock_rfc3339_parse(s, &ms) == 0 ? ms : -1;
}

/* Bytes as 512B, 12.3M, 1.1G. */
static void cli_agent_bytes(double b, char *out, size_t len)
{
    static const char units[] = "BKMGT";
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, len, "%.0fB", b);
    else
        snprintf(out, len, "%.1f%c", b, units[u]);
}

/* ---- argument helpers ------------------------------------------------------------------- */

/* opt_value, saying when the value is missing. */
static int cli_agent_opt(int argc, char **argv, int *i, const char *name, const char **v)
{
    int hit = opt_value(argc, argv, i, name, v);
    if (hit < 0)
        cli_error("%s needs a value", name);
    return hit;
}

/* k=v into obj; -1 (message printed) when malformed. */
static int cli_agent_kv(json_t *obj, const char *kv, const char *what)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) {
        cli_error("%s wants KEY=VALUE, not '%.80s'", what, kv);
        return -1;
    }
    char key[256];
    snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
    json_object_set_new(obj, key, json_string(eq + 1));
    return 0;
}

/* A number with an optional unit suffix, scaled: units is "K1024,M1048576,..." style pairs. */
static int cli_agent_number(const char *s, double *out, char *unit, size_t unitlen)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0)
        return -1;
    snprintf(unit, unitlen, "%s", end);
    *out = v;
    return 0;
}

/* --limit mem=512M,cpu=60s,time=1h,nofile=256,cpu%=50 → the spawn body's limits object. */
static int cli_agent_limits(json_t *limits, const char *spec)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        double v;
        char unit[16];
        if (!eq || cli_agent_number(eq + 1, &v, unit, sizeof unit) < 0) {
            cli_error("--limit: '%.60s' is not KEY=NUMBER[UNIT]", tok);
            return -1;
        }
        *eq = '\0';
        if (!strcmp(tok, "mem") || !strcmp(tok, "memory")) {
            double mb = !strcasecmp(unit, "G")               ? v * 1024
                        : !strcasecmp(unit, "K")             ? v / 1024
                        : !unit[0] || !strcasecmp(unit, "M") ? v
                                                             : -1;
            if (mb < 0) {
                cli_error("--limit mem: unit must be K, M or G");
                return -1;
            }
            json_object_set_new(limits, "memory_mb", json_integer((json_int_t)(mb + 0.999)));
        } else if (!strcmp(tok, "cpu") || !strcmp(tok, "time")) {
            double s = !unit[0] || !strcmp(unit, "s") ? v
                       : !strcmp(unit, "ms")          ? v / 1000
                       : !strcmp(unit, "m")           ? v * 60
                       : !strcmp(unit, "h")           ? v * 3600
                                                      : -1;
            if (s < 0) {
                cli_error("--limit %s: unit must be ms, s, m or h", tok);
                return -1;
            }
            if (!strcmp(tok, "cpu"))
                json_object_set_new(limits, "cpu_s", json_integer((json_int_t)(s + 0.999)));
            else
                json_object_set_new(limits, "timeout_s", json_real(s));
        } else if (!strcmp(tok, "nofile") && !unit[0]) {
            json_object_set_new(limits, "nofile", json_integer((json_int_t)v));
        } else if (!strcmp(tok, "cpu%") && !unit[0]) {
            json_object_set_new(limits, "cpu_percent", json_integer((json_int_t)v));
        } else {
            cli_error("--limit: unknown key '%.40s' (mem, cpu, time, nofile, cpu%%)", tok);
            return -1;
        }
    }
    return 0;
}

/* ---- subcommands ------------------------------------------------------------------------ */

static int cli_agent_spawn(cli_ctx_t *ctx, int argc, char **argv)
{
    json_t *body = json_object(), *labels = json_object(), *limits = json_object();
    json_t *env = json_object(), *cmd = json_array();
    int rc = CLI_EXIT_USAGE;
    const char *v;
    for (int i = 1; i < argc; i++) {
        int hit;
        if (!strcmp(argv[i], "--")) {
            for (i++; i < argc; i++)
                json_array_append_new(cmd, json_string(argv[i]));
            break;
        }
        if ((hit = cli_agent_trigger_opt(argc, argv, &i, body)) != 0) {
            if (hit < 0)
                goto out;
        } else if ((hit = cli_agent_opt(argc, argv, &i, "--preset", &v)) != 0) {
            if (hit < 0)
                goto out;
            json_object_set_new(body, "preset", json_string(v));
        } else if ((hit = cli_agent_opt(argc, argv, &i, "--task", &v)) != 0) {
            if (hit < 0)
                goto out;
            json_object_set_new(body, "task", json_string(v));
        } else if ((hit = cli_agent_opt(argc, argv, &i, "--label", &v)) != 0) {
            if (hit < 0 || cli_agent_kv(labels, v, "--label") < 0)
                goto out;
        } else if ((hit = cli_agent_opt(argc, argv, &i, "--env", &v)) != 0) {
            if (hit < 0 || cli_agent_kv(env, v, "--env") < 0)
                goto out;
        } else if ((hit = cli_agent_opt(argc, argv, &i, "--limit", &v)) != 0) {
            if (hit < 0 || cli_agent_limits(limits, v) < 0)
                goto out;
        } else if ((hit = cli_agent_opt(argc, argv, &i, "--restart", &v)) != 0) {
            if (hit < 0)
                goto out;
            json_object_set_new(body, "restart", json_string(v));
        } else if ((hit = cli_agent_opt(argc, argv, &i, "--cwd", &v)) != 0) {
            if (hit < 0)
                goto out;
            json_object_set_new(body, "cwd", json_string(v));
        } else if (!strcmp(argv[i], "--allow-duplicate-name")) {
            json_object_set_new(body, "allow_duplicate_name", json_true());
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_error("agent spawn: unknown option '%.60s'", argv[i]);
            goto out;
        } else if (!json_object_get(body, "name")) {
            json_object_set_new(body, "name", json_string(argv[i]));
        } else {
            cli_error("agent spawn: unexpected '%.60s' (put the command after --)", argv[i]);
            goto out;
        }
    }
    if (!json_object_get(body, "name")) {
        cli_error("agent spawn: a NAME is required");
        goto out;
    }
    if (json_array_size(cmd) && json_object_get(body, "preset")) {
        cli_error("agent spawn: give either --preset/--task or -- CMD ARGS, not both");
        goto out;
    }
    /* The command runs where the user stands (`python3 worker.py` finds worker.py); a daemon
     * on another host has no such directory, so there its own default holds. */
    char wd[CLI_AGENT_PATH_MAX];
    if (!json_object_get(body, "cwd") && cli_url_is_loopback(ctx->url) && getcwd(wd, sizeof wd))
        json_object_set_new(body, "cwd", json_string(wd));
    if (json_array_size(cmd))
        json_object_set(body, "argv", cmd);
    if (json_object_size(labels))
        json_object_set(body, "labels", labels);
    if (json_object_size(limits))
        json_object_set(body, "limits", limits);
    if (json_object_size(env))
        json_object_set(body, "env", env);
    cli_client_t *c = NULL;
    if ((rc = cli_agent_open(ctx, &c)) != 0)
        goto out;
    json_t *a = NULL;
    rc = cli_agent_req(ctx, c, "POST", "/api/v1/agents", body, &a);
    if (rc == 0 && ctx->json)
        rc = cli_agent_print_json(a);
    else if (rc == 0 && !ctx->out_tty)
        printf("%s\n", cli_json_str(a, "id")); /* ID=$(ganglion agent spawn …) */
    else if (rc == 0)
        printf("spawned %s (%s), %s; follow it with: %s agent logs %s -f\n",
               cli_json_str(a, "name"), cli_json_str(a, "id"), cli_json_str(a, "status"), ctx->prog,
               cli_json_str(a, "id"));
    json_decref(a);
    cli_client_destroy(&c);
out:
    json_decref(body);
    json_decref(labels);
    json_decref(limits);
    json_decref(env);
    json_decref(cmd);
    return rc;
}

/* The command line, argv joined by spaces. */
static void cli_agent_cmdline(const json_t *argv, char *out, size_t len)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < json_array_size(argv) && o + 1 < len; i++) {
        int n = snprintf(out + o, len - o, "%s%s", i ? " " : "",
                         json_string_value(json_array_get(argv, i)) ?: "");
        if (n < 0)
            break;
        o += (size_t)n < len - o ? (size_t)n : len - o - 1;
    }
}

/* One row of `agent ls`. */
static void cli_agent_ls_row(cli_table_t *t, const json_t *a, int64_t now_ms)
{
    char pid[32], ex[32], uptime[32] = "-", cpu[32] = "-", rss[32] = "-", cmd[1024], reason[512];
    const char *st = cli_json_str(a, "status");
    cli_agent_val(json_object_get(a, "pid"), pid, sizeof pid);
    json_t *code = json_object_get(a, "exit_code"), *sig = json_object_get(a, "signal");
    cli_agent_val(sig && !json_is_null(sig) ? sig : code, ex, sizeof ex);
    int64_t started = cli_agent_time_ms(json_string_value(json_object_get(a, "started_at")));
    if (started > 0 && json_is_integer(json_object_get(a, "pid")))
        cli_duration_format((double)((now_ms - started) / 1000), uptime, sizeof uptime);
    json_t *usage = json_object_get(a, "usage");
    json_t *cp = json_object_get(usage, "cpu_percent"), *rs = json_object_get(usage, "rss_bytes");
    if (json_is_number(cp))
        snprintf(cpu, sizeof cpu, "%.1f", json_number_value(cp));
    if (json_is_number(rs))
        cli_agent_bytes(json_number_value(rs), rss, sizeof rss);
    cli_agent_cmdline(json_object_get(a, "argv"), cmd, sizeof cmd);
    cli_agent_val(json_object_get(a, "reason"), reason, sizeof reason);
    cli_table_row_add(t);
    cli_table_cell_set(t, 0, CLI_COLOR_NONE, cli_json_str(a, "id"));
    cli_table_cell_set(t, 1, CLI_COLOR_BOLD, cli_json_str(a, "name"));
    cli_table_cell_set(t, 2, cli_agent_status_color(st), st);
    cli_table_cell_set(t, 3, CLI_COLOR_NONE, pid);
    cli_table_cell_set(t, 4, CLI_COLOR_NONE, uptime);
    cli_table_cellf(t, 5, CLI_COLOR_NONE, "%" JSON_INTEGER_FORMAT,
                    json_integer_value(json_object_get(a, "restarts")));
    cli_table_cell_set(t, 6, CLI_COLOR_NONE, cpu);
    cli_table_cell_set(t, 7, CLI_COLOR_NONE, rss);
    cli_table_cell_set(t, 8, CLI_COLOR_NONE, ex);
    cli_table_cell_set(t, 9, CLI_COLOR_DIM, cmd);
    cli_table_cell_set(t, 10, CLI_COLOR_DIM, reason);
}

static int cli_agent_ls(cli_ctx_t *ctx, int argc, char **argv)
{
    char path[CLI_AGENT_PATH_MAX] = "/api/v1/agents?limit=";
    const char *status = NULL, *limit = "1000", *v;
    char labels[1024] = "";
    bool all = false;
    for (int i = 1; i < argc; i++) {
        int hit;
        if (!strcmp(argv[i], "--all") || !strcmp(argv[i], "-a")) {
            all = true;
        } else if ((hit = cli_agent_opt(argc, argv, &i, "--status", &v)) != 0) {
            if (hit < 0)
                return CLI_EXIT_USAGE;
            status = v;
        } else if ((hit = cli_agent_opt(argc, argv, &i, "--label", &v)) != 0) {
            if (hit < 0)
                return CLI_EXIT_USAGE;
            size_t n = strlen(labels);
            snprintf(labels + n, sizeof labels - n, "%s%s", n ? "," : "", v);
        } else if ((hit = cli_agent_opt(argc, argv, &i, "--limit", &v)) != 0) {
            if (hit < 0)
                return CLI_EXIT_USAGE;
            limit = v;
        } else {
            cli_error("agent ls: unknown argument '%.60s'", argv[i]);
            return CLI_EXIT_USAGE;
        }
    }
    cli_agent_pct(path, sizeof path, limit);
    if (status) {
        strncat(path, "&status=", sizeof path - strlen(path) - 1);
        cli_agent_pct(path, sizeof path, status);
    } else if (!all) {
        strncat(path, "&ended=false", sizeof path - strlen(path) - 1);
    }
    if (labels[0]) {
        strncat(path, "&labels=", sizeof path - strlen(path) - 1);
        cli_agent_pct(path, sizeof path, labels);
    }
    cli_client_t *c = NULL;
    int rc = cli_agent_open(ctx, &c);
    if (rc)
        return rc;
    json_t *r = NULL;
    rc = cli_agent_req(ctx, c, "GET", path, NULL, &r);
    cli_client_destroy(&c);
    if (rc) {
        json_decref(r);
        return rc;
    }
    if (ctx->json) {
        rc = cli_agent_print_json(r);
        json_decref(r);
        return rc;
    }
    static const char *const hdr[] = {"ID",   "NAME", "STATUS", "PID",     "UPTIME", "RESTARTS",
                                      "CPU%", "RSS",  "EXIT",   "COMMAND", "REASON"};
    cli_table_t *t = cli_table_new(11, hdr);
    json_t *list = json_object_get(r, "agents");
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    for (size_t i = 0; t && i < json_array_size(list); i++)
        cli_agent_ls_row(t, json_array_get(list, i), now_ms);
    if (t) {
        for (size_t col = 3; col <= 8; col++)
            cli_table_align_set(t, col, CLI_ALIGN_RIGHT);
        cli_table_width_set(t, 9, 40);
        if (cli_table_rows(t) == 0)
            puts(all || status ? "no agents" : "no live agents (--all shows the ended ones)");
        else
            cli_table_print(t, stdout, ctx->color);
        json_t *more = json_object_get(r, "has_more");
        if (json_is_true(more))
            printf("(%" JSON_INTEGER_FORMAT " in all; more with --limit)\n",
                   json_integer_value(json_object_get(r, "total")));
    }
    cli_table_destroy(&t);
    json_decref(r);
    return CLI_EXIT_OK;
}

/* Builds /api/v1/agents/ID[/suffix] (ID: an id or a name); -1 for an empty or oversized one. */
static int cli_agent_path(char *out, size_t outlen, const char *id, const char *suffix)
{
    if (!id || !*id || strlen(id) > 255) {
        cli_error("an agent ID or NAME is required (1 to 128 characters, at most 255 bytes)");
        return -1;
    }
    snprintf(out, outlen, "/api/v1/agents/");
    cli_agent_pct(out, outlen, id);
    if (suffix) {
        size_t n = strlen(out);
        snprintf(out + n, outlen - n, "/%s", suffix);
    }
    return 0;
}

static int cli_agent_show(cli_ctx_t *ctx, int argc, char **argv)
{
    char path[CLI_AGENT_PATH_MAX];
    if (argc != 2) {
        cli_error("usage: agent show ID");
        return CLI_EXIT_USAGE;
    }
    if (cli_agent_path(path, sizeof path, argv[1], NULL) < 0)
        return CLI_EXIT_USAGE;
    cli_client_t *c = NULL;
    int rc = cli_agent_open(ctx, &c);
    if (rc)
        return rc;
    json_t *a = NULL;
    rc = cli_agent_req(ctx, c, "GET", path, NULL, &a);
    cli_client_destroy(&c);
    if (rc == 0)
        rc = cli_agent_print_one(ctx, a);
    json_decref(a);
    return rc;
}

static volatile sig_atomic_t cli_agent_interrupted;

static void cli_agent_on_sigint(int sig)
{
    (void)sig;
    cli_agent_interrupted = 1;
}

static bool cli_agent_alive(const char *st)
{
    return !strcmp(st, "running") || !strcmp(st, "thinking") || !strcmp(st, "paused") ||
           !strcmp(st, "initializing") || !strcmp(st, "idle") || !strcmp(st, "stopping");
}

/* How `agent logs` prints a line. */
typedef struct cli_agent_logfmt {
    bool json, color, ansi, marks, timestamps;
} cli_agent_logfmt_t;

/* text without its ANSI escape sequences (CSI ESC [ … final, OSC ESC ] … BEL or ESC \, and
 * two-byte ESC X), written to out. */
static void cli_agent_put_plain(const char *p, FILE *out)
{
    while (*p) {
        if (*p != '\033') {
            const char *e = strchr(p, '\033');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            fwrite(p, 1, n, out);
            p += n;
            continue;
        }
        p++;
        if (*p == '[') {
            for (p++; *p && !(*p >= 0x40 && *p <= 0x7E); p++)
                ;
            if (*p)
                p++;
        } else if (*p == ']') {
            for (p++; *p && *p != '\a' && !(*p == '\033' && p[1] == '\\'); p++)
                ;
            p += *p == '\a' ? 1 : *p ? 2 : 0;
        } else if (*p) {
            p++;
        }
    }
}

static void cli_agent_logline(const cli_agent_logfmt_t *f, const json_t *l)
{
    if (f->json) {
        cli_json_print(l, false);
        return;
    }
    const char *text = cli_json_str(l, "text");
    bool is_err = !strcmp(cli_json_str(l, "stream"), "stderr");
    bool cont = json_is_true(json_object_get(l, "cont"));
    if (f->timestamps) {
        json_int_t ts = json_integer_value(json_object_get(l, "ts"));
        time_t secs = (time_t)(ts / 1000);
        struct tm tm;
        char buf[32] = "";
        if (gmtime_r(&secs, &tm))
            strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
        printf(f->color ? "\033[2m%s.%03dZ\033[0m " : "%s.%03dZ ", buf, (int)(ts % 1000));
    }
    if (is_err && f->marks)
        fputs(f->color ? "\033[31mstderr|\033[0m " : "stderr| ", stdout);
    if (f->ansi) {
        fputs(text, stdout);
        if (strchr(text, '\033'))
            fputs("\033[0m", stdout); /* a colour the line left on ends with it */
    } else {
        cli_agent_put_plain(text, stdout);
    }
    if (!cont)
        putchar('\n');
}

/* GET path with SIGINT held back, so that Ctrl-C never cuts a request (the daemon sees
 * whole requests) and is acted on between them. */
static int cli_agent_req_held(cli_ctx_t *ctx, cli_client_t *c, const char *path, json_t **out)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &old);
    int rc = cli_agent_req(ctx, c, "GET", path, NULL, out);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return rc;
}

static int cli_agent_logs(cli_ctx_t *ctx, int argc, char **argv)
{
    const char *id = NULL, *grep = NULL, *tail = NULL, *color = "auto", *v;
    bool follow = false, err_only = false, raw = false, timestamps = false;
    for (int i = 1; i < argc; i++) {
        int hit;
        if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--follow"))
            follow = true;
        else if (!strcmp(argv[i], "--stderr"))
            err_only = true;
        else if (!strcmp(argv[i], "--raw"))
            raw = true;
        else if (!strcmp(argv[i], "-t") || !strcmp(argv[i], "--timestamps"))
            timestamps = true;
        else if ((hit = cli_agent_opt(argc, argv, &i, "--color", &v)) != 0) {
            if (hit < 0)
                return CLI_EXIT_USAGE;
            color = v;
        } else if ((hit = cli_agent_opt(argc, argv, &i, "--grep", &v)) != 0) {
            if (hit < 0)
                return CLI_EXIT_USAGE;
            grep = v;
        } else if ((hit = cli_agent_opt(argc, argv, &i, "--tail", &v)) != 0) {
            if (hit < 0)
                return CLI_EXIT_USAGE;
            tail = v;
        } else if (argv[i][0] == '-') {
            cli_error("agent logs: unknown option '%.60s'", argv[i]);
            return CLI_EXIT_USAGE;
        } else if (!id) {
            id = argv[i];
        } else {
            cli_error("agent logs: unexpected '%.60s'", argv[i]);
            return CLI_EXIT_USAGE;
        }
    }
    if (strcmp(color, "auto") && strcmp(color, "always") && strcmp(color, "never")) {
        cli_error("agent logs: --color is auto, always or never");
        return CLI_EXIT_USAGE;
    }
    char *end = NULL;
    long tail_n = tail ? strtol(tail, &end, 10) : -1;
    if (tail && (end == tail || *end || tail_n < 0 || tail_n > 10000)) {
        cli_error("agent logs: --tail is a number of lines from 0 to 10000");
        return CLI_EXIT_USAGE;
    }
    bool colored = !strcmp(color, "always") || (!strcmp(color, "auto") && ctx->color);
    cli_agent_logfmt_t fmt = {.json = ctx->json,
                              .color = colored,
                              .ansi = colored,
                              .marks = !raw && !err_only,
                              .timestamps = timestamps};
    char base[CLI_AGENT_PATH_MAX], agent_path[CLI_AGENT_PATH_MAX];
    if (cli_agent_path(base, sizeof base, id, "output") < 0 ||
        cli_agent_path(agent_path, sizeof agent_path, id, NULL) < 0)
        return CLI_EXIT_USAGE;
    cli_client_t *c = NULL;
    int rc = cli_agent_open(ctx, &c);
    if (rc)
        return rc;
    if (follow) {
        /* a name is resolved once: the lines followed stay one agent's even if another of that
         * name is spawned meanwhile */
        json_t *a = NULL;
        if ((rc = cli_agent_req(ctx, c, "GET", agent_path, NULL, &a)) != 0 ||
            cli_agent_path(base, sizeof base, cli_json_str(a, "id"), "output") < 0 ||
            cli_agent_path(agent_path, sizeof agent_path, cli_json_str(a, "id"), NULL) < 0) {
            json_decref(a);
            cli_client_destroy(&c);
            return rc ? rc : CLI_EXIT_FAIL;
        }
        json_decref(a);
        struct sigaction sa = {.sa_handler = cli_agent_on_sigint};
        sigaction(SIGINT, &sa, NULL);
    }
    long long since = 0;
    bool first = true, ended = false;
    if (tail_n == 0) {
        /* only what comes from now on: start after the last line there is */
        json_t *a = NULL;
        rc = cli_agent_req_held(ctx, c, agent_path, &a);
        since = json_integer_value(json_object_get(json_object_get(a, "output"), "last_seq"));
        json_decref(a);
        first = false;
        if (rc || !follow) {
            cli_client_destroy(&c);
            return rc;
        }
    }
    while (!cli_agent_interrupted) {
        char path[CLI_AGENT_PATH_MAX * 2];
        snprintf(path, sizeof path, "%s?stream=%s&since=%lld&limit=10000", base,
                 err_only ? "stderr" : "both", since);
        if (grep) {
            strncat(path, "&grep=", sizeof path - strlen(path) - 1);
            cli_agent_pct(path, sizeof path, grep);
        }
        if (tail_n > 0 && first)
            snprintf(path + strlen(path), sizeof path - strlen(path), "&tail=%ld", tail_n);
        json_t *r = NULL;
        rc = cli_agent_req_held(ctx, c, path, &r);
        if (rc) {
            json_decref(r);
            break;
        }
        json_t *lines = json_object_get(r, "lines");
        for (size_t i = 0; i < json_array_size(lines); i++)
            cli_agent_logline(&fmt, json_array_get(lines, i));
        json_t *next = json_object_get(r, "next_since");
        if (json_is_integer(next) && json_integer_value(next) > since)
            since = json_integer_value(next);
        bool more = json_is_true(json_object_get(r, "has_more"));
        json_decref(r);
        fflush(stdout);
        first = false;
        if (more)
            continue;
        if (!follow || ended)
            break;
        /* Follow until the agent has ended and its last lines are out, or Ctrl-C. */
        json_t *a = NULL;
        rc = cli_agent_req_held(ctx, c, agent_path, &a);
        bool alive = rc == 0 && cli_agent_alive(cli_json_str(a, "status"));
        json_decref(a);
        if (rc || !alive) {
            if (rc == 0 && !ended) {
                ended = true; /* one more read for lines written just before the end */
                continue;
            }
            break;
        }
        struct timespec ts = {.tv_sec = 0, .tv_nsec = CLI_AGENT_FOLLOW_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    cli_client_destroy(&c);
    fflush(stdout);
    /* Ctrl-C is how a follow ends: quietly, with the shell's usual status for it */
    return cli_agent_interrupted ? 130 : rc;
}

/* "90", "90s", "10m", "2h", "7d" → seconds; -1 if not. */
static long long cli_agent_secs_parse(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || errno || v < 0)
        return -1;
    long long mul = !*end || !strcmp(end, "s") ? 1
                    : !strcmp(end, "m")        ? 60
                    : !strcmp(end, "h")        ? 3600
                    : !strcmp(end, "d")        ? 86400
                                               : -1;
    return mul < 0 || v > 315360000 / mul ? -1 : v * mul;
}

static int cli_agent_prune(cli_ctx_t *ctx, int argc, char **argv)
{
    json_t *body = json_object();
    char labels[1024] = "";
    const char *v;
    int rc = CLI_EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        int hit;
        if ((hit = cli_agent_opt(argc, argv, &i, "--older-than", &v)) != 0) {
            long long secs = hit > 0 ? cli_agent_secs_parse(v) : -1;
            if (secs < 0) {
                if (hit > 0)
                    cli_error("agent prune: --older-than wants 90, 90s, 10m, 2h or 7d");
                goto out;
            }
            json_object_set_new(body, "older_than_s", json_integer(secs));
        } else if ((hit = cli_agent_opt(argc, argv, &i, "--label", &v)) != 0) {
            if (hit < 0)
                goto out;
            size_t n = strlen(labels);
            snprintf(labels + n, sizeof labels - n, "%s%s", n ? "," : "", v);
        } else {
            cli_error("agent prune: unexpected '%.60s'", argv[i]);
            goto out;
        }
    }
    if (labels[0])
        json_object_set_new(body, "labels", json_string(labels));
    cli_client_t *c = NULL;
    if ((rc = cli_agent_open(ctx, &c)) != 0)
        goto out;
    json_t *r = NULL;
    rc = cli_agent_req(ctx, c, "POST", "/api/v1/agents/prune", body, &r);
    cli_client_destroy(&c);
    if (rc == 0 && ctx->json)
        rc = cli_agent_print_json(r);
    else if (rc == 0)
        printf("pruned %" JSON_INTEGER_FORMAT " ended agent%s\n",
               json_integer_value(json_object_get(r, "pruned")),
               json_integer_value(json_object_get(r, "pruned")) == 1 ? "" : "s");
    json_decref(r);
out:
    json_decref(body);
    return rc;
}

/* A subcommand that is one request about one agent. body is consumed. */
static int cli_agent_simple(cli_ctx_t *ctx, const char *id, const char *suffix, const char *verb,
                            json_t *body, const char *method)
{
    char path[CLI_AGENT_PATH_MAX];
    if (cli_agent_path(path, sizeof path, id, suffix) < 0) {
        json_decref(body);
        return CLI_EXIT_USAGE;
    }
    cli_client_t *c = NULL;
    int rc = cli_agent_open(ctx, &c);
    if (rc) {
        json_decref(body);
        return rc;
    }
    json_t *r = NULL;
    rc = cli_agent_req(ctx, c, method, path, body, &r);
    cli_client_destroy(&c);
    json_decref(body);
    if (rc == 0) {
        if (!r && !ctx->json)
            printf("%s %s\n", verb, id); /* 204: nothing more to say */
        else if (ctx->json || !json_is_object(r) || !json_object_get(r, "status") ||
                 !strcmp(verb, "action"))
            rc = cli_agent_print_json(r ? r : json_null());
        else
            rc = cli_agent_print_brief(ctx, r, verb);
    }
    json_decref(r);
    return rc;
}

/* The agents a control command is for: ids or names given, --all (every agent that has not
 * ended) or -l/--label k=v selectors (all must match). */
typedef struct cli_agent_targets {
    json_t *ids; /* the handles given, in order */
    bool all;
    char labels[1024];
} cli_agent_targets_t;

/* Takes argv[*i] if it is --all or a label selector: 1 taken, 0 not one, -1 (printed) wrong. */
static int cli_agent_target_opt(int argc, char **argv, int *i, cli_agent_targets_t *t)
{
    const char *v;
    int hit;
    if (!strcmp(argv[*i], "--all")) {
        t->all = true;
        return 1;
    }
    if ((hit = cli_agent_opt(argc, argv, i, "--label", &v)) == 0)
        hit = cli_agent_opt(argc, argv, i, "-l", &v);
    if (hit <= 0)
        return hit;
    if (!strchr(v, '=') || v[0] == '=') {
        cli_error("-l/--label wants KEY=VALUE, not '%.80s'", v);
        return -1;
    }
    size_t n = strlen(t->labels);
    if (n + strlen(v) + 2 > sizeof t->labels) {
        cli_error("the label selectors are too long");
        return -1;
    }
    snprintf(t->labels + n, sizeof t->labels - n, "%s%s", n ? "," : "", v);
    return 1;
}

static int cli_agent_batch_run(cli_ctx_t *ctx, json_t *body);

/* One agent by its endpoint, or many through POST /agents/batch. body holds the command's
 * options (force, grace_ms, signal) and is consumed. */
static int cli_agent_targets_run(cli_ctx_t *ctx, cli_agent_targets_t *t, const char *cmd,
                                 const char *verb, json_t *body)
{
    size_t n = json_array_size(t->ids);
    bool selector = t->all || t->labels[0];
    if ((selector && n) || (t->all && t->labels[0]) || (!selector && !n)) {
        cli_error("agent %s: give IDs or names, --all, or -l KEY=VALUE (one of them)", cmd);
        json_decref(body);
        return CLI_EXIT_USAGE;
    }
    if (n == 1)
        return cli_agent_simple(ctx, json_string_value(json_array_get(t->ids, 0)), cmd, verb, body,
                                "POST");
    if (!body)
        body = json_object();
    json_object_set_new(body, "command", json_string(cmd));
    if (n)
        json_object_set(body, "ids", t->ids);
    else if (t->all)
        json_object_set_new(body, "all", json_true());
    else
        json_object_set_new(body, "labels", json_string(t->labels));
    return cli_agent_batch_run(ctx, body);
}

static int cli_agent_control(cli_ctx_t *ctx, int argc, char **argv)
{
    const char *cmd = argv[0], *v;
    bool force = false;
    long grace = -1;
    cli_agent_targets_t t = {.ids = json_array()};
    int rc = CLI_EXIT_USAGE;
    bool many_ok = strcmp(cmd, "rm") != 0; /* rm takes one agent: it forgets it */
    for (int i = 1; i < argc; i++) {
        int hit;
        if (!strcmp(argv[i], "--force"))
            force = true;
        else if ((hit = cli_agent_opt(argc, argv, &i, "--grace", &v)) != 0) {
            if (hit < 0)
                goto out;
            int64_t g;
            if (num_i64_parse(v, 0, 600000, &g) < 0) {
                cli_error("agent %s: --grace wants milliseconds from 0 to 600000, not '%.60s'", cmd,
                          v);
                goto out;
            }
            grace = (long)g;
        } else if (many_ok && (hit = cli_agent_target_opt(argc, argv, &i, &t)) != 0) {
            if (hit < 0)
                goto out;
        } else if (argv[i][0] == '-' || (!many_ok && json_array_size(t.ids))) {
            cli_error("agent %s: unexpected '%.60s'", cmd, argv[i]);
            goto out;
        } else {
            json_array_append_new(t.ids, json_string(argv[i]));
        }
    }
    json_t *body = NULL;
    if (!strcmp(cmd, "pause") || !strcmp(cmd, "resume"))
        body = json_pack("{s:b}", "force", force);
    else if (!strcmp(cmd, "stop") && grace >= 0)
        body = json_pack("{s:I}", "grace_ms", (json_int_t)grace);
    if (!strcmp(cmd, "rm")) {
        rc = cli_agent_simple(ctx, json_string_value(json_array_get(t.ids, 0)), NULL, "removed",
                              body, "DELETE");
        goto out;
    }
    static const struct {
        const char *cmd, *verb;
    } verbs[] = {{"pause", "paused"}, {"resume", "resumed"}, {"stop", "stopping"},
                 {"kill", "killed"},  {"start", "started"},  {"restart", "restarting"}};
    const char *verb = cmd;
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (!strcmp(cmd, verbs[i].cmd))
            verb = verbs[i].verb;
    rc = cli_agent_targets_run(ctx, &t, cmd, verb, body);
out:
    json_decref(t.ids);
    return rc;
}

/* agent signal (ID... | --all | -l k=v) SIGNAL: the signal goes as given (the daemon takes
 * names with or without SIG, in any case, and numbers, and says what it accepts). */
static int cli_agent_signal(cli_ctx_t *ctx, int argc, char **argv)
{
    cli_agent_targets_t t = {.ids = json_array()};
    const char *sig = NULL;
    int rc = CLI_EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        int hit = cli_agent_target_opt(argc, argv, &i, &t);
        if (hit < 0)
            goto out;
        if (hit > 0)
            continue;
        if (argv[i][0] == '-') {
            cli_error("agent signal: unexpected '%.60s'", argv[i]);
            goto out;
        }
        /* the last word is the signal, the ones before it the agents */
        if (sig)
            json_array_append_new(t.ids, json_string(sig));
        sig = argv[i];
    }
    if (!sig) {
        cli_error("usage: agent signal (ID... | --all | -l KEY=VALUE) SIGNAL   (TERM, HUP, "
                  "WINCH, SIGUSR1, 10 ...)");
        goto out;
    }
    rc = cli_agent_targets_run(ctx, &t, "signal", "signalled", json_pack("{s:s}", "signal", sig));
out:
    json_decref(t.ids);
    return rc;
}

static int cli_agent_send(cli_ctx_t *ctx, int argc, char **argv)
{
    bool raw = argc == 4 && !strcmp(argv[3], "--raw");
    if (argc != 3 && !raw) {
        cli_error("usage: agent send ID TEXT [--raw]   (a newline is added unless --raw)");
        return CLI_EXIT_USAGE;
    }
    size_t n = strlen(argv[2]);
    char *text = malloc(n + 2);
    if (!text)
        return CLI_EXIT_FAIL;
    memcpy(text, argv[2], n);
    if (!raw)
        text[n++] = '\n';
    text[n] = '\0';
    json_t *body = json_pack("{s:s}", "text", text);
    free(text);
    if (!body) {
        cli_error("the text is not valid UTF-8");
        return CLI_EXIT_USAGE;
    }
    return cli_agent_simple(ctx, argv[1], "stdin", "sent to", body, "POST");
}

static int cli_agent_action(cli_ctx_t *ctx, int argc, char **argv)
{
    if (argc != 3 && argc != 4) {
        cli_error("usage: agent action ID NAME [JSON]");
        return CLI_EXIT_USAGE;
    }
    json_t *body = json_pack("{s:s}", "name", argv[2]);
    if (argc == 4) {
        json_error_t e;
        json_t *params = json_loads(argv[3], JSON_DECODE_ANY, &e);
        if (!params) {
            cli_error("the action's JSON is invalid: %s (line %d, column %d)", e.text, e.line,
                      e.column);
            json_decref(body);
            return CLI_EXIT_USAGE;
        }
        json_object_set_new(body, "params", params);
    }
    return cli_agent_simple(ctx, argv[1], "action", "action", body, "POST");
}

/* Sends a batch body (consumed) and prints its results: a table and "COMMAND: N of M
 * succeeded", or the JSON. CLI_EXIT_FAIL when any agent failed. */
static int cli_agent_batch_run(cli_ctx_t *ctx, json_t *body)
{
    const char *command = cli_json_str(body, "command");
    cli_client_t *c = NULL;
    int rc = cli_agent_open(ctx, &c);
    if (rc) {
        json_decref(body);
        return rc;
    }
    json_t *r = NULL;
    rc = cli_agent_req(ctx, c, "POST", "/api/v1/agents/batch", body, &r);
    cli_client_destroy(&c);
    if (rc == 0 && ctx->json) {
        rc = cli_agent_print_json(r);
    } else if (rc == 0) {
        static const char *const hdr[] = {"ID", "RESULT", "DETAIL"};
        cli_table_t *t = cli_table_new(3, hdr);
        json_t *res = json_object_get(r, "results");
        for (size_t i = 0; t && i < json_array_size(res); i++) {
            json_t *x = json_array_get(res, i);
            bool ok = json_is_true(json_object_get(x, "ok"));
            bool skipped = json_is_true(json_object_get(x, "skipped"));
            char detail[512];
            json_t *d = json_object_get(x, "error");
            if (!d)
                d = json_object_get(x, "agent_status");
            if (!d)
                d = json_object_get(x, "status");
            cli_agent_val(d, detail, sizeof detail);
            cli_table_row_add(t);
            cli_table_cell_set(t, 0, CLI_COLOR_NONE, cli_json_str(x, "id"));
            cli_table_cell_set(t, 1,
                               ok        ? CLI_COLOR_GREEN
                               : skipped ? CLI_COLOR_DIM
                                         : CLI_COLOR_RED,
                               ok        ? "ok"
                               : skipped ? "skipped"
                                         : "failed");
            cli_table_cell_set(t, 2, CLI_COLOR_DIM, detail);
        }
        if (t && cli_table_rows(t) > 0)
            cli_table_print(t, stdout, ctx->color);
        cli_table_destroy(&t);
        printf("%s: %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT " succeeded\n", command,
               json_integer_value(json_object_get(r, "succeeded")),
               json_integer_value(json_object_get(r, "total")));
        if (json_integer_value(json_object_get(r, "failed")) > 0)
            rc = CLI_EXIT_FAIL;
    }
    json_decref(r);
    json_decref(body);
    return rc;
}

static int cli_agent_batch(cli_ctx_t *ctx, int argc, char **argv)
{
    json_t *body = json_object(), *ids = json_array();
    char labels[1024] = "";
    const char *command = NULL, *sig = NULL, *v;
    int rc = CLI_EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        int hit;
        if ((hit = cli_agent_opt(argc, argv, &i, "--label", &v)) != 0) {
            if (hit < 0)
                goto out;
            size_t n = strlen(labels);
            snprintf(labels + n, sizeof labels - n, "%s%s", n ? "," : "", v);
        } else if ((hit = cli_agent_opt(argc, argv, &i, "--id", &v)) != 0) {
            if (hit < 0)
                goto out;
            json_array_append_new(ids, json_string(v));
        } else if (!strcmp(argv[i], "--force")) {
            json_object_set_new(body, "force", json_true());
        } else if (!strcmp(argv[i], "--fail-fast")) {
            json_object_set_new(body, "fail_fast", json_true());
        } else if (!strcmp(argv[i], "--all")) {
            json_object_set_new(body, "all", json_true());
        } else if (argv[i][0] == '-') {
            cli_error("agent batch: unknown option '%.60s'", argv[i]);
            goto out;
        } else if (!command) {
            command = argv[i];
        } else if (!sig && !strcmp(command, "signal")) {
            sig = argv[i];
        } else {
            cli_error("agent batch: unexpected '%.60s'", argv[i]);
            goto out;
        }
    }
    if (!command || (!labels[0] && !json_array_size(ids) && !json_object_get(body, "all"))) {
        cli_error("usage: agent batch (--label k=v | --id ID ... | --all) COMMAND [SIGNAL] "
                  "[--force] [--fail-fast]");
        goto out;
    }
    json_object_set_new(body, "command", json_string(command));
    if (labels[0])
        json_object_set_new(body, "labels", json_string(labels));
    if (json_array_size(ids))
        json_object_set(body, "ids", ids);
    if (sig)
        json_object_set_new(body, "signal", json_string(sig));
    rc = cli_agent_batch_run(ctx, body);
    body = NULL;
out:
    json_decref(body);
    json_decref(ids);
    return rc;
}

/* ---- the group -------------------------------------------------------------------------- */

/* One row per subcommand: {name, summary, usage (what `agent NAME --help` prints after
 * "usage: ganglion agent NAME "), handler}; see cli_cmd_t. */
static const cli_cmd_t cli_agent_cmds[] = {
    {"spawn", "start an agent: NAME [--preset P --task T | -- CMD ARGS...]",
     "NAME [OPTIONS] (--preset P --task T | -- CMD ARGS...)\n\n"
     "Starts an agent. Prints only its id when stdout is not a terminal (ID=$(ganglion agent\n"
     "spawn ...)), a sentence on a terminal. The command runs in this shell's working directory\n"
     "unless --cwd says otherwise (when the daemon is on another host, in its data dir).\n\n"
     "options:\n"
     "  --preset P          a preset the daemon knows (e.g. claude), with --task\n"
     "  --task TEXT         the preset's task\n"
     "  --label k=v         a label (repeatable); selects agents in ls and batch\n"
     "  --env K=V           an environment variable for the agent (repeatable)\n"
     "  --cwd DIR           working directory (default: the current directory)\n"
     "  --limit SPEC        mem=512M,cpu=60s,time=1h,nofile=256,cpu%=50\n"
     "  --restart POLICY    never | on-failure | always\n"
     "  --allow-duplicate-name  the name may be shared with an agent still "
     "running\n" CLI_AGENT_TRIGGER_USAGE "\n"
     "examples:\n"
     "  ganglion agent spawn w1 --label team=a -- python3 worker.py --fast\n"
     "  ganglion agent spawn r1 --preset claude --task 'summarise README.md' --limit time=10m\n",
     cli_agent_spawn},
    {"ls", "list live agents [--all] [--status S] [--label k=v] [--limit N]",
     "[OPTIONS]\n\nLists the agents that have not ended: id, name, status, pid, uptime, restarts,\n"
     "CPU %, RSS, exit, command and the current reason.\n\noptions:\n"
     "  -a, --all           the ended agents too\n"
     "  --status S          only agents in this state (running, paused, failed ...)\n"
     "  --label k=v         only agents with this label (repeatable: all must match)\n"
     "  --limit N           at most N agents (default 1000)\n",
     cli_agent_ls},
    {"prune", "forget ended agents: [--older-than DURATION] [--label k=v]",
     "[--older-than DURATION] [--label k=v]\n\nForgets ended agents: their records, rows, output "
     "and log files.\n\noptions:\n"
     "  --older-than D      only agents that ended at least D ago: 90, 90s, 10m, 2h, 7d\n"
     "  --label k=v         only agents with this label (repeatable: all must match)\n",
     cli_agent_prune},
    {"show", "one agent's details: ID",
     "ID\n\nShows one agent's details. ID is an id or a name (the agent of\n"
     "that name that has not ended, else the one that ended last).\n",
     cli_agent_show},
    {"logs", "its output: ID [-f] [-t] [--stderr] [--grep RE] [--tail N] [--raw]",
     "ID [OPTIONS]\n\nPrints the agent's output (ID: an id or a name), from its log files when "
     "the\n"
     "memory has lost some. Lines from stderr are marked 'stderr| ' (red on a terminal).\n\n"
     "options:\n"
     "  -f, --follow        keep printing new lines until the agent ends (Ctrl-C: exit 130)\n"
     "  -t, --timestamps    each line's time first (UTC, milliseconds)\n"
     "  --stderr            only its standard error (unmarked)\n"
     "  --grep RE           only lines matching the regular expression\n"
     "  --tail N            only the last N lines; 0: none, with -f only new ones\n"
     "  --raw               no stderr marks\n"
     "  --color WHEN        auto (default: the program's colours on a terminal, stripped\n"
     "                      elsewhere), always or never\n",
     cli_agent_logs},
    {"pause", "pause (SIGSTOP unless it speaks the pause protocol): AGENTS [--force]",
     "AGENTS [--force]\n\nPauses agents: a pause request on stdin for those with the\n"
     "pause-protocol capability, SIGSTOP for the others.\nAGENTS is one or more ids or names, "
     "--all (every agent that has not ended) or -l k=v\n"
     "(repeatable: all must match). \n\noptions:\n"
     "  --force             SIGSTOP even when it speaks the pause protocol\n",
     cli_agent_control},
    {"resume", "resume: AGENTS [--force]",
     "AGENTS [--force]\n\nResumes paused agents.\nAGENTS is one or more ids or names, --all (every "
     "agent that has not ended) or -l k=v\n"
     "(repeatable: all must match). \n\noptions:\n"
     "  --force             SIGCONT instead of the resume request on its stdin\n",
     cli_agent_control},
    {"stop", "SIGTERM, then SIGKILL after the grace: AGENTS [--grace MS] (ended: ok)",
     "AGENTS [--grace MS]\n\nSends SIGTERM, then SIGKILL when the grace period has passed. An "
     "agent\n"
     "that has already ended counts as stopped.\nAGENTS is one or more ids or names, --all (every "
     "agent that has not ended) or -l k=v\n"
     "(repeatable: all must match). \n\n"
     "options:\n"
     "  --grace MS          milliseconds between SIGTERM and SIGKILL\n",
     cli_agent_control},
    {"kill", "SIGKILL the process group: AGENTS (ended: ok)",
     "AGENTS\n\nSends SIGKILL to the agents' process groups.\nAGENTS is one or more ids or names, "
     "--all (every agent that has not ended) or -l k=v\n"
     "(repeatable: all must match). \n",
     cli_agent_control},
    {"start", "start an ended agent again (same id and spec): AGENTS",
     "AGENTS\n\nStarts ended agents again with the same id and spec; restarts + 1.\n"
     "AGENTS is one or more ids or names.\n",
     cli_agent_control},
    {"restart", "stop with its grace, then start again (same id): AGENTS",
     "AGENTS\n\nStops each agent with its grace period, then starts it again with the same id\n"
     "and spec (an ended agent is started at once).\nAGENTS is one or more ids or names, --all "
     "(every agent that has not ended) or -l k=v\n(repeatable: all must match).\n",
     cli_agent_control},
    {"rm", "kill and forget: ID", "ID\n\nKills the agent if it runs and forgets it.\n",
     cli_agent_control},
    {"signal", "send a signal: AGENTS SIG (TERM, hup, SIGWINCH, RTMIN+1, 28 ...)",
     "AGENTS SIGNAL\n\nSends a signal to the agents' process groups: any name the platform has,\n"
     "with or without SIG, any case (TERM, hup, SIGWINCH, RTMIN+1), or a number.\nAGENTS is one or "
     "more ids or names, --all (every agent that has not ended) or -l k=v\n"
     "(repeatable: all must match). \n",
     cli_agent_signal},
    {"send", "write a line to stdin: ID TEXT [--raw]",
     "ID TEXT [--raw]\n\nWrites TEXT to the agent's standard input.\n\noptions:\n"
     "  --raw               no newline after TEXT\n",
     cli_agent_send},
    {"action", "custom action, answered by the agent: ID NAME [JSON]",
     "ID NAME [JSON]\n\nSends a custom action with optional JSON arguments and prints the "
     "agent's answer.\n",
     cli_agent_action},
    {"batch", "one command for many: (--label k=v | --id ID... | --all) COMMAND",
     "(--label k=v | --id ID ... | --all) COMMAND [SIGNAL] [OPTIONS]\n\n"
     "Runs pause, resume, stop, kill, restart or signal on every selected agent and prints one\n"
     "result per agent.\n\noptions:\n"
     "  --label k=v         select by label (repeatable)\n"
     "  --id ID             select by id or name (repeatable)\n"
     "  --all               every agent that has not ended\n"
     "  --force             as pause/resume --force\n"
     "  --fail-fast         stop at the first failure\n",
     cli_agent_batch},
};

const cli_group_t cli_agent_group = {"agent", cli_agent_cmds,
                                     sizeof cli_agent_cmds / sizeof cli_agent_cmds[0]};

int cli_cmd_agent(cli_ctx_t *ctx, int argc, char **argv)
{
    static const char examples[] =
        "examples:\n"
        "  ganglion agent spawn w1 --label team=a -- python3 worker.py --fast\n"
        "  ganglion agent ls --label team=a\n"
        "  ganglion agent logs ID -f --grep 'error|warn'\n"
        "  ganglion agent logs ID --tail 0 -f --timestamps\n"
        "  ganglion agent prune --older-than 1d\n"
        "  ganglion --via zmq agent batch --label team=a stop\n";
    return cli_group_run(ctx, &cli_agent_group, examples, argc, argv);
}
