/* Outgoing mail: a small SMTP client (RFC 5321) for the daemon's own notices — password
 * resets, e-mail verification, alerts. smtp_message_build and smtp_body_encode are pure
 * (unit-tested); smtp_send talks to the relay and blocks, so the loop only ever calls
 * smtp_send_queue, which runs it on the libuv thread pool.
 *
 * Relays: smtp://[user:pass@]host[:port] (plain, port 25), smtp+starttls://… (STARTTLS
 * required, port 587), smtps://… (implicit TLS, port 465). TLS peers are verified against the
 * system trust store (or conf->ca_file) and the host name or IP address of the URL. AUTH PLAIN is
 * sent only over TLS or to a loopback relay, never in the clear across a network. */
#ifndef GANGLION_NET_SMTP_CLIENT_H
#define GANGLION_NET_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define SMTP_ADDR_MAX    254 /* RFC 5321 path limit */
#define SMTP_SUBJECT_MAX 200 /* bytes of UTF-8 */
#define SMTP_BODY_MAX    65536
#define SMTP_URL_MAX     512

typedef enum { SMTP_TLS_NONE = 0, SMTP_TLS_STARTTLS, SMTP_TLS_IMPLICIT } smtp_tls_t;

/* A relay URL taken apart (smtp_url_parse). */
typedef struct smtp_url {
    smtp_tls_t tls;
    char host[256];
    char port[8];
    char user[128];
    char pass[128];
} smtp_url_t;

/* How to reach the relay; copied by smtp_send_queue. */
typedef struct smtp_conf {
    char url[SMTP_URL_MAX];
    char from[SMTP_ADDR_MAX + 1]; /* envelope and header sender */
    char helo[128];               /* the EHLO name; empty = "localhost" */
    int64_t timeout_ms;           /* the whole conversation, connect to QUIT */
    char ca_file[SMTP_URL_MAX];   /* PEM trust anchors for the relay; empty = the system's */
} smtp_conf_t;

/* One message to one recipient; the strings are borrowed (smtp_send_queue copies them). */
typedef struct smtp_msg {
    const char *to;
    const char *subject; /* UTF-8; encoded (RFC 2047) when not plain ASCII */
    const char *body;    /* UTF-8 text, LF or CRLF line ends, lines of at most 998 bytes */
} smtp_msg_t;

/* 0 when addr is a plain addr-spec we are willing to put in a path and a header:
 * local@domain, printable ASCII, no spaces, angle brackets, quotes or commas, at most
 * SMTP_ADDR_MAX bytes; -EINVAL otherwise. */
int smtp_addr_check(const char *addr);

/* Parses a relay URL into *u. 0 or -EINVAL. */
int smtp_url_parse(const char *url, smtp_url_t *u);

/* The DATA payload of body: line ends made CRLF, a leading '.' doubled on every line (RFC 5321
 * 4.5.2), a final CRLF ensured, without the terminating ".". *out is malloc'd (caller frees).
 * 0, -E2BIG (a line over 998 bytes or a body over SMTP_BODY_MAX) or -ENOMEM. */
int smtp_body_encode(const char *body, char **out, size_t *outlen);

/* The whole message as sent after DATA (headers, blank line, encoded body; not the final
 * "."): Date (from now_ms), Message-ID (random, at from's domain), From, To, Subject,
 * MIME-Version, Content-Type text/plain UTF-8, Content-Transfer-Encoding 8bit. *out is
 * malloc'd (caller frees). 0, -EINVAL (bad address or subject with control characters),
 * -E2BIG or -ENOMEM. */
int smtp_message_build(const char *from, const smtp_msg_t *m, int64_t now_ms, char **out,
                       size_t *outlen);

/* Sends m through the relay: EHLO, STARTTLS when asked, AUTH PLAIN when the URL has a user,
 * MAIL FROM, RCPT TO, DATA, QUIT, all within conf->timeout_ms. Blocks: never on the loop
 * thread. 0 or a negative errno with a one-line reason in err (the relay's reply when it
 * refused): -EPERM for a permanent refusal (a 5xx reply: retrying the same message is useless),
 * -EPROTO for a transient one (4xx) or a broken conversation, -ETIMEDOUT, -ECONNREFUSED and
 * the like for the network, -EACCES when the URL's password would go in the clear, -EINVAL
 * for a message that cannot be built. */
int smtp_send(const smtp_conf_t *conf, const smtp_msg_t *m, char *err, size_t errlen);

/* One reply being read (smtp_reply_take); zero it before the first line. */
#define SMTP_REPLY_MAX 4096 /* one reply line, and the EHLO reply kept whole */
typedef struct smtp_reply {
    size_t lines; /* lines taken so far */
    size_t used;  /* bytes written to whole */
    int code;     /* the three digits of the lines so far */
} smtp_reply_t;

/* Takes the complete lines at the front of buf (*have bytes, at most SMTP_REPLY_MAX - 1) off it,
 * moving what follows to the front, until the reply's last line. Returns its code (100..599)
 * with that line in text; 0 when it needs more bytes (a line not yet ended, or a "250-" line was
 * the last complete one); -EPROTO with the reason in text for a line without three digits
 * starting 1..5, a code that changes between lines, more than 128 lines or a line that fills the
 * whole buffer. whole (may be NULL) receives every line of the reply that fits, each ended by "\n".
 */
int smtp_reply_take(smtp_reply_t *r, char *buf, size_t *have, char *whole, size_t wlen, char *text,
                    size_t textlen);

/* Whether EHLO's reply (whole, as smtp_reply_take writes it) offers the extension keyword:
 * matched case-insensitively as the first word of a line after the greeting (RFC 5321 4.1.1.1). */
bool smtp_ehlo_has(const char *ext, const char *keyword);

/* Called on the loop thread when a queued send ends: rc as smtp_send, err its reason. */
typedef void (*smtp_done_fn)(int rc, const char *err, void *ud);

/* Copies conf and m and runs smtp_send on the thread pool; done (may be NULL) is called on the
 * loop thread afterwards. 0, -EINVAL (bad address, message), -ENOMEM or uv_queue_work's error. */
int smtp_send_queue(uv_loop_t *loop, const smtp_conf_t *conf, const smtp_msg_t *m,
                    smtp_done_fn done, void *ud);

#endif
