/* Notifiers: one kind per file (alerts_notify_http.c: webhook, slack, chat; alerts_notify_exec.c:
 * exec; alerts_notify_mail.c: email through the [mail] relay), each a check of its settings on
 * the loop and a delivery on the thread pool. A new kind is one more file defining an
 * alerts_notifier_kind_t and one row in alerts_notifier_kinds (alerts_notify.c). */
#ifndef GANGLION_ALERTS_NOTIFY_H
#define GANGLION_ALERTS_NOTIFY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/smtp_client.h"

#define ALERTS_BODY_MAX   (64 * 1024) /* bytes of a rendered request body or exec stdin */
#define ALERTS_OUTPUT_MAX 4096        /* bytes of a response or a command's output kept */

/* One delivery attempt, owned by the outbox job; the worker thread reads the inputs and fills
 * the outputs. */
typedef struct alerts_delivery {
    /* in */
    const json_t *notifier; /* the notifier's document, secret included (a deep copy) */
    const json_t *alert;    /* the notification's document */
    const char *body;       /* its compact JSON text */
    size_t body_len;
    const char *id; /* the notification's id (X-Ganglion-Delivery) */
    int64_t timeout_ms;
    const smtp_conf_t *mail; /* the [mail] relay (email); its url is empty when none is set */
    /* out */
    bool ok;
    int status;                     /* HTTP status, or the command's exit status; 0 when none */
    char error[256];                /* why it failed */
    char output[ALERTS_OUTPUT_MAX]; /* the start of the response or the command's output */
    size_t output_len;
} alerts_delivery_t;

typedef struct alerts_notifier_kind {
    const char *name;
    /* Settings beyond what the API validated: 0, or -EINVAL with the field and the reason. */
    int (*check)(const json_t *doc, char *field, size_t flen, char *why, size_t wlen);
    /* One attempt on a worker thread, bounded by d->timeout_ms. */
    void (*deliver)(alerts_delivery_t *d);
} alerts_notifier_kind_t;

extern const alerts_notifier_kind_t alerts_notifier_webhook;
extern const alerts_notifier_kind_t alerts_notifier_slack;
extern const alerts_notifier_kind_t alerts_notifier_chat;
extern const alerts_notifier_kind_t alerts_notifier_exec;
extern const alerts_notifier_kind_t alerts_notifier_email;

/* The kind named, or NULL. */
const alerts_notifier_kind_t *alerts_notifier_kind_find(const char *name);

/* "sha256=" and the hex HMAC-SHA256 of body under key, into out (at least 72 bytes). */
void alerts_sign(const char *key, const char *body, size_t len, char *out, size_t outlen);

#endif
