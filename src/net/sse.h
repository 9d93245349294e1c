/* Server-sent events framing and the per-client bounded queue. Pure functions and a small
 * queue type, so they are unit-testable without a socket. */
#ifndef GANGLION_SSE_H
#define GANGLION_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bus.h"
#include "core/strbuf.h"

/* Appends one frame: "id: N\nevent: TOPIC\ndata: ...\n\n" (data split on newlines). */
int sse_frame_append(strbuf_t *out, const bus_event_t *ev);
/* Appends a comment line (heartbeat): ": text\n\n". */
int sse_comment_append(strbuf_t *out, const char *text);

/* A bounded FIFO of event references for one client. */
typedef struct sse_queue {
    bus_event_t **items;
    size_t cap, head, len;
    bool overflowed; /* set once a push found it full: the client is too slow and is dropped */
} sse_queue_t;

int sse_queue_init(sse_queue_t *q, size_t cap);
/* Takes a reference on ev. Returns false (and sets overflowed) when full. */
bool sse_queue_push(sse_queue_t *q, bus_event_t *ev);
/* Returns the oldest event (the caller now owns that reference) or NULL. */
bus_event_t *sse_queue_pop(sse_queue_t *q);
void sse_queue_free(sse_queue_t *q);

#endif
