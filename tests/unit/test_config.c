/* Unit tests for configuration: defaults, the INI file, environment, precedence, value checks
 * and the exact wording of errors (file, line, key, reason), which users and scripts rely on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"

/* Writes text to a fresh temp file; the path is returned in path (at least 64 bytes). */
static void write_ini(char *path, const char *text)
{
    strcpy(path, "/tmp/ganglion-test-XXXXXX.ini");
    int fd = mkstemps(path, 4);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

/* envp arrays need char *; string literals are const here, so copy them. */
static char **mkenv(const char *const *src)
{
    size_t n = 0;
    while (src[n])
        n++;
    char **env = calloc(n + 1, sizeof *env);
    assert_non_null(env);
    for (size_t i = 0; i < n; i++)
        env[i] = strdup(src[i]);
    return env;
}

static void freeenv(char **env)
{
    for (size_t i = 0; env[i]; i++)
        free(env[i]);
    free(env);
}

static int load_env(config_t *cfg, const char *const *src, char *err, size_t errlen)
{
    char **env = mkenv(src);
    int rc = config_load_env(cfg, env, err, errlen);
    freeenv(env);
    return rc;
}

/* Loads text as an INI file; returns the rc and leaves the message in err. */
static int load_text(config_t *cfg, const char *text, char *err, size_t errlen, char *path_out)
{
    char path[64];
    write_ini(path, text);
    int rc = config_load_file(cfg, path, err, errlen);
    if (path_out)
        strcpy(path_out, path);
    unlink(path);
    return rc;
}

static void test_defaults(void **state)
{
    (void)state;
    config_t c;
    char err[256];
    config_defaults(&c);
    assert_string_equal(c.listen, "127.0.0.1:7700");
    assert_string_equal(c.data_dir, "./var");
    assert_int_equal(c.body_limit, 1048576);
    assert_int_equal(c.json_max_depth, 64);
    assert_int_equal(c.max_connections, 1024);
    assert_int_equal(c.connection_timeout_s, 30);
    assert_int_equal(c.shutdown_grace_ms, 5000);
    assert_int_equal(c.compress_min_bytes, 8192);
    assert_string_equal(c.cors_origins, "");
    assert_string_equal(c.log_level, "info");
    assert_string_equal(c.log_file, "");
    assert_string_equal(c.store_url, "");
    assert_int_equal(c.store_pool_size, 4);
    assert_int_equal(c.store_busy_timeout_ms, 5000);
    assert_int_equal(c.store_sqlite_cache_kb, 2000);
    assert_int_equal(c.events_ring, 1024);
    assert_int_equal(c.events_client_queue, 256);
    assert_int_equal(c.events_heartbeat_s, 15);
    assert_int_equal(c.audit_page_max, 1000);
    assert_int_equal(config_validate(&c, err, sizeof err), 0);
}

static void test_file_good(void **state)
{
    (void)state;
    config_t c;
    char err[256] = "";
    config_defaults(&c);
    int rc = load_text(&c,
                       "; comment\n"
                       "# another comment\n"
                       "[server]\n"
                       "listen = 0.0.0.0:8080\n"
                       "  body_limit = 512k   ; indented, with an inline comment\n"
                       "json_max_depth=32\n"
                       "cors_origins = https://a.example, http://b.example:3000\n"
                       "\n"
                       "[ log ]\n"
                       "level = debug\n"
                       "file = /tmp/ganglion.log\n"
                       "[store]\n"
                       "url = sqlite:/tmp/x.db\n"
                       "[events]\n"
                       "heartbeat_s = 5\n"
                       "[audit]\n"
                       "page_max = 50\n",
                       err, sizeof err, NULL);
    if (rc != 0)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    assert_string_equal(c.listen, "0.0.0.0:8080");
    assert_int_equal(c.body_limit, 512 * 1024);
    assert_int_equal(c.json_max_depth, 32);
    assert_string_equal(c.cors_origins, "https://a.example, http://b.example:3000");
    assert_string_equal(c.log_level, "debug");
    assert_string_equal(c.log_file, "/tmp/ganglion.log");
    assert_string_equal(c.store_url, "sqlite:/tmp/x.db");
    assert_int_equal(c.events_heartbeat_s, 5);
    assert_int_equal(c.audit_page_max, 50);
    /* untouched keys keep their defaults */
    assert_int_equal(c.max_connections, 1024);
}

static void test_file_bad_value(void **state)
{
    (void)state;
    config_t c;
    char err[256], path[64], want[256];
    config_defaults(&c);
    int rc = load_text(&c, "[server]\nlisten = 127.0.0.1:1\n\nbody_limit = 12Q\n", err, sizeof err,
                       path);
    assert_int_equal(rc, -1);
    snprintf(want, sizeof want,
             "%s:4: server.body_limit: \"12Q\" is not a size (e.g. 1048576, 512k, 1M)", path);
    assert_string_equal(err, want);
    /* a failed load changes nothing, not even keys before the bad line */
    assert_string_equal(c.listen, "127.0.0.1:7700");

    rc = load_text(&c, "[server]\njson_max_depth = 0\n", err, sizeof err, path);
    assert_int_equal(rc, -1);
    snprintf(want, sizeof want, "%s:2: server.json_max_depth: \"0\" is out of range (1..512)",
             path);
    assert_string_equal(err, want);

    rc = load_text(&c, "[server]\nbody_limit = 128M\n", err, sizeof err, path);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, ":2: server.body_limit: \"128M\" is out of range (1k..64M)"));

    rc = load_text(&c, "[log]\nlevel = verbose\n", err, sizeof err, path);
    assert_int_equal(rc, -1);
    assert_non_null(
        strstr(err, ":2: log.level: \"verbose\" is not one of debug, info, warn, error, off"));

    rc = load_text(&c, "[server]\nmax_connections = 12abc\n", err, sizeof err, path);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, ":2: server.max_connections: \"12abc\" is not an integer"));

    rc = load_text(&c, "[server]\nlisten = localhost\n", err, sizeof err, path);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, ":2: server.listen: \"localhost\" is not HOST:PORT"));

    rc = load_text(&c, "[store]\nurl = mysql://x\n", err, sizeof err, path);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, ":2: store.url: \"mysql://x\" is not a store URL"));

    rc = load_text(&c, "[server]\nthis line has no equals sign\n", err, sizeof err, path);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, ":2: expected \"key = value\" or \"[section]\""));

    rc = load_text(&c, "listen = 1.2.3.4:5\n", err, sizeof err, path);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, ":1: key \"listen\" is outside a section"));

    rc = config_load_file(&c, "/nonexistent/ganglion.ini", err, sizeof err);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "/nonexistent/ganglion.ini: cannot open"));
}

static void test_unknown_key_and_section(void **state)
{
    (void)state;
    config_t c;
    char err[256], path[64], want[256];
    config_defaults(&c);
    int rc = load_text(&c, "[server]\n\n\n\n\n\nlisen = 1.2.3.4:5\n", err, sizeof err, path);
    assert_int_equal(rc, -1);
    snprintf(want, sizeof want,
             "%s:7: unknown key \"server.lisen\" (did you mean \"server.listen\"?)", path);
    assert_string_equal(err, want);

    /* right key, wrong section */
    rc = load_text(&c, "[log]\nlisten = 1.2.3.4:5\n", err, sizeof err, path);
    assert_int_equal(rc, -1);
    assert_non_null(
        strstr(err, ":2: unknown key \"log.listen\" (did you mean \"server.listen\"?)"));

    /* nothing close: no suggestion */
    rc = load_text(&c, "[server]\nfrobnicate = 1\n", err, sizeof err, path);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, ":2: unknown key \"server.frobnicate\""));
    assert_null(strstr(err, "did you mean"));

    /* unknown sections are errors even when empty */
    rc = load_text(&c, "[server]\nlisten = 1.2.3.4:5\n[sever]\n", err, sizeof err, path);
    assert_int_equal(rc, -1);
    snprintf(want, sizeof want, "%s:3: unknown section \"sever\" (did you mean \"[server]\"?)",
             path);
    assert_string_equal(err, want);

    rc = load_text(&c, "[zzzzzzzz]\na = b\n", err, sizeof err, path);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, ":1: unknown section \"zzzzzzzz\""));
    assert_string_equal(c.listen, "127.0.0.1:7700");
}

/* Every section a key belongs to can be written in a file: [mqtt] url = … is read, not refused. */
static void test_every_section_is_known(void **state)
{
    (void)state;
    const char *missing = NULL;
    int rc = config_sections_check(&missing);
    if (rc != 0)
        fail_msg("section [%s] has keys but is not in config_sections[]", missing);
    config_t cfg;
    config_defaults(&cfg);
    char path[] = "/tmp/ganglion-cfg-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] =
        "[mqtt]\nprefix = edge\n[websocket]\nidle_s = 60\n[vault]\ncron = 0 3 * * *\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    char err[256] = "";
    assert_int_equal(config_load_file(&cfg, path, err, sizeof err), 0);
    unlink(path);
    assert_string_equal(cfg.mqtt_prefix, "edge");
    assert_int_equal(cfg.ws_idle_s, 60);
}

static void test_long_values(void **state)
{
    (void)state;
    config_t c;
    char err[256];
    config_defaults(&c);
    char big[CONFIG_STR_MAX + 10];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(config_set(&c, "server", "data_dir", big, "--data-dir", 0, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "--data-dir: server.data_dir: \""));
    assert_non_null(strstr(err, "...\" is too long (max 511 bytes)"));
    assert_string_equal(c.data_dir, "./var");

    /* exactly at the limit fits */
    big[CONFIG_STR_MAX - 1] = '\0';
    assert_int_equal(config_set(&c, "server", "data_dir", big, "--data-dir", 0, err, sizeof err),
                     0);
    assert_int_equal(strlen(c.data_dir), CONFIG_STR_MAX - 1);

    assert_int_equal(config_set(&c, "server", "data_dir", "a\nb", NULL, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "control character"));

    /* a file line longer than the parser's buffer is an error, never a silent cut */
    char text[1200];
    snprintf(text, sizeof text, "[server]\ndata_dir = %.1000s\n", big);
    assert_int_equal(load_text(&c, text, err, sizeof err, NULL), -1);
    assert_non_null(strstr(err, ":2: line is too long"));
}

static void test_env(void **state)
{
    (void)state;
    config_t c;
    char err[256];
    config_defaults(&c);
    const char *const env_src[] = {"PATH=/bin",
                                   "GANGLION_SERVER_LISTEN=[::1]:9000",
                                   "GANGLION_STORE_URL=postgres://u:pw@db/x",
                                   "GANGLION_LOG_LEVEL=warn",
                                   "GANGLION_SERVER_BODY_LIMIT=2M",
                                   "GANGLION_URL=http://127.0.0.1:7700",
                                   "GANGLION_TOKEN=abc",
                                   "GANGLION_ADMIN_PASSWORD=secret",
                                   "GANGLION_TEST_PG_URL=postgres://x",
                                   "GANGLION_CONFIG=/etc/ganglion.ini",
                                   NULL};
    assert_int_equal(load_env(&c, env_src, err, sizeof err), 0);
    assert_string_equal(c.listen, "[::1]:9000");
    assert_string_equal(c.store_url, "postgres://u:pw@db/x");
    assert_string_equal(c.log_level, "warn");
    assert_int_equal(c.body_limit, 2 * 1024 * 1024);

    const char *const bad_src[] = {"GANGLION_SERVER_LISEN=1.2.3.4:5", NULL};
    assert_int_equal(load_env(&c, bad_src, err, sizeof err), -1);
    assert_string_equal(err, "GANGLION_SERVER_LISEN: unknown configuration variable (did you mean "
                             "GANGLION_SERVER_LISTEN?)");

    const char *const bad2_src[] = {"GANGLION_DATA_DIR=/x", NULL};
    assert_int_equal(load_env(&c, bad2_src, err, sizeof err), -1);
    assert_non_null(strstr(err, "GANGLION_DATA_DIR: unknown configuration variable (did you mean "
                                "GANGLION_SERVER_DATA_DIR?)"));

    const char *const bad3_src[] = {"GANGLION_LOG_LEVEL=debug", "GANGLION_EVENTS_RING=0", NULL};
    assert_int_equal(load_env(&c, bad3_src, err, sizeof err), -1);
    assert_string_equal(err,
                        "GANGLION_EVENTS_RING: events.ring: \"0\" is out of range (1..1048576)");
    /* all or nothing */
    assert_string_equal(c.log_level, "warn");

    /* lower-case names are not ours */
    const char *const other_src[] = {"ganglion_server_listen=x", NULL};
    assert_int_equal(load_env(&c, other_src, err, sizeof err), 0);
}

static void test_precedence(void **state)
{
    (void)state;
    config_t c;
    char err[256];
    config_defaults(&c);
    assert_int_equal(load_text(&c,
                               "[server]\nlisten = 10.0.0.1:1000\ndata_dir = /file\n"
                               "max_connections = 7\n",
                               err, sizeof err, NULL),
                     0);
    const char *const env_src[] = {"GANGLION_SERVER_LISTEN=10.0.0.2:2000",
                                   "GANGLION_SERVER_DATA_DIR=/env", NULL};
    assert_int_equal(load_env(&c, env_src, err, sizeof err), 0);
    assert_int_equal(
        config_set(&c, "server", "listen", "10.0.0.3:3000", "--listen", 0, err, sizeof err), 0);
    assert_string_equal(c.listen, "10.0.0.3:3000"); /* flag beats env and file */
    assert_string_equal(c.data_dir, "/env");        /* env beats file */
    assert_int_equal(c.max_connections, 7);         /* file beats default */

    assert_int_equal(config_set(&c, "server", "listen", "nope", "--listen", 0, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "--listen: server.listen: \"nope\" is not HOST:PORT"));
}

static void test_sizes(void **state)
{
    (void)state;
    config_t c;
    char err[256];
    config_defaults(&c);
    struct {
        const char *in;
        int64_t want;
    } ok[] = {{"1048576", 1048576}, {"512k", 524288},  {"512K", 524288},
              {"1M", 1048576},      {"64M", 67108864}, {"1k", 1024}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_int_equal(config_set(&c, "server", "body_limit", ok[i].in, NULL, 0, err, sizeof err),
                         0);
        assert_int_equal(c.body_limit, ok[i].want);
    }
    const char *bad[] = {"",    "M",
                         "1MB", "1.5M",
                         "-1",  " 1M",
                         "1 M", "99999999999999999999",
                         "1T",  "9999999999999999G"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(config_set(&c, "server", "body_limit", bad[i], NULL, 0, err, sizeof err),
                         -1);
    assert_int_equal(config_set(&c, "server", "compress_min_bytes", "0", NULL, 0, err, sizeof err),
                     0);
    assert_int_equal(c.compress_min_bytes, 0);
    assert_int_equal(config_set(&c, "server", "body_limit", "1023", NULL, 0, err, sizeof err), -1);
    assert_string_equal(err, "server.body_limit: \"1023\" is out of range (1k..64M)");
}

static void test_listen(void **state)
{
    (void)state;
    char host[256];
    int port = -1;
    assert_int_equal(config_split_hostport("127.0.0.1:7700", host, sizeof host, &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 7700);
    assert_int_equal(config_split_hostport("[::1]:0", host, sizeof host, &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 0);
    assert_int_equal(config_split_hostport("[fe80::1:2]:65535", host, sizeof host, &port), 0);
    assert_string_equal(host, "fe80::1:2");
    assert_int_equal(port, 65535);
    assert_int_equal(config_split_hostport("localhost:80", host, sizeof host, &port), 0);
    assert_string_equal(host, "localhost");
    assert_int_equal(config_split_hostport("my-host.example.com:443", host, sizeof host, &port), 0);

    const char *bad[] = {
        "",          ":7700", "127.0.0.1",  "127.0.0.1:",   "1.2.3.4:65536", "::1:7700",
        "[::1]7700", "[::1]", "[zz::1]:80", "999.1.1.1:80", "-bad.host:80",  "host_name:80",
        "h:+80",     "h:-1",  "h:8080x",    "[1.2.3.4]:80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(config_split_hostport(bad[i], host, sizeof host, &port), -1);
    /* host buffer too small */
    char tiny[4];
    assert_int_equal(config_split_hostport("localhost:80", tiny, sizeof tiny, &port), -1);

    config_t c;
    char err[256];
    config_defaults(&c);
    assert_int_equal(config_set(&c, "server", "listen", "::1:80", "f", 3, err, sizeof err), -1);
    assert_string_equal(err, "f:3: server.listen: \"::1:80\" has an IPv6 host without brackets "
                             "(write [::1]:PORT)");
    assert_int_equal(config_set(&c, "server", "listen", "h:70000", NULL, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "port 70000, out of range (0..65535)"));
}

static void test_render_masks(void **state)
{
    (void)state;
    config_t c;
    char err[256];
    config_defaults(&c);
    assert_int_equal(config_set(&c, "store", "url", "postgres://user:hunter2@db.example:5432/gang",
                                NULL, 0, err, sizeof err),
                     0);
    char *out = config_render(&c);
    assert_non_null(out);
    assert_null(strstr(out, "hunter2"));
    assert_non_null(strstr(out, "\nurl = postgres://user:***@db.example:5432/gang\n"));
    assert_non_null(strstr(out, "[server]\n"));
    assert_non_null(strstr(out, "\nlisten = 127.0.0.1:7700\n"));
    assert_non_null(strstr(out, "\nbody_limit = 1048576\n"));
    assert_non_null(strstr(out, "\nlevel = info\n"));
    assert_non_null(strstr(out, "\npage_max = 1000\n"));

    /* the rendered text loads back to the same configuration */
    config_t back;
    config_defaults(&back);
    assert_int_equal(config_set(&c, "store", "url", "sqlite:/tmp/a.db", NULL, 0, err, sizeof err),
                     0);
    assert_int_equal(
        config_set(&c, "server", "cors_origins", "https://a, https://b", NULL, 0, err, sizeof err),
        0);
    free(out);
    out = config_render(&c);
    assert_int_equal(load_text(&back, out, err, sizeof err, NULL), 0);
    char *again = config_render(&back);
    assert_string_equal(again, out);
    free(again);
    free(out);

    /* a password as a query parameter, and errors never echo it either */
    assert_int_equal(config_set(&c, "store", "url", "postgresql://db/x?user=u&password=pw&ssl=1",
                                NULL, 0, err, sizeof err),
                     0);
    out = config_render(&c);
    assert_non_null(strstr(out, "url = postgresql://db/x?user=u&password=***&ssl=1\n"));
    free(out);
    assert_int_equal(
        config_set(&c, "store", "url", "postgre://u:topsecret@h/d", NULL, 0, err, sizeof err), -1);
    assert_null(strstr(err, "topsecret"));
    assert_non_null(strstr(err, "postgre://u:***@h/d"));
}

static void test_validate(void **state)
{
    (void)state;
    config_t c;
    char err[256];
    config_defaults(&c);
    assert_int_equal(config_validate(&c, err, sizeof err), 0);

    c.events_heartbeat_s = 30;
    assert_int_equal(config_validate(&c, err, sizeof err), -1);
    assert_string_equal(err, "events.heartbeat_s (30) must be less than "
                             "server.connection_timeout_s (30)");

    config_defaults(&c);
    c.json_max_depth = 0; /* written directly, bypassing config_set */
    assert_int_equal(config_validate(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "server.json_max_depth"));

    config_defaults(&c);
    strcpy(c.listen, "bogus");
    assert_int_equal(config_validate(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "server.listen"));

    config_defaults(&c);
    strcpy(c.log_level, "loud");
    assert_int_equal(config_validate(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "log.level"));

    config_defaults(&c);
    c.data_dir[0] = '\0';
    assert_int_equal(config_validate(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "server.data_dir: \"\" must not be empty"));
}

static void test_reload_check(void **state)
{
    (void)state;
    config_t a, b;
    char err[256];
    config_defaults(&a);
    b = a;
    assert_int_equal(config_reload_check(&a, &b, err, sizeof err), 0);
    strcpy(b.log_level, "debug");
    b.body_limit = 2048;
    assert_int_equal(config_reload_check(&a, &b, err, sizeof err), 0);
    strcpy(b.listen, "127.0.0.1:1");
    assert_int_equal(config_reload_check(&a, &b, err, sizeof err), -1);
    assert_string_equal(err, "server.listen cannot change without a restart");
}

static void test_cors_and_store(void **state)
{
    (void)state;
    config_t c;
    char err[256];
    config_defaults(&c);
    const char *ok_cors[] = {"", "*", "https://a.example", "http://a:1,https://b"};
    for (size_t i = 0; i < sizeof ok_cors / sizeof ok_cors[0]; i++)
        assert_int_equal(
            config_set(&c, "server", "cors_origins", ok_cors[i], NULL, 0, err, sizeof err), 0);
    const char *bad_cors[] = {"a.example", "https://", "*,https://a", "https://a,,https://b",
                              "https://a b"};
    for (size_t i = 0; i < sizeof bad_cors / sizeof bad_cors[0]; i++)
        assert_int_equal(
            config_set(&c, "server", "cors_origins", bad_cors[i], NULL, 0, err, sizeof err), -1);

    const char *ok_url[] = {"", "sqlite:/x/y.db", "sqlite:rel.db", "postgres://h/d",
                            "postgresql://u@h:5432/d"};
    for (size_t i = 0; i < sizeof ok_url / sizeof ok_url[0]; i++)
        assert_int_equal(config_set(&c, "store", "url", ok_url[i], NULL, 0, err, sizeof err), 0);
    assert_int_equal(config_set(&c, "store", "url", "sqlite:", NULL, 0, err, sizeof err), -1);
    assert_int_equal(config_set(&c, "store", "url", "/x.db", NULL, 0, err, sizeof err), -1);

    /* unknown section through config_set (e.g. a flag table typo) */
    assert_int_equal(config_set(&c, "nope", "zzz", "1", NULL, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown section \"nope\""));
    assert_int_equal(config_set(&c, "serve", "listen", "1", NULL, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "did you mean \"server.listen\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_file_good),
        cmocka_unit_test(test_file_bad_value),
        cmocka_unit_test(test_unknown_key_and_section),
        cmocka_unit_test(test_long_values),
        cmocka_unit_test(test_every_section_is_known),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_listen),
        cmocka_unit_test(test_render_masks),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_reload_check),
        cmocka_unit_test(test_cors_and_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
