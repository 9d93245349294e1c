/* Tasks between hubs over RabbitMQ ([rabbitmq] url): hubs sharing one PostgreSQL offer the
 * queued tasks no local worker took to the others (a durable queue per agent or capability),
 * take offers when they have an idle worker that fits, and tell the submitting hub of every
 * committed transition. A task row belongs to one hub at a time (tasks.hub); taking an offer
 * moves it by a conditional update, so a task runs once however often its offer is delivered.
 * Loop thread only (the broker connection runs on net/amqp_link's thread). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/hub.h"
#include "core/jsonx.h"
#include "core/log.h"
#include "core/problem.h"
#include "tasks/tasks_relay.h"

/* The largest task document taken from another hub (a task's input is bounded far below). */
#define RELAY_DOC_MAX (8u << 20)

const char *tasks_hub_name(const tasks_t *ts)
{
    return ts->relay ? ts->relay->hub : "";
}

void tasks_relay_stats(const tasks_t *ts, tasks_relay_stats_t *out)
{
    *out = (tasks_relay_stats_t){0};
    if (!ts->relay)
        return;
    *out = ts->relay->stats;
    amqp_link_stats_t ls;
    amqp_link_stats(ts->relay->link, &ls);
    out->on = true;
    out->connected = amqp_link_up(ts->relay->link);
    out->published = ls.published;
    out->confirmed = ls.confirmed;
    out->rejected = ls.rejected;
    out->consumed = ls.consumed;
    out->redelivered = ls.redelivered;
    out->connects = ls.connects;
}

/* The routing key a task is offered under: offer.agent.NAME, offer.cap.CAP or offer.any.
 * -1 when the name cannot be a key (too long, or a wildcard): the task stays here. */
static int relay_offer_key(const task_t *t, char *key, size_t len)
{
    int n = t->agent        ? snprintf(key, len, "offer.agent.%s", t->agent)
            : t->capability ? snprintf(key, len, "offer.cap.%s", t->capability)
                            : snprintf(key, len, "offer.any");
    if (n < 0 || (size_t)n >= len || n > AMQP_LINK_KEY_MAX || strpbrk(key, "*#"))
        return -1;
    return 0;
}

void tasks_relay_pub_add(tasks_relay_t *r, relay_pub_t *p)
{
    p->next = r->pubs;
    r->pubs = p;
}

static relay_pub_t *relay_pub_take(relay_pub_t **head, uint64_t id)
{
    for (relay_pub_t **pp = head; *pp; pp = &(*pp)->next)
        if ((*pp)->id == id) {
            relay_pub_t *p = *pp;
            *pp = p->next;
            return p;
        }
    return NULL;
}

static void relay_pub_free(relay_pub_t *p)
{
    free(p->body);
    free(p);
}

/* ---- offers (the submitting side) ---- */

static void relay_seen_mark(tasks_relay_t *r, const char *key, int64_t now)
{
    size_t len = strlen(key);
    if (len > AMQP_LINK_KEY_MAX)
        return;
    size_t i = 0, oldest = 0;
    for (; i < r->nseen; i++) {
        if (!strcmp(r->seen[i].key, key))
            break;
        if (r->seen[i].ms < r->seen[oldest].ms)
            oldest = i;
    }
    if (i == r->nseen) {
        if (r->nseen < RELAY_SEEN_MAX)
            r->nseen++;
        else
            i = oldest;
        memcpy(r->seen[i].key, key, len + 1);
    }
    r->seen[i].ms = now;
}

static bool relay_seen_lately(const tasks_relay_t *r, const char *key, int64_t now)
{
    for (size_t i = 0; i < r->nseen; i++)
        if (!strcmp(r->seen[i].key, key))
            return now - r->seen[i].ms < RELAY_SEEN_MS;
    return false;
}

/* Offered when committed here, submitted here (a task taken from another hub stays), and either
 * waited forward_ms or no local worker asked for its kind lately. */
static bool relay_offerable(const tasks_relay_t *r, const task_t *t, int64_t now)
{
    const tasks_t *ts = r->ts;
    if (t->forwarded || t->not_before_ms > now || t->dirty || t->save_mark > ts->save_done ||
        (t->origin && strcmp(t->origin, r->hub)))
        return false;
    if (now - t->updated_ms >= r->forward_ms)
        return true;
    char key[AMQP_LINK_KEY_MAX + 16];
    return relay_offer_key(t, key, sizeof key) == 0 && !relay_seen_lately(r, key, now);
}

static void relay_offer(tasks_relay_t *r, task_t *t)
{
    char key[AMQP_LINK_KEY_MAX + 16];
    if (relay_offer_key(t, key, sizeof key) < 0)
        return;
    json_t *doc = tasks_task_json(t);
    json_object_set_new(doc, "hub", json_string(r->hub));
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    relay_pub_t *p = body ? calloc(1, sizeof *p) : NULL;
    uint64_t id;
    if (!p || amqp_link_publish(r->link, key, body, strlen(body), &id) < 0) {
        free(body);
        free(p);
        return; /* stays queued here; the next tick tries again */
    }
    free(body);
    p->id = id;
    p->kind = RELAY_PUB_OFFER;
    memcpy(p->task_id, t->id, sizeof p->task_id);
    tasks_relay_pub_add(r, p);
    /* no local worker takes it while it is offered; it comes back if the offer is rejected,
     * or when a local worker takes the offer itself */
    t->forwarded = true;
    tasks_link_flight(r->ts, t);
    r->stats.offered++;
}

static void relay_offers_publish(tasks_relay_t *r, int64_t now)
{
    tasks_t *ts = r->ts;
    int budget = RELAY_OFFERS_PER_TICK;
    for (int pr = TASKS_PRIORITIES - 1; pr >= 0 && budget > 0; pr--) {
        task_t *t = ts->queue[pr].head;
        while (t && budget > 0) {
            task_t *nx = t->next;
            if (relay_offerable(r, t, now)) {
                relay_offer(r, t);
                budget--;
            }
            t = nx;
        }
    }
}

/* An offer the broker did not take: the task is this hub's to run again. */
static void relay_offer_back(tasks_relay_t *r, const char *task_id)
{
    task_t *t = tasks_get(r->ts, task_id);
    if (!t || !t->forwarded || t->state != TASK_QUEUED)
        return;
    if (t->holder && strcmp(t->holder, r->hub))
        return; /* another hub took it meanwhile */
    t->forwarded = false;
    tasks_place(r->ts, t);
}

/* ---- events (the running side tells the submitting side) ---- */

/* Keeps p to send again. Only the newest message for one task and key is kept: each carries
 * the task's whole state, so the list holds at most one message per task while the link is
 * down. */
static void relay_retry_add(tasks_relay_t *r, relay_pub_t *p)
{
    for (relay_pub_t **pp = &r->retry; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->task_id, p->task_id) && !strcmp((*pp)->key, p->key)) {
            relay_pub_t *old = *pp;
            *pp = old->next;
            relay_pub_free(old);
            break;
        }
    p->next = r->retry;
    r->retry = p;
}

static void relay_event_send(tasks_relay_t *r, relay_pub_t *p)
{
    uint64_t id;
    if (amqp_link_publish(r->link, p->key, p->body, p->len, &id) < 0) {
        relay_retry_add(r, p);
        return;
    }
    p->id = id;
    tasks_relay_pub_add(r, p);
}

void tasks_relay_committed(tasks_t *ts, const char *id, const char *origin, const char *doc)
{
    tasks_relay_t *r = ts->relay;
    if (!r || !origin || !*origin || !strcmp(origin, r->hub))
        return;
    relay_pub_t *p = calloc(1, sizeof *p);
    int n = p ? snprintf(p->key, sizeof p->key, "event.%s", origin) : -1;
    if (!p || n < 0 || (size_t)n >= sizeof p->key || !(p->body = strdup(doc))) {
        free(p);
        log_warn(NULL, "tasks: a transition cannot be relayed", "{s:s}", "origin", origin);
        return;
    }
    p->kind = RELAY_PUB_EVENT;
    p->len = strlen(doc);
    snprintf(p->task_id, sizeof p->task_id, "%s", id);
    relay_event_send(r, p);
}

static void relay_retry_events(tasks_relay_t *r)
{
    relay_pub_t *p = r->retry;
    r->retry = NULL;
    /* oldest first: the list was built by pushing */
    relay_pub_t *rev = NULL;
    while (p) {
        relay_pub_t *nx = p->next;
        p->next = rev;
        rev = p;
        p = nx;
    }
    while (rev) {
        relay_pub_t *nx = rev->next;
        rev->next = NULL;
        relay_event_send(r, rev);
        rev = nx;
    }
}

/* A transition from the hub running one of our tasks: the copy here follows it. Nothing to
 * commit here (the running hub committed the row), so the delivery is settled at once. */
static void relay_on_event(tasks_relay_t *r, const json_t *doc)
{
    tasks_t *ts = r->ts;
    const char *cancel = json_string_value(json_object_get(doc, "cancel"));
    if (cancel) {
        task_t *t = tasks_get(ts, cancel);
        if (t && !t->forwarded && !tasks_terminal(t->state)) {
            problem_t *p = tasks_cancel(ts, t);
            problem_destroy(&p);
        }
        return;
    }
    const char *id = json_string_value(json_object_get(doc, "id"));
    task_t *t = id ? tasks_get(ts, id) : NULL;
    if (!t || !t->forwarded || tasks_terminal(t->state))
        return; /* not ours, or already final: a repeated delivery changes nothing */
    task_t *n = tasks_from_json(doc);
    if (!n)
        return;
    if (n->state == TASK_QUEUED && t->holder && n->holder && !strcmp(t->holder, n->holder) &&
        n->attempts == t->attempts) {
        tasks_free(n);
        return; /* nothing new */
    }
    t->state = n->state;
    t->attempts = n->attempts;
    t->lease = n->lease;
    t->via_stdin = n->via_stdin;
#define RELAY_SWAP(f)                                                                              \
    do {                                                                                           \
        void *tmp_ = (void *)t->f;                                                                 \
        t->f = n->f;                                                                               \
        n->f = tmp_;                                                                               \
    } while (0)
    RELAY_SWAP(worker);
    RELAY_SWAP(error);
    RELAY_SWAP(holder);
    RELAY_SWAP(output);
    RELAY_SWAP(progress);
#undef RELAY_SWAP
    tasks_free(n);
    r->stats.applied++;
    tasks_changed(ts, t, NULL);
}

/* ---- asking for offers when a local worker is idle ---- */

static void relay_get_done(tasks_relay_t *r, const char *key)
{
    for (size_t i = 0; i < r->ngets; i++)
        if (!strcmp(r->gets[i].key, key)) {
            if (r->gets[i].outstanding > 0)
                r->gets[i].outstanding--;
            return;
        }
}

static void relay_want(void *ud, const char *kind, const char *name)
{
    tasks_relay_t *r = ud;
    char key[AMQP_LINK_KEY_MAX + 16];
    int n = kind ? snprintf(key, sizeof key, "offer.%s.%s", kind, name)
                 : snprintf(key, sizeof key, "offer.any");
    if (n < 0 || n > AMQP_LINK_KEY_MAX || strpbrk(key, "*#"))
        return;
    relay_seen_mark(r, key, clock_wall_ms());
    size_t i = 0;
    while (i < r->ngets && strcmp(r->gets[i].key, key))
        i++;
    if (i == r->ngets) {
        if (r->ngets == RELAY_GETS_MAX)
            return;
        memcpy(r->gets[i].key, key, (size_t)n + 1);
        r->gets[i].outstanding = r->gets[i].wanted = 0;
        r->ngets++;
    }
    /* one message per idle worker that fits, at most RELAY_GETS_PER_KEY in flight */
    if (++r->gets[i].wanted > r->gets[i].outstanding &&
        r->gets[i].outstanding < RELAY_GETS_PER_KEY && amqp_link_get(r->link, key) == 0)
        r->gets[i].outstanding++;
}

static void relay_wants_lease(tasks_relay_t *r)
{
    for (tasks_waiter_t *w = r->ts->leases.head; w; w = w->next) {
        if (w->agent)
            relay_want(r, "agent", w->agent);
        size_t i;
        json_t *c;
        json_array_foreach(w->caps, i, c)
        {
            if (json_is_string(c))
                relay_want(r, "cap", json_string_value(c));
        }
        relay_want(r, NULL, NULL);
    }
}

void tasks_relay_tick(tasks_t *ts)
{
    tasks_relay_t *r = ts->relay;
    if (!r || !amqp_link_up(r->link) || ts->stopping)
        return;
    int64_t now = clock_wall_ms();
    if (r->retry)
        relay_retry_events(r);
    if (now < r->next_poll_ms)
        return;
    r->next_poll_ms = now + r->poll_ms;
    /* a new round: keys nobody waits for any more are forgotten once their gets are back */
    size_t keep = 0;
    for (size_t i = 0; i < r->ngets; i++) {
        r->gets[i].wanted = 0;
        if (r->gets[i].outstanding > 0)
            r->gets[keep++] = r->gets[i];
    }
    r->ngets = keep;
    relay_wants_lease(r);
    tasks_stdin_wants(ts, relay_want, r);
    relay_offers_publish(r, now);
}

/* ---- the link's events ---- */

static void relay_on_link(void *ud, const amqp_link_ev_t *ev)
{
    tasks_relay_t *r = ud;
    switch (ev->kind) {
    case AMQP_LINK_UP:
        r->ngets = 0;
        break;
    case AMQP_LINK_DOWN:
        r->ngets = 0;
        break;
    case AMQP_LINK_CONFIRMED: {
        relay_pub_t *p = relay_pub_take(&r->pubs, ev->id);
        if (p)
            relay_pub_free(p);
        break;
    }
    case AMQP_LINK_REJECTED: {
        relay_pub_t *p = relay_pub_take(&r->pubs, ev->id);
        if (!p)
            break;
        if (p->kind == RELAY_PUB_OFFER) {
            relay_offer_back(r, p->task_id);
            relay_pub_free(p);
        } else {
            relay_retry_add(r, p);
        }
        break;
    }
    case AMQP_LINK_EMPTY:
        relay_get_done(r, ev->key);
        break;
    case AMQP_LINK_MESSAGE: {
        /* a peer hub's task document, read within the same depth and value budget as a
         * client's body, and no larger than RELAY_DOC_MAX */
        problem_t *perr = NULL;
        json_t *doc = ev->len <= RELAY_DOC_MAX
                          ? jsonx_parse(ev->body ? ev->body : "", ev->len,
                                        (size_t)r->ts->hub->cfg.json_max_depth, &perr)
                          : NULL;
        problem_destroy(&perr);
        bool offer = !strncmp(ev->key, "offer.", 6);
        if (offer) {
            relay_get_done(r, ev->key);
            r->next_poll_ms = 0; /* there may be more: ask again at the next tick */
        }
        if (!json_is_object(doc)) {
            json_decref(doc);
            log_warn(NULL, "tasks: a relayed message is not a JSON object", "{s:s}", "key",
                     ev->key);
            amqp_link_settle(r->link, ev->gen, ev->tag, false);
        } else if (offer) {
            tasks_relay_offer_claim(r, ev, doc); /* settles after the store's answer */
        } else {
            relay_on_event(r, doc);
            json_decref(doc);
            amqp_link_settle(r->link, ev->gen, ev->tag, false);
        }
        break;
    }
    }
}

/* ---- life ---- */

int tasks_relay_start(tasks_t *ts)
{
    const config_t *cfg = &ts->hub->cfg;
    if (!cfg->rabbitmq_url[0])
        return 0;
    tasks_relay_t *r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    r->ts = ts;
    r->forward_ms = cfg->rabbitmq_forward_ms;
    r->poll_ms = cfg->rabbitmq_poll_ms;
    if (cfg->rabbitmq_hub[0])
        snprintf(r->hub, sizeof r->hub, "%s", cfg->rabbitmq_hub);
    else if (gethostname(r->hub, sizeof r->hub - 1) < 0 || !r->hub[0])
        snprintf(r->hub, sizeof r->hub, "ganglion");
    char inbox[AMQP_LINK_KEY_MAX + 1];
    int n = snprintf(inbox, sizeof inbox, "event.%s", r->hub);
    char err[512];
    if (n < 0 || (size_t)n >= sizeof inbox || strpbrk(r->hub, "*#") ||
        amqp_link_start(ts->hub->loop, cfg->rabbitmq_url, cfg->rabbitmq_exchange, inbox,
                        relay_on_link, r, &r->link, err, sizeof err) < 0) {
        if (n < 0 || (size_t)n >= sizeof inbox || strpbrk(r->hub, "*#"))
            snprintf(err, sizeof err, "[rabbitmq] hub must be a name without '*' or '#'");
        log_error(NULL, "tasks: cannot start the RabbitMQ relay", "{s:s}", "reason", err);
        free(r);
        return -1;
    }
    ts->relay = r;
    log_info(NULL, "tasks: relaying through RabbitMQ", "{s:s,s:s}", "hub", r->hub, "exchange",
             cfg->rabbitmq_exchange);
    return 0;
}

void tasks_relay_destroy(tasks_t *ts)
{
    tasks_relay_t *r = ts->relay;
    if (!r)
        return;
    amqp_link_destroy(&r->link);
    for (relay_pub_t **head = &r->pubs; head; head = head == &r->pubs ? &r->retry : NULL)
        while (*head) {
            relay_pub_t *p = *head;
            *head = p->next;
            relay_pub_free(p);
        }
    free(r);
    ts->relay = NULL;
}

bool tasks_remote(const tasks_t *ts, const task_t *t)
{
    return ts->relay && t->forwarded && t->holder && strcmp(t->holder, ts->relay->hub);
}

bool tasks_relay_busy(const tasks_t *ts)
{
    return ts->relay && ts->relay->claims > 0;
}

void tasks_relay_poke(tasks_t *ts)
{
    if (!ts->relay)
        return;
    ts->relay->next_poll_ms = 0;
    tasks_relay_tick(ts);
}
