/* FEAGI's HTTP API under /v1, on the default brain (brain.default, else the first): the routes
 * FEAGI's clients and tools call, with Python FEAGI's response shapes (bare numbers where it
 * answers them) and feagi-core's input variants. Listed in docs/brain.md "FEAGI compatibility
 * routes". With brain.feagi_loopback_open they answer loopback clients without a token. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_owner.h"
#include "brain/brain_api_internal.h"
#include "brain/brain_internal.h"
#include "core/clock.h"
#include "core/hub.h"

/* what a shared handler does, passed as its ctx */
enum { FEAGI_ADD = 1, FEAGI_SET, FEAGI_DEL, FEAGI_EFF, FEAGI_AFF };
static const char *const brain_api_feagi_shipped[] = {"barebones", "essential"};
#define FEAGI_OP(ctx) ((int)(intptr_t)(ctx))

static bool brain_api_feagi_peer_loopback(api_req_t *req)
{
    /* HTTP peers are "IP:port" or "[IPv6]:port"; ZMQ's are the bare address */
    const char *peer = api_req_peer(req);
    if (!peer)
        return false;
    return strncmp(peer, "127.", 4) == 0 || strncmp(peer, "[::1]", 5) == 0 ||
           strcmp(peer, "::1") == 0 || strncmp(peer, "[::ffff:127.", 12) == 0 ||
           strncmp(peer, "::ffff:127.", 11) == 0;
}

/* The open routes are registered public; they still refuse other peers. */
static bool brain_api_feagi_allowed(api_req_t *req)
{
    if (!brain_api_reg(req)->feagi_open || brain_api_feagi_peer_loopback(req))
        return true;
    api_reply_problem(req, problem_new(403, "loopback-only",
                                       "the FEAGI /v1 routes are open to loopback clients only"
                                       " (brain.feagi_loopback_open)"));
    return false;
}

static brain_t *brain_api_feagi_brain(api_req_t *req)
{
    if (!brain_api_feagi_allowed(req))
        return NULL;
    brain_t *b = brain_default(brain_api_reg(req));
    problem_t *p = b ? brain_api_owner_check(req, b) : NULL;
    if (!b)
        p = problem_new(404, "no-brain",
                        "no brain yet: upload a genome (POST /v1/genome/upload/...) or create one");
    if (p) {
        api_reply_problem(req, p);
        return NULL;
    }
    return b;
}

/* A string field under any of its names (Python's and feagi-core's). */
static const char *brain_api_feagi_str(api_req_t *req, const char *a, const char *b)
{
    json_t *body = api_req_body(req);
    const char *v = json_string_value(json_object_get(body, a));
    if (!v && b)
        v = json_string_value(json_object_get(body, b));
    if (!v)
        v = api_req_query_str(req, a);
    return v;
}

/* Replies with any JSON value, bare numbers and strings included (stolen). */
static void brain_api_feagi_reply_any(api_req_t *req, json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    if (!text) {
        api_reply_problem(req, problem_new(503, "out-of-memory", "no memory"));
        return;
    }
    api_reply_json_text(req, 200, text, strlen(text));
    free(text);
}

static void brain_api_feagi_ok(api_req_t *req, brain_t *b)
{
    (void)b;
    api_reply_json(req, 200, json_pack("{s:b}", "success", 1));
}

/* ---- genome ---- */

static void brain_api_feagi_genome_load(api_req_t *req, json_t *genome, const char *name)
{
    brain_reg_t *r = brain_api_reg(req);
    brain_t *b = brain_default(r);
    if (b) {
        brain_api_genome_apply(req, b, genome, 200, brain_api_feagi_ok);
        return;
    }
    void *ud = NULL;
    brain_t *nb = NULL;
    brain_done_fn done = brain_api_done_fn(req, "", 200, brain_api_feagi_ok, &ud);
    if (!done) {
        json_decref(genome);
        api_reply_problem(req, problem_new(503, "out-of-memory", "no memory"));
        return;
    }
    problem_t *p = brain_create(r, name, genome, 0, true, api_owner_of(req), NULL, &nb, done, ud);
    if (p) {
        free(ud);
        api_reply_problem(req, p);
    }
}

static void brain_api_feagi_upload_shipped(api_req_t *req, void *ctx)
{
    if (!brain_api_feagi_allowed(req))
        return;
    problem_t *p = NULL;
    const char *name = brain_api_feagi_shipped[FEAGI_OP(ctx)];
    json_t *g = brain_genome_shipped(brain_api_reg(req), name, &p);
    if (!g)
        api_reply_problem(req, p);
    else
        brain_api_feagi_genome_load(req, g, name);
}

/* The genome from a body: the genome object itself, {"genome": object or JSON text}, or a
 * multipart form's first part (FEAGI's file upload). New reference or NULL with *p. */
static json_t *brain_api_feagi_genome_from_body(api_req_t *req, problem_t **p)
{
    size_t len = 0;
    const char *ct = NULL;
    const char *raw = api_req_raw_body(req, &len, &ct);
    if (!raw || !len) {
        *p = problem_new(422, "invalid-genome", "the body holds no genome");
        return NULL;
    }
    const char *start = raw, *end = raw + len;
    if (ct && strncmp(ct, "multipart/form-data", 19) == 0) {
        const char *hdr_end = strstr(raw, "\r\n\r\n");
        const char *close = NULL;
        for (const char *q = end - 1; q > raw && !close; q--)
            if (*q == '}')
                close = q;
        if (!hdr_end || !close || close < hdr_end) {
            *p = problem_new(422, "invalid-genome", "no genome file in the form");
            return NULL;
        }
        start = hdr_end + 4;
        end = close + 1;
    }
    json_error_t je;
    json_t *v = json_loadb(start, (size_t)(end - start), JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(v)) {
        json_decref(v);
        *p = problem_new(422, "invalid-genome", "the genome is not a JSON object: %s", je.text);
        return NULL;
    }
    json_t *inner = json_object_get(v, "genome");
    if (inner && !json_object_get(v, "blueprint")) {
        json_t *g = json_is_string(inner) ? json_loads(json_string_value(inner), 0, NULL)
                                          : json_incref(inner);
        json_decref(v);
        if (!json_is_object(g)) {
            json_decref(g);
            *p = problem_new(422, "invalid-genome", "genome is not a JSON object");
            return NULL;
        }
        return g;
    }
    return v;
}

static void brain_api_feagi_upload_body(api_req_t *req, void *ctx)
{
    (void)ctx;
    if (!brain_api_feagi_allowed(req))
        return;
    problem_t *p = NULL;
    json_t *g = brain_api_feagi_genome_from_body(req, &p);
    if (!g) {
        api_reply_problem(req, p);
        return;
    }
    brain_api_feagi_genome_load(req, g, NULL);
}

static void brain_api_feagi_genome_file_name(api_req_t *req, void *ctx)
{
    (void)ctx;
    brain_t *b = brain_api_feagi_brain(req);
    if (!b)
        return;
    const char *t = json_string_value(json_object_get(brain_genome(b), "genome_title"));
    brain_api_feagi_reply_any(req, json_string(t ? t : brain_name(b)));
}

static void brain_api_feagi_genome_download(api_req_t *req, void *ctx)
{
    (void)ctx;
    brain_t *b = brain_api_feagi_brain(req);
    if (b)
        api_reply_json(req, 200, json_deep_copy(brain_genome(b)));
}

/* ---- cortical areas ---- */

typedef enum {
    FEAGI_IDS,
    FEAGI_NAMES,
    FEAGI_ID_NAME,
    FEAGI_IPU,
    FEAGI_OPU,
    FEAGI_DIMS,
    FEAGI_SUMMARY,
    FEAGI_TYPES
} brain_api_feagi_list_t;

static void brain_api_feagi_areas_list(api_req_t *req, void *ctx)
{
    brain_t *b = brain_api_feagi_brain(req);
    if (!b)
        return;
    brain_api_feagi_list_t kind = (brain_api_feagi_list_t)(intptr_t)ctx;
    size_t n = 0;
    brain_bp_area_t *areas = brain_bp_areas(brain_view(b), &n); /* sorted by id */
    json_t *out = (kind == FEAGI_ID_NAME || kind == FEAGI_DIMS || kind == FEAGI_TYPES)
                      ? json_object()
                      : json_array();
    for (size_t i = 0; i < n; i++) {
        const char *id = areas[i].id;
        json_t *a = brain_bp_area_json(brain_view(b), id);
        const char *name = json_string_value(json_object_get(a, "cortical_name"));
        const char *group = json_string_value(json_object_get(a, "cortical_group"));
        switch (kind) {
        case FEAGI_IDS:
            json_array_append_new(out, json_string(id));
            break;
        case FEAGI_NAMES:
            json_array_append_new(out, json_string(name));
            break;
        case FEAGI_ID_NAME:
            json_object_set_new(out, id, json_string(name));
            break;
        case FEAGI_IPU:
        case FEAGI_OPU:
            if (strcmp(group, kind == FEAGI_IPU ? "IPU" : "OPU") == 0)
                json_array_append_new(out, json_string(id));
            break;
        case FEAGI_DIMS:
            json_object_set(out, id, json_object_get(a, "cortical_dimensions"));
            break;
        case FEAGI_SUMMARY:
            json_array_append_new(
                out, json_pack("{s:s,s:s,s:s,s:O,s:O,s:O}", "cortical_id", id, "cortical_name",
                               name, "cortical_group", group, "cortical_dimensions",
                               json_object_get(a, "cortical_dimensions"), "coordinates_3d",
                               json_object_get(a, "coordinates_3d"), "neuron_count",
                               json_object_get(a, "neuron_count")));
            break;
        case FEAGI_TYPES: {
            json_t *g = json_object_get(out, group);
            if (!g) {
                g = json_pack("{s:[]}", "cortical_ids");
                json_object_set_new(out, group, g);
            }
            json_array_append_new(json_object_get(g, "cortical_ids"), json_string(id));
            break;
        }
        }
        json_decref(a);
    }
    free(areas);
    api_reply_json(req, 200, out);
}

static void brain_api_feagi_area_properties(api_req_t *req, void *ctx)
{
    (void)ctx;
    brain_t *b = brain_api_feagi_brain(req);
    if (!b)
        return;
    const char *id = brain_api_feagi_str(req, "cortical_id", "cortical_area_id");
    if (!id) {
        problem_t *p = NULL;
        problem_field_error(&p, "body", "cortical_id", "is required");
        api_reply_problem(req, p);
        return;
    }
    json_t *a = brain_bp_area_json(brain_view(b), id);
    if (!a)
        api_reply_problem(req, problem_new(404, "not-found", "no cortical area '%s'", id));
    else
        api_reply_json(req, 200, a);
}

static void brain_api_feagi_area_reply(api_req_t *req, brain_t *b)
{
    const char *id = brain_api_feagi_str(req, "cortical_id", "cortical_area_id");
    json_t *a = b && id ? brain_bp_area_json(brain_view(b), id) : NULL;
    api_reply_json(req, 200, a ? a : json_pack("{s:b}", "success", 1));
}

static void brain_api_feagi_area_change(api_req_t *req, void *ctx)
{
    brain_t *b = brain_api_feagi_brain(req);
    if (!b)
        return;
    int op = FEAGI_OP(ctx);
    json_t *body = api_req_body(req);
    const char *id = brain_api_feagi_str(req, "cortical_id", "cortical_area_id");
    problem_t *p = NULL;
    json_t *g = NULL;
    if (op == FEAGI_ADD) {
        g = brain_bp_area_add(brain_view(b), body, &p);
    } else if (!id) {
        problem_field_error(&p, "body", "cortical_id", "is required");
    } else if (op == FEAGI_SET) {
        json_t *props = json_deep_copy(body);
        json_object_del(props, "cortical_area_id");
        void *ud = NULL;
        brain_done_fn done =
            brain_api_done_fn(req, brain_id(b), 200, brain_api_feagi_area_reply, &ud);
        p = done ? brain_area_update(b, id, props, done, ud)
                 : problem_new(503, "out-of-memory", "no memory");
        json_decref(props);
        if (p) {
            free(ud);
            api_reply_problem(req, p);
        }
        return;
    } else {
        g = brain_bp_area_remove(brain_view(b), id, &p);
    }
    if (!g) {
        api_reply_problem(req, p);
        return;
    }
    brain_api_genome_apply(req, b, g, 200,
                           op != FEAGI_DEL ? brain_api_feagi_area_reply : brain_api_feagi_ok);
}

/* ---- regions and morphologies ---- */

static void brain_api_feagi_regions(api_req_t *req, void *ctx)
{
    (void)ctx;
    brain_t *b = brain_api_feagi_brain(req);
    if (!b)
        return;
    json_t *r = json_object_get(brain_view(b), "brain_regions");
    api_reply_json(req, 200, json_is_object(r) ? json_deep_copy(r) : json_object());
}

static void brain_api_feagi_region_change(api_req_t *req, void *ctx)
{
    brain_t *b = brain_api_feagi_brain(req);
    if (!b)
        return;
    int op = FEAGI_OP(ctx);
    const char *id = brain_api_feagi_str(req, "region_id", "id");
    problem_t *p = NULL;
    if (!id) {
        problem_field_error(&p, "body", "region_id", "is required");
        api_reply_problem(req, p);
        return;
    }
    json_t *g = json_deep_copy(brain_view(b));
    json_t *regions = json_object_get(g, "brain_regions");
    if (!json_is_object(regions)) {
        regions = json_object();
        json_object_set_new(g, "brain_regions", regions);
    }
    json_t *cur = json_object_get(regions, id);
    if (op == FEAGI_DEL || op == FEAGI_SET) {
        if (!cur) {
            json_decref(g);
            api_reply_problem(req, problem_new(404, "not-found", "no brain region '%s'", id));
            return;
        }
    } else if (cur) {
        json_decref(g);
        api_reply_problem(req, problem_new(409, "conflict", "brain region '%s' exists", id));
        return;
    }
    if (op == FEAGI_DEL) {
        json_object_del(regions, id);
    } else {
        json_t *props = json_deep_copy(api_req_body(req));
        json_object_del(props, "region_id");
        if (cur)
            json_object_update(cur, props);
        else
            json_object_set(regions, id, props);
        json_decref(props);
    }
    brain_api_genome_apply(req, b, g, 200, brain_api_feagi_ok);
}

static void brain_api_feagi_morph_list(api_req_t *req, void *ctx)
{
    (void)ctx;
    brain_t *b = brain_api_feagi_brain(req);
    if (!b)
        return;
    json_t *m = json_object_get(brain_view(b), "neuron_morphologies");
    json_t *a = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v) json_array_append_new(a, json_string(k));
    api_reply_json(req, 200, a);
}

static void brain_api_feagi_morph_props(api_req_t *req, void *ctx)
{
    (void)ctx;
    brain_t *b = brain_api_feagi_brain(req);
    if (!b)
        return;
    const char *id = brain_api_feagi_str(req, "morphology_name", "morphology_id");
    json_t *m =
        id ? json_object_get(json_object_get(brain_view(b), "neuron_morphologies"), id) : NULL;
    if (!m) {
        api_reply_problem(req, problem_new(404, "not-found", "no morphology '%s'", id ? id : ""));
        return;
    }
    json_t *o = json_deep_copy(m);
    json_object_set_new(o, "morphology_name", json_string(id));
    api_reply_json(req, 200, o);
}

static void brain_api_feagi_morph_change(api_req_t *req, void *ctx)
{
    brain_t *b = brain_api_feagi_brain(req);
    if (!b)
        return;
    int op = FEAGI_OP(ctx);
    const char *id = brain_api_feagi_str(req, "morphology_name", "morphology_id");
    problem_t *p = NULL;
    if (!id) {
        problem_field_error(&p, "body", "morphology_name", "is required");
        api_reply_problem(req, p);
        return;
    }
    json_t *g = json_deep_copy(brain_view(b));
    json_t *morphs = json_object_get(g, "neuron_morphologies");
    if (!json_is_object(morphs)) {
        morphs = json_object();
        json_object_set_new(g, "neuron_morphologies", morphs);
    }
    json_t *cur = json_object_get(morphs, id);
    if (!cur && op != FEAGI_ADD) {
        json_decref(g);
        api_reply_problem(req, problem_new(404, "not-found", "no morphology '%s'", id));
        return;
    }
    if (cur && op == FEAGI_ADD) {
        json_decref(g);
        api_reply_problem(req, problem_new(409, "conflict", "morphology '%s' exists", id));
        return;
    }
    if (op == FEAGI_DEL) {
        json_object_del(morphs, id);
    } else {
        json_t *m = json_deep_copy(api_req_body(req));
        json_object_del(m, "morphology_name");
        json_object_del(m, "morphology_id");
        json_object_set_new(morphs, id, m);
    }
    brain_api_genome_apply(req, b, g, 200, brain_api_feagi_ok);
}

/* ---- mappings ---- */

static void brain_api_feagi_mapping_list(api_req_t *req, void *ctx)
{
    brain_t *b = brain_api_feagi_brain(req);
    if (!b)
        return;
    bool eff = FEAGI_OP(ctx) == FEAGI_EFF;
    const char *id = brain_api_feagi_str(req, "cortical_area_id", "cortical_id");
    if (!id) {
        problem_t *p = NULL;
        problem_field_error(&p, "body", "cortical_area_id", "is required");
        api_reply_problem(req, p);
        return;
    }
    json_t *all = brain_bp_mappings(brain_view(b));
    json_t *out = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(all, i, m)
    {
        const char *s = json_string_value(json_object_get(m, "source"));
        const char *d = json_string_value(json_object_get(m, "destination"));
        if (strcmp(eff ? s : d, id) == 0)
            json_array_append_new(out, json_string(eff ? d : s));
    }
    json_decref(all);
    api_reply_json(req, 200, out);
}

static void brain_api_feagi_mapping_props(api_req_t *req, void *ctx)
{
    (void)ctx;
    brain_t *b = brain_api_feagi_brain(req);
    if (!b)
        return;
    const char *src = brain_api_feagi_str(req, "src_cortical_area", "source");
    const char *dst = brain_api_feagi_str(req, "dst_cortical_area", "destination");
    if (!src || !dst) {
        problem_t *p = NULL;
        problem_field_error(&p, "body", src ? "dst_cortical_area" : "src_cortical_area",
                            "is required");
        api_reply_problem(req, p);
        return;
    }
    api_reply_json(req, 200, brain_bp_mapping_get(brain_view(b), src, dst));
}

static void brain_api_feagi_mapping_set(api_req_t *req, void *ctx)
{
    (void)ctx;
    brain_t *b = brain_api_feagi_brain(req);
    if (!b)
        return;
    const char *src = brain_api_feagi_str(req, "src_cortical_area", "source");
    const char *dst = brain_api_feagi_str(req, "dst_cortical_area", "destination");
    json_t *rules = json_object_get(api_req_body(req), "mapping_string");
    if (!rules)
        rules = json_object_get(api_req_body(req), "rules");
    problem_t *p = NULL;
    if (!src || !dst) {
        problem_field_error(&p, "body", src ? "dst_cortical_area" : "src_cortical_area",
                            "is required");
        api_reply_problem(req, p);
        return;
    }
    void *ud = NULL;
    brain_done_fn done = brain_api_done_fn(req, brain_id(b), 200, brain_api_feagi_ok, &ud);
    p = done ? brain_mapping_update(b, src, dst, rules, done, ud)
             : problem_new(503, "out-of-memory", "no memory");
    if (p) {
        free(ud);
        api_reply_problem(req, p);
    }
}

/* ---- burst engine ---- */

static void brain_api_feagi_burst_counter(api_req_t *req, void *ctx)
{
    (void)ctx;
    if (!brain_api_feagi_allowed(req))
        return;
    brain_t *b = brain_default(brain_api_reg(req));
    brain_api_feagi_reply_any(req, json_integer(b ? (json_int_t)brain_bursts(b) : 0));
}

static void brain_api_feagi_period_get(api_req_t *req, void *ctx)
{
    (void)ctx;
    if (!brain_api_feagi_allowed(req))
        return;
    brain_t *b = brain_default(brain_api_reg(req));
    brain_api_feagi_reply_any(req, json_real(b ? 1.0 / brain_frequency(b) : 0.0));
}

static void brain_api_feagi_period_reply(api_req_t *req, brain_t *b)
{
    brain_api_feagi_reply_any(req, json_real(b ? 1.0 / brain_frequency(b) : 0.0));
}

static void brain_api_feagi_period_set(api_req_t *req, void *ctx)
{
    (void)ctx;
    brain_t *b = brain_api_feagi_brain(req);
    if (!b)
        return;
    json_t *body = api_req_body(req);
    json_t *v = json_object_get(body, "burst_duration");
    if (!v)
        v = json_object_get(body, "simulation_timestep");
    if (!json_is_number(v) || json_number_value(v) <= 0) {
        problem_t *p = NULL;
        problem_field_error(&p, "body", "burst_duration",
                            "must be a positive number of seconds (or simulation_timestep)");
        api_reply_problem(req, p);
        return;
    }
    void *ud = NULL;
    brain_done_fn done =
        brain_api_done_fn(req, brain_id(b), 200, brain_api_feagi_period_reply, &ud);
    problem_t *p = done ? brain_frequency_set(b, 1.0 / json_number_value(v), done, ud)
                        : problem_new(503, "out-of-memory", "no memory");
    if (p) {
        free(ud);
        api_reply_problem(req, p);
    }
}

/* ---- agents (Python brain_api_feagi_connector's HTTP registration) ---- */

static void brain_api_feagi_agent_register(api_req_t *req, void *ctx)
{
    brain_reg_t *R = brain_api_reg(req);
    (void)ctx;
    if (!brain_api_feagi_allowed(req))
        return;
    size_t len = 0;
    const char *raw = api_req_raw_body(req, &len, NULL);
    json_t *v = raw ? json_loadb(raw, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    const char *id = json_string_value(json_object_get(v, "agent_id"));
    if (!id)
        id = api_req_query_str(req, "agent_id");
    if (!json_is_object(v) || !id || !id[0] || strlen(id) >= sizeof R->feagi_agents[0].id) {
        json_decref(v);
        problem_t *p = NULL;
        problem_field_error(&p, "body", "agent_id", "is required (a JSON body with agent_id)");
        api_reply_problem(req, p);
        return;
    }
    size_t i = 0;
    while (i < R->feagi_nagents && strcmp(R->feagi_agents[i].id, id) != 0)
        i++;
    if (i == R->feagi_nagents) {
        if (R->feagi_nagents == BRAIN_FEAGI_AGENTS_MAX) {
            json_decref(v);
            api_reply_problem(req, problem_new(429, "too-many-agents",
                                               "%d FEAGI agents are registered already",
                                               BRAIN_FEAGI_AGENTS_MAX));
            return;
        }
        R->feagi_nagents++;
        snprintf(R->feagi_agents[i].id, sizeof R->feagi_agents[i].id, "%s", id);
    }
    json_decref(R->feagi_agents[i].info);
    R->feagi_agents[i].info = json_deep_copy(v);
    json_object_set_new(v, "agent_router_address", json_string(""));
    json_object_set_new(v, "success", json_true());
    api_reply_json(req, 200, v);
}

static void brain_api_feagi_agent_list(api_req_t *req, void *ctx)
{
    brain_reg_t *R = brain_api_reg(req);
    (void)ctx;
    if (!brain_api_feagi_allowed(req))
        return;
    json_t *a = json_array();
    for (size_t i = 0; i < R->feagi_nagents; i++)
        json_array_append_new(a, json_string(R->feagi_agents[i].id));
    api_reply_json(req, 200, a);
}

static void brain_api_feagi_agent_deregister(api_req_t *req, void *ctx)
{
    brain_reg_t *R = brain_api_reg(req);
    (void)ctx;
    if (!brain_api_feagi_allowed(req))
        return;
    const char *id = api_req_query_str(req, "agent_id");
    for (size_t i = 0; id && i < R->feagi_nagents; i++)
        if (strcmp(R->feagi_agents[i].id, id) == 0) {
            json_decref(R->feagi_agents[i].info);
            R->feagi_agents[i] = R->feagi_agents[--R->feagi_nagents];
            memset(&R->feagi_agents[R->feagi_nagents], 0, sizeof R->feagi_agents[0]);
            api_reply_json(req, 200, json_pack("{s:b}", "success", 1));
            return;
        }
    api_reply_problem(req, problem_new(404, "not-found", "no FEAGI agent '%s'", id ? id : ""));
}

/* ---- system ---- */

static void brain_api_feagi_health(api_req_t *req, void *ctx)
{
    brain_reg_t *R = brain_api_reg(req);
    (void)ctx;
    if (!brain_api_feagi_allowed(req))
        return;
    brain_t *b = brain_default(R);
    json_t *o = json_object();
    json_t *summary = b ? brain_to_json(b, false) : NULL;
    bool running = b && brain_status(b) == BRAIN_RUNNING;
    json_object_set_new(o, "burst_engine", json_boolean(running));
    json_object_set_new(o, "connected_agents", json_integer((json_int_t)R->feagi_nagents));
    json_object_set_new(o, "genome_availability", json_boolean(b != NULL));
    json_object_set_new(o, "brain_readiness",
                        json_boolean(b && brain_status(b) != BRAIN_FAILED &&
                                     strcmp(json_string_value(json_object_get(summary, "status")),
                                            "building") != 0));
    json_object_set_new(o, "cortical_area_count",
                        summary ? json_incref(json_object_get(summary, "area_count"))
                                : json_integer(0));
    json_object_set_new(o, "neuron_count",
                        summary ? json_incref(json_object_get(summary, "neuron_count"))
                                : json_integer(0));
    json_object_set_new(o, "synapse_count",
                        summary ? json_incref(json_object_get(summary, "synapse_count"))
                                : json_integer(0));
    json_object_set_new(o, "simulation_timestep", json_real(b ? 1.0 / brain_frequency(b) : 0.0));
    json_object_set_new(o, "burst_counter", json_integer(b ? (json_int_t)brain_bursts(b) : 0));
    json_object_set_new(o, "brain_id", b ? json_string(brain_id(b)) : json_null());
    json_object_set_new(o, "genome_validity", json_boolean(b != NULL));
    json_decref(summary);
    api_reply_json(req, 200, o);
}

/* ---- the table ---- */

static const char *const brain_api_feagi_any_type[] = {
    "application/json", "multipart/form-data", "application/octet-stream", "text/plain", NULL};
static const api_field_t brain_api_feagi_agent_query[] = {
    {.name = "agent_id", .type = API_T_STRING, .flags = API_F_MAX, .max = 127}, {0}};
static const api_field_t brain_api_feagi_area_query[] = {
    {.name = "cortical_id", .type = API_T_STRING, .flags = API_F_MAX, .max = BRAIN_BP_ID_MAX}, {0}};

#define FEAGI_R(SR, m, p, fn, c, sum)                                                              \
    {                                                                                              \
        .method = m, .path = p, .scope = SR, .tag = "feagi", .summary = sum, .handler = fn,        \
        .ctx = (void *)(intptr_t)(c)                                                               \
    }
#define FEAGI_W(SW, m, p, fn, c, sum)                                                              \
    {                                                                                              \
        .method = m, .path = p, .scope = SW, .tag = "feagi", .summary = sum,                       \
        .body_kind = API_BODY_JSON, .handler = fn, .ctx = (void *)(intptr_t)(c)                    \
    }

/* The routes, with their read and write scopes as arguments: registered with brain:read and
 * brain:write, or all public when brain.feagi_loopback_open opens them to loopback. */
#define FEAGI_TABLE(SR, SW)                                                                        \
    {                                                                                              \
        FEAGI_W(SW, "POST", "/v1/genome/upload/barebones", brain_api_feagi_upload_shipped, 0,      \
                "Load the shipped barebones genome into the default brain"),                       \
            FEAGI_W(SW, "POST", "/v1/genome/upload/essential", brain_api_feagi_upload_shipped, 1,  \
                    "Load the shipped essential genome into the default brain"),                   \
            {.method = "POST",                                                                     \
             .path = "/v1/genome/upload/file",                                                     \
             .scope = SW,                                                                          \
             .tag = "feagi",                                                                       \
             .summary = "Load a genome file (JSON, or a multipart form's file)",                   \
             .body_kind = API_BODY_RAW,                                                            \
             .content_types = brain_api_feagi_any_type,                                            \
             .handler = brain_api_feagi_upload_body},                                              \
            {.method = "POST",                                                                     \
             .path = "/v1/genome/upload/string",                                                   \
             .scope = SW,                                                                          \
             .tag = "feagi",                                                                       \
             .summary = "Load a genome given as JSON ({genome: object or text})",                  \
             .body_kind = API_BODY_RAW,                                                            \
             .content_types = brain_api_feagi_any_type,                                            \
             .handler = brain_api_feagi_upload_body},                                              \
            FEAGI_R(SR, "GET", "/v1/genome/file_name", brain_api_feagi_genome_file_name, NULL,     \
                    "The default brain's genome title"),                                           \
            FEAGI_R(SR, "GET", "/v1/genome/download", brain_api_feagi_genome_download, NULL,       \
                    "The default brain's genome"),                                                 \
            FEAGI_R(SR, "GET", "/v1/cortical_area/cortical_area_id_list",                          \
                    brain_api_feagi_areas_list, FEAGI_IDS, "Cortical area ids, sorted"),           \
            FEAGI_R(SR, "GET", "/v1/cortical_area/cortical_area_name_list",                        \
                    brain_api_feagi_areas_list, FEAGI_NAMES, "Cortical area names"),               \
            FEAGI_R(SR, "GET", "/v1/cortical_area/cortical_id_name_mapping",                       \
                    brain_api_feagi_areas_list, FEAGI_ID_NAME, "Cortical area id to name"),        \
            FEAGI_R(SR, "GET", "/v1/cortical_area/cortical_types", brain_api_feagi_areas_list,     \
                    FEAGI_TYPES, "Cortical area ids by group"),                                    \
            FEAGI_R(SR, "GET", "/v1/cortical_area/ipu", brain_api_feagi_areas_list, FEAGI_IPU,     \
                    "Input area ids"),                                                             \
            FEAGI_R(SR, "GET", "/v1/cortical_area/opu", brain_api_feagi_areas_list, FEAGI_OPU,     \
                    "Output area ids"),                                                            \
            {.method = "POST",                                                                     \
             .path = "/v1/cortical_area/cortical_area_properties",                                 \
             .scope = SR,                                                                          \
             .tag = "feagi",                                                                       \
             .summary = "One cortical area's properties ({cortical_id})",                          \
             .body_kind = API_BODY_JSON,                                                           \
             .handler = brain_api_feagi_area_properties},                                          \
            FEAGI_W(SW, "POST", "/v1/cortical_area/cortical_area", brain_api_feagi_area_change,    \
                    FEAGI_ADD, "Add a cortical area"),                                             \
            FEAGI_W(SW, "PUT", "/v1/cortical_area/cortical_area", brain_api_feagi_area_change,     \
                    FEAGI_SET, "Change a cortical area's properties"),                             \
            {.method = "DELETE",                                                                   \
             .path = "/v1/cortical_area/cortical_area",                                            \
             .scope = SW,                                                                          \
             .tag = "feagi",                                                                       \
             .summary = "Delete a cortical area (?cortical_id= or a body)",                        \
             .query = brain_api_feagi_area_query,                                                  \
             .body_kind = API_BODY_JSON,                                                           \
             .handler = brain_api_feagi_area_change,                                               \
             .ctx = (void *)(intptr_t)FEAGI_DEL},                                                  \
            FEAGI_R(SR, "GET", "/v1/region/regions", brain_api_feagi_regions, NULL,                \
                    "Brain regions"),                                                              \
            FEAGI_W(SW, "POST", "/v1/region/region", brain_api_feagi_region_change, FEAGI_ADD,     \
                    "Add a brain region"),                                                         \
            FEAGI_W(SW, "PUT", "/v1/region/region", brain_api_feagi_region_change, FEAGI_SET,      \
                    "Change a brain region"),                                                      \
            FEAGI_W(SW, "DELETE", "/v1/region/region", brain_api_feagi_region_change, FEAGI_DEL,   \
                    "Delete a brain region"),                                                      \
            FEAGI_R(SR, "GET", "/v1/morphology/morphology_list", brain_api_feagi_morph_list, NULL, \
                    "Morphology names"),                                                           \
            {.method = "POST",                                                                     \
             .path = "/v1/morphology/morphology_properties",                                       \
             .scope = SR,                                                                          \
             .tag = "feagi",                                                                       \
             .summary = "One morphology ({morphology_name})",                                      \
             .body_kind = API_BODY_JSON,                                                           \
             .handler = brain_api_feagi_morph_props},                                              \
            FEAGI_W(SW, "POST", "/v1/morphology/morphology", brain_api_feagi_morph_change,         \
                    FEAGI_ADD, "Add a morphology"),                                                \
            FEAGI_W(SW, "PUT", "/v1/morphology/morphology", brain_api_feagi_morph_change,          \
                    FEAGI_SET, "Change a morphology"),                                             \
            FEAGI_W(SW, "DELETE", "/v1/morphology/morphology", brain_api_feagi_morph_change,       \
                    FEAGI_DEL, "Delete a morphology"),                                             \
            {.method = "POST",                                                                     \
             .path = "/v1/cortical_mapping/efferents",                                             \
             .scope = SR,                                                                          \
             .tag = "feagi",                                                                       \
             .summary = "Areas an area maps to ({cortical_area_id})",                              \
             .body_kind = API_BODY_JSON,                                                           \
             .handler = brain_api_feagi_mapping_list,                                              \
             .ctx = (void *)(intptr_t)FEAGI_EFF},                                                  \
            {.method = "POST",                                                                     \
             .path = "/v1/cortical_mapping/afferents",                                             \
             .scope = SR,                                                                          \
             .tag = "feagi",                                                                       \
             .summary = "Areas that map to an area ({cortical_area_id})",                          \
             .body_kind = API_BODY_JSON,                                                           \
             .handler = brain_api_feagi_mapping_list,                                              \
             .ctx = (void *)(intptr_t)FEAGI_AFF},                                                  \
            {.method = "POST",                                                                     \
             .path = "/v1/cortical_mapping/mapping_properties",                                    \
             .scope = SR,                                                                          \
             .tag = "feagi",                                                                       \
             .summary = "Rules of one mapping ({src_cortical_area, dst_cortical_area})",           \
             .body_kind = API_BODY_JSON,                                                           \
             .handler = brain_api_feagi_mapping_props},                                            \
            FEAGI_W(SW, "PUT", "/v1/cortical_mapping/mapping_properties",                          \
                    brain_api_feagi_mapping_set, NULL,                                             \
                    "Replace one mapping's rules ({src_cortical_area, dst_cortical_area, "         \
                    "mapping_string})"),                                                           \
            FEAGI_R(SR, "GET", "/v1/burst_engine/burst_counter", brain_api_feagi_burst_counter,    \
                    NULL, "Bursts run (a bare integer)"),                                          \
            FEAGI_R(SR, "GET", "/v1/burst_engine/stimulation_period", brain_api_feagi_period_get,  \
                    NULL, "Seconds per burst (a bare number)"),                                    \
            FEAGI_W(SW, "POST", "/v1/burst_engine/stimulation_period", brain_api_feagi_period_set, \
                    NULL, "Set seconds per burst ({burst_duration} or {simulation_timestep})"),    \
            FEAGI_R(SR, "GET", "/v1/connectome/cortical_areas/list/summary",                       \
                    brain_api_feagi_areas_list, FEAGI_SUMMARY, "Cortical areas in short"),         \
            FEAGI_R(SR, "GET", "/v1/connectome/properties/dimensions", brain_api_feagi_areas_list, \
                    FEAGI_DIMS, "Cortical area dimensions by id"),                                 \
            {.method = "POST",                                                                     \
             .path = "/v1/agent/register",                                                         \
             .scope = SW,                                                                          \
             .tag = "feagi",                                                                       \
             .summary = "Register a Python FEAGI connector (JSON body, any Content-Type)",         \
             .query = brain_api_feagi_agent_query,                                                 \
             .body_kind = API_BODY_RAW,                                                            \
             .handler = brain_api_feagi_agent_register},                                           \
            FEAGI_R(SR, "GET", "/v1/agent/list", brain_api_feagi_agent_list, NULL,                 \
                    "Registered connector ids"),                                                   \
            {.method = "DELETE",                                                                   \
             .path = "/v1/agent/deregister",                                                       \
             .scope = SW,                                                                          \
             .tag = "feagi",                                                                       \
             .summary = "Deregister a connector (?agent_id=)",                                     \
             .query = brain_api_feagi_agent_query,                                                 \
             .handler = brain_api_feagi_agent_deregister},                                         \
            FEAGI_R(SR, "GET", "/v1/system/health_check", brain_api_feagi_health, NULL,            \
                    "Burst engine, genome and brain readiness, counts"),                           \
    }

static const api_endpoint_t brain_api_feagi_table[] = FEAGI_TABLE("brain:read", "brain:write");
static const api_endpoint_t brain_api_feagi_table_open[] =
    FEAGI_TABLE(API_SCOPE_PUBLIC, API_SCOPE_PUBLIC);

const api_endpoint_t *brain_api_feagi_endpoints(const hub_t *hub, size_t *n)
{
    *n = sizeof brain_api_feagi_table / sizeof brain_api_feagi_table[0];
    hub->brain->feagi_open = hub->cfg.brain_feagi_loopback_open != 0;
    return hub->brain->feagi_open ? brain_api_feagi_table_open : brain_api_feagi_table;
}
