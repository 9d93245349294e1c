/* Server-sent events: the bytes of one frame or heartbeat comment, and the bounded per-client
 * FIFO of event references that lets a slow client be detected and dropped instead of growing
 * memory. Loop-thread only, like the bus whose events it holds. */
#include "net/sse.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Restores the buffer to its length before a failed append, so a half-written frame never
 * reaches a client. */
static int rollback(strbuf_t *out, size_t len, int rc)
{
    out->len = len;
    if (out->data)
        out->data[len] = '\0';
    return rc;
}

/* Appends `prefix` + line for every line of s[0..n), splitting on CR, LF or CRLF as the SSE
 * parser does, so no line can smuggle in a field. */
static int append_lines(strbuf_t *out, const char *prefix, const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '\n' && s[i] != '\r')
            continue;
        int rc = strbuf_puts(out, prefix);
        if (rc == 0)
            rc = strbuf_append(out, s + start, i - start);
        if (rc == 0)
            rc = strbuf_append(out, "\n", 1);
        if (rc < 0)
            return rc;
        if (i < n && s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
            i++;
        start = i + 1;
    }
    return 0;
}

int sse_frame_append(strbuf_t *out, const bus_event_t *ev)
{
    if (!out || !ev || !ev->topic)
        return -EINVAL;
    size_t len0 = out->len;
    int rc = strbuf_printf(out, "id: %" PRIu64 "\n", ev->id);
    /* The bus refuses topics with control characters, so this is one line; append_lines keeps
     * the frame well-formed even if that ever changed. */
    if (rc == 0)
        rc = append_lines(out, "event: ", ev->topic, strlen(ev->topic));
    if (rc == 0)
        rc = append_lines(out, "data: ", ev->data ? ev->data : "", ev->data ? ev->data_len : 0);
    if (rc == 0)
        rc = strbuf_append(out, "\n", 1);
    return rc < 0 ? rollback(out, len0, rc) : 0;
}

int sse_comment_append(strbuf_t *out, const char *text)
{
    if (!out)
        return -EINVAL;
    size_t len0 = out->len;
    int rc;
    if (!text || !*text)
        rc = strbuf_append(out, ":\n", 2);
    else
        rc = append_lines(out, ": ", text, strlen(text));
    if (rc == 0)
        rc = strbuf_append(out, "\n", 1);
    return rc < 0 ? rollback(out, len0, rc) : 0;
}

int sse_queue_init(sse_queue_t *q, size_t cap)
{
    if (!q || cap == 0)
        return -EINVAL;
    memset(q, 0, sizeof *q);
    q->items = calloc(cap, sizeof *q->items);
    if (!q->items)
        return -ENOMEM;
    q->cap = cap;
    return 0;
}

bool sse_queue_push(sse_queue_t *q, bus_event_t *ev)
{
    assert(q && q->items && ev);
    if (q->len == q->cap) {
        q->overflowed = true;
        return false;
    }
    q->items[(q->head + q->len) % q->cap] = bus_event_ref(ev);
    q->len++;
    return true;
}

bus_event_t *sse_queue_pop(sse_queue_t *q)
{
    if (!q || q->len == 0)
        return NULL;
    bus_event_t *ev = q->items[q->head];
    q->items[q->head] = NULL;
    q->head = (q->head + 1) % q->cap;
    q->len--;
    return ev;
}

void sse_queue_free(sse_queue_t *q)
{
    if (!q)
        return;
    bus_event_t *ev;
    while ((ev = sse_queue_pop(q)) != NULL)
        bus_event_unref(ev);
    free(q->items);
    memset(q, 0, sizeof *q);
}
