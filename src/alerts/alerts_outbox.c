/* The outbox's deliveries: every tick, pending notifications that are due go to the thread
 * pool (at most alerts.concurrency at once), one attempt each through their notifier's kind;
 * the outcome — delivered, retry at a backed-off time, or dead after alerts.max_attempts — is
 * committed before the notification leaves memory or is tried again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts/alerts_internal.h"
#include "alerts/alerts_notify.h"
#include "core/clock.h"
#include "core/log.h"

typedef struct alerts_job {
    uv_work_t work;
    alerts_t *al;
    alerts_item_t *it; /* borrowed: stays in the pending list, marked inflight */
    const alerts_notifier_kind_t *kind;
    json_t *notifier, *alert; /* owned copies */
    alerts_delivery_t d;
    smtp_conf_t mail; /* the [mail] relay as configured when the attempt began */
    alerts_row_t row; /* the outcome to commit */
} alerts_job_t;

void alerts_outbox_add(alerts_t *al, alerts_item_t *it)
{
    /* appended: the oldest first */
    alerts_item_t **p = &al->pending;
    while (*p)
        p = &(*p)->next;
    it->next = NULL;
    *p = it;
    al->npending++;
    alerts_tick_arm(al);
}

static void alerts_outbox_remove(alerts_t *al, alerts_item_t *it)
{
    for (alerts_item_t **p = &al->pending; *p; p = &(*p)->next)
        if (*p == it) {
            *p = it->next;
            al->npending--;
            if (al->npending < (size_t)al->hub->cfg.alerts_outbox_max / 2)
                al->full_logged = false;
            free(it->payload);
            free(it);
            return;
        }
}

static void alerts_job_free(alerts_job_t *j)
{
    json_decref(j->notifier);
    json_decref(j->alert);
    free(j);
}

static int alerts_update_work(store_conn_t *c, void *ud)
{
    alerts_job_t *j = ud;
    return alerts_db_outbox_update(c, &j->row);
}

static void alerts_update_done(int status, void *ud)
{
    alerts_job_t *j = ud;
    alerts_t *al = j->al;
    alerts_item_t *it = j->it;
    al->writes--;
    it->inflight = false;
    if (status < 0) {
        /* not committed: the notification stays pending as it was; tried again later */
        log_warn(NULL, "alerts: delivery outcome not stored", "{s:s}", "id", it->id);
        it->next_ms = clock_wall_ms() + al->hub->cfg.alerts_backoff_ms;
    } else if (strcmp(j->row.state, "pending") != 0) {
        alerts_outbox_remove(al, it);
    } else {
        it->attempts = j->row.attempts;
        it->next_ms = j->row.next_ms;
    }
    alerts_job_free(j);
    alerts_outbox_tick(al); /* a slot is free: the next due one goes now, not at the tick */
}

static void alerts_deliver_work(uv_work_t *w)
{
    alerts_job_t *j = w->data;
    if (j->kind)
        j->kind->deliver(&j->d);
}

static void alerts_deliver_after(uv_work_t *w, int status)
{
    alerts_job_t *j = w->data;
    alerts_t *al = j->al;
    alerts_item_t *it = j->it;
    al->inflight--;
    if (status < 0 && !j->d.error[0])
        snprintf(j->d.error, sizeof j->d.error, "the delivery was cancelled");
    int64_t now = clock_wall_ms();
    alerts_row_t *r = &j->row;
    memcpy(r->id, it->id, sizeof r->id);
    r->attempts = it->attempts + 1;
    r->created_ms = now; /* the update's time */
    r->next_ms = it->next_ms;
    snprintf(r->error, sizeof r->error, "%s", j->d.ok ? "" : j->d.error);
    if (j->d.ok) {
        r->state = "delivered";
        al->delivered++;
    } else if (r->attempts >= al->hub->cfg.alerts_max_attempts) {
        r->state = "dead";
        al->failed++;
        al->dead++;
        log_warn(NULL, "alerts: notification dead-lettered", "{s:s,s:s,s:i,s:s}", "id", it->id,
                 "notifier", it->notifier, "attempts", r->attempts, "error", r->error);
    } else {
        r->state = "pending";
        al->failed++;
        r->next_ms = now + alerts_backoff_ms(r->attempts, al->hub->cfg.alerts_backoff_ms,
                                             al->hub->cfg.alerts_backoff_max_ms);
    }
    al->writes++;
    if (!al->hub->store || store_submit_ordered(al->hub->store, al->hub->loop, alerts_update_work,
                                                alerts_update_done, j) < 0)
        alerts_update_done(-1, j);
}

static void alerts_deliver_start(alerts_t *al, alerts_item_t *it)
{
    alerts_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->al = al;
    j->it = it;
    json_t *n = json_object_get(al->notifiers, it->notifier);
    j->notifier = n ? json_deep_copy(n) : NULL;
    j->alert = json_loads(it->payload, 0, NULL);
    j->kind = n ? alerts_notifier_kind_find(json_string_value(json_object_get(n, "kind"))) : NULL;
    if (!j->kind)
        snprintf(j->d.error, sizeof j->d.error, "the notifier %s no longer exists", it->notifier);
    json_t *t = n ? json_object_get(n, "timeout_ms") : NULL;
    j->d.notifier = j->notifier;
    j->d.alert = j->alert;
    j->d.body = it->payload;
    j->d.body_len = strlen(it->payload);
    j->d.id = it->id;
    j->d.timeout_ms = t ? json_integer_value(t) : al->hub->cfg.alerts_timeout_ms;
    const config_t *cfg = &al->hub->cfg;
    snprintf(j->mail.url, sizeof j->mail.url, "%s", cfg->mail_smtp_url);
    snprintf(j->mail.from, sizeof j->mail.from, "%s", cfg->mail_from);
    snprintf(j->mail.helo, sizeof j->mail.helo, "%s", cfg->mail_helo);
    snprintf(j->mail.ca_file, sizeof j->mail.ca_file, "%s", cfg->mail_ca_file);
    j->mail.timeout_ms = cfg->mail_timeout_s * 1000;
    j->d.mail = &j->mail;
    j->work.data = j;
    it->inflight = true;
    al->inflight++;
    if (uv_queue_work(al->hub->loop, &j->work, alerts_deliver_work, alerts_deliver_after) < 0) {
        al->inflight--;
        it->inflight = false;
        alerts_job_free(j);
    }
}

void alerts_outbox_tick(alerts_t *al)
{
    if (al->shutting_down)
        return;
    int64_t now = clock_wall_ms();
    for (alerts_item_t *it = al->pending; it && al->inflight < (int)al->hub->cfg.alerts_concurrency;
         it = it->next)
        if (!it->inflight && it->next_ms <= now)
            alerts_deliver_start(al, it);
}
