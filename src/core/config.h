/* Configuration: defaults, then an INI file (--config), then GANGLION_<SECTION>_<KEY>
 * environment variables, then command-line flags, in that order of precedence. Every key is
 * declared once in a table in config.c (type, bounds, default, whether it is secret or
 * reloadable); unknown keys and bad values are errors that name the source, line and reason. */
#ifndef GANGLION_CONFIG_H
#define GANGLION_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_STR_MAX 512

typedef struct config {
    /* [server] */
    char listen[CONFIG_STR_MAX];         /* HOST:PORT, default 127.0.0.1:7700 */
    char data_dir[CONFIG_STR_MAX];       /* default ./var */
    int64_t body_limit;                  /* bytes, default 1 MiB */
    int64_t json_max_depth;              /* default 64 */
    int64_t max_connections;             /* default 1024 */
    int64_t connection_timeout_s;        /* idle connection timeout, default 30 */
    int64_t max_connections_per_address; /* of them from one client address, default 128 */
    int64_t header_timeout_ms;  /* accept to the end of the first request head, default 10000 */
    int64_t header_max;         /* request line + header fields, bytes, default 16 KiB */
    int64_t uri_max;            /* request target, bytes, default 8 KiB */
    int64_t shutdown_grace_ms;  /* wait for in-flight requests on shutdown, default 5000 */
    int64_t compress_min_bytes; /* gzip responses at least this big when asked; 0 = off */
    int64_t malloc_arenas;      /* glibc malloc arenas for all threads, default 2; 0 = glibc's */
    char cors_origins[CONFIG_STR_MAX]; /* comma list or "*"; empty = CORS off */
    char ui_dir[CONFIG_STR_MAX];       /* console files from here (development); empty = built in */
    /* [log] */
    char log_level[16];              /* debug|info|warn|error|off */
    char log_file[CONFIG_STR_MAX];   /* empty = stderr */
    char log_levels[CONFIG_STR_MAX]; /* "module=level,..." per-module levels; empty = none */
    /* [store] */
    char store_url[CONFIG_STR_MAX]; /* sqlite:PATH | postgres://...; empty = sqlite in data_dir */
    int64_t store_pool_size;        /* connections, default 4 */
    int64_t store_busy_timeout_ms;  /* default 5000 */
    int64_t store_sqlite_cache_kb;  /* page cache per SQLite connection, default 2000 */
    int64_t store_sqlite_heap_kb;   /* SQLite's memory, the whole pool, soft limit; 0 = none */
    /* [events] */
    int64_t events_ring; /* events kept for Last-Event-ID replay, default 1024 */
    int64_t
        events_client_queue;    /* events queued per SSE client before it is dropped, default 256 */
    int64_t events_heartbeat_s; /* SSE heartbeat comment interval, default 15 */
    /* [audit] */
    int64_t audit_page_max; /* max page size for GET /api/v1/audit, default 1000 */
    /* [auth] accounts, tokens, keys (src/auth) */
    int64_t auth_pwhash_opslimit;   /* argon2id passes, default 2 */
    int64_t auth_pwhash_memlimit;   /* argon2id bytes, default 32 MiB */
    int64_t auth_access_ttl_s;      /* access token (JWT) lifetime, default 900 */
    int64_t auth_refresh_ttl_s;     /* refresh token lifetime, default 7 days */
    char auth_issuer[64];           /* JWT iss, default "ganglion" */
    char auth_audience[64];         /* JWT aud, default "ganglion" */
    int64_t auth_lockout_threshold; /* consecutive failures that lock, default 5 */
    int64_t auth_lockout_s;         /* lock duration, default 900 */
    int64_t auth_password_min;      /* shortest password accepted, default 12 */
    int64_t auth_key_grace_s;       /* old key secret valid after rotate, default 86400 */
    int64_t auth_public_metrics;    /* 1 = /metrics without a token */
    int64_t auth_public_openapi;    /* 1 = /openapi.json without a token */
    /* [auth] account flows: registration, reset, verification (docs/security.md) */
    char auth_registration[16];            /* off | invite | approval, default off */
    int64_t auth_reset_ttl_s;              /* password-reset token lifetime, default 3600 */
    int64_t auth_verify_ttl_s;             /* e-mail verification token lifetime, default 86400 */
    int64_t auth_invite_ttl_s;             /* invitation code lifetime, default 7 days */
    int64_t auth_mail_interval_s;          /* least seconds between mails asked for one account */
    char auth_console_url[CONFIG_STR_MAX]; /* base of the links in mails; empty = no link */
    /* [mail] the relay for the daemon's own mail (src/net/smtp_client.h) */
    char mail_smtp_url[CONFIG_STR_MAX]; /* smtp://, smtp+starttls://, smtps://; empty = no mail */
    char mail_from[255];                /* envelope and header sender */
    char mail_helo[128];                /* EHLO name; empty = localhost */
    int64_t mail_timeout_s;             /* one conversation with the relay, default 30 */
    int64_t mail_retry_s;               /* first retry of an unsent mail, default 30 */
    char mail_ca_file[CONFIG_STR_MAX];  /* PEM trust anchors for the relay; empty = system */
    /* [tls] HTTPS (src/net) */
    char tls_cert_file[CONFIG_STR_MAX];  /* PEM certificate (chain); with key_file: HTTPS */
    char tls_key_file[CONFIG_STR_MAX];   /* PEM private key, unencrypted */
    char tls_priorities[CONFIG_STR_MAX]; /* GnuTLS priority string */
    int64_t tls_hsts_max_age_s;          /* Strict-Transport-Security max-age; 0 = not sent */
    /* [ratelimit] token buckets (src/auth) */
    int64_t rl_enabled; /* 0 = no rate limiting */
    int64_t rl_ip_rate; /* requests/s per client address */
    int64_t rl_ip_burst;
    int64_t rl_auth_rate; /* login/refresh requests/s per client address */
    int64_t rl_auth_burst;
    int64_t rl_admin_rate; /* requests/s per principal, by role */
    int64_t rl_operator_rate;
    int64_t rl_viewer_rate;
    int64_t rl_agent_rate;
    int64_t rl_principal_burst; /* bucket size per principal */
    int64_t rl_max_buckets;     /* bound on tracked buckets (idle ones evicted first) */
    int64_t rl_idle_s;          /* a bucket unused this long is dropped */
    /* [agents] process supervision (src/agents) */
    int64_t agents_max;               /* agents with a process at once, default 1000 */
    int64_t agents_output_buffer;     /* bytes of output kept per agent and stream, default 1 MiB */
    int64_t agents_line_max;          /* longer lines are split into records, default 16 KiB */
    int64_t agents_tail_lines;        /* lines of a finished agent persisted, default 200 */
    int64_t agents_log_max_bytes;     /* rotate an agent's log file past this, default 10 MiB */
    int64_t agents_log_backups;       /* rotated log files kept per agent, default 5 */
    int64_t agents_grep_jobs;         /* output searches on the thread pool at once, default 2 */
    int64_t agents_grep_budget_ms;    /* CPU ms one output search may use, default 500 */
    int64_t agents_stop_grace_ms;     /* SIGTERM to SIGKILL, default 5000 */
    int64_t agents_action_timeout_ms; /* custom action reply wait, default 30000 */
    int64_t agents_backoff_ms;        /* first restart delay, doubling, default 500 */
    int64_t agents_backoff_max_ms;    /* restart delay cap, default 30000 */
    int64_t agents_sample_ms;         /* CPU and RSS sampling period of live agents, default 1000 */
    /* [brain] */
    char brain_genome_dir[CONFIG_STR_MAX]; /* shipped genomes; empty = <data_dir>/genomes */
    char brain_default[64];                /* the brain the FEAGI /v1 routes act on */
    int64_t brain_max;                     /* brains at once, default 16 */
    int64_t brain_events_hz;               /* brain.<id>.burst events per second per brain */
    int64_t brain_feagi_loopback_open;     /* 1: /v1 FEAGI routes need no token from loopback */
    int64_t brain_burst_threads;           /* threads per large burst: 0 = auto, 1, 2 */
    int64_t brain_burst_split_neurons;     /* smaller networks never split a burst */
    char agents_user[64];   /* run agents as this user when root; empty = unchanged */
    char agents_group[64];  /* and this group; empty = the user's */
    int64_t agents_cgroup;  /* 1: cgroup v2 limits when delegated; 0: rlimits only */
    char agents_orphans[8]; /* stop|leave: what a killed daemon's agents become */
    char
        agents_programs[CONFIG_STR_MAX]; /* program files' directory; empty = data-dir/programs.d */
    /* [zmq] ZMQ transport (src/net/zmq*) */
    char zmq_listen[CONFIG_STR_MAX];        /* RPC ROUTER: HOST:PORT, tcp://..., or off */
    char zmq_pub[CONFIG_STR_MAX];           /* event PUB: HOST:PORT, tcp://..., or off */
    int64_t zmq_max_message;                /* largest request frame accepted, default 10 MiB */
    int64_t zmq_hwm;                        /* send and receive high-water marks, messages */
    int64_t zmq_max_inflight_per_peer;      /* unanswered requests per peer before 429 */
    char zmq_curve[8];                      /* on | off */
    char zmq_curve_clients[CONFIG_STR_MAX]; /* allow-list file; empty = DATA_DIR/zmq_clients */
    /* [mqtt] MQTT transport (src/net/mqtt*) */
    char mqtt_url[CONFIG_STR_MAX];           /* mqtt://HOST:PORT, mqtts://...; empty = off */
    char mqtt_prefix[128];                   /* topic prefix, default "ganglion" */
    char mqtt_client_id[128];                /* empty = ganglion-<host>-<pid> */
    char mqtt_username[128];                 /* empty = none */
    char mqtt_password[256];                 /* secret */
    char mqtt_password_file[CONFIG_STR_MAX]; /* first line is the password */
    char mqtt_ca_file[CONFIG_STR_MAX];       /* mqtts: CA bundle; empty = system */
    char mqtt_cert_file[CONFIG_STR_MAX];     /* mqtts: client certificate */
    char mqtt_key_file[CONFIG_STR_MAX];      /* mqtts: its key */
    int64_t mqtt_qos_events;                 /* 0..2 */
    char mqtt_events[CONFIG_STR_MAX];        /* bus patterns published; empty = none */
    int64_t mqtt_max_message;                /* largest request payload */
    int64_t mqtt_keepalive;                  /* seconds */
    /* [rabbitmq] tasks between hubs (src/tasks/tasks_relay.c, src/net/amqp_link.c) */
    char rabbitmq_url[CONFIG_STR_MAX]; /* amqp://USER:PASS@HOST:PORT/VHOST; empty = off */
    char rabbitmq_hub[128];            /* this hub's name among those sharing the store */
    char rabbitmq_exchange[128];       /* topic exchange, default "ganglion.tasks" */
    int64_t rabbitmq_forward_ms;       /* a task no local worker took by then goes to the bus */
    int64_t rabbitmq_poll_ms;          /* idle local workers ask the bus this often */
    /* [websocket] WebSocket transport (src/net/ws*) */
    int64_t ws_max_frame;    /* largest frame payload, default 1 MiB */
    int64_t ws_max_message;  /* largest message, all fragments, default 1 MiB */
    int64_t ws_queue_bytes;  /* unwritten bytes before a slow client is closed, default 4 MiB */
    int64_t ws_idle_s;       /* silence before a ping, then before close 1001, default 300 */
    int64_t ws_max_inflight; /* unanswered requests per connection before 429, default 256 */
    /* [watch] anomaly detection (src/watch) */
    int64_t watch_baseline;         /* default events in a stream's baseline, 400 */
    int64_t watch_window;           /* default events in a window, 50 */
    int64_t watch_hop;              /* default events between scored windows, 10 */
    int64_t watch_level;            /* default zstd level, 3 */
    char watch_ncd_threshold[32];   /* default novelty threshold, "0.15" */
    char watch_flood_threshold[32]; /* default repetition threshold of a flood, "0.3" */
    char watch_p_threshold[32];     /* default p-value threshold, "0.05" */
    int64_t watch_permutations;     /* default permutation count, 1000 */
    int64_t watch_seed;             /* default permutation seed, 42 */
    int64_t watch_canonicalise;     /* default 1: volatile values become placeholders */
    int64_t watch_redact;           /* default 1: secret-like fields are blanked */
    int64_t watch_queue_events;     /* events queued per stream before ingest gets 429 */
    int64_t watch_max_events;       /* events per ingest request */
    int64_t watch_max_streams;      /* streams in all */
    int64_t watch_agent_streams;    /* deprecated: -1 unset, else 0 none, 1 all, 2 labelled */
    char watch_agents[12];          /* all | labelled | none: whose output is watched */
    int64_t watch_incident_gap_s;   /* anomalies this close (event time) share an incident */
    int64_t watch_metrics_streams;  /* streams with their own Prometheus labels */
    /* [alerts] rules and notifiers (src/alerts, docs/alerts.md) */
    int64_t alerts_outbox_max;         /* notifications waiting at most */
    int64_t alerts_max_attempts;       /* attempts before the dead letter */
    int64_t alerts_backoff_ms;         /* first retry's wait, doubled per attempt */
    int64_t alerts_backoff_max_ms;     /* the longest wait */
    int64_t alerts_timeout_ms;         /* one attempt's limit */
    int64_t alerts_concurrency;        /* deliveries at once */
    int64_t alerts_metric_interval_ms; /* metric rules' sampling period */
    /* [vault] scheduled backups (src/vault, docs/vault.md) */
    char vault_repo[1024];     /* the repository directory; empty = no vault in the daemon */
    char vault_key_file[1024]; /* its key file; empty = $GANGLION_VAULT_PASSPHRASE */
    int64_t vault_interval_s;  /* a backup every N seconds; 0 = not by interval */
    char vault_cron[128];      /* or at a cron expression's times (UTC); empty = not */
    /* [guard] rules, verdicts, the gate and trust (src/guard) */
    int64_t guard_review_at;            /* score from which the verdict is review, 50 */
    int64_t guard_deny_at;              /* score from which the verdict is deny, 80 */
    char guard_gate[12];                /* off | all | labelled: which agents' actions are gated */
    char guard_gate_selector[256];      /* labelled: also agents whose labels match K=V,K=V */
    int64_t guard_review_timeout_ms;    /* how long a held action waits for a decision */
    int64_t guard_reviews_max;          /* actions held for review at once */
    int64_t guard_trust_default_milli;  /* trust of a new principal, per mille (500) */
    int64_t guard_trust_half_life_ms;   /* trust decays halfway back to the default in this */
    int64_t guard_trust_allow_milli;    /* trust step of an allow verdict, per mille */
    int64_t guard_trust_review_milli;   /* of a review verdict */
    int64_t guard_trust_deny_milli;     /* of a deny verdict */
    int64_t guard_trust_approved_milli; /* of a review approved */
    int64_t guard_trust_rejected_milli; /* of a review rejected (or timed out) */
    int64_t guard_trust_history;        /* trust changes kept per principal */
    int64_t guard_verdicts_max;         /* verdict rows kept (the oldest pruned) */
    /* memory (docs/memory.md) */
    int64_t memory_max_content;       /* bytes of one record's content */
    int64_t memory_max_records;       /* records in all layers */
    int64_t memory_max_dim;           /* floats in one embedding */
    int64_t memory_prune_interval_ms; /* how often retention runs */
    int64_t memory_prune_batch;       /* records one retention pass deletes at most */
    int64_t memory_max_count[5];      /* per layer (memory_layers order); 0 = no bound */
    int64_t memory_max_age_s[5];      /* per layer; 0 = no bound */
    /* [retention] the background purges (src/store/retention.c, docs/operations.md) */
    int64_t retention_interval_ms;               /* a pass every N ms; 0 = never */
    int64_t retention_batch;                     /* rows one statement removes at most */
    int64_t retention_anomalies_max_age_s;       /* anomalies older are deleted; 0 = kept */
    int64_t retention_anomalies_max_per_stream;  /* newest kept per stream; 0 = no bound */
    int64_t retention_anomalies_resolve_after_s; /* pending ones older become resolved; 0 = off */
    int64_t retention_audit_max_age_s;           /* audit rows older are deleted; 0 = kept */
    int64_t retention_tasks_max_age_s;           /* finished tasks older are deleted; 0 = kept */
    int64_t retention_chat_max_age_s;            /* chat turns older are deleted; 0 = kept */
    int64_t retention_alerts_max_age_s;          /* delivered/dead notifications older; 0 = kept */
    int64_t retention_agents_max_age_s; /* ended agents' records and logs older; 0 = kept */
    /* [brain] robot I/O over ZMQ (src/brain/brain_robot.c) */
    char brain_robot_router[CONFIG_STR_MAX];    /* ROUTER: registration; empty = off */
    char brain_robot_sensory[CONFIG_STR_MAX];   /* PULL: sensory frames; empty = off */
    char brain_robot_motor[CONFIG_STR_MAX];     /* PUB: motor frames; empty = off */
    char brain_robot_advertise[CONFIG_STR_MAX]; /* host in the URLs given to robots */
    char brain_robot_token[80];                 /* 64 hex digits, or empty = any token */
    int64_t brain_robot_timeout_ms;             /* silent robots dropped after, default 30000 */
    int64_t brain_robot_max_agents;             /* robots registered at once, default 64 */
    int64_t brain_robot_max_message;            /* largest sensory container, default 16 MiB */
    int64_t brain_robot_max_areas;              /* areas per sensory frame, default 1024 */
    int64_t brain_robot_max_points;             /* points per sensory frame, default 1e6 */
    /* [otel] */
    char otel_traces_endpoint[CONFIG_STR_MAX]; /* OTLP/HTTP URL spans go to; empty = off */
    int64_t otel_traces_queue;                 /* spans held for export, default 2048 */
    char otel_service_name[64];                /* resource service.name, default "ganglion" */
} config_t;

/* Fills cfg with the built-in defaults. */
void config_defaults(config_t *cfg);

/* 0 when every key's section is a known section (accepted in files, shown by --print-config);
 * -ENOENT with *missing set to the first that is not. */
int config_sections_check(const char **missing);

/* Applies one key from a source. `source` and `line` only feed the error message
 * ("ganglion.ini:12: server.listen: expected HOST:PORT"). Returns 0 or -1 with err filled. */
int config_set(config_t *cfg, const char *section, const char *key, const char *value,
               const char *source, int line, char *err, size_t errlen);

/* Loads an INI file over cfg. 0 or -1 with err filled. */
int config_load_file(config_t *cfg, const char *path, char *err, size_t errlen);

/* Applies GANGLION_<SECTION>_<KEY> variables from envp (NULL-terminated, e.g. environ). Unknown
 * GANGLION_* variables that look like keys are errors, except those in the client list
 * (GANGLION_URL, GANGLION_TOKEN, GANGLION_ADMIN_PASSWORD). */
int config_load_env(config_t *cfg, char *const *envp, char *err, size_t errlen);

/* Checks cross-key constraints after all sources are applied. */
int config_validate(const config_t *cfg, char *err, size_t errlen);

/* Fails (naming the key) if `next` changes a key that only takes effect at start, so a SIGHUP
 * reload can refuse instead of half-applying. 0 or -1 with err filled. */
int config_reload_check(const config_t *old, const config_t *next, char *err, size_t errlen);

/* Copies the keys marked reloadable from src into dst (the SIGHUP path). */
void config_apply_reloadable(config_t *dst, const config_t *src);

/* Writes the effective configuration as INI text with secrets masked (a password inside
 * store.url becomes "***"). Caller frees. */
char *config_render(const config_t *cfg);

/* Splits "host:port" ("[::1]:7700" for IPv6). 0 or -1. */
int config_split_hostport(const char *s, char *host, size_t hostlen, int *port);

#endif
