/* Fuzzes request validation against every real endpoint's schema (src/api/validate.c, with
 * jsonx.c's bounded JSON parse and the router in front): the declarations are taken from the
 * domains as the daemon registers them, with each handler replaced by one that echoes what
 * passed. Input: a selector byte choosing the endpoint (its index modulo their number) and a
 * mode byte (bit 0: the first field is the raw path instead of a value for every {param}; bit
 * 1: the query is a JSON object of typed values, as ZMQ carries it), then fields separated by
 * "\n--\n": path or parameter value, query, body. */
#include <assert.h>
#include <math.h>
#include <stdio.h>

#include "agents/agents.h"
#include "api/audit_api.h"
#include "api/system_api.h"
#include "auth/auth.h"
#include "core/hub.h"
#include "fuzz_util.h"
#include "watch/watch.h"

static hub_t hub;
static api_registry_t *decl, *reg; /* the daemon's declarations; the registry fuzzed */
static api_endpoint_t *eps;
static size_t neps;

/* Every integer field a handler receives can be read as an int64: a real accepted for an
 * integer field (3.0) must be within range, or a handler's cast would be undefined. */
static void fuzz_check_ints(json_t *obj, const api_field_t *fields)
{
    for (const api_field_t *f = fields; f && f->name; f++) {
        json_t *v = json_object_get(obj, f->name);
        if (f->type == API_T_INTEGER && json_is_real(v))
            assert(fabs(json_real_value(v)) < 9.2e18);
        if (f->type == API_T_OBJECT && json_is_object(v))
            fuzz_check_ints(v, f->props);
    }
}

static void fuzz_echo(api_req_t *req, void *ctx)
{
    json_t *body = api_req_body(req);
    /* what reaches a handler is what the schema promised */
    const api_endpoint_t *ep = api_req_endpoint(req);
    if (ep->body_kind == API_BODY_JSON && ep->body)
        assert(json_is_object(body));
    if (ep->body_kind == API_BODY_JSON)
        fuzz_check_ints(body, ep->body);
    fuzz_check_ints(api_req_query(req), ep->query);
    json_t *out = json_pack("{s:O,s:O,s:O}", "params", api_req_params(req), "query",
                            api_req_query(req), "body", body ? body : json_null());
    api_reply_json(req, 200, out);
}

static void fuzz_reply(const api_reply_t *r, void *tctx)
{
    /* every reply is JSON (a result or a problem) with a real status */
    assert(r->status >= 200 && r->status < 600);
    assert(r->json != NULL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    config_defaults(&hub.cfg);
    decl = api_registry_new(NULL);
    if (!decl)
        abort();
    hub.api = decl;
    system_api_register(decl, &hub, true);
    audit_api_register(decl);
    if (agents_api_register(&hub) < 0 || auth_api_register(&hub) < 0 ||
        watch_api_register(&hub) < 0)
        abort();
    neps = api_endpoint_count(decl);
    eps = calloc(neps, sizeof *eps);
    reg = api_registry_new(&hub);
    if (!eps || !reg)
        abort();
    for (size_t i = 0; i < neps; i++) {
        eps[i] = *api_endpoint_at(decl, i);
        eps[i].handler = fuzz_echo;
        eps[i].ctx = NULL;
    }
    api_register(reg, eps, neps);
    hub.api = reg;
    /* the selector byte of each endpoint, for writing seeds */
    if (getenv("FUZZ_VALIDATE_LIST"))
        for (size_t i = 0; i < neps; i++)
            fprintf(stderr, "%zu %s %s\n", i, eps[i].method, eps[i].path);
    return 0;
}

/* The endpoint's pattern with every {param} replaced by value. Caller frees. */
static char *fuzz_path(const char *pattern, const char *value)
{
    size_t vl = strlen(value), cap = strlen(pattern) + 1;
    for (const char *p = pattern; *p; p++)
        cap += *p == '{' ? vl : 0;
    char *out = malloc(cap), *o = out;
    if (!out)
        abort();
    for (const char *p = pattern; *p;) {
        if (*p == '{') {
            memcpy(o, value, vl);
            o += vl;
            while (*p && *p != '}')
                p++;
            if (*p)
                p++;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    const api_endpoint_t *ep = &eps[fuzz_next_byte(&in) % neps];
    unsigned mode = fuzz_next_byte(&in);
    char *first = fuzz_next_field(&in, NULL);
    char *query = fuzz_next_field(&in, NULL);
    size_t blen;
    char *body = fuzz_next_field(&in, &blen);
    char *path = (mode & 1) ? strdup(first) : fuzz_path(ep->path, first);
    if (!path)
        abort();
    const char *ct = "application/json";
    if (ep->body_kind == API_BODY_RAW && ep->content_types)
        ct = ep->content_types[0];
    json_t *query_obj = NULL;
    if (mode & 2) {
        query_obj = json_loads(query, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(query_obj)) {
            json_decref(query_obj);
            query_obj = NULL;
        }
    }
    api_call_t call = {.transport = "fuzz",
                       .method = ep->method,
                       .path = path,
                       .query = *query && !(mode & 2) ? query : NULL,
                       .query_obj = query_obj,
                       .content_type = ct,
                       .body = blen ? body : NULL,
                       .body_len = blen,
                       .peer = "127.0.0.1"};
    api_req_t *pending = api_dispatch(reg, &call, fuzz_reply, NULL);
    assert(pending == NULL);
    json_decref(query_obj);
    free(path);
    free(first);
    free(query);
    free(body);
    return 0;
}
