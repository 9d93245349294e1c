/* Configuration: one table declares every key (type, default, bounds, flags, help); defaults,
 * the INI file, the environment and flags all go through config_set, so a value is checked the
 * same way wherever it comes from, and an error names the source, line, key and reason. */
#include "core/config.h"
#include "core/log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

typedef enum {
    CONFIG_T_STR,  /* char[] field; `check` may validate the text */
    CONFIG_T_INT,  /* int64_t, plain decimal in the unit named by the key */
    CONFIG_T_SIZE, /* int64_t bytes, with an optional k/M/G suffix */
    CONFIG_T_ENUM, /* char[] field holding one of `choices` */
} config_type_t;

enum {
    CONFIG_F_SECRET = 1 << 0, /* never printed or echoed in errors */
    CONFIG_F_RELOAD = 1 << 1, /* may change on SIGHUP without a restart */
    CONFIG_F_URL = 1 << 2,    /* a URL whose password part is masked when shown */
};

/* Validates a string value; on failure writes the reason ("is not HOST:PORT ...") to why. */
typedef int (*config_check_fn)(const char *value, char *why, size_t whylen);

typedef struct {
    const char *section;
    const char *key;
    config_type_t type;
    size_t offset;
    size_t size; /* capacity of a string field, including the NUL */
    const char *def;
    int64_t min, max;
    const char *const *choices; /* NULL-terminated, CONFIG_T_ENUM only */
    config_check_fn check;
    unsigned flags;
    const char *help;
} config_key_t;

static int config_check_listen(const char *v, char *why, size_t whylen);
static int config_check_store_url(const char *v, char *why, size_t whylen);
static int config_check_smtp_url(const char *v, char *why, size_t whylen);
static int config_check_mail_from(const char *v, char *why, size_t whylen);
static int config_check_cors(const char *v, char *why, size_t whylen);
static int config_check_nonempty(const char *v, char *why, size_t whylen);
static int config_check_robot_token(const char *v, char *why, size_t whylen);
static int config_check_log_levels(const char *v, char *why, size_t whylen);
static int config_check_http_url(const char *v, char *why, size_t whylen);

static const char *const config_log_levels[] = {"debug", "info", "warn", "error", "off", NULL};

#define KIB ((int64_t)1024)
#define MIB (KIB * 1024)

#define CFG_STR(sec, k, field, def, check, flags, help)                                            \
    {                                                                                              \
        sec, k, CONFIG_T_STR, offsetof(config_t, field), sizeof(((config_t *)0)->field), def, 0,   \
            0, NULL, check, flags, help                                                            \
    }
#define CFG_NUM(sec, k, type, field, def, lo, hi, flags, help)                                     \
    {                                                                                              \
        sec, k, type, offsetof(config_t, field), sizeof(int64_t), def, lo, hi, NULL, NULL, flags,  \
            help                                                                                   \
    }
#define CFG_ENUM(sec, k, field, def, choices, flags, help)                                         \
    {                                                                                              \
        sec, k, CONFIG_T_ENUM, offsetof(config_t, field), sizeof(((config_t *)0)->field), def, 0,  \
            0, choices, NULL, flags, help                                                          \
    }

/* The single source of truth for keys. Order here is the order of --print-config. */
static const config_key_t config_keys[] = {
    CFG_STR("server", "listen", listen, "127.0.0.1:7700", config_check_listen, 0,
            "HOST:PORT for HTTP; [::1]:PORT for IPv6; port 0 picks a free one"),
    CFG_STR("server", "data_dir", data_dir, "./var", config_check_nonempty, 0,
            "directory for the database, lock file and backups"),
    CFG_NUM("server", "body_limit", CONFIG_T_SIZE, body_limit, "1M", KIB, 64 * MIB, CONFIG_F_RELOAD,
            "largest request body in bytes (k/M suffixes); larger gets 413"),
    CFG_NUM("server", "json_max_depth", CONFIG_T_INT, json_max_depth, "64", 1, 512, CONFIG_F_RELOAD,
            "deepest nesting accepted in a JSON body"),
    CFG_NUM("server", "max_connections", CONFIG_T_INT, max_connections, "1024", 1, 1000000, 0,
            "simultaneous HTTP connections"),
    CFG_NUM("server", "connection_timeout_s", CONFIG_T_INT, connection_timeout_s, "30", 1, 86400, 0,
            "seconds an idle connection is kept"),
    CFG_NUM("server", "max_connections_per_address", CONFIG_T_INT, max_connections_per_address,
            "128", 1, 1000000, 0, "simultaneous HTTP connections from one client address"),
    CFG_NUM("server", "header_timeout_ms", CONFIG_T_INT, header_timeout_ms, "10000", 50, 600000,
            CONFIG_F_RELOAD, "milliseconds a request head may take (the first from accept)"),
    CFG_NUM("server", "header_max", CONFIG_T_SIZE, header_max, "16k", KIB, 64 * KIB, 0,
            "largest request line plus header fields in bytes; larger gets 431"),
    CFG_NUM("server", "uri_max", CONFIG_T_SIZE, uri_max, "8k", 256, 64 * KIB, 0,
            "longest request target (path and query) in bytes; longer gets 414"),
    CFG_NUM("server", "shutdown_grace_ms", CONFIG_T_INT, shutdown_grace_ms, "5000", 0, 600000,
            CONFIG_F_RELOAD, "milliseconds to let in-flight requests finish on shutdown"),
    CFG_NUM("server", "compress_min_bytes", CONFIG_T_SIZE, compress_min_bytes, "8192", 0, 64 * MIB,
            CONFIG_F_RELOAD, "gzip responses at least this big when asked; 0 = off"),
    CFG_NUM("server", "malloc_arenas", CONFIG_T_INT, malloc_arenas, "2", 0, 64, 0,
            "malloc arenas the threads share (glibc); 0 = the C library's default"),
    CFG_STR("server", "cors_origins", cors_origins, "", config_check_cors, CONFIG_F_RELOAD,
            "comma-separated allowed origins, or *; empty = CORS off"),
    CFG_STR("server", "ui_dir", ui_dir, "", NULL, 0,
            "serve the console's files from this directory (development: web/); empty = built in"),
    CFG_ENUM("log", "level", log_level, "info", config_log_levels, CONFIG_F_RELOAD,
             "debug, info, warn, error or off"),
    CFG_STR("log", "file", log_file, "", NULL, CONFIG_F_RELOAD,
            "append JSON lines to this file; empty = stderr"),
    CFG_STR("log", "levels", log_levels, "", config_check_log_levels, CONFIG_F_RELOAD,
            "per-module levels, module=level,... (agents=debug,http=warn); others use level"),
    CFG_STR("store", "url", store_url, "", config_check_store_url, CONFIG_F_URL,
            "sqlite:PATH or postgres://...; empty = sqlite in data_dir"),
    CFG_NUM("store", "pool_size", CONFIG_T_INT, store_pool_size, "4", 1, 64, 0,
            "database connections (PostgreSQL)"),
    CFG_NUM("store", "busy_timeout_ms", CONFIG_T_INT, store_busy_timeout_ms, "5000", 0, 600000, 0,
            "milliseconds to wait for a locked database"),
    CFG_NUM("store", "sqlite_cache_kb", CONFIG_T_INT, store_sqlite_cache_kb, "2000", 64, 1048576, 0,
            "SQLite page cache per pooled connection, KiB"),
    CFG_NUM("store", "sqlite_heap_kb", CONFIG_T_INT, store_sqlite_heap_kb, "1024", 0, 16777216, 0,
            "SQLite's memory for the whole pool (page caches recycle beyond it), KiB; 0 = none"),
    CFG_NUM("events", "ring", CONFIG_T_INT, events_ring, "1024", 1, 1048576, 0,
            "events kept for Last-Event-ID replay"),
    CFG_NUM("events", "client_queue", CONFIG_T_INT, events_client_queue, "256", 1, 65536,
            CONFIG_F_RELOAD, "events queued per stream client before it is dropped"),
    CFG_NUM("events", "heartbeat_s", CONFIG_T_INT, events_heartbeat_s, "15", 1, 3600,
            CONFIG_F_RELOAD, "seconds between stream heartbeat comments"),
    CFG_NUM("audit", "page_max", CONFIG_T_INT, audit_page_max, "1000", 1, 100000, CONFIG_F_RELOAD,
            "largest page returned by GET /api/v1/audit"),
    /* ---- [auth] ---- */
    CFG_NUM("auth", "pwhash_opslimit", CONFIG_T_INT, auth_pwhash_opslimit, "2", 1, 20,
            CONFIG_F_RELOAD, "argon2id passes per password hash (rehashed at next login)"),
    CFG_NUM("auth", "pwhash_memlimit", CONFIG_T_SIZE, auth_pwhash_memlimit, "32M", 8 * KIB,
            1024 * MIB, CONFIG_F_RELOAD, "argon2id memory per password hash in bytes"),
    CFG_NUM("auth", "access_ttl_s", CONFIG_T_INT, auth_access_ttl_s, "900", 1, 86400,
            CONFIG_F_RELOAD, "access token (JWT) lifetime in seconds"),
    CFG_NUM("auth", "refresh_ttl_s", CONFIG_T_INT, auth_refresh_ttl_s, "604800", 1, 31536000,
            CONFIG_F_RELOAD, "refresh token lifetime in seconds"),
    CFG_STR("auth", "issuer", auth_issuer, "ganglion", config_check_nonempty, 0,
            "JWT issuer (iss) written and required"),
    CFG_STR("auth", "audience", auth_audience, "ganglion", config_check_nonempty, 0,
            "JWT audience (aud) written and required"),
    CFG_NUM("auth", "lockout_threshold", CONFIG_T_INT, auth_lockout_threshold, "5", 1, 1000,
            CONFIG_F_RELOAD, "consecutive failed logins that lock an account"),
    CFG_NUM("auth", "lockout_s", CONFIG_T_INT, auth_lockout_s, "900", 1, 86400 * 30,
            CONFIG_F_RELOAD, "seconds an account stays locked"),
    CFG_NUM("auth", "password_min", CONFIG_T_INT, auth_password_min, "12", 8, 128, CONFIG_F_RELOAD,
            "shortest password accepted"),
    CFG_NUM("auth", "key_grace_s", CONFIG_T_INT, auth_key_grace_s, "86400", 0, 86400 * 90,
            CONFIG_F_RELOAD, "seconds the old secret of a rotated API key stays valid"),
    CFG_NUM("auth", "public_metrics", CONFIG_T_INT, auth_public_metrics, "0", 0, 1, CONFIG_F_RELOAD,
            "1 = serve /metrics without a token (trusted networks only)"),
    CFG_NUM("auth", "public_openapi", CONFIG_T_INT, auth_public_openapi, "0", 0, 1, CONFIG_F_RELOAD,
            "1 = serve /openapi.json without a token"),
    CFG_ENUM("auth", "registration", auth_registration, "off",
             ((const char *const[]){"off", "invite", "approval", NULL}), CONFIG_F_RELOAD,
             "self-registration: off, invite (an admin-issued code is needed) or approval (an "
             "admin approves each new account); new users get the viewer role"),
    CFG_NUM("auth", "reset_ttl_s", CONFIG_T_INT, auth_reset_ttl_s, "3600", 1, 86400 * 7,
            CONFIG_F_RELOAD, "seconds a password-reset token stays valid"),
    CFG_NUM("auth", "verify_ttl_s", CONFIG_T_INT, auth_verify_ttl_s, "86400", 1, 86400 * 30,
            CONFIG_F_RELOAD, "seconds an e-mail verification token stays valid"),
    CFG_NUM("auth", "invite_ttl_s", CONFIG_T_INT, auth_invite_ttl_s, "604800", 60, 86400 * 90,
            CONFIG_F_RELOAD, "seconds an invitation code stays valid (unless the admin says)"),
    CFG_NUM("auth", "mail_interval_s", CONFIG_T_INT, auth_mail_interval_s, "60", 1, 86400,
            CONFIG_F_RELOAD,
            "least seconds between two reset or verification mails asked for one account"),
    CFG_STR("auth", "console_url", auth_console_url, "", NULL, CONFIG_F_RELOAD,
            "base URL put in reset and verification mails (…/#/reset?token=…); empty = the "
            "mails carry the token only"),
    /* ---- [mail] ---- */
    CFG_STR("mail", "smtp_url", mail_smtp_url, "", config_check_smtp_url,
            CONFIG_F_URL | CONFIG_F_RELOAD,
            "relay for the daemon's mail: smtp://[user:pass@]host[:port], smtp+starttls://… or "
            "smtps://…; empty = no mail"),
    CFG_STR("mail", "from", mail_from, "ganglion@localhost", config_check_mail_from,
            CONFIG_F_RELOAD, "sender address of the daemon's mail"),
    CFG_STR("mail", "helo", mail_helo, "", NULL, CONFIG_F_RELOAD,
            "name given in EHLO; empty = localhost"),
    CFG_NUM("mail", "timeout_s", CONFIG_T_INT, mail_timeout_s, "30", 1, 600, CONFIG_F_RELOAD,
            "seconds one conversation with the relay may take, connect to QUIT"),
    CFG_STR("mail", "ca_file", mail_ca_file, "", NULL, CONFIG_F_RELOAD,
            "PEM certificates trusted for the relay's TLS; empty = the system's trust store"),
    CFG_NUM("mail", "retry_s", CONFIG_T_INT, mail_retry_s, "30", 1, 3600, 0,
            "seconds before an unsent mail is tried again (doubled each time, at most an hour; "
            "given up after 12 tries)"),
    /* ---- [tls] ---- */
    CFG_STR("tls", "cert_file", tls_cert_file, "", NULL, 0,
            "PEM certificate (server first, then intermediates); with key_file the HTTP "
            "listener speaks HTTPS only"),
    CFG_STR("tls", "key_file", tls_key_file, "", NULL, 0,
            "PEM private key of cert_file (unencrypted; keep it mode 0600)"),
    /* TLS 1.2 and 1.3 only, AEAD ciphers only, forward-secret key exchange, our order first. */
    CFG_STR("tls", "priorities", tls_priorities,
            "SECURE256:+SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:"
            "+AES-128-GCM:+CHACHA20-POLY1305:%SERVER_PRECEDENCE",
            config_check_nonempty, 0, "GnuTLS priorities (TLS 1.2/1.3, AEAD)"),
    CFG_NUM("tls", "hsts_max_age_s", CONFIG_T_INT, tls_hsts_max_age_s, "31536000", 0, 63072000, 0,
            "Strict-Transport-Security max-age over TLS; 0 = header not sent"),
    /* ---- [ratelimit] ---- */
    CFG_NUM("ratelimit", "enabled", CONFIG_T_INT, rl_enabled, "1", 0, 1, CONFIG_F_RELOAD,
            "1 = token-bucket rate limits on; 0 = off"),
    CFG_NUM("ratelimit", "ip_rate", CONFIG_T_INT, rl_ip_rate, "500", 1, 1000000, CONFIG_F_RELOAD,
            "requests per second per client address"),
    CFG_NUM("ratelimit", "ip_burst", CONFIG_T_INT, rl_ip_burst, "5000", 1, 10000000,
            CONFIG_F_RELOAD, "bucket size per client address"),
    CFG_NUM("ratelimit", "auth_rate", CONFIG_T_INT, rl_auth_rate, "5", 1, 1000000, CONFIG_F_RELOAD,
            "login/refresh requests per second per client address"),
    CFG_NUM("ratelimit", "auth_burst", CONFIG_T_INT, rl_auth_burst, "100", 1, 10000000,
            CONFIG_F_RELOAD, "login/refresh bucket size per client address"),
    CFG_NUM("ratelimit", "admin_rate", CONFIG_T_INT, rl_admin_rate, "500", 1, 1000000,
            CONFIG_F_RELOAD, "requests per second per admin principal"),
    CFG_NUM("ratelimit", "operator_rate", CONFIG_T_INT, rl_operator_rate, "200", 1, 1000000,
            CONFIG_F_RELOAD, "requests per second per operator principal"),
    CFG_NUM("ratelimit", "viewer_rate", CONFIG_T_INT, rl_viewer_rate, "100", 1, 1000000,
            CONFIG_F_RELOAD, "requests per second per viewer principal"),
    CFG_NUM("ratelimit", "agent_rate", CONFIG_T_INT, rl_agent_rate, "200", 1, 1000000,
            CONFIG_F_RELOAD, "requests per second per agent principal"),
    CFG_NUM("ratelimit", "principal_burst", CONFIG_T_INT, rl_principal_burst, "5000", 1, 10000000,
            CONFIG_F_RELOAD, "bucket size per principal"),
    CFG_NUM("ratelimit", "max_buckets", CONFIG_T_INT, rl_max_buckets, "10000", 16, 10000000, 0,
            "most buckets kept in memory (idle ones are evicted first)"),
    CFG_NUM("ratelimit", "idle_s", CONFIG_T_INT, rl_idle_s, "600", 1, 86400, CONFIG_F_RELOAD,
            "seconds after which an unused bucket is dropped"),
    /* ---- [brain] ---- */
    CFG_STR("brain", "genome_dir", brain_genome_dir, "", NULL, 0,
            "directory of shipped genomes created by name (<name>.json or <name>_genome.json); "
            "empty = <data_dir>/genomes"),
    CFG_STR("brain", "default", brain_default, "", NULL, CONFIG_F_RELOAD,
            "id or name of the brain the FEAGI /v1 routes act on; empty = the first brain"),
    CFG_NUM("brain", "max", CONFIG_T_INT, brain_max, "16", 1, 1024, CONFIG_F_RELOAD,
            "brains at once; more creates get 429"),
    CFG_NUM("brain", "events_hz", CONFIG_T_INT, brain_events_hz, "10", 1, 1000, CONFIG_F_RELOAD,
            "brain.<id>.burst activity events per second per brain (later bursts are skipped)"),
    CFG_NUM(
        "brain", "burst_threads", CONFIG_T_INT, brain_burst_threads, "0", 0, 2, 0,
        "threads a brain's split bursts run on (100 000 synapses or more delivered in a network "
        "of burst_split_neurons or more); 0 = 2 on 2 or more CPUs, else 1; same fired sets"),
    CFG_NUM("brain", "burst_split_neurons", CONFIG_T_INT, brain_burst_split_neurons, "524288", 0,
            67108864, 0,
            "networks with fewer neurons never split a burst in two halves (docs/brain.md); the "
            "split changes the last bits of the sums, so keep it to repeat a brain's fired sets"),
    CFG_NUM("brain", "feagi_loopback_open", CONFIG_T_INT, brain_feagi_loopback_open, "0", 0, 1, 0,
            "1 = the FEAGI /v1 routes answer loopback clients without a token"),
    /* ---- [agents] ---- */
    CFG_NUM("agents", "max", CONFIG_T_INT, agents_max, "1000", 1, 100000, CONFIG_F_RELOAD,
            "agents with a live process at once; more spawns get 429"),
    CFG_NUM("agents", "output_buffer", CONFIG_T_SIZE, agents_output_buffer, "1M", 64 * KIB,
            256 * MIB, 0, "output bytes kept per agent and stream (oldest lines dropped)"),
    CFG_NUM("agents", "line_max", CONFIG_T_SIZE, agents_line_max, "16k", 256, 1 * MIB, 0,
            "longer output lines are split into records marked cont"),
    CFG_NUM("agents", "tail_lines", CONFIG_T_INT, agents_tail_lines, "200", 0, 10000,
            CONFIG_F_RELOAD, "last output lines of an ended agent kept in the store"),
    CFG_NUM("agents", "log_max_bytes", CONFIG_T_SIZE, agents_log_max_bytes, "10M", 0, 1024 * MIB,
            CONFIG_F_RELOAD,
            "size at which an agent's log file is rotated (<data-dir>/logs/<id>.log); 0: no "
            "log files"),
    CFG_NUM("agents", "log_backups", CONFIG_T_INT, agents_log_backups, "5", 0, 100, CONFIG_F_RELOAD,
            "rotated log files kept per agent (<id>.log.1 is the newest)"),
    CFG_NUM("agents", "grep_jobs", CONFIG_T_INT, agents_grep_jobs, "2", 1, 64, CONFIG_F_RELOAD,
            "output searches (?grep=) matched on the thread pool at once; more get 503"),
    CFG_NUM("agents", "grep_budget_ms", CONFIG_T_INT, agents_grep_budget_ms, "500", 1, 60000,
            CONFIG_F_RELOAD, "CPU milliseconds one output search may use; past it, 422"),
    CFG_NUM("agents", "stop_grace_ms", CONFIG_T_INT, agents_stop_grace_ms, "5000", 0, 600000,
            CONFIG_F_RELOAD, "default delay between SIGTERM and SIGKILL on stop"),
    CFG_NUM("agents", "action_timeout_ms", CONFIG_T_INT, agents_action_timeout_ms, "30000", 1,
            600000, CONFIG_F_RELOAD, "default wait for an agent's custom action reply"),
    CFG_NUM("agents", "backoff_ms", CONFIG_T_INT, agents_backoff_ms, "500", 1, 3600000,
            CONFIG_F_RELOAD, "first restart delay (doubles per restart in the window)"),
    CFG_NUM("agents", "backoff_max_ms", CONFIG_T_INT, agents_backoff_max_ms, "30000", 1, 3600000,
            CONFIG_F_RELOAD, "restart delay cap"),
    CFG_NUM("agents", "sample_ms", CONFIG_T_INT, agents_sample_ms, "1000", 100, 3600000, 0,
            "how often live agents' CPU and resident memory are sampled"),
    CFG_STR("agents", "user", agents_user, "", NULL, 0,
            "run agents as this user when the daemon is root; empty = unchanged"),
    CFG_STR("agents", "group", agents_group, "", NULL, 0,
            "run agents with this group (default: the user's primary group)"),
    CFG_NUM("agents", "cgroup", CONFIG_T_INT, agents_cgroup, "1", 0, 1, 0,
            "1: memory.max/cpu.max in a delegated cgroup v2 when writable; 0: rlimits only"),
    CFG_STR("agents", "programs", agents_programs, "", NULL, 0,
            "directory of program files (*.ini); empty = <data-dir>/programs.d"),
    CFG_ENUM("agents", "orphans", agents_orphans, "stop",
             ((const char *const[]){"stop", "leave", NULL}), 0,
             "stop: agents die with a killed daemon and leftovers are ended at restart; "
             "leave: they keep running, unsupervised"),
    /* ---- [zmq] ---- */
    CFG_STR("zmq", "listen", zmq_listen, "127.0.0.1:7701", NULL, 0,
            "ZMQ RPC (ROUTER) HOST:PORT, tcp://HOST:PORT, or off"),
    CFG_STR("zmq", "pub", zmq_pub, "127.0.0.1:7702", NULL, 0,
            "ZMQ event (PUB) HOST:PORT, tcp://HOST:PORT, or off"),
    CFG_NUM("zmq", "max_message", CONFIG_T_SIZE, zmq_max_message, "10M", KIB, 256 * MIB, 0,
            "largest ZMQ request in bytes; larger gets a 413 reply or is dropped"),
    CFG_NUM("zmq", "hwm", CONFIG_T_INT, zmq_hwm, "10000", 1, 10000000, 0,
            "ZMQ send and receive high-water marks in messages"),
    CFG_NUM("zmq", "max_inflight_per_peer", CONFIG_T_INT, zmq_max_inflight_per_peer, "1024", 1,
            1000000, CONFIG_F_RELOAD, "unanswered ZMQ requests per peer before 429"),
    CFG_ENUM("zmq", "curve", zmq_curve, "off", ((const char *const[]){"on", "off", NULL}), 0,
             "on = CURVE encryption with an allow-list of client keys"),
    CFG_STR("zmq", "curve_clients", zmq_curve_clients, "", NULL, 0,
            "file of allowed client public keys (Z85, one a line); empty = DATA_DIR/zmq_clients"),
    /* ---- [mqtt] ---- */
    CFG_STR("mqtt", "url", mqtt_url, "", NULL, CONFIG_F_URL,
            "MQTT broker: mqtt://HOST:PORT or mqtts://HOST:PORT; empty = MQTT off"),
    CFG_STR("mqtt", "prefix", mqtt_prefix, "ganglion", config_check_nonempty, 0,
            "first level of every MQTT topic ganglion uses"),
    CFG_STR("mqtt", "client_id", mqtt_client_id, "", NULL, 0,
            "MQTT client id; empty = ganglion-<hostname>-<pid>"),
    CFG_STR("mqtt", "username", mqtt_username, "", NULL, 0, "MQTT user name; empty = none"),
    CFG_STR("mqtt", "password", mqtt_password, "", NULL, CONFIG_F_SECRET,
            "MQTT password (prefer password_file)"),
    CFG_STR("mqtt", "password_file", mqtt_password_file, "", NULL, 0,
            "file whose first line is the MQTT password"),
    CFG_STR("mqtt", "ca_file", mqtt_ca_file, "", NULL, 0,
            "mqtts: CA bundle that signs the broker's certificate; empty = the system's"),
    CFG_STR("mqtt", "cert_file", mqtt_cert_file, "", NULL, 0,
            "mqtts: client certificate (PEM) for brokers that require one"),
    CFG_STR("mqtt", "key_file", mqtt_key_file, "", NULL, 0, "mqtts: the client certificate's key"),
    CFG_NUM("mqtt", "qos_events", CONFIG_T_INT, mqtt_qos_events, "0", 0, 2, 0,
            "QoS of the bus events published on <prefix>/events/..."),
    CFG_STR("mqtt", "events", mqtt_events, "*", NULL, 0,
            "bus topics published over MQTT (comma-separated patterns); empty = none"),
    CFG_NUM("mqtt", "max_message", CONFIG_T_SIZE, mqtt_max_message, "1M", KIB, 256 * MIB, 0,
            "largest MQTT request payload; larger gets a 413 reply"),
    CFG_NUM("mqtt", "keepalive", CONFIG_T_INT, mqtt_keepalive, "30", 5, 3600, 0,
            "seconds between MQTT keep-alive pings"),
    /* ---- [rabbitmq] ---- */
    CFG_STR("rabbitmq", "url", rabbitmq_url, "", NULL, CONFIG_F_URL,
            "RabbitMQ broker shared by hubs on one PostgreSQL: amqp://USER:PASS@HOST:PORT/VHOST; "
            "empty = tasks stay on this hub"),
    CFG_STR("rabbitmq", "hub", rabbitmq_hub, "", NULL, 0,
            "this hub's name, unique among the hubs sharing the store; empty = the host name"),
    CFG_STR("rabbitmq", "exchange", rabbitmq_exchange, "ganglion.tasks", config_check_nonempty, 0,
            "the durable topic exchange the hubs share"),
    CFG_NUM("rabbitmq", "forward_ms", CONFIG_T_INT, rabbitmq_forward_ms, "200", 0, 3600000, 0,
            "a queued task no local worker took within this many ms is offered to other hubs"),
    CFG_NUM("rabbitmq", "poll_ms", CONFIG_T_INT, rabbitmq_poll_ms, "100", 10, 60000, 0,
            "how often a hub with idle workers asks the broker for offered tasks"),
    /* ---- [websocket] ---- */
    CFG_NUM("websocket", "max_frame", CONFIG_T_SIZE, ws_max_frame, "1M", 125, 64 * MIB,
            CONFIG_F_RELOAD, "largest WebSocket frame payload in bytes; larger closes with 1009"),
    CFG_NUM("websocket", "max_message", CONFIG_T_SIZE, ws_max_message, "1M", 125, 64 * MIB,
            CONFIG_F_RELOAD, "largest WebSocket message (all fragments) in bytes; larger: 1009"),
    CFG_NUM("websocket", "queue_bytes", CONFIG_T_SIZE, ws_queue_bytes, "4M", 4 * KIB, 256 * MIB,
            CONFIG_F_RELOAD, "unwritten bytes per WebSocket before the client is closed (1008)"),
    CFG_NUM(
        "websocket", "idle_s", CONFIG_T_INT, ws_idle_s, "300", 1, 86400, CONFIG_F_RELOAD,
        "seconds without a frame from the client before a ping; as long again unanswered: close"),
    CFG_NUM("websocket", "max_inflight", CONFIG_T_INT, ws_max_inflight, "256", 1, 100000,
            CONFIG_F_RELOAD, "unanswered requests per WebSocket before 429"),
    /* ---- [brain] robot I/O (feagi-core's ZMQ protocol; docs/brain.md "Robot I/O") ---- */
    CFG_STR("brain", "robot_router", brain_robot_router, "", NULL, 0,
            "robot registration ROUTER: HOST:PORT, tcp://HOST:PORT, or empty = robot I/O off "
            "(FEAGI's port is 30001)"),
    CFG_STR("brain", "robot_sensory", brain_robot_sensory, "", NULL, 0,
            "robot sensory PULL: HOST:PORT, tcp://HOST:PORT, or empty = off (FEAGI: 5558)"),
    CFG_STR("brain", "robot_motor", brain_robot_motor, "", NULL, 0,
            "robot motor PUB: HOST:PORT, tcp://HOST:PORT, or empty = off (FEAGI: 5564)"),
    CFG_STR("brain", "robot_advertise", brain_robot_advertise, "", NULL, 0,
            "host named in the URLs a registered robot is given; empty = the bound address"),
    CFG_STR("brain", "robot_token", brain_robot_token, "", config_check_robot_token,
            CONFIG_F_SECRET,
            "64 hex digits: the 32-byte auth token a robot must register with; empty = any"),
    CFG_NUM("brain", "robot_timeout_ms", CONFIG_T_INT, brain_robot_timeout_ms, "30000", 100,
            86400000, 0, "a registered robot silent this long is dropped"),
    CFG_NUM("brain", "robot_max_agents", CONFIG_T_INT, brain_robot_max_agents, "64", 1, 4096, 0,
            "robots registered at once; more get failed_invalid_request"),
    CFG_NUM("brain", "robot_max_message", CONFIG_T_SIZE, brain_robot_max_message, "16M", KIB,
            256 * MIB, 0, "largest sensory container accepted"),
    CFG_NUM("brain", "robot_max_areas", CONFIG_T_INT, brain_robot_max_areas, "1024", 1, 65535, 0,
            "cortical areas in one sensory frame"),
    CFG_NUM("brain", "robot_max_points", CONFIG_T_INT, brain_robot_max_points, "1000000", 1,
            16777216, 0, "neuron points in one sensory frame (all areas together)"),
    /* ---- [watch] ---- */
    CFG_NUM("watch", "baseline", CONFIG_T_INT, watch_baseline, "400", 2, 10000, CONFIG_F_RELOAD,
            "default events in a stream's baseline (streams created later)"),
    CFG_NUM("watch", "window", CONFIG_T_INT, watch_window, "50", 1, 5000, CONFIG_F_RELOAD,
            "default events in a scored window"),
    CFG_NUM("watch", "hop", CONFIG_T_INT, watch_hop, "10", 1, 5000, CONFIG_F_RELOAD,
            "default events between two scored windows (at most the window)"),
    CFG_NUM("watch", "level", CONFIG_T_INT, watch_level, "3", 1, 19, CONFIG_F_RELOAD,
            "default zstd compression level"),
    CFG_STR("watch", "ncd_threshold", watch_ncd_threshold, "0.15", NULL, CONFIG_F_RELOAD,
            "default novelty (NCD over the stream's usual level) an anomaly must exceed, in (0,1)"),
    CFG_STR("watch", "flood_threshold", watch_flood_threshold, "0.3", NULL, CONFIG_F_RELOAD,
            "default repetition over which a window is tested as a flood, in (0,1)"),
    CFG_STR("watch", "p_threshold", watch_p_threshold, "0.05", NULL, CONFIG_F_RELOAD,
            "default p-value an anomaly must stay under, in (0,1)"),
    CFG_NUM("watch", "permutations", CONFIG_T_INT, watch_permutations, "1000", 0, 100000,
            CONFIG_F_RELOAD, "default permutation count of the significance test"),
    CFG_NUM("watch", "seed", CONFIG_T_INT, watch_seed, "42", 0, INT64_MAX, CONFIG_F_RELOAD,
            "default seed of the permutation generator"),
    CFG_NUM("watch", "canonicalise", CONFIG_T_INT, watch_canonicalise, "1", 0, 1, CONFIG_F_RELOAD,
            "1 = replace numbers, ids, times, addresses by placeholders before scoring"),
    CFG_NUM("watch", "redact", CONFIG_T_INT, watch_redact, "1", 0, 1, CONFIG_F_RELOAD,
            "1 = blank secret-like fields (password, token, key...) before anything is kept"),
    CFG_NUM("watch", "queue_events", CONFIG_T_INT, watch_queue_events, "20000", 16, 10000000, 0,
            "events queued per stream before ingest answers 429"),
    CFG_NUM("watch", "max_events", CONFIG_T_INT, watch_max_events, "10000", 1, 1000000,
            CONFIG_F_RELOAD, "events accepted in one ingest request"),
    CFG_NUM("watch", "max_streams", CONFIG_T_INT, watch_max_streams, "1000", 1, 1000000,
            CONFIG_F_RELOAD, "streams in all (ingest into a new one beyond it gets 429)"),
    CFG_ENUM("watch", "agents", watch_agents, "labelled",
             ((const char *const[]){"all", "labelled", "none", NULL}), CONFIG_F_RELOAD,
             "whose output is scored: labelled = agents with a watch label (watch=true, or "
             "watch=STREAM to name the stream); all = every agent unless watch=false; none"),
    CFG_NUM("watch", "agent_streams", CONFIG_T_INT, watch_agent_streams, "-1", -1, 2,
            CONFIG_F_RELOAD,
            "deprecated (use watch.agents): 0 = none, 1 = all, 2 = labelled; -1 = watch.agents "
            "decides"),
    CFG_NUM("watch", "incident_gap_s", CONFIG_T_INT, watch_incident_gap_s, "60", 0, 86400,
            CONFIG_F_RELOAD,
            "seconds (in the events' time) within which a stream's anomalies join the same "
            "incident even when their windows do not overlap"),
    CFG_NUM("memory", "max_content_bytes", CONFIG_T_INT, memory_max_content, "16384", 1, 1048576,
            CONFIG_F_RELOAD, "bytes of one memory record's content (larger: 413)"),
    CFG_NUM("memory", "max_records", CONFIG_T_INT, memory_max_records, "100000", 1, 100000000,
            CONFIG_F_RELOAD, "memory records in all layers (beyond: 422 memory-full)"),
    CFG_NUM("memory", "max_dim", CONFIG_T_INT, memory_max_dim, "4096", 1, 4096, 0,
            "floats in one embedding vector"),
    CFG_NUM("memory", "prune_interval_ms", CONFIG_T_INT, memory_prune_interval_ms, "10000", 100,
            86400000, 0, "how often per-layer retention deletes expired and surplus records"),
    CFG_NUM("memory", "prune_batch", CONFIG_T_INT, memory_prune_batch, "500", 1, 100000,
            CONFIG_F_RELOAD, "records one retention pass deletes at most"),
    CFG_NUM("memory", "short_term_max_count", CONFIG_T_INT, memory_max_count[0], "1000", 0,
            100000000, CONFIG_F_RELOAD,
            "records kept in the short-term layer (oldest pruned); 0 = no bound"),
    CFG_NUM("memory", "short_term_max_age_s", CONFIG_T_INT, memory_max_age_s[0], "3600", 0,
            3153600000, CONFIG_F_RELOAD, "seconds a short-term record is kept; 0 = no bound"),
    CFG_NUM("memory", "working_max_count", CONFIG_T_INT, memory_max_count[1], "10000", 0, 100000000,
            CONFIG_F_RELOAD, "records kept in the working layer (oldest pruned); 0 = no bound"),
    CFG_NUM("memory", "working_max_age_s", CONFIG_T_INT, memory_max_age_s[1], "86400", 0,
            3153600000, CONFIG_F_RELOAD, "seconds a working record is kept; 0 = no bound"),
    CFG_NUM("memory", "episodic_max_count", CONFIG_T_INT, memory_max_count[2], "0", 0, 100000000,
            CONFIG_F_RELOAD, "records kept in the episodic layer (oldest pruned); 0 = no bound"),
    CFG_NUM("memory", "episodic_max_age_s", CONFIG_T_INT, memory_max_age_s[2], "0", 0, 3153600000,
            CONFIG_F_RELOAD, "seconds a episodic record is kept; 0 = no bound"),
    CFG_NUM("memory", "semantic_max_count", CONFIG_T_INT, memory_max_count[3], "0", 0, 100000000,
            CONFIG_F_RELOAD, "records kept in the semantic layer (oldest pruned); 0 = no bound"),
    CFG_NUM("memory", "semantic_max_age_s", CONFIG_T_INT, memory_max_age_s[3], "0", 0, 3153600000,
            CONFIG_F_RELOAD, "seconds a semantic record is kept; 0 = no bound"),
    CFG_NUM("memory", "long_term_max_count", CONFIG_T_INT, memory_max_count[4], "0", 0, 100000000,
            CONFIG_F_RELOAD, "records kept in the long-term layer (oldest pruned); 0 = no bound"),
    CFG_NUM("memory", "long_term_max_age_s", CONFIG_T_INT, memory_max_age_s[4], "0", 0, 3153600000,
            CONFIG_F_RELOAD, "seconds a long-term record is kept; 0 = no bound"),
    CFG_NUM("watch", "metrics_streams", CONFIG_T_INT, watch_metrics_streams, "64", 0, 10000, 0,
            "streams given their own Prometheus labels; the rest add up under _other"),
    CFG_NUM("alerts", "outbox_max", CONFIG_T_INT, alerts_outbox_max, "10000", 1, 10000000,
            CONFIG_F_RELOAD,
            "notifications waiting in the outbox at most (beyond: dropped, logged)"),
    CFG_NUM("alerts", "max_attempts", CONFIG_T_INT, alerts_max_attempts, "8", 1, 1000,
            CONFIG_F_RELOAD, "delivery attempts of one notification before it is dead-lettered"),
    CFG_NUM("alerts", "backoff_ms", CONFIG_T_INT, alerts_backoff_ms, "1000", 1, 3600000,
            CONFIG_F_RELOAD, "wait before the first retry; doubles per attempt"),
    CFG_NUM("alerts", "backoff_max_ms", CONFIG_T_INT, alerts_backoff_max_ms, "300000", 1, 86400000,
            CONFIG_F_RELOAD, "the longest wait between two attempts"),
    CFG_NUM("alerts", "timeout_ms", CONFIG_T_INT, alerts_timeout_ms, "5000", 100, 60000,
            CONFIG_F_RELOAD, "one delivery attempt's time limit (HTTP request, exec command)"),
    CFG_NUM("alerts", "concurrency", CONFIG_T_INT, alerts_concurrency, "4", 1, 64, 0,
            "deliveries running at once on the thread pool"),
    CFG_NUM("alerts", "metric_interval_ms", CONFIG_T_INT, alerts_metric_interval_ms, "1000", 100,
            3600000, 0, "how often metric rules sample the metrics registry"),
    CFG_STR("vault", "repo", vault_repo, "", NULL, 0,
            "the backup repository (a directory made by `ganglion vault init`); empty = off"),
    CFG_STR("vault", "key_file", vault_key_file, "", NULL, 0,
            "the repository's key file; empty = the passphrase in $GANGLION_VAULT_PASSPHRASE"),
    CFG_NUM(
        "vault", "interval_s", CONFIG_T_INT, vault_interval_s, "0", 0, INT64_C(31536000), 0,
        "a backup every N seconds (0 = not by interval); a run missed while down runs at start"),
    CFG_STR("vault", "cron", vault_cron, "", NULL, 0,
            "or a backup at a cron expression's times, UTC (e.g. `30 2 * * *`); empty = not"),
    CFG_NUM("guard", "review_at", CONFIG_T_INT, guard_review_at, "50", -10000, 100000,
            CONFIG_F_RELOAD, "score from which an action's verdict is review"),
    CFG_NUM("guard", "deny_at", CONFIG_T_INT, guard_deny_at, "80", -10000, 100000, CONFIG_F_RELOAD,
            "score from which an action's verdict is deny"),
    CFG_ENUM("guard", "gate", guard_gate, "labelled",
             ((const char *const[]){"off", "all", "labelled", NULL}), CONFIG_F_RELOAD,
             "which agents' spawn, stdin and actions are evaluated first: labelled = agents "
             "labelled guard=true; all = every agent unless guard=false; off = none"),
    CFG_STR("guard", "gate_selector", guard_gate_selector, "", NULL, CONFIG_F_RELOAD,
            "with gate=labelled, also gate the agents whose labels match all of KEY=VALUE,... "
            "(e.g. env=prod,team=payments)"),
    CFG_NUM("guard", "review_timeout_ms", CONFIG_T_INT, guard_review_timeout_ms, "60000", 100,
            86400000, CONFIG_F_RELOAD,
            "how long an action held for review waits before it is refused (408)"),
    CFG_NUM("guard", "reviews_max", CONFIG_T_INT, guard_reviews_max, "64", 1, 10000,
            CONFIG_F_RELOAD, "actions held for review at once; beyond it the action is refused"),
    CFG_NUM("guard", "trust_default", CONFIG_T_INT, guard_trust_default_milli, "500", 0, 1000,
            CONFIG_F_RELOAD, "trust of a principal never seen, per mille"),
    CFG_NUM("guard", "trust_half_life_ms", CONFIG_T_INT, guard_trust_half_life_ms, "604800000", 1,
            INT64_C(315360000000), CONFIG_F_RELOAD,
            "time in which a principal's trust moves halfway back to the default"),
    CFG_NUM("guard", "trust_allow", CONFIG_T_INT, guard_trust_allow_milli, "10", -1000, 1000,
            CONFIG_F_RELOAD, "trust step (per mille) of an allow verdict"),
    CFG_NUM("guard", "trust_review", CONFIG_T_INT, guard_trust_review_milli, "-20", -1000, 1000,
            CONFIG_F_RELOAD, "trust step (per mille) of a review verdict"),
    CFG_NUM("guard", "trust_deny", CONFIG_T_INT, guard_trust_deny_milli, "-100", -1000, 1000,
            CONFIG_F_RELOAD, "trust step (per mille) of a deny verdict"),
    CFG_NUM("guard", "trust_approved", CONFIG_T_INT, guard_trust_approved_milli, "50", -1000, 1000,
            CONFIG_F_RELOAD, "trust step (per mille) of a review approved"),
    CFG_NUM("guard", "trust_rejected", CONFIG_T_INT, guard_trust_rejected_milli, "-100", -1000,
            1000, CONFIG_F_RELOAD, "trust step (per mille) of a review rejected or timed out"),
    CFG_NUM("guard", "trust_history", CONFIG_T_INT, guard_trust_history, "20", 1, 1000,
            CONFIG_F_RELOAD, "trust changes kept per principal"),
    CFG_NUM("guard", "verdicts_max", CONFIG_T_INT, guard_verdicts_max, "100000", 100, 100000000,
            CONFIG_F_RELOAD,
            "verdict rows kept in the store; older ones are pruned (their audit rows stay)"),
    CFG_NUM("retention", "interval_ms", CONFIG_T_INT, retention_interval_ms, "60000", 0, 86400000,
            0, "how often the retention pass runs; 0 = never"),
    CFG_NUM("retention", "batch", CONFIG_T_INT, retention_batch, "500", 1, 10000, CONFIG_F_RELOAD,
            "rows one retention statement removes at most (the loop serves requests between)"),
    CFG_NUM("retention", "anomalies_max_age_s", CONFIG_T_INT, retention_anomalies_max_age_s,
            "7776000", 0, 3153600000, CONFIG_F_RELOAD,
            "anomalies older than this (by their window's time) are deleted; 0 = kept"),
    CFG_NUM("retention", "anomalies_max_per_stream", CONFIG_T_INT,
            retention_anomalies_max_per_stream, "100000", 0, 100000000, CONFIG_F_RELOAD,
            "anomalies kept per stream, the newest; 0 = no bound"),
    CFG_NUM("retention", "anomalies_resolve_after_s", CONFIG_T_INT,
            retention_anomalies_resolve_after_s, "0", 0, 3153600000, CONFIG_F_RELOAD,
            "pending anomalies older than this are marked resolved by \"retention\"; 0 = off"),
    CFG_NUM("retention", "audit_max_age_s", CONFIG_T_INT, retention_audit_max_age_s, "31536000", 0,
            3153600000, CONFIG_F_RELOAD, "audit rows older than this are deleted; 0 = kept"),
    CFG_NUM("retention", "tasks_max_age_s", CONFIG_T_INT, retention_tasks_max_age_s, "2592000", 0,
            3153600000, CONFIG_F_RELOAD,
            "finished tasks (and their results) not updated for this long are deleted; 0 = kept"),
    CFG_NUM("retention", "chat_max_age_s", CONFIG_T_INT, retention_chat_max_age_s, "7776000", 0,
            3153600000, CONFIG_F_RELOAD, "stored chat turns older than this are deleted; 0 = kept"),
    CFG_NUM("retention", "agents_max_age_s", CONFIG_T_INT, retention_agents_max_age_s, "2592000", 0,
            3153600000, CONFIG_F_RELOAD,
            "ended agents' records and log files older than this are deleted; 0 = kept"),
    CFG_NUM("retention", "alerts_max_age_s", CONFIG_T_INT, retention_alerts_max_age_s, "2592000", 0,
            3153600000, CONFIG_F_RELOAD,
            "delivered and dead notifications (alert history) whose last attempt is older than "
            "this are deleted; pending ones never; 0 = kept"),
    CFG_STR("otel", "traces_endpoint", otel_traces_endpoint, "", config_check_http_url,
            CONFIG_F_URL,
            "OTLP/HTTP URL ganglion's own spans are POSTed to (.../v1/traces); empty = off"),
    CFG_NUM("otel", "traces_queue", CONFIG_T_INT, otel_traces_queue, "2048", 16, 1000000, 0,
            "spans held for export; a span that finds the queue full is dropped and counted"),
    CFG_STR("otel", "service_name", otel_service_name, "ganglion", config_check_nonempty, 0,
            "service.name of the exported spans' resource"),
};

#define CONFIG_NKEYS (sizeof config_keys / sizeof config_keys[0])

/* Every section of the key table, in the order --print-config shows them; a section missing
 * here would be refused in a file (config_section_known) and left out of the print
 * (config_sections_check, run by the unit tests, keeps the two in step). */
static const char *const config_sections[] = {
    "server", "log",   "store",  "events",    "audit",     "auth",  "tls",   "ratelimit",
    "agents", "zmq",   "mqtt",   "rabbitmq",  "websocket", "watch", "guard", "memory",
    "vault",  "brain", "alerts", "retention", "mail",      "otel"};
#define CONFIG_NSECTIONS (sizeof config_sections / sizeof config_sections[0])

/* Variables under the GANGLION_ prefix that belong to the client or the tests, not the daemon. */
static const char *const config_env_ignored[] = {"URL", "TOKEN", "ADMIN_PASSWORD"};

/* ---- errors and display ---------------------------------------------------------------- */

__attribute__((format(printf, 5, 6))) static int
config_fail(char *err, size_t errlen, const char *source, int line, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return -1;
    size_t off = 0;
    int n = 0;
    if (source && line > 0)
        n = snprintf(err, errlen, "%s:%d: ", source, line);
    else if (source)
        n = snprintf(err, errlen, "%s: ", source);
    else
        err[0] = '\0';
    if (n > 0)
        off = (size_t)n < errlen ? (size_t)n : errlen - 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + off, errlen - off, fmt, ap);
    va_end(ap);
    return -1;
}

/* Copies url into out with the password (user:PASSWORD@ and ?password=) replaced by ***. */
static void config_mask_url(const char *url, char *out, size_t outlen)
{
    char tmp[CONFIG_STR_MAX * 2];
    size_t o = 0;
    const char *p = url;
    const char *scheme = strstr(url, "://");
    if (scheme) {
        const char *auth = scheme + 3;
        size_t authlen = strcspn(auth, "/?#");
        const char *at = NULL;
        for (const char *q = auth; q < auth + authlen; q++)
            if (*q == '@')
                at = q;
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) {
            o = (size_t)snprintf(tmp, sizeof tmp, "%.*s:***", (int)(colon - url), url);
            p = at;
        }
    }
    static const char key[] = "password=";
    char prev = p > url ? p[-1] : '\0';
    while (*p && o + 8 < sizeof tmp) {
        /* libpq also takes the password as a query parameter. */
        if ((prev == '?' || prev == '&') && strncmp(p, key, sizeof key - 1) == 0) {
            o += (size_t)snprintf(tmp + o, sizeof tmp - o, "%s***", key);
            p += sizeof key - 1;
            p += strcspn(p, "&#");
            prev = '=';
            continue;
        }
        prev = *p;
        tmp[o++] = *p++;
    }
    tmp[o < sizeof tmp ? o : sizeof tmp - 1] = '\0';
    snprintf(out, outlen, "%s", tmp);
}

/* Quotes a value for an error message: masked if secret, shortened if long, control characters
 * shown as '?', so the message stays one readable line and never leaks a secret. */
static const char *config_quote(const config_key_t *k, const char *v, char *buf, size_t len)
{
    char masked[CONFIG_STR_MAX * 2];
    if (k && (k->flags & CONFIG_F_SECRET)) {
        snprintf(buf, len, "(secret)");
        return buf;
    }
    if (k && (k->flags & CONFIG_F_URL)) {
        config_mask_url(v, masked, sizeof masked);
        v = masked;
    }
    size_t o = 0;
    if (o + 1 < len)
        buf[o++] = '"';
    for (size_t i = 0; v[i] && o + 5 < len; i++) {
        if (i == 60) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        unsigned char c = (unsigned char)v[i];
        buf[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    if (o + 1 < len)
        buf[o++] = '"';
    buf[o < len ? o : len - 1] = '\0';
    return buf;
}

/* Sizes shown in messages in the form a user would type them: 1k, 64M. */
static void config_fmt_size(int64_t v, char *buf, size_t len)
{
    if (v != 0 && v % MIB == 0)
        snprintf(buf, len, "%" PRId64 "M", v / MIB);
    else if (v != 0 && v % KIB == 0)
        snprintf(buf, len, "%" PRId64 "k", v / KIB);
    else
        snprintf(buf, len, "%" PRId64, v);
}

/* Levenshtein distance for "did you mean"; inputs are short key names. */
static size_t config_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return (size_t)-1;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost =
                tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
            size_t best = diag + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* A name is close enough to suggest when a third of it, or at least two letters, differ. */
static int config_close(const char *typed, size_t d)
{
    size_t limit = strlen(typed) / 3;
    return d <= (limit > 2 ? limit : 2);
}

static const config_key_t *config_suggest_key(const char *section, const char *key)
{
    char typed[160];
    snprintf(typed, sizeof typed, "%s.%s", section, key);
    const config_key_t *best = NULL;
    size_t best_d = (size_t)-1;
    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        const config_key_t *k = &config_keys[i];
        char name[160];
        snprintf(name, sizeof name, "%s.%s", k->section, k->key);
        size_t d = config_distance(typed, name);
        /* The right key in the wrong section ("[log] listen") is a likely slip too. */
        if (strcmp(key, k->key) == 0 && d > 1)
            d = 1;
        if (d < best_d) {
            best_d = d;
            best = k;
        }
    }
    return best && config_close(typed, best_d) ? best : NULL;
}

static const char *config_suggest_section(const char *section)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (size_t i = 0; i < CONFIG_NSECTIONS; i++) {
        size_t d = config_distance(section, config_sections[i]);
        if (d < best_d) {
            best_d = d;
            best = config_sections[i];
        }
    }
    return best && config_close(section, best_d) ? best : NULL;
}

static int config_section_known(const char *section)
{
    for (size_t i = 0; i < CONFIG_NSECTIONS; i++)
        if (strcmp(section, config_sections[i]) == 0)
            return 1;
    return 0;
}

int config_sections_check(const char **missing)
{
    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        if (!config_section_known(config_keys[i].section)) {
            if (missing)
                *missing = config_keys[i].section;
            return -ENOENT;
        }
    }
    return 0;
}

static const config_key_t *config_find(const char *section, const char *key)
{
    for (size_t i = 0; i < CONFIG_NKEYS; i++)
        if (strcmp(section, config_keys[i].section) == 0 && strcmp(key, config_keys[i].key) == 0)
            return &config_keys[i];
    return NULL;
}

static int config_unknown_section(const char *section, const char *source, int line, char *err,
                                  size_t errlen)
{
    char q[80];
    config_quote(NULL, section, q, sizeof q);
    const char *s = config_suggest_section(section);
    if (s)
        return config_fail(err, errlen, source, line, "unknown section %s (did you mean \"[%s]\"?)",
                           q, s);
    return config_fail(err, errlen, source, line,
                       "unknown section %s (sections: server, log, store, events, audit)", q);
}

/* ---- value checks ---------------------------------------------------------------------- */

static int config_hostname_ok(const char *h)
{
    size_t len = strlen(h), label = 0;
    if (len == 0 || len > 253)
        return 0;
    int digits_only = 1;
    for (size_t i = 0; i < len; i++) {
        char c = h[i];
        if (c == '.') {
            if (label == 0 || h[i - 1] == '-')
                return 0;
            label = 0;
            continue;
        }
        if (!isalnum((unsigned char)c) && c != '-')
            return 0;
        if (c == '-' && label == 0)
            return 0;
        if (!isdigit((unsigned char)c))
            digits_only = 0;
        if (++label > 63)
            return 0;
    }
    /* "999.1.1.1" is a malformed address, not a host name. */
    return h[len - 1] != '-' && !digits_only;
}

static int config_split(const char *s, char *host, size_t hostlen, int *port, char *why,
                        size_t whylen)
{
    static const char usage[] = "is not HOST:PORT (e.g. 127.0.0.1:7700, localhost:7700, "
                                "[::1]:7700)";
    const char *h, *hend, *pstr;
    if (s[0] == '[') {
        h = s + 1;
        hend = strchr(h, ']');
        if (!hend || hend[1] != ':')
            return snprintf(why, whylen, "%s", usage), -1;
        pstr = hend + 2;
    } else {
        hend = strrchr(s, ':');
        if (!hend)
            return snprintf(why, whylen, "%s", usage), -1;
        h = s;
        pstr = hend + 1;
        if (memchr(h, ':', (size_t)(hend - h)))
            return snprintf(why, whylen, "has an IPv6 host without brackets (write [%.*s]:PORT)",
                            (int)(hend - h), h),
                   -1;
    }
    size_t hl = (size_t)(hend - h);
    char hbuf[256];
    if (hl == 0 || hl >= sizeof hbuf)
        return snprintf(why, whylen, "%s", usage), -1;
    memcpy(hbuf, h, hl);
    hbuf[hl] = '\0';

    size_t pl = strlen(pstr);
    if (pl == 0 || pl > 5 || strspn(pstr, "0123456789") != pl)
        return snprintf(why, whylen, "%s", usage), -1;
    long p = strtol(pstr, NULL, 10);
    if (p > 65535)
        return snprintf(why, whylen, "has port %ld, out of range (0..65535)", p), -1;

    unsigned char addr[16];
    if (s[0] == '[') {
        if (inet_pton(AF_INET6, hbuf, addr) != 1)
            return snprintf(why, whylen, "has \"%s\", not an IPv6 address", hbuf), -1;
    } else if (inet_pton(AF_INET, hbuf, addr) != 1 && !config_hostname_ok(hbuf)) {
        return snprintf(why, whylen, "has \"%s\", not an IPv4 address or host name", hbuf), -1;
    }
    if (host) {
        if (hl >= hostlen)
            return snprintf(why, whylen, "has a host name too long"), -1;
        memcpy(host, hbuf, hl + 1);
    }
    if (port)
        *port = (int)p;
    return 0;
}

int config_split_hostport(const char *s, char *host, size_t hostlen, int *port)
{
    char why[160];
    if (!s)
        return -1;
    return config_split(s, host, hostlen, port, why, sizeof why);
}

static int config_check_listen(const char *v, char *why, size_t whylen)
{
    return config_split(v, NULL, 0, NULL, why, whylen);
}

/* The scheme only: the relay's URL is taken apart by the SMTP client when mail is sent. */
static int config_check_smtp_url(const char *v, char *why, size_t whylen)
{
    if (v[0] == '\0' || strncmp(v, "smtp://", 7) == 0 || strncmp(v, "smtps://", 8) == 0 ||
        strncmp(v, "smtp+starttls://", 16) == 0)
        return 0;
    snprintf(why, whylen, "is not an SMTP URL (smtp://HOST:PORT, smtp+starttls://…, smtps://…)");
    return -1;
}

/* A bare address (it goes into MAIL FROM:<…> and the From: header as it is). */
static int config_check_mail_from(const char *v, char *why, size_t whylen)
{
    const char *at = strrchr(v, '@');
    bool ok = at && at != v && at[1] != '\0';
    for (const char *p = v; ok && *p; p++)
        ok = *p > ' ' && *p < 127 && !strchr("<>\"(),;:\\[]", *p);
    if (ok)
        return 0;
    snprintf(why, whylen, "is not a bare e-mail address (name@domain)");
    return -1;
}

static int config_check_store_url(const char *v, char *why, size_t whylen)
{
    if (v[0] == '\0')
        return 0;
    if (strncmp(v, "sqlite:", 7) == 0) {
        if (v[7] == '\0')
            return snprintf(why, whylen, "needs a path after \"sqlite:\""), -1;
        return 0;
    }
    if (strncmp(v, "postgres://", 11) == 0 || strncmp(v, "postgresql://", 13) == 0)
        return 0;
    snprintf(why, whylen, "is not a store URL (sqlite:PATH, postgres://USER@HOST/DB)");
    return -1;
}

static int config_check_cors(const char *v, char *why, size_t whylen)
{
    if (v[0] == '\0' || strcmp(v, "*") == 0)
        return 0;
    const char *p = v;
    while (1) {
        p += strspn(p, " ");
        size_t n = strcspn(p, ",");
        size_t t = n;
        while (t > 0 && p[t - 1] == ' ')
            t--;
        int http = t > 7 && strncmp(p, "http://", 7) == 0;
        int https = t > 8 && strncmp(p, "https://", 8) == 0;
        if (!http && !https)
            return snprintf(why, whylen,
                            "is not \"*\" or a comma list of origins (e.g. https://app.example)"),
                   -1;
        if (memchr(p, '*', t) || memchr(p, ' ', t))
            return snprintf(why, whylen, "has \"%.*s\", not an origin", (int)t, p), -1;
        if (p[n] == '\0')
            return 0;
        p += n + 1;
    }
}

static int config_check_nonempty(const char *v, char *why, size_t whylen)
{
    if (v[0] == '\0')
        return snprintf(why, whylen, "must not be empty"), -1;
    return 0;
}

/* Empty, or the 32-byte robot token as 64 hex digits. */
static int config_check_log_levels(const char *v, char *why, size_t whylen)
{
    char err[160];
    if (log_module_levels_check(v, err, sizeof err) == 0)
        return 0;
    snprintf(why, whylen, "%s", err);
    return -1;
}

static int config_check_http_url(const char *v, char *why, size_t whylen)
{
    if (!v[0] || strncmp(v, "http://", 7) == 0 || strncmp(v, "https://", 8) == 0)
        return 0;
    snprintf(why, whylen, "must be an http:// or https:// URL, or empty");
    return -1;
}

static int config_check_robot_token(const char *v, char *why, size_t whylen)
{
    size_t n = strlen(v);
    if (n == 0)
        return 0;
    if (n != 64 || strspn(v, "0123456789abcdefABCDEF") != n)
        return snprintf(why, whylen, "expected 64 hex digits (32 bytes) or empty"), -1;
    return 0;
}

/* Parses a decimal integer with an optional binary suffix (sizes only). 0 or -1 (not a
 * number), -2 (too large for int64). */
static int config_parse_int(const char *v, int size, int64_t *out)
{
    const char *p = v;
    int neg = 0;
    if (*p == '-' && !size) {
        neg = 1;
        p++;
    }
    if (!isdigit((unsigned char)*p))
        return -1;
    int64_t n = 0;
    for (; isdigit((unsigned char)*p); p++) {
        int d = *p - '0';
        if (n > (INT64_MAX - d) / 10)
            return -2;
        n = n * 10 + d;
    }
    int64_t mult = 1;
    if (size && *p) {
        switch (*p) {
        case 'k':
        case 'K':
            mult = KIB;
            break;
        case 'm':
        case 'M':
            mult = MIB;
            break;
        case 'g':
        case 'G':
            mult = MIB * 1024;
            break;
        default:
            return -1;
        }
        p++;
    }
    if (*p != '\0')
        return -1;
    if (n > INT64_MAX / mult)
        return -2;
    *out = neg ? -n * mult : n * mult;
    return 0;
}

/* ---- setting ----------------------------------------------------------------------------- */

static int config_apply(config_t *cfg, const config_key_t *k, const char *value, const char *src,
                        int line, char *err, size_t errlen)
{
    char q[96], why[192];
    char *field = (char *)cfg + k->offset;
    config_quote(k, value, q, sizeof q);

    switch (k->type) {
    case CONFIG_T_INT:
    case CONFIG_T_SIZE: {
        int size = k->type == CONFIG_T_SIZE;
        int64_t n = 0;
        int rc = config_parse_int(value, size, &n);
        if (rc == -1 && size)
            return config_fail(err, errlen, src, line,
                               "%s.%s: %s is not a size (e.g. 1048576, 512k, 1M)", k->section,
                               k->key, q);
        if (rc == -1)
            return config_fail(err, errlen, src, line, "%s.%s: %s is not an integer", k->section,
                               k->key, q);
        if (rc == -2 || n < k->min || n > k->max) {
            char lo[32], hi[32];
            if (size) {
                config_fmt_size(k->min, lo, sizeof lo);
                config_fmt_size(k->max, hi, sizeof hi);
            } else {
                snprintf(lo, sizeof lo, "%" PRId64, k->min);
                snprintf(hi, sizeof hi, "%" PRId64, k->max);
            }
            return config_fail(err, errlen, src, line, "%s.%s: %s is out of range (%s..%s)",
                               k->section, k->key, q, lo, hi);
        }
        memcpy(field, &n, sizeof n);
        return 0;
    }
    case CONFIG_T_ENUM:
        for (size_t i = 0; k->choices[i]; i++) {
            if (strcmp(value, k->choices[i]) == 0) {
                snprintf(field, k->size, "%s", value);
                return 0;
            }
        }
        {
            char list[128] = "";
            size_t o = 0;
            for (size_t i = 0; k->choices[i] && o < sizeof list; i++)
                o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "",
                                      k->choices[i]);
            return config_fail(err, errlen, src, line, "%s.%s: %s is not one of %s", k->section,
                               k->key, q, list);
        }
    case CONFIG_T_STR: {
        size_t len = strlen(value);
        if (len >= k->size)
            return config_fail(err, errlen, src, line, "%s.%s: %s is too long (max %zu bytes)",
                               k->section, k->key, q, k->size - 1);
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)value[i];
            if (c < 0x20 || c == 0x7f)
                return config_fail(err, errlen, src, line, "%s.%s: %s contains a control character",
                                   k->section, k->key, q);
        }
        if (k->check && k->check(value, why, sizeof why) != 0)
            return config_fail(err, errlen, src, line, "%s.%s: %s %s", k->section, k->key, q, why);
        memcpy(field, value, len + 1);
        return 0;
    }
    }
    return config_fail(err, errlen, src, line, "%s.%s: unsupported type", k->section, k->key);
}

int config_set(config_t *cfg, const char *section, const char *key, const char *value,
               const char *source, int line, char *err, size_t errlen)
{
    if (!cfg || !section || !key)
        return config_fail(err, errlen, source, line, "missing section or key");
    if (!config_section_known(section) && !config_suggest_key(section, key))
        return config_unknown_section(section, source, line, err, errlen);
    const config_key_t *k = config_find(section, key);
    if (!k) {
        char q[160];
        snprintf(q, sizeof q, "%s.%s", section, key);
        const config_key_t *s = config_suggest_key(section, key);
        if (s)
            return config_fail(err, errlen, source, line,
                               "unknown key \"%.80s\" (did you mean \"%s.%s\"?)", q, s->section,
                               s->key);
        return config_fail(err, errlen, source, line, "unknown key \"%.80s\"", q);
    }
    if (!value)
        return config_fail(err, errlen, source, line, "%s.%s: missing value", section, key);
    return config_apply(cfg, k, value, source, line, err, errlen);
}

void config_defaults(config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        char err[256];
        int rc =
            config_apply(cfg, &config_keys[i], config_keys[i].def, "default", 0, err, sizeof err);
        /* A default that fails its own check is a bug in the table above. */
        if (rc != 0)
            abort();
    }
}

/* ---- INI file ---------------------------------------------------------------------------- */

typedef struct {
    FILE *f;
    const char *path;
    config_t *cfg;
    char *err;
    size_t errlen;
    int line;
    int failed;
    char buf[4096];
} config_ini_t;

/* fgets-like reader for inih. It exists because inih itself cannot tell the handler the line
 * number, silently splits lines longer than its buffer, treats indented lines as continuations
 * of the previous value, and never reports a section with no keys; all four are handled here. */
static char *config_ini_read(char *str, int num, void *stream)
{
    config_ini_t *st = stream;
    if (st->failed || num < 4 || !fgets(st->buf, sizeof st->buf, st->f))
        return NULL;
    st->line++;
    size_t len = strlen(st->buf);
    size_t content = len;
    while (content > 0 && (st->buf[content - 1] == '\n' || st->buf[content - 1] == '\r'))
        content--;
    const char *p = st->buf;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t lead = (size_t)(p - st->buf);
    int whole = len > 0 && st->buf[len - 1] == '\n';
    if ((!whole && !feof(st->f)) || content - (content > lead ? lead : content) > (size_t)num - 3) {
        st->failed = 1;
        config_fail(st->err, st->errlen, st->path, st->line, "line is too long (max %d bytes)",
                    num - 3);
        return NULL;
    }
    if (*p == '[') {
        const char *end = strchr(p, ']');
        if (end) {
            char name[64];
            size_t n = (size_t)(end - p - 1);
            snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : sizeof name - 1),
                     p + 1);
            /* inih keeps spaces inside the brackets; "[ log ]" means [log] to a reader, so the
             * header is handed on trimmed. */
            char *s = name;
            while (*s == ' ' || *s == '\t')
                s++;
            size_t sl = strlen(s);
            while (sl > 0 && (s[sl - 1] == ' ' || s[sl - 1] == '\t'))
                s[--sl] = '\0';
            if (!config_section_known(s)) {
                st->failed = 1;
                config_unknown_section(s, st->path, st->line, st->err, st->errlen);
                return NULL;
            }
            snprintf(str, (size_t)num, "[%s]%s", s, end + 1);
            return str;
        }
    }
    snprintf(str, (size_t)num, "%s", p);
    return str;
}

static int config_ini_handler(void *user, const char *section, const char *name, const char *value)
{
    config_ini_t *st = user;
    if (st->failed)
        return 0;
    if (!section || section[0] == '\0') {
        config_fail(st->err, st->errlen, st->path, st->line,
                    "key \"%.80s\" is outside a section (add e.g. [server] above it)", name);
        st->failed = 1;
        return 0;
    }
    if (config_set(st->cfg, section, name, value, st->path, st->line, st->err, st->errlen) != 0) {
        st->failed = 1;
        return 0;
    }
    return 1;
}

int config_load_file(config_t *cfg, const char *path, char *err, size_t errlen)
{
    if (!cfg || !path)
        return config_fail(err, errlen, NULL, 0, "no configuration file given");
    FILE *f = fopen(path, "re");
    if (!f)
        return config_fail(err, errlen, path, 0, "cannot open: %s", strerror(errno));
    /* Work on a copy so a file with an error changes nothing (a bad reload keeps the old
     * configuration). */
    config_t *tmp = malloc(sizeof *tmp);
    config_ini_t *st = calloc(1, sizeof *st);
    if (!tmp || !st) {
        free(tmp);
        free(st);
        fclose(f);
        return config_fail(err, errlen, path, 0, "out of memory");
    }
    *tmp = *cfg;
    st->f = f;
    st->path = path;
    st->cfg = tmp;
    st->err = err;
    st->errlen = errlen;
    int rc = ini_parse_stream(config_ini_read, st, config_ini_handler, st);
    int read_error = ferror(f);
    fclose(f);
    int ret = 0;
    if (st->failed)
        ret = -1;
    else if (rc > 0)
        ret = config_fail(err, errlen, path, rc, "expected \"key = value\" or \"[section]\"");
    else if (rc != 0)
        ret = config_fail(err, errlen, path, 0, "cannot parse (error %d)", rc);
    else if (read_error)
        ret = config_fail(err, errlen, path, 0, "read error");
    if (ret == 0)
        *cfg = *tmp;
    free(tmp);
    free(st);
    return ret;
}

/* ---- environment ------------------------------------------------------------------------- */

static void config_env_name(const config_key_t *k, char *buf, size_t len)
{
    snprintf(buf, len, "GANGLION_%s_%s", k->section, k->key);
    for (char *p = buf; *p; p++)
        *p = (char)toupper((unsigned char)*p);
}

static int config_env_ignored_name(const char *rest, size_t len)
{
    if (len >= 5 && strncmp(rest, "TEST_", 5) == 0)
        return 1;
    for (size_t i = 0; i < sizeof config_env_ignored / sizeof config_env_ignored[0]; i++)
        if (strlen(config_env_ignored[i]) == len && strncmp(rest, config_env_ignored[i], len) == 0)
            return 1;
    return 0;
}

int config_load_env(config_t *cfg, char *const *envp, char *err, size_t errlen)
{
    static const char prefix[] = "GANGLION_";
    if (!cfg)
        return config_fail(err, errlen, NULL, 0, "no configuration");
    if (!envp)
        return 0;
    config_t tmp = *cfg;
    for (size_t i = 0; envp[i]; i++) {
        const char *e = envp[i];
        if (strncmp(e, prefix, sizeof prefix - 1) != 0)
            continue;
        const char *eq = strchr(e, '=');
        if (!eq)
            continue;
        const char *rest = e + sizeof prefix - 1;
        size_t restlen = (size_t)(eq - rest);
        /* Only GANGLION_<X>_<Y> has the shape of a key; GANGLION_CONFIG and the like are left
         * to whoever reads them. */
        if (config_env_ignored_name(rest, restlen) || !memchr(rest, '_', restlen))
            continue;
        char name[160];
        snprintf(name, sizeof name, "%.*s", (int)(eq - e < 159 ? eq - e : 159), e);
        const config_key_t *k = NULL;
        for (size_t j = 0; j < CONFIG_NKEYS && !k; j++) {
            char want[160];
            config_env_name(&config_keys[j], want, sizeof want);
            if (strcmp(want, name) == 0 && (size_t)(eq - e) < sizeof name)
                k = &config_keys[j];
        }
        if (!k) {
            const config_key_t *best = NULL;
            size_t best_d = (size_t)-1;
            for (size_t j = 0; j < CONFIG_NKEYS; j++) {
                char want[160];
                config_env_name(&config_keys[j], want, sizeof want);
                size_t d = config_distance(name, want);
                /* GANGLION_DATA_DIR for GANGLION_SERVER_DATA_DIR: the key without its section. */
                const char *key_up = want + sizeof prefix - 1 + strlen(config_keys[j].section) + 1;
                if (restlen == strlen(key_up) && strncmp(rest, key_up, restlen) == 0 && d > 1)
                    d = 1;
                if (d < best_d) {
                    best_d = d;
                    best = &config_keys[j];
                }
            }
            if (best && config_close(name, best_d)) {
                char want[160];
                config_env_name(best, want, sizeof want);
                return config_fail(err, errlen, name, 0,
                                   "unknown configuration variable (did you mean %s?)", want);
            }
            return config_fail(err, errlen, name, 0,
                               "unknown configuration variable (expected GANGLION_<SECTION>_<KEY>, "
                               "e.g. GANGLION_SERVER_LISTEN)");
        }
        if (config_apply(&tmp, k, eq + 1, name, 0, err, errlen) != 0)
            return -1;
    }
    *cfg = tmp;
    return 0;
}

/* ---- validation, reload and rendering ----------------------------------------------------- */

/* Re-checks one field as stored (callers may have written the struct directly). */
static int config_check_field(const config_t *cfg, const config_key_t *k, char *err, size_t errlen)
{
    const char *field = (const char *)cfg + k->offset;
    if (k->type == CONFIG_T_INT || k->type == CONFIG_T_SIZE) {
        int64_t n;
        memcpy(&n, field, sizeof n);
        if (n < k->min || n > k->max)
            return config_fail(err, errlen, NULL, 0,
                               "%s.%s: %" PRId64 " is out of range (%" PRId64 "..%" PRId64 ")",
                               k->section, k->key, n, k->min, k->max);
        return 0;
    }
    if (!memchr(field, '\0', k->size))
        return config_fail(err, errlen, NULL, 0, "%s.%s: value is not terminated", k->section,
                           k->key);
    config_t scratch;
    return config_apply(&scratch, k, field, NULL, 0, err, errlen);
}

int config_validate(const config_t *cfg, char *err, size_t errlen)
{
    if (!cfg)
        return config_fail(err, errlen, NULL, 0, "no configuration");
    for (size_t i = 0; i < CONFIG_NKEYS; i++)
        if (config_check_field(cfg, &config_keys[i], err, errlen) != 0)
            return -1;
    /* An SSE stream carries nothing but heartbeats when idle; if they are rarer than the idle
     * timeout, every quiet stream is cut. */
    if (cfg->events_heartbeat_s >= cfg->connection_timeout_s)
        return config_fail(err, errlen, NULL, 0,
                           "events.heartbeat_s (%" PRId64
                           ") must be less than server.connection_timeout_s (%" PRId64 ")",
                           cfg->events_heartbeat_s, cfg->connection_timeout_s);
    /* The request line is part of the head: a target as long as the head could never fit. */
    if (cfg->uri_max + 64 > cfg->header_max)
        return config_fail(err, errlen, NULL, 0,
                           "server.uri_max (%" PRId64 ") must be at least 64 bytes below "
                           "server.header_max (%" PRId64 ")",
                           cfg->uri_max, cfg->header_max);
    return 0;
}

int config_reload_check(const config_t *old, const config_t *next, char *err, size_t errlen)
{
    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        const config_key_t *k = &config_keys[i];
        if (k->flags & CONFIG_F_RELOAD)
            continue;
        const char *a = (const char *)old + k->offset;
        const char *b = (const char *)next + k->offset;
        int same = k->type == CONFIG_T_STR || k->type == CONFIG_T_ENUM ? strcmp(a, b) == 0
                                                                       : memcmp(a, b, k->size) == 0;
        if (!same)
            return config_fail(err, errlen, NULL, 0, "%s.%s cannot change without a restart",
                               k->section, k->key);
    }
    return 0;
}

void config_apply_reloadable(config_t *dst, const config_t *src)
{
    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        const config_key_t *k = &config_keys[i];
        if (k->flags & CONFIG_F_RELOAD)
            memcpy((char *)dst + k->offset, (const char *)src + k->offset, k->size);
    }
}

/* A growable text buffer local to rendering; bounded by the table, so failures are only OOM. */
typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} config_out_t;

__attribute__((format(printf, 2, 3))) static void config_out(config_out_t *o, const char *fmt, ...)
{
    if (o->oom)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        o->oom = 1;
        return;
    }
    if (o->len + (size_t)n >= o->cap) {
        size_t cap = (o->len + (size_t)n + 1) * 2;
        char *np = realloc(o->p, cap);
        if (!np) {
            o->oom = 1;
            return;
        }
        o->p = np;
        o->cap = cap;
        va_start(ap, fmt);
        vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
    }
    o->len += (size_t)n;
}

char *config_render(const config_t *cfg)
{
    if (!cfg)
        return NULL;
    config_out_t o = {malloc(4096), 0, 4096, 0};
    if (!o.p)
        return NULL;
    o.p[0] = '\0';
    config_out(&o, "# ganglion effective configuration (secrets masked)\n");
    for (size_t s = 0; s < CONFIG_NSECTIONS; s++) {
        config_out(&o, "\n[%s]\n", config_sections[s]);
        for (size_t i = 0; i < CONFIG_NKEYS; i++) {
            const config_key_t *k = &config_keys[i];
            if (strcmp(k->section, config_sections[s]) != 0)
                continue;
            const char *field = (const char *)cfg + k->offset;
            config_out(&o, "# %s (default: %s%s)%s%s\n", k->help, k->def[0] ? "" : "\"\"", k->def,
                       k->flags & CONFIG_F_RELOAD ? " [reloadable]" : "",
                       k->flags & CONFIG_F_SECRET ? " [secret]" : "");
            if (k->flags & CONFIG_F_SECRET) {
                config_out(&o, "%s = %s\n", k->key, field[0] ? "********" : "");
            } else if (k->type == CONFIG_T_INT || k->type == CONFIG_T_SIZE) {
                int64_t n;
                memcpy(&n, field, sizeof n);
                config_out(&o, "%s = %" PRId64 "\n", k->key, n);
            } else if (k->flags & CONFIG_F_URL) {
                char masked[CONFIG_STR_MAX * 2];
                config_mask_url(field, masked, sizeof masked);
                config_out(&o, "%s = %s\n", k->key, masked);
            } else {
                /* No trailing blank after "=" for empty values: "key =" reads back as "". */
                size_t n = strnlen(field, k->size);
                config_out(&o, "%s =%s%.*s\n", k->key, n ? " " : "", (int)n, field);
            }
        }
    }
    if (o.oom) {
        free(o.p);
        return NULL;
    }
    return o.p;
}
