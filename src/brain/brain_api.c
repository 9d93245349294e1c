/* The brain endpoints: /api/v1/brains and below, declared once here with their schemas and
 * scopes (brain:read, brain:write) and served over every transport by the registry; the
 * domain's metrics. The shapes are documented in docs/brain.md "Endpoints". */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_owner.h"
#include "brain/brain_api_internal.h"
#include "brain/brain_internal.h"
#include "brain/brain_io.h"
#include "brain/brain_robot.h"
#include "core/hub.h"
#include "core/metrics.h"
#include "core/strbuf.h"

#define BRAIN_ACTIVITY_MAX BRAIN_LEDGER_DEPTH

/* ---- shared with brain_api_feagi.c ---- */

brain_reg_t *brain_api_reg(api_req_t *req)
{
    return api_req_hub(req)->brain;
}

/* A reply after a change is committed: the brain as it is then (or the problem). */
typedef struct brain_pending {
    api_req_t *req;
    char id[BRAIN_ID_LEN + 1];
    int status;
    brain_api_reply_fn reply; /* NULL: the brain's JSON */
} brain_pending_t;

static void brain_api_done(problem_t *p, void *ud)
{
    brain_pending_t *pd = ud;
    if (p) {
        api_reply_problem(pd->req, p);
    } else if (pd->reply) {
        pd->reply(pd->req, brain_find(brain_api_reg(pd->req), pd->id));
    } else {
        brain_t *b = brain_find(brain_api_reg(pd->req), pd->id);
        if (pd->status == 204 || !b)
            api_reply_empty(pd->req, 204);
        else
            api_reply_json(pd->req, pd->status, brain_to_json(b, true));
    }
    free(pd);
}

/* Starts a change: done replies once it is committed. */
void brain_api_change(api_req_t *req, brain_t *b, int status, brain_api_reply_fn reply,
                      problem_t *(*op)(brain_t *, brain_done_fn, void *))
{
    brain_pending_t *pd = calloc(1, sizeof *pd);
    if (!pd) {
        api_reply_problem(req, problem_new(503, "out-of-memory", "no memory"));
        return;
    }
    pd->req = req;
    pd->status = status;
    pd->reply = reply;
    snprintf(pd->id, sizeof pd->id, "%s", brain_id(b));
    problem_t *p = op(b, brain_api_done, pd);
    if (p) {
        free(pd);
        api_reply_problem(req, p);
    }
}

brain_done_fn brain_api_done_fn(api_req_t *req, const char *id, int status,
                                brain_api_reply_fn reply, void **ud)
{
    brain_pending_t *pd = calloc(1, sizeof *pd);
    *ud = pd;
    if (!pd)
        return NULL;
    pd->req = req;
    pd->status = status;
    pd->reply = reply;
    snprintf(pd->id, sizeof pd->id, "%s", id);
    return brain_api_done;
}

problem_t *brain_api_owner_check(const api_req_t *req, const brain_t *b)
{
    return api_owner_check(req, "brain", b->name, b->owner, b->team,
                           strcmp(api_req_method(req), "GET") != 0);
}

/* The brain of the path, when the caller may see it (a GET) or change it (any other method);
 * else NULL after a 404 (unknown, or not the caller's to see) or a 403. */
static brain_t *brain_api_find(api_req_t *req)
{
    const char *id = api_req_param_str(req, "id");
    brain_t *b = brain_find(brain_api_reg(req), id);
    problem_t *p = b ? brain_api_owner_check(req, b) : NULL;
    if (!b)
        p = problem_new(404, "not-found", "no brain '%s'", id);
    if (p) {
        api_reply_problem(req, p);
        return NULL;
    }
    return b;
}

/* ---- schemas ---- */

static const api_field_t brain_id_param[] = {{.name = "id",
                                              .type = API_T_STRING,
                                              .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
                                              .min = 1,
                                              .max = BRAIN_NAME_MAX,
                                              .description = "brain id or name"},
                                             {0}};
static const api_field_t brain_area_params[] = {{.name = "id",
                                                 .type = API_T_STRING,
                                                 .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
                                                 .min = 1,
                                                 .max = BRAIN_NAME_MAX,
                                                 .description = "brain id or name"},
                                                {.name = "area",
                                                 .type = API_T_STRING,
                                                 .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
                                                 .min = 1,
                                                 .max = BRAIN_BP_ID_MAX,
                                                 .description = "cortical area id"},
                                                {0}};
static const api_field_t brain_create_body[] = {
    {.name = "name",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = BRAIN_NAME_MAX,
     .description = "unique name (default: the id)"},
    {.name = "genome",
     .type = API_T_OBJECT,
     .flags = API_F_ADDITIONAL,
     .description = "a FEAGI 2.x genome"},
    {.name = "genome_name",
     .type = API_T_STRING,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = 64,
     .description = "a shipped genome (brain.genome_dir), instead of genome"},
    {.name = "seed",
     .type = API_T_INTEGER,
     .flags = API_F_MIN,
     .min = 0,
     .description = "random seed (0: derived from the id)"},
    {.name = "start", .type = API_T_BOOLEAN, .description = "run once built"},
    API_OWNER_TEAM_FIELD,
    {0}};
static const api_field_t brain_rule_item[] = {{.name = "rule", .type = API_T_ANY}};
static const api_field_t brain_mapping_body[] = {
    {.name = "source",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = BRAIN_BP_ID_MAX,
     .description = "source cortical area"},
    {.name = "destination",
     .type = API_T_STRING,
     .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
     .min = 1,
     .max = BRAIN_BP_ID_MAX,
     .description = "destination cortical area"},
    {.name = "rules",
     .type = API_T_ARRAY,
     .flags = API_F_REQUIRED | API_F_MAX,
     .max = 64,
     .items = brain_rule_item,
     .description = "mapping rules as the genome writes them; [] removes the mapping"},
    {0}};
static const api_field_t brain_freq_body[] = {{.name = "frequency_hz",
                                               .type = API_T_NUMBER,
                                               .flags = API_F_REQUIRED | API_F_MIN | API_F_MAX,
                                               .min = BRAIN_HZ_MIN,
                                               .max = BRAIN_HZ_MAX,
                                               .description = "bursts per second"},
                                              {0}};
static const api_field_t brain_activity_query[] = {
    {.name = "bursts",
     .type = API_T_INTEGER,
     .flags = API_F_MIN | API_F_MAX,
     .min = 1,
     .max = BRAIN_ACTIVITY_MAX,
     .def = "1",
     .description = "the last N bursts, newest first"},
    {0}};

/* ---- handlers ---- */

static void brain_api_list(api_req_t *req, void *ctx)
{
    (void)ctx;
    brain_reg_t *r = brain_api_reg(req);
    json_t *a = json_array();
    for (size_t i = 0; i < brain_count(r); i++) {
        const brain_t *b = brain_at(r, i);
        if (api_owner_may_see(req, b->owner, b->team))
            json_array_append_new(a, brain_to_json(b, false));
    }
    api_reply_json(req, 200,
                   json_pack("{s:o,s:I}", "brains", a, "total", (json_int_t)json_array_size(a)));
}

static void brain_api_genomes(api_req_t *req, void *ctx)
{
    (void)ctx;
    api_reply_json(req, 200,
                   json_pack("{s:o}", "genomes", brain_genome_shipped_list(brain_api_reg(req))));
}

static void brain_api_create(api_req_t *req, void *ctx)
{
    (void)ctx;
    brain_reg_t *r = brain_api_reg(req);
    json_t *body = api_req_body(req);
    json_t *genome = json_object_get(body, "genome");
    const char *gname = json_string_value(json_object_get(body, "genome_name"));
    problem_t *p = NULL;
    const char *team = json_string_value(json_object_get(body, "team"));
    if (!genome == !gname)
        problem_field_error(&p, "body", "genome", "give either genome or genome_name");
    else
        p = api_owner_team_check(req, team, "/team");
    if (p) {
        api_reply_problem(req, p);
        return;
    }
    if (gname) {
        genome = brain_genome_shipped(r, gname, &p);
        if (!genome) {
            api_reply_problem(req, p);
            return;
        }
    } else {
        json_incref(genome);
    }
    const char *name = json_string_value(json_object_get(body, "name"));
    if (!name && gname && !brain_find(r, gname))
        name = gname;
    void *ud = NULL;
    brain_t *b = NULL;
    brain_done_fn done = brain_api_done_fn(req, "", 201, NULL, &ud);
    if (!done) {
        json_decref(genome);
        api_reply_problem(req, problem_new(503, "out-of-memory", "no memory"));
        return;
    }
    p = brain_create(r, name, genome, (uint64_t)json_integer_value(json_object_get(body, "seed")),
                     json_is_true(json_object_get(body, "start")), api_owner_of(req), team, &b,
                     done, ud);
    if (p) {
        free(ud);
        api_reply_problem(req, p);
        return;
    }
    snprintf(((brain_pending_t *)ud)->id, sizeof((brain_pending_t *)ud)->id, "%s", brain_id(b));
}

static void brain_api_get(api_req_t *req, void *ctx)
{
    (void)ctx;
    brain_t *b = brain_api_find(req);
    if (b)
        api_reply_json(req, 200, brain_to_json(b, true));
}

static problem_t *brain_api_delete_op(brain_t *b, brain_done_fn done, void *ud)
{
    return brain_delete(b->reg, b, done, ud);
}

static void brain_api_delete(api_req_t *req, void *ctx)
{
    (void)ctx;
    brain_t *b = brain_api_find(req);
    if (b)
        brain_api_change(req, b, 204, NULL, brain_api_delete_op);
}

static void brain_api_command(api_req_t *req, void *ctx)
{
    brain_t *b = brain_api_find(req);
    if (b)
        brain_api_change(req, b, 200, NULL,
                         (problem_t * (*)(brain_t *, brain_done_fn, void *)) ctx);
}

static void brain_api_freq_reply(api_req_t *req, brain_t *b)
{
    api_reply_json(req, 200,
                   json_pack("{s:f,s:f}", "frequency_hz", b ? brain_frequency(b) : 0.0, "period_s",
                             b ? 1.0 / brain_frequency(b) : 0.0));
}

static void brain_api_freq_get(api_req_t *req, void *ctx)
{
    (void)ctx;
    brain_t *b = brain_api_find(req);
    if (b)
        brain_api_freq_reply(req, b);
}

static void brain_api_freq_put(api_req_t *req, void *ctx)
{
    (void)ctx;
    brain_t *b = brain_api_find(req);
    if (!b)
        return;
    double hz = json_number_value(json_object_get(api_req_body(req), "frequency_hz"));
    void *ud = NULL;
    brain_done_fn done = brain_api_done_fn(req, brain_id(b), 200, brain_api_freq_reply, &ud);
    problem_t *p = done ? brain_frequency_set(b, hz, done, ud)
                        : problem_new(503, "out-of-memory", "no memory");
    if (p) {
        free(ud);
        api_reply_problem(req, p);
    }
}

static void brain_api_areas(api_req_t *req, void *ctx)
{
    (void)ctx;
    brain_t *b = brain_api_find(req);
    if (!b)
        return;
    size_t n = 0;
    brain_bp_area_t *areas = brain_bp_areas(brain_view(b), &n);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, brain_bp_area_json(brain_view(b), areas[i].id));
    free(areas);
    api_reply_json(req, 200, json_pack("{s:o}", "areas", a));
}

static void brain_api_area_get(api_req_t *req, void *ctx)
{
    (void)ctx;
    brain_t *b = brain_api_find(req);
    if (!b)
        return;
    const char *area = api_req_param_str(req, "area");
    json_t *o = brain_bp_area_json(brain_view(b), area);
    if (!o)
        api_reply_problem(req, problem_new(404, "not-found", "no cortical area '%s'", area));
    else
        api_reply_json(req, 200, o);
}

/* Replies with one area once a genome edit is rebuilt and committed. */
static void brain_api_area_reply(api_req_t *req, brain_t *b)
{
    const char *area = api_req_param_str(req, "area");
    json_t *o = b ? brain_bp_area_json(brain_view(b), area) : NULL;
    api_reply_json(req, 200, o ? o : json_object());
}

/* Applies a new genome (stolen) and replies with `reply` once rebuilt and committed. */
void brain_api_genome_apply(api_req_t *req, brain_t *b, json_t *genome, int status,
                            brain_api_reply_fn reply)
{
    void *ud = NULL;
    brain_done_fn done = brain_api_done_fn(req, brain_id(b), status, reply, &ud);
    problem_t *p = done ? brain_genome_replace(b, genome, done, ud)
                        : problem_new(503, "out-of-memory", "no memory");
    if (p) {
        if (!done)
            json_decref(genome);
        free(ud);
        api_reply_problem(req, p);
    }
}

static void brain_api_area_put(api_req_t *req, void *ctx)
{
    (void)ctx;
    brain_t *b = brain_api_find(req);
    if (!b)
        return;
    void *ud = NULL;
    brain_done_fn done = brain_api_done_fn(req, brain_id(b), 200, brain_api_area_reply, &ud);
    problem_t *p =
        done ? brain_area_update(b, api_req_param_str(req, "area"), api_req_body(req), done, ud)
             : problem_new(503, "out-of-memory", "no memory");
    if (p) {
        free(ud);
        api_reply_problem(req, p);
    }
}

static void brain_api_area_activity(api_req_t *req, void *ctx)
{
    (void)ctx;
    brain_t *b = brain_api_find(req);
    if (!b)
        return;
    const char *area = api_req_param_str(req, "area");
    json_t *probe = brain_bp_area_json(brain_view(b), area);
    if (!probe) {
        api_reply_problem(req, problem_new(404, "not-found", "no cortical area '%s'", area));
        return;
    }
    json_decref(probe);
    size_t n = (size_t)api_req_query_int(req, "bursts", 1);
    api_reply_json(req, 200,
                   json_pack("{s:s,s:s,s:I,s:o}", "brain", brain_id(b), "area", area, "burst_count",
                             (json_int_t)brain_bursts(b), "bursts", brain_ledger_json(b, area, n)));
}

static void brain_api_activity(api_req_t *req, void *ctx)
{
    (void)ctx;
    brain_t *b = brain_api_find(req);
    if (!b)
        return;
    size_t n = (size_t)api_req_query_int(req, "bursts", 1);
    api_reply_json(req, 200,
                   json_pack("{s:s,s:I,s:f,s:o}", "brain", brain_id(b), "burst_count",
                             (json_int_t)brain_bursts(b), "frequency_hz", brain_frequency(b),
                             "bursts", brain_ledger_json(b, NULL, n)));
}

static void brain_api_mappings(api_req_t *req, void *ctx)
{
    (void)ctx;
    brain_t *b = brain_api_find(req);
    if (b)
        api_reply_json(req, 200, json_pack("{s:o}", "mappings", brain_bp_mappings(brain_view(b))));
}

static void brain_api_mappings_reply(api_req_t *req, brain_t *b)
{
    json_t *body = api_req_body(req);
    const char *src = json_string_value(json_object_get(body, "source"));
    const char *dst = json_string_value(json_object_get(body, "destination"));
    api_reply_json(req, 200,
                   json_pack("{s:s,s:s,s:o}", "source", src, "destination", dst, "rules",
                             b ? brain_bp_mapping_get(brain_view(b), src, dst) : json_array()));
}

static void brain_api_mappings_put(api_req_t *req, void *ctx)
{
    (void)ctx;
    brain_t *b = brain_api_find(req);
    if (!b)
        return;
    json_t *body = api_req_body(req);
    void *ud = NULL;
    brain_done_fn done = brain_api_done_fn(req, brain_id(b), 200, brain_api_mappings_reply, &ud);
    problem_t *p =
        done ? brain_mapping_update(b, json_string_value(json_object_get(body, "source")),
                                    json_string_value(json_object_get(body, "destination")),
                                    json_object_get(body, "rules"), done, ud)
             : problem_new(503, "out-of-memory", "no memory");
    if (p) {
        free(ud);
        api_reply_problem(req, p);
    }
}

static void brain_api_morphologies(api_req_t *req, void *ctx)
{
    (void)ctx;
    brain_t *b = brain_api_find(req);
    if (!b)
        return;
    json_t *m = json_object_get(brain_view(b), "neuron_morphologies");
    api_reply_json(req, 200,
                   json_pack("{s:O}", "morphologies", json_is_object(m) ? m : json_object()));
}

static void brain_api_genome(api_req_t *req, void *ctx)
{
    (void)ctx;
    brain_t *b = brain_api_find(req);
    if (!b)
        return;
    char cd[BRAIN_NAME_MAX + 64];
    snprintf(cd, sizeof cd, "attachment; filename=\"%s_genome.json\"", brain_name(b));
    api_reply_header(req, "Content-Disposition", cd);
    api_reply_json(req, 200, json_deep_copy(brain_genome(b)));
}

static void brain_api_embodiments(api_req_t *req, void *ctx)
{
    (void)ctx;
    brain_t *b = brain_api_find(req);
    if (!b)
        return;
    /* the robot sockets drive the default brain: its embodiments are theirs */
    hub_t *hub = api_req_hub(req);
    json_t *list = NULL;
    if (hub->brain_robot && b == brain_default(brain_api_reg(req)))
        list = brain_robot_embodiments(hub->brain_robot);
    api_reply_json(req, 200, json_pack("{s:o}", "embodiments", list ? list : json_array()));
}

static void brain_api_stats(api_req_t *req, void *ctx)
{
    (void)ctx;
    brain_t *b = brain_api_find(req);
    if (!b)
        return;
    json_t *o = brain_to_json(b, true);
    double hz = brain_frequency(b);
    json_object_set_new(o, "period_us", json_real(1e6 / hz));
    json_t *last = brain_ledger_json(b, NULL, 1);
    json_t *l0 = json_array_get(last, 0);
    json_object_set(o, "last_burst", l0 ? l0 : json_null());
    json_decref(last);
    json_object_set_new(o, "robot_latency", brain_io_latency_json(b));
    brain_burst_stats_json(b, o);
    api_reply_json(req, 200, o);
}

/* ---- the table ---- */

#define BRAIN_OBJ                                                                                  \
    "{id, name, status, frequency_hz, burst_count, overruns, genome_id, created_at, area_count, "  \
    "neuron_count, synapse_count, seed, last_burst_us, genome_title}"

static const api_endpoint_t brain_endpoints[] = {
    {.method = "GET",
     .path = "/api/v1/brains",
     .scope = "brain:read",
     .tag = "brain",
     .summary = "List brains",
     .response = "{brains:[brain], total}",
     .handler = brain_api_list},
    {.method = "POST",
     .path = "/api/v1/brains",
     .scope = "brain:write",
     .tag = "brain",
     .summary = "Create a brain from a genome or a shipped genome's name",
     .body_kind = API_BODY_JSON,
     .body = brain_create_body,
     .status = 201,
     .response = BRAIN_OBJ " (201 once built and committed)",
     .handler = brain_api_create},
    {.method = "GET",
     .path = "/api/v1/brains/genomes",
     .scope = "brain:read",
     .tag = "brain",
     .summary = "Shipped genomes a brain can be created from by name",
     .response = "{genomes:[name]}",
     .handler = brain_api_genomes},
    {.method = "GET",
     .path = "/api/v1/brains/{id}",
     .scope = "brain:read",
     .tag = "brain",
     .summary = "A brain with its counts and status",
     .params = brain_id_param,
     .response = BRAIN_OBJ,
     .handler = brain_api_get},
    {.method = "DELETE",
     .path = "/api/v1/brains/{id}",
     .scope = "brain:write",
     .tag = "brain",
     .summary = "Stop and delete a brain",
     .params = brain_id_param,
     .status = 204,
     .handler = brain_api_delete},
    {.method = "POST",
     .path = "/api/v1/brains/{id}/start",
     .scope = "brain:write",
     .tag = "brain",
     .summary = "Run the brain's bursts at its frequency",
     .params = brain_id_param,
     .response = BRAIN_OBJ,
     .handler = brain_api_command,
     .ctx = (void *)brain_run_start},
    {.method = "POST",
     .path = "/api/v1/brains/{id}/stop",
     .scope = "brain:write",
     .tag = "brain",
     .summary = "Stop the brain's bursts (its burst counter is kept)",
     .params = brain_id_param,
     .response = BRAIN_OBJ,
     .handler = brain_api_command,
     .ctx = (void *)brain_run_stop},
    {.method = "POST",
     .path = "/api/v1/brains/{id}/pause",
     .scope = "brain:write",
     .tag = "brain",
     .summary = "Pause a running brain (steps still work)",
     .params = brain_id_param,
     .response = BRAIN_OBJ,
     .handler = brain_api_command,
     .ctx = (void *)brain_run_pause},
    {.method = "POST",
     .path = "/api/v1/brains/{id}/step",
     .scope = "brain:write",
     .tag = "brain",
     .summary = "Run one burst of a paused or stopped brain (it is paused afterwards)",
     .params = brain_id_param,
     .response = BRAIN_OBJ " once the burst is over",
     .handler = brain_api_command,
     .ctx = (void *)brain_run_step},
    {.method = "GET",
     .path = "/api/v1/brains/{id}/frequency",
     .scope = "brain:read",
     .tag = "brain",
     .summary = "Bursts per second",
     .params = brain_id_param,
     .response = "{frequency_hz, period_s}",
     .handler = brain_api_freq_get},
    {.method = "PUT",
     .path = "/api/v1/brains/{id}/frequency",
     .scope = "brain:write",
     .tag = "brain",
     .summary = "Change the bursts per second (applies at the next burst)",
     .params = brain_id_param,
     .body_kind = API_BODY_JSON,
     .body = brain_freq_body,
     .response = "{frequency_hz, period_s}",
     .handler = brain_api_freq_put},
    {.method = "GET",
     .path = "/api/v1/brains/{id}/areas",
     .scope = "brain:read",
     .tag = "brain",
     .summary = "Cortical areas with their properties",
     .params = brain_id_param,
     .response = "{areas:[area]}",
     .handler = brain_api_areas},
    {.method = "GET",
     .path = "/api/v1/brains/{id}/areas/{area}",
     .scope = "brain:read",
     .tag = "brain",
     .summary = "One cortical area's properties (FEAGI's names)",
     .params = brain_area_params,
     .response = "{cortical_id, cortical_name, cortical_dimensions, ...}",
     .handler = brain_api_area_get},
    {.method = "PUT",
     .path = "/api/v1/brains/{id}/areas/{area}",
     .scope = "brain:write",
     .tag = "brain",
     .summary = "Set cortical area properties; the network is rebuilt",
     .params = brain_area_params,
     .body_kind = API_BODY_JSON,
     .body = NULL,
     .response = "the area once rebuilt and committed",
     .handler = brain_api_area_put},
    {.method = "GET",
     .path = "/api/v1/brains/{id}/areas/{area}/activity",
     .scope = "brain:read",
     .tag = "brain",
     .summary = "The fire ledger of one area: neurons fired in the last bursts",
     .params = brain_area_params,
     .query = brain_activity_query,
     .response = "{brain, area, burst_count, bursts:[{burst, count, fired:[[x,y,z]]}]}",
     .handler = brain_api_area_activity},
    {.method = "GET",
     .path = "/api/v1/brains/{id}/activity",
     .scope = "brain:read",
     .tag = "brain",
     .summary = "Neurons fired per area in the last bursts",
     .params = brain_id_param,
     .query = brain_activity_query,
     .response = "{brain, burst_count, frequency_hz, bursts:[{burst, duration_us, areas{}}]}",
     .handler = brain_api_activity},
    {.method = "GET",
     .path = "/api/v1/brains/{id}/mappings",
     .scope = "brain:read",
     .tag = "brain",
     .summary = "Mappings between cortical areas",
     .params = brain_id_param,
     .response = "{mappings:[{source, destination, rules}]}",
     .handler = brain_api_mappings},
    {.method = "PUT",
     .path = "/api/v1/brains/{id}/mappings",
     .scope = "brain:write",
     .tag = "brain",
     .summary = "Replace the rules of one mapping; only the source area's synapses are rebuilt",
     .params = brain_id_param,
     .body_kind = API_BODY_JSON,
     .body = brain_mapping_body,
     .response = "{source, destination, rules} once rebuilt and committed",
     .handler = brain_api_mappings_put},
    {.method = "GET",
     .path = "/api/v1/brains/{id}/morphologies",
     .scope = "brain:read",
     .tag = "brain",
     .summary = "The genome's neuron morphologies",
     .params = brain_id_param,
     .response = "{morphologies:{id: morphology}}",
     .handler = brain_api_morphologies},
    {.method = "GET",
     .path = "/api/v1/brains/{id}/genome",
     .scope = "brain:read",
     .tag = "brain",
     .summary = "Download the brain's genome (as last edited)",
     .params = brain_id_param,
     .response = "the genome",
     .handler = brain_api_genome},
    {.method = "GET",
     .path = "/api/v1/brains/{id}/embodiments",
     .scope = "brain:read",
     .tag = "brain",
     .summary = "Robots and simulators connected to the brain",
     .params = brain_id_param,
     .response = "{embodiments:[]}",
     .handler = brain_api_embodiments},
    {.method = "GET",
     .path = "/api/v1/brains/{id}/stats",
     .scope = "brain:read",
     .tag = "brain",
     .summary = "Burst statistics: counter, overruns, last burst, robot answer latency",
     .params = brain_id_param,
     .response = BRAIN_OBJ " + {period_us, last_burst, robot_latency, burst_threads, split_bursts}",
     .handler = brain_api_stats},
};

static void brain_metrics_collect(strbuf_t *out, void *ud)
{
    brain_reg_t *r = ud;
    for (size_t i = 0; i < brain_count(r); i++) {
        brain_t *b = brain_at(r, i);
        strbuf_printf(out, "ganglion_brain_bursts_total{brain=\"%s\"} %" PRIu64 "\n", brain_id(b),
                      brain_bursts(b));
        strbuf_printf(out, "ganglion_brain_overruns_total{brain=\"%s\"} %" PRIu64 "\n", brain_id(b),
                      brain_overruns(b));
    }
    strbuf_printf(out, "ganglion_brains %zu\n", brain_count(r));
}

/* The event streams' filter for brain.<id>.*: whom may see the brain. */
static bool brain_api_event_sees(const api_viewer_t *v, const char *topic, const char *data,
                                 size_t len, void *ud)
{
    (void)data;
    (void)len;
    char id[128];
    brain_t *b = api_event_segment(topic, id, sizeof id) == 0 ? brain_find(ud, id) : NULL;
    return b && api_viewer_may_see(v, b->owner, b->team);
}

static size_t brain_api_refs(const char *owner, const char *team, void *ud)
{
    brain_reg_t *r = ud;
    size_t n = 0;
    for (size_t i = 0; i < brain_count(r); i++) {
        const brain_t *b = brain_at(r, i);
        n += (owner && strcmp(owner, b->owner) == 0) || (team && strcmp(team, b->team) == 0);
    }
    return n;
}

int brain_api_register(hub_t *hub)
{
    api_register(hub->api, brain_endpoints, sizeof brain_endpoints / sizeof brain_endpoints[0]);
    if (hub->brain)
        api_event_filter_add(hub->api, "brain.", brain_api_event_sees, hub->brain);
    if (hub->brain)
        api_owner_refs_add(hub->api, "brain", brain_api_refs, hub->brain);
    size_t nf = 0;
    const api_endpoint_t *feagi = brain_api_feagi_endpoints(hub, &nf);
    api_register(hub->api, feagi, nf);
    if (hub->metrics) {
        metrics_declare(hub->metrics, "ganglion_brain_bursts_total", "counter",
                        "Bursts run per brain.");
        metrics_declare(hub->metrics, "ganglion_brain_overruns_total", "counter",
                        "Bursts that took longer than their period, per brain.");
        metrics_declare(hub->metrics, "ganglion_brains", "gauge", "Brains hosted.");
        metrics_collector_add(hub->metrics, brain_metrics_collect, hub->brain);
    }
    return 0;
}
