/* What `ganglion top` shows, kept apart from the terminal and the network: the agents' rows
 * (from one list, then from `agent.<id>.status|usage` events), the selection, and the selected
 * agent's last lines (from `agent.<id>.output`). Bounded: CLI_TOP_MAX_AGENTS rows and
 * CLI_TOP_LOG_LINES lines. */
#include "cli/cli_top.h"

#include "core/clock.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_top_model_init(cli_top_model_t *m, const char *url)
{
    memset(m, 0, sizeof *m);
    snprintf(m->url, sizeof m->url, "%s", url ? url : "");
}

void cli_top_model_free(cli_top_model_t *m)
{
    cli_top_model_log_reset(m, "");
    free(m->agents);
    m->agents = NULL;
    m->n = m->cap = 0;
}

void cli_top_model_say(cli_top_model_t *m, bool err, const char *fmt, ...)
{
    char raw[CLI_TOP_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    cli_sanitize(raw, m->msg, sizeof m->msg);
    m->msg_err = err;
}

cli_top_agent_t *cli_top_model_find(cli_top_model_t *m, const char *id)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->agents[i].id, id) == 0)
            return &m->agents[i];
    return NULL;
}

const cli_top_agent_t *cli_top_model_selected(const cli_top_model_t *m)
{
    return m->n ? &m->agents[m->sel < m->n ? m->sel : m->n - 1] : NULL;
}

void cli_top_model_select(cli_top_model_t *m, long delta)
{
    if (!m->n)
        return;
    long s = (long)m->sel + delta;
    if (s < 0)
        s = 0;
    if (s >= (long)m->n)
        s = (long)m->n - 1;
    m->sel = (size_t)s;
}

static void cli_top_copy(char *dst, size_t dstlen, const char *s)
{
    cli_sanitize(s ? s : "", dst, dstlen);
}

/* A new row at the end (the daemon lists agents in creation order, and new ones are newest). */
static cli_top_agent_t *cli_top_model_add(cli_top_model_t *m, const char *id)
{
    if (!id || !*id || strlen(id) > CLI_TOP_ID_MAX || m->n >= CLI_TOP_MAX_AGENTS)
        return NULL;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        cli_top_agent_t *na = realloc(m->agents, cap * sizeof *na);
        if (!na)
            return NULL;
        m->agents = na;
        m->cap = cap;
    }
    cli_top_agent_t *a = &m->agents[m->n++];
    memset(a, 0, sizeof *a);
    memcpy(a->id, id, strlen(id) + 1);
    return a;
}

static bool cli_top_status_alive(const char *st)
{
    return !strcmp(st, "running") || !strcmp(st, "thinking") || !strcmp(st, "paused") ||
           !strcmp(st, "initializing") || !strcmp(st, "stopping");
}

static void cli_top_usage_apply(cli_top_agent_t *a, const json_t *u)
{
    json_t *cpu = json_object_get(u, "cpu_percent"), *rss = json_object_get(u, "rss_bytes");
    if (!json_is_number(cpu) && !json_is_integer(rss))
        return;
    a->has_usage = true;
    if (json_is_number(cpu))
        a->cpu_percent = json_number_value(cpu);
    if (json_is_integer(rss))
        a->rss_bytes = (long long)json_integer_value(rss);
}

static void cli_top_agent_fill(cli_top_agent_t *a, const json_t *o)
{
    cli_top_copy(a->name, sizeof a->name, json_string_value(json_object_get(o, "name")));
    cli_top_copy(a->status, sizeof a->status, json_string_value(json_object_get(o, "status")));
    json_t *r = json_object_get(o, "restarts");
    a->restarts = json_is_integer(r) ? (long long)json_integer_value(r) : 0;
    const char *started = json_string_value(json_object_get(o, "started_at"));
    int64_t ms = 0;
    a->started_ms = started && clock_rfc3339_parse(started, &ms) == 0 ? ms : 0;
    json_t *u = json_object_get(o, "usage");
    if (json_is_object(u))
        cli_top_usage_apply(a, u);
    else
        a->has_usage = false;
    a->stale = false;
}

int cli_top_model_agent_apply(cli_top_model_t *m, const json_t *o)
{
    const char *id = json_string_value(json_object_get(o, "id"));
    if (!json_is_object(o) || !id)
        return -EINVAL;
    cli_top_agent_t *a = cli_top_model_find(m, id);
    if (!a && !(a = cli_top_model_add(m, id)))
        return -ENOMEM;
    cli_top_agent_fill(a, o);
    return 0;
}

int cli_top_model_list_apply(cli_top_model_t *m, const json_t *list)
{
    const json_t *arr = json_is_array(list) ? list : json_object_get(list, "agents");
    if (!json_is_array(arr))
        return -EINVAL;
    char keep[CLI_TOP_ID_MAX + 1] = "";
    const cli_top_agent_t *sel = cli_top_model_selected(m);
    if (sel)
        memcpy(keep, sel->id, sizeof keep);
    /* m->n > 0 only once m->agents is allocated; the analyzer takes &agents[k] of a NULL
     * agents for the NULL that cli_top_model_selected returns when n is 0 */
    for (size_t i = 0; i < m->n; i++)
        m->agents[i].stale = true; // NOLINT(clang-analyzer-core.NullDereference)
    size_t i;
    json_t *o;
    int rc = 0;
    json_array_foreach(arr, i, o)
    {
        if (cli_top_model_agent_apply(m, o) == -ENOMEM)
            rc = -ENOMEM;
    }
    /* rows the daemon no longer lists (forgotten agents) go */
    size_t w = 0;
    for (size_t r = 0; r < m->n; r++)
        if (!m->agents[r].stale)
            m->agents[w++] = m->agents[r];
    m->n = w;
    m->sel = 0;
    for (size_t r = 0; r < m->n; r++)
        if (strcmp(m->agents[r].id, keep) == 0)
            m->sel = r;
    return rc;
}

/* Asks the loop to fetch this agent's object once (its restarts and start time are not in the
 * status event). */
static void cli_top_model_want(cli_top_model_t *m, const char *id)
{
    for (size_t i = 0; i < m->want_n; i++)
        if (strcmp(m->want[i], id) == 0)
            return;
    if (m->want_n < sizeof m->want / sizeof m->want[0] && strlen(id) <= CLI_TOP_ID_MAX)
        memcpy(m->want[m->want_n++], id, strlen(id) + 1);
}

/* "agent.<id>.<kind>" → id and kind; false for other topics. */
static bool cli_top_topic_split(const char *event, char *id, size_t idlen, const char **kind)
{
    if (strncmp(event, "agent.", 6) != 0)
        return false;
    const char *s = event + 6, *dot = strchr(s, '.');
    if (!dot || dot == s || (size_t)(dot - s) >= idlen)
        return false;
    memcpy(id, s, (size_t)(dot - s));
    id[dot - s] = '\0';
    *kind = dot + 1;
    return true;
}

static bool cli_top_model_status(cli_top_model_t *m, const char *id, const json_t *d)
{
    const char *st = json_string_value(json_object_get(d, "status"));
    if (!st)
        return false;
    cli_top_agent_t *a = cli_top_model_find(m, id);
    bool fresh = !a;
    if (!a && !(a = cli_top_model_add(m, id)))
        return false;
    bool was_alive = !fresh && cli_top_status_alive(a->status);
    if (fresh)
        cli_top_copy(a->name, sizeof a->name, json_string_value(json_object_get(d, "name")));
    cli_top_copy(a->status, sizeof a->status, st);
    json_t *ts = json_object_get(d, "ts");
    if (cli_top_status_alive(st) && !was_alive) {
        /* a start or a restart: the status time is the start until the object says better */
        if (json_is_integer(ts))
            a->started_ms = (int64_t)json_integer_value(ts);
        cli_top_model_want(m, id);
    }
    if (!cli_top_status_alive(st))
        a->has_usage = false; /* no process, no usage */
    return true;
}

static bool cli_top_model_output(cli_top_model_t *m, const char *id, const json_t *d)
{
    if (strcmp(id, m->log_id) != 0)
        return false;
    json_t *seq = json_object_get(d, "seq");
    if (json_is_integer(seq)) {
        long long s = (long long)json_integer_value(seq);
        if (s <= m->log_seq)
            return false; /* already shown (the replay and the tail overlap) */
        m->log_seq = s;
    }
    const char *text = json_string_value(json_object_get(d, "text"));
    const char *stream = json_string_value(json_object_get(d, "stream"));
    if (!text)
        return false;
    cli_top_model_log_push(m, text, json_string_length(json_object_get(d, "text")),
                           stream && strcmp(stream, "stderr") == 0);
    return true;
}

bool cli_top_model_event(cli_top_model_t *m, const char *event, const char *data, size_t len)
{
    char id[CLI_TOP_ID_MAX + 1];
    const char *kind;
    if (!cli_top_topic_split(event, id, sizeof id, &kind))
        return false;
    json_t *d = json_loadb(data, len, 0, NULL);
    if (!json_is_object(d)) {
        json_decref(d);
        return false;
    }
    bool changed = false;
    if (strcmp(kind, "status") == 0) {
        changed = cli_top_model_status(m, id, d);
    } else if (strcmp(kind, "usage") == 0) {
        cli_top_agent_t *a = cli_top_model_find(m, id);
        if (a) {
            cli_top_usage_apply(a, d);
            changed = true;
        }
    } else if (strcmp(kind, "output") == 0) {
        changed = cli_top_model_output(m, id, d);
    }
    json_decref(d);
    return changed;
}

void cli_top_model_log_reset(cli_top_model_t *m, const char *id)
{
    for (size_t i = 0; i < CLI_TOP_LOG_LINES; i++) {
        free(m->log[i].text);
        m->log[i].text = NULL;
    }
    m->log_head = m->log_n = 0;
    m->log_seq = 0;
    snprintf(m->log_id, sizeof m->log_id, "%s", id ? id : "");
}

void cli_top_model_log_push(cli_top_model_t *m, const char *text, size_t len, bool err)
{
    if (len > CLI_TOP_LINE_MAX)
        len = CLI_TOP_LINE_MAX; /* cli_top_cut never splits a character when it draws */
    char *t = malloc(len + 1);
    if (!t)
        return;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        t[i] = c == '\t' ? ' ' : (char)c; /* other controls are replaced when drawn */
    }
    t[len] = '\0';
    size_t slot = (m->log_head + m->log_n) % CLI_TOP_LOG_LINES;
    if (m->log_n == CLI_TOP_LOG_LINES) {
        free(m->log[m->log_head].text);
        m->log_head = (m->log_head + 1) % CLI_TOP_LOG_LINES;
    } else {
        m->log_n++;
    }
    m->log[slot].text = t;
    m->log[slot].err = err;
}

void cli_top_model_log_apply(cli_top_model_t *m, const json_t *reply)
{
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(reply, "lines"), i, l)
    {
        json_t *seq = json_object_get(l, "seq");
        if (json_is_integer(seq) && (long long)json_integer_value(seq) <= m->log_seq)
            continue;
        if (json_is_integer(seq))
            m->log_seq = (long long)json_integer_value(seq);
        json_t *text = json_object_get(l, "text");
        const char *stream = json_string_value(json_object_get(l, "stream"));
        if (json_is_string(text))
            cli_top_model_log_push(m, json_string_value(text), json_string_length(text),
                                   stream && strcmp(stream, "stderr") == 0);
    }
    json_t *last = json_object_get(reply, "last_seq");
    if (json_is_integer(last) && (long long)json_integer_value(last) > m->log_seq)
        m->log_seq = (long long)json_integer_value(last);
}
