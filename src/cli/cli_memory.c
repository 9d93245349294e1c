/* `ganglion memory …`: store, search, show and delete memory records through
 * /api/v1/memory/… (docs/memory.md). Tables on a terminal, JSON with --json. */
#include "cli/cli_priv.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLI_MEMORY_TAGS_MAX 32

/* "0.1,0.2,..." to a JSON array of numbers; NULL (and a message) when it is not one. */
static json_t *cli_memory_vector(const char *s)
{
    json_t *v = json_array();
    const char *p = s;
    while (v && *p) {
        char *end;
        double x = strtod(p, &end);
        if (end == p) {
            cli_error("a vector is numbers separated by commas: '%.40s'", p);
            json_decref(v);
            return NULL;
        }
        json_array_append_new(v, json_real(x));
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') {
            cli_error("a vector is numbers separated by commas: '%.40s'", end);
            json_decref(v);
            return NULL;
        }
    }
    return v;
}

static bool cli_memory_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 23)
        return false;
    for (const char *s = id; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-')
            return false;
    return true;
}

/* `--name VALUE` at argv[*i]: 1 (value in *v), 0 (not this option), -1 (value missing). */
static int cli_memory_opt(int argc, char **argv, int *i, const char *name, const char **v)
{
    if (strcmp(argv[*i], name) != 0)
        return 0;
    if (*i + 1 >= argc) {
        cli_error("%s needs a value", name);
        return -1;
    }
    *v = argv[++*i];
    return 1;
}

static void cli_memory_print_record(const json_t *r)
{
    char safe[4096];
    printf("id:         %s\n", cli_json_str(r, "id"));
    printf("layer:      %s\n", cli_json_str(r, "layer"));
    printf("principal:  %s\n", cli_json_str(r, "principal"));
    if (json_is_string(json_object_get(r, "agent")))
        printf("agent:      %s\n", cli_json_str(r, "agent"));
    printf("created_at: %s\n", cli_json_str(r, "created_at"));
    if (json_is_string(json_object_get(r, "expires_at")))
        printf("expires_at: %s\n", cli_json_str(r, "expires_at"));
    if (json_array_size(json_object_get(r, "tags"))) {
        printf("tags:      ");
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(r, "tags"), i, t)
        {
            cli_sanitize(json_string_value(t), safe, sizeof safe);
            printf(" %s", safe);
        }
        printf("\n");
    }
    if (json_integer_value(json_object_get(r, "dim")))
        printf("embedding:  %" JSON_INTEGER_FORMAT " dimensions\n",
               json_integer_value(json_object_get(r, "dim")));
    cli_sanitize(cli_json_str(r, "content"), safe, sizeof safe);
    printf("\n%s\n", safe);
}

static int cli_memory_add(cli_ctx_t *ctx, int argc, char **argv)
{
    const char *layer = NULL, *text = NULL, *v = NULL;
    json_t *body = json_object(), *tags = json_array();
    int rc = CLI_EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        int hit;
        if ((hit = cli_memory_opt(argc, argv, &i, "--agent", &v)) != 0) {
            if (hit < 0)
                goto out;
            json_object_set_new(body, "agent", json_string(v));
        } else if ((hit = cli_memory_opt(argc, argv, &i, "--tag", &v)) != 0) {
            if (hit < 0 || json_array_size(tags) >= CLI_MEMORY_TAGS_MAX)
                goto out;
            json_array_append_new(tags, json_string(v));
        } else if ((hit = cli_memory_opt(argc, argv, &i, "--expires", &v)) != 0) {
            if (hit < 0)
                goto out;
            json_object_set_new(body, "expires_at", json_string(v));
        } else if ((hit = cli_memory_opt(argc, argv, &i, "--embedding", &v)) != 0) {
            json_t *vec = hit > 0 ? cli_memory_vector(v) : NULL;
            if (!vec)
                goto out;
            json_object_set_new(body, "embedding", vec);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_error("unknown option %s (see memory add --help)", argv[i]);
            goto out;
        } else if (!layer) {
            layer = argv[i];
        } else if (!text) {
            text = argv[i];
        } else {
            cli_error("one LAYER and one TEXT (quote the text)");
            goto out;
        }
    }
    if (!layer || !text) {
        cli_error("usage: memory add LAYER TEXT [--agent A] [--tag T] [--expires TIME] "
                  "[--embedding X,Y,...]");
        goto out;
    }
    json_object_set_new(body, "layer", json_string(layer));
    json_object_set_new(body, "content", json_string(text));
    if (json_array_size(tags))
        json_object_set(body, "tags", tags);
    json_t *r = NULL;
    rc = cli_request_json(ctx, "POST", "/api/v1/memory/records", body, &r);
    if (rc == 0 && ctx->json)
        cli_json_print(r, true);
    else if (rc == 0)
        printf("%s\n", cli_json_str(r, "id"));
    json_decref(r);
out:
    json_decref(tags);
    json_decref(body);
    return rc;
}

static int cli_memory_search(cli_ctx_t *ctx, int argc, char **argv)
{
    json_t *body = json_object();
    const char *v = NULL;
    int rc = CLI_EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        int hit;
        if ((hit = cli_memory_opt(argc, argv, &i, "--vector", &v)) != 0) {
            json_t *vec = hit > 0 ? cli_memory_vector(v) : NULL;
            if (!vec)
                goto out;
            json_object_set_new(body, "vector", vec);
        } else if ((hit = cli_memory_opt(argc, argv, &i, "--k", &v)) != 0) {
            if (hit < 0)
                goto out;
            json_object_set_new(body, "k", json_integer(strtoll(v, NULL, 10)));
        } else if ((hit = cli_memory_opt(argc, argv, &i, "--weight", &v)) != 0) {
            if (hit < 0)
                goto out;
            json_object_set_new(body, "hybrid_weight", json_real(strtod(v, NULL)));
        } else if ((hit = cli_memory_opt(argc, argv, &i, "--layer", &v)) != 0 ||
                   (hit = cli_memory_opt(argc, argv, &i, "--agent", &v)) != 0 ||
                   (hit = cli_memory_opt(argc, argv, &i, "--principal", &v)) != 0) {
            if (hit < 0)
                goto out;
            json_object_set_new(body, argv[i - 1] + 2, json_string(v));
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_error("unknown option %s (see memory search --help)", argv[i]);
            goto out;
        } else if (!json_object_get(body, "query")) {
            json_object_set_new(body, "query", json_string(argv[i]));
        } else {
            cli_error("one QUERY (quote several words)");
            goto out;
        }
    }
    json_t *r = NULL;
    rc = cli_request_json(ctx, "POST", "/api/v1/memory/search", body, &r);
    if (rc == 0 && ctx->json) {
        cli_json_print(r, true);
    } else if (rc == 0) {
        static const char *const hdr[] = {"SCORE", "ID", "LAYER", "TEXT"};
        cli_table_t *t = cli_table_new(4, hdr);
        size_t i;
        json_t *h;
        json_array_foreach(json_object_get(r, "results"), i, h)
        {
            const json_t *rec = json_object_get(h, "record");
            char score[32], safe[512];
            snprintf(score, sizeof score, "%.4f", json_number_value(json_object_get(h, "score")));
            const char *text = json_is_string(json_object_get(h, "snippet"))
                                   ? cli_json_str(h, "snippet")
                                   : cli_json_str(rec, "content");
            cli_sanitize(text, safe, sizeof safe);
            cli_table_row_add(t);
            cli_table_cell_set(t, 0, CLI_COLOR_NONE, score);
            cli_table_cell_set(t, 1, CLI_COLOR_NONE, cli_json_str(rec, "id"));
            cli_table_cell_set(t, 2, CLI_COLOR_DIM, cli_json_str(rec, "layer"));
            cli_table_cell_set(t, 3, CLI_COLOR_NONE, safe);
        }
        if (t)
            cli_table_print(t, stdout, ctx->color);
        cli_table_destroy(&t);
    }
    json_decref(r);
out:
    json_decref(body);
    return rc;
}

static int cli_memory_one(cli_ctx_t *ctx, int argc, char **argv)
{
    bool rm = strcmp(argv[0], "rm") == 0;
    if (argc < 2 || (!rm && argc != 2)) {
        cli_error("usage: memory %s ID%s", argv[0], rm ? "..." : "");
        return CLI_EXIT_USAGE;
    }
    int rc = CLI_EXIT_OK;
    for (int i = 1; i < argc; i++) {
        if (!cli_memory_id_valid(argv[i])) {
            cli_error("not a record id: '%.40s'", argv[i]);
            return CLI_EXIT_USAGE;
        }
        char path[96];
        snprintf(path, sizeof path, "/api/v1/memory/records/%s", argv[i]);
        json_t *r = NULL;
        int one = cli_request_json(ctx, rm ? "DELETE" : "GET", path, NULL, &r);
        if (one == 0 && ctx->json && rm) {
            json_t *o = json_pack("{s:s}", "deleted", argv[i]);
            cli_json_print(o, true);
            json_decref(o);
        } else if (one == 0 && ctx->json) {
            cli_json_print(r, true);
        } else if (one == 0 && !rm)
            cli_memory_print_record(r);
        else if (one == 0)
            printf("deleted %s\n", argv[i]);
        json_decref(r);
        if (one != 0)
            rc = one;
    }
    return rc;
}

/* One row per subcommand (see cli_cmd_t). */
static const cli_cmd_t cli_memory_cmds[] = {
    {"add", "store a record: LAYER TEXT",
     "LAYER TEXT [options]\n\nStores TEXT in LAYER (short-term, working, episodic, semantic,\n"
     "long-term) and prints the new record's id.\n\n"
     "  --agent NAME        the agent the record is about or from\n"
     "  --tag TAG           a tag (repeatable)\n"
     "  --expires TIME      RFC 3339: hidden from then on, then pruned\n"
     "  --embedding X,Y,... the record's embedding vector\n",
     cli_memory_add},
    {"search", "search records by words, by vector, or both: [QUERY]",
     "[QUERY] [options]\n\nFinds records holding any word of QUERY (ranked by BM25, with\n"
     "snippets), nearest to a vector (cosine), or both mixed.\n\n"
     "  --vector X,Y,...    query embedding\n"
     "  --k N               results (default 10)\n"
     "  --weight W          with both: the text score's share, 0..1 (default 0.5)\n"
     "  --layer LAYER       only this layer\n"
     "  --agent NAME        only this agent's records\n"
     "  --principal P       only this principal's records\n",
     cli_memory_search},
    {"show", "one record: ID", "ID\n\nPrints the record.\n", cli_memory_one},
    {"rm", "delete records: ID...", "ID...\n\nDeletes the records.\n", cli_memory_one},
};

const cli_group_t cli_memory_group = {"memory", cli_memory_cmds,
                                      sizeof cli_memory_cmds / sizeof cli_memory_cmds[0]};

int cli_cmd_memory(cli_ctx_t *ctx, int argc, char **argv)
{
    return cli_group_run(ctx, &cli_memory_group,
                         "Records live in five layers; docs/memory.md describes search and "
                         "retention.\n",
                         argc, argv);
}
