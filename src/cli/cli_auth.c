/* `ganglion login|logout|user|key|audit`: thin clients of /api/v1/auth, /users, /keys and
 * /audit, plus the stored session. Secrets are read without echo (or from stdin with
 * --password-stdin), never printed except an API key's secret, once, when created or rotated. */
#include "cli/cli_auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define CLI_PW_MAX 1024

/* ---- small helpers ---------------------------------------------------------------------- */

/* One request with the context's credential (or `token` when given, "" for none). On a 2xx
 * reply *out (may be NULL) receives the JSON body; otherwise the problem is printed. Returns
 * an exit code. */
static int cli_auth_req(const cli_ctx_t *ctx, const char *token, const char *method,
                        const char *path, json_t *body, json_t **out)
{
    cli_ctx_t c2 = *ctx;
    if (token)
        c2.token = *token ? (char *)(uintptr_t)token : NULL;
    cli_client_t *c = NULL;
    if (out)
        *out = NULL;
    if (cli_client_open(&c2, 0, &c) < 0)
        return CLI_EXIT_USAGE;
    char *b = body ? json_dumps(body, JSON_COMPACT) : NULL;
    cli_response_t r;
    int rc = cli_client_request(c, method, path, b, b ? strlen(b) : 0, &r);
    if (b) {
        explicit_bzero(b, strlen(b));
        free(b);
    }
    int code = CLI_EXIT_OK;
    if (rc < 0) {
        cli_error("%s", cli_client_error(c));
        code = cli_exit_for(rc);
    } else if (r.status < 200 || r.status > 299) {
        /* Sign-in requests carry no credential on purpose: no "log in" hint for them. */
        cli_problem_print_ex(&r, !(token && !*token));
        code = CLI_EXIT_FAIL;
    } else if (out) {
        *out = cli_response_json(&r);
        if (!*out)
            *out = json_object();
    }
    if (r.body)
        explicit_bzero(r.body, r.body_len);
    cli_response_free(&r);
    cli_client_destroy(&c);
    return code;
}

/* Reads a secret: from stdin (one line) when from_stdin, else from the terminal without echo. */
static int cli_read_secret(const char *prompt, bool from_stdin, char *buf, size_t len)
{
    FILE *in = stdin;
    FILE *tty = NULL;
    struct termios old, noecho;
    bool restore = false;
    if (!from_stdin) {
        tty = fopen("/dev/tty", "r+");
        if (!tty) {
            cli_error("no terminal to ask for the password; use --password-stdin");
            return -1;
        }
        in = tty;
        fprintf(tty, "%s", prompt);
        fflush(tty);
        if (tcgetattr(fileno(tty), &old) == 0) {
            noecho = old;
            noecho.c_lflag &= ~(tcflag_t)ECHO;
            restore = tcsetattr(fileno(tty), TCSAFLUSH, &noecho) == 0;
        }
    }
    char *got = fgets(buf, (int)len, in);
    if (restore)
        tcsetattr(fileno(tty), TCSAFLUSH, &old);
    if (tty) {
        fputc('\n', tty);
        fclose(tty);
    }
    if (!got) {
        cli_error("no password given");
        return -1;
    }
    buf[strcspn(buf, "\r\n")] = 0;
    return 0;
}

static bool cli_flag(int *argc, char **argv, const char *name)
{
    for (int i = 1; i < *argc; i++)
        if (strcmp(argv[i], name) == 0) {
            memmove(&argv[i], &argv[i + 1], (size_t)(*argc - i) * sizeof argv[0]);
            (*argc)--;
            return true;
        }
    return false;
}

/* "--name VALUE" or "--name=VALUE", removed from argv. NULL when absent. */
static const char *cli_opt(int *argc, char **argv, const char *name)
{
    size_t n = strlen(name);
    for (int i = 1; i < *argc; i++) {
        if (strncmp(argv[i], name, n) != 0)
            continue;
        int take = 0;
        const char *v = NULL;
        if (argv[i][n] == '=') {
            v = argv[i] + n + 1;
            take = 1;
        } else if (argv[i][n] == 0 && i + 1 < *argc) {
            v = argv[i + 1];
            take = 2;
        } else
            continue;
        memmove(&argv[i], &argv[i + take], (size_t)(*argc - i - take + 1) * sizeof argv[0]);
        *argc -= take;
        return v;
    }
    return NULL;
}

/* ---- the stored session ----------------------------------------------------------------- */

static int cli_session_path(char *out, size_t len, bool mkdirs)
{
    char dir[3500];
    if (cli_config_dir(dir, sizeof dir) < 0)
        return -1;
    if (mkdirs) {
        char parent[3500];
        snprintf(parent, sizeof parent, "%s", dir);
        char *slash = strrchr(parent, '/');
        if (slash && slash != parent) {
            *slash = 0;
            mkdir(parent, 0700);
        }
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
            return -1;
    }
    snprintf(out, len, "%s/session.json", dir);
    return 0;
}

static int cli_session_save(const json_t *s)
{
    char path[4096], tmp[4200];
    if (cli_session_path(path, sizeof path, true) < 0)
        return -1;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -1;
    char *text = json_dumps(s, JSON_COMPACT);
    size_t n = text ? strlen(text) : 0;
    int ok = text && write(fd, text, n) == (ssize_t)n && fchmod(fd, 0600) == 0;
    if (text) {
        explicit_bzero(text, n);
        free(text);
    }
    close(fd);
    if (!ok || rename(tmp, path) < 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static json_t *cli_session_load(void)
{
    char path[4096];
    if (cli_session_path(path, sizeof path, false) < 0)
        return NULL;
    struct stat st;
    if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return NULL;
    if (st.st_mode & 0077)
        fprintf(stderr, "warning: %s is readable by others; run ganglion login again\n", path);
    return json_load_file(path, 0, NULL);
}

static void cli_session_from_reply(json_t *s, const json_t *reply)
{
    json_object_set(s, "access_token", json_object_get(reply, "access_token"));
    json_object_set(s, "refresh_token", json_object_get(reply, "refresh_token"));
    json_object_set_new(s, "access_expires",
                        json_integer((json_int_t)time(NULL) +
                                     json_integer_value(json_object_get(reply, "expires_in"))));
}

char *cli_session_token(const cli_ctx_t *ctx)
{
    json_t *s = cli_session_load();
    if (!s)
        return NULL;
    char *tok = NULL;
    const char *url = json_string_value(json_object_get(s, "url"));
    if (!url || strcmp(url, ctx->url) != 0)
        goto out;
    if (json_integer_value(json_object_get(s, "access_expires")) > (json_int_t)time(NULL) + 5) {
        tok = strdup(json_string_value(json_object_get(s, "access_token")) ?: "");
        goto out;
    }
    /* Expired: one refresh (single use, rotated), saved before use. */
    json_t *body = json_pack("{s:O}", "refresh_token", json_object_get(s, "refresh_token"));
    json_t *reply = NULL;
    cli_ctx_t c2 = *ctx;
    c2.token = NULL;
    if (body && cli_auth_req(&c2, "", "POST", "/api/v1/auth/refresh", body, &reply) == 0) {
        cli_session_from_reply(s, reply);
        if (cli_session_save(s) < 0)
            fprintf(stderr, "warning: cannot save the refreshed session\n");
        tok = strdup(json_string_value(json_object_get(s, "access_token")) ?: "");
    } else {
        fprintf(stderr, "warning: the stored session has expired; run ganglion login\n");
    }
    json_decref(body);
    json_decref(reply);
out:
    json_decref(s);
    if (tok && !*tok) {
        free(tok);
        tok = NULL;
    }
    return tok;
}

/* ---- login / logout --------------------------------------------------------------------- */

int cli_cmd_login(cli_ctx_t *ctx, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: %s login [--user NAME] [--password-stdin]\n\n"
               "Signs in and stores the session (access and refresh token) in a 0600 file under\n"
               "$XDG_CONFIG_HOME/ganglion or ~/.config/ganglion; later commands against the same\n"
               "--url use it and refresh it when the access token has expired.\n\n",
               ctx->prog);
        cli_usage_globals(stdout);
        return CLI_EXIT_OK;
    }
    bool from_stdin = cli_flag(&argc, argv, "--password-stdin");
    const char *user = cli_opt(&argc, argv, "--user");
    if (!user)
        user = getenv("USER");
    if (argc > 1 || !user) {
        cli_error("usage: %s login [--user NAME] [--password-stdin]", ctx->prog);
        return CLI_EXIT_USAGE;
    }
    char pw[CLI_PW_MAX];
    char prompt[128];
    snprintf(prompt, sizeof prompt, "password for %.60s: ", user);
    if (cli_read_secret(prompt, from_stdin, pw, sizeof pw) < 0)
        return CLI_EXIT_USAGE;
    json_t *body = json_pack("{s:s,s:s}", "username", user, "password", pw);
    explicit_bzero(pw, sizeof pw);
    json_t *reply = NULL;
    int code = cli_auth_req(ctx, "", "POST", "/api/v1/auth/login", body, &reply);
    json_object_clear(body);
    json_decref(body);
    if (code != CLI_EXIT_OK)
        return code;
    json_t *s = json_pack("{s:s,s:s}", "url", ctx->url, "username", user);
    cli_session_from_reply(s, reply);
    bool must_change = json_is_true(json_object_get(reply, "must_change_password"));
    json_decref(reply);
    int rc = cli_session_save(s);
    json_decref(s);
    if (rc < 0) {
        cli_error("cannot write the session file");
        return CLI_EXIT_FAIL;
    }
    if (ctx->json) {
        json_t *o = json_pack("{s:s,s:b}", "username", user, "must_change_password", must_change);
        cli_json_print(o, false);
        json_decref(o);
    } else {
        printf("logged in as %s\n", user);
        if (must_change)
            printf("your password must be changed: ganglion user passwd\n");
    }
    return CLI_EXIT_OK;
}

int cli_cmd_logout(cli_ctx_t *ctx, int argc, char **argv)
{
    if (cli_wants_help(argc, argv) || argc > 1) {
        printf("usage: %s logout\n\nRevokes the stored session and deletes its file.\n", ctx->prog);
        return argc > 1 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    char *tok = cli_session_token(ctx);
    int code = CLI_EXIT_OK;
    if (tok) {
        code = cli_auth_req(ctx, tok, "POST", "/api/v1/auth/logout", NULL, NULL);
        explicit_bzero(tok, strlen(tok));
        free(tok);
    }
    char path[4096];
    if (cli_session_path(path, sizeof path, false) == 0)
        unlink(path);
    if (code == CLI_EXIT_OK && !ctx->json)
        printf("logged out\n");
    return code;
}

/* ---- users ------------------------------------------------------------------------------ */

/* NAME or numeric id → id (looked up in GET /users). -1 when unknown (message printed). */
static long long cli_user_id(const cli_ctx_t *ctx, const char *who)
{
    char *end = NULL;
    long long id = strtoll(who, &end, 10);
    if (end && *end == 0 && end != who)
        return id;
    json_t *list = NULL;
    if (cli_auth_req(ctx, NULL, "GET", "/api/v1/users", NULL, &list) != 0)
        return -1;
    size_t i;
    json_t *u;
    id = -1;
    json_array_foreach(json_object_get(list, "users"), i, u)
    {
        if (strcmp(json_string_value(json_object_get(u, "username")) ?: "", who) == 0)
            id = json_integer_value(json_object_get(u, "id"));
    }
    json_decref(list);
    if (id < 0)
        cli_error("no user named %.64s", who);
    return id;
}

static int cli_print_obj(const cli_ctx_t *ctx, json_t *o, const char *human)
{
    if (ctx->json)
        cli_json_print(o, false);
    else if (human)
        printf("%s\n", human);
    json_decref(o);
    return CLI_EXIT_OK;
}

static int cli_user_ls(const cli_ctx_t *ctx)
{
    json_t *list = NULL;
    int code = cli_auth_req(ctx, NULL, "GET", "/api/v1/users", NULL, &list);
    if (code != 0)
        return code;
    if (ctx->json)
        return cli_print_obj(ctx, list, NULL);
    static const char *const hdr[] = {"ID", "USERNAME", "ROLE", "STATE", "EMAIL"};
    cli_table_t *t = cli_table_new(5, hdr);
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(list, "users"), i, u)
    {
        cli_table_row_add(t);
        cli_table_cellf(t, 0, CLI_COLOR_NONE, "%lld",
                        (long long)json_integer_value(json_object_get(u, "id")));
        cli_table_cell_set(t, 1, CLI_COLOR_NONE,
                           json_string_value(json_object_get(u, "username")) ?: "");
        cli_table_cell_set(t, 2, CLI_COLOR_NONE,
                           json_string_value(json_object_get(u, "role")) ?: "");
        bool dis = json_is_true(json_object_get(u, "disabled"));
        bool locked = json_is_true(json_object_get(u, "locked"));
        bool pending = json_is_true(json_object_get(u, "pending"));
        cli_table_cell_set(t, 3,
                           pending         ? CLI_COLOR_YELLOW
                           : dis || locked ? CLI_COLOR_RED
                                           : CLI_COLOR_GREEN,
                           pending  ? "pending"
                           : dis    ? "disabled"
                           : locked ? "locked"
                                    : "active");
        const char *email = json_string_value(json_object_get(u, "email"));
        if (email && !json_is_true(json_object_get(u, "email_verified")))
            cli_table_cellf(t, 4, CLI_COLOR_NONE, "%s (unverified)", email);
        else
            cli_table_cell_set(t, 4, CLI_COLOR_NONE, email ?: "");
    }
    cli_table_print(t, stdout, ctx->color);
    cli_table_destroy(&t);
    json_decref(list);
    return CLI_EXIT_OK;
}

/* Each `user` subcommand: argv[0] is its name, its own options are taken out of argv. */
static int cli_user_ls_cmd(cli_ctx_t *ctx, int argc, char **argv)
{
    if (argc != 1) {
        cli_error("user ls takes no arguments (got '%.60s')", argv[1]);
        return CLI_EXIT_USAGE;
    }
    return cli_user_ls(ctx);
}

static int cli_user_add(cli_ctx_t *ctx, int argc, char **argv)
{
    bool from_stdin = cli_flag(&argc, argv, "--password-stdin");
    const char *role = cli_opt(&argc, argv, "--role");
    const char *email = cli_opt(&argc, argv, "--email");
    if (argc != 2 || !role) {
        cli_error("usage: user add NAME --role ROLE [--email E] [--password-stdin]");
        return CLI_EXIT_USAGE;
    }
    char pw[CLI_PW_MAX];
    json_t *out = NULL;
    if (cli_read_secret("new user's password: ", from_stdin, pw, sizeof pw) < 0)
        return CLI_EXIT_USAGE;
    json_t *b = json_pack("{s:s,s:s,s:s}", "username", argv[1], "password", pw, "role", role);
    explicit_bzero(pw, sizeof pw);
    if (email)
        json_object_set_new(b, "email", json_string(email));
    int code = cli_auth_req(ctx, NULL, "POST", "/api/v1/users", b, &out);
    json_object_clear(b);
    json_decref(b);
    if (code)
        return code;
    char msg[160];
    snprintf(msg, sizeof msg, "created user %.64s (id %lld, %s)", argv[1],
             (long long)json_integer_value(json_object_get(out, "id")), role);
    return cli_print_obj(ctx, out, msg);
}

/* PATCH /users/{id} of the user named `who` with body b (consumed); prints msg. */
static int cli_user_patch(cli_ctx_t *ctx, const char *who, json_t *b, const char *msg)
{
    long long id = cli_user_id(ctx, who);
    if (id < 0) {
        json_decref(b);
        return CLI_EXIT_FAIL;
    }
    char path[64];
    snprintf(path, sizeof path, "/api/v1/users/%lld", id);
    json_t *out = NULL;
    int code = cli_auth_req(ctx, NULL, "PATCH", path, b, &out);
    json_decref(b);
    return code ? code : cli_print_obj(ctx, out, msg);
}

static int cli_user_able(cli_ctx_t *ctx, int argc, char **argv)
{
    if (argc != 2) {
        cli_error("usage: user %s NAME", argv[0]);
        return CLI_EXIT_USAGE;
    }
    char msg[160];
    snprintf(msg, sizeof msg, "%s %sd", argv[1], argv[0]);
    return cli_user_patch(ctx, argv[1], json_pack("{s:b}", "disabled", argv[0][0] == 'd'), msg);
}

static int cli_user_role(cli_ctx_t *ctx, int argc, char **argv)
{
    if (argc != 3) {
        cli_error("usage: user role NAME ROLE");
        return CLI_EXIT_USAGE;
    }
    char msg[160];
    snprintf(msg, sizeof msg, "%s is now %s", argv[1], argv[2]);
    return cli_user_patch(ctx, argv[1], json_pack("{s:s}", "role", argv[2]), msg);
}

static int cli_user_passwd(cli_ctx_t *ctx, int argc, char **argv)
{
    bool from_stdin = cli_flag(&argc, argv, "--password-stdin");
    char pw[CLI_PW_MAX], pw2[CLI_PW_MAX];
    json_t *out = NULL;
    int code;
    if (argc > 2) {
        cli_error("usage: user passwd [NAME] [--password-stdin]");
        return CLI_EXIT_USAGE;
    }
    if (argc == 2) {
        long long id = cli_user_id(ctx, argv[1]);
        if (id < 0)
            return CLI_EXIT_FAIL;
        if (cli_read_secret("temporary password: ", from_stdin, pw, sizeof pw) < 0)
            return CLI_EXIT_USAGE;
        char path[80];
        snprintf(path, sizeof path, "/api/v1/users/%lld/password", id);
        json_t *b = json_pack("{s:s}", "password", pw);
        explicit_bzero(pw, sizeof pw);
        code = cli_auth_req(ctx, NULL, "POST", path, b, &out);
        json_object_clear(b);
        json_decref(b);
        return code ? code
                    : cli_print_obj(ctx, out,
                                    "password reset; it must be changed at the next login");
    }
    if (cli_read_secret("current password: ", from_stdin, pw, sizeof pw) < 0 ||
        cli_read_secret("new password: ", from_stdin, pw2, sizeof pw2) < 0) {
        explicit_bzero(pw, sizeof pw);
        return CLI_EXIT_USAGE;
    }
    json_t *b = json_pack("{s:s,s:s}", "current_password", pw, "new_password", pw2);
    explicit_bzero(pw, sizeof pw);
    explicit_bzero(pw2, sizeof pw2);
    code = cli_auth_req(ctx, NULL, "POST", "/api/v1/auth/password", b, NULL);
    json_object_clear(b);
    json_decref(b);
    if (code == 0 && !ctx->json)
        printf("password changed; other sessions were signed out\n");
    return code;
}

static int cli_user_approve(cli_ctx_t *ctx, int argc, char **argv)
{
    if (argc != 2) {
        cli_error("usage: user approve NAME");
        return CLI_EXIT_USAGE;
    }
    long long id = cli_user_id(ctx, argv[1]);
    if (id < 0)
        return CLI_EXIT_FAIL;
    char path[80], msg[160];
    snprintf(path, sizeof path, "/api/v1/users/%lld/approve", id);
    snprintf(msg, sizeof msg, "%.64s approved; they can sign in now", argv[1]);
    json_t *out = NULL;
    int code = cli_auth_req(ctx, NULL, "POST", path, NULL, &out);
    return code ? code : cli_print_obj(ctx, out, msg);
}

static int cli_user_reset_token(cli_ctx_t *ctx, int argc, char **argv)
{
    if (argc != 2) {
        cli_error("usage: user reset-token NAME");
        return CLI_EXIT_USAGE;
    }
    long long id = cli_user_id(ctx, argv[1]);
    if (id < 0)
        return CLI_EXIT_FAIL;
    char path[80];
    snprintf(path, sizeof path, "/api/v1/users/%lld/reset-token", id);
    json_t *out = NULL;
    int code = cli_auth_req(ctx, NULL, "POST", path, NULL, &out);
    if (code)
        return code;
    if (ctx->json)
        return cli_print_obj(ctx, out, NULL);
    printf("token:      %s\nexpires_at: %s\n",
           json_string_value(json_object_get(out, "token")) ?: "",
           json_string_value(json_object_get(out, "expires_at")) ?: "");
    fprintf(stderr,
            "give it to %.64s; it sets a new password once (POST /api/v1/auth/password-reset/"
            "confirm) and is shown only now\n",
            argv[1]);
    json_decref(out);
    return CLI_EXIT_OK;
}

static int cli_user_invite(cli_ctx_t *ctx, int argc, char **argv)
{
    const char *ttl = cli_opt(&argc, argv, "--ttl");
    char *end = NULL;
    long long t = ttl ? strtoll(ttl, &end, 10) : 0;
    if (argc != 1 || (ttl && (*end || t < 60))) {
        cli_error("usage: user invite [--ttl SECONDS] (at least 60)");
        return CLI_EXIT_USAGE;
    }
    json_t *b = ttl ? json_pack("{s:I}", "ttl_s", (json_int_t)t) : json_object();
    json_t *out = NULL;
    int code = cli_auth_req(ctx, NULL, "POST", "/api/v1/invites", b, &out);
    json_decref(b);
    if (code)
        return code;
    if (ctx->json)
        return cli_print_obj(ctx, out, NULL);
    printf("code:       %s\nexpires_at: %s\n",
           json_string_value(json_object_get(out, "code")) ?: "",
           json_string_value(json_object_get(out, "expires_at")) ?: "");
    fprintf(stderr, "one registration (POST /api/v1/auth/register with invite); shown only now\n");
    json_decref(out);
    return CLI_EXIT_OK;
}

/* `user reset-password` and `user verify-email`: what the holder of a mailed or handed-over
 * token does with it. No credential is sent (the token is the credential). */
static int cli_user_reset_password(cli_ctx_t *ctx, int argc, char **argv)
{
    bool from_stdin = cli_flag(&argc, argv, "--password-stdin");
    const char *login = cli_opt(&argc, argv, "--request");
    const char *token = argc == 2 ? argv[1] : NULL;
    if (argc > 2 || (!token) == (!login)) {
        cli_error("usage: user reset-password TOKEN [--password-stdin] | --request LOGIN");
        return CLI_EXIT_USAGE;
    }
    json_t *out = NULL;
    if (login) {
        json_t *b = json_pack("{s:s}", "login", login);
        int code = cli_auth_req(ctx, "", "POST", "/api/v1/auth/password-reset", b, &out);
        json_decref(b);
        return code ? code
                    : cli_print_obj(ctx, out,
                                    "if the account exists and has an e-mail address, a reset "
                                    "token is on its way");
    }
    char pw[CLI_PW_MAX];
    if (cli_read_secret("new password: ", from_stdin, pw, sizeof pw) < 0)
        return CLI_EXIT_USAGE;
    json_t *b = json_pack("{s:s,s:s}", "token", token, "new_password", pw);
    explicit_bzero(pw, sizeof pw);
    int code = cli_auth_req(ctx, "", "POST", "/api/v1/auth/password-reset/confirm", b, NULL);
    json_object_clear(b);
    json_decref(b);
    if (code == 0 && !ctx->json)
        printf("password set; every earlier session was signed out\n");
    return code;
}

static int cli_user_verify_email(cli_ctx_t *ctx, int argc, char **argv)
{
    const char *token = argc == 2 ? argv[1] : NULL;
    json_t *out = NULL;
    int code;
    if (argc > 2) {
        cli_error("usage: user verify-email [TOKEN]");
        return CLI_EXIT_USAGE;
    }
    if (!token) { /* ask for a mail to one's own address (the stored session) */
        code = cli_auth_req(ctx, NULL, "POST", "/api/v1/auth/email-verification", NULL, &out);
        return code ? code : cli_print_obj(ctx, out, "a verification token is on its way");
    }
    json_t *b = json_pack("{s:s}", "token", token);
    code = cli_auth_req(ctx, "", "POST", "/api/v1/auth/email-verification/confirm", b, &out);
    json_decref(b);
    char msg[320];
    snprintf(msg, sizeof msg, "%.254s is verified",
             out ? json_string_value(json_object_get(out, "email")) ?: "" : "");
    return code ? code : cli_print_obj(ctx, out, msg);
}

static const cli_cmd_t cli_user_cmds[] = {
    {"add", "create a user: NAME --role ROLE [--email E] [--password-stdin]",
     "NAME --role ROLE [--email E] [--password-stdin]\n\n"
     "Creates a user; the password is asked without echo.\n\noptions:\n"
     "  --role ROLE         admin, operator, viewer or agent\n"
     "  --email E           a contact address\n"
     "  --password-stdin    read the password as one line from stdin\n",
     cli_user_add},
    {"ls", "list users", "\n\nLists users with their role and state.\n", cli_user_ls_cmd},
    {"disable", "refuse a user's sign-ins and revoke their sessions: NAME",
     "NAME\n\nDisables the user.\n", cli_user_able},
    {"enable", "allow a disabled user again: NAME", "NAME\n\nEnables the user again.\n",
     cli_user_able},
    {"role", "change a user's role: NAME ROLE",
     "NAME ROLE\n\nRoles: admin, operator, viewer, agent.\n", cli_user_role},
    {"passwd", "change your password, or set a temporary one: [NAME]",
     "[NAME] [--password-stdin]\n\n"
     "Alone, changes your own password (of the stored session); with NAME an admin sets a\n"
     "temporary one that must be changed at the next login.\n\noptions:\n"
     "  --password-stdin    read one line per password asked from stdin\n",
     cli_user_passwd},
    {"reset-token", "issue a single-use password-reset token for a user: NAME",
     "NAME\n\nPrints a token (valid auth.reset_ttl_s) with which NAME sets a new password once\n"
     "(POST /api/v1/auth/password-reset/confirm); every session of NAME then ends.\n",
     cli_user_reset_token},
    {"approve", "let a self-registered account waiting for approval sign in: NAME",
     "NAME\n\nApproves an account created by self-registration (auth.registration =\n"
     "approval); `user ls` shows it as pending until then.\n",
     cli_user_approve},
    {"invite", "create an invitation code for self-registration: [--ttl SECONDS]",
     "[--ttl SECONDS]\n\nPrints a code that lets one person register a viewer account\n"
     "(auth.registration = invite).\n\noptions:\n"
     "  --ttl SECONDS       how long the code stays valid (default auth.invite_ttl_s)\n",
     cli_user_invite},
    {"reset-password", "set a new password with a reset token, or ask for one by mail",
     "TOKEN [--password-stdin] | --request LOGIN\n\n"
     "With TOKEN (gpr_...), sets a new password (asked without echo) with a token from an\n"
     "admin (`user reset-token`) or from the reset mail; every session of the account ends.\n"
     "With --request, asks for that mail for the username or e-mail address LOGIN.\n\n"
     "options:\n"
     "  --request LOGIN     mail a token to the account named (same answer if there is none)\n"
     "  --password-stdin    read the new password as one line from stdin\n",
     cli_user_reset_password},
    {"verify-email", "confirm an e-mail address with its token, or ask for the mail",
     "[TOKEN]\n\nWith TOKEN (gev_...), confirms the address the token was mailed to;\n"
     "without, asks for a verification mail to the signed-in user's address.\n",
     cli_user_verify_email},
};

const cli_group_t cli_user_group = {"user", cli_user_cmds,
                                    sizeof cli_user_cmds / sizeof cli_user_cmds[0]};

int cli_cmd_user(cli_ctx_t *ctx, int argc, char **argv)
{
    return cli_group_run(ctx, &cli_user_group, NULL, argc, argv);
}

/* ---- keys ------------------------------------------------------------------------------- */

static int cli_key_secret_out(const cli_ctx_t *ctx, json_t *out)
{
    if (ctx->json)
        return cli_print_obj(ctx, out, NULL);
    printf("id:     %lld\nname:   %s\nrole:   %s\nsecret: %s\n",
           (long long)json_integer_value(json_object_get(out, "id")),
           json_string_value(json_object_get(out, "name")) ?: "",
           json_string_value(json_object_get(out, "role")) ?: "",
           json_string_value(json_object_get(out, "secret")) ?: "");
    fprintf(stderr, "the secret is shown only now\n");
    json_decref(out);
    return CLI_EXIT_OK;
}

static int cli_key_create(cli_ctx_t *ctx, int argc, char **argv)
{
    const char *role = cli_opt(&argc, argv, "--role");
    const char *expires = cli_opt(&argc, argv, "--expires");
    const char *rl = cli_opt(&argc, argv, "--rate-limit");
    json_t *scopes = json_array();
    const char *sc;
    while ((sc = cli_opt(&argc, argv, "--scope")))
        json_array_append_new(scopes, json_string(sc));
    if (argc != 2) {
        json_decref(scopes);
        cli_error("usage: key create NAME [--role ROLE] [--scope SCOPE]... [--expires RFC3339] "
                  "[--rate-limit N]");
        return CLI_EXIT_USAGE;
    }
    json_t *out = NULL;
    json_t *b = json_pack("{s:s}", "name", argv[1]);
    if (role)
        json_object_set_new(b, "role", json_string(role));
    if (json_array_size(scopes))
        json_object_set(b, "scopes", scopes);
    if (expires)
        json_object_set_new(b, "expires_at", json_string(expires));
    if (rl)
        json_object_set_new(b, "rate_limit", json_integer(strtoll(rl, NULL, 10)));
    int code = cli_auth_req(ctx, NULL, "POST", "/api/v1/keys", b, &out);
    json_decref(b);
    json_decref(scopes);
    return code ? code : cli_key_secret_out(ctx, out);
}

static int cli_key_ls(cli_ctx_t *ctx, int argc, char **argv)
{
    if (argc != 1) {
        cli_error("key ls takes no arguments (got '%.60s')", argv[1]);
        return CLI_EXIT_USAGE;
    }
    json_t *out = NULL;
    int code =
        cli_auth_req(ctx, NULL, "GET", "/api/v1/keys?include_revoked=true&limit=1000", NULL, &out);
    if (code || ctx->json)
        return code ? code : cli_print_obj(ctx, out, NULL);
    static const char *const hdr[] = {"ID",    "NAME",    "ROLE",      "SCOPES",
                                      "STATE", "EXPIRES", "CREATED BY"};
    cli_table_t *t = cli_table_new(7, hdr);
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(out, "keys"), i, k)
    {
        cli_table_row_add(t);
        cli_table_cellf(t, 0, CLI_COLOR_NONE, "%lld",
                        (long long)json_integer_value(json_object_get(k, "id")));
        cli_table_cell_set(t, 1, CLI_COLOR_NONE,
                           json_string_value(json_object_get(k, "name")) ?: "");
        cli_table_cell_set(t, 2, CLI_COLOR_NONE,
                           json_string_value(json_object_get(k, "role")) ?: "");
        json_t *s = json_object_get(k, "scopes");
        char *st = json_is_array(s) ? json_dumps(s, JSON_COMPACT) : NULL;
        cli_table_cell_set(t, 3, CLI_COLOR_NONE, st ? st : "(role)");
        free(st);
        bool rev = json_is_true(json_object_get(k, "revoked"));
        cli_table_cell_set(t, 4, rev ? CLI_COLOR_RED : CLI_COLOR_GREEN, rev ? "revoked" : "active");
        cli_table_cell_set(t, 5, CLI_COLOR_NONE,
                           json_string_value(json_object_get(k, "expires_at")) ?: "never");
        cli_table_cell_set(t, 6, CLI_COLOR_NONE,
                           json_string_value(json_object_get(k, "created_by")) ?: "");
    }
    cli_table_print(t, stdout, ctx->color);
    cli_table_destroy(&t);
    json_decref(out);
    return CLI_EXIT_OK;
}

/* `key revoke ID` and `key rotate ID`. */
static int cli_key_by_id(cli_ctx_t *ctx, int argc, char **argv)
{
    const char *sub = argv[0];
    if (argc != 2) {
        cli_error("usage: key %s ID", sub);
        return CLI_EXIT_USAGE;
    }
    char *end = NULL;
    long long id = strtoll(argv[1], &end, 10);
    if (!end || *end || id <= 0) {
        cli_error("a key is named by its numeric id (see ganglion key ls)");
        return CLI_EXIT_USAGE;
    }
    char path[80];
    json_t *out = NULL;
    int code;
    if (strcmp(sub, "revoke") == 0) {
        snprintf(path, sizeof path, "/api/v1/keys/%lld", id);
        code = cli_auth_req(ctx, NULL, "DELETE", path, NULL, NULL);
        if (code == 0 && !ctx->json)
            printf("key %lld revoked\n", id);
        return code;
    }
    snprintf(path, sizeof path, "/api/v1/keys/%lld/rotate", id);
    code = cli_auth_req(ctx, NULL, "POST", path, NULL, &out);
    return code ? code : cli_key_secret_out(ctx, out);
}

static const cli_cmd_t cli_key_cmds[] = {
    {"create", "create an API key: NAME [--role R] [--scope S]... [--expires T]",
     "NAME [--role ROLE] [--scope SCOPE]... [--expires RFC3339] [--rate-limit N]\n\n"
     "Creates an API key. The secret (gk_...) is printed once; store it then.\n\noptions:\n"
     "  --role ROLE         the key's role (default: yours)\n"
     "  --scope SCOPE       narrow the key to a scope (repeatable)\n"
     "  --expires RFC3339   when the key stops working\n"
     "  --rate-limit N      requests per second allowed to the key\n",
     cli_key_create},
    {"ls", "list API keys", "\n\nLists API keys (never their secrets).\n", cli_key_ls},
    {"revoke", "revoke a key: ID", "ID\n\nRevokes the key at once.\n", cli_key_by_id},
    {"rotate", "replace a key's secret: ID",
     "ID\n\nReplaces the key's secret and prints the new one once.\n", cli_key_by_id},
};

const cli_group_t cli_key_group = {"key", cli_key_cmds,
                                   sizeof cli_key_cmds / sizeof cli_key_cmds[0]};

int cli_cmd_key(cli_ctx_t *ctx, int argc, char **argv)
{
    return cli_group_run(ctx, &cli_key_group, NULL, argc, argv);
}

/* ---- audit ------------------------------------------------------------------------------ */

static void cli_qs_add(char *q, size_t len, const char *name, const char *val)
{
    if (!val)
        return;
    size_t n = strlen(q);
    snprintf(q + n, len - n, "%s%s=", n ? "&" : "?", name);
    n = strlen(q);
    for (const unsigned char *p = (const unsigned char *)val; *p && n + 4 < len; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-_.~:", *p))
            q[n++] = (char)*p;
        else
            n += (size_t)snprintf(q + n, len - n, "%%%02X", *p);
    }
    q[n] = 0;
}

int cli_cmd_audit(cli_ctx_t *ctx, int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: %s audit [--principal P] [--action A] [--since RFC3339] [--until RFC3339]\n"
               "                  [--limit N]\n\nThe audit log, newest first.\n",
               ctx->prog);
        return CLI_EXIT_OK;
    }
    char q[2048] = "";
    cli_qs_add(q, sizeof q, "principal", cli_opt(&argc, argv, "--principal"));
    cli_qs_add(q, sizeof q, "action", cli_opt(&argc, argv, "--action"));
    cli_qs_add(q, sizeof q, "since", cli_opt(&argc, argv, "--since"));
    cli_qs_add(q, sizeof q, "until", cli_opt(&argc, argv, "--until"));
    cli_qs_add(q, sizeof q, "limit", cli_opt(&argc, argv, "--limit"));
    if (argc > 1) {
        cli_error("unexpected argument '%.60s' (see %s audit --help)", argv[1], ctx->prog);
        return CLI_EXIT_USAGE;
    }
    char path[2200];
    snprintf(path, sizeof path, "/api/v1/audit%s", q);
    json_t *out = NULL;
    int code = cli_auth_req(ctx, NULL, "GET", path, NULL, &out);
    if (code || ctx->json)
        return code ? code : cli_print_obj(ctx, out, NULL);
    static const char *const hdr[] = {"TIME", "PRINCIPAL", "ACTION", "RESULT", "PEER"};
    cli_table_t *t = cli_table_new(5, hdr);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(out, "entries"), i, e)
    {
        cli_table_row_add(t);
        cli_table_cell_set(t, 0, CLI_COLOR_NONE, json_string_value(json_object_get(e, "ts")) ?: "");
        cli_table_cell_set(t, 1, CLI_COLOR_NONE,
                           json_string_value(json_object_get(e, "principal")) ?: "");
        cli_table_cell_set(t, 2, CLI_COLOR_NONE,
                           json_string_value(json_object_get(e, "action")) ?: "");
        json_int_t r = json_integer_value(json_object_get(e, "result"));
        cli_table_cellf(t, 3, r >= 400 ? CLI_COLOR_RED : CLI_COLOR_NONE, "%lld", (long long)r);
        cli_table_cell_set(t, 4, CLI_COLOR_NONE,
                           json_string_value(json_object_get(e, "peer")) ?: "");
    }
    cli_table_print(t, stdout, ctx->color);
    cli_table_destroy(&t);
    json_decref(out);
    return CLI_EXIT_OK;
}
