/* Checked text-to-number conversions (num.h): strtoll/strtod with the end pointer, errno and
 * the caller's range checked, for every place that used to call atoi, atof or sscanf. */
#include "core/num.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* What may start a number: no space (strto* would skip it), no letters (inf, nan, 0x). */
static int num_start_ok(const char *s)
{
    char c = s[0] == '-' || s[0] == '+' ? s[1] : s[0];
    return (c >= '0' && c <= '9') || c == '.';
}

int num_i64_parse(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!s || !num_start_ok(s))
        return -EINVAL;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0')
        return -EINVAL;
    if (errno == ERANGE || v < min || v > max)
        return -ERANGE;
    *out = (int64_t)v;
    return 0;
}

int num_i64_parsen(const char *s, size_t len, int64_t min, int64_t max, int64_t *out)
{
    char buf[32];
    if (!s || len >= sizeof buf)
        return s && len ? -ERANGE : -EINVAL;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (strlen(buf) != len) /* a NUL inside */
        return -EINVAL;
    return num_i64_parse(buf, min, max, out);
}

int num_double_parse(const char *s, double min, double max, double *out)
{
    if (!s || !num_start_ok(s) || strpbrk(s, "xX"))
        return -EINVAL;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0')
        return -EINVAL;
    if (errno == ERANGE || !isfinite(v) || v < min || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

static int num_hexdigit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int num_hexbyte_parse(const char *s)
{
    int hi = num_hexdigit(s[0]);
    int lo = hi < 0 ? -1 : num_hexdigit(s[1]);
    return lo < 0 ? -EINVAL : hi * 16 + lo;
}
