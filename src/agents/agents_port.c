/* What the agents domain offers other domains through the hub (serve.c wires it): the agents
 * that can take stdin lines now, and one line written to an agent's stdin. The tasks domain
 * hands work to stdin workers with these. Loop thread only. */
#include <errno.h>
#include <string.h>

#include "agents/agents.h"
#include "agents/agents_internal.h"
#include "core/hub.h"

static bool agents_port_ready(const agent_t *a)
{
    return !a->forget && a->pid && a->in_open && !a->stdin_closed &&
           (a->status == AGENTS_INITIALIZING || a->status == AGENTS_RUNNING ||
            a->status == AGENTS_THINKING);
}

void agents_each_live(hub_t *hub,
                      void (*fn)(void *ud, const char *id, const char *name,
                                 const json_t *capabilities),
                      void *ud)
{
    agents_t *ag = hub->agents;
    if (!ag)
        return;
    for (agent_t *a = ag->head; a; a = a->next)
        if (agents_port_ready(a))
            fn(ud, a->id, a->name ? a->name : "", json_object_get(a->spec, "capabilities"));
}

int agents_stdin_line(hub_t *hub, const char *id, const char *line, size_t len)
{
    agents_t *ag = hub->agents;
    agent_t *a = ag ? agents_find(ag, id) : NULL;
    if (!a || !agents_port_ready(a))
        return -ENOENT;
    problem_t *p = agents_stdin_write(a, line, len, false);
    int rc = 0;
    if (p) {
        rc = problem_status(p) == 503 ? -EAGAIN : -EPIPE;
        problem_destroy(&p);
    }
    return rc;
}
