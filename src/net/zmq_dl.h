/* libzmq, loaded on demand: the daemon with zmq.listen and zmq.pub off, and the CLI over HTTP,
 * never map libzmq and what it drags in (libstdc++, Kerberos/GSSAPI, NORM, PGM, libbsd). <zmq.h>
 * still supplies types and constants; every call goes through the table `lzmq`, filled once by
 * zmq_dl_load() and read-only afterwards. */
#ifndef GANGLION_NET_ZMQ_DL_H
#define GANGLION_NET_ZMQ_DL_H

#include <stddef.h>
#include <zmq.h>

/* Every libzmq function ganglion calls; X(name) per function. Members keep the "zmq_" prefix:
 * without it zmq_errno would become a member named errno, which <errno.h> defines as a macro. */
#define ZMQ_DL_FUNCS(X)                                                                            \
    X(zmq_bind)                                                                                    \
    X(zmq_close)                                                                                   \
    X(zmq_connect)                                                                                 \
    X(zmq_ctx_new)                                                                                 \
    X(zmq_ctx_term)                                                                                \
    X(zmq_curve_keypair)                                                                           \
    X(zmq_curve_public)                                                                            \
    X(zmq_errno)                                                                                   \
    X(zmq_getsockopt)                                                                              \
    X(zmq_has)                                                                                     \
    X(zmq_msg_close)                                                                               \
    X(zmq_msg_data)                                                                                \
    X(zmq_msg_gets)                                                                                \
    X(zmq_msg_init)                                                                                \
    X(zmq_msg_more)                                                                                \
    X(zmq_msg_recv)                                                                                \
    X(zmq_msg_size)                                                                                \
    X(zmq_poll)                                                                                    \
    X(zmq_send)                                                                                    \
    X(zmq_setsockopt)                                                                              \
    X(zmq_socket)                                                                                  \
    X(zmq_strerror)                                                                                \
    X(zmq_z85_decode)

/* Members are named after the functions and typed from their declarations in <zmq.h>, so a
 * signature can never drift from the header. */
#define ZMQ_DL_MEMBER(name) __typeof__(name) *name;
typedef struct zmq_dl {
    ZMQ_DL_FUNCS(ZMQ_DL_MEMBER)
} zmq_dl_t;
#undef ZMQ_DL_MEMBER

/* Valid only after zmq_dl_load() returned 0. */
extern const zmq_dl_t *const lzmq;

/* Loads libzmq.so.5 and resolves every function, once per process (thread-safe; later calls
 * return the first outcome). Returns 0, or -1 with a message naming the package in err. The
 * library is never unloaded. */
int zmq_dl_load(char *err, size_t errlen);

/* zmq_send, zmq_msg_recv and the ZMQ_EVENTS look as a loop must make them. Each of libzmq's
 * calls first looks at the socket's mailbox (poll with timeout 0), and a signal that arrives
 * meanwhile (SIGCHLD from an agent, say) makes the call fail with EINTR although the socket is
 * fine: a reply not sent, a multipart message split between two reads. These repeat the call
 * then, up to ZMQ_DL_EINTR_TRIES times; otherwise they return what libzmq returns (-1 with
 * zmq_errno() set). zmq_dl_events gives the ZMQ_EVENTS bits, or -1. zmq_bind, zmq_connect and
 * zmq_ctx_term fail the same way (a daemon that would not start, a client that gave up at once, a
 * context left behind). */
#define ZMQ_DL_EINTR_TRIES 1000
int zmq_dl_send(void *sock, const void *buf, size_t len, int flags);
int zmq_dl_msg_recv(zmq_msg_t *m, void *sock, int flags);
int zmq_dl_events(void *sock);
int zmq_dl_bind(void *sock, const char *endpoint);
int zmq_dl_connect(void *sock, const char *endpoint);
int zmq_dl_ctx_term(void *ctx);

#endif
