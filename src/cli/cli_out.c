/* Output helpers shared by the CLI's commands: JSON printing (pretty for people, compact for
 * scripts), problem replies turned into one readable error block, durations, and the small
 * glue that opens a client from the global options. */
#include "cli/cli_priv.h"
#include "core/problem.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

bool cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return true;
    }
    return false;
}

int cli_client_open(const cli_ctx_t *ctx, double max_timeout_s, cli_client_t **out)
{
    char err[256];
    double t = ctx->timeout_s;
    if (max_timeout_s > 0 && t > max_timeout_s)
        t = max_timeout_s;
    cli_client_opts_t o = {
        .via = ctx->via,
        .url = ctx->url,
        .token = ctx->token,
        .timeout_ms = (long)ceil(t * 1000.0),
        .cacert = ctx->cacert && *ctx->cacert ? ctx->cacert : NULL,
        .insecure = ctx->insecure,
    };
    int rc = cli_client_new(&o, out, err, sizeof err);
    if (rc < 0)
        cli_error("%s", err);
    return rc;
}

int cli_request(const cli_ctx_t *ctx, double max_timeout_s, const char *method, const char *path,
                const char *body, json_t **out)
{
    cli_client_t *c = NULL;
    if (out)
        *out = NULL;
    if (cli_client_open(ctx, max_timeout_s, &c) < 0)
        return CLI_EXIT_USAGE;
    cli_response_t r;
    int rc = cli_client_request(c, method, path, body, body ? strlen(body) : 0, &r);
    if (rc < 0) {
        cli_error("%s", cli_client_error(c));
        cli_response_free(&r);
        cli_client_destroy(&c);
        return cli_exit_for(rc);
    }
    cli_client_destroy(&c);
    if (r.status >= 400) {
        cli_problem_print(&r);
        cli_response_free(&r);
        return CLI_EXIT_FAIL;
    }
    if (out)
        *out = r.body_len ? cli_response_json(&r) : json_object();
    cli_response_free(&r);
    return CLI_EXIT_OK;
}

int cli_request_json(const cli_ctx_t *ctx, const char *method, const char *path, const json_t *body,
                     json_t **out)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body && !text) {
        cli_error("out of memory");
        return CLI_EXIT_FAIL;
    }
    int rc = cli_request(ctx, 0, method, path, text, out);
    free(text);
    return rc;
}

const char *cli_json_str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

int cli_exit_for(int rc)
{
    return cli_client_unreachable(rc) ? CLI_EXIT_UNREACHABLE : CLI_EXIT_FAIL;
}

int cli_json_print(const json_t *v, bool pretty)
{
    size_t flags = JSON_ENCODE_ANY | JSON_COMPACT;
    if (pretty)
        flags = JSON_ENCODE_ANY | JSON_INDENT(2);
    char *s = json_dumps(v, flags);
    if (!s)
        return -ENOMEM;
    fputs(s, stdout);
    fputc('\n', stdout);
    free(s);
    return ferror(stdout) ? -EIO : 0;
}

static bool cli_is_json_type(const char *ct)
{
    if (!ct)
        return false;
    /* application/json, application/problem+json, anything/whatever+json; params ignored. */
    size_t n = strcspn(ct, ";");
    while (n > 0 && ct[n - 1] == ' ')
        n--;
    if (n >= 5 && strncasecmp(ct + n - 5, "+json", 5) == 0)
        return true;
    return n == 16 && strncasecmp(ct, "application/json", 16) == 0;
}

bool cli_response_is_json(const cli_response_t *r)
{
    return cli_is_json_type(r->content_type);
}

json_t *cli_response_json(const cli_response_t *r)
{
    if (!r->body_len || !cli_is_json_type(r->content_type))
        return NULL;
    return json_loadb(r->body, r->body_len, JSON_DECODE_ANY, NULL);
}

void cli_sanitize(const char *s, char *out, size_t outlen)
{
    size_t n = 0;
    if (!outlen)
        return;
    for (; s && *s && n + 1 < outlen; s++) {
        unsigned char ch = (unsigned char)*s;
        out[n++] = (ch < 0x20 || ch == 0x7F) ? ' ' : (char)ch;
    }
    out[n] = '\0';
}

void cli_problem_print(const cli_response_t *r)
{
    cli_problem_print_ex(r, true);
}

void cli_problem_print_ex(const cli_response_t *r, bool hint)
{
    char title[256], detail[1024];
    json_t *p = cli_response_json(r);
    const char *t = p ? json_string_value(json_object_get(p, "title")) : NULL;
    const char *d = p ? json_string_value(json_object_get(p, "detail")) : NULL;
    cli_sanitize(t ? t : problem_title_for(r->status), title, sizeof title);
    if (d) {
        cli_sanitize(d, detail, sizeof detail);
    } else if (!p && r->body_len) {
        /* Not a problem document: show the start of whatever came back. */
        cli_sanitize(r->body, detail, 201);
    } else {
        detail[0] = '\0';
    }
    if (detail[0])
        fprintf(stderr, "error: %d %s: %s\n", r->status, title, detail);
    else
        fprintf(stderr, "error: %d %s\n", r->status, title);

    json_t *errs = p ? json_object_get(p, "errors") : NULL;
    size_t i;
    json_t *e;
    json_array_foreach(errs, i, e)
    {
        char in[64], field[256], msg[512];
        const char *ein = json_string_value(json_object_get(e, "in"));
        const char *ef = json_string_value(json_object_get(e, "field"));
        const char *em = json_string_value(json_object_get(e, "message"));
        if (!em)
            em = json_string_value(json_object_get(e, "detail"));
        cli_sanitize(ein ? ein : "", in, sizeof in);
        cli_sanitize(ef ? ef : "", field, sizeof field);
        cli_sanitize(em ? em : "invalid", msg, sizeof msg);
        fprintf(stderr, "  %s%s%s: %s\n", in, (in[0] && field[0]) ? " " : "", field, msg);
        if (i >= 99) {
            fprintf(stderr, "  … and %zu more\n", json_array_size(errs) - i - 1);
            break;
        }
    }
    if (r->status == 429 && r->retry_after) {
        char ra[64];
        cli_sanitize(r->retry_after, ra, sizeof ra);
        fprintf(stderr, "  retry after: %s s\n", ra);
    }
    if (r->status >= 500 && r->request_id) {
        char rid[128];
        cli_sanitize(r->request_id, rid, sizeof rid);
        fprintf(stderr, "  request id: %s (quote it when reading the daemon's log)\n", rid);
    }
    if (r->status == 401 && hint)
        fputs("hint: sign in with 'ganglion login', or set GANGLION_TOKEN, or point\n"
              "      GANGLION_DATA_DIR at the daemon's data directory (it holds admin.token);\n"
              "      'ganglion whoami' shows which credential was sent and where it came from\n",
              stderr);
    json_decref(p);
}

void cli_duration_format(double seconds, char *out, size_t outlen)
{
    if (!(seconds >= 0) || seconds > 1e12) {
        snprintf(out, outlen, "?");
        return;
    }
    /* Two units at most, the smaller zero-padded where it has two digits: 42s, 12m05s, 3h 04m,
     * 3d 4h. Whole seconds: the fraction of an uptime is noise to a reader. */
    unsigned long long s = (unsigned long long)seconds;
    unsigned long long d = s / 86400, h = (s / 3600) % 24, m = (s / 60) % 60, sec = s % 60;
    if (d)
        snprintf(out, outlen, "%llud %lluh", d, h);
    else if (h)
        snprintf(out, outlen, "%lluh %02llum", h, m);
    else if (m)
        snprintf(out, outlen, "%llum%02llus", m, sec);
    else
        snprintf(out, outlen, "%llus", sec);
}
