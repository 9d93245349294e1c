/* The performance gate's driver: one hot path of ganglion, set up and warmed up, then N
 * operations inside gate_measure(), the one function bench/gate/run has callgrind count
 * (--toggle-collect), so that instructions / N is the cost of one operation, free of the
 * set-up and of the process's start.
 *
 *   gate PATH N      PATH: http_healthz http_post_auth watch_ingest watch_window guard_eval
 *                          brain_burst agents_spawn
 */
#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>
#ifdef GATE_HAVE_CALLGRIND_H
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_ZERO_STATS /* agents_spawn refuses to run without it */
#endif

#include "agents/agents.h"
#include "api/api.h"
#include "api/system_api.h"
#include "auth/auth_jwt.h"
#include "brain/brain_burst.h"
#include "brain/brain_genome.h"
#include "brain/brain_net.h"
#include "core/bus.h"
#include "core/hub.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/num.h"
#include "guard/guard_rules.h"
#include "net/http.h"
#include "store/store.h"
#include "watch/cbad.h"

typedef struct gate_path {
    const char *name;
    int (*setup)(void);
    int (*op)(void); /* one operation; 0 or -1 */
    int warmup;      /* operations before the measured ones (caches, lazy set-up) */
} gate_path_t;

static void gate_die(const char *what)
{
    fprintf(stderr, "gate: %s\n", what);
    exit(1);
}

/* Deterministic text: the same run gives the same instructions. */
static uint32_t gate_rnd_state = 12345;
static uint32_t gate_rnd(void)
{
    gate_rnd_state = gate_rnd_state * 1103515245u + 12345u;
    return gate_rnd_state >> 8;
}

/* ---- HTTP: the real server on a loopback port, one keep-alive client in this process ---- */

static hub_t gate_hub;
static uv_loop_t gate_loop;
static int gate_fd = -1;
static char gate_request[4096];
static size_t gate_request_len;
static unsigned char gate_pk[crypto_sign_PUBLICKEYBYTES];

/* What a JSON POST of a domain costs besides the domain: the bearer token verified (the auth
 * module does the same EdDSA check first), the body validated against the schema. */
static problem_t *gate_auth(api_req_t *req, const api_endpoint_t *ep, void *ud)
{
    if (strcmp(ep->scope, API_SCOPE_PUBLIC) == 0)
        return NULL;
    const char *cred = api_req_credential(req);
    json_t *claims = NULL;
    if (!cred || auth_jwt_verify(cred, gate_pk, 1700000100, "ganglion", "ganglion", &claims) != 0)
        return problem_new(401, "unauthorized", "bad token");
    api_req_principal_set(req, json_string_value(json_object_get(claims, "sub")));
    json_decref(claims);
    return NULL;
}

static void gate_echo(api_req_t *req, void *ctx)
{
    json_t *body = api_req_body(req);
    api_reply_json(req, 201,
                   json_pack("{s:O,s:s}", "stream", json_object_get(body, "stream"), "principal",
                             api_req_principal(req)));
}

static const api_field_t gate_echo_body[] = {
    {.name = "stream", .type = API_T_STRING, .flags = API_F_REQUIRED | API_F_MAX, .max = 64},
    {.name = "lines", .type = API_T_ARRAY, .flags = API_F_MAX, .max = 100},
    {.name = "labels", .type = API_T_OBJECT, .flags = API_F_ADDITIONAL},
    {0},
};

static const api_endpoint_t gate_endpoints[] = {
    {.method = "POST",
     .path = "/api/v1/gate/{id}/echo",
     .scope = "watch:write",
     .summary = "gate",
     .tag = "gate",
     .params = (const api_field_t[]){{.name = "id", .type = API_T_STRING}, {0}},
     .body_kind = API_BODY_JSON,
     .body = gate_echo_body,
     .status = 201,
     .handler = gate_echo},
};

static int gate_http_setup(const char *request)
{
    if (uv_loop_init(&gate_loop) != 0)
        return -1;
    gate_hub.loop = &gate_loop;
    config_defaults(&gate_hub.cfg);
    snprintf(gate_hub.cfg.listen, sizeof gate_hub.cfg.listen, "127.0.0.1:0");
    gate_hub.metrics = metrics_new();
    gate_hub.api = api_registry_new(&gate_hub);
    if (!gate_hub.metrics || !gate_hub.api)
        return -1;
    system_api_register(gate_hub.api, &gate_hub, false);
    api_register(gate_hub.api, gate_endpoints, sizeof gate_endpoints / sizeof gate_endpoints[0]);
    api_auth_hook_set(gate_hub.api, gate_auth, NULL);
    char err[256];
    if (http_server_start(&gate_hub, &gate_hub.http, err, sizeof err) < 0)
        gate_die(err);
    gate_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)http_server_port(gate_hub.http))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (gate_fd < 0 || connect(gate_fd, (struct sockaddr *)&a, sizeof a) < 0)
        return -1;
    gate_request_len = strlen(request);
    memcpy(gate_request, request, gate_request_len + 1);
    return 0;
}

/* Sends the request and turns the loop until the whole response is back. */
static int gate_http_op(void)
{
    if (send(gate_fd, gate_request, gate_request_len, 0) != (ssize_t)gate_request_len)
        return -1;
    char buf[8192];
    size_t have = 0;
    for (int spins = 0; spins < 1000; spins++) {
        uv_run(&gate_loop, UV_RUN_NOWAIT);
        ssize_t n = recv(gate_fd, buf + have, sizeof buf - 1 - have, MSG_DONTWAIT);
        if (n > 0)
            have += (size_t)n;
        buf[have] = '\0';
        const char *end = strstr(buf, "\r\n\r\n");
        const char *cl = strstr(buf, "Content-Length: ");
        if (end && cl && have >= (size_t)(end + 4 - buf) + strtoul(cl + 16, NULL, 10))
            return strncmp(buf, "HTTP/1.1 20", 11) == 0 ? 0 : -1;
    }
    return -1;
}

static int gate_http_healthz_setup(void)
{
    return gate_http_setup("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: gate\r\n"
                           "Accept: application/json\r\n\r\n");
}

static int gate_http_post_setup(void)
{
    if (sodium_init() < 0)
        return -1;
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    unsigned char seed[crypto_sign_SEEDBYTES] = {7};
    crypto_sign_seed_keypair(gate_pk, sk, seed);
    json_t *claims =
        json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:s}", "iss", "ganglion", "aud", "ganglion", "sub",
                  "user:ann", "jti", "j1", "exp", (json_int_t)1700003600, "iat",
                  (json_int_t)1700000000, "nbf", (json_int_t)1700000000, "role", "operator");
    char *jwt = auth_jwt_encode(claims, sk, "k1");
    json_decref(claims);
    if (!jwt)
        return -1;
    static const char body[] =
        "{\"stream\":\"web-1\",\"lines\":[\"GET /index.html 200 12ms\",\"GET /api 500 3ms\","
        "\"POST /login 302 40ms\"],\"labels\":{\"host\":\"h1\",\"env\":\"prod\"}}";
    char req[4096];
    snprintf(req, sizeof req,
             "POST /api/v1/gate/g1/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             jwt, sizeof body - 1, body);
    free(jwt);
    return gate_http_setup(req);
}

/* ---- watch: a log line ingested (canonicalised, kept), and a window scored ----
 * Two paths, since what one window costs depends on its lines (screened out early, or the
 * full permutation test): watch_ingest pushes lines whose windows nobody takes; watch_window
 * scores, in turn, four windows taken once — three of ordinary traffic and one with a burst of
 * new lines — so its count is the same at every N that is a multiple of 4. An event costs
 * watch_ingest + watch_window / hop (10 by default). */

static cbad_t *gate_cbad;
static cbad_job_t *gate_jobs[4];
static cbad_scratch_t *gate_scratch;
static uint64_t gate_line_no;
static unsigned gate_job_no;

static const char *const gate_words[] = {
    "GET",      "POST",    "/api/v1/agents", "/healthz", "200", "500",
    "user=ann", "timeout", "retry",          "db",       "ok",  "connection reset by peer"};

static int gate_watch_push(bool novel)
{
    char line[256];
    uint64_t n = gate_line_no++;
    int len =
        novel ? snprintf(line, sizeof line,
                         "kernel: BUG: soft lockup - CPU#%u stuck for %us! [%s:%u]", gate_rnd() % 8,
                         20 + gate_rnd() % 9, gate_words[gate_rnd() % 12], gate_rnd() % 9000)
              : snprintf(line, sizeof line,
                         "2026-12-07T03:%02u:%02u.%03uZ INFO req=%08x %s %s took %ums",
                         (unsigned)(n / 60 % 60), (unsigned)(n % 60), (unsigned)(n % 1000),
                         gate_rnd(), gate_words[gate_rnd() % 12], gate_words[gate_rnd() % 12],
                         gate_rnd() % 900);
    return cbad_push(gate_cbad, line, (size_t)len);
}

static int gate_watch_setup(void)
{
    cbad_settings_t s;
    cbad_settings_default(&s);
    if (cbad_new(&s, &gate_cbad) < 0 || cbad_scratch_new(&gate_scratch) < 0)
        return -1;
    /* the baseline (400) and a window (50) filled, then the four windows taken as they fall due;
     * the fourth ends with five new lines */
    for (int i = 0, taken = 0; taken < 4 && i < 1000; i++) {
        int due = gate_watch_push(taken == 3 && i % 10 >= 5);
        if (due < 0)
            return -1;
        cbad_job_t *j = NULL;
        if (due && cbad_job_take(gate_cbad, &j) == 0) {
            if (i >= 480)
                gate_jobs[taken++] = j;
            else
                cbad_job_destroy(&j);
        }
    }
    return gate_jobs[3] ? 0 : -1;
}

static int gate_watch_ingest_op(void)
{
    return gate_watch_push(false) < 0 ? -1 : 0;
}

static int gate_watch_window_op(void)
{
    cbad_result_t r;
    memset(&r, 0, sizeof r);
    int rc = cbad_job_run(gate_jobs[gate_job_no++ % 4], gate_scratch, &r);
    cbad_result_clear(&r);
    return rc < 0 ? -1 : 0;
}

/* ---- guard: one ~1 KB action evaluated against 1 000 rules ---- */

static guard_set_t *gate_guard;
static json_t *gate_actions[16];
static unsigned gate_action_no;

static void gate_word(char *w, unsigned lo, unsigned hi)
{
    unsigned n = lo + gate_rnd() % (hi - lo + 1);
    for (unsigned i = 0; i < n; i++)
        w[i] = (char)('a' + gate_rnd() % 26);
    w[n] = '\0';
}

static int gate_guard_setup(void)
{
    json_t *rules = json_array();
    char planted[64][16];
    for (int i = 0; i < 1000; i++) {
        json_t *m = json_object();
        if (i % 20 == 0) {
            char a[16], b[16], re[64];
            gate_word(a, 4, 7);
            gate_word(b, 3, 6);
            snprintf(re, sizeof re, "\\b%s[0-9]+%s\\b", a, b);
            json_object_set_new(m, "regex", json_pack("[s]", re));
        } else {
            json_t *w = json_array();
            for (int k = 0; k < 3; k++) {
                char x[16];
                gate_word(x, 5, 9);
                json_array_append_new(w, json_string(x));
                if (i < 64 && k == 0)
                    memcpy(planted[i], x, sizeof x);
            }
            json_object_set_new(m, "words", w);
        }
        if (i % 50 == 0)
            json_object_set_new(
                m, "conditions",
                json_pack("[{s:s,s:s,s:s}]", "field", "kind", "op", "==", "value", "spawn"));
        json_array_append_new(rules, json_pack("{s:i,s:s,s:i,s:b,s:o}", "id", i + 1, "name", "r",
                                               "weight", 1 + i % 7, "enabled", 1, "match", m));
    }
    char err[256];
    gate_guard = guard_set_build(rules, err, sizeof err);
    json_decref(rules);
    if (!gate_guard)
        gate_die(err);
    static const char *const vocab[] = {
        "ls",    "-la",     "cd",     "/srv/app", "&&",
        "make",  "git",     "pull",   "grep",     "-r",
        "TODO",  "python3", "run.py", "curl",     "https://api.example.com/v1/status",
        "docker"};
    for (int a = 0; a < 16; a++) {
        char text[1200];
        size_t o = 0;
        while (o < 1000) {
            const char *w =
                gate_rnd() % 40 == 0 ? planted[gate_rnd() % 64] : vocab[gate_rnd() % 16];
            o += (size_t)snprintf(text + o, sizeof text - o, "%s ", w);
        }
        gate_actions[a] = json_pack("{s:s,s:s,s:[s,s,s]}", "kind", a % 2 ? "spawn" : "input",
                                    "input", text, "argv", "sh", "-c", "true");
    }
    return 0;
}

static int gate_guard_op(void)
{
    guard_eval_t ev;
    int rc = guard_set_eval(gate_guard, gate_actions[gate_action_no++ % 16], "user:ann", 0.5, &ev);
    guard_eval_clear(&ev);
    return rc < 0 ? -1 : 0;
}

/* ---- brain: one burst of a 20 000-neuron area with 10 synapses a neuron, 1 % stimulated ---- */

static brain_burst_t *gate_burst;
static uint32_t gate_neurons;

static int gate_brain_setup(void)
{
    char text[4096];
    int len = snprintf(text, sizeof text,
                       "{\"genome_id\":\"gate\",\"version\":\"2.1\","
                       "\"neuron_morphologies\":{\"randomizer\":{\"type\":\"functions\","
                       "\"parameters\":{}}},\"blueprint\":{"
                       "\"_____10c-c_gate-cx-___bbx-i\":200,\"_____10c-c_gate-cx-___bby-i\":100,"
                       "\"_____10c-c_gate-nx-fire_t-f\":1000,\"_____10c-c_gate-nx-pstcr_-f\":1,"
                       "\"_____10c-c_gate-cx-pspuni-b\":true,"
                       "\"_____10c-c_gate-nx-leak_c-f\":0.1,"
                       "\"_____10c-c_gate-nx-mp_acc-b\":true,"
                       "\"_____10c-c_gate-cx-dstmap-d\":{\"c_gate\":[");
    for (int i = 0; i < 10; i++)
        len += snprintf(text + len, sizeof text - (size_t)len,
                        "%s[\"randomizer\",[1,1,1],1,false,1,1,1]", i ? "," : "");
    len += snprintf(text + len, sizeof text - (size_t)len, "]}}}");
    brain_genome_t *g = NULL;
    brain_net_t *net = NULL;
    problem_t *err = NULL;
    if (brain_genome_parse(text, (size_t)len, &g, &err) < 0 ||
        brain_net_build(g, 1, 1, &net, &err) < 0)
        gate_die(err ? problem_detail(err) : "brain: out of memory");
    gate_neurons = net->n_neurons;
    gate_burst = brain_burst_new(net, 1, 4);
    return gate_burst ? 0 : -1;
}

static int gate_brain_op(void)
{
    for (uint32_t q = 0; q < gate_neurons / 100; q++)
        if (brain_burst_stage_neuron(gate_burst, gate_rnd() % gate_neurons, 1000.0f) < 0)
            return -1;
    brain_burst_step(gate_burst);
    return 0;
}

/* ---- agents: one spawn, from the endpoint to the committed row ----
 * The agents domain as the daemon runs it, on a SQLite store in a temporary data directory:
 * POST /api/v1/agents through the endpoint registry (what HTTP, ZMQ and WS hand it: schema,
 * handler, spawn, vfork + execve, the row's batch on the thread pool) until its 201, which
 * goes out only once the row is committed. The commit runs on a pool thread: bench/gate/run
 * counts store_job_run there too (and gate_measure zeroes what the warm-up left). The child
 * is /bin/cat with its stdin open: it waits, so no exit, reap or /proc sweep (whose cost
 * depends on the machine's process table) falls into a spawn; the children end with the
 * driver (stdin closed, parent-death signal). Its own instructions are not counted (callgrind
 * does not follow execve without --trace-children). */

static hub_t gate_ahub;
static uv_loop_t gate_aloop;
static char gate_adir[64];
static unsigned gate_spawn_no;
static int gate_spawn_status;

static void gate_spawn_reply(const api_reply_t *r, void *tctx)
{
    (void)tctx;
    gate_spawn_status = r->status;
}

static int gate_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void gate_adir_remove(void)
{
    if (gate_adir[0])
        (void)nftw(gate_adir, gate_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int gate_agents_setup(void)
{
#ifndef GATE_HAVE_CALLGRIND_H
    gate_die("agents_spawn: built without valgrind/callgrind.h (package valgrind), the warm-up's "
             "commits would be counted");
#endif
    log_level_set(LOG_LEVEL_WARN);
    snprintf(gate_adir, sizeof gate_adir, "/tmp/ganglion-gate-XXXXXX");
    if (!mkdtemp(gate_adir)) {
        gate_adir[0] = '\0';
        return -1;
    }
    atexit(gate_adir_remove);
    if (uv_loop_init(&gate_aloop) != 0)
        return -1;
    hub_t *hub = &gate_ahub;
    hub->loop = &gate_aloop;
    config_defaults(&hub->cfg);
    snprintf(hub->cfg.data_dir, sizeof hub->cfg.data_dir, "%s", gate_adir);
    hub->cfg.agents_sample_ms = 3600000; /* no usage sample inside the count */
    hub->metrics = metrics_new();
    hub->bus = bus_new((size_t)hub->cfg.events_ring);
    hub->api = api_registry_new(hub);
    if (!hub->metrics || !hub->bus || !hub->api)
        return -1;
    char url[128], err[256];
    snprintf(url, sizeof url, "sqlite:%s/ganglion.db", gate_adir);
    store_options_t opt = {.pool_size = (int)hub->cfg.store_pool_size,
                           .busy_timeout_ms = (int)hub->cfg.store_busy_timeout_ms,
                           .sqlite_cache_kb = (int)hub->cfg.store_sqlite_cache_kb,
                           .sqlite_heap_kb = hub->cfg.store_sqlite_heap_kb};
    size_t nmig = 0;
    const store_migration_t *migs = agents_migrations(&nmig);
    if (store_open(url, &opt, &hub->store, err, sizeof err) < 0 ||
        store_migrate(hub->store, migs, nmig, err, sizeof err) < 0)
        gate_die(err);
    if (agents_start(hub) < 0 || agents_api_register(hub) < 0)
        return -1;
    return 0;
}

static int gate_agents_spawn_op(void)
{
    /* names of one length: every body is the same size */
    char body[256];
    int len = snprintf(body, sizeof body,
                       "{\"name\":\"gate-%05u\",\"argv\":[\"/bin/cat\"],"
                       "\"labels\":{\"team\":\"gate\"},\"restart\":\"never\"}",
                       gate_spawn_no++ % 100000);
    api_call_t call = {.transport = "gate",
                       .method = "POST",
                       .path = "/api/v1/agents",
                       .content_type = "application/json",
                       .body = body,
                       .body_len = (size_t)len};
    gate_spawn_status = 0;
    (void)api_dispatch(gate_ahub.api, &call, gate_spawn_reply, NULL);
    /* the loop sleeps until the commit's completion wakes it: no spinning to count */
    for (int turns = 0; gate_spawn_status == 0 && turns < 10000; turns++)
        uv_run(&gate_aloop, UV_RUN_ONCE);
    return gate_spawn_status == 201 ? 0 : -1;
}

/* ---- the measured part ---- */

static const gate_path_t gate_paths[] = {
    {"http_healthz", gate_http_healthz_setup, gate_http_op, 20},
    {"http_post_auth", gate_http_post_setup, gate_http_op, 20},
    {"watch_ingest", gate_watch_setup, gate_watch_ingest_op, 20},
    {"watch_window", gate_watch_setup, gate_watch_window_op, 4},
    {"guard_eval", gate_guard_setup, gate_guard_op, 16},
    {"brain_burst", gate_brain_setup, gate_brain_op, 10},
    {"agents_spawn", gate_agents_setup, gate_agents_spawn_op, 8},
};

/* The only function counted on this thread: N operations and nothing else. A path whose work
 * also runs on the thread pool has its function there counted too (bench/gate/run), which
 * would take in the warm-up's jobs: the counts start over here. */
__attribute__((noinline)) int gate_measure(const gate_path_t *p, long n);
__attribute__((noinline)) int gate_measure(const gate_path_t *p, long n)
{
    CALLGRIND_ZERO_STATS;
    for (long i = 0; i < n; i++)
        if (p->op() < 0)
            return -1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: gate PATH N\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    /* jansson seeds its hash function from /dev/urandom: objects then iterate and collide
     * differently from one process to the next, and so would the counts */
    json_object_seed(1);
    int64_t n = 0;
    if (num_i64_parse(argv[2], 1, 100000000, &n) < 0) {
        fprintf(stderr, "gate: N must be a whole number from 1 to 100000000, not '%s'\n", argv[2]);
        return 2;
    }
    for (size_t i = 0; i < sizeof gate_paths / sizeof gate_paths[0]; i++) {
        const gate_path_t *p = &gate_paths[i];
        if (strcmp(p->name, argv[1]) != 0)
            continue;
        if (p->setup() < 0)
            gate_die("set-up failed");
        for (int w = 0; w < p->warmup; w++)
            if (p->op() < 0)
                gate_die("warm-up operation failed");
        if (gate_measure(p, n) < 0)
            gate_die("operation failed");
        return 0;
    }
    fprintf(stderr, "gate: no path %s\n", argv[1]);
    return 2;
}
