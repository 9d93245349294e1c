/* What the alerts files share: the state (rules, notifiers, each rule's windows, the outbox's
 * pending notifications) and the jobs that carry writes to the store. Loop thread only, except
 * a job's fields while its work runs on the thread pool. */
#ifndef GANGLION_ALERTS_INTERNAL_H
#define GANGLION_ALERTS_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "alerts/alerts.h"
#include "alerts/alerts_rule.h"
#include "api/api.h"
#include "core/bus.h"
#include "core/hub.h"

#define ALERTS_ID_LEN        16 /* hex digits of every id */
#define ALERTS_RULES_MAX     1000
#define ALERTS_NOTIFIERS_MAX 1000
#define ALERTS_TICK_MS       100
#define ALERTS_HITS_MAX      256 /* crash-loop hits remembered per rule */

/* A rule's windows, beside its document. */
typedef struct alerts_rt {
    char id[ALERTS_ID_LEN + 1];
    alerts_groups_t groups;
    alerts_rate_t rate;
    struct {
        char key[128];
        int64_t ms;
    } hits[ALERTS_HITS_MAX]; /* ring of counted events (crash loops) */
    size_t hits_head, hits_n;
    int64_t metric_since_ms; /* metric rules: since when the condition holds; 0 = it does not */
    bool metric_fired;       /* fired for this stretch */
    struct alerts_rt *next;
} alerts_rt_t;

/* A notification waiting in the outbox (committed as pending). */
typedef struct alerts_item {
    char id[ALERTS_ID_LEN + 1];
    char notifier[ALERTS_ID_LEN + 1];
    char *payload; /* owned: the notification's JSON text */
    int attempts;
    int64_t next_ms;
    bool inflight; /* a delivery or its write is running */
    struct alerts_item *next;
} alerts_item_t;

typedef struct alerts {
    hub_t *hub;
    json_t *rules;     /* id -> document */
    json_t *notifiers; /* id -> document, secret included */
    alerts_rt_t *rt;
    alerts_item_t *pending;
    size_t npending; /* committed and waiting, in flight included */
    size_t nqueued;  /* being written (counted against the bound too) */
    int inflight;    /* deliveries running */
    int writes;      /* store jobs running */
    bus_sub_t *sub;
    uv_timer_t tick;
    bool tick_open, shutting_down;
    bool full_logged; /* the outbox-full warning was logged since it last had room */
    int64_t metric_next_ms;
    /* counters */
    uint64_t fired, delivered, failed, dead, dropped, suppressed;
} alerts_t;

/* alerts.c */
alerts_rt_t *alerts_rt_get(alerts_t *al, const char *id); /* created on first use; NULL on OOM */
void alerts_rt_drop(alerts_t *al, const char *id);
void alerts_id_new(char out[ALERTS_ID_LEN + 1]);
/* Puts one notification per notifier of the list into the outbox (alert is the document shared
 * by them; borrowed). When req is set it is answered 202 with the notifications' ids once
 * committed (or with the problem). Returns how many were queued. */
size_t alerts_enqueue(alerts_t *al, const json_t *alert, const json_t *notifier_ids,
                      api_req_t *req);
/* A notification document for a rule and an event (new reference). */
json_t *alerts_alert_new(const json_t *rule, const char *title, const char *severity,
                         const char *key, const char *topic, const json_t *event);

/* alerts_db.c: statements, on the thread pool */
int alerts_db_load(alerts_t *al);
typedef struct alerts_row {
    char id[ALERTS_ID_LEN + 1];
    char alert_id[ALERTS_ID_LEN + 1];
    char rule[ALERTS_ID_LEN + 1];
    char notifier[ALERTS_ID_LEN + 1];
    char *key, *payload; /* owned */
    const char *state;   /* static */
    int attempts;
    int64_t next_ms, created_ms;
    char error[256];
} alerts_row_t;
int alerts_db_outbox_insert(store_conn_t *c, const alerts_row_t *rows, size_t n);
int alerts_db_outbox_update(store_conn_t *c, const alerts_row_t *row);
int alerts_db_doc_put(store_conn_t *c, const char *table, const char *id, const char *doc,
                      bool insert);
/* Retention: delivered and dead notifications whose outcome is older than
 * retention.alerts_max_age_s, one bounded statement per batch (store/retention.h). */
struct retention_batch;
int alerts_db_retention_purge(store_conn_t *c, struct retention_batch *b, void *ud);
int alerts_db_doc_delete(store_conn_t *c, const char *table, const char *id, int64_t *affected);

/* alerts_outbox.c */
void alerts_outbox_tick(alerts_t *al);
/* Starts the tick when something needs it (a notification waiting, a metric rule); it stops
 * itself when nothing does. alerts.c */
void alerts_tick_arm(alerts_t *al);
void alerts_outbox_add(alerts_t *al, alerts_item_t *it); /* committed pending: owned now */

#endif
