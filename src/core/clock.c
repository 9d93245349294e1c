/* Time helpers: wall-clock milliseconds, monotonic nanoseconds, and RFC 3339 in UTC.
 * Formatting always emits UTC with milliseconds so log lines and records sort as text;
 * parsing accepts any offset and fraction length so clients need not normalise first. */
#include "core/clock.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t clock_wall_ms(void)
{
    struct timespec ts;
    /* CLOCK_REALTIME cannot fail with a valid clock id and pointer; keep the check anyway. */
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t clock_mono_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

char *clock_rfc3339(int64_t wall_ms, char *buf, size_t len)
{
    if (len == 0)
        return buf;
    buf[0] = '\0';
    /* Floor division so instants before 1970 keep a non-negative millisecond part. */
    int64_t sec = wall_ms / 1000;
    int64_t ms = wall_ms % 1000;
    if (ms < 0) {
        ms += 1000;
        sec -= 1;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return buf;
    char date[24];
    if (strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        return buf;
    int n = snprintf(buf, len, "%s.%03dZ", date, (int)ms);
    if (n < 0 || (size_t)n >= len)
        buf[0] = '\0';
    return buf;
}

/* Reads exactly `n` decimal digits. */
static bool clock_digits(const char **pp, int n, int *out)
{
    int v = 0;
    const char *p = *pp;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (p[i] - '0');
    }
    *pp = p + n;
    *out = v;
    return true;
}

static bool clock_expect(const char **pp, char c)
{
    if (**pp != c)
        return false;
    (*pp)++;
    return true;
}

static int clock_days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

int clock_rfc3339_parse(const char *s, int64_t *out_ms)
{
    if (!s || !out_ms)
        return -1;
    const char *p = s;
    int year, mon, day, hour, min, sec;
    if (!clock_digits(&p, 4, &year) || !clock_expect(&p, '-') || !clock_digits(&p, 2, &mon) ||
        !clock_expect(&p, '-') || !clock_digits(&p, 2, &day))
        return -1;
    /* RFC 3339 5.6 allows lower-case 't' and (section note) a space as the separator. */
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    if (!clock_digits(&p, 2, &hour) || !clock_expect(&p, ':') || !clock_digits(&p, 2, &min) ||
        !clock_expect(&p, ':') || !clock_digits(&p, 2, &sec))
        return -1;
    if (mon < 1 || mon > 12 || day < 1 || day > clock_days_in_month(year, mon) || hour > 23 ||
        min > 59 || sec > 60) /* 60: a leap second, which timegm folds into the next minute */
        return -1;

    int frac_ms = 0;
    if (*p == '.') {
        p++;
        int ndigits = 0;
        while (*p >= '0' && *p <= '9') {
            /* Only milliseconds are kept; further digits are truncated, not rounded, so a
             * parsed time never moves past the instant it names. */
            if (ndigits < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
            ndigits++;
            p++;
        }
        if (ndigits == 0)
            return -1;
        for (int i = ndigits; i < 3; i++)
            frac_ms *= 10;
    }

    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        int oh, om;
        p++;
        if (!clock_digits(&p, 2, &oh) || !clock_expect(&p, ':') || !clock_digits(&p, 2, &om))
            return -1;
        if (oh > 23 || om > 59)
            return -1;
        offset_min = sign * (oh * 60 + om);
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;

    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    /* Every field was range-checked above, so (time_t)-1 here is 1969-12-31T23:59:59, not an
     * error. */
    time_t t = timegm(&tm);
    *out_ms = ((int64_t)t - (int64_t)offset_min * 60) * 1000 + frac_ms;
    return 0;
}
