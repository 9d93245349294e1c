/* The ready queue per route: queued tasks indexed by who may take them (a named agent, a
 * capability, or anyone), each route FIFO per priority, so that a lease or a stdin worker looks
 * only at the routes it serves instead of scanning the whole queue. Loop thread only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tasks/tasks_internal.h"

#define TASKS_ROUTE_KEY_MAX 160 /* "a:" or "c:" and a name of at most 128 bytes */

static const void *tasks_route_hkey(const void *item, size_t *len)
{
    const tasks_route_t *r = item;
    *len = strlen(r->key);
    return r->key;
}

int tasks_routes_new(tasks_t *ts)
{
    return htab_new(&ts->routes, tasks_route_hkey);
}

/* The route key of a task: "a:<agent>", "c:<capability>" or "*". */
static void tasks_route_key_of(const task_t *t, char *buf, size_t len)
{
    if (t->agent)
        snprintf(buf, len, "a:%s", t->agent);
    else if (t->capability)
        snprintf(buf, len, "c:%s", t->capability);
    else
        snprintf(buf, len, "*");
}

tasks_route_t *tasks_route_get(tasks_t *ts, char kind, const char *name)
{
    char key[TASKS_ROUTE_KEY_MAX];
    if (kind == '*')
        snprintf(key, sizeof key, "*");
    else
        snprintf(key, sizeof key, "%c:%s", kind, name);
    return htab_get_str(ts->routes, key);
}

void tasks_route_add(tasks_t *ts, task_t *t)
{
    char key[TASKS_ROUTE_KEY_MAX];
    tasks_route_key_of(t, key, sizeof key);
    tasks_route_t *r = htab_get_str(ts->routes, key);
    if (!r) {
        r = calloc(1, sizeof *r);
        if (r && !(r->key = strdup(key))) {
            free(r);
            r = NULL;
        }
        if (r && htab_put(ts->routes, r) < 0) {
            free(r->key);
            free(r);
            r = NULL;
        }
        if (!r) {
            ts->unrouted++; /* out of memory: the tick tries again */
            return;
        }
        r->next = ts->route_head;
        if (r->next)
            r->next->prev = r;
        ts->route_head = r;
    }
    /* in submission order: a retried task keeps its place ahead of later submissions */
    tasks_list_t *l = &r->q[t->priority];
    task_t *after = l->tail;
    while (after && after->seq > t->seq)
        after = after->rprev;
    t->rprev = after;
    t->rnext = after ? after->rnext : l->head;
    if (t->rnext)
        t->rnext->rprev = t;
    else
        l->tail = t;
    if (after)
        after->rnext = t;
    else
        l->head = t;
    l->n++;
    r->n++;
    t->route = r;
}

void tasks_route_del(tasks_t *ts, task_t *t)
{
    tasks_route_t *r = t->route;
    if (!r) {
        if (ts->unrouted)
            ts->unrouted--;
        return;
    }
    tasks_list_t *l = &r->q[t->priority];
    if (t->rprev)
        t->rprev->rnext = t->rnext;
    else
        l->head = t->rnext;
    if (t->rnext)
        t->rnext->rprev = t->rprev;
    else
        l->tail = t->rprev;
    l->n--;
    r->n--;
    t->rprev = t->rnext = NULL;
    t->route = NULL;
    /* an empty route stays until the tick's sweep: callers hold route pointers while leasing */
}

task_t *tasks_route_pick(tasks_route_t *const *routes, size_t n, int64_t now)
{
    for (int pr = TASKS_PRIORITIES - 1; pr >= 0; pr--) {
        task_t *best = NULL;
        for (size_t i = 0; i < n; i++) {
            for (task_t *t = routes[i]->n ? routes[i]->q[pr].head : NULL; t; t = t->rnext) {
                if (t->not_before_ms > now)
                    continue; /* backing off: later ones of the route may be ready */
                if (!best || t->seq < best->seq)
                    best = t;
                break;
            }
        }
        if (best)
            return best;
    }
    return NULL;
}

void tasks_routes_sweep(tasks_t *ts)
{
    tasks_route_t *r = ts->route_head;
    while (r) {
        tasks_route_t *nx = r->next;
        if (!r->n) {
            if (r->prev)
                r->prev->next = r->next;
            else
                ts->route_head = r->next;
            if (r->next)
                r->next->prev = r->prev;
            htab_del(ts->routes, r->key, strlen(r->key));
            free(r->key);
            free(r);
        }
        r = nx;
    }
    if (ts->unrouted) { /* tasks a failed allocation left out get another try */
        for (int pr = 0; pr < TASKS_PRIORITIES; pr++)
            for (task_t *t = ts->queue[pr].head; t; t = t->next)
                if (!t->route) {
                    ts->unrouted--;
                    tasks_route_add(ts, t);
                }
    }
}

void tasks_routes_free(tasks_t *ts)
{
    while (ts->route_head) {
        tasks_route_t *r = ts->route_head;
        ts->route_head = r->next;
        free(r->key);
        free(r);
    }
    htab_destroy(&ts->routes);
}
