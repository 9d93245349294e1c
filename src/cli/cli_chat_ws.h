/* The client side of the WebSocket at /api/v1/ws for `ganglion chat`: libcurl connects (plain
 * or TLS, with the CLI's --cacert/--insecure) and stops there (CONNECT_ONLY); the upgrade and
 * the frames (masked, as a client must) are written here, parsed with net/ws_frame. Blocking,
 * one connection, bounded buffers. */
#ifndef GANGLION_CLI_CHAT_WS_H
#define GANGLION_CLI_CHAT_WS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/cli_priv.h"
#include "net/ws_frame.h"

#define CLI_WS_FRAME_MAX   (1u << 20) /* the daemon's websocket.max_frame default */
#define CLI_WS_MESSAGE_MAX (8u << 20) /* a history page of long turns fits */

typedef struct cli_ws {
    void *curl;  /* CURL *, owned */
    int fd;      /* its socket, for poll */
    uint8_t *in; /* received bytes not yet parsed: in[0..in_len) of in_cap */
    size_t in_len, in_cap;
    ws_msg_t msg; /* the message being assembled */
} cli_ws_t;

/* Connects to ctx->url, upgrades to /api/v1/ws with the CLI's credential and checks the
 * server's accept key. 0, or -1 with the reason in err (the socket closed again). */
int cli_ws_open(cli_ws_t *ws, const cli_ctx_t *ctx, char *err, size_t errlen);

/* Sends one JSON value as a text message. 0 or a negative errno. */
int cli_ws_send_json(cli_ws_t *ws, const json_t *v);

/* The next JSON message within timeout_ms (-1: no limit), answering pings on the way: 1 with *out
 * (owned), 0 on timeout, -EINTR when *stop became set, -ECONNRESET when the server closed, other
 * negative errnos on protocol or socket errors. wake_fd >= 0 is polled too: -EAGAIN when it
 * became readable first (no message taken). */
int cli_ws_next(cli_ws_t *ws, int timeout_ms, int wake_fd, volatile int *stop, json_t **out);

/* Sends a close (1000) and frees everything. Safe on a connection that never opened. */
void cli_ws_close(cli_ws_t *ws);

#endif
