/* Loads libzmq at run time (see zmq_dl.h) through core/dl, and the calls that a signal must not
 * make fail (EINTR retried). */
#include "net/zmq_dl.h"

#include <errno.h>
#include <stddef.h>

#include "core/dl.h"

#define ZMQ_DL_NAME(name)   #name,
#define ZMQ_DL_OFFSET(name) offsetof(zmq_dl_t, name),
static const char *const zmq_names[] = {ZMQ_DL_FUNCS(ZMQ_DL_NAME)};
static const size_t zmq_offsets[] = {ZMQ_DL_FUNCS(ZMQ_DL_OFFSET)};
#undef ZMQ_DL_NAME
#undef ZMQ_DL_OFFSET

static zmq_dl_t zmq_table;
const zmq_dl_t *const lzmq = &zmq_table;

static dl_lib_t zmq_lib = DL_LIB_INIT("libzmq.so.5", "ZMQ support", "libzmq5", "", zmq_names,
                                      zmq_offsets, &zmq_table, NULL);

int zmq_dl_load(char *err, size_t errlen)
{
    return dl_lib_load(&zmq_lib, err, errlen);
}

int zmq_dl_send(void *sock, const void *buf, size_t len, int flags)
{
    int rc = -1;
    for (int i = 0; i < ZMQ_DL_EINTR_TRIES; i++) {
        rc = lzmq->zmq_send(sock, buf, len, flags);
        if (rc >= 0 || lzmq->zmq_errno() != EINTR)
            break;
    }
    return rc;
}

int zmq_dl_msg_recv(zmq_msg_t *m, void *sock, int flags)
{
    int rc = -1;
    for (int i = 0; i < ZMQ_DL_EINTR_TRIES; i++) {
        rc = lzmq->zmq_msg_recv(m, sock, flags);
        if (rc >= 0 || lzmq->zmq_errno() != EINTR)
            break;
    }
    return rc;
}

int zmq_dl_events(void *sock)
{
    for (int i = 0; i < ZMQ_DL_EINTR_TRIES; i++) {
        int ev = 0;
        size_t sz = sizeof ev;
        if (lzmq->zmq_getsockopt(sock, ZMQ_EVENTS, &ev, &sz) == 0)
            return ev;
        if (lzmq->zmq_errno() != EINTR)
            break;
    }
    return -1;
}

int zmq_dl_bind(void *sock, const char *endpoint)
{
    int rc = -1;
    for (int i = 0; i < ZMQ_DL_EINTR_TRIES; i++) {
        rc = lzmq->zmq_bind(sock, endpoint);
        if (rc == 0 || lzmq->zmq_errno() != EINTR)
            break;
    }
    return rc;
}

int zmq_dl_connect(void *sock, const char *endpoint)
{
    int rc = -1;
    for (int i = 0; i < ZMQ_DL_EINTR_TRIES; i++) {
        rc = lzmq->zmq_connect(sock, endpoint);
        if (rc == 0 || lzmq->zmq_errno() != EINTR)
            break;
    }
    return rc;
}

int zmq_dl_ctx_term(void *ctx)
{
    int rc = -1;
    for (int i = 0; i < ZMQ_DL_EINTR_TRIES; i++) {
        rc = lzmq->zmq_ctx_term(ctx);
        if (rc == 0 || lzmq->zmq_errno() != EINTR)
            break;
    }
    return rc;
}
