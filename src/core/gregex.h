/* Regular expressions chosen by clients (grep over agents' output, later guard rules), matched
 * with a bounded cost: a pattern-length cap, per-match limits (steps, depth, heap) and a CPU
 * budget for a whole scan. The engine is PCRE2; the syntax is documented in docs/agents.md. */
#ifndef GANGLION_GREGEX_H
#define GANGLION_GREGEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A compiled pattern. Immutable once compiled: several scans may use it at once, from any
 * thread. */
typedef struct gregex gregex_t;
/* One scan: the per-thread matching state and the budget of one request. One thread at a
 * time. */
typedef struct gregex_scan gregex_scan_t;

typedef struct gregex_limits {
    size_t pattern_max;   /* bytes of pattern */
    uint32_t match_limit; /* backtracking steps of one match (pcre2_set_match_limit) */
    uint32_t depth_limit; /* nested backtracking frames of one match */
    uint32_t heap_kib;    /* heap one match may use for its frames */
    uint64_t budget_ns;   /* CPU time (of the matching thread) a whole scan may use */
    uint64_t deadline_ns; /* wall-clock time a whole scan may take (0: none) */
    /* Compile to machine code (PCRE2's JIT) when the platform allows: several times faster,
     * for patterns matched on a request's path. The step limit still holds; the depth and heap
     * limits give way to the JIT's own stack, whose overflow is reported like the depth
     * limit (-ERANGE). Off by default. */
    bool jit;
} gregex_limits_t;

#define GREGEX_PATTERN_MAX 512
#define GREGEX_MATCH_LIMIT 200000
#define GREGEX_DEPTH_LIMIT 100000
#define GREGEX_HEAP_KIB    (16 * 1024)
#define GREGEX_BUDGET_NS   (500 * 1000000ull)
#define GREGEX_DEADLINE_NS (4 * GREGEX_BUDGET_NS)
#define GREGEX_ERR_MAX     160 /* room for a reason text */

/* The defaults above. */
void gregex_limits_default(gregex_limits_t *lim);

/* Compiles pattern[0..len). Returns 0 with *out set (free with gregex_destroy), -E2BIG when
 * the pattern is longer than lim->pattern_max, -EINVAL when it is not a valid pattern, or
 * -ENOMEM; on failure err (at least GREGEX_ERR_MAX bytes) says why, with the offset. The
 * limits are copied into the pattern. */
int gregex_compile(const char *pattern, size_t len, const gregex_limits_t *lim, gregex_t **out,
                   char *err, size_t errlen);
void gregex_destroy(gregex_t **re);

/* Starts a scan with the pattern's budget (re is borrowed and must outlive the scan). 0 or
 * -ENOMEM. The budget is measured on the calling thread's CPU clock: create, use and destroy a
 * scan on one thread. */
int gregex_scan_new(const gregex_t *re, gregex_scan_t **out);
void gregex_scan_destroy(gregex_scan_t **s);
/* Points the scan at another pattern (borrowed, like the first), keeping its match state and
 * its budget: one scan serves several patterns of one request. A scan spent by a match's limit
 * is usable again (those limits were the previous pattern's); one past its CPU budget or
 * deadline stays spent. Returns 0 or the scan's error. */
int gregex_scan_rebind(gregex_scan_t *s, const gregex_t *re);

/* Matches subject[0..len) anywhere. Returns 1 (match), 0 (no match), -ERANGE when this match
 * went past its step, depth or heap limit or the scan past its CPU budget (the pattern costs
 * too much), -ETIMEDOUT when the scan went past its wall-clock deadline within its CPU budget
 * (the machine is busy), or -ENOMEM. A scan that failed is spent: later calls return the same
 * error at once. */
int gregex_scan_match(gregex_scan_t *s, const char *subject, size_t len);
/* Why the scan is spent ("match limit", "depth limit", "heap limit", "CPU budget",
 * "deadline"); "" while it is not. */
const char *gregex_scan_reason(const gregex_scan_t *s);
/* CPU time the scan has used so far, and the matches it ran. */
uint64_t gregex_scan_cpu_ns(const gregex_scan_t *s);
uint64_t gregex_scan_matches(const gregex_scan_t *s);

#endif
