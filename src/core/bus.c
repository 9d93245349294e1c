/* The in-process event bus: topic validation and wildcard matching, synchronous delivery to
 * subscribers, refcounted immutable events, and the replay ring behind SSE Last-Event-ID.
 * Loop-thread only: nothing here takes a lock, so every call must come from the loop thread. */
#include "core/bus.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

#define BUS_MAX_PATTERNS    32
#define BUS_MAX_PATTERN_LEN 256
#define BUS_MAX_TOPIC_LEN   256

struct bus_sub {
    struct bus_sub *next;
    bus_fn fn;
    void *ud;
    /* Events with a smaller id were published before this subscription existed; a
     * subscription made from inside a callback must not see the event being delivered. */
    uint64_t first_id;
    bool dead; /* unsubscribed while a delivery was iterating; freed by the sweep */
    size_t npat;
    const char *pat[BUS_MAX_PATTERNS]; /* point into buf */
    char buf[];                        /* the patterns, NUL-separated */
};

struct bus {
    bus_sub_t *subs; /* in subscription order */
    size_t nsubs;    /* live subscriptions only */
    /* Depth of deliveries in progress (publish/replay may nest through callbacks). While it is
     * non-zero, unsubscribing only marks the subscription dead so iterators never touch freed
     * memory; the outermost delivery sweeps. */
    int delivering;
    bool need_sweep;

    /* The ring holds the ring_len most recent events, which have contiguous ids ending at
     * last_id; ring_head is the slot of the oldest. */
    bus_event_t **ring;
    size_t ring_cap, ring_head, ring_len;

    uint64_t last_id;
    uint64_t published;
};

/* ---- topics and patterns ------------------------------------------------------------------ */

/* A topic is 1..256 bytes of non-empty dot-separated segments without control characters
 * (an SSE "event:" line must stay one line), ',' (the pattern list separator) or '*'. */
static bool topic_valid(const char *topic)
{
    if (!topic)
        return false;
    size_t n = strnlen(topic, BUS_MAX_TOPIC_LEN + 1);
    if (n == 0 || n > BUS_MAX_TOPIC_LEN)
        return false;
    bool seg_empty = true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)topic[i];
        if (c < 0x20 || c == 0x7f || c == ',' || c == '*')
            return false;
        if (c == '.') {
            if (seg_empty)
                return false;
            seg_empty = true;
        } else {
            seg_empty = false;
        }
    }
    return !seg_empty;
}

/* One pattern of length n (not NUL-terminated): non-empty segments, '*' only as a whole
 * segment, same character rules as topics. */
static bool pattern_valid_n(const char *p, size_t n)
{
    if (n == 0 || n > BUS_MAX_PATTERN_LEN)
        return false;
    size_t seg_start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || p[i] == '.') {
            size_t len = i - seg_start;
            if (len == 0)
                return false;
            if (len > 1 && memchr(p + seg_start, '*', len))
                return false;
            seg_start = i + 1;
            continue;
        }
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 || c == 0x7f || c == ',')
            return false;
    }
    return true;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Splits a comma-separated list, trimming blanks around each item (query strings like
 * "agent.*, task.*" are common). Calls fn(item, len, ud) per item; stops on false. Returns the
 * number of items, or -1 if fn refused one or the list is over the bounds. */
static int pattern_list_walk(const char *list, bool (*fn)(const char *, size_t, void *), void *ud)
{
    const char *s = list;
    while (*s && is_space(*s))
        s++;
    if (*s == '\0')
        return 0; /* an empty list is valid and matches nothing */
    int count = 0;
    for (;;) {
        const char *end = strchr(s, ',');
        const char *stop = end ? end : s + strlen(s);
        const char *a = s, *b = stop;
        while (a < b && is_space(*a))
            a++;
        while (b > a && is_space(b[-1]))
            b--;
        if (++count > BUS_MAX_PATTERNS)
            return -1;
        if (!pattern_valid_n(a, (size_t)(b - a)) || (fn && !fn(a, (size_t)(b - a), ud)))
            return -1;
        if (!end)
            return count;
        s = end + 1;
    }
}

bool bus_pattern_valid(const char *patterns)
{
    return patterns && pattern_list_walk(patterns, NULL, NULL) >= 0;
}

/* Matching without validation, for patterns already checked at subscribe time. */
static bool match_raw(const char *p, const char *t)
{
    for (;;) {
        const char *pe = strchr(p, '.');
        size_t plen = pe ? (size_t)(pe - p) : strlen(p);
        const char *te = strchr(t, '.');
        size_t tlen = te ? (size_t)(te - t) : strlen(t);
        bool star = plen == 1 && p[0] == '*';
        if (!pe) /* last pattern segment: '*' swallows the rest (one or more segments) */
            return star ? true : (!te && plen == tlen && memcmp(p, t, plen) == 0);
        if (!star && (plen != tlen || memcmp(p, t, plen) != 0))
            return false;
        if (!te)
            return false; /* pattern has more segments than the topic */
        p = pe + 1;
        t = te + 1;
    }
}

bool bus_topic_match(const char *pattern, const char *topic)
{
    if (!pattern || !topic_valid(topic) || !pattern_valid_n(pattern, strlen(pattern)))
        return false;
    return match_raw(pattern, topic);
}

bool bus_sub_matches(const bus_sub_t *sub, const char *topic)
{
    if (!sub || !topic)
        return false;
    for (size_t i = 0; i < sub->npat; i++)
        if (match_raw(sub->pat[i], topic))
            return true;
    return false;
}

/* ---- events ------------------------------------------------------------------------------- */

bus_event_t *bus_event_ref(bus_event_t *ev)
{
    if (ev) {
        assert(ev->refs > 0);
        ev->refs++;
    }
    return ev;
}

void bus_event_unref(bus_event_t *ev)
{
    if (!ev)
        return;
    assert(ev->refs > 0);
    if (--ev->refs == 0) {
        free(ev); /* the topic and the data live in the same allocation */
    }
}

/* ---- the bus ------------------------------------------------------------------------------ */

bus_t *bus_new(size_t ring_size)
{
    bus_t *bus = calloc(1, sizeof *bus);
    if (!bus)
        return NULL;
    if (ring_size > 0) {
        bus->ring = calloc(ring_size, sizeof *bus->ring);
        if (!bus->ring) {
            free(bus);
            return NULL;
        }
    }
    bus->ring_cap = ring_size;
    return bus;
}

void bus_destroy(bus_t **pbus)
{
    if (!pbus || !*pbus)
        return;
    bus_t *bus = *pbus;
    assert(bus->delivering == 0); /* destroying from inside a callback is not supported */
    for (bus_sub_t *s = bus->subs, *next; s; s = next) {
        next = s->next;
        free(s);
    }
    for (size_t i = 0; i < bus->ring_len; i++)
        bus_event_unref(bus->ring[(bus->ring_head + i) % bus->ring_cap]);
    free(bus->ring);
    free(bus);
    *pbus = NULL;
}

static void sweep(bus_t *bus)
{
    bus_sub_t **pp = &bus->subs;
    while (*pp) {
        bus_sub_t *s = *pp;
        if (s->dead) {
            *pp = s->next;
            free(s);
        } else {
            pp = &s->next;
        }
    }
    bus->need_sweep = false;
}

static void delivery_begin(bus_t *bus)
{
    bus->delivering++;
}

static void delivery_end(bus_t *bus)
{
    assert(bus->delivering > 0);
    if (--bus->delivering == 0 && bus->need_sweep)
        sweep(bus);
}

/* One allocation for the event, its topic and a copy of its data. */
static bus_event_t *event_new_copy(const char *topic, const char *json, size_t len)
{
    size_t tlen = strlen(topic);
    bus_event_t *ev = malloc(sizeof *ev + tlen + 1 + len + 1);
    if (!ev)
        return NULL;
    ev->topic = (char *)(ev + 1);
    memcpy(ev->topic, topic, tlen + 1);
    ev->data = ev->topic + tlen + 1;
    memcpy(ev->data, json, len);
    ev->data[len] = '\0';
    ev->data_len = len;
    ev->ts_ms = clock_wall_ms();
    ev->id = 0;
    ev->refs = 1;
    return ev;
}

static bus_event_t *event_new(const char *topic, json_t *data)
{
    char *json = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!json)
        return NULL;
    bus_event_t *ev = event_new_copy(topic, json, strlen(json));
    free(json);
    return ev;
}

/* Stores ev (taking over the caller's reference), evicting the oldest when full. */
static void ring_push(bus_t *bus, bus_event_t *ev)
{
    if (bus->ring_cap == 0) {
        bus_event_unref(ev);
        return;
    }
    if (bus->ring_len == bus->ring_cap) {
        bus_event_unref(bus->ring[bus->ring_head]);
        bus->ring[bus->ring_head] = ev;
        bus->ring_head = (bus->ring_head + 1) % bus->ring_cap;
    } else {
        bus->ring[(bus->ring_head + bus->ring_len) % bus->ring_cap] = ev;
        bus->ring_len++;
    }
}

/* Rings and delivers a new event (taking over the caller's reference). */
static uint64_t bus_deliver(bus_t *bus, bus_event_t *ev)
{
    ev->id = ++bus->last_id;
    bus->published++;

    /* Our own reference keeps the event alive through delivery even if a nested publish
     * evicts it from the ring. */
    ring_push(bus, bus_event_ref(ev));
    delivery_begin(bus);
    for (bus_sub_t *s = bus->subs; s; s = s->next) {
        if (s->dead || s->first_id > ev->id || !bus_sub_matches(s, ev->topic))
            continue;
        s->fn(ev, s->ud);
    }
    delivery_end(bus);
    uint64_t id = ev->id;
    bus_event_unref(ev);
    return id;
}

uint64_t bus_publish(bus_t *bus, const char *topic, json_t *data)
{
    if (!bus || !topic_valid(topic)) {
        json_decref(data);
        return 0;
    }
    json_t *payload = data ? data : json_object();
    bus_event_t *ev = payload ? event_new(topic, payload) : NULL;
    json_decref(payload);
    if (!ev)
        return 0;
    return bus_deliver(bus, ev);
}

uint64_t bus_publish_text(bus_t *bus, const char *topic, const char *json, size_t len)
{
    if (!bus || !json || !topic_valid(topic))
        return 0;
    bus_event_t *ev = event_new_copy(topic, json, len);
    return ev ? bus_deliver(bus, ev) : 0;
}

struct sub_build {
    bus_sub_t *sub;
    char *w;
};

static bool sub_add_pattern(const char *p, size_t n, void *ud)
{
    struct sub_build *b = ud;
    memcpy(b->w, p, n);
    b->w[n] = '\0';
    b->sub->pat[b->sub->npat++] = b->w;
    b->w += n + 1;
    return true;
}

bus_sub_t *bus_subscribe(bus_t *bus, const char *patterns, bus_fn fn, void *ud)
{
    if (!bus || !patterns || !fn || !bus_pattern_valid(patterns))
        return NULL;
    /* Every stored pattern is no longer than its slice of the list, so strlen+1 bytes hold
     * them all with their terminators. */
    bus_sub_t *sub = calloc(1, sizeof *sub + strlen(patterns) + 1);
    if (!sub)
        return NULL;
    struct sub_build b = {sub, sub->buf};
    if (pattern_list_walk(patterns, sub_add_pattern, &b) < 0) {
        free(sub);
        return NULL;
    }
    sub->fn = fn;
    sub->ud = ud;
    sub->first_id = bus->last_id + 1;
    bus_sub_t **pp = &bus->subs;
    while (*pp)
        pp = &(*pp)->next;
    *pp = sub;
    bus->nsubs++;
    return sub;
}

void bus_unsubscribe(bus_t *bus, bus_sub_t **psub)
{
    if (!bus || !psub || !*psub)
        return;
    bus_sub_t *sub = *psub;
    *psub = NULL;
    if (sub->dead)
        return;
    sub->dead = true;
    assert(bus->nsubs > 0);
    bus->nsubs--;
    if (bus->delivering > 0) {
        bus->need_sweep = true;
        return;
    }
    sweep(bus);
}

int bus_replay(bus_t *bus, const bus_sub_t *sub, uint64_t after_id, bus_fn fn, void *ud)
{
    if (!bus || !sub || !fn)
        return -EINVAL;
    /* An id from the future (say, from before a restart) has nothing after it and no gap;
     * checking first also keeps after_id + 1 from overflowing. */
    if (after_id >= bus->last_id)
        return 0;
    /* Ids in the ring are contiguous, so the oldest held id tells whether anything newer than
     * after_id fell off: ids after_id+1 .. oldest-1 are gone. after_id 0 with nothing evicted
     * (oldest == 1) is no gap. */
    uint64_t oldest = bus->last_id - bus->ring_len + 1;
    int gap = after_id + 1 < oldest ? 1 : 0;
    uint64_t end = bus->last_id; /* events published by callbacks are delivered live */
    delivery_begin(bus);
    for (uint64_t id = after_id + 1 > oldest ? after_id + 1 : oldest; id <= end; id++) {
        if (sub->dead)
            break;
        /* A callback may publish and so move the ring; find the slot afresh each time. */
        uint64_t now_oldest = bus->last_id - bus->ring_len + 1;
        if (id < now_oldest)
            continue;
        bus_event_t *ev = bus->ring[(bus->ring_head + (id - now_oldest)) % bus->ring_cap];
        if (bus_sub_matches(sub, ev->topic))
            fn(ev, ud);
    }
    delivery_end(bus);
    return gap;
}

size_t bus_subscriber_count(const bus_t *bus)
{
    return bus ? bus->nsubs : 0;
}

uint64_t bus_last_id(const bus_t *bus)
{
    return bus ? bus->last_id : 0;
}

uint64_t bus_published_total(const bus_t *bus)
{
    return bus ? bus->published : 0;
}
