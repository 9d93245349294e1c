/* Anomalies as the watch domain carries them: a typed struct from the scoring job through incident
 * grouping to the store and the bus, turned into the API's JSON object once, here, where it leaves
 * the domain (the stored row and the anomaly.created payload are that one object). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "watch/watch_internal.h"

watch_anomaly_t *watch_anomalies_add(watch_anomalies_t *l)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 4;
        watch_anomaly_t *v = realloc(l->v, nc * sizeof *v);
        if (!v)
            return NULL;
        l->v = v;
        l->cap = nc;
    }
    watch_anomaly_t *a = &l->v[l->n++];
    memset(a, 0, sizeof *a);
    return a;
}

void watch_anomalies_free(watch_anomalies_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        cbad_result_clear(&l->v[i].r);
        json_decref(l->v[i].meta);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* The metadata object: a copy of the event's own plus where the window lies and the test's cost. */
static json_t *watch_anomaly_meta(const watch_anomaly_t *a)
{
    json_t *meta = a->meta ? json_deep_copy(a->meta) : json_object();
    if (!json_is_object(meta)) {
        json_decref(meta);
        meta = json_object();
    }
    if (!meta)
        return NULL;
    json_object_set_new(meta, "window_index", json_integer((json_int_t)a->r.window_index));
    json_object_set_new(meta, "first_event", json_integer((json_int_t)a->r.first_event));
    json_object_set_new(meta, "last_event", json_integer((json_int_t)a->r.last_event));
    json_object_set_new(meta, "permutations_run", json_integer((json_int_t)a->r.permutations_run));
    return meta;
}

json_t *watch_anomaly_json(const watch_anomaly_t *a)
{
    assert(a);
    json_t *o = cbad_result_to_json(&a->r);
    json_t *meta = o ? watch_anomaly_meta(a) : NULL;
    if (!meta) {
        json_decref(o);
        return NULL;
    }
    char ts[40], now[40];
    clock_rfc3339(a->ts_ms, ts, sizeof ts);
    clock_rfc3339(a->created_ms, now, sizeof now);
    /* The keys in the order the API has always given them. */
    json_object_set_new(o, "id", json_string(a->id));
    json_object_set_new(o, "timestamp", json_string(ts));
    json_object_set_new(o, "timestamp_ms", json_integer(a->ts_ms));
    json_object_set_new(o, "stream", json_string(a->stream));
    json_object_set_new(o, "stream_type", json_string(cbad_stream_type_name(a->type)));
    json_object_set_new(o, "metadata", meta);
    json_object_set_new(o, "tags", json_array());
    json_object_set_new(o, "status", json_string("pending"));
    json_object_set_new(o, "notes", json_string(""));
    json_object_set_new(o, "acknowledged_by", json_null());
    json_object_set_new(o, "acknowledged_at", json_null());
    json_object_set_new(o, "dismissed_by", json_null());
    json_object_set_new(o, "dismissed_at", json_null());
    json_object_set_new(o, "created_at", json_string(now));
    json_object_set_new(o, "updated_at", json_string(now));
    if (a->numeric) {
        const num_point_t *p = &a->signals;
        json_object_set_new(o, "detector", json_string("numeric"));
        json_object_set_new(o, "value", json_real(a->value));
        json_object_set_new(o, "signals",
                            json_pack("{s:f,s:f,s:f,s:f,s:I}", "novelty", p->novelty, "extreme",
                                      p->extreme, "entropy", p->entropy, "residual", p->residual,
                                      "novel_context_length", (json_int_t)p->novel_len));
    }
    if (a->incident[0])
        json_object_set_new(o, "incident_id", json_string(a->incident));
    return o;
}
