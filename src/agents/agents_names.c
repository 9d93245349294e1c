/* Names as handles: every endpoint that takes an agent's id also takes its name. The records
 * are indexed by name (core/htab), each name holding two lists — its agents that have not ended,
 * in spawn order, and those that have, in the order they ended — so that resolving a name and a
 * spawn's uniqueness check cost one lookup, whatever the number of ended namesakes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents_internal.h"
#include "core/htab.h"

#define AGENTS_CANDIDATES_MAX 64 /* ids listed in an ambiguous-name problem */

/* Names and handles reach the problems' details whole: the endpoints' schemas bound them (128
 * characters) and keep them valid UTF-8. */

/* One name and its agents. Owned by the table; freed when its last agent leaves. */
typedef struct agents_name {
    char *name; /* owned; the table's key */
    agent_t *live_head, *live_tail;
    agent_t *end_head, *end_tail;
} agents_name_t;

static const void *agents_name_key(const void *item, size_t *len)
{
    const agents_name_t *e = item;
    *len = strlen(e->name);
    return e->name;
}

int agents_names_init(agents_t *ag)
{
    return htab_new(&ag->by_name, agents_name_key);
}

void agents_names_fini(agents_t *ag)
{
    size_t pos = 0;
    agents_name_t *e;
    /* every record was freed before (each took itself out): this only frees what an
     * out-of-memory path may have left */
    while (ag->by_name && (e = htab_next(ag->by_name, &pos)) != NULL) {
        free(e->name);
        free(e);
    }
    htab_destroy(&ag->by_name);
}

static void agents_name_link(agent_t *a, bool live)
{
    agents_name_t *e = a->name_ent;
    agent_t **head = live ? &e->live_head : &e->end_head;
    agent_t **tail = live ? &e->live_tail : &e->end_tail;
    a->name_live = live;
    a->name_next = NULL;
    a->name_prev = *tail;
    if (*tail)
        (*tail)->name_next = a;
    else
        *head = a;
    *tail = a;
}

static void agents_name_unlink(agent_t *a)
{
    agents_name_t *e = a->name_ent;
    agent_t **head = a->name_live ? &e->live_head : &e->end_head;
    agent_t **tail = a->name_live ? &e->live_tail : &e->end_tail;
    if (a->name_prev)
        a->name_prev->name_next = a->name_next;
    else
        *head = a->name_next;
    if (a->name_next)
        a->name_next->name_prev = a->name_prev;
    else
        *tail = a->name_prev;
    a->name_prev = a->name_next = NULL;
}

int agents_name_add(agent_t *a)
{
    agents_t *ag = a->owner;
    if (a->name_ent || !a->name || !ag->by_name)
        return 0;
    agents_name_t *e = htab_get_str(ag->by_name, a->name);
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e || !(e->name = strdup(a->name))) {
            free(e);
            return -ENOMEM;
        }
        if (htab_put(ag->by_name, e) < 0) {
            free(e->name);
            free(e);
            return -ENOMEM;
        }
    }
    a->name_ent = e;
    agents_name_link(a, !agents_status_final(a->status));
    return 0;
}

void agents_name_del(agent_t *a)
{
    agents_name_t *e = a->name_ent;
    if (!e)
        return;
    agents_name_unlink(a);
    a->name_ent = NULL;
    if (!e->live_head && !e->end_head) {
        agents_name_t *gone = htab_del(a->owner->by_name, e->name, strlen(e->name));
        (void)gone;
        free(e->name);
        free(e);
    }
}

void agents_name_sync(agent_t *a)
{
    bool live = !agents_status_final(a->status);
    if (!a->name_ent || a->name_live == live)
        return;
    agents_name_unlink(a);
    agents_name_link(a, live);
}

/* The first agent of the name's not-ended list that is not being forgotten (a deleted agent
 * stays a record until its process is reaped), and whether there is a second. */
static agent_t *agents_name_live_first(const agents_name_t *e, bool *more)
{
    agent_t *first = NULL;
    *more = false;
    for (agent_t *x = e ? e->live_head : NULL; x; x = x->name_next) {
        if (x->forget)
            continue;
        if (first) {
            *more = true;
            break;
        }
        first = x;
    }
    return first;
}

problem_t *agents_name_check(agents_t *ag, const char *name)
{
    bool more;
    agents_name_t *e = ag->by_name && name ? htab_get_str(ag->by_name, name) : NULL;
    agent_t *x = agents_name_live_first(e, &more);
    if (!x)
        return NULL;
    problem_t *p = problem_new(409, "name-taken",
                               "agent %s (%s) is already named '%s': stop it, choose another "
                               "name, or spawn with allow_duplicate_name (--allow-duplicate-name)",
                               x->id, agents_status_name(x->status), name);
    problem_ext_set(p, "agent_id", json_string(x->id));
    return p;
}

static problem_t *agents_name_ambiguous(const agents_name_t *e)
{
    json_t *ids = json_array();
    size_t n = 0;
    char listed[8 * (AGENTS_ID_LEN + 2) + 1] = "";
    for (agent_t *x = e->live_head; x; x = x->name_next) {
        if (x->forget)
            continue;
        if (n < AGENTS_CANDIDATES_MAX)
            json_array_append_new(ids, json_string(x->id));
        if (n < 8) {
            size_t l = strlen(listed);
            snprintf(listed + l, sizeof listed - l, "%s%s", n ? ", " : "", x->id);
        }
        n++;
    }
    problem_t *p = problem_new(409, "ambiguous-name",
                               "%zu agents that have not ended are named '%s': give an id "
                               "(%s%s)",
                               n, e->name, listed, n > 8 ? ", …" : "");
    problem_ext_set(p, "candidates", ids);
    return p;
}

problem_t *agents_resolve(agents_t *ag, const char *handle, agent_t **out)
{
    *out = agents_find(ag, handle);
    if (*out)
        return NULL;
    agents_name_t *e = ag && ag->by_name && handle ? htab_get_str(ag->by_name, handle) : NULL;
    bool more;
    agent_t *x = agents_name_live_first(e, &more);
    if (more)
        return agents_name_ambiguous(e);
    for (agent_t *y = e ? e->end_tail : NULL; !x && y; y = y->name_prev)
        if (!y->forget)
            x = y;
    if (!x)
        return problem_new(404, "not-found", "no agent with id or name '%s'", handle ? handle : "");
    *out = x;
    return NULL;
}
