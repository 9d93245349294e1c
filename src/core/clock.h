/* Time helpers: wall-clock milliseconds for records, monotonic nanoseconds for durations, and
 * RFC 3339 formatting/parsing in UTC. */
#ifndef GANGLION_CLOCK_H
#define GANGLION_CLOCK_H

#include <stddef.h>
#include <stdint.h>

int64_t clock_wall_ms(void);
uint64_t clock_mono_ns(void);
/* Writes "2026-11-25T01:02:03.456Z" into buf (at least 32 bytes). Returns buf. */
char *clock_rfc3339(int64_t wall_ms, char *buf, size_t len);
/* Parses RFC 3339 (with Z or an offset, optional fraction) into wall ms. 0 or -1. */
int clock_rfc3339_parse(const char *s, int64_t *out_ms);

#endif
