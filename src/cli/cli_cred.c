/* Where the CLI finds its URL and credential when no option says: the user config file
 * ($XDG_CONFIG_HOME/ganglion/config), the stored `login` session and the daemon's local admin
 * token (<data-dir>/admin.token, sent to loopback URLs only). The order is in docs/operations.md.
 */
#include "cli/cli_auth.h"
#include "cli/cli_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CLI_CONF_MAX (64 * 1024) /* the config file is a few lines; anything larger is refused */

int cli_config_dir(char *out, size_t len)
{
    const char *x = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    int n;
    if (x && *x)
        n = snprintf(out, len, "%s/ganglion", x);
    else if (home && *home)
        n = snprintf(out, len, "%s/.config/ganglion", home);
    else
        return -ENOENT;
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Reads a small secret file (one line; blanks around it trimmed). Missing files are normal and
 * silent; anything else odd is a warning. Caller frees; NULL when there is no token. */
char *cli_cred_file_read(const char *path)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT && errno != ENOTDIR)
            fprintf(stderr, "warning: cannot read %s: %s\n", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    char *tok = NULL;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CLI_MAX_TOKEN) {
        fprintf(stderr, "warning: ignoring %s: not a regular file of at most %d bytes\n", path,
                CLI_MAX_TOKEN);
        goto out;
    }
    char buf[CLI_MAX_TOKEN + 1];
    ssize_t n = read(fd, buf, CLI_MAX_TOKEN);
    if (n < 0) {
        fprintf(stderr, "warning: cannot read %s: %s\n", path, strerror(errno));
        goto out;
    }
    size_t len = (size_t)n, start = 0;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
        len--;
    while (start < len && (buf[start] == ' ' || buf[start] == '\t'))
        start++;
    if (len > start)
        tok = strndup(buf + start, len - start);
    explicit_bzero(buf, sizeof buf);
out:
    close(fd);
    return tok;
}

static char *cli_conf_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0]) {
        s[n - 1] = '\0';
        s++;
    }
    return s;
}

static void cli_conf_set(char *dst, size_t len, const char *path, int line, const char *key,
                         const char *v)
{
    if (strlen(v) >= len)
        fprintf(stderr, "warning: %s:%d: %s is longer than %zu bytes; ignored\n", path, line, key,
                len - 1);
    else
        snprintf(dst, len, "%s", v);
}

int cli_conf_load(cli_conf_t *conf)
{
    memset(conf, 0, sizeof *conf);
    char dir[3500];
    if (cli_config_dir(dir, sizeof dir) < 0)
        return 0;
    snprintf(conf->path, sizeof conf->path, "%s/config", dir);
    FILE *f = fopen(conf->path, "re");
    if (!f)
        return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CLI_CONF_MAX) {
        fprintf(stderr, "warning: ignoring %s: not a regular file of at most %d bytes\n",
                conf->path, CLI_CONF_MAX);
        fclose(f);
        return 0;
    }
    conf->found = true;
    bool secret_seen = false;
    char line[CLI_MAX_TOKEN + 256];
    for (int no = 1; fgets(line, sizeof line, f); no++) {
        char *l = cli_conf_trim(line);
        if (!*l || *l == '#' || *l == ';' || *l == '[')
            continue;
        char *eq = strchr(l, '=');
        if (!eq) {
            fprintf(stderr, "warning: %s:%d: not KEY = VALUE; ignored\n", conf->path, no);
            continue;
        }
        *eq = '\0';
        char *k = cli_conf_trim(l), *v = cli_conf_trim(eq + 1);
        if (!strcmp(k, "url")) {
            cli_conf_set(conf->url, sizeof conf->url, conf->path, no, k, v);
        } else if (!strcmp(k, "token")) {
            cli_conf_set(conf->token, sizeof conf->token, conf->path, no, k, v);
            secret_seen = true;
        } else if (!strcmp(k, "token_file")) {
            cli_conf_set(conf->token_file, sizeof conf->token_file, conf->path, no, k, v);
        } else if (!strcmp(k, "data_dir")) {
            cli_conf_set(conf->data_dir, sizeof conf->data_dir, conf->path, no, k, v);
        } else {
            fprintf(stderr,
                    "warning: %s:%d: unknown key '%.40s' (url, token, token_file, data_dir)\n",
                    conf->path, no, k);
        }
    }
    explicit_bzero(line, sizeof line);
    if (secret_seen && (st.st_mode & 0077))
        fprintf(stderr, "warning: %s holds a token and is readable by others; chmod 600 it\n",
                conf->path);
    fclose(f);
    return 0;
}

/* admin.token in dir, for loopback URLs only: the file is a secret of this machine and must
 * never travel to another host. */
static char *cli_cred_admin_token(const cli_ctx_t *ctx, const char *dir, char *from, size_t len)
{
    if (!dir || !*dir || !cli_url_is_loopback(ctx->url))
        return NULL;
    char path[4200];
    if (snprintf(path, sizeof path, "%s/admin.token", dir) >= (int)sizeof path)
        return NULL;
    char *tok = cli_cred_file_read(path);
    if (tok)
        snprintf(from, len, "%s", path);
    return tok;
}

void cli_cred_resolve(cli_ctx_t *ctx, const cli_conf_t *conf, const char *token)
{
    char *from = ctx->token_from;
    size_t flen = sizeof ctx->token_from;
    const char *env = getenv("GANGLION_TOKEN");
    if (token) {
        ctx->token = strdup(token);
        snprintf(from, flen, "--token");
        return;
    }
    if (env && *env && strlen(env) <= CLI_MAX_TOKEN) {
        ctx->token = strdup(env);
        snprintf(from, flen, "$GANGLION_TOKEN");
        return;
    }
    ctx->token = cli_session_token(ctx); /* `ganglion login`, refreshed when expired */
    if (ctx->token) {
        char dir[3500];
        if (cli_config_dir(dir, sizeof dir) == 0)
            snprintf(from, flen, "the login session in %s/session.json", dir);
        return;
    }
    /* The config's token belongs to the config's daemon (its url, else the default one). */
    const char *conf_url = conf->url[0] ? conf->url : CLI_DEFAULT_URL;
    if (conf->found && strcmp(conf_url, ctx->url) == 0) {
        if (conf->token[0]) {
            ctx->token = strdup(conf->token);
            snprintf(from, flen, "token in %s", conf->path);
            return;
        }
        if (conf->token_file[0] && (ctx->token = cli_cred_file_read(conf->token_file))) {
            snprintf(from, flen, "%s (token_file in %s)", conf->token_file, conf->path);
            return;
        }
    }
    const char *dd = getenv("GANGLION_DATA_DIR");
    if ((ctx->token = cli_cred_admin_token(ctx, dd, from, flen)))
        return;
    if ((ctx->token = cli_cred_admin_token(ctx, conf->data_dir, from, flen)))
        return;
    ctx->token = cli_cred_admin_token(ctx, "./var", from, flen);
}
