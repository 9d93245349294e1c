/* The RabbitMQ link (see amqp_link.h): the thread that owns the librabbitmq connection, the
 * command queue it drains and the event list it hands to the loop. Channel 1 publishes in
 * confirm mode; channel 2 consumes the inbox and serves basic.get. */
#include "net/amqp_link.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "net/amqp_dl.h"

#define AMQP_CH_PUB         1
#define AMQP_CH_SUB         2
#define AMQP_BACKOFF_MIN_MS 200
#define AMQP_BACKOFF_MAX_MS 5000
#define AMQP_WAIT_MS        10 /* how long the thread listens before looking at commands */
#define AMQP_DECLARED_MAX   256
#define AMQP_URL_MAX        1024

typedef enum { CMD_PUBLISH, CMD_GET, CMD_SETTLE } amqp_cmd_kind_t;

typedef struct amqp_cmd {
    struct amqp_cmd *next;
    amqp_cmd_kind_t kind;
    uint64_t id, tag;
    uint32_t gen;
    bool requeue;
    char key[AMQP_LINK_KEY_MAX + 1];
    char *body; /* owned */
    size_t len;
} amqp_cmd_t;

typedef struct amqp_ev_node {
    struct amqp_ev_node *next;
    amqp_link_ev_t ev;
    char *key, *body; /* owned; ev points at them */
} amqp_ev_node_t;

typedef struct amqp_pending {
    uint64_t tag, id;
} amqp_pending_t;

struct amqp_link {
    uv_loop_t *loop;
    uv_async_t async;
    amqp_link_cb cb;
    void *ud;
    char url[AMQP_URL_MAX];
    char exchange[AMQP_LINK_KEY_MAX + 1], inbox[AMQP_LINK_KEY_MAX + 1];
    pthread_t thread;
    bool thread_on;
    pthread_mutex_t lock; /* guards cmds, evs, stop */
    pthread_cond_t wake;
    amqp_cmd_t *cmd_head, *cmd_tail;
    size_t ncmds;
    amqp_ev_node_t *ev_head, *ev_tail;
    bool stop;
    atomic_bool up;
    uint64_t next_id;
    amqp_link_stats_t stats;
    /* the thread's own */
    amqp_connection_state_t conn;
    uint32_t gen;
    uint64_t pub_seq; /* the broker's delivery tags for our publishes on this connection */
    amqp_pending_t *pending;
    size_t npending, cap_pending;
    char *declared[AMQP_DECLARED_MAX];
    size_t ndeclared;
};

static amqp_bytes_t amqp_link_bytes(const char *s)
{
    amqp_bytes_t b = {strlen(s), (void *)(uintptr_t)s};
    return b;
}

/* ---- thread → loop ---- */

/* The event list needs no bound of its own: every event answers a command (a publish's confirm
 * or rejection, a get's message or emptiness; at most AMQP_LINK_CMDS_MAX queued), is one of the
 * inbox's unacknowledged deliveries (at most AMQP_LINK_PREFETCH), or marks a connection's start
 * or end (one per connection attempt that succeeded). */

static void amqp_link_post(amqp_link_t *l, amqp_link_ev_t ev, const char *key, const void *body,
                           size_t len)
{
    amqp_ev_node_t *n = calloc(1, sizeof *n);
    if (!n)
        return; /* a lost MESSAGE comes again after reconnect; a lost confirm leaves a task
                   waiting for the link to go down */
    n->ev = ev;
    if (key) {
        n->key = strdup(key);
        n->ev.key = n->key;
    }
    if (body) {
        n->body = malloc(len + 1);
        if (n->body) {
            memcpy(n->body, body, len);
            n->body[len] = '\0';
        }
        n->ev.body = n->body;
        n->ev.len = n->body ? len : 0;
    }
    pthread_mutex_lock(&l->lock);
    if (l->ev_tail)
        l->ev_tail->next = n;
    else
        l->ev_head = n;
    l->ev_tail = n;
    pthread_mutex_unlock(&l->lock);
    uv_async_send(&l->async);
}

static void amqp_link_on_async(uv_async_t *h)
{
    amqp_link_t *l = h->data;
    pthread_mutex_lock(&l->lock);
    amqp_ev_node_t *n = l->ev_head;
    l->ev_head = l->ev_tail = NULL;
    pthread_mutex_unlock(&l->lock);
    while (n) {
        amqp_ev_node_t *nx = n->next;
        switch (n->ev.kind) {
        case AMQP_LINK_UP:
            l->stats.connects++;
            break;
        case AMQP_LINK_CONFIRMED:
            l->stats.confirmed++;
            break;
        case AMQP_LINK_REJECTED:
            l->stats.rejected++;
            break;
        case AMQP_LINK_MESSAGE:
            l->stats.consumed++;
            l->stats.redelivered += n->ev.redelivered;
            break;
        default:
            break;
        }
        if (n->ev.kind != AMQP_LINK_MESSAGE || n->body)
            l->cb(l->ud, &n->ev);
        free(n->key);
        free(n->body);
        free(n);
        n = nx;
    }
}

/* ---- the connection (thread) ---- */

static int amqp_link_reply_ok(amqp_link_t *l, const char *what)
{
    amqp_rpc_reply_t r = lamqp->amqp_get_rpc_reply(l->conn);
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return 0;
    const char *why = r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
                          ? lamqp->amqp_error_string2(r.library_error)
                          : "refused by the broker";
    log_warn(NULL, "rabbitmq: request failed", "{s:s,s:s}", "request", what, "reason", why);
    return -1;
}

/* Every publish not yet confirmed is rejected: the loop decides what to try again. */
static void amqp_link_reject_pending(amqp_link_t *l)
{
    for (size_t i = 0; i < l->npending; i++)
        amqp_link_post(l, (amqp_link_ev_t){.kind = AMQP_LINK_REJECTED, .id = l->pending[i].id},
                       NULL, NULL, 0);
    l->npending = 0;
}

static void amqp_link_disconnect(amqp_link_t *l, const char *why)
{
    if (!l->conn)
        return;
    (void)lamqp->amqp_connection_close(l->conn, AMQP_REPLY_SUCCESS);
    (void)lamqp->amqp_destroy_connection(l->conn);
    l->conn = NULL;
    for (size_t i = 0; i < l->ndeclared; i++)
        free(l->declared[i]);
    l->ndeclared = 0;
    amqp_link_reject_pending(l);
    atomic_store(&l->up, false);
    if (!strcmp(why, "shutting down"))
        log_info(NULL, "rabbitmq: disconnected", "{s:s}", "reason", why);
    else
        log_warn(NULL, "rabbitmq: disconnected", "{s:s}", "reason", why);
    amqp_link_post(l, (amqp_link_ev_t){.kind = AMQP_LINK_DOWN}, NULL, NULL, 0);
}

/* Declares the durable queue named after key and binds it to the exchange by key, once per
 * connection. */
static int amqp_link_declare(amqp_link_t *l, const char *key)
{
    for (size_t i = 0; i < l->ndeclared; i++)
        if (!strcmp(l->declared[i], key))
            return 0;
    char queue[2 * AMQP_LINK_KEY_MAX + 2];
    snprintf(queue, sizeof queue, "%s.%s", l->exchange, key);
    amqp_table_t none = {0, NULL};
    lamqp->amqp_queue_declare(l->conn, AMQP_CH_PUB, amqp_link_bytes(queue), 0, 1, 0, 0, none);
    if (amqp_link_reply_ok(l, "queue.declare") < 0)
        return -1;
    lamqp->amqp_queue_bind(l->conn, AMQP_CH_PUB, amqp_link_bytes(queue),
                           amqp_link_bytes(l->exchange), amqp_link_bytes(key), none);
    if (amqp_link_reply_ok(l, "queue.bind") < 0)
        return -1;
    if (l->ndeclared < AMQP_DECLARED_MAX) {
        char *k = strdup(key);
        if (k)
            l->declared[l->ndeclared++] = k;
    }
    return 0;
}

static int amqp_link_connect(amqp_link_t *l)
{
    char url[AMQP_URL_MAX];
    snprintf(url, sizeof url, "%s", l->url);
    struct amqp_connection_info ci;
    if (lamqp->amqp_parse_url(url, &ci) != AMQP_STATUS_OK) {
        log_error(NULL, "rabbitmq: not an amqp:// url", NULL);
        return -1;
    }
    l->conn = lamqp->amqp_new_connection();
    if (!l->conn)
        return -1;
    amqp_socket_t *sock = lamqp->amqp_tcp_socket_new(l->conn);
    struct timeval tv = {5, 0};
    int rc = sock ? lamqp->amqp_socket_open_noblock(sock, ci.host, ci.port, &tv) : -1;
    if (rc != AMQP_STATUS_OK) {
        log_warn(NULL, "rabbitmq: cannot connect", "{s:s,s:i,s:s}", "host", ci.host, "port",
                 ci.port, "reason", lamqp->amqp_error_string2(rc));
        (void)lamqp->amqp_destroy_connection(l->conn);
        l->conn = NULL;
        return -1;
    }
    amqp_rpc_reply_t r = lamqp->amqp_login(l->conn, ci.vhost, 0, 131072, 30, AMQP_SASL_METHOD_PLAIN,
                                           ci.user, ci.password);
    struct timeval rpc = {10, 0};
    amqp_table_t none = {0, NULL};
    if (r.reply_type != AMQP_RESPONSE_NORMAL ||
        lamqp->amqp_set_rpc_timeout(l->conn, &rpc) != AMQP_STATUS_OK)
        goto fail;
    lamqp->amqp_channel_open(l->conn, AMQP_CH_PUB);
    if (amqp_link_reply_ok(l, "channel.open") < 0)
        goto fail;
    lamqp->amqp_confirm_select(l->conn, AMQP_CH_PUB);
    if (amqp_link_reply_ok(l, "confirm.select") < 0)
        goto fail;
    lamqp->amqp_channel_open(l->conn, AMQP_CH_SUB);
    if (amqp_link_reply_ok(l, "channel.open") < 0)
        goto fail;
    lamqp->amqp_basic_qos(l->conn, AMQP_CH_SUB, 0, AMQP_LINK_PREFETCH, 0);
    if (amqp_link_reply_ok(l, "basic.qos") < 0)
        goto fail;
    lamqp->amqp_exchange_declare(l->conn, AMQP_CH_PUB, amqp_link_bytes(l->exchange),
                                 amqp_link_bytes("topic"), 0, 1, 0, 0, none);
    if (amqp_link_reply_ok(l, "exchange.declare") < 0 || amqp_link_declare(l, l->inbox) < 0)
        goto fail;
    char queue[2 * AMQP_LINK_KEY_MAX + 2];
    snprintf(queue, sizeof queue, "%s.%s", l->exchange, l->inbox);
    lamqp->amqp_basic_consume(l->conn, AMQP_CH_SUB, amqp_link_bytes(queue), (amqp_bytes_t){0, NULL},
                              0, 0, 0, none);
    if (amqp_link_reply_ok(l, "basic.consume") < 0)
        goto fail;
    l->gen++;
    l->pub_seq = 0;
    atomic_store(&l->up, true);
    log_info(NULL, "rabbitmq: connected", "{s:s,s:i,s:s}", "host", ci.host, "port", ci.port,
             "inbox", queue);
    amqp_link_post(l, (amqp_link_ev_t){.kind = AMQP_LINK_UP}, NULL, NULL, 0);
    return 0;
fail:
    log_warn(NULL, "rabbitmq: handshake failed", "{s:s,s:i}", "host", ci.host, "port", ci.port);
    (void)lamqp->amqp_destroy_connection(l->conn);
    l->conn = NULL;
    return -1;
}

static int amqp_link_do_publish(amqp_link_t *l, amqp_cmd_t *c)
{
    if (amqp_link_declare(l, c->key) < 0)
        return -1;
    if (l->npending == l->cap_pending) {
        size_t cap = l->cap_pending ? 2 * l->cap_pending : 64;
        amqp_pending_t *p = realloc(l->pending, cap * sizeof *p);
        if (!p)
            return -1;
        l->pending = p;
        l->cap_pending = cap;
    }
    amqp_basic_properties_t props = {
        ._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG,
        .content_type = amqp_link_bytes("application/json"),
        .delivery_mode = AMQP_DELIVERY_PERSISTENT,
    };
    amqp_bytes_t body = {c->len, c->body};
    int rc = lamqp->amqp_basic_publish(l->conn, AMQP_CH_PUB, amqp_link_bytes(l->exchange),
                                       amqp_link_bytes(c->key), 0, 0, &props, body);
    if (rc != AMQP_STATUS_OK)
        return -1;
    l->pending[l->npending++] = (amqp_pending_t){.tag = ++l->pub_seq, .id = c->id};
    return 0;
}

/* One message's header and body after a basic.deliver or basic.get-ok. */
static int amqp_link_read(amqp_link_t *l, uint64_t tag, bool redelivered, amqp_bytes_t key)
{
    amqp_message_t msg;
    amqp_rpc_reply_t r = lamqp->amqp_read_message(l->conn, AMQP_CH_SUB, &msg, 0);
    if (r.reply_type != AMQP_RESPONSE_NORMAL)
        return -1;
    char k[AMQP_LINK_KEY_MAX + 1];
    size_t kn = key.len < AMQP_LINK_KEY_MAX ? key.len : AMQP_LINK_KEY_MAX;
    memcpy(k, key.bytes, kn);
    k[kn] = '\0';
    amqp_link_post(
        l,
        (amqp_link_ev_t){
            .kind = AMQP_LINK_MESSAGE, .tag = tag, .gen = l->gen, .redelivered = redelivered},
        k, msg.body.bytes, msg.body.len);
    lamqp->amqp_destroy_message(&msg);
    return 0;
}

static int amqp_link_do_get(amqp_link_t *l, amqp_cmd_t *c)
{
    if (amqp_link_declare(l, c->key) < 0)
        return -1;
    char queue[2 * AMQP_LINK_KEY_MAX + 2];
    snprintf(queue, sizeof queue, "%s.%s", l->exchange, c->key);
    amqp_rpc_reply_t r = lamqp->amqp_basic_get(l->conn, AMQP_CH_SUB, amqp_link_bytes(queue), 0);
    if (r.reply_type != AMQP_RESPONSE_NORMAL)
        return -1;
    if (r.reply.id == AMQP_BASIC_GET_OK_METHOD) {
        amqp_basic_get_ok_t *ok = r.reply.decoded;
        return amqp_link_read(l, ok->delivery_tag, ok->redelivered, ok->routing_key);
    }
    amqp_link_post(l, (amqp_link_ev_t){.kind = AMQP_LINK_EMPTY}, c->key, NULL, 0);
    return 0;
}

static void amqp_link_confirm(amqp_link_t *l, uint64_t tag, bool multiple, bool ok)
{
    size_t keep = 0;
    for (size_t i = 0; i < l->npending; i++) {
        amqp_pending_t p = l->pending[i];
        if (p.tag == tag || (multiple && p.tag < tag))
            amqp_link_post(
                l,
                (amqp_link_ev_t){.kind = ok ? AMQP_LINK_CONFIRMED : AMQP_LINK_REJECTED, .id = p.id},
                NULL, NULL, 0);
        else
            l->pending[keep++] = p;
    }
    l->npending = keep;
}

/* Reads what the broker sent, for up to wait_ms. 0, or -1 when the connection is unusable. */
static int amqp_link_listen(amqp_link_t *l, int wait_ms)
{
    struct timeval tv = {0, wait_ms * 1000};
    for (;;) {
        amqp_frame_t f;
        int rc = lamqp->amqp_simple_wait_frame_noblock(l->conn, &f, &tv);
        if (rc == AMQP_STATUS_TIMEOUT)
            return 0;
        if (rc != AMQP_STATUS_OK)
            return -1;
        tv = (struct timeval){0, 0}; /* drain what is there, then look at commands */
        if (f.frame_type != AMQP_FRAME_METHOD)
            continue;
        switch (f.payload.method.id) {
        case AMQP_BASIC_ACK_METHOD: {
            amqp_basic_ack_t *a = f.payload.method.decoded;
            amqp_link_confirm(l, a->delivery_tag, a->multiple, true);
            break;
        }
        case AMQP_BASIC_NACK_METHOD: {
            amqp_basic_nack_t *a = f.payload.method.decoded;
            amqp_link_confirm(l, a->delivery_tag, a->multiple, false);
            break;
        }
        case AMQP_BASIC_DELIVER_METHOD: {
            amqp_basic_deliver_t *d = f.payload.method.decoded;
            if (amqp_link_read(l, d->delivery_tag, d->redelivered, d->routing_key) < 0)
                return -1;
            break;
        }
        case AMQP_CHANNEL_CLOSE_METHOD:
        case AMQP_CONNECTION_CLOSE_METHOD:
            return -1;
        default:
            break;
        }
        lamqp->amqp_maybe_release_buffers(l->conn);
    }
}

static void amqp_link_fail_cmd(amqp_link_t *l, const amqp_cmd_t *c)
{
    if (c->kind == CMD_PUBLISH)
        amqp_link_post(l, (amqp_link_ev_t){.kind = AMQP_LINK_REJECTED, .id = c->id}, NULL, NULL, 0);
    else if (c->kind == CMD_GET)
        amqp_link_post(l, (amqp_link_ev_t){.kind = AMQP_LINK_EMPTY}, c->key, NULL, 0);
}

static void amqp_link_run_cmds(amqp_link_t *l, amqp_cmd_t *c)
{
    while (c) {
        amqp_cmd_t *nx = c->next;
        int rc = 0;
        if (!l->conn)
            rc = -1;
        else if (c->kind == CMD_PUBLISH)
            rc = amqp_link_do_publish(l, c);
        else if (c->kind == CMD_GET)
            rc = amqp_link_do_get(l, c);
        else if (c->gen == l->gen)
            rc = c->requeue ? lamqp->amqp_basic_nack(l->conn, AMQP_CH_SUB, c->tag, 0, 1)
                            : lamqp->amqp_basic_ack(l->conn, AMQP_CH_SUB, c->tag, 0);
        if (rc < 0 && c->kind != CMD_SETTLE) {
            amqp_link_fail_cmd(l, c);
            if (c->kind == CMD_PUBLISH || c->kind == CMD_GET)
                amqp_link_disconnect(l, "a request failed");
        } else if (rc < 0) {
            amqp_link_disconnect(l, "an acknowledgement failed");
        }
        free(c->body);
        free(c);
        c = nx;
    }
}

static void *amqp_link_main(void *arg)
{
    amqp_link_t *l = arg;
    int backoff = AMQP_BACKOFF_MIN_MS;
    for (;;) {
        pthread_mutex_lock(&l->lock);
        bool stop = l->stop;
        amqp_cmd_t *cmds = l->cmd_head;
        l->cmd_head = l->cmd_tail = NULL;
        l->ncmds = 0;
        pthread_mutex_unlock(&l->lock);
        if (stop) {
            amqp_link_run_cmds(l, cmds); /* fails them: no connection below */
            break;
        }
        if (!l->conn && amqp_link_connect(l) < 0) {
            amqp_link_run_cmds(l, cmds);
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += backoff / 1000;
            until.tv_nsec += (long)(backoff % 1000) * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_mutex_lock(&l->lock);
            if (!l->stop)
                pthread_cond_timedwait(&l->wake, &l->lock, &until);
            pthread_mutex_unlock(&l->lock);
            backoff = backoff * 2 > AMQP_BACKOFF_MAX_MS ? AMQP_BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        backoff = AMQP_BACKOFF_MIN_MS;
        amqp_link_run_cmds(l, cmds);
        if (l->conn && amqp_link_listen(l, AMQP_WAIT_MS) < 0)
            amqp_link_disconnect(l, "connection lost");
    }
    if (l->conn)
        amqp_link_disconnect(l, "shutting down");
    return NULL;
}

/* ---- loop side ---- */

static int amqp_link_enqueue(amqp_link_t *l, amqp_cmd_t *c)
{
    pthread_mutex_lock(&l->lock);
    if (l->ncmds >= AMQP_LINK_CMDS_MAX) {
        pthread_mutex_unlock(&l->lock);
        return -EAGAIN;
    }
    if (l->cmd_tail)
        l->cmd_tail->next = c;
    else
        l->cmd_head = c;
    l->cmd_tail = c;
    l->ncmds++;
    pthread_mutex_unlock(&l->lock);
    return 0;
}

static bool amqp_link_key_ok(const char *key)
{
    size_t n = strlen(key);
    return n > 0 && n <= AMQP_LINK_KEY_MAX && !strpbrk(key, "*#");
}

int amqp_link_publish(amqp_link_t *l, const char *key, const char *body, size_t len, uint64_t *id)
{
    if (!amqp_link_key_ok(key))
        return -EINVAL;
    if (!amqp_link_up(l))
        return -ENOTCONN;
    amqp_cmd_t *c = calloc(1, sizeof *c);
    char *copy = malloc(len ? len : 1);
    if (!c || !copy) {
        free(c);
        free(copy);
        return -ENOMEM;
    }
    memcpy(copy, body, len);
    c->kind = CMD_PUBLISH;
    c->id = ++l->next_id;
    snprintf(c->key, sizeof c->key, "%s", key);
    c->body = copy;
    c->len = len;
    int rc = amqp_link_enqueue(l, c);
    if (rc < 0) {
        free(copy);
        free(c);
        return rc;
    }
    l->stats.published++;
    *id = c->id;
    return 0;
}

int amqp_link_get(amqp_link_t *l, const char *key)
{
    if (!amqp_link_key_ok(key))
        return -EINVAL;
    if (!amqp_link_up(l))
        return -ENOTCONN;
    amqp_cmd_t *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->kind = CMD_GET;
    snprintf(c->key, sizeof c->key, "%s", key);
    int rc = amqp_link_enqueue(l, c);
    if (rc < 0)
        free(c);
    return rc;
}

void amqp_link_settle(amqp_link_t *l, uint32_t gen, uint64_t tag, bool requeue)
{
    amqp_cmd_t *c = calloc(1, sizeof *c);
    if (!c)
        return; /* unsettled: the broker delivers it again after the connection ends */
    c->kind = CMD_SETTLE;
    c->gen = gen;
    c->tag = tag;
    c->requeue = requeue;
    /* a settle is never refused for a full queue: deliveries are bounded by the prefetch */
    pthread_mutex_lock(&l->lock);
    if (l->cmd_tail)
        l->cmd_tail->next = c;
    else
        l->cmd_head = c;
    l->cmd_tail = c;
    pthread_mutex_unlock(&l->lock);
}

bool amqp_link_up(const amqp_link_t *l)
{
    return l && atomic_load(&l->up);
}

void amqp_link_stats(const amqp_link_t *l, amqp_link_stats_t *out)
{
    *out = l ? l->stats : (amqp_link_stats_t){0};
}

int amqp_link_start(uv_loop_t *loop, const char *url, const char *exchange, const char *inbox,
                    amqp_link_cb cb, void *ud, amqp_link_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (amqp_dl_load(err, errlen) < 0)
        return -1;
    if (strlen(url) >= AMQP_URL_MAX || !amqp_link_key_ok(exchange) || !amqp_link_key_ok(inbox)) {
        snprintf(err, errlen, "rabbitmq: url, exchange or inbox too long or with a wildcard");
        return -1;
    }
    amqp_link_t *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "rabbitmq: out of memory");
        return -1;
    }
    l->loop = loop;
    l->cb = cb;
    l->ud = ud;
    snprintf(l->url, sizeof l->url, "%s", url);
    snprintf(l->exchange, sizeof l->exchange, "%s", exchange);
    snprintf(l->inbox, sizeof l->inbox, "%s", inbox);
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->wake, NULL);
    uv_async_init(loop, &l->async, amqp_link_on_async);
    l->async.data = l;
    uv_unref((uv_handle_t *)&l->async); /* the link alone does not keep the daemon running */
    if (pthread_create(&l->thread, NULL, amqp_link_main, l) != 0) {
        snprintf(err, errlen, "rabbitmq: cannot start its thread");
        amqp_link_destroy(&l);
        return -1;
    }
    l->thread_on = true;
    *out = l;
    return 0;
}

static void amqp_link_closed(uv_handle_t *h)
{
    amqp_link_t *l = h->data;
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->wake);
    free(l->pending);
    free(l);
}

void amqp_link_destroy(amqp_link_t **lp)
{
    amqp_link_t *l = *lp;
    if (!l)
        return;
    *lp = NULL;
    if (l->thread_on) {
        pthread_mutex_lock(&l->lock);
        l->stop = true;
        pthread_cond_signal(&l->wake);
        pthread_mutex_unlock(&l->lock);
        pthread_join(l->thread, NULL);
    }
    for (amqp_cmd_t *c = l->cmd_head; c;) {
        amqp_cmd_t *nx = c->next;
        free(c->body);
        free(c);
        c = nx;
    }
    for (amqp_ev_node_t *n = l->ev_head; n;) {
        amqp_ev_node_t *nx = n->next;
        free(n->key);
        free(n->body);
        free(n);
        n = nx;
    }
    for (size_t i = 0; i < l->ndeclared; i++)
        free(l->declared[i]);
    uv_close((uv_handle_t *)&l->async, amqp_link_closed);
}
