/* A task rendered straight to compact JSON text: the same document as tasks_task_json, without
 * building a jansson object first — every transition renders it once (the event, the row, the
 * replies), and building the object cost more than writing the row. Loop thread. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/strbuf.h"
#include "tasks/tasks_internal.h"

/* The text being written; bad once an append failed (out of memory): the result is dropped. */
typedef struct tasks_text {
    strbuf_t b;
    bool bad;
} tasks_text_t;

static void tasks_text_put(tasks_text_t *w, const char *s, size_t n)
{
    if (!w->bad && strbuf_append(&w->b, s, n) < 0)
        w->bad = true;
}

static void tasks_text_puts(tasks_text_t *w, const char *s)
{
    tasks_text_put(w, s, strlen(s));
}

/* A JSON string: quotes, backslashes and control characters escaped; UTF-8 passes as it is
 * (every string here came from validated JSON or from the daemon itself). */
static void tasks_text_str(tasks_text_t *w, const char *s)
{
    if (!s) {
        tasks_text_puts(w, "null");
        return;
    }
    tasks_text_puts(w, "\"");
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        tasks_text_put(w, run, (size_t)(s - run));
        char esc[8];
        switch (c) {
        case '"':
            tasks_text_puts(w, "\\\"");
            break;
        case '\\':
            tasks_text_puts(w, "\\\\");
            break;
        case '\n':
            tasks_text_puts(w, "\\n");
            break;
        case '\t':
            tasks_text_puts(w, "\\t");
            break;
        case '\r':
            tasks_text_puts(w, "\\r");
            break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", c);
            tasks_text_puts(w, esc);
        }
        run = s + 1;
    }
    tasks_text_put(w, run, (size_t)(s - run));
    tasks_text_puts(w, "\"");
}

/* A JSON value held by the task (input, labels, output, progress), or `none` when unset. */
static void tasks_text_value(tasks_text_t *w, const json_t *v, const char *none)
{
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (v && !s)
        w->bad = true;
    tasks_text_puts(w, s ? s : none);
    free(s);
}

static void tasks_text_time(tasks_text_t *w, int64_t ms)
{
    char buf[40];
    if (ms)
        tasks_text_str(w, clock_rfc3339(ms, buf, sizeof buf));
    else
        tasks_text_puts(w, "null");
}

/* ,"key": then, for a number, its value */
static void tasks_text_key(tasks_text_t *w, const char *key)
{
    tasks_text_puts(w, ",\"");
    tasks_text_puts(w, key);
    tasks_text_puts(w, "\":");
}

static void tasks_text_num(tasks_text_t *w, const char *key, unsigned long long v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%llu", v);
    tasks_text_key(w, key);
    tasks_text_puts(w, buf);
}

char *tasks_task_render(const task_t *t, size_t *len)
{
    tasks_text_t w = {.bad = false};
    strbuf_init(&w.b, 0);
    tasks_text_puts(&w, "{\"id\":");
    tasks_text_str(&w, t->id);
    tasks_text_key(&w, "type");
    tasks_text_str(&w, t->type);
    tasks_text_key(&w, "description");
    tasks_text_str(&w, t->description);
    tasks_text_key(&w, "state");
    tasks_text_str(&w, tasks_state_names[t->state]);
    tasks_text_key(&w, "input");
    tasks_text_value(&w, t->input, "null");
    tasks_text_key(&w, "agent");
    tasks_text_str(&w, t->agent);
    tasks_text_key(&w, "capability");
    tasks_text_str(&w, t->capability);
    tasks_text_key(&w, "labels");
    tasks_text_value(&w, t->labels, "{}");
    tasks_text_num(&w, "priority", (unsigned long long)t->priority);
    tasks_text_num(&w, "max_attempts", (unsigned long long)t->max_attempts);
    tasks_text_num(&w, "attempts", (unsigned long long)t->attempts);
    tasks_text_key(&w, "idempotency_key");
    tasks_text_str(&w, t->idem_key);
    tasks_text_key(&w, "worker");
    tasks_text_str(&w, t->worker);
    tasks_text_key(&w, "progress");
    tasks_text_value(&w, t->progress, "null");
    tasks_text_key(&w, "output");
    tasks_text_value(&w, t->output, "null");
    tasks_text_key(&w, "error");
    tasks_text_str(&w, t->error);
    tasks_text_key(&w, "owner");
    tasks_text_str(&w, t->owner);
    tasks_text_key(&w, "team");
    tasks_text_str(&w, t->team);
    tasks_text_key(&w, "created_at");
    tasks_text_time(&w, t->created_ms);
    tasks_text_key(&w, "updated_at");
    tasks_text_time(&w, t->updated_ms);
    tasks_text_key(&w, "deadline");
    tasks_text_time(&w, t->deadline_ms);
    tasks_text_num(&w, "seq", (unsigned long long)t->seq);
    tasks_text_key(&w, "via");
    tasks_text_str(&w, t->state == TASK_QUEUED ? NULL : t->via_stdin ? "stdin" : "lease");
    tasks_text_num(&w, "lease", (unsigned long long)t->lease);
    tasks_text_key(&w, "origin");
    tasks_text_str(&w, t->origin);
    tasks_text_key(&w, "hub");
    tasks_text_str(&w, t->holder);
    tasks_text_key(&w, "lease_expires_at");
    bool leased = t->state == TASK_ASSIGNED || t->state == TASK_RUNNING;
    tasks_text_time(&w, leased ? t->lease_expires_ms : 0);
    tasks_text_puts(&w, "}");
    if (w.bad) {
        strbuf_free(&w.b);
        *len = 0;
        return NULL;
    }
    return strbuf_steal(&w.b, len);
}
