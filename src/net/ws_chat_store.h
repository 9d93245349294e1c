/* Chat history kept per session in the store (table chat_turns, migration 710 in the tasks
 * domain's list): turns written in order as they happen, at most WS_CHAT_STORE_TURNS per session
 * (the oldest go), a session's newest turns read back when a connection resumes it, a session
 * cleared. Writes are fire-and-forget (a failure is logged); jobs run in submission order. */
#ifndef GANGLION_NET_WS_CHAT_STORE_H
#define GANGLION_NET_WS_CHAT_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/retention.h"

struct hub;

#define WS_CHAT_STORE_TURNS 200
#define WS_CHAT_SESSION_LEN 35 /* "cs-" and 32 hex digits */

/* Whether s is a session id (cs- and 32 lowercase hex digits). */
bool ws_chat_session_valid(const char *s);
/* A new random session id into out. */
void ws_chat_session_new(char out[WS_CHAT_SESSION_LEN + 1]);

/* Stores one turn ({role, agent, content, ts}; borrowed) as number seq of the session. */
void ws_chat_store_turn(struct hub *hub, const char *session, int64_t seq, const json_t *turn);
/* Retention's purge of turns older than retention.chat_max_age_s (thread pool; serve.c
 * registers it). */
int ws_chat_store_retention_purge(store_conn_t *c, retention_batch_t *b, void *ud);
/* Forgets the session's turns. */
void ws_chat_store_clear(struct hub *hub, const char *session);

/* A load in flight; detach it (the requester went away) and the result is dropped. */
typedef struct ws_chat_load ws_chat_load_t;
/* turns: a new array oldest first (NULL when the read failed), last_seq the newest turn's
 * number (0 when none); ud as given. */
typedef void (*ws_chat_load_fn)(void *ud, json_t *turns, int64_t last_seq);
ws_chat_load_t *ws_chat_store_load(struct hub *hub, const char *session, ws_chat_load_fn fn,
                                   void *ud);
void ws_chat_load_detach(ws_chat_load_t *l);

#endif
