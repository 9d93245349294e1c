/* The in-process event bus: publish/subscribe by dotted topic with wildcards, and a bounded
 * ring of recent events for replay (SSE Last-Event-ID). Loop-thread only; worker threads hand
 * events to the loop first.
 *
 * Patterns: segments separated by '.'; '*' matches exactly one segment, except as the last
 * segment where it matches one or more ("agent.*" follows agent.42.status; "agent.*.status"
 * only statuses). A pattern list is comma-separated; an empty list matches nothing. */
#ifndef GANGLION_BUS_H
#define GANGLION_BUS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bus bus_t;
typedef struct bus_sub bus_sub_t;

/* An event is immutable and reference-counted so queues of many subscribers share it. */
typedef struct bus_event {
    uint64_t id;   /* monotonically increasing from 1 */
    int64_t ts_ms; /* wall clock at publish */
    char *topic;
    char *data; /* compact JSON of the payload */
    size_t data_len;
    int refs;
} bus_event_t;

typedef void (*bus_fn)(bus_event_t *ev, void *ud);

bus_t *bus_new(size_t ring_size);
void bus_destroy(bus_t **bus);

/* Publishes `data` (stolen; NULL = {}) on `topic`. Subscribers are called synchronously, in
 * subscription order, with a borrowed event (take a ref to keep it). Returns the event id. */
uint64_t bus_publish(bus_t *bus, const char *topic, json_t *data);
/* The same with the payload already encoded: `json` is compact JSON text of len bytes (copied;
 * the event holds it in its own allocation). For hot paths that write their events directly
 * (an agent's output lines). */
uint64_t bus_publish_text(bus_t *bus, const char *topic, const char *json, size_t len);

/* Subscribes to a comma-separated pattern list. Returns NULL if the list is invalid (empty
 * segments, over 32 patterns, pattern over 256 bytes). */
bus_sub_t *bus_subscribe(bus_t *bus, const char *patterns, bus_fn fn, void *ud);
void bus_unsubscribe(bus_t *bus, bus_sub_t **sub);

/* Calls fn for every event in the ring with id > after_id matching the subscription's
 * patterns, oldest first. Returns 0, or 1 if events after after_id were already evicted (a
 * gap the client should know about). */
int bus_replay(bus_t *bus, const bus_sub_t *sub, uint64_t after_id, bus_fn fn, void *ud);

bool bus_pattern_valid(const char *patterns);
bool bus_topic_match(const char *pattern, const char *topic);
bool bus_sub_matches(const bus_sub_t *sub, const char *topic);

bus_event_t *bus_event_ref(bus_event_t *ev);
void bus_event_unref(bus_event_t *ev);

size_t bus_subscriber_count(const bus_t *bus);
uint64_t bus_last_id(const bus_t *bus);
uint64_t bus_published_total(const bus_t *bus);

#endif
