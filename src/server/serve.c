/* `ganglion serve`: configuration, the data-dir lock, the store and its migrations, every
 * module's endpoints, the transports, and the loop — then an orderly shutdown: stop accepting,
 * let requests in flight finish (bounded by shutdown_grace_ms), flush the store, exit 0. */
#include "server/serve.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "agents/agents.h"
#include "api/api.h"
#include "api/audit_api.h"
#include "api/system_api.h"
#include "auth/auth.h"
#include "brain/brain_io.h"
#include "brain/brain_robot.h"
#include "build_info.h"
#include "core/buildinfo.h"
#include "core/bus.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/hub.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/trace_export.h"
#include "core/opt.h"
#include "memory/memory.h"
#include "net/http.h"
#include "net/mqtt_server.h"
#include "net/zmq_server.h"
#include "server/datadir.h"
#include "server/domains.h"
#include "server/lockfile.h"
#include "server/schema.h"
#include "net/ws_chat_store.h"
#include "store/audit.h"
#include "store/retention.h"
#include "store/store.h"
#include "guard/guard.h"
#include "vault/vault.h"
#include "tasks/tasks.h"
#include "alerts/alerts.h"
#include "watch/watch.h"
#include "brain/brain.h"

extern char **environ;

/* The loop-lag probe: a timer due every SERVE_LAG_PROBE_MS; how late each run comes is the lag
 * (time the loop spent on other work past the due time), observed into the histogram
 * ganglion_loop_lag_seconds. 100 cheap wakeups a second give a p99 within a minute. */
#define SERVE_LAG_PROBE_MS 10
static const double serve_lag_buckets[] = {0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01,
                                           0.015,  0.02,  0.05,  0.1,   0.25,  1};

typedef struct serve {
    hub_t hub;
    uv_loop_t loop;
    lockfile_t *lock;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t lag_timer;
    uv_timer_t drain_timer;
    uv_timer_t trim_timer;
    uint64_t lag_expected_ns;
    uint64_t drain_started_ns;
    int argc;
    char **argv;
    const char *config_path;
    trace_export_t *trace; /* ganglion's own spans over OTLP, when [otel] traces_endpoint */
} serve_t;

/* The domains, in start order; each row is the recipe's one line (docs/architecture.md). */
const serve_domain_t serve_domains[] = {
    {"agents", agents_migrations, agents_start, agents_api_register, agents_shutdown, agents_busy,
     agents_destroy, &agents_backup},
    {"auth", auth_migrations, auth_start, auth_api_register, auth_shutdown, auth_busy, auth_destroy,
     &auth_backup},
    {"watch", watch_migrations, watch_start, watch_api_register, watch_shutdown, NULL,
     watch_destroy, &watch_backup},
    {"guard", guard_migrations, guard_start, guard_api_register, guard_shutdown, NULL,
     guard_destroy, &guard_backup},
    {"memory", memory_migrations, memory_start, memory_api_register, memory_shutdown, memory_busy,
     memory_destroy, &memory_backup},
    {"vault", vault_migrations, vault_start, vault_api_register, vault_shutdown, vault_busy,
     vault_destroy, NULL},
    {"brain", brain_migrations, brain_start, brain_api_register, brain_shutdown, brain_busy,
     brain_destroy, &brain_backup},
    {"tasks", tasks_migrations, tasks_start, tasks_api_register, tasks_shutdown, tasks_busy,
     tasks_destroy, &tasks_backup},
    {"alerts", alerts_migrations, alerts_start, alerts_api_register, alerts_shutdown, alerts_busy,
     alerts_destroy, &alerts_backup},
};
const size_t serve_domains_count = sizeof serve_domains / sizeof serve_domains[0];

static const char serve_usage[] =
    "usage: ganglion serve [options]\n"
    "\n"
    "Runs the ganglion daemon in the foreground.\n"
    "\n"
    "options:\n"
    "  --config FILE        INI configuration file\n"
    "  --listen HOST:PORT   HTTP listen address (default 127.0.0.1:7700)\n"
    "  --data-dir DIR       data directory (default ./var)\n"
    "  --store URL          sqlite:PATH (default: sqlite in the data dir) or postgres://...\n"
    "  --log-level LEVEL    debug | info | warn | error | off\n"
    "  --zmq-listen HOST:PORT|off\n"
    "                       ZMQ RPC (ROUTER) address (default 127.0.0.1:7701)\n"
    "  --zmq-pub HOST:PORT|off\n"
    "                       ZMQ event (PUB) address (default 127.0.0.1:7702)\n"
    "  --set SECTION.KEY=VALUE\n"
    "                       any configuration key (repeatable)\n"
    "  --print-config       print the effective configuration (secrets masked) and exit\n"
    "  -h, --help           this help\n"
    "\n"
    "Precedence: defaults < --config file < GANGLION_<SECTION>_<KEY> environment < flags.\n";

/* ---- robot I/O ---- */

/* Opens the robot sockets (brain.robot_*; off unless brain.robot_router is set), wired to the
 * default brain (docs/brain.md "Robot I/O"). */
static int serve_robot_start(hub_t *hub, char *err, size_t errlen)
{
    const config_t *c = &hub->cfg;
    brain_robot_config_t rc = {
        .router = c->brain_robot_router,
        .sensory = c->brain_robot_sensory,
        .motor = c->brain_robot_motor,
        .advertise = c->brain_robot_advertise,
        .timeout_ms = (uint64_t)c->brain_robot_timeout_ms,
        .max_agents = (size_t)c->brain_robot_max_agents,
        .max_message = (size_t)c->brain_robot_max_message,
        .xyzp = {.areas_max = (size_t)c->brain_robot_max_areas,
                 .points_per_area_max = (size_t)c->brain_robot_max_points,
                 .points_max = (size_t)c->brain_robot_max_points},
        .hwm = (int)c->zmq_hwm,
    };
    if (c->brain_robot_token[0]) {
        size_t n = 0;
        if (sodium_hex2bin(rc.token, sizeof rc.token, c->brain_robot_token,
                           strlen(c->brain_robot_token), NULL, &n, NULL) != 0 ||
            n != sizeof rc.token) {
            snprintf(err, errlen, "brain.robot_token: expected 64 hex digits");
            return -1;
        }
        rc.has_token = true;
    }
    /* sensory frames to the default brain's next burst; its output areas' fired voxels come
     * back through brain_run.c (brain_io_motor_flush) */
    brain_robot_hooks_t hooks = {
        .ctx = hub->brain, .sensory = brain_io_sensory, .agent = brain_io_agent};
    if (brain_robot_start(hub->loop, &rc, &hooks, &hub->brain_robot, err, errlen) < 0)
        return -1;
    if (hub->brain_robot && hub->metrics)
        metrics_collector_add(hub->metrics, brain_robot_metrics_collect, hub->brain_robot);
    return 0;
}

/* ---- configuration ---- */

/* opt_value, saying when the value is missing. */
static int serve_flag_value(int argc, char **argv, int *i, const char *flag, const char **out)
{
    int hit = opt_value(argc, argv, i, flag, out);
    if (hit < 0)
        fprintf(stderr, "ganglion serve: %s needs a value\n", flag);
    return hit;
}

/* Applies the flags (the highest precedence). Returns 0, 1 for --print-config, 2 for --help,
 * or -1 on error (message printed). */
static int serve_apply_flags(config_t *cfg, int argc, char **argv, bool *print_config)
{
    static const struct {
        const char *flag, *section, *key;
    } map[] = {{"--listen", "server", "listen"},  {"--data-dir", "server", "data_dir"},
               {"--store", "store", "url"},       {"--log-level", "log", "level"},
               {"--zmq-listen", "zmq", "listen"}, {"--zmq-pub", "zmq", "pub"}};
    char err[512];
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int hit = 0;
        /* argv[i] with i < argc is never NULL; the analyzer supposes it is */
        // NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return 2;
        if (!strcmp(argv[i], "--print-config")) {
            *print_config = true;
            continue;
        }
        if ((hit = serve_flag_value(argc, argv, &i, "--config", &v)) != 0) {
            if (hit < 0)
                return -1;
            continue; /* loaded first, separately */
        }
        for (size_t k = 0; k < sizeof map / sizeof map[0] && !hit; k++) {
            hit = serve_flag_value(argc, argv, &i, map[k].flag, &v);
            if (hit < 0)
                return -1;
            if (hit && config_set(cfg, map[k].section, map[k].key, v, map[k].flag, 0, err,
                                  sizeof err) < 0) {
                fprintf(stderr, "ganglion serve: %s\n", err);
                return -1;
            }
        }
        if (hit)
            continue;
        if ((hit = serve_flag_value(argc, argv, &i, "--set", &v)) != 0) {
            if (hit < 0)
                return -1;
            char section[64], key[64];
            const char *dot = strchr(v, '.'), *eq = strchr(v, '=');
            if (!dot || !eq || dot > eq || (size_t)(dot - v) >= sizeof section ||
                (size_t)(eq - dot - 1) >= sizeof key) {
                fprintf(stderr, "ganglion serve: --set expects SECTION.KEY=VALUE, got \"%s\"\n", v);
                return -1;
            }
            snprintf(section, sizeof section, "%.*s", (int)(dot - v), v);
            snprintf(key, sizeof key, "%.*s", (int)(eq - dot - 1), dot + 1);
            if (config_set(cfg, section, key, eq + 1, "--set", 0, err, sizeof err) < 0) {
                fprintf(stderr, "ganglion serve: %s\n", err);
                return -1;
            }
            continue;
        }
        fprintf(stderr, "ganglion serve: unknown option \"%s\" (see ganglion serve --help)\n",
                argv[i]);
        return -1;
    }
    return 0;
}

static const char *serve_config_path(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            return argv[i + 1];
        if (!strncmp(argv[i], "--config=", 9))
            return argv[i] + 9;
    }
    return NULL;
}

/* Builds the effective configuration from every source. 0, or -1 with a message printed. */
static int serve_config_build(config_t *cfg, int argc, char **argv, bool *print_config, bool *help)
{
    char err[1024];
    config_defaults(cfg);
    const char *path = serve_config_path(argc, argv);
    if (path && config_load_file(cfg, path, err, sizeof err) < 0) {
        fprintf(stderr, "ganglion serve: %s\n", err);
        return -1;
    }
    if (config_load_env(cfg, environ, err, sizeof err) < 0) {
        fprintf(stderr, "ganglion serve: %s\n", err);
        return -1;
    }
    int rc = serve_apply_flags(cfg, argc, argv, print_config);
    if (rc == 2) {
        *help = true;
        return 0;
    }
    if (rc < 0)
        return -1;
    if (config_validate(cfg, err, sizeof err) < 0) {
        fprintf(stderr, "ganglion serve: %s\n", err);
        return -1;
    }
    return 0;
}

/* ---- ganglion's own traces ---- */

static void serve_trace_metrics(strbuf_t *out, void *ud)
{
    serve_t *s = ud;
    strbuf_printf(out,
                  "# HELP ganglion_trace_spans_exported_total Spans of ganglion's own requests "
                  "the OTLP collector accepted.\n"
                  "# TYPE ganglion_trace_spans_exported_total counter\n"
                  "ganglion_trace_spans_exported_total %llu\n"
                  "# HELP ganglion_trace_spans_dropped_total Spans dropped because the export "
                  "queue was full.\n"
                  "# TYPE ganglion_trace_spans_dropped_total counter\n"
                  "ganglion_trace_spans_dropped_total %llu\n"
                  "# HELP ganglion_trace_export_failures_total Batches of spans the collector "
                  "did not accept (or could not be reached for).\n"
                  "# TYPE ganglion_trace_export_failures_total counter\n"
                  "ganglion_trace_export_failures_total %llu\n",
                  (unsigned long long)trace_export_spans_sent(s->trace),
                  (unsigned long long)trace_export_spans_dropped(s->trace),
                  (unsigned long long)trace_export_failures(s->trace));
}

/* Spans go out only when a collector is configured; without one a request's trace context
 * still reaches its log lines, its reply and the agents it spawns. */
static int serve_trace_start(serve_t *s)
{
    hub_t *hub = &s->hub;
    if (!hub->cfg.otel_traces_endpoint[0])
        return 0;
    s->trace = trace_export_new(hub->loop, hub->cfg.otel_traces_endpoint,
                                (size_t)hub->cfg.otel_traces_queue, hub->cfg.otel_service_name);
    if (!s->trace)
        return -1;
    api_trace_export_set(hub->api, s->trace);
    if (hub->metrics)
        metrics_collector_add(hub->metrics, serve_trace_metrics, s);
    log_info(NULL, "trace: exporting spans", "{s:s}", "endpoint", hub->cfg.otel_traces_endpoint);
    return 0;
}

/* ---- loop lag ---- */

static void serve_lag_probe(uv_timer_t *t)
{
    serve_t *s = t->data;
    uint64_t now = clock_mono_ns();
    double lag = now > s->lag_expected_ns ? (double)(now - s->lag_expected_ns) / 1e6 : 0;
    s->hub.loop_lag_ms = lag;
    if (s->hub.metrics)
        metrics_histogram_observe(s->hub.metrics, "ganglion_loop_lag_seconds", NULL, lag / 1e3);
    s->lag_expected_ns = now + (uint64_t)SERVE_LAG_PROBE_MS * 1000000u;
}

/* ---- shutdown ---- */

static void serve_close_all(serve_t *s)
{
    http_server_destroy(&s->hub.http);
    uv_close((uv_handle_t *)&s->sig_term, NULL);
    uv_close((uv_handle_t *)&s->sig_int, NULL);
    uv_close((uv_handle_t *)&s->sig_hup, NULL);
    uv_close((uv_handle_t *)&s->lag_timer, NULL);
    uv_close((uv_handle_t *)&s->drain_timer, NULL);
    uv_close((uv_handle_t *)&s->trim_timer, NULL);
}

/* ---- memory ---- */

/* glibc gives each thread that allocates while another holds an arena a new arena, up to 8 per
 * core: the loop, the four thread-pool workers and libzmq's threads each ended up with their
 * own, and each kept its own free fragments (1-1.7 MB apiece in the soak). Two arenas — the
 * loop's and one the workers share — held RSS 2.4 MB (11 %) lower with the same throughput and
 * loop lag (docs/testing.md, "Soak"). Set before any thread exists; server.malloc_arenas. */
static void serve_mem_setup(const config_t *cfg)
{
#ifdef __GLIBC__
    if (cfg->malloc_arenas > 0 && mallopt(M_ARENA_MAX, (int)cfg->malloc_arenas) != 1)
        log_warn(NULL, "malloc arenas not capped", "{s:I}", "malloc_arenas",
                 (json_int_t)cfg->malloc_arenas);
#else
    (void)cfg;
#endif
}

/* glibc keeps what the heap freed (in every thread's arena) for reuse; under steady traffic the
 * daemon's RSS then creeps up by fragments the live heap no longer needs. Every
 * SERVE_TRIM_MS the free pages go back to the system: a walk over the arenas, well under a
 * millisecond with the heap this daemon keeps. */
#define SERVE_TRIM_MS 10000

static void serve_mem_trim(uv_timer_t *t)
{
    (void)t;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

static void serve_drain_check(uv_timer_t *t)
{
    serve_t *s = t->data;
    hub_t *hub = &s->hub;
    size_t http = hub->http ? http_server_inflight(hub->http) : 0;
    size_t api = api_inflight(hub->api);
    int store = store_pending(hub->store) + retention_busy(hub->retention);
    for (size_t d = 0; d < serve_domains_count; d++) /* e.g. agents still stopping */
        if (serve_domains[d].busy)
            store += serve_domains[d].busy(hub);
    double waited_ms = (double)(clock_mono_ns() - s->drain_started_ns) / 1e6;
    if ((http == 0 && api == 0 && store == 0) || waited_ms >= (double)hub->cfg.shutdown_grace_ms) {
        if (http || api || store) {
            log_warn(NULL, "shutdown grace period over; closing with work in flight",
                     "{s:i,s:i,s:i}", "http_inflight", (int)http, "requests", (int)api,
                     "store_pending", store);
            system_api_abort(hub);
        }
        uv_timer_stop(t);
        serve_close_all(s);
    }
}

static void serve_shutdown_begin(serve_t *s, const char *why)
{
    hub_t *hub = &s->hub;
    if (hub->shutting_down) {
        log_warn(NULL, "second signal: exiting at once", "{s:s}", "signal", why);
        log_close();
        _exit(1);
    }
    hub->shutting_down = 1;
    log_info(NULL, "shutting down", "{s:s,s:I}", "signal", why, "grace_ms",
             (json_int_t)hub->cfg.shutdown_grace_ms);
    if (hub->http)
        http_server_quiesce(hub->http);
    retention_stop(hub->retention);
    /* domains: shutdown (stop accepting work, begin stopping what runs) */
    for (size_t d = 0; d < serve_domains_count; d++)
        if (serve_domains[d].shutdown)
            serve_domains[d].shutdown(hub);
    zmq_server_quiesce(hub->zmq);
    mqtt_server_quiesce(hub->mqtt);
    brain_robot_quiesce(hub->brain_robot);
    uv_timer_stop(&s->lag_timer);
    uv_timer_stop(&s->trim_timer);
    s->drain_started_ns = clock_mono_ns();
    uv_timer_start(&s->drain_timer, serve_drain_check, 0, 20);
}

static void serve_reload(serve_t *s)
{
    config_t next;
    bool print = false, help = false;
    if (serve_config_build(&next, s->argc, s->argv, &print, &help) < 0) {
        log_error(NULL, "reload failed: configuration invalid; keeping the running one", NULL);
        return;
    }
    char err[512];
    if (config_reload_check(&s->hub.cfg, &next, err, sizeof err) < 0)
        log_warn(NULL, "reload: some changes take effect only after a restart", "{s:s}", "reason",
                 err);
    bool log_moved = strcmp(next.log_file, s->hub.cfg.log_file) != 0;
    config_apply_reloadable(&s->hub.cfg, &next);
    hub_reload_notify(&s->hub);
    log_level_t lvl = LOG_LEVEL_INFO;
    log_level_parse(s->hub.cfg.log_level, &lvl);
    int rc = log_moved ? log_open(lvl, s->hub.cfg.log_file) : log_reopen();
    log_level_set(lvl);
    log_module_levels_apply(s->hub.cfg.log_levels, NULL, 0); /* checked with the config */
    log_info(NULL, "reloaded", "{s:s,s:b}", "log_level", s->hub.cfg.log_level, "log_reopened",
             rc == 0);
}

static void serve_on_signal(uv_signal_t *h, int signum)
{
    serve_t *s = h->data;
    if (signum == SIGHUP)
        serve_reload(s);
    else
        serve_shutdown_begin(s, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* ---- start ---- */

/* Closes handles still open on an early exit so that the loop can be closed. */
static void serve_close_stray(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Opens and migrates the store; err receives the reason of a refusal (stderr shows it). */
static int serve_open_store(serve_t *s, char *err, size_t errlen)
{
    hub_t *hub = &s->hub;
    char url[CONFIG_STR_MAX + 32];
    if (hub->cfg.store_url[0])
        snprintf(url, sizeof url, "%s", hub->cfg.store_url);
    else
        snprintf(url, sizeof url, "sqlite:%s/ganglion.db", hub->cfg.data_dir);
    store_options_t opt = {.pool_size = (int)hub->cfg.store_pool_size,
                           .busy_timeout_ms = (int)hub->cfg.store_busy_timeout_ms,
                           .sqlite_cache_kb = (int)hub->cfg.store_sqlite_cache_kb,
                           .sqlite_heap_kb = hub->cfg.store_sqlite_heap_kb};
    if (store_open(url, &opt, &hub->store, err, errlen) < 0) {
        log_error(NULL, "cannot open the store", "{s:s}", "reason", err);
        return -1;
    }
    store_migration_t migs[SCHEMA_MAX];
    size_t n = schema_migrations(migs);
    if (store_migrate(hub->store, migs, n, err, errlen) < 0) {
        log_error(NULL, "cannot migrate the store", "{s:s}", "reason", err);
        return -1;
    }
    hub->schema_version = store_schema_version(hub->store);
    return 0;
}

/* A start that fails after the first admin was created (port busy, bad TLS file ...) says where
 * that admin's password is, so it is not lost with this run's scrolled-away stderr. */
static void serve_first_password_remind(const char *data_dir)
{
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", data_dir, AUTH_FIRST_PASSWORD_FILE);
    if (stat(path, &st) == 0)
        fprintf(stderr,
                "ganglion serve: the first admin's password is kept in %s (mode 0600) until it "
                "is changed\n",
                path);
}

int serve_main(int argc, char **argv)
{
    serve_t *s = calloc(1, sizeof *s);
    if (!s)
        return 1;
    s->argc = argc;
    s->argv = argv;
    hub_t *hub = &s->hub;
    bool print_config = false, help = false;
    int code = 1;

    if (serve_config_build(&hub->cfg, argc, argv, &print_config, &help) < 0)
        goto out_free;
    if (help) {
        fputs(serve_usage, stdout);
        code = 0;
        goto out_free;
    }
    if (print_config) {
        char *text = config_render(&hub->cfg);
        if (text)
            fputs(text, stdout);
        free(text);
        code = text ? 0 : 1;
        goto out_free;
    }
    log_level_t lvl = LOG_LEVEL_INFO;
    log_level_parse(hub->cfg.log_level, &lvl);
    if (log_open(lvl, hub->cfg.log_file) < 0) {
        fprintf(stderr, "ganglion serve: cannot open log file %s: %s\n", hub->cfg.log_file,
                strerror(errno));
        goto out_free;
    }
    log_module_levels_apply(hub->cfg.log_levels, NULL, 0); /* checked with the config */
    signal(SIGPIPE, SIG_IGN);
    serve_mem_setup(&hub->cfg);

    char err[1024];
    if (lockfile_acquire(hub->cfg.data_dir, &s->lock, err, sizeof err) < 0) {
        log_error(NULL, "cannot start", "{s:s}", "reason", err);
        fprintf(stderr, "ganglion serve: %s\n", err);
        goto out_log;
    }
    /* Before anything is created: what is found wide was left so by someone else. */
    datadir_modes_check(hub->cfg.data_dir);

    hub->started_wall_ms = clock_wall_ms();
    hub->started_mono_ns = clock_mono_ns();
    if (uv_loop_init(&s->loop) < 0)
        goto out_lock;
    hub->loop = &s->loop;
    hub->metrics = metrics_new();
    hub->bus = bus_new((size_t)hub->cfg.events_ring);
    if (!hub->metrics || !hub->bus)
        goto out_modules;
    if (serve_open_store(s, err, sizeof err) < 0) {
        fprintf(stderr, "ganglion serve: the store could not be opened or migrated: %s\n", err);
        goto out_modules;
    }
    hub->api = api_registry_new(hub);
    if (!hub->api)
        goto out_modules;
    const char *te = getenv("GANGLION_TEST_ENDPOINTS");
    system_api_register(hub->api, hub, te && strcmp(te, "1") == 0);
    audit_api_register(hub->api);
    api_audit_hook_set(hub->api, audit_api_hook, NULL);
    if (serve_trace_start(s) < 0)
        goto out_modules;
    /* retention: the platform's purges here, each domain's in its api_register */
    if (retention_new(hub, &hub->retention) < 0)
        goto out_modules;
    retention_purge_add(hub->retention, "audit", audit_retention_purge, NULL, NULL);
    retention_purge_add(hub->retention, "chat", ws_chat_store_retention_purge, NULL, NULL);
    /* domains: each creates its state on the hub, then registers its endpoints and metrics */
    for (size_t d = 0; d < serve_domains_count; d++) {
        const serve_domain_t *dom = &serve_domains[d];
        if (dom->start(hub) < 0 || dom->api_register(hub) < 0) {
            fprintf(stderr, "ganglion serve: the %s domain could not start (see log)\n", dom->name);
            goto out_modules;
        }
    }
    /* what every domain declared for backups reaches the vault */
    const backup_decl_t *decls[SCHEMA_BACKUP_MAX];
    vault_decls_set(hub, decls, schema_backup_decls(decls, SCHEMA_BACKUP_MAX));
    /* between domains: the lines agents print reach watch as lines */
    hub->agent_output = watch_agent_output;
    hub->agent_output_ud = hub->watch;
    /* and what agents are asked to do passes the guard first */
    hub->agent_gate = guard_agent_gate;
    hub->agent_gate_ud = hub->guard;
    hub->task_gate = guard_task_gate;
    hub->task_gate_ud = hub->guard;
    /* tasks reach stdin workers through the agents domain, and their answers come back */
    hub->agents_each_live = agents_each_live;
    hub->agents_stdin_line = agents_stdin_line;
    hub->agent_task_line = tasks_agent_line;
    hub->agent_task_line_ud = hub->tasks;
    if (retention_start(hub->retention) < 0)
        goto out_modules;
    if (zmq_server_start(hub, &hub->zmq, err, sizeof err) < 0) {
        log_error(NULL, "cannot start the ZMQ transport", "{s:s}", "reason", err);
        fprintf(stderr, "ganglion serve: %s\n", err);
        goto out_modules;
    }

    if (mqtt_server_start(hub, &hub->mqtt, err, sizeof err) < 0) {
        log_error(NULL, "cannot start the MQTT transport", "{s:s}", "reason", err);
        fprintf(stderr, "ganglion serve: %s\n", err);
        goto out_modules;
    }
    if (serve_robot_start(hub, err, sizeof err) < 0) {
        log_error(NULL, "cannot start the brain robot sockets", "{s:s}", "reason", err);
        fprintf(stderr, "ganglion serve: %s\n", err);
        goto out_modules;
    }

    if (http_server_start(hub, &hub->http, err, sizeof err) < 0) {
        log_error(NULL, "cannot start the HTTP server", "{s:s,s:s}", "listen", hub->cfg.listen,
                  "reason", err);
        fprintf(stderr, "ganglion serve: cannot listen on %s: %s\n", hub->cfg.listen, err);
        goto out_modules;
    }

    uv_signal_init(hub->loop, &s->sig_term);
    uv_signal_init(hub->loop, &s->sig_int);
    uv_signal_init(hub->loop, &s->sig_hup);
    s->sig_term.data = s->sig_int.data = s->sig_hup.data = s;
    uv_signal_start(&s->sig_term, serve_on_signal, SIGTERM);
    uv_signal_start(&s->sig_int, serve_on_signal, SIGINT);
    uv_signal_start(&s->sig_hup, serve_on_signal, SIGHUP);
    uv_timer_init(hub->loop, &s->lag_timer);
    uv_timer_init(hub->loop, &s->drain_timer);
    uv_timer_init(hub->loop, &s->trim_timer);
    s->lag_timer.data = s->drain_timer.data = s;
    if (hub->metrics)
        metrics_declare_histogram(hub->metrics, "ganglion_loop_lag_seconds",
                                  "How late the loop ran its 10 ms probe timer (event-loop lag).",
                                  serve_lag_buckets,
                                  sizeof serve_lag_buckets / sizeof serve_lag_buckets[0]);
    s->lag_expected_ns = clock_mono_ns() + (uint64_t)SERVE_LAG_PROBE_MS * 1000000u;
    uv_timer_start(&s->lag_timer, serve_lag_probe, SERVE_LAG_PROBE_MS, SERVE_LAG_PROBE_MS);
    uv_timer_start(&s->trim_timer, serve_mem_trim, SERVE_TRIM_MS, SERVE_TRIM_MS);
    uv_unref((uv_handle_t *)&s->trim_timer);
    uv_unref((uv_handle_t *)&s->lag_timer);

    log_info(NULL, "ganglion started", "{s:s,s:s,s:i,s:s,s:s,s:i,s:i}", "version", GANGLION_VERSION,
             "revision", buildinfo_revision(), "pid", (int)getpid(), "listen", hub->cfg.listen,
             "store", store_backend(hub->store), "schema_version", hub->schema_version, "port",
             http_server_port(hub->http));

    uv_run(hub->loop, UV_RUN_DEFAULT);
    code = 0;
    log_info(NULL, "ganglion stopped", NULL);

out_modules:
    if (hub->http) {
        http_server_destroy(&hub->http);
        uv_run(hub->loop, UV_RUN_NOWAIT);
    }
    mqtt_server_destroy(&hub->mqtt);
    zmq_server_destroy(&hub->zmq);
    if (hub->api)
        api_trace_export_set(hub->api, NULL);
    trace_export_destroy(&s->trace); /* the last batch is sent while the loop winds down */
    brain_robot_destroy(&hub->brain_robot);
    retention_destroy(&hub->retention);
    /* A start that failed half-way never drained: store jobs a domain's first timer submitted
     * (the mail outbox's first look, say) finish here, while their domain still exists. A
     * stop that ran the loop drained them already. Bounded: at most 5 s. */
    for (uint64_t until = uv_hrtime() + 5000000000ULL;
         hub->store && store_pending(hub->store) > 0 && uv_hrtime() < until;)
        uv_run(hub->loop, UV_RUN_ONCE);
    /* domains: destroy (reverse order of start) */
    for (size_t d = serve_domains_count; d-- > 0;)
        serve_domains[d].destroy(hub);
    if (hub->system)
        system_api_destroy(hub);
    api_registry_destroy(&hub->api);
    /* The store goes last among modules: audit writes still queued must land. */
    store_close(&hub->store);
    bus_destroy(&hub->bus);
    metrics_destroy(&hub->metrics);
    if (hub->loop) {
        if (uv_loop_close(hub->loop) == UV_EBUSY) {
            uv_walk(hub->loop, serve_close_stray, NULL);
            uv_run(hub->loop, UV_RUN_DEFAULT);
            uv_loop_close(hub->loop);
        }
    }
    if (code != 0)
        serve_first_password_remind(hub->cfg.data_dir);
out_lock:
    lockfile_release(&s->lock);
out_log:
    log_close();
out_free:
    free(s);
    return code;
}
