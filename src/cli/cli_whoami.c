/* `ganglion whoami`: who the daemon takes this CLI for (GET /api/v1/auth/me), what kind of
 * credential it is and until when it works, and where the URL and the credential were found —
 * the first thing to run when a command answers 401. */
#include "cli/cli_priv.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void cli_whoami_usage(const cli_ctx_t *ctx)
{
    printf("usage: %s whoami [--json]\n\n"
           "Shows the user or API key the daemon at --url takes you for, its role, the kind of\n"
           "credential and when it expires, and where the URL and the credential came from.\n\n"
           "The credential is the first of:\n"
           "  1. --token TOKEN\n"
           "  2. $GANGLION_TOKEN\n"
           "  3. the session `%s login` stored for this URL\n"
           "     ($XDG_CONFIG_HOME/ganglion/session.json, default ~/.config/ganglion)\n"
           "  4. token = ... or token_file = ... in $XDG_CONFIG_HOME/ganglion/config, for the\n"
           "     daemon that file's url = names (the default URL when it names none)\n"
           "  5. admin.token in $GANGLION_DATA_DIR, then in the config's data_dir = ..., then\n"
           "     in ./var (only for a loopback URL: the file is a secret of this machine)\n\n",
           ctx->prog, ctx->prog);
    cli_usage_globals(stdout);
}

/* The `exp` claim of a JWT (0 when the token is not one): read without verifying, only to
 * tell the user when it runs out; the daemon is the one that checks it. */
static long long cli_whoami_jwt_exp(const char *tok)
{
    const char *p1 = strchr(tok, '.');
    const char *p2 = p1 ? strchr(p1 + 1, '.') : NULL;
    if (!p2 || (size_t)(p2 - p1 - 1) > 4096)
        return 0;
    unsigned char bin[3200];
    size_t len = 0;
    if (sodium_base642bin(bin, sizeof bin - 1, p1 + 1, (size_t)(p2 - p1 - 1), NULL, &len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return 0;
    json_t *claims = json_loadb((const char *)bin, len, 0, NULL);
    long long exp = (long long)json_integer_value(json_object_get(claims, "exp"));
    json_decref(claims);
    return exp;
}

/* Fills kind/expires into out: a JWT (session) or an API key (expires_at from the daemon). */
static void cli_whoami_kind(const cli_ctx_t *ctx, const json_t *me, json_t *out)
{
    const char *kind = json_string_value(json_object_get(me, "kind"));
    if (kind && !strcmp(kind, "key")) {
        json_object_set_new(out, "token_kind", json_string("api key"));
        json_t *exp = json_object_get(me, "expires_at");
        json_object_set(out, "expires_at", exp ? exp : json_null());
        return;
    }
    long long exp = cli_whoami_jwt_exp(ctx->token);
    json_object_set_new(out, "token_kind", json_string(exp ? "session access token" : "token"));
    if (exp) {
        char ts[40];
        time_t t = (time_t)exp;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_object_set_new(out, "expires_at", json_string(ts));
        json_object_set_new(out, "expires_in_s", json_integer(exp - (long long)time(NULL)));
    } else {
        json_object_set_new(out, "expires_at", json_null());
    }
}

static void cli_whoami_row(cli_table_t *t, const char *k, const char *v)
{
    cli_table_row_add(t);
    cli_table_cell_set(t, 0, CLI_COLOR_BOLD, k);
    cli_table_cell_set(t, 1, CLI_COLOR_NONE, v);
}

static int cli_whoami_print(const cli_ctx_t *ctx, const json_t *o)
{
    if (ctx->json)
        return cli_json_print(o, false) < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
    cli_table_t *t = cli_table_new(2, NULL);
    if (!t)
        return CLI_EXIT_FAIL;
    cli_table_width_set(t, 1, 0);
    const json_t *me = json_object_get(o, "me");
    const char *name = json_string_value(json_object_get(me, "username"));
    if (!name)
        name = json_string_value(json_object_get(me, "name"));
    char buf[512];
    snprintf(buf, sizeof buf, "%s (%s)", name ? name : "?",
             json_string_value(json_object_get(me, "principal")) ?: "?");
    cli_whoami_row(t, "who", buf);
    cli_whoami_row(t, "role", json_string_value(json_object_get(me, "role")) ?: "?");
    const char *exp = json_string_value(json_object_get(o, "expires_at"));
    json_t *in = json_object_get(o, "expires_in_s");
    char left[64] = "";
    if (json_is_integer(in))
        cli_duration_format((double)json_integer_value(in), left, sizeof left);
    snprintf(buf, sizeof buf, "%s, %s%s%s%s", json_string_value(json_object_get(o, "token_kind")),
             exp ? "expires " : "never expires", exp ? exp : "", left[0] ? " (in " : "",
             left[0] ? left : "");
    if (left[0])
        strncat(buf, ")", sizeof buf - strlen(buf) - 1);
    cli_whoami_row(t, "credential", buf);
    cli_whoami_row(t, "from", json_string_value(json_object_get(o, "credential_from")));
    snprintf(buf, sizeof buf, "%s (%s)", ctx->url, ctx->url_from);
    cli_whoami_row(t, "daemon", buf);
    int rc = cli_table_print(t, stdout, ctx->color) < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
    cli_table_destroy(&t);
    return rc;
}

int cli_cmd_whoami(cli_ctx_t *ctx, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        cli_whoami_usage(ctx);
        return CLI_EXIT_OK;
    }
    if (argc > 1) {
        cli_error("whoami takes no arguments (got '%.60s'); see %s whoami --help", argv[1],
                  ctx->prog);
        return CLI_EXIT_USAGE;
    }
    if (!ctx->token) {
        cli_error("no credential found for %s (url from %s)", ctx->url, ctx->url_from);
        fprintf(stderr,
                "hint: run '%s login', set GANGLION_TOKEN, or point GANGLION_DATA_DIR "
                "at the daemon's data directory (see %s whoami --help)\n",
                ctx->prog, ctx->prog);
        return CLI_EXIT_FAIL;
    }
    cli_client_t *c = NULL;
    if (cli_client_open(ctx, 0, &c) < 0)
        return CLI_EXIT_USAGE;
    cli_response_t r;
    int rc = cli_client_request(c, "GET", "/api/v1/auth/me", NULL, 0, &r);
    if (rc < 0) {
        cli_error("%s", cli_client_error(c));
        cli_response_free(&r);
        cli_client_destroy(&c);
        return cli_exit_for(rc);
    }
    cli_client_destroy(&c);
    if (r.status != 200) {
        cli_problem_print(&r);
        fprintf(stderr, "the credential came from %s\n", ctx->token_from);
        cli_response_free(&r);
        return CLI_EXIT_FAIL;
    }
    json_t *me = cli_response_json(&r);
    cli_response_free(&r);
    json_t *o = json_pack("{s:O?,s:s,s:s,s:s}", "me", me, "url", ctx->url, "url_from",
                          ctx->url_from, "credential_from", ctx->token_from);
    json_decref(me);
    if (!o) {
        cli_error("out of memory");
        return CLI_EXIT_FAIL;
    }
    cli_whoami_kind(ctx, json_object_get(o, "me"), o);
    rc = cli_whoami_print(ctx, o);
    json_decref(o);
    return rc;
}
