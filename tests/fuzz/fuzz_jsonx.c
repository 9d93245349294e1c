/* Fuzzes bounded JSON input (src/core/jsonx.c), the parser in front of every JSON body and ZMQ
 * JSON envelope: jsonx_depth's scanner must agree with what jansson builds, so a value that
 * parses is never deeper than the limit; a refusal is a 400 or, over the value budget, a 413; a
 * parsed value dumps and parses back equal; and jsonx_string turns any bytes into a valid JSON
 * string. Input: a JSON text. */
#include <assert.h>

#include "core/jsonx.h"
#include "fuzz_util.h"

#define FUZZ_JSONX_DEPTH 16

static size_t fuzz_json_depth(json_t *v)
{
    size_t d = 0, i;
    const char *k;
    json_t *e;
    if (json_is_array(v)) {
        json_array_foreach(v, i, e)
        {
            size_t x = fuzz_json_depth(e);
            d = x > d ? x : d;
        }
        return d + 1;
    }
    if (json_is_object(v)) {
        json_object_foreach(v, k, e)
        {
            size_t x = fuzz_json_depth(e);
            d = x > d ? x : d;
        }
        return d + 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    size_t depth = jsonx_depth(buf, size, FUZZ_JSONX_DEPTH);
    assert(depth <= FUZZ_JSONX_DEPTH + 1);
    problem_t *p = NULL;
    json_t *v = jsonx_parse(buf, size, FUZZ_JSONX_DEPTH, &p);
    assert((v == NULL) != (p == NULL));
    if (v) {
        assert(fuzz_json_depth(v) <= FUZZ_JSONX_DEPTH);
        assert(fuzz_json_depth(v) <= depth);
        size_t n = 0;
        char *text = jsonx_dump(v, &n);
        assert(text);
        problem_t *p2 = NULL;
        json_t *back = jsonx_parse(text, n, FUZZ_JSONX_DEPTH, &p2);
        assert(back && json_equal(v, back));
        json_decref(back);
        free(text);
        json_decref(v);
    } else {
        /* malformed or too deep (400), or more values than its length allows (413) */
        assert(problem_status(p) == 400 || problem_status(p) == 413);
        problem_destroy(&p);
    }
    /* any bytes (up to the first NUL) become a JSON string */
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    json_t *str = jsonx_string(s);
    assert(json_is_string(str));
    json_decref(str);
    free(s);
    return 0;
}
