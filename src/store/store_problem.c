/* Store error codes as RFC 9457 problems (store_problem.h): outages become 503 with
 * Retry-After and a type that says which outage, so clients back off and operators can tell a
 * stopped database from a full disk in the access log. */
#include "store/store_problem.h"

#include <stdio.h>

static void store_problem_retry_set(problem_t *p, const store_t *s, int code)
{
    char secs[16];
    snprintf(secs, sizeof secs, "%d", store_retry_after_s(s, code));
    problem_header_set(p, "Retry-After", secs);
}

problem_t *store_problem_new(const store_t *s, int code, const char *what)
{
    const char *op = what && *what ? what : "the operation";
    problem_t *p;
    switch (code) {
    case STORE_ECONN:
        p = problem_new(503, "store-unavailable",
                        "%s failed: the database is unreachable; retry after the delay given", op);
        break;
    case STORE_EBUSY:
        p = problem_new(503, "store-busy", "%s failed: the database is busy; retry", op);
        break;
    case STORE_EFULL:
        p = problem_new(503, "store-full",
                        "%s failed: the database's disk is full; reads still work, writes resume "
                        "when space is freed",
                        op);
        break;
    case STORE_ECONSTRAINT:
        return problem_new(409, "conflict", "%s conflicts with existing data", op);
    default:
        return problem_new(500, "store-error", "%s failed in the store", op);
    }
    store_problem_retry_set(p, s, code);
    return p;
}

problem_t *store_problem_uncommitted(const store_t *s, const char *what)
{
    problem_t *p = problem_new(503, "store-error",
                               "%s was made but could not be committed to the store; it will not "
                               "survive a restart",
                               what && *what ? what : "the change");
    store_problem_retry_set(p, s, STORE_ERR);
    return p;
}
