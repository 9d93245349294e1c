/* Internals shared by the registry's files (router, validation, OpenAPI). Not for domains. */
#ifndef GANGLION_API_INTERNAL_H
#define GANGLION_API_INTERNAL_H

#include "api/api.h"
#include "core/strbuf.h"

#define API_MAX_SEGMENTS 16
#define API_MAX_PARAMS   8
#define API_PATH_MAX     2048

/* ---- router ---- */

typedef struct api_route {
    const api_endpoint_t *ep;
    size_t nseg;
    const char *seg[API_MAX_SEGMENTS]; /* literal text, or NULL for a {param} */
    size_t seglen[API_MAX_SEGMENTS];   /* strlen of each literal (compared first) */
    char *param_names[API_MAX_SEGMENTS];
    char *pattern_copy;      /* owns the segment strings */
    char metric_labels[512]; /* endpoint="...",method="..." preformatted for metrics */
    size_t index;            /* its place in the router (0, 1, ...) */
} api_route_t;

typedef struct api_router api_router_t;

api_router_t *api_router_new(void);
void api_router_destroy(api_router_t **r);
/* Adds a route; returns 0, or -1 for a malformed pattern, -2 for a duplicate. */
int api_router_add(api_router_t *r, const api_endpoint_t *ep);
size_t api_router_count(const api_router_t *r);
const api_route_t *api_router_at(const api_router_t *r, size_t i);

typedef struct api_match {
    const api_route_t *route;
    size_t nparams;
    const char *names[API_MAX_PARAMS];
    char values[API_MAX_PARAMS][256];
} api_match_t;

/* Finds the route for method+path. Returns 0 with m filled; -ENOENT when no pattern matches the
 * path; -EPERM when the path matches but not the method (allow gets "GET, POST"); -E2BIG when
 * the path is too long or has too many segments; -ENAMETOOLONG when a parameter is too long. */
int api_router_match(const api_router_t *r, const char *method, const char *path, api_match_t *m,
                     char *allow, size_t allowlen);

/* ---- validation ---- */

/* Validates a JSON value against the fields of an object schema; field errors go into p (which
 * is created on the first error). `in` is "body"; pointers are JSON pointers. */
void api_validate_object(json_t *obj, const api_field_t *fields, bool additional, const char *in,
                         const char *pointer, problem_t **p);
/* Validates one value against one field. */
void api_validate_value(json_t *v, const api_field_t *f, const char *in, const char *pointer,
                        problem_t **p);
/* Converts string parameters (query or path) into typed values per the schema, applying
 * defaults; unknown names are errors. Returns a new object (never NULL). */
json_t *api_convert_params(json_t *strings, const api_field_t *fields, const char *in,
                           problem_t **p);
/* Parses a raw query string ("a=1&b=x%20y") into an object of strings. Too many parameters or
 * bad percent-encoding add errors to p. */
json_t *api_query_parse(const char *query, problem_t **p);
/* Decodes %XX and '+' (when plus_space) in place-safe copy. Returns -1 on bad encoding. */
int api_url_decode(const char *in, size_t len, char *out, size_t outlen, bool plus_space);

#endif
