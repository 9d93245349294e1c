/* The one mapping from store error codes to what a client is told: every domain that replies
 * after a store operation builds its problem here, so an outage reads the same on every
 * endpoint and transport (status, type, Retry-After). */
#ifndef GANGLION_STORE_PROBLEM_H
#define GANGLION_STORE_PROBLEM_H

#include "core/problem.h"
#include "store/store.h"

/* A new problem for a store operation that failed with code; what names the operation in the
 * detail ("storing the stream"). Outages — connection lost (store-unavailable), busy
 * (store-busy), disk full (store-full) — are 503 with Retry-After (store_retry_after_s); a
 * constraint violation is 409 conflict; anything else 500 store-error. The database's own
 * message is not included (it can name tables and servers): callers log it. s may be NULL
 * (Retry-After then 1). Never returns NULL; the caller owns the result. */
problem_t *store_problem_new(const store_t *s, int code, const char *what);

/* A change a domain has made in memory whose write the store did not commit (an acknowledged
 * write's failed batch, agents_ack.c): 503 store-error with Retry-After, whatever the batch's
 * error was — the client's change is not lost to a conflict it could fix, it was not made
 * durable. what names the change ("the change"). Never returns NULL; the caller owns it. */
problem_t *store_problem_uncommitted(const store_t *s, const char *what);

#endif
