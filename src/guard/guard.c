/* The guard's state: loaded at start (the shipped rules created on the first one), the
 * compiled rule set, verdicts under the configured thresholds, digests of actions. */
#include "guard/guard_internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "store/store.h"

const char *const guard_verdict_names[] = {"allow", "review", "deny"};

guard_verdict_t guard_verdict_of(const guard_t *g, int64_t score)
{
    const config_t *cfg = &g->hub->cfg;
    if (score >= cfg->guard_deny_at)
        return GUARD_DENY;
    if (score >= cfg->guard_review_at)
        return GUARD_REVIEW;
    return GUARD_ALLOW;
}

json_t *guard_rule_json(const json_t *rule)
{
    char c[40], u[40];
    clock_rfc3339(json_integer_value(json_object_get(rule, "created_ms")), c, sizeof c);
    clock_rfc3339(json_integer_value(json_object_get(rule, "updated_ms")), u, sizeof u);
    json_t *owner = json_object_get(rule, "owner"), *team = json_object_get(rule, "team");
    return json_pack("{s:O,s:O,s:O,s:O,s:O,s:O,s:s,s:s,s:O,s:O}", "id", json_object_get(rule, "id"),
                     "name", json_object_get(rule, "name"), "description",
                     json_object_get(rule, "description"), "weight",
                     json_object_get(rule, "weight"), "enabled", json_object_get(rule, "enabled"),
                     "match", json_object_get(rule, "match"), "created_at", c, "updated_at", u,
                     "owner", owner ? owner : json_null(), "team", team ? team : json_null());
}

json_t *guard_rule_find(json_t *rules, int64_t id, size_t *index)
{
    size_t i;
    json_t *r;
    json_array_foreach(rules, i, r) if (json_integer_value(json_object_get(r, "id")) == id)
    {
        if (index)
            *index = i;
        return r;
    }
    return NULL;
}

void guard_digest(const json_t *action, char out[65])
{
    char *text = json_dumps(action, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)(text ? text : ""), text ? strlen(text) : 0);
    free(text);
    sodium_bin2hex(out, 65, h, sizeof h);
}

/* Gives the shipped rules ids and times, stores them with version 1. */
static int guard_seed(guard_t *g, store_conn_t *c, json_t **rules, int64_t *version)
{
    json_t *defs = guard_defaults_json();
    if (!defs)
        return -1;
    int64_t now = clock_wall_ms();
    size_t i;
    json_t *r;
    json_array_foreach(defs, i, r)
    {
        json_object_set_new(r, "id", json_integer((json_int_t)i + 1));
        json_object_set_new(r, "created_ms", json_integer(now));
        json_object_set_new(r, "updated_ms", json_integer(now));
    }
    /* a rules table that has rules already (seeded flag lost) keeps them: only the flag is set */
    json_t *keep = json_array_size(*rules) ? json_array() : defs;
    int rc = guard_db_seed(c, keep, *version + 1);
    if (rc == 0) {
        *version += 1;
        if (keep == defs) {
            json_decref(*rules);
            *rules = json_incref(defs);
        }
    }
    if (keep != defs)
        json_decref(keep);
    json_decref(defs);
    (void)g;
    return rc;
}

int guard_start(hub_t *hub)
{
    guard_t *g = calloc(1, sizeof *g);
    if (!g)
        return -1;
    g->hub = hub;
    hub->guard = g;
    g->next_review = 1;
    if (sodium_init() < 0)
        return -1;
    store_conn_t *c = store_conn_acquire(hub->store);
    bool seeded = false;
    json_t *rules = NULL;
    int rc = guard_db_load(c, &rules, &g->version, &seeded, &g->principals);
    if (rc == 0 && !seeded)
        rc = guard_seed(g, c, &rules, &g->version);
    if (rc < 0)
        log_error(NULL, "guard: cannot load the rules", "{s:i,s:s}", "code", rc, "error",
                  store_conn_error(c));
    store_conn_release(hub->store, c);
    if (rc < 0) {
        json_decref(rules);
        return -1;
    }
    g->rules = rules;
    g->pending = json_deep_copy(rules);
    g->pending_version = g->version;
    size_t i;
    json_t *r;
    json_array_foreach(rules, i, r)
    {
        int64_t id = json_integer_value(json_object_get(r, "id"));
        if (id >= g->next_id)
            g->next_id = id + 1;
    }
    if (g->next_id < 1)
        g->next_id = 1;
    char err[300];
    g->set = guard_set_build(rules, err, sizeof err);
    if (!g->set) {
        log_error(NULL, "guard: cannot compile the rules", "{s:s}", "reason", err);
        return -1;
    }
    log_info(NULL, "guard started", "{s:i,s:I,s:i,s:s}", "rules", (int)json_array_size(rules),
             "rules_version", (json_int_t)g->version, "words", (int)guard_set_words(g->set), "gate",
             hub->cfg.guard_gate);
    return 0;
}

void guard_destroy(hub_t *hub)
{
    guard_t *g = hub ? hub->guard : NULL;
    if (!g)
        return;
    json_decref(g->rules);
    json_decref(g->pending);
    json_decref(g->principals);
    guard_set_destroy(&g->set);
    free(g->reviews);
    free(g);
    hub->guard = NULL;
}
