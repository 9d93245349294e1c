/* Chat with an agent over the WebSocket, through its stdin: a user's message goes to the agent
 * as one JSON line {"type":"chat","message":…} (POST /api/v1/agents/{id}/stdin through the
 * registry, so the auth hook decides), and the agent's stdout lines stream back as stream_start,
 * stream_chunk {content} and stream_end {full_response}. History is kept per connection,
 * bounded, and paginated (get_history, clear_history); with a session (a "session" message)
 * it is also stored and comes back when another connection resumes that session. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/hub.h"
#include "core/jsonx.h"
#include "core/strbuf.h"
#include "net/ws_chat_store.h"
#include "net/ws_internal.h"

#define WS_CHAT_HISTORY_MAX WS_CHAT_STORE_TURNS /* turns kept; the oldest go first */
#define WS_CHAT_MESSAGE_MAX (60 * 1024) /* a user's message (the stdin write is 64 KiB at most) */
#define WS_CHAT_PAGE_MAX    100
#define WS_CHAT_AGENT_MAX   128

struct ws_chat {
    bus_sub_t *sub; /* the answering agent's output, while an answer streams */
    char agent[WS_CHAT_AGENT_MAX];
    strbuf_t answer; /* the answer so far (bounded by websocket.max_message) */
    json_t *history; /* array of {role, content, agent, ts} */
    ws_conn_t *ws;
    char session[WS_CHAT_SESSION_LEN + 1]; /* "" until a session message binds one */
    int64_t seq;                           /* the session's last stored turn number */
    ws_chat_load_t *load;                  /* the session's turns being read, or NULL */
    json_t *load_id;                       /* the session message's id, for its answer */
};

static ws_chat_t *ws_chat_get(ws_conn_t *ws)
{
    if (!ws->chat) {
        ws_chat_t *c = calloc(1, sizeof *c);
        if (!c || !(c->history = json_array())) {
            free(c);
            return NULL;
        }
        strbuf_init(&c->answer, (size_t)ws->srv->hub->cfg.ws_max_message);
        c->ws = ws;
        ws->chat = c;
    }
    return ws->chat;
}

static void ws_chat_history_trim(ws_chat_t *c)
{
    while (json_array_size(c->history) > WS_CHAT_HISTORY_MAX)
        json_array_remove(c->history, 0);
}

static void ws_chat_history_add(ws_chat_t *c, const char *role, const char *agent,
                                const char *content, size_t len)
{
    json_t *turn =
        json_pack("{s:s,s:s,s:s%,s:I}", "role", role, "agent", agent, "content",
                  content ? content : "", content ? len : 0, "ts", (json_int_t)clock_wall_ms());
    if (!turn)
        return;
    json_array_append(c->history, turn);
    ws_chat_history_trim(c);
    if (c->session[0]) {
        /* numbers rise with time, so two connections on one session rarely collide */
        int64_t seq = clock_wall_ms() * 1000;
        c->seq = seq > c->seq ? seq : c->seq + 1;
        ws_chat_store_turn(c->ws->srv->hub, c->session, c->seq, turn);
    }
    json_decref(turn);
}

/* The session's stored turns came back: they go before what this connection said meanwhile. */
static void ws_chat_session_loaded(void *ud, json_t *turns, int64_t last_seq)
{
    ws_chat_t *c = ud;
    ws_conn_t *ws = c->ws;
    c->load = NULL;
    json_t *id = c->load_id;
    c->load_id = NULL;
    if (!turns) {
        ws_send_problem(ws, "error", id,
                        problem_new(503, "store-unavailable",
                                    "the session's history could not be read; new turns are "
                                    "still stored"));
    } else {
        size_t n = json_array_size(turns);
        json_array_extend(turns, c->history);
        json_decref(c->history);
        c->history = turns;
        ws_chat_history_trim(c);
        if (last_seq > c->seq)
            c->seq = last_seq;
        json_t *m = json_pack("{s:s,s:s,s:I}", "type", "session", "session", c->session, "restored",
                              (json_int_t)n);
        if (m && id)
            json_object_set(m, "id", id);
        ws_send_json(ws, m);
    }
    json_decref(id);
    ws_flush(ws);
}

/* {"type":"session","session":"cs-…"} resumes a stored session; without "session" a new one
 * starts. Once per connection. */
static void ws_chat_session(ws_conn_t *ws, json_t *root)
{
    json_t *id = json_object_get(root, "id");
    const char *want = json_string_value(json_object_get(root, "session"));
    problem_t *p = NULL;
    if (json_object_get(root, "session") && !ws_chat_session_valid(want))
        problem_field_error(&p, "message", "session",
                            "must be a session id as a session message answered (cs-…)");
    ws_chat_t *c = p ? NULL : ws_chat_get(ws);
    if (!p && !c)
        p = problem_new(503, "out-of-memory", "the chat could not be held");
    if (!p && c->session[0])
        p = problem_new(409, "session-bound",
                        "this connection already holds session %s; open another connection "
                        "for another session",
                        c->session);
    if (p) {
        ws_send_problem(ws, "error", id, p);
        return;
    }
    if (!want) {
        ws_chat_session_new(c->session);
        json_t *m =
            json_pack("{s:s,s:s,s:i}", "type", "session", "session", c->session, "restored", 0);
        if (m && id)
            json_object_set(m, "id", id);
        ws_send_json(ws, m);
        return;
    }
    snprintf(c->session, sizeof c->session, "%s", want);
    c->load_id = json_incref(id);
    c->load = ws_chat_store_load(ws->srv->hub, c->session, ws_chat_session_loaded, c);
    if (!c->load) {
        json_decref(c->load_id);
        c->load_id = NULL;
        ws_send_problem(
            ws, "error", id,
            problem_new(503, "store-unavailable", "the session's history could not be read"));
    }
}

/* Ends the streaming answer: stream_end with the whole answer, one history turn. */
static void ws_chat_end(ws_conn_t *ws, ws_chat_t *c, const char *why)
{
    if (!c->sub)
        return;
    bus_unsubscribe(ws->srv->hub->bus, &c->sub);
    const char *text = c->answer.data ? c->answer.data : "";
    json_t *m = json_pack("{s:s,s:s,s:s%}", "type", "stream_end", "agent", c->agent,
                          "full_response", text, c->answer.len);
    if (m && why)
        json_object_set_new(m, "interrupted", json_string(why));
    ws_send_json(ws, m);
    ws_chat_history_add(c, "assistant", c->agent, text, c->answer.len);
    strbuf_reset(&c->answer);
}

/* One line of the agent's output: {"type":"chunk","content":…} or {"type":"end"} as JSON, any
 * other line a chunk of its own (with its line break). */
static void ws_chat_on_output(bus_event_t *ev, void *ud)
{
    ws_conn_t *ws = ud;
    ws_chat_t *c = ws->chat;
    if (!c || ws->closing)
        return;
    json_t *line = json_loadb(ev->data, ev->data_len, 0, NULL);
    size_t tl = strlen(ev->topic);
    if (tl > 7 && strcmp(ev->topic + tl - 7, ".status") == 0) {
        /* an agent that ends mid-answer ends the answer: the client does not wait forever */
        const char *st = json_string_value(json_object_get(line, "status"));
        if (st && (strcmp(st, "completed") == 0 || strcmp(st, "failed") == 0 ||
                   strcmp(st, "terminated") == 0 || strcmp(st, "lost") == 0))
            ws_chat_end(ws, c, "the agent ended");
        json_decref(line);
        ws_flush(ws);
        return;
    }
    const char *stream = json_string_value(json_object_get(line, "stream"));
    json_t *text = json_object_get(line, "text");
    if (!json_is_string(text) || (stream && strcmp(stream, "stdout") != 0)) {
        json_decref(line);
        return;
    }
    json_t *msg = NULL;
    const char *t = json_string_value(text);
    if (t[0] == '{')
        msg = json_loadb(t, json_string_length(text), 0, NULL);
    const char *type = json_string_value(json_object_get(msg, "type"));
    if (type && strcmp(type, "end") == 0) {
        ws_chat_end(ws, c, NULL);
    } else {
        json_t *content =
            type && strcmp(type, "chunk") == 0 ? json_object_get(msg, "content") : NULL;
        char *own = NULL;
        const char *s = json_string_value(content);
        size_t n = s ? json_string_length(content) : 0;
        if (!s) { /* a plain line */
            n = json_string_length(text);
            own = malloc(n + 2);
            if (own) {
                memcpy(own, t, n);
                own[n++] = '\n';
                own[n] = '\0';
            }
            s = own;
        }
        if (s) {
            if (strbuf_append(&c->answer, s, n) < 0) {
                ws_chat_end(ws, c, "the answer exceeds websocket.max_message");
            } else {
                ws_send_json(ws, json_pack("{s:s,s:s,s:s%}", "type", "stream_chunk", "agent",
                                           c->agent, "content", s, n));
            }
        }
        free(own);
    }
    json_decref(msg);
    json_decref(line);
    ws_flush(ws);
}

void ws_chat_reply(ws_conn_t *ws, ws_rq_t *rq, const api_reply_t *r)
{
    ws_chat_t *c = ws->chat;
    json_t *body = r->json        ? json_incref(r->json)
                   : r->json_text ? json_loadb(r->json_text, r->json_text_len, 0, NULL)
                                  : NULL;
    if (r->status < 200 || r->status >= 300 || !c) {
        json_t *m = json_pack("{s:s,s:i,s:o*}", "type", "error", "status", r->status, "body", body);
        if (m && rq->id)
            json_object_set(m, "id", rq->id);
        ws_send_json(ws, m);
        return;
    }
    const char *id = json_string_value(json_object_get(body, "id"));
    char topic[2 * WS_CHAT_AGENT_MAX + 32];
    if (id && strlen(id) < WS_CHAT_AGENT_MAX) {
        snprintf(c->agent, sizeof c->agent, "%s", id);
        snprintf(topic, sizeof topic, "agent.%s.output,agent.%s.status", id, id);
        /* the write has just been queued: the agent's answer is read on this loop later, so
         * nothing of it is published before this subscription */
        c->sub = bus_subscribe(ws->srv->hub->bus, topic, ws_chat_on_output, ws);
    }
    json_decref(body);
    if (!c->sub) {
        ws_send_problem(ws, "error", rq->id,
                        problem_new(500, "internal", "the agent's output could not be followed"));
        return;
    }
    strbuf_reset(&c->answer);
    json_t *m = json_pack("{s:s,s:s}", "type", "stream_start", "agent", c->agent);
    if (m && rq->id)
        json_object_set(m, "id", rq->id);
    ws_send_json(ws, m);
}

/* {"type":"chat","agent":"ID or name","message":"…"}. */
static void ws_chat_send(ws_conn_t *ws, json_t *root)
{
    json_t *id = json_object_get(root, "id");
    const char *agent = json_string_value(json_object_get(root, "agent"));
    json_t *message = json_object_get(root, "message");
    if (!message)
        message = json_object_get(root, "content"); /* SutazAI's field name */
    problem_t *p = NULL;
    if (!agent || !*agent || strlen(agent) >= WS_CHAT_AGENT_MAX || strchr(agent, '/'))
        problem_field_error(&p, "message", "agent", "must name an agent (id or name)");
    if (!json_is_string(message) || json_string_length(message) > WS_CHAT_MESSAGE_MAX)
        problem_field_error(&p, "message", "message", "must be a string of at most %d bytes",
                            WS_CHAT_MESSAGE_MAX);
    ws_chat_t *c = p ? NULL : ws_chat_get(ws);
    if (!p && !c)
        p = problem_new(503, "out-of-memory", "the chat could not be held");
    if (p) {
        ws_send_problem(ws, "error", id, p);
        return;
    }
    ws_chat_end(ws, c, "a new message was sent"); /* one answer streams at a time */
    json_t *line = json_pack("{s:s,s:O}", "type", "chat", "message", message);
    char *text = line ? jsonx_dump(line, NULL) : NULL;
    json_decref(line);
    json_t *body = text ? json_pack("{s:s+}", "text", text, "\n") : NULL;
    free(text);
    char path[WS_CHAT_AGENT_MAX + 32];
    snprintf(path, sizeof path, "/api/v1/agents/%s/stdin", agent);
    if (!body) {
        ws_send_problem(ws, "error", id,
                        problem_new(503, "out-of-memory", "the chat could not be held"));
        return;
    }
    ws_chat_history_add(c, "user", agent, json_string_value(message), json_string_length(message));
    api_call_t call;
    memset(&call, 0, sizeof call);
    call.method = "POST";
    call.path = path;
    call.body_json = body;
    call.content_type = "application/json";
    ws_dispatch(ws, WS_RQ_CHAT, id, &call, ws->token);
    json_decref(body);
}

/* {"type":"get_history","offset":0,"limit":50}: oldest first. */
static void ws_chat_history(ws_conn_t *ws, json_t *root)
{
    ws_chat_t *c = ws->chat;
    size_t total = c ? json_array_size(c->history) : 0;
    json_int_t off = json_integer_value(json_object_get(root, "offset"));
    json_int_t lim =
        json_object_get(root, "limit") ? json_integer_value(json_object_get(root, "limit")) : 50;
    if (off < 0)
        off = 0;
    if (lim < 1 || lim > WS_CHAT_PAGE_MAX)
        lim = lim < 1 ? 1 : WS_CHAT_PAGE_MAX;
    json_t *page = json_array();
    for (size_t i = (size_t)off; c && page && i < total && i < (size_t)(off + lim); i++)
        json_array_append(page, json_array_get(c->history, i));
    json_t *m = json_pack("{s:s,s:o*,s:I,s:I,s:I,s:b}", "type", "history", "messages", page,
                          "total", (json_int_t)total, "offset", off, "limit", lim, "has_more",
                          (size_t)(off + lim) < total);
    if (m && json_object_get(root, "id"))
        json_object_set(m, "id", json_object_get(root, "id"));
    ws_send_json(ws, m);
}

bool ws_chat_message(ws_conn_t *ws, const char *type, json_t *root)
{
    if (strcmp(type, "chat") == 0) {
        ws_chat_send(ws, root);
    } else if (strcmp(type, "get_history") == 0) {
        ws_chat_history(ws, root);
    } else if (strcmp(type, "session") == 0) {
        ws_chat_session(ws, root);
    } else if (strcmp(type, "clear_history") == 0) {
        if (ws->chat) {
            json_array_clear(ws->chat->history);
            if (ws->chat->session[0])
                ws_chat_store_clear(ws->srv->hub, ws->chat->session);
        }
        ws_send_json(ws, json_pack("{s:s}", "type", "history_cleared"));
    } else if (strcmp(type, "pong") != 0 && strcmp(type, "error") != 0) {
        return false; /* a client's pong or error report needs no answer */
    }
    return true;
}

void ws_chat_free(ws_conn_t *ws)
{
    ws_chat_t *c = ws->chat;
    if (!c)
        return;
    if (c->sub)
        bus_unsubscribe(ws->srv->hub->bus, &c->sub);
    ws_chat_load_detach(c->load);
    json_decref(c->load_id);
    strbuf_free(&c->answer);
    json_decref(c->history);
    free(c);
    ws->chat = NULL;
}
