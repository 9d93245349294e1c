/* Fuzzes the server-sent events path (src/net/sse.c, with the bus's topic patterns from
 * src/core/bus.c): a client's ?topics= pattern list, an event published on a topic with any
 * payload bytes, its SSE frame and a heartbeat comment. The frame is read back with the SSE
 * parsing rules (lines end at CR, LF or CRLF) and must give exactly one event with the same
 * id, type and data (line breaks as LF), so no payload can forge a field or a second event.
 * Input: fields separated by "\n--\n": patterns, topic, payload, comment. */
#include <assert.h>
#include <stdbool.h>

#include "fuzz_util.h"
#include "net/sse.h"

typedef struct fuzz_parsed {
    int events;
    char id[32];
    strbuf_t type, data;
} fuzz_parsed_t;

static void fuzz_grab(bus_event_t *ev, void *ud)
{
    bus_event_t **slot = ud;
    if (!*slot)
        *slot = bus_event_ref(ev);
}

/* One line of an event stream, as the EventSource processing model reads it. */
static void fuzz_sse_line(fuzz_parsed_t *st, const char *l, size_t n, strbuf_t *data_acc,
                          bool *has_data)
{
    if (n == 0) { /* dispatch */
        if (*has_data) {
            st->events++;
            strbuf_reset(&st->data);
            strbuf_append(&st->data, data_acc->data ? data_acc->data : "", data_acc->len);
            if (st->data.len && st->data.data[st->data.len - 1] == '\n')
                st->data.data[--st->data.len] = '\0';
        }
        strbuf_reset(data_acc);
        *has_data = false;
        return;
    }
    if (l[0] == ':')
        return;
    const char *colon = memchr(l, ':', n);
    size_t fl = colon ? (size_t)(colon - l) : n;
    const char *v = colon ? colon + 1 : l + n;
    size_t vl = colon ? n - fl - 1 : 0;
    if (vl && *v == ' ') {
        v++;
        vl--;
    }
    if (fl == 4 && memcmp(l, "data", 4) == 0) {
        strbuf_append(data_acc, v, vl);
        strbuf_append(data_acc, "\n", 1);
        *has_data = true;
    } else if (fl == 5 && memcmp(l, "event", 5) == 0) {
        strbuf_reset(&st->type);
        strbuf_append(&st->type, v, vl);
    } else if (fl == 2 && memcmp(l, "id", 2) == 0 && vl < sizeof st->id) {
        memcpy(st->id, v, vl);
        st->id[vl] = '\0';
    } else {
        assert(!"a frame carries only id, event and data fields");
    }
}

static void fuzz_sse_parse(const char *s, size_t n, fuzz_parsed_t *st)
{
    strbuf_t acc;
    strbuf_init(&acc, 1u << 24);
    bool has_data = false;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\n' && s[i] != '\r')
            continue;
        fuzz_sse_line(st, s + start, i - start, &acc, &has_data);
        if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
            i++;
        start = i + 1;
    }
    assert(start == n); /* the frame ends with a line break */
    strbuf_free(&acc);
}

/* The payload with every CRLF, CR and LF as LF: what a client's data field shows. */
static void fuzz_normalise(const char *s, size_t n, strbuf_t *out)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r') {
            strbuf_append(out, "\n", 1);
            if (i + 1 < n && s[i + 1] == '\n')
                i++;
        } else {
            strbuf_append(out, s + i, 1);
        }
    }
}

static void fuzz_frame(const bus_event_t *ev)
{
    /* a topic with a line break becomes two event lines, of which a client keeps the last; the
     * bus refuses such topics, the framer only has to keep the frame one event */
    bool one_line = !strpbrk(ev->topic, "\r\n");
    strbuf_t out, want;
    strbuf_init(&out, 1u << 24);
    strbuf_init(&want, 1u << 24);
    if (sse_frame_append(&out, ev) == 0) {
        fuzz_parsed_t st;
        memset(&st, 0, sizeof st);
        strbuf_init(&st.type, 1u << 24);
        strbuf_init(&st.data, 1u << 24);
        fuzz_sse_parse(out.data, out.len, &st);
        assert(st.events == 1);
        char id[32];
        snprintf(id, sizeof id, "%llu", (unsigned long long)ev->id);
        assert(strcmp(st.id, id) == 0);
        assert(!one_line || (st.type.len == strlen(ev->topic) &&
                             memcmp(st.type.data, ev->topic, st.type.len) == 0));
        fuzz_normalise(ev->data, ev->data_len, &want);
        assert(st.data.len == want.len &&
               (!want.len || memcmp(st.data.data, want.data, want.len) == 0));
        strbuf_free(&st.type);
        strbuf_free(&st.data);
    }
    strbuf_free(&out);
    strbuf_free(&want);
}

static void fuzz_comment(const char *text)
{
    strbuf_t out;
    strbuf_init(&out, 1u << 24);
    if (sse_comment_append(&out, text) == 0) {
        fuzz_parsed_t st;
        memset(&st, 0, sizeof st);
        strbuf_init(&st.type, 16);
        strbuf_init(&st.data, 16);
        fuzz_sse_parse(out.data, out.len, &st);
        assert(st.events == 0); /* a comment never becomes an event */
        strbuf_free(&st.type);
        strbuf_free(&st.data);
    }
    strbuf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    size_t plen;
    char *patterns = fuzz_next_field(&in, NULL);
    char *topic = fuzz_next_field(&in, NULL);
    char *payload = fuzz_next_field(&in, &plen);
    char *comment = fuzz_next_field(&in, NULL);

    bus_t *bus = bus_new(4);
    if (!bus)
        abort();
    bus_event_t *seen = NULL, *all = NULL;
    bus_sub_t *sub = bus_subscribe(bus, patterns, fuzz_grab, &seen);
    assert((sub != NULL) == bus_pattern_valid(patterns));
    bus_sub_t *every = bus_subscribe(bus, "*", fuzz_grab, &all);
    assert(every);
    uint64_t id = bus_publish_text(bus, topic, payload, plen);
    if (id) {
        assert(all && strcmp(all->topic, topic) == 0);
        if (sub)
            assert((seen != NULL) == bus_sub_matches(sub, topic));
        fuzz_frame(all);
    }
    /* an event of the same topic built by hand: the framer must hold even for topics the bus
     * would refuse */
    bus_event_t raw = {.id = plen, .topic = topic, .data = payload, .data_len = plen, .refs = 1};
    fuzz_frame(&raw);
    fuzz_comment(comment);

    if (seen)
        bus_event_unref(seen);
    if (all)
        bus_event_unref(all);
    bus_unsubscribe(bus, &sub);
    bus_unsubscribe(bus, &every);
    bus_destroy(&bus);
    free(patterns);
    free(topic);
    free(payload);
    free(comment);
    return 0;
}
