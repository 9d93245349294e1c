/* Preloaded into the daemon by test_zmq_signals.py: every Nth poll() on one descriptor with a
 * zero timeout — the look libzmq takes at a socket's mailbox inside zmq_send, zmq_msg_recv and
 * ZMQ_EVENTS — fails with EINTR, as it does when a signal (an agent's SIGCHLD) arrives during it.
 * N comes from GANGLION_TEST_EINTR_EVERY (default 5); the count is per process. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>

typedef int (*poll_fn)(struct pollfd *, nfds_t, int);

int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    static poll_fn real;
    static atomic_ulong calls;
    static unsigned long every;
    if (!real) {
        real = (poll_fn)dlsym(RTLD_NEXT, "poll");
        const char *v = getenv("GANGLION_TEST_EINTR_EVERY");
        every = v && atol(v) > 0 ? (unsigned long)atol(v) : 5;
    }
    if (timeout == 0 && nfds == 1 && atomic_fetch_add(&calls, 1) % every == every - 1) {
        errno = EINTR;
        return -1;
    }
    return real(fds, nfds, timeout);
}
