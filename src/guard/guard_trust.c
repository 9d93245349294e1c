/* Trust per principal: a score in [0,1] moved by verdicts and decaying toward the default with
 * a half-life. The decay is computed when the score is read or moved, from the time of the last
 * change, so no principal needs a timer. */
#include <math.h>
#include <string.h>

#include "core/clock.h"
#include "guard/guard_internal.h"

static double guard_trust_default(const guard_t *g)
{
    return (double)g->hub->cfg.guard_trust_default_milli / 1000.0;
}

static double guard_trust_decayed(const guard_t *g, const json_t *rec, int64_t now_ms)
{
    double def = guard_trust_default(g);
    if (!rec)
        return def;
    double t = json_number_value(json_object_get(rec, "trust"));
    int64_t dt = now_ms - json_integer_value(json_object_get(rec, "updated_ms"));
    if (dt <= 0)
        return t;
    double half = (double)g->hub->cfg.guard_trust_half_life_ms;
    return def + (t - def) * exp2(-(double)dt / half);
}

double guard_trust_get(const guard_t *g, const char *principal, int64_t now_ms)
{
    const json_t *rec = principal ? json_object_get(g->principals, principal) : NULL;
    return guard_trust_decayed(g, rec, now_ms);
}

int64_t guard_trust_step(const guard_t *g, const char *cause)
{
    const config_t *cfg = &g->hub->cfg;
    if (strcmp(cause, "allow") == 0)
        return cfg->guard_trust_allow_milli;
    if (strcmp(cause, "review") == 0)
        return cfg->guard_trust_review_milli;
    if (strcmp(cause, "deny") == 0)
        return cfg->guard_trust_deny_milli;
    if (strcmp(cause, "approved") == 0)
        return cfg->guard_trust_approved_milli;
    if (strcmp(cause, "shutdown") == 0)
        return 0; /* nobody decided: no step */
    return cfg->guard_trust_rejected_milli;
}

json_t *guard_trust_move(guard_t *g, const char *principal, int64_t step_milli, const char *cause,
                         int64_t now_ms)
{
    if (!principal || !*principal || strlen(principal) > GUARD_PRINCIPAL_MAX)
        return NULL;
    json_t *rec = json_object_get(g->principals, principal);
    if (!rec) {
        if (json_object_size(g->principals) >= GUARD_PRINCIPALS_MAX)
            return NULL;
        rec = json_pack("{s:f,s:I,s:[]}", "trust", guard_trust_default(g), "updated_ms",
                        (json_int_t)now_ms, "history");
        if (!rec || json_object_set_new(g->principals, principal, rec) < 0)
            return NULL;
    }
    double before = guard_trust_decayed(g, rec, now_ms);
    double after = before + (double)step_milli / 1000.0;
    after = after < 0 ? 0 : after > 1 ? 1 : after;
    json_object_set_new(rec, "trust", json_real(after));
    json_object_set_new(rec, "updated_ms", json_integer(now_ms));
    json_t *hist = json_object_get(rec, "history");
    char at[40];
    clock_rfc3339(now_ms, at, sizeof at);
    json_array_append_new(hist, json_pack("{s:s,s:s,s:f,s:f}", "at", at, "cause", cause, "from",
                                          before, "to", after));
    while (json_array_size(hist) > (size_t)g->hub->cfg.guard_trust_history)
        json_array_remove(hist, 0);
    return rec;
}

json_t *guard_principal_json(const guard_t *g, const char *id, const json_t *rec, bool history,
                             int64_t now_ms)
{
    json_t *o = json_pack("{s:s,s:f,s:f}", "id", id, "trust", guard_trust_decayed(g, rec, now_ms),
                          "default", guard_trust_default(g));
    if (rec) {
        char at[40];
        clock_rfc3339(json_integer_value(json_object_get(rec, "updated_ms")), at, sizeof at);
        json_object_set_new(o, "updated_at", json_string(at));
        json_object_set_new(o, "stored_trust",
                            json_real(json_number_value(json_object_get(rec, "trust"))));
    }
    if (history)
        json_object_set_new(o, "history",
                            rec ? json_deep_copy(json_object_get(rec, "history")) : json_array());
    return o;
}
