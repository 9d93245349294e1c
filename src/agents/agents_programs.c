/* Programs on the loop: the set read from the program files applied to the agents — at daemon
 * start (reusing the agents of the previous run by name), at a reload (only what changed, like
 * `supervisorctl update`) — and the start, stop and restart of one program's agents. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents_internal.h"
#include "agents/agents_programs.h"
#include "core/hub.h"
#include "core/log.h"

const char *agents_programs_dir(const agents_t *ag, char *buf, size_t len)
{
    const config_t *cfg = &ag->hub->cfg;
    if (cfg->agents_programs[0])
        snprintf(buf, len, "%s", cfg->agents_programs);
    else
        snprintf(buf, len, "%s/programs.d", cfg->data_dir);
    return buf;
}

static const char *prog_label(const agent_t *a)
{
    return json_string_value(json_object_get(a->labels, "program"));
}

static void prog_instance_name(const char *pname, int64_t i, int64_t numprocs, char *out,
                               size_t len)
{
    if (numprocs == 1)
        snprintf(out, len, "%s", pname);
    else
        snprintf(out, len, "%s-%d", pname, (int)i);
}

/* Instance i's spawn spec: the program's, with its name and PROGRAM_NAME / PROGRAM_INDEX in
 * the environment (unless the file sets them), so that instances can pick ports or shards.
 * New reference. */
static json_t *prog_instance_spec(const json_t *spec, const char *pname, int64_t i,
                                  const char *iname)
{
    json_t *ispec = json_deep_copy(spec);
    json_t *env = json_object_get(ispec, "env");
    char idx[24];
    snprintf(idx, sizeof idx, "%d", (int)i);
    if (env && !json_object_get(env, "PROGRAM_NAME"))
        json_object_set_new(env, "PROGRAM_NAME", json_string(pname));
    if (env && !json_object_get(env, "PROGRAM_INDEX"))
        json_object_set_new(env, "PROGRAM_INDEX", json_string(idx));
    json_object_set_new(ispec, "name", json_string(iname));
    return ispec;
}

/* The agent of program pname called iname: a live one if there is one, else the newest. */
static agent_t *prog_instance(agents_t *ag, const char *pname, const char *iname)
{
    agent_t *best = NULL;
    for (agent_t *a = ag->head; a; a = a->next) {
        const char *l = a->forget ? NULL : prog_label(a);
        if (!l || strcmp(l, pname) || !a->name || strcmp(a->name, iname))
            continue;
        if (agents_status_live(a->status) || a->status == AGENTS_IDLE)
            return a;
        best = a; /* the list is in creation order: later is newer */
    }
    return best;
}

static bool prog_running(const agent_t *a)
{
    return agents_status_live(a->status) || a->status == AGENTS_IDLE;
}

static void prog_result(json_t *agents, const agent_t *a, const char *name, const char *result,
                        problem_t *p)
{
    json_t *o = json_pack("{s:s?,s:s,s:s}", "id", a ? a->id : NULL, "name", name, "result",
                          p ? "error" : result);
    if (p) {
        json_object_set_new(o, "error", json_string(problem_detail(p)));
        problem_t *q = p;
        problem_destroy(&q);
    }
    json_array_append_new(agents, o);
}

static problem_t *prog_code(const agent_t *a, int rc, const char *what)
{
    return rc < 0 ? agents_restart_problem(a, rc, what) : NULL;
}

/* A new agent for the instance. */
static void prog_spawn(agents_t *ag, json_t *spec, const char *iname, json_t *out)
{
    agent_t *a = NULL;
    problem_t *p = agents_spawn(ag, spec, &a);
    prog_result(out, p ? NULL : a, iname, "started", p);
}

/* Agents of program pname beyond its instances (numprocs shrank, or NAME vs NAME-0 after a
 * change of numprocs) are stopped. */
static void prog_stop_extra(agents_t *ag, const char *pname, int64_t numprocs, json_t *out)
{
    for (agent_t *a = ag->head; a; a = a->next) {
        const char *l = a->forget ? NULL : prog_label(a);
        if (!l || strcmp(l, pname) || !prog_running(a))
            continue;
        bool mine = false;
        for (int64_t i = 0; i < numprocs && !mine; i++) {
            char iname[AGENTS_PROGRAM_NAME_MAX + 8];
            prog_instance_name(pname, i, numprocs, iname, sizeof iname);
            mine = a->name && !strcmp(a->name, iname);
        }
        if (!mine)
            prog_result(out, a, a->name ? a->name : "", "stopped", agents_stop(a, -1));
    }
}

/* Brings the program's agents to its declaration: the spec of each instance, running when
 * autostart (or when force_start); changed specs are applied with a restart. */
static void prog_apply_one(agents_t *ag, const char *pname, json_t *p, bool force_start,
                           json_t *out)
{
    int64_t numprocs = json_integer_value(json_object_get(p, "numprocs"));
    bool autostart = json_is_true(json_object_get(p, "autostart")) || force_start;
    json_t *spec = json_object_get(p, "spec");
    for (int64_t i = 0; i < numprocs; i++) {
        char iname[AGENTS_PROGRAM_NAME_MAX + 8], why[300];
        prog_instance_name(pname, i, numprocs, iname, sizeof iname);
        json_t *ispec = prog_instance_spec(spec, pname, i, iname);
        agent_t *a = prog_instance(ag, pname, iname);
        if (!a) {
            if (autostart)
                prog_spawn(ag, ispec, iname, out);
            else
                prog_result(out, NULL, iname, "not started", NULL);
            json_decref(ispec);
            continue;
        }
        bool same = json_equal(a->spec, ispec);
        if (!same) {
            int rc = agents_agent_respec(a, ispec, why, sizeof why); /* takes ispec */
            if (rc < 0) {
                prog_result(out, a, iname, NULL,
                            problem_new(422, "spawn-failed", "%s: %s", iname, why));
                continue;
            }
        } else {
            json_decref(ispec);
        }
        snprintf(why, sizeof why, "program %s %s", pname, same ? "started" : "changed");
        if (prog_running(a) && !same)
            prog_result(out, a, iname, "restarted",
                        prog_code(a, agents_agent_restart(ag, a, why), "restart"));
        else if (prog_running(a))
            prog_result(out, a, iname, "running", NULL);
        else if (autostart)
            prog_result(out, a, iname, "started",
                        prog_code(a, agents_agent_start(ag, a, why), "start"));
        else
            prog_result(out, a, iname, "not started", NULL);
    }
    prog_stop_extra(ag, pname, numprocs, out);
}

json_t *agents_programs_apply(agents_t *ag, json_t *set, bool boot)
{
    json_t *report = json_array();
    json_t *old = json_object_get(ag->programs, "programs");
    json_t *now = json_object_get(set, "programs");
    const char *name;
    json_t *p;
    json_object_foreach(now, name, p)
    {
        json_t *was = json_object_get(old, name);
        const char *action = boot ? "loaded" : !was ? "added" : "changed";
        /* the file and line are where, not what: a program moved within its file is the same */
        bool same = was && json_equal(json_object_get(was, "spec"), json_object_get(p, "spec")) &&
                    json_equal(json_object_get(was, "numprocs"), json_object_get(p, "numprocs")) &&
                    json_equal(json_object_get(was, "autostart"), json_object_get(p, "autostart"));
        if (!boot && same) {
            json_array_append_new(report, json_pack("{s:s,s:s,s:[]}", "program", name, "action",
                                                    "unchanged", "agents"));
            continue;
        }
        json_t *agents = json_array();
        prog_apply_one(ag, name, p, false, agents);
        json_array_append_new(report, json_pack("{s:s,s:s,s:o}", "program", name, "action", action,
                                                "agents", agents));
    }
    json_object_foreach(old, name, p)
    {
        if (json_object_get(now, name))
            continue;
        json_t *agents = json_array();
        prog_stop_extra(ag, name, 0, agents);
        json_array_append_new(report, json_pack("{s:s,s:s,s:o}", "program", name, "action",
                                                "removed", "agents", agents));
    }
    json_decref(ag->programs);
    ag->programs = set;
    return report;
}

void agents_programs_boot(agents_t *ag)
{
    char dir[1024];
    agents_programs_dir(ag, dir, sizeof dir);
    json_t *set = agents_programs_read(dir);
    if (!set) {
        log_error(NULL, "agents: program files not read (out of memory)", NULL);
        return;
    }
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(set, "errors"), i, e)
        log_error(NULL, "agents: program file error (the file's programs are not started)", "{s:s}",
                  "error", json_string_value(e));
    json_t *report = agents_programs_apply(ag, set, true);
    size_t started = 0, failed = 0;
    json_t *r;
    json_array_foreach(report, i, r)
    {
        size_t k;
        json_t *x;
        json_array_foreach(json_object_get(r, "agents"), k, x)
        {
            const char *res = json_string_value(json_object_get(x, "result"));
            if (!strcmp(res, "started"))
                started++;
            else if (!strcmp(res, "error")) {
                failed++;
                log_error(NULL, "agents: program agent not started", "{s:O,s:O}", "program",
                          json_object_get(r, "program"), "error", json_object_get(x, "error"));
            }
        }
    }
    if (json_object_size(json_object_get(set, "programs")) || started || failed)
        log_info(NULL, "agents: programs loaded", "{s:s,s:I,s:I,s:I}", "dir", dir, "programs",
                 (json_int_t)json_object_size(json_object_get(set, "programs")), "started",
                 (json_int_t)started, "failed", (json_int_t)failed);
    json_decref(report);
}

json_t *agents_programs_json(agents_t *ag)
{
    json_t *arr = json_array();
    const char *name;
    json_t *p;
    json_object_foreach(json_object_get(ag->programs, "programs"), name, p)
    {
        json_t *spec = json_object_get(p, "spec");
        json_t *agents = json_array();
        for (agent_t *a = ag->head; a; a = a->next) {
            const char *l = a->forget ? NULL : prog_label(a);
            if (!l || strcmp(l, name))
                continue;
            json_array_append_new(agents, json_pack("{s:s,s:s,s:s,s:o,s:i}", "id", a->id, "name",
                                                    a->name ? a->name : "", "status",
                                                    agents_status_name(a->status), "pid",
                                                    a->pid ? json_integer(a->pid) : json_null(),
                                                    "restarts", a->restarts));
        }
        json_array_append_new(
            arr, json_pack("{s:s,s:O,s:O,s:O,s:O,s:O,s:O,s:O?,s:o}", "name", name, "file",
                           json_object_get(p, "file"), "line", json_object_get(p, "line"),
                           "numprocs", json_object_get(p, "numprocs"), "autostart",
                           json_object_get(p, "autostart"), "argv", json_object_get(spec, "argv"),
                           "restart", json_object_get(spec, "restart"), "user",
                           json_object_get(spec, "user"), "agents", agents));
    }
    json_t *errors = json_object_get(ag->programs, "errors");
    return json_pack("{s:O?,s:o,s:o}", "dir", json_object_get(ag->programs, "dir"), "programs", arr,
                     "errors", errors ? json_incref(errors) : json_array());
}

problem_t *agents_program_command(agents_t *ag, const char *name, const char *cmd, json_t **out)
{
    json_t *p = json_object_get(json_object_get(ag->programs, "programs"), name);
    if (!p)
        return problem_new(404, "not-found", "no program named %s (see GET /api/v1/programs)",
                           name);
    if (ag->shutting_down)
        return problem_new(503, "shutting-down", "the server is shutting down");
    json_t *agents = json_array();
    if (!strcmp(cmd, "stop")) {
        prog_stop_extra(ag, name, 0, agents);
    } else if (!strcmp(cmd, "start")) {
        prog_apply_one(ag, name, p, true, agents);
    } else {
        int64_t numprocs = json_integer_value(json_object_get(p, "numprocs"));
        char why[128];
        snprintf(why, sizeof why, "program %s restarted on request", name);
        for (int64_t i = 0; i < numprocs; i++) {
            char iname[AGENTS_PROGRAM_NAME_MAX + 8];
            prog_instance_name(name, i, numprocs, iname, sizeof iname);
            agent_t *a = prog_instance(ag, name, iname);
            if (a) {
                prog_result(agents, a, iname, "restarted",
                            prog_code(a, agents_agent_restart(ag, a, why), "restart"));
            } else {
                json_t *ispec = prog_instance_spec(json_object_get(p, "spec"), name, i, iname);
                prog_spawn(ag, ispec, iname, agents);
                json_decref(ispec);
            }
        }
    }
    *out = json_pack("{s:s,s:s,s:o}", "program", name, "command", cmd, "agents", agents);
    return NULL;
}

void agents_programs_fini(agents_t *ag)
{
    json_decref(ag->programs);
    ag->programs = NULL;
}
