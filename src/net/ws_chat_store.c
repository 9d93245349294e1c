/* Chat history in the store (see ws_chat_store.h): one ordered store job per turn, clear or
 * load; the loop thread hands them over and hears back only for loads. */
#include "net/ws_chat_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/hub.h"
#include "core/log.h"
#include "store/store.h"

enum { WS_CHAT_JOB_TURN, WS_CHAT_JOB_CLEAR, WS_CHAT_JOB_LOAD };

struct ws_chat_load {
    ws_chat_load_fn fn; /* NULL once detached */
    void *ud;
};

typedef struct ws_chat_job {
    int kind;
    char session[WS_CHAT_SESSION_LEN + 1];
    int64_t seq, ts;
    char *role, *agent, *content;
    json_t *rows;         /* a load's result */
    ws_chat_load_t *load; /* a load's requester link (owned by the job) */
} ws_chat_job_t;

bool ws_chat_session_valid(const char *s)
{
    if (!s || strlen(s) != WS_CHAT_SESSION_LEN || strncmp(s, "cs-", 3) != 0)
        return false;
    for (s += 3; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

void ws_chat_session_new(char out[WS_CHAT_SESSION_LEN + 1])
{
    unsigned char rnd[16];
    randombytes_buf(rnd, sizeof rnd);
    memcpy(out, "cs-", 3);
    sodium_bin2hex(out + 3, WS_CHAT_SESSION_LEN - 2, rnd, sizeof rnd);
}

static void ws_chat_job_free(ws_chat_job_t *j)
{
    free(j->role);
    free(j->agent);
    free(j->content);
    json_decref(j->rows);
    free(j->load);
    free(j);
}

static int ws_chat_job_work(store_conn_t *c, void *ud)
{
    ws_chat_job_t *j = ud;
    store_val_t sess = STORE_TEXTV(j->session);
    if (j->kind == WS_CHAT_JOB_CLEAR)
        return store_query(c, "DELETE FROM chat_turns WHERE session = $1", &sess, 1, NULL, NULL);
    if (j->kind == WS_CHAT_JOB_LOAD) {
        store_val_t p[] = {sess, STORE_INTV(WS_CHAT_STORE_TURNS)};
        return store_query(c,
                           "SELECT seq, role, agent, content, ts FROM chat_turns WHERE session = $1"
                           " ORDER BY seq DESC LIMIT $2",
                           p, 2, &j->rows, NULL);
    }
    store_val_t p[] = {sess,
                       STORE_INTV(j->seq),
                       STORE_TEXTV(j->role),
                       STORE_TEXTV(j->agent),
                       STORE_TEXTV(j->content),
                       STORE_INTV(j->ts)};
    int rc = store_query(c,
                         "INSERT INTO chat_turns (session, seq, role, agent, content, ts)"
                         " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                         p, 6, NULL, NULL);
    if (rc < 0)
        return rc;
    /* the bound: the session's newest WS_CHAT_STORE_TURNS stay */
    store_val_t q[] = {sess, sess, STORE_INTV(WS_CHAT_STORE_TURNS - 1)};
    return store_query(c,
                       "DELETE FROM chat_turns WHERE session = $1 AND seq < (SELECT seq FROM"
                       " chat_turns WHERE session = $2 ORDER BY seq DESC LIMIT 1 OFFSET $3)",
                       q, 3, NULL, NULL);
}

static void ws_chat_job_done(int status, void *ud)
{
    ws_chat_job_t *j = ud;
    if (status < 0)
        log_error(NULL, "chat history: a store job failed", "{s:s,s:i}", "session", j->session,
                  "code", status);
    if (j->kind == WS_CHAT_JOB_LOAD && j->load->fn) {
        json_t *turns = NULL;
        int64_t last = 0;
        if (status >= 0 && j->rows && (turns = json_array())) {
            for (size_t i = json_array_size(j->rows); i-- > 0;) {
                json_t *r = json_array_get(j->rows, i);
                int64_t seq = json_integer_value(json_object_get(r, "seq"));
                if (seq > last)
                    last = seq;
                json_array_append_new(turns, json_pack("{s:O,s:O,s:O,s:O}", "role",
                                                       json_object_get(r, "role"), "agent",
                                                       json_object_get(r, "agent"), "content",
                                                       json_object_get(r, "content"), "ts",
                                                       json_object_get(r, "ts")));
            }
        }
        j->load->fn(j->load->ud, turns, last);
    }
    ws_chat_job_free(j);
}

static int ws_chat_job_submit(struct hub *hub, ws_chat_job_t *j)
{
    if (!hub->store ||
        store_submit_ordered(hub->store, hub->loop, ws_chat_job_work, ws_chat_job_done, j) < 0) {
        log_error(NULL, "chat history: cannot queue a store job", "{s:s}", "session", j->session);
        return -1;
    }
    return 0;
}

static ws_chat_job_t *ws_chat_job_new(int kind, const char *session)
{
    ws_chat_job_t *j = calloc(1, sizeof *j);
    if (j) {
        j->kind = kind;
        snprintf(j->session, sizeof j->session, "%s", session);
    }
    return j;
}

void ws_chat_store_turn(struct hub *hub, const char *session, int64_t seq, const json_t *turn)
{
    ws_chat_job_t *j = ws_chat_job_new(WS_CHAT_JOB_TURN, session);
    if (!j)
        return;
    j->seq = seq;
    j->ts = json_integer_value(json_object_get(turn, "ts"));
    j->role = strdup(json_string_value(json_object_get(turn, "role")) ?: "");
    j->agent = strdup(json_string_value(json_object_get(turn, "agent")) ?: "");
    j->content = strdup(json_string_value(json_object_get(turn, "content")) ?: "");
    if (!j->role || !j->agent || !j->content || ws_chat_job_submit(hub, j) < 0)
        ws_chat_job_free(j);
}

void ws_chat_store_clear(struct hub *hub, const char *session)
{
    ws_chat_job_t *j = ws_chat_job_new(WS_CHAT_JOB_CLEAR, session);
    if (j && ws_chat_job_submit(hub, j) < 0)
        ws_chat_job_free(j);
}

ws_chat_load_t *ws_chat_store_load(struct hub *hub, const char *session, ws_chat_load_fn fn,
                                   void *ud)
{
    ws_chat_job_t *j = ws_chat_job_new(WS_CHAT_JOB_LOAD, session);
    if (!j || !(j->load = calloc(1, sizeof *j->load))) {
        free(j);
        return NULL;
    }
    j->load->fn = fn;
    j->load->ud = ud;
    ws_chat_load_t *l = j->load;
    if (ws_chat_job_submit(hub, j) < 0) {
        ws_chat_job_free(j);
        return NULL;
    }
    return l;
}

void ws_chat_load_detach(ws_chat_load_t *l)
{
    if (l)
        l->fn = NULL;
}

int ws_chat_store_retention_purge(store_conn_t *c, retention_batch_t *b, void *ud)
{
    (void)ud;
    int64_t age_s = b->cfg->retention_chat_max_age_s;
    if (age_s <= 0)
        return 0;
    store_val_t p[2] = {STORE_INTV(b->now_ms - age_s * 1000), STORE_INTV(b->limit)};
    return store_query(c,
                       "DELETE FROM chat_turns WHERE (session, seq) IN (SELECT session, seq"
                       " FROM chat_turns WHERE ts < $1 LIMIT $2)",
                       p, 2, NULL, &b->removed);
}
