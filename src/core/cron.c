/* Cron expressions parsed into bit sets and their next fire time, computed with the proleptic
 * Gregorian calendar in UTC (days from the epoch, no time-zone database, no DST), so the
 * answer depends on nothing but its arguments. */
#include "core/cron.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct cron_field {
    const char *what; /* for messages */
    int lo, hi;
    const char *const *names; /* names[i] stands for lo + i (NULL: numbers only) */
} cron_field_t;

static const char *const cron_months[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                          "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const cron_days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

enum { CRON_SEC, CRON_MIN, CRON_HOUR, CRON_DOM, CRON_MON, CRON_DOW };
static const cron_field_t cron_fields[] = {
    [CRON_SEC] = {"second", 0, 59, NULL},       [CRON_MIN] = {"minute", 0, 59, NULL},
    [CRON_HOUR] = {"hour", 0, 23, NULL},        [CRON_DOM] = {"day of month", 1, 31, NULL},
    [CRON_MON] = {"month", 1, 12, cron_months}, [CRON_DOW] = {"day of week", 0, 7, cron_days},
};

/* One value: a number or (where the field has them) a name. Advances *p. 0 or -1. */
static int cron_value_parse(const char **p, const cron_field_t *f, int *out, char *err,
                            size_t errlen)
{
    const char *s = *p;
    if (isdigit((unsigned char)*s)) {
        int v = 0, digits = 0;
        while (isdigit((unsigned char)*s)) {
            if (++digits > 4) {
                snprintf(err, errlen, "%s: number too long", f->what);
                return -1;
            }
            v = v * 10 + (*s++ - '0');
        }
        *out = v;
        *p = s;
        return 0;
    }
    if (f->names && isalpha((unsigned char)s[0]) && isalpha((unsigned char)s[1]) &&
        isalpha((unsigned char)s[2]) && !isalpha((unsigned char)s[3])) {
        for (int i = 0; f->names[i]; i++)
            if (strncasecmp(s, f->names[i], 3) == 0) {
                *out = (f->names == cron_months ? 1 : 0) + i;
                *p = s + 3;
                return 0;
            }
        snprintf(err, errlen, "%s: unknown name '%.3s'", f->what, s);
        return -1;
    }
    if (!*s || *s == ',' || *s == '-' || *s == '/')
        snprintf(err, errlen, "%s: a value is missing", f->what);
    else
        snprintf(err, errlen, "%s: unexpected '%c'", f->what, *s);
    return -1;
}

/* One field's text (no spaces) into a bit set. *star tells whether it began with '*'. */
static int cron_field_parse(const char *s, size_t len, const cron_field_t *f, uint64_t *bits,
                            bool *star, char *err, size_t errlen)
{
    char buf[CRON_EXPR_MAX + 1];
    memcpy(buf, s, len);
    buf[len] = '\0';
    *bits = 0;
    *star = buf[0] == '*';
    const char *p = buf;
    for (;;) {
        int lo, hi, step = 1;
        if (*p == '*') {
            lo = f->lo;
            hi = f->hi;
            p++;
        } else {
            if (cron_value_parse(&p, f, &lo, err, errlen) < 0)
                return -1;
            hi = lo;
            if (*p == '-') {
                p++;
                if (cron_value_parse(&p, f, &hi, err, errlen) < 0)
                    return -1;
            } else if (*p == '/') {
                hi = f->hi; /* N/STEP: from N to the end */
            }
            if (lo < f->lo || lo > f->hi || hi < f->lo || hi > f->hi) {
                snprintf(err, errlen, "%s: %d is out of range %d-%d", f->what,
                         lo < f->lo || lo > f->hi ? lo : hi, f->lo, f->hi);
                return -1;
            }
            if (hi < lo) {
                snprintf(err, errlen, "%s: range %d-%d runs backwards", f->what, lo, hi);
                return -1;
            }
        }
        if (*p == '/') {
            p++;
            if (!isdigit((unsigned char)*p)) {
                snprintf(err, errlen, "%s: a step needs a number", f->what);
                return -1;
            }
            step = 0;
            int digits = 0;
            while (isdigit((unsigned char)*p) && digits++ < 4)
                step = step * 10 + (*p++ - '0');
            if (step < 1 || step > f->hi - f->lo + 1 || isdigit((unsigned char)*p)) {
                snprintf(err, errlen, "%s: step %d is out of range 1-%d", f->what, step,
                         f->hi - f->lo + 1);
                return -1;
            }
        }
        for (int v = lo; v <= hi; v += step)
            *bits |= 1ull << v;
        if (*p == '\0')
            return 0;
        if (*p != ',') {
            snprintf(err, errlen, "%s: unexpected '%c'", f->what, *p);
            return -1;
        }
        p++;
        if (*p == '\0') {
            snprintf(err, errlen, "%s: a value is missing after ','", f->what);
            return -1;
        }
    }
}

static const struct {
    const char *name, *expr;
} cron_macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

int cron_parse(const char *expr, cron_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!expr || strlen(expr) > CRON_EXPR_MAX) {
        snprintf(err, errlen, "longer than %d bytes", CRON_EXPR_MAX);
        return -EINVAL;
    }
    while (isspace((unsigned char)*expr))
        expr++;
    if (*expr == '@') {
        size_t n = strcspn(expr, " \t\r\n");
        for (size_t i = 0; i < sizeof cron_macros / sizeof cron_macros[0]; i++)
            if (strlen(cron_macros[i].name) == n && strncasecmp(expr, cron_macros[i].name, n) == 0)
                return cron_parse(cron_macros[i].expr, out, err, errlen);
        snprintf(err, errlen, "unknown macro '%.*s' (@yearly, @monthly, @weekly, @daily, @hourly)",
                 (int)(n > 32 ? 32 : n), expr);
        return -EINVAL;
    }
    const char *tok[7];
    size_t len[7], n = 0;
    for (const char *p = expr; *p;) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        if (n == 7)
            break;
        tok[n] = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        len[n] = (size_t)(p - tok[n]);
        n++;
    }
    if (n != 5 && n != 6) {
        snprintf(err, errlen,
                 "%s fields; expected 5 (minute hour day-of-month month day-of-week) or 6 "
                 "(seconds first)",
                 n > 6    ? "more than 6"
                 : n == 0 ? "no"
                 : n < 5  ? "too few"
                          : "7");
        return -EINVAL;
    }
    out->has_seconds = n == 6;
    size_t first = n == 6 ? 0 : 1;         /* index into cron_fields of tok[0] */
    uint64_t bits[6] = {1, 0, 0, 0, 0, 0}; /* second 0 unless given */
    bool star[6] = {false};
    for (size_t i = 0; i < n; i++) {
        size_t fi = first + i;
        if (cron_field_parse(tok[i], len[i], &cron_fields[fi], &bits[fi], &star[fi], err, errlen) <
            0)
            return -EINVAL;
    }
    out->sec = bits[CRON_SEC];
    out->min = bits[CRON_MIN];
    out->hour = (uint32_t)bits[CRON_HOUR];
    out->dom = (uint32_t)bits[CRON_DOM];
    out->mon = (uint16_t)bits[CRON_MON];
    uint64_t dow = bits[CRON_DOW];
    if (dow & (1ull << 7))
        dow = (dow | 1u) & 0x7f; /* 7 is Sunday too */
    out->dow = (uint8_t)dow;
    out->dom_star = star[CRON_DOM];
    out->dow_star = star[CRON_DOW];
    return 0;
}

/* ---- calendar (days since 1970-01-01, proleptic Gregorian) ---- */

static int64_t cron_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void cron_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool cron_day_matches(const cron_t *c, int dom, int dow)
{
    bool a = c->dom >> dom & 1, b = c->dow >> dow & 1;
    return c->dom_star || c->dow_star ? a && b : a || b;
}

/* The first second of day at or after sod that c fires at, or -1. */
static int64_t cron_in_day(const cron_t *c, int64_t sod)
{
    for (int h = (int)(sod / 3600); h < 24; h++) {
        if (!(c->hour >> h & 1))
            continue;
        int m0 = h == sod / 3600 ? (int)(sod / 60 % 60) : 0;
        for (int m = m0; m < 60; m++) {
            if (!(c->min >> m & 1))
                continue;
            int s0 = h == sod / 3600 && m == sod / 60 % 60 ? (int)(sod % 60) : 0;
            for (int s = s0; s < 60; s++)
                if (c->sec >> s & 1)
                    return (int64_t)h * 3600 + m * 60 + s;
        }
    }
    return -1;
}

int64_t cron_next(const cron_t *c, int64_t after)
{
    int64_t t = after + 1;
    int64_t day = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    int64_t sod = t - day * 86400;
    const int64_t last = day + 8 * 366 + 1; /* Feb 29 in a year after a skipped leap year */
    while (day <= last) {
        int64_t y;
        int m, d;
        cron_civil_from_days(day, &y, &m, &d);
        if (!(c->mon >> m & 1)) {
            day = cron_days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1);
            sod = 0;
            continue;
        }
        int dow = (int)(((day % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
        if (cron_day_matches(c, d, dow)) {
            int64_t s = cron_in_day(c, sod);
            if (s >= 0)
                return day * 86400 + s;
        }
        day++;
        sod = 0;
    }
    return -1;
}
