/* The relay's decisions that the shared store makes: taking an offer (the row moves to this hub
 * only if it is still queued under the offering hub) and cancelling a task this hub offered
 * (cancelled here only if no other hub took it meanwhile, else the cancel goes to that hub).
 * Loop thread only; the statements run on the store's pool. */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/hub.h"
#include "core/log.h"
#include "tasks/tasks_relay.h"

/* A claim: the store moves the row to this hub if it is still queued under `from`. */
typedef struct relay_claim {
    tasks_relay_t *r;
    uint32_t gen;
    uint64_t tag;
    json_t *doc; /* owned */
    char id[TASKS_ID_LEN + 1];
    char from[128], hub[128];
    int64_t moved;
} relay_claim_t;

/* ---- claims (the taking side) ---- */

static int relay_claim_work(store_conn_t *c, void *ud)
{
    relay_claim_t *k = ud;
    store_val_t p[] = {STORE_TEXTV(k->hub), STORE_TEXTV(k->id), STORE_TEXTV(k->from)};
    return store_query(c,
                       "UPDATE tasks SET hub = $1 WHERE id = $2 AND hub = $3 AND state = 'queued'",
                       p, 3, NULL, &k->moved);
}

static void relay_claim_done(int status, void *ud)
{
    relay_claim_t *k = ud;
    tasks_relay_t *r = k->r;
    r->claims--;
    if (status < 0) {
        amqp_link_settle(r->link, k->gen, k->tag, true); /* try again later */
    } else if (k->moved != 1) {
        r->stats.duplicates++; /* taken, cancelled or expired already: a repeat */
        amqp_link_settle(r->link, k->gen, k->tag, false);
    } else {
        amqp_link_settle(r->link, k->gen, k->tag, false);
        tasks_t *ts = r->ts;
        task_t *t = tasks_get(ts, k->id);
        if (t) { /* our own offer, taken back by a local worker */
            t->forwarded = false;
            free(t->holder);
            t->holder = strdup(r->hub);
            tasks_place(ts, t);
        } else if ((t = tasks_from_json(k->doc)) && htab_put(ts->by_id, t) == 0) {
            free(t->holder);
            t->holder = strdup(r->hub);
            if (!t->origin)
                t->origin = strdup(k->from);
            tasks_place(ts, t);
            tasks_changed(ts, t, "taken from another hub");
        } else {
            tasks_free(t);
            log_error(NULL, "tasks: a taken task cannot be held", "{s:s}", "task", k->id);
        }
        r->stats.taken++;
        tasks_dispatch(ts);
    }
    json_decref(k->doc);
    free(k);
}

void tasks_relay_offer_claim(tasks_relay_t *r, const amqp_link_ev_t *ev, json_t *doc)
{
    const char *id = json_string_value(json_object_get(doc, "id"));
    const char *from = json_string_value(json_object_get(doc, "hub"));
    relay_claim_t *k = calloc(1, sizeof *k);
    if (!id || !from || strlen(id) > TASKS_ID_LEN || strlen(from) >= sizeof k->from || !k ||
        !r->ts->hub->store || r->claims >= RELAY_CLAIMS_MAX) {
        bool bad = !id || !from;
        free(k);
        json_decref(doc);
        amqp_link_settle(r->link, ev->gen, ev->tag, !bad);
        return;
    }
    int64_t deadline_ms = 0;
    const char *deadline = json_string_value(json_object_get(doc, "deadline"));
    if (deadline && clock_rfc3339_parse(deadline, &deadline_ms) == 0 &&
        deadline_ms <= clock_wall_ms()) {
        r->stats.duplicates++; /* its own hub expires it */
        json_decref(doc);
        free(k);
        amqp_link_settle(r->link, ev->gen, ev->tag, false);
        return;
    }
    task_t *have = tasks_get(r->ts, id);
    if (have && !have->forwarded) {
        r->stats.duplicates++; /* running here already */
        json_decref(doc);
        free(k);
        amqp_link_settle(r->link, ev->gen, ev->tag, false);
        return;
    }
    k->r = r;
    k->gen = ev->gen;
    k->tag = ev->tag;
    k->doc = doc;
    snprintf(k->id, sizeof k->id, "%s", id);
    snprintf(k->from, sizeof k->from, "%s", from);
    snprintf(k->hub, sizeof k->hub, "%s", r->hub);
    r->claims++;
    if (store_submit(r->ts->hub->store, r->ts->hub->loop, relay_claim_work, relay_claim_done, k) <
        0)
        relay_claim_done(-1, k);
}

problem_t *tasks_relay_cancel(tasks_t *ts, const task_t *t)
{
    tasks_relay_t *r = ts->relay;
    char key[AMQP_LINK_KEY_MAX + 16];
    int n = snprintf(key, sizeof key, "event.%s", t->holder);
    relay_pub_t *p = calloc(1, sizeof *p);
    json_t *msg = json_pack("{s:s}", "cancel", t->id);
    char *body = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    uint64_t id;
    if (!p || !body || n < 0 || n > AMQP_LINK_KEY_MAX ||
        amqp_link_publish(r->link, key, body, strlen(body), &id) < 0) {
        free(p);
        free(body);
        problem_t *pr = problem_new(503, "hub-unreachable",
                                    "task %s runs on hub %s and the message bus cannot take the "
                                    "cancel now; try again",
                                    t->id, t->holder);
        problem_header_set(pr, "Retry-After", "1");
        return pr;
    }
    p->id = id;
    p->kind = RELAY_PUB_EVENT;
    memcpy(p->task_id, t->id, sizeof p->task_id);
    memcpy(p->key, key, (size_t)n + 1);
    p->body = body;
    p->len = strlen(body);
    tasks_relay_pub_add(r, p);
    return NULL;
}

/* ---- cancelling a task this hub offered ---- */

/* The cancel of an offered task races other hubs' claims: the store decides. Either the row is
 * still ours and queued, and the conditional update cancels it (a later claim finds it is no
 * longer queued), or another hub took it, and the cancel goes to that hub. */
typedef struct relay_cancel_job {
    tasks_relay_t *r;
    api_req_t *req;
    char id[TASKS_ID_LEN + 1];
    char hub[128], holder[128];
    int64_t moved, now;
} relay_cancel_job_t;

static int relay_cancel_work(store_conn_t *c, void *ud)
{
    relay_cancel_job_t *k = ud;
    store_val_t p[] = {STORE_TEXTV(k->id), STORE_TEXTV(k->hub)};
    int rc = store_query(c,
                         "UPDATE tasks SET state = 'cancelled' WHERE id = $1 AND hub = $2"
                         " AND state = 'queued'",
                         p, 2, NULL, &k->moved);
    if (rc < 0 || k->moved == 1)
        return rc;
    json_t *rows = NULL;
    rc = store_query(c, "SELECT hub FROM tasks WHERE id = $1", p, 1, &rows, NULL);
    const char *holder_name = json_string_value(json_object_get(json_array_get(rows, 0), "hub"));
    snprintf(k->holder, sizeof k->holder, "%s", holder_name ? holder_name : "");
    json_decref(rows);
    return rc;
}

static void relay_cancel_done(int status, void *ud)
{
    relay_cancel_job_t *k = ud;
    tasks_relay_t *r = k->r;
    tasks_t *ts = r->ts;
    r->claims--;
    task_t *t = tasks_get(ts, k->id);
    if (status < 0) {
        api_reply_problem(k->req, problem_new(503, "store-error",
                                              "the cancel of task %s could not be committed; try "
                                              "again",
                                              k->id));
    } else if (!t) {
        api_reply_problem(k->req, problem_new(404, "not-found", "no task %s", k->id));
    } else if (k->moved != 1 && k->holder[0] && strcmp(k->holder, r->hub) &&
               !tasks_terminal(t->state)) {
        free(t->holder);
        t->holder = strdup(k->holder);
        problem_t *p = tasks_relay_cancel(ts, t);
        if (p)
            api_reply_problem(k->req, p);
        else
            api_reply_json(k->req, 202, tasks_task_json(t));
    } else {
        problem_t *p = tasks_cancel(ts, t);
        if (p)
            api_reply_problem(k->req, p);
        else
            tasks_ack_reply(ts, k->req, 200, tasks_task_json(t));
    }
    free(k);
}

bool tasks_relay_cancel_offered(tasks_t *ts, task_t *t, api_req_t *req)
{
    tasks_relay_t *r = ts->relay;
    if (!r || !t->forwarded || tasks_terminal(t->state) || !ts->hub->store)
        return false;
    relay_cancel_job_t *k = calloc(1, sizeof *k);
    if (!k)
        return false;
    k->r = r;
    k->req = req;
    memcpy(k->id, t->id, sizeof k->id);
    snprintf(k->hub, sizeof k->hub, "%s", r->hub);
    r->claims++;
    if (store_submit(ts->hub->store, ts->hub->loop, relay_cancel_work, relay_cancel_done, k) < 0)
        relay_cancel_done(-1, k);
    return true;
}
