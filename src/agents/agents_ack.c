/* Replies held until the store has committed what they report: a spawn's 201, a command's 200,
 * a delete's 204 wait for the batch that holds the agent's row (agents_store.c), so a 2xx
 * means the row survives a crash. Loop thread only. */
#include <stdlib.h>
#include <string.h>

#include "agents/agents_internal.h"
#include "core/hub.h"
#include "core/log.h"
#include "store/store_problem.h"

/* One held reply. Waiters are released in the order they were added: their marks only grow. */
struct agents_ack {
    struct agents_ack *next;
    api_req_t *req;             /* replied to exactly once, when released */
    json_t *body;               /* owned; NULL: an empty reply */
    int status;                 /* the success status */
    uint64_t save_mark;         /* rows queued when the reply was held */
    uint64_t del_mark;          /* deletes queued likewise */
    char id[AGENTS_ID_LEN + 1]; /* whose row decides; "" with any: every failed row does */
    bool any;
    bool failed;
};

static void agents_ack_send(agents_t *ag, agents_ack_t *k, const char *why)
{
    if (!k->failed && !why) {
        if (k->body)
            api_reply_json(k->req, k->status, k->body);
        else
            api_reply_empty(k->req, k->status);
        return;
    }
    json_decref(k->body);
    ag->errors++;
    problem_t *p;
    if (why) {
        p = problem_new(503, "shutting-down", "%s", why);
    } else {
        p = store_problem_uncommitted(ag->hub ? ag->hub->store : NULL, "the change");
    }
    if (k->id[0])
        problem_ext_set(p, "agent", json_string(k->id));
    api_reply_problem(k->req, p);
}

void agents_ack_reply(agents_t *ag, api_req_t *req, int status, json_t *body, const char *id,
                      bool any)
{
    bool pending = ag->save_seq > ag->save_done || ag->del_seq > ag->del_done;
    agents_ack_t *k = pending ? calloc(1, sizeof *k) : NULL;
    if (!k) {
        /* nothing queued (or no store): what the reply reports is already committed. Out of
         * memory: wait for nothing rather than fail a change that was made. */
        if (pending)
            log_warn(api_req_id(req), "agents: reply sent before its commit (out of memory)", NULL);
        agents_ack_t now = {.req = req, .body = body, .status = status};
        agents_ack_send(ag, &now, NULL);
        return;
    }
    k->req = req;
    k->body = body;
    k->status = status;
    k->save_mark = ag->save_seq;
    k->del_mark = ag->del_seq;
    k->any = any;
    if (id)
        snprintf(k->id, sizeof k->id, "%s", id);
    if (ag->ack_tail)
        ag->ack_tail->next = k;
    else
        ag->ack_head = k;
    ag->ack_tail = k;
}

void agents_ack_batch_done(agents_t *ag, size_t nsave, size_t ndel, const char *const *failed,
                           size_t nfailed)
{
    ag->save_done += nsave;
    ag->del_done += ndel;
    /* a failed row fails every reply that waits on it, released now or by a later batch */
    for (agents_ack_t *k = ag->ack_head; k && nfailed; k = k->next)
        for (size_t i = 0; i < nfailed && !k->failed; i++)
            k->failed = k->any || (k->id[0] && strcmp(k->id, failed[i]) == 0);
    while (ag->ack_head && ag->ack_head->save_mark <= ag->save_done &&
           ag->ack_head->del_mark <= ag->del_done) {
        agents_ack_t *k = ag->ack_head;
        ag->ack_head = k->next;
        if (!ag->ack_head)
            ag->ack_tail = NULL;
        agents_ack_send(ag, k, NULL);
        free(k);
    }
}

void agents_ack_fini(agents_t *ag)
{
    while (ag->ack_head) {
        agents_ack_t *k = ag->ack_head;
        ag->ack_head = k->next;
        agents_ack_send(ag, k, "the server shut down before the change was committed");
        free(k);
    }
    ag->ack_tail = NULL;
}
