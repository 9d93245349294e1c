/* OpenAPI 3.1 from the registry: the document is derived from the same declarations that
 * validate requests, so it cannot drift from what the daemon enforces. */
#include "api/api_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_info.h"

static const char *api_schema_type(api_type_t t)
{
    switch (t) {
    case API_T_STRING:
        return "string";
    case API_T_INTEGER:
        return "integer";
    case API_T_NUMBER:
        return "number";
    case API_T_BOOLEAN:
        return "boolean";
    case API_T_OBJECT:
        return "object";
    case API_T_ARRAY:
        return "array";
    default:
        return NULL;
    }
}

static json_t *api_field_schema(const api_field_t *f);

static json_t *api_object_schema(const api_field_t *props, bool additional)
{
    json_t *s = json_pack("{s:s}", "type", "object");
    json_t *p = json_object();
    json_t *req = json_array();
    for (const api_field_t *f = props; f && f->name; f++) {
        json_object_set_new(p, f->name, api_field_schema(f));
        if (f->flags & API_F_REQUIRED)
            json_array_append_new(req, json_string(f->name));
    }
    json_object_set_new(s, "properties", p);
    if (json_array_size(req))
        json_object_set_new(s, "required", req);
    else
        json_decref(req);
    json_object_set_new(s, "additionalProperties", json_boolean(additional));
    return s;
}

static json_t *api_field_schema(const api_field_t *f)
{
    json_t *s;
    if (f->type == API_T_OBJECT && f->props)
        s = api_object_schema(f->props, (f->flags & API_F_ADDITIONAL) != 0);
    else
        s = json_object();
    const char *t = api_schema_type(f->type);
    if (t) {
        if (f->flags & API_F_NULLABLE)
            json_object_set_new(s, "type", json_pack("[s,s]", t, "null"));
        else
            json_object_set_new(s, "type", json_string(t));
    }
    const char *kmin = NULL, *kmax = NULL;
    switch (f->type) {
    case API_T_STRING:
        kmin = "minLength";
        kmax = "maxLength";
        break;
    case API_T_ARRAY:
        kmin = "minItems";
        kmax = "maxItems";
        break;
    case API_T_INTEGER:
    case API_T_NUMBER:
        kmin = "minimum";
        kmax = "maximum";
        break;
    default:
        break;
    }
    bool whole = f->type != API_T_NUMBER;
    if (kmin && (f->flags & API_F_MIN))
        json_object_set_new(s, kmin, whole ? json_integer((json_int_t)f->min) : json_real(f->min));
    if (kmax && (f->flags & API_F_MAX))
        json_object_set_new(s, kmax, whole ? json_integer((json_int_t)f->max) : json_real(f->max));
    if (f->type == API_T_STRING && f->chars) {
        /* ^[A-Za-z0-9<chars>]*$ with every extra character escaped: a literal in the class. */
        char pat[128];
        size_t n = (size_t)snprintf(pat, sizeof pat, "^[A-Za-z0-9");
        for (size_t i = 0; f->chars[i] && n + 4 < sizeof pat; i++) {
            pat[n++] = '\\';
            pat[n++] = f->chars[i];
        }
        if (n + 4 < sizeof pat) {
            memcpy(pat + n, "]*$", 4);
            json_object_set_new(s, "pattern", json_string(pat));
        }
    }
    if (f->enums) {
        json_t *e = json_array();
        for (size_t i = 0; f->enums[i]; i++)
            json_array_append_new(e, json_string(f->enums[i]));
        json_object_set_new(s, "enum", e);
    }
    if (f->type == API_T_ARRAY && f->items)
        json_object_set_new(s, "items", api_field_schema(f->items));
    if (f->description)
        json_object_set_new(s, "description", json_string(f->description));
    if (f->def) {
        json_t *d = NULL;
        if (f->type == API_T_INTEGER)
            d = json_integer(strtoll(f->def, NULL, 10));
        else if (f->type == API_T_NUMBER)
            d = json_real(strtod(f->def, NULL));
        else if (f->type == API_T_BOOLEAN)
            d = json_boolean(strcmp(f->def, "true") == 0 || strcmp(f->def, "1") == 0);
        else
            d = json_string(f->def);
        json_object_set_new(s, "default", d);
    }
    return s;
}

static void api_params_add(json_t *arr, const api_field_t *fields, const char *in)
{
    for (const api_field_t *f = fields; f && f->name; f++) {
        json_t *p = json_pack("{s:s,s:s,s:b}", "name", f->name, "in", in, "required",
                              strcmp(in, "path") == 0 || (f->flags & API_F_REQUIRED));
        json_object_set_new(p, "schema", api_field_schema(f));
        if (f->description)
            json_object_set_new(p, "description", json_string(f->description));
        json_array_append_new(arr, p);
    }
}

/* operationId from method and path: GET /api/v1/agents/{id}/stop -> get_agents_id_stop. */
static void api_operation_id(const api_endpoint_t *ep, char *out, size_t len)
{
    size_t o = 0;
    for (const char *m = ep->method; *m && o + 1 < len; m++)
        out[o++] = (char)tolower((unsigned char)*m);
    const char *p = ep->path;
    if (strncmp(p, "/api/v1", 7) == 0)
        p += 7;
    for (; *p && o + 1 < len; p++) {
        char c = *p;
        if (c == '{' || c == '}')
            continue;
        out[o++] = isalnum((unsigned char)c) ? c : '_';
    }
    out[o] = '\0';
}

static json_t *api_problem_response(const char *desc)
{
    return json_pack("{s:s,s:{s:{s:{s:s}}}}", "description", desc, "content",
                     "application/problem+json", "schema", "$ref", "#/components/schemas/Problem");
}

static json_t *api_operation(const api_endpoint_t *ep)
{
    char opid[256];
    api_operation_id(ep, opid, sizeof opid);
    json_t *op =
        json_pack("{s:s,s:s}", "operationId", opid, "summary", ep->summary ? ep->summary : "");
    if (ep->tag)
        json_object_set_new(op, "tags", json_pack("[s]", ep->tag));
    json_object_set_new(op, "x-scope", json_string(ep->scope ? ep->scope : API_SCOPE_PUBLIC));
    if (ep->scope && strcmp(ep->scope, API_SCOPE_PUBLIC) != 0)
        json_object_set_new(op, "security", json_pack("[{s:[s]}]", "bearer", ep->scope));
    else
        json_object_set_new(op, "security", json_array());

    json_t *params = json_array();
    api_params_add(params, ep->params, "path");
    api_params_add(params, ep->query, "query");
    if (json_array_size(params))
        json_object_set_new(op, "parameters", params);
    else
        json_decref(params);

    if (ep->body_kind == API_BODY_JSON) {
        json_t *schema = ep->body ? api_object_schema(ep->body, false) : json_object();
        json_object_set_new(op, "requestBody",
                            json_pack("{s:b,s:{s:{s:o}}}", "required", ep->body != NULL, "content",
                                      "application/json", "schema", schema));
    } else if (ep->body_kind == API_BODY_RAW && ep->content_types) {
        json_t *content = json_object();
        for (size_t i = 0; ep->content_types[i]; i++)
            json_object_set_new(content, ep->content_types[i], json_object());
        json_object_set_new(op, "requestBody",
                            json_pack("{s:b,s:o}", "required", 1, "content", content));
    }

    json_t *resp = json_object();
    char code[8];
    int status = ep->status ? ep->status : 200;
    snprintf(code, sizeof code, "%d", status);
    json_t *ok = json_pack("{s:s}", "description", ep->response ? ep->response : "Success");
    if (ep->streaming)
        json_object_set_new(ok, "content", json_pack("{s:{}}", "text/event-stream"));
    else if (status != 204)
        json_object_set_new(ok, "content", json_pack("{s:{}}", "application/json"));
    json_object_set_new(resp, code, ok);
    if (ep->params || ep->query || ep->body_kind != API_BODY_NONE)
        json_object_set_new(resp, "422", api_problem_response("Invalid input, with field errors"));
    json_object_set_new(resp, "default", api_problem_response("An RFC 9457 problem"));
    json_object_set_new(op, "responses", resp);
    return op;
}

json_t *api_openapi(const api_registry_t *reg)
{
    json_t *doc = json_pack(
        "{s:s,s:{s:s,s:s,s:s},s:{},s:{s:{s:{s:s,s:s,s:s}},s:{s:{s:s,s:{s:{s:s},s:{s:s},s:{s:s},"
        "s:{s:s},s:{s:s},s:{s:s},s:{s:s,s:{s:s,s:{s:{s:s},s:{s:s},s:{s:s}}}}}}}}}",
        "openapi", "3.1.0", "info", "title", "ganglion", "version", GANGLION_VERSION, "description",
        "Control plane for agents: every operation of the daemon.", "paths", "components",
        "securitySchemes", "bearer", "type", "http", "scheme", "bearer", "description",
        "An access token (JWT) or an API key (gk_...)", "schemas", "Problem", "type", "object",
        "properties", "type", "type", "string", "title", "type", "string", "status", "type",
        "integer", "detail", "type", "string", "instance", "type", "string", "request_id", "type",
        "string", "errors", "type", "array", "items", "type", "object", "properties", "in", "type",
        "string", "field", "type", "string", "message", "type", "string");
    json_t *paths = json_object_get(doc, "paths");
    size_t n = api_endpoint_count(reg);
    for (size_t i = 0; i < n; i++) {
        const api_endpoint_t *ep = api_endpoint_at(reg, i);
        json_t *item = json_object_get(paths, ep->path);
        if (!item) {
            item = json_object();
            json_object_set_new(paths, ep->path, item);
        }
        char m[8];
        size_t k = 0;
        for (; ep->method[k] && k + 1 < sizeof m; k++)
            m[k] = (char)tolower((unsigned char)ep->method[k]);
        m[k] = '\0';
        json_object_set_new(item, m, api_operation(ep));
    }
    return doc;
}
