/* RFC 9457 problem details. A problem collects the status, a type slug, a detail sentence,
 * field errors and headers where the error is found; transports serialise it unchanged. */
#include "core/problem.h"

#include "core/jsonx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBLEM_MAX_FIELDS  64
#define PROBLEM_MAX_HEADERS 8

struct problem {
    int status;
    char slug[48];
    char *detail;
    json_t *errors; /* array of {in, field, message} */
    json_t *ext;    /* object of extra members */
    char *hnames[PROBLEM_MAX_HEADERS];
    char *hvalues[PROBLEM_MAX_HEADERS];
    size_t nheaders;
};

static void *problem_xalloc(void *p)
{
    if (!p)
        abort();
    return p;
}

__attribute__((format(printf, 1, 0))) static char *problem_vfmt(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    return s;
}

problem_t *problem_newv(int status, const char *slug, const char *fmt, va_list ap)
{
    problem_t *p = problem_xalloc(calloc(1, sizeof *p));
    p->status = status;
    snprintf(p->slug, sizeof p->slug, "%s", slug ? slug : "error");
    p->detail = problem_vfmt(fmt, ap);
    return p;
}

problem_t *problem_new(int status, const char *slug, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    problem_t *p = problem_newv(status, slug, fmt, ap);
    va_end(ap);
    return p;
}

void problem_field_add(problem_t *p, const char *in, const char *field, const char *fmt, ...)
{
    if (!p->errors)
        p->errors = problem_xalloc(json_array());
    /* A flood of field errors helps nobody and costs memory: keep the first ones. */
    if (json_array_size(p->errors) >= PROBLEM_MAX_FIELDS)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *msg = problem_vfmt(fmt, ap);
    va_end(ap);
    json_t *e = problem_xalloc(json_object());
    json_object_set_new(e, "in", jsonx_string(in));
    json_object_set_new(e, "field", jsonx_string(field ? field : ""));
    json_object_set_new(e, "message", jsonx_string(msg));
    json_array_append_new(p->errors, e);
    free(msg);
}

problem_t *problem_validation_new(void)
{
    return problem_new(422, "validation", "the request has invalid fields; see errors[]");
}

problem_t *problem_field_error(problem_t **p, const char *in, const char *field, const char *fmt,
                               ...)
{
    if (!*p)
        *p = problem_validation_new();
    va_list ap;
    va_start(ap, fmt);
    char *msg = problem_vfmt(fmt, ap);
    va_end(ap);
    problem_field_add(*p, in, field, "%s", msg);
    free(msg);
    return *p;
}

void problem_ext_set(problem_t *p, const char *key, json_t *value)
{
    if (!p->ext)
        p->ext = problem_xalloc(json_object());
    json_object_set_new(p->ext, key, value);
}

void problem_header_set(problem_t *p, const char *name, const char *value)
{
    for (size_t i = 0; i < p->nheaders; i++) {
        if (strcasecmp(p->hnames[i], name) == 0) {
            free(p->hvalues[i]);
            p->hvalues[i] = problem_xalloc(strdup(value));
            return;
        }
    }
    if (p->nheaders == PROBLEM_MAX_HEADERS)
        return;
    p->hnames[p->nheaders] = problem_xalloc(strdup(name));
    p->hvalues[p->nheaders] = problem_xalloc(strdup(value));
    p->nheaders++;
}

const char *problem_header_get(const problem_t *p, const char *name)
{
    for (size_t i = 0; i < p->nheaders; i++)
        if (strcasecmp(p->hnames[i], name) == 0)
            return p->hvalues[i];
    return NULL;
}

int problem_header_at(const problem_t *p, size_t idx, const char **name, const char **value)
{
    if (idx >= p->nheaders)
        return -1;
    *name = p->hnames[idx];
    *value = p->hvalues[idx];
    return 0;
}

int problem_status(const problem_t *p)
{
    return p->status;
}

const char *problem_detail(const problem_t *p)
{
    return p->detail;
}

size_t problem_field_count(const problem_t *p)
{
    return p->errors ? json_array_size(p->errors) : 0;
}

const char *problem_title_for(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 423:
        return "Locked";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return status >= 500 ? "Server Error" : "Error";
    }
}

json_t *problem_to_json(const problem_t *p, const char *instance)
{
    char type[96];
    snprintf(type, sizeof type, "urn:ganglion:problem:%s", p->slug);
    json_t *o = problem_xalloc(json_pack("{s:s,s:s,s:i}", "type", type, "title",
                                         problem_title_for(p->status), "status", p->status));
    json_object_set_new(o, "detail", jsonx_string(p->detail));
    if (instance)
        json_object_set_new(o, "instance", jsonx_string(instance));
    if (p->errors)
        json_object_set(o, "errors", p->errors);
    if (p->ext)
        json_object_update_missing(o, p->ext);
    return o;
}

void problem_destroy(problem_t **pp)
{
    problem_t *p = *pp;
    if (!p)
        return;
    free(p->detail);
    json_decref(p->errors);
    json_decref(p->ext);
    for (size_t i = 0; i < p->nheaders; i++) {
        free(p->hnames[i]);
        free(p->hvalues[i]);
    }
    free(p);
    *pp = NULL;
}
