/* What the relay's files share (tasks_relay.c: offers, transitions, the link; tasks_relay_claim.c:
 * what the shared store decides — claims and the cancel of an offered task). Loop thread only. */
#ifndef GANGLION_TASKS_RELAY_H
#define GANGLION_TASKS_RELAY_H

#include "net/amqp_link.h"
#include "tasks/tasks_internal.h"

#define RELAY_OFFERS_PER_TICK 256   /* offers published in one tick */
#define RELAY_GETS_MAX        64    /* keys asked for at once */
#define RELAY_GETS_PER_KEY    16    /* messages asked for at once under one key */
#define RELAY_CLAIMS_MAX      256   /* claims in the store at once */
#define RELAY_SEEN_MAX        256   /* keys local workers asked for, remembered */
#define RELAY_SEEN_MS         10000 /* a worker not seen idle for this long may be gone */

typedef enum { RELAY_PUB_OFFER, RELAY_PUB_EVENT } relay_pub_kind_t;

/* A publish waiting for the broker's confirm. Events are kept to be sent again if rejected. */
typedef struct relay_pub {
    struct relay_pub *next;
    uint64_t id;
    relay_pub_kind_t kind;
    char task_id[TASKS_ID_LEN + 1];
    char key[AMQP_LINK_KEY_MAX + 1];
    char *body; /* owned: events only */
    size_t len;
} relay_pub_t;

typedef struct tasks_relay {
    tasks_t *ts;
    amqp_link_t *link;
    char hub[128];
    int64_t forward_ms, poll_ms, next_poll_ms;
    relay_pub_t *pubs;  /* awaiting a confirm */
    relay_pub_t *retry; /* events rejected: sent again when the link is up */
    /* gets outstanding, by key; `wanted` counts the idle workers of this round that fit */
    struct {
        char key[AMQP_LINK_KEY_MAX + 1];
        int outstanding, wanted;
    } gets[RELAY_GETS_MAX];
    size_t ngets;
    /* keys local idle workers asked for lately: a task nobody here asked for is offered at
     * once, without waiting forward_ms */
    struct {
        char key[AMQP_LINK_KEY_MAX + 1];
        int64_t ms;
    } seen[RELAY_SEEN_MAX];
    size_t nseen;
    size_t claims; /* in the store now */
    tasks_relay_stats_t stats;
} tasks_relay_t;

/* Remembers p until its confirm (owned by the relay from now on). */
void tasks_relay_pub_add(tasks_relay_t *r, relay_pub_t *p);
/* An offer taken from the broker (doc stolen): claimed in the store, then settled. */
void tasks_relay_offer_claim(tasks_relay_t *r, const amqp_link_ev_t *ev, json_t *doc);

#endif
