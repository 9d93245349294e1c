/* The review workflow of anomalies: the statuses, the moves allowed between them, their order of
 * urgency (an incident shows its most urgent anomaly's status) and the one function that applies
 * a review (status, notes, tags) to a stored anomaly inside the caller's transaction. */
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "watch/watch_internal.h"

const char *const watch_statuses[] = {"pending",  "investigating", "acknowledged",
                                      "resolved", "dismissed",     NULL};

/* One step from pending to any outcome: people acknowledge, resolve or call a false positive
 * without passing through investigating first. A closed anomaly (resolved, dismissed) is
 * reopened through investigating; an acknowledged one may still be resolved or dismissed. */
static const struct {
    const char *from, *to;
} watch_moves[] = {
    {"pending", "investigating"},      {"pending", "acknowledged"},
    {"pending", "resolved"},           {"pending", "dismissed"},
    {"investigating", "acknowledged"}, {"investigating", "resolved"},
    {"investigating", "dismissed"},    {"acknowledged", "investigating"},
    {"acknowledged", "resolved"},      {"acknowledged", "dismissed"},
    {"resolved", "investigating"},     {"dismissed", "investigating"},
};
#define WATCH_NMOVES (sizeof watch_moves / sizeof watch_moves[0])

bool watch_transition_ok(const char *from, const char *to)
{
    for (size_t i = 0; i < WATCH_NMOVES; i++)
        if (!strcmp(watch_moves[i].from, from) && !strcmp(watch_moves[i].to, to))
            return true;
    return false;
}

json_t *watch_transitions_from(const char *from)
{
    json_t *a = json_array();
    for (size_t i = 0; i < WATCH_NMOVES; i++)
        if (!strcmp(watch_moves[i].from, from))
            json_array_append_new(a, json_string(watch_moves[i].to));
    return a;
}

int watch_status_rank(const char *status)
{
    for (int i = 0; status && watch_statuses[i]; i++)
        if (!strcmp(watch_statuses[i], status))
            return i;
    return 0;
}

/* Adds the tags of `add` that a is missing, up to WATCH_TAGS_MAX in all. */
static void watch_tags_merge(json_t *a, const json_t *add)
{
    json_t *tags = json_object_get(a, "tags");
    if (!json_is_array(tags)) {
        tags = json_array();
        json_object_set_new(a, "tags", tags);
    }
    size_t i, k;
    json_t *t, *have;
    json_array_foreach(add, i, t)
    {
        bool dup = false;
        json_array_foreach(tags, k, have)
        {
            dup = dup || json_equal(have, t);
        }
        if (!dup && json_array_size(tags) < WATCH_TAGS_MAX)
            json_array_append(tags, t);
    }
}

int watch_review_apply(store_conn_t *c, const char *id, const json_t *patch, const char *principal,
                       watch_review_t *rv)
{
    const char *to = json_string_value(json_object_get(patch, "status"));
    rv->outcome = WATCH_REVIEW_NOT_FOUND;
    rv->out = NULL;
    for (int attempt = 0; attempt < 5; attempt++) {
        json_t *a = NULL;
        int rc = watch_db_anomaly_get(c, id, &a);
        if (rc < 0)
            return rc;
        if (!a) {
            rv->outcome = WATCH_REVIEW_NOT_FOUND;
            return 0;
        }
        const char *cur = json_string_value(json_object_get(a, "status"));
        snprintf(rv->from, sizeof rv->from, "%s", cur ? cur : "pending");
        char nowbuf[40];
        clock_rfc3339(clock_wall_ms(), nowbuf, sizeof nowbuf);
        bool moved = false;
        if (to && strcmp(to, rv->from) != 0) {
            if (!watch_transition_ok(rv->from, to)) {
                rv->outcome = WATCH_REVIEW_REFUSED;
                json_decref(a);
                return 0;
            }
            moved = true;
            json_object_set_new(a, "status", json_string(to));
            if (!strcmp(to, "acknowledged")) {
                json_object_set_new(a, "acknowledged_by", json_string(principal));
                json_object_set_new(a, "acknowledged_at", json_string(nowbuf));
            } else if (!strcmp(to, "dismissed")) {
                json_object_set_new(a, "dismissed_by", json_string(principal));
                json_object_set_new(a, "dismissed_at", json_string(nowbuf));
            }
        }
        json_t *notes = json_object_get(patch, "notes");
        if (json_is_string(notes))
            json_object_set(a, "notes", notes);
        json_t *tags = json_object_get(patch, "tags");
        if (json_is_array(tags))
            json_object_set(a, "tags", tags);
        json_t *add = json_object_get(patch, "add_tags");
        if (json_is_array(add))
            watch_tags_merge(a, add);
        json_object_set_new(a, "updated_at", json_string(nowbuf));
        rc = watch_db_anomaly_update(c, id, rv->from, a);
        if (rc < 0) {
            json_decref(a);
            return rc;
        }
        if (rc == 0) {
            rv->outcome = moved ? WATCH_REVIEW_MOVED : WATCH_REVIEW_KEPT;
            rv->out = a;
            return 0;
        }
        json_decref(a);
        if (rc == 1)
            return 0; /* gone meanwhile: not found */
        /* rc == 2: another request moved the status first; decide again on the new one */
    }
    rv->outcome = WATCH_REVIEW_REFUSED;
    return 0;
}
