/* The agents endpoints: /api/v1/agents and below, declared once here with their schemas and
 * scopes (agents:read, agents:write) and served over every transport by the registry. The
 * request and reply shapes are documented in docs/agents.md. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents_internal.h"
#include "api/api_owner.h"
#include "core/bus.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/hub.h"
#include "core/metrics.h"
#include "core/strbuf.h"
#include "store/retention.h"
#include "store/store_problem.h"

#define AGENTS_STDIN_MAX    65536
#define AGENTS_GREP_MAX     512
#define AGENTS_PAGE_MAX     1000
#define AGENTS_OUTPUT_MAX   10000
#define AGENTS_PRELUDE_MAX  (512 * 1024)
#define AGENTS_LABELS_MAX   64
#define AGENTS_SELECTOR_MAX 1024
#define AGENTS_BATCH_MAX    1000
#define AGENTS_HANDLE_MAX   128 /* an id or a name, in characters */
#define AGENTS_HANDLE_BYTES 255 /* and in bytes: what a path segment holds (api/router) */

/* ---- schemas ---- */

static const char *const agents_preset_enum[] = {"claude", "opencode", "cli", NULL};
static const char *const agents_restart_enum[] = {"never", "on-failure", "always", NULL};
static const char *const agents_status_enum[] = {
    "idle",      "initializing", "running",    "thinking", "paused", "stopping",
    "completed", "failed",       "terminated", "lost",     NULL};
static const char *const agents_stream_enum[] = {"stdout", "stderr", "both", NULL};
static const char *const agents_command_enum[] = {"pause",  "resume",  "stop", "kill",
                                                  "signal", "restart", NULL};

static const api_field_t agents_string_item[] = {
    {.name = "item", .type = API_T_STRING, .flags = API_F_MAX, .max = 4096}};
static const api_field_t agents_cap_item[] = {
    {.name = "item", .type = API_T_STRING, .flags = API_F_MIN | API_F_MAX, .min = 1, .max = 128}};
static const api_field_t agents_id_item[] = {{.name = "item",
                                              .type = API_T_STRING,
                                              .flags = API_F_MIN | API_F_MAX,
                                              .min = 1,
                                              .max = AGENTS_HANDLE_MAX}};

static const api_field_t agents_limits_fields[] = {
    {.name = "memory_mb",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 1048576,
     .description = "address-space limit (RLIMIT_AS), and memory.max with cgroups"},
    {.name = "cpu_s",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 31536000,
     .description = "CPU seconds (RLIMIT_CPU: SIGXCPU, then SIGKILL)"},
    {.name = "nofile",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 3,
     .max = 1048576,
     .description = "open files (RLIMIT_NOFILE)"},
    {.name = "timeout_s",
     .type = API_T_NUMBER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0.001,
     .max = 31536000,
     .description = "wall-clock seconds before the agent is stopped"},
    {.name = "cpu_percent",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 100000,
     .description = "cpu.max quota (cgroup v2 only; ignored without it)"},
    {.name = NULL}};

static const api_field_t agents_path_item[] = {
    {.name = "item", .type = API_T_STRING, .flags = API_F_MIN | API_F_MAX, .min = 1, .max = 4096}};
static const api_field_t agents_glob_item[] = {
    {.name = "item", .type = API_T_STRING, .flags = API_F_MIN | API_F_MAX, .min = 1, .max = 256}};
static const api_field_t agents_watch_fields[] = {
    {.name = "paths",
     .type = API_T_ARRAY,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 64,
     .items = agents_path_item,
     .description = "files or directories (recursive), relative to cwd"},
    {.name = "ignore",
     .type = API_T_ARRAY,
     .flags = API_F_MAX,
     .max = 64,
     .items = agents_glob_item,
     .description = "fnmatch globs: \"*.pyc\" (any component), \"node_modules/**\" (a path)"},
    {.name = "debounce_ms",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = 600000,
     .def = "500",
     .description = "quiet time after the last change before the restart"},
    {.name = NULL}};

static const api_field_t agents_spawn_body[] = {
    {.name = "name",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 128,
     .description = "a name for people, and a handle wherever an id is taken: unique among "
                    "agents that have not ended (409 name-taken) unless allow_duplicate_name"},
    {.name = "allow_duplicate_name",
     .type = API_T_BOOLEAN,
     .def = "false",
     .description = "spawn even when an agent that has not ended has this name (the name is "
                    "then ambiguous as a handle while both run)"},
    {.name = "argv",
     .type = API_T_ARRAY,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 256,
     .items = agents_string_item,
     .description = "program and arguments (or preset + task)"},
    {.name = "preset",
     .type = API_T_STRING,
     .enums = agents_preset_enum,
     .description = "claude | opencode | cli: build the command line from task"},
    {.name = "task",
     .type = API_T_STRING,
     .flags = API_F_MAX,
     .max = 65536,
     .description = "the task given to a preset"},
    {.name = "program",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 4096,
     .description = "the cli preset's program"},
    {.name = "model",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 256,
     .description = "--model for the claude and opencode presets"},
    {.name = "args",
     .type = API_T_ARRAY,
     .flags = API_F_MAX,
     .max = 256,
     .items = agents_string_item,
     .description = "extra arguments appended"},
    {.name = "context",
     .type = API_T_STRING,
     .flags = API_F_MAX,
     .max = 65536,
     .description = "passed as AGENT_CONTEXT in the environment"},
    {.name = "env",
     .type = API_T_OBJECT,
     .flags = API_F_ADDITIONAL,
     .description = "extra environment: NAME -> string (at most 256, values up to 32 KiB)"},
    {.name = "cwd",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 4096,
     .description = "working directory (default: the data directory)"},
    {.name = "labels",
     .type = API_T_OBJECT,
     .flags = API_F_ADDITIONAL,
     .description = "key -> string (at most 64; keys up to 63 chars [A-Za-z0-9._-/], values "
                    "up to 256)"},
    {.name = "capabilities",
     .type = API_T_ARRAY,
     .flags = API_F_MAX,
     .max = 64,
     .items = agents_cap_item,
     .description = "free-form capability names"},
    {.name = "limits", .type = API_T_OBJECT, .props = agents_limits_fields},
    {.name = "restart",
     .type = API_T_STRING,
     .enums = agents_restart_enum,
     .def = "never",
     .description = "never | on-failure | always"},
    {.name = "restart_max",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = 1000,
     .def = "5",
     .description = "restarts allowed within restart_window_s before the agent is failed"},
    {.name = "restart_window_s",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 86400,
     .def = "60"},
    {.name = "stop_grace_ms",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = 600000,
     .description = "SIGTERM to SIGKILL delay (default agents.stop_grace_ms)"},
    {.name = "max_memory_restart",
     .type = API_T_ANY,
     .description = "restart when the sampled RSS exceeds this: bytes, or \"500M\" (K, M, G, "
                    "T: powers of 1024)"},
    {.name = "cron",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 256,
     .description = "restart on this schedule (UTC): 5 cron fields, or 6 with seconds first"},
    {.name = "watch",
     .type = API_T_OBJECT,
     .props = agents_watch_fields,
     .description = "restart when files change under paths (inotify, debounced)"},
    {.name = "log_max_bytes",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = 1073741824,
     .description = "rotate this agent's log file past this size; 0: no file (default "
                    "agents.log_max_bytes)"},
    {.name = "log_backups",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = 100,
     .description = "rotated log files kept for this agent (default agents.log_backups)"},
    API_OWNER_TEAM_FIELD,
    {.name = NULL}};

static const api_field_t agents_id_param[] = {
    {.name = "id",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = AGENTS_HANDLE_MAX,
     .description = "agent id, or name: the agent of that name that has not ended (409 "
                    "ambiguous-name with candidates if several), else the one that ended last"},
    {.name = NULL}};

static const api_field_t agents_list_query[] = {
    {.name = "status", .type = API_T_STRING, .enums = agents_status_enum},
    {.name = "ended",
     .type = API_T_BOOLEAN,
     .def = "true",
     .description = "false: only agents that have not ended (no final status)"},
    {.name = "labels",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = AGENTS_SELECTOR_MAX,
     .description = "selector k=v[,k2=v2]: all must match"},
    {.name = "limit",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = AGENTS_PAGE_MAX,
     .def = "100"},
    {.name = "offset",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = 1000000000,
     .def = "0"},
    {.name = NULL}};

static const api_field_t agents_pause_body[] = {
    {.name = "force",
     .type = API_T_BOOLEAN,
     .def = "false",
     .description =
         "true: SIGSTOP to the process group and its descendants; false: a pause line on stdin "
         "if the agent has the pause-protocol capability, else SIGSTOP as well"},
    {.name = NULL}};

static const api_field_t agents_stop_body[] = {
    {.name = "grace_ms",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = 600000,
     .description = "SIGTERM to SIGKILL delay (default: the agent's)"},
    {.name = NULL}};

#define AGENTS_SIGNAL_DESC                                                                         \
    "a name with or without SIG, in any case (TERM, sigwinch, RTMIN+2), or a number"
static const api_field_t agents_signal_body[] = {{.name = "signal",
                                                  .type = API_T_STRING,
                                                  .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
                                                  .min = 1,
                                                  .max = 32,
                                                  .description = AGENTS_SIGNAL_DESC},
                                                 {.name = NULL}};
static const api_field_t agents_start_body[] = {
    {.name = "reason",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 200,
     .description = "recorded as the agent's reason (default: started again / restarted on "
                    "request)"},
    {.name = NULL}};

static const api_field_t agents_stdin_body[] = {
    {.name = "text",
     .type = API_T_STRING,
     .flags = API_F_MAX,
     .max = AGENTS_STDIN_MAX,
     .description = "text written as is (add the newline yourself)"},
    {.name = "data_b64",
     .type = API_T_STRING,
     .flags = API_F_MAX,
     .max = (AGENTS_STDIN_MAX + 2) / 3 * 4,
     .description = "bytes, base64 (at most 64 KiB)"},
    {.name = "eof",
     .type = API_T_BOOLEAN,
     .def = "false",
     .description = "close stdin after writing"},
    {.name = NULL}};

static const api_field_t agents_action_body[] = {
    {.name = "name",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 128,
     .description = "ping, echo, get_env (built in) or the agent's own"},
    {.name = "params", .type = API_T_ANY, .flags = API_F_NULLABLE},
    {.name = "timeout_ms",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 600000,
     .description = "default agents.action_timeout_ms"},
    {.name = NULL}};

static const api_field_t agents_output_query[] = {
    {.name = "stream", .type = API_T_STRING, .enums = agents_stream_enum, .def = "both"},
    {.name = "grep",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = AGENTS_GREP_MAX,
     .description = "regular expression (PCRE2 syntax; POSIX ERE patterns keep their "
                    "meaning): only matching lines; matched off the loop within a budget"},
    {.name = "since",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = 9007199254740991.0,
     .def = "0",
     .description = "only lines with seq > since"},
    {.name = "offset",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = 1000000000,
     .def = "0",
     .description = "matching lines to skip"},
    {.name = "limit",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = AGENTS_OUTPUT_MAX,
     .def = "1000"},
    {.name = "tail",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = AGENTS_OUTPUT_MAX,
     .description = "the last N matching lines (offset ignored)"},
    {.name = NULL}};

static const api_field_t agents_logs_query[] = {
    {.name = "follow",
     .type = API_T_BOOLEAN,
     .def = "true",
     .description = "stream live lines after the replay (SSE); false: JSON like /output"},
    {.name = "since",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = 9007199254740991.0,
     .def = "0",
     .description = "replay lines with seq > since"},
    {.name = "stream", .type = API_T_STRING, .enums = agents_stream_enum, .def = "both"},
    {.name = NULL}};

static const api_field_t agents_prune_body[] = {
    {.name = "older_than_s",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = 315360000,
     .description = "only agents that ended at least this long ago (default: every ended one)"},
    {.name = "labels",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = AGENTS_SELECTOR_MAX,
     .description = "selector k=v[,k2=v2]: all must match"},
    {.name = NULL}};

static const api_field_t agents_batch_body[] = {
    {.name = "ids",
     .type = API_T_ARRAY,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = AGENTS_BATCH_MAX,
     .items = agents_id_item},
    {.name = "labels",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = AGENTS_SELECTOR_MAX,
     .description = "selector k=v[,k2=v2] (instead of ids): the agents that have not ended"},
    {.name = "all",
     .type = API_T_BOOLEAN,
     .def = "false",
     .description = "true: every agent that has not ended (instead of ids or labels)"},
    {.name = "command",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED,
     .enums = agents_command_enum},
    {.name = "force", .type = API_T_BOOLEAN, .def = "false", .description = "pause"},
    {.name = "grace_ms",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 0,
     .max = 600000,
     .description = "stop"},
    {.name = "signal",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 32,
     .description = "required for command signal: " AGENTS_SIGNAL_DESC},
    {.name = "fail_fast",
     .type = API_T_BOOLEAN,
     .def = "false",
     .description = "stop at the first failure; the rest are reported as skipped"},
    {.name = NULL}};

/* ---- helpers ---- */

static agents_t *agents_of(api_req_t *req)
{
    return api_req_hub(req)->agents;
}

/* Who owns an agent and which team it is shared with: recorded in its spec at spawn (NULL for
 * agents from before ownership and from program files: an admin's alone). */
static const char *agents_owner(const agent_t *a)
{
    return json_string_value(json_object_get(a->spec, "owner"));
}

static const char *agents_team(const agent_t *a)
{
    return json_string_value(json_object_get(a->spec, "team"));
}

/* NULL when the caller may see (act false) or change (act true) the agent, else the 404 or
 * 403 of api_owner_check. */
static problem_t *agents_owner_check(const api_req_t *req, const agent_t *a, const char *handle,
                                     bool act)
{
    return api_owner_check(req, "agent", handle, agents_owner(a), agents_team(a), act);
}

/* Looks the agent up by id or name and checks that the caller may see it (act false) or
 * change it (act true), or replies 404 (unknown, or not the caller's to see), 409 (ambiguous
 * name) or 403 and returns NULL. */
static agent_t *agents_req_agent(api_req_t *req, bool act)
{
    agent_t *a = NULL;
    const char *handle = api_req_param_str(req, "id");
    problem_t *p = agents_resolve(agents_of(req), handle, &a);
    if (!p)
        p = agents_owner_check(req, a, handle, act);
    if (p) {
        api_reply_problem(req, p);
        return NULL;
    }
    return a;
}

/* The signal field's number, or -1 with a 422 naming what is accepted in *p. */
static int agents_signal_field(const char *name, problem_t **p)
{
    int sig = agents_signal_parse(name);
    if (sig > 0)
        return sig;
    char accepted[512];
    problem_field_error(p, "body", "/signal", "unknown signal '%.32s'; accepted: %s", name,
                        agents_signal_accepted(accepted, sizeof accepted));
    problem_ext_set(*p, "accepted", agents_signal_names_json());
    return -1;
}

/* A command's reply: the agent as the command left it, sent once the row it changed (if any)
 * is committed. */
static void agents_reply_result(api_req_t *req, agent_t *a, problem_t *p)
{
    if (p) {
        a->owner->errors++;
        api_reply_problem(req, p);
        return;
    }
    agents_ack_reply(a->owner, req, 200, agents_agent_json(a), a->id, false);
}

/* A parsed label selector: up to AGENTS_LABELS_MAX k=v pairs, all of which must match. */
typedef struct agents_selector {
    char buf[AGENTS_SELECTOR_MAX + 1];
    const char *k[AGENTS_LABELS_MAX], *v[AGENTS_LABELS_MAX];
    size_t n;
} agents_selector_t;

static int agents_selector_parse(agents_selector_t *s, const char *text)
{
    s->n = 0;
    snprintf(s->buf, sizeof s->buf, "%s", text);
    char *save = NULL;
    for (char *tok = strtok_r(s->buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok || s->n == AGENTS_LABELS_MAX)
            return -1;
        *eq = '\0';
        s->k[s->n] = tok;
        s->v[s->n] = eq + 1;
        s->n++;
    }
    return s->n ? 0 : -1;
}

static bool agents_selector_match(const agents_selector_t *s, const agent_t *a)
{
    for (size_t i = 0; i < s->n; i++) {
        const char *v = json_string_value(json_object_get(a->labels, s->k[i]));
        if (!v || strcmp(v, s->v[i]) != 0)
            return false;
    }
    return true;
}

/* Environment and labels are free-form objects: their keys and values are checked here. */
static void agents_check_env_labels(json_t *body, problem_t **p)
{
    const char *k;
    json_t *v;
    char ptr[128];
    json_t *env = json_object_get(body, "env");
    if (json_object_size(env) > 256)
        problem_field_error(p, "body", "/env", "at most 256 variables");
    json_object_foreach(env, k, v)
    {
        snprintf(ptr, sizeof ptr, "/env/%.100s", k);
        bool ok = (k[0] == '_' || (k[0] >= 'A' && k[0] <= 'Z') || (k[0] >= 'a' && k[0] <= 'z')) &&
                  strlen(k) <= 128;
        for (const char *c = k; ok && *c; c++)
            ok = *c == '_' || (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
                 (*c >= '0' && *c <= '9');
        if (!ok)
            problem_field_error(p, "body", ptr,
                                "names are [A-Za-z_][A-Za-z0-9_]*, at most 128 characters");
        else if (!json_is_string(v))
            problem_field_error(p, "body", ptr, "must be a string");
        else if (json_string_length(v) > 32768 ||
                 strlen(json_string_value(v)) != json_string_length(v))
            problem_field_error(p, "body", ptr, "at most 32768 bytes, no NUL characters");
    }
    json_t *labels = json_object_get(body, "labels");
    if (json_object_size(labels) > AGENTS_LABELS_MAX)
        problem_field_error(p, "body", "/labels", "at most 64 labels");
    json_object_foreach(labels, k, v)
    {
        snprintf(ptr, sizeof ptr, "/labels/%.100s", k);
        size_t kl = strlen(k);
        bool ok = kl >= 1 && kl <= 63;
        for (const char *c = k; ok && *c; c++)
            ok = *c == '_' || *c == '-' || *c == '.' || *c == '/' || (*c >= 'A' && *c <= 'Z') ||
                 (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9');
        if (!ok)
            problem_field_error(p, "body", ptr, "keys are 1-63 characters of [A-Za-z0-9._/-]");
        else if (!json_is_string(v) || json_string_length(v) > 256 ||
                 strchr(json_string_value(v), ',') ||
                 strlen(json_string_value(v)) != json_string_length(v))
            problem_field_error(p, "body", ptr,
                                "must be a string of at most 256 characters without commas");
    }
}

/* ---- handlers ---- */

static void agents_api_list(api_req_t *req, void *ctx)
{
    (void)ctx;
    agents_t *ag = agents_of(req);
    const char *st = api_req_query_str(req, "status");
    const char *sel_text = api_req_query_str(req, "labels");
    agents_status_t want = AGENTS_IDLE;
    agents_selector_t sel;
    if (sel_text && agents_selector_parse(&sel, sel_text) < 0) {
        problem_t *p = NULL;
        problem_field_error(&p, "query", "labels", "expected k=v[,k2=v2] (at most 64 pairs)");
        api_reply_problem(req, p);
        return;
    }
    if (st)
        agents_status_parse(st, &want);
    int64_t limit = api_req_query_int(req, "limit", 100);
    int64_t offset = api_req_query_int(req, "offset", 0);
    bool ended = api_req_query_bool(req, "ended", true);
    json_t *arr = json_array();
    int64_t total = 0;
    for (agent_t *a = ag->head; a; a = a->next) {
        if (a->forget || (st && a->status != want) || (!ended && agents_status_final(a->status)) ||
            (sel_text && !agents_selector_match(&sel, a)) ||
            !api_owner_may_see(req, agents_owner(a), agents_team(a)))
            continue;
        if (total >= offset && total < offset + limit)
            json_array_append_new(arr, agents_agent_json(a));
        total++;
    }
    api_reply_json(req, 200,
                   json_pack("{s:o,s:I,s:I,s:I,s:b}", "agents", arr, "total", (json_int_t)total,
                             "limit", (json_int_t)limit, "offset", (json_int_t)offset, "has_more",
                             offset + limit < total));
}

/* ---- the gate (core/hub.h's agent_gate): spawn, stdin writes and custom actions pass it
 * first; it may refuse them or hold them (the request waiting) until someone decides ---- */

typedef void (*agents_gated_fn)(api_req_t *req, void *held);

typedef struct agents_gated {
    api_req_t *req;
    agents_gated_fn run;
    void *held; /* what run needs beyond the request; run frees it, or free() on a refusal */
} agents_gated_t;

static void agents_gate_resume(void *ud, problem_t *refusal)
{
    agents_gated_t *g = ud;
    if (refusal) {
        free(g->held);
        api_reply_problem(g->req, refusal);
    } else {
        g->run(g->req, g->held);
    }
    free(g);
}

/* Runs run(req, held) now, later, or never (a refusal replied) as the gate decides. action is
 * stolen. */
static void agents_gate_pass(api_req_t *req, json_t *action, agents_gated_fn run, void *held)
{
    hub_t *hub = api_req_hub(req);
    agents_gated_t *g = hub->agent_gate && action ? calloc(1, sizeof *g) : NULL;
    if (!g) {
        json_decref(action);
        if (hub->agent_gate) { /* no memory to ask the gate: refuse rather than skip it */
            free(held);
            api_reply_problem(req, problem_new(503, "out-of-memory",
                                               "the action could not be "
                                               "checked"));
            return;
        }
        run(req, held);
        return;
    }
    g->req = req;
    g->run = run;
    g->held = held;
    problem_t *refusal = NULL;
    int rc = hub->agent_gate(hub->agent_gate_ud, action, api_req_principal(req), agents_gate_resume,
                             g, &refusal);
    json_decref(action);
    if (rc == 0) {
        free(g);
        run(req, held);
    } else if (rc < 0) {
        free(g);
        free(held);
        api_reply_problem(req,
                          refusal ? refusal : problem_new(403, "forbidden", "the gate refused it"));
    }
}

/* The action an agent's stdin write or custom action is, for the gate. New reference. */
static json_t *agents_gate_action(const agent_t *a, const char *kind)
{
    json_t *argv = json_object_get(a->spec, "argv");
    json_t *o = json_pack("{s:s,s:s,s:s,s:O*,s:O*}", "kind", kind, "agent", a->id, "name",
                          a->name ? a->name : "", "argv", argv, "labels", a->labels);
    json_t *cwd = json_object_get(a->spec, "cwd");
    if (o && cwd)
        json_object_set(o, "path", cwd);
    if (o && json_object_get(a->spec, "env"))
        json_object_set(o, "env", json_object_get(a->spec, "env"));
    return o;
}

static void agents_api_spawn_run(api_req_t *req, void *held)
{
    (void)held;
    agents_t *ag = agents_of(req);
    agent_t *a = NULL;
    /* the agent continues the spawn request's trace (W3C TRACEPARENT in its environment) */
    char tp[56];
    api_req_trace_child(req, tp);
    json_object_set_new(api_req_body(req), "traceparent", json_string(tp));
    problem_t *p = agents_spawn(ag, api_req_body(req), &a);
    if (p) {
        ag->errors++;
        api_reply_problem(req, p);
        return;
    }
    char loc[96];
    snprintf(loc, sizeof loc, "/api/v1/agents/%s", a->id);
    api_reply_header(req, "Location", loc);
    /* 201 once the batch that holds the new row is committed: an acknowledged agent survives
     * a crash of the daemon */
    agents_ack_reply(ag, req, 201, agents_agent_json(a), a->id, false);
}

static void agents_api_spawn(api_req_t *req, void *ctx)
{
    (void)ctx;
    agents_t *ag = agents_of(req);
    json_t *body = api_req_body(req);
    problem_t *p = NULL;
    agents_check_env_labels(body, &p);
    /* a name is a handle in paths, where a '/' (even as %2F) would split it and a segment
     * holds at most AGENTS_HANDLE_BYTES */
    const char *name = json_string_value(json_object_get(body, "name"));
    if (strchr(name, '/'))
        problem_field_error(&p, "body", "/name",
                            "a name cannot contain '/': it is used in paths in place of the id");
    else if (strlen(name) > AGENTS_HANDLE_BYTES)
        problem_field_error(&p, "body", "/name",
                            "at most %d bytes of UTF-8: it is used in paths in place of the id",
                            AGENTS_HANDLE_BYTES);
    const char *cwd = json_string_value(json_object_get(body, "cwd"));
    agents_triggers_check(body, cwd ? cwd : ag->hub->cfg.data_dir, &p);
    if (!p)
        p = api_owner_team_check(req, json_string_value(json_object_get(body, "team")), "/team");
    if (p) {
        api_reply_problem(req, p);
        return;
    }
    /* the owner is kept in the spec, and so in the agent's row: it survives restarts */
    const char *owner = api_owner_of(req);
    if (owner)
        json_object_set_new(body, "owner", json_string(owner));
    json_t *action =
        json_pack("{s:s,s:s,s:O*,s:O*,s:O*,s:O*}", "kind", "spawn", "agent", name, "argv",
                  json_object_get(body, "argv"), "path", json_object_get(body, "cwd"), "env",
                  json_object_get(body, "env"), "labels", json_object_get(body, "labels"));
    agents_gate_pass(req, action, agents_api_spawn_run, NULL);
}

/* ---- the render cache: GET /api/v1/agents/{id} ----
 * An agent object rendered for a reply is kept here, in the API layer, as the value and its
 * compact text, keyed by the agent's id and its version (agents_agent_key): a client polling
 * an agent costs a key comparison, not a JSON build and dump, and the transports take the form
 * they send (text for HTTP and ZMQ JSON, the value for MessagePack) without converting. A
 * fixed number of slots, picked by the id's hash: bounded, and nothing to forget when an agent
 * goes (a stale slot never matches its key and is overwritten). */
#define AGENTS_RENDER_SLOTS 128

typedef struct agents_render_slot {
    char id[AGENTS_ID_LEN + 1];
    agents_agent_key_t key;
    json_t *value; /* owned; never changed once rendered */
    char *text;    /* owned */
    size_t len;
} agents_render_slot_t;

struct agents_render {
    agents_render_slot_t slot[AGENTS_RENDER_SLOTS];
};

/* The registry's cleanup: frees the cache (ud) alone — the agents may be gone already. */
static void agents_render_free(void *ud)
{
    struct agents_render *r = ud;
    for (size_t i = 0; i < AGENTS_RENDER_SLOTS; i++) {
        json_decref(r->slot[i].value);
        free(r->slot[i].text);
    }
    free(r);
}

/* The slot holding a's current rendering, rendered now if needed; NULL when a cannot be keyed
 * or memory ran out (the caller renders for this reply only). */
static const agents_render_slot_t *agents_render_get(agents_t *ag, const agent_t *a)
{
    agents_agent_key_t k;
    if (!ag->render || !agents_agent_key(a, &k))
        return NULL;
    agents_render_slot_t *sl =
        &ag->render->slot[hash_fnv1a_str(HASH_FNV1A_SEED, a->id) % AGENTS_RENDER_SLOTS];
    /* Byte-wise on purpose: agents_agent_key zeroes k first, and the slot keeps k's bytes
     * (memcpy below, not an assignment that may skip the padding). */
    if (sl->value && strcmp(sl->id, a->id) == 0 &&
        memcmp(&sl->key, &k, sizeof k) == 0) // NOLINT(bugprone-suspicious-memory-comparison)
        return sl;
    json_decref(sl->value);
    free(sl->text);
    memset(sl, 0, sizeof *sl);
    json_t *v = agents_agent_json(a);
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    if (!text) {
        json_decref(v);
        return NULL;
    }
    snprintf(sl->id, sizeof sl->id, "%s", a->id);
    memcpy(&sl->key, &k, sizeof k);
    sl->value = v;
    sl->text = text;
    sl->len = strlen(text);
    return sl;
}

static void agents_api_get(api_req_t *req, void *ctx)
{
    (void)ctx;
    agent_t *a = agents_req_agent(req, false);
    if (!a)
        return;
    const agents_render_slot_t *sl = agents_render_get(a->owner, a);
    if (sl)
        api_reply_json_rendered(req, 200, sl->value, sl->text, sl->len);
    else
        api_reply_json(req, 200, agents_agent_json(a));
}

static void agents_api_delete(api_req_t *req, void *ctx)
{
    (void)ctx;
    agent_t *a = agents_req_agent(req, true);
    if (!a)
        return;
    agents_t *ag = a->owner;
    char id[AGENTS_ID_LEN + 1];
    snprintf(id, sizeof id, "%s", a->id);
    ag->commands++;
    agents_forget(a); /* a may be freed */
    agents_ack_reply(ag, req, 204, NULL, id, false);
}

static void agents_api_pause(api_req_t *req, void *ctx)
{
    (void)ctx;
    agent_t *a = agents_req_agent(req, true);
    if (!a)
        return;
    a->owner->commands++;
    agents_reply_result(req, a,
                        agents_pause(a, json_is_true(json_object_get(api_req_body(req), "force"))));
}

static void agents_api_resume(api_req_t *req, void *ctx)
{
    (void)ctx;
    agent_t *a = agents_req_agent(req, true);
    if (!a)
        return;
    a->owner->commands++;
    agents_reply_result(req, a, agents_resume(a));
}

static void agents_api_stop(api_req_t *req, void *ctx)
{
    (void)ctx;
    agent_t *a = agents_req_agent(req, true);
    if (!a)
        return;
    a->owner->commands++;
    json_t *g = json_object_get(api_req_body(req), "grace_ms");
    agents_reply_result(req, a, agents_stop(a, g ? (int64_t)json_number_value(g) : -1));
}

/* start (an ended agent) and restart (stop with its grace, then start): the same id and spec,
 * a restart counted; the reply is the agent as the command left it (restart of a live agent:
 * stopping, then running again with a new pid once the old process has ended). */
static void agents_api_start(api_req_t *req, void *ctx)
{
    bool restart = ctx != NULL;
    agent_t *a = agents_req_agent(req, true);
    if (!a)
        return;
    agents_t *ag = a->owner;
    ag->commands++;
    const char *reason = json_string_value(json_object_get(api_req_body(req), "reason"));
    int rc = restart ? agents_agent_restart(ag, a, reason) : agents_agent_start(ag, a, reason);
    agents_reply_result(
        req, a, rc < 0 ? agents_restart_problem(a, rc, restart ? "restart" : "start") : NULL);
}

static void agents_api_kill(api_req_t *req, void *ctx)
{
    (void)ctx;
    agent_t *a = agents_req_agent(req, true);
    if (!a)
        return;
    a->owner->commands++;
    agents_reply_result(req, a, agents_kill(a));
}

static void agents_api_signal(api_req_t *req, void *ctx)
{
    (void)ctx;
    agent_t *a = agents_req_agent(req, true);
    if (!a)
        return;
    a->owner->commands++;
    problem_t *p = NULL;
    int sig =
        agents_signal_field(json_string_value(json_object_get(api_req_body(req), "signal")), &p);
    agents_reply_result(req, a, p ? p : agents_signal(a, sig));
}

static int agents_b64_val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Decodes standard or URL-safe base64 (padding optional). Returns the length or -1. */
static long agents_b64_decode(const char *in, size_t len, unsigned char *out)
{
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '=') {
            for (size_t j = i; j < len; j++)
                if (in[j] != '=')
                    return -1;
            break;
        }
        int v = agents_b64_val((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)o;
}

/* A stdin write waiting for the gate: the bytes (text points into the request's body). */
typedef struct agents_stdin_held {
    const char *data;
    size_t len;
    bool eof;
    unsigned char bytes[]; /* decoded base64 */
} agents_stdin_held_t;

static void agents_api_stdin_run(api_req_t *req, void *held)
{
    agents_stdin_held_t *h = held;
    agent_t *a = agents_req_agent(req, true); /* it may have gone while the write was held */
    if (a) {
        problem_t *p = agents_stdin_write(a, h->data ? h->data : "", h->data ? h->len : 0, h->eof);
        if (p) {
            a->owner->errors++;
            api_reply_problem(req, p);
        } else {
            api_reply_json(req, 200,
                           json_pack("{s:s,s:I,s:b}", "id", a->id, "written", (json_int_t)h->len,
                                     "eof", h->eof));
        }
    }
    free(h);
}

static void agents_api_stdin(api_req_t *req, void *ctx)
{
    (void)ctx;
    agent_t *a = agents_req_agent(req, true);
    if (!a)
        return;
    a->owner->commands++;
    json_t *body = api_req_body(req);
    json_t *text = json_object_get(body, "text"), *b64 = json_object_get(body, "data_b64");
    bool eof = json_is_true(json_object_get(body, "eof"));
    problem_t *p = NULL;
    if (text && b64)
        problem_field_error(&p, "body", "/data_b64", "give either text or data_b64, not both");
    else if (!text && !b64 && !eof)
        problem_field_error(&p, "body", "/text", "text, data_b64 or eof is required");
    agents_stdin_held_t *h = NULL;
    if (!p) {
        size_t room = b64 ? json_string_length(b64) / 4 * 3 + 3 : 0;
        h = calloc(1, sizeof *h + room);
        if (!h) { /* replied here: below, h is set whenever p is not */
            a->owner->errors++;
            api_reply_problem(req,
                              problem_new(503, "out-of-memory", "the write could not be held"));
            return;
        }
    }
    if (!p && b64) {
        long n = agents_b64_decode(json_string_value(b64), json_string_length(b64), h->bytes);
        if (n < 0 || n > AGENTS_STDIN_MAX)
            problem_field_error(&p, "body", "/data_b64", "must be base64 of at most 65536 bytes");
        h->data = (const char *)h->bytes;
        h->len = n < 0 ? 0 : (size_t)n;
    } else if (!p && text) {
        h->data = json_string_value(text);
        h->len = json_string_length(text);
    }
    if (p) {
        free(h);
        a->owner->errors++;
        api_reply_problem(req, p);
        return;
    }
    h->eof = eof;
    json_t *action = agents_gate_action(a, "stdin");
    if (action && h->data) /* binary writes are matched as their bytes when they are UTF-8 */
        json_object_set_new(action, "input",
                            json_stringn(h->data, h->len) ?: json_string("(binary, not UTF-8)"));
    agents_gate_pass(req, action, agents_api_stdin_run, h);
}

static void agents_api_action_run(api_req_t *req, void *held)
{
    (void)held;
    agent_t *a = agents_req_agent(req, true); /* it may have gone while the action was held */
    if (!a)
        return;
    json_t *body = api_req_body(req);
    const char *name = json_string_value(json_object_get(body, "name"));
    json_t *t = json_object_get(body, "timeout_ms");
    agents_action(a, req, name, json_object_get(body, "params"),
                  t ? (int64_t)json_number_value(t) : -1);
}

static void agents_api_action(api_req_t *req, void *ctx)
{
    (void)ctx;
    agent_t *a = agents_req_agent(req, true);
    if (!a)
        return;
    a->owner->commands++;
    json_t *body = api_req_body(req);
    json_t *action = agents_gate_action(a, "action");
    if (action) {
        json_t *params = json_object_get(body, "params");
        char *text = params ? json_dumps(params, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        json_object_set(action, "action", json_object_get(body, "name"));
        if (params)
            json_object_set(action, "params", params);
        if (text)
            json_object_set_new(action, "input", json_string(text));
        free(text);
    }
    agents_gate_pass(req, action, agents_api_action_run, NULL);
}

static void agents_api_output(api_req_t *req, void *ctx)
{
    (void)ctx;
    agent_t *a = agents_req_agent(req, false);
    if (!a)
        return;
    /* lines a client has seen are on disk: a reply can leave in the poll phase, before the
     * turn's check writes the log files, and a kill -9 right after it must not lose them */
    agents_logs_flush(a->owner);
    agents_out_q_t q = {
        .since = (uint64_t)api_req_query_int(req, "since", 0),
        .offset = api_req_query_int(req, "offset", 0),
        .limit = api_req_query_int(req, "limit", 1000),
        .tail = api_req_query_int(req, "tail", 0),
        .stream = api_req_query_str(req, "stream"),
    };
    if (q.stream && strcmp(q.stream, "both") == 0)
        q.stream = NULL;
    const char *grep = api_req_query_str(req, "grep");
    if (grep)
        agents_grep_start(a, req, grep, &q);
    else
        agents_out_answer(a, req, &q);
}

/* SSE: the ring's lines after `since` as frames (`event: agent.<id>.output`, no `id:` since
 * their seq is in the data), then the live bus events on agent.<id>.output and .status. */
static void agents_api_logs(api_req_t *req, void *ctx)
{
    agent_t *a = agents_req_agent(req, false);
    if (!a)
        return;
    if (!api_req_query_bool(req, "follow", true)) {
        agents_api_output(req, ctx);
        return;
    }
    uint64_t since = (uint64_t)api_req_query_int(req, "since", 0);
    const char *stream = api_req_query_str(req, "stream");
    if (stream && strcmp(stream, "both") == 0)
        stream = NULL;
    strbuf_t sb;
    strbuf_init(&sb, AGENTS_PRELUDE_MAX + 65536);
    agents_out_iter_t it;
    agents_out_iter_init(&it, a, stream, since);
    const agents_line_t *l;
    char topic[64];
    snprintf(topic, sizeof topic, "agent.%s.output", a->id);
    while ((l = agents_out_iter_next(&it)) != NULL) {
        if (sb.len >= AGENTS_PRELUDE_MAX) {
            /* the rest is in the ring: the client reads it from /output and resumes */
            strbuf_printf(&sb, "event: truncated\ndata: {\"next_since\":%" PRIu64 "}\n\n",
                          l->seq - 1);
            break;
        }
        json_t *j = agents_line_json(a, l);
        char *txt = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        if (txt)
            strbuf_printf(&sb, "event: %s\ndata: %s\n\n", topic, txt);
        free(txt);
    }
    /* `stream` filters the replay; live events carry their stream (see docs/agents.md) */
    char topics[160];
    snprintf(topics, sizeof topics, "agent.%s.output,agent.%s.status", a->id, a->id);
    size_t len = sb.len;
    char *pre = strbuf_steal(&sb, &len);
    api_reply_stream_prelude(req, topics, pre, len);
}

/* A prune waiting for the rows no record in memory holds. */
typedef struct agents_prune_req {
    agents_t *ag;
    api_req_t *req;
    int64_t in_memory; /* records forgotten before the store's part */
} agents_prune_req_t;

static void agents_api_prune_done(int64_t n, void *ud)
{
    agents_prune_req_t *pr = ud;
    if (n < 0)
        api_reply_problem(pr->req, store_problem_new(pr->ag->hub->store, (int)n,
                                                     "deleting the ended agents' rows"));
    else
        agents_ack_reply(pr->ag, pr->req, 200,
                         json_pack("{s:I}", "pruned", (json_int_t)(pr->in_memory + n)), NULL, true);
    free(pr);
}

/* Forgets ended agents (records, rows, output, log files) in memory and in the store; replies
 * {pruned} once the deletes are committed. */
static void agents_api_prune(api_req_t *req, void *ctx)
{
    (void)ctx;
    agents_t *ag = agents_of(req);
    json_t *body = api_req_body(req);
    const char *sel_text = json_string_value(json_object_get(body, "labels"));
    json_t *older = json_object_get(body, "older_than_s");
    agents_selector_t sel;
    if (sel_text && agents_selector_parse(&sel, sel_text) < 0) {
        problem_t *p = NULL;
        problem_field_error(&p, "body", "labels", "expected k=v[,k2=v2] (at most 64 pairs)");
        api_reply_problem(req, p);
        return;
    }
    int64_t before = older ? clock_wall_ms() - json_integer_value(older) * 1000 : INT64_MAX;
    int64_t n = 0;
    for (agent_t *a = ag->head, *next; a; a = next) {
        next = a->next; /* a may be freed */
        if (a->forget || !agents_status_final(a->status) || a->pid || a->exited)
            continue;
        int64_t ended = a->ended_ms ? a->ended_ms : a->status_ms;
        if (ended > before || (sel_text && !agents_selector_match(&sel, a)) ||
            !api_owner_may_act(req, agents_owner(a), agents_team(a)))
            continue;
        agents_forget(a);
        n++;
    }
    ag->commands++;
    /* rows beyond the records in memory have no owner to check here: only an admin's prune
     * reaches them */
    agents_prune_req_t *pr =
        ag->hub->store && api_owner_unrestricted(req) ? calloc(1, sizeof *pr) : NULL;
    json_t *match = sel_text ? json_object() : NULL;
    for (size_t i = 0; match && i < sel.n; i++)
        json_object_set_new(match, sel.k[i], json_string(sel.v[i]));
    if (pr) {
        *pr = (agents_prune_req_t){.ag = ag, .req = req, .in_memory = n};
        if (agents_store_prune(ag, before, match, AGENTS_PRUNE_MAX, agents_api_prune_done, pr) == 0)
            return;
        free(pr);
        api_reply_problem(req, problem_new(503, "unavailable",
                                           "the store's part of the prune could not start (%" PRId64
                                           " records in memory were forgotten)",
                                           n));
        return;
    }
    json_decref(match);
    agents_ack_reply(ag, req, 200, json_pack("{s:I}", "pruned", (json_int_t)n), NULL, true);
}

static void agents_api_batch(api_req_t *req, void *ctx)
{
    (void)ctx;
    agents_t *ag = agents_of(req);
    json_t *body = api_req_body(req);
    json_t *ids = json_object_get(body, "ids");
    const char *sel_text = json_string_value(json_object_get(body, "labels"));
    const char *command = json_string_value(json_object_get(body, "command"));
    bool fail_fast = json_is_true(json_object_get(body, "fail_fast"));
    bool all = json_is_true(json_object_get(body, "all"));
    problem_t *p = NULL;
    agents_selector_t sel;
    sel.n = 0; /* parsed below when labels is the one given (the analyzer cannot tell) */
    if ((ids != NULL) + (sel_text != NULL) + all != 1)
        problem_field_error(&p, "body", "/ids", "give one of ids, labels or all: true");
    else if (sel_text && agents_selector_parse(&sel, sel_text) < 0)
        problem_field_error(&p, "body", "/labels", "expected k=v[,k2=v2] (at most 64 pairs)");
    if (strcmp(command, "signal") == 0 && !json_object_get(body, "signal"))
        problem_field_error(&p, "body", "/signal", "required for the signal command");
    else if (json_object_get(body, "signal"))
        (void)agents_signal_field(json_string_value(json_object_get(body, "signal")), &p);
    if (p) {
        api_reply_problem(req, p);
        return;
    }
    /* the targets first, so that a command cannot change which agents a selector picks */
    size_t cap = ids ? json_array_size(ids) : ag->count;
    const char **targets = calloc(cap ? cap : 1, sizeof *targets);
    size_t n = 0;
    if (!targets) {
        api_reply_problem(req, problem_new(503, "out-of-memory", "the batch could not be held"));
        return;
    }
    if (ids) {
        size_t i;
        json_t *v;
        json_array_foreach(ids, i, v) targets[n++] = json_string_value(v);
    } else {
        /* a selector picks the agents that have not ended: stop and kill would have nothing
         * to do on the others, pause, resume and signal would fail on each */
        for (agent_t *a = ag->head; a && n < cap; a = a->next)
            if (!a->forget && !agents_status_final(a->status) &&
                (all || agents_selector_match(&sel, a)) &&
                api_owner_may_act(req, agents_owner(a), agents_team(a)))
                targets[n++] = a->id;
    }
    /* ids (and names) are copied: a command (kill of a forgotten agent) may free nothing, but
     * be safe */
    char(*idcopy)[AGENTS_HANDLE_MAX * 4 + 1] = calloc(n ? n : 1, sizeof *idcopy);
    if (!idcopy) {
        free(targets);
        api_reply_problem(req, problem_new(503, "out-of-memory", "the batch could not be held"));
        return;
    }
    for (size_t i = 0; i < n; i++)
        snprintf(idcopy[i], sizeof idcopy[i], "%s", targets[i]);
    free(targets);

    json_t *results = json_array();
    int64_t ok = 0, failed = 0, skipped = 0;
    bool stop = false;
    for (size_t i = 0; i < n; i++) {
        if (stop) {
            json_array_append_new(
                results, json_pack("{s:s,s:b,s:b}", "id", idcopy[i], "ok", 0, "skipped", 1));
            skipped++;
            continue;
        }
        agent_t *a = NULL;
        problem_t *e = agents_resolve(ag, idcopy[i], &a);
        if (!e)
            e = agents_owner_check(req, a, idcopy[i], true);
        if (!e)
            e = agents_command(a, command, body);
        ag->commands++;
        if (e) {
            ag->errors++;
            failed++;
            json_array_append_new(results,
                                  json_pack("{s:s,s:b,s:i,s:s}", "id", idcopy[i], "ok", 0, "status",
                                            problem_status(e), "error", problem_detail(e)));
            problem_destroy(&e);
            if (fail_fast)
                stop = true;
        } else {
            ok++;
            /* the agent's id, and the name it was given by if that is what came */
            json_t *r = json_pack("{s:s,s:b,s:s}", "id", a->id, "ok", 1, "agent_status",
                                  agents_status_name(a->status));
            if (strcmp(a->id, idcopy[i]) != 0)
                json_object_set_new(r, "handle", json_string(idcopy[i]));
            json_array_append_new(results, r);
        }
    }
    free(idcopy);
    /* after the rows the commands changed are committed; a row that was not fails it all */
    agents_ack_reply(ag, req, 200,
                     json_pack("{s:s,s:o,s:I,s:I,s:I,s:I}", "command", command, "results", results,
                               "total", (json_int_t)n, "succeeded", (json_int_t)ok, "failed",
                               (json_int_t)failed, "skipped", (json_int_t)skipped),
                     NULL, true);
}

static void agents_api_stats(api_req_t *req, void *ctx)
{
    (void)ctx;
    agents_t *ag = agents_of(req);
    hub_t *hub = api_req_hub(req);
    json_t *by = json_object();
    int counts[AGENTS_STATUS_COUNT] = {0};
    /* a caller who is not an admin counts only the agents it may see (docs/security.md,
     * "Ownership and teams"); the daemon's activity counters stay daemon-wide */
    bool all = api_owner_unrestricted(req);
    json_int_t seen = 0, live = 0;
    for (agent_t *a = ag->head; a; a = a->next) {
        if (a->forget || (!all && !api_owner_may_see(req, agents_owner(a), agents_team(a))))
            continue;
        counts[a->status]++;
        seen++;
        live += agents_status_live(a->status);
    }
    for (int i = 0; i < AGENTS_STATUS_COUNT; i++)
        json_object_set_new(by, agents_status_name((agents_status_t)i), json_integer(counts[i]));
    int64_t up = clock_wall_ms() - ag->started_ms;
    /* the loop-lag histogram since start (serve.c's 10 ms probe); null before its first run */
    double p50 = 0, p99 = 0;
    bool have_lag = hub->metrics &&
                    metrics_histogram_quantile(hub->metrics, "ganglion_loop_lag_seconds", NULL, 0.5,
                                               &p50) == 0 &&
                    metrics_histogram_quantile(hub->metrics, "ganglion_loop_lag_seconds", NULL,
                                               0.99, &p99) == 0;
    json_t *lag =
        have_lag ? json_pack("{s:f,s:f}", "p50_ms", p50 * 1e3, "p99_ms", p99 * 1e3) : json_null();
    json_t *grep = json_pack("{s:i,s:I,s:I}", "running", ag->grep_running, "refused",
                             (json_int_t)ag->grep_refused, "busy", (json_int_t)ag->grep_busy);
    api_reply_json(
        req, 200,
        json_pack("{s:b,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:f,s:o,s:b,s:b,s:o}",
                  "healthy", !ag->shutting_down, "protocol_version", "1.0.0", "uptime_s",
                  (json_int_t)(up / 1000), "active_agents", all ? (json_int_t)ag->live : live,
                  "agents", all ? (json_int_t)ag->count : seen, "max_agents",
                  (json_int_t)hub->cfg.agents_max, "spawns_ok", (json_int_t)ag->spawns_ok,
                  "spawns_failed", (json_int_t)ag->spawns_failed, "commands",
                  (json_int_t)ag->commands, "errors", (json_int_t)ag->errors, "restarts",
                  (json_int_t)ag->restarts_total, "output_lines", (json_int_t)ag->lines_total,
                  "by_status", by, "loop_lag_ms", hub->loop_lag_ms, "loop_lag", lag, "cgroup_v2",
                  ag->cgroup_v2, "shutting_down", ag->shutting_down, "grep", grep));
}

/* ---- the table ---- */

#define AGENTS_OBJ                                                                                 \
    "the agent object {id, name, status, pid, exit_code, signal, reason, labels, capabilities, "   \
    "argv, cwd, limits, restart, restarts, created_at, started_at, ended_at, status_at, lost_at, " \
    "usage{cpu_percent, rss_bytes, sampled_at}, output{stdout_lines, stderr_lines, last_seq}}"

static const api_endpoint_t agents_endpoints[] = {
    {.method = "GET",
     .path = "/api/v1/agents",
     .scope = "agents:read",
     .tag = "agents",
     .summary = "List agents (filter by status and labels, paginated)",
     .query = agents_list_query,
     .response = "{agents:[agent], total, limit, offset, has_more}",
     .handler = agents_api_list},
    {.method = "POST",
     .path = "/api/v1/agents",
     .scope = "agents:write",
     .tag = "agents",
     .summary = "Spawn an agent",
     .body_kind = API_BODY_JSON,
     .body = agents_spawn_body,
     .status = 201,
     .response = AGENTS_OBJ " (201 once the agent's row is committed)",
     .handler = agents_api_spawn},
    {.method = "GET",
     .path = "/api/v1/agents/stats",
     .scope = "agents:read",
     .tag = "agents",
     .summary = "Health and statistics of the agent supervisor",
     .response = "{healthy, protocol_version, uptime_s, active_agents, agents, max_agents, "
                 "spawns_ok, spawns_failed, commands, errors, restarts, output_lines, "
                 "by_status{}, loop_lag_ms, loop_lag{p50_ms, p99_ms}, cgroup_v2, shutting_down}",
     .handler = agents_api_stats},
    {.method = "POST",
     .path = "/api/v1/agents/batch",
     .scope = "agents:write",
     .tag = "agents",
     .summary = "Run one command on many agents (ids or a label selector)",
     .body_kind = API_BODY_JSON,
     .body = agents_batch_body,
     .response = "{command, results:[{id, ok, agent_status | status+error | skipped}], total, "
                 "succeeded, failed, skipped}",
     .handler = agents_api_batch},
    {.method = "POST",
     .path = "/api/v1/agents/prune",
     .scope = "agents:write",
     .tag = "agents",
     .summary = "Forget ended agents: their rows, output and log files",
     .body_kind = API_BODY_JSON,
     .body = agents_prune_body,
     .response = "{pruned} (once the deletes are committed)",
     .handler = agents_api_prune},
    {.method = "GET",
     .path = "/api/v1/agents/{id}",
     .scope = "agents:read",
     .tag = "agents",
     .summary = "Get an agent",
     .params = agents_id_param,
     .response = AGENTS_OBJ,
     .handler = agents_api_get},
    {.method = "DELETE",
     .path = "/api/v1/agents/{id}",
     .scope = "agents:write",
     .tag = "agents",
     .summary = "Kill the agent's processes and forget the agent",
     .params = agents_id_param,
     .status = 204,
     .handler = agents_api_delete},
    {.method = "POST",
     .path = "/api/v1/agents/{id}/pause",
     .scope = "agents:write",
     .tag = "agents",
     .summary = "Pause (cooperative stdin line, or SIGSTOP with force)",
     .params = agents_id_param,
     .body_kind = API_BODY_JSON,
     .body = agents_pause_body,
     .response = AGENTS_OBJ,
     .handler = agents_api_pause},
    {.method = "POST",
     .path = "/api/v1/agents/{id}/resume",
     .scope = "agents:write",
     .tag = "agents",
     .summary = "Resume the way it was paused (stdin line or SIGCONT)",
     .params = agents_id_param,
     .body_kind = API_BODY_JSON,
     .body = agents_pause_body,
     .response = AGENTS_OBJ,
     .handler = agents_api_resume},
    {.method = "POST",
     .path = "/api/v1/agents/{id}/stop",
     .scope = "agents:write",
     .tag = "agents",
     .summary = "SIGTERM to the agent's processes, SIGKILL after the grace period",
     .params = agents_id_param,
     .body_kind = API_BODY_JSON,
     .body = agents_stop_body,
     .response = AGENTS_OBJ,
     .handler = agents_api_stop},
    {.method = "POST",
     .path = "/api/v1/agents/{id}/start",
     .scope = "agents:write",
     .tag = "agents",
     .summary = "Start an ended agent again: same id and spec, restarts + 1 (409 when it runs)",
     .params = agents_id_param,
     .body_kind = API_BODY_JSON,
     .body = agents_start_body,
     .response = AGENTS_OBJ,
     .handler = agents_api_start},
    {.method = "POST",
     .path = "/api/v1/agents/{id}/restart",
     .scope = "agents:write",
     .tag = "agents",
     .summary = "Stop with the agent's grace, then start again with the same id and spec",
     .params = agents_id_param,
     .body_kind = API_BODY_JSON,
     .body = agents_start_body,
     .response = AGENTS_OBJ " (stopping until the old process has ended, then running)",
     .handler = agents_api_start,
     .ctx = (void *)1},
    {.method = "POST",
     .path = "/api/v1/agents/{id}/kill",
     .scope = "agents:write",
     .tag = "agents",
     .summary = "SIGKILL to the agent's process group and its descendants",
     .params = agents_id_param,
     .body_kind = API_BODY_JSON,
     .response = AGENTS_OBJ,
     .handler = agents_api_kill},
    {.method = "POST",
     .path = "/api/v1/agents/{id}/signal",
     .scope = "agents:write",
     .tag = "agents",
     .summary = "Send a signal to the agent's process group and its descendants",
     .params = agents_id_param,
     .body_kind = API_BODY_JSON,
     .body = agents_signal_body,
     .response = AGENTS_OBJ,
     .handler = agents_api_signal},
    {.method = "POST",
     .path = "/api/v1/agents/{id}/stdin",
     .scope = "agents:write",
     .tag = "agents",
     .summary = "Write text or base64 bytes to stdin (at most 64 KiB)",
     .params = agents_id_param,
     .body_kind = API_BODY_JSON,
     .body = agents_stdin_body,
     .response = "{id, written, eof}",
     .handler = agents_api_stdin},
    {.method = "POST",
     .path = "/api/v1/agents/{id}/action",
     .scope = "agents:write",
     .tag = "agents",
     .summary = "Custom action: a JSON line on stdin, answered by the agent",
     .params = agents_id_param,
     .body_kind = API_BODY_JSON,
     .body = agents_action_body,
     .response = "{id, action_id, name, result} (504 on timeout)",
     .handler = agents_api_action},
    {.method = "GET",
     .path = "/api/v1/agents/{id}/output",
     .scope = "agents:read",
     .tag = "agents",
     .summary = "Query buffered output (stream, grep, since, offset, limit)",
     .params = agents_id_param,
     .query = agents_output_query,
     .response = "{id, lines:[{seq, stream, ts, text, data_b64?, cont?}], total, has_more, "
                 "next_since, first_seq, last_seq}",
     .handler = agents_api_output},
    {.method = "GET",
     .path = "/api/v1/agents/{id}/logs",
     .scope = "agents:read",
     .tag = "agents",
     .summary = "Follow output over SSE: the buffered lines after since, then live",
     .params = agents_id_param,
     .query = agents_logs_query,
     .streaming = true,
     .response = "text/event-stream of agent.<id>.output {seq, stream, ts, text} and "
                 "agent.<id>.status events",
     .handler = agents_api_logs},
};

/* The event streams' filter for agent.<id>.*: an agent's status, usage and output reach whom
 * may see the agent; those of an agent already forgotten, only admins. */
static bool agents_api_event_sees(const api_viewer_t *v, const char *topic, const char *data,
                                  size_t len, void *ud)
{
    (void)data;
    (void)len;
    char id[128];
    agent_t *a = api_event_segment(topic, id, sizeof id) == 0 ? agents_find(ud, id) : NULL;
    return a && api_viewer_may_see(v, agents_owner(a), agents_team(a));
}

static size_t agents_api_refs(const char *owner, const char *team, void *ud)
{
    agents_t *ag = ud;
    size_t n = 0;
    for (agent_t *a = ag->head; a; a = a->next)
        n += api_owner_doc_refers(a->spec, owner, team);
    return n;
}

int agents_api_register(hub_t *hub)
{
    api_register(hub->api, agents_endpoints, sizeof agents_endpoints / sizeof agents_endpoints[0]);
    agents_t *ag = hub->agents;
    if (ag && !ag->render) {
        ag->render = calloc(1, sizeof *ag->render);
        if (ag->render && api_registry_cleanup_add(hub->api, agents_render_free, ag->render) < 0) {
            agents_render_free(ag->render);
            ag->render = NULL;
        }
    }
    programs_api_register(hub);
    if (ag) {
        api_event_filter_add(hub->api, "agent.", agents_api_event_sees, ag);
        api_owner_refs_add(hub->api, "agent", agents_api_refs, ag);
    }
    if (hub->metrics) {
        metrics_declare(hub->metrics, "ganglion_agents_spawns_total", "counter",
                        "Agent spawns by result.");
        metrics_declare(hub->metrics, "ganglion_agents_active", "gauge",
                        "Agents with a live process.");
        metrics_declare(hub->metrics, "ganglion_agents_triggered_restarts_total", "counter",
                        "Restarts asked for by a trigger (memory, cron, watch).");
        metrics_collector_add(hub->metrics, agents_metrics_collect, hub->agents);
    }
    if (hub->retention && ag)
        retention_purge_add(hub->retention, "agents", NULL, agents_retention_after, ag);
    return 0;
}
