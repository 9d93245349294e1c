/* `ganglion cert self-signed`: writes a development certificate and key for HTTPS without a
 * running daemon (the work is in net/tls.c), then prints the paths and the configuration lines
 * that use them. */
#include "cli/cli_priv.h"
#include "core/opt.h"
#include "net/tls.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static void cli_cert_usage(const cli_ctx_t *ctx)
{
    printf("usage: %s cert self-signed [--out DIR] [--host NAME ...] [--days N] [--force]\n\n"
           "Writes a development certificate for HTTPS: an ECDSA P-256 key (DIR/" TLS_KEY_NAME
           ", mode 0600)\n"
           "and a self-signed certificate (DIR/" TLS_CERT_NAME
           ") for localhost, 127.0.0.1, ::1 and each --host.\n"
           "No daemon is needed. Clients trust it with --cacert DIR/" TLS_CERT_NAME
           "; in production use a\n"
           "certificate from your own or a public CA instead.\n\n"
           "options:\n"
           "  --out DIR     directory to write to (default: $GANGLION_DATA_DIR/tls, else "
           "./var/tls)\n"
           "  --host NAME   another DNS name or IP address to cover (repeatable, up to %d)\n"
           "  --days N      validity in days (default 365, at most %d)\n"
           "  --force       replace existing files\n\n"
           "examples:\n"
           "  %s cert self-signed\n"
           "  %s cert self-signed --out /etc/ganglion/tls --host ganglion.lan --host 10.0.0.5\n\n",
           ctx->prog, TLS_HOSTS_MAX, TLS_DAYS_MAX, ctx->prog, ctx->prog);
    cli_usage_globals(stdout);
}

static int cli_cert_print(const cli_ctx_t *ctx, const char *cert, const char *key,
                          const tls_selfsigned_opts_t *o)
{
    if (ctx->json) {
        json_t *hosts = json_array();
        json_t *out = json_pack("{s:s,s:s,s:i,s:o}", "cert_file", cert, "key_file", key, "days",
                                o->days, "hosts", hosts ? hosts : json_null());
        if (!out)
            return -ENOMEM;
        const char *builtin[] = {"localhost", "127.0.0.1", "::1"};
        for (size_t i = 0; hosts && i < 3; i++)
            json_array_append_new(hosts, json_string(builtin[i]));
        for (size_t i = 0; hosts && i < o->nhosts; i++)
            json_array_append_new(hosts, json_string(o->hosts[i]));
        int rc = cli_json_print(out, false);
        json_decref(out);
        return rc;
    }
    printf("wrote %s (certificate, valid %d days)\n"
           "wrote %s (private key, mode 0600)\n\n"
           "Configuration for the daemon (ganglion.ini):\n\n"
           "[tls]\n"
           "cert_file = %s\n"
           "key_file = %s\n\n"
           "or in the environment:\n\n"
           "GANGLION_TLS_CERT_FILE=%s GANGLION_TLS_KEY_FILE=%s\n\n"
           "Clients then use https:// and trust this certificate, e.g.:\n\n"
           "%s --url https://127.0.0.1:7700 --cacert %s status\n"
           "curl --cacert %s https://127.0.0.1:7700/healthz\n",
           cert, o->days, key, cert, key, cert, key, ctx->prog, cert, cert);
    return 0;
}

static int cli_cert_self_signed(cli_ctx_t *ctx, int argc, char **argv)
{
    const char *out = NULL, *days_s = NULL;
    const char *hosts[TLS_HOSTS_MAX];
    tls_selfsigned_opts_t o = {.days = 365, .hosts = hosts};
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if (strcmp(argv[i], "--force") == 0) {
            o.force = true;
        } else if ((r = opt_value(argc, argv, &i, "--out", &out)) != 0 ||
                   (r = opt_value(argc, argv, &i, "--days", &days_s)) != 0) {
            if (r < 0) {
                cli_error("%s needs a value; see %s cert self-signed --help", argv[i], ctx->prog);
                return CLI_EXIT_USAGE;
            }
        } else if ((r = opt_value(argc, argv, &i, "--host", &v)) != 0) {
            if (r < 0) {
                cli_error("--host needs a value; see %s cert self-signed --help", ctx->prog);
                return CLI_EXIT_USAGE;
            }
            if (o.nhosts == TLS_HOSTS_MAX) {
                cli_error("at most %d --host names", TLS_HOSTS_MAX);
                return CLI_EXIT_USAGE;
            }
            if (!tls_host_valid(v)) {
                char shown[96];
                cli_sanitize(v, shown, sizeof shown);
                cli_error("--host '%s' is neither a DNS name nor an IP address", shown);
                return CLI_EXIT_USAGE;
            }
            hosts[o.nhosts++] = v;
        } else {
            char shown[80];
            cli_sanitize(argv[i], shown, sizeof shown);
            cli_error("unknown argument '%s'; see %s cert self-signed --help", shown, ctx->prog);
            return CLI_EXIT_USAGE;
        }
    }
    if (days_s) {
        char *end;
        errno = 0;
        long d = strtol(days_s, &end, 10);
        if (errno || end == days_s || *end || d < 1 || d > TLS_DAYS_MAX) {
            cli_error("--days wants a whole number from 1 to %d, not '%.40s'", TLS_DAYS_MAX,
                      days_s);
            return CLI_EXIT_USAGE;
        }
        o.days = (int)d;
    }
    char def[PATH_MAX];
    if (!out || !*out) {
        const char *dd = getenv("GANGLION_DATA_DIR");
        snprintf(def, sizeof def, "%s/tls", dd && *dd ? dd : "./var");
        out = def;
    }
    o.dir = out;

    char cert[PATH_MAX + 16], key[PATH_MAX + 16], err[512];
    if (tls_selfsigned_write(&o, cert, sizeof cert, key, sizeof key, err, sizeof err) < 0) {
        cli_error("%s", err);
        return CLI_EXIT_FAIL;
    }
    /* Absolute paths, so the printed configuration works from any directory. */
    char abs[PATH_MAX];
    if (realpath(o.dir, abs)) {
        snprintf(cert, sizeof cert, "%s/%s", abs, TLS_CERT_NAME);
        snprintf(key, sizeof key, "%s/%s", abs, TLS_KEY_NAME);
    }
    return cli_cert_print(ctx, cert, key, &o) < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

static const cli_cmd_t cli_cert_cmds[] = {
    {"self-signed", "write a development certificate and key", NULL, cli_cert_self_signed},
};

const cli_group_t cli_cert_group = {"cert", cli_cert_cmds,
                                    sizeof cli_cert_cmds / sizeof cli_cert_cmds[0]};

int cli_cmd_cert(cli_ctx_t *ctx, int argc, char **argv)
{
    if (argc < 2 || cli_wants_help(argc, argv)) {
        cli_cert_usage(ctx);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    return cli_dispatch(ctx, cli_cert_cmds, sizeof cli_cert_cmds / sizeof cli_cert_cmds[0],
                        "ganglion cert", argc - 1, argv + 1);
}
