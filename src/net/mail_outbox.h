/* A durable outbox in front of the SMTP client: a mail is a row written in the caller's own
 * transaction (so it exists exactly when what it announces was committed), sealed with a key
 * the caller holds (its text may carry a secret token), and sent by the loop one at a time
 * through smtp_send_queue; a failure is retried with exponential backoff, also after a restart,
 * and given up (logged) after MAIL_OUTBOX_ATTEMPTS — at once when the relay refused it for good
 * (a 5xx reply). Each user of the table names its `source`
 * and runs its own outbox over its own rows.
 *
 * The table (mail_outbox) is created by the auth domain's migration 106. */
#ifndef GANGLION_NET_MAIL_OUTBOX_H
#define GANGLION_NET_MAIL_OUTBOX_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "net/smtp_client.h"
#include "store/store.h"

#define MAIL_OUTBOX_KEY_BYTES 32
#define MAIL_OUTBOX_ATTEMPTS  12      /* ~ a day with the backoff below */
#define MAIL_OUTBOX_RETRY_MS  30000   /* first retry by default; doubled each time */
#define MAIL_OUTBOX_RETRY_MAX 3600000 /* at most an hour between tries */
#define MAIL_OUTBOX_POLL_MS   10000   /* how often due retries are looked for */

typedef struct mail_outbox mail_outbox_t;

/* Fills *out with the relay settings to use now (read at each send, so a reload applies).
 * Leaving out->url empty means "no relay": the mail waits. Loop thread. */
typedef void (*mail_outbox_conf_fn)(void *ud, smtp_conf_t *out);

/* Worker thread, inside the caller's transaction: one mail to m->to, sealed with key. 0 or a
 * negative errno / store error. */
int mail_outbox_add(store_conn_t *c, const char *source, const unsigned char *key,
                    const smtp_msg_t *m, int64_t now_ms);

/* An outbox sending the rows of `source` (copied), opened with key (copied,
 * MAIL_OUTBOX_KEY_BYTES). Starts its poll timer. NULL on allocation failure. Loop thread. */
mail_outbox_t *mail_outbox_new(uv_loop_t *loop, store_t *store, const char *source,
                               const unsigned char *key, mail_outbox_conf_fn conf, void *ud);
/* The delay before the first retry (doubled for each one after, up to
 * MAIL_OUTBOX_RETRY_MAX); MAIL_OUTBOX_RETRY_MS until set. Loop thread, before sending. */
void mail_outbox_retry_set(mail_outbox_t *o, int64_t first_ms);
/* Looks for due mail now (after a commit that added some). Loop thread. */
void mail_outbox_kick(mail_outbox_t *o);
/* Stops looking for more; a send in flight finishes and is recorded. */
void mail_outbox_shutdown(mail_outbox_t *o);
/* Sends or store jobs in flight (0 when shutdown may finish). */
size_t mail_outbox_busy(const mail_outbox_t *o);
/* Frees the outbox (NULL-safe) and sets *o = NULL; after the loop has run its callbacks. */
void mail_outbox_destroy(mail_outbox_t **o);

#endif
