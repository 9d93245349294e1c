/* A growable byte buffer with an optional hard cap, for building responses and reading input. */
#ifndef GANGLION_STRBUF_H
#define GANGLION_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct strbuf {
    char *data; /* always NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    size_t max; /* 0 = unbounded; appends beyond it fail with -E2BIG */
} strbuf_t;

void strbuf_init(strbuf_t *b, size_t max);
int strbuf_append(strbuf_t *b, const void *data, size_t len);
int strbuf_puts(strbuf_t *b, const char *s);
int strbuf_printf(strbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int strbuf_vprintf(strbuf_t *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Hands the buffer to the caller (free() it); the strbuf is reset. */
char *strbuf_steal(strbuf_t *b, size_t *len);
void strbuf_reset(strbuf_t *b);
void strbuf_free(strbuf_t *b);

#endif
