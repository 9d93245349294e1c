/* Checked conversions of text to numbers: the whole text must be the number and the number must
 * be in the caller's range, so that "12abc", "" or "99999999999" is an error the caller reports
 * (or replaces by its documented default) instead of the 12, 0 or garbage atoi would give. */
#ifndef GANGLION_CORE_NUM_H
#define GANGLION_CORE_NUM_H

#include <stddef.h>
#include <stdint.h>

/* s as a base-10 integer in [min, max]: an optional sign and digits, nothing before or after.
 * 0 with *out set; -EINVAL (NULL, empty, not a number, anything after it), -ERANGE (outside
 * [min, max] or int64_t). *out is left alone on an error. */
int num_i64_parse(const char *s, int64_t min, int64_t max, int64_t *out);
/* The same for the len bytes at s (no NUL needed; at most 31). */
int num_i64_parsen(const char *s, size_t len, int64_t min, int64_t max, int64_t *out);
/* s as a finite decimal number in [min, max] (strtod's decimal forms: "1", "-0.5", "2e3";
 * not hexadecimal, inf or nan), nothing before or after. 0, -EINVAL or -ERANGE as above. */
int num_double_parse(const char *s, double min, double max, double *out);
/* The byte written as two hexadecimal digits at s ("%2F", "\x7f"): 0-255, or -EINVAL when
 * either of s[0], s[1] is not a hex digit (s[1] is not read when s[0] is not). */
int num_hexbyte_parse(const char *s);

#endif
