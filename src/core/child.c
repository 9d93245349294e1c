/* The table of children started outside the agents domain (see child.h): a mutex, a condition
 * the waiters sleep on, and at most CHILD_MAX entries. */
#include "core/child.h"

#include <errno.h>
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>

#include "core/clock.h"

static struct {
    pid_t pid;
    bool done;
    int status;
} child_tab[CHILD_MAX];
static size_t child_n;
static pthread_mutex_t child_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t child_cv = PTHREAD_COND_INITIALIZER;

void child_lock(void)
{
    pthread_mutex_lock(&child_mu);
}

void child_unlock(void)
{
    pthread_mutex_unlock(&child_mu);
}

int child_add_locked(pid_t pid)
{
    if (child_n == CHILD_MAX)
        return -ENOSPC;
    child_tab[child_n].pid = pid;
    child_tab[child_n].done = false;
    child_tab[child_n].status = 0;
    child_n++;
    return 0;
}

static size_t child_find_locked(pid_t pid)
{
    for (size_t i = 0; i < child_n; i++)
        if (child_tab[i].pid == pid)
            return i;
    return CHILD_MAX;
}

static void child_remove_locked(size_t i)
{
    child_tab[i] = child_tab[--child_n];
}

bool child_reaped(pid_t pid, int status)
{
    pthread_mutex_lock(&child_mu);
    size_t i = child_find_locked(pid);
    if (i < CHILD_MAX) {
        child_tab[i].done = true;
        child_tab[i].status = status;
        pthread_cond_broadcast(&child_cv);
    }
    pthread_mutex_unlock(&child_mu);
    return i < CHILD_MAX;
}

int child_wait(pid_t pid, int64_t deadline_ms, int *status)
{
    pthread_mutex_lock(&child_mu);
    for (;;) {
        size_t i = child_find_locked(pid);
        if (i == CHILD_MAX) {
            pthread_mutex_unlock(&child_mu);
            return -ECHILD;
        }
        if (child_tab[i].done) {
            *status = child_tab[i].status;
            child_remove_locked(i);
            pthread_mutex_unlock(&child_mu);
            return 0;
        }
        /* the reaper may never run (no agents domain): collect it here when it has ended */
        int st;
        if (waitpid(pid, &st, WNOHANG | __WALL) == pid) {
            *status = st;
            child_remove_locked(i);
            pthread_mutex_unlock(&child_mu);
            return 0;
        }
        int64_t now = (int64_t)(clock_mono_ns() / 1000000);
        if (now >= deadline_ms) {
            pthread_mutex_unlock(&child_mu);
            return -ETIMEDOUT;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10 * 1000000; /* look again in 10 ms at most */
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        (void)pthread_cond_timedwait(&child_cv, &child_mu, &ts);
    }
}

size_t child_pids(pid_t *out, size_t max)
{
    pthread_mutex_lock(&child_mu);
    size_t n = 0;
    for (size_t i = 0; i < child_n && n < max; i++)
        out[n++] = child_tab[i].pid;
    pthread_mutex_unlock(&child_mu);
    return n;
}
