/* The durable outbox: rows sealed with crypto_secretbox (nonce and ciphertext in base64), one
 * send at a time — fetch the oldest due row (thread pool), send it (thread pool, through
 * smtp_send_queue), record the outcome (thread pool): deleted when the relay took it, else
 * retried later with a doubled delay, dropped after MAIL_OUTBOX_ATTEMPTS. */

#include "net/mail_outbox.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"

struct mail_outbox {
    uv_loop_t *loop;
    store_t *store;
    uv_timer_t *timer; /* heap: its close callback frees it, whatever the outbox's fate */
    char source[32];
    unsigned char key[MAIL_OUTBOX_KEY_BYTES];
    mail_outbox_conf_fn conf;
    void *ud;
    int64_t retry_ms; /* first retry delay */
    bool busy;        /* a fetch, send or record is in flight */
    bool again;       /* kicked while busy: look again afterwards */
    bool closing;     /* shutdown: no new fetches */
    size_t inflight;
};

/* One row through fetch → send → record. */
typedef struct mail_outbox_job {
    mail_outbox_t *o;
    int64_t id, attempts, now_ms;
    char to[SMTP_ADDR_MAX + 1];
    char *subject, *body;
    int rc;
    char err[256];
    bool found;
} mail_outbox_job_t;

static void mail_outbox_job_free(mail_outbox_job_t *j)
{
    if (j->body)
        sodium_memzero(j->body, strlen(j->body));
    free(j->subject);
    free(j->body);
    free(j);
}

/* ---- sealing ---------------------------------------------------------------------------- */

static char *mail_outbox_seal(const unsigned char *key, const char *plain)
{
    size_t n = strlen(plain);
    size_t clen = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + n;
    unsigned char *c = malloc(clen);
    size_t blen = sodium_base64_ENCODED_LEN(clen, sodium_base64_VARIANT_ORIGINAL);
    char *b = malloc(blen);
    if (!c || !b) {
        free(c);
        free(b);
        return NULL;
    }
    randombytes_buf(c, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(c + crypto_secretbox_NONCEBYTES, (const unsigned char *)plain, n, c, key);
    sodium_bin2base64(b, blen, c, clen, sodium_base64_VARIANT_ORIGINAL);
    free(c);
    return b;
}

static char *mail_outbox_open(const unsigned char *key, const char *sealed)
{
    size_t slen = strlen(sealed);
    unsigned char *c = malloc(slen ? slen : 1); /* malloc(0) may be NULL: "" is refused below */
    size_t clen = 0;
    if (!c ||
        sodium_base642bin(c, slen, sealed, slen, NULL, &clen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        clen < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
        free(c);
        return NULL;
    }
    size_t n = clen - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
    char *p = malloc(n + 1);
    if (!p || crypto_secretbox_open_easy((unsigned char *)p, c + crypto_secretbox_NONCEBYTES,
                                         clen - crypto_secretbox_NONCEBYTES, c, key) != 0) {
        free(c);
        free(p);
        return NULL;
    }
    p[n] = '\0';
    free(c);
    return p;
}

int mail_outbox_add(store_conn_t *c, const char *source, const unsigned char *key,
                    const smtp_msg_t *m, int64_t now_ms)
{
    if (smtp_addr_check(m->to) < 0 || !m->subject || !m->body || strlen(m->body) > SMTP_BODY_MAX ||
        strlen(m->subject) > SMTP_SUBJECT_MAX)
        return -EINVAL;
    json_t *o = json_pack("{s:s,s:s}", "subject", m->subject, "body", m->body);
    char *plain = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    char *sealed = plain ? mail_outbox_seal(key, plain) : NULL;
    if (plain) {
        sodium_memzero(plain, strlen(plain));
        free(plain);
    }
    if (!sealed)
        return -ENOMEM;
    int rc = store_query(c,
                         "INSERT INTO mail_outbox (source, recipient, sealed, attempts, next_ms,"
                         " created_ms) VALUES ($1, $2, $3, 0, $4, $4)",
                         (store_val_t[]){STORE_TEXTV(source), STORE_TEXTV(m->to),
                                         STORE_TEXTV(sealed), STORE_INTV(now_ms)},
                         4, NULL, NULL);
    free(sealed);
    return rc;
}

/* ---- the cycle -------------------------------------------------------------------------- */

static void mail_outbox_fetch(mail_outbox_t *o);
static void mail_outbox_tick(uv_timer_t *t);

static void mail_outbox_idle(mail_outbox_t *o)
{
    o->busy = false;
    if (o->again && !o->closing) {
        o->again = false;
        mail_outbox_fetch(o);
    }
}

static int mail_outbox_record_work(store_conn_t *c, void *ud)
{
    mail_outbox_job_t *j = ud;
    /* sent, refused for good (5xx) or unsendable: the row goes */
    if (j->rc == 0 || j->rc == -EINVAL || j->rc == -EPERM ||
        j->attempts + 1 >= MAIL_OUTBOX_ATTEMPTS)
        return store_query(c, "DELETE FROM mail_outbox WHERE id = $1",
                           (store_val_t[]){STORE_INTV(j->id)}, 1, NULL, NULL);
    int64_t delay = j->o->retry_ms;
    for (int64_t i = 0; i < j->attempts && delay < MAIL_OUTBOX_RETRY_MAX; i++)
        delay *= 2;
    if (delay > MAIL_OUTBOX_RETRY_MAX)
        delay = MAIL_OUTBOX_RETRY_MAX;
    return store_query(
        c,
        "UPDATE mail_outbox SET attempts = attempts + 1, next_ms = $2,"
        " last_error = $3 WHERE id = $1",
        (store_val_t[]){STORE_INTV(j->id), STORE_INTV(j->now_ms + delay), STORE_TEXTV(j->err)}, 3,
        NULL, NULL);
}

static void mail_outbox_record_done(int status, void *ud)
{
    mail_outbox_job_t *j = ud;
    mail_outbox_t *o = j->o;
    o->inflight--;
    if (status < 0)
        log_warn(NULL, "mail: outcome not recorded", "{s:I}", "id", (json_int_t)j->id);
    o->again = true; /* more may be due */
    mail_outbox_job_free(j);
    mail_outbox_idle(o);
}

static void mail_outbox_record(mail_outbox_job_t *j)
{
    mail_outbox_t *o = j->o;
    j->now_ms = clock_wall_ms();
    if (store_submit(o->store, o->loop, mail_outbox_record_work, mail_outbox_record_done, j) < 0) {
        mail_outbox_job_free(j);
        mail_outbox_idle(o);
        return;
    }
    o->inflight++;
}

static void mail_outbox_sent(int rc, const char *err, void *ud)
{
    mail_outbox_job_t *j = ud;
    j->o->inflight--;
    j->rc = rc;
    snprintf(j->err, sizeof j->err, "%s", err ? err : "");
    if (rc == 0)
        log_info(NULL, "mail: sent", "{s:s,s:I}", "source", j->o->source, "id", (json_int_t)j->id);
    else
        log_warn(NULL,
                 j->attempts + 1 >= MAIL_OUTBOX_ATTEMPTS || rc == -EPERM || rc == -EINVAL
                     ? "mail: given up"
                     : "mail: not sent",
                 "{s:s,s:I,s:I,s:s}", "source", j->o->source, "id", (json_int_t)j->id, "attempt",
                 (json_int_t)(j->attempts + 1), "reason", j->err);
    mail_outbox_record(j);
}

static int mail_outbox_fetch_work(store_conn_t *c, void *ud)
{
    mail_outbox_job_t *j = ud;
    json_t *rows = NULL;
    if (store_query(c,
                    "SELECT id, recipient, sealed, attempts FROM mail_outbox WHERE source = $1"
                    " AND next_ms <= $2 ORDER BY next_ms, id LIMIT 1",
                    (store_val_t[]){STORE_TEXTV(j->o->source), STORE_INTV(j->now_ms)}, 2, &rows,
                    NULL) < 0)
        return -1;
    json_t *r = json_array_get(rows, 0);
    if (r) {
        j->found = true;
        j->id = json_integer_value(json_object_get(r, "id"));
        j->attempts = json_integer_value(json_object_get(r, "attempts"));
        snprintf(j->to, sizeof j->to, "%s",
                 json_string_value(json_object_get(r, "recipient")) ?: "");
        char *plain =
            mail_outbox_open(j->o->key, json_string_value(json_object_get(r, "sealed")) ?: "");
        json_t *m = plain ? json_loads(plain, 0, NULL) : NULL;
        if (plain) {
            sodium_memzero(plain, strlen(plain));
            free(plain);
        }
        const char *s = json_string_value(json_object_get(m, "subject"));
        const char *b = json_string_value(json_object_get(m, "body"));
        j->subject = s ? strdup(s) : NULL;
        j->body = b ? strdup(b) : NULL;
        json_decref(m);
    }
    json_decref(rows);
    return 0;
}

static void mail_outbox_fetch_done(int status, void *ud)
{
    mail_outbox_job_t *j = ud;
    mail_outbox_t *o = j->o;
    o->inflight--;
    if (status < 0 || !j->found) {
        mail_outbox_job_free(j);
        mail_outbox_idle(o);
        return;
    }
    if (!j->subject || !j->body) { /* sealed with another key, or damaged: nothing to retry */
        j->rc = -EINVAL;
        snprintf(j->err, sizeof j->err, "the row cannot be opened");
        log_warn(NULL, "mail: dropped", "{s:I,s:s}", "id", (json_int_t)j->id, "reason", j->err);
        mail_outbox_record(j);
        return;
    }
    smtp_conf_t sc;
    memset(&sc, 0, sizeof sc);
    o->conf(o->ud, &sc);
    smtp_msg_t m = {.to = j->to, .subject = j->subject, .body = j->body};
    int rc = sc.url[0] ? smtp_send_queue(o->loop, &sc, &m, mail_outbox_sent, j) : -ENOTCONN;
    sodium_memzero(&sc, sizeof sc);
    if (rc == 0) {
        o->inflight++;
        return;
    }
    j->rc = rc;
    snprintf(j->err, sizeof j->err, "%s",
             rc == -ENOTCONN ? "no relay configured" : "the message cannot be sent");
    mail_outbox_record(j);
}

static void mail_outbox_fetch(mail_outbox_t *o)
{
    if (o->busy || o->closing)
        return;
    mail_outbox_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->o = o;
    j->now_ms = clock_wall_ms();
    o->busy = true;
    if (store_submit(o->store, o->loop, mail_outbox_fetch_work, mail_outbox_fetch_done, j) < 0) {
        free(j);
        o->busy = false;
        return;
    }
    o->inflight++;
}

void mail_outbox_retry_set(mail_outbox_t *o, int64_t first_ms)
{
    o->retry_ms = first_ms > 0 ? first_ms : MAIL_OUTBOX_RETRY_MS;
    /* look for due retries at least as often as the first retry comes */
    uint64_t poll =
        (uint64_t)(o->retry_ms < MAIL_OUTBOX_POLL_MS ? o->retry_ms : MAIL_OUTBOX_POLL_MS);
    if (o->timer)
        uv_timer_start(o->timer, mail_outbox_tick, 100, poll);
}

void mail_outbox_kick(mail_outbox_t *o)
{
    if (!o || o->closing)
        return;
    if (o->busy)
        o->again = true;
    else
        mail_outbox_fetch(o);
}

static void mail_outbox_tick(uv_timer_t *t)
{
    mail_outbox_t *o = t->data;
    if (!o)
        return;
    /* no relay configured: nothing could be sent, so the store is not asked */
    smtp_conf_t conf = {0};
    o->conf(o->ud, &conf);
    bool relay = conf.url[0] != '\0';
    sodium_memzero(&conf, sizeof conf);
    if (relay)
        mail_outbox_kick(o);
}

static void mail_outbox_timer_free(uv_handle_t *h)
{
    free(h);
}

mail_outbox_t *mail_outbox_new(uv_loop_t *loop, store_t *store, const char *source,
                               const unsigned char *key, mail_outbox_conf_fn conf, void *ud)
{
    mail_outbox_t *o = calloc(1, sizeof *o);
    uv_timer_t *t = calloc(1, sizeof *t);
    if (!o || !t || uv_timer_init(loop, t) < 0) {
        free(o);
        free(t);
        return NULL;
    }
    o->loop = loop;
    o->store = store;
    o->timer = t;
    t->data = o;
    snprintf(o->source, sizeof o->source, "%s", source);
    memcpy(o->key, key, MAIL_OUTBOX_KEY_BYTES);
    o->conf = conf;
    o->ud = ud;
    o->retry_ms = MAIL_OUTBOX_RETRY_MS;
    /* the first tick sends what a previous run left behind */
    uv_timer_start(t, mail_outbox_tick, 100, MAIL_OUTBOX_POLL_MS);
    return o;
}

void mail_outbox_shutdown(mail_outbox_t *o)
{
    if (!o || o->closing)
        return;
    o->closing = true;
    uv_timer_stop(o->timer);
    uv_close((uv_handle_t *)o->timer, mail_outbox_timer_free);
    o->timer = NULL;
}

size_t mail_outbox_busy(const mail_outbox_t *o)
{
    return o ? o->inflight : 0;
}

void mail_outbox_destroy(mail_outbox_t **po)
{
    mail_outbox_t *o = *po;
    if (!o)
        return;
    if (o->timer) { /* never shut down: the handle frees itself when the loop closes it */
        uv_timer_stop(o->timer);
        o->timer->data = NULL;
        uv_close((uv_handle_t *)o->timer, mail_outbox_timer_free);
    }
    sodium_memzero(o->key, sizeof o->key);
    free(o);
    *po = NULL;
}
