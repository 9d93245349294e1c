/* Small text writers for hot paths that cannot afford the printf machinery (a few per
 * request or per output line): a bounded copy and decimal integers. */
#ifndef GANGLION_FMT_H
#define GANGLION_FMT_H

#include <stddef.h>
#include <stdint.h>

/* Room fmt_u64/fmt_i64 may need: 20 digits, or a sign and 19 digits. */
#define FMT_INT_MAX 20

/* What snprintf(dst, n, "%s", src) leaves in dst (n >= 1): src cut to n - 1 bytes, NUL
 * terminated. Returns the length copied. */
size_t fmt_copy(char *dst, size_t n, const char *src);
/* The decimal digits of v at out (no NUL; at most FMT_INT_MAX bytes). Returns their count. */
size_t fmt_u64(char *out, uint64_t v);
/* The same for a signed value, with a leading '-' when negative. */
size_t fmt_i64(char *out, int64_t v);

#endif
