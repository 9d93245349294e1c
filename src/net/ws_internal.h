/* What ws.c and ws_chat.c share, and nothing else includes: a WebSocket connection, a request
 * it holds in the registry, and the helpers that send messages and dispatch calls. */
#ifndef GANGLION_WS_INTERNAL_H
#define GANGLION_WS_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "api/api_owner.h"
#include "core/bus.h"
#include "core/problem.h"
#include "net/http_internal.h"
#include "net/ws_frame.h"
#include "net/zmq_envelope.h"

#define WS_PATH       "/api/v1/ws"
#define WS_PROTOCOL   "ganglion.v1" /* the optional subprotocol */
#define WS_TOPICS_MAX 4096          /* the joined topic list of a subscribe message */
#define WS_TOKEN_MAX  ZMQ_CODEC_TOKEN_MAX

enum { WS_RQ_RPC = 0, WS_RQ_AUTH, WS_RQ_SUBSCRIBE, WS_RQ_CHAT };

typedef struct ws_chat ws_chat_t;

typedef struct ws_rq ws_rq_t;

/* One WebSocket client; the connection's app pointer from the upgrade to ops->gone. */
struct ws_conn {
    int kind; /* HTTP_APP_WS */
    http_server_t *srv;
    http_conn_t *conn;
    ws_msg_t msg;
    size_t frame_max;    /* websocket.max_frame at the upgrade: the input buffer is sized for it */
    char *token;         /* the connection's credential (header or auth message), or NULL; owned */
    bus_sub_t *sub;      /* the event subscription, or NULL */
    api_viewer_t viewer; /* the subscription's reader: events it may not see are skipped */
    ws_rq_t *pending;
    size_t inflight;
    uint64_t events_sent;
    bool in_input;          /* the connection is inside ops->input: it flushes when that returns */
    bool closing;           /* a close frame is queued: nothing more is sent */
    bool slow;              /* the unwritten output passed queue_bytes */
    bool pinged;            /* idle: a ping went out and nothing came back yet */
    bool ending;            /* shutdown: close 1001 once the requests in flight are answered */
    ws_chat_t *chat;        /* chat state (ws_chat.c), or NULL before the first chat */
    ws_conn_t *prev, *next; /* srv->wss */
};

/* A request the registry holds for the client. */
struct ws_rq {
    ws_conn_t *ws;
    api_req_t *req;
    json_t *id; /* the envelope's id (RPC) or the control message's id, or NULL */
    int kind;
    ws_rq_t *prev, *next;
    char token[]; /* the credential for this request ("" when none) */
};

/* ---- ws.c ---- */

/* Appends one text message (nothing once closing; marks a client over queue_bytes slow). */
void ws_send(ws_conn_t *ws, const char *text, size_t len);
/* The same for a JSON value (stolen; NULL marks the client slow: out of memory). */
void ws_send_json(ws_conn_t *ws, json_t *v);
/* {"type": type, "status", "body": problem, "id"?} — no "type" (NULL) for an RPC reply; p is
 * destroyed. */
void ws_send_problem(ws_conn_t *ws, const char *type, json_t *id, problem_t *p);
/* Sends what was appended, or closes a slow client (1008). The last use of ws. */
void ws_flush(ws_conn_t *ws);
/* Hands a call to the registry for ws; the reply comes to ws_chat_reply for WS_RQ_CHAT. */
void ws_dispatch(ws_conn_t *ws, int kind, json_t *id, api_call_t *call, const char *token);

/* ---- ws_chat.c ---- */

/* A chat message type (chat, get_history, clear_history, and the client's pong and error):
 * true when handled. */
bool ws_chat_message(ws_conn_t *ws, const char *type, json_t *root);
/* The registry's answer to the stdin write of a chat message. */
void ws_chat_reply(ws_conn_t *ws, ws_rq_t *rq, const api_reply_t *r);
/* Shutdown or close: the chat's subscription and history go. */
void ws_chat_free(ws_conn_t *ws);

#endif
