/* An agent's pipes: stdout and stderr read into lines (split at agents.line_max, never dropped),
 * kept in the per-stream rings and published on agent.<id>.output; stream-JSON lines that
 * report a status or answer a custom action; bounded writes to stdin; custom actions. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agents/agents_internal.h"
#include "core/bus.h"
#include "core/clock.h"
#include "core/fmt.h"
#include "core/hub.h"
#include "core/log.h"

#define AGENTS_STDIN_QUEUE_MAX (1024 * 1024) /* bytes queued to a slow stdin reader */
#define AGENTS_ACTIONS_MAX     64            /* custom actions in flight per agent */
#define AGENTS_JSON_LINE_MAX   (64 * 1024)   /* stdout lines inspected as stream-JSON */

struct agents_action {
    agents_action_t *next;
    agent_t *agent; /* NULL once the agent is gone */
    api_req_t *req;
    char id[32];
    char *name;
    uv_timer_t timer;
    bool done;
};

/* ---- lines ---- */

static const char agents_b64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *agents_b64_encode(const unsigned char *p, size_t len)
{
    char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
    if (!out)
        return NULL;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        *o++ = agents_b64_chars[v >> 18];
        *o++ = agents_b64_chars[(v >> 12) & 63];
        *o++ = agents_b64_chars[(v >> 6) & 63];
        *o++ = agents_b64_chars[v & 63];
    }
    if (i < len) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0);
        *o++ = agents_b64_chars[v >> 18];
        *o++ = agents_b64_chars[(v >> 12) & 63];
        *o++ = i + 1 < len ? agents_b64_chars[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

char *agents_utf8_lossy(const char *p, size_t len, size_t *out_len)
{
    char *buf = malloc(len * 3 + 1);
    if (!buf)
        return NULL;
    size_t o = 0, i = 0;
    while (i < len) {
        size_t n = 1;
        unsigned char c = (unsigned char)p[i];
        if (c >= 0xC0 && c < 0xE0)
            n = 2;
        else if (c >= 0xE0 && c < 0xF0)
            n = 3;
        else if (c >= 0xF0 && c < 0xF8)
            n = 4;
        if (i + n <= len && agents_utf8_valid(p + i, n) && (c >= 0x80 ? n > 1 : true)) {
            memcpy(buf + o, p + i, n);
            o += n;
            i += n;
        } else {
            memcpy(buf + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += 1;
        }
    }
    buf[o] = '\0';
    *out_len = o;
    return buf;
}

/* Text with every invalid UTF-8 byte (and NUL) replaced by U+FFFD, as a JSON string. */
static json_t *agents_text_lossy(const char *p, size_t len)
{
    size_t n = 0;
    char *buf = agents_utf8_lossy(p, len, &n);
    json_t *s = buf ? json_stringn(buf, n) : NULL;
    free(buf);
    return s ? s : json_string("");
}

json_t *agents_line_json(const agent_t *a, const agents_line_t *l)
{
    (void)a;
    json_t *o = json_object();
    json_object_set_new(o, "seq", json_integer((json_int_t)l->seq));
    json_object_set_new(o, "stream", json_string(l->stream == AGENTS_STDERR ? "stderr" : "stdout"));
    json_object_set_new(o, "ts", json_integer(l->ts_ms));
    if (l->flags & AGENTS_LINE_BINARY) {
        json_object_set_new(o, "text", agents_text_lossy(l->data, l->len));
        char *b = agents_b64_encode((const unsigned char *)l->data, l->len);
        json_object_set_new(o, "data_b64", b ? json_string(b) : json_null());
        free(b);
    } else {
        json_object_set_new(o, "text", json_stringn_nocheck(l->data, l->len));
    }
    if (l->flags & AGENTS_LINE_CONT)
        json_object_set_new(o, "cont", json_true());
    if (l->flags & AGENTS_LINE_NOEOL)
        json_object_set_new(o, "noeol", json_true());
    return o;
}

/* Extra bytes each byte takes in a JSON string: 1 for the two-character escapes, 5 for the
 * other control characters (\u00XX), 0 for the rest (valid UTF-8 passes as it is). */
#define AGENTS_X5_8  5, 5, 5, 5, 5, 5, 5, 5
#define AGENTS_X0_8  0, 0, 0, 0, 0, 0, 0, 0
#define AGENTS_X0_32 AGENTS_X0_8, AGENTS_X0_8, AGENTS_X0_8, AGENTS_X0_8
static const unsigned char agents_json_extra[256] = {
    /* 0x00-0x07 */ AGENTS_X5_8,
    /* \b \t \n 0x0B \f \r 0x0E 0x0F */ 1,
    1,
    1,
    5,
    1,
    1,
    5,
    5,
    /* 0x10-0x1F */ AGENTS_X5_8,
    AGENTS_X5_8,
    /* ' ' '!' '"' */ 0,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    AGENTS_X0_8,
    AGENTS_X0_8,
    AGENTS_X0_8,
    /* 0x40-0x5B */ AGENTS_X0_8,
    AGENTS_X0_8,
    AGENTS_X0_8,
    0,
    0,
    0,
    0,
    /* '\\' */ 1,
    0,
    0,
    0,
    AGENTS_X0_32,
    /* 0x80-0xFF */ AGENTS_X0_32,
    AGENTS_X0_32,
    AGENTS_X0_32,
    AGENTS_X0_32};

size_t agents_json_escaped_len(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = len;
    for (size_t i = 0; i < len; i++)
        n += agents_json_extra[p[i]];
    return n;
}

char *agents_json_escape(char *o, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t run = i;
        /* eight bytes at a time while none is below 0x20, a quote or a backslash */
        while (len - run >= 8) {
            uint64_t w, q, b;
            memcpy(&w, p + run, 8);
            q = w ^ 0x2222222222222222ull; /* '"' bytes become zero */
            b = w ^ 0x5C5C5C5C5C5C5C5Cull; /* '\\' bytes become zero */
            if (((w - 0x2020202020202020ull) | (q - 0x0101010101010101ull) |
                 (b - 0x0101010101010101ull)) &
                ~w & 0x8080808080808080ull)
                break;
            run += 8;
        }
        while (run < len && !agents_json_extra[p[run]])
            run++;
        memcpy(o, p + i, run - i); /* the plain stretch in one copy */
        o += run - i;
        if (run == len)
            break;
        unsigned char c = p[run];
        *o++ = '\\';
        switch (c) {
        case '"':
        case '\\':
            *o++ = (char)c;
            break;
        case '\b':
            *o++ = 'b';
            break;
        case '\f':
            *o++ = 'f';
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\r':
            *o++ = 'r';
            break;
        case '\t':
            *o++ = 't';
            break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
        i = run + 1;
    }
    return o;
}

/* AGENTS_LINE_JSON_FIXED: a line's JSON without its text (keys, two 20-digit numbers and
 * both flags) takes 109 bytes. The object written is the same as
 * json_dumps(agents_line_json(), COMPACT). */
char *agents_line_json_write(char *o, const agents_line_t *l)
{
    o = mempcpy(o, "{\"seq\":", 7);
    o += fmt_u64(o, l->seq); /* snprintf would cost more than the rest of the event */
    o = mempcpy(o,
                l->stream == AGENTS_STDERR ? ",\"stream\":\"stderr\",\"ts\":"
                                           : ",\"stream\":\"stdout\",\"ts\":",
                24);
    o += fmt_i64(o, l->ts_ms);
    o = mempcpy(o, ",\"text\":\"", 9);
    o = agents_json_escape(o, l->data, l->len);
    *o++ = '"';
    if (l->flags & AGENTS_LINE_CONT)
        o = mempcpy(o, ",\"cont\":true", 12);
    if (l->flags & AGENTS_LINE_NOEOL)
        o = mempcpy(o, ",\"noeol\":true", 13);
    *o++ = '}';
    return o;
}

/* The output event of a text line, written directly into the module's scratch buffer (the
 * flood's hot path: one pass over the text, no allocation once the buffer has grown). NULL on
 * OOM. The text is borrowed until the next call. */
static const char *agents_line_event_text(agents_t *ag, const agents_line_t *l, size_t *out_len)
{
    size_t need = AGENTS_LINE_JSON_FIXED + (size_t)l->len * 6 + 1; /* \u00XX at worst */
    if (need > ag->scratch_cap) {
        char *nb = realloc(ag->scratch, need);
        if (!nb)
            return NULL;
        ag->scratch = nb;
        ag->scratch_cap = need;
    }
    char *o = agents_line_json_write(ag->scratch, l);
    *o = '\0';
    *out_len = (size_t)(o - ag->scratch);
    return ag->scratch;
}

char *agents_lines_json_text(const agents_line_t *const *lines, size_t n)
{
    size_t cap = 3;
    for (size_t i = 0; i < n; i++)
        cap += AGENTS_LINE_JSON_FIXED + 1 + agents_json_escaped_len(lines[i]->data, lines[i]->len);
    char *buf = malloc(cap), *o = buf;
    if (!buf)
        return NULL;
    *o++ = '[';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *o++ = ',';
        if (!(lines[i]->flags & AGENTS_LINE_BINARY)) {
            o = agents_line_json_write(o, lines[i]);
            continue;
        }
        /* binary lines (rare) carry data_b64: jansson writes those */
        json_t *j = agents_line_json(NULL, lines[i]);
        char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        size_t tl = t ? strlen(t) : 0, at = (size_t)(o - buf);
        char *nb = t ? realloc(buf, cap + tl) : NULL;
        if (!nb) {
            free(t);
            free(buf);
            return NULL;
        }
        buf = nb;
        cap += tl;
        o = mempcpy(buf + at, t, tl);
        free(t);
    }
    *o++ = ']';
    *o = '\0';
    return buf;
}

static void agents_action_finish(agents_action_t *act, json_t *result, json_t *error);
static agents_action_t **agents_action_find(agent_t *a, const char *id);

/* A stdout line that is a JSON object with a "type": the agent reporting its state, or
 * answering a custom action. Other lines are plain output. */
static void agents_stream_json(agent_t *a, const char *p, size_t len)
{
    if (len < 10 || len > AGENTS_JSON_LINE_MAX || p[0] != '{' || !memmem(p, len, "\"type\"", 6))
        return;
    json_t *j = json_loadb(p, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return;
    }
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!type) {
        json_decref(j);
        return;
    }
    agents_status_t to = AGENTS_STATUS_COUNT;
    hub_t *hub = a->owner->hub;
    if (!strncmp(type, "task_", 5) && hub->agent_task_line) {
        /* a task's progress or result: the tasks domain's (docs/tasks.md) */
        hub->agent_task_line(hub->agent_task_line_ud, a->id, j);
    } else if (!strcmp(type, "action_result")) {
        const char *id = json_string_value(json_object_get(j, "id"));
        agents_action_t **pp = id ? agents_action_find(a, id) : NULL;
        if (pp) {
            agents_action_t *act = *pp;
            *pp = act->next;
            act->next = NULL;
            agents_action_finish(act, json_object_get(j, "result"), json_object_get(j, "error"));
        }
    } else if (!strcmp(type, "status")) {
        const char *s = json_string_value(json_object_get(j, "status"));
        if (s && !strcmp(s, "thinking"))
            to = AGENTS_THINKING;
        else if (s && !strcmp(s, "running"))
            to = AGENTS_RUNNING;
    } else if (!strcmp(type, "thinking")) {
        to = AGENTS_THINKING;
    } else if (!strcmp(type, "assistant")) {
        /* claude stream-json: a message whose content has a thinking block */
        json_t *content = json_object_get(json_object_get(j, "message"), "content");
        size_t i;
        json_t *blk;
        to = AGENTS_RUNNING;
        json_array_foreach(content, i, blk)
        {
            const char *bt = json_string_value(json_object_get(blk, "type"));
            if (bt && !strcmp(bt, "thinking"))
                to = AGENTS_THINKING;
        }
    } else if (!strcmp(type, "user") || !strcmp(type, "tool_use") || !strcmp(type, "tool_result") ||
               !strcmp(type, "text")) {
        to = AGENTS_RUNNING;
    }
    /* only between running and thinking: never override paused or stopping */
    if ((to == AGENTS_THINKING && a->status == AGENTS_RUNNING) ||
        (to == AGENTS_RUNNING && a->status == AGENTS_THINKING))
        agents_status_set(a, to, NULL);
    json_decref(j);
}

void agents_output_line(agent_t *a, int stream, const char *p, size_t len, unsigned flags,
                        int64_t ts_ms)
{
    agents_t *ag = a->owner;
    if (!agents_utf8_valid(p, len))
        flags |= AGENTS_LINE_BINARY;
    /* the tail of a split line is not a line of its own for stream-JSON */
    const agents_line_t *prev =
        a->ring[stream].n ? agents_ring_at(&a->ring[stream], a->ring[stream].n - 1) : NULL;
    bool whole = !(flags & (AGENTS_LINE_CONT | AGENTS_LINE_BINARY | AGENTS_LINE_NOEOL)) &&
                 !(prev && (prev->flags & AGENTS_LINE_CONT));
    uint64_t seq = ++a->seq;
    a->lines_total[stream]++;
    ag->lines_total++;
    int rc = agents_ring_push(&a->ring[stream], seq, ts_ms, stream, p, len, flags);
    if (rc < 0)
        log_warn(NULL, "agents: output line not kept", "{s:s,s:I,s:i}", "agent", a->id, "seq",
                 (json_int_t)seq, "error", rc);
    if (ag->hub->bus && rc == 0) {
        /* "agent.<id>.output" without snprintf; the id is the daemon's own hex, so the topic
         * is valid by construction */
        char topic[6 + AGENTS_ID_LEN + 8];
        size_t il = strnlen(a->id, AGENTS_ID_LEN);
        memcpy(topic, "agent.", 6);
        memcpy(topic + 6, a->id, il);
        memcpy(topic + 6 + il, ".output", 8);
        const agents_line_t *l = agents_ring_at(&a->ring[stream], a->ring[stream].n - 1);
        size_t n = 0;
        const char *text = (flags & AGENTS_LINE_BINARY) ? NULL : agents_line_event_text(ag, l, &n);
        if (text)
            bus_publish_text(ag->hub->bus, topic, text, n);
        else
            bus_publish(ag->hub->bus, topic, agents_line_json(a, l));
    }
    if (ag->hub->agent_output && rc == 0) {
        if (flags & AGENTS_LINE_BINARY) {
            size_t n = 0;
            char *text = agents_utf8_lossy(p, len, &n);
            if (text)
                ag->hub->agent_output(ag->hub->agent_output_ud, a->id, a->labels, text, n);
            free(text);
        } else {
            ag->hub->agent_output(ag->hub->agent_output_ud, a->id, a->labels, p, len);
        }
    }
    if (rc == 0)
        agents_log_line(a, agents_ring_at(&a->ring[stream], a->ring[stream].n - 1));
    if (stream == AGENTS_STDOUT && whole)
        agents_stream_json(a, p, len);
}

/* Splits a chunk into lines. A partial line waits in part[] until its newline, or until it
 * reaches line_max: then it is emitted as a record marked cont. */
static void agents_output_chunk(agent_t *a, int stream, const char *p, size_t len)
{
    agents_t *ag = a->owner;
    strbuf_t *part = &a->part[stream];
    int64_t ts = clock_wall_ms();
    a->bytes_total[stream] += len;
    while (len) {
        const char *nl = memchr(p, '\n', len);
        size_t take = nl ? (size_t)(nl - p) : len; /* bytes of the current line here */
        size_t room = ag->line_max - part->len;
        if (take > room || (!nl && take == room)) {
            if (part->len) {
                strbuf_append(part, p, room);
                agents_output_line(a, stream, part->data, part->len, AGENTS_LINE_CONT, ts);
                strbuf_reset(part);
            } else {
                agents_output_line(a, stream, p, room, AGENTS_LINE_CONT, ts);
            }
            p += room;
            len -= room;
            continue;
        }
        if (!nl) {
            strbuf_append(part, p, take);
            return;
        }
        if (part->len) {
            strbuf_append(part, p, take);
            agents_output_line(a, stream, part->data, part->len, 0, ts);
            strbuf_reset(part);
        } else {
            agents_output_line(a, stream, p, take, 0, ts);
        }
        p += take + 1;
        len -= take + 1;
    }
}

/* ---- pipes ---- */

static void agents_on_pipe_closed(uv_handle_t *h)
{
    agent_t *a = h->data;
    a->pending_close--;
    agents_agent_release(a);
}

static void agents_pipe_close(agent_t *a, int which)
{
    uv_pipe_t *p = which == 0 ? &a->in : which == 1 ? &a->out : &a->err;
    bool *open = which == 0 ? &a->in_open : which == 1 ? &a->out_open : &a->err_open;
    if (!*open)
        return;
    *open = false;
    if (which > 0) {
        strbuf_t *part = &a->part[which - 1];
        if (part->len) {
            agents_output_line(a, which - 1, part->data, part->len, AGENTS_LINE_NOEOL,
                               clock_wall_ms());
            strbuf_reset(part);
        }
        strbuf_free(part);
        strbuf_init(part, a->owner->line_max + 1);
        /* the last lines are on disk before the end is reported (a reply in this same turn) */
        if (!a->out_open && !a->err_open)
            agents_log_close(a);
    }
    a->pending_close++;
    uv_close((uv_handle_t *)p, agents_on_pipe_closed);
}

static void agents_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    agent_t *a = h->data;
    agents_t *ag = a->owner;
    /* one buffer for every pipe: read_cb consumes it before the next alloc. A read takes at
     * most what is left of the iteration's budget; past it, an empty buffer makes libuv
     * report UV_ENOBUFS and the pipe waits a turn */
    size_t left =
        ag->read_budget_used < AGENTS_READ_BUDGET ? AGENTS_READ_BUDGET - ag->read_budget_used : 0;
    if (left > sizeof ag->read_buf)
        left = sizeof ag->read_buf;
    *buf = uv_buf_init(left ? ag->read_buf : NULL, (unsigned)left);
}

static void agents_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    agent_t *a = s->data;
    int stream = s == (uv_stream_t *)&a->out ? AGENTS_STDOUT : AGENTS_STDERR;
    if (n > 0) {
        a->owner->read_budget_used += (size_t)n;
        agents_output_chunk(a, stream, buf->base, (size_t)n);
        agents_proc_output_seen(a);
        return;
    }
    if (n == 0)
        return;
    if (n == UV_ENOBUFS) {
        /* over the budget: the pipe stays watched (no epoll_ctl churn); epoll reports it
         * again next turn, after the pipes that were not served yet (its ready list
         * rotates), and the writer blocks on its full pipe meanwhile: nothing is lost */
        a->owner->throttled++;
        return;
    }
    agents_pipe_close(a, stream == AGENTS_STDOUT ? 1 : 2);
    agents_proc_drained(a);
}

/* After the poll phase: a new budget for the next turn. */
static void agents_on_read_check(uv_check_t *c)
{
    agents_t *ag = c->data;
    ag->read_budget_used = 0;
    agents_logs_flush(ag); /* the turn's lines to the log files, one write per agent */
}

void agents_io_init(agents_t *ag)
{
    uv_check_init(ag->hub->loop, &ag->read_check);
    ag->read_check.data = ag;
    uv_check_start(&ag->read_check, agents_on_read_check);
    uv_unref((uv_handle_t *)&ag->read_check);
    ag->read_check_open = true;
}

void agents_io_fini(agents_t *ag)
{
    free(ag->scratch);
    ag->scratch = NULL;
    ag->scratch_cap = 0;
    if (ag->read_check_open)
        uv_close((uv_handle_t *)&ag->read_check, NULL);
    ag->read_check_open = false;
}

static int agents_pipe_open(agent_t *a, uv_pipe_t *p, int fd, bool *open, bool read)
{
    int rc = uv_pipe_init(a->owner->hub->loop, p, 0);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    p->data = a;
    *open = true;
    rc = uv_pipe_open(p, fd);
    if (rc == 0 && read)
        rc = uv_read_start((uv_stream_t *)p, agents_on_alloc, agents_on_read);
    uv_unref((uv_handle_t *)p);
    return rc;
}

int agents_io_open(agent_t *a, int fd_in, int fd_out, int fd_err)
{
    int rc = agents_pipe_open(a, &a->in, fd_in, &a->in_open, false);
    int rc2 = agents_pipe_open(a, &a->out, fd_out, &a->out_open, true);
    int rc3 = agents_pipe_open(a, &a->err, fd_err, &a->err_open, true);
    if (rc < 0 || rc2 < 0 || rc3 < 0) {
        agents_io_close(a);
        return rc < 0 ? rc : rc2 < 0 ? rc2 : rc3;
    }
    return 0;
}

void agents_io_close(agent_t *a)
{
    agents_pipe_close(a, 0);
    agents_pipe_close(a, 1);
    agents_pipe_close(a, 2);
}

/* ---- stdin ---- */

static void agents_on_written(uv_write_t *w, int status)
{
    (void)status; /* EPIPE: the agent closed stdin or ended; the exit tells the rest */
    free(w->data);
    free(w);
}

problem_t *agents_stdin_write(agent_t *a, const char *data, size_t len, bool eof)
{
    if (!a->pid || !agents_status_live(a->status))
        return problem_new(409, "agent-not-running", "agent %s is %s", a->id,
                           agents_status_name(a->status));
    if (!a->in_open || a->stdin_closed)
        return problem_new(409, "stdin-closed", "the agent's stdin is closed");
    if (len) {
        if (uv_stream_get_write_queue_size((uv_stream_t *)&a->in) + len > AGENTS_STDIN_QUEUE_MAX)
            return problem_new(503, "stdin-full",
                               "the agent is not reading its stdin (1 MiB queued)");
        uv_write_t *w = malloc(sizeof *w);
        char *copy = malloc(len);
        if (!w || !copy) {
            free(w);
            free(copy);
            return problem_new(503, "out-of-memory", "the data could not be queued");
        }
        memcpy(copy, data, len);
        w->data = copy;
        uv_buf_t b = uv_buf_init(copy, (unsigned)len);
        int rc = uv_write(w, (uv_stream_t *)&a->in, &b, 1, agents_on_written);
        if (rc < 0) {
            free(w);
            free(copy);
            return problem_new(409, "stdin-closed", "cannot write to stdin: %s", uv_strerror(rc));
        }
    }
    if (eof) {
        a->stdin_closed = true;
        agents_pipe_close(a, 0); /* queued writes are cancelled: use eof on a later call */
    }
    return NULL;
}

/* ---- custom actions ---- */

static agents_action_t **agents_action_find(agent_t *a, const char *id)
{
    for (agents_action_t **pp = &a->actions; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->id, id) == 0)
            return pp;
    return NULL;
}

static void agents_on_action_closed(uv_handle_t *h)
{
    agents_action_t *act = h->data;
    free(act->name);
    free(act);
}

/* Replies and disposes of an action already unlinked from its agent. */
static void agents_action_finish(agents_action_t *act, json_t *result, json_t *error)
{
    agent_t *a = act->agent;
    if (error && !json_is_null(error)) {
        problem_t *p =
            problem_new(502, "action-failed", "the agent reported an error for %s", act->name);
        problem_ext_set(p, "agent_error", json_deep_copy(error));
        api_reply_problem(act->req, p);
    } else {
        api_reply_json(act->req, 200,
                       json_pack("{s:s,s:s,s:s,s:O}", "id", a ? a->id : "", "action_id", act->id,
                                 "name", act->name, "result", result ? result : json_null()));
    }
    uv_timer_stop(&act->timer);
    uv_close((uv_handle_t *)&act->timer, agents_on_action_closed);
}

static void agents_on_action_timeout(uv_timer_t *t)
{
    agents_action_t *act = t->data;
    agent_t *a = act->agent;
    agents_action_t **pp = agents_action_find(a, act->id);
    if (pp)
        *pp = act->next;
    a->owner->errors++;
    api_reply_problem(act->req, problem_new(504, "action-timeout",
                                            "agent %s did not answer action %s (%s) in time", a->id,
                                            act->name, act->id));
    uv_close((uv_handle_t *)&act->timer, agents_on_action_closed);
}

void agents_actions_fail(agent_t *a, int status, const char *slug, const char *detail)
{
    while (a->actions) {
        agents_action_t *act = a->actions;
        a->actions = act->next;
        uv_timer_stop(&act->timer);
        api_reply_problem(act->req, problem_new(status, slug, "action %s: %s", act->name, detail));
        uv_close((uv_handle_t *)&act->timer, agents_on_action_closed);
    }
}

static json_t *agents_builtin(agent_t *a, const char *name, json_t *params)
{
    if (!strcmp(name, "ping"))
        return json_pack("{s:b,s:s,s:b,s:I}", "pong", 1, "status", agents_status_name(a->status),
                         "alive", a->pid != 0, "ts", (json_int_t)clock_wall_ms());
    if (!strcmp(name, "echo"))
        return json_pack("{s:O}", "params", params ? params : json_null());
    if (!strcmp(name, "get_env")) {
        /* what ganglion set for the agent, not the daemon's own environment */
        json_t *env = json_object_get(a->spec, "env");
        json_t *out = env ? json_deep_copy(env) : json_object();
        json_object_set_new(out, "AGENT_ID", json_string(a->id));
        json_object_set_new(out, "AGENT_NAME", json_string(a->name ? a->name : ""));
        const char *ctx = json_string_value(json_object_get(a->spec, "context"));
        if (ctx)
            json_object_set_new(out, "AGENT_CONTEXT", json_string(ctx));
        json_t *names = json_object_get(params, "names");
        if (json_is_array(names)) {
            json_t *sel = json_object();
            size_t i;
            json_t *v;
            json_array_foreach(names, i, v)
            {
                json_t *val = json_is_string(v) ? json_object_get(out, json_string_value(v)) : NULL;
                if (val)
                    json_object_set(sel, json_string_value(v), val);
            }
            json_decref(out);
            out = sel;
        }
        return json_pack("{s:o}", "env", out);
    }
    return NULL;
}

void agents_action(agent_t *a, api_req_t *req, const char *name, json_t *params, int64_t timeout_ms)
{
    agents_t *ag = a->owner;
    json_t *builtin = agents_builtin(a, name, params);
    if (builtin) {
        api_reply_json(req, 200,
                       json_pack("{s:s,s:n,s:s,s:o}", "id", a->id, "action_id", "name", name,
                                 "result", builtin));
        return;
    }
    size_t n = 0;
    for (agents_action_t *x = a->actions; x; x = x->next)
        n++;
    problem_t *p = NULL;
    if (!a->pid || !agents_status_live(a->status) || !a->in_open || a->stdin_closed)
        p = problem_new(409, "agent-not-running", "agent %s is %s: it cannot answer %s", a->id,
                        agents_status_name(a->status), name);
    else if (n >= AGENTS_ACTIONS_MAX)
        p = problem_new(429, "too-many-actions", "%d actions are already waiting for agent %s",
                        AGENTS_ACTIONS_MAX, a->id);
    agents_action_t *act = NULL;
    if (!p) {
        act = calloc(1, sizeof *act);
        if (act)
            act->name = strdup(name);
        if (!act || !act->name) {
            free(act);
            act = NULL;
            p = problem_new(503, "out-of-memory", "the action could not be held");
        }
    }
    if (p || !act) {
        ag->errors++;
        api_reply_problem(req, p);
        return;
    }
    act->agent = a;
    act->req = req;
    snprintf(act->id, sizeof act->id, "act-%" PRIu64, ++a->action_seq);
    json_t *line = json_pack("{s:s,s:s,s:s,s:O}", "type", "action", "id", act->id, "name", name,
                             "params", params ? params : json_null());
    char *txt = line ? json_dumps(line, JSON_COMPACT) : NULL;
    json_decref(line);
    strbuf_t sb;
    strbuf_init(&sb, 0);
    if (txt) {
        strbuf_puts(&sb, txt);
        strbuf_append(&sb, "\n", 1);
    }
    free(txt);
    p = sb.data ? agents_stdin_write(a, sb.data, sb.len, false)
                : problem_new(503, "out-of-memory", "the action could not be encoded");
    strbuf_free(&sb);
    if (p) {
        free(act->name);
        free(act);
        ag->errors++;
        api_reply_problem(req, p);
        return;
    }
    uv_timer_init(ag->hub->loop, &act->timer);
    act->timer.data = act;
    uv_unref((uv_handle_t *)&act->timer);
    if (timeout_ms <= 0)
        timeout_ms = ag->hub->cfg.agents_action_timeout_ms;
    uv_timer_start(&act->timer, agents_on_action_timeout, (uint64_t)timeout_ms, 0);
    act->next = a->actions;
    a->actions = act;
}
