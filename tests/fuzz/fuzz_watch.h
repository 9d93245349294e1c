/* What the two watch harnesses share: the last step of ingest, every converted event turned
 * into a queued event for a stream of its batch's type, as the endpoints in watch_api.c do. */
#ifndef GANGLION_FUZZ_WATCH_H
#define GANGLION_FUZZ_WATCH_H

#include <assert.h>
#include <stdbool.h>

#include "watch/watch_internal.h"

static inline void fuzz_watch_event(const watch_stream_t *s, json_t *item)
{
    watch_event_t ev;
    memset(&ev, 0, sizeof ev);
    const char *reason = NULL;
    if (watch_event_from_json(s, item, 1700000000000, &ev, &reason) == 0)
        watch_event_clear(&ev);
    else
        assert(reason && *reason); /* a refused event says why */
}

static inline watch_stream_t *fuzz_watch_stream(const char *type, bool redact)
{
    watch_stream_t *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    cbad_settings_default(&s->settings);
    cbad_stream_type_t t;
    if (type && cbad_stream_type_parse(type, &t) == 0)
        s->settings.type = t;
    s->settings.redact = redact;
    snprintf(s->name, sizeof s->name, "fuzz");
    return s;
}

/* batches: {stream: {type, events: [{event, meta, ts?}]}} as watch_otlp_logs/metrics give. */
static inline void fuzz_watch_batches(json_t *batches, bool redact)
{
    const char *name;
    json_t *b;
    json_object_foreach(batches, name, b)
    {
        watch_stream_t *s =
            fuzz_watch_stream(json_string_value(json_object_get(b, "type")), redact);
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(b, "events"), i, e)
        {
            fuzz_watch_event(s, json_object_get(e, "event"));
        }
        free(s);
    }
}

#endif
