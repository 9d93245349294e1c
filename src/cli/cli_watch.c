/* `ganglion watch …`: client commands of the watch domain. `watch verify` checks an exported
 * evidence bundle's Ed25519 signature offline against a public key given with --key, or fetched
 * from the daemon (--url) when no key is given. The review commands (anomalies, show, ack …)
 * live in cli_watch_review.c; every subcommand is a row of the table below. */
#include "cli/cli_priv.h"
#include "cli/cli_tools.h"
#include "cli/cli_watch_review.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "watch/watch.h"

#define CLI_WATCH_BUNDLE_MAX (64u * 1024u * 1024u)

/* Reads a whole file ("-" = stdin) up to max bytes. Caller frees. NULL with errno set. */
static char *cli_watch_slurp(const char *path, size_t max, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
        if (n == cap) {
            if (cap >= max) {
                free(buf);
                buf = NULL;
                errno = EFBIG;
                break;
            }
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    if (f != stdin)
        fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

/* --key: the key itself (hex or base64), a file holding it, or a saved signing-key reply. */
static int cli_watch_key_arg(const char *arg, unsigned char pk[32])
{
    if (watch_key_parse(arg, pk) == 0)
        return 0;
    size_t len = 0;
    char *text = cli_watch_slurp(arg, 65536, &len);
    if (!text)
        return -1;
    int rc = watch_key_parse(text, pk);
    if (rc < 0) {
        json_t *j = json_loads(text, 0, NULL);
        const char *k = json_string_value(json_object_get(j, "public_key"));
        rc = k ? watch_key_parse(k, pk) : -1;
        json_decref(j);
    }
    free(text);
    return rc;
}

static int cli_watch_key_fetch(cli_ctx_t *ctx, unsigned char pk[32])
{
    cli_client_t *c = NULL;
    if (cli_client_open(ctx, 0, &c) < 0)
        return CLI_EXIT_USAGE;
    cli_response_t r = {0};
    int rc = cli_client_request(c, "GET", "/api/v1/watch/signing-key", NULL, 0, &r);
    int code = CLI_EXIT_OK;
    if (rc < 0) {
        cli_error("cannot fetch the signing key from %s: %s", cli_client_url(c),
                  cli_client_error(c));
        code = cli_exit_for(rc);
    } else if (r.status != 200) {
        cli_problem_print(&r);
        code = CLI_EXIT_FAIL;
    } else {
        json_t *j = cli_response_json(&r);
        const char *k = json_string_value(json_object_get(j, "public_key"));
        if (!k || watch_key_parse(k, pk) < 0) {
            cli_error("the daemon's signing-key reply has no usable public_key");
            code = CLI_EXIT_FAIL;
        }
        json_decref(j);
    }
    cli_response_free(&r);
    cli_client_destroy(&c);
    return code;
}

static void cli_watch_verify_usage(const cli_ctx_t *ctx, FILE *out)
{
    fprintf(out,
            "usage: %s watch verify FILE [--key KEY | --url URL]\n\n"
            "Checks the Ed25519 signature of an evidence bundle exported with\n"
            "GET /api/v1/watch/anomalies/{id}/export. FILE may be - for stdin.\n\n"
            "  --key KEY   the public key (base64 or hex), or a file holding it or the\n"
            "              reply of GET /api/v1/watch/signing-key; nothing is sent anywhere\n"
            "  --url URL   fetch the public key from this daemon (the default when --key\n"
            "              is absent: $GANGLION_URL, else " CLI_DEFAULT_URL ")\n\n"
            "exit codes: 0 the signature is valid, 1 it is not (or the key could not be\n"
            "fetched), 2 bad usage or unreadable file, 3 the daemon could not be reached\n\n"
            "example:\n"
            "  %s call GET /api/v1/watch/anomalies/ID/export > bundle.json\n"
            "  %s watch verify bundle.json --key \"$(cat watch.pub)\"\n",
            ctx->prog, ctx->prog, ctx->prog);
}

static int cli_watch_verify(cli_ctx_t *ctx, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        cli_watch_verify_usage(ctx, stdout);
        return CLI_EXIT_OK;
    }
    const char *file = NULL, *key = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--key") == 0 && i + 1 < argc) {
            key = argv[++i];
        } else if (strncmp(argv[i], "--key=", 6) == 0) {
            key = argv[i] + 6;
        } else if (!file && (argv[i][0] != '-' || strcmp(argv[i], "-") == 0)) {
            file = argv[i];
        } else {
            cli_error("watch verify: unexpected argument '%.80s'; see %s watch verify --help",
                      argv[i], ctx->prog);
            return CLI_EXIT_USAGE;
        }
    }
    if (!file) {
        cli_error("watch verify needs the bundle FILE; see %s watch verify --help", ctx->prog);
        return CLI_EXIT_USAGE;
    }
    size_t len = 0;
    char *text = cli_watch_slurp(file, CLI_WATCH_BUNDLE_MAX, &len);
    if (!text) {
        cli_error("cannot read %s: %s", file, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    json_error_t jerr;
    json_t *bundle = json_loadb(text, len, 0, &jerr);
    free(text);
    if (!bundle) {
        cli_error("%s is not JSON (line %d: %s)", file, jerr.line, jerr.text);
        return CLI_EXIT_USAGE;
    }
    unsigned char pk[32];
    int code = CLI_EXIT_OK;
    if (key) {
        if (cli_watch_key_arg(key, pk) < 0) {
            cli_error("--key: not an Ed25519 public key (44 base64 or 64 hex characters), nor a "
                      "file holding one");
            json_decref(bundle);
            return CLI_EXIT_USAGE;
        }
    } else if ((code = cli_watch_key_fetch(ctx, pk)) != CLI_EXIT_OK) {
        json_decref(bundle);
        return code;
    }
    char err[256];
    int rc = watch_bundle_verify(bundle, pk, err, sizeof err);
    json_t *a = json_object_get(bundle, "anomaly");
    json_t *kj = watch_public_key_json(pk);
    const char *kid = json_string_value(json_object_get(kj, "key_id"));
    if (ctx->json) {
        json_t *o = json_pack(
            "{s:b,s:s,s:o,s:o,s:o}", "valid", rc == 0, "key_id", kid ? kid : "", "anomaly_id",
            json_copy(json_object_get(a, "id")) ?: json_null(), "exported_by",
            json_copy(json_object_get(bundle, "exported_by")) ?: json_null(), "exported_at",
            json_copy(json_object_get(bundle, "exported_at")) ?: json_null());
        if (rc < 0)
            json_object_set_new(o, "error", json_string(err));
        cli_json_print(o, false);
        json_decref(o);
    } else if (rc == 0) {
        char id[80], by[160], at[64];
        cli_sanitize(json_string_value(json_object_get(a, "id")) ?: "?", id, sizeof id);
        cli_sanitize(json_string_value(json_object_get(bundle, "exported_by")) ?: "?", by,
                     sizeof by);
        cli_sanitize(json_string_value(json_object_get(bundle, "exported_at")) ?: "?", at,
                     sizeof at);
        printf("valid: signature by key %s over anomaly %s, exported by %s at %s\n",
               kid ? kid : "?", id, by, at);
    } else {
        cli_error("INVALID: %s (key %s)", err, kid ? kid : "?");
    }
    json_decref(kj);
    json_decref(bundle);
    return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

/* The watch subcommands, one row each (see cli_cmd_t); these print their own --help. */
static const cli_cmd_t cli_watch_cmds[] = {
    {"anomalies", "list anomalies newest first; -f follows new ones", NULL, cli_watch_anomalies},
    {"show", "one anomaly with its explanation and evidence, or an incident", NULL, cli_watch_show},
    {"ack", "acknowledge an anomaly or a whole incident", NULL, cli_watch_ack},
    {"resolve", "mark an anomaly or incident resolved", NULL, cli_watch_resolve},
    {"false-positive", "dismiss an anomaly or incident as a false positive", NULL,
     cli_watch_false_positive},
    {"incidents", "list incidents (one burst on one stream each) newest first", NULL,
     cli_watch_incidents},
    {"streams", "list streams with their counters", NULL, cli_watch_streams},
    {"verify", "check an exported evidence bundle's signature", NULL, cli_watch_verify},
    {"nab", "run the detector over the NAB corpus, write NAB's result layout", NULL, cli_watch_nab},
    {"bench", "measure the detector against the full permutation test", NULL, cli_watch_bench},
    {"loghub", "measure the log detector on loghub's parsed samples", NULL, cli_watch_loghub},
};

const cli_group_t cli_watch_group = {"watch", cli_watch_cmds,
                                     sizeof cli_watch_cmds / sizeof cli_watch_cmds[0]};

int cli_cmd_watch(cli_ctx_t *ctx, int argc, char **argv)
{
    return cli_group_run(ctx, &cli_watch_group, NULL, argc, argv);
}
