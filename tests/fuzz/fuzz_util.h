/* What the libFuzzer harnesses share: the entry point's declaration (so -Wmissing-prototypes
 * holds) and a reader that cuts one input into NUL-terminated fields, so a harness can feed
 * several strings (a header and a body, a path and a query) from one byte string. */
#ifndef GANGLION_FUZZ_UTIL_H
#define GANGLION_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A cursor over the input: each fuzz_next_field returns the bytes up to the next "\n--\n"
 * separator (or the end) as a new NUL-terminated copy the caller frees; its length in *len. */
typedef struct fuzz_in {
    const uint8_t *p;
    size_t n;
} fuzz_in_t;

static inline char *fuzz_next_field(fuzz_in_t *in, size_t *len)
{
    static const char sep[] = "\n--\n";
    size_t take = in->n, skip = in->n;
    for (size_t i = 0; i + 4 <= in->n; i++) {
        if (memcmp(in->p + i, sep, 4) == 0) {
            take = i;
            skip = i + 4;
            break;
        }
    }
    char *s = malloc(take + 1);
    if (!s)
        abort();
    if (take)
        memcpy(s, in->p, take);
    s[take] = '\0';
    if (len)
        *len = take;
    in->p += skip;
    in->n -= skip;
    return s;
}

/* The first byte of the input as a selector (0 when empty), consumed. */
static inline unsigned fuzz_next_byte(fuzz_in_t *in)
{
    if (!in->n)
        return 0;
    unsigned b = in->p[0];
    in->p++;
    in->n--;
    return b;
}

#endif
