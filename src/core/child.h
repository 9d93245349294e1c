/* Children the daemon starts outside the agents domain (the alerts' exec notifier). The agents
 * domain reaps every child of the process (wait4 on any pid) and ends children it does not know
 * as orphans; a child registered here is left alone by that sweep, and its exit status, when
 * the agents' reaper collects it first, is handed back through this table. Process-wide, like
 * the children themselves; thread-safe. */
#ifndef GANGLION_CORE_CHILD_H
#define GANGLION_CORE_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CHILD_MAX 64 /* registered children at once */

/* Held around the spawn and child_add_locked, so that a reaper cannot miss the registration
 * of a child that exits at once. */
void child_lock(void);
void child_unlock(void);
/* Registers pid (under child_lock). 0, or -ENOSPC when CHILD_MAX are registered. */
int child_add_locked(pid_t pid);
/* For a reaper that collected pid: true (and the status kept for child_wait) when pid is
 * registered, false when it is none of this table's. */
bool child_reaped(pid_t pid, int status);
/* Waits for a registered child's end until the monotonic deadline (milliseconds of
 * clock_mono_ns / 1e6), reaping it itself or taking the status the reaper kept; the
 * registration ends either way. 0 with *status, -ETIMEDOUT (still registered: kill it and
 * wait again), -ECHILD when pid is not registered. */
int child_wait(pid_t pid, int64_t deadline_ms, int *status);
/* The registered pids (for the orphan sweep), at most max; returns how many. */
size_t child_pids(pid_t *out, size_t max);

#endif
