/* JSON input with bounds: parse a request body only after checking its nesting depth, so that
 * no input can exhaust the stack or memory in the parser. */
#ifndef GANGLION_JSONX_H
#define GANGLION_JSONX_H

#include <jansson.h>
#include <stddef.h>

#include "core/problem.h"

/* Returns the maximum nesting depth of arrays/objects in buf (strings are skipped correctly),
 * stopping early once it exceeds `limit` (then returns limit + 1). */
size_t jsonx_depth(const char *buf, size_t len, size_t limit);

/* Parses buf as one JSON value. On failure returns NULL and sets *err to a 400 problem naming
 * the line/column (or 400 "too deep"). */
json_t *jsonx_parse(const char *buf, size_t len, size_t max_depth, problem_t **err);

/* Serialises compactly; caller frees. Returns NULL only on out-of-memory. */
char *jsonx_dump(const json_t *v, size_t *len);

/* A JSON string from C text that may not be valid UTF-8 (input echoed in errors): invalid
 * bytes become U+FFFD. Returns json null for NULL. New reference. */
json_t *jsonx_string(const char *s);

#endif
