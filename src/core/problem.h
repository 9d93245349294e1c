/* RFC 9457 problem details: the one error object that every transport returns unchanged.
 * A problem is built where the error is found, travels up by pointer, and is serialised by the
 * transport. Field errors (`errors[]`) say which input was wrong and why. */
#ifndef GANGLION_PROBLEM_H
#define GANGLION_PROBLEM_H

#include <jansson.h>
#include <stdarg.h>

typedef struct problem problem_t;

/* New problem with an HTTP status, a short type slug ("not-found", "validation") that becomes
 * `urn:ganglion:problem:<slug>`, and a printf-style detail. The title is derived from the
 * status. Never returns NULL (aborts on out-of-memory). Caller owns the result. */
problem_t *problem_new(int status, const char *slug, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), returns_nonnull));
problem_t *problem_newv(int status, const char *slug, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0), returns_nonnull));

/* Adds a field-level error: `in` is "body", "query", "path" or "header"; `field` is a JSON
 * pointer for body fields ("/limits/mem") or the parameter name otherwise. */
void problem_field_add(problem_t *p, const char *in, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The 422 "validation" problem whose errors[] say which inputs were wrong ("the request has
 * invalid fields; see errors[]"): every field error of every module starts from this one. */
problem_t *problem_validation_new(void);

/* Adds a field error to *p, creating the validation problem on the first one; returns *p. For
 * checks that collect every wrong field before answering. */
problem_t *problem_field_error(problem_t **p, const char *in, const char *field, const char *fmt,
                               ...) __attribute__((format(printf, 4, 5)));

/* Extra top-level member (e.g. "max_bytes"); `value` is stolen. */
void problem_ext_set(problem_t *p, const char *key, json_t *value);

/* A response header that must accompany this problem (Allow for 405, Retry-After for 429). */
void problem_header_set(problem_t *p, const char *name, const char *value);
const char *problem_header_get(const problem_t *p, const char *name);
/* Iterate headers: returns 0 and fills name/value while idx is in range, -1 after. */
int problem_header_at(const problem_t *p, size_t idx, const char **name, const char **value);

int problem_status(const problem_t *p);
const char *problem_detail(const problem_t *p);
size_t problem_field_count(const problem_t *p);

/* The JSON body: {type, title, status, detail, instance?, errors?, ...ext}. New reference. */
json_t *problem_to_json(const problem_t *p, const char *instance);

/* Reason phrase for a status code ("Not Found"). */
const char *problem_title_for(int status);

void problem_destroy(problem_t **p);

#endif
