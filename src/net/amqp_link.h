/* A link to a RabbitMQ broker for the loop: one connection on its own thread (librabbitmq blocks),
 * commands from the loop through a bounded queue, outcomes back through a uv_async. Publishes
 * are persistent, to durable queues declared and bound before the first message, and confirmed
 * by the broker (publisher confirms); deliveries are acknowledged by the loop when it is done
 * with them (manual acks). The connection is re-established with backoff. */
#ifndef GANGLION_NET_AMQP_LINK_H
#define GANGLION_NET_AMQP_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define AMQP_LINK_CMDS_MAX 4096 /* commands queued for the thread at once */
#define AMQP_LINK_KEY_MAX  200  /* a routing key, bytes */
#define AMQP_LINK_PREFETCH 64   /* deliveries unacknowledged at once on the inbox */

typedef struct amqp_link amqp_link_t;

typedef enum {
    AMQP_LINK_UP,        /* connected: exchange and inbox declared, consuming */
    AMQP_LINK_DOWN,      /* the connection was lost; deliveries not acknowledged come again */
    AMQP_LINK_CONFIRMED, /* publish `id` is safe with the broker */
    AMQP_LINK_REJECTED,  /* publish `id` is not: nacked, or the connection went first */
    AMQP_LINK_MESSAGE,   /* a delivery: from the inbox or from amqp_link_get */
    AMQP_LINK_EMPTY,     /* amqp_link_get on `key` found nothing */
} amqp_link_ev_kind_t;

/* What the callback receives. Every pointer is borrowed for the callback's duration. */
typedef struct amqp_link_ev {
    amqp_link_ev_kind_t kind;
    uint64_t id;      /* CONFIRMED, REJECTED */
    uint64_t tag;     /* MESSAGE: for amqp_link_settle */
    uint32_t gen;     /* MESSAGE: the connection it came on */
    bool redelivered; /* MESSAGE: the broker delivered it before */
    const char *key;  /* MESSAGE: its routing key; EMPTY: the key asked for */
    const char *body; /* MESSAGE, NUL-terminated */
    size_t len;
} amqp_link_ev_t;

typedef void (*amqp_link_cb)(void *ud, const amqp_link_ev_t *ev);

/* Loads librabbitmq and starts the thread (it connects in the background). exchange: a durable
 * topic exchange; inbox: the routing key of the queue consumed for the link's life. Every
 * event reaches cb on the loop thread. 0, or -1 with err set. */
int amqp_link_start(uv_loop_t *loop, const char *url, const char *exchange, const char *inbox,
                    amqp_link_cb cb, void *ud, amqp_link_t **out, char *err, size_t errlen);
/* Stops the thread (joins it: at most one socket timeout), frees everything, *l = NULL. */
void amqp_link_destroy(amqp_link_t **l);

/* Publishes body (copied) with routing key `key` to the queue named after it; *id names the
 * outcome (CONFIRMED or REJECTED, exactly one). -ENOTCONN while down, -EAGAIN when the queue
 * to the thread is full, -EINVAL for a key too long or with a wildcard. */
int amqp_link_publish(amqp_link_t *l, const char *key, const char *body, size_t len, uint64_t *id);
/* Takes at most one message from the queue named after key: MESSAGE or EMPTY follows. */
int amqp_link_get(amqp_link_t *l, const char *key);
/* Settles a delivery: acknowledged (done) or returned to its queue (requeue). A delivery of an
 * earlier connection is already back in its queue: nothing to do. */
void amqp_link_settle(amqp_link_t *l, uint32_t gen, uint64_t tag, bool requeue);

bool amqp_link_up(const amqp_link_t *l);

/* Counters since start (loop thread). */
typedef struct amqp_link_stats {
    uint64_t published, confirmed, rejected, consumed, redelivered, connects;
} amqp_link_stats_t;
void amqp_link_stats(const amqp_link_t *l, amqp_link_stats_t *out);

#endif
