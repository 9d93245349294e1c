/* The alerts state: rules and notifiers kept in memory (written through by alerts_api.c), bus
 * events and sampled metrics matched against the rules, silences, grouping and rate limits
 * applied, and what passes put into the outbox — committed before anything is delivered. */
#include <sodium.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/alerts_internal.h"
#include "api/api_owner.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/strbuf.h"
#include "store/store.h"

void alerts_id_new(char out[ALERTS_ID_LEN + 1])
{
    unsigned char b[ALERTS_ID_LEN / 2];
    randombytes_buf(b, sizeof b);
    sodium_bin2hex(out, ALERTS_ID_LEN + 1, b, sizeof b);
}

alerts_rt_t *alerts_rt_get(alerts_t *al, const char *id)
{
    for (alerts_rt_t *r = al->rt; r; r = r->next)
        if (strcmp(r->id, id) == 0)
            return r;
    alerts_rt_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    snprintf(r->id, sizeof r->id, "%s", id);
    r->next = al->rt;
    al->rt = r;
    return r;
}

void alerts_rt_drop(alerts_t *al, const char *id)
{
    for (alerts_rt_t **p = &al->rt; *p; p = &(*p)->next)
        if (strcmp((*p)->id, id) == 0) {
            alerts_rt_t *r = *p;
            *p = r->next;
            free(r);
            return;
        }
}

json_t *alerts_alert_new(const json_t *rule, const char *title, const char *severity,
                         const char *key, const char *topic, const json_t *event)
{
    char alert_id[ALERTS_ID_LEN + 1], ts[40];
    alerts_id_new(alert_id);
    clock_rfc3339(clock_wall_ms(), ts, sizeof ts);
    return json_pack("{s:s,s:{s:s?,s:s?,s:s?},s:s,s:s,s:s,s:s?,s:O?,s:s}", "alert_id", alert_id,
                     "rule", "id", json_string_value(json_object_get(rule, "id")), "name",
                     json_string_value(json_object_get(rule, "name")), "kind",
                     json_string_value(json_object_get(rule, "kind")), "title", title, "severity",
                     severity, "group_key", key, "topic", topic, "event", event, "fired_at", ts);
}

/* ---- the outbox's writes ---- */

typedef struct alerts_insert {
    alerts_t *al;
    api_req_t *req;
    alerts_row_t *rows;
    size_t n;
    char err[256];
} alerts_insert_t;

static int alerts_insert_work(store_conn_t *c, void *ud)
{
    alerts_insert_t *j = ud;
    int rc = alerts_db_outbox_insert(c, j->rows, j->n);
    if (rc < 0)
        snprintf(j->err, sizeof j->err, "%s", store_conn_error(c));
    return rc;
}

static void alerts_insert_done(int status, void *ud)
{
    alerts_insert_t *j = ud;
    alerts_t *al = j->al;
    al->writes--;
    al->nqueued -= j->n;
    json_t *ids = json_array();
    for (size_t i = 0; i < j->n; i++) {
        alerts_row_t *r = &j->rows[i];
        json_array_append_new(ids, json_string(r->id));
        alerts_item_t *it = status == 0 ? calloc(1, sizeof *it) : NULL;
        if (it) {
            memcpy(it->id, r->id, sizeof it->id);
            memcpy(it->notifier, r->notifier, sizeof it->notifier);
            it->payload = r->payload;
            it->next_ms = r->next_ms;
            r->payload = NULL;
            alerts_outbox_add(al, it);
        } else if (status == 0) {
            al->dropped++;
        }
        free(r->key);
        free(r->payload);
    }
    if (status < 0) {
        al->dropped += j->n;
        log_error(NULL, "alerts: notifications not stored", "{s:I,s:s}", "count", (json_int_t)j->n,
                  "error", j->err);
    }
    if (j->req) {
        if (status < 0)
            api_reply_problem(j->req, problem_new(503, "store-unavailable",
                                                  "the notifications could not be stored"));
        else
            api_reply_json(j->req, 202, json_pack("{s:o}", "notifications", ids));
        ids = NULL;
    }
    json_decref(ids);
    free(j->rows);
    free(j);
    alerts_outbox_tick(al); /* what was just stored is due now */
}

size_t alerts_enqueue(alerts_t *al, const json_t *alert, const json_t *notifier_ids, api_req_t *req)
{
    size_t want = json_array_size(notifier_ids);
    alerts_insert_t *j = calloc(1, sizeof *j);
    if (j && want && !(j->rows = calloc(want, sizeof *j->rows))) {
        free(j);
        j = NULL;
    }
    if (!j) {
        if (req)
            api_reply_problem(req, problem_new(503, "out-of-memory", "no memory for the outbox"));
        return 0;
    }
    j->al = al;
    j->req = req;
    size_t full = 0;
    int64_t now = clock_wall_ms();
    const char *key = json_string_value(json_object_get(alert, "group_key"));
    const char *rule = json_string_value(json_object_get(json_object_get(alert, "rule"), "id"));
    for (size_t i = 0; i < want; i++) {
        const char *nid = json_string_value(json_array_get(notifier_ids, i));
        if (!nid || !json_object_get(al->notifiers, nid))
            continue;
        if (al->npending + al->nqueued + j->n >= (size_t)al->hub->cfg.alerts_outbox_max) {
            /* logged once per stretch of fullness; every drop is counted */
            if (!al->full_logged)
                log_warn(NULL, "alerts: outbox full, notifications dropped until it drains",
                         "{s:I,s:s}", "max", (json_int_t)al->hub->cfg.alerts_outbox_max, "notifier",
                         nid);
            al->full_logged = true;
            al->dropped++;
            full++;
            continue;
        }
        alerts_row_t *r = &j->rows[j->n];
        alerts_id_new(r->id);
        snprintf(r->alert_id, sizeof r->alert_id, "%s",
                 json_string_value(json_object_get(alert, "alert_id")));
        snprintf(r->rule, sizeof r->rule, "%s", rule ? rule : "");
        snprintf(r->notifier, sizeof r->notifier, "%s", nid);
        json_t *doc = json_deep_copy(alert);
        json_object_set_new(doc, "id", json_string(r->id));
        json_object_set_new(doc, "notifier", json_string(nid));
        r->payload = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        r->key = strdup(key ? key : "");
        r->next_ms = now;
        r->created_ms = now;
        if (!r->payload || !r->key) {
            free(r->payload);
            free(r->key);
            al->dropped++;
            continue;
        }
        j->n++;
    }
    size_t n = j->n;
    if (req && n == 0 && full) {
        problem_t *p = problem_new(503, "outbox-full",
                                   "the outbox holds alerts.outbox_max (%lld) notifications "
                                   "waiting; try again once they are delivered",
                                   (long long)al->hub->cfg.alerts_outbox_max);
        problem_header_set(p, "Retry-After", "10");
        api_reply_problem(req, p);
        free(j->rows);
        free(j);
        return 0;
    }
    if (!al->hub->store || (n == 0 && !req)) {
        for (size_t i = 0; i < j->n; i++) {
            free(j->rows[i].key);
            free(j->rows[i].payload);
        }
        if (req)
            api_reply_problem(req, problem_new(503, "store-unavailable", "no store"));
        free(j->rows);
        free(j);
        return 0;
    }
    al->nqueued += n;
    al->writes++;
    if (store_submit_ordered(al->hub->store, al->hub->loop, alerts_insert_work, alerts_insert_done,
                             j) < 0) {
        j->err[0] = '\0';
        snprintf(j->err, sizeof j->err, "cannot submit");
        alerts_insert_done(-1, j);
        return 0;
    }
    return n;
}

/* ---- matching ---- */

/* A rule that matched an event or a metric: silence, group and rate windows, then the outbox. */
static void alerts_rule_fire(alerts_t *al, const json_t *rule, alerts_rt_t *rt, const char *key,
                             const char *title, const char *severity, const char *topic,
                             const json_t *event)
{
    int64_t now = clock_wall_ms();
    json_int_t until = json_integer_value(json_object_get(rule, "silenced_until_ms"));
    json_t *gw = json_object_get(rule, "group_window_s");
    int64_t window = (gw ? json_integer_value(gw) : 300) * 1000;
    json_t *rw = json_object_get(rule, "rate_window_s");
    if (until > now || !alerts_groups_admit(&rt->groups, key, now, window) ||
        !alerts_rate_admit(&rt->rate, now, json_integer_value(json_object_get(rule, "rate_limit")),
                           (rw ? json_integer_value(rw) : 3600) * 1000)) {
        al->suppressed++;
        return;
    }
    al->fired++;
    json_t *alert = alerts_alert_new(rule, title, severity, key, topic, event);
    if (!alert)
        return;
    log_info(NULL, "alerts: fired", "{s:s,s:s,s:s}", "rule",
             json_string_value(json_object_get(rule, "name")), "key", key, "title", title);
    alerts_enqueue(al, alert, json_object_get(rule, "notifiers"), NULL);
    json_decref(alert);
}

/* Crash loops: the event counts, and the rule fires once restarts of them fall within
 * within_s for one agent. */
static bool alerts_crash_loop(alerts_rt_t *rt, const json_t *rule, const char *key, int64_t now)
{
    json_int_t need = json_integer_value(json_object_get(rule, "restarts"));
    if (need <= 0)
        return true;
    int64_t within = json_integer_value(json_object_get(rule, "within_s")) * 1000;
    size_t at = (rt->hits_head + rt->hits_n) % ALERTS_HITS_MAX;
    if (rt->hits_n == ALERTS_HITS_MAX)
        rt->hits_head = (rt->hits_head + 1) % ALERTS_HITS_MAX;
    else
        rt->hits_n++;
    snprintf(rt->hits[at].key, sizeof rt->hits[at].key, "%.127s", key);
    rt->hits[at].ms = now;
    json_int_t count = 0;
    for (size_t i = 0; i < rt->hits_n; i++) {
        size_t k = (rt->hits_head + i) % ALERTS_HITS_MAX;
        if (now - rt->hits[k].ms < within && strcmp(rt->hits[k].key, key) == 0)
            count++;
    }
    return count >= need;
}

static void alerts_title(char *out, size_t n, const json_t *rule, const char *kind,
                         const json_t *data)
{
    const char *s = NULL;
    if (strcmp(kind, "anomaly") == 0) {
        snprintf(out, n, "%s anomaly on stream %s",
                 (s = json_string_value(json_object_get(data, "severity"))) ? s : "an",
                 json_string_value(json_object_get(data, "stream")));
    } else if (strcmp(kind, "agent") == 0 && json_object_get(rule, "restarts")) {
        s = json_string_value(json_object_get(data, "name"));
        snprintf(out, n, "agent %s is crash-looping: %lld ends within %llds",
                 s && *s ? s : json_string_value(json_object_get(data, "id")),
                 (long long)json_integer_value(json_object_get(rule, "restarts")),
                 (long long)json_integer_value(json_object_get(rule, "within_s")));
    } else if (strcmp(kind, "agent") == 0) {
        s = json_string_value(json_object_get(data, "name"));
        snprintf(out, n, "agent %s %s",
                 s && *s ? s : json_string_value(json_object_get(data, "id")),
                 json_string_value(json_object_get(data, "status")));
    } else if (strcmp(kind, "task") == 0) {
        snprintf(out, n, "task %s (%s) %s", json_string_value(json_object_get(data, "id")),
                 json_string_value(json_object_get(data, "type")),
                 json_string_value(json_object_get(data, "state")));
    } else {
        s = json_string_value(json_object_get(data, "name"));
        snprintf(out, n, "brain %s overran its burst period",
                 s ? s : json_string_value(json_object_get(data, "id")));
    }
}

/* A rule tells its owner only of what the owner may see (docs/security.md, "Ownership and
 * teams"): another user's agents, tasks or streams' anomalies do not fire it. A rule without an
 * owner (an admin's from before ownership, or with auth off) sees everything; one whose owner no
 * longer acts (deleted, disabled, revoked) fires no more. */
static bool alerts_rule_owner_sees(alerts_t *al, const json_t *rule, const bus_event_t *ev)
{
    const char *owner = json_string_value(json_object_get(rule, "owner"));
    if (!owner || !*owner || !al->hub->api)
        return true;
    api_viewer_t v;
    int rc = api_viewer_lookup(al->hub->api, owner, &v);
    if (rc == -ENOSYS)
        return true;
    return rc == 0 && api_event_visible(al->hub->api, &v, ev->topic, ev->data, ev->data_len);
}

static void alerts_on_event(bus_event_t *ev, void *ud)
{
    alerts_t *al = ud;
    if (al->shutting_down || json_object_size(al->rules) == 0)
        return;
    json_t *data = NULL;
    const char *id;
    json_t *rule;
    int64_t now = clock_wall_ms();
    json_object_foreach(al->rules, id, rule)
    {
        const char *kind = json_string_value(json_object_get(rule, "kind"));
        const char *topics = alerts_rule_topics(kind);
        if (!topics || !bus_topic_match(topics, ev->topic) ||
            json_is_false(json_object_get(rule, "enabled")))
            continue;
        if (!data && !(data = json_loadb(ev->data, ev->data_len, 0, NULL)))
            return;
        char key[ALERTS_KEY_MAX];
        if (!alerts_rule_match(rule, ev->topic, data, key, sizeof key) ||
            !alerts_rule_owner_sees(al, rule, ev))
            continue;
        alerts_rt_t *rt = alerts_rt_get(al, id);
        if (!rt || !alerts_crash_loop(rt, rule, key, now))
            continue;
        char title[256];
        alerts_title(title, sizeof title, rule, kind, data);
        const char *sev = json_string_value(json_object_get(rule, "severity"));
        if (!sev)
            sev = json_string_value(json_object_get(data, "severity"));
        alerts_rule_fire(al, rule, rt, key, title, sev ? sev : "warning", ev->topic, data);
    }
    json_decref(data);
}

/* Metric rules: every alerts.metric_interval_ms the registry is rendered once and each rule's
 * series read; a rule fires once per stretch its condition holds for for_s. */
static void alerts_metrics_sample(alerts_t *al)
{
    bool any = false;
    const char *id;
    json_t *rule;
    json_object_foreach(al->rules, id,
                        rule) if (strcmp(json_string_value(json_object_get(rule, "kind")),
                                         "metric") == 0) any = true;
    if (!any || !al->hub->metrics)
        return;
    strbuf_t text;
    strbuf_init(&text, 0);
    if (metrics_render(al->hub->metrics, &text) < 0) {
        strbuf_free(&text);
        return;
    }
    int64_t now = clock_wall_ms();
    json_object_foreach(al->rules, id, rule)
    {
        if (strcmp(json_string_value(json_object_get(rule, "kind")), "metric") != 0 ||
            json_is_false(json_object_get(rule, "enabled")))
            continue;
        alerts_rt_t *rt = alerts_rt_get(al, id);
        const char *name = json_string_value(json_object_get(rule, "metric"));
        const char *op = json_string_value(json_object_get(rule, "op"));
        double threshold = json_number_value(json_object_get(rule, "threshold"));
        double v = 0;
        if (!rt || !text.data ||
            alerts_metric_read(text.data, text.len, name,
                               json_string_value(json_object_get(rule, "labels")), &v) < 0 ||
            !alerts_metric_compare(v, op, threshold)) {
            if (rt)
                rt->metric_since_ms = 0, rt->metric_fired = false;
            continue;
        }
        if (!rt->metric_since_ms)
            rt->metric_since_ms = now;
        int64_t hold = json_integer_value(json_object_get(rule, "for_s")) * 1000;
        if (rt->metric_fired || now - rt->metric_since_ms < hold)
            continue;
        rt->metric_fired = true;
        char title[256];
        snprintf(title, sizeof title, "%s is %g (%s %g for %llds)", name, v, op ? op : ">",
                 threshold, (long long)(hold / 1000));
        json_t *event = json_pack("{s:s,s:f,s:s,s:f}", "metric", name, "value", v, "op",
                                  op ? op : ">", "threshold", threshold);
        const char *sev = json_string_value(json_object_get(rule, "severity"));
        alerts_rule_fire(al, rule, rt, name, title, sev ? sev : "warning", "metric", event);
        json_decref(event);
    }
    strbuf_free(&text);
}

/* Whether anything needs the tick: notifications waiting, or metric rules to sample. */
static bool alerts_tick_wanted(const alerts_t *al)
{
    if (al->npending > 0)
        return true;
    const char *id;
    json_t *rule;
    json_object_foreach(
        (json_t *)al->rules, id,
        rule) if (!strcmp(json_string_value(json_object_get(rule, "kind")), "metric")) return true;
    return false;
}

static void alerts_on_tick(uv_timer_t *t)
{
    alerts_t *al = t->data;
    int64_t now = clock_wall_ms();
    if (now >= al->metric_next_ms && !al->shutting_down) {
        al->metric_next_ms = now + al->hub->cfg.alerts_metric_interval_ms;
        alerts_metrics_sample(al);
    }
    alerts_outbox_tick(al);
    /* an idle daemon is not woken ten times a second for nothing */
    if (!alerts_tick_wanted(al))
        uv_timer_stop(t);
}

void alerts_tick_arm(alerts_t *al)
{
    if (al->tick_open && !al->shutting_down && !uv_is_active((uv_handle_t *)&al->tick) &&
        alerts_tick_wanted(al))
        uv_timer_start(&al->tick, alerts_on_tick, ALERTS_TICK_MS, ALERTS_TICK_MS);
}

int alerts_start(hub_t *hub)
{
    alerts_t *al = calloc(1, sizeof *al);
    if (!al)
        return -1;
    al->hub = hub;
    al->rules = json_object();
    al->notifiers = json_object();
    hub->alerts = al;
    if (alerts_db_load(al) < 0) {
        alerts_destroy(hub);
        return -1;
    }
    if (hub->bus)
        al->sub = bus_subscribe(hub->bus,
                                "anomaly.created,agent.*.status,task.*.updated,"
                                "brain.*.overrun",
                                alerts_on_event, al);
    if (hub->loop) {
        uv_timer_init(hub->loop, &al->tick);
        al->tick.data = al;
        al->tick_open = true;
        uv_unref((uv_handle_t *)&al->tick);
        alerts_tick_arm(al);
    }
    log_info(NULL, "alerts: ready", "{s:I,s:I,s:I}", "rules",
             (json_int_t)json_object_size(al->rules), "notifiers",
             (json_int_t)json_object_size(al->notifiers), "pending", (json_int_t)al->npending);
    return 0;
}

void alerts_shutdown(hub_t *hub)
{
    alerts_t *al = hub->alerts;
    if (al)
        al->shutting_down = true;
}

bool alerts_busy(const hub_t *hub)
{
    const alerts_t *al = hub->alerts;
    return al && (al->inflight > 0 || al->writes > 0);
}

static void alerts_free(uv_handle_t *h)
{
    free(h->data);
}

void alerts_destroy(hub_t *hub)
{
    alerts_t *al = hub->alerts;
    if (!al)
        return;
    hub->alerts = NULL;
    if (al->sub)
        bus_unsubscribe(hub->bus, &al->sub);
    json_decref(al->rules);
    json_decref(al->notifiers);
    while (al->rt) {
        alerts_rt_t *r = al->rt;
        al->rt = r->next;
        free(r);
    }
    while (al->pending) {
        alerts_item_t *it = al->pending;
        al->pending = it->next;
        free(it->payload);
        free(it);
    }
    if (al->tick_open) {
        uv_timer_stop(&al->tick);
        uv_close((uv_handle_t *)&al->tick, alerts_free);
        uv_run(hub->loop, UV_RUN_NOWAIT);
        return;
    }
    free(al);
}
