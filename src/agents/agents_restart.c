/* Starting an agent again with the same id and spec: `agent start` on an ended agent, `agent
 * restart` (stop with the agent's grace, then start), the restarts other triggers ask for, and
 * at daemon start the agents the last run left alive or stopped at its shutdown. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents_internal.h"
#include "core/clock.h"
#include "core/hub.h"
#include "core/log.h"
#include "core/metrics.h"

#define AGENTS_RESTART_REASON "restarted on request"

static int agents_restart_check(agents_t *ag, agent_t *a)
{
    if (a->forget)
        return -ENOENT;
    if (ag->shutting_down || ag->hub->shutting_down)
        return -ESHUTDOWN;
    if (!a->argv || !a->argv[0] || !a->cwd)
        return -ENOEXEC; /* a row of another version whose spec this one cannot run */
    return 0;
}

static void agents_restart_metric(hub_t *hub, bool ok)
{
    if (hub->metrics)
        metrics_counter_add(hub->metrics, "ganglion_agents_spawns_total",
                            ok ? "result=\"ok\"" : "result=\"failed\"", 1);
}

/* Idle, its old pipes closed: the process starts. */
static int agents_restart_exec(agents_t *ag, agent_t *a, const char *reason)
{
    if ((int64_t)ag->live >= ag->hub->cfg.agents_max) {
        agents_status_set(a, AGENTS_FAILED, "restart refused: agents.max reached");
        return -EAGAIN;
    }
    char why[512];
    int rc = agents_proc_start(a, why, sizeof why);
    if (rc < 0) {
        ag->spawns_failed++;
        agents_restart_metric(ag->hub, false);
        agents_status_set(a, AGENTS_FAILED, why);
        return rc;
    }
    ag->spawns_ok++;
    agents_restart_metric(ag->hub, true);
    /* the reason of this run (why it was started again) stays while it runs */
    agents_status_set(a, AGENTS_INITIALIZING, reason);
    agents_status_set(a, AGENTS_RUNNING, reason);
    return 0;
}

/* The pipes of the last run were still closing (their handles are embedded in the agent and
 * are opened again by the start): the start waits for their close callbacks. */
static void agents_restart_on_timer(uv_timer_t *t)
{
    agent_t *a = t->data;
    agents_t *ag = a->owner;
    if (a->forget || ag->shutting_down || a->status != AGENTS_IDLE) {
        free(a->restart_reason);
        a->restart_reason = NULL;
        return;
    }
    if (a->pending_close > 0 || a->in_open || a->out_open || a->err_open) {
        uv_timer_start(&a->stop_timer, agents_restart_on_timer, 1, 0);
        return;
    }
    char *reason = a->restart_reason;
    a->restart_reason = NULL;
    int rc = agents_restart_exec(ag, a, reason ? reason : AGENTS_RESTART_REASON);
    if (rc < 0)
        log_warn(NULL, "agents: start again failed", "{s:s,s:s}", "agent", a->id, "reason",
                 a->reason ? a->reason : strerror(-rc));
    free(reason);
}

/* The process is gone (status idle or ended): counts the restart and starts it, now or once
 * the last run's pipes have closed. */
static int agents_restart_launch(agents_t *ag, agent_t *a, const char *reason)
{
    if (!reason)
        reason = AGENTS_RESTART_REASON;
    /* an ended agent coming back takes its name again: not while another has it */
    if (agents_status_final(a->status) &&
        !json_is_true(json_object_get(a->spec, "allow_duplicate_name"))) {
        problem_t *taken = agents_name_check(ag, a->name);
        if (taken) {
            problem_destroy(&taken);
            return -EEXIST;
        }
    }
    if ((int64_t)ag->live >= ag->hub->cfg.agents_max) {
        if (a->status == AGENTS_IDLE)
            agents_status_set(a, AGENTS_FAILED, "restart refused: agents.max reached");
        return -EAGAIN;
    }
    if (a->status != AGENTS_IDLE && !agents_status_set(a, AGENTS_IDLE, reason))
        return -EBUSY;
    uv_timer_stop(&a->stop_timer); /* a policy restart that was waiting */
    a->restart_pending = false;
    a->daemon_stop_ms = 0;
    a->restarts++;
    ag->restarts_total++;
    if (a->pending_close > 0 || a->in_open || a->out_open || a->err_open) {
        char *copy = strdup(reason);
        if (!copy) {
            agents_status_set(a, AGENTS_FAILED, "start again: out of memory");
            return -ENOMEM;
        }
        free(a->restart_reason);
        a->restart_reason = copy;
        uv_timer_start(&a->stop_timer, agents_restart_on_timer, 0, 0);
        return 0;
    }
    return agents_restart_exec(ag, a, reason);
}

int agents_agent_start(agents_t *ag, agent_t *a, const char *reason)
{
    int rc = agents_restart_check(ag, a);
    if (rc < 0)
        return rc;
    if (!agents_status_final(a->status))
        return -EBUSY;
    return agents_restart_launch(ag, a, reason ? reason : "started again on request");
}

int agents_agent_restart(agents_t *ag, agent_t *a, const char *reason)
{
    int rc = agents_restart_check(ag, a);
    if (rc < 0)
        return rc;
    if (!reason)
        reason = AGENTS_RESTART_REASON;
    if (agents_status_final(a->status) || (a->status == AGENTS_IDLE && !a->pid && !a->exited))
        return agents_restart_launch(ag, a, reason);
    char *copy = strdup(reason);
    if (!copy)
        return -ENOMEM;
    free(a->restart_reason);
    a->restart_reason = copy;
    if (a->pid && !a->exited && a->status != AGENTS_STOPPING) {
        problem_t *p = agents_stop(a, -1);
        if (p) {
            problem_destroy(&p);
            return -ESRCH;
        }
        char r[AGENTS_TEXT_REASON_MAX];
        snprintf(r, sizeof r, "restarting (%s): %s", reason, a->reason ? a->reason : "stopping");
        agents_status_set(a, a->status, r);
    }
    /* stopping already, or exited with its pipes still draining: the end starts it again */
    a->restart_pending = true;
    return 0;
}

bool agents_restart_resume(agent_t *a, const char *why)
{
    agents_t *ag = a->owner;
    if (!a->restart_pending || a->forget || ag->shutting_down)
        return false;
    a->restart_pending = false;
    char *reason = a->restart_reason;
    a->restart_reason = NULL;
    char r[AGENTS_TEXT_REASON_MAX];
    snprintf(r, sizeof r, "restarting (%s); last run %s", reason ? reason : AGENTS_RESTART_REASON,
             why);
    if (!agents_status_set(a, AGENTS_IDLE, r)) {
        free(reason);
        return false;
    }
    int rc = agents_restart_launch(ag, a, reason);
    if (rc < 0)
        log_warn(NULL, "agents: restart failed", "{s:s,s:s}", "agent", a->id, "reason",
                 a->reason ? a->reason : strerror(-rc));
    free(reason);
    agents_agent_release(a);
    return true;
}

void agents_restart_revive(agents_t *ag)
{
    size_t started = 0, failed = 0;
    for (agent_t *a = ag->head; a; a = a->next) {
        /* a program's agents come back by its declaration instead (agents_programs_boot):
         * not when the program was removed from the files or is not autostart */
        if (a->forget || a->restart == AGENTS_RESTART_NEVER ||
            json_object_get(a->labels, "program"))
            continue;
        /* lost: it was running when the last daemon went away; daemon_stop_ms: the last
         * daemon's shutdown stopped it. Only the rows this start marked lost: a lost row of an
         * older run was already handled by the start after it. */
        bool lost_now = a->status == AGENTS_LOST && a->lost_ms >= ag->started_ms;
        if (!lost_now && !(a->daemon_stop_ms && agents_status_final(a->status)))
            continue;
        char reason[128];
        snprintf(reason, sizeof reason, "started again at daemon start (restart: %s; %s)",
                 a->restart == AGENTS_RESTART_ALWAYS ? "always" : "on-failure",
                 lost_now ? "it was lost" : "the daemon had stopped it");
        if (agents_restart_launch(ag, a, reason) == 0)
            started++;
        else
            failed++;
    }
    if (started || failed)
        log_info(NULL, "agents: agents of the previous run started again", "{s:I,s:I}", "started",
                 (json_int_t)started, "failed", (json_int_t)failed);
}

problem_t *agents_restart_problem(const agent_t *a, int rc, const char *what)
{
    switch (rc) {
    case -ENOENT:
        return problem_new(404, "not-found", "no agent with id %s", a->id);
    case -ESHUTDOWN:
        return problem_new(503, "shutting-down", "the server is shutting down");
    case -EAGAIN: {
        problem_t *p = problem_new(429, "too-many-agents",
                                   "cannot %s agent %s: the limit of running agents (agents.max) "
                                   "is reached",
                                   what, a->id);
        problem_header_set(p, "Retry-After", "1");
        return p;
    }
    case -EBUSY:
        return problem_new(409, "agent-running",
                           "cannot %s agent %s: it is %s (start is for ended agents; use "
                           "restart)",
                           what, a->id, agents_status_name(a->status));
    case -EEXIST: {
        problem_t *p = agents_name_check(a->owner, a->name);
        if (p)
            return p;
        return problem_new(409, "name-taken", "cannot %s agent %s: its name is taken", what, a->id);
    }
    case -ENOEXEC:
        return problem_new(409, "agent-not-startable",
                           "cannot %s agent %s: its stored spec cannot be run by this version",
                           what, a->id);
    case -ENOMEM:
        return problem_new(503, "out-of-memory", "cannot %s agent %s: out of memory", what, a->id);
    default:
        return problem_new(422, "spawn-failed", "cannot %s agent %s: %s", what, a->id,
                           a->reason ? a->reason : strerror(-rc));
    }
}
