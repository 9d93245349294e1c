/* JSON input with bounds: parse a request body only after checking its nesting depth and the
 * number of values it would make, so that no input can exhaust the stack or memory in the
 * parser. The same value budget bounds the ZMQ transport's MessagePack decoder. */
#ifndef GANGLION_JSONX_H
#define GANGLION_JSONX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/problem.h"

/* Returns the maximum nesting depth of arrays/objects in buf (strings are skipped correctly),
 * stopping early once it exceeds `limit` (then returns limit + 1). */
size_t jsonx_depth(const char *buf, size_t len, size_t limit);

/* What one decoded input may make. A jansson value costs 40 to 250 bytes of heap whatever its
 * text costs (`[]` is 2 bytes of JSON, 1 of MessagePack), so the count of values, not only the
 * byte length, is bounded: every value (array, object, string, number, literal; an object's
 * keys are not counted apart from their values) and, more tightly, arrays and objects, in
 * proportion to the input's length with a floor for small inputs and a total cap. */
#define JSONX_VALUES_PER_KIB     256    /* the densest common JSON is "1," */
#define JSONX_CONTAINERS_PER_KIB 64     /* an array or an object per 16 bytes */
#define JSONX_BUDGET_MIN_KIB     4      /* every input is allowed at least 4 KiB's worth */
#define JSONX_VALUES_MAX         524288 /* at most about 40 MB (empty strings, the dearest) */
#define JSONX_CONTAINERS_MAX     131072 /* at most about 30 MB (empty objects) */
#define JSONX_DEPTH_MAX          1024   /* the largest max_depth a budget takes */

/* What may still be made. A budget can be shared by several inputs (the lines of an NDJSON
 * body, the fields of a ZMQ envelope), so their sum is bounded as one input's would be. */
typedef struct jsonx_budget {
    size_t max_depth;
    size_t values, containers;         /* still allowed */
    size_t max_values, max_containers; /* as set by jsonx_budget_init, for the problem */
} jsonx_budget_t;

/* The budget of an input of len bytes nested at most max_depth (clamped to JSONX_DEPTH_MAX). */
void jsonx_budget_init(jsonx_budget_t *b, size_t len, size_t max_depth);
/* A budget that counts nothing (depth still bounded): for replies from a trusted peer. */
void jsonx_budget_unlimited(jsonx_budget_t *b, size_t max_depth);
/* Takes one value (an array or object when container) from b: 0, or -E2BIG when spent. */
int jsonx_budget_take(jsonx_budget_t *b, bool container);
/* 413 json-over-budget: the input would make more values than b allows. */
problem_t *jsonx_budget_problem(const jsonx_budget_t *b);
/* 400 json-too-deep. */
problem_t *jsonx_depth_problem(size_t max_depth);

/* Walks the one JSON value at the start of buf (after whitespace) without building it,
 * charging b for every value, and sets *end to the offset just after it. Strings and brackets
 * are followed exactly; the rest of the grammar is left to the parser. Returns 0, -E2BIG (over
 * budget), -ELOOP (deeper than b->max_depth) or -EINVAL (unbalanced or truncated); *err is the
 * problem to answer with (400 or 413), or NULL on success. */
int jsonx_scan(const char *buf, size_t len, jsonx_budget_t *b, size_t *end, problem_t **err);

/* Parses buf as one JSON value within the budget of its length and max_depth. On failure
 * returns NULL and sets *err to a 400 problem naming the line/column, 400 json-too-deep or
 * 413 json-over-budget. Nothing is allocated for an input refused by depth or budget. */
json_t *jsonx_parse(const char *buf, size_t len, size_t max_depth, problem_t **err);
/* The same, charging the caller's budget b (which is consumed). */
json_t *jsonx_parse_budget(const char *buf, size_t len, jsonx_budget_t *b, problem_t **err);

/* Gives the heap's free pages back to the system after a value decoded from len bytes was
 * freed, when len is at least JSONX_RELEASE_BYTES: glibc keeps freed memory in its arenas, so
 * one large request would otherwise hold its peak for good. Nothing for smaller inputs. */
#define JSONX_RELEASE_BYTES (256 * 1024)
void jsonx_release(size_t len);

/* Serialises compactly; caller frees. Returns NULL only on out-of-memory. */
char *jsonx_dump(const json_t *v, size_t *len);

/* A JSON string from C text that may not be valid UTF-8 (input echoed in errors): invalid
 * bytes become U+FFFD. Returns json null for NULL. New reference. */
json_t *jsonx_string(const char *s);

#endif
