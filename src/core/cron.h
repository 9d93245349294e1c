/* Cron expressions: the five fields of crontab(5) (minute hour day-of-month month day-of-week)
 * with an optional leading seconds field, parsed once into bit sets, and the next time such a
 * schedule fires after a given moment, in UTC. Pure: no clock, no allocation. */
#ifndef GANGLION_CORE_CRON_H
#define GANGLION_CORE_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRON_EXPR_MAX 256 /* longest expression accepted, in bytes */

typedef struct cron {
    uint64_t sec, min; /* bit n: second / minute n (0-59) */
    uint32_t hour;     /* 0-23 */
    uint32_t dom;      /* 1-31 */
    uint16_t mon;      /* 1-12 */
    uint8_t dow;       /* 0-6, Sunday = 0 (7 is folded into 0) */
    bool dom_star;     /* the day-of-month field began with '*' */
    bool dow_star;     /* the day-of-week field began with '*' */
    bool has_seconds;  /* six fields were given */
} cron_t;

/* Parses expr: 5 fields, or 6 with seconds first; each field a list of `*`, `N`, `N-M`,
 * optionally `/STEP` (`N/STEP` means N-last/STEP), months and days also by their English
 * three-letter names (case-insensitive); or one of @yearly @annually @monthly @weekly @daily
 * @midnight @hourly. 0, or -EINVAL with a reason people can read in err ("field 3 (day of
 * month): 32 is out of range 1-31"). */
int cron_parse(const char *expr, cron_t *out, char *err, size_t errlen);

/* The first time (seconds since the epoch, UTC) strictly after `after` at which c fires; -1
 * when it never does within the next 8 years (e.g. "0 0 30 2 *"). Day of month and day of week
 * combine as in Vixie cron: when both are restricted (neither begins with '*') a day matching
 * either fires; otherwise both must match. */
int64_t cron_next(const cron_t *c, int64_t after);

#endif
