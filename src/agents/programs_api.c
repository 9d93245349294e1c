/* The programs endpoints: /api/v1/programs (the programs of the program files and their
 * agents), the reload that applies only what changed, and start/stop/restart of one program.
 * Files and format: docs/agents.md, "Programs". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents_internal.h"
#include "agents/agents_programs.h"
#include "core/hub.h"
#include "core/log.h"

static const api_field_t programs_name_param[] = {{.name = "name",
                                                   .type = API_T_STRING,
                                                   .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
                                                   .min = 1,
                                                   .max = AGENTS_PROGRAM_NAME_MAX,
                                                   .description = "program name ([program:NAME])"},
                                                  {.name = NULL}};

static agents_t *programs_of(api_req_t *req)
{
    return api_req_hub(req)->agents;
}

static void programs_api_list(api_req_t *req, void *ctx)
{
    (void)ctx;
    api_reply_json(req, 200, agents_programs_json(programs_of(req)));
}

/* ---- reload: the files are read on the thread pool, applied on the loop ---- */

typedef struct programs_reload {
    uv_work_t work;
    agents_t *ag; /* borrowed: agents_busy holds the shutdown drain while a reload runs */
    api_req_t *req;
    char dir[1024];
    json_t *set; /* the worker's result */
} programs_reload_t;

static void programs_reload_work(uv_work_t *w)
{
    programs_reload_t *r = w->data;
    r->set = agents_programs_read(r->dir);
}

/* "file:line: message" as a field error {in: file, field: "file:line", message}. */
static void programs_error_add(problem_t *p, const char *e)
{
    const char *slash = strrchr(e, '/');
    const char *sep = strstr(slash ? slash : e, ": ");
    if (!sep) {
        problem_field_add(p, "file", "", "%s", e);
        return;
    }
    char where[1100];
    snprintf(where, sizeof where, "%.*s", (int)(sep - e), e);
    problem_field_add(p, "file", where, "%s", sep + 2);
}

static void programs_reload_after(uv_work_t *w, int status)
{
    programs_reload_t *r = w->data;
    agents_t *ag = r->ag;
    ag->programs_reloading = false;
    json_t *errors = json_object_get(r->set, "errors");
    if (status < 0 || !r->set) {
        api_reply_problem(r->req, problem_new(503, "unavailable",
                                              "the program files could not "
                                              "be read"));
    } else if (json_array_size(errors)) {
        /* nothing is applied: a reload with an error in any file changes no agent */
        problem_t *p =
            problem_new(422, "program-file-invalid",
                        "%zu error(s) in the program files, nothing was changed; "
                        "the first: %s",
                        json_array_size(errors), json_string_value(json_array_get(errors, 0)));
        size_t i;
        json_t *e;
        json_array_foreach(errors, i, e) programs_error_add(p, json_string_value(e));
        api_reply_problem(r->req, p);
    } else if (ag->shutting_down) {
        api_reply_problem(r->req, problem_new(503, "shutting-down", "the server is shutting down"));
    } else {
        json_t *set = r->set;
        r->set = NULL;
        json_t *report = agents_programs_apply(ag, set, false);
        log_info(NULL, "agents: programs reloaded", "{s:s,s:I}", "dir", r->dir, "programs",
                 (json_int_t)json_object_size(json_object_get(set, "programs")));
        agents_ack_reply(ag, r->req, 200, json_pack("{s:s,s:o}", "dir", r->dir, "programs", report),
                         NULL, true);
    }
    json_decref(r->set);
    free(r);
}

static void programs_api_reload(api_req_t *req, void *ctx)
{
    (void)ctx;
    agents_t *ag = programs_of(req);
    if (ag->programs_reloading) {
        problem_t *p =
            problem_new(409, "reload-in-progress", "a reload of the programs is running");
        problem_header_set(p, "Retry-After", "1");
        api_reply_problem(req, p);
        return;
    }
    if (ag->shutting_down) {
        api_reply_problem(req, problem_new(503, "shutting-down", "the server is shutting down"));
        return;
    }
    programs_reload_t *r = calloc(1, sizeof *r);
    if (!r) {
        api_reply_problem(req, problem_new(503, "out-of-memory", "the reload could not start"));
        return;
    }
    r->ag = ag;
    r->req = req;
    agents_programs_dir(ag, r->dir, sizeof r->dir);
    r->work.data = r;
    int rc = uv_queue_work(ag->hub->loop, &r->work, programs_reload_work, programs_reload_after);
    if (rc < 0) {
        free(r);
        api_reply_problem(req, problem_new(503, "unavailable", "the reload could not start: %s",
                                           uv_strerror(rc)));
        return;
    }
    ag->programs_reloading = true;
}

static void programs_api_command(api_req_t *req, void *ctx)
{
    agents_t *ag = programs_of(req);
    json_t *out = NULL;
    ag->commands++;
    problem_t *p = agents_program_command(ag, api_req_param_str(req, "name"), ctx, &out);
    if (p) {
        api_reply_problem(req, p);
        return;
    }
    agents_ack_reply(ag, req, 200, out, NULL, true);
}

/* the command each endpoint runs, as its ctx (the table needs non-const pointers) */
static char programs_cmd_start[] = "start", programs_cmd_stop[] = "stop",
            programs_cmd_restart[] = "restart";

#define PROGRAMS_AGENTS "agents:[{id, name, result: started|restarted|stopped|running|…, error?}]"

static const api_endpoint_t programs_endpoints[] = {
    {.method = "GET",
     .path = "/api/v1/programs",
     .scope = "agents:read",
     .tag = "programs",
     .summary = "The programs declared in the program files, with their agents and the files' "
                "errors",
     .response = "{dir, programs:[{name, file, line, numprocs, autostart, argv, restart, "
                 "user?, agents:[{id, name, status, pid, restarts}]}], errors:[\"file:line: …\"]}",
     .handler = programs_api_list},
    {.method = "POST",
     .path = "/api/v1/programs/reload",
     .scope = "agents:write",
     .tag = "programs",
     .summary = "Read the program files again and apply only what changed (added programs "
                "started, removed ones stopped, changed ones restarted)",
     .body_kind = API_BODY_JSON,
     .response =
         "{dir, programs:[{program, action: added|changed|removed|unchanged, " PROGRAMS_AGENTS
         "}]} (422 program-file-invalid with errors[]: nothing changed)",
     .handler = programs_api_reload},
    {.method = "POST",
     .path = "/api/v1/programs/{name}/start",
     .scope = "agents:write",
     .tag = "programs",
     .summary = "Start the program's agents that are not running (same ids when they exist)",
     .params = programs_name_param,
     .body_kind = API_BODY_JSON,
     .response = "{program, command, " PROGRAMS_AGENTS "}",
     .handler = programs_api_command,
     .ctx = programs_cmd_start},
    {.method = "POST",
     .path = "/api/v1/programs/{name}/stop",
     .scope = "agents:write",
     .tag = "programs",
     .summary = "Stop the program's running agents",
     .params = programs_name_param,
     .body_kind = API_BODY_JSON,
     .response = "{program, command, " PROGRAMS_AGENTS "}",
     .handler = programs_api_command,
     .ctx = programs_cmd_stop},
    {.method = "POST",
     .path = "/api/v1/programs/{name}/restart",
     .scope = "agents:write",
     .tag = "programs",
     .summary = "Restart the program's agents (stop with their grace, then start, same ids)",
     .params = programs_name_param,
     .body_kind = API_BODY_JSON,
     .response = "{program, command, " PROGRAMS_AGENTS "}",
     .handler = programs_api_command,
     .ctx = programs_cmd_restart},
};

int programs_api_register(hub_t *hub)
{
    api_register(hub->api, programs_endpoints,
                 sizeof programs_endpoints / sizeof programs_endpoints[0]);
    return 0;
}
