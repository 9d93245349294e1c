/* `ganglion brain …`: create brains from FEAGI genomes (a file or a shipped name), list, show,
 * run, pause, step, change the frequency, watch per-area firing live, delete. Each subcommand is
 * a request or a few to /api/v1/brains… through the client face, so `--via zmq` works too. */
#include "cli/cli_priv.h"
#include "core/opt.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define CLI_BRAIN_PATH_MAX   512
#define CLI_BRAIN_GENOME_MAX (16L << 20)
#define CLI_BRAIN_SPARK      24  /* bursts in a sparkline */
#define CLI_BRAIN_AREAS      256 /* areas followed by activity -f */

/* ---- requests ---- */

static void cli_brain_pct(char *out, size_t outlen, const char *s)
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

/* "/api/v1/brains/<id><suffix>" with the id percent-encoded. */
static void cli_brain_path(char *out, size_t len, const char *id, const char *suffix)
{
    snprintf(out, len, "/api/v1/brains/");
    cli_brain_pct(out, len, id);
    strncat(out, suffix, len - strlen(out) - 1);
}

/* ---- output ---- */

static cli_color_t cli_brain_color(const char *st)
{
    if (!st)
        return CLI_COLOR_NONE;
    if (!strcmp(st, "running"))
        return CLI_COLOR_GREEN;
    if (!strcmp(st, "paused") || !strcmp(st, "building"))
        return CLI_COLOR_YELLOW;
    if (!strcmp(st, "failed"))
        return CLI_COLOR_RED;
    return CLI_COLOR_DIM;
}

static int cli_brain_print_one(cli_ctx_t *ctx, const json_t *b)
{
    if (ctx->json)
        return cli_json_print(b, false) < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
    cli_table_t *t = cli_table_new(2, NULL);
    if (!t)
        return CLI_EXIT_FAIL;
    cli_table_width_set(t, 1, 0);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)(uintptr_t)b, k, v)
    {
        cli_table_row_add(t);
        cli_table_cellf(t, 0, CLI_COLOR_BOLD, "%s", k);
        char *text = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        cli_table_cell_set(
            t, 1, strcmp(k, "status") ? CLI_COLOR_NONE : cli_brain_color(json_string_value(v)),
            text ? text : json_string_value(v));
        free(text);
    }
    int rc = cli_table_print(t, stdout, ctx->color);
    cli_table_destroy(&t);
    return rc < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

/* ---- subcommands ---- */

/* A genome file into a JSON object, or NULL (message printed). */
static json_t *cli_brain_genome_file(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
        cli_error("brain create: cannot read %s", path);
        return NULL;
    }
    if (st.st_size > CLI_BRAIN_GENOME_MAX) {
        cli_error("brain create: %s is larger than %ld MiB", path, CLI_BRAIN_GENOME_MAX >> 20);
        return NULL;
    }
    json_error_t je;
    json_t *g = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(g)) {
        cli_error("brain create: %s is not a JSON genome: %s (line %d)", path, je.text, je.line);
        json_decref(g);
        return NULL;
    }
    return g;
}

static int cli_brain_create(cli_ctx_t *ctx, int argc, char **argv)
{
    const char *src = NULL, *name = NULL, *seed = NULL, *v;
    bool start = false;
    for (int i = 1; i < argc; i++) {
        int hit;
        if (!strcmp(argv[i], "--start")) {
            start = true;
        } else if ((hit = opt_value(argc, argv, &i, "--name", &v)) != 0) {
            if (hit < 0)
                return CLI_EXIT_USAGE;
            name = v;
        } else if ((hit = opt_value(argc, argv, &i, "--seed", &v)) != 0) {
            if (hit < 0)
                return CLI_EXIT_USAGE;
            seed = v;
        } else if (argv[i][0] != '-' && !src) {
            src = argv[i];
        } else {
            cli_error("brain create: unexpected argument '%.60s'", argv[i]);
            return CLI_EXIT_USAGE;
        }
    }
    if (!src) {
        cli_error("brain create: give a genome file or a shipped genome's name");
        return CLI_EXIT_USAGE;
    }
    json_t *body = json_object();
    struct stat st;
    if (strchr(src, '/') || strstr(src, ".json") || stat(src, &st) == 0) {
        json_t *g = cli_brain_genome_file(src);
        if (!g) {
            json_decref(body);
            return CLI_EXIT_USAGE;
        }
        json_object_set_new(body, "genome", g);
    } else {
        json_object_set_new(body, "genome_name", json_string(src));
    }
    if (name)
        json_object_set_new(body, "name", json_string(name));
    if (seed) {
        char *end;
        errno = 0;
        long long s = strtoll(seed, &end, 10);
        if (errno || *end || s < 0) {
            cli_error("brain create: --seed must be a non-negative integer");
            json_decref(body);
            return CLI_EXIT_USAGE;
        }
        json_object_set_new(body, "seed", json_integer(s));
    }
    if (start)
        json_object_set_new(body, "start", json_true());
    json_t *r = NULL;
    int rc = cli_request_json(ctx, "POST", "/api/v1/brains", body, &r);
    json_decref(body);
    if (!rc)
        rc = cli_brain_print_one(ctx, r);
    json_decref(r);
    return rc;
}

static int cli_brain_ls(cli_ctx_t *ctx, int argc, char **argv)
{
    if (argc > 1) {
        cli_error("brain ls: unexpected argument '%.60s'", argv[1]);
        return CLI_EXIT_USAGE;
    }
    json_t *r = NULL;
    int rc = cli_request_json(ctx, "GET", "/api/v1/brains", NULL, &r);
    if (rc || ctx->json) {
        if (!rc)
            cli_json_print(r, false);
        json_decref(r);
        return rc;
    }
    static const char *const hdr[] = {"ID",     "NAME",    "STATUS",   "HZ",
                                      "BURSTS", "NEURONS", "SYNAPSES", "AREAS"};
    cli_table_t *t = cli_table_new(8, hdr);
    if (!t) {
        json_decref(r);
        return CLI_EXIT_FAIL;
    }
    for (size_t c = 3; c < 8; c++)
        cli_table_align_set(t, c, CLI_ALIGN_RIGHT);
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(r, "brains"), i, b)
    {
        const char *st = json_string_value(json_object_get(b, "status"));
        cli_table_row_add(t);
        cli_table_cell_set(t, 0, CLI_COLOR_NONE, json_string_value(json_object_get(b, "id")));
        cli_table_cell_set(t, 1, CLI_COLOR_NONE, json_string_value(json_object_get(b, "name")));
        cli_table_cell_set(t, 2, cli_brain_color(st), st);
        cli_table_cellf(t, 3, CLI_COLOR_NONE, "%g",
                        json_number_value(json_object_get(b, "frequency_hz")));
        const char *num[] = {"burst_count", "neuron_count", "synapse_count", "area_count"};
        for (size_t k = 0; k < 4; k++)
            cli_table_cellf(t, 4 + k, CLI_COLOR_NONE, "%lld",
                            (long long)json_integer_value(json_object_get(b, num[k])));
    }
    rc = cli_table_print(t, stdout, ctx->color) < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
    cli_table_destroy(&t);
    json_decref(r);
    return rc;
}

/* ID as the one argument; its usage error otherwise. */
static const char *cli_brain_id_arg(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        cli_error("brain %s: give one brain id or name", argv[0]);
        return NULL;
    }
    return argv[1];
}

static int cli_brain_show(cli_ctx_t *ctx, int argc, char **argv)
{
    const char *id = cli_brain_id_arg(argc, argv);
    if (!id)
        return CLI_EXIT_USAGE;
    char path[CLI_BRAIN_PATH_MAX];
    cli_brain_path(path, sizeof path, id, "");
    json_t *r = NULL;
    int rc = cli_request_json(ctx, "GET", path, NULL, &r);
    if (!rc)
        rc = cli_brain_print_one(ctx, r);
    json_decref(r);
    return rc;
}

/* start, stop, pause, step: POST …/{id}/<command>; prints the brain's status after it. */
static int cli_brain_command(cli_ctx_t *ctx, int argc, char **argv)
{
    const char *id = cli_brain_id_arg(argc, argv);
    if (!id)
        return CLI_EXIT_USAGE;
    char path[CLI_BRAIN_PATH_MAX], suffix[16];
    snprintf(suffix, sizeof suffix, "/%s", argv[0]);
    cli_brain_path(path, sizeof path, id, suffix);
    json_t *r = NULL;
    int rc = cli_request_json(ctx, "POST", path, NULL, &r);
    if (!rc && ctx->json)
        cli_json_print(r, false);
    else if (!rc)
        printf("%s %s (burst %lld)\n", json_string_value(json_object_get(r, "name")),
               json_string_value(json_object_get(r, "status")),
               (long long)json_integer_value(json_object_get(r, "burst_count")));
    json_decref(r);
    return rc;
}

static int cli_brain_rm(cli_ctx_t *ctx, int argc, char **argv)
{
    const char *id = cli_brain_id_arg(argc, argv);
    if (!id)
        return CLI_EXIT_USAGE;
    char path[CLI_BRAIN_PATH_MAX];
    cli_brain_path(path, sizeof path, id, "");
    return cli_request_json(ctx, "DELETE", path, NULL, NULL);
}

static int cli_brain_frequency(cli_ctx_t *ctx, int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        cli_error("brain frequency: give a brain and optionally the new bursts per second");
        return CLI_EXIT_USAGE;
    }
    char path[CLI_BRAIN_PATH_MAX];
    cli_brain_path(path, sizeof path, argv[1], "/frequency");
    json_t *body = NULL;
    if (argc == 3) {
        char *end;
        double hz = strtod(argv[2], &end);
        if (*end || end == argv[2]) {
            cli_error("brain frequency: '%.40s' is not a number of Hz", argv[2]);
            return CLI_EXIT_USAGE;
        }
        body = json_pack("{s:f}", "frequency_hz", hz);
    }
    json_t *r = NULL;
    int rc = cli_request_json(ctx, body ? "PUT" : "GET", path, body, &r);
    json_decref(body);
    if (!rc && ctx->json)
        cli_json_print(r, false);
    else if (!rc)
        printf("%g Hz (%g ms per burst)\n", json_number_value(json_object_get(r, "frequency_hz")),
               1e3 * json_number_value(json_object_get(r, "period_s")));
    json_decref(r);
    return rc;
}

/* ---- activity ---- */

static volatile sig_atomic_t cli_brain_stop;

static void cli_brain_on_sigint(int sig)
{
    (void)sig;
    cli_brain_stop = 1;
}

typedef struct cli_brain_area_hist {
    char id[40];
    uint32_t v[CLI_BRAIN_SPARK];
    size_t n;
} cli_brain_area_hist_t;

/* Unicode blocks, lowest to highest; a zero is a dot so an idle area reads as idle. */
static void cli_brain_spark(const cli_brain_area_hist_t *h, char *out, size_t len)
{
    static const char *const bars[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
    uint32_t max = 0;
    for (size_t i = 0; i < h->n; i++)
        max = h->v[i] > max ? h->v[i] : max;
    out[0] = 0;
    for (size_t i = 0; i < h->n; i++) {
        /* a value above 0 makes max above 0: the second test only says so to the analyzer */
        const char *s =
            h->v[i] == 0 || max == 0 ? "·" : bars[(size_t)((h->v[i] * 7ULL + max - 1) / max)];
        strncat(out, s, len - strlen(out) - 1);
    }
}

static int cli_brain_activity_table(cli_ctx_t *ctx, const json_t *r, cli_brain_area_hist_t *h,
                                    size_t nh, const char *only)
{
    static const char *const hdr[] = {"AREA", "FIRED", "MAX", "LAST BURSTS"};
    cli_table_t *t = cli_table_new(4, hdr);
    if (!t)
        return CLI_EXIT_FAIL;
    cli_table_align_set(t, 1, CLI_ALIGN_RIGHT);
    cli_table_align_set(t, 2, CLI_ALIGN_RIGHT);
    cli_table_width_set(t, 3, 0);
    for (size_t i = 0; i < nh; i++) {
        if (only && strcmp(only, h[i].id) != 0)
            continue;
        uint32_t max = 0;
        for (size_t k = 0; k < h[i].n; k++)
            max = h[i].v[k] > max ? h[i].v[k] : max;
        char spark[CLI_BRAIN_SPARK * 4 + 1];
        cli_brain_spark(&h[i], spark, sizeof spark);
        cli_table_row_add(t);
        cli_table_cell_set(t, 0, CLI_COLOR_NONE, h[i].id);
        uint32_t last = h[i].n ? h[i].v[h[i].n - 1] : 0;
        cli_table_cellf(t, 1, last ? CLI_COLOR_GREEN : CLI_COLOR_DIM, "%u", last);
        cli_table_cellf(t, 2, CLI_COLOR_NONE, "%u", max);
        cli_table_cell_set(t, 3, CLI_COLOR_CYAN, spark);
    }
    printf("brain %s  burst %lld  %g Hz\n", json_string_value(json_object_get(r, "brain")),
           (long long)json_integer_value(json_object_get(r, "burst_count")),
           json_number_value(json_object_get(r, "frequency_hz")));
    int rc = cli_table_print(t, stdout, ctx->color);
    cli_table_destroy(&t);
    fflush(stdout);
    return rc < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

/* Adds the bursts of r (newest first) that are newer than *seen to the histories. */
static size_t cli_brain_activity_add(const json_t *r, cli_brain_area_hist_t *h, size_t nh,
                                     long long *seen)
{
    json_t *bursts = json_object_get(r, "bursts");
    for (size_t k = json_array_size(bursts); k-- > 0;) {
        json_t *b = json_array_get(bursts, k);
        long long n = json_integer_value(json_object_get(b, "burst"));
        if (n <= *seen)
            continue;
        *seen = n;
        const char *id;
        json_t *cnt;
        json_object_foreach(json_object_get(b, "areas"), id, cnt)
        {
            size_t i = 0;
            while (i < nh && strcmp(h[i].id, id) != 0)
                i++;
            if (i == nh) {
                if (nh == CLI_BRAIN_AREAS)
                    continue;
                memset(&h[nh], 0, sizeof h[nh]);
                snprintf(h[nh].id, sizeof h[nh].id, "%s", id);
                nh++;
            }
            if (h[i].n == CLI_BRAIN_SPARK) {
                memmove(h[i].v, h[i].v + 1, (CLI_BRAIN_SPARK - 1) * sizeof h[i].v[0]);
                h[i].n--;
            }
            h[i].v[h[i].n++] = (uint32_t)json_integer_value(cnt);
        }
    }
    return nh;
}

static int cli_brain_activity(cli_ctx_t *ctx, int argc, char **argv)
{
    const char *id = NULL, *area = NULL, *v;
    bool follow = false;
    long frames = 0, bursts = CLI_BRAIN_SPARK;
    for (int i = 1; i < argc; i++) {
        int hit;
        if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--follow")) {
            follow = true;
        } else if ((hit = opt_value(argc, argv, &i, "--area", &v)) != 0) {
            if (hit < 0)
                return CLI_EXIT_USAGE;
            area = v;
        } else if ((hit = opt_value(argc, argv, &i, "--frames", &v)) != 0) {
            if (hit < 0)
                return CLI_EXIT_USAGE;
            frames = strtol(v, NULL, 10);
        } else if (argv[i][0] != '-' && !id) {
            id = argv[i];
        } else {
            cli_error("brain activity: unexpected argument '%.60s'", argv[i]);
            return CLI_EXIT_USAGE;
        }
    }
    if (!id) {
        cli_error("brain activity: give a brain id or name");
        return CLI_EXIT_USAGE;
    }
    char path[CLI_BRAIN_PATH_MAX], q[32];
    snprintf(q, sizeof q, "/activity?bursts=%ld", bursts);
    cli_brain_path(path, sizeof path, id, q);
    static cli_brain_area_hist_t hist[CLI_BRAIN_AREAS];
    size_t nh = 0;
    long long seen = 0;
    if (follow) {
        struct sigaction sa = {.sa_handler = cli_brain_on_sigint};
        sigaction(SIGINT, &sa, NULL);
    }
    for (long frame = 0; !cli_brain_stop; frame++) {
        json_t *r = NULL;
        int rc = cli_request_json(ctx, "GET", path, NULL, &r);
        if (rc) {
            json_decref(r);
            return rc;
        }
        if (ctx->json && !follow) {
            cli_json_print(r, false);
            json_decref(r);
            return CLI_EXIT_OK;
        }
        nh = cli_brain_activity_add(r, hist, nh, &seen);
        if (ctx->json) {
            cli_json_print(r, false);
        } else {
            if (follow && ctx->out_tty)
                fputs("\033[H\033[J", stdout); /* redraw in place */
            rc = cli_brain_activity_table(ctx, r, hist, nh, area);
        }
        double hz = json_number_value(json_object_get(r, "frequency_hz"));
        json_decref(r);
        if (rc || !follow || (frames > 0 && frame + 1 >= frames))
            return rc;
        /* one frame per burst up to 5 per second: a fast brain is shown in steps of bursts */
        double wait = hz > 5 ? 0.2 : hz > 0 ? 1.0 / hz : 0.2;
        struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
        nanosleep(&ts, NULL);
    }
    return 130;
}

static const cli_cmd_t cli_brain_cmds[] = {
    {"create", "a brain from a genome: GENOME [--name N] [--seed N] [--start]",
     "GENOME [OPTIONS]\n\nCreates a brain. GENOME is a genome file (FEAGI 2.x JSON) or the name "
     "of a\nshipped genome (brain.genome_dir; `ganglion call GET /api/v1/brains/genomes`).\n\n"
     "options:\n"
     "  --name N            its name (default: the shipped genome's name, else the id)\n"
     "  --seed N            random seed (default: derived from the id)\n"
     "  --start             run it once built\n",
     cli_brain_create},
    {"ls", "the brains: id, name, status, frequency, bursts, sizes", "\n\nLists the brains.\n",
     cli_brain_ls},
    {"show", "one brain's details: ID", "ID\n\nShows one brain (ID: an id or a name).\n",
     cli_brain_show},
    {"start", "run its bursts: ID", "ID\n\nRuns the brain's bursts at its frequency.\n",
     cli_brain_command},
    {"stop", "stop its bursts: ID", "ID\n\nStops the brain (its burst counter is kept).\n",
     cli_brain_command},
    {"pause", "pause a running brain: ID", "ID\n\nPauses a running brain; step runs one burst.\n",
     cli_brain_command},
    {"step", "one burst of a paused or stopped brain: ID",
     "ID\n\nRuns one burst and prints the burst counter after it.\n", cli_brain_command},
    {"frequency", "show or set bursts per second: ID [HZ]",
     "ID [HZ]\n\nPrints the brain's bursts per second, or sets them (applies at the next "
     "burst).\n",
     cli_brain_frequency},
    {"activity", "neurons fired per area: ID [-f] [--area A]",
     "ID [OPTIONS]\n\nPrints each area's fired neurons in the last bursts with a sparkline.\n\n"
     "options:\n"
     "  -f, --follow        keep redrawing as bursts run (Ctrl-C: exit 130)\n"
     "  --area A            only this cortical area\n"
     "  --frames N          with -f, stop after N frames\n",
     cli_brain_activity},
    {"rm", "stop and delete a brain: ID", "ID\n\nStops and deletes the brain and its snapshot.\n",
     cli_brain_rm},
};

const cli_group_t cli_brain_group = {"brain", cli_brain_cmds,
                                     sizeof cli_brain_cmds / sizeof cli_brain_cmds[0]};

int cli_cmd_brain(cli_ctx_t *ctx, int argc, char **argv)
{
    static const char examples[] = "examples:\n"
                                   "  ganglion brain create essential --start\n"
                                   "  ganglion brain create my_genome.json --name arm --seed 7\n"
                                   "  ganglion brain frequency arm 30\n"
                                   "  ganglion brain activity arm -f\n";
    return cli_group_run(ctx, &cli_brain_group, examples, argc, argv);
}
